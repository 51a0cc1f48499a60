/* The report's statistics (stats.h): summaries, Mann-Whitney U, AUROC,
 * Cohen's d, the percentile bootstrap (one group, two groups, paired),
 * McNemar's exact test and Benjamini-Hochberg.
 *
 * NaN policy: a NaN in an input is a value that was not measured (the trace
 * stores NULL, the loader turns it into NAN), so every function skips NaNs
 * and counts only the other values: n in rs_summary and the group sizes of
 * the tests are the non-NaN counts. rs_bh_adjust gives a NaN p-value a NaN
 * q-value and leaves it out of the number of tests m.
 *
 * GSL supplies sorting, the moments, the median, quantiles and the normal
 * tail; the rest is written here once. Every function allocates what it
 * needs and returns NAN results when out of memory. */
#include "report/stats.h"

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/rng.h"

/* The non-NaN values of x (malloc'd, at least one slot) and their count. */
static double *finite_copy(const double *x, size_t n, size_t *out_n) {
    double *c = malloc((n ? n : 1) * sizeof *c);
    size_t k = 0;
    if (c)
        for (size_t i = 0; i < n; i++)
            if (!isnan(x[i])) c[k++] = x[i];
    *out_n = k;
    return c;
}

/* ------------------------------------------------------------ summaries -- */

double rs_mean(const double *x, size_t n) {
    double sum = 0;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!isnan(x[i])) {
            sum += x[i];
            k++;
        }
    return k ? sum / (double)k : NAN;
}

rs_summary rs_summarise(const double *x, size_t n) {
    rs_summary s = {.mean = NAN, .median = NAN, .sd = NAN};
    double *c = finite_copy(x, n, &s.n);
    if (!c || s.n == 0) {
        free(c);
        return s;
    }
    s.mean = gsl_stats_mean(c, 1, s.n);
    if (s.n >= 2) s.sd = gsl_stats_sd_m(c, 1, s.n, s.mean);
    gsl_sort(c, 1, s.n);
    s.median = gsl_stats_median_from_sorted_data(c, 1, s.n);
    free(c);
    return s;
}

/* -------------------------------------------------------- rank statistics -- */

typedef struct tagged {
    double value;
    int from_x;
} tagged;

static int by_value(const void *a, const void *b) {
    double u = ((const tagged *)a)->value, v = ((const tagged *)b)->value;
    return (u > v) - (u < v);
}

/* U of x against y by ranks of the pooled sample (ties get their average
 * rank), and the tie term sum(t^3 - t) over groups of t equal values.
 * Returns -1 when out of memory or a group (after skipping NaNs) is empty. */
static int rank_u(const double *x, size_t nx, const double *y, size_t ny, double *u, double *ties,
                  size_t *kx, size_t *ky) {
    tagged *all = malloc((nx + ny + 1) * sizeof *all);
    if (!all) return -1;
    size_t n = 0;
    *kx = *ky = 0;
    for (size_t i = 0; i < nx; i++)
        if (!isnan(x[i])) all[n++] = (tagged){x[i], 1}, ++*kx;
    for (size_t i = 0; i < ny; i++)
        if (!isnan(y[i])) all[n++] = (tagged){y[i], 0}, ++*ky;
    if (*kx == 0 || *ky == 0) {
        free(all);
        return -1;
    }
    qsort(all, n, sizeof *all, by_value);
    double rank_sum_x = 0;
    *ties = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && all[j].value == all[i].value) j++;
        double avg_rank = 0.5 * (double)(i + 1 + j); /* ranks i+1 .. j */
        for (size_t k = i; k < j; k++)
            if (all[k].from_x) rank_sum_x += avg_rank;
        double t = (double)(j - i);
        *ties += t * t * t - t;
        i = j;
    }
    free(all);
    *u = rank_sum_x - 0.5 * (double)*kx * (double)(*kx + 1);
    return 0;
}

rs_mann_whitney rs_mann_whitney_u(const double *x, size_t nx, const double *y, size_t ny) {
    rs_mann_whitney r = {NAN, NAN, NAN};
    double u, ties;
    size_t kx, ky;
    if (rank_u(x, nx, y, ny, &u, &ties, &kx, &ky) < 0) return r;
    double n1 = (double)kx, n2 = (double)ky, n = n1 + n2;
    double mu = 0.5 * n1 * n2;
    double var = n1 * n2 / 12.0 * ((n + 1) - ties / (n * (n - 1)));
    r.u = u;
    if (!(var > 0)) { /* every value equal (or one value in all): no evidence */
        r.z = 0;
        r.p = 1;
        return r;
    }
    /* continuity correction: |U - mu| shrinks by 1/2, never past 0 */
    double dev = fmax(0.0, fabs(u - mu) - 0.5);
    r.z = (u >= mu ? dev : -dev) / sqrt(var);
    r.p = fmin(1.0, 2.0 * gsl_cdf_ugaussian_Q(fabs(r.z)));
    return r;
}

double rs_auroc(const double *x, size_t nx, const double *y, size_t ny) {
    double u, ties;
    size_t kx, ky;
    if (rank_u(x, nx, y, ny, &u, &ties, &kx, &ky) < 0) return NAN;
    return u / ((double)kx * (double)ky);
}

double rs_cohen_d(const double *x, size_t nx, const double *y, size_t ny) {
    rs_summary a = rs_summarise(x, nx), b = rs_summarise(y, ny);
    if (a.n == 0 || b.n == 0 || a.n + b.n < 3) return NAN;
    double va = a.n >= 2 ? a.sd * a.sd : 0, vb = b.n >= 2 ? b.sd * b.sd : 0;
    double pooled = sqrt(((double)(a.n - 1) * va + (double)(b.n - 1) * vb) / (double)(a.n + b.n - 2));
    if (!(pooled > 0)) return NAN;
    return (a.mean - b.mean) / pooled;
}

/* ------------------------------------------------------------- bootstrap -- */

static uint64_t stream_start(uint64_t seed) {
    uint64_t s = es_splitmix64(seed);
    return s ? s : 0x9e3779b97f4a7c15ull; /* xorshift's state must not be 0 */
}

/* A uniform index in [0, n): the top 53 bits scaled (bias below 2^-40). */
static size_t draw_index(uint64_t *state, size_t n) {
    double u = (double)(es_xorshift64s(state) >> 11) * (1.0 / 9007199254740992.0);
    size_t i = (size_t)(u * (double)n);
    return i < n ? i : n - 1;
}

static void resample(const double *src, size_t n, double *dst, uint64_t *state) {
    for (size_t i = 0; i < n; i++) dst[i] = src[draw_index(state, n)];
}

/* The 2.5% and 97.5% quantiles of the non-NaN statistics (sorted in place). */
static void percentile_interval(double *stats, size_t n, double *lo, double *hi) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!isnan(stats[i])) stats[k++] = stats[i];
    if (k == 0) {
        *lo = *hi = NAN;
        return;
    }
    gsl_sort(stats, 1, k);
    *lo = gsl_stats_quantile_from_sorted_data(stats, 1, k, 0.025);
    *hi = gsl_stats_quantile_from_sorted_data(stats, 1, k, 0.975);
}

void rs_bootstrap_ci(const double *x, size_t n, rs_stat1 stat, int B, uint64_t seed,
                     double *lo, double *hi) {
    *lo = *hi = NAN;
    size_t k;
    double *c = finite_copy(x, n, &k);
    double *buf = c && k > 0 && B > 0 ? malloc(k * sizeof *buf) : NULL;
    double *stats = buf ? malloc((size_t)B * sizeof *stats) : NULL;
    if (stats) {
        uint64_t state = stream_start(seed);
        for (int b = 0; b < B; b++) {
            resample(c, k, buf, &state);
            stats[b] = stat(buf, k);
        }
        percentile_interval(stats, (size_t)B, lo, hi);
    }
    free(c);
    free(buf);
    free(stats);
}

/* Two groups are resampled each within itself, keeping their sizes. */
void rs_bootstrap_ci2(const double *x, size_t nx, const double *y, size_t ny, rs_stat2 stat,
                      int B, uint64_t seed, double *lo, double *hi) {
    *lo = *hi = NAN;
    size_t kx, ky;
    double *cx = finite_copy(x, nx, &kx), *cy = finite_copy(y, ny, &ky);
    int ok = cx && cy && kx > 0 && ky > 0 && B > 0;
    double *bx = ok ? malloc(kx * sizeof *bx) : NULL, *by = ok ? malloc(ky * sizeof *by) : NULL;
    double *stats = bx && by ? malloc((size_t)B * sizeof *stats) : NULL;
    if (stats) {
        uint64_t state = stream_start(seed);
        for (int b = 0; b < B; b++) {
            resample(cx, kx, bx, &state);
            resample(cy, ky, by, &state);
            stats[b] = stat(bx, kx, by, ky);
        }
        percentile_interval(stats, (size_t)B, lo, hi);
    }
    free(cx);
    free(cy);
    free(bx);
    free(by);
    free(stats);
}

/* The rows of each cluster, as index lists (CSR), then resamples of whole
 * clusters. */
typedef struct clusters {
    size_t *start; /* (n_clusters + 1) */
    size_t *row;   /* rows kept, grouped by cluster */
} clusters;

static int clusters_build(clusters *c, const double *v, const signed char *label, const int *cluster, size_t n,
                          size_t n_clusters) {
    c->start = calloc(n_clusters + 1, sizeof *c->start);
    c->row = malloc((n ? n : 1) * sizeof *c->row);
    if (!c->start || !c->row) return -1;
    for (size_t i = 0; i < n; i++)
        if (label[i] >= 0 && !isnan(v[i]) && cluster[i] >= 0 && (size_t)cluster[i] < n_clusters)
            c->start[cluster[i] + 1]++;
    for (size_t k = 0; k < n_clusters; k++) c->start[k + 1] += c->start[k];
    size_t *fill = malloc((n_clusters + 1) * sizeof *fill);
    if (!fill) return -1;
    memcpy(fill, c->start, (n_clusters + 1) * sizeof *fill);
    for (size_t i = 0; i < n; i++)
        if (label[i] >= 0 && !isnan(v[i]) && cluster[i] >= 0 && (size_t)cluster[i] < n_clusters)
            c->row[fill[cluster[i]]++] = i;
    free(fill);
    return 0;
}

/* Appends to a growable array. */
static int push_value(double **a, size_t *n, size_t *cap, double x) {
    if (*n == *cap) {
        size_t want = *cap ? 2 * *cap : 256;
        double *g = realloc(*a, want * sizeof *g);
        if (!g) return -1;
        *a = g, *cap = want;
    }
    (*a)[(*n)++] = x;
    return 0;
}

void rs_cluster_bootstrap_ci2(const double *v, const signed char *label, const int *cluster, size_t n,
                              size_t n_clusters, rs_stat2 stat, int B, uint64_t seed, double *lo,
                              double *hi) {
    *lo = *hi = NAN;
    clusters c = {0};
    double *x = NULL, *y = NULL, *stats = NULL;
    size_t capx = 0, capy = 0;
    int ok = n_clusters > 0 && B > 0 && clusters_build(&c, v, label, cluster, n, n_clusters) == 0 &&
             (stats = malloc((size_t)B * sizeof *stats)) != NULL;
    uint64_t state = stream_start(seed);
    for (int b = 0; ok && b < B; b++) {
        size_t nx = 0, ny = 0;
        for (size_t k = 0; ok && k < n_clusters; k++) {
            size_t j = draw_index(&state, n_clusters);
            for (size_t r = c.start[j]; ok && r < c.start[j + 1]; r++) {
                size_t i = c.row[r];
                ok = (label[i] ? push_value(&x, &nx, &capx, v[i]) : push_value(&y, &ny, &capy, v[i])) == 0;
            }
        }
        stats[b] = nx && ny ? stat(x, nx, y, ny) : NAN;
    }
    if (ok) percentile_interval(stats, (size_t)B, lo, hi);
    free(c.start);
    free(c.row);
    free(x);
    free(y);
    free(stats);
}

/* Resampling pairs together is resampling their differences: the mean of
 * the resampled differences is the difference of the resampled means. */
void rs_paired_bootstrap_diff_ci(const double *a, const double *b, size_t n, int B, uint64_t seed,
                                 double *lo, double *hi) {
    *lo = *hi = NAN;
    double *d = malloc((n ? n : 1) * sizeof *d);
    if (!d) return;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!isnan(a[i]) && !isnan(b[i])) d[k++] = a[i] - b[i];
    rs_bootstrap_ci(d, k, rs_mean, B, seed, lo, hi);
    free(d);
}

/* ------------------------------------------------------------- McNemar -- */

double rs_mcnemar_exact_p(unsigned b, unsigned c) {
    unsigned n = b + c, k = b < c ? b : c;
    if (n == 0) return 1.0;
    double p = 2.0 * gsl_cdf_binomial_P(k, 0.5, n);
    return p < 1.0 ? p : 1.0;
}

/* -------------------------------------------------- Benjamini-Hochberg -- */

/* q_(i) = min over j >= i of min(1, p_(j) * m / j), p sorted ascending
 * (step-up), so that q is monotone in p. */
void rs_bh_adjust(const double *p, size_t n, double *q) {
    size_t m = 0;
    double *c = finite_copy(p, n, &m);
    size_t *order = malloc((m ? m : 1) * sizeof *order);
    if (!c || !order) {
        for (size_t i = 0; i < n; i++) q[i] = NAN;
        free(c);
        free(order);
        return;
    }
    /* order: the positions in p of the non-NaN values, by ascending p */
    gsl_sort_index(order, c, 1, m);
    size_t *where = malloc((m ? m : 1) * sizeof *where);
    if (!where) m = 0;
    for (size_t i = 0, k = 0; where && i < n; i++)
        if (!isnan(p[i])) where[k++] = i;
    for (size_t i = 0; i < n; i++) q[i] = NAN;
    double running = 1.0;
    for (size_t r = m; r-- > 0;) {
        double adj = c[order[r]] * (double)m / (double)(r + 1);
        if (adj < running) running = adj;
        q[where[order[r]]] = running;
    }
    free(where);
    free(c);
    free(order);
}
