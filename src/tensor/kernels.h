/* The compute kernels of the forward pass. Every one has a plain
 * double-precision reference beside it in tests/test_kernels.c.
 * Threads: each output row is computed whole by one thread, in the same
 * order whatever the thread count, so results do not depend on -t. */
#ifndef ES_TENSOR_KERNELS_H
#define ES_TENSOR_KERNELS_H

#include "tensor/tensor.h"

/* y[r] = sum_c W[r][c] * x[c]   for r < W->ne[1]; x has W->ne[0] floats. */
void es_matvec(const es_tensor *w, const float *x, float *y, int n_threads);

/* Y[b][r] = sum_c W[r][c] * X[b][c]   for b < n_batch, r < W->ne[1].
 * X is n_batch rows of W->ne[0] floats, Y n_batch rows of W->ne[1]. */
void es_matmul(const es_tensor *w, const float *x, int n_batch, float *y,
               int n_threads);

/* out[i] = x[i] / sqrt(mean(x^2) + eps) * weight[i] */
void es_rmsnorm(float *out, const float *x, const float *weight, int n, float eps);
/* In place, numerically stable (subtracts the max): p = e / Z with the e
 * and Z of es_exp_sums, p = e * (float)(1 / Z). */
void es_softmax(float *x, int n);
/* e_i = exp(x[i] - max) for i < n (max: the largest x, finite) into e
 * (which may be x, or NULL: not kept), and their sum Z in double, returned:
 * eight partial sums, e_i going to sum i % 8 in order, added as
 * ((s0 + s4) + (s2 + s6)) + ((s1 + s5) + (s3 + s7)). With ab, also
 * A = sum e_i d_i and B = sum e_i d_i^2 (d_i = x[i] - max in F32, at least
 * -FLT_MAX so that a -inf x adds 0, products in double) summed the same
 * way: the probes' sums. exp is expf on the portable path, libmvec's vector
 * expf on AVX2 and AVX-512, the same for every element wherever it falls. */
double es_exp_sums(const float *x, float *e, int n, float max, double ab[2]);
/* out[i] = silu(gate[i]) * up[i] */
void es_swiglu(float *out, const float *gate, const float *up, int n);
float es_dot_f32(const float *a, const float *b, int n);
/* out[t] = a . rows[t * stride .. + n)   for t < n_rows: one query against
 * the cached keys. One code-path choice for all rows (the attention loop
 * would otherwise pay for it per position); each out[t] is bit for bit
 * es_dot_f32(a, rows + t * stride, n). */
void es_dot_f32_rows(const float *a, const float *rows, size_t stride, int n_rows, int n,
                     float *out);
/* out[d] = sum_t w[t] * rows[t * stride + d]   for d < n: the attention's
 * weighted sum of the cached values, summed over t in order for each d. */
void es_weighted_rows(const float *w, const float *rows, size_t stride, int n_rows, int n,
                      float *out);
/* Several queries (weight rows) against the same rows at once, for
 * grouped-query attention: query k at a + k * a_stride (w + k * w_stride),
 * its results at out + k * out_stride, each bit for bit what the one-query
 * call gives; the shared rows are read once. add: the weighted sums
 * continue from out[d] (es_weighted_rows_add_isa), so rows 0..a-1 then
 * a..n_rows-1 give the bits of one call over all (the attention walks the
 * cache in blocks). */
void es_dot_f32_rows_multi(const float *a, size_t a_stride, int n_a, const float *rows, size_t stride, int n_rows,
                           int n, float *out, size_t out_stride);
void es_weighted_rows_multi(const float *w, size_t w_stride, int n_w, const float *rows, size_t stride, int n_rows,
                            int n, float *out, size_t out_stride, int add);

/* Added by the kernels module (internal, for the tests and benchmarks).
 * The matrix kernels come in several instruction sets, chosen at run time
 * from what the CPU has; es_matvec / es_matmul / es_dot_f32 use ES_ISA_BEST.
 * The choice is an argument, not a global switch, so that a test can run
 * every code path side by side without touching shared state. An ISA the
 * CPU lacks falls back to the best one it has below it (AVX-512 -> AVX2 ->
 * portable), so a call never faults; es_isa_available says which ones are
 * real. Results differ between ISAs (summation order), never between
 * thread counts or batch sizes of one ISA.
 * Speed: give the matrix kernels 64-byte-aligned activations (x) whose row
 * length is a multiple of 16; AVX-512 loads that straddle cache lines cost
 * up to 1.5x when the data is in cache. Any alignment is correct. */
typedef enum es_isa {
    ES_ISA_BEST = 0,  /* the best this CPU has */
    ES_ISA_PORTABLE,  /* plain C, any CPU */
    ES_ISA_AVX2,      /* x86 AVX2 + FMA + F16C */
    ES_ISA_AVX512,    /* x86 AVX-512 F/BW/VL/VNNI (Ice Lake, Zen 4 and later) */
} es_isa;

int es_isa_available(es_isa isa);   /* 1 if this CPU runs it natively */
es_isa es_isa_resolve(es_isa isa);  /* the ISA a call with `isa` really uses */
const char *es_isa_name(es_isa isa); /* "avx512", "avx2", "portable", "best" */

/* Quantised weights (Q8_0, Q4_0, Q4_K, Q5_K, Q6_K): on every path the
 * activations are rounded to 8 bits per 32 elements first (rule in
 * kernels_internal.h) and the dots are integer (VNNI on AVX-512, maddubs
 * on AVX2; each set's F32-activation row dots for them stay, tested,
 * as baselines).
 * es_matmul with an explicit ISA; es_matvec(w, x, y, t) is exactly
 * es_matmul_isa(ES_ISA_BEST, w, x, 1, y, t). Unsupported weight types or a
 * row length that is not a whole number of blocks give NaN outputs. */
void es_matmul_isa(es_isa isa, const es_tensor *w, const float *x, int n_batch,
                   float *y, int n_threads);
float es_dot_f32_isa(es_isa isa, const float *a, const float *b, int n);
/* 1 if es_matmul_isa(isa, ...) on weights of this type rounds its input
 * to 8 bits (integer dot products), 0 if it multiplies F32 activations. */
int es_isa_rounds_activations(es_isa isa, es_dtype type);
void es_weighted_rows_isa(es_isa isa, const float *w, const float *rows, size_t stride,
                          int n_rows, int n, float *out);
/* es_weighted_rows continued from out[d] (see es_weighted_rows_multi). */
void es_weighted_rows_add_isa(es_isa isa, const float *w, const float *rows, size_t stride,
                              int n_rows, int n, float *out);
void es_weighted_rows_multi_isa(es_isa isa, const float *w, size_t w_stride, int n_w, const float *rows,
                                size_t stride, int n_rows, int n, float *out, size_t out_stride, int add);
double es_exp_sums_isa(es_isa isa, const float *x, float *e, int n, float max, double ab[2]);
void es_softmax_isa(es_isa isa, float *x, int n);
void es_dot_f32_rows_isa(es_isa isa, const float *a, const float *rows, size_t stride, int n_rows, int n,
                         float *out);
void es_dot_f32_rows_multi_isa(es_isa isa, const float *a, size_t a_stride, int n_a, const float *rows,
                               size_t stride, int n_rows, int n, float *out, size_t out_stride);
/* es_swiglu with an explicit ISA: AVX2 and AVX-512 take exp from glibc's
 * vector math library (libmvec, at most 4 ulp), the portable path expf. */
void es_swiglu_isa(es_isa isa, float *out, const float *gate, const float *up, int n);

#endif
