/* Random models for the tests (see random_model.h). The writers here are
 * written from the format descriptions (GGUF: the gguf_writer; llama2.c:
 * run.c's memory_map_weights order), independently of the loaders they
 * feed, so a loader that reads a tensor from the wrong place fails the
 * comparison with the reference run on the in-memory weights. */
#include "random_model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/gguf_write.h"
#include "tensor/quant.h"
#include "tokenizer/tokenizer.h"

/* ------------------------------------------------------------ numbers -- */

static uint64_t next_u64(uint64_t *s) { /* splitmix64 */
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* uniform in [-1, 1) */
static float uniform(uint64_t *s) {
    return (float)((double)(next_u64(s) >> 11) * 0x1p-53 * 2.0 - 1.0);
}

void random_tokens(int32_t *ids, int n, int vocab, uint64_t seed) {
    for (int i = 0; i < n; i++) ids[i] = (int32_t)(next_u64(&seed) % (uint64_t)vocab);
}

es_config random_config(int dim, int hidden, int layers, int heads, int kv_heads,
                        int head_dim, int vocab, int context) {
    return (es_config){
        .dim = dim, .hidden_dim = hidden, .n_layers = layers, .n_heads = heads,
        .n_kv_heads = kv_heads, .head_dim = head_dim, .vocab_size = vocab,
        .context_length = context, .rms_eps = 1e-5f, .rope_theta = 10000.0f,
        .rope_layout = ES_ROPE_ADJACENT,
    };
}

/* ------------------------------------------------------------ weights -- */

/* A (rows, cols) tensor of `type` with values center + spread * U(-1, 1). */
static es_tensor make_tensor(random_model *rm, int64_t cols, int64_t rows, es_dtype type,
                             float center, float spread, uint64_t *rng) {
    size_t row_bytes = (size_t)es_dtype_row_bytes(type, cols);
    uint8_t *data = malloc(row_bytes * (size_t)rows);
    float *row = malloc((size_t)cols * sizeof(float));
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t c = 0; c < cols; c++) row[c] = center + spread * uniform(rng);
        es_quantize_row(type, row, data + (size_t)r * row_bytes, cols);
    }
    free(row);
    rm->blobs = realloc(rm->blobs, (size_t)(rm->n_blobs + 1) * sizeof *rm->blobs);
    rm->blobs[rm->n_blobs++] = data;
    return (es_tensor){.type = type, .ne = {cols, rows}, .data = data};
}

void random_model_build(random_model *rm, const es_config *cfg, int tied, es_dtype type,
                        uint64_t seed) {
    const es_config *c = cfg;
    const int q_dim = c->n_heads * c->head_dim, kv_dim = c->n_kv_heads * c->head_dim;
    /* U(-a, a) with a = sqrt(3 / cols) has variance 1 / cols: a matrix keeps
     * unit-RMS inputs at unit RMS */
    const float s_dim = sqrtf(3.0f / c->dim), s_q = sqrtf(3.0f / q_dim);
    const float s_hidden = sqrtf(3.0f / c->hidden_dim);
    uint64_t rng = seed;
    memset(rm, 0, sizeof *rm);
    rm->cfg = *cfg;
    rm->tied = tied;
    rm->w.layers = calloc((size_t)c->n_layers, sizeof *rm->w.layers);
    rm->w.token_embd = make_tensor(rm, c->dim, c->vocab_size, type, 0, 1, &rng);
    rm->w.output_norm = make_tensor(rm, c->dim, 1, ES_F32, 1, 0.25f, &rng);
    rm->w.output = tied ? rm->w.token_embd
                        : make_tensor(rm, c->dim, c->vocab_size, type, 0, 2 * s_dim, &rng);
    for (int l = 0; l < c->n_layers; l++) {
        es_layer_weights *L = &rm->w.layers[l];
        L->attn_norm = make_tensor(rm, c->dim, 1, ES_F32, 1, 0.25f, &rng);
        L->wq = make_tensor(rm, c->dim, q_dim, type, 0, 2 * s_dim, &rng);
        L->wk = make_tensor(rm, c->dim, kv_dim, type, 0, 2 * s_dim, &rng);
        L->wv = make_tensor(rm, c->dim, kv_dim, type, 0, s_dim, &rng);
        L->wo = make_tensor(rm, q_dim, c->dim, type, 0, s_q, &rng);
        L->ffn_norm = make_tensor(rm, c->dim, 1, ES_F32, 1, 0.25f, &rng);
        L->w_gate = make_tensor(rm, c->dim, c->hidden_dim, type, 0, s_dim, &rng);
        L->w_up = make_tensor(rm, c->dim, c->hidden_dim, type, 0, s_dim, &rng);
        L->w_down = make_tensor(rm, c->hidden_dim, c->dim, type, 0, s_hidden, &rng);
    }
}

void random_model_free(random_model *rm) {
    for (int i = 0; i < rm->n_blobs; i++) free(rm->blobs[i]);
    free(rm->blobs);
    free(rm->w.layers);
    memset(rm, 0, sizeof *rm);
}

/* ---------------------------------------------------------------- GGUF -- */

static int write_tensor(gguf_writer *gw, const char *name, const es_tensor *t,
                        const gguf_defect *d) {
    uint64_t ne[3] = {(uint64_t)t->ne[0], (uint64_t)t->ne[1], 1};
    uint32_t n_dims = t->ne[1] == 1 ? 1 : 2, type = t->type;
    size_t row_bytes = es_tensor_row_bytes(t), size = row_bytes * (size_t)t->ne[1];
    if (d->drop_tensor && strcmp(name, d->drop_tensor) == 0) return 0;
    uint8_t *data = calloc(1, 2 * size + row_bytes);
    memcpy(data, t->data, size);
    if (d->grow_tensor && strcmp(name, d->grow_tensor) == 0) {
        ne[1]++, n_dims = 2;
        size += row_bytes;
    }
    if (d->three_d_tensor && strcmp(name, d->three_d_tensor) == 0) {
        ne[2] = 2, n_dims = 3;
        size *= 2;
    }
    if (d->retype_tensor && strcmp(name, d->retype_tensor) == 0) {
        type = d->retype;
        size_t new_row = (size_t)es_dtype_row_bytes(type, t->ne[0]);
        uint8_t *re = calloc((size_t)t->ne[1], new_row);
        float *row = malloc((size_t)t->ne[0] * sizeof(float));
        for (int64_t r = 0; es_dtype_supported(type) && r < t->ne[1]; r++) {
            es_dequantize_row(t->type, es_tensor_row(t, r), row, t->ne[0]);
            es_quantize_row((es_dtype)type, row, re + (size_t)r * new_row, t->ne[0]);
        }
        free(row);
        free(data);
        data = re;
        size = new_row * (size_t)t->ne[1];
    }
    int rc = gguf_writer_add_tensor(gw, name, type, n_dims, ne, data, size);
    free(data);
    return rc;
}

static int write_keys(gguf_writer *gw, const es_config *c, const gguf_defect *d) {
    int heads = d->head_count ? d->head_count : c->n_heads;
    int rc = gguf_writer_set_str(gw, "general.architecture", d->arch ? d->arch : "llama");
    rc |= gguf_writer_set_str(gw, "general.name", "random test model");
    rc |= gguf_writer_set_u32(gw, "llama.embedding_length", (uint32_t)c->dim);
    rc |= gguf_writer_set_u32(gw, "llama.feed_forward_length", (uint32_t)c->hidden_dim);
    if (!(d->drop_key && strcmp(d->drop_key, "llama.block_count") == 0))
        rc |= gguf_writer_set_u32(gw, "llama.block_count", (uint32_t)c->n_layers);
    rc |= gguf_writer_set_u32(gw, "llama.attention.head_count", (uint32_t)heads);
    rc |= gguf_writer_set_u32(gw, "llama.attention.head_count_kv",
                              (uint32_t)(d->head_count_kv ? d->head_count_kv : c->n_kv_heads));
    if (c->head_dim * c->n_heads != c->dim)
        rc |= gguf_writer_set_u32(gw, "llama.attention.key_length", (uint32_t)c->head_dim);
    rc |= gguf_writer_set_u32(gw, "llama.context_length", (uint32_t)c->context_length);
    rc |= gguf_writer_set_f32(gw, "llama.attention.layer_norm_rms_epsilon", c->rms_eps);
    rc |= gguf_writer_set_f32(gw, "llama.rope.freq_base", c->rope_theta);
    rc |= gguf_writer_set_u32(gw, "llama.rope.dimension_count",
                              (uint32_t)(d->rope_dims ? d->rope_dims : c->head_dim));
    if (d->vocab_size_key)
        rc |= gguf_writer_set_u32(gw, "llama.vocab_size", (uint32_t)d->vocab_size_key);
    return rc;
}

int random_model_write_gguf(const random_model *rm, const es_tokenizer *tok,
                            const gguf_defect *defect, const char *path, es_error *err) {
    static const gguf_defect none;
    const gguf_defect *d = defect ? defect : &none;
    const es_weights *w = &rm->w;
    gguf_writer *gw = gguf_writer_new();
    char name[64];
    int rc = write_keys(gw, &rm->cfg, d);
    if (es_tokenizer_write_gguf(tok, gw, err) < 0) {
        gguf_writer_free(gw);
        return -1;
    }
    if (!d->no_tensors) {
        rc |= write_tensor(gw, "token_embd.weight", &w->token_embd, d);
        rc |= write_tensor(gw, "output_norm.weight", &w->output_norm, d);
        if (!rm->tied) rc |= write_tensor(gw, "output.weight", &w->output, d);
        for (int l = 0; l < rm->cfg.n_layers; l++) {
            const es_layer_weights *L = &w->layers[l];
            const es_tensor *all[9] = {&L->attn_norm, &L->wq, &L->wk, &L->wv, &L->wo,
                                       &L->ffn_norm, &L->w_gate, &L->w_up, &L->w_down};
            static const char *const which[9] = {"attn_norm", "attn_q", "attn_k", "attn_v",
                                                 "attn_output", "ffn_norm", "ffn_gate",
                                                 "ffn_up", "ffn_down"};
            for (int i = 0; i < 9; i++) {
                snprintf(name, sizeof name, "blk.%d.%s.weight", l, which[i]);
                rc |= write_tensor(gw, name, all[i], d);
            }
        }
    }
    if (rc == 0) rc = gguf_writer_write(gw, path, err);
    gguf_writer_free(gw);
    return rc ? -1 : 0;
}

/* ------------------------------------------------------------ llama2.c -- */

static void put_floats(FILE *fp, const es_tensor *t) {
    fwrite(t->data, sizeof(float), (size_t)(t->ne[0] * t->ne[1]), fp);
}

int random_model_write_llama2c(const random_model *rm, const char *path) {
    const es_config *c = &rm->cfg;
    const es_weights *w = &rm->w;
    const int L = c->n_layers;
    int32_t header[7] = {c->dim, c->hidden_dim, c->n_layers, c->n_heads, c->n_kv_heads,
                         rm->tied ? c->vocab_size : -c->vocab_size, c->context_length};
    FILE *fp = fopen(path, "wb");
    if (!fp) return -1;
    fwrite(header, sizeof header, 1, fp);
    put_floats(fp, &w->token_embd);
    for (int l = 0; l < L; l++) put_floats(fp, &w->layers[l].attn_norm);
    for (int l = 0; l < L; l++) put_floats(fp, &w->layers[l].wq);
    for (int l = 0; l < L; l++) put_floats(fp, &w->layers[l].wk);
    for (int l = 0; l < L; l++) put_floats(fp, &w->layers[l].wv);
    for (int l = 0; l < L; l++) put_floats(fp, &w->layers[l].wo);
    for (int l = 0; l < L; l++) put_floats(fp, &w->layers[l].ffn_norm);
    for (int l = 0; l < L; l++) put_floats(fp, &w->layers[l].w_gate); /* w1 */
    for (int l = 0; l < L; l++) put_floats(fp, &w->layers[l].w_down); /* w2 */
    for (int l = 0; l < L; l++) put_floats(fp, &w->layers[l].w_up);   /* w3 */
    put_floats(fp, &w->output_norm);
    /* the two legacy RoPE tables, seq_len * head_dim / 2 floats each */
    float zero = 0;
    for (long i = 0; i < (long)c->context_length * c->head_dim; i++) fwrite(&zero, 4, 1, fp);
    if (!rm->tied) put_floats(fp, &w->output);
    return fclose(fp) == 0 ? 0 : -1;
}

int write_llama2c_tokenizer(const char *path, int n) {
    FILE *fp = fopen(path, "wb");
    if (!fp) return -1;
    int32_t max_len = 8;
    fwrite(&max_len, 4, 1, fp);
    for (int i = 0; i < n; i++) {
        char piece[16];
        if (i == 0) snprintf(piece, sizeof piece, "<unk>");
        else if (i == 1) snprintf(piece, sizeof piece, "<s>");
        else if (i == 2) snprintf(piece, sizeof piece, "</s>");
        else if (i < 259) snprintf(piece, sizeof piece, "<0x%02X>", i - 3);
        else snprintf(piece, sizeof piece, "%c%c", 'a' + (i - 259) % 26, 'a' + (i - 259) / 26 % 26);
        float score = -(float)i;
        int32_t len = (int32_t)strlen(piece);
        fwrite(&score, 4, 1, fp);
        fwrite(&len, 4, 1, fp);
        fwrite(piece, 1, (size_t)len, fp);
    }
    return fclose(fp) == 0 ? 0 : -1;
}
