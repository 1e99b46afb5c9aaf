#include "bench/load/stats.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>

namespace sluice::load {

namespace {

constexpr std::size_t sub_buckets = std::size_t{1} << latency_histogram::sub_bucket_bits;

static_assert(latency_histogram::bucket_count ==
                  (latency_histogram::max_trackable >> 32) + 32 * sub_buckets + 1,
              "bucket_count must cover max_trackable");

std::string format_fixed(double v, int decimals) {
    char buf[64];
    int n = std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    return std::string(buf, static_cast<std::size_t>(std::max(n, 0)));
}

}  // namespace

latency_histogram::latency_histogram() : counts_(bucket_count, 0) {}

// Values below 2 * sub_buckets map to themselves; above, the top 8 significant bits select the
// bucket within the power of two and the power selects the group.
std::size_t latency_histogram::bucket_of(std::uint64_t us) noexcept {
    us = std::min(us, max_trackable);
    int width = std::bit_width(us);
    unsigned shift = width > static_cast<int>(sub_bucket_bits) + 1
                         ? static_cast<unsigned>(width) - sub_bucket_bits - 1
                         : 0;
    return (std::size_t{shift} << sub_bucket_bits) + static_cast<std::size_t>(us >> shift);
}

std::uint64_t latency_histogram::bucket_low(std::size_t bucket) noexcept {
    std::size_t shift = bucket < 2 * sub_buckets ? 0 : (bucket >> sub_bucket_bits) - 1;
    return static_cast<std::uint64_t>(bucket - (shift << sub_bucket_bits)) << shift;
}

std::uint64_t latency_histogram::bucket_width(std::size_t bucket) noexcept {
    std::size_t shift = bucket < 2 * sub_buckets ? 0 : (bucket >> sub_bucket_bits) - 1;
    return std::uint64_t{1} << shift;
}

void latency_histogram::record(std::uint64_t us) noexcept {
    ++counts_[bucket_of(us)];
    ++count_;
    min_ = std::min(min_, us);
    max_ = std::max(max_, us);
}

void latency_histogram::merge(const latency_histogram& other) {
    for (std::size_t i = 0; i < bucket_count; ++i)
        counts_[i] += other.counts_[i];
    count_ += other.count_;
    min_ = std::min(min_, other.min_);
    max_ = std::max(max_, other.max_);
}

std::uint64_t latency_histogram::percentile(double p) const noexcept {
    if (count_ == 0) return 0;
    // Parts per million, in integers: 99.9% of 1000 samples must be rank 999 exactly, which
    // ceil(0.999 * 1000) in floating point is not.
    auto ppm = static_cast<std::uint64_t>(std::llround(std::clamp(p, 0.0, 100.0) * 10'000));
    auto rank = static_cast<std::uint64_t>(
        (static_cast<unsigned __int128>(ppm) * count_ + 999'999) / 1'000'000);
    rank = std::clamp<std::uint64_t>(rank, 1, count_);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < bucket_count; ++i) {
        seen += counts_[i];
        if (seen >= rank) {
            std::uint64_t mid = bucket_low(i) + bucket_width(i) / 2;
            return std::clamp(mid, min_, max_);
        }
    }
    return max_;
}

std::vector<percentile_point> percentile_curve(const latency_histogram& h) {
    std::vector<percentile_point> curve;
    if (h.count() == 0) return curve;
    std::vector<double> ps = {0, 50, 75, 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 99.999, 100};
    // percentile() resolves parts per million, which tells 1 - 2^-20 from 100% but not 2^-21.
    for (unsigned k = 1; k <= 20 && (std::uint64_t{1} << k) <= h.count(); ++k)
        ps.push_back(100.0 * (1.0 - std::ldexp(1.0, -static_cast<int>(k))));
    std::sort(ps.begin(), ps.end());
    // 50 and 75 are on both lists, and both compute them exactly.
    ps.erase(std::unique(ps.begin(), ps.end()), ps.end());
    curve.reserve(ps.size());
    for (double p : ps) {
        std::uint64_t us = p == 0 ? h.min() : p == 100 ? h.max() : h.percentile(p);
        curve.push_back({p, us});
    }
    return curve;
}

std::string format_percentiles(std::span<const percentile_point> curve) {
    std::string out;
    for (const auto& point : curve) {
        std::string p = format_fixed(point.percentile, 6);
        p.erase(p.find_last_not_of('0') + 1);
        if (p.back() == '.') p.pop_back();
        out += p + ' ' + std::to_string(point.latency_us) + '\n';
    }
    return out;
}

const char* to_string(failure f) noexcept {
    switch (f) {
        case failure::connect:
            return "connect";
        case failure::timeout:
            return "timeout";
        case failure::closed:
            return "closed";
        case failure::protocol:
            return "protocol";
    }
    return "unknown";
}

void run_stats::record(int status_code, std::uint64_t latency_us) noexcept {
    if (status_code < 100 || status_code > 999) {
        fail(failure::protocol);
        return;
    }
    ++status[static_cast<std::size_t>(status_code)];
    latency.record(latency_us);
}

void run_stats::merge(const run_stats& other) {
    latency.merge(other.latency);
    for (std::size_t i = 0; i < status.size(); ++i)
        status[i] += other.status[i];
    for (std::size_t i = 0; i < failures.size(); ++i)
        failures[i] += other.failures[i];
    reconnects += other.reconnects;
}

summary summarize(const run_stats& stats, std::chrono::nanoseconds elapsed) {
    summary s;
    for (std::size_t code = 0; code < stats.status.size(); ++code) {
        if (stats.status[code] == 0) continue;
        s.status.emplace_back(static_cast<int>(code), stats.status[code]);
        s.requests += stats.status[code];
    }
    s.seconds = std::chrono::duration<double>(elapsed).count();
    s.rps = s.seconds > 0 ? static_cast<double>(s.requests) / s.seconds : 0;
    s.p50 = stats.latency.percentile(50);
    s.p90 = stats.latency.percentile(90);
    s.p99 = stats.latency.percentile(99);
    s.p999 = stats.latency.percentile(99.9);
    s.max = stats.latency.max();
    s.failures = stats.failures;
    for (auto n : stats.failures)
        s.errors += n;
    s.reconnects = stats.reconnects;
    return s;
}

std::string to_json(const summary& s) {
    std::string out;
    out.reserve(256);
    out += "{\"requests\":" + std::to_string(s.requests);
    out += ",\"seconds\":" + format_fixed(s.seconds, 3);
    out += ",\"rps\":" + format_fixed(s.rps, 1);
    out += ",\"status\":{";
    bool first = true;
    for (const auto& [code, count] : s.status) {
        if (!first) out += ',';
        first = false;
        out += '"' + std::to_string(code) + "\":" + std::to_string(count);
    }
    out += "},\"latency_us\":{";
    out += "\"p50\":" + std::to_string(s.p50);
    out += ",\"p90\":" + std::to_string(s.p90);
    out += ",\"p99\":" + std::to_string(s.p99);
    out += ",\"p999\":" + std::to_string(s.p999);
    out += ",\"max\":" + std::to_string(s.max);
    out += "},\"errors\":" + std::to_string(s.errors);
    // By kind as well: a connect failure is a request never sent, the other kinds are requests
    // sent that got no answer, and a test of a server restart must tell the two apart.
    out += ",\"failures\":{";
    for (std::size_t i = 0; i < failure_kinds; ++i) {
        if (i > 0) out += ',';
        out += '"';
        out += to_string(static_cast<failure>(i));
        out += "\":" + std::to_string(s.failures[i]);
    }
    out += '}';
    out += ",\"uncounted_200\":" + std::to_string(s.uncounted_200);
    if (s.verify) out += ",\"verify\":" + to_json(*s.verify);
    out += '}';
    return out;
}

std::string to_text(const summary& s) {
    std::string out;
    out += "requests      " + std::to_string(s.requests) + " in " + format_fixed(s.seconds, 3) +
           " s, " + format_fixed(s.rps, 1) + " req/s\n";
    out += "status       ";
    if (s.status.empty()) out += " none";
    for (std::size_t i = 0; i < s.status.size(); ++i) {
        out += i == 0 ? " " : ", ";
        out += std::to_string(s.status[i].first) + ": " + std::to_string(s.status[i].second);
    }
    out += '\n';
    out += "errors        " + std::to_string(s.errors);
    if (s.errors > 0) {
        out += " (";
        for (std::size_t i = 0; i < failure_kinds; ++i) {
            if (i > 0) out += ", ";
            out += to_string(static_cast<failure>(i));
            out += ' ' + std::to_string(s.failures[i]);
        }
        out += ')';
    }
    out += '\n';
    if (s.reconnects > 0) out += "reconnects    " + std::to_string(s.reconnects) + '\n';
    out += "uncounted     " + std::to_string(s.uncounted_200) +
           " (200s without X-RateLimit-Remaining)\n";
    out += "latency (us)  p50 " + std::to_string(s.p50) + ", p90 " + std::to_string(s.p90) +
           ", p99 " + std::to_string(s.p99) + ", p99.9 " + std::to_string(s.p999) + ", max " +
           std::to_string(s.max) + '\n';
    if (s.verify) out += to_text(*s.verify);
    return out;
}

std::optional<std::string> check_expectation(const expectation& expected, const summary& s) {
    auto list = [](const std::vector<std::pair<int, std::uint64_t>>& counts) {
        std::string out;
        for (const auto& [code, count] : counts) {
            if (!out.empty()) out += ',';
            out += std::to_string(code) + ':' + std::to_string(count);
        }
        return out.empty() ? std::string("nothing") : out;
    };

    // Zero counts in the expectation ("429:0") assert absence; compare without them.
    std::vector<std::pair<int, std::uint64_t>> wanted;
    for (const auto& c : expected.counts) {
        if (c.second != 0) wanted.push_back(c);
    }
    if (wanted == s.status && s.errors == 0) return std::nullopt;

    std::string msg = "expected " + list(expected.counts) + ", got " + list(s.status);
    if (s.errors > 0) msg += " and " + std::to_string(s.errors) + " errors";
    return msg;
}

}  // namespace sluice::load
