#include "core/ratelimit_headers.hpp"

#include <gtest/gtest.h>

#include <array>
#include <string>

namespace sluice::core {
namespace {

using std::chrono::milliseconds;

TEST(RatelimitHeaders, PolicyIsTheContractsExample) {
    std::array<char, ratelimit_member_capacity> buf{};
    EXPECT_EQ(format_ratelimit_policy(buf, "default", 5, milliseconds(10'000)),
              R"("default";q=5;w=10)");
}

TEST(RatelimitHeaders, PolicyWindowIsWholeSecondsRoundedUp) {
    std::array<char, ratelimit_member_capacity> buf{};
    EXPECT_EQ(format_ratelimit_policy(buf, "default", 100, milliseconds(1'500)),
              R"("default";q=100;w=2)");
    EXPECT_EQ(format_ratelimit_policy(buf, "default", 1, milliseconds(1)), R"("default";q=1;w=1)");
    EXPECT_EQ(format_ratelimit_policy(buf, "login", 5, milliseconds(60'000)),
              R"("login";q=5;w=60)");
    EXPECT_EQ(format_ratelimit_policy(buf, "daily", 1'000'000'000, milliseconds(86'400'000)),
              R"("daily";q=1000000000;w=86400)");
}

TEST(RatelimitHeaders, StateIsTheContractsExample) {
    std::array<char, ratelimit_member_capacity> buf{};
    EXPECT_EQ(format_ratelimit(buf, "default", 4, 10), R"("default";r=4;t=10)");
    EXPECT_EQ(format_ratelimit(buf, "default", 0, 1), R"("default";r=0;t=1)");
    EXPECT_EQ(format_ratelimit(buf, "api-v2_x", 0, 0), R"("api-v2_x";r=0;t=0)");
}

TEST(RatelimitHeaders, LongestRuleNameAndNumbersFit) {
    std::array<char, ratelimit_member_capacity> buf{};
    const std::string name(64, 'n');
    const auto big = std::numeric_limits<std::int64_t>::max();
    EXPECT_EQ(format_ratelimit(buf, name, big, big),
              "\"" + name + "\";r=" + std::to_string(big) + ";t=" + std::to_string(big));
    EXPECT_EQ(format_ratelimit_policy(buf, name, big, milliseconds(big)),
              "\"" + name + "\";q=" + std::to_string(big) + ";w=" + std::to_string(big / 1000 + 1));
}

TEST(RatelimitHeaders, TooSmallABufferGivesNothingRatherThanAPrefix) {
    std::array<char, 17> buf{};  // one short of "default";r=4;t=10
    EXPECT_EQ(format_ratelimit(buf, "default", 4, 10), "");
    std::array<char, 18> exact{};
    EXPECT_EQ(format_ratelimit(exact, "default", 4, 10), R"("default";r=4;t=10)");
    EXPECT_EQ(format_ratelimit_policy(std::span<char>{}, "default", 5, milliseconds(1000)), "");
}

TEST(RatelimitHeaders, CeilSeconds) {
    EXPECT_EQ(ceil_seconds(0), 0);
    EXPECT_EQ(ceil_seconds(-5), 0);
    EXPECT_EQ(ceil_seconds(1), 1);
    EXPECT_EQ(ceil_seconds(1000), 1);
    EXPECT_EQ(ceil_seconds(1001), 2);
    EXPECT_EQ(ceil_seconds(9'990), 10);
}

TEST(RatelimitHeaders, Modes) {
    EXPECT_TRUE(sends_legacy(header_mode::both) && sends_ietf(header_mode::both));
    EXPECT_TRUE(sends_legacy(header_mode::legacy) && !sends_ietf(header_mode::legacy));
    EXPECT_TRUE(!sends_legacy(header_mode::ietf) && sends_ietf(header_mode::ietf));
    EXPECT_TRUE(!sends_legacy(header_mode::none) && !sends_ietf(header_mode::none));
    for (const auto m :
         {header_mode::both, header_mode::legacy, header_mode::ietf, header_mode::none}) {
        EXPECT_EQ(parse_header_mode(to_string(m)), m) << to_string(m);
    }
    EXPECT_EQ(parse_header_mode("Both"), std::nullopt);
    EXPECT_EQ(parse_header_mode(""), std::nullopt);
    EXPECT_EQ(parse_header_mode("draft"), std::nullopt);
}

// The 429's body, with and without the rule that decided; nothing when it does not fit.
TEST(RatelimitHeaders, RejectionBodyIsTheContracts) {
    std::array<char, rejection_body_capacity> b{};
    EXPECT_EQ(format_rejection_body(b, {}, 5, milliseconds(10'000), 9'988),
              R"({"error":"too_many_requests","limit":5,"window_ms":10000,"retry_after_ms":9988})");
    EXPECT_EQ(format_rejection_body(b, "api", 100, milliseconds(60'000), 1),
              R"({"error":"too_many_requests","rule":"api","limit":100,"window_ms":60000,)"
              R"("retry_after_ms":1})");
    std::array<char, 40> small{};
    EXPECT_EQ(format_rejection_body(small, {}, 5, milliseconds(10'000), 1), "");
}

}  // namespace
}  // namespace sluice::core
