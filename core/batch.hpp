#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "core/config.hpp"
#include "resp/node.hpp"
#include "resp/serializer.hpp"

namespace sluice::resp {
class script;
}

namespace sluice::core {

// One rule's answer for one request (a part of core/decide.lua's reply).
struct rule_decision {
    bool allowed = false;             // this rule allows the request (a shadow rule may not)
    std::int64_t remaining = 0;       // units left after the request (without it if rejected)
    std::int64_t reset_ms = 0;        // until the rule's state is empty again
    std::int64_t retry_after_ms = 0;  // rejected: until the rule could allow it
};

// A rule as core/decide.lua reads it: its six arguments (algorithm, limit, window_ms, burst,
// cost, shadow), serialized as RESP bulk strings once, when the rule is loaded, and copied into
// every batch that uses it.
class batch_rule {
  public:
    batch_rule(algorithm a, std::int64_t limit, std::chrono::milliseconds window,
               std::int64_t burst, std::int64_t cost, bool shadow);
    std::string_view resp_args() const noexcept { return args_; }

  private:
    std::string args_;
};

// One call inside a batch: one client's request against its rules, all or nothing. The caller
// owns the arrays; the batch reads the keys and rules and fills `decisions` (and `tokens`) and
// `allowed` from the reply. Rule i of the check is at position order[i] of each array.
struct batch_check {
    std::size_t count = 0;
    const std::uint8_t* order = nullptr;
    const std::string* keys = nullptr;
    const batch_rule* const* rules = nullptr;
    rule_decision* decisions = nullptr;
    std::string* tokens = nullptr;  // null: the reply carries no tokens for this check

    bool allowed = false;
    bool bad = false;  // its part of the reply was not what the script returns
};

// The most rule definitions one batch names; a batch that would need more is sent as it is.
inline constexpr std::size_t max_batch_rules = 64;

// Builds one EVALSHA of core/decide.lua for a batch of checks. Pure: tested without a socket, and
// the I/O layer (core/batcher.hpp) only decides when a batch is full and sends its bytes. Every
// key of a batch is in KEYS; on Redis Cluster a batch is made per slot (a client's keys share a
// hash tag, so a check never spans two).
class batch_encoder {
  public:
    void clear() noexcept;
    // Whether one request's checks fit without passing `max_checks` checks or max_batch_rules
    // definitions. An empty batch takes any request: its checks are never split over two.
    bool fits(std::span<const batch_check> request, std::size_t max_checks) const noexcept;
    void add(batch_check& c) noexcept;
    std::size_t checks() const noexcept { return checks_; }
    std::size_t keys() const noexcept { return keys_; }
    // Writes the batch as one EVALSHA of `decide` into `req` (cleared first). `clock` is the
    // script's test clock, empty for the server's TIME.
    void encode(const resp::script& decide, resp::request& req, std::string_view clock = {}) const;
    // The checks in the order they were added.
    std::span<batch_check* const> added() const noexcept { return {list_.data(), checks_}; }

  private:
    std::size_t index_of(const batch_rule* r) const noexcept;

    std::array<batch_check*, 256> list_{};
    std::size_t checks_ = 0;
    std::size_t keys_ = 0;
    std::array<const batch_rule*, max_batch_rules> rules_{};
    std::size_t rule_count_ = 0;
};

// The most checks one batch may hold (--batch-max's ceiling).
inline constexpr std::size_t max_batch_checks = 256;

// Reads core/decide.lua's flat reply straight from the parser's nodes into the checks.
class batch_reader {
  public:
    explicit batch_reader(std::span<batch_check* const> checks) noexcept;
    void operator()(const resp::node& n) noexcept;
    // After the reply: false when it was an error or its shape did not match the batch (every
    // check is then marked bad).
    bool finish() noexcept;
    // The reply was an error ("ERR decide: ..."): a batch the script refused.
    bool error_reply() const noexcept { return error_; }

  private:
    void next_check() noexcept;

    std::span<batch_check* const> checks_;
    std::size_t check_ = 0;  // the check being read
    std::size_t rule_ = 0;   // its rule being read; count: the check's own "allowed" first
    std::size_t field_ = 0;  // of that rule: allowed, remaining, reset_ms, retry, token
    bool started_ = false;   // the check's "allowed" was read
    bool shape_ = true;
    bool root_ = false;
    std::size_t expected_ = 0;  // elements the root must have
    std::size_t seen_ = 0;
    bool error_ = false;
};

}  // namespace sluice::core
