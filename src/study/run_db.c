/* The run row of a study: its settings as a JSON object, and the choice
 * between adding a new run and continuing one (--resume).
 *
 * A database may hold runs of other commands, but a second run of the same
 * study is refused unless --resume asks to continue it: then the run whose
 * model and settings agree is continued (settings that cannot change the
 * items are ignored: threads, --limit, the prefix cache), and a run with
 * other settings is an error naming the first setting that differs. */
#include <cjson/cJSON.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "study/run.h"
#include "trace/trace_merge.h"
#include "util/error.h"

static const char *const RESUME_IGNORES[] = {"threads", "limit", "prefix_cache", NULL};
/* Runs written before the kernel set was recorded (it was then always the
 * best the CPU had) are continued whatever the set. */
static const char *const RESUME_IGNORES_OLD[] = {"threads", "limit", "prefix_cache", "kernels", NULL};

static int records_kernels(const char *settings) {
    cJSON *o = settings ? cJSON_Parse(settings) : NULL;
    int has = cJSON_HasObjectItem(o, "kernels");
    cJSON_Delete(o);
    return has;
}

static void add_strings(cJSON *o, const char *name, const char *const *v, int n) {
    cJSON *a = cJSON_AddArrayToObject(o, name);
    for (int i = 0; a && i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateString(v[i]));
}

static void add_string_or_null(cJSON *o, const char *name, const char *v) {
    if (v) cJSON_AddStringToObject(o, name, v);
    else cJSON_AddNullToObject(o, name);
}

/* A float setting as it was written (0.9, not 0.899999976). */
static double as_written(float v) {
    char text[32];
    snprintf(text, sizeof text, "%.7g", v);
    return strtod(text, NULL);
}

char *study_settings_json(const es_study_params *p, int chat, int n_ctx) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddStringToObject(o, "study", p->study);
    add_string_or_null(o, "data", p->data_path);
    if (p->n_prompt_files > 0) {
        add_strings(o, "prompts", p->prompt_files, p->n_prompt_files);
        add_strings(o, "categories", p->categories, p->n_prompt_files);
    }
    add_string_or_null(o, "fewshot_from", p->shots > 0 ? p->fewshot_path : NULL);
    cJSON_AddNumberToObject(o, "shots", p->shots);
    add_string_or_null(o, "system", p->system);
    cJSON_AddBoolToObject(o, "chat", chat);
    cJSON_AddNumberToObject(o, "n_predict", p->n_predict);
    cJSON_AddNumberToObject(o, "temperature", as_written(p->sampling.temperature));
    cJSON_AddNumberToObject(o, "top_k", p->sampling.top_k);
    cJSON_AddNumberToObject(o, "top_p", as_written(p->sampling.top_p));
    cJSON_AddNumberToObject(o, "min_p", as_written(p->sampling.min_p));
    cJSON_AddStringToObject(o, "sampler", p->sampling.entropix ? "entropix" : "default");
    if (p->sampling.entropix) {
        char *ex = es_entropix_params_json(p->sampling.entropix);
        cJSON *parsed = ex ? cJSON_Parse(ex) : NULL;
        free(ex);
        if (parsed) cJSON_AddItemToObject(o, "entropix", parsed);
    }
    /* JSON numbers are doubles: a seed beyond 2^53 goes as text */
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)p->sampling.seed);
    if (p->sampling.seed <= (1ull << 53)) cJSON_AddNumberToObject(o, "seed", (double)p->sampling.seed);
    else cJSON_AddStringToObject(o, "seed", seed);
    cJSON_AddNumberToObject(o, "n_ctx", n_ctx);
    cJSON_AddNumberToObject(o, "threads", p->n_threads);
    /* numbers differ in the last bits between kernel sets: a run is resumed or
     * merged only with the set it was started with */
    cJSON_AddStringToObject(o, "kernels", es_kernels_name(es_kernels_resolve(p->kernels)));
    cJSON_AddBoolToObject(o, "probes", p->probes);
    cJSON_AddNumberToObject(o, "limit", (double)p->limit);
    cJSON_AddNumberToObject(o, "sample", (double)p->sample);
    cJSON_AddBoolToObject(o, "skip_bad", p->skip_bad);
    char shard[48];
    snprintf(shard, sizeof shard, "%d/%d", p->shard_index, p->shard_count);
    add_string_or_null(o, "shard", p->shard_count > 1 ? shard : NULL);
    cJSON_AddBoolToObject(o, "prefix_cache", p->prefix_cache);
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return text;
}

static const char *base_name(const char *path) {
    const char *s = path ? strrchr(path, '/') : NULL;
    return s ? s + 1 : path ? path : "";
}

static int same_text(const unsigned char *a, const char *b) {
    return strcmp(a ? (const char *)a : "", b ? b : "") == 0;
}

/* Looks through the runs of `command`: *found the last whose model and
 * settings agree (0: none), *other one that does not (0: none). */
static int find_runs(const char *path, const char *command, const es_model_info *info,
                     const char *settings, int64_t *found, int64_t *other, char *differs,
                     size_t differs_size, es_error *err) {
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db, "SELECT id, model_path, model_name, n_layers, n_heads, settings"
                                    " FROM runs WHERE command = ? ORDER BY id", -1, &st, NULL);
    if (rc == SQLITE_OK) sqlite3_bind_text(st, 1, command, -1, SQLITE_STATIC);
    *found = *other = 0;
    while (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0);
        char why[64] = "model";
        int same_model = strcmp(base_name((const char *)sqlite3_column_text(st, 1)), base_name(info->path)) == 0 &&
                         same_text(sqlite3_column_text(st, 2), info->name) &&
                         sqlite3_column_int(st, 3) == info->n_layers && sqlite3_column_int(st, 4) == info->n_heads;
        const char *stored = (const char *)sqlite3_column_text(st, 5);
        if (same_model && es_settings_agree(stored, settings,
                                               records_kernels(stored) ? RESUME_IGNORES : RESUME_IGNORES_OLD,
                                               why, sizeof why)) {
            *found = id;
        } else {
            *other = id;
            snprintf(differs, differs_size, "%s", why);
        }
    }
    int status = rc == SQLITE_OK ? 0 : es_fail(err, "%s: cannot read its runs: %s", path, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return status;
}

int64_t study_run_row(es_trace *trace, const es_model *model, const es_study_params *p,
                      const char *settings, es_error *err) {
    es_model_info info;
    es_model_get_info(model, &info);
    char command[64], differs[64] = "";
    snprintf(command, sizeof command, "run %s", p->study);
    int64_t found, other;
    if (find_runs(p->out_path, command, &info, settings, &found, &other, differs, sizeof differs, err) < 0)
        return -1;
    if (!p->resume && (found || other))
        return es_fail(err, "%s: already holds a %s run (run %lld); add --resume to continue it,"
                       " or choose another -o", p->out_path, p->study, (long long)(found ? found : other));
    if (found) return found;
    if (other)
        return es_fail(err, "%s: its %s run %lld has other settings (%s differs); resume with the"
                       " options it was started with, or choose another -o", p->out_path, p->study,
                       (long long)other, differs);
    es_trace_run run = {.command = command, .model_path = info.path, .model_name = info.name,
                        .n_layers = info.n_layers, .n_heads = info.n_heads, .settings_json = settings};
    return es_trace_add_run(trace, &run, err);
}
