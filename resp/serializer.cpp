#include "resp/serializer.hpp"

#include <cmath>
#include <cstring>

namespace sluice::resp {

namespace {

// Writes "<prefix><n>\r\n" at out and returns its end.
char* write_header(char* out, char prefix, std::size_t n) noexcept {
    *out++ = prefix;
    out = std::to_chars(out, out + 20, n).ptr;
    *out++ = '\r';
    *out++ = '\n';
    return out;
}

}  // namespace

void request::write_array_header(std::size_t n) {
    char tmp[24];
    buf_.append(tmp, static_cast<std::size_t>(write_header(tmp, '*', n) - tmp));
}

void request::write_bulk(std::string_view s) {
    // One growth of the buffer per argument; the header is at most 23 bytes.
    const std::size_t old = buf_.size();
    buf_.resize(old + 23 + s.size() + 2);
    char* out = write_header(buf_.data() + old, '$', s.size());
    if (!s.empty()) std::memcpy(out, s.data(), s.size());
    out += s.size();
    *out++ = '\r';
    *out++ = '\n';
    buf_.resize(static_cast<std::size_t>(out - buf_.data()));
}

void request::write_arg(double v) {
    // Redis reads "inf", "-inf" and "+inf" as infinities and rejects every spelling of NaN, so
    // NaN is sent as "nan" for Redis to refuse rather than as to_chars's "-nan".
    if (std::isnan(v)) return write_bulk("nan");
    if (std::isinf(v)) return write_bulk(v > 0 ? "inf" : "-inf");
    char tmp[32];
    auto [end, ec] = std::to_chars(tmp, tmp + sizeof tmp, v);
    write_bulk({tmp, static_cast<std::size_t>(end - tmp)});
}

}  // namespace sluice::resp
