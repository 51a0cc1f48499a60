/* Tests of the report's figures and page (src/report/svg.c, figures.c,
 * html.c, report.c) on hand-made report_data, so that no database is needed:
 * the SVGs are well formed and labelled, the CSV numbers equal statistics
 * computed here independently, small groups say "too small", and the page
 * holds every part. Then, when ../shared is present, the binary end to end on
 * stories260K runs, and headless Chromium on the page when it is installed. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_run.h"
#include "report/html.h"
#include "report/svg.h"
#include "test.h"

/* ----------------------------------------------------------- fixtures -- */

enum { L = 2, H = 3, BLOB = 2 * L * H + 2 * L };

typedef struct fake_run {
    rd_run run;
    rd_item items[16];
    rd_row rows[16][12];
    float blobs[16][12][BLOB];
} fake_run;

/* A value that differs by item, step and statistic, higher in group 0. */
static double fake_value(int item, int step, int stat, int group0) {
    return 1.0 + 0.1 * stat + 0.05 * step + 0.013 * ((item * 7 + step * 3) % 11) + (group0 ? 0.4 : 0);
}

static void fake_build(fake_run *f, const char *study, const char *const *groups, int n_items,
                       const int *n_rows) {
    memset(f, 0, sizeof *f);
    f->run.study = study;
    f->run.model_name = "fake-model";
    f->run.db_path = "fake.db";
    f->run.n_layers = L, f->run.n_heads = H;
    f->run.n_items = n_items, f->run.items = f->items;
    f->run.sqa_correct = f->run.sqa_f1 = NAN;
    f->run.gsm_strict_acc = 0.5, f->run.gsm_flexible_acc = NAN;
    for (int i = 0; i < n_items; i++) {
        rd_item *it = &f->items[i];
        int g0 = groups[i] && strcmp(groups[i], "factual") == 0;
        it->id = i, it->key = "k", it->group = groups[i], it->first_error_row = -1;
        it->n_rows = n_rows[i], it->rows = f->rows[i];
        for (int k = 0; k < n_rows[i]; k++) {
            rd_row *r = &it->rows[k];
            r->step = k, r->pos = 5 + k;
            r->attn_entropy = fake_value(i, k, 0, g0), r->attn_varentropy = fake_value(i, k, 1, g0);
            r->logit_entropy = fake_value(i, k, 2, g0), r->logit_varentropy = fake_value(i, k, 3, g0);
            for (int b = 0; b < BLOB; b++) f->blobs[i][k][b] = (float)(0.1 * b + 0.01 * ((i * 5 + k + b) % 7) + (g0 && b == 4 ? 1 : 0));
            r->heads = f->blobs[i][k];
        }
    }
}

static void fake_factual_creative(fake_run *f) {
    static const char *const groups[] = {"factual", "creative", "factual", "creative", "factual",
                                         "creative", "factual", "creative", NULL};
    static const int rows[] = {6, 6, 5, 6, 4, 3, 6, 2, 6};
    fake_build(f, "factual-creative", groups, 9, rows);
}

/* ------------------------------------------------------------ helpers -- */

/* Balanced-tag check of an XML text (no DTD, no CDATA): every start tag is
 * closed in order, attributes are quoted, nothing follows the root. */
static int xml_well_formed(const char *s) {
    char stack[64][32];
    int depth = 0, roots = 0;
    for (const char *p = s; *p; p++) {
        if (*p == '&' && !(strncmp(p, "&amp;", 5) == 0 || strncmp(p, "&lt;", 4) == 0 ||
                           strncmp(p, "&gt;", 4) == 0 || strncmp(p, "&quot;", 6) == 0 || strncmp(p, "&#", 2) == 0))
            return 0;
        if (*p != '<') continue;
        int closing = p[1] == '/';
        const char *name = p + 1 + closing;
        size_t len = strcspn(name, " />\n");
        const char *end = name + len;
        char quote = 0;
        while (*end && (quote || *end != '>')) {
            if (*end == '<' && !quote) return 0;
            if (*end == '"') quote = quote ? 0 : '"';
            end++;
        }
        if (!*end || len == 0 || len >= 32) return 0;
        if (closing) {
            if (depth == 0 || strncmp(stack[depth - 1], name, len) != 0 || stack[depth - 1][len]) return 0;
            depth--;
        } else if (end[-1] != '/') {
            if (depth == 0) roots++;
            if (depth == 64) return 0;
            memcpy(stack[depth], name, len);
            stack[depth++][len] = 0;
        }
        p = end;
    }
    return depth == 0 && roots == 1;
}

static const rf_part *find_part(const rf_parts *p, const char *name) {
    for (int i = 0; i < p->n; i++)
        if (strcmp(p->items[i].name, name) == 0) return &p->items[i];
    return NULL;
}

/* The CSV line whose first two fields are a and b, or NULL. */
static const char *csv_line(const char *csv, const char *a, const char *b) {
    char key[128];
    snprintf(key, sizeof key, "\n%s,%s,", a, b);
    const char *p = strstr(csv, key);
    return p ? p + strlen(key) : NULL;
}

static void test_options(rf_options *o) {
    rf_default_options(o);
    o->bootstrap_b = 200;
}

/* -------------------------------------------------------------- tests -- */

static void test_svg_writer(void) {
    TEST("report svg: escaping, nice ranges, well-formed output") {
        es_buf b = {0};
        svg_escape(&b, "a<b & \"c\" 'd'>");
        char *s = es_buf_take(&b);
        CHECK_STR(s, "a&lt;b &amp; &quot;c&quot; &#39;d&#39;&gt;");
        free(s);
        double lo = 0.13, hi = 0.87;
        svg_nice_range(&lo, &hi);
        CHECK(lo <= 0.13 && hi >= 0.87 && lo >= 0 && hi <= 1);
        lo = hi = 2;
        svg_nice_range(&lo, &hi);
        CHECK(lo < 2 && hi > 2);
        lo = NAN;
        svg_nice_range(&lo, &hi);
        CHECK(isfinite(lo) && isfinite(hi) && lo < hi);
        svg_plot p = {.x_min = 0, .x_max = 3, .y_min = 0, .y_max = 1, .left = 60, .top = 40, .width = 300, .height = 200};
        double x[4] = {0, 1, 2, 3}, y[4] = {0.2, NAN, 0.5, 0.7}, l[4] = {0.1, 0.1, 0.4, 0.6}, h[4] = {0.3, 0.3, 0.6, 0.8};
        const char *names[1] = {"a <group>"}, *colours[1] = {svg_colour(0)};
        svg_begin(&b, 500, 300, "T & T");
        svg_axes(&b, &p, "step (step)", "entropy (nats)");
        svg_band(&b, &p, x, l, h, 4, colours[0]);
        svg_line(&b, &p, x, y, 4, colours[0]);
        svg_legend(&b, 380, 40, names, colours, 1);
        double v[6] = {0.1, 0.5, NAN, 0.9, 0.3, 0.7};
        unsigned char mark[6] = {0, 1, 0, 0, 0, 1};
        svg_heatmap(&b, &p, v, mark, 2, 3, 0, 1, "layer", "head", "AUROC");
        svg_end(&b);
        s = es_buf_take(&b);
        CHECK(s && xml_well_formed(s));
        CHECK(s && strstr(s, "<title>T &amp; T</title>") && strstr(s, "a &lt;group&gt;") && strstr(s, "entropy (nats)"));
        CHECK(s && strstr(s, "<circle")); /* the lone point at x = 0 and the marks */
        free(s);
        CHECK(!xml_well_formed("<svg><g></svg>") && !xml_well_formed("<a>x & y</a>") && xml_well_formed("<a><b/></a>"));
    }
}

static void test_main_figure_numbers(void) {
    TEST("report figures: step means in the CSV equal an independent computation, small steps hidden") {
        fake_run f;
        fake_factual_creative(&f);
        rf_options o;
        test_options(&o);
        rf_parts parts = {0};
        es_error err;
        CHECK_INT(rf_run_figures(&f.run, 0, &o, &parts, &err), 0);
        const rf_part *p = find_part(&parts, "r0-factual-creative-step-attn_entropy");
        CHECK(p != NULL);
        for (int step = 0; p && step < 6; step++) {
            for (int g = 0; g < 2; g++) {
                double sum = 0;
                int n = 0;
                for (int i = 0; i < f.run.n_items; i++)
                    if (f.items[i].group && strcmp(f.items[i].group, g ? "creative" : "factual") == 0 && f.items[i].n_rows > step)
                        sum += fake_value(i, step, 0, !g), n++;
                char st[16];
                snprintf(st, sizeof st, "%d", step);
                const char *line = csv_line(p->csv, g ? "creative" : "factual", st);
                CHECKF(line != NULL, "step %d group %d", step, g);
                if (!line) continue;
                int count = 0, shown = -1;
                double mean = NAN, lo = NAN, hi = NAN;
                CHECK(sscanf(line, "%d,%lf,%lf,%lf,%d", &count, &mean, &lo, &hi, &shown) >= 2);
                char rest[256];
                sscanf(line, "%255[^\n]", rest);
                shown = rest[strlen(rest) - 1] - '0';
                CHECK_INT(count, n);
                CHECK_NEAR(mean, sum / n, 1e-12);
                CHECK_INT(shown, n >= o.min_items);
                if (shown) CHECK(lo <= mean + 1e-12 && mean <= hi + 1e-12);
            }
        }
        CHECK(p && p->note && strstr(p->note, "fewer than 3"));
        CHECK(p && xml_well_formed(p->body) && strstr(p->body, "generation step (step)") &&
              strstr(p->body, "attention entropy (nats)") && strstr(p->body, "class=\"legend\"") &&
              strstr(p->body, "<title>"));
        const rf_part *norm = find_part(&parts, "r0-factual-creative-step-attn_entropy_norm");
        const char *line = norm ? csv_line(norm->csv, "factual", "1") : NULL;
        double mean = NAN;
        CHECK(line && sscanf(line, "%*d,%lf", &mean) == 1);
        double want = (fake_value(0, 1, 0, 1) + fake_value(2, 1, 0, 1) + fake_value(4, 1, 0, 1) + fake_value(6, 1, 0, 1)) / 4 / log(7.0);
        CHECK_NEAR(mean, want, 1e-12);
        for (int i = 0; i < parts.n; i++)
            if (parts.items[i].kind == RF_FIGURE) CHECKF(xml_well_formed(parts.items[i].body), "%s", parts.items[i].name);
        rf_parts_free(&parts);
    }
}

/* AUROC counted pair by pair, ties one half. */
static double pair_auroc(const double *a, int na, const double *b, int nb) {
    double wins = 0;
    for (int i = 0; i < na; i++)
        for (int j = 0; j < nb; j++) wins += a[i] > b[j] ? 1 : a[i] == b[j] ? 0.5 : 0;
    return wins / ((double)na * nb);
}

static void test_heatmap_numbers(void) {
    TEST("report figures: per-head AUROC equals pair counting, the separating head is marked") {
        fake_run f;
        fake_factual_creative(&f);
        rf_options o;
        test_options(&o);
        rf_parts parts = {0};
        es_error err;
        CHECK_INT(rf_run_figures(&f.run, 0, &o, &parts, &err), 0);
        const rf_part *p = find_part(&parts, "r0-factual-creative-heads-attn_entropy");
        CHECK(p && xml_well_formed(p->body) && strstr(p->body, "AUROC"));
        for (int l = 0; p && l < L; l++)
            for (int h = 0; h < H; h++) {
                double a[16], b[16];
                int na = 0, nb = 0;
                for (int i = 0; i < f.run.n_items; i++) {
                    if (!f.items[i].group) continue;
                    double s = 0;
                    for (int k = 0; k < f.items[i].n_rows; k++) s += f.blobs[i][k][l * H + h];
                    if (strcmp(f.items[i].group, "factual") == 0) a[na++] = s / f.items[i].n_rows;
                    else b[nb++] = s / f.items[i].n_rows;
                }
                char ls[16], hs[16];
                snprintf(ls, sizeof ls, "%d", l), snprintf(hs, sizeof hs, "%d", h);
                const char *line = csv_line(p->csv, ls, hs);
                double auc = NAN;
                int n_a = 0, n_b = 0, sig = -1;
                CHECK(line && sscanf(line, "%d,%d,%lf,%*f,%*f,%d", &n_a, &n_b, &auc, &sig) == 4);
                CHECK_INT(n_a, na);
                CHECK_INT(n_b, nb);
                CHECK_NEAR(auc, pair_auroc(a, na, b, nb), 1e-12);
                /* blob entry 4 = layer 1 head 1 is shifted by 1 for the factual items */
                if (l * H + h == 4) CHECK(auc == 1.0);
            }
        rf_parts_free(&parts);
    }
}

static void test_too_small(void) {
    TEST("report: a group too small for a statistic says so instead of a number") {
        static const char *const groups[] = {"CORRECT", "INCORRECT", "NOT_ATTEMPTED", "CORRECT"};
        static const int rows[] = {3, 3, 3, 3};
        fake_run f;
        fake_build(&f, "simpleqa", groups, 4, rows);
        rf_options o;
        test_options(&o);
        rf_parts parts = {0};
        es_error err;
        CHECK_INT(rh_summary_table(&f.run, 0, &o, &parts, &err), 0);
        CHECK_INT(rf_run_figures(&f.run, 0, &o, &parts, &err), 0);
        const rf_part *s = find_part(&parts, "r0-simpleqa-summary");
        CHECK(s && strstr(s->body, "too small (n = 2 and 1; at least 3 each)"));
        CHECK(s && !strstr(s->body, "nan") && !strstr(s->body, "inf"));
        const rf_part *h = find_part(&parts, "r0-simpleqa-heads-attn_entropy");
        CHECK(h && h->note && strstr(h->note, "Too small") && strstr(h->body, "too few items"));
        const rf_part *m = find_part(&parts, "r0-simpleqa-step-attn_entropy");
        CHECK(m && strstr(m->body, "too few items in every group"));
        CHECK(m && xml_well_formed(m->body));
        rf_parts_free(&parts);
    }
}

static void test_gsm8k_moments(void) {
    TEST("report figures: GSM8K first-error tokens, other wrong tokens, correct tokens") {
        static const char *const groups[] = {"incorrect", "incorrect", "incorrect", "correct", "correct", "incorrect"};
        static const int rows[] = {8, 6, 7, 5, 4, 6};
        fake_run f;
        fake_build(&f, "gsm8k", groups, 6, rows);
        f.items[0].first_error_row = 2, f.items[1].first_error_row = 0, f.items[2].first_error_row = 6;
        /* item 5: wrong but no located first error, so in no category */
        rf_options o;
        test_options(&o);
        rf_parts parts = {0};
        es_error err;
        CHECK_INT(rf_run_figures(&f.run, 3, &o, &parts, &err), 0);
        const rf_part *t = find_part(&parts, "r3-gsm8k-error-moments");
        CHECK(t != NULL);
        double fe = (fake_value(0, 2, 0, 0) + fake_value(1, 0, 0, 0) + fake_value(2, 6, 0, 0)) / 3, other = 0, correct = 0;
        for (int k = 0; k < 8; k++) other += k != 2 ? fake_value(0, k, 0, 0) : 0;
        for (int k = 1; k < 6; k++) other += fake_value(1, k, 0, 0);
        for (int k = 0; k < 6; k++) other += fake_value(2, k, 0, 0);
        for (int k = 0; k < 5; k++) correct += fake_value(3, k, 0, 0);
        for (int k = 0; k < 4; k++) correct += fake_value(4, k, 0, 0);
        int n = 0;
        double mean = NAN;
        const char *line = t ? csv_line(t->csv, "attn_entropy", "first-error tokens") : NULL;
        CHECK(line && sscanf(line, "%d,%lf", &n, &mean) == 2);
        CHECK_INT(n, 3);
        CHECK_NEAR(mean, fe, 1e-12);
        line = t ? csv_line(t->csv, "attn_entropy", "other tokens of wrong answers") : NULL;
        CHECK(line && sscanf(line, "%d,%lf", &n, &mean) == 2);
        CHECK_INT(n, 18);
        CHECK_NEAR(mean, other / 18, 1e-12);
        line = t ? csv_line(t->csv, "attn_entropy", "tokens of correct answers") : NULL;
        CHECK(line && sscanf(line, "%d,%lf", &n, &mean) == 2);
        CHECK_INT(n, 9);
        CHECK_NEAR(mean, correct / 9, 1e-12);
        /* the first-error tokens against the others: AUROC by counting pairs */
        double fe_v[3] = {fake_value(0, 2, 0, 0), fake_value(1, 0, 0, 0), fake_value(2, 6, 0, 0)}, other_v[18];
        int no = 0;
        for (int k = 0; k < 8; k++) if (k != 2) other_v[no++] = fake_value(0, k, 0, 0);
        for (int k = 1; k < 6; k++) other_v[no++] = fake_value(1, k, 0, 0);
        for (int k = 0; k < 6; k++) other_v[no++] = fake_value(2, k, 0, 0);
        double auc = NAN, p = NAN;
        line = t ? csv_line(t->csv, "attn_entropy", "other tokens of wrong answers") : NULL;
        CHECK(line && sscanf(line, "%*d,%*f,%*f,%*f,%*f,%lf,%lf", &auc, &p) == 2);
        CHECK_NEAR(auc, pair_auroc(fe_v, 3, other_v, 18), 1e-12);
        CHECK(p > 0 && p <= 1);
        const rf_part *e = find_part(&parts, "r3-gsm8k-event-attn_entropy");
        CHECK(e && xml_well_formed(e->body) && strstr(e->body, "first error"));
        /* offset -2: rows 0 of item 0 and 4 of item 2 */
        line = e ? csv_line(e->csv, "wrong answers", "-2") : NULL;
        CHECK(line && sscanf(line, "%d,%lf", &n, &mean) == 2);
        CHECK_INT(n, 2);
        CHECK_NEAR(mean, (fake_value(0, 0, 0, 0) + fake_value(2, 4, 0, 0)) / 2, 1e-12);
        rf_parts_free(&parts);
    }
}

static void test_page(void) {
    TEST("report page: two runs side by side, every part present, files written") {
        fake_run a, b;
        fake_factual_creative(&a);
        fake_factual_creative(&b);
        b.run.model_name = "second <model>";
        rd_run runs[2] = {a.run, b.run};
        report_data d = {.n_runs = 2, .runs = runs};
        rf_options o;
        test_options(&o);
        char html[512], dir[512];
        snprintf(html, sizeof html, "%s/report.html", test_tmpdir());
        snprintf(dir, sizeof dir, "%s/report-data", test_tmpdir());
        es_error err;
        CHECK_INT(rh_write_report(&d, &o, html, dir, &err), 0);
        char *page = test_read_file(html);
        CHECK(page && strstr(page, "second &lt;model&gt;") && strstr(page, "class=\"runs\""));
        CHECK(page && !strstr(page, "<script") && !strstr(page, "http://www.w3.org/1999") && !strstr(page, "https://"));
        rf_parts parts = {0};
        CHECK_INT(rh_runs_table(&d, &parts, &err), 0);
        for (int r = 0; r < 2; r++) {
            CHECK_INT(rh_summary_table(&d.runs[r], r, &o, &parts, &err), 0);
            CHECK_INT(rf_run_figures(&d.runs[r], r, &o, &parts, &err), 0);
        }
        int figures = 0;
        for (int i = 0; i < parts.n && page; i++) {
            char id[160], path[800];
            snprintf(id, sizeof id, "id=\"%s\"", parts.items[i].name);
            CHECKF(strstr(page, id) != NULL, "%s missing from the page", parts.items[i].name);
            snprintf(path, sizeof path, "%s/%s.csv", dir, parts.items[i].name);
            CHECKF(access(path, R_OK) == 0, "%s", path);
            if (parts.items[i].kind != RF_FIGURE) continue;
            figures++;
            snprintf(path, sizeof path, "%s/%s.svg", dir, parts.items[i].name);
            char *svg = test_read_file(path);
            CHECKF(svg && strcmp(svg, parts.items[i].body) == 0 && xml_well_formed(svg), "%s", path);
            free(svg);
        }
        int svgs = 0;
        for (const char *p = page; p && (p = strstr(p, "<svg ")); p++) svgs++;
        CHECK_INT(svgs, figures);
        CHECK(figures == 2 * (RF_N_STATS + 4));
        rf_parts_free(&parts);
        free(page);
    }
}

/* ------------------------------------------------------ end to end -- */

static void test_end_to_end(void) {
    TEST("report: end to end on stories260K runs, headless chromium when installed") {
        const char *model = test_shared("models/stories260K/stories260K.gguf");
        const char *qa = model ? test_shared("datasets/simpleqa/simple_qa_test_set.csv") : NULL;
        const char *gsm = qa ? test_shared("datasets/gsm8k/test.jsonl") : NULL;
        const char *train = gsm ? test_shared("datasets/gsm8k/train.jsonl") : NULL;
        if (!train) continue;
        const char *studies[3] = {"factual-creative", "simpleqa", "gsm8k"};
        char db[3][512], html[512], dir[512];
        run_result r;
        for (int s = 0; s < 3; s++) {
            snprintf(db[s], sizeof db[s], "%s/e2e-%s.db", test_tmpdir(), studies[s]);
            const char *args[24] = {"run", studies[s], "-m", model, "-o", db[s], "-t", "1", "-n", "12", "--limit", s == 0 ? "6" : "4"};
            int n = 12;
            if (s == 1) args[n++] = "--data", args[n++] = qa;
            if (s == 2) args[n++] = "--data", args[n++] = gsm, args[n++] = "--fewshot-from", args[n++] = train;
            args[n] = NULL;
            cli_run(&r, args);
            CHECKF(r.status == 0, "run %s: %s", studies[s], r.err);
        }
        snprintf(html, sizeof html, "%s/e2e.html", test_tmpdir());
        snprintf(dir, sizeof dir, "%s/e2e-data", test_tmpdir());
        const char *rep[] = {"report", db[0], db[1], db[2], "-o", html, "--data-dir", dir, "-q", NULL};
        cli_run(&r, rep);
        CHECKF(r.status == 0, "report: %s", r.err);
        char *page = test_read_file(html);
        CHECK(page && strstr(page, "study: factual-creative") && strstr(page, "study: simpleqa") &&
              strstr(page, "study: gsm8k") && strstr(page, "r2-gsm8k-event-attn_entropy"));
        free(page);
        const char *bad[] = {"report", "/nonexistent/x.db", "-o", html, NULL};
        cli_run(&r, bad);
        CHECK(r.status == 2 && strstr(r.err, "x.db"));
        if (system("command -v chromium > /dev/null 2>&1") != 0) {
            test_skip("chromium not installed: page not opened in a browser");
            continue;
        }
        char cmd[2400], shot[512], log[512];
        snprintf(shot, sizeof shot, "%s/e2e.png", test_tmpdir());
        snprintf(log, sizeof log, "%s/chromium.log", test_tmpdir());
        snprintf(cmd, sizeof cmd, "timeout 60 chromium --headless --no-sandbox --disable-gpu --enable-logging=stderr --v=0 "
                 "--window-size=1200,3000 --screenshot='%s' 'file://%s' > '%s' 2>&1", shot, html, log);
        CHECK(system(cmd) == 0);
        CHECK(access(shot, R_OK) == 0);
        char *text = test_read_file(log);
        CHECKF(text && !strstr(text, "CONSOLE"), "console messages: %s", text ? text : "(no log)");
        free(text);
        if (getenv("ENTROSCOPE_KEEP_SCREENSHOT")) {
            snprintf(cmd, sizeof cmd, "cp '%s' '%s'", shot, getenv("ENTROSCOPE_KEEP_SCREENSHOT"));
            if (system(cmd) != 0) printf("could not keep the screenshot\n");
        }
    }
}

void report_sampler_tests(void); /* test_report_sampler.c */

void suite_report_figures(void) {
    test_svg_writer();
    test_main_figure_numbers();
    test_heatmap_numbers();
    test_too_small();
    test_gsm8k_moments();
    test_page();
    report_sampler_tests();
    test_end_to_end();
}
