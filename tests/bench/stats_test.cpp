#include "bench/load/stats.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <map>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::load {
namespace {

// A strict reader for the subset of JSON the report uses (objects, plain strings, numbers):
// flattens {"a":{"b":1}} into {"a.b": 1}, and fails on anything else, so a stray comma or a
// missing brace in to_json() cannot pass.
class flat_json {
  public:
    static bool parse(std::string_view text, std::map<std::string, double>& out) {
        flat_json p{text, 0, out};
        return p.object("") && p.pos_ == text.size();
    }

  private:
    flat_json(std::string_view t, std::size_t pos, std::map<std::string, double>& out)
        : text_(t), pos_(pos), out_(out) {}

    bool eat(char c) {
        if (pos_ < text_.size() && text_[pos_] == c) {
            ++pos_;
            return true;
        }
        return false;
    }
    bool string(std::string& s) {
        if (!eat('"')) return false;
        while (pos_ < text_.size() && text_[pos_] != '"') {
            if (text_[pos_] == '\\' || static_cast<unsigned char>(text_[pos_]) < 0x20) return false;
            s += text_[pos_++];
        }
        return eat('"');
    }
    bool number(double& v) {
        std::size_t start = pos_;
        if (pos_ < text_.size() && text_[pos_] == '-') ++pos_;
        while (pos_ < text_.size() &&
               (std::isdigit(static_cast<unsigned char>(text_[pos_])) || text_[pos_] == '.')) {
            ++pos_;
        }
        if (pos_ == start) return false;
        v = std::strtod(std::string(text_.substr(start, pos_ - start)).c_str(), nullptr);
        return true;
    }
    bool object(const std::string& prefix) {
        if (!eat('{')) return false;
        if (eat('}')) return true;
        do {
            std::string key;
            if (!string(key) || !eat(':')) return false;
            std::string path = prefix.empty() ? key : prefix + "." + key;
            if (out_.count(path) != 0) return false;
            if (pos_ < text_.size() && text_[pos_] == '{') {
                if (!object(path)) return false;
            } else {
                double v = 0;
                if (!number(v)) return false;
                out_[path] = v;
            }
        } while (eat(','));
        return eat('}');
    }

    std::string_view text_;
    std::size_t pos_;
    std::map<std::string, double>& out_;
};

TEST(Histogram, BucketsCoverEveryValueWithinTheirPrecision) {
    std::mt19937_64 rng(42);
    auto check = [](std::uint64_t v) {
        std::size_t b = latency_histogram::bucket_of(v);
        ASSERT_LT(b, latency_histogram::bucket_count) << v;
        std::uint64_t low = latency_histogram::bucket_low(b);
        std::uint64_t width = latency_histogram::bucket_width(b);
        ASSERT_LE(low, v) << v;
        ASSERT_LT(v - low, width) << v;
        // Never wider than 1/128 of the values it holds.
        ASSERT_TRUE(width == 1 || width * 128 <= low) << v;
    };
    for (std::uint64_t v = 0; v < 70'000; ++v)
        check(v);
    for (int shift = 0; shift < 40; ++shift) {
        std::uint64_t p = std::uint64_t{1} << shift;
        check(p - 1);
        check(p);
        check(p + 1);
    }
    for (int i = 0; i < 100'000; ++i)
        check(rng() & latency_histogram::max_trackable);
    check(latency_histogram::max_trackable);
    EXPECT_EQ(latency_histogram::bucket_of(latency_histogram::max_trackable),
              latency_histogram::bucket_count - 1);
}

TEST(Histogram, BucketsAreOrdered) {
    for (std::size_t b = 1; b < latency_histogram::bucket_count; ++b) {
        ASSERT_EQ(latency_histogram::bucket_low(b - 1) + latency_histogram::bucket_width(b - 1),
                  latency_histogram::bucket_low(b))
            << b;
        ASSERT_EQ(latency_histogram::bucket_of(latency_histogram::bucket_low(b)), b);
    }
}

TEST(Histogram, EmptyReportsZero) {
    latency_histogram h;
    EXPECT_EQ(h.count(), 0u);
    EXPECT_EQ(h.percentile(50), 0u);
    EXPECT_EQ(h.percentile(100), 0u);
    EXPECT_EQ(h.max(), 0u);
    EXPECT_EQ(h.min(), 0u);
}

TEST(Histogram, ExactPercentilesBelow256) {
    latency_histogram h;
    // Recorded out of order: the histogram must not care.
    for (std::uint64_t v = 100; v >= 1; --v)
        h.record(v);
    EXPECT_EQ(h.count(), 100u);
    EXPECT_EQ(h.percentile(50), 50u);
    EXPECT_EQ(h.percentile(90), 90u);
    EXPECT_EQ(h.percentile(99), 99u);
    EXPECT_EQ(h.percentile(99.9), 100u);
    EXPECT_EQ(h.percentile(100), 100u);
    EXPECT_EQ(h.max(), 100u);
    EXPECT_EQ(h.min(), 1u);
}

TEST(Histogram, NearestRankIsNotFooledByFloatingPoint) {
    latency_histogram h;
    for (std::uint64_t v = 1; v <= 200; ++v) {
        for (int i = 0; i < 5; ++i)
            h.record(v);  // 1000 samples, 5 of each value
    }
    // 99.9% of 1000 is rank 999 exactly: the value 200, not a neighbour through rounding.
    EXPECT_EQ(h.percentile(99.9), 200u);
    EXPECT_EQ(h.percentile(50), 100u);  // rank 500
    EXPECT_EQ(h.percentile(0.1), 1u);   // rank 1
    EXPECT_EQ(h.percentile(0.5), 1u);   // rank 5
    EXPECT_EQ(h.percentile(0.6), 2u);   // rank 6
}

TEST(Histogram, LargeValuesWithinHalfAPercent) {
    latency_histogram h;
    std::vector<std::uint64_t> samples;
    std::mt19937_64 rng(7);
    std::lognormal_distribution<double> dist(8.0, 1.5);  // a long tail: ~3 ms median
    for (int i = 0; i < 100'000; ++i) {
        auto v = static_cast<std::uint64_t>(dist(rng));
        samples.push_back(v);
        h.record(v);
    }
    std::sort(samples.begin(), samples.end());
    for (double p : {50.0, 90.0, 99.0, 99.9}) {
        auto rank = static_cast<std::size_t>(std::ceil(p / 100 * samples.size() - 1e-9));
        double exact = static_cast<double>(samples[rank - 1]);
        double got = static_cast<double>(h.percentile(p));
        EXPECT_LE(std::abs(got - exact), exact * 0.005 + 1) << "p" << p;
    }
    EXPECT_EQ(h.max(), samples.back());
}

TEST(Histogram, SingleSampleIsExact) {
    latency_histogram h;
    h.record(123'457);
    EXPECT_EQ(h.percentile(50), 123'457u);
    EXPECT_EQ(h.percentile(99.9), 123'457u);
    EXPECT_EQ(h.max(), 123'457u);
}

TEST(Histogram, HugeValuesAreClampedButMaxIsExact) {
    latency_histogram h;
    h.record(~std::uint64_t{0});
    h.record(5);
    EXPECT_EQ(h.max(), ~std::uint64_t{0});
    EXPECT_EQ(h.percentile(50), 5u);
    EXPECT_GE(h.percentile(100), latency_histogram::max_trackable / 2);
}

TEST(Histogram, MergeEqualsRecordingEverything) {
    latency_histogram a, b, all;
    for (std::uint64_t v = 1; v <= 5000; v += 3) {
        (v % 2 ? a : b).record(v * 7);
        all.record(v * 7);
    }
    a.merge(b);
    EXPECT_EQ(a.count(), all.count());
    EXPECT_EQ(a.min(), all.min());
    EXPECT_EQ(a.max(), all.max());
    for (double p : {1.0, 50.0, 90.0, 99.0, 99.9, 100.0}) {
        EXPECT_EQ(a.percentile(p), all.percentile(p)) << p;
    }
    latency_histogram empty;
    a.merge(empty);
    EXPECT_EQ(a.min(), all.min());
}

TEST(PercentileCurve, EmptyHistogramHasNoCurve) {
    EXPECT_TRUE(percentile_curve(latency_histogram{}).empty());
    EXPECT_EQ(format_percentiles({}), "");
}

TEST(PercentileCurve, FixedPointsAndHalvingsUpToTheSampleCount) {
    latency_histogram h;
    for (std::uint64_t v = 1; v <= 200; ++v) {
        for (int i = 0; i < 5; ++i)
            h.record(v);  // 1000 samples below 256 us: exact, rank r is the value ceil(r / 5)
    }
    // 1 - 2^-k up to k = 9: 2^10 = 1024 is beyond 1000 samples.
    std::vector<percentile_point> want = {
        {0, 1},          {50, 100},    {75, 150},        {87.5, 175},       {90, 180},
        {93.75, 188},    {95, 190},    {96.875, 194},    {98.4375, 197},    {99, 198},
        {99.21875, 199}, {99.5, 199},  {99.609375, 200}, {99.8046875, 200}, {99.9, 200},
        {99.95, 200},    {99.99, 200}, {99.999, 200},    {100, 200}};
    EXPECT_EQ(percentile_curve(h), want);
}

TEST(PercentileCurve, FewSamplesKeepTheFixedPoints) {
    latency_histogram h;
    for (std::uint64_t v : {7, 3, 5})
        h.record(v);
    std::vector<percentile_point> want = {{0, 3},     {50, 5},    {75, 7},     {90, 7},
                                          {95, 7},    {99, 7},    {99.5, 7},   {99.9, 7},
                                          {99.95, 7}, {99.99, 7}, {99.999, 7}, {100, 7}};
    EXPECT_EQ(percentile_curve(h), want);
}

// 0 and 100 are the exact extremes, not a bucket's midpoint; every point in between agrees with
// percentile() and the curve never goes down.
TEST(PercentileCurve, ExtremesExactAndMonotonic) {
    latency_histogram h;
    std::mt19937_64 rng(11);
    std::lognormal_distribution<double> dist(8.0, 1.5);
    for (int i = 0; i < 2'000'000; ++i)
        h.record(static_cast<std::uint64_t>(dist(rng)) + 1'000);
    auto curve = percentile_curve(h);
    ASSERT_GE(curve.size(), 12u + 15u);
    EXPECT_EQ(curve.front().percentile, 0);
    EXPECT_EQ(curve.front().latency_us, h.min());
    EXPECT_EQ(curve.back().percentile, 100);
    EXPECT_EQ(curve.back().latency_us, h.max());
    for (std::size_t i = 1; i + 1 < curve.size(); ++i) {
        EXPECT_LT(curve[i - 1].percentile, curve[i].percentile) << i;
        EXPECT_LE(curve[i - 1].latency_us, curve[i].latency_us) << i;
        EXPECT_EQ(curve[i].latency_us, h.percentile(curve[i].percentile)) << i;
    }
    // 2^20 < 2'000'000: the last halving point percentile() can still tell from 100%.
    EXPECT_NEAR(curve[curve.size() - 2].percentile, 100 * (1 - std::ldexp(1.0, -20)), 1e-9);
}

TEST(PercentileCurve, Format) {
    std::vector<percentile_point> curve = {
        {0, 12}, {50, 340}, {99.5, 900}, {99.8046875, 1000}, {99.999046, 5000}, {100, 6001}};
    EXPECT_EQ(format_percentiles(curve),
              "0 12\n50 340\n99.5 900\n99.804688 1000\n99.999046 5000\n100 6001\n");
}

TEST(RunStats, RecordsStatusLatencyAndFailures) {
    run_stats s;
    s.record(200, 10);
    s.record(200, 20);
    s.record(429, 30);
    s.record(99, 1);    // cannot come from a status line
    s.record(1000, 1);  // nor this
    s.record(-1, 1);
    s.fail(failure::timeout);
    EXPECT_EQ(s.status[200], 2u);
    EXPECT_EQ(s.status[429], 1u);
    EXPECT_EQ(s.latency.count(), 3u);
    EXPECT_EQ(s.failures[static_cast<std::size_t>(failure::protocol)], 3u);
    EXPECT_EQ(s.failures[static_cast<std::size_t>(failure::timeout)], 1u);

    run_stats other;
    other.record(200, 40);
    other.fail(failure::connect);
    other.reconnects = 2;
    s.merge(other);
    EXPECT_EQ(s.status[200], 3u);
    EXPECT_EQ(s.latency.count(), 4u);
    EXPECT_EQ(s.latency.max(), 40u);
    EXPECT_EQ(s.failures[static_cast<std::size_t>(failure::connect)], 1u);
    EXPECT_EQ(s.reconnects, 2u);
}

run_stats seed_run() {
    run_stats s;
    for (std::uint64_t us : {100, 110, 120, 130, 140})
        s.record(200, us);
    s.record(429, 150);
    return s;
}

TEST(Summary, CountsAndRate) {
    summary s = summarize(seed_run(), std::chrono::milliseconds(250));
    EXPECT_EQ(s.requests, 6u);
    EXPECT_DOUBLE_EQ(s.seconds, 0.25);
    EXPECT_DOUBLE_EQ(s.rps, 24);
    std::vector<std::pair<int, std::uint64_t>> want{{200, 5}, {429, 1}};
    EXPECT_EQ(s.status, want);
    EXPECT_EQ(s.p50, 120u);
    EXPECT_EQ(s.p90, 150u);
    EXPECT_EQ(s.max, 150u);
    EXPECT_EQ(s.errors, 0u);
}

TEST(Summary, ZeroElapsedGivesZeroRateNotInfinity) {
    summary s = summarize(seed_run(), std::chrono::nanoseconds(0));
    EXPECT_EQ(s.rps, 0);
    EXPECT_EQ(to_json(s).find("inf"), std::string::npos);
}

TEST(Json, ExactFormat) {
    run_stats r = seed_run();
    r.fail(failure::closed);
    summary s = summarize(r, std::chrono::microseconds(12'345));
    EXPECT_EQ(to_json(s),
              R"({"requests":6,"seconds":0.012,"rps":486.0,"status":{"200":5,"429":1},)"
              R"("latency_us":{"p50":120,"p90":150,"p99":150,"p999":150,"max":150},"errors":1,)"
              R"("failures":{"connect":0,"timeout":0,"closed":1,"protocol":0},)"
              R"("uncounted_200":0})");
}

TEST(Json, EmptyRun) {
    summary s = summarize(run_stats{}, std::chrono::seconds(1));
    EXPECT_EQ(to_json(s), R"({"requests":0,"seconds":1.000,"rps":0.0,"status":{},)"
                          R"("latency_us":{"p50":0,"p90":0,"p99":0,"p999":0,"max":0},"errors":0,)"
                          R"("failures":{"connect":0,"timeout":0,"closed":0,"protocol":0},)"
                          R"("uncounted_200":0})");
}

TEST(Json, UncountedAndVerify) {
    summary s = summarize(seed_run(), std::chrono::seconds(1));
    s.uncounted_200 = 3;
    std::vector<counted_response> log{{0, 0, 1'000'000}};
    s.verify = verify(log, {5, std::chrono::seconds(10), std::chrono::milliseconds(2)}, false, 3);
    EXPECT_EQ(to_json(s),
              R"({"requests":6,"seconds":1.000,"rps":6.0,"status":{"200":5,"429":1},)"
              R"("latency_us":{"p50":120,"p90":150,"p99":150,"p999":150,"max":150},"errors":0,)"
              R"("failures":{"connect":0,"timeout":0,"closed":0,"protocol":0},)"
              R"("uncounted_200":3,"verify":{"limit":5,"window_ms":10000,"tolerance_ms":2,)"
              R"j("keys":1,"counted":1,"uncounted":3,"violations":0,"worst_key":"(all)",)j"
              R"("worst_count":1,"worst_span_ms":1}})");
    std::string t = to_text(s);
    EXPECT_NE(t.find("uncounted     3 (200s without X-RateLimit-Remaining)\n"), std::string::npos)
        << t;
    EXPECT_NE(t.find("\nverify-limit: 5/10s, tolerance 2ms: ok — 1 counted 200 over 1 key, 3 "
                     "uncounted 200s; worst key (all): 1 counted 200 within 0.001s\n"),
              std::string::npos)
        << t;
}

TEST(Json, ParsesBack) {
    run_stats r;
    std::mt19937_64 rng(3);
    for (int i = 0; i < 5000; ++i)
        r.record(i % 7 == 0 ? 503 : 200, rng() % 1'000'000);
    r.fail(failure::timeout);
    r.fail(failure::protocol);
    summary s = summarize(r, std::chrono::milliseconds(1500));
    std::map<std::string, double> v;
    ASSERT_TRUE(flat_json::parse(to_json(s), v)) << to_json(s);
    EXPECT_EQ(v.size(), 16u);
    EXPECT_EQ(v["uncounted_200"], 0);
    EXPECT_EQ(v["requests"], 5000);
    EXPECT_DOUBLE_EQ(v["seconds"], 1.5);
    EXPECT_NEAR(v["rps"], 3333.3, 0.05);
    EXPECT_EQ(v["status.200"] + v["status.503"], 5000);
    EXPECT_EQ(v["status.503"], 715);
    EXPECT_EQ(v["errors"], 2);
    EXPECT_EQ(v["failures.timeout"], 1);
    EXPECT_EQ(v["failures.protocol"], 1);
    EXPECT_EQ(v["failures.connect"] + v["failures.closed"], 0);
    EXPECT_LE(v["latency_us.p50"], v["latency_us.p90"]);
    EXPECT_LE(v["latency_us.p90"], v["latency_us.p99"]);
    EXPECT_LE(v["latency_us.p99"], v["latency_us.p999"]);
    EXPECT_LE(v["latency_us.p999"], v["latency_us.max"]);
    EXPECT_NEAR(v["latency_us.p50"], 500'000, 20'000);
}

TEST(Json, TheReaderRejectsBrokenText) {
    std::map<std::string, double> v;
    EXPECT_FALSE(flat_json::parse(R"({"a":1,})", v));
    v.clear();
    EXPECT_FALSE(flat_json::parse(R"({"a":1)", v));
    v.clear();
    EXPECT_FALSE(flat_json::parse(R"({"a":1}x)", v));
    v.clear();
    EXPECT_TRUE(flat_json::parse(R"({"a":{"b":2},"c":3.5})", v));
    EXPECT_EQ(v["a.b"], 2);
}

TEST(Text, ShowsEverything) {
    run_stats r = seed_run();
    r.fail(failure::timeout);
    r.fail(failure::timeout);
    r.reconnects = 3;
    std::string t = to_text(summarize(r, std::chrono::seconds(2)));
    EXPECT_NE(t.find("requests      6 in 2.000 s, 3.0 req/s\n"), std::string::npos) << t;
    EXPECT_NE(t.find("status        200: 5, 429: 1\n"), std::string::npos) << t;
    EXPECT_NE(t.find("errors        2 (connect 0, timeout 2, closed 0, protocol 0)\n"),
              std::string::npos)
        << t;
    EXPECT_NE(t.find("reconnects    3\n"), std::string::npos) << t;
    EXPECT_NE(t.find("uncounted     0 (200s without X-RateLimit-Remaining)\n"), std::string::npos)
        << t;
    EXPECT_EQ(t.find("verify-limit"), std::string::npos) << t;
    EXPECT_NE(t.find("latency (us)  p50 120, p90 150, p99 150, p99.9 150, max 150\n"),
              std::string::npos)
        << t;
}

TEST(Text, NoStatusAtAll) {
    std::string t = to_text(summarize(run_stats{}, std::chrono::seconds(1)));
    EXPECT_NE(t.find("status        none\n"), std::string::npos) << t;
    EXPECT_EQ(t.find("reconnects"), std::string::npos) << t;
}

TEST(Expect, ExactCountsPass) {
    summary s = summarize(seed_run(), std::chrono::seconds(1));
    EXPECT_EQ(check_expectation(parse_expectation("200:5,429:1"), s), std::nullopt);
    EXPECT_EQ(check_expectation(parse_expectation("429:1,200:5"), s), std::nullopt);
    // A zero count asserts absence and is satisfied by it.
    EXPECT_EQ(check_expectation(parse_expectation("200:5,429:1,503:0"), s), std::nullopt);
}

TEST(Expect, WrongCountsFail) {
    summary s = summarize(seed_run(), std::chrono::seconds(1));
    EXPECT_EQ(check_expectation(parse_expectation("200:6"), s), "expected 200:6, got 200:5,429:1");
    EXPECT_EQ(check_expectation(parse_expectation("200:4,429:2"), s),
              "expected 200:4,429:2, got 200:5,429:1");
    // A status that was not mentioned must not occur at all.
    EXPECT_EQ(check_expectation(parse_expectation("200:5"), s), "expected 200:5, got 200:5,429:1");
    EXPECT_EQ(check_expectation(parse_expectation("200:5,429:1,500:1"), s),
              "expected 200:5,429:1,500:1, got 200:5,429:1");
    EXPECT_EQ(check_expectation(parse_expectation("200:5,429:0"), s),
              "expected 200:5,429:0, got 200:5,429:1");
}

TEST(Expect, ErrorsFailEvenWithTheRightCounts) {
    run_stats r = seed_run();
    r.fail(failure::connect);
    summary s = summarize(r, std::chrono::seconds(1));
    EXPECT_EQ(check_expectation(parse_expectation("200:5,429:1"), s),
              "expected 200:5,429:1, got 200:5,429:1 and 1 errors");
}

TEST(Expect, NothingReceived) {
    run_stats r;
    r.fail(failure::connect);
    summary s = summarize(r, std::chrono::seconds(1));
    EXPECT_EQ(check_expectation(parse_expectation("200:1"), s),
              "expected 200:1, got nothing and 1 errors");
}

}  // namespace
}  // namespace sluice::load
