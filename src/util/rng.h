/* Small deterministic random number generators: splitmix64 to expand seeds
 * and xorshift64* for streams. A few lines each, reproducible on every
 * platform, and fast, which is all sampling and synthetic weights need (a
 * library such as GSL's generators would add a dependency for no gain). */
#ifndef ES_UTIL_RNG_H
#define ES_UTIL_RNG_H

#include <stdint.h>

/* splitmix64: a bijective mix; good for turning seeds into states. */
static inline uint64_t es_splitmix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* xorshift64*: the next value of a stream; the state must not be 0. */
static inline uint64_t es_xorshift64s(uint64_t *state) {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return *state * 0x2545f4914f6cdd1dull;
}

#endif
