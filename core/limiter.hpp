#pragma once

#include <asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

#include "core/batch.hpp"
#include "core/blocked_cache.hpp"
#include "core/config.hpp"

namespace sluice::core {

class batcher;
struct shard_metrics;

struct limit_policy {
    core::algorithm algorithm = core::algorithm::sliding_log;
    std::int64_t limit = 5;
    std::chrono::milliseconds window{10'000};
    std::string key_prefix = "sluice:";
    // After the client's hash tag: ":log" for the sliding log, ":<rule>:<suffix>" for the other
    // algorithms (docs/algorithms.md).
    std::string key_suffix = ":log";
    // token-bucket's capacity; 0: the limit.
    std::int64_t burst = 0;
};

// The limiter's answer for one request.
struct decision {
    bool allowed = false;
    std::int64_t remaining = 0;       // requests left in the window after this one
    std::int64_t reset_ms = 0;        // until the oldest counted request leaves the window
    std::int64_t retry_after_ms = 0;  // rejected: until a request could be allowed
    bool cached = false;              // rejected by the blocked-client cache, without Redis
};

// What one caller (an HTTP connection) keeps between its requests so that deciding does not
// allocate once warm: the Redis key is rebuilt in place each time.
struct limiter_scratch {
    std::string key;
    rule_decision answer;
};

// The rule the flags make (--limit, --window, --algorithm, --key), decided through the shard's
// batcher: one check of one key per request, in the batch of its loop turn.
//
// A client Redis rejected until T is remembered in the shard's blocked-client cache, and its
// requests before T are answered from there, with the same fields, counting down.
class sliding_log_limiter {
  public:
    // `cache` may be disabled (capacity 0); all must outlive the limiter.
    sliding_log_limiter(batcher& b, limit_policy policy, blocked_cache& cache,
                        shard_metrics& metrics);

    // Decides for `client` (the identity, e.g. "ip:192.0.2.1"). An error means Redis could not
    // decide: not connected, no answer within --redis-timeout, or an unusable reply.
    asio::awaitable<std::error_code> check(std::string_view client, limiter_scratch& scratch,
                                           decision& out);

    // The Redis key of a client: <prefix>{<client>}<suffix>, ":log" by default. The braces are a
    // Redis Cluster hash tag: everything the script touches for one client lives in one slot.
    static void make_key(std::string& out, std::string_view prefix, std::string_view client,
                         std::string_view suffix = ":log");

    const limit_policy& policy() const noexcept { return policy_; }

  private:
    batcher& batcher_;
    limit_policy policy_;
    batch_rule rule_;
    blocked_cache& cache_;
    shard_metrics& metrics_;
};

// The script's reply does not have the shape core/decide.lua returns.
std::error_code bad_reply_error() noexcept;

// Remembers, when Redis rejected a key for long enough, that it is blocked (rejection of a batch
// sent at `sent`); counts the insert and any eviction in `metrics`.
void remember_blocked(blocked_cache& cache, std::string_view key, const rule_decision& d,
                      blocked_cache::clock::time_point sent, shard_metrics& metrics) noexcept;

// A rejection answered from the cache at `now`: what Redis said, counted down.
rule_decision from_blocked(const blocked_cache::entry& e,
                           blocked_cache::clock::time_point now) noexcept;

}  // namespace sluice::core
