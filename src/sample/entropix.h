/* The Entropix-style adaptive sampler's per-generation state (entropix.c),
 * used by the generation loop (study/generation.c) and the tests: given a
 * pass's logits, their entropy and varentropy and the pass's attention
 * probe, es_entropix_choose says which branch fires and what it does. */
#ifndef ES_SAMPLE_ENTROPIX_H
#define ES_SAMPLE_ENTROPIX_H

#include "entroscope.h"

typedef enum es_entropix_branch {
    ES_ENTROPIX_ARGMAX,
    ES_ENTROPIX_INSERT,   /* insert the clarifying tokens */
    ES_ENTROPIX_EXPLORE,
    ES_ENTROPIX_RESAMPLE,
    ES_ENTROPIX_ADAPTIVE,
    ES_ENTROPIX_INSERTED, /* a token of the clarifying text, put in, not sampled */
} es_entropix_branch;

/* "argmax", "insert", "explore", "resample", "adaptive", "inserted". */
const char *es_entropix_branch_name(es_entropix_branch b);

/* What one decision did. When inserts is set (branch ES_ENTROPIX_INSERTED),
 * token is the first clarifying token and the caller feeds the rest after
 * it; ES_ENTROPIX_INSERT is the insert quadrant's sample right after an
 * insertion. The sampling values are those the branch used (argmax and
 * insertion: temperature 0). */
typedef struct es_entropix_action {
    es_entropix_branch branch;
    int32_t token;
    int inserts;       /* 1: token starts the clarifying insertion */
    float temperature, top_p, min_p;
    int top_k;
} es_entropix_action;

typedef struct es_entropix es_entropix;

/* The clarifying text of p as the tokenizer encodes it (no BOS); fails when
 * it gives no token. *ids is malloc'ed. */
int es_entropix_tokenize_clarifying(const es_entropix_params *p, const es_tokenizer *tok,
                                    int32_t **ids, size_t *n_ids, es_error *err);

/* insert: the clarifying tokens (copied; n_insert >= 1). NULL when out of
 * memory or arguments are bad. */
es_entropix *es_entropix_new(const es_entropix_params *p, int vocab_size, uint64_t seed,
                             const int32_t *insert, size_t n_insert);
void es_entropix_free(es_entropix *e);

/* Chooses the next token from logits (vocab_size), whose entropy (nats)
 * and varentropy (nats^2) are given; probe may be NULL (attention terms 0).
 * just_inserted: the previous tokens were a clarifying insertion. */
es_entropix_action es_entropix_choose(es_entropix *e, const float *logits, double entropy,
                                      double varentropy, const es_attn_probe *probe,
                                      int just_inserted);

/* The clarifying tokens (for the caller to feed after an INSERT). */
const int32_t *es_entropix_insert_tokens(const es_entropix *e, size_t *n);

#endif
