// The four limiter scripts (core/sliding_log.lua, fixed_window.lua, sliding_window.lua,
// token_bucket.lua) against a real redis-server, each checked reply for reply against its
// reference model (tests/core/algorithm_models.hpp) over random arrival sequences.
//
// Time is the scripts' test-only clock argument (ARGV[5]): every arrival's moment is chosen by the
// test, so the model is exact. The clock starts an hour ahead of the server's: expiry times are
// absolute, from the script's clock, so no key expires for real while the model still counts it.

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "fixed_window_lua.hpp"
#include "sliding_log_lua.hpp"
#include "sliding_window_lua.hpp"
#include "tests/core/algorithm_models.hpp"
#include "tests/support/redis_server.hpp"
#include "tests/support/redis_sync.hpp"
#include "token_bucket_lua.hpp"

namespace sluice::core {
namespace {

using test::model::i64;
using test::model::outcome;
using test::model::rule;

// Every key in KEYS that exists, with its PTTL and its absolute expiry (ms since the epoch); with
// ARGV[1], every key matching that pattern instead.
constexpr const char* expiry_probe = R"(
local keys = KEYS
if ARGV[1] then
    keys = redis.call('KEYS', ARGV[1])
end
local out = {}
for _, k in ipairs(keys) do
    if redis.call('EXISTS', k) == 1 then
        out[#out + 1] = {k, redis.call('PTTL', k), redis.call('PEXPIRETIME', k)}
    end
end
return out
)";

struct scripts {
    explicit scripts(test::redis_sync& conn) {
        sha["sliding-log"] = conn.load(std::string(sliding_log_lua));
        sha["fixed-window"] = conn.load(std::string(fixed_window_lua));
        sha["sliding-window"] = conn.load(std::string(sliding_window_lua));
        sha["token-bucket"] = conn.load(std::string(token_bucket_lua));
        probe = conn.load(expiry_probe);
    }
    std::map<std::string, std::string> sha;
    std::string probe;
};

// The key each algorithm is given, in the scheme <prefix>{<client>}:<rule>:<suffix>.
std::string key_of(const std::string& algorithm, const std::string& client) {
    static const std::map<std::string, std::string> suffix = {{"sliding-log", "log"},
                                                              {"fixed-window", "fw"},
                                                              {"sliding-window", "sw"},
                                                              {"token-bucket", "tb"}};
    return "test:{" + client + "}:api:" + suffix.at(algorithm);
}

i64 server_now_us(test::redis_sync& conn) {
    auto t = conn.call({"TIME"});
    return std::stoll(t[0].text) * 1'000'000 + std::stoll(t[1].text);
}

outcome run(test::redis_sync& conn, const scripts& s, const rule& r, const std::string& key,
            i64 cost, i64 now) {
    auto reply = conn.call({"EVALSHA", s.sha.at(r.algorithm), "1", key, std::to_string(r.limit),
                            std::to_string(r.window_ms), std::to_string(cost),
                            std::to_string(r.burst), std::to_string(now)});
    if (reply.is_error() || reply.items.size() != 4) {
        ADD_FAILURE() << "bad reply: " << reply.text;
        return {};
    }
    auto v = reply.integers();
    return {v[0] == 1, v[1], v[2], v[3]};
}

// The longest a key of `r` may live: what each algorithm needs its state for.
i64 lifetime_ms(const rule& r) {
    if (r.algorithm == "sliding-window") return 2 * r.window_ms;
    if (r.algorithm == "token-bucket")
        return test::model::ceil_ms(r.burst * test::model::token_bucket::interval(r));
    return r.window_ms;
}

// After each call: the key the call may have written has a TTL (PTTL > 0), it does not expire later
// than the algorithm needs it, and when the call wrote it, not before the clock has moved on.
void check_expiry(test::redis_sync& conn, const scripts& s, const std::string& algorithm,
                  const std::string& key, i64 window_ms, i64 now, i64 longest_ms, bool wrote,
                  const std::string& where) {
    std::string written = key;
    if (algorithm == "fixed-window") written += ":" + std::to_string(now / (window_ms * 1000));
    auto keys = conn.call({"EVALSHA", s.probe, "1", written});
    if (wrote) {
        EXPECT_EQ(keys.items.size(), 1u) << where;
    }
    for (const auto& k : keys.items) {
        i64 pttl = k[1].integer(), at = k[2].integer();
        EXPECT_GT(pttl, 0) << where << " key " << k[0].text;
        EXPECT_LE(at, now / 1000 + longest_ms + 1) << where << " key " << k[0].text;
        if (wrote) {
            EXPECT_GT(at, now / 1000) << where << " key " << k[0].text;
        }
    }
}

// Every key of the client has a TTL.
void check_all_expire(test::redis_sync& conn, const scripts& s, const std::string& client) {
    auto keys = conn.call({"EVALSHA", s.probe, "0", "test:{" + client + "}*"});
    EXPECT_FALSE(keys.items.empty()) << client;
    for (const auto& k : keys.items)
        EXPECT_GT(k[1].integer(), 0) << k[0].text;
}

struct sequence_stats {
    int allowed = 0, rejected = 0, same_moment = 0, borders = 0, lowered = 0;
};

// One random run: `steps` arrivals for one client against one rule, the limit lowered halfway
// through and raised again at three quarters; every reply compared with the model's.
sequence_stats property_run(test::redis_sync& conn, const scripts& s, const std::string& algorithm,
                            unsigned seed, int steps) {
    std::mt19937_64 rng{seed};
    auto uniform = [&](i64 lo, i64 hi) { return std::uniform_int_distribution<i64>{lo, hi}(rng); };

    rule r;
    r.algorithm = algorithm;
    r.limit = uniform(1, 12);
    const i64 windows[] = {200, 1000, 2500};
    r.window_ms = windows[uniform(0, 2)];
    r.burst = algorithm == "token-bucket" ? uniform(1, 2 * r.limit) : r.limit;
    const rule original = r;
    rule lowered = r;
    lowered.limit = std::max<i64>(1, r.limit / 2);
    lowered.burst = std::max<i64>(1, r.burst / 2);

    std::string client = "prop-" + algorithm + "-" + std::to_string(seed);
    std::string key = key_of(algorithm, client);
    auto m = test::model::make(algorithm);
    i64 now = server_now_us(conn) + 3'600'000'000LL;
    i64 longest = lifetime_ms(r);
    const i64 w = r.window_ms * 1000;
    sequence_stats st;

    for (int step = 0; step < steps; ++step) {
        if (step == steps / 2) r = lowered, ++st.lowered;
        if (step == 3 * steps / 4) r = original;
        longest = std::max(longest, lifetime_ms(r));

        i64 pick = uniform(0, 99);
        if (pick < 25) {
            ++st.same_moment;  // the same microsecond as the previous arrival
        } else if (pick < 40) {
            now += uniform(1, 999);  // most likely the same millisecond
        } else if (pick < 75) {
            now += uniform(0, 2 * w / r.limit);  // around the rule's rate
        } else if (pick < 85) {
            now = std::max(now, (now / w + 1) * w - uniform(0, 2));  // onto a border or just before
            ++st.borders;
        } else if (pick < 95) {
            now += uniform(0, w);
        } else {
            now += uniform(w, 3 * w);  // idle long enough to be forgotten
        }
        i64 cost_pick = uniform(0, 9);
        i64 capacity = m->capacity(r);
        i64 cost = cost_pick < 7 ? 1 : cost_pick < 9 ? uniform(1, capacity) : capacity + 1;

        std::ostringstream where;
        where << algorithm << " seed " << seed << " step " << step << " limit " << r.limit
              << " window " << r.window_ms << " burst " << r.burst << " cost " << cost << " at +"
              << (now % w) << "us into a window";
        outcome want = test::model::decide(*m, now, r, cost);
        outcome got = run(conn, s, r, key, cost, now);
        EXPECT_EQ(got, want) << where.str();
        if (got != want) return st;  // the model and the server have parted: stop this run
        (got.allowed ? st.allowed : st.rejected)++;
        check_expiry(conn, s, algorithm, key, r.window_ms, now, longest, got.allowed, where.str());
    }
    check_all_expire(conn, s, client);
    return st;
}

class AlgorithmProperty : public ::testing::TestWithParam<std::string> {};

TEST_P(AlgorithmProperty, EveryReplyMatchesTheReferenceModel) {
    test::redis_server srv;
    test::redis_sync conn{srv.port()};
    scripts s{conn};
    sequence_stats total;
    for (unsigned seed = 1; seed <= 8; ++seed) {
        auto st = property_run(conn, s, GetParam(), seed, 1500);
        total.allowed += st.allowed;
        total.rejected += st.rejected;
        total.same_moment += st.same_moment;
        total.borders += st.borders;
        if (HasFailure()) return;
    }
    // The sequences exercise both answers, same-moment arrivals and borders.
    EXPECT_GT(total.allowed, 1000);
    EXPECT_GT(total.rejected, 1000);
    EXPECT_GT(total.same_moment, 1000);
    EXPECT_GT(total.borders, 500);
    std::printf("%s: %d allowed, %d rejected, %d same-moment arrivals, %d at borders\n",
                GetParam().c_str(), total.allowed, total.rejected, total.same_moment,
                total.borders);
}

INSTANTIATE_TEST_SUITE_P(Scripts, AlgorithmProperty,
                         ::testing::Values("sliding-log", "fixed-window", "sliding-window",
                                           "token-bucket"),
                         [](const auto& info) {
                             std::string n = info.param;
                             std::erase(n, '-');
                             return n;
                         });

// `limit` requests just before a window's border and `limit` just after: the fixed window lets
// all 2 * limit through, the sliding log only `limit` (and the other two as many).
TEST(Algorithms, BorderSpike) {
    test::redis_server srv;
    test::redis_sync conn{srv.port()};
    scripts s{conn};
    const i64 limit = 5, window_ms = 1000, w = window_ms * 1000;
    i64 border = ((server_now_us(conn) + 3'600'000'000LL) / w + 1) * w;
    std::map<std::string, int> allowed;
    for (std::string algorithm :
         {"fixed-window", "sliding-log", "sliding-window", "token-bucket"}) {
        rule r{algorithm, limit, window_ms, limit};
        std::string key = key_of(algorithm, "spike");
        // Idle before: nothing counted in the window ending at the first request.
        for (i64 i = 0; i < limit; ++i)
            allowed[algorithm] += run(conn, s, r, key, 1, border - 1000 + i).allowed;
        for (i64 i = 0; i < limit; ++i)
            allowed[algorithm] += run(conn, s, r, key, 1, border + 1000 + i).allowed;
    }
    EXPECT_EQ(allowed["fixed-window"], 2 * limit);
    EXPECT_EQ(allowed["sliding-log"], limit);
    EXPECT_EQ(allowed["sliding-window"], limit);
    EXPECT_EQ(allowed["token-bucket"], limit);
}

// The same moment, many arrivals: each is counted (no "timestamp as member" collapse).
TEST(Algorithms, ArrivalsInTheSameMicrosecondAreAllCounted) {
    test::redis_server srv;
    test::redis_sync conn{srv.port()};
    scripts s{conn};
    i64 now = server_now_us(conn) + 3'600'000'000LL;
    for (std::string algorithm :
         {"fixed-window", "sliding-log", "sliding-window", "token-bucket"}) {
        rule r{algorithm, 7, 10'000, 7};
        std::string key = key_of(algorithm, "same");
        int allowed = 0;
        for (int i = 0; i < 20; ++i)
            allowed += run(conn, s, r, key, 1, now).allowed;
        EXPECT_EQ(allowed, 7) << algorithm;
    }
    EXPECT_EQ(srv.cli({"ZCARD", "test:{same}:api:log"}), "7");
}

// Without the test-only clock the scripts read the server's TIME.
TEST(Algorithms, TheServerClockIsTheDefault) {
    test::redis_server srv;
    test::redis_sync conn{srv.port()};
    scripts s{conn};
    for (std::string algorithm :
         {"fixed-window", "sliding-log", "sliding-window", "token-bucket"}) {
        std::string key = key_of(algorithm, "clock");
        for (int i = 0; i < 3; ++i) {
            auto reply = conn.call({"EVALSHA", s.sha.at(algorithm), "1", key, "2", "60000"});
            ASSERT_FALSE(reply.is_error()) << algorithm << ": " << reply.text;
            EXPECT_EQ(reply[0].integer(), i < 2 ? 1 : 0) << algorithm;
        }
        auto expiry = conn.call({"EVALSHA", s.probe, "0", "test:{clock}:api:*"});
        EXPECT_FALSE(expiry.items.empty());
        for (const auto& k : expiry.items) {
            EXPECT_GT(k[1].integer(), 0) << k[0].text;
            EXPECT_LE(k[1].integer(), 120'000) << k[0].text;
        }
    }
}

}  // namespace
}  // namespace sluice::core
