/* Trace store tests: a run and items with hand-made probe arrays are written,
 * exported as CSV and JSON lines, parsed back here (a small RFC 4180 reader,
 * cJSON) and compared value by value with the hand values, in nats and in
 * bits. The blob is decoded by hand from its documented layout. A child
 * process committing items is SIGKILLed at random moments, and the database
 * must still hold only whole items. Bad files, bad arguments and the CLI
 * (ENTROSCOPE_BIN) are checked too. */
#include "sql_util.h"
#include "test.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "entroscope.h"
#include "trace/trace.h"

#define LN2 0.693147180559945309417232121458

static const char *tpath(const char *name) {
    static char buf[32][512];
    static int slot;
    char *p = buf[slot++ % 32];
    snprintf(p, 512, "%s/%s", test_tmpdir(), name);
    return p;
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    size_t got = fread(buf, 1, (size_t)n, f);
    buf[got] = 0;
    fclose(f);
    return buf;
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

static int sql_exec(const char *db_path, const char *sql) {
    sqlite3 *db = NULL;
    int rc = sqlite3_open(db_path, &db);
    if (rc == SQLITE_OK) rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    sqlite3_close(db);
    return rc;
}

/* ----------------------------------------------------------- fixture -- */

enum { FX_L = 2, FX_H = 3, FX_LH = FX_L * FX_H };

typedef struct fx_row {
    int step, pos;
    int32_t token_id;
    const char *text;        /* stored bytes */
    size_t text_len;
    const char *expect_text; /* as the export must write them */
    double logit_entropy, logit_varentropy, token_logprob;
    int probes;
} fx_row;

/* Prompt rows have no logit statistics; row 3 has round values in bits;
 * row 5 was recorded with probes off. */
static const fx_row FX[] = {
    {-1, 0, 1, "<s>", 3, "<s>", NAN, NAN, NAN, 1},
    {-1, 1, 450, "a,b", 3, "a,b", NAN, NAN, NAN, 1},
    {-1, 2, 7, "say \"x\"", 7, "say \"x\"", NAN, NAN, NAN, 1},
    {0, 2, 13, "line\nbreak\r", 11, "line\nbreak\r", 2 * LN2, 3 * LN2 * LN2, -3 * LN2, 1},
    {1, 3, 228, "\xE4\xB8", 2, "\xEF\xBF\xBD\xEF\xBF\xBD", 1.5, 0.25, NAN, 1},
    {2, 4, 300, "\xC3\xA9\xFF", 3, "\xC3\xA9\xEF\xBF\xBD", 0.0, 0.0, 0.0, 0},
};
enum { FX_ROWS = sizeof FX / sizeof FX[0], FX_PROBE_ROWS = 5 };

/* Hand values of row r: entropy (l,h) = ln(2 + i + r) with i = l*H + h, so
 * that it is log2(2 + i + r) bits; varentropy (i+1)/2 bits^2; one NaN. */
typedef struct fx_probe {
    float entropy[FX_LH], varentropy[FX_LH], agreement[FX_L], interaction[FX_L];
    es_attn_probe probe;
} fx_probe;

static double fx_entropy_bits(int r, int i) { return log2(2.0 + i + r); }
static double fx_varentropy_bits(int r, int i) { return r == 1 && i == 5 ? NAN : (i + 1) * 0.5; }
static double fx_agreement(int r, int l) { return (float)(0.125 * (l + 1) + 0.01 * r); }
static double fx_interaction(int r, int l) { return 3.5 + l + r; }

static void fx_make_probe(fx_probe *p, int r) {
    for (int i = 0; i < FX_LH; i++) {
        p->entropy[i] = (float)log(2.0 + i + r);
        p->varentropy[i] = (float)(fx_varentropy_bits(r, i) * LN2 * LN2);
    }
    for (int l = 0; l < FX_L; l++) {
        p->agreement[l] = (float)fx_agreement(r, l);
        p->interaction[l] = (float)fx_interaction(r, l);
    }
    p->probe = (es_attn_probe){
        .pos = FX[r].pos, .n_layers = FX_L, .n_heads = FX_H, .entropy = p->entropy,
        .varentropy = p->varentropy, .agreement = p->agreement, .interaction = p->interaction,
        .entropy_mean = 1.25 + r, .varentropy_mean = LN2 * LN2 * (r + 1),
    };
}

static int64_t fx_add_run(es_trace *t) {
    es_trace_run run = {"generate", "/models/x.gguf", "fixture", FX_L, FX_H,
                        "{\"temperature\": 0, \"seed\": 1}"};
    return es_trace_add_run(t, &run, NULL);
}

static int64_t fx_commit(es_trace *t, int64_t run_id, const char *key, es_error *err) {
    es_trace_item *item = es_trace_item_new(run_id, key, "prompt, \"quoted\"");
    for (int r = 0; r < FX_ROWS; r++) {
        fx_probe p;
        fx_make_probe(&p, r);
        es_trace_token tok = {FX[r].step, FX[r].pos, FX[r].token_id, FX[r].text, FX[r].text_len,
                              FX[r].logit_entropy, FX[r].logit_varentropy, FX[r].token_logprob,
                              FX[r].probes ? &p.probe : NULL, NULL};
        CHECK_INT(es_trace_item_add(item, &tok), 0);
    }
    int64_t id = es_trace_item_commit(t, item, "out", "length", "{\"correct\": true}", err);
    es_trace_item_free(item);
    return id;
}

/* A trace with two items of the fixture (keys "q1" and NULL). */
static const char *fx_trace(void) {
    static int made;
    const char *path = tpath("fixture.db");
    if (made++) return path;
    es_error err = {{0}};
    es_trace *t = es_trace_open(path, &err);
    CHECKF(t != NULL, "%s", err.msg);
    int64_t run = fx_add_run(t);
    CHECK_INT(run, 1);
    CHECK_INT(fx_commit(t, run, "q1", &err), 1);
    CHECK_INT(fx_commit(t, run, NULL, &err), 2);
    es_trace_close(t);
    return path;
}

/* ------------------------------------------------------ table reader -- */

typedef struct cell {
    int null;    /* CSV: empty and unquoted; JSON: null */
    double num;  /* the value read as a number */
    char *str;   /* the text (CSV field or JSON string); NULL for JSON numbers */
} cell;

typedef struct table {
    int n_cols, n_rows;
    char *names[32];
    cell *cells; /* (n_rows, n_cols) */
    int bad;     /* a row of the wrong width, a line that is not JSON */
} table;

static void table_free(table *t) {
    for (int c = 0; c < t->n_cols; c++) free(t->names[c]);
    for (int i = 0; i < t->n_rows * t->n_cols; i++) free(t->cells[i].str);
    free(t->cells);
}

/* One RFC 4180 field at *s; returns it (malloc'ed) and whether it was quoted. */
static char *csv_field(const char **s, int *quoted) {
    const char *p = *s;
    size_t cap = strlen(p) + 1, n = 0;
    char *out = malloc(cap);
    *quoted = *p == '"';
    if (*quoted) {
        for (p++; *p && !(p[0] == '"' && p[1] != '"'); p++) {
            out[n++] = *p;
            if (*p == '"') p++; /* a doubled quote */
        }
        if (*p == '"') p++;
    } else {
        while (*p && *p != ',' && *p != '\n') out[n++] = *p++;
    }
    out[n] = 0;
    *s = p;
    return out;
}

static table parse_csv(const char *text) {
    table t = {0};
    int cap = 0, col = 0, header = 1;
    for (const char *p = text; *p;) {
        int quoted;
        char *f = csv_field(&p, &quoted);
        if (header) {
            if (t.n_cols < 32) t.names[t.n_cols++] = f;
            else free(f);
        } else if (col >= t.n_cols) {
            t.bad = 1;
            free(f);
        } else {
            if (col == 0 && t.n_rows * t.n_cols + t.n_cols > cap) {
                cap = cap ? 2 * cap : 64 * t.n_cols;
                t.cells = realloc(t.cells, (size_t)cap * sizeof(cell));
            }
            cell *c = &t.cells[t.n_rows * t.n_cols + col];
            *c = (cell){.null = !quoted && !f[0], .num = f[0] ? strtod(f, NULL) : NAN, .str = f};
            col++;
        }
        if (*p == ',') {
            p++;
            continue;
        }
        if (*p == '\n') p++;
        if (!header) {
            t.bad |= col != t.n_cols;
            t.n_rows++;
        }
        header = 0;
        col = 0;
    }
    return t;
}

static table parse_jsonl(const char *text) {
    table t = {0};
    int cap = 0;
    for (const char *line = text; *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        cJSON *obj = cJSON_ParseWithLength(line, len);
        line += len + (end != NULL);
        if (!cJSON_IsObject(obj)) {
            t.bad = 1;
            cJSON_Delete(obj);
            continue;
        }
        int col = 0;
        if (t.n_rows == 0)
            for (cJSON *v = obj->child; v && t.n_cols < 32; v = v->next) t.names[t.n_cols++] = strdup(v->string);
        if ((t.n_rows + 1) * t.n_cols > cap) {
            cap = cap ? 2 * cap : 64 * t.n_cols;
            t.cells = realloc(t.cells, (size_t)cap * sizeof(cell));
        }
        for (cJSON *v = obj->child; v; v = v->next, col++) {
            if (col >= t.n_cols || strcmp(v->string, t.names[col]) != 0) {
                t.bad = 1;
                break;
            }
            t.cells[t.n_rows * t.n_cols + col] = (cell){
                .null = cJSON_IsNull(v), .num = cJSON_IsNumber(v) ? v->valuedouble : NAN,
                .str = cJSON_IsString(v) ? strdup(v->valuestring) : NULL};
        }
        t.bad |= col != t.n_cols;
        if (col == t.n_cols) t.n_rows++;
        cJSON_Delete(obj);
    }
    return t;
}

static const cell *get(const table *t, int row, const char *name) {
    static cell missing = {1, NAN, NULL};
    for (int c = 0; c < t->n_cols; c++)
        if (strcmp(t->names[c], name) == 0 && row < t->n_rows) return &t->cells[row * t->n_cols + c];
    test_fail(__FILE__, __LINE__, "no column %s or row %d", name, row);
    return &missing;
}

/* expect NAN: the cell must be empty / null. */
static void check_num(const table *t, int row, const char *name, double expect, double tol) {
    const cell *c = get(t, row, name);
    if (isnan(expect)) CHECKF(c->null, "row %d %s: expected empty, got %g", row, name, c->num);
    else CHECKF(!c->null && fabs(c->num - expect) <= tol * fmax(1, fabs(expect)),
                "row %d %s: %.9g, expected %.9g", row, name, c->num, expect);
}

static void check_text(const table *t, int row, const char *name, const char *expect) {
    const cell *c = get(t, row, name);
    CHECKF(c->str && strcmp(c->str, expect) == 0, "row %d %s: '%s', expected '%s'", row, name,
           c->str ? c->str : "(null)", expect);
}

static void check_leading_columns(const table *t, const char *const *expect) {
    for (int c = 0; expect[c]; c++)
        CHECKF(c < t->n_cols && strcmp(t->names[c], expect[c]) == 0, "column %d: '%s', expected '%s'",
               c, c < t->n_cols ? t->names[c] : "(none)", expect[c]);
}

static table export_table(const char *db, const char *what, const char *format, int bits, int64_t item) {
    const char *out = tpath("export.out");
    es_error err = {{0}};
    int rc = es_trace_export_item(db, what, format, out, bits, item, &err);
    CHECKF(rc == 0, "export %s %s: %s", what, format, err.msg);
    char *text = slurp(out);
    table t = strcmp(format, "csv") == 0 ? parse_csv(text ? text : "") : parse_jsonl(text ? text : "");
    CHECK(!t.bad);
    free(text);
    return t;
}

/* ------------------------------------------------------- round trips -- */

static const char *const TOKEN_COLS[] = {"item", "step", "pos", "is_prompt", "token_id", "token_text",
    "logit_entropy", "logit_varentropy", "attn_entropy_mean", "attn_varentropy_mean", NULL};
static const char *const HEAD_COLS[] = {"item", "step", "pos", "is_prompt", "layer", "head",
    "attn_entropy", "attn_varentropy", NULL};

static void check_tokens(const table *t, int bits) {
    double e = bits ? 1 / LN2 : 1, v = bits ? 1 / (LN2 * LN2) : 1;
    check_leading_columns(t, TOKEN_COLS);
    CHECK_INT(t->n_rows, 2 * FX_ROWS);
    for (int i = 0; i < t->n_rows && i < 2 * FX_ROWS; i++) {
        const fx_row *r = &FX[i % FX_ROWS];
        int k = i % FX_ROWS;
        check_num(t, i, "item", 1 + i / FX_ROWS, 0);
        check_num(t, i, "step", r->step < 0 ? NAN : r->step, 0);
        check_num(t, i, "pos", r->pos, 0);
        check_num(t, i, "is_prompt", r->step < 0, 0);
        check_num(t, i, "token_id", r->token_id, 0);
        check_text(t, i, "token_text", r->expect_text);
        check_num(t, i, "logit_entropy", r->logit_entropy * e, 1e-12);
        check_num(t, i, "logit_varentropy", r->logit_varentropy * v, 1e-12);
        check_num(t, i, "token_logprob", r->token_logprob * e, 1e-12);
        check_num(t, i, "attn_entropy_mean", r->probes ? (1.25 + k) * e : NAN, 1e-12);
        check_num(t, i, "attn_varentropy_mean", r->probes ? LN2 * LN2 * (k + 1) * v : NAN, 1e-12);
        check_num(t, i, "attn_entropy_norm_mean", r->probes && r->pos ? (1.25 + k) / log(r->pos + 1.0) : NAN, 1e-12);
        check_num(t, i, "row", k, 0);
        check_num(t, i, "run", 1, 0);
        if (i < FX_ROWS) check_text(t, i, "key", "q1");
        else check_num(t, i, "key", NAN, 0);
    }
    if (bits && t->n_rows > 3) { /* the round values of row 3, in bits */
        check_num(t, 3, "logit_entropy", 2.0, 1e-12);
        check_num(t, 3, "logit_varentropy", 3.0, 1e-12);
        check_num(t, 3, "token_logprob", -3.0, 1e-12);
        check_num(t, 3, "attn_varentropy_mean", 4.0, 1e-12);
    }
}

static void check_heads(const table *t, int bits, int n_items) {
    check_leading_columns(t, HEAD_COLS);
    CHECK_INT(t->n_rows, n_items * FX_PROBE_ROWS * FX_LH);
    for (int i = 0; i < t->n_rows && i < n_items * FX_PROBE_ROWS * FX_LH; i++) {
        int r = i / FX_LH % FX_PROBE_ROWS, hi = i % FX_LH, l = hi / FX_H, h = hi % FX_H;
        check_num(t, i, "step", FX[r].step < 0 ? NAN : FX[r].step, 0);
        check_num(t, i, "pos", FX[r].pos, 0);
        check_num(t, i, "is_prompt", FX[r].step < 0, 0);
        check_num(t, i, "layer", l, 0);
        check_num(t, i, "head", h, 0);
        double eb = fx_entropy_bits(r, hi), vb = fx_varentropy_bits(r, hi);
        check_num(t, i, "attn_entropy", bits ? eb : eb * LN2, 1e-6);
        check_num(t, i, "attn_varentropy", bits ? vb : vb * LN2 * LN2, 1e-6);
        check_num(t, i, "attn_entropy_norm", FX[r].pos ? eb * LN2 / log(FX[r].pos + 1.0) : NAN, 1e-6);
        check_num(t, i, "layer_agreement", fx_agreement(r, l), 1e-7);
        check_num(t, i, "layer_interaction", fx_interaction(r, l), 1e-7);
        check_num(t, i, "token_id", FX[r].token_id, 0);
    }
}

static void round_trips(void) {
    TEST("trace: tokens export, CSV and JSONL, nats and bits, read back value by value") {
        const char *db = fx_trace();
        for (int bits = 0; bits <= 1; bits++) {
            table csv = export_table(db, "tokens", "csv", bits, 0);
            check_tokens(&csv, bits);
            table json = export_table(db, "tokens", "jsonl", bits, 0);
            check_tokens(&json, bits);
            table_free(&csv);
            table_free(&json);
        }
    }
    TEST("trace: heads export, CSV and JSONL, nats and bits; rows without probes have none") {
        const char *db = fx_trace();
        for (int bits = 0; bits <= 1; bits++) {
            table csv = export_table(db, "heads", "csv", bits, 0);
            check_heads(&csv, bits, 2);
            table json = export_table(db, "heads", "jsonl", bits, 0);
            check_heads(&json, bits, 2);
            table_free(&csv);
            table_free(&json);
        }
        table one = export_table(db, "heads", "csv", 0, 2);
        check_heads(&one, 0, 1);
        for (int i = 0; i < one.n_rows; i++) check_num(&one, i, "item", 2, 0);
        table_free(&one);
    }
    TEST("trace: CSV quoting per RFC 4180 and U+FFFD for bytes that are not UTF-8, byte for byte") {
        const char *out = tpath("raw.csv");
        CHECK_INT(es_trace_export_item(fx_trace(), "tokens", "csv", out, 0, 1, NULL), 0);
        char *text = slurp(out);
        CHECK(text && strstr(text, "\n1,,1,1,450,\"a,b\","));
        CHECK(text && strstr(text, ",\"say \"\"x\"\"\","));
        CHECK(text && strstr(text, ",\"line\nbreak\r\","));
        CHECK(text && strstr(text, ",228,\xEF\xBF\xBD\xEF\xBF\xBD,"));
        free(text);
        out = tpath("raw.jsonl");
        CHECK_INT(es_trace_export_item(fx_trace(), "tokens", "jsonl", out, 0, 1, NULL), 0);
        text = slurp(out);
        CHECK(text && strstr(text, "{\"item\":1,\"step\":null,\"pos\":0,\"is_prompt\":1,\"token_id\":1,"));
        CHECK(text && strstr(text, "\"token_text\":\"line\\nbreak\\r\""));
        CHECK(text && strstr(text, "\"token_text\":\"\xC3\xA9\\ufffd\""));
        free(text);
    }
}

/* ------------------------------------------------------ store itself -- */

static float le_float(const unsigned char *p) {
    uint32_t u = p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* The README's plain-SQL decoding of one float32 of the blob (value k). */
static const char *const SQL_DECODE =
    "WITH b AS (SELECT hex(substr(heads, 4 * ?1 + 1, 4)) AS x FROM tokens WHERE item_id = 1 AND row = ?2),"
    " u AS (SELECT (instr('0123456789ABCDEF', substr(x, 7, 1)) - 1) * 268435456"
    "  + (instr('0123456789ABCDEF', substr(x, 8, 1)) - 1) * 16777216"
    "  + (instr('0123456789ABCDEF', substr(x, 5, 1)) - 1) * 1048576"
    "  + (instr('0123456789ABCDEF', substr(x, 6, 1)) - 1) * 65536"
    "  + (instr('0123456789ABCDEF', substr(x, 3, 1)) - 1) * 4096"
    "  + (instr('0123456789ABCDEF', substr(x, 4, 1)) - 1) * 256"
    "  + (instr('0123456789ABCDEF', substr(x, 1, 1)) - 1) * 16"
    "  + (instr('0123456789ABCDEF', substr(x, 2, 1)) - 1) AS u FROM b),"
    " f AS (SELECT u >> 31 AS s, (u >> 23) & 255 AS e, u & 8388607 AS m FROM u)"
    " SELECT CASE WHEN e = 255 THEN NULL WHEN e < 66 THEN 0.0 ELSE (1 - 2 * s) * (1 + m / 8388608.0)"
    "  * CASE WHEN e >= 127 THEN 1 << (e - 127) ELSE 1.0 / (1 << (127 - e)) END END FROM f";

static void store(void) {
    TEST("trace: schema, run and item columns, blob layout decoded by hand and in plain SQL") {
        const char *db = fx_trace();
        CHECK_INT(sql_int(db, "PRAGMA user_version"), ES_TRACE_SCHEMA_VERSION);
        CHECK_INT(sql_int(db, "SELECT count(*) FROM pragma_journal_mode WHERE journal_mode = 'wal'"), 1);
        CHECK_INT(sql_int(db, "SELECT count(*) FROM runs WHERE n_layers = 2 AND n_heads = 3 AND"
                              " created GLOB '20[0-9][0-9]-[01][0-9]-[0-3][0-9]T*Z' AND"
                              " settings = '{\"temperature\": 0, \"seed\": 1}' AND entroscope_version != ''"), 1);
        CHECK_INT(sql_int(db, "SELECT count(*) FROM items WHERE n_prompt = 3 AND n_generated = 3 AND"
                              " stop_reason = 'length' AND labels = '{\"correct\": true}' AND"
                              " prompt = 'prompt, \"quoted\"' AND output = 'out'"), 2);
        CHECK_INT(sql_int(db, "SELECT idx FROM items WHERE id = 2"), 1);
        CHECK_INT(sql_int(db, "SELECT count(*) FROM tokens WHERE heads IS NULL"), 2);
        CHECK_INT(sql_int(db, "SELECT count(*) FROM tokens WHERE step IS NULL AND is_prompt = 1"), 6);
        CHECK_INT(sql_int(db, "SELECT count(*) FROM tokens WHERE typeof(token_text) = 'blob'"), 4);
        CHECK_INT(sql_int(db, "SELECT count(*) FROM tokens WHERE token_text = CAST(x'E4B8' AS BLOB)"), 2);
        CHECK_INT(sql_int(db, "SELECT count(*) FROM tokens WHERE logit_entropy IS NULL"), 6);
        sqlite3 *h = NULL;
        sqlite3_stmt *st = NULL;
        sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL);
        sqlite3_prepare_v2(h, "SELECT heads FROM tokens WHERE item_id = 1 AND row = 1", -1, &st, NULL);
        CHECK(sqlite3_step(st) == SQLITE_ROW);
        const unsigned char *b = sqlite3_column_blob(st, 0);
        CHECK_INT(sqlite3_column_bytes(st, 0), 4 * (2 * FX_LH + 2 * FX_L));
        if (b && sqlite3_column_bytes(st, 0) == 4 * (2 * FX_LH + 2 * FX_L)) {
            CHECK_NEAR(le_float(b + 4 * (1 * FX_H + 2)), log(2.0 + 5 + 1), 1e-6);  /* entropy (1,2) */
            CHECK_NEAR(le_float(b + 4 * (FX_LH + 4)), 2.5 * LN2 * LN2, 1e-6);       /* varentropy (1,1) */
            CHECK(isnan(le_float(b + 4 * (FX_LH + 5))));                          /* the NaN survives */
            CHECK_NEAR(le_float(b + 4 * (2 * FX_LH + 1)), 0.26, 1e-6);              /* agreement 1 */
            CHECK_NEAR(le_float(b + 4 * (2 * FX_LH + FX_L + 0)), 4.5, 1e-6);        /* interaction 0 */
        }
        sqlite3_finalize(st);
        sqlite3_prepare_v2(h, SQL_DECODE, -1, &st, NULL);
        static const struct { int k, row; double v; } sql_cases[] = {
            {5, 1, 3 * LN2}, {0, 0, LN2}, {FX_LH + 4, 1, 2.5 * LN2 * LN2}, {2 * FX_LH + 1, 1, 0.26},
            {2 * FX_LH + FX_L, 1, 4.5},
        };
        for (size_t i = 0; i < sizeof sql_cases / sizeof sql_cases[0]; i++) {
            sqlite3_reset(st);
            sqlite3_bind_int(st, 1, sql_cases[i].k);
            sqlite3_bind_int(st, 2, sql_cases[i].row);
            CHECK(sqlite3_step(st) == SQLITE_ROW);
            CHECK_NEAR(sqlite3_column_double(st, 0), sql_cases[i].v, 1e-6);
        }
        sqlite3_reset(st);
        sqlite3_bind_int(st, 1, FX_LH + 5); /* the NaN varentropy of row 1 */
        sqlite3_bind_int(st, 2, 1);
        CHECK(sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_NULL);
        sqlite3_finalize(st);
        sqlite3_close(h);
    }
    TEST("trace: keys are unique within a run, NULL keys are not; es_trace_has_item") {
        const char *db = tpath("keys.db");
        es_error err = {{0}};
        es_trace *t = es_trace_open(db, &err);
        CHECKF(t != NULL, "%s", err.msg);
        int64_t run1 = fx_add_run(t), run2 = fx_add_run(t);
        CHECK_INT(es_trace_has_item(t, run1, "q1"), 0);
        CHECK(fx_commit(t, run1, "q1", &err) > 0);
        CHECK_INT(es_trace_has_item(t, run1, "q1"), 1);
        CHECK_INT(es_trace_has_item(t, run2, "q1"), 0);
        CHECK_INT(fx_commit(t, run1, "q1", &err), -1);
        CHECKF(strstr(err.msg, "keys.db: run 1 already has an item with key 'q1'"), "%s", err.msg);
        CHECK(fx_commit(t, run2, "q1", &err) > 0);
        CHECK(fx_commit(t, run1, NULL, &err) > 0);
        CHECK(fx_commit(t, run1, NULL, &err) > 0);
        CHECK(fx_commit(t, run1, "\xFF odd", &err) > 0);
        CHECK_INT(es_trace_has_item(t, run1, "\xFF odd"), 1);
        CHECK_INT(es_trace_has_item(t, run1, NULL), 0);
        es_trace_close(t);
        CHECK_INT(sql_int(db, "SELECT count(*) FROM items"), 5);
        /* idx counts the run's items in commit order: 0, 1, 2, 3 and 0 */
        CHECK_INT(sql_int(db, "SELECT count(*) FROM items i WHERE idx = (SELECT count(*) FROM items j"
                              " WHERE j.run_id = i.run_id AND j.id < i.id)"), 5);
        CHECK_INT(sql_int(db, "SELECT max(idx) FROM items WHERE run_id = 1"), 3);
        CHECK_INT(sql_int(db, "SELECT count(*) FROM tokens"), 5 * FX_ROWS);
    }
    TEST("trace: item times are stored when set, absent otherwise") {
        const char *db = tpath("times.db");
        es_error err = {{0}};
        es_trace *t = es_trace_open(db, &err);
        CHECKF(t != NULL, "%s", err.msg);
        int64_t run = fx_add_run(t);
        es_trace_item *item = es_trace_item_new(run, "timed", "p");
        es_trace_item_set_times(item, 0.25, 1.5);
        int64_t timed = es_trace_item_commit(t, item, "o", "eog", NULL, &err);
        es_trace_item_free(item);
        CHECK(timed > 0);
        CHECK(fx_commit(t, run, "untimed", &err) > 0);
        es_trace_close(t);
        CHECK_INT(sql_int(db, "SELECT count(*) FROM item_times"), 1);
        CHECK_INT(sql_int(db, "SELECT count(*) FROM item_times t JOIN items i ON i.id = t.item_id"
                              " WHERE i.key = 'timed' AND t.prefill_s = 0.25 AND t.decode_s = 1.5"), 1);
    }
    TEST("trace: es_utf8_char_len against hand cases") {
        static const struct { const char *s; size_t n, len; } cases[] = {
            {"a", 1, 1}, {"\xC3\xA9", 2, 2}, {"\xE2\x82\xAC", 3, 3}, {"\xF0\x9F\x98\x80", 4, 4},
            {"\xC0\x80", 2, 0}, {"\xC1\xBF", 2, 0}, {"\xE0\x80\x80", 3, 0}, {"\xED\xA0\x80", 3, 0},
            {"\xF4\x90\x80\x80", 4, 0}, {"\xF5\x80\x80\x80", 4, 0}, {"\xE4\xB8", 2, 0}, {"\x80", 1, 0},
            {"\xFF", 1, 0}, {"", 1, 0}, {"\xF4\x8F\xBF\xBF", 4, 4}, {"\xED\x9F\xBF", 3, 3},
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
            CHECKF(es_utf8_char_len((const unsigned char *)cases[i].s, cases[i].n) == cases[i].len,
                   "case %zu", i);
    }
}

/* -------------------------------------------------------- bad inputs -- */

static void bad_files(void) {
    TEST("trace: files that are not a trace of this schema are one-line errors naming the file") {
        char junk[2048];
        for (size_t i = 0; i < sizeof junk - 1; i++) junk[i] = (char)('a' + i % 26);
        junk[sizeof junk - 1] = 0;
        write_text(tpath("junk.db"), junk);
        sql_exec(tpath("other.db"), "CREATE TABLE notes (x TEXT); INSERT INTO notes VALUES ('mine');");
        es_trace_close(es_trace_open(tpath("v99.db"), NULL));
        sql_exec(tpath("v99.db"), "PRAGMA user_version = 99");
        mkdir(tpath("dir.db"), 0755);
        static const struct { const char *file, *expect; } cases[] = {
            {"junk.db", "junk.db: not an entroscope trace (file is not a database)"},
            {"other.db", "other.db: not an entroscope trace (a SQLite database of something else)"},
            {"v99.db", "v99.db: trace schema version 99, this entroscope (" ENTROSCOPE_VERSION ") reads version 1"},
            {"dir.db", "dir.db: cannot open"},
            {"no/such/dir.db", "no/such/dir.db: cannot open"},
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            es_error err = {{0}};
            CHECK(es_trace_open(tpath(cases[i].file), &err) == NULL);
            CHECKF(strstr(err.msg, cases[i].expect) && !strchr(err.msg, '\n'), "open: %s", err.msg);
            err.msg[0] = 0;
            CHECK_INT(es_trace_export(tpath(cases[i].file), "tokens", "csv", tpath("never.csv"), 0, &err), -1);
            CHECKF(strstr(err.msg, cases[i].expect), "export: %s", err.msg);
        }
        CHECK(access(tpath("never.csv"), F_OK) != 0);
        /* somebody else's database is left as it was: not switched to WAL */
        CHECK_INT(sql_int(tpath("other.db"), "SELECT count(*) FROM pragma_journal_mode WHERE journal_mode = 'delete'"), 1);
        char *after = slurp(tpath("junk.db"));
        CHECK(after && strcmp(after, junk) == 0);
        free(after);
        es_error err = {{0}};
        CHECK_INT(es_trace_export(tpath("missing.db"), "tokens", "csv", NULL, 0, &err), -1);
        CHECKF(strstr(err.msg, "missing.db: cannot open"), "%s", err.msg);
        CHECK(access(tpath("missing.db"), F_OK) != 0); /* export never creates a database */
    }
    TEST("trace: bad export arguments, unwritable output, a corrupt blob leaves the old file") {
        const char *db = fx_trace();
        es_error err = {{0}};
        CHECK_INT(es_trace_export(db, "rows", "csv", NULL, 0, &err), -1);
        CHECKF(strstr(err.msg, "unknown table 'rows' (tokens or heads)"), "%s", err.msg);
        CHECK_INT(es_trace_export(db, "tokens", "xml", NULL, 0, &err), -1);
        CHECKF(strstr(err.msg, "unknown format 'xml' (csv or jsonl)"), "%s", err.msg);
        CHECK_INT(es_trace_export(db, "tokens", "csv", tpath("no/such/dir/out.csv"), 0, &err), -1);
        CHECKF(strstr(err.msg, "out.csv: cannot create: No such file or directory"), "%s", err.msg);
        CHECK_INT(es_trace_export_item(db, "tokens", "csv", tpath("x.csv"), 0, 99, &err), -1);
        CHECKF(strstr(err.msg, "fixture.db: no item 99"), "%s", err.msg);
        /* a copy whose blob is cut short */
        const char *bad = tpath("badblob.db");
        es_trace *t = es_trace_open(bad, &err);
        fx_commit(t, fx_add_run(t), "a", &err);
        es_trace_close(t);
        CHECK_INT(sql_exec(bad, "UPDATE tokens SET heads = x'0000803f' WHERE row = 2"), SQLITE_OK);
        write_text(tpath("old.csv"), "old\n");
        CHECK_INT(es_trace_export(bad, "heads", "csv", tpath("old.csv"), 0, &err), -1);
        CHECKF(strstr(err.msg, "badblob.db: item 1 row 2: heads blob of 4 bytes does not fit the run's 2 layers x 3 heads"),
               "%s", err.msg);
        char *old = slurp(tpath("old.csv"));
        CHECK(old && strcmp(old, "old\n") == 0);
        free(old);
        DIR *d = opendir(test_tmpdir());
        for (struct dirent *e; d && (e = readdir(d));) CHECKF(!strstr(e->d_name, ".tmp-"), "left behind: %s", e->d_name);
        if (d) closedir(d);
        CHECK_INT(es_trace_export(bad, "tokens", "csv", tpath("old.csv"), 0, &err), 0); /* tokens need no blob */
    }
    TEST("trace: a commit that fails writes nothing; bad runs, rows and labels are refused") {
        const char *db = tpath("refuse.db");
        es_error err = {{0}};
        es_trace *t = es_trace_open(db, &err);
        int64_t run = fx_add_run(t);
        CHECK_INT(fx_commit(t, 42, "a", &err), -1);
        CHECKF(strstr(err.msg, "refuse.db: run 42 does not exist"), "%s", err.msg);
        es_trace_item *item = es_trace_item_new(run, "b", "p");
        float v[12] = {0};
        es_attn_probe wrong = {.pos = 0, .n_layers = 3, .n_heads = 2, .entropy = v, .varentropy = v,
                               .agreement = v, .interaction = v};
        es_trace_token tok = {0, 0, 5, "x", 1, 0, 0, 0, NULL, NULL};
        CHECK_INT(es_trace_item_add(item, &tok), 0);
        tok.attn = &wrong;
        CHECK_INT(es_trace_item_add(item, &tok), 0);
        CHECK_INT(es_trace_item_commit(t, item, "o", "eog", NULL, &err), -1);
        CHECKF(strstr(err.msg, "row 1 has probes of 3 layers x 2 heads, the run 2 x 3"), "%s", err.msg);
        es_trace_item_free(item);
        item = es_trace_item_new(run, "c", "p");
        CHECK_INT(es_trace_item_commit(t, item, "o", "eog", "[1, 2]", &err), -1);
        CHECKF(strstr(err.msg, "item labels are not a JSON object"), "%s", err.msg);
        tok = (es_trace_token){0, 0, 5, NULL, 3, 0, 0, 0, NULL, NULL};
        CHECK_INT(es_trace_item_add(item, &tok), -1);
        wrong.n_layers = 0;
        tok = (es_trace_token){0, 0, 5, "", 0, 0, 0, 0, &wrong, NULL};
        CHECK_INT(es_trace_item_add(item, &tok), -1);
        CHECK_INT(es_trace_item_add(NULL, &tok), -1);
        es_trace_item_free(item);
        es_trace_run bad_run = {"generate", "m", "", 2, 3, "not json"};
        CHECK_INT(es_trace_add_run(t, &bad_run, &err), -1);
        CHECKF(strstr(err.msg, "run settings are not a JSON object"), "%s", err.msg);
        bad_run = (es_trace_run){"generate", "m", "", -1, 3, NULL};
        CHECK_INT(es_trace_add_run(t, &bad_run, &err), -1);
        es_trace_close(t);
        CHECK_INT(sql_int(db, "SELECT count(*) FROM items"), 0);
        CHECK_INT(sql_int(db, "SELECT count(*) FROM tokens"), 0);
        CHECK_INT(sql_int(db, "SELECT count(*) FROM runs"), 1);
    }
}

/* ------------------------------------------------- kill and concurrency -- */

enum { KILL_L = 4, KILL_H = 8 };

/* Commits items of 20..69 rows, with probes, until n items or killed;
 * writes a byte to ready_fd (if >= 0) after its first commit. run_id 0:
 * adds a run of its own. */
static void committer(const char *db, int64_t run_id, int n_items, int ready_fd) {
    es_error e;
    es_trace *t = es_trace_open(db, &e);
    if (!t) {
        fprintf(stderr, "committer: %s\n", e.msg);
        _exit(3);
    }
    es_trace_run run = {"writer", "m", "", KILL_L, KILL_H, NULL};
    if (run_id == 0 && (run_id = es_trace_add_run(t, &run, NULL)) < 0) _exit(7);
    float v[KILL_L * KILL_H];
    for (int i = 0; i < KILL_L * KILL_H; i++) v[i] = 0.5f + (float)i;
    es_attn_probe probe = {0, KILL_L, KILL_H, v, v, v, v, 1.0, 2.0};
    for (int n = 0; n < n_items; n++) {
        es_trace_item *item = es_trace_item_new(run_id, NULL, "kill");
        for (int r = 0, rows = 20 + n % 50; r < rows; r++) {
            es_trace_token tok = {r < 5 ? -1 : r - 5, r, r, "tok", 3, 0.5, 0.25, -1, &probe, NULL};
            if (es_trace_item_add(item, &tok) < 0) _exit(4);
        }
        if (es_trace_item_commit(t, item, "out", "length", NULL, NULL) < 0) _exit(5);
        es_trace_item_free(item);
        if (n == 0 && ready_fd >= 0 && write(ready_fd, "r", 1) != 1) _exit(6);
    }
    es_trace_close(t);
    _exit(0);
}

static int64_t kill_run(const char *db) {
    es_trace *t = es_trace_open(db, NULL);
    es_trace_run run = {"kill test", "m", "", KILL_L, KILL_H, NULL};
    int64_t id = t ? es_trace_add_run(t, &run, NULL) : -1;
    es_trace_close(t);
    return id;
}

static void check_whole_items(const char *db) {
    sqlite3 *h = NULL;
    sqlite3_stmt *st = NULL;
    CHECK(sqlite3_open_v2(db, &h, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK);
    CHECK(sqlite3_prepare_v2(h, "PRAGMA integrity_check", -1, &st, NULL) == SQLITE_OK);
    CHECK(sqlite3_step(st) == SQLITE_ROW);
    const char *res = (const char *)sqlite3_column_text(st, 0);
    CHECKF(res && strcmp(res, "ok") == 0, "integrity_check: %s", res ? res : "(null)");
    sqlite3_finalize(st);
    sqlite3_close(h);
    CHECK_INT(sql_int(db, "SELECT count(*) FROM items i WHERE n_prompt + n_generated !="
                          " (SELECT count(*) FROM tokens WHERE item_id = i.id)"), 0);
    CHECK_INT(sql_int(db, "SELECT count(*) FROM tokens WHERE item_id NOT IN (SELECT id FROM items)"), 0);
    CHECK_INT(sql_int(db, "SELECT count(*) FROM items WHERE n_prompt != 5 OR n_generated NOT BETWEEN 15 AND 64"), 0);
}

static void kill_and_concurrency(void) {
    TEST("trace: SIGKILL at random moments during commits leaves only whole items") {
        const char *db = tpath("kill.db");
        int64_t run = kill_run(db);
        CHECK(run > 0);
        uint32_t rng = 12345;
        long long before = 0;
        for (int round = 0; round < 6; round++) {
            int ready[2];
            CHECK(pipe(ready) == 0);
            fflush(stdout);
            pid_t pid = fork();
            if (pid == 0) committer(db, run, 1000000, ready[1]);
            close(ready[1]);
            if (pid < 0) { /* never kill(-1, ...) */
                close(ready[0]);
                test_fail(__FILE__, __LINE__, "fork failed");
                break;
            }
            char byte;
            CHECKF(read(ready[0], &byte, 1) == 1, "round %d: the child did not commit", round);
            close(ready[0]);
            rng = rng * 1664525u + 1013904223u;
            usleep((rng >> 8) % 40000); /* 0..40 ms into its run of commits */
            kill(pid, SIGKILL);
            int st = 0;
            waitpid(pid, &st, 0);
            CHECKF(WIFSIGNALED(st), "round %d: the child ended by itself (status %d)", round, st);
            long long now = sql_int(db, "SELECT count(*) FROM items");
            CHECKF(now > before, "round %d: no item committed (%lld)", round, now);
            before = now;
            check_whole_items(db);
        }
        CHECK_INT(es_trace_export_item(db, "heads", "csv", tpath("kill.csv"), 0, 1, NULL), 0);
    }
    TEST("trace: two processes create one trace and commit into it at once, none fails") {
        const char *db = tpath("two.db");
        int64_t run = 0; /* each adds its own run to the file that neither finds */
        fflush(stdout);
        pid_t a = fork();
        if (a == 0) committer(db, run, 40, -1);
        pid_t b = fork();
        if (b == 0) committer(db, run, 40, -1);
        int sa = -1, sb = -1;
        if (a > 0) waitpid(a, &sa, 0);
        if (b > 0) waitpid(b, &sb, 0);
        CHECKF(WIFEXITED(sa) && WEXITSTATUS(sa) == 0, "writer a: status %d", sa);
        CHECKF(WIFEXITED(sb) && WEXITSTATUS(sb) == 0, "writer b: status %d", sb);
        CHECK_INT(sql_int(db, "SELECT count(*) FROM items"), 80);
        CHECK_INT(sql_int(db, "SELECT count(*) FROM runs"), 2);
        CHECK_INT(sql_int(db, "SELECT count(DISTINCT idx) FROM items"), 40);
        CHECK_INT(sql_int(db, "SELECT count(DISTINCT run_id || ':' || idx) FROM items"), 80);
        check_whole_items(db);
    }
}

/* --------------------------------------------------------------- CLI -- */

typedef struct cli_result {
    int status;
    char *out, *err;
} cli_result;

static void cli_result_free(cli_result *r) {
    free(r->out);
    free(r->err);
}

static const char *binary(void) {
    const char *bin = getenv("ENTROSCOPE_BIN");
    return bin && bin[0] ? bin : "build/entroscope";
}

/* Runs ENTROSCOPE_BIN (default build/entroscope) with a NULL-terminated list. */
static cli_result run_cli(const char *const *args) {
    const char *argv[24] = {binary()};
    int n = 1;
    for (int i = 0; args[i] && n < 23; i++) argv[n++] = args[i];
    argv[n] = NULL;
    const char *out = tpath("cli.out"), *err = tpath("cli.err");
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644), e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (o < 0 || e < 0) _exit(127);
        dup2(o, 1);
        dup2(e, 2);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    int st = -1;
    if (pid > 0) waitpid(pid, &st, 0);
    cli_result r = {WIFEXITED(st) ? WEXITSTATUS(st) : -1, slurp(out), slurp(err)};
    return r;
}

static int count_lines(const char *s) {
    int n = 0;
    for (; s && *s; s++) n += *s == '\n';
    return n;
}

static void cli(void) {
    if (access(binary(), X_OK) != 0) {
        TEST("trace: entroscope export") test_skip("no entroscope binary (ENTROSCOPE_BIN)");
        return;
    }
    TEST("trace: entroscope export writes files and stdout, --bits, --item, --help") {
        const char *db = fx_trace(), *out = tpath("cli.csv");
        cli_result r = run_cli((const char *[]){"export", db, "-o", out, NULL});
        CHECKF(r.status == 0, "status %d: %s", r.status, r.err);
        CHECK(r.out && r.out[0] == 0);
        char *text = slurp(out);
        table t = parse_csv(text ? text : "");
        check_tokens(&t, 0);
        table_free(&t);
        free(text);
        cli_result_free(&r);
        r = run_cli((const char *[]){"export", db, "--what", "heads", "--format", "jsonl", "--bits", "--item", "2", NULL});
        CHECKF(r.status == 0, "status %d: %s", r.status, r.err);
        t = parse_jsonl(r.out ? r.out : "");
        CHECK(!t.bad);
        check_heads(&t, 1, 1);
        table_free(&t);
        cli_result_free(&r);
        r = run_cli((const char *[]){"export", "--format=jsonl", db, NULL});
        CHECK_INT(r.status, 0);
        t = parse_jsonl(r.out ? r.out : "");
        check_tokens(&t, 0);
        table_free(&t);
        cli_result_free(&r);
        r = run_cli((const char *[]){"export", "--help", NULL});
        CHECK_INT(r.status, 0);
        CHECK(r.out && strstr(r.out, "usage: entroscope export DB"));
        cli_result_free(&r);
    }
    TEST("trace: entroscope export bad arguments and files: exit 2, one line on stderr") {
        const char *db = fx_trace();
        write_text(tpath("notdb.db"), "this is not a database, just some words in a file long enough\n");
        static const struct { const char *args[8]; const char *expect; } cases[] = {
            {{"export"}, "export: give exactly one trace DB"},
            {{"export", "a.db", "b.db"}, "export: give exactly one trace DB"},
            {{"export", "@db", "--what", "rows"}, "export: --what 'rows' is not tokens or heads"},
            {{"export", "@db", "--format", "xml"}, "export: --format 'xml' is not csv or jsonl"},
            {{"export", "@db", "--item", "0"}, "--item: '0' is not an item id"},
            {{"export", "@db", "--item", "two"}, "--item: 'two' is not a non-negative integer"},
            {{"export", "@db", "--item", "7"}, "fixture.db: no item 7"},
            {{"export", "@db", "--what"}, "export: option --what needs a value"},
            {{"export", "@db", "--frob"}, "export: unknown option '--frob'"},
            {{"export", "@db", "-o", "/nonexistent-dir/x.csv"}, "/nonexistent-dir/x.csv: cannot create"},
            {{"export", "@missing"}, "missing.db: cannot open"},
            {{"export", "@notdb"}, "notdb.db: not an entroscope trace (file is not a database)"},
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            const char *args[8] = {0};
            for (int k = 0; k < 7 && cases[i].args[k]; k++) {
                const char *a = cases[i].args[k];
                args[k] = strcmp(a, "@db") == 0 ? db : strcmp(a, "@missing") == 0 ? tpath("missing.db")
                        : strcmp(a, "@notdb") == 0 ? tpath("notdb.db") : a;
            }
            cli_result r = run_cli(args);
            CHECKF(r.status == 2, "case %zu: status %d", i, r.status);
            CHECKF(r.out && r.out[0] == 0, "case %zu: stdout '%s'", i, r.out ? r.out : "");
            CHECKF(r.err && count_lines(r.err) == 1 && strncmp(r.err, "entroscope: ", 12) == 0 &&
                   strstr(r.err, cases[i].expect), "case %zu: stderr '%s'", i, r.err ? r.err : "");
            cli_result_free(&r);
        }
    }
}

void suite_trace(void) {
    round_trips();
    store();
    bad_files();
    kill_and_concurrency();
    cli();
}
