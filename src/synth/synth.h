/* Internal to src/synth/: the random tensors both writers share (synth.c)
 * and the safetensors folder writer (synth_hf.c). The public interface is
 * es_synth_* in entroscope.h. */
#ifndef ES_SYNTH_SYNTH_H
#define ES_SYNTH_SYNTH_H

#include <stddef.h>
#include <stdint.h>

#include "entroscope.h"
#include "tensor/tensor.h"

/* One tensor to draw, in the Hugging Face convention (rows = output width;
 * a vector is one row). */
typedef struct synth_tensor {
    char key[64];     /* seeds the values: the GGUF name, "blk.3.attn_q.weight" */
    int64_t rows, cols;
    int norm;         /* 1: a norm vector, 1 + N(0, 0.1^2); else N(0, 1/cols) */
    int head_dim;     /* Q and K: the head size (GGUF permutes their rows); else 0 */
} synth_tensor;

#define SYNTH_LAYER_TENSORS 9

/* Row `row` of t for this seed: cols floats. */
void synth_row(const synth_tensor *t, uint64_t seed, int64_t row, float *out);
/* All of t in `type` (malloc'ed, *n_bytes). permute: Q/K rows in GGUF order. */
uint8_t *synth_tensor_data(const synth_tensor *t, uint64_t seed, es_dtype type, int permute,
                           size_t *n_bytes, es_error *err);
/* "token_embd" or "output" (vocab_rows rows), "output_norm". */
void synth_global_tensor(const es_synth_params *p, const char *which, int64_t vocab_rows,
                         synth_tensor *t);
/* Tensor i (0..8: attn_norm, attn_q, attn_k, attn_v, attn_output, ffn_norm,
 * ffn_gate, ffn_up, ffn_down) of self-attention layer `layer`; returns its
 * GGUF suffix. */
const char *synth_layer_tensor(const es_synth_params *p, int layer, int i, synth_tensor *t);
/* The GGUF type of a matrix ("token_embd", "attn_v", ...; layer -1 for the
 * global ones) under p->type, which may be the "q4_k_m" mix. */
es_dtype synth_matrix_type(const es_synth_params *p, const char *which, int layer);

/* Writes the folder out_dir: config.json, tokenizer.json, model.safetensors. */
int synth_write_safetensors(const es_synth_params *p, const char *out_dir, es_error *err);

#endif
