// The sliding-log limiter against a real redis-server: the guarantees of CONTRACT.md.

#include <gtest/gtest.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "core/batcher.hpp"
#include "core/limiter.hpp"
#include "core/metrics.hpp"
#include "decide_lua.hpp"
#include "resp/connection.hpp"
#include "resp/error.hpp"
#include "resp/script.hpp"
#include "tests/support/redis_server.hpp"

namespace sluice::core {
namespace {

using namespace std::chrono_literals;

asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
    asio::steady_timer t{co_await asio::this_coro::executor};
    t.expires_after(d);
    co_await t.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
}

// How the fixture's shard-like stack is set up: the batch bound, the blocked-client cache and the
// Redis timeout of the gateway's flags.
struct stack_options {
    std::size_t batch_max = 64;
    std::size_t batch_in_flight = 1;
    std::size_t cache_size = 4096;
    std::chrono::milliseconds timeout = 2000ms;
};

// A connection to a private redis-server, a batcher and a limiter with `policy` over it, as a
// shard has them, and a way to run a test body on the event loop.
struct fixture {
    explicit fixture(limit_policy policy, stack_options o = {})
        : conn{ctx.get_executor(), config()},
          batch{conn, nullptr, script, o.batch_max, o.batch_in_flight, o.timeout, metrics},
          cache{o.cache_size},
          limiter{batch, std::move(policy), cache, metrics} {
        conn.preload(script);
    }

    resp::connection_config config() {
        resp::connection_config cfg;
        cfg.port = srv.port();
        cfg.reconnect_min = 10ms;
        return cfg;
    }

    template <class Body>
    void run(Body body) {
        bool finished = false;
        conn.start();
        asio::co_spawn(
            ctx,
            [&]() -> asio::awaitable<void> {
                for (int i = 0; i < 500 && !conn.connected(); ++i)
                    co_await sleep_for(5ms);
                co_await body();
                finished = true;
                conn.stop();
            },
            asio::detached);
        auto deadline = std::chrono::steady_clock::now() + 60s;
        while (!(finished && conn.stopped()) && std::chrono::steady_clock::now() < deadline) {
            ctx.run_for(50ms);
        }
        ASSERT_TRUE(finished);
    }

    asio::awaitable<decision> check(std::string_view client, std::error_code* ec_out = nullptr) {
        limiter_scratch scratch;
        decision d;
        auto ec = co_await limiter.check(client, scratch, d);
        if (ec_out)
            *ec_out = ec;
        else
            EXPECT_FALSE(ec) << ec.message();
        co_return d;
    }

    // `n` checks of `client` started in one turn of the loop; returns once all are decided.
    asio::awaitable<void> burst(std::string_view client, int n, int& allowed, int& rejected) {
        int done = 0;
        for (int i = 0; i < n; ++i) {
            asio::co_spawn(
                ctx,
                [&, client]() -> asio::awaitable<void> {
                    auto d = co_await check(client);
                    (d.allowed ? allowed : rejected)++;
                    ++done;
                },
                asio::detached);
        }
        while (done < n)
            co_await sleep_for(1ms);
    }

    // EVALSHA calls the server has run (INFO commandstats).
    long long evalsha_calls() const { return test::evalsha_calls(srv.port()); }

    std::uint64_t batches() const {
        std::uint64_t n = 0;
        for (const auto& b : metrics.batch_sizes)
            n += b.get();
        return n;
    }

    test::redis_server srv;
    asio::io_context ctx;
    resp::script script{std::string(decide_lua)};
    resp::connection conn;
    shard_metrics metrics;
    batcher batch;
    blocked_cache cache;
    sliding_log_limiter limiter;
};

limit_policy policy(int limit, std::chrono::milliseconds window) {
    limit_policy p;
    p.limit = limit;
    p.window = window;
    p.key_prefix = "test:";
    return p;
}

TEST(SlidingLog, KeyHasTheClientInAHashTag) {
    std::string key;
    sliding_log_limiter::make_key(key, "sluice:", "ip:192.0.2.1");
    EXPECT_EQ(key, "sluice:{ip:192.0.2.1}:log");
}

TEST(SlidingLog, FiveAllowedThenRejectedWithHeadersValues) {
    fixture f{policy(5, 10'000ms)};
    f.run([&]() -> asio::awaitable<void> {
        for (int i = 0; i < 5; ++i) {
            auto d = co_await f.check("ip:10.0.0.1");
            EXPECT_TRUE(d.allowed) << i;
            EXPECT_EQ(d.remaining, 4 - i);
            EXPECT_GT(d.reset_ms, 9'000);
            EXPECT_LE(d.reset_ms, 10'000);
            EXPECT_EQ(d.retry_after_ms, 0);
        }
        auto d = co_await f.check("ip:10.0.0.1");
        EXPECT_FALSE(d.allowed);
        EXPECT_EQ(d.remaining, 0);
        EXPECT_GT(d.retry_after_ms, 9'000);
        EXPECT_LE(d.retry_after_ms, 10'000);
        // Another client has its own budget.
        EXPECT_TRUE((co_await f.check("ip:10.0.0.2")).allowed);
        // Rejected requests are not recorded; the log holds exactly the allowed ones.
        EXPECT_EQ(f.srv.cli({"ZCARD", "test:{ip:10.0.0.1}:log"}), "5");
        // Every key has a TTL no longer than window + 5 s.
        auto ttl = std::stoll(f.srv.cli({"PTTL", "test:{ip:10.0.0.1}:log"}));
        EXPECT_GT(ttl, 0);
        EXPECT_LE(ttl, 15'000);
    });
}

// 60 decisions for one key issued at once (one pipeline, many in the same millisecond): exactly
// `limit` allowed. The textbook "timestamp as member" script would let more through.
TEST(SlidingLog, ConcurrentRequestsInTheSameMillisecondAreAllCounted) {
    fixture f{policy(5, 10'000ms)};
    int allowed = 0, rejected = 0;
    f.run([&]() -> asio::awaitable<void> {
        co_await f.burst("ip:198.51.100.7", 60, allowed, rejected);
    });
    EXPECT_EQ(allowed, 5);
    EXPECT_EQ(rejected, 55);
    EXPECT_EQ(f.srv.cli({"ZCARD", "test:{ip:198.51.100.7}:log"}), "5");
}

// The checks of one loop turn are one script call: 60 checks, one batch, one EVALSHA, and inside
// it the same key 60 times, each seeing the ones before.
TEST(Batching, OneTurnsChecksAreOneScriptCall) {
    fixture f{policy(5, 10'000ms)};
    int allowed = 0, rejected = 0;
    long long before = 0;
    f.run([&]() -> asio::awaitable<void> {
        before = f.evalsha_calls();
        co_await f.burst("same", 60, allowed, rejected);
    });
    EXPECT_EQ(allowed, 5);
    EXPECT_EQ(rejected, 55);
    EXPECT_EQ(f.evalsha_calls() - before, 1);
    EXPECT_EQ(f.batches(), 1u);
    EXPECT_EQ(f.metrics.batch_checks.get(), 60u);
}

// --batch-max bounds a batch: 60 checks at most 16 per call are 4 calls, in flight together.
TEST(Batching, FullBatchesAreSealedAndSentSideBySide) {
    fixture f{policy(100, 10'000ms), {.batch_max = 16}};
    int allowed = 0, rejected = 0;
    f.run([&]() -> asio::awaitable<void> { co_await f.burst("many", 60, allowed, rejected); });
    EXPECT_EQ(allowed, 60);
    EXPECT_EQ(f.batches(), 4u);
    EXPECT_EQ(f.metrics.batch_sizes[4].get(), 4u);  // 16, 16, 16 and 12: le=16
    EXPECT_EQ(f.metrics.batch_sizes[3].get(), 0u);
    EXPECT_EQ(f.srv.cli({"ZCARD", "test:{many}:log"}), "60");
}

// --batch-max 1: every check is a call of its own, the unbatched baseline.
TEST(Batching, BatchMaxOneIsOneCallPerCheck) {
    fixture f{policy(5, 10'000ms), {.batch_max = 1, .cache_size = 0}};
    int allowed = 0, rejected = 0;
    long long before = 0;
    f.run([&]() -> asio::awaitable<void> {
        before = f.evalsha_calls();
        co_await f.burst("single", 20, allowed, rejected);
    });
    EXPECT_EQ(allowed, 5);
    EXPECT_EQ(rejected, 15);
    EXPECT_EQ(f.evalsha_calls() - before, 20);
    EXPECT_EQ(f.batches(), 20u);
}

// Checks made while a batch is on the wire wait for it and go out together, in one batch, however
// many turns they came in: with --batch-in-flight 1 the batch grows with Redis's round trip.
void checks_during_a_slow_batch(std::size_t in_flight, std::uint64_t expected_batches) {
    fixture f{policy(100, 10'000ms), {.batch_in_flight = in_flight}};
    std::uint64_t batches = 0;
    f.run([&]() -> asio::awaitable<void> {
        EXPECT_TRUE((co_await f.check("warm")).allowed);
        const std::uint64_t before = f.batches();
        std::thread([&] { f.srv.cli({"DEBUG", "SLEEP", "0.3"}); }).detach();
        co_await sleep_for(30ms);
        int allowed = 0, rejected = 0, done = 0;
        for (int i = 0; i < 11; ++i) {
            asio::co_spawn(
                f.ctx,
                [&]() -> asio::awaitable<void> {
                    if ((co_await f.check("slow")).allowed) ++allowed;
                    ++done;
                },
                asio::detached);
            co_await sleep_for(10ms);  // each check in a turn of its own
        }
        while (done < 11)
            co_await sleep_for(5ms);
        EXPECT_EQ(allowed, 11);
        EXPECT_EQ(rejected, 0);
        batches = f.batches() - before;
    });
    EXPECT_EQ(batches, expected_batches);
    EXPECT_EQ(f.srv.cli({"ZCARD", "test:{slow}:log"}), "11");
}

TEST(Batching, ChecksMadeWhileABatchIsOutGoTogether) {
    checks_during_a_slow_batch(1, 2);  // the first check's batch, then the other ten in one
}

TEST(Batching, UnboundedInFlightSendsEveryTurnsBatch) {
    checks_during_a_slow_batch(0, 11);
}

// Only a batch that can still grow waits for room: full ones go at once, so the unbatched
// baseline (--batch-max 1) keeps every check on the wire, pipelined.
TEST(Batching, FullBatchesDoNotWaitForRoom) {
    fixture f{policy(100, 10'000ms), {.batch_max = 4, .batch_in_flight = 1}};
    std::uint64_t out_during_the_stall = 0;
    f.run([&]() -> asio::awaitable<void> {
        EXPECT_TRUE((co_await f.check("warm")).allowed);
        std::thread([&] { f.srv.cli({"DEBUG", "SLEEP", "0.3"}); }).detach();
        co_await sleep_for(30ms);
        int allowed = 0, rejected = 0;
        asio::co_spawn(
            f.ctx, [&]() -> asio::awaitable<void> { co_await f.check("first"); }, asio::detached);
        co_await sleep_for(10ms);
        bool done = false;
        asio::co_spawn(
            f.ctx,
            [&]() -> asio::awaitable<void> {
                co_await f.burst("full", 8, allowed, rejected);
                done = true;
            },
            asio::detached);
        co_await sleep_for(50ms);
        out_during_the_stall = f.metrics.batches_in_flight.load();
        while (!done)
            co_await sleep_for(5ms);
        EXPECT_EQ(allowed, 8);
    });
    EXPECT_EQ(out_during_the_stall, 3u);  // "first", then two full batches of four
}

// A batch waiting behind one Redis does not answer keeps its own deadline, counted from its first
// check: it fails when that passes, not a whole --redis-timeout after the batch before it failed.
TEST(Batching, AWaitingBatchKeepsItsDeadline) {
    fixture f{policy(100, 10'000ms), {.timeout = 200ms}};
    std::chrono::steady_clock::duration waited{};
    std::error_code first_ec, second_ec;
    f.run([&]() -> asio::awaitable<void> {
        EXPECT_TRUE((co_await f.check("warm")).allowed);
        std::thread([&] { f.srv.cli({"DEBUG", "SLEEP", "0.6"}); }).detach();
        co_await sleep_for(30ms);
        bool first_done = false;
        asio::co_spawn(
            f.ctx,
            [&]() -> asio::awaitable<void> {
                co_await f.check("stuck", &first_ec);
                first_done = true;
            },
            asio::detached);
        co_await sleep_for(100ms);
        const auto start = std::chrono::steady_clock::now();
        co_await f.check("behind", &second_ec);
        waited = std::chrono::steady_clock::now() - start;
        while (!first_done)
            co_await sleep_for(5ms);
        co_await sleep_for(600ms);  // Redis is back
        EXPECT_TRUE((co_await f.check("after")).allowed);
    });
    EXPECT_EQ(first_ec, resp::errc::timeout);
    EXPECT_EQ(second_ec, resp::errc::timeout);
    EXPECT_GE(waited, 150ms);
    EXPECT_LT(waited, 260ms)
        << "waited " << std::chrono::duration_cast<std::chrono::milliseconds>(waited).count()
        << " ms";
}

// A NOSCRIPT on a batch (the script cache flushed): the script is loaded and the whole batch sent
// again; a refused EVALSHA ran nothing, so nothing is counted twice.
TEST(Batching, NoscriptReloadsAndRetriesTheWholeBatch) {
    fixture f{policy(5, 10'000ms)};
    int allowed = 0, rejected = 0;
    f.run([&]() -> asio::awaitable<void> {
        f.srv.cli({"SCRIPT", "FLUSH"});
        co_await f.burst("flushed", 30, allowed, rejected);
    });
    EXPECT_EQ(allowed, 5);
    EXPECT_EQ(rejected, 25);
    EXPECT_EQ(f.batches(), 1u);
    EXPECT_EQ(f.conn.stats().noscript_retries.get(), 1u);
    EXPECT_EQ(f.srv.cli({"ZCARD", "test:{flushed}:log"}), "5");
}

// A rejected client is answered from the cache until Redis's retry time, counting down, with no
// Redis call; then Redis decides again.
TEST(BlockedCache, AnswersUntilTheRetryTimeWithoutRedis) {
    fixture f{policy(2, 600ms)};
    f.run([&]() -> asio::awaitable<void> {
        EXPECT_TRUE((co_await f.check("blocked")).allowed);
        EXPECT_TRUE((co_await f.check("blocked")).allowed);
        auto first = co_await f.check("blocked");
        EXPECT_FALSE(first.allowed);
        EXPECT_FALSE(first.cached);
        const long long calls = f.evalsha_calls();
        co_await sleep_for(100ms);
        auto cached = co_await f.check("blocked");
        EXPECT_FALSE(cached.allowed);
        EXPECT_TRUE(cached.cached);
        EXPECT_EQ(cached.remaining, 0);
        // Counting down: 100 ms less than Redis said, give or take the clock.
        EXPECT_LE(cached.retry_after_ms, first.retry_after_ms - 90);
        EXPECT_GE(cached.retry_after_ms, first.retry_after_ms - 130);
        EXPECT_LE(cached.reset_ms, first.reset_ms - 90);
        for (int i = 0; i < 50; ++i)
            EXPECT_TRUE((co_await f.check("blocked")).cached);
        EXPECT_EQ(f.evalsha_calls(), calls);
        EXPECT_EQ(f.metrics.blocked_hits.get(), 51u);
        EXPECT_EQ(f.metrics.blocked_inserts.get(), 1u);
        // Past the retry time the oldest entry has left: Redis allows.
        co_await sleep_for(std::chrono::milliseconds(cached.retry_after_ms + 20));
        auto again = co_await f.check("blocked");
        EXPECT_TRUE(again.allowed);
        EXPECT_FALSE(again.cached);
        EXPECT_EQ(f.evalsha_calls(), calls + 1);
    });
}

// With the cache off every request asks Redis.
TEST(BlockedCache, SizeZeroAsksRedisEveryTime) {
    fixture f{policy(1, 10'000ms), {.cache_size = 0}};
    f.run([&]() -> asio::awaitable<void> {
        EXPECT_TRUE((co_await f.check("nocache")).allowed);
        const long long calls = f.evalsha_calls();
        for (int i = 0; i < 10; ++i)
            EXPECT_FALSE((co_await f.check("nocache")).cached);
        EXPECT_EQ(f.evalsha_calls(), calls + 10);
        EXPECT_EQ(f.metrics.blocked_hits.get(), 0u);
    });
}

// The window slides: a request is allowed again exactly when the oldest leaves, not at a fixed
// boundary, and retry_after says when.
TEST(SlidingLog, AllowedAgainWhenTheOldestLeavesTheWindow) {
    fixture f{policy(2, 400ms)};
    f.run([&]() -> asio::awaitable<void> {
        EXPECT_TRUE((co_await f.check("c")).allowed);
        co_await sleep_for(200ms);
        EXPECT_TRUE((co_await f.check("c")).allowed);
        auto rejected = co_await f.check("c");
        EXPECT_FALSE(rejected.allowed);
        // The first request is ~200 ms old: it leaves in ~200 ms.
        EXPECT_GT(rejected.retry_after_ms, 100);
        EXPECT_LE(rejected.retry_after_ms, 210);
        co_await sleep_for(std::chrono::milliseconds(rejected.retry_after_ms + 20));
        auto again = co_await f.check("c");
        EXPECT_TRUE(again.allowed);
        EXPECT_EQ(again.remaining, 0);
        // The second request is still in the window: the next one is rejected.
        EXPECT_FALSE((co_await f.check("c")).allowed);
    });
}

// Idle clients leave nothing behind.
TEST(SlidingLog, IdleKeysExpire) {
    fixture f{policy(3, 200ms)};
    f.run([&]() -> asio::awaitable<void> {
        EXPECT_TRUE((co_await f.check("idle")).allowed);
        EXPECT_EQ(f.srv.cli({"EXISTS", "test:{idle}:log"}), "1");
        co_await sleep_for(350ms);
        EXPECT_EQ(f.srv.cli({"EXISTS", "test:{idle}:log"}), "0");
    });
}

TEST(SlidingLog, ScriptFlushMidRunChangesNothing) {
    fixture f{policy(3, 10'000ms)};
    f.run([&]() -> asio::awaitable<void> {
        EXPECT_TRUE((co_await f.check("k")).allowed);
        f.srv.cli({"SCRIPT", "FLUSH"});
        EXPECT_TRUE((co_await f.check("k")).allowed);
        EXPECT_TRUE((co_await f.check("k")).allowed);
        f.srv.cli({"SCRIPT", "FLUSH"});
        EXPECT_FALSE((co_await f.check("k")).allowed);
        EXPECT_GE(f.conn.stats().noscript_retries.get(), 2u);
    });
}

// A log that holds more entries than the limit (the limit was lowered while it was live): the
// retry time is when enough entries have left, not when the oldest has.
TEST(SlidingLog, LoweredLimitWaitsForEnoughEntriesToLeave) {
    fixture f{policy(2, 10'000ms)};
    f.run([&]() -> asio::awaitable<void> {
        auto now_us = [&] {
            auto t = f.srv.cli({"TIME"});
            auto nl = t.find('\n');
            return std::stoll(t.substr(0, nl)) * 1'000'000 + std::stoll(t.substr(nl + 1));
        };
        long long now = now_us();
        // Four entries aged 9 s, 8 s, 7 s and 1 s: with limit 2 a request fits once only one is
        // left, so three must leave: the third oldest (7 s) leaves in ~3 s.
        for (auto [age_ms, m] : {std::pair{9000, "a"}, {8000, "b"}, {7000, "c"}, {1000, "d"}}) {
            f.srv.cli({"ZADD", "test:{low}:log", std::to_string(now - age_ms * 1000LL), m});
        }
        auto d = co_await f.check("low");
        EXPECT_FALSE(d.allowed);
        EXPECT_GT(d.retry_after_ms, 2'600);
        EXPECT_LE(d.retry_after_ms, 3'000);
        EXPECT_GT(d.reset_ms, 800);
        EXPECT_LE(d.reset_ms, 1'100);
    });
}

TEST(SlidingLog, RedisDownIsAnErrorNotADecision) {
    fixture f{policy(5, 10'000ms)};
    f.run([&]() -> asio::awaitable<void> {
        EXPECT_TRUE((co_await f.check("x")).allowed);
        f.srv.stop();
        for (int i = 0; i < 200 && f.conn.connected(); ++i)
            co_await sleep_for(5ms);
        std::error_code ec;
        co_await f.check("x", &ec);
        EXPECT_EQ(ec, resp::errc::not_connected);
    });
}

TEST(SlidingLog, SlowRedisIsATimeout) {
    fixture f{policy(5, 10'000ms), {.timeout = 100ms}};
    f.run([&]() -> asio::awaitable<void> {
        EXPECT_TRUE((co_await f.check("x")).allowed);
        std::thread([&] { f.srv.cli({"DEBUG", "SLEEP", "0.4"}); }).detach();
        co_await sleep_for(50ms);
        std::error_code ec;
        co_await f.check("x", &ec);
        EXPECT_EQ(ec, resp::errc::timeout);
        co_await sleep_for(450ms);
        EXPECT_TRUE((co_await f.check("x")).allowed);
    });
}

}  // namespace
}  // namespace sluice::core
