/* The growable text buffer (text_buf.h). */
#include "util/text_buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Room for `extra` more bytes and the NUL; -1 (and failed set) when memory runs out. */
static int reserve(es_buf *b, size_t extra) {
    if (b->failed) return -1;
    if (b->len + extra + 1 <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1) cap *= 2;
    char *data = realloc(b->data, cap);
    if (!data) {
        b->failed = 1;
        return -1;
    }
    b->data = data;
    b->cap = cap;
    return 0;
}

void es_buf_put(es_buf *b, const char *s, size_t n) {
    if (reserve(b, n) < 0) return;
    if (n) memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void es_buf_puts(es_buf *b, const char *s) { es_buf_put(b, s, strlen(s)); }

void es_buf_printf(es_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = 1;
        return;
    }
    if (reserve(b, (size_t)n) < 0) return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

char *es_buf_take(es_buf *b) {
    if (b->failed || reserve(b, 0) < 0) {
        es_buf_free(b);
        return NULL;
    }
    b->data[b->len] = '\0';
    char *text = b->data;
    *b = (es_buf){0};
    return text;
}

void es_buf_free(es_buf *b) {
    free(b->data);
    *b = (es_buf){0};
}
