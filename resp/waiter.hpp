#pragma once

#include <asio/async_result.hpp>
#include <asio/awaitable.hpp>
#include <asio/dispatch.hpp>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>
#include <optional>
#include <utility>

namespace sluice::resp {

// One coroutine sleeps in wait() until another calls notify().
//
// This is what a steady_timer used as a condition variable does, without the timer: no timer
// queue update and no timerfd_settime system call per wake-up, which on a pipelined connection
// means per request. The waiting coroutine's handler is kept in place (no allocation).
//
// Two ways to wake it:
// - notify() posts the coroutine: it runs after everything already queued in this loop turn.
//   That is how the writer is woken, so that every request of the turn is in its buffer first.
// - resume() dispatches it: the coroutine runs at once, inside the caller, until it next
//   suspends. That saves a trip through the event loop (an epoll_wait) per reply, and obliges
//   the caller to be in a consistent state, since the woken coroutine may call back into it.
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

    void resume() {
        if (!handler_) return;
        handler_type h = std::move(*handler_);
        handler_.reset();
        asio::dispatch(std::move(h));
    }

  private:
    std::optional<handler_type> handler_;
};

}  // namespace sluice::resp
