#include "core/ratelimit_headers.hpp"

#include <charconv>
#include <cstring>

namespace sluice::core {

namespace {

// Appends to a fixed buffer; once something does not fit, every later append is dropped and
// ok() stays false.
class writer {
  public:
    explicit writer(std::span<char> out) noexcept : begin_{out.data()}, end_{begin_ + out.size()} {}

    void text(std::string_view s) noexcept {
        if (!ok_ || static_cast<std::size_t>(end_ - at_) < s.size()) {
            ok_ = false;
            return;
        }
        std::memcpy(at_, s.data(), s.size());
        at_ += s.size();
    }
    void number(std::int64_t v) noexcept {
        if (!ok_) return;
        const auto [ptr, ec] = std::to_chars(at_, end_, v);
        if (ec != std::errc{}) {
            ok_ = false;
            return;
        }
        at_ = ptr;
    }
    std::string_view result() const noexcept {
        return ok_ ? std::string_view(begin_, static_cast<std::size_t>(at_ - begin_))
                   : std::string_view{};
    }

  private:
    char* begin_;
    char* end_;
    char* at_ = begin_;
    bool ok_ = true;
};

void member(writer& w, std::string_view name, std::string_view first, std::int64_t a,
            std::string_view second, std::int64_t b) noexcept {
    w.text("\"");
    w.text(name);
    w.text("\"");
    w.text(first);
    w.number(a);
    w.text(second);
    w.number(b);
}

}  // namespace

std::string_view to_string(header_mode m) noexcept {
    switch (m) {
        case header_mode::both:
            return "both";
        case header_mode::legacy:
            return "legacy";
        case header_mode::ietf:
            return "ietf";
        case header_mode::none:
            return "none";
    }
    return "unknown";
}

std::optional<header_mode> parse_header_mode(std::string_view text) noexcept {
    for (const auto m :
         {header_mode::both, header_mode::legacy, header_mode::ietf, header_mode::none}) {
        if (text == to_string(m)) return m;
    }
    return std::nullopt;
}

std::string_view format_ratelimit_policy(std::span<char> out, std::string_view name,
                                         std::int64_t quota,
                                         std::chrono::milliseconds window) noexcept {
    writer w{out};
    member(w, name, ";q=", quota, ";w=", ceil_seconds(window.count()));
    return w.result();
}

std::string_view format_ratelimit(std::span<char> out, std::string_view name,
                                  std::int64_t remaining, std::int64_t seconds) noexcept {
    writer w{out};
    member(w, name, ";r=", remaining, ";t=", seconds);
    return w.result();
}

std::string_view format_rejection_body(std::span<char> out, std::string_view rule,
                                       std::int64_t limit, std::chrono::milliseconds window,
                                       std::int64_t retry_after_ms) noexcept {
    writer w{out};
    w.text(R"({"error":"too_many_requests",)");
    if (!rule.empty()) {
        w.text(R"("rule":")");
        w.text(rule);
        w.text(R"(",)");
    }
    w.text(R"("limit":)");
    w.number(limit);
    w.text(R"(,"window_ms":)");
    w.number(window.count());
    w.text(R"(,"retry_after_ms":)");
    w.number(retry_after_ms);
    w.text("}");
    return w.result();
}

}  // namespace sluice::core
