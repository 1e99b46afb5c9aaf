#pragma once

#include <memory>

#include "core/config.hpp"
#include "core/rules.hpp"

namespace sluice::core {

// The whole process: N shards, each a thread with its own event loop, listener and Redis
// connection, plus the admin listener and the signal handling on the calling thread.
//
//            ┌────────────── shard 0 ──────────────┐
//   clients ─┤ SO_REUSEPORT listener → HTTP → limiter → Redis pipeline ├─ Redis
//            └────────────── shard N-1 ... ────────┘
//   admin ─── /healthz /readyz /metrics (reads every shard's counters; never blocks them)
//
// Nothing on the request path is shared between shards: no lock, no atomic read-modify-write.
class gateway {
  public:
    // Binds every listener (throws std::system_error when one cannot be bound). With `rules`
    // (--config, loaded by the caller), requests are decided by them instead of the flags' rule.
    explicit gateway(config cfg, std::shared_ptr<const rule_set> rules = nullptr);
    ~gateway();
    gateway(const gateway&) = delete;
    gateway& operator=(const gateway&) = delete;

    // Installs the SIGINT/SIGTERM handlers, then prints the bound addresses (so that a signal
    // sent as soon as they appear shuts down cleanly), runs until a signal, drains (at most 5 s)
    // and returns the exit status.
    int run();

  private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace sluice::core
