/* What the matrix-kernel driver (kernels.c) needs from each instruction-set
 * file (kernels_portable.c, kernels_avx2.c, kernels_avx512.c): one "row
 * dot" per weight type. The driver owns threading and cache blocking; a row
 * dot owns the arithmetic of one weight row against a few activation rows.
 * Not part of any public interface. */
#ifndef ES_TENSOR_KERNELS_INTERNAL_H
#define ES_TENSOR_KERNELS_INTERNAL_H

#include <stdint.h>

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
    es_rowdot_fn *table(es_dtype type) {                                                     \
        switch (type) {                                                                      \
        case ES_F32: return table##_f32;                                                     \
        case ES_F16: return table##_f16;                                                     \
        case ES_BF16: return table##_bf16;                                                   \
        case ES_Q8_0: return table##_q8_0;                                                   \
        case ES_Q4_0: return table##_q4_0;                                                   \
        default: return NULL;                                                                \
        }                                                                                    \
    }
#define ES_ROWDOT_ENTRY(name, type, attr)                                                     \
    attr static void name(const void *w, const float *x, int64_t xs, int nb, int64_t n,     \
                          float *out, int64_t os) {                                          \
        rowdot(type, w, x, xs, nb, n, out, os);                                              \
    }

#endif
