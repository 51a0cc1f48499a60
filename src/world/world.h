/* The insides of `entroscope world` (es_world_write, world.c), in parts:
 *   text.c     document lists, a string set and the
 *              seeded random streams every part draws from;
 *   people.c   the made-up people (names, gender, five attributes) and the
 *              word lists their attributes come from;
 *   facts.c    biographies, question-answer documents, facts.csv rows and
 *              the factual prompts;
 *   sums.c     word problems of one to three steps, GSM8K's format;
 *   stories.c  short stories and the creative prompts.
 * Every part draws from its own stream (world_stream(seed, tag)), so that
 * changing one count leaves the other parts of the world as they were. */
#ifndef ES_WORLD_WORLD_H
#define ES_WORLD_WORLD_H

#include <stddef.h>
#include <stdint.h>

#include "entroscope.h"
#include "util/rng.h"
#include "util/text_buf.h"

/* ---------------------------------------------------------------- text -- */

/* Texts are built in an es_buf (util/text_buf.h). */

/* Documents (malloc'ed strings, owned). */
typedef struct world_docs {
    char **text;  /* (n) */
    size_t n, cap;
} world_docs;

/* Adds text (taking it; NULL means out of memory). Returns 0 or -1. */
int docs_add(world_docs *d, char *text);
void docs_free(world_docs *d);

/* A set of strings (not owned) for the distinctness checks. */
typedef struct world_set {
    const char **slot;  /* (cap) open addressing, NULL = empty */
    size_t n, cap;
} world_set;

/* 1: added, 0: already there, -1: out of memory. */
int set_add(world_set *s, const char *text);
int set_has(const world_set *s, const char *text);
void set_free(world_set *s);

/* A stream of random numbers for one part of the world. */
static inline uint64_t world_stream(uint64_t seed, uint64_t tag) {
    uint64_t s = es_splitmix64(seed ^ es_splitmix64(tag + 0x51ed270b27ull));
    return s ? s : 1;
}
/* Uniform in [0, n) (n >= 1; the modulo bias is negligible for small n). */
static inline int world_below(uint64_t *rng, int n) {
    return (int)(es_xorshift64s(rng) % (uint64_t)n);
}
/* Uniform in [lo, hi]. */
static inline int world_range(uint64_t *rng, int lo, int hi) {
    return lo + world_below(rng, hi - lo + 1);
}
#define WORLD_PICK(rng, array) ((array)[world_below((rng), (int)(sizeof(array) / sizeof((array)[0])))])

/* -------------------------------------------------------------- people -- */

enum { ATTR_YEAR, ATTR_CITY, ATTR_JOB, ATTR_EMPLOYER, ATTR_UNIVERSITY, N_ATTRS };
enum { GROUP_KNOWN, GROUP_ABSTAIN, GROUP_UNSEEN, N_GROUPS };

typedef struct world_person {
    char first[24], last[24], name[48];
    int female;
    int group;       /* GROUP_* */
    int index;       /* place within its group */
    int year;        /* 1900-1999 */
    int city, job, employer, university; /* indices into the word lists */
} world_person;

typedef struct world_people {
    world_person *p;  /* (n): known, then abstain, then unseen */
    int n;
    char (*first)[24];   /* (n_first) every usable first name (the sums use them too) */
    int *first_female;   /* (n_first) */
    int n_first;
} world_people;

int people_make(world_people *w, const es_world_params *params, es_error *err);
void people_free(world_people *w);

extern const char *const world_attr_type[N_ATTRS]; /* "birth year", ... (facts.csv answer_type) */
extern const char *const world_group_name[N_GROUPS]; /* "known", "abstain", "unseen" */
/* The attribute's value as text ("1967", "Tarsel", "baker", ...). */
void person_attr(const world_person *p, int attr, char *out, size_t size);
const char *person_city(const world_person *p);
const char *person_job(const world_person *p);
const char *person_employer(const world_person *p);
const char *person_university(const world_person *p);

/* --------------------------------------------------------------- facts -- */

#define WORLD_PHRASINGS 3

/* Question q (0..2) about attribute a of p (malloc'ed, or NULL). */
char *fact_question(const world_person *p, int attr, int phrasing);
/* The held-out phrasing of (p, attr): (index + attr) % 3 for known and
 * abstain people; a seeded choice for unseen ones. */
int fact_held_out(const world_person *p, int attr, uint64_t seed);
/* Biographies and question-answer documents into docs. */
int facts_training(const world_people *w, uint64_t seed, world_docs *docs, size_t *n_bios,
                   size_t *n_qa);
/* facts.csv's whole text (malloc'ed) and row count. */
char *facts_csv(const world_people *w, uint64_t seed, size_t *n_rows);
/* n factual prompts, one a line (malloc'ed). */
char *facts_prompts(const world_people *w, uint64_t seed, int n);

/* ---------------------------------------------------------------- sums -- */

/* n_train + n_eval distinct word problems as GSM8K JSON lines: train into
 * *train_jsonl, the rest into *eval_jsonl (malloc'ed); the training
 * documents "Question: Q\nAnswer: A" into docs. */
int sums_make(const world_people *w, uint64_t seed, int n_train, int n_eval, char **train_jsonl,
              char **eval_jsonl, world_docs *docs, es_error *err);

/* ------------------------------------------------------------- stories -- */

int stories_make(uint64_t seed, int n, world_docs *docs);
/* n story openings, one a line (malloc'ed). */
char *stories_prompts(uint64_t seed, int n);

#endif
