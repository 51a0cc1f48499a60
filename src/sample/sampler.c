/* The token sampler: turns next-token logits into one token id.
 *
 * Greedy (temperature 0) takes the argmax, lowest id on ties. Otherwise the
 * steps are, in this order: divide the logits by the temperature, softmax,
 * keep the top_k most probable, keep the smallest prefix of those (by
 * descending probability) whose mass reaches top_p, drop tokens below
 * min_p * p_max, renormalise, draw. Temperature first, as llama2.c does, so
 * that top_p and min_p act on the distribution actually sampled from.
 *
 * The random generator is xorshift64* seeded through splitmix64 (util/rng.h). */
#include "entroscope.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/rng.h"

typedef struct candidate {
    int32_t id;
    float p; /* probability after the temperature */
} candidate;

struct es_sampler {
    es_sampler_params params;
    int vocab_size;
    uint64_t rng_state;  /* xorshift64* state, never 0 */
    candidate *cand;     /* (vocab_size) scratch */
};

/* Uniform in [0, 1) with 24 bits, exactly representable as a float. */
static float rng_uniform(uint64_t *s) { return (float)(es_xorshift64s(s) >> 40) * 0x1p-24f; }

es_sampler_params es_sampler_default_params(void) {
    es_sampler_params p = {.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .min_p = 0.0f, .seed = 0};
    return p;
}

es_sampler *es_sampler_new(const es_sampler_params *params, int vocab_size) {
    if (vocab_size <= 0) return NULL;
    es_sampler *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->params = params ? *params : es_sampler_default_params();
    s->vocab_size = vocab_size;
    s->rng_state = es_splitmix64(s->params.seed);
    if (s->rng_state == 0) s->rng_state = 0x853c49e6748fea9bull;
    s->cand = malloc((size_t)vocab_size * sizeof *s->cand);
    if (!s->cand) {
        free(s);
        return NULL;
    }
    return s;
}

void es_sampler_free(es_sampler *s) {
    if (!s) return;
    free(s->cand);
    free(s);
}

static int32_t argmax(const float *logits, int n) {
    int32_t best = 0;
    for (int i = 1; i < n; i++)
        if (logits[i] > logits[best]) best = i;
    return best;
}

static int by_prob_desc(const void *a, const void *b) {
    const candidate *x = a, *y = b;
    if (x->p != y->p) return x->p < y->p ? 1 : -1;
    return (x->id > y->id) - (x->id < y->id);
}

/* Moves the k most probable candidates to the front, sorted (a min-heap of
 * size k over the n candidates: O(n log k), cheap for k << n). */
static void keep_top_k(candidate *c, int n, int k) {
    for (int i = k / 2 - 1; i >= 0; i--) { /* heapify c[0..k): min at the root */
        for (int j = i;;) {
            int l = 2 * j + 1, m = j;
            if (l < k && by_prob_desc(&c[l], &c[m]) > 0) m = l;
            if (l + 1 < k && by_prob_desc(&c[l + 1], &c[m]) > 0) m = l + 1;
            if (m == j) break;
            candidate t = c[j]; c[j] = c[m]; c[m] = t;
            j = m;
        }
    }
    for (int i = k; i < n; i++) {
        if (by_prob_desc(&c[i], &c[0]) >= 0) continue; /* not better than the worst kept */
        c[0] = c[i];
        for (int j = 0;;) {
            int l = 2 * j + 1, m = j;
            if (l < k && by_prob_desc(&c[l], &c[m]) > 0) m = l;
            if (l + 1 < k && by_prob_desc(&c[l + 1], &c[m]) > 0) m = l + 1;
            if (m == j) break;
            candidate t = c[j]; c[j] = c[m]; c[m] = t;
            j = m;
        }
    }
    qsort(c, (size_t)k, sizeof *c, by_prob_desc);
}

/* Softmax of logits / temperature into s->cand; returns the count. */
static int softmax_candidates(es_sampler *s, const float *logits) {
    int n = s->vocab_size;
    float max = -FLT_MAX;
    for (int i = 0; i < n; i++) if (logits[i] > max) max = logits[i];
    double sum = 0;
    for (int i = 0; i < n; i++) {
        float p = expf((logits[i] - max) / s->params.temperature);
        s->cand[i] = (candidate){.id = i, .p = p};
        sum += p;
    }
    for (int i = 0; i < n; i++) s->cand[i].p = (float)(s->cand[i].p / sum);
    return n;
}

/* Sorts the candidates by probability and cuts them to top_k and top_p.
 * For top_p alone, candidates below (1 - top_p) / (n - 1) cannot be in the
 * nucleus (the rest could not reach the mass), so they are dropped before
 * sorting, as llama2.c does. */
static int sort_and_cut(es_sampler *s, int n) {
    const es_sampler_params *p = &s->params;
    candidate *c = s->cand;
    if (p->top_k > 0 && p->top_k < n) {
        keep_top_k(c, n, p->top_k);
        n = p->top_k;
    } else if (p->top_p < 1.0f) {
        float cutoff = (1.0f - p->top_p) / (float)(n > 1 ? n - 1 : 1);
        int kept = 0;
        for (int i = 0; i < n; i++) if (c[i].p >= cutoff) c[kept++] = c[i];
        n = kept;
        qsort(c, (size_t)n, sizeof *c, by_prob_desc);
    } else {
        qsort(c, (size_t)n, sizeof *c, by_prob_desc);
    }
    if (p->top_p < 1.0f) {
        double mass = 0;
        for (int i = 0; i < n; i++) {
            mass += c[i].p;
            if (mass >= p->top_p) { n = i + 1; break; }
        }
    }
    return n;
}

int32_t es_sampler_sample(es_sampler *s, const float *logits) {
    const es_sampler_params *p = &s->params;
    if (p->temperature <= 0.0f || p->top_k == 1) return argmax(logits, s->vocab_size);
    int n = softmax_candidates(s, logits);
    n = sort_and_cut(s, n);
    if (p->min_p > 0.0f) {
        float floor_p = p->min_p * s->cand[0].p; /* sorted: cand[0] is the max */
        int kept = 1;
        while (kept < n && s->cand[kept].p >= floor_p) kept++;
        n = kept;
    }
    double total = 0;
    for (int i = 0; i < n; i++) total += s->cand[i].p;
    double r = rng_uniform(&s->rng_state) * total, acc = 0;
    for (int i = 0; i < n; i++) {
        acc += s->cand[i].p;
        if (r < acc) return s->cand[i].id;
    }
    return s->cand[n - 1].id; /* rounding left r at the very top */
}
