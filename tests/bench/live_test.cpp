#include "bench/load/live.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

namespace sluice::load {
namespace {

using std::chrono::milliseconds;

live_snapshot at(milliseconds elapsed, std::uint64_t ok, std::uint64_t limited,
                 std::uint64_t errors) {
    live_snapshot s;
    s.elapsed = elapsed;
    s.status[200] = ok;
    s.status[429] = limited;
    s.errors = errors;
    return s;
}

TEST(LiveLine, ElapsedRateStatusesAndErrors) {
    EXPECT_EQ(
        format_live_line(at(milliseconds(2500), 1234, 56, 3), at(milliseconds(2250), 1000, 40, 3)),
        "elapsed 2.5s  rps 1000.0  200:1234 429:56  errors 3");
}

// Over the last interval, not the run: a server that stalls late shows at once.
TEST(LiveLine, RateIsOverTheLastInterval) {
    live_snapshot before = at(milliseconds(9750), 100'000, 0, 0);
    EXPECT_EQ(format_live_line(at(milliseconds(10'000), 100'000, 0, 0), before),
              "elapsed 10.0s  rps 0.0  200:100000  errors 0");
    EXPECT_EQ(format_live_line(at(milliseconds(10'000), 100'500, 0, 0), before),
              "elapsed 10.0s  rps 2000.0  200:100500  errors 0");
}

TEST(LiveLine, NothingAnsweredYet) {
    live_snapshot zero;
    EXPECT_EQ(format_live_line(zero, zero), "elapsed 0.0s  rps 0.0  errors 0");
    live_snapshot s;
    s.elapsed = milliseconds(250);
    s.errors = 7;
    EXPECT_EQ(format_live_line(s, zero), "elapsed 0.2s  rps 0.0  errors 7");
}

TEST(LiveLine, StatusesInCodeOrder) {
    live_snapshot s;
    s.elapsed = milliseconds(1000);
    s.status[503] = 1;
    s.status[101] = 2;
    s.status[200] = 3;
    EXPECT_EQ(format_live_line(s, live_snapshot{}),
              "elapsed 1.0s  rps 6.0  101:2 200:3 503:1  errors 0");
}

// The line must never fill the last column: a wrapped line cannot be rewritten with \r.
TEST(LiveLine, CutToTheTerminalWidth) {
    live_snapshot s = at(milliseconds(1000), 5, 1, 0);
    const std::string full = format_live_line(s, live_snapshot{});
    EXPECT_EQ(format_live_line(s, live_snapshot{}, 20), full.substr(0, 19));
    EXPECT_EQ(format_live_line(s, live_snapshot{}, full.size() + 1), full);
    EXPECT_EQ(format_live_line(s, live_snapshot{}, full.size()), full.substr(0, full.size() - 1));
    EXPECT_EQ(format_live_line(s, live_snapshot{}, 1), "");
}

TEST(LiveCounters, CountAsRunStatsDoes) {
    live_counters c;
    c.record(200);
    c.record(200);
    c.record(429);
    c.record(42);  // no status line gives this: an error
    c.fail();
    live_snapshot s;
    c.add_to(s);
    EXPECT_EQ(s.status[200], 2u);
    EXPECT_EQ(s.status[429], 1u);
    EXPECT_EQ(s.responses(), 3u);
    EXPECT_EQ(s.errors, 2u);
}

// The display thread adds up every thread's counters while those threads keep counting.
TEST(LiveCounters, ReadWhileWritten) {
    constexpr std::uint64_t per_thread = 200'000;
    live_counters a, b;
    std::thread ta([&] {
        for (std::uint64_t i = 0; i < per_thread; ++i)
            a.record(200);
    });
    std::thread tb([&] {
        for (std::uint64_t i = 0; i < per_thread; ++i)
            b.record(i % 2 ? 200 : 429);
    });
    std::uint64_t last = 0;
    for (int i = 0; i < 100; ++i) {
        live_snapshot s;
        a.add_to(s);
        b.add_to(s);
        ASSERT_GE(s.responses(), last);  // each counter only grows
        last = s.responses();
    }
    ta.join();
    tb.join();
    live_snapshot s;
    a.add_to(s);
    b.add_to(s);
    EXPECT_EQ(s.status[200], per_thread + per_thread / 2);
    EXPECT_EQ(s.status[429], per_thread / 2);
}

}  // namespace
}  // namespace sluice::load
