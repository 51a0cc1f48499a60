/* Tensor types and views. A tensor here is a typed, row-major 2-D view of
 * memory that someone else owns (usually a memory-mapped model file):
 * ne[0] elements per row (contiguous), ne[1] rows. Type numbers are GGML's,
 * so GGUF files map onto them directly. Block layouts (bytes per block of
 * block_size elements):
 *   F32   1 elem, 4 bytes      F16  1 elem, 2 bytes (IEEE half)
 *   BF16  1 elem, 2 bytes (upper half of an IEEE float)
 *   Q8_0  32 elems, 34 bytes: f16 scale d, int8 q[32];      x = d * q
 *   Q4_0  32 elems, 18 bytes: f16 scale d, uint8 qs[16];    x = d * (nibble - 8),
 *         element j < 16 in the low nibble of qs[j], element j + 16 in the high. */
#ifndef ES_TENSOR_TENSOR_H
#define ES_TENSOR_TENSOR_H

#include <stddef.h>
#include <stdint.h>

typedef enum es_dtype {
    ES_F32 = 0,
    ES_F16 = 1,
    ES_Q4_0 = 2,
    ES_Q8_0 = 8,
    ES_Q4_K = 12, /* known by name and size only, until K-quants land */
    ES_Q5_K = 13,
    ES_Q6_K = 14,
    ES_BF16 = 30,
} es_dtype;

typedef struct es_tensor {
    es_dtype type;
    int64_t ne[2];    /* ne[0]: elements per row, ne[1]: rows */
    const void *data; /* ne[1] rows of es_dtype_row_bytes(type, ne[0]) bytes */
} es_tensor;

/* 1 if the engine can compute with this type (F32, F16, BF16, Q8_0, Q4_0). */
int es_dtype_supported(uint32_t type);
/* 1 if GGML defines this type number (so a file's tensor sizes can be checked). */
int es_dtype_known(uint32_t type);
const char *es_dtype_name(uint32_t type);      /* "F32", "Q8_0", "?" */
int es_dtype_from_name(const char *name);      /* "q8_0" -> ES_Q8_0, -1 unknown */
int64_t es_dtype_block_size(uint32_t type);    /* elements per block */
int64_t es_dtype_block_bytes(uint32_t type);   /* bytes per block */
/* Bytes of n elements; -1 if n is not a multiple of the block size. */
int64_t es_dtype_row_bytes(uint32_t type, int64_t n);

static inline size_t es_tensor_row_bytes(const es_tensor *t) {
    return (size_t)es_dtype_row_bytes(t->type, t->ne[0]);
}
static inline const void *es_tensor_row(const es_tensor *t, int64_t r) {
    return (const uint8_t *)t->data + (size_t)r * es_tensor_row_bytes(t);
}

/* Half and bfloat16 conversions (exact, round-to-nearest-even on the way down). */
float es_f16_to_f32(uint16_t h);
uint16_t es_f32_to_f16(float f);
float es_bf16_to_f32(uint16_t h);
uint16_t es_f32_to_bf16(float f);

#endif
