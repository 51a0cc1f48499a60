/* Loading SimpleQA and GSM8K, SimpleQA's stratified sampler and GSM8K's
 * few-shot exemplars (see datasets.h for the rules). */
#include "study/datasets.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "study/csv.h"
#include "study/pydict.h"
#include "util/error.h"
#include "util/rng.h"

int study_read_file(const char *path, char **data, size_t *size, es_error *err) {
    FILE *f = fopen(path, "rb");
    *data = NULL;
    if (!f) return es_fail(err, "%s: %s", path, strerror(errno));
    char *buf = NULL;
    size_t used = 0, cap = 0, got;
    do {
        if (cap - used < 65536) {
            char *b = realloc(buf, cap = cap * 2 + 65536 + 1);
            if (!b) {
                free(buf);
                fclose(f);
                return es_fail(err, "%s: out of memory", path);
            }
            buf = b;
        }
        got = fread(buf + used, 1, cap - used - 1, f);
        used += got;
    } while (got > 0);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return es_fail(err, "%s: read error", path);
    }
    buf[used] = '\0';
    *data = buf;
    *size = used;
    return 0;
}

/* ------------------------------------------------------------- SimpleQA -- */

static void simpleqa_item_free(simpleqa_item *it) {
    free(it->problem);
    free(it->answer);
    free(it->topic);
    free(it->answer_type);
}

void simpleqa_free(simpleqa_set *set) {
    if (!set) return;
    for (size_t i = 0; i < set->n; i++) simpleqa_item_free(&set->items[i]);
    free(set->items);
    memset(set, 0, sizeof *set);
}

/* topic and answer_type of one metadata cell; why says what is wrong. */
static int read_metadata(const char *meta, simpleqa_item *it, char *why, size_t why_size) {
    static const char *const keys[2] = {"topic", "answer_type"};
    char **out[2] = {&it->topic, &it->answer_type};
    for (int k = 0; k < 2; k++) {
        int rc = pydict_get_string(meta, strlen(meta), keys[k], out[k], why, why_size);
        if (rc < 0) return -1;
        if (rc == 0) {
            snprintf(why, why_size, "no string '%s'", keys[k]);
            return -1;
        }
    }
    return 0;
}

/* Room for one more item in a growing array (doubling, so that loading is
 * linear in the number of items). */
static void *grow(void *items, size_t *cap, size_t n, size_t item_size) {
    if (n < *cap) return items;
    size_t new_cap = *cap ? *cap * 2 : 64;
    void *p = realloc(items, new_cap * item_size);
    if (p) *cap = new_cap;
    return p; /* NULL: the old array is still valid */
}

static int simpleqa_add(simpleqa_set *set, size_t *cap, const csv_reader *r, const int col[3],
                        size_t id, char *why, size_t why_size, es_error *err) {
    simpleqa_item *items = grow(set->items, cap, set->n, sizeof *items);
    if (!items) return es_fail(err, "%s: out of memory", r->path);
    set->items = items;
    simpleqa_item *it = &set->items[set->n];
    memset(it, 0, sizeof *it);
    if (read_metadata(r->fields[col[0]], it, why, why_size)) {
        simpleqa_item_free(it);
        return 1;
    }
    it->id = id;
    it->line = r->record_line;
    it->problem = strdup(r->fields[col[1]]);
    it->answer = strdup(r->fields[col[2]]);
    if (!it->problem || !it->answer) {
        simpleqa_item_free(it);
        return es_fail(err, "%s: out of memory", r->path);
    }
    set->n++;
    return 0;
}

int simpleqa_parse(simpleqa_set *set, const char *data, size_t size, const char *path,
                   int skip_bad, es_error *err) {
    static const char *const names[3] = {"metadata", "problem", "answer"};
    csv_reader r;
    int col[3], rc;
    char why[160];
    memset(set, 0, sizeof *set);
    if (csv_open(&r, data, size, path, skip_bad, err)) return -1;
    for (int c = 0; c < 3; c++)
        if ((col[c] = csv_column(&r, names[c])) < 0) {
            csv_close(&r);
            return es_fail(err, "%s: no column '%s' in the header", path, names[c]);
        }
    long meta_skipped = 0;
    size_t cap = 0;
    while ((rc = csv_next(&r, err)) == 1) {
        size_t id = set->n + (size_t)(r.n_skipped + meta_skipped);
        rc = simpleqa_add(set, &cap, &r, col, id, why, sizeof why, err);
        if (rc < 0) break;
        if (rc == 1 && !skip_bad) {
            es_fail(err, "%s:%ld: metadata: %s", path, r.record_line, why);
            rc = -1;
            break;
        }
        meta_skipped += rc;
    }
    set->n_skipped = r.n_skipped + meta_skipped;
    csv_close(&r);
    if (rc < 0) simpleqa_free(set);
    return rc < 0 ? -1 : 0;
}

int simpleqa_load(simpleqa_set *set, const char *path, int skip_bad, es_error *err) {
    char *data;
    size_t size;
    memset(set, 0, sizeof *set);
    if (study_read_file(path, &data, &size, err)) return -1;
    int rc = simpleqa_parse(set, data, size, path, skip_bad, err);
    free(data);
    return rc;
}

/* k of the m indices in pool, drawn without replacement (partial
 * Fisher-Yates): they end up in pool[0, k). */
static void draw(size_t *pool, size_t m, size_t k, uint64_t state) {
    if (state == 0) state = 0x9e3779b97f4a7c15ull; /* xorshift's state must not be 0 */
    for (size_t i = 0; i < k && i < m; i++) {
        size_t j = i + (size_t)(es_xorshift64s(&state) % (m - i));
        size_t t = pool[i];
        pool[i] = pool[j];
        pool[j] = t;
    }
}

static uint64_t fnv1a(const char *s) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

typedef struct topic_quota {
    const char *name;
    size_t count, quota, remainder;
} topic_quota;

/* Larger remainder first; ties: larger topic, then name. */
static int by_remainder(const void *a, const void *b) {
    const topic_quota *x = a, *y = b;
    if (x->remainder != y->remainder) return x->remainder > y->remainder ? -1 : 1;
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int by_index(const void *a, const void *b) {
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return (x > y) - (x < y);
}

int simpleqa_sample(const simpleqa_set *set, size_t n, uint64_t seed, size_t **indices,
                    size_t *n_indices, es_error *err) {
    size_t N = set->n, n_topics = 0, want = n < N ? n : N, left = want;
    topic_quota *topics = calloc(N ? N : 1, sizeof *topics);
    size_t *pool = malloc((N ? N : 1) * sizeof *pool), *out = malloc((N ? N : 1) * sizeof *out);
    *indices = NULL;
    *n_indices = 0;
    if (!topics || !pool || !out) {
        free(topics), free(pool), free(out);
        return es_fail(err, "sample: out of memory");
    }
    for (size_t i = 0; i < N; i++) {
        size_t t = 0;
        while (t < n_topics && strcmp(topics[t].name, set->items[i].topic) != 0) t++;
        if (t == n_topics) topics[n_topics++].name = set->items[i].topic;
        topics[t].count++;
    }
    for (size_t t = 0; t < n_topics; t++) { /* n * count fits: both are item counts */
        topics[t].quota = (size_t)((unsigned __int128)want * topics[t].count / N);
        topics[t].remainder = (size_t)((unsigned __int128)want * topics[t].count % N);
        left -= topics[t].quota;
    }
    qsort(topics, n_topics, sizeof *topics, by_remainder);
    for (size_t t = 0; t < n_topics && left > 0; t++, left--) topics[t].quota++;
    size_t n_out = 0;
    for (size_t t = 0; t < n_topics; t++) {
        size_t m = 0;
        for (size_t i = 0; i < N; i++)
            if (strcmp(set->items[i].topic, topics[t].name) == 0) pool[m++] = i;
        draw(pool, m, topics[t].quota, es_splitmix64(seed ^ fnv1a(topics[t].name)));
        memcpy(out + n_out, pool, topics[t].quota * sizeof *pool);
        n_out += topics[t].quota;
    }
    qsort(out, n_out, sizeof *out, by_index);
    free(topics);
    free(pool);
    *indices = out;
    *n_indices = n_out;
    return 0;
}

/* ---------------------------------------------------------------- GSM8K -- */

void gsm8k_free(gsm8k_set *set) {
    if (!set) return;
    for (size_t i = 0; i < set->n; i++) {
        free(set->items[i].question);
        free(set->items[i].answer);
    }
    free(set->items);
    memset(set, 0, sizeof *set);
}

/* One JSON line into *it; why says what is wrong. Returns 0, 1 (bad), -1 (memory). */
static int gsm8k_read_line(const char *line, size_t len, gsm8k_item *it, char *why, size_t why_size) {
    cJSON *obj = cJSON_ParseWithLength(line, len);
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(obj, "question");
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(obj, "answer");
    const char *hash = cJSON_IsString(a) ? strstr(a->valuestring, "####") : NULL;
    while (hash && strstr(hash + 4, "####")) hash = strstr(hash + 4, "####");
    int rc = 1;
    if (!cJSON_IsObject(obj)) snprintf(why, why_size, "not a JSON object");
    else if (!cJSON_IsString(q) || !cJSON_IsString(a)) snprintf(why, why_size, "no string \"question\" and \"answer\"");
    else if (!hash || !number_normalise(hash + 4, it->final, sizeof it->final))
        snprintf(why, why_size, "the answer does not end with \"#### N\"");
    else {
        it->question = strdup(q->valuestring);
        it->answer = strdup(a->valuestring);
        rc = it->question && it->answer ? 0 : -1;
    }
    cJSON_Delete(obj);
    return rc;
}

static int is_blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!strchr(" \t\r", s[i]) || !s[i]) return 0;
    return 1;
}

int gsm8k_parse(gsm8k_set *set, const char *data, size_t size, const char *path, int skip_bad,
                es_error *err) {
    char why[96];
    memset(set, 0, sizeof *set);
    long line = 0;
    size_t cap = 0;
    for (size_t pos = 0; pos < size;) {
        const char *nl = memchr(data + pos, '\n', size - pos);
        size_t len = nl ? (size_t)(nl - (data + pos)) : size - pos;
        const char *text = data + pos;
        pos += len + (nl != NULL);
        line++;
        if (is_blank(text, len)) continue;
        gsm8k_item *items = grow(set->items, &cap, set->n, sizeof *items);
        if (!items) goto nomem;
        set->items = items;
        gsm8k_item *it = &set->items[set->n];
        memset(it, 0, sizeof *it);
        int rc = gsm8k_read_line(text, len, it, why, sizeof why);
        if (rc == 0) {
            it->id = set->n + (size_t)set->n_skipped;
            it->line = line;
            set->n++;
            continue;
        }
        free(it->question);
        free(it->answer);
        if (rc < 0) goto nomem;
        if (!skip_bad) {
            gsm8k_free(set);
            return es_fail(err, "%s:%ld: %s", path, line, why);
        }
        set->n_skipped++;
    }
    return 0;
nomem:
    gsm8k_free(set);
    return es_fail(err, "%s: out of memory", path);
}

int gsm8k_load(gsm8k_set *set, const char *path, int skip_bad, es_error *err) {
    char *data;
    size_t size;
    memset(set, 0, sizeof *set);
    if (study_read_file(path, &data, &size, err)) return -1;
    int rc = gsm8k_parse(set, data, size, path, skip_bad, err);
    free(data);
    return rc;
}

char *gsm8k_exemplar_answer(const gsm8k_item *item) {
    const char *a = item->answer, *hash = strstr(a, "####");
    while (hash && strstr(hash + 4, "####")) hash = strstr(hash + 4, "####");
    size_t body = hash ? (size_t)(hash - a) : strlen(a);
    char *out = malloc(body + sizeof item->final + 32), *o = out;
    if (!out) return NULL;
    for (size_t i = 0; i < body; i++) {
        const char *close;
        if (a[i] == '<' && a[i + 1] == '<' && (close = strstr(a + i + 2, ">>")) && close < a + body) {
            i = (size_t)(close - a) + 1; /* the annotation and its ">>" */
            continue;
        }
        *o++ = a[i];
    }
    while (o > out && (o[-1] == '\n' || o[-1] == ' ' || o[-1] == '\r')) o--;
    sprintf(o, "%sThe final answer is %s", o > out ? "\n" : "", item->final);
    return out;
}

int gsm8k_fewshot(const gsm8k_set *train, size_t k, int seeded, uint64_t seed, size_t **indices,
                  es_error *err) {
    *indices = NULL;
    if (k > train->n) return es_fail(err, "few-shot: %zu exemplars asked, the training set has %zu", k, train->n);
    size_t *pool = malloc((train->n ? train->n : 1) * sizeof *pool);
    if (!pool) return es_fail(err, "few-shot: out of memory");
    for (size_t i = 0; i < train->n; i++) pool[i] = i;
    if (seeded) draw(pool, train->n, k, es_splitmix64(seed));
    *indices = pool;
    return 0;
}
