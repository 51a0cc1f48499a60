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
