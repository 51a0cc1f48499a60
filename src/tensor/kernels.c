/* The forward pass's kernels: the matrix products (decode: one token,
 * prefill: a batch) and the small vector operations around them.
 *
 * Matrix products are split in two layers. This file is the driver: it
 * picks the instruction set (from the CPU, at run time), splits the output
 * rows into tiles spread over OpenMP threads, and walks the batch in blocks
 * of up to ES_ROWDOT_MAX_NB activation rows so each weight row is fetched
 * from memory once per tile and converted once per batch block. The row
 * dots (kernels_portable.c, kernels_avx2.c, kernels_avx512*.c) do the
 * arithmetic; for a batch, where an ISA has them, several-rows kernels
 * ("tiles": a block of weight rows against a block of activation rows in
 * registers) take a whole tile at once and keep the row dot's order. Every
 * output element is computed whole by one call in an order that depends on
 * neither the thread count nor the batch size, so -t 1 and -t 2 agree bit
 * for bit, and so do prefill and decode.
 *
 * Quantised weights, on every path: the driver first rounds each
 * activation row to 8 bits (es_quantize_q8_row, rule in
 * kernels_internal.h), once per product, inside the same parallel region
 * as the tiles (one region, one barrier per product), and the row dots
 * multiply integers (VNNI on AVX-512, maddubs on AVX2). The rounding
 * depends only on the row, so thread count and batch size still change
 * nothing.
 *
 * Precision: dots accumulate in F32 (several partial sums, see each ISA
 * file; integer paths exactly per 32-element block first); rmsnorm's sum
 * of squares and softmax's sum of exponentials are accumulated in double
 * (they are O(n), so the cost is nil). */
#include "tensor/kernels.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "entroscope.h"

#include "tensor/kernels_internal.h"

#if defined(__x86_64__) || defined(__i386__)
#define ES_X86 1
#endif

/* ---- instruction set choice ------------------------------------------ */

/* Asked on every call (the answer is not cached: no global state), so it
 * must be cheap: __builtin_cpu_supports reads a table the runtime filled at
 * start-up, including the OS-support check (XSAVE of ymm / zmm state).
 * Executing CPUID ourselves would cost ~20 us under a hypervisor. */
#ifdef ES_X86
/* clang 14 does not know the name "f16c"; there, rely on every x86 CPU with
 * AVX2 and FMA having F16C (Intel since Ivy Bridge, AMD since Piledriver,
 * both before their first AVX2 parts). */
static int cpu_has_f16c(void) {
#if defined(__clang__)
    return 1;
#else
    return __builtin_cpu_supports("f16c");
#endif
}
#endif

int es_isa_available(es_isa isa) {
    switch (isa) {
    case ES_ISA_BEST:
    case ES_ISA_PORTABLE: return 1;
#ifdef ES_X86
    case ES_ISA_AVX2:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && cpu_has_f16c();
    case ES_ISA_AVX512: /* F + BW + VL + VNNI: Ice Lake, Zen 4 and later */
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni") &&
               es_isa_available(ES_ISA_AVX2);
#endif
    default: return 0;
    }
}

es_isa es_isa_resolve(es_isa isa) {
    switch (isa) {
    case ES_ISA_PORTABLE: return ES_ISA_PORTABLE;
    case ES_ISA_AVX2: return es_isa_available(ES_ISA_AVX2) ? ES_ISA_AVX2 : ES_ISA_PORTABLE;
    case ES_ISA_AVX512:
        return es_isa_available(ES_ISA_AVX512) ? ES_ISA_AVX512 : es_isa_resolve(ES_ISA_AVX2);
    default: return es_isa_resolve(ES_ISA_AVX512);
    }
}

const char *es_isa_name(es_isa isa) {
    switch (isa) {
    case ES_ISA_BEST: return "best";
    case ES_ISA_PORTABLE: return "portable";
    case ES_ISA_AVX2: return "avx2";
    case ES_ISA_AVX512: return "avx512";
    default: return "?";
    }
}

/* The public names of the sets are the same enumeration. */
_Static_assert((int)ES_ISA_BEST == (int)ES_KERNELS_BEST && (int)ES_ISA_PORTABLE == (int)ES_KERNELS_PORTABLE &&
                   (int)ES_ISA_AVX2 == (int)ES_KERNELS_AVX2 && (int)ES_ISA_AVX512 == (int)ES_KERNELS_AVX512,
               "es_isa and es_kernels disagree");

const char *es_kernels_name(es_kernels k) { return es_isa_name((es_isa)k); }

es_kernels es_kernels_resolve(es_kernels k) { return (es_kernels)es_isa_resolve((es_isa)k); }

int es_kernels_parse(const char *name, es_kernels *out) {
    static const es_isa all[] = {ES_ISA_BEST, ES_ISA_PORTABLE, ES_ISA_AVX2, ES_ISA_AVX512};
    for (size_t i = 0; name && i < sizeof all / sizeof all[0]; i++)
        if (strcmp(name, es_isa_name(all[i])) == 0) {
            *out = (es_kernels)all[i];
            return 0;
        }
    return -1;
}

static es_rowdot_fn *rowdot_for(es_isa isa, es_dtype type) {
    switch (es_isa_resolve(isa)) {
    case ES_ISA_AVX512: return es_rowdot_avx512(type);
    case ES_ISA_AVX2: return es_rowdot_avx2(type);
    default: return es_rowdot_portable(type);
    }
}

/* The integer row dot of an ISA for a quantised type, NULL for the types
 * that have none (F32, F16, BF16). */
static es_rowdot_q8_fn *rowdot_q8_for(es_isa isa, es_dtype type) {
    switch (es_isa_resolve(isa)) {
    case ES_ISA_AVX512: return es_rowdot_q8_avx512(type);
    case ES_ISA_AVX2: return es_rowdot_q8_avx2(type);
    default: return es_rowdot_q8_portable(type);
    }
}

int es_isa_rounds_activations(es_isa isa, es_dtype type) {
    return rowdot_q8_for(isa, type) != NULL;
}

/* ---- activation quantisation (rule in kernels_internal.h) ------------- */

void es_quantize_q8_row(const float *x, int64_t n, uint8_t *dst) {
    int8_t *q = (int8_t *)dst;
    float *d = (float *)(void *)(dst + n);
    int16_t *sums = (int16_t *)(void *)(dst + n + 4 * (n / 32));
    for (int64_t k = 0; k < n / 32; k++) {
        const float *xk = x + 32 * k;
        float amax = 0.0f;
        int finite = 1;
        for (int i = 0; i < 32; i++) {
            float a = fabsf(xk[i]);
            finite &= a <= FLT_MAX; /* false for inf and NaN */
            amax = a > amax ? a : amax;
        }
        float dk = amax / 127.0f, id = dk > 0.0f ? 1.0f / dk : 0.0f;
        d[k] = finite ? dk : NAN;
        for (int h = 0; h < 2; h++) {
            int sum = 0;
            for (int i = 16 * h; i < 16 * h + 16; i++) {
                int v = finite ? (int)nearbyintf(xk[i] * id) : 0; /* |v| <= 127 */
                q[32 * k + i] = (int8_t)v;
                sum += v;
            }
            sums[2 * k + h] = (int16_t)sum;
        }
    }
}

/* ---- matrix products ------------------------------------------------- */

/* Rows of weights per tile: about 64 KiB of them, so a tile stays in L2
 * while every batch block passes over it. */
#define TILE_BYTES (64 * 1024)
#define TILE_MAX_ROWS 16
/* The several-rows F32-activation kernels walk the whole batch per tile,
 * reading the tile from L2 once per 3 activation rows, and each pass of
 * the activations from L1 once per row group: so up to 48 rows, in at most
 * 3/4 of a core's L2. Measured (F16, batch 128, one thread, alternating in
 * one process): 2048-element rows are best at 48 rows (192 KiB; 96 and 128
 * rows gave the same, 16 10-30% less); 8192-element rows (ffn_down) went
 * from 131-139 GFLOP/s with 12 rows (192 KiB) to 150-158 with 32-48 (512-
 * 768 KiB), 64 and 96 rows 146. */
#define ROWS_TILE_MAX_ROWS 48
#define ROWS_TILE_DEFAULT_BYTES (192 * 1024) /* where the L2 size is unknown */

static int64_t rows_tile_bytes(void) {
#ifdef _SC_LEVEL2_CACHE_SIZE
    long l2 = sysconf(_SC_LEVEL2_CACHE_SIZE); /* glibc reads it from cpuid; 0 or -1 if unknown */
    if (l2 >= 256 * 1024) return (int64_t)l2 / 4 * 3;
#endif
    return ROWS_TILE_DEFAULT_BYTES;
}

typedef struct matmul_plan {
    es_rowdot_fn *dot;       /* F32 activations, or */
    es_rowdot_q8_fn *dot_q8; /* Q8 activation rows (xq) */
    const uint8_t *w;  /* n_rows rows of row_bytes */
    size_t row_bytes;
    int64_t n_cols;    /* elements per weight row = floats per activation row */
    int64_t n_rows;    /* weight rows = floats per output row */
    const float *x;    /* (n_batch, n_cols) */
    const uint8_t *xq; /* (n_batch, xq_bytes): x quantised, for dot_q8 */
    int64_t xq_bytes;
    float *y;          /* (n_batch, n_rows) */
    int n_batch;
    int64_t tile_rows;
    es_rowdot_q8_rows_fn *dot_q8_rows; /* several rows per call, for batches (or NULL) */
    es_rowdot_rows_fn *dot_rows;       /* the same with F32 activations (or NULL) */
} matmul_plan;

static void matmul_tile(const matmul_plan *p, int64_t tile) {
    int64_t r0 = tile * p->tile_rows;
    int64_t r1 = r0 + p->tile_rows < p->n_rows ? r0 + p->tile_rows : p->n_rows;
    if (p->dot_rows && p->n_batch > 1) { /* the tile against the whole batch, blocked inside */
        p->dot_rows(p->w + (size_t)r0 * p->row_bytes, p->row_bytes, (int)(r1 - r0), p->x, p->n_cols,
                    p->n_batch, p->n_cols, p->y + r0, p->n_rows);
        return;
    }
    int max_nb = p->dot_q8 ? ES_ROWDOT_Q8_MAX_NB : ES_ROWDOT_MAX_NB;
    for (int b0 = 0; b0 < p->n_batch; b0 += max_nb) {
        int nb = p->n_batch - b0 < max_nb ? p->n_batch - b0 : max_nb;
        float *yb = p->y + (int64_t)b0 * p->n_rows;
        if (p->dot_q8) {
            const uint8_t *xb = p->xq + (int64_t)b0 * p->xq_bytes;
            if (p->dot_q8_rows && nb > 1) { /* the tile's rows at once: one activation load serves several */
                p->dot_q8_rows(p->w + (size_t)r0 * p->row_bytes, p->row_bytes, (int)(r1 - r0), xb,
                               p->xq_bytes, nb, p->n_cols, yb + r0, p->n_rows);
                continue;
            }
            for (int64_t r = r0; r < r1; r++)
                p->dot_q8(p->w + (size_t)r * p->row_bytes, xb, p->xq_bytes, nb, p->n_cols, yb + r, p->n_rows);
        } else {
            const float *xb = p->x + (int64_t)b0 * p->n_cols;
            for (int64_t r = r0; r < r1; r++)
                p->dot(p->w + (size_t)r * p->row_bytes, xb, p->n_cols, nb, p->n_cols, yb + r, p->n_rows);
        }
    }
}

/* Weight rows per tile: about tile_bytes of them (at most max_rows), then,
 * with several threads, evened out so that the tile count is a multiple of
 * the thread count (11 tiles of 48 rows on 2 threads left one thread idle
 * for a tile in 11), in multiples of `granule` rows (the tile kernels' row
 * group). */
static int64_t tile_rows_for(size_t row_bytes, int64_t n_rows, int n_threads, int64_t tile_bytes, int64_t max_rows,
                             int64_t granule) {
    int64_t rows = row_bytes > 0 ? (int64_t)(tile_bytes / row_bytes) : max_rows;
    if (rows > max_rows) rows = max_rows;
    if (rows < 1) rows = 1;
    if (n_threads > 1) {
        int64_t tiles = (n_rows + rows - 1) / rows;
        tiles = (tiles + n_threads - 1) / n_threads * n_threads;
        int64_t even = (n_rows + tiles - 1) / tiles;
        even = (even + granule - 1) / granule * granule;
        if (even < rows) rows = even;
    }
    return rows;
}

static void quantize_rows(es_isa isa, const matmul_plan *p, int64_t b) {
    uint8_t *dst = (uint8_t *)p->xq + b * p->xq_bytes;
    if (isa == ES_ISA_AVX512) es_quantize_q8_row_avx512(p->x + b * p->n_cols, p->n_cols, dst);
    else if (isa == ES_ISA_AVX2) es_quantize_q8_row_avx2(p->x + b * p->n_cols, p->n_cols, dst);
    else es_quantize_q8_row(p->x + b * p->n_cols, p->n_cols, dst);
}

/* One parallel region per product: the threads quantise the activation
 * rows (if the type wants them), meet once, and then share the tiles, in
 * chunks of about an eighth of a thread's share taken as they come: on a
 * shared machine one core is often slower than the other, and a static
 * split left the fast one waiting (2 threads, alternating runs: F16 prefill
 * 103-105 -> 111-115 tokens/s, Q8_0 decode 29-31 -> 31-32). A tile is still
 * computed whole by one thread, so which thread takes it changes no bit. */
static void matmul_run(es_isa isa, const matmul_plan *p, int n_threads) {
    int64_t n_tiles = (p->n_rows + p->tile_rows - 1) / p->tile_rows;
    int64_t n_quant = p->dot_q8 ? p->n_batch : 0;
    if (n_threads <= 1 || (n_tiles == 1 && n_quant <= 1)) {
        for (int64_t b = 0; b < n_quant; b++) quantize_rows(isa, p, b);
        for (int64_t t = 0; t < n_tiles; t++) matmul_tile(p, t);
        return;
    }
    int chunk = n_tiles / (8 * n_threads) > 1 ? (int)(n_tiles / (8 * n_threads)) : 1;
#pragma omp parallel num_threads(n_threads)
    {
#pragma omp for schedule(static)
        for (int64_t b = 0; b < n_quant; b++) quantize_rows(isa, p, b);
#pragma omp for schedule(dynamic, chunk)
        for (int64_t t = 0; t < n_tiles; t++) matmul_tile(p, t);
    }
}

void es_matmul_isa(es_isa isa, const es_tensor *w, const float *x, int n_batch,
                   float *y, int n_threads) {
    int64_t n_cols = w->ne[0], n_rows = w->ne[1];
    if (n_batch <= 0 || n_rows <= 0) return;
    isa = es_isa_resolve(isa);
    int64_t row_bytes = es_dtype_row_bytes(w->type, n_cols);
    matmul_plan plan = {NULL, rowdot_q8_for(isa, w->type), w->data, (size_t)row_bytes, n_cols, n_rows,
                        x, NULL, 0, y, n_batch, 0, NULL, NULL};
    uint8_t *xq = NULL;
    if (plan.dot_q8) {
        plan.xq_bytes = es_q8_row_bytes(n_cols);
        if (row_bytes > 0) xq = aligned_alloc(64, (size_t)(n_batch * plan.xq_bytes));
        plan.xq = xq;
#ifdef ES_X86
        if (es_isa_resolve(isa) == ES_ISA_AVX512) plan.dot_q8_rows = es_rowdot_q8_rows_avx512(w->type);
#endif
    } else {
        plan.dot = rowdot_for(isa, w->type);
#ifdef ES_X86
        if (isa == ES_ISA_AVX512) plan.dot_rows = es_rowdot_rows_avx512(w->type);
        if (isa == ES_ISA_AVX2) plan.dot_rows = es_rowdot_rows_avx2(w->type);
#endif
    }
    if ((!plan.dot && !plan.xq) || row_bytes < 0) { /* no kernel (or memory): NaN, so the slip shows */
        for (int64_t i = 0; i < (int64_t)n_batch * n_rows; i++) y[i] = NAN;
        free(xq);
        return;
    }
    if (plan.dot_rows && n_batch > 1) /* granule: the tile kernels' row groups */
        plan.tile_rows = tile_rows_for(plan.row_bytes, n_rows, n_threads, rows_tile_bytes(), ROWS_TILE_MAX_ROWS,
                                       isa == ES_ISA_AVX2 ? ES_TILE_NR_AVX2 : ES_TILE_NR_AVX512);
    else
        plan.tile_rows = tile_rows_for(plan.row_bytes, n_rows, n_threads, TILE_BYTES, TILE_MAX_ROWS, 4);
    matmul_run(isa, &plan, n_threads);
    free(xq);
}

void es_matmul(const es_tensor *w, const float *x, int n_batch, float *y, int n_threads) {
    es_matmul_isa(ES_ISA_BEST, w, x, n_batch, y, n_threads);
}

void es_matvec(const es_tensor *w, const float *x, float *y, int n_threads) {
    es_matmul_isa(ES_ISA_BEST, w, x, 1, y, n_threads);
}

float es_dot_f32_isa(es_isa isa, const float *a, const float *b, int n) {
    float out = 0.0f;
    if (n > 0) rowdot_for(isa, ES_F32)(a, b, n, 1, n, &out, 1);
    return out;
}

float es_dot_f32(const float *a, const float *b, int n) {
    return es_dot_f32_isa(ES_ISA_BEST, a, b, n);
}

void es_dot_f32_rows_isa(es_isa isa, const float *a, const float *rows, size_t stride, int n_rows, int n,
                         float *out) {
    if (n <= 0) {
        for (int t = 0; t < n_rows; t++) out[t] = 0.0f;
        return;
    }
#ifdef ES_X86
    const es_isa resolved = n >= 32 ? es_isa_resolve(isa) : ES_ISA_PORTABLE;
    if (resolved == ES_ISA_AVX512) {
        es_dot_f32_rows_avx512(a, rows, stride, n_rows, n, out);
        return;
    }
    if (resolved == ES_ISA_AVX2) {
        es_dot_f32_rows_avx2(a, rows, stride, n_rows, n, out);
        return;
    }
#endif
    es_rowdot_fn *dot = rowdot_for(isa, ES_F32);
    for (int t = 0; t < n_rows; t += ES_ROWDOT_MAX_NB) {
        int nb = n_rows - t < ES_ROWDOT_MAX_NB ? n_rows - t : ES_ROWDOT_MAX_NB;
        dot(a, rows + (size_t)t * stride, (int64_t)stride, nb, n, out + t, 1);
    }
}

void es_dot_f32_rows(const float *a, const float *rows, size_t stride, int n_rows, int n,
                     float *out) {
    es_dot_f32_rows_isa(ES_ISA_BEST, a, rows, stride, n_rows, n, out);
}

void es_dot_f32_rows_multi_isa(es_isa isa, const float *a, size_t a_stride, int n_a, const float *rows,
                               size_t stride, int n_rows, int n, float *out, size_t out_stride) {
#ifdef ES_X86
    if (n >= 32 && es_isa_resolve(isa) == ES_ISA_AVX512) {
        es_dot_f32_rows_multi_avx512(a, a_stride, n_a, rows, stride, n_rows, n, out, out_stride);
        return;
    }
#endif
    for (int k = 0; k < n_a; k++)
        es_dot_f32_rows_isa(isa, a + k * a_stride, rows, stride, n_rows, n, out + k * out_stride);
}

void es_dot_f32_rows_multi(const float *a, size_t a_stride, int n_a, const float *rows, size_t stride, int n_rows,
                           int n, float *out, size_t out_stride) {
    es_dot_f32_rows_multi_isa(ES_ISA_BEST, a, a_stride, n_a, rows, stride, n_rows, n, out, out_stride);
}

static void weighted_rows(es_isa isa, const float *w, const float *rows, size_t stride, int n_rows, int n,
                          float *out, int add) {
#ifdef ES_X86
    switch (es_isa_resolve(isa)) {
    case ES_ISA_AVX512: es_weighted_rows_avx512(w, rows, stride, n_rows, n, out, add); return;
    case ES_ISA_AVX2: es_weighted_rows_avx2(w, rows, stride, n_rows, n, out, add); return;
    default: break;
    }
#endif
    es_weighted_rows_portable(w, rows, stride, n_rows, n, out, add);
}

void es_weighted_rows_isa(es_isa isa, const float *w, const float *rows, size_t stride,
                          int n_rows, int n, float *out) {
    weighted_rows(isa, w, rows, stride, n_rows, n, out, 0);
}

void es_weighted_rows_add_isa(es_isa isa, const float *w, const float *rows, size_t stride,
                              int n_rows, int n, float *out) {
    weighted_rows(isa, w, rows, stride, n_rows, n, out, 1);
}

void es_weighted_rows(const float *w, const float *rows, size_t stride, int n_rows, int n,
                      float *out) {
    weighted_rows(ES_ISA_BEST, w, rows, stride, n_rows, n, out, 0);
}

void es_weighted_rows_multi_isa(es_isa isa, const float *w, size_t w_stride, int n_w, const float *rows,
                                size_t stride, int n_rows, int n, float *out, size_t out_stride, int add) {
#ifdef ES_X86
    switch (es_isa_resolve(isa)) {
    case ES_ISA_AVX512: es_weighted_rows_multi_avx512(w, w_stride, n_w, rows, stride, n_rows, n, out, out_stride, add); return;
    case ES_ISA_AVX2: es_weighted_rows_multi_avx2(w, w_stride, n_w, rows, stride, n_rows, n, out, out_stride, add); return;
    default: break;
    }
#endif
    for (int h = 0; h < n_w; h++) weighted_rows(isa, w + h * w_stride, rows, stride, n_rows, n, out + h * out_stride, add);
}

void es_weighted_rows_multi(const float *w, size_t w_stride, int n_w, const float *rows, size_t stride, int n_rows,
                            int n, float *out, size_t out_stride, int add) {
    es_weighted_rows_multi_isa(ES_ISA_BEST, w, w_stride, n_w, rows, stride, n_rows, n, out, out_stride, add);
}

/* ---- vector operations ----------------------------------------------- */

/* out may be x (the scale is known before anything is written). */
void es_rmsnorm(float *out, const float *x, const float *weight, int n, float eps) {
    if (n <= 0) return;
    double ss[4] = {0, 0, 0, 0}; /* 4 sums: the add latency, not the adds, is the cost */
    int i = 0;
    for (; i + 4 <= n; i += 4)
        for (int l = 0; l < 4; l++) ss[l] += (double)x[i + l] * x[i + l];
    for (; i < n; i++) ss[0] += (double)x[i] * x[i];
    double mean = ((ss[0] + ss[1]) + (ss[2] + ss[3])) / n;
    float scale = (float)(1.0 / sqrt(mean + eps));
    for (i = 0; i < n; i++) out[i] = x[i] * scale * weight[i];
}

/* Inputs finite or -inf (a masked position). All -inf, the limit of equal
 * logits, gives the uniform distribution. */
void es_softmax(float *x, int n) {
    es_softmax_isa(ES_ISA_BEST, x, n);
}

void es_softmax_isa(es_isa isa, float *x, int n) {
    if (n <= 0) return;
    float max = x[0];
    for (int i = 1; i < n; i++) max = x[i] > max ? x[i] : max;
    if (max == -INFINITY) {
        for (int i = 0; i < n; i++) x[i] = 1.0f / (float)n;
        return;
    }
    double sum = es_exp_sums_isa(isa, x, x, n, max, NULL); /* each e <= 1, the max's 1: no overflow */
    float inv = (float)(1.0 / sum);
    for (int i = 0; i < n; i++) x[i] *= inv;
}

double es_exp_sums_portable(const float *x, float *e, int n, float max, double ab[2]) {
    double z[8] = {0}, a[8] = {0}, b[8] = {0};
    for (int i = 0; i < n; i++) {
        float d = x[i] - max;
        d = d < -FLT_MAX ? -FLT_MAX : d; /* -inf: e 0, e d 0 (NaN stays NaN) */
        float ei = expf(d);
        double ed = (double)ei * d;
        if (e) e[i] = ei;
        z[i % 8] += ei;
        a[i % 8] += ed;
        b[i % 8] += ed * d;
    }
    if (ab) ab[0] = es_sum8(a), ab[1] = es_sum8(b);
    return es_sum8(z);
}

/* A softmax over 1,024 positions was ~20 cycles an element in scalar expf
 * and a single chain of double additions: the attention of a decode step
 * at that context spent about as long there as in its dot products. */
double es_exp_sums_isa(es_isa isa, const float *x, float *e, int n, float max, double ab[2]) {
#ifdef ES_X86
    switch (es_isa_resolve(isa)) {
    case ES_ISA_AVX512: return es_exp_sums_avx512(x, e, n, max, ab);
    case ES_ISA_AVX2: return es_exp_sums_avx2(x, e, n, max, ab);
    default: break;
    }
#endif
    return es_exp_sums_portable(x, e, n, max, ab);
}

double es_exp_sums(const float *x, float *e, int n, float max, double ab[2]) {
    return es_exp_sums_isa(ES_ISA_BEST, x, e, n, max, ab);
}

/* silu(g) = g * sigmoid(g) = g / (1 + e^-g); for g << 0, e^-g -> inf and
 * the quotient -> -0, the right limit. */
void es_swiglu_portable(float *out, const float *gate, const float *up, int n) {
    for (int i = 0; i < n; i++) {
        float g = gate[i];
        out[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

/* The scalar loop spent ~3% of an F16 prefill in expf (one call per element
 * of the 8192-wide hidden layer). */
void es_swiglu_isa(es_isa isa, float *out, const float *gate, const float *up, int n) {
#ifdef ES_X86
    switch (es_isa_resolve(isa)) {
    case ES_ISA_AVX512: es_swiglu_avx512(out, gate, up, n); return;
    case ES_ISA_AVX2: es_swiglu_avx2(out, gate, up, n); return;
    default: break;
    }
#endif
    es_swiglu_portable(out, gate, up, n);
}

void es_swiglu(float *out, const float *gate, const float *up, int n) {
    es_swiglu_isa(ES_ISA_BEST, out, gate, up, n);
}
