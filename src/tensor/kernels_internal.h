/* What the matrix-kernel driver (kernels.c) needs from each instruction-set
 * file (kernels_portable.c, kernels_avx2.c, kernels_avx512.c): one "row
 * dot" per weight type. The driver owns threading and cache blocking; a row
 * dot owns the arithmetic of one weight row against a few activation rows.
 * Not part of any public interface. */
#ifndef ES_TENSOR_KERNELS_INTERNAL_H
#define ES_TENSOR_KERNELS_INTERNAL_H

#include <math.h>
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

static inline int es_is_k_quant(es_dtype type) {
    return type == ES_Q4_K || type == ES_Q5_K || type == ES_Q6_K;
}

/* ---- 8-bit activations (the integer path of the quantised types) ----
 * For Q8_0, Q4_0, Q4_K, Q5_K and Q6_K weights the driver first quantises
 * each activation row once per matrix product into "Q8 activation rows",
 * then the row dots multiply integer codes by int8 activations, summing in
 * int32 per 32-element block (exact), and scale each block's integer sum to
 * F32. The rule, per block of 32 elements x[0..32):
 *   amax = max |x[i]|,  d = amax / 127 (F32),  id = d > 0 ? 1 / d : 0 (F32),
 *   q[i] = x[i] * id (F32 product) rounded to nearest, ties to even;
 * a block holding an inf or NaN gets d = NaN (and q = 0), so the outputs it
 * touches are NaN, as they would be in F32.
 * Layout of one row of n elements (n a multiple of 32), es_q8_row_bytes(n)
 * bytes, 64-byte aligned in the driver's buffer:
 *   int8  q[n]           the codes, x ~ d[i / 32] * q[i]
 *   float d[n / 32]      the block scales
 *   int16 sum[n / 16]    sum of q over each 16 elements (exact); the K-quant
 *                        mins and the Q6_K offset of 32 need them. */
static inline int64_t es_q8_row_bytes(int64_t n) {
    return (n + 4 * (n / 32) + 2 * (n / 16) + 63) / 64 * 64;
}
static inline const float *es_q8_scales(const uint8_t *row, int64_t n) {
    return (const float *)(const void *)(row + n);
}
static inline const int16_t *es_q8_sums(const uint8_t *row, int64_t n) {
    return (const int16_t *)(const void *)(row + n + 4 * (n / 32));
}

/* Quantises one activation row by the rule above into dst (es_q8_row_bytes(n)
 * bytes, 4-byte aligned). The SIMD versions give the same bytes. */
void es_quantize_q8_row(const float *x, int64_t n, uint8_t *dst);
void es_quantize_q8_row_avx512(const float *x, int64_t n, uint8_t *dst);
void es_quantize_q8_row_avx2(const float *x, int64_t n, uint8_t *dst);

/* The most activation rows one integer row-dot call takes. */
#define ES_ROWDOT_Q8_MAX_NB 8

/* out[b * out_stride] = sum_c w[c] * xq_b[c] for b < nb, where xq_b is the
 * Q8 activation row at xq + b * xq_stride (its dequantised values d * q)
 * and w one weight row of n elements. Same contract as es_rowdot_fn: the
 * arithmetic of a (row, b) pair does not depend on nb. */
typedef void es_rowdot_q8_fn(const void *w, const uint8_t *xq, int64_t xq_stride, int nb, int64_t n,
                             float *out, int64_t out_stride);

/* The integer row dot of each ISA for a weight type, NULL for types that
 * have none (F32, F16, BF16: their activations stay F32). */
es_rowdot_q8_fn *es_rowdot_q8_portable(es_dtype type);
es_rowdot_q8_fn *es_rowdot_q8_avx512(es_dtype type);
es_rowdot_q8_fn *es_rowdot_q8_avx512_kquant(es_dtype type); /* its K-quant part */
es_rowdot_q8_fn *es_rowdot_q8_avx2(es_dtype type);

/* Several weight rows at once: out[b * out_stride + r] for r < nr, b < nb
 * is the integer row dot of weight row r (at w + r * w_stride) with
 * activation row b, bit for bit what es_rowdot_q8_fn gives for that pair
 * (the order of a pair's arithmetic does not depend on nr or nb). Any nr,
 * nb >= 1. Only where a wider kernel pays (AVX-512: Q8_0, Q4_0), else NULL. */
typedef void es_rowdot_q8_rows_fn(const void *w, size_t w_stride, int nr, const uint8_t *xq,
                                  int64_t xq_stride, int nb, int64_t n, float *out, int64_t out_stride);
es_rowdot_q8_rows_fn *es_rowdot_q8_rows_avx512(es_dtype type);

static inline int es_uses_q8_activations(es_dtype type) {
    return type == ES_Q8_0 || type == ES_Q4_0 || es_is_k_quant(type);
}

/* Several weight rows at once with F32 activations: out[b * out_stride + r]
 * for r < nr, b < nb is bit for bit what es_rowdot_fn gives for weight row
 * r (at w + r * w_stride) and activation row b. Any nr, nb >= 1. Only
 * where a wider kernel pays (AVX-512, AVX2: F32, F16, BF16), else NULL. */
typedef void es_rowdot_rows_fn(const void *w, size_t w_stride, int nr, const float *x, int64_t x_stride,
                               int nb, int64_t n, float *out, int64_t out_stride);
es_rowdot_rows_fn *es_rowdot_rows_avx512(es_dtype type);
es_rowdot_rows_fn *es_rowdot_rows_avx2(es_dtype type);
/* Their weight rows per register tile (the driver sizes tiles in multiples). */
#define ES_TILE_NR_AVX512 4
#define ES_TILE_NR_AVX2 4

/* The row dot of each ISA for a weight type, NULL if it has none. The SIMD
 * ones may be called only when the CPU has the ISA. */
es_rowdot_fn *es_rowdot_portable(es_dtype type);
es_rowdot_fn *es_rowdot_avx2(es_dtype type);
es_rowdot_fn *es_rowdot_avx512(es_dtype type);

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

/* One integer row-dot entry point (es_rowdot_q8_fn) for a weight type:
 * `impl(type, w, xq, xs, nb, n, out, os)` compiled with the ISA file's
 * target attribute `attr`. */
#define ES_ROWDOT_Q8_ENTRY(name, type, impl, attr)                                                 \
    attr static void name(const void *w, const uint8_t *xq, int64_t xs, int nb, int64_t n,        \
                          float *out, int64_t os) {                                                \
        impl(type, w, xq, xs, nb, n, out, os);                                                     \
    }

/* The attention's weighted sum of value rows (es_weighted_rows), per ISA
 * (t in order for each element; AVX2 and AVX-512 fuse the multiply-adds); add: the
 * sums continue from out (es_weighted_rows_add_isa) instead of from 0. */
void es_weighted_rows_portable(const float *w, const float *rows, size_t stride, int n_rows,
                               int n, float *out, int add);
void es_weighted_rows_avx512(const float *w, const float *rows, size_t stride, int n_rows,
                             int n, float *out, int add);
void es_weighted_rows_avx2(const float *w, const float *rows, size_t stride, int n_rows, int n, float *out,
                           int add); /* the AVX-512 kernel's bits */
/* Their columns d0 .. n - 1 one at a time: each a chain of fmaf over t. */
static inline void es_weighted_rows_fma_tail(const float *w, const float *rows, size_t stride, int n_rows, int d0,
                                             int n, float *out, int add) {
    for (int d = d0; d < n; d++) {
        float a = add ? out[d] : 0.0f;
        for (int t = 0; t < n_rows; t++) a = fmaf(w[t], rows[(size_t)t * stride + d], a);
        out[d] = a;
    }
}
void es_weighted_rows_multi_avx2(const float *w, size_t w_stride, int n_w, const float *rows, size_t stride,
                                 int n_rows, int n, float *out, size_t out_stride, int add);

/* es_dot_f32_rows (and its several-queries form) on AVX-512, and on AVX2,
 * for n >= 32: the bits of the one-row dot of that ISA. */
void es_dot_f32_rows_avx512(const float *a, const float *rows, size_t stride, int n_rows, int n, float *out);
void es_dot_f32_rows_avx2(const float *a, const float *rows, size_t stride, int n_rows, int n, float *out);
void es_dot_f32_rows_multi_avx512(const float *a, size_t a_stride, int n_a, const float *rows, size_t stride,
                                  int n_rows, int n, float *out, size_t out_stride);
void es_weighted_rows_multi_avx512(const float *w, size_t w_stride, int n_w, const float *rows, size_t stride,
                                   int n_rows, int n, float *out, size_t out_stride, int add);

/* es_exp_sums per ISA; es_sum8 adds eight partial sums in its order. */
double es_exp_sums_portable(const float *x, float *e, int n, float max, double ab[2]);
double es_exp_sums_avx512(const float *x, float *e, int n, float max, double ab[2]);
double es_exp_sums_avx2(const float *x, float *e, int n, float max, double ab[2]);
static inline double es_sum8(const double s[8]) {
    return ((s[0] + s[4]) + (s[2] + s[6])) + ((s[1] + s[5]) + (s[3] + s[7]));
}

/* es_swiglu per ISA: 16 / 8 elements at a time with libmvec's exp, the
 * tail masked (an element's bits do not depend on where it falls). */
void es_swiglu_portable(float *out, const float *gate, const float *up, int n);
void es_swiglu_avx512(float *out, const float *gate, const float *up, int n);
void es_swiglu_avx2(float *out, const float *gate, const float *up, int n);

#endif
