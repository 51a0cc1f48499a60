/* Row dots for x86 CPUs with AVX2 + FMA + F16C (x86-64-v3), compiled for
 * that ISA per function (target attribute); the driver calls them only
 * after checking the CPU. Same scheme as kernels_avx512.c with 8-lane
 * vectors: each 32-element chunk of a weight row is converted in registers
 * (F16 by vcvtph2ps, BF16 by a shift, Q8_0 / Q4_0 by widening and scaling,
 * all exact) and reused for every activation row of the batch block.
 *
 * Summation order, per (row, b) pair: two 8-lane F32 accumulators, chunk
 * elements 0-7 and 16-23 to the first, 8-15 and 24-31 to the second, by
 * FMA; added lane-wise, reduced high half + low half, then pairwise; then
 * the last n % 32 elements of a F32/F16/BF16 row in order by scalar FMA.
 * The order does not depend on nb. */
#include "tensor/kernels_internal.h"

#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>
#include <math.h>
#include <string.h>

#define TARGET __attribute__((target("avx2,fma,f16c")))
#define INLINE static inline __attribute__((always_inline)) TARGET

INLINE float f16_scalar(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2); /* block scales are unaligned */
    return _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(h)));
}

INLINE __m256 bf16x8(const uint8_t *p) {
    __m256i u = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(const void *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(u, 16));
}

/* 8 nibble codes (bytes 0..7 of `codes`, each 0..15) minus 8, times d. */
INLINE __m256 q4x8(__m128i codes, __m256 d) {
    __m256i v = _mm256_sub_epi32(_mm256_cvtepu8_epi32(codes), _mm256_set1_epi32(8));
    return _mm256_mul_ps(d, _mm256_cvtepi32_ps(v));
}

/* Chunk k (elements 32k .. 32k+31) of weight row w as four F32 vectors. */
INLINE void load_chunk(es_dtype type, const uint8_t *w, int64_t k, __m256 v[4]) {
    switch (type) {
    case ES_F32: {
        const float *p = (const float *)(const void *)w + k * 32;
        for (int i = 0; i < 4; i++) v[i] = _mm256_loadu_ps(p + 8 * i);
        return;
    }
    case ES_F16: {
        const uint8_t *p = w + k * 64;
        for (int i = 0; i < 4; i++)
            v[i] = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(p + 16 * i)));
        return;
    }
    case ES_BF16: {
        const uint8_t *p = w + k * 64;
        for (int i = 0; i < 4; i++) v[i] = bf16x8(p + 16 * i);
        return;
    }
    case ES_Q8_0: {
        const uint8_t *blk = w + k * 34;
        __m256 d = _mm256_set1_ps(f16_scalar(blk));
        for (int i = 0; i < 4; i++) {
            __m128i q = _mm_loadl_epi64((const __m128i *)(const void *)(blk + 2 + 8 * i));
            v[i] = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)));
        }
        return;
    }
    default: { /* ES_Q4_0: byte j holds element j (low nibble) and j + 16 (high) */
        const uint8_t *blk = w + k * 18;
        __m256 d = _mm256_set1_ps(f16_scalar(blk));
        __m128i bytes = _mm_loadu_si128((const __m128i *)(const void *)(blk + 2));
        __m128i mask = _mm_set1_epi8(0x0f);
        __m128i lo = _mm_and_si128(bytes, mask);
        __m128i hi = _mm_and_si128(_mm_srli_epi16(bytes, 4), mask);
        v[0] = q4x8(lo, d);
        v[1] = q4x8(_mm_srli_si128(lo, 8), d);
        v[2] = q4x8(hi, d);
        v[3] = q4x8(_mm_srli_si128(hi, 8), d);
        return;
    }
    }
}

INLINE float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
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
 * accumulators live in registers). */
INLINE void rowdot_nb(es_dtype type, int nb, const uint8_t *w, const float *x,
                      int64_t xs, int64_t n, float *out, int64_t os) {
    __m256 acc0[ES_ROWDOT_MAX_NB], acc1[ES_ROWDOT_MAX_NB]; /* 8 + 4 weights + loads: 16 ymm */
    int64_t n_chunks = n / 32;
#pragma GCC unroll 4
    for (int b = 0; b < nb; b++) acc0[b] = acc1[b] = _mm256_setzero_ps();
    for (int64_t k = 0; k < n_chunks; k++) {
        __m256 wv[4];
        load_chunk(type, w, k, wv);
        const float *xk = x + k * 32;
#pragma GCC unroll 4
        for (int b = 0; b < nb; b++) {
            const float *xb = xk + b * xs;
            acc0[b] = _mm256_fmadd_ps(wv[0], _mm256_loadu_ps(xb), acc0[b]);
            acc1[b] = _mm256_fmadd_ps(wv[1], _mm256_loadu_ps(xb + 8), acc1[b]);
            acc0[b] = _mm256_fmadd_ps(wv[2], _mm256_loadu_ps(xb + 16), acc0[b]);
            acc1[b] = _mm256_fmadd_ps(wv[3], _mm256_loadu_ps(xb + 24), acc1[b]);
        }
    }
    for (int b = 0; b < nb; b++) {
        float sum = hsum(_mm256_add_ps(acc0[b], acc1[b]));
        float tail = n_chunks * 32 < n ? tail_dot(type, w, x + b * xs, n_chunks * 32, n) : 0.0f;
        out[b * os] = sum + tail;
    }
}

/* Splits nb (<= ES_ROWDOT_MAX_NB) into blocks of 4, 2, 1. */
INLINE void rowdot(es_dtype type, const void *w, const float *x, int64_t xs, int nb,
                   int64_t n, float *out, int64_t os) {
    for (; nb >= 4; nb -= 4, x += 4 * xs, out += 4 * os) rowdot_nb(type, 4, w, x, xs, n, out, os);
    if (nb >= 2) {
        rowdot_nb(type, 2, w, x, xs, n, out, os);
        nb -= 2, x += 2 * xs, out += 2 * os;
    }
    if (nb >= 1) rowdot_nb(type, 1, w, x, xs, n, out, os);
}

ES_DEFINE_ROWDOT_TABLE(es_rowdot_avx2, TARGET)

#else /* not x86: no such path */

es_rowdot_fn *es_rowdot_avx2(es_dtype type) {
    (void)type;
    return NULL;
}

#endif
