#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include "bench/load/options.hpp"

namespace sluice::load {

// The bytes of the GET request a connection sends, built once. With a key header, only the
// key's digits change from one request to the next: the buffer is reserved for the longest key,
// so with_key() copies a few bytes and never allocates.
class request_writer {
  public:
    // An empty `key_header` sends no key.
    request_writer(const target& t, std::string_view key_header);

    std::string_view plain() const noexcept { return plain_; }
    // The request carrying `key_header: k<key>`.
    std::string_view with_key(std::uint64_t key) noexcept;

  private:
    std::string plain_;
    std::string keyed_;
    std::size_t prefix_ = 0;  // keyed_ up to and including "NAME: k"
};

// Uniform keys in 0..keys-1 from splitmix64: a few instructions per draw, no shared state, so
// every connection owns one.
class key_picker {
  public:
    key_picker(std::uint64_t seed, std::uint64_t keys) noexcept : state_(seed), keys_(keys) {}

    // With `hot_keys` > 0, a share `hot_share` of the draws is one of the keys
    // keys..keys+hot_keys-1 instead.
    key_picker(std::uint64_t seed, std::uint64_t keys, std::uint64_t hot_keys,
               double hot_share) noexcept
        : state_(seed), keys_(keys), hot_keys_(hot_keys) {
        constexpr double two_to_64 = 18446744073709551616.0;
        if (hot_keys == 0 || hot_share <= 0) {
            hot_keys_ = 0;
        } else if (hot_share * two_to_64 >= two_to_64) {
            always_hot_ = true;
        } else {
            hot_below_ = static_cast<std::uint64_t>(hot_share * two_to_64);
        }
    }

    std::uint64_t next() noexcept {
        if (hot_keys_ > 0 && (always_hot_ || bits() < hot_below_)) {
            return keys_ + scale(bits(), hot_keys_);
        }
        return scale(bits(), keys_);
    }

  private:
    std::uint64_t bits() noexcept {
        std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }

    // Lemire's multiply-shift maps 64 random bits onto the range without a division; the bias
    // is at most n / 2^64.
    static std::uint64_t scale(std::uint64_t z, std::uint64_t n) noexcept {
        return static_cast<std::uint64_t>((static_cast<unsigned __int128>(z) * n) >> 64);
    }

    std::uint64_t state_;
    std::uint64_t keys_;
    std::uint64_t hot_keys_ = 0;
    std::uint64_t hot_below_ = 0;  // a draw below this picks a hot key
    bool always_hot_ = false;
};

// --key-seq: request i of the run, counted across every connection and thread, gets key
// i mod keys. One shared counter rather than a stride per connection: connections do not keep
// the same pace, so with strides `-n K --keys K` would send some keys twice and others never.
// The counter orders nothing, so a relaxed increment is all a request pays; it sits on a cache
// line of its own so that it does not drag the run's other shared state along.
class key_sequence {
  public:
    explicit key_sequence(std::uint64_t keys) noexcept : keys_(std::max<std::uint64_t>(keys, 1)) {}

    std::uint64_t next() noexcept { return next_.fetch_add(1, std::memory_order_relaxed) % keys_; }

  private:
    alignas(64) std::atomic<std::uint64_t> next_{0};
    std::uint64_t keys_;
};

}  // namespace sluice::load
