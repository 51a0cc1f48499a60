/* The forward pass of a Llama-family transformer over an es_model, and the
 * context that holds one sequence's state: the KV cache and the scratch
 * buffers. The public functions (es_context_new, es_context_eval, ...) are
 * declared in entroscope.h; this header adds what the tests and the probes
 * need to look inside.
 *
 * Shapes, per layer, for a batch of n tokens at positions pos..pos+n-1:
 *   x      (n, dim)                   residual stream
 *   q      (n, n_heads * head_dim)    queries, after RoPE
 *   K, V   (n_ctx, n_kv_heads * head_dim) cache rows; keys after RoPE
 *   att    (n, n_heads * head_dim)    attention output, heads side by side
 *   gate, up (n, hidden_dim)          feed-forward
 * Query head h reads key/value head h / (n_heads / n_kv_heads). */
#ifndef ES_TRANSFORMER_TRANSFORMER_H
#define ES_TRANSFORMER_TRANSFORMER_H

#include "entroscope.h"

/* The most tokens one batch of the forward pass holds; longer prompts are
 * run in consecutive batches of this size (the scratch memory stays bounded). */
#define ES_MAX_BATCH 256

/* The first allocation of the KV cache, in positions; it then doubles. */
#define ES_KV_INITIAL 32
/* The cache is held in blocks of this many positions, each head's run of
 * keys (values) contiguous within a block. */
#define ES_KV_BLOCK 256

/* Positions the KV cache currently has room for (grows by doubling, up to
 * n_ctx, as tokens are evaluated). */
int es_context_kv_capacity(const es_context *ctx);
int es_context_threads(const es_context *ctx);

#endif
