/* A plain double-precision forward pass of a Llama model, the yardstick for
 * the engine in src/transformer. It shares nothing with the engine but the
 * weight structs and es_dequantize_row: no KV cache, no batching, no
 * kernels; the whole sequence is recomputed from scratch, one obvious loop
 * per step of the model's definition. */
#ifndef ES_TESTS_REFERENCE_FORWARD_H
#define ES_TESTS_REFERENCE_FORWARD_H

#include "model/model.h"

/* Logits after each of the n tokens: n rows of cfg->vocab_size doubles,
 * malloc'ed (free them). Test code: allocation failures abort.
 * A product with quantised weights (Q8_0, Q4_0, Q4_K, Q5_K, Q6_K) takes its
 * input rounded to 8 bits per 32 elements, by the engine's documented rule
 * (src/tensor/kernels_internal.h): that rounding is part of how the engine
 * defines a quantised model, as in llama.cpp. The rest is exact. */
double *reference_forward(const es_config *cfg, const es_weights *w,
                          const int32_t *tokens, int n);
/* The same without rounding any activation: the model's exact definition,
 * to measure what the 8-bit activations cost. */
double *reference_forward_exact(const es_config *cfg, const es_weights *w,
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
