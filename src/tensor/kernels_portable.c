/* Row dots in plain C: the code path for CPUs without AVX2 (and the one the
 * tests force to check it stays right). Each 32-element chunk of a weight
 * row is expanded to F32 once (exactly: every storage type converts to F32
 * without rounding), then dotted with every activation row of the batch
 * block, so a batch pays the conversion once per chunk. K-quant rows are
 * expanded a 256-element super-block at a time (by es_dequantize_row, so
 * to GGML's values exactly) and then walked in the same 32-element chunks.
 *
 * Summation order, per (row, b) pair: 8 running F32 partial sums, element
 * c going to sum c % 8; at the end ((s0+s1)+(s2+s3))+((s4+s5)+(s6+s7)),
 * then the sum of the last n % 32 elements (F32/F16/BF16 rows only) added
 * in order. */
#include <string.h>

#include "tensor/kernels_internal.h"
#include "tensor/quant.h"

#define CHUNK 32 /* elements per step: one Q8_0 / Q4_0 block */
#define LANES 8  /* independent partial sums per (row, b) pair */

static float f16_at(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2); /* rows need not be aligned */
    return es_f16_to_f32(h);
}

static float bf16_at(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return es_bf16_to_f32(h);
}

/* Element c of a F32 / F16 / BF16 row (for the tail past the last chunk). */
static float element(es_dtype type, const uint8_t *w, int64_t c) {
    switch (type) {
    case ES_F32: {
        float f;
        memcpy(&f, w + 4 * c, 4);
        return f;
    }
    case ES_F16: return f16_at(w + 2 * c);
    default: return bf16_at(w + 2 * c);
    }
}

/* out[0..32) = chunk k of weight row w, as F32. */
static void expand_chunk(es_dtype type, const uint8_t *w, int64_t k, float out[CHUNK]) {
    switch (type) {
    case ES_F32: memcpy(out, w + k * CHUNK * 4, CHUNK * 4); return;
    case ES_F16:
        for (int j = 0; j < CHUNK; j++) out[j] = f16_at(w + (k * CHUNK + j) * 2);
        return;
    case ES_BF16:
        for (int j = 0; j < CHUNK; j++) out[j] = bf16_at(w + (k * CHUNK + j) * 2);
        return;
    case ES_Q8_0: {
        const uint8_t *blk = w + k * 34;
        float d = f16_at(blk);
        const int8_t *q = (const int8_t *)(blk + 2);
        for (int j = 0; j < CHUNK; j++) out[j] = d * (float)q[j];
        return;
    }
    default: { /* ES_Q4_0 */
        const uint8_t *blk = w + k * 18;
        float d = f16_at(blk);
        for (int j = 0; j < CHUNK / 2; j++) {
            out[j] = d * (float)((blk[2 + j] & 0x0f) - 8);
            out[j + CHUNK / 2] = d * (float)((blk[2 + j] >> 4) - 8);
        }
        return;
    }
    }
}

/* acc[b][l] += wc[j + l] * x[b][32k + j + l] for one chunk k of the row. */
static void accumulate_chunk(const float wc[CHUNK], const float *x, int64_t x_stride, int nb, int64_t k,
                             float acc[ES_ROWDOT_MAX_NB][LANES]) {
    for (int b = 0; b < nb; b++) {
        const float *xc = x + b * x_stride + k * CHUNK;
        for (int j = 0; j < CHUNK; j += LANES)
            for (int l = 0; l < LANES; l++) acc[b][l] += wc[j + l] * xc[j + l];
    }
}

static void rowdot(es_dtype type, const void *w, const float *x, int64_t x_stride,
                   int nb, int64_t n, float *out, int64_t out_stride) {
    float acc[ES_ROWDOT_MAX_NB][LANES];
    int64_t n_chunks = n / CHUNK;
    memset(acc, 0, sizeof acc);
    if (es_is_k_quant(type)) {
        float wk[ES_QK];
        int64_t block_bytes = es_dtype_block_bytes(type);
        for (int64_t sb = 0; sb < n / ES_QK; sb++) {
            es_dequantize_row(type, (const uint8_t *)w + sb * block_bytes, wk, ES_QK);
            for (int c = 0; c < ES_QK / CHUNK; c++)
                accumulate_chunk(wk + c * CHUNK, x, x_stride, nb, sb * (ES_QK / CHUNK) + c, acc);
        }
    } else {
        float wc[CHUNK];
        for (int64_t k = 0; k < n_chunks; k++) {
            expand_chunk(type, w, k, wc);
            accumulate_chunk(wc, x, x_stride, nb, k, acc);
        }
    }
    for (int b = 0; b < nb; b++) {
        const float *s = acc[b];
        float tail = 0.0f;
        for (int64_t c = n_chunks * CHUNK; c < n; c++)
            tail += element(type, w, c) * x[b * x_stride + c];
        out[b * out_stride] = (((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]))) + tail;
    }
}

ES_DEFINE_ROWDOT_TABLE(es_rowdot_portable, )

/* ---- integer row dots (8-bit activations) ------------------------------
 * Per 32-element chunk k: an exact int32 sum of weight code * activation
 * code, turned into the chunk's value v_k in F32 (below, per type), added
 * to partial sum k % 8; at the end ((s0+s1)+(s2+s3))+((s4+s5)+(s6+s7)).
 *   Q8_0, Q4_0:  v = (dw * dx) * isum              (codes q, nibble - 8)
 *   Q4_K, Q5_K:  v = dx * (step * isum - offset * xsum)   (unsigned codes;
 *                xsum = sum of the chunk's activation codes)
 *   Q6_K:        v = dx * (step0 * (isum0 - 32 xsum0) + step1 * (isum1 - 32 xsum1)),
 *                halves of 16 elements, codes 0..63. */

/* The 256 codes of a K-quant super-block, unsigned, in element order, and
 * its sub-blocks' step / offset (8 of 32 elements; Q6_K: 16 of 16). */
static void k_block_codes(es_dtype type, const uint8_t *blk, uint8_t codes[ES_QK], float step[16],
                          float offset[16]) {
    if (type == ES_Q6_K) {
        float d = f16_at(blk + 208);
        for (int j = 0; j < 16; j++) step[j] = d * (float)(int8_t)blk[192 + j], offset[j] = 0;
        for (int e = 0; e < ES_QK; e++) {
            int h = e / 128, k = e % 128 / 32, l = e % 32;
            int low = (blk[64 * h + 32 * (k % 2) + l] >> (4 * (k / 2))) & 15;
            int high = (blk[128 + 32 * h + l] >> (2 * k)) & 3;
            codes[e] = (uint8_t)(low | high << 4);
        }
        return;
    }
    int five = type == ES_Q5_K;
    float d = f16_at(blk), dmin = f16_at(blk + 2);
    const uint8_t *qs = blk + (five ? 48 : 16);
    for (int j = 0; j < 8; j++) {
        int sc, m;
        es_k_scale_min(blk + 4, j, &sc, &m);
        step[j] = d * (float)sc, offset[j] = dmin * (float)m;
        for (int l = 0; l < 32; l++) {
            int code = (qs[32 * (j / 2) + l] >> (4 * (j % 2))) & 15;
            if (five) code |= ((blk[16 + l] >> j) & 1) << 4;
            codes[32 * j + l] = (uint8_t)code;
        }
    }
}

static int32_t isum_u8(const uint8_t *w, const int8_t *x, int len) {
    int32_t s = 0;
    for (int i = 0; i < len; i++) s += (int32_t)w[i] * x[i];
    return s;
}

/* The value of chunk k (elements 32k..) of a Q8_0 / Q4_0 row against one
 * activation row. */
static float q_chunk_value(es_dtype type, const uint8_t *w, int64_t k, const int8_t *q, float dx) {
    int32_t s = 0;
    if (type == ES_Q8_0) {
        const uint8_t *blk = w + k * 34;
        for (int j = 0; j < CHUNK; j++) s += (int32_t)(int8_t)blk[2 + j] * q[j];
        return (f16_at(blk) * dx) * (float)s;
    }
    const uint8_t *blk = w + k * 18;
    for (int j = 0; j < CHUNK / 2; j++)
        s += ((blk[2 + j] & 15) - 8) * q[j] + ((blk[2 + j] >> 4) - 8) * q[j + CHUNK / 2];
    return (f16_at(blk) * dx) * (float)s;
}

/* The value of chunk c of a decoded K-quant super-block (codes: the chunk's
 * 32) against activation codes q with scale dx and 16-element sums s16. */
static float k_chunk_value(es_dtype type, const uint8_t *codes, int c, const float *step, const float *offset,
                           const int8_t *q, float dx, const int16_t *s16) {
    if (type == ES_Q6_K) {
        int32_t i0 = isum_u8(codes, q, 16) - 32 * s16[0], i1 = isum_u8(codes + 16, q + 16, 16) - 32 * s16[1];
        return dx * (step[2 * c] * (float)i0 + step[2 * c + 1] * (float)i1);
    }
    int32_t isum = isum_u8(codes, q, 32), xsum = s16[0] + s16[1];
    return dx * (step[c] * (float)isum - offset[c] * (float)xsum);
}

static void rowdot_q8(es_dtype type, const void *w, const uint8_t *xq, int64_t xs, int nb, int64_t n,
                      float *out, int64_t os) {
    float acc[ES_ROWDOT_Q8_MAX_NB][LANES];
    memset(acc, 0, sizeof acc);
    if (es_is_k_quant(type)) {
        uint8_t codes[ES_QK];
        float step[16], offset[16];
        int64_t block_bytes = es_dtype_block_bytes(type);
        for (int64_t sb = 0; sb < n / ES_QK; sb++) {
            k_block_codes(type, (const uint8_t *)w + sb * block_bytes, codes, step, offset);
            for (int b = 0; b < nb; b++) {
                const uint8_t *row = xq + b * xs;
                for (int c = 0; c < ES_QK / CHUNK; c++) {
                    int64_t k = sb * (ES_QK / CHUNK) + c;
                    acc[b][k % LANES] += k_chunk_value(type, codes + CHUNK * c, c, step, offset,
                                                       (const int8_t *)row + k * CHUNK, es_q8_scales(row, n)[k],
                                                       es_q8_sums(row, n) + 2 * k);
                }
            }
        }
    } else {
        for (int64_t k = 0; k < n / CHUNK; k++)
            for (int b = 0; b < nb; b++) {
                const uint8_t *row = xq + b * xs;
                acc[b][k % LANES] +=
                    q_chunk_value(type, w, k, (const int8_t *)row + k * CHUNK, es_q8_scales(row, n)[k]);
            }
    }
    for (int b = 0; b < nb; b++) {
        const float *s = acc[b];
        out[b * os] = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
    }
}

ES_ROWDOT_Q8_ENTRY(q8_q8_0, ES_Q8_0, rowdot_q8, /* no attribute */)
ES_ROWDOT_Q8_ENTRY(q8_q4_0, ES_Q4_0, rowdot_q8, /* no attribute */)
ES_ROWDOT_Q8_ENTRY(q8_q4_k, ES_Q4_K, rowdot_q8, /* no attribute */)
ES_ROWDOT_Q8_ENTRY(q8_q5_k, ES_Q5_K, rowdot_q8, /* no attribute */)
ES_ROWDOT_Q8_ENTRY(q8_q6_k, ES_Q6_K, rowdot_q8, /* no attribute */)

es_rowdot_q8_fn *es_rowdot_q8_portable(es_dtype type) {
    switch (type) {
    case ES_Q8_0: return q8_q8_0;
    case ES_Q4_0: return q8_q4_0;
    case ES_Q4_K: return q8_q4_k;
    case ES_Q5_K: return q8_q5_k;
    case ES_Q6_K: return q8_q6_k;
    default: return NULL;
    }
}

/* out[d] = sum_t w[t] * rows[t * stride + d], t in order: the attention's
 * weighted sum of the values. Multiply then add (no fused FMA: a software
 * fmaf would be slow on CPUs without it). */
void es_weighted_rows_portable(const float *w, const float *rows, size_t stride, int n_rows,
                               int n, float *out, int add) {
    if (!add)
        for (int d = 0; d < n; d++) out[d] = 0.0f;
    for (int t = 0; t < n_rows; t++) {
        const float *r = rows + (size_t)t * stride;
        for (int d = 0; d < n; d++) out[d] += w[t] * r[d];
    }
}
