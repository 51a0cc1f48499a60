/* The figures and per-run tables of the report (see figures.h). The curve
 * figures share one path: values are collected per (group, x) cell, each
 * cell summarised as mean and bootstrap interval, hidden when it has fewer
 * than min_items values, then drawn (svg.c) and written as CSV. */
#include "report/figures.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "report/stats.h"
#include "report/svg.h"
#include "util/error.h"

void rf_default_options(rf_options *o) {
    o->min_items = 3;
    o->bootstrap_b = 400;
    o->seed = 20240601;
    o->max_steps = 256;
}

/* ------------------------------------------------------ statistics -- */

const char *rf_stat_name(rf_stat s) {
    static const char *const names[] = {"attn_entropy", "attn_varentropy", "logit_entropy",
                                        "logit_varentropy", "attn_entropy_norm"};
    return s < RF_N_STATS ? names[s] : "?";
}

const char *rf_stat_label(rf_stat s) {
    static const char *const labels[] = {
        "attention entropy (nats)", "attention varentropy (nats\xc2\xb2)", "logit entropy (nats)",
        "logit varentropy (nats\xc2\xb2)", "attention entropy / ln(pos+1) (ratio)"};
    return s < RF_N_STATS ? labels[s] : "?";
}

double rf_row_value(const rd_row *row, rf_stat s) {
    switch (s) {
    case RF_ATTN_ENTROPY: return row->attn_entropy;
    case RF_ATTN_VARENTROPY: return row->attn_varentropy;
    case RF_LOGIT_ENTROPY: return row->logit_entropy;
    case RF_LOGIT_VARENTROPY: return row->logit_varentropy;
    case RF_ATTN_ENTROPY_NORM: /* ln(1) = 0: one key carries no entropy to normalise */
        return row->pos >= 1 ? row->attn_entropy / log(row->pos + 1.0) : NAN;
    default: return NAN;
    }
}

double rf_item_mean(const rd_item *item, rf_stat s) {
    double sum = 0;
    int n = 0;
    for (int i = 0; i < item->n_rows; i++) {
        double v = rf_row_value(&item->rows[i], s);
        if (isfinite(v)) sum += v, n++;
    }
    return n ? sum / n : NAN;
}

int rf_study_groups(const char *study, const char *groups[3]) {
    groups[0] = groups[1] = groups[2] = NULL;
    if (study && strcmp(study, "factual-creative") == 0) {
        groups[0] = "factual", groups[1] = "creative";
        return 2;
    }
    if (study && strcmp(study, "simpleqa") == 0) {
        groups[0] = "CORRECT", groups[1] = "INCORRECT", groups[2] = "NOT_ATTEMPTED";
        return 3;
    }
    if (study && strcmp(study, "gsm8k") == 0) {
        groups[0] = "correct", groups[1] = "incorrect";
        return 2;
    }
    return 1;
}

int rf_item_in_group(const rd_item *item, const char *group) {
    return !group || (item->group && strcmp(item->group, group) == 0);
}

/* ------------------------------------------------------------ parts -- */

int rf_parts_add(rf_parts *p, rf_kind kind, const char *name, char *title, char *body, char *csv,
                 char *note, es_error *err) {
    rf_part *items = p->items;
    if (p->n == p->cap && title && body && csv) {
        p->cap = p->cap ? p->cap * 2 : 16;
        items = realloc(p->items, (size_t)p->cap * sizeof *items);
        if (items) p->items = items;
    }
    if (!title || !body || !csv || !items) { /* an es_buf_take that failed, or realloc */
        free(title), free(body), free(csv), free(note);
        return es_fail(err, "report: out of memory");
    }
    rf_part *part = &p->items[p->n++];
    part->kind = kind;
    snprintf(part->name, sizeof part->name, "%s", name);
    part->title = title, part->body = body, part->csv = csv, part->note = note;
    part->run = -1;
    return 0;
}

void rf_parts_free(rf_parts *p) {
    for (int i = 0; i < p->n; i++) {
        free(p->items[i].title), free(p->items[i].body), free(p->items[i].csv), free(p->items[i].note);
    }
    free(p->items);
    memset(p, 0, sizeof *p);
}

static char *dup_printf_title(const rd_run *run, const char *what) {
    es_buf b = {0};
    es_buf_printf(&b, "%s: %s (%s)", run->study ? run->study : "run", what,
                run->model_name ? run->model_name : "model");
    return es_buf_take(&b);
}

/* ------------------------------------------------------------ curves -- */

typedef struct dvec {
    double *v;
    size_t n, cap;
} dvec;

static int dvec_push(dvec *d, double x) {
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 16;
        double *v = realloc(d->v, cap * sizeof *v);
        if (!v) return -1;
        d->v = v, d->cap = cap;
    }
    d->v[d->n++] = x;
    return 0;
}

/* Values per (group, x) cell, then their summaries; cell index g * n_x + i. */
typedef struct curve {
    int n_groups, n_x;
    const char *names[3];
    double x0;          /* x of index 0 (the event plot starts at -10) */
    dvec *cells;
    double *mean, *lo, *hi; /* NAN where hidden */
    int oom;
} curve;

static int curve_init(curve *c, int n_groups, const char *const *names, int n_x, double x0) {
    memset(c, 0, sizeof *c);
    c->n_groups = n_groups, c->n_x = n_x, c->x0 = x0;
    for (int g = 0; g < n_groups; g++) c->names[g] = names[g] ? names[g] : "all items";
    size_t n = (size_t)n_groups * (size_t)(n_x > 0 ? n_x : 1);
    c->cells = calloc(n, sizeof *c->cells);
    c->mean = malloc(n * sizeof(double)), c->lo = malloc(n * sizeof(double)), c->hi = malloc(n * sizeof(double));
    return c->cells && c->mean && c->lo && c->hi ? 0 : -1;
}

static void curve_add(curve *c, int g, int i, double v) {
    if (i < 0 || i >= c->n_x || !isfinite(v)) return;
    if (dvec_push(&c->cells[(size_t)g * c->n_x + i], v) < 0) c->oom = 1;
}

static void curve_free(curve *c) {
    if (c->cells)
        for (int k = 0; k < c->n_groups * c->n_x; k++) free(c->cells[k].v);
    free(c->cells), free(c->mean), free(c->lo), free(c->hi);
    memset(c, 0, sizeof *c);
}

/* Summarises every cell; returns how many cells are hidden while non-empty. */
static int curve_summarise(curve *c, const rf_options *o) {
    int hidden = 0;
    for (int k = 0; k < c->n_groups * c->n_x; k++) {
        dvec *d = &c->cells[k];
        c->mean[k] = c->lo[k] = c->hi[k] = NAN;
        if (d->n < (size_t)o->min_items || d->n == 0) {
            hidden += d->n > 0;
            continue;
        }
        c->mean[k] = rs_mean(d->v, d->n);
        rs_bootstrap_ci(d->v, d->n, rs_mean, o->bootstrap_b, o->seed + (uint64_t)k, &c->lo[k], &c->hi[k]);
    }
    return hidden;
}

static char *curve_csv(const curve *c, const char *x_name) {
    es_buf b = {0};
    es_buf_printf(&b, "group,%s,n,mean,ci_lo,ci_hi,shown\n", x_name);
    for (int g = 0; g < c->n_groups; g++)
        for (int i = 0; i < c->n_x; i++) {
            size_t k = (size_t)g * c->n_x + i;
            const dvec *d = &c->cells[k];
            if (d->n == 0) continue;
            es_buf_printf(&b, "%s,%g,%zu,%.17g,%.17g,%.17g,%d\n", c->names[g], c->x0 + i, d->n,
                        rs_mean(d->v, d->n), c->lo[k], c->hi[k], isfinite(c->mean[k]) ? 1 : 0);
        }
    return es_buf_take(&b);
}

static char *curve_svg(const curve *c, const char *title, const char *x_label, const char *y_label,
                       const char *marker) {
    es_buf b = {0};
    svg_plot p = {.x_min = c->x0, .x_max = c->x0 + (c->n_x > 1 ? c->n_x - 1 : 1),
                  .left = 90, .top = 50, .width = 520, .height = 300};
    double y_lo = INFINITY, y_hi = -INFINITY;
    for (int k = 0; k < c->n_groups * c->n_x; k++)
        if (isfinite(c->mean[k])) {
            y_lo = fmin(y_lo, isfinite(c->lo[k]) ? c->lo[k] : c->mean[k]);
            y_hi = fmax(y_hi, isfinite(c->hi[k]) ? c->hi[k] : c->mean[k]);
        }
    int empty = !isfinite(y_lo);
    p.y_min = y_lo, p.y_max = y_hi;
    svg_nice_range(&p.y_min, &p.y_max);
    svg_begin(&b, 820, 420, title);
    svg_axes(&b, &p, x_label, y_label);
    double *x = malloc((size_t)(c->n_x > 0 ? c->n_x : 1) * sizeof *x);
    if (!x) b.failed = 1;
    for (int i = 0; x && i < c->n_x; i++) x[i] = c->x0 + i;
    const char *colours[3];
    for (int g = 0; x && g < c->n_groups; g++) {
        size_t k = (size_t)g * c->n_x;
        colours[g] = svg_colour(g);
        svg_band(&b, &p, x, c->lo + k, c->hi + k, (size_t)c->n_x, colours[g]);
        svg_line(&b, &p, x, c->mean + k, (size_t)c->n_x, colours[g]);
    }
    free(x);
    if (marker) svg_vline(&b, &p, 0, marker);
    if (empty) svg_text(&b, p.left + p.width / 2, p.top + p.height / 2, 15, "middle",
                        "too few items in every group to show a mean");
    svg_legend(&b, p.left + p.width + 14, p.top, c->names, colours, c->n_groups);
    svg_text(&b, p.left + p.width + 14, p.top + 34 + 20.0 * c->n_groups, 12, "start", "line: mean");
    svg_text(&b, p.left + p.width + 14, p.top + 50 + 20.0 * c->n_groups, 12, "start", "band: 95% bootstrap CI");
    svg_end(&b);
    return es_buf_take(&b);
}

/* Draws, writes and appends a summarised curve as one figure part. */
static int curve_part(curve *c, const rf_options *o, const rd_run *run, const char *name,
                      const char *what, const char *x_name, const char *x_label, const char *y_label,
                      const char *marker, rf_parts *out, es_error *err) {
    if (c->oom) return es_fail(err, "report: out of memory");
    int hidden = curve_summarise(c, o);
    char *title = dup_printf_title(run, what);
    char *note = NULL;
    if (hidden) {
        es_buf nb = {0};
        es_buf_printf(&nb, "Points with fewer than %d items in a group are hidden (%d hidden; counts in the CSV).",
                    o->min_items, hidden);
        note = es_buf_take(&nb);
    }
    return rf_parts_add(out, RF_FIGURE, name, title, title ? curve_svg(c, title, x_label, y_label, marker) : NULL,
                        curve_csv(c, x_name), note, err);
}

static int max_step(const rd_run *run, const rf_options *o) {
    int m = 0;
    for (int it = 0; it < run->n_items; it++)
        for (int i = 0; i < run->items[it].n_rows; i++)
            if (run->items[it].rows[i].step + 1 > m) m = run->items[it].rows[i].step + 1;
    return m < o->max_steps ? m : o->max_steps;
}

static int main_figures(const rd_run *run, int r, const rf_options *o, rf_parts *out, es_error *err) {
    const char *groups[3];
    int n_groups = rf_study_groups(run->study, groups), n_steps = max_step(run, o);
    for (rf_stat s = 0; s < RF_N_STATS; s++) {
        curve c;
        if (curve_init(&c, n_groups, groups, n_steps, 0) < 0) {
            curve_free(&c);
            return es_fail(err, "report: out of memory");
        }
        for (int g = 0; g < n_groups; g++)
            for (int it = 0; it < run->n_items; it++) {
                const rd_item *item = &run->items[it];
                if (!rf_item_in_group(item, groups[g])) continue;
                for (int i = 0; i < item->n_rows; i++)
                    curve_add(&c, g, item->rows[i].step, rf_row_value(&item->rows[i], s));
            }
        char name[128], what[128];
        snprintf(name, sizeof name, "r%d-%s-step-%s", r, run->study ? run->study : "run", rf_stat_name(s));
        snprintf(what, sizeof what, "mean %s by generation step", rf_stat_name(s));
        int rc = curve_part(&c, o, run, name, what, "step", "generation step (step)", rf_stat_label(s),
                            NULL, out, err);
        curve_free(&c);
        if (rc < 0) return rc;
    }
    return 0;
}

/* ------------------------------------------------------------- heads -- */

/* The per-item mean over its generated rows of head (l, h) of the blob's
 * entropy (which = 0) or varentropy (which = 1) block. */
static double item_head_mean(const rd_run *run, const rd_item *item, int which, int l, int h) {
    size_t off = (size_t)which * run->n_layers * run->n_heads + (size_t)l * run->n_heads + h;
    double sum = 0;
    int n = 0;
    for (int i = 0; i < item->n_rows; i++) {
        if (!item->rows[i].heads) continue;
        double v = item->rows[i].heads[off];
        if (isfinite(v)) sum += v, n++;
    }
    return n ? sum / n : NAN;
}

static int has_heads(const rd_run *run) {
    if (run->n_layers <= 0 || run->n_heads <= 0) return 0;
    for (int it = 0; it < run->n_items; it++)
        for (int i = 0; i < run->items[it].n_rows; i++)
            if (run->items[it].rows[i].heads) return 1;
    return 0;
}

static int layer_figures(const rd_run *run, int r, const rf_options *o, rf_parts *out, es_error *err) {
    const char *groups[3];
    int n_groups = rf_study_groups(run->study, groups);
    for (int which = 0; which < 2; which++) {
        curve c;
        if (curve_init(&c, n_groups, groups, run->n_layers, 0) < 0) {
            curve_free(&c);
            return es_fail(err, "report: out of memory");
        }
        for (int g = 0; g < n_groups; g++)
            for (int it = 0; it < run->n_items; it++) {
                if (!rf_item_in_group(&run->items[it], groups[g])) continue;
                for (int l = 0; l < run->n_layers; l++) {
                    double sum = 0;
                    int n = 0;
                    for (int h = 0; h < run->n_heads; h++) {
                        double v = item_head_mean(run, &run->items[it], which, l, h);
                        if (isfinite(v)) sum += v, n++;
                    }
                    if (n) curve_add(&c, g, l, sum / n);
                }
            }
        char name[128];
        snprintf(name, sizeof name, "r%d-%s-layer-%s", r, run->study ? run->study : "run",
                 which ? "attn_varentropy" : "attn_entropy");
        int rc = curve_part(&c, o, run, name, which ? "attention varentropy per layer" : "attention entropy per layer",
                            "layer", "layer (index)",
                            which ? "mean attention varentropy (nats\xc2\xb2)" : "mean attention entropy (nats)",
                            NULL, out, err);
        curve_free(&c);
        if (rc < 0) return rc;
    }
    return 0;
}

/* The AUROC of every head between groups a and b, Mann-Whitney p, BH q. */
typedef struct head_test {
    double *auroc, *p, *q;
    unsigned char *significant;
    size_t n_a, n_b;
} head_test;

static int head_tests(const rd_run *run, int which, const char *a, const char *b, head_test *t) {
    size_t n_cells = (size_t)run->n_layers * run->n_heads, n = (size_t)run->n_items;
    t->auroc = calloc(n_cells, sizeof(double)), t->p = calloc(n_cells, sizeof(double));
    t->q = calloc(n_cells, sizeof(double)), t->significant = calloc(n_cells, 1);
    double *xa = malloc((n ? n : 1) * sizeof(double)), *xb = malloc((n ? n : 1) * sizeof(double));
    if (!t->auroc || !t->p || !t->q || !t->significant || !xa || !xb) {
        free(xa), free(xb);
        return -1;
    }
    for (size_t cell = 0; cell < n_cells; cell++) {
        int l = (int)(cell / run->n_heads), h = (int)(cell % run->n_heads);
        t->n_a = t->n_b = 0;
        for (int it = 0; it < run->n_items; it++) {
            double v = item_head_mean(run, &run->items[it], which, l, h);
            if (!isfinite(v)) continue;
            if (rf_item_in_group(&run->items[it], a)) xa[t->n_a++] = v;
            else if (rf_item_in_group(&run->items[it], b)) xb[t->n_b++] = v;
        }
        t->auroc[cell] = rs_auroc(xa, t->n_a, xb, t->n_b);
        t->p[cell] = rs_mann_whitney_u(xa, t->n_a, xb, t->n_b).p;
        if (!isfinite(t->p[cell])) t->p[cell] = 1; /* an untestable head counts as not significant */
    }
    rs_bh_adjust(t->p, n_cells, t->q);
    for (size_t cell = 0; cell < n_cells; cell++) t->significant[cell] = t->q[cell] < 0.05;
    free(xa), free(xb);
    return 0;
}

static void head_test_free(head_test *t) {
    free(t->auroc), free(t->p), free(t->q), free(t->significant);
}

static int heatmap_part(const rd_run *run, int r, int which, const char *a, const char *b,
                        const rf_options *o, rf_parts *out, es_error *err) {
    head_test t = {0};
    if (head_tests(run, which, a, b, &t) < 0) {
        head_test_free(&t);
        return es_fail(err, "report: out of memory");
    }
    int too_small = t.n_a < (size_t)o->min_items || t.n_b < (size_t)o->min_items;
    char what[160], name[128];
    snprintf(what, sizeof what, "AUROC per head, %s vs %s, attention %s", a, b, which ? "varentropy" : "entropy");
    snprintf(name, sizeof name, "r%d-%s-heads-%s", r, run->study, which ? "attn_varentropy" : "attn_entropy");
    char *title = dup_printf_title(run, what);
    es_buf svg = {0}, csv = {0}, note = {0};
    int rows = run->n_layers, cols = run->n_heads;
    svg_plot area = {.left = 90, .top = 50, .width = 480, .height = 300};
    svg_begin(&svg, 820, 420, title ? title : "");
    if (too_small) {
        for (size_t k = 0; k < (size_t)rows * cols; k++) t.auroc[k] = NAN, t.significant[k] = 0;
        es_buf_printf(&note, "Too small: %s has %zu items, %s has %zu (at least %d each needed).", a, t.n_a,
                    b, t.n_b, o->min_items);
    } else {
        es_buf_printf(&note, "AUROC > 0.5: higher in %s. Dots: q < 0.05 after Benjamini-Hochberg over all %d heads.",
                    a, rows * cols);
    }
    svg_heatmap(&svg, &area, t.auroc, t.significant, rows, cols, 0, 1, "layer (index)", "head (index)",
                "AUROC (probability)");
    if (too_small) svg_text(&svg, area.left + area.width / 2, area.top + area.height / 2, 15, "middle",
                            "too few items for an AUROC");
    svg_end(&svg);
    es_buf_printf(&csv, "layer,head,n_%s,n_%s,auroc,p,q,significant\n", a, b);
    for (int l = 0; l < rows; l++)
        for (int h = 0; h < cols; h++) {
            size_t k = (size_t)l * cols + h;
            es_buf_printf(&csv, "%d,%d,%zu,%zu,%.17g,%.17g,%.17g,%d\n", l, h, t.n_a, t.n_b, t.auroc[k], t.p[k],
                        t.q[k], t.significant[k]);
        }
    head_test_free(&t);
    return rf_parts_add(out, RF_FIGURE, name, title, es_buf_take(&svg), es_buf_take(&csv), es_buf_take(&note), err);
}

/* ------------------------------------------------------------ gsm8k -- */

/* Token categories around the first error of GSM8K answers. */
enum { TOK_FIRST_ERROR, TOK_OTHER_WRONG, TOK_CORRECT, N_TOK };

static int error_moments_table(const rd_run *run, int r, const rf_options *o, rf_parts *out, es_error *err) {
    static const char *const cat_names[N_TOK] = {"first-error tokens", "other tokens of wrong answers",
                                                 "tokens of correct answers"};
    es_buf html = {0}, csv = {0};
    es_buf_puts(&csv, "statistic,category,n,mean,median,ci_lo,ci_hi,auroc_first_error_vs_these,"
                    "mann_whitney_p\n");
    es_buf_puts(&html, "<table><tr><th>statistic</th><th>tokens</th><th>n</th><th>mean [95% CI]</th>"
                     "<th>median</th><th>AUROC, first-error tokens vs these</th>"
                     "<th>Mann-Whitney p</th></tr>\n");
    for (rf_stat s = 0; s < RF_N_STATS; s++) {
        dvec cats[N_TOK] = {{0}};
        int oom = 0;
        for (int it = 0; it < run->n_items; it++) {
            const rd_item *item = &run->items[it];
            int correct = rf_item_in_group(item, "correct"), wrong = rf_item_in_group(item, "incorrect");
            for (int i = 0; i < item->n_rows; i++) {
                double v = rf_row_value(&item->rows[i], s);
                if (!isfinite(v)) continue;
                int cat = correct ? TOK_CORRECT
                        : !wrong || item->first_error_row < 0 ? -1
                        : i == item->first_error_row ? TOK_FIRST_ERROR : TOK_OTHER_WRONG;
                if (cat >= 0 && dvec_push(&cats[cat], v) < 0) oom = 1;
            }
        }
        for (int c = 0; c < N_TOK; c++) {
            rs_summary sm = rs_summarise(cats[c].v, cats[c].n);
            double lo = NAN, hi = NAN, auroc = NAN, p = NAN;
            const dvec *fe = &cats[TOK_FIRST_ERROR];
            int compare = c != TOK_FIRST_ERROR && fe->n >= (size_t)o->min_items &&
                          cats[c].n >= (size_t)o->min_items;
            if (compare) {
                auroc = rs_auroc(fe->v, fe->n, cats[c].v, cats[c].n);
                p = rs_mann_whitney_u(fe->v, fe->n, cats[c].v, cats[c].n).p;
            }
            es_buf_printf(&html, "<tr><td>%s</td><td>%s</td><td>%zu</td>", rf_stat_label(s), cat_names[c], cats[c].n);
            if (cats[c].n < (size_t)o->min_items) {
                es_buf_printf(&html, "<td class=\"small\" colspan=\"2\">too small (n = %zu &lt; %d)</td>",
                            cats[c].n, o->min_items);
            } else {
                rs_bootstrap_ci(cats[c].v, cats[c].n, rs_mean, o->bootstrap_b, o->seed + (uint64_t)c, &lo, &hi);
                es_buf_printf(&html, "<td>%.4g [%.4g, %.4g]</td><td>%.4g</td>", sm.mean, lo, hi, sm.median);
            }
            if (compare) es_buf_printf(&html, "<td>%.3f</td><td>%.3g</td></tr>\n", auroc, p);
            else if (c == TOK_FIRST_ERROR) es_buf_puts(&html, "<td></td><td></td></tr>\n");
            else es_buf_puts(&html, "<td class=\"small\" colspan=\"2\">too small to compare</td></tr>\n");
            es_buf_printf(&csv, "%s,%s,%zu,%.17g,%.17g,%.17g,%.17g,%.17g,%.17g\n", rf_stat_name(s), cat_names[c],
                        cats[c].n, sm.mean, sm.median, lo, hi, auroc, p);
        }
        for (int c = 0; c < N_TOK; c++) free(cats[c].v);
        if (oom) html.failed = 1;
    }
    es_buf_puts(&html, "</table>\n");
    char name[128];
    snprintf(name, sizeof name, "r%d-gsm8k-error-moments", r);
    return rf_parts_add(out, RF_TABLE, name, dup_printf_title(run, "statistics at the first error"),
                        es_buf_take(&html), es_buf_take(&csv), NULL, err);
}

static int event_figures(const rd_run *run, int r, const rf_options *o, rf_parts *out, es_error *err) {
    enum { BEFORE = 10, AFTER = 10 };
    const char *names[1] = {"wrong answers"};
    for (rf_stat s = 0; s < RF_N_STATS; s++) {
        curve c;
        if (curve_init(&c, 1, names, BEFORE + AFTER + 1, -BEFORE) < 0) {
            curve_free(&c);
            return es_fail(err, "report: out of memory");
        }
        for (int it = 0; it < run->n_items; it++) {
            const rd_item *item = &run->items[it];
            int fe = item->first_error_row;
            if (!rf_item_in_group(item, "incorrect") || fe < 0 || fe >= item->n_rows) continue;
            for (int d = -BEFORE; d <= AFTER; d++)
                if (fe + d >= 0 && fe + d < item->n_rows)
                    curve_add(&c, 0, d + BEFORE, rf_row_value(&item->rows[fe + d], s));
        }
        char name[128], what[128];
        snprintf(name, sizeof name, "r%d-gsm8k-event-%s", r, rf_stat_name(s));
        snprintf(what, sizeof what, "%s around the first error", rf_stat_name(s));
        int rc = curve_part(&c, o, run, name, what, "offset", "tokens from the first error (step)",
                            rf_stat_label(s), "first error", out, err);
        curve_free(&c);
        if (rc < 0) return rc;
    }
    return 0;
}

/* ------------------------------------------------------------- entry -- */

static int run_parts(const rd_run *run, int r, const rf_options *o, rf_parts *out, es_error *err) {
    const char *groups[3];
    int n_groups = rf_study_groups(run->study, groups);
    if (main_figures(run, r, o, out, err) < 0) return -1;
    if (has_heads(run)) {
        if (layer_figures(run, r, o, out, err) < 0) return -1;
        for (int which = 0; n_groups >= 2 && which < 2; which++)
            if (heatmap_part(run, r, which, groups[0], groups[1], o, out, err) < 0) return -1;
    }
    if (run->study && strcmp(run->study, "gsm8k") == 0) {
        if (error_moments_table(run, r, o, out, err) < 0) return -1;
        if (event_figures(run, r, o, out, err) < 0) return -1;
    }
    return 0;
}

int rf_run_figures(const rd_run *run, int r, const rf_options *o, rf_parts *out, es_error *err) {
    int first = out->n, rc = run_parts(run, r, o, out, err);
    for (int i = first; i < out->n; i++) out->items[i].run = r;
    return rc;
}
