/* The reference forward pass (see reference_forward.h): the model's
 * definition written out in doubles, for whole sequences at once.
 *   x_0 = embedding rows of the tokens
 *   per layer: x += Wo . attention(RoPE(Wq . n(x)), RoPE(Wk . n(x)), Wv . n(x))
 *              x += Wdown . (silu(Wgate . n'(x)) * (Wup . n'(x)))
 *   logits = Wout . n_final(x)
 * with n(x) = x / sqrt(mean(x^2) + eps) * weight, causal softmax attention
 * scaled by 1/sqrt(head_dim), and query head h reading key/value head
 * h / (n_heads / n_kv_heads). RoPE is written the way each layout's authors
 * wrote it: complex multiplication of adjacent pairs (Meta's reference
 * code), and x * cos + rotate_half(x) * sin (Hugging Face). */
#include "reference_forward.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/quant.h"

typedef struct matrix {
    int rows, cols;
    double *a; /* a[r * cols + c] */
} matrix;

static matrix dequantize(const es_tensor *t) {
    matrix m = {(int)t->ne[1], (int)t->ne[0], NULL};
    m.a = malloc((size_t)m.rows * m.cols * sizeof(double));
    float *row = malloc((size_t)m.cols * sizeof(float));
    for (int r = 0; r < m.rows; r++) {
        es_dequantize_row(t->type, es_tensor_row(t, r), row, m.cols);
        for (int c = 0; c < m.cols; c++) m.a[(size_t)r * m.cols + c] = row[c];
    }
    free(row);
    return m;
}

/* y[i][r] = sum_c m[r][c] * x[i][c] for i < n */
static void apply(const matrix *m, const double *x, int n, double *y) {
    for (int i = 0; i < n; i++)
        for (int r = 0; r < m->rows; r++) {
            double sum = 0;
            for (int c = 0; c < m->cols; c++)
                sum += m->a[(size_t)r * m->cols + c] * x[(size_t)i * m->cols + c];
            y[(size_t)i * m->rows + r] = sum;
        }
}

/* Every one of the n rows of x, RMS-normalised and scaled by the weight. */
static void rmsnorm(double *out, const double *x, const es_tensor *weight, int n, int dim,
                    double eps) {
    matrix w = dequantize(weight);
    for (int i = 0; i < n; i++) {
        const double *xi = x + (size_t)i * dim;
        double ss = 0;
        for (int d = 0; d < dim; d++) ss += xi[d] * xi[d];
        double scale = 1.0 / sqrt(ss / dim + eps);
        for (int d = 0; d < dim; d++) out[(size_t)i * dim + d] = xi[d] * scale * w.a[d];
    }
    free(w.a);
}

/* Frequency j of RoPE: base^(-2j/hd), divided by the model's frequency
 * factor j when it has them (llama3 scaling). */
static double rope_freq(int j, int hd, double base, const float *factors) {
    double f = pow(base, -2.0 * j / hd);
    return factors ? f / factors[j] : f;
}

/* Rotates one head vector v (hd elements) for position pos. */
static void rope(double *v, int pos, int hd, double base, es_rope_layout layout,
                 const float *factors) {
    const int half = hd / 2;
    if (layout == ES_ROPE_ADJACENT) {
        /* (v[2j] + i v[2j+1]) * exp(i pos theta_j) */
        for (int j = 0; j < half; j++) {
            double angle = pos * rope_freq(j, hd, base, factors);
            double re = v[2 * j], im = v[2 * j + 1];
            v[2 * j] = re * cos(angle) - im * sin(angle);
            v[2 * j + 1] = re * sin(angle) + im * cos(angle);
        }
        return;
    }
    /* v * cos + rotate_half(v) * sin, rotate_half(v) = (-v[half:], v[:half]) */
    double *x = malloc((size_t)hd * sizeof(double));
    memcpy(x, v, (size_t)hd * sizeof(double));
    for (int d = 0; d < hd; d++) {
        double angle = pos * rope_freq(d % half, hd, base, factors);
        double rotated = d < half ? -x[d + half] : x[d - half];
        v[d] = x[d] * cos(angle) + rotated * sin(angle);
    }
    free(x);
}

/* The probes' statistics of one distribution p[0..n), from their
 * definitions, term by term. */
static void entropy_of(const double *p, int n, double *h_out, double *v_out) {
    double h = 0, v = 0;
    for (int t = 0; t < n; t++)
        if (p[t] > 0) h -= p[t] * log(p[t]);
    for (int t = 0; t < n; t++)
        if (p[t] > 0) v += p[t] * (log(p[t]) + h) * (log(p[t]) + h);
    *h_out = h;
    *v_out = v;
}

/* att[i] (all heads) = causal softmax(q_i . k_t / sqrt(hd)) . v_t over t <= i.
 * The whole (head, query, key) attention matrix is materialised, so that
 * the probes (if asked for, at layer l) come from it directly. */
static void attention(const es_config *c, const double *q, const double *k,
                      const double *v, int n, double *att, reference_probes *probes, int l) {
    const int hd = c->head_dim, q_dim = c->n_heads * hd, kv_dim = c->n_kv_heads * hd;
    const int H = c->n_heads, L = c->n_layers;
    double *score = calloc((size_t)H * n * n, sizeof(double)); /* [h][i][t] */
    double *prob = calloc((size_t)H * n * n, sizeof(double));
    for (int h = 0; h < H; h++)
        for (int i = 0; i < n; i++) {
            const int kvh = h / (H / c->n_kv_heads);
            const double *qi = q + (size_t)i * q_dim + h * hd;
            double *s = score + ((size_t)h * n + i) * n, *p = prob + ((size_t)h * n + i) * n;
            double max = -INFINITY, sum = 0;
            for (int t = 0; t <= i; t++) {
                double dot = 0;
                for (int d = 0; d < hd; d++) dot += qi[d] * k[(size_t)t * kv_dim + kvh * hd + d];
                s[t] = dot / sqrt((double)hd);
                if (s[t] > max) max = s[t];
            }
            for (int t = 0; t <= i; t++) sum += (p[t] = exp(s[t] - max));
            for (int t = 0; t <= i; t++) p[t] /= sum;
            double *out = att + (size_t)i * q_dim + h * hd;
            for (int d = 0; d < hd; d++) {
                double acc = 0;
                for (int t = 0; t <= i; t++) acc += p[t] * v[(size_t)t * kv_dim + kvh * hd + d];
                out[d] = acc;
            }
            if (probes)
                entropy_of(p, i + 1, &probes->entropy[((size_t)i * L + l) * H + h],
                           &probes->varentropy[((size_t)i * L + l) * H + h]);
        }
    for (int i = 0; probes && i < n; i++) {
        double agree = 0, inter = 0;
        for (int t = 0; t <= i; t++) {
            double mean = 0;
            for (int h = 0; h < H; h++) mean += prob[((size_t)h * n + i) * n + t] / H;
            for (int h = 0; h < H; h++) {
                agree += fabs(prob[((size_t)h * n + i) * n + t] - mean);
                inter += fabs(score[((size_t)h * n + i) * n + t]);
            }
        }
        probes->agreement[(size_t)i * L + l] = agree / ((double)H * (i + 1));
        probes->interaction[(size_t)i * L + l] = inter / ((double)H * (i + 1));
    }
    free(score);
    free(prob);
}

/* The engine's 8-bit activations (src/tensor/kernels_internal.h): a
 * product with Q8_0, Q4_0 or K-quant weights first rounds its input, held
 * as F32, per 32 elements to d * q with d = max|x| / 127 and q = x * (1/d)
 * rounded to nearest even, all in F32 as the rule says. Other types pass
 * x through. */
static double *product_input(const es_tensor *w, const double *in, int n, int cols, int q8) {
    double *x = malloc((size_t)n * cols * sizeof(double));
    int rounds = q8 && (w->type == ES_Q8_0 || w->type == ES_Q4_0 || w->type == ES_Q4_K ||
                        w->type == ES_Q5_K || w->type == ES_Q6_K);
    if (!rounds) {
        memcpy(x, in, (size_t)n * cols * sizeof(double));
        return x;
    }
    for (size_t i = 0; i < (size_t)n * cols; i += 32) { /* cols: whole blocks of 32 */
        float f[32], amax = 0;
        for (int j = 0; j < 32; j++) f[j] = (float)in[i + j], amax = fmaxf(amax, fabsf(f[j]));
        float d = amax / 127.0f, id = d > 0 ? 1.0f / d : 0.0f;
        for (int j = 0; j < 32; j++) x[i + j] = (double)d * rint((double)(f[j] * id));
    }
    return x;
}

/* y = m . x for n rows (of the engine's activations, see product_input) */
static double *project(const es_tensor *w, const double *in, int n, int q8) {
    matrix m = dequantize(w);
    double *x = product_input(w, in, n, m.cols, q8);
    double *y = malloc((size_t)n * m.rows * sizeof(double));
    apply(&m, x, n, y);
    free(m.a);
    free(x);
    return y;
}

/* y = m . x for n rows, then x += y (a residual branch) */
static void add_projection(const es_tensor *w, const double *in, int n, double *x, int q8) {
    double *y = project(w, in, n, q8);
    for (size_t i = 0; i < (size_t)n * w->ne[1]; i++) x[i] += y[i];
    free(y);
}

static void layer(const es_config *c, const es_layer_weights *L, const float *rope_factors,
                  double *x, int n, reference_probes *probes, int l, int q8) {
    const int dim = c->dim, hd = c->head_dim;
    double *xn = malloc((size_t)n * dim * sizeof(double));
    double *att = malloc((size_t)n * c->n_heads * hd * sizeof(double));

    rmsnorm(xn, x, &L->attn_norm, n, dim, c->rms_eps);
    double *q = project(&L->wq, xn, n, q8), *k = project(&L->wk, xn, n, q8);
    double *v = project(&L->wv, xn, n, q8);
    for (int i = 0; i < n; i++) {
        for (int h = 0; h < c->n_heads; h++)
            rope(q + ((size_t)i * c->n_heads + h) * hd, i, hd, c->rope_theta, c->rope_layout,
                 rope_factors);
        for (int h = 0; h < c->n_kv_heads; h++)
            rope(k + ((size_t)i * c->n_kv_heads + h) * hd, i, hd, c->rope_theta, c->rope_layout,
                 rope_factors);
    }
    attention(c, q, k, v, n, att, probes, l);
    add_projection(&L->wo, att, n, x, q8);

    rmsnorm(xn, x, &L->ffn_norm, n, dim, c->rms_eps);
    double *gate = project(&L->w_gate, xn, n, q8), *up = project(&L->w_up, xn, n, q8);
    for (size_t i = 0; i < (size_t)n * c->hidden_dim; i++)
        gate[i] = gate[i] / (1.0 + exp(-gate[i])) * up[i];
    add_projection(&L->w_down, gate, n, x, q8);

    free(xn), free(att), free(q), free(k), free(v), free(gate), free(up);
}

static double *forward(const es_config *c, const es_weights *w, const int32_t *tokens, int n,
                       reference_probes *probes, int q8);

double *reference_forward(const es_config *c, const es_weights *w, const int32_t *tokens,
                          int n) {
    return forward(c, w, tokens, n, NULL, 1);
}

double *reference_forward_probed(const es_config *c, const es_weights *w,
                                 const int32_t *tokens, int n, reference_probes *probes) {
    return forward(c, w, tokens, n, probes, 1);
}

double *reference_forward_exact(const es_config *c, const es_weights *w, const int32_t *tokens,
                                int n) {
    return forward(c, w, tokens, n, NULL, 0);
}

static double *forward(const es_config *c, const es_weights *w, const int32_t *tokens, int n,
                       reference_probes *probes, int q8) {
    const int dim = c->dim;
    double *x = malloc((size_t)n * dim * sizeof(double));
    double *xn = malloc((size_t)n * dim * sizeof(double));
    matrix embd = dequantize(&w->token_embd);
    for (int i = 0; i < n; i++)
        memcpy(x + (size_t)i * dim, embd.a + (size_t)tokens[i] * dim, dim * sizeof(double));
    free(embd.a);
    if (probes) {
        size_t per_head = (size_t)n * c->n_layers * c->n_heads, per_layer = (size_t)n * c->n_layers;
        probes->entropy = malloc(per_head * sizeof(double));
        probes->varentropy = malloc(per_head * sizeof(double));
        probes->agreement = malloc(per_layer * sizeof(double));
        probes->interaction = malloc(per_layer * sizeof(double));
    }
    for (int l = 0; l < c->n_layers; l++)
        layer(c, &w->layers[l], w->rope_freqs.data, x, n, probes, l, q8);
    rmsnorm(xn, x, &w->output_norm, n, dim, c->rms_eps);
    double *logits = project(&w->output, xn, n, q8);
    free(x);
    free(xn);
    return logits;
}

void reference_probes_free(reference_probes *p) {
    free(p->entropy);
    free(p->varentropy);
    free(p->agreement);
    free(p->interaction);
}
