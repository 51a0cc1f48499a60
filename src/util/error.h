/* Errors are values: a function that can fail takes an es_error* and returns
 * a status; the message is written once, where the failure is found, and
 * reported once, at the edge (the CLI). No globals, no printing from the
 * library. */
#ifndef ES_UTIL_ERROR_H
#define ES_UTIL_ERROR_H

#include <stddef.h>

#include "entroscope.h"

/* Formats the message into err (if err is not NULL) and returns -1, so that
 * callers can write `return es_fail(err, "%s: truncated", path);`. */
int es_fail(es_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Text from a file (a key, a tensor name, a piece) as a message shows it:
 * at most ES_SHOWN_MAX bytes, control bytes as '?' so that the message stays
 * one line, a cut never splitting a UTF-8 character and marked "...". */
#define ES_SHOWN_MAX 64
typedef struct es_shown {
    char text[ES_SHOWN_MAX + 4];
} es_shown;
es_shown es_show(const char *s, size_t len);

#endif
