/* The probes: the statistics entroscope measures inside the model, computed
 * where the numbers already are, so that they cost next to nothing.
 *
 * Attention: the forward pass (src/transformer) calls es_softmax_probe in
 * place of es_softmax for each (layer, head, query) score row. It turns the
 * scaled scores s_j (j = 0..q, the real context only) into the same
 * probabilities es_softmax gives, bit for bit, and in the same pass
 * accumulates, in double,
 *   Z = sum_j e_j,  A = sum_j e_j d_j,  B = sum_j e_j d_j^2,
 * with d_j = s_j - max_j s_j and e_j = exp(d_j), so that p_j = e_j / Z and
 * ln p_j = d_j - ln Z. Then
 *   H = -sum_j p_j ln p_j = ln Z - A/Z                    (nats)
 *   V = sum_j p_j (ln p_j + H)^2 = B/Z - (A/Z)^2          (nats^2)
 * (V is the variance of the surprisal -ln p, which is the variance of d
 * under p, since ln Z is a constant). No attention matrix is kept.
 *
 * The logits: es_logit_stats (declared in entroscope.h) does the same over
 * the vocabulary at temperature 1. */
#ifndef ES_PROBES_PROBES_H
#define ES_PROBES_PROBES_H

#include <stddef.h>
#include <stdint.h>

#include "tensor/kernels.h"

typedef struct es_softmax_stats {
    double entropy;        /* H, nats */
    double varentropy;     /* V, nats^2 */
    double mean_abs_score; /* mean_j |s_j| before the softmax */
} es_softmax_stats;

/* In place: x[0..n) scores -> probabilities (exactly es_softmax's), and
 * their statistics. n >= 1, scores finite. The _isa form takes the
 * exponentials from that kernel set (es_softmax_isa's). */
void es_softmax_probe(float *x, int n, es_softmax_stats *st);
void es_softmax_probe_isa(es_isa isa, float *x, int n, es_softmax_stats *st);

/* Entropix's agreement for one query: p holds n_heads rows of `stride`
 * floats, row h the distribution of head h over positions 0..n-1. Returns
 * mean over h and j of |p_h,j - mean_h p_h,j|. */
double es_attn_agreement(const float *p, int n_heads, int n, size_t stride);
/* Its terms for positions j0 .. j0+m-1 (m <= ES_AGREEMENT_BLOCK):
 * dev[j - j0] = sum_h |p_h,j - mean_h p_h,j| in F32, heads in order.
 * es_attn_agreement adds every position's term in double, in position
 * order, and divides by n_heads * n: a caller that computes the blocks on
 * several threads and adds their terms in that order gets its bits. */
#define ES_AGREEMENT_BLOCK 256
void es_attn_agreement_devs(const float *p, int n_heads, int j0, int m, size_t stride, float *dev);

#endif
