#include "core/metrics.hpp"

#include <array>
#include <cstdio>
#include <iterator>
#include <utility>

namespace sluice::core {

namespace {

void line(std::string& out, const char* name, const char* labels, std::uint64_t v) {
    out += name;
    out += labels;
    out += ' ';
    out += std::to_string(v);
    out += '\n';
}

void header(std::string& out, const char* name, const char* type, const char* help) {
    out += "# HELP ";
    out += name;
    out += ' ';
    out += help;
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type;
    out += '\n';
}

template <class F>
std::uint64_t sum(std::span<const shard_metrics* const> shards, F f) {
    std::uint64_t s = 0;
    for (const auto* m : shards)
        s += f(*m);
    return s;
}

}  // namespace

std::string render_metrics(std::span<const shard_metrics* const> shards,
                           std::span<const redis_view> redis,
                           std::span<const upstream_view> upstream) {
    std::string out;
    out.reserve(4096);

    header(out, "sluice_requests_total", "counter", "Requests by limiter decision.");
    line(out, "sluice_requests_total", "{decision=\"allowed\"}",
         sum(shards, [](auto& m) { return m.allowed.get(); }));
    line(out, "sluice_requests_total", "{decision=\"rejected\"}",
         sum(shards, [](auto& m) { return m.rejected.get(); }));
    line(out, "sluice_requests_total", "{decision=\"unlimited\"}",
         sum(shards, [](auto& m) { return m.unlimited.get(); }));
    line(out, "sluice_requests_total", "{decision=\"error\"}",
         sum(shards, [](auto& m) { return m.errors.get(); }));

    if (!shards.empty() && shards.front()->rules.count.load(std::memory_order_acquire) != 0) {
        header(out, "sluice_rule_decisions_total", "counter",
               "Decisions of each rule of the rules file, for every request it applied to.");
        const rule_rows& first = shards.front()->rules;
        const std::size_t rows = first.count.load(std::memory_order_acquire);
        constexpr std::array<std::pair<const char*, counter rule_counters::*>, 4> kinds = {{
            {"allowed", &rule_counters::allowed},
            {"rejected", &rule_counters::rejected},
            {"shadow_rejected", &rule_counters::shadow_rejected},
            {"error", &rule_counters::errors},
        }};
        for (std::size_t i = 0; i < rows; ++i) {
            const std::string_view name = first.rows[i].rule();
            for (const auto& [decision, field] : kinds) {
                const std::string labels =
                    "{rule=\"" + std::string(name) + "\",decision=\"" + decision + "\"}";
                // Every shard names its rows in the same order (the same reloads, in turn);
                // one that has not taken a reload yet simply has fewer.
                line(out, "sluice_rule_decisions_total", labels.c_str(), sum(shards, [&](auto& m) {
                         const bool named = i < m.rules.count.load(std::memory_order_acquire) &&
                                            m.rules.rows[i].rule() == name;
                         return named ? (m.rules.rows[i].*field).get() : 0;
                     }));
            }
        }
    }

    header(out, "sluice_failed_open_total", "counter",
           "Requests served although Redis could not decide (--redis-failure allow).");
    line(out, "sluice_failed_open_total", "",
         sum(shards, [](auto& m) { return m.failed_open.get(); }));

    header(out, "sluice_forward_auth_requests_total", "counter",
           "Forward-auth calls by the fields that named the original URI.");
    constexpr const char* origins[] = {"{uri_from=\"x-forwarded-uri\"}",
                                       "{uri_from=\"x-original-uri\"}", "{uri_from=\"request\"}"};
    for (std::size_t i = 0; i < std::size(origins); ++i) {
        line(out, "sluice_forward_auth_requests_total", origins[i],
             sum(shards, [i](auto& m) { return m.forward_auth[i].get(); }));
    }

    header(out, "sluice_upstream_responses_total", "counter",
           "Upstream answers relayed (--upstream), by status class.");
    constexpr const char* classes[] = {"{class=\"1xx\"}", "{class=\"2xx\"}", "{class=\"3xx\"}",
                                       "{class=\"4xx\"}", "{class=\"5xx\"}"};
    for (std::size_t i = 0; i < std::size(classes); ++i) {
        line(out, "sluice_upstream_responses_total", classes[i],
             sum(shards, [i](auto& m) { return m.upstream_responses[i].get(); }));
    }
    header(out, "sluice_upstream_failures_total", "counter",
           "Forwarded requests the upstream did not answer: 502 and 504 sent by sluice, and "
           "relays broken off after the head.");
    line(out, "sluice_upstream_failures_total", "{answer=\"bad_gateway\"}",
         sum(shards, [](auto& m) { return m.upstream_bad_gateway.get(); }));
    line(out, "sluice_upstream_failures_total", "{answer=\"gateway_timeout\"}",
         sum(shards, [](auto& m) { return m.upstream_timeout.get(); }));
    line(out, "sluice_upstream_failures_total", "{answer=\"truncated\"}",
         sum(shards, [](auto& m) { return m.upstream_truncated.get(); }));
    header(out, "sluice_upstream_errors_total", "counter",
           "Forwarded requests that failed, by kind: connect (refused or no connection in "
           "time), timeout (no head, or a stalled body), protocol (malformed response), reset "
           "(closed or broken before the response was complete).");
    constexpr std::array<const char*, 4> kinds = {"{kind=\"connect\"}", "{kind=\"timeout\"}",
                                                  "{kind=\"protocol\"}", "{kind=\"reset\"}"};
    for (std::size_t i = 0; i < kinds.size(); ++i) {
        line(out, "sluice_upstream_errors_total", kinds[i],
             sum(shards, [i](auto& m) { return m.upstream_errors[i].get(); }));
    }
    header(out, "sluice_upstream_tunnels_total", "counter",
           "Upgraded connections (WebSocket) relayed both ways after the upstream's 101.");
    line(out, "sluice_upstream_tunnels_total", "",
         sum(shards, [](auto& m) { return m.upstream_tunnels.get(); }));
    header(out, "sluice_upstream_retries_total", "counter",
           "Idempotent requests sent again after a pooled upstream connection was found closed.");
    line(out, "sluice_upstream_retries_total", "",
         sum(shards, [](auto& m) { return m.upstream_retries.get(); }));
    // Named like the client side's pair (sluice_connections_total, sluice_open_connections): a
    // gauge called sluice_upstream_connections would share its family name with the counter in
    // OpenMetrics, which drops the _total.
    auto pools = [&](auto get) {
        std::uint64_t s = 0;
        for (const upstream_view& u : upstream)
            s += get(u);
        return s;
    };
    header(out, "sluice_upstream_connections_total", "counter",
           "Upstream connection pool events: connections opened, exchanges begun on a reused idle "
           "one, idle ones closed after --upstream-idle-timeout, reusable ones closed because "
           "--upstream-max-idle were idle.");
    line(out, "sluice_upstream_connections_total", "{event=\"opened\"}",
         pools([](const upstream_view& u) { return u.opened; }));
    line(out, "sluice_upstream_connections_total", "{event=\"reused\"}",
         pools([](const upstream_view& u) { return u.reused; }));
    line(out, "sluice_upstream_connections_total", "{event=\"idle_closed\"}",
         pools([](const upstream_view& u) { return u.idle_closed; }));
    line(out, "sluice_upstream_connections_total", "{event=\"overflow_closed\"}",
         pools([](const upstream_view& u) { return u.overflow_closed; }));
    header(out, "sluice_upstream_open_connections", "gauge",
           "Upstream connections open now: idle in the pools, or busy with an exchange.");
    line(out, "sluice_upstream_open_connections", "{state=\"idle\"}",
         pools([](const upstream_view& u) { return u.idle; }));
    line(out, "sluice_upstream_open_connections", "{state=\"busy\"}",
         pools([](const upstream_view& u) { return u.busy; }));

    auto opened = sum(shards, [](auto& m) { return m.connections_opened.get(); });
    auto closed = sum(shards, [](auto& m) { return m.connections_closed.get(); });
    header(out, "sluice_connections_total", "counter", "Client connections accepted.");
    line(out, "sluice_connections_total", "", opened);
    header(out, "sluice_open_connections", "gauge", "Client connections open now.");
    line(out, "sluice_open_connections", "", opened >= closed ? opened - closed : 0);

    auto histogram = [&](const char* name, const char* help, latency_histogram shard_metrics::*h) {
        const std::string base = name;
        header(out, name, "histogram", help);
        std::uint64_t cumulative = 0;
        char labels[64];
        for (std::size_t i = 0; i <= latency_buckets_us.size(); ++i) {
            cumulative += sum(shards, [&](auto& m) { return (m.*h).bucket(i); });
            if (i < latency_buckets_us.size()) {
                std::snprintf(labels, sizeof labels, "{le=\"%g\"}",
                              static_cast<double>(latency_buckets_us[i]) / 1e6);
            } else {
                std::snprintf(labels, sizeof labels, "{le=\"+Inf\"}");
            }
            line(out, (base + "_bucket").c_str(), labels, cumulative);
        }
        char sum_text[64];
        std::snprintf(
            sum_text, sizeof sum_text, "%.6f",
            static_cast<double>(sum(shards, [&](auto& m) { return (m.*h).sum_us(); })) / 1e6);
        out += base + "_sum ";
        out += sum_text;
        out += '\n';
        line(out, (base + "_count").c_str(), "", cumulative);
    };
    histogram("sluice_decision_duration_seconds",
              "Time from a batch's write to Redis to its reply, once per check in it.",
              &shard_metrics::decision_latency);
    histogram("sluice_upstream_duration_seconds",
              "Time from a forwarded request's first byte to the upstream's response head.",
              &shard_metrics::upstream_latency);

    auto per_shard = [&](const char* name, const char* type, const char* help, auto get) {
        header(out, name, type, help);
        for (std::size_t i = 0; i < redis.size(); ++i) {
            char l[32];
            std::snprintf(l, sizeof l, "{shard=\"%zu\"}", i);
            line(out, name, l, get(redis[i]));
        }
    };
    // The multiplexing of the design at work, per shard: how many requests each loop turn and
    // each Redis call carries.
    auto per_shard_metric = [&](const char* name, const char* type, const char* help, auto get) {
        header(out, name, type, help);
        for (std::size_t i = 0; i < shards.size(); ++i) {
            char l[32];
            std::snprintf(l, sizeof l, "{shard=\"%zu\"}", i);
            line(out, name, l, get(*shards[i]));
        }
    };
    per_shard_metric(
        "sluice_loop_turns_total", "counter",
        "Turns of the shard's event loop (a wait for events, then every handler that became "
        "ready) in which requests were decided by Redis.",
        [](const shard_metrics& m) { return m.loop_turns.get(); });
    header(out, "sluice_redis_batch_checks", "histogram",
           "Limiter checks per Redis call: the checks of one loop turn go in one script call.");
    for (std::size_t i = 0; i < shards.size(); ++i) {
        std::uint64_t cumulative = 0;
        char l[64];
        for (std::size_t b = 0; b <= batch_size_buckets.size(); ++b) {
            cumulative += shards[i]->batch_sizes[b].get();
            if (b < batch_size_buckets.size()) {
                std::snprintf(l, sizeof l, "{shard=\"%zu\",le=\"%llu\"}", i,
                              static_cast<unsigned long long>(batch_size_buckets[b]));
            } else {
                std::snprintf(l, sizeof l, "{shard=\"%zu\",le=\"+Inf\"}", i);
            }
            line(out, "sluice_redis_batch_checks_bucket", l, cumulative);
        }
        std::snprintf(l, sizeof l, "{shard=\"%zu\"}", i);
        line(out, "sluice_redis_batch_checks_sum", l, shards[i]->batch_checks.get());
        line(out, "sluice_redis_batch_checks_count", l, cumulative);
    }
    per_shard_metric(
        "sluice_redis_batches_in_flight", "gauge", "Redis batches sent and not yet answered.",
        [](const shard_metrics& m) { return m.batches_in_flight.load(std::memory_order_relaxed); });
    per_shard_metric("sluice_blocked_cache_hits_total", "counter",
                     "Requests rejected by the blocked-client cache, without a Redis call.",
                     [](const shard_metrics& m) { return m.blocked_hits.get(); });
    per_shard_metric("sluice_blocked_cache_inserts_total", "counter",
                     "Clients the blocked-client cache learned from Redis's rejections.",
                     [](const shard_metrics& m) { return m.blocked_inserts.get(); });
    per_shard_metric("sluice_blocked_cache_evictions_total", "counter",
                     "Blocked clients the cache dropped, still blocked, to make room.",
                     [](const shard_metrics& m) { return m.blocked_evictions.get(); });

    // The kernel spreads connections over the shards' SO_REUSEPORT listeners by a hash: how even
    // the spread is under real traffic is measured here, not assumed.
    header(out, "sluice_shard_connections_total", "counter",
           "Client connections each shard accepted.");
    for (std::size_t i = 0; i < shards.size(); ++i) {
        char l[32];
        std::snprintf(l, sizeof l, "{shard=\"%zu\"}", i);
        line(out, "sluice_shard_connections_total", l, shards[i]->connections_opened.get());
    }
    per_shard("sluice_redis_connected", "gauge", "1 while the shard's Redis connection is up.",
              [](const redis_view& r) -> std::uint64_t { return r.connected ? 1 : 0; });
    per_shard("sluice_redis_round_trips_total", "counter",
              "Replies from Redis to the limiter's commands (health checks and script loads not "
              "included).",
              [](const redis_view& r) { return r.replies; });
    per_shard("sluice_redis_health_checks_total", "counter",
              "PINGs sent because the link had answered nothing for a health-check interval.",
              [](const redis_view& r) { return r.health_checks; });
    per_shard("sluice_redis_writes_total", "counter",
              "Writes of requests to Redis; round trips per write is the pipelining factor.",
              [](const redis_view& r) { return r.writes; });
    per_shard("sluice_redis_timeouts_total", "counter",
              "Limiter calls whose --redis-timeout passed before Redis answered.",
              [](const redis_view& r) { return r.timeouts; });
    per_shard("sluice_redis_unavailable_total", "counter",
              "Limiter calls failed at once because the link was known to be down (backing off).",
              [](const redis_view& r) { return r.failed_fast; });
    per_shard("sluice_redis_waited_for_link_total", "counter",
              "Limiter calls that arrived while the link was being set up and waited for it.",
              [](const redis_view& r) { return r.waited; });
    per_shard("sluice_redis_connects_total", "counter",
              "Links to Redis set up (handshake done), the first one included.",
              [](const redis_view& r) { return r.connects; });
    per_shard("sluice_redis_reconnects_total", "counter",
              "Links to Redis set up after the first: 0 on a process that never lost Redis.",
              [](const redis_view& r) { return r.reconnects; });
    per_shard("sluice_redis_disconnects_total", "counter",
              "Links to Redis lost after their handshake.",
              [](const redis_view& r) { return r.disconnects; });
    per_shard("sluice_redis_script_loads_total", "counter",
              "SCRIPT LOADs sent: one per script in each link's handshake, one per script after "
              "a NOSCRIPT.",
              [](const redis_view& r) { return r.script_loads; });
    per_shard("sluice_redis_script_reloads_total", "counter",
              "Limiter calls sent again after NOSCRIPT (the script cache was flushed).",
              [](const redis_view& r) { return r.noscript_retries; });
    // Hits against round trips tell how often --redis-poll spared a sleep; misses, how often it
    // spent its budget for nothing.
    per_shard("sluice_redis_poll_hits_total", "counter",
              "Redis replies found by polling, without sleeping.",
              [](const redis_view& r) { return r.poll_hits; });
    per_shard("sluice_redis_poll_misses_total", "counter",
              "Polls for a Redis reply that used up their budget.",
              [](const redis_view& r) { return r.poll_misses; });
    if (!redis.empty() && redis[0].cluster) {
        per_shard("sluice_redis_cluster_nodes", "gauge",
                  "Redis Cluster nodes the shard has a connection to.",
                  [](const redis_view& r) { return r.cluster_nodes; });
        header(out, "sluice_redis_redirections_total", "counter",
               "Cluster redirections followed, by kind: moved (the slot map patched), ask (one "
               "command sent with ASKING), tryagain and clusterdown (retried after a pause).");
        for (std::size_t i = 0; i < redis.size(); ++i) {
            const std::pair<const char*, std::uint64_t> kinds[] = {
                {"moved", redis[i].moved},
                {"ask", redis[i].ask},
                {"tryagain", redis[i].tryagain},
                {"clusterdown", redis[i].clusterdown}};
            for (const auto& [kind, n] : kinds) {
                char l[64];
                std::snprintf(l, sizeof l, "{shard=\"%zu\",kind=\"%s\"}", i, kind);
                line(out, "sluice_redis_redirections_total", l, n);
            }
        }
        per_shard("sluice_redis_topology_refreshes_total", "counter",
                  "Slot maps installed from CLUSTER SHARDS (or CLUSTER SLOTS).",
                  [](const redis_view& r) { return r.refreshes; });
        per_shard("sluice_redis_topology_refresh_failures_total", "counter",
                  "Topology refreshes that no node answered with a map that could be trusted.",
                  [](const redis_view& r) { return r.refresh_failures; });
        per_shard("sluice_redis_node_unavailable_total", "counter",
                  "Limiter calls that found their slot's node down and were retried after a "
                  "refresh.",
                  [](const redis_view& r) { return r.node_errors; });
    }
    if (!redis.empty() && redis[0].sentinel) {
        per_shard("sluice_redis_primary_changes_total", "counter",
                  "Addresses of the primary learnt from Sentinel: 1 at start, one more per "
                  "failover followed.",
                  [](const redis_view& r) { return r.primary_changes; });
        per_shard("sluice_redis_sentinel_failures_total", "counter",
                  "Rounds in which no Sentinel gave the primary's address.",
                  [](const redis_view& r) { return r.sentinel_failures; });
    }
    return out;
}

}  // namespace sluice::core
