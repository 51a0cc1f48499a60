/* A binary max-heap of candidate merges, shared by both BPE kinds. Each
 * entry is a pair of adjacent symbols (left, right) with a priority: the
 * SentencePiece score of the merged piece (higher first), or minus the
 * merge rank for byte-level BPE (lower rank first). Equal priorities go to
 * the leftmost pair, as SentencePiece and Hugging Face tokenizers do.
 * Entries go stale when a neighbour merges; the encoders check two
 * caller-defined stamps (check_a, check_b) when they pop. Popping the best
 * pair instead of rescanning all pairs keeps encoding O(n log n). */
#ifndef ES_TOKENIZER_MERGE_QUEUE_H
#define ES_TOKENIZER_MERGE_QUEUE_H

#include <stddef.h>
#include <stdint.h>

typedef struct merge_entry {
    double priority;  /* higher pops first (exact for float scores and int32 ranks) */
    uint32_t left;    /* symbol index; lower pops first on equal priority */
    uint32_t right;
    int32_t check_a;  /* stamps the encoder compares to see if it is stale */
    int32_t check_b;
} merge_entry;

typedef struct merge_queue {
    merge_entry *items;
    size_t n, cap;
} merge_queue;

/* Returns 0, or -1 on allocation failure. */
int merge_queue_push(merge_queue *q, merge_entry e);
/* Removes the best entry into *out; 0 if the queue was empty. */
int merge_queue_pop(merge_queue *q, merge_entry *out);
void merge_queue_free(merge_queue *q);

#endif
