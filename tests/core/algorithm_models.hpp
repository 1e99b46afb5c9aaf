#pragma once

// Reference models of the four limiter algorithms, written from their definitions and nothing
// else: each keeps the obvious state (every arrival, every window's count, the bucket's debt) and
// says whether `cost` units fit at a moment. The answers a script must give are derived from that
// predicate by brute force (remaining: the largest cost that still fits; retry_after: the first
// whole millisecond at which the cost fits), so the scripts' closed forms are checked, not copied.

#include <algorithm>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <ostream>
#include <string>

namespace sluice::test::model {

using i64 = std::int64_t;

struct rule {
    std::string algorithm;  // sliding-log | fixed-window | sliding-window | token-bucket
    i64 limit = 5;
    i64 window_ms = 1000;
    i64 burst = 5;  // token-bucket only
};

// The scripts' reply {allowed, remaining, reset_ms, retry_after_ms}.
struct outcome {
    bool allowed = false;
    i64 remaining = 0;
    i64 reset_ms = 0;
    i64 retry_ms = 0;
    bool operator==(const outcome&) const = default;
    friend std::ostream& operator<<(std::ostream& os, const outcome& o) {
        return os << "{" << o.allowed << ", " << o.remaining << ", " << o.reset_ms << ", "
                  << o.retry_ms << "}";
    }
};

inline i64 ceil_ms(i64 us) {
    return us <= 0 ? 0 : (us + 999) / 1000;
}

class limiter {
  public:
    virtual ~limiter() = default;
    // Would `cost` units be allowed at `now` (microseconds)? `now` never goes back.
    virtual bool fits(i64 now, const rule& r, i64 cost) const = 0;
    virtual void record(i64 now, const rule& r, i64 cost) = 0;
    // Until the state counts nothing any more (the reply's reset).
    virtual i64 reset_us(i64 now, const rule& r) const = 0;
    // The largest cost that could ever fit.
    virtual i64 capacity(const rule& r) const { return r.limit; }
};

// Every unit allowed, by arrival time; one counts while now - arrival < window.
class sliding_log : public limiter {
  public:
    bool fits(i64 now, const rule& r, i64 cost) const override {
        return in_window(now, r) + cost <= r.limit;
    }
    void record(i64 now, const rule& r, i64 cost) override {
        for (i64 i = 0; i < cost; ++i)
            arrivals_.push_back(now);
        while (!arrivals_.empty() && now - arrivals_.front() >= r.window_ms * 1000)
            arrivals_.pop_front();
    }
    i64 reset_us(i64 now, const rule& r) const override {
        for (i64 t : arrivals_)
            if (now - t < r.window_ms * 1000) return t + r.window_ms * 1000 - now;
        return 0;
    }

  private:
    i64 in_window(i64 now, const rule& r) const {
        return std::count_if(arrivals_.begin(), arrivals_.end(),
                             [&](i64 t) { return now - t < r.window_ms * 1000; });
    }
    std::deque<i64> arrivals_;
};

// Units allowed per aligned window n = [n * window, (n + 1) * window).
class fixed_window : public limiter {
  public:
    bool fits(i64 now, const rule& r, i64 cost) const override {
        return count(now / (r.window_ms * 1000)) + cost <= r.limit;
    }
    void record(i64 now, const rule& r, i64 cost) override {
        counts_[now / (r.window_ms * 1000)] += cost;
    }
    i64 reset_us(i64 now, const rule& r) const override {
        i64 w = r.window_ms * 1000;
        return count(now / w) > 0 ? w - now % w : 0;
    }

  protected:
    i64 count(i64 index) const {
        auto it = counts_.find(index);
        return it == counts_.end() ? 0 : it->second;
    }
    std::map<i64, i64> counts_;
};

// The same counts per aligned window; the estimate weighs the previous window by its overlap with
// the span of `window` ending now: previous * (window - elapsed) / window + current.
class sliding_window : public fixed_window {
  public:
    bool fits(i64 now, const rule& r, i64 cost) const override {
        i64 w = r.window_ms * 1000, index = now / w, elapsed = now % w;
        return count(index - 1) * (w - elapsed) + (count(index) + cost) * w <= r.limit * w;
    }
    i64 reset_us(i64 now, const rule& r) const override {
        i64 w = r.window_ms * 1000, index = now / w, elapsed = now % w;
        if (count(index) > 0) return 2 * w - elapsed;
        if (count(index - 1) > 0) return w - elapsed;
        return 0;
    }
};

// A bucket of `burst` tokens, one coming back every T = ceil(window / limit) microseconds, kept
// as its debt: the time until it is full again.
class token_bucket : public limiter {
  public:
    static i64 interval(const rule& r) { return (r.window_ms * 1000 + r.limit - 1) / r.limit; }
    bool fits(i64 now, const rule& r, i64 cost) const override {
        return debt(now) + cost * interval(r) <= r.burst * interval(r);
    }
    void record(i64 now, const rule& r, i64 cost) override {
        debt_ = debt(now) + cost * interval(r);
        last_ = now;
    }
    i64 reset_us(i64 now, const rule&) const override { return debt(now); }
    i64 capacity(const rule& r) const override { return r.burst; }

  private:
    i64 debt(i64 now) const { return std::max<i64>(0, debt_ - (now - last_)); }
    i64 debt_ = 0;
    i64 last_ = 0;
};

inline std::unique_ptr<limiter> make(const std::string& algorithm) {
    if (algorithm == "sliding-log") return std::make_unique<sliding_log>();
    if (algorithm == "fixed-window") return std::make_unique<fixed_window>();
    if (algorithm == "sliding-window") return std::make_unique<sliding_window>();
    return std::make_unique<token_bucket>();
}

// The largest cost that fits at `now` (0 when none does).
inline i64 remaining(const limiter& m, i64 now, const rule& r) {
    i64 x = 0;
    while (x < m.capacity(r) && m.fits(now, r, x + 1))
        ++x;
    return x;
}

// What the script must answer for a request of `cost` at `now`, recording it when allowed.
inline outcome decide(limiter& m, i64 now, const rule& r, i64 cost) {
    outcome o;
    if (m.fits(now, r, cost)) {
        m.record(now, r, cost);
        o.allowed = true;
        o.remaining = remaining(m, now, r);
        o.reset_ms = ceil_ms(m.reset_us(now, r));
        return o;
    }
    o.reset_ms = ceil_ms(m.reset_us(now, r));
    if (cost > m.capacity(r)) {
        o.retry_ms = r.window_ms;  // never: the scripts answer the window
        return o;
    }
    // The first whole millisecond from now at which it fits, with nothing else arriving.
    i64 bound = 3 * r.window_ms * std::max<i64>(1, r.burst / r.limit + 1) + 10;
    for (i64 ms = 1; ms <= bound; ++ms) {
        if (m.fits(now + ms * 1000, r, cost)) {
            o.retry_ms = ms;
            return o;
        }
    }
    o.retry_ms = -1;  // not found: a model bug, reported by the comparison
    return o;
}

}  // namespace sluice::test::model
