#pragma once

#include <asio/async_result.hpp>
#include <asio/awaitable.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>
#include <optional>
#include <utility>

namespace sluice::resp {

// One coroutine sleeps in wait() until another calls notify().
//
// This is what a steady_timer used as a condition variable does, without the timer: no timer
// queue update and no timerfd_settime system call per wake-up, which for the writer means every
// loop turn that has something to send. The waiting coroutine's handler is kept in place (no
// allocation).
//
// notify() posts the coroutine: it runs after everything already queued in this loop turn. That
// is how the writer is woken, so that every request of the turn is in its buffer first.
//
// Not thread-safe: both sides run on the same event loop. A waiter does not observe
// cancellation; whoever owns it must notify it when waiting no longer makes sense.
class waiter {
  public:
    using handler_type = asio::async_result<asio::use_awaitable_t<>, void()>::handler_type;

    asio::awaitable<void> wait() {
        return asio::async_initiate<const asio::use_awaitable_t<>&, void()>(
            [this](auto handler) { handler_.emplace(std::move(handler)); }, asio::use_awaitable);
    }

    bool waiting() const noexcept { return handler_.has_value(); }

    void notify() {
        if (!handler_) return;
        handler_type h = std::move(*handler_);
        handler_.reset();
        asio::post(std::move(h));
    }

  private:
    std::optional<handler_type> handler_;
};

}  // namespace sluice::resp
