/* Tests of the several-rows kernels ("tiles"): the AVX-512 micro-kernels
 * that compute a block of weight rows against a block of activation rows
 * at once for prefill. Each promises the bits of the one-row dot it
 * replaces, pair by pair (the one-row dots themselves are checked against
 * the double reference in test_kernels.c), so the checks here are memcmp:
 * every row count and batch size around the tile shape, a row tail past the
 * last 32-element chunk, rows longer than one pass over the activations,
 * NaN and inf inputs, then through the matmul driver on 1 and 2 threads
 * against batch 1. */
#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/kernels.h"
#include "tensor/kernels_internal.h"
#include "tensor/quant.h"
#include "tensor/tensor.h"
#include "test.h"
#include "util/rng.h"

static float uniform(uint64_t *state, float lo, float hi) {
    *state = es_splitmix64(*state);
    return lo + (hi - lo) * (float)((*state >> 40) * 0x1p-24);
}

/* Same bits, or both NaN. */
static int same_float(float a, float b) { return (isnan(a) && isnan(b)) || memcmp(&a, &b, sizeof a) == 0; }

/* y (n values) against y_one, the one-row results. */
static int same_floats(const float *y, const float *y_one, int n) {
    int same = 1;
    for (int i = 0; i < n; i++) same &= same_float(y[i], y_one[i]);
    return same;
}

/* The AVX-512 several-rows integer dot (Q8_0, Q4_0) against the AVX-512
 * one-row dot (whose order it keeps), pair by pair: row counts 1-9 (groups of 4 and the rest),
 * batches 1-9 (blocks of 4 and the rest), an odd block count, the extreme
 * codes (weight -128, activations +-127) and a NaN block; then the driver. */
static void test_rowdot_q8_rows(void) {
    TEST("AVX-512 several-row integer dots (Q8_0, Q4_0): bit for bit the one-row dot, and in matmul") {
        enum { COLS = 1024 + 32, ROWS = 9, NB = 9, OS = ROWS + 2 };
        if (!es_isa_available(ES_ISA_AVX512)) {
            test_skip("this CPU has no AVX-512");
            continue;
        }
        static const es_dtype types[] = {ES_Q8_0, ES_Q4_0};
        uint64_t r = 78;
        int64_t xqs = es_q8_row_bytes(COLS) + 64;
        static float w_f32[ROWS * COLS], x[NB * COLS], got[NB * OS], want[NB * OS];
        uint8_t *xq = aligned_alloc(64, (size_t)(NB * xqs));
        for (int i = 0; i < ROWS * COLS; i++) w_f32[i] = uniform(&r, -1, 1);
        for (int i = 0; i < NB * COLS; i++) x[i] = uniform(&r, -4, 4);
        x[3] = -100.0f, x[5 * COLS + 40] = NAN;
        for (int b = 0; b < NB; b++) es_quantize_q8_row(x + b * COLS, COLS, xq + b * xqs);
        int compared = 0;
        for (size_t t = 0; t < 2; t++) {
            int64_t row_bytes = es_dtype_row_bytes(types[t], COLS);
            uint8_t *data = malloc((size_t)(ROWS * row_bytes) + 1), *w = data + 1; /* rows at an odd address */
            for (int i = 0; i < ROWS; i++) es_quantize_row(types[t], w_f32 + i * COLS, w + i * row_bytes, COLS);
            if (types[t] == ES_Q8_0) w[2] = w[row_bytes + 3] = (uint8_t)-128;
            es_rowdot_q8_rows_fn *rows = es_rowdot_q8_rows_avx512(types[t]);
            es_rowdot_q8_fn *one = es_rowdot_q8_avx512(types[t]);
            CHECK(rows != NULL);
            for (int i = 0; i < ROWS; i++)
                for (int b = 0; b < NB; b++) one(w + i * row_bytes, xq + b * xqs, xqs, 1, COLS, &want[b * OS + i], 1);
            for (int nr = 1; rows && nr <= ROWS; nr++)
                for (int nb = 1; nb <= NB; nb++) {
                    rows(w, (size_t)row_bytes, nr, xq, xqs, nb, COLS, got, OS);
                    for (int b = 0; b < nb; b++)
                        for (int i = 0; i < nr; i++, compared++) {
                            CHECKF(same_float(got[b * OS + i], want[b * OS + i]),
                                   "%s nr %d nb %d (row %d, b %d): %.9g, one-row %.9g", es_dtype_name(types[t]),
                                   nr, nb, i, b, got[b * OS + i], want[b * OS + i]);
                        }
                }
            free(data);
        }
        CHECK(es_rowdot_q8_rows_avx512(ES_Q4_K) == NULL && es_rowdot_q8_rows_avx512(ES_F32) == NULL);
        CHECK(compared == 2 * 45 * 45);
        /* one activation row (the entry point takes any nb): 70 rows of 131 blocks (an odd count) */
        enum { DROWS = 70, DCOLS = 131 * 32 };
        static float dw_f32[DCOLS], dx[DCOLS], d_got[DROWS], d_want[DROWS];
        uint8_t *dxq = aligned_alloc(64, (size_t)es_q8_row_bytes(DCOLS));
        for (int i = 0; i < DCOLS; i++) dx[i] = uniform(&r, -3, 3);
        es_quantize_q8_row(dx, DCOLS, dxq);
        for (size_t t = 0; t < 2; t++) {
            int64_t row_bytes = es_dtype_row_bytes(types[t], DCOLS);
            uint8_t *data = malloc((size_t)(DROWS * row_bytes));
            for (int i = 0; i < DROWS; i++) {
                for (int c = 0; c < DCOLS; c++) dw_f32[c] = uniform(&r, -1, 1);
                es_quantize_row(types[t], dw_f32, data + i * row_bytes, DCOLS);
                es_rowdot_q8_avx512(types[t])(data + i * row_bytes, dxq, 0, 1, DCOLS, &d_want[i], 1);
            }
            es_rowdot_q8_rows_avx512(types[t])(data, (size_t)row_bytes, DROWS, dxq, 0, 1, DCOLS, d_got, 1);
            CHECKF(same_floats(d_got, d_want, DROWS), "%s: one activation row against %d rows of %d differs",
                   es_dtype_name(types[t]), DROWS, DCOLS);
            free(data);
        }
        free(dxq);
        /* through the driver: batches 2-9 (several rows) as batch 1 (one-row) row by row, 1 and 2 threads */
        enum { MROWS = 37 };
        static float wm[MROWS * COLS], y_one[NB * MROWS], y_avx512[NB * MROWS];
        for (int i = 0; i < MROWS * COLS; i++) wm[i] = uniform(&r, -1, 1);
        for (size_t t = 0; t < 2; t++) {
            int64_t row_bytes = es_dtype_row_bytes(types[t], COLS);
            uint8_t *data = malloc((size_t)(MROWS * row_bytes));
            for (int i = 0; i < MROWS; i++) es_quantize_row(types[t], wm + i * COLS, data + i * row_bytes, COLS);
            es_tensor w = {types[t], {COLS, MROWS}, data};
            for (int b = 0; b < NB; b++) es_matmul_isa(ES_ISA_AVX512, &w, x + b * COLS, 1, y_one + b * MROWS, 1);
            for (int nb = 2; nb <= NB; nb++)
                for (int threads = 1; threads <= 2; threads++) {
                    es_matmul_isa(ES_ISA_AVX512, &w, x, nb, y_avx512, threads);
                    CHECKF(same_floats(y_avx512, y_one, nb * MROWS), "%s batch %d threads %d: AVX-512 matmul differs from batch 1",
                           es_dtype_name(types[t]), nb, threads);
                }
            free(data);
        }
        free(xq);
    }
}

/* The several-rows dot with F32 activations (F32, F16, BF16 weights) of an
 * ISA against its one-row dot, pair by pair: row counts 1-9 (groups of 4
 * or 3 and the rest), batches 1-9 (blocks of 3 or 2 and the rest), rows
 * of 2,119 elements (two passes of 64 chunks: 64 + 2, then a tail of 7),
 * an inf and a NaN among the activations; 269 rows (more groups than one
 * call carries at once); then the driver. */
static void test_rowdot_rows(es_isa isa) {
    char name[128];
    snprintf(name, sizeof name, "%s several-row dots (F32, F16, BF16): bit for bit the one-row dot, and in matmul",
             es_isa_name(isa));
    TEST(name) {
        enum { COLS = 2048 + 64 + 7, ROWS = 9, NB = 9, OS = ROWS + 2, WIDE = 269, WCOLS = 64 + 5 };
        if (!es_isa_available(isa)) {
            test_skip("this CPU lacks the ISA");
            continue;
        }
        static const es_dtype types[] = {ES_F32, ES_F16, ES_BF16};
        uint64_t r = 91;
        static float w_f32[WIDE * WCOLS > ROWS * COLS ? WIDE * WCOLS : ROWS * COLS], x[NB * COLS];
        static float got[NB * WIDE], want[NB * WIDE];
        for (int i = 0; i < NB * COLS; i++) x[i] = uniform(&r, -4, 4);
        x[2 * COLS + 5] = INFINITY, x[7 * COLS + 2100] = NAN; /* a chunk's inf; a NaN in a row's tail */
        int compared = 0;
        for (size_t t = 0; t < 3; t++) {
            es_rowdot_rows_fn *rows = isa == ES_ISA_AVX512 ? es_rowdot_rows_avx512(types[t]) : es_rowdot_rows_avx2(types[t]);
            es_rowdot_fn *one = isa == ES_ISA_AVX512 ? es_rowdot_avx512(types[t]) : es_rowdot_avx2(types[t]);
            CHECK(rows != NULL && one != NULL);
            if (!rows || !one) continue;
            int64_t row_bytes = es_dtype_row_bytes(types[t], COLS);
            uint8_t *data = malloc((size_t)(ROWS * row_bytes) + 1), *w = data + 1; /* rows at an odd address */
            for (int i = 0; i < ROWS * COLS; i++) w_f32[i] = uniform(&r, -1, 1);
            for (int i = 0; i < ROWS; i++) es_quantize_row(types[t], w_f32 + i * COLS, w + i * row_bytes, COLS);
            for (int i = 0; i < ROWS; i++)
                for (int b = 0; b < NB; b++) one(w + i * row_bytes, x + b * COLS, COLS, 1, COLS, &want[b * OS + i], 1);
            for (int nr = 1; nr <= ROWS; nr++)
                for (int nb = 1; nb <= NB; nb++) {
                    rows(w, (size_t)row_bytes, nr, x, COLS, nb, COLS, got, OS);
                    for (int b = 0; b < nb; b++)
                        for (int i = 0; i < nr; i++, compared++)
                            CHECKF(same_float(got[b * OS + i], want[b * OS + i]),
                                   "%s nr %d nb %d (row %d, b %d): %.9g, one-row %.9g", es_dtype_name(types[t]), nr,
                                   nb, i, b, got[b * OS + i], want[b * OS + i]);
                }
            free(data);
            /* many rows in one call, short rows with a tail */
            row_bytes = es_dtype_row_bytes(types[t], WCOLS);
            data = malloc((size_t)(WIDE * row_bytes));
            for (int i = 0; i < WIDE * WCOLS; i++) w_f32[i] = uniform(&r, -1, 1);
            for (int i = 0; i < WIDE; i++) es_quantize_row(types[t], w_f32 + i * WCOLS, data + i * row_bytes, WCOLS);
            for (int i = 0; i < WIDE; i++)
                for (int b = 0; b < 4; b++) one(data + i * row_bytes, x + b * WCOLS, WCOLS, 1, WCOLS, &want[b * WIDE + i], 1);
            rows(data, (size_t)row_bytes, WIDE, x, WCOLS, 4, WCOLS, got, WIDE);
            CHECKF(same_floats(got, want, 4 * WIDE), "%s: %d rows in one call differ from the one-row dot",
                   es_dtype_name(types[t]), WIDE);
            free(data);
        }
        CHECK(es_rowdot_rows_avx512(ES_Q8_0) == NULL && es_rowdot_rows_avx2(ES_Q4_K) == NULL);
        CHECK(compared == 3 * 45 * 45);
        /* through the driver: batches 2-9 as batch 1 row by row, 1 and 2 threads (tiles of uneven size) */
        enum { MROWS = 101 };
        static float y_one[NB * MROWS], y[NB * MROWS];
        for (size_t t = 0; t < 3; t++) {
            int64_t row_bytes = es_dtype_row_bytes(types[t], COLS);
            uint8_t *data = malloc((size_t)(MROWS * row_bytes));
            for (int i = 0; i < MROWS; i++) {
                for (int c = 0; c < COLS; c++) w_f32[c] = uniform(&r, -1, 1);
                es_quantize_row(types[t], w_f32, data + i * row_bytes, COLS);
            }
            es_tensor wt = {types[t], {COLS, MROWS}, data};
            for (int b = 0; b < NB; b++) es_matmul_isa(isa, &wt, x + b * COLS, 1, y_one + b * MROWS, 1);
            for (int nb = 2; nb <= NB; nb++)
                for (int threads = 1; threads <= 2; threads++) {
                    es_matmul_isa(isa, &wt, x, nb, y, threads);
                    CHECKF(same_floats(y, y_one, nb * MROWS), "%s %s batch %d threads %d: matmul differs from batch 1",
                           es_isa_name(isa), es_dtype_name(types[t]), nb, threads);
                }
            free(data);
        }
    }
}

void suite_kernel_tiles(void) {
    test_rowdot_q8_rows();
    test_rowdot_rows(ES_ISA_AVX512);
    test_rowdot_rows(ES_ISA_AVX2);
}
