#pragma once

#include <asio/awaitable.hpp>
#include <chrono>
#include <cstddef>
#include <memory>
#include <span>
#include <system_error>
#include <vector>

#include "core/batch.hpp"
#include "core/metrics.hpp"

namespace sluice::resp {
class cluster_client;
class connection;
class script;
}  // namespace sluice::resp

namespace sluice::core {

// What a batch's reply means for the requests that were in it.
struct batch_outcome {
    // Redis could not decide (not connected, no reply in time): every check of the batch failed.
    // Otherwise each check is decided, or marked bad when its part of the reply was unusable.
    std::error_code ec;
    // When the batch was written: Redis read its clock after this, so a wait Redis computed ends
    // no earlier than sent + wait (what the blocked cache relies on).
    std::chrono::steady_clock::time_point sent;
};

// Batches the limiter checks of one shard: every check made during one turn of the shard's event
// loop goes to Redis in one call of core/decide.lua.
//
//   request A ──► decide() ─┐ first of the turn: the leader, yields to the end of the turn
//   request B ──► decide() ─┤ joins A's batch, suspends
//   request C ──► decide() ─┘ joins A's batch, suspends
//                 end of turn: A sends one EVALSHA (keys A B C), awaits it, resumes B and C
//
// The leader is the first request's own coroutine, so a batch costs no task or frame of its own.
// A full batch (--batch-max checks) is sealed and the next check starts another.
//
// A batch that is ready while --batch-in-flight batches are on the wire waits, still open, so the
// checks of the next turns join it: under load the batch grows with Redis's round trip, and
// Redis's cost per call (a read, a parse, a script call, a write) is spread over more checks
// exactly when Redis is the busy one. It goes when a reply makes room or when it is full (a full
// batch gains nothing by waiting). Idle, a batch goes out at the end of its turn. A waiting batch
// keeps its deadline: it is counted from its first check, so waiting never makes a check wait
// longer than --redis-timeout.
//
// A NOSCRIPT reloads the script and sends the whole batch again: a refused EVALSHA ran nothing.
//
// Not thread-safe: one per shard, on the shard's loop.
class batcher {
  public:
    // max_checks 1 sends each check at once, in a call of its own: the unbatched baseline.
    // max_in_flight 0 sends every batch at the end of its turn, however many are out.
    // With `cluster`, batches go there instead of to `redis`, one per slot (see decide()).
    batcher(resp::connection& redis, resp::cluster_client* cluster, const resp::script& decide,
            std::size_t max_checks, std::size_t max_in_flight, std::chrono::milliseconds timeout,
            shard_metrics& metrics);
    ~batcher();
    batcher(const batcher&) = delete;
    batcher& operator=(const batcher&) = delete;

    // Decides one request's checks, all in one batch. The checks (and what they point to) must
    // stay alive until it returns. On a cluster they must all be of one slot (one client
    // identity): a batch is one slot's, and goes to that slot's primary; the batches of one turn
    // go out together, one write per node.
    asio::awaitable<batch_outcome> decide(std::span<batch_check> checks);

    std::size_t max_checks() const noexcept { return max_checks_; }

  private:
    struct pending;
    struct batch;

    batch* acquire();
    batch* open_for(std::uint16_t slot) noexcept;
    bool is_open(const batch& b) const noexcept;
    void seal(batch& b);
    void wake_parked();
    asio::awaitable<batch_outcome> send(batch& b);

    resp::connection& redis_;
    resp::cluster_client* cluster_;
    const resp::script& decide_;
    std::size_t max_checks_;
    std::size_t max_in_flight_;
    std::chrono::milliseconds timeout_;
    shard_metrics& metrics_;
    // The batches this turn's checks join: one per slot at most (without a cluster every check is
    // slot 0, so one in all).
    std::vector<batch*> open_;
    std::size_t in_flight_ = 0;
    // The open batch, when its leader waits for room on the wire: only an open batch waits, and
    // there is one open batch at a time.
    batch* parked_ = nullptr;
    bool turn_marked_ = false;  // this turn is counted in loop_turns once it ends
    std::vector<std::unique_ptr<batch>> all_;
    std::vector<batch*> free_;
};

}  // namespace sluice::core
