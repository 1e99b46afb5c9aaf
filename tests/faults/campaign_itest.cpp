// Fault campaign: one Redis, two `sluice` processes sharing it, and `sluice-load` verifying the
// limit from the outside while one fault at a time is injected about 1.5 s into the run. For each
// fault, what a user could measure: how long until both gateways are ready again, how many
// answers failed open (counted by the client, as 200s without X-RateLimit-Remaining, and by the
// gateways' /metrics), whether the limit held for every counted answer, and whether every request
// written got exactly one answer.
//
// The bounds come from CONTRACT.md: a decision Redis could not make in time fails open, so fail-
// opens are allowed while Redis is down, stopped or slow, and only then; a fault Redis absorbs
// (SCRIPT FLUSH) or that the gateway absorbs (a dropped connection, a restart, a start) costs no
// decision beyond the ones on the wire at that instant. Each fault prints one line with its
// figures, so CI logs show the trend even when every bound holds.

#include <gtest/gtest.h>
#include <signal.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/http_client.hpp"
#include "tests/support/process.hpp"
#include "tests/support/redis_server.hpp"
#include "tests/support/sluice_gateway.hpp"

namespace sluice::test {
namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

constexpr int connections = 16;
// An open loop at a fixed rate rather than a closed one: the campaign then leaves CPU to spare on
// a small shared machine. Saturated, a gateway's decisions sometimes miss the 100 ms
// --redis-timeout with no fault at all (seen: 2 fail-opens in 1.5 s of healthy load), which
// would blur the zero bounds below. It also caps what a fault can cost at rate x duration.
constexpr int offered_rate = 5000;
constexpr auto load_duration = 7s;
constexpr auto fault_at = 1500ms;
// CONTRACT.md: /readyz reflects a recovery within 5 s.
constexpr auto recovery_limit = 5s;
// Ready means ready for this long without a relapse: a Redis that was stopped may be found dead
// by the health check only after it is already running again.
constexpr auto ready_streak = 1s;

// A small limit per short window over few keys: every key is at its limit most of the time, so
// a decision that was skipped or duplicated shows up as a violation within the run.
const std::vector<std::string> gateway_flags = {"--threads", "2", "--key",    "header:X-Api-Key",
                                                "--limit",   "5", "--window", "1s"};

long long ms_between(steady::time_point a, steady::time_point b) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count();
}

// ---------------------------------------------------------------------------------------------
// sluice-load's one-line JSON report, flattened: {"a":{"b":1}} gives "a.b" -> "1". Strings lose
// their quotes. Anything else than objects, strings and plain numbers ends the parse.

class json_fields {
  public:
    bool parse(const std::string& text) {
        text_ = text;
        pos_ = 0;
        values_.clear();
        bool ok = object("");
        while (pos_ < text_.size() && (text_[pos_] == '\n' || text_[pos_] == ' '))
            ++pos_;
        return ok && pos_ == text_.size();
    }
    bool has(const std::string& key) const { return values_.count(key) != 0; }
    // The field as a number; -1 when it is absent, so a bound on a missing field fails loudly.
    long long num(const std::string& key) const {
        auto it = values_.find(key);
        if (it == values_.end()) {
            ADD_FAILURE() << "sluice-load's JSON has no \"" << key << "\": " << text_;
            return -1;
        }
        return static_cast<long long>(std::stod(it->second));
    }
    std::string str(const std::string& key) const {
        auto it = values_.find(key);
        return it == values_.end() ? std::string{} : it->second;
    }

  private:
    bool eat(char c) {
        if (pos_ < text_.size() && text_[pos_] == c) {
            ++pos_;
            return true;
        }
        return false;
    }
    bool string(std::string& out) {
        if (!eat('"')) return false;
        while (pos_ < text_.size() && text_[pos_] != '"')
            out += text_[pos_++];
        return eat('"');
    }
    bool value(const std::string& key) {
        if (pos_ < text_.size() && text_[pos_] == '{') return object(key + ".");
        std::string v;
        if (pos_ < text_.size() && text_[pos_] == '"') {
            if (!string(v)) return false;
        } else {
            while (pos_ < text_.size() && text_[pos_] != ',' && text_[pos_] != '}')
                v += text_[pos_++];
            if (v.empty()) return false;
        }
        values_[key] = v;
        return true;
    }
    bool object(const std::string& prefix) {
        if (!eat('{')) return false;
        if (eat('}')) return true;
        do {
            std::string key;
            if (!string(key) || !eat(':') || !value(prefix + key)) return false;
        } while (eat(','));
        return eat('}');
    }

    std::string text_;
    std::size_t pos_ = 0;
    std::map<std::string, std::string> values_;
};

// ---------------------------------------------------------------------------------------------
// What the gateways' /metrics say, summed over the gateways asked.

struct counters {
    long long allowed = 0, rejected = 0, error = 0, failed_open = 0;
    bool ok = true;  // every gateway answered and had every sample

    long long decisions() const { return allowed + rejected + error; }
    counters& operator+=(const counters& o) {
        allowed += o.allowed;
        rejected += o.rejected;
        error += o.error;
        failed_open += o.failed_open;
        ok = ok && o.ok;
        return *this;
    }
};

counters read_counters(sluice_gateway& g) {
    counters c;
    auto get = [&](const std::string& sample) {
        long long v = g.metric(sample);
        if (v < 0) c.ok = false;
        return std::max(v, 0LL);
    };
    c.allowed = get("sluice_requests_total{decision=\"allowed\"}");
    c.rejected = get("sluice_requests_total{decision=\"rejected\"}");
    c.error = get("sluice_requests_total{decision=\"error\"}");
    c.failed_open = get("sluice_failed_open_total");
    return c;
}

// ---------------------------------------------------------------------------------------------
// The set-up every fault runs in, and what is observed around the fault.

struct observation {
    // The fault: from the first action to the moment its cause was gone (Redis running and
    // answering again, the gateway's banner printed again).
    steady::time_point fault_start, fault_end;
    // Both gateways ready again (start of a streak of `ready_streak`), or nothing.
    std::optional<long long> recovered_ms;
    counters before;         // just before the fault
    counters at_ready;       // when both were ready again
    counters ready_later;    // `ready_streak` after that
    double rate_before = 0;  // decisions per second over the second before the fault
    counters at_end;         // after the run (plus what a replaced gateway counted)
    json_fields load;        // sluice-load's report
    bool parsed = false;     // ... and whether it was one
    int load_exit = -1;
    std::string load_out;
    bool both_running = false;
    std::string note;  // what the fault itself reported (killed clients, exit status, ...)

    long long fault_ms() const { return ms_between(fault_start, fault_end); }
};

class campaign {
  public:
    campaign() {
        for (auto& g : gw_) {
            g = std::make_unique<sluice_gateway>(redis.url(),
                                                 gateway_options{.flags = gateway_flags});
        }
        for (auto& g : gw_)
            EXPECT_TRUE(g->wait_ready()) << "a gateway was not ready before the load started";
    }

    redis_server redis;

    sluice_gateway& gateway(int i) { return *gw_[i]; }

    counters sum() {
        counters c;
        for (auto& g : gw_)
            c += read_counters(*g);
        return c;
    }

    // Stops gateway `i` with SIGTERM and starts a new one on the same public port. Returns the
    // old one's exit status; its last counters are kept for the totals.
    int restart_gateway(int i) {
        retired_ += read_counters(*gw_[i]);
        unsigned short port = gw_[i]->port;
        int code = gw_[i]->proc.stop(SIGTERM, 7s);
        gw_[i] = std::make_unique<sluice_gateway>(
            redis.url(), gateway_options{.flags = gateway_flags, .port = port});
        return code;
    }

    // Runs the load, calls `inject` about 1.5 s into it (it returns when the fault's cause is
    // gone), and observes.
    observation run(const std::function<void(observation&)>& inject) {
        observation o;
        std::vector<std::string> args;
        for (auto& g : gw_)
            args.push_back("http://127.0.0.1:" + std::to_string(g->port) + "/");
        auto flag = [&](const std::string& name, const std::string& value) {
            args.push_back(name);
            args.push_back(value);
        };
        flag("-c", std::to_string(connections));
        flag("-d", std::to_string(load_duration.count()) + "s");
        flag("--rate", std::to_string(offered_rate));
        flag("--keys", "20");
        flag("--key-header", "X-Api-Key");
        flag("--verify-limit", "5/1s");
        args.push_back("--json");
        auto load_start = steady::now();
        process load(binary("sluice-load"), args);

        std::this_thread::sleep_until(load_start + fault_at - 1s);
        counters early = sum();
        auto early_at = steady::now();
        std::this_thread::sleep_until(load_start + fault_at);
        o.before = sum();
        o.rate_before = static_cast<double>(o.before.decisions() - early.decisions()) /
                        std::chrono::duration<double>(steady::now() - early_at).count();

        o.fault_start = steady::now();
        inject(o);
        o.fault_end = steady::now();

        // Both ready, and staying so for `ready_streak`; polled every 20 ms.
        bool in_streak = false;
        steady::time_point streak{};
        while (steady::now() < o.fault_end + recovery_limit + ready_streak) {
            bool ready = gw_[0]->readyz() == 200 && gw_[1]->readyz() == 200;
            auto now = steady::now();
            if (!ready) {
                in_streak = false;
            } else if (!in_streak) {
                in_streak = true;
                streak = now;
                o.at_ready = sum();
            } else if (now - streak >= ready_streak) {
                o.ready_later = sum();
                o.recovered_ms = std::max(0LL, ms_between(o.fault_end, streak));
                break;
            }
            std::this_thread::sleep_for(20ms);
        }

        for (bool more = true; more;) {
            bool ok = false;
            std::string line = load.read_line(load_duration + 10s, &ok);
            if (ok) o.load_out += line + "\n";
            more = ok;
        }
        o.load_exit = load.wait(5s);
        o.parsed = o.load.parse(o.load_out);
        o.at_end = sum();
        o.at_end += retired_;
        o.both_running = gw_[0]->proc.running() && gw_[1]->proc.running();
        return o;
    }

  private:
    std::array<std::unique_ptr<sluice_gateway>, 2> gw_;
    counters retired_;
};

long long lost(const observation& o) {
    return o.load.num("failures.timeout") + o.load.num("failures.closed") +
           o.load.num("failures.protocol");
}

// Prints one line of figures with the test's output, and appends it to
// build/fault-figures.txt, which ./scripts/test shows after the run: ctest hides the output of
// tests that pass, and the figures are the point of the campaign.
void report(const char* format, ...) __attribute__((format(printf, 1, 2)));
void report(const char* format, ...) {
    char line[1024];
    va_list args;
    va_start(args, format);
    std::vsnprintf(line, sizeof line, format, args);
    va_end(args);
    std::fputs(line, stdout);
    std::fflush(stdout);
    if (std::FILE* f = std::fopen(SLUICE_BINARY_DIR "/fault-figures.txt", "a")) {
        std::fputs(line, f);
        std::fclose(f);
    }
}

void print(const std::string& fault, const observation& o) {
    std::string recovered =
        o.recovered_ms ? std::to_string(*o.recovered_ms) + " ms" : std::string("NEVER");
    report(
        "fault %s: lasted %lld ms, recovered in %s, fail-open %lld (sluice-load) / %lld "
        "(metrics), after recovery %lld, violations %lld, errors %lld (connect %lld, timeout "
        "%lld, closed %lld, protocol %lld), %lld requests, %.0f/s decided before the fault%s%s\n",
        fault.c_str(), o.fault_ms(), recovered.c_str(), o.load.num("uncounted_200"),
        o.at_end.failed_open, o.ready_later.failed_open - o.at_ready.failed_open,
        o.load.num("verify.violations"), o.load.num("errors"), o.load.num("failures.connect"),
        o.load.num("failures.timeout"), o.load.num("failures.closed"),
        o.load.num("failures.protocol"), o.load.num("requests"), o.rate_before,
        o.note.empty() ? "" : ", ", o.note.c_str());
}

// What every fault must keep, whatever it is.
void expect_survived(const observation& o) {
    EXPECT_TRUE(o.both_running) << "a gateway is gone";
    EXPECT_EQ(o.load_exit, 0) << "sluice-load: " << o.load_out;
    EXPECT_EQ(o.load.num("verify.violations"), 0)
        << "the limit broke: worst key " << o.load.str("verify.worst_key") << " with "
        << o.load.str("verify.worst_count") << " in " << o.load.str("verify.worst_span_ms")
        << " ms";
    EXPECT_GT(o.load.num("verify.counted"), 0) << "nothing was counted: the check checked nothing";
    EXPECT_TRUE(o.recovered_ms.has_value()) << "/readyz not back within 5 s of the fault's end";
    if (o.recovered_ms) {
        EXPECT_LE(*o.recovered_ms, std::chrono::milliseconds(recovery_limit).count());
    }
    EXPECT_TRUE(o.before.ok && o.at_ready.ok && o.ready_later.ok && o.at_end.ok)
        << "a gateway's /metrics did not answer";
    // Before the fault everything was healthy: what failed open, the fault did.
    EXPECT_EQ(o.before.failed_open, 0);
    // Once both are ready again, every decision is Redis's.
    EXPECT_EQ(o.ready_later.failed_open, o.at_ready.failed_open)
        << "requests failed open after /readyz said ready";
    EXPECT_EQ(o.ready_later.error, o.at_ready.error);
    // The client saw each fail-open answer the gateways counted (a gap means answers lost).
    EXPECT_EQ(o.load.num("uncounted_200"), o.at_end.failed_open);
}

// Fail-opens while Redis is down, stopped or slow are the contract's price for staying up; they
// may last from the fault to the recovery (the checks above make sure they stop there), so at
// most the offered rate times that span, plus half a second for the polling's own lag.
void expect_fail_open_within_window(const observation& o) {
    double window_s = static_cast<double>(o.fault_ms() + o.recovered_ms.value_or(0) + 500) / 1000.0;
    auto bound = static_cast<long long>(offered_rate * window_s);
    EXPECT_LE(o.at_end.failed_open, bound)
        << "more fail-opens than " << window_s << " s of the offered load";
}

// A Redis that holds its connections and answers nothing costs only the decisions that wait out
// --redis-timeout (100 ms): at most one per load connection per timeout, plus the ones in flight
// as it stops and resumes. No decision may fail at once, because the link is never known to be
// down: the health check drops a silent link only after its interval plus its timeout (2 s), and
// a new link to a stopped server is being set up, which requests wait for.
void expect_fail_open_only_by_waiting(const observation& o) {
    auto bound = connections * (o.fault_ms() / 100 + 2);
    EXPECT_LE(o.at_end.failed_open, bound)
        << "more fail-opens than " << connections << " connections waiting out 100 ms each";
}

// Faults that leave every gateway up: every request got its one answer.
void expect_no_request_unanswered(const observation& o) {
    EXPECT_EQ(o.load.num("errors"), 0);
    EXPECT_EQ(o.load.num("failures.connect"), 0);
    EXPECT_EQ(lost(o), 0) << "requests written without exactly one answer";
}

// 1. Redis dies (SIGKILL) and comes back empty on the same port a second later. Down for at
// least the window, so the empty restart cannot count a key's budget twice: every entry it
// forgot was out of the window anyway.
TEST(Fault, RedisKilledAndRestarted) {
    campaign c;
    auto o = c.run([&](observation&) {
        c.redis.stop();
        std::this_thread::sleep_for(1s);
        c.redis.start();
    });
    ASSERT_TRUE(o.parsed) << "sluice-load exited " << o.load_exit << ", printed: " << o.load_out;
    print("SIGKILL redis", o);
    expect_survived(o);
    expect_no_request_unanswered(o);
    expect_fail_open_within_window(o);
}

// 2. Redis stops answering for 2 s (SIGSTOP) without closing anything, then resumes.
TEST(Fault, RedisStoppedAndResumed) {
    campaign c;
    auto o = c.run([&](observation&) {
        c.redis.suspend();
        std::this_thread::sleep_for(2s);
        c.redis.resume();
    });
    ASSERT_TRUE(o.parsed) << "sluice-load exited " << o.load_exit << ", printed: " << o.load_out;
    print("SIGSTOP redis 2 s", o);
    expect_survived(o);
    expect_no_request_unanswered(o);
    expect_fail_open_within_window(o);
    expect_fail_open_only_by_waiting(o);
}

// 3. Redis drops every client connection (CLIENT KILL TYPE normal), then serves at once. Only
// the decisions on the wire at that instant are lost with the connection, at most one per load
// connection; a request that comes while the gateway reconnects waits for the new connection.
TEST(Fault, RedisKillsItsClients) {
    campaign c;
    auto o = c.run([&](observation& o) {
        o.note = "killed " + c.redis.cli({"CLIENT", "KILL", "TYPE", "normal"}) + " connections";
    });
    ASSERT_TRUE(o.parsed) << "sluice-load exited " << o.load_exit << ", printed: " << o.load_out;
    print("CLIENT KILL", o);
    expect_survived(o);
    expect_no_request_unanswered(o);
    EXPECT_LE(o.at_end.failed_open, connections);
    EXPECT_LE(o.load.num("uncounted_200"), connections);
}

// 4. The script cache is emptied (SCRIPT FLUSH): NOSCRIPT is answered by loading the script
// again within the same decision, so nothing fails open.
TEST(Fault, RedisFlushesItsScripts) {
    campaign c;
    auto o = c.run([&](observation& o) { o.note = c.redis.cli({"SCRIPT", "FLUSH"}); });
    ASSERT_TRUE(o.parsed) << "sluice-load exited " << o.load_exit << ", printed: " << o.load_out;
    print("SCRIPT FLUSH", o);
    expect_survived(o);
    expect_no_request_unanswered(o);
    EXPECT_EQ(o.at_end.failed_open, 0);
    EXPECT_EQ(o.load.num("uncounted_200"), 0);
}

// 5. Redis is busy for 0.5 s (DEBUG SLEEP), five times the default --redis-timeout of 100 ms:
// the decisions that wait longer than that fail open, and only those.
TEST(Fault, RedisSlowerThanTheTimeout) {
    campaign c;
    auto o = c.run([&](observation&) { c.redis.cli({"DEBUG", "SLEEP", "0.5"}); });
    ASSERT_TRUE(o.parsed) << "sluice-load exited " << o.load_exit << ", printed: " << o.load_out;
    print("DEBUG SLEEP 0.5", o);
    expect_survived(o);
    expect_no_request_unanswered(o);
    expect_fail_open_within_window(o);
    expect_fail_open_only_by_waiting(o);
}

// 6. One gateway is restarted under load: SIGTERM, exit 0, a new process on the same port.
// While it is away its connections cannot connect; sluice-load counts each such attempt as a
// `connect` failure, a request that was never sent, and tries again 10 ms later, so these are
// not lost requests and are only reported. A request written and not answered is lost, with
// one exception the fault makes legitimate: a shard accepts its whole listen backlog before it
// closes its listener, but a connection the kernel completes in the instant between the two is
// reset unread, at most once per load connection and listener closing (`closed`; the request
// was never read, let alone decided; seen once in five runs). Timeouts and
// protocol errors stay 0. The new process is started with load already at its port, so its
// first requests arrive while its Redis connections are being set up: they must wait, not fail
// open.
TEST(Fault, GatewayRestartedUnderLoad) {
    campaign c;
    long long old_exit = 0;
    auto o = c.run([&](observation& o) {
        old_exit = c.restart_gateway(1);
        o.note = "old process exited " + std::to_string(old_exit);
    });
    ASSERT_TRUE(o.parsed) << "sluice-load exited " << o.load_exit << ", printed: " << o.load_out;
    print("restart sluice", o);
    EXPECT_EQ(old_exit, 0) << "SIGTERM must end in exit 0";
    // The new process was reached: sluice-load reconnected.
    EXPECT_GT(read_counters(c.gateway(1)).decisions(), 0);
    EXPECT_TRUE(o.both_running);
    EXPECT_EQ(o.load_exit, 0) << "sluice-load: " << o.load_out;
    EXPECT_EQ(o.load.num("verify.violations"), 0);
    EXPECT_TRUE(o.recovered_ms.has_value());
    EXPECT_EQ(o.load.num("failures.timeout"), 0);
    EXPECT_EQ(o.load.num("failures.protocol"), 0);
    EXPECT_LE(o.load.num("failures.closed"), connections);
    // A healthy Redis throughout: nothing fails open, not even in the new process's first
    // milliseconds. (The old process's last counters are read just before its SIGTERM.)
    EXPECT_EQ(o.load.num("uncounted_200"), 0);
    EXPECT_EQ(o.at_end.failed_open, 0);
    EXPECT_EQ(o.at_end.error, 0);
}

// 7. A gateway started into load: clients are already connecting to its port (every
// millisecond, each with a key of its own, one request per millisecond once connected) when it
// starts, so its first requests arrive in the gateway's first milliseconds, before any shard's
// Redis connection can be up. Against a healthy local Redis each of them must wait for it and be
// counted.
TEST(Fault, GatewayStartedIntoLoad) {
    redis_server redis;
    const unsigned short port = free_port();
    constexpr int clients = 8;
    constexpr auto fire_for = 1500ms;

    struct client_log {
        long long counted = 0, uncounted = 0, rejected = 0, other = 0, unanswered = 0;
        // For each counted 200: when its request left and when its answer came.
        std::vector<std::pair<steady::time_point, steady::time_point>> allowed;
        std::optional<steady::time_point> first_answer;
    };
    std::array<client_log, clients> logs;
    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    for (int i = 0; i < clients; ++i) {
        threads.emplace_back([&, i] {
            auto& log = logs[i];
            const std::string request =
                "GET / HTTP/1.1\r\nHost: t\r\nX-Api-Key: start" + std::to_string(i) + "\r\n\r\n";
            while (!stop) {
                http_client c{port, 2s};
                if (!c.connected()) {
                    std::this_thread::sleep_for(1ms);
                    continue;
                }
                while (!stop) {
                    auto sent = steady::now();
                    if (!c.send(request)) {
                        ++log.unanswered;
                        break;
                    }
                    auto r = c.read_response();
                    auto got = steady::now();
                    if (!r) {
                        ++log.unanswered;
                        break;
                    }
                    if (!log.first_answer) log.first_answer = got;
                    if (r->status == 200 && !r->header("x-ratelimit-remaining").empty()) {
                        ++log.counted;
                        log.allowed.emplace_back(sent, got);
                    } else if (r->status == 200) {
                        ++log.uncounted;
                    } else if (r->status == 429) {
                        ++log.rejected;
                    } else {
                        ++log.other;
                    }
                    // Paced after the answer, as the campaign's load is, to leave CPU to spare.
                    std::this_thread::sleep_for(1ms);
                }
            }
        });
    }
    std::this_thread::sleep_for(50ms);  // every client is knocking at the closed port
    auto started = steady::now();
    sluice_gateway gw{redis.url(), {.flags = gateway_flags, .port = port}};
    auto banner = steady::now();
    std::optional<long long> ready_ms;
    while (steady::now() < banner + fire_for) {
        if (!ready_ms && gw.readyz() == 200) ready_ms = ms_between(banner, steady::now());
        std::this_thread::sleep_for(20ms);
    }
    stop = true;
    for (auto& t : threads)
        t.join();
    counters m = read_counters(gw);

    client_log total;
    long long violations = 0;
    std::optional<steady::time_point> first;
    for (auto& log : logs) {
        total.counted += log.counted;
        total.uncounted += log.uncounted;
        total.rejected += log.rejected;
        total.other += log.other;
        total.unanswered += log.unanswered;
        if (log.first_answer && (!first || *log.first_answer < *first)) first = log.first_answer;
        // Six counted answers whose decisions may all lie within one window: the sixth
        // answer came less than a window after the first request left.
        for (std::size_t k = 5; k < log.allowed.size(); ++k) {
            if (log.allowed[k].second - log.allowed[k - 5].first < 1s) ++violations;
        }
    }
    std::string ready =
        ready_ms ? std::to_string(*ready_ms) + " ms after the banner" : std::string("NEVER");
    report(
        "fault start under load: banner %lld ms after exec, first answer %lld ms after the "
        "banner, ready %s, fail-open %lld (clients) / %lld (metrics), violations %lld, "
        "errors %lld (unanswered), %lld counted, %lld rejected\n",
        ms_between(started, banner), first ? ms_between(banner, *first) : -1LL, ready.c_str(),
        total.uncounted, m.failed_open, violations, total.unanswered, total.counted,
        total.rejected);

    EXPECT_TRUE(gw.proc.running());
    EXPECT_TRUE(m.ok);
    EXPECT_TRUE(ready_ms.has_value());
    EXPECT_GT(total.counted, 0);
    EXPECT_EQ(violations, 0);
    // Nobody closes a connection here: every request written is answered.
    EXPECT_EQ(total.unanswered, 0);
    EXPECT_EQ(total.other, 0);
    EXPECT_EQ(total.uncounted, 0) << "requests in the first milliseconds failed open";
    EXPECT_EQ(m.failed_open, 0);
    EXPECT_EQ(m.error, 0);
    EXPECT_EQ(m.decisions(), total.counted + total.uncounted + total.rejected);
}

}  // namespace
}  // namespace sluice::test
