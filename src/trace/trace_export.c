/* es_trace_export: a trace's tokens or per-head values as a long table, CSV
 * or JSON lines, for pandas, R or a spreadsheet.
 *
 *   tokens: one line per evaluated position
 *     item,step,pos,is_prompt,token_id,token_text,logit_entropy,
 *     logit_varentropy,attn_entropy_mean,attn_varentropy_mean,
 *     then token_logprob,attn_entropy_norm_mean,run,key,row,sampler_branch
 *     (the entropix branch that chose the token; empty/null otherwise)
 *   heads: one line per (position, layer, head) of the rows with probes
 *     item,step,pos,is_prompt,layer,head,attn_entropy,attn_varentropy,
 *     then attn_entropy_norm,layer_agreement,layer_interaction,token_id,run,key,row
 *
 * step is empty (CSV) / null (JSON) on prompt rows; so is any value not
 * measured (SQL NULL, NaN or infinite). Entropies are in nats, varentropies
 * in nats^2, unless bits: entropy / ln 2, varentropy / (ln 2)^2, log-prob /
 * ln 2. Normalised entropies (H / ln(pos+1), empty at pos 0), agreement and
 * interaction have no unit and do not change.
 *
 * Text is written as valid UTF-8 whatever the stored bytes: each byte that
 * is not part of a valid UTF-8 character becomes U+FFFD (in JSON as the
 * escape \ufffd). CSV follows RFC 4180 (a field holding a comma, quote, CR
 * or LF is quoted, quotes doubled) with LF line ends and a header line; a NUL
 * byte also becomes U+FFFD there, while JSON escapes it as \u0000.
 *
 * A file is written to a temporary name beside it and renamed at the end,
 * so it appears whole or not at all; stdout is streamed. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "trace/trace.h"
#include "util/error.h"

static const double LN2 = 0.693147180559945309417232121458;

static const char *const TOKEN_COLUMNS[] = {
    "item", "step", "pos", "is_prompt", "token_id", "token_text", "logit_entropy",
    "logit_varentropy", "attn_entropy_mean", "attn_varentropy_mean", "token_logprob",
    "attn_entropy_norm_mean", "run", "key", "row", "sampler_branch", NULL,
};
static const char *const HEAD_COLUMNS[] = {
    "item", "step", "pos", "is_prompt", "layer", "head", "attn_entropy", "attn_varentropy",
    "attn_entropy_norm", "layer_agreement", "layer_interaction", "token_id", "run", "key",
    "row", NULL,
};

/* ------------------------------------------------------------ writer -- */

/* Writes one table row by row; the same calls make CSV or JSON lines. */
typedef struct writer {
    FILE *f;
    int jsonl;
    const char *const *names; /* column names, NULL-terminated */
    int col;                  /* next column of the current row */
} writer;

static void w_header(writer *w) {
    if (w->jsonl) return;
    for (int i = 0; w->names[i]; i++) fprintf(w->f, "%s%s", i ? "," : "", w->names[i]);
    fputc('\n', w->f);
}

static void w_begin(writer *w) {
    w->col = 0;
    if (w->jsonl) fputc('{', w->f);
}

static void w_end(writer *w) {
    fputs(w->jsonl ? "}\n" : "\n", w->f);
}

static void w_key(writer *w) {
    if (w->col > 0) fputc(',', w->f);
    if (w->jsonl) {
        fputc('"', w->f);
        fputs(w->names[w->col], w->f);
        fputs("\":", w->f);
    }
    w->col++;
}

static void w_null(writer *w) {
    w_key(w);
    if (w->jsonl) fputs("null", w->f);
}

/* Integers are most of a heads table: written without printf's parsing. */
static void w_int(writer *w, int64_t v) {
    char buf[24], *p = buf + sizeof buf;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do *--p = (char)('0' + u % 10); while (u /= 10);
    if (v < 0) *--p = '-';
    w_key(w);
    fwrite(p, 1, (size_t)(buf + sizeof buf - p), w->f);
}

/* The shortest of a few precisions that reads back as the same value:
 * float32 values (and values computed from them, rounded to float) need at
 * most 9 digits, doubles 17. */
static void w_real(writer *w, double v, int from_float) {
    if (!isfinite(v)) {
        w_null(w);
        return;
    }
    char buf[40];
    static const int float_digits[] = {7, 8, 9}, double_digits[] = {15, 16, 17};
    const int *digits = from_float ? float_digits : double_digits;
    for (int i = 0; i < 3; i++) {
        snprintf(buf, sizeof buf, "%.*g", digits[i], v);
        double back = strtod(buf, NULL);
        if (from_float ? (float)back == (float)v : back == v) break;
    }
    w_key(w);
    fputs(buf, w->f);
}

/* A SQL value that may be NULL, as a double. */
static void w_column_real(writer *w, sqlite3_stmt *st, int col, double scale) {
    if (sqlite3_column_type(st, col) == SQLITE_NULL) w_null(w);
    else w_real(w, sqlite3_column_double(st, col) * scale, 0);
}

static void w_column_int(writer *w, sqlite3_stmt *st, int col) {
    if (sqlite3_column_type(st, col) == SQLITE_NULL) w_null(w);
    else w_int(w, sqlite3_column_int64(st, col));
}

static int csv_needs_quotes(const unsigned char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] == ',' || s[i] == '"' || s[i] == '\r' || s[i] == '\n') return 1;
    return 0;
}

static void put_json_char(FILE *f, unsigned char c) {
    switch (c) {
    case '"': fputs("\\\"", f); break;
    case '\\': fputs("\\\\", f); break;
    case '\n': fputs("\\n", f); break;
    case '\r': fputs("\\r", f); break;
    case '\t': fputs("\\t", f); break;
    case '\b': fputs("\\b", f); break;
    case '\f': fputs("\\f", f); break;
    default:
        if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
}

/* Stored bytes (TEXT or BLOB) as a valid UTF-8 field; see the file header. */
static void w_text(writer *w, const unsigned char *s, size_t n) {
    w_key(w);
    int quote = w->jsonl || csv_needs_quotes(s, n);
    if (quote) fputc('"', w->f);
    for (size_t i = 0; i < n;) {
        if (w->jsonl && s[i] < 0x80) {
            put_json_char(w->f, s[i++]);
            continue;
        }
        size_t k = es_utf8_char_len(s + i, n - i);
        if (k == 0) {
            fputs(w->jsonl ? "\\ufffd" : "\xEF\xBF\xBD", w->f);
            i++;
            continue;
        }
        if (!w->jsonl && s[i] == '"') fputc('"', w->f);
        fwrite(s + i, 1, k, w->f);
        i += k;
    }
    if (quote) fputc('"', w->f);
}

static void w_column_text(writer *w, sqlite3_stmt *st, int col) {
    if (sqlite3_column_type(st, col) == SQLITE_NULL) {
        w_null(w);
        return;
    }
    const unsigned char *s = sqlite3_column_blob(st, col); /* TEXT or BLOB, raw bytes */
    int n = sqlite3_column_bytes(st, col);
    w_text(w, s ? s : (const unsigned char *)"", n > 0 ? (size_t)n : 0);
}

/* ------------------------------------------------------------ tables -- */

/* H / ln(pos+1): 1 for uniform attention over the whole context. */
static double normalised(double entropy_nats, int64_t pos) {
    return pos > 0 ? entropy_nats / log((double)pos + 1.0) : NAN;
}

/* Columns shared by both queries, in the same slots. */
enum { C_ITEM, C_STEP, C_POS, C_IS_PROMPT, C_TOKEN_ID, C_RUN, C_KEY, C_ROW, C_FIRST_OWN };

static const char *const COMMON_SQL =
    "SELECT t.item_id, t.step, t.pos, t.is_prompt, t.token_id, i.run_id, i.key, t.row, ";
static const char *const FROM_SQL =
    " FROM tokens t JOIN items i ON i.id = t.item_id JOIN runs r ON r.id = i.run_id"
    " WHERE (?1 = 0 OR t.item_id = ?1)";

static void put_token_row(writer *w, sqlite3_stmt *st, int bits) {
    double e = bits ? 1 / LN2 : 1, v = bits ? 1 / (LN2 * LN2) : 1;
    int o = C_FIRST_OWN; /* token_text, logit H, V, attn H mean, V mean, logprob, branch */
    w_begin(w);
    w_column_int(w, st, C_ITEM);
    w_column_int(w, st, C_STEP);
    w_column_int(w, st, C_POS);
    w_column_int(w, st, C_IS_PROMPT);
    w_column_int(w, st, C_TOKEN_ID);
    w_column_text(w, st, o);
    w_column_real(w, st, o + 1, e);
    w_column_real(w, st, o + 2, v);
    w_column_real(w, st, o + 3, e);
    w_column_real(w, st, o + 4, v);
    w_column_real(w, st, o + 5, e);
    if (sqlite3_column_type(st, o + 3) == SQLITE_NULL) w_null(w);
    else w_real(w, normalised(sqlite3_column_double(st, o + 3), sqlite3_column_int64(st, C_POS)), 0);
    w_column_int(w, st, C_RUN);
    w_column_text(w, st, C_KEY);
    w_column_int(w, st, C_ROW);
    w_column_text(w, st, o + 6);
    w_end(w);
}

static float get_f32_le(const unsigned char *p) {
    uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* The n_layers * n_heads lines of one token row; checks the blob first. */
static int put_head_rows(writer *w, sqlite3_stmt *st, int bits, const char *path, es_error *err) {
    int o = C_FIRST_OWN; /* heads, n_layers, n_heads */
    int64_t L = sqlite3_column_int64(st, o + 1), H = sqlite3_column_int64(st, o + 2);
    const unsigned char *blob = sqlite3_column_blob(st, o);
    size_t bytes = (size_t)sqlite3_column_bytes(st, o);
    if (L <= 0 || H <= 0 || L > (1 << 20) || H > (1 << 20) || L * H > (1 << 20) || !blob || bytes != 4 * es_trace_blob_floats((int)L, (int)H))
        return es_fail(err, "%s: item %lld row %lld: heads blob of %zu bytes does not fit the run's"
                       " %lld layers x %lld heads", path, (long long)sqlite3_column_int64(st, C_ITEM),
                       (long long)sqlite3_column_int64(st, C_ROW), bytes, (long long)L, (long long)H);
    const unsigned char *entropy = blob, *varentropy = blob + 4 * L * H;
    const unsigned char *agreement = varentropy + 4 * L * H, *interaction = agreement + 4 * L;
    int64_t pos = sqlite3_column_int64(st, C_POS);
    for (int64_t l = 0; l < L; l++) {
        for (int64_t h = 0; h < H; h++) {
            double hn = get_f32_le(entropy + 4 * (l * H + h));
            double vn = get_f32_le(varentropy + 4 * (l * H + h));
            w_begin(w);
            w_column_int(w, st, C_ITEM);
            w_column_int(w, st, C_STEP);
            w_int(w, pos);
            w_column_int(w, st, C_IS_PROMPT);
            w_int(w, l);
            w_int(w, h);
            /* float32 data: what is derived from it is printed to float precision */
            w_real(w, bits ? hn / LN2 : hn, 1);
            w_real(w, bits ? vn / (LN2 * LN2) : vn, 1);
            w_real(w, normalised(hn, pos), 1);
            w_real(w, get_f32_le(agreement + 4 * l), 1);
            w_real(w, get_f32_le(interaction + 4 * l), 1);
            w_column_int(w, st, C_TOKEN_ID);
            w_column_int(w, st, C_RUN);
            w_column_text(w, st, C_KEY);
            w_column_int(w, st, C_ROW);
            w_end(w);
        }
    }
    return 0;
}

/* Runs the query of `what` and writes every row. */
static int write_table(sqlite3 *db, const char *path, int heads, writer *w, int bits,
                       int64_t item_id, es_error *err) {
    char sql[1024];
    snprintf(sql, sizeof sql, "%s%s%s%s ORDER BY t.item_id, t.row", COMMON_SQL,
             heads ? "t.heads, r.n_layers, r.n_heads"
                   : "t.token_text, t.logit_entropy, t.logit_varentropy, t.attn_entropy_mean,"
                     " t.attn_varentropy_mean, t.token_logprob, t.sampler_branch",
             FROM_SQL, heads ? " AND t.heads IS NOT NULL" : "");
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return es_fail(err, "%s: not a usable trace: %s", path, sqlite3_errmsg(db));
    sqlite3_bind_int64(st, 1, item_id);
    w_header(w);
    int rc, status = 0;
    while (status == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (heads) status = put_head_rows(w, st, bits, path, err);
        else put_token_row(w, st, bits);
    }
    if (status == 0 && rc != SQLITE_DONE)
        status = es_fail(err, "%s: cannot read the trace: %s", path, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return status;
}

/* ------------------------------------------------------------ output -- */

/* A temporary file beside out_path (so that rename stays on one file system). */
static FILE *open_temp(const char *out_path, char **tmp_path, es_error *err) {
    size_t n = strlen(out_path) + 16;
    char *tmp = malloc(n);
    if (!tmp) {
        es_fail(err, "%s: out of memory", out_path);
        return NULL;
    }
    snprintf(tmp, n, "%s.tmp-XXXXXX", out_path);
    int fd = mkstemp(tmp);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        es_fail(err, "%s: cannot create: %s", out_path, strerror(errno));
        if (fd >= 0) {
            close(fd);
            unlink(tmp);
        }
        free(tmp);
        return NULL;
    }
    fchmod(fd, 0644); /* mkstemp's 0600 would surprise whoever reads the export */
    *tmp_path = tmp;
    return f;
}

/* Flushes, closes and renames the temporary file into place; removes it on
 * any failure (status < 0 coming in included). */
static int finish_temp(FILE *f, char *tmp, const char *out_path, int status, es_error *err) {
    if (status == 0 && (fflush(f) != 0 || ferror(f) || fsync(fileno(f)) != 0))
        status = es_fail(err, "%s: cannot write: %s", out_path, strerror(errno));
    if (fclose(f) != 0 && status == 0)
        status = es_fail(err, "%s: cannot write: %s", out_path, strerror(errno));
    if (status == 0 && rename(tmp, out_path) != 0)
        status = es_fail(err, "%s: cannot write: %s", out_path, strerror(errno));
    if (status < 0) unlink(tmp);
    free(tmp);
    return status;
}

static sqlite3 *open_readonly(const char *db_path, es_error *err) {
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL);
    if (rc != SQLITE_OK) {
        es_fail(err, "%s: cannot open: %s", db_path, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, 30000);
    int state = es_trace_check_schema(db, db_path, err);
    if (state <= 0) {
        if (state == 0) es_fail(err, "%s: not an entroscope trace (an empty database)", db_path);
        sqlite3_close(db);
        return NULL;
    }
    return db;
}

static int item_exists(sqlite3 *db, int64_t item_id) {
    sqlite3_stmt *st = NULL;
    int found = 0;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM items WHERE id = ?", -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, item_id);
        found = sqlite3_step(st) == SQLITE_ROW;
    }
    sqlite3_finalize(st);
    return found;
}

int es_trace_export_item(const char *db_path, const char *what, const char *format,
                         const char *out_path, int bits, int64_t item_id, es_error *err) {
    if (!db_path) return es_fail(err, "export: no trace database");
    if (!what || (strcmp(what, "tokens") != 0 && strcmp(what, "heads") != 0))
        return es_fail(err, "export: unknown table '%s' (tokens or heads)", what ? what : "");
    if (!format || (strcmp(format, "csv") != 0 && strcmp(format, "jsonl") != 0))
        return es_fail(err, "export: unknown format '%s' (csv or jsonl)", format ? format : "");
    int heads = strcmp(what, "heads") == 0;
    writer w = {.jsonl = strcmp(format, "jsonl") == 0, .names = heads ? HEAD_COLUMNS : TOKEN_COLUMNS};
    sqlite3 *db = open_readonly(db_path, err);
    if (!db) return -1;
    /* One read transaction: a consistent snapshot while writers go on. */
    int status = sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK ? 0
               : es_fail(err, "%s: %s", db_path, sqlite3_errmsg(db));
    if (status == 0 && item_id > 0 && !item_exists(db, item_id))
        status = es_fail(err, "%s: no item %lld", db_path, (long long)item_id);
    char *tmp = NULL;
    if (status == 0 && out_path) {
        w.f = open_temp(out_path, &tmp, err);
        if (!w.f) status = -1;
    } else {
        w.f = stdout;
    }
    if (status == 0) status = write_table(db, db_path, heads, &w, bits, item_id, err);
    if (out_path && tmp) status = finish_temp(w.f, tmp, out_path, status, err);
    else if (status == 0 && (fflush(stdout) != 0 || ferror(stdout)))
        status = es_fail(err, "stdout: cannot write: %s", strerror(errno));
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    sqlite3_close(db);
    return status;
}

int es_trace_export(const char *db_path, const char *what, const char *format,
                    const char *out_path, int bits, es_error *err) {
    return es_trace_export_item(db_path, what, format, out_path, bits, 0, err);
}
