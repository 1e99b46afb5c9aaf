// `sluice` end to end: the real binary, a real redis-server, raw HTTP from the test. Every line of
// CONTRACT.md that a user can observe from outside.

#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/http_client.hpp"
#include "tests/support/process.hpp"
#include "tests/support/redis_server.hpp"

namespace sluice::test {
namespace {

using namespace std::chrono_literals;

// A running `sluice` with the ports it printed.
struct gateway {
    gateway(const redis_server& redis, std::vector<std::string> extra)
        : gateway(redis.url(), std::move(extra)) {}

    gateway(const std::string& redis_url, std::vector<std::string> extra) {
        std::vector<std::string> args = {"--listen", "127.0.0.1:0", "--admin",   "127.0.0.1:0",
                                         "--redis",  redis_url,     "--threads", "1"};
        args.insert(args.end(), extra.begin(), extra.end());
        proc = process(binary("sluice"), args);
        std::regex listening(R"(listening on 127\.0\.0\.1:(\d+) \((\d+) shards?\))");
        std::regex admin_re(R"(admin on 127\.0\.0\.1:(\d+))");
        for (int i = 0; i < 2; ++i) {
            std::string line = proc.read_line(10s);
            std::smatch m;
            if (std::regex_search(line, m, listening)) {
                port = static_cast<unsigned short>(std::stoi(m[1]));
                shards = std::stoi(m[2]);
            } else if (std::regex_search(line, m, admin_re)) {
                admin = static_cast<unsigned short>(std::stoi(m[1]));
            }
        }
        EXPECT_NE(port, 0) << "sluice did not print its public port";
        EXPECT_NE(admin, 0) << "sluice did not print its admin port";
    }

    // Waits until /readyz says `status`.
    bool wait_ready(int status = 200, std::chrono::milliseconds limit = 5s) {
        auto deadline = std::chrono::steady_clock::now() + limit;
        while (std::chrono::steady_clock::now() < deadline) {
            auto r = http_get(admin, "/readyz");
            if (r && r->status == status) return true;
            std::this_thread::sleep_for(20ms);
        }
        return false;
    }

    // Value of one sample line of /metrics, e.g. `sluice_requests_total{decision="allowed"}`.
    long long metric(const std::string& sample) {
        auto r = http_get(admin, "/metrics");
        if (!r) return -1;
        // At the start of a line: the name also appears in its "# HELP" line.
        auto pos = r->body.find("\n" + sample + " ");
        if (pos == std::string::npos) return -1;
        return std::stoll(r->body.substr(pos + sample.size() + 2));
    }

    process proc;
    unsigned short port = 0;
    unsigned short admin = 0;
    int shards = 0;
};

// Sends `n` requests at once, each on its own connection, and returns the responses.
std::vector<http_response> burst(unsigned short port, int n, const std::string& headers = {}) {
    std::vector<std::unique_ptr<http_client>> clients;
    for (int i = 0; i < n; ++i)
        clients.push_back(std::make_unique<http_client>(port));
    for (auto& c : clients)
        c->send("GET /burst HTTP/1.1\r\nHost: t\r\n" + headers + "\r\n");
    std::vector<http_response> out;
    for (auto& c : clients) {
        auto r = c->read_response();
        out.push_back(r ? *r : http_response{});
    }
    return out;
}

int count_status(const std::vector<http_response>& rs, int status) {
    return static_cast<int>(
        std::count_if(rs.begin(), rs.end(), [&](auto& r) { return r.status == status; }));
}

TEST(Gateway, SixConcurrentRequestsGiveFiveOkAndOne429WithTheContractsHeaders) {
    redis_server redis;
    gateway gw{redis, {}};
    ASSERT_TRUE(gw.wait_ready());
    auto rs = burst(gw.port, 6);
    ASSERT_EQ(count_status(rs, 200), 5);
    ASSERT_EQ(count_status(rs, 429), 1);
    std::vector<int> remaining;
    for (auto& r : rs) {
        EXPECT_EQ(r.header("content-type"), "application/json");
        EXPECT_TRUE(std::regex_match(
            r.header("date"),
            std::regex(R"([A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT)")))
            << r.header("date");
        EXPECT_EQ(r.header("x-ratelimit-limit"), "5");
        if (r.status == 200) {
            EXPECT_EQ(r.body, R"({"status":"ok"})");
            remaining.push_back(std::stoi(r.header("x-ratelimit-remaining")));
            EXPECT_EQ(r.header("x-ratelimit-reset"), "10");
        } else {
            EXPECT_EQ(r.header("x-ratelimit-remaining"), "0");
            EXPECT_EQ(r.header("retry-after"), "10");
            EXPECT_EQ(r.header("x-ratelimit-reset"), "10");
            std::smatch m;
            ASSERT_TRUE(std::regex_match(
                r.body, m,
                std::regex(
                    R"(\{"error":"too_many_requests","limit":5,"window_ms":10000,"retry_after_ms":(\d+)\})")))
                << r.body;
            auto retry = std::stoi(m[1]);
            EXPECT_GT(retry, 9000);
            EXPECT_LE(retry, 10000);
        }
    }
    std::sort(remaining.begin(), remaining.end());
    EXPECT_EQ(remaining, (std::vector<int>{0, 1, 2, 3, 4}));
}

// 60 requests at once from one client against a gateway started with `flags` (on `shards`
// shards): exactly 5 are allowed.
void expect_sixty_allow_five(std::vector<std::string> flags, int shards) {
    redis_server redis;
    gateway gw{redis, std::move(flags)};
    EXPECT_EQ(gw.shards, shards);
    ASSERT_TRUE(gw.wait_ready());
    auto rs = burst(gw.port, 60);
    EXPECT_EQ(count_status(rs, 200), 5);
    EXPECT_EQ(count_status(rs, 429), 55);
}

TEST(Gateway, SixtySimultaneousRequestsAllowExactlyFive) {
    expect_sixty_allow_five({}, 1);
}

TEST(Gateway, SixtySimultaneousRequestsOnTwoShardsAllowExactlyFive) {
    expect_sixty_allow_five({"--threads", "2"}, 2);
}

TEST(Gateway, TwoProcessesOnOneRedisShareTheLimit) {
    redis_server redis;
    gateway a{redis, {"--threads", "2"}};
    gateway b{redis, {"--threads", "2"}};
    ASSERT_TRUE(a.wait_ready());
    ASSERT_TRUE(b.wait_ready());
    std::vector<http_response> ra, rb;
    std::thread ta([&] { ra = burst(a.port, 30); });
    std::thread tb([&] { rb = burst(b.port, 30); });
    ta.join();
    tb.join();
    EXPECT_EQ(count_status(ra, 200) + count_status(rb, 200), 5);
    EXPECT_EQ(count_status(ra, 429) + count_status(rb, 429), 55);
}

TEST(Gateway, AllowedAgainOnceTheOldestRequestLeavesTheWindow) {
    redis_server redis;
    gateway gw{redis, {"--limit", "2", "--window", "1s"}};
    ASSERT_TRUE(gw.wait_ready());
    http_client c{gw.port};
    EXPECT_EQ(c.get("/")->status, 200);
    std::this_thread::sleep_for(400ms);
    EXPECT_EQ(c.get("/")->status, 200);
    auto rejected = c.get("/");
    ASSERT_TRUE(rejected);
    EXPECT_EQ(rejected->status, 429);
    EXPECT_EQ(rejected->header("retry-after"), "1");
    std::this_thread::sleep_for(700ms);  // the first request is now 1.1 s old
    EXPECT_EQ(c.get("/")->status, 200);
    EXPECT_EQ(c.get("/")->status, 429);  // the second one is still in the window
}

TEST(Gateway, EveryKeyHasATtlAndIsNamedAfterTheClient) {
    redis_server redis;
    gateway gw{redis, {"--key", "header:X-Api-Key", "--key-prefix", "gw:"}};
    ASSERT_TRUE(gw.wait_ready());
    for (auto key : {"alpha", "beta", "gamma"}) {
        EXPECT_EQ(http_get(gw.port, "/", std::string("X-Api-Key: ") + key + "\r\n")->status, 200);
    }
    EXPECT_EQ(http_get(gw.port, "/")->status, 200);  // no header: keyed by ip
    auto keys = redis.cli({"--scan", "--pattern", "*"});
    std::vector<std::string> names;
    std::stringstream ss{keys};
    for (std::string k; std::getline(ss, k);)
        names.push_back(k);
    std::sort(names.begin(), names.end());
    ASSERT_EQ(names.size(), 4u) << keys;
    EXPECT_EQ(names[0], "gw:{ip:127.0.0.1}:log");
    EXPECT_EQ(names[1], "gw:{key:alpha}:log");
    for (auto& k : names) {
        auto ttl = std::stoll(redis.cli({"PTTL", k}));
        EXPECT_GT(ttl, 0) << k;
        EXPECT_LE(ttl, 15'000) << k;
    }
}

TEST(Gateway, HeaderKeysGiveEachClientItsOwnBudget) {
    redis_server redis;
    gateway gw{redis, {"--key", "header:X-Api-Key", "--limit", "1"}};
    ASSERT_TRUE(gw.wait_ready());
    EXPECT_EQ(http_get(gw.port, "/", "X-Api-Key: a\r\n")->status, 200);
    EXPECT_EQ(http_get(gw.port, "/", "X-Api-Key: a\r\n")->status, 429);
    EXPECT_EQ(http_get(gw.port, "/", "X-Api-Key: b\r\n")->status, 200);
}

TEST(Gateway, ForwardedForIsReadOnlyFromTrustedProxies) {
    redis_server redis;
    {
        gateway gw{redis, {"--limit", "1", "--key-prefix", "untrusted:"}};
        ASSERT_TRUE(gw.wait_ready());
        // Not trusted: the header is ignored and both requests are 127.0.0.1.
        EXPECT_EQ(http_get(gw.port, "/", "X-Forwarded-For: 203.0.113.1\r\n")->status, 200);
        EXPECT_EQ(http_get(gw.port, "/", "X-Forwarded-For: 203.0.113.2\r\n")->status, 429);
    }
    gateway gw{redis, {"--limit", "1", "--trust-proxy", "127.0.0.0/8,10.0.0.0/8"}};
    ASSERT_TRUE(gw.wait_ready());
    EXPECT_EQ(http_get(gw.port, "/", "X-Forwarded-For: 203.0.113.1\r\n")->status, 200);
    EXPECT_EQ(http_get(gw.port, "/", "X-Forwarded-For: 203.0.113.2\r\n")->status, 200);
    // The rightmost untrusted address is the client; what it wrote to the left does not matter.
    EXPECT_EQ(http_get(gw.port, "/", "X-Forwarded-For: 1.1.1.1, 203.0.113.1, 10.0.0.5\r\n")->status,
              429);
    EXPECT_EQ(redis.cli({"EXISTS", "sluice:{ip:203.0.113.1}:log"}), "1");
}

TEST(Gateway, ScriptFlushMidRunKeepsCounting) {
    redis_server redis;
    gateway gw{redis, {"--limit", "3"}};
    ASSERT_TRUE(gw.wait_ready());
    http_client c{gw.port};
    EXPECT_EQ(c.get("/")->status, 200);
    redis.cli({"SCRIPT", "FLUSH"});
    EXPECT_EQ(c.get("/")->status, 200);
    EXPECT_EQ(c.get("/")->status, 200);
    redis.cli({"SCRIPT", "FLUSH"});
    EXPECT_EQ(c.get("/")->status, 429);
}

// Without the blocked-client cache, so that the rejected client asks Redis again.
TEST(Gateway, RedisOutageFailsOpenWithAllowAndRecovers) {
    redis_server redis;
    gateway gw{redis, {"--redis-failure", "allow", "--limit", "1", "--blocked-cache-size", "0"}};
    ASSERT_TRUE(gw.wait_ready());
    EXPECT_EQ(http_get(gw.port, "/")->status, 200);
    EXPECT_EQ(http_get(gw.port, "/")->status, 429);
    redis.stop();
    ASSERT_TRUE(gw.wait_ready(503, 3s)) << "/readyz must report the outage within 3 s";
    EXPECT_EQ(http_get(gw.admin, "/healthz")->status, 200);
    for (int i = 0; i < 3; ++i)
        EXPECT_EQ(http_get(gw.port, "/")->status, 200);
    EXPECT_EQ(gw.metric("sluice_requests_total{decision=\"error\"}"), 3);
    redis.start();
    ASSERT_TRUE(gw.wait_ready(200, 5s)) << "/readyz must report the recovery within 5 s";
    EXPECT_EQ(http_get(gw.port, "/")->status, 200);  // the restarted Redis is empty
    EXPECT_EQ(http_get(gw.port, "/")->status, 429);
}

// A client Redis rejected until T stays rejected until T, Redis or not: the cache's answer is
// the one Redis would give, and failing open would hand it what it was refused.
TEST(Gateway, AClientBlockedBeforeAnOutageStaysBlockedThroughIt) {
    redis_server redis;
    gateway gw{redis, {"--redis-failure", "allow", "--limit", "1"}};
    ASSERT_TRUE(gw.wait_ready());
    EXPECT_EQ(http_get(gw.port, "/")->status, 200);
    EXPECT_EQ(http_get(gw.port, "/")->status, 429);
    redis.stop();
    ASSERT_TRUE(gw.wait_ready(503, 3s));
    for (int i = 0; i < 3; ++i)
        EXPECT_EQ(http_get(gw.port, "/")->status, 429);
    EXPECT_EQ(gw.metric("sluice_requests_total{decision=\"error\"}"), 0);
    EXPECT_EQ(gw.metric("sluice_blocked_cache_hits_total{shard=\"0\"}"), 3);
}

TEST(Gateway, RedisOutageAnswers503WithDeny) {
    redis_server redis;
    gateway gw{redis, {"--redis-failure", "deny"}};
    ASSERT_TRUE(gw.wait_ready());
    EXPECT_EQ(http_get(gw.port, "/")->status, 200);
    redis.stop();
    ASSERT_TRUE(gw.wait_ready(503, 3s));
    auto r = http_get(gw.port, "/");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 503);
    EXPECT_EQ(r->header("content-type"), "application/json");
    EXPECT_EQ(r->body, R"({"error":"limiter_unavailable"})");
    EXPECT_EQ(gw.metric("sluice_requests_total{decision=\"error\"}"), 1);
    redis.start();
    ASSERT_TRUE(gw.wait_ready(200, 5s));
    EXPECT_EQ(http_get(gw.port, "/")->status, 200);
}

TEST(Gateway, SlowRedisPastTheTimeoutIsAFailure) {
    redis_server redis;
    gateway gw{redis, {"--redis-failure", "deny", "--redis-timeout", "100ms"}};
    ASSERT_TRUE(gw.wait_ready());
    std::thread sleeper([&] { redis.cli({"DEBUG", "SLEEP", "0.6"}); });
    std::this_thread::sleep_for(50ms);
    auto t0 = std::chrono::steady_clock::now();
    auto r = http_get(gw.port, "/");
    auto took = std::chrono::steady_clock::now() - t0;
    sleeper.join();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 503);
    EXPECT_LT(took, 450ms) << "the decision must not wait for Redis past --redis-timeout";
    EXPECT_EQ(http_get(gw.port, "/")->status, 200);
}

TEST(Gateway, StartsAndServesHealthzWhileRedisIsUnreachable) {
    auto port = free_port();  // nothing listens there
    gateway gw{"redis://127.0.0.1:" + std::to_string(port), {"--redis-failure", "deny"}};
    auto h = http_get(gw.admin, "/healthz");
    ASSERT_TRUE(h);
    EXPECT_EQ(h->status, 200);
    EXPECT_EQ(http_get(gw.admin, "/readyz")->status, 503);
    EXPECT_EQ(http_get(gw.port, "/")->status, 503);
}

TEST(Gateway, MetricsCountWhatWasSent) {
    redis_server redis;
    gateway gw{redis, {"--limit", "3"}};
    ASSERT_TRUE(gw.wait_ready());
    for (int i = 0; i < 7; ++i)
        http_get(gw.port, "/");
    EXPECT_EQ(gw.metric("sluice_requests_total{decision=\"allowed\"}"), 3);
    EXPECT_EQ(gw.metric("sluice_requests_total{decision=\"rejected\"}"), 4);
    EXPECT_EQ(gw.metric("sluice_requests_total{decision=\"error\"}"), 0);
    // Redis decided the first four; the client it rejected was answered by the cache after that.
    EXPECT_EQ(gw.metric("sluice_decision_duration_seconds_count"), 4);
    EXPECT_EQ(gw.metric("sluice_blocked_cache_hits_total{shard=\"0\"}"), 3);
    EXPECT_EQ(gw.metric("sluice_blocked_cache_inserts_total{shard=\"0\"}"), 1);
    EXPECT_EQ(gw.metric("sluice_redis_batch_checks_sum{shard=\"0\"}"), 4);
    EXPECT_EQ(gw.metric("sluice_redis_batch_checks_count{shard=\"0\"}"), 4);
    EXPECT_EQ(gw.metric("sluice_loop_turns_total{shard=\"0\"}"), 4);
    EXPECT_EQ(gw.metric("sluice_redis_batches_in_flight{shard=\"0\"}"), 0);
    EXPECT_EQ(gw.metric("sluice_connections_total"), 7);
    EXPECT_EQ(gw.metric("sluice_shard_connections_total{shard=\"0\"}"), 7);
    EXPECT_GE(gw.metric("sluice_redis_round_trips_total{shard=\"0\"}"), 4);
    auto m = http_get(gw.admin, "/metrics");
    ASSERT_TRUE(m);
    EXPECT_EQ(m->status, 200);
    EXPECT_NE(m->header("content-type").find("text/plain"), std::string::npos);
}

// --redis-poll reaches each shard's Redis connection: with the largest budget a local Redis's
// replies are found by polling; with 0 the shard never polls.
TEST(Gateway, RedisPollBudgetIsTheShardsAndCounted) {
    redis_server redis;
    {
        gateway gw{redis, {"--redis-poll", "10ms", "--limit", "100"}};
        ASSERT_TRUE(gw.wait_ready());
        for (int i = 0; i < 20; ++i)
            http_get(gw.port, "/");
        EXPECT_GE(gw.metric("sluice_redis_poll_hits_total{shard=\"0\"}"), 17);
        EXPECT_LE(gw.metric("sluice_redis_poll_misses_total{shard=\"0\"}"), 2);
    }
    gateway gw{redis, {"--redis-poll", "0", "--limit", "100"}};
    ASSERT_TRUE(gw.wait_ready());
    for (int i = 0; i < 20; ++i)
        http_get(gw.port, "/");
    EXPECT_EQ(gw.metric("sluice_requests_total{decision=\"allowed\"}"), 20);
    EXPECT_EQ(gw.metric("sluice_redis_poll_hits_total{shard=\"0\"}"), 0);
    EXPECT_EQ(gw.metric("sluice_redis_poll_misses_total{shard=\"0\"}"), 0);
}

TEST(Gateway, PipelinedRequestsAreAnsweredInOrder) {
    redis_server redis;
    gateway gw{redis, {"--limit", "3"}};
    ASSERT_TRUE(gw.wait_ready());
    http_client c{gw.port};
    std::string five;
    for (int i = 0; i < 5; ++i)
        five += "GET /" + std::to_string(i) + " HTTP/1.1\r\nHost: t\r\n\r\n";
    ASSERT_TRUE(c.send(five));
    std::vector<int> statuses, remaining;
    for (int i = 0; i < 5; ++i) {
        auto r = c.read_response();
        ASSERT_TRUE(r) << i;
        statuses.push_back(r->status);
        remaining.push_back(std::stoi(r->header("x-ratelimit-remaining")));
    }
    EXPECT_EQ(statuses, (std::vector<int>{200, 200, 200, 429, 429}));
    EXPECT_EQ(remaining, (std::vector<int>{2, 1, 0, 0, 0}));
}

TEST(Gateway, MalformedAndOversizedRequestsAreRefused) {
    redis_server redis;
    gateway gw{redis, {}};
    ASSERT_TRUE(gw.wait_ready());
    {
        http_client c{gw.port};
        c.send("GARBAGE\x01\x02 / HTTP/9\r\n\r\n");
        auto r = c.read_response();
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 400);
        EXPECT_TRUE(c.closed_by_peer());
    }
    {
        http_client c{gw.port};
        c.send("GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(9000, 'a') + "\r\n\r\n");
        auto r = c.read_response();
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 431);
    }
    {
        http_client c{gw.port};
        c.send("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 2000000\r\n\r\n");
        auto r = c.read_response();
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 413);
    }
    {
        // Smuggling: both Content-Length and Transfer-Encoding.
        http_client c{gw.port};
        c.send(
            "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nTransfer-Encoding: "
            "chunked\r\n\r\n0\r\n\r\n");
        auto r = c.read_response();
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 400);
    }
    // None of that reached the limiter.
    EXPECT_EQ(redis.cli({"DBSIZE"}), "0");
    EXPECT_EQ(http_get(gw.port, "/")->status, 200);
}

TEST(Gateway, SigtermClosesListenersAndExitsZero) {
    redis_server redis;
    gateway gw{redis, {"--threads", "2"}};
    ASSERT_TRUE(gw.wait_ready());
    http_client idle{gw.port};
    ASSERT_TRUE(idle.get("/"));
    EXPECT_EQ(gw.proc.stop(SIGTERM, 7s), 0);
    http_client after{gw.port};
    EXPECT_FALSE(after.connected()) << "new connections must be refused after SIGTERM";
}

// A request waiting for Redis when SIGTERM arrives is finished and answered, then the process
// exits 0; the listener is closed at once.
TEST(Gateway, SigtermFinishesTheRequestInFlight) {
    redis_server redis;
    gateway gw{redis, {"--redis-timeout", "3s", "--redis-failure", "deny"}};
    ASSERT_TRUE(gw.wait_ready());
    std::thread sleeper([&] { redis.cli({"DEBUG", "SLEEP", "0.8"}); });
    std::this_thread::sleep_for(100ms);
    http_client in_flight{gw.port};
    ASSERT_TRUE(in_flight.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n"));
    std::this_thread::sleep_for(100ms);
    ::kill(gw.proc.pid(), SIGTERM);
    std::this_thread::sleep_for(100ms);
    http_client late{gw.port};
    EXPECT_FALSE(late.connected()) << "the listener must close at once";
    auto r = in_flight.read_response();
    sleeper.join();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->header("connection"), "close");
    EXPECT_EQ(gw.proc.wait(7s), 0);
}

// A Redis that stops answering without closing its connections (paused, partitioned) is found
// by the health check: /readyz says so within 3 s, and again ready once it answers.
TEST(Gateway, ReadyzNoticesASilentRedis) {
    redis_server redis;
    gateway gw{redis, {}};
    ASSERT_TRUE(gw.wait_ready());
    std::thread sleeper([&] { redis.cli({"DEBUG", "SLEEP", "4"}); });
    std::this_thread::sleep_for(50ms);
    auto t0 = std::chrono::steady_clock::now();
    EXPECT_TRUE(gw.wait_ready(503, 3s)) << "/readyz must report the outage within 3 s";
    EXPECT_LE(std::chrono::steady_clock::now() - t0, 3s);
    sleeper.join();
    EXPECT_TRUE(gw.wait_ready(200, 5s)) << "/readyz must report the recovery within 5 s";
}

TEST(Gateway, SeedCheckWithSluiceLoad) {
    redis_server redis;
    gateway gw{redis, {"--threads", "2"}};
    ASSERT_TRUE(gw.wait_ready());
    process load(binary("sluice-load"), {"http://127.0.0.1:" + std::to_string(gw.port) + "/", "-c",
                                         "6", "-n", "6", "--expect", "200:5,429:1"});
    EXPECT_EQ(load.wait(30s), 0);
}

TEST(Gateway, CommandLineErrorsExitTwoWithOneLine) {
    process help(binary("sluice"), {"--help"});
    EXPECT_NE(help.wait_for_line("--redis-failure", 5s), "");
    EXPECT_EQ(help.wait(5s), 0);
    process bad(binary("sluice"), {"--limit", "abc"});
    EXPECT_EQ(bad.wait(5s), 2);
}

}  // namespace
}  // namespace sluice::test
