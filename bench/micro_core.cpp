// The network-free part of a request's way through the gateway, step by step: match the rules,
// build the client's key, encode the limiter call, write the 429. What is left is waiting for
// the client, Redis and the upstream, which bench/gateway-bench measures end to end.
//
// Parsing the ~300-byte API request is measured elsewhere and not repeated here:
// BM_parse_typical_get in bench/micro_http.cpp (sluice-micro-bench). BM_rejected_request_path
// below chains every step, the parse included, into the cost of one request of a client the
// blocked-client cache knows is over its limit: the whole work of a hot-key 429.
//
// Every step promises not to allocate once warm (a pooled scratch, buffers that keep their
// capacity). The global operator new counts (tests/support/allocations.cpp), and a benchmark
// whose loop allocated fails with an error instead of reporting a figure.

#include <benchmark/benchmark.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/batch.hpp"
#include "core/blocked_cache.hpp"
#include "core/client_key.hpp"
#include "core/limiter.hpp"
#include "core/ratelimit_headers.hpp"
#include "core/rules.hpp"
#include "http/request_parser.hpp"
#include "http/response.hpp"
#include "resp/script.hpp"
#include "resp/serializer.hpp"
#include "tests/support/allocations.hpp"

namespace {

using namespace std::chrono_literals;
using sluice::core::client_identifier;
using sluice::core::identity_buffer;
using sluice::core::ip_address;
using sluice::core::key_source;
using sluice::core::rule;
using sluice::core::rule_set;
using sluice::core::sliding_log_limiter;
using sluice::core::trusted_proxies;

// Fails `state` when the calling thread allocated since the check was made. Made after one warm
// call, so that what grows once (a reserve, a first use) is not counted.
class no_allocation {
  public:
    no_allocation() : before_(sluice::test::thread_allocations()) {}
    void check(benchmark::State& state) const {
        if (sluice::test::thread_allocations() != before_) state.SkipWithError("allocated");
    }

  private:
    std::size_t before_;
};

// The same request as micro_http.cpp's typical_get: about 300 bytes, an API key among 8 fields.
const std::string typical_get =
    "GET /api/v1/orders?id=42 HTTP/1.1\r\n"
    "Host: api.example.com\r\n"
    "User-Agent: curl/8.1.2\r\n"
    "Accept: application/json\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Accept-Language: en-US,en;q=0.9\r\n"
    "Connection: keep-alive\r\n"
    "X-Api-Key: k-8f14e45fceea167a5a36dedd4bea2543\r\n"
    "X-Request-Id: 3f2b9c1e-7d4a-4e8b-9f6a-2c1d0e5b7a99\r\n"
    "\r\n";
constexpr std::string_view api_key = "k-8f14e45fceea167a5a36dedd4bea2543";

rule make_rule(std::string name, std::vector<std::string> methods, std::string path,
               std::string prefix, std::string host = "", bool by_api_key = false) {
    rule r;
    r.name = std::move(name);
    r.match.methods = std::move(methods);
    r.match.path = std::move(path);
    r.match.path_prefix = std::move(prefix);
    r.match.host = std::move(host);
    if (by_api_key) r.key = *key_source::parse("header:X-Api-Key");
    r.limit = 100;
    r.burst = 100;
    r.window = 60s;
    return r;
}

// Ten rules as an API's rules file has them: exact paths for the sensitive endpoints, prefixes
// by method for the API, a host of its own. typical_get matches two of them (api-read, orders).
const rule_set& ten_rules() {
    static const rule_set set({
        make_rule("login", {"POST"}, "/login", ""),
        make_rule("signup", {"POST"}, "/signup", ""),
        make_rule("password-reset", {"POST"}, "/password/reset", ""),
        make_rule("api-read", {"GET", "HEAD"}, "", "/api/v1/"),
        make_rule("api-write", {"POST", "PUT", "PATCH", "DELETE"}, "", "/api/v1/"),
        make_rule("orders", {}, "", "/api/v1/orders", "", true),
        make_rule("search", {"GET"}, "", "/api/v1/search"),
        make_rule("uploads", {"POST", "PUT"}, "", "/upload/"),
        make_rule("admin", {}, "", "/admin/"),
        make_rule("partner", {}, "", "", "partner.example.com", true),
    });
    return set;
}

void BM_rule_match_10_rules(benchmark::State& state) {
    const rule_set& rules = ten_rules();
    std::vector<std::uint32_t> matched;
    rules.match("GET", "api.example.com", "/api/v1/orders?id=42", matched);
    const no_allocation guard;
    for (auto _ : state) {
        rules.match("GET", "api.example.com", "/api/v1/orders?id=42", matched);
        benchmark::DoNotOptimize(matched.data());
    }
    guard.check(state);
    state.SetItemsProcessed(state.iterations());
    state.SetLabel(std::to_string(matched.size()) + " of 10 match");
}
BENCHMARK(BM_rule_match_10_rules);

// A request no rule names: every rule is looked at and none applies.
void BM_rule_match_10_rules_none(benchmark::State& state) {
    const rule_set& rules = ten_rules();
    std::vector<std::uint32_t> matched;
    rules.match("GET", "www.example.com:8080", "/static/app.js", matched);
    const no_allocation guard;
    for (auto _ : state) {
        rules.match("GET", "www.example.com:8080", "/static/app.js", matched);
        benchmark::DoNotOptimize(matched.data());
    }
    guard.check(state);
    state.SetItemsProcessed(state.iterations());
    state.SetLabel(std::to_string(matched.size()) + " of 10 match");
}
BENCHMARK(BM_rule_match_10_rules_none);

// The identity and the Redis key of one client, as a scratch holds them.
void key_build(benchmark::State& state, const client_identifier& id, const ip_address& peer,
               std::span<const std::string_view> forwarded_for, std::string_view header_value) {
    identity_buffer identity;
    std::string key;
    auto build = [&] {
        const std::string_view client = id.identify(peer, forwarded_for, header_value, identity);
        sliding_log_limiter::make_key(key, "sluice:", client);
    };
    build();
    const no_allocation guard;
    for (auto _ : state) {
        build();
        benchmark::DoNotOptimize(key.data());
    }
    guard.check(state);
    state.SetItemsProcessed(state.iterations());
    state.SetLabel(key);
}

// --key ip, the peer itself: "sluice:{ip:203.0.113.42}:log".
void BM_key_ip(benchmark::State& state) {
    const client_identifier id(*key_source::parse("ip"), trusted_proxies{});
    key_build(state, id, *ip_address::parse("203.0.113.42"), {}, {});
}
BENCHMARK(BM_key_ip);

// --key ip behind a trusted load balancer: the client is read from X-Forwarded-For.
void BM_key_ip_forwarded(benchmark::State& state) {
    trusted_proxies trusted;
    trusted.add(sluice::core::cidr::parse("10.0.0.0/8").range);
    const client_identifier id(*key_source::parse("ip"), std::move(trusted));
    const std::array<std::string_view, 1> xff = {"198.51.100.4, 10.0.0.3"};
    key_build(state, id, *ip_address::parse("10.0.0.7"), xff, {});
}
BENCHMARK(BM_key_ip_forwarded);

// --key header:X-Api-Key: "sluice:{key:k-8f14...}:log".
void BM_key_header(benchmark::State& state) {
    const client_identifier id(*key_source::parse("header:X-Api-Key"), trusted_proxies{});
    key_build(state, id, *ip_address::parse("203.0.113.42"), {}, api_key);
}
BENCHMARK(BM_key_header);

// The 429 of a rejected request as gateway_handler::decide writes it with --headers both: Date
// (the gateway formats it once a second, here once), Content-Type, Retry-After, the
// X-RateLimit-* and RateLimit-Policy/RateLimit fields, and the JSON body, head and body
// serialized into one warm buffer.
struct rejection {
    sluice::http::response res;
    std::string out;
    char body[sluice::core::rejection_body_capacity];
    char policy[sluice::core::ratelimit_member_capacity];
    char state[sluice::core::ratelimit_member_capacity];

    void write(std::int64_t retry_after_ms, std::int64_t reset_ms) {
        using namespace sluice::core;
        constexpr std::int64_t limit = 100;
        constexpr std::chrono::milliseconds window = 60s;
        out.clear();
        res.clear();
        res.set_status(429);
        res.add_header("Date", "Tue, 01 Dec 2026 12:00:00 GMT");
        res.add_header("X-RateLimit-Limit", limit);
        res.add_header("RateLimit-Policy",
                       format_ratelimit_policy(policy, "default", limit, window));
        res.add_header("Content-Type", "application/json");
        const std::int64_t retry_after = std::max<std::int64_t>(1, ceil_seconds(retry_after_ms));
        res.add_header("Retry-After", retry_after);
        res.add_header("X-RateLimit-Remaining", std::int64_t{0});
        res.add_header("X-RateLimit-Reset", ceil_seconds(reset_ms));
        res.add_header("RateLimit", format_ratelimit(state, "default", 0, retry_after));
        res.set_body(format_rejection_body(body, {}, limit, window, retry_after_ms));
        res.write_head(out, sluice::http::connection_header::none);
        out.append(res.body());
    }
};

void BM_write_429(benchmark::State& state) {
    rejection r;
    r.write(12'345, 59'000);
    const no_allocation guard;
    std::int64_t n = 0;
    for (auto _ : state) {
        r.write(1'000 + n % 59'000, 59'000);
        benchmark::DoNotOptimize(r.out.data());
        ++n;
    }
    guard.check(state);
    state.SetItemsProcessed(state.iterations());
    state.SetLabel(std::to_string(r.out.size()) + " B head and body");
}
BENCHMARK(BM_write_429);

// The one EVALSHA of core/decide.lua a shard sends for the N checks of a loop turn: N clients
// under one rule, the rule's arguments serialized once and named once.
void BM_encode_batch(benchmark::State& state) {
    const auto n = static_cast<std::size_t>(state.range(0));
    const sluice::resp::script decide{"-- decide"};
    const sluice::core::batch_rule rule{
        sluice::core::algorithm::sliding_log, 100, 60'000ms, 0, 1, false};
    const sluice::core::batch_rule* rules[] = {&rule};
    const std::uint8_t order = 0;
    std::vector<std::string> keys(n);
    std::vector<sluice::core::rule_decision> decisions(n);
    std::vector<sluice::core::batch_check> checks(n);
    for (std::size_t i = 0; i < n; ++i) {
        sliding_log_limiter::make_key(keys[i], "sluice:", "key:k" + std::to_string(i * 7919));
        checks[i].count = 1;
        checks[i].order = &order;
        checks[i].keys = &keys[i];
        checks[i].rules = rules;
        checks[i].decisions = &decisions[i];
    }
    sluice::core::batch_encoder encoder;
    sluice::resp::request req;
    auto one = [&] {
        encoder.clear();
        for (auto& c : checks)
            encoder.add(c);
        encoder.encode(decide, req);
    };
    one();
    const no_allocation guard;
    for (auto _ : state) {
        one();
        benchmark::DoNotOptimize(req.payload().data());
    }
    guard.check(state);
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(n));
    state.SetLabel(std::to_string(req.payload().size()) + " B per call");
}
BENCHMARK(BM_encode_batch)->Arg(1)->Arg(8)->Arg(64);

// The lookup that answers a client known to be over its limit without Redis (a hit), and the
// one every other request pays (a miss), in a default-sized table holding 4,000 blocked clients.
void BM_blocked_cache_lookup(benchmark::State& state) {
    const bool hit = state.range(0) == 1;
    sluice::core::blocked_cache cache{4096};
    const auto now = sluice::core::blocked_cache::clock::now();
    std::vector<std::string> keys(4000);
    for (std::size_t i = 0; i < keys.size(); ++i) {
        sliding_log_limiter::make_key(keys[i], "sluice:", "key:k" + std::to_string(i));
        if (hit) cache.insert(keys[i], {now + 1h, now + 1h, now + 1h}, now);
    }
    const no_allocation guard;
    std::size_t i = 0, found = 0;
    for (auto _ : state) {
        found += cache.find(keys[i], now) != nullptr;
        i = i + 1 == keys.size() ? 0 : i + 1;
    }
    guard.check(state);
    benchmark::DoNotOptimize(found);
    state.SetItemsProcessed(state.iterations());
    state.SetLabel(hit ? "hit" : "miss");
}
BENCHMARK(BM_blocked_cache_lookup)->Arg(1)->Arg(0);

// Every step above in the order the gateway takes them, for a client the blocked-client cache
// knows is over its limit: parse, match, identify by X-Api-Key, key, cache lookup, 429. The whole
// work of a hot-key rejection but the read and the write.
void BM_rejected_request_path(benchmark::State& state) {
    const rule_set& rules = ten_rules();
    const client_identifier id(*key_source::parse("header:X-Api-Key"), trusted_proxies{});
    const ip_address peer = *ip_address::parse("203.0.113.42");
    sluice::core::blocked_cache cache{4096};
    sluice::http::request_parser parser;
    std::vector<std::uint32_t> matched;
    identity_buffer identity;
    std::string key;
    rejection r;
    bool inserted = false;
    auto one = [&] {
        if (parser.parse(typical_get).status != sluice::http::parse_status::ready) return false;
        const sluice::http::request& h = parser.current();
        rules.match(h.method, h.header("host"), h.target, matched);
        const std::string_view client = id.identify(peer, {}, h.header("x-api-key"), identity);
        sliding_log_limiter::make_key(key, "sluice:", client, ":orders:log");
        const auto now = sluice::core::blocked_cache::clock::now();
        if (!inserted) {
            cache.insert(key, {now + 1h, now + 1h, now + 1h}, now);
            inserted = true;
        }
        const auto* e = cache.find(key, now);
        if (e == nullptr) return false;
        const auto d = sluice::core::from_blocked(*e, now);
        r.write(d.retry_after_ms, d.reset_ms);
        return true;
    };
    if (!one()) {
        state.SkipWithError("request did not parse");
        return;
    }
    const no_allocation guard;
    for (auto _ : state) {
        if (!one()) {
            state.SkipWithError("request did not parse");
            return;
        }
        benchmark::DoNotOptimize(r.out.data());
    }
    guard.check(state);
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_rejected_request_path);

}  // namespace
