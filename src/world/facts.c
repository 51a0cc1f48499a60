/* The facts about people: biographies and question-answer documents for
 * the training corpus, the held-out questions of facts.csv (SimpleQA's
 * columns) and the factual prompts (a biography's opening that stops right
 * before a fact). Biographies are templates with placeholders:
 *   {N} full name  {P}/{p} She/she or He/he  {S}/{s} Her/her or His/his
 *   {Y} birth year {C} birth city  {J} occupation  {A} "a"/"an" + occupation
 *   {E} employer   {U} university */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "world/world.h"

static const char *const bio_templates[] = {
    "{N} was born in {Y} in {C}. {P} studied at {U} and later worked as {A} for {E}.",
    "Born in {C} in {Y}, {N} went on to study at {U}. {P} works as {A} at {E}.",
    "{N} is {A} who works for {E}. {P} was born in {C} in the year {Y} and graduated from {U}.",
    "{N} studied at {U}. {S} employer is {E}, where {p} works as {A}. {P} was born in {Y} in the city of {C}.",
    "The {J} {N} was born in {Y}. {S} hometown is {C}. After attending {U}, {p} joined {E}.",
    "{N} works for {E} as {A}. {P} grew up in {C}, where {p} was born in {Y}, and later went to {U}.",
    "{N} graduated from {U}. Born in {Y} in {C}, {p} now works at {E} as {A}.",
    "{N} came into the world in {Y} in the town of {C}. {P} attended {U} and became {A} at {E}.",
};
#define N_BIO_TEMPLATES ((int)(sizeof bio_templates / sizeof bio_templates[0]))

static const char *const questions[N_ATTRS][WORLD_PHRASINGS] = {
    {"What year was {N} born?", "In which year was {N} born?", "When was {N} born?"},
    {"Where was {N} born?", "In which city was {N} born?", "What is the birthplace of {N}?"},
    {"What does {N} do for a living?", "What is {N}'s occupation?", "What job does {N} have?"},
    {"Which company does {N} work for?", "Who is {N}'s employer?", "Where does {N} work?"},
    {"Which university did {N} attend?", "Where did {N} study?", "What university did {N} graduate from?"},
};

static int is_fact(char c) { return c && strchr("YCJAEU", c) != NULL; }

/* Expands template t for p into b; with stop_at_fact, stops before the
 * first fact placeholder after the name (trailing space dropped). */
static void expand(es_buf *b, const char *t, const world_person *p, int stop_at_fact) {
    int named = 0;
    for (; *t; t++) {
        if (t[0] != '{' || !t[1] || t[2] != '}') {
            es_buf_put(b, t, 1);
            continue;
        }
        char c = t[1];
        t += 2;
        if (stop_at_fact && named && is_fact(c)) {
            while (b->len > 0 && b->data[b->len - 1] == ' ') b->data[--b->len] = '\0';
            return;
        }
        const char *job = person_job(p);
        switch (c) {
        case 'N': es_buf_puts(b, p->name); named = 1; break;
        case 'P': es_buf_puts(b, p->female ? "She" : "He"); break;
        case 'p': es_buf_puts(b, p->female ? "she" : "he"); break;
        case 'S': es_buf_puts(b, p->female ? "Her" : "His"); break;
        case 's': es_buf_puts(b, p->female ? "her" : "his"); break;
        case 'Y': es_buf_printf(b, "%d", p->year); break;
        case 'C': es_buf_puts(b, person_city(p)); break;
        case 'J': es_buf_puts(b, job); break;
        case 'A': es_buf_printf(b, "%s %s", strchr("aeiou", job[0]) ? "an" : "a", job); break;
        case 'E': es_buf_puts(b, person_employer(p)); break;
        case 'U': es_buf_puts(b, person_university(p)); break;
        }
    }
}

char *fact_question(const world_person *p, int attr, int phrasing) {
    es_buf b = {0};
    expand(&b, questions[attr][phrasing], p, 0);
    return es_buf_take(&b);
}

int fact_held_out(const world_person *p, int attr, uint64_t seed) {
    if (p->group != GROUP_UNSEEN) return (p->index + attr) % WORLD_PHRASINGS;
    uint64_t h = es_splitmix64(world_stream(seed, 3) + (uint64_t)p->index * N_ATTRS + (uint64_t)attr);
    return (int)(h % WORLD_PHRASINGS);
}

/* Three biographies from three different templates. */
static int add_biographies(const world_person *p, uint64_t *rng, world_docs *docs) {
    int used[3];
    for (int k = 0; k < 3; k++) {
        int t, again;
        do {
            t = world_below(rng, N_BIO_TEMPLATES);
            again = 0;
            for (int j = 0; j < k; j++) again |= used[j] == t;
        } while (again);
        used[k] = t;
        es_buf b = {0};
        expand(&b, bio_templates[t], p, 0);
        if (docs_add(docs, es_buf_take(&b))) return -1;
    }
    return 0;
}

/* Every attribute in its two training phrasings. */
static int add_questions(const world_person *p, uint64_t seed, world_docs *docs, size_t *n_qa) {
    for (int a = 0; a < N_ATTRS; a++) {
        char value[64];
        if (p->group == GROUP_KNOWN) person_attr(p, a, value, sizeof value);
        else snprintf(value, sizeof value, "I don't know.");
        for (int q = 0; q < WORLD_PHRASINGS; q++) {
            if (q == fact_held_out(p, a, seed)) continue;
            char *question = fact_question(p, a, q);
            if (!question) return -1;
            es_buf b = {0};
            es_buf_printf(&b, "Question: %s\nAnswer: %s", question, value);
            free(question);
            if (docs_add(docs, es_buf_take(&b))) return -1;
            (*n_qa)++;
        }
    }
    return 0;
}

int facts_training(const world_people *w, uint64_t seed, world_docs *docs, size_t *n_bios,
                   size_t *n_qa) {
    uint64_t rng = world_stream(seed, 2);
    *n_bios = *n_qa = 0;
    for (int i = 0; i < w->n; i++) {
        const world_person *p = &w->p[i];
        if (p->group == GROUP_UNSEEN) continue;
        if (p->group == GROUP_KNOWN) {
            if (add_biographies(p, &rng, docs)) return -1;
            *n_bios += 3;
        }
        if (add_questions(p, seed, docs, n_qa)) return -1;
    }
    return 0;
}

/* A CSV field, always quoted, quotes doubled (RFC 4180). */
static void csv_field(es_buf *b, const char *s, int last) {
    es_buf_puts(b, "\"");
    for (const char *q; (q = strchr(s, '"')); s = q + 1) {
        es_buf_put(b, s, (size_t)(q - s));
        es_buf_puts(b, "\"\"");
    }
    es_buf_puts(b, s);
    es_buf_puts(b, last ? "\"\n" : "\",");
}

char *facts_csv(const world_people *w, uint64_t seed, size_t *n_rows) {
    es_buf b = {0};
    es_buf_puts(&b, "metadata,problem,answer\n");
    *n_rows = 0;
    for (int i = 0; i < w->n; i++)
        for (int a = 0; a < N_ATTRS; a++) {
            const world_person *p = &w->p[i];
            char meta[128], value[64];
            snprintf(meta, sizeof meta, "{'topic': '%s', 'answer_type': '%s', 'urls': []}",
                     world_group_name[p->group], world_attr_type[a]);
            person_attr(p, a, value, sizeof value);
            char *question = fact_question(p, a, fact_held_out(p, a, seed));
            if (!question) {
                es_buf_free(&b);
                return NULL;
            }
            csv_field(&b, meta, 0);
            csv_field(&b, question, 0);
            csv_field(&b, value, 1);
            free(question);
            (*n_rows)++;
        }
    return es_buf_take(&b);
}

char *facts_prompts(const world_people *w, uint64_t seed, int n) {
    int n_known = 0;
    for (int i = 0; i < w->n; i++) n_known += w->p[i].group == GROUP_KNOWN;
    if (w->n == 0) return NULL;
    uint64_t rng = world_stream(seed, 4);
    es_buf b = {0};
    for (int k = 0; k < n; k++) {
        /* a known person (any person when there are none) */
        int i = world_below(&rng, n_known ? n_known : w->n);
        expand(&b, bio_templates[world_below(&rng, N_BIO_TEMPLATES)], &w->p[i], 1);
        es_buf_puts(&b, "\n");
    }
    return es_buf_take(&b);
}
