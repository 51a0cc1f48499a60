/* Forward and backward of each operation of a Llama block, on N = B*T rows
 * at once. Matrix products go through OpenBLAS (whose sgemm splits the
 * output, never the sum, so it is deterministic for a thread count); the
 * rest are plain loops, parallel over rows or (sequence, head) with
 * schedule(static), each output written by one thread only. Sums across
 * rows (norm gains, the embedding) run serially in row order: no float
 * atomics, so results are bit-reproducible. tests/test_train.c checks each
 * backward against finite differences of a double-precision forward. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train/train.h"

/* -------------------------------------------------------------- matmul -- */

void tr_matmul_fwd(const float *x, const float *w, float *y, int n, int in, int out) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, out, in, 1.0f, x, in, w, in,
                0.0f, y, out);
}

void tr_matmul_bwd(const float *dy, const float *x, const float *w, float *dx, float beta,
                   float *dw, int n, int in, int out) {
    if (dx) /* (n, out) . (out, in) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, in, out, 1.0f, dy, out, w,
                    in, beta, dx, in);
    if (dw) /* (out, n) . (n, in), summed over the whole batch */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, n, 1.0f, dy, out, x, in,
                    1.0f, dw, in);
}

/* ------------------------------------------------------------- RMSNorm -- */

void tr_rmsnorm_fwd(const float *x, const float *g, float *y, float *rstd, int n, int d,
                    float eps) {
#pragma omp parallel for schedule(static)
    for (int i = 0; i < n; i++) {
        const float *xi = x + (size_t)i * d;
        float *yi = y + (size_t)i * d;
        double ss = 0;
        for (int k = 0; k < d; k++) ss += (double)xi[k] * xi[k];
        float r = (float)(1.0 / sqrt(ss / d + eps));
        rstd[i] = r;
        for (int k = 0; k < d; k++) yi[k] = xi[k] * r * g[k];
    }
}

void tr_rmsnorm_bwd(const float *dy, const float *x, const float *g, const float *rstd,
                    float *dx, float *dg, int n, int d) {
#pragma omp parallel for schedule(static)
    for (int i = 0; i < n; i++) {
        const float *xi = x + (size_t)i * d, *dyi = dy + (size_t)i * d;
        float *dxi = dx + (size_t)i * d;
        const float r = rstd[i];
        double dot = 0; /* sum_k dy_k g_k x_k */
        for (int k = 0; k < d; k++) dot += (double)dyi[k] * g[k] * xi[k];
        const float c = (float)(dot * r * r * r / d);
        for (int k = 0; k < d; k++) dxi[k] += r * g[k] * dyi[k] - c * xi[k];
    }
    /* the gain's gradient sums over rows: serially, in row order */
    for (int i = 0; i < n; i++) {
        const float *xi = x + (size_t)i * d, *dyi = dy + (size_t)i * d;
        const float r = rstd[i];
        for (int k = 0; k < d; k++) dg[k] += dyi[k] * xi[k] * r;
    }
}

/* ---------------------------------------------------------------- RoPE -- */

void tr_rope_tables(int T, int hd, float theta, float *cosv, float *sinv) {
    const int half = hd / 2;
    for (int j = 0; j < half; j++) {
        double freq = pow((double)theta, -2.0 * j / hd); /* as the engine's rope_tables */
        for (int t = 0; t < T; t++) {
            cosv[(size_t)t * half + j] = (float)cos(t * freq);
            sinv[(size_t)t * half + j] = (float)sin(t * freq);
        }
    }
}

void tr_rope(float *x, int n, int T, int n_heads, int hd, const float *cosv,
             const float *sinv, int inverse) {
    const int half = hd / 2;
    const float sign = inverse ? -1.0f : 1.0f;
#pragma omp parallel for schedule(static)
    for (int i = 0; i < n; i++) {
        const float *cs = cosv + (size_t)(i % T) * half, *sn = sinv + (size_t)(i % T) * half;
        for (int h = 0; h < n_heads; h++) {
            float *v = x + ((size_t)i * n_heads + h) * hd;
            for (int j = 0; j < half; j++) {
                float v0 = v[2 * j], v1 = v[2 * j + 1], s = sign * sn[j];
                v[2 * j] = v0 * cs[j] - v1 * s;
                v[2 * j + 1] = v0 * s + v1 * cs[j];
            }
        }
    }
}

/* ----------------------------------------------------------- attention -- */

/* Per (sequence, head) the products are small sgemm calls on strided views
 * of q, k, v (a head's columns of the batch's rows); called from inside an
 * OpenMP region, OpenBLAS runs them on the calling thread. The full T x T
 * score matrix is computed and the upper triangle zeroed: twice the causal
 * work, but at BLAS speed. */

void tr_attention_fwd(const tr_attn_shape *s, const float *q, const float *k, const float *v,
                      float *probs, float *out) {
    const int T = s->T, H = s->n_heads, hd = s->hd, group = s->n_heads / s->n_kv_heads;
    const int q_dim = H * hd, kv_dim = s->n_kv_heads * hd;
    const float scale = 1.0f / sqrtf((float)hd);
#pragma omp parallel for schedule(static)
    for (int bh = 0; bh < s->B * H; bh++) {
        const int b = bh / H, h = bh % H;
        const size_t row0 = (size_t)b * T, kv_off = (size_t)(h / group) * hd;
        const float *qh = q + row0 * q_dim + (size_t)h * hd, *kh = k + row0 * kv_dim + kv_off;
        const float *vh = v + row0 * kv_dim + kv_off;
        float *p = probs + (size_t)bh * T * T;
        /* scores (T, T) = q_h . k_h^T / sqrt(hd) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hd, scale, qh, q_dim, kh,
                    kv_dim, 0.0f, p, T);
        for (int t = 0; t < T; t++) { /* causal softmax over keys 0..t */
            float *pt = p + (size_t)t * T, max = -INFINITY, sum = 0;
            for (int j = 0; j <= t; j++) max = pt[j] > max ? pt[j] : max;
            for (int j = 0; j <= t; j++) sum += pt[j] = expf(pt[j] - max);
            const float inv = 1.0f / sum;
            for (int j = 0; j <= t; j++) pt[j] *= inv;
            for (int j = t + 1; j < T; j++) pt[j] = 0;
        }
        /* out_h (T, hd) = probs . v_h */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hd, T, 1.0f, p, T, vh, kv_dim,
                    0.0f, out + row0 * q_dim + (size_t)h * hd, q_dim);
    }
}

/* Query head h of sequence b: writes its dq, adds to its kv head's dk, dv.
 * ds is (T, T) scratch. */
static void attention_bwd_head(const tr_attn_shape *s, int b, int h, const float *q,
                               const float *k, const float *v, const float *probs,
                               const float *dout, float *dq, float *dk, float *dv, float *ds) {
    const int T = s->T, H = s->n_heads, hd = s->hd, group = s->n_heads / s->n_kv_heads;
    const int q_dim = H * hd, kv_dim = s->n_kv_heads * hd;
    const size_t row0 = (size_t)b * T, q_off = row0 * q_dim + (size_t)h * hd;
    const size_t kv_off = row0 * kv_dim + (size_t)(h / group) * hd;
    const float scale = 1.0f / sqrtf((float)hd);
    const float *p = probs + ((size_t)b * H + h) * T * T;
    /* dv_h += probs^T . dout_h ; dp (T, T) = dout_h . v_h^T */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hd, T, 1.0f, p, T, dout + q_off,
                q_dim, 1.0f, dv + kv_off, kv_dim);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hd, 1.0f, dout + q_off, q_dim,
                v + kv_off, kv_dim, 0.0f, ds, T);
    /* softmax backward: ds = p * (dp - sum_j p_j dp_j) / sqrt(hd) */
    for (int t = 0; t < T; t++) {
        const float *pt = p + (size_t)t * T;
        float *dst = ds + (size_t)t * T, pdp = 0;
        for (int j = 0; j <= t; j++) pdp += pt[j] * dst[j];
        for (int j = 0; j <= t; j++) dst[j] = pt[j] * (dst[j] - pdp) * scale;
        for (int j = t + 1; j < T; j++) dst[j] = 0;
    }
    /* dq_h = ds . k_h ; dk_h += ds^T . q_h */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hd, T, 1.0f, ds, T, k + kv_off,
                kv_dim, 0.0f, dq + q_off, q_dim);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hd, T, 1.0f, ds, T, q + q_off,
                q_dim, 1.0f, dk + kv_off, kv_dim);
}

void tr_attention_bwd(const tr_attn_shape *s, const float *q, const float *k, const float *v,
                      const float *probs, const float *dout, float *dq, float *dk, float *dv) {
    const int T = s->T, KV = s->n_kv_heads, hd = s->hd, group = s->n_heads / s->n_kv_heads;
    const size_t kv_dim = (size_t)KV * hd;
    /* one task per (sequence, kv head): it alone writes that kv head's dk,
     * dv, summing its query heads in a fixed order */
#pragma omp parallel
    {
        float *ds = malloc(sizeof(float) * (size_t)T * T);
#pragma omp for schedule(static)
        for (int bk = 0; bk < s->B * KV; bk++) {
            const int b = bk / KV, kvh = bk % KV;
            for (int t = 0; t < T; t++) {
                memset(dk + ((size_t)b * T + t) * kv_dim + (size_t)kvh * hd, 0, sizeof(float) * hd);
                memset(dv + ((size_t)b * T + t) * kv_dim + (size_t)kvh * hd, 0, sizeof(float) * hd);
            }
            if (!ds) continue; /* out of memory: gradients stay 0 rather than crash */
            for (int g = 0; g < group; g++)
                attention_bwd_head(s, b, kvh * group + g, q, k, v, probs, dout, dq, dk, dv, ds);
        }
        free(ds);
    }
}

/* -------------------------------------------------------------- SwiGLU -- */

void tr_swiglu_fwd(const float *gate, const float *up, float *out, size_t n) {
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) out[i] = gate[i] / (1.0f + expf(-gate[i])) * up[i];
}

void tr_swiglu_bwd(const float *dout, const float *gate, const float *up, float *dgate,
                   float *dup, size_t n) {
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        const float g = gate[i], sig = 1.0f / (1.0f + expf(-g));
        dup[i] = dout[i] * g * sig;
        dgate[i] = dout[i] * up[i] * sig * (1.0f + g * (1.0f - sig));
    }
}

/* ----------------------------------------------------------- embedding -- */

void tr_embed_fwd(const float *emb, const int32_t *tokens, float *x, int n, int d) {
    for (int i = 0; i < n; i++)
        memcpy(x + (size_t)i * d, emb + (size_t)tokens[i] * d, sizeof(float) * d);
}

void tr_embed_bwd(const float *dx, const int32_t *tokens, float *demb, int n, int d) {
    for (int i = 0; i < n; i++) {
        float *row = demb + (size_t)tokens[i] * d;
        const float *dxi = dx + (size_t)i * d;
        for (int k = 0; k < d; k++) row[k] += dxi[k];
    }
}

/* ------------------------------------------------------- cross-entropy -- */

double tr_xent(const float *logits, const int32_t *targets, float *dlogits, int n, int V,
               int *counted) {
    int count = 0;
    for (int i = 0; i < n; i++) count += targets[i] >= 0;
    *counted = count;
    double *row_loss = malloc(sizeof(double) * (n > 0 ? (size_t)n : 1));
    const float inv_count = count ? 1.0f / (float)count : 0.0f;
#pragma omp parallel for schedule(static)
    for (int i = 0; i < n; i++) {
        const float *l = logits + (size_t)i * V;
        float *dl = dlogits + (size_t)i * V;
        if (targets[i] < 0) {
            memset(dl, 0, sizeof(float) * V);
            if (row_loss) row_loss[i] = 0;
            continue;
        }
        float max = l[0];
        for (int c = 1; c < V; c++) if (l[c] > max) max = l[c];
        double sum = 0;
        for (int c = 0; c < V; c++) sum += dl[c] = expf(l[c] - max);
        const float inv = (float)(1.0 / sum);
        for (int c = 0; c < V; c++) dl[c] *= inv * inv_count;
        dl[targets[i]] -= inv_count;
        if (row_loss) row_loss[i] = log(sum) - (double)(l[targets[i]] - max);
    }
    double total = 0;
    for (int i = 0; i < n && row_loss; i++) total += row_loss[i];
    free(row_loss);
    return count ? total / count : 0.0;
}
