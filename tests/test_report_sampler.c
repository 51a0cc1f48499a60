/* Tests of the report's sampler parts (src/report/sampler.c, the McNemar
 * test and the paired bootstrap of stats.c, the branch and sampler fields of
 * data.c): McNemar on binomial tails worked out by hand, the paired bootstrap
 * on pairs whose unpaired interval would differ, branch counts and insertion
 * events of hand-made rows, items paired by key in different orders, and the
 * loader on traces with and without the sampler_branch column.
 * Run from suite_report_figures (test_report_figures.c). */
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "entroscope.h"
#include "report/sampler.h"
#include "report/stats.h"
#include "test.h"

void report_sampler_tests(void);

/* ---------------------------------------------------------- statistics -- */

static void test_mcnemar(void) {
    TEST("report sampler: McNemar exact p by hand") {
        /* b = 1, c = 9: n = 10, P(X <= 1) = (C(10,0) + C(10,1)) / 2^10 = 11/1024,
         * two-sided p = 22/1024 = 0.021484375 */
        CHECK_NEAR(rs_mcnemar_exact_p(1, 9), 22.0 / 1024.0, 1e-12);
        CHECK_NEAR(rs_mcnemar_exact_p(9, 1), 22.0 / 1024.0, 1e-12);
        /* b = 0, c = 6: P(X <= 0) = 1/64, p = 2/64 = 0.03125 */
        CHECK_NEAR(rs_mcnemar_exact_p(0, 6), 2.0 / 64.0, 1e-12);
        /* b = 3, c = 1: P(X <= 1) = (1 + 4) / 16, p = 10/16 = 0.625 */
        CHECK_NEAR(rs_mcnemar_exact_p(3, 1), 0.625, 1e-12);
        /* b = c = 5: 2 * P(X <= 5) = 2 * 638/1024 > 1, capped */
        CHECK_NEAR(rs_mcnemar_exact_p(5, 5), 1.0, 0);
        CHECK_NEAR(rs_mcnemar_exact_p(0, 0), 1.0, 0);
    }
}

static double mean_difference(const double *x, size_t nx, const double *y, size_t ny) {
    return rs_mean(x, nx) - rs_mean(y, ny);
}

static void test_paired_bootstrap(void) {
    TEST("report sampler: paired bootstrap CI holds the difference, is deterministic, resamples pairs") {
        double a[20], b[20];
        for (int i = 0; i < 20; i++) {
            a[i] = i % 4 != 0;      /* 15 of 20 */
            b[i] = i % 2 == 0;      /* 10 of 20 */
        }
        double lo, hi, lo2, hi2;
        rs_paired_bootstrap_diff_ci(a, b, 20, 500, 7, &lo, &hi);
        rs_paired_bootstrap_diff_ci(a, b, 20, 500, 7, &lo2, &hi2);
        CHECK(lo <= 0.25 && 0.25 <= hi && lo < hi);
        CHECK(lo == lo2 && hi == hi2);
        /* identical outcomes: every resampled pair has difference 0, whereas
         * resampling the runs separately would spread the difference */
        rs_paired_bootstrap_diff_ci(a, a, 20, 500, 7, &lo, &hi);
        CHECK(lo == 0 && hi == 0);
        rs_bootstrap_ci2(a, 20, a, 20, mean_difference, 500, 7, &lo2, &hi2);
        CHECK(lo2 < 0 && hi2 > 0);
        double nan_a[2] = {NAN, 1}, nan_b[2] = {0, NAN};
        rs_paired_bootstrap_diff_ci(nan_a, nan_b, 2, 100, 1, &lo, &hi);
        CHECK(isnan(lo) && isnan(hi));
    }
}

/* ------------------------------------------------------------ branches -- */

typedef struct fake_runs {
    rd_run run[2];
    rd_item items[2][10];
    rd_row rows[2][10][8];
} fake_runs;

static void set_rows(rd_item *it, rd_row *rows, const char *const *branches, int n, double base) {
    it->rows = rows, it->n_rows = n;
    for (int i = 0; i < n; i++) {
        rows[i] = (rd_row){.step = i, .pos = 3 + i, .logit_entropy = base + i, .logit_varentropy = 1,
                           .attn_entropy = NAN, .attn_varentropy = NAN, .branch = branches[i]};
    }
}

static const char *csv_after(const char *csv, const char *prefix) {
    const char *p = strstr(csv, prefix);
    return p ? p + strlen(prefix) : "";
}

static void test_branch_counts(void) {
    TEST("report sampler: branch counts, insertion events and trigger statistics of hand-made rows") {
        static fake_runs f;
        memset(&f, 0, sizeof f);
        /* as the generator writes them: item 0, one insertion of three tokens,
         * then a raised-temperature "insert" sample; item 1, an insertion of
         * one token, then one of two, and one row without a branch */
        static const char *const b0[] = {"argmax", "inserted", "inserted", "inserted", "insert", "explore"};
        static const char *const b1[] = {"resample", "inserted", "adaptive", "inserted", "inserted", "argmax", NULL};
        rd_run *run = &f.run[0];
        run->study = "gsm8k", run->items = f.items[0], run->n_items = 2;
        set_rows(&f.items[0][0], f.rows[0][0], b0, 6, 10);
        set_rows(&f.items[0][1], f.rows[0][1], b1, 7, 100);
        rsm_branch_tally t;
        rsm_count_branches(run, &t);
        CHECK_INT(t.rows, 13);
        CHECK_INT(t.count[0], 2); /* argmax */
        CHECK_INT(t.count[1], 1); /* insert */
        CHECK_INT(t.count[2], 1);
        CHECK_INT(t.count[3], 1);
        CHECK_INT(t.count[4], 1);
        CHECK_INT(t.count[5], 6); /* inserted */
        CHECK_INT(t.unmarked, 1);
        CHECK_INT(t.other, 0);
        CHECK_INT(t.events, 3);
        CHECK_INT(t.inserted_tokens, 6);
        rsm_row_role roles[7];
        CHECK_INT(rsm_row_roles(&f.items[0][1], roles), 2);
        CHECK(roles[0] == RSM_ROLE_OTHER && roles[1] == RSM_ROLE_TRIGGER && roles[2] == RSM_ROLE_OTHER &&
              roles[3] == RSM_ROLE_TRIGGER && roles[4] == RSM_ROLE_INSERTED && roles[5] == RSM_ROLE_OTHER &&
              roles[6] == RSM_ROLE_OTHER);

        rf_parts parts = {0};
        es_error err;
        CHECK(rsm_branch_table(run, 0, &parts, &err) == 0);
        CHECK_INT(parts.n, 1);
        if (parts.n == 1) {
            const rf_part *p = &parts.items[0];
            CHECK_STR(p->name, "r0-gsm8k-sampler-branches");
            CHECK_INT(p->run, 0);
            CHECK_NEAR(atof(csv_after(p->csv, "\nbranch,argmax,2,")), 2.0 / 13.0, 1e-12);
            CHECK(strstr(p->csv, "\ninsertion_events,inserted,3,\n") != NULL);
            /* logit entropy = base + index: deciding rows 11, 101, 103; the
             * rest of the insertions 12, 13, 104; others 10, 14, 15, 100,
             * 102, 105, 106 (106 is the unmarked row) */
            CHECK_NEAR(atof(csv_after(p->csv, "\nstatistic,logit_entropy/deciding_insertion,3,")), 215.0 / 3.0, 1e-12);
            CHECK_NEAR(atof(csv_after(p->csv, "\nstatistic,logit_entropy/inserted_rest,3,")), 43.0, 1e-12);
            CHECK_NEAR(atof(csv_after(p->csv, "\nstatistic,logit_entropy/other,7,")), 452.0 / 7.0, 1e-12);
            CHECK(strstr(p->csv, "\nstatistic,attn_entropy/deciding_insertion,0,") != NULL);
            CHECK(strstr(p->body, "too small (no rows)") != NULL);
        }
        rf_parts_free(&parts);
        /* a run without branches gets no table */
        static const char *const none[] = {NULL, NULL};
        set_rows(&f.items[1][0], f.rows[1][0], none, 2, 0);
        f.run[1].study = "gsm8k", f.run[1].items = f.items[1], f.run[1].n_items = 1;
        CHECK(rsm_branch_table(&f.run[1], 1, &parts, &err) == 0);
        CHECK_INT(parts.n, 0);
        rf_parts_free(&parts);
    }
}

/* --------------------------------------------------------------- pairs -- */

/* Run r's items: keys[i] with group groups[i] ("correct", "incorrect" or
 * NULL: ungraded) and n_rows[i] generated rows. */
static void fake_gsm_run(fake_runs *f, int r, const char *sampler, const char *const *keys,
                         const char *const *groups, const int *n_rows, int n) {
    static const char *const no_branch[8] = {0};
    rd_run *run = &f->run[r];
    memset(run, 0, sizeof *run);
    run->study = "gsm8k", run->model_name = "tiny", run->db_path = "x.db", run->sampler = sampler;
    run->items = f->items[r], run->n_items = n;
    for (int i = 0; i < n; i++) {
        /* seconds: half a second per row in run 0, one in run 1; key "g3" untimed in run 1 */
        double sec = r == 1 && strcmp(keys[i], "g3") == 0 ? NAN : n_rows[i] * (r + 1) * 0.5;
        f->items[r][i] = (rd_item){.id = i, .key = keys[i], .group = groups[i], .first_error_row = -1,
                                   .seconds = sec};
        set_rows(&f->items[r][i], f->rows[r][i], no_branch, n_rows[i], 0);
    }
}

static void test_pairing(void) {
    TEST("report sampler: items paired by key across orders, unpaired and ungraded items left out") {
        static fake_runs f;
        /* default run first, entropix second: the table puts entropix as A */
        static const char *const kd[] = {"g5", "x", "g0", "g1", "g2", "g3", "g4", "g6"};
        static const char *const gd[] = {"correct", "correct", "incorrect", "incorrect", "incorrect", "correct",
                                         "incorrect", NULL};
        static const int nd[] = {2, 2, 2, 2, 2, 2, 2, 2};
        static const char *const ke[] = {"g0", "g1", "g2", "g3", "g4", "g5", "g6", "y"};
        static const char *const ge[] = {"correct", "correct", "correct", "correct", "incorrect", "incorrect",
                                         "correct", "correct"};
        static const int ne[] = {3, 5, 4, 4, 4, 4, 4, 4};
        fake_gsm_run(&f, 0, "default", kd, gd, nd, 8);
        fake_gsm_run(&f, 1, "entropix", ke, ge, ne, 8);
        int ia[8], ib[8];
        int n = rsm_pair_items(&f.run[1], &f.run[0], ia, ib);
        CHECK_INT(n, 6); /* g0..g5; g6 is ungraded in the default run, x and y unpaired */
        for (int k = 0; k < n && k < 6; k++) {
            CHECK_INT(ia[k], k);
            CHECK_STR(f.run[0].items[ib[k]].key, ke[k]);
        }
        CHECK(rsm_runs_comparable(&f.run[0], &f.run[1]));

        report_data d = {.n_runs = 2, .runs = f.run};
        rf_options o;
        rf_default_options(&o);
        o.bootstrap_b = 300;
        rf_parts parts = {0};
        es_error err;
        CHECK(rsm_pair_tables(&d, &o, &parts, &err) == 0);
        CHECK_INT(parts.n, 1);
        if (parts.n == 1) {
            const rf_part *p = &parts.items[0];
            CHECK_STR(p->name, "pair-r1-r0-gsm8k");
            CHECK_INT(p->run, -1);
            /* pairs g0..g5: entropix 1 1 1 1 0 0, default 0 0 0 1 0 1: accuracy 4/6
             * and 2/6, right only in entropix 3 (g0 g1 g2), only in default 1
             * (g5); McNemar p = 2 * P(X <= 1 | n = 4) = 2 * 5/16; tokens
             * (3 + 5 + 4 + 4 + 4 + 4) / 6 = 4 and 2 */
            const char *line = csv_after(p->csv, "\ngsm8k,1,entropix,0,default,6,");
            double v[13];
            int got = sscanf(line, "%lf,%lf,%lf,%lf,%lf,%lf,%lf,%lf,%lf,%lf,%lf,%lf,%lf", &v[0], &v[1], &v[2], &v[3],
                             &v[4], &v[5], &v[6], &v[7], &v[8], &v[9], &v[10], &v[11], &v[12]);
            CHECK_INT(got, 13);
            CHECK_NEAR(v[0], 4.0 / 6.0, 1e-12);
            CHECK_NEAR(v[1], 2.0 / 6.0, 1e-12);
            CHECK_NEAR(v[2], 2.0 / 6.0, 1e-12);
            CHECK(v[3] <= v[2] && v[2] <= v[4]);
            CHECK_INT(v[5], 3);
            CHECK_INT(v[6], 1);
            CHECK_NEAR(v[7], 0.625, 1e-12);
            CHECK_NEAR(v[8], 4.0, 1e-12);
            CHECK_NEAR(v[9], 2.0, 1e-12);
            /* seconds over the 5 pairs timed in both (g3 is not): entropix
             * (3 + 5 + 4 + 4 + 4) / 5 = 4, default 1 each */
            CHECK_INT(v[10], 5);
            CHECK_NEAR(v[11], 4.0, 1e-12);
            CHECK_NEAR(v[12], 1.0, 1e-12);
        }
        rf_parts_free(&parts);

        /* four pairs: too small; same sampler, another model: not compared */
        f.run[0].n_items = 5; /* g5 x g0 g1 g2 pair with g0 g1 g2 g5 */
        CHECK(rsm_pair_tables(&d, &o, &parts, &err) == 0);
        CHECK(parts.n == 1 && strstr(parts.items[0].body, "too small (4 paired items; at least 5)"));
        rf_parts_free(&parts);
        f.run[0].sampler = NULL; /* not recorded: the default sampler */
        CHECK(rsm_runs_comparable(&f.run[0], &f.run[1]));
        f.run[1].sampler = "default";
        CHECK(!rsm_runs_comparable(&f.run[0], &f.run[1]));
        f.run[1].sampler = "entropix", f.run[1].model_name = "other";
        CHECK(!rsm_runs_comparable(&f.run[0], &f.run[1]));
        f.run[1].model_name = "tiny", f.run[0].study = f.run[1].study = "factual-creative";
        CHECK(!rsm_runs_comparable(&f.run[0], &f.run[1]));
    }
}

/* -------------------------------------------------------------- loader -- */

static int64_t add_branch_item(es_trace *t, int64_t run, const char *key, const char *const *branches, int n) {
    es_trace_item *it = es_trace_item_new(run, key, "p");
    es_trace_token prompt = {.step = -1, .pos = 0, .token_id = 1, .text = "a", .text_len = 1,
                             .logit_entropy = NAN, .logit_varentropy = NAN, .token_logprob = NAN};
    es_trace_item_add(it, &prompt);
    for (int k = 0; k < n; k++) {
        es_trace_token tok = {.step = k, .pos = 1 + k, .token_id = 2, .text = "b", .text_len = 1,
                              .logit_entropy = 1, .logit_varentropy = 1, .token_logprob = -1,
                              .sampler_branch = branches[k]};
        es_trace_item_add(it, &tok);
    }
    es_error err;
    int64_t id = es_trace_item_commit(t, it, "out", "eog", "{\"study\":\"gsm8k\"}", &err);
    es_trace_item_free(it);
    return id;
}

static int build_branch_trace(const char *path) {
    es_error err;
    unlink(path);
    es_trace *t = es_trace_open(path, &err);
    if (!t) return -1;
    es_trace_run ex = {.command = "run gsm8k", .model_name = "tiny", .settings_json = "{\"sampler\":\"entropix\"}"};
    es_trace_run plain = {.command = "run gsm8k", .model_name = "tiny", .settings_json = "{\"seed\":1}"};
    int64_t r1 = es_trace_add_run(t, &ex, &err), r2 = es_trace_add_run(t, &plain, &err);
    static const char *const b[] = {"argmax", "insert", "inserted", "novel"};
    static const char *const none[] = {NULL, NULL};
    int ok = add_branch_item(t, r1, "g0", b, 4) > 0 && add_branch_item(t, r2, "g0", none, 2) > 0;
    es_trace_close(t);
    return ok ? 0 : -1;
}

static void test_loader(void) {
    TEST("report sampler: the loader reads branches and the sampler, and traces without the column") {
        char path[512];
        snprintf(path, sizeof path, "%.300s/report-branches.db", test_tmpdir());
        CHECK(build_branch_trace(path) == 0);
        for (int old = 0; old < 2; old++) {
            if (old) { /* a trace written before sampler_branch existed */
                sqlite3 *db = NULL;
                CHECK(sqlite3_open(path, &db) == SQLITE_OK);
                CHECK(sqlite3_exec(db, "ALTER TABLE tokens DROP COLUMN sampler_branch", NULL, NULL, NULL) == SQLITE_OK);
                sqlite3_close(db);
            }
            report_data d;
            es_error err;
            const char *paths[] = {path};
            CHECKF(report_data_load(&d, paths, 1, &err) == 0, "%s", err.msg);
            CHECK_INT(d.n_runs, 2);
            if (d.n_runs == 2 && d.runs[0].n_items == 1 && d.runs[0].items[0].n_rows == 4) {
                CHECK_STR(d.runs[0].sampler, "entropix");
                CHECK(d.runs[1].sampler == NULL);
                const rd_row *rows = d.runs[0].items[0].rows;
                if (old) {
                    CHECK(rows[0].branch == NULL && rows[3].branch == NULL);
                } else {
                    CHECK_STR(rows[0].branch, "argmax");
                    CHECK_STR(rows[1].branch, "insert");
                    CHECK_STR(rows[2].branch, "inserted");
                    CHECK_STR(rows[3].branch, "novel");
                }
                CHECK(d.runs[1].items[0].rows[0].branch == NULL);
            } else {
                CHECK(!"the runs, items and rows as written");
            }
            report_data_free(&d);
        }
        unlink(path);
    }
}

void report_sampler_tests(void) {
    test_mcnemar();
    test_paired_bootstrap();
    test_branch_counts();
    test_pairing();
    test_loader();
}
