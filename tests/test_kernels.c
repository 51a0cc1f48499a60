/* Tests of the tensor layer: type table, f16 / bf16 conversions, row
 * (de)quantisation and the compute kernels. Every optimised routine is
 * checked against a plain double-precision reference written here with
 * obvious loops, from the layouts in tensor.h and the rules in quant.c's
 * header, never from the code under test: halves and bfloat16s are decoded
 * with ldexp, rounding is done by rint in double, and the matrix products
 * are compared with double sums over independently dequantised weights. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/kernels.h"
#include "tensor/kernels_internal.h"
#include "tensor/quant.h"
#include "tensor/tensor.h"
#include "test.h"

/* ---- helpers ---------------------------------------------------------- */

typedef struct rng { uint64_t s; } rng; /* splitmix64: small, seedable */

static uint64_t rng_next(rng *r) {
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static float rng_uniform(rng *r, float lo, float hi) {
    return lo + (hi - lo) * (float)((rng_next(r) >> 40) * 0x1p-24);
}

static float f32_from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static uint16_t u16_at(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); } /* little-endian */

/* IEEE half -> double, from the bit fields. */
static double ref_half(uint16_t h) {
    int e = (h >> 10) & 31, m = h & 1023;
    double v = e == 31 ? (m ? NAN : INFINITY) : e == 0 ? ldexp(m, -24) : ldexp(1024 + m, e - 25);
    return h & 0x8000 ? -v : v;
}

/* bfloat16 -> double, from the bit fields (8-bit exponent, 7-bit mantissa). */
static double ref_bf16(uint16_t h) {
    int e = (h >> 7) & 255, m = h & 127;
    double v = e == 255 ? (m ? NAN : INFINITY) : e == 0 ? ldexp(m, -133) : ldexp(128 + m, e - 134);
    return h & 0x8000 ? -v : v;
}

/* v rounded to nearest-even in a binary format with mant_bits stored
 * mantissa bits, smallest normal exponent emin, largest exponent emax. */
static double ref_round(double v, int mant_bits, int emin, int emax) {
    if (v == 0 || isnan(v) || isinf(v)) return v;
    int e;
    frexp(fabs(v), &e);
    e = e - 1 < emin ? emin : e - 1; /* |v| in [2^e, 2^(e+1)), or subnormal */
    double quantum = ldexp(1, e - mant_bits);
    double r = rint(fabs(v) / quantum) * quantum; /* exact division; rint ties to even */
    if (r > ldexp(2 - ldexp(1, -mant_bits), emax)) r = INFINITY;
    return copysign(r, v);
}

/* Dequantises n elements to double straight from the layouts in tensor.h. */
static void ref_dequant(es_dtype type, const uint8_t *p, int64_t n, double *out) {
    for (int64_t i = 0; i < n; i++) {
        switch (type) {
        case ES_F32: out[i] = f32_from_bits((uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 |
                                            (uint32_t)p[4 * i + 2] << 16 | (uint32_t)p[4 * i + 3] << 24);
            break;
        case ES_F16: out[i] = ref_half(u16_at(p + 2 * i)); break;
        case ES_BF16: out[i] = ref_bf16(u16_at(p + 2 * i)); break;
        case ES_Q8_0: {
            const uint8_t *blk = p + 34 * (i / 32);
            out[i] = ref_half(u16_at(blk)) * (int8_t)blk[2 + i % 32];
            break;
        }
        default: { /* Q4_0 */
            const uint8_t *blk = p + 18 * (i / 32);
            int j = (int)(i % 32);
            int code = j < 16 ? blk[2 + j] & 15 : blk[2 + j - 16] >> 4;
            out[i] = ref_half(u16_at(blk)) * (code - 8);
        }
        }
    }
}

static const es_dtype all_types[] = {ES_F32, ES_F16, ES_BF16, ES_Q8_0, ES_Q4_0};
static const es_isa all_isas[] = {ES_ISA_PORTABLE, ES_ISA_AVX2, ES_ISA_AVX512};
#define N_TYPES 5
#define N_ISAS 3

/* ---- type table ------------------------------------------------------- */

static void test_dtype_table(void) {
    TEST("dtype table: sizes per GGML, names, support") {
        CHECK_INT(es_dtype_row_bytes(ES_F32, 3), 12);
        CHECK_INT(es_dtype_row_bytes(ES_F16, 3), 6);
        CHECK_INT(es_dtype_row_bytes(ES_BF16, 5), 10);
        CHECK_INT(es_dtype_row_bytes(ES_Q8_0, 64), 68);
        CHECK_INT(es_dtype_row_bytes(ES_Q4_0, 96), 54);
        CHECK_INT(es_dtype_row_bytes(ES_Q6_K, 256), 210);
        CHECK_INT(es_dtype_row_bytes(ES_Q8_0, 33), -1); /* not whole blocks */
        CHECK_INT(es_dtype_row_bytes(ES_F32, -1), -1);
        CHECK_INT(es_dtype_row_bytes(99, 32), -1);
        CHECK_INT(es_dtype_block_size(ES_Q4_0), 32);
        CHECK_INT(es_dtype_block_bytes(ES_Q4_0), 18);
        CHECK_STR(es_dtype_name(ES_Q8_0), "Q8_0");
        CHECK_STR(es_dtype_name(ES_BF16), "BF16");
        CHECK_STR(es_dtype_name(5), "?"); /* a hole in GGML's numbering */
        CHECK_INT(es_dtype_from_name("q4_0"), ES_Q4_0);
        CHECK_INT(es_dtype_from_name("F16"), ES_F16);
        CHECK_INT(es_dtype_from_name("q4_3"), -1);
        CHECK(es_dtype_supported(ES_BF16) && es_dtype_supported(ES_Q4_0));
        CHECK(!es_dtype_supported((es_dtype)10 /* Q2_K */) && es_dtype_known((es_dtype)10 /* Q2_K */));
        CHECK(!es_dtype_known(31) && !es_dtype_known(4));
        uint8_t buf[3 * 34];
        es_tensor t = {ES_Q8_0, {64, 3}, buf};
        CHECK_INT(es_tensor_row_bytes(&t), 68);
        CHECK((const uint8_t *)es_tensor_row(&t, 1) == buf + 68);
    }
}

/* ---- f16 / bf16 ------------------------------------------------------- */

static void test_half_roundtrip(void) {
    TEST("f16: all 65536 halves decode exactly and encode back") {
        for (uint32_t h = 0; h < 65536; h++) {
            float f = es_f16_to_f32((uint16_t)h);
            double want = ref_half((uint16_t)h);
            uint16_t back = es_f32_to_f16(f);
            if (isnan(want)) {
                int back_is_nan = (back & 0x7c00) == 0x7c00 && (back & 0x3ff);
                CHECKF(isnan(f) && back_is_nan && (back & 0x8000) == (h & 0x8000),
                       "half 0x%04x: NaN -> %g -> 0x%04x", h, f, back);
            } else {
                CHECKF((double)f == want && !signbit(f) == !signbit(want), "half 0x%04x -> %g, want %g", h, f,
                       want);
                CHECKF(back == h, "half 0x%04x -> %g -> 0x%04x", h, f, back);
            }
        }
    }
    TEST("bf16: all 65536 values decode exactly and encode back") {
        for (uint32_t h = 0; h < 65536; h++) {
            float f = es_bf16_to_f32((uint16_t)h);
            double want = ref_bf16((uint16_t)h);
            uint16_t back = es_f32_to_bf16(f);
            if (isnan(want))
                CHECKF(isnan(f) && isnan(ref_bf16(back)), "bf16 0x%04x: NaN -> 0x%04x", h, back);
            else
                CHECKF((double)f == want && back == h, "bf16 0x%04x -> %g -> 0x%04x", h, f, back);
        }
    }
}

/* 1 if encode(f), decoded independently, is f rounded nearest-even. */
static int half_rounds_right(float f) {
    double got = ref_half(es_f32_to_f16(f)), want = ref_round(f, 10, -14, 15);
    return got == want && !signbit(got) == !signbit(want);
}

static int bf16_rounds_right(float f) {
    double got = ref_bf16(es_f32_to_bf16(f)), want = ref_round(f, 7, -126, 127);
    return got == want && !signbit(got) == !signbit(want);
}

static void test_half_rounding(void) {
    TEST("f16: f32 -> f16 rounds to nearest even (ties, subnormals, overflow)") {
        static const float edges[] = {65504.0f, 65519.996f, 65520.0f, 65536.0f, 1e10f, FLT_MAX,
                                      0x1p-24f, 0x1p-25f, 0x1.000002p-25f, 0x1.8p-24f, 0x1.4p-23f,
                                      0x1p-14f, 0x1.ffcp-15f, 0x1.ffep-15f, FLT_TRUE_MIN, 0.0f, 1.0f,
                                      0x1.002p0f, 0x1.006p0f, 2049.0f, 2051.0f};
        for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
            CHECKF(half_rounds_right(edges[i]), "%a -> 0x%04x", edges[i], es_f32_to_f16(edges[i]));
            CHECKF(half_rounds_right(-edges[i]), "%a -> 0x%04x", -edges[i], es_f32_to_f16(-edges[i]));
        }
        CHECK_INT(es_f32_to_f16(65520.0f), 0x7c00); /* the overflow threshold ties to inf */
        CHECK_INT(es_f32_to_f16(65519.996f), 0x7bff);
        CHECK_INT(es_f32_to_f16(0x1p-25f), 0x0000); /* half the smallest subnormal: tie to 0 */
        CHECK_INT(es_f32_to_f16(0x1.8p-24f), 0x0002); /* 1.5 subnormal units: tie to even */
        /* every tie between neighbouring halves, and the floats either side */
        for (uint32_t h = 0; h < 0x7bff; h++) {
            float mid = (float)((ref_half((uint16_t)h) + ref_half((uint16_t)(h + 1))) / 2);
            CHECKF(half_rounds_right(mid), "tie %a -> 0x%04x", mid, es_f32_to_f16(mid));
            CHECKF(half_rounds_right(nextafterf(mid, 0)), "below tie %a", mid);
            CHECKF(half_rounds_right(nextafterf(mid, INFINITY)), "above tie %a", mid);
        }
        rng r = {1};
        for (int i = 0; i < 100000; i++) { /* exponents 2^-30 .. 2^17, either sign */
            uint32_t u = (uint32_t)rng_next(&r);
            uint32_t e = 97 + (u >> 23) % 48;
            float f = f32_from_bits((u & 0x807fffffu) | e << 23);
            CHECKF(half_rounds_right(f), "%a -> 0x%04x", f, es_f32_to_f16(f));
        }
        CHECK(isnan(es_f16_to_f32(es_f32_to_f16(NAN))));
        CHECK_INT(es_f32_to_f16(-INFINITY), 0xfc00);
    }
    TEST("bf16: f32 -> bf16 rounds to nearest even (ties, subnormals, overflow)") {
        static const float edges[] = {FLT_MAX, 0x1.ffp127f, 0x1.fep127f, FLT_TRUE_MIN, 0x1p-126f,
                                      0x1.01p0f, 0x1.03p0f, 0x1.008p0f, 1.0f, 0.0f};
        for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
            CHECKF(bf16_rounds_right(edges[i]), "%a -> 0x%04x", edges[i], es_f32_to_bf16(edges[i]));
            CHECKF(bf16_rounds_right(-edges[i]), "%a", -edges[i]);
        }
        CHECK_INT(es_f32_to_bf16(FLT_MAX), 0x7f80); /* above the last tie: inf */
        CHECK_INT(es_f32_to_bf16(0x1.01p0f), 0x3f80); /* tie, even below */
        CHECK_INT(es_f32_to_bf16(0x1.03p0f), 0x3f82); /* tie, even above */
        for (uint32_t h = 0; h < 0x7f7f; h += 3) {
            float mid = (float)((ref_bf16((uint16_t)h) + ref_bf16((uint16_t)(h + 1))) / 2);
            CHECKF(bf16_rounds_right(mid), "tie %a -> 0x%04x", mid, es_f32_to_bf16(mid));
            CHECKF(bf16_rounds_right(nextafterf(mid, 0)), "below tie %a", mid);
            CHECKF(bf16_rounds_right(nextafterf(mid, INFINITY)), "above tie %a", mid);
        }
        rng r = {2};
        for (int i = 0; i < 100000; i++) { /* any finite float */
            float f = f32_from_bits((uint32_t)rng_next(&r));
            if (isfinite(f)) CHECKF(bf16_rounds_right(f), "%a -> 0x%04x", f, es_f32_to_bf16(f));
        }
        CHECK(isnan(es_bf16_to_f32(es_f32_to_bf16(NAN))));
    }
}

/* ---- quantisation ----------------------------------------------------- */

static void test_dequant_known_blocks(void) {
    TEST("Q4_0: a hand-written block dequantises to hand-computed values") {
        /* d = half 0xb800 = -0.5; byte j = code j (low) | code j+16 = 15-j (high) */
        uint8_t blk[18] = {0x00, 0xb8};
        for (int j = 0; j < 16; j++) blk[2 + j] = (uint8_t)(j | (15 - j) << 4);
        static const float want[32] = {4, 3.5f, 3, 2.5f, 2, 1.5f, 1, 0.5f, 0, -0.5f, -1, -1.5f, -2,
                                       -2.5f, -3, -3.5f, /* high nibbles: 15, 14, ..., 0 */
                                       -3.5f, -3, -2.5f, -2, -1.5f, -1, -0.5f, 0, 0.5f, 1, 1.5f, 2,
                                       2.5f, 3, 3.5f, 4};
        float got[32];
        es_dequantize_row(ES_Q4_0, blk, got, 32);
        for (int j = 0; j < 32; j++) CHECKF(got[j] == want[j], "element %d: %g, want %g", j, got[j], want[j]);
    }
    TEST("Q8_0: a hand-written block dequantises to hand-computed values") {
        /* d = half 0x3400 = 0.25; q = -128, -127, 0, 1, 127, then 3 * j - 40 */
        uint8_t blk[34] = {0x00, 0x34, 0x80, 0x81, 0x00, 0x01, 0x7f};
        float want[32] = {-32.0f, -31.75f, 0.0f, 0.25f, 31.75f};
        for (int j = 5; j < 32; j++) {
            blk[2 + j] = (uint8_t)(int8_t)(3 * j - 40);
            want[j] = 0.25f * (float)(3 * j - 40);
        }
        float got[32];
        es_dequantize_row(ES_Q8_0, blk, got, 32);
        for (int j = 0; j < 32; j++) CHECKF(got[j] == want[j], "element %d: %g, want %g", j, got[j], want[j]);
    }
    TEST("dequantize: every type agrees with the layout reference on random bytes") {
        rng r = {3};
        uint8_t bytes[8 * 34];
        float got[64];
        double want[64];
        for (int t = 0; t < N_TYPES; t++) {
            for (size_t i = 0; i < sizeof bytes; i++) bytes[i] = (uint8_t)rng_next(&r);
            es_dequantize_row(all_types[t], bytes, got, 64);
            ref_dequant(all_types[t], bytes, 64, want);
            for (int i = 0; i < 64; i++)
                CHECKF((isnan(want[i]) && isnan(got[i])) || (double)got[i] == want[i],
                       "%s element %d: %g, want %g", es_dtype_name(all_types[t]), i, got[i], want[i]);
        }
    }
    TEST("dequantize / quantize: unsupported types give NaN / write nothing") {
        float out[256];
        uint8_t dst[256];
        memset(dst, 0xab, sizeof dst);
        es_dequantize_row((es_dtype)10 /* Q2_K */, dst, out, 256);
        CHECK(isnan(out[0]) && isnan(out[255]));
        es_quantize_row((es_dtype)10 /* Q2_K */, out, dst, 256);
        CHECK(dst[0] == 0xab && dst[255] == 0xab);
    }
}

static void test_quantize_known_blocks(void) {
    TEST("Q4_0: quantising a chosen block gives hand-computed bytes") {
        /* Largest magnitude -8 -> d = -8 / -8 = 1 (half 0x3c00), code = trunc(x + 8.5) */
        float x[32] = {-8, 7, 0, 1.4f, 1.5f, -0.5f, 7.6f, -7.9f};
        x[16] = 3.3f, x[31] = -2.5f;
        uint8_t got[18];
        es_quantize_row(ES_Q4_0, x, got, 32);
        /* codes: 0, 15, 8, 9, 10, 8, 15 (16 clamped), 0, then 8 for the zeros;
         * high nibbles: element 16 -> 11, element 31 -> 6, the zeros 8 */
        static const uint8_t want[18] = {0x00, 0x3c, 0xb0, 0x8f, 0x88, 0x89, 0x8a, 0x88, 0x8f, 0x80,
                                         0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x68};
        CHECK(memcmp(got, want, 18) == 0);
        /* positive max 4 -> d = -0.5 (0xb800); -4 would be code 16: clamped to 15 (-3.5) */
        float y[32] = {4, -4, 1, -1};
        es_quantize_row(ES_Q4_0, y, got, 32);
        static const uint8_t want_y[18] = {0x00, 0xb8, 0x80, 0x8f, 0x86, 0x8a, 0x88, 0x88, 0x88,
                                           0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88};
        CHECK(memcmp(got, want_y, 18) == 0);
    }
    TEST("Q8_0: quantising a chosen block gives hand-computed bytes") {
        /* max |x| = 127 -> d = 1 (half 0x3c00), q = round(x), ties away from 0 */
        float x[32] = {127, -127, 2.5f, -2.5f, 0.49f, -100.4f};
        uint8_t got[34];
        es_quantize_row(ES_Q8_0, x, got, 32);
        uint8_t want[34] = {0x00, 0x3c, 0x7f, 0x81, 0x03, 0xfd, 0x00, 0x9c};
        CHECK(memcmp(got, want, 34) == 0);
    }
    TEST("Q8_0 / Q4_0: all-zero blocks") {
        float zero[32] = {0};
        uint8_t q8[34], q4[18];
        float back[32];
        es_quantize_row(ES_Q8_0, zero, q8, 32);
        es_quantize_row(ES_Q4_0, zero, q4, 32);
        CHECK(q8[0] == 0 && q8[1] == 0);
        CHECK(q4[0] == 0 && q4[1] == 0x80); /* d = max / -8 = 0 / -8 = -0, as GGML stores it */
        for (int j = 0; j < 32; j++) CHECK(q8[2 + j] == 0);
        for (int j = 0; j < 16; j++) CHECK(q4[2 + j] == 0x88); /* code 8 = value 0 */
        es_dequantize_row(ES_Q4_0, q4, back, 32);
        for (int j = 0; j < 32; j++) CHECK(back[j] == 0.0f);
    }
}

/* Largest error allowed for element x of a block with F32 scale d and
 * stored (f16) scale dh: rounding to the grid costs |d|/2 (Q4_0's top code
 * clamps 8 to 7, so there it is |d|), the f16 rounding of d costs
 * |code| * |d - dh|, and the F32 arithmetic a few ulps of |d| and |x|. */
static double q_bound(double x, double d, double dh, int q4) {
    double grid = q4 && x / d > 7.5 ? fabs(d) : fabs(d) / 2;
    return grid + (q4 ? 8 : 127) * fabs(d - dh) + 1e-6 * (fabs(d) + fabs(x));
}

/* Quantises one block of 32, returns the worst excess of error over bound. */
static double q_block_excess(es_dtype type, const float *x) {
    uint8_t blk[34];
    double deq[32], d = 0, excess = -INFINITY;
    es_quantize_row(type, x, blk, 32);
    ref_dequant(type, blk, 32, deq);
    for (int j = 0; j < 32; j++) { /* d by the rule in quant.c's header, in F32 */
        if (type == ES_Q8_0) d = fmax(d, fabsf(x[j]) / 127.0f);
        else if (fabs(x[j]) > fabs(d * -8.0)) d = x[j] / -8.0f;
    }
    for (int j = 0; j < 32; j++)
        excess = fmax(excess, fabs(x[j] - deq[j]) - q_bound(x[j], d, ref_half(u16_at(blk)), type == ES_Q4_0));
    return excess;
}

static void test_quantize_error(void) {
    TEST("Q8_0 / Q4_0: quantisation error within the grid bound") {
        rng r = {4};
        float x[32];
        for (int t = 0; t < 2; t++) {
            es_dtype type = t ? ES_Q4_0 : ES_Q8_0;
            for (int blk = 0; blk < 3000; blk++) {
                float scale = ldexpf(1.0f, blk % 24 - 12); /* 2^-12 .. 2^11 */
                for (int j = 0; j < 32; j++) x[j] = rng_uniform(&r, -scale, scale);
                double e = q_block_excess(type, x);
                CHECKF(e <= 0, "%s block %d: error over bound by %g", es_dtype_name(type), blk, e);
            }
            /* one huge value among small ones: they collapse to 0, it survives */
            for (int j = 0; j < 32; j++) x[j] = rng_uniform(&r, -1e-3f, 1e-3f);
            x[13] = t ? -3e4f : 5e4f;
            CHECK(q_block_excess(type, x) <= 0);
            float back[32];
            uint8_t blk[34];
            es_quantize_row(type, x, blk, 32);
            es_dequantize_row(type, blk, back, 32);
            CHECKF(fabsf(back[13] - x[13]) <= fabsf(x[13]) * (t ? 1e-3f : 5e-3f), "%g -> %g", x[13],
                   back[13]);
            CHECK(back[0] == 0.0f && back[31] == 0.0f);
        }
    }
    TEST("Q8_0 / Q4_0: non-finite input does not crash") {
        float x[32] = {NAN, INFINITY, -1, 2};
        uint8_t blk[34];
        es_quantize_row(ES_Q4_0, x, blk, 32); /* under UBSan: no undefined float -> int cast */
        es_quantize_row(ES_Q8_0, x, blk, 32);
        CHECK(u16_at(blk) == 0x7c00); /* d = inf / 127, so 1 / d = 0 and every code is 0 */
        for (int j = 0; j < 32; j++) CHECK(blk[2 + j] == 0);
    }
    TEST("F16 / BF16 / F32 rows quantise element by element") {
        float x[5] = {1.0f, -0x1.002p0f, 65520.0f, 1e-8f, 0x1.01p0f}, back[5];
        uint8_t buf[20];
        es_quantize_row(ES_F16, x, buf, 5);
        for (int i = 0; i < 5; i++) CHECK(u16_at(buf + 2 * i) == es_f32_to_f16(x[i]));
        es_quantize_row(ES_BF16, x, buf, 5);
        for (int i = 0; i < 5; i++) CHECK(u16_at(buf + 2 * i) == es_f32_to_bf16(x[i]));
        es_quantize_row(ES_F32, x, buf, 5);
        es_dequantize_row(ES_F32, buf, back, 5);
        CHECK(memcmp(x, back, sizeof x) == 0);
    }
}

/* ---- matrix products -------------------------------------------------- */

/* A random weight matrix in storage form, and its dequantised values. */
typedef struct test_weights {
    es_tensor t;
    uint8_t *alloc; /* t.data points into this, maybe at an odd address */
    double *deq;    /* (rows, cols), independently dequantised */
} test_weights;

static test_weights make_weights(es_dtype type, int64_t cols, int64_t rows, int odd_address, rng *r) {
    test_weights w = {{type, {cols, rows}, NULL}, NULL, NULL};
    size_t row_bytes = (size_t)es_dtype_row_bytes(type, cols);
    float *row = malloc((size_t)cols * sizeof *row);
    w.alloc = malloc(row_bytes * (size_t)rows + 1);
    w.deq = malloc((size_t)(cols * rows) * sizeof *w.deq);
    uint8_t *data = w.alloc + (odd_address ? 1 : 0);
    for (int64_t i = 0; i < rows; i++) {
        float scale = 0.25f + (float)(i % 7); /* rows of different magnitudes */
        for (int64_t c = 0; c < cols; c++) row[c] = rng_uniform(r, -scale, scale);
        es_quantize_row(type, row, data + (size_t)i * row_bytes, cols);
    }
    ref_dequant(type, data, cols * rows, w.deq);
    w.t.data = data;
    free(row);
    return w;
}

static void free_weights(test_weights *w) {
    free(w->alloc);
    free(w->deq);
}

/* ---- 8-bit activations: the reference rule ----------------------------
 * Written from the rule in kernels_internal.h, not from the code: per 32
 * elements d = max|x| / 127 in F32, id = 1 / d in F32 (0 when d is 0), q =
 * the F32 product x * id rounded to nearest even (rint in double, which
 * holds that float exactly). The quantised types' products are checked
 * against a double product with these activations, d * q. */

static int uses_q8_activations(es_dtype type) {
    return type == ES_Q8_0 || type == ES_Q4_0 || type == ES_Q4_K || type == ES_Q5_K || type == ES_Q6_K;
}

/* xhat[i] = d * q of the rule (exact in double); step[i] = the d of i's block. */
static void ref_q8_activations(const float *x, int64_t n, double *xhat, double *step) {
    for (int64_t k = 0; k < n / 32; k++) {
        float amax = 0.0f;
        for (int i = 0; i < 32; i++) amax = fmaxf(amax, fabsf(x[32 * k + i]));
        float d = amax / 127.0f, id = d > 0 ? 1.0f / d : 0.0f;
        for (int i = 0; i < 32; i++) {
            float prod = x[32 * k + i] * id;
            xhat[32 * k + i] = (double)d * rint((double)prod);
            step[32 * k + i] = d;
        }
    }
}

static void test_q8_activations(void) {
    TEST("8-bit activations: quantiser bytes follow the rule (both versions), ties, zeros, inf/NaN") {
        enum { N = 32 * 7 };
        rng r = {12};
        float x[N];
        for (int i = 0; i < N; i++) x[i] = rng_uniform(&r, -3, 3) * (float)(1 + i / 32);
        for (int i = 32; i < 64; i++) x[i] = 0;              /* block 1: all zero */
        x[64] = 127, x[65] = 2.5f, x[66] = -3.5f, x[67] = 0.5f; /* block 2: d = 1, ties to even */
        for (int i = 68; i < 96; i++) x[i] = 0;
        x[100] = INFINITY;                                   /* block 3 */
        x[140] = NAN;                                        /* block 4 */
        int64_t bytes = es_q8_row_bytes(N);
        CHECK_INT(bytes, 320); /* 224 codes + 28 scale bytes + 28 sum bytes, to 64 */
        uint8_t *a = aligned_alloc(64, (size_t)bytes), *b = aligned_alloc(64, (size_t)bytes);
        memset(a, 0, (size_t)bytes), memset(b, 0, (size_t)bytes);
        es_quantize_q8_row(x, N, a);
        double xhat[N], step[N];
        ref_q8_activations(x, N, xhat, step);
        const int8_t *q = (const int8_t *)a;
        const float *d = es_q8_scales(a, N);
        const int16_t *sums = es_q8_sums(a, N);
        for (int k = 0; k < N / 32; k++) {
            int s[2] = {0, 0};
            for (int i = 0; i < 32; i++) s[i / 16] += q[32 * k + i];
            CHECKF(sums[2 * k] == s[0] && sums[2 * k + 1] == s[1], "block %d sums", k);
            if (k == 3 || k == 4) {
                CHECKF(isnan(d[k]), "block %d: a non-finite input gives d NaN, not %g", k, d[k]);
                for (int i = 0; i < 32; i++) CHECK(q[32 * k + i] == 0);
                continue;
            }
            CHECKF(d[k] == (float)step[32 * k], "block %d: d %g, want %g", k, d[k], step[32 * k]);
            for (int i = 0; i < 32; i++)
                CHECKF((double)d[k] * q[32 * k + i] == xhat[32 * k + i], "element %d: %d", 32 * k + i, q[32 * k + i]);
        }
        CHECK(d[1] == 0 && q[40] == 0);
        CHECK(d[2] == 1 && q[64] == 127 && q[65] == 2 && q[66] == -4 && q[67] == 0);
        for (int v = 0; v < 2; v++) { /* the SIMD versions: the same bytes */
            if (!es_isa_available(v ? ES_ISA_AVX512 : ES_ISA_AVX2)) continue;
            void (*simd)(const float *, int64_t, uint8_t *) = v ? es_quantize_q8_row_avx512 : es_quantize_q8_row_avx2;
            es_quantize_q8_row(x, N, a);
            simd(x, N, b);
            CHECKF(memcmp(a, b, (size_t)(N + 6 * N / 32)) == 0, "%s differs", v ? "avx512" : "avx2");
            for (int t = 0; t < 200; t++) { /* random rows of random magnitudes */
                float y[64];
                float scale = ldexpf(1, (int)(rng_next(&r) % 40) - 20);
                for (int i = 0; i < 64; i++) y[i] = rng_uniform(&r, -scale, scale);
                es_quantize_q8_row(y, 64, a);
                simd(y, 64, b);
                CHECKF(memcmp(a, b, 64 + 6 * 2) == 0, "%s row %d (scale %g): the versions differ",
                       v ? "avx512" : "avx2", t, scale);
            }
        }
        free(a), free(b);
    }
}

/* ref[b][r] = sum_c w[r][c] x[b][c] in double; mag[b][r] = sum_c |w x|.
 * For the quantised types x is first replaced by the rule's d * q; then
 * qbound[b][r] = sum_c |w| (d / 2 + |x| 2^-22) bounds how far that moves the
 * product (|x - d q| <= d / 2, plus the rounding of x * id), and raw[b][r]
 * is the product with the unquantised x. */
static void ref_matmul(const test_weights *w, const float *x, int n_batch, double *ref, double *mag,
                       double *raw, double *qbound) {
    int64_t cols = w->t.ne[0], rows = w->t.ne[1];
    int q8 = uses_q8_activations(w->t.type);
    double *xhat = malloc((size_t)cols * sizeof *xhat), *step = malloc((size_t)cols * sizeof *step);
    for (int b = 0; b < n_batch; b++) {
        const float *xb = x + b * cols;
        if (q8) ref_q8_activations(xb, cols, xhat, step);
        for (int64_t c = 0; c < cols; c++) {
            if (!q8) xhat[c] = xb[c], step[c] = 0;
        }
        for (int64_t r = 0; r < rows; r++) {
            double s = 0, m = 0, s_raw = 0, qb = 0;
            for (int64_t c = 0; c < cols; c++) {
                double wc = w->deq[r * cols + c];
                s += wc * xhat[c];
                m += fabs(wc * xhat[c]);
                s_raw += wc * xb[c];
                qb += fabs(wc) * (step[c] / 2 + fabs(xb[c]) * 0x1p-22);
            }
            ref[b * rows + r] = s;
            mag[b * rows + r] = m;
            raw[b * rows + r] = s_raw;
            qbound[b * rows + r] = qb;
        }
    }
    free(xhat);
    free(step);
}

/* Tolerance of a product against the double reference, relative to
 * sum |w x|: an F32 sum of k terms is off by at most about k * 2^-24 of it,
 * and the longest chain of additions in any ISA's order, for the longest
 * rows tested (2080 elements split over >= 8 partial sums), is ~270 terms.
 * The integer paths add per 32-element block one rounding of the scale
 * product and one of the scaled block sum, well inside it. */
#define MATMUL_TOL 2e-5

#define MAX_BATCH 9

typedef struct matmul_stats { double worst[N_ISAS], worst_raw[N_ISAS]; } matmul_stats;

typedef struct matmul_ref {
    const double *ref, *mag, *raw, *qbound; /* (MAX_BATCH, rows) each, from ref_matmul */
} matmul_ref;

/* One weight shape on one ISA: every output against the reference, then
 * every batch size bit for bit against one-row calls. */
static void check_shape_isa(const test_weights *w, const float *x, const matmul_ref *rf, int isa_i,
                            matmul_stats *st) {
    static const int batches[] = {1, 2, 5, MAX_BATCH};
    es_isa isa = all_isas[isa_i];
    int64_t cols = w->t.ne[0], rows = w->t.ne[1];
    float *single = malloc((size_t)(MAX_BATCH * rows) * sizeof *single);
    float *y = malloc((size_t)(MAX_BATCH * rows) * sizeof *y);
    const char *what = es_dtype_name(w->t.type);
    /* every ISA rounds the activations of quantised types to 8 bits (integer row dots); F32/F16/BF16 stay float */
    int q8 = es_isa_rounds_activations(isa, w->t.type);
    for (int b = 0; b < MAX_BATCH; b++) es_matmul_isa(isa, &w->t, x + b * cols, 1, single + b * rows, 1);
    int bad = 0;
    for (int64_t i = 0; i < MAX_BATCH * rows && bad < 3; i++) {
        double want = q8 ? rf->ref[i] : rf->raw[i];
        double err = fabs(single[i] - want) / rf->mag[i];
        double raw_err = fabs(single[i] - rf->raw[i]);
        if (err > st->worst[isa_i]) st->worst[isa_i] = err;
        if (q8 && raw_err / rf->qbound[i] > st->worst_raw[isa_i]) st->worst_raw[isa_i] = raw_err / rf->qbound[i];
        if (!(err <= MATMUL_TOL) || !(raw_err <= rf->qbound[i] + MATMUL_TOL * rf->mag[i])) {
            bad++;
            test_fail(__FILE__, __LINE__, "%s %s %lldx%lld out %lld: %.9g, want %.9g (unquantised %.9g)",
                      es_isa_name(isa), what, (long long)rows, (long long)cols, (long long)i, single[i], want,
                      rf->raw[i]);
        }
    }
    for (int bi = 0; bi < 4; bi++) {
        es_matmul_isa(isa, &w->t, x, batches[bi], y, 1);
        CHECKF(memcmp(y, single, (size_t)(batches[bi] * rows) * sizeof *y) == 0,
               "%s %s %lldx%lld batch %d: differs from one-row calls", es_isa_name(isa), what,
               (long long)rows, (long long)cols, batches[bi]);
    }
    free(single);
    free(y);
}

static void test_matmul_type(es_dtype type) {
    /* 7 and 47 (F32/F16/BF16 only) leave a tail past the last 32-element chunk */
    static const int64_t col_sizes[] = {7, 32, 47, 64, 96, 2048 + 32};
    static const int64_t row_sizes[] = {1, 3, 17, 257};
    char name[128];
    snprintf(name, sizeof name, "matmul %s: every ISA, shape, batch 1-9 vs double reference",
             es_dtype_name(type));
    TEST(name) {
        rng r = {100 + (uint64_t)type};
        matmul_stats st = {{0}, {0}};
        for (int ci = 0; ci < 6; ci++)
            for (int ri = 0; ri < 4; ri++) {
                int64_t cols = col_sizes[ci], rows = row_sizes[ri];
                if (cols % es_dtype_block_size(type) != 0) continue;
                if (cols > 96 && rows > 17) continue; /* 5x the rest together, and adds no case */
                test_weights w = make_weights(type, cols, rows, cols == 96, &r);
                float *x = malloc((size_t)(MAX_BATCH * cols) * sizeof *x);
                size_t n_out = (size_t)(MAX_BATCH * rows);
                double *ref = malloc(n_out * sizeof *ref), *mag = malloc(n_out * sizeof *mag);
                double *raw = malloc(n_out * sizeof *raw), *qbound = malloc(n_out * sizeof *qbound);
                for (int64_t i = 0; i < MAX_BATCH * cols; i++) x[i] = rng_uniform(&r, -2, 2);
                ref_matmul(&w, x, MAX_BATCH, ref, mag, raw, qbound);
                matmul_ref rf = {ref, mag, raw, qbound};
                for (int k = 0; k < N_ISAS; k++)
                    if (es_isa_available(all_isas[k])) check_shape_isa(&w, x, &rf, k, &st);
                free(x);
                free(ref), free(mag), free(raw), free(qbound);
                free_weights(&w);
            }
        printf("  %s worst error / sum|wx|:", es_dtype_name(type));
        for (int k = 0; k < N_ISAS; k++)
            if (es_isa_available(all_isas[k])) printf(" %s %.2g", es_isa_name(all_isas[k]), st.worst[k]);
        if (uses_q8_activations(type)) {
            printf("; vs unquantised x, / bound:");
            for (int k = 0; k < N_ISAS; k++)
                if (es_isa_available(all_isas[k]) && st.worst_raw[k] > 0)
                    printf(" %s %.2g", es_isa_name(all_isas[k]), st.worst_raw[k]);
        }
        printf("\n");
    }
}

/* Few shapes, chosen for uneven splits (17 rows: tiles of 12 + 5; 2080
 * columns of F32: tiles of 7, 7, 3), because on a busy machine every
 * parallel region can cost milliseconds (idle OpenMP workers spin). */
static void test_matmul_threads(void) {
    TEST("matmul: 2 threads bit-identical to 1, every type and ISA, batch 1 and 9") {
        static const int64_t shapes[2][2] = {{96, 17}, {2048 + 32, 17}};
        rng r = {11};
        for (int t = 0; t < N_TYPES; t++)
            for (int s = 0; s < 2; s++) {
                int64_t cols = shapes[s][0], rows = shapes[s][1];
                test_weights w = make_weights(all_types[t], cols, rows, 0, &r);
                float *x = malloc((size_t)(MAX_BATCH * cols) * sizeof *x);
                float y1[MAX_BATCH * 17], y2[MAX_BATCH * 17];
                for (int64_t i = 0; i < MAX_BATCH * cols; i++) x[i] = rng_uniform(&r, -2, 2);
                for (int k = 0; k < N_ISAS; k++)
                    for (int batch = 1; batch <= MAX_BATCH; batch += MAX_BATCH - 1) {
                        if (!es_isa_available(all_isas[k])) continue;
                        es_matmul_isa(all_isas[k], &w.t, x, batch, y1, 1);
                        es_matmul_isa(all_isas[k], &w.t, x, batch, y2, 2);
                        CHECKF(memcmp(y1, y2, (size_t)(batch * rows) * sizeof *y1) == 0,
                               "%s %s %lld cols batch %d: 2 threads differ from 1", es_isa_name(all_isas[k]),
                               es_dtype_name(all_types[t]), (long long)cols, batch);
                    }
                free(x);
                free_weights(&w);
            }
    }
}

static void test_matmul(void) {
    TEST("ISA selection: unavailable paths fall back, with a message") {
        CHECK_INT(es_isa_resolve(ES_ISA_PORTABLE), ES_ISA_PORTABLE);
        CHECK(es_isa_available(es_isa_resolve(ES_ISA_BEST)));
        CHECK(es_isa_available(es_isa_resolve(ES_ISA_AVX512)));
        CHECK_STR(es_isa_name(ES_ISA_AVX2), "avx2");
        for (int k = 0; k < N_ISAS; k++)
            if (!es_isa_available(all_isas[k])) {
                char why[96];
                snprintf(why, sizeof why, "this CPU lacks %s: its kernels are not tested",
                         es_isa_name(all_isas[k]));
                test_skip(why);
            }
        printf("  kernels use %s\n", es_isa_name(es_isa_resolve(ES_ISA_BEST)));
    }
    for (int t = 0; t < N_TYPES; t++) test_matmul_type(all_types[t]);
    test_matmul_threads();
}

static void test_matmul_entry_points(void) {
    TEST("es_matvec == es_matmul batch 1 == best ISA, bit for bit; any thread count") {
        rng r = {7};
        test_weights w = make_weights(ES_Q8_0, 256, 300, 0, &r);
        float x[3 * 256], y1[3 * 300], y2[3 * 300], y3[3 * 300];
        for (int i = 0; i < 3 * 256; i++) x[i] = rng_uniform(&r, -1, 1);
        es_matvec(&w.t, x, y1, 1);
        es_matmul(&w.t, x, 1, y2, 2);
        es_matmul_isa(ES_ISA_BEST, &w.t, x, 1, y3, 1);
        CHECK(memcmp(y1, y2, 300 * sizeof *y1) == 0 && memcmp(y1, y3, 300 * sizeof *y1) == 0);
        es_matmul(&w.t, x, 3, y1, 1);
        for (int threads = 3; threads <= 7; threads += 2) {
            es_matmul(&w.t, x, 3, y2, threads);
            CHECKF(memcmp(y1, y2, sizeof y1) == 0, "%d threads differ from 1", threads);
        }
        free_weights(&w);
    }
    TEST("matmul: unsupported type or partial block gives NaN, empty shapes do nothing") {
        uint8_t data[512] = {0};
        float x[256] = {0}, y[4] = {1, 1, 1, 1};
        es_tensor k = {(es_dtype)10 /* Q2_K */, {256, 2}, data};
        es_matvec(&k, x, y, 1);
        CHECK(isnan(y[0]) && isnan(y[1]) && y[2] == 1);
        es_tensor partial = {ES_Q8_0, {40, 1}, data};
        es_matvec(&partial, x, y, 2);
        CHECK(isnan(y[0]));
        es_tensor none = {ES_F32, {0, 2}, data};
        es_matvec(&none, x, y, 1);
        CHECK(y[0] == 0 && y[1] == 0); /* a sum of no terms */
        y[0] = 1;
        es_matmul(&none, x, 0, y, 1);
        CHECK(y[0] == 1);
    }
    TEST("es_dot_f32: every ISA and length vs double reference") {
        static const int lens[] = {0, 1, 7, 31, 32, 33, 100, 1000};
        rng r = {8};
        float a[1000], b[1000];
        for (int i = 0; i < 1000; i++) a[i] = rng_uniform(&r, -3, 3), b[i] = rng_uniform(&r, -3, 3);
        for (int k = 0; k < N_ISAS; k++)
            for (int li = 0; li < 8; li++) {
                double ref = 0, mag = 0;
                for (int i = 0; i < lens[li]; i++) {
                    ref += (double)a[i] * b[i];
                    mag += fabs((double)a[i] * b[i]);
                }
                float got = es_dot_f32_isa(all_isas[k], a, b, lens[li]);
                CHECKF(fabs(got - ref) <= MATMUL_TOL * mag, "%s n %d: %g, want %g", es_isa_name(all_isas[k]),
                       lens[li], got, ref);
            }
        CHECK(es_dot_f32(a, b, 100) == es_dot_f32_isa(ES_ISA_BEST, a, b, 100));
    }
    TEST("es_dot_f32_rows: every ISA, strided rows vs double reference, bit for bit es_dot_f32 of the ISA") {
        /* rows not a multiple of the blocks (4, 16); rows of a tail only, a chunk and a tail, whole
         * chunks (64, 128: head sizes); a zero row (-0 sums), an inf and a NaN */
        enum { ROWS = 37, STRIDE = 136, MAXN = 128 };
        static const int lens[] = {8, 32, 40, 64, 100, 128};
        rng r = {9};
        static float q[MAXN], keys[ROWS * STRIDE];
        float out[ROWS];
        for (int i = 0; i < MAXN; i++) q[i] = rng_uniform(&r, -2, 2);
        for (int i = 0; i < ROWS * STRIDE; i++) keys[i] = rng_uniform(&r, -2, 2);
        for (int i = 0; i < MAXN; i++) keys[5 * STRIDE + 8 + i] = i % 2 ? -0.0f : 0.0f;
        keys[20 * STRIDE + 8 + 3] = INFINITY, keys[33 * STRIDE + 8 + 30] = NAN;
        for (int s = 0; s < 3; s++)
        for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
            const int n = lens[li];
            for (int n_rows = 1; n_rows <= ROWS; n_rows += 5) {
                es_dot_f32_rows_isa(all_isas[s], q, keys + 8, STRIDE, n_rows, n, out);
                for (int t = 0; t < n_rows; t++) {
                    const float *k = keys + t * STRIDE + 8;
                    double ref = 0, mag = 0;
                    for (int i = 0; i < n; i++) ref += (double)q[i] * k[i], mag += fabs((double)q[i] * k[i]);
                    float one = es_dot_f32_isa(all_isas[s], q, k, n);
                    if (!isnan(ref) && !isinf(ref))
                        CHECKF(fabs(out[t] - ref) <= MATMUL_TOL * mag, "%s n %d row %d: %g, want %g",
                               es_isa_name(all_isas[s]), n, t, out[t], ref);
                    CHECKF(memcmp(&out[t], &one, sizeof one) == 0 || (isnan(out[t]) && isnan(one)),
                           "%s n %d rows %d, row %d: %.9g, es_dot_f32 %.9g", es_isa_name(all_isas[s]), n, n_rows, t,
                           out[t], one);
                }
            }
        }
    }
    TEST("AVX2 integer row dots (Q8_0, Q4_0): bit for bit the portable integer path") {
        enum { COLS = 2048 + 64, ROWS = 13, NB = 5 };
        if (!es_isa_available(ES_ISA_AVX2)) {
            test_skip("this CPU has no AVX2");
            continue;
        }
        static const es_dtype types[] = {ES_Q8_0, ES_Q4_0};
        rng r = {77};
        static float w_f32[ROWS * COLS], x[NB * COLS], y_portable[NB * ROWS], y_avx2[NB * ROWS];
        for (int i = 0; i < ROWS * COLS; i++) w_f32[i] = rng_uniform(&r, -1, 1);
        for (int i = 0; i < NB * COLS; i++) x[i] = rng_uniform(&r, -4, 4);
        x[3] = -4.0f, x[40] = 127.0f; /* a block with a large element, codes at the ends */
        for (size_t t = 0; t < 2; t++) {
            int64_t row_bytes = es_dtype_row_bytes(types[t], COLS);
            uint8_t *data = malloc((size_t)(ROWS * row_bytes));
            for (int i = 0; i < ROWS; i++) es_quantize_row(types[t], w_f32 + i * COLS, data + i * row_bytes, COLS);
            data[2] = (uint8_t)-128; /* a Q8_0 code of -128 (the sign trick's edge) */
            es_tensor w = {types[t], {COLS, ROWS}, data};
            CHECK(es_isa_rounds_activations(ES_ISA_AVX2, types[t]) && es_isa_rounds_activations(ES_ISA_PORTABLE, types[t]));
            es_matmul_isa(ES_ISA_PORTABLE, &w, x, NB, y_portable, 1);
            es_matmul_isa(ES_ISA_AVX2, &w, x, NB, y_avx2, 2);
            CHECKF(memcmp(y_portable, y_avx2, sizeof y_avx2) == 0, "%s: AVX2 differs from portable",
                   es_dtype_name(types[t]));
            free(data);
        }
        CHECK(es_isa_rounds_activations(ES_ISA_AVX2, ES_Q4_K) && !es_isa_rounds_activations(ES_ISA_AVX2, ES_F16));
    }
    TEST("es_weighted_rows: every ISA and width vs double reference; columns and row blocks independent") {
        enum { ROWS = 37, STRIDE = 160 };
        static const int widths[] = {1, 15, 16, 64, 80, 128, 150};
        rng r = {10};
        static float p[ROWS], values[ROWS * STRIDE], out[STRIDE], wide[STRIDE];
        for (int t = 0; t < ROWS; t++) p[t] = rng_uniform(&r, 0, 1);
        for (int i = 0; i < ROWS * STRIDE; i++) values[i] = rng_uniform(&r, -3, 3);
        for (int k = 0; k < 3; k++)
            for (size_t wi = 0; wi < sizeof widths / sizeof widths[0]; wi++) {
                int n = widths[wi];
                es_weighted_rows_isa(all_isas[k], p, values + 4, STRIDE, ROWS, n, out);
                for (int d = 0; d < n; d++) {
                    double ref = 0, mag = 0;
                    for (int t = 0; t < ROWS; t++) {
                        ref += (double)p[t] * values[t * STRIDE + 4 + d];
                        mag += fabs((double)p[t] * values[t * STRIDE + 4 + d]);
                    }
                    CHECKF(fabs(out[d] - ref) <= MATMUL_TOL * mag, "%s n %d d %d: %g, want %g",
                           es_isa_name(all_isas[k]), n, d, out[d], ref);
                }
                /* an element's value does not depend on how many columns are asked for */
                es_weighted_rows_isa(all_isas[k], p, values + 4, STRIDE, ROWS, 150, wide);
                CHECK(memcmp(out, wide, (size_t)n * sizeof(float)) == 0 || n > 128);
                /* nor on how the rows are split into a first call and continuing ones */
                for (int split = 1; split < ROWS; split += 9) {
                    es_weighted_rows_isa(all_isas[k], p, values + 4, STRIDE, split, n, wide);
                    for (int t0 = split; t0 < ROWS; t0 += 5)
                        es_weighted_rows_add_isa(all_isas[k], p + t0, values + 4 + (size_t)t0 * STRIDE, STRIDE,
                                                 ROWS - t0 < 5 ? ROWS - t0 : 5, n, wide);
                    CHECKF(memcmp(out, wide, (size_t)n * sizeof(float)) == 0, "%s n %d: split at %d differs",
                           es_isa_name(all_isas[k]), n, split);
                }
            }
        es_weighted_rows(p, values, STRIDE, 0, 8, out); /* no rows: zeros */
        CHECK(out[0] == 0.0f && out[7] == 0.0f);
        /* AVX2 and AVX-512 chain the same fused multiply-adds: the same bits */
        if (es_isa_available(ES_ISA_AVX512))
            for (size_t wi = 0; wi < sizeof widths / sizeof widths[0]; wi++) {
                es_weighted_rows_isa(ES_ISA_AVX2, p, values + 4, STRIDE, ROWS, widths[wi], out);
                es_weighted_rows_isa(ES_ISA_AVX512, p, values + 4, STRIDE, ROWS, widths[wi], wide);
                CHECKF(memcmp(out, wide, (size_t)widths[wi] * sizeof(float)) == 0, "n %d: AVX2 != AVX-512",
                       widths[wi]);
            }
    }
}

/* ---- vector operations ------------------------------------------------ */

static void test_vector_ops(void) {
    TEST("rmsnorm vs double reference, also in place") {
        static const int lens[] = {1, 7, 64, 1000};
        rng r = {9};
        float x[1000], wt[1000], out[1000];
        for (int li = 0; li < 4; li++) {
            int n = lens[li];
            for (int i = 0; i < n; i++) x[i] = rng_uniform(&r, -5, 5), wt[i] = rng_uniform(&r, 0.5f, 1.5f);
            double ss = 0;
            for (int i = 0; i < n; i++) ss += (double)x[i] * x[i];
            double inv = 1 / sqrt(ss / n + 1e-5);
            es_rmsnorm(out, x, wt, n, 1e-5f);
            for (int i = 0; i < n; i++) CHECK_NEAR(out[i], x[i] * inv * wt[i], 1e-6);
            es_rmsnorm(x, x, wt, n, 1e-5f);
            CHECK(memcmp(x, out, (size_t)n * sizeof *x) == 0);
        }
        float zero[4] = {0}, one[4] = {1, 1, 1, 1};
        es_rmsnorm(out, zero, one, 4, 1e-5f); /* eps keeps it finite */
        CHECK(out[0] == 0 && out[3] == 0);
    }
    TEST("softmax vs double reference: ordinary, huge, -inf, all -inf") {
        float x[6][5] = {{1, 2, 3, 4, 5},
                         {1e30f, -1e30f, 3e38f, -3e38f, 0},
                         {-INFINITY, 0, -INFINITY, 1, -1e30f},
                         {88, 89, -88, 100, 100},
                         {-INFINITY, -INFINITY, -INFINITY, -INFINITY, -INFINITY},
                         {7, 7, 7, 7, 7}};
        for (int k = 0; k < 6; k++) {
            double max = -INFINITY, sum = 0, ref[5];
            for (int i = 0; i < 5; i++) max = fmax(max, x[k][i]);
            for (int i = 0; i < 5; i++) sum += ref[i] = isinf(max) ? 1 : exp((double)x[k][i] - max);
            es_softmax(x[k], 5);
            for (int i = 0; i < 5; i++)
                CHECKF(fabs(x[k][i] - ref[i] / sum) <= 1e-6 * ref[i] / sum + 1e-40, "row %d[%d]: %g, want %g",
                       k, i, x[k][i], ref[i] / sum);
        }
        CHECK(x[2][0] == 0 && x[1][1] == 0); /* -inf and far below the max: exactly 0 */
        float one = -5;
        es_softmax(&one, 1);
        CHECK(one == 1);
    }
    TEST("several queries at once (es_dot_f32_rows_multi, es_weighted_rows_multi): bit for bit one by one") {
        enum { ROWS = 37, STRIDE = 160, QS = 160, MAXQ = 6 }; /* QS: query and output stride, >= every n */
        static const int lens[] = {8, 40, 64, 100, 128, 150};
        rng r = {33};
        static float q[MAXQ * QS], rows[ROWS * STRIDE], got[MAXQ * QS], want[MAXQ * QS], p[MAXQ * ROWS];
        for (int i = 0; i < MAXQ * QS; i++) q[i] = rng_uniform(&r, -2, 2);
        for (int i = 0; i < ROWS * STRIDE; i++) rows[i] = rng_uniform(&r, -2, 2);
        for (int i = 0; i < MAXQ * ROWS; i++) p[i] = rng_uniform(&r, 0, 1);
        for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
            const int n = lens[li];
            for (int nq = 1; nq <= MAXQ; nq++) {
                for (int i = 0; i < 3; i++) {
                    es_dot_f32_rows_multi_isa(all_isas[i], q, QS, nq, rows + 4, STRIDE, ROWS, n, got, QS);
                    for (int k = 0; k < nq; k++)
                        es_dot_f32_rows_isa(all_isas[i], q + k * QS, rows + 4, STRIDE, ROWS, n, want + k * QS);
                    int same = 1;
                    for (int k = 0; k < nq; k++) same &= memcmp(got + k * QS, want + k * QS, ROWS * sizeof(float)) == 0;
                    CHECKF(same, "%s dot, n %d, %d queries", es_isa_name(all_isas[i]), n, nq);
                }
                for (int k = 0; k < 3; k++)
                    for (int add = 0; add < 2; add++) {
                        for (int i = 0; i < MAXQ * QS; i++) got[i] = want[i] = (float)i; /* what add continues */
                        es_weighted_rows_multi_isa(all_isas[k], p, ROWS, nq, rows + 4, STRIDE, ROWS, n, got, QS, add);
                        for (int h = 0; h < nq; h++)
                            (add ? es_weighted_rows_add_isa : es_weighted_rows_isa)(all_isas[k], p + h * ROWS, rows + 4,
                                                                                   STRIDE, ROWS, n, want + h * QS);
                        CHECKF(memcmp(got, want, sizeof got) == 0, "%s weighted, n %d, %d queries, add %d",
                               es_isa_name(all_isas[k]), n, nq, add);
                    }
            }
        }
    }
    TEST("es_exp_sums on every ISA: exp vs double, Z, A and B in the documented order, slices alike") {
        enum { N = 300 };
        rng r = {21};
        static float x[N], e[N], part[N];
        for (int i = 0; i < N; i++) x[i] = rng_uniform(&r, -40, 8);
        x[17] = 8.5f, x[250] = -200.0f, x[260] = -INFINITY; /* the max; an exp that underflows; a banned entry */
        static const int lens[] = {1, 7, 8, 15, 16, 17, 33, 255, 300};
        for (int isa = ES_ISA_PORTABLE; isa <= ES_ISA_AVX512; isa++)
            for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
                const int n = lens[li];
                float max = x[0];
                for (int i = 1; i < n; i++) max = x[i] > max ? x[i] : max;
                double ab[2];
                double z = es_exp_sums_isa((es_isa)isa, x, e, n, max, ab);
                double zs[8] = {0}, as[8] = {0}, bs[8] = {0};
                int exp_ok = 1;
                for (int i = 0; i < n; i++) {
                    float d = x[i] - max;
                    d = d < -FLT_MAX ? -FLT_MAX : d; /* the documented floor: a -inf adds 0 */
                    double want = exp((double)d), ed = (double)e[i] * d;
                    exp_ok &= fabs(e[i] - want) <= 1e-6 * want + 1e-44;
                    zs[i % 8] += e[i], as[i % 8] += ed, bs[i % 8] += ed * d;
                }
                CHECKF(exp_ok, "%s n %d: an exp off by more than 1e-6", es_isa_name((es_isa)isa), n);
                double zw = ((zs[0] + zs[4]) + (zs[2] + zs[6])) + ((zs[1] + zs[5]) + (zs[3] + zs[7]));
                double aw = ((as[0] + as[4]) + (as[2] + as[6])) + ((as[1] + as[5]) + (as[3] + as[7]));
                double bw = ((bs[0] + bs[4]) + (bs[2] + bs[6])) + ((bs[1] + bs[5]) + (bs[3] + bs[7]));
                CHECKF(z == zw && ab[0] == aw && ab[1] == bw, "%s n %d: Z %.17g A %.17g B %.17g, want %.17g %.17g %.17g",
                       es_isa_name((es_isa)isa), n, z, ab[0], ab[1], zw, aw, bw);
                if (n == N) { /* a NaN is not lost */
                    float nan_row[N];
                    memcpy(nan_row, x, sizeof nan_row);
                    nan_row[123] = NAN;
                    CHECK(isnan(es_exp_sums_isa((es_isa)isa, nan_row, NULL, n, max, ab)) && isnan(ab[0]) && isnan(ab[1]));
                }
                memcpy(part, x, n * sizeof(float)); /* in place, and without keeping the exponentials */
                CHECK(es_exp_sums_isa((es_isa)isa, part, part, n, max, NULL) == z && memcmp(part, e, n * sizeof(float)) == 0);
                CHECK(es_exp_sums_isa((es_isa)isa, x, NULL, n, max, NULL) == z);
                /* an element's exp does not depend on where it falls */
                for (int start = 1; start < 12 && start < n; start += 5) {
                    es_exp_sums_isa((es_isa)isa, x + start, part, n - start, max, NULL);
                    CHECKF(memcmp(part, e + start, (size_t)(n - start) * sizeof(float)) == 0,
                           "%s n %d: the slice from %d differs", es_isa_name((es_isa)isa), n, start);
                }
            }
    }
    TEST("swiglu vs double reference on every ISA: saturated ends, a vector tail, inf and NaN") {
        enum { N = 16 * 10 + 5 }; /* the fixed values and their negatives, a sweep, a tail of 5 */
        static const float fixed[8] = {-100, -20, -1, -0.5f, 0, 0.5f, 20, 100};
        float g[N], up[N], out[N];
        rng r = {7};
        for (int i = 0; i < N; i++) {
            g[i] = i < 8 ? fixed[i] : i < 16 ? -fixed[i % 8] : rng_uniform(&r, -30, 30);
            up[i] = rng_uniform(&r, -3, 3);
        }
        g[30] = INFINITY, g[31] = -INFINITY, g[32] = NAN, g[33] = -0.0f, g[34] = 88.8f, g[35] = -88.8f;
        for (int isa = ES_ISA_PORTABLE; isa <= ES_ISA_AVX512; isa++) {
            memset(out, 0, sizeof out);
            es_swiglu_isa((es_isa)isa, out, g, up, N);
            for (int i = 0; i < N; i++) {
                double want = isinf(g[i]) ? (g[i] > 0 ? INFINITY * up[i] : NAN) /* -inf / inf */
                                          : g[i] / (1 + exp(-(double)g[i])) * up[i];
                /* below g = -88.7 exp(-g) overflows F32: silu is 0 there, the true value under 1e-35 */
                int ok = isnan(want)   ? isnan(out[i])
                         : isinf(want) ? out[i] == want
                                       : fabs(out[i] - want) <= 1e-6 * fabs(want) + 1e-35;
                CHECKF(ok, "%s g[%d] %g: %g, want %g", es_isa_name((es_isa)isa), i, g[i], out[i], want);
            }
            CHECK(out[0] == 0 && !isnan(out[0])); /* silu(-100): exp(100) is inf in F32, 0 not NaN */
            /* an element's bits do not depend on where it falls (a tail or not): every start, length */
            float part[N];
            int same = 1;
            for (int start = 0; start < 20; start++)
                for (int len = 1; start + len <= N; len += 7) {
                    es_swiglu_isa((es_isa)isa, part, g + start, up + start, len);
                    same &= memcmp(part, out + start, (size_t)len * sizeof(float)) == 0;
                }
            CHECKF(same, "%s: a slice differs from the same elements in the whole", es_isa_name((es_isa)isa));
        }
    }
}

void suite_kernels(void) {
    test_dtype_table();
    test_half_roundtrip();
    test_half_rounding();
    test_dequant_known_blocks();
    test_quantize_known_blocks();
    test_quantize_error();
    test_q8_activations();
    test_matmul();
    test_matmul_entry_points();
    test_vector_ops();
}
