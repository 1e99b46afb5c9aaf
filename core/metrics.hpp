#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "resp/counter.hpp"

namespace sluice::core {

// The shards' counters: one writer each, read by the admin thread (resp/counter.hpp).
using resp::counter;

// Decision latency buckets in microseconds (upper bounds, Prometheus `le`). A decision is one
// Redis round trip: tens of microseconds on loopback, up to --redis-timeout when Redis stalls.
inline constexpr std::array<std::uint64_t, 14> latency_buckets_us = {
    50,     100,    250,    500,     1'000,   2'500,   5'000,
    10'000, 25'000, 50'000, 100'000, 250'000, 500'000, 1'000'000};

class latency_histogram {
  public:
    // `n` observations of `d`: a batch's latency is each of its decisions'.
    void observe(std::chrono::nanoseconds d, std::uint64_t n = 1) noexcept {
        auto us = static_cast<std::uint64_t>(d.count() / 1000);
        std::size_t i = 0;
        while (i < latency_buckets_us.size() && us > latency_buckets_us[i])
            ++i;
        buckets_[i].add(n);
        sum_us_.add(us * n);
    }
    // Per-bucket (not cumulative) counts; the last is +Inf.
    std::uint64_t bucket(std::size_t i) const noexcept { return buckets_[i].get(); }
    std::uint64_t sum_us() const noexcept { return sum_us_.get(); }

  private:
    std::array<counter, latency_buckets_us.size() + 1> buckets_;
    counter sum_us_;
};

// Checks per Redis batch (upper bounds, `le`): 1 is a batch of one, 256 the --batch-max ceiling.
inline constexpr std::array<std::uint64_t, 9> batch_size_buckets = {1,  2,  4,   8,  16,
                                                                    32, 64, 128, 256};

// One rule's decisions (sluice_rule_decisions_total): every request it applied to counts once.
// A row is named once, by the shard's thread, before it is published (rule_rows::count); the
// admin thread reads only published rows.
struct rule_counters {
    std::array<char, 64> name{};
    std::size_t name_length = 0;
    counter allowed;          // the rule allowed the request (whatever the others said)
    counter rejected;         // the rule rejected it (and so did the request)
    counter shadow_rejected;  // a shadow rule would have rejected it
    counter errors;           // Redis could not decide

    std::string_view rule() const noexcept { return {name.data(), name_length}; }
};

// The rows of sluice_rule_decisions_total, one per rule name ever served. Fixed, so that a
// reload can add rows while /metrics reads them: a row's place never moves, and count is
// published after its name is written. A rule renamed by a reload gets a new row; the old one
// keeps its totals, as Prometheus counters should.
struct rule_rows {
    static constexpr std::size_t capacity = 256;
    std::array<rule_counters, capacity> rows;
    std::atomic<std::size_t> count{0};

    // The row of `name`, made when there is none; capacity (nothing counted) once every row is
    // taken. Only the shard's thread calls it.
    std::size_t row_for(std::string_view name) noexcept {
        const std::size_t n = count.load(std::memory_order_relaxed);
        for (std::size_t i = 0; i < n; ++i) {
            if (rows[i].rule() == name) return i;
        }
        if (n == capacity || name.size() > rows[n].name.size()) return capacity;
        std::copy(name.begin(), name.end(), rows[n].name.begin());
        rows[n].name_length = name.size();
        count.store(n + 1, std::memory_order_release);
        return n;
    }
};

// Everything one shard counts. Each shard owns one; /metrics sums them.
struct shard_metrics {
    counter allowed;
    counter rejected;
    counter unlimited;    // served without a limiter call (--algorithm none)
    counter errors;       // Redis could not decide (down, timeout, bad reply)
    counter failed_open;  // of `errors`, served anyway under --redis-failure allow
    // --forward-auth calls by the fields that described the original request's URI
    // (original_request::origin: X-Forwarded-Uri, X-Original-URI, none): a proxy that sends
    // none of them shows up here before rules start to match on the URI.
    std::array<counter, 3> forward_auth;
    counter connections_opened;
    counter connections_closed;
    latency_histogram decision_latency;
    // The event loop at work: its turns (a wait for events, then every handler that became
    // ready) that sent limiter checks, the Redis batches by checks, the batches awaiting their
    // reply, and the requests the blocked-client cache answered without Redis.
    counter loop_turns;
    std::array<counter, batch_size_buckets.size() + 1> batch_sizes;  // per bucket, last +Inf
    counter batch_checks;                                            // the histogram's sum
    std::atomic<std::uint64_t> batches_in_flight{0};                 // a gauge, one writer
    counter blocked_hits;
    counter blocked_inserts;
    counter blocked_evictions;  // a live entry dropped for a newer one

    void observe_batch(std::size_t checks) noexcept {
        std::size_t i = 0;
        while (i < batch_size_buckets.size() && checks > batch_size_buckets[i])
            ++i;
        batch_sizes[i].add();
        batch_checks.add(checks);
    }
    // --upstream: answers relayed by status class (index: status / 100 - 1).
    std::array<counter, 5> upstream_responses;
    // Forwarded requests answered 502 and 504 by us, and relays broken off after their head.
    counter upstream_bad_gateway;
    counter upstream_timeout;
    counter upstream_truncated;
    // Sent again on a new connection after a pooled one turned out closed.
    counter upstream_retries;
    // Why forwarded requests failed, by upstream_error.
    std::array<counter, 4> upstream_errors;
    // From the request's first byte sent upstream to the response's head.
    latency_histogram upstream_latency;
    // WebSocket (or other) upgrades relayed after the upstream's 101.
    counter upstream_tunnels;
    // With --config: one entry per rule of the file, by rule index, made before the shard runs
    // (the hot path only increments).
    rule_rows rules;
};

// What went wrong with an upstream exchange, for /metrics (index into upstream_errors).
enum class upstream_error : std::uint8_t {
    connect,   // refused, unreachable, or no connection within --upstream-connect-timeout
    timeout,   // no head within --upstream-timeout, or a body that stalled as long
    protocol,  // a malformed or ambiguous response
    reset,     // the connection closed or broke before the response was complete
};

// The Redis side of a shard, as /metrics reports it (read from the connection's own counters).
// A shard's Redis connection as /metrics reports it; each field is the connection_stats counter
// of the same name (resp/config.hpp says what each counts).
struct redis_view {
    bool connected = false;
    std::uint64_t replies = 0;
    std::uint64_t health_checks = 0;
    std::uint64_t writes = 0;
    std::uint64_t timeouts = 0;
    std::uint64_t failed_fast = 0;
    std::uint64_t waited = 0;
    std::uint64_t connects = 0;
    std::uint64_t reconnects = 0;
    std::uint64_t disconnects = 0;
    std::uint64_t script_loads = 0;
    std::uint64_t noscript_retries = 0;
    std::uint64_t poll_hits = 0;
    std::uint64_t poll_misses = 0;
    // With --redis-cluster (all zero otherwise): the connection counters above are summed over
    // the shard's node connections, and `connected` means every slot has a reachable primary.
    bool cluster = false;
    std::uint64_t cluster_nodes = 0;
    std::uint64_t moved = 0;
    std::uint64_t ask = 0;
    std::uint64_t tryagain = 0;
    std::uint64_t clusterdown = 0;
    std::uint64_t refreshes = 0;
    std::uint64_t refresh_failures = 0;
    std::uint64_t node_errors = 0;
    // With --redis-sentinel (all zero otherwise).
    bool sentinel = false;
    std::uint64_t primary_changes = 0;  // the first address included
    std::uint64_t sentinel_failures = 0;
};

// A shard's upstream connection pool as /metrics reports it (core/upstream.hpp's
// upstream_pool_stats says what each counts); all zero without --upstream.
struct upstream_view {
    std::uint64_t opened = 0;
    std::uint64_t reused = 0;
    std::uint64_t idle_closed = 0;
    std::uint64_t overflow_closed = 0;
    std::uint64_t idle = 0;
    std::uint64_t busy = 0;
};

// Prometheus text exposition format 0.0.4 of every shard's metrics.
std::string render_metrics(std::span<const shard_metrics* const> shards,
                           std::span<const redis_view> redis,
                           std::span<const upstream_view> upstream);

}  // namespace sluice::core
