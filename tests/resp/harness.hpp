#pragma once

// Driving a resp::connection from a test: run a coroutine body on an io_context with the
// connection started first and stopped afterwards, and wait on the loop without blocking it.

#include <gtest/gtest.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <chrono>

#include "resp/connection.hpp"

namespace sluice::resp::test_harness {

// Runs `body` as a coroutine on `ctx` until it finishes (or `limit` passes), with the connection
// started first and stopped afterwards.
template <class Body>
void run(asio::io_context& ctx, connection& conn, Body body,
         std::chrono::seconds limit = std::chrono::seconds(30)) {
    bool finished = false;
    conn.start();
    asio::co_spawn(
        ctx,
        [&]() -> asio::awaitable<void> {
            co_await body();
            finished = true;
            conn.stop();
        },
        asio::detached);
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!(finished && conn.stopped()) && std::chrono::steady_clock::now() < deadline) {
        ctx.run_for(std::chrono::milliseconds(50));
    }
    ASSERT_TRUE(finished) << "test coroutine did not finish";
}

inline asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
    asio::steady_timer t{co_await asio::this_coro::executor};
    t.expires_after(d);
    co_await t.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
}

inline asio::awaitable<void> wait_connected(
    connection& conn, std::chrono::milliseconds limit = std::chrono::milliseconds(5000)) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!conn.connected() && std::chrono::steady_clock::now() < deadline)
        co_await sleep_for(std::chrono::milliseconds(5));
}

}  // namespace sluice::resp::test_harness
