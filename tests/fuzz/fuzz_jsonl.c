/* libFuzzer target for the GSM8K loader and the code that reads generated
 * text (see tests/fuzz/README.md). The input is loaded as GSM8K JSON lines
 * (stopping at the first bad line, and in skip-bad mode); every item's
 * reference solution goes through the exemplar rewrite, answer extraction,
 * GSM8K grading and the arithmetic checker. Then the raw input itself is
 * treated as a generated answer: extraction, the arithmetic checker (every
 * span must lie inside the text, in order) and the SimpleQA grader. A failed
 * load must leave one line "fuzz.jsonl:LINE: ..." or "fuzz.jsonl: ...". */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "study/arith.h"
#include "study/datasets.h"
#include "study/extract.h"
#include "study/grade.h"

static void check_message(const es_error *err) {
    static const char prefix[] = "fuzz.jsonl:";
    const char *p = err->msg + sizeof prefix - 1;
    if (strncmp(err->msg, prefix, sizeof prefix - 1) != 0 || strchr(err->msg, '\n')) abort();
    while (*p >= '0' && *p <= '9') p++;
    if (p[0] != ':' && p[0] != ' ') abort();
}

static void read_text(const char *text, size_t len) {
    extracted_answer s, f;
    extract_strict(text, len, &s);
    extract_flexible(text, len, &f);
    if ((s.found && (s.start >= s.end || s.end > len)) || (f.found && (f.start >= f.end || f.end > len))) abort();
    arith_calc *calcs;
    size_t n;
    es_error err;
    if (arith_check(text, len, &calcs, &n, &err) != 0) abort();
    for (size_t i = 0; i < n; i++) {
        const arith_calc *c = &calcs[i];
        if (c->expr_start >= c->expr_end || c->expr_end > c->result_start ||
            c->result_start >= c->result_end || c->result_end > len ||
            (i > 0 && c->result_end <= calcs[i - 1].result_end))
            abort();
    }
    if (arith_first_wrong(calcs, n) >= (long)n) abort();
    free(calcs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *text = (const char *)data;
    for (int skip_bad = 0; skip_bad < 2; skip_bad++) {
        gsm8k_set set;
        es_error err;
        if (gsm8k_parse(&set, text, size, "fuzz.jsonl", skip_bad, &err) != 0) {
            check_message(&err);
            continue;
        }
        for (size_t i = 0; i < set.n; i++) {
            const gsm8k_item *it = &set.items[i];
            char *ex = gsm8k_exemplar_answer(it);
            if (!ex) abort();
            gsm8k_grade_result g;
            gsm8k_grade(it->final, ex, strlen(ex), &g);
            if (!g.flexible_correct) abort(); /* the rewrite must end with its own answer */
            read_text(it->answer, strlen(it->answer));
            free(ex);
        }
        gsm8k_free(&set);
    }
    read_text(text, size);
    char *answer = malloc(size + 1);
    if (!answer) abort();
    memcpy(answer, data, size);
    answer[size] = '\0';
    int v = simpleqa_grade("What is it?", "Paris 1889", answer);
    if (v < 0 || v > 2) abort();
    free(answer);
    return 0;
}
