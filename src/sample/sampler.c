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

#define N_BUCKETS 2048 /* probability buckets of nucleus() */

typedef struct candidate {
    int32_t id;
    float p; /* probability after the temperature */
} candidate;

struct es_sampler {
    es_sampler_params params;
    int vocab_size;
    uint64_t rng_state;  /* xorshift64* state, never 0 */
    candidate *cand;     /* (vocab_size) scratch */
    double bucket_mass[N_BUCKETS]; /* scratch of nucleus() */
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

static void swap(candidate *a, candidate *b) {
    candidate t = *a;
    *a = *b;
    *b = t;
}

/* Restores the heap below j, whose root is the worst candidate kept. */
static void sift_down(candidate *c, int k, int j) {
    for (;;) {
        int l = 2 * j + 1, m = j;
        if (l < k && by_prob_desc(&c[l], &c[m]) > 0) m = l;
        if (l + 1 < k && by_prob_desc(&c[l + 1], &c[m]) > 0) m = l + 1;
        if (m == j) return;
        swap(&c[j], &c[m]);
        j = m;
    }
}

/* Moves the k most probable of the n candidates to the front, sorted, and
 * leaves the others after them (the array stays a permutation, so it can be
 * called again with a larger k). A heap of the k best, worst at the root:
 * O(n log k), cheap for k << n. */
static void keep_top_k(candidate *c, int n, int k) {
    for (int i = k / 2 - 1; i >= 0; i--) sift_down(c, k, i);
    for (int i = k; i < n; i++) {
        if (by_prob_desc(&c[i], &c[0]) >= 0) continue; /* not better than the worst kept */
        swap(&c[0], &c[i]);
        sift_down(c, k, 0);
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

/* Bucket of a probability: the top 11 bits of a positive float (exponent
 * and 3 mantissa bits) rise with its value, so buckets order the candidates
 * coarsely without sorting. */
static int bucket_of(float p) {
    uint32_t bits;
    memcpy(&bits, &p, sizeof bits);
    return (int)(bits >> 20) & (N_BUCKETS - 1);
}

/* The nucleus: the smallest set of most probable candidates whose mass
 * reaches top_p, moved to the front (not sorted). A histogram of the mass by
 * bucket finds the bucket where the mass is reached; only that bucket is
 * sorted. O(n), where sorting a 128k vocabulary per token would cost more
 * than a small model's forward pass when the distribution is flat. */
static int nucleus(candidate *c, int n, float top_p, double *bucket_mass) {
    memset(bucket_mass, 0, N_BUCKETS * sizeof *bucket_mass);
    for (int i = 0; i < n; i++) bucket_mass[bucket_of(c[i].p)] += c[i].p;
    double above = 0; /* mass of the buckets above the boundary one */
    int boundary = N_BUCKETS - 1;
    while (boundary > 0 && above + bucket_mass[boundary] < top_p) above += bucket_mass[boundary--];
    /* candidates above the boundary first, then the boundary bucket's, sorted */
    int front = 0;
    for (int i = 0; i < n; i++)
        if (bucket_of(c[i].p) > boundary) swap(&c[front++], &c[i]);
    int mid = front;
    for (int i = front; i < n; i++)
        if (bucket_of(c[i].p) == boundary) swap(&c[mid++], &c[i]);
    qsort(c + front, (size_t)(mid - front), sizeof *c, by_prob_desc);
    for (int i = front; i < mid; i++)
        if ((above += c[i].p) >= top_p) return i + 1;
    return mid > 0 ? mid : n; /* rounding: the whole mass fell just short */
}

/* Cuts the candidates to top_k, then top_p, then min_p; returns the count. */
static int cut(es_sampler *s, int n) {
    const es_sampler_params *p = &s->params;
    candidate *c = s->cand;
    int sorted = 0;
    if (p->top_k > 0 && p->top_k < n) {
        keep_top_k(c, n, p->top_k);
        n = p->top_k;
        sorted = 1;
    }
    if (p->top_p < 1.0f) {
        if (sorted) {
            double mass = 0;
            for (int i = 0; i < n; i++)
                if ((mass += c[i].p) >= p->top_p) { n = i + 1; break; }
        } else {
            n = nucleus(c, n, p->top_p, s->bucket_mass);
        }
    }
    if (p->min_p > 0.0f) {
        float max = 0;
        for (int i = 0; i < n; i++) if (c[i].p > max) max = c[i].p;
        int kept = 0;
        for (int i = 0; i < n; i++) if (c[i].p >= p->min_p * max) c[kept++] = c[i];
        n = kept;
    }
    return n;
}

int32_t es_sampler_sample(es_sampler *s, const float *logits) {
    const es_sampler_params *p = &s->params;
    if (p->temperature <= 0.0f || p->top_k == 1) return argmax(logits, s->vocab_size);
    int n = cut(s, softmax_candidates(s, logits));
    double total = 0;
    for (int i = 0; i < n; i++) total += s->cand[i].p;
    double r = rng_uniform(&s->rng_state) * total, acc = 0;
    for (int i = 0; i < n; i++) {
        acc += s->cand[i].p;
        if (r < acc) return s->cand[i].id;
    }
    return s->cand[n - 1].id; /* rounding left r at the very top */
}
