// `sluice --redis-cluster` end to end: the real binary on a real Redis Cluster (3 primaries, a
// replica each) started by the test; decisions spread over the primaries, exact through a slot
// migration (MOVED and ASK followed) and resuming after a primary's failover.

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "resp/cluster_slot.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/process.hpp"
#include "tests/support/redis_cluster.hpp"
#include "tests/support/sluice_gateway.hpp"

namespace sluice::test {
namespace {

using namespace std::chrono_literals;

// The gateway on `cluster`, keyed by X-Api-Key, 5 per 10 s.
sluice_gateway gateway_on(const redis_cluster& cluster, std::vector<std::string> extra = {}) {
    gateway_options o;
    o.flags = {"--threads",       "2",     "--redis-cluster",
               cluster.seeds(),   "--key", "header:X-Api-Key",
               "--redis-timeout", "500ms"};
    o.flags.insert(o.flags.end(), extra.begin(), extra.end());
    // --redis is not used with --redis-cluster; a port nothing listens on proves it.
    sluice_gateway g{"redis://127.0.0.1:1", o};
    EXPECT_TRUE(g.wait_ready(200, 20s)) << "/readyz never said 200 on the cluster";
    return g;
}

std::string log_key(const std::string& client) {
    return "sluice:{key:" + client + "}:log";
}

std::uint16_t slot_of(const std::string& client) {
    return resp::key_slot(log_key(client));
}

// `n` requests as `client`, one after the other: the statuses as "200 200 429".
std::string run(unsigned short port, const std::string& client, int n) {
    std::string out;
    for (int i = 0; i < n; ++i) {
        const keyed_answer a = get_as(port, client);
        out += (out.empty() ? "" : " ") + std::to_string(a.status) + (a.counted ? "" : "!");
    }
    return out;
}

// A client name whose key lives in a slot served by `primary`.
std::string client_on(const redis_cluster& cluster, std::size_t primary, const std::string& base) {
    for (int i = 0;; ++i) {
        const std::string c = base + std::to_string(i);
        if (cluster.primary_for_slot(slot_of(c)) == primary) return c;
    }
}

long long keys_on(const redis_cluster& cluster, std::size_t node) {
    return std::stoll(cluster.cli(node, {"DBSIZE"}));
}

TEST(Cluster, DecisionsSpreadOverEveryPrimary) {
    redis_cluster cluster;
    auto g = gateway_on(cluster);
    // The seed's check (keyed by address: no X-Api-Key), then one request from each of 300
    // clients.
    process seed{binary("sluice-load"),
                 {"http://127.0.0.1:" + std::to_string(g.port) + "/", "-c", "6", "-n", "6",
                  "--expect", "200:5,429:1"}};
    EXPECT_EQ(seed.wait(20s), 0);
    process load{
        binary("sluice-load"),
        {"http://127.0.0.1:" + std::to_string(g.port) + "/", "-c", "16", "--key-seq", "--keys",
         "300", "-n", "300", "--key-header", "X-Api-Key", "--expect", "200:300"}};
    EXPECT_EQ(load.wait(30s), 0);
    long long total = 0;
    for (const std::size_t p : cluster.primaries()) {
        const long long n = keys_on(cluster, p);
        EXPECT_GT(n, 50) << "primary " << p << " holds " << n << " of the 301 client logs";
        total += n;
    }
    EXPECT_EQ(total, 301);
    // /quota asks the primary of the client's slot too.
    const auto quota = http_get(g.admin, "/quota?rule=default&key=key:k7");
    ASSERT_TRUE(quota);
    EXPECT_EQ(quota->status, 200) << quota->body;
    EXPECT_NE(quota->body.find("\"remaining\":4"), std::string::npos) << quota->body;
    // Every seed is connected to (replicas too: each could be promoted).
    EXPECT_EQ(g.metric("sluice_redis_cluster_nodes{shard=\"0\"}"), 6);
}

TEST(Cluster, SixtySimultaneousRequestsOfOneClientAllowFive) {
    redis_cluster cluster;
    auto g = gateway_on(cluster);
    process load{binary("sluice-load"),
                 {"http://127.0.0.1:" + std::to_string(g.port) + "/", "-c", "60", "-n", "60",
                  "--key-header", "X-Api-Key", "--keys", "1", "--expect", "200:5,429:55"}};
    EXPECT_EQ(load.wait(30s), 0);
}

// A slot moved whole to another primary: the gateway's map is stale, the old owner answers MOVED,
// the gateway follows it, and the client's log (moved with the slot) keeps counting.
TEST(Cluster, MovedAfterASlotMigrationIsFollowedAndCounted) {
    redis_cluster cluster;
    auto g = gateway_on(cluster);
    const auto primaries = cluster.primaries();
    const std::string client = client_on(cluster, primaries[0], "moving");
    EXPECT_EQ(run(g.port, client, 3), "200 200 200");
    cluster.migrate_slot(slot_of(client), primaries[0], primaries[1]);
    ASSERT_EQ(cluster.cli(primaries[1], {"EXISTS", log_key(client)}), "1");
    EXPECT_EQ(run(g.port, client, 3), "200 200 429");
    EXPECT_GE(g.metric("sluice_redis_redirections_total{shard=\"0\",kind=\"moved\"}") +
                  g.metric("sluice_redis_redirections_total{shard=\"1\",kind=\"moved\"}"),
              1);
}

// Mid-migration, a key not yet on the importing node is asked for on the old owner, which answers
// ASK: the gateway sends ASKING and the script to the new owner, once, without changing its map.
TEST(Cluster, AskMidMigrationIsFollowedAndCounted) {
    redis_cluster cluster;
    auto g = gateway_on(cluster);
    const auto primaries = cluster.primaries();
    const std::string client = client_on(cluster, primaries[0], "asked");
    const std::uint16_t slot = slot_of(client);
    cluster.begin_migration(slot, primaries[0], primaries[1]);
    EXPECT_EQ(run(g.port, client, 3), "200 200 200");
    // Each was asked for on the old owner, and created on the new one. (COUNTKEYSINSLOT answers
    // on any node; a key command would be redirected.)
    EXPECT_EQ(cluster.cli(primaries[1], {"CLUSTER", "COUNTKEYSINSLOT", std::to_string(slot)}), "1");
    EXPECT_EQ(cluster.cli(primaries[0], {"CLUSTER", "COUNTKEYSINSLOT", std::to_string(slot)}), "0");
    EXPECT_GE(g.metric("sluice_redis_redirections_total{shard=\"0\",kind=\"ask\"}") +
                  g.metric("sluice_redis_redirections_total{shard=\"1\",kind=\"ask\"}"),
              3);
    cluster.finish_migration(slot, primaries[0], primaries[1]);
    EXPECT_EQ(run(g.port, client, 3), "200 200 429");
}

// Slots holding live client logs move from one primary to another while a load runs: every
// request is decided (no 200 without X-RateLimit-Remaining: MOVED and ASK are followed, not
// failed open) and no client gets more than its limit in any window.
TEST(Cluster, ReshardingUnderLoadKeepsEveryDecisionExact) {
    redis_cluster cluster;
    // Without the blocked-client cache every request, rejected ones too, is a script call on the
    // slots being moved.
    auto g = gateway_on(cluster, {"--blocked-cache-size", "0"});
    const auto primaries = cluster.primaries();
    process load{
        binary("sluice-load"),
        {"http://127.0.0.1:" + std::to_string(g.port) + "/", "-c", "16", "-d", "8s", "--keys", "60",
         "--key-header", "X-Api-Key", "--verify-limit", "5/10s", "--json"}};
    std::this_thread::sleep_for(1500ms);
    // Every slot of primaries[0] that holds a client's log, to primaries[1] (sluice-load's keys
    // are k0 .. k59).
    std::vector<std::uint16_t> moved;
    for (int i = 0; i < 60; ++i) {
        const std::uint16_t slot = slot_of("k" + std::to_string(i));
        if (cluster.primary_for_slot(slot) != primaries[0]) continue;
        if (std::find(moved.begin(), moved.end(), slot) != moved.end()) continue;
        cluster.migrate_slot(slot, primaries[0], primaries[1]);
        moved.push_back(slot);
    }
    ASSERT_GE(moved.size(), 5u);
    bool ok = false;
    const std::string report = load.read_line(20s, &ok);
    EXPECT_EQ(load.wait(20s), 0) << report;
    const auto number = [&](const std::string& field) {
        const auto at = report.find("\"" + field + "\":");
        return at == std::string::npos ? -1LL : std::stoll(report.substr(at + field.size() + 3));
    };
    EXPECT_EQ(number("uncounted_200"), 0) << report;
    EXPECT_EQ(number("errors"), 0) << report;
    EXPECT_GT(number("requests"), 1000) << report;
    long long redirected = 0;
    for (const char* kind : {"moved", "ask"}) {
        for (int shard = 0; shard < 2; ++shard) {
            redirected += g.metric("sluice_redis_redirections_total{shard=\"" +
                                   std::to_string(shard) + "\",kind=\"" + kind + "\"}");
        }
    }
    EXPECT_GT(redirected, 0);
    std::printf("resharding %zu slots under load: %lld of %lld requests redirected\n", moved.size(),
                redirected, number("requests"));
}

// SIGKILL a primary: its replica takes over within the cluster's node timeout, and the gateway's
// decisions for its slots resume within that plus 2 s; meanwhile they fail open (allowed, not
// counted), never wrongly counted.
TEST(Cluster, DecisionsResumeAfterAPrimaryFailsOver) {
    redis_cluster_options o;
    o.node_timeout = 1000ms;
    redis_cluster cluster{o};
    auto g = gateway_on(cluster, {"--redis-timeout", "100ms"});
    const auto primaries = cluster.primaries();
    const std::string client = client_on(cluster, primaries[2], "failover");
    EXPECT_EQ(run(g.port, client, 2), "200 200");
    // Replication is asynchronous: wait until the replica has acknowledged the log, so the test
    // checks the gateway, not what a failover may lose.
    ASSERT_EQ(cluster.cli(primaries[2], {"WAIT", "1", "2000"}), "1");

    const auto killed = std::chrono::steady_clock::now();
    cluster.kill(primaries[2]);
    keyed_answer a;
    while (std::chrono::steady_clock::now() - killed < 15s) {
        a = get_as(g.port, client);
        if (a.counted) break;
        EXPECT_EQ(a.status, 200) << "while the slot has no primary, requests fail open";
        std::this_thread::sleep_for(20ms);
    }
    const auto resumed = std::chrono::steady_clock::now() - killed;
    ASSERT_TRUE(a.counted) << "decisions never resumed";
    EXPECT_LT(resumed, o.node_timeout + 2s + 500ms)
        << std::chrono::duration_cast<std::chrono::milliseconds>(resumed).count() << " ms";
    // The log survived on the promoted replica: 2 before, this one, then 2 more allowed.
    EXPECT_EQ(a.status, 200);
    EXPECT_EQ(run(g.port, client, 3), "200 200 429");
    EXPECT_TRUE(g.wait_ready(200, 5s));
}

// SIGKILL a primary under load. Its clients' decisions fail open until the replica is promoted,
// then resume; every other client is decided throughout. Replication is asynchronous, so the
// promoted replica may lack the newest entries: the only possible error is a client of the killed
// primary allowed more than its limit, never a client of another primary, never one rejected.
TEST(Cluster, AFailoverUnderLoadErrsOnlyTowardsAllowingItsOwnClients) {
    redis_cluster_options o;
    o.node_timeout = 1000ms;
    redis_cluster cluster{o};
    // A limit high enough that clients are still being allowed (entries still being written)
    // when the primary dies.
    auto g = gateway_on(
        cluster, {"--blocked-cache-size", "0", "--redis-timeout", "100ms", "--limit", "400"});
    const std::size_t victim = cluster.primaries()[2];
    std::vector<bool> on_victim(60);
    for (int i = 0; i < 60; ++i)
        on_victim[i] = cluster.primary_for_slot(slot_of("k" + std::to_string(i))) == victim;
    process load{
        binary("sluice-load"),
        {"http://127.0.0.1:" + std::to_string(g.port) + "/", "-c", "16", "-d", "9s", "--keys", "60",
         "--key-header", "X-Api-Key", "--verify-limit", "400/10s", "--json"}};
    std::this_thread::sleep_for(2s);
    cluster.kill(victim);
    bool ok = false;
    const std::string report = load.read_line(30s, &ok);
    load.wait(30s);
    ASSERT_TRUE(ok) << "sluice-load printed no report";
    const auto number = [&](const std::string& field) {
        const auto at = report.find("\"" + field + "\":");
        return at == std::string::npos ? -1LL : std::stoll(report.substr(at + field.size() + 3));
    };
    EXPECT_EQ(number("errors"), 0) << report;
    // Fail-open answers while the slots had no primary, and only then.
    EXPECT_GT(number("uncounted_200"), 0) << report;
    if (number("violations") > 0) {
        const auto at = report.find("\"worst_key\":\"k");
        ASSERT_NE(at, std::string::npos) << report;
        const int worst = std::stoi(report.substr(at + 14));
        EXPECT_TRUE(on_victim.at(worst)) << "a client of a primary that did not fail: " << report;
    }
    // After the failover every client is decided again, the victim's included.
    for (int i = 0; i < 60; ++i) {
        if (!on_victim[i]) continue;
        const keyed_answer a = get_as(g.port, "k" + std::to_string(i));
        EXPECT_TRUE(a.counted) << "k" << i << " still fails open";
        break;
    }
    std::printf("failover under load: %s\n", report.c_str());
}

}  // namespace
}  // namespace sluice::test
