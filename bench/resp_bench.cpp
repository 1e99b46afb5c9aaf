// resp-bench: end-to-end client throughput against a real redis-server, Sluice's resp::connection
// side by side with hiredis, the C client behind redis-benchmark and most language bindings.
//
//   resp-bench --redis redis://127.0.0.1:6379 [--rounds 3] [--scale 1.0] [--poll-us N]
//
// For each command (PING, SET, EVALSHA of a small script) and pipeline depth (1, 16, 256), both
// clients do the same work on one connection with at most `depth` commands in flight:
//   - Sluice: `depth` coroutines, each awaiting conn.exec() in a loop: the gateway's own pattern,
//     where independent requests meet in the connection's write buffer;
//   - hiredis: redisAppendCommand `depth` times, then redisGetReply `depth` times.
// The two alternate for --rounds rounds, so both see the same machine noise; the best round of
// each is reported, with ratio = Sluice / hiredis, and the CPU time each client's thread spent per
// operation in that round.
//
// Sluice runs with its defaults, so it polls for a due reply for up to 50 us before it sleeps
// (connection_config::poll_budget), while hiredis blocks in read(); --poll-us 0 measures Sluice
// sleeping at once, as hiredis does.

#include <hiredis/hiredis.h>

#include <algorithm>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <string_view>
#include <vector>

#include "resp/connection.hpp"
#include "resp/error.hpp"
#include "resp/script.hpp"
#include "resp/url.hpp"

namespace {

using namespace sluice;
using clock_type = std::chrono::steady_clock;

constexpr std::string_view script_source = "return tonumber(ARGV[1]) + 1";
constexpr std::string_view key = "resp-bench:key";
constexpr std::string_view value = "0123456789abcdef0123456789abcdef";

enum class command { ping, set, evalsha };
constexpr const char* names[] = {"PING", "SET", "EVALSHA"};

struct options {
    resp::redis_url url{"127.0.0.1", 6379, {}, {}, 0};
    int rounds = 3;
    double scale = 1.0;
    std::string only;   // "PING:1": one command and depth (for profiling)
    long poll_us = -1;  // the connection's poll budget; -1: its default
};

[[noreturn]] void usage_error(const std::string& msg) {
    std::fprintf(stderr, "resp-bench: %s\n", msg.c_str());
    std::exit(2);
}

options parse(int argc, char** argv) {
    options o;
    for (int i = 1; i < argc; ++i) {
        std::string_view a = argv[i];
        auto value_of = [&]() -> std::string_view {
            if (i + 1 >= argc) usage_error(std::string(a) + ": missing value");
            return argv[++i];
        };
        if (a == "--help" || a == "-h") {
            std::printf(
                "usage: resp-bench [--redis URL] [--rounds N] [--scale X] [--poll-us N]\n"
                "  --redis URL   server to measure against (default redis://127.0.0.1:6379)\n"
                "  --rounds N    alternating rounds per client; the best is reported (default 3)\n"
                "  --scale X     multiply the operation counts (default 1.0)\n"
                "  --only C:D    run one command at one depth, e.g. PING:1 (for profiling)\n"
                "  --poll-us N   Sluice's poll budget in microseconds; 0 sleeps at once (default:\n"
                "                the client's own, connection_config::poll_budget)\n");
            std::exit(0);
        } else if (a == "--redis") {
            auto text = value_of();
            if (auto ec = resp::parse_redis_url(text, o.url)) {
                usage_error("--redis: " + ec.message() + ", got \"" + std::string(text) + "\"");
            }
        } else if (a == "--rounds") {
            o.rounds = std::atoi(std::string(value_of()).c_str());
            if (o.rounds <= 0) usage_error("--rounds: expected a positive integer");
        } else if (a == "--scale") {
            o.scale = std::atof(std::string(value_of()).c_str());
            if (!(o.scale > 0)) usage_error("--scale: expected a positive number");
        } else if (a == "--only") {
            o.only = value_of();
        } else if (a == "--poll-us") {
            const std::string v{value_of()};
            char* end = nullptr;
            o.poll_us = std::strtol(v.c_str(), &end, 10);
            if (v.empty() || *end != '\0' || o.poll_us < 0 || o.poll_us > 10'000'000) {
                usage_error("--poll-us: expected an integer from 0 to 10000000, got \"" + v + "\"");
            }
        } else {
            usage_error("unknown flag " + std::string(a));
        }
    }
    return o;
}

// What one timed run gives: throughput, and this thread's CPU time per operation (user and
// system; polling spends CPU where a sleeping client spends none).
struct result {
    double ops_per_s = 0;
    double cpu_us_per_op = 0;
};

double thread_cpu_seconds() {
    timespec ts{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

result finish(long ops, clock_type::time_point t0, double cpu0) {
    const double secs = std::chrono::duration<double>(clock_type::now() - t0).count();
    const double cpu = thread_cpu_seconds() - cpu0;
    return {static_cast<double>(ops) / secs, cpu * 1e6 / static_cast<double>(ops)};
}

// ---------------------------------------------------------------------------------------------
// Sluice

struct sluice_run {
    asio::io_context& ctx;
    resp::connection& conn;
    const resp::script& scr;
    command cmd;
    long remaining;
    long errors = 0;
    int active = 0;

    asio::awaitable<void> worker() {
        resp::request req;
        switch (cmd) {
            case command::ping:
                req.push("PING");
                break;
            case command::set:
                req.push("SET", key, value);
                break;
            case command::evalsha:
                scr.push(req, {key}, 41);
                break;
        }
        bool error_reply = false;
        auto check = [&](const resp::node& n) {
            if (n.depth == 0 && resp::is_error(n.data_type)) error_reply = true;
        };
        while (remaining > 0) {
            --remaining;
            error_reply = false;
            std::error_code ec = cmd == command::evalsha
                                     ? co_await conn.exec(scr, req, check, std::chrono::seconds(10))
                                     : co_await conn.exec(req, check, std::chrono::seconds(10));
            if (ec || error_reply) ++errors;
        }
        if (--active == 0) ctx.stop();
    }
};

result run_sluice(asio::io_context& ctx, resp::connection& conn, const resp::script& scr,
                  command cmd, int depth, long ops) {
    sluice_run run{ctx, conn, scr, cmd, ops};
    run.active = depth;
    const double cpu0 = thread_cpu_seconds();
    auto t0 = clock_type::now();
    for (int i = 0; i < depth; ++i)
        asio::co_spawn(ctx, run.worker(), asio::detached);
    // Run the loop the way a shard does, run() rather than run_one() per handler; the last
    // worker stops it, since the connection's own coroutines would keep it running.
    ctx.restart();
    ctx.run();
    auto r = finish(ops, t0, cpu0);
    if (run.errors) std::fprintf(stderr, "resp-bench: sluice: %ld errors\n", run.errors);
    return r;
}

// ---------------------------------------------------------------------------------------------
// hiredis

result run_hiredis(redisContext* c, const std::string& sha, command cmd, int depth, long ops) {
    long errors = 0;
    std::string k{key}, v{value};
    const double cpu0 = thread_cpu_seconds();
    auto t0 = clock_type::now();
    for (long done = 0; done < ops;) {
        int batch = static_cast<int>(std::min<long>(depth, ops - done));
        for (int i = 0; i < batch; ++i) {
            switch (cmd) {
                case command::ping:
                    redisAppendCommand(c, "PING");
                    break;
                case command::set:
                    redisAppendCommand(c, "SET %s %s", k.c_str(), v.c_str());
                    break;
                case command::evalsha:
                    redisAppendCommand(c, "EVALSHA %s 1 %s %d", sha.c_str(), k.c_str(), 41);
                    break;
            }
        }
        for (int i = 0; i < batch; ++i) {
            void* reply = nullptr;
            if (redisGetReply(c, &reply) != REDIS_OK || reply == nullptr) {
                std::fprintf(stderr, "resp-bench: hiredis: %s\n", c->errstr);
                std::exit(1);
            }
            if (static_cast<redisReply*>(reply)->type == REDIS_REPLY_ERROR) ++errors;
            freeReplyObject(reply);
        }
        done += batch;
    }
    auto r = finish(ops, t0, cpu0);
    if (errors) std::fprintf(stderr, "resp-bench: hiredis: %ld errors\n", errors);
    return r;
}

}  // namespace

int main(int argc, char** argv) {
    options opt = parse(argc, argv);

    redisContext* hc = redisConnect(opt.url.host.c_str(), opt.url.port);
    if (hc == nullptr || hc->err) {
        std::fprintf(stderr, "resp-bench: cannot connect to %s:%u: %s\n", opt.url.host.c_str(),
                     opt.url.port, hc ? hc->errstr : "out of memory");
        return 1;
    }
    auto hiredis_command = [&](const char* fmt, auto... args) {
        auto* r = static_cast<redisReply*>(redisCommand(hc, fmt, args...));
        if (r == nullptr || r->type == REDIS_REPLY_ERROR) {
            std::fprintf(stderr, "resp-bench: setup failed: %s\n", r ? r->str : hc->errstr);
            std::exit(1);
        }
        freeReplyObject(r);
    };
    if (!opt.url.password.empty()) {
        if (opt.url.user.empty())
            hiredis_command("AUTH %s", opt.url.password.c_str());
        else
            hiredis_command("AUTH %s %s", opt.url.user.c_str(), opt.url.password.c_str());
    }
    if (opt.url.db != 0) hiredis_command("SELECT %d", opt.url.db);
    resp::script scr{std::string(script_source)};
    hiredis_command("SCRIPT LOAD %s", scr.source().c_str());

    asio::io_context ctx{1};
    auto cfg = resp::connection_config::from_url(opt.url);
    // Both clients speak RESP2 here, so the replies on the wire are the same bytes.
    cfg.protocol = 2;
    cfg.health_interval = std::chrono::milliseconds(0);
    if (opt.poll_us >= 0) cfg.poll_budget = std::chrono::microseconds(opt.poll_us);
    resp::connection conn{ctx.get_executor(), cfg};
    conn.start();
    auto deadline = clock_type::now() + std::chrono::seconds(5);
    while (!conn.connected() && clock_type::now() < deadline) {
        ctx.run_for(std::chrono::milliseconds(5));
    }
    if (!conn.connected()) {
        std::fprintf(stderr, "resp-bench: sluice cannot connect: %s\n", conn.last_error().c_str());
        return 1;
    }

    std::printf("sluice poll budget %lld us\n", static_cast<long long>(cfg.poll_budget.count()));
    std::printf("%-8s %6s %14s %14s %7s\n", "command", "depth", "sluice ops/s", "hiredis ops/s",
                "ratio");
    for (command cmd : {command::ping, command::set, command::evalsha}) {
        for (int depth : {1, 16, 256}) {
            if (!opt.only.empty() && opt.only != std::string(names[static_cast<int>(cmd)]) + ":" +
                                                     std::to_string(depth)) {
                continue;
            }
            long ops = static_cast<long>((depth == 1    ? 40'000
                                          : depth == 16 ? 300'000
                                                        : 600'000) *
                                         opt.scale);
            // Warm both up: connections, the script cache, the allocators.
            run_sluice(ctx, conn, scr, cmd, depth, ops / 10 + 1);
            run_hiredis(hc, scr.sha(), cmd, depth, ops / 10 + 1);
            result best_sluice, best_hiredis;
            for (int r = 0; r < opt.rounds; ++r) {
                auto s = run_sluice(ctx, conn, scr, cmd, depth, ops);
                auto h = run_hiredis(hc, scr.sha(), cmd, depth, ops);
                if (s.ops_per_s > best_sluice.ops_per_s) best_sluice = s;
                if (h.ops_per_s > best_hiredis.ops_per_s) best_hiredis = h;
            }
            std::printf("%-8s %6d %14.0f %14.0f ratio=%.2f  cpu us/op: sluice %.2f, hiredis %.2f\n",
                        names[static_cast<int>(cmd)], depth, best_sluice.ops_per_s,
                        best_hiredis.ops_per_s, best_sluice.ops_per_s / best_hiredis.ops_per_s,
                        best_sluice.cpu_us_per_op, best_hiredis.cpu_us_per_op);
            std::fflush(stdout);
        }
    }
    conn.stop();
    ctx.restart();
    ctx.run_for(std::chrono::milliseconds(100));
    redisFree(hc);
    return 0;
}
