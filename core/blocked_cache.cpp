#include "core/blocked_cache.hpp"

#include <bit>
#include <cstring>
#include <functional>

namespace sluice::core {

namespace {

std::uint64_t hash_of(std::string_view key) noexcept {
    // Never 0, so a zero hash never matches a slot by accident (length tells empty slots anyway).
    return std::hash<std::string_view>{}(key) | 1;
}

}  // namespace

blocked_cache::blocked_cache(std::size_t capacity) {
    if (capacity == 0) return;
    const std::size_t buckets = std::bit_ceil((capacity + ways - 1) / ways);
    slots_.resize(buckets * ways);
    mask_ = buckets - 1;
}

blocked_cache::slot* blocked_cache::lookup(std::string_view key, std::uint64_t hash) noexcept {
    slot* b = bucket_of(hash);
    for (std::size_t w = 0; w < ways; ++w) {
        slot& s = b[w];
        if (s.length == key.size() && s.hash == hash &&
            std::memcmp(s.key, key.data(), key.size()) == 0)
            return &s;
    }
    return nullptr;
}

const blocked_cache::entry* blocked_cache::find(std::string_view key,
                                                clock::time_point now) noexcept {
    if (slots_.empty() || key.empty() || key.size() > max_key) return nullptr;
    slot* s = lookup(key, hash_of(key));
    if (s == nullptr) return nullptr;
    if (now >= s->value.until) {
        s->length = 0;
        return nullptr;
    }
    return &s->value;
}

bool blocked_cache::insert(std::string_view key, const entry& e, clock::time_point now) noexcept {
    if (slots_.empty() || key.empty() || key.size() > max_key) return false;
    const std::uint64_t hash = hash_of(key);
    slot* s = lookup(key, hash);
    bool evicted = false;
    if (s == nullptr) {
        slot* b = bucket_of(hash);
        for (std::size_t w = 0; w < ways && s == nullptr; ++w) {
            if (b[w].length == 0 || now >= b[w].value.until) s = &b[w];
        }
        if (s == nullptr) {
            s = &b[0];
            for (std::size_t w = 1; w < ways; ++w) {
                if (b[w].value.until < s->value.until) s = &b[w];
            }
            evicted = true;
        }
        s->hash = hash;
        s->length = static_cast<std::uint8_t>(key.size());
        std::memcpy(s->key, key.data(), key.size());
    }
    s->value = e;
    return evicted;
}

void blocked_cache::erase(std::string_view key) noexcept {
    if (slots_.empty() || key.empty() || key.size() > max_key) return;
    if (slot* s = lookup(key, hash_of(key))) s->length = 0;
}

std::size_t blocked_cache::size() const noexcept {
    std::size_t n = 0;
    for (const slot& s : slots_)
        n += s.length != 0;
    return n;
}

bool blocked_entry_of(blocked_cache::clock::time_point sent, std::int64_t retry_after_ms,
                      std::int64_t reset_ms, blocked_cache::entry& out) noexcept {
    if (retry_after_ms <= 1) return false;
    out.until = sent + std::chrono::milliseconds(retry_after_ms - 1);
    out.retry_at = sent + std::chrono::milliseconds(retry_after_ms);
    out.reset_at = sent + std::chrono::milliseconds(reset_ms);
    return true;
}

std::int64_t remaining_ms(blocked_cache::clock::time_point at,
                          blocked_cache::clock::time_point now) noexcept {
    if (at <= now) return 0;
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(at - now).count();
    return (us + 999) / 1000;
}

}  // namespace sluice::core
