/* The confidence model (src/confidence): on synthetic rows whose error label
 * is a known noisy function of one feature, P(error) = logistic(a x + b)
 * with x ~ N(0, 1), the cross-validated AUROC must come close to the
 * population value computed here by numerical integration; grouped folds
 * must keep each item whole; PRR against hand-computed cases; the model
 * file must round-trip; bad files must fail with one line. End to end on
 * the real stories260K model: `run simpleqa`, grades written by plain SQL,
 * `confidence fit`, `apply`, `generate --confidence` and `report
 * --confidence`, whose table must carry the file's numbers. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>
#include <unistd.h>

#include "cli_run.h"
#include "confidence/confidence.h"
#include "test.h"
#include "util/rng.h"

#define SLOPE 2.0
#define OFFSET (-1.0)
#define LAYERS 2
#define HEADS 3

static double uniform(uint64_t *s) { return ((double)(es_xorshift64s(s) >> 11) + 0.5) / 9007199254740992.0; }
static double normal(uint64_t *s) { return sqrt(-2.0 * log(uniform(s))) * cos(6.283185307179586 * uniform(s)); }

/* Synthetic rows: logit entropy = x carries the signal, the rest is noise;
 * with layers, probes of noise too. */
typedef struct synth_rows {
    float h[LAYERS * HEADS], v[LAYERS * HEADS], ag[LAYERS], in[LAYERS];
    es_attn_probe probe;
} synth_rows;

static es_trace_token synth_token(uint64_t *s, synth_rows *sr, int layers, int step) {
    es_trace_token t = {.step = step, .pos = 10 + step};
    t.logit_entropy = normal(s);
    t.logit_varentropy = normal(s);
    t.token_logprob = log(0.05 + 0.95 * uniform(s));
    if (layers) {
        for (int i = 0; i < LAYERS * HEADS; i++) sr->h[i] = (float)(1 + uniform(s)), sr->v[i] = (float)uniform(s);
        sr->probe = (es_attn_probe){.pos = t.pos, .n_layers = LAYERS, .n_heads = HEADS, .entropy = sr->h,
                                    .varentropy = sr->v, .agreement = sr->ag, .interaction = sr->in,
                                    .entropy_mean = 1.5, .varentropy_mean = 0.5};
        t.attn = &sr->probe;
    }
    return t;
}

static void build(cf_dataset *d, int layers, int n_items, int rows, uint64_t seed) {
    cf_dataset_init(d, layers);
    uint64_t s = es_splitmix64(seed) | 1;
    synth_rows sr;
    for (int i = 0; i < n_items; i++) {
        cf_dataset_add_item(d, 0);
        int any = 0;
        for (int k = 0; k < rows; k++) {
            es_trace_token t = synth_token(&s, &sr, layers, k);
            double p = 1.0 / (1.0 + exp(-(SLOPE * t.logit_entropy + OFFSET)));
            int y = uniform(&s) < p;
            any |= y;
            CHECK_INT(cf_dataset_add_row(d, &t, y), 1);
        }
        d->item_label[i] = (signed char)any;
    }
}

/* Population AUROC of the score x: integral of f_pos(u) F_neg(u) du on a
 * grid, f_pos ∝ phi(x) s(x), f_neg ∝ phi(x) (1 - s(x)). */
static double population_auroc(void) {
    const int n = 20000;
    const double lo = -9, dx = 18.0 / n;
    double zp = 0, zn = 0, acc = 0, cdf_neg = 0;
    for (int i = 0; i < n; i++) {
        double x = lo + (i + 0.5) * dx, phi = exp(-0.5 * x * x), s = 1 / (1 + exp(-(SLOPE * x + OFFSET)));
        zp += phi * s;
        zn += phi * (1 - s);
    }
    for (int i = 0; i < n; i++) {
        double x = lo + (i + 0.5) * dx, phi = exp(-0.5 * x * x), s = 1 / (1 + exp(-(SLOPE * x + OFFSET)));
        double fneg = phi * (1 - s) / zn;
        acc += phi * s / zp * (cdf_neg + 0.5 * fneg); /* the half cell below u */
        cdf_neg += fneg;
    }
    return acc;
}

static double json_number(const cJSON *o, const char *const *keys, int n) {
    for (int i = 0; i < n && o; i++) o = cJSON_GetObjectItemCaseSensitive(o, keys[i]);
    return cJSON_IsNumber(o) ? o->valuedouble : NAN;
}

static void test_recovery(void) {
    TEST("confidence: CV AUROC of P(error) = logistic(2x - 1) near the population value") {
        cf_dataset d;
        build(&d, 0, 400, 10, 7);
        double *oof = malloc(d.n * sizeof *oof), *pos = malloc(d.n * sizeof *pos), *neg = malloc(d.n * sizeof *neg);
        int *fold = malloc(d.n * sizeof *fold);
        es_error err;
        CHECK(cf_cross_validate(&d, 5, 1.0, 3, oof, fold, &err) == 0);
        size_t np = 0, nn = 0;
        for (size_t i = 0; i < d.n; i++) {
            if (d.label[i]) pos[np++] = oof[i];
            else neg[nn++] = oof[i];
        }
        /* AUROC by counting pairs, independent of report/stats */
        double wins = 0;
        for (size_t i = 0; i < np; i++)
            for (size_t j = 0; j < nn; j++) wins += pos[i] > neg[j] ? 1 : pos[i] == neg[j] ? 0.5 : 0;
        double auc = wins / ((double)np * nn), truth = population_auroc();
        /* 4000 rows, ~1300 errors: the sampling sd of an AUROC near 0.83 is
         * about 0.008; 0.03 is 3-4 sd, and noise features fitted by mistake
         * would cost more than that */
        CHECKF(fabs(auc - truth) < 0.03, "CV AUROC %.4f, population %.4f", auc, truth);
        CHECK(truth > 0.8 && truth < 0.87);
        /* the slope: standardised weight / sd of x recovers a */
        es_confidence *c = cf_fit_rows(&d, NULL, -1, 1.0, &err);
        CHECK(c != NULL);
        if (c) {
            CHECKF(fabs(c->w[0] / c->sd[0] - SLOPE) < 0.3, "slope %.3f", c->w[0] / c->sd[0]);
            CHECKF(fabs(c->w[1]) < 0.2 && fabs(c->w[2]) < 0.2, "noise weights %.3f %.3f", c->w[1], c->w[2]);
        }
        es_confidence_free(c);
        free(oof);
        free(pos);
        free(neg);
        free(fold);
        cf_dataset_free(&d);
    }
}

static void test_folds(void) {
    TEST("confidence: grouped folds keep every item in one fold") {
        cf_dataset d;
        build(&d, 0, 53, 7, 11);
        double *oof = malloc(d.n * sizeof *oof);
        int *fold = malloc(d.n * sizeof *fold), count[5] = {0};
        es_error err;
        CHECK(cf_cross_validate(&d, 5, 1.0, 5, oof, fold, &err) == 0);
        for (int f = 0; f < 5; f++) {
            /* an item with a row in the test fold has none in training */
            for (size_t i = 0; i < d.n; i++) {
                if (fold[i] != f) continue;
                for (size_t j = 0; j < d.n; j++)
                    if (d.item[j] == d.item[i] && fold[j] != f) test_fail(__FILE__, __LINE__, "item %d leaks", d.item[i]);
            }
        }
        for (size_t i = 0; i < d.n; i++)
            if (i == 0 || d.item[i] != d.item[i - 1]) count[fold[i]]++;
        for (int f = 0; f < 5; f++) CHECKF(count[f] == 10 || count[f] == 11, "fold %d: %d items", f, count[f]);
        free(oof);
        free(fold);
        cf_dataset_free(&d);
    }
}

static void test_prr(void) {
    TEST("confidence: PRR of hand-worked cases") {
        double one = 1, zero = 0;
        CHECK_NEAR(cf_prr(&one, 1, &zero, 1), 1.0, 1e-12);
        CHECK_NEAR(cf_prr(&zero, 1, &one, 1), -1.0, 1e-12);
        double tie[3] = {0.5, 0.5, 0.5};
        CHECK_NEAR(cf_prr(tie, 1, tie + 1, 2), 0.0, 1e-12);
        /* errors {0.9, 0.2}, good {0.5, 0.1}: rejection order e g e g, retained
         * errors 2,1,1,0 -> AR 4/16; random (2+1.5+1+0.5)/16; oracle (2+1)/16 */
        double p[2] = {0.9, 0.2}, q[2] = {0.5, 0.1};
        CHECK_NEAR(cf_prr(p, 2, q, 2), (5.0 - 4.0) / (5.0 - 3.0), 1e-12);
        CHECK(isnan(cf_prr(p, 2, q, 0)));
    }
}

static void test_roundtrip(void) {
    TEST("confidence: fit -> file -> load scores rows as during fitting") {
        cf_dataset d;
        build(&d, LAYERS, 60, 8, 21);
        CHECK_INT(d.n_features, 3 + 4 * LAYERS);
        char path[512];
        snprintf(path, sizeof path, "%s/conf.json", test_tmpdir());
        const char *dbs[1] = {"synthetic"};
        cf_fit_params p = {.folds = 3, .l2 = 1.0, .bootstrap = 50, .seed = 2};
        es_error err;
        CHECKF(cf_fit_dataset(&d, &p, path, dbs, 1, &err) == 0, "%s", err.msg);
        es_confidence *fitted = cf_fit_rows(&d, NULL, -1, 1.0, &err);
        es_confidence *loaded = es_confidence_load(path, &err);
        CHECKF(loaded != NULL, "%s", err.msg);
        if (fitted && loaded) {
            uint64_t s = es_splitmix64(99) | 1;
            synth_rows sr;
            double worst = 0;
            for (int k = 0; k < 50; k++) {
                es_trace_token t = synth_token(&s, &sr, LAYERS, k);
                double x[3 + 4 * LAYERS];
                CHECK(cf_features(LAYERS, &t, x) == 0);
                worst = fmax(worst, fabs(es_confidence_score(loaded, &t) - (1 - cf_error_prob(fitted, x))));
            }
            CHECKF(worst < 1e-12, "largest difference %.3g", worst);
            es_trace_token t = synth_token(&s, &sr, LAYERS, 0);
            t.attn = NULL; /* probes off: the attention features are missing */
            CHECK(isnan(es_confidence_score(loaded, &t)));
            t = synth_token(&s, &sr, LAYERS, 0);
            t.token_logprob = NAN;
            CHECK(isnan(es_confidence_score(loaded, &t)));
        }
        /* the evaluation is in the file */
        FILE *f = fopen(path, "rb");
        char *text = calloc(1, 1 << 20);
        if (f && text) CHECK(fread(text, 1, (1 << 20) - 1, f) > 0);
        if (f) fclose(f);
        cJSON *o = cJSON_Parse(text);
        const char *auroc[] = {"evaluation", "token", "scores", "model", "auroc"};
        const char *amin[] = {"evaluation", "answer", "scores", "model_min", "prr"};
        const char *msp[] = {"evaluation", "token", "scores", "max_softmax_prob", "auroc"};
        CHECK(json_number(o, auroc, 5) > 0.7);
        CHECK(isfinite(json_number(o, amin, 5)));
        CHECK(isfinite(json_number(o, msp, 5)));
        cJSON_Delete(o);
        free(text);
        es_confidence_free(fitted);
        es_confidence_free(loaded);
        cf_dataset_free(&d);
    }
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void test_bad_files(void) {
    TEST("confidence: bad model files fail with one line naming the file") {
        static const char *const bad[] = {
            "{\"format\": \"entroscope-confidence\", \"n_layers\": 0",
            "[1, 2, 3]",
            "{\"format\": \"entroscope-confidence\", \"n_layers\": 0, \"intercept\": 0,"
            " \"features\": [\"logit_entropy\", \"logit_varentropy\", \"token_prob\"],"
            " \"normalisation\": {\"mean\": [0, 0, 0], \"sd\": [1, 1, 1]}, \"weights\": [1, 2]}",
            "{\"format\": \"entroscope-confidence\", \"n_layers\": 0, \"intercept\": 0,"
            " \"features\": [\"logit_entropy\", \"token_prob\", \"logit_varentropy\"],"
            " \"normalisation\": {\"mean\": [0, 0, 0], \"sd\": [1, 1, 1]}, \"weights\": [1, 2, 3]}",
            "{\"format\": \"entroscope-confidence\", \"n_layers\": 0, \"intercept\": 0,"
            " \"features\": [\"logit_entropy\", \"logit_varentropy\", \"token_prob\"],"
            " \"normalisation\": {\"mean\": [0, 0, 0], \"sd\": [1, 0, 1]}, \"weights\": [1, 2, 3]}",
            "{\"format\": \"entroscope-confidence\", \"n_layers\": 1e9, \"intercept\": 0}",
        };
        char path[512];
        snprintf(path, sizeof path, "%s/bad_conf.json", test_tmpdir());
        es_error err;
        for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
            write_text(path, bad[i]);
            es_confidence *c = es_confidence_load(path, &err);
            CHECKF(c == NULL, "bad file %zu loaded", i);
            es_confidence_free(c);
            CHECKF(strstr(err.msg, path) && !strchr(err.msg, '\n'), "file %zu: %s", i, err.msg);
        }
        CHECK(es_confidence_load("/nonexistent/conf.json", &err) == NULL);
        CHECK(strstr(err.msg, "/nonexistent/conf.json") != NULL);
        /* the good form of the same file loads and scores by hand: z = x */
        write_text(path, "{\"format\": \"entroscope-confidence\", \"n_layers\": 0, \"intercept\": 0.5,"
                         " \"features\": [\"logit_entropy\", \"logit_varentropy\", \"token_prob\"],"
                         " \"normalisation\": {\"mean\": [1, 0, 0], \"sd\": [2, 1, 1]}, \"weights\": [1, 0, -1]}");
        es_confidence *c = es_confidence_load(path, &err);
        CHECKF(c != NULL, "%s", err.msg);
        if (c) {
            es_trace_token t = {.logit_entropy = 3, .logit_varentropy = 7, .token_logprob = log(0.25)};
            /* log-odds of an error: 0.5 + (3 - 1) / 2 - 0.25 = 1.25 */
            CHECK_NEAR(es_confidence_score(c, &t), 1 - 1 / (1 + exp(-1.25)), 1e-12);
        }
        es_confidence_free(c);
    }
}

/* ------------------------------------------------------ end to end -- */

static const char *e2e_path(char *buf, const char *name) {
    snprintf(buf, 512, "%.400s/%s", test_tmpdir(), name);
    return buf;
}

/* The whole file as a string (malloc'ed), NULL when unreadable. */
/* Grades by plain SQL, independent of src/trace: even item ids CORRECT, odd
 * ones INCORRECT (all_correct: every one CORRECT). Returns the rows written. */
static int write_grades(const char *db_path, int all_correct) {
    sqlite3 *db;
    int n = -1;
    if (sqlite3_open(db_path, &db) == SQLITE_OK &&
        sqlite3_exec(db, all_correct ? "DELETE FROM grades; INSERT INTO grades(item_id, grader, verdict) "
                                       "SELECT id, 'offline', 'CORRECT' FROM items"
                                     : "DELETE FROM grades; INSERT INTO grades(item_id, grader, verdict) "
                                       "SELECT id, 'offline', CASE WHEN id % 2 = 0 THEN 'CORRECT' "
                                       "ELSE 'INCORRECT' END FROM items", NULL, NULL, NULL) == SQLITE_OK)
        n = sqlite3_changes(db);
    sqlite3_close(db);
    return n;
}

/* The items CSV of `confidence apply`: lines with a finite mean and min in [0, 1]. */
static int good_item_lines(const char *csv, int *lines) {
    int good = 0;
    *lines = 0;
    for (const char *line = strchr(csv, '\n'); line && line[1]; line = strchr(line + 1, '\n')) {
        ++*lines;
        /* the last two fields: ...,mean,min */
        const char *end = strchr(line + 1, '\n'), *c2 = end ? end : line + strlen(line);
        const char *c1 = c2 - 1;
        while (c1 > line && *c1 != ',') c1--;
        const char *c0 = c1 - 1;
        while (c0 > line && *c0 != ',') c0--;
        double mean = strtod(c0 + 1, NULL), lo = strtod(c1 + 1, NULL);
        good += c1 - c0 > 1 && c2 - c1 > 1 && mean >= 0 && mean <= 1 && lo >= 0 && lo <= mean + 1e-9;
    }
    return good;
}

/* Every (level, score) of the file's evaluation must be a row of the page
 * with its AUROC and PRR and their intervals; returns the rows checked. */
static int check_evaluation_rows(const cJSON *conf, const char *html) {
    const char *levels[2] = {"token", "answer"};
    int rows = 0;
    for (int l = 0; l < 2; l++) {
        const cJSON *lv = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(conf, "evaluation"),
                                                           levels[l]);
        const cJSON *m;
        cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(lv, "scores")) {
            const char *keys[2][1] = {{"auroc"}, {"prr"}};
            const char *cis[2] = {"auroc_ci", "prr_ci"};
            char want[512];
            int k = snprintf(want, sizeof want, "<td>%s</td><td>%s</td><td>%.0f</td><td>%.0f</td>", levels[l],
                             m->string, json_number(lv, (const char *[]){"positive"}, 1),
                             json_number(lv, (const char *[]){"negative"}, 1));
            for (int j = 0; j < 2; j++) {
                const cJSON *ci = cJSON_GetObjectItemCaseSensitive(m, cis[j]);
                k += snprintf(want + k, sizeof want - k, "<td>%.3f [%.3f, %.3f]</td>", json_number(m, keys[j], 1),
                              cJSON_GetArrayItem(ci, 0)->valuedouble, cJSON_GetArrayItem(ci, 1)->valuedouble);
            }
            CHECKF(strstr(html, want) != NULL, "the page lacks %s", want);
            rows++;
        }
    }
    return rows;
}

static void check_conf_file(const cJSON *o) {
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(o, "features"), *w = cJSON_GetObjectItemCaseSensitive(o, "weights");
    /* stories260K: 5 layers, so 3 + 4 * 5 features */
    CHECK_INT(cJSON_GetArraySize(f), 23);
    CHECK_INT(cJSON_GetArraySize(w), 23);
    const char *tok[] = {"evaluation", "token", "scores", "model", "auroc"};
    const char *ans[] = {"evaluation", "answer", "scores", "model_min", "prr"};
    const char *pos[] = {"evaluation", "answer", "positive"}, *neg[] = {"evaluation", "answer", "negative"};
    double a = json_number(o, tok, 5);
    CHECKF(a >= 0 && a <= 1, "token AUROC %g", a);
    CHECK(isfinite(json_number(o, ans, 5)));
    CHECK(json_number(o, pos, 3) == 6 && json_number(o, neg, 3) == 6);
}

static void e2e_report(const char *db, const char *conf_path, const cJSON *conf) {
    char html_path[512];
    e2e_path(html_path, "conf-report.html");
    run_result r;
    const char *a[] = {"report", db, "-o", html_path, "--confidence", conf_path, "-q", NULL};
    cli_run(&r, a);
    CHECKF(r.status == 0, "report: status %d: %s", r.status, r.err);
    char *html = test_read_file(html_path);
    CHECK(html && strstr(html, "<h2 id=\"confidence\">Confidence</h2>"));
    if (!html) return;
    CHECK_INT(check_evaluation_rows(conf, html), 5 + 6); /* model + 4 baselines; model_min, model_mean + 4 */
    /* the first feature's weight, as the page prints it (4 significant digits) */
    char want[256];
    snprintf(want, sizeof want, "<tr><td>logit_entropy</td><td>%.4g</td>",
             cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(conf, "weights"), 0)->valuedouble);
    CHECKF(strstr(html, want) != NULL, "the page lacks %s", want);
    free(html);
    /* a file that is not a confidence model: one line, exit 2 */
    const char *bad[] = {"report", db, "-o", html_path, "--confidence", db, "-q", NULL};
    cli_run(&r, bad);
    CHECK(r.status == 2 && strstr(r.err, db) && strchr(r.err, '\n') == r.err + strlen(r.err) - 1);
}

static void e2e_apply_generate(const char *model, const char *db, const char *conf_path) {
    char csv_path[512];
    e2e_path(csv_path, "conf-items.csv");
    run_result r;
    const char *a[] = {"confidence", "apply", conf_path, db, "-o", csv_path, NULL};
    cli_run(&r, a);
    CHECKF(r.status == 0, "apply: status %d: %s", r.status, r.err);
    char *csv = test_read_file(csv_path);
    int lines = 0;
    CHECK(csv && good_item_lines(csv, &lines) == 12 && lines == 12);
    free(csv);
    const char *g[] = {"generate", "-m", model, "--confidence", conf_path, "-p", "Once", "-n", "5", NULL};
    cli_run(&r, g);
    CHECKF(r.status == 0, "generate: status %d: %s", r.status, r.err);
}

static void test_end_to_end(void) {
    TEST("confidence: run simpleqa on stories260K, grade by SQL, fit, apply, generate, report") {
        const char *model = test_shared("models/stories260K/stories260K.gguf");
        if (!model) continue;
        if (access(cli_binary(), X_OK) != 0) {
            test_skip("the entroscope binary is not built");
            continue;
        }
        char csv[512], db[512], conf_path[512];
        FILE *f = fopen(e2e_path(csv, "conf-qa.csv"), "wb");
        if (f) {
            fputs("metadata,problem,answer\n", f);
            for (int i = 0; i < 12; i++)
                fprintf(f, "\"{'topic': 'Test', 'answer_type': 'Other'}\",What is thing number %d?,Answer %d\n", i, i);
            fclose(f);
        }
        e2e_path(db, "conf-run.db");
        e2e_path(conf_path, "conf.json");
        remove(db);
        run_result r;
        const char *run[] = {"run", "simpleqa", "-m", model, "-o", db, "-t", "1", "-n", "8", "--data", csv,
                             "--no-grade", NULL};
        cli_run(&r, run);
        CHECKF(r.status == 0, "run: status %d: %s", r.status, r.err);
        CHECK_INT(write_grades(db, 0), 12);
        const char *fit[] = {"confidence", "fit", db, "-o", conf_path, "--folds", "3", "-q", NULL};
        cli_run(&r, fit);
        CHECKF(r.status == 0, "fit: status %d: %s", r.status, r.err);
        char *text = test_read_file(conf_path);
        cJSON *conf = text ? cJSON_Parse(text) : NULL;
        free(text);
        CHECK(conf != NULL);
        if (!conf) continue;
        check_conf_file(conf);
        e2e_apply_generate(model, db, conf_path);
        e2e_report(db, conf_path, conf);
        cJSON_Delete(conf);
        /* one class only: one line naming the database, exit 2, no file */
        CHECK_INT(write_grades(db, 1), 12);
        e2e_path(conf_path, "conf-one.json");
        const char *one[] = {"confidence", "fit", db, "-o", conf_path, "--folds", "3", "-q", NULL};
        cli_run(&r, one);
        CHECKF(r.status == 2 && strstr(r.err, db) && strstr(r.err, "0 error") &&
               strchr(r.err, '\n') == r.err + strlen(r.err) - 1, "status %d: %s", r.status, r.err);
        CHECK(access(conf_path, F_OK) != 0);
    }
}

void suite_confidence(void) {
    test_prr();
    test_recovery();
    test_folds();
    test_roundtrip();
    test_bad_files();
    test_end_to_end();
}
