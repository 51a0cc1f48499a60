/* The offline SimpleQA grader (see grade.h for the normalisation and the
 * verdict rules) and the SimpleQA metrics. */
#include "study/grade.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "study/number.h"

typedef struct token_list {
    char *buf;       /* tokens, each NUL-terminated */
    size_t *starts;  /* (n) offsets into buf */
    char *is_number; /* (n) */
    size_t n;
} token_list;

static void tokens_free(token_list *t) {
    free(t->buf);
    free(t->starts);
    free(t->is_number);
}

static const char *tok(const token_list *t, size_t i) { return t->buf + t->starts[i]; }

/* NFKC + case folding + accents stripped, invalid bytes as U+FFFD. */
static char *unicode_normalise(const char *text) {
    size_t len = strlen(text), used = 0;
    utf8proc_uint8_t *clean = malloc(len * 3 + 1), *mapped = NULL;
    if (!clean) return NULL;
    for (size_t i = 0; i < len;) {
        utf8proc_int32_t c;
        utf8proc_ssize_t n = utf8proc_iterate((const utf8proc_uint8_t *)text + i, (utf8proc_ssize_t)(len - i), &c);
        if (n <= 0) {
            memcpy(clean + used, "\xEF\xBF\xBD", 3), used += 3, i++;
        } else {
            memcpy(clean + used, text + i, (size_t)n), used += (size_t)n, i += (size_t)n;
        }
    }
    utf8proc_ssize_t r = utf8proc_map(clean, (utf8proc_ssize_t)used, &mapped,
                                      UTF8PROC_STABLE | UTF8PROC_COMPAT | UTF8PROC_COMPOSE |
                                          UTF8PROC_CASEFOLD | UTF8PROC_STRIPMARK | UTF8PROC_IGNORE);
    free(clean);
    return r < 0 ? NULL : (char *)mapped;
}

static int is_word_category(utf8proc_category_t k) {
    return (k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_NO);
}

/* Letters, marks and digits kept; number punctuation kept as ASCII; dashes
 * as "-"; in-word apostrophes dropped; everything else a space. */
static char *simplify(const char *s) {
    size_t len = strlen(s), used = 0;
    char *out = malloc(len + 1);
    int prev_word = 0;
    if (!out) return NULL;
    for (size_t i = 0; i < len;) {
        utf8proc_int32_t c;
        utf8proc_ssize_t n = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(len - i), &c);
        if (n <= 0) n = 1, c = ' ';
        utf8proc_category_t k = utf8proc_category(c);
        if (is_word_category(k)) {
            memcpy(out + used, s + i, (size_t)n), used += (size_t)n;
        } else if (c == '\'' || c == 0x2019 || c == 0x2018 || c == 0x02BC) {
            if (!prev_word) out[used++] = ' ';
        } else if (c < 0x80 && strchr("$%.,+-", (int)c) && c) {
            out[used++] = (char)c;
        } else {
            out[used++] = k == UTF8PROC_CATEGORY_PD || c == 0x2212 ? '-' : ' ';
        }
        prev_word = is_word_category(k) || (prev_word && c == '\'');
        i += (size_t)n;
    }
    out[used] = '\0';
    return out;
}

static int is_word_byte(char c) {
    unsigned char u = (unsigned char)c;
    return u >= 0x80 || (u >= '0' && u <= '9') || (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z');
}

static int push(token_list *t, size_t *used, const char *s, size_t n, int number) {
    if (!number && ((n == 1 && s[0] == 'a') || (n == 2 && !memcmp(s, "an", 2)) ||
                    (n == 3 && !memcmp(s, "the", 3))))
        return 0; /* articles */
    t->starts[t->n] = *used;
    t->is_number[t->n++] = (char)number;
    memcpy(t->buf + *used, s, n);
    *used += n;
    t->buf[(*used)++] = '\0';
    return 0;
}

static int tokenise(const char *text, token_list *t) {
    memset(t, 0, sizeof *t);
    char *mapped = unicode_normalise(text), *s = mapped ? simplify(mapped) : NULL;
    free(mapped);
    if (!s) return -1;
    size_t len = strlen(s), used = 0;
    t->buf = malloc(len * 2 + NUMBER_TEXT_MAX + 1);
    t->starts = malloc((len + 1) * sizeof *t->starts);
    t->is_number = malloc(len + 1);
    if (!t->buf || !t->starts || !t->is_number) {
        free(s);
        tokens_free(t);
        return -1;
    }
    for (size_t p = 0; p < len;) {
        number_span num;
        if (number_scan(s, len, p, NUMBER_SIGNED, &num)) {
            char canon[NUMBER_TEXT_MAX];
            number_canonical(&num, canon, sizeof canon);
            push(t, &used, canon, strlen(canon), 1);
            p = num.end;
        } else if (is_word_byte(s[p])) {
            size_t q = p;
            while (q < len && is_word_byte(s[q])) q++;
            push(t, &used, s + p, q - p, 0);
            p = q;
        } else {
            p++;
        }
    }
    free(s);
    return 0;
}

char *grade_normalise(const char *text) {
    token_list t;
    if (tokenise(text, &t)) return NULL;
    size_t total = 1;
    for (size_t i = 0; i < t.n; i++) total += strlen(tok(&t, i)) + 1;
    char *out = malloc(total), *o = out;
    if (out) {
        *o = '\0';
        for (size_t i = 0; i < t.n; i++) o += sprintf(o, "%s%s", i ? " " : "", tok(&t, i));
    }
    tokens_free(&t);
    return out;
}

/* ------------------------------------------------------------ matching -- */

static int in_list(const char *w, const char *const *list) {
    for (; *list; list++)
        if (strcmp(w, *list) == 0) return 1;
    return 0;
}

static int has_token(const token_list *t, const char *w) {
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(tok(t, i), w) == 0) return 1;
    return 0;
}

/* G's tokens as a multiset inside A[s, e)? */
static int covers(const token_list *a, size_t s, size_t e, const token_list *g) {
    char *used = calloc(e - s + 1, 1);
    int ok = used != NULL;
    for (size_t j = 0; ok && j < g->n; j++) {
        size_t i = s;
        while (i < e && (used[i - s] || strcmp(tok(a, i), tok(g, j)) != 0)) i++;
        if (i == e) ok = 0;
        else used[i - s] = 1;
    }
    free(used);
    return ok;
}

/* The first match of G in A as [*s, *e); 0 if none. */
static int find_gold(const token_list *a, const token_list *g, size_t *s, size_t *e) {
    if (g->n == 0 || g->n > a->n) return 0;
    for (size_t i = 0; i + g->n <= a->n; i++)
        if (covers(a, i, i + g->n, g)) { /* G's tokens, in any order, side by side */
            *s = i, *e = i + g->n;
            return 1;
        }
    for (size_t i = 0; g->n >= 2 && i < a->n; i++) {
        size_t end = i + g->n + 2 < a->n ? i + g->n + 2 : a->n;
        if (covers(a, i, end, g)) {
            *s = i, *e = end;
            while (*e > *s && !has_token(g, tok(a, *e - 1))) (*e)--; /* trim the window */
            return 1;
        }
    }
    return 0;
}

static int contradicted(const token_list *a, size_t s, size_t e, const token_list *g,
                        const token_list *q) {
    static const char *const negations[] = {"not", "no", "never", "isnt", "wasnt", "dont", "doesnt",
                                            "didnt", "neither", "nor", "cannot", "cant", NULL};
    static const char *const softeners[] = {"sure", "certain", "only", NULL};
    static const char *const alternatives[] = {"or", "either", NULL};
    for (size_t i = s >= 2 ? s - 2 : 0; i < s; i++)
        if (in_list(tok(a, i), negations) && !(i + 1 < a->n && in_list(tok(a, i + 1), softeners)))
            return 1;
    if ((s > 0 && in_list(tok(a, s - 1), alternatives)) || (e < a->n && in_list(tok(a, e), alternatives)))
        return 1;
    int gold_number = 0;
    for (size_t j = 0; j < g->n; j++) gold_number |= g->is_number[j];
    for (size_t i = 0; gold_number && i < a->n; i++)
        if ((i < s || i >= e) && a->is_number[i] && !has_token(g, tok(a, i)) && !(q && has_token(q, tok(a, i))))
            return 1;
    return 0;
}

/* Hedges and refusals, as normalised token sequences. */
static int hedged(const char *answer_text) {
    static const char *const phrases[] = {
        "i dont know", "i do not know", "dont know", "do not know", "not sure", "unsure",
        "not certain", "uncertain", "i cannot", "i cant", "i can not", "unable to", "not able to",
        "unknown", "no idea", "no information", "not enough information", "insufficient information",
        "cannot be determined", "cannot determine", "no answer", "i dont have", "i do not have",
        "im sorry", "i am sorry", "i apologize", "not available", "no record", "no reliable",
        "not known", "cannot answer", "cant answer", "cannot provide", "not possible to determine", NULL};
    size_t n = strlen(answer_text);
    char *padded = malloc(n + 3);
    int found = 0;
    if (!padded) return 0;
    sprintf(padded, " %s ", answer_text);
    for (size_t i = 0; phrases[i] && !found; i++) {
        char needle[64];
        snprintf(needle, sizeof needle, " %s ", phrases[i]);
        found = strstr(padded, needle) != NULL;
    }
    free(padded);
    return found;
}

int simpleqa_grade(const char *question, const char *gold, const char *answer) {
    token_list a, g, q;
    int have_q = question != NULL, verdict;
    if (tokenise(answer, &a)) return -1;
    if (tokenise(gold, &g)) return tokens_free(&a), -1;
    if (have_q && tokenise(question, &q)) return tokens_free(&a), tokens_free(&g), -1;
    size_t s, e;
    if (a.n == 0) {
        verdict = GRADE_NOT_ATTEMPTED;
    } else if (find_gold(&a, &g, &s, &e)) {
        verdict = contradicted(&a, s, e, &g, have_q ? &q : NULL) ? GRADE_INCORRECT : GRADE_CORRECT;
    } else {
        char *joined = grade_normalise(answer);
        if (!joined) verdict = -1;
        else verdict = hedged(joined) ? GRADE_NOT_ATTEMPTED : GRADE_INCORRECT;
        free(joined);
    }
    tokens_free(&a);
    tokens_free(&g);
    if (have_q) tokens_free(&q);
    return verdict;
}

const char *grade_verdict_name(grade_verdict v) {
    return v == GRADE_CORRECT ? "CORRECT" : v == GRADE_INCORRECT ? "INCORRECT" : "NOT_ATTEMPTED";
}

void simpleqa_metrics_compute(const grade_verdict *verdicts, size_t n, simpleqa_metrics *m) {
    memset(m, 0, sizeof *m);
    m->n = n;
    for (size_t i = 0; i < n; i++) {
        if (verdicts[i] == GRADE_CORRECT) m->n_correct++;
        else if (verdicts[i] == GRADE_INCORRECT) m->n_incorrect++;
        else m->n_not_attempted++;
    }
    if (n == 0) return;
    m->correct = (double)m->n_correct / (double)n;
    m->incorrect = (double)m->n_incorrect / (double)n;
    m->not_attempted = (double)m->n_not_attempted / (double)n;
    size_t attempted = m->n_correct + m->n_incorrect;
    if (attempted) m->accuracy_given_attempted = (double)m->n_correct / (double)attempted;
    double denom = m->accuracy_given_attempted + m->correct;
    if (denom > 0) m->f1 = 2 * m->accuracy_given_attempted * m->correct / denom;
}
