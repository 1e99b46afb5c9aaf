#pragma once

#include <array>
#include <asio/awaitable.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "core/batch.hpp"
#include "core/blocked_cache.hpp"
#include "core/client_key.hpp"
#include "core/rules.hpp"
#include "resp/serializer.hpp"

namespace sluice::resp {
class cluster_client;
class connection;
class script;
}  // namespace sluice::resp

namespace sluice::core {

class batcher;
struct shard_metrics;

// What one request in flight keeps while its rules are decided; pooled by the caller, so a warm
// shard decides without allocating: every buffer keeps its capacity from one request to the next.
struct rules_scratch {
    // The indices (into the rule_set) of the rules that apply, in file order, at most
    // max_applying_rules; decisions[k] is the answer of rule applying[k].
    std::vector<std::uint32_t> matched;
    std::array<std::uint32_t, max_applying_rules> applying{};
    std::size_t count = 0;
    std::array<rule_decision, max_applying_rules> decisions{};

    // Per key source of the rule set: the identity, computed once per request when a rule
    // needs it.
    std::vector<identity_buffer> identities;
    std::vector<std::string_view> identity_of_source;

    // The calls: one per client identity (a group), its rules in `order`
    // (group g: order[group_begin[g] .. group_begin[g + 1])).
    std::array<std::uint8_t, max_applying_rules> order{};
    std::array<std::uint8_t, max_applying_rules + 1> group_begin{};
    std::size_t groups = 0;
    std::array<std::uint8_t, max_applying_rules> group_state{};   // see rule_limiter.cpp
    std::array<std::string, max_applying_rules> keys;             // by applying position
    std::array<std::string, max_applying_rules> tokens;           // what each rule recorded
    std::array<const batch_rule*, max_applying_rules> rule_of{};  // by applying position
    std::array<batch_check, max_applying_rules> checks;           // by group
    resp::request request;                                        // the give-back's
    resp::request retry;
};

// Decides every rule that applies to a request (README "Rules file"): all or nothing, also across
// client identities.
//
// The applying rules are grouped by client identity. Each group is one check of the shard's
// batch (core/batcher.hpp), atomic inside Redis, all or nothing among its rules; a request's
// groups all go in one batch, so a request costs one round trip whatever its rules. When a group
// rejects the request (a rule without shadow) while others allowed and recorded it, a second
// round trip sends core/give_back.lua for what they recorded, so that a rejected request is
// recorded by none. Between the two, a concurrent request on those keys sees the rejected
// request counted (never less than what was really served).
//
// When every rule of the set is keyed by the same client identity (so nothing is ever given
// back), rejections are remembered in a blocked-client cache of the limiter's own, and a request
// whose every applying rule is blocked is answered from it. With several identities a give-back
// can free a slot before the time Redis announced, so the cache stays off.
//
// One per shard and rules version, over the shard's batcher.
class rule_limiter {
  public:
    // `rules` and the scripts must outlive the limiter. Rules with algorithm none never apply.
    // With `cluster`, give-backs go there (each to its slot's primary) instead of to `redis`.
    rule_limiter(batcher& b, resp::connection& redis, resp::cluster_client* cluster,
                 const resp::script& give_back, const rule_set& rules, std::string key_prefix,
                 trusted_proxies trusted, std::chrono::milliseconds redis_timeout,
                 std::size_t blocked_cache_size, shard_metrics& metrics);

    const rule_set& rules() const noexcept { return rules_; }
    const trusted_proxies& trusted() const noexcept { return trusted_; }
    // A scratch sized for this rule set.
    void prepare(rules_scratch& s) const;

    // Fills s.applying and s.count with the rules matching the request (none: count 0). More
    // than max_applying_rules cannot match a loaded file (the loader refuses it); should it
    // happen, only the first ones are kept and false is returned (the caller answers an error).
    bool match(std::string_view method, std::string_view host, std::string_view target,
               rules_scratch& s) const;

    // Computes the identities of the applying rules. `forwarded_for` and `header` as for
    // client_identifier::identify: `header(name)` is the value of the request's field `name`.
    template <class HeaderOf>
    void identify(const ip_address& peer, std::span<const std::string_view> forwarded_for,
                  HeaderOf&& header, rules_scratch& s) const {
        for (auto& v : s.identity_of_source)
            v = {};
        for (std::size_t k = 0; k < s.count; ++k) {
            const std::uint32_t src = source_of_rule_[s.applying[k]];
            if (!s.identity_of_source[src].empty()) continue;
            const key_source& ks = identifiers_[src].source();
            const std::string_view value =
                ks.type == key_source::kind::header ? header(ks.header) : std::string_view{};
            s.identity_of_source[src] =
                identifiers_[src].identify(peer, forwarded_for, value, s.identities[src]);
        }
    }

    // Decides the applying rules: `allowed` is true when every one without shadow allows the
    // request. An error means Redis could not decide (not connected, no answer in time, an
    // unusable reply); what a group had recorded then stays.
    asio::awaitable<std::error_code> check(rules_scratch& s, bool& allowed);

    bool caches_blocked() const noexcept { return cache_.enabled(); }

  private:
    struct rule_text {
        std::string suffix;  // ":<name>:<log|fw|sw|tb>"
        std::array<std::string, 6> args;
    };

    std::string_view identity(const rules_scratch& s, std::size_t k) const noexcept {
        return s.identity_of_source[source_of_rule_[s.applying[k]]];
    }
    void group(rules_scratch& s) const noexcept;
    // Every applying rule is blocked in the cache: decided from it, without Redis.
    bool answer_from_cache(rules_scratch& s, bool& allowed) noexcept;
    void push_give_back(resp::request& req, const rules_scratch& s, std::size_t g) const;

    batcher& batcher_;
    resp::connection& redis_;
    resp::cluster_client* cluster_;
    const resp::script& give_back_;
    const rule_set& rules_;
    std::string key_prefix_;
    trusted_proxies trusted_;
    std::chrono::milliseconds timeout_;
    std::vector<rule_text> text_;
    std::vector<batch_rule> batch_rules_;  // by rule index
    blocked_cache cache_;
    shard_metrics& metrics_;
    std::vector<client_identifier> identifiers_;  // one per distinct key source
    std::vector<std::uint32_t> source_of_rule_;
};

}  // namespace sluice::core
