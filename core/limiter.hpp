#pragma once

#include <asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

#include "resp/serializer.hpp"

namespace sluice::resp {
class connection;
class script;
}  // namespace sluice::resp

namespace sluice::core {

struct limit_policy {
    std::int64_t limit = 5;
    std::chrono::milliseconds window{10'000};
    std::string key_prefix = "sluice:";
    std::chrono::milliseconds redis_timeout{100};
    // After the client's hash tag: ":log" for the sliding log, ":<rule>:<suffix>" for the other
    // algorithms (docs/algorithms.md).
    std::string key_suffix = ":log";
    // token-bucket's capacity; 0 sends only limit and window, all the other scripts read.
    std::int64_t burst = 0;
};

// The limiter's answer for one request.
struct decision {
    bool allowed = false;
    std::int64_t remaining = 0;       // requests left in the window after this one
    std::int64_t reset_ms = 0;        // until the oldest counted request leaves the window
    std::int64_t retry_after_ms = 0;  // rejected: until a request could be allowed
};

// What one caller (an HTTP connection) keeps between its requests so that deciding does not
// allocate once warm: the Redis key and the serialized EVALSHA are rebuilt in place each time.
struct limiter_scratch {
    resp::request request;
    std::string key;
};

// The sliding-window log (core/sliding_log.lua) over one shard's Redis connection.
//
// The whole decision is one EVALSHA: the script trims the log, counts, records and sets the TTL
// atomically inside Redis, so concurrent gateways never race between "count" and "add". Calls
// from all of a shard's connections share the shard's pipeline, so a busy shard sends many
// decisions per write.
class sliding_log_limiter {
  public:
    sliding_log_limiter(resp::connection& redis, const resp::script& script, limit_policy policy);

    // Decides for `client` (the identity, e.g. "ip:192.0.2.1"). An error means Redis could not
    // decide: not connected, no answer within the policy's timeout, or an unusable reply.
    asio::awaitable<std::error_code> check(std::string_view client, limiter_scratch& scratch,
                                           decision& out);

    // The Redis key of a client: <prefix>{<client>}<suffix>, ":log" by default. The braces are a
    // Redis Cluster hash tag: everything the script touches for one client lives in one slot.
    static void make_key(std::string& out, std::string_view prefix, std::string_view client,
                         std::string_view suffix = ":log");

    const limit_policy& policy() const noexcept { return policy_; }

  private:
    resp::connection& redis_;
    const resp::script& script_;
    limit_policy policy_;
};

// The script's reply does not have the shape {allowed, remaining, reset_ms, retry_after_ms}.
std::error_code bad_reply_error() noexcept;

}  // namespace sluice::core
