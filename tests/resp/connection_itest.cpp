// The pipelined client against a real redis-server: matching, timeouts, scripts, reconnection,
// back-pressure, pushes and a server that sends garbage.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "resp/connection.hpp"
#include "resp/error.hpp"
#include "resp/script.hpp"
#include "tests/resp/harness.hpp"
#include "tests/support/redis_server.hpp"

namespace sluice::resp {
namespace {

using namespace std::chrono_literals;
using test::redis_server;
using test_harness::run;
using test_harness::sleep_for;
using test_harness::wait_connected;

using test_harness::cmd;
using test_harness::collect;
using test_harness::command;
using test_harness::config_for;

TEST(Connection, SimpleCommandsOverResp3) {
    redis_server srv;
    asio::io_context ctx;
    connection conn{ctx.get_executor(), config_for(srv)};
    run(ctx, conn, [&]() -> asio::awaitable<void> {
        co_await wait_connected(conn);
        EXPECT_TRUE(conn.connected()) << conn.last_error();
        EXPECT_EQ(co_await command(conn, cmd("SET", "k", "v")), "OK");
        EXPECT_EQ(co_await command(conn, cmd("GET", "k")), "v");
        EXPECT_EQ(co_await command(conn, cmd("GET", "missing")), "(nil)");
        EXPECT_EQ(co_await command(conn, cmd("INCRBY", "n", "41")), "41");
        // A Redis error is a reply, not a transport error.
        std::error_code ec;
        EXPECT_EQ(co_await command(conn, cmd("INCR", "k"), &ec),
                  "ERR:ERR value is not an integer or out of range");
        EXPECT_FALSE(ec);
    });
}

TEST(Connection, Resp2ProtocolWorksToo) {
    redis_server srv;
    asio::io_context ctx;
    auto cfg = config_for(srv);
    cfg.protocol = 2;
    connection conn{ctx.get_executor(), cfg};
    run(ctx, conn, [&]() -> asio::awaitable<void> {
        co_await wait_connected(conn);
        EXPECT_EQ(co_await command(conn, cmd("SET", "k", "v")), "OK");
        EXPECT_EQ(co_await command(conn, cmd("GET", "missing")), "(nil)");
        auto info = co_await command(conn, cmd("CLIENT", "INFO"));
        EXPECT_NE(info.find("resp=2"), std::string::npos) << info;
    });
}

// 100 coroutines issue 1,000 commands each, all through one connection: every caller must get
// its own reply, and the writes must be batched (far fewer writes than commands).
TEST(Connection, HundredThousandPipelinedCommandsFromHundredCoroutines) {
    redis_server srv;
    asio::io_context ctx;
    connection conn{ctx.get_executor(), config_for(srv)};
    constexpr int coroutines = 100;
    constexpr int per_coroutine = 1000;
    int mismatches = 0, errors = 0, done = 0;
    run(
        ctx, conn,
        [&]() -> asio::awaitable<void> {
            co_await wait_connected(conn);
            for (int c = 0; c < coroutines; ++c) {
                asio::co_spawn(
                    ctx,
                    [&, c]() -> asio::awaitable<void> {
                        request req;
                        for (int i = 0; i < per_coroutine; ++i) {
                            std::string expected = std::to_string(c) + ":" + std::to_string(i);
                            req.clear();
                            req.push("ECHO", expected);
                            collect got;
                            auto ec = co_await conn.exec(req, got, 10s);
                            if (ec)
                                ++errors;
                            else if (got.one() != expected)
                                ++mismatches;
                        }
                        ++done;
                    },
                    asio::detached);
            }
            while (done < coroutines)
                co_await sleep_for(10ms);
        },
        120s);
    EXPECT_EQ(done, coroutines);
    EXPECT_EQ(errors, 0);
    EXPECT_EQ(mismatches, 0);
    EXPECT_EQ(conn.stats().replies.get(), std::uint64_t{coroutines * per_coroutine});
    EXPECT_LT(conn.stats().writes.get(), std::uint64_t{coroutines * per_coroutine / 4})
        << "commands issued in the same loop turn should share a write";
}

TEST(Connection, MultiCommandRequestDeliversEveryReplyInOrder) {
    redis_server srv;
    asio::io_context ctx;
    connection conn{ctx.get_executor(), config_for(srv)};
    run(ctx, conn, [&]() -> asio::awaitable<void> {
        co_await wait_connected(conn);
        request req;
        req.push("SET", "a", "1");
        req.push("INCR", "a");
        req.push("GET", "a");
        collect c;
        auto ec = co_await conn.exec(req, c, 2s);
        EXPECT_FALSE(ec);
        EXPECT_EQ(c.values, (std::vector<std::string>{"OK", "2", "2"}));
    });
}

// The caller gets a timeout; the late reply is read and dropped; the next request gets its own
// reply on the same TCP connection (same CLIENT ID: no reconnect happened).
TEST(Connection, TimeoutKeepsTheConnectionInStep) {
    redis_server srv;
    asio::io_context ctx;
    connection conn{ctx.get_executor(), config_for(srv)};
    run(ctx, conn, [&]() -> asio::awaitable<void> {
        co_await wait_connected(conn);
        std::string id = co_await command(conn, cmd("CLIENT", "ID"));
        std::error_code ec;
        auto t0 = std::chrono::steady_clock::now();
        co_await command(conn, cmd("DEBUG", "SLEEP", "0.5"), &ec, 100ms);
        auto waited = std::chrono::steady_clock::now() - t0;
        EXPECT_EQ(ec, errc::timeout);
        EXPECT_LT(waited, 400ms);
        // Issued while the server still sleeps: must get its own reply, not DEBUG's "OK".
        EXPECT_EQ(co_await command(conn, cmd("ECHO", "after"), &ec, 2000ms), "after");
        EXPECT_FALSE(ec);
        EXPECT_EQ(co_await command(conn, cmd("CLIENT", "ID")), id);
        EXPECT_EQ(conn.stats().timeouts.get(), 1u);
    });
}

TEST(Connection, ScriptSurvivesScriptFlush) {
    redis_server srv;
    asio::io_context ctx;
    connection conn{ctx.get_executor(), config_for(srv)};
    script add{"return tonumber(ARGV[1]) + tonumber(ARGV[2])"};
    run(ctx, conn, [&]() -> asio::awaitable<void> {
        co_await wait_connected(conn);
        for (int round = 0; round < 3; ++round) {
            if (round == 2) srv.cli({"SCRIPT", "FLUSH"});
            request req;
            add.push(req, {}, 40, round);
            collect c;
            auto ec = co_await conn.exec(add, req, c, 2s);
            EXPECT_FALSE(ec) << ec.message();
            EXPECT_EQ(c.one(), std::to_string(40 + round));
        }
        // The first call loaded it (the cache was empty), the third after the flush.
        EXPECT_EQ(conn.stats().noscript_retries.get(), 2u);
        EXPECT_EQ(srv.cli({"SCRIPT", "EXISTS", add.sha()}), "1");
    });
}

// A script the server cannot compile: EVALSHA says NOSCRIPT, SCRIPT LOAD fails, and the caller
// gets script_load_failed instead of a hang or a reply meant for someone else.
TEST(Connection, ScriptThatDoesNotCompileIsAnError) {
    redis_server srv;
    asio::io_context ctx;
    connection conn{ctx.get_executor(), config_for(srv)};
    script broken{"return this is not lua"};
    run(ctx, conn, [&]() -> asio::awaitable<void> {
        co_await wait_connected(conn);
        request req;
        broken.push(req, {});
        collect c;
        EXPECT_EQ(co_await conn.exec(broken, req, c, 2s), errc::script_load_failed);
        EXPECT_EQ(co_await command(conn, cmd("ECHO", "still in step")), "still in step");
    });
}

TEST(Connection, ScriptWithKeysUsesKeys) {
    redis_server srv;
    asio::io_context ctx;
    connection conn{ctx.get_executor(), config_for(srv)};
    script s{"redis.call('SET', KEYS[1], ARGV[1]); return redis.call('GET', KEYS[1])"};
    run(ctx, conn, [&]() -> asio::awaitable<void> {
        co_await wait_connected(conn);
        request req;
        s.push(req, {"{tag}:k"}, "hello");
        collect c;
        EXPECT_FALSE(co_await conn.exec(s, req, c, 2s));
        EXPECT_EQ(c.one(), "hello");
        EXPECT_EQ(srv.cli({"GET", "{tag}:k"}), "hello");
    });
}

TEST(Connection, FailsFastWhileDownAndRestoresDbAndAuthAfterRestart) {
    redis_server srv{{"--requirepass", "s3cret"}};
    asio::io_context ctx;
    auto cfg = config_for(srv);
    cfg.password = "s3cret";
    cfg.db = 3;
    connection conn{ctx.get_executor(), cfg};
    run(ctx, conn, [&]() -> asio::awaitable<void> {
        co_await wait_connected(conn);
        EXPECT_EQ(co_await command(conn, cmd("SET", "where", "db3")), "OK");
        EXPECT_EQ(srv.cli({"-n", "3", "GET", "where"}), "db3");

        srv.stop();
        // The reader sees the close at once; requests then fail fast, not after a timeout.
        auto deadline = std::chrono::steady_clock::now() + 2s;
        while (conn.connected() && std::chrono::steady_clock::now() < deadline)
            co_await sleep_for(5ms);
        EXPECT_FALSE(conn.connected());
        std::error_code ec;
        auto t0 = std::chrono::steady_clock::now();
        co_await command(conn, cmd("PING"), &ec, 1000ms);
        EXPECT_EQ(ec, errc::not_connected);
        EXPECT_LT(std::chrono::steady_clock::now() - t0, 50ms);
        EXPECT_GE(conn.stats().failed_fast.get(), 1u);

        srv.start();  // same port, empty data set
        co_await wait_connected(conn);
        EXPECT_TRUE(conn.connected()) << conn.last_error();
        EXPECT_EQ(co_await command(conn, cmd("SET", "where", "again")), "OK");
        EXPECT_EQ(srv.cli({"-n", "3", "GET", "where"}), "again");
        EXPECT_EQ(srv.cli({"-n", "0", "GET", "where"}), "");
        EXPECT_GE(conn.stats().connects.get(), 2u);
    });
}

TEST(Connection, WrongPasswordIsAHandshakeFailure) {
    redis_server srv{{"--requirepass", "right"}};
    asio::io_context ctx;
    auto cfg = config_for(srv);
    cfg.password = "wrong";
    connection conn{ctx.get_executor(), cfg};
    run(ctx, conn, [&]() -> asio::awaitable<void> {
        co_await sleep_for(300ms);
        EXPECT_FALSE(conn.connected());
        EXPECT_NE(conn.last_error().find("WRONGPASS"), std::string::npos) << conn.last_error();
        std::error_code ec;
        co_await command(conn, cmd("PING"), &ec);
        EXPECT_EQ(ec, errc::not_connected);
    });
}

// A listener that completes the TCP handshake (the kernel's backlog) but never answers HELLO.
TEST(Connection, ConnectTimeoutCoversTheHandshake) {
    unsigned short port = 0;
    int fd = test::listen_loopback(port);
    ASSERT_GE(fd, 0);

    asio::io_context ctx;
    connection_config cfg;
    cfg.port = port;
    cfg.connect_timeout = 100ms;
    cfg.reconnect_min = 1000ms;
    connection conn{ctx.get_executor(), cfg};
    run(ctx, conn, [&]() -> asio::awaitable<void> {
        co_await sleep_for(400ms);
        EXPECT_FALSE(conn.connected());
        EXPECT_NE(conn.last_error().find("timed out"), std::string::npos) << conn.last_error();
    });
    ::close(fd);
}

// A stalled server with a small in-flight bound: callers wait for a slot instead of queueing
// without limit, and all of them are served once the server answers again.
TEST(Connection, InFlightBoundAppliesBackPressure) {
    redis_server srv;
    asio::io_context ctx;
    auto cfg = config_for(srv);
    cfg.max_in_flight = 4;
    cfg.health_interval = 0ms;
    connection conn{ctx.get_executor(), cfg};
    std::size_t max_seen = 0;
    int ok = 0, done = 0;
    run(ctx, conn, [&]() -> asio::awaitable<void> {
        co_await wait_connected(conn);
        std::thread([&srv] { srv.cli({"DEBUG", "SLEEP", "0.3"}); }).detach();
        co_await sleep_for(50ms);
        for (int i = 0; i < 20; ++i) {
            asio::co_spawn(
                ctx,
                [&, i]() -> asio::awaitable<void> {
                    std::error_code ec;
                    auto v = co_await command(conn, cmd("ECHO", std::to_string(i)), &ec, 3000ms);
                    if (!ec && v == std::to_string(i)) ++ok;
                    ++done;
                },
                asio::detached);
        }
        while (done < 20) {
            max_seen = std::max(max_seen, conn.in_flight());
            co_await sleep_for(1ms);
        }
    });
    EXPECT_EQ(ok, 20);
    EXPECT_LE(max_seen, 4u);
    EXPECT_EQ(max_seen, 4u) << "the bound should have been reached while the server slept";
}

// RESP3 pushes (client-side caching invalidations) go to the push handler and never take the
// place of a reply.
TEST(Connection, PushesGoToThePushHandler) {
    redis_server srv;
    asio::io_context ctx;
    connection conn{ctx.get_executor(), config_for(srv)};
    std::vector<std::string> pushed;
    auto on_push = [&](const node& n) {
        if (!is_aggregate(n.data_type)) pushed.emplace_back(n.value);
    };
    conn.set_push_handler(on_push);
    run(ctx, conn, [&]() -> asio::awaitable<void> {
        co_await wait_connected(conn);
        EXPECT_EQ(co_await command(conn, cmd("CLIENT", "TRACKING", "on")), "OK");
        EXPECT_EQ(co_await command(conn, cmd("GET", "tracked")), "(nil)");
        srv.cli({"SET", "tracked", "1"});
        for (int i = 0; i < 100 && pushed.empty(); ++i) {
            EXPECT_EQ(co_await command(conn, cmd("ECHO", "x")), "x");
            co_await sleep_for(5ms);
        }
        EXPECT_EQ(pushed, (std::vector<std::string>{"invalidate", "tracked"}));
    });
}

// A "server" that answers HELLO properly and then sends bytes that are not RESP: the connection
// reports a protocol error, fails the request, and reconnects; nothing crashes or hangs.
TEST(Connection, HostileServerBytesCloseTheConnection) {
    unsigned short port = 0;
    int fd = test::listen_loopback(port);
    ASSERT_GE(fd, 0);
    std::atomic<bool> quit{false};
    std::thread server([&] {
        while (!quit) {
            int c = ::accept(fd, nullptr, nullptr);
            if (c < 0) return;
            char buf[4096];
            if (::read(c, buf, sizeof buf) > 0) {  // HELLO 3
                const char hello[] = "%1\r\n+server\r\n+fake\r\n";
                (void)!::write(c, hello, sizeof hello - 1);
            }
            if (::read(c, buf, sizeof buf) > 0) {  // the request
                const char garbage[] = "?what\r\n";
                (void)!::write(c, garbage, sizeof garbage - 1);
            }
            ::usleep(100000);
            ::close(c);
        }
    });

    asio::io_context ctx;
    connection_config cfg;
    cfg.port = port;
    cfg.reconnect_min = 20ms;
    connection conn{ctx.get_executor(), cfg};
    run(ctx, conn, [&]() -> asio::awaitable<void> {
        co_await wait_connected(conn);
        std::error_code ec;
        co_await command(conn, cmd("PING"), &ec);
        EXPECT_EQ(ec, errc::disconnected);
        EXPECT_NE(conn.last_error().find("protocol error"), std::string::npos) << conn.last_error();
    });
    quit = true;
    ::shutdown(fd, SHUT_RDWR);
    ::close(fd);
    server.join();
}

}  // namespace
}  // namespace sluice::resp
