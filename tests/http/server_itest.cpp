#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <future>
#include <new>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "http/server.hpp"
#include "tests/support/allocations.hpp"

namespace sluice::http {
namespace {

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

// Answers 200 with the target as body and the peer address in X-Peer. `/sleep/N` first waits
// N ms on a timer, so pipelined requests finish their work out of order and only the server can
// put the responses back in order. `/status/N` answers status N.
struct test_handler {
    std::atomic<int> calls{0};
    std::string body;
    std::string peer_text;

    asio::awaitable<void> handle(const request& req, const asio::ip::tcp::endpoint& peer,
                                 response& res) {
        ++calls;
        std::string_view target = req.target;
        if (target == "/static") {
            res.add_header("X-Static", "yes");
            res.add_header("X-Number", std::int64_t{12345});
            res.set_body("static body");
            co_return;
        }
        unsigned status = 200;
        auto number_after = [&](std::string_view prefix) {
            unsigned n = 0;
            std::from_chars(target.data() + prefix.size(), target.data() + target.size(), n);
            return n;
        };
        if (target.starts_with("/sleep/")) {
            asio::steady_timer t(co_await asio::this_coro::executor,
                                 std::chrono::milliseconds(number_after("/sleep/")));
            co_await t.async_wait(asio::use_awaitable);
        } else if (target.starts_with("/status/")) {
            status = number_after("/status/");
        }
        body = std::string(req.method) + " " + std::string(target);
        peer_text = peer.address().to_string();
        res.set_status(status);
        res.add_header("Content-Type", "text/plain");
        res.add_header("X-Peer", peer_text);
        res.add_header("X-Body-Size", static_cast<std::int64_t>(req.body_size));
        res.set_body(body);
    }
};

static_assert(request_handler<test_handler>);

// One io_context thread with an acceptor on 127.0.0.1:0 serving every connection.
class server_fixture : public ::testing::Test {
  protected:
    void start(server_limits limits = {}) {
        limits_ = limits;
        acceptor_.open(asio::ip::tcp::v4());
        acceptor_.set_option(asio::ip::tcp::acceptor::reuse_address(true));
        acceptor_.bind({asio::ip::make_address("127.0.0.1"), 0});
        acceptor_.listen();
        port_ = acceptor_.local_endpoint().port();
        asio::co_spawn(ioc_, accept_loop(), asio::detached);
        thread_ = std::thread([this] {
            ioc_.run();
            drained_ = true;
        });
    }

    // Every coroutine must end by itself once the sockets are closed: run() returning proves no
    // connection, timer or watchdog was left behind (and their frames, which refer to the
    // fixture, are gone before the fixture is).
    void TearDown() override {
        if (!thread_.joinable()) return;
        run_on_loop([this] {
            asio::error_code ignored;
            acceptor_.close(ignored);
            control_.abort();
        });
        const auto until = clock_type::now() + 10s;
        while (!drained_ && clock_type::now() < until)
            std::this_thread::sleep_for(5ms);
        if (!drained_) {
            ADD_FAILURE() << "the io_context still had work after abort()";
            ioc_.stop();
        }
        thread_.join();
    }

    asio::awaitable<void> accept_loop() {
        for (;;) {
            auto [ec, socket] = co_await acceptor_.async_accept(detail::use_tuple);
            if (ec) co_return;
            asio::co_spawn(ioc_, serve_connection(std::move(socket), handler_, limits_, control_),
                           asio::detached);
        }
    }

    template <class F>
    void run_on_loop(F f) {
        std::promise<void> done;
        asio::post(ioc_, [&] {
            f();
            done.set_value();
        });
        done.get_future().wait();
    }

    std::size_t active_connections() {
        std::size_t n = 0;
        run_on_loop([&] { n = control_.active(); });
        return n;
    }

    asio::io_context ioc_{1};
    asio::ip::tcp::acceptor acceptor_{ioc_};
    connection_control control_{ioc_.get_executor()};
    test_handler handler_;
    server_limits limits_;
    unsigned short port_ = 0;
    std::atomic<bool> drained_{false};
    std::thread thread_;
};

struct reply {
    unsigned status = 0;
    std::string head;
    std::string body;

    bool has(std::string_view field_line) const {
        return head.find(std::string(field_line) + "\r\n") != std::string::npos;
    }
};

// A blocking POSIX client that knows just enough HTTP to split responses.
class client {
  public:
    explicit client(unsigned short port) {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(port);
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
            ::close(fd_);
            fd_ = -1;
        }
    }
    client(const client&) = delete;
    client& operator=(const client&) = delete;
    ~client() {
        if (fd_ >= 0) ::close(fd_);
    }

    bool connected() const { return fd_ >= 0; }

    bool send(std::string_view bytes) {
        while (!bytes.empty()) {
            const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return false;
            bytes.remove_prefix(static_cast<std::size_t>(n));
        }
        return true;
    }

    std::optional<reply> read_reply(std::chrono::milliseconds timeout = 5s) {
        const auto until = clock_type::now() + timeout;
        for (;;) {
            if (auto r = take_reply()) return r;
            if (!fill(until)) return std::nullopt;
        }
    }

    // True when the server closes the connection (EOF or reset) before the timeout; bytes that
    // arrive first are kept for read_reply.
    bool closed_within(std::chrono::milliseconds timeout) {
        const auto until = clock_type::now() + timeout;
        while (fill(until)) {
        }
        return eof_;
    }

    const std::string& unread() const { return buf_; }

  private:
    std::optional<reply> take_reply() {
        const std::size_t head_end = buf_.find("\r\n\r\n");
        if (head_end == std::string::npos) return std::nullopt;
        reply r;
        r.head = buf_.substr(0, head_end + 4);
        if (r.head.size() < 12) return std::nullopt;
        std::from_chars(r.head.data() + 9, r.head.data() + 12, r.status);
        std::size_t length = 0;
        const std::size_t cl = r.head.find("Content-Length: ");
        if (cl != std::string::npos) {
            std::from_chars(r.head.data() + cl + 16, r.head.data() + r.head.size(), length);
        }
        if (buf_.size() < head_end + 4 + length) return std::nullopt;
        r.body = buf_.substr(head_end + 4, length);
        buf_.erase(0, head_end + 4 + length);
        return r;
    }

    // Reads what is available until `until`; false on timeout, EOF or error.
    bool fill(clock_type::time_point until) {
        if (eof_) return false;
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(until - clock_type::now());
        if (left.count() <= 0) return false;
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
        char chunk[16384];
        const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
        if (n <= 0) {
            eof_ = true;
            return false;
        }
        buf_.append(chunk, static_cast<std::size_t>(n));
        return true;
    }

    int fd_ = -1;
    std::string buf_;
    bool eof_ = false;
};

std::string get(std::string_view target, std::string_view extra = {}) {
    return "GET " + std::string(target) + " HTTP/1.1\r\nHost: test\r\n" + std::string(extra) +
           "\r\n";
}

// ---------------------------------------------------------------------------------------------

TEST_F(server_fixture, keep_alive_serves_several_requests_on_one_connection) {
    start();
    client c(port_);
    ASSERT_TRUE(c.connected());
    for (int i = 0; i < 5; ++i) {
        const std::string target = "/item/" + std::to_string(i);
        ASSERT_TRUE(c.send(get(target)));
        const auto r = c.read_reply();
        ASSERT_TRUE(r) << "request " << i;
        EXPECT_EQ(r->status, 200u);
        EXPECT_EQ(r->body, "GET " + target);
        EXPECT_FALSE(r->has("Connection: close"));
        EXPECT_TRUE(r->has("X-Peer: 127.0.0.1"));
        EXPECT_TRUE(r->has("Content-Type: text/plain"));
    }
    EXPECT_EQ(handler_.calls.load(), 5);
    EXPECT_EQ(active_connections(), 1u);
}

TEST_F(server_fixture, pipelined_requests_are_answered_in_order) {
    start();
    client c(port_);
    // The first takes longest; answered by completion time, the order would be reversed.
    ASSERT_TRUE(c.send(get("/sleep/200") + get("/sleep/5") + get("/sleep/60") + get("/now")));
    const std::vector<std::string> expected = {"GET /sleep/200", "GET /sleep/5", "GET /sleep/60",
                                               "GET /now"};
    for (const std::string& body : expected) {
        const auto r = c.read_reply();
        ASSERT_TRUE(r);
        EXPECT_EQ(r->body, body);
    }
    EXPECT_FALSE(c.closed_within(50ms));
}

TEST_F(server_fixture, long_pipeline_in_one_write_is_answered_completely) {
    start();
    client c(port_);
    std::string burst;
    const int count = 500;
    for (int i = 0; i < count; ++i)
        burst += get("/p/" + std::to_string(i));
    ASSERT_TRUE(c.send(burst));
    for (int i = 0; i < count; ++i) {
        const auto r = c.read_reply();
        ASSERT_TRUE(r) << i;
        ASSERT_EQ(r->body, "GET /p/" + std::to_string(i));
    }
}

TEST_F(server_fixture, requests_split_across_many_writes) {
    start();
    client c(port_);
    const std::string req =
        "POST /split HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        "4\r\nwiki\r\n5\r\npedia\r\n0\r\n\r\n";
    for (char ch : req) {
        ASSERT_TRUE(c.send(std::string_view(&ch, 1)));
        std::this_thread::sleep_for(1ms);
    }
    const auto r = c.read_reply();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, "POST /split");
    EXPECT_TRUE(r->has("X-Body-Size: 9"));
}

TEST_F(server_fixture, large_body_grows_the_buffer) {
    start();
    client c(port_);
    const std::size_t n = 1024 * 1024;
    ASSERT_TRUE(c.send("POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(n) +
                       "\r\n\r\n" + std::string(n, 'b') + get("/after")));
    auto r = c.read_reply();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200u);
    EXPECT_TRUE(r->has("X-Body-Size: 1048576"));
    r = c.read_reply();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, "GET /after");
}

TEST_F(server_fixture, malformed_request_gets_400_then_close) {
    start();
    client c(port_);
    ASSERT_TRUE(c.send(get("/ok") + "GET / HTTP/1.1\r\nHost : smuggle\r\n\r\n" + get("/never")));
    auto r = c.read_reply();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200u);
    r = c.read_reply();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400u);
    EXPECT_TRUE(r->has("Connection: close"));
    EXPECT_TRUE(r->has("Content-Length: 0"));
    EXPECT_TRUE(c.closed_within(2s));
    EXPECT_TRUE(c.unread().empty()) << c.unread();
    EXPECT_EQ(handler_.calls.load(), 1);
}

TEST_F(server_fixture, garbage_gets_400_then_close) {
    start();
    client c(port_);
    ASSERT_TRUE(c.send(std::string("\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03", 11)));
    const auto r = c.read_reply();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400u);
    EXPECT_TRUE(c.closed_within(2s));
}

TEST_F(server_fixture, oversized_header_section_gets_431) {
    start();
    client c(port_);
    ASSERT_TRUE(c.send("GET / HTTP/1.1\r\nX-Big: " + std::string(9000, 'h') + "\r\n\r\n"));
    const auto r = c.read_reply();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 431u);
    EXPECT_TRUE(r->has("Connection: close"));
    EXPECT_TRUE(c.closed_within(2s));
}

TEST_F(server_fixture, oversized_body_gets_413_even_while_the_client_keeps_sending) {
    start();
    client c(port_);
    ASSERT_TRUE(c.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4194304\r\n\r\n" +
                       std::string(256 * 1024, 'x')));
    const auto r = c.read_reply();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 413u);
    EXPECT_TRUE(r->has("Connection: close"));
    EXPECT_TRUE(c.closed_within(3s));
    EXPECT_EQ(handler_.calls.load(), 0);
}

TEST_F(server_fixture, chunked_body_over_the_limit_gets_413) {
    start();
    client c(port_);
    ASSERT_TRUE(c.send("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
                       std::string("100001\r\n")));
    const auto r = c.read_reply();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 413u);
    EXPECT_TRUE(c.closed_within(3s));
}

TEST_F(server_fixture, incomplete_header_section_is_closed_at_the_header_deadline) {
    server_limits limits;
    limits.header_timeout = 200ms;
    start(limits);
    client c(port_);
    const auto t0 = clock_type::now();
    // Trickling bytes does not extend the deadline: it runs from the connect.
    ASSERT_TRUE(c.send("GET / HTTP/1.1\r\n"));
    for (int i = 0; i < 3; ++i) {
        std::this_thread::sleep_for(40ms);
        c.send("X-Slow: 1\r\n");
    }
    ASSERT_TRUE(c.closed_within(3s));
    const auto elapsed = clock_type::now() - t0;
    EXPECT_GE(elapsed, 180ms);
    EXPECT_LT(elapsed, 1500ms);
    EXPECT_EQ(handler_.calls.load(), 0);
}

TEST_F(server_fixture, silent_new_connection_is_closed_at_the_header_deadline) {
    server_limits limits;
    limits.header_timeout = 200ms;
    limits.idle_timeout = 60s;
    start(limits);
    client c(port_);
    const auto t0 = clock_type::now();
    // Connected, never a byte: the first header section is owed from the connect on.
    ASSERT_TRUE(c.closed_within(3s));
    const auto elapsed = clock_type::now() - t0;
    EXPECT_GE(elapsed, 180ms);
    EXPECT_LT(elapsed, 1500ms);
    EXPECT_EQ(handler_.calls.load(), 0);
}

TEST_F(server_fixture, header_deadline_does_not_cut_a_keep_alive_connection) {
    server_limits limits;
    limits.header_timeout = 150ms;
    start(limits);
    client c(port_);
    // Idle longer than the header timeout between complete requests: still open.
    for (int i = 0; i < 3; ++i) {
        ASSERT_TRUE(c.send(get("/")));
        ASSERT_TRUE(c.read_reply());
        std::this_thread::sleep_for(250ms);
    }
    ASSERT_TRUE(c.send(get("/last")));
    const auto r = c.read_reply();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, "GET /last");
}

TEST_F(server_fixture, slow_handler_is_not_cut_by_the_deadlines) {
    server_limits limits;
    limits.header_timeout = 100ms;
    limits.idle_timeout = 100ms;
    start(limits);
    client c(port_);
    ASSERT_TRUE(c.send(get("/sleep/400")));
    const auto r = c.read_reply();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, "GET /sleep/400");
}

TEST_F(server_fixture, idle_keep_alive_connection_is_closed_after_the_idle_timeout) {
    server_limits limits;
    limits.idle_timeout = 300ms;
    start(limits);
    client c(port_);
    ASSERT_TRUE(c.send(get("/")));
    ASSERT_TRUE(c.read_reply());
    const auto t0 = clock_type::now();
    ASSERT_TRUE(c.closed_within(3s));
    const auto elapsed = clock_type::now() - t0;
    EXPECT_GE(elapsed, 250ms);
    EXPECT_LT(elapsed, 2s);
}

TEST_F(server_fixture, graceful_stop_closes_idle_connections_at_once) {
    start();
    client quiet(port_);
    client used(port_);
    ASSERT_TRUE(used.send(get("/")));
    ASSERT_TRUE(used.read_reply());
    while (active_connections() < 2)
        std::this_thread::sleep_for(5ms);
    const auto t0 = clock_type::now();
    run_on_loop([this] { control_.stop(); });
    EXPECT_TRUE(quiet.closed_within(1s));
    EXPECT_TRUE(used.closed_within(1s));
    EXPECT_LT(clock_type::now() - t0, 1s);
    EXPECT_TRUE(quiet.unread().empty());
    EXPECT_TRUE(used.unread().empty());
    for (int i = 0; i < 100 && active_connections() != 0; ++i)
        std::this_thread::sleep_for(10ms);
    EXPECT_EQ(active_connections(), 0u);
}

TEST_F(server_fixture, graceful_stop_finishes_the_request_in_flight_with_connection_close) {
    start();
    client c(port_);
    // The second pipelined request is never answered: the first response closes.
    ASSERT_TRUE(c.send(get("/sleep/300") + get("/dropped")));
    std::this_thread::sleep_for(100ms);

    std::atomic<bool> all_closed{false};
    run_on_loop([this, &all_closed] {
        control_.stop();
        asio::co_spawn(
            ioc_,
            [this, &all_closed]() -> asio::awaitable<void> {
                co_await control_.wait_closed();
                all_closed = true;
            },
            asio::detached);
    });
    EXPECT_FALSE(all_closed.load());
    const auto r = c.read_reply();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, "GET /sleep/300");
    EXPECT_TRUE(r->has("Connection: close"));
    EXPECT_TRUE(c.closed_within(2s));
    EXPECT_TRUE(c.unread().empty()) << c.unread();
    for (int i = 0; i < 200 && !all_closed; ++i)
        std::this_thread::sleep_for(10ms);
    EXPECT_TRUE(all_closed.load());
    EXPECT_EQ(handler_.calls.load(), 1);

    // A connection accepted while stopping that has sent nothing is closed at once. (One that
    // had already sent its request waited in the listen backlog and is answered: see
    // Startup.RequestsWaitingInTheListenBacklogAtSigtermAreAnswered.)
    client late(port_);
    if (late.connected()) {
        EXPECT_TRUE(late.closed_within(1s));
        EXPECT_TRUE(late.unread().empty());
    }
}

TEST_F(server_fixture, abort_closes_everything) {
    start();
    client c(port_);
    ASSERT_TRUE(c.send(get("/sleep/300")));
    std::this_thread::sleep_for(50ms);
    run_on_loop([this] { control_.abort(); });
    EXPECT_TRUE(c.closed_within(1s));
    EXPECT_TRUE(c.unread().empty());
}

TEST_F(server_fixture, connection_close_and_http_1_0) {
    start();
    {
        client c(port_);
        ASSERT_TRUE(c.send(get("/bye", "Connection: close\r\n")));
        const auto r = c.read_reply();
        ASSERT_TRUE(r);
        EXPECT_TRUE(r->has("Connection: close"));
        EXPECT_TRUE(c.closed_within(2s));
    }
    {
        client c(port_);
        ASSERT_TRUE(c.send("GET /old HTTP/1.0\r\n\r\n"));
        const auto r = c.read_reply();
        ASSERT_TRUE(r);
        EXPECT_EQ(r->body, "GET /old");
        EXPECT_TRUE(r->has("Connection: close"));
        EXPECT_TRUE(c.closed_within(2s));
    }
    {
        client c(port_);
        ASSERT_TRUE(c.send("GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
        auto r = c.read_reply();
        ASSERT_TRUE(r);
        EXPECT_TRUE(r->has("Connection: keep-alive"));
        ASSERT_TRUE(c.send("GET /b HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
        r = c.read_reply();
        ASSERT_TRUE(r);
        EXPECT_EQ(r->body, "GET /b");
    }
}

TEST_F(server_fixture, connection_close_among_tokens_or_with_trailing_whitespace_closes) {
    start();
    for (const std::string field : {"Connection: close\t\r\n", "Connection: keep-alive, CLOSE\r\n",
                                    "Connection: te,close \r\n"}) {
        client c(port_);
        ASSERT_TRUE(c.send(get("/bye", field) + get("/never")));
        const auto r = c.read_reply();
        ASSERT_TRUE(r) << field;
        EXPECT_EQ(r->body, "GET /bye");
        EXPECT_TRUE(r->has("Connection: close")) << field;
        EXPECT_TRUE(c.closed_within(2s)) << field;
        EXPECT_TRUE(c.unread().empty()) << field << c.unread();
    }
    EXPECT_EQ(handler_.calls.load(), 3);
}

TEST_F(server_fixture, upgrade_request_is_answered_then_the_connection_closes) {
    start();
    for (const std::string fields :
         {"Connection: Upgrade\r\nUpgrade: websocket\r\n", "Upgrade: h2c\r\n"}) {
        client c(port_);
        // The bytes after the request could be another protocol: never parsed as a request.
        ASSERT_TRUE(c.send(get("/ws", fields) + get("/never")));
        const auto r = c.read_reply();
        ASSERT_TRUE(r) << fields;
        EXPECT_EQ(r->status, 200u);
        EXPECT_EQ(r->body, "GET /ws");
        EXPECT_TRUE(r->has("Connection: close")) << fields;
        EXPECT_TRUE(c.closed_within(2s)) << fields;
        EXPECT_TRUE(c.unread().empty()) << fields << c.unread();
    }
    EXPECT_EQ(handler_.calls.load(), 2);
}

TEST_F(server_fixture, http_1_1_request_without_host_gets_400_then_close) {
    start();
    client c(port_);
    ASSERT_TRUE(c.send("GET /nohost HTTP/1.1\r\n\r\n" + get("/never")));
    const auto r = c.read_reply();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400u);
    EXPECT_TRUE(r->has("Connection: close"));
    EXPECT_TRUE(c.closed_within(2s));
    EXPECT_TRUE(c.unread().empty()) << c.unread();
    EXPECT_EQ(handler_.calls.load(), 0);
}

TEST_F(server_fixture, head_response_has_no_body) {
    start();
    client c(port_);
    ASSERT_TRUE(c.send("HEAD /h HTTP/1.1\r\nHost: x\r\n\r\n" + get("/next")));
    // The HEAD reply announces the length of the body it does not carry; read it by hand.
    ASSERT_FALSE(c.closed_within(300ms));
    const std::string& raw = c.unread();
    const std::size_t head_end = raw.find("\r\n\r\n");
    ASSERT_NE(head_end, std::string::npos);
    EXPECT_NE(raw.find("Content-Length: 7\r\n"), std::string::npos);
    EXPECT_EQ(raw.substr(head_end + 4, 12), "HTTP/1.1 200");
    EXPECT_NE(raw.find("GET /next"), std::string::npos);
}

TEST_F(server_fixture, expect_100_continue) {
    start();
    client c(port_);
    ASSERT_TRUE(c.send(
        "POST /upload HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"));
    auto r = c.read_reply();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 100u);
    EXPECT_EQ(r->head, "HTTP/1.1 100 Continue\r\n\r\n");
    ASSERT_TRUE(c.send("hello"));
    r = c.read_reply();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200u);
    EXPECT_TRUE(r->has("X-Body-Size: 5"));
}

TEST_F(server_fixture, handler_status_reaches_the_client) {
    start();
    client c(port_);
    ASSERT_TRUE(c.send(get("/status/429")));
    const auto r = c.read_reply();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 429u);
    EXPECT_EQ(r->head.substr(0, 32), "HTTP/1.1 429 Too Many Requests\r\n");
}

TEST_F(server_fixture, many_concurrent_connections) {
    start();
    std::vector<std::unique_ptr<client>> clients;
    for (int i = 0; i < 50; ++i) {
        clients.push_back(std::make_unique<client>(port_));
        ASSERT_TRUE(clients.back()->connected());
        ASSERT_TRUE(clients.back()->send(get("/sleep/50") + get("/c/" + std::to_string(i))));
    }
    for (int i = 0; i < 50; ++i) {
        auto r = clients[i]->read_reply();
        ASSERT_TRUE(r);
        EXPECT_EQ(r->body, "GET /sleep/50");
        r = clients[i]->read_reply();
        ASSERT_TRUE(r);
        EXPECT_EQ(r->body, "GET /c/" + std::to_string(i));
    }
}

TEST_F(server_fixture, warm_connection_allocates_nothing_per_request) {
    start();
    client c(port_);
    const std::string one = get("/static");
    const std::string four = one + one + one + one;
    auto round = [&](int n) {
        for (int i = 0; i < n; ++i) {
            const bool pipelined = i % 2 == 1;
            ASSERT_TRUE(c.send(pipelined ? four : one));
            for (int k = 0; k < (pipelined ? 4 : 1); ++k) {
                const auto r = c.read_reply();
                ASSERT_TRUE(r);
                ASSERT_EQ(r->body, "static body");
            }
        }
    };
    round(100);
    std::size_t before = 0;
    run_on_loop([&] { before = test::thread_allocations(); });
    round(1000);
    std::size_t after = 0;
    run_on_loop([&] { after = test::thread_allocations(); });
    EXPECT_EQ(after - before, 0u);
}

TEST_F(server_fixture, wait_closed_can_be_abandoned_by_its_caller) {
    start();
    client c(port_);
    ASSERT_TRUE(c.send(get("/")));
    ASSERT_TRUE(c.read_reply());
    std::atomic<bool> returned{false};
    run_on_loop([this, &returned] {
        asio::co_spawn(
            ioc_,
            [this, &returned]() -> asio::awaitable<void> {
                using namespace asio::experimental::awaitable_operators;
                asio::steady_timer t(co_await asio::this_coro::executor, 100ms);
                co_await (control_.wait_closed() || t.async_wait(asio::use_awaitable));
                returned = true;
            },
            asio::detached);
    });
    for (int i = 0; i < 200 && !returned; ++i)
        std::this_thread::sleep_for(10ms);
    EXPECT_TRUE(returned.load());
    EXPECT_EQ(active_connections(), 1u);
    EXPECT_FALSE(c.closed_within(50ms));
}

TEST_F(server_fixture, client_disconnect_mid_request_frees_the_connection) {
    start();
    {
        client c(port_);
        ASSERT_TRUE(c.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc"));
        std::this_thread::sleep_for(50ms);
    }
    for (int i = 0; i < 200 && active_connections() != 0; ++i)
        std::this_thread::sleep_for(10ms);
    EXPECT_EQ(active_connections(), 0u);
    EXPECT_EQ(handler_.calls.load(), 0);
}

}  // namespace
}  // namespace sluice::http
