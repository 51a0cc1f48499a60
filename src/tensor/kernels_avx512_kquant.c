/* The K-quant (Q4_K, Q5_K, Q6_K) integer row dots on AVX-512
 * (F/BW/VL/VNNI), against 8-bit activations (rule in kernels_internal.h;
 * the summation order is described in kernels_avx512_q8.c's header). */
#include "tensor/kernels_internal.h"

#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>
#include <string.h>

#include "tensor/kernels_avx512_inline.h"

/* Lanes 0-7 from element i0 of v, lanes 8-15 from element i1. */
INLINE __m512 spread2(__m512 v, int i0, int i1) {
    __m512i idx = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi32(i0)), _mm256_set1_epi32(i1), 1);
    return _mm512_permutexvar_ps(idx, v);
}

/* The codes of elements 64g .. 64g+63 of a K-quant super-block (unsigned
 * bytes, in element order; layouts in tensor.h). */
INLINE __m512i k_group_codes(es_dtype type, const uint8_t *blk, int g) {
    const __m256i low4 = _mm256_set1_epi8(15);
    if (type == ES_Q6_K) { /* elements 128h + 64(g % 2) + ..: ql[64h ..] nibble g % 2, qh bits 4(g % 2).. */
        int h = g / 2, upper = g % 2;
        __m512i ql = _mm512_loadu_si512((const void *)(blk + 64 * h));
        __m512i low = _mm512_and_si512(upper ? _mm512_srli_epi16(ql, 4) : ql, _mm512_set1_epi8(15));
        __m256i qh = _mm256_loadu_si256((const __m256i *)(const void *)(blk + 128 + 32 * h));
        __m512i top = _mm512_inserti64x4(_mm512_castsi256_si512(qh), _mm256_srli_epi16(qh, 2), 1);
        if (upper) top = _mm512_srli_epi16(top, 4);
        top = _mm512_slli_epi16(_mm512_and_si512(top, _mm512_set1_epi8(3)), 4);
        return _mm512_or_si512(low, top);
    }
    const uint8_t *qs = blk + (type == ES_Q5_K ? 48 : 16) + 32 * g;
    __m256i t = _mm256_loadu_si256((const __m256i *)(const void *)qs);
    __m256i lo = _mm256_and_si256(t, low4), hi = _mm256_and_si256(_mm256_srli_epi16(t, 4), low4);
    __m512i codes = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1); /* sub-blocks 2g, 2g+1 */
    if (type == ES_Q5_K) { /* fifth bit of sub-block j: bit j of qh[l] */
        __m256i qh = _mm256_loadu_si256((const __m256i *)(const void *)(blk + 16));
        __m256i b0 = _mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * g));
        __m512i bits = _mm512_inserti64x4(_mm512_castsi256_si512(b0), _mm256_srli_epi16(b0, 1), 1);
        bits = _mm512_slli_epi16(_mm512_and_si512(bits, _mm512_set1_epi8(1)), 4);
        codes = _mm512_or_si512(codes, bits);
    }
    return codes;
}

INLINE void rowdot_k_nb(es_dtype type, int nb, const uint8_t *w, const uint8_t *xq, int64_t xs, int64_t n,
                        float *out, int64_t os) {
    __m512 acc[ES_ROWDOT_Q8_MAX_NB], accm[ES_ROWDOT_Q8_MAX_NB];
#pragma GCC unroll 8
    for (int b = 0; b < nb; b++) acc[b] = accm[b] = _mm512_setzero_ps();
    int six = type == ES_Q6_K;
    int64_t block_bytes = type == ES_Q4_K ? 144 : type == ES_Q5_K ? 176 : 210;
    const __m512i dup = _mm512_set_epi32(7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0);
    for (int64_t sb = 0; sb < n / ES_QK; sb++) {
        const uint8_t *blk = w + sb * block_bytes;
        __m512 vstep, voff;
        k_block_scales_v(type, blk, &vstep, &voff);
        __m512i codes[4];
#pragma GCC unroll 4
        for (int g = 0; g < 4; g++) codes[g] = k_group_codes(type, blk, g);
#pragma GCC unroll 8
        for (int b = 0; b < nb; b++) {
            const uint8_t *row = xq + b * xs;
            const int8_t *q = (const int8_t *)row + sb * ES_QK;
            __m512 dx = _mm512_zextps256_ps512(_mm256_loadu_ps(es_q8_scales(row, n) + 8 * sb));
            __m256i s16 = _mm256_loadu_si256((const __m256i *)(const void *)(es_q8_sums(row, n) + 16 * sb));
            if (six) dx = _mm512_permutexvar_ps(dup, dx); /* one scale per 16-element sub-block */
            __m512 sd = _mm512_mul_ps(vstep, dx);
#pragma GCC unroll 4
            for (int g = 0; g < 4; g++) {
                __m512i x = _mm512_loadu_si512((const void *)(q + 64 * g));
                __m512 f = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(_mm512_setzero_si512(), codes[g], x));
                __m512 scale = six ? _mm512_permutexvar_ps(_mm512_set_epi32(4 * g + 3, 4 * g + 3, 4 * g + 3,
                                                                            4 * g + 3, 4 * g + 2, 4 * g + 2,
                                                                            4 * g + 2, 4 * g + 2, 4 * g + 1,
                                                                            4 * g + 1, 4 * g + 1, 4 * g + 1,
                                                                            4 * g, 4 * g, 4 * g, 4 * g),
                                                           sd)
                                   : spread2(sd, 2 * g, 2 * g + 1);
                acc[b] = _mm512_fmadd_ps(f, scale, acc[b]);
            }
            if (six) { /* offset 32 * step * dx * (sum of 16 codes), 16 sub-blocks */
                __m512 xsum = _mm512_cvtepi32_ps(_mm512_cvtepi16_epi32(s16));
                accm[b] = _mm512_fmadd_ps(sd, xsum, accm[b]);
            } else { /* min dmin * m * dx * (sum of 32 codes), 8 sub-blocks */
                __m256i xs32 = _mm256_madd_epi16(s16, _mm256_set1_epi16(1));
                __m512 xsum = _mm512_zextps256_ps512(_mm256_cvtepi32_ps(xs32));
                __m512 md = _mm512_maskz_mul_ps(0xff, voff, dx);
                accm[b] = _mm512_fmadd_ps(md, xsum, accm[b]);
            }
        }
    }
    for (int b = 0; b < nb; b++) {
        float m = _mm512_reduce_add_ps(accm[b]);
        out[b * os] = _mm512_reduce_add_ps(acc[b]) - (six ? 32.0f * m : m);
    }
}

INLINE void rowdot_k(es_dtype type, const void *w, const uint8_t *xq, int64_t xs, int nb, int64_t n,
                     float *out, int64_t os) {
    for (; nb > 0;) {
        int step = nb >= 8 ? 8 : nb >= 4 ? 4 : nb >= 2 ? 2 : 1;
        if (step == 8) rowdot_k_nb(type, 8, w, xq, xs, n, out, os);
        else if (step == 4) rowdot_k_nb(type, 4, w, xq, xs, n, out, os);
        else if (step == 2) rowdot_k_nb(type, 2, w, xq, xs, n, out, os);
        else rowdot_k_nb(type, 1, w, xq, xs, n, out, os);
        nb -= step, xq += step * xs, out += step * os;
    }
}

#define ES_ROWDOT_K_ENTRY(name, type)                                                              \
    TARGET static void name(const void *w, const uint8_t *xq, int64_t xs, int nb, int64_t n,      \
                            float *out, int64_t os) {                                              \
        rowdot_k(type, w, xq, xs, nb, n, out, os);                                                 \
    }
ES_ROWDOT_K_ENTRY(q8_q4_k, ES_Q4_K)
ES_ROWDOT_K_ENTRY(q8_q5_k, ES_Q5_K)
ES_ROWDOT_K_ENTRY(q8_q6_k, ES_Q6_K)

es_rowdot_q8_fn *es_rowdot_q8_avx512_kquant(es_dtype type) {
    switch (type) {
    case ES_Q4_K: return q8_q4_k;
    case ES_Q5_K: return q8_q5_k;
    case ES_Q6_K: return q8_q6_k;
    default: return NULL;
    }
}

#else /* not x86: no such path */

es_rowdot_q8_fn *es_rowdot_q8_avx512_kquant(es_dtype type) {
    (void)type;
    return NULL;
}

#endif
