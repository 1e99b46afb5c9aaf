#include "core/duration.hpp"

#include <charconv>
#include <limits>

namespace sluice::core {

namespace {

constexpr std::int64_t max_microseconds =
    std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::nanoseconds::max()).count();

}  // namespace

duration_result parse_duration(std::string_view text, zero_duration zero) {
    if (text.empty()) return {{}, duration_errc::empty};

    bool negative = false;
    if (text.front() == '-') {
        negative = true;
        text.remove_prefix(1);
    }

    std::size_t digits = 0;
    while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9')
        ++digits;
    if (digits == 0) return {{}, duration_errc::invalid};

    const std::string_view unit = text.substr(digits);
    std::int64_t scale = 0;
    if (unit.empty() || unit == "s") {
        scale = 1000 * 1000;
    } else if (unit == "us") {
        scale = 1;
    } else if (unit == "ms") {
        scale = 1000;
    } else if (unit == "m") {
        scale = 60 * 1000 * 1000;
    } else if (unit == "h") {
        scale = std::int64_t{60} * 60 * 1000 * 1000;
    } else {
        return {{}, duration_errc::invalid};
    }

    std::uint64_t count = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + digits, count);
    const bool too_big = ec == std::errc::result_out_of_range ||
                         count > static_cast<std::uint64_t>(max_microseconds / scale);
    if (ec != std::errc{} && !too_big) return {{}, duration_errc::invalid};
    // "-0s" is as unwanted as "-1s": a sign has no business in a duration.
    if (negative) return {{}, duration_errc::negative};
    if (too_big) return {{}, duration_errc::overflow};
    if (count == 0 && zero == zero_duration::reject) return {{}, duration_errc::zero};
    return {std::chrono::microseconds(static_cast<std::int64_t>(count) * scale), duration_errc::ok};
}

std::string_view describe(duration_errc e) noexcept {
    switch (e) {
        case duration_errc::ok:
            return "a valid duration";
        case duration_errc::empty:
        case duration_errc::invalid:
        case duration_errc::negative:
            return "a duration (an integer with us, ms, s, m or h, e.g. 10s)";
        case duration_errc::zero:
            return "a positive duration (an integer with us, ms, s, m or h, e.g. 10s)";
        case duration_errc::overflow:
            return "a duration of at most 292 years";
    }
    return "a duration";
}

std::string format_duration(std::chrono::milliseconds d) {
    const std::int64_t ms = d.count();
    if (ms == 0) return "0s";
    if (ms % 3'600'000 == 0) return std::to_string(ms / 3'600'000) + "h";
    if (ms % 60'000 == 0) return std::to_string(ms / 60'000) + "m";
    if (ms % 1'000 == 0) return std::to_string(ms / 1'000) + "s";
    return std::to_string(ms) + "ms";
}

}  // namespace sluice::core
