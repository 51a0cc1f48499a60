/* Random Llama models for the model and transformer tests: built in memory
 * (so the reference comparison needs no files), and written out as GGUF or
 * as a llama2.c checkpoint (so the loaders can be checked against the same
 * weights), optionally with one deliberate defect for the malformed-file
 * tables. */
#ifndef ES_TESTS_RANDOM_MODEL_H
#define ES_TESTS_RANDOM_MODEL_H

#include "model/model.h"

typedef struct random_model {
    es_config cfg;
    es_weights w;      /* w.layers and every tensor's data are owned here */
    int tied;          /* the classifier is the token embedding */
    void **blobs;      /* tensor data, to free */
    int n_blobs;
} random_model;

/* Weights of `type` (norms always F32), drawn so that activations stay of
 * order 1 through the layers; deterministic for a seed. */
void random_model_build(random_model *rm, const es_config *cfg, int tied, es_dtype type,
                        uint64_t seed);
void random_model_free(random_model *rm);

/* An es_config with the usual defaults (eps 1e-5, theta 10000, adjacent RoPE). */
es_config random_config(int dim, int hidden, int layers, int heads, int kv_heads,
                        int head_dim, int vocab, int context);

/* n token ids in [0, vocab), deterministic for a seed. */
void random_tokens(int32_t *ids, int n, int vocab, uint64_t seed);

/* One thing to get wrong when writing a GGUF (all zero: a correct file). */
typedef struct gguf_defect {
    const char *arch;          /* general.architecture instead of "llama" */
    const char *drop_tensor;   /* leave this tensor out */
    const char *grow_tensor;   /* give this tensor one row too many */
    const char *retype_tensor; /* store this tensor as retype (zeros if the */
    uint32_t retype;           /*   engine cannot quantise to it) */
    const char *three_d_tensor; /* give this tensor a third dimension of 2 */
    int head_count;            /* write this llama.attention.head_count instead */
    int head_count_kv;         /* write this head_count_kv instead */
    int vocab_size_key;        /* write llama.vocab_size = this */
    int rope_dims;             /* write llama.rope.dimension_count = this */
    const char *drop_key;      /* leave this key out */
    int no_tensors;            /* vocabulary only */
} gguf_defect;

/* Writes rm as a GGUF with tok's vocabulary (its size must be cfg.vocab_size
 * unless the defect says otherwise). Returns 0 or -1 with err set. */
int random_model_write_gguf(const random_model *rm, const es_tokenizer *tok,
                            const gguf_defect *defect, const char *path, es_error *err);

/* Writes rm (F32 weights) as a llama2.c checkpoint: header, weights in
 * run.c's order, zero RoPE tables, and the classifier if not tied. */
int random_model_write_llama2c(const random_model *rm, const char *path);

/* Writes a llama2.c tokenizer.bin of n >= 259 tokens: <unk>, <s>, </s>,
 * the 256 byte tokens <0x00>..<0xFF>, then "a", "b", ... pieces. */
int write_llama2c_tokenizer(const char *path, int n);

#endif
