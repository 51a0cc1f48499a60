/* Row dots for x86 CPUs with AVX2 + FMA + F16C (x86-64-v3), compiled for
 * that ISA per function (target attribute); the driver calls them only
 * after checking the CPU. Same scheme as kernels_avx512.c with 8-lane
 * vectors: each 32-element chunk of a weight row is converted in registers
 * (F16 by vcvtph2ps, BF16 by a shift, Q8_0 / Q4_0 by widening and scaling,
 * all exact; K-quant codes by widening and one FMA, step * code - offset,
 * with the super-block's (step, offset) pairs decoded once per block: see
 * es_k_unpack_scales, the values are GGML's exactly) and reused for every
 * activation row of the batch block.
 *
 * Summation order, per (row, b) pair: four 8-lane F32 accumulators, chunk
 * elements 8j .. 8j+7 to accumulator j, by FMA, chunk after chunk; added
 * lane-wise (0 + 1) + (2 + 3), reduced high half + low half, then
 * pairwise; then the last n % 32 elements of a F32/F16/BF16 row in order
 * by scalar FMA. (Two accumulators, elements 0-7 and 16-23 in one, made
 * each a chain of two dependent FMAs per chunk: F16 decode was bound by
 * that latency, ~19 GB/s.)
 * The order does not depend on nb. The driver uses these F32 row dots for
 * F32 / F16 / BF16 weights; quantised ones take the integer row dots at the
 * end of the file (8-bit activations), bit for bit the portable ones. */
#include "tensor/kernels_internal.h"

#if defined(__x86_64__) || defined(__i386__)

#include <float.h>
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
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++) v[i] = _mm256_loadu_ps(p + 8 * i);
        return;
    }
    case ES_F16: {
        const uint8_t *p = w + k * 64;
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++)
            v[i] = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(p + 16 * i)));
        return;
    }
    case ES_BF16: {
        const uint8_t *p = w + k * 64;
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++) v[i] = bf16x8(p + 16 * i);
        return;
    }
    case ES_Q8_0: {
        const uint8_t *blk = w + k * 34;
        __m256 d = _mm256_set1_ps(f16_scalar(blk));
#pragma GCC unroll 4
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

/* 8 bytes at p, each widened to a 32-bit lane, shifted right and masked. */
INLINE __m256i bytes_bits(const uint8_t *p, int shift, int mask) {
    __m256i v = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)p));
    return _mm256_and_si256(_mm256_srl_epi32(v, _mm_cvtsi32_si128(shift)), _mm256_set1_epi32(mask));
}

/* The codes of elements 32c + 8i .. + 7 of K-quant super-block blk
 * (layouts in tensor.h). */
INLINE __m256i k_codes(es_dtype type, const uint8_t *blk, int c, int i) {
    int l = 8 * i;
    if (type == ES_Q6_K) {
        int h = c / 4, k = c % 4;
        __m256i low = bytes_bits(blk + 64 * h + 32 * (k % 2) + l, 4 * (k / 2), 15);
        __m256i high = bytes_bits(blk + 128 + 32 * h + l, 2 * k, 3);
        return _mm256_or_si256(low, _mm256_slli_epi32(high, 4));
    }
    __m256i low = bytes_bits(blk + (type == ES_Q5_K ? 48 : 16) + 32 * (c / 2) + l, 4 * (c % 2), 15);
    if (type == ES_Q4_K) return low;
    return _mm256_or_si256(low, _mm256_slli_epi32(bytes_bits(blk + 16 + l, c, 1), 4)); /* fifth bit */
}

/* A K-quant block's sub-blocks as affine maps of their codes, element =
 * step * code - offset: Q4_K/Q5_K step[j], offset[j] for sub-block j < 8
 * (32 elements), Q6_K for j < 16 (16 elements). See es_k_unpack_scales. */
INLINE void k_block_scales(es_dtype type, const uint8_t *blk, float step[16], float offset[16]) {
    if (type == ES_Q6_K) {
        __m256 d = _mm256_set1_ps(f16_scalar(blk + 208));
        for (int i = 0; i < 2; i++) {
            __m128i sc = _mm_loadl_epi64((const __m128i *)(const void *)(blk + 192 + 8 * i));
            __m256 s = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(sc)));
            _mm256_storeu_ps(step + 8 * i, s);
            _mm256_storeu_ps(offset + 8 * i, _mm256_mul_ps(_mm256_set1_ps(32.0f), s));
        }
        return;
    }
    uint64_t sc, m;
    es_k_unpack_scales(blk + 4, &sc, &m);
    __m256 sc_f = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_set_epi64x(0, (long long)sc)));
    __m256 m_f = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_set_epi64x(0, (long long)m)));
    _mm256_storeu_ps(step, _mm256_mul_ps(_mm256_set1_ps(f16_scalar(blk)), sc_f));
    _mm256_storeu_ps(offset, _mm256_mul_ps(_mm256_set1_ps(f16_scalar(blk + 2)), m_f));
}

/* Chunk c (elements 32c .. 32c+31) of K-quant super-block blk as four F32
 * vectors, given the block's k_block_scales. */
INLINE void load_k_chunk(es_dtype type, const uint8_t *blk, int c, const float step[16],
                         const float offset[16], __m256 v[4]) {
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
        int g = type == ES_Q6_K ? 2 * c + i / 2 : c;
        v[i] = _mm256_fmsub_ps(_mm256_set1_ps(step[g]), _mm256_cvtepi32_ps(k_codes(type, blk, c, i)),
                               _mm256_set1_ps(offset[g]));
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

/* The chunk's four weight vectors into the four accumulators of each
 * activation row: elements 8j .. 8j+7 to acc[j]. */
INLINE void fma_chunk(int nb, const __m256 wv[4], const float *xk, int64_t xs, __m256 acc[4][2]) {
#pragma GCC unroll 2
    for (int b = 0; b < nb; b++)
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) acc[j][b] = _mm256_fmadd_ps(wv[j], _mm256_loadu_ps(xk + b * xs + 8 * j), acc[j][b]);
}

/* The four accumulators added lane-wise, (0 + 1) + (2 + 3). */
INLINE __m256 add4(const __m256 acc[4]) {
    return _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
}

/* The one-row dot's final reduction of the four accumulators. */
INLINE float reduce4(const __m256 acc[4]) { return hsum(add4(acc)); }

/* The row dot for a constant nb <= 2 (inlined with nb and type known, so
 * the accumulators live in registers: 8 + 4 weights + a load of the 16
 * ymm). K-quant rows walk the same chunks in the same order, a super-block
 * (8 chunks) at a time. */
INLINE void rowdot_nb(es_dtype type, int nb, const uint8_t *w, const float *x,
                      int64_t xs, int64_t n, float *out, int64_t os) {
    __m256 acc[4][2];
    int64_t n_chunks = n / 32;
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) acc[j][0] = acc[j][1] = _mm256_setzero_ps();
    if (es_is_k_quant(type)) {
        int64_t block_bytes = type == ES_Q4_K ? 144 : type == ES_Q5_K ? 176 : 210;
        for (int64_t sb = 0; sb < n / ES_QK; sb++) {
            const uint8_t *blk = w + sb * block_bytes;
            float step[16], offset[16];
            k_block_scales(type, blk, step, offset);
            for (int c = 0; c < ES_QK / 32; c++) {
                __m256 wv[4];
                load_k_chunk(type, blk, c, step, offset, wv);
                fma_chunk(nb, wv, x + sb * ES_QK + c * 32, xs, acc);
            }
        }
    } else {
        for (int64_t k = 0; k < n_chunks; k++) {
            __m256 wv[4];
            load_chunk(type, w, k, wv);
            fma_chunk(nb, wv, x + k * 32, xs, acc);
        }
    }
    for (int b = 0; b < nb; b++) {
        __m256 accb[4] = {acc[0][b], acc[1][b], acc[2][b], acc[3][b]};
        float sum = reduce4(accb);
        float tail = n_chunks * 32 < n ? tail_dot(type, w, x + b * xs, n_chunks * 32, n) : 0.0f;
        out[b * os] = sum + tail;
    }
}

/* Splits nb (<= ES_ROWDOT_MAX_NB) into blocks of 2, 1. */
INLINE void rowdot(es_dtype type, const void *w, const float *x, int64_t xs, int nb,
                   int64_t n, float *out, int64_t os) {
    for (; nb >= 2; nb -= 2, x += 2 * xs, out += 2 * os) rowdot_nb(type, 2, w, x, xs, n, out, os);
    if (nb >= 1) rowdot_nb(type, 1, w, x, xs, n, out, os);
}

ES_DEFINE_ROWDOT_TABLE(es_rowdot_avx2, TARGET)

/* ---- several weight rows at once (F32, F16, BF16) ---------------------
 * kernels_avx512.c's tile scheme with 8-lane vectors: A_NR weight rows x
 * A_NB activation rows, each 8-element part of a chunk converted once for
 * the A_NB rows and each activation part loaded once for the A_NR rows.
 * The one-row dot's four accumulators per (row, b) would need 48 of the 16
 * registers, so a tile takes its chunks four times, once per accumulator
 * j: part j of every chunk, in chunk order, into accumulator j: the same
 * additions in the same order, so the same bits. A pass is a few chunks
 * (A_K_CHUNKS), whose weights the second to fourth runs find in L1; the
 * second and third prefetch the next row group's, which the first run
 * would otherwise wait for from L2. 4 x 3 fills the 16 registers (12
 * accumulators, 3 activations, 1 weight): a conversion per 3 FMAs (the
 * two-accumulator 3 x 2 tile of before: one per 2). Measured, F16 products
 * of the 1B shapes, batch 128, one thread on this project's Zen 5,
 * alternating: the 3 x 2 tile of two accumulators 72-73 GFLOP/s; one
 * accumulator per pass, 3 x 3 81-84 (passes of 8 / 32 / 64 chunks: 79 /
 * 82 / 78; 4 x 2: 74, 2 x 3: 76), 4 x 3 83; then, in a faster hour,
 * 3 x 3 87-92, 4 x 3 89-93, 4 x 3 with the prefetch 96.5-97.7 (the AVX2
 * peak there: ~105; this loop alone in L1: 102). */
#define A_NR ES_TILE_NR_AVX2
#define A_NB 3
#define A_K_CHUNKS 16

/* Part i (elements 32k + 8i .. + 7) of chunk k of a F32 / F16 / BF16 row. */
INLINE __m256 load_part(es_dtype type, const uint8_t *w, int64_t k, int i) {
    if (type == ES_F32) return _mm256_loadu_ps((const float *)(const void *)w + 32 * k + 8 * i);
    if (type == ES_F16) return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(w + 64 * k + 16 * i)));
    return bf16x8(w + 64 * k + 16 * i);
}

/* Accumulator j of every (row, b) over chunks k0 .. k1. */
INLINE void rowdot_f_tile_part(es_dtype type, int nb, const uint8_t *w, size_t ws, const float *x, int64_t xs,
                               int64_t k0, int64_t k1, int j, __m256 *acc) {
    __m256 a[A_NR][A_NB];
#pragma GCC unroll 4
    for (int r = 0; r < A_NR; r++)
#pragma GCC unroll 4
        for (int b = 0; b < nb; b++) a[r][b] = k0 ? acc[4 * (r * A_NB + b) + j] : _mm256_setzero_ps();
    for (int64_t k = k0; k < k1; k++) {
        __m256 xv[A_NB];
        if (j == 1 || j == 2) { /* the next row group's chunk k (its rows 2j-2, 2j-1), into L1 meanwhile */
            const uint8_t *next = w + (size_t)(A_NR + 2 * j - 2) * ws + k * (type == ES_F32 ? 128 : 64);
            for (int l = 0; l < (type == ES_F32 ? 128 : 64); l += 64) {
                _mm_prefetch((const char *)(next + l), _MM_HINT_T0);
                _mm_prefetch((const char *)(next + ws + l), _MM_HINT_T0);
            }
        }
#pragma GCC unroll 4
        for (int b = 0; b < nb; b++) {
            xv[b] = _mm256_loadu_ps(x + b * xs + 32 * k + 8 * j);
            __asm__("" : "+x"(xv[b])); /* keep it in a register (else reloaded per row) */
        }
#pragma GCC unroll 4
        for (int r = 0; r < A_NR; r++) {
            __m256 wv = load_part(type, w + (size_t)r * ws, k, j);
#pragma GCC unroll 4
            for (int b = 0; b < nb; b++) a[r][b] = _mm256_fmadd_ps(wv, xv[b], a[r][b]);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < A_NR; r++)
#pragma GCC unroll 4
        for (int b = 0; b < nb; b++) acc[4 * (r * A_NB + b) + j] = a[r][b];
}

/* Chunks k0 .. k1 of a tile; acc holds (row, b)'s four accumulators at
 * 4 * (r * A_NB + b) + j, carried in memory between passes (the first
 * pass, k0 = 0, starts from zero). */
INLINE void rowdot_f_tile(es_dtype type, int nb, const uint8_t *w, size_t ws, const float *x, int64_t xs,
                          int64_t k0, int64_t k1, __m256 *acc) {
    for (int j = 0; j < 4; j++) rowdot_f_tile_part(type, nb, w, ws, x, xs, k0, k1, j, acc);
}

#define TILE_VEC __m256
#define TILE_ZERO _mm256_setzero_ps()
#define TILE_NR A_NR
#define TILE_NB A_NB
#define TILE_K_CHUNKS A_K_CHUNKS
#define TILE_MAX_GROUPS 16
#define TILE_ACCS 4
#define TILE_REDUCE(p) reduce4(p)
#define TILE_GETTER es_rowdot_rows_avx2
#include "tensor/kernels_tiles_impl.h"

/* ---- the attention's dot products ---------------------------------------
 * es_dot_f32_rows on AVX2 for rows of at least one chunk (a query against
 * its keys): each key's four accumulators and chunk order as the one-row F32
 * dot (the query in the weight's place), eight keys' final reductions done
 * together by hsum8, the tail added as rowdot_nb adds it: the same bits as
 * es_dot_f32_isa(ES_ISA_AVX2) key by key, without a call and a horizontal
 * sum per key (a 64-element key is 8 FMAs; its reduction was 9 more). */

/* hsum of v[i] in lane i, for 8 vectors at once: each stage adds the lane
 * pairs hsum adds (low + high half, then lanes 0 + 2 and 1 + 3, then 0 + 1). */
INLINE __m256 hsum8(const __m256 v[8]) {
    __m256 p[4];
#pragma GCC unroll 4
    for (int q = 0; q < 4; q++) { /* [v(2q) low + high | v(2q+1) low + high], lanes reordered 0, 2, 1, 3 */
        __m256 s = _mm256_add_ps(_mm256_permute2f128_ps(v[2 * q], v[2 * q + 1], 0x20),
                                 _mm256_permute2f128_ps(v[2 * q], v[2 * q + 1], 0x31));
        p[q] = _mm256_permute_ps(s, _MM_SHUFFLE(3, 1, 2, 0));
    }
    /* [v0 v2 v4 v6 | v1 v3 v5 v7] */
    __m256 u = _mm256_hadd_ps(_mm256_hadd_ps(p[0], p[1]), _mm256_hadd_ps(p[2], p[3]));
    return _mm256_permutevar8x32_ps(u, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

TARGET void es_dot_f32_rows_avx2(const float *a, const float *rows, size_t stride, int n_rows, int n, float *out) {
    const int64_t n_chunks = n / 32;
    for (int t0 = 0; t0 < n_rows; t0 += 8) {
        const int m = n_rows - t0 < 8 ? n_rows - t0 : 8;
        __m256 v[8];
#pragma GCC unroll 8
        for (int i = 0; i < 8; i++) { /* rowdot_nb's loop for one row, the query as the weight row */
            __m256 acc[4][2] = {{_mm256_setzero_ps()}, {_mm256_setzero_ps()}, {_mm256_setzero_ps()}, {_mm256_setzero_ps()}};
            if (i < m)
                for (int64_t k = 0; k < n_chunks; k++) {
                    __m256 wv[4];
                    load_chunk(ES_F32, (const uint8_t *)(const void *)a, k, wv);
                    fma_chunk(1, wv, rows + (size_t)(t0 + i) * stride + k * 32, 0, acc);
                }
            __m256 acc0[4] = {acc[0][0], acc[1][0], acc[2][0], acc[3][0]};
            v[i] = add4(acc0);
        }
        float sums[8];
        _mm256_storeu_ps(sums, hsum8(v));
        for (int i = 0; i < m; i++) {
            const float *r = rows + (size_t)(t0 + i) * stride;
            float tail = n_chunks * 32 < n ? tail_dot(ES_F32, (const uint8_t *)(const void *)a, r, n_chunks * 32, n) : 0.0f;
            out[t0 + i] = sums[i] + tail;
        }
    }
}

/* ---- the attention's weighted sums ------------------------------------
 * es_weighted_rows on AVX2: each out[d] one chain of FMAs over t in order,
 * from 0 or (add) from out[d], as the AVX-512 kernel does it, so the two
 * give the same bits (an FMA rounds once whatever the vector width). The
 * portable path (separate products) cost a quarter of a 1,024-token
 * prefill on this path. */
TARGET void es_weighted_rows_avx2(const float *w, const float *rows, size_t stride, int n_rows, int n, float *out,
                                  int add) {
    int d = 0;
    for (; d + 32 <= n; d += 32) {
        __m256 a[4];
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++) a[k] = add ? _mm256_loadu_ps(out + d + 8 * k) : _mm256_setzero_ps();
        for (int t = 0; t < n_rows; t++) {
            const float *r = rows + (size_t)t * stride + d;
            __m256 wt = _mm256_set1_ps(w[t]);
#pragma GCC unroll 4
            for (int k = 0; k < 4; k++) a[k] = _mm256_fmadd_ps(wt, _mm256_loadu_ps(r + 8 * k), a[k]);
        }
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++) _mm256_storeu_ps(out + d + 8 * k, a[k]);
    }
    for (; d + 8 <= n; d += 8) {
        __m256 a = add ? _mm256_loadu_ps(out + d) : _mm256_setzero_ps();
        for (int t = 0; t < n_rows; t++)
            a = _mm256_fmadd_ps(_mm256_set1_ps(w[t]), _mm256_loadu_ps(rows + (size_t)t * stride + d), a);
        _mm256_storeu_ps(out + d, a);
    }
    es_weighted_rows_fma_tail(w, rows, stride, n_rows, d, n, out, add);
}

/* es_weighted_rows_avx2 for n_w weight rows at once (w + h * w_stride, into
 * out + h * out_stride), up to 4 per pass over 16 columns: each value row's
 * part is loaded once for them (8 accumulators, 2 values, a broadcast:
 * 11 of the 16 registers); every element's chain is the single call's. */
TARGET void es_weighted_rows_multi_avx2(const float *w, size_t w_stride, int n_w, const float *rows, size_t stride,
                                        int n_rows, int n, float *out, size_t out_stride, int add) {
    for (int h0 = 0; h0 < n_w; h0 += 4) {
        const int nh = n_w - h0 < 4 ? n_w - h0 : 4;
        int d = 0;
        for (; d + 16 <= n; d += 16) {
            __m256 acc[4][2];
            for (int h = 0; h < nh; h++)
                for (int k = 0; k < 2; k++)
                    acc[h][k] = add ? _mm256_loadu_ps(out + (h0 + h) * out_stride + d + 8 * k) : _mm256_setzero_ps();
            for (int t = 0; t < n_rows; t++) {
                const float *r = rows + (size_t)t * stride + d;
                __m256 v0 = _mm256_loadu_ps(r), v1 = _mm256_loadu_ps(r + 8);
#pragma GCC unroll 4
                for (int h = 0; h < 4; h++) {
                    if (h >= nh) break;
                    __m256 wt = _mm256_set1_ps(w[(h0 + h) * w_stride + t]);
                    acc[h][0] = _mm256_fmadd_ps(wt, v0, acc[h][0]);
                    acc[h][1] = _mm256_fmadd_ps(wt, v1, acc[h][1]);
                }
            }
            for (int h = 0; h < nh; h++)
                for (int k = 0; k < 2; k++) _mm256_storeu_ps(out + (h0 + h) * out_stride + d + 8 * k, acc[h][k]);
        }
        if (d < n) /* the columns left: the single call (each column is its own chain) */
            for (int h = 0; h < nh; h++)
                es_weighted_rows_avx2(w + (h0 + h) * w_stride, rows + d, stride, n_rows, n - d,
                                      out + (h0 + h) * out_stride + d, add);
    }
}

/* ---- integer row dots (8-bit activations) -------------------------------
 * The arithmetic of kernels_portable.c's integer path, whose float steps
 * these repeat in the same order, so the two agree bit for bit: per
 * 32-element chunk k an exact int32 sum of weight code * activation code,
 * turned into the chunk's value v_k in F32 (formulas there), added to
 * partial sum k % 8, and at the end ((s0+s1)+(s2+s3))+((s4+s5)+(s6+s7)).
 * Products are done by maddubs, which multiplies unsigned by signed bytes
 * and adds pairs into int16 (saturating), then madd by ones into int32.
 * Q8_0 / Q4_0: the weight's sign moves onto the activation (|w| <= 128,
 * |x| <= 127: pair sums fit in int16); one chunk at a time, scalar F32.
 * K-quants: the codes are unsigned already (pair sums <= 2 * 63 * 128, no
 * saturation) and a super-block's 8 chunks are chunks k = 8 sb + c, so
 * chunk c goes to partial sum c: the 8 partial sums are the lanes of one
 * F32 vector and a super-block's 8 chunk values one vector operation
 * (separate mul / sub / add intrinsics, which neither GCC in -std=c11 mode
 * nor clang, contracting only within one expression, fuses into an FMA:
 * a fused multiply-subtract would round differently from portable). */

INLINE int32_t isum32(__m256i w, __m256i x) {
    __m256i prod = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
    __m256i s = _mm256_madd_epi16(prod, _mm256_set1_epi16(1));
    __m128i h = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4e));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xb1));
    return _mm_cvtsi128_si32(h);
}

/* The 32 signed weight codes of chunk k: Q8_0 as stored, Q4_0 as nibble - 8
 * (low nibbles are elements 0-15, high ones 16-31). */
INLINE __m256i q_codes(es_dtype type, const uint8_t *blk) {
    if (type == ES_Q8_0) return _mm256_loadu_si256((const __m256i *)(const void *)(blk + 2));
    __m128i raw = _mm_loadu_si128((const __m128i *)(const void *)(blk + 2));
    __m128i lo = _mm_and_si128(raw, _mm_set1_epi8(15));
    __m128i hi = _mm_and_si128(_mm_srli_epi16(raw, 4), _mm_set1_epi8(15));
    return _mm256_sub_epi8(_mm256_set_m128i(hi, lo), _mm256_set1_epi8(8));
}

/* Lane c of *lo / *hi: the sum of int32 lanes 0-3 / 4-7 of s[c] (for K-quants
 * elements 0-15 / 16-31 of chunk c after madd). */
INLINE void k_sum_halves(const __m256i s[8], __m256i *lo, __m256i *hi) {
    __m256i a = _mm256_hadd_epi32(_mm256_hadd_epi32(s[0], s[1]), _mm256_hadd_epi32(s[2], s[3]));
    __m256i b = _mm256_hadd_epi32(_mm256_hadd_epi32(s[4], s[5]), _mm256_hadd_epi32(s[6], s[7]));
    *lo = _mm256_permute2x128_si256(a, b, 0x20);
    *hi = _mm256_permute2x128_si256(a, b, 0x31);
}

/* Lane c of the result: the sum of the 8 int32 lanes of s[c]. */
INLINE __m256i sum_lanes8(const __m256i s[8]) {
    __m256i lo, hi;
    k_sum_halves(s, &lo, &hi);
    return _mm256_add_epi32(lo, hi);
}

/* The f16 scales of 8 blocks `stride` bytes apart, as F32 (exact). */
INLINE __m256 block_scales8(const uint8_t *blk, int64_t stride) {
    uint16_t h[8];
    for (int c = 0; c < 8; c++) memcpy(&h[c], blk + c * stride, 2);
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)h));
}

/* Eight blocks k = 8j + c at a time: the exact int32 sums of the 8 blocks
 * in the lanes of one vector (sum_lanes8), then the portable path's
 * (dw * dx) * isum and the addition to partial sum k % 8 = c, each lane
 * one rounding as in the scalar code (separate mul / add intrinsics: no
 * FMA); blocks past the last multiple of 8 the scalar way, into their
 * lanes. A group's weight codes are decoded once and kept for the nb
 * activation rows. Summing one block at a time (isum32) and adding the
 * values as scalars was 2-2.5x slower: the 1B Q8_0 model, one thread,
 * --kernels avx2 on this project's Zen 5, alternating: decode 4.6 / 6.6
 * -> 11.1 / 16.6 tokens/s, prefill 64 13.9 / 19.3 -> 27.5 / 37.9. */
INLINE void rowdot_q8_nb(es_dtype type, const void *w, const uint8_t *xq, int64_t xs, int nb,
                         int64_t n, float *out, int64_t os) {
    __m256 acc[ES_ROWDOT_Q8_MAX_NB];
    for (int b = 0; b < nb; b++) acc[b] = _mm256_setzero_ps();
    const int64_t block_bytes = type == ES_Q8_0 ? 34 : 18, n_blocks = n / 32, n_groups = n_blocks / 8;
    const __m256i ones = _mm256_set1_epi16(1);
    for (int64_t j = 0; j < n_groups; j++) {
        const uint8_t *blk = (const uint8_t *)w + 8 * j * block_bytes;
        __m256i codes[8], mag[8];
#pragma GCC unroll 8
        for (int c = 0; c < 8; c++) {
            codes[c] = q_codes(type, blk + c * block_bytes);
            mag[c] = _mm256_sign_epi8(codes[c], codes[c]);
        }
        const __m256 dw = block_scales8(blk, block_bytes);
        for (int b = 0; b < nb; b++) {
            const uint8_t *row = xq + b * xs;
            __m256i sums[8];
#pragma GCC unroll 8
            for (int c = 0; c < 8; c++) {
                __m256i x = _mm256_loadu_si256((const __m256i *)(const void *)(row + (8 * j + c) * 32));
                sums[c] = _mm256_madd_epi16(_mm256_maddubs_epi16(mag[c], _mm256_sign_epi8(x, codes[c])), ones);
            }
            __m256 scale = _mm256_mul_ps(dw, _mm256_loadu_ps(es_q8_scales(row, n) + 8 * j));
            acc[b] = _mm256_add_ps(acc[b], _mm256_mul_ps(scale, _mm256_cvtepi32_ps(sum_lanes8(sums))));
        }
    }
    for (int b = 0; b < nb; b++) {
        const uint8_t *row = xq + b * xs;
        float sum[8];
        _mm256_storeu_ps(sum, acc[b]);
        for (int64_t k = 8 * n_groups; k < n_blocks; k++) {
            const uint8_t *blk = (const uint8_t *)w + k * block_bytes;
            uint16_t h;
            memcpy(&h, blk, 2);
            sum[k % 8] += (es_f16_to_f32(h) * es_q8_scales(row, n)[k]) * (float)isum32(q_codes(type, blk),
                          _mm256_loadu_si256((const __m256i *)(const void *)(row + k * 32)));
        }
        out[b * os] = ((sum[0] + sum[1]) + (sum[2] + sum[3])) + ((sum[4] + sum[5]) + (sum[6] + sum[7]));
    }
}

/* One activation row (decode) gets a copy of its own, its accumulator in a
 * register rather than in the stack array the run-time nb needs. */
INLINE void rowdot_q8_avx2(es_dtype type, const void *w, const uint8_t *xq, int64_t xs, int nb,
                           int64_t n, float *out, int64_t os) {
    if (nb == 1) rowdot_q8_nb(type, w, xq, xs, 1, n, out, os);
    else rowdot_q8_nb(type, w, xq, xs, nb, n, out, os);
}

/* The 256 codes of K-quant super-block blk (layouts in tensor.h) as
 * unsigned bytes, chunk c (elements 32c .. 32c+31) in codes[c]. */
INLINE void k_block_codes(es_dtype type, const uint8_t *blk, __m256i codes[8]) {
    const __m256i low4 = _mm256_set1_epi8(15);
    if (type == ES_Q6_K) { /* chunk 4h + k: ql[64h + 32(k % 2)] nibble k / 2, qh[32h] bits 2k, 2k+1 */
        const __m256i low2 = _mm256_set1_epi8(3);
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            __m256i ql0 = _mm256_loadu_si256((const __m256i *)(const void *)(blk + 64 * h));
            __m256i ql1 = _mm256_loadu_si256((const __m256i *)(const void *)(blk + 64 * h + 32));
            __m256i qh = _mm256_loadu_si256((const __m256i *)(const void *)(blk + 128 + 32 * h));
            __m256i top[4];
#pragma GCC unroll 4
            for (int k = 0; k < 4; k++) /* 16-bit shifts: bits crossing bytes are masked off */
                top[k] = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * k), low2), 4);
            codes[4 * h] = _mm256_or_si256(_mm256_and_si256(ql0, low4), top[0]);
            codes[4 * h + 1] = _mm256_or_si256(_mm256_and_si256(ql1, low4), top[1]);
            codes[4 * h + 2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), low4), top[2]);
            codes[4 * h + 3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), low4), top[3]);
        }
        return;
    }
    const uint8_t *qs = blk + (type == ES_Q5_K ? 48 : 16);
#pragma GCC unroll 4
    for (int g = 0; g < 4; g++) { /* sub-blocks 2g, 2g+1: the low / high nibbles of qs[32g ..] */
        __m256i t = _mm256_loadu_si256((const __m256i *)(const void *)(qs + 32 * g));
        codes[2 * g] = _mm256_and_si256(t, low4);
        codes[2 * g + 1] = _mm256_and_si256(_mm256_srli_epi16(t, 4), low4);
    }
    if (type == ES_Q5_K) { /* fifth bit of chunk c: bit c of qh[l] */
        __m256i qh = _mm256_loadu_si256((const __m256i *)(const void *)(blk + 16));
#pragma GCC unroll 8
        for (int c = 0; c < 8; c++) {
            __m256i bit = _mm256_and_si256(_mm256_srli_epi16(qh, c), _mm256_set1_epi8(1));
            codes[c] = _mm256_or_si256(codes[c], _mm256_slli_epi16(bit, 4));
        }
    }
}

/* A super-block's F32 factors, one lane per chunk c: Q4_K/Q5_K f0 = step,
 * f1 = offset of sub-block c; Q6_K f0 / f1 = step of sub-block 2c / 2c+1
 * (its 16-element halves). Each is d * (F32) scale, as the portable path
 * forms it. */
INLINE void k_block_factors(es_dtype type, const uint8_t *blk, __m256 *f0, __m256 *f1) {
    if (type == ES_Q6_K) {
        __m256 d = _mm256_set1_ps(f16_scalar(blk + 208));
        __m256i sc = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(blk + 192)));
        __m256i even = _mm256_srai_epi32(_mm256_slli_epi32(sc, 16), 16), odd = _mm256_srai_epi32(sc, 16);
        *f0 = _mm256_mul_ps(d, _mm256_cvtepi32_ps(even));
        *f1 = _mm256_mul_ps(d, _mm256_cvtepi32_ps(odd));
        return;
    }
    float step[16], offset[16];
    k_block_scales(type, blk, step, offset);
    *f0 = _mm256_loadu_ps(step);
    *f1 = _mm256_loadu_ps(offset);
}

/* The 8 chunk values of super-block sb of a K-quant row (codes, factors
 * f0 / f1 decoded) against one Q8 activation row. */
INLINE __m256 k_block_values(es_dtype type, const __m256i codes[8], __m256 f0, __m256 f1, const uint8_t *row,
                             int64_t n, int64_t sb) {
    const int8_t *q = (const int8_t *)row + sb * ES_QK;
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i s[8], lo, hi;
#pragma GCC unroll 8
    for (int c = 0; c < 8; c++) {
        __m256i x = _mm256_loadu_si256((const __m256i *)(const void *)(q + 32 * c));
        s[c] = _mm256_madd_epi16(_mm256_maddubs_epi16(codes[c], x), ones);
    }
    k_sum_halves(s, &lo, &hi);
    __m256 dx = _mm256_loadu_ps(es_q8_scales(row, n) + 8 * sb);
    __m256i s16 = _mm256_loadu_si256((const __m256i *)(const void *)(es_q8_sums(row, n) + 16 * sb));
    if (type == ES_Q6_K) { /* dx * (step0 * (isum0 - 32 xsum0) + step1 * (isum1 - 32 xsum1)) */
        __m256i x0 = _mm256_srai_epi32(_mm256_slli_epi32(s16, 16), 16), x1 = _mm256_srai_epi32(s16, 16);
        __m256 i0 = _mm256_cvtepi32_ps(_mm256_sub_epi32(lo, _mm256_slli_epi32(x0, 5)));
        __m256 i1 = _mm256_cvtepi32_ps(_mm256_sub_epi32(hi, _mm256_slli_epi32(x1, 5)));
        return _mm256_mul_ps(dx, _mm256_add_ps(_mm256_mul_ps(f0, i0), _mm256_mul_ps(f1, i1)));
    }
    /* dx * (step * isum - offset * xsum) */
    __m256 isum = _mm256_cvtepi32_ps(_mm256_add_epi32(lo, hi));
    __m256 xsum = _mm256_cvtepi32_ps(_mm256_madd_epi16(s16, ones));
    return _mm256_mul_ps(dx, _mm256_sub_ps(_mm256_mul_ps(f0, isum), _mm256_mul_ps(f1, xsum)));
}

/* Each super-block's codes and factors are decoded once and used for all
 * nb activation rows. */
INLINE void rowdot_k_q8_nb(es_dtype type, const void *w, const uint8_t *xq, int64_t xs, int nb, int64_t n,
                           float *out, int64_t os) {
    __m256 acc[ES_ROWDOT_Q8_MAX_NB];
    for (int b = 0; b < nb; b++) acc[b] = _mm256_setzero_ps();
    const int64_t block_bytes = type == ES_Q4_K ? 144 : type == ES_Q5_K ? 176 : 210;
    for (int64_t sb = 0; sb < n / ES_QK; sb++) {
        const uint8_t *blk = (const uint8_t *)w + sb * block_bytes;
        __m256i codes[8];
        __m256 f0, f1;
        k_block_codes(type, blk, codes);
        k_block_factors(type, blk, &f0, &f1);
        for (int b = 0; b < nb; b++)
            acc[b] = _mm256_add_ps(acc[b], k_block_values(type, codes, f0, f1, xq + b * xs, n, sb));
    }
    for (int b = 0; b < nb; b++) {
        float s[8];
        _mm256_storeu_ps(s, acc[b]);
        out[b * os] = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
    }
}

INLINE void rowdot_k_q8_avx2(es_dtype type, const void *w, const uint8_t *xq, int64_t xs, int nb, int64_t n,
                             float *out, int64_t os) {
    if (nb == 1) rowdot_k_q8_nb(type, w, xq, xs, 1, n, out, os); /* as rowdot_q8_avx2 */
    else rowdot_k_q8_nb(type, w, xq, xs, nb, n, out, os);
}

/* The activation quantiser (kernels_internal.h's rule), the bytes of
 * es_quantize_q8_row: the same d and 1 / d in F32, x * (1 / d) rounded to
 * the nearest code, ties to even (cvtps2dq in the default rounding mode,
 * as nearbyintf), packed with saturating packs that cannot saturate
 * (|code| <= 127). It ran as the scalar loop on this path: 3% of a Q8_0
 * prefill on two threads (1B Q8_0, prefill 128, 2 threads, --kernels avx2,
 * alternating: 61.5 / 63.8 -> 63.0 / 69.4 tokens/s). */
TARGET void es_quantize_q8_row_avx2(const float *x, int64_t n, uint8_t *dst) {
    int8_t *q = (int8_t *)dst;
    float *d = (float *)(void *)(dst + n);
    int16_t *sums = (int16_t *)(void *)(dst + n + 4 * (n / 32));
    const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff)), lim = _mm256_set1_ps(FLT_MAX);
    for (int64_t k = 0; k < n / 32; k++) {
        __m256 v[4], a[4];
        int finite = 1;
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++) {
            v[i] = _mm256_loadu_ps(x + 32 * k + 8 * i);
            a[i] = _mm256_and_ps(v[i], abs_mask);
            finite &= _mm256_movemask_ps(_mm256_cmp_ps(a[i], lim, _CMP_LE_OQ)) == 0xff; /* false for inf, NaN */
        }
        __m256 m = _mm256_max_ps(_mm256_max_ps(a[0], a[1]), _mm256_max_ps(a[2], a[3]));
        __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        h = _mm_max_ps(h, _mm_movehl_ps(h, h));
        float amax = _mm_cvtss_f32(_mm_max_ss(h, _mm_movehdup_ps(h)));
        float dk = amax / 127.0f, id = dk > 0.0f ? 1.0f / dk : 0.0f;
        if (!finite) dk = NAN, id = 0.0f;
        __m256i c[4];
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++)
            c[i] = finite ? _mm256_cvtps_epi32(_mm256_mul_ps(v[i], _mm256_set1_ps(id))) : _mm256_setzero_si256();
        /* packs work within 128-bit halves: codes come out as dwords 0 4 1 5 2 6 3 7 */
        __m256i b = _mm256_packs_epi16(_mm256_packs_epi32(c[0], c[1]), _mm256_packs_epi32(c[2], c[3]));
        b = _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256((__m256i *)(void *)(q + 32 * k), b);
        d[k] = dk;
#pragma GCC unroll 2
        for (int half = 0; half < 2; half++) {
            __m256i s8 = _mm256_add_epi32(c[2 * half], c[2 * half + 1]);
            __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s8), _mm256_extracti128_si256(s8, 1));
            s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4e));
            s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xb1));
            sums[2 * k + half] = (int16_t)_mm_cvtsi128_si32(s4);
        }
    }
}

ES_ROWDOT_Q8_ENTRY(q8_q8_0, ES_Q8_0, rowdot_q8_avx2, TARGET)
ES_ROWDOT_Q8_ENTRY(q8_q4_0, ES_Q4_0, rowdot_q8_avx2, TARGET)
ES_ROWDOT_Q8_ENTRY(q8_q4_k, ES_Q4_K, rowdot_k_q8_avx2, TARGET)
ES_ROWDOT_Q8_ENTRY(q8_q5_k, ES_Q5_K, rowdot_k_q8_avx2, TARGET)
ES_ROWDOT_Q8_ENTRY(q8_q6_k, ES_Q6_K, rowdot_k_q8_avx2, TARGET)

es_rowdot_q8_fn *es_rowdot_q8_avx2(es_dtype type) {
    switch (type) {
    case ES_Q8_0: return q8_q8_0;
    case ES_Q4_0: return q8_q4_0;
    case ES_Q4_K: return q8_q4_k;
    case ES_Q5_K: return q8_q5_k;
    case ES_Q6_K: return q8_q6_k;
    default: return NULL;
    }
}

/* glibc's vector expf (libmvec, shipped with libc6; the name is the x86
 * vector-function ABI's): 8 lanes, at most 4 ulp from exp. */
TARGET __m256 _ZGVdN8v_expf(__m256 x);

/* es_swiglu 8 elements at a time, the same formula with that exp; the
 * last n % 8 masked, so that every element takes the same path wherever it
 * falls (a batch gives the bits of its rows one by one). */
TARGET void es_swiglu_avx2(float *out, const float *gate, const float *up, int n) {
    const __m256 one = _mm256_set1_ps(1.0f), sign = _mm256_set1_ps(-0.0f);
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (int i = 0; i < n; i += 8) {
        __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32(n - i), lane); /* lanes below n - i */
        __m256 g = _mm256_maskload_ps(gate + i, m);
        __m256 e = _ZGVdN8v_expf(_mm256_xor_ps(g, sign));
        __m256 y = _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(one, e)), _mm256_maskload_ps(up + i, m));
        _mm256_maskstore_ps(out + i, m, y);
    }
}

/* es_exp_sums, 8 elements at a time (the last n % 8 masked, zero in the
 * sums), into two vectors of four double lanes: lane k of the pair sums
 * the elements i = k mod 8 in order. */
TARGET double es_exp_sums_avx2(const float *x, float *out, int n, float max, double ab[2]) {
    const __m256 vmax = _mm256_set1_ps(max), zero = _mm256_setzero_ps(), lowest = _mm256_set1_ps(-FLT_MAX);
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    __m256d z[2] = {_mm256_setzero_pd(), _mm256_setzero_pd()}, a[2] = {z[0], z[0]}, b[2] = {z[0], z[0]};
    for (int i = 0; i < n; i += 8) {
        __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32(n - i), lane);
        /* d at least -FLT_MAX (max_ps returns its second operand, d, when d is NaN) */
        __m256 d = _mm256_max_ps(lowest, _mm256_sub_ps(_mm256_maskload_ps(x + i, m), vmax));
        d = _mm256_blendv_ps(zero, d, _mm256_castsi256_ps(m));
        __m256 e = _mm256_blendv_ps(zero, _ZGVdN8v_expf(d), _mm256_castsi256_ps(m));
        if (out) _mm256_maskstore_ps(out + i, m, e);
        for (int h = 0; h < 2; h++) {
            __m256d eh = _mm256_cvtps_pd(h ? _mm256_extractf128_ps(e, 1) : _mm256_castps256_ps128(e));
            z[h] = _mm256_add_pd(z[h], eh);
            if (ab) {
                __m256d dh = _mm256_cvtps_pd(h ? _mm256_extractf128_ps(d, 1) : _mm256_castps256_ps128(d));
                __m256d ed = _mm256_mul_pd(eh, dh);
                a[h] = _mm256_add_pd(a[h], ed);
                b[h] = _mm256_add_pd(b[h], _mm256_mul_pd(ed, dh));
            }
        }
    }
    double s[8];
    if (ab) {
        _mm256_storeu_pd(s, a[0]), _mm256_storeu_pd(s + 4, a[1]);
        ab[0] = es_sum8(s);
        _mm256_storeu_pd(s, b[0]), _mm256_storeu_pd(s + 4, b[1]);
        ab[1] = es_sum8(s);
    }
    _mm256_storeu_pd(s, z[0]), _mm256_storeu_pd(s + 4, z[1]);
    return es_sum8(s);
}

#else /* not x86: no such path */

es_rowdot_fn *es_rowdot_avx2(es_dtype type) {
    (void)type;
    return NULL;
}

es_rowdot_q8_fn *es_rowdot_q8_avx2(es_dtype type) {
    (void)type;
    return NULL;
}

es_rowdot_rows_fn *es_rowdot_rows_avx2(es_dtype type) {
    (void)type;
    return NULL;
}

void es_quantize_q8_row_avx2(const float *x, int64_t n, uint8_t *dst) { es_quantize_q8_row(x, n, dst); }

#endif
