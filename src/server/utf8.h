/* UTF-8 helpers for the server's JSON: tokens can end in the middle of a
 * character (byte-fallback tokens), and JSON text must be valid UTF-8. */
#ifndef ES_SERVER_UTF8_H
#define ES_SERVER_UTF8_H

#include <stddef.h>

/* len minus a trailing, still incomplete character. */
size_t utf8_complete_prefix(const char *s, size_t len);
/* A NUL-terminated copy with each invalid byte replaced by U+FFFD; NULL when
 * out of memory. */
char *utf8_clean(const char *s, size_t len);

#endif
