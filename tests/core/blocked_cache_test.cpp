// The blocked-client cache (core/blocked_cache.hpp): exact keys, bounded memory, entries that end
// when Redis said, and the conservative reading of Redis's rounded waits.

#include "core/blocked_cache.hpp"

#include <gtest/gtest.h>

#include <string>

#include "tests/support/allocations.hpp"

namespace sluice::core {
namespace {

using namespace std::chrono_literals;
using clock = blocked_cache::clock;

blocked_cache::entry until(clock::time_point t) {
    return {t, t + 1ms, t + 5ms};
}

TEST(BlockedCache, FindsOnlyTheKeyItWasToldAndOnlyUntilItsTime) {
    blocked_cache c{64};
    const auto t0 = clock::now();
    c.insert("sluice:{ip:10.0.0.1}:log", until(t0 + 100ms), t0);
    ASSERT_NE(c.find("sluice:{ip:10.0.0.1}:log", t0), nullptr);
    EXPECT_EQ(c.find("sluice:{ip:10.0.0.1}:log", t0 + 99ms)->until, t0 + 100ms);
    EXPECT_EQ(c.find("sluice:{ip:10.0.0.2}:log", t0), nullptr);
    EXPECT_EQ(c.find("sluice:{ip:10.0.0.1}:lo", t0), nullptr);
    // At `until` Redis may allow: the entry is gone.
    EXPECT_EQ(c.find("sluice:{ip:10.0.0.1}:log", t0 + 100ms), nullptr);
    EXPECT_EQ(c.size(), 0u);
}

TEST(BlockedCache, ANewRejectionReplacesTheOldEntry) {
    blocked_cache c{64};
    const auto t0 = clock::now();
    c.insert("k", until(t0 + 10ms), t0);
    c.insert("k", until(t0 + 50ms), t0);
    EXPECT_EQ(c.size(), 1u);
    EXPECT_EQ(c.find("k", t0 + 20ms)->until, t0 + 50ms);
}

// Memory is fixed: more blocked clients than entries evict the one that would unblock first, and
// say so; expired entries make room without an eviction.
TEST(BlockedCache, BoundedEvictingTheSoonestToUnblock) {
    blocked_cache c{4};  // one bucket of 4 ways
    ASSERT_EQ(c.capacity(), 4u);
    const auto t0 = clock::now();
    for (int i = 0; i < 4; ++i)
        EXPECT_FALSE(c.insert("k" + std::to_string(i), until(t0 + 100ms + i * 1ms), t0));
    EXPECT_TRUE(c.insert("k4", until(t0 + 200ms), t0));
    EXPECT_EQ(c.size(), 4u);
    EXPECT_EQ(c.find("k0", t0), nullptr);
    EXPECT_NE(c.find("k4", t0), nullptr);
    EXPECT_NE(c.find("k1", t0), nullptr);
    // At t0 + 150ms the first ones have expired: no live entry is dropped.
    EXPECT_FALSE(c.insert("k5", until(t0 + 300ms), t0 + 150ms));
}

TEST(BlockedCache, SizeZeroIsOffAndLongKeysAreNotKept) {
    blocked_cache off{0};
    const auto t0 = clock::now();
    EXPECT_FALSE(off.enabled());
    off.insert("k", until(t0 + 1s), t0);
    EXPECT_EQ(off.find("k", t0), nullptr);

    blocked_cache c{16};
    EXPECT_GE(c.capacity(), 16u);
    const std::string long_key(blocked_cache::max_key + 1, 'x');
    c.insert(long_key, until(t0 + 1s), t0);
    EXPECT_EQ(c.find(long_key, t0), nullptr);
    const std::string longest(blocked_cache::max_key, 'y');
    c.insert(longest, until(t0 + 1s), t0);
    EXPECT_NE(c.find(longest, t0), nullptr);
}

TEST(BlockedCache, LookupsDoNotAllocate) {
    blocked_cache c{4096};
    const auto t0 = clock::now();
    std::string key = "sluice:{header:k1234}:log";
    const auto before = test::thread_allocations();
    for (int i = 0; i < 1000; ++i) {
        key[15] = static_cast<char>('0' + i % 10);
        c.insert(key, until(t0 + 1s), t0);
        EXPECT_NE(c.find(key, t0), nullptr);
    }
    EXPECT_EQ(test::thread_allocations(), before);
}

// Redis rounds its waits up to the millisecond and read its clock after the batch was sent: the
// entry ends a millisecond before sent + wait, so the cache never rejects what Redis would allow.
TEST(BlockedEntry, EndsNoLaterThanRedisCouldAllow) {
    const auto sent = clock::now();
    blocked_cache::entry e;
    ASSERT_TRUE(blocked_entry_of(sent, 9'988, 9'990, e));
    EXPECT_EQ(e.until, sent + 9'987ms);
    EXPECT_EQ(e.retry_at, sent + 9'988ms);
    EXPECT_EQ(e.reset_at, sent + 9'990ms);
    EXPECT_FALSE(blocked_entry_of(sent, 1, 1, e));
    EXPECT_FALSE(blocked_entry_of(sent, 0, 0, e));
}

TEST(BlockedEntry, WhatTheAnswersShowCountsDownRoundedUp) {
    const auto now = clock::now();
    EXPECT_EQ(remaining_ms(now + 1500us, now), 2);
    EXPECT_EQ(remaining_ms(now + 2ms, now), 2);
    EXPECT_EQ(remaining_ms(now, now), 0);
    EXPECT_EQ(remaining_ms(now - 1ms, now), 0);
}

}  // namespace
}  // namespace sluice::core
