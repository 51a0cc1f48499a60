/* A growable NUL-terminated text that records a failed allocation instead of
 * reporting each one: after it, `failed` is set and further appends do
 * nothing, so a writer appends freely and checks once, when it takes the
 * text. Used by the report (HTML, SVG, CSV) and the world generator. */
#ifndef ES_UTIL_TEXT_BUF_H
#define ES_UTIL_TEXT_BUF_H

#include <stddef.h>

typedef struct es_buf {
    char *data;
    size_t len, cap;
    int failed;
} es_buf;

void es_buf_put(es_buf *b, const char *s, size_t n);
void es_buf_puts(es_buf *b, const char *s);
void es_buf_printf(es_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The text, handed over (malloc'ed; "" when nothing was appended), the
 * buffer emptied; NULL (and the buffer freed) after a failed append. */
char *es_buf_take(es_buf *b);
void es_buf_free(es_buf *b);

#endif
