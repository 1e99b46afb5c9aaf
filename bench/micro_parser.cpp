// Parser and serializer throughput, the RESP hot path: every limiter decision is one serialized
// EVALSHA and one parsed reply.

#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "resp/parser.hpp"
#include "resp/script.hpp"
#include "resp/serializer.hpp"

namespace {

using sluice::resp::node;
using sluice::resp::parser;
using sluice::resp::request;

struct corpus {
    std::string bytes;
    std::size_t replies = 0;
};

void add(corpus& c, const std::string& reply, int times) {
    for (int i = 0; i < times; ++i)
        c.bytes += reply;
    c.replies += static_cast<std::size_t>(times);
}

std::string bulk(std::size_t n) {
    return "$" + std::to_string(n) + "\r\n" + std::string(n, 'x') + "\r\n";
}

// A mix weighted like a gateway's traffic: mostly limiter replies and short statuses.
corpus mixed() {
    corpus c;
    add(c, "*4\r\n:1\r\n:4\r\n:9999\r\n:0\r\n", 40);  // a limiter decision
    add(c, "+OK\r\n", 10);
    add(c, "+PONG\r\n", 5);
    add(c, ":1700000000123\r\n", 10);
    add(c, bulk(16), 10);
    add(c, bulk(128), 5);
    add(c, bulk(1024), 2);
    add(c, bulk(16 * 1024), 1);
    add(c, "$-1\r\n", 5);
    add(c, "%2\r\n$6\r\nserver\r\n$5\r\nredis\r\n$5\r\nproto\r\n:3\r\n", 5);
    add(c, "*2\r\n$40\r\n0123456789abcdef0123456789abcdef01234567\r\n*3\r\n:1\r\n:2\r\n:3\r\n", 5);
    return c;
}

void run(benchmark::State& state, const corpus& c) {
    parser p;
    std::size_t nodes = 0;
    auto on_node = [&](const node& n) { nodes += n.value.size() + 1; };
    for (auto _ : state) {
        std::string_view rest = c.bytes;
        while (!rest.empty()) {
            const auto r = p.parse(rest, on_node);
            if (r.st != parser::status::done) {
                state.SkipWithError("corpus did not parse");
                return;
            }
            rest.remove_prefix(r.consumed);
        }
        benchmark::DoNotOptimize(nodes);
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * c.replies));
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * c.bytes.size()));
}

void parser_mixed(benchmark::State& state) {
    static const corpus c = mixed();
    run(state, c);
}
BENCHMARK(parser_mixed);

void parser_limiter_reply(benchmark::State& state) {
    static const corpus c = [] {
        corpus k;
        add(k, "*4\r\n:1\r\n:4\r\n:9999\r\n:0\r\n", 1000);
        return k;
    }();
    run(state, c);
}
BENCHMARK(parser_limiter_reply);

void parser_simple_string(benchmark::State& state) {
    static const corpus c = [] {
        corpus k;
        add(k, "+OK\r\n", 1000);
        return k;
    }();
    run(state, c);
}
BENCHMARK(parser_simple_string);

void parser_bulk(benchmark::State& state) {
    const corpus c = [&] {
        corpus k;
        add(k, bulk(static_cast<std::size_t>(state.range(0))), 100);
        return k;
    }();
    run(state, c);
}
BENCHMARK(parser_bulk)->Arg(16)->Arg(1024)->Arg(64 * 1024);

// A reply that arrives in 64-byte reads: the cost of resuming.
void parser_resume_64(benchmark::State& state) {
    static const corpus c = mixed();
    parser p;
    std::size_t nodes = 0;
    auto on_node = [&](const node&) { ++nodes; };
    for (auto _ : state) {
        std::size_t start = 0, received = 0;
        while (start < c.bytes.size()) {
            received = std::min(c.bytes.size(), received + 64);
            for (;;) {
                const auto r =
                    p.parse(std::string_view{c.bytes}.substr(start, received - start), on_node);
                if (r.st != parser::status::done) break;
                start += r.consumed;
            }
        }
        benchmark::DoNotOptimize(nodes);
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * c.replies));
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * c.bytes.size()));
}
BENCHMARK(parser_resume_64);

// The limiter's command, built as the limiter builds it: EVALSHA <sha> 1 <key> <limit>
// <window_ms>.
void serializer_evalsha(benchmark::State& state) {
    request req;
    const sluice::resp::script limiter{"return {1, 4, 10000, 0}"};
    const std::string key = "sluice:{ip:203.0.113.42}:log";
    for (auto _ : state) {
        req.clear();
        limiter.push(req, {key}, 5, 10000);
        benchmark::DoNotOptimize(req.payload().data());
    }
    state.SetItemsProcessed(state.iterations());
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * req.payload().size()));
}
BENCHMARK(serializer_evalsha);

}  // namespace
