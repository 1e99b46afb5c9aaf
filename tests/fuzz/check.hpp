#pragma once

#include <cstdio>
#include <cstdlib>

// A broken invariant must crash: libFuzzer keeps only inputs that crash, and saves the input
// that did. The message says which invariant, since the stack trace alone often does not.
#define SLUICE_FUZZ_CHECK(cond)                                                               \
    do {                                                                                      \
        if (!(cond)) {                                                                        \
            std::fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond); \
            std::abort();                                                                     \
        }                                                                                     \
    } while (0)
