/* Tensor types and views. A tensor here is a typed, row-major 2-D view of
 * memory that someone else owns (usually a memory-mapped model file):
 * ne[0] elements per row (contiguous), ne[1] rows. Type numbers are GGML's,
 * so GGUF files map onto them directly. Block layouts (bytes per block of
 * block_size elements):
 *   F32   1 elem, 4 bytes      F16  1 elem, 2 bytes (IEEE half)
 *   BF16  1 elem, 2 bytes (upper half of an IEEE float)
 *   Q8_0  32 elems, 34 bytes: f16 scale d, int8 q[32];      x = d * q
 *   Q4_0  32 elems, 18 bytes: f16 scale d, uint8 qs[16];    x = d * (nibble - 8),
 *         element j < 16 in the low nibble of qs[j], element j + 16 in the high.
 * K-quants: super-blocks of 256 elements (ES_QK) cut into sub-blocks, each
 * with its own small-integer scale (and for Q4_K/Q5_K a min), themselves
 * scaled by the block's f16 d (and dmin). All products below are exact in
 * F32; Q4_K/Q5_K round once, in the final subtraction.
 *   Q4_K  256 elems, 144 bytes: f16 d @0, f16 dmin @2, uint8 scales[12] @4,
 *         uint8 qs[128] @16. Sub-block j < 8 is elements 32j .. 32j+31:
 *         x = (d * sc[j]) * q - dmin * m[j], q a 4-bit code, sc[j] and m[j]
 *         6-bit (packing below). Element 64g + l (l < 32) is the low nibble
 *         of qs[32g + l], element 64g + 32 + l its high nibble.
 *   Q5_K  256 elems, 176 bytes: f16 d @0, f16 dmin @2, uint8 scales[12] @4,
 *         uint8 qh[32] @16, uint8 qs[128] @48. As Q4_K with 5-bit codes:
 *         the low 4 bits where Q4_K keeps them, the fifth (16) of element
 *         32j + l (l < 32) is bit j of qh[l].
 *   Q6_K  256 elems, 210 bytes: uint8 ql[128] @0, uint8 qh[64] @128,
 *         int8 scales[16] @192, f16 d @208. x = (d * scales[e / 16]) * (q - 32)
 *         for element e, q a 6-bit code. Element 128h + 32k + l (h < 2,
 *         k < 4, l < 32) has its low 4 bits in ql[64h + 32(k % 2) + l]
 *         (low nibble for k < 2, high for k >= 2) and its top 2 bits in
 *         bits 2k, 2k+1 of qh[32h + l].
 *   The 12 scale bytes of Q4_K/Q5_K hold 8 six-bit scales sc[j] and mins
 *   m[j]: for j < 4, sc[j] and m[j] are bits 0-5 of bytes j and j + 4; for
 *   j >= 4, the low 4 bits of sc[j] / m[j] are the low / high nibble of
 *   byte j + 4, their top 2 bits the top 2 bits of bytes j - 4 / j. */
#ifndef ES_TENSOR_TENSOR_H
#define ES_TENSOR_TENSOR_H

#include <stddef.h>
#include <stdint.h>

typedef enum es_dtype {
    ES_F32 = 0,
    ES_F16 = 1,
    ES_Q4_0 = 2,
    ES_Q8_0 = 8,
    ES_Q4_K = 12,
    ES_Q5_K = 13,
    ES_Q6_K = 14,
    ES_BF16 = 30,
} es_dtype;

typedef struct es_tensor {
    es_dtype type;
    int64_t ne[2];    /* ne[0]: elements per row, ne[1]: rows */
    const void *data; /* ne[1] rows of es_dtype_row_bytes(type, ne[0]) bytes */
} es_tensor;

/* 1 if the engine can compute with this type (F32, F16, BF16, Q8_0, Q4_0,
 * Q4_K, Q5_K, Q6_K). */
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

#define ES_QK 256 /* elements per K-quant super-block */

/* Sub-block j's 6-bit scale and min from a Q4_K/Q5_K block's 12 scale bytes
 * (the packing above). */
static inline void es_k_scale_min(const uint8_t scales[12], int j, int *sc, int *m) {
    if (j < 4) {
        *sc = scales[j] & 63;
        *m = scales[j + 4] & 63;
    } else {
        *sc = (scales[j + 4] & 15) | (scales[j - 4] >> 6) << 4;
        *m = (scales[j + 4] >> 4) | (scales[j] >> 6) << 4;
    }
}

/* Half and bfloat16 conversions (exact, round-to-nearest-even on the way down). */
float es_f16_to_f32(uint16_t h);
uint16_t es_f32_to_f16(float f);
float es_bf16_to_f32(uint16_t h);
uint16_t es_f32_to_bf16(float f);

#endif
