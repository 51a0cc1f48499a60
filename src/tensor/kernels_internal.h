/* What the matrix-kernel driver (kernels.c) needs from each instruction-set
 * file (kernels_portable.c, kernels_avx2.c, kernels_avx512.c): one "row
 * dot" per weight type. The driver owns threading and cache blocking; a row
 * dot owns the arithmetic of one weight row against a few activation rows.
 * Not part of any public interface. */
#ifndef ES_TENSOR_KERNELS_INTERNAL_H
#define ES_TENSOR_KERNELS_INTERNAL_H

#include <stdint.h>
#include <string.h>

#include "tensor/tensor.h"

/* The most activation rows one row-dot call takes (the batch block). Four
 * rows of 2048 floats (32 KiB) stay in L1 while a tile of weight rows
 * passes over them; measured, 8 (which overflows L1) was slower. */
#define ES_ROWDOT_MAX_NB 4

/* out[b * out_stride] = sum_{c < n} w[c] * x[b * x_stride + c]   for b < nb
 * w: one weight row of n elements in the kernel's storage type (n a
 * multiple of the type's block size); nb in 1..ES_ROWDOT_MAX_NB.
 * Contract: the arithmetic for one (row, b) pair is the same whatever nb
 * is and wherever the pair sits in the block, so a prefill batch gives
 * bit for bit what decoding the same rows one by one gives. */
typedef void es_rowdot_fn(const void *w, const float *x, int64_t x_stride,
                          int nb, int64_t n, float *out, int64_t out_stride);

/* The row dot of each ISA for a weight type, NULL if it has none. The SIMD
 * ones may be called only when the CPU has the ISA. */
es_rowdot_fn *es_rowdot_portable(es_dtype type);
es_rowdot_fn *es_rowdot_avx2(es_dtype type);
es_rowdot_fn *es_rowdot_avx512(es_dtype type);

static inline int es_is_k_quant(es_dtype type) {
    return type == ES_Q4_K || type == ES_Q5_K || type == ES_Q6_K;
}

/* The 8 six-bit scales and mins of a Q4_K/Q5_K block from its 12 packed
 * bytes (layout in tensor.h), byte j of *sc / *m being sub-block j's, with
 * no branches: bytes 0-3 / 4-7 hold sc[0..3] / m[0..3] in their low 6 bits
 * and the top 2 bits of sc[4..7] / m[4..7] in their top 2; bytes 8-11 the
 * low 4 bits of sc[4..7] (low nibbles) and m[4..7] (high). Little-endian
 * (the SIMD files that use it are x86 only). The values the kernels then
 * form, step = d * sc and offset = dmin * m (Q6_K: offset = 32 * step), are
 * exact in F32, so step * code - offset rounds at most once, with or
 * without FMA, and every ISA sees GGML's value; for Q6_K the result is
 * exact, step * (code - 32). */
static inline void es_k_unpack_scales(const uint8_t packed[12], uint64_t *sc, uint64_t *m) {
    uint32_t a, b, c;
    memcpy(&a, packed, 4);
    memcpy(&b, packed + 4, 4);
    memcpy(&c, packed + 8, 4);
    uint32_t sc_high = (c & 0x0f0f0f0fu) | ((a >> 2) & 0x30303030u); /* (byte >> 6) << 4 */
    uint32_t m_high = ((c >> 4) & 0x0f0f0f0fu) | ((b >> 2) & 0x30303030u);
    *sc = (a & 0x3f3f3f3fu) | (uint64_t)sc_high << 32;
    *m = (b & 0x3f3f3f3fu) | (uint64_t)m_high << 32;
}

/* Defines, in an ISA file whose (inline) `rowdot(type, w, x, xs, nb, n, out,
 * os)` does the work, one entry point per weight type (with that ISA's
 * target attribute, `attr`) and the table `table(type)` that hands them out,
 * so the driver holds plain function pointers. */
#define ES_DEFINE_ROWDOT_TABLE(table, attr)                                                   \
    ES_ROWDOT_ENTRY(table##_f32, ES_F32, attr)                                               \
    ES_ROWDOT_ENTRY(table##_f16, ES_F16, attr)                                               \
    ES_ROWDOT_ENTRY(table##_bf16, ES_BF16, attr)                                             \
    ES_ROWDOT_ENTRY(table##_q8_0, ES_Q8_0, attr)                                             \
    ES_ROWDOT_ENTRY(table##_q4_0, ES_Q4_0, attr)                                             \
    ES_ROWDOT_ENTRY(table##_q4_k, ES_Q4_K, attr)                                             \
    ES_ROWDOT_ENTRY(table##_q5_k, ES_Q5_K, attr)                                             \
    ES_ROWDOT_ENTRY(table##_q6_k, ES_Q6_K, attr)                                             \
    es_rowdot_fn *table(es_dtype type) {                                                     \
        switch (type) {                                                                      \
        case ES_F32: return table##_f32;                                                     \
        case ES_F16: return table##_f16;                                                     \
        case ES_BF16: return table##_bf16;                                                   \
        case ES_Q8_0: return table##_q8_0;                                                   \
        case ES_Q4_0: return table##_q4_0;                                                   \
        case ES_Q4_K: return table##_q4_k;                                                   \
        case ES_Q5_K: return table##_q5_k;                                                   \
        case ES_Q6_K: return table##_q6_k;                                                   \
        default: return NULL;                                                                \
        }                                                                                    \
    }
#define ES_ROWDOT_ENTRY(name, type, attr)                                                     \
    attr static void name(const void *w, const float *x, int64_t xs, int nb, int64_t n,     \
                          float *out, int64_t os) {                                          \
        rowdot(type, w, x, xs, nb, n, out, os);                                              \
    }

#endif
