/* Two small open-addressing hash tables used by the tokenizers:
 *  - piece_map: piece text -> token id, over texts the tokenizer already
 *    stores (keys are offsets into its text pool, nothing is copied);
 *  - pair_map: (left id, right id) -> (merge rank, merged id), for
 *    byte-level BPE's ranked merges.
 * Why not hsearch_r: its keys are NUL-terminated strings (pieces are byte
 * strings), it copies nothing but also cannot key on (pool, offset, length),
 * its capacity is fixed up front with no way to report a duplicate key, and
 * it is a GNU extension. Linear probing over a power-of-two table at most
 * 3/4 full is short, fast, and simple enough to read in one screen. */
#ifndef ES_TOKENIZER_PIECE_MAP_H
#define ES_TOKENIZER_PIECE_MAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct piece_map {
    int32_t *slots;          /* capacity slots, -1 empty, else a token id */
    uint32_t mask;           /* capacity - 1 (capacity a power of two) */
    const char *pool;        /* the tokenizer's text pool */
    const uint32_t *offset;  /* per id: start of its text in pool */
    const uint32_t *length;  /* per id: bytes of its text */
} piece_map;

/* Indexes ids 0..n-1. Returns 0; -1 on allocation failure; 1 if two ids
 * have the same text (then *dup_first < *dup_second are those ids). */
int piece_map_build(piece_map *m, const char *pool, const uint32_t *offset,
                    const uint32_t *length, int32_t n, int32_t *dup_first,
                    int32_t *dup_second);
/* The id whose text is exactly text[0..len), or -1. */
int32_t piece_map_find(const piece_map *m, const char *text, size_t len);
void piece_map_free(piece_map *m);

typedef struct pair_slot {
    uint64_t key;    /* (left << 32) | right; UINT64_MAX: empty */
    int32_t rank;    /* merge priority, lower first */
    int32_t merged;  /* id of the concatenation */
} pair_slot;

typedef struct pair_map {
    pair_slot *slots;
    uint32_t mask;
    uint32_t count;
} pair_map;

/* Sized for n_expected pairs (it never grows). Returns 0 or -1. */
int pair_map_init(pair_map *m, uint32_t n_expected);
/* Adds a pair unless present. Returns 1 if added, 0 if the pair was already
 * there (the earlier, lower rank is kept), -1 if the table is full. */
int pair_map_add(pair_map *m, int32_t left, int32_t right, int32_t rank,
                 int32_t merged);
/* The slot for (left, right), or NULL. */
const pair_slot *pair_map_find(const pair_map *m, int32_t left, int32_t right);
void pair_map_free(pair_map *m);

#endif
