/* Tests of the report's statistics (src/report/stats.c) against values
 * worked out by hand (the arithmetic is in the comments) or published, and
 * of the optimised AUROC against the plain pair-counting definition. The
 * suite also runs the data loader's tests (test_report_data.c). */
#include <math.h>
#include <stdlib.h>

#include "report/stats.h"
#include "test.h"
#include "util/rng.h"

void report_data_tests(void); /* test_report_data.c */

/* P(X > Y) + P(X = Y) / 2 by counting every pair: the definition. */
static double auroc_by_pairs(const double *x, size_t nx, const double *y, size_t ny) {
    double wins = 0;
    for (size_t i = 0; i < nx; i++)
        for (size_t j = 0; j < ny; j++) wins += x[i] > y[j] ? 1.0 : x[i] == y[j] ? 0.5 : 0.0;
    return wins / ((double)nx * (double)ny);
}

/* A standard normal draw (Box-Muller on the xorshift stream). */
static double normal_draw(uint64_t *state) {
    double u1 = ((double)(es_xorshift64s(state) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
    double u2 = (double)(es_xorshift64s(state) >> 11) * (1.0 / 9007199254740992.0);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

static void test_summaries(void) {
    TEST("stats: summary by hand, NaN skipped, n = 0 and n = 1") {
        /* {1, 2, 3, 10}: mean 4, median (2 + 3) / 2 = 2.5, squared deviations
         * 9 + 4 + 1 + 36 = 50, sd = sqrt(50 / 3) = 4.08248290 */
        double x[] = {3, 1, NAN, 2, 10};
        rs_summary s = rs_summarise(x, 5);
        CHECK_INT(s.n, 4);
        CHECK_NEAR(s.mean, 4.0, 1e-12);
        CHECK_NEAR(s.median, 2.5, 1e-12);
        CHECK_NEAR(s.sd, 4.08248290463863, 1e-12);
        CHECK(x[0] == 3 && x[4] == 10); /* input untouched */
        CHECK_NEAR(rs_mean(x, 5), 4.0, 1e-12);
        s = rs_summarise(x, 0);
        CHECK(s.n == 0 && isnan(s.mean) && isnan(s.median) && isnan(s.sd));
        CHECK(isnan(rs_mean(x, 0)));
        double one[] = {7.5, NAN};
        s = rs_summarise(one, 2);
        CHECK(s.n == 1 && s.mean == 7.5 && s.median == 7.5 && isnan(s.sd));
        double odd[] = {5, -1, 3};
        CHECK_NEAR(rs_summarise(odd, 3).median, 3.0, 1e-12);
    }
}

static void test_mann_whitney(void) {
    TEST("stats: Mann-Whitney U, textbook example without ties") {
        /* x = {19, 22, 16, 29, 24}, y = {20, 11, 17, 12}: pairs with x > y:
         * 19: 3, 22: 4, 16: 2, 29: 4, 24: 4 -> U = 17 (U of y = 20 - 17 = 3,
         * the usual textbook answer). mu = 20 / 2 = 10, var = 20 * 10 / 12,
         * z = (7 - 0.5) / sqrt(16.667) = 1.592168, p = erfc(z / sqrt 2) = 0.111347. */
        double x[] = {19, 22, 16, 29, 24}, y[] = {20, 11, 17, 12};
        rs_mann_whitney r = rs_mann_whitney_u(x, 5, y, 4);
        CHECK_NEAR(r.u, 17, 1e-12);
        CHECK_NEAR(r.z, 1.5921683328, 1e-9);
        CHECK_NEAR(r.p, 0.1113468865, 1e-8);
        rs_mann_whitney s = rs_mann_whitney_u(y, 4, x, 5); /* swapped: U = 3, z < 0, same p */
        CHECK_NEAR(s.u, 3, 1e-12);
        CHECK_NEAR(s.z, -1.5921683328, 1e-9);
        CHECK_NEAR(s.p, r.p, 1e-12);
    }
    TEST("stats: Mann-Whitney U with ties, by hand") {
        /* x = {1, 2, 2, 4}, y = {2, 3, 5}. Pooled, sorted: 1x 2x 2x 2y 3y 4x 5y;
         * the three 2s share ranks 2..4 -> 3. R_x = 1 + 3 + 3 + 6 = 13,
         * U = 13 - 4 * 5 / 2 = 3 (pairs: 1: 0; each 2: 1/2; 4: 2 -> 3).
         * mu = 6; tie term 3^3 - 3 = 24; var = 12/12 * (8 - 24 / (7 * 6)) =
         * 7.4285714; z = -(3 - 0.5) / 2.7255405 = -0.9172492;
         * p = erfc(0.9172492 / sqrt 2) = 0.3590121 (table: 2 * Q(0.92) = 0.358). */
        double x[] = {1, 2, 2, 4}, y[] = {2, 3, 5};
        rs_mann_whitney r = rs_mann_whitney_u(x, 4, y, 3);
        CHECK_NEAR(r.u, 3, 1e-12);
        CHECK_NEAR(r.z, -0.9172492321, 1e-9);
        CHECK_NEAR(r.p, 0.3590120537, 1e-8);
    }
    TEST("stats: Mann-Whitney edge cases: empty, n = 1, all equal, NaN skipped") {
        double x[] = {1, 2}, y[] = {NAN};
        rs_mann_whitney r = rs_mann_whitney_u(x, 2, y, 0);
        CHECK(isnan(r.u) && isnan(r.z) && isnan(r.p));
        r = rs_mann_whitney_u(x, 2, y, 1); /* y is all NaN: empty */
        CHECK(isnan(r.p));
        /* one against one: U = 0, mu = 1/2, |U - mu| - 1/2 = 0 -> z = 0, p = 1 */
        double a[] = {1}, b[] = {2};
        r = rs_mann_whitney_u(a, 1, b, 1);
        CHECK(r.u == 0 && r.z == 0 && r.p == 1);
        double e1[] = {5, 5, 5}, e2[] = {5, 5};
        r = rs_mann_whitney_u(e1, 3, e2, 2);
        CHECK(r.u == 3 && r.z == 0 && r.p == 1);
        /* NaNs out: the ties example again */
        double xn[] = {1, NAN, 2, 2, 4}, yn[] = {2, 3, NAN, 5};
        r = rs_mann_whitney_u(xn, 5, yn, 4);
        CHECK_NEAR(r.u, 3, 1e-12);
        CHECK_NEAR(r.p, 0.3590120537, 1e-8);
    }
}

static void test_auroc(void) {
    TEST("stats: AUROC on hand cases with ties") {
        double x1[] = {3, 4}, y1[] = {1, 2};
        CHECK_NEAR(rs_auroc(x1, 2, y1, 2), 1.0, 1e-12);
        CHECK_NEAR(rs_auroc(y1, 2, x1, 2), 0.0, 1e-12);
        /* x = {2, 3, 3, 5}, y = {1, 3, 4}: 2 beats 1 (1); each 3 beats 1 and
         * ties 3 (1.5 each); 5 beats all (3): 7 / 12 */
        double x2[] = {2, 3, 3, 5}, y2[] = {1, 3, 4};
        CHECK_NEAR(rs_auroc(x2, 4, y2, 3), 7.0 / 12.0, 1e-12);
        /* {1, 2, 3} vs {2}: 0 + 0.5 + 1 over 3 = 0.5 */
        double x3[] = {1, 2, 3}, y3[] = {2};
        CHECK_NEAR(rs_auroc(x3, 3, y3, 1), 0.5, 1e-12);
        double e1[] = {5, 5, 5}, e2[] = {5, 5};
        CHECK_NEAR(rs_auroc(e1, 3, e2, 2), 0.5, 1e-12);
        double one[] = {1};
        CHECK_NEAR(rs_auroc(one, 1, one, 1), 0.5, 1e-12);
        CHECK(isnan(rs_auroc(one, 1, one, 0)));
        double xn[] = {2, NAN, 3, 3, 5}, yn[] = {NAN, 1, 3, 4};
        CHECK_NEAR(rs_auroc(xn, 5, yn, 4), 7.0 / 12.0, 1e-12);
    }
    TEST("stats: AUROC by ranks equals counting every pair (random, many ties)") {
        uint64_t state = es_splitmix64(42);
        double x[97], y[61];
        for (int trial = 0; trial < 20; trial++) {
            int levels = 1 + trial; /* few levels: ties everywhere */
            size_t nx = 1 + es_xorshift64s(&state) % 97, ny = 1 + es_xorshift64s(&state) % 61;
            for (size_t i = 0; i < nx; i++) x[i] = (double)(es_xorshift64s(&state) % (uint64_t)levels);
            for (size_t i = 0; i < ny; i++) y[i] = (double)(es_xorshift64s(&state) % (uint64_t)levels) + 0.5 * (trial % 2);
            CHECK_NEAR(rs_auroc(x, nx, y, ny), auroc_by_pairs(x, nx, y, ny), 1e-12);
            CHECK_NEAR(rs_mann_whitney_u(x, nx, y, ny).u, auroc_by_pairs(x, nx, y, ny) * (double)(nx * ny), 1e-9);
        }
    }
}

static void test_cohen_d(void) {
    TEST("stats: Cohen's d by hand, undefined cases") {
        /* x = {2, 4, 6}: mean 4, var 4; y = {1, 2, 3}: mean 2, var 1;
         * pooled sd = sqrt((2 * 4 + 2 * 1) / 4) = sqrt(2.5); d = 2 / 1.5811388 */
        double x[] = {2, 4, 6}, y[] = {1, 2, 3};
        CHECK_NEAR(rs_cohen_d(x, 3, y, 3), 1.2649110641, 1e-9);
        CHECK_NEAR(rs_cohen_d(y, 3, x, 3), -1.2649110641, 1e-9);
        /* n = 1 against {1, 2, 3}: pooled over df 2 = sqrt(2 * 1 / 2) = 1; d = 5 - 2 */
        double one[] = {5};
        CHECK_NEAR(rs_cohen_d(one, 1, y, 3), 3.0, 1e-12);
        CHECK(isnan(rs_cohen_d(one, 1, one, 1))); /* no degrees of freedom */
        CHECK(isnan(rs_cohen_d(x, 3, y, 0)));
        double c1[] = {2, 2}, c2[] = {3, 3};
        CHECK(isnan(rs_cohen_d(c1, 2, c2, 2))); /* zero spread */
        double xn[] = {2, NAN, 4, 6};
        CHECK_NEAR(rs_cohen_d(xn, 4, y, 3), 1.2649110641, 1e-9);
    }
}

static double auroc_stat(const double *x, size_t nx, const double *y, size_t ny) {
    return rs_auroc(x, nx, y, ny);
}

static void test_bootstrap(void) {
    TEST("stats: bootstrap 95% CI of the mean covers about 95% on normal data") {
        /* 400 samples of n = 50 from N(1, 2^2); the percentile interval is
         * known to undercover slightly at this n (about 93-94%). */
        enum { REPS = 400, N = 50, B = 1000 };
        uint64_t state = es_splitmix64(7);
        double x[N];
        int covered = 0;
        for (int r = 0; r < REPS; r++) {
            for (int i = 0; i < N; i++) x[i] = 1.0 + 2.0 * normal_draw(&state);
            double lo, hi;
            rs_bootstrap_ci(x, N, rs_mean, B, (uint64_t)r, &lo, &hi);
            covered += lo <= 1.0 && 1.0 <= hi;
        }
        double coverage = (double)covered / REPS;
        CHECKF(coverage >= 0.91 && coverage <= 0.98, "coverage %.3f", coverage);
    }
    TEST("stats: bootstrap is deterministic for a seed, NaN skipped, empty gives NaN") {
        double x[] = {1, 5, 2, 8, 3, 9, 4, NAN}, lo, hi, lo2, hi2;
        rs_bootstrap_ci(x, 8, rs_mean, 500, 123, &lo, &hi);
        rs_bootstrap_ci(x, 8, rs_mean, 500, 123, &lo2, &hi2);
        CHECK(lo == lo2 && hi == hi2);
        CHECK(lo < 4.571428 && 4.571429 < hi && lo >= 1 && hi <= 9); /* mean of the 7 */
        rs_bootstrap_ci(x, 8, rs_mean, 500, 124, &lo2, &hi2);
        CHECK(lo != lo2 || hi != hi2);
        rs_bootstrap_ci(x, 0, rs_mean, 500, 1, &lo, &hi);
        CHECK(isnan(lo) && isnan(hi));
        rs_bootstrap_ci(x, 7, rs_mean, 0, 1, &lo, &hi);
        CHECK(isnan(lo) && isnan(hi));
        double c[] = {3, 3, 3};
        rs_bootstrap_ci(c, 3, rs_mean, 200, 1, &lo, &hi);
        CHECK(lo == 3 && hi == 3);
    }
    TEST("stats: two-group bootstrap of the AUROC brackets the estimate") {
        uint64_t state = es_splitmix64(99);
        double x[80], y[60];
        for (int i = 0; i < 80; i++) x[i] = 0.8 + normal_draw(&state);
        for (int i = 0; i < 60; i++) y[i] = normal_draw(&state);
        double lo, hi, lo2, hi2, a = rs_auroc(x, 80, y, 60);
        rs_bootstrap_ci2(x, 80, y, 60, auroc_stat, 400, 5, &lo, &hi);
        rs_bootstrap_ci2(x, 80, y, 60, auroc_stat, 400, 5, &lo2, &hi2);
        CHECK(lo == lo2 && hi == hi2);
        /* true AUROC = Phi(0.8 / sqrt 2) = 0.714; the CI is a few tenths wide */
        CHECKF(lo < a && a < hi && hi - lo > 0.05 && hi - lo < 0.4 && lo > 0.5, "%g [%g, %g]", a, lo, hi);
        rs_bootstrap_ci2(x, 80, y, 0, auroc_stat, 400, 5, &lo, &hi);
        CHECK(isnan(lo) && isnan(hi));
    }
    TEST("stats: cluster bootstrap: copies within a cluster change nothing; wider than the row bootstrap") {
        /* 30 clusters of one value each (label: the first 12 are 1), and the
         * same clusters with every row repeated 20 times: resampling whole
         * clusters draws the same clusters (same seed), and each statistic of
         * the copies equals that of the singles (the AUROC counts pairs in the
         * same proportions), so the intervals are equal; resampling the 600
         * rows as if independent gives a much narrower interval. */
        enum { K = 30, M = 20 };
        uint64_t state = es_splitmix64(7);
        double v1[K], vm[K * M];
        signed char l1[K], lm[K * M];
        int c1[K], cm[K * M];
        for (int k = 0; k < K; k++) {
            l1[k] = k < 12;
            v1[k] = (l1[k] ? 0.7 : 0.0) + normal_draw(&state);
            c1[k] = k;
            for (int m = 0; m < M; m++) vm[k * M + m] = v1[k], lm[k * M + m] = l1[k], cm[k * M + m] = k;
        }
        double lo1, hi1, lom, him;
        rs_cluster_bootstrap_ci2(v1, l1, c1, K, K, auroc_stat, 400, 3, &lo1, &hi1);
        rs_cluster_bootstrap_ci2(vm, lm, cm, K * M, K, auroc_stat, 400, 3, &lom, &him);
        CHECKF(fabs(lo1 - lom) < 1e-12 && fabs(hi1 - him) < 1e-12, "[%g, %g] vs [%g, %g]", lo1, hi1, lom, him);
        double x[K * M], y[K * M];
        size_t nx = 0, ny = 0;
        for (int i = 0; i < K * M; i++) lm[i] ? (x[nx++] = vm[i]) : (y[ny++] = vm[i]);
        double lor, hir, a = rs_auroc(x, nx, y, ny);
        rs_bootstrap_ci2(x, nx, y, ny, auroc_stat, 400, 3, &lor, &hir);
        CHECKF(lom < a && a < him, "%g [%g, %g]", a, lom, him);
        CHECKF(him - lom > 2.5 * (hir - lor), "clusters [%g, %g], rows [%g, %g]", lom, him, lor, hir);
        /* rows with label -1 or NaN are left out; one label only: NaN */
        lm[0] = -1, vm[1] = NAN;
        rs_cluster_bootstrap_ci2(vm, lm, cm, K * M, K, auroc_stat, 50, 3, &lom, &him);
        CHECK(!isnan(lom) && !isnan(him));
        for (int i = 0; i < K * M; i++) lm[i] = 1;
        rs_cluster_bootstrap_ci2(vm, lm, cm, K * M, K, auroc_stat, 50, 3, &lom, &him);
        CHECK(isnan(lom) && isnan(him));
    }
}

static void test_bh(void) {
    TEST("stats: Benjamini-Hochberg on the 15 p-values of Benjamini & Hochberg (1995)") {
        /* The paper's example (m = 15); p_(i) * 15 / i:
         *  1 .0015   2 .003    3 .0095   4 .035625 5 .0603   6 .0695
         *  7 .063857 8 .0645   9 .0765  10 .486   11 .581182 12 .714875
         * 13 .753231 14 .813214 15 1
         * step-up (minimum from the top): q6 = min(.0695, q7) = .063857,
         * all others unchanged. At 0.05 the first four are rejected, as in
         * the paper. Given in a shuffled order, with a NaN that must not count. */
        static const double sorted_p[15] = {0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344,
                                            0.0459, 0.3240, 0.4262, 0.5719, 0.6528, 0.7590, 1.000};
        static const double sorted_q[15] = {0.0015, 0.003, 0.0095, 0.035625, 0.0603, 0.0298 * 15 / 7,
                                            0.0298 * 15 / 7, 0.0645, 0.0765, 0.486, 0.4262 * 15 / 11,
                                            0.714875, 0.6528 * 15 / 13, 0.759 * 15 / 14, 1.0};
        static const int order[16] = {7, 2, 15, 11, 0, 14, 5, 9, 1, 12, 3, 8, 13, 6, 4, 10};
        double p[16], q[16];
        for (int i = 0; i < 16; i++) p[i] = order[i] == 15 ? NAN : sorted_p[order[i]];
        rs_bh_adjust(p, 16, q);
        int rejected = 0;
        for (int i = 0; i < 16; i++) {
            if (order[i] == 15) {
                CHECK(isnan(q[i]));
                continue;
            }
            CHECK_NEAR(q[i], sorted_q[order[i]], 1e-9);
            rejected += q[i] <= 0.05;
        }
        CHECK_INT(rejected, 4);
    }
    TEST("stats: Benjamini-Hochberg small cases: monotone, capped, empty") {
        /* {0.01, 0.04, 0.03}: sorted .01 .03 .04 -> .03 .045 .04 -> step-up .03 .04 .04 */
        double p[] = {0.01, 0.04, 0.03}, q[3];
        rs_bh_adjust(p, 3, q);
        CHECK_NEAR(q[0], 0.03, 1e-12);
        CHECK_NEAR(q[1], 0.04, 1e-12);
        CHECK_NEAR(q[2], 0.04, 1e-12);
        double ties[] = {0.5, 0.5}, qt[2];
        rs_bh_adjust(ties, 2, qt);
        CHECK_NEAR(qt[0], 0.5, 1e-12);
        CHECK_NEAR(qt[1], 0.5, 1e-12);
        /* p > 1/m at rank 1 with nothing smaller above: 0.9 * 2 = 1.8 -> capped by q2 = 0.95 */
        double big[] = {0.95, 0.9}, qb[2];
        rs_bh_adjust(big, 2, qb);
        CHECK_NEAR(qb[0], 0.95, 1e-12);
        CHECK_NEAR(qb[1], 0.95, 1e-12);
        double one[] = {0.2}, qo[1];
        rs_bh_adjust(one, 1, qo);
        CHECK_NEAR(qo[0], 0.2, 1e-12);
        rs_bh_adjust(one, 0, qo); /* nothing to do, nothing touched */
        double nan2[] = {NAN, NAN}, qn[2] = {0, 0};
        rs_bh_adjust(nan2, 2, qn);
        CHECK(isnan(qn[0]) && isnan(qn[1]));
    }
}

void suite_report(void) {
    test_summaries();
    test_mann_whitney();
    test_auroc();
    test_cohen_d();
    test_bootstrap();
    test_bh();
    report_data_tests();
}
