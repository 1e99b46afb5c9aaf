// SIGHUP re-reads --config: a file that loads becomes the next version of the rules on every
// shard, one that does not is refused with one stderr line and the rules stay; /config and
// /metrics show the generation. The real binary, redis-server and real clients.

#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/http_client.hpp"
#include "tests/support/redis_server.hpp"
#include "tests/support/sluice_gateway.hpp"
#include "tests/support/temp_file.hpp"

namespace sluice::test {
namespace {

using namespace std::chrono_literals;

TEST(Reload, ANewFileIsTheNextGenerationAndABrokenOneIsRefused) {
    redis_server redis;
    temp_file file{"rules:\n  - {name: strict, limit: 2, window: 1m}\n"};
    sluice_gateway gw{
        redis.url(),
        {.flags = {"--threads", "2", "--config", file.path()}, .capture_stderr = true}};
    ASSERT_TRUE(gw.wait_ready());
    EXPECT_EQ(statuses(gw.port, 3), "200 200 429");

    file.write("rules:\n  - {name: generous, limit: 5, window: 1m}\n");
    ASSERT_EQ(::kill(gw.proc.pid(), SIGHUP), 0);
    EXPECT_NE(gw.proc.wait_for_stderr_line(
                  "sluice: config loaded from " + file.path() + " (1 rule, generation 2)", 3s),
              "");
    // Both shards take the new version; a fresh rule, a fresh budget.
    std::this_thread::sleep_for(100ms);
    const auto r = http_get(gw.port, "/");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->header("ratelimit-policy"), R"("generous";q=5;w=60)");
    const auto config = http_get(gw.admin, "/config");
    ASSERT_TRUE(config);
    EXPECT_EQ(config->status, 200);
    EXPECT_EQ(config->header("content-type"), "application/json");
    EXPECT_NE(config->body.find(R"("generation":2,)"), std::string::npos) << config->body;
    EXPECT_NE(config->body.find(R"("name":"generous")"), std::string::npos) << config->body;
    EXPECT_EQ(config->body.find("strict"), std::string::npos) << config->body;

    file.write("rules:\n  - {name: broken, limit: zero, window: 1m}\n");
    ASSERT_EQ(::kill(gw.proc.pid(), SIGHUP), 0);
    const std::string refused = gw.proc.wait_for_stderr_line("sluice: config refused: ", 3s);
    EXPECT_EQ(refused, "sluice: config refused: " + file.path() +
                           ":2:27: limit: expected a positive integer up to 1000000000, got "
                           "\"zero\"; generation 2 stays");
    const auto after = http_get(gw.port, "/");
    ASSERT_TRUE(after);
    EXPECT_EQ(after->header("ratelimit-policy"), R"("generous";q=5;w=60)");
    EXPECT_EQ(gw.metric("sluice_config_generation"), 2);
    EXPECT_EQ(gw.metric(R"(sluice_config_reloads_total{result="loaded"})"), 1);
    EXPECT_EQ(gw.metric(R"(sluice_config_reloads_total{result="refused"})"), 1);
    // Both rules keep their own rows in /metrics, the replaced one with its totals.
    EXPECT_EQ(gw.metric(R"(sluice_rule_decisions_total{rule="strict",decision="rejected"})"), 1);
    EXPECT_EQ(gw.metric(R"(sluice_rule_decisions_total{rule="generous",decision="allowed"})"), 2);
    EXPECT_EQ(gw.proc.stop(SIGTERM, 7s), 0);
}

TEST(Reload, ConfigShowsTheFlagsRuleWithoutAFile) {
    redis_server redis;
    sluice_gateway gw{redis.url(), {.flags = {"--threads", "1", "--limit", "7"}}};
    ASSERT_TRUE(gw.wait_ready());
    const auto config = http_get(gw.admin, "/config");
    ASSERT_TRUE(config);
    EXPECT_NE(config->body.find(R"("generation":1,)"), std::string::npos) << config->body;
    EXPECT_NE(config->body.find(R"("source":"flags")"), std::string::npos) << config->body;
    EXPECT_NE(config->body.find(R"("name":"default")"), std::string::npos) << config->body;
    EXPECT_NE(config->body.find(R"("limit":7,)"), std::string::npos) << config->body;
}

// SIGHUP every 100 ms while clients keep requesting: two valid files in turn, and now and then a
// broken one. No request fails, errors or goes unanswered, and each answer describes the rule of
// one version only: RateLimit-Policy names exactly one of the two rules, never both.
TEST(Reload, SighupEvery100MsUnderLoad) {
    redis_server redis;
    const std::string a = "rules:\n  - {name: blue, limit: 1000000, window: 1m}\n";
    const std::string b = "rules:\n  - {name: green, limit: 1000000, window: 1m}\n";
    temp_file file{a};
    sluice_gateway gw{redis.url(), {.flags = {"--threads", "2", "--config", file.path()}}};
    ASSERT_TRUE(gw.wait_ready());
    std::atomic<bool> stop{false};
    std::mutex mutex;
    std::map<std::string, int> seen;  // "status policy" -> count
    std::vector<std::thread> clients;
    for (int t = 0; t < 4; ++t) {
        clients.emplace_back([&] {
            http_client c{gw.port};
            std::map<std::string, int> mine;
            while (!stop) {
                const auto r = c.get("/");
                mine[r ? std::to_string(r->status) + " " + r->header("ratelimit-policy")
                       : "none"]++;
                if (!r) break;
            }
            std::lock_guard lock(mutex);
            for (const auto& [k, n] : mine)
                seen[k] += n;
        });
    }
    for (int i = 0; i < 20; ++i) {
        file.write(i % 5 == 4 ? "rules: [oops\n" : (i % 2 == 0 ? b : a));
        ASSERT_EQ(::kill(gw.proc.pid(), SIGHUP), 0);
        std::this_thread::sleep_for(100ms);
    }
    stop = true;
    for (auto& t : clients)
        t.join();
    int total = 0;
    for (const auto& [k, n] : seen) {
        EXPECT_TRUE(k == R"(200 "blue";q=1000000;w=60)" || k == R"(200 "green";q=1000000;w=60)")
            << n << " answers were: " << k;
        total += n;
    }
    EXPECT_GT(total, 200);
    EXPECT_EQ(gw.metric(R"(sluice_config_reloads_total{result="refused"})"), 4);
    EXPECT_EQ(gw.metric(R"(sluice_config_reloads_total{result="loaded"})"), 16);
    EXPECT_EQ(gw.proc.stop(SIGTERM, 7s), 0);
}

// The number after `"name":` in a flat JSON object, or -1.
long long json_number(const std::string& body, const std::string& name) {
    const std::size_t at = body.find("\"" + name + "\":");
    return at == std::string::npos ? -1 : std::stoll(body.substr(at + name.size() + 3));
}

TEST(Quota, ReadsWhatARuleHasLeftWithoutUsingIt) {
    redis_server redis;
    temp_file file{
        "rules:\n"
        "  - {name: login, limit: 5, window: 1m}\n"
        "  - {name: bucket, algorithm: token-bucket, limit: 10, window: 1m, burst: 4}\n"};
    sluice_gateway gw{redis.url(), {.flags = {"--threads", "1", "--config", file.path()}}};
    ASSERT_TRUE(gw.wait_ready());
    EXPECT_EQ(statuses(gw.port, 2), "200 200");
    for (int i = 0; i < 2; ++i) {
        const auto q = http_get(gw.admin, "/quota?rule=login&key=ip%3A127.0.0.1");
        ASSERT_TRUE(q);
        EXPECT_EQ(q->status, 200) << q->body;
        EXPECT_EQ(q->header("content-type"), "application/json");
        EXPECT_EQ(
            q->body.rfind(R"({"rule":"login","key":"ip:127.0.0.1","limit":5,"remaining":3,)", 0),
            0u)
            << q->body;
        EXPECT_GT(json_number(q->body, "reset_ms"), 0);
    }
    const auto b = http_get(gw.admin, "/quota?rule=bucket&key=ip:127.0.0.1");
    ASSERT_TRUE(b);
    EXPECT_EQ(json_number(b->body, "remaining"), 2) << b->body;
    // A client never seen has everything left.
    const auto fresh = http_get(gw.admin, "/quota?rule=login&key=ip:192.0.2.9");
    ASSERT_TRUE(fresh);
    EXPECT_EQ(json_number(fresh->body, "remaining"), 5) << fresh->body;
    EXPECT_EQ(json_number(fresh->body, "reset_ms"), 0) << fresh->body;
    // The reads used nothing: the bucket still has the 2 it said, so 2 more pass (both rules
    // apply to every request) and the third is refused.
    EXPECT_EQ(statuses(gw.port, 3), "200 200 429");
}

TEST(Quota, TheFlagsRuleIsDefault) {
    redis_server redis;
    sluice_gateway gw{redis.url(), {.flags = {"--threads", "1", "--limit", "4"}}};
    ASSERT_TRUE(gw.wait_ready());
    EXPECT_EQ(statuses(gw.port, 1), "200");
    const auto q = http_get(gw.admin, "/quota?rule=default&key=ip:127.0.0.1");
    ASSERT_TRUE(q);
    EXPECT_EQ(q->status, 200);
    EXPECT_EQ(json_number(q->body, "remaining"), 3) << q->body;
}

TEST(Quota, BadQuestionsAndNoRedis) {
    redis_server redis;
    sluice_gateway gw{redis.url(), {.flags = {"--threads", "1"}}};
    ASSERT_TRUE(gw.wait_ready());
    for (const char* bad : {"/quota", "/quota?rule=default", "/quota?key=ip:1.2.3.4",
                            "/quota?rule=default&key=", "/quota?rule=default&key=a%zz",
                            "/quota?rule=default&key=x%7Dy"}) {
        const auto r = http_get(gw.admin, bad);
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 400) << bad;
    }
    const auto unknown = http_get(gw.admin, "/quota?rule=nope&key=ip:1.2.3.4");
    ASSERT_TRUE(unknown);
    EXPECT_EQ(unknown->status, 404);
    redis.stop();
    const auto down = http_get(gw.admin, "/quota?rule=default&key=ip:1.2.3.4");
    ASSERT_TRUE(down);
    EXPECT_EQ(down->status, 503);
}

}  // namespace
}  // namespace sluice::test
