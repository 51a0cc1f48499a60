/* The report page and its tables (see html.h). Numbers are printed with 4
 * significant digits in the page and in full precision in the CSVs; a
 * statistic that a group is too small for is written as "too small" with the
 * group sizes, never as a number. */
#include "report/html.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "report/stats.h"
#include "report/svg.h"
#include "util/error.h"

static char *run_title(const rd_run *run, const char *what) {
    es_buf b = {0};
    es_buf_printf(&b, "%s: %s (%s)", run->study ? run->study : "run", what, run->model_name ? run->model_name : "model");
    return es_buf_take(&b);
}

static void cell_number(es_buf *b, double v) {
    if (isfinite(v)) es_buf_printf(b, "<td>%.4g</td>", v);
    else es_buf_puts(b, "<td>&#8212;</td>");
}

/* Per-item means of statistic s for the items of a group; returns the count. */
static size_t group_values(const rd_run *run, const char *group, rf_stat s, double *out) {
    size_t n = 0;
    for (int it = 0; it < run->n_items; it++) {
        if (!rf_item_in_group(&run->items[it], group)) continue;
        double v = rf_item_mean(&run->items[it], s);
        if (isfinite(v)) out[n++] = v;
    }
    return n;
}

static void compare_groups(es_buf *html, es_buf *csv, const double *a, size_t na, const double *b, size_t nb,
                           const rf_options *o, rf_stat s) {
    if (na < (size_t)o->min_items || nb < (size_t)o->min_items) {
        es_buf_printf(html, "<td class=\"small\" colspan=\"4\">too small (n = %zu and %zu; at least %d each)</td>",
                    na, nb, o->min_items);
        es_buf_printf(csv, "%s,comparison,%zu,%zu,,,,,,\n", rf_stat_name(s), na, nb);
        return;
    }
    rs_mann_whitney mw = rs_mann_whitney_u(a, na, b, nb);
    double auc = rs_auroc(a, na, b, nb), lo, hi, d = rs_cohen_d(a, na, b, nb);
    rs_bootstrap_ci2(a, na, b, nb, rs_auroc, o->bootstrap_b, o->seed, &lo, &hi);
    es_buf_printf(html, "<td>%.4g (p = %.3g)</td><td>%.3f [%.3f, %.3f]</td>", mw.u, mw.p, auc, lo, hi);
    cell_number(html, d);
    es_buf_puts(html, "<td></td>");
    es_buf_printf(csv, "%s,comparison,%zu,%zu,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g\n", rf_stat_name(s), na, nb,
                mw.u, mw.p, auc, lo, hi, d);
}

int rh_summary_table(const rd_run *run, int r, const rf_options *o, rf_parts *out, es_error *err) {
    const char *groups[3];
    int n_groups = rf_study_groups(run->study, groups);
    size_t cap = run->n_items > 0 ? (size_t)run->n_items : 1;
    double *va = malloc(cap * sizeof(double)), *vb = malloc(cap * sizeof(double));
    es_buf html = {0}, csv = {0};
    if (!va || !vb) html.failed = 1;
    es_buf_puts(&csv, "statistic,group,n,mean,median,sd,,,,\nstatistic,comparison,n_a,n_b,u,p,auroc,auroc_lo,auroc_hi,cohen_d\n");
    es_buf_puts(&html, "<table><tr><th>statistic (per item: mean over its tokens)</th><th>group</th><th>n</th>"
                     "<th>mean</th><th>median</th></tr>\n");
    for (rf_stat s = 0; va && vb && s < RF_N_STATS; s++) {
        for (int g = 0; g < n_groups; g++) {
            size_t n = group_values(run, groups[g], s, va);
            rs_summary sm = rs_summarise(va, n);
            es_buf_printf(&html, "<tr><td>%s</td><td>", rf_stat_label(s));
            svg_escape(&html, groups[g] ? groups[g] : "all items");
            es_buf_printf(&html, "</td><td>%zu</td>", n);
            if (n == 0) es_buf_puts(&html, "<td class=\"small\" colspan=\"2\">too small (no items)</td>");
            else cell_number(&html, sm.mean), cell_number(&html, sm.median);
            es_buf_puts(&html, "</tr>\n");
            es_buf_printf(&csv, "%s,%s,%zu,%.17g,%.17g,%.17g,,,,\n", rf_stat_name(s), groups[g] ? groups[g] : "all",
                        n, sm.mean, sm.median, sm.sd);
        }
    }
    es_buf_puts(&html, "</table>\n");
    if (n_groups >= 2) {
        es_buf_printf(&html, "<table><tr><th>statistic</th><th>Mann-Whitney U (%s vs %s)</th>"
                           "<th>AUROC [95%% bootstrap CI]</th><th>Cohen's d</th><th></th></tr>\n", groups[0], groups[1]);
        for (rf_stat s = 0; va && vb && s < RF_N_STATS; s++) {
            size_t na = group_values(run, groups[0], s, va), nb = group_values(run, groups[1], s, vb);
            es_buf_printf(&html, "<tr><td>%s</td>", rf_stat_label(s));
            compare_groups(&html, &csv, va, na, vb, nb, o, s);
            es_buf_puts(&html, "</tr>\n");
        }
        es_buf_puts(&html, "</table>\n");
    }
    free(va), free(vb);
    char name[128];
    snprintf(name, sizeof name, "r%d-%s-summary", r, run->study ? run->study : "run");
    int rc = rf_parts_add(out, RF_TABLE, name, run_title(run, "summary"), es_buf_take(&html), es_buf_take(&csv), NULL, err);
    if (rc == 0) out->items[out->n - 1].run = r;
    return rc;
}

int rh_runs_table(const report_data *d, rf_parts *out, es_error *err) {
    es_buf html = {0}, csv = {0};
    es_buf_puts(&csv, "run,database,study,model,items,sqa_correct,sqa_incorrect,sqa_not_attempted,"
                    "sqa_acc_given_attempted,sqa_f1,gsm_strict_acc,gsm_flexible_acc\n");
    es_buf_puts(&html, "<table><tr><th>run</th><th>database</th><th>study</th><th>model</th><th>items</th>"
                     "<th>SimpleQA correct</th><th>incorrect</th><th>not attempted</th><th>acc. given attempted</th>"
                     "<th>F1</th><th>GSM8K strict acc.</th><th>flexible acc.</th></tr>\n");
    for (int r = 0; r < d->n_runs; r++) {
        const rd_run *run = &d->runs[r];
        double m[7] = {run->sqa_correct, run->sqa_incorrect, run->sqa_not_attempted, run->sqa_acc_given_attempted,
                       run->sqa_f1, run->gsm_strict_acc, run->gsm_flexible_acc};
        const char *text[3] = {run->db_path, run->study, run->model_name};
        es_buf_printf(&html, "<tr><td>%d</td>", r);
        for (int k = 0; k < 3; k++) {
            es_buf_puts(&html, "<td>");
            svg_escape(&html, text[k] ? text[k] : "?");
            es_buf_puts(&html, "</td>");
        }
        es_buf_printf(&html, "<td>%d</td>", run->n_items);
        es_buf_printf(&csv, "%d,\"%s\",%s,\"%s\",%d", r, run->db_path ? run->db_path : "", run->study ? run->study : "",
                    run->model_name ? run->model_name : "", run->n_items);
        for (int k = 0; k < 7; k++) {
            cell_number(&html, m[k]);
            es_buf_printf(&csv, ",%.17g", m[k]);
        }
        es_buf_puts(&html, "</tr>\n");
        es_buf_puts(&csv, "\n");
    }
    es_buf_puts(&html, "</table>\n");
    es_buf title = {0};
    es_buf_puts(&title, "runs, models and accuracy");
    return rf_parts_add(out, RF_TABLE, "runs", es_buf_take(&title), es_buf_take(&html), es_buf_take(&csv), NULL, err);
}

/* ------------------------------------------------------- confidence -- */

static const cJSON *json_at(const cJSON *o, const char *key) { return cJSON_GetObjectItemCaseSensitive(o, key); }

static double json_num(const cJSON *o, const char *key) {
    const cJSON *v = json_at(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* Element i of the number array key of o, NaN when absent. */
static double json_elem(const cJSON *o, const char *key, int i) {
    const cJSON *v = cJSON_GetArrayItem(json_at(o, key), i);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* "0.812 [0.754, 0.861]", or a dash when the value is missing. */
static void cell_ci(es_buf *html, es_buf *csv, const cJSON *m, const char *key, const char *ci_key) {
    double v = json_num(m, key), lo = json_elem(m, ci_key, 0), hi = json_elem(m, ci_key, 1);
    if (isfinite(v) && isfinite(lo) && isfinite(hi)) es_buf_printf(html, "<td>%.3f [%.3f, %.3f]</td>", v, lo, hi);
    else if (isfinite(v)) es_buf_printf(html, "<td>%.3f</td>", v);
    else es_buf_puts(html, "<td>&#8212;</td>");
    es_buf_printf(csv, ",%.17g,%.17g,%.17g", v, lo, hi);
}

static void level_rows(es_buf *html, es_buf *csv, const cJSON *eval, const char *level) {
    const cJSON *lv = json_at(eval, level), *scores = json_at(lv, "scores"), *m;
    double npos = json_num(lv, "positive"), nneg = json_num(lv, "negative");
    cJSON_ArrayForEach(m, scores) {
        if (!cJSON_IsObject(m) || !m->string) continue;
        int model = strncmp(m->string, "model", 5) == 0;
        es_buf_printf(html, "<tr%s><td>%s</td><td>", model ? " class=\"model\"" : "", level);
        svg_escape(html, m->string);
        es_buf_printf(html, "</td><td>%.0f</td><td>%.0f</td>", npos, nneg);
        es_buf_printf(csv, "%s,", level);
        for (const char *c = m->string; *c; c++) es_buf_printf(csv, "%c", *c == ',' ? ';' : *c);
        es_buf_printf(csv, ",%.0f,%.0f", npos, nneg);
        cell_ci(html, csv, m, "auroc", "auroc_ci");
        cell_ci(html, csv, m, "prr", "prr_ci");
        es_buf_puts(html, "</tr>\n");
        es_buf_puts(csv, "\n");
    }
}

static char *conf_title(const char *what, const char *path) {
    es_buf b = {0};
    es_buf_printf(&b, "confidence model %s (%s)", what, path);
    return es_buf_take(&b);
}

static int evaluation_table(const cJSON *conf, const char *path, rf_parts *out, es_error *err) {
    const cJSON *eval = json_at(conf, "evaluation"), *tr = json_at(conf, "training");
    if (!cJSON_IsObject(eval) || !cJSON_IsObject(json_at(eval, "token")) || !cJSON_IsObject(json_at(eval, "answer")))
        return es_fail(err, "%s: no \"evaluation\" with token and answer levels (not written by confidence fit?)",
                       path);
    es_buf html = {0}, csv = {0};
    es_buf_printf(&html, "<p>Out-of-fold scores of %.0f-fold cross-validation grouped by item (no answer in two "
                       "folds), L2 %.4g; trained on %.0f answers (%.0f error and %.0f good tokens). Every score is "
                       "read as higher = rather an error; answer level: model_mean and model_min are the mean and "
                       "the minimum of the answer's token confidences. Intervals: ",
                json_num(eval, "folds"), json_num(conf, "l2"), json_num(tr, "answers"), json_num(tr, "error_tokens"),
                json_num(tr, "good_tokens"));
    const cJSON *ci = json_at(eval, "ci");
    svg_escape(&html, cJSON_IsString(ci) ? ci->valuestring : "?");
    es_buf_printf(&html, " (%.0f resamples).</p>\n<table><tr><th>level</th><th>score</th><th>errors</th><th>good</th>"
                       "<th>AUROC [95%% CI]</th><th>PRR [95%% CI]</th></tr>\n", json_num(eval, "bootstrap"));
    es_buf_puts(&csv, "level,score,errors,good,auroc,auroc_lo,auroc_hi,prr,prr_lo,prr_hi\n");
    level_rows(&html, &csv, eval, "token");
    level_rows(&html, &csv, eval, "answer");
    es_buf_puts(&html, "</table>\n");
    int rc = rf_parts_add(out, RF_TABLE, "confidence-evaluation", conf_title("evaluation", path), es_buf_take(&html),
                          es_buf_take(&csv), NULL, err);
    return rc; /* a part of the whole report: run -1 */
}

static int weights_table(const cJSON *conf, const char *path, rf_parts *out, es_error *err) {
    const cJSON *names = json_at(conf, "features"), *w = json_at(conf, "weights"), *norm = json_at(conf, "normalisation");
    int n = cJSON_GetArraySize(names);
    if (!cJSON_IsArray(names) || !cJSON_IsArray(w) || cJSON_GetArraySize(w) != n)
        return es_fail(err, "%s: \"features\" and \"weights\" are not lists of the same length", path);
    es_buf html = {0}, csv = {0};
    es_buf_puts(&html, "<table><tr><th>feature</th><th>weight (of the standardised feature, in the log-odds of "
                     "an error)</th><th>mean</th><th>sd</th></tr>\n");
    es_buf_puts(&csv, "feature,weight,mean,sd\n");
    es_buf_printf(&html, "<tr><td>intercept</td>");
    cell_number(&html, json_num(conf, "intercept"));
    es_buf_puts(&html, "<td></td><td></td></tr>\n");
    es_buf_printf(&csv, "intercept,%.17g,,\n", json_num(conf, "intercept"));
    for (int i = 0; i < n; i++) {
        const cJSON *name = cJSON_GetArrayItem(names, i);
        const char *text = cJSON_IsString(name) ? name->valuestring : "?";
        double v[3] = {json_elem(conf, "weights", i), json_elem(norm, "mean", i), json_elem(norm, "sd", i)};
        es_buf_puts(&html, "<tr><td>");
        svg_escape(&html, text);
        es_buf_puts(&html, "</td>");
        for (int k = 0; k < 3; k++) cell_number(&html, v[k]);
        es_buf_puts(&html, "</tr>\n");
        for (const char *c = text; *c; c++) es_buf_printf(&csv, "%c", *c == ',' ? ';' : *c);
        es_buf_printf(&csv, ",%.17g,%.17g,%.17g\n", v[0], v[1], v[2]);
    }
    es_buf_puts(&html, "</table>\n");
    int rc = rf_parts_add(out, RF_TABLE, "confidence-weights", conf_title("features and weights", path),
                          es_buf_take(&html), es_buf_take(&csv), NULL, err);
    return rc; /* a part of the whole report: run -1 */
}

int rh_confidence_tables(const cJSON *conf, const char *path, rf_parts *out, es_error *err) {
    const cJSON *fmt = json_at(conf, "format");
    if (!cJSON_IsObject(conf) || !cJSON_IsString(fmt) || strcmp(fmt->valuestring, "entroscope-confidence") != 0)
        return es_fail(err, "%s: not an entroscope confidence model (no \"format\": \"entroscope-confidence\")", path);
    if (evaluation_table(conf, path, out, err) < 0) return -1;
    return weights_table(conf, path, out, err);
}

static int is_confidence_part(const rf_part *p) { return p->run < 0 && strncmp(p->name, "confidence-", 11) == 0; }

/* ------------------------------------------------------------- page -- */

static const char *const page_css =
    "body{font-family:'DejaVu Sans',Helvetica,Arial,sans-serif;margin:24px;color:#222;max-width:1800px}"
    "h1{font-size:26px}h2{font-size:21px;border-bottom:1px solid #bbb;margin-top:36px}h3{font-size:17px}"
    "table{border-collapse:collapse;margin:8px 0 16px;font-size:13px}"
    "td,th{border:1px solid #ccc;padding:3px 7px;text-align:left}th{background:#f0f0f0}"
    "td.small{color:#a33;font-style:italic}.runs{display:flex;flex-wrap:wrap;gap:24px}"
    ".run{flex:1 1 840px;min-width:0}figure{margin:12px 0}figcaption{font-size:13px;color:#444;max-width:820px}"
    "tr.model td{font-weight:bold}svg{max-width:100%;height:auto}pre{white-space:pre-wrap;word-break:break-all;font-size:12px;background:#f6f6f6;padding:6px}";

static void put_part(es_buf *b, const rf_part *p) {
    es_buf_printf(b, "<figure id=\"%s\">\n", p->name);
    if (p->kind == RF_TABLE) {
        es_buf_puts(b, "<h3>");
        svg_escape(b, p->title);
        es_buf_puts(b, "</h3>\n");
    }
    /* the SVG starts with its XML-free <svg> element, so it can be inlined as is */
    es_buf_puts(b, p->body);
    if (p->note) {
        es_buf_puts(b, "<figcaption>");
        svg_escape(b, p->note);
        es_buf_puts(b, "</figcaption>\n");
    }
    es_buf_puts(b, "</figure>\n");
}

static void put_run(es_buf *b, const report_data *d, int r, const rf_parts *parts) {
    const rd_run *run = &d->runs[r];
    es_buf_puts(b, "<section class=\"run\"><h3>");
    svg_escape(b, run->model_name ? run->model_name : "model");
    es_buf_puts(b, "</h3>\n<p>database: ");
    svg_escape(b, run->db_path ? run->db_path : "?");
    es_buf_puts(b, "<br>model file: ");
    svg_escape(b, run->model_path ? run->model_path : "?");
    es_buf_puts(b, "<br>run at: ");
    svg_escape(b, run->created ? run->created : "?");
    es_buf_puts(b, ", entroscope ");
    svg_escape(b, run->version ? run->version : "?");
    es_buf_printf(b, "<br>%d layers &#215; %d heads, %d items</p>\n<pre>", run->n_layers, run->n_heads, run->n_items);
    svg_escape(b, run->settings_json ? run->settings_json : "");
    es_buf_puts(b, "</pre>\n");
    for (int i = 0; i < parts->n; i++)
        if (parts->items[i].run == r) put_part(b, &parts->items[i]);
    es_buf_puts(b, "</section>\n");
}

char *rh_page(const report_data *d, const rf_parts *parts, const rf_options *o, es_error *err) {
    es_buf b = {0};
    es_buf_printf(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                    "<title>entroscope report</title><style>%s</style></head><body>\n"
                    "<h1>entroscope report</h1>\n<p>entroscope %s. Bands and intervals: 95%% percentile bootstrap "
                    "(%d resamples). A group with fewer than %d items is reported as too small.</p>\n",
                page_css, ENTROSCOPE_VERSION, o->bootstrap_b, o->min_items);
    for (int i = 0; i < parts->n; i++)
        if (parts->items[i].run < 0 && !is_confidence_part(&parts->items[i])) put_part(&b, &parts->items[i]);
    /* one section per study, its runs (models) side by side */
    for (int r = 0; r < d->n_runs; r++) {
        const char *study = d->runs[r].study ? d->runs[r].study : "";
        int seen = 0;
        for (int q = 0; q < r; q++) seen |= strcmp(d->runs[q].study ? d->runs[q].study : "", study) == 0;
        if (seen) continue;
        es_buf_puts(&b, "<h2>study: ");
        svg_escape(&b, study);
        es_buf_puts(&b, "</h2>\n<div class=\"runs\">\n");
        for (int q = r; q < d->n_runs; q++)
            if (strcmp(d->runs[q].study ? d->runs[q].study : "", study) == 0) put_run(&b, d, q, parts);
        es_buf_puts(&b, "</div>\n");
    }
    int confidence = 0;
    for (int i = 0; i < parts->n; i++) confidence |= is_confidence_part(&parts->items[i]);
    if (confidence) es_buf_puts(&b, "<h2 id=\"confidence\">Confidence</h2>\n");
    for (int i = 0; i < parts->n; i++)
        if (is_confidence_part(&parts->items[i])) put_part(&b, &parts->items[i]);
    es_buf_puts(&b, "</body></html>\n");
    char *page = es_buf_take(&b);
    if (!page) es_fail(err, "report: out of memory");
    return page;
}
