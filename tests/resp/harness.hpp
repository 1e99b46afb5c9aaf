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
#include <string>
#include <vector>

#include "resp/connection.hpp"
#include "tests/support/redis_server.hpp"

namespace sluice::resp::test_harness {

using namespace std::chrono_literals;

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

// Collects a reply as text: scalars' values, errors prefixed with "ERR:", nulls as "(nil)".
struct collect {
    std::vector<std::string> values;
    void operator()(const node& n) {
        if (is_aggregate(n.data_type)) return;
        if (n.data_type == type::null)
            values.emplace_back("(nil)");
        else if (is_error(n.data_type))
            values.push_back("ERR:" + std::string(n.value));
        else
            values.emplace_back(n.value);
    }
    std::string one() const {
        return values.size() == 1 ? values[0] : "<" + std::to_string(values.size()) + " values>";
    }
};

inline connection_config config_for(const test::redis_server& srv) {
    connection_config cfg;
    cfg.port = srv.port();
    cfg.reconnect_min = 10ms;
    cfg.reconnect_max = 100ms;
    return cfg;
}

// Builds a command's words outside any coroutine: GCC 12 cannot keep a braced list of string
// literals alive across co_await.
template <class... A>
std::vector<std::string> cmd(const A&... a) {
    return {std::string(a)...};
}

inline asio::awaitable<std::string> command(connection& conn, std::vector<std::string> args,
                                            std::error_code* ec_out = nullptr,
                                            std::chrono::milliseconds timeout = 2000ms) {
    request req;
    req.push_range(args.front(), std::vector<std::string>(args.begin() + 1, args.end()));
    collect c;
    auto ec = co_await conn.exec(req, c, timeout);
    if (ec_out) *ec_out = ec;
    co_return ec ? "error: " + ec.message() : c.one();
}

}  // namespace sluice::resp::test_harness
