// The blocked-client cache through the real binary: a client over its limit costs Redis one call
// per retry period, whatever it sends, and the answers it gets count down as Redis's would.

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/http_client.hpp"
#include "tests/support/redis_server.hpp"
#include "tests/support/sluice_gateway.hpp"

namespace sluice::test {
namespace {

using namespace std::chrono_literals;

long long body_retry_ms(const http_response& r) {
    std::smatch m;
    static const std::regex re(R"("retry_after_ms":(\d+))");
    return std::regex_search(r.body, m, re) ? std::stoll(m[1]) : -1;
}

class HotClient : public ::testing::TestWithParam<const char*> {};

// Limit 2 per minute, then requests as fast as one connection sends them for 1.5 s (or until
// shortly before the retry time, for a fixed window about to end): Redis decides the two allowed
// and the first rejection, the cache every other one. Retry-After and the body's retry_after_ms
// only go down.
TEST_P(HotClient, CostsRedisOneCallPerRetryPeriodAndItsAnswersCountDown) {
    redis_server redis;
    sluice_gateway gw{redis.url(),
                      {.flags = {"--threads", "1", "--algorithm", GetParam(), "--limit", "2",
                                 "--window", "60s"}}};
    ASSERT_TRUE(gw.wait_ready());
    http_client c{gw.port};
    ASSERT_EQ(c.get("/")->status, 200);
    ASSERT_EQ(c.get("/")->status, 200);
    const long long before = evalsha_calls(redis.port());
    const auto first = c.get("/");
    ASSERT_TRUE(first);
    ASSERT_EQ(first->status, 429);
    const long long first_retry = body_retry_ms(*first);
    if (first_retry < 600) GTEST_SKIP() << "a fixed window about to end: nothing to cache";
    const auto run =
        std::min<std::chrono::milliseconds>(1500ms, std::chrono::milliseconds(first_retry - 300));
    long long last_retry = first_retry, last_header = std::stoll(first->header("retry-after"));
    int cached = 0;
    const auto start = std::chrono::steady_clock::now();
    const auto until = start + run;
    while (std::chrono::steady_clock::now() < until) {
        const auto r = c.get("/");
        ASSERT_TRUE(r);
        ASSERT_EQ(r->status, 429);
        const long long retry = body_retry_ms(*r), header = std::stoll(r->header("retry-after"));
        EXPECT_LE(retry, last_retry);
        EXPECT_LE(header, last_header);
        EXPECT_GE(header, 1);
        EXPECT_EQ(r->header("x-ratelimit-remaining"), "0");
        EXPECT_EQ(r->header("ratelimit"), "\"default\";r=0;t=" + r->header("retry-after"));
        last_retry = retry;
        last_header = header;
        ++cached;
    }
    EXPECT_GT(cached, 50);
    EXPECT_LT(last_retry, first_retry - (run.count() - 100));
    EXPECT_EQ(evalsha_calls(redis.port()) - before, 1);
    EXPECT_EQ(gw.metric("sluice_blocked_cache_hits_total{shard=\"0\"}"), cached);
}

INSTANTIATE_TEST_SUITE_P(Algorithms, HotClient,
                         ::testing::Values("sliding-log", "fixed-window", "sliding-window",
                                           "token-bucket"),
                         [](const auto& info) {
                             std::string n = info.param;
                             std::erase(n, '-');
                             return n;
                         });

// Past the retry time Redis decides again: the cache never answers for longer than Redis said.
TEST(HotClient, PastTheRetryTimeRedisAllowsAgain) {
    redis_server redis;
    sluice_gateway gw{redis.url(), {.flags = {"--threads", "1", "--limit", "1", "--window", "1s"}}};
    ASSERT_TRUE(gw.wait_ready());
    http_client c{gw.port};
    ASSERT_EQ(c.get("/")->status, 200);
    const auto rejected = c.get("/");
    ASSERT_EQ(rejected->status, 429);
    const auto wait = std::chrono::milliseconds(body_retry_ms(*rejected));
    std::this_thread::sleep_for(wait - 50ms);
    EXPECT_EQ(c.get("/")->status, 429);
    std::this_thread::sleep_for(80ms);
    EXPECT_EQ(c.get("/")->status, 200);
}

}  // namespace
}  // namespace sluice::test
