/* The data sets of the studies, read into memory:
 *   - SimpleQA (simple_qa_test_set.csv: columns metadata, problem, answer;
 *     topic and answer_type come from the metadata dict literal), with a
 *     stratified sampler by topic;
 *   - GSM8K (JSON lines with question and answer; the answer ends with
 *     "#### N"), with the few-shot exemplars of chain-of-thought prompts.
 * Errors are one line "PATH:LINE: problem". With skip_bad, malformed records
 * are skipped and counted in n_skipped instead. */
#ifndef ES_STUDY_DATASETS_H
#define ES_STUDY_DATASETS_H

#include <stddef.h>
#include <stdint.h>

#include "entroscope.h"
#include "study/number.h"

/* Reads a whole file into a malloc'd buffer (NUL-terminated; *size excludes
 * the NUL). */
int study_read_file(const char *path, char **data, size_t *size, es_error *err);

/* ------------------------------------------------------------- SimpleQA -- */

typedef struct simpleqa_item {
    size_t id;          /* row index among the data rows, 0-based (skipped rows count too) */
    long line;          /* line of the file on which the row starts */
    char *problem;
    char *answer;
    char *topic;        /* metadata['topic'] */
    char *answer_type;  /* metadata['answer_type'] */
} simpleqa_item;

typedef struct simpleqa_set {
    simpleqa_item *items; /* (n) */
    size_t n;
    long n_skipped;       /* malformed rows skipped (skip_bad) */
} simpleqa_set;

int simpleqa_load(simpleqa_set *set, const char *path, int skip_bad, es_error *err);
/* The same from a buffer; path only names it in messages. */
int simpleqa_parse(simpleqa_set *set, const char *data, size_t size, const char *path,
                   int skip_bad, es_error *err);
void simpleqa_free(simpleqa_set *set);

/* A stratified sample of n items by topic, deterministic in (set, n, seed):
 *   - quotas: topic t with c_t of the N items gets floor(n * c_t / N); the
 *     items left over go one each to the topics with the largest remainders
 *     n * c_t mod N (ties: the larger topic, then the topic name in byte
 *     order), so quotas sum to n and each is within 1 of n * c_t / N;
 *   - within a topic, quota items are drawn without replacement by a partial
 *     Fisher-Yates shuffle of the topic's items (in file order) driven by
 *     xorshift64* seeded with splitmix64(seed ^ hash of the topic name), so a
 *     topic's draw does not depend on the other topics.
 * The chosen indices into set->items come back in file order (malloc'd). With
 * n >= set->n every item is chosen. */
int simpleqa_sample(const simpleqa_set *set, size_t n, uint64_t seed, size_t **indices,
                    size_t *n_indices, es_error *err);

/* ---------------------------------------------------------------- GSM8K -- */

typedef struct gsm8k_item {
    size_t id;       /* 0-based index among the lines holding items */
    long line;       /* line of the file */
    char *question;
    char *answer;    /* the reference solution, as in the file */
    char final[NUMBER_TEXT_MAX]; /* the number after "####", canonical (number.h) */
} gsm8k_item;

typedef struct gsm8k_set {
    gsm8k_item *items; /* (n) */
    size_t n;
    long n_skipped;
} gsm8k_set;

int gsm8k_load(gsm8k_set *set, const char *path, int skip_bad, es_error *err);
int gsm8k_parse(gsm8k_set *set, const char *data, size_t size, const char *path, int skip_bad,
                es_error *err);
void gsm8k_free(gsm8k_set *set);

/* The reference solution as a few-shot exemplar answer: calculator
 * annotations "<<...>>" removed and the "#### N" line replaced by
 * "The final answer is N" (N canonical), which ends the text. malloc'd, or
 * NULL when out of memory. */
char *gsm8k_exemplar_answer(const gsm8k_item *item);

/* Few-shot exemplars: k distinct items of a training set, as indices into
 * train->items (malloc'd, k of them). seeded == 0: the first k items, in
 * file order (the usual choice, stable across runs and tools). seeded != 0:
 * k items drawn without replacement by a partial Fisher-Yates shuffle with
 * xorshift64* seeded with splitmix64(seed), in the order drawn. */
int gsm8k_fewshot(const gsm8k_set *train, size_t k, int seeded, uint64_t seed, size_t **indices,
                  es_error *err);

#endif
