/* es_fail: the one place where error messages are formatted. */
#include "util/error.h"

#include <stdarg.h>
#include <stdio.h>

int es_fail(es_error *err, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}
