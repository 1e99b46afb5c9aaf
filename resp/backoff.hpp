#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>

namespace sluice::resp {

// How long to wait before the next connection attempt: exponential, from `min` doubling to
// `max`, with jitter drawn from [delay/2, delay]. Gateways that lost the same Redis at the same
// moment must not all come back at the same moment (the thundering herd), and half the delay as
// a floor keeps the average close to the nominal step.
class backoff {
  public:
    backoff(std::chrono::milliseconds min, std::chrono::milliseconds max,
            std::uint64_t seed) noexcept
        : min_{std::max<std::int64_t>(min.count(), 1)},
          max_{std::max<std::int64_t>(max.count(), min_)},
          rng_{seed} {}

    // The delay before the next attempt; each call after a failure doubles the step.
    std::chrono::milliseconds next() noexcept {
        const std::int64_t step = std::min<std::int64_t>(min_ << std::min(attempt_, 20u), max_);
        ++attempt_;
        const std::int64_t floor = step / 2;
        const auto spread = static_cast<std::uint64_t>(step - floor + 1);
        return std::chrono::milliseconds(floor + static_cast<std::int64_t>(random() % spread));
    }

    // A link came up: the next outage starts again from `min`.
    void reset() noexcept { attempt_ = 0; }
    unsigned attempts() const noexcept { return attempt_; }

  private:
    std::uint64_t random() noexcept {  // splitmix64: tiny, fast, good enough for jitter
        std::uint64_t z = (rng_ += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }

    std::int64_t min_;
    std::int64_t max_;
    std::uint64_t rng_;
    unsigned attempt_ = 0;
};

}  // namespace sluice::resp
