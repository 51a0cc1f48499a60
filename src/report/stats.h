/* The statistics of the report, written once and tested against values
 * computed by hand or published examples (tests/test_report_stats.c).
 * GSL supplies the distributions (normal, t) and sorting where it has them;
 * AUROC, the bootstrap and Benjamini-Hochberg are written here.
 * All functions are pure: inputs are not modified, results are returned. */
#ifndef ES_REPORT_STATS_H
#define ES_REPORT_STATS_H

#include <stddef.h>
#include <stdint.h>

typedef struct rs_summary {
    size_t n;
    double mean, median, sd; /* sd with n - 1; NAN when n < 2 */
} rs_summary;

rs_summary rs_summarise(const double *x, size_t n);

/* Mann-Whitney U of x against y (U counts pairs with x > y, ties 1/2),
 * two-sided p from the normal approximation with tie correction and
 * continuity correction. NAN p when either group is empty. */
typedef struct rs_mann_whitney {
    double u;
    double z;
    double p;
} rs_mann_whitney;

rs_mann_whitney rs_mann_whitney_u(const double *x, size_t nx, const double *y, size_t ny);

/* AUROC = P(X > Y) + P(X = Y) / 2 = U / (nx * ny); NAN if a group is empty. */
double rs_auroc(const double *x, size_t nx, const double *y, size_t ny);

/* Cohen's d = (mean x - mean y) / pooled sd; NAN if undefined. */
double rs_cohen_d(const double *x, size_t nx, const double *y, size_t ny);

/* Percentile bootstrap 95% interval of a statistic of one or two groups,
 * B resamples, deterministic for a seed. */
typedef double (*rs_stat1)(const double *x, size_t n);
typedef double (*rs_stat2)(const double *x, size_t nx, const double *y, size_t ny);
void rs_bootstrap_ci(const double *x, size_t n, rs_stat1 stat, int B, uint64_t seed,
                     double *lo, double *hi);
void rs_bootstrap_ci2(const double *x, size_t nx, const double *y, size_t ny, rs_stat2 stat,
                      int B, uint64_t seed, double *lo, double *hi);
/* The same for rows that come in clusters (the tokens of one answer are not
 * independent): each resample draws n_clusters clusters with replacement and
 * takes all their rows, split by label into the two groups (label 1: x,
 * label 0: y; rows with label < 0 or a NaN value are left out).
 * cluster[i] in [0, n_clusters). */
void rs_cluster_bootstrap_ci2(const double *v, const signed char *label, const int *cluster, size_t n,
                              size_t n_clusters, rs_stat2 stat, int B, uint64_t seed, double *lo,
                              double *hi);
double rs_mean(const double *x, size_t n);

/* Paired percentile bootstrap 95% interval of mean(a) - mean(b) over n
 * paired observations: pairs are resampled together (the differences
 * a[i] - b[i] are the units), B resamples, deterministic for a seed. Pairs
 * with a NaN are left out. NAN bounds when no pair is left. */
void rs_paired_bootstrap_diff_ci(const double *a, const double *b, size_t n, int B, uint64_t seed,
                                 double *lo, double *hi);

/* McNemar's exact test of paired binary outcomes: b and c are the two kinds
 * of discordant pairs (A right and B wrong, A wrong and B right). Under the
 * null b ~ Binomial(b + c, 1/2); the two-sided p is twice the smaller tail,
 * capped at 1 (1 when b + c = 0). */
double rs_mcnemar_exact_p(unsigned b, unsigned c);

/* Benjamini-Hochberg adjusted p-values (q-values) of p[0..n) into q. */
void rs_bh_adjust(const double *p, size_t n, double *q);

#endif
