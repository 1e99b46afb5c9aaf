// resp-bench: end-to-end client throughput against a real redis-server, Sluice's resp::connection
// side by side with hiredis, the C client behind redis-benchmark and most language bindings.
//
//   resp-bench --redis redis://127.0.0.1:6379 [--rounds 3] [--scale 1.0]
//
// For each command (PING, SET, EVALSHA of a small script) and pipeline depth (1, 16, 256), both
// clients do the same work on one connection with at most `depth` commands in flight:
//   - Sluice: `depth` coroutines, each awaiting conn.exec() in a loop: the gateway's own pattern,
//     where independent requests meet in the connection's write buffer;
//   - hiredis: redisAppendCommand `depth` times, then redisGetReply `depth` times.
// The two alternate for --rounds rounds, so both see the same machine noise; the best round of
// each is reported, with ratio = Sluice / hiredis.

#include <hiredis/hiredis.h>

#include <algorithm>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
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
    std::string only;  // "PING:1": one command and depth (for profiling)
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
                "usage: resp-bench [--redis URL] [--rounds N] [--scale X]\n"
                "  --redis URL   server to measure against (default redis://127.0.0.1:6379)\n"
                "  --rounds N    alternating rounds per client; the best is reported (default 3)\n"
                "  --scale X     multiply the operation counts (default 1.0)\n"
                "  --only C:D    run one command at one depth, e.g. PING:1 (for profiling)\n");
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
        } else {
            usage_error("unknown flag " + std::string(a));
        }
    }
    return o;
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

double run_sluice(asio::io_context& ctx, resp::connection& conn, const resp::script& scr,
                  command cmd, int depth, long ops) {
    sluice_run run{ctx, conn, scr, cmd, ops};
    run.active = depth;
    auto t0 = clock_type::now();
    for (int i = 0; i < depth; ++i)
        asio::co_spawn(ctx, run.worker(), asio::detached);
    // Run the loop the way a shard does, run() rather than run_one() per handler; the last
    // worker stops it, since the connection's own coroutines would keep it running.
    ctx.restart();
    ctx.run();
    double secs = std::chrono::duration<double>(clock_type::now() - t0).count();
    if (run.errors) std::fprintf(stderr, "resp-bench: sluice: %ld errors\n", run.errors);
    return static_cast<double>(ops) / secs;
}

// ---------------------------------------------------------------------------------------------
// hiredis

double run_hiredis(redisContext* c, const std::string& sha, command cmd, int depth, long ops) {
    long errors = 0;
    std::string k{key}, v{value};
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
    double secs = std::chrono::duration<double>(clock_type::now() - t0).count();
    if (errors) std::fprintf(stderr, "resp-bench: hiredis: %ld errors\n", errors);
    return static_cast<double>(ops) / secs;
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
            double best_sluice = 0, best_hiredis = 0;
            for (int r = 0; r < opt.rounds; ++r) {
                best_sluice = std::max(best_sluice, run_sluice(ctx, conn, scr, cmd, depth, ops));
                best_hiredis = std::max(best_hiredis, run_hiredis(hc, scr.sha(), cmd, depth, ops));
            }
            std::printf("%-8s %6d %14.0f %14.0f ratio=%.2f\n", names[static_cast<int>(cmd)], depth,
                        best_sluice, best_hiredis, best_sluice / best_hiredis);
            std::fflush(stdout);
        }
    }
    conn.stop();
    ctx.restart();
    ctx.run_for(std::chrono::milliseconds(100));
    redisFree(hc);
    return 0;
}
