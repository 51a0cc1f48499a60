/* `entroscope merge`: the shards of a study (each a trace database holding
 * one study run) combined into one database with one run.
 *
 * The inputs must agree on the command, the model (file name, name, shape)
 * and the settings apart from "shard", "threads" and "prefix_cache" (which
 * cannot change an item); no key may appear twice (the same shard given
 * twice). Items are ordered by their place in the whole run (labels.index,
 * written by `run`), then by input and commit order, and re-numbered 1, 2,
 * ... so that merged shards read like the unsharded run. The output is
 * built in a temporary file beside out_path and renamed over it at the end:
 * it appears whole or not at all. SQLite attaches at most 10 databases at
 * a time, so the inputs are attached one after the other. */
#include "trace/trace_merge.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "trace/trace.h"
#include "util/error.h"

static const char *const MERGE_IGNORES[] = {"shard", "threads", "prefix_cache", NULL};

/* ----------------------------------------------------------- settings -- */

static int ignored(const char *key, const char *const *ignore) {
    for (int i = 0; ignore && ignore[i]; i++)
        if (strcmp(key, ignore[i]) == 0) return 1;
    return 0;
}

/* Every key of a that is not ignored is in b with an equal value. */
static int covers(const cJSON *a, const cJSON *b, const char *const *ignore, char *differs,
                  size_t size) {
    for (const cJSON *c = a->child; c; c = c->next) {
        if (!c->string || ignored(c->string, ignore)) continue;
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(b, c->string);
        if (!d || !cJSON_Compare(c, d, 1)) {
            snprintf(differs, size, "%s", c->string);
            return 0;
        }
    }
    return 1;
}

int es_settings_agree(const char *a, const char *b, const char *const *ignore, char *differs,
                      size_t differs_size) {
    cJSON *x = a ? cJSON_Parse(a) : NULL, *y = b ? cJSON_Parse(b) : NULL;
    snprintf(differs, differs_size, "settings");
    int ok = x && y && cJSON_IsObject(x) && cJSON_IsObject(y) &&
             covers(x, y, ignore, differs, differs_size) && covers(y, x, ignore, differs, differs_size);
    cJSON_Delete(x);
    cJSON_Delete(y);
    return ok;
}

/* ------------------------------------------------------------- inputs -- */

/* The study run of one input. */
typedef struct merge_input {
    const char *path;
    int64_t run_id;
    char *command, *model_path, *model_name, *settings;
    int n_layers, n_heads;
} merge_input;

static void input_free(merge_input *in) {
    free(in->command);
    free(in->model_path);
    free(in->model_name);
    free(in->settings);
}

static char *column_text(sqlite3_stmt *st, int col) {
    const unsigned char *s = sqlite3_column_text(st, col);
    return strdup(s ? (const char *)s : "");
}

/* Reads the one study run ("run ...") of an input. */
static int read_input(merge_input *in, es_error *err) {
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_open_v2(in->path, &db, SQLITE_OPEN_READONLY, NULL), n = 0, status = 0;
    if (rc != SQLITE_OK) {
        status = es_fail(err, "%s: cannot open: %s", in->path, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    } else if ((rc = es_trace_check_schema(db, in->path, err)) != 1) {
        status = rc < 0 ? -1 : es_fail(err, "%s: not an entroscope trace (empty)", in->path);
    } else if (sqlite3_prepare_v2(db, "SELECT id, command, model_path, model_name, n_layers, n_heads,"
                                      " settings FROM runs WHERE command LIKE 'run %'", -1, &st, NULL) != SQLITE_OK) {
        status = es_fail(err, "%s: cannot read its runs: %s", in->path, sqlite3_errmsg(db));
    }
    while (status == 0 && sqlite3_step(st) == SQLITE_ROW && ++n == 1) {
        in->run_id = sqlite3_column_int64(st, 0);
        in->command = column_text(st, 1);
        in->model_path = column_text(st, 2);
        in->model_name = column_text(st, 3);
        in->n_layers = sqlite3_column_int(st, 4);
        in->n_heads = sqlite3_column_int(st, 5);
        in->settings = column_text(st, 6);
        if (!in->command || !in->model_path || !in->model_name || !in->settings)
            status = es_fail(err, "%s: out of memory", in->path);
    }
    if (status == 0 && n != 1)
        status = es_fail(err, "%s: holds %s study runs; merge takes files of one run each (the shards)",
                         in->path, n == 0 ? "no" : "several");
    sqlite3_finalize(st);
    sqlite3_close(db);
    return status;
}

static const char *base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* The same study of the same model with the same settings as the first. */
static int check_compatible(const merge_input *first, const merge_input *in, es_error *err) {
    if (strcmp(first->command, in->command) != 0)
        return es_fail(err, "%s: a '%s' run, %s is '%s'", in->path, in->command, first->path, first->command);
    if (strcmp(base_name(first->model_path), base_name(in->model_path)) != 0 ||
        strcmp(first->model_name, in->model_name) != 0 || first->n_layers != in->n_layers ||
        first->n_heads != in->n_heads)
        return es_fail(err, "%s: model %s, %s has %s", in->path, base_name(in->model_path), first->path,
                       base_name(first->model_path));
    char differs[64];
    if (!es_settings_agree(first->settings, in->settings, MERGE_IGNORES, differs, sizeof differs))
        return es_fail(err, "%s: its settings differ from %s's (%s)", in->path, first->path, differs);
    return 0;
}

/* ------------------------------------------------------------- output -- */

static int exec(sqlite3 *db, const char *sql, const char *path, es_error *err) {
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK) return 0;
    return es_fail(err, "%s: %s", path, sqlite3_errmsg(db));
}

static int attach(sqlite3 *db, const char *path, es_error *err) {
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "ATTACH DATABASE ? AS src", -1, &st, NULL);
    if (rc == SQLITE_OK) sqlite3_bind_text(st, 1, path, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK) rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    sqlite3_finalize(st);
    return rc == SQLITE_OK ? 0 : es_fail(err, "%s: cannot attach: %s", path, sqlite3_errmsg(db));
}

/* Runs sql (with ?1 = input number, ?2 = its run id) with the input attached. */
static int with_input(sqlite3 *db, const merge_input *in, int k, const char *sql, const char *what,
                      es_error *err) {
    if (attach(db, in->path, err) < 0) return -1;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int(st, 1, k);
        sqlite3_bind_int64(st, 2, in->run_id);
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    }
    int status = rc == SQLITE_OK ? 0 : es_fail(err, "%s: cannot copy its %s: %s", in->path, what, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    sqlite3_exec(db, "DETACH DATABASE src", NULL, NULL, NULL);
    return status;
}

static const char *const STAGE_SQL =
    "INSERT INTO temp.staged SELECT ?1, id, idx, key, prompt, output, stop_reason, labels,"
    " n_prompt, n_generated, created,"
    " CASE WHEN json_valid(labels) THEN json_extract(labels, '$.index') END, NULL"
    " FROM src.items WHERE run_id = ?2";
static const char *const TOKENS_SQL =
    "INSERT INTO main.tokens SELECT m.new_id, t.row, t.step, t.pos, t.is_prompt, t.token_id,"
    " t.token_text, t.logit_entropy, t.logit_varentropy, t.token_logprob, t.attn_entropy_mean,"
    " t.attn_varentropy_mean, t.heads, t.sampler_branch FROM src.tokens t JOIN temp.staged m"
    " ON m.input = ?1 AND m.old_id = t.item_id ORDER BY m.new_id, t.row";

/* Item times, from inputs that have them (traces written before item_times
 * existed do not). */
static const char *const TIMES_SQL =
    "INSERT INTO main.item_times SELECT m.new_id, t.prefill_s, t.decode_s FROM src.item_times t"
    " JOIN temp.staged m ON m.input = ?1 AND m.old_id = t.item_id";

static int copy_times(sqlite3 *db, const merge_input *in, int k, es_error *err) {
    sqlite3 *src = NULL;
    int has = sqlite3_open_v2(in->path, &src, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
              es_trace_table_exists(src, "item_times");
    sqlite3_close(src);
    return has ? with_input(db, in, k, TIMES_SQL, "item times", err) : 0;
}

/* The items of every input in their final order, then their tokens. */
static int copy_items(sqlite3 *db, const merge_input *ins, int n_in, int64_t run_id,
                      const char *tmp, size_t *n_items, es_error *err) {
    if (exec(db, "CREATE TEMP TABLE staged (input, old_id, old_idx, key, prompt, output,"
                 " stop_reason, labels, n_prompt, n_generated, created, place, new_id)", tmp, err) < 0)
        return -1;
    for (int k = 0; k < n_in; k++)
        if (with_input(db, &ins[k], k, STAGE_SQL, "items", err) < 0) return -1;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT key, min(input), max(input) FROM temp.staged WHERE key IS NOT NULL"
                               " GROUP BY key HAVING count(*) > 1 LIMIT 1", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        const char *key = (const char *)sqlite3_column_text(st, 0);
        es_fail(err, "%s: item '%s' is also in %s (the same shard twice?)",
                ins[sqlite3_column_int(st, 2)].path, es_show(key, strlen(key)).text,
                ins[sqlite3_column_int(st, 1)].path);
        sqlite3_finalize(st);
        return -1;
    }
    sqlite3_finalize(st);
    char sql[640];
    snprintf(sql, sizeof sql,
             "UPDATE temp.staged SET new_id = o.n FROM (SELECT input AS i, old_id AS o_id,"
             " row_number() OVER (ORDER BY place IS NULL, place, input, old_idx) AS n FROM temp.staged) o"
             " WHERE input = o.i AND old_id = o.o_id;"
             "INSERT INTO main.items (id, run_id, key, idx, prompt, output, stop_reason, labels,"
             " n_prompt, n_generated, created) SELECT new_id, %lld, key, new_id - 1, prompt, output,"
             " stop_reason, labels, n_prompt, n_generated, created FROM temp.staged ORDER BY new_id;",
             (long long)run_id);
    if (exec(db, "BEGIN", tmp, err) < 0 || exec(db, sql, tmp, err) < 0 || exec(db, "COMMIT", tmp, err) < 0)
        return -1;
    for (int k = 0; k < n_in; k++)
        if (with_input(db, &ins[k], k, TOKENS_SQL, "tokens", err) < 0 || copy_times(db, &ins[k], k, err) < 0)
            return -1;
    *n_items = 0;
    sqlite3_stmt *count = NULL;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM main.items", -1, &count, NULL) == SQLITE_OK &&
        sqlite3_step(count) == SQLITE_ROW)
        *n_items = (size_t)sqlite3_column_int64(count, 0);
    sqlite3_finalize(count);
    return 0;
}

/* The run of the merged file: the first input's, without its shard. */
static int64_t add_merged_run(const char *tmp, const merge_input *first, es_error *err) {
    cJSON *s = cJSON_Parse(first->settings);
    if (s && cJSON_IsObject(s)) cJSON_ReplaceItemInObjectCaseSensitive(s, "shard", cJSON_CreateNull());
    char *settings = s ? cJSON_PrintUnformatted(s) : NULL;
    cJSON_Delete(s);
    es_trace *t = es_trace_open(tmp, err);
    es_trace_run run = {.command = first->command, .model_path = first->model_path,
                        .model_name = first->model_name, .n_layers = first->n_layers,
                        .n_heads = first->n_heads, .settings_json = settings};
    int64_t id = t ? es_trace_add_run(t, &run, err) : -1;
    es_trace_close(t);
    free(settings);
    return id;
}

/* Builds the merged database in tmp. */
static int build(const char *tmp, const merge_input *ins, int n_in, size_t *n_items, es_error *err) {
    int64_t run_id = add_merged_run(tmp, &ins[0], err);
    if (run_id < 0) return -1;
    sqlite3 *db = NULL;
    int status = 0;
    if (sqlite3_open_v2(tmp, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
        status = es_fail(err, "%s: cannot open: %s", tmp, db ? sqlite3_errmsg(db) : "out of memory");
    /* a scratch file until it is renamed: no need to survive a crash */
    if (status == 0) status = exec(db, "PRAGMA synchronous = OFF; PRAGMA temp_store = FILE;", tmp, err);
    if (status == 0) status = copy_items(db, ins, n_in, run_id, tmp, n_items, err);
    /* leave no -wal file behind to go with the renamed database */
    if (status == 0) status = exec(db, "PRAGMA journal_mode = DELETE", tmp, err);
    if (sqlite3_close(db) != SQLITE_OK && status == 0) status = es_fail(err, "%s: cannot close", tmp);
    return status;
}

/* Replaces out_path by tmp (and the journal files of the old database). */
static int install(const char *tmp, const char *out_path, es_error *err) {
    char side[4200];
    for (int i = 0; i < 2; i++) {
        snprintf(side, sizeof side, "%s%s", out_path, i ? "-shm" : "-wal");
        if (unlink(side) != 0 && errno != ENOENT) return es_fail(err, "%s: %s", side, strerror(errno));
    }
    if (rename(tmp, out_path) != 0) return es_fail(err, "%s: cannot rename to %s: %s", tmp, out_path, strerror(errno));
    return 0;
}

int es_trace_merge(const char *const *in_paths, int n_in, const char *out_path, size_t *n_items,
                   es_error *err) {
    if (n_in < 1 || !out_path) return es_fail(err, "merge: no input files or no output (-o)");
    if (strlen(out_path) > 4000) return es_fail(err, "merge: output path too long");
    merge_input *ins = calloc((size_t)n_in, sizeof *ins);
    if (!ins) return es_fail(err, "merge: out of memory");
    int status = 0;
    for (int k = 0; k < n_in && status == 0; k++) {
        ins[k].path = in_paths[k];
        status = read_input(&ins[k], err);
        if (status == 0 && k > 0) status = check_compatible(&ins[0], &ins[k], err);
    }
    char tmp[4100];
    snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", out_path);
    int fd = status == 0 ? mkstemp(tmp) : -1;
    if (status == 0 && fd < 0) status = es_fail(err, "%s: cannot create: %s", tmp, strerror(errno));
    if (fd >= 0) close(fd);
    size_t n = 0;
    if (status == 0) status = build(tmp, ins, n_in, &n, err);
    if (status == 0) status = install(tmp, out_path, err);
    if (fd >= 0 && status < 0) {
        unlink(tmp);
        char side[4200];
        snprintf(side, sizeof side, "%s-wal", tmp);
        unlink(side);
        snprintf(side, sizeof side, "%s-shm", tmp);
        unlink(side);
    }
    if (n_items) *n_items = n;
    for (int k = 0; k < n_in; k++) input_free(&ins[k]);
    free(ins);
    return status;
}
