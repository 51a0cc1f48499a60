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
/* In place, numerically stable (subtracts the max). */
void es_softmax(float *x, int n);
/* out[i] = silu(gate[i]) * up[i] */
void es_swiglu(float *out, const float *gate, const float *up, int n);
float es_dot_f32(const float *a, const float *b, int n);

#endif
