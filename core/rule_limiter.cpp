#include "core/rule_limiter.hpp"

#include <algorithm>
#include <charconv>

#include "core/batcher.hpp"
#include "core/limiter.hpp"
#include "core/metrics.hpp"
#include "resp/cluster_client.hpp"
#include "resp/cluster_slot.hpp"
#include "resp/connection.hpp"
#include "resp/script.hpp"

namespace sluice::core {

namespace {

// rules_scratch::group_state: what is known of a group's call.
enum state : std::uint8_t {
    allowed,   // every rule without shadow allowed: each rule's record is in its token
    rejected,  // a rule without shadow rejected: nothing recorded
    // After a rejection elsewhere: what this allowed group recorded is being given back.
    giving_back,
    give_back_noscript,
};

std::string_view suffix_of(algorithm a) noexcept {
    switch (a) {
        case algorithm::fixed_window:
            return ":fw";
        case algorithm::sliding_window:
            return ":sw";
        case algorithm::token_bucket:
            return ":tb";
        case algorithm::sliding_log:
        case algorithm::none:
            break;
    }
    return ":log";
}

// Reads give_back.lua's replies for the groups in state giving_back, in order: only NOSCRIPT
// matters (the call is then sent again); the units given back are not needed.
struct give_back_reader {
    rules_scratch& s;
    std::size_t group;

    void operator()(const resp::node& n) {
        if (n.depth != 0) return;
        ++group;
        while (group < s.groups && s.group_state[group] != giving_back)
            ++group;
        if (group < s.groups && resp::is_error(n.data_type) && n.value.starts_with("NOSCRIPT")) {
            s.group_state[group] = give_back_noscript;
        }
    }
};

}  // namespace

rule_limiter::rule_limiter(batcher& b, resp::connection& redis, resp::cluster_client* cluster,
                           const resp::script& give_back, const rule_set& rules,
                           std::string key_prefix, trusted_proxies trusted,
                           std::chrono::milliseconds redis_timeout, std::size_t blocked_cache_size,
                           shard_metrics& metrics)
    : batcher_{b},
      redis_{redis},
      cluster_{cluster},
      give_back_{give_back},
      rules_{rules},
      key_prefix_{std::move(key_prefix)},
      trusted_{std::move(trusted)},
      timeout_{redis_timeout},
      cache_{0},
      metrics_{metrics} {
    for (const rule& r : rules_.rules()) {
        rule_text t;
        t.suffix = ":" + r.name + std::string(suffix_of(r.algorithm));
        t.args = {std::string(to_string(r.algorithm)),
                  std::to_string(r.limit),
                  std::to_string(r.window.count()),
                  std::to_string(r.burst),
                  std::to_string(r.cost),
                  r.shadow ? "1" : "0"};
        text_.push_back(std::move(t));
        batch_rules_.emplace_back(r.algorithm, r.limit, r.window, r.burst, r.cost, r.shadow);
        std::uint32_t src = 0;
        while (src < identifiers_.size() && !(identifiers_[src].source() == r.key))
            ++src;
        if (src == identifiers_.size()) identifiers_.emplace_back(r.key, trusted_);
        source_of_rule_.push_back(src);
    }
    if (identifiers_.size() == 1) cache_ = blocked_cache{blocked_cache_size};
}

void rule_limiter::prepare(rules_scratch& s) const {
    s.matched.reserve(rules_.size());
    s.identities.resize(identifiers_.size());
    s.identity_of_source.resize(identifiers_.size());
}

bool rule_limiter::match(std::string_view method, std::string_view host, std::string_view target,
                         rules_scratch& s) const {
    rules_.match(method, host, target, s.matched);
    s.count = 0;
    bool fits = true;
    for (const std::uint32_t i : s.matched) {
        if (rules_.rules()[i].algorithm == algorithm::none) continue;
        if (s.count == max_applying_rules) {
            fits = false;
            break;
        }
        s.applying[s.count++] = i;
    }
    return fits;
}

// Groups the applying rules by identity, each group in file order, groups in the order of their
// first rule. At most 16 rules: comparing each with the groups found so far is cheapest.
void rule_limiter::group(rules_scratch& s) const noexcept {
    std::array<std::uint8_t, max_applying_rules> group_of{};
    std::array<std::uint8_t, max_applying_rules> first{};  // a rule of each group
    std::array<std::uint8_t, max_applying_rules + 1> sizes{};
    s.groups = 0;
    for (std::size_t k = 0; k < s.count; ++k) {
        std::size_t g = 0;
        while (g < s.groups && identity(s, first[g]) != identity(s, k))
            ++g;
        if (g == s.groups) first[s.groups++] = static_cast<std::uint8_t>(k);
        group_of[k] = static_cast<std::uint8_t>(g);
        ++sizes[g];
    }
    s.group_begin[0] = 0;
    for (std::size_t g = 0; g < s.groups; ++g)
        s.group_begin[g + 1] = static_cast<std::uint8_t>(s.group_begin[g] + sizes[g]);
    std::array<std::uint8_t, max_applying_rules> next = {};
    for (std::size_t g = 0; g < s.groups; ++g)
        next[g] = s.group_begin[g];
    for (std::size_t k = 0; k < s.count; ++k)
        s.order[next[group_of[k]]++] = static_cast<std::uint8_t>(k);
}

void rule_limiter::push_give_back(resp::request& req, const rules_scratch& s, std::size_t g) const {
    const std::size_t begin = s.group_begin[g], end = s.group_begin[g + 1];
    const std::size_t n = end - begin;
    req.write_array_header(3 + n + 6 * n);
    req.write_bulk("EVALSHA");
    req.write_bulk(give_back_.sha());
    req.write_arg(n);
    for (std::size_t j = begin; j < end; ++j)
        req.write_bulk(s.keys[s.order[j]]);
    for (std::size_t j = begin; j < end; ++j) {
        const std::size_t k = s.order[j];
        const auto& args = text_[s.applying[k]].args;
        for (std::size_t a = 0; a < 5; ++a)
            req.write_bulk(args[a]);
        req.write_bulk(s.tokens[k]);
    }
    req.end_command();
}

bool rule_limiter::answer_from_cache(rules_scratch& s, bool& ok) noexcept {
    const auto now = blocked_cache::clock::now();
    bool enforced = false;
    for (std::size_t k = 0; k < s.count; ++k) {
        const blocked_cache::entry* e = cache_.find(s.keys[k], now);
        if (e == nullptr) return false;
        s.decisions[k] = from_blocked(*e, now);
        enforced = enforced || !rules_.rules()[s.applying[k]].shadow;
    }
    // Every rule would reject: the request is rejected if one of them is enforced, and allowed
    // (recorded by none, as Redis would) if all are shadows.
    ok = !enforced;
    metrics_.blocked_hits.add();
    return true;
}

asio::awaitable<std::error_code> rule_limiter::check(rules_scratch& s, bool& ok) {
    ok = false;
    for (std::size_t k = 0; k < s.count; ++k) {
        sliding_log_limiter::make_key(s.keys[k], key_prefix_, identity(s, k),
                                      text_[s.applying[k]].suffix);
        s.tokens[k].clear();
        s.decisions[k] = rule_decision{};
        s.rule_of[k] = &batch_rules_[s.applying[k]];
    }
    if (cache_.enabled() && answer_from_cache(s, ok)) co_return std::error_code{};
    group(s);
    // Tokens only matter when one group may have to give back after another rejected.
    const bool many = s.groups > 1;
    for (std::size_t g = 0; g < s.groups; ++g) {
        batch_check& c = s.checks[g];
        c.count = s.group_begin[g + 1] - s.group_begin[g];
        c.order = &s.order[s.group_begin[g]];
        c.keys = s.keys.data();
        c.rules = s.rule_of.data();
        c.decisions = s.decisions.data();
        c.tokens = many ? s.tokens.data() : nullptr;
    }
    batch_outcome outcome;
    if (cluster_ == nullptr) {
        outcome = co_await batcher_.decide({s.checks.data(), s.groups});
    } else {
        // On a cluster each identity's keys are in a slot of their own, so each group is a
        // batch of its own; all or nothing across them holds through the give-back below.
        for (std::size_t g = 0; g < s.groups && !outcome.ec; ++g) {
            const batch_outcome one = co_await batcher_.decide({&s.checks[g], 1});
            if (g == 0) outcome.sent = one.sent;
            outcome.ec = one.ec;
        }
    }
    if (outcome.ec) co_return outcome.ec;
    for (std::size_t g = 0; g < s.groups; ++g) {
        if (s.checks[g].bad) co_return bad_reply_error();
        s.group_state[g] = s.checks[g].allowed ? allowed : rejected;
    }
    if (cache_.enabled()) {
        for (std::size_t k = 0; k < s.count; ++k) {
            if (!s.decisions[k].allowed)
                remember_blocked(cache_, s.keys[k], s.decisions[k], outcome.sent, metrics_);
        }
    }

    bool all = true, any_recorded = false;
    for (std::size_t g = 0; g < s.groups; ++g) {
        if (s.group_state[g] != allowed && s.group_state[g] != rejected)
            co_return bad_reply_error();
        all = all && s.group_state[g] == allowed;
        any_recorded = any_recorded || s.group_state[g] == allowed;
    }
    ok = all;
    if (all || !any_recorded) co_return std::error_code{};

    // Rejected by one group, recorded by others: give their records back. The answer is a
    // rejection whatever happens here; should the give-back fail, the records stay and the
    // rules count a request that was not served until they expire (never less than served).
    s.request.clear();
    for (std::size_t g = 0; g < s.groups; ++g) {
        if (s.group_state[g] != allowed) continue;
        s.group_state[g] = giving_back;
        push_give_back(s.request, s, g);
    }
    if (cluster_ != nullptr) {
        // One call per group, each to its slot's primary (NOSCRIPT is handled there).
        const auto deadline = std::chrono::steady_clock::now() + timeout_;
        for (std::size_t g = 0; g < s.groups; ++g) {
            if (s.group_state[g] != giving_back) continue;
            s.retry.clear();
            push_give_back(s.retry, s, g);
            const std::uint16_t slot = resp::key_slot(s.keys[s.order[s.group_begin[g]]]);
            co_await cluster_->exec(give_back_, s.retry, slot, resp::ignore, deadline);
        }
        co_return std::error_code{};
    }
    give_back_reader gb{s, static_cast<std::size_t>(-1)};
    if (co_await redis_.exec(s.request, gb, timeout_)) co_return std::error_code{};
    for (std::size_t g = 0; g < s.groups; ++g) {
        if (s.group_state[g] != give_back_noscript) continue;
        s.retry.clear();
        push_give_back(s.retry, s, g);
        if (co_await redis_.exec(give_back_, s.retry, resp::ignore, timeout_)) break;
    }
    co_return std::error_code{};
}

}  // namespace sluice::core
