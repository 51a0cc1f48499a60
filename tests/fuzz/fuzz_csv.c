/* libFuzzer target for the CSV reader and the SimpleQA loader (see
 * tests/fuzz/README.md). The input is read as CSV, stopping at the first bad
 * record and in skip-bad mode: every record must have the header's field
 * count and start on a later line than the one before; every field is
 * touched and read as a Python dict literal (the metadata reader); then the
 * input is loaded as SimpleQA both ways. A failure must leave one line
 * "fuzz.csv: ..." or "fuzz.csv:LINE: ...". Broken invariants abort. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "study/csv.h"
#include "study/datasets.h"
#include "study/pydict.h"

static volatile uint8_t sink_byte;

static void touch(const char *s) {
    size_t n = strlen(s);
    if (n) sink_byte = (uint8_t)(s[0] ^ s[n - 1]);
}

static void check_message(const es_error *err) {
    static const char prefix[] = "fuzz.csv:";
    const char *p = err->msg + sizeof prefix - 1;
    if (strncmp(err->msg, prefix, sizeof prefix - 1) != 0 || strchr(err->msg, '\n')) abort();
    while (*p >= '0' && *p <= '9') p++;
    if (p[0] != ':' && p[0] != ' ') abort();
    if (p[0] == ':' && p[1] != ' ') abort();
}

static void read_csv(const char *data, size_t size, int skip_bad) {
    csv_reader r;
    es_error err;
    char why[128];
    if (csv_open(&r, data, size, "fuzz.csv", skip_bad, &err) != 0) {
        check_message(&err);
        return;
    }
    for (int i = 0; i < r.n_columns; i++) touch(r.column_names[i]);
    long prev_line = 0;
    int rc;
    while ((rc = csv_next(&r, &err)) == 1) {
        if (r.n_fields != r.n_columns || r.record_line <= prev_line) abort();
        prev_line = r.record_line;
        for (int i = 0; i < r.n_fields; i++) {
            char *value;
            touch(r.fields[i]);
            int found = pydict_get_string(r.fields[i], strlen(r.fields[i]), "topic", &value, why, sizeof why);
            if (found < 0 && (!why[0] || strchr(why, '\n'))) abort();
            if (found == 1) touch(value);
            free(value);
        }
    }
    if (rc < 0) {
        if (skip_bad) abort(); /* only a bad header may fail in skip-bad mode */
        check_message(&err);
    }
    csv_close(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *text = (const char *)data;
    for (int skip_bad = 0; skip_bad < 2; skip_bad++) {
        read_csv(text, size, skip_bad);
        simpleqa_set set;
        es_error err;
        if (simpleqa_parse(&set, text, size, "fuzz.csv", skip_bad, &err) != 0) {
            check_message(&err);
            continue;
        }
        for (size_t i = 0; i < set.n; i++) {
            const simpleqa_item *it = &set.items[i];
            touch(it->problem), touch(it->answer), touch(it->topic), touch(it->answer_type);
            if (i > 0 && it->id <= set.items[i - 1].id) abort();
        }
        size_t *idx, n;
        if (simpleqa_sample(&set, set.n / 2 + 1, 7, &idx, &n, &err) == 0) {
            for (size_t i = 0; i < n; i++)
                if (idx[i] >= set.n || (i > 0 && idx[i] <= idx[i - 1])) abort();
            free(idx);
        }
        simpleqa_free(&set);
    }
    return 0;
}
