// --upstream with bodies that do not fit in memory, `Expect: 100-continue` and WebSocket: the real
// binary and redis-server, a scripted upstream that records the bytes it receives.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/http_client.hpp"
#include "tests/support/redis_server.hpp"
#include "tests/support/scripted_upstream.hpp"
#include "tests/support/sluice_gateway.hpp"

namespace sluice::test {
namespace {

using namespace std::chrono_literals;

sluice_gateway start(const redis_server& redis, const scripted_upstream& up,
                     std::vector<std::string> flags = {}) {
    flags.insert(flags.begin(),
                 {"--threads", "1", "--upstream", "http://127.0.0.1:" + std::to_string(up.port())});
    sluice_gateway gw{redis.url(), {.flags = std::move(flags)}};
    EXPECT_TRUE(gw.wait_ready());
    return gw;
}

// Peak resident memory of a process, in KiB.
long peak_rss_kib(pid_t pid) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
    }
    return -1;
}

std::string pattern(std::size_t n) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i)
        s[i] = static_cast<char>((i * 7 + i / 65536) % 251);
    return s;
}

// A blocking client socket with a receive timeout.
class raw_client {
  public:
    explicit raw_client(unsigned short port) {
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
    ~raw_client() {
        if (fd_ >= 0) ::close(fd_);
    }
    raw_client(const raw_client&) = delete;
    raw_client& operator=(const raw_client&) = delete;

    bool send(std::string_view bytes) {
        while (!bytes.empty()) {
            const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
            if (n <= 0) return false;
            bytes.remove_prefix(static_cast<std::size_t>(n));
        }
        return true;
    }
    // Reads until `want` bytes are buffered, the peer closes, or `timeout` passes.
    std::string read(std::size_t want, std::chrono::milliseconds timeout = 5000ms) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        char buf[65536];
        while (got_.size() < want && std::chrono::steady_clock::now() < deadline) {
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, 20) <= 0) continue;
            const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
            if (n <= 0) {
                eof_ = true;
                break;
            }
            got_.append(buf, static_cast<std::size_t>(n));
        }
        return got_;
    }
    // Reads until `text` appears in what was received.
    std::string read_until(std::string_view text, std::chrono::milliseconds timeout = 5000ms) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (got_.find(text) == std::string::npos && !eof_ &&
               std::chrono::steady_clock::now() < deadline) {
            read(got_.size() + 1, 20ms);
        }
        return got_;
    }
    bool eof() const noexcept { return eof_; }
    void half_close() { ::shutdown(fd_, SHUT_WR); }
    void clear() { got_.clear(); }

  private:
    int fd_ = -1;
    std::string got_;
    bool eof_ = false;
};

std::string dechunk(std::string_view body) {
    std::string out;
    for (;;) {
        const auto eol = body.find("\r\n");
        if (eol == std::string_view::npos) return "(bad chunking)";
        const std::size_t size = std::stoul(std::string(body.substr(0, eol)), nullptr, 16);
        body.remove_prefix(eol + 2);
        if (size == 0) return body == "\r\n" ? out : "(bad chunking)";
        if (body.size() < size + 2) return "(bad chunking)";
        out.append(body.substr(0, size));
        body.remove_prefix(size + 2);
    }
}

std::string body_of(const std::string& raw) {
    const auto at = raw.find("\r\n\r\n");
    return at == std::string::npos ? std::string{} : raw.substr(at + 4);
}

constexpr std::size_t hundred_mb = 100'000'000;

TEST(Streaming, HundredMegabyteUploadPassesInBoundedMemory) {
    redis_server redis;
    scripted_upstream up;
    auto gw = start(redis, up, {"--max-body", "200m"});
    ASSERT_TRUE(http_get(gw.port, "/warm"));
    const long before = peak_rss_kib(gw.proc.pid());
    const std::string body = pattern(hundred_mb);
    http_client c{gw.port, 30s};
    ASSERT_TRUE(c.send("PUT /upload HTTP/1.1\r\nHost: t\r\nContent-Length: " +
                       std::to_string(body.size()) + "\r\n\r\n"));
    ASSERT_TRUE(c.send(body));
    const auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    const long after = peak_rss_kib(gw.proc.pid());
    // A few buffers of the connection, not the body.
    EXPECT_LT(after - before, 16 * 1024) << "peak RSS " << before << " KiB -> " << after << " KiB";
    const auto got = up.requests();
    ASSERT_EQ(got.size(), 2u);
    EXPECT_NE(got[1].find("\r\nContent-Length: 100000000\r\n"), std::string::npos);
    EXPECT_TRUE(body_of(got[1]) == body) << "the body arrived changed";
}

TEST(Streaming, HundredMegabyteChunkedUploadIsReChunkedInBoundedMemory) {
    redis_server redis;
    scripted_upstream up;
    auto gw = start(redis, up, {"--max-body", "200m"});
    ASSERT_TRUE(http_get(gw.port, "/warm"));
    const long before = peak_rss_kib(gw.proc.pid());
    const std::string body = pattern(hundred_mb);
    http_client c{gw.port, 30s};
    ASSERT_TRUE(c.send("POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"));
    // Chunks of odd sizes with extensions; the upstream must see our framing, not these.
    std::size_t at = 0;
    char size[32];
    for (std::size_t n = 1; at < body.size(); n = n * 3 % 100'003 + 1) {
        const std::size_t len = std::min(n, body.size() - at);
        std::snprintf(size, sizeof size, "%zx;x=y\r\n", len);
        ASSERT_TRUE(c.send(size + body.substr(at, len) + "\r\n"));
        at += len;
    }
    ASSERT_TRUE(c.send("0\r\nX-Trailer: dropped\r\n\r\n"));
    const auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    const long after = peak_rss_kib(gw.proc.pid());
    EXPECT_LT(after - before, 16 * 1024) << "peak RSS " << before << " KiB -> " << after << " KiB";
    const auto got = up.requests();
    ASSERT_EQ(got.size(), 2u);
    const std::string& raw = got[1];
    EXPECT_NE(raw.find("\r\nTransfer-Encoding: chunked\r\n"), std::string::npos);
    EXPECT_EQ(raw.find(";x=y"), std::string::npos) << "client chunk extensions relayed";
    EXPECT_EQ(raw.find("X-Trailer"), std::string::npos);
    EXPECT_TRUE(dechunk(body_of(raw)) == body) << "the body arrived changed";
}

TEST(Streaming, EmptyAndSmallBodiesKeepTheirLength) {
    redis_server redis;
    scripted_upstream up;
    auto gw = start(redis, up);
    http_client c{gw.port};
    ASSERT_TRUE(
        c.send("POST /empty HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n"
               "POST /small HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc"
               "POST /chunked-empty HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
               "0\r\n\r\n"));
    for (int i = 0; i < 3; ++i) {
        const auto r = c.read_response();
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, 200);
    }
    const auto got = up.requests();
    ASSERT_EQ(got.size(), 3u);
    EXPECT_TRUE(got[0].ends_with("\r\nContent-Length: 0\r\n\r\n")) << got[0];
    EXPECT_TRUE(got[1].ends_with("\r\nContent-Length: 3\r\n\r\nabc")) << got[1];
    EXPECT_TRUE(got[2].ends_with("\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")) << got[2];
}

TEST(Streaming, ARejectedRequestsBodyIsSkippedAndTheConnectionGoesOn) {
    redis_server redis;
    scripted_upstream up;
    auto gw = start(redis, up, {"--limit", "1", "--window", "10s"});
    http_client c{gw.port};
    ASSERT_TRUE(c.send(
        "POST /1 HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\none"
        "POST /2 HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\ntwo\r\n0\r\n\r\n"
        "GET /3 HTTP/1.1\r\nHost: t\r\n\r\n"));
    auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 429);
    EXPECT_NE(r->header("connection"), "close");
    r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 429);
    EXPECT_EQ(up.request_count(), 1u);
}

TEST(Streaming, MalformedChunkedBodyMidStreamIs400AndTheUpstreamConnectionIsDropped) {
    redis_server redis;
    scripted_upstream up;
    auto gw = start(redis, up);
    raw_client c{gw.port};
    ASSERT_TRUE(
        c.send("POST /bad HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
               "5\r\nhello\r\n"));
    // The first chunk has gone upstream; then the framing breaks.
    std::this_thread::sleep_for(200ms);
    ASSERT_TRUE(c.send("zz\r\n"));
    const std::string raw = c.read(1 << 20, 3000ms);
    EXPECT_EQ(raw.rfind("HTTP/1.1 400 ", 0), 0u) << raw;
    EXPECT_TRUE(c.eof());
    // The upstream saw a request cut short, never a complete one it could answer.
    const auto deadline = std::chrono::steady_clock::now() + 3s;
    while (up.partial_requests().empty() && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(20ms);
    ASSERT_EQ(up.partial_requests().size(), 1u);
    EXPECT_EQ(up.request_count(), 0u);
    // And the gateway serves the next client.
    const auto r = http_get(gw.port, "/after");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
}

TEST(Streaming, AClientThatVanishesMidUploadFreesTheUpstreamConnection) {
    redis_server redis;
    scripted_upstream up;
    auto gw = start(redis, up);
    {
        raw_client c{gw.port};
        ASSERT_TRUE(c.send("POST /gone HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000\r\n\r\n" +
                           std::string(5000, 'a')));
        std::this_thread::sleep_for(200ms);
    }
    const auto deadline = std::chrono::steady_clock::now() + 3s;
    while (up.partial_requests().empty() && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(20ms);
    ASSERT_EQ(up.partial_requests().size(), 1u);
    EXPECT_EQ(up.request_count(), 0u);
    const auto r = http_get(gw.port, "/after");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
}

TEST(Streaming, ExpectContinueIsRelayedFromTheUpstream) {
    redis_server redis;
    scripted_upstream up;
    scripted_reply reply = scripted_upstream::ok("stored");
    reply.before_body = "HTTP/1.1 100 Continue\r\n\r\n";
    up.push(reply);
    auto gw = start(redis, up);
    raw_client c{gw.port};
    ASSERT_TRUE(
        c.send("PUT /x HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
               "Content-Length: 4\r\n\r\n"));
    const std::string interim = c.read_until("\r\n\r\n", 900ms);
    // Well before the 1 s Sluice waits for an upstream that says nothing.
    EXPECT_EQ(interim, "HTTP/1.1 100 Continue\r\n\r\n");
    c.clear();
    ASSERT_TRUE(c.send("data"));
    const std::string raw = c.read_until("stored");
    EXPECT_EQ(raw.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << raw;
    const auto got = up.requests();
    ASSERT_EQ(got.size(), 1u);
    EXPECT_NE(got[0].find("\r\nExpect: 100-continue\r\n"), std::string::npos) << got[0];
    EXPECT_TRUE(got[0].ends_with("\r\n\r\ndata")) << got[0];
}

TEST(Streaming, AnUpstreamRefusingTheBodyAnswersBeforeItIsSent) {
    redis_server redis;
    scripted_upstream up;
    scripted_reply refuse;
    refuse.before_body = "HTTP/1.1 413 Content Too Large\r\nContent-Length: 4\r\n\r\nbig!";
    refuse.skip_body = true;
    up.push(refuse);
    auto gw = start(redis, up);
    raw_client c{gw.port};
    ASSERT_TRUE(
        c.send("POST /x HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
               "Content-Length: 100000000\r\n\r\n"));
    const std::string raw = c.read_until("big!", 900ms);
    EXPECT_EQ(raw.rfind("HTTP/1.1 413 ", 0), 0u) << raw;
    EXPECT_EQ(raw.find("100 Continue"), std::string::npos) << raw;
    // The body was never read, so the connection cannot carry another request.
    EXPECT_NE(raw.find("\r\nConnection: close\r\n"), std::string::npos) << raw;
    c.read(raw.size() + 1, 2000ms);
    EXPECT_TRUE(c.eof());
}

TEST(Streaming, AnUpstreamThatSaysNothingGetsTheBodyAfterOneSecond) {
    redis_server redis;
    scripted_upstream up{scripted_upstream::ok("stored")};
    auto gw = start(redis, up);
    raw_client c{gw.port};
    const auto t0 = std::chrono::steady_clock::now();
    ASSERT_TRUE(
        c.send("PUT /x HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
               "Content-Length: 4\r\n\r\n"));
    const std::string interim = c.read_until("\r\n\r\n", 3000ms);
    const auto waited = std::chrono::steady_clock::now() - t0;
    EXPECT_EQ(interim, "HTTP/1.1 100 Continue\r\n\r\n");
    EXPECT_GE(waited, 900ms);
    c.clear();
    ASSERT_TRUE(c.send("data"));
    EXPECT_NE(c.read_until("stored").find("200 OK"), std::string::npos);
}

TEST(Streaming, ARejectedExpectContinueRequestIsAnsweredWithoutItsBody) {
    redis_server redis;
    scripted_upstream up;
    auto gw = start(redis, up, {"--limit", "1", "--window", "10s"});
    ASSERT_TRUE(http_get(gw.port, "/spend"));
    raw_client c{gw.port};
    ASSERT_TRUE(
        c.send("PUT /x HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
               "Content-Length: 4\r\n\r\n"));
    const std::string raw = c.read_until("}", 900ms);
    EXPECT_EQ(raw.rfind("HTTP/1.1 429 ", 0), 0u) << raw;
    EXPECT_EQ(raw.find("100 Continue"), std::string::npos) << raw;
    EXPECT_EQ(up.request_count(), 1u);
}

std::string upgrade_request(const std::string& extra = {}) {
    return "GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n" +
           extra;
}

TEST(Streaming, WebSocketIsRelayedBothWaysAfterThe101) {
    redis_server redis;
    scripted_reply switched;
    switched.bytes =
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\nhello";
    switched.echo_after = true;
    scripted_upstream up{switched};
    auto gw = start(redis, up);
    raw_client c{gw.port};
    // Bytes sent right behind the request are the new protocol's: they must reach the upstream.
    ASSERT_TRUE(c.send(upgrade_request("early")));
    std::string raw = c.read_until("helloearly");
    EXPECT_EQ(raw.rfind("HTTP/1.1 101 Switching Protocols\r\n", 0), 0u) << raw;
    EXPECT_NE(raw.find("\r\nUpgrade: websocket\r\n"), std::string::npos) << raw;
    EXPECT_NE(raw.find("\r\nConnection: upgrade\r\n"), std::string::npos) << raw;
    EXPECT_NE(raw.find("\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"),
              std::string::npos);
    EXPECT_NE(raw.find("\r\nX-RateLimit-Remaining: 4\r\n"), std::string::npos) << raw;
    c.clear();
    const std::string frame(200'000, 'w');
    ASSERT_TRUE(c.send(frame));
    EXPECT_EQ(c.read(frame.size()).size(), frame.size());
    // A half-close passes through: the upstream sees it and closes, and so does Sluice.
    c.half_close();
    c.read(frame.size() + 1, 3000ms);
    EXPECT_TRUE(c.eof());
    const auto got = up.requests();
    ASSERT_EQ(got.size(), 1u);
    EXPECT_NE(got[0].find("\r\nUpgrade: websocket\r\n"), std::string::npos) << got[0];
    EXPECT_NE(got[0].find("\r\nConnection: upgrade\r\n"), std::string::npos) << got[0];
    EXPECT_NE(got[0].find("\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"),
              std::string::npos);
    EXPECT_EQ(gw.metric("sluice_upstream_tunnels_total"), 1);
}

TEST(Streaming, ATunnelNobodyUsesEndsAfterTheIdleTimeout) {
    redis_server redis;
    scripted_reply switched;
    switched.bytes =
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
    switched.echo_after = true;
    scripted_upstream up{switched};
    auto gw = start(redis, up, {"--idle-timeout", "500ms"});
    raw_client c{gw.port};
    ASSERT_TRUE(c.send(upgrade_request()));
    ASSERT_NE(c.read_until("\r\n\r\n").find(" 101 "), std::string::npos);
    const auto t0 = std::chrono::steady_clock::now();
    c.read(1 << 20, 3000ms);
    EXPECT_TRUE(c.eof());
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 2500ms);
}

TEST(Streaming, A101ToARequestThatDidNotAskForItIs502) {
    redis_server redis;
    scripted_reply switched;
    switched.bytes =
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
    scripted_upstream up{switched};
    auto gw = start(redis, up);
    const auto r = http_get(gw.port, "/plain");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 502);
    EXPECT_EQ(gw.metric(R"(sluice_upstream_errors_total{kind="protocol"})"), 1);
}

TEST(Streaming, AnUpgradeTheUpstreamDeclinesIsAnsweredAndTheConnectionCloses) {
    redis_server redis;
    scripted_upstream up{scripted_upstream::ok("no websocket here")};
    auto gw = start(redis, up);
    raw_client c{gw.port};
    ASSERT_TRUE(c.send(upgrade_request("GET /next HTTP/1.1\r\nHost: t\r\n\r\n")));
    const std::string raw = c.read(1 << 20, 3000ms);
    EXPECT_EQ(raw.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << raw;
    EXPECT_TRUE(c.eof());
    // What followed the upgrade request was never read as a request.
    EXPECT_EQ(up.request_count(), 1u);
}

}  // namespace
}  // namespace sluice::test
