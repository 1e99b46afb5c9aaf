// parse_duration on text as an operator writes it (--window, --redis-timeout and friends).
//
// Checked, with zero rejected and allowed:
// - the result (value and error) equals a reference written from the grammar in duration.hpp:
//   an optional '-' (reported as negative), digits, then "", "us", "ms", "s", "m" or "h"; the
//   count is accumulated in 128 bits, so the reference cannot overflow where the parser might;
// - a success is digits and a unit exactly, and converts to nanoseconds without overflow
//   (UBSan watches the multiplication);
// - a success written out again in microseconds parses to the same value;
// - describe() has words for every error.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "core/duration.hpp"
#include "tests/fuzz/check.hpp"

namespace {

using sluice::core::duration_errc;
using sluice::core::duration_result;
using sluice::core::zero_duration;

constexpr std::int64_t max_us = std::numeric_limits<std::int64_t>::max() / 1000;

duration_result reference(std::string_view text, zero_duration zero) {
    if (text.empty()) return {{}, duration_errc::empty};
    const bool negative = text.front() == '-';
    if (negative) text.remove_prefix(1);
    std::size_t digits = 0;
    unsigned __int128 count = 0;
    bool huge = false;
    while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') {
        count = count * 10 + static_cast<unsigned>(text[digits] - '0');
        // Capped, so that thousands of digits cannot overflow even 128 bits.
        if (count > static_cast<unsigned __int128>(max_us)) {
            huge = true;
            count = static_cast<unsigned __int128>(max_us) + 1;
        }
        ++digits;
    }
    if (digits == 0) return {{}, duration_errc::invalid};
    const std::string_view unit = text.substr(digits);
    std::int64_t scale = 0;
    if (unit.empty() || unit == "s") {
        scale = 1'000'000;
    } else if (unit == "us") {
        scale = 1;
    } else if (unit == "ms") {
        scale = 1'000;
    } else if (unit == "m") {
        scale = 60'000'000;
    } else if (unit == "h") {
        scale = 3'600'000'000;
    } else {
        return {{}, duration_errc::invalid};
    }
    if (negative) return {{}, duration_errc::negative};
    const unsigned __int128 us = count * static_cast<unsigned __int128>(scale);
    if (huge || us > static_cast<unsigned __int128>(max_us)) return {{}, duration_errc::overflow};
    if (us == 0 && zero == zero_duration::reject) return {{}, duration_errc::zero};
    return {std::chrono::microseconds(static_cast<std::int64_t>(us)), duration_errc::ok};
}

void check(std::string_view text, zero_duration zero) {
    const duration_result got = sluice::core::parse_duration(text, zero);
    const duration_result want = reference(text, zero);
    SLUICE_FUZZ_CHECK(got.error == want.error);
    SLUICE_FUZZ_CHECK(got.value == want.value);
    SLUICE_FUZZ_CHECK(!sluice::core::describe(got.error).empty());
    if (!got) {
        SLUICE_FUZZ_CHECK(got.value.count() == 0);
        return;
    }

    const std::size_t digits = text.find_first_not_of("0123456789");
    SLUICE_FUZZ_CHECK(digits != 0);
    const std::string_view unit = digits == std::string_view::npos ? "" : text.substr(digits);
    SLUICE_FUZZ_CHECK(unit.empty() || unit == "us" || unit == "ms" || unit == "s" || unit == "m" ||
                      unit == "h");
    SLUICE_FUZZ_CHECK(got.value.count() >= 0);
    SLUICE_FUZZ_CHECK(got.value.count() != 0 || zero == zero_duration::allow);
    const std::chrono::nanoseconds ns = got.value;
    SLUICE_FUZZ_CHECK(ns.count() / 1000 == got.value.count());

    const std::string again = std::to_string(got.value.count()) + "us";
    const duration_result reparsed = sluice::core::parse_duration(again, zero);
    SLUICE_FUZZ_CHECK(reparsed && reparsed.value == got.value);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text{reinterpret_cast<const char*>(data), size};
    check(text, zero_duration::reject);
    check(text, zero_duration::allow);
    return 0;
}
