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

void es_softmax_probe_isa(es_isa isa, float *x, int n, es_softmax_stats *st) {
    float max = x[0];
    float abs_part[4] = {0, 0, 0, 0}; /* F32 partial sums of at most n/4 terms each */
    double abs_sum = 0;
    for (int j = 0; j < n; j++) {
        max = x[j] > max ? x[j] : max;
        abs_part[j & 3] += fabsf(x[j]);
        if ((j & 255) == 255) { /* fold into double every 256 terms: F32 error stays ~1e-5 */
            abs_sum += (double)abs_part[0] + abs_part[1] + abs_part[2] + abs_part[3];
            abs_part[0] = abs_part[1] = abs_part[2] = abs_part[3] = 0;
        }
    }
    abs_sum += (double)abs_part[0] + abs_part[1] + abs_part[2] + abs_part[3];
    /* the exponentials and Z of es_softmax (es_exp_sums), so p does not
     * depend on whether probes are on; A and B come from the same pass */
    double ab[2];
    double z = es_exp_sums_isa(isa, x, x, n, max, ab);
    float inv = (float)(1.0 / z);
    for (int j = 0; j < n; j++) x[j] *= inv;
    finish(z, ab[0], ab[1], &st->entropy, &st->varentropy);
    st->mean_abs_score = abs_sum / n;
}

double es_attn_agreement(const float *p, int n_heads, int n, size_t stride) {
    /* Positions in blocks, heads in the inner loops over contiguous rows
     * (each head's row is read in order, once per pass): the mean over
     * heads, then each head's distance from it. F32 within a block (errors
     * ~1e-7 of the value), double across blocks. */
    enum { BLOCK = 256 };
    float mean[BLOCK], dev[BLOCK];
    double total = 0;
    for (int j0 = 0; j0 < n; j0 += BLOCK) {
        const int m = n - j0 < BLOCK ? n - j0 : BLOCK;
        for (int j = 0; j < m; j++) mean[j] = dev[j] = 0.0f;
        for (int h = 0; h < n_heads; h++) {
            const float *row = p + (size_t)h * stride + j0;
            for (int j = 0; j < m; j++) mean[j] += row[j];
        }
        for (int j = 0; j < m; j++) mean[j] /= (float)n_heads;
        for (int h = 0; h < n_heads; h++) {
            const float *row = p + (size_t)h * stride + j0;
            for (int j = 0; j < m; j++) dev[j] += fabsf(row[j] - mean[j]);
        }
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
