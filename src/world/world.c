/* es_world_write: the whole world from one seed, written into a folder
 * (the files are listed in entroscope.h). Everything is made in memory
 * first (a few megabytes at the defaults), then each file is written to a
 * temporary file beside it and renamed into place. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/error.h"
#include "world/world.h"

#define WORLD_PROMPTS 100     /* lines of factual.txt and creative.txt */
#define WORLD_MAX_COUNT 1000000

es_world_params es_world_default_params(void) {
    return (es_world_params){.seed = 0, .n_known = 250, .n_abstain = 60, .n_unseen = 100,
                             .n_sums_train = 3000, .n_sums_eval = 500, .n_stories = 600};
}

/* Everything the files are made of. */
typedef struct world {
    world_people people;
    world_docs docs;      /* the training documents, shuffled before writing */
    size_t n_bios, n_qa, n_facts;
    char *facts_csv, *sums_train, *sums_eval, *factual, *creative;
} world;

static void world_free(world *w) {
    people_free(&w->people);
    docs_free(&w->docs);
    free(w->facts_csv);
    free(w->sums_train);
    free(w->sums_eval);
    free(w->factual);
    free(w->creative);
}

static int check_params(const es_world_params *p, es_error *err) {
    const int counts[] = {p->n_known, p->n_abstain, p->n_unseen, p->n_sums_train, p->n_sums_eval,
                          p->n_stories};
    for (int i = 0; i < 6; i++)
        if (counts[i] < 0 || counts[i] > WORLD_MAX_COUNT)
            return es_fail(err, "world: a count must be between 0 and %d", WORLD_MAX_COUNT);
    if (p->n_known + p->n_abstain + p->n_unseen == 0)
        return es_fail(err, "world: at least one person is needed (for the factual prompts)");
    return 0;
}

static int make_world(world *w, const es_world_params *p, es_error *err) {
    if (people_make(&w->people, p, err)) return -1;
    if (facts_training(&w->people, p->seed, &w->docs, &w->n_bios, &w->n_qa) ||
        !(w->facts_csv = facts_csv(&w->people, p->seed, &w->n_facts)) ||
        !(w->factual = facts_prompts(&w->people, p->seed, WORLD_PROMPTS)))
        return es_fail(err, "world: out of memory");
    if (sums_make(&w->people, p->seed, p->n_sums_train, p->n_sums_eval, &w->sums_train,
                  &w->sums_eval, &w->docs, err))
        return -1;
    if (stories_make(p->seed, p->n_stories, &w->docs) ||
        !(w->creative = stories_prompts(p->seed, WORLD_PROMPTS)))
        return es_fail(err, "world: out of memory");
    /* Fisher-Yates, so that the trainer's sequences mix every kind of document */
    uint64_t rng = world_stream(p->seed, 8);
    for (size_t i = w->docs.n; i > 1; i--) {
        size_t j = (size_t)(es_xorshift64s(&rng) % i);
        char *t = w->docs.text[i - 1];
        w->docs.text[i - 1] = w->docs.text[j];
        w->docs.text[j] = t;
    }
    return 0;
}

/* train.jsonl's text: one {"text": ...} a line. */
static char *train_jsonl(const world_docs *docs) {
    es_buf b = {0};
    for (size_t i = 0; i < docs->n; i++) {
        cJSON *o = cJSON_CreateObject();
        char *line = o && cJSON_AddStringToObject(o, "text", docs->text[i]) ? cJSON_PrintUnformatted(o) : NULL;
        cJSON_Delete(o);
        if (!line) {
            es_buf_free(&b);
            return NULL;
        }
        es_buf_puts(&b, line);
        es_buf_puts(&b, "\n");
        free(line);
    }
    return es_buf_take(&b);
}

static cJSON *person_json(const world_person *p) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    char year[16];
    snprintf(year, sizeof year, "%d", p->year);
    int ok = cJSON_AddStringToObject(o, "name", p->name) &&
             cJSON_AddStringToObject(o, "gender", p->female ? "female" : "male") &&
             cJSON_AddStringToObject(o, "group", world_group_name[p->group]) &&
             cJSON_AddNumberToObject(o, "birth_year", p->year) &&
             cJSON_AddStringToObject(o, "birth_city", person_city(p)) &&
             cJSON_AddStringToObject(o, "occupation", person_job(p)) &&
             cJSON_AddStringToObject(o, "employer", person_employer(p)) &&
             cJSON_AddStringToObject(o, "university", person_university(p));
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* world.json: parameters, counts, people. */
static char *world_json(const world *w, const es_world_params *p, size_t train_bytes) {
    cJSON *root = cJSON_CreateObject(), *params = cJSON_AddObjectToObject(root, "params");
    cJSON *counts = cJSON_AddObjectToObject(root, "counts");
    cJSON *people = cJSON_AddArrayToObject(root, "people");
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)p->seed);
    /* the seed as text: a double cannot hold every 64-bit value */
    int ok = params && counts && people && cJSON_AddStringToObject(params, "seed", seed) &&
             cJSON_AddNumberToObject(params, "n_known", p->n_known) &&
             cJSON_AddNumberToObject(params, "n_abstain", p->n_abstain) &&
             cJSON_AddNumberToObject(params, "n_unseen", p->n_unseen) &&
             cJSON_AddNumberToObject(params, "n_sums_train", p->n_sums_train) &&
             cJSON_AddNumberToObject(params, "n_sums_eval", p->n_sums_eval) &&
             cJSON_AddNumberToObject(params, "n_stories", p->n_stories) &&
             cJSON_AddNumberToObject(counts, "people", w->people.n) &&
             cJSON_AddNumberToObject(counts, "documents", (double)w->docs.n) &&
             cJSON_AddNumberToObject(counts, "biographies", (double)w->n_bios) &&
             cJSON_AddNumberToObject(counts, "qa_documents", (double)w->n_qa) &&
             cJSON_AddNumberToObject(counts, "sums_train", p->n_sums_train) &&
             cJSON_AddNumberToObject(counts, "sums_eval", p->n_sums_eval) &&
             cJSON_AddNumberToObject(counts, "stories", p->n_stories) &&
             cJSON_AddNumberToObject(counts, "facts", (double)w->n_facts) &&
             cJSON_AddNumberToObject(counts, "train_bytes", (double)train_bytes);
    for (int i = 0; ok && i < w->people.n; i++) {
        cJSON *o = person_json(&w->people.p[i]);
        ok = o && cJSON_AddItemToArray(people, o);
    }
    char *text = ok ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    return text;
}

/* Writes text to dir/name through a temporary file and a rename. */
static int write_file(const char *dir, const char *name, const char *text, es_error *err) {
    char path[4096], tmp[4160];
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
        return es_fail(err, "%s: path too long", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) return es_fail(err, "%s: cannot write: %s", path, strerror(errno));
    size_t n = strlen(text);
    int e = fwrite(text, 1, n, f) == n ? 0 : errno;
    if (fclose(f) != 0 && !e) e = errno;
    if (!e && rename(tmp, path) != 0) e = errno;
    if (e) {
        unlink(tmp);
        return es_fail(err, "%s: cannot write: %s", path, strerror(e ? e : EIO));
    }
    return 0;
}

/* mkdir -p */
static int make_dir(const char *dir, es_error *err) {
    char path[4096];
    if (!dir[0]) return es_fail(err, "world: empty output folder name");
    if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path)
        return es_fail(err, "%s: path too long", dir);
    for (char *s = path + 1;; s++) {
        if (*s != '/' && *s != '\0') continue;
        char c = *s;
        *s = '\0';
        struct stat st;
        if (mkdir(path, 0777) != 0 && !(errno == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode)))
            return es_fail(err, "%s: cannot create: %s", path, strerror(errno == EEXIST ? ENOTDIR : errno));
        if (!c) return 0;
        *s = c;
    }
}

int es_world_write(const es_world_params *p, const char *out_dir, es_error *err) {
    if (check_params(p, err)) return -1;
    world w = {0};
    if (make_world(&w, p, err)) {
        world_free(&w);
        return -1;
    }
    char *train = train_jsonl(&w.docs);
    char *json = train ? world_json(&w, p, strlen(train)) : NULL;
    int rc = !json ? es_fail(err, "world: out of memory") : make_dir(out_dir, err);
    const char *names[] = {"train.jsonl", "facts.csv", "sums.jsonl", "sums_train.jsonl",
                           "factual.txt", "creative.txt", "world.json"};
    const char *texts[] = {train, w.facts_csv, w.sums_eval, w.sums_train, w.factual, w.creative, json};
    for (int i = 0; rc == 0 && i < 7; i++) rc = write_file(out_dir, names[i], texts[i], err);
    free(train);
    free(json);
    world_free(&w);
    return rc;
}
