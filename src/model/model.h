/* The model: its hyperparameters, its weights (typed views into a memory-
 * mapped file, or into memory the caller owns), its tokenizer, and where it
 * came from. Four constructors fill the same struct:
 *   - the GGUF loader (model.c), architecture "llama";
 *   - the llama2.c checkpoint loader (llama2c.c);
 *   - the Hugging Face folder loader (hf_model.c): safetensors shards,
 *     LlamaForCausalLM and the text path of MllamaForConditionalGeneration;
 *   - es_model_from_tensors, which wraps tensors already in memory (tests).
 * Each of them runs the same shape and type checks (es_model_check), so the
 * forward pass (src/transformer) can trust every tensor it is given.
 *
 * Tensors are row-major: ne[0] elements per row (the input width of a matrix),
 * ne[1] rows (its output width), so W x is one dot product per row. */
#ifndef ES_MODEL_MODEL_H
#define ES_MODEL_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "entroscope.h"
#include "model/gguf.h"
#include "tensor/tensor.h"

/* Which dimensions of a head the rotary embedding rotates together. */
typedef enum es_rope_layout {
    ES_ROPE_ADJACENT = 0, /* pairs (2i, 2i+1): llama2.c, and GGUF (whose
                             converter permutes Q and K into this order) */
    ES_ROPE_HALF = 1,     /* pairs (i, i + head_dim/2): Hugging Face checkpoints */
} es_rope_layout;

/* Llama 3.1's rescaling of the RoPE frequencies for long contexts
 * (config.json's rope_scaling with rope_type "llama3"). */
typedef struct es_rope_scaling {
    int llama3;                /* 1: the fields below apply; 0: no scaling */
    float factor;              /* e.g. 32 (3.2) or 8 (3.1) */
    float low_freq_factor;     /* e.g. 1 */
    float high_freq_factor;    /* e.g. 4 */
    int original_context;      /* original_max_position_embeddings, e.g. 8192 */
} es_rope_scaling;

typedef struct es_config {
    int dim;            /* width of the residual stream (embedding length) */
    int hidden_dim;     /* width of the feed-forward layer */
    int n_layers;
    int n_heads;        /* query heads */
    int n_kv_heads;     /* key/value heads; n_heads is a multiple of it */
    int head_dim;       /* elements per head (usually dim / n_heads) */
    int vocab_size;     /* rows of the embedding and of the classifier */
    int context_length; /* positions the model was trained for */
    float rms_eps;      /* added to the mean square in RMSNorm */
    float rope_theta;   /* RoPE base: theta_i = rope_theta^(-2i/head_dim) */
    es_rope_layout rope_layout;
    es_rope_scaling rope_scaling; /* what config.json said (for info); the
                                     forward pass uses weights.rope_freqs */
} es_config;

/* One transformer block. F32 for the norms; any supported type otherwise. */
typedef struct es_layer_weights {
    es_tensor attn_norm; /* (dim) RMSNorm weight before attention */
    es_tensor wq;        /* (n_heads*head_dim rows, dim cols) */
    es_tensor wk;        /* (n_kv_heads*head_dim rows, dim cols) */
    es_tensor wv;        /* (n_kv_heads*head_dim rows, dim cols) */
    es_tensor wo;        /* (dim rows, n_heads*head_dim cols) */
    es_tensor ffn_norm;  /* (dim) RMSNorm weight before the feed-forward */
    es_tensor w_gate;    /* (hidden_dim rows, dim cols), "w1": silu(gate) */
    es_tensor w_up;      /* (hidden_dim rows, dim cols), "w3": times up */
    es_tensor w_down;    /* (dim rows, hidden_dim cols), "w2" */
} es_layer_weights;

typedef struct es_weights {
    es_tensor token_embd;     /* (vocab_size rows, dim cols) */
    es_tensor output_norm;    /* (dim) final RMSNorm weight, F32 */
    es_tensor output;         /* (vocab_size rows, dim cols); a copy of the
                                 token_embd view when the classifier is tied */
    es_layer_weights *layers; /* (n_layers) */
    es_tensor rope_freqs;     /* (head_dim/2) F32, optional (data NULL: none):
                                 RoPE frequency i is theta_i / rope_freqs[i]
                                 (GGUF "rope_freqs.weight"; computed from
                                 es_rope_scaling for safetensors) */
} es_weights;

struct es_model {
    es_config config;
    es_weights weights;     /* layers malloc'ed; tensor data owned below */
    int tied_output;        /* 1: weights.output is the token embedding */
    es_tokenizer *tokenizer; /* owned; NULL only for es_model_from_tensors */

    /* where it came from, for es_model_get_info / es_model_print_info */
    char *path;             /* malloc'ed copy */
    char format[16];        /* "GGUF v3", "GGUF v2", "llama2.c", "safetensors", "memory" */
    char *name;             /* general.name, or "" (malloc'ed) */

    /* the memory the tensors point into (at most one of these is used) */
    gguf_file gguf;         /* GGUF: open while the model lives */
    int has_gguf;
    es_file_map file_map;   /* llama2.c: the whole file */
    struct es_safetensors *safetensors; /* safetensors folder: its mapped
                                   shards (model/safetensors.h) */
    float *owned;           /* memory owned by the model (rope_freqs computed
                               from config.json), or NULL */

    /* Llama 3.2 Vision (MllamaForConditionalGeneration): the text path only */
    int vision;             /* 1: a Vision checkpoint; images are not supported */
    int n_cross_layers;     /* cross-attention layers skipped (text-only prompts) */
};

/* Wraps tensors the caller keeps alive for the model's life: the config and
 * the es_weights struct (with its layers array) are copied, the tensor data
 * is not. tok (may be NULL) is owned by the model from then on, also on
 * failure. Runs es_model_check; messages name "memory". */
es_model *es_model_from_tensors(const es_config *cfg, const es_weights *w,
                                es_tokenizer *tok, es_error *err);

/* Checks the config: positive sizes, heads that divide, products that fit
 * in an int. Messages read "NAME: problem". */
int es_config_check(const es_config *cfg, const char *name, es_error *err);

/* Checks one tensor against the shape it must have (ne1 = 1 for vectors)
 * and against the types the engine computes with; F32 only if need_f32.
 * Messages read "FILE: tensor TENSOR has ...". */
int es_tensor_check(const es_tensor *t, const char *file, const char *tensor,
                    int64_t ne0, int64_t ne1, int need_f32, es_error *err);

/* Checks every tensor of w against cfg (names as in GGUF files). */
int es_weights_check(const es_config *cfg, const es_weights *w,
                     const char *file, es_error *err);

/* The GGUF name of layer l's tensor `which` ("attn_q", ...), into buf. */
const char *es_tensor_name(char *buf, size_t size, int layer, const char *which);

/* Loaders behind es_model_load (which picks one by the file's first bytes).
 * Both fill m (zeroed by the caller) or fail with "PATH: problem"; on
 * failure the caller frees m with es_model_free. */
int es_model_load_gguf(es_model *m, const char *path, const char *tokenizer_path,
                       es_error *err);
int es_model_load_llama2c(es_model *m, const char *path, const char *tokenizer_path,
                          es_error *err);
/* A Hugging Face folder (config.json, tokenizer.json, model.safetensors or
 * shards with model.safetensors.index.json): hf_model.c. tokenizer_path
 * (may be NULL) replaces the folder's tokenizer.json. */
int es_model_load_hf(es_model *m, const char *dir, const char *tokenizer_path,
                     es_error *err);

/* Llama 3.1's RoPE frequency factors (rope_scaling "llama3"), as stored in
 * llama.cpp's rope_freqs.weight: frequency i (theta^(-2i/head_dim)) is
 * divided by factors[i], i < head_dim/2. With wavelength w = 2 pi / freq and
 * original context L: w < L/high_freq_factor keeps it (1), w > L/low_freq_factor
 * divides it by factor, and in between 1 / ((1 - s)/factor + s) with
 * s = (L/w - low_freq_factor) / (high_freq_factor - low_freq_factor). */
void es_rope_llama3_factors(const es_rope_scaling *s, float rope_theta, int head_dim,
                            float *factors);
/* Checks the llama3 parameters (factor >= 1, 0 < low < high, context > 0). */
int es_rope_scaling_check(const es_rope_scaling *s, const char *name, es_error *err);

#endif
