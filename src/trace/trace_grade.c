/* The grade store: grading's reads and writes of a trace (trace_grade.h). */
#include "trace/trace_grade.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trace/trace.h"
#include "util/error.h"

#define BUSY_TIMEOUT_MS 30000

struct grade_store {
    sqlite3 *db;
    char *path;
};

static int fail_db(grade_store *s, es_error *err, const char *what) {
    return es_fail(err, "%s: %s: %s", s->path, what, sqlite3_errmsg(s->db));
}

/* A column's bytes as a NUL-terminated copy (TEXT or BLOB alike); NULL for
 * SQL NULL and when out of memory (*oom set). */
static char *column_copy(sqlite3_stmt *st, int col, size_t *len, int *oom) {
    if (len) *len = 0;
    if (sqlite3_column_type(st, col) == SQLITE_NULL) return NULL;
    const void *p = sqlite3_column_blob(st, col);
    size_t n = (size_t)sqlite3_column_bytes(st, col);
    char *out = malloc(n + 1);
    if (!out) {
        *oom = 1;
        return NULL;
    }
    if (n) memcpy(out, p, n);
    out[n] = 0;
    if (len) *len = n;
    return out;
}

/* --------------------------------------------------------- open, close -- */

grade_store *grade_store_open(const char *path, es_error *err) {
    grade_store *s = calloc(1, sizeof *s);
    if (!s || !(s->path = strdup(path))) {
        free(s);
        es_fail(err, "%s: out of memory", path);
        return NULL;
    }
    int rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE, NULL);
    if (rc != SQLITE_OK) {
        es_fail(err, "%s: cannot open: %s", path, s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        grade_store_close(s);
        return NULL;
    }
    sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
    int state = es_trace_check_schema(s->db, path, err);
    if (state == 0) es_fail(err, "%s: not an entroscope trace (an empty database)", path);
    if (state != 1 ||
        sqlite3_exec(s->db, "PRAGMA foreign_keys = ON", NULL, NULL, NULL) != SQLITE_OK ||
        es_trace_add_grade_tables(s->db, path, err) < 0) {
        grade_store_close(s);
        return NULL;
    }
    return s;
}

void grade_store_close(grade_store *s) {
    if (!s) return;
    sqlite3_close(s->db);
    free(s->path);
    free(s);
}

/* --------------------------------------------------------------- items -- */

void grade_items_free(grade_item *items, size_t n) {
    for (size_t i = 0; items && i < n; i++) {
        free(items[i].labels);
        free(items[i].output);
    }
    free(items);
}

int grade_store_items(grade_store *s, grade_item **items, size_t *n, es_error *err) {
    *items = NULL;
    *n = 0;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, "SELECT id, run_id, labels, output FROM items ORDER BY id",
                           -1, &st, NULL) != SQLITE_OK)
        return fail_db(s, err, "cannot read the items");
    size_t cap = 0;
    int rc, oom = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            size_t want = cap ? cap * 2 : 64;
            grade_item *p = realloc(*items, want * sizeof *p);
            if (!p) { oom = 1; break; }
            *items = p;
            cap = want;
        }
        grade_item *it = &(*items)[(*n)++];
        *it = (grade_item){.id = sqlite3_column_int64(st, 0), .run_id = sqlite3_column_int64(st, 1)};
        it->labels = column_copy(st, 2, NULL, &oom);
        it->output = column_copy(st, 3, &it->output_len, &oom);
        if (!it->output && !oom) it->output = strdup(""), oom = !it->output;
        if (oom) break;
    }
    sqlite3_finalize(st);
    if (oom || (rc != SQLITE_DONE && rc != SQLITE_ROW)) {
        grade_items_free(*items, *n);
        *items = NULL;
        *n = 0;
        return oom ? es_fail(err, "%s: out of memory", s->path) : fail_db(s, err, "cannot read the items");
    }
    return 0;
}

/* ------------------------------------------------------ generated rows -- */

void generated_text_free(generated_text *g) {
    free(g->text);
    free(g->rows);
    free(g->ends);
    *g = (generated_text){0};
}

static int append_row(generated_text *g, size_t *cap_rows, size_t *cap_text, int64_t row,
                      const void *bytes, size_t n) {
    if (g->n_rows == *cap_rows) {
        size_t want = *cap_rows ? *cap_rows * 2 : 256;
        int64_t *r = realloc(g->rows, want * sizeof *r);
        if (!r) return -1;
        g->rows = r;
        size_t *e = realloc(g->ends, want * sizeof *e);
        if (!e) return -1;
        g->ends = e;
        *cap_rows = want;
    }
    if (g->len + n + 1 > *cap_text) {
        size_t want = *cap_text ? *cap_text : 1024;
        while (want < g->len + n + 1) want *= 2;
        char *t = realloc(g->text, want);
        if (!t) return -1;
        g->text = t;
        *cap_text = want;
    }
    if (n) memcpy(g->text + g->len, bytes, n);
    g->len += n;
    g->text[g->len] = 0;
    g->rows[g->n_rows] = row;
    g->ends[g->n_rows++] = g->len;
    return 0;
}

int grade_store_generated(grade_store *s, int64_t item_id, generated_text *g, es_error *err) {
    *g = (generated_text){0};
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, "SELECT row, token_text FROM tokens WHERE item_id = ?"
                                  " AND is_prompt = 0 ORDER BY row", -1, &st, NULL) != SQLITE_OK)
        return fail_db(s, err, "cannot read the token rows");
    sqlite3_bind_int64(st, 1, item_id);
    size_t cap_rows = 0, cap_text = 0;
    int rc, oom = (g->text = calloc(1, 1)) == NULL;
    cap_text = 1;
    while (!oom && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const void *bytes = sqlite3_column_blob(st, 1);
        size_t n = (size_t)sqlite3_column_bytes(st, 1);
        oom = append_row(g, &cap_rows, &cap_text, sqlite3_column_int64(st, 0), bytes, n) < 0;
    }
    sqlite3_finalize(st);
    if (oom || rc != SQLITE_DONE) {
        generated_text_free(g);
        return oom ? es_fail(err, "%s: out of memory", s->path) : fail_db(s, err, "cannot read the token rows");
    }
    return 0;
}

int generated_rows_of(const generated_text *g, size_t start, size_t end,
                      int64_t *first_row, int64_t *last_row) {
    if (end <= start || end > g->len) return -1;
    size_t i = 0;
    /* Row i holds bytes [ends[i-1], ends[i]); empty rows hold none. */
    while (i < g->n_rows && g->ends[i] <= start) i++;
    if (i == g->n_rows) return -1;
    *first_row = g->rows[i];
    while (i < g->n_rows && g->ends[i] < end) i++;
    *last_row = g->rows[i];
    return 0;
}

/* -------------------------------------------------------------- grades -- */

int grade_store_has_grade(grade_store *s, int64_t item_id, const char *grader, es_error *err) {
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, "SELECT 1 FROM grades WHERE item_id = ? AND grader = ?"
                                       " AND verdict <> 'ERROR'", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, item_id);
        sqlite3_bind_text(st, 2, grader, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW) return 1;
    if (rc == SQLITE_DONE) return 0;
    return fail_db(s, err, "cannot read the grades");
}

static int bind_opt_int(sqlite3_stmt *st, int col, int64_t v) {
    return v < 0 ? sqlite3_bind_null(st, col) : sqlite3_bind_int64(st, col, v);
}

static int run_sql(grade_store *s, const char *sql, const grade_record *r) {
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, r->item_id);
        sqlite3_bind_text(st, 2, r->grader, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

static int insert_grade(grade_store *s, const grade_record *r) {
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, "INSERT INTO grades (item_id, grader, verdict, extracted,"
                                       " detail) VALUES (?, ?, ?, ?, ?)", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, r->item_id);
        sqlite3_bind_text(st, 2, r->grader, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, r->verdict, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, r->extracted, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, r->detail_json, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

static int valid_utf8(const char *s, size_t n) {
    for (size_t i = 0, k; i < n; i += k)
        if ((k = es_utf8_char_len((const unsigned char *)s + i, n - i)) == 0) return 0;
    return 1;
}

static int insert_span(grade_store *s, const grade_record *r) {
    const grade_span *p = r->span;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, "INSERT INTO spans (item_id, kind, source, grader,"
        " first_row, last_row, byte_start, byte_end, text, note)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, r->item_id);
        sqlite3_bind_text(st, 2, p->kind, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, p->source, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, r->grader, -1, SQLITE_STATIC);
        bind_opt_int(st, 5, p->first_row);
        bind_opt_int(st, 6, p->last_row);
        bind_opt_int(st, 7, p->byte_start);
        bind_opt_int(st, 8, p->byte_end);
        /* The text may cut a character (a byte range of tokens): BLOB then. */
        if (p->text && p->text_len <= 0x7fffffff) {
            if (valid_utf8(p->text, p->text_len))
                sqlite3_bind_text(st, 9, p->text, (int)p->text_len, SQLITE_STATIC);
            else
                sqlite3_bind_blob(st, 9, p->text, (int)p->text_len, SQLITE_STATIC);
        }
        sqlite3_bind_text(st, 10, p->note, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

int grade_store_put(grade_store *s, const grade_record *r, es_error *err) {
    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return fail_db(s, err, "cannot start a transaction");
    int ok = run_sql(s, "DELETE FROM spans WHERE item_id = ? AND grader = ?", r) == 0 &&
             run_sql(s, "DELETE FROM grades WHERE item_id = ? AND grader = ?", r) == 0 &&
             insert_grade(s, r) == 0 && (!r->span || insert_span(s, r) == 0);
    if (ok && sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK) return 0;
    fail_db(s, err, "cannot write a grade");
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

void grade_rows_free(grade_row *rows, size_t n) {
    for (size_t i = 0; rows && i < n; i++) {
        free(rows[i].study);
        free(rows[i].grader);
        free(rows[i].verdict);
        free(rows[i].detail);
    }
    free(rows);
}

int grade_store_grades(grade_store *s, grade_row **rows, size_t *n, es_error *err) {
    *rows = NULL;
    *n = 0;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db,
            "SELECT g.item_id, i.run_id, CASE WHEN json_valid(i.labels) THEN"
            " json_extract(i.labels, '$.study') END, g.grader, g.verdict, g.detail"
            " FROM grades g JOIN items i ON i.id = g.item_id"
            " ORDER BY i.run_id, g.grader <> 'offline', g.grader, g.item_id", -1, &st, NULL) != SQLITE_OK)
        return fail_db(s, err, "cannot read the grades");
    size_t cap = 0;
    int rc, oom = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            size_t want = cap ? cap * 2 : 64;
            grade_row *p = realloc(*rows, want * sizeof *p);
            if (!p) { oom = 1; break; }
            *rows = p;
            cap = want;
        }
        grade_row *g = &(*rows)[(*n)++];
        *g = (grade_row){.item_id = sqlite3_column_int64(st, 0), .run_id = sqlite3_column_int64(st, 1)};
        g->study = column_copy(st, 2, NULL, &oom);
        g->grader = column_copy(st, 3, NULL, &oom);
        g->verdict = column_copy(st, 4, NULL, &oom);
        g->detail = column_copy(st, 5, NULL, &oom);
        if (!oom && (!g->grader || !g->verdict)) { rc = SQLITE_CORRUPT; break; }
        if (oom) break;
    }
    sqlite3_finalize(st);
    if (oom || rc != SQLITE_DONE) {
        grade_rows_free(*rows, *n);
        *rows = NULL;
        *n = 0;
        return oom ? es_fail(err, "%s: out of memory", s->path) : fail_db(s, err, "cannot read the grades");
    }
    return 0;
}

/* --------------------------------------------------------- judge cache -- */

static uint64_t fnv1a(const unsigned char *p, size_t n, uint64_t h, int backwards) {
    for (size_t i = 0; i < n; i++) {
        h ^= p[backwards ? n - 1 - i : i];
        h *= 1099511628211ull;
    }
    return h;
}

void grade_request_hash(const char *request, char out[33]) {
    const unsigned char *p = (const unsigned char *)request;
    size_t n = strlen(request);
    snprintf(out, 33, "%016llx%016llx", (unsigned long long)fnv1a(p, n, 14695981039346656037ull, 0),
             (unsigned long long)fnv1a(p, n, 0x9e3779b97f4a7c15ull, 1));
}

int grade_store_cache_get(grade_store *s, const char *request, char **response, es_error *err) {
    *response = NULL;
    char hash[33];
    grade_request_hash(request, hash);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, "SELECT response FROM judge_cache WHERE request_hash = ?"
                                       " AND request = ?", -1, &st, NULL);
    int oom = 0;
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, request, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) *response = column_copy(st, 0, NULL, &oom);
    }
    sqlite3_finalize(st);
    if (oom) return es_fail(err, "%s: out of memory", s->path);
    if (rc == SQLITE_ROW && *response) return 1;
    if (rc == SQLITE_DONE || rc == SQLITE_ROW) return 0;
    return fail_db(s, err, "cannot read the judge cache");
}

int grade_store_cache_put(grade_store *s, const char *request, const char *response, es_error *err) {
    char hash[33];
    grade_request_hash(request, hash);
    sqlite3_stmt *st = NULL;
    /* OR IGNORE: a colliding hash keeps the first request (the other misses). */
    int rc = sqlite3_prepare_v2(s->db, "INSERT OR IGNORE INTO judge_cache (request_hash, request,"
                                       " response) VALUES (?, ?, ?)", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, request, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, response, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : fail_db(s, err, "cannot write the judge cache");
}
