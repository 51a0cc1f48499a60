/* Word problems of one to three steps in GSM8K's format: the question, and
 * an answer whose every step is one sentence holding its calculation
 * "a op b = <<a op b=c>>c" (so that the arithmetic checker finds and checks
 * each one once the annotations are removed), then "#### N".
 *
 * A problem is a story about one person's objects: a start (they have some,
 * or some containers of them: a product), then events that change the
 * count (buying, finding, baking, giving away, selling, friends each
 * giving some: a product and a sum), possibly ending in a sale at a price
 * (a product in dollars). Numbers stay small: operands 2-60, multipliers
 * 2-9, every result between 1 and 999. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "study/datasets.h"
#include "util/error.h"
#include "world/world.h"

typedef struct sum_object {
    const char *plural, *gets, *container, *containers; /* "apples", "picks", "basket", "baskets" */
} sum_object;

static const sum_object objects[] = {
    {"apples", "picks", "basket", "baskets"},   {"cookies", "bakes", "tray", "trays"},
    {"muffins", "bakes", "tray", "trays"},      {"stickers", "collects", "pack", "packs"},
    {"marbles", "finds", "bag", "bags"},        {"shells", "collects", "bucket", "buckets"},
    {"pencils", "buys", "box", "boxes"},        {"stamps", "collects", "album", "albums"},
    {"eggs", "collects", "carton", "cartons"},  {"cupcakes", "bakes", "box", "boxes"},
    {"books", "buys", "box", "boxes"},          {"flowers", "picks", "vase", "vases"},
    {"cards", "collects", "pack", "packs"},     {"beads", "buys", "jar", "jars"},
    {"oranges", "picks", "crate", "crates"},    {"candles", "makes", "box", "boxes"},
};

/* One problem being written. */
typedef struct sum_state {
    const char *name, *friend_name;
    int female;
    const sum_object *obj;
    int value;         /* the count so far */
    es_buf q, a;    /* question and answer */
    uint64_t *rng;
} sum_state;

static const char *he(const sum_state *s) { return s->female ? "she" : "he"; }
static const char *He(const sum_state *s) { return s->female ? "She" : "He"; }
static const char *him(const sum_state *s) { return s->female ? "her" : "him"; }

static void start_have(sum_state *s) {
    s->value = world_range(s->rng, 2, 60);
    if (world_below(s->rng, 2))
        es_buf_printf(&s->q, "%s has %d %s.", s->name, s->value, s->obj->plural);
    else
        es_buf_printf(&s->q, "%s starts the day with %d %s.", s->name, s->value, s->obj->plural);
}

static void start_groups(sum_state *s) {
    int k = world_range(s->rng, 2, 9), b = world_range(s->rng, 2, 30), c = k * b;
    if (world_below(s->rng, 2))
        es_buf_printf(&s->q, "%s has %d %s of %s, and each %s holds %d %s.", s->name, k,
                    s->obj->containers, s->obj->plural, s->obj->container, b, s->obj->plural);
    else
        es_buf_printf(&s->q, "%s buys %d %s with %d %s in each.", s->name, k, s->obj->containers, b,
                    s->obj->plural);
    es_buf_printf(&s->a, "%s has %d %s with %d %s each, so %s has %d * %d = <<%d*%d=%d>>%d %s.",
                s->name, k, s->obj->containers, b, s->obj->plural, he(s), k, b, k, b, c, c,
                s->obj->plural);
    s->value = c;
}

static void event_add(sum_state *s) {
    int v = s->value, b = world_range(s->rng, 2, 60 < 999 - v ? 60 : 999 - v), c = v + b;
    switch (world_below(s->rng, 3)) {
    case 0:
        es_buf_printf(&s->q, " Then %s %s %d more %s.", he(s), s->obj->gets, b, s->obj->plural);
        es_buf_printf(&s->a, "%s %s %d more, so %s has %d + %d = <<%d+%d=%d>>%d %s.", He(s),
                    s->obj->gets, b, he(s), v, b, v, b, c, c, s->obj->plural);
        break;
    case 1:
        es_buf_printf(&s->q, " %s gives %s %d %s.", s->friend_name, him(s), b, s->obj->plural);
        es_buf_printf(&s->a, "%s gives %s %d, so %s has %d + %d = <<%d+%d=%d>>%d %s.",
                    s->friend_name, him(s), b, he(s), v, b, v, b, c, c, s->obj->plural);
        break;
    default:
        es_buf_printf(&s->q, " The next day %s %s another %d %s.", he(s), s->obj->gets, b,
                    s->obj->plural);
        es_buf_printf(&s->a, "Another %d makes %d + %d = <<%d+%d=%d>>%d %s.", b, v, b, v, b, c, c,
                    s->obj->plural);
        break;
    }
    s->value = c;
}

static void event_sub(sum_state *s) {
    int v = s->value, b = world_range(s->rng, 2, v - 1 < 60 ? v - 1 : 60), c = v - b;
    switch (world_below(s->rng, 3)) {
    case 0:
        es_buf_printf(&s->q, " %s gives %d %s to %s.", He(s), b, s->obj->plural, s->friend_name);
        es_buf_printf(&s->a, "%s gives away %d, so %s has %d - %d = <<%d-%d=%d>>%d %s left.", He(s),
                    b, he(s), v, b, v, b, c, c, s->obj->plural);
        break;
    case 1:
        es_buf_printf(&s->q, " %s sells %d of the %s.", He(s), b, s->obj->plural);
        es_buf_printf(&s->a, "After selling %d, %s has %d - %d = <<%d-%d=%d>>%d %s.", b, he(s), v, b,
                    v, b, c, c, s->obj->plural);
        break;
    default:
        es_buf_printf(&s->q, " %s shares %d of them with %s.", He(s), b, s->friend_name);
        es_buf_printf(&s->a, "Sharing %d with %s leaves %d - %d = <<%d-%d=%d>>%d %s.", b,
                    s->friend_name, v, b, v, b, c, c, s->obj->plural);
        break;
    }
    s->value = c;
}

/* Two calculations: the friends' gift, then the new count. */
static void event_friends(sum_state *s) {
    int v = s->value, k = world_range(s->rng, 2, 9);
    int most = (999 - v) / k < 20 ? (999 - v) / k : 20;
    int b = world_range(s->rng, 2, most), d = k * b, c = v + d;
    es_buf_printf(&s->q, " Then %d friends each give %s %d %s.", k, him(s), b, s->obj->plural);
    es_buf_printf(&s->a, "The %d friends give %s %d * %d = <<%d*%d=%d>>%d %s.\n", k, him(s), k, b, k,
                b, d, d, s->obj->plural);
    es_buf_printf(&s->a, "Now %s has %d + %d = <<%d+%d=%d>>%d %s.", he(s), v, d, v, d, c, c,
                s->obj->plural);
    s->value = c;
}

/* The last step: everything sold at a price (the answer in dollars). */
static void event_price(sum_state *s) {
    int v = s->value, most = 999 / v < 9 ? 999 / v : 9, k = world_range(s->rng, 2, most);
    int c = v * k;
    es_buf_printf(&s->q, " %s sells all of the %s for %d dollars each. How many dollars does %s get?",
                He(s), s->obj->plural, k, he(s));
    es_buf_printf(&s->a, "%s sells %d %s for %d dollars each, so %s gets %d * %d = <<%d*%d=%d>>%d "
                "dollars.", He(s), v, s->obj->plural, k, he(s), v, k, v, k, c, c);
    s->value = c;
}

/* Writes one problem of n_steps calculations into s (q and a). */
static void write_problem(sum_state *s, int n_steps) {
    int left = n_steps, priced = 0, last_sub = 0, events = 0;
    if (world_below(s->rng, 3) == 0) {
        start_groups(s);
        left--;
    } else {
        start_have(s);
    }
    for (; left > 0; events++) {
        int r = world_below(s->rng, 8);
        if (s->a.len) es_buf_puts(&s->a, "\n");
        last_sub = 0;
        if (left >= 2 && r == 0 && s->value <= 981) {
            event_friends(s);
            left -= 2;
        } else if (left == 1 && r == 1 && s->value <= 499) {
            event_price(s);
            priced = 1;
            left--;
        } else if (s->value >= 3 && ((r & 1) || s->value > 939)) {
            event_sub(s);
            last_sub = 1;
            left--;
        } else {
            event_add(s);
            left--;
        }
    }
    if (!priced)
        es_buf_printf(&s->q, " How many %s does %s have %s?", s->obj->plural, s->name,
                    events == 0 ? "in all" : last_sub ? "left" : "now");
    es_buf_printf(&s->a, "\n#### %d", s->value);
}

/* One problem's JSON line (appended to out) and its training document. */
static int emit(const char *question, const char *answer, int final, es_buf *out,
                world_docs *docs) {
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddStringToObject(o, "question", question) ||
        !cJSON_AddStringToObject(o, "answer", answer)) {
        cJSON_Delete(o);
        return -1;
    }
    char *line = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!line) return -1;
    es_buf_puts(out, line);
    es_buf_puts(out, "\n");
    free(line);
    if (!docs) return 0;
    gsm8k_item item = {.question = (char *)question, .answer = (char *)answer};
    snprintf(item.final, sizeof item.final, "%d", final);
    char *solution = gsm8k_exemplar_answer(&item);
    if (!solution) return -1;
    es_buf doc = {0};
    es_buf_printf(&doc, "Question: %s\nAnswer: %s", question, solution);
    free(solution);
    return docs_add(docs, es_buf_take(&doc));
}

/* A fresh problem; returns its final answer. */
static int draw_problem(const world_people *w, uint64_t *rng, sum_state *s) {
    int who = world_below(rng, w->n_first), other;
    do other = world_below(rng, w->n_first);
    while (other == who && w->n_first > 1);
    *s = (sum_state){.name = w->first[who], .friend_name = w->first[other],
                     .female = w->first_female[who], .obj = &WORLD_PICK(rng, objects), .rng = rng};
    write_problem(s, 1 + world_below(rng, 3));
    return s->value;
}

int sums_make(const world_people *w, uint64_t seed, int n_train, int n_eval, char **train_jsonl,
              char **eval_jsonl, world_docs *docs, es_error *err) {
    uint64_t rng = world_stream(seed, 5);
    long total = (long)n_train + n_eval, made = 0, tries = 0, most_tries = 100 * total + 10000;
    es_buf train = {0}, eval = {0};
    world_docs seen = {0}; /* the questions, owned here, that the set points into */
    world_set distinct = {0};
    int rc = 0;
    while (made < total && rc == 0) {
        if (++tries > most_tries) {
            rc = es_fail(err, "world: could not make %ld distinct word problems", total);
            break;
        }
        sum_state s;
        int final = draw_problem(w, &rng, &s);
        char *q = es_buf_take(&s.q), *a = es_buf_take(&s.a);
        int added = q && a ? set_add(&distinct, q) : -1;
        if (added == 1) {
            rc = docs_add(&seen, q);
            q = NULL;
            if (rc == 0)
                rc = made < n_train ? emit(seen.text[seen.n - 1], a, final, &train, docs)
                                    : emit(seen.text[seen.n - 1], a, final, &eval, NULL);
            made++;
        } else if (added < 0) {
            rc = -1;
        }
        free(q);
        free(a);
    }
    if (rc < 0 && tries <= most_tries) rc = es_fail(err, "world: out of memory");
    set_free(&distinct);
    docs_free(&seen);
    *train_jsonl = es_buf_take(&train);
    *eval_jsonl = es_buf_take(&eval);
    if (rc == 0 && (!*train_jsonl || !*eval_jsonl)) rc = es_fail(err, "world: out of memory");
    if (rc) {
        free(*train_jsonl);
        free(*eval_jsonl);
        *train_jsonl = *eval_jsonl = NULL;
    }
    return rc;
}
