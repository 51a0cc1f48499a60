/* Row dots for x86 CPUs with AVX-512 F/BW/VL/VNNI, compiled for that ISA per function
 * (target attribute) so the rest of the program stays baseline x86-64; the
 * driver calls them only after checking the CPU. Weights are converted in
 * registers, 32 at a time, straight from storage: F16 by vcvtph2ps, BF16 by
 * a 16-bit shift, Q8_0 / Q4_0 by widening the integers and multiplying by
 * the block's scale (exact: f16 scale x small integer fits in F32). K-quant
 * codes are widened the same way and mapped by FMA, step * code - offset,
 * with the super-block's (step, offset) pairs decoded once per block
 * (see es_k_unpack_scales: the values are GGML's exactly). The
 * converted chunk is reused for every activation row of the batch block.
 * The driver uses these F32 row dots for F32, F16 and BF16 only; quantised
 * weights take the integer row dots of kernels_avx512_q8.c and
 * kernels_avx512_kquant.c (the F32 ones for them stay, tested, as the
 * like-for-like baseline of kernels_avx2.c).
 *
 * Summation order, per (row, b) pair: two 16-lane F32 accumulators (chunk
 * elements 0-15 and 16-31) fed by FMA, added lane-wise, reduced by
 * reduce16; then the last n % 32 elements of a F32/F16/BF16
 * row added in order by scalar FMA. The order does not depend on nb. */
#include "tensor/kernels_internal.h"

#if defined(__x86_64__) || defined(__i386__)

#include <float.h>
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "tensor/kernels_avx512_inline.h"

/* Half `half` (elements 32k + 16 half .. + 15) of chunk k of a F32 / F16 /
 * BF16 weight row as one F32 vector. */
INLINE __m512 load_half(es_dtype type, const uint8_t *w, int64_t k, int half) {
    const uint8_t *p = w + k * (type == ES_F32 ? 128 : 64) + (type == ES_F32 ? 64 : 32) * half;
    if (type == ES_F32) return _mm512_loadu_ps((const float *)(const void *)p);
    __m256i h = _mm256_loadu_si256((const __m256i *)(const void *)p);
    if (type == ES_F16) return _mm512_cvtph_ps(h);
    /* bf16 is the top half of an f32: widen and shift */
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* Chunk k (elements 32k .. 32k+31) of weight row w as two F32 vectors. */
INLINE void load_chunk(es_dtype type, const uint8_t *w, int64_t k, __m512 *lo, __m512 *hi) {
    switch (type) {
    case ES_F32:
    case ES_F16:
    case ES_BF16:
        *lo = load_half(type, w, k, 0);
        *hi = load_half(type, w, k, 1);
        return;
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

/* 16 bytes at p, each widened to a 32-bit lane. */
INLINE __m512i widen16(const uint8_t *p) {
    return _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(const void *)p));
}

/* K-quant codes are unpacked a "span" of 4 chunks (128 elements) at a
 * time, so each stored byte is widened once: span s of Q4_K/Q5_K is the
 * low and high nibbles of qs[64s .. 64s+63] (chunks 4s .. 4s+3), of Q6_K
 * ql[64s ..] and qh[32s ..]. codes[2i] and codes[2i+1]: elements 0-15 and
 * 16-31 of the span's chunk i (layouts in tensor.h). */
/* A Q6_K code: low 4 bits from `low` (already masked), top 2 from bits 4-5
 * of `high` (qh shifted so that the chunk's 2 bits sit there). */
INLINE __m512i q6_code(__m512i low, __m512i high) {
    return _mm512_or_si512(low, _mm512_and_si512(high, _mm512_set1_epi32(0x30)));
}

INLINE void k_span_codes(es_dtype type, const uint8_t *blk, int s, __m512i codes[8]) {
    __m512i low4 = _mm512_set1_epi32(15);
    if (type == ES_Q6_K) { /* top 2 bits of chunk k: bits 2k, 2k+1 of qh */
#pragma GCC unroll 2
        for (int half = 0; half < 2; half++) {
            __m512i a = widen16(blk + 64 * s + 16 * half), b = widen16(blk + 64 * s + 32 + 16 * half);
            __m512i h = widen16(blk + 128 + 32 * s + 16 * half);
            codes[0 + half] = q6_code(_mm512_and_si512(a, low4), _mm512_slli_epi32(h, 4));
            codes[2 + half] = q6_code(_mm512_and_si512(b, low4), _mm512_slli_epi32(h, 2));
            codes[4 + half] = q6_code(_mm512_srli_epi32(a, 4), h);
            codes[6 + half] = q6_code(_mm512_srli_epi32(b, 4), _mm512_srli_epi32(h, 2));
        }
        return;
    }
    const uint8_t *qs = blk + (type == ES_Q5_K ? 48 : 16) + 64 * s;
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) { /* qs[64s + 16i ..]: chunks 2(i / 2) (low), 2(i / 2) + 1 (high) */
        int half = i % 2, first = 4 * (i / 2) + half;
        __m512i a = widen16(qs + 16 * i);
        codes[first] = _mm512_and_si512(a, low4);
        codes[first + 2] = _mm512_srli_epi32(a, 4);
        if (type == ES_Q5_K) { /* fifth bit of chunk c: bit c of qh, moved to bit 4 */
            int c = 4 * s + 2 * (i / 2);
            __m512i h = _mm512_srl_epi32(widen16(blk + 16 + 16 * half), _mm_cvtsi32_si128(c));
            __m512i bit4 = _mm512_set1_epi32(16);
            codes[first] = _mm512_or_si512(codes[first], _mm512_and_si512(_mm512_slli_epi32(h, 4), bit4));
            codes[first + 2] =
                _mm512_or_si512(codes[first + 2], _mm512_and_si512(_mm512_slli_epi32(h, 3), bit4));
        }
    }
}

/* A K-quant block's sub-blocks as affine maps of their codes, element =
 * step * code - offset: Q4_K/Q5_K step[j], offset[j] for sub-block j < 8
 * (32 elements), Q6_K for j < 16 (16 elements). See es_k_unpack_scales. */
INLINE void k_block_scales(es_dtype type, const uint8_t *blk, float step[16], float offset[16]) {
    __m512 s, o;
    k_block_scales_v(type, blk, &s, &o);
    _mm512_storeu_ps(step, s);
    if (type == ES_Q6_K) _mm512_storeu_ps(offset, o);
    else _mm256_storeu_ps(offset, _mm512_castps512_ps256(o)); /* 8 sub-blocks */
}

/* 16 K-quant weights, step * code - offset (one rounding: see
 * es_k_unpack_scales). */
INLINE __m512 k_weights(float step, float offset, __m512i codes) {
    return _mm512_fmsub_ps(_mm512_set1_ps(step), _mm512_cvtepi32_ps(codes), _mm512_set1_ps(offset));
}

/* The sum of v's lanes in a fixed tree, written out (it is what GCC's
 * _mm512_reduce_add_ps does; another compiler's may differ) so that
 * reduce16_x16 can repeat it for 16 vectors at once: lanes i and i + 8,
 * then i and i + 4, i + 2, i + 1, the lower lane always first. */
INLINE float reduce16(__m512 v) {
    __m256 a = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
    __m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    __m128 c = _mm_add_ps(b, _mm_movehl_ps(b, b));
    return _mm_cvtss_f32(_mm_add_ss(c, _mm_movehdup_ps(c)));
}

/* reduce16 of v[4m + q] in lane 4q + m, for 16 vectors at once: each
 * stage adds the same lane pairs as reduce16, lower lanes first, so every
 * lane holds reduce16's bits; 45 instructions where 16 reduce16 take ~110,
 * each a chain of four dependent additions. */
INLINE __m512 reduce16_x16(const __m512 v[16]) {
    __m512 s1[8], s2[4], s3[2];
#pragma GCC unroll 8
    for (int j = 0; j < 8; j++) /* i + i + 8: lanes 0-7 from v[2j], 8-15 from v[2j+1] */
        s1[j] = _mm512_add_ps(_mm512_shuffle_f32x4(v[2 * j], v[2 * j + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                              _mm512_shuffle_f32x4(v[2 * j], v[2 * j + 1], _MM_SHUFFLE(3, 2, 3, 2)));
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) /* i + i + 4: quarter q from v[4j + q] */
        s2[j] = _mm512_add_ps(_mm512_shuffle_f32x4(s1[2 * j], s1[2 * j + 1], _MM_SHUFFLE(2, 0, 2, 0)),
                              _mm512_shuffle_f32x4(s1[2 * j], s1[2 * j + 1], _MM_SHUFFLE(3, 1, 3, 1)));
#pragma GCC unroll 2
    for (int j = 0; j < 2; j++) /* i + i + 2: quarter q, lanes 0-1 from v[8j + q], 2-3 from v[8j + 4 + q] */
        s3[j] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(s2[2 * j]),
                                                                  _mm512_castps_pd(s2[2 * j + 1]))),
                              _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(s2[2 * j]),
                                                                  _mm512_castps_pd(s2[2 * j + 1]))));
    /* i + i + 1: quarter q from v[q], v[4 + q], v[8 + q], v[12 + q] */
    return _mm512_add_ps(_mm512_shuffle_ps(s3[0], s3[1], _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_ps(s3[0], s3[1], _MM_SHUFFLE(3, 1, 3, 1)));
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

/* acc_lo[b] += wl * x[b][0..16), acc_hi[b] += wh * x[b][16..32) for the
 * chunk whose activations start at xk. */
INLINE void fma_chunk(int nb, __m512 wl, __m512 wh, const float *xk, int64_t xs, __m512 *acc_lo,
                      __m512 *acc_hi) {
#pragma GCC unroll 4
    for (int b = 0; b < nb; b++) {
        acc_lo[b] = _mm512_fmadd_ps(wl, _mm512_loadu_ps(xk + b * xs), acc_lo[b]);
        acc_hi[b] = _mm512_fmadd_ps(wh, _mm512_loadu_ps(xk + b * xs + 16), acc_hi[b]);
    }
}

/* The row dot for a constant nb (inlined with nb and type known, so the
 * accumulators live in registers). Two chains per (row, b) are enough:
 * measured, four gave nothing, the loads being the limit, not FMA latency.
 * K-quant rows walk the same chunks in the same order, a super-block (8
 * chunks) at a time. */
INLINE void rowdot_nb(es_dtype type, int nb, const uint8_t *w, const float *x,
                      int64_t xs, int64_t n, float *out, int64_t os) {
    __m512 acc_lo[ES_ROWDOT_MAX_NB], acc_hi[ES_ROWDOT_MAX_NB];
    int64_t n_chunks = n / 32;
#pragma GCC unroll 4
    for (int b = 0; b < nb; b++) acc_lo[b] = acc_hi[b] = _mm512_setzero_ps();
    if (es_is_k_quant(type)) {
        int64_t block_bytes = type == ES_Q4_K ? 144 : type == ES_Q5_K ? 176 : 210;
        for (int64_t sb = 0; sb < n / ES_QK; sb++) {
            const uint8_t *blk = w + sb * block_bytes;
            float step[16], offset[16];
            k_block_scales(type, blk, step, offset);
#pragma GCC unroll 2
            for (int s = 0; s < 2; s++) {
                __m512i codes[8];
                k_span_codes(type, blk, s, codes);
#pragma GCC unroll 4
                for (int i = 0; i < 4; i++) {
                    int c = 4 * s + i; /* chunk: sub-block c (Q6_K: 2c, 2c+1) */
                    int g_lo = type == ES_Q6_K ? 2 * c : c, g_hi = type == ES_Q6_K ? 2 * c + 1 : c;
                    __m512 wl = k_weights(step[g_lo], offset[g_lo], codes[2 * i]);
                    __m512 wh = k_weights(step[g_hi], offset[g_hi], codes[2 * i + 1]);
                    fma_chunk(nb, wl, wh, x + sb * ES_QK + c * 32, xs, acc_lo, acc_hi);
                }
            }
        }
    } else {
        for (int64_t k = 0; k < n_chunks; k++) {
            __m512 wl, wh;
            load_chunk(type, w, k, &wl, &wh);
            fma_chunk(nb, wl, wh, x + k * 32, xs, acc_lo, acc_hi);
        }
    }
    for (int b = 0; b < nb; b++) {
        float sum = reduce16(_mm512_add_ps(acc_lo[b], acc_hi[b]));
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

/* ---- several weight rows at once (F32, F16, BF16) ---------------------
 * For a batch the one-row dot is bound by loads: every FMA takes its
 * activation from memory (and the weights are converted once per 4 rows).
 * Here a tile of F_NR weight rows x F_NB activation rows holds the
 * activations of a half-chunk in registers, each serving F_NR rows, and
 * converts each weight half-chunk once for F_NB rows: per 32 elements
 * 8 conversions, 6 loads and 24 FMAs. The accumulators are the one-row
 * dot's, two per (row, b) (chunk elements 0-15, 16-31), fed in the same
 * order and reduced the same way, so every output has the same bits.
 * 4 x 3 fills the 32 registers (24 accumulators, 3 activations, 1
 * weight); measured on a 8192 x 2048 F16 matrix, batch 128, one Zen 4
 * core: 169 GFLOP/s (3 x 4: 166, 2 x 6: 155, 4 x 2: 133; the one-row dot
 * at 4 rows: 45). */
#define F_NR ES_TILE_NR_AVX512
#define F_NB 3

/* Keeps v in a register: without it the compiler folds the load into each
 * FMA that uses it (F_NR loads instead of one; measured 126 instead of
 * 169 GFLOP/s). */
#define KEEP_IN_REGISTER(v) __asm__("" : "+v"(v))

INLINE void rowdot_f_half(es_dtype type, int nb, const uint8_t *w, size_t ws, const float *x, int64_t xs,
                          int64_t k, int half, __m512 acc[F_NR][F_NB]) {
    __m512 xv[F_NB];
#pragma GCC unroll 4
    for (int b = 0; b < nb; b++) {
        xv[b] = _mm512_loadu_ps(x + b * xs + 32 * k + 16 * half);
        KEEP_IN_REGISTER(xv[b]);
    }
#pragma GCC unroll 4
    for (int r = 0; r < F_NR; r++) {
        __m512 wv = load_half(type, w + (size_t)r * ws, k, half);
#pragma GCC unroll 4
        for (int b = 0; b < nb; b++) acc[r][b] = _mm512_fmadd_ps(wv, xv[b], acc[r][b]);
    }
}

/* Chunks k0 .. k1 of a tile, its accumulators carried in acc (lo then hi
 * of each (row, b)): kept in memory between calls, they are the same
 * vectors, so splitting the chunks changes no bit. The first pass (k0 = 0)
 * starts from zero (a memset of acc per batch block cost ~2% of prefill). */
INLINE void rowdot_f_tile(es_dtype type, int nb, const uint8_t *w, size_t ws, const float *x, int64_t xs,
                          int64_t k0, int64_t k1, __m512 *acc) {
    __m512 lo[F_NR][F_NB], hi[F_NR][F_NB];
#pragma GCC unroll 4
    for (int r = 0; r < F_NR; r++)
#pragma GCC unroll 4
        for (int b = 0; b < nb; b++) {
            lo[r][b] = k0 ? acc[2 * (r * F_NB + b)] : _mm512_setzero_ps();
            hi[r][b] = k0 ? acc[2 * (r * F_NB + b) + 1] : _mm512_setzero_ps();
        }
    for (int64_t k = k0; k < k1; k++) {
        rowdot_f_half(type, nb, w, ws, x, xs, k, 0, lo);
        rowdot_f_half(type, nb, w, ws, x, xs, k, 1, hi);
    }
#pragma GCC unroll 4
    for (int r = 0; r < F_NR; r++)
#pragma GCC unroll 4
        for (int b = 0; b < nb; b++) acc[2 * (r * F_NB + b)] = lo[r][b], acc[2 * (r * F_NB + b) + 1] = hi[r][b];
}

/* Chunks per pass: the F_NB activation rows' share (24 KiB) stays in L1
 * across the row groups; 8192-element rows (Llama's w2) otherwise stream
 * 96 KiB of activations from L2 per group. */
#define TILE_VEC __m512
#define TILE_ZERO _mm512_setzero_ps()
#define TILE_NR F_NR
#define TILE_NB F_NB
#define TILE_K_CHUNKS 64
#define TILE_MAX_GROUPS 16 /* 24 KiB of accumulators on the stack; the driver passes at most 12 groups */
#define TILE_ACCS 2
#define TILE_REDUCE(p) _mm512_reduce_add_ps(_mm512_add_ps((p)[0], (p)[1]))
#define TILE_GETTER es_rowdot_rows_avx512
#include "tensor/kernels_tiles_impl.h"

#else /* not x86: no such path */

es_rowdot_fn *es_rowdot_avx512(es_dtype type) {
    (void)type;
    return NULL;
}
es_rowdot_rows_fn *es_rowdot_rows_avx512(es_dtype type) {
    (void)type;
    return NULL;
}

#endif

#if defined(__x86_64__) || defined(__i386__)
/* es_dot_f32_rows for rows of at least one chunk (the attention's query
 * against its keys): 16 rows at a time, each with the one-row F32 dot's
 * two accumulators and chunk order, the 16 reductions done together by
 * reduce16_x16, the tail added as rowdot_nb adds it: the same bits as
 * es_rowdot_avx512(ES_F32) row by row, in about half the instructions (a
 * 64-element row is 4 FMAs; its reduction was ten more). */
/* Rows t0 .. t0 + m - 1 (m <= 16) against query a, into out[t0 ..]. */
INLINE void dot_rows16(const float *a, const float *rows, size_t stride, int t0, int m, int n, float *out) {
    const int64_t n_chunks = n / 32;
    const __m512 zero = _mm512_setzero_ps();
    __m512 v[16];
    for (int j = m; j < 16; j++) v[4 * (j % 4) + j / 4] = zero;
    for (int j = 0; j < m; j++) { /* rows in order (one stream); row t0 + j = 4q + r goes to v[4r + q] */
        const float *x = rows + (size_t)(t0 + j) * stride;
        __m512 lo = zero, hi = zero;
        for (int64_t c = 0; c < n_chunks; c++) {
            lo = _mm512_fmadd_ps(_mm512_loadu_ps(a + 32 * c), _mm512_loadu_ps(x + 32 * c), lo);
            hi = _mm512_fmadd_ps(_mm512_loadu_ps(a + 32 * c + 16), _mm512_loadu_ps(x + 32 * c + 16), hi);
        }
        v[4 * (j % 4) + j / 4] = _mm512_add_ps(lo, hi);
    }
    __m512 s = reduce16_x16(v);
    float sums[16];
    _mm512_storeu_ps(sums, s);
    for (int j = 0; j < m; j++) {
        const float *x = rows + (size_t)(t0 + j) * stride;
        float tail = n_chunks * 32 < n ? tail_dot(ES_F32, (const uint8_t *)(const void *)a, x, n_chunks * 32, n)
                                       : 0.0f;
        out[t0 + j] = sums[j] + tail;
    }
}

TARGET void es_dot_f32_rows_avx512(const float *a, const float *rows, size_t stride, int n_rows, int n,
                                   float *out) {
    for (int t0 = 0; t0 < n_rows; t0 += 16) dot_rows16(a, rows, stride, t0, n_rows - t0 < 16 ? n_rows - t0 : 16, n, out);
}

/* The same for n_a queries (grouped-query attention): each block of 16
 * rows is read from memory once and then from L1 for the other queries. */
TARGET void es_dot_f32_rows_multi_avx512(const float *a, size_t a_stride, int n_a, const float *rows, size_t stride,
                                         int n_rows, int n, float *out, size_t out_stride) {
    for (int t0 = 0; t0 < n_rows; t0 += 16)
        for (int k = 0; k < n_a; k++)
            dot_rows16(a + k * a_stride, rows, stride, t0, n_rows - t0 < 16 ? n_rows - t0 : 16, n,
                       out + k * out_stride);
}

/* glibc's vector expf (libmvec, shipped with libc6; the name is the x86
 * vector-function ABI's): 16 lanes, at most 4 ulp from exp. */
TARGET __m512 _ZGVeN16v_expf(__m512 x);

/* es_swiglu 16 elements at a time, the same formula with that exp; the
 * last n % 16 masked, so that every element takes the same path wherever
 * it falls (a batch gives the bits of its rows one by one). */
TARGET void es_swiglu_avx512(float *out, const float *gate, const float *up, int n) {
    const __m512 one = _mm512_set1_ps(1.0f), sign = _mm512_set1_ps(-0.0f);
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        __m512 g = _mm512_maskz_loadu_ps(m, gate + i);
        __m512 e = _ZGVeN16v_expf(_mm512_xor_ps(g, sign));
        __m512 y = _mm512_mul_ps(_mm512_div_ps(g, _mm512_add_ps(one, e)), _mm512_maskz_loadu_ps(m, up + i));
        _mm512_mask_storeu_ps(out + i, m, y);
    }
}

/* es_exp_sums, 16 elements at a time (the last n % 16 masked, zero in the
 * sums): the low and high eight of each step go to the same eight double
 * lanes in turn, so lane k sums the elements i = k mod 8 in order. */
TARGET double es_exp_sums_avx512(const float *x, float *out, int n, float max, double ab[2]) {
    const __m512 vmax = _mm512_set1_ps(max), lowest = _mm512_set1_ps(-FLT_MAX);
    __m512d z = _mm512_setzero_pd(), a = z, b = z;
    for (int i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        /* d at least -FLT_MAX (max_ps returns its second operand, d, when d is NaN) */
        __m512 d = _mm512_max_ps(lowest, _mm512_maskz_sub_ps(m, _mm512_maskz_loadu_ps(m, x + i), vmax));
        __m512 e = _mm512_maskz_mov_ps(m, _ZGVeN16v_expf(d));
        if (out) _mm512_mask_storeu_ps(out + i, m, e);
#pragma GCC unroll 2
        for (int half = 0; half < 2; half++) {
            __m512d eh = _mm512_cvtps_pd(half ? _mm512_extractf32x8_ps(e, 1) : _mm512_castps512_ps256(e));
            z = _mm512_add_pd(z, eh);
            if (ab) {
                __m512d dh = _mm512_cvtps_pd(half ? _mm512_extractf32x8_ps(d, 1) : _mm512_castps512_ps256(d));
                __m512d ed = _mm512_mul_pd(eh, dh);
                a = _mm512_add_pd(a, ed);
                b = _mm512_add_pd(b, _mm512_mul_pd(ed, dh));
            }
        }
    }
    double s[8];
    if (ab) {
        _mm512_storeu_pd(s, a);
        ab[0] = es_sum8(s);
        _mm512_storeu_pd(s, b);
        ab[1] = es_sum8(s);
    }
    _mm512_storeu_pd(s, z);
    return es_sum8(s);
}

/* es_weighted_rows, 16 elements per vector: each out[d] is one chain of
 * FMAs over t in order, from 0 or (add) from out[d] (so the value does not
 * depend on n, on where d falls, or on how the rows are split into calls;
 * the portable version rounds the products separately). */
TARGET void es_weighted_rows_avx512(const float *w, const float *rows, size_t stride, int n_rows,
                                    int n, float *out, int add) {
    int d = 0;
    for (; d + 64 <= n; d += 64) {
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        if (add) /* continue each element's chain */
            a0 = _mm512_loadu_ps(out + d), a1 = _mm512_loadu_ps(out + d + 16), a2 = _mm512_loadu_ps(out + d + 32),
            a3 = _mm512_loadu_ps(out + d + 48);
        for (int t = 0; t < n_rows; t++) {
            const float *r = rows + (size_t)t * stride + d;
            __m512 wt = _mm512_set1_ps(w[t]);
            a0 = _mm512_fmadd_ps(wt, _mm512_loadu_ps(r), a0);
            a1 = _mm512_fmadd_ps(wt, _mm512_loadu_ps(r + 16), a1);
            a2 = _mm512_fmadd_ps(wt, _mm512_loadu_ps(r + 32), a2);
            a3 = _mm512_fmadd_ps(wt, _mm512_loadu_ps(r + 48), a3);
        }
        _mm512_storeu_ps(out + d, a0);
        _mm512_storeu_ps(out + d + 16, a1);
        _mm512_storeu_ps(out + d + 32, a2);
        _mm512_storeu_ps(out + d + 48, a3);
    }
    for (; d + 16 <= n; d += 16) {
        __m512 a = add ? _mm512_loadu_ps(out + d) : _mm512_setzero_ps();
        for (int t = 0; t < n_rows; t++)
            a = _mm512_fmadd_ps(_mm512_set1_ps(w[t]), _mm512_loadu_ps(rows + (size_t)t * stride + d), a);
        _mm512_storeu_ps(out + d, a);
    }
    es_weighted_rows_fma_tail(w, rows, stride, n_rows, d, n, out, add);
}

/* es_weighted_rows_avx512 for n_w weight rows at once (w + h * w_stride,
 * into out + h * out_stride), up to 4 per pass: each value row is loaded
 * once for them, and their 16 chains per 64 elements run side by side;
 * every element's chain is the single call's, so are its bits. */
TARGET void es_weighted_rows_multi_avx512(const float *w, size_t w_stride, int n_w, const float *rows,
                                          size_t stride, int n_rows, int n, float *out, size_t out_stride,
                                          int add) {
    for (int h0 = 0; h0 < n_w; h0 += 4) {
        const int nh = n_w - h0 < 4 ? n_w - h0 : 4;
        int d = 0;
        for (; d + 64 <= n; d += 64) {
            __m512 acc[4][4];
            for (int h = 0; h < nh; h++)
                for (int k = 0; k < 4; k++)
                    acc[h][k] = add ? _mm512_loadu_ps(out + (h0 + h) * out_stride + d + 16 * k) : _mm512_setzero_ps();
            for (int t = 0; t < n_rows; t++) {
                const float *r = rows + (size_t)t * stride + d;
                __m512 v0 = _mm512_loadu_ps(r), v1 = _mm512_loadu_ps(r + 16), v2 = _mm512_loadu_ps(r + 32),
                       v3 = _mm512_loadu_ps(r + 48);
#pragma GCC unroll 4
                for (int h = 0; h < 4; h++) {
                    if (h >= nh) break;
                    __m512 wt = _mm512_set1_ps(w[(h0 + h) * w_stride + t]);
                    acc[h][0] = _mm512_fmadd_ps(wt, v0, acc[h][0]);
                    acc[h][1] = _mm512_fmadd_ps(wt, v1, acc[h][1]);
                    acc[h][2] = _mm512_fmadd_ps(wt, v2, acc[h][2]);
                    acc[h][3] = _mm512_fmadd_ps(wt, v3, acc[h][3]);
                }
            }
            for (int h = 0; h < nh; h++)
                for (int k = 0; k < 4; k++) _mm512_storeu_ps(out + (h0 + h) * out_stride + d + 16 * k, acc[h][k]);
        }
        if (d < n) /* the rest of each row: the single call on the columns left (each column is its own chain) */
            for (int h = 0; h < nh; h++)
                es_weighted_rows_avx512(w + (h0 + h) * w_stride, rows + d, stride, n_rows, n - d,
                                        out + (h0 + h) * out_stride + d, add);
    }
}
#endif
