/* A plain double-precision forward pass of a Llama model, the yardstick for
 * the engine in src/transformer. It shares nothing with the engine but the
 * weight structs and es_dequantize_row: no KV cache, no batching, no
 * kernels; the whole sequence is recomputed from scratch, one obvious loop
 * per step of the model's definition. */
#ifndef ES_TESTS_REFERENCE_FORWARD_H
#define ES_TESTS_REFERENCE_FORWARD_H

#include "model/model.h"

/* Logits after each of the n tokens: n rows of cfg->vocab_size doubles,
 * malloc'ed (free them). Test code: allocation failures abort. */
double *reference_forward(const es_config *cfg, const es_weights *w,
                          const int32_t *tokens, int n);

/* The probes' statistics, from the materialised attention matrix, by their
 * definitions (README, "Statistics"), for every token i, layer l, head h. */
typedef struct reference_probes {
    double *entropy;     /* [(i * n_layers + l) * n_heads + h], nats */
    double *varentropy;  /* same layout, nats^2 */
    double *agreement;   /* [i * n_layers + l] */
    double *interaction; /* [i * n_layers + l] */
} reference_probes;

/* reference_forward, and (if probes is not NULL) fills probes with
 * malloc'ed arrays (free them with reference_probes_free). */
double *reference_forward_probed(const es_config *cfg, const es_weights *w,
                                 const int32_t *tokens, int n, reference_probes *probes);
void reference_probes_free(reference_probes *probes);

#endif
