/* Tests of the K-quant types (Q4_K, Q5_K, Q6_K): dequantising, quantising
 * and the row dots of every instruction set. The reference here is written
 * from GGML's definition of the layouts (restated in tensor.h), not from
 * the code under test: a block decoder in double that walks the bytes the
 * way the format stores them, a block packer that builds blocks byte by byte
 * from chosen scales, mins and codes, and dot products summed in double.
 * Every value of these formats is a product of an f16, a small integer and
 * a code, exact in double, so decoded F32 values must match the reference
 * rounded once to F32, bit for bit. */
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

static double rng_unit(rng *r) { return ((rng_next(r) >> 11) + 0.5) * 0x1p-53; } /* (0, 1) */

static float rng_gauss(rng *r) { /* Box-Muller */
    return (float)(sqrt(-2 * log(rng_unit(r))) * cos(6.283185307179586 * rng_unit(r)));
}

static const es_dtype k_types[] = {ES_Q4_K, ES_Q5_K, ES_Q6_K};
#define N_K 3

static uint16_t u16_at(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); } /* little-endian */

static void put_u16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

/* IEEE half -> double, from the bit fields. */
static double ref_half(uint16_t h) {
    int e = (h >> 10) & 31, m = h & 1023;
    double v = e == 31 ? (m ? NAN : INFINITY) : e == 0 ? ldexp(m, -24) : ldexp(1024 + m, e - 25);
    return h & 0x8000 ? -v : v;
}

/* ---- the reference: GGML's layouts, in double ------------------------- */

/* Scale and min of sub-block j from the 12 packed bytes s of Q4_K/Q5_K. */
static void ref_scale_min(const uint8_t *s, int j, int *sc, int *m) {
    if (j < 4) {
        *sc = s[j] % 64;
        *m = s[j + 4] % 64;
    } else {
        *sc = s[j + 4] % 16 + 16 * (s[j - 4] / 64);
        *m = s[j + 4] / 16 + 16 * (s[j] / 64);
    }
}

/* Step and offset of sub-block j (its 32 elements are step * q - offset). */
static void ref_q45_grid(const uint8_t *blk, int j, double *step, double *offset) {
    int sc, m;
    ref_scale_min(blk + 4, j, &sc, &m);
    *step = ref_half(u16_at(blk)) * sc;
    *offset = ref_half(u16_at(blk + 2)) * m;
}

/* One super-block to 256 doubles, walking the stored bytes in order; if
 * mag is not NULL, mag[e] = |step * q| + |offset| of element e (Q6_K: the
 * offset is 32 steps), the size of the terms an integer kernel subtracts. */
static void ref_decode_block_mag(es_dtype type, const uint8_t *blk, double out[256], double *mag) {
    if (type == ES_Q6_K) {
        const uint8_t *ql = blk, *qh = blk + 128;
        double d = ref_half(u16_at(blk + 208));
        for (int h = 0; h < 2; h++)
            for (int l = 0; l < 32; l++) {
                int lo0 = ql[64 * h + l], lo1 = ql[64 * h + 32 + l], hi = qh[32 * h + l];
                int q[4] = {(lo0 & 15) | (hi & 3) << 4, (lo1 & 15) | (hi >> 2 & 3) << 4,
                            (lo0 >> 4) | (hi >> 4 & 3) << 4, (lo1 >> 4) | (hi >> 6 & 3) << 4};
                for (int k = 0; k < 4; k++) {
                    int e = 128 * h + 32 * k + l;
                    out[e] = d * (int8_t)blk[192 + e / 16] * (q[k] - 32);
                    if (mag) mag[e] = fabs(d * (int8_t)blk[192 + e / 16]) * (q[k] + 32);
                }
            }
        return;
    }
    int five = type == ES_Q5_K;
    const uint8_t *qh = blk + 16, *qs = blk + (five ? 48 : 16);
    for (int g = 0; g < 4; g++) { /* byte qs[32g + l] holds sub-blocks 2g (low) and 2g+1 (high) */
        double step0, off0, step1, off1;
        ref_q45_grid(blk, 2 * g, &step0, &off0);
        ref_q45_grid(blk, 2 * g + 1, &step1, &off1);
        for (int l = 0; l < 32; l++) {
            int q0 = qs[32 * g + l] & 15, q1 = qs[32 * g + l] >> 4;
            if (five) {
                q0 += qh[l] >> (2 * g) & 1 ? 16 : 0;
                q1 += qh[l] >> (2 * g + 1) & 1 ? 16 : 0;
            }
            out[64 * g + l] = step0 * q0 - off0;
            out[64 * g + 32 + l] = step1 * q1 - off1;
            if (mag) mag[64 * g + l] = fabs(step0 * q0) + fabs(off0);
            if (mag) mag[64 * g + 32 + l] = fabs(step1 * q1) + fabs(off1);
        }
    }
}

static void ref_decode_row_mag(es_dtype type, const uint8_t *row, int64_t n, double *out, double *mag) {
    for (int64_t i = 0; i < n / 256; i++)
        ref_decode_block_mag(type, row + i * es_dtype_block_bytes(type), out + 256 * i, mag ? mag + 256 * i : NULL);
}

static void ref_decode_row(es_dtype type, const uint8_t *row, int64_t n, double *out) {
    ref_decode_row_mag(type, row, n, out, NULL);
}

/* The 8-bit activations of the kernels (rule in kernels_internal.h),
 * written from the rule: per 32 elements d = max|x| / 127 in F32, id = 1 / d
 * in F32, q = the F32 product x * id rounded to nearest even; xhat = d * q. */
static void ref_q8_activations(const float *x, int64_t n, double *xhat) {
    for (int64_t k = 0; k < n / 32; k++) {
        float amax = 0.0f;
        for (int i = 0; i < 32; i++) amax = fmaxf(amax, fabsf(x[32 * k + i]));
        float d = amax / 127.0f, id = d > 0 ? 1.0f / d : 0.0f;
        for (int i = 0; i < 32; i++) {
            float prod = x[32 * k + i] * id;
            xhat[32 * k + i] = (double)d * rint((double)prod);
        }
    }
}

/* 1 if the F32 got is want rounded to F32 (NaN matching NaN). */
static int same_value(float got, double want) { return isnan(want) ? isnan(got) : got == (float)want; }

/* ---- the reference packer: blocks byte by byte ------------------------ */

/* A Q4_K/Q5_K block from halves d, dmin, 6-bit sc[8], m[8], codes q[256]. */
static void pack_q45(int five, uint16_t d, uint16_t dmin, const int sc[8], const int m[8], const int q[256],
                     uint8_t *blk) {
    memset(blk, 0, five ? 176 : 144);
    put_u16(blk, d);
    put_u16(blk + 2, dmin);
    uint8_t *s = blk + 4;
    for (int j = 0; j < 4; j++) { /* low 6 bits of bytes 0-7; their top 2 bits carry j >= 4 */
        s[j] = (uint8_t)(sc[j] | (sc[j + 4] >> 4) << 6);
        s[j + 4] = (uint8_t)(m[j] | (m[j + 4] >> 4) << 6);
        s[j + 8] = (uint8_t)((sc[j + 4] & 15) | (m[j + 4] & 15) << 4);
    }
    uint8_t *qh = blk + 16, *qs = blk + (five ? 48 : 16);
    for (int e = 0; e < 256; e++) {
        int j = e / 32, l = e % 32;
        qs[32 * (j / 2) + l] |= (uint8_t)((q[e] & 15) << (j % 2 ? 4 : 0));
        if (five && q[e] >= 16) qh[l] |= (uint8_t)(1 << j);
    }
}

/* A Q6_K block from half d, int8 sc[16], codes q[256] (0..63). */
static void pack_q6(uint16_t d, const int sc[16], const int q[256], uint8_t *blk) {
    memset(blk, 0, 210);
    for (int e = 0; e < 256; e++) {
        int h = e / 128, k = e / 32 % 4, l = e % 32;
        blk[64 * h + 32 * (k & 1) + l] |= (uint8_t)((q[e] & 15) << (k >= 2 ? 4 : 0));
        blk[128 + 32 * h + l] |= (uint8_t)((q[e] >> 4) << (2 * k));
    }
    for (int g = 0; g < 16; g++) blk[192 + g] = (uint8_t)(int8_t)sc[g];
    put_u16(blk + 208, d);
}

/* ---- (a) dequantising -------------------------------------------------- */

static void test_table(void) {
    TEST("K-quant types: supported, GGML sizes") {
        for (int t = 0; t < N_K; t++) CHECK(es_dtype_supported(k_types[t]));
        CHECK_INT(es_dtype_row_bytes(ES_Q4_K, 512), 288);
        CHECK_INT(es_dtype_row_bytes(ES_Q5_K, 256), 176);
        CHECK_INT(es_dtype_row_bytes(ES_Q6_K, 768), 630);
        CHECK_INT(es_dtype_row_bytes(ES_Q6_K, 255), -1);
        CHECK_INT(es_dtype_from_name("q5_k"), ES_Q5_K);
    }
}

static void test_hand_blocks(void) {
    static const int sc[8] = {1, 2, 3, 63, 17, 32, 48, 5}, m[8] = {0, 1, 63, 2, 33, 16, 7, 60};
    TEST("Q4_K / Q5_K: hand-packed blocks dequantise to (d sc) q - dmin m") {
        for (int five = 0; five <= 1; five++) {
            int q[256];
            uint8_t blk[176];
            float got[256];
            for (int e = 0; e < 256; e++) q[e] = (e * 7 + 3) % (five ? 32 : 16);
            pack_q45(five, 0x3800, 0x3400, sc, m, q, blk); /* d = 0.5, dmin = 0.25 */
            es_dequantize_row(five ? ES_Q5_K : ES_Q4_K, blk, got, 256);
            for (int e = 0; e < 256; e++) {
                double want = 0.5 * sc[e / 32] * q[e] - 0.25 * m[e / 32];
                CHECKF(got[e] == (float)want, "Q%d_K element %d: %g, want %g", five ? 5 : 4, e, got[e], want);
            }
            CHECK(got[0] == 1.5f);   /* 0.5 * 1 * 3 - 0 */
            CHECK(got[96] == 94.0f); /* 0.5 * 63 * 3 - 0.25 * 2 */
        }
    }
    TEST("Q6_K: a hand-packed block dequantises to d sc (q - 32)") {
        static const int sc6[16] = {-128, 127, 1, -1, 0, 64, -64, 3, 100, -100, 7, -7, 2, 50, -3, 9};
        int q[256];
        uint8_t blk[210];
        float got[256];
        for (int e = 0; e < 256; e++) q[e] = (e * 5 + 11) % 64;
        pack_q6(0x3000, sc6, q, blk); /* d = 0.125 */
        es_dequantize_row(ES_Q6_K, blk, got, 256);
        for (int e = 0; e < 256; e++) {
            double want = 0.125 * sc6[e / 16] * (q[e] - 32);
            CHECKF(got[e] == (float)want, "element %d: %g, want %g", e, got[e], want);
        }
        CHECK(got[0] == 336.0f); /* 0.125 * -128 * (11 - 32) */
    }
    TEST("K-quants: dequantising random bytes matches the layout reference") {
        rng r = {21};
        uint8_t row[4 * 210];
        float got[1024];
        double want[1024];
        for (int t = 0; t < N_K; t++)
            for (int rep = 0; rep < 20; rep++) {
                for (size_t i = 0; i < sizeof row; i++) row[i] = (uint8_t)rng_next(&r);
                es_dequantize_row(k_types[t], row, got, 1024);
                ref_decode_row(k_types[t], row, 1024, want);
                for (int i = 0; i < 1024; i++)
                    CHECKF(same_value(got[i], want[i]), "%s element %d: %g, want %g",
                           es_dtype_name(k_types[t]), i, got[i], want[i]);
            }
    }
}

/* ---- (b) quantising ---------------------------------------------------- */

/* The values sub-block g of a block can hold: grid[c] for each code c;
 * returns how many. Q4_K/Q5_K sub-blocks are 32 elements, Q6_K 16. */
static int ref_grid(es_dtype type, const uint8_t *blk, int g, double grid[64]) {
    if (type == ES_Q6_K) {
        double step = ref_half(u16_at(blk + 208)) * (int8_t)blk[192 + g];
        for (int c = 0; c < 64; c++) grid[c] = step * (c - 32);
        return 64;
    }
    double step, offset;
    ref_q45_grid(blk, g, &step, &offset);
    int n = type == ES_Q5_K ? 32 : 16;
    for (int c = 0; c < n; c++) grid[c] = step * c - offset;
    return n;
}

typedef struct qstats {
    double sse, ss;  /* sum of squared errors, of squared inputs */
    int not_nearest; /* elements not coded to the nearest value of their grid */
    int not_finite;  /* non-finite decoded values */
} qstats;

/* Quantises n values, decodes them with the reference, and checks every
 * element got the code nearest to it among those its sub-block's stored
 * scales allow (the rounding step of any sound quantiser). */
static qstats quantize_check(es_dtype type, const float *x, int64_t n) {
    qstats st = {0, 0, 0, 0};
    int64_t bb = es_dtype_block_bytes(type);
    uint8_t *q = malloc((size_t)(n / 256 * bb));
    double *deq = malloc((size_t)n * sizeof *deq), grid[64];
    int sub = type == ES_Q6_K ? 16 : 32;
    es_quantize_row(type, x, q, n);
    ref_decode_row(type, q, n, deq);
    for (int64_t i = 0; i < n; i++) {
        int n_codes = ref_grid(type, q + i / 256 * bb, (int)(i % 256 / sub), grid);
        double best = INFINITY, err = fabs(deq[i] - x[i]);
        for (int c = 0; c < n_codes; c++) best = fmin(best, fabs(grid[c] - x[i]));
        st.not_nearest += !(err <= best * (1 + 1e-6) + 1e-6 * fabs(grid[1] - grid[0]));
        st.not_finite += !isfinite(deq[i]);
        st.sse += err * err;
        st.ss += (double)x[i] * x[i];
    }
    free(q);
    free(deq);
    return st;
}

/* RMS error / RMS input on N(0,1) data of llama.cpp's reference quantiser
 * (quantize_row_q*_K_ref, measured once outside this suite, 128K values):
 * ours must do no worse. Ours measured 0.0699, 0.0347, 0.0172. */
static const double gauss_rel_rms[N_K] = {0.0710, 0.0360, 0.0176};

static void test_quantize_gauss(void) {
    TEST("K-quants: N(0,1) rows round-trip no worse than GGML's quantiser, nearest codes") {
        enum { N = 256 * 64 };
        rng r = {31};
        float *x = malloc(N * sizeof *x);
        for (int i = 0; i < N; i++) x[i] = rng_gauss(&r);
        for (int t = 0; t < N_K; t++) {
            qstats st = quantize_check(k_types[t], x, N);
            double rel = sqrt(st.sse / st.ss);
            printf("  %s: RMS error / RMS input on N(0,1) = %.4f\n", es_dtype_name(k_types[t]), rel);
            CHECKF(rel <= gauss_rel_rms[t], "%s: %.4f", es_dtype_name(k_types[t]), rel);
            CHECK_INT(st.not_nearest, 0);
            CHECK_INT(st.not_finite, 0);
        }
        free(x);
    }
}

static void test_quantize_edges(void) {
    float x[512];
    TEST("K-quants: all-zero rows decode to exact zeros") {
        memset(x, 0, sizeof x);
        for (int t = 0; t < N_K; t++) {
            uint8_t q[2 * 210];
            float back[512];
            es_quantize_row(k_types[t], x, q, 512);
            es_dequantize_row(k_types[t], q, back, 512);
            for (int i = 0; i < 512; i++)
                CHECKF(back[i] == 0.0f, "%s %d: %g", es_dtype_name(k_types[t]), i, back[i]);
        }
    }
    TEST("K-quants: constant rows, either sign") {
        static const float consts[] = {3.7f, -2.5f, 1000.0f, -0.01f};
        for (int t = 0; t < N_K; t++)
            for (int c = 0; c < 4; c++) {
                for (int i = 0; i < 512; i++) x[i] = consts[c];
                uint8_t q[2 * 210];
                double deq[512];
                es_quantize_row(k_types[t], x, q, 512);
                ref_decode_row(k_types[t], q, 512, deq);
                double worst = 0;
                for (int i = 0; i < 512; i++) worst = fmax(worst, fabs(deq[i] - x[i]) / fabs(x[i]));
                /* the f16 scales and 6/8-bit sub-scales limit this, not the codes (measured
                 * <= 4e-4, but 1.1e-3 for Q6_K at -0.01, where d = 0.01 / 32 / 127 is a
                 * subnormal half, 2^-24 apart) */
                CHECKF(worst <= 2e-3, "%s constant %g: relative error %g", es_dtype_name(k_types[t]),
                       consts[c], worst);
            }
    }
    TEST("K-quants: one huge outlier is kept; other super-blocks are unharmed") {
        rng r = {32};
        for (int t = 0; t < N_K; t++) {
            for (int i = 0; i < 512; i++) x[i] = rng_gauss(&r);
            x[100] = t == 1 ? -3e4f : 1e4f;
            qstats all = quantize_check(k_types[t], x, 512);
            qstats second = quantize_check(k_types[t], x + 256, 256);
            CHECK_INT(all.not_nearest, 0);
            CHECK_INT(all.not_finite, 0);
            CHECKF(sqrt(second.sse / second.ss) <= gauss_rel_rms[t] * 1.5, "%s", es_dtype_name(k_types[t]));
            uint8_t q[2 * 210];
            float back[512];
            es_quantize_row(k_types[t], x, q, 512);
            es_dequantize_row(k_types[t], q, back, 512);
            CHECKF(fabsf(back[100] - x[100]) <= 2e-3f * fabsf(x[100]), "%s: %g -> %g",
                   es_dtype_name(k_types[t]), x[100], back[100]);
        }
    }
    TEST("K-quants: negative-only, tiny, huge and non-finite rows") {
        rng r = {33};
        for (int t = 0; t < N_K; t++) {
            const char *name = es_dtype_name(k_types[t]);
            for (int i = 0; i < 512; i++) x[i] = -1.0f - 4.0f * (float)rng_unit(&r); /* [-5, -1] */
            qstats st = quantize_check(k_types[t], x, 512);
            /* no worse than a uniform grid over the values' span, RMS step / sqrt(12): Q4_K/Q5_K
             * span [-5, -1] with 15 / 31 steps, Q6_K (no offset) reaches -5 with 32 */
            double grid_step = t == 0 ? 4.0 / 15 : t == 1 ? 4.0 / 31 : 5.0 / 32;
            CHECKF(sqrt(st.sse / 512) <= grid_step / sqrt(12), "%s: rms %g", name, sqrt(st.sse / 512));
            CHECK_INT(st.not_nearest, 0);
            for (int i = 0; i < 512; i++) x[i] = 1e-30f * rng_gauss(&r); /* below any f16 scale: all 0 */
            st = quantize_check(k_types[t], x, 512);
            CHECKF(st.not_finite == 0 && st.sse <= st.ss * 1.0000001, "%s tiny: %g vs %g", name, st.sse,
                   st.ss);
            for (int i = 0; i < 512; i++) x[i] = 1e9f * rng_gauss(&r); /* above any f16 scale: clamped */
            st = quantize_check(k_types[t], x, 512);
            CHECKF(st.not_finite == 0 && st.sse < st.ss, "%s huge", name);
            for (int i = 0; i < 512; i++) x[i] = rng_gauss(&r);
            x[3] = NAN, x[300] = INFINITY, x[301] = -INFINITY; /* no crash; UBSan: no bad casts */
            uint8_t q[2 * 210];
            es_quantize_row(k_types[t], x, q, 512);
        }
    }
}

/* ---- (c) row dots of every ISA ---------------------------------------- */

/* n values of a weight row: quantised N(0,1) data, or (odd rows) random
 * bytes with the f16 scales forced to moderate values, so every code and
 * sub-scale pattern is met, not only those our quantiser writes. */
static void make_k_row(es_dtype type, int64_t n, int random_bytes, rng *r, uint8_t *row) {
    int64_t bb = es_dtype_block_bytes(type);
    if (!random_bytes) {
        float *x = malloc((size_t)n * sizeof *x);
        for (int64_t i = 0; i < n; i++) x[i] = rng_gauss(r);
        es_quantize_row(type, x, row, n);
        free(x);
        return;
    }
    for (int64_t i = 0; i < n / 256 * bb; i++) row[i] = (uint8_t)rng_next(r);
    for (int64_t b = 0; b < n / 256; b++) { /* halves in [2^-9, 2^-7): exponent 6..7, any sign */
        uint8_t *blk = row + b * bb;
        for (int k = 0; k < (type == ES_Q6_K ? 1 : 2); k++) {
            uint8_t *h = type == ES_Q6_K ? blk + 208 : blk + 2 * k;
            put_u16(h, (uint16_t)((u16_at(h) & 0x87ff) | 0x1800));
        }
    }
}

typedef struct isa_rowdot {
    es_isa isa;
    es_rowdot_fn *(*table)(es_dtype);
} isa_rowdot;
static const isa_rowdot isas[] = {
    {ES_ISA_PORTABLE, es_rowdot_portable}, {ES_ISA_AVX2, es_rowdot_avx2}, {ES_ISA_AVX512, es_rowdot_avx512}};
#define N_ISAS 3

enum { ROWDOT_XS = 4096 + 16, ROWDOT_OS = 3 }; /* activation / output strides */

/* One ISA's row dot of one weight row (deq: its reference values) against
 * activation rows x (stride ROWDOT_XS), for nb = 1..4: each output against
 * the double reference, and bit for bit the same as a one-row call.
 * Returns the worst error / sum|w x|. */
static double check_rowdot(es_rowdot_fn *dot, const char *what, const uint8_t *row, const double *deq,
                           int64_t n, const float *x) {
    float single[4], out[4 * ROWDOT_OS];
    double worst = 0;
    for (int b = 0; b < 4; b++) dot(row, x + b * ROWDOT_XS, ROWDOT_XS, 1, n, &single[b], 1);
    for (int nb = 1; nb <= 4; nb++) {
        dot(row, x, ROWDOT_XS, nb, n, out, ROWDOT_OS);
        for (int b = 0; b < nb; b++) {
            double ref = 0, mag = 0;
            for (int64_t c = 0; c < n; c++) {
                ref += deq[c] * x[b * ROWDOT_XS + c];
                mag += fabs(deq[c] * x[b * ROWDOT_XS + c]);
            }
            /* F32 partial sums of at most n / 8 terms each, plus the final reduction */
            double err = fabs(out[b * ROWDOT_OS] - ref);
            worst = fmax(worst, err / mag);
            CHECKF(err <= (double)(n / 8 + 16) * 0x1p-24 * mag, "%s n %lld nb %d row %d: %.9g, want %.9g",
                   what, (long long)n, nb, b, out[b * ROWDOT_OS], ref);
            CHECKF(out[b * ROWDOT_OS] == single[b], "%s n %lld nb %d row %d: differs from a one-row call",
                   what, (long long)n, nb, b);
        }
    }
    return worst;
}

static void test_rowdots(void) {
    TEST("K-quants: every ISA's row dot, n 256-4096, nb 1-4, vs double reference") {
        static const int64_t lens[] = {256, 512, 4096};
        rng r = {41};
        float *x = malloc(4 * ROWDOT_XS * sizeof *x);
        double *deq = malloc(4096 * sizeof *deq);
        uint8_t *row = malloc(16 * 210);
        for (int i = 0; i < 4 * ROWDOT_XS; i++) x[i] = (float)(4 * rng_unit(&r) - 2);
        for (int t = 0; t < N_K; t++) {
            double worst[N_ISAS] = {0};
            for (int li = 0; li < 3; li++)
                for (int random_bytes = 0; random_bytes <= 1; random_bytes++) {
                    make_k_row(k_types[t], lens[li], random_bytes, &r, row);
                    ref_decode_row(k_types[t], row, lens[li], deq);
                    for (int k = 0; k < N_ISAS; k++) {
                        if (!es_isa_available(isas[k].isa)) continue;
                        es_rowdot_fn *dot = isas[k].table(k_types[t]);
                        char what[64];
                        snprintf(what, sizeof what, "%s %s", es_isa_name(isas[k].isa),
                                 es_dtype_name(k_types[t]));
                        CHECKF(dot != NULL, "%s: no row dot", what);
                        if (dot) worst[k] = fmax(worst[k], check_rowdot(dot, what, row, deq, lens[li], x));
                    }
                }
            printf("  %s worst error / sum|wx|:", es_dtype_name(k_types[t]));
            for (int k = 0; k < N_ISAS; k++)
                if (es_isa_available(isas[k].isa)) printf(" %s %.2g", es_isa_name(isas[k].isa), worst[k]);
            printf("\n");
        }
        free(x);
        free(deq);
        free(row);
    }
}

typedef struct isa_rowdot_q8 {
    es_isa isa;
    es_rowdot_q8_fn *(*table)(es_dtype);
} isa_rowdot_q8;
static const isa_rowdot_q8 isas_q8[] = {
    {ES_ISA_PORTABLE, es_rowdot_q8_portable},
    {ES_ISA_AVX2, es_rowdot_q8_avx2},
    {ES_ISA_AVX512, es_rowdot_q8_avx512}};

/* One ISA's integer row dot of one weight row against 4 activation rows
 * quantised by es_quantize_q8_row (checked against the rule in
 * test_kernels.c), nb = 1..4: each output against the double product of
 * the reference values with the rule's activations, relative to sum of
 * (|step q| + |offset|) |x| (the kernels sum the code and min terms
 * apart), and bit for bit a one-row call. Returns the worst error / that. */
static double check_rowdot_q8(es_rowdot_q8_fn *dot, const char *what, const uint8_t *row, const double *deq,
                              const double *wmag, int64_t n, const uint8_t *xq, int64_t xqs, const double *xhat) {
    float single[4], out[4 * ROWDOT_OS];
    double worst = 0;
    for (int b = 0; b < 4; b++) dot(row, xq + b * xqs, xqs, 1, n, &single[b], 1);
    for (int nb = 1; nb <= 4; nb++) {
        dot(row, xq, xqs, nb, n, out, ROWDOT_OS);
        for (int b = 0; b < nb; b++) {
            double ref = 0, mag = 0;
            for (int64_t c = 0; c < n; c++) {
                ref += deq[c] * xhat[b * n + c];
                mag += wmag[c] * fabs(xhat[b * n + c]);
            }
            double err = fabs(out[b * ROWDOT_OS] - ref);
            worst = fmax(worst, err / mag);
            CHECKF(err <= (double)(n / 8 + 16) * 0x1p-24 * mag, "%s n %lld nb %d row %d: %.9g, want %.9g", what,
                   (long long)n, nb, b, out[b * ROWDOT_OS], ref);
            CHECKF(out[b * ROWDOT_OS] == single[b], "%s n %lld nb %d row %d: differs from a one-row call", what,
                   (long long)n, nb, b);
        }
    }
    return worst;
}

static void test_rowdots_q8(void) {
    TEST("K-quants: integer row dots (8-bit activations), n 256-4096, nb 1-4, vs double reference") {
        static const int64_t lens[] = {256, 512, 4096};
        rng r = {43};
        int64_t xqs = es_q8_row_bytes(4096);
        float *x = malloc(4 * 4096 * sizeof *x);
        double *xhat = malloc(4 * 4096 * sizeof *xhat);
        uint8_t *xq = aligned_alloc(64, (size_t)(4 * xqs));
        double *deq = malloc(4096 * sizeof *deq), *wmag = malloc(4096 * sizeof *wmag);
        uint8_t *row = malloc(16 * 210);
        for (int t = 0; t < N_K; t++) {
            double worst[N_ISAS] = {0};
            for (int li = 0; li < 3; li++)
                for (int random_bytes = 0; random_bytes <= 1; random_bytes++) {
                    int64_t n = lens[li];
                    for (int i = 0; i < 4 * n; i++) x[i] = (float)(4 * rng_unit(&r) - 2) * (1 + i / 32 % 5);
                    for (int b = 0; b < 4; b++) {
                        es_quantize_q8_row(x + b * n, n, xq + b * xqs);
                        ref_q8_activations(x + b * n, n, xhat + b * n);
                    }
                    make_k_row(k_types[t], n, random_bytes, &r, row);
                    ref_decode_row_mag(k_types[t], row, n, deq, wmag);
                    for (int k = 0; k < N_ISAS; k++) {
                        if (!es_isa_available(isas_q8[k].isa)) continue;
                        char what[64];
                        snprintf(what, sizeof what, "%s %s int8", es_isa_name(isas_q8[k].isa),
                                 es_dtype_name(k_types[t]));
                        es_rowdot_q8_fn *dot = isas_q8[k].table(k_types[t]);
                        CHECKF(dot != NULL, "%s: no row dot", what);
                        if (dot) worst[k] = fmax(worst[k], check_rowdot_q8(dot, what, row, deq, wmag, n, xq, xqs, xhat));
                    }
                }
            printf("  %s int8 worst error / sum(|step q| + |offset|)|x|:", es_dtype_name(k_types[t]));
            for (int k = 0; k < N_ISAS; k++)
                if (es_isa_available(isas_q8[k].isa)) printf(" %s %.2g", es_isa_name(isas_q8[k].isa), worst[k]);
            printf("\n");
        }
        free(x), free(xhat), free(xq), free(deq), free(wmag), free(row);
    }
}

/* 1 if two outputs are the same F32 bits (any NaN matching any NaN). */
static int same_bits(float a, float b) { return (isnan(a) && isnan(b)) || memcmp(&a, &b, sizeof a) == 0; }

/* Activation rows for the AVX2 / portable comparison: mixed magnitudes per
 * block, with an all-zero block, a block at the code extremes and (when
 * `nan`) a block holding a NaN, so its scale is NaN. */
static void make_q8_rows(rng *r, int64_t n, int nb, int nan, float *x) {
    for (int64_t i = 0; i < nb * n; i++) x[i] = (float)(4 * rng_unit(r) - 2) * (float)(1 + i / 32 % 7);
    for (int b = 0; b < nb; b++) {
        float *xb = x + b * n;
        for (int i = 0; i < 32; i++) xb[32 + i] = 0.0f;
        for (int i = 0; i < 32; i++) xb[64 + i] = i % 2 ? 1e4f : -1e4f;
        if (nan && b == 1) xb[n - 5] = NAN;
    }
}

static void test_rowdots_q8_avx2(void) {
    TEST("K-quants: AVX2 integer row dots bit for bit the portable ones, n 256-4096, nb 1-8, matmul") {
        if (!es_isa_available(ES_ISA_AVX2)) {
            test_skip("this CPU has no AVX2");
            continue;
        }
        enum { NB = ES_ROWDOT_Q8_MAX_NB };
        static const int64_t lens[] = {256, 768, 2048, 4096};
        rng r = {47};
        int64_t xqs = es_q8_row_bytes(4096) + 64; /* not a power of two */
        float *x = malloc(NB * 4096 * sizeof *x), want[NB], got[NB * ROWDOT_OS];
        uint8_t *xq = aligned_alloc(64, (size_t)(NB * xqs)), *row = malloc(16 * 210);
        int compared = 0;
        for (int t = 0; t < N_K; t++) {
            es_rowdot_q8_fn *portable = es_rowdot_q8_portable(k_types[t]);
            es_rowdot_q8_fn *avx2 = es_rowdot_q8_avx2(k_types[t]);
            CHECKF(avx2 != NULL, "%s: no AVX2 integer row dot", es_dtype_name(k_types[t]));
            CHECK(es_isa_rounds_activations(ES_ISA_AVX2, k_types[t]));
            if (!avx2) continue;
            for (int li = 0; li < 4; li++)
                for (int variant = 0; variant < 4; variant++) { /* random bytes: bit 0; a NaN block: bit 1 */
                    int64_t n = lens[li];
                    make_q8_rows(&r, n, NB, variant >> 1, x);
                    for (int b = 0; b < NB; b++) es_quantize_q8_row(x + b * n, n, xq + b * xqs);
                    make_k_row(k_types[t], n, variant & 1, &r, row);
                    for (int b = 0; b < NB; b++) portable(row, xq + b * xqs, xqs, 1, n, &want[b], 1);
                    for (int nb = 1; nb <= NB; nb++) {
                        avx2(row, xq, xqs, nb, n, got, ROWDOT_OS);
                        for (int b = 0; b < nb; b++, compared++)
                            CHECKF(same_bits(got[b * ROWDOT_OS], want[b]),
                                   "%s n %lld variant %d nb %d row %d: AVX2 %.9g, portable %.9g",
                                   es_dtype_name(k_types[t]), (long long)n, variant, nb, b, got[b * ROWDOT_OS],
                                   want[b]);
                    }
                }
        }
        /* through the driver: a matrix, batch 5, two threads, rows at an odd address */
        enum { COLS = 1024, ROWS = 19, BATCH = 5 };
        float *y_portable = malloc(BATCH * ROWS * sizeof(float)), *y_avx2 = malloc(BATCH * ROWS * sizeof(float));
        make_q8_rows(&r, COLS, BATCH, 0, x);
        for (int t = 0; t < N_K; t++) {
            int64_t row_bytes = es_dtype_row_bytes(k_types[t], COLS);
            uint8_t *data = malloc((size_t)(ROWS * row_bytes) + 1);
            for (int i = 0; i < ROWS; i++) make_k_row(k_types[t], COLS, i % 2, &r, data + 1 + i * row_bytes);
            es_tensor w = {k_types[t], {COLS, ROWS}, data + 1};
            es_matmul_isa(ES_ISA_PORTABLE, &w, x, BATCH, y_portable, 1);
            es_matmul_isa(ES_ISA_AVX2, &w, x, BATCH, y_avx2, 2);
            CHECKF(memcmp(y_portable, y_avx2, BATCH * ROWS * sizeof(float)) == 0,
                   "%s: AVX2 matmul differs from portable", es_dtype_name(k_types[t]));
            free(data);
        }
        printf("  AVX2 vs portable integer row dots: %d outputs compared\n", compared);
        free(x), free(xq), free(row), free(y_portable), free(y_avx2);
    }
}

/* The AVX-512 integer row dots with up to 12 activation rows per call (so
 * the kernel splits them into blocks of 8, 4, 2, 1 in every way), n with
 * several super-blocks: each output bit for bit a one-row call, and each
 * one-row output against the double reference (a NaN activation block
 * must give NaN). The order of the AVX-512 sums is its own, so the bits
 * are not compared with the other ISAs. */
static void test_rowdots_q8_avx512_nb(void) {
    TEST("K-quants: AVX-512 integer row dots, every nb 1-12 bit for bit nb 1, vs double reference") {
        if (!es_isa_available(ES_ISA_AVX512)) {
            test_skip("this CPU has no AVX-512");
            continue;
        }
        enum { NB = 12 };
        static const int64_t lens[] = {256, 1280, 4096};
        rng r = {53};
        int64_t xqs = es_q8_row_bytes(4096) + 64;
        float *x = malloc(NB * 4096 * sizeof *x), single[NB], got[NB * ROWDOT_OS];
        double *xhat = malloc(4096 * sizeof *xhat), *deq = malloc(4096 * sizeof *deq);
        double *wmag = malloc(4096 * sizeof *wmag);
        uint8_t *xq = aligned_alloc(64, (size_t)(NB * xqs)), *row = malloc(16 * 210);
        int compared = 0;
        for (int t = 0; t < N_K; t++) {
            es_rowdot_q8_fn *dot = es_rowdot_q8_avx512(k_types[t]);
            CHECKF(dot != NULL, "%s: no AVX-512 integer row dot", es_dtype_name(k_types[t]));
            if (!dot) continue;
            for (int li = 0; li < 3; li++)
                for (int variant = 0; variant < 4; variant++) { /* random bytes: bit 0; a NaN block: bit 1 */
                    int64_t n = lens[li];
                    make_q8_rows(&r, n, NB, variant >> 1, x);
                    for (int b = 0; b < NB; b++) es_quantize_q8_row(x + b * n, n, xq + b * xqs);
                    make_k_row(k_types[t], n, variant & 1, &r, row);
                    ref_decode_row_mag(k_types[t], row, n, deq, wmag);
                    for (int b = 0; b < NB; b++) {
                        dot(row, xq + b * xqs, xqs, 1, n, &single[b], 1);
                        if (variant >> 1 && b == 1) {
                            CHECKF(isnan(single[b]), "%s n %lld: a NaN activation block gave %.9g",
                                   es_dtype_name(k_types[t]), (long long)n, single[b]);
                            continue;
                        }
                        ref_q8_activations(x + b * n, n, xhat);
                        double ref = 0, mag = 0;
                        for (int64_t c = 0; c < n; c++) ref += deq[c] * xhat[c], mag += wmag[c] * fabs(xhat[c]);
                        CHECKF(fabs(single[b] - ref) <= (double)(n / 8 + 16) * 0x1p-24 * mag,
                               "%s n %lld variant %d row %d: %.9g, want %.9g", es_dtype_name(k_types[t]),
                               (long long)n, variant, b, single[b], ref);
                    }
                    for (int nb = 1; nb <= NB; nb++) {
                        dot(row, xq, xqs, nb, n, got, ROWDOT_OS);
                        for (int b = 0; b < nb; b++, compared++)
                            CHECKF(same_bits(got[b * ROWDOT_OS], single[b]),
                                   "%s n %lld variant %d nb %d row %d: %.9g, one-row call %.9g",
                                   es_dtype_name(k_types[t]), (long long)n, variant, nb, b, got[b * ROWDOT_OS],
                                   single[b]);
                    }
                }
        }
        printf("  AVX-512 integer row dots, nb 1-12 vs nb 1: %d outputs compared\n", compared);
        free(x), free(xhat), free(deq), free(wmag), free(xq), free(row);
    }
}

/* ---- (d) matrix products: batch sizes and threads ---------------------- */

static void test_matmul_identity(void) {
    TEST("K-quants: es_matmul bit-identical to es_matvec, batches 1-9, threads 1/2/3, every ISA") {
        enum { COLS = 512, ROWS = 37, MAXB = 9 };
        rng r = {51};
        float *x = malloc(MAXB * COLS * sizeof *x);
        float *one = malloc(MAXB * ROWS * sizeof *one), *y = malloc(MAXB * ROWS * sizeof *y);
        double *deq = malloc(COLS * sizeof *deq);
        for (int i = 0; i < MAXB * COLS; i++) x[i] = (float)(2 * rng_unit(&r) - 1);
        for (int t = 0; t < N_K; t++) {
            int64_t row_bytes = es_dtype_row_bytes(k_types[t], COLS);
            uint8_t *data = malloc((size_t)(ROWS * row_bytes) + 1);
            uint8_t *w_data = data + 1; /* rows at an odd address: any alignment must work */
            for (int i = 0; i < ROWS; i++) make_k_row(k_types[t], COLS, i % 2, &r, w_data + i * row_bytes);
            es_tensor w = {k_types[t], {COLS, ROWS}, w_data};
            for (int b = 0; b < MAXB; b++) es_matvec(&w, x + b * COLS, one + b * ROWS, 1);
            for (int i = 0; i < ROWS; i++) { /* es_matvec against the reference, once */
                double wmag[COLS], xhat[COLS];    /* the best ISA quantises the activations */
                int q8 = es_isa_rounds_activations(ES_ISA_BEST, k_types[t]);
                ref_decode_row_mag(k_types[t], w_data + i * row_bytes, COLS, deq, wmag);
                ref_q8_activations(x, COLS, xhat);
                double ref = 0, mag = 0;
                for (int c = 0; c < COLS; c++) {
                    double xc = q8 ? xhat[c] : x[c];
                    ref += deq[c] * xc, mag += (q8 ? wmag[c] : fabs(deq[c])) * fabs(xc);
                }
                CHECKF(fabs(one[i] - ref) <= 1e-5 * mag, "%s row %d: %g, want %g", es_dtype_name(k_types[t]),
                       i, one[i], ref);
            }
            for (int batch = 1; batch <= MAXB; batch++)
                for (int threads = 1; threads <= 3; threads++) {
                    es_matmul(&w, x, batch, y, threads);
                    CHECKF(memcmp(y, one, (size_t)(batch * ROWS) * sizeof *y) == 0,
                           "%s batch %d threads %d: differs from es_matvec", es_dtype_name(k_types[t]), batch,
                           threads);
                }
            for (int k = 0; k < N_ISAS;
                 k++) { /* each ISA: threads and batches against its own one-row calls */
                if (!es_isa_available(isas[k].isa)) continue;
                for (int b = 0; b < MAXB; b++)
                    es_matmul_isa(isas[k].isa, &w, x + b * COLS, 1, one + b * ROWS, 1);
                for (int batch = 2; batch <= MAXB; batch += 3)
                    for (int threads = 1; threads <= 3; threads++) {
                        es_matmul_isa(isas[k].isa, &w, x, batch, y, threads);
                        CHECKF(memcmp(y, one, (size_t)(batch * ROWS) * sizeof *y) == 0,
                               "%s %s batch %d threads %d", es_isa_name(isas[k].isa),
                               es_dtype_name(k_types[t]), batch, threads);
                    }
            }
            free(data);
        }
        float yy[2] = {0, 0};
        es_tensor partial = {ES_Q4_K, {128, 2}, x}; /* not a whole super-block: NaN, not a crash */
        es_matvec(&partial, x, yy, 1);
        CHECK(isnan(yy[0]) && isnan(yy[1]));
        free(x);
        free(one);
        free(y);
        free(deq);
    }
}

void suite_kquant(void) {
    test_table();
    test_hand_blocks();
    test_quantize_gauss();
    test_quantize_edges();
    test_rowdots();
    test_rowdots_q8();
    test_rowdots_q8_avx2();
    test_rowdots_q8_avx512_nb();
    test_matmul_identity();
}
