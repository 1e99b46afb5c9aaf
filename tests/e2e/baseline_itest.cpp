// --algorithm none: every request served without a limiter call, the baseline the benchmarks
// measure the limiter against.

#include <gtest/gtest.h>

#include <string>

#include "tests/support/http_client.hpp"
#include "tests/support/redis_server.hpp"
#include "tests/support/scripted_upstream.hpp"
#include "tests/support/sluice_gateway.hpp"

namespace sluice::test {
namespace {

TEST(Baseline, AlgorithmNoneServesEveryRequestAndWritesNothingToRedis) {
    redis_server redis;
    sluice_gateway gw{redis.url(),
                      {.flags = {"--threads", "1", "--algorithm", "none", "--limit", "1"}}};
    ASSERT_TRUE(gw.wait_ready());
    for (int i = 0; i < 5; ++i) {
        const auto r = http_get(gw.port, "/");
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 200);
        EXPECT_EQ(r->body, R"({"status":"ok"})");
        // Nothing was counted, so there is no budget to report.
        EXPECT_EQ(r->headers.count("x-ratelimit-limit"), 0u);
        EXPECT_EQ(r->headers.count("ratelimit"), 0u);
        EXPECT_FALSE(r->header("date").empty());
    }
    EXPECT_EQ(redis.cli({"DBSIZE"}), "0");
    EXPECT_EQ(gw.metric(R"(sluice_requests_total{decision="unlimited"})"), 5);
    EXPECT_EQ(gw.metric(R"(sluice_requests_total{decision="allowed"})"), 0);
}

TEST(Baseline, AlgorithmNoneForwardsEveryRequestToTheUpstream) {
    redis_server redis;
    scripted_upstream up{scripted_upstream::ok("up")};
    sluice_gateway gw{redis.url(),
                      {.flags = {"--threads", "1", "--algorithm", "none", "--limit", "1",
                                 "--upstream", "http://127.0.0.1:" + std::to_string(up.port())}}};
    ASSERT_TRUE(gw.wait_ready());
    http_client c{gw.port};
    for (int i = 0; i < 3; ++i) {
        const auto r = c.get("/x");
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 200);
        EXPECT_EQ(r->body, "up");
    }
    EXPECT_EQ(up.request_count(), 3u);
    EXPECT_EQ(redis.cli({"DBSIZE"}), "0");
}

}  // namespace
}  // namespace sluice::test
