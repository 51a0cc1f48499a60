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

#endif
