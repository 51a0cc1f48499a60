/* The evaluation of the confidence model: out-of-fold scores (fit.c) against
 * the token and answer labels, AUROC and PRR with bootstrap CIs, next to
 * the baselines, as the "evaluation" object of the model file; and the
 * fit's output file, written whole or not at all. */
#include "confidence/confidence.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "report/stats.h"
#include "util/error.h"

typedef struct scored {
    double s;
    int y;
} scored;

static int by_score_desc(const void *a, const void *b) {
    double x = ((const scored *)a)->s, y = ((const scored *)b)->s;
    return (x < y) - (x > y);
}

/* Area under the rejection curve: the mean over i = 0..n-1 rejected rows
 * (highest scores first) of the errors retained / n. Tied scores are
 * rejected as a block, its errors leaving in proportion. */
static double rejection_area(const scored *r, size_t n, size_t errors) {
    double area = 0, left = (double)errors;
    for (size_t i = 0; i < n;) {
        size_t j = i, e = 0;
        while (j < n && r[j].s == r[i].s) e += r[j++].y;
        double g = (double)(j - i);
        for (size_t q = 0; q < j - i; q++) area += left - (double)e * (double)q / g;
        left -= (double)e;
        i = j;
    }
    return area / ((double)n * (double)n);
}

double cf_prr(const double *pos, size_t npos, const double *neg, size_t nneg) {
    size_t n = npos + nneg;
    if (npos == 0 || nneg == 0) return NAN;
    scored *r = malloc(n * sizeof *r);
    if (!r) return NAN;
    for (size_t i = 0; i < npos; i++) r[i] = (scored){pos[i], 1};
    for (size_t i = 0; i < nneg; i++) r[npos + i] = (scored){neg[i], 0};
    qsort(r, n, sizeof *r, by_score_desc);
    double ar = rejection_area(r, n, npos);
    free(r);
    double e = (double)npos, nn = (double)n, random = 0, oracle = 0;
    for (size_t i = 0; i < n; i++) {
        random += e * (nn - (double)i) / nn;
        oracle += fmax(e - (double)i, 0.0);
    }
    random /= nn * nn;
    oracle /= nn * nn;
    return (random - ar) / (random - oracle);
}

/* The rows behind a token-level score column, for resampling whole answers. */
typedef struct row_clusters {
    const double *score;
    const signed char *label;
    const int *item;
    size_t n, n_items;
} row_clusters;

/* AUROC and PRR with their CIs: at the answer level (rc NULL) answers are
 * resampled within each label; at the token level whole answers are
 * resampled (rs_cluster_bootstrap_ci2), since the tokens of one answer are
 * not independent. */
static cJSON *metric_json(const double *pos, size_t npos, const double *neg, size_t nneg, const row_clusters *rc,
                          int B, uint64_t seed) {
    double lo = NAN, hi = NAN;
    cJSON *o = cJSON_CreateObject();
    rs_stat2 stats[2] = {rs_auroc, cf_prr};
    const char *names[2] = {"auroc", "prr"}, *ci_names[2] = {"auroc_ci", "prr_ci"};
    for (int m = 0; m < 2; m++) {
        cJSON_AddNumberToObject(o, names[m], stats[m](pos, npos, neg, nneg));
        if (rc)
            rs_cluster_bootstrap_ci2(rc->score, rc->label, rc->item, rc->n, rc->n_items, stats[m], B,
                                     seed + (uint64_t)m, &lo, &hi);
        else
            rs_bootstrap_ci2(pos, npos, neg, nneg, stats[m], B, seed + (uint64_t)m, &lo, &hi);
        double ci[2] = {lo, hi};
        cJSON_AddItemToObject(o, ci_names[m], cJSON_CreateDoubleArray(ci, 2));
    }
    return o;
}

/* Splits the n scores by label into pos / neg; returns the NaN left out. */
static size_t split(const double *s, const signed char *y, size_t n, double *pos, size_t *npos, double *neg,
                 size_t *nneg) {
    size_t nan = 0;
    *npos = *nneg = 0;
    for (size_t i = 0; i < n; i++) {
        if (y[i] < 0) continue;
        if (isnan(s[i])) {
            nan++;
            continue;
        }
        if (y[i]) pos[(*npos)++] = s[i];
        else neg[(*nneg)++] = s[i];
    }
    return nan;
}

static const char *const baseline_names[CF_N_BASELINES] = {
    "max_softmax_prob", "logit_entropy", "perplexity", "mean_attn_entropy"};

/* Scores of the columns: model (out of fold), then each baseline; for the
 * answer level per item: mean and max of the rows' values (max of P(error)
 * is min of confidence). The perplexity's answer score exp(mean NLL) ranks
 * as the mean NLL does, so the mean is used. */
static cJSON *level_json(const cf_dataset *d, const double *oof, int answers, int B, uint64_t seed,
                         double *col, double *pos, double *neg) {
    size_t n = answers ? d->n_items : d->n, npos, nneg;
    const signed char *y = answers ? d->item_label : d->label;
    double *cnt = answers ? calloc(n ? n : 1, sizeof *cnt) : NULL;
    if (answers && !cnt) return NULL;
    cJSON *o = cJSON_CreateObject(), *scores = cJSON_CreateObject();
    for (int c = -2; c < CF_N_BASELINES; c++) {
        if (c == -2 && !answers) continue;
        for (size_t i = 0; i < n; i++) col[i] = c == -2 ? -INFINITY : 0;
        if (answers) memset(cnt, 0, n * sizeof *cnt);
        for (size_t i = 0; i < d->n; i++) {
            double v = c < 0 ? oof[i] : d->base[i * CF_N_BASELINES + c];
            size_t k = answers ? (size_t)d->item[i] : i;
            if (c == -2) col[k] = fmax(col[k], v);
            else if (answers) col[k] += v, cnt[k] += 1;
            else col[k] = v;
        }
        for (size_t k = 0; answers && c != -2 && k < n; k++) col[k] = cnt[k] > 0 ? col[k] / cnt[k] : NAN;
        for (size_t k = 0; c == -2 && k < n; k++) if (isinf(col[k])) col[k] = NAN;
        size_t nan = split(col, y, n, pos, &npos, neg, &nneg);
        if (npos == 0 || nneg == 0) continue; /* e.g. no probes: no attention baseline */
        const char *name = c == -2 ? "model_min" : c == -1 ? (answers ? "model_mean" : "model") : baseline_names[c];
        row_clusters rc = {col, y, d->item, n, d->n_items};
        cJSON *m = metric_json(pos, npos, neg, nneg, answers ? NULL : &rc, B, seed);
        if (nan) cJSON_AddNumberToObject(m, "left_out_nan", (double)nan);
        cJSON_AddItemToObject(scores, name, m);
    }
    free(cnt);
    size_t ny[2] = {0, 0};
    for (size_t k = 0; k < n; k++) if (y[k] >= 0) ny[y[k]]++;
    cJSON_AddNumberToObject(o, "positive", (double)ny[1]);
    cJSON_AddNumberToObject(o, "negative", (double)ny[0]);
    cJSON_AddItemToObject(o, "scores", scores);
    return o;
}

void *cf_evaluate(const cf_dataset *d, const cf_fit_params *p, es_error *err) {
    size_t big = (d->n > d->n_items ? d->n : d->n_items) + 1;
    double *oof = malloc(big * sizeof *oof), *col = malloc(big * sizeof *col);
    double *pos = malloc(big * sizeof *pos), *neg = malloc(big * sizeof *neg);
    int *fold = malloc(big * sizeof *fold);
    cJSON *o = NULL;
    if (!oof || !col || !pos || !neg || !fold) es_fail(err, "confidence fit: out of memory");
    else if (cf_cross_validate(d, p->folds, p->l2, p->seed, oof, fold, err) == 0) {
        o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "folds", p->folds);
        cJSON_AddStringToObject(o, "grouping", "by item: no answer has rows in two folds");
        cJSON_AddNumberToObject(o, "bootstrap", p->bootstrap);
        cJSON_AddStringToObject(o, "ci", "95% percentile bootstrap; answer level: answers resampled within "
                                         "each label; token level: whole answers resampled with all their "
                                         "tokens, since the tokens of one answer are not independent");
        cJSON_AddStringToObject(o, "orientation", "every score is taken as higher = rather an error: "
                                                  "P(error), -max softmax prob, entropies, perplexity");
        cJSON_AddItemToObject(o, "token", level_json(d, oof, 0, p->bootstrap, p->seed, col, pos, neg));
        cJSON_AddItemToObject(o, "answer", level_json(d, oof, 1, p->bootstrap, p->seed, col, pos, neg));
    }
    free(oof);
    free(col);
    free(pos);
    free(neg);
    free(fold);
    return o;
}

static int write_whole(const char *path, const char *text, es_error *err) {
    size_t n = strlen(path) + 16;
    char *tmp = malloc(n);
    if (!tmp) return es_fail(err, "%s: out of memory", path);
    snprintf(tmp, n, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    int ok = f && fputs(text, f) >= 0 && fputc('\n', f) != EOF;
    if (f && fclose(f) != 0) ok = 0;
    int e = errno;
    if (ok && rename(tmp, path) != 0) ok = 0, e = errno;
    if (!ok) remove(tmp);
    free(tmp);
    return ok ? 0 : es_fail(err, "%s: cannot write: %s", path, strerror(e));
}

int cf_fit_dataset(const cf_dataset *d, const cf_fit_params *p, const char *out_json,
                   const char *const *db_paths, int n_dbs, es_error *err) {
    cJSON *eval = cf_evaluate(d, p, err);
    if (!eval) return -1;
    es_confidence *c = cf_fit_rows(d, NULL, -1, p->l2, err);
    cJSON *o = c ? cf_model_json(c) : NULL;
    es_confidence_free(c);
    if (!o) {
        cJSON_Delete(eval);
        return c ? es_fail(err, "%s: out of memory", out_json) : -1;
    }
    cJSON_AddNumberToObject(o, "l2", p->l2);
    cJSON *tr = cJSON_AddObjectToObject(o, "training");
    cJSON_AddItemToObject(tr, "databases", cJSON_CreateStringArray(db_paths, n_dbs));
    size_t npos = 0, nneg = 0;
    for (size_t i = 0; i < d->n; i++) npos += d->label[i] == 1, nneg += d->label[i] == 0;
    cJSON_AddNumberToObject(tr, "error_tokens", (double)npos);
    cJSON_AddNumberToObject(tr, "good_tokens", (double)nneg);
    cJSON_AddNumberToObject(tr, "answers", (double)d->n_items);
    cJSON_AddItemToObject(o, "evaluation", eval);
    char *text = cJSON_Print(o);
    cJSON_Delete(o);
    if (!text) return es_fail(err, "%s: out of memory", out_json);
    int rc = write_whole(out_json, text, err);
    free(text);
    if (rc == 0 && p->progress)
        fprintf(p->progress, "wrote %s: %zu error and %zu good tokens of %zu answers, %d-fold CV\n", out_json,
                npos, nneg, d->n_items, p->folds);
    return rc;
}
