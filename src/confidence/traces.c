/* Labelled rows from trace databases, for the fit, and per-answer scores,
 * for `confidence apply`. The report's loader (report/data.h) supplies the
 * runs, items, groups, rows with their per-head blobs and the GSM8K first
 * error row; the two things it does not carry, each row's ln p of its token
 * and the end of the first-error span, are read here beside it in the
 * loader's row order (step, row), their counts checked against its rows.
 *
 * Labels (README "Confidence"):
 *   gsm8k     answer: incorrect 1, correct 0; tokens: the first-error span's
 *             rows of an incorrect answer 1 (none when not located), every
 *             row of a correct answer 0, the rest -1
 *   simpleqa  answer and all its tokens: INCORRECT 1, CORRECT 0
 * Other studies and NOT_ATTEMPTED or ungraded answers are left out. */
#include "confidence/confidence.h"

#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "report/data.h"
#include "util/error.h"

/* What the report loader leaves out, for one item. */
typedef struct side {
    sqlite3 *db;
    const char *path;
    sqlite3_stmt *rows, *span;
    int64_t *row_id;  /* (n) tokens.row of each generated row */
    double *logprob;  /* (n) */
    size_t cap;
} side;

static int side_open(side *s, const char *path, es_error *err) {
    memset(s, 0, sizeof *s);
    s->path = path;
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db,
                           "SELECT row, token_logprob FROM tokens WHERE item_id = ? AND step IS NOT NULL"
                           " ORDER BY step, row", -1, &s->rows, NULL) != SQLITE_OK)
        return es_fail(err, "%s: cannot read the token rows: %s", path, sqlite3_errmsg(s->db));
    /* the span the report loader picks: arith's before the judge's */
    if (sqlite3_prepare_v2(s->db,
                           "SELECT last_row FROM spans WHERE item_id = ? AND kind = 'first_error'"
                           " AND first_row IS NOT NULL ORDER BY source != 'arith', source != 'judge', rowid"
                           " LIMIT 1", -1, &s->span, NULL) != SQLITE_OK)
        s->span = NULL; /* no spans table: no first errors either */
    return 0;
}

static void side_close(side *s) {
    sqlite3_finalize(s->rows);
    sqlite3_finalize(s->span);
    sqlite3_close(s->db);
    free(s->row_id);
    free(s->logprob);
}

static int side_read(side *s, const rd_item *it, es_error *err) {
    if ((size_t)it->n_rows > s->cap) {
        size_t cap = (size_t)it->n_rows;
        int64_t *r = realloc(s->row_id, cap * sizeof *r);
        if (r) s->row_id = r;
        double *l = r ? realloc(s->logprob, cap * sizeof *l) : NULL;
        if (!l) return es_fail(err, "%s: out of memory", s->path);
        s->logprob = l;
        s->cap = cap;
    }
    sqlite3_reset(s->rows);
    sqlite3_bind_int64(s->rows, 1, it->id);
    int n = 0, rc;
    while ((rc = sqlite3_step(s->rows)) == SQLITE_ROW && n < it->n_rows) {
        s->row_id[n] = sqlite3_column_int64(s->rows, 0);
        s->logprob[n++] = sqlite3_column_type(s->rows, 1) == SQLITE_NULL ? NAN : sqlite3_column_double(s->rows, 1);
    }
    if ((rc != SQLITE_DONE && rc != SQLITE_ROW) || n != it->n_rows || rc == SQLITE_ROW)
        return es_fail(err, "%s: item %lld: the token rows changed while reading", s->path, (long long)it->id);
    return 0;
}

/* Index of the last row of the item's first-error span (from first_error_row). */
static int span_end(side *s, const rd_item *it) {
    int end = it->first_error_row;
    if (!s->span || end < 0) return end;
    sqlite3_reset(s->span);
    sqlite3_bind_int64(s->span, 1, it->id);
    if (sqlite3_step(s->span) == SQLITE_ROW && sqlite3_column_type(s->span, 0) != SQLITE_NULL) {
        int64_t last = sqlite3_column_int64(s->span, 0);
        for (int i = it->first_error_row; i < it->n_rows; i++)
            if (s->row_id[i] <= last) end = i;
    }
    return end;
}

/* The row as es_confidence_score sees it live; probe points into the blob. */
static es_trace_token as_token(const rd_run *run, const rd_row *r, double logprob, es_attn_probe *probe) {
    es_trace_token t = {.step = r->step, .pos = r->pos, .logit_entropy = r->logit_entropy,
                        .logit_varentropy = r->logit_varentropy, .token_logprob = logprob,
                        .sampler_branch = r->branch};
    if (r->heads) {
        size_t lh = (size_t)run->n_layers * run->n_heads;
        *probe = (es_attn_probe){.pos = r->pos, .n_layers = run->n_layers, .n_heads = run->n_heads,
                                 .entropy = r->heads, .varentropy = r->heads + lh,
                                 .agreement = r->heads + 2 * lh, .interaction = r->heads + 2 * lh + run->n_layers,
                                 .entropy_mean = r->attn_entropy, .varentropy_mean = r->attn_varentropy};
        t.attn = probe;
    }
    return t;
}

/* Answer label of an item: 1 wrong, 0 right, -1 left out. */
static int answer_label(const rd_run *run, const rd_item *it) {
    if (!it->group) return -1;
    if (strcmp(run->study, "gsm8k") == 0)
        return strcmp(it->group, "incorrect") == 0 ? 1 : strcmp(it->group, "correct") == 0 ? 0 : -1;
    if (strcmp(run->study, "simpleqa") == 0)
        return strcmp(it->group, "INCORRECT") == 0 ? 1 : strcmp(it->group, "CORRECT") == 0 ? 0 : -1;
    return -1;
}

/* The attention features' layer count: the runs' common n_layers when every
 * labelled row carries a blob, else 0 (logit features only). */
static int common_layers(const report_data *rd) {
    int layers = -1;
    for (int r = 0; r < rd->n_runs; r++) {
        const rd_run *run = &rd->runs[r];
        for (int i = 0; i < run->n_items; i++) {
            if (answer_label(run, &run->items[i]) < 0) continue;
            for (int k = 0; k < run->items[i].n_rows; k++)
                if (!run->items[i].rows[k].heads) return 0;
            if (run->items[i].n_rows == 0) continue;
            if (layers >= 0 && layers != run->n_layers) return 0;
            layers = run->n_layers;
        }
    }
    return layers > 0 && layers <= CF_MAX_LAYERS ? layers : 0;
}

static int add_item(cf_dataset *d, side *s, const rd_run *run, const rd_item *it, int label, es_error *err) {
    if (side_read(s, it, err) < 0) return -1;
    if (cf_dataset_add_item(d, label) < 0) return es_fail(err, "%s: out of memory", s->path);
    int gsm = strcmp(run->study, "gsm8k") == 0, first = it->first_error_row, last = span_end(s, it);
    for (int k = 0; k < it->n_rows; k++) {
        int y = label;
        if (gsm && label == 1) y = first >= 0 && k >= first && k <= last ? 1 : -1;
        es_attn_probe probe;
        es_trace_token t = as_token(run, &it->rows[k], s->logprob[k], &probe);
        if (cf_dataset_add_row(d, &t, y) < 0) return es_fail(err, "%s: out of memory", s->path);
    }
    return 0;
}

static int load_runs(cf_dataset *d, const report_data *rd, es_error *err) {
    for (int r = 0; r < rd->n_runs; r++) {
        const rd_run *run = &rd->runs[r];
        side s;
        int rc = side_open(&s, run->db_path, err);
        for (int i = 0; rc == 0 && i < run->n_items; i++) {
            int label = answer_label(run, &run->items[i]);
            if (label >= 0) rc = add_item(d, &s, run, &run->items[i], label, err);
        }
        side_close(&s);
        if (rc < 0) return -1;
    }
    return 0;
}

int cf_dataset_load(cf_dataset *d, const char *const *db_paths, int n_dbs, es_error *err) {
    report_data rd;
    if (report_data_load(&rd, db_paths, n_dbs, err) < 0) return -1;
    cf_dataset_init(d, common_layers(&rd));
    int rc = load_runs(d, &rd, err);
    report_data_free(&rd);
    if (rc < 0) cf_dataset_free(d);
    return rc;
}

int cf_fit(const char *const *db_paths, int n_dbs, const cf_fit_params *p, const char *out_json,
           es_error *err) {
    cf_dataset d;
    if (cf_dataset_load(&d, db_paths, n_dbs, err) < 0) return -1;
    int rc = 0;
    if (d.n_items < (size_t)p->folds)
        rc = es_fail(err, "%s: %zu graded GSM8K / SimpleQA answers, fewer than the %d folds", db_paths[0],
                     d.n_items, p->folds);
    /* both kinds of token up front, so that the message is about the data
     * and not about whichever fold's training rows met the problem first */
    size_t ny[2] = {0, 0};
    for (size_t i = 0; i < d.n; i++)
        if (d.label[i] >= 0) ny[d.label[i]]++;
    if (rc == 0 && (ny[0] == 0 || ny[1] == 0))
        rc = es_fail(err, "%s: the graded answers give %zu error and %zu good tokens; the fit needs both (correct "
                          "and incorrect answers)", db_paths[0], ny[1], ny[0]);
    if (rc == 0) rc = cf_fit_dataset(&d, p, out_json, db_paths, n_dbs, err);
    cf_dataset_free(&d);
    return rc;
}

static void csv_text(FILE *out, const char *s) {
    fputc('"', out);
    for (; s && *s; s++) {
        if (*s == '"') fputc('"', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

static int apply_run(const es_confidence *c, const rd_run *run, FILE *out, es_error *err) {
    side s;
    int rc = side_open(&s, run->db_path, err);
    for (int i = 0; rc == 0 && i < run->n_items; i++) {
        const rd_item *it = &run->items[i];
        if ((rc = side_read(&s, it, err)) < 0) break;
        double sum = 0, lo = INFINITY;
        int scored = 0;
        for (int k = 0; k < it->n_rows; k++) {
            es_attn_probe probe;
            es_trace_token t = as_token(run, &it->rows[k], s.logprob[k], &probe);
            double v = es_confidence_score(c, &t);
            if (isnan(v)) continue;
            sum += v;
            lo = fmin(lo, v);
            scored++;
        }
        csv_text(out, run->db_path);
        fprintf(out, ",%lld,%lld,", (long long)run->id, (long long)it->id);
        csv_text(out, it->key);
        fputc(',', out);
        csv_text(out, it->group);
        if (scored) fprintf(out, ",%d,%d,%.6f,%.6f\n", it->n_rows, scored, sum / scored, lo);
        else fprintf(out, ",%d,0,,\n", it->n_rows);
    }
    side_close(&s);
    return rc;
}

int cf_apply(const es_confidence *c, const char *const *db_paths, int n_dbs, FILE *out, es_error *err) {
    report_data rd;
    if (report_data_load(&rd, db_paths, n_dbs, err) < 0) return -1;
    fprintf(out, "db,run,item,key,group,tokens,scored,mean,min\n");
    int rc = 0;
    for (int r = 0; rc == 0 && r < rd.n_runs; r++) rc = apply_run(c, &rd.runs[r], out, err);
    report_data_free(&rd);
    return rc;
}
