// A connection pointed at another server (resp::connection::retarget, a failover found through
// Sentinel) and one that accepts only a primary (require_primary), against real redis-servers.

#include <gtest/gtest.h>

#include <asio/io_context.hpp>
#include <chrono>
#include <string>

#include "resp/connection.hpp"
#include "resp/error.hpp"
#include "tests/resp/harness.hpp"
#include "tests/support/process.hpp"
#include "tests/support/redis_server.hpp"

namespace sluice::resp {
namespace {

using namespace std::chrono_literals;
using test::redis_server;
using test_harness::cmd;
using test_harness::command;
using test_harness::config_for;
using test_harness::run;
using test_harness::sleep_for;
using test_harness::wait_connected;

TEST(Retarget, AWorkingConnectionMovesToTheNewServer) {
    redis_server a, b;
    asio::io_context ctx;
    connection conn{ctx.get_executor(), config_for(a)};
    run(ctx, conn, [&]() -> asio::awaitable<void> {
        co_await wait_connected(conn);
        EXPECT_EQ(co_await command(conn, cmd("SET", "k", "on-a")), "OK");
        conn.retarget("127.0.0.1", b.port());
        // Sent at once: it waits for the new link instead of failing.
        EXPECT_EQ(co_await command(conn, cmd("SET", "k", "on-b")), "OK");
        EXPECT_EQ(conn.config().port, b.port());
        // The same address again changes nothing.
        const auto connects = conn.stats().connects.get();
        conn.retarget("127.0.0.1", b.port());
        EXPECT_EQ(co_await command(conn, cmd("GET", "k")), "on-b");
        EXPECT_EQ(conn.stats().connects.get(), connects);
    });
    EXPECT_EQ(a.cli({"GET", "k"}), "on-a");
    EXPECT_EQ(b.cli({"GET", "k"}), "on-b");
}

TEST(Retarget, ABackoffIsCutShort) {
    redis_server b;
    asio::io_context ctx;
    connection_config cfg;
    cfg.port = test::free_port();  // nothing listens there
    cfg.reconnect_min = 5000ms;    // a backoff the test would notice
    cfg.reconnect_max = 5000ms;
    connection conn{ctx.get_executor(), cfg};
    run(ctx, conn, [&]() -> asio::awaitable<void> {
        while (conn.state() != link_state::backing_off)
            co_await sleep_for(5ms);
        const auto t0 = std::chrono::steady_clock::now();
        conn.retarget("127.0.0.1", b.port());
        EXPECT_EQ(co_await command(conn, cmd("PING")), "PONG");
        EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
    });
}

TEST(Retarget, UntargetedRequestsWaitForTheFirstAddress) {
    redis_server b;
    asio::io_context ctx;
    connection conn{ctx.get_executor(), connection_config{}};
    conn.start_untargeted();
    bool done = false;
    std::string early, late;
    asio::co_spawn(
        ctx,
        [&]() -> asio::awaitable<void> {
            std::error_code ec;
            early = co_await command(conn, cmd("PING"), &ec, 50ms);
            EXPECT_EQ(ec, errc::timeout);  // no address yet: it waited, then timed out
            asio::co_spawn(
                co_await asio::this_coro::executor,
                [&]() -> asio::awaitable<void> {
                    co_await sleep_for(30ms);
                    conn.retarget("127.0.0.1", b.port());
                },
                asio::detached);
            late = co_await command(conn, cmd("PING"), &ec, 2000ms);
            conn.stop();
            done = true;
        },
        asio::detached);
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!(done && conn.stopped()) && std::chrono::steady_clock::now() < deadline)
        ctx.run_for(50ms);
    ASSERT_TRUE(done);
    EXPECT_EQ(late, "PONG");
}

TEST(RequirePrimary, AReplicaFailsTheHandshakeAPrimaryPasses) {
    redis_server primary;
    redis_server replica{{"--replicaof", "127.0.0.1", std::to_string(primary.port())}};
    asio::io_context ctx;
    connection_config cfg = config_for(replica);
    cfg.require_primary = true;
    connection conn{ctx.get_executor(), cfg};
    run(ctx, conn, [&]() -> asio::awaitable<void> {
        while (conn.stats().connects.get() == 0 &&
               conn.last_error().find("ROLE") == std::string::npos)
            co_await sleep_for(5ms);
        EXPECT_FALSE(conn.connected());
        EXPECT_NE(conn.last_error().find("ROLE: the server is a slave, not the primary"),
                  std::string::npos)
            << conn.last_error();
        conn.retarget("127.0.0.1", primary.port());
        EXPECT_EQ(co_await command(conn, cmd("SET", "k", "v")), "OK");
    });
}

}  // namespace
}  // namespace sluice::resp
