/* Row dots for x86 CPUs with AVX-512F, compiled for that ISA per function
 * (target attribute) so the rest of the program stays baseline x86-64; the
 * driver calls them only after checking the CPU. Weights are converted in
 * registers, 32 at a time, straight from storage: F16 by vcvtph2ps, BF16 by
 * a 16-bit shift, Q8_0 / Q4_0 by widening the integers and multiplying by
 * the block's scale (exact: f16 scale x small integer fits in F32). The
 * converted chunk is reused for every activation row of the batch block.
 *
 * Summation order, per (row, b) pair: two 16-lane F32 accumulators (chunk
 * elements 0-15 and 16-31) fed by FMA, added lane-wise, reduced by
 * _mm512_reduce_add_ps; then the last n % 32 elements of a F32/F16/BF16
 * row added in order by scalar FMA. The order does not depend on nb. */
#include "tensor/kernels_internal.h"

#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>
#include <math.h>
#include <string.h>

#define TARGET __attribute__((target("avx512f,avx2,fma,f16c")))
#define INLINE static inline __attribute__((always_inline)) TARGET

INLINE float f16_scalar(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2); /* block scales are unaligned */
    return _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(h)));
}

/* Chunk k (elements 32k .. 32k+31) of weight row w as two F32 vectors. */
INLINE void load_chunk(es_dtype type, const uint8_t *w, int64_t k, __m512 *lo, __m512 *hi) {
    switch (type) {
    case ES_F32: {
        const float *p = (const float *)(const void *)w + k * 32;
        *lo = _mm512_loadu_ps(p);
        *hi = _mm512_loadu_ps(p + 16);
        return;
    }
    case ES_F16: {
        const uint8_t *p = w + k * 64;
        *lo = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)p));
        *hi = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)(p + 32)));
        return;
    }
    case ES_BF16: { /* bf16 is the top half of an f32: widen and shift */
        const uint8_t *p = w + k * 64;
        __m512i a = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(const void *)p));
        __m512i b = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(const void *)(p + 32)));
        *lo = _mm512_castsi512_ps(_mm512_slli_epi32(a, 16));
        *hi = _mm512_castsi512_ps(_mm512_slli_epi32(b, 16));
        return;
    }
    case ES_Q8_0: {
        const uint8_t *blk = w + k * 34;
        __m512 d = _mm512_set1_ps(f16_scalar(blk));
        __m512i a = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(const void *)(blk + 2)));
        __m512i b = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(const void *)(blk + 18)));
        *lo = _mm512_mul_ps(d, _mm512_cvtepi32_ps(a));
        *hi = _mm512_mul_ps(d, _mm512_cvtepi32_ps(b));
        return;
    }
    default: { /* ES_Q4_0: byte j holds element j (low nibble) and j + 16 (high) */
        const uint8_t *blk = w + k * 18;
        __m512 d = _mm512_set1_ps(f16_scalar(blk));
        __m512i bytes = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(const void *)(blk + 2)));
        __m512i eight = _mm512_set1_epi32(8);
        __m512i a = _mm512_sub_epi32(_mm512_and_si512(bytes, _mm512_set1_epi32(0x0f)), eight);
        __m512i b = _mm512_sub_epi32(_mm512_srli_epi32(bytes, 4), eight);
        *lo = _mm512_mul_ps(d, _mm512_cvtepi32_ps(a));
        *hi = _mm512_mul_ps(d, _mm512_cvtepi32_ps(b));
        return;
    }
    }
}

/* sum_{from <= c < n} w[c] * x[c] for a F32 / F16 / BF16 row, in order. */
TARGET static float tail_dot(es_dtype type, const uint8_t *w, const float *x, int64_t from, int64_t n) {
    float t = 0.0f;
    for (int64_t c = from; c < n; c++) {
        float wc;
        if (type == ES_F32) {
            memcpy(&wc, w + 4 * c, 4);
        } else if (type == ES_F16) {
            wc = f16_scalar(w + 2 * c);
        } else {
            uint16_t h;
            memcpy(&h, w + 2 * c, 2);
            wc = es_bf16_to_f32(h);
        }
        t = fmaf(wc, x[c], t);
    }
    return t;
}

/* The row dot for a constant nb (inlined with nb and type known, so the
 * accumulators live in registers). Two chains per (row, b) are enough:
 * measured, four gave nothing, the loads being the limit, not FMA latency. */
INLINE void rowdot_nb(es_dtype type, int nb, const uint8_t *w, const float *x,
                      int64_t xs, int64_t n, float *out, int64_t os) {
    __m512 acc_lo[ES_ROWDOT_MAX_NB], acc_hi[ES_ROWDOT_MAX_NB];
    int64_t n_chunks = n / 32;
#pragma GCC unroll 4
    for (int b = 0; b < nb; b++) acc_lo[b] = acc_hi[b] = _mm512_setzero_ps();
    for (int64_t k = 0; k < n_chunks; k++) {
        __m512 wl, wh;
        load_chunk(type, w, k, &wl, &wh);
        const float *xk = x + k * 32;
#pragma GCC unroll 4
        for (int b = 0; b < nb; b++) {
            acc_lo[b] = _mm512_fmadd_ps(wl, _mm512_loadu_ps(xk + b * xs), acc_lo[b]);
            acc_hi[b] = _mm512_fmadd_ps(wh, _mm512_loadu_ps(xk + b * xs + 16), acc_hi[b]);
        }
    }
    for (int b = 0; b < nb; b++) {
        float sum = _mm512_reduce_add_ps(_mm512_add_ps(acc_lo[b], acc_hi[b]));
        float tail = n_chunks * 32 < n ? tail_dot(type, w, x + b * xs, n_chunks * 32, n) : 0.0f;
        out[b * os] = sum + tail;
    }
}

/* Splits nb (<= ES_ROWDOT_MAX_NB = 4) into blocks of 4, 2, 1, each a
 * specialised body. */
INLINE void rowdot(es_dtype type, const void *w, const float *x, int64_t xs, int nb,
                   int64_t n, float *out, int64_t os) {
    for (; nb >= 4; nb -= 4, x += 4 * xs, out += 4 * os) rowdot_nb(type, 4, w, x, xs, n, out, os);
    if (nb >= 2) {
        rowdot_nb(type, 2, w, x, xs, n, out, os);
        nb -= 2, x += 2 * xs, out += 2 * os;
    }
    if (nb >= 1) rowdot_nb(type, 1, w, x, xs, n, out, os);
}

ES_DEFINE_ROWDOT_TABLE(es_rowdot_avx512, TARGET)

#else /* not x86: no such path */

es_rowdot_fn *es_rowdot_avx512(es_dtype type) {
    (void)type;
    return NULL;
}

#endif
