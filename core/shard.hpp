#pragma once

#include <array>
#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <chrono>
#include <memory>
#include <span>
#include <vector>

#include "core/batcher.hpp"
#include "core/blocked_cache.hpp"
#include "core/client_key.hpp"
#include "core/config.hpp"
#include "core/limiter.hpp"
#include "core/metrics.hpp"
#include "core/ratelimit_headers.hpp"
#include "core/rule_limiter.hpp"
#include "core/upstream.hpp"
#include "http/request.hpp"
#include "http/response.hpp"
#include "http/server.hpp"
#include "resp/cluster_client.hpp"
#include "resp/connection.hpp"
#include "resp/sentinel.hpp"

namespace sluice::resp {
class script;
}

namespace sluice::core {

ip_address to_ip(const asio::ip::address& a) noexcept;

// With --redis-cluster, a cluster client on `ctx` for the seeds, every node connection set up
// like the single one; otherwise null.
std::unique_ptr<resp::cluster_client> make_cluster(asio::io_context& ctx, const config& cfg);

// With --redis-sentinel, a watcher on `ctx` of the Sentinels, each reached with its own seed's
// credentials; otherwise null.
std::unique_ptr<resp::sentinel_watcher> make_sentinel(asio::io_context& ctx, const config& cfg);

// The scripts every shard runs (core/decide.lua for every batch, core/give_back.lua after a
// rejection across client identities); owned by the gateway, outliving the shards.
struct limiter_scripts {
    const resp::script& decide;
    const resp::script& give_back;
};

// One version of the rules a shard serves: the set, its limiter over the shard's Redis
// connection, and each rule's row of sluice_rule_decisions_total. A request holds the version it
// started with until it is answered, so a reload never mixes two versions in one decision; the
// old version goes when its last request does.
struct rules_version {
    rules_version(std::shared_ptr<const rule_set> owned, const rule_set& set, std::uint64_t gen,
                  rule_limiter&& l)
        : keep{std::move(owned)}, rules{set}, generation{gen}, limiter{std::move(l)} {}

    std::shared_ptr<const rule_set> keep;  // null for the set the gateway owns
    const rule_set& rules;
    std::uint64_t generation;
    rule_limiter limiter;
    std::vector<std::size_t> rows;  // by rule index; rule_rows::capacity: not counted
};

// Answers the public listener's requests: identify the client, ask the limiter, write 200, the
// --deny-status (429) or 503 exactly as CONTRACT.md says, as a forward-auth service too. One per
// shard; called by every connection of the shard.
class gateway_handler {
  public:
    // With `upstream`, allowed requests are forwarded through it (--upstream). With `rules`
    // (--config), requests are decided by the rules that match them instead of `limiter`.
    gateway_handler(const config& cfg, sliding_log_limiter& limiter, shard_metrics& metrics,
                    upstream_pool* upstream = nullptr,
                    const std::shared_ptr<rules_version>* rules = nullptr);

    asio::awaitable<void> handle(const http::request& req, const asio::ip::tcp::endpoint& peer,
                                 http::response& res);
    // The same, and with --upstream the request's body is forwarded as it arrives from `body`
    // and the upstream's answer relayed through `out` as it arrives.
    asio::awaitable<void> handle(const http::request& req, const asio::ip::tcp::endpoint& peer,
                                 http::response& res, http::response_stream& out,
                                 http::request_body& body);

  private:
    // Buffers one request in flight needs; pooled so that a warm shard decides without
    // allocating. The pool grows to the shard's peak concurrency and stays there.
    struct scratch {
        limiter_scratch limiter;
        rules_scratch rules;
        std::uint64_t rules_generation = 0;  // the version `rules` is sized for; 0: none
        identity_buffer identity;
        char body[rejection_body_capacity];
        // RateLimit-Policy and RateLimit: a member per applying rule, ", " between them.
        char policy[max_applying_rules * (ratelimit_member_capacity + 2)];
        char state[max_applying_rules * (ratelimit_member_capacity + 2)];
        char numbers[3][24];                // X-RateLimit-* as text, for a relayed head
        std::array<http::header, 5> extra;  // the rate-limit fields of a relayed head
        std::size_t extra_count = 0;

        // A rate-limit field for the relayed head.
        void add_extra(std::string_view name, std::string_view value) noexcept {
            extra[extra_count++] = {name, value};
        }
        // `v` as text in numbers[slot], valid as long as the scratch is.
        std::string_view number(int slot, std::int64_t v) noexcept;
        // The 429 body, with `rule` when a rules file decided (contract: "rule":"<name>").
        std::string_view rejection_body(std::string_view rule, std::int64_t limit,
                                        std::chrono::milliseconds window,
                                        std::int64_t retry_after_ms) noexcept;
    };
    // An allowed request: forwarded with the rate-limit fields the scratch holds, or, on a
    // failure before the upstream's head, answered 502/504 in `res`.
    asio::awaitable<void> relay_allowed(const http::request& req,
                                        const asio::ip::tcp::endpoint& peer, http::response& res,
                                        http::response_stream& out, http::request_body& body,
                                        scratch& s);
    asio::awaitable<void> decide(const http::request& req, const asio::ip::tcp::endpoint& peer,
                                 http::response& res, http::response_stream* out,
                                 http::request_body* body);
    // decide() with --config.
    asio::awaitable<void> decide_rules(const http::request& req,
                                       const asio::ip::tcp::endpoint& peer, http::response& res,
                                       http::response_stream* out, http::request_body* body);
    // The last X-Forwarded-For fields, when the peer may be a trusted proxy; returns how many.
    std::size_t forwarded_for(const http::request& req,
                              std::array<std::string_view, 8>& out) const noexcept;
    // Forwards an allowed request and relays the answer (core/proxy.cpp); on a failure before
    // the answer's head, fills `res` with 502 or 504 instead.
    asio::awaitable<void> proxy(const http::request& req, const asio::ip::tcp::endpoint& peer,
                                http::response& res, http::response_stream& out,
                                http::request_body& body, std::span<const http::header> extra);
    std::unique_ptr<scratch> acquire();
    void release(std::unique_ptr<scratch> s);
    std::string_view date() noexcept;

    const config& cfg_;
    sliding_log_limiter& limiter_;
    shard_metrics& metrics_;
    upstream_pool* upstream_;
    // The shard's current version, when it serves rules (read at each request's start).
    const std::shared_ptr<rules_version>* rules_;
    client_identifier identifier_;
    std::vector<std::unique_ptr<scratch>> pool_;
    // The Date header changes once a second: formatted then, not per response.
    std::int64_t date_second_ = -1;
    char date_[32] = {};
    std::size_t date_length_ = 0;
};

// One thread's share of the gateway: its own event loop, its own SO_REUSEPORT listener (the
// kernel spreads new connections over the shards' listeners), its own Redis connection. Nothing
// in it is touched by another thread except the counters the admin listener reads.
class shard {
  public:
    // `index` names the shard in log lines and /metrics.
    // With `rules` (--config), requests are decided by them.
    shard(const config& cfg, const limiter_scripts& scripts, unsigned index = 0,
          const rule_set* rules = nullptr);
    ~shard();
    shard(const shard&) = delete;
    shard& operator=(const shard&) = delete;

    // Binds the public listener. Every shard binds the same address; with port 0 the first shard
    // picks it and the others follow. Returns the bound endpoint. Throws std::system_error.
    asio::ip::tcp::endpoint listen(const asio::ip::tcp::endpoint& at);

    // The thread body: runs the event loop until shutdown has drained it.
    void run();

    // Thread-safe (posts to the shard's loop): closes the listener at once, lets connections
    // finish the request they are in (Connection: close) for up to `grace`, then closes the rest
    // and the Redis connection, and lets run() return.
    void shutdown(std::chrono::milliseconds grace);

    // With --redis-cluster: every slot has a primary the shard can reach.
    bool redis_connected() const noexcept {
        return cluster_ ? cluster_->ready() : redis_.connected();
    }
    redis_view redis_stats() const noexcept;
    // Zeros without --upstream.
    upstream_view upstream_stats() const noexcept;
    const shard_metrics& metrics() const noexcept { return metrics_; }

    // Thread-safe (posts to the shard's loop): from now on new requests are decided by `rules`,
    // the `generation`th version; requests in flight finish with the version they started with.
    // Only for a shard that serves rules.
    void install_rules(std::shared_ptr<const rule_set> rules, std::uint64_t generation);

  private:
    std::shared_ptr<rules_version> make_version(std::shared_ptr<const rule_set> owned,
                                                const rule_set& set, std::uint64_t generation);

    asio::awaitable<void> accept_loop();
    asio::awaitable<void> serve(asio::ip::tcp::socket socket);
    asio::awaitable<void> drain(std::chrono::milliseconds grace);
    void adopt_backlog();

    // Declared first, destroyed last: every I/O object below belongs to it.
    asio::io_context ctx_;
    asio::ip::tcp::acceptor acceptor_;
    resp::connection redis_;  // not started with --redis-cluster
    std::unique_ptr<resp::cluster_client> cluster_;
    // With --redis-sentinel: where redis_ connects, and where to when the primary moves.
    std::unique_ptr<resp::sentinel_watcher> sentinel_;
    shard_metrics metrics_;
    std::unique_ptr<upstream_pool> upstream_;
    const config& cfg_;
    limiter_scripts scripts_;
    batcher batcher_;
    blocked_cache blocked_;  // the flags' rule's; a rules version has its own
    sliding_log_limiter limiter_;
    bool serves_rules_;
    std::shared_ptr<rules_version> rules_;
    gateway_handler handler_;
    http::server_limits limits_;
    http::connection_control control_;
    bool accepting_ = false;
};

}  // namespace sluice::core
