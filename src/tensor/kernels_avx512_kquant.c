/* The K-quant (Q4_K, Q5_K, Q6_K) integer row dots on AVX-512
 * (F/BW/VL/VNNI), against 8-bit activations (rule and layout in
 * kernels_internal.h; K-quant layouts in tensor.h).
 * Each super-block's codes are unpacked once per call and serve every
 * activation row. vpdpbusd gives, per 64 codes x 64 activations, 16 int32
 * lanes of 4 products each; those lanes fit int16 (at most 4 * 63 * 127),
 * so packs + vpmaddwd sum them pairwise exactly, the multiply-add also
 * applying the integer sub-block scales where that is exact. Only then is
 * the sum converted to F32 (exact: under 2^24) and multiplied by the F32
 * factor d * dx (block scale x activation-block scale, rounded once) into
 * a 16-lane accumulator: a super-block costs one (Q6_K: two) conversions
 * and multiply-adds per activation row, where converting each vpdpbusd
 * result took four, each with its own permuted scale vector.
 * Order, per (weight row, activation row), the same for every nb:
 *   Q4_K/Q5_K: per super-block, one FMA of 16 lanes (2 per sub-block, each
 *     the integer sum of 16 code products times sc) into acc; the mins
 *     term (m * sum of 32 activation codes, exact) times dmin * dx into an
 *     8-lane accm; result = reduce(acc) - reduce(accm).
 *   Q6_K: per super-block, two FMAs (sub-blocks 0-3, then 4-7) into acc;
 *     the offset term (sum of sc * 16-element activation sums, exact)
 *     times d * dx into accm; result = reduce(acc) - 32 * reduce(accm).
 * reduce: _mm512_reduce_add_ps; for 8 lanes, lanes 0-3 + 4-7, then 0-1 +
 * 2-3, then 0 + 1. */
#include "tensor/kernels_internal.h"

#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>
#include <string.h>

#include "tensor/kernels_avx512_inline.h"

/* ---- Q4_K / Q5_K --------------------------------------------------- */

/* What one Q4_K/Q5_K super-block gives every activation row: its codes
 * (unsigned bytes), the scales as int16 pairs in the lane order of
 * q45_dot's reduction, the mins as int16 pairs in sub-block order, and
 * [dmin x 8 | d x 8]. */
typedef struct q45_block {
    __m512i codes[4]; /* codes[g]: sub-blocks 2g | 2g+1, as the activations lie */
    __m512i sc;       /* words (sc[j], sc[j]): j = 0,2,4,6 in 128-bit lanes 0-1, 1,3,5,7 in 2-3 */
    __m256i mins;     /* words (m[j], m[j]) for j = 0..7 */
    __m512 dd;        /* dmin in lanes 0-7, d in lanes 8-15 */
} q45_block;

/* The 8 scales and 8 mins of a Q4_K/Q5_K block (packing in tensor.h) as
 * bytes sc[0..7], m[0..7] in every 128-bit lane: from the dwords A, B, C
 * of the 12 packed bytes, sc[0..3] = A & 63, sc[4..7] = (C & 15) | (A >> 6
 * << 4), m[0..3] = B & 63, m[4..7] = (C >> 4 & 15) | (B >> 6 << 4), bytewise. */
INLINE __m512i q45_scale_bytes(const uint8_t *packed) {
    __m512i s = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(const void *)packed));
    __m512i x = _mm512_shuffle_epi32(s, (_MM_PERM_ENUM)0x98); /* A, C, B, C */
    x = _mm512_and_si512(_mm512_srlv_epi32(x, _mm512_set4_epi32(4, 0, 0, 0)),
                         _mm512_set4_epi32(0x0f0f0f0f, 0x3f3f3f3f, 0x0f0f0f0f, 0x3f3f3f3f));
    __m512i y = _mm512_srli_epi32(_mm512_shuffle_epi32(s, (_MM_PERM_ENUM)0x40), 2); /* -, A, -, B */
    return _mm512_ternarylogic_epi32(x, y, _mm512_set4_epi32(0x30303030, 0, 0x30303030, 0), 0xf8); /* x | y & c */
}

INLINE void q45_prepare(int five, const uint8_t *blk, q45_block *k) {
    uint32_t dbits;
    memcpy(&dbits, blk, 4);
    __m128 dd = _mm_cvtph_ps(_mm_cvtsi32_si128((int)dbits)); /* d, dmin */
    k->dd = _mm512_permutexvar_ps(_mm512_set_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1),
                                  _mm512_castps128_ps512(dd));
    __m512i r = q45_scale_bytes(blk + 4);
    k->sc = _mm512_shuffle_epi8(r, _mm512_set_epi64(0x8007800780058005ll, 0x8003800380018001ll,
                                                    0x8007800780058005ll, 0x8003800380018001ll,
                                                    0x8006800680048004ll, 0x8002800280008000ll,
                                                    0x8006800680048004ll, 0x8002800280008000ll));
    k->mins = _mm256_shuffle_epi8(_mm512_castsi512_si256(r),
                                  _mm256_set_epi64x(0x800f800f800e800ell, 0x800d800d800c800cll,
                                                    0x800b800b800a800all, 0x8009800980088008ll));
    const uint8_t *qs = blk + (five ? 48 : 16);
    const __m512i low4 = _mm512_set1_epi8(15);
    __m512i qh = five ? _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(const void *)(blk + 16)))
                      : _mm512_setzero_si512();
#pragma GCC unroll 2
    for (int h = 0; h < 2; h++) { /* qs[64h ..]: low nibbles sub-blocks 4h | 4h+2, high 4h+1 | 4h+3 */
        __m512i t = _mm512_loadu_si512((const void *)(qs + 64 * h));
        __m512i lo = _mm512_and_si512(t, low4), hi = _mm512_and_si512(_mm512_srli_epi16(t, 4), low4);
        if (five) { /* the fifth bit of sub-block j is bit j of qh[l]: move it to bit 4 */
            const __m512i bit4 = _mm512_set1_epi8(16);
            __m512i slo, shi;
            if (h == 0) {
                slo = _mm512_sllv_epi16(qh, _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(2), 1));
                shi = _mm512_sllv_epi16(qh, _mm512_inserti64x4(_mm512_set1_epi16(3), _mm256_set1_epi16(1), 1));
            } else {
                slo = _mm512_srlv_epi16(qh, _mm512_inserti64x4(_mm512_set1_epi16(0), _mm256_set1_epi16(2), 1));
                shi = _mm512_srlv_epi16(qh, _mm512_inserti64x4(_mm512_set1_epi16(1), _mm256_set1_epi16(3), 1));
            }
            lo = _mm512_ternarylogic_epi32(lo, slo, bit4, 0xf8); /* lo | (slo & bit4) */
            hi = _mm512_ternarylogic_epi32(hi, shi, bit4, 0xf8);
        }
        k->codes[2 * h] = _mm512_shuffle_i64x2(lo, hi, 0x44);     /* sub-blocks 4h | 4h+1 */
        k->codes[2 * h + 1] = _mm512_shuffle_i64x2(lo, hi, 0xee); /* 4h+2 | 4h+3 */
    }
}

/* One super-block against one activation row (codes q, block scales dx,
 * 16-element sums s16), into acc (scales) and accm (mins). The int32 dot
 * of 4 codes fits int16 (at most 4 * 31 * 127), as does the sum of 2 of
 * them, so two pack + pairwise-add steps sum each sub-block's 32 products
 * to 2 lanes of 16 exactly, the second multiplying by the scale: lanes
 * 0-3 and 4-7 of `sum` hold sub-blocks 0, 2, 4, 6 (first and second 16
 * codes), lanes 8-11 and 12-15 sub-blocks 1, 3, 5, 7. */
INLINE void q45_dot(const q45_block *k, const int8_t *q, const float *dx, const int16_t *s16, __m512 *acc,
                    __m256 *accm) {
    const __m512i ones = _mm512_set1_epi16(1);
    __m512i dp[4];
#pragma GCC unroll 4
    for (int g = 0; g < 4; g++) {
        __m512i x = _mm512_loadu_si512((const void *)(q + 64 * g));
        dp[g] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), k->codes[g], x);
    }
    __m512i m01 = _mm512_madd_epi16(_mm512_packs_epi32(dp[0], dp[1]), ones);
    __m512i m23 = _mm512_madd_epi16(_mm512_packs_epi32(dp[2], dp[3]), ones);
    __m512i sum = _mm512_madd_epi16(_mm512_packs_epi32(m01, m23), k->sc);
    __m512 sd = _mm512_mul_ps(_mm512_broadcast_f32x8(_mm256_loadu_ps(dx)), k->dd); /* dmin dx | d dx */
    const __m512i order = _mm512_set_epi32(15, 13, 11, 9, 15, 13, 11, 9, 14, 12, 10, 8, 14, 12, 10, 8);
    __m512 scale = _mm512_permutexvar_ps(order, sd); /* d dx in the lane order of sum */
    *acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), scale, *acc);
    __m256i ms = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(const void *)s16), k->mins);
    *accm = _mm256_fmadd_ps(_mm256_cvtepi32_ps(ms), _mm512_castps512_ps256(sd), *accm);
}

/* ---- Q6_K ----------------------------------------------------------- */

/* What one Q6_K super-block gives every activation row: its codes as 4
 * vectors of 2 sub-blocks (codes[g] = sub-blocks 2g | 2g+1, unsigned
 * 0..63), the 16 scales as int16 in the lane orders of q6_dot (sc[0]:
 * groups 0-7, sc[1]: 8-15; `scn` in element order) and d broadcast. */
typedef struct q6_block {
    __m512i codes[4];
    __m512i sc[2];
    __m256i scn;
    __m512 d;
} q6_block;

INLINE void q6_prepare(const uint8_t *blk, q6_block *k) {
    const __m512i low4 = _mm512_set1_epi8(15), six = _mm512_set1_epi8(63);
#pragma GCC unroll 2
    for (int h = 0; h < 2; h++) { /* element 128h + 32k + l: ql[64h + 32(k % 2) + l], qh[32h + l] bits 2k.. */
        __m512i ql = _mm512_loadu_si512((const void *)(blk + 64 * h));
        __m256i qh = _mm256_loadu_si256((const __m256i *)(const void *)(blk + 128 + 32 * h));
        __m512i top = _mm512_inserti64x4(_mm512_castsi256_si512(qh), _mm256_srli_epi16(qh, 2), 1); /* k = 2|3 */
        /* the low nibble where low4 is set, the top bits (at bits 4-5) above it, then 6 bits kept */
        __m512i c01 = _mm512_ternarylogic_epi32(ql, _mm512_slli_epi16(top, 4), low4, 0xe4);
        __m512i c23 = _mm512_ternarylogic_epi32(_mm512_srli_epi16(ql, 4), top, low4, 0xe4);
        k->codes[2 * h] = _mm512_and_si512(c01, six);     /* sub-blocks 4h | 4h+1 */
        k->codes[2 * h + 1] = _mm512_and_si512(c23, six); /* 4h+2 | 4h+3 */
    }
    /* 128-bit lane L of packs(dp[2i], dp[2i+1]) holds 16-element groups 8i + L (4 words), 8i + 4 + L (4):
     * each word takes its scale byte into its high byte, then an arithmetic shift sign-extends it. */
    __m512i scb = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(const void *)(blk + 192)));
    const __m512i idx0 = _mm512_set_epi64(0x0780078007800780ll, 0x0380038003800380ll, 0x0680068006800680ll,
                                          0x0280028002800280ll, 0x0580058005800580ll, 0x0180018001800180ll,
                                          0x0480048004800480ll, 0x0080008000800080ll);
    const __m512i idx8 = _mm512_add_epi8(idx0, _mm512_set1_epi16(0x0800)); /* groups 8.. */
    k->sc[0] = _mm512_srai_epi16(_mm512_shuffle_epi8(scb, idx0), 8);
    k->sc[1] = _mm512_srai_epi16(_mm512_shuffle_epi8(scb, idx8), 8);
    k->scn = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(blk + 192)));
    k->d = _mm512_set1_ps(f16_scalar(blk + 208));
}

/* One super-block against one activation row into acc (the scaled codes)
 * and accm (the offset: 32 x it is subtracted). The int32 dot of 4 codes
 * fits int16 (4 * 63 * 127), so one pack + multiply-add by the int16
 * scales (exact) leaves, per 128-bit lane, 2 lanes each of 2 sub-blocks. */
INLINE void q6_dot(const q6_block *k, const int8_t *q, const float *dx, const int16_t *s16, __m512 *acc,
                   __m256 *accm) {
    __m512i dp[4];
#pragma GCC unroll 4
    for (int g = 0; g < 4; g++)
        dp[g] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), k->codes[g],
                                    _mm512_loadu_si512((const void *)(q + 64 * g)));
    __m512i m01 = _mm512_madd_epi16(_mm512_packs_epi32(dp[0], dp[1]), k->sc[0]);
    __m512i m23 = _mm512_madd_epi16(_mm512_packs_epi32(dp[2], dp[3]), k->sc[1]);
    __m512 sd = _mm512_mul_ps(_mm512_broadcast_f32x8(_mm256_loadu_ps(dx)), k->d); /* d dx, twice */
    __m512 s01 = _mm512_permutexvar_ps(_mm512_set_epi32(3, 3, 1, 1, 3, 3, 1, 1, 2, 2, 0, 0, 2, 2, 0, 0), sd);
    __m512 s23 = _mm512_permutexvar_ps(_mm512_set_epi32(7, 7, 5, 5, 7, 7, 5, 5, 6, 6, 4, 4, 6, 6, 4, 4), sd);
    *acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(m01), s01, *acc);
    *acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(m23), s23, *acc);
    __m256i om = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(const void *)s16), k->scn);
    *accm = _mm256_fmadd_ps(_mm256_cvtepi32_ps(om), _mm512_castps512_ps256(sd), *accm);
}

INLINE float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

INLINE void rowdot_q45_nb(int five, int nb, const uint8_t *w, const uint8_t *xq, int64_t xs, int64_t n,
                          float *out, int64_t os) {
    __m512 acc[ES_ROWDOT_Q8_MAX_NB];
    __m256 accm[ES_ROWDOT_Q8_MAX_NB];
#pragma GCC unroll 8
    for (int b = 0; b < nb; b++) acc[b] = _mm512_setzero_ps(), accm[b] = _mm256_setzero_ps();
    int64_t block_bytes = five ? 176 : 144;
    for (int64_t sb = 0; sb < n / ES_QK; sb++) {
        q45_block k;
        q45_prepare(five, w + sb * block_bytes, &k);
#pragma GCC unroll 8
        for (int b = 0; b < nb; b++) {
            const uint8_t *row = xq + b * xs;
            q45_dot(&k, (const int8_t *)row + sb * ES_QK, es_q8_scales(row, n) + 8 * sb,
                    es_q8_sums(row, n) + 16 * sb, &acc[b], &accm[b]);
        }
    }
    for (int b = 0; b < nb; b++) out[b * os] = _mm512_reduce_add_ps(acc[b]) - hsum256(accm[b]);
}

INLINE void rowdot_q6_nb(int nb, const uint8_t *w, const uint8_t *xq, int64_t xs, int64_t n, float *out,
                         int64_t os) {
    __m512 acc[ES_ROWDOT_Q8_MAX_NB];
    __m256 accm[ES_ROWDOT_Q8_MAX_NB];
#pragma GCC unroll 8
    for (int b = 0; b < nb; b++) acc[b] = _mm512_setzero_ps(), accm[b] = _mm256_setzero_ps();
    for (int64_t sb = 0; sb < n / ES_QK; sb++) {
        q6_block k;
        q6_prepare(w + sb * 210, &k);
#pragma GCC unroll 8
        for (int b = 0; b < nb; b++) {
            const uint8_t *row = xq + b * xs;
            q6_dot(&k, (const int8_t *)row + sb * ES_QK, es_q8_scales(row, n) + 8 * sb,
                   es_q8_sums(row, n) + 16 * sb, &acc[b], &accm[b]);
        }
    }
    for (int b = 0; b < nb; b++)
        out[b * os] = _mm512_reduce_add_ps(acc[b]) - 32.0f * hsum256(accm[b]);
}

/* Blocks of at most 8 activation rows, each through a kernel compiled for
 * its nb (8, 4, 2 or 1: the accumulators stay in registers); a pair's
 * arithmetic is the same in all of them. */
INLINE void rowdot_k(es_dtype type, const void *w, const uint8_t *xq, int64_t xs, int nb, int64_t n,
                     float *out, int64_t os) {
    int five = type == ES_Q5_K;
    while (nb > 0) {
        int step = nb >= 8 ? 8 : nb >= 4 ? 4 : nb >= 2 ? 2 : 1;
        if (type == ES_Q6_K) {
            if (step == 8) rowdot_q6_nb(8, w, xq, xs, n, out, os);
            else if (step == 4) rowdot_q6_nb(4, w, xq, xs, n, out, os);
            else if (step == 2) rowdot_q6_nb(2, w, xq, xs, n, out, os);
            else rowdot_q6_nb(1, w, xq, xs, n, out, os);
        } else {
            if (step == 8) rowdot_q45_nb(five, 8, w, xq, xs, n, out, os);
            else if (step == 4) rowdot_q45_nb(five, 4, w, xq, xs, n, out, os);
            else if (step == 2) rowdot_q45_nb(five, 2, w, xq, xs, n, out, os);
            else rowdot_q45_nb(five, 1, w, xq, xs, n, out, os);
        }
        nb -= step, xq += step * xs, out += step * os;
    }
}

ES_ROWDOT_Q8_ENTRY(q8_q4_k, ES_Q4_K, rowdot_k, TARGET)
ES_ROWDOT_Q8_ENTRY(q8_q5_k, ES_Q5_K, rowdot_k, TARGET)
ES_ROWDOT_Q8_ENTRY(q8_q6_k, ES_Q6_K, rowdot_k, TARGET)

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
