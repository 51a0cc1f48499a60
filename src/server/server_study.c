/* The study browser of `entroscope serve --db run.db`: a trace database
 * (README, "Trace database") opened read-only, behind two JSON endpoints.
 *
 *   GET /v1/entroscope/items?offset=0&limit=100
 *       {"object": "list", "total", "offset", "limit", "data": [item summary]}
 *       item summary: {"id", "run_id", "key", "study", "labels", "verdict",
 *       "grader", "stop_reason", "n_prompt", "n_generated"}
 *   GET /v1/entroscope/items/ID[?heads=0]
 *       the summary plus "prompt", "output", "run" {id, command, model_name,
 *       n_layers, n_heads}, "grades" [{grader, verdict, extracted, detail}],
 *       "first_error" (null or {source, grader, first_row, last_row,
 *       byte_start, byte_end, text, note}) and "tokens": each generated
 *       row as the token object of a completion (server_token_json, with
 *       its per-head values unless heads=0) plus "row", "step" and "pos".
 *
 * The verdict is the grade of the answer: the offline grader's, else the
 * first judge's (arith's FOUND/NONE says where an error is, not whether the
 * answer is right). One connection serves every request, under a lock, each
 * request in one read transaction (one snapshot while a grader writes). */
#include "server/server_study.h"

#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "trace/trace.h"
#include "util/error.h"

struct study_db {
    sqlite3 *db;
    char *path;
    int has_grades, has_spans, has_branch; /* older traces lack these */
    pthread_mutex_t lock;
};

static int compiles(sqlite3 *db, const char *sql) {
    sqlite3_stmt *st = NULL;
    int ok = sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK;
    sqlite3_finalize(st);
    return ok;
}

study_db *study_db_open(const char *path, es_error *err) {
    study_db *d = calloc(1, sizeof *d);
    if (!d || !(d->path = strdup(path))) {
        free(d);
        es_fail(err, "%s: out of memory", path);
        return NULL;
    }
    int rc = sqlite3_open_v2(path, &d->db, SQLITE_OPEN_READONLY, NULL);
    int state = -1;
    if (rc != SQLITE_OK) {
        es_fail(err, "%s: cannot open: %s", path, d->db ? sqlite3_errmsg(d->db) : sqlite3_errstr(rc));
    } else {
        sqlite3_busy_timeout(d->db, 5000);
        state = es_trace_check_schema(d->db, path, err);
        if (state == 0) es_fail(err, "%s: not an entroscope trace (an empty database)", path);
    }
    if (state == 1 && !compiles(d->db, "SELECT i.id, r.n_layers, t.heads FROM items i, runs r, tokens t")) {
        es_fail(err, "%s: not a readable entroscope trace: %s", path, sqlite3_errmsg(d->db));
        state = -1;
    }
    if (state != 1) {
        sqlite3_close(d->db);
        free(d->path);
        free(d);
        return NULL;
    }
    d->has_grades = es_trace_table_exists(d->db, "grades");
    d->has_spans = es_trace_table_exists(d->db, "spans");
    d->has_branch = compiles(d->db, "SELECT sampler_branch FROM tokens");
    pthread_mutex_init(&d->lock, NULL);
    return d;
}

void study_db_close(study_db *d) {
    if (!d) return;
    sqlite3_close(d->db);
    pthread_mutex_destroy(&d->lock);
    free(d->path);
    free(d);
}

int study_db_check(const char *path, es_error *err) {
    study_db *d = study_db_open(path, err);
    study_db_close(d);
    return d ? 0 : -1;
}

/* ------------------------------------------------------------ columns -- */

/* A TEXT or BLOB column as a JSON string (null for SQL NULL). */
static cJSON *column_string(sqlite3_stmt *st, int col) {
    if (sqlite3_column_type(st, col) == SQLITE_NULL) return cJSON_CreateNull();
    const void *b = sqlite3_column_blob(st, col);
    return server_clean_string(b ? b : "", (size_t)sqlite3_column_bytes(st, col));
}

static double column_stat(sqlite3_stmt *st, int col) {
    return sqlite3_column_type(st, col) == SQLITE_NULL ? NAN : sqlite3_column_double(st, col);
}

/* A column holding JSON text, parsed; kept as a string when it is not JSON. */
static cJSON *column_json(sqlite3_stmt *st, int col) {
    const char *text = (const char *)sqlite3_column_text(st, col);
    if (!text) return cJSON_CreateNull();
    cJSON *j = cJSON_Parse(text);
    return j ? j : column_string(st, col);
}

/* The study of an item: its labels' "study", else the run's command
 * ("run gsm8k", "study simpleqa"), else the command itself ("generate"). */
static cJSON *item_study(const cJSON *labels, const char *command) {
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(labels, "study");
    if (cJSON_IsString(s)) return cJSON_CreateString(s->valuestring);
    if (!command) return cJSON_CreateNull();
    const char *space = strchr(command, ' ');
    if (space && (strncmp(command, "run ", 4) == 0 || strncmp(command, "study ", 6) == 0))
        return cJSON_CreateString(space + 1);
    return cJSON_CreateString(command);
}

/* ------------------------------------------------------------- the list -- */

/* The answer's verdict (CORRECT, INCORRECT, NOT_ATTEMPTED) and its grader. */
static int add_verdict(study_db *d, cJSON *o, int64_t item_id) {
    sqlite3_stmt *st = NULL;
    int rc = SQLITE_DONE;
    if (d->has_grades) {
        rc = sqlite3_prepare_v2(d->db, "SELECT verdict, grader FROM grades WHERE item_id = ? AND verdict IN"
                                " ('CORRECT', 'INCORRECT', 'NOT_ATTEMPTED')"
                                " ORDER BY grader != 'offline', grader LIMIT 1", -1, &st, NULL);
        if (rc == SQLITE_OK) sqlite3_bind_int64(st, 1, item_id), rc = sqlite3_step(st);
    }
    cJSON_AddItemToObject(o, "verdict", rc == SQLITE_ROW ? column_string(st, 0) : cJSON_CreateNull());
    cJSON_AddItemToObject(o, "grader", rc == SQLITE_ROW ? column_string(st, 1) : cJSON_CreateNull());
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

/* The summary of the item at the statement's row (columns of ITEM_COLUMNS). */
#define ITEM_COLUMNS "i.id, i.run_id, i.key, i.labels, i.stop_reason, i.n_prompt, i.n_generated, r.command"
static cJSON *item_summary(study_db *d, sqlite3_stmt *st) {
    cJSON *o = cJSON_CreateObject();
    int64_t id = sqlite3_column_int64(st, 0);
    cJSON_AddNumberToObject(o, "id", (double)id);
    cJSON_AddNumberToObject(o, "run_id", (double)sqlite3_column_int64(st, 1));
    cJSON_AddItemToObject(o, "key", column_string(st, 2));
    cJSON *labels = column_json(st, 3);
    cJSON_AddItemToObject(o, "study", item_study(labels, (const char *)sqlite3_column_text(st, 7)));
    cJSON_AddItemToObject(o, "labels", labels);
    cJSON_AddItemToObject(o, "stop_reason", column_string(st, 4));
    cJSON_AddNumberToObject(o, "n_prompt", sqlite3_column_int(st, 5));
    cJSON_AddNumberToObject(o, "n_generated", sqlite3_column_int(st, 6));
    if (add_verdict(d, o, id)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static int64_t count_items(study_db *d) {
    sqlite3_stmt *st = NULL;
    int64_t n = -1;
    if (sqlite3_prepare_v2(d->db, "SELECT count(*) FROM items", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

/* A query parameter: absent (fallback), or a whole number in [min, max]. */
static int query_int(const char *text, long long min, long long max, long long fallback, long long *out) {
    *out = fallback;
    if (!text) return 0;
    char *end;
    long long v = strtoll(text, &end, 10);
    if (!text[0] || *end || v < min || v > max) return -1;
    *out = v;
    return 0;
}

static void list_items(study_db *d, const study_query *q, reply *r) {
    long long offset, limit;
    if (query_int(q->offset, 0, (long long)1 << 62, 0, &offset)) {
        reply_error(r, 400, "invalid_request_error", "offset", NULL, "'offset' must be a whole number >= 0");
        return;
    }
    if (query_int(q->limit, 1, 1000, 100, &limit)) {
        reply_error(r, 400, "invalid_request_error", "limit", NULL, "'limit' must be a whole number in 1..1000");
        return;
    }
    cJSON *root = cJSON_CreateObject(), *data = cJSON_CreateArray();
    cJSON_AddStringToObject(root, "object", "list");
    int64_t total = count_items(d);
    sqlite3_stmt *st = NULL;
    static const char *const sql = "SELECT " ITEM_COLUMNS " FROM items i JOIN runs r ON r.id = i.run_id"
                                   " ORDER BY i.run_id, i.idx, i.id LIMIT ? OFFSET ?";
    int rc = total < 0 ? SQLITE_ERROR : sqlite3_prepare_v2(d->db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, limit);
        sqlite3_bind_int64(st, 2, offset);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            cJSON *item = item_summary(d, st);
            if (!item) break;
            cJSON_AddItemToArray(data, item);
        }
    }
    if (rc != SQLITE_DONE) reply_error(r, 500, "server_error", NULL, NULL, "%s: cannot read the items: %s",
                                       d->path, sqlite3_errmsg(d->db));
    sqlite3_finalize(st);
    cJSON_AddNumberToObject(root, "total", (double)total);
    cJSON_AddNumberToObject(root, "offset", (double)offset);
    cJSON_AddNumberToObject(root, "limit", (double)limit);
    cJSON_AddItemToObject(root, "data", data);
    if (rc == SQLITE_DONE) {
        r->status = 200;
        r->body = cJSON_PrintUnformatted(root);
    }
    cJSON_Delete(root);
}

/* ------------------------------------------------------------ one item -- */

static int add_grades(study_db *d, cJSON *o, int64_t item_id) {
    cJSON *grades = cJSON_AddArrayToObject(o, "grades");
    if (!d->has_grades) return 0;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(d->db, "SELECT grader, verdict, extracted, detail FROM grades WHERE item_id = ?"
                                " ORDER BY grader != 'offline', grader", -1, &st, NULL);
    if (rc == SQLITE_OK) sqlite3_bind_int64(st, 1, item_id);
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        cJSON *g = cJSON_CreateObject();
        cJSON_AddItemToObject(g, "grader", column_string(st, 0));
        cJSON_AddItemToObject(g, "verdict", column_string(st, 1));
        cJSON_AddItemToObject(g, "extracted", column_string(st, 2));
        cJSON_AddItemToObject(g, "detail", column_json(st, 3));
        cJSON_AddItemToArray(grades, g);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* The first-error span: a located one first, arith's before the judge's. */
static int add_first_error(study_db *d, cJSON *o, int64_t item_id) {
    static const char *const names[] = {"source", "grader", "first_row", "last_row", "byte_start", "byte_end",
                                        "text", "note"};
    sqlite3_stmt *st = NULL;
    int rc = SQLITE_DONE;
    if (d->has_spans) {
        rc = sqlite3_prepare_v2(d->db, "SELECT source, grader, first_row, last_row, byte_start, byte_end, text,"
                                " note FROM spans WHERE item_id = ? AND kind = 'first_error' ORDER BY"
                                " first_row IS NULL, source != 'arith', source != 'judge', rowid LIMIT 1",
                                -1, &st, NULL);
        if (rc == SQLITE_OK) sqlite3_bind_int64(st, 1, item_id), rc = sqlite3_step(st);
    }
    if (rc == SQLITE_ROW) {
        cJSON *e = cJSON_AddObjectToObject(o, "first_error");
        for (int c = 0; c < 8; c++) {
            if (sqlite3_column_type(st, c) == SQLITE_INTEGER)
                cJSON_AddNumberToObject(e, names[c], (double)sqlite3_column_int64(st, c));
            else
                cJSON_AddItemToObject(e, names[c], column_string(st, c));
        }
    } else {
        cJSON_AddNullToObject(o, "first_error");
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

/* The per-head blob of a row, decoded (little-endian float32) into f; 0 when
 * absent, 1 when decoded, -1 (err set) when its size does not fit the run. */
static int decode_blob(study_db *d, sqlite3_stmt *st, int col, int n_layers, int n_heads, float *f,
                       size_t n_floats, int64_t item_id, es_error *err) {
    if (sqlite3_column_type(st, col) == SQLITE_NULL || sqlite3_column_bytes(st, col) == 0) return 0;
    const unsigned char *b = sqlite3_column_blob(st, col);
    size_t bytes = (size_t)sqlite3_column_bytes(st, col);
    if (!f || bytes != 4 * n_floats)
        return es_fail(err, "%s: item %lld: per-head blob of %zu bytes, the run's %d x %d shape needs %zu",
                       d->path, (long long)item_id, bytes, n_layers, n_heads, 4 * n_floats);
    for (size_t i = 0; i < n_floats; i++) {
        uint32_t u = (uint32_t)b[4 * i] | (uint32_t)b[4 * i + 1] << 8 | (uint32_t)b[4 * i + 2] << 16 |
                     (uint32_t)b[4 * i + 3] << 24;
        memcpy(&f[i], &u, 4);
    }
    return 1;
}

/* The item's generated rows as token objects. */
#define TOKEN_COLUMNS "row, step, pos, token_id, token_text, logit_entropy, logit_varentropy, token_logprob," \
                      " attn_entropy_mean, attn_varentropy_mean, heads"
static int add_tokens(server *s, cJSON *o, int64_t item_id, int n_layers, int n_heads, int heads,
                      es_error *err) {
    study_db *d = s->db;
    cJSON *tokens = cJSON_AddArrayToObject(o, "tokens");
    int shaped = n_layers > 0 && n_heads > 0 && n_layers <= 4096 && n_heads <= 4096;
    size_t n_floats = shaped ? es_trace_blob_floats(n_layers, n_heads) : 0;
    float *f = shaped ? malloc(n_floats * sizeof *f) : NULL;
    sqlite3_stmt *st = NULL;
#define TOKEN_WHERE " FROM tokens WHERE item_id = ? AND step IS NOT NULL ORDER BY step, row"
    const char *sql = d->has_branch ? "SELECT " TOKEN_COLUMNS ", sampler_branch" TOKEN_WHERE
                                    : "SELECT " TOKEN_COLUMNS ", NULL" TOKEN_WHERE;
    int rc = (shaped && !f) ? SQLITE_NOMEM : sqlite3_prepare_v2(d->db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) sqlite3_bind_int64(st, 1, item_id);
    int status = 0;
    while (status == 0 && rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        rc = SQLITE_OK;
        int has = decode_blob(d, st, 10, n_layers, n_heads, f, n_floats, item_id, err);
        if (has < 0) {
            status = -1;
            break;
        }
        size_t lh = (size_t)n_layers * (size_t)n_heads;
        es_attn_probe a = {.pos = sqlite3_column_int(st, 2), .n_layers = n_layers, .n_heads = n_heads,
                           .entropy = f, .varentropy = f + (has ? lh : 0),
                           .agreement = f + (has ? 2 * lh : 0), .interaction = f + (has ? 2 * lh + n_layers : 0),
                           .entropy_mean = column_stat(st, 8), .varentropy_mean = column_stat(st, 9)};
        const void *text = sqlite3_column_blob(st, 4);
        es_trace_token row = {.step = sqlite3_column_int(st, 1), .pos = a.pos,
                              .token_id = sqlite3_column_int(st, 3), .text = text ? text : "",
                              .text_len = (size_t)sqlite3_column_bytes(st, 4),
                              .logit_entropy = column_stat(st, 5), .logit_varentropy = column_stat(st, 6),
                              .token_logprob = column_stat(st, 7), .attn = has ? &a : NULL,
                              .sampler_branch = (const char *)sqlite3_column_text(st, 11)};
        cJSON *t = server_token_json(s, &row, heads);
        if (!has) { /* the means were recorded without the heads */
            cJSON_ReplaceItemInObjectCaseSensitive(t, "attn_entropy_mean", isfinite(a.entropy_mean)
                ? cJSON_CreateNumber(a.entropy_mean) : cJSON_CreateNull());
            cJSON_ReplaceItemInObjectCaseSensitive(t, "attn_varentropy_mean", isfinite(a.varentropy_mean)
                ? cJSON_CreateNumber(a.varentropy_mean) : cJSON_CreateNull());
        }
        cJSON_AddNumberToObject(t, "row", sqlite3_column_int(st, 0));
        cJSON_AddNumberToObject(t, "step", row.step);
        cJSON_AddNumberToObject(t, "pos", row.pos);
        cJSON_AddItemToArray(tokens, t);
    }
    if (status == 0 && rc != SQLITE_DONE)
        status = es_fail(err, "%s: cannot read the tokens of item %lld: %s", d->path, (long long)item_id,
                         rc == SQLITE_NOMEM ? "out of memory" : sqlite3_errmsg(d->db));
    sqlite3_finalize(st);
    free(f);
    return status;
}

/* The item with its run, grades, first-error span and tokens; NULL with
 * *found 0 when there is no such item, or with err set on a read error. */
static cJSON *item_json(server *s, int64_t id, int heads, int *found, es_error *err) {
    study_db *d = s->db;
    sqlite3_stmt *st = NULL;
    *found = 0;
    int rc = sqlite3_prepare_v2(d->db, "SELECT " ITEM_COLUMNS ", i.prompt, i.output, r.model_name, r.n_layers,"
                                " r.n_heads FROM items i JOIN runs r ON r.id = i.run_id WHERE i.id = ?",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) sqlite3_bind_int64(st, 1, id), rc = sqlite3_step(st);
    cJSON *o = rc == SQLITE_ROW ? item_summary(d, st) : NULL;
    *found = rc == SQLITE_ROW;
    int status = o || rc == SQLITE_DONE ? 0 : -1;
    if (o) {
        cJSON_AddItemToObject(o, "prompt", column_string(st, 8));
        cJSON_AddItemToObject(o, "output", column_string(st, 9));
        int n_layers = sqlite3_column_int(st, 11), n_heads = sqlite3_column_int(st, 12);
        cJSON *run = cJSON_AddObjectToObject(o, "run");
        cJSON_AddNumberToObject(run, "id", (double)sqlite3_column_int64(st, 1));
        cJSON_AddItemToObject(run, "command", column_string(st, 7));
        cJSON_AddItemToObject(run, "model_name", column_string(st, 10));
        cJSON_AddNumberToObject(run, "n_layers", n_layers);
        cJSON_AddNumberToObject(run, "n_heads", n_heads);
        if (add_grades(d, o, id) || add_first_error(d, o, id)) status = -1;
        else status = add_tokens(s, o, id, n_layers, n_heads, heads, err) ? -2 : 0;
    }
    if (status == -1)
        es_fail(err, "%s: cannot read item %lld: %s", d->path, (long long)id, sqlite3_errmsg(d->db));
    sqlite3_finalize(st);
    if (status) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static void show_item(server *s, const char *id_text, const study_query *q, reply *r) {
    long long id;
    if (query_int(id_text, 1, (long long)(~0ULL >> 1), 0, &id) || !id_text[0]) {
        reply_error(r, 404, "invalid_request_error", NULL, "not_found", "no item '%s'", id_text);
        return;
    }
    int found;
    es_error err = {0};
    cJSON *o = item_json(s, id, !q->heads || strcmp(q->heads, "0") != 0, &found, &err);
    if (o) {
        r->status = 200;
        r->body = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
    } else if (!found && !err.msg[0]) {
        reply_error(r, 404, "invalid_request_error", NULL, "not_found", "no item %lld in %s", id, s->db->path);
    } else {
        reply_error(r, 500, "server_error", NULL, NULL, "%s", err.msg);
    }
}

void study_route(server *s, const char *rest, const study_query *q, reply *r) {
    if (!s->db) {
        reply_error(r, 404, "invalid_request_error", NULL, "not_found",
                    "this server has no trace database (start it with --db FILE)");
        return;
    }
    pthread_mutex_lock(&s->db->lock);
    int txn = sqlite3_exec(s->db->db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK;
    if (!rest[0] || strcmp(rest, "/") == 0) list_items(s->db, q, r);
    else if (rest[0] == '/') show_item(s, rest + 1, q, r);
    else reply_error(r, 404, "invalid_request_error", NULL, "not_found", "no route %s", rest);
    if (txn) sqlite3_exec(s->db->db, "COMMIT", NULL, NULL, NULL);
    pthread_mutex_unlock(&s->db->lock);
}
