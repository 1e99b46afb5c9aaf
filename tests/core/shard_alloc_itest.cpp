// The hot path promises no allocation per request once warm: HTTP parsing, client identity, the
// limiter's EVALSHA through the pipelined connection, the response. This binary counts every
// operator new made on a shard's thread (tests/support/allocations.hpp) while real clients load
// it against a real redis-server.

#include <gtest/gtest.h>

#include <atomic>
#include <barrier>
#include <cstdlib>
#include <memory>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "core/rules_file.hpp"
#include "core/shard.hpp"
#include "decide_lua.hpp"
#include "give_back_lua.hpp"
#include "resp/script.hpp"
#include "tests/support/allocations.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/redis_server.hpp"
#include "tests/support/scripted_upstream.hpp"

namespace sluice::core {
namespace {

using namespace std::chrono_literals;

// Loads a shard configured by `cfg` and checks the warm part of the load for allocations.
// `body` follows each request's head: its framing fields and its bytes.
void expect_warm_shard_does_not_allocate(const test::redis_server& redis, config cfg,
                                         const std::string& method = "GET",
                                         const std::string& body = "\r\n",
                                         const rule_set* rules = nullptr) {
    cfg.redis.host = "127.0.0.1";
    cfg.redis.port = redis.port();
    cfg.key = *key_source::parse("header:X-Api-Key");
    cfg.limit = 3;
    const resp::script decide{std::string(decide_lua)};
    const resp::script give_back{std::string(give_back_lua)};
    const limiter_scripts scripts{decide, give_back};
    shard s{cfg, scripts, 0, rules};
    auto at = s.listen(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    std::thread loop([&] {
        test::watch_this_thread();
        s.run();
    });
    for (int i = 0; i < 500 && !s.redis_connected(); ++i)
        std::this_thread::sleep_for(10ms);
    ASSERT_TRUE(s.redis_connected());

    // 4 client threads x 8 connections, each round a request on every connection at once, so
    // decisions overlap in the shard's pipeline; keys vary, so both answers (200, 429) occur.
    constexpr int threads = 4, per_thread = 8, warm_rounds = 100, rounds = 200;
    std::atomic<int> failures{0}, ok{0}, limited{0};
    // Connections stay open from the warm-up into the measured part: a new connection allocates
    // (its coroutine, its buffers), a new request must not.
    std::barrier sync{threads + 1};
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t) {
        ts.emplace_back([&, t] {
            std::vector<std::unique_ptr<test::http_client>> cs;
            for (int c = 0; c < per_thread; ++c) {
                cs.push_back(std::make_unique<test::http_client>(at.port()));
            }
            auto round = [&](int r) {
                for (int c = 0; c < per_thread; ++c) {
                    int key = (r * 31 + t * 7 + c) % 50;
                    cs[c]->send(method + " / HTTP/1.1\r\nHost: t\r\nX-Api-Key: k" +
                                std::to_string(key) + "\r\n" + body);
                }
                for (auto& c : cs) {
                    auto resp = c->read_response();
                    if (!resp)
                        ++failures;
                    else if (resp->status == 200)
                        ++ok;
                    else if (resp->status == 429)
                        ++limited;
                    else
                        ++failures;
                }
            };
            for (int r = 0; r < warm_rounds; ++r)
                round(r);
            sync.arrive_and_wait();  // warm: buffers, pools and recycled frames at peak size
            sync.arrive_and_wait();  // the count has been read
            for (int r = 0; r < rounds; ++r)
                round(warm_rounds + r);
        });
    }
    sync.arrive_and_wait();
    const std::size_t before = test::watched_allocations();
    sync.arrive_and_wait();
    for (auto& t : ts)
        t.join();
    const std::size_t after = test::watched_allocations();

    s.shutdown(1000ms);
    loop.join();
    if (rules != nullptr) {
        // The rules decided: every request was counted by the header key's rule.
        ASSERT_EQ(s.metrics().rules.count.load(), rules->size());
        EXPECT_EQ(
            s.metrics().rules.rows[0].allowed.get() + s.metrics().rules.rows[0].rejected.get(),
            static_cast<std::uint64_t>(ok.load() + limited.load()));
    }
    EXPECT_EQ(failures.load(), 0);
    EXPECT_GT(ok.load(), 0);
    EXPECT_GT(limited.load(), 0);
    // Coroutine frames come from Asio's per-thread recycler (ASIO_RECYCLING_ALLOCATOR_CACHE_SIZE,
    // see CMakeLists.txt). It keeps blocks of mixed sizes, so now and then a frame finds no block
    // large enough and falls through to operator new: a handful per ten thousand requests.
    // Before the recycler was sized for a busy shard, every request made about eight.
    const std::size_t requests = threads * per_thread * rounds;
    EXPECT_LE(after - before, requests / 200)
        << (after - before) << " allocations on the shard thread over " << requests
        << " warm requests";
}

TEST(ShardHotPath, WarmShardDecidesWithoutAllocating) {
    test::redis_server redis;
    expect_warm_shard_does_not_allocate(redis, config{});
}

// With --config: rules of two client identities (two checks of one batch per request), a
// shadow rule, and a give-back whenever the header key's rule rejects what the ip rules allowed.
TEST(ShardHotPath, WarmShardDecidesARulesFileWithoutAllocating) {
    test::redis_server redis;
    const rule_set rules = parse_rules(R"(rules:
  - {name: per-key, key: "header:X-Api-Key", limit: 3, window: 10s}
  - {name: per-ip, algorithm: fixed-window, limit: 1000000000, window: 1m}
  - {name: trial, limit: 1, window: 1m, shadow: true}
)",
                                       "alloc.yaml");
    expect_warm_shard_does_not_allocate(redis, config{}, "GET", "\r\n", &rules);
}

// Rules of one client identity: the rules version's blocked-client cache answers the rejected.
TEST(ShardHotPath, WarmShardAnswersBlockedRulesFromTheCacheWithoutAllocating) {
    test::redis_server redis;
    const rule_set rules = parse_rules(R"(rules:
  - {name: per-key, key: "header:X-Api-Key", limit: 3, window: 10s}
  - {name: trial, key: "header:X-Api-Key", limit: 1, window: 1m, shadow: true}
)",
                                       "alloc.yaml");
    expect_warm_shard_does_not_allocate(redis, config{}, "GET", "\r\n", &rules);
}

// --batch-max 1 and no blocked-client cache: every check a script call of its own.
TEST(ShardHotPath, WarmShardWithoutBatchesOrCacheDoesNotAllocate) {
    test::redis_server redis;
    config cfg;
    cfg.batch_max = 1;
    cfg.blocked_cache_size = 0;
    expect_warm_shard_does_not_allocate(redis, cfg);
}

// With --upstream: the pooled upstream connections, the forwarded head and the relayed answer.
TEST(ShardHotPath, WarmShardForwardsWithoutAllocating) {
    test::redis_server redis;
    test::scripted_upstream up;
    config cfg;
    cfg.upstream = upstream_url{"127.0.0.1", up.port(), "/api"};
    expect_warm_shard_does_not_allocate(redis, cfg);
    EXPECT_GT(up.request_count(), 0u);
}

// Request bodies streamed to the upstream as they arrive: read piece by piece, re-framed.
TEST(ShardHotPath, WarmShardStreamsRequestBodiesWithoutAllocating) {
    test::redis_server redis;
    test::scripted_upstream up;
    config cfg;
    cfg.upstream = upstream_url{"127.0.0.1", up.port(), ""};
    cfg.key_prefix = "length:";
    expect_warm_shard_does_not_allocate(redis, cfg, "POST",
                                        "Content-Length: 11\r\n\r\nhello world");
    // Each run counts under its own prefix: both must see 200s and 429s.
    cfg.key_prefix = "chunked:";
    expect_warm_shard_does_not_allocate(
        redis, cfg, "PUT",
        "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
    EXPECT_GT(up.request_count(), 0u);
}

}  // namespace
}  // namespace sluice::core
