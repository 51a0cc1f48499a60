/* Labelled rows from trace databases, for the fit, and per-answer scores,
 * for `confidence apply`. The report's loader (report/data.h) supplies the
 * runs, items, groups, rows with their ln p and per-head blobs, and the
 * GSM8K first-error span.
 *
 * Labels (README "Confidence"):
 *   gsm8k     answer: incorrect 1, correct 0; tokens: the first-error span's
 *             rows of an incorrect answer 1 (none when not located), every
 *             row of a correct answer 0, the rest -1
 *   simpleqa  answer and all its tokens: INCORRECT 1, CORRECT 0
 * Other studies and NOT_ATTEMPTED or ungraded answers are left out. */
#include "confidence/confidence.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "report/data.h"
#include "util/error.h"

/* The row as es_confidence_score sees it live; probe points into the blob. */
static es_trace_token as_token(const rd_run *run, const rd_row *r, es_attn_probe *probe) {
    es_trace_token t = {.step = r->step, .pos = r->pos, .logit_entropy = r->logit_entropy,
                        .logit_varentropy = r->logit_varentropy, .token_logprob = r->token_logprob,
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

static int add_item(cf_dataset *d, const rd_run *run, const rd_item *it, int label, es_error *err) {
    if (cf_dataset_add_item(d, label) < 0) return es_fail(err, "%s: out of memory", run->db_path);
    int gsm = strcmp(run->study, "gsm8k") == 0, first = it->first_error_row, last = it->first_error_last;
    for (int k = 0; k < it->n_rows; k++) {
        int y = label;
        if (gsm && label == 1) y = first >= 0 && k >= first && k <= last ? 1 : -1;
        es_attn_probe probe;
        es_trace_token t = as_token(run, &it->rows[k], &probe);
        if (cf_dataset_add_row(d, &t, y) < 0) return es_fail(err, "%s: out of memory", run->db_path);
    }
    return 0;
}

static int load_runs(cf_dataset *d, const report_data *rd, es_error *err) {
    for (int r = 0; r < rd->n_runs; r++) {
        const rd_run *run = &rd->runs[r];
        for (int i = 0; i < run->n_items; i++) {
            int label = answer_label(run, &run->items[i]);
            if (label >= 0 && add_item(d, run, &run->items[i], label, err) < 0) return -1;
        }
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

static void apply_run(const es_confidence *c, const rd_run *run, FILE *out) {
    for (int i = 0; i < run->n_items; i++) {
        const rd_item *it = &run->items[i];
        double sum = 0, lo = INFINITY;
        int scored = 0;
        for (int k = 0; k < it->n_rows; k++) {
            es_attn_probe probe;
            es_trace_token t = as_token(run, &it->rows[k], &probe);
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
}

int cf_apply(const es_confidence *c, const char *const *db_paths, int n_dbs, FILE *out, es_error *err) {
    report_data rd;
    if (report_data_load(&rd, db_paths, n_dbs, err) < 0) return -1;
    fprintf(out, "db,run,item,key,group,tokens,scored,mean,min\n");
    for (int r = 0; r < rd.n_runs; r++) apply_run(c, &rd.runs[r], out);
    report_data_free(&rd);
    return 0;
}
