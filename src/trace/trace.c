/* The trace store: a SQLite database that records runs, items (one
 * generation each) and one row per evaluated position with its statistics
 * and its per-head values (a float32 blob, layout in trace/trace.h).
 *
 * An item is built in memory (es_trace_item_add copies each row) and written
 * by es_trace_item_commit in one BEGIN IMMEDIATE ... COMMIT transaction, so
 * a process killed at any moment leaves either the whole item or nothing:
 * SQLite's WAL journal rolls back an unfinished transaction on the next
 * open. A busy timeout lets two writers (two studies on one file) queue
 * instead of failing.
 *
 * Text columns hold TEXT when the bytes are valid UTF-8 and a BLOB
 * otherwise, so that the pieces of byte-fallback tokens (half a character)
 * survive exactly. NaN statistics are stored as SQL NULL. */
#include "trace/trace.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "trace/trace_grade.h"
#include "util/error.h"

#define BUSY_TIMEOUT_MS 30000
/* A sanity bound on the probe shape: far beyond any Llama (126 x 128). */
#define MAX_LAYER_HEADS (1 << 20)

struct es_trace {
    sqlite3 *db;
    char *path;
    sqlite3_stmt *insert_item, *insert_token, *find_item;
};

/* One row as es_trace_item_add copied it; text and blob live in the item's
 * arenas (offsets, since the arenas move as they grow). */
typedef struct trace_row {
    int step, pos;
    int32_t token_id;
    size_t text_off, text_len;
    double logit_entropy, logit_varentropy, token_logprob; /* NAN: not measured */
    double attn_entropy_mean, attn_varentropy_mean;        /* NAN without probes */
    int n_layers, n_heads;                                 /* 0 x 0 without probes */
    size_t blob_off;                                       /* bytes into item->blobs */
    size_t branch_off, branch_len;                         /* sampler_branch in item->text */
    int has_branch;                                        /* 0: NULL */
} trace_row;

struct es_trace_item {
    int64_t run_id;
    char *key, *prompt;           /* key may be NULL */
    trace_row *rows;
    size_t n_rows, cap_rows;
    char *text;                   /* every row's token bytes, back to back */
    size_t text_len, text_cap;
    unsigned char *blobs;         /* every row's per-head blob, back to back */
    size_t blobs_len, blobs_cap;
    int timed;                    /* es_trace_item_set_times was called */
    double prefill_s, decode_s;
};

/* The SQL comments are kept in sqlite_master, so `.schema` documents a file. */
static const char *const SCHEMA_SQL =
    "CREATE TABLE runs (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  created TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')), -- UTC\n"
    "  entroscope_version TEXT NOT NULL,\n"
    "  command TEXT, model_path TEXT, model_name TEXT,\n"
    "  n_layers INTEGER NOT NULL, n_heads INTEGER NOT NULL, -- shape of tokens.heads\n"
    "  settings TEXT,              -- JSON object: sampler, context, threads, ...\n"
    "  heads_layout TEXT NOT NULL  -- the layout of tokens.heads, in words\n"
    ");\n"
    "CREATE TABLE items (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,\n"
    "  key TEXT,                   -- unique within the run when not NULL\n"
    "  idx INTEGER NOT NULL,       -- 0, 1, ... in commit order within the run\n"
    "  prompt TEXT, output TEXT,   -- TEXT if valid UTF-8, else BLOB (exact bytes)\n"
    "  stop_reason TEXT,           -- eog, length, context\n"
    "  labels TEXT,                -- JSON object\n"
    "  n_prompt INTEGER NOT NULL, n_generated INTEGER NOT NULL, -- its token rows\n"
    "  created TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),\n"
    "  UNIQUE (run_id, key)\n"
    ");\n"
    "CREATE TABLE tokens (\n"
    "  item_id INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,\n"
    "  row INTEGER NOT NULL,       -- 0, 1, ...: prompt rows, then generated steps\n"
    "  step INTEGER,               -- generated-token index k; NULL on prompt rows\n"
    "  pos INTEGER NOT NULL,       -- query position\n"
    "  is_prompt INTEGER NOT NULL,\n"
    "  token_id INTEGER NOT NULL,\n"
    "  token_text TEXT,            -- TEXT if valid UTF-8, else BLOB (exact bytes)\n"
    "  logit_entropy REAL, logit_varentropy REAL, token_logprob REAL, -- nats; NULL: not measured\n"
    "  attn_entropy_mean REAL, attn_varentropy_mean REAL, -- over layers and heads, nats\n"
    "  heads BLOB,                 -- float32 LE: entropy[L][H] varentropy[L][H] agreement[L] interaction[L]\n"
    "  sampler_branch TEXT,        -- entropix: argmax insert explore resample adaptive inserted; else NULL\n"
    "  PRIMARY KEY (item_id, row)\n"
    ");\n"
    "CREATE INDEX items_run ON items(run_id, idx);\n";

/* The grading tables (trace_grade.c writes them). Added to version 1 without
 * changing user_version: they are created when absent on every open, so a
 * trace written before they existed simply gains them, and readers that do
 * not know them never see a difference in the other tables. */
static const char *const GRADE_SCHEMA_SQL =
    "CREATE TABLE IF NOT EXISTS grades (\n"
    "  item_id INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,\n"
    "  grader TEXT NOT NULL,       -- offline, arith, judge:MODEL\n"
    "  verdict TEXT NOT NULL,      -- CORRECT INCORRECT NOT_ATTEMPTED; FOUND UNLOCATED NONE; ERROR\n"
    "  extracted TEXT,             -- the answer the grader read (a GSM8K number), or NULL\n"
    "  detail TEXT,                -- JSON object: what else the grader found\n"
    "  created TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),\n"
    "  PRIMARY KEY (item_id, grader)\n"
    ");\n"
    "CREATE TABLE IF NOT EXISTS spans (\n"
    "  item_id INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,\n"
    "  kind TEXT NOT NULL,         -- first_error\n"
    "  source TEXT NOT NULL,       -- arith or judge\n"
    "  grader TEXT NOT NULL,       -- the grades.grader that wrote it\n"
    "  first_row INTEGER, last_row INTEGER, -- tokens.row range; NULL: not located\n"
    "  byte_start INTEGER, byte_end INTEGER, -- in the generated rows' text; NULL: not located\n"
    "  text TEXT,                  -- the span's text (a judge's quote as given)\n"
    "  note TEXT\n"
    ");\n"
    "CREATE INDEX IF NOT EXISTS spans_item ON spans(item_id, grader);\n"
    "CREATE TABLE IF NOT EXISTS item_times (\n"
    "  item_id INTEGER PRIMARY KEY REFERENCES items(id) ON DELETE CASCADE,\n"
    "  prefill_s REAL,             -- seconds: the item's own prompt tokens (a shared prefix not counted)\n"
    "  decode_s REAL               -- seconds: every generation step after that\n"
    ");\n"
    "CREATE TABLE IF NOT EXISTS judge_cache (\n"
    "  request_hash TEXT PRIMARY KEY, -- of the request body (the body is compared too)\n"
    "  request TEXT NOT NULL,      -- JSON body sent\n"
    "  response TEXT NOT NULL,     -- the reply's message content\n"
    "  created TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))\n"
    ");\n";

/* ------------------------------------------------------------ helpers -- */

size_t es_utf8_char_len(const unsigned char *s, size_t n) {
    if (n == 0 || s[0] == 0) return 0;
    if (s[0] < 0x80) return 1;
    size_t len = s[0] >= 0xF0 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC2 ? 2 : 0;
    if (len == 0 || s[0] > 0xF4 || len > n) return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    /* Overlong 3- and 4-byte forms, UTF-16 surrogates, beyond U+10FFFF. */
    if (s[0] == 0xE0 && s[1] < 0xA0) return 0;
    if (s[0] == 0xED && s[1] >= 0xA0) return 0;
    if (s[0] == 0xF0 && s[1] < 0x90) return 0;
    if (s[0] == 0xF4 && s[1] >= 0x90) return 0;
    return len;
}

static int is_utf8(const char *s, size_t n) {
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t k = es_utf8_char_len(p + i, n - i);
        if (k == 0) return 0;
        i += k;
    }
    return 1;
}

/* Binds bytes as TEXT when they are valid UTF-8, as a BLOB otherwise, NULL
 * when s is NULL. The bytes must outlive the statement's step. */
static int bind_bytes(sqlite3_stmt *st, int col, const char *s, size_t n) {
    if (!s) return sqlite3_bind_null(st, col);
    if (n > 0x7fffffff) return SQLITE_TOOBIG;
    if (is_utf8(s, n)) return sqlite3_bind_text(st, col, s, (int)n, SQLITE_STATIC);
    return sqlite3_bind_blob(st, col, s, (int)n, SQLITE_STATIC);
}

static int bind_string(sqlite3_stmt *st, int col, const char *s) {
    return bind_bytes(st, col, s, s ? strlen(s) : 0);
}

static int bind_real(sqlite3_stmt *st, int col, double v) {
    return isnan(v) ? sqlite3_bind_null(st, col) : sqlite3_bind_double(st, col, v);
}

static int fail_db(es_trace *t, es_error *err, const char *what) {
    return es_fail(err, "%s: %s: %s", t->path, what, sqlite3_errmsg(t->db));
}

/* A JSON object or NULL, nothing else, in a column documented as JSON. */
static int check_json_object(const char *json, const char *path, const char *what,
                             es_error *err) {
    if (!json) return 0;
    cJSON *v = cJSON_Parse(json);
    int ok = v && cJSON_IsObject(v);
    cJSON_Delete(v);
    return ok ? 0 : es_fail(err, "%s: %s are not a JSON object", path, what);
}

static int64_t query_int(sqlite3 *db, const char *sql, int *rc) {
    sqlite3_stmt *st = NULL;
    int64_t v = 0;
    *rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (*rc == SQLITE_OK) {
        *rc = sqlite3_step(st);
        if (*rc == SQLITE_ROW) {
            v = sqlite3_column_int64(st, 0);
            *rc = SQLITE_OK;
        }
    }
    sqlite3_finalize(st);
    return v;
}

/* ------------------------------------------------------------- schema -- */

int es_trace_check_schema(sqlite3 *db, const char *path, es_error *err) {
    /* The three reads form one snapshot: another process may be creating
     * the schema meanwhile, and mixing a read from before its commit with
     * one from after would make a new trace look like someone else's file. */
    int own_txn = sqlite3_get_autocommit(db) && sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK;
    int rc;
    int64_t app = query_int(db, "PRAGMA application_id", &rc);
    if (rc != SQLITE_OK) {
        es_fail(err, "%s: not an entroscope trace (%s)", path, sqlite3_errmsg(db));
        if (own_txn) sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    int64_t version = query_int(db, "PRAGMA user_version", &rc);
    int64_t objects = rc == SQLITE_OK ? query_int(db, "SELECT count(*) FROM sqlite_master", &rc) : 0;
    if (rc != SQLITE_OK) es_fail(err, "%s: cannot read the schema: %s", path, sqlite3_errmsg(db));
    if (own_txn) sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) return -1;
    if (app == ES_TRACE_APP_ID) {
        if (version == ES_TRACE_SCHEMA_VERSION) return 1;
        return es_fail(err, "%s: trace schema version %lld, this entroscope (%s) reads version %d",
                       path, (long long)version, ENTROSCOPE_VERSION, ES_TRACE_SCHEMA_VERSION);
    }
    if (app == 0 && version == 0 && objects == 0) return 0;
    return es_fail(err, "%s: not an entroscope trace (a SQLite database of something else)", path);
}

int es_trace_add_grade_tables(sqlite3 *db, const char *path, es_error *err) {
    /* Looked up first so that opening a graded trace writes nothing. */
    int rc;
    int64_t present = query_int(db, "SELECT count(*) FROM sqlite_master WHERE name IN"
                                    " ('grades', 'spans', 'spans_item', 'judge_cache')", &rc);
    if (rc == SQLITE_OK && present == 4) return 0;
    if (sqlite3_exec(db, GRADE_SCHEMA_SQL, NULL, NULL, NULL) != SQLITE_OK)
        return es_fail(err, "%s: cannot create the grading tables: %s", path, sqlite3_errmsg(db));
    return 0;
}

/* Creates the tables of a new file. Inside BEGIN IMMEDIATE the check is
 * repeated: another process may have created them since we looked. */
static int create_schema(es_trace *t, es_error *err) {
    if (sqlite3_exec(t->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return fail_db(t, err, "cannot create the trace tables");
    int state = es_trace_check_schema(t->db, t->path, err);
    if (state == 0) {
        char pragmas[128];
        snprintf(pragmas, sizeof pragmas, "PRAGMA application_id = %d; PRAGMA user_version = %d;",
                 ES_TRACE_APP_ID, ES_TRACE_SCHEMA_VERSION);
        if (sqlite3_exec(t->db, SCHEMA_SQL, NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_exec(t->db, pragmas, NULL, NULL, NULL) != SQLITE_OK)
            state = fail_db(t, err, "cannot create the trace tables");
    }
    if (state < 0) {
        sqlite3_exec(t->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    if (sqlite3_exec(t->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        fail_db(t, err, "cannot create the trace tables");
        sqlite3_exec(t->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    return 0;
}

static int prepare_statements(es_trace *t, es_error *err) {
    static const char *const item_sql =
        "INSERT INTO items (run_id, key, idx, prompt, output, stop_reason, labels,"
        " n_prompt, n_generated) VALUES (?1, ?2,"
        " (SELECT coalesce(max(idx) + 1, 0) FROM items WHERE run_id = ?1),"
        " ?3, ?4, ?5, ?6, ?7, ?8)";
    static const char *const token_sql =
        "INSERT INTO tokens (item_id, row, step, pos, is_prompt, token_id, token_text,"
        " logit_entropy, logit_varentropy, token_logprob, attn_entropy_mean,"
        " attn_varentropy_mean, heads, sampler_branch)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
    static const char *const find_sql = "SELECT 1 FROM items WHERE run_id = ? AND key = ?";
    unsigned flags = SQLITE_PREPARE_PERSISTENT;
    if (sqlite3_prepare_v3(t->db, item_sql, -1, flags, &t->insert_item, NULL) != SQLITE_OK ||
        sqlite3_prepare_v3(t->db, token_sql, -1, flags, &t->insert_token, NULL) != SQLITE_OK ||
        sqlite3_prepare_v3(t->db, find_sql, -1, flags, &t->find_item, NULL) != SQLITE_OK)
        return fail_db(t, err, "not a usable trace");
    return 0;
}

/* -------------------------------------------------------- open, close -- */

/* Switching to WAL needs a moment of exclusive access, and SQLite answers
 * "locked" at once, without its busy handler, when two connections would
 * otherwise wait for each other (two processes opening a new trace at the
 * same instant): so retry for a while, as the busy timeout would. */
static int set_wal(sqlite3 *db) {
    int rc = SQLITE_BUSY;
    for (int tries = 0; tries < BUSY_TIMEOUT_MS / 10 && (rc == SQLITE_BUSY || rc == SQLITE_LOCKED);
         tries++) {
        rc = sqlite3_exec(db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL);
        if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) usleep(10000 + (unsigned)(tries % 7) * 1000);
    }
    if (rc != SQLITE_OK) return rc;
    return sqlite3_exec(db, "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;", NULL, NULL, NULL);
}

es_trace *es_trace_open(const char *path, es_error *err) {
    if (!path || !path[0]) {
        es_fail(err, "trace: no database path");
        return NULL;
    }
    es_trace *t = calloc(1, sizeof *t);
    if (!t || !(t->path = strdup(path))) {
        free(t);
        es_fail(err, "%s: out of memory", path);
        return NULL;
    }
    int rc = sqlite3_open_v2(path, &t->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK) {
        es_fail(err, "%s: cannot open: %s", path, t->db ? sqlite3_errmsg(t->db) : sqlite3_errstr(rc));
        es_trace_close(t);
        return NULL;
    }
    sqlite3_busy_timeout(t->db, BUSY_TIMEOUT_MS);
    /* Look before changing anything: WAL mode must not be forced onto
     * somebody else's database. */
    int state = es_trace_check_schema(t->db, path, err);
    int ok = state >= 0;
    if (ok && set_wal(t->db) != SQLITE_OK) ok = fail_db(t, err, "cannot switch to WAL mode") == 0;
    if (ok && state == 0) ok = create_schema(t, err) == 0;
    if (ok) ok = es_trace_add_grade_tables(t->db, path, err) == 0;
    if (ok) ok = prepare_statements(t, err) == 0;
    if (!ok) {
        es_trace_close(t);
        return NULL;
    }
    return t;
}

void es_trace_close(es_trace *t) {
    if (!t) return;
    sqlite3_finalize(t->insert_item);
    sqlite3_finalize(t->insert_token);
    sqlite3_finalize(t->find_item);
    sqlite3_close(t->db);
    free(t->path);
    free(t);
}

/* ---------------------------------------------------------------- runs -- */

int64_t es_trace_add_run(es_trace *t, const es_trace_run *run, es_error *err) {
    if (!t || !run) return es_fail(err, "trace: no database or run");
    if (run->n_layers < 0 || run->n_heads < 0 ||
        (int64_t)run->n_layers * run->n_heads > MAX_LAYER_HEADS)
        return es_fail(err, "%s: run shape %d layers x %d heads is out of range", t->path,
                       run->n_layers, run->n_heads);
    if (check_json_object(run->settings_json, t->path, "run settings", err) < 0) return -1;
    char layout[256];
    snprintf(layout, sizeof layout,
             "float32 little-endian: entropy[%d][%d] nats, varentropy[%d][%d] nats^2,"
             " agreement[%d], interaction[%d]; layer-major",
             run->n_layers, run->n_heads, run->n_layers, run->n_heads, run->n_layers, run->n_layers);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(t->db,
        "INSERT INTO runs (entroscope_version, command, model_path, model_name, n_layers,"
        " n_heads, settings, heads_layout) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        bind_string(st, 1, ENTROSCOPE_VERSION);
        bind_string(st, 2, run->command);
        bind_string(st, 3, run->model_path);
        bind_string(st, 4, run->model_name);
        sqlite3_bind_int(st, 5, run->n_layers);
        sqlite3_bind_int(st, 6, run->n_heads);
        bind_string(st, 7, run->settings_json);
        bind_string(st, 8, layout);
        rc = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return fail_db(t, err, "cannot add a run");
    return sqlite3_last_insert_rowid(t->db);
}

/* --------------------------------------------------- items in memory -- */

es_trace_item *es_trace_item_new(int64_t run_id, const char *key, const char *prompt) {
    es_trace_item *item = calloc(1, sizeof *item);
    if (!item) return NULL;
    item->run_id = run_id;
    if ((key && !(item->key = strdup(key))) || (prompt && !(item->prompt = strdup(prompt)))) {
        es_trace_item_free(item);
        return NULL;
    }
    return item;
}

void es_trace_item_set_times(es_trace_item *item, double prefill_s, double decode_s) {
    item->timed = 1;
    item->prefill_s = prefill_s;
    item->decode_s = decode_s;
}

void es_trace_item_free(es_trace_item *item) {
    if (!item) return;
    free(item->key);
    free(item->prompt);
    free(item->rows);
    free(item->text);
    free(item->blobs);
    free(item);
}

/* Makes room for `more` elements of `size` bytes after `used` ones. */
static int reserve(void **buf, size_t *cap, size_t used, size_t more, size_t size) {
    if (more <= *cap - used) return 0;
    size_t want = *cap ? *cap : 64;
    while (want - used < more) {
        if (want > SIZE_MAX / 2 / size) return -1;
        want *= 2;
    }
    void *p = realloc(*buf, want * size);
    if (!p) return -1;
    *buf = p;
    *cap = want;
    return 0;
}

static void put_f32_le(unsigned char *dst, float v) {
    uint32_t u;
    memcpy(&u, &v, 4);
    dst[0] = (unsigned char)u;
    dst[1] = (unsigned char)(u >> 8);
    dst[2] = (unsigned char)(u >> 16);
    dst[3] = (unsigned char)(u >> 24);
}

/* Appends n floats (NaN when the array is absent) to the blob at dst. */
static unsigned char *put_floats(unsigned char *dst, const float *v, size_t n) {
    for (size_t i = 0; i < n; i++, dst += 4) put_f32_le(dst, v ? v[i] : NAN);
    return dst;
}

static int add_blob(es_trace_item *item, trace_row *row, const es_attn_probe *a) {
    size_t lh = (size_t)a->n_layers * (size_t)a->n_heads, l = (size_t)a->n_layers;
    size_t bytes = 4 * es_trace_blob_floats(a->n_layers, a->n_heads);
    if (reserve((void **)&item->blobs, &item->blobs_cap, item->blobs_len, bytes, 1) < 0) return -1;
    unsigned char *dst = item->blobs + item->blobs_len;
    dst = put_floats(dst, a->entropy, lh);
    dst = put_floats(dst, a->varentropy, lh);
    dst = put_floats(dst, a->agreement, l);
    put_floats(dst, a->interaction, l);
    row->blob_off = item->blobs_len;
    row->n_layers = a->n_layers;
    row->n_heads = a->n_heads;
    row->attn_entropy_mean = a->entropy_mean;
    row->attn_varentropy_mean = a->varentropy_mean;
    item->blobs_len += bytes;
    return 0;
}

int es_trace_item_add(es_trace_item *item, const es_trace_token *tok) {
    if (!item || !tok || (!tok->text && tok->text_len > 0)) return -1;
    const es_attn_probe *a = tok->attn;
    if (a && (a->n_layers <= 0 || a->n_heads <= 0 ||
              (int64_t)a->n_layers * a->n_heads > MAX_LAYER_HEADS))
        return -1;
    size_t branch_len = tok->sampler_branch ? strlen(tok->sampler_branch) : 0;
    if (reserve((void **)&item->rows, &item->cap_rows, item->n_rows, 1, sizeof(trace_row)) < 0 ||
        branch_len > SIZE_MAX / 2 - tok->text_len ||
        reserve((void **)&item->text, &item->text_cap, item->text_len, tok->text_len + branch_len, 1) < 0)
        return -1;
    trace_row *row = &item->rows[item->n_rows];
    *row = (trace_row){
        .step = tok->step < 0 ? -1 : tok->step, .pos = tok->pos, .token_id = tok->token_id,
        .text_off = item->text_len, .text_len = tok->text_len,
        .logit_entropy = tok->logit_entropy, .logit_varentropy = tok->logit_varentropy,
        .token_logprob = tok->token_logprob,
        .attn_entropy_mean = NAN, .attn_varentropy_mean = NAN,
    };
    if (a && add_blob(item, row, a) < 0) return -1;
    if (tok->text_len) memcpy(item->text + item->text_len, tok->text, tok->text_len);
    item->text_len += tok->text_len;
    if (tok->sampler_branch) { /* after the token's bytes, in the same arena */
        row->has_branch = 1;
        row->branch_off = item->text_len;
        row->branch_len = branch_len;
        memcpy(item->text + item->text_len, tok->sampler_branch, branch_len);
        item->text_len += branch_len;
    }
    item->n_rows++;
    return 0;
}

/* ------------------------------------------------------------ commit -- */

static int check_row_shapes(es_trace *t, const es_trace_item *item, es_error *err) {
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(t->db, "SELECT n_layers, n_heads FROM runs WHERE id = ?", -1, &st, NULL);
    int n_layers = 0, n_heads = 0;
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, item->run_id);
        rc = sqlite3_step(st);
        n_layers = sqlite3_column_int(st, 0);
        n_heads = sqlite3_column_int(st, 1);
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_DONE) return es_fail(err, "%s: run %lld does not exist", t->path, (long long)item->run_id);
    if (rc != SQLITE_ROW) return fail_db(t, err, "cannot read the run");
    for (size_t i = 0; i < item->n_rows; i++) {
        const trace_row *r = &item->rows[i];
        if (r->n_layers && (r->n_layers != n_layers || r->n_heads != n_heads))
            return es_fail(err, "%s: row %zu has probes of %d layers x %d heads, the run %d x %d",
                           t->path, i, r->n_layers, r->n_heads, n_layers, n_heads);
    }
    return 0;
}

static int insert_row(es_trace *t, const es_trace_item *item, int64_t item_id, size_t i) {
    const trace_row *r = &item->rows[i];
    sqlite3_stmt *st = t->insert_token;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    sqlite3_bind_int64(st, 1, item_id);
    sqlite3_bind_int64(st, 2, (int64_t)i);
    if (r->step >= 0) sqlite3_bind_int(st, 3, r->step);
    sqlite3_bind_int(st, 4, r->pos);
    sqlite3_bind_int(st, 5, r->step < 0);
    sqlite3_bind_int(st, 6, r->token_id);
    int rc = bind_bytes(st, 7, item->text + r->text_off, r->text_len);
    bind_real(st, 8, r->logit_entropy);
    bind_real(st, 9, r->logit_varentropy);
    bind_real(st, 10, r->token_logprob);
    bind_real(st, 11, r->attn_entropy_mean);
    bind_real(st, 12, r->attn_varentropy_mean);
    if (r->n_layers)
        sqlite3_bind_blob(st, 13, item->blobs + r->blob_off,
                          (int)(4 * es_trace_blob_floats(r->n_layers, r->n_heads)), SQLITE_STATIC);
    if (rc == SQLITE_OK && r->has_branch)
        rc = bind_bytes(st, 14, item->text + r->branch_off, r->branch_len);
    if (rc == SQLITE_OK) rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* The inserts of one item; the caller holds the transaction. */
static int insert_times(es_trace *t, const es_trace_item *item, int64_t item_id) {
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(t->db, "INSERT INTO item_times (item_id, prefill_s, decode_s) VALUES (?, ?, ?)",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, item_id);
        sqlite3_bind_double(st, 2, item->prefill_s);
        sqlite3_bind_double(st, 3, item->decode_s);
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_OK ? 0 : -1;
}

static int64_t write_item(es_trace *t, const es_trace_item *item, const char *output,
                          const char *stop_reason, const char *labels_json, es_error *err) {
    if (check_row_shapes(t, item, err) < 0) return -1;
    int n_prompt = 0;
    for (size_t i = 0; i < item->n_rows; i++) n_prompt += item->rows[i].step < 0;
    sqlite3_stmt *st = t->insert_item;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    sqlite3_bind_int64(st, 1, item->run_id);
    bind_string(st, 2, item->key);
    bind_string(st, 3, item->prompt);
    bind_string(st, 4, output);
    bind_string(st, 5, stop_reason);
    bind_string(st, 6, labels_json);
    sqlite3_bind_int(st, 7, n_prompt);
    sqlite3_bind_int64(st, 8, (int64_t)item->n_rows - n_prompt);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_CONSTRAINT && item->key)
        return es_fail(err, "%s: run %lld already has an item with key '%s'", t->path,
                       (long long)item->run_id, es_show(item->key, strlen(item->key)).text);
    if (rc != SQLITE_DONE) return fail_db(t, err, "cannot write the item");
    int64_t item_id = sqlite3_last_insert_rowid(t->db);
    for (size_t i = 0; i < item->n_rows; i++)
        if (insert_row(t, item, item_id, i) < 0) return fail_db(t, err, "cannot write a token row");
    if (item->timed && insert_times(t, item, item_id) < 0) return fail_db(t, err, "cannot write the item's times");
    return item_id;
}

int64_t es_trace_item_commit(es_trace *t, es_trace_item *item, const char *output,
                             const char *stop_reason, const char *labels_json,
                             es_error *err) {
    if (!t || !item) return es_fail(err, "trace: no database or item");
    if (check_json_object(labels_json, t->path, "item labels", err) < 0) return -1;
    if (sqlite3_exec(t->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return fail_db(t, err, "cannot start a transaction");
    int64_t id = write_item(t, item, output, stop_reason, labels_json, err);
    if (id > 0 && sqlite3_exec(t->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        id = fail_db(t, err, "cannot commit the item");
    if (id < 0) sqlite3_exec(t->db, "ROLLBACK", NULL, NULL, NULL);
    return id;
}

int es_trace_has_item(es_trace *t, int64_t run_id, const char *key) {
    if (!t || !key) return 0;
    sqlite3_stmt *st = t->find_item;
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, run_id);
    bind_string(st, 2, key); /* as it was stored: TEXT or, for odd bytes, BLOB */
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int es_trace_table_exists(sqlite3 *db, const char *name) {
    sqlite3_stmt *st = NULL;
    int found = sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", -1,
                                   &st, NULL) == SQLITE_OK &&
                sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC) == SQLITE_OK &&
                sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    return found;
}
