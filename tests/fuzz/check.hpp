#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

// A broken invariant must crash: libFuzzer keeps only inputs that crash, and saves the input
// that did. The message says which invariant, since the stack trace alone often does not.
#define SLUICE_FUZZ_CHECK(cond)                                                               \
    do {                                                                                      \
        if (!(cond)) {                                                                        \
            std::fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond); \
            std::abort();                                                                     \
        }                                                                                     \
    } while (0)

namespace sluice::fuzz {

// xorshift64*, seeded from the input (seed_of): each input always splits the same way, and a
// mutated input splits differently.
struct rng {
    std::uint64_t s;
    std::uint64_t next() {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        return s * 0x2545F4914F6CDD1DULL;
    }
};

inline std::uint64_t seed_of(std::string_view data) {
    std::uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a
    for (const char c : data)
        h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
    return h | 1;
}

}  // namespace sluice::fuzz
