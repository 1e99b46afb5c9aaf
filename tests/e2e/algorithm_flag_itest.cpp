// --algorithm for the rule the flags make: every algorithm decides through the real binary and
// redis-server, and keeps its key where docs/algorithms.md says.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/support/http_client.hpp"
#include "tests/support/redis_server.hpp"
#include "tests/support/sluice_gateway.hpp"

namespace sluice::test {
namespace {

struct algorithm_case {
    const char* name;
    const char* key;  // the client's key, the window's number stripped for fixed-window
    // Fixed windows are aligned on the clock: an hour makes crossing a border mid-test unlikely.
    const char* window = "10s";
    long long max_ttl_ms = 20'000;
};

class AlgorithmFlag : public ::testing::TestWithParam<algorithm_case> {};

TEST_P(AlgorithmFlag, FiveOfSixThenARetryAfterAndAKeyWithATtl) {
    redis_server redis;
    sluice_gateway gw{redis.url(),
                      {.flags = {"--threads", "1", "--algorithm", GetParam().name, "--limit", "5",
                                 "--window", "10s"}}};
    ASSERT_TRUE(gw.wait_ready());
    EXPECT_EQ(statuses(gw.port, 6), "200 200 200 200 200 429");
    const auto r = http_get(gw.port, "/");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 429);
    EXPECT_GE(std::stoi(r->header("retry-after")), 1);
    EXPECT_LE(std::stoll(r->header("retry-after")) * 1000, GetParam().max_ttl_ms);
    const std::string keys = redis.cli({"KEYS", "*"});
    EXPECT_EQ(keys.rfind(GetParam().key, 0), 0u) << keys;
    EXPECT_EQ(keys.find('\n'), std::string::npos) << "one key per client: " << keys;
    const long long ttl = std::stoll(redis.cli({"PTTL", keys}));
    EXPECT_GT(ttl, 0);
    EXPECT_LE(ttl, GetParam().max_ttl_ms);
}

INSTANTIATE_TEST_SUITE_P(
    Each, AlgorithmFlag,
    ::testing::Values(algorithm_case{"sliding-log", "sluice:{ip:127.0.0.1}:log"},
                      algorithm_case{"fixed-window", "sluice:{ip:127.0.0.1}:default:fw:", "1h",
                                     3'600'000},
                      algorithm_case{"sliding-window", "sluice:{ip:127.0.0.1}:default:sw"},
                      algorithm_case{"token-bucket", "sluice:{ip:127.0.0.1}:default:tb"}),
    [](const auto& info) {
        std::string n = info.param.name;
        for (char& c : n)
            if (c == '-') c = '_';
        return n;
    });

TEST(AlgorithmFlag, TokenBucketBurstIsTheCapacity) {
    redis_server redis;
    sluice_gateway gw{redis.url(),
                      {.flags = {"--threads", "1", "--algorithm", "token-bucket", "--limit", "5",
                                 "--window", "10s", "--burst", "2"}}};
    ASSERT_TRUE(gw.wait_ready());
    EXPECT_EQ(statuses(gw.port, 3), "200 200 429");
}

}  // namespace
}  // namespace sluice::test
