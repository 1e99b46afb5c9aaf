// --upstream end to end: the real binary and redis-server, a scripted upstream that records the
// bytes it receives, and a real nginx serving static files.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/http_client.hpp"
#include "tests/support/nginx_server.hpp"
#include "tests/support/process.hpp"
#include "tests/support/redis_server.hpp"
#include "tests/support/scripted_upstream.hpp"
#include "tests/support/sluice_gateway.hpp"

namespace sluice::test {
namespace {

using namespace std::chrono_literals;

sluice_gateway start(const redis_server& redis, const std::string& upstream,
                     std::vector<std::string> flags = {}) {
    flags.insert(flags.begin(), {"--threads", "1", "--upstream", upstream});
    sluice_gateway gw{redis.url(), {.flags = std::move(flags)}};
    EXPECT_TRUE(gw.wait_ready());
    return gw;
}

std::string url_of(const scripted_upstream& up, const std::string& prefix = {}) {
    return "http://127.0.0.1:" + std::to_string(up.port()) + prefix;
}

// The body of a chunked message, or "(bad chunking)".
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

unsigned short closed_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    ::close(fd);
    return ntohs(addr.sin_port);
}

TEST(Proxy, ForwardsFieldsAsTheContractSaysAndRelaysTheAnswer) {
    redis_server redis;
    scripted_upstream up{
        scripted_upstream::ok("from upstream",
                              "X-Up: 1\r\nKeep-Alive: timeout=5\r\nConnection: x-secret\r\n"
                              "X-Secret: s\r\nX-RateLimit-Limit: 999\r\n")};
    auto gw = start(redis, url_of(up, "/base/"));
    http_client c{gw.port};
    ASSERT_TRUE(
        c.send("POST /items?x=1 HTTP/1.1\r\nHost: example.test\r\nX-Custom: yes\r\n"
               "Connection: keep-alive, x-drop\r\nX-Drop: 1\r\nKeep-Alive: 300\r\n"
               "TE: trailers\r\nProxy-Authorization: Basic eA==\r\n"
               "X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Host: evil\r\n"
               "Content-Length: 5\r\n\r\nhello"));
    const auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "from upstream");
    EXPECT_EQ(r->header("x-up"), "1");
    EXPECT_EQ(r->headers.count("keep-alive"), 0u);
    EXPECT_EQ(r->headers.count("x-secret"), 0u);
    // Ours, not the upstream's.
    EXPECT_EQ(r->header("x-ratelimit-limit"), "5");
    EXPECT_EQ(r->header("x-ratelimit-remaining"), "4");
    EXPECT_EQ(r->header("ratelimit"), R"("default";r=4;t=10)");

    const auto got = up.requests();
    ASSERT_EQ(got.size(), 1u);
    const std::string& raw = got[0];
    EXPECT_EQ(raw.rfind("POST /base/items?x=1 HTTP/1.1\r\n", 0), 0u) << raw;
    EXPECT_NE(raw.find("\r\nHost: example.test\r\n"), std::string::npos) << raw;
    EXPECT_NE(raw.find("\r\nX-Custom: yes\r\n"), std::string::npos) << raw;
    EXPECT_NE(raw.find("\r\nX-Forwarded-For: 127.0.0.1\r\n"), std::string::npos) << raw;
    EXPECT_NE(raw.find("\r\nX-Forwarded-Proto: http\r\n"), std::string::npos) << raw;
    EXPECT_NE(raw.find("\r\nX-Forwarded-Host: example.test\r\n"), std::string::npos) << raw;
    EXPECT_NE(raw.find("\r\nContent-Length: 5\r\n"), std::string::npos) << raw;
    for (const char* gone :
         {"6.6.6.6", "evil", "X-Drop", "Keep-Alive", "TE:", "Proxy-Auth", "Connection"}) {
        EXPECT_EQ(raw.find(gone), std::string::npos) << gone << " in " << raw;
    }
    EXPECT_TRUE(raw.ends_with("\r\n\r\nhello")) << raw;
}

TEST(Proxy, TrustedPeerKeepsItsForwardedForAndThePeerIsAppended) {
    redis_server redis;
    scripted_upstream up;
    auto gw = start(redis, url_of(up), {"--trust-proxy", "127.0.0.0/8"});
    ASSERT_EQ(http_get(gw.port, "/", "X-Forwarded-For: 203.0.113.9\r\n")->status, 200);
    const auto got = up.requests();
    ASSERT_EQ(got.size(), 1u);
    EXPECT_NE(got[0].find("\r\nX-Forwarded-For: 203.0.113.9, 127.0.0.1\r\n"), std::string::npos)
        << got[0];
}

TEST(Proxy, SixSequentialRequestsFiveForwardedTheRejectedOneNeverReachesTheUpstream) {
    redis_server redis;
    scripted_upstream up;
    auto gw = start(redis, url_of(up));
    for (int i = 0; i < 6; ++i) {
        const auto r = http_get(gw.port, "/x");
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status, i < 5 ? 200 : 429) << i;
        if (i < 5) {
            EXPECT_EQ(r->body, "ok");
        }
    }
    EXPECT_EQ(up.request_count(), 5u);
}

TEST(Proxy, SixtySimultaneousExactlyFiveReachTheUpstream) {
    redis_server redis;
    scripted_upstream up;
    auto gw = start(redis, url_of(up), {"--threads", "2"});
    std::atomic<int> allowed{0};
    std::atomic<int> rejected{0};
    std::vector<std::thread> clients;
    for (int i = 0; i < 60; ++i) {
        clients.emplace_back([&] {
            const auto r = http_get(gw.port, "/");
            if (r && r->status == 200) ++allowed;
            if (r && r->status == 429) ++rejected;
        });
    }
    for (auto& t : clients)
        t.join();
    EXPECT_EQ(allowed.load(), 5);
    EXPECT_EQ(rejected.load(), 55);
    EXPECT_EQ(up.request_count(), 5u);
}

TEST(Proxy, SeedCheckWithSluiceLoadInFrontOfARealUpstream) {
    redis_server redis;
    scripted_upstream up;
    auto gw = start(redis, url_of(up), {"--threads", "2"});
    process load(binary("sluice-load"), {"http://127.0.0.1:" + std::to_string(gw.port) + "/", "-c",
                                         "6", "-n", "6", "--expect", "200:5,429:1"});
    EXPECT_EQ(load.wait(30s), 0);
    EXPECT_EQ(up.request_count(), 5u);
}

TEST(Proxy, PipelinedResponsesStayInOrder) {
    redis_server redis;
    scripted_upstream up;
    up.push(scripted_upstream::ok("first"));
    up.push(scripted_upstream::ok("second"));
    up.push(scripted_upstream::ok("third"));
    auto gw = start(redis, url_of(up));
    http_client c{gw.port};
    ASSERT_TRUE(
        c.send("GET /1 HTTP/1.1\r\nHost: t\r\n\r\n"
               "POST /2 HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
               "3\r\nabc\r\n0\r\n\r\n"
               "GET /3 HTTP/1.1\r\nHost: t\r\n\r\n"));
    auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, "first");
    r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, "second");
    r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, "third");
    const auto got = up.requests();
    ASSERT_EQ(got.size(), 3u);
    EXPECT_EQ(got[0].rfind("GET /1 ", 0), 0u);
    EXPECT_EQ(got[1].rfind("POST /2 ", 0), 0u);
    EXPECT_TRUE(got[1].ends_with("\r\n\r\n3\r\nabc\r\n0\r\n\r\n")) << got[1];
    EXPECT_EQ(got[2].rfind("GET /3 ", 0), 0u);
}

TEST(Proxy, WithoutUpstreamTheBuiltInApiAnswers) {
    redis_server redis;
    sluice_gateway gw{redis.url(), {.flags = {"--threads", "1"}}};
    ASSERT_TRUE(gw.wait_ready());
    const auto r = http_get(gw.port, "/");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, R"({"status":"ok"})");
}

TEST(Proxy, MaxBodyIsTheRequestBodyLimit) {
    redis_server redis;
    scripted_upstream up;
    auto gw = start(redis, url_of(up), {"--max-body", "10"});
    http_client c{gw.port};
    ASSERT_TRUE(c.send("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n0123456789"));
    auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    http_client d{gw.port};
    ASSERT_TRUE(d.send("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\n01234567890"));
    r = d.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 413);
    EXPECT_EQ(up.request_count(), 1u);
}

TEST(Proxy, ShutdownDoesNotWaitForASilentUpstream) {
    redis_server redis;
    scripted_reply silent;
    silent.silent = true;
    scripted_upstream up{silent};
    auto gw = start(redis, url_of(up));
    std::thread client([&] { http_get(gw.port, "/"); });
    while (up.request_count() == 0)
        std::this_thread::sleep_for(10ms);
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(gw.proc.stop(SIGTERM, 10s), 0);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 7s);
    client.join();
}

TEST(Proxy, RefusedIs502) {
    redis_server redis;
    auto gw = start(redis, "http://127.0.0.1:" + std::to_string(closed_port()));
    const auto r = http_get(gw.port, "/");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 502);
    EXPECT_EQ(r->body, R"({"error":"bad_gateway"})");
    EXPECT_EQ(r->header("x-ratelimit-remaining"), "4");
    EXPECT_EQ(gw.metric(R"(sluice_upstream_failures_total{answer="bad_gateway"})"), 1);
}

TEST(Proxy, GarbageIs502) {
    redis_server redis;
    scripted_reply garbage;
    garbage.bytes = "SMTP ready\r\n\r\n";
    garbage.close_after = true;
    scripted_upstream up{garbage};
    auto gw = start(redis, url_of(up));
    const auto r = http_get(gw.port, "/");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 502);
    EXPECT_EQ(r->body, R"({"error":"bad_gateway"})");
}

TEST(Proxy, SilentUpstreamIs504AfterUpstreamTimeout) {
    redis_server redis;
    scripted_reply silent;
    silent.silent = true;
    scripted_upstream up{silent};
    auto gw = start(redis, url_of(up), {"--upstream-timeout", "300ms"});
    const auto t0 = std::chrono::steady_clock::now();
    const auto r = http_get(gw.port, "/");
    const auto elapsed = std::chrono::steady_clock::now() - t0;
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 504);
    EXPECT_EQ(r->body, R"({"error":"gateway_timeout"})");
    EXPECT_GE(elapsed, 250ms);
    EXPECT_LT(elapsed, 2s);
    EXPECT_EQ(gw.metric(R"(sluice_upstream_failures_total{answer="gateway_timeout"})"), 1);
}

TEST(Proxy, NoConnectionWithinTheConnectTimeoutIs504) {
    redis_server redis;
    // A listener that never accepts, its accept queue filled: the kernel drops further SYNs, so
    // a connect neither succeeds nor fails.
    const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    ASSERT_EQ(::listen(listener, 0), 0);
    ASSERT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    std::vector<int> fillers;
    for (int i = 0; i < 4; ++i) {
        const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
        fillers.push_back(fd);
    }
    std::this_thread::sleep_for(100ms);
    auto gw = start(redis, "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)),
                    {"--upstream-connect-timeout", "300ms"});
    const auto t0 = std::chrono::steady_clock::now();
    const auto r = http_get(gw.port, "/");
    const auto elapsed = std::chrono::steady_clock::now() - t0;
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 504);
    EXPECT_EQ(r->body, R"({"error":"gateway_timeout"})");
    EXPECT_GE(elapsed, 250ms);
    EXPECT_LT(elapsed, 2s);
    for (const int fd : fillers)
        ::close(fd);
    ::close(listener);
}

TEST(Proxy, SlowHeadWithinTheTimeoutIsRelayed) {
    redis_server redis;
    scripted_reply slow = scripted_upstream::ok("late");
    slow.delay = 200ms;
    scripted_upstream up{slow};
    auto gw = start(redis, url_of(up), {"--upstream-timeout", "2s"});
    const auto r = http_get(gw.port, "/");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "late");
}

TEST(Proxy, RetriesOnceOnAReusedConnectionTheUpstreamClosed) {
    redis_server redis;
    scripted_upstream up;
    // Answered as keep-alive, then closed without saying so: the pooled connection is dead.
    scripted_reply first = scripted_upstream::ok("one");
    first.close_after = true;
    up.push(first);
    auto gw = start(redis, url_of(up));
    http_client c{gw.port};
    auto r = c.get("/a");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, "one");
    std::this_thread::sleep_for(200ms);
    r = c.get("/b");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "ok");
    EXPECT_EQ(up.connection_count(), 2u);
    EXPECT_EQ(up.request_count(), 2u);
    EXPECT_EQ(gw.metric("sluice_upstream_retries_total"), 1);
    EXPECT_EQ(gw.metric(R"(sluice_upstream_responses_total{class="2xx"})"), 2);
}

TEST(Proxy, KeepAliveConnectionIsReused) {
    redis_server redis;
    scripted_upstream up;
    auto gw = start(redis, url_of(up));
    http_client c{gw.port};
    for (int i = 0; i < 3; ++i)
        ASSERT_EQ(c.get("/")->status, 200);
    EXPECT_EQ(up.connection_count(), 1u);
    EXPECT_EQ(up.request_count(), 3u);
}

TEST(Proxy, ChunkedAndCloseDelimitedBodiesAreRelayedChunked) {
    redis_server redis;
    scripted_upstream up;
    scripted_reply chunked;
    chunked.bytes =
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        "5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n";
    up.push(chunked);
    scripted_reply until_close;
    until_close.bytes = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the close";
    until_close.close_after = true;
    up.push(until_close);
    auto gw = start(redis, url_of(up));
    for (const char* want : {"hello, world", "until the close"}) {
        const std::string raw =
            exchange(gw.port, "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        const auto split = raw.find("\r\n\r\n");
        ASSERT_NE(split, std::string::npos) << raw;
        const std::string head = raw.substr(0, split + 2);
        EXPECT_EQ(head.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << head;
        EXPECT_NE(head.find("\r\nTransfer-Encoding: chunked\r\n"), std::string::npos) << head;
        EXPECT_EQ(dechunk(std::string_view(raw).substr(split + 4)), want);
    }
}

TEST(Proxy, HttpTenClientGetsACloseDelimitedBody) {
    redis_server redis;
    scripted_reply chunked;
    chunked.bytes = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
    scripted_upstream up{chunked};
    auto gw = start(redis, url_of(up));
    const std::string raw = exchange(gw.port, "GET / HTTP/1.0\r\n\r\n");
    EXPECT_EQ(raw.find("Transfer-Encoding"), std::string::npos) << raw;
    EXPECT_NE(raw.find("\r\nConnection: close\r\n"), std::string::npos) << raw;
    EXPECT_TRUE(raw.ends_with("\r\n\r\nabc")) << raw;
}

TEST(Proxy, HeadAnd204And304HaveNoBody) {
    redis_server redis;
    scripted_upstream up;
    up.push({.bytes = "HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n"});
    up.push({.bytes = "HTTP/1.1 204 No Content\r\n\r\n"});
    up.push({.bytes = "HTTP/1.1 304 Not Modified\r\nContent-Length: 42\r\n\r\n"});
    auto gw = start(redis, url_of(up), {"--limit", "10"});
    // Content-Length framing would wait for 42 bytes: the heads are read until the close.
    const std::string head =
        exchange(gw.port, "HEAD / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(head.rfind("HTTP/1.1 200", 0), 0u) << head;
    EXPECT_NE(head.find("\r\nContent-Length: 42\r\n"), std::string::npos) << head;
    EXPECT_TRUE(head.ends_with("\r\n\r\n")) << head;
    const std::string raw =
        exchange(gw.port, "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    EXPECT_TRUE(raw.ends_with("\r\n\r\n")) << raw;
    EXPECT_EQ(raw.rfind("HTTP/1.1 204", 0), 0u) << raw;
    const std::string not_modified =
        exchange(gw.port, "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(not_modified.rfind("HTTP/1.1 304", 0), 0u) << not_modified;
    EXPECT_NE(not_modified.find("\r\nContent-Length: 42\r\n"), std::string::npos) << not_modified;
    EXPECT_TRUE(not_modified.ends_with("\r\n\r\n")) << not_modified;
}

TEST(Proxy, ResetMidBodyClosesTheClientConnection) {
    redis_server redis;
    scripted_reply broken;
    broken.bytes = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b";
    broken.reset_after = true;
    scripted_upstream up{broken};
    auto gw = start(redis, url_of(up));
    const std::string raw = exchange(gw.port, "GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    EXPECT_EQ(raw.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << raw;
    EXPECT_TRUE(raw.ends_with("only ten b")) << raw;
    EXPECT_EQ(gw.metric(R"(sluice_upstream_failures_total{answer="truncated"})"), 1);
}

TEST(Proxy, OneMebibyteBody) {
    redis_server redis;
    std::string body(1024 * 1024, 'x');
    for (std::size_t i = 0; i < body.size(); i += 997)
        body[i] = static_cast<char>('a' + i % 26);
    scripted_upstream up{scripted_upstream::ok(body)};
    auto gw = start(redis, url_of(up));
    const auto r = http_get(gw.port, "/big");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body.size(), body.size());
    EXPECT_TRUE(r->body == body);
}

TEST(Proxy, InFrontOfARealNginx) {
    redis_server redis;
    nginx_server nginx{R"(
        server {
            listen 127.0.0.1:@PORT@;
            root @DIR@/www;
        }
    )",
                       {{"www/hello.txt", "hello from nginx\n"}}};
    auto gw = start(redis, "http://127.0.0.1:" + std::to_string(nginx.port()));
    const auto r = http_get(gw.port, "/hello.txt");
    ASSERT_TRUE(r) << nginx.error_log();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "hello from nginx\n");
    EXPECT_EQ(r->header("x-ratelimit-remaining"), "4");
    EXPECT_EQ(http_get(gw.port, "/missing")->status, 404);
    EXPECT_EQ(gw.metric(R"(sluice_upstream_responses_total{class="4xx"})"), 1);
}

}  // namespace
}  // namespace sluice::test
