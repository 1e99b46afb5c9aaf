// The real sluice-load binary against a tiny HTTP server started inside the test: plain POSIX
// sockets, one thread per connection, answers chosen by each test. At the end, --verify-limit
// against the real gateway and a real redis-server.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <deque>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <regex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/http_client.hpp"
#include "tests/support/process.hpp"
#include "tests/support/redis_server.hpp"

namespace {

using namespace std::chrono_literals;
using sluice::test::process;

struct reply {
    reply(std::string b = "", bool close = false, bool quiet = false)
        : bytes(std::move(b)), close_after(close), silent(quiet) {}

    std::string bytes;       // sent as they are
    bool close_after;        // then the server closes the connection
    bool silent;             // never answer
    std::string late_bytes;  // sent `late_after` after `bytes`, unasked
    std::chrono::milliseconds late_after{0};
};

std::string http_response(int status, std::string_view extra_headers = "") {
    std::string body = status == 200 ? R"({"status":"ok"})" : R"({"error":"too_many_requests"})";
    return "HTTP/1.1 " + std::to_string(status) + (status == 200 ? " OK" : " Too Many Requests") +
           "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\n" + std::string(extra_headers) + "\r\n" + body;
}

// The seed's limiter in miniature: five allowed, then rejected.
reply five_then_429(std::uint64_t index, const std::string&) {
    return {http_response(index < 5 ? 200 : 429)};
}

class tiny_http_server {
  public:
    using responder = std::function<reply(std::uint64_t index, const std::string& request)>;

    explicit tiny_http_server(responder respond, std::chrono::milliseconds delay = 0ms)
        : respond_(std::move(respond)), delay_(delay) {
        listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int one = 1;
        ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
            ::listen(listen_fd_, 128) != 0) {
            throw std::runtime_error("tiny_http_server: cannot listen");
        }
        socklen_t len = sizeof addr;
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
        port_ = ntohs(addr.sin_port);
        acceptor_ = std::thread([this] { accept_loop(); });
    }

    ~tiny_http_server() {
        stopping_ = true;
        ::shutdown(listen_fd_, SHUT_RDWR);
        acceptor_.join();
        ::close(listen_fd_);
        std::vector<std::thread> threads;
        {
            std::lock_guard lock(mutex_);
            for (int fd : open_fds_)
                ::shutdown(fd, SHUT_RDWR);
            threads.swap(threads_);
        }
        for (auto& t : threads)
            t.join();
    }

    std::string url(std::string_view path = "/") const {
        return "http://127.0.0.1:" + std::to_string(port_) + std::string(path);
    }
    std::uint64_t requests() const { return requests_; }
    std::uint64_t connections() const { return connections_; }
    int peak_in_flight() const { return peak_in_flight_; }
    std::vector<std::string> seen() const {
        std::lock_guard lock(mutex_);
        return seen_;
    }

  private:
    void accept_loop() {
        for (;;) {
            int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
            if (fd < 0) {
                if (stopping_) return;
                continue;
            }
            ++connections_;
            std::lock_guard lock(mutex_);
            open_fds_.push_back(fd);
            threads_.emplace_back([this, fd] { serve(fd); });
        }
    }

    void serve(int fd) {
        std::string pending;
        char buf[4096];
        bool open = true;
        while (open) {
            ssize_t n = ::recv(fd, buf, sizeof buf, 0);
            if (n <= 0) break;
            pending.append(buf, static_cast<std::size_t>(n));
            for (std::size_t end; open && (end = pending.find("\r\n\r\n")) != std::string::npos;) {
                std::string request = pending.substr(0, end + 4);
                pending.erase(0, end + 4);
                std::uint64_t index = requests_++;
                {
                    std::lock_guard lock(mutex_);
                    seen_.push_back(request);
                }
                int now = ++in_flight_;
                for (int peak = peak_in_flight_; now > peak;) {
                    if (peak_in_flight_.compare_exchange_weak(peak, now)) break;
                }
                std::this_thread::sleep_for(delay_);
                reply r = respond_(index, request);
                --in_flight_;
                if (r.silent) continue;
                if (!r.bytes.empty()) {
                    ::send(fd, r.bytes.data(), r.bytes.size(), MSG_NOSIGNAL);
                }
                if (!r.late_bytes.empty()) {
                    std::this_thread::sleep_for(r.late_after);
                    ::send(fd, r.late_bytes.data(), r.late_bytes.size(), MSG_NOSIGNAL);
                }
                if (r.close_after) open = false;
            }
        }
        std::lock_guard lock(mutex_);
        open_fds_.erase(std::find(open_fds_.begin(), open_fds_.end(), fd));
        ::close(fd);
    }

    responder respond_;
    std::chrono::milliseconds delay_;
    int listen_fd_ = -1;
    unsigned short port_ = 0;
    std::atomic<bool> stopping_{false};
    std::atomic<std::uint64_t> requests_{0};
    std::atomic<std::uint64_t> connections_{0};
    std::atomic<int> in_flight_{0};
    std::atomic<int> peak_in_flight_{0};
    mutable std::mutex mutex_;
    std::vector<std::string> seen_;
    std::vector<int> open_fds_;
    std::vector<std::thread> threads_;
    std::thread acceptor_;
};

struct run_result {
    int exit = -1;
    std::string out;
    std::chrono::milliseconds took{0};
};

// Runs sluice-load to the end and collects its stdout (stderr goes to the test log).
run_result run_load(const std::vector<std::string>& args, std::chrono::seconds limit = 20s) {
    auto start = std::chrono::steady_clock::now();
    process p(sluice::test::binary("sluice-load"), args);
    run_result r;
    auto deadline = start + limit;
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left <= 0ms) break;
        bool ok = false;
        std::string line = p.read_line(left, &ok);
        if (!ok) break;
        r.out += line + "\n";
    }
    r.exit = p.wait(std::chrono::duration_cast<std::chrono::milliseconds>(std::max(
        deadline - std::chrono::steady_clock::now(), std::chrono::steady_clock::duration(100ms))));
    r.took = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - start);
    return r;
}

// The contract's JSON, field by field; returns the numbers or fails the test.
struct json_report {
    std::uint64_t requests = 0;
    double seconds = 0;
    std::map<int, std::uint64_t> status;
    std::uint64_t p50 = 0, p90 = 0, p99 = 0, p999 = 0, max = 0;
    std::uint64_t errors = 0;
    std::uint64_t connect = 0, timeout = 0, closed = 0, protocol = 0;
    std::uint64_t uncounted_200 = 0;
    std::map<std::string, std::string> verify;  // the "verify" members, values as written
};

json_report parse_report(const std::string& out) {
    static const std::regex shape(
        R"re(\{"requests":(\d+),"seconds":(\d+\.\d{3}),"rps":(\d+\.\d),)re"
        R"re("status":\{((?:"\d{3}":\d+)(?:,"\d{3}":\d+)*)?\},)re"
        R"re("latency_us":\{"p50":(\d+),"p90":(\d+),"p99":(\d+),"p999":(\d+),"max":(\d+)\},)re"
        R"re("errors":(\d+),)re"
        R"re("failures":\{"connect":(\d+),"timeout":(\d+),"closed":(\d+),"protocol":(\d+)\},)re"
        R"re("uncounted_200":(\d+)(?:,"verify":\{([^{}]*)\})?\}\n)re");
    std::smatch m;
    json_report r;
    EXPECT_TRUE(std::regex_match(out, m, shape)) << out;
    if (m.empty()) return r;
    r.requests = std::stoull(m[1]);
    r.seconds = std::stod(m[2]);
    std::string status = m[4];
    static const std::regex item(R"re("(\d{3})":(\d+))re");
    for (std::sregex_iterator it(status.begin(), status.end(), item), end; it != end; ++it) {
        r.status[std::stoi((*it)[1])] = std::stoull((*it)[2]);
    }
    r.p50 = std::stoull(m[5]);
    r.p90 = std::stoull(m[6]);
    r.p99 = std::stoull(m[7]);
    r.p999 = std::stoull(m[8]);
    r.max = std::stoull(m[9]);
    r.errors = std::stoull(m[10]);
    r.connect = std::stoull(m[11]);
    r.timeout = std::stoull(m[12]);
    r.closed = std::stoull(m[13]);
    r.protocol = std::stoull(m[14]);
    EXPECT_EQ(r.errors, r.connect + r.timeout + r.closed + r.protocol);
    r.uncounted_200 = std::stoull(m[15]);
    std::string verify = m[16];
    static const std::regex member(R"re("(\w+)":("[^"]*"|null|[0-9.]+))re");
    for (std::sregex_iterator it(verify.begin(), verify.end(), member), end; it != end; ++it) {
        r.verify[(*it)[1]] = (*it)[2];
    }
    if (m[16].matched) {
        EXPECT_EQ(r.verify.size(), 10u) << verify;
    }
    EXPECT_LE(r.p50, r.p90);
    EXPECT_LE(r.p90, r.p99);
    EXPECT_LE(r.p99, r.p999);
    EXPECT_LE(r.p999, r.max);
    return r;
}

TEST(SluiceLoad, SeedCheckPasses) {
    // The delay keeps every request in flight at once, so the peak shows they were concurrent.
    tiny_http_server server(five_then_429, 100ms);
    auto r = run_load({server.url(), "-c", "6", "-n", "6", "--expect", "200:5,429:1"});
    EXPECT_EQ(r.exit, 0) << r.out;
    EXPECT_EQ(server.requests(), 6u);
    EXPECT_EQ(server.connections(), 6u);
    EXPECT_EQ(server.peak_in_flight(), 6);
    EXPECT_NE(r.out.find("status        200: 5, 429: 1\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("requests      6 in "), std::string::npos) << r.out;
}

TEST(SluiceLoad, WrongExpectationExitsOne) {
    tiny_http_server server(five_then_429);
    auto r = run_load({server.url(), "-c", "6", "-n", "6", "--expect", "200:6"});
    EXPECT_EQ(r.exit, 1) << r.out;
    // The report is still printed, so the failure can be read.
    EXPECT_NE(r.out.find("429: 1"), std::string::npos) << r.out;
}

TEST(SluiceLoad, JsonReport) {
    tiny_http_server server(five_then_429);
    auto r = run_load({server.url("/some/path?x=1"), "-c", "2", "-n", "10", "--json"});
    EXPECT_EQ(r.exit, 0);
    json_report j = parse_report(r.out);
    EXPECT_EQ(j.requests, 10u);
    EXPECT_EQ(j.status, (std::map<int, std::uint64_t>{{200, 5}, {429, 5}}));
    EXPECT_EQ(j.errors, 0u);
    EXPECT_GT(j.max, 0u);
    for (const auto& req : server.seen()) {
        EXPECT_EQ(req.rfind("GET /some/path?x=1 HTTP/1.1\r\n", 0), 0u) << req;
        EXPECT_NE(req.find("\r\nHost: 127.0.0.1:"), std::string::npos) << req;
    }
}

TEST(SluiceLoad, NothingListeningFailsFast) {
    unsigned short port = sluice::test::free_port();
    auto r = run_load({"http://127.0.0.1:" + std::to_string(port) + "/", "-c", "4", "-n", "4"});
    EXPECT_EQ(r.exit, 1);
    EXPECT_EQ(r.out, "");  // the error line goes to stderr
    EXPECT_LT(r.took, 3s);
}

TEST(SluiceLoad, UsageErrorsAndHelp) {
    auto r = run_load({"http://127.0.0.1:1/", "-c", "x"});
    EXPECT_EQ(r.exit, 2);
    EXPECT_EQ(r.out, "");
    r = run_load({"https://127.0.0.1:1/"});
    EXPECT_EQ(r.exit, 2);
    r = run_load({"http://127.0.0.1:1/", "--verify-limit", "5"});
    EXPECT_EQ(r.exit, 2);
    EXPECT_EQ(r.out, "");
    r = run_load({"--help"});
    EXPECT_EQ(r.exit, 0);
    EXPECT_EQ(r.out.rfind("usage: sluice-load URL", 0), 0u) << r.out;
}

TEST(SluiceLoad, GarbageResponsesAreErrorsNotCrashes) {
    tiny_http_server server(
        [](std::uint64_t, const std::string&) { return reply{"THIS IS NOT HTTP\r\n\r\n"}; });
    auto r = run_load({server.url(), "-c", "2", "-n", "6", "--json"});
    EXPECT_EQ(r.exit, 0);
    json_report j = parse_report(r.out);
    EXPECT_EQ(j.requests, 0u);
    EXPECT_EQ(j.errors, 6u);
    EXPECT_EQ(j.protocol, 6u);

    r = run_load({server.url(), "-c", "1", "-n", "1", "--expect", "200:1"});
    EXPECT_EQ(r.exit, 1);
}

TEST(SluiceLoad, SilentServerTimesOut) {
    tiny_http_server server([](std::uint64_t, const std::string&) {
        return reply{"", false, true};
    });
    auto r = run_load({server.url(), "-c", "2", "-n", "4", "--timeout", "200ms", "--json"});
    EXPECT_EQ(r.exit, 0);
    json_report j = parse_report(r.out);
    EXPECT_EQ(j.requests, 0u);
    EXPECT_EQ(j.errors, 4u);
    EXPECT_EQ(j.timeout, 4u);
    EXPECT_LT(r.took, 5s);
}

TEST(SluiceLoad, ServerThatClosesWithoutAnsweringIsAnError) {
    tiny_http_server server([](std::uint64_t, const std::string&) {
        return reply{"", true, false};
    });
    auto r = run_load({server.url(), "-c", "1", "-n", "3", "--json"});
    EXPECT_EQ(r.exit, 0);
    json_report j = parse_report(r.out);
    EXPECT_EQ(j.errors, 3u);
    EXPECT_EQ(j.closed, 3u);
    EXPECT_EQ(j.requests, 0u);
}

TEST(SluiceLoad, ConnectionCloseReconnects) {
    tiny_http_server server([](std::uint64_t, const std::string&) {
        return reply{http_response(200, "Connection: close\r\n"), true};
    });
    auto r = run_load({server.url(), "-c", "1", "-n", "5", "--expect", "200:5"});
    EXPECT_EQ(r.exit, 0) << r.out;
    EXPECT_EQ(server.connections(), 5u);
    EXPECT_NE(r.out.find("reconnects    4\n"), std::string::npos) << r.out;
}

// A server that drops a keep-alive connection without saying so: the request that finds the
// connection gone is sent again on a new one instead of being counted as failed.
TEST(SluiceLoad, SilentlyClosedKeepAliveIsRetried) {
    tiny_http_server server([](std::uint64_t, const std::string&) {
        return reply{http_response(200), true};
    });
    auto r = run_load({server.url(), "-c", "1", "-n", "5", "--expect", "200:5"});
    EXPECT_EQ(r.exit, 0) << r.out;
    EXPECT_EQ(server.requests(), 5u);
}

TEST(SluiceLoad, BodiesOfEveryFraming) {
    tiny_http_server server([](std::uint64_t index, const std::string&) {
        switch (index % 3) {
            case 0:
                return reply{
                    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "4\r\nabcd\r\n0\r\n\r\n"};
            case 1:
                return reply{"HTTP/1.1 204 No Content\r\n\r\n"};
            default:
                return reply{"HTTP/1.1 503 Unavailable\r\nConnection: close\r\n\r\nuntil eof",
                             true};
        }
    });
    auto r = run_load({server.url(), "-c", "1", "-n", "9", "--expect", "200:3,204:3,503:3"});
    EXPECT_EQ(r.exit, 0) << r.out;
}

TEST(SluiceLoad, KeysGoInTheHeader) {
    tiny_http_server server(five_then_429);
    auto r =
        run_load({server.url(), "-c", "3", "-n", "60", "--keys", "3", "--key-header", "X-Api-Key"});
    EXPECT_EQ(r.exit, 0);
    std::set<std::string> keys;
    static const std::regex key_line("\r\nX-Api-Key: (k[0-9]+)\r\n");
    for (const auto& req : server.seen()) {
        std::smatch m;
        ASSERT_TRUE(std::regex_search(req, m, key_line)) << req;
        keys.insert(m[1]);
    }
    EXPECT_EQ(keys, (std::set<std::string>{"k0", "k1", "k2"}));
}

// -n K --keys K --key-seq: every key exactly once, whichever connection and thread sends it.
TEST(SluiceLoad, KeySeqSendsEachKeyOnce) {
    tiny_http_server server(five_then_429);
    auto r = run_load({server.url(), "-c", "4", "--threads", "2", "-n", "200", "--keys", "200",
                       "--key-header", "X-Api-Key", "--key-seq"});
    EXPECT_EQ(r.exit, 0);
    std::map<std::string, int> keys;
    static const std::regex key_line("\r\nX-Api-Key: (k[0-9]+)\r\n");
    for (const auto& req : server.seen()) {
        std::smatch m;
        ASSERT_TRUE(std::regex_search(req, m, key_line)) << req;
        ++keys[m[1]];
    }
    EXPECT_EQ(keys.size(), 200u);
    for (int k = 0; k < 200; ++k)
        EXPECT_EQ(keys["k" + std::to_string(k)], 1) << k;
}

TEST(SluiceLoad, PercentilesFileHoldsTheCurve) {
    tiny_http_server server(five_then_429);
    const std::string file = ::testing::TempDir() + "sluice-load-curve.txt";
    auto r = run_load({server.url(), "-c", "2", "-n", "100", "--percentiles", file});
    EXPECT_EQ(r.exit, 0);
    std::ifstream in(file);
    std::vector<std::pair<double, std::uint64_t>> curve;
    double p = 0;
    std::uint64_t us = 0;
    while (in >> p >> us)
        curve.emplace_back(p, us);
    EXPECT_TRUE(in.eof());
    // The twelve fixed points and 87.5, 93.75, 96.875, 98.4375 (2^6 <= 100 < 2^7).
    ASSERT_EQ(curve.size(), 16u);
    EXPECT_EQ(curve.front().first, 0);
    EXPECT_EQ(curve.back().first, 100);
    for (std::size_t i = 1; i < curve.size(); ++i) {
        EXPECT_LT(curve[i - 1].first, curve[i].first);
        EXPECT_LE(curve[i - 1].second, curve[i].second);
    }
    std::remove(file.c_str());

    // A path that cannot be written fails before any request is sent.
    r = run_load({server.url(), "-c", "1", "-n", "1", "--percentiles", "/nonexistent/dir/x"});
    EXPECT_EQ(r.exit, 2);
    EXPECT_EQ(server.seen().size(), 100u);
}

TEST(SluiceLoad, DurationBoundsTheRun) {
    tiny_http_server server(five_then_429);
    auto r = run_load({server.url(), "-c", "2", "-d", "300ms", "--json"});
    EXPECT_EQ(r.exit, 0);
    json_report j = parse_report(r.out);
    EXPECT_GT(j.requests, 5u);
    EXPECT_GE(j.seconds, 0.29);
    EXPECT_LT(j.seconds, 2.0);
}

TEST(SluiceLoad, ThreadsShareTheWork) {
    tiny_http_server server(five_then_429);
    auto r = run_load(
        {server.url(), "--threads", "2", "-c", "4", "-n", "40", "--expect", "200:5,429:35"});
    EXPECT_EQ(r.exit, 0) << r.out;
    EXPECT_EQ(server.connections(), 4u);
}

TEST(SluiceLoad, RateSpacesTheRequests) {
    tiny_http_server server(five_then_429);
    auto r = run_load({server.url(), "--rate", "20", "-c", "2", "-n", "6", "--json"});
    EXPECT_EQ(r.exit, 0);
    json_report j = parse_report(r.out);
    EXPECT_EQ(j.requests, 6u);
    // The sixth request is due 250 ms after the start.
    EXPECT_GE(j.seconds, 0.24);
}

// One connection offered 100 requests/s against a server that needs 50 ms per request: requests
// fall further and further behind their schedule, and the latency must say so instead of
// reporting the 50 ms each request spent on the wire.
TEST(SluiceLoad, OpenLoopLatencyCountsFromTheSchedule) {
    tiny_http_server server(five_then_429, 50ms);
    auto r = run_load({server.url(), "--rate", "100", "-c", "1", "-n", "15", "--json"});
    EXPECT_EQ(r.exit, 0);
    json_report j = parse_report(r.out);
    EXPECT_EQ(j.requests, 15u);
    // Request 14 is due at 140 ms and answered near 750 ms.
    EXPECT_GT(j.max, 450'000u);
    EXPECT_GT(j.p50, 200'000u);
}

TEST(SluiceLoad, InterruptStopsAndStillReports) {
    tiny_http_server server(five_then_429);
    process p(sluice::test::binary("sluice-load"), {server.url(), "-c", "2", "-d", "60s"});
    std::this_thread::sleep_for(300ms);
    auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(p.stop(SIGINT, 5s), 0);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
    std::string first = p.read_line(1s);
    std::string second = p.read_line(1s);
    EXPECT_EQ(first.rfind("target ", 0), 0u) << first;
    EXPECT_EQ(second.rfind("requests ", 0), 0u) << second;
    EXPECT_GT(server.requests(), 5u);
}

// --- exactly one answer per request ---------------------------------------------------------

// The unasked-for answers carry a status of their own, so an answer taken for the wrong
// request would show in the status counts.
std::string stray_response() {
    return "HTTP/1.1 500 Stray\r\nContent-Length: 0\r\n\r\n";
}

TEST(SluiceLoad, ASecondResponseInTheSameReadIsAnError) {
    tiny_http_server server([](std::uint64_t, const std::string&) {
        return reply{http_response(200) + stray_response()};
    });
    auto r = run_load({server.url(), "-c", "1", "-n", "5", "--json"});
    EXPECT_EQ(r.exit, 0) << r.out;
    json_report j = parse_report(r.out);
    EXPECT_EQ(j.status, (std::map<int, std::uint64_t>{{200, 5}}));
    EXPECT_EQ(j.errors, 5u);

    // So --expect, which wants no errors, fails.
    r = run_load({server.url(), "-c", "1", "-n", "5", "--expect", "200:5"});
    EXPECT_EQ(r.exit, 1) << r.out;
    EXPECT_NE(r.out.find("protocol 5"), std::string::npos) << r.out;
}

// A response that arrives while the connection is idle, between two requests, answers nothing:
// before this was checked it was taken as the answer to the next request.
TEST(SluiceLoad, AResponseWhileIdleIsAnErrorNotTheNextAnswer) {
    tiny_http_server server([](std::uint64_t, const std::string&) {
        reply r{http_response(200)};
        r.late_bytes = stray_response();
        r.late_after = 100ms;
        return r;
    });
    // Requests leave at 0, 250 and 500 ms; each stray arrives 100 ms after its answer.
    auto r = run_load({server.url(), "--rate", "4", "-c", "1", "-n", "3", "--json"});
    EXPECT_EQ(r.exit, 0) << r.out;
    json_report j = parse_report(r.out);
    EXPECT_EQ(j.status, (std::map<int, std::uint64_t>{{200, 3}}));
    // The last stray may come after the run ended.
    EXPECT_GE(j.errors, 2u);
    EXPECT_LE(j.errors, 3u);
    EXPECT_EQ(server.requests(), 3u);
}

TEST(SluiceLoad, InterimResponsesAreNotAnswers) {
    tiny_http_server server([](std::uint64_t, const std::string&) {
        return reply{"HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n" +
                     http_response(200, "X-RateLimit-Remaining: 1\r\n")};
    });
    auto r = run_load({server.url(), "-c", "1", "-n", "4", "--expect", "200:4"});
    EXPECT_EQ(r.exit, 0) << r.out;
    EXPECT_EQ(server.connections(), 1u);
}

// --- --verify-limit against scripted servers ------------------------------------------------

std::string key_of(const std::string& request) {
    static const std::string name = "\r\nX-Api-Key: ";
    std::size_t at = request.find(name);
    if (at == std::string::npos) return "";
    at += name.size();
    return request.substr(at, request.find("\r\n", at) - at);
}

std::string counted_200() {
    return http_response(200, "X-RateLimit-Remaining: 1\r\n");
}

// A sliding-window log per key, decided on the server's own clock as the script decides on
// Redis's; `slack` lets that many extra requests through per window (a broken limiter).
class fake_limiter {
  public:
    fake_limiter(std::size_t limit, std::chrono::milliseconds window, std::size_t slack = 0)
        : limit_(limit + slack), window_(window) {}

    bool allow(const std::string& key) {
        std::lock_guard lock(mutex_);
        auto now = std::chrono::steady_clock::now();
        auto& log = logs_[key];
        while (!log.empty() && now - log.front() >= window_)
            log.pop_front();
        if (log.size() >= limit_) return false;
        log.push_back(now);
        return true;
    }

    tiny_http_server::responder responder() {
        return [this](std::uint64_t, const std::string& request) {
            return reply{allow(key_of(request))
                             ? counted_200()
                             : http_response(429, "X-RateLimit-Remaining: 0\r\n")};
        };
    }

  private:
    std::size_t limit_;
    std::chrono::milliseconds window_;
    std::mutex mutex_;
    std::map<std::string, std::deque<std::chrono::steady_clock::time_point>> logs_;
};

TEST(SluiceLoad, VerifyCatchesAServerThatAllowsEverything) {
    tiny_http_server server([](std::uint64_t, const std::string&) { return reply{counted_200()}; });
    auto r = run_load({server.url(), "-c", "2", "-n", "30", "--keys", "1", "--key-header",
                       "X-Api-Key", "--verify-limit", "5/10s"});
    EXPECT_EQ(r.exit, 1) << r.out;
    EXPECT_NE(r.out.find("verify-limit: 5/10s, tolerance 2ms: VIOLATION — key k0: 30 counted "
                         "200s within "),
              std::string::npos)
        << r.out;

    // Each thread keeps its own log; the check sees them merged.
    r = run_load({server.url(), "-c", "3", "-n", "90", "--threads", "2", "--keys", "3",
                  "--key-header", "X-Api-Key", "--verify-limit", "5/10s", "--json"});
    EXPECT_EQ(r.exit, 1) << r.out;
    json_report j = parse_report(r.out);
    EXPECT_EQ(j.verify["limit"], "5");
    EXPECT_EQ(j.verify["window_ms"], "10000");
    EXPECT_EQ(j.verify["tolerance_ms"], "2");
    EXPECT_EQ(j.verify["keys"], "3");
    EXPECT_EQ(j.verify["counted"], "90");
    EXPECT_EQ(j.verify["uncounted"], "0");
    EXPECT_EQ(j.verify["violations"], "3");
    EXPECT_TRUE(std::regex_match(j.verify["worst_key"], std::regex(R"("k[012]")")))
        << j.verify["worst_key"];
    EXPECT_GT(std::stoull(j.verify["worst_count"]), 5u);
    EXPECT_LT(std::stoull(j.verify["worst_span_ms"]), 10'000u);

    // Without --keys, all requests are one client.
    r = run_load({server.url(), "-c", "1", "-n", "6", "--verify-limit", "5/1m", "--json"});
    EXPECT_EQ(r.exit, 1) << r.out;
    j = parse_report(r.out);
    EXPECT_EQ(j.verify["worst_key"], "\"(all)\"");
    EXPECT_EQ(j.verify["worst_count"], "6");
}

TEST(SluiceLoad, VerifyPassesACorrectLimiter) {
    fake_limiter limiter(3, 300ms);
    tiny_http_server server(limiter.responder());
    auto r = run_load({server.url(), "-c", "4", "-d", "1s", "--keys", "2", "--key-header",
                       "X-Api-Key", "--verify-limit", "3/300ms", "--json"});
    EXPECT_EQ(r.exit, 0) << r.out;
    json_report j = parse_report(r.out);
    EXPECT_GT(j.status[429], 0u);
    EXPECT_EQ(j.verify["violations"], "0");
    EXPECT_EQ(j.verify["keys"], "2");
    EXPECT_EQ(j.verify["worst_count"], "3");
    // Three per key at once, then three more each time a window has passed.
    EXPECT_GE(j.status[200], 2u * 3 * 3);
    EXPECT_EQ(j.verify["counted"], std::to_string(j.status[200]));
}

TEST(SluiceLoad, VerifyCatchesALimiterOffByOne) {
    fake_limiter limiter(3, 300ms, 1);
    tiny_http_server server(limiter.responder());
    auto r = run_load({server.url(), "-c", "4", "-d", "700ms", "--keys", "2", "--key-header",
                       "X-Api-Key", "--verify-limit", "3/300ms", "--json"});
    EXPECT_EQ(r.exit, 1) << r.out;
    json_report j = parse_report(r.out);
    EXPECT_EQ(j.verify["violations"], "2");
    EXPECT_EQ(j.verify["worst_count"], "4");
}

TEST(SluiceLoad, VerifyAndExpectMustBothHold) {
    fake_limiter limiter(3, 10s);
    tiny_http_server server(limiter.responder());
    // The limit holds, the counts do not.
    auto r = run_load(
        {server.url(), "-c", "1", "-n", "5", "--verify-limit", "3/10s", "--expect", "200:5"});
    EXPECT_EQ(r.exit, 1) << r.out;
    EXPECT_NE(r.out.find("tolerance 2ms: ok"), std::string::npos) << r.out;

    // The counts hold, the limit does not.
    tiny_http_server generous(
        [](std::uint64_t, const std::string&) { return reply{counted_200()}; });
    r = run_load(
        {generous.url(), "-c", "1", "-n", "5", "--verify-limit", "3/10s", "--expect", "200:5"});
    EXPECT_EQ(r.exit, 1) << r.out;
    r = run_load(
        {generous.url(), "-c", "1", "-n", "5", "--verify-limit", "5/10s", "--expect", "200:5"});
    EXPECT_EQ(r.exit, 0) << r.out;
}

TEST(SluiceLoad, TwoHundredsWithoutTheHeaderAreUncounted) {
    tiny_http_server server([](std::uint64_t, const std::string&) {
        return reply{http_response(200, "X-RateLimit-Limit: 5\r\n")};
    });
    auto r = run_load({server.url(), "-c", "2", "-n", "20", "--verify-limit", "5/10s", "--json"});
    EXPECT_EQ(r.exit, 0) << r.out;
    json_report j = parse_report(r.out);
    EXPECT_EQ(j.uncounted_200, 20u);
    EXPECT_EQ(j.verify["counted"], "0");
    EXPECT_EQ(j.verify["uncounted"], "20");
    EXPECT_EQ(j.verify["worst_key"], "null");

    // Counted without --verify-limit too, in both forms of the report.
    r = run_load({server.url(), "-c", "2", "-n", "20", "--json"});
    EXPECT_EQ(parse_report(r.out).uncounted_200, 20u);
    r = run_load({server.url(), "-c", "2", "-n", "20"});
    EXPECT_NE(r.out.find("\nuncounted     20 (200s without X-RateLimit-Remaining)\n"),
              std::string::npos)
        << r.out;
    EXPECT_EQ(r.out.find("verify-limit"), std::string::npos) << r.out;
}

// --- several URLs ---------------------------------------------------------------------------

TEST(SluiceLoad, ConnectionsAreSpreadOverTheUrls) {
    tiny_http_server a(five_then_429), b(five_then_429);
    auto r = run_load({a.url("/a"), b.url("/b"), "-c", "5", "-n", "50"});
    EXPECT_EQ(r.exit, 0) << r.out;
    // Connections 0, 2, 4 go to the first URL, 1 and 3 to the second.
    EXPECT_EQ(a.connections(), 3u);
    EXPECT_EQ(b.connections(), 2u);
    EXPECT_GT(a.requests(), 0u);
    EXPECT_GT(b.requests(), 0u);
    EXPECT_EQ(a.requests() + b.requests(), 50u);
    for (const auto& req : a.seen())
        EXPECT_EQ(req.rfind("GET /a HTTP/1.1\r\n", 0), 0u) << req;
    for (const auto& req : b.seen())
        EXPECT_EQ(req.rfind("GET /b HTTP/1.1\r\n", 0), 0u) << req;
    EXPECT_NE(r.out.find("target        " + a.url("/a") + ", " + b.url("/b") + " (5 connections"),
              std::string::npos)
        << r.out;

    // Each is checked on its own: one that does not listen fails the run.
    unsigned short dead = sluice::test::free_port();
    r = run_load({a.url(), "http://127.0.0.1:" + std::to_string(dead) + "/", "-c", "2", "-n", "2"});
    EXPECT_EQ(r.exit, 1);
    r = run_load({a.url(), "https://127.0.0.1:1/"});
    EXPECT_EQ(r.exit, 2);
}

// Two servers that each keep the limit but do not share their state let twice the limit
// through; two that share it do not.
TEST(SluiceLoad, VerifyChecksTheLimitAcrossTheUrls) {
    fake_limiter one(3, 10s), other(3, 10s);
    tiny_http_server a(one.responder()), b(other.responder());
    auto r =
        run_load({a.url(), b.url(), "-c", "2", "-d", "300ms", "--verify-limit", "3/10s", "--json"});
    EXPECT_EQ(r.exit, 1) << r.out;
    EXPECT_EQ(parse_report(r.out).verify["worst_count"], "6");

    fake_limiter shared(3, 10s);
    tiny_http_server c(shared.responder()), d(shared.responder());
    r = run_load({c.url(), d.url(), "-c", "2", "-d", "300ms", "--verify-limit", "3/10s", "--json"});
    EXPECT_EQ(r.exit, 0) << r.out;
    json_report j = parse_report(r.out);
    EXPECT_EQ(j.verify["worst_count"], "3");
    EXPECT_GT(c.requests(), 0u);
    EXPECT_GT(d.requests(), 0u);
}

// --- --verify-limit against the real gateway -------------------------------------------------

// A running `sluice` on free ports, keyed by X-Api-Key. The Redis timeout is generous: on a busy
// machine a decision late by 100 ms is served fail-open, uncounted, which is not what these
// tests are about.
struct gateway {
    gateway(const sluice::test::redis_server& redis, std::vector<std::string> extra = {}) {
        std::vector<std::string> args = {"--listen", "127.0.0.1:0", "--admin",   "127.0.0.1:0",
                                         "--redis",  redis.url(),   "--threads", "1"};
        for (std::string a : {"--limit", "5", "--window", "1s", "--key", "header:X-Api-Key",
                              "--redis-timeout", "2s"}) {
            args.push_back(a);
        }
        args.insert(args.end(), extra.begin(), extra.end());
        proc = process(sluice::test::binary("sluice"), args);
        std::regex listening(R"(listening on 127\.0\.0\.1:(\d+))");
        std::regex admin_re(R"(admin on 127\.0\.0\.1:(\d+))");
        for (int i = 0; i < 2; ++i) {
            std::string line = proc.read_line(10s);
            std::smatch m;
            if (std::regex_search(line, m, listening)) {
                port = static_cast<unsigned short>(std::stoi(m[1]));
            } else if (std::regex_search(line, m, admin_re)) {
                admin = static_cast<unsigned short>(std::stoi(m[1]));
            }
        }
        EXPECT_NE(port, 0);
        EXPECT_NE(admin, 0);
        auto deadline = std::chrono::steady_clock::now() + 5s;
        while (std::chrono::steady_clock::now() < deadline) {
            auto ready = sluice::test::http_get(admin, "/readyz");
            if (ready && ready->status == 200) break;
            std::this_thread::sleep_for(20ms);
        }
    }

    std::string url() const { return "http://127.0.0.1:" + std::to_string(port) + "/"; }

    long long allowed() const {
        auto r = sluice::test::http_get(admin, "/metrics");
        if (!r) return -1;
        const std::string sample = "\nsluice_requests_total{decision=\"allowed\"} ";
        auto pos = r->body.find(sample);
        if (pos == std::string::npos) return -1;
        return std::stoll(r->body.substr(pos + sample.size()));
    }

    process proc;
    unsigned short port = 0;
    unsigned short admin = 0;
};

std::vector<std::string> keyed_load(std::vector<std::string> urls, std::string duration,
                                    std::string limit) {
    std::vector<std::string> args = std::move(urls);
    for (std::string a : {"-c", "8", "-d"})
        args.push_back(a);
    args.push_back(std::move(duration));
    for (std::string a : {"--keys", "10", "--key-header", "X-Api-Key", "--json", "--verify-limit"})
        args.push_back(a);
    args.push_back(std::move(limit));
    return args;
}

TEST(SluiceLoad, TheGatewayKeepsItsLimit) {
    sluice::test::redis_server redis;
    gateway gw(redis);
    auto r = run_load(keyed_load({gw.url()}, "3s", "5/1s"), 30s);
    EXPECT_EQ(r.exit, 0) << r.out;
    json_report j = parse_report(r.out);
    EXPECT_EQ(j.errors, 0u);
    EXPECT_EQ(j.verify["violations"], "0");
    EXPECT_EQ(j.verify["keys"], "10");
    EXPECT_EQ(j.verify["worst_count"], "5");
    // Five per key at once, then five more as each second passes: three or four windows.
    std::uint64_t counted = std::stoull(j.verify["counted"]);
    EXPECT_GE(counted, 10u * 5 * 2);
    EXPECT_LE(counted, 10u * 5 * 4);
    EXPECT_EQ(counted + j.uncounted_200, j.status[200]);
    EXPECT_GT(j.status[429], 0u);

    // The same gateway judged against a tighter limit than it keeps is caught, also by a window
    // only a tenth longer than its own (the five that follow a window's end come in well
    // within it): the check is sharp as well as sound.
    r = run_load(keyed_load({gw.url()}, "2s", "4/1s"), 30s);
    EXPECT_EQ(r.exit, 1) << r.out;
    EXPECT_EQ(parse_report(r.out).verify["violations"], "10");
    r = run_load(keyed_load({gw.url()}, "2s", "5/1100ms"), 30s);
    EXPECT_EQ(r.exit, 1) << r.out;
    EXPECT_GT(std::stoull(parse_report(r.out).verify["worst_count"]), 5u);
}

TEST(SluiceLoad, TwoGatewaysOnOneRedisKeepOneLimit) {
    sluice::test::redis_server redis;
    gateway first(redis), second(redis);
    auto r = run_load(keyed_load({first.url(), second.url()}, "3s", "5/1s"), 30s);
    EXPECT_EQ(r.exit, 0) << r.out;
    json_report j = parse_report(r.out);
    EXPECT_EQ(j.errors, 0u);
    EXPECT_EQ(j.verify["violations"], "0");
    EXPECT_EQ(j.verify["worst_count"], "5");
    EXPECT_GT(first.allowed(), 0);
    EXPECT_GT(second.allowed(), 0);
    EXPECT_EQ(first.allowed() + second.allowed(),
              static_cast<long long>(std::stoull(j.verify["counted"])));

    // Two that keep their logs apart allow the limit twice over, and the check says so.
    gateway apart(redis, {"--key-prefix", "apart:"});
    r = run_load(keyed_load({first.url(), apart.url()}, "2s", "5/1s"), 30s);
    EXPECT_EQ(r.exit, 1) << r.out;
    EXPECT_GT(std::stoull(parse_report(r.out).verify["worst_count"]), 5u);
}

}  // namespace
