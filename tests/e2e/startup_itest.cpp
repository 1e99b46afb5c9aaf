// The first moments and the last: what CONTRACT.md promises from the instant the banner appears
// (requests counted, signals handled) and what sluice logs on stderr about its Redis and its
// shutdown. Each start costs about 100 ms, so the races are tried several times, each against a
// fresh process: a start-up race that loses one time in three must not pass by luck.

#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/delay_proxy.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/process.hpp"
#include "tests/support/redis_server.hpp"
#include "tests/support/sluice_gateway.hpp"

namespace sluice::test {
namespace {

using namespace std::chrono_literals;

// What one answer was, in one word: "200" counted, "200-uncounted" (served without a decision:
// fail-open), "429", another status, or "none".
std::string kind(const std::optional<http_response>& r) {
    if (!r) return "none";
    if (r->status == 200)
        return r->header("x-ratelimit-remaining").empty() ? "200-uncounted" : "200";
    return std::to_string(r->status);
}

std::string joined(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v)
        out += (out.empty() ? "" : " ") + s;
    return out;
}

// Starts sluice (limit 5 per 10 s) and, as soon as the public listener's line is read, sends
// seven requests one after another on one keep-alive connection. All of them must have been
// decided by Redis: five counted 200s, then two 429s, and nothing failed open.
void expect_first_requests_counted(const std::string& redis_url, std::vector<std::string> flags,
                                   const std::string& label) {
    std::vector<std::string> all = {"--limit", "5", "--window", "10s"};
    all.insert(all.end(), flags.begin(), flags.end());
    sluice_gateway gw{redis_url, {.flags = all, .read_admin_line = false}};
    ASSERT_NE(gw.port, 0);
    std::vector<std::string> got;
    std::vector<std::string> remaining;
    {
        http_client c{gw.port};
        ASSERT_TRUE(c.connected()) << label;
        for (int i = 0; i < 7; ++i) {
            auto r = c.get("/");
            got.push_back(kind(r));
            if (r) remaining.push_back(r->header("x-ratelimit-remaining"));
        }
    }
    ASSERT_TRUE(gw.read_admin_line()) << label;
    EXPECT_EQ(joined(got), "200 200 200 200 200 429 429") << label;
    EXPECT_EQ(joined(remaining), "4 3 2 1 0 0 0") << label;
    EXPECT_EQ(gw.metric("sluice_requests_total{decision=\"error\"}"), 0) << label;
    EXPECT_EQ(gw.metric("sluice_failed_open_total"), 0) << label;
}

constexpr int start_tries = 5;

TEST(Startup, RequestsSentAtTheBannerAreCountedOneShard) {
    redis_server redis;
    for (int i = 0; i < start_tries; ++i) {
        // A key prefix per start: each run has a budget of its own in the shared Redis.
        std::string run = "run" + std::to_string(i) + ":";
        expect_first_requests_counted(redis.url(), {"--threads", "1", "--key-prefix", run},
                                      "start " + std::to_string(i + 1) + ", 1 shard");
    }
}

TEST(Startup, RequestsSentAtTheBannerAreCountedTwoShards) {
    redis_server redis;
    for (int i = 0; i < start_tries; ++i) {
        std::string run = "run" + std::to_string(i) + ":";
        expect_first_requests_counted(redis.url(), {"--threads", "2", "--key-prefix", run},
                                      "start " + std::to_string(i + 1) + ", 2 shards");
    }
}

// A Redis whose first answer on every new connection comes 300 ms late, well within
// --redis-timeout 1s: requests that arrive meanwhile wait for the connection instead of
// failing open.
TEST(Startup, RequestsWaitForASlowFirstConnection) {
    redis_server redis;
    delay_proxy slow{redis.port(), 300ms};
    for (int i = 0; i < 3; ++i) {
        std::string run = "slow" + std::to_string(i) + ":";
        expect_first_requests_counted(
            slow.url(), {"--threads", "2", "--redis-timeout", "1s", "--key-prefix", run},
            "start " + std::to_string(i + 1) + " through a 300 ms proxy");
    }
    EXPECT_GE(slow.accepted(), 6) << "every start's shards must have come through the proxy";
}

// The same proxy once the connections are up: every request counted. What the test above adds
// is only the timing.
TEST(Startup, RequestsThroughTheSlowProxyAreCountedOnceConnected) {
    redis_server redis;
    delay_proxy slow{redis.port(), 300ms};
    sluice_gateway gw{slow.url(), {.flags = {"--threads", "2", "--redis-timeout", "1s"}}};
    ASSERT_TRUE(gw.wait_ready());
    http_client c{gw.port};
    std::vector<std::string> got;
    for (int i = 0; i < 7; ++i)
        got.push_back(kind(c.get("/")));
    EXPECT_EQ(joined(got), "200 200 200 200 200 429 429");
    EXPECT_EQ(gw.metric("sluice_failed_open_total"), 0);
}

// The contract: when the banner lines appear, SIGINT and SIGTERM are already handled, so a
// signal at that instant is a graceful shutdown (exit 0), not a death by signal.
void expect_signal_at_banner_exits_zero(int sig) {
    redis_server redis;
    std::vector<int> codes;
    int clean = 0;
    constexpr int tries = 10;
    for (int i = 0; i < tries; ++i) {
        sluice_gateway gw{redis.url(), {.flags = {"--threads", "2"}}};
        int code = gw.proc.stop(sig, 7s);
        codes.push_back(code);
        if (code == 0) ++clean;
    }
    std::string list;
    for (int c : codes)
        list += (list.empty() ? "" : " ") + std::to_string(c);
    EXPECT_EQ(clean, tries) << "exit codes (negative: killed by that signal): " << list;
}

TEST(Startup, SigintAtTheBannerExitsZero) {
    expect_signal_at_banner_exits_zero(SIGINT);
}

TEST(Startup, SigtermAtTheBannerExitsZero) {
    expect_signal_at_banner_exits_zero(SIGTERM);
}

// Clients the kernel connected in the listen backlog while the gateway could not accept (here:
// stopped), and that sent a request, are in flight like any other when SIGTERM comes: each gets
// its answer, none a reset.
TEST(Startup, RequestsWaitingInTheListenBacklogAtSigtermAreAnswered) {
    redis_server redis;
    for (int round = 0; round < 3; ++round) {
        sluice_gateway gw{
            redis.url(),
            {.flags = {"--threads", "2", "--key-prefix", "backlog" + std::to_string(round) + ":"}}};
        ASSERT_TRUE(gw.wait_ready());
        ASSERT_EQ(::kill(gw.proc.pid(), SIGSTOP), 0);
        std::vector<std::unique_ptr<http_client>> clients;
        for (int i = 0; i < 4; ++i) {
            clients.push_back(std::make_unique<http_client>(gw.port));
            ASSERT_TRUE(clients.back()->connected());
            ASSERT_TRUE(clients.back()->send("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
        }
        ASSERT_EQ(::kill(gw.proc.pid(), SIGTERM), 0);
        ASSERT_EQ(::kill(gw.proc.pid(), SIGCONT), 0);
        std::vector<std::string> got;
        for (auto& c : clients) {
            auto r = c->read_response();
            got.push_back(r ? std::to_string(r->status) : "none");
        }
        EXPECT_EQ(joined(got), "200 200 200 200") << "round " << round;
        EXPECT_EQ(gw.proc.wait(7s), 0);
    }
}

// ---------------------------------------------------------------------------------------------
// stderr: one line per event, never one per request.

std::string all_lines(process& p) {
    std::string out;
    for (const auto& l : p.stderr_lines())
        out += "\n  " + l;
    return out.empty() ? " (none)" : out;
}

// Waits for the next stderr line that matches `re` entirely; "" if none did within `limit`.
std::string wait_for_match(process& p, const std::regex& re, std::chrono::milliseconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return {};
        bool ok = false;
        std::string line = p.read_stderr_line(left, &ok);
        if (!ok) return {};
        if (std::regex_match(line, re)) return line;
    }
}

std::regex connected_line(unsigned short redis_port) {
    return std::regex(R"(sluice: shard \d+: redis connected \(127\.0\.0\.1:)" +
                      std::to_string(redis_port) + R"(\))");
}

const std::regex lost_open(R"(sluice: shard \d+: redis lost \(.+\); requests fail open)");
const std::regex lost_deny(R"(sluice: shard \d+: redis lost \(.+\); requests get 503)");
const std::regex restored(R"(sluice: shard \d+: redis restored after \d+\.\d{3}s)");

// The capture itself, on a child whose stderr is known: what the tests below miss is sluice's.
TEST(StartupLog, HarnessReadsStderrLineByLine) {
    process p("/bin/sh", {"-c", "echo out; echo one >&2; sleep 0.1; echo two >&2"},
              /*capture_stdout=*/true, /*capture_stderr=*/true);
    EXPECT_EQ(p.read_line(2s), "out");
    EXPECT_EQ(p.wait_for_stderr_line("two", 2s), "two");
    EXPECT_EQ(joined(p.stderr_lines(100ms)), "one two");
    EXPECT_EQ(p.wait(2s), 0);
}

TEST(StartupLog, RedisConnectedLostAndRestoredOneLineEach) {
    redis_server redis;
    sluice_gateway gw{redis.url(), {.flags = {"--threads", "1"}, .capture_stderr = true}};
    EXPECT_NE(wait_for_match(gw.proc, connected_line(redis.port()), 3s), "")
        << "stderr:" << all_lines(gw.proc);
    ASSERT_TRUE(gw.wait_ready());
    auto t0 = std::chrono::steady_clock::now();
    redis.stop();
    EXPECT_NE(wait_for_match(gw.proc, lost_open, 3s), "") << "stderr:" << all_lines(gw.proc);
    EXPECT_LE(std::chrono::steady_clock::now() - t0, 3s);
    redis.start();
    t0 = std::chrono::steady_clock::now();
    std::string line = wait_for_match(gw.proc, restored, 5s);
    EXPECT_NE(line, "") << "stderr:" << all_lines(gw.proc);
    EXPECT_LE(std::chrono::steady_clock::now() - t0, 5s);
    EXPECT_EQ(gw.proc.stop(SIGTERM, 7s), 0);
    // connected, lost, restored, shutdown begun, shutdown done.
    EXPECT_LE(gw.proc.stderr_lines(200ms).size(), 5u) << "stderr:" << all_lines(gw.proc);
}

// SIGHUP's default action would end the process: a supervisor sending it must not kill sluice,
// even when there is no rules file to reload.
TEST(StartupLog, SighupKeepsTheGatewayServingAndSaysSo) {
    redis_server redis;
    sluice_gateway gw{redis.url(), {.flags = {"--threads", "2"}, .capture_stderr = true}};
    ASSERT_TRUE(gw.wait_ready());
    for (int i = 0; i < 2; ++i) {
        ASSERT_EQ(::kill(gw.proc.pid(), SIGHUP), 0);
        EXPECT_EQ(gw.proc.wait_for_stderr_line(
                      "sluice: SIGHUP: no --config to reload; the flags' rule stays", 3s),
                  "sluice: SIGHUP: no --config to reload; the flags' rule stays")
            << "stderr:" << all_lines(gw.proc);
    }
    const auto r = http_get(gw.port, "/");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(gw.proc.stop(SIGTERM, 7s), 0);
}

TEST(StartupLog, EveryShardLogsItsOwnConnection) {
    redis_server redis;
    sluice_gateway gw{redis.url(), {.flags = {"--threads", "2"}, .capture_stderr = true}};
    ASSERT_TRUE(gw.wait_ready());
    std::vector<std::string> shards;
    std::regex re(R"(sluice: shard (\d+): redis connected \(127\.0\.0\.1:)" +
                  std::to_string(redis.port()) + R"(\))");
    for (const auto& l : gw.proc.stderr_lines(300ms)) {
        std::smatch m;
        if (std::regex_match(l, m, re)) shards.push_back(m[1]);
    }
    std::sort(shards.begin(), shards.end());
    EXPECT_EQ(joined(shards), "0 1") << "stderr:" << all_lines(gw.proc);
}

TEST(StartupLog, UnreachableAtStartSaysSo) {
    auto port = free_port();  // nothing listens there
    sluice_gateway gw{"redis://127.0.0.1:" + std::to_string(port),
                      {.flags = {"--threads", "1"}, .capture_stderr = true}};
    std::regex re(R"(sluice: shard 0: redis unreachable \(.+\); requests fail open)");
    EXPECT_NE(wait_for_match(gw.proc, re, 3s), "") << "stderr:" << all_lines(gw.proc);
    // The reconnect attempts that keep failing say nothing more.
    std::this_thread::sleep_for(1500ms);
    EXPECT_LE(gw.proc.stderr_lines(100ms).size(), 1u) << "stderr:" << all_lines(gw.proc);
}

TEST(StartupLog, LostLineWithDenySaysRequestsGet503) {
    redis_server redis;
    sluice_gateway gw{
        redis.url(),
        {.flags = {"--threads", "1", "--redis-failure", "deny"}, .capture_stderr = true}};
    ASSERT_TRUE(gw.wait_ready());
    redis.stop();
    EXPECT_NE(wait_for_match(gw.proc, lost_deny, 3s), "") << "stderr:" << all_lines(gw.proc);
}

void expect_shutdown_lines(int sig, const std::string& name) {
    redis_server redis;
    sluice_gateway gw{redis.url(), {.flags = {"--threads", "2"}, .capture_stderr = true}};
    ASSERT_TRUE(gw.wait_ready());
    EXPECT_EQ(gw.proc.stop(sig, 7s), 0);
    const auto& lines = gw.proc.stderr_lines(100ms);
    auto begun = std::find(lines.begin(), lines.end(), "sluice: shutdown begun (" + name + ")");
    auto done = std::find(lines.begin(), lines.end(), "sluice: shutdown done");
    EXPECT_NE(begun, lines.end()) << "stderr:" << all_lines(gw.proc);
    EXPECT_NE(done, lines.end()) << "stderr:" << all_lines(gw.proc);
    EXPECT_LT(begun, done) << "stderr:" << all_lines(gw.proc);
}

TEST(StartupLog, SigtermSaysShutdownBegunAndDone) {
    expect_shutdown_lines(SIGTERM, "SIGTERM");
}

TEST(StartupLog, SigintSaysShutdownBegunAndDone) {
    expect_shutdown_lines(SIGINT, "SIGINT");
}

// 200 requests during an outage, each failed open: the log stays a few event lines long.
TEST(StartupLog, NoLinePerRequestDuringAnOutage) {
    redis_server redis;
    sluice_gateway gw{redis.url(), {.flags = {"--threads", "2"}, .capture_stderr = true}};
    ASSERT_TRUE(gw.wait_ready());
    redis.stop();
    ASSERT_TRUE(gw.wait_ready(503, 3s));
    int answered = 0;
    {
        http_client c{gw.port};
        for (int i = 0; i < 200; ++i) {
            auto r = c.get("/");
            if (r && r->status == 200) ++answered;
        }
    }
    EXPECT_EQ(answered, 200);
    EXPECT_EQ(gw.metric("sluice_failed_open_total"), 200);
    // Two shards: connected and lost, each; nothing else yet.
    EXPECT_LT(gw.proc.stderr_lines(300ms).size(), 10u) << "stderr:" << all_lines(gw.proc);
    EXPECT_GE(gw.proc.stderr_lines().size(), 2u)
        << "the outage itself must be logged; stderr:" << all_lines(gw.proc);
}

}  // namespace
}  // namespace sluice::test
