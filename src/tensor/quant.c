/* Row conversion between F32 and the storage types (layouts in tensor.h).
 * Dequantising is exact: a Q8_0/Q4_0 value is an f16 scale times a small
 * integer, which F32 holds without rounding. Quantising follows the rules of
 * GGML's reference quantiser, so a row we write matches what llama.cpp's
 * reference code writes for the same floats:
 *   Q8_0: d = max|x| / 127, q = round(x / d)             (ties away from 0)
 *   Q4_0: m = the element of largest magnitude (signed), d = m / -8,
 *         q = min(15, trunc(x / d + 8.5))
 * In both, q is computed with the F32 d and only then is d stored as f16,
 * as GGML does; the tests bound the error with that in mind.
 * K-quants (Q4_K, Q5_K, Q6_K) have no single "right" quantiser: any choice
 * of scales and codes is a valid block. Ours fits each sub-block by a small
 * search plus least squares, quantises the sub-block scales, then retries
 * each 6/8-bit scale +-1 and keeps the codes nearest to the input (see the
 * K-quant section). Measured RMS error / RMS of the input on N(0,1) rows:
 * Q4_K 0.0699, Q5_K 0.0347, Q6_K 0.0172 (GGML's reference quantiser, on
 * the same kind of data: 0.0710, 0.0360, 0.0176). */
#include "tensor/quant.h"

#include <math.h>
#include <string.h>

#define QBLOCK 32 /* elements per Q8_0 / Q4_0 block */

static float load_f16(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2); /* blocks are 34 / 18 bytes: the scale is unaligned */
    return es_f16_to_f32(h);
}

static void store_f16(uint8_t *p, float f) {
    uint16_t h = es_f32_to_f16(f);
    memcpy(p, &h, 2);
}

static void dequantize_q8_0(const uint8_t *src, float *dst, int64_t n) {
    for (int64_t i = 0; i < n / QBLOCK; i++, src += 34, dst += QBLOCK) {
        float d = load_f16(src);
        const int8_t *q = (const int8_t *)(src + 2);
        for (int j = 0; j < QBLOCK; j++) dst[j] = d * (float)q[j];
    }
}

static void dequantize_q4_0(const uint8_t *src, float *dst, int64_t n) {
    for (int64_t i = 0; i < n / QBLOCK; i++, src += 18, dst += QBLOCK) {
        float d = load_f16(src);
        const uint8_t *qs = src + 2;
        for (int j = 0; j < QBLOCK / 2; j++) {
            dst[j] = d * (float)((qs[j] & 0x0f) - 8);
            dst[j + QBLOCK / 2] = d * (float)((qs[j] >> 4) - 8);
        }
    }
}

/* Q4_K / Q5_K: x = (d * sc[j]) * q - dmin * m[j] for sub-block j, each
 * product exact in F32, the subtraction rounded once (as GGML computes). */
static void dequantize_q45_k(es_dtype type, const uint8_t *src, float *dst, int64_t n) {
    int five = type == ES_Q5_K;
    int64_t block_bytes = five ? 176 : 144;
    for (int64_t i = 0; i < n / ES_QK; i++, src += block_bytes, dst += ES_QK) {
        float d = load_f16(src), dmin = load_f16(src + 2);
        const uint8_t *qh = src + 16;               /* Q5_K only */
        const uint8_t *qs = src + (five ? 48 : 16); /* 32 bytes per pair of sub-blocks */
        for (int j = 0; j < 8; j++) {
            int sc, m;
            es_k_scale_min(src + 4, j, &sc, &m);
            float step = d * (float)sc, offset = dmin * (float)m;
            const uint8_t *q = qs + 32 * (j / 2);
            int shift = 4 * (j % 2); /* even sub-blocks in low nibbles */
            for (int l = 0; l < 32; l++) {
                int code = (q[l] >> shift) & 15;
                if (five) code |= ((qh[l] >> j) & 1) << 4;
                dst[32 * j + l] = step * (float)code - offset;
            }
        }
    }
}

/* Q6_K: x = (d * scales[e / 16]) * (q - 32), exact in F32. */
static void dequantize_q6_k(const uint8_t *src, float *dst, int64_t n) {
    for (int64_t i = 0; i < n / ES_QK; i++, src += 210, dst += ES_QK) {
        float d = load_f16(src + 208);
        const int8_t *scales = (const int8_t *)(src + 192);
        for (int e = 0; e < ES_QK; e++) {
            int h = e / 128, k = e % 128 / 32, l = e % 32;
            int low = (src[64 * h + 32 * (k % 2) + l] >> (4 * (k / 2))) & 15;
            int high = (src[128 + 32 * h + l] >> (2 * k)) & 3;
            dst[e] = d * (float)scales[e / 16] * (float)((low | high << 4) - 32);
        }
    }
}

void es_dequantize_row(es_dtype type, const void *src, float *dst, int64_t n) {
    const uint8_t *s = src;
    switch (type) {
    case ES_F32: memcpy(dst, src, (size_t)n * sizeof(float)); return;
    case ES_F16:
        for (int64_t i = 0; i < n; i++) dst[i] = load_f16(s + 2 * i);
        return;
    case ES_BF16:
        for (int64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, s + 2 * i, 2);
            dst[i] = es_bf16_to_f32(h);
        }
        return;
    case ES_Q8_0: dequantize_q8_0(s, dst, n); return;
    case ES_Q4_0: dequantize_q4_0(s, dst, n); return;
    case ES_Q4_K:
    case ES_Q5_K: dequantize_q45_k(type, s, dst, n); return;
    case ES_Q6_K: dequantize_q6_k(s, dst, n); return;
    default: /* callers check es_dtype_supported; make a slip loud, not silent */
        for (int64_t i = 0; i < n; i++) dst[i] = NAN;
        return;
    }
}

/* (int) of a float in [lo, hi], NaN to 0: the C cast of an out-of-range or
 * NaN float is undefined, and a row with an inf or NaN in it must not be. */
static int clamp_to_int(float v, int lo, int hi) {
    if (!(v >= (float)lo)) return v != v ? 0 : lo;
    if (v >= (float)hi) return hi;
    return (int)v; /* truncates toward zero, as the C cast GGML uses */
}

static void quantize_q8_0(const float *src, uint8_t *dst, int64_t n) {
    for (int64_t i = 0; i < n / QBLOCK; i++, src += QBLOCK, dst += 34) {
        float amax = 0.0f;
        for (int j = 0; j < QBLOCK; j++) amax = fmaxf(amax, fabsf(src[j]));
        float d = amax / 127.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        store_f16(dst, d);
        int8_t *q = (int8_t *)(dst + 2);
        for (int j = 0; j < QBLOCK; j++)
            q[j] = (int8_t)clamp_to_int(roundf(src[j] * id), -127, 127);
    }
}

static void quantize_q4_0(const float *src, uint8_t *dst, int64_t n) {
    for (int64_t i = 0; i < n / QBLOCK; i++, src += QBLOCK, dst += 18) {
        float amax = 0.0f, max = 0.0f; /* largest magnitude, and its signed value */
        for (int j = 0; j < QBLOCK; j++) {
            if (amax < fabsf(src[j])) {
                amax = fabsf(src[j]);
                max = src[j];
            }
        }
        float d = max / -8.0f;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        store_f16(dst, d);
        uint8_t *qs = dst + 2;
        for (int j = 0; j < QBLOCK / 2; j++) {
            int lo = clamp_to_int(src[j] * id + 8.5f, 0, 15);
            int hi = clamp_to_int(src[j + QBLOCK / 2] * id + 8.5f, 0, 15);
            qs[j] = (uint8_t)(lo | (hi << 4));
        }
    }
}

/* ---- K-quant quantisers ----------------------------------------------
 * A sub-block is coded on a grid x ~ step * q + base: Q4_K/Q5_K codes
 * q in 0..qmax with base <= 0 (minus the stored min), Q6_K codes q in
 * -32..31 with base 0 and a signed step (the larger side, -32, goes to the
 * element of largest magnitude). Sums of squares are in double so rows of
 * tiny values (1e-30: squares underflow F32) still compare. */

typedef struct grid {
    float step, base;
    int qlo, qhi; /* code range */
} grid;

/* q[i] = the code nearest x[i] on grid g (0 when step is 0); returns the
 * sum of squared errors. Computes the value as dequantising does. */
static double grid_codes(const float *x, int n, grid g, int8_t *q) {
    double sse = 0;
    for (int i = 0; i < n; i++) {
        int code = g.step != 0.0f ? clamp_to_int(roundf((x[i] - g.base) / g.step), g.qlo, g.qhi) : 0;
        double err = (double)(g.step * (float)code + g.base) - x[i];
        q[i] = (int8_t)code;
        sse += err * err;
    }
    return sse;
}

/* The least-squares step (and base <= 0, for grids with one) for fixed
 * codes q. 0 if the codes do not determine a usable grid. */
static int refit_grid(const float *x, const int8_t *q, int n, grid *g) {
    double sq = 0, sqq = 0, sx = 0, sxq = 0;
    for (int i = 0; i < n; i++) {
        sq += q[i], sqq += q[i] * q[i];
        sx += x[i], sxq += (double)x[i] * q[i];
    }
    double step = 0, base = 1; /* base 1: "no two-parameter fit" */
    double det = n * sqq - sq * sq;
    if (g->qlo == 0 && det > 0) {
        step = (n * sxq - sq * sx) / det;
        base = (sqq * sx - sq * sxq) / det;
    }
    if (!(base <= 0)) { /* no base (Q6_K), or the best one is > 0: fit through 0 */
        if (!(sqq > 0)) return 0;
        base = 0, step = sxq / sqq;
    }
    if (!isfinite(step) || !isfinite(base) || step == 0 || (g->qlo == 0 && step < 0)) return 0;
    g->step = (float)step, g->base = (float)base;
    return 1;
}

/* Keeps grid g (codes in trial) in *best if it codes x with less error. */
static void keep_better(const float *x, int n, grid g, int8_t *trial, grid *best, double *best_sse,
                        int8_t *q) {
    double sse = grid_codes(x, n, g, trial);
    if (sse < *best_sse) {
        *best = g, *best_sse = sse;
        memcpy(q, trial, (size_t)n);
    }
}

/* The grid for n <= 32 values: candidate steps around the one that spans
 * the values, each tried as is and refitted by least squares, then two
 * refit / recode rounds on the winner. Codes in q. */
static grid fit_subblock(const float *x, int n, int qlo, int qhi, int8_t *q) {
    /* lo: the smallest value or 0 (a base must be <= 0); extreme: the value
     * of largest magnitude. A constant row <= 0 has hi == lo: step 0 codes it. */
    float lo = 0, hi = x[0], extreme = 0;
    for (int i = 0; i < n; i++) {
        lo = fminf(lo, x[i]), hi = fmaxf(hi, x[i]);
        if (fabsf(x[i]) > fabsf(extreme)) extreme = x[i];
    }
    int8_t trial[32];
    grid best = {0.0f, qlo == 0 ? lo : 0.0f, qlo, qhi};
    double best_sse = grid_codes(x, n, best, q);
    for (int t = -6; t <= 6; t++) { /* lo .. hi (Q6_K: extreme .. 0) over qhi +- 0.6 steps */
        float codes_spanned = (float)(qlo == 0 ? qhi : qlo) + (qlo == 0 ? 0.1f : -0.1f) * (float)t;
        grid g = {(qlo == 0 ? hi - lo : extreme) / codes_spanned, qlo == 0 ? lo : 0.0f, qlo, qhi};
        if (g.step == 0.0f || !isfinite(g.step)) continue;
        keep_better(x, n, g, trial, &best, &best_sse, q);
        if (refit_grid(x, trial, n, &g)) keep_better(x, n, g, trial, &best, &best_sse, q);
    }
    for (int round = 0; round < 2; round++) {
        grid g = best;
        if (refit_grid(x, q, n, &g)) keep_better(x, n, g, trial, &best, &best_sse, q);
    }
    return best;
}

/* Stores v as the block's f16 scale (kept finite) and returns what a
 * reader will decode, so codes are chosen against the real scale. */
static float store_scale(uint8_t *p, float v) {
    store_f16(p, fminf(v, 65504.0f));
    return load_f16(p);
}

/* Sub-block scale sc (0..63, or -128..127 with no min) and min m (0..63)
 * near the fitted grid: of sc +-1 (and m +-1), the pair whose nearest
 * codes (written to q) give the least squared error. */
static void choose_k_scale(const float *x, int n, grid fit, float d, float dmin, int *sc, int *m,
                           int8_t *q) {
    int signed_scale = fit.qlo < 0;
    int sc_lo = signed_scale ? -128 : 0, sc_hi = signed_scale ? 127 : 63;
    int sc0 = d > 0 ? clamp_to_int(roundf(fit.step / d), sc_lo, sc_hi) : 0;
    int m0 = dmin > 0 ? clamp_to_int(roundf(-fit.base / dmin), 0, 63) : 0;
    int8_t trial[32];
    grid g = {d * (float)sc0, -(dmin * (float)m0), fit.qlo, fit.qhi}, best = g;
    double best_sse = grid_codes(x, n, g, q);
    *sc = sc0, *m = m0;
    for (int a = sc0 - 1; a <= sc0 + 1; a++)
        for (int b = m0 - !signed_scale; b <= m0 + !signed_scale; b++) {
            if (a < sc_lo || a > sc_hi || b < 0 || b > 63) continue;
            g.step = d * (float)a, g.base = -(dmin * (float)b);
            double before = best_sse;
            keep_better(x, n, g, trial, &best, &best_sse, q);
            if (best_sse < before) *sc = a, *m = b;
        }
}

static void pack_k_scales(uint8_t scales[12], const int sc[8], const int m[8]) {
    memset(scales, 0, 12);
    for (int j = 0; j < 8; j++) {
        if (j < 4) {
            scales[j] |= (uint8_t)sc[j];
            scales[j + 4] |= (uint8_t)m[j];
        } else {
            scales[j + 4] = (uint8_t)((sc[j] & 15) | (m[j] & 15) << 4);
            scales[j - 4] |= (uint8_t)((sc[j] >> 4) << 6);
            scales[j] |= (uint8_t)((m[j] >> 4) << 6);
        }
    }
}

/* One Q4_K / Q5_K super-block of 256 values (layout in tensor.h). */
static void quantize_q45_k_block(const float *x, uint8_t *blk, int five) {
    int qmax = five ? 31 : 15;
    grid fits[8];
    int8_t q[ES_QK];
    int sc[8], m[8];
    float max_step = 0, max_min = 0;
    for (int j = 0; j < 8; j++) {
        fits[j] = fit_subblock(x + 32 * j, 32, 0, qmax, q + 32 * j);
        max_step = fmaxf(max_step, fits[j].step);
        max_min = fmaxf(max_min, -fits[j].base);
    }
    float d = store_scale(blk, max_step / 63), dmin = store_scale(blk + 2, max_min / 63);
    for (int j = 0; j < 8; j++) choose_k_scale(x + 32 * j, 32, fits[j], d, dmin, &sc[j], &m[j], q + 32 * j);
    pack_k_scales(blk + 4, sc, m);
    uint8_t *qh = blk + 16, *qs = blk + (five ? 48 : 16);
    memset(blk + 16, 0, five ? 160 : 128);
    for (int j = 0; j < 8; j++)
        for (int l = 0; l < 32; l++) {
            int code = q[32 * j + l];
            qs[32 * (j / 2) + l] |= (uint8_t)((code & 15) << (4 * (j % 2)));
            if (five) qh[l] |= (uint8_t)((code >> 4) << j);
        }
}

/* One Q6_K super-block of 256 values (layout in tensor.h). */
static void quantize_q6_k_block(const float *x, uint8_t *blk) {
    grid fits[16];
    int8_t q[ES_QK];
    float max_step = 0;
    for (int j = 0; j < 16; j++) {
        fits[j] = fit_subblock(x + 16 * j, 16, -32, 31, q + 16 * j);
        max_step = fmaxf(max_step, fabsf(fits[j].step));
    }
    float d = store_scale(blk + 208, max_step / 127);
    for (int j = 0; j < 16; j++) {
        int sc, unused;
        choose_k_scale(x + 16 * j, 16, fits[j], d, 0.0f, &sc, &unused, q + 16 * j);
        blk[192 + j] = (uint8_t)(int8_t)sc;
    }
    memset(blk, 0, 192);
    for (int e = 0; e < ES_QK; e++) {
        int code = q[e] + 32, h = e / 128, k = e % 128 / 32, l = e % 32;
        blk[64 * h + 32 * (k % 2) + l] |= (uint8_t)((code & 15) << (4 * (k / 2)));
        blk[128 + 32 * h + l] |= (uint8_t)((code >> 4) << (2 * k));
    }
}

void es_quantize_row(es_dtype type, const float *src, void *dst, int64_t n) {
    uint8_t *d = dst;
    switch (type) {
    case ES_F32: memcpy(dst, src, (size_t)n * sizeof(float)); return;
    case ES_F16:
        for (int64_t i = 0; i < n; i++) store_f16(d + 2 * i, src[i]);
        return;
    case ES_BF16:
        for (int64_t i = 0; i < n; i++) {
            uint16_t h = es_f32_to_bf16(src[i]);
            memcpy(d + 2 * i, &h, 2);
        }
        return;
    case ES_Q8_0: quantize_q8_0(src, d, n); return;
    case ES_Q4_0: quantize_q4_0(src, d, n); return;
    case ES_Q4_K:
    case ES_Q5_K:
        for (int64_t i = 0; i < n / ES_QK; i++)
            quantize_q45_k_block(src + i * ES_QK, d + i * es_dtype_block_bytes(type), type == ES_Q5_K);
        return;
    case ES_Q6_K:
        for (int64_t i = 0; i < n / ES_QK; i++) quantize_q6_k_block(src + i * ES_QK, d + i * 210);
        return;
    default: return; /* no layout to write; callers check es_dtype_supported */
    }
}
