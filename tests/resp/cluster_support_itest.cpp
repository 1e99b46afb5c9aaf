// The cluster pieces against a real Redis Cluster: the topology builder on live CLUSTER SHARDS
// and CLUSTER SLOTS replies (RESP2 and RESP3, through the real parser and connection), redirect
// texts as the cluster writes them, and the test support itself (failover, migration).

#include <gtest/gtest.h>

#include <algorithm>
#include <asio/io_context.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "resp/cluster_slot.hpp"
#include "resp/connection.hpp"
#include "resp/error.hpp"
#include "resp/redirect.hpp"
#include "resp/topology.hpp"
#include "tests/resp/harness.hpp"
#include "tests/support/redis_cluster.hpp"
#include "tests/support/redis_server.hpp"
#include "tests/support/redis_sync.hpp"

namespace sluice::resp {
namespace {

using namespace std::chrono_literals;
using test::redis_cluster;

// Asks node `node` for its topology over a connection speaking RESP `protocol`.
std::shared_ptr<const slot_map> ask_topology(const redis_cluster& c, std::size_t node,
                                             topology_source source, int protocol = 2) {
    test::redis_sync conn(c.port(node));
    if (protocol == 3) {
        EXPECT_FALSE(conn.call({"HELLO", "3"}).is_error());
    }
    topology_builder b{source};
    conn.call({"CLUSTER", source == topology_source::cluster_shards ? "SHARDS" : "SLOTS"}, b);
    auto map = b.finish();
    EXPECT_TRUE(map) << b.error().message() << ": " << b.detail();
    return map;
}

// One cluster for the tests that leave it whole (a migration moves a slot but keeps coverage):
// starting one takes seconds.
class ClusterSupport : public testing::Test {
  protected:
    static void SetUpTestSuite() { cluster_ = std::make_unique<redis_cluster>(); }
    static void TearDownTestSuite() { cluster_.reset(); }
    static redis_cluster& cluster() { return *cluster_; }

  private:
    static std::unique_ptr<redis_cluster> cluster_;
};

std::unique_ptr<redis_cluster> ClusterSupport::cluster_;

TEST_F(ClusterSupport, StartsAHealthyClusterOfThreePrimariesWithAReplicaEach) {
    auto& c = cluster();
    ASSERT_EQ(c.size(), 6u);
    EXPECT_EQ(c.primaries().size(), 3u);
    for (std::size_t p : c.primaries())
        EXPECT_EQ(c.replicas_of(p).size(), 1u);
    for (std::size_t i = 0; i < c.size(); ++i) {
        EXPECT_NE(c.cli(i, {"CLUSTER", "INFO"}).find("cluster_state:ok"), std::string::npos);
        EXPECT_EQ(c.node_id(i).size(), 40u);
    }
    const std::string seeds = c.seeds();
    for (unsigned short p : c.ports())
        EXPECT_NE(seeds.find("127.0.0.1:" + std::to_string(p)), std::string::npos);
    EXPECT_EQ(std::count(seeds.begin(), seeds.end(), ','), 5);
}

TEST_F(ClusterSupport, ShardsRepliesParseInBothProtocols) {
    auto& c = cluster();
    for (std::size_t node = 0; node < c.size(); ++node) {
        for (int protocol : {2, 3}) {
            auto m = ask_topology(c, node, topology_source::cluster_shards, protocol);
            ASSERT_TRUE(m);
            EXPECT_TRUE(m->covered());
            ASSERT_EQ(m->shards().size(), 3u);
            EXPECT_EQ(m->nodes().size(), 6u);
            for (const auto& s : m->shards()) {
                EXPECT_EQ(s.replicas.size(), 1u);
                EXPECT_EQ(m->nodes()[s.primary].health, node_health::online);
                EXPECT_EQ(m->nodes()[s.primary].host, "127.0.0.1");
            }
            for (std::uint16_t slot : {0, 1, 5460, 5461, 8000, 10922, 10923, 16383}) {
                EXPECT_EQ(m->node_for_slot(slot)->id, c.node_id(c.primary_for_slot(slot)))
                    << "slot " << slot << " from node " << node << " over RESP" << protocol;
            }
        }
    }
}

TEST_F(ClusterSupport, SlotsRepliesRouteLikeShards) {
    auto& c = cluster();
    auto shards = ask_topology(c, 0, topology_source::cluster_shards, 3);
    for (int protocol : {2, 3}) {
        auto slots = ask_topology(c, 1, topology_source::cluster_slots, protocol);
        ASSERT_TRUE(shards && slots);
        EXPECT_TRUE(slots->covered());
        EXPECT_EQ(slots->shards().size(), 3u);
        for (std::uint16_t s = 0; s < cluster_slots; ++s) {
            ASSERT_EQ(slots->node_for_slot(s)->id, shards->node_for_slot(s)->id) << s;
            ASSERT_EQ(slots->node_for_slot(s)->port, shards->node_for_slot(s)->port) << s;
        }
    }
}

// The map's routing against the cluster's own answers: CLUSTER KEYSLOT names the slot, the node
// the map picks accepts the write, and CLUSTER COUNTKEYSINSLOT finds the key there only.
TEST_F(ClusterSupport, MapAgreesWithKeyslotAndCountKeysInSlot) {
    auto& c = cluster();
    auto m = ask_topology(c, 2, topology_source::cluster_shards);
    ASSERT_TRUE(m);
    const std::vector<std::string> keys = {
        "foo", "bar", "sluice:{ip:10.0.0.1}:log", "user:42", "{user1000}.following", "zz"};
    for (const auto& key : keys) {
        const std::uint16_t slot = key_slot(key);
        EXPECT_EQ(c.cli(0, {"CLUSTER", "KEYSLOT", key}), std::to_string(slot)) << key;
        const cluster_node* owner = m->node_for_key(key);
        ASSERT_NE(owner, nullptr);
        const std::size_t node = c.node_by_id(owner->id);
        ASSERT_EQ(c.port(node), owner->port);
        EXPECT_EQ(c.call(node, {"SET", key, "v"}).text, "OK") << key;
        for (std::size_t p : c.primaries()) {
            EXPECT_EQ(c.call(p, {"CLUSTER", "COUNTKEYSINSLOT", std::to_string(slot)}).integer(),
                      p == node ? 1 : 0)
                << key << " on node " << p;
        }
        c.call(node, {"DEL", key});
    }
}

TEST_F(ClusterSupport, MovedFromTheLiveClusterParses) {
    auto& c = cluster();
    const std::string key = "moved-key";
    const std::size_t owner = c.primary_for_key(key);
    for (std::size_t p : c.primaries()) {
        if (p == owner) continue;
        const test::reply r = c.call(p, {"GET", key});
        ASSERT_TRUE(r.is_error()) << r.text;
        const redirect rd = parse_redirect(r.text);
        EXPECT_EQ(rd.kind, redirect_kind::moved) << r.text;
        EXPECT_EQ(rd.slot, key_slot(key));
        EXPECT_EQ(rd.host, "127.0.0.1");
        EXPECT_EQ(rd.port, c.port(owner));
    }
    // A replica redirects too (without READONLY).
    const test::reply from_replica = c.call(c.replicas_of(owner).at(0), {"GET", key});
    EXPECT_EQ(parse_redirect(from_replica.text).port, c.port(owner)) << from_replica.text;
}

TEST_F(ClusterSupport, AskMidMigrationThenMovedAfterIt) {
    auto& c = cluster();
    const std::string kept = "{mig}kept";
    const std::string missing = "{mig}missing";
    const std::uint16_t slot = key_slot(kept);
    const std::size_t from = c.primary_for_slot(slot);
    std::size_t to = from;
    for (std::size_t p : c.primaries())
        if (p != from) to = p;
    ASSERT_EQ(c.call(from, {"SET", kept, "1"}).text, "OK");

    c.begin_migration(slot, from, to);
    // A key still on the source is served there; one it does not have is asked of the target.
    EXPECT_EQ(c.call(from, {"GET", kept}).text, "1");
    const test::reply r = c.call(from, {"GET", missing});
    ASSERT_TRUE(r.is_error());
    const redirect ask = parse_redirect(r.text);
    EXPECT_EQ(ask, (redirect{redirect_kind::ask, slot, "127.0.0.1", c.port(to)})) << r.text;
    // The target answers for the slot only after ASKING, and otherwise sends the client back.
    const test::reply back = c.call(to, {"GET", missing});
    EXPECT_EQ(parse_redirect(back.text).kind, redirect_kind::moved) << back.text;
    test::redis_sync target(c.port(to));
    const auto asked = target.pipeline({{"ASKING"}, {"GET", missing}});
    EXPECT_EQ(asked[1].t, type::null);
    // A map taken mid-migration still has the source as the owner: ASK is never stored.
    auto mid = ask_topology(c, to, topology_source::cluster_shards);
    ASSERT_TRUE(mid);
    EXPECT_EQ(mid->node_for_slot(slot)->id, c.node_id(from));

    c.finish_migration(slot, from, to);
    EXPECT_EQ(c.primary_for_slot(slot), to);
    EXPECT_EQ(c.call(to, {"GET", kept}).text, "1");
    const test::reply moved_reply = c.call(from, {"GET", kept});  // the redirect points into it
    const redirect moved = parse_redirect(moved_reply.text);
    EXPECT_EQ(moved, (redirect{redirect_kind::moved, slot, "127.0.0.1", c.port(to)}));
    for (std::size_t node = 0; node < c.size(); ++node) {
        auto after = ask_topology(c, node, topology_source::cluster_shards);
        ASSERT_TRUE(after);
        EXPECT_EQ(after->node_for_slot(slot)->id, c.node_id(to)) << "node " << node;
        EXPECT_TRUE(after->covered());
    }
    // Back where it was, with its key, by the one-call form.
    c.migrate_slot(slot, to, from);
    EXPECT_EQ(c.primary_for_slot(slot), from);
    EXPECT_EQ(c.call(from, {"GET", kept}).text, "1");
    c.call(from, {"DEL", kept});
}

TEST_F(ClusterSupport, BuilderIsTheReplyAdapterOfConnectionExec) {
    auto& c = cluster();
    asio::io_context ctx;
    connection_config cfg;
    cfg.port = c.port(0);
    connection conn{ctx.get_executor(), cfg};
    std::shared_ptr<const slot_map> m;
    test_harness::run(ctx, conn, [&]() -> asio::awaitable<void> {
        co_await test_harness::wait_connected(conn);
        request req;
        req.push("CLUSTER", "SHARDS");
        topology_builder b{topology_source::cluster_shards};
        const std::error_code ec = co_await conn.exec(req, b, 2s);
        EXPECT_FALSE(ec) << ec.message();
        m = b.finish();
        EXPECT_TRUE(m) << b.error().message() << ": " << b.detail();
    });
    ASSERT_TRUE(m);
    EXPECT_TRUE(m->covered());
    EXPECT_EQ(m->node_for_key("foo")->id, c.node_id(c.primary_for_key("foo")));
}

TEST(ClusterSupportFailover, KilledPrimaryIsReplacedByItsReplica) {
    redis_cluster c({.primaries = 3, .replicas = 1, .node_timeout = 1000ms});
    const std::uint16_t slot = key_slot("failover");
    const std::size_t old_primary = c.primary_for_slot(slot);
    const std::size_t replica = c.replicas_of(old_primary).at(0);
    c.kill(old_primary);
    EXPECT_FALSE(c.alive(old_primary));
    const std::size_t new_primary = c.wait_for_failover(slot);
    EXPECT_EQ(new_primary, replica);

    auto m = ask_topology(c, new_primary, topology_source::cluster_shards, 3);
    ASSERT_TRUE(m);
    EXPECT_TRUE(m->covered());
    EXPECT_EQ(m->node_for_slot(slot)->id, c.node_id(replica));
    // The dead primary is still listed, failed, serving nothing.
    bool seen = false;
    for (const auto& n : m->nodes()) {
        if (n.id != c.node_id(old_primary)) continue;
        seen = true;
        EXPECT_EQ(n.health, node_health::failed);
    }
    EXPECT_TRUE(seen);
    auto slots = ask_topology(c, new_primary, topology_source::cluster_slots);
    ASSERT_TRUE(slots);
    EXPECT_EQ(slots->node_for_slot(slot)->id, c.node_id(replica));
}

TEST(ClusterSupportErrors, TopologyOfAStandaloneServerIsAnErrorReply) {
    test::redis_server srv;
    test::redis_sync conn(srv.port());
    for (auto source : {topology_source::cluster_shards, topology_source::cluster_slots}) {
        topology_builder b{source};
        conn.call({"CLUSTER", source == topology_source::cluster_shards ? "SHARDS" : "SLOTS"}, b);
        EXPECT_EQ(b.finish(), nullptr);
        EXPECT_EQ(b.error(), errc::topology_error_reply);
        EXPECT_NE(b.detail().find("cluster support disabled"), std::string::npos) << b.detail();
    }
}

}  // namespace
}  // namespace sluice::resp
