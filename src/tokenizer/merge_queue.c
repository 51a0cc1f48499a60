/* The candidate-merge heap (see merge_queue.h). */
#include "tokenizer/merge_queue.h"

#include <stdlib.h>

/* 1 if a should pop before b. */
static int entry_before(const merge_entry *a, const merge_entry *b) {
    if (a->priority != b->priority) return a->priority > b->priority;
    return a->left < b->left;
}

int merge_queue_push(merge_queue *q, merge_entry e) {
    if (q->n == q->cap) {
        size_t cap = q->cap ? 2 * q->cap : 64;
        merge_entry *items = realloc(q->items, cap * sizeof *items);
        if (!items) return -1;
        q->items = items;
        q->cap = cap;
    }
    size_t i = q->n++;
    while (i > 0) { /* sift up */
        size_t parent = (i - 1) / 2;
        if (!entry_before(&e, &q->items[parent])) break;
        q->items[i] = q->items[parent];
        i = parent;
    }
    q->items[i] = e;
    return 0;
}

int merge_queue_pop(merge_queue *q, merge_entry *out) {
    if (q->n == 0) return 0;
    *out = q->items[0];
    merge_entry last = q->items[--q->n];
    size_t i = 0;
    for (;;) { /* sift the last entry down from the root */
        size_t child = 2 * i + 1;
        if (child >= q->n) break;
        if (child + 1 < q->n && entry_before(&q->items[child + 1], &q->items[child]))
            child++;
        if (!entry_before(&q->items[child], &last)) break;
        q->items[i] = q->items[child];
        i = child;
    }
    if (q->n > 0) q->items[i] = last;
    return 1;
}

void merge_queue_free(merge_queue *q) {
    free(q->items);
    q->items = NULL;
    q->n = q->cap = 0;
}
