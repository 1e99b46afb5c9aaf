#pragma once

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <memory>
#include <string>
#include <vector>

#include "http/request.hpp"
#include "http/response.hpp"

namespace sluice::core {

class shard;

// The admin listener's answers: /healthz (the process runs), /readyz (every shard reaches Redis),
// /metrics (Prometheus text). It runs on its own thread and only reads the shards' counters and
// connection flags, which are atomics: a scrape never blocks a shard.
class admin_handler {
  public:
    explicit admin_handler(const std::vector<std::unique_ptr<shard>>& shards) : shards_{shards} {}

    asio::awaitable<void> handle(const http::request& req, const asio::ip::tcp::endpoint& peer,
                                 http::response& res);

  private:
    const std::vector<std::unique_ptr<shard>>& shards_;
    std::string body_;  // copied by the server as soon as handle() returns
};

}  // namespace sluice::core
