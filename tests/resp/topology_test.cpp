#include "resp/topology.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "resp/adapter.hpp"
#include "resp/error.hpp"
#include "resp/parser.hpp"
#include "tests/resp/resp_text.hpp"

namespace sluice::resp {
namespace {

using namespace std::string_literals;

using namespace resp_text;

// A map in RESP3, or the flat key/value array RESP2 sends for it.
std::string kv(bool resp3, std::size_t pairs) {
    return resp3 ? map(pairs) : arr(2 * pairs);
}

struct fake_node {
    std::string id;
    std::string ip = "127.0.0.1";
    std::string endpoint = "127.0.0.1";
    int port = 0;
    std::string role = "master";
    std::string health = "online";
};

struct fake_shard {
    std::vector<int> slots;  // start, end, ...
    std::vector<fake_node> nodes;
};

// CLUSTER SHARDS as Redis 7 writes it (addShardReplyForClusterShards), every field in order.
std::string shards_reply(const std::vector<fake_shard>& shards, bool resp3,
                         bool slots_as_bulk = false) {
    std::string out = arr(shards.size());
    for (const auto& s : shards) {
        out += kv(resp3, 2) + bulk("slots") + arr(s.slots.size());
        for (int slot : s.slots)
            out += slots_as_bulk ? bulk(std::to_string(slot)) : num(slot);
        out += bulk("nodes") + arr(s.nodes.size());
        for (const auto& n : s.nodes) {
            out += kv(resp3, 7) + bulk("id") + bulk(n.id) + bulk("port") + num(n.port) +
                   bulk("ip") + bulk(n.ip) + bulk("endpoint") + bulk(n.endpoint) + bulk("role") +
                   bulk(n.role) + bulk("replication-offset") + num(1234) + bulk("health") +
                   bulk(n.health);
        }
    }
    return out;
}

const std::string id_a = std::string(40, 'a');
const std::string id_b = std::string(40, 'b');
const std::string id_c = std::string(40, 'c');
const std::string id_d = std::string(40, 'd');
const std::string id_e = std::string(40, 'e');
const std::string id_f = std::string(40, 'f');

// Three primaries with one replica each, slots split as redis-cli --cluster create does.
std::vector<fake_shard> three_shards() {
    return {
        {{0, 5460},
         {{id_a, "127.0.0.1", "127.0.0.1", 7000},
          {id_d, "127.0.0.1", "127.0.0.1", 7003, "replica"}}},
        {{5461, 10922},
         {{id_b, "127.0.0.1", "127.0.0.1", 7001},
          {id_e, "127.0.0.1", "127.0.0.1", 7004, "replica"}}},
        {{10923, 16383},
         {{id_c, "127.0.0.1", "127.0.0.1", 7002},
          {id_f, "127.0.0.1", "127.0.0.1", 7005, "replica"}}},
    };
}

struct built {
    std::shared_ptr<const slot_map> map;
    std::error_code ec;
    std::string detail;
};

// Feeds `wire` through the project's parser into a builder, as connection::exec would.
built build(topology_source source, std::string_view wire) {
    topology_builder b{source};
    parser p;
    const auto res = p.parse(wire, b);
    EXPECT_NE(res.st, parser::status::error) << res.ec.message();
    auto map = b.finish();
    EXPECT_EQ(map == nullptr, static_cast<bool>(b.error()));
    return {map, b.error(), b.detail()};
}

std::shared_ptr<const slot_map> build_ok(topology_source source, std::string_view wire) {
    auto r = build(source, wire);
    EXPECT_FALSE(r.ec) << r.ec.message() << ": " << r.detail;
    return r.map;
}

std::error_code build_error(topology_source source, std::string_view wire) {
    auto r = build(source, wire);
    EXPECT_TRUE(r.ec) << "accepted: " << testing::PrintToString(wire);
    if (r.ec) {
        EXPECT_FALSE(r.detail.empty());
    }
    return r.ec;
}

constexpr auto shards = topology_source::cluster_shards;
constexpr auto slots = topology_source::cluster_slots;

// CLUSTER SLOTS reports no health: `health` is what the source can tell.
void expect_three_shards(const slot_map& m, node_health health = node_health::online) {
    EXPECT_TRUE(m.covered());
    EXPECT_EQ(m.uncovered_count(), 0u);
    ASSERT_EQ(m.shards().size(), 3u);
    ASSERT_EQ(m.nodes().size(), 6u);
    EXPECT_EQ(m.node_for_slot(0)->port, 7000);
    EXPECT_EQ(m.node_for_slot(5460)->port, 7000);
    EXPECT_EQ(m.node_for_slot(5461)->port, 7001);
    EXPECT_EQ(m.node_for_slot(10922)->port, 7001);
    EXPECT_EQ(m.node_for_slot(10923)->port, 7002);
    EXPECT_EQ(m.node_for_slot(16383)->port, 7002);
    EXPECT_EQ(m.node_for_slot(16384), nullptr);
    EXPECT_EQ(m.primary_index(16384), slot_map::uncovered);
    const cluster_node& a = *m.node_for_slot(100);
    EXPECT_EQ(a.id, id_a);
    EXPECT_EQ(a.host, "127.0.0.1");
    EXPECT_EQ(a.role, node_role::primary);
    EXPECT_EQ(a.health, health);
    // "foo" is in slot 12182, "bar" in 5061 (CLUSTER KEYSLOT; see cluster_slot_test.cpp).
    EXPECT_EQ(m.node_for_key("foo")->port, 7002);
    EXPECT_EQ(m.node_for_key("bar")->port, 7000);
    EXPECT_EQ(m.node_for_key("x{bar}y")->port, 7000);
    const cluster_shard* s = m.shard_for_slot(6000);
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(s->slots, 5462u);
    EXPECT_EQ(m.nodes()[s->primary].port, 7001);
    ASSERT_EQ(s->replicas.size(), 1u);
    EXPECT_EQ(m.nodes()[s->replicas[0]].port, 7004);
    EXPECT_EQ(m.nodes()[s->replicas[0]].role, node_role::replica);
}

// --- CLUSTER SHARDS ---------------------------------------------------------------------------

TEST(Topology, ShardsResp2) {
    auto m = build_ok(shards, shards_reply(three_shards(), false));
    ASSERT_TRUE(m);
    expect_three_shards(*m);
}

TEST(Topology, ShardsResp3) {
    auto m = build_ok(shards, shards_reply(three_shards(), true));
    ASSERT_TRUE(m);
    expect_three_shards(*m);
    EXPECT_EQ(*m, *build_ok(shards, shards_reply(three_shards(), false)));
}

TEST(Topology, ShardsWithSlotsAsBulkStrings) {
    // Redis 7.2 writes the slot numbers with addReplyBulkLongLong.
    auto m = build_ok(shards, shards_reply(three_shards(), true, /*slots_as_bulk=*/true));
    ASSERT_TRUE(m);
    expect_three_shards(*m);
}

TEST(Topology, UsableAsAnAdapter) {
    topology_builder b{shards};
    const adapter a{b};
    parser p;
    const std::string wire = shards_reply(three_shards(), false);
    ASSERT_EQ(p.parse(wire, a).st, parser::status::done);
    auto m = b.finish();
    ASSERT_TRUE(m);
    expect_three_shards(*m);
}

TEST(Topology, ValuesAreCopiedOutOfTheReadBuffer) {
    std::string wire = shards_reply(three_shards(), false);
    topology_builder b{shards};
    parser p;
    ASSERT_EQ(p.parse(wire, b).st, parser::status::done);
    wire.assign(wire.size(), 'x');
    auto m = b.finish();
    ASSERT_TRUE(m);
    EXPECT_EQ(m->node_for_slot(0)->id, id_a);
}

TEST(Topology, SeveralRangesPerShard) {
    auto m =
        build_ok(shards, shards_reply({{{0, 99, 200, 16383}, {{id_a, "10.0.0.1", "10.0.0.1", 1}}},
                                       {{100, 199}, {{id_b, "10.0.0.2", "10.0.0.2", 2}}}},
                                      true));
    ASSERT_TRUE(m);
    EXPECT_TRUE(m->covered());
    EXPECT_EQ(m->node_for_slot(99)->host, "10.0.0.1");
    EXPECT_EQ(m->node_for_slot(100)->host, "10.0.0.2");
    EXPECT_EQ(m->node_for_slot(199)->host, "10.0.0.2");
    EXPECT_EQ(m->node_for_slot(200)->host, "10.0.0.1");
    EXPECT_EQ(m->shards()[0].slots, 16384u - 100u);
}

TEST(Topology, UncoveredSlotsAreReported) {
    auto m = build_ok(shards, shards_reply({{{0, 5460}, {{id_a, "h", "h", 1}}},
                                            {{10923, 16383}, {{id_c, "h", "h", 3}}}},
                                           false));
    ASSERT_TRUE(m);
    EXPECT_FALSE(m->covered());
    EXPECT_EQ(m->uncovered_count(), 10922u - 5461u + 1u);
    EXPECT_EQ(m->node_for_slot(5461), nullptr);
    EXPECT_EQ(m->shard_for_slot(10922), nullptr);
    EXPECT_EQ(m->primary_index(7000), slot_map::uncovered);
    EXPECT_EQ(m->node_for_slot(10923)->port, 3);
}

TEST(Topology, NoSlotAssignedYetIsValidAndUncovered) {
    auto m = build_ok(shards, shards_reply({{{}, {{id_a, "h", "h", 1}}}}, true));
    ASSERT_TRUE(m);
    EXPECT_EQ(m->uncovered_count(), 16384u);
    EXPECT_EQ(m->shards().size(), 1u);
    EXPECT_EQ(m->node_for_key("foo"), nullptr);
}

TEST(Topology, EndpointIsPreferredThenIp) {
    auto m = build_ok(shards, shards_reply({{{0, 1}, {{id_a, "10.0.0.1", "redis-a.internal", 1}}},
                                            {{2, 3}, {{id_b, "10.0.0.2", "?", 2}}},
                                            {{4, 5}, {{id_c, "10.0.0.3", "", 3}}},
                                            {{6, 7}, {{id_d, "", "", 4}}}},
                                           false));
    ASSERT_TRUE(m);
    EXPECT_EQ(m->node_for_slot(0)->host, "redis-a.internal");
    EXPECT_EQ(m->node_for_slot(2)->host, "10.0.0.2");  // "?": hostname preferred but unknown
    EXPECT_EQ(m->node_for_slot(4)->host, "10.0.0.3");
    EXPECT_EQ(m->node_for_slot(6)->host, "");  // the host of the node asked
}

TEST(Topology, FailedPrimaryBesideItsSuccessorLosesToIt) {
    // Redis 7.2 groups by shard id: after a failover the old primary, still "master" and "fail",
    // is listed first, beside the replica that took over.
    auto m = build_ok(shards, shards_reply({{{0, 16383},
                                             {{id_a, "h", "h", 1, "master", "fail"},
                                              {id_b, "h", "h", 2, "master", "online"},
                                              {id_c, "h", "h", 3, "replica", "loading"}}}},
                                           true));
    ASSERT_TRUE(m);
    EXPECT_EQ(m->node_for_slot(0)->id, id_b);
    ASSERT_EQ(m->shards().size(), 1u);
    ASSERT_EQ(m->shards()[0].replicas.size(), 1u);
    EXPECT_EQ(m->nodes()[m->shards()[0].replicas[0]].health, node_health::loading);
}

TEST(Topology, FailedPrimaryAloneStillOwnsItsSlots) {
    // Until a replica takes over, the slots stay with it: the router gets errors, not a hole.
    auto m = build_ok(shards,
                      shards_reply({{{0, 16383}, {{id_a, "h", "h", 1, "master", "fail"}}}}, false));
    ASSERT_TRUE(m);
    EXPECT_EQ(m->node_for_slot(0)->health, node_health::failed);
}

TEST(Topology, SlotlessShardWithoutPrimaryIsPassedOver) {
    // Replicas whose primary left, serving nothing (seen with Redis 7.0's shard ids).
    auto m = build_ok(shards, shards_reply({{{0, 16383}, {{id_a, "h", "h", 1}}},
                                            {{}, {{id_b, "h", "h", 2, "replica"}}}},
                                           true));
    ASSERT_TRUE(m);
    EXPECT_EQ(m->shards().size(), 1u);
    EXPECT_EQ(m->nodes().size(), 1u);
}

TEST(Topology, UnknownFieldsAndAttributesArePassedOver) {
    // A newer server may add fields with any value, and RESP3 attributes may annotate anything.
    const std::string attribute = "|1\r\n+ttl\r\n" + arr(2) + num(1) + map(1) + bulk("x") + nil;
    const std::string wire = attribute + arr(1) + map(3) + bulk("future") + map(1) + bulk("k") +
                             arr(2) + arr(1) + num(1) + nil + bulk("slots") + arr(2) + num(0) +
                             attribute + num(16383) + bulk("nodes") + arr(1) + map(5) +
                             bulk("role") + bulk("master") + bulk("id") + bulk(id_a) +
                             bulk("shard-extra") + arr(3) + num(1) + num(2) + map(0) +
                             bulk("port") + num(6379) + bulk("endpoint") + bulk("10.9.8.7");
    auto m = build_ok(shards, wire);
    ASSERT_TRUE(m);
    EXPECT_TRUE(m->covered());
    EXPECT_EQ(m->node_for_slot(123)->host, "10.9.8.7");
    EXPECT_EQ(m->node_for_slot(123)->health, node_health::unknown);
}

TEST(Topology, TlsPortIsKept) {
    const std::string wire = arr(1) + map(2) + bulk("slots") + arr(2) + num(0) + num(16383) +
                             bulk("nodes") + arr(1) + map(4) + bulk("port") + num(6379) +
                             bulk("tls-port") + num(6380) + bulk("ip") + bulk("h") + bulk("role") +
                             bulk("master");
    auto m = build_ok(shards, wire);
    ASSERT_TRUE(m);
    EXPECT_EQ(m->node_for_slot(0)->tls_port, 6380);
    EXPECT_EQ(m->node_for_slot(0)->port, 6379);
}

// --- CLUSTER SLOTS ----------------------------------------------------------------------------

// One CLUSTER SLOTS node as Redis 7 writes it (addNodeToNodeReply): host, port, id, metadata.
std::string slots_node(bool resp3, std::string host, int port, const std::string& id,
                       bool with_hostname = false) {
    std::string out = arr(4) + (host == "\0"s ? nil : bulk(host)) + num(port) + bulk(id);
    if (with_hostname) return out + kv(resp3, 1) + bulk("hostname") + bulk("redis.internal");
    return out + kv(resp3, 0);
}

std::string three_ranges(bool resp3) {
    return arr(3) + arr(4) + num(0) + num(5460) + slots_node(resp3, "127.0.0.1", 7000, id_a) +
           slots_node(resp3, "127.0.0.1", 7003, id_d) + arr(4) + num(5461) + num(10922) +
           slots_node(resp3, "127.0.0.1", 7001, id_b, true) +
           slots_node(resp3, "127.0.0.1", 7004, id_e) + arr(4) + num(10923) + num(16383) +
           slots_node(resp3, "127.0.0.1", 7002, id_c) + slots_node(resp3, "127.0.0.1", 7005, id_f);
}

TEST(Topology, SlotsResp2) {
    auto m = build_ok(slots, three_ranges(false));
    ASSERT_TRUE(m);
    expect_three_shards(*m, node_health::unknown);
}

TEST(Topology, SlotsResp3) {
    auto m = build_ok(slots, three_ranges(true));
    ASSERT_TRUE(m);
    expect_three_shards(*m, node_health::unknown);
}

TEST(Topology, SlotsAndShardsRouteAlike) {
    auto a = build_ok(slots, three_ranges(true));
    auto b = build_ok(shards, shards_reply(three_shards(), true));
    ASSERT_TRUE(a && b);
    for (std::uint16_t s = 0; s < cluster_slots; ++s) {
        ASSERT_EQ(a->node_for_slot(s)->id, b->node_for_slot(s)->id) << s;
        ASSERT_EQ(a->node_for_slot(s)->port, b->node_for_slot(s)->port) << s;
    }
}

TEST(Topology, SlotsRangesOfOneShardShareItsNodes) {
    const std::string wire = arr(3) + arr(4) + num(0) + num(10) + slots_node(false, "h", 1, id_a) +
                             slots_node(false, "h", 2, id_b) + arr(3) + num(11) + num(20) +
                             slots_node(false, "h", 3, id_c) + arr(4) + num(21) + num(16383) +
                             slots_node(false, "h", 1, id_a) + slots_node(false, "h", 2, id_b);
    auto m = build_ok(slots, wire);
    ASSERT_TRUE(m);
    EXPECT_EQ(m->nodes().size(), 3u);
    ASSERT_EQ(m->shards().size(), 2u);
    EXPECT_EQ(m->shards()[0].slots, 11u + (16383u - 21u + 1u));
    EXPECT_EQ(m->shards()[0].replicas.size(), 1u);
    EXPECT_EQ(m->node_for_slot(15)->port, 3);
    EXPECT_EQ(m->node_for_slot(30)->port, 1);
}

TEST(Topology, SlotsNodesWithoutIdAreKnownByAddress) {
    // Redis before 4.0 sent host and port only.
    const std::string wire = arr(2) + arr(3) + num(0) + num(10) + arr(2) + bulk("h") + num(1) +
                             arr(3) + num(11) + num(16383) + arr(2) + bulk("h") + num(1);
    auto m = build_ok(slots, wire);
    ASSERT_TRUE(m);
    EXPECT_EQ(m->nodes().size(), 1u);
    EXPECT_TRUE(m->covered());
}

TEST(Topology, SlotsUnknownEndpoint) {
    // cluster-preferred-endpoint-type unknown-endpoint: a null host; "?" for an unknown hostname.
    const std::string wire = arr(2) + arr(3) + num(0) + num(10) +
                             slots_node(true, "\0"s, 7000, id_a) + arr(3) + num(11) + num(16383) +
                             slots_node(true, "?", 7001, id_b);
    auto m = build_ok(slots, wire);
    ASSERT_TRUE(m);
    EXPECT_EQ(m->node_for_slot(0)->host, "");
    EXPECT_EQ(m->node_for_slot(0)->port, 7000);
    EXPECT_EQ(m->node_for_slot(11)->host, "");
}

// --- Hostile answers --------------------------------------------------------------------------

TEST(Topology, ErrorReply) {
    for (auto source : {shards, slots}) {
        auto r = build(source, "-ERR This instance has cluster support disabled\r\n");
        EXPECT_EQ(r.ec, errc::topology_error_reply);
        EXPECT_EQ(r.detail, "ERR This instance has cluster support disabled");
        EXPECT_EQ(build_error(source, "!5\r\nERR x\r\n"), errc::topology_error_reply);
    }
}

TEST(Topology, NotAnArray) {
    for (auto source : {shards, slots}) {
        for (const std::string& wire :
             {num(3), bulk("shards"), nil, "*-1\r\n"s, map(0), "#t\r\n"s}) {
            EXPECT_EQ(build_error(source, wire), errc::topology_not_array) << wire;
        }
    }
}

TEST(Topology, EmptyReply) {
    EXPECT_EQ(build_error(shards, arr(0)), errc::topology_empty);
    EXPECT_EQ(build_error(slots, arr(0)), errc::topology_empty);
}

TEST(Topology, NothingDeliveredIsIncomplete) {
    topology_builder b{shards};
    EXPECT_EQ(b.finish(), nullptr);
    EXPECT_EQ(b.error(), errc::topology_incomplete);
}

TEST(Topology, WrongNesting) {
    const std::string cases[] = {
        arr(1) + num(1),                                           // shard is a number
        arr(1) + arr(3) + bulk("slots") + arr(0) + bulk("nodes"),  // odd key/value array
        arr(1) + map(1) + num(1) + arr(0),                         // key is not a string
        arr(1) + map(1) + bulk("slots") + num(5),                  // slots is not an array
        arr(1) + map(1) + bulk("nodes") + bulk("n"),               // nodes is not an array
        arr(1) + map(1) + bulk("nodes") + arr(1) + bulk("n"),      // a node is a string
        arr(1) + map(1) + bulk("nodes") + arr(1) + map(1) + arr(0) + bulk("v"),   // node key
        arr(1) + map(1) + bulk("nodes") + arr(1) + map(1) + bulk("id") + arr(0),  // id not text
        three_ranges(false),  // CLUSTER SLOTS given as SHARDS
    };
    for (const auto& wire : cases) {
        EXPECT_EQ(build_error(shards, wire), errc::topology_bad_shape) << wire;
    }
    const std::string slot_cases[] = {
        arr(1) + num(1),                                               // range is a number
        arr(1) + map(2) + num(0) + num(1) + num(2) + num(3),           // range is a map
        arr(1) + arr(3) + num(0) + num(1) + bulk("h"),                 // node is a string
        arr(1) + arr(3) + num(0) + num(1) + arr(2) + arr(0) + num(1),  // host is an array
        shards_reply(three_shards(), false),  // CLUSTER SHARDS given as SLOTS
    };
    for (const auto& wire : slot_cases) {
        EXPECT_TRUE(build_error(slots, wire)) << wire;
    }
    EXPECT_EQ(build_error(slots, slot_cases[0]), errc::topology_bad_shape);
    EXPECT_EQ(build_error(slots, slot_cases[2]), errc::topology_bad_shape);
}

TEST(Topology, SlotsOutOfRange) {
    for (const std::string& bad : {num(16384), num(-1), num(65536), num(99999999999), bulk("abc"),
                                   bulk("12x"), bulk(""), bulk("+5"), bulk(" 5"), nil, arr(0)}) {
        auto s = shards_reply({{{0, 1}, {{id_a, "h", "h", 1}}}}, false);
        // Replace the range's end (":1\r\n" after ":0\r\n") with the bad value.
        const auto at = s.find(":0\r\n:1\r\n");
        ASSERT_NE(at, std::string::npos);
        s.replace(at + 4, 4, bad);
        EXPECT_EQ(build_error(shards, s), errc::topology_bad_slot) << bad;
        const std::string range = arr(1) + arr(3) + num(0) + bad + slots_node(false, "h", 1, id_a);
        EXPECT_EQ(build_error(slots, range), errc::topology_bad_slot) << bad;
    }
}

TEST(Topology, StartAfterEnd) {
    EXPECT_EQ(build_error(shards, shards_reply({{{10, 9}, {{id_a, "h", "h", 1}}}}, true)),
              errc::topology_bad_slot);
    EXPECT_EQ(
        build_error(slots, arr(1) + arr(3) + num(10) + num(9) + slots_node(true, "h", 1, id_a)),
        errc::topology_bad_slot);
}

TEST(Topology, OddSlotList) {
    EXPECT_EQ(build_error(shards, shards_reply({{{0, 10, 20}, {{id_a, "h", "h", 1}}}}, true)),
              errc::topology_bad_slot);
    // A range with a start but no end: no node can stand in the end's place.
    EXPECT_EQ(build_error(slots, arr(1) + arr(1) + num(0)), errc::topology_bad_slot);
}

TEST(Topology, SlotClaimedTwice) {
    EXPECT_EQ(build_error(shards, shards_reply({{{0, 100}, {{id_a, "h", "h", 1}}},
                                                {{100, 200}, {{id_b, "h", "h", 2}}}},
                                               false)),
              errc::topology_slot_conflict);
    EXPECT_EQ(build_error(shards, shards_reply({{{0, 100, 50, 60}, {{id_a, "h", "h", 1}}}}, false)),
              errc::topology_slot_conflict);
    EXPECT_EQ(
        build_error(slots, arr(2) + arr(3) + num(0) + num(10) + slots_node(false, "h", 1, id_a) +
                               arr(3) + num(10) + num(20) + slots_node(false, "h", 2, id_b)),
        errc::topology_slot_conflict);
}

TEST(Topology, EndlessSlotListIsCutOff) {
    std::string wire = arr(1) + map(1) + bulk("slots") + arr(40000);
    for (int i = 0; i < 40000; ++i)
        wire += num(5);
    EXPECT_EQ(build_error(shards, wire), errc::topology_slot_conflict);
}

TEST(Topology, ShardWithoutPrimary) {
    EXPECT_EQ(
        build_error(shards, shards_reply({{{0, 16383}, {{id_a, "h", "h", 1, "replica"}}}}, true)),
        errc::topology_no_primary);
    EXPECT_EQ(build_error(shards, shards_reply({{{0, 16383}, {}}}, false)),
              errc::topology_no_primary);
    EXPECT_EQ(build_error(slots, arr(1) + arr(2) + num(0) + num(16383)), errc::topology_no_primary);
}

TEST(Topology, NodeIsPrimaryAndReplica) {
    EXPECT_EQ(
        build_error(slots, arr(2) + arr(4) + num(0) + num(10) + slots_node(false, "h", 1, id_a) +
                               slots_node(false, "h", 2, id_b) + arr(3) + num(11) + num(20) +
                               slots_node(false, "h", 2, id_b)),
        errc::topology_bad_shape);
}

TEST(Topology, BadPort) {
    for (const std::string& bad :
         {bulk("abc"), num(0), num(65536), num(-1), bulk(""), nil, arr(0), bulk("6379 ")}) {
        const std::string node =
            map(3) + bulk("id") + bulk(id_a) + bulk("port") + bad + bulk("role") + bulk("master");
        const std::string wire = arr(1) + map(2) + bulk("slots") + arr(2) + num(0) + num(1) +
                                 bulk("nodes") + arr(1) + node;
        EXPECT_EQ(build_error(shards, wire), errc::topology_bad_port) << bad;
        const std::string range =
            arr(1) + arr(3) + num(0) + num(1) + arr(3) + bulk("h") + bad + bulk(id_a);
        EXPECT_EQ(build_error(slots, range), errc::topology_bad_port) << bad;
    }
    // No port at all.
    EXPECT_EQ(
        build_error(shards, arr(1) + map(2) + bulk("slots") + arr(2) + num(0) + num(1) +
                                bulk("nodes") + arr(1) + map(1) + bulk("role") + bulk("master")),
        errc::topology_bad_port);
    EXPECT_EQ(build_error(slots, arr(1) + arr(3) + num(0) + num(1) + arr(1) + bulk("h")),
              errc::topology_bad_port);
}

TEST(Topology, EveryCutShortReplyIsRefused) {
    // A timeout or a lost connection hands the builder part of a reply: never a partial map.
    for (const auto& [source, wire] : {std::pair{shards, shards_reply(three_shards(), false)},
                                       std::pair{shards, shards_reply(three_shards(), true)},
                                       std::pair{slots, three_ranges(true)}}) {
        for (std::size_t n = 0; n < wire.size(); ++n) {
            topology_builder b{source};
            parser p;
            ASSERT_EQ(p.parse(std::string_view{wire}.substr(0, n), b).st,
                      parser::status::need_more);
            ASSERT_EQ(b.finish(), nullptr) << n;
            ASSERT_TRUE(b.error()) << n;
        }
    }
}

TEST(Topology, ASecondReplyIsRefused) {
    topology_builder b{shards};
    parser p;
    const std::string wire = shards_reply(three_shards(), false);
    ASSERT_EQ(p.parse(wire, b).st, parser::status::done);
    ASSERT_EQ(p.parse(wire, b).st, parser::status::done);
    EXPECT_EQ(b.finish(), nullptr);
    EXPECT_EQ(b.error(), errc::topology_bad_shape);
}

TEST(Topology, NodesOutOfOrderAreRefused) {
    // A hand-made stream that skips a level, not one the parser would produce.
    topology_builder b{shards};
    b(node{type::array, 1, 0, {}});
    b(node{type::integer, 1, 2, "1"});
    EXPECT_EQ(b.finish(), nullptr);
    EXPECT_EQ(b.error(), errc::topology_bad_shape);
}

TEST(Topology, MutatedRepliesNeverCrash) {
    // Random byte flips of valid replies: whatever the parser still accepts, the builder either
    // builds a map that answers for every slot or refuses it.
    std::mt19937 rng{12345};
    const std::string bases[] = {shards_reply(three_shards(), false),
                                 shards_reply(three_shards(), true), three_ranges(false)};
    for (int round = 0; round < 3000; ++round) {
        const auto source = round % 3 == 2 ? slots : shards;
        std::string wire = bases[round % 3];
        for (int k = 0; k < 1 + round % 4; ++k) {
            wire[rng() % wire.size()] = static_cast<char>(rng() % 256);
        }
        topology_builder b{source};
        parser p;
        if (p.parse(wire, b).st == parser::status::error) continue;
        auto m = b.finish();
        if (!m) {
            EXPECT_TRUE(b.error());
            continue;
        }
        std::size_t uncovered = 0;
        for (std::uint16_t s = 0; s < cluster_slots; ++s) {
            const auto i = m->primary_index(s);
            if (i == slot_map::uncovered) {
                ++uncovered;
                continue;
            }
            ASSERT_LT(i, m->nodes().size());
            ASSERT_NE(m->shard_for_slot(s), nullptr);
        }
        EXPECT_EQ(uncovered, m->uncovered_count());
    }
}

TEST(Topology, ErrorMessagesAreReadable) {
    for (auto e : {errc::topology_error_reply, errc::topology_not_array, errc::topology_bad_shape,
                   errc::topology_empty, errc::topology_bad_slot, errc::topology_slot_conflict,
                   errc::topology_no_primary, errc::topology_bad_port, errc::topology_incomplete}) {
        const std::string msg = std::error_code(e).message();
        EXPECT_EQ(msg.rfind("cluster topology: ", 0), 0u) << msg;
        EXPECT_FALSE(is_protocol_error(e));
    }
}

}  // namespace
}  // namespace sluice::resp
