/* The per-token confidence model inside (README "Confidence"): its features,
 * the model record (confidence.c: features, scoring, JSON), and the fit and
 * its honest evaluation (fit.c: L2 logistic regression, grouped k-fold CV,
 * AUROC and PRR with bootstrap CIs next to the baselines; traces.c: labelled
 * rows from trace databases). The public face is es_confidence_* in
 * entroscope.h; the CLI and the tests use the functions below.
 *
 * The model predicts P(error) of a token; confidence = 1 - P(error).
 * Features of a generated row, for a model of L layers (L = 0: no attention):
 *   0 logit_entropy, 1 logit_varentropy, 2 token_prob = exp(token_logprob),
 *   then per layer l: attn_entropy (mean over heads), attn_varentropy,
 *   attn_entropy_norm = entropy / ln(pos + 1), attn_varentropy_norm =
 *   varentropy / ln(pos + 1)^2 (the maximum entropy over pos + 1 keys is
 *   ln(pos + 1), so the normalised values compare positions). */
#ifndef ES_CONFIDENCE_CONFIDENCE_H
#define ES_CONFIDENCE_CONFIDENCE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "entroscope.h"

#define CF_BASE_FEATURES 3
#define CF_LAYER_FEATURES 4
#define CF_MAX_LAYERS 1024

struct es_confidence {
    int n_layers;     /* attention features of this many layers (0: none) */
    int n_features;   /* CF_BASE_FEATURES + CF_LAYER_FEATURES * n_layers */
    double *mean, *sd; /* (n_features) standardisation z = (x - mean) / sd */
    double *w;        /* (n_features) weights of z in the log-odds of an error */
    double bias;
};

int cf_n_features(int n_layers);
/* Name of feature i of a model of n_layers into buf (e.g. "attn_entropy_norm_L3"). */
void cf_feature_name(int n_layers, int i, char *buf, size_t size);
/* The raw features of a row into x (n_features of them); -1 when one is
 * missing (NaN statistic, no probe, a probe of another shape). */
int cf_features(int n_layers, const es_trace_token *row, double *x);
/* P(error) of standardised-and-weighted raw features x. */
double cf_error_prob(const es_confidence *c, const double *x);

es_confidence *cf_model_new(int n_layers);
/* cJSON object of the model (features, normalisation, weights), to which
 * the fit adds its evaluation; NULL when out of memory. Declared as void *
 * so that users need not include cJSON. */
void *cf_model_json(const es_confidence *c);

/* ------------------------------------------------------------ the fit -- */

/* Labelled rows, grouped by item. token_label: 1 error, 0 fine, -1 not a
 * token-level example (still scored for its answer). */
typedef struct cf_dataset {
    int n_layers, n_features;
    size_t n, cap;
    double *x;         /* (n, n_features) raw features */
    signed char *label; /* (n) token labels */
    int *item;         /* (n) item index */
    double *base;      /* (n, CF_N_BASELINES) baselines, higher = more likely an error */
    size_t n_items, items_cap;
    signed char *item_label; /* (n_items) 1 wrong answer, 0 right answer */
} cf_dataset;

enum { CF_B_MSP, CF_B_ENTROPY, CF_B_NLL, CF_B_ATTN, CF_N_BASELINES };

void cf_dataset_init(cf_dataset *d, int n_layers);
void cf_dataset_free(cf_dataset *d);
/* A new item (its answer label 1 / 0); returns its index or -1 (memory). */
int cf_dataset_add_item(cf_dataset *d, int answer_label);
/* Adds the row to the last item: 1 added, 0 skipped (a feature missing),
 * -1 out of memory. */
int cf_dataset_add_row(cf_dataset *d, const es_trace_token *row, int token_label);

/* Fold of each item: items shuffled with the seed, dealt round-robin. */
void cf_assign_folds(size_t n_items, int k, uint64_t seed, int *fold);
/* L2-regularised logistic regression on the rows with label >= 0 for which
 * use(row) (NULL: all), standardised on those rows. Returns the model or
 * NULL with err set (no rows, one class only, out of memory). */
es_confidence *cf_fit_rows(const cf_dataset *d, const int *row_fold, int skip_fold, double l2,
                           es_error *err);

typedef struct cf_metric {
    double auroc, auroc_lo, auroc_hi;
    double prr, prr_lo, prr_hi;
} cf_metric;

/* Prediction-rejection ratio of error scores s (higher: rather an error) of
 * pos errors and neg good ones: (AR_random - AR_score) / (AR_random -
 * AR_oracle), AR the area under the rejection curve of the retained errors. */
double cf_prr(const double *pos, size_t npos, const double *neg, size_t nneg);

/* Cross-validation: out-of-fold P(error) of every row into oof (n), the
 * folds of the rows into row_fold (n). */
int cf_cross_validate(const cf_dataset *d, int k, double l2, uint64_t seed, double *oof,
                      int *row_fold, es_error *err);

/* Fits on the databases' traces, evaluates by k-fold CV and writes the
 * model with its evaluation to out_json (whole or not at all). progress:
 * a summary line (or NULL). */
typedef struct cf_fit_params {
    int folds;
    double l2;
    int bootstrap;  /* resamples of the CIs */
    uint64_t seed;
    FILE *progress;
} cf_fit_params;

/* The evaluation of a dataset (CV) as a cJSON object (void *), NULL on error. */
void *cf_evaluate(const cf_dataset *d, const cf_fit_params *p, es_error *err);
int cf_fit_dataset(const cf_dataset *d, const cf_fit_params *p, const char *out_json,
                   const char *const *db_paths, int n_dbs, es_error *err);

/* Rows of the databases (traces.c): labelled items as above. */
int cf_dataset_load(cf_dataset *d, const char *const *db_paths, int n_dbs, es_error *err);
int cf_fit(const char *const *db_paths, int n_dbs, const cf_fit_params *p, const char *out_json,
           es_error *err);

/* Per item of the databases: the answer's confidence (mean, min over its
 * scored rows) as CSV to out (header: db,run,item,key,group,tokens,scored,mean,min). */
int cf_apply(const es_confidence *c, const char *const *db_paths, int n_dbs, FILE *out, es_error *err);

#endif
