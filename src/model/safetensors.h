/* Safetensors reader. A .safetensors file is an 8-byte little-endian header
 * length N, N bytes of JSON, then the tensor data. The JSON maps each tensor
 * name to {"dtype": "BF16", "shape": [rows, cols], "data_offsets": [begin,
 * end]} (offsets from the start of the data), plus an optional
 * "__metadata__" object of strings. This reader memory-maps each file (one
 * per shard of a sharded checkpoint) and validates every entry before
 * anything uses it: known dtype, shape product times element size equal to
 * the byte range, ranges inside the data, not overlapping, covering it with
 * no gaps (as the format's reference implementation demands), and names
 * unique across all the shards added. Tensor data points into the mapping. */
#ifndef ES_MODEL_SAFETENSORS_H
#define ES_MODEL_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "entroscope.h"

#define ES_ST_MAX_DIMS 8

typedef struct es_st_tensor {
    char *name;            /* malloc'ed, NUL-terminated */
    char dtype[8];         /* as the file spells it: "BF16", "F32", "I64", ... */
    int type;              /* es_dtype for F32/F16/BF16; -1 for the others */
    int n_dims;            /* 0..ES_ST_MAX_DIMS */
    int64_t shape[ES_ST_MAX_DIMS]; /* outermost first, as in PyTorch */
    const void *data;      /* into the mapping of its file */
    size_t n_bytes;
    const char *file;      /* path of the shard that holds it (owned by the set) */
} es_st_tensor;

/* The tensors of one or more safetensors files. */
typedef struct es_safetensors es_safetensors;

es_safetensors *es_st_new(void);
void es_st_free(es_safetensors *st);

/* Memory-maps the file at path and adds its tensors. Messages read
 * "PATH: problem". On failure the set is left as it was. */
int es_st_add_file(es_safetensors *st, const char *path, es_error *err);
/* Adds the tensors of a file image the caller keeps alive (fuzzing, tests);
 * `name` stands for its path in messages. */
int es_st_add_buffer(es_safetensors *st, const void *buf, size_t size, const char *name,
                     es_error *err);

/* NULL if no tensor has this name. */
const es_st_tensor *es_st_find(const es_safetensors *st, const char *name);
int es_st_count(const es_safetensors *st);
const es_st_tensor *es_st_at(const es_safetensors *st, int i);
/* The value of key in the __metadata__ of any added file, or NULL. */
const char *es_st_metadata(const es_safetensors *st, const char *key);

/* Bytes per element of a safetensors dtype name, 0 if unknown. */
int es_st_dtype_size(const char *dtype);

/* ----------------------------------------------------------- writing -- */

/* Collects tensors (data copied) and writes one .safetensors file through a
 * temporary file renamed into place, so a killed run leaves nothing. The
 * header is padded with spaces to a multiple of 8 bytes, so that every
 * tensor whose size is a multiple of its alignment starts aligned. */
typedef struct es_st_writer es_st_writer;

es_st_writer *es_st_writer_new(void);
void es_st_writer_free(es_st_writer *w);
/* dtype: "F32", "F16", "BF16", ...; shape outermost first. 0 or -1 (no memory). */
int es_st_writer_add(es_st_writer *w, const char *name, const char *dtype, int n_dims,
                     const int64_t *shape, const void *data, size_t n_bytes);
int es_st_writer_set_metadata(es_st_writer *w, const char *key, const char *value);
/* Message: "PATH: problem". */
int es_st_writer_write(es_st_writer *w, const char *path, es_error *err);

/* Writes size bytes to path atomically (tmp + rename). "PATH: problem". */
int es_write_file_atomic(const char *path, const void *data, size_t size, es_error *err);

#endif
