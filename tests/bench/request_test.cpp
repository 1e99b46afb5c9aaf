#include "bench/load/request.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace sluice::load {
namespace {

TEST(Request, Plain) {
    request_writer w(parse_url("http://127.0.0.1:8080/a?b=1"), "");
    EXPECT_EQ(w.plain(),
              "GET /a?b=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: sluice-load\r\n"
              "Accept: */*\r\n\r\n");
}

TEST(Request, WithKey) {
    request_writer w(parse_url("http://[::1]:80/"), "X-Api-Key");
    const std::string head =
        "GET / HTTP/1.1\r\nHost: [::1]:80\r\nUser-Agent: sluice-load\r\nAccept: */*\r\n";
    EXPECT_EQ(w.with_key(0), head + "X-Api-Key: k0\r\n\r\n");
    EXPECT_EQ(w.with_key(42), head + "X-Api-Key: k42\r\n\r\n");
    // A shorter key after a longer one leaves nothing of the old digits behind.
    EXPECT_EQ(w.with_key(~std::uint64_t{0}), head + "X-Api-Key: k18446744073709551615\r\n\r\n");
    EXPECT_EQ(w.with_key(7), head + "X-Api-Key: k7\r\n\r\n");
    EXPECT_EQ(w.plain(), head + "\r\n");
}

TEST(Request, WithKeyReusesItsBuffer) {
    request_writer w(parse_url("http://h:1/"), "K");
    const char* first = w.with_key(~std::uint64_t{0}).data();
    for (std::uint64_t k = 0; k < 1000; ++k)
        ASSERT_EQ(w.with_key(k * 7919).data(), first);
}

TEST(KeyPicker, StaysInRangeAndCoversIt) {
    key_picker keys(99, 10);
    std::vector<int> seen(10, 0);
    for (int i = 0; i < 10'000; ++i) {
        std::uint64_t k = keys.next();
        ASSERT_LT(k, 10u);
        ++seen[k];
    }
    // Uniform: each of the ten keys near 1000 draws (far outside 5 sigma would be a bug).
    for (int n : seen) {
        EXPECT_GT(n, 850);
        EXPECT_LT(n, 1150);
    }
}

TEST(KeyPicker, HotKeysTakeTheirShareAfterTheOthers) {
    key_picker keys(7, 1000, 4, 0.25);
    std::vector<int> hot(4, 0);
    int cold = 0;
    for (int i = 0; i < 40'000; ++i) {
        std::uint64_t k = keys.next();
        ASSERT_LT(k, 1004u);
        if (k >= 1000) {
            ++hot[k - 1000];
        } else {
            ++cold;
        }
    }
    // A quarter of 40,000 draws goes to the four hot keys, 2,500 each; 5 sigma is about 240.
    EXPECT_GT(cold, 29'500);
    EXPECT_LT(cold, 30'500);
    for (int n : hot) {
        EXPECT_GT(n, 2'260);
        EXPECT_LT(n, 2'740);
    }
}

TEST(KeyPicker, HotShareOneIsOnlyHotKeys) {
    key_picker keys(3, 10, 2, 1.0);
    for (int i = 0; i < 1000; ++i) {
        std::uint64_t k = keys.next();
        ASSERT_TRUE(k == 10 || k == 11) << k;
    }
}

TEST(KeyPicker, OneKeyIsAlwaysZero) {
    key_picker keys(5, 1);
    for (int i = 0; i < 100; ++i)
        ASSERT_EQ(keys.next(), 0u);
}

TEST(KeyPicker, SeedsGiveDifferentSequences) {
    key_picker a(1, 1'000'000), b(2, 1'000'000);
    std::set<std::uint64_t> from_a;
    for (int i = 0; i < 100; ++i)
        from_a.insert(a.next());
    int shared = 0;
    for (int i = 0; i < 100; ++i)
        shared += static_cast<int>(from_a.count(b.next()));
    EXPECT_LT(shared, 5);
}

TEST(KeySequence, CountsThroughTheKeysAndWraps) {
    key_sequence keys(3);
    std::vector<std::uint64_t> got;
    for (int i = 0; i < 7; ++i)
        got.push_back(keys.next());
    EXPECT_EQ(got, (std::vector<std::uint64_t>{0, 1, 2, 0, 1, 2, 0}));
}

// What --key-seq promises: `-n K --keys K` over several threads sends every key exactly once.
TEST(KeySequence, EveryKeyOnceAcrossThreads) {
    constexpr std::uint64_t keys = 100'000;
    constexpr int threads = 4;
    key_sequence seq(keys);
    std::vector<std::vector<std::uint64_t>> drawn(threads);
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&seq, &mine = drawn[t]] {
            for (std::uint64_t i = 0; i < keys / threads; ++i)
                mine.push_back(seq.next());
        });
    }
    for (auto& t : pool)
        t.join();
    std::vector<int> seen(keys, 0);
    for (const auto& mine : drawn) {
        for (std::uint64_t k : mine) {
            ASSERT_LT(k, keys);
            ++seen[k];
        }
    }
    EXPECT_EQ(std::count(seen.begin(), seen.end(), 1), static_cast<std::ptrdiff_t>(keys));
}

}  // namespace
}  // namespace sluice::load
