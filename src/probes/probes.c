/* The probes' arithmetic: fused softmax statistics for the attention
 * kernel, the heads' agreement, and the logit statistics. Definitions in
 * probes.h and in the README ("Statistics"). */
#include "probes/probes.h"

#include <math.h>
#include <stddef.h>

#include "entroscope.h"

/* H and V from the three sums (see probes.h). V is clamped at 0: rounding
 * can push B/Z - (A/Z)^2 a hair below zero for a near one-hot p. */
static void finish(double z, double a, double b, double *entropy, double *varentropy) {
    double mean = a / z;
    *entropy = log(z) - mean;
    double v = b / z - mean * mean;
    *varentropy = v > 0 ? v : 0;
}

void es_softmax_probe(float *x, int n, es_softmax_stats *st) {
    float max = x[0];
    double abs_sum = 0;
    for (int i = 0; i < n; i++) {
        max = x[i] > max ? x[i] : max;
        abs_sum += fabsf(x[i]);
    }
    /* the same float operations as es_softmax, so p does not depend on
     * whether probes are on */
    double z = 0, a = 0, b = 0;
    for (int i = 0; i < n; i++) {
        float d = x[i] - max;
        x[i] = expf(d);
        double e = x[i], dd = d;
        z += e;
        a += e * dd;
        b += e * dd * dd;
    }
    float inv = (float)(1.0 / z);
    for (int i = 0; i < n; i++) x[i] *= inv;
    finish(z, a, b, &st->entropy, &st->varentropy);
    st->mean_abs_score = abs_sum / n;
}

double es_attn_agreement(const float *p, int n_heads, int n, size_t stride) {
    double total = 0;
    for (int j = 0; j < n; j++) {
        double mean = 0;
        for (int h = 0; h < n_heads; h++) mean += p[(size_t)h * stride + j];
        mean /= n_heads;
        for (int h = 0; h < n_heads; h++) total += fabs(p[(size_t)h * stride + j] - mean);
    }
    return total / ((double)n_heads * n);
}

void es_logit_stats(const float *logits, int n, int32_t token, double *entropy,
                    double *varentropy, double *logprob_of) {
    float max = logits[0];
    for (int i = 1; i < n; i++) max = logits[i] > max ? logits[i] : max;
    double z = 0, a = 0, b = 0;
    for (int i = 0; i < n; i++) {
        float d = logits[i] - max;
        double e = expf(d), dd = d;
        if (e == 0) continue; /* also keeps a -inf logit (a banned token) out: 0 * -inf */
        z += e;
        a += e * dd;
        b += e * dd * dd;
    }
    double h, v;
    finish(z, a, b, &h, &v);
    if (entropy) *entropy = h;
    if (varentropy) *varentropy = v;
    if (logprob_of)
        *logprob_of = token >= 0 && token < n ? (double)(logits[token] - max) - log(z) : NAN;
}
