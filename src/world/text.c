/* Small containers for the world generator: growing text buffers,
 * document lists and a string set (for distinct questions). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "world/world.h"

static int wbuf_reserve(world_buf *b, size_t extra) {
    if (b->oom) return -1;
    if (b->len + extra + 1 <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1) cap *= 2;
    char *d = realloc(b->data, cap);
    if (!d) {
        b->oom = 1;
        return -1;
    }
    b->data = d;
    b->cap = cap;
    return 0;
}

void wbuf_put(world_buf *b, const char *s, size_t n) {
    if (wbuf_reserve(b, n)) return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void wbuf_puts(world_buf *b, const char *s) { wbuf_put(b, s, strlen(s)); }

void wbuf_printf(world_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || wbuf_reserve(b, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

char *wbuf_take(world_buf *b) {
    if (!b->oom && !b->data) wbuf_put(b, "", 0);
    char *d = b->oom ? NULL : b->data;
    if (b->oom) free(b->data);
    *b = (world_buf){0};
    return d;
}

void wbuf_free(world_buf *b) {
    free(b->data);
    *b = (world_buf){0};
}

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
