#pragma once

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "http/request.hpp"
#include "http/response.hpp"

namespace sluice::core {

class shard;
class rule_set;
}  // namespace sluice::core

namespace sluice::resp {
class cluster_client;
class connection;
class script;
}  // namespace sluice::resp

namespace sluice::core {

// The rules being served, as the admin thread knows them: replaced by a reload, which runs on the
// admin thread too, so /config reads them without a lock.
struct config_view {
    std::shared_ptr<const rule_set> rules;
    std::uint64_t generation = 1;
    std::int64_t loaded_at_unix_ms = 0;
    std::string source;  // the rules file, or "flags"
    std::uint64_t reloads_loaded = 0;
    std::uint64_t reloads_refused = 0;
};

// What /quota asks Redis through: a connection of the admin listener's own (a question about a
// quota must not queue behind a shard's decisions, nor a shard's decisions behind it) and the
// read-only quota script.
struct quota_source {
    resp::connection& redis;
    const resp::script& script;
    std::string key_prefix;
    bool rules_file = false;  // rules of a file; else the flags' rule "default" and its old keys
    std::chrono::milliseconds timeout{100};
    resp::cluster_client* cluster = nullptr;  // with --redis-cluster: asked instead of `redis`
};

// The admin listener's answers: /healthz (the process runs), /readyz (every shard reaches Redis),
// /metrics (Prometheus text), /config (the rules served, as JSON), /quota (what a rule has left for
// a client, read without using any). It runs on its own thread and
// only reads the shards' counters and connection flags, which are atomics: a scrape never blocks a
// shard.
class admin_handler {
  public:
    admin_handler(const std::vector<std::unique_ptr<shard>>& shards, const config_view& config,
                  quota_source& quota)
        : shards_{shards}, config_{config}, quota_{quota} {}

    asio::awaitable<void> handle(const http::request& req, const asio::ip::tcp::endpoint& peer,
                                 http::response& res);

  private:
    const std::vector<std::unique_ptr<shard>>& shards_;
    const config_view& config_;
    quota_source& quota_;

    // GET /quota?rule=NAME&key=CLIENT: fills `res` (200 with the JSON, 400, 404 or 503).
    asio::awaitable<void> quota(std::string_view query, http::response& res);
    std::string body_;  // copied by the server as soon as handle() returns
};

}  // namespace sluice::core
