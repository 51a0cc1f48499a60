/* The 8-bit-activation path on AVX-512 (F/BW/VL/VNNI): the activation
 * quantiser and the integer row dots of Q8_0 and Q4_0, one weight row at a
 * time and (for batches) several at once. The K-quant ones are in
 * kernels_avx512_kquant.c; the rule of the 8-bit activations in
 * kernels_internal.h. */
#include "tensor/kernels_internal.h"

#if defined(__x86_64__) || defined(__i386__)

#include <float.h>
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "tensor/kernels_avx512_inline.h"

/* ---- 8-bit activations ------------------------------------------------
 * The activation quantiser (bytes identical to es_quantize_q8_row) and the
 * integer row dots. vpdpbusd multiplies 64 unsigned bytes by 64 signed
 * bytes and adds each group of 4 products to an int32 lane, exactly; so a
 * 64-byte step gives 16 lanes, 8 per 32-element block (K-quant sub-blocks
 * of 32: 8 lanes each; Q6_K's of 16: 4 lanes each). Signed weights (Q8_0,
 * Q4_0 as nibble - 8) go in as |w| with the sign moved onto the activation
 * (q in -127..127, so negating cannot overflow); the unsigned K-quant codes
 * go in as they are, their mins / offset of 32 handled through the
 * activation sums. Each step's int32 lanes are converted to F32 (exact: a
 * lane is at most 4 * 255 * 127) and added by FMA with the lane's scale
 * (weight scale x activation scale, rounded once) into one 16-lane F32
 * accumulator per activation row; K-quant mins go to a second one.
 * Summation order, per (row, b): the lanes of each accumulator in step
 * order; at the end _mm512_reduce_add_ps (main) minus the min sum (Q6_K:
 * minus 32 x it). Nothing depends on nb. */

TARGET void es_quantize_q8_row_avx512(const float *x, int64_t n, uint8_t *dst) {
    int8_t *q = (int8_t *)dst;
    float *d = (float *)(void *)(dst + n);
    int16_t *sums = (int16_t *)(void *)(dst + n + 4 * (n / 32));
    const __m512 abs_mask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
    for (int64_t k = 0; k < n / 32; k++) {
        __m512 a = _mm512_loadu_ps(x + 32 * k), b = _mm512_loadu_ps(x + 32 * k + 16);
        __m512 aa = _mm512_and_ps(a, abs_mask), ab = _mm512_and_ps(b, abs_mask);
        __m512 lim = _mm512_set1_ps(FLT_MAX);
        int finite = (_mm512_cmp_ps_mask(aa, lim, _CMP_LE_OQ) & _mm512_cmp_ps_mask(ab, lim, _CMP_LE_OQ)) ==
                     0xffff;
        float amax = _mm512_reduce_max_ps(_mm512_max_ps(aa, ab));
        float dk = amax / 127.0f, id = dk > 0.0f ? 1.0f / dk : 0.0f;
        if (!finite) dk = NAN, id = 0.0f;
        __m512 vid = _mm512_set1_ps(id);
        __m512i qa = _mm512_cvtps_epi32(_mm512_mul_ps(a, vid)), qb = _mm512_cvtps_epi32(_mm512_mul_ps(b, vid));
        if (!finite) qa = qb = _mm512_setzero_si512();
        _mm_storeu_si128((__m128i *)(void *)(q + 32 * k), _mm512_cvtsepi32_epi8(qa));
        _mm_storeu_si128((__m128i *)(void *)(q + 32 * k + 16), _mm512_cvtsepi32_epi8(qb));
        d[k] = dk;
        sums[2 * k] = (int16_t)_mm512_reduce_add_epi32(qa);
        sums[2 * k + 1] = (int16_t)_mm512_reduce_add_epi32(qb);
    }
}

/* The f16 scales at a and b (0 when `two` is 0) in lanes 0-7 and 8-15:
 * two broadcasts and one conversion, the values f16_scalar gives. */
INLINE __m512 pair_scales(const uint8_t *a, const uint8_t *b, int two) {
    uint16_t ha, hb = 0;
    memcpy(&ha, a, 2);
    if (two) memcpy(&hb, b, 2);
    return _mm512_cvtph_ps(_mm256_mask_set1_epi16(_mm256_set1_epi16((short)ha), 0xff00, (short)hb));
}

/* Weights of blocks 2p, 2p+1 of a Q8_0 / Q4_0 row as signed bytes (block
 * 2p+1 zero when `two` is 0: the last block of an odd count). */
INLINE __m512i q_pair_codes(es_dtype type, const uint8_t *w, int64_t p, int two) {
    if (type == ES_Q8_0) {
        const uint8_t *a = w + 68 * p, *b = a + 34;
        __m256i lo = _mm256_loadu_si256((const __m256i *)(const void *)(a + 2));
        __m256i hi = two ? _mm256_loadu_si256((const __m256i *)(const void *)(b + 2)) : _mm256_setzero_si256();
        return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
    }
    const uint8_t *a = w + 36 * p, *b = a + 18; /* Q4_0: byte j = element j (low), j + 16 (high) */
    __m128i qa = _mm_loadu_si128((const __m128i *)(const void *)(a + 2));
    __m128i qb = two ? _mm_loadu_si128((const __m128i *)(const void *)(b + 2)) : _mm_set1_epi8((char)0x88);
    __m256i t = _mm256_inserti128_si256(_mm256_castsi128_si256(qa), qb, 1);
    __m256i m = _mm256_set1_epi8(15);
    __m256i lo = _mm256_and_si256(t, m), hi = _mm256_and_si256(_mm256_srli_epi16(t, 4), m);
    __m512i v = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1); /* a.lo b.lo a.hi b.hi */
    v = _mm512_shuffle_i64x2(v, v, _MM_SHUFFLE(3, 1, 2, 0));               /* a.lo a.hi b.lo b.hi */
    return _mm512_sub_epi8(v, _mm512_set1_epi8(8));
}

/* q_pair_codes and the pair's scales, 8 lanes each. */
INLINE __m512i q_pair_weights(es_dtype type, const uint8_t *w, int64_t p, int two, __m512 *dw) {
    int64_t bb = type == ES_Q8_0 ? 34 : 18;
    *dw = pair_scales(w + 2 * bb * p, w + 2 * bb * p + bb, two);
    return q_pair_codes(type, w, p, two);
}

/* Signed weights w (64) times activation codes x: 16 exact int32 lanes. */
INLINE __m512i dot_signed(__m512i aw, __mmask64 neg, __m512i x) {
    __m512i sx = _mm512_mask_sub_epi8(x, neg, _mm512_setzero_si512(), x);
    return _mm512_dpbusd_epi32(_mm512_setzero_si512(), aw, sx);
}

/* Pairs of blocks p0, p0 + 1, ... to the end of the row into acc[b]. */
INLINE void q_pairs(es_dtype type, int nb, const uint8_t *w, const uint8_t *xq, int64_t xs, int64_t n, int64_t p0,
                    __m512 *acc) {
    int64_t n_blocks = n / 32;
    const __m512i pair_idx = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
    for (int64_t p = p0; 2 * p < n_blocks; p++) {
        int two = 2 * p + 1 < n_blocks;
        __m512 dw;
        __m512i wv = q_pair_weights(type, w, p, two, &dw);
        __m512i aw = _mm512_abs_epi8(wv);
        __mmask64 neg = _mm512_movepi8_mask(wv);
#pragma GCC unroll 8
        for (int b = 0; b < nb; b++) {
            const uint8_t *row = xq + b * xs;
            __m512i x = _mm512_maskz_loadu_epi8(two ? ~0ull : 0xffffffffull, row + 64 * p);
            /* the two blocks' scales (the second is the sums' first bytes past the last block: masked) */
            __m128 dx = _mm_castsi128_ps(_mm_loadl_epi64((const __m128i *)(const void *)(es_q8_scales(row, n) + 2 * p)));
            __m512 sx = _mm512_maskz_permutexvar_ps(two ? 0xffff : 0x00ff, pair_idx, _mm512_castps128_ps512(dx));
            __m512 f = _mm512_cvtepi32_ps(dot_signed(aw, neg, x));
            acc[b] = _mm512_fmadd_ps(f, _mm512_mul_ps(dw, sx), acc[b]);
        }
    }
}

INLINE void rowdot_q_nb(es_dtype type, int nb, const uint8_t *w, const uint8_t *xq, int64_t xs, int64_t n,
                        float *out, int64_t os) {
    __m512 acc[ES_ROWDOT_Q8_MAX_NB];
#pragma GCC unroll 8
    for (int b = 0; b < nb; b++) acc[b] = _mm512_setzero_ps();
    q_pairs(type, nb, w, xq, xs, n, 0, acc);
    for (int b = 0; b < nb; b++) out[b * os] = _mm512_reduce_add_ps(acc[b]);
}

/* rowdot_q_nb for one activation row (decode), the same bits with less
 * work per block: four blocks' scale products at once (their four f16
 * scales in one conversion, times the four activation scales: per block
 * the same F32 product), and no test for an odd last block inside the
 * loop (q_pairs takes the last 1-3 blocks). The general form was bound by
 * its arithmetic: an 8192 x 2048 matrix in L2 went through it at 39 GB/s,
 * about what one core streams from memory; this form 48 (from memory +3-4%:
 * see bench/README.md on decode against the bandwidth limit). */
INLINE void rowdot_q_one(es_dtype type, const uint8_t *w, const uint8_t *xq, int64_t n, float *out) {
    const int64_t bb = type == ES_Q8_0 ? 34 : 18, n_blocks = n / 32;
    const float *dx = es_q8_scales(xq, n);
    const __m512i idx0 = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m512i idx1 = _mm512_set_epi32(3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2);
    __m512 acc = _mm512_setzero_ps();
    int64_t q = 0;
    for (; 4 * q + 4 <= n_blocks; q++) {
        const uint8_t *blk = w + 4 * bb * q;
        uint16_t h[4];
        for (int i = 0; i < 4; i++) memcpy(&h[i], blk + i * bb, 2);
        uint64_t hh = (uint64_t)h[0] | (uint64_t)h[1] << 16 | (uint64_t)h[2] << 32 | (uint64_t)h[3] << 48;
        __m128 s = _mm_mul_ps(_mm_cvtph_ps(_mm_cvtsi64_si128((long long)hh)), _mm_loadu_ps(dx + 4 * q));
        __m512 s16 = _mm512_castps128_ps512(s);
#pragma GCC unroll 2
        for (int j = 0; j < 2; j++) {
            __m512i wv = q_pair_codes(type, w, 2 * q + j, 1);
            __m512i x = _mm512_loadu_si512((const void *)(xq + 128 * q + 64 * j));
            __m512 f = _mm512_cvtepi32_ps(dot_signed(_mm512_abs_epi8(wv), _mm512_movepi8_mask(wv), x));
            acc = _mm512_fmadd_ps(f, _mm512_permutexvar_ps(j ? idx1 : idx0, s16), acc);
        }
    }
    q_pairs(type, 1, w, xq, 0, n, 2 * q, &acc);
    *out = _mm512_reduce_add_ps(acc);
}

INLINE void rowdot_q8(es_dtype type, const void *w, const uint8_t *xq, int64_t xs, int nb, int64_t n,
                      float *out, int64_t os) {
    for (; nb > 0;) {
        int step = nb >= 8 ? 8 : nb >= 4 ? 4 : nb >= 2 ? 2 : 1;
        if (step == 8) rowdot_q_nb(type, 8, w, xq, xs, n, out, os);
        else if (step == 4) rowdot_q_nb(type, 4, w, xq, xs, n, out, os);
        else if (step == 2) rowdot_q_nb(type, 2, w, xq, xs, n, out, os);
        else rowdot_q_one(type, w, xq, n, out);
        nb -= step, xq += step * xs, out += step * os;
    }
}

/* ---- several weight rows at once (Q8_0, Q4_0) --------------------------
 * For a batch, the single-row dot spends most of its work on the
 * activation side (load, sign flip, scale shuffle) once per weight row.
 * Here one activation load serves Q_NR weight rows, Q_NB activation rows
 * kept in Q_NR x Q_NB accumulators. To share the activation bytes across
 * rows they go in unsigned, as q + 128 (xor 0x80), against the signed
 * weights, and each lane starts from -128 x (the sum of its 4 weights), so
 * it ends at sum q * w exactly (|lane| < 2^18): the same int32 lanes, the
 * same scale products and the same FMA chain per (row, b) as rowdot_q_nb,
 * so the same bits. */
#define Q_NR 4 /* 16 accumulators: measured, 2 x 8 gave the same */
#define Q_NB 4

INLINE void rowdot_q_tile(es_dtype type, int nr, int nb, const uint8_t *w, size_t ws, const uint8_t *xq,
                          int64_t xs, int64_t n, float *out, int64_t os) {
    __m512 acc[Q_NR][Q_NB];
#pragma GCC unroll 8
    for (int r = 0; r < nr; r++)
#pragma GCC unroll 8
        for (int b = 0; b < nb; b++) acc[r][b] = _mm512_setzero_ps();
    int64_t n_blocks = n / 32;
    const __m512i pair_idx = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m512i bias = _mm512_set1_epi8((char)0x80), zero = _mm512_setzero_si512();
    for (int64_t p = 0; 2 * p < n_blocks; p++) {
        int two = 2 * p + 1 < n_blocks;
        __m512i wv[Q_NR], base[Q_NR];
        __m512 dw[Q_NR];
#pragma GCC unroll 8
        for (int r = 0; r < nr; r++) {
            wv[r] = q_pair_weights(type, w + (size_t)r * ws, p, two, &dw[r]);
            base[r] = _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(zero, bias, wv[r]));
        }
#pragma GCC unroll 8
        for (int b = 0; b < nb; b++) {
            const uint8_t *row = xq + b * xs;
            __m512i x = _mm512_maskz_loadu_epi8(two ? ~0ull : 0xffffffffull, row + 64 * p);
            x = _mm512_xor_si512(x, bias);
            __m128 dx = _mm_castsi128_ps(_mm_loadl_epi64((const __m128i *)(const void *)(es_q8_scales(row, n) + 2 * p)));
            __m512 sx = _mm512_maskz_permutexvar_ps(two ? 0xffff : 0x00ff, pair_idx, _mm512_castps128_ps512(dx));
#pragma GCC unroll 8
            for (int r = 0; r < nr; r++) {
                __m512 f = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(base[r], x, wv[r]));
                acc[r][b] = _mm512_fmadd_ps(f, _mm512_mul_ps(dw[r], sx), acc[r][b]);
            }
        }
    }
    for (int r = 0; r < nr; r++)
        for (int b = 0; b < nb; b++) out[b * os + r] = _mm512_reduce_add_ps(acc[r][b]);
}

/* Rows in groups of Q_NR (the last group 1-3 rows), each over the batch in
 * blocks of Q_NB; the rest of the batch by the single-row dot. */
INLINE void rowdot_q_rows(es_dtype type, const uint8_t *w, size_t ws, int nr, const uint8_t *xq, int64_t xs,
                          int nb, int64_t n, float *out, int64_t os) {
    int full = nb / Q_NB * Q_NB;
    for (; nr > 0; nr -= Q_NR, w += Q_NR * ws, out += Q_NR) {
        int g = nr < Q_NR ? nr : Q_NR;
        for (int b0 = 0; b0 < full; b0 += Q_NB) {
            const uint8_t *xb = xq + b0 * xs;
            float *ob = out + b0 * os;
            if (g == Q_NR) rowdot_q_tile(type, Q_NR, Q_NB, w, ws, xb, xs, n, ob, os);
            else if (g == 3) rowdot_q_tile(type, 3, Q_NB, w, ws, xb, xs, n, ob, os);
            else if (g == 2) rowdot_q_tile(type, 2, Q_NB, w, ws, xb, xs, n, ob, os);
            else rowdot_q_tile(type, 1, Q_NB, w, ws, xb, xs, n, ob, os);
        }
        for (int r = 0; r < g && full < nb; r++)
            rowdot_q8(type, w + (size_t)r * ws, xq + full * xs, xs, nb - full, n, out + full * os + r, os);
    }
}

TARGET static void q8_rows_q8_0(const void *w, size_t ws, int nr, const uint8_t *xq, int64_t xs, int nb,
                                int64_t n, float *out, int64_t os) {
    rowdot_q_rows(ES_Q8_0, w, ws, nr, xq, xs, nb, n, out, os);
}
TARGET static void q8_rows_q4_0(const void *w, size_t ws, int nr, const uint8_t *xq, int64_t xs, int nb,
                                int64_t n, float *out, int64_t os) {
    rowdot_q_rows(ES_Q4_0, w, ws, nr, xq, xs, nb, n, out, os);
}

es_rowdot_q8_rows_fn *es_rowdot_q8_rows_avx512(es_dtype type) {
    return type == ES_Q8_0 ? q8_rows_q8_0 : type == ES_Q4_0 ? q8_rows_q4_0 : NULL;
}

ES_ROWDOT_Q8_ENTRY(q8_q8_0, ES_Q8_0, rowdot_q8, TARGET)
ES_ROWDOT_Q8_ENTRY(q8_q4_0, ES_Q4_0, rowdot_q8, TARGET)

es_rowdot_q8_fn *es_rowdot_q8_avx512(es_dtype type) {
    switch (type) {
    case ES_Q8_0: return q8_q8_0;
    case ES_Q4_0: return q8_q4_0;
    default: return es_rowdot_q8_avx512_kquant(type);
    }
}

#else /* not x86: no such path */

es_rowdot_q8_fn *es_rowdot_q8_avx512(es_dtype type) {
    (void)type;
    return NULL;
}
es_rowdot_q8_rows_fn *es_rowdot_q8_rows_avx512(es_dtype type) {
    (void)type;
    return NULL;
}
void es_quantize_q8_row_avx512(const float *x, int64_t n, uint8_t *dst) { es_quantize_q8_row(x, n, dst); }

#endif
