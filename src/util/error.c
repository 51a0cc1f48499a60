/* es_fail: the one place where error messages are formatted; es_show: how
 * text taken from a file appears in them. */
#include "util/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int es_fail(es_error *err, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}

es_shown es_show(const char *s, size_t len) {
    es_shown out;
    size_t n = len;
    if (n > ES_SHOWN_MAX) { /* back up to the start of a UTF-8 character */
        n = ES_SHOWN_MAX;
        for (int k = 0; k < 3 && n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80; k++) n--;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        out.text[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
    }
    strcpy(out.text + n, n < len ? "..." : "");
    return out;
}
