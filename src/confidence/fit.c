/* Fitting and evaluating the confidence model on labelled rows.
 *
 * The regression is written here: GSL has no regularised logistic
 * regression, and Newton's method (IRLS) on p + 1 unknowns is a few dozen
 * lines. Objective: sum of log losses + l2/2 * |w|^2 (the intercept not
 * penalised), over features standardised on the training rows. Newton steps
 * with step halving when the objective would rise; Cholesky for the system.
 *
 * The evaluation is grouped k-fold cross-validation: items, not rows, are
 * dealt to folds, so that no answer has rows in both the training and the
 * test part; every row gets an out-of-fold P(error). AUROC comes from the
 * report's statistics (report/stats.h), the bootstrap CIs from its
 * percentile bootstrap (resampling rows within each label). */
#include "confidence/confidence.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "report/stats.h"
#include "util/error.h"
#include "util/rng.h"

void cf_dataset_init(cf_dataset *d, int n_layers) {
    memset(d, 0, sizeof *d);
    d->n_layers = n_layers;
    d->n_features = cf_n_features(n_layers);
}

void cf_dataset_free(cf_dataset *d) {
    free(d->x);
    free(d->label);
    free(d->item);
    free(d->base);
    free(d->item_label);
    memset(d, 0, sizeof *d);
}

int cf_dataset_add_item(cf_dataset *d, int answer_label) {
    if (d->n_items == d->items_cap) {
        size_t cap = d->items_cap ? 2 * d->items_cap : 64;
        signed char *l = realloc(d->item_label, cap);
        if (!l) return -1;
        d->item_label = l;
        d->items_cap = cap;
    }
    d->item_label[d->n_items] = (signed char)answer_label;
    return (int)d->n_items++;
}

static int grow_rows(cf_dataset *d) {
    size_t cap = d->cap ? 2 * d->cap : 1024, p = (size_t)d->n_features;
    double *x = realloc(d->x, cap * p * sizeof *x);
    if (x) d->x = x;
    signed char *l = x ? realloc(d->label, cap) : NULL;
    if (l) d->label = l;
    int *it = l ? realloc(d->item, cap * sizeof *it) : NULL;
    if (it) d->item = it;
    double *b = it ? realloc(d->base, cap * CF_N_BASELINES * sizeof *b) : NULL;
    if (b) d->base = b;
    if (!b) return -1;
    d->cap = cap;
    return 0;
}

int cf_dataset_add_row(cf_dataset *d, const es_trace_token *row, int token_label) {
    if (d->n_items == 0) return -1;
    if (d->n == d->cap && grow_rows(d) < 0) return -1;
    double *x = d->x + d->n * (size_t)d->n_features;
    if (cf_features(d->n_layers, row, x) < 0) return 0;
    double *b = d->base + d->n * CF_N_BASELINES;
    /* Greedy decoding picks the top token, so exp(ln p) is the maximum softmax probability. */
    b[CF_B_MSP] = -exp(row->token_logprob);
    b[CF_B_ENTROPY] = row->logit_entropy;
    b[CF_B_NLL] = -row->token_logprob;
    b[CF_B_ATTN] = row->attn ? row->attn->entropy_mean : NAN;
    d->label[d->n] = (signed char)token_label;
    d->item[d->n] = (int)d->n_items - 1;
    d->n++;
    return 1;
}

void cf_assign_folds(size_t n_items, int k, uint64_t seed, int *fold) {
    size_t *order = malloc((n_items ? n_items : 1) * sizeof *order);
    if (!order) { /* no memory for the shuffle: deal in order, still grouped */
        for (size_t i = 0; i < n_items; i++) fold[i] = (int)(i % (size_t)k);
        return;
    }
    for (size_t i = 0; i < n_items; i++) order[i] = i;
    uint64_t s = es_splitmix64(seed) | 1;
    for (size_t i = n_items; i > 1; i--) { /* Fisher-Yates */
        size_t j = (size_t)(es_xorshift64s(&s) % i), t = order[i - 1];
        order[i - 1] = order[j];
        order[j] = t;
    }
    for (size_t r = 0; r < n_items; r++) fold[order[r]] = (int)(r % (size_t)k);
    free(order);
}

/* ------------------------------------------------------- the regression -- */

static int row_used(const cf_dataset *d, const int *row_fold, int skip_fold, size_t i) {
    return d->label[i] >= 0 && (!row_fold || row_fold[i] != skip_fold);
}

/* Mean and sd of each feature over the used rows (sd 0 becomes 1: the
 * feature is then 0 everywhere and its weight stays 0). Returns the count. */
static size_t standardise(const cf_dataset *d, const int *row_fold, int skip_fold, es_confidence *c) {
    size_t n = 0, p = (size_t)d->n_features;
    for (size_t i = 0; i < d->n; i++) {
        if (!row_used(d, row_fold, skip_fold, i)) continue;
        n++;
        for (size_t j = 0; j < p; j++) c->mean[j] += d->x[i * p + j];
    }
    for (size_t j = 0; j < p; j++) c->mean[j] /= n ? (double)n : 1.0;
    for (size_t i = 0; i < d->n; i++) {
        if (!row_used(d, row_fold, skip_fold, i)) continue;
        for (size_t j = 0; j < p; j++) {
            double e = d->x[i * p + j] - c->mean[j];
            c->sd[j] += e * e;
        }
    }
    for (size_t j = 0; j < p; j++) {
        c->sd[j] = n ? sqrt(c->sd[j] / (double)n) : 0.0;
        if (!(c->sd[j] > 1e-12 * fmax(1.0, fabs(c->mean[j])))) c->sd[j] = 1.0;
    }
    return n;
}

/* ln(1 + e^t) without overflow. */
static double softplus(double t) { return t > 0 ? t + log1p(exp(-t)) : log1p(exp(t)); }

/* The penalised objective at beta = (bias, w); with g and h not NULL also
 * its gradient (m) and Hessian (m, m), m = p + 1. */
static double objective(const cf_dataset *d, const int *row_fold, int skip_fold, const es_confidence *c,
                        const double *beta, double l2, double *g, double *h) {
    int m = d->n_features + 1;
    double total = 0;
    if (g) memset(g, 0, (size_t)m * sizeof *g);
    if (h) memset(h, 0, (size_t)m * m * sizeof *h);
#pragma omp parallel reduction(+ : total)
    {
        double *z = malloc((size_t)m * sizeof *z);
        double *lg = g ? calloc((size_t)m, sizeof *lg) : NULL, *lh = h ? calloc((size_t)m * m, sizeof *lh) : NULL;
        int ok = z && (!g || lg) && (!h || lh);
#pragma omp for schedule(static)
        for (long i = 0; i < (long)d->n; i++) {
            if (!ok || !row_used(d, row_fold, skip_fold, (size_t)i)) continue;
            const double *x = d->x + (size_t)i * d->n_features;
            z[0] = 1.0;
            double t = beta[0];
            for (int j = 1; j < m; j++) {
                z[j] = (x[j - 1] - c->mean[j - 1]) / c->sd[j - 1];
                t += beta[j] * z[j];
            }
            int y = d->label[i];
            total += softplus(t) - y * t;
            if (!g) continue;
            double pr = 1.0 / (1.0 + exp(-t)), wt = pr * (1.0 - pr);
            for (int j = 0; j < m; j++) {
                lg[j] += (pr - y) * z[j];
                for (int k = 0; k <= j; k++) lh[j * m + k] += wt * z[j] * z[k];
            }
        }
#pragma omp critical
        {
            if (!ok) total = NAN;
            for (int j = 0; ok && g && j < m; j++) g[j] += lg[j];
            for (int j = 0; ok && h && j < m * m; j++) h[j] += lh[j];
        }
        free(z);
        free(lg);
        free(lh);
    }
    for (int j = 1; j < m; j++) {
        total += 0.5 * l2 * beta[j] * beta[j];
        if (g) g[j] += l2 * beta[j];
        if (h) h[j * m + j] += l2;
    }
    return total;
}

/* Solves h x = g in place (g becomes x) by Cholesky of the lower triangle
 * of h (destroyed); -1 when h is not positive definite. */
static int cholesky_solve(double *h, double *g, int m) {
    for (int j = 0; j < m; j++) {
        double s = h[j * m + j];
        for (int k = 0; k < j; k++) s -= h[j * m + k] * h[j * m + k];
        if (!(s > 0)) return -1;
        h[j * m + j] = sqrt(s);
        for (int i = j + 1; i < m; i++) {
            double t = h[i * m + j];
            for (int k = 0; k < j; k++) t -= h[i * m + k] * h[j * m + k];
            h[i * m + j] = t / h[j * m + j];
        }
    }
    for (int i = 0; i < m; i++) { /* L y = g */
        for (int k = 0; k < i; k++) g[i] -= h[i * m + k] * g[k];
        g[i] /= h[i * m + i];
    }
    for (int i = m - 1; i >= 0; i--) { /* L^T x = y */
        for (int k = i + 1; k < m; k++) g[i] -= h[k * m + i] * g[k];
        g[i] /= h[i * m + i];
    }
    return 0;
}

/* Newton iterations from beta = 0 (the bias at the base rate's log-odds). */
static int newton(const cf_dataset *d, const int *row_fold, int skip_fold, const es_confidence *c,
                  double l2, double *beta, double base_rate) {
    int m = d->n_features + 1;
    double *g = malloc((size_t)m * sizeof *g), *h = malloc((size_t)m * m * sizeof *h);
    double *trial = malloc((size_t)m * sizeof *trial);
    int rc = g && h && trial ? 0 : -1;
    memset(beta, 0, (size_t)m * sizeof *beta);
    beta[0] = log(base_rate / (1.0 - base_rate));
    for (int it = 0; rc == 0 && it < 100; it++) {
        double f = objective(d, row_fold, skip_fold, c, beta, l2, g, h);
        if (!isfinite(f) || cholesky_solve(h, g, m) < 0) {
            rc = -1;
            break;
        }
        double step = 1.0, biggest = 0;
        for (int j = 0; j < m; j++) biggest = fmax(biggest, fabs(g[j]));
        for (int half = 0; half < 40; half++, step *= 0.5) {
            for (int j = 0; j < m; j++) trial[j] = beta[j] - step * g[j];
            if (objective(d, row_fold, skip_fold, c, trial, l2, NULL, NULL) <= f + 1e-12 * fabs(f)) break;
        }
        memcpy(beta, trial, (size_t)m * sizeof *beta);
        if (step * biggest < 1e-10) break;
    }
    free(g);
    free(h);
    free(trial);
    return rc;
}

es_confidence *cf_fit_rows(const cf_dataset *d, const int *row_fold, int skip_fold, double l2,
                           es_error *err) {
    es_confidence *c = cf_model_new(d->n_layers);
    double *beta = c ? malloc((size_t)(d->n_features + 1) * sizeof *beta) : NULL;
    if (!beta) {
        es_confidence_free(c);
        es_fail(err, "confidence fit: out of memory");
        return NULL;
    }
    size_t n = standardise(d, row_fold, skip_fold, c), npos = 0;
    for (size_t i = 0; i < d->n; i++) npos += row_used(d, row_fold, skip_fold, i) && d->label[i] == 1;
    int rc = 0;
    if (npos == 0 || npos == n)
        rc = es_fail(err, "confidence fit: the training rows hold %zu errors among %zu tokens; both kinds are needed",
                     npos, n);
    else if (newton(d, row_fold, skip_fold, c, l2, beta, (double)npos / (double)n) < 0)
        rc = es_fail(err, "confidence fit: the regression did not converge (out of memory or degenerate features)");
    if (rc == 0) {
        c->bias = beta[0];
        memcpy(c->w, beta + 1, (size_t)d->n_features * sizeof *c->w);
    }
    free(beta);
    if (rc < 0) {
        es_confidence_free(c);
        return NULL;
    }
    return c;
}

int cf_cross_validate(const cf_dataset *d, int k, double l2, uint64_t seed, double *oof, int *row_fold,
                      es_error *err) {
    int *item_fold = malloc((d->n_items ? d->n_items : 1) * sizeof *item_fold);
    if (!item_fold) return es_fail(err, "confidence fit: out of memory");
    cf_assign_folds(d->n_items, k, seed, item_fold);
    for (size_t i = 0; i < d->n; i++) row_fold[i] = item_fold[d->item[i]];
    free(item_fold);
    for (int f = 0; f < k; f++) {
        es_confidence *c = cf_fit_rows(d, row_fold, f, l2, err);
        if (!c) return -1;
        for (size_t i = 0; i < d->n; i++)
            if (row_fold[i] == f) oof[i] = cf_error_prob(c, d->x + i * (size_t)d->n_features);
        es_confidence_free(c);
    }
    return 0;
}
