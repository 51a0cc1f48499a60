/* The trainer's internals (`entroscope train`, es_train in entroscope.h).
 * Three layers, each in its own file:
 *  - ops.c: forward and backward of each operation of a Llama block on a
 *    batch of B sequences of T positions (N = B*T rows, row-major);
 *  - train_model.c: the parameters in one flat array (a table of tensors),
 *    their init, the whole model's forward and backward, export to GGUF;
 *  - train.c: data, batches, AdamW, the schedule, checkpoints, the log.
 * The architecture is exactly what the engine runs for a GGUF "llama" file
 * with a tied classifier and the adjacent-pair RoPE layout, so that an
 * exported model gives the trainer's logits (tests/test_train.c checks it).
 * Every reduction runs in a fixed order: a run is bit-reproducible for a
 * given seed and thread count. */
#ifndef ES_TRAIN_TRAIN_H
#define ES_TRAIN_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "entroscope.h"

/* ----------------------------------------------------------------- ops -- */

/* y (n, out) = x (n, in) . w (out, in)^T */
void tr_matmul_fwd(const float *x, const float *w, float *y, int n, int in, int out);
/* dx (n, in) = dy . w (beta 0: overwrite, 1: add); dw (out, in) += dy^T . x.
 * dx or dw may be NULL to skip them. */
void tr_matmul_bwd(const float *dy, const float *x, const float *w, float *dx, float beta,
                   float *dw, int n, int in, int out);

/* y = x / sqrt(mean(x^2) + eps) * g per row of d; rstd (n) keeps 1/sqrt(..). */
void tr_rmsnorm_fwd(const float *x, const float *g, float *y, float *rstd, int n, int d,
                    float eps);
/* dx (n, d) += the input gradient; dg (d) += the gain gradient. */
void tr_rmsnorm_bwd(const float *dy, const float *x, const float *g, const float *rstd,
                    float *dx, float *dg, int n, int d);

/* cos/sin tables (T, hd/2) of pos * theta^(-2j/hd), positions 0..T-1. */
void tr_rope_tables(int T, int hd, float theta, float *cosv, float *sinv);
/* Rotates pairs (2j, 2j+1) of every head of x (n rows of n_heads*hd; row r
 * at position r % T) in place; inverse 1 rotates back (the backward). */
void tr_rope(float *x, int n, int T, int n_heads, int hd, const float *cosv,
             const float *sinv, int inverse);

/* Causal attention over B sequences of T: q (N, H*hd), k and v (N, KV*hd),
 * out (N, H*hd); probs (B, H, T, T) keeps the softmax (row t: keys 0..t).
 * Query head h reads kv head h / (H/KV); scores scaled by 1/sqrt(hd). */
typedef struct tr_attn_shape {
    int B, T, n_heads, n_kv_heads, hd;
} tr_attn_shape;
void tr_attention_fwd(const tr_attn_shape *s, const float *q, const float *k, const float *v,
                      float *probs, float *out);
/* dq, dk, dv are overwritten. */
void tr_attention_bwd(const tr_attn_shape *s, const float *q, const float *k, const float *v,
                      const float *probs, const float *dout, float *dq, float *dk, float *dv);

/* out = silu(gate) * up, elementwise over n. */
void tr_swiglu_fwd(const float *gate, const float *up, float *out, size_t n);
/* dgate, dup overwritten. */
void tr_swiglu_bwd(const float *dout, const float *gate, const float *up, float *dgate,
                   float *dup, size_t n);

/* x (n, d) = rows tokens[i] of emb (V, d). */
void tr_embed_fwd(const float *emb, const int32_t *tokens, float *x, int n, int d);
/* demb (V, d) += dx rows, in row order. */
void tr_embed_bwd(const float *dx, const int32_t *tokens, float *demb, int n, int d);

/* Mean cross-entropy (nats) of logits (n, V) against targets (-1: masked
 * out); dlogits (n, V) receives its gradient (0 on masked rows). *counted
 * receives the unmasked rows; the loss of none is 0. */
double tr_xent(const float *logits, const int32_t *targets, float *dlogits, int n, int V,
               int *counted);

/* --------------------------------------------------------------- model -- */

typedef struct tr_config {
    int vocab, dim, n_layers, n_heads, n_kv_heads, head_dim, hidden;
    int seq_len;             /* the context length written to the GGUF */
    float rope_theta, rms_eps;
} tr_config;

enum { TR_EMBD = 0, TR_LAYER_TENSORS = 9 };
/* One tensor of the flat parameter array. */
typedef struct tr_tensor {
    char name[48];           /* GGUF name, "blk.0.attn_q.weight" */
    int rows, cols;          /* rows = output width; norms: 1 row */
    size_t offset;           /* in floats, into params / grads / moments */
    int is_norm;             /* no weight decay, stored F32 */
    float init_std;          /* 0: initialised to 1 (norms) */
} tr_tensor;

/* Pointers into the flat array of one layer's tensors. */
typedef struct tr_layer {
    float *attn_norm, *wq, *wk, *wv, *wo, *ffn_norm, *w_gate, *w_up, *w_down;
} tr_layer;

typedef struct tr_model {
    tr_config c;
    int n_tensors;           /* 2 + 9 * n_layers */
    tr_tensor *tensors;      /* token_embd, layers..., output_norm */
    size_t n_params;
    float *params;           /* (n_params) */
    float *grads;            /* (n_params) */
} tr_model;

/* Lays out the tensors and allocates params and grads (zeroed). */
int tr_model_build(tr_model *m, const tr_config *c, es_error *err);
void tr_model_free(tr_model *m);
/* The init of the brief: N(0, 0.02^2), residual projections scaled by
 * 1/sqrt(2 n_layers), norms 1; each tensor from seed and its name. */
void tr_model_init(tr_model *m, uint64_t seed);
/* Layer l's pointers into params (or grads when of_grads). */
tr_layer tr_model_layer(const tr_model *m, int l, int of_grads);
const tr_tensor *tr_model_find(const tr_model *m, const char *name);

/* Activations of one batch of B sequences of T positions. */
typedef struct tr_state tr_state;
tr_state *tr_state_new(const tr_config *c, int B, int T, es_error *err);
void tr_state_free(tr_state *s);
/* Logits (B*T, vocab) of the last forward. */
const float *tr_state_logits(const tr_state *s);

/* Forward over inputs (B*T) with targets (B*T, -1: masked): returns the
 * mean cross-entropy (nats) and leaves the logits and their gradient in s.
 * targets may be NULL (logits only, loss 0). */
double tr_forward(const tr_model *m, tr_state *s, const int32_t *inputs,
                  const int32_t *targets);
/* Backward of the last forward: adds the gradients to m->grads. */
void tr_backward(tr_model *m, tr_state *s, const int32_t *inputs);

/* Writes the model as a llama GGUF: the config keys, tok's vocabulary,
 * matrices as `type` ("f32", "f16", "q8_0"; norms F32). extra (may be NULL)
 * adds keys/tensors before the write (checkpoints). */
struct gguf_writer;
int tr_model_write_gguf(const tr_model *m, const es_tokenizer *tok, const char *type,
                        uint64_t seed, const char *path,
                        int (*extra)(struct gguf_writer *w, void *user, es_error *err),
                        void *user, es_error *err);
/* 0 if type is one of f32, f16, q8_0 and fits the shape; else an error. */
int tr_check_type(const tr_config *c, const char *type, es_error *err);

#endif

/* ---------------------------------------------------------------- data -- */

/* The corpus as one token stream: BOS + tokens + EOS per document. */
typedef struct tr_corpus {
    char **texts;            /* (n_docs) the documents' text */
    size_t *lens;
    size_t n_docs;
    int32_t *stream;         /* (n_tokens) */
    size_t n_tokens;
    size_t *doc_starts;      /* (n_docs) offsets of the documents' BOS */
} tr_corpus;

/* Reads JSON lines {"text": ...} (blank lines skipped). Errors: "FILE:LINE: problem". */
int tr_corpus_read(tr_corpus *c, const char *path, es_error *err);
/* Tokenizes every document into the stream. */
int tr_corpus_tokenize(tr_corpus *c, const es_tokenizer *tok, const char *path, es_error *err);
void tr_corpus_free(tr_corpus *c);
/* Fills inputs and targets (B, T) from B sequences of T+1 tokens starting
 * at document starts drawn from *rng among those leaving room; targets that
 * are BOS become -1 (masked). Returns -1 if no start leaves room. */
int tr_corpus_batch(const tr_corpus *c, int B, int T, int32_t bos, uint64_t *rng,
                    int32_t *inputs, int32_t *targets);
