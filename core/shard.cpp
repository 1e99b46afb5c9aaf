#include "core/shard.hpp"

#include <arpa/inet.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <charconv>
#include <cstring>
#include <ctime>
#include <exception>

#include "core/forward_auth.hpp"
#include "core/log.hpp"
#include "core/ratelimit_headers.hpp"
#include "http/request_writer.hpp"
#include "resp/script.hpp"

namespace sluice::core {

namespace {

constexpr auto nothrow = asio::experimental::as_tuple(asio::use_awaitable);

// SO_REUSEPORT: several sockets bound to one address, the kernel hashing each new connection to
// one of them. Asio has no option type for it.
using reuse_port = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

constexpr std::string_view json = "application/json";
constexpr std::string_view ok_body = R"({"status":"ok"})";
constexpr std::string_view unavailable_body = R"({"error":"limiter_unavailable"})";
// Without rules, the flags make one, and this is its name in the IETF fields.
constexpr std::string_view default_rule = "default";

resp::connection_config redis_config(const config& cfg) {
    auto rc = resp::connection_config::from_url(cfg.redis);
    // /readyz must see an outage within 3 s and a recovery within 5 s: a silent Redis is found by
    // the health check in at most interval + timeout, a returning one by the next reconnect.
    rc.connect_timeout = std::chrono::milliseconds(1000);
    rc.health_interval = std::chrono::milliseconds(1000);
    rc.health_timeout = std::chrono::milliseconds(1000);
    rc.reconnect_min = std::chrono::milliseconds(50);
    rc.reconnect_max = std::chrono::milliseconds(1000);
    rc.poll_budget = cfg.redis_poll;
    // An address from Sentinel may be a primary demoted since: only a primary is written to.
    rc.require_primary = !cfg.redis_sentinels.empty();
    return rc;
}

// The upstream's name is resolved once, at start: a name that fails to resolve is a start-up
// error, not a 502 per request.
std::unique_ptr<upstream_pool> make_upstream(asio::io_context& ctx, const config& cfg) {
    if (!cfg.upstream) return nullptr;
    asio::ip::tcp::resolver resolver{ctx};
    const auto results = resolver.resolve(cfg.upstream->host, std::to_string(cfg.upstream->port),
                                          asio::ip::resolver_base::numeric_service);
    upstream_settings settings;
    settings.endpoint = results.begin()->endpoint();
    settings.connect_timeout = cfg.upstream_connect_timeout;
    settings.max_idle = cfg.upstream_max_idle;
    settings.idle_timeout = cfg.upstream_idle_timeout;
    return std::make_unique<upstream_pool>(ctx.get_executor(), settings);
}

limit_policy policy_of(const config& cfg) {
    limit_policy p;
    p.algorithm = cfg.algorithm;
    p.limit = cfg.limit;
    p.window = cfg.window;
    p.key_prefix = cfg.key_prefix;
    // The rule the flags make is named "default"; the sliding log keeps the key it always had.
    switch (cfg.algorithm) {
        case algorithm::sliding_log:
        case algorithm::none:
            p.key_suffix = ":log";
            break;
        case algorithm::fixed_window:
            p.key_suffix = ":default:fw";
            break;
        case algorithm::sliding_window:
            p.key_suffix = ":default:sw";
            break;
        case algorithm::token_bucket:
            p.key_suffix = ":default:tb";
            p.burst = cfg.burst.value_or(cfg.limit);
            break;
    }
    return p;
}

}  // namespace

std::unique_ptr<resp::sentinel_watcher> make_sentinel(asio::io_context& ctx, const config& cfg) {
    if (cfg.redis_sentinels.empty()) return nullptr;
    resp::sentinel_config sc;
    sc.master = cfg.redis_master;
    for (const resp::redis_url& seed : cfg.redis_sentinels) {
        resp::connection_config c = redis_config(cfg);
        c.host = seed.host;
        c.port = seed.port;
        c.user = seed.user;
        c.password = seed.password;
        c.require_primary = false;
        c.poll_budget = std::chrono::microseconds(0);  // a few requests every few seconds
        c.max_in_flight = 16;
        sc.sentinels.push_back(std::move(c));
    }
    return std::make_unique<resp::sentinel_watcher>(ctx.get_executor(), std::move(sc));
}

std::unique_ptr<resp::cluster_client> make_cluster(asio::io_context& ctx, const config& cfg) {
    if (cfg.redis_cluster.empty()) return nullptr;
    resp::cluster_config cc;
    cc.node = redis_config(cfg);
    // Every node takes the first seed's credentials: a cluster's nodes share their ACL setup.
    cc.node.user = cfg.redis_cluster.front().user;
    cc.node.password = cfg.redis_cluster.front().password;
    cc.node.db = 0;
    for (const resp::redis_url& seed : cfg.redis_cluster) {
        cc.seeds.push_back(cc.node);
        cc.seeds.back().host = seed.host;
        cc.seeds.back().port = seed.port;
    }
    return std::make_unique<resp::cluster_client>(ctx.get_executor(), std::move(cc));
}

ip_address to_ip(const asio::ip::address& a) noexcept {
    if (a.is_v4()) return ip_address::from_v4(a.to_v4().to_bytes());
    return ip_address::from_v6(a.to_v6().to_bytes());
}

// ---------------------------------------------------------------------------------------------
// gateway_handler

gateway_handler::gateway_handler(const config& cfg, sliding_log_limiter& limiter,
                                 shard_metrics& metrics, upstream_pool* upstream,
                                 const std::shared_ptr<rules_version>* rules)
    : cfg_{cfg},
      limiter_{limiter},
      metrics_{metrics},
      upstream_{upstream},
      rules_{rules},
      identifier_{cfg.key, cfg.trusted} {}

std::string_view gateway_handler::scratch::number(int slot, std::int64_t v) noexcept {
    char* b = numbers[slot];
    return {b, static_cast<std::size_t>(std::to_chars(b, b + sizeof numbers[slot], v).ptr - b)};
}

std::string_view gateway_handler::scratch::rejection_body(std::string_view rule, std::int64_t limit,
                                                          std::chrono::milliseconds window,
                                                          std::int64_t retry_after_ms) noexcept {
    return format_rejection_body(body, rule, limit, window, retry_after_ms);
}

asio::awaitable<void> gateway_handler::relay_allowed(const http::request& req,
                                                     const asio::ip::tcp::endpoint& peer,
                                                     http::response& res,
                                                     http::response_stream& out,
                                                     http::request_body& body, scratch& s) {
    res.clear();
    res.add_header("Date", date());
    for (std::size_t i = 0; i < s.extra_count; ++i)
        res.add_header(s.extra[i].name, s.extra[i].value);
    co_await proxy(req, peer, res, out, body, {s.extra.data(), s.extra_count});
}

std::unique_ptr<gateway_handler::scratch> gateway_handler::acquire() {
    if (pool_.empty()) {
        return std::make_unique<scratch>();
    }
    auto s = std::move(pool_.back());
    pool_.pop_back();
    return s;
}

void gateway_handler::release(std::unique_ptr<scratch> s) {
    pool_.push_back(std::move(s));
}

std::string_view gateway_handler::date() noexcept {
    const std::time_t now = std::time(nullptr);
    if (now != date_second_) {
        std::tm tm{};
        gmtime_r(&now, &tm);
        date_length_ = std::strftime(date_, sizeof date_, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        date_second_ = now;
    }
    return {date_, date_length_};
}

asio::awaitable<void> gateway_handler::handle(const http::request& req,
                                              const asio::ip::tcp::endpoint& peer,
                                              http::response& res) {
    co_await decide(req, peer, res, nullptr, nullptr);
}

asio::awaitable<void> gateway_handler::handle(const http::request& req,
                                              const asio::ip::tcp::endpoint& peer,
                                              http::response& res, http::response_stream& out,
                                              http::request_body& body) {
    co_await decide(req, peer, res, upstream_ != nullptr ? &out : nullptr, &body);
}

std::size_t gateway_handler::forwarded_for(const http::request& req,
                                           std::array<std::string_view, 8>& out) const noexcept {
    // X-Forwarded-For only matters behind a trusted proxy. Keep the last fields: those are the
    // ones our own proxies appended.
    std::size_t n = 0;
    if (identifier_.trusted().empty()) return n;
    for (const auto& h : req.fields()) {
        if (!http::iequals(h.name, "x-forwarded-for")) continue;
        if (n == out.size()) {
            std::move(out.begin() + 1, out.end(), out.begin());
            --n;
        }
        out[n++] = h.value;
    }
    return n;
}

asio::awaitable<void> gateway_handler::decide(const http::request& req,
                                              const asio::ip::tcp::endpoint& peer,
                                              http::response& res, http::response_stream* out,
                                              http::request_body* body) {
    if (rules_ != nullptr) {
        co_await decide_rules(req, peer, res, out, body);
        co_return;
    }
    if (cfg_.algorithm == algorithm::none) {
        // No limiter: served at once, without rate-limit fields, since nothing was counted.
        metrics_.unlimited.add();
        res.add_header("Date", date());
        if (out != nullptr) {
            co_await proxy(req, peer, res, *out, *body, {});
        } else if (!cfg_.forward_auth) {
            res.add_header("Content-Type", json);
            res.set_body(ok_body);
        }
        co_return;
    }
    auto s = acquire();
    s->extra_count = 0;
    auto extra = [&](std::string_view name, std::string_view value) { s->add_extra(name, value); };
    auto text = [&](int slot, std::int64_t v) { return s->number(slot, v); };

    std::array<std::string_view, 8> forwarded;
    const std::size_t nforwarded = forwarded_for(req, forwarded);
    std::string_view header_value;
    if (cfg_.key.type == key_source::kind::header) header_value = req.header(cfg_.key.header);
    std::string_view client = identifier_.identify(
        to_ip(peer.address()), {forwarded.data(), nforwarded}, header_value, s->identity);

    if (cfg_.forward_auth) {
        // Rules will match on method, host and URI; with one rule they only tell the proxy's
        // setup apart.
        const original_request original = original_request_of(req);
        metrics_.forward_auth[static_cast<std::size_t>(original.source)].add();
    }

    decision d;
    std::error_code ec = co_await limiter_.check(client, s->limiter, d);

    const bool legacy = sends_legacy(cfg_.headers);
    const bool ietf = sends_ietf(cfg_.headers);
    res.add_header("Date", date());
    // An allowed forward-auth answer has no body, so nothing to type.
    const bool empty_ok = cfg_.forward_auth;
    if (legacy) {
        res.add_header("X-RateLimit-Limit", std::int64_t{cfg_.limit});
        extra("X-RateLimit-Limit", text(0, cfg_.limit));
    }
    if (ietf) {
        const std::string_view policy =
            format_ratelimit_policy(s->policy, default_rule, cfg_.limit, cfg_.window);
        res.add_header("RateLimit-Policy", policy);
        extra("RateLimit-Policy", policy);
    }
    bool forward = false;
    if (ec) {
        metrics_.errors.add();
        if (cfg_.redis_failure == redis_failure::deny) {
            res.set_status(503);
            res.add_header("Content-Type", json);
            res.set_body(unavailable_body);
        } else {
            metrics_.failed_open.add();
            forward = out != nullptr;
            if (!empty_ok) {
                res.add_header("Content-Type", json);
                res.set_body(ok_body);
            }
        }
    } else if (d.allowed) {
        metrics_.allowed.add();
        const std::int64_t reset = ceil_seconds(d.reset_ms);
        forward = out != nullptr;
        if (legacy) {
            res.add_header("X-RateLimit-Remaining", d.remaining);
            res.add_header("X-RateLimit-Reset", reset);
            extra("X-RateLimit-Remaining", text(1, d.remaining));
            extra("X-RateLimit-Reset", text(2, reset));
        }
        if (ietf) {
            const std::string_view state =
                format_ratelimit(s->state, default_rule, d.remaining, reset);
            res.add_header("RateLimit", state);
            extra("RateLimit", state);
        }
        if (!empty_ok) {
            res.add_header("Content-Type", json);
            res.set_body(ok_body);
        }
    } else {
        metrics_.rejected.add();
        res.set_status(cfg_.deny_status);
        res.add_header("Content-Type", json);
        const std::int64_t retry_after = std::max<std::int64_t>(1, ceil_seconds(d.retry_after_ms));
        res.add_header("Retry-After", retry_after);
        if (legacy) {
            res.add_header("X-RateLimit-Remaining", std::int64_t{0});
            res.add_header("X-RateLimit-Reset", ceil_seconds(d.reset_ms));
        }
        if (ietf) {
            res.add_header("RateLimit",
                           format_ratelimit(s->state, default_rule, std::int64_t{0}, retry_after));
        }
        res.set_body(s->rejection_body({}, cfg_.limit, cfg_.window, d.retry_after_ms));
    }
    if (forward) co_await relay_allowed(req, peer, res, *out, *body, *s);
    // The fields and the body may point into `s`: the server writes the head and copies the body
    // as soon as this coroutine returns, before any other coroutine of this loop runs and could
    // take `s` from the pool.
    release(std::move(s));
}

// With --config (README "Rules file"): every rule that matches applies; the request is allowed
// only if each one without shadow allows it. Shadow rules are decided and counted but stay out of
// the answer: neither its status nor its fields show them, so a shadow run changes nothing a
// client sees.
asio::awaitable<void> gateway_handler::decide_rules(const http::request& req,
                                                    const asio::ip::tcp::endpoint& peer,
                                                    http::response& res, http::response_stream* out,
                                                    http::request_body* body) {
    // This request's version, whatever a reload installs meanwhile.
    const std::shared_ptr<rules_version> version = *rules_;
    rule_limiter& limiter = version->limiter;
    auto s = acquire();
    rules_scratch& rs = s->rules;
    if (s->rules_generation != version->generation) {
        // Sized for this version's rules: once per pooled scratch and version.
        limiter.prepare(rs);
        s->rules_generation = version->generation;
    }
    const std::span<const rule> rules = version->rules.rules();
    std::string_view method = req.method, host = req.header("host"), target = req.target;
    if (cfg_.forward_auth) {
        // The call asks about another request: that one's method, host and URI are matched.
        const original_request original = original_request_of(req);
        metrics_.forward_auth[static_cast<std::size_t>(original.source)].add();
        method = original.method;
        host = original.host;
        target = original.uri;
    }
    const bool fits = limiter.match(method, host, target, rs);
    res.add_header("Date", date());
    // An allowed forward-auth answer has no body, so nothing to type.
    const bool empty_ok = cfg_.forward_auth;
    if (rs.count == 0) {
        // No rule applies: served without a limiter call and without rate-limit fields.
        metrics_.unlimited.add();
        release(std::move(s));
        if (out != nullptr) {
            co_await proxy(req, peer, res, *out, *body, {});
        } else if (!empty_ok) {
            res.add_header("Content-Type", json);
            res.set_body(ok_body);
        }
        co_return;
    }

    std::array<std::string_view, 8> forwarded;
    const std::size_t nforwarded = forwarded_for(req, forwarded);
    limiter.identify(
        to_ip(peer.address()), {forwarded.data(), nforwarded},
        [&](std::string_view name) { return req.header(name); }, rs);
    bool allowed = false;
    std::error_code ec = fits ? co_await limiter.check(rs, allowed) : bad_reply_error();

    // Per rule: its counters; and the rules the answer describes (without shadow): the one with
    // the fewest remaining, and of those that rejected, the one with the longest retry.
    constexpr std::size_t none = max_applying_rules;
    std::size_t fewest = none, longest = none, first = none;
    std::int64_t retry_after = 0;
    for (std::size_t k = 0; k < rs.count; ++k) {
        const rule& r = rules[rs.applying[k]];
        const rule_decision& d = rs.decisions[k];
        const std::size_t row = version->rows[rs.applying[k]];
        if (row < rule_rows::capacity) {
            rule_counters& c = metrics_.rules.rows[row];
            if (ec) {
                c.errors.add();
            } else if (d.allowed) {
                c.allowed.add();
            } else if (r.shadow) {
                c.shadow_rejected.add();
            } else {
                c.rejected.add();
            }
        }
        if (r.shadow) continue;
        if (first == none) first = k;
        if (fewest == none || d.remaining < rs.decisions[fewest].remaining) fewest = k;
        if (!d.allowed) {
            if (longest == none || d.retry_after_ms > rs.decisions[longest].retry_after_ms) {
                longest = k;
            }
            retry_after =
                std::max(retry_after, std::max<std::int64_t>(1, ceil_seconds(d.retry_after_ms)));
        }
    }

    s->extra_count = 0;
    auto extra = [&](std::string_view name, std::string_view value) { s->add_extra(name, value); };
    auto text = [&](int slot, std::int64_t v) { return s->number(slot, v); };
    // One list member per rule the answer shows, ", " between them.
    auto list = [&](char* buffer, std::size_t capacity, auto member) {
        std::size_t used = 0;
        for (std::size_t k = 0; k < rs.count; ++k) {
            const rule& r = rules[rs.applying[k]];
            if (r.shadow) continue;
            if (used != 0) {
                std::memcpy(buffer + used, ", ", 2);
                used += 2;
            }
            used += member({buffer + used, capacity - used}, r, rs.decisions[k]).size();
        }
        return std::string_view{buffer, used};
    };
    auto policy = [&] {
        return list(s->policy, sizeof s->policy, [](std::span<char> b, const rule& r, auto&) {
            return format_ratelimit_policy(b, r.name, r.limit, r.window);
        });
    };
    auto state = [&] {
        return list(s->state, sizeof s->state,
                    [](std::span<char> b, const rule& r, const rule_decision& d) {
                        return d.allowed ? format_ratelimit(b, r.name, d.remaining,
                                                            ceil_seconds(d.reset_ms))
                                         : format_ratelimit(b, r.name, 0,
                                                            std::max<std::int64_t>(
                                                                1, ceil_seconds(d.retry_after_ms)));
                    });
    };

    const bool legacy = sends_legacy(cfg_.headers) && first != none;
    const bool ietf = sends_ietf(cfg_.headers) && first != none;
    bool forward = false;
    if (ec) {
        metrics_.errors.add();
        if (legacy)
            res.add_header("X-RateLimit-Limit", std::int64_t{rules[rs.applying[first]].limit});
        if (ietf) res.add_header("RateLimit-Policy", policy());
        if (cfg_.redis_failure == redis_failure::deny) {
            res.set_status(503);
            res.add_header("Content-Type", json);
            res.set_body(unavailable_body);
        } else {
            metrics_.failed_open.add();
            forward = out != nullptr;
            if (legacy) extra("X-RateLimit-Limit", text(0, rules[rs.applying[first]].limit));
            if (ietf) extra("RateLimit-Policy", policy());
            if (!empty_ok) {
                res.add_header("Content-Type", json);
                res.set_body(ok_body);
            }
        }
    } else if (allowed) {
        metrics_.allowed.add();
        forward = out != nullptr;
        if (legacy) {
            const rule& r = rules[rs.applying[fewest]];
            const rule_decision& d = rs.decisions[fewest];
            const std::int64_t reset = ceil_seconds(d.reset_ms);
            res.add_header("X-RateLimit-Limit", std::int64_t{r.limit});
            res.add_header("X-RateLimit-Remaining", d.remaining);
            res.add_header("X-RateLimit-Reset", reset);
            extra("X-RateLimit-Limit", text(0, r.limit));
            extra("X-RateLimit-Remaining", text(1, d.remaining));
            extra("X-RateLimit-Reset", text(2, reset));
        }
        if (ietf) {
            const std::string_view p = policy(), st = state();
            res.add_header("RateLimit-Policy", p);
            res.add_header("RateLimit", st);
            extra("RateLimit-Policy", p);
            extra("RateLimit", st);
        }
        if (!empty_ok) {
            res.add_header("Content-Type", json);
            res.set_body(ok_body);
        }
    } else {
        metrics_.rejected.add();
        const rule& r = rules[rs.applying[longest]];
        const rule_decision& d = rs.decisions[longest];
        res.set_status(cfg_.deny_status);
        res.add_header("Content-Type", json);
        res.add_header("Retry-After", retry_after);
        if (legacy) {
            res.add_header("X-RateLimit-Limit", std::int64_t{r.limit});
            res.add_header("X-RateLimit-Remaining", std::int64_t{0});
            res.add_header("X-RateLimit-Reset", ceil_seconds(d.reset_ms));
        }
        if (ietf) {
            res.add_header("RateLimit-Policy", policy());
            res.add_header("RateLimit", state());
        }
        res.set_body(s->rejection_body(r.name, r.limit, r.window, d.retry_after_ms));
    }
    if (forward) co_await relay_allowed(req, peer, res, *out, *body, *s);
    // As in decide(): the fields and the body may point into `s` until the server has written
    // them, which it does before any other coroutine of this loop runs.
    release(std::move(s));
}

// ---------------------------------------------------------------------------------------------
// shard

shard::shard(const config& cfg, const limiter_scripts& scripts, unsigned index,
             const rule_set* rules)
    : ctx_{1},
      acceptor_{ctx_},
      redis_{ctx_.get_executor(), redis_config(cfg)},
      cluster_{make_cluster(ctx_, cfg)},
      sentinel_{make_sentinel(ctx_, cfg)},
      upstream_{make_upstream(ctx_, cfg)},
      cfg_{cfg},
      scripts_{scripts},
      batcher_{redis_,        cluster_.get(),      scripts.decide,
               cfg.batch_max, cfg.batch_in_flight, cfg.redis_timeout,
               metrics_},
      blocked_{rules == nullptr ? cfg.blocked_cache_size : 0},
      limiter_{batcher_, policy_of(cfg), blocked_, metrics_},
      serves_rules_{rules != nullptr},
      rules_{rules == nullptr ? nullptr : make_version(nullptr, *rules, 1)},
      handler_{cfg, limiter_, metrics_, upstream_.get(), rules == nullptr ? nullptr : &rules_},
      control_{ctx_.get_executor()} {
    redis_.preload(scripts.decide);
    if (rules != nullptr) redis_.preload(scripts.give_back);
    if (cluster_) {
        cluster_->preload(scripts.decide);
        if (rules != nullptr) cluster_->preload(scripts.give_back);
        cluster_->on_event(
            [index, failure = cfg.redis_failure](std::string_view node, const resp::link_event& e) {
                log_line(describe_link_event(index, e, node, failure));
            });
        cluster_->on_topology([index](const std::string& error) {
            log_line("shard " + std::to_string(index) + ": Redis Cluster topology " +
                     (error.empty() ? "known again" : "unknown: " + error));
        });
    }
    limits_.parser.max_body_bytes = cfg.max_body;
    limits_.idle_timeout = cfg.idle_timeout;
    // A forwarded body passes through as it arrives; the built-in API reads it whole.
    limits_.parser.stream_bodies = cfg.upstream.has_value();
    // An operator watching the terminal must see when limiting is off, and when it is back.
    const bool v6 = cfg.redis.host.find(':') != std::string::npos;
    std::string address =
        (v6 ? "[" + cfg.redis.host + "]" : cfg.redis.host) + ":" + std::to_string(cfg.redis.port);
    if (sentinel_) {
        // The address changes with each failover: name the primary as Sentinel knows it.
        address = cfg.redis_master + " via Sentinel";
        sentinel_->on_primary(
            [this, index, name = cfg.redis_master](const resp::primary_address& a) {
                log_line("sluice: shard " + std::to_string(index) + ": Redis primary " + name +
                         " is now " + resp::to_string(a) + " (Sentinel)");
                redis_.retarget(a.host, a.port);
            });
        sentinel_->on_trouble([index](const std::string& error) {
            log_line("sluice: shard " + std::to_string(index) + ": Sentinel " +
                     (error.empty() ? "answers again" : "cannot locate the primary: " + error));
        });
    }
    redis_.on_event([index, address = std::move(address),
                     failure = cfg.redis_failure](const resp::link_event& e) {
        log_line(describe_link_event(index, e, address, failure));
    });
}

shard::~shard() = default;

std::shared_ptr<rules_version> shard::make_version(std::shared_ptr<const rule_set> owned,
                                                   const rule_set& set, std::uint64_t generation) {
    auto v = std::make_shared<rules_version>(
        std::move(owned), set, generation,
        rule_limiter{batcher_, redis_, cluster_.get(), scripts_.give_back, set, cfg_.key_prefix,
                     cfg_.trusted, cfg_.redis_timeout, cfg_.blocked_cache_size, metrics_});
    v->rows.reserve(set.size());
    for (const rule& r : set.rules())
        v->rows.push_back(metrics_.rules.row_for(r.name));
    return v;
}

void shard::install_rules(std::shared_ptr<const rule_set> rules, std::uint64_t generation) {
    asio::post(ctx_, [this, rules = std::move(rules), generation]() mutable {
        if (!serves_rules_) return;
        const rule_set& set = *rules;
        rules_ = make_version(std::move(rules), set, generation);
    });
}

asio::ip::tcp::endpoint shard::listen(const asio::ip::tcp::endpoint& at) {
    acceptor_.open(at.protocol());
    acceptor_.set_option(asio::ip::tcp::acceptor::reuse_address(true));
    acceptor_.set_option(reuse_port(true));
    acceptor_.bind(at);
    acceptor_.listen(asio::socket_base::max_listen_connections);
    accepting_ = true;
    return acceptor_.local_endpoint();
}

void shard::run() {
    if (cluster_) {
        cluster_->start();
    } else if (sentinel_) {
        // Requests wait for the first address like for a connect, within --redis-timeout.
        redis_.start_untargeted();
        sentinel_->start();
    } else {
        redis_.start();
    }
    if (upstream_) upstream_->start();
    if (accepting_) asio::co_spawn(ctx_, accept_loop(), asio::detached);
    ctx_.run();
}

asio::awaitable<void> shard::accept_loop() {
    asio::steady_timer backoff{ctx_};
    while (acceptor_.is_open()) {
        auto [ec, socket] = co_await acceptor_.async_accept(nothrow);
        if (!ec) {
            // Accepted, even if the listener closed since: this client is connected and owed an
            // answer like any other (see adopt_backlog()).
            metrics_.connections_opened.add();
            asio::co_spawn(ctx_, serve(std::move(socket)), [](std::exception_ptr) {});
            continue;
        }
        if (ec == asio::error::operation_aborted || !acceptor_.is_open()) break;
        {
            // Out of descriptors or memory: the backlog keeps the connection for a moment, and
            // spinning on accept would only burn the core that should be freeing them.
            backoff.expires_after(std::chrono::milliseconds(10));
            co_await backoff.async_wait(nothrow);
        }
    }
}

asio::awaitable<void> shard::serve(asio::ip::tcp::socket socket) {
    struct closed {
        shard_metrics& m;
        ~closed() { m.connections_closed.add(); }
    } on_exit{metrics_};
    co_await http::serve_connection(std::move(socket), handler_, limits_, control_);
}

void shard::shutdown(std::chrono::milliseconds grace) {
    asio::post(ctx_, [this, grace] {
        control_.stop();
        adopt_backlog();
        std::error_code ignored;
        acceptor_.close(ignored);
        asio::co_spawn(ctx_, drain(grace), asio::detached);
    });
}

// The connections the kernel completed in the listen backlog but the shard had not accepted yet:
// their clients are connected and may have sent a request. Closing the listener would reset them
// unanswered, so they are accepted now and served like the connections in flight: a request
// already sent is answered (with Connection: close), a connection that sent nothing is closed.
void shard::adopt_backlog() {
    if (!acceptor_.is_open()) return;
    std::error_code ec;
    acceptor_.non_blocking(true, ec);
    while (!ec) {
        asio::ip::tcp::socket socket{ctx_};
        acceptor_.accept(socket, ec);
        if (ec) break;
        metrics_.connections_opened.add();
        asio::co_spawn(ctx_, serve(std::move(socket)), [](std::exception_ptr) {});
    }
}

asio::awaitable<void> shard::drain(std::chrono::milliseconds grace) {
    using namespace asio::experimental::awaitable_operators;
    asio::steady_timer timer{ctx_};
    timer.expires_after(grace);
    co_await (control_.wait_closed() || timer.async_wait(nothrow));
    if (control_.active() != 0) {
        control_.abort();
        if (upstream_) upstream_->abort();
        co_await control_.wait_closed();
    }
    if (upstream_) upstream_->stop();
    if (cluster_) cluster_->stop();
    if (sentinel_) sentinel_->stop();
    redis_.stop();
}

redis_view shard::redis_stats() const noexcept {
    redis_view v;
    const auto add = [&v](const resp::connection& c) {
        const auto& s = c.stats();
        v.replies += s.replies.get();
        v.health_checks += s.health_checks.get();
        v.writes += s.writes.get();
        v.timeouts += s.timeouts.get();
        v.failed_fast += s.failed_fast.get();
        v.waited += s.waited.get();
        v.connects += s.connects.get();
        v.reconnects += s.reconnects.get();
        v.disconnects += s.disconnects.get();
        v.script_loads += s.script_loads.get();
        v.noscript_retries += s.noscript_retries.get();
        v.poll_hits += s.poll_hits.get();
        v.poll_misses += s.poll_misses.get();
    };
    if (!cluster_) {
        add(redis_);
        v.connected = redis_.connected();
        if (sentinel_) {
            v.sentinel = true;
            v.primary_changes = sentinel_->stats().changes.get();
            v.sentinel_failures = sentinel_->stats().failures.get();
        }
        return v;
    }
    cluster_->for_each_node(add);
    const resp::cluster_stats& c = cluster_->stats();
    v.connected = cluster_->ready();
    v.cluster = true;
    v.cluster_nodes = cluster_->nodes();
    v.moved = c.moved.get();
    v.ask = c.ask.get();
    v.tryagain = c.tryagain.get();
    v.clusterdown = c.clusterdown.get();
    v.refreshes = c.refreshes.get();
    v.refresh_failures = c.refresh_failures.get();
    v.node_errors = c.node_errors.get();
    return v;
}

upstream_view shard::upstream_stats() const noexcept {
    upstream_view v;
    if (!upstream_) return v;
    const upstream_pool_stats& s = upstream_->stats();
    v.opened = s.opened.get();
    v.reused = s.reused.get();
    v.idle_closed = s.idle_closed.get();
    v.overflow_closed = s.overflow_closed.get();
    v.idle = s.idle.load(std::memory_order_relaxed);
    v.busy = s.busy.load(std::memory_order_relaxed);
    return v;
}

}  // namespace sluice::core
