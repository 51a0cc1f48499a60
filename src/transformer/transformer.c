/* The forward pass, in the order of the Llama paper and of llama2.c's
 * forward(): embedding, then per layer attention (RMSNorm, Q/K/V, RoPE,
 * causal grouped-query attention, output projection, residual) and
 * feed-forward (RMSNorm, SwiGLU, down projection, residual), then the final
 * norm and the classifier.
 *
 * One code path serves prefill and decode: a batch of n tokens goes through
 * every matrix as n rows (es_matmul; es_matvec when n = 1), so a prompt is
 * read from the weights once per layer instead of once per token. Keys and
 * values are copied into the cache at their positions, and each query
 * attends to every cached position up to its own.
 *
 * The KV cache is kept in blocks of ES_KV_BLOCK positions, and within a block
 * head by head, so that the keys (and the values) a query head reads lie in
 * one run per block: read in order, a decode step at 1,024 positions spent
 * about half the time in attention that rows interleaving all heads cost.
 * Blocks are added as the capacity grows by doubling, so a context of
 * 131,072 positions costs nothing until it is used, and nothing filled is
 * ever moved. Scratch buffers are sized when
 * the context is made and grow only for a larger batch or cache: no
 * allocation per token. Every result is computed whole by one thread in a
 * fixed order, so the logits do not depend on the thread count. */
#include "transformer/transformer.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/model.h"
#include "probes/probes.h"
#include "tensor/kernels.h"
#include "tensor/quant.h"
#include "util/error.h"

#define MAX_THREADS 1024
/* Query heads taken together: at most this many heads of one KV group
 * share a pass over its keys and values. */
#define HEADS_PER_PASS 8

/* Per-batch activations; every buffer holds `rows` rows. */
typedef struct scratch {
    int rows;          /* batch rows allocated */
    float *x;          /* (rows, dim) residual stream */
    float *xn;         /* (rows, dim) normalised input of a block */
    float *q;          /* (rows, n_heads*head_dim) queries */
    float *k;          /* (rows, n_kv_heads*head_dim) keys, before they go into the cache */
    float *v;          /* (rows, n_kv_heads*head_dim) values, likewise */
    float *att;        /* (rows, n_heads*head_dim) attention output */
    float *proj;       /* (rows, dim) output of wo or w_down */
    float *gate;       /* (rows, hidden_dim) */
    float *up;         /* (rows, hidden_dim) */
    float *hidden;     /* (rows, hidden_dim) silu(gate) * up */
    float *rope_cos;   /* (rows, head_dim/2) cos of position * theta_i */
    float *rope_sin;   /* (rows, head_dim/2) */
} scratch;

/* The probes' results for the rows of the last es_context_eval, and the
 * probabilities of a chunk of queries (all heads), which the heads'
 * agreement needs at once. */
typedef struct probe_buffers {
    int rows_cap;         /* rows allocated in the result arrays */
    int rows;             /* rows of the last eval */
    int pos0;             /* position of row 0 */
    float *entropy;       /* (rows, n_layers, n_heads) nats */
    float *varentropy;    /* (rows, n_layers, n_heads) nats^2 */
    float *agreement;     /* (rows, n_layers) */
    float *interaction;   /* (rows, n_layers) */
    double *entropy_mean;    /* (rows) over layers and heads */
    double *varentropy_mean; /* (rows) */
    int chunk_rows;       /* queries whose probabilities fit in probs */
    float *probs;         /* (chunk_rows, n_heads, kv_capacity) */
    float *devs;          /* (chunk_rows, kv_capacity) the agreement's per-position terms */
    double *head_abs;     /* (chunk_rows, n_heads) mean |score| per head */
} probe_buffers;

/* The probabilities of one chunk of queries stay under this many floats
 * (16 MiB), however long the context: a chunk shrinks to one query. */
#define PROBS_MAX_FLOATS (4 << 20)

struct es_context {
    const es_model *model;
    int n_ctx;         /* positions the sequence may use */
    int n_threads;
    es_isa isa;        /* the kernel set, resolved (es_context_params.kernels) */
    int pos;           /* positions filled in the cache */
    int kv_capacity;   /* positions allocated in k_cache and v_cache */
    int kv_blocks;     /* blocks allocated per layer (kv_capacity / ES_KV_BLOCK, rounded up) */
    int max_blocks;    /* blocks per layer at n_ctx */
    float **k_cache;   /* (n_layers, max_blocks) blocks, each (n_kv_heads, ES_KV_BLOCK, head_dim) */
    float **v_cache;   /* the same for the values */
    float *scores;     /* (n_threads, HEADS_PER_PASS, kv_capacity) attention scores, per thread */
    scratch s;
    float *logits;     /* (vocab_size) after the last evaluated token */
    int probes;        /* 1: attention statistics are measured */
    probe_buffers pb;
};

int es_default_threads(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > MAX_THREADS ? MAX_THREADS : (int)n;
}

/* ------------------------------------------------------------ buffers -- */

static void scratch_free(scratch *s) {
    float *all[] = {s->x, s->xn, s->q, s->k, s->v, s->att, s->proj, s->gate, s->up, s->hidden,
                    s->rope_cos, s->rope_sin};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) free(all[i]);
    memset(s, 0, sizeof *s);
}

/* n floats on a 64-byte boundary: the matrix kernels read activation rows
 * with 64-byte loads, which cost up to 1.5x when they straddle cache lines. */
static float *alloc_floats(size_t n) {
    size_t bytes = (n * sizeof(float) + 63) / 64 * 64; /* aligned_alloc wants a multiple */
    return aligned_alloc(64, bytes ? bytes : 64);
}

/* Makes room for `rows` batch rows (contents are not kept). */
static int scratch_reserve(scratch *s, const es_config *c, int rows) {
    if (rows <= s->rows) return 0;
    scratch_free(s);
    size_t r = (size_t)rows, q_dim = (size_t)c->n_heads * (size_t)c->head_dim;
    size_t kv_dim = (size_t)c->n_kv_heads * (size_t)c->head_dim;
    s->x = alloc_floats(r * (size_t)c->dim);
    s->xn = alloc_floats(r * (size_t)c->dim);
    s->q = alloc_floats(r * q_dim);
    s->k = alloc_floats(r * kv_dim);
    s->v = alloc_floats(r * kv_dim);
    s->att = alloc_floats(r * q_dim);
    s->proj = alloc_floats(r * (size_t)c->dim);
    s->gate = alloc_floats(r * (size_t)c->hidden_dim);
    s->up = alloc_floats(r * (size_t)c->hidden_dim);
    s->hidden = alloc_floats(r * (size_t)c->hidden_dim);
    s->rope_cos = malloc(r * (size_t)(c->head_dim / 2) * sizeof(float));
    s->rope_sin = malloc(r * (size_t)(c->head_dim / 2) * sizeof(float));
    if (!s->x || !s->xn || !s->q || !s->k || !s->v || !s->att || !s->proj || !s->gate || !s->up ||
        !s->hidden || !s->rope_cos || !s->rope_sin) {
        scratch_free(s);
        return -1;
    }
    s->rows = rows;
    return 0;
}

/* Grows the cache (and the score rows, which span it) to hold `needed`
 * positions, doubling from ES_KV_INITIAL up to n_ctx: the blocks that
 * capacity lacks are added, the filled ones stay where they are. On failure
 * the capacity stays as it was (blocks already added are kept for the next
 * try). */
static int kv_reserve(es_context *ctx, int needed, es_error *err) {
    if (needed <= ctx->kv_capacity) return 0;
    const es_config *c = &ctx->model->config;
    int cap = ctx->kv_capacity ? ctx->kv_capacity : ES_KV_INITIAL;
    while (cap < needed) cap = cap > ctx->n_ctx / 2 ? ctx->n_ctx : cap * 2;
    if (cap > ctx->n_ctx) cap = ctx->n_ctx;
    int blocks = (cap + ES_KV_BLOCK - 1) / ES_KV_BLOCK;
    size_t block_floats = (size_t)c->n_kv_heads * ES_KV_BLOCK * (size_t)c->head_dim;
    for (int b = ctx->kv_blocks; b < blocks; b++)
        for (int l = 0; l < c->n_layers; l++) {
            size_t at = (size_t)l * ctx->max_blocks + b;
            if (!ctx->k_cache[at]) ctx->k_cache[at] = alloc_floats(block_floats);
            if (!ctx->v_cache[at]) ctx->v_cache[at] = alloc_floats(block_floats);
            if (!ctx->k_cache[at] || !ctx->v_cache[at]) goto oom;
        }
    ctx->kv_blocks = blocks;
    float *scores = realloc(ctx->scores, (size_t)ctx->n_threads * HEADS_PER_PASS * (size_t)cap * sizeof(float));
    if (!scores) goto oom;
    ctx->scores = scores;
    if (ctx->probes) {
        probe_buffers *pb = &ctx->pb;
        size_t per_query = (size_t)c->n_heads * (size_t)cap;
        int rows = (int)(PROBS_MAX_FLOATS / per_query);
        rows = rows < 1 ? 1 : rows > ES_MAX_BATCH ? ES_MAX_BATCH : rows;
        float *probs = realloc(pb->probs, (size_t)rows * per_query * sizeof(float));
        if (!probs) goto oom;
        pb->probs = probs;
        float *devs = realloc(pb->devs, (size_t)rows * (size_t)cap * sizeof(float));
        if (!devs) goto oom;
        pb->devs = devs;
        double *head_abs = realloc(pb->head_abs, (size_t)rows * c->n_heads * sizeof(double));
        if (!head_abs) goto oom;
        pb->head_abs = head_abs;
        pb->chunk_rows = rows;
    }
    ctx->kv_capacity = cap;
    return 0;
oom:
    return es_fail(err, "%s: out of memory growing the KV cache to %d positions",
                   ctx->model->path, cap);
}

static void probe_free(probe_buffers *pb) {
    void *all[] = {pb->entropy, pb->varentropy, pb->agreement, pb->interaction,
                   pb->entropy_mean, pb->varentropy_mean, pb->probs, pb->devs, pb->head_abs};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) free(all[i]);
    memset(pb, 0, sizeof *pb);
}

/* realloc that leaves *p as it was on failure. */
static int grow(void *p, size_t bytes) {
    void **ptr = p, *q = realloc(*ptr, bytes);
    if (!q) return -1;
    *ptr = q;
    return 0;
}

/* Makes room for the results of `rows` rows (contents are not kept). */
static int probe_reserve_rows(probe_buffers *pb, const es_config *c, int rows) {
    if (rows <= pb->rows_cap) return 0;
    size_t per_head = (size_t)rows * c->n_layers * c->n_heads;
    size_t per_layer = (size_t)rows * c->n_layers;
    if (grow(&pb->entropy, per_head * sizeof(float)) < 0 ||
        grow(&pb->varentropy, per_head * sizeof(float)) < 0 ||
        grow(&pb->agreement, per_layer * sizeof(float)) < 0 ||
        grow(&pb->interaction, per_layer * sizeof(float)) < 0 ||
        grow(&pb->entropy_mean, (size_t)rows * sizeof(double)) < 0 ||
        grow(&pb->varentropy_mean, (size_t)rows * sizeof(double)) < 0)
        return -1;
    pb->rows_cap = rows;
    return 0;
}

/* ------------------------------------------------------------ context -- */

es_context *es_context_new(const es_model *model, const es_context_params *params,
                           es_error *err) {
    es_context_params p = params ? *params : (es_context_params){0};
    const es_config *c = &model->config;
    if (p.n_ctx < 0) {
        es_fail(err, "context: n_ctx %d is negative", p.n_ctx);
        return NULL;
    }
    if (p.n_threads < 0 || p.n_threads > MAX_THREADS) {
        es_fail(err, "context: %d threads is out of range (0..%d)", p.n_threads, MAX_THREADS);
        return NULL;
    }
    if ((int)p.kernels < ES_KERNELS_BEST || (int)p.kernels > ES_KERNELS_AVX512) {
        es_fail(err, "context: kernel set %d is unknown", (int)p.kernels);
        return NULL;
    }
    es_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx) goto oom;
    ctx->model = model;
    ctx->n_ctx = p.n_ctx ? p.n_ctx : c->context_length;
    ctx->n_threads = p.n_threads ? p.n_threads : es_default_threads();
    ctx->isa = es_isa_resolve((es_isa)p.kernels);
    ctx->probes = p.probes != 0;
    ctx->max_blocks = (ctx->n_ctx + ES_KV_BLOCK - 1) / ES_KV_BLOCK;
    ctx->k_cache = calloc((size_t)c->n_layers * ctx->max_blocks, sizeof *ctx->k_cache);
    ctx->v_cache = calloc((size_t)c->n_layers * ctx->max_blocks, sizeof *ctx->v_cache);
    ctx->logits = calloc((size_t)c->vocab_size, sizeof *ctx->logits);
    if (!ctx->k_cache || !ctx->v_cache || !ctx->logits) goto oom;
    if (scratch_reserve(&ctx->s, c, 1) < 0) goto oom;
    return ctx;
oom:
    es_context_free(ctx);
    es_fail(err, "context: out of memory");
    return NULL;
}

void es_context_free(es_context *ctx) {
    if (!ctx) return;
    size_t n_blocks = (size_t)ctx->model->config.n_layers * ctx->max_blocks;
    for (size_t i = 0; ctx->k_cache && i < n_blocks; i++) free(ctx->k_cache[i]);
    for (size_t i = 0; ctx->v_cache && i < n_blocks; i++) free(ctx->v_cache[i]);
    free(ctx->k_cache);
    free(ctx->v_cache);
    free(ctx->scores);
    scratch_free(&ctx->s);
    probe_free(&ctx->pb);
    free(ctx->logits);
    free(ctx);
}

const float *es_context_logits(const es_context *ctx) { return ctx->logits; }
int es_context_pos(const es_context *ctx) { return ctx->pos; }
int es_context_size(const es_context *ctx) { return ctx->n_ctx; }
int es_context_kv_capacity(const es_context *ctx) { return ctx->kv_capacity; }
int es_context_threads(const es_context *ctx) { return ctx->n_threads; }
es_kernels es_context_kernels(const es_context *ctx) { return (es_kernels)ctx->isa; }

int es_context_rewind(es_context *ctx, int pos, es_error *err) {
    if (pos < 0 || pos > ctx->pos)
        return es_fail(err, "context: cannot rewind to position %d (%d in use)", pos, ctx->pos);
    ctx->pos = pos; /* the rows beyond are overwritten by what comes next */
    ctx->pb.rows = 0;
    return 0;
}

void es_context_reset(es_context *ctx) {
    ctx->pos = 0;
    ctx->pb.rows = 0;
    memset(ctx->logits, 0, (size_t)ctx->model->config.vocab_size * sizeof *ctx->logits);
}

/* ------------------------------------------------------- forward pass -- */

/* W X for n rows of X (n = 1: a matrix-vector product), with the context's kernels. */
static void linear(const es_context *ctx, const es_tensor *w, const float *x, int n, float *y) {
    es_matmul_isa(ctx->isa, w, x, n, y, ctx->n_threads);
}

/* cos and sin of position * theta_i for the batch's positions, in double so
 * that long contexts keep their angles exact to float precision. */
static void rope_tables(es_context *ctx, int n, int pos0) {
    const es_config *c = &ctx->model->config;
    const int half = c->head_dim / 2;
    const float *freq_factors = ctx->model->weights.rope_freqs.data; /* llama3 scaling */
    for (int j = 0; j < half; j++) {
        double theta = pow((double)c->rope_theta, -2.0 * j / c->head_dim);
        if (freq_factors) theta /= freq_factors[j];
        for (int i = 0; i < n; i++) {
            double angle = (double)(pos0 + i) * theta;
            ctx->s.rope_cos[(size_t)i * half + j] = (float)cos(angle);
            ctx->s.rope_sin[(size_t)i * half + j] = (float)sin(angle);
        }
    }
}

/* Rotates the pairs of one head's vector v by the angles of one position. */
static void rope(float *v, const float *cosv, const float *sinv, int head_dim,
                 es_rope_layout layout) {
    const int half = head_dim / 2;
    for (int j = 0; j < half; j++) {
        int a = layout == ES_ROPE_HALF ? j : 2 * j;
        int b = layout == ES_ROPE_HALF ? j + half : 2 * j + 1;
        float v0 = v[a], v1 = v[b];
        v[a] = v0 * cosv[j] - v1 * sinv[j];
        v[b] = v0 * sinv[j] + v1 * cosv[j];
    }
}

/* Where position pos of KV head g of layer l starts in a cache. */
static float *kv_at(const es_context *ctx, float **cache, int l, int pos, int g) {
    const size_t hd = (size_t)ctx->model->config.head_dim;
    return cache[(size_t)l * ctx->max_blocks + pos / ES_KV_BLOCK] + ((size_t)g * ES_KV_BLOCK + pos % ES_KV_BLOCK) * hd;
}

/* The batch's keys and values (rows of s->k, s->v) into the cache at
 * positions pos0.., head by head. */
static void kv_store(es_context *ctx, int l, int n, int pos0) {
    const es_config *c = &ctx->model->config;
    const size_t hd = (size_t)c->head_dim, kv_dim = (size_t)c->n_kv_heads * hd;
    for (int i = 0; i < n; i++)
        for (int g = 0; g < c->n_kv_heads; g++) {
            memcpy(kv_at(ctx, ctx->k_cache, l, pos0 + i, g), ctx->s.k + i * kv_dim + g * hd, hd * sizeof(float));
            memcpy(kv_at(ctx, ctx->v_cache, l, pos0 + i, g), ctx->s.v + i * kv_dim + g * hd, hd * sizeof(float));
        }
}

/* The attention of query heads h0 .. h0+nh-1, all of KV group g, for query
 * i of the batch (position pos0 + i) over cached positions 0..pos0+i of
 * layer l. score: nh rows (stride score_stride), scratch for the scores and
 * then the probabilities. With st (nh of them), the probes' statistics come
 * out of the same softmax pass. The heads read each block of the group's
 * keys and values once (es_dot_f32_rows_multi, es_weighted_rows_multi);
 * every head's numbers are those of a pass of its own, over the whole
 * context at once. */
static void attend_heads(es_context *ctx, int l, int g, int h0, int nh, int i, int pos0, float *score,
                         size_t score_stride, es_softmax_stats *st) {
    const es_config *c = &ctx->model->config;
    const int hd = c->head_dim;
    const size_t q_dim = (size_t)c->n_heads * hd;
    const int n_keys = pos0 + i + 1; /* causal: positions 0..pos0+i, never empty slots */
    const float *q = ctx->s.q + (size_t)i * q_dim + (size_t)h0 * hd;
    /* scores: q . k / sqrt(head_dim), then softmax over the positions */
    for (int t0 = 0; t0 < n_keys; t0 += ES_KV_BLOCK) {
        int m = n_keys - t0 < ES_KV_BLOCK ? n_keys - t0 : ES_KV_BLOCK;
        es_dot_f32_rows_multi_isa(ctx->isa, q, (size_t)hd, nh, kv_at(ctx, ctx->k_cache, l, t0, g), (size_t)hd, m,
                                  hd, score + t0, score_stride);
    }
    const float sqrt_hd = sqrtf((float)hd);
    for (int k = 0; k < nh; k++) {
        float *row = score + k * score_stride;
#pragma omp simd
        for (int t = 0; t < n_keys; t++) row[t] /= sqrt_hd;
        if (st) es_softmax_probe_isa(ctx->isa, row, n_keys, &st[k]);
        else es_softmax_isa(ctx->isa, row, n_keys);
    }
    /* weighted sums of the values */
    float *out = ctx->s.att + (size_t)i * q_dim + (size_t)h0 * hd;
    for (int t0 = 0; t0 < n_keys; t0 += ES_KV_BLOCK) {
        int m = n_keys - t0 < ES_KV_BLOCK ? n_keys - t0 : ES_KV_BLOCK;
        es_weighted_rows_multi_isa(ctx->isa, score + t0, score_stride, nh, kv_at(ctx, ctx->v_cache, l, t0, g),
                                   (size_t)hd, m, hd, out, (size_t)hd, t0 > 0);
    }
}

/* The passes of a layer's attention per query: KV groups split into runs of
 * at most HEADS_PER_PASS heads. */
static int passes_per_query(const es_config *c) {
    int group = c->n_heads / c->n_kv_heads;
    return c->n_kv_heads * ((group + HEADS_PER_PASS - 1) / HEADS_PER_PASS);
}

/* Pass p covers heads *h0 .. *h0 + *nh - 1, of KV group *g. */
static void pass_heads(const es_config *c, int p, int *g, int *h0, int *nh) {
    int group = c->n_heads / c->n_kv_heads, per_group = (group + HEADS_PER_PASS - 1) / HEADS_PER_PASS;
    int k0 = (p % per_group) * HEADS_PER_PASS;
    *g = p / per_group;
    *h0 = *g * group + k0;
    *nh = group - k0 < HEADS_PER_PASS ? group - k0 : HEADS_PER_PASS;
}

/* Attention with the probes on, for queries c0..c0+cn-1 of the batch (row0:
 * the eval's row of batch row 0). Each head writes its probabilities into
 * its own row of pb->probs, so that the heads' agreement can be taken per
 * query once all heads are done. */
static void attention_probed(es_context *ctx, int l, int c0, int cn, int pos0, int row0) {
    const es_config *c = &ctx->model->config;
    probe_buffers *pb = &ctx->pb;
    const int n_heads = c->n_heads, n_layers = c->n_layers;
    const size_t cap = (size_t)ctx->kv_capacity;
    const int n_passes = passes_per_query(c), n_tasks = n_passes * cn;
#pragma omp parallel num_threads(ctx->n_threads)
    {
#pragma omp for schedule(static)
        for (int task = 0; task < n_tasks; task++) {
            const int ci = task % cn, i = c0 + ci;
            int g, h0, nh;
            pass_heads(c, task / cn, &g, &h0, &nh);
            es_softmax_stats st[HEADS_PER_PASS];
            attend_heads(ctx, l, g, h0, nh, i, pos0, pb->probs + ((size_t)ci * n_heads + h0) * cap, cap, st);
            for (int k = 0; k < nh; k++) {
                const int h = h0 + k;
                const size_t at = ((size_t)(row0 + i) * n_layers + l) * n_heads + h;
                pb->entropy[at] = (float)st[k].entropy;
                pb->varentropy[at] = (float)st[k].varentropy;
                pb->head_abs[(size_t)ci * n_heads + h] = st[k].mean_abs_score;
            }
        }
        /* per query, over all heads: agreement and interaction strength.
         * The agreement's terms in blocks of positions shared out among
         * the threads (one thread took ~2% of a two-thread decode at 1,024
         * positions while the other waited), then added per query in
         * position order: es_attn_agreement's bits. */
        const int n_blocks = (pos0 + c0 + cn + ES_AGREEMENT_BLOCK - 1) / ES_AGREEMENT_BLOCK;
#pragma omp for schedule(static)
        for (int piece = 0; piece < cn * n_blocks; piece++) {
            const int ci = piece / n_blocks, j0 = piece % n_blocks * ES_AGREEMENT_BLOCK;
            const int n_keys = pos0 + c0 + ci + 1;
            if (j0 >= n_keys) continue;
            const int m = n_keys - j0 < ES_AGREEMENT_BLOCK ? n_keys - j0 : ES_AGREEMENT_BLOCK;
            es_attn_agreement_devs(pb->probs + (size_t)ci * n_heads * cap, n_heads, j0, m, cap,
                                   pb->devs + (size_t)ci * cap + j0);
        }
#pragma omp for schedule(static) nowait /* the region's end waits for it */
        for (int ci = 0; ci < cn; ci++) {
            const int n_keys = pos0 + c0 + ci + 1;
            const size_t at = (size_t)(row0 + c0 + ci) * n_layers + l;
            const float *dev = pb->devs + (size_t)ci * cap;
            double total = 0;
            for (int j = 0; j < n_keys; j++) total += dev[j];
            pb->agreement[at] = (float)(total / ((double)n_heads * n_keys));
            double abs_sum = 0;
            for (int h = 0; h < n_heads; h++) abs_sum += pb->head_abs[(size_t)ci * n_heads + h];
            pb->interaction[at] = (float)(abs_sum / n_heads);
        }
    }
}

/* Causal grouped-query attention of the batch's queries (positions
 * pos0..pos0+n-1) over the cached keys and values of layer l. Each
 * (pass of heads, query) pair is one task with its own score rows. */
static void attention(es_context *ctx, int l, int n, int pos0, int row0) {
    if (ctx->probes) {
        for (int c0 = 0; c0 < n; c0 += ctx->pb.chunk_rows) {
            int cn = n - c0 < ctx->pb.chunk_rows ? n - c0 : ctx->pb.chunk_rows;
            attention_probed(ctx, l, c0, cn, pos0, row0);
        }
        return;
    }
    const es_config *c = &ctx->model->config;
    const size_t cap = (size_t)ctx->kv_capacity;
    const int n_tasks = passes_per_query(c) * n;
#pragma omp parallel for schedule(static) num_threads(ctx->n_threads)
    for (int task = 0; task < n_tasks; task++) {
        float *score = ctx->scores + (size_t)omp_get_thread_num() * HEADS_PER_PASS * cap;
        int g, h0, nh;
        pass_heads(c, task / n, &g, &h0, &nh);
        attend_heads(ctx, l, g, h0, nh, task % n, pos0, score, cap, NULL);
    }
}

/* The per-row means over all layers and heads, once every layer is done. */
static void probe_means(probe_buffers *pb, const es_config *c, int rows, int pos0) {
    const size_t per_row = (size_t)c->n_layers * c->n_heads;
    for (int r = 0; r < rows; r++) {
        double h = 0, v = 0;
        for (size_t k = 0; k < per_row; k++) {
            h += pb->entropy[r * per_row + k];
            v += pb->varentropy[r * per_row + k];
        }
        pb->entropy_mean[r] = h / (double)per_row;
        pb->varentropy_mean[r] = v / (double)per_row;
    }
    pb->rows = rows;
    pb->pos0 = pos0;
}

int es_context_probe_rows(const es_context *ctx) { return ctx->probes ? ctx->pb.rows : 0; }

int es_context_probe(const es_context *ctx, int row, es_attn_probe *out) {
    const probe_buffers *pb = &ctx->pb;
    if (!ctx->probes || row < 0 || row >= pb->rows) return -1;
    const es_config *c = &ctx->model->config;
    const size_t per_row = (size_t)c->n_layers * c->n_heads;
    *out = (es_attn_probe){
        .pos = pb->pos0 + row,
        .n_layers = c->n_layers,
        .n_heads = c->n_heads,
        .entropy = pb->entropy + row * per_row,
        .varentropy = pb->varentropy + row * per_row,
        .agreement = pb->agreement + (size_t)row * c->n_layers,
        .interaction = pb->interaction + (size_t)row * c->n_layers,
        .entropy_mean = pb->entropy_mean[row],
        .varentropy_mean = pb->varentropy_mean[row],
    };
    return 0;
}

static void add_rows(float *x, const float *y, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] += y[i];
}

/* es_swiglu over n rows of `width`, split over the threads for a batch
 * (element-wise, so the split changes no value; one token is left to one
 * thread: waking the others costs more than its 8k exponentials). */
static void swiglu_rows(es_isa isa, float *out, const float *gate, const float *up, int n, int width, int n_threads) {
    if (n <= 1 || n_threads <= 1) {
        es_swiglu_isa(isa, out, gate, up, n * width);
        return;
    }
#pragma omp parallel for schedule(static) num_threads(n_threads)
    for (int i = 0; i < n; i++)
        es_swiglu_isa(isa, out + (size_t)i * width, gate + (size_t)i * width, up + (size_t)i * width, width);
}

static void rmsnorm_rows(float *out, const float *x, const es_tensor *w, int n,
                         const es_config *c) {
    for (int i = 0; i < n; i++)
        es_rmsnorm(out + (size_t)i * c->dim, x + (size_t)i * c->dim, w->data, c->dim,
                   c->rms_eps);
}

static void attention_block(es_context *ctx, int l, int n, int pos0, int row0) {
    const es_config *c = &ctx->model->config;
    const es_layer_weights *L = &ctx->model->weights.layers[l];
    scratch *s = &ctx->s;
    const int hd = c->head_dim, half = hd / 2;
    const size_t q_dim = (size_t)c->n_heads * hd, kv_dim = (size_t)c->n_kv_heads * hd;
    float *k = s->k, *v = s->v;

    /* attention rmsnorm */
    rmsnorm_rows(s->xn, s->x, &L->attn_norm, n, c);
    /* q, k, v matmuls */
    linear(ctx, &L->wq, s->xn, n, s->q);
    linear(ctx, &L->wk, s->xn, n, k);
    linear(ctx, &L->wv, s->xn, n, v);
    /* RoPE: rotate every query head and key head by its position's angles */
    for (int i = 0; i < n; i++) {
        const float *cs = s->rope_cos + (size_t)i * half, *sn = s->rope_sin + (size_t)i * half;
        for (int h = 0; h < c->n_heads; h++)
            rope(s->q + i * q_dim + (size_t)h * hd, cs, sn, hd, c->rope_layout);
        for (int h = 0; h < c->n_kv_heads; h++)
            rope(k + i * kv_dim + (size_t)h * hd, cs, sn, hd, c->rope_layout);
    }
    kv_store(ctx, l, n, pos0);
    /* grouped-query attention over the cache, causal */
    attention(ctx, l, n, pos0, row0);
    /* output projection, residual */
    linear(ctx, &L->wo, s->att, n, s->proj);
    add_rows(s->x, s->proj, (size_t)n * c->dim);
}

static void ffn_block(es_context *ctx, int l, int n) {
    const es_config *c = &ctx->model->config;
    const es_layer_weights *L = &ctx->model->weights.layers[l];
    scratch *s = &ctx->s;
    const int nt = ctx->n_threads;

    /* ffn rmsnorm */
    rmsnorm_rows(s->xn, s->x, &L->ffn_norm, n, c);
    /* SwiGLU: silu(x W_gate) * (x W_up) */
    linear(ctx, &L->w_gate, s->xn, n, s->gate);
    linear(ctx, &L->w_up, s->xn, n, s->up);
    swiglu_rows(ctx->isa, s->hidden, s->gate, s->up, n, c->hidden_dim, nt);
    /* down projection, residual */
    linear(ctx, &L->w_down, s->hidden, n, s->proj);
    add_rows(s->x, s->proj, (size_t)n * c->dim);
}

/* Runs n <= scratch rows tokens at positions pos0.. through the model;
 * row0 is the eval's row of the first (for the probes). The logits of every
 * row go to all_logits if it is not NULL, else, if want_last, those of the
 * last row to ctx->logits. */
static void forward(es_context *ctx, const int32_t *tokens, int n, int pos0, int row0,
                    float *all_logits, int want_last) {
    const es_config *c = &ctx->model->config;
    const es_weights *w = &ctx->model->weights;
    scratch *s = &ctx->s;

    /* token embeddings */
    for (int i = 0; i < n; i++)
        es_dequantize_row(w->token_embd.type, es_tensor_row(&w->token_embd, tokens[i]),
                          s->x + (size_t)i * c->dim, c->dim);
    rope_tables(ctx, n, pos0);
    for (int l = 0; l < c->n_layers; l++) {
        attention_block(ctx, l, n, pos0, row0);
        ffn_block(ctx, l, n);
    }
    /* final norm and classifier: every row, or only the last */
    if (all_logits) {
        rmsnorm_rows(s->xn, s->x, &w->output_norm, n, c);
        linear(ctx, &w->output, s->xn, n, all_logits);
    } else if (want_last) {
        rmsnorm_rows(s->xn, s->x + (size_t)(n - 1) * c->dim, &w->output_norm, 1, c);
        linear(ctx, &w->output, s->xn, 1, ctx->logits);
    }
}

int es_context_eval(es_context *ctx, const int32_t *tokens, int n, float *all_logits,
                    es_error *err) {
    const es_config *c = &ctx->model->config;
    const char *path = ctx->model->path;
    if (n <= 0) return es_fail(err, "%s: no tokens to evaluate (n = %d)", path, n);
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= c->vocab_size)
            return es_fail(err, "%s: token %d (at %d) is outside the vocabulary of %d",
                           path, (int)tokens[i], i, c->vocab_size);
    if (n > ctx->n_ctx - ctx->pos) {
        if (ctx->pos == 0)
            return es_fail(err, "%s: prompt of %d tokens does not fit in the context of %d",
                           path, n, ctx->n_ctx);
        return es_fail(err, "%s: %d more tokens do not fit in the context of %d (%d in use)",
                       path, n, ctx->n_ctx, ctx->pos);
    }
    if (kv_reserve(ctx, ctx->pos + n, err) < 0) return -1;
    if (scratch_reserve(&ctx->s, c, n < ES_MAX_BATCH ? n : ES_MAX_BATCH) < 0)
        return es_fail(err, "%s: out of memory for a batch of %d tokens", path, n);
    if (ctx->probes && probe_reserve_rows(&ctx->pb, c, n) < 0)
        return es_fail(err, "%s: out of memory for the probes of %d tokens", path, n);
    /* nothing can fail from here on */
    const size_t vocab = (size_t)c->vocab_size;
    for (int start = 0; start < n; start += ES_MAX_BATCH) {
        int rows = n - start < ES_MAX_BATCH ? n - start : ES_MAX_BATCH;
        float *out = all_logits ? all_logits + (size_t)start * vocab : NULL;
        int last = start + rows == n; /* earlier batches only fill the cache */
        forward(ctx, tokens + start, rows, ctx->pos + start, start, out, last);
    }
    if (ctx->probes) probe_means(&ctx->pb, c, n, ctx->pos);
    if (all_logits)
        memcpy(ctx->logits, all_logits + (size_t)(n - 1) * vocab, vocab * sizeof(float));
    ctx->pos += n;
    return 0;
}
