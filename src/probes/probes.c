/* The probes' arithmetic: fused softmax statistics for the attention
 * kernel, the heads' agreement, and the logit statistics. Definitions in
 * probes.h and in the README ("Statistics"). */
#include "probes/probes.h"

#include <math.h>
#include <stddef.h>

#include "entroscope.h"
#include "tensor/kernels.h"

/* H and V from the three sums (see probes.h). V is clamped at 0: rounding
 * can push B/Z - (A/Z)^2 a hair below zero for a near one-hot p. */
static void finish(double z, double a, double b, double *entropy, double *varentropy) {
    double mean = a / z;
    *entropy = log(z) - mean;
    double v = b / z - mean * mean;
    *varentropy = v > 0 ? v : 0;
}

void es_softmax_probe(float *x, int n, es_softmax_stats *st) {
    es_softmax_probe_isa(ES_ISA_BEST, x, n, st);
}

/* The largest score and the mean |score| in one pass, four lanes: lane k
 * takes j = k mod 4 in order (the F32 partial sums abs_part[k], folded into
 * double every 256 terms: the error stays ~1e-5), the lanes' maxima
 * combined at the end (a max does not depend on the order; a NaN at x[0]
 * stays the max, a later one is never taken, as in a single chain). Written
 * as four lanes so that the compiler makes it one vector operation a step
 * (one scalar chain was ~1.7% of a two-thread decode at 1,024 positions). */
static float max_and_abs_sum(const float *x, int n, double *abs_sum) {
    float m[4] = {x[0], x[0], x[0], x[0]}, part[4] = {0, 0, 0, 0};
    double sum = 0;
    for (int j0 = 0; j0 < n; j0 += 256) {
        const int end = n - j0 < 256 ? n : j0 + 256;
        int j = j0;
        for (; j + 4 <= end; j += 4)
            for (int k = 0; k < 4; k++) {
                m[k] = x[j + k] > m[k] ? x[j + k] : m[k];
                part[k] += fabsf(x[j + k]);
            }
        for (; j < end; j++) { /* j0 is a multiple of 4: lane j % 4 */
            m[j & 3] = x[j] > m[j & 3] ? x[j] : m[j & 3];
            part[j & 3] += fabsf(x[j]);
        }
        sum += (double)part[0] + part[1] + part[2] + part[3];
        part[0] = part[1] = part[2] = part[3] = 0;
    }
    *abs_sum = sum;
    float max = m[0];
    for (int k = 1; k < 4; k++) max = m[k] > max ? m[k] : max;
    return max;
}

void es_softmax_probe_isa(es_isa isa, float *x, int n, es_softmax_stats *st) {
    double abs_sum;
    float max = max_and_abs_sum(x, n, &abs_sum);
    /* the exponentials and Z of es_softmax (es_exp_sums), so p does not
     * depend on whether probes are on; A and B come from the same pass */
    double ab[2];
    double z = es_exp_sums_isa(isa, x, x, n, max, ab);
    float inv = (float)(1.0 / z);
#pragma omp simd
    for (int j = 0; j < n; j++) x[j] *= inv;
    finish(z, ab[0], ab[1], &st->entropy, &st->varentropy);
    st->mean_abs_score = abs_sum / n;
}

void es_attn_agreement_devs(const float *p, int n_heads, int j0, int m, size_t stride, float *dev) {
    float mean[ES_AGREEMENT_BLOCK];
    for (int j = 0; j < m; j++) mean[j] = dev[j] = 0.0f;
    for (int h = 0; h < n_heads; h++) {
        const float *row = p + (size_t)h * stride + j0;
#pragma omp simd
        for (int j = 0; j < m; j++) mean[j] += row[j];
    }
#pragma omp simd
    for (int j = 0; j < m; j++) mean[j] /= (float)n_heads;
    for (int h = 0; h < n_heads; h++) {
        const float *row = p + (size_t)h * stride + j0;
#pragma omp simd
        for (int j = 0; j < m; j++) dev[j] += fabsf(row[j] - mean[j]);
    }
}

double es_attn_agreement(const float *p, int n_heads, int n, size_t stride) {
    /* Positions in blocks, heads in the inner loops over contiguous rows
     * (each head's row is read in order, once per pass): the mean over
     * heads, then each head's distance from it. F32 within a block (errors
     * ~1e-7 of the value), double across positions, in order. */
    float dev[ES_AGREEMENT_BLOCK];
    double total = 0;
    for (int j0 = 0; j0 < n; j0 += ES_AGREEMENT_BLOCK) {
        const int m = n - j0 < ES_AGREEMENT_BLOCK ? n - j0 : ES_AGREEMENT_BLOCK;
        es_attn_agreement_devs(p, n_heads, j0, m, stride, dev);
        for (int j = 0; j < m; j++) total += dev[j];
    }
    return total / ((double)n_heads * n);
}

void es_logit_stats(const float *logits, int n, int32_t token, double *entropy,
                    double *varentropy, double *logprob_of) {
    float max = logits[0];
    for (int i = 1; i < n; i++) max = logits[i] > max ? logits[i] : max;
    double ab[2]; /* a -inf logit (a banned token) adds 0 to all three sums */
    double z = es_exp_sums(logits, NULL, n, max, ab);
    double h, v;
    finish(z, ab[0], ab[1], &h, &v);
    if (entropy) *entropy = h;
    if (varentropy) *varentropy = v;
    if (logprob_of)
        *logprob_of = token >= 0 && token < n ? (double)(logits[token] - max) - log(z) : NAN;
}
