#include "bench/load/verify.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

namespace sluice::load {
namespace {

using namespace std::chrono_literals;

// Intervals are written in milliseconds since the start of the run.
counted_response at(std::uint64_t key, double sent_ms, double received_ms) {
    return {key, std::llround(sent_ms * 1e6), std::llround(received_ms * 1e6)};
}

limit_check five_per_10s(std::chrono::nanoseconds tolerance = 2ms) {
    return {5, 10s, tolerance};
}

verify_report run(std::vector<counted_response> log, limit_check c = five_per_10s()) {
    return verify(log, c, true, 0);
}

// A burst of `n` requests of `key` sent 1 ms apart from `start_ms`, each answered in 1 ms.
void burst(std::vector<counted_response>& log, std::uint64_t key, double start_ms, int n) {
    for (int i = 0; i < n; ++i)
        log.push_back(at(key, start_ms + i, start_ms + i + 1));
}

TEST(Verify, ExactlyTheLimitInEachWindowPasses) {
    std::vector<counted_response> log;
    burst(log, 0, 0, 5);
    // Any six of these span 10.002 s from the earliest send to the latest receive.
    burst(log, 0, 10'001, 5);
    verify_report r = run(log);
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r.violations, 0u);
    EXPECT_EQ(r.keys, 1u);
    EXPECT_EQ(r.counted, 10u);
    ASSERT_TRUE(r.worst_key.has_value());
    EXPECT_EQ(*r.worst_key, 0u);
    EXPECT_EQ(r.worst_count, 5u);
    EXPECT_EQ(r.worst_span, 5ms);  // sent at 0, the fifth answered at 5 ms
    EXPECT_EQ(violation(r), std::nullopt);
}

TEST(Verify, OneMoreCertainlyInsideFails) {
    std::vector<counted_response> log;
    for (int i = 0; i < 6; ++i)
        log.push_back(at(3, i * 1'000.0, i * 1'000.0 + 10));
    verify_report r = run(log);
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.violations, 1u);
    EXPECT_EQ(*r.worst_key, 3u);
    EXPECT_EQ(r.worst_count, 6u);
    EXPECT_EQ(r.worst_span, 5'010ms);
    EXPECT_EQ(violation(r),
              "key k3: 6 counted 200s within 5.010s (limit 5 per 10s); 1 of 1 key over the limit");
}

TEST(Verify, ASpreadTheServerCouldHaveKeptPasses) {
    // The sends lie within 9.004 s and the receives within 7.004 s, both under the window: a
    // check on either clock alone would call this a violation. But the first may have been
    // decided at 0 s and the others at 10.000 s or later, which keeps the limit.
    std::vector<counted_response> log;
    log.push_back(at(0, 0, 3'000));
    for (int i = 0; i < 5; ++i)
        log.push_back(at(0, 9'000.0 + i, 10'000.0 + i));
    verify_report r = run(log);
    EXPECT_TRUE(r.ok()) << to_text(r);
    EXPECT_EQ(r.worst_count, 5u);

    // Six that each took a whole window: the server may have decided one at the start and five
    // at the end.
    log.clear();
    for (int i = 0; i < 6; ++i)
        log.push_back(at(0, 0, 10'000));
    r = run(log);
    EXPECT_TRUE(r.ok()) << to_text(r);
    EXPECT_EQ(r.worst_count, 0u);
    EXPECT_FALSE(r.worst_key.has_value());
}

// Six quick requests whose last answer arrives at `last_ms`.
std::vector<counted_response> six_ending_at(double last_ms) {
    std::vector<counted_response> log;
    burst(log, 0, 0, 5);
    log.push_back(at(0, 5, last_ms));
    return log;
}

TEST(Verify, ToleranceBoundaries) {
    // window - tolerance = 9.998 s: a span of exactly that is not certainly shorter.
    EXPECT_TRUE(run(six_ending_at(9'998)).ok());
    EXPECT_FALSE(run(six_ending_at(9'998 - 1e-6)).ok());

    // Without tolerance the boundary is the window itself.
    EXPECT_TRUE(run(six_ending_at(10'000), five_per_10s(0ms)).ok());
    EXPECT_FALSE(run(six_ending_at(10'000 - 1e-6), five_per_10s(0ms)).ok());
    EXPECT_FALSE(run(six_ending_at(9'999), five_per_10s(0ms)).ok());

    // A larger tolerance forgives more.
    EXPECT_FALSE(run(six_ending_at(9'994)).ok());
    EXPECT_TRUE(run(six_ending_at(9'994), five_per_10s(6ms)).ok());
    EXPECT_FALSE(run(six_ending_at(9'994 - 1e-6), five_per_10s(6ms)).ok());
}

TEST(Verify, ManyKeysTheWorstIsReported) {
    std::vector<counted_response> log;
    for (std::uint64_t key = 0; key < 1'000; ++key) {
        burst(log, key, static_cast<double>(key), 5);
        burst(log, key, 20'000.0 + static_cast<double>(key), 5);
    }
    burst(log, 137, 40'000, 7);
    burst(log, 500, 40'000, 6);
    std::shuffle(log.begin(), log.end(), std::mt19937_64(1));
    verify_report r = run(log);
    EXPECT_EQ(r.keys, 1'000u);
    EXPECT_EQ(r.counted, 10'013u);
    EXPECT_EQ(r.violations, 2u);
    EXPECT_EQ(*r.worst_key, 137u);
    EXPECT_EQ(r.worst_count, 7u);
    EXPECT_EQ(r.worst_span, 7ms);

    // When all keep the limit, the one closest to it is named; a tie goes to the shorter span.
    log.clear();
    burst(log, 0, 0, 4);
    log.push_back(at(1, 0, 1));
    log.push_back(at(1, 2'000, 5'000));
    burst(log, 1, 6'000, 3);
    burst(log, 2, 100, 5);
    r = run(log);
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r.keys, 3u);
    EXPECT_EQ(*r.worst_key, 2u);
    EXPECT_EQ(r.worst_count, 5u);
    EXPECT_EQ(r.worst_span, 5ms);
}

TEST(Verify, UncountedAndRejectedAnswersAreIgnored) {
    answer_log answers(true);
    for (int i = 0; i < 5; ++i)
        answers.add(200, true, 7, i * 1'000'000, (i + 1) * 1'000'000);
    // In the same milliseconds: fail-open 200s and 429s, which also carry the header.
    for (int i = 0; i < 10; ++i) {
        answers.add(200, false, 7, i * 100'000, i * 100'000 + 50'000);
        answers.add(429, true, 7, i * 100'000, i * 100'000 + 50'000);
        answers.add(503, false, 7, i * 100'000, i * 100'000 + 50'000);
    }
    EXPECT_EQ(answers.counted().size(), 5u);
    EXPECT_EQ(answers.uncounted(), 10u);
    verify_report r = verify(answers.counted(), five_per_10s(), true, answers.uncounted());
    EXPECT_TRUE(r.ok()) << to_text(r);
    EXPECT_EQ(r.counted, 5u);
    EXPECT_EQ(r.uncounted, 10u);
    EXPECT_EQ(r.worst_count, 5u);

    // Without --verify-limit nothing is stored, but the uncounted 200s are still counted.
    answer_log plain;
    plain.add(200, true, 0, 0, 1);
    plain.add(200, false, 0, 0, 1);
    EXPECT_TRUE(plain.counted().empty());
    EXPECT_EQ(plain.uncounted(), 1u);
}

TEST(Verify, LogsOfSeveralThreadsMerge) {
    answer_log a(true), b(true), c(true);
    a.add(200, true, 1, 0, 1'000'000);
    b.add(200, true, 1, 2'000'000, 3'000'000);
    b.add(200, false, 1, 0, 1);
    c.add(200, false, 2, 0, 1);
    a.merge(b);
    a.merge(c);
    EXPECT_EQ(a.counted().size(), 2u);
    EXPECT_EQ(a.uncounted(), 2u);
    EXPECT_TRUE(b.counted().empty());
    EXPECT_EQ(b.uncounted(), 0u);
    answer_log empty(true);
    empty.merge(a);
    EXPECT_EQ(empty.counted().size(), 2u);
}

// The definitions, computed the slow way: for every earliest sender i, the requests sent no
// earlier whose answers came within `usable` of it.
key_result brute_force(std::vector<counted_response> v, std::int64_t usable) {
    key_result best;
    for (const auto& start : v) {
        std::uint64_t n = 0;
        for (const auto& c : v)
            n += c.sent >= start.sent && c.received < start.sent + usable;
        best.certain = std::max(best.certain, n);
    }
    if (best.certain == 0) return best;
    std::int64_t span = std::numeric_limits<std::int64_t>::max();
    for (const auto& start : v) {
        std::vector<std::int64_t> received;
        for (const auto& c : v) {
            if (c.sent >= start.sent) received.push_back(c.received);
        }
        if (received.size() < best.certain) continue;
        std::sort(received.begin(), received.end());
        span = std::min(span, received[best.certain - 1] - start.sent);
    }
    best.span = std::chrono::nanoseconds(span);
    return best;
}

TEST(Verify, AgreesWithTheDefinitionOnRandomIntervals) {
    std::mt19937_64 rng(42);
    key_scratch scratch;
    for (int round = 0; round < 2'000; ++round) {
        std::size_t n = 1 + rng() % 40;
        // Coarse times, so that equal send and receive times occur often.
        std::int64_t spread = 1 + static_cast<std::int64_t>(rng() % 60);
        std::int64_t usable = 1 + static_cast<std::int64_t>(rng() % 30);
        std::vector<counted_response> v;
        for (std::size_t i = 0; i < n; ++i) {
            std::int64_t s = static_cast<std::int64_t>(rng() % spread);
            std::int64_t latency = static_cast<std::int64_t>(rng() % (usable + 3));
            v.push_back({0, s, s + latency});
        }
        std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.sent < b.sent; });
        key_result want = brute_force(v, usable);
        key_result got = check_key(v, std::chrono::nanoseconds(usable), scratch);
        ASSERT_EQ(got.certain, want.certain) << "round " << round;
        ASSERT_EQ(got.span, want.span) << "round " << round;

        // verify() finds the order itself.
        std::shuffle(v.begin(), v.end(), rng);
        verify_report r = verify(v, {3, std::chrono::nanoseconds(usable), 0ns}, false, 0);
        ASSERT_EQ(r.worst_count, want.certain) << "round " << round;
        ASSERT_EQ(r.worst_span, want.span) << "round " << round;
        ASSERT_EQ(r.violations, want.certain > 3 ? 1u : 0u) << "round " << round;
    }
}

TEST(Verify, ALongRunOfManyKeys) {
    // A 20 s run at 50k requests/s over 100k keys, every answer a counted 200: a million
    // records. Each key comes back every 2 s (7919 is prime to 100k, so the keys are a
    // permutation of each block of 100k requests): five per window, never six.
    std::vector<counted_response> log;
    log.reserve(1'000'001);
    for (std::int64_t i = 0; i < 1'000'000; ++i) {
        std::int64_t sent = i * 20'000;  // 20 us apart
        log.push_back({static_cast<std::uint64_t>(i * 7919 % 100'000), sent, sent + 300'000});
    }
    std::vector<counted_response> copy = log;
    verify_report r = verify(log, five_per_10s(), true, 0);
    EXPECT_EQ(r.counted, 1'000'000u);
    EXPECT_EQ(r.keys, 100'000u);
    EXPECT_EQ(r.violations, 0u);
    EXPECT_EQ(r.worst_count, 5u);
    EXPECT_EQ(r.worst_span, 8'000'300us);

    // One more for one key, between two of its others.
    const counted_response some = copy[12'345];
    copy.push_back({some.key, some.sent + 1'000'000'000, some.received + 1'000'000'000});
    r = verify(copy, five_per_10s(), true, 0);
    EXPECT_EQ(r.violations, 1u);
    EXPECT_EQ(*r.worst_key, some.key);
    EXPECT_EQ(r.worst_count, 6u);
}

TEST(Verify, Report) {
    std::vector<counted_response> log;
    burst(log, 42, 0, 5);
    burst(log, 1, 0, 2);
    verify_report r = verify(log, five_per_10s(), true, 17);
    EXPECT_EQ(to_json(r), R"({"limit":5,"window_ms":10000,"tolerance_ms":2,"keys":2,"counted":7,)"
                          R"("uncounted":17,"violations":0,"worst_key":"k42","worst_count":5,)"
                          R"("worst_span_ms":5})");
    EXPECT_EQ(to_text(r),
              "verify-limit: 5/10s, tolerance 2ms: ok — 7 counted 200s over 2 keys, 17 uncounted "
              "200s; worst key k42: 5 counted 200s within 0.005s\n");

    burst(log, 42, 3'000, 1);
    r = verify(log, five_per_10s(), true, 0);
    EXPECT_EQ(to_text(r),
              "verify-limit: 5/10s, tolerance 2ms: VIOLATION — key k42: 6 counted 200s within "
              "3.001s (limit 5 per 10s); 1 of 2 keys over the limit; 8 counted 200s over 2 keys, "
              "0 uncounted 200s\n");
    EXPECT_NE(to_json(r).find(R"("violations":1,"worst_key":"k42","worst_count":6,)"
                              R"("worst_span_ms":3001})"),
              std::string::npos)
        << to_json(r);

    // Without --keys, one key for all; nothing counted, no worst key.
    std::vector<counted_response> none;
    r = verify(none, {3, 1'500'000us, 500us}, false, 4);
    EXPECT_EQ(to_json(r), R"({"limit":3,"window_ms":1500,"tolerance_ms":0.5,"keys":0,"counted":0,)"
                          R"("uncounted":4,"violations":0,"worst_key":null,"worst_count":0,)"
                          R"("worst_span_ms":0})");
    EXPECT_EQ(to_text(r),
              "verify-limit: 3/1500ms, tolerance 500us: ok — 0 counted 200s over 0 keys, 4 "
              "uncounted 200s\n");
    none.push_back(at(0, 0, 1));
    r = verify(none, {3, 1s, 0ms}, false, 1);
    EXPECT_EQ(to_text(r),
              "verify-limit: 3/1s, tolerance 0ms: ok — 1 counted 200 over 1 key, 1 uncounted "
              "200; worst key (all): 1 counted 200 within 0.001s\n");
}

TEST(Verify, DurationsAreWrittenExactly) {
    EXPECT_EQ(format_duration(10s), "10s");
    EXPECT_EQ(format_duration(2ms), "2ms");
    EXPECT_EQ(format_duration(1'500us), "1500us");
    EXPECT_EQ(format_duration(90s), "90s");
    EXPECT_EQ(format_duration(2min), "2m");
    EXPECT_EQ(format_duration(1h), "1h");
    EXPECT_EQ(format_duration(0ms), "0ms");
}

}  // namespace
}  // namespace sluice::load
