/* Sampler tests: greedy, determinism, and that each filter keeps exactly the
 * tokens its definition says, checked on hand-made logits whose
 * probabilities are worked out in the comments. */
#include "test.h"

#include <math.h>
#include <stdlib.h>

#include "entroscope.h"

static es_sampler *make(float temp, int top_k, float top_p, float min_p, uint64_t seed, int n) {
    es_sampler_params p = {.temperature = temp, .top_k = top_k, .top_p = top_p, .min_p = min_p, .seed = seed};
    return es_sampler_new(&p, n);
}

/* Draws many samples and counts each id. */
static void histogram(es_sampler *s, const float *logits, int n, int draws, int *count) {
    memset(count, 0, sizeof(int) * (size_t)n);
    for (int i = 0; i < draws; i++) {
        int32_t id = es_sampler_sample(s, logits);
        if (id >= 0 && id < n) count[id]++;
    }
}

void suite_sampler(void) {
    TEST("sampler: greedy takes the argmax, lowest id on ties") {
        float logits[5] = {0.5f, 3.0f, -1.0f, 3.0f, 2.9f};
        es_sampler *s = make(0.0f, 0, 1.0f, 0.0f, 1, 5);
        CHECK_INT(es_sampler_sample(s, logits), 1);
        es_sampler_free(s);
        s = make(0.8f, 1, 1.0f, 0.0f, 7, 5); /* top_k 1 is greedy too */
        CHECK_INT(es_sampler_sample(s, logits), 1);
        es_sampler_free(s);
    }
    TEST("sampler: the same seed gives the same sequence, another seed another") {
        float logits[64];
        for (int i = 0; i < 64; i++) logits[i] = (float)((i * 37) % 11) * 0.3f;
        es_sampler *a = make(1.0f, 0, 1.0f, 0.0f, 42, 64), *b = make(1.0f, 0, 1.0f, 0.0f, 42, 64);
        es_sampler *c = make(1.0f, 0, 1.0f, 0.0f, 43, 64);
        int same = 1, differs = 0;
        for (int i = 0; i < 200; i++) {
            int32_t x = es_sampler_sample(a, logits), y = es_sampler_sample(b, logits);
            same &= x == y;
            differs |= x != es_sampler_sample(c, logits);
        }
        CHECK(same);
        CHECK(differs);
        es_sampler_free(a); es_sampler_free(b); es_sampler_free(c);
    }
    TEST("sampler: temperature 1 draws with the softmax probabilities") {
        /* logits ln 1, ln 2, ln 3, ln 4: probabilities 0.1, 0.2, 0.3, 0.4 */
        float logits[4] = {0.0f, logf(2), logf(3), logf(4)};
        int count[4], draws = 40000;
        es_sampler *s = make(1.0f, 0, 1.0f, 0.0f, 5, 4);
        histogram(s, logits, 4, draws, count);
        for (int i = 0; i < 4; i++) /* 5 standard deviations of a binomial: < 0.013 */
            CHECK_NEAR(count[i] / (double)draws, 0.1 * (i + 1), 0.013);
        es_sampler_free(s);
    }
    TEST("sampler: temperature 0.5 squares the odds") {
        /* p ~ (1, 2)^2 = (1, 4): 0.2, 0.8 */
        float logits[2] = {0.0f, logf(2)};
        int count[2], draws = 20000;
        es_sampler *s = make(0.5f, 0, 1.0f, 0.0f, 9, 2);
        histogram(s, logits, 2, draws, count);
        CHECK_NEAR(count[1] / (double)draws, 0.8, 0.015);
        es_sampler_free(s);
    }
    TEST("sampler: top_k keeps the k most probable") {
        float logits[6] = {1, 5, 2, 4, 3, 0}; /* order: 1, 3, 4, 2, 0, 5 */
        int count[6];
        es_sampler *s = make(1.0f, 2, 1.0f, 0.0f, 3, 6);
        histogram(s, logits, 6, 5000, count);
        CHECK(count[1] > 0 && count[3] > 0);
        CHECK_INT(count[0] + count[2] + count[4] + count[5], 0);
        /* within the two kept: p3/p1 = e^-1 */
        CHECK_NEAR(count[3] / (double)(count[1] + count[3]), 1 / (1 + exp(1.0)), 0.03);
        es_sampler_free(s);
    }
    TEST("sampler: top_p keeps the smallest prefix reaching the mass") {
        /* probabilities 0.5, 0.3, 0.15, 0.05: top_p 0.75 keeps {0, 1} (0.8 >= 0.75),
         * top_p 0.85 keeps {0, 1, 2} */
        float logits[4] = {logf(0.5f), logf(0.3f), logf(0.15f), logf(0.05f)};
        int count[4];
        es_sampler *s = make(1.0f, 0, 0.75f, 0.0f, 11, 4);
        histogram(s, logits, 4, 8000, count);
        CHECK(count[0] > 0 && count[1] > 0);
        CHECK_INT(count[2] + count[3], 0);
        CHECK_NEAR(count[0] / 8000.0, 0.5 / 0.8, 0.03);
        es_sampler_free(s);
        s = make(1.0f, 0, 0.85f, 0.0f, 11, 4);
        histogram(s, logits, 4, 8000, count);
        CHECK(count[2] > 0);
        CHECK_INT(count[3], 0);
        es_sampler_free(s);
    }
    TEST("sampler: min_p drops tokens below min_p * p_max") {
        /* probabilities 0.5, 0.3, 0.15, 0.05; min_p 0.25: floor 0.125 keeps {0, 1, 2} */
        float logits[4] = {logf(0.5f), logf(0.3f), logf(0.15f), logf(0.05f)};
        int count[4];
        es_sampler *s = make(1.0f, 0, 1.0f, 0.25f, 13, 4);
        histogram(s, logits, 4, 8000, count);
        CHECK(count[2] > 0);
        CHECK_INT(count[3], 0);
        CHECK_NEAR(count[2] / 8000.0, 0.15 / 0.95, 0.02);
        es_sampler_free(s);
    }
    TEST("sampler: top_p on a flat distribution keeps exactly the sorted prefix") {
        /* p_i proportional to 1 + i/n: the nucleus of mass 0.5 is the highest ids,
         * many of them in one probability bucket; worked out here by sorting. */
        enum { N = 2000 };
        static float logits[N];
        double total = 0, mass = 0;
        for (int i = 0; i < N; i++) total += 1.0 + (double)i / N;
        for (int i = 0; i < N; i++) logits[i] = logf(1.0f + (float)i / N);
        int lowest_kept = N;
        while (mass < 0.5 * total) mass += 1.0 + (double)--lowest_kept / N;
        es_sampler *s = make(1.0f, 0, 0.5f, 0.0f, 21, N);
        int outside = 0, min_seen = N;
        for (int i = 0; i < 20000; i++) {
            int32_t id = es_sampler_sample(s, logits);
            outside += id < lowest_kept;
            if (id < min_seen) min_seen = id;
        }
        CHECK_INT(outside, 0);
        CHECKF(min_seen < lowest_kept + 20, "lowest id drawn %d, nucleus starts at %d", min_seen, lowest_kept);
        es_sampler_free(s);
    }
    TEST("sampler: a large vocabulary with top_k and top_p together") {
        int n = 128256;
        float *logits = malloc(sizeof(float) * (size_t)n);
        for (int i = 0; i < n; i++) logits[i] = -10.0f;
        logits[77] = 10.0f;
        logits[128000] = 9.0f; /* the two hold almost all the mass */
        es_sampler *s = make(1.0f, 40, 0.9f, 0.0f, 17, n);
        int seen_other = 0;
        for (int i = 0; i < 500; i++) {
            int32_t id = es_sampler_sample(s, logits);
            seen_other |= id != 77 && id != 128000;
        }
        CHECK(!seen_other);
        es_sampler_free(s);
        free(logits);
    }
}
