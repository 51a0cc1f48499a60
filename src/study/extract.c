/* GSM8K answer extraction and grading (see extract.h for the rules). */
#include "study/extract.h"

#include <string.h>
#include <strings.h>

static void take(const char *text, size_t len, size_t pos, extracted_answer *out) {
    number_span n;
    if (!number_scan(text, len, pos, NUMBER_SIGNED, &n)) return;
    out->found = 1;
    number_canonical(&n, out->value, sizeof out->value);
    out->start = n.start;
    out->end = n.end;
}

/* Case-insensitive search for needle in text[from, len). */
static size_t find_ci(const char *text, size_t len, size_t from, const char *needle) {
    size_t n = strlen(needle);
    for (size_t p = from; p + n <= len; p++)
        if (strncasecmp(text + p, needle, n) == 0) return p;
    return len;
}

/* The position of the number after a marker, skipping what may sit between. */
static size_t after_marker(const char *text, size_t len, size_t p) {
    static const char *const fillers[] = {"\\boxed{", "\\(", "**", ":", "$", " ", "\t", "\n"};
    for (int moved = 1; moved;) {
        moved = 0;
        for (size_t f = 0; f < sizeof fillers / sizeof fillers[0]; f++) {
            size_t n = strlen(fillers[f]);
            /* "$" right before digits is the number's own */
            if (f == 4 && p + 1 < len && text[p + 1] >= '0' && text[p + 1] <= '9') continue;
            if (p + n <= len && memcmp(text + p, fillers[f], n) == 0) {
                p += n;
                moved = 1;
            }
        }
    }
    return p;
}

void extract_strict(const char *text, size_t len, extracted_answer *out) {
    static const char *const markers[] = {"the final answer is", "####"};
    memset(out, 0, sizeof *out);
    size_t best = len, best_end = len;
    for (int m = 0; m < 2; m++) {
        size_t p = find_ci(text, len, 0, markers[m]);
        if (p < best) best = p, best_end = p + strlen(markers[m]);
    }
    if (best < len) take(text, len, after_marker(text, len, best_end), out);
}

void extract_flexible(const char *text, size_t len, extracted_answer *out) {
    number_span n;
    memset(out, 0, sizeof *out);
    for (size_t p = 0; number_find(text, len, p, NUMBER_SIGNED, &n); p = n.end) {
        out->found = 1;
        number_canonical(&n, out->value, sizeof out->value);
        out->start = n.start;
        out->end = n.end;
    }
}

int numbers_equal(const char *a, const char *b) {
    char x[NUMBER_TEXT_MAX], y[NUMBER_TEXT_MAX];
    return number_normalise(a, x, sizeof x) && number_normalise(b, y, sizeof y) && strcmp(x, y) == 0;
}

void gsm8k_grade(const char *reference, const char *generated, size_t len, gsm8k_grade_result *out) {
    extract_strict(generated, len, &out->strict);
    extract_flexible(generated, len, &out->flexible);
    out->strict_correct = out->strict.found && strcmp(out->strict.value, reference) == 0;
    out->flexible_correct = out->flexible.found && strcmp(out->flexible.value, reference) == 0;
}
