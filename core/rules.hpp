#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "core/client_key.hpp"
#include "core/config.hpp"

namespace sluice::core {

// A rules file that cannot be used. what() is the whole line to print, with the place it names:
// "sluice.yaml:4:12: limit: expected a positive integer up to 1000000000, got "abc"".
class config_error : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// A rule name: [a-z0-9_-]{1,64}. It ends up in Redis keys, response headers and metric labels,
// so it is kept to characters that need no quoting in any of them.
inline constexpr std::size_t max_rule_name = 64;
bool valid_rule_name(std::string_view name) noexcept;

// Which requests a rule applies to. A part left empty matches every request.
struct rule_match {
    // Upper-case HTTP methods, in the order written, without duplicates; compared exactly
    // (methods are case-sensitive).
    std::vector<std::string> methods;
    // The whole path (before '?'), compared byte for byte. Starts with '/'. At most one of path
    // and path_prefix is set.
    std::string path;
    // A byte prefix of the path: "/api" matches "/api", "/api/x" and "/apis"; write "/api/" to
    // match only below it.
    std::string path_prefix;
    // Lower case, without a port; compared without case to the request's Host without its port.
    std::string host;

    bool any() const noexcept {
        return methods.empty() && path.empty() && path_prefix.empty() && host.empty();
    }

    friend bool operator==(const rule_match&, const rule_match&) = default;
};

// At most this many rules apply to one request: the gateway decides them with fixed arrays, no
// allocation per request. A rules file where more could match one request is refused at load
// (see may_apply_together).
inline constexpr std::size_t max_applying_rules = 16;

// False only when no request can match both: disjoint methods, different hosts, or paths that
// exclude each other (two different paths, a path outside a prefix, two prefixes neither of
// which starts the other). Every set of rules that match one request is a set of rules that
// pairwise may apply together, so no rule may apply together with more than max_applying_rules
// rules (itself included) ensures that at most that many ever apply.
bool may_apply_together(const rule_match& a, const rule_match& b) noexcept;

// One rate limit. The loader and rules_from_flags only make valid ones: a valid name, limit,
// burst and cost from 1 to max_limit, cost at most the capacity, a positive window.
struct rule {
    std::string name;
    rule_match match;
    key_source key;
    core::algorithm algorithm = core::algorithm::sliding_log;
    std::uint32_t limit = 0;
    std::chrono::milliseconds window{0};
    // Units a key may use at once: the token-bucket capacity. For the other algorithms it is
    // always `limit`, since a burst there would mean nothing.
    std::uint32_t burst = 0;
    // Units one request uses; at most `burst` (which is `limit` but for token-bucket), or no
    // request could ever be allowed.
    std::uint32_t cost = 1;
    // Decided and counted, never rejecting.
    bool shadow = false;

    friend bool operator==(const rule&, const rule&) = default;
};

// The one line --check-config prints for a rule: name, what it matches, key, algorithm and
// limit/window, then the burst (token-bucket), a cost other than 1, and shadow when set:
// "login: match POST /login; key ip; sliding-log 5/1m"
// "api: match host=api.example.com prefix=/v1/; key header:x-api-key; token-bucket 100/1m;
//  burst 20; cost 2; shadow"
std::string describe(const rule& r);

// The request's path as rules see it: the request target without its query and fragment; for
// an absolute-form target ("http://host/p?q"), its path ("/p"), "/" when it has none.
std::string_view request_path(std::string_view target) noexcept;

// The request's Host as rules see it: without the port ("example.com:8080" and "[::1]:80" become
// "example.com" and "[::1]") and without a final dot. Case is left alone: matching ignores it.
std::string_view request_host(std::string_view host) noexcept;

// An immutable, validated set of rules, compiled once for matching. A reload builds a new one.
class rule_set {
  public:
    rule_set() = default;  // no rules: every request is unlimited
    // `rules` must be valid (see rule) with unique names; the loader and rules_from_flags ensure
    // it. Throws config_error otherwise, naming the first broken rule.
    explicit rule_set(std::vector<rule> rules);

    std::span<const rule> rules() const noexcept { return rules_; }
    std::size_t size() const noexcept { return rules_.size(); }
    bool empty() const noexcept { return rules_.empty(); }
    // The rule named `name`, or null.
    const rule* find(std::string_view name) const noexcept;

    // Puts into `out` (cleared first) the index of every rule that applies to the request, in
    // file order: every matching rule applies. `host` is the Host field as received (the port is
    // ignored, see request_host), `target` the request target (only its path counts, see
    // request_path).
    //
    // No regex, no allocation: compiled methods are a bit mask, paths and hosts plain compares.
    // `out` grows to size() on the first call if it is smaller, and never again.
    void match(std::string_view method, std::string_view host, std::string_view target,
               std::vector<std::uint32_t>& out) const;

    friend bool operator==(const rule_set& a, const rule_set& b) { return a.rules_ == b.rules_; }

  private:
    // What match() needs per rule besides the rule's own strings.
    struct compiled {
        // One bit per well-known method (see method_bit), and other_methods when the rule also
        // names methods outside them, which are then compared by name. 0: any method.
        std::uint32_t methods = 0;
    };

    std::vector<rule> rules_;
    std::vector<compiled> compiled_;
};

// Without --config: the one rule the flags make, named "default", matching every request.
rule_set rules_from_flags(const config& cfg);

}  // namespace sluice::core
