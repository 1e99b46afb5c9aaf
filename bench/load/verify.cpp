#include "bench/load/verify.hpp"

#include <algorithm>
#include <cstdio>
#include <limits>

namespace sluice::load {

namespace {

constexpr std::int64_t ns_per_us = 1'000;
constexpr std::int64_t ns_per_ms = 1'000'000;

// Rounded up: the text and the JSON state a span the decisions certainly fit in.
std::int64_t ceil_ms(std::chrono::nanoseconds d) {
    return (d.count() + ns_per_ms - 1) / ns_per_ms;
}

// Milliseconds as a JSON number: an integer when whole, else with the microseconds.
std::string ms_number(std::chrono::nanoseconds d) {
    std::int64_t us = d.count() / ns_per_us;
    std::string out = std::to_string(us / 1'000);
    if (us % 1'000 != 0) {
        char frac[8];
        std::snprintf(frac, sizeof frac, ".%03lld", static_cast<long long>(us % 1'000));
        out += frac;
        while (out.back() == '0')
            out.pop_back();
    }
    return out;
}

// A span in seconds with milliseconds, rounded up: "9.876s".
std::string seconds_text(std::chrono::nanoseconds d) {
    std::int64_t ms = ceil_ms(d);
    char buf[48];
    std::snprintf(buf, sizeof buf, "%lld.%03llds", static_cast<long long>(ms / 1'000),
                  static_cast<long long>(ms % 1'000));
    return buf;
}

std::string count_of(std::uint64_t n, const char* one, const char* many) {
    return std::to_string(n) + ' ' + (n == 1 ? one : many);
}

std::string limit_text(const limit_check& c) {
    return std::to_string(c.limit) + '/' + format_duration(c.window) + ", tolerance " +
           format_duration(c.tolerance);
}

std::string worst_text(const verify_report& r) {
    return count_of(r.worst_count, "counted 200", "counted 200s") + " within " +
           seconds_text(r.worst_span);
}

}  // namespace

void answer_log::merge(answer_log& other) {
    uncounted_ += other.uncounted_;
    if (counted_.empty()) {
        counted_.swap(other.counted_);
    } else {
        counted_.insert(counted_.end(), other.counted_.begin(), other.counted_.end());
    }
    // Freed at once: the records of all threads together may be tens of megabytes.
    std::vector<counted_response>().swap(other.counted_);
    other.uncounted_ = 0;
}

// certain: a set of counted 200s certainly fits in a span shorter than `usable` exactly when,
// with i its earliest sender, every member j has sent_j >= sent_i and received_j < sent_i +
// usable. So the answer is the largest number of requests one start i covers that way, and the
// key violates the limit exactly when that number exceeds it (N + 1 covered by one start are
// N + 1 certainly inside). Request j is covered by the starts with sent_i in
// (received_j - usable, sent_j]: a contiguous run of the sorted starts, found by two binary
// searches and added to a difference array.
//
// span: for the count c found above, the shortest max(received) - sent_i over sets of c. With the
// starts taken from the latest back, a max-heap keeps the c smallest receive times among the
// requests sent at or after the current one; its top is the best set for that start. Of several
// starts sent at the same moment the last one taken sees them all, and the others cannot do
// better than it.
key_result check_key(std::span<const counted_response> by_sent, std::chrono::nanoseconds usable,
                     key_scratch& scratch) {
    const std::int64_t usable_ns = usable.count();
    const std::size_t k = by_sent.size();
    auto first_after = [&](std::int64_t t) {
        return static_cast<std::size_t>(
            std::upper_bound(by_sent.begin(), by_sent.end(), t,
                             [](std::int64_t v, const counted_response& c) { return v < c.sent; }) -
            by_sent.begin());
    };

    auto& diff = scratch.diff;
    diff.assign(k + 1, 0);
    for (const counted_response& c : by_sent) {
        std::size_t lo = first_after(c.received - usable_ns);
        std::size_t hi = first_after(c.sent);
        if (lo < hi) {
            ++diff[lo];
            --diff[hi];
        }
    }
    key_result r;
    std::int64_t covered = 0;
    for (std::size_t i = 0; i < k; ++i) {
        covered += diff[i];
        r.certain = std::max(r.certain, static_cast<std::uint64_t>(covered));
    }
    if (r.certain == 0) return r;

    auto& heap = scratch.heap;
    heap.clear();
    std::int64_t best = std::numeric_limits<std::int64_t>::max();
    for (std::size_t i = k; i-- > 0;) {
        heap.push_back(by_sent[i].received);
        std::push_heap(heap.begin(), heap.end());
        if (heap.size() > r.certain) {
            std::pop_heap(heap.begin(), heap.end());
            heap.pop_back();
        }
        if (heap.size() == r.certain) best = std::min(best, heap.front() - by_sent[i].sent);
    }
    r.span = std::chrono::nanoseconds(best);
    return r;
}

verify_report verify(std::vector<counted_response>& log, const limit_check& check, bool keyed,
                     std::uint64_t uncounted) {
    std::sort(log.begin(), log.end(), [](const counted_response& a, const counted_response& b) {
        if (a.key != b.key) return a.key < b.key;
        if (a.sent != b.sent) return a.sent < b.sent;
        return a.received < b.received;
    });

    verify_report rep;
    rep.check = check;
    rep.keyed = keyed;
    rep.counted = log.size();
    rep.uncounted = uncounted;
    const auto usable = check.window - check.tolerance;
    key_scratch scratch;
    for (std::size_t begin = 0; begin < log.size();) {
        std::size_t end = begin + 1;
        while (end < log.size() && log[end].key == log[begin].key)
            ++end;
        key_result kr = check_key(
            std::span<const counted_response>(log).subspan(begin, end - begin), usable, scratch);
        ++rep.keys;
        if (kr.certain > check.limit) ++rep.violations;
        // Keys come in increasing order, so a full tie keeps the smaller key.
        if (kr.certain > 0 && (kr.certain > rep.worst_count ||
                               (kr.certain == rep.worst_count && kr.span < rep.worst_span))) {
            rep.worst_key = log[begin].key;
            rep.worst_count = kr.certain;
            rep.worst_span = kr.span;
        }
        begin = end;
    }
    return rep;
}

std::string key_name(std::uint64_t key, bool keyed) {
    return keyed ? "k" + std::to_string(key) : std::string("(all)");
}

std::string format_duration(std::chrono::nanoseconds d) {
    static constexpr std::pair<std::int64_t, const char*> units[] = {
        {3'600'000'000'000, "h"}, {60'000'000'000, "m"}, {1'000'000'000, "s"},
        {ns_per_ms, "ms"},        {ns_per_us, "us"},     {1, "ns"}};
    if (d.count() == 0) return "0ms";
    for (const auto& [scale, name] : units) {
        if (d.count() % scale == 0) return std::to_string(d.count() / scale) + name;
    }
    return std::to_string(d.count()) + "ns";
}

std::string to_json(const verify_report& r) {
    std::string out;
    out.reserve(200);
    out += "{\"limit\":" + std::to_string(r.check.limit);
    out += ",\"window_ms\":" + ms_number(r.check.window);
    out += ",\"tolerance_ms\":" + ms_number(r.check.tolerance);
    out += ",\"keys\":" + std::to_string(r.keys);
    out += ",\"counted\":" + std::to_string(r.counted);
    out += ",\"uncounted\":" + std::to_string(r.uncounted);
    out += ",\"violations\":" + std::to_string(r.violations);
    out += ",\"worst_key\":";
    out += r.worst_key ? '"' + key_name(*r.worst_key, r.keyed) + '"' : std::string("null");
    out += ",\"worst_count\":" + std::to_string(r.worst_count);
    out += ",\"worst_span_ms\":" + std::to_string(ceil_ms(r.worst_span));
    out += '}';
    return out;
}

std::string to_text(const verify_report& r) {
    std::string out = "verify-limit: " + limit_text(r.check) + ": ";
    std::string counts = count_of(r.counted, "counted 200", "counted 200s") + " over " +
                         count_of(r.keys, "key", "keys") + ", " +
                         count_of(r.uncounted, "uncounted 200", "uncounted 200s");
    if (!r.ok()) {
        out += "VIOLATION — " + *violation(r) + "; " + counts;
    } else {
        out += "ok — " + counts;
        if (r.worst_key) {
            out += "; worst key " + key_name(*r.worst_key, r.keyed) + ": " + worst_text(r);
        } else if (r.counted > 0) {
            // Every answer took window - tolerance or longer: no set of them is certainly close.
            out += "; none answered within " + format_duration(r.check.window - r.check.tolerance) +
                   ", nothing to check";
        }
    }
    out += '\n';
    return out;
}

std::optional<std::string> violation(const verify_report& r) {
    if (r.ok() || !r.worst_key) return std::nullopt;
    return "key " + key_name(*r.worst_key, r.keyed) + ": " + worst_text(r) + " (limit " +
           std::to_string(r.check.limit) + " per " + format_duration(r.check.window) + "); " +
           std::to_string(r.violations) + " of " + count_of(r.keys, "key", "keys") +
           " over the limit";
}

}  // namespace sluice::load
