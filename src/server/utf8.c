/* UTF-8 helpers (utf8.h). */
#include "server/utf8.h"

#include <stdlib.h>
#include <string.h>

/* Bytes of the character a lead byte starts (0: not a lead byte). */
static int seq_len(unsigned char c) {
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) return 2;
    if (c >= 0xe0 && c <= 0xef) return 3;
    if (c >= 0xf0 && c <= 0xf4) return 4;
    return 0;
}

size_t utf8_complete_prefix(const char *s, size_t len) {
    for (size_t back = 1; back <= 3 && back <= len; back++) {
        unsigned char c = (unsigned char)s[len - back];
        if ((c & 0xc0) == 0x80) continue; /* a continuation byte: look further back */
        int need = seq_len(c);
        return need > (int)back ? len - back : len;
    }
    return len;
}

/* 1 if s[0..n) is one well-formed character (no overlongs, surrogates). */
static int valid_char(const unsigned char *s, int n) {
    for (int i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80) return 0;
    if (n == 3 && s[0] == 0xe0 && s[1] < 0xa0) return 0;
    if (n == 3 && s[0] == 0xed && s[1] >= 0xa0) return 0;
    if (n == 4 && s[0] == 0xf0 && s[1] < 0x90) return 0;
    if (n == 4 && s[0] == 0xf4 && s[1] >= 0x90) return 0;
    return 1;
}

char *utf8_clean(const char *s, size_t len) {
    char *out = malloc(len * 3 + 1), *at = out;
    if (!out) return NULL;
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        int n = seq_len(u[i]);
        if (n > 0 && i + (size_t)n <= len && valid_char(u + i, n)) {
            memcpy(at, u + i, (size_t)n);
            at += n;
            i += (size_t)n;
        } else {
            memcpy(at, "\xef\xbf\xbd", 3);
            at += 3;
            i++;
        }
    }
    *at = 0;
    return out;
}
