#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "tests/support/process.hpp"
#include "tests/support/redis_server.hpp"

namespace sluice::test {

struct redis_sentinel_options {
    std::string master = "mymaster";
    std::size_t sentinels = 3;
    std::size_t quorum = 2;
    std::chrono::milliseconds down_after{1000};
    std::chrono::milliseconds failover_timeout{5000};
};

// A primary managed by Sentinel, private to one test: data node 0 starts as the primary, node 1
// as its replica (--replicaof), and `sentinels` redis-server --sentinel processes monitor it,
// each with its config file in a temporary directory (Sentinel rewrites it). Every process is on
// a free loopback port and stopped by PID. The constructor returns once every Sentinel knows the
// replica and the other Sentinels, so a failover can be asked for at once.
class redis_sentinel {
  public:
    explicit redis_sentinel(redis_sentinel_options options = {});
    ~redis_sentinel();
    redis_sentinel(const redis_sentinel&) = delete;
    redis_sentinel& operator=(const redis_sentinel&) = delete;

    const std::string& master() const noexcept { return options_.master; }
    // "127.0.0.1:p1,127.0.0.1:p2,...": the --redis-sentinel flag's format.
    std::string seeds() const;
    unsigned short sentinel_port(std::size_t i) const { return sentinels_.at(i).port; }
    // Data nodes: 0 the first primary, 1 its replica.
    unsigned short node_port(std::size_t node) const { return nodes_.at(node)->port(); }
    redis_server& node(std::size_t node) { return *nodes_.at(node); }
    // Where Sentinel `i` writes its log, to print when a test fails.
    std::string sentinel_log(std::size_t i) const;

    // redis-cli against a data node or a Sentinel: its stdout, trailing newlines trimmed.
    std::string cli(std::size_t node, const std::vector<std::string>& args) const;
    std::string sentinel_cli(std::size_t i, const std::vector<std::string>& args) const;
    // The first line of ROLE: "master" or "slave".
    std::string role(std::size_t node) const;

    // SENTINEL FAILOVER on Sentinel `via`, repeated while it answers NOGOODSLAVE (a replica not
    // yet judged fit); throws if it is not accepted within `timeout`.
    void failover(std::size_t via = 0,
                  std::chrono::milliseconds timeout = std::chrono::seconds(15));
    // Waits until every Sentinel names `node` as the primary, `node` says master and every other
    // data node says slave (the old primary reconfigured); throws after `timeout`.
    void wait_for_primary(std::size_t node,
                          std::chrono::milliseconds timeout = std::chrono::seconds(30));

  private:
    struct sentinel {
        unsigned short port = 0;
        std::string conf;
        std::string log;
        process proc;
    };

    void start_sentinel(sentinel& s);
    void wait_until_ready(std::chrono::milliseconds timeout);

    redis_sentinel_options options_;
    std::string root_;
    std::vector<std::unique_ptr<redis_server>> nodes_;
    std::vector<sentinel> sentinels_;
};

}  // namespace sluice::test
