#pragma once

#include <array>
#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/steady_timer.hpp>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "resp/config.hpp"
#include "resp/connection.hpp"
#include "resp/counter.hpp"
#include "resp/topology.hpp"

namespace sluice::resp {

class script;

struct cluster_config {
    // Where the topology is first asked for; host, port and credentials of each.
    std::vector<connection_config> seeds;
    // Every node connection's settings (timeouts, credentials, polling); host and port are the
    // node's.
    connection_config node;
    // A refresh asked for (MOVED, a node lost) waits at least this long after the last one: a
    // burst of redirections costs one CLUSTER SHARDS, not one each.
    std::chrono::milliseconds refresh_min_interval{100};
    // Without a reason to, the map is refreshed this often anyway (a slot that moved between two
    // nodes the shard never asks about).
    std::chrono::milliseconds refresh_interval{10'000};
    // While some slot has no reachable primary (a failover is under way), this often.
    std::chrono::milliseconds refresh_unready_interval{250};
    // How long a request waits before it tries again after TRYAGAIN, CLUSTERDOWN or a node that
    // is down, within its deadline.
    std::chrono::milliseconds retry_backoff{20};
};

struct cluster_stats {
    counter moved;             // MOVED replies followed
    counter ask;               // ASK replies followed (ASKING + the command, once)
    counter tryagain;          // TRYAGAIN replies, retried after a pause
    counter clusterdown;       // CLUSTERDOWN replies, retried after a pause
    counter refreshes;         // topology maps installed
    counter refresh_failures;  // CLUSTER SHARDS / SLOTS that failed or were refused
    counter node_errors;  // requests that found their node's connection down, retried elsewhere
};

// A Redis Cluster client for one event loop: one pipelined resp::connection per node, a slot
// table routing each command to its slot's primary, and the cluster's redirections followed
// within the caller's deadline.
//
//   exec(slot) ─► route_[slot] ─► that node's connection (pipelined: every command staged in a
//                                  turn of the loop goes out in one write per node)
//        ◄── MOVED slot host:port   route_[slot] = host:port, retry at once; refresh soon
//        ◄── ASK slot host:port     ASKING + the command to host:port, once; the map unchanged
//        ◄── TRYAGAIN, CLUSTERDOWN  retry after retry_backoff
//        ◄── node down              refresh soon, retry after retry_backoff
//
// The table is the shard's own: built whole from each CLUSTER SHARDS reply (CLUSTER SLOTS on a
// server without it) and patched by MOVED, on the loop's thread alone, so a lookup takes no lock.
//
// Not thread-safe, like connection: one per loop. ready(), nodes() and stats() may be read from
// any thread.
class cluster_client {
  public:
    cluster_client(asio::any_io_executor ex, cluster_config cfg);
    ~cluster_client();
    cluster_client(const cluster_client&) = delete;
    cluster_client& operator=(const cluster_client&) = delete;

    // Loaded by every node connection in its handshake. Before start(); `s` must outlive this.
    void preload(const script& s) { preload_.push_back(&s); }
    // Each node connection's operational events, with the node's address.
    void on_event(std::function<void(std::string_view node, const link_event&)> f) {
        on_event_ = std::move(f);
    }

    // Called when the topology could not be had (why), and when it is again after that (an
    // empty string): once per change, never per request.
    void on_topology(std::function<void(const std::string& error)> f) {
        on_topology_ = std::move(f);
    }

    void start();
    // Stops every node connection and the refresher; let the executor run until stopped().
    void stop();
    bool stopped() const noexcept;

    // Runs `req`, one EVALSHA of `s` whose keys all hash to `slot`, on the primary serving
    // `slot`, and delivers its reply to `a`. Redirections and a node that is down are followed
    // and retried until `deadline`; then errc::timeout (or the last connection error). A command
    // that reached a node which then went away (errc::disconnected) is not retried: it may have
    // run. `req` must stay alive until the call returns.
    asio::awaitable<std::error_code> exec(const script& s, const request& req, std::uint16_t slot,
                                          adapter a,
                                          std::chrono::steady_clock::time_point deadline);
    // The same for a plain command (no script).
    asio::awaitable<std::error_code> exec(const request& req, std::uint16_t slot, adapter a,
                                          std::chrono::steady_clock::time_point deadline);

    // Every slot has a primary whose connection is up.
    bool ready() const noexcept { return ready_.load(std::memory_order_relaxed); }
    std::size_t nodes() const noexcept { return link_count_.load(std::memory_order_relaxed); }
    const cluster_stats& stats() const noexcept { return stats_; }
    // Calls f(const connection&) for every node connection made so far (for /metrics: any
    // thread may call it; nodes are added, never removed, while the client runs).
    template <class F>
    void for_each_node(F&& f) const {
        const std::size_t n = link_count_.load(std::memory_order_acquire);
        for (std::size_t i = 0; i < n; ++i)
            f(connection_of(i));
    }
    // The last reason a refresh failed (logs, tests).
    const std::string& last_error() const noexcept { return last_error_; }

  private:
    struct link;
    static constexpr std::uint16_t no_link = 0xffff;
    // Nodes one client connects to at most: a cluster of 128 primaries and their replicas, which
    // is more than Redis recommends (1000 nodes is its stated ceiling, a few dozen the practice).
    static constexpr std::size_t max_links = 256;

    const connection& connection_of(std::size_t i) const noexcept;

    // The index of the link to host:port, made (and started) if new; no_link past max_links.
    std::uint16_t link_for(std::string_view host, std::uint16_t port);
    link* link_at(std::uint16_t i) noexcept;
    link* route(std::uint16_t slot) noexcept;
    void want_refresh() noexcept;
    asio::awaitable<void> refresher();
    asio::awaitable<bool> refresh_once();
    void install(const slot_map& map, const link& answered);
    void update_ready() noexcept;
    asio::awaitable<std::error_code> run(const script* s, const request& req, std::uint16_t slot,
                                         adapter a, std::chrono::steady_clock::time_point deadline);

    asio::any_io_executor ex_;
    cluster_config cfg_;
    std::vector<const script*> preload_;
    std::function<void(std::string_view, const link_event&)> on_event_;
    std::function<void(const std::string&)> on_topology_;
    bool topology_failing_ = false;
    // Fixed, so /metrics may read the first link_count_ from another thread while one is added.
    std::unique_ptr<std::unique_ptr<link>[]> links_;
    std::atomic<std::size_t> link_count_{0};
    std::array<std::uint16_t, cluster_slots> route_;
    std::shared_ptr<const slot_map> map_;
    cluster_stats stats_;
    asio::steady_timer refresh_timer_;
    std::chrono::steady_clock::time_point last_refresh_{};
    bool refresh_wanted_ = false;
    bool started_ = false;
    bool stopping_ = false;
    bool refresher_running_ = false;
    std::atomic<bool> ready_{false};
    std::string last_error_;
};

}  // namespace sluice::resp
