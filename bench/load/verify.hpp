#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace sluice::load {

// `--verify-limit N/DURATION`: checks the gateway's sliding-window guarantee from outside. Pure:
// intervals in, verdict out, no I/O and no clock.
//
// Redis decides each request at a moment t that the client cannot see, but that lies inside
// [sent, received] of that request on the client's clock: the request cannot be decided before
// its first byte left, and its answer cannot arrive before it was decided. The guarantee is that
// N + 1 allowed requests of one key never fit in a span shorter than the window. A set of
// requests is therefore proof of a violation only when its decisions are certainly that close
// together, whatever they were inside their intervals: when max(received) - min(sent) of N + 1
// counted requests of one key is shorter than window - tolerance. Any doubt goes to the server,
// so a slow network or a stalled client can hide a violation but never invent one.
//
// The tolerance covers what the client's clock cannot know about the server's. The script times
// its log with Redis's TIME, the wall clock in whole microseconds, against a window of whole
// milliseconds; the client uses its steady clock. A span of d on the client's clock is
// d * (1 + e) on a server clock that runs e faster, so the check stays sound while the tolerance
// is at least e * window plus the rounding. On one host both clocks follow the same
// NTP-disciplined rate and part only when the wall clock is stepped, so the default 2 ms is the
// rounding with ample room; a Redis on another host may differ by NTP's largest slew, 500 ppm,
// which is 0.5 ms per second of window.

// One counted 200: a response with status 200 that carried X-RateLimit-Remaining, i.e. one the
// limiter recorded. Times are nanoseconds on the client's steady clock since the run started:
// `sent` before the first byte of the request was written, `received` after the last byte of
// the response was read. 24 bytes each; nothing else of a run is kept for the check.
struct counted_response {
    std::uint64_t key = 0;
    std::int64_t sent = 0;
    std::int64_t received = 0;
};

// What a run keeps for the check, fed with every complete response; one per event-loop thread,
// merged after the run. Only a 200 with X-RateLimit-Remaining is an allowed request the limiter
// recorded: a 429 (or any other status) was not allowed, and a 200 without the header was served
// without a decision (fail-open), so neither may count against the limit.
class answer_log {
  public:
    // Without `keep`, the counted 200s are not stored: the uncounted ones are always counted,
    // since the report shows them with or without --verify-limit.
    explicit answer_log(bool keep = false) : keep_(keep) {}

    void add(int status, bool has_remaining, std::uint64_t key, std::int64_t sent,
             std::int64_t received) {
        if (status != 200) return;
        if (!has_remaining) {
            ++uncounted_;
            return;
        }
        if (keep_) counted_.push_back({key, sent, received});
    }
    // Takes the other's records.
    void merge(answer_log& other);

    std::uint64_t uncounted() const noexcept { return uncounted_; }
    std::vector<counted_response>& counted() noexcept { return counted_; }

  private:
    bool keep_;
    std::uint64_t uncounted_ = 0;
    std::vector<counted_response> counted_;
};

struct limit_check {
    std::uint64_t limit = 0;
    std::chrono::nanoseconds window{0};
    std::chrono::nanoseconds tolerance{0};  // shorter than the window
};

// The worst of one key.
struct key_result {
    // The most counted 200s that certainly fit in a span shorter than window - tolerance: more
    // than the limit is a violation.
    std::uint64_t certain = 0;
    // The shortest span that certainly holds `certain` of them (max received - min sent); 0
    // when `certain` is 0.
    std::chrono::nanoseconds span{0};
};

// One key's counted 200s, sorted by `sent`; `usable` is window - tolerance, positive.
// O(k log k) time and O(k) scratch, which `scratch` keeps between calls.
struct key_scratch {
    std::vector<std::int64_t> diff;
    std::vector<std::int64_t> heap;
};
key_result check_key(std::span<const counted_response> by_sent, std::chrono::nanoseconds usable,
                     key_scratch& scratch);

struct verify_report {
    limit_check check;
    bool keyed = false;            // false: every request had the same key, "(all)"
    std::uint64_t keys = 0;        // keys with at least one counted 200
    std::uint64_t counted = 0;     // counted 200s
    std::uint64_t uncounted = 0;   // 200s without X-RateLimit-Remaining (fail-open answers)
    std::uint64_t violations = 0;  // keys with more than `limit` certainly within the window
    // The key with the largest `certain`, the shortest span breaking ties; none while no key
    // has a counted 200 that certainly fits.
    std::optional<std::uint64_t> worst_key;
    std::uint64_t worst_count = 0;
    std::chrono::nanoseconds worst_span{0};

    bool ok() const noexcept { return violations == 0; }
};

// Sorts `log` by key and send time, then checks every key. O(n log n) for n counted 200s.
verify_report verify(std::vector<counted_response>& log, const limit_check& check, bool keyed,
                     std::uint64_t uncounted);

// "k42" for key 42 of --keys, "(all)" without --keys.
std::string key_name(std::uint64_t key, bool keyed);
// The largest unit that states `d` exactly: "10s", "2ms", "1500us", "0ms".
std::string format_duration(std::chrono::nanoseconds d);

// The "verify" member of the JSON report: {"limit":5,"window_ms":10000,...}.
std::string to_json(const verify_report& r);
// One line, ending in '\n': "verify-limit: 5/10s, tolerance 2ms: ok — ...".
std::string to_text(const verify_report& r);
// Nothing when the limit held; otherwise the sentence that says where it did not.
std::optional<std::string> violation(const verify_report& r);

}  // namespace sluice::load
