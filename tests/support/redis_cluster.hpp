#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "tests/support/process.hpp"
#include "tests/support/redis_sync.hpp"

namespace sluice::test {

struct redis_cluster_options {
    std::size_t primaries = 3;  // redis-cli --cluster create needs at least 3
    std::size_t replicas = 1;   // per primary
    // How long a node may be unreachable before it counts as failed (and a replica takes over).
    std::chrono::milliseconds node_timeout{2000};
};

// A real Redis Cluster on free loopback ports, private to one test: plain redis-server processes
// with --cluster-enabled, each in its own directory, joined by `redis-cli --cluster create`, no
// persistence. The constructor returns once the cluster is stable (see wait_until_stable()); the
// destructor stops every node by PID.
//
// Nodes are named by their index, 0 .. size()-1, in the order of ports(); which of them became
// primaries is redis-cli's choice (today: the first `primaries`), so ask primary_for_slot().
class redis_cluster {
  public:
    explicit redis_cluster(redis_cluster_options options = {});
    ~redis_cluster();
    redis_cluster(const redis_cluster&) = delete;
    redis_cluster& operator=(const redis_cluster&) = delete;

    std::size_t size() const noexcept { return nodes_.size(); }
    std::vector<unsigned short> ports() const;
    unsigned short port(std::size_t node) const { return nodes_.at(node).port; }
    // "127.0.0.1:p1,127.0.0.1:p2,...": every node, the --redis-cluster flag's format.
    std::string seeds() const;
    const std::string& node_id(std::size_t node) const { return nodes_.at(node).id; }
    std::size_t node_by_id(const std::string& id) const;  // throws when unknown
    // Where node `node` writes its log, to print when a test fails.
    std::string log_path(std::size_t node) const;

    // The primary serving `slot` as a live node sees it; throws when no live node or none serves
    // it.
    std::size_t primary_for_slot(std::uint16_t slot) const;
    std::size_t primary_for_key(const std::string& key) const;
    // The live nodes that are primaries / replicas of `primary`, as a live node sees it.
    std::vector<std::size_t> primaries() const;
    std::vector<std::size_t> replicas_of(std::size_t primary) const;

    // SIGKILL: the abrupt death a failover is for. The node stays dead.
    void kill(std::size_t node);
    bool alive(std::size_t node) const;

    // Waits until a live node serves `slot` in the view of every live node and each of them says
    // cluster_state:ok; returns that node. After kill() of the slot's primary this is the replica
    // that took over. Throws after `timeout`.
    std::size_t wait_for_failover(std::uint16_t slot,
                                  std::chrono::milliseconds timeout = std::chrono::seconds(30));

    // Waits until every live node says cluster_state:ok, all agree on who serves each slot and
    // on every node's role, and every replica has synced with its primary; throws after
    // `timeout`.
    void wait_until_stable(std::chrono::milliseconds timeout = std::chrono::seconds(30));

    // redis-cli against one node (test setup and checks independent of the code under test):
    // its stdout, trailing newlines trimmed.
    std::string cli(std::size_t node, const std::vector<std::string>& args) const;
    // One command on a fresh connection to one node, with the reply as a tree.
    reply call(std::size_t node, const std::vector<std::string>& args) const;

    // Resharding as redis-cli --cluster reshard does it, for one slot: IMPORTING on the target,
    // MIGRATING on the source, the keys moved with MIGRATE in batches, then SETSLOT NODE on the
    // target, the source and every other primary. begin_migration() does the first two steps
    // only, leaving the slot mid-migration (where a key already moved, or a new one, answers
    // ASK); finish_migration() does the rest and waits until every live node agrees.
    void migrate_slot(std::uint16_t slot, std::size_t from, std::size_t to);
    void begin_migration(std::uint16_t slot, std::size_t from, std::size_t to);
    void finish_migration(std::uint16_t slot, std::size_t from, std::size_t to);

  private:
    struct node {
        unsigned short port = 0;
        unsigned short bus_port = 0;
        std::string dir;
        std::string id;
        mutable process proc;  // running() reaps, which const queries need too
    };

    // One node's CLUSTER NODES, reduced to what must agree across nodes.
    struct view {
        std::vector<std::string> owner;  // per slot: the serving primary's id, "" when none
        std::string roles;               // "id role master-id" per healthy node, sorted
    };

    void start_node(node& n);
    void create();
    view view_of(std::size_t node) const;
    std::size_t first_alive() const;
    bool state_ok(std::size_t node) const;
    bool replication_ok(std::size_t node) const;
    void expect_ok(std::size_t node, const std::vector<std::string>& args) const;

    redis_cluster_options options_;
    std::string root_;  // temporary directory holding one directory per node
    std::vector<node> nodes_;
};

}  // namespace sluice::test
