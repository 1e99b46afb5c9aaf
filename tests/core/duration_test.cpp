#include "core/duration.hpp"

#include <gtest/gtest.h>

namespace sluice::core {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;

microseconds ok(std::string_view text, zero_duration zero = zero_duration::reject) {
    const auto r = parse_duration(text, zero);
    EXPECT_TRUE(r) << '"' << text << "\" failed with " << int(r.error);
    return r.value;
}

duration_errc error(std::string_view text, zero_duration zero = zero_duration::reject) {
    const auto r = parse_duration(text, zero);
    EXPECT_FALSE(r) << '"' << text << "\" parsed as " << r.value.count() << "us";
    return r.error;
}

TEST(Duration, Units) {
    EXPECT_EQ(ok("250ms"), milliseconds(250));
    EXPECT_EQ(ok("10s"), milliseconds(10'000));
    EXPECT_EQ(ok("2m"), milliseconds(120'000));
    EXPECT_EQ(ok("3h"), milliseconds(10'800'000));
    EXPECT_EQ(ok("1ms"), milliseconds(1));
    EXPECT_EQ(ok("1us"), microseconds(1));
    EXPECT_EQ(ok("1500us"), microseconds(1500));
}

TEST(Duration, BareIntegerIsSeconds) {
    EXPECT_EQ(ok("10"), milliseconds(10'000));
    EXPECT_EQ(ok("1"), milliseconds(1'000));
    EXPECT_EQ(ok("007"), milliseconds(7'000));
}

TEST(Duration, Zero) {
    EXPECT_EQ(error("0"), duration_errc::zero);
    EXPECT_EQ(error("0ms"), duration_errc::zero);
    EXPECT_EQ(error("000h"), duration_errc::zero);
    EXPECT_EQ(ok("0", zero_duration::allow), milliseconds(0));
    EXPECT_EQ(ok("0ms", zero_duration::allow), milliseconds(0));
}

TEST(Duration, Negative) {
    EXPECT_EQ(error("-1s"), duration_errc::negative);
    EXPECT_EQ(error("-5"), duration_errc::negative);
    EXPECT_EQ(error("-0", zero_duration::allow), duration_errc::negative);
}

TEST(Duration, Empty) {
    EXPECT_EQ(error(""), duration_errc::empty);
}

TEST(Duration, Junk) {
    for (const char* text :
         {"abc",  "s",  "ms",  "-",  "-s",  "+5s", " 5s",  "5s ",  "5 s", "1.5s", "1e3ms",
          "5sec", "5S", "5MS", "5d", "5US", "5u",  "5msx", "0x10", "5s5", "--5s", "5-"}) {
        EXPECT_EQ(error(text), duration_errc::invalid) << '"' << text << '"';
    }
    EXPECT_EQ(error(std::string_view("5\0s", 3)), duration_errc::invalid);
}

TEST(Duration, Overflow) {
    // The largest value that still fits in std::chrono::nanoseconds, in each unit.
    constexpr std::int64_t max_ms = 9'223'372'036'854;
    EXPECT_EQ(ok("9223372036854ms"), milliseconds(max_ms));
    EXPECT_EQ(error("9223372036855ms"), duration_errc::overflow);
    EXPECT_EQ(ok("9223372036854775us"), microseconds(9'223'372'036'854'775));
    EXPECT_EQ(error("9223372036854776us"), duration_errc::overflow);
    EXPECT_EQ(ok("9223372036s"), milliseconds(9'223'372'036'000));
    EXPECT_EQ(error("9223372037s"), duration_errc::overflow);
    EXPECT_EQ(ok("2562047h"), milliseconds(2'562'047LL * 3'600'000));
    EXPECT_EQ(error("2562048h"), duration_errc::overflow);
    EXPECT_EQ(ok("153722867m"), milliseconds(153'722'867LL * 60'000));
    EXPECT_EQ(error("153722868m"), duration_errc::overflow);
    EXPECT_EQ(error("99999999999999999999999999999s"), duration_errc::overflow);
    EXPECT_EQ(error("18446744073709551616ms"), duration_errc::overflow);
    // Whatever parses converts to nanoseconds without overflow.
    const auto big = ok("9223372036854ms");
    EXPECT_GT(std::chrono::nanoseconds(big).count(), 0);
}

TEST(Duration, DescribeNamesTheForm) {
    EXPECT_NE(describe(duration_errc::invalid).find("ms, s, m or h"), std::string_view::npos);
    EXPECT_NE(describe(duration_errc::zero).find("positive"), std::string_view::npos);
    EXPECT_NE(describe(duration_errc::overflow).find("at most"), std::string_view::npos);
}

TEST(Duration, FormatUsesTheLargestExactUnitAndReadsBack) {
    EXPECT_EQ(format_duration(milliseconds(0)), "0s");
    EXPECT_EQ(format_duration(milliseconds(250)), "250ms");
    EXPECT_EQ(format_duration(milliseconds(1'500)), "1500ms");
    EXPECT_EQ(format_duration(milliseconds(10'000)), "10s");
    EXPECT_EQ(format_duration(milliseconds(90'000)), "90s");
    EXPECT_EQ(format_duration(milliseconds(60'000)), "1m");
    EXPECT_EQ(format_duration(milliseconds(5'400'000)), "90m");
    EXPECT_EQ(format_duration(milliseconds(7'200'000)), "2h");
    for (const long ms : {1L, 999L, 1'000L, 61'000L, 3'600'000L, 86'400'000L}) {
        const auto parsed = parse_duration(format_duration(milliseconds(ms)));
        EXPECT_EQ(parsed.value, milliseconds(ms)) << ms;
    }
}

}  // namespace
}  // namespace sluice::core
