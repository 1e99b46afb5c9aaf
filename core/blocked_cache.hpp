#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace sluice::core {

// The clients Redis has rejected until a known time, remembered by one shard so that their
// further requests before that time are answered without Redis (README "The blocked-client
// cache" says why that is exact for each algorithm).
//
// A fixed table of `capacity` entries allocated once: 4-way buckets, looked up by a hash of the
// Redis key and compared byte for byte, so a lookup neither allocates nor locks and a hash
// collision can never answer for another client. When a bucket is full the entry that would
// unblock first makes room. Keys longer than max_key are not remembered (they always go to Redis).
//
// Pure and single-threaded: one per shard (and per rules version), on the shard's loop.
class blocked_cache {
  public:
    using clock = std::chrono::steady_clock;

    struct entry {
        // Redis rejects every request of this key before `until`: no answer it could give before
        // then is an allowance (the wait Redis computed, counted from before Redis read its clock,
        // less the millisecond its rounding up may have added).
        clock::time_point until;
        // What the answers show, counting down: the retry and the reset Redis announced.
        clock::time_point retry_at;
        clock::time_point reset_at;
    };

    static constexpr std::size_t ways = 4;
    static constexpr std::size_t max_key = 118;

    // `capacity` entries (rounded up to a multiple of `ways`, a power of two buckets); 0 is off:
    // nothing is remembered.
    explicit blocked_cache(std::size_t capacity);

    bool enabled() const noexcept { return !slots_.empty(); }
    std::size_t capacity() const noexcept { return slots_.size(); }

    // The entry of `key` while it is blocked at `now`, or null. An entry found expired is freed.
    const entry* find(std::string_view key, clock::time_point now) noexcept;

    // Remembers that `key` is blocked as `e` says. Returns true when a live entry of another key
    // was dropped to make room (an eviction).
    bool insert(std::string_view key, const entry& e, clock::time_point now) noexcept;

    // Forgets `key` (Redis allowed it: an entry would be stale).
    void erase(std::string_view key) noexcept;

    std::size_t size() const noexcept;  // live or not yet found expired; for tests

  private:
    struct slot {
        std::uint64_t hash = 0;
        std::uint8_t length = 0;  // 0: empty
        char key[max_key];
        entry value;
    };

    slot* bucket_of(std::uint64_t hash) noexcept { return &slots_[(hash & mask_) * ways]; }
    slot* lookup(std::string_view key, std::uint64_t hash) noexcept;

    std::vector<slot> slots_;
    std::uint64_t mask_ = 0;  // buckets - 1
};

// The cache's verdict on Redis's rejection that arrived for a batch sent at `sent`: the entry
// to remember, or none when the wait is too short to be worth it (1 ms or less: Redis rounds
// waits up to the millisecond, so nothing is known beyond that).
bool blocked_entry_of(blocked_cache::clock::time_point sent, std::int64_t retry_after_ms,
                      std::int64_t reset_ms, blocked_cache::entry& out) noexcept;

// What an answer from the cache shows at `now`: milliseconds until the retry and the reset,
// rounded up, the retry at least 1 (a 429 never says "retry now").
std::int64_t remaining_ms(blocked_cache::clock::time_point at,
                          blocked_cache::clock::time_point now) noexcept;

}  // namespace sluice::core
