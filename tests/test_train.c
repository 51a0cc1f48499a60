/* The trainer (src/train/): every op's backward and the whole model's
 * gradient against central finite differences of plain double-precision
 * forwards written here; the trainer's forward against the engine's on an
 * exported model; training to near-zero loss; bit-reproducibility (two runs,
 * and a stopped-and-resumed run); bad inputs; the CLI. Error measure of a
 * gradient check: max |analytic - numeric| / max |numeric| over a tensor;
 * bound GRAD_TOL (float analytic gradients against double differences). */
#include "test.h"
#include "cli_run.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer.h"
#include "train/train.h"
#include "util/rng.h"

#define GRAD_TOL 2e-3

static float uniform(uint64_t *s, float lo, float hi) {
    *s = es_splitmix64(*s);
    return lo + (hi - lo) * (float)((*s >> 40) * 0x1p-24);
}

static void fill(float *x, size_t n, uint64_t seed, float lo, float hi) {
    uint64_t s = seed;
    for (size_t i = 0; i < n; i++) x[i] = uniform(&s, lo, hi);
}

/* -------------------------------------------------- double references -- */

static void ref_matmul(const double *x, const double *w, double *y, int n, int in, int out) {
    for (int i = 0; i < n; i++)
        for (int o = 0; o < out; o++) {
            double s = 0;
            for (int k = 0; k < in; k++) s += x[i * in + k] * w[o * in + k];
            y[i * out + o] = s;
        }
}

static void ref_rmsnorm(const double *x, const double *g, double *y, int n, int d, double eps) {
    for (int i = 0; i < n; i++) {
        double ss = 0;
        for (int k = 0; k < d; k++) ss += x[i * d + k] * x[i * d + k];
        double r = 1 / sqrt(ss / d + eps);
        for (int k = 0; k < d; k++) y[i * d + k] = x[i * d + k] * r * g[k];
    }
}

static void ref_rope(double *x, int n, int T, int heads, int hd, double theta) {
    for (int i = 0; i < n; i++)
        for (int h = 0; h < heads; h++)
            for (int j = 0; j < hd / 2; j++) {
                double a = (i % T) * pow(theta, -2.0 * j / hd);
                double *v = x + (i * heads + h) * hd;
                double v0 = v[2 * j], v1 = v[2 * j + 1];
                v[2 * j] = v0 * cos(a) - v1 * sin(a);
                v[2 * j + 1] = v0 * sin(a) + v1 * cos(a);
            }
}

static void ref_attention(const tr_attn_shape *s, const double *q, const double *k,
                          const double *v, double *out) {
    const int T = s->T, H = s->n_heads, KV = s->n_kv_heads, hd = s->hd;
    double p[64];
    for (int b = 0; b < s->B; b++)
        for (int h = 0; h < H; h++)
            for (int t = 0; t < T; t++) {
                const double *qt = q + ((b * T + t) * H + h) * hd;
                double max = -1e300, sum = 0;
                for (int j = 0; j <= t; j++) {
                    const double *kj = k + ((b * T + j) * KV + h / (H / KV)) * hd;
                    double d = 0;
                    for (int c = 0; c < hd; c++) d += qt[c] * kj[c];
                    p[j] = d / sqrt(hd);
                    if (p[j] > max) max = p[j];
                }
                for (int j = 0; j <= t; j++) sum += p[j] = exp(p[j] - max);
                double *o = out + ((b * T + t) * H + h) * hd;
                for (int c = 0; c < hd; c++) {
                    o[c] = 0;
                    for (int j = 0; j <= t; j++)
                        o[c] += p[j] / sum * v[((b * T + j) * KV + h / (H / KV)) * hd + c];
                }
            }
}

static double ref_silu_mul(double g, double u) { return g / (1 + exp(-g)) * u; }

static double ref_xent(const double *logits, const int32_t *targets, int n, int V) {
    double total = 0;
    int count = 0;
    for (int i = 0; i < n; i++) {
        if (targets[i] < 0) continue;
        double max = -1e300, sum = 0;
        for (int c = 0; c < V; c++) if (logits[i * V + c] > max) max = logits[i * V + c];
        for (int c = 0; c < V; c++) sum += exp(logits[i * V + c] - max);
        total += log(sum) + max - logits[i * V + targets[i]];
        count++;
    }
    return count ? total / count : 0;
}

/* ------------------------------------------------------- op harness -- */

/* An op under test: inputs (float), a double forward giving the scalar
 * L = sum(out * R), and the float backward giving dL/dinputs for dy = R. */
typedef struct opcase {
    const char *name;
    int n_in;
    size_t size[3];
    float *in[3];
    size_t n_out;
    float *R;                      /* (n_out) the output's weights */
    tr_attn_shape sh;              /* shapes the op reads */
    int n, d, T, heads, hd;
    int32_t tokens[16];
    double (*loss)(const struct opcase *c, double *const *in);
    void (*analytic)(const struct opcase *c, float *const *din);
} opcase;

static double dot_R(const opcase *c, const double *out) {
    double s = 0;
    for (size_t i = 0; i < c->n_out; i++) s += out[i] * c->R[i];
    return s;
}

/* Max over inputs of the gradient error; *ok 0 on allocation failure. */
static double check_op(opcase *c) {
    double worst = 0;
    float *din[3];
    double *dd[3];
    for (int i = 0; i < c->n_in; i++) {
        din[i] = calloc(c->size[i], sizeof(float));
        dd[i] = malloc(c->size[i] * sizeof(double));
        for (size_t k = 0; k < c->size[i]; k++) dd[i][k] = c->in[i][k];
    }
    c->analytic(c, din);
    for (int i = 0; i < c->n_in; i++) {
        double max_num = 0, max_diff = 0;
        for (size_t k = 0; k < c->size[i]; k++) {
            const double x = dd[i][k], h = 1e-5;
            dd[i][k] = x + h;
            double lp = c->loss(c, dd);
            dd[i][k] = x - h;
            double lm = c->loss(c, dd);
            dd[i][k] = x;
            double num = (lp - lm) / (2 * h);
            max_num = fmax(max_num, fabs(num));
            max_diff = fmax(max_diff, fabs(num - din[i][k]));
        }
        double e = max_num > 0 ? max_diff / max_num : max_diff;
        CHECKF(e < GRAD_TOL, "%s input %d: gradient error %.3g", c->name, i, e);
        worst = fmax(worst, e);
    }
    for (int i = 0; i < c->n_in; i++) {
        free(din[i]);
        free(dd[i]);
    }
    return worst;
}

static void setup_case(opcase *c, int n_in, const size_t *sizes, size_t n_out, uint64_t seed) {
    c->n_in = n_in;
    for (int i = 0; i < n_in; i++) {
        c->size[i] = sizes[i];
        c->in[i] = malloc(sizes[i] * sizeof(float));
        fill(c->in[i], sizes[i], seed + i, -1, 1);
    }
    c->n_out = n_out;
    c->R = malloc((n_out ? n_out : 1) * sizeof(float));
    fill(c->R, n_out, seed + 99, -1, 1);
}

static void free_case(opcase *c) {
    for (int i = 0; i < c->n_in; i++) free(c->in[i]);
    free(c->R);
}

/* matmul: x (n, d) . w (heads, d)^T */
static double mm_loss(const opcase *c, double *const *in) {
    double y[64];
    ref_matmul(in[0], in[1], y, c->n, c->d, c->heads);
    return dot_R(c, y);
}
static void mm_analytic(const opcase *c, float *const *din) {
    tr_matmul_bwd(c->R, c->in[0], c->in[1], din[0], 0, din[1], c->n, c->d, c->heads);
}

static double norm_loss(const opcase *c, double *const *in) {
    double y[64];
    ref_rmsnorm(in[0], in[1], y, c->n, c->d, 1e-5);
    return dot_R(c, y);
}
static void norm_analytic(const opcase *c, float *const *din) {
    float y[64], rstd[8];
    tr_rmsnorm_fwd(c->in[0], c->in[1], y, rstd, c->n, c->d, 1e-5f);
    tr_rmsnorm_bwd(c->R, c->in[0], c->in[1], rstd, din[0], din[1], c->n, c->d);
}

static double rope_loss(const opcase *c, double *const *in) {
    double x[64];
    memcpy(x, in[0], c->n_out * sizeof(double));
    ref_rope(x, c->n, c->T, c->heads, c->hd, 10000.0);
    return dot_R(c, x);
}
static void rope_analytic(const opcase *c, float *const *din) {
    float cs[64], sn[64];
    tr_rope_tables(c->T, c->hd, 10000.0f, cs, sn);
    memcpy(din[0], c->R, c->n_out * sizeof(float));
    tr_rope(din[0], c->n, c->T, c->heads, c->hd, cs, sn, 1);
}

static double attn_loss(const opcase *c, double *const *in) {
    double out[256];
    ref_attention(&c->sh, in[0], in[1], in[2], out);
    return dot_R(c, out);
}
static void attn_analytic(const opcase *c, float *const *din) {
    const tr_attn_shape *s = &c->sh;
    float *probs = malloc(sizeof(float) * s->B * s->n_heads * s->T * s->T), out[256];
    tr_attention_fwd(s, c->in[0], c->in[1], c->in[2], probs, out);
    tr_attention_bwd(s, c->in[0], c->in[1], c->in[2], probs, c->R, din[0], din[1], din[2]);
    free(probs);
}

static double swiglu_loss(const opcase *c, double *const *in) {
    double s = 0;
    for (size_t i = 0; i < c->n_out; i++) s += ref_silu_mul(in[0][i], in[1][i]) * c->R[i];
    return s;
}
static void swiglu_analytic(const opcase *c, float *const *din) {
    tr_swiglu_bwd(c->R, c->in[0], c->in[1], din[0], din[1], c->n_out);
}

/* embedding: table (heads rows, d) looked up at tokens (n) */
static double embed_loss(const opcase *c, double *const *in) {
    double s = 0;
    for (int i = 0; i < c->n; i++)
        for (int k = 0; k < c->d; k++) s += in[0][c->tokens[i] * c->d + k] * c->R[i * c->d + k];
    return s;
}
static void embed_analytic(const opcase *c, float *const *din) {
    tr_embed_bwd(c->R, c->tokens, din[0], c->n, c->d);
}

/* cross-entropy: logits (n, d) against tokens, some masked */
static double xent_loss(const opcase *c, double *const *in) {
    return ref_xent(in[0], c->tokens, c->n, c->d);
}
static void xent_analytic(const opcase *c, float *const *din) {
    int counted;
    tr_xent(c->in[0], c->tokens, din[0], c->n, c->d, &counted);
}

static void op_gradients(void) {
    double worst[7];
    opcase c;
    { memset(&c, 0, sizeof c); c.name = "matmul"; c.n = 3, c.d = 5, c.heads = 4;
      size_t sz[2] = {15, 20}; setup_case(&c, 2, sz, 12, 1);
      c.loss = mm_loss, c.analytic = mm_analytic; worst[0] = check_op(&c); free_case(&c); }
    { memset(&c, 0, sizeof c); c.name = "rmsnorm"; c.n = 3, c.d = 6;
      size_t sz[2] = {18, 6}; setup_case(&c, 2, sz, 18, 2);
      c.loss = norm_loss, c.analytic = norm_analytic; worst[1] = check_op(&c); free_case(&c); }
    { memset(&c, 0, sizeof c); c.name = "rope"; c.n = 6, c.T = 3, c.heads = 2, c.hd = 4;
      size_t sz[1] = {48}; setup_case(&c, 1, sz, 48, 3);
      c.loss = rope_loss, c.analytic = rope_analytic; worst[2] = check_op(&c); free_case(&c); }
    { memset(&c, 0, sizeof c); c.name = "attention";
      c.sh = (tr_attn_shape){2, 5, 4, 2, 4};
      size_t sz[3] = {2 * 5 * 16, 2 * 5 * 8, 2 * 5 * 8}; setup_case(&c, 3, sz, 160, 4);
      c.loss = attn_loss, c.analytic = attn_analytic; worst[3] = check_op(&c); free_case(&c); }
    { memset(&c, 0, sizeof c); c.name = "swiglu";
      size_t sz[2] = {20, 20}; setup_case(&c, 2, sz, 20, 5);
      for (int i = 0; i < 20; i++) c.in[0][i] *= 4;
      c.loss = swiglu_loss, c.analytic = swiglu_analytic; worst[4] = check_op(&c); free_case(&c); }
    { memset(&c, 0, sizeof c); c.name = "embedding"; c.n = 5, c.d = 3;
      int32_t t[5] = {2, 0, 2, 3, 1}; memcpy(c.tokens, t, sizeof t);
      size_t sz[1] = {12}; setup_case(&c, 1, sz, 15, 6);
      c.loss = embed_loss, c.analytic = embed_analytic; worst[5] = check_op(&c); free_case(&c); }
    { memset(&c, 0, sizeof c); c.name = "cross-entropy"; c.n = 5, c.d = 7;
      int32_t t[5] = {3, -1, 6, 0, -1}; memcpy(c.tokens, t, sizeof t);
      size_t sz[1] = {35}; setup_case(&c, 1, sz, 0, 7);
      for (int i = 0; i < 35; i++) c.in[0][i] *= 3;
      c.loss = xent_loss, c.analytic = xent_analytic; worst[6] = check_op(&c); free_case(&c); }
    if (getenv("ES_TRAIN_VERBOSE"))
        printf("  op gradient errors: matmul %.2g rmsnorm %.2g rope %.2g attention %.2g "
               "swiglu %.2g embedding %.2g xent %.2g\n", worst[0], worst[1], worst[2],
               worst[3], worst[4], worst[5], worst[6]);
}

/* Float forwards against the double references (the same ops). */
static void op_forwards(void) {
    tr_attn_shape s = {2, 5, 4, 2, 4};
    float q[160], k[80], v[80], out[160], probs[2 * 4 * 25];
    double dq[160], dk[80], dv[80], dout[160];
    fill(q, 160, 11, -1, 1), fill(k, 80, 12, -1, 1), fill(v, 80, 13, -1, 1);
    for (int i = 0; i < 160; i++) dq[i] = q[i];
    for (int i = 0; i < 80; i++) dk[i] = k[i], dv[i] = v[i];
    tr_attention_fwd(&s, q, k, v, probs, out);
    ref_attention(&s, dq, dk, dv, dout);
    for (int i = 0; i < 160; i++) CHECK_NEAR(out[i], dout[i], 1e-5);
    float x[48], cs[64], sn[64];
    double xd[48];
    fill(x, 48, 14, -1, 1);
    for (int i = 0; i < 48; i++) xd[i] = x[i];
    tr_rope_tables(3, 4, 10000.0f, cs, sn);
    tr_rope(x, 6, 3, 2, 4, cs, sn, 0);
    ref_rope(xd, 6, 3, 2, 4, 10000.0);
    for (int i = 0; i < 48; i++) CHECK_NEAR(x[i], xd[i], 1e-6);
}

/* --------------------------------------------------------- the model -- */

/* The whole model's mean cross-entropy, in double, from params laid out as
 * m's tensor table says; B sequences of T. */
static double ref_model_loss(const tr_model *m, const double *P, const int32_t *inputs,
                             const int32_t *targets, int B, int T) {
    const tr_config *c = &m->c;
    const int N = B * T, D = c->dim, Hd = c->hidden, V = c->vocab;
    const int QD = c->n_heads * c->head_dim, KVD = c->n_kv_heads * c->head_dim;
    double *x = malloc(sizeof(double) * N * D), *xn = malloc(sizeof(double) * N * D);
    double *q = malloc(sizeof(double) * N * QD), *k = malloc(sizeof(double) * N * KVD);
    double *v = malloc(sizeof(double) * N * KVD), *ao = malloc(sizeof(double) * N * QD);
    double *tmp = malloc(sizeof(double) * N * (D > V ? D : V));
    double *g = malloc(sizeof(double) * N * Hd), *u = malloc(sizeof(double) * N * Hd);
    const double *emb = P + m->tensors[0].offset;
    for (int i = 0; i < N; i++)
        for (int d = 0; d < D; d++) x[i * D + d] = emb[inputs[i] * D + d];
    for (int l = 0; l < c->n_layers; l++) {
        const tr_tensor *t = &m->tensors[1 + 9 * l];
        ref_rmsnorm(x, P + t[0].offset, xn, N, D, c->rms_eps);
        ref_matmul(xn, P + t[1].offset, q, N, D, QD);
        ref_matmul(xn, P + t[2].offset, k, N, D, KVD);
        ref_matmul(xn, P + t[3].offset, v, N, D, KVD);
        ref_rope(q, N, T, c->n_heads, c->head_dim, c->rope_theta);
        ref_rope(k, N, T, c->n_kv_heads, c->head_dim, c->rope_theta);
        tr_attn_shape s = {B, T, c->n_heads, c->n_kv_heads, c->head_dim};
        ref_attention(&s, q, k, v, ao);
        ref_matmul(ao, P + t[4].offset, tmp, N, QD, D);
        for (int i = 0; i < N * D; i++) x[i] += tmp[i];
        ref_rmsnorm(x, P + t[5].offset, xn, N, D, c->rms_eps);
        ref_matmul(xn, P + t[6].offset, g, N, D, Hd);
        ref_matmul(xn, P + t[7].offset, u, N, D, Hd);
        for (int i = 0; i < N * Hd; i++) g[i] = ref_silu_mul(g[i], u[i]);
        ref_matmul(g, P + t[8].offset, tmp, N, Hd, D);
        for (int i = 0; i < N * D; i++) x[i] += tmp[i];
    }
    ref_rmsnorm(x, P + m->tensors[m->n_tensors - 1].offset, xn, N, D, c->rms_eps);
    ref_matmul(xn, emb, tmp, N, D, V);
    double loss = ref_xent(tmp, targets, N, V);
    free(x), free(xn), free(q), free(k), free(v), free(ao), free(tmp), free(g), free(u);
    return loss;
}

static const tr_config tiny_config = {.vocab = 13, .dim = 8, .n_layers = 2, .n_heads = 2,
                                      .n_kv_heads = 1, .head_dim = 4, .hidden = 12,
                                      .seq_len = 5, .rope_theta = 10000.0f, .rms_eps = 1e-5f};

static void model_gradient(void) {
    tr_model m;
    es_error err;
    if (tr_model_build(&m, &tiny_config, &err)) { CHECKF(0, "%s", err.msg); return; }
    const int B = 2, T = 5;
    /* larger than the init so that every path carries signal */
    fill(m.params, m.n_params, 21, -0.5f, 0.5f);
    for (int i = 0; i < m.n_tensors; i++)
        if (m.tensors[i].is_norm)
            fill(m.params + m.tensors[i].offset, m.tensors[i].cols, 22 + i, 0.8f, 1.2f);
    const int32_t in[10] = {1, 5, 7, 2, 12, 0, 3, 3, 9, 4};
    const int32_t tg[10] = {5, 7, 2, 12, -1, 3, -1, 9, 4, 11};
    tr_state *s = tr_state_new(&m.c, B, T, &err);
    double loss = tr_forward(&m, s, in, tg);
    tr_backward(&m, s, in);
    double *P = malloc(sizeof(double) * m.n_params);
    for (size_t i = 0; i < m.n_params; i++) P[i] = m.params[i];
    CHECK_NEAR(loss, ref_model_loss(&m, P, in, tg, B, T), 1e-5);
    double worst = 0;
    for (int ti = 0; ti < m.n_tensors; ti++) {
        const tr_tensor *t = &m.tensors[ti];
        const size_t n = (size_t)t->rows * t->cols;
        double max_num = 0, max_diff = 0;
        for (int sample = 0; sample < 6; sample++) {
            const size_t k = t->offset + (size_t)(sample * 7919 + ti) % n;
            const double x = P[k], h = 1e-5;
            P[k] = x + h;
            double lp = ref_model_loss(&m, P, in, tg, B, T);
            P[k] = x - h;
            double lm = ref_model_loss(&m, P, in, tg, B, T);
            P[k] = x;
            double num = (lp - lm) / (2 * h);
            max_num = fmax(max_num, fabs(num));
            max_diff = fmax(max_diff, fabs(num - m.grads[k]));
        }
        double e = max_diff / fmax(max_num, 1e-4);
        CHECKF(e < GRAD_TOL, "%s: gradient error %.3g", t->name, e);
        worst = fmax(worst, e);
    }
    if (getenv("ES_TRAIN_VERBOSE")) printf("  model gradient error (worst tensor) %.2g\n", worst);
    free(P);
    tr_state_free(s);
    tr_model_free(&m);
}

/* The exported F32 model in the engine gives the trainer's logits. */
static void engine_agreement(void) {
    es_error err;
    es_tokenizer *tok = es_tokenizer_synthetic(300, &err);
    tr_config c = {.vocab = 300, .dim = 32, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2,
                   .head_dim = 8, .hidden = 48, .seq_len = 16, .rope_theta = 10000.0f,
                   .rms_eps = 1e-5f};
    tr_model m;
    if (!tok || tr_model_build(&m, &c, &err)) { CHECKF(0, "%s", err.msg); es_tokenizer_free(tok); return; }
    tr_model_init(&m, 5);
    for (size_t i = 0; i < m.n_params; i++) m.params[i] *= 5; /* logits well away from 0 */
    char path[512];
    snprintf(path, sizeof path, "%s/train_agree.gguf", test_tmpdir());
    CHECK(tr_model_write_gguf(&m, tok, "f32", 5, path, NULL, NULL, &err) == 0);
    es_model *em = es_model_load(path, NULL, &err);
    CHECKF(em != NULL, "%s", err.msg);
    int32_t tokens[16];
    for (int i = 0; i < 16; i++) tokens[i] = (i * 37 + 3) % 300;
    tr_state *s = tr_state_new(&c, 1, 16, &err);
    tr_forward(&m, s, tokens, NULL);
    const float *mine = tr_state_logits(s);
    float *theirs = malloc(sizeof(float) * 16 * 300);
    es_context_params cp = {.n_ctx = 16, .n_threads = 2};
    es_context *ctx = em ? es_context_new(em, &cp, &err) : NULL;
    if (ctx && es_context_eval(ctx, tokens, 16, theirs, &err) == 0) {
        double worst = 0;
        for (int i = 0; i < 16; i++) {
            double scale = 0, diff = 0;
            for (int v = 0; v < 300; v++) {
                scale = fmax(scale, fabs(theirs[i * 300 + v]));
                diff = fmax(diff, fabs(theirs[i * 300 + v] - mine[i * 300 + v]));
            }
            worst = fmax(worst, diff / scale);
        }
        CHECKF(worst < 1e-4, "logits differ from the engine's by %.3g (relative)", worst);
        if (getenv("ES_TRAIN_VERBOSE")) printf("  engine agreement: %.2g relative\n", worst);
    } else CHECKF(0, "%s", err.msg);
    es_context_free(ctx);
    es_model_free(em);
    free(theirs);
    tr_state_free(s);
    tr_model_free(&m);
    es_tokenizer_free(tok);
}

/* ---------------------------------------------------------- training -- */

static const char *tmp(const char *name) {
    static char buf[16][512];
    static int slot;
    char *p = buf[slot++ % 16];
    snprintf(p, 512, "%s/train_%s", test_tmpdir(), name);
    return p;
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

static const char corpus_text[] =
    "{\"text\": \"the cat sat on the mat and looked at the moon\"}\n"
    "{\"text\": \"a dog ran in the park after the red ball\"}\n"
    "\n"
    "{\"text\": \"birds sing at dawn when the sun comes up\"}\n";

/* The synthetic vocabulary as a GGUF file, and the corpus. */
static const char *fixtures(void) {
    static int made;
    const char *vocab = tmp("vocab.gguf");
    if (!made) {
        es_error err;
        es_tokenizer *tok = es_tokenizer_synthetic(300, &err);
        CHECK(tok && es_tokenizer_save_gguf(tok, vocab, &err) == 0);
        es_tokenizer_free(tok);
        write_text(tmp("corpus.jsonl"), corpus_text);
        made = 1;
    }
    return vocab;
}

static es_train_params tiny_params(const char *out) {
    es_train_params p = es_train_default_params();
    p.data_path = tmp("corpus.jsonl");
    p.vocab_path = fixtures();
    p.out_path = out;
    p.dim = 32, p.n_layers = 2, p.n_heads = 4, p.n_kv_heads = 2, p.hidden_dim = 64;
    p.seq_len = 16, p.batch_size = 2, p.steps = 8, p.warmup_steps = 3;
    p.lr = 3e-3f, p.min_lr = 3e-4f, p.weight_decay = 0.01f;
    p.n_threads = 2, p.type = "f32", p.checkpoint_every = 0;
    return p;
}

/* The log without its timing columns. */
static char *log_losses(const char *path) {
    char *text = test_read_file(path);
    if (!text) return NULL;
    char *out = malloc(strlen(text) + 1), *o = out;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        char *cut = line;
        for (int commas = 0; *cut && commas < 4; cut++) commas += *cut == ',';
        o += sprintf(o, "%.*s\n", (int)(cut - line), line);
    }
    *o = 0;
    free(text);
    return out;
}

static int same_file(const char *a, const char *b) {
    char *x = test_read_file(a), *y = test_read_file(b);
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int same = 0;
    if (fa && fb) {
        fseek(fa, 0, SEEK_END), fseek(fb, 0, SEEK_END);
        long na = ftell(fa), nb = ftell(fb);
        rewind(fa), rewind(fb);
        char *ba = malloc(na + 1), *bb = malloc(nb + 1);
        same = na == nb && fread(ba, 1, na, fa) == (size_t)na && fread(bb, 1, nb, fb) == (size_t)nb &&
               memcmp(ba, bb, na) == 0;
        free(ba), free(bb);
    }
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    free(x), free(y);
    return same;
}

static void learns(void) {
    es_train_params p = tiny_params(tmp("learn.gguf"));
    /* sequences of 64 span documents, whose order in the stream is fixed: the
     * only uncertainty left is which of the 2 starts that leave room was
     * drawn, ln 2 / 64 = 0.011 nats per token */
    p.seq_len = 64, p.batch_size = 8, p.n_threads = 1;
    p.steps = 250, p.warmup_steps = 10, p.lr = 1e-2f, p.min_lr = 1e-3f, p.weight_decay = 0;
    es_train_summary s;
    es_error err;
    CHECKF(es_train(&p, &s, &err) == 0, "%s", err.msg);
    CHECK_INT(s.steps_done, 250);
    CHECKF(s.last_loss < 0.05, "loss %.4f -> %.4f", s.first_loss, s.last_loss);
    CHECK(s.first_loss > 4); /* ln 300 = 5.7 at init */
    if (getenv("ES_TRAIN_VERBOSE")) printf("  tiny corpus: loss %.3f -> %.4f\n", s.first_loss, s.last_loss);
}

static void reproducible(void) {
    es_train_params p = tiny_params(tmp("rep1.gguf"));
    es_train_summary s;
    es_error err;
    p.log_path = tmp("rep1.csv");
    CHECKF(es_train(&p, &s, &err) == 0, "%s", err.msg);
    p.out_path = tmp("rep2.gguf"), p.log_path = tmp("rep2.csv");
    CHECKF(es_train(&p, &s, &err) == 0, "%s", err.msg);
    char *a = log_losses(tmp("rep1.csv")), *b = log_losses(tmp("rep2.csv"));
    CHECK(a && b && strcmp(a, b) == 0);
    CHECK(a && strncmp(a, "step,loss,lr,grad_norm,\n1,", 26) == 0);
    CHECK(same_file(tmp("rep1.gguf"), tmp("rep2.gguf")));
    free(a), free(b);
}

static int stop_after_3(void *user) { return ++*(int *)user >= 3; }

static void resume_bit_identical(void) {
    es_train_summary s;
    es_error err;
    es_train_params p = tiny_params(tmp("whole.gguf"));
    p.log_path = tmp("whole.csv");
    CHECKF(es_train(&p, &s, &err) == 0, "%s", err.msg);
    double last = s.last_loss;
    int polls = 0;
    p.out_path = tmp("parts.gguf"), p.log_path = tmp("parts.csv");
    p.should_stop = stop_after_3, p.user = &polls;
    CHECKF(es_train(&p, &s, &err) == 0, "%s", err.msg);
    CHECK_INT(s.interrupted, 1);
    CHECK_INT(s.steps_done, 3);
    p.should_stop = NULL, p.resume = 1;
    CHECKF(es_train(&p, &s, &err) == 0, "%s", err.msg);
    CHECK_INT(s.interrupted, 0);
    CHECK_INT(s.steps_done, 8);
    CHECK(s.last_loss == last);
    CHECK(same_file(tmp("whole.gguf"), tmp("parts.gguf")));
    char *a = log_losses(tmp("whole.csv")), *b = log_losses(tmp("parts.csv"));
    CHECK(a && b && strcmp(a, b) == 0);
    free(a), free(b);
    /* the checkpoint is a loadable model too */
    es_model *m = es_model_load(tmp("parts.gguf.ckpt"), NULL, &err);
    CHECKF(m != NULL, "%s", err.msg);
    es_model_free(m);
}

static void expect_error(es_train_params *p, const char *what) {
    es_error err = {{0}};
    es_train_summary s;
    CHECKF(es_train(p, &s, &err) != 0, "no error for %s", what);
    CHECKF(strstr(err.msg, what) != NULL, "message '%s' lacks '%s'", err.msg, what);
    CHECK(strchr(err.msg, '\n') == NULL);
}

static void bad_inputs(void) {
    es_train_params p = tiny_params(tmp("bad.gguf"));
    write_text(tmp("bad.jsonl"), "{\"text\": \"fine\"}\n{\"text\": 3}\n");
    p.data_path = tmp("bad.jsonl");
    expect_error(&p, "bad.jsonl:2: expected an object");
    write_text(tmp("bad2.jsonl"), "{\"text\": \"fine\"}\n{\"text\": \"x\"\n");
    p.data_path = tmp("bad2.jsonl");
    expect_error(&p, "bad2.jsonl:2: not valid JSON");
    write_text(tmp("empty.jsonl"), "\n\n");
    p.data_path = tmp("empty.jsonl");
    expect_error(&p, "empty corpus");
    write_text(tmp("short.jsonl"), "{\"text\": \"hi\"}\n");
    p.data_path = tmp("short.jsonl");
    expect_error(&p, "fewer than seq_len + 1");
    p = tiny_params(tmp("bad.gguf"));
    p.type = "q4_0";
    expect_error(&p, "unknown weight type 'q4_0'");
    /* a checkpoint: resume with another learning rate, then truncated */
    p = tiny_params(tmp("ck.gguf"));
    p.steps = 2;
    es_error err;
    CHECKF(es_train(&p, NULL, &err) == 0, "%s", err.msg);
    p.resume = 1, p.lr = 1e-3f;
    expect_error(&p, "cannot resume: the checkpoint has lr 0.003");
    p.lr = 3e-3f;
    char *whole = NULL;
    FILE *f = fopen(tmp("ck.gguf.ckpt"), "rb");
    long n = 0;
    if (f) {
        fseek(f, 0, SEEK_END);
        n = ftell(f);
        rewind(f);
        whole = malloc(n);
        if (fread(whole, 1, n, f) != (size_t)n) n = 0;
        fclose(f);
    }
    const long cuts[3] = {10, n / 2, n - 4};
    for (int i = 0; i < 3 && whole; i++) {
        f = fopen(tmp("cut.ckpt"), "wb");
        fwrite(whole, 1, cuts[i], f);
        fclose(f);
        p.checkpoint_path = tmp("cut.ckpt");
        expect_error(&p, "cut.ckpt");
    }
    free(whole);
    p.checkpoint_path = tmp("absent.ckpt");
    expect_error(&p, "absent.ckpt");
}

static void cli(void) {
    run_result r;
    fixtures();
    const char *train[] = {"train", "--data", tmp("corpus.jsonl"), "-o", tmp("cli.gguf"),
                           "--vocab", fixtures(), "--dim", "32", "--layers", "1", "--heads", "2",
                           "--kv-heads", "1", "--hidden", "32", "--seq-len", "16", "--batch", "2",
                           "--steps", "3", "--log", tmp("cli.csv"), "-t", "1", "-q", NULL};
    cli_run(&r, train);
    CHECKF(r.status == 0, "train: %s", r.err);
    CHECK(strstr(r.out, "trained after 3 steps") != NULL);
    char *log = test_read_file(tmp("cli.csv"));
    int lines = 0;
    for (char *c = log; c && *c; c++) lines += *c == '\n';
    CHECK_INT(lines, 4);
    free(log);
    const char *gen[] = {"generate", "-m", tmp("cli.gguf"), "-n", "5", "-p", "the", NULL};
    cli_run(&r, gen);
    CHECKF(r.status == 0, "generate: %s", r.err);
    const char *bad[] = {"train", "--data", tmp("corpus.jsonl"), "-o", tmp("x.gguf"),
                         "--type", "q2", NULL};
    cli_run(&r, bad);
    CHECK_INT(r.status, 2);
    CHECK(strstr(r.err, "unknown weight type 'q2'") != NULL);
    const char *help[] = {"train", "--help", NULL};
    cli_run(&r, help);
    CHECK(r.status == 0 && strstr(r.out, "--checkpoint-every") != NULL);
}

void suite_train(void) {
    TEST("train: op gradients match finite differences") op_gradients();
    TEST("train: op forwards match double references") op_forwards();
    TEST("train: model gradient matches finite differences") model_gradient();
    TEST("train: exported model gives the engine the trainer's logits") engine_agreement();
    TEST("train: a tiny corpus is learned to near-zero loss") learns();
    TEST("train: two runs are bit-identical") reproducible();
    TEST("train: stopped and resumed equals uninterrupted") resume_bit_identical();
    TEST("train: bad inputs give one clear line") bad_inputs();
    TEST("train: cli trains, then generate runs the model") cli();
}
