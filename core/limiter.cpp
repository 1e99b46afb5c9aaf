#include "core/limiter.hpp"

#include <algorithm>

#include "core/batcher.hpp"
#include "core/metrics.hpp"

namespace sluice::core {

namespace {

class limiter_category_impl : public std::error_category {
  public:
    const char* name() const noexcept override { return "limiter"; }
    std::string message(int) const override {
        return "the limiter script's reply does not have the shape core/decide.lua returns";
    }
};

// The position of the flags' one rule in each of a check's arrays.
constexpr std::uint8_t only = 0;

}  // namespace

std::error_code bad_reply_error() noexcept {
    static const limiter_category_impl category;
    return {1, category};
}

void remember_blocked(blocked_cache& cache, std::string_view key, const rule_decision& d,
                      blocked_cache::clock::time_point sent, shard_metrics& metrics) noexcept {
    blocked_cache::entry e;
    if (!cache.enabled() || !blocked_entry_of(sent, d.retry_after_ms, d.reset_ms, e)) return;
    if (cache.insert(key, e, sent)) metrics.blocked_evictions.add();
    metrics.blocked_inserts.add();
}

rule_decision from_blocked(const blocked_cache::entry& e,
                           blocked_cache::clock::time_point now) noexcept {
    rule_decision d;
    d.allowed = false;
    d.remaining = 0;
    d.reset_ms = remaining_ms(e.reset_at, now);
    d.retry_after_ms = std::max<std::int64_t>(1, remaining_ms(e.retry_at, now));
    return d;
}

sliding_log_limiter::sliding_log_limiter(batcher& b, limit_policy policy, blocked_cache& cache,
                                         shard_metrics& metrics)
    : batcher_{b},
      policy_{std::move(policy)},
      rule_{policy_.algorithm, policy_.limit, policy_.window, policy_.burst, 1, false},
      cache_{cache},
      metrics_{metrics} {}

void sliding_log_limiter::make_key(std::string& out, std::string_view prefix,
                                   std::string_view client, std::string_view suffix) {
    out.clear();
    out.append(prefix);
    out.push_back('{');
    out.append(client);
    out.push_back('}');
    out.append(suffix);
}

asio::awaitable<std::error_code> sliding_log_limiter::check(std::string_view client,
                                                            limiter_scratch& scratch,
                                                            decision& out) {
    make_key(scratch.key, policy_.key_prefix, client, policy_.key_suffix);
    out = decision{};
    if (cache_.enabled()) {
        const auto now = blocked_cache::clock::now();
        if (const blocked_cache::entry* e = cache_.find(scratch.key, now)) {
            metrics_.blocked_hits.add();
            const rule_decision d = from_blocked(*e, now);
            out = {false, 0, d.reset_ms, d.retry_after_ms, true};
            co_return std::error_code{};
        }
    }
    const batch_rule* rule = &rule_;
    batch_check c;
    c.count = 1;
    c.order = &only;
    c.keys = &scratch.key;
    c.rules = &rule;
    c.decisions = &scratch.answer;
    const batch_outcome outcome = co_await batcher_.decide({&c, 1});
    if (outcome.ec) co_return outcome.ec;
    if (c.bad) co_return bad_reply_error();
    const rule_decision& d = scratch.answer;
    out = {c.allowed, d.remaining, d.reset_ms, d.retry_after_ms, false};
    if (!c.allowed) remember_blocked(cache_, scratch.key, d, outcome.sent, metrics_);
    co_return std::error_code{};
}

}  // namespace sluice::core
