/* The number scanner shared by extraction, grading and the arithmetic
 * checker (see number.h for what counts as a number and the canonical form). */
#include "study/number.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_alnum(char c) {
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

/* Length of a sign at p ("-", "+", U+2212 MINUS SIGN), or 0. */
static size_t sign_len(const char *t, size_t len, size_t p, int *negative) {
    if (p < len && (t[p] == '-' || t[p] == '+')) {
        *negative = t[p] == '-';
        return 1;
    }
    if (p + 3 <= len && memcmp(t + p, "\xE2\x88\x92", 3) == 0) {
        *negative = 1;
        return 3;
    }
    return 0;
}

static size_t digit_run(const char *t, size_t len, size_t p) {
    size_t q = p;
    while (q < len && is_digit(t[q])) q++;
    return q - p;
}

/* Appends n digits at t to out; 0 if that makes too many. */
static int add_digits(number_span *out, const char *t, size_t n) {
    if ((size_t)out->n_digits + n > NUMBER_MAX_DIGITS) return 0;
    memcpy(out->digits + out->n_digits, t, n);
    out->n_digits += (int)n;
    out->digits[out->n_digits] = '\0';
    return 1;
}

int number_scan(const char *t, size_t len, size_t pos, int flags, number_span *out) {
    size_t p = pos;
    if (pos >= len || (pos > 0 && is_alnum(t[pos - 1]) &&
                       (!(flags & NUMBER_ANY_START) || is_digit(t[pos - 1]))))
        return 0;
    memset(out, 0, sizeof *out);
    if (flags & NUMBER_SIGNED) p += sign_len(t, len, p, &out->negative);
    if (p < len && t[p] == '$') p++;
    size_t run = digit_run(t, len, p);
    if (run == 0) return 0;
    if (!add_digits(out, t + p, run)) return 0;
    p += run;
    /* thousands groups: only after a first group of 1 to 3 digits */
    if (run <= 3)
        while (p + 4 <= len && t[p] == ',' && digit_run(t, len, p + 1) == 3) {
            if (!add_digits(out, t + p + 1, 3)) return 0;
            p += 4;
        }
    if (p + 1 < len && t[p] == '.' && is_digit(t[p + 1])) {
        run = digit_run(t, len, p + 1);
        if (!add_digits(out, t + p + 1, run)) return 0;
        out->scale = (int)run;
        p += 1 + run;
    }
    if (p < len && t[p] == '%') {
        out->percent = 1;
        p++;
    }
    out->start = pos;
    out->end = p;
    return 1;
}

int number_find(const char *t, size_t len, size_t pos, int flags, number_span *out) {
    for (size_t p = pos; p < len; p++)
        if (number_scan(t, len, p, flags, out)) return 1;
    return 0;
}

void number_canonical(const number_span *n, char *out, size_t out_size) {
    const char *d = n->digits;
    int n_int = n->n_digits - n->scale, n_frac = n->scale;
    while (n_int > 1 && *d == '0') d++, n_int--;            /* leading zeros */
    while (n_frac > 0 && d[n_int + n_frac - 1] == '0') n_frac--; /* trailing zeros */
    int zero = n_int <= 1 && (n_int == 0 || d[0] == '0') && n_frac == 0;
    snprintf(out, out_size, "%s%.*s%s%.*s", n->negative && !zero ? "-" : "",
             n_int ? n_int : 1, n_int ? d : "0", n_frac ? "." : "", n_frac, d + n_int);
}

int number_normalise(const char *s, char *out, size_t out_size) {
    size_t len = strlen(s), a = 0, b = len;
    number_span n;
    while (a < len && (s[a] == ' ' || s[a] == '\t' || s[a] == '\n' || s[a] == '\r')) a++;
    while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t' || s[b - 1] == '\n' || s[b - 1] == '\r')) b--;
    if (!number_scan(s, b, a, NUMBER_SIGNED, &n) || n.end != b) return 0;
    number_canonical(&n, out, out_size);
    return 1;
}

static int64_t gcd64(int64_t a, int64_t b) {
    if (a < 0) a = -a;
    while (b) {
        int64_t r = a % b;
        a = b;
        b = r;
    }
    return a ? a : 1;
}

int number_rational(const number_span *n, int percent_as_fraction, int64_t *num, int64_t *den) {
    int64_t v = 0, d = 1;
    for (int i = 0; i < n->n_digits; i++)
        if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, n->digits[i] - '0', &v))
            return -1;
    for (int i = 0; i < n->scale + (n->percent && percent_as_fraction ? 2 : 0); i++)
        if (__builtin_mul_overflow(d, 10, &d)) return -1;
    int64_t g = gcd64(v, d);
    *num = n->negative ? -(v / g) : v / g;
    *den = d / g;
    return 0;
}
