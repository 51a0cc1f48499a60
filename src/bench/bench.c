/* `entroscope bench`, the library part: how fast a model prefills and
 * decodes on this machine, with the probes on and off, and how close decode
 * comes to the limit that memory bandwidth sets.
 *
 * Three tests, each repeated: prefill (n_prompt random tokens in one
 * es_context_eval on an empty cache), decode (n_gen single-token evals from
 * an empty cache, as llama-bench's tg test) and long decode (n_gen_long
 * single-token evals after n_ctx positions were filled). The probes-off and
 * probes-on runs have a context each and alternate repetition by repetition
 * (off first in even repetitions, on first in odd ones), so that a burst of
 * machine noise hits both alike. The contexts are warmed up first (the
 * weights are memory-mapped: the first pass would time page faults).
 *
 * The report writer is in report.c, the bandwidth measurement in
 * bandwidth.c. Nothing here prints; progress goes through a callback. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "entroscope.h"
#include "model/model.h"
#include "util/error.h"
#include "util/rng.h"

#define WARMUP_TOKENS 8

es_bench_params es_bench_default_params(void) {
    return (es_bench_params){
        .n_threads = 0, .n_prompt = 128, .n_gen = 64, .n_ctx = 1024, .n_gen_long = 16,
        .probes = ES_BENCH_PROBES_BOTH, .repetitions = 5,
        .bandwidth_bytes = (size_t)512 << 20, .seed = 1234,
    };
}

static double seconds_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void progress(const es_bench_params *p, const char *step) {
    if (p->progress) p->progress(p->user, step);
}

static int check_params(const es_bench_params *p, es_error *err) {
    if (p->n_threads < 0 || p->n_threads > 1024)
        return es_fail(err, "bench: %d threads is out of range (0..1024)", p->n_threads);
    if ((int)p->kernels < ES_KERNELS_BEST || (int)p->kernels > ES_KERNELS_AVX512)
        return es_fail(err, "bench: kernel set %d is unknown", (int)p->kernels);
    if (p->n_prompt < 0 || p->n_gen < 0 || p->n_ctx < 0 || p->n_gen_long < 0)
        return es_fail(err, "bench: token counts must not be negative");
    if (p->n_ctx > 0 && p->n_gen_long < 1)
        return es_fail(err, "bench: a long-context decode needs at least one step");
    if (p->probes < ES_BENCH_PROBES_OFF || p->probes > ES_BENCH_PROBES_BOTH)
        return es_fail(err, "bench: probes must be off, on or both");
    if (p->repetitions < 1 || p->repetitions > 1000)
        return es_fail(err, "bench: %d repetitions is out of range (1..1000)", p->repetitions);
    if (p->n_prompt == 0 && p->n_gen == 0 && p->n_ctx == 0)
        return es_fail(err, "bench: nothing to measure (prefill, decode and context all 0)");
    /* positions a context must hold; the long test continues past n_ctx */
    if ((long long)p->n_ctx + (long long)p->repetitions * p->n_gen_long > (1 << 24) ||
        p->n_prompt > (1 << 24) || p->n_gen > (1 << 24))
        return es_fail(err, "bench: more than %d positions", 1 << 24);
    return 0;
}

/* ------------------------------------------------------------ weights -- */

static uint64_t tensor_bytes(const es_tensor *t) {
    return (uint64_t)es_tensor_row_bytes(t) * (uint64_t)t->ne[1];
}

/* Bytes one decode step reads: the whole model but the embedding table, of
 * which it reads one row; unless the classifier is that table. */
static uint64_t bytes_per_token(const es_model *m, uint64_t weight_bytes) {
    const es_tensor *embd = &m->weights.token_embd;
    if (m->tied_output) return weight_bytes;
    return weight_bytes - tensor_bytes(embd) + (uint64_t)es_tensor_row_bytes(embd);
}

/* The type of the layer matrices that hold the most bytes (a Q4_K_M file
 * mixes Q4_K and Q6_K; it is called Q4_K). */
static const char *main_weight_type(const es_model *m) {
    uint64_t by_type[64] = {0};
    for (int l = 0; l < m->config.n_layers; l++) {
        const es_layer_weights *L = &m->weights.layers[l];
        const es_tensor *mats[7] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
        for (int i = 0; i < 7; i++)
            if ((unsigned)mats[i]->type < 64) by_type[mats[i]->type] += tensor_bytes(mats[i]);
    }
    unsigned best = 0;
    for (unsigned t = 1; t < 64; t++)
        if (by_type[t] > by_type[best]) best = t;
    return es_dtype_name(best);
}

static void describe_model(const es_model *m, es_bench_result *r) {
    es_model_info info;
    es_model_get_info(m, &info);
    const char *path = info.path ? info.path : "";
    const char *slash = strrchr(path, '/');
    snprintf(r->model, sizeof r->model, "%s", slash ? slash + 1 : path);
    snprintf(r->weight_type, sizeof r->weight_type, "%s", main_weight_type(m));
    r->weight_bytes = info.weight_bytes;
    r->bytes_per_token = bytes_per_token(m, info.weight_bytes);
}

/* -------------------------------------------------------------- timing -- */

/* The runs of one benchmark: a context per probe setting, the token ids,
 * and the tokens/s of every repetition. */
typedef struct bench_run {
    const es_bench_params *p;
    es_context *ctx[2];         /* [0: probes off, 1: on]; NULL if not run */
    int32_t *tokens;            /* (n_tokens) random ids */
    int n_tokens;
    double *samples[2];         /* (repetitions) tokens/s of the test running */
} bench_run;

/* Evaluates tokens one at a time; returns the seconds taken, or -1. */
static double time_decode(es_context *ctx, const int32_t *tokens, int n, es_error *err) {
    double t0 = seconds_now();
    for (int i = 0; i < n; i++)
        if (es_context_eval(ctx, tokens + i, 1, NULL, err)) return -1;
    return seconds_now() - t0;
}

static double time_prefill(es_context *ctx, const int32_t *tokens, int n, es_error *err) {
    double t0 = seconds_now();
    if (es_context_eval(ctx, tokens, n, NULL, err)) return -1;
    return seconds_now() - t0;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static es_bench_stat summarise(double *samples, int n) {
    qsort(samples, (size_t)n, sizeof *samples, cmp_double);
    double median = n % 2 ? samples[n / 2] : 0.5 * (samples[n / 2 - 1] + samples[n / 2]);
    return (es_bench_stat){.n = n, .median = median, .min = samples[0], .max = samples[n - 1]};
}

/* Runs `test` for every repetition and probe setting, alternating which
 * setting goes first, and stores the statistics in r->speed[test]. */
static int run_test(bench_run *b, int test, es_bench_result *r, es_error *err) {
    const es_bench_params *p = b->p;
    static const char *names[ES_BENCH_N_TESTS] = {"prefill", "decode", "long-context decode"};
    char step[96];
    for (int rep = 0; rep < p->repetitions; rep++) {
        snprintf(step, sizeof step, "%s, repetition %d of %d", names[test], rep + 1, p->repetitions);
        progress(p, step);
        for (int k = 0; k < 2; k++) {
            int s = rep % 2 ? 1 - k : k;
            es_context *ctx = b->ctx[s];
            if (!ctx) continue;
            double dt = 0;
            int n = 0;
            if (test == ES_BENCH_PREFILL) {
                es_context_reset(ctx);
                dt = time_prefill(ctx, b->tokens, n = p->n_prompt, err);
            } else if (test == ES_BENCH_DECODE) {
                es_context_reset(ctx);
                dt = time_decode(ctx, b->tokens, n = p->n_gen, err);
            } else {
                int at = es_context_pos(ctx); /* n_ctx + rep * n_gen_long */
                dt = time_decode(ctx, b->tokens + at, n = p->n_gen_long, err);
            }
            if (dt < 0) return -1;
            b->samples[s][rep] = n / (dt > 1e-9 ? dt : 1e-9);
        }
    }
    for (int s = 0; s < 2; s++)
        if (b->ctx[s]) r->speed[test][s] = summarise(b->samples[s], p->repetitions);
    return 0;
}

/* Fills each context with n_ctx positions for the long-context test
 * (untimed; in batches, as a prompt would be). */
static int fill_long_context(bench_run *b, es_error *err) {
    progress(b->p, "filling the long context");
    for (int s = 0; s < 2; s++) {
        if (!b->ctx[s]) continue;
        es_context_reset(b->ctx[s]);
        if (es_context_eval(b->ctx[s], b->tokens, b->p->n_ctx, NULL, err)) return -1;
    }
    return 0;
}

/* Pages the weights in and grows the scratch buffers before any timing. */
static int warm_up(bench_run *b, es_error *err) {
    progress(b->p, "warming up");
    int n = b->p->n_prompt > 0 && b->p->n_prompt < WARMUP_TOKENS ? b->p->n_prompt : WARMUP_TOKENS;
    for (int s = 0; s < 2; s++) {
        if (!b->ctx[s]) continue;
        es_context_reset(b->ctx[s]);
        if (time_prefill(b->ctx[s], b->tokens, n, err) < 0) return -1;
        if (time_decode(b->ctx[s], b->tokens + n, 2, err) < 0) return -1;
    }
    return 0;
}

/* ------------------------------------------------------------ the run -- */

static void bench_run_free(bench_run *b) {
    for (int s = 0; s < 2; s++) {
        es_context_free(b->ctx[s]);
        free(b->samples[s]);
    }
    free(b->tokens);
}

/* Contexts large enough for every test, random tokens, sample arrays. */
static int bench_run_init(bench_run *b, const es_model *m, const es_bench_params *p, es_error *err) {
    memset(b, 0, sizeof *b);
    b->p = p;
    int need = p->n_ctx + p->repetitions * p->n_gen_long;
    if (need < p->n_prompt) need = p->n_prompt;
    if (need < p->n_gen) need = p->n_gen;
    if (need < WARMUP_TOKENS + 2) need = WARMUP_TOKENS + 2;
    b->n_tokens = need;
    b->tokens = malloc((size_t)need * sizeof *b->tokens);
    if (!b->tokens) return es_fail(err, "bench: out of memory");
    uint64_t state = es_splitmix64(p->seed) | 1;
    uint64_t vocab = (uint64_t)m->config.vocab_size;
    for (int i = 0; i < need; i++) b->tokens[i] = (int32_t)(es_xorshift64s(&state) % vocab);
    for (int s = 0; s < 2; s++) {
        if (!(p->probes & (s ? ES_BENCH_PROBES_ON : ES_BENCH_PROBES_OFF))) continue;
        es_context_params cp = {.n_ctx = need, .n_threads = p->n_threads, .probes = s, .kernels = p->kernels};
        b->ctx[s] = es_context_new(m, &cp, err);
        b->samples[s] = malloc((size_t)p->repetitions * sizeof(double));
        if (!b->ctx[s]) return -1;
        if (!b->samples[s]) return es_fail(err, "bench: out of memory");
    }
    return 0;
}

/* The bandwidth is measured before the tests and again after them, and the
 * best of the two kept (per thread count), as each measurement keeps its
 * best pass: it is a limit, and on a shared machine a slow spell during one
 * measurement (seen: 32 GB/s on two threads, where the other rows of the
 * same run measured 71-74) would otherwise put decode above 100% of it.
 * N threads stream at least what one does (the others could idle), so the
 * N-thread figure is at least the one-thread one. */
static int measure_bandwidth(const es_bench_params *p, es_bench_result *r, const char *step, es_error *err) {
    if (p->bandwidth_bytes == 0) return 0;
    progress(p, step);
    double one = es_memory_bandwidth(1, p->bandwidth_bytes, err);
    if (one < 0) return -1;
    double n = p->n_threads == 1 ? one : es_memory_bandwidth(p->n_threads, p->bandwidth_bytes, err);
    if (n < 0) return -1;
    if (one > r->bandwidth_1_gbs) r->bandwidth_1_gbs = one;
    if (n > r->bandwidth_n_gbs) r->bandwidth_n_gbs = n;
    if (r->bandwidth_n_gbs < r->bandwidth_1_gbs) r->bandwidth_n_gbs = r->bandwidth_1_gbs;
    if (r->bytes_per_token > 0)
        r->decode_limit = r->bandwidth_n_gbs * 1e9 / (double)r->bytes_per_token;
    return 0;
}

int es_bench_run(const es_model *model, const es_bench_params *params, es_bench_result *out,
                 es_error *err) {
    memset(out, 0, sizeof *out);
    if (!model || !params) return es_fail(err, "bench: no model or no parameters");
    if (check_params(params, err)) return -1;
    out->params = *params;
    es_bench_params *p = &out->params;
    if (p->n_threads == 0) p->n_threads = es_default_threads();
    p->kernels = es_kernels_resolve(p->kernels);
    describe_model(model, out);
    if (measure_bandwidth(p, out, "memory bandwidth", err)) return -1;

    bench_run b;
    int rc = bench_run_init(&b, model, p, err);
    if (rc == 0) rc = warm_up(&b, err);
    if (rc == 0 && p->n_prompt > 0) rc = run_test(&b, ES_BENCH_PREFILL, out, err);
    if (rc == 0 && p->n_gen > 0) rc = run_test(&b, ES_BENCH_DECODE, out, err);
    if (rc == 0 && p->n_ctx > 0) rc = fill_long_context(&b, err);
    if (rc == 0 && p->n_ctx > 0) rc = run_test(&b, ES_BENCH_DECODE_LONG, out, err);
    bench_run_free(&b);
    if (rc == 0) rc = measure_bandwidth(p, out, "memory bandwidth, again", err);
    return rc;
}
