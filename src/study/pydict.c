/* A recursive-descent reader of Python literals, enough for dict literals
 * of strings, numbers and containers (see pydict.h). */
#include "study/pydict.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct py_parser {
    const char *t;
    size_t len, pos;
    char *why;
    size_t why_size;
    char *buf; /* the last string read, decoded, NUL-terminated */
    size_t buf_len, buf_cap;
} py_parser;

static int fail(py_parser *p, const char *what) {
    if (p->why[0] == '\0') snprintf(p->why, p->why_size, "%s at byte %zu", what, p->pos);
    return -1;
}

static void skip_space(py_parser *p) {
    while (p->pos < p->len && strchr(" \t\r\n", p->t[p->pos]) && p->t[p->pos]) p->pos++;
}

static int peek(py_parser *p) { return p->pos < p->len ? (unsigned char)p->t[p->pos] : -1; }

static int put(py_parser *p, const char *s, size_t n) {
    if (p->buf_len + n + 1 > p->buf_cap) {
        size_t cap = (p->buf_len + n + 1) * 2;
        char *b = realloc(p->buf, cap);
        if (!b) return fail(p, "out of memory");
        p->buf = b;
        p->buf_cap = cap;
    }
    memcpy(p->buf + p->buf_len, s, n);
    p->buf_len += n;
    p->buf[p->buf_len] = '\0';
    return 0;
}

static int put_codepoint(py_parser *p, unsigned long c) {
    char u[4];
    size_t n;
    if (c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return fail(p, "escape outside Unicode scalar values");
    if (c < 0x80) u[0] = (char)c, n = 1;
    else if (c < 0x800) u[0] = (char)(0xC0 | c >> 6), u[1] = (char)(0x80 | (c & 0x3F)), n = 2;
    else if (c < 0x10000)
        u[0] = (char)(0xE0 | c >> 12), u[1] = (char)(0x80 | ((c >> 6) & 0x3F)),
        u[2] = (char)(0x80 | (c & 0x3F)), n = 3;
    else
        u[0] = (char)(0xF0 | c >> 18), u[1] = (char)(0x80 | ((c >> 12) & 0x3F)),
        u[2] = (char)(0x80 | ((c >> 6) & 0x3F)), u[3] = (char)(0x80 | (c & 0x3F)), n = 4;
    return put(p, u, n);
}

/* n digits of the given base at p->pos (exactly n, or up to n when !exact). */
static int read_digits(py_parser *p, int base, int n, int exact, unsigned long *v) {
    int k = 0;
    *v = 0;
    for (; k < n && p->pos < p->len; k++, p->pos++) {
        char c = p->t[p->pos];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10 : 99;
        if (d >= base) break;
        *v = *v * (unsigned long)base + (unsigned long)d;
    }
    return (exact ? k == n : k > 0) ? 0 : fail(p, "bad escape");
}

/* One escape, p->pos just after the backslash. */
static int read_escape(py_parser *p) {
    static const char from[] = "\\'\"ntrabfv", to[] = "\\'\"\n\t\r\a\b\f\v";
    unsigned long v;
    if (p->pos >= p->len) return fail(p, "unterminated string");
    char c = p->t[p->pos];
    const char *k = strchr(from, c);
    if (k && c) {
        p->pos++;
        return put(p, &to[k - from], 1);
    }
    if (c == '\n') return p->pos++, 0;
    if (c >= '0' && c <= '7') return read_digits(p, 8, 3, 0, &v) ? -1 : put_codepoint(p, v);
    if (c == 'x' || c == 'u' || c == 'U') {
        p->pos++;
        if (read_digits(p, 16, c == 'x' ? 2 : c == 'u' ? 4 : 8, 1, &v)) return -1;
        return put_codepoint(p, v);
    }
    return put(p, "\\", 1); /* unknown: the backslash stays, the character follows */
}

static int read_string(py_parser *p) {
    int raw = 0;
    while (p->pos < p->len && strchr("uUrRbB", p->t[p->pos]) && p->t[p->pos]) {
        raw |= p->t[p->pos] == 'r' || p->t[p->pos] == 'R';
        p->pos++;
    }
    char quote = p->pos < p->len ? p->t[p->pos] : 0;
    if (quote != '\'' && quote != '"') return fail(p, "expected a string");
    p->pos++;
    p->buf_len = 0;
    if (put(p, "", 0)) return -1;
    for (;;) {
        if (p->pos >= p->len || p->t[p->pos] == '\n') return fail(p, "unterminated string");
        char c = p->t[p->pos++];
        if (c == quote) return 0;
        if (c == '\\' && !raw) {
            if (read_escape(p)) return -1;
        } else if (c == '\\' && p->pos < p->len && (p->t[p->pos] == quote || p->t[p->pos] == '\\')) {
            if (put(p, p->t + p->pos - 1, 2)) return -1; /* raw: escaped, both kept */
            p->pos++;
        } else if (put(p, &c, 1)) {
            return -1;
        }
    }
}

static int read_value(py_parser *p, int depth, int *is_string);

/* Items of a container up to the closing bracket; dict items are pairs. The
 * top-level dict (depth 1) looks for key. */
static int read_items(py_parser *p, char close, int dict, int depth, const char *key,
                      char **value) {
    p->pos++;
    for (;;) {
        int is_string;
        skip_space(p);
        if (peek(p) == close) return p->pos++, 0;
        if (read_value(p, depth, &is_string)) return -1;
        int key_matches = key && is_string && strcmp(p->buf, key) == 0;
        skip_space(p);
        if (dict) {
            if (peek(p) != ':') return fail(p, "expected ':'");
            p->pos++;
            skip_space(p);
            if (read_value(p, depth, &is_string)) return -1;
            if (key_matches) {
                free(*value);
                *value = is_string ? strdup(p->buf) : NULL;
                if (is_string && !*value) return fail(p, "out of memory");
            }
            skip_space(p);
        }
        if (peek(p) == ',') p->pos++;
        else if (peek(p) != close) return fail(p, dict ? "expected ',' or '}'" : "expected ','");
    }
}

static int read_value(py_parser *p, int depth, int *is_string) {
    static const char *const words[] = {"True", "False", "None"};
    *is_string = 0;
    if (depth >= PYDICT_MAX_DEPTH) return fail(p, "nested too deeply");
    skip_space(p);
    int c = peek(p);
    char *none = NULL;
    if (c == '{' || c == '[' || c == '(') {
        int dict = c == '{';
        return read_items(p, dict ? '}' : c == '[' ? ']' : ')', dict, depth + 1, NULL, &none);
    }
    if (c == '\'' || c == '"' || (c > 0 && strchr("uUrRbB", c))) {
        *is_string = 1;
        return read_string(p);
    }
    for (int i = 0; i < 3; i++) {
        size_t n = strlen(words[i]);
        if (p->len - p->pos >= n && memcmp(p->t + p->pos, words[i], n) == 0) return p->pos += n, 0;
    }
    size_t start = p->pos;
    while (p->pos < p->len && p->t[p->pos] && strchr("0123456789.eE+-_xXabcdefABCDEFjJ", p->t[p->pos]))
        p->pos++;
    return p->pos > start ? 0 : fail(p, "unexpected character");
}

int pydict_get_string(const char *text, size_t len, const char *key, char **value, char *why,
                      size_t why_size) {
    py_parser p = {.t = text, .len = len, .why = why, .why_size = why_size};
    *value = NULL;
    why[0] = '\0';
    skip_space(&p);
    int rc = peek(&p) == '{' ? read_items(&p, '}', 1, 1, key, value) : fail(&p, "expected '{'");
    if (rc == 0) {
        skip_space(&p);
        if (p.pos != p.len) rc = fail(&p, "text after the dict");
    }
    free(p.buf);
    if (rc) {
        free(*value);
        *value = NULL;
        return -1;
    }
    return *value ? 1 : 0;
}
