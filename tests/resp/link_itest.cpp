// The link's states against a real redis-server: requests that arrive while the link is set up
// wait for it, a known-down link fails fast, one reload per flushed script, one event per change.

#include <gtest/gtest.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "resp/connection.hpp"
#include "resp/error.hpp"
#include "resp/script.hpp"
#include "tests/resp/harness.hpp"
#include "tests/support/process.hpp"
#include "tests/support/redis_server.hpp"

namespace sluice::resp {
namespace {

using namespace std::chrono_literals;
using test::redis_server;
using test_harness::cmd;
using test_harness::collect;
using test_harness::command;
using test_harness::config_for;
using test_harness::run;
using test_harness::sleep_for;
using test_harness::wait_connected;

// The number after `calls=` in the server's INFO commandstats line for `cmd` (0 when absent).
long calls_of(const redis_server& srv, const std::string& cmd) {
    std::string info = srv.cli({"INFO", "commandstats"});
    auto at = info.find("cmdstat_" + cmd + ":calls=");
    if (at == std::string::npos) return 0;
    return std::stol(info.substr(at + cmd.size() + 15));
}

TEST(Link, RequestsSentBeforeTheFirstLinkIsUpWaitForIt) {
    redis_server srv;
    asio::io_context ctx;
    connection conn{ctx.get_executor(), config_for(srv)};
    int ok = 0;
    run(ctx, conn, [&]() -> asio::awaitable<void> {
        // No wait_connected(): these leave while the connection is still being set up.
        EXPECT_NE(conn.state(), link_state::ready);
        for (int i = 0; i < 5; ++i) {
            std::error_code ec;
            auto v = co_await command(conn, cmd("ECHO", std::to_string(i)), &ec, 1000ms);
            EXPECT_FALSE(ec) << ec.message();
            if (v == std::to_string(i)) ++ok;
        }
    });
    EXPECT_EQ(ok, 5);
    EXPECT_GE(conn.stats().waited.get(), 1u);
    EXPECT_EQ(conn.stats().failed_fast.get(), 0u);
}

TEST(Link, ConcurrentRequestsAtStartAllWaitAndLeaveInOneWrite) {
    redis_server srv;
    asio::io_context ctx;
    connection conn{ctx.get_executor(), config_for(srv)};
    int ok = 0, done = 0;
    run(ctx, conn, [&]() -> asio::awaitable<void> {
        for (int i = 0; i < 50; ++i) {
            asio::co_spawn(
                ctx,
                [&, i]() -> asio::awaitable<void> {
                    std::error_code ec;
                    auto v = co_await command(conn, cmd("ECHO", std::to_string(i)), &ec, 1000ms);
                    if (!ec && v == std::to_string(i)) ++ok;
                    ++done;
                },
                asio::detached);
        }
        while (done < 50)
            co_await sleep_for(1ms);
    });
    EXPECT_EQ(ok, 50);
    EXPECT_EQ(conn.stats().waited.get(), 50u);
    EXPECT_EQ(conn.stats().writes.get(), 1u);
}

TEST(Link, ALinkKnownDownFailsAtOnceAndOneBeingSetUpTimesOut) {
    // Nothing listens: every attempt is refused, the link backs off between them.
    const unsigned short port = test::free_port();
    asio::io_context ctx;
    connection_config cfg;
    cfg.port = port;
    cfg.reconnect_min = 200ms;
    cfg.reconnect_max = 200ms;
    connection conn{ctx.get_executor(), cfg};
    run(ctx, conn, [&]() -> asio::awaitable<void> {
        while (conn.state() != link_state::backing_off)
            co_await sleep_for(1ms);
        auto t0 = std::chrono::steady_clock::now();
        std::error_code ec;
        co_await command(conn, cmd("PING"), &ec, 1000ms);
        EXPECT_EQ(ec, errc::not_connected);
        EXPECT_LT(std::chrono::steady_clock::now() - t0, 50ms);
    });
    EXPECT_GE(conn.stats().failed_fast.get(), 1u);
}

TEST(Link, RequestsAfterAKilledClientWaitForTheNewLink) {
    redis_server srv;
    asio::io_context ctx;
    connection conn{ctx.get_executor(), config_for(srv)};
    int ok = 0, done = 0;
    // Sent the moment the loss is known: the new link is being set up, not known to be down.
    conn.on_event([&](const link_event& e) {
        if (e.what != link_event::kind::lost) return;
        EXPECT_EQ(conn.state(), link_state::connecting);
        for (int i = 0; i < 10; ++i) {
            asio::co_spawn(
                ctx,
                [&]() -> asio::awaitable<void> {
                    std::error_code ec;
                    auto v = co_await command(conn, cmd("ECHO", "x"), &ec, 1000ms);
                    EXPECT_FALSE(ec) << ec.message();
                    if (v == "x") ++ok;
                    ++done;
                },
                asio::detached);
        }
    });
    run(ctx, conn, [&]() -> asio::awaitable<void> {
        co_await wait_connected(conn);
        srv.cli({"CLIENT", "KILL", "TYPE", "normal"});
        while (done < 10)
            co_await sleep_for(1ms);
    });
    EXPECT_EQ(ok, 10);
    EXPECT_EQ(conn.stats().failed_fast.get(), 0u);
    EXPECT_EQ(conn.stats().waited.get(), 10u);
    EXPECT_EQ(conn.stats().reconnects.get(), 1u);
}

TEST(Link, AFlushedScriptIsLoadedOnceWhateverIsInFlight) {
    redis_server srv;
    asio::io_context ctx;
    connection conn{ctx.get_executor(), config_for(srv)};
    script incr{"return redis.call('INCR', KEYS[1])"};
    conn.preload(incr);
    int ok = 0, done = 0;
    long loads_before = 0;
    run(ctx, conn, [&]() -> asio::awaitable<void> {
        co_await wait_connected(conn);
        EXPECT_EQ(srv.cli({"SCRIPT", "EXISTS", incr.sha()}), "1");  // loaded by the handshake
        srv.cli({"SCRIPT", "FLUSH"});
        loads_before = calls_of(srv, "script|load");
        for (int i = 0; i < 40; ++i) {
            asio::co_spawn(
                ctx,
                [&]() -> asio::awaitable<void> {
                    request req;
                    incr.push(req, {"counter"});
                    collect c;
                    auto ec = co_await conn.exec(incr, req, c, 2s);
                    if (!ec) ++ok;
                    ++done;
                },
                asio::detached);
        }
        while (done < 40)
            co_await sleep_for(1ms);
    });
    EXPECT_EQ(ok, 40);
    EXPECT_EQ(srv.cli({"GET", "counter"}), "40");  // each ran exactly once
    EXPECT_EQ(calls_of(srv, "script|load") - loads_before, 1);
    EXPECT_EQ(conn.stats().noscript_retries.get(), 40u);
}

TEST(Link, EachChangeIsReportedOnceNotEachAttempt) {
    redis_server srv;
    asio::io_context ctx;
    auto cfg = config_for(srv);
    cfg.reconnect_min = 5ms;
    cfg.reconnect_max = 20ms;
    connection conn{ctx.get_executor(), cfg};
    std::vector<link_event::kind> events;
    std::string lost_reason;
    conn.on_event([&](const link_event& e) {
        events.push_back(e.what);
        if (e.what == link_event::kind::lost) lost_reason = e.reason;
    });
    run(ctx, conn, [&]() -> asio::awaitable<void> {
        co_await wait_connected(conn);
        srv.stop();
        co_await sleep_for(300ms);  // many refused attempts
        srv.start();
        co_await sleep_for(100ms);
        co_await wait_connected(conn);
    });
    using k = link_event::kind;
    EXPECT_EQ(events, (std::vector<k>{k::connected, k::lost, k::restored}));
    EXPECT_NE(lost_reason.find("closed"), std::string::npos) << lost_reason;
}

TEST(Link, BackPressureServesWaitersInArrivalOrder) {
    redis_server srv;
    asio::io_context ctx;
    auto cfg = config_for(srv);
    cfg.max_in_flight = 2;
    cfg.health_interval = 0ms;
    connection conn{ctx.get_executor(), cfg};
    std::vector<int> order;
    run(ctx, conn, [&]() -> asio::awaitable<void> {
        co_await wait_connected(conn);
        std::thread([&srv] { srv.cli({"DEBUG", "SLEEP", "0.2"}); }).detach();
        co_await sleep_for(30ms);
        for (int i = 0; i < 12; ++i) {
            asio::co_spawn(
                ctx,
                [&, i]() -> asio::awaitable<void> {
                    std::error_code ec;
                    co_await command(conn, cmd("ECHO", std::to_string(i)), &ec, 3000ms);
                    if (!ec) order.push_back(i);
                },
                asio::detached);
        }
        while (order.size() < 12)
            co_await sleep_for(1ms);
    });
    std::vector<int> expected;
    for (int i = 0; i < 12; ++i)
        expected.push_back(i);
    EXPECT_EQ(order, expected);
}

}  // namespace
}  // namespace sluice::resp
