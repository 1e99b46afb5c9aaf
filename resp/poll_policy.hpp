#pragma once

#include <algorithm>
#include <chrono>

namespace sluice::resp {

// Whether the reader polls the socket for a due reply before it sleeps in the event loop.
//
// Sleeping in epoll_wait and being woken by the reply costs two context switches and, on a
// virtual machine, an interrupt delivered through the hypervisor: about as long as a nearby Redis
// takes to answer. Polling with non-blocking reads for a short budget skips both when the reply
// is that close. When polling stops paying (a distant or slow server), it backs off: after n
// misses in a row the next 2^n waits (at most 64) sleep at once, so a distant server costs at
// most one budget in 64 round trips, and a server that comes near again is polled again within 64.
//
// Pure bookkeeping: the connection asks poll_this_wait() once per wait and reports the outcome.
class poll_policy {
  public:
    static constexpr unsigned max_backoff_shift = 6;

    explicit poll_policy(std::chrono::microseconds budget) noexcept : budget_{budget} {}

    std::chrono::microseconds budget() const noexcept { return budget_; }

    // Called once per wait for a due reply: poll first, or sleep at once?
    bool poll_this_wait() noexcept {
        if (budget_.count() <= 0) return false;
        if (skip_ > 0) {
            --skip_;
            return false;
        }
        return true;
    }

    // A poll found the reply: the server is near, keep polling.
    void hit() noexcept { misses_ = 0; }

    // A poll used up its budget: sleep at once for the next 2^misses waits.
    void miss() noexcept {
        misses_ = std::min(misses_ + 1, max_backoff_shift);
        skip_ = 1u << misses_;
    }

    unsigned skip() const noexcept { return skip_; }

  private:
    std::chrono::microseconds budget_;
    unsigned misses_ = 0;  // consecutive polls that ran out of budget
    unsigned skip_ = 0;    // waits left that sleep at once
};

}  // namespace sluice::resp
