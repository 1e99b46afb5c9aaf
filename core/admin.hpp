#pragma once

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "http/request.hpp"
#include "http/response.hpp"

namespace sluice::core {

class shard;
class rule_set;

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

// The admin listener's answers: /healthz (the process runs), /readyz (every shard reaches Redis),
// /metrics (Prometheus text), /config (the rules served, as JSON). It runs on its own thread and
// only reads the shards' counters and connection flags, which are atomics: a scrape never blocks a
// shard.
class admin_handler {
  public:
    admin_handler(const std::vector<std::unique_ptr<shard>>& shards, const config_view& config)
        : shards_{shards}, config_{config} {}

    asio::awaitable<void> handle(const http::request& req, const asio::ip::tcp::endpoint& peer,
                                 http::response& res);

  private:
    const std::vector<std::unique_ptr<shard>>& shards_;
    const config_view& config_;
    std::string body_;  // copied by the server as soon as handle() returns
};

}  // namespace sluice::core
