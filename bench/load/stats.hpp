#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "bench/load/options.hpp"
#include "bench/load/verify.hpp"

namespace sluice::load {

// Latencies in microseconds, kept in a log-linear histogram (the HdrHistogram layout): values
// below 256 us each have their own bucket; above, every power of two is split into 128 equal
// buckets, so a bucket is never wider than 1/128 of its lower bound, and reporting its midpoint
// is off by at most 0.4%.
//
// Chosen over storing every sample: the memory is fixed (34 KiB) however long a `-d` run lasts
// and however fast the server answers, recording is a shift and an increment with no
// allocation, and the per-thread histograms merge by adding counts. Exactness is lost only above
// 256 us, where 0.4% is far below the run-to-run noise of any real measurement.
class latency_histogram {
  public:
    static constexpr unsigned sub_bucket_bits = 7;
    // Values above this (12.7 days) are counted in the last bucket; max() stays exact.
    static constexpr std::uint64_t max_trackable = (std::uint64_t{1} << 40) - 1;
    static constexpr std::size_t bucket_count = 4352;  // bucket_of(max_trackable) + 1

    latency_histogram();

    void record(std::uint64_t us) noexcept;
    void merge(const latency_histogram& other);

    std::uint64_t count() const noexcept { return count_; }
    std::uint64_t min() const noexcept { return count_ == 0 ? 0 : min_; }
    std::uint64_t max() const noexcept { return max_; }

    // Nearest-rank percentile for p in (0, 100]: the smallest recorded value (to the bucket's
    // precision) that at least p% of the samples do not exceed. 0 when nothing was recorded.
    std::uint64_t percentile(double p) const noexcept;

    static std::size_t bucket_of(std::uint64_t us) noexcept;
    static std::uint64_t bucket_low(std::size_t bucket) noexcept;
    static std::uint64_t bucket_width(std::size_t bucket) noexcept;

  private:
    std::vector<std::uint64_t> counts_;
    std::uint64_t count_ = 0;
    std::uint64_t min_ = ~std::uint64_t{0};
    std::uint64_t max_ = 0;
};

// One point of a latency curve: `percentile`% of the samples took at most `latency_us`.
struct percentile_point {
    double percentile = 0;
    std::uint64_t latency_us = 0;

    friend bool operator==(const percentile_point&, const percentile_point&) = default;
};

// The curve --percentiles writes, in increasing order: the points a report quotes (0, 50, 75,
// 90, 95, 99, 99.5, 99.9, 99.95, 99.99, 99.999, 100), and with them HdrHistogram's points
// 100 * (1 - 2^-k), evenly spaced on the 1/(1-p) axis latency plots use, for as long as at least
// one sample lies beyond them: past that they would all be the maximum again. 0 and 100 are the
// exact minimum and maximum. Empty when nothing was recorded.
std::vector<percentile_point> percentile_curve(const latency_histogram& h);

// One line per point, "<percentile> <latency_us>\n", the percentile without trailing zeros
// ("99.9 1234"): what gnuplot and a two-column reader take as they are.
std::string format_percentiles(std::span<const percentile_point> curve);

// Why a request produced no status code.
enum class failure : std::size_t {
    connect,   // no connection could be (re)opened
    timeout,   // no complete response within --timeout
    closed,    // the server closed or reset the connection before a complete response
    protocol,  // the bytes were not an HTTP/1.1 response
};
inline constexpr std::size_t failure_kinds = 4;
const char* to_string(failure f) noexcept;

// What one event-loop thread observed. Written by that thread only, merged after the run.
struct run_stats {
    latency_histogram latency;
    std::array<std::uint64_t, 1000> status{};  // indexed by status code, 100..999
    std::array<std::uint64_t, failure_kinds> failures{};
    std::uint64_t reconnects = 0;

    // A complete response. A code outside 100..999 cannot come from a parsed status line; it is
    // counted as a protocol failure rather than trusted.
    void record(int status_code, std::uint64_t latency_us) noexcept;
    void fail(failure f) noexcept { ++failures[static_cast<std::size_t>(f)]; }
    void merge(const run_stats& other);
};

// The report: what --json prints, plus the details only the text form shows.
struct summary {
    std::uint64_t requests = 0;  // responses received, whatever their status
    double seconds = 0;
    double rps = 0;
    std::vector<std::pair<int, std::uint64_t>> status;  // sorted by code, zero counts left out
    std::uint64_t p50 = 0;
    std::uint64_t p90 = 0;
    std::uint64_t p99 = 0;
    std::uint64_t p999 = 0;
    std::uint64_t max = 0;
    std::uint64_t errors = 0;
    std::array<std::uint64_t, failure_kinds> failures{};
    std::uint64_t reconnects = 0;
    // Not filled by summarize(): they come from the answer_log.
    std::uint64_t uncounted_200 = 0;  // 200s without X-RateLimit-Remaining
    std::optional<verify_report> verify;
};

summary summarize(const run_stats& stats, std::chrono::nanoseconds elapsed);

// One line: {"requests":..,"seconds":..,"rps":..,"status":{..},"latency_us":{..},"errors":..,
// "failures":{"connect":..,"timeout":..,"closed":..,"protocol":..},"uncounted_200":..} and, with
// --verify-limit, "verify":{..} last.
std::string to_json(const summary& s);
std::string to_text(const summary& s);

// Nothing when the run ended with exactly the expected status counts (a code not mentioned must
// not occur at all) and no errors; otherwise a sentence saying what differed.
std::optional<std::string> check_expectation(const expectation& expected, const summary& s);

}  // namespace sluice::load
