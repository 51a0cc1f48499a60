/* The tokenizer's hash tables (see piece_map.h for why they exist). Both
 * use linear probing in a power-of-two table kept at most 3/4 full, so a
 * lookup touches one or two cache lines on average. */
#include "tokenizer/piece_map.h"

#include <stdlib.h>
#include <string.h>

/* FNV-1a, 64 bit: pieces are short (a few bytes), so a byte loop is fine. */
static uint64_t hash_bytes(const char *s, size_t len) {
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h ^ (h >> 29);
}

/* Smallest power of two >= 4n/3 (at least 16): at most 3/4 full, where
 * linear probing still averages under three probes for a hit. 0 if it
 * would overflow. */
static uint32_t table_capacity(uint64_t n) {
    uint64_t cap = 16;
    while (3 * cap < 4 * n) cap <<= 1;
    return cap > (1ull << 31) ? 0 : (uint32_t)cap;
}

int piece_map_build(piece_map *m, const char *pool, const uint32_t *offset,
                    const uint32_t *length, int32_t n, int32_t *dup_first,
                    int32_t *dup_second) {
    memset(m, 0, sizeof *m);
    uint32_t cap = table_capacity((uint64_t)(n > 0 ? n : 0));
    if (!cap) return -1;
    m->slots = malloc((size_t)cap * sizeof *m->slots);
    if (!m->slots) return -1;
    memset(m->slots, 0xff, (size_t)cap * sizeof *m->slots); /* all -1 */
    m->mask = cap - 1;
    m->pool = pool;
    m->offset = offset;
    m->length = length;
    for (int32_t id = 0; id < n; id++) {
        const char *text = pool + offset[id];
        uint32_t i = (uint32_t)hash_bytes(text, length[id]) & m->mask;
        for (;; i = (i + 1) & m->mask) {
            int32_t other = m->slots[i];
            if (other < 0) {
                m->slots[i] = id;
                break;
            }
            if (length[other] == length[id] &&
                memcmp(pool + offset[other], text, length[id]) == 0) {
                *dup_first = other;
                *dup_second = id;
                return 1;
            }
        }
    }
    return 0;
}

int32_t piece_map_find(const piece_map *m, const char *text, size_t len) {
    if (!m->slots) return -1;
    uint32_t i = (uint32_t)hash_bytes(text, len) & m->mask;
    for (;; i = (i + 1) & m->mask) {
        int32_t id = m->slots[i];
        if (id < 0) return -1;
        if (m->length[id] == len && memcmp(m->pool + m->offset[id], text, len) == 0)
            return id;
    }
}

void piece_map_free(piece_map *m) {
    free(m->slots);
    memset(m, 0, sizeof *m);
}

/* splitmix64's finaliser: every input bit reaches the low bits we use. */
static uint32_t hash_pair(uint64_t key) {
    key = (key ^ (key >> 30)) * 0xBF58476D1CE4E5B9ull;
    key = (key ^ (key >> 27)) * 0x94D049BB133111EBull;
    return (uint32_t)(key ^ (key >> 31));
}

int pair_map_init(pair_map *m, uint32_t n_expected) {
    memset(m, 0, sizeof *m);
    uint32_t cap = table_capacity(n_expected);
    if (!cap) return -1;
    m->slots = malloc((size_t)cap * sizeof *m->slots);
    if (!m->slots) return -1;
    for (uint32_t i = 0; i < cap; i++) m->slots[i].key = UINT64_MAX;
    m->mask = cap - 1;
    return 0;
}

int pair_map_add(pair_map *m, int32_t left, int32_t right, int32_t rank,
                 int32_t merged) {
    if ((uint64_t)4 * (m->count + 1) > (uint64_t)3 * (m->mask + 1))
        return -1; /* keep it at most 3/4 full */
    uint64_t key = ((uint64_t)(uint32_t)left << 32) | (uint32_t)right;
    uint32_t i = hash_pair(key) & m->mask;
    for (;; i = (i + 1) & m->mask) {
        if (m->slots[i].key == key) return 0;
        if (m->slots[i].key == UINT64_MAX) break;
    }
    m->slots[i] = (pair_slot){key, rank, merged};
    m->count++;
    return 1;
}

const pair_slot *pair_map_find(const pair_map *m, int32_t left, int32_t right) {
    if (!m->slots) return NULL;
    uint64_t key = ((uint64_t)(uint32_t)left << 32) | (uint32_t)right;
    uint32_t i = hash_pair(key) & m->mask;
    for (;; i = (i + 1) & m->mask) {
        if (m->slots[i].key == key) return &m->slots[i];
        if (m->slots[i].key == UINT64_MAX) return NULL;
    }
}

void pair_map_free(pair_map *m) {
    free(m->slots);
    memset(m, 0, sizeof *m);
}
