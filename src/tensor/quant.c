/* Row conversion between F32 and the storage types (layouts in tensor.h).
 * Dequantising is exact: a Q8_0/Q4_0 value is an f16 scale times a small
 * integer, which F32 holds without rounding. Quantising follows the rules of
 * GGML's reference quantiser, so a row we write matches what llama.cpp's
 * reference code writes for the same floats:
 *   Q8_0: d = max|x| / 127, q = round(x / d)             (ties away from 0)
 *   Q4_0: m = the element of largest magnitude (signed), d = m / -8,
 *         q = min(15, trunc(x / d + 8.5))
 * In both, q is computed with the F32 d and only then is d stored as f16,
 * as GGML does; the tests bound the error with that in mind. */
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
    default: return; /* no layout to write; callers check es_dtype_supported */
    }
}
