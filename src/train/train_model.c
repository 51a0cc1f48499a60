/* The trained model: its parameters as one flat array described by a table
 * of tensors (so that AdamW, clipping and checkpoints see one vector), the
 * init, the forward pass that keeps every activation the backward needs,
 * the backward, and export as a llama GGUF the engine loads. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/gguf_write.h"
#include "tensor/quant.h"
#include "tensor/tensor.h"
#include "tokenizer/tokenizer.h"
#include "train/train.h"
#include "util/error.h"
#include "util/rng.h"

/* -------------------------------------------------------------- layout -- */

static const char *const layer_names[TR_LAYER_TENSORS] = {
    "attn_norm", "attn_q", "attn_k", "attn_v", "attn_output",
    "ffn_norm", "ffn_gate", "ffn_up", "ffn_down"};

static void add_tensor(tr_model *m, const char *name, int rows, int cols, float std,
                       size_t *offset) {
    tr_tensor *t = &m->tensors[m->n_tensors++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->rows = rows;
    t->cols = cols;
    t->offset = *offset;
    t->is_norm = rows == 1;
    t->init_std = std;
    *offset += (size_t)rows * cols;
}

int tr_model_build(tr_model *m, const tr_config *c, es_error *err) {
    memset(m, 0, sizeof *m);
    m->c = *c;
    const int D = c->dim, qd = c->n_heads * c->head_dim, kvd = c->n_kv_heads * c->head_dim;
    const float std = 0.02f, std_res = 0.02f / sqrtf(2.0f * c->n_layers);
    m->tensors = calloc((size_t)(2 + TR_LAYER_TENSORS * c->n_layers), sizeof *m->tensors);
    if (!m->tensors) return es_fail(err, "train: out of memory");
    size_t off = 0;
    char name[48];
    add_tensor(m, "token_embd.weight", c->vocab, D, std, &off);
    for (int l = 0; l < c->n_layers; l++) {
        const int rows[TR_LAYER_TENSORS] = {1, qd, kvd, kvd, D, 1, c->hidden, c->hidden, D};
        const int cols[TR_LAYER_TENSORS] = {D, D, D, D, qd, D, D, D, c->hidden};
        for (int i = 0; i < TR_LAYER_TENSORS; i++) {
            snprintf(name, sizeof name, "blk.%d.%s.weight", l, layer_names[i]);
            float s = rows[i] == 1 ? 0 : (i == 4 || i == 8) ? std_res : std;
            add_tensor(m, name, rows[i], cols[i], s, &off);
        }
    }
    add_tensor(m, "output_norm.weight", 1, D, 0, &off);
    m->n_params = off;
    m->params = calloc(off, sizeof(float));
    m->grads = calloc(off, sizeof(float));
    if (!m->params || !m->grads) {
        tr_model_free(m);
        return es_fail(err, "train: out of memory for %zu parameters", off);
    }
    return 0;
}

void tr_model_free(tr_model *m) {
    free(m->tensors);
    free(m->params);
    free(m->grads);
    memset(m, 0, sizeof *m);
}

/* Standard normal by Box-Muller from a splitmix64 stream. */
static double normal(uint64_t *state) {
    *state = es_splitmix64(*state);
    double u1 = ((*state >> 11) + 1.0) * 0x1p-53; /* (0, 1] */
    *state = es_splitmix64(*state);
    double u2 = (*state >> 11) * 0x1p-53;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

void tr_model_init(tr_model *m, uint64_t seed) {
    for (int i = 0; i < m->n_tensors; i++) {
        const tr_tensor *t = &m->tensors[i];
        float *p = m->params + t->offset;
        const size_t n = (size_t)t->rows * t->cols;
        uint64_t state = es_splitmix64(seed);
        for (const char *c = t->name; *c; c++) state = es_splitmix64(state ^ (uint8_t)*c);
        for (size_t k = 0; k < n; k++)
            p[k] = t->init_std == 0 ? 1.0f : (float)(normal(&state) * t->init_std);
    }
}

tr_layer tr_model_layer(const tr_model *m, int l, int of_grads) {
    float *base = of_grads ? m->grads : m->params;
    const tr_tensor *t = &m->tensors[1 + TR_LAYER_TENSORS * l];
    tr_layer L = {base + t[0].offset, base + t[1].offset, base + t[2].offset,
                  base + t[3].offset, base + t[4].offset, base + t[5].offset,
                  base + t[6].offset, base + t[7].offset, base + t[8].offset};
    return L;
}

const tr_tensor *tr_model_find(const tr_model *m, const char *name) {
    for (int i = 0; i < m->n_tensors; i++)
        if (strcmp(m->tensors[i].name, name) == 0) return &m->tensors[i];
    return NULL;
}

/* --------------------------------------------------------- activations -- */

/* What the backward needs of layer l. */
typedef struct tr_layer_acts {
    float *x_in;       /* (N, D) the residual stream entering the layer */
    float *xn1, *rstd1; /* (N, D), (N): attention RMSNorm */
    float *q, *k, *v;  /* (N, QD), (N, KVD) x2: after RoPE */
    float *probs;      /* (B, H, T, T) */
    float *ao;         /* (N, QD) attention output, before attn_output */
    float *x_mid;      /* (N, D) after the attention residual */
    float *xn2, *rstd2; /* FFN RMSNorm */
    float *gate, *up;  /* (N, hidden) */
} tr_layer_acts;

struct tr_state {
    tr_config c;
    int B, T, N;
    tr_layer_acts *layers;
    float *x_out, *xnf, *rstdf; /* the last residual, the final norm */
    float *logits, *dlogits;    /* (N, V) */
    float *rope_cos, *rope_sin; /* (T, hd/2) */
    /* backward scratch */
    float *hact, *dhact, *dgate, *dup; /* (N, hidden) */
    float *dres, *dtmp;                /* (N, D) */
    float *dq, *dk, *dv, *dao;         /* (N, QD), (N, KVD) */
    float *block;                      /* one allocation for all of the above */
};

tr_state *tr_state_new(const tr_config *c, int B, int T, es_error *err) {
    tr_state *s = calloc(1, sizeof *s);
    if (!s) { es_fail(err, "train: out of memory"); return NULL; }
    s->c = *c;
    s->B = B, s->T = T, s->N = B * T;
    const size_t N = (size_t)s->N, D = (size_t)c->dim, Hd = (size_t)c->hidden,
                 QD = (size_t)c->n_heads * c->head_dim, KVD = (size_t)c->n_kv_heads * c->head_dim,
                 P = (size_t)B * c->n_heads * T * T, L = (size_t)c->n_layers, V = (size_t)c->vocab;
    const size_t per_layer = 4 * N * D + 2 * N + N * QD + 2 * N * KVD + P + N * QD + 2 * N * Hd;
    const size_t total = L * per_layer + N * D * 2 + N + 2 * N * V + (size_t)T * c->head_dim +
                         4 * N * Hd + 2 * N * D + 2 * N * QD + 2 * N * KVD;
    s->layers = calloc(L, sizeof *s->layers);
    s->block = malloc(total * sizeof(float));
    if (!s->layers || !s->block) {
        tr_state_free(s);
        es_fail(err, "train: out of memory for the activations (%zu MiB)",
                total * sizeof(float) >> 20);
        return NULL;
    }
    float *p = s->block;
#define TAKE(ptr, n) ((ptr) = p, p += (n))
    for (size_t l = 0; l < L; l++) {
        tr_layer_acts *a = &s->layers[l];
        TAKE(a->x_in, N * D); TAKE(a->xn1, N * D); TAKE(a->rstd1, N);
        TAKE(a->q, N * QD); TAKE(a->k, N * KVD); TAKE(a->v, N * KVD); TAKE(a->probs, P);
        TAKE(a->ao, N * QD); TAKE(a->x_mid, N * D); TAKE(a->xn2, N * D); TAKE(a->rstd2, N);
        TAKE(a->gate, N * Hd); TAKE(a->up, N * Hd);
    }
    TAKE(s->x_out, N * D); TAKE(s->xnf, N * D); TAKE(s->rstdf, N);
    TAKE(s->logits, N * V); TAKE(s->dlogits, N * V);
    TAKE(s->rope_cos, (size_t)T * c->head_dim / 2); TAKE(s->rope_sin, (size_t)T * c->head_dim / 2);
    TAKE(s->hact, N * Hd); TAKE(s->dhact, N * Hd); TAKE(s->dgate, N * Hd); TAKE(s->dup, N * Hd);
    TAKE(s->dres, N * D); TAKE(s->dtmp, N * D);
    TAKE(s->dq, N * QD); TAKE(s->dao, N * QD); TAKE(s->dk, N * KVD); TAKE(s->dv, N * KVD);
#undef TAKE
    tr_rope_tables(T, c->head_dim, c->rope_theta, s->rope_cos, s->rope_sin);
    return s;
}

void tr_state_free(tr_state *s) {
    if (!s) return;
    free(s->layers);
    free(s->block);
    free(s);
}

const float *tr_state_logits(const tr_state *s) { return s->logits; }

/* ------------------------------------------------------------- forward -- */

static void add_rows(float *y, const float *a, const float *b, size_t n) {
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) y[i] = a[i] + b[i];
}

static void layer_forward(const tr_model *m, tr_state *s, int l, float *x_next) {
    const tr_config *c = &m->c;
    const int N = s->N, D = c->dim, Hd = c->hidden;
    const int QD = c->n_heads * c->head_dim, KVD = c->n_kv_heads * c->head_dim;
    tr_layer_acts *a = &s->layers[l];
    tr_layer W = tr_model_layer(m, l, 0);
    tr_attn_shape sh = {s->B, s->T, c->n_heads, c->n_kv_heads, c->head_dim};
    /* attention: RMSNorm, Q K V, RoPE, causal GQA, output projection, residual */
    tr_rmsnorm_fwd(a->x_in, W.attn_norm, a->xn1, a->rstd1, N, D, c->rms_eps);
    tr_matmul_fwd(a->xn1, W.wq, a->q, N, D, QD);
    tr_matmul_fwd(a->xn1, W.wk, a->k, N, D, KVD);
    tr_matmul_fwd(a->xn1, W.wv, a->v, N, D, KVD);
    tr_rope(a->q, N, s->T, c->n_heads, c->head_dim, s->rope_cos, s->rope_sin, 0);
    tr_rope(a->k, N, s->T, c->n_kv_heads, c->head_dim, s->rope_cos, s->rope_sin, 0);
    tr_attention_fwd(&sh, a->q, a->k, a->v, a->probs, a->ao);
    tr_matmul_fwd(a->ao, W.wo, s->dtmp, N, QD, D);
    add_rows(a->x_mid, a->x_in, s->dtmp, (size_t)N * D);
    /* SwiGLU FFN: RMSNorm, down(silu(gate x) * up x), residual */
    tr_rmsnorm_fwd(a->x_mid, W.ffn_norm, a->xn2, a->rstd2, N, D, c->rms_eps);
    tr_matmul_fwd(a->xn2, W.w_gate, a->gate, N, D, Hd);
    tr_matmul_fwd(a->xn2, W.w_up, a->up, N, D, Hd);
    tr_swiglu_fwd(a->gate, a->up, s->hact, (size_t)N * Hd);
    tr_matmul_fwd(s->hact, W.w_down, s->dtmp, N, Hd, D);
    add_rows(x_next, a->x_mid, s->dtmp, (size_t)N * D);
}

double tr_forward(const tr_model *m, tr_state *s, const int32_t *inputs,
                  const int32_t *targets) {
    const tr_config *c = &m->c;
    const int N = s->N, D = c->dim, L = c->n_layers;
    const float *emb = m->params + m->tensors[TR_EMBD].offset;
    const float *out_norm = m->params + m->tensors[m->n_tensors - 1].offset;
    tr_embed_fwd(emb, inputs, s->layers[0].x_in, N, D);
    for (int l = 0; l < L; l++)
        layer_forward(m, s, l, l + 1 < L ? s->layers[l + 1].x_in : s->x_out);
    /* final norm, then the classifier tied to the embedding */
    tr_rmsnorm_fwd(s->x_out, out_norm, s->xnf, s->rstdf, N, D, c->rms_eps);
    tr_matmul_fwd(s->xnf, emb, s->logits, N, D, c->vocab);
    if (!targets) return 0;
    int counted;
    return tr_xent(s->logits, targets, s->dlogits, N, c->vocab, &counted);
}

/* ------------------------------------------------------------ backward -- */

/* s->dres holds d(loss)/d(layer l's output); leaves d/d(its input). */
static void layer_backward(tr_model *m, tr_state *s, int l) {
    const tr_config *c = &m->c;
    const int N = s->N, D = c->dim, Hd = c->hidden;
    const int QD = c->n_heads * c->head_dim, KVD = c->n_kv_heads * c->head_dim;
    tr_layer_acts *a = &s->layers[l];
    tr_layer W = tr_model_layer(m, l, 0), G = tr_model_layer(m, l, 1);
    tr_attn_shape sh = {s->B, s->T, c->n_heads, c->n_kv_heads, c->head_dim};
    /* FFN */
    tr_swiglu_fwd(a->gate, a->up, s->hact, (size_t)N * Hd); /* recomputed, not kept */
    tr_matmul_bwd(s->dres, s->hact, W.w_down, s->dhact, 0, G.w_down, N, Hd, D);
    tr_swiglu_bwd(s->dhact, a->gate, a->up, s->dgate, s->dup, (size_t)N * Hd);
    tr_matmul_bwd(s->dgate, a->xn2, W.w_gate, s->dtmp, 0, G.w_gate, N, D, Hd);
    tr_matmul_bwd(s->dup, a->xn2, W.w_up, s->dtmp, 1, G.w_up, N, D, Hd);
    tr_rmsnorm_bwd(s->dtmp, a->x_mid, W.ffn_norm, a->rstd2, s->dres, G.ffn_norm, N, D);
    /* attention */
    tr_matmul_bwd(s->dres, a->ao, W.wo, s->dao, 0, G.wo, N, QD, D);
    tr_attention_bwd(&sh, a->q, a->k, a->v, a->probs, s->dao, s->dq, s->dk, s->dv);
    tr_rope(s->dq, N, s->T, c->n_heads, c->head_dim, s->rope_cos, s->rope_sin, 1);
    tr_rope(s->dk, N, s->T, c->n_kv_heads, c->head_dim, s->rope_cos, s->rope_sin, 1);
    tr_matmul_bwd(s->dq, a->xn1, W.wq, s->dtmp, 0, G.wq, N, D, QD);
    tr_matmul_bwd(s->dk, a->xn1, W.wk, s->dtmp, 1, G.wk, N, D, KVD);
    tr_matmul_bwd(s->dv, a->xn1, W.wv, s->dtmp, 1, G.wv, N, D, KVD);
    tr_rmsnorm_bwd(s->dtmp, a->x_in, W.attn_norm, a->rstd1, s->dres, G.attn_norm, N, D);
}

void tr_backward(tr_model *m, tr_state *s, const int32_t *inputs) {
    const tr_config *c = &m->c;
    const int N = s->N, D = c->dim;
    const tr_tensor *te = &m->tensors[TR_EMBD], *tn = &m->tensors[m->n_tensors - 1];
    /* classifier and final norm */
    tr_matmul_bwd(s->dlogits, s->xnf, m->params + te->offset, s->dtmp, 0,
                  m->grads + te->offset, N, D, c->vocab);
    memset(s->dres, 0, sizeof(float) * (size_t)N * D);
    tr_rmsnorm_bwd(s->dtmp, s->x_out, m->params + tn->offset, s->rstdf, s->dres,
                   m->grads + tn->offset, N, D);
    for (int l = c->n_layers - 1; l >= 0; l--) layer_backward(m, s, l);
    tr_embed_bwd(s->dres, inputs, m->grads + te->offset, N, D);
}

/* -------------------------------------------------------------- export -- */

int tr_check_type(const tr_config *c, const char *type, es_error *err) {
    if (!type || (strcmp(type, "f32") && strcmp(type, "f16") && strcmp(type, "q8_0")))
        return es_fail(err, "train: unknown weight type '%s' (f32, f16, q8_0)",
                       type ? type : "(null)");
    if (strcmp(type, "q8_0") == 0 && (c->dim % 32 || c->hidden % 32))
        return es_fail(err, "train: q8_0 needs dim and hidden dim multiples of 32");
    return 0;
}

static int write_config(gguf_writer *w, const tr_config *c, uint64_t seed) {
    char name[128];
    snprintf(name, sizeof name, "entroscope train (seed %llu)", (unsigned long long)seed);
    gguf_llama_config g = {name, c->seq_len, c->dim, c->n_layers, c->hidden, c->head_dim,
                           c->n_heads, c->n_kv_heads, c->vocab, c->rms_eps, c->rope_theta};
    return gguf_writer_set_llama_config(w, &g);
}

static int add_tensor_as(gguf_writer *w, const tr_tensor *t, const float *data, es_dtype type) {
    const int64_t row_bytes = es_dtype_row_bytes(type, t->cols);
    const size_t n_bytes = (size_t)row_bytes * (size_t)t->rows;
    uint8_t *buf = malloc(n_bytes);
    if (!buf) return -1;
    for (int r = 0; r < t->rows; r++)
        es_quantize_row(type, data + (size_t)r * t->cols, buf + (size_t)r * row_bytes, t->cols);
    uint64_t ne[2] = {(uint64_t)t->cols, (uint64_t)t->rows};
    int rc = gguf_writer_add_tensor(w, t->name, type, t->rows == 1 ? 1 : 2, ne, buf, n_bytes);
    free(buf);
    return rc;
}

int tr_model_write_gguf(const tr_model *m, const es_tokenizer *tok, const char *type,
                        uint64_t seed, const char *path,
                        int (*extra)(struct gguf_writer *w, void *user, es_error *err),
                        void *user, es_error *err) {
    if (tr_check_type(&m->c, type, err)) return -1;
    const es_dtype dtype = (es_dtype)es_dtype_from_name(type);
    gguf_writer *w = gguf_writer_new();
    if (!w || write_config(w, &m->c, seed)) {
        gguf_writer_free(w);
        return es_fail(err, "%s: out of memory", path);
    }
    int rc = es_tokenizer_write_gguf(tok, w, err);
    for (int i = 0; i < m->n_tensors && rc == 0; i++) {
        const tr_tensor *t = &m->tensors[i];
        if (add_tensor_as(w, t, m->params + t->offset, t->is_norm ? ES_F32 : dtype))
            rc = es_fail(err, "%s: out of memory adding %s", path, t->name);
    }
    if (rc == 0 && extra) rc = extra(w, user, err);
    if (rc == 0) rc = gguf_writer_write(w, path, err);
    gguf_writer_free(w);
    return rc;
}
