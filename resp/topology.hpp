#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "resp/cluster_slot.hpp"
#include "resp/node.hpp"
#include "resp/parser.hpp"

namespace sluice::resp {

enum class node_role : std::uint8_t { primary, replica };
// As CLUSTER SHARDS reports it; CLUSTER SLOTS says nothing (and leaves out failed replicas).
enum class node_health : std::uint8_t { unknown, online, failed, loading };

std::string_view to_string(node_health h) noexcept;
std::ostream& operator<<(std::ostream& os, node_health h);

struct cluster_node {
    std::string id;  // the 40-character node id; empty when the reply did not give one
    // Where to connect: the node's preferred endpoint (its IP, or its hostname when the cluster
    // announces hostnames). Empty when the node does not know it: connect to the host of the
    // node that answered, on this port, as Redis asks clients to do.
    std::string host;
    std::uint16_t port = 0;      // plain-text port
    std::uint16_t tls_port = 0;  // 0: none reported
    node_role role = node_role::primary;
    node_health health = node_health::unknown;

    friend bool operator==(const cluster_node&, const cluster_node&) = default;
};

std::ostream& operator<<(std::ostream& os, const cluster_node& n);

struct cluster_shard {
    std::uint16_t primary = 0;            // index into slot_map::nodes()
    std::vector<std::uint16_t> replicas;  // indexes into slot_map::nodes()
    std::size_t slots = 0;                // how many slots it serves

    friend bool operator==(const cluster_shard&, const cluster_shard&) = default;
};

// Which node serves each of the 16384 slots, as one node of the cluster saw it at one moment.
// Immutable once built: a refresh builds a new map and the owner swaps a shared_ptr to it, so a
// lookup never sees half of an old topology and half of a new one.
class slot_map {
  public:
    // The node index of a slot no shard serves.
    static constexpr std::uint16_t uncovered = 0xffff;

    // The index into nodes() of the primary serving `slot`, or `uncovered` (also for a slot out
    // of range).
    std::uint16_t primary_index(std::uint16_t slot) const noexcept {
        return slot < cluster_slots ? primary_[slot] : uncovered;
    }
    // The primary serving `slot` / the slot of `key`; nullptr when the slot is uncovered.
    const cluster_node* node_for_slot(std::uint16_t slot) const noexcept;
    const cluster_node* node_for_key(std::string_view key) const noexcept {
        return node_for_slot(key_slot(key));
    }
    // The shard (primary and replicas) serving `slot`; nullptr when uncovered.
    const cluster_shard* shard_for_slot(std::uint16_t slot) const noexcept;

    const std::vector<cluster_node>& nodes() const noexcept { return nodes_; }
    // Every shard with a primary, including primaries that serve no slot yet.
    const std::vector<cluster_shard>& shards() const noexcept { return shards_; }

    // A map with holes is valid (the cluster is being set up, or lost a shard with no replica):
    // keys of the other slots still route, and readiness checks report the holes.
    bool covered() const noexcept { return uncovered_count_ == 0; }
    std::size_t uncovered_count() const noexcept { return uncovered_count_; }

    friend bool operator==(const slot_map&, const slot_map&) = default;

  private:
    friend class topology_builder;
    slot_map() noexcept { primary_.fill(uncovered); }

    std::array<std::uint16_t, cluster_slots> primary_;
    std::vector<std::uint16_t> shard_of_node_;  // per node: its index in shards_
    std::vector<cluster_node> nodes_;
    std::vector<cluster_shard> shards_;
    std::size_t uncovered_count_ = cluster_slots;
};

enum class topology_source : std::uint8_t {
    cluster_shards,  // Redis 7+: one entry per shard, with node health
    cluster_slots,   // older servers: one entry per slot range, primary first
};

// Builds a slot_map from the reply to CLUSTER SHARDS or CLUSTER SLOTS, in RESP2 (maps as flat
// key/value arrays) or RESP3 (real maps). It is an adapter, fed the parser's nodes in pre-order,
// so it can be handed straight to connection::exec; node values are copied as they pass, so the
// read buffer need not outlive a node.
//
// A reply that cannot be trusted is refused whole with an errc::topology_* code: no partial map
// reaches the router. Holes in the slot coverage are not an error (see slot_map::covered()).
// Single use: one builder per reply.
class topology_builder {
  public:
    explicit topology_builder(topology_source source) noexcept : source_{source} {}

    void operator()(const node& n);

    // After the reply's last node: the new map, or nullptr with error() saying why.
    std::shared_ptr<const slot_map> finish();

    std::error_code error() const noexcept { return ec_; }
    // For logs: the server's error text (topology_error_reply), or which element was wrong.
    const std::string& detail() const noexcept { return detail_; }

  private:
    struct raw_node {
        cluster_node node;
        bool primary_role_seen = false;  // CLUSTER SHARDS: "role" said master/primary
    };
    // A CLUSTER SHARDS shard or a CLUSTER SLOTS range entry as it came in.
    struct raw_shard {
        std::vector<std::uint16_t> slots;  // start, end, start, end, ...
        std::vector<raw_node> nodes;
    };
    enum class field : std::uint8_t {
        other,
        slots,
        nodes,
        id,
        port,
        tls_port,
        ip,
        endpoint,
        role,
        health
    };

    void fail(std::error_code ec, std::string detail);
    bool skip_attribute(const node& n) noexcept;
    bool track(const node& n);
    void on_root(const node& n);
    void on_shards_node(const node& n);
    void on_slots_node(const node& n);
    void set_node_field(raw_node& rn, field f, const node& n);
    bool complete() const noexcept;
    std::shared_ptr<const slot_map> build_from_shards();
    std::shared_ptr<const slot_map> build_from_slots();
    bool assign(slot_map& map, const std::vector<std::uint16_t>& pairs, std::uint16_t primary,
                std::size_t shard_index);

    topology_source source_;
    std::error_code ec_;
    std::string detail_;
    std::vector<raw_shard> shards_;

    // Where the stream is: element counts still due per open aggregate (to know the reply is
    // whole), and the position among the children of the current shard / range and node.
    std::array<std::uint64_t, parser::max_frames> remaining_{};
    std::size_t open_ = 0;  // aggregates open on the current path
    bool root_seen_ = false;
    bool in_attribute_ = false;
    std::size_t attribute_depth_ = 0;
    std::size_t shard_child_ = 0;
    std::size_t node_child_ = 0;
    field shard_key_ = field::other;
    field section_ = field::other;  // the shard value being read: slots, nodes or other
    field node_key_ = field::other;
};

}  // namespace sluice::resp
