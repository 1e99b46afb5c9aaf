#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace sluice::core {

enum class duration_errc : std::uint8_t {
    ok = 0,
    empty,     // ""
    invalid,   // not <digits><unit>, e.g. "abc", "1.5s", "10 s", "+5s", "10sec"
    negative,  // "-1s": reported apart so the message can say "positive"
    zero,      // "0s" when the caller rejects zero
    overflow,  // longer than fits in std::chrono::nanoseconds (about 292 years)
};

enum class zero_duration : std::uint8_t { reject, allow };

struct duration_result {
    std::chrono::microseconds value{0};
    duration_errc error = duration_errc::ok;

    explicit operator bool() const noexcept { return error == duration_errc::ok; }
};

// Parses DURATION: an unsigned decimal integer followed by "us", "ms", "s", "m" or "h" (lower case,
// no spaces); a bare integer means seconds. The limit is what std::chrono::nanoseconds can hold, so
// that timers built from the value (steady_clock::now() + d) cannot overflow either.
duration_result parse_duration(std::string_view text, zero_duration zero = zero_duration::reject);

// What was wrong, to follow "expected ..., got "x"" in a usage message, e.g. "a positive
// duration (an integer with us, ms, s, m or h, e.g. 10s)".
std::string_view describe(duration_errc e) noexcept;

// The shortest DURATION text parse_duration reads back as `d`: the largest unit that divides it,
// "1m", "90s", "1500ms", "0s".
std::string format_duration(std::chrono::milliseconds d);

}  // namespace sluice::core
