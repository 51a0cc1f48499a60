/* Small containers for the world generator: document lists and a string
 * set (for distinct questions). */
#include <stdlib.h>
#include <string.h>

#include "world/world.h"

int docs_add(world_docs *d, char *text) {
    if (!text) return -1;
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 64;
        char **t = realloc(d->text, cap * sizeof *t);
        if (!t) {
            free(text);
            return -1;
        }
        d->text = t;
        d->cap = cap;
    }
    d->text[d->n++] = text;
    return 0;
}

void docs_free(world_docs *d) {
    for (size_t i = 0; i < d->n; i++) free(d->text[i]);
    free(d->text);
    *d = (world_docs){0};
}

/* FNV-1a, 64 bits. */
static uint64_t hash_text(const char *s) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

static size_t set_find(const world_set *s, const char *text) {
    size_t i = (size_t)hash_text(text) & (s->cap - 1);
    while (s->slot[i] && strcmp(s->slot[i], text) != 0) i = (i + 1) & (s->cap - 1);
    return i;
}

static int set_grow(world_set *s) {
    size_t cap = s->cap ? s->cap * 2 : 1024;
    world_set bigger = {calloc(cap, sizeof(const char *)), 0, cap};
    if (!bigger.slot) return -1;
    for (size_t i = 0; i < s->cap; i++)
        if (s->slot[i]) bigger.slot[set_find(&bigger, s->slot[i])] = s->slot[i];
    bigger.n = s->n;
    free(s->slot);
    *s = bigger;
    return 0;
}

int set_add(world_set *s, const char *text) {
    if ((s->n + 1) * 2 > s->cap && set_grow(s)) return -1;
    size_t i = set_find(s, text);
    if (s->slot[i]) return 0;
    s->slot[i] = text;
    s->n++;
    return 1;
}

int set_has(const world_set *s, const char *text) {
    return s->cap && s->slot[set_find(s, text)] != NULL;
}

void set_free(world_set *s) {
    free(s->slot);
    *s = (world_set){0};
}
