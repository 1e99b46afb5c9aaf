// The per-shard upstream connection pool end to end: --upstream-idle-timeout and
// --upstream-max-idle, the pool's /metrics, and what a vanished or slow client costs. Where the
// test must see what sluice does to its upstream connection (closed, back-pressured), it plays
// the upstream itself on a raw socket.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <future>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "tests/support/http_client.hpp"
#include "tests/support/process.hpp"
#include "tests/support/redis_server.hpp"
#include "tests/support/scripted_upstream.hpp"
#include "tests/support/sluice_gateway.hpp"

namespace sluice::test {
namespace {

using namespace std::chrono_literals;
using clock = std::chrono::steady_clock;

const std::string opened = R"(sluice_upstream_connections_total{event="opened"})";
const std::string reused = R"(sluice_upstream_connections_total{event="reused"})";
const std::string idle_closed = R"(sluice_upstream_connections_total{event="idle_closed"})";
const std::string overflow_closed = R"(sluice_upstream_connections_total{event="overflow_closed"})";
const std::string idle = R"(sluice_upstream_open_connections{state="idle"})";
const std::string busy = R"(sluice_upstream_open_connections{state="busy"})";

// One shard, so that every request meets the same pool; a limit no test reaches.
sluice_gateway start(const redis_server& redis, unsigned short upstream_port,
                     std::vector<std::string> flags = {}) {
    flags.insert(flags.begin(), {"--threads", "1", "--limit", "1000", "--upstream",
                                 "http://127.0.0.1:" + std::to_string(upstream_port)});
    sluice_gateway gw{redis.url(), {.flags = std::move(flags)}};
    EXPECT_TRUE(gw.wait_ready());
    return gw;
}

// Polls a /metrics sample until it reads `want` or `limit` passes; returns the last value read.
// The pool counts a connection's release just after the client has the last byte.
long long wait_metric(sluice_gateway& gw, const std::string& sample, long long want,
                      std::chrono::milliseconds limit = 2s) {
    const auto deadline = clock::now() + limit;
    long long v = gw.metric(sample);
    while (v != want && clock::now() < deadline) {
        std::this_thread::sleep_for(10ms);
        v = gw.metric(sample);
    }
    return v;
}

// What the test needs of a socket, blocking calls bounded by poll().
bool wait_for(int fd, short events, clock::time_point deadline) {
    for (;;) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
        if (left.count() <= 0) return false;
        pollfd p{fd, events, 0};
        const int n = ::poll(&p, 1, static_cast<int>(left.count()));
        if (n > 0) return true;
        if (n < 0 && errno != EINTR) return false;
    }
}

bool send_all(int fd, std::string_view bytes) {
    while (!bytes.empty()) {
        const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n <= 0) return false;
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

// Reads up to the end of a header section; what came after it stays in `rest`. "" on EOF or
// timeout.
std::string read_head(int fd, std::string& rest, std::chrono::milliseconds timeout = 5s) {
    const auto deadline = clock::now() + timeout;
    std::string in;
    char buf[4096];
    for (;;) {
        const auto end = in.find("\r\n\r\n");
        if (end != std::string::npos) {
            rest = in.substr(end + 4);
            return in.substr(0, end + 4);
        }
        if (!wait_for(fd, POLLIN, deadline)) return {};
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) return {};
        in.append(buf, static_cast<std::size_t>(n));
    }
}

std::string read_head(int fd) {
    std::string rest;
    return read_head(fd, rest);
}

// True when the peer closes the connection (EOF or reset) within `timeout`. Bytes are drained.
bool wait_closed(int fd, std::chrono::milliseconds timeout) {
    const auto deadline = clock::now() + timeout;
    char buf[4096];
    while (wait_for(fd, POLLIN, deadline)) {
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) return true;
    }
    return false;
}

// A descriptor closed when the test is done with it, however it ends.
struct socket_fd {
    int fd = -1;
    explicit socket_fd(int f) : fd(f) {}
    socket_fd(const socket_fd&) = delete;
    socket_fd& operator=(const socket_fd&) = delete;
    ~socket_fd() { reset(); }
    void reset() {
        if (fd >= 0) ::close(fd);
        fd = -1;
    }
};

int connect_to(unsigned short port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

// A listener the test answers on itself, one accepted connection at a time.
class raw_upstream {
  public:
    raw_upstream() : fd_(listen_loopback(port_)) {}
    ~raw_upstream() {
        if (fd_ >= 0) ::close(fd_);
    }
    raw_upstream(const raw_upstream&) = delete;
    raw_upstream& operator=(const raw_upstream&) = delete;

    unsigned short port() const noexcept { return port_; }

    // The next connection within `timeout`, or -1. The caller closes it.
    int accept(std::chrono::milliseconds timeout = 5s) {
        if (!wait_for(fd_, POLLIN, clock::now() + timeout)) return -1;
        return ::accept(fd_, nullptr, nullptr);
    }

    // Accepts a connection, reads one request and answers it with a keep-alive 200 of `body`;
    // returns the connection (still open), or -1.
    int answer_one(const std::string& body) {
        const int fd = accept();
        if (fd < 0) return -1;
        if (read_head(fd).empty() ||
            !send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) +
                              "\r\n\r\n" + body)) {
            ::close(fd);
            return -1;
        }
        return fd;
    }

  private:
    unsigned short port_ = 0;
    int fd_ = -1;
};

// A field of /proc/PID/status in kB ("VmHWM", "VmRSS"), or -1.
long long proc_status_kb(pid_t pid, const std::string& field) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind(field + ":", 0) == 0) return std::stoll(line.substr(field.size() + 1));
    }
    return -1;
}

// The byte at `offset` of the big bodies: a hash of the offset, so a lost, repeated or reordered
// piece shows wherever it happens.
unsigned char pattern(std::uint64_t offset) noexcept {
    return static_cast<unsigned char>((offset * 0x9E3779B97F4A7C15ull) >> 56);
}

TEST(UpstreamPool, IdleConnectionIsClosedAfterTheIdleTimeoutAndTheNextRequestOpensANewOne) {
    redis_server redis;
    raw_upstream up;
    auto gw = start(redis, up.port(), {"--upstream-idle-timeout", "300ms"});

    auto first = std::async(std::launch::async, [&] { return http_get(gw.port, "/one"); });
    socket_fd a{up.answer_one("one")};
    ASSERT_GE(a.fd, 0);
    const auto r = first.get();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "one");
    EXPECT_EQ(wait_metric(gw, idle, 1), 1);

    // The sweep runs every 150 ms for a 300 ms timeout: closed between 300 and 450 ms after the
    // release, never at once (the connection was pooled).
    const auto t0 = clock::now();
    const bool closed = wait_closed(a.fd, 1500ms);
    const auto after = clock::now() - t0;
    EXPECT_TRUE(closed) << "the idle connection was still open after 1.5 s";
    EXPECT_GE(after, 200ms);
    EXPECT_EQ(wait_metric(gw, idle_closed, 1), 1);
    EXPECT_EQ(gw.metric(idle), 0);

    auto second = std::async(std::launch::async, [&] { return http_get(gw.port, "/two"); });
    socket_fd b{up.answer_one("two")};
    ASSERT_GE(b.fd, 0) << "no new connection for the next request";
    const auto r2 = second.get();
    ASSERT_TRUE(r2);
    EXPECT_EQ(r2->status, 200);
    EXPECT_EQ(r2->body, "two");
    EXPECT_EQ(gw.metric(opened), 2);
    EXPECT_EQ(gw.metric(reused), 0);
}

// A sweep once a second would close a 200 ms idle connection up to 1.2 s after its release, and
// from the second round on about a second after: the sweep that closed the previous connection
// has just run when the next one is released. Each round must close within 600 ms.
TEST(UpstreamPool, ShortIdleTimeoutIsHonouredRoundAfterRound) {
    redis_server redis;
    raw_upstream up;
    auto gw = start(redis, up.port(), {"--upstream-idle-timeout", "200ms"});
    for (int round = 0; round < 3; ++round) {
        auto client = std::async(std::launch::async, [&] { return http_get(gw.port, "/"); });
        socket_fd c{up.answer_one("r")};
        ASSERT_GE(c.fd, 0) << round;
        const auto r = client.get();
        ASSERT_TRUE(r) << round;
        EXPECT_EQ(r->status, 200) << round;
        const auto t0 = clock::now();
        EXPECT_TRUE(wait_closed(c.fd, 1500ms)) << round;
        const auto after = clock::now() - t0;
        EXPECT_GE(after, 150ms) << round;
        EXPECT_LT(after, 600ms)
            << round << ": closed after "
            << std::chrono::duration_cast<std::chrono::milliseconds>(after).count() << " ms";
    }
    EXPECT_EQ(wait_metric(gw, idle_closed, 3), 3);
    EXPECT_EQ(gw.metric(opened), 3);
}

TEST(UpstreamPool, MaxIdleKeepsOneOfFourConnectionsAndTheNextRequestReusesIt) {
    redis_server redis;
    scripted_reply slow = scripted_upstream::ok("slow");
    slow.delay = 300ms;
    scripted_upstream up{slow};
    auto gw = start(redis, up.port(), {"--upstream-max-idle", "1"});

    std::vector<std::future<std::optional<http_response>>> clients;
    for (int i = 0; i < 4; ++i) {
        clients.push_back(std::async(std::launch::async, [&] { return http_get(gw.port, "/"); }));
    }
    for (auto& c : clients) {
        const auto r = c.get();
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 200);
        EXPECT_EQ(r->body, "slow");
    }
    // Four at once: four connections, of which one stays pooled.
    EXPECT_EQ(up.connection_count(), 4u);
    EXPECT_EQ(wait_metric(gw, overflow_closed, 3), 3);
    EXPECT_EQ(gw.metric(idle), 1);
    EXPECT_EQ(gw.metric(busy), 0);
    EXPECT_EQ(gw.metric(opened), 4);
    EXPECT_EQ(gw.metric(reused), 0);

    const auto r = http_get(gw.port, "/again");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(up.connection_count(), 4u);
    EXPECT_EQ(up.request_count(), 5u);
    EXPECT_EQ(wait_metric(gw, reused, 1), 1);
    EXPECT_EQ(gw.metric(opened), 4);
    EXPECT_EQ(wait_metric(gw, idle, 1), 1);
}

TEST(UpstreamPool, MaxIdleZeroOpensAConnectionForEveryRequest) {
    redis_server redis;
    scripted_upstream up;
    auto gw = start(redis, up.port(), {"--upstream-max-idle", "0"});
    // One client connection kept alive: only the upstream side is never reused.
    http_client c{gw.port};
    for (int i = 0; i < 3; ++i) {
        const auto r = c.get("/");
        ASSERT_TRUE(r) << i;
        EXPECT_EQ(r->status, 200) << i;
        EXPECT_EQ(r->body, "ok") << i;
    }
    EXPECT_EQ(up.connection_count(), 3u);
    EXPECT_EQ(up.request_count(), 3u);
    EXPECT_EQ(gw.metric(opened), 3);
    EXPECT_EQ(gw.metric(reused), 0);
    EXPECT_EQ(wait_metric(gw, overflow_closed, 3), 3);
    EXPECT_EQ(gw.metric(idle), 0);
}

TEST(UpstreamPool, ClientThatVanishesMidResponseFreesTheUpstreamConnection) {
    redis_server redis;
    raw_upstream up;
    auto gw = start(redis, up.port());

    // 50 MB announced, written 64 KB at a time until sluice gives the connection up.
    std::promise<clock::time_point> upstream_closed;
    auto closed_at = upstream_closed.get_future();
    std::jthread upstream([&] {
        const int fd = up.accept();
        if (fd < 0 || read_head(fd).empty() ||
            !send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 52428800\r\n\r\n")) {
            if (fd >= 0) ::close(fd);
            upstream_closed.set_value(clock::time_point::max());
            return;
        }
        const std::string piece(64 * 1024, 'x');
        const auto deadline = clock::now() + 10s;
        std::size_t sent = 0;
        bool gone = false;
        while (!gone && sent < 50u * 1024 * 1024 && clock::now() < deadline) {
            pollfd p{fd, POLLOUT, 0};
            if (::poll(&p, 1, 50) <= 0) continue;
            const ssize_t n = ::send(fd, piece.data(), piece.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n > 0) {
                sent += static_cast<std::size_t>(n);
                std::this_thread::sleep_for(1ms);
            } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                gone = true;  // EPIPE or ECONNRESET: sluice closed its end
            }
        }
        ::close(fd);
        upstream_closed.set_value(gone ? clock::now() : clock::time_point::max());
    });

    socket_fd client_fd{connect_to(gw.port)};
    const int client = client_fd.fd;
    ASSERT_GE(client, 0);
    ASSERT_TRUE(send_all(client, "GET /big HTTP/1.1\r\nHost: t\r\n\r\n"));
    std::string body;
    const std::string head = read_head(client, body);
    EXPECT_EQ(head.rfind("HTTP/1.1 200", 0), 0u) << head;
    EXPECT_NE(head.find("\r\nContent-Length: 52428800\r\n"), std::string::npos) << head;
    char buf[4096];
    const auto read_deadline = clock::now() + 5s;
    while (body.size() < 8 * 1024 && wait_for(client, POLLIN, read_deadline)) {
        const ssize_t n = ::recv(client, buf, sizeof buf, 0);
        if (n <= 0) break;
        body.append(buf, static_cast<std::size_t>(n));
    }
    EXPECT_GE(body.size(), 8u * 1024);
    EXPECT_EQ(gw.metric(busy), 1);

    // Gone with unread bytes: the kernel resets the connection.
    const auto t0 = clock::now();
    client_fd.reset();
    ASSERT_EQ(closed_at.wait_for(12s), std::future_status::ready);
    const auto when = closed_at.get();
    upstream.join();
    ASSERT_TRUE(when != clock::time_point::max())
        << "the upstream connection stayed open: sluice kept reading the upstream";
    EXPECT_LT(when - t0, 2s);
    EXPECT_EQ(wait_metric(gw, busy, 0), 0);
    EXPECT_EQ(gw.metric(idle), 0);

    auto next = std::async(std::launch::async, [&] { return http_get(gw.port, "/next"); });
    socket_fd b{up.answer_one("next")};
    ASSERT_GE(b.fd, 0);
    const auto r = next.get();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "next");
}

TEST(UpstreamPool, SlowClientOfAHundredMegabyteResponseKeepsMemoryBounded) {
    redis_server redis;
    raw_upstream up;
    auto gw = start(redis, up.port());
    constexpr std::uint64_t total = 100ull * 1024 * 1024;

    // A first exchange, so that the baseline has the shard's buffers and the pool warm.
    {
        auto warm = std::async(std::launch::async, [&] { return http_get(gw.port, "/warm"); });
        socket_fd w{up.answer_one("warm")};
        ASSERT_GE(w.fd, 0);
        ASSERT_TRUE(warm.get());
    }
    const long long hwm_before = proc_status_kb(gw.proc.pid(), "VmHWM");
    ASSERT_GT(hwm_before, 0);

    // The upstream writes as fast as sluice takes it, blocking on a full socket.
    std::jthread upstream([&] {
        const int fd = up.accept();
        if (fd < 0) return;
        if (!read_head(fd).empty() && send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: " +
                                                       std::to_string(total) + "\r\n\r\n")) {
            std::vector<char> block(256 * 1024);
            for (std::uint64_t off = 0; off < total; off += block.size()) {
                for (std::size_t i = 0; i < block.size(); ++i)
                    block[i] = static_cast<char>(pattern(off + i));
                if (!send_all(fd, {block.data(), block.size()})) break;
            }
        }
        ::close(fd);
    });

    socket_fd client_fd{connect_to(gw.port)};
    const int client = client_fd.fd;
    ASSERT_GE(client, 0);
    ASSERT_TRUE(send_all(client, "GET /huge HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"));
    std::string early;
    const std::string head = read_head(client, early);
    EXPECT_EQ(head.rfind("HTTP/1.1 200", 0), 0u) << head;
    EXPECT_NE(head.find("\r\nContent-Length: " + std::to_string(total) + "\r\n"), std::string::npos)
        << head;

    // 64 KB every 2 ms at most: about 32 MB/s, far below what the upstream could send.
    std::uint64_t received = 0;
    std::uint64_t mismatches = 0;
    std::uint64_t first_mismatch = 0;
    auto check = [&](const char* p, std::size_t n) {
        for (std::size_t i = 0; i < n; ++i) {
            if (static_cast<unsigned char>(p[i]) != pattern(received + i)) {
                if (mismatches++ == 0) first_mismatch = received + i;
            }
        }
        received += n;
    };
    check(early.data(), early.size());
    long long peak_rss = 0;
    unsigned reads = 0;
    std::vector<char> buf(64 * 1024);
    const auto t0 = clock::now();
    const auto deadline = t0 + 12s;
    while (received < total && clock::now() < deadline) {
        std::size_t got = 0;
        while (got < buf.size() && received + got < total) {
            if (!wait_for(client, POLLIN, deadline)) break;
            const ssize_t n = ::recv(client, buf.data() + got, buf.size() - got, 0);
            if (n <= 0) break;
            got += static_cast<std::size_t>(n);
        }
        if (got == 0) break;
        check(buf.data(), got);
        if (++reads % 64 == 0) {
            peak_rss = std::max(peak_rss, proc_status_kb(gw.proc.pid(), "VmRSS"));
        }
        std::this_thread::sleep_for(2ms);
    }
    const auto elapsed = clock::now() - t0;
    client_fd.reset();
    upstream.join();

    EXPECT_EQ(received, total);
    EXPECT_EQ(mismatches, 0u) << "first at offset " << first_mismatch;
    const long long hwm_after = proc_status_kb(gw.proc.pid(), "VmHWM");
    std::cout << "100 MB relayed in "
              << std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count()
              << " ms; VmHWM " << hwm_before << " -> " << hwm_after << " kB, peak VmRSS sampled "
              << peak_rss << " kB\n";
    EXPECT_LT(hwm_after - hwm_before, 16 * 1024) << "kB of peak RSS growth";
    EXPECT_EQ(wait_metric(gw, busy, 0), 0);
}

}  // namespace
}  // namespace sluice::test
