// `sluice --redis-sentinel ... --redis-master NAME` end to end: the real binary on a primary, its
// replica and three Sentinels started by the test. The gateway finds the primary, decides, follows
// a SENTINEL FAILOVER (and never writes to the demoted primary afterwards), and a name the
// Sentinels do not know is an error line and a 503 from /readyz, not a crash.

#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/http_client.hpp"
#include "tests/support/process.hpp"
#include "tests/support/redis_sentinel.hpp"
#include "tests/support/redis_server.hpp"
#include "tests/support/sluice_gateway.hpp"

namespace sluice::test {
namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

gateway_options options_on(const redis_sentinel& s, const std::string& master) {
    gateway_options o;
    o.flags = {"--threads", "2",     "--redis-sentinel", s.seeds(),         "--redis-master",
               master,      "--key", "header:X-Api-Key", "--redis-timeout", "500ms"};
    o.capture_stderr = true;
    return o;
}

std::string log_key(const std::string& client) {
    return "sluice:{key:" + client + "}:log";
}

std::string read_text(const std::string& path) {
    std::ifstream f(path);
    return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

std::size_t lines_with(process& p, const std::string& needle) {
    std::size_t n = 0;
    for (const std::string& l : p.stderr_lines(100ms))
        n += l.find(needle) != std::string::npos;
    return n;
}

TEST(Sentinel, FindsThePrimaryAndFollowsAFailover) {
    redis_sentinel s;
    gateway_options o = options_on(s, s.master());
    o.read_admin_line = false;
    // --redis is not used with --redis-sentinel; a port nothing listens on proves it.
    sluice_gateway g{"redis://127.0.0.1:1", o};
    // The first request waits for the Sentinels' answer and the connect, like any setup.
    const keyed_answer first = get_as(g.port, "first");
    EXPECT_EQ(first.status, 200);
    EXPECT_TRUE(first.counted) << "the first request was not counted";
    ASSERT_TRUE(g.read_admin_line());
    ASSERT_TRUE(g.wait_ready(200, 20s));
    const std::string old_at = "is now 127.0.0.1:" + std::to_string(s.node_port(0)) + " (Sentinel)";
    EXPECT_EQ(lines_with(g.proc, old_at), 2u) << "one line per shard";

    // The seed's check (keyed by address: no X-Api-Key).
    process seed{binary("sluice-load"),
                 {"http://127.0.0.1:" + std::to_string(g.port) + "/", "-c", "6", "-n", "6",
                  "--expect", "200:5,429:1"}};
    ASSERT_EQ(seed.wait(20s), 0);
    EXPECT_EQ(s.cli(0, {"EXISTS", log_key("first")}), "1");

    // Requests run while the primary fails over; each is a new client, so none is rejected, and
    // one counted on the promoted replica after its promotion can only have been written there.
    const auto asked = clock_type::now();
    s.failover();
    keyed_answer a;
    int sent = 0;
    bool resumed = false;
    std::chrono::milliseconds resume_after{};
    while (clock_type::now() - asked < 30s) {
        const bool promoted = s.role(1) == "master";
        const std::string client = "during" + std::to_string(sent++);
        a = get_as(g.port, client);
        EXPECT_EQ(a.status, 200) << "during a failover requests fail open, never 429 or 503";
        if (promoted && a.counted && s.cli(1, {"EXISTS", log_key(client)}) == "1") {
            resume_after =
                std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - asked);
            resumed = true;
            break;
        }
        std::this_thread::sleep_for(10ms);
    }
    if (!resumed) {
        for (const std::string& l : g.proc.stderr_lines(100ms))
            std::printf("gateway: %s\n", l.c_str());
        std::printf("roles: %s %s\n", s.role(0).c_str(), s.role(1).c_str());
        for (std::size_t i = 0; i < 3; ++i) {
            std::printf(
                "sentinel %zu says %s\n--- its log:\n%s\n", i,
                s.sentinel_cli(i, {"SENTINEL", "GET-MASTER-ADDR-BY-NAME", s.master()}).c_str(),
                read_text(s.sentinel_log(i)).c_str());
        }
    }
    ASSERT_TRUE(resumed) << "decisions never resumed on the new primary";
    std::printf(
        "decisions resumed on the new primary %lld ms after SENTINEL FAILOVER (%d requests)\n",
        static_cast<long long>(resume_after.count()), sent);
    // Sentinel's own part (promotion, then +switch-master) takes about a second or two.
    EXPECT_LT(resume_after, 8s);

    // Each shard logged the switch once.
    s.wait_for_primary(1);
    const std::string new_at = "is now 127.0.0.1:" + std::to_string(s.node_port(1)) + " (Sentinel)";
    const auto logged = clock_type::now();
    while (lines_with(g.proc, new_at) < 2 && clock_type::now() - logged < 10s)
        std::this_thread::sleep_for(50ms);
    EXPECT_EQ(lines_with(g.proc, new_at), 2u);

    // The old primary, now a replica, never receives the gateway's writes again.
    const long long old_before = evalsha_calls(s.node_port(0));
    const long long new_before = evalsha_calls(s.node_port(1));
    for (int i = 0; i < 20; ++i) {
        const keyed_answer after = get_as(g.port, "after" + std::to_string(i));
        EXPECT_EQ(after.status, 200);
        EXPECT_TRUE(after.counted) << i;
    }
    EXPECT_EQ(evalsha_calls(s.node_port(0)), old_before) << "the demoted primary was written to";
    EXPECT_GE(evalsha_calls(s.node_port(1)) - new_before, 1);
    // And the limit holds on the new primary.
    std::string statuses;
    for (int i = 0; i < 6; ++i)
        statuses += std::to_string(get_as(g.port, "limited").status) + " ";
    EXPECT_EQ(statuses, "200 200 200 200 200 429 ");
    EXPECT_EQ(g.metric("sluice_redis_primary_changes_total{shard=\"0\"}"), 2);
    // /quota, on the admin thread's own connection, follows the primary too.
    const auto quota = http_get(g.admin, "/quota?rule=default&key=key:limited");
    ASSERT_TRUE(quota);
    EXPECT_EQ(quota->status, 200) << quota->body;
    EXPECT_NE(quota->body.find("\"remaining\":0"), std::string::npos) << quota->body;
    EXPECT_EQ(lines_with(g.proc, "Redis primary " + s.master() + " is now"), 4u)
        << "one line per shard and switch, never per request";
    EXPECT_EQ(g.proc.stop(SIGTERM), 0);
}

TEST(Sentinel, AnUnknownMasterNameIsAnErrorAndNotReady) {
    redis_sentinel s;
    sluice_gateway g{"redis://127.0.0.1:1", options_on(s, "nosuchmaster")};
    const std::string line =
        g.proc.wait_for_stderr_line("no Sentinel knows a primary named 'nosuchmaster'", 10s);
    EXPECT_NE(line, "") << "no error line";
    EXPECT_NE(line.find("shard"), std::string::npos) << line;
    EXPECT_EQ(g.readyz(), 503);
    // Requests are still answered: within --redis-timeout, failing open.
    const keyed_answer a = get_as(g.port, "someone");
    EXPECT_EQ(a.status, 200);
    EXPECT_FALSE(a.counted);
    EXPECT_TRUE(g.proc.running());
    std::this_thread::sleep_for(1s);
    EXPECT_EQ(g.readyz(), 503);
    // Said once per shard, not once per round of asking.
    EXPECT_EQ(lines_with(g.proc, "no Sentinel knows a primary named"), 2u);
    EXPECT_EQ(g.proc.stop(SIGTERM), 0);
}

}  // namespace
}  // namespace sluice::test
