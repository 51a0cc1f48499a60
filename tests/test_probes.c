/* Tests of the probes (src/probes, and their place in the attention kernel):
 * the fused statistics against the materialised attention matrix of the
 * double-precision reference, hand-computed values, and the properties of
 * the definitions (uniform, one-hot, masking, independence of threads,
 * batching and of whether probes are on). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "probes/probes.h"
#include "random_model.h"
#include "tensor/kernels.h"
#include "reference_forward.h"
#include "test.h"
#include "util/rng.h"

/* ------------------------------------------------- the softmax kernel -- */

static void kernel_tests(void) {
TEST("softmax_probe: hand values for p = (1/6, 1/3, 1/2)") {
    /* scores ln 1, ln 2, ln 3 give p = (1/6, 2/6, 3/6):
     * H = (1/6) ln 6 + (1/3) ln 3 + (1/2) ln 2 = 1.0114042647
     * V = sum p (ln p + H)^2 = 0.1546712398 */
    float x[3] = {0.0f, (float)log(2.0), (float)log(3.0)};
    es_softmax_stats st;
    es_softmax_probe(x, 3, &st);
    CHECK_NEAR(x[0], 1.0 / 6, 1e-6);
    CHECK_NEAR(x[2], 0.5, 1e-6);
    CHECK_NEAR(st.entropy, 1.0114042647, 1e-6);
    CHECK_NEAR(st.varentropy, 0.1546712398, 1e-6);
    CHECK_NEAR(st.mean_abs_score, (log(2.0) + log(3.0)) / 3, 1e-6);
}

TEST("softmax_probe: uniform over n gives H = ln n and V = 0") {
    int sizes[] = {1, 2, 7, 64, 1000, 4096};
    float *x = malloc(4096 * sizeof(float));
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        int n = sizes[k];
        for (int i = 0; i < n; i++) x[i] = 3.25f;
        es_softmax_stats st;
        es_softmax_probe(x, n, &st);
        CHECK_NEAR(st.entropy, log((double)n), 1e-9);
        CHECK_NEAR(st.varentropy, 0.0, 1e-12);
        CHECK_NEAR(x[n - 1], 1.0 / n, 1e-7);
    }
    free(x);
}

TEST("softmax_probe: one-hot gives H = 0 and V = 0") {
    float x[5] = {-2000.0f, 0.0f, -5000.0f, -1e30f, -300.0f};
    es_softmax_stats st;
    es_softmax_probe(x, 5, &st);
    CHECK_NEAR(st.entropy, 0.0, 1e-12);
    CHECK_NEAR(st.varentropy, 0.0, 1e-12);
    CHECK(x[1] == 1.0f);
}

TEST("softmax_probe: the probabilities are es_softmax's, bit for bit") {
    float a[300], b[300];
    for (int i = 0; i < 300; i++) a[i] = b[i] = (float)sin(i * 0.37) * 6.0f;
    es_softmax_stats st;
    es_softmax_probe(a, 300, &st);
    es_softmax(b, 300);
    CHECK(memcmp(a, b, sizeof a) == 0);
}

TEST("attn_agreement: hand values") {
    /* two heads, one-hot on different positions: the mean is (1/2, 1/2) and
     * every |p - mean| is 1/2 */
    float p[2 * 4] = {1, 0, 9, 9, 0, 1, 9, 9}; /* stride 4, n 2: the 9s are outside */
    CHECK_NEAR(es_attn_agreement(p, 2, 2, 4), 0.5, 1e-12);
    /* identical heads agree perfectly */
    float q[3 * 3] = {0.2f, 0.3f, 0.5f, 0.2f, 0.3f, 0.5f, 0.2f, 0.3f, 0.5f};
    CHECK_NEAR(es_attn_agreement(q, 3, 3, 3), 0.0, 1e-12);
    /* (0.1, 0.9) and (0.5, 0.5): mean (0.3, 0.7), |diffs| 0.2 each */
    float r[4] = {0.1f, 0.9f, 0.5f, 0.5f};
    CHECK_NEAR(es_attn_agreement(r, 2, 2, 2), 0.2, 1e-6);
}

TEST("softmax_probe: over several 256-score blocks and a ragged end, es_softmax's bits and the mean |s|") {
    enum { N = 1029 }; /* 4 blocks and 5 more; not a multiple of 4 */
    static float a[N], b[N];
    double abs_ref = 0;
    for (int i = 0; i < N; i++) {
        a[i] = b[i] = (float)(sin(i * 0.731) * 9.0 + cos(i * 0.05) * 3.0);
        abs_ref += fabs((double)a[i]);
    }
    a[N - 1] = b[N - 1] = 13.5f; /* the max in the ragged end */
    abs_ref += 13.5 - fabs(sin((N - 1) * 0.731) * 9.0 + cos((N - 1) * 0.05) * 3.0);
    es_softmax_stats st;
    es_softmax_probe(a, N, &st);
    es_softmax(b, N);
    CHECK(memcmp(a, b, sizeof a) == 0);
    CHECK_NEAR(st.mean_abs_score, abs_ref / N, 1e-5);
}

TEST("attn_agreement: its per-position terms, block by block and added in order, give its bits") {
    enum { H = 5, N = 600, STRIDE = 640 };
    static float p[H * STRIDE], dev[N];
    uint64_t r = 91;
    for (int h = 0; h < H; h++) {
        double z = 0;
        for (int j = 0; j < N; j++) z += p[h * STRIDE + j] = (float)((es_xorshift64s(&r) >> 40) + 1) / 16777216.0f;
        for (int j = 0; j < N; j++) p[h * STRIDE + j] = (float)(p[h * STRIDE + j] / z);
    }
    /* the blocks in reverse order, as another thread might finish them */
    for (int j0 = (N - 1) / ES_AGREEMENT_BLOCK * ES_AGREEMENT_BLOCK; j0 >= 0; j0 -= ES_AGREEMENT_BLOCK)
        es_attn_agreement_devs(p, H, j0, N - j0 < ES_AGREEMENT_BLOCK ? N - j0 : ES_AGREEMENT_BLOCK, STRIDE,
                               dev + j0);
    double total = 0, ref = 0;
    for (int j = 0; j < N; j++) {
        total += dev[j];
        double mean = 0;
        for (int h = 0; h < H; h++) mean += p[h * STRIDE + j];
        mean /= H;
        for (int h = 0; h < H; h++) ref += fabs(p[h * STRIDE + j] - mean);
    }
    double got = es_attn_agreement(p, H, N, STRIDE);
    CHECK(got == total / ((double)H * N));
    CHECK_NEAR(got, ref / ((double)H * N), 1e-9);
}

/* ------------------------------------------------------ logit stats -- */

TEST("logit_stats: hand values, ln p of a token, bits") {
    /* logits (1, 2, 3, -1): p = e^l / Z; H = 0.8875433689, V = 0.5713102274,
     * ln p(token 1) = 2 - 3 - ln(1 + e^-1 + e^-2 + e^-4) = -1.4197166463 */
    float l[4] = {1, 2, 3, -1};
    double h, v, lp;
    es_logit_stats(l, 4, 1, &h, &v, &lp);
    CHECK_NEAR(h, 0.8875433689, 1e-7);
    CHECK_NEAR(v, 0.5713102274, 1e-7);
    CHECK_NEAR(lp, -1.4197166463, 1e-7);
    /* in bits: H / ln 2 = 1.2804544 (the same distribution, base 2, by hand:
     * -sum p log2 p) */
    double p[4], z = 0, hb = 0;
    for (int i = 0; i < 4; i++) z += (p[i] = exp(l[i]));
    for (int i = 0; i < 4; i++) hb -= p[i] / z * log2(p[i] / z);
    CHECK_NEAR(h / log(2.0), hb, 1e-7);
    es_logit_stats(l, 4, -1, &h, NULL, &lp);
    CHECK(isnan(lp));
}

TEST("logit_stats: -inf logits count as probability 0") {
    float l[5] = {0, -INFINITY, 0, -INFINITY, 0};
    double h, v;
    es_logit_stats(l, 5, -1, &h, &v, NULL);
    CHECK_NEAR(h, log(3.0), 1e-9);
    CHECK_NEAR(v, 0.0, 1e-12);
}
}

/* ------------------------------------------------ inside the model -- */

/* Evaluates tokens[0..n) with probes in chunks (prefill chunk, then one at
 * a time) and copies every row's probe into flat arrays like the
 * reference's. Returns 0 on success. */
static int run_probed(const es_model *m, const int32_t *tokens, int n, int prefill, int threads,
                      float *entropy, float *varentropy, float *agreement, float *interaction,
                      float *logits_out) {
    const es_config *c = &m->config;
    es_context_params cp = {.n_threads = threads, .probes = 1};
    es_error err;
    es_context *ctx = es_context_new(m, &cp, &err);
    if (!ctx) return -1;
    const size_t ph = (size_t)c->n_layers * c->n_heads, pl = (size_t)c->n_layers;
    int done = 0;
    while (done < n) {
        int step = done == 0 ? prefill : 1;
        if (es_context_eval(ctx, tokens + done, step, NULL, &err) < 0) break;
        if (es_context_probe_rows(ctx) != step) break;
        for (int r = 0; r < step; r++) {
            es_attn_probe pr;
            if (es_context_probe(ctx, r, &pr) < 0 || pr.pos != done + r) goto out;
            memcpy(entropy + (size_t)(done + r) * ph, pr.entropy, ph * sizeof(float));
            memcpy(varentropy + (size_t)(done + r) * ph, pr.varentropy, ph * sizeof(float));
            memcpy(agreement + (size_t)(done + r) * pl, pr.agreement, pl * sizeof(float));
            memcpy(interaction + (size_t)(done + r) * pl, pr.interaction, pl * sizeof(float));
        }
        done += step;
    }
out:
    if (logits_out) memcpy(logits_out, es_context_logits(ctx), (size_t)c->vocab_size * sizeof(float));
    es_context_free(ctx);
    return done == n ? 0 : -1;
}

typedef struct probe_run {
    float *entropy, *varentropy, *agreement, *interaction, *logits;
} probe_run;

static probe_run probe_run_new(const es_config *c, int n) {
    size_t ph = (size_t)n * c->n_layers * c->n_heads, pl = (size_t)n * c->n_layers;
    probe_run r = {malloc(ph * sizeof(float)), malloc(ph * sizeof(float)),
                   malloc(pl * sizeof(float)), malloc(pl * sizeof(float)),
                   malloc((size_t)c->vocab_size * sizeof(float))};
    return r;
}

static void probe_run_free(probe_run *r) {
    free(r->entropy), free(r->varentropy), free(r->agreement), free(r->interaction), free(r->logits);
}

static int run(const es_model *m, const int32_t *tokens, int n, int prefill, int threads,
               probe_run *r) {
    return run_probed(m, tokens, n, prefill, threads, r->entropy, r->varentropy, r->agreement,
                      r->interaction, r->logits);
}

static void compare_with_reference(es_config cfg, int tied, int prefill, uint64_t seed) {
    enum { N = 11 };
    random_model rm;
    random_model_build(&rm, &cfg, tied, ES_F32, seed);
    es_error err;
    es_model *m = es_model_from_tensors(&rm.cfg, &rm.w, NULL, &err);
    CHECK(m != NULL);
    if (!m) return;
    int32_t tokens[N];
    random_tokens(tokens, N, cfg.vocab_size, seed + 1);
    probe_run r = probe_run_new(&cfg, N);
    CHECK(run(m, tokens, N, prefill, 2, &r) == 0);
    reference_probes ref;
    free(reference_forward_probed(&rm.cfg, &rm.w, tokens, N, &ref));
    double worst_h = 0, worst_v = 0, worst_a = 0, worst_i = 0;
    for (size_t k = 0; k < (size_t)N * cfg.n_layers * cfg.n_heads; k++) {
        worst_h = fmax(worst_h, fabs(r.entropy[k] - ref.entropy[k]));
        worst_v = fmax(worst_v, fabs(r.varentropy[k] - ref.varentropy[k]));
    }
    for (size_t k = 0; k < (size_t)N * cfg.n_layers; k++) {
        worst_a = fmax(worst_a, fabs(r.agreement[k] - ref.agreement[k]));
        worst_i = fmax(worst_i, fabs(r.interaction[k] - ref.interaction[k]) /
                                    fmax(1.0, fabs(ref.interaction[k])));
    }
    CHECK(worst_h < 1e-4);
    CHECK(worst_v < 1e-4);
    CHECK(worst_a < 1e-5);
    CHECK(worst_i < 1e-5);
    /* the first position attends to itself alone: H = V = 0 exactly */
    CHECK(r.entropy[0] == 0.0f && r.varentropy[0] == 0.0f);
    printf("  |fused - reference| (prefill %d): H %.1e nats, V %.1e nats^2, agreement %.1e, "
           "interaction %.1e (rel)\n", prefill, worst_h, worst_v, worst_a, worst_i);
    reference_probes_free(&ref);
    probe_run_free(&r);
    es_model_free(m);
    random_model_free(&rm);
}

/* Runs n tokens three ways, (1 thread, first eval prefill_a tokens then one
 * at a time), (3, prefill_b), (2, prefill_c), and checks that every probe
 * has the same bits in all three. */
static void check_same_bits(es_config cfg, es_dtype type, uint64_t seed, int n, int prefill_a, int prefill_b,
                            int prefill_c) {
    random_model rm;
    random_model_build(&rm, &cfg, 1, type, seed);
    es_error err;
    es_model *m = es_model_from_tensors(&rm.cfg, &rm.w, NULL, &err);
    int32_t *tokens = malloc((size_t)n * sizeof *tokens);
    random_tokens(tokens, n, cfg.vocab_size, seed + 1);
    probe_run a = probe_run_new(&cfg, n), b = probe_run_new(&cfg, n), c = probe_run_new(&cfg, n);
    CHECK(run(m, tokens, n, prefill_a, 1, &a) == 0);
    CHECK(run(m, tokens, n, prefill_b, 3, &b) == 0);
    CHECK(run(m, tokens, n, prefill_c, 2, &c) == 0);
    size_t ph = (size_t)n * cfg.n_layers * cfg.n_heads * sizeof(float);
    size_t pl = (size_t)n * cfg.n_layers * sizeof(float);
    const probe_run *other[2] = {&b, &c};
    for (int k = 0; k < 2; k++) {
        CHECK(memcmp(a.entropy, other[k]->entropy, ph) == 0 && memcmp(a.varentropy, other[k]->varentropy, ph) == 0);
        CHECK(memcmp(a.agreement, other[k]->agreement, pl) == 0 &&
              memcmp(a.interaction, other[k]->interaction, pl) == 0);
    }
    probe_run_free(&a), probe_run_free(&b), probe_run_free(&c);
    free(tokens);
    es_model_free(m);
    random_model_free(&rm);
}

static void model_tests(void) {
TEST("probes: fused statistics match the materialised reference (prefill)") {
    compare_with_reference(random_config(64, 96, 3, 4, 2, 16, 50, 64), 0, 11, 7);
}

TEST("probes: fused statistics match the materialised reference (decode, GQA, head_dim 64)") {
    es_config c = random_config(256, 160, 2, 4, 1, 64, 40, 64);
    c.rope_layout = ES_ROPE_HALF;
    compare_with_reference(c, 1, 3, 21);
}

TEST("probes: on or off, the logits are the same bit for bit") {
    es_config cfg = random_config(64, 96, 2, 4, 2, 16, 50, 64);
    random_model rm;
    random_model_build(&rm, &cfg, 0, ES_Q8_0, 3);
    es_error err;
    es_model *m = es_model_from_tensors(&rm.cfg, &rm.w, NULL, &err);
    CHECK(m != NULL);
    int32_t tokens[9];
    random_tokens(tokens, 9, cfg.vocab_size, 4);
    float off[50], on[50];
    for (int probes = 0; probes <= 1; probes++) {
        es_context_params cp = {.n_threads = 2, .probes = probes};
        es_context *ctx = es_context_new(m, &cp, &err);
        CHECK(es_context_eval(ctx, tokens, 6, NULL, &err) == 0);
        CHECK(es_context_eval(ctx, tokens + 6, 3, NULL, &err) == 0);
        CHECK(es_context_probe_rows(ctx) == (probes ? 3 : 0));
        es_attn_probe pr;
        CHECK((es_context_probe(ctx, 0, &pr) == 0) == probes);
        CHECK(es_context_probe(ctx, 3, &pr) == -1);
        memcpy(probes ? on : off, es_context_logits(ctx), sizeof on);
        es_context_free(ctx);
    }
    CHECK(memcmp(on, off, sizeof on) == 0);
    es_model_free(m);
    random_model_free(&rm);
}

TEST("probes: the same bits for any thread count and batching") {
    /* 10 tokens: one prefill on 1 and 3 threads, prefill 4 then decode on 2 */
    check_same_bits(random_config(64, 96, 2, 6, 3, 16, 50, 64), ES_F16, 5, 10, 10, 10, 4);
}

TEST("probes: the same bits for any thread count past one block of positions (the agreement's split)") {
    /* 600 tokens: the agreement's 3 blocks of positions shared among the
     * threads, in decode (560..599 one at a time) and in one prefill */
    check_same_bits(random_config(32, 48, 2, 4, 2, 8, 40, 1024), ES_F32, 8, 600, 560, 600, 560);
}

TEST("probes: cache slots beyond the context never change the values") {
    /* A context that first ran a longer sequence keeps its stale keys and
     * values in the cache rows past the new sequence's positions (and the
     * cache has grown past them); the statistics must be those of a fresh
     * context. */
    enum { N = 7, LONG = 60 };
    es_config cfg = random_config(64, 96, 2, 4, 2, 16, 50, 64);
    random_model rm;
    random_model_build(&rm, &cfg, 0, ES_F32, 8);
    es_error err;
    es_model *m = es_model_from_tensors(&rm.cfg, &rm.w, NULL, &err);
    int32_t tokens[N], other[LONG];
    random_tokens(tokens, N, cfg.vocab_size, 9);
    random_tokens(other, LONG, cfg.vocab_size, 10);
    es_context_params cp = {.n_threads = 2, .probes = 1};
    es_context *fresh = es_context_new(m, &cp, &err), *used = es_context_new(m, &cp, &err);
    CHECK(es_context_eval(used, other, LONG, NULL, &err) == 0);
    es_context_reset(used);
    CHECK(es_context_probe_rows(used) == 0);
    CHECK(es_context_eval(fresh, tokens, N, NULL, &err) == 0);
    CHECK(es_context_eval(used, tokens, N, NULL, &err) == 0);
    for (int r = 0; r < N; r++) {
        es_attn_probe a, b;
        CHECK(es_context_probe(fresh, r, &a) == 0 && es_context_probe(used, r, &b) == 0);
        size_t ph = (size_t)cfg.n_layers * cfg.n_heads * sizeof(float);
        CHECK(memcmp(a.entropy, b.entropy, ph) == 0);
        CHECK(memcmp(a.varentropy, b.varentropy, ph) == 0);
        CHECK(memcmp(a.agreement, b.agreement, (size_t)cfg.n_layers * sizeof(float)) == 0);
        CHECK(a.entropy_mean == b.entropy_mean && a.pos == r);
        /* the means are the means of the arrays */
        double h = 0;
        for (int k = 0; k < cfg.n_layers * cfg.n_heads; k++) h += a.entropy[k];
        CHECK_NEAR(a.entropy_mean, h / (cfg.n_layers * cfg.n_heads), 1e-9);
        /* H is at most ln(q + 1), the uniform distribution's */
        for (int k = 0; k < cfg.n_layers * cfg.n_heads; k++)
            CHECK(a.entropy[k] <= log(r + 1.0) + 1e-5 && a.entropy[k] >= 0);
    }
    /* rewinding to a shared prefix gives what a fresh evaluation gives */
    float fresh_logits[50];
    memcpy(fresh_logits, es_context_logits(fresh), sizeof fresh_logits);
    CHECK(es_context_rewind(used, 3, &err) == 0 && es_context_pos(used) == 3);
    CHECK(es_context_probe_rows(used) == 0);
    CHECK(es_context_eval(used, tokens + 3, N - 3, NULL, &err) == 0);
    CHECK(memcmp(fresh_logits, es_context_logits(used), sizeof fresh_logits) == 0);
    es_attn_probe a, b;
    CHECK(es_context_probe(fresh, N - 1, &a) == 0 && es_context_probe(used, N - 4, &b) == 0);
    CHECK(a.pos == b.pos && memcmp(a.entropy, b.entropy, (size_t)cfg.n_layers * cfg.n_heads * sizeof(float)) == 0);
    CHECK(es_context_rewind(used, N + 1, &err) < 0 && strstr(err.msg, "cannot rewind"));
    CHECK(es_context_rewind(used, -1, &err) < 0);
    es_context_free(fresh);
    es_context_free(used);
    es_model_free(m);
    random_model_free(&rm);
}
}

void suite_probes(void) {
    kernel_tests();
    model_tests();
}
