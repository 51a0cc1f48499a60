/* The sampler parts of the report (see sampler.h): the branch table of an
 * entropix run and the paired comparison of runs whose samplers differ.
 * Numbers are printed with 4 significant digits in the page and in full
 * precision in the CSVs, as in html.c. */
#include "report/sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "report/stats.h"
#include "report/svg.h"
#include "util/error.h"

const char *const rsm_branch_names[RSM_N_BRANCHES] = {"argmax", "insert", "explore", "resample", "adaptive", "inserted"};
enum { BRANCH_INSERT = 1, BRANCH_INSERTED = 5 };

static int branch_is(const rd_row *row, int b) { return row->branch && strcmp(row->branch, rsm_branch_names[b]) == 0; }

static char *part_title(const rd_run *run, const char *what) {
    es_buf b = {0};
    es_buf_printf(&b, "%s: %s (%s)", run->study ? run->study : "run", what, run->model_name ? run->model_name : "model");
    return es_buf_take(&b);
}

/* ----------------------------------------------------------- branches -- */

/* The generator (src/study/generation.c) marks every token of an inserted
 * clarifying text "inserted"; "insert" is a token sampled at a raised
 * temperature right after an insertion. A row's statistics are those of the
 * pass whose distribution its token came from, so the first row of a run of
 * inserted rows carries the pass that decided to insert: the trigger. */
size_t rsm_row_roles(const rd_item *item, rsm_row_role *roles) {
    size_t events = 0;
    for (int i = 0; i < item->n_rows; i++) {
        roles[i] = RSM_ROLE_OTHER;
        if (!branch_is(&item->rows[i], BRANCH_INSERTED)) continue;
        int continues = i > 0 && branch_is(&item->rows[i - 1], BRANCH_INSERTED);
        roles[i] = continues ? RSM_ROLE_INSERTED : RSM_ROLE_TRIGGER;
        events += !continues;
    }
    return events;
}

int rsm_run_has_branches(const rd_run *run) {
    for (int it = 0; it < run->n_items; it++)
        for (int i = 0; i < run->items[it].n_rows; i++)
            if (run->items[it].rows[i].branch) return 1;
    return 0;
}

static void count_row(rsm_branch_tally *t, const rd_row *row) {
    t->rows++;
    if (!row->branch) {
        t->unmarked++;
        return;
    }
    for (int b = 0; b < RSM_N_BRANCHES; b++)
        if (branch_is(row, b)) {
            t->count[b]++;
            return;
        }
    t->other++;
}

void rsm_count_branches(const rd_run *run, rsm_branch_tally *t) {
    memset(t, 0, sizeof *t);
    for (int it = 0; it < run->n_items; it++) {
        const rd_item *item = &run->items[it];
        for (int i = 0; i < item->n_rows; i++) count_row(t, &item->rows[i]);
    }
    t->inserted_tokens = t->count[BRANCH_INSERTED];
    rsm_row_role *roles = NULL;
    for (int it = 0; it < run->n_items; it++) {
        const rd_item *item = &run->items[it];
        rsm_row_role *grown = item->n_rows ? realloc(roles, (size_t)item->n_rows * sizeof *roles) : roles;
        if (!grown) break; /* out of memory: events stay a lower bound */
        roles = grown;
        t->events += rsm_row_roles(item, roles);
    }
    free(roles);
}

/* Sum and count of one statistic per role, over the run's generated rows. */
typedef struct role_sums {
    double sum[3][4];
    size_t n[3][4];
} role_sums;

static const rf_stat role_stats[4] = {RF_LOGIT_ENTROPY, RF_LOGIT_VARENTROPY, RF_ATTN_ENTROPY, RF_ATTN_VARENTROPY};
static const char *const role_names[3] = {"other generated rows", "deciding an insertion (first inserted rows)",
                                          "rest of the inserted rows"};
static const char *const role_keys[3] = {"other", "deciding_insertion", "inserted_rest"};

static int sum_roles(const rd_run *run, role_sums *s) {
    memset(s, 0, sizeof *s);
    rsm_row_role *roles = NULL;
    for (int it = 0; it < run->n_items; it++) {
        const rd_item *item = &run->items[it];
        if (item->n_rows == 0) continue;
        rsm_row_role *grown = realloc(roles, (size_t)item->n_rows * sizeof *roles);
        if (!grown) {
            free(roles);
            return -1;
        }
        roles = grown;
        rsm_row_roles(item, roles);
        for (int i = 0; i < item->n_rows; i++)
            for (int k = 0; k < 4; k++) {
                double v = rf_row_value(&item->rows[i], role_stats[k]);
                if (!isfinite(v)) continue;
                s->sum[roles[i]][k] += v;
                s->n[roles[i]][k]++;
            }
    }
    free(roles);
    return 0;
}

static void branch_counts_html(es_buf *html, es_buf *csv, const rsm_branch_tally *t) {
    double rows = t->rows ? (double)t->rows : NAN;
    es_buf_puts(html, "<table><tr><th>branch</th><th>rows</th><th>fraction of generated rows</th></tr>\n");
    for (int b = 0; b <= RSM_N_BRANCHES + 1; b++) {
        const char *name = b < RSM_N_BRANCHES ? rsm_branch_names[b] : b == RSM_N_BRANCHES ? "(other name)" : "(none)";
        size_t n = b < RSM_N_BRANCHES ? t->count[b] : b == RSM_N_BRANCHES ? t->other : t->unmarked;
        if (b >= RSM_N_BRANCHES && n == 0) continue;
        es_buf_printf(html, "<tr><td>%s</td><td>%zu</td><td>%.4g</td></tr>\n", name, n, (double)n / rows);
        es_buf_printf(csv, "branch,%s,%zu,%.17g\n", name, n, (double)n / rows);
    }
    es_buf_printf(html, "<tr><td>insertion events</td><td>%zu</td><td></td></tr>\n", t->events);
    es_buf_printf(html, "<tr><td>inserted tokens</td><td>%zu</td><td>%.4g</td></tr>\n",
                t->inserted_tokens, (double)t->inserted_tokens / rows);
    es_buf_printf(html, "<tr><td>generated rows</td><td>%zu</td><td>1</td></tr>\n</table>\n", t->rows);
    es_buf_printf(csv, "insertion_events,inserted,%zu,\n", t->events);
    es_buf_printf(csv, "inserted_tokens,inserted,%zu,%.17g\n", t->inserted_tokens, (double)t->inserted_tokens / rows);
    es_buf_printf(csv, "generated_rows,all,%zu,1\n", t->rows);
}

static void role_stats_html(es_buf *html, es_buf *csv, const role_sums *s) {
    es_buf_puts(html, "<table><tr><th>rows</th>");
    for (int k = 0; k < 4; k++) es_buf_printf(html, "<th>%s: n, mean</th>", rf_stat_label(role_stats[k]));
    es_buf_puts(html, "</tr>\n");
    for (int r = 1; r <= 3; r++) {
        int role = r % 3; /* trigger rows first, then inserted, then the others */
        es_buf_printf(html, "<tr><td>%s</td>", role_names[role]);
        for (int k = 0; k < 4; k++) {
            size_t n = s->n[role][k];
            double mean = n ? s->sum[role][k] / (double)n : NAN;
            if (n) es_buf_printf(html, "<td>%zu, %.4g</td>", n, mean);
            else es_buf_puts(html, "<td class=\"small\">too small (no rows)</td>");
            es_buf_printf(csv, "statistic,%s/%s,%zu,%.17g\n", rf_stat_name(role_stats[k]), role_keys[role], n, mean);
        }
        es_buf_puts(html, "</tr>\n");
    }
    es_buf_puts(html, "</table>\n");
}

int rsm_branch_table(const rd_run *run, int r, rf_parts *out, es_error *err) {
    if (!rsm_run_has_branches(run)) return 0;
    rsm_branch_tally t;
    role_sums s;
    rsm_count_branches(run, &t);
    if (sum_roles(run, &s) < 0) return es_fail(err, "report: out of memory");
    es_buf html = {0}, csv = {0}, note = {0};
    es_buf_puts(&csv, "kind,name,n,value\n");
    branch_counts_html(&html, &csv, &t);
    role_stats_html(&html, &csv, &s);
    es_buf_puts(&note, "An insertion event is a run of \"inserted\" rows (the clarifying text's tokens). A row's "
                     "statistics are those of the pass its token came from, so the first row of a run carries the "
                     "pass that decided to insert; the rest of the run follows from it. \"insert\" rows are tokens "
                     "sampled at a raised temperature right after an insertion and count as other rows. Means over "
                     "rows.");
    char name[128];
    snprintf(name, sizeof name, "r%d-%s-sampler-branches", r, run->study ? run->study : "run");
    int rc = rf_parts_add(out, RF_TABLE, name, part_title(run, "sampler branches"), es_buf_take(&html),
                          es_buf_take(&csv), es_buf_take(&note), err);
    if (rc == 0) out->items[out->n - 1].run = r;
    return rc;
}

/* -------------------------------------------------------------- pairs -- */

int rsm_item_correct(const rd_run *run, const rd_item *item) {
    if (!run->study || !item->group) return -1;
    if (strcmp(run->study, "gsm8k") == 0) return strcmp(item->group, "correct") == 0;
    if (strcmp(run->study, "simpleqa") == 0) return strcmp(item->group, "CORRECT") == 0;
    return -1;
}

static int same_text(const char *a, const char *b) { return (!a && !b) || (a && b && strcmp(a, b) == 0); }
static const char *sampler_of(const rd_run *run) { return run->sampler ? run->sampler : "default"; }

int rsm_runs_comparable(const rd_run *a, const rd_run *b) {
    int graded_study = a->study && (strcmp(a->study, "gsm8k") == 0 || strcmp(a->study, "simpleqa") == 0);
    return graded_study && same_text(a->study, b->study) && same_text(a->model_name, b->model_name) &&
           strcmp(sampler_of(a), sampler_of(b)) != 0;
}

typedef struct keyed {
    const char *key;
    int index;
} keyed;

static int by_key(const void *x, const void *y) {
    return strcmp(((const keyed *)x)->key, ((const keyed *)y)->key);
}

int rsm_pair_items(const rd_run *a, const rd_run *b, int *ia, int *ib) {
    keyed *sorted = malloc(((size_t)b->n_items + 1) * sizeof *sorted);
    if (!sorted) return -1;
    size_t nb = 0;
    for (int j = 0; j < b->n_items; j++)
        if (b->items[j].key && rsm_item_correct(b, &b->items[j]) >= 0)
            sorted[nb++] = (keyed){b->items[j].key, j};
    qsort(sorted, nb, sizeof *sorted, by_key);
    int n = 0;
    for (int i = 0; i < a->n_items; i++) {
        if (!a->items[i].key || rsm_item_correct(a, &a->items[i]) < 0) continue;
        keyed want = {a->items[i].key, -1};
        const keyed *hit = nb ? bsearch(&want, sorted, nb, sizeof *sorted, by_key) : NULL;
        if (!hit) continue;
        ia[n] = i, ib[n] = hit->index;
        n++;
    }
    free(sorted);
    return n;
}

/* What the comparison of one pair of runs found. */
typedef struct pair_result {
    int n;
    double acc_a, acc_b, diff, lo, hi, p, tokens_a, tokens_b;
    double seconds_a, seconds_b; /* mean per item over the pairs timed in both runs; NAN: none */
    int n_timed;
    unsigned only_a, only_b; /* discordant pairs: right only in a, right only in b */
} pair_result;

static int compare_pair(const rd_run *a, const rd_run *b, const rf_options *o, pair_result *res) {
    size_t cap = (size_t)a->n_items + 1;
    int *ia = malloc(cap * sizeof *ia), *ib = malloc(cap * sizeof *ib);
    double *ca = malloc(cap * sizeof *ca), *cb = malloc(cap * sizeof *cb);
    int n = ia && ib && ca && cb ? rsm_pair_items(a, b, ia, ib) : -1;
    memset(res, 0, sizeof *res);
    res->n = n;
    double tok_a = 0, tok_b = 0, sec_a = 0, sec_b = 0;
    for (int k = 0; k < n; k++) {
        const rd_item *x = &a->items[ia[k]], *y = &b->items[ib[k]];
        ca[k] = rsm_item_correct(a, x);
        cb[k] = rsm_item_correct(b, y);
        res->only_a += ca[k] > cb[k], res->only_b += cb[k] > ca[k];
        tok_a += x->n_rows, tok_b += y->n_rows;
        if (!isnan(x->seconds) && !isnan(y->seconds)) sec_a += x->seconds, sec_b += y->seconds, res->n_timed++;
    }
    res->seconds_a = res->n_timed ? sec_a / res->n_timed : NAN;
    res->seconds_b = res->n_timed ? sec_b / res->n_timed : NAN;
    if (n > 0) {
        res->acc_a = rs_mean(ca, (size_t)n), res->acc_b = rs_mean(cb, (size_t)n);
        res->diff = res->acc_a - res->acc_b;
        res->tokens_a = tok_a / n, res->tokens_b = tok_b / n;
        rs_paired_bootstrap_diff_ci(ca, cb, (size_t)n, o->bootstrap_b, o->seed, &res->lo, &res->hi);
        res->p = rs_mcnemar_exact_p(res->only_a, res->only_b);
    }
    free(ia), free(ib), free(ca), free(cb);
    return n < 0 ? -1 : 0;
}

static void run_cell(es_buf *html, const rd_run *run, int r) {
    es_buf_printf(html, "<td>run %d: ", r);
    svg_escape(html, sampler_of(run));
    es_buf_puts(html, " (");
    svg_escape(html, run->db_path ? run->db_path : "?");
    es_buf_puts(html, ")</td>");
}

static int pair_table(const report_data *d, int ra, int rb, const rf_options *o, rf_parts *out, es_error *err) {
    const rd_run *a = &d->runs[ra], *b = &d->runs[rb];
    pair_result res;
    if (compare_pair(a, b, o, &res) < 0) return es_fail(err, "report: out of memory");
    es_buf html = {0}, csv = {0};
    es_buf_puts(&csv, "study,run_a,sampler_a,run_b,sampler_b,pairs,acc_a,acc_b,diff,diff_lo,diff_hi,"
                    "right_only_a,right_only_b,mcnemar_p,tokens_a,tokens_b,timed_pairs,seconds_a,seconds_b\n");
    es_buf_printf(&csv, "%s,%d,%s,%d,%s,%d", a->study, ra, sampler_of(a), rb, sampler_of(b), res.n);
    es_buf_puts(&html, "<table><tr><th>A</th><th>B</th><th>items paired</th><th>accuracy A</th><th>accuracy B</th>"
                     "<th>A &#8722; B [95% paired bootstrap CI]</th><th>right only in A / only in B</th>"
                     "<th>McNemar exact p</th><th>mean tokens per item A</th><th>B</th>"
                     "<th>mean seconds per item A</th><th>B</th></tr>\n<tr>");
    run_cell(&html, a, ra);
    run_cell(&html, b, rb);
    es_buf_printf(&html, "<td>%d</td>", res.n);
    if (res.n < RSM_MIN_PAIRS) {
        es_buf_printf(&html, "<td class=\"small\" colspan=\"9\">too small (%d paired items; at least %d)</td>", res.n,
                    RSM_MIN_PAIRS);
        es_buf_puts(&csv, ",,,,,,,,,,,,,\n");
    } else {
        es_buf_printf(&html, "<td>%.4g</td><td>%.4g</td><td>%+.4g [%+.4g, %+.4g]</td><td>%u / %u</td><td>%.3g</td>"
                           "<td>%.4g</td><td>%.4g</td>", res.acc_a, res.acc_b, res.diff, res.lo, res.hi,
                    res.only_a, res.only_b, res.p, res.tokens_a, res.tokens_b);
        es_buf_printf(&csv, ",%.17g,%.17g,%.17g,%.17g,%.17g,%u,%u,%.17g,%.17g,%.17g,%d", res.acc_a, res.acc_b, res.diff,
                    res.lo, res.hi, res.only_a, res.only_b, res.p, res.tokens_a, res.tokens_b, res.n_timed);
        if (res.n_timed) {
            es_buf_printf(&html, "<td>%.4g</td><td>%.4g</td>", res.seconds_a, res.seconds_b);
            es_buf_printf(&csv, ",%.17g,%.17g\n", res.seconds_a, res.seconds_b);
        } else {
            es_buf_puts(&html, "<td class=\"small\" colspan=\"2\">not recorded</td>");
            es_buf_puts(&csv, ",,\n");
        }
    }
    es_buf_puts(&html, "</tr></table>\n");
    es_buf title = {0}, note = {0};
    es_buf_printf(&title, "%s: %s vs %s on the same items (%s)", a->study, sampler_of(a), sampler_of(b),
                a->model_name ? a->model_name : "model");
    es_buf_printf(&note, "Items paired by key, graded in both runs; correct = %s. Tokens: generated rows per item, "
                       "inserted text included. Seconds: each item's own prompt evaluation and generation "
                       "(item_times; a shared prefix evaluated once is not counted), over the pairs timed in both runs; "
                       "wall-clock, so only comparable between runs on the same machine and threads.", strcmp(a->study, "gsm8k") == 0 ? "strict verdict correct" : "CORRECT");
    char name[128];
    snprintf(name, sizeof name, "pair-r%d-r%d-%s", ra, rb, a->study);
    return rf_parts_add(out, RF_TABLE, name, es_buf_take(&title), es_buf_take(&html), es_buf_take(&csv),
                        es_buf_take(&note), err);
}

int rsm_pair_tables(const report_data *d, const rf_options *o, rf_parts *out, es_error *err) {
    for (int i = 0; i < d->n_runs; i++)
        for (int j = i + 1; j < d->n_runs; j++) {
            if (!rsm_runs_comparable(&d->runs[i], &d->runs[j])) continue;
            /* the entropix run is A, so that A - B is what entropix adds */
            int entropix_second = strcmp(sampler_of(&d->runs[j]), "entropix") == 0;
            int rc = entropix_second ? pair_table(d, j, i, o, out, err) : pair_table(d, i, j, o, out, err);
            if (rc < 0) return -1;
        }
    return 0;
}
