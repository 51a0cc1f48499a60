/* The items of a study run: each data set read into the item's own text,
 * its key (the dataset id) and its labels (entroscope.h, "studies"), then
 * the run's selection: SimpleQA's stratified --sample, --limit (the first N
 * of what is left) and --shard I/N (item i when i % N == I - 1). Every item
 * keeps its place in the whole run ("index"), so that merged shards can be
 * put back in order. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "study/datasets.h"
#include "study/run.h"
#include "util/error.h"

static void item_free(study_item *it) {
    free(it->key);
    free(it->question);
    free(it->labels);
}

void study_set_free(study_set *set) {
    for (size_t i = 0; i < set->n; i++) item_free(&set->items[i]);
    free(set->items);
    for (size_t i = 0; i < set->n_exemplars; i++) {
        free(set->exemplar_q[i]);
        free(set->exemplar_a[i]);
    }
    free(set->exemplar_q);
    free(set->exemplar_a);
    *set = (study_set){0};
}

/* Appends an item; labels gets study, id and index added first. Takes
 * ownership of labels (freed). */
static int add_item(study_set *set, size_t *cap, const char *study, const char *key,
                    const char *question, cJSON *labels) {
    if (set->n == *cap) {
        size_t want = *cap ? *cap * 2 : 64;
        study_item *p = realloc(set->items, want * sizeof *p);
        if (!p) {
            cJSON_Delete(labels);
            return -1;
        }
        set->items = p;
        *cap = want;
    }
    cJSON *all = cJSON_CreateObject();
    int ok = all && cJSON_AddStringToObject(all, "study", study) &&
             cJSON_AddStringToObject(all, "id", key);
    for (cJSON *c = labels ? labels->child : NULL; ok && c; c = c->next)
        ok = cJSON_AddItemToObject(all, c->string, cJSON_Duplicate(c, 1));
    cJSON_Delete(labels);
    study_item *it = &set->items[set->n];
    *it = (study_item){.key = strdup(key), .question = strdup(question)};
    it->labels = ok ? cJSON_PrintUnformatted(all) : NULL;
    cJSON_Delete(all);
    if (!it->key || !it->question || !it->labels) {
        item_free(it);
        return -1;
    }
    set->n++;
    return 0;
}

static cJSON *labels_of(const char *const *kv) {
    cJSON *o = cJSON_CreateObject();
    for (int i = 0; o && kv[i]; i += 2)
        if (!cJSON_AddStringToObject(o, kv[i], kv[i + 1] ? kv[i + 1] : "")) {
            cJSON_Delete(o);
            return NULL;
        }
    return o;
}

/* ---------------------------------------------------- factual-creative -- */

typedef struct prompt_file {
    char *data;          /* the file, lines cut at their '\n' */
    char **lines;        /* non-blank lines (n) */
    long *line_no;       /* their 1-based line numbers */
    size_t n;
} prompt_file;

static void prompt_file_free(prompt_file *f) {
    free(f->data);
    free(f->lines);
    free(f->line_no);
}

/* One prompt per non-blank line; a trailing '\r' is dropped. */
static int prompt_file_load(prompt_file *f, const char *path, es_error *err) {
    size_t size;
    *f = (prompt_file){0};
    if (study_read_file(path, &f->data, &size, err) < 0) return -1;
    if (memchr(f->data, 0, size)) return es_fail(err, "%s: holds a NUL byte (not a text file)", path);
    size_t n_lines = 1;
    for (size_t i = 0; i < size; i++) n_lines += f->data[i] == '\n';
    f->lines = malloc(n_lines * sizeof *f->lines);
    f->line_no = malloc(n_lines * sizeof *f->line_no);
    if (!f->lines || !f->line_no) return es_fail(err, "%s: out of memory", path);
    char *s = f->data;
    for (long no = 1; s; no++) {
        char *nl = strchr(s, '\n');
        if (nl) *nl = 0;
        size_t len = strlen(s);
        if (len && s[len - 1] == '\r') s[--len] = 0;
        if (strspn(s, " \t") < len) {
            f->lines[f->n] = s;
            f->line_no[f->n++] = no;
        }
        s = nl ? nl + 1 : NULL;
    }
    if (f->n == 0) return es_fail(err, "%s: no prompts (one per line)", path);
    return 0;
}

/* The sets interleaved: the first prompt of each, then the second, ... so
 * that --limit keeps every category. Keys are "CATEGORY:LINE". */
static int load_factual_creative(study_set *set, const es_study_params *p, es_error *err) {
    int n_files = p->n_prompt_files;
    if (n_files <= 0 || n_files > 8) return es_fail(err, "factual-creative: no prompt files");
    prompt_file files[8] = {{0}};
    int rc = 0;
    size_t most = 0, cap = 0;
    for (int f = 0; f < n_files && rc == 0; f++) {
        rc = prompt_file_load(&files[f], p->prompt_files[f], err);
        if (files[f].n > most) most = files[f].n;
    }
    for (size_t i = 0; rc == 0 && i < most; i++)
        for (int f = 0; rc == 0 && f < n_files; f++) {
            if (i >= files[f].n) continue;
            char key[160];
            snprintf(key, sizeof key, "%s:%ld", p->categories[f], files[f].line_no[i]);
            const char *kv[] = {"category", p->categories[f], NULL};
            if (add_item(set, &cap, p->study, key, files[f].lines[i], labels_of(kv)) < 0)
                rc = es_fail(err, "%s: out of memory", p->prompt_files[f]);
        }
    for (int f = 0; f < n_files; f++) prompt_file_free(&files[f]);
    return rc;
}

/* ------------------------------------------------------------ SimpleQA -- */

static int load_simpleqa(study_set *set, const es_study_params *p, es_error *err) {
    simpleqa_set data = {0};
    if (simpleqa_load(&data, p->data_path, p->skip_bad, err) < 0) return -1;
    size_t *chosen = NULL, n_chosen = data.n, cap = 0;
    int rc = 0;
    if (p->sample > 0) rc = simpleqa_sample(&data, p->sample, p->sampling.seed, &chosen, &n_chosen, err);
    for (size_t i = 0; rc == 0 && i < n_chosen; i++) {
        const simpleqa_item *it = &data.items[chosen ? chosen[i] : i];
        char key[32];
        snprintf(key, sizeof key, "%zu", it->id);
        const char *kv[] = {"problem", it->problem, "gold", it->answer, "topic", it->topic,
                            "answer_type", it->answer_type, NULL};
        if (add_item(set, &cap, p->study, key, it->problem, labels_of(kv)) < 0)
            rc = es_fail(err, "%s: out of memory", p->data_path);
    }
    set->n_skipped_data = (size_t)data.n_skipped;
    free(chosen);
    simpleqa_free(&data);
    return rc;
}

/* --------------------------------------------------------------- GSM8K -- */

static int load_exemplars(study_set *set, const es_study_params *p, es_error *err) {
    gsm8k_set train = {0};
    size_t *idx = NULL, k = (size_t)p->shots;
    if (gsm8k_load(&train, p->fewshot_path, 0, err) < 0) return -1;
    int rc = 0;
    if (k > train.n)
        rc = es_fail(err, "%s: %zu exemplars asked, the file has %zu items", p->fewshot_path, k, train.n);
    if (rc == 0) rc = gsm8k_fewshot(&train, k, 0, 0, &idx, err);
    set->exemplar_q = rc == 0 ? calloc(k, sizeof(char *)) : NULL;
    set->exemplar_a = rc == 0 ? calloc(k, sizeof(char *)) : NULL;
    for (size_t i = 0; rc == 0 && i < k; i++) {
        if (!set->exemplar_q || !set->exemplar_a) {
            rc = es_fail(err, "%s: out of memory", p->fewshot_path);
            break;
        }
        set->exemplar_q[i] = strdup(train.items[idx[i]].question);
        set->exemplar_a[i] = gsm8k_exemplar_answer(&train.items[idx[i]]);
        set->n_exemplars = i + 1;
        if (!set->exemplar_q[i] || !set->exemplar_a[i]) rc = es_fail(err, "%s: out of memory", p->fewshot_path);
    }
    free(idx);
    gsm8k_free(&train);
    return rc;
}

static int load_gsm8k(study_set *set, const es_study_params *p, es_error *err) {
    if (p->shots > 0 && load_exemplars(set, p, err) < 0) return -1;
    gsm8k_set data = {0};
    if (gsm8k_load(&data, p->data_path, p->skip_bad, err) < 0) return -1;
    int rc = 0;
    size_t cap = 0;
    for (size_t i = 0; rc == 0 && i < data.n; i++) {
        const gsm8k_item *it = &data.items[i];
        char key[32];
        snprintf(key, sizeof key, "%zu", it->id);
        const char *kv[] = {"problem", it->question, "gold", it->final, "reference", it->answer, NULL};
        if (add_item(set, &cap, p->study, key, it->question, labels_of(kv)) < 0)
            rc = es_fail(err, "%s: out of memory", p->data_path);
    }
    set->n_skipped_data = (size_t)data.n_skipped;
    gsm8k_free(&data);
    return rc;
}

/* ----------------------------------------------------------- selection -- */

/* --limit, then --shard; each kept item learns its place in the run. */
static void select_items(study_set *set, const es_study_params *p) {
    size_t n = set->n;
    if (p->limit > 0 && p->limit < n) n = p->limit;
    size_t kept = 0;
    for (size_t i = 0; i < set->n; i++) {
        int keep = i < n && (p->shard_count <= 1 || (int)(i % (size_t)p->shard_count) == p->shard_index - 1);
        if (!keep) {
            item_free(&set->items[i]);
            continue;
        }
        set->items[i].index = i;
        set->items[kept++] = set->items[i];
    }
    set->n = kept;
}

/* The labels get the item's place too: merge orders by it. */
static int add_index_labels(study_set *set, es_error *err) {
    for (size_t i = 0; i < set->n; i++) {
        cJSON *o = cJSON_Parse(set->items[i].labels);
        char *text = o && cJSON_AddNumberToObject(o, "index", (double)set->items[i].index)
                         ? cJSON_PrintUnformatted(o) : NULL;
        cJSON_Delete(o);
        if (!text) return es_fail(err, "%s: out of memory", set->items[i].key);
        free(set->items[i].labels);
        set->items[i].labels = text;
    }
    return 0;
}

int study_set_load(study_set *set, const es_study_params *p, es_error *err) {
    *set = (study_set){0};
    int rc;
    if (strcmp(p->study, "factual-creative") == 0) {
        rc = load_factual_creative(set, p, err);
        set->raw_before = "";
        set->raw_after = "";
    } else if (strcmp(p->study, "simpleqa") == 0) {
        rc = load_simpleqa(set, p, err);
        set->raw_before = "Question: ";
        set->raw_after = "\nAnswer:";
    } else if (strcmp(p->study, "gsm8k") == 0) {
        rc = load_gsm8k(set, p, err);
        set->raw_before = "Question: ";
        set->raw_after = "\nAnswer:";
    } else {
        rc = es_fail(err, "run: unknown study '%s' (factual-creative, simpleqa, gsm8k)", p->study);
    }
    if (rc == 0) {
        select_items(set, p);
        rc = add_index_labels(set, err);
    }
    if (rc < 0) study_set_free(set);
    return rc;
}
