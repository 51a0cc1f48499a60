/* The summary es_grade prints: per run and study, each grader's metrics over
 * every grade the trace holds (so a resumed grading reports the whole run),
 * and the agreement of the offline SimpleQA grader with each judge. ERROR
 * grades are counted apart and left out of the metrics. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "study/grading.h"
#include "util/error.h"

void grade_agreement(const grade_verdict *a, const grade_verdict *b, size_t n, grader_agreement *out) {
    size_t equal = 0, count_a[3] = {0}, count_b[3] = {0};
    for (size_t i = 0; i < n; i++) {
        equal += a[i] == b[i];
        count_a[a[i]]++;
        count_b[b[i]]++;
    }
    out->n = n;
    out->equal = n ? (double)equal / (double)n : 0;
    double chance = 0;
    for (int k = 0; k < 3; k++) chance += n ? (double)count_a[k] / n * ((double)count_b[k] / n) : 0;
    /* kappa = (observed - chance) / (1 - chance), undefined at chance 1. */
    out->kappa = n && chance < 1 ? (out->equal - chance) / (1 - chance) : NAN;
}

static int verdict_index(const char *name) {
    for (int v = 0; v < 3; v++)
        if (strcmp(name, grade_verdict_name((grade_verdict)v)) == 0) return v;
    return -1;
}

static int is_study(const grade_row *r, const char *study) {
    return r->study && strcmp(r->study, study) == 0;
}

/* One grader's SimpleQA verdicts in a run, by item id. */
typedef struct verdict_list {
    const char *grader;
    grade_verdict *v;
    int64_t *item;
    size_t n, n_errors;
} verdict_list;

static int collect(const grade_row *rows, size_t n, verdict_list *out) {
    out->v = malloc((n + 1) * sizeof *out->v);
    out->item = malloc((n + 1) * sizeof *out->item);
    if (!out->v || !out->item) return -1;
    out->grader = rows[0].grader;
    for (size_t i = 0; i < n; i++) {
        if (!is_study(&rows[i], "simpleqa")) continue;
        int v = verdict_index(rows[i].verdict);
        if (v < 0) {
            out->n_errors++;
            continue;
        }
        out->v[out->n] = (grade_verdict)v;
        out->item[out->n++] = rows[i].item_id;
    }
    return 0;
}

static void print_metrics(FILE *log, const verdict_list *l) {
    simpleqa_metrics m;
    simpleqa_metrics_compute(l->v, l->n, &m);
    fprintf(log, "  %-16s correct %zu (%.1f%%), incorrect %zu (%.1f%%), not attempted %zu (%.1f%%);"
                 " accuracy given attempted %.1f%%, F1 %.3f",
            l->grader, m.n_correct, 100 * m.correct, m.n_incorrect, 100 * m.incorrect,
            m.n_not_attempted, 100 * m.not_attempted, 100 * m.accuracy_given_attempted, m.f1);
    if (l->n_errors) fprintf(log, "; %zu errors", l->n_errors);
    fputc('\n', log);
}

/* The agreement of offline with a judge on the items both graded. */
static int print_agreement(FILE *log, const verdict_list *offline, const verdict_list *judge) {
    size_t cap = offline->n < judge->n ? offline->n : judge->n, n = 0;
    grade_verdict *a = malloc((cap + 1) * sizeof *a), *b = malloc((cap + 1) * sizeof *b);
    if (!a || !b) {
        free(a);
        free(b);
        return -1;
    }
    for (size_t i = 0, j = 0; i < offline->n && j < judge->n;) {
        if (offline->item[i] < judge->item[j]) i++;
        else if (offline->item[i] > judge->item[j]) j++;
        else a[n] = offline->v[i++], b[n++] = judge->v[j++];
    }
    grader_agreement ag;
    grade_agreement(a, b, n, &ag);
    fprintf(log, "  agreement offline vs %s: %zu items, %.1f%% equal, Cohen's kappa ", judge->grader,
            ag.n, 100 * ag.equal);
    if (isnan(ag.kappa)) fprintf(log, "n/a (one verdict only)\n");
    else fprintf(log, "%.3f\n", ag.kappa);
    free(a);
    free(b);
    return 0;
}

/* rows[0..n): one run; blocks of equal grader follow each other. */
static int report_simpleqa(FILE *log, const grade_row *rows, size_t n) {
    verdict_list lists[16] = {{0}};
    size_t n_lists = 0, offline = SIZE_MAX;
    int rc = 0;
    for (size_t i = 0, j; i < n && rc == 0; i = j) {
        for (j = i; j < n && strcmp(rows[j].grader, rows[i].grader) == 0;) j++;
        if (strcmp(rows[i].grader, "arith") == 0 || n_lists == 16) continue;
        verdict_list *l = &lists[n_lists++];
        if ((rc = collect(rows + i, j - i, l)) < 0) break;
        if (l->n + l->n_errors == 0) {
            free(l->v), free(l->item), n_lists--;
            continue;
        }
        if (strcmp(l->grader, "offline") == 0) offline = n_lists - 1;
    }
    if (rc == 0 && n_lists) {
        fprintf(log, "run %lld, simpleqa (%zu items):\n", (long long)rows[0].run_id,
                offline < n_lists ? lists[offline].n + lists[offline].n_errors : lists[0].n);
        for (size_t k = 0; k < n_lists; k++) print_metrics(log, &lists[k]);
        for (size_t k = 0; k < n_lists && offline < n_lists && rc == 0; k++)
            if (k != offline) rc = print_agreement(log, &lists[offline], &lists[k]);
    }
    for (size_t k = 0; k < n_lists; k++) free(lists[k].v), free(lists[k].item);
    return rc;
}

static int detail_true(const char *detail, const char *name) {
    cJSON *d = detail ? cJSON_Parse(detail) : NULL;
    int yes = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(d, name));
    cJSON_Delete(d);
    return yes;
}

static void report_gsm8k(FILE *log, const grade_row *rows, size_t n) {
    size_t items = 0, strict = 0, flexible = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_study(&rows[i], "gsm8k") || strcmp(rows[i].grader, "offline") != 0) continue;
        items++;
        strict += detail_true(rows[i].detail, "strict_correct");
        flexible += detail_true(rows[i].detail, "flexible_correct");
    }
    if (!items) return;
    fprintf(log, "run %lld, gsm8k (%zu items): strict %zu correct (%.1f%%), flexible %zu correct (%.1f%%)\n",
            (long long)rows[0].run_id, items, strict, 100.0 * strict / items, flexible,
            100.0 * flexible / items);
    for (size_t i = 0, j; i < n; i = j) {
        size_t counts[4] = {0}; /* FOUND UNLOCATED NONE ERROR */
        for (j = i; j < n && strcmp(rows[j].grader, rows[i].grader) == 0; j++) {
            if (!is_study(&rows[j], "gsm8k")) continue;
            const char *v = rows[j].verdict;
            counts[strcmp(v, "FOUND") == 0 ? 0 : strcmp(v, "UNLOCATED") == 0 ? 1 : strcmp(v, "NONE") == 0 ? 2 : 3]++;
        }
        if (strcmp(rows[i].grader, "offline") == 0 || counts[0] + counts[1] + counts[2] + counts[3] == 0)
            continue;
        fprintf(log, "  first error, %-12s found %zu", rows[i].grader, counts[0]);
        if (strcmp(rows[i].grader, "arith") != 0) fprintf(log, ", unlocated quote %zu", counts[1]);
        fprintf(log, ", none %zu", counts[2]);
        if (counts[3]) fprintf(log, ", errors %zu", counts[3]);
        fputc('\n', log);
    }
}

int grade_report(grade_store *store, FILE *log, es_error *err) {
    grade_row *rows = NULL;
    size_t n = 0;
    if (grade_store_grades(store, &rows, &n, err) < 0) return -1;
    int rc = 0;
    for (size_t i = 0, j; i < n && rc == 0; i = j) {
        for (j = i; j < n && rows[j].run_id == rows[i].run_id;) j++;
        if (report_simpleqa(log, rows + i, j - i) < 0) rc = es_fail(err, "grade: out of memory");
        report_gsm8k(log, rows + i, j - i);
    }
    grade_rows_free(rows, n);
    return rc;
}
