/* report_data_load: what a report reads from trace databases (data.h).
 *
 * Each database is opened read-only and read in one transaction (one
 * snapshot, even while a grading run writes to it). For every run: its
 * study (from runs.command "run X" or "study X", "generate", else the items'
 * labels.study), its items with their group, their generated rows (step
 * not NULL, in step order) with the statistics and a copy of the per-head
 * blob and its sampler branch (NULL in a trace written before the column
 * existed), the run's sampler from its settings, the GSM8K first-error row, and the accuracy metrics recomputed from
 * the grades (README, "Grading"):
 *   factual-creative  group = labels.category
 *   simpleqa          group = the offline grade's verdict, else the judge's;
 *                     metrics from the offline grades (study/grade.h)
 *   gsm8k             group = the offline (strict) verdict as "correct" /
 *                     "incorrect"; strict and flexible accuracy from the
 *                     offline grade's detail; first error = the located
 *                     first_error span, arith's before the judge's
 * Everything lives in one arena of blocks, freed by report_data_free. */
#include "report/data.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "study/grade.h"
#include "trace/trace.h"
#include "util/error.h"

/* More layers x heads than any model has: a larger shape is a broken file. */
#define MAX_LAYER_HEADS (1 << 20)
#define ARENA_BLOCK_BYTES (1 << 20)

/* ---------------------------------------------------------------- arena -- */

typedef struct arena_block {
    struct arena_block *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
} arena_block;

typedef struct arena {
    arena_block *head;
} arena;

/* n zeroed bytes aligned to 16, or NULL when out of memory. */
static void *arena_alloc(arena *a, size_t n) {
    n = (n + 15) & ~(size_t)15;
    arena_block *b = a->head;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > ARENA_BLOCK_BYTES ? n : ARENA_BLOCK_BYTES;
        if (!(b = malloc(sizeof *b + cap))) return NULL;
        b->used = 0;
        b->cap = cap;
        /* a big block goes behind the current one, which keeps its room */
        if (a->head && n >= ARENA_BLOCK_BYTES) {
            b->next = a->head->next;
            a->head->next = b;
        } else {
            b->next = a->head;
            a->head = b;
        }
    }
    void *p = b->data + b->used;
    b->used += n;
    memset(p, 0, n);
    return p;
}

static char *arena_bytes(arena *a, const void *s, size_t n) {
    char *p = arena_alloc(a, n + 1);
    if (p && n) memcpy(p, s, n);
    return p;
}

static void arena_free(arena *a) {
    for (arena_block *b = a ? a->head : NULL, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    free(a);
}

/* ------------------------------------------------------------ the loader -- */

typedef struct loader {
    arena *a;
    sqlite3 *db;
    const char *path;
    es_error *err;
    int has_grades, has_spans, has_branch;
    sqlite3_stmt *rows_st, *grade_st, *span_st;
    /* scratch reused by every item: its rows and their tokens.row */
    rd_row *rows;
    int64_t *token_rows;
    size_t rows_cap;
} loader;

static int oom(loader *ld) { return es_fail(ld->err, "%s: out of memory", ld->path); }

static int db_fail(loader *ld, const char *what) {
    return es_fail(ld->err, "%s: %s: %s", ld->path, what, sqlite3_errmsg(ld->db));
}

/* A TEXT or BLOB column as a NUL-terminated arena copy; NULL for SQL NULL
 * (and when out of memory: *failed set). */
static const char *column_str(loader *ld, sqlite3_stmt *st, int col, int *failed) {
    if (sqlite3_column_type(st, col) == SQLITE_NULL) return NULL;
    const void *p = sqlite3_column_blob(st, col);
    char *s = arena_bytes(ld->a, p, (size_t)sqlite3_column_bytes(st, col));
    if (!s) *failed = 1;
    return s;
}

static double column_real(sqlite3_stmt *st, int col) {
    return sqlite3_column_type(st, col) == SQLITE_NULL ? NAN : sqlite3_column_double(st, col);
}

/* Whether the table has the column (traces written before sampler_branch
 * existed keep the same schema version without it). */
static int column_exists(sqlite3 *db, const char *table, const char *column) {
    sqlite3_stmt *st = NULL;
    int found = 0;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM pragma_table_info(?) WHERE name = ?", -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, column, -1, SQLITE_STATIC);
        found = sqlite3_step(st) == SQLITE_ROW;
    }
    sqlite3_finalize(st);
    return found;
}

static int64_t count_of(loader *ld, const char *sql, int64_t id) {
    sqlite3_stmt *st = NULL;
    int64_t n = -1;
    if (sqlite3_prepare_v2(ld->db, sql, -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_bind_parameter_count(st) > 0) sqlite3_bind_int64(st, 1, id);
        if (sqlite3_step(st) == SQLITE_ROW) n = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    if (n < 0) db_fail(ld, "cannot count rows");
    return n;
}

/* --------------------------------------------------------------- groups -- */

static const char *label(cJSON *root, const char *name) {
    cJSON *v = cJSON_GetObjectItemCaseSensitive(root, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* What the grades of an item say, for its group and the run's metrics. */
typedef struct item_grades {
    const char *offline;   /* verdict, or NULL (static or arena text) */
    const char *judge;     /* the first judge:* verdict other than ERROR, or NULL */
    int strict_correct, flexible_correct; /* gsm8k offline detail; -1: absent */
} item_grades;

static const char *known_verdict(const unsigned char *v) {
    static const char *const names[] = {"CORRECT", "INCORRECT", "NOT_ATTEMPTED"};
    for (int i = 0; v && i < 3; i++)
        if (strcmp((const char *)v, names[i]) == 0) return names[i];
    return NULL;
}

static int detail_bool(cJSON *d, const char *name) {
    cJSON *v = cJSON_GetObjectItemCaseSensitive(d, name);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : -1;
}

static int read_grades(loader *ld, int64_t item_id, item_grades *g) {
    *g = (item_grades){.strict_correct = -1, .flexible_correct = -1};
    if (!ld->has_grades) return 0;
    sqlite3_stmt *st = ld->grade_st;
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, item_id);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *grader = (const char *)sqlite3_column_text(st, 0);
        const char *verdict = known_verdict(sqlite3_column_text(st, 1));
        if (!grader) continue;
        if (strcmp(grader, "offline") == 0) {
            g->offline = verdict;
            const char *text = (const char *)sqlite3_column_text(st, 2);
            cJSON *d = text ? cJSON_Parse(text) : NULL;
            g->strict_correct = detail_bool(d, "strict_correct");
            g->flexible_correct = detail_bool(d, "flexible_correct");
            cJSON_Delete(d);
        } else if (strncmp(grader, "judge:", 6) == 0 && !g->judge) {
            g->judge = verdict;
        }
    }
    return rc == SQLITE_DONE ? 0 : db_fail(ld, "cannot read the grades");
}

/* The item's group (arena text or NULL: ungraded). */
static int item_group(loader *ld, const char *study, cJSON *labels, const item_grades *g,
                      const char **group) {
    *group = NULL;
    const char *v = NULL;
    if (strcmp(study, "factual-creative") == 0) v = label(labels, "category");
    else if (strcmp(study, "simpleqa") == 0) v = g->offline ? g->offline : g->judge;
    else if (strcmp(study, "gsm8k") == 0 && g->offline)
        v = strcmp(g->offline, "CORRECT") == 0 ? "correct" : "incorrect";
    if (v && !(*group = arena_bytes(ld->a, v, strlen(v)))) return oom(ld);
    return 0;
}

/* ----------------------------------------------------------------- rows -- */

static int grow_scratch(loader *ld, size_t need) {
    if (need <= ld->rows_cap) return 0;
    size_t cap = ld->rows_cap ? 2 * ld->rows_cap : 256;
    while (cap < need) cap *= 2;
    rd_row *r = realloc(ld->rows, cap * sizeof *r);
    if (r) ld->rows = r;
    int64_t *t = r ? realloc(ld->token_rows, cap * sizeof *t) : NULL;
    if (t) ld->token_rows = t;
    if (!r || !t) return oom(ld);
    ld->rows_cap = cap;
    return 0;
}

/* The row's blob as floats (little-endian in the file), or NULL. */
static int copy_blob(loader *ld, const rd_run *run, sqlite3_stmt *st, int col, int64_t item_id,
                     const float **heads) {
    *heads = NULL;
    if (sqlite3_column_type(st, col) == SQLITE_NULL) return 0;
    const unsigned char *b = sqlite3_column_blob(st, col);
    size_t bytes = (size_t)sqlite3_column_bytes(st, col);
    size_t floats = es_trace_blob_floats(run->n_layers, run->n_heads);
    if (bytes == 0) return 0;
    if (floats == 0 || bytes != 4 * floats)
        return es_fail(ld->err, "%s: item %lld: per-head blob of %zu bytes, the run's %d x %d shape needs %zu",
                       ld->path, (long long)item_id, bytes, run->n_layers, run->n_heads, 4 * floats);
    float *f = arena_alloc(ld->a, bytes);
    if (!f) return oom(ld);
    for (size_t i = 0; i < floats; i++) {
        uint32_t u = (uint32_t)b[4 * i] | (uint32_t)b[4 * i + 1] << 8 | (uint32_t)b[4 * i + 2] << 16 |
                     (uint32_t)b[4 * i + 3] << 24;
        memcpy(&f[i], &u, 4);
    }
    *heads = f;
    return 0;
}

/* The index in rows of tokens.row first_row (-1: not a generated row). */
static int row_index(const loader *ld, int n_rows, int64_t first_row) {
    for (int i = 0; i < n_rows; i++)
        if (ld->token_rows[i] == first_row) return i;
    return -1;
}

static int first_error_row(loader *ld, rd_item *it) {
    it->first_error_row = it->first_error_last = -1;
    if (!ld->has_spans) return 0;
    sqlite3_stmt *st = ld->span_st;
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, it->id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) it->first_error_row = row_index(ld, it->n_rows, sqlite3_column_int64(st, 0));
    if (rc == SQLITE_ROW && it->first_error_row >= 0) {
        /* the span's last generated row at or before last_row (no last_row: the first) */
        int64_t last = sqlite3_column_type(st, 1) == SQLITE_NULL ? ld->token_rows[it->first_error_row]
                                                                 : sqlite3_column_int64(st, 1);
        it->first_error_last = it->first_error_row;
        for (int i = it->first_error_row; i < it->n_rows; i++)
            if (ld->token_rows[i] <= last) it->first_error_last = i;
    }
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : db_fail(ld, "cannot read the spans");
}

/* The row's sampler branch: the known names as static text (most rows carry
 * one, so no copy each), anything else as an arena copy; NULL for SQL NULL. */
static int row_branch(loader *ld, sqlite3_stmt *st, int col, const char **branch) {
    static const char *const known[] = {"argmax", "insert", "explore", "resample", "adaptive", "inserted"};
    *branch = NULL;
    const char *v = (const char *)sqlite3_column_text(st, col);
    if (!v) return 0;
    for (size_t i = 0; i < sizeof known / sizeof *known; i++) {
        if (strcmp(v, known[i]) == 0) {
            *branch = known[i];
            return 0;
        }
    }
    return (*branch = arena_bytes(ld->a, v, strlen(v))) ? 0 : oom(ld);
}

static int load_rows(loader *ld, const rd_run *run, rd_item *it) {
    sqlite3_stmt *st = ld->rows_st;
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, it->id);
    size_t n = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n >= (size_t)INT32_MAX / 2 || grow_scratch(ld, n + 1) < 0)
            return es_fail(ld->err, "%s: item %lld: too many rows", ld->path, (long long)it->id);
        rd_row *r = &ld->rows[n];
        ld->token_rows[n] = sqlite3_column_int64(st, 0);
        r->step = sqlite3_column_int(st, 1);
        r->pos = sqlite3_column_int(st, 2);
        r->logit_entropy = column_real(st, 3);
        r->logit_varentropy = column_real(st, 4);
        r->attn_entropy = column_real(st, 5);
        r->attn_varentropy = column_real(st, 6);
        if (copy_blob(ld, run, st, 7, it->id, &r->heads) < 0) return -1;
        if (row_branch(ld, st, 8, &r->branch) < 0) return -1;
        r->token_logprob = column_real(st, 9);
        n++;
    }
    if (rc != SQLITE_DONE) return db_fail(ld, "cannot read the token rows");
    it->n_rows = (int)n;
    if (n && !(it->rows = arena_alloc(ld->a, n * sizeof *it->rows))) return oom(ld);
    if (n) memcpy(it->rows, ld->rows, n * sizeof *it->rows);
    return 0;
}

/* ---------------------------------------------------------------- items -- */

/* Tallies of the run's grades, for its metrics. */
typedef struct tally {
    grade_verdict *sqa;      /* (n_items) offline SimpleQA verdicts */
    size_t n_sqa;
    size_t n_gsm, n_strict, n_flexible;
} tally;

static void count_grades(tally *t, const char *study, const item_grades *g) {
    if (strcmp(study, "simpleqa") == 0 && g->offline) {
        t->sqa[t->n_sqa++] = strcmp(g->offline, "CORRECT") == 0     ? GRADE_CORRECT
                             : strcmp(g->offline, "INCORRECT") == 0 ? GRADE_INCORRECT
                                                                    : GRADE_NOT_ATTEMPTED;
    } else if (strcmp(study, "gsm8k") == 0 && g->offline && g->strict_correct >= 0) {
        t->n_gsm++;
        t->n_strict += g->strict_correct == 1;
        t->n_flexible += g->flexible_correct == 1;
    }
}

static void set_metrics(rd_run *run, const tally *t) {
    run->sqa_correct = run->sqa_incorrect = run->sqa_not_attempted = NAN;
    run->sqa_acc_given_attempted = run->sqa_f1 = NAN;
    run->gsm_strict_acc = run->gsm_flexible_acc = NAN;
    if (t->n_sqa) {
        simpleqa_metrics m;
        simpleqa_metrics_compute(t->sqa, t->n_sqa, &m);
        run->sqa_correct = m.correct;
        run->sqa_incorrect = m.incorrect;
        run->sqa_not_attempted = m.not_attempted;
        run->sqa_acc_given_attempted = m.accuracy_given_attempted;
        run->sqa_f1 = m.f1;
    }
    if (t->n_gsm) {
        run->gsm_strict_acc = (double)t->n_strict / (double)t->n_gsm;
        run->gsm_flexible_acc = (double)t->n_flexible / (double)t->n_gsm;
    }
}

static int load_item(loader *ld, rd_run *run, sqlite3_stmt *st, rd_item *it, tally *t) {
    int failed = 0;
    it->id = sqlite3_column_int64(st, 0);
    it->key = column_str(ld, st, 1, &failed);
    it->seconds = column_real(st, 3);
    const char *text = (const char *)sqlite3_column_text(st, 2);
    cJSON *labels = text ? cJSON_Parse(text) : NULL;
    const char *study = label(labels, "study");
    if (!study) study = run->study;
    item_grades g = {.strict_correct = -1, .flexible_correct = -1};
    int rc = failed ? oom(ld) : read_grades(ld, it->id, &g);
    if (rc == 0) rc = item_group(ld, study, labels, &g, &it->group);
    if (rc == 0) count_grades(t, study, &g);
    cJSON_Delete(labels);
    if (rc == 0) rc = load_rows(ld, run, it);
    if (rc == 0) rc = first_error_row(ld, it);
    return rc;
}

static int load_items(loader *ld, rd_run *run) {
    int64_t n = count_of(ld, "SELECT count(*) FROM items WHERE run_id = ?", run->id);
    if (n < 0) return -1;
    if (n > INT32_MAX / 2) return es_fail(ld->err, "%s: run %lld: too many items", ld->path, (long long)run->id);
    tally t = {.sqa = malloc(((size_t)n + 1) * sizeof *t.sqa)};
    run->items = arena_alloc(ld->a, ((size_t)n + 1) * sizeof *run->items);
    if (!t.sqa || !run->items) {
        free(t.sqa);
        return oom(ld);
    }
    sqlite3_stmt *st = NULL;
    const char *sql = es_trace_table_exists(ld->db, "item_times")
                          ? "SELECT i.id, i.key, i.labels, t.prefill_s + t.decode_s FROM items i"
                            " LEFT JOIN item_times t ON t.item_id = i.id WHERE i.run_id = ? ORDER BY i.idx, i.id"
                          : "SELECT id, key, labels, NULL FROM items WHERE run_id = ? ORDER BY idx, id";
    int rc = sqlite3_prepare_v2(ld->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK) {
        free(t.sqa);
        return db_fail(ld, "cannot read the items");
    }
    sqlite3_bind_int64(st, 1, run->id);
    int status = 0;
    while (status == 0 && run->n_items < n && (rc = sqlite3_step(st)) == SQLITE_ROW)
        status = load_item(ld, run, st, &run->items[run->n_items++], &t);
    if (status == 0 && rc != SQLITE_ROW && rc != SQLITE_DONE) status = db_fail(ld, "cannot read the items");
    sqlite3_finalize(st);
    if (status == 0) set_metrics(run, &t);
    free(t.sqa);
    return status;
}

/* ----------------------------------------------------------------- runs -- */

/* "run X" / "study X" -> X; "generate" as is; otherwise the first item's
 * labels.study, else the command itself (or "unknown"). */
static int run_study(loader *ld, rd_run *run, const char *command) {
    const char *s = NULL;
    size_t len = 0;
    if (command && strncmp(command, "run ", 4) == 0) s = command + 4;
    else if (command && strncmp(command, "study ", 6) == 0) s = command + 6;
    else if (command && strcmp(command, "generate") == 0) s = command;
    if (s) len = strlen(s);
    sqlite3_stmt *st = NULL;
    cJSON *labels = NULL;
    if (!s && sqlite3_prepare_v2(ld->db, "SELECT labels FROM items WHERE run_id = ? ORDER BY idx LIMIT 1", -1,
                                 &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, run->id);
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
            labels = cJSON_Parse((const char *)sqlite3_column_text(st, 0));
        if ((s = label(labels, "study"))) len = strlen(s);
    }
    if (!s) s = command ? command : "unknown", len = strlen(s);
    run->study = arena_bytes(ld->a, s, len);
    cJSON_Delete(labels);
    sqlite3_finalize(st);
    return run->study ? 0 : oom(ld);
}

/* The settings' "sampler" (NULL when absent or not a string). */
static int run_sampler(loader *ld, rd_run *run) {
    cJSON *settings = run->settings_json ? cJSON_Parse(run->settings_json) : NULL;
    const char *s = label(settings, "sampler");
    run->sampler = s ? arena_bytes(ld->a, s, strlen(s)) : NULL;
    cJSON_Delete(settings);
    return !s || run->sampler ? 0 : oom(ld);
}

static int load_run(loader *ld, sqlite3_stmt *st, rd_run *run) {
    int failed = 0;
    run->id = sqlite3_column_int64(st, 0);
    run->db_path = arena_bytes(ld->a, ld->path, strlen(ld->path));
    run->version = column_str(ld, st, 1, &failed);
    const char *command = column_str(ld, st, 2, &failed);
    run->model_path = column_str(ld, st, 3, &failed);
    run->model_name = column_str(ld, st, 4, &failed);
    run->settings_json = column_str(ld, st, 7, &failed);
    run->created = column_str(ld, st, 8, &failed);
    int64_t layers = sqlite3_column_int64(st, 5), heads = sqlite3_column_int64(st, 6);
    if (failed || !run->db_path) return oom(ld);
    if (layers < 0 || heads < 0 || layers > MAX_LAYER_HEADS || heads > MAX_LAYER_HEADS ||
        layers * heads > MAX_LAYER_HEADS)
        return es_fail(ld->err, "%s: run %lld: shape %lld layers x %lld heads is out of range", ld->path,
                       (long long)run->id, (long long)layers, (long long)heads);
    run->n_layers = (int)layers;
    run->n_heads = (int)heads;
    if (run_sampler(ld, run) < 0) return -1;
    if (run_study(ld, run, command) < 0) return -1;
    return load_items(ld, run);
}

/* Appends the runs of the open database to d. */
static int load_runs(loader *ld, report_data *d) {
    int64_t n = count_of(ld, "SELECT count(*) FROM runs", 0);
    if (n < 0) return -1;
    if (n > INT32_MAX / 2 - d->n_runs) return es_fail(ld->err, "%s: too many runs", ld->path);
    rd_run *runs = arena_alloc(ld->a, ((size_t)d->n_runs + (size_t)n + 1) * sizeof *runs);
    if (!runs) return oom(ld);
    if (d->n_runs) memcpy(runs, d->runs, (size_t)d->n_runs * sizeof *runs);
    d->runs = runs;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(ld->db,
                                "SELECT id, entroscope_version, command, model_path, model_name, n_layers,"
                                " n_heads, settings, created FROM runs ORDER BY id", -1, &st, NULL);
    if (rc != SQLITE_OK) return db_fail(ld, "cannot read the runs");
    int status = 0, loaded = 0;
    while (status == 0 && loaded < n && (rc = sqlite3_step(st)) == SQLITE_ROW)
        status = load_run(ld, st, &runs[d->n_runs + loaded++]);
    if (status == 0 && rc != SQLITE_ROW && rc != SQLITE_DONE) status = db_fail(ld, "cannot read the runs");
    sqlite3_finalize(st);
    d->n_runs += loaded;
    return status;
}

/* ------------------------------------------------------------- database -- */

static int prepare_statements(loader *ld) {
    static const char *const rows_sql =
        "SELECT row, step, pos, logit_entropy, logit_varentropy, attn_entropy_mean, attn_varentropy_mean,"
        " heads, sampler_branch, token_logprob FROM tokens WHERE item_id = ? AND step IS NOT NULL"
        " ORDER BY step, row";
    static const char *const rows_sql_old =
        "SELECT row, step, pos, logit_entropy, logit_varentropy, attn_entropy_mean, attn_varentropy_mean,"
        " heads, NULL, token_logprob FROM tokens WHERE item_id = ? AND step IS NOT NULL ORDER BY step, row";
    /* offline first, then the judges by name; arith's FOUND/NONE is not a grade of the answer */
    static const char *const grade_sql =
        "SELECT grader, verdict, detail FROM grades WHERE item_id = ? AND verdict != 'ERROR'"
        " ORDER BY grader != 'offline', grader";
    static const char *const span_sql =
        "SELECT first_row, last_row FROM spans WHERE item_id = ? AND kind = 'first_error' AND first_row IS NOT NULL"
        " ORDER BY source != 'arith', source != 'judge', rowid LIMIT 1";
    ld->has_grades = es_trace_table_exists(ld->db, "grades");
    ld->has_spans = es_trace_table_exists(ld->db, "spans");
    ld->has_branch = column_exists(ld->db, "tokens", "sampler_branch");
    if (sqlite3_prepare_v2(ld->db, ld->has_branch ? rows_sql : rows_sql_old, -1, &ld->rows_st, NULL) != SQLITE_OK ||
        (ld->has_grades && sqlite3_prepare_v2(ld->db, grade_sql, -1, &ld->grade_st, NULL) != SQLITE_OK) ||
        (ld->has_spans && sqlite3_prepare_v2(ld->db, span_sql, -1, &ld->span_st, NULL) != SQLITE_OK))
        return db_fail(ld, "not a readable entroscope trace");
    return 0;
}

static int load_database(report_data *d, arena *a, const char *path, es_error *err) {
    loader ld = {.a = a, .path = path, .err = err};
    int rc = sqlite3_open_v2(path, &ld.db, SQLITE_OPEN_READONLY, NULL);
    int status;
    if (rc != SQLITE_OK) {
        status = es_fail(err, "%s: cannot open: %s", path, ld.db ? sqlite3_errmsg(ld.db) : sqlite3_errstr(rc));
    } else {
        sqlite3_busy_timeout(ld.db, 5000);
        int state = es_trace_check_schema(ld.db, path, err);
        if (state == 0) es_fail(err, "%s: not an entroscope trace (an empty database)", path);
        status = state == 1 ? 0 : -1;
    }
    if (status == 0 && sqlite3_exec(ld.db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        status = db_fail(&ld, "cannot read");
    if (status == 0) status = prepare_statements(&ld);
    if (status == 0) status = load_runs(&ld, d);
    sqlite3_finalize(ld.rows_st);
    sqlite3_finalize(ld.grade_st);
    sqlite3_finalize(ld.span_st);
    if (ld.db && !sqlite3_get_autocommit(ld.db)) sqlite3_exec(ld.db, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(ld.db);
    free(ld.rows);
    free(ld.token_rows);
    return status;
}

int report_data_load(report_data *d, const char *const *db_paths, int n_dbs, es_error *err) {
    *d = (report_data){0};
    arena *a = calloc(1, sizeof *a);
    if (!a) return es_fail(err, "report: out of memory");
    d->arena = a;
    for (int i = 0; i < n_dbs; i++)
        if (load_database(d, a, db_paths[i], err) < 0) {
            report_data_free(d);
            return -1;
        }
    return 0;
}

void report_data_free(report_data *d) {
    if (!d) return;
    arena_free(d->arena);
    *d = (report_data){0};
}
