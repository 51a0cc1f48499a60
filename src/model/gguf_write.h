/* GGUF writer (version 3), for `entroscope synth` and the tests. Key/values
 * and tensors are collected in memory (tensor data is copied), then written
 * in one go to a temporary file beside the target, which is renamed into
 * place only when complete: a killed run leaves nothing half-written. */
#ifndef ES_MODEL_GGUF_WRITE_H
#define ES_MODEL_GGUF_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include "entroscope.h"
#include "model/gguf.h"

typedef struct gguf_writer gguf_writer;

gguf_writer *gguf_writer_new(void);
void gguf_writer_free(gguf_writer *w);

/* Each setter returns 0, or -1 on allocation failure. Keys are copied. */
int gguf_writer_set_u32(gguf_writer *w, const char *key, uint32_t v);
int gguf_writer_set_i32(gguf_writer *w, const char *key, int32_t v);
int gguf_writer_set_f32(gguf_writer *w, const char *key, float v);
int gguf_writer_set_bool(gguf_writer *w, const char *key, int v);
int gguf_writer_set_str(gguf_writer *w, const char *key, const char *v);
/* Arrays: fixed-size element types (elem_type not STRING/ARRAY); data copied. */
int gguf_writer_set_arr(gguf_writer *w, const char *key, gguf_type elem_type,
                        const void *data, uint64_t n);
int gguf_writer_set_arr_str(gguf_writer *w, const char *key,
                            const char *const *strs, const size_t *lens, uint64_t n);
/* Copies a key/value as read from another file (for carrying a vocabulary over). */
int gguf_writer_copy_kv(gguf_writer *w, const gguf_kv *kv);

/* The hyperparameters of a "llama" architecture model, as the llama.* keys
 * that llama.cpp and es_model_load read. */
typedef struct gguf_llama_config {
    const char *name;          /* general.name */
    int context_length, dim, n_layers, hidden_dim, head_dim, n_heads, n_kv_heads, vocab_size;
    float rms_eps, rope_theta;
} gguf_llama_config;
/* Sets general.architecture = "llama", general.name and the llama.* keys. */
int gguf_writer_set_llama_config(gguf_writer *w, const gguf_llama_config *c);

/* ne[0] innermost. data holds the tensor in its final type; it is copied. */
int gguf_writer_add_tensor(gguf_writer *w, const char *name, uint32_t type,
                           uint32_t n_dims, const uint64_t *ne,
                           const void *data, size_t n_bytes);

/* Writes path atomically (tmp + rename). Message: "PATH: problem". */
int gguf_writer_write(gguf_writer *w, const char *path, es_error *err);
/* Serialises to a malloc'ed buffer (for tests and the fuzz corpus). */
int gguf_writer_to_buffer(gguf_writer *w, uint8_t **buf, size_t *size, es_error *err);

#endif
