#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace sluice::core {

// Which rate-limit fields an answer carries (--headers). Retry-After is not among them: it is
// plain HTTP, and every rejection sends it.
enum class header_mode : std::uint8_t { both, legacy, ietf, none };

std::string_view to_string(header_mode m) noexcept;  // the --headers name, "both"
std::optional<header_mode> parse_header_mode(std::string_view text) noexcept;

// X-RateLimit-Limit, -Remaining and -Reset.
constexpr bool sends_legacy(header_mode m) noexcept {
    return m == header_mode::both || m == header_mode::legacy;
}
// RateLimit-Policy and RateLimit of draft-ietf-httpapi-ratelimit-headers.
constexpr bool sends_ietf(header_mode m) noexcept {
    return m == header_mode::both || m == header_mode::ietf;
}

// Room for one list member of either field: a rule name of up to 64 characters, its quotes and
// two parameters of up to 19 digits each.
inline constexpr std::size_t ratelimit_member_capacity = 128;

// One member of RateLimit-Policy: `"<name>";q=<quota>;w=<window in seconds, rounded up>`.
// `name` is a rule name ([a-z0-9_-]), which needs no escaping inside an sf-string. The result
// views `out`; it is empty when `out` is too small.
std::string_view format_ratelimit_policy(std::span<char> out, std::string_view name,
                                         std::int64_t quota,
                                         std::chrono::milliseconds window) noexcept;

// One member of RateLimit: `"<name>";r=<remaining>;t=<seconds>`, where `seconds` is what the
// caller also sends as X-RateLimit-Reset (allowed) or Retry-After (rejected).
std::string_view format_ratelimit(std::span<char> out, std::string_view name,
                                  std::int64_t remaining, std::int64_t seconds) noexcept;

// Room for the 429's JSON body: its fixed text, a rule name of up to 64 characters and three
// numbers of up to 19 digits.
inline constexpr std::size_t rejection_body_capacity = 256;

// The body of every rejection (CONTRACT.md): `{"error":"too_many_requests",` then, when a rules
// file decided, `"rule":"<name>",`, then `"limit":..,"window_ms":..,"retry_after_ms":..}`. The
// result views `out`; it is empty when `out` is too small.
std::string_view format_rejection_body(std::span<char> out, std::string_view rule,
                                       std::int64_t limit, std::chrono::milliseconds window,
                                       std::int64_t retry_after_ms) noexcept;

// Whole seconds, rounded up, of a non-negative span of milliseconds; 0 for 0 or less.
constexpr std::int64_t ceil_seconds(std::int64_t ms) noexcept {
    return ms <= 0 ? 0 : (ms + 999) / 1000;
}

}  // namespace sluice::core
