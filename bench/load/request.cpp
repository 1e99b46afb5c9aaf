#include "bench/load/request.hpp"

#include <charconv>

namespace sluice::load {

request_writer::request_writer(const target& t, std::string_view key_header) {
    std::string head = "GET " + t.path + " HTTP/1.1\r\nHost: " + t.authority +
                       "\r\nUser-Agent: sluice-load\r\nAccept: */*\r\n";
    plain_ = head + "\r\n";
    if (key_header.empty()) return;
    keyed_ = head;
    keyed_ += key_header;
    keyed_ += ": k";
    prefix_ = keyed_.size();
    // 20 digits for the largest 64-bit key, then the two line ends.
    keyed_.reserve(prefix_ + 20 + 4);
}

std::string_view request_writer::with_key(std::uint64_t key) noexcept {
    char digits[20];
    auto [end, ec] = std::to_chars(digits, digits + sizeof digits, key);
    (void)ec;  // 20 digits always suffice for a 64-bit value
    keyed_.resize(prefix_);
    keyed_.append(digits, end);
    keyed_.append("\r\n\r\n");
    return keyed_;
}

}  // namespace sluice::load
