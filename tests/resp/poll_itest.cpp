// Polling before sleeping (connection_config::poll_budget): replies found by polling, the back-off
// from a distant server, the event loop still served while the reader polls, and a link that drops
// in the middle of a poll.

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <atomic>
#include <chrono>
#include <string>
#include <string_view>
#include <thread>

#include "resp/connection.hpp"
#include "resp/error.hpp"
#include "tests/resp/harness.hpp"
#include "tests/support/process.hpp"
#include "tests/support/redis_server.hpp"

namespace sluice::resp {
namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

// A "server" far away: it answers every PING with +PONG after `delay`, or, with `close_instead`,
// closes the connection after `delay` without answering. RESP2 without AUTH or SELECT has no
// handshake, so the client sends its requests at once.
class slow_server {
  public:
    slow_server(std::chrono::milliseconds delay, bool close_instead = false)
        : delay_ms_{static_cast<int>(delay.count())}, close_instead_{close_instead} {
        fd_ = test::listen_loopback(port_);
        thread_ = std::thread([this] { serve(); });
    }
    ~slow_server() {
        quit_ = true;
        ::shutdown(fd_, SHUT_RDWR);
        ::close(fd_);
        thread_.join();
    }
    unsigned short port() const { return port_; }
    void set_delay(std::chrono::milliseconds d) { delay_ms_ = static_cast<int>(d.count()); }

  private:
    void serve() {
        while (!quit_) {
            int c = ::accept(fd_, nullptr, nullptr);
            if (c < 0) return;
            char buf[4096];
            ssize_t n;
            while (!quit_ && (n = ::read(c, buf, sizeof buf)) > 0) {
                std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms_.load()));
                if (close_instead_) break;
                std::string replies;
                for (std::string_view in{buf, static_cast<std::size_t>(n)};
                     in.find("PING") != std::string_view::npos;
                     in.remove_prefix(in.find("PING") + 4)) {
                    replies += "+PONG\r\n";
                }
                (void)!::write(c, replies.data(), replies.size());
            }
            ::close(c);
        }
    }

    std::atomic<int> delay_ms_;
    bool close_instead_;
    unsigned short port_ = 0;
    int fd_ = -1;
    std::atomic<bool> quit_{false};
    std::thread thread_;
};

connection_config config_for(unsigned short port, std::chrono::microseconds budget) {
    connection_config cfg;
    cfg.port = port;
    cfg.protocol = 2;
    cfg.health_interval = 0ms;  // no PING of its own in the counts
    cfg.reconnect_min = 10ms;
    cfg.reconnect_max = 100ms;
    cfg.poll_budget = budget;
    return cfg;
}

// Runs `body` on `ctx` with the connection up, then stops the connection.
template <class Body>
void run(asio::io_context& ctx, connection& conn, Body body) {
    test_harness::run(ctx, conn, [&]() -> asio::awaitable<void> {
        co_await test_harness::wait_connected(conn);
        EXPECT_TRUE(conn.connected()) << conn.last_error();
        co_await body();
    });
}

asio::awaitable<std::error_code> ping(connection& conn, std::string* value = nullptr) {
    request req;
    req.push("PING");
    std::string got;
    auto ec = co_await conn.exec(
        req, [&](const node& n) { got = n.value; }, 5s);
    if (value) *value = got;
    co_return ec;
}

// Sends `n` PINGs one after another; returns how many were answered PONG.
asio::awaitable<int> pongs(connection& conn, int n) {
    int good = 0;
    for (int i = 0; i < n; ++i) {
        std::string v;
        if (!co_await ping(conn, &v) && v == "PONG") ++good;
    }
    co_return good;
}

// With a budget far above a local server's reply time, every reply is found by polling, and the
// replies are the right ones.
TEST(Poll, NearbyServerRepliesAreFoundByPolling) {
    test::redis_server srv;
    asio::io_context ctx;
    connection conn{ctx.get_executor(), config_for(srv.port(), 20ms)};
    int good = 0;
    run(ctx, conn, [&]() -> asio::awaitable<void> { good = co_await pongs(conn, 200); });
    EXPECT_EQ(good, 200);
    EXPECT_GE(conn.stats().poll_hits.get(), 180u);
    EXPECT_LE(conn.stats().poll_misses.get(), 5u);
}

TEST(Poll, ZeroBudgetNeverPolls) {
    test::redis_server srv;
    asio::io_context ctx;
    connection conn{ctx.get_executor(), config_for(srv.port(), 0us)};
    int good = 0;
    run(ctx, conn, [&]() -> asio::awaitable<void> { good = co_await pongs(conn, 50); });
    EXPECT_EQ(good, 50);
    EXPECT_EQ(conn.stats().poll_hits.get(), 0u);
    EXPECT_EQ(conn.stats().poll_misses.get(), 0u);
}

// A server slower than the budget: the first polls miss, and then the reader backs off (2, 4, ...
// 64 waits without polling), so 50 round trips cost a handful of wasted budgets, not 50.
TEST(Poll, DistantServerMakesTheReaderBackOff) {
    slow_server srv{10ms};
    asio::io_context ctx;
    connection conn{ctx.get_executor(), config_for(srv.port(), 500us)};
    int good = 0;
    run(ctx, conn, [&]() -> asio::awaitable<void> { good = co_await pongs(conn, 50); });
    EXPECT_EQ(good, 50);
    // Polls at waits 1, 4, 9, 18 and 35, each followed by 2, 4, 8, 16 and 32 waits that sleep at
    // once. (A poll delayed past the 10 ms, on a loaded machine, finds the reply: a hit, which
    // restarts the back-off, hence the slack.)
    const auto polls = conn.stats().poll_misses.get() + conn.stats().poll_hits.get();
    EXPECT_GE(conn.stats().poll_misses.get(), 4u);
    EXPECT_LE(polls, 8u);
}

// Requests on an idle connection (the gateway's usual case: one decision at a time, each from
// its own HTTP request) count as waits for the back-off too: after a slow reply the next two
// sleep at once, and then polling resumes, finding the now fast server's replies.
TEST(Poll, IdleConnectionRequestsBackOffAndRecover) {
    slow_server srv{100ms};
    asio::io_context ctx;
    connection conn{ctx.get_executor(), config_for(srv.port(), 20ms)};
    int good = 0;
    run(ctx, conn, [&]() -> asio::awaitable<void> {
        for (int i = 0; i < 12; ++i) {
            good += co_await pongs(conn, 1);
            if (i == 0) srv.set_delay(0ms);
            // Let the reader go back to sleep with nothing due before the next request.
            co_await test_harness::sleep_for(2ms);
        }
    });
    EXPECT_EQ(good, 12);
    // Request 1 misses; 2 and 3 sleep at once; 4 to 12 poll, and a local reply is there within
    // 20 ms (on a loaded machine one may not be, and cost a back-off of its own: hence >= 5).
    const auto hits = conn.stats().poll_hits.get();
    const auto misses = conn.stats().poll_misses.get();
    EXPECT_GE(misses, 1u);
    EXPECT_GE(hits, 5u) << "misses: " << misses;
    EXPECT_LE(hits + misses, 10u) << "requests 2 and 3 should not have polled";
}

// The reader polls between turns of the event loop, never instead of them: with a budget of a
// second and a reply 300 ms away, a 20 ms timer on the same loop still fires on time, and the
// reply is still found by polling.
TEST(Poll, EventLoopKeepsRunningWhileTheReaderPolls) {
    slow_server srv{300ms};
    asio::io_context ctx;
    connection conn{ctx.get_executor(), config_for(srv.port(), 1s)};
    std::chrono::milliseconds timer_after{0};
    std::chrono::milliseconds reply_after{0};
    std::error_code ec;
    run(ctx, conn, [&]() -> asio::awaitable<void> {
        const auto t0 = clock_type::now();
        asio::steady_timer timer{ctx};
        timer.expires_after(20ms);
        timer.async_wait([&](std::error_code) {
            timer_after =
                std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - t0);
        });
        ec = co_await ping(conn);
        reply_after = std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - t0);
    });
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_GE(reply_after, 300ms);
    EXPECT_GE(timer_after, 20ms);
    EXPECT_LT(timer_after, 150ms) << "the timer waited for the poll";
    EXPECT_EQ(conn.stats().poll_hits.get(), 1u);
}

// The server closes the connection while the reader polls for its reply: the request fails with
// `disconnected` at once, not when the budget runs out.
TEST(Poll, LinkLostWhilePollingFailsTheRequest) {
    slow_server srv{50ms, true};
    asio::io_context ctx;
    connection conn{ctx.get_executor(), config_for(srv.port(), 10s)};
    std::error_code ec;
    std::chrono::milliseconds took{0};
    run(ctx, conn, [&]() -> asio::awaitable<void> {
        const auto t0 = clock_type::now();
        ec = co_await ping(conn);
        took = std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - t0);
    });
    EXPECT_EQ(ec, errc::disconnected) << ec.message();
    EXPECT_LT(took, 2000ms);
    EXPECT_NE(conn.last_error().find("server closed"), std::string::npos) << conn.last_error();
}

}  // namespace
}  // namespace sluice::resp
