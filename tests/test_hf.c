/* Hugging Face folders (safetensors + config.json), llama3 RoPE scaling and
 * the Llama 3.2 Vision text path:
 *   (a) the same random weights as a safetensors folder (F32, BF16) and as
 *       GGUF give the same logits, prefill and decode, with and without
 *       llama3 scaling; the GGUF side is written twice: by synth, and by a
 *       small HF -> GGUF converter in this file that permutes Q/K rows the
 *       way llama.cpp's convert_hf_to_gguf.py does (reshape to (heads, 2,
 *       head_dim/2, cols), swap axes 1 and 2);
 *   (b) a Vision-shaped folder's text path is bit for bit the plain Llama
 *       made of its self-attention layers;
 *   (c) malformed files and folders: one clear line each, no crash;
 *   (d) the llama3 frequency factors against values worked out by hand. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "entroscope.h"
#include "model/gguf_write.h"
#include "model/model.h"
#include "model/safetensors.h"
#include "tensor/quant.h"
#include "test.h"
#include "tokenizer/tokenizer.h"

/* Paths stay valid for the next 31 calls. */
static const char *tmp(const char *name) {
    static char buf[32][512];
    static int slot;
    char *p = buf[slot++ % 32];
    snprintf(p, 512, "%s/%s", test_tmpdir(), name);
    return p;
}

static const char *in_dir(const char *dir, const char *name) {
    static char buf[8][600];
    static int slot;
    char *p = buf[slot++ % 8];
    snprintf(p, 600, "%s/%s", dir, name);
    return p;
}

/* GQA (4 query heads on 2 KV heads), head_dim 64 (so Q is wider than dim). */
static es_synth_params small_shape(const char *type, uint64_t seed) {
    es_synth_params p = {.dim = 128, .hidden_dim = 256, .n_layers = 2, .n_heads = 4,
                         .n_kv_heads = 2, .head_dim = 64, .vocab_size = 300,
                         .context_length = 256, .rope_theta = 10000.0f, .rms_eps = 1e-5f,
                         .tied_output = 0, .type = type, .seed = seed,
                         .format = "safetensors"};
    return p;
}

static int synth(const es_synth_params *p, const char *out) {
    es_error err;
    int rc = es_synth_write(p, out, &err);
    CHECKF(rc == 0, "synth %s: %s", out, err.msg);
    return rc;
}

/* Logits of n_prefill tokens in one batch, then n_decode tokens one at a
 * time: (n_prefill + n_decode) rows of vocab floats, malloc'ed. */
static float *run_logits(const char *model, const char *tok, int *vocab) {
    static const int32_t tokens[] = {5, 77, 140, 3, 299, 12, 64, 201};
    const int n_prefill = 5, n_total = 8;
    es_error err;
    es_model *m = es_model_load(model, tok, &err);
    CHECKF(m != NULL, "load %s: %s", model, err.msg);
    if (!m) return NULL;
    *vocab = m->config.vocab_size;
    float *out = malloc(sizeof(float) * (size_t)n_total * (size_t)*vocab);
    es_context_params cp = {.n_ctx = 64, .n_threads = 2};
    es_context *ctx = es_context_new(m, &cp, &err);
    CHECKF(ctx != NULL, "%s", err.msg);
    int ok = ctx && out && es_context_eval(ctx, tokens, n_prefill, out, &err) == 0;
    for (int i = n_prefill; ok && i < n_total; i++) {
        ok = es_context_eval(ctx, tokens + i, 1, NULL, &err) == 0;
        if (ok) memcpy(out + (size_t)i * *vocab, es_context_logits(ctx), sizeof(float) * *vocab);
    }
    CHECKF(ok, "eval %s: %s", model, err.msg);
    es_context_free(ctx);
    es_model_free(m);
    if (!ok) {
        free(out);
        return NULL;
    }
    return out;
}

/* max |a - b| over max |b|, over all 8 rows. */
static double rel_diff(const float *a, const float *b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        num = fmax(num, fabs((double)a[i] - b[i]));
        den = fmax(den, fabs((double)b[i]));
    }
    return num / den;
}

/* -------------------------------------------------- HF -> GGUF by hand -- */

/* Row r of a permuted Q/K matrix (GGUF order) is HF row src: numpy's
 * reshape(heads, 2, hd/2, cols).swapaxes(1, 2) puts element [h][a][i] at
 * [h][i][a], i.e. GGUF row h*hd + 2i + a holds HF row h*hd + a*hd/2 + i. */
static void permute_rows(const float *hf, float *gguf, int heads, int hd, int64_t cols) {
    for (int h = 0; h < heads; h++)
        for (int i = 0; i < hd / 2; i++)
            for (int a = 0; a < 2; a++)
                memcpy(gguf + ((size_t)h * hd + 2 * i + a) * cols,
                       hf + ((size_t)h * hd + (size_t)a * hd / 2 + i) * cols,
                       sizeof(float) * (size_t)cols);
}

static float *as_f32(const es_st_tensor *t, size_t *n) {
    int size = es_st_dtype_size(t->dtype);
    *n = t->n_bytes / (size_t)size;
    float *f = malloc(sizeof(float) * *n);
    if (t->type == ES_F32) memcpy(f, t->data, t->n_bytes);
    else es_dequantize_row((es_dtype)t->type, t->data, f, (int64_t)*n);
    return f;
}

/* Writes an F32 GGUF holding the tensors of a llama folder (p's shape),
 * with its tokenizer.json's vocabulary. */
static int convert_to_gguf(const char *dir, const es_synth_params *p, const char *out) {
    static const struct { const char *hf, *gguf; } map[] = {
        {"input_layernorm", "attn_norm"}, {"self_attn.q_proj", "attn_q"},
        {"self_attn.k_proj", "attn_k"},   {"self_attn.v_proj", "attn_v"},
        {"self_attn.o_proj", "attn_output"}, {"post_attention_layernorm", "ffn_norm"},
        {"mlp.gate_proj", "ffn_gate"},    {"mlp.up_proj", "ffn_up"}, {"mlp.down_proj", "ffn_down"},
    };
    es_error err;
    es_safetensors *st = es_st_new();
    es_tokenizer *tok = es_tokenizer_load(in_dir(dir, "tokenizer.json"), &err);
    gguf_writer *w = gguf_writer_new();
    int rc = es_st_add_file(st, in_dir(dir, "model.safetensors"), &err);
    CHECKF(rc == 0 && tok, "%s", err.msg);
    rc |= gguf_writer_set_str(w, "general.architecture", "llama");
    rc |= gguf_writer_set_u32(w, "llama.context_length", (uint32_t)p->context_length);
    rc |= gguf_writer_set_u32(w, "llama.embedding_length", (uint32_t)p->dim);
    rc |= gguf_writer_set_u32(w, "llama.block_count", (uint32_t)p->n_layers);
    rc |= gguf_writer_set_u32(w, "llama.feed_forward_length", (uint32_t)p->hidden_dim);
    rc |= gguf_writer_set_u32(w, "llama.attention.head_count", (uint32_t)p->n_heads);
    rc |= gguf_writer_set_u32(w, "llama.attention.head_count_kv", (uint32_t)p->n_kv_heads);
    rc |= gguf_writer_set_u32(w, "llama.attention.key_length", (uint32_t)p->head_dim);
    rc |= gguf_writer_set_f32(w, "llama.attention.layer_norm_rms_epsilon", p->rms_eps);
    rc |= gguf_writer_set_f32(w, "llama.rope.freq_base", p->rope_theta);
    if (tok) rc |= es_tokenizer_write_gguf(tok, w, &err);
    for (int i = 0; rc == 0 && i < es_st_count(st); i++) {
        const es_st_tensor *t = es_st_at(st, i);
        char name[96] = "";
        int layer = -1, k;
        if (strcmp(t->name, "model.embed_tokens.weight") == 0) strcpy(name, "token_embd.weight");
        else if (strcmp(t->name, "model.norm.weight") == 0) strcpy(name, "output_norm.weight");
        else if (strcmp(t->name, "lm_head.weight") == 0) strcpy(name, "output.weight");
        else if (sscanf(t->name, "model.layers.%d.%n", &layer, &k) == 1)
            for (size_t j = 0; j < sizeof map / sizeof map[0]; j++)
                if (strncmp(t->name + k, map[j].hf, strlen(map[j].hf)) == 0 &&
                    strcmp(t->name + k + strlen(map[j].hf), ".weight") == 0)
                    snprintf(name, sizeof name, "blk.%d.%s.weight", layer, map[j].gguf);
        CHECKF(name[0], "unmapped tensor %s", t->name);
        size_t n;
        float *f = as_f32(t, &n), *g = malloc(sizeof(float) * n);
        int64_t cols = t->n_dims == 2 ? t->shape[1] : t->shape[0];
        if (strstr(name, "attn_q.")) permute_rows(f, g, p->n_heads, p->head_dim, cols);
        else if (strstr(name, "attn_k.")) permute_rows(f, g, p->n_kv_heads, p->head_dim, cols);
        else memcpy(g, f, sizeof(float) * n);
        uint64_t ne[2] = {(uint64_t)cols, (uint64_t)(t->n_dims == 2 ? t->shape[0] : 1)};
        rc |= gguf_writer_add_tensor(w, name, ES_F32, (uint32_t)t->n_dims, ne, g, n * sizeof(float));
        free(f);
        free(g);
    }
    if (p->rope_factor != 0) { /* as llama.cpp's converter: the factors as a tensor */
        es_rope_scaling s = {1, p->rope_factor, p->rope_low_freq_factor,
                             p->rope_high_freq_factor, p->rope_original_context};
        float f[64];
        uint64_t ne[1] = {(uint64_t)p->head_dim / 2};
        es_rope_llama3_factors(&s, p->rope_theta, p->head_dim, f);
        rc |= gguf_writer_add_tensor(w, "rope_freqs.weight", ES_F32, 1, ne, f, sizeof(float) * ne[0]);
    }
    if (rc == 0) rc = gguf_writer_write(w, out, &err);
    CHECKF(rc == 0, "convert: %s", err.msg);
    gguf_writer_free(w);
    es_tokenizer_free(tok);
    es_st_free(st);
    return rc;
}

/* ---------------------------------------------------- (a) same logits -- */

static void compare(const char *what, const char *a, const char *b, const char *tok,
                    double tol, double *measured) {
    int va = 0, vb = 0;
    float *la = run_logits(a, tok, &va), *lb = run_logits(b, tok, &vb);
    if (la && lb && va == vb) {
        double d = rel_diff(la, lb, (size_t)va * 8);
        CHECKF(d <= tol, "%s: relative logit difference %.3g > %.3g", what, d, tol);
        if (measured) *measured = d;
    }
    free(la);
    free(lb);
}

static void test_same_logits(int scaled) {
    es_synth_params p = small_shape("f32", 11);
    if (scaled) { /* a short original context, so that scaling moves the logits */
        p.rope_factor = 8.0f;
        p.rope_low_freq_factor = 1.0f;
        p.rope_high_freq_factor = 4.0f;
        p.rope_original_context = 64;
    }
    const char *f32 = tmp(scaled ? "s_f32" : "f32"), *bf16 = tmp(scaled ? "s_bf16" : "bf16");
    const char *gguf = tmp(scaled ? "s.gguf" : "f32.gguf");
    const char *conv = tmp(scaled ? "s_conv.gguf" : "conv.gguf");
    if (synth(&p, f32)) return;
    es_synth_params q = p;
    q.type = "bf16";
    if (synth(&q, bf16)) return;
    es_synth_params g = p;
    g.format = "gguf";
    g.vocab_path = in_dir(f32, "tokenizer.json");
    if (synth(&g, gguf)) return;
    /* synth's GGUF (Q/K permuted by synth, rope_freqs.weight) vs the folder */
    compare("F32 folder vs synth GGUF", f32, gguf, NULL, 1e-5, NULL);
    /* this file's converter: the permutation written independently */
    if (convert_to_gguf(f32, &p, conv) == 0)
        compare("F32 folder vs converted GGUF", f32, conv, NULL, 1e-5, NULL);
    /* BF16 weights vs the F32 ones they were rounded from: each weight moves
     * by at most 2^-9 relative, so each dot product by at most ~2^-9 (the
     * errors are independent, typically far less); two layers and the
     * classifier compound that a few times: 2e-2 of the largest logit */
    double d = 0;
    compare("BF16 folder vs F32 GGUF", bf16, gguf, NULL, 2e-2, &d);
    CHECKF(d > 1e-5, "BF16 rounding should show (%.3g)", d); /* the BF16 data is really BF16 */
    if (convert_to_gguf(bf16, &p, conv) == 0)
        compare("BF16 folder vs GGUF of its rounded weights", bf16, conv, NULL, 1e-5, NULL);
    if (!scaled) return;
    /* GGUFs without rope_freqs.weight: the scaling must have moved the logits */
    es_synth_params plain = g;
    plain.rope_factor = 0;
    if (synth(&plain, tmp("unscaled.gguf")) == 0) {
        int v1 = 0, v2 = 0;
        float *a = run_logits(gguf, NULL, &v1), *b = run_logits(tmp("unscaled.gguf"), NULL, &v2);
        if (a && b) CHECKF(rel_diff(a, b, (size_t)v1 * 8) > 1e-3, "scaling changed nothing");
        free(a);
        free(b);
    }
}

/* ------------------------------------------------------- (b) Vision -- */

static int copy_path(const char *from, const char *to) {
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    char buf[65536];
    size_t n;
    int ok = in && out;
    while (ok && (n = fread(buf, 1, sizeof buf, in)) > 0) ok = fwrite(buf, 1, n, out) == n;
    if (in) fclose(in);
    if (out) fclose(out);
    return ok ? 0 : -1;
}

/* The plain Llama made of a Vision folder's self-attention layers: tensors
 * renamed and renumbered, the embedding cut to vocab_size rows. */
static int plain_from_vision(const char *vision, const es_synth_params *p, const char *out) {
    es_error err;
    es_safetensors *st = es_st_new();
    es_st_writer *w = es_st_writer_new();
    int rc = es_st_add_file(st, in_dir(vision, "model.safetensors"), &err);
    CHECKF(rc == 0, "%s", err.msg);
    int self = 0;
    for (int l = 0; rc == 0 && l < p->n_layers + p->n_cross_layers; l++) {
        int cross = 0;
        for (int c = 0; c < p->n_cross_layers; c++) cross |= p->cross_layers[c] == l;
        if (cross) continue;
        char prefix[64];
        snprintf(prefix, sizeof prefix, "language_model.model.layers.%d.", l);
        for (int i = 0; i < es_st_count(st); i++) {
            const es_st_tensor *t = es_st_at(st, i);
            if (strncmp(t->name, prefix, strlen(prefix)) != 0) continue;
            char name[160];
            snprintf(name, sizeof name, "model.layers.%d.%s", self, t->name + strlen(prefix));
            rc |= es_st_writer_add(w, name, t->dtype, t->n_dims, t->shape, t->data, t->n_bytes);
        }
        self++;
    }
    const es_st_tensor *e = es_st_find(st, "language_model.model.embed_tokens.weight");
    const es_st_tensor *n = es_st_find(st, "language_model.model.norm.weight");
    const es_st_tensor *h = es_st_find(st, "language_model.lm_head.weight");
    CHECK(e && n && h);
    if (e && n && h && rc == 0) {
        CHECK_INT(e->shape[0], p->vocab_size + 8);
        int64_t shape[2] = {p->vocab_size, e->shape[1]};
        rc |= es_st_writer_add(w, "model.embed_tokens.weight", e->dtype, 2, shape, e->data,
                               e->n_bytes / (size_t)e->shape[0] * (size_t)p->vocab_size);
        rc |= es_st_writer_add(w, "model.norm.weight", n->dtype, 1, n->shape, n->data, n->n_bytes);
        rc |= es_st_writer_add(w, "lm_head.weight", h->dtype, 2, h->shape, h->data, h->n_bytes);
    }
    mkdir(out, 0755);
    es_synth_params plain = *p;
    plain.n_cross_layers = 0;
    /* config.json + tokenizer.json of the plain shape, then our tensors */
    if (rc == 0) rc = es_synth_write(&plain, out, &err);
    if (rc == 0) rc = es_st_writer_write(w, in_dir(out, "model.safetensors"), &err);
    CHECKF(rc == 0, "%s", err.msg);
    es_st_writer_free(w);
    es_st_free(st);
    return rc;
}

static void test_vision(void) {
    es_synth_params p = small_shape("bf16", 21);
    p.n_cross_layers = 2;
    p.cross_layers[0] = 1; /* stack: self, cross, self, cross */
    p.cross_layers[1] = 3;
    const char *vision = tmp("vision"), *plain = tmp("vision_plain");
    if (synth(&p, vision) || plain_from_vision(vision, &p, plain)) return;
    int v1 = 0, v2 = 0;
    float *a = run_logits(vision, NULL, &v1), *b = run_logits(plain, NULL, &v2);
    CHECK(a && b && v1 == v2 && v1 == p.vocab_size);
    if (a && b && v1 == v2)
        CHECKF(memcmp(a, b, sizeof(float) * (size_t)v1 * 8) == 0,
               "the Vision text path differs from its self-attention layers (%.3g)",
               rel_diff(a, b, (size_t)v1 * 8));
    free(a);
    free(b);
    es_error err;
    es_model *m = es_model_load(vision, NULL, &err);
    CHECKF(m != NULL, "%s", err.msg);
    if (m) {
        char *text = NULL;
        size_t len = 0;
        FILE *fp = open_memstream(&text, &len);
        es_model_print_info(m, fp);
        fclose(fp);
        CHECKF(strstr(text, "image input is not supported") && strstr(text, "2 cross-attention"),
               "info: %s", text);
        CHECK(strstr(text, "format          safetensors") != NULL);
        CHECK_INT(m->config.n_layers, 2);
        free(text);
        es_model_free(m);
    }
}

/* The folder's tokenizer.json with one more added token, id vocab_size
 * (as Llama 3.2 Vision's <|image|>), special or not, written to out. */
static int tokenizer_plus_one(const char *dir, int vocab_size, int special, const char *out) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = fopen(in_dir(dir, "tokenizer.json"), "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    len = (size_t)ftell(f);
    rewind(f);
    text = malloc(len + 1);
    if (fread(text, 1, len, f) != len) len = 0;
    text[len] = 0;
    fclose(f);
    cJSON *root = cJSON_Parse(text);
    free(text);
    cJSON *added = root ? cJSON_GetObjectItemCaseSensitive(root, "added_tokens") : NULL;
    if (!added) {
        cJSON_Delete(root);
        return -1;
    }
    cJSON *tok = cJSON_CreateObject();
    cJSON_AddNumberToObject(tok, "id", vocab_size);
    cJSON_AddStringToObject(tok, "content", "<|image|>");
    cJSON_AddBoolToObject(tok, "single_word", 0);
    cJSON_AddBoolToObject(tok, "lstrip", 0);
    cJSON_AddBoolToObject(tok, "rstrip", 0);
    cJSON_AddBoolToObject(tok, "normalized", 0);
    cJSON_AddBoolToObject(tok, "special", special);
    cJSON_AddItemToArray(added, tok);
    char *json = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    f = fopen(out, "wb");
    int rc = f && fputs(json, f) >= 0 ? 0 : -1;
    if (f) fclose(f);
    free(json);
    return rc;
}

static void test_vision_tokenizer(void) {
    es_synth_params p = small_shape("f32", 22);
    p.n_cross_layers = 1;
    p.cross_layers[0] = 1;
    const char *vision = tmp("vision_tok");
    if (synth(&p, vision)) return;
    const char *special = tmp("tok_image_special.json"), *normal = tmp("tok_image_normal.json");
    CHECK(tokenizer_plus_one(vision, p.vocab_size, 1, special) == 0);
    CHECK(tokenizer_plus_one(vision, p.vocab_size, 0, normal) == 0);
    es_error err;
    /* a special token beyond the classifier (<|image|>) is allowed... */
    es_model *m = es_model_load(vision, special, &err);
    CHECKF(m != NULL, "%s", err.msg);
    if (m) {
        CHECK_INT(es_tokenizer_vocab_size(es_model_tokenizer(m)), p.vocab_size + 1);
        es_context *ctx = es_context_new(m, &(es_context_params){.n_threads = 1}, &err);
        int32_t ids[2] = {1, p.vocab_size}; /* ...but cannot be evaluated */
        CHECK(es_context_eval(ctx, ids, 2, NULL, &err) < 0);
        CHECKF(strstr(err.msg, "outside the vocabulary"), "%s", err.msg);
        CHECK(es_context_eval(ctx, ids, 1, NULL, &err) == 0);
        es_context_free(ctx);
        es_model_free(m);
    }
    /* an added token that is not special is a user-defined one: also allowed */
    m = es_model_load(vision, normal, &err);
    CHECKF(m != NULL, "%s", err.msg);
    es_model_free(m);
    /* ordinary vocabulary the model has no rows for is a mismatch */
    const char *llama3 = test_shared("tokenizers/llama3/tokenizer.json");
    if (!llama3) return;
    CHECK(es_model_load(vision, llama3, &err) == NULL);
    CHECKF(strstr(err.msg, "tokens but the model's vocabulary"), "%s", err.msg);
}

/* ------------------------------------------------ (c) malformed input -- */

/* A safetensors image: 8-byte length, the header text, then data_size
 * bytes of zeros. */
static uint8_t *image(const char *header, size_t data_size, size_t *size) {
    size_t hl = strlen(header);
    *size = 8 + hl + data_size;
    uint8_t *b = calloc(1, *size);
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)((uint64_t)hl >> (8 * i));
    memcpy(b + 8, header, hl);
    return b;
}

static void test_malformed_files(void) {
    static const struct { const char *header; size_t data; const char *want; } cases[] = {
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, NULL},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]", 8, "not valid JSON"},
        {"[1, 2]", 0, "not a JSON object"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,16]}}", 8, "run past the end"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "8 bytes for a F32 tensor of 3"},
        {"{\"a\":{\"dtype\":\"F12\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "unknown dtype 'F12'"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, "shape[0]"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]}}", 8, "shape[0]"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, "begin <= end"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 8, "begin <= end"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, "data_offsets array"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, "overlap"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "bytes 0..4 belong to no tensor"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8, "after the last tensor"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
         "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "appears twice"},
        {"{\"__metadata__\":{\"format\":3},"
         "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "not a string"},
        {"{\"a\":{\"dtype\":\"BF16\",\"shape\":[4294967296,4294967296,4294967296],"
         "\"data_offsets\":[0,8]}}", 8, "more than"},
    };
    es_error err;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t size;
        uint8_t *b = image(cases[i].header, cases[i].data, &size);
        es_safetensors *st = es_st_new();
        int rc = es_st_add_buffer(st, b, size, "bad.safetensors", &err);
        if (!cases[i].want) {
            CHECKF(rc == 0 && es_st_count(st) == 1, "case %zu: %s", i, err.msg);
        } else {
            CHECKF(rc < 0 && strstr(err.msg, cases[i].want) && !strchr(err.msg, '\n') &&
                   strncmp(err.msg, "bad.safetensors: ", 17) == 0,
                   "case %zu: \"%s\" (want \"%s\")", i, rc < 0 ? err.msg : "(loaded)",
                   cases[i].want);
            CHECK_INT(es_st_count(st), 0);
        }
        es_st_free(st);
        free(b);
    }
    /* the length itself: too short, and longer than the file */
    uint8_t four[4] = {1, 0, 0, 0}, len_only[8] = {200, 0, 0, 0, 0, 0, 0, 0};
    es_safetensors *st = es_st_new();
    CHECK(es_st_add_buffer(st, four, 4, "x", &err) < 0 && strstr(err.msg, "too short"));
    CHECK(es_st_add_buffer(st, len_only, 8, "x", &err) < 0 && strstr(err.msg, "runs past"));
    es_st_free(st);
}

/* ------------------------------------------------- malformed folders -- */

/* Copies a folder's config.json and tokenizer.json, and writes its tensors
 * with one edited: dropped (drop), renamed to dtype (dtype), or reshaped to
 * [shape0, shape1] (shape0 > 0). */
typedef struct edit { const char *tensor, *dtype; int drop; int64_t shape0, shape1; } edit;

static int edited_copy(const char *src, const char *dst, edit e) {
    es_error err;
    mkdir(dst, 0755);
    if (copy_path(in_dir(src, "config.json"), in_dir(dst, "config.json")) ||
        copy_path(in_dir(src, "tokenizer.json"), in_dir(dst, "tokenizer.json")))
        return -1;
    es_safetensors *st = es_st_new();
    es_st_writer *w = es_st_writer_new();
    int rc = es_st_add_file(st, in_dir(src, "model.safetensors"), &err);
    for (int i = 0; rc == 0 && i < es_st_count(st); i++) {
        const es_st_tensor *t = es_st_at(st, i);
        int hit = e.tensor && strcmp(t->name, e.tensor) == 0;
        if (hit && e.drop) continue;
        int64_t shape[2] = {e.shape0, e.shape1};
        rc = es_st_writer_add(w, t->name, hit && e.dtype ? e.dtype : t->dtype,
                              hit && e.shape0 ? 2 : t->n_dims, hit && e.shape0 ? shape : t->shape,
                              t->data, t->n_bytes);
    }
    if (rc == 0) rc = es_st_writer_write(w, in_dir(dst, "model.safetensors"), &err);
    es_st_writer_free(w);
    es_st_free(st);
    return rc;
}

/* Rewrites dir/config.json with key (in the top level) set to the JSON text value. */
static void set_config(const char *src, const char *dst, const char *key, const char *value) {
    mkdir(dst, 0755);
    copy_path(in_dir(src, "tokenizer.json"), in_dir(dst, "tokenizer.json"));
    copy_path(in_dir(src, "model.safetensors"), in_dir(dst, "model.safetensors"));
    FILE *fp = fopen(in_dir(src, "config.json"), "rb");
    char buf[8192];
    size_t n = fp ? fread(buf, 1, sizeof buf - 1, fp) : 0;
    if (fp) fclose(fp);
    buf[n] = '\0';
    cJSON *root = cJSON_Parse(buf), *v = cJSON_Parse(value);
    cJSON_DeleteItemFromObject(root, key);
    if (v) cJSON_AddItemToObject(root, key, v);
    char *text = cJSON_Print(root);
    fp = fopen(in_dir(dst, "config.json"), "wb");
    if (fp) {
        fputs(text, fp);
        fclose(fp);
    }
    free(text);
    cJSON_Delete(root);
}

static void expect_fail(const char *dir, const char *want, const char *file) {
    es_error err;
    es_model *m = es_model_load(dir, NULL, &err);
    CHECKF(m == NULL, "%s loaded, expected \"%s\"", dir, want);
    if (m) {
        es_model_free(m);
        return;
    }
    CHECKF(strstr(err.msg, want) && !strchr(err.msg, '\n') && strstr(err.msg, file),
           "%s: \"%s\" (want \"%s\" naming %s)", dir, err.msg, want, file);
}

static void test_malformed_folders(void) {
    es_synth_params p = small_shape("f32", 5);
    char good[512];
    snprintf(good, sizeof good, "%s", tmp("good"));
    if (synth(&p, good)) return;
    char name[64];
    int k = 0;
#define DIR_CASE() (snprintf(name, sizeof name, "bad%d", k++), tmp(name))
    const char *d = DIR_CASE();
    edited_copy(good, d, (edit){"model.layers.1.mlp.up_proj.weight", NULL, 1, 0, 0});
    expect_fail(d, "missing tensor \"model.layers.1.mlp.up_proj.weight\"", d);
    d = DIR_CASE();
    edited_copy(good, d, (edit){"model.layers.0.self_attn.k_proj.weight", NULL, 0, 64, 256});
    expect_fail(d, "has shape [64, 256], expected [128, 128]", "model.safetensors");
    d = DIR_CASE();
    edited_copy(good, d, (edit){"model.layers.0.mlp.gate_proj.weight", "I32", 0, 0, 0});
    expect_fail(d, "dtype I32, not supported", "model.safetensors");
    d = DIR_CASE(); /* a truncated shard */
    edited_copy(good, d, (edit){0});
    if (truncate(in_dir(d, "model.safetensors"), 5000) == 0)
        expect_fail(d, "run past the end of the data", "model.safetensors");
    d = DIR_CASE();
    edited_copy(good, d, (edit){0});
    remove(in_dir(d, "config.json"));
    expect_fail(d, "missing (a Hugging Face model folder needs config.json)", "config.json");
    d = DIR_CASE();
    edited_copy(good, d, (edit){0});
    remove(in_dir(d, "tokenizer.json"));
    expect_fail(d, "no tokenizer.json", d);
    d = DIR_CASE();
    edited_copy(good, d, (edit){0});
    FILE *fp = fopen(in_dir(d, "config.json"), "wb");
    if (fp) {
        fputs("{\"hidden_size\": 12,", fp);
        fclose(fp);
    }
    expect_fail(d, "invalid JSON", "config.json");
    static const struct { const char *key, *value, *want; } configs[] = {
        {"architectures", "[\"GPT2LMHeadModel\"]", "unsupported architecture 'GPT2LMHeadModel'"},
        {"hidden_size", "-128", "hidden_size must be a whole number"},
        {"hidden_size", "\"128\"", "hidden_size must be a whole number"},
        {"num_attention_heads", "3", "not a multiple"},
        {"num_key_value_heads", "3", "not a multiple"},
        {"vocab_size", "301", "has shape [300, 128], expected [301, 128]"},
        {"rms_norm_eps", "0", "rms_norm_eps must be a positive number"},
        {"rope_scaling", "{\"rope_type\": \"yarn\", \"factor\": 4}", "'yarn' is not supported"},
        {"rope_scaling", "{\"rope_type\": \"llama3\", \"factor\": 8, \"low_freq_factor\": 4, "
         "\"high_freq_factor\": 1}", "low_freq_factor (4) < high_freq_factor (1)"},
        {"rope_scaling", "{\"rope_type\": \"llama3\"}", "no factor"},
        {"hidden_act", "\"gelu\"", "hidden_act must be \"silu\""},
        {"attention_bias", "true", "attention_bias is not supported"},
        {"eos_token_id", "[299, 4000]", "eos_token_id must be ids below 300"},
        {"num_hidden_layers", "3", "missing tensor \"model.layers.2.input_layernorm.weight\""},
    };
    for (size_t i = 0; i < sizeof configs / sizeof configs[0]; i++) {
        d = DIR_CASE();
        set_config(good, d, configs[i].key, configs[i].value);
        expect_fail(d, configs[i].want, d);
    }
}

/* Two shards and an index: loads; an index naming a missing shard, or a
 * tensor in the wrong shard, fails. */
static void test_shards(void) {
    es_synth_params p = small_shape("bf16", 8);
    const char *good = tmp("shard_src"), *dir = tmp("sharded");
    if (synth(&p, good)) return;
    es_error err;
    es_safetensors *st = es_st_new();
    es_st_writer *w[2] = {es_st_writer_new(), es_st_writer_new()};
    CHECK(es_st_add_file(st, in_dir(good, "model.safetensors"), &err) == 0);
    mkdir(dir, 0755);
    copy_path(in_dir(good, "config.json"), in_dir(dir, "config.json"));
    copy_path(in_dir(good, "tokenizer.json"), in_dir(dir, "tokenizer.json"));
    cJSON *index = cJSON_CreateObject(), *map = cJSON_AddObjectToObject(index, "weight_map");
    static const char *const shard[2] = {"model-00001-of-00002.safetensors",
                                         "model-00002-of-00002.safetensors"};
    for (int i = 0; i < es_st_count(st); i++) {
        const es_st_tensor *t = es_st_at(st, i);
        int s = i % 2;
        es_st_writer_add(w[s], t->name, t->dtype, t->n_dims, t->shape, t->data, t->n_bytes);
        cJSON_AddStringToObject(map, t->name, shard[s]);
    }
    for (int s = 0; s < 2; s++) CHECK(es_st_writer_write(w[s], in_dir(dir, shard[s]), &err) == 0);
    char *text = cJSON_Print(index);
    FILE *fp = fopen(in_dir(dir, "model.safetensors.index.json"), "wb");
    fputs(text, fp);
    fclose(fp);
    int v1 = 0, v2 = 0;
    float *a = run_logits(good, NULL, &v1), *b = run_logits(dir, NULL, &v2);
    if (a && b) CHECK(memcmp(a, b, sizeof(float) * (size_t)v1 * 8) == 0);
    free(a);
    free(b);
    /* a tensor listed in the wrong shard */
    cJSON_ReplaceItemInObject(map, es_st_at(st, 0)->name, cJSON_CreateString(shard[1]));
    free(text);
    text = cJSON_Print(index);
    fp = fopen(in_dir(dir, "model.safetensors.index.json"), "wb");
    fputs(text, fp);
    fclose(fp);
    expect_fail(dir, "which does not hold it", "model.safetensors.index.json");
    remove(in_dir(dir, shard[1]));
    expect_fail(dir, "names shard model-00002-of-00002.safetensors, which is missing",
                "model.safetensors.index.json");
    free(text);
    cJSON_Delete(index);
    es_st_writer_free(w[0]);
    es_st_writer_free(w[1]);
    es_st_free(st);
}

/* ------------------------------------------------- (d) llama3 factors -- */

static void test_llama3_factors(void) {
    /* Llama 3.1 8B: theta 500000, head_dim 128, factor 8, low 1, high 4,
     * original context 8192. Frequency i is 500000^(-i/64), wavelength
     * w_i = 2 pi 500000^(i/64). Worked by hand from the published formula:
     *   w_28 = 1956.5 < 8192/4 = 2048: kept (1);
     *   w_35 = 8218.7 > 8192/1: divided by 8;
     *   w_30 = 2948.30: s = (8192/2948.30 - 1) / (4 - 1) = 0.592842,
     *        1 / ((1 - s)/8 + s) = 1 / 0.643737 = 1.553415;
     *   w_29 = 2401.74: s = 0.803626, 1 / 0.828173 = 1.207484;
     *   w_34 = 6695.11: s = 0.074530, 1 / 0.190214 = 5.257327. */
    es_rope_scaling s = {1, 8.0f, 1.0f, 4.0f, 8192};
    float f[64];
    es_rope_llama3_factors(&s, 500000.0f, 128, f);
    for (int i = 0; i <= 28; i++) CHECK_NEAR(f[i], 1.0, 1e-7);
    for (int i = 35; i < 64; i++) CHECK_NEAR(f[i], 8.0, 1e-7);
    CHECK_NEAR(f[29], 1.207484, 2e-6);
    CHECK_NEAR(f[30], 1.553415, 2e-6);
    CHECK_NEAR(f[34], 5.257327, 2e-6);
    for (int i = 29; i < 35; i++) CHECK(f[i] > f[i - 1]); /* monotone blend */
    /* Llama 3.2 1B: head_dim 64, factor 32: w_14 = 1956.5 kept, w_18 = 10089 > 8192
     * divided by 32; w_16 = 4442.88: s = (8192/4442.88 - 1)/3 = 0.281297,
     * 1 / ((1 - s)/32 + s) = 1 / 0.303757 = 3.292262 */
    es_rope_scaling s2 = {1, 32.0f, 1.0f, 4.0f, 8192};
    float g[32];
    es_rope_llama3_factors(&s2, 500000.0f, 64, g);
    CHECK_NEAR(g[14], 1.0, 1e-7);
    CHECK_NEAR(g[16], 3.292262, 2e-6);
    CHECK_NEAR(g[18], 32.0, 1e-7);
    es_error err;
    es_rope_scaling bad = {1, 8.0f, 4.0f, 4.0f, 8192};
    CHECK(es_rope_scaling_check(&bad, "x", &err) < 0 && strstr(err.msg, "low_freq_factor"));
}

/* A GGUF's rope_freqs.weight is read, shown by info and checked. */
static void test_gguf_rope_freqs(void) {
    es_synth_params p = small_shape("f32", 3);
    p.format = "gguf";
    p.rope_factor = 32.0f;
    p.rope_low_freq_factor = 1.0f;
    p.rope_high_freq_factor = 4.0f;
    p.rope_original_context = 8192;
    p.rope_theta = 500000.0f;
    const char *path = tmp("rope.gguf");
    if (synth(&p, path)) return;
    es_error err;
    es_model *m = es_model_load(path, NULL, &err);
    CHECKF(m != NULL, "%s", err.msg);
    if (!m) return;
    const es_tensor *t = &m->weights.rope_freqs;
    CHECK(t->data && t->ne[0] == 32 && t->type == ES_F32);
    if (t->data) {
        CHECK_NEAR(((const float *)t->data)[16], 3.292262, 2e-6);
        CHECK_NEAR(((const float *)t->data)[0], 1.0, 0);
    }
    char *text = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&text, &len);
    es_model_print_info(m, fp);
    fclose(fp);
    CHECKF(strstr(text, "rope_freqs.weight: 32 frequency divisors, 1 to 32"), "%s", text);
    free(text);
    es_model_free(m);
}

void suite_hf(void) {
    TEST("hf: F32/BF16 folders and GGUF give the same logits") test_same_logits(0);
    TEST("hf: the same with llama3 RoPE scaling (config.json vs rope_freqs.weight)")
        test_same_logits(1);
    TEST("hf: Vision text path equals its self-attention layers, bit for bit") test_vision();
    TEST("hf: a Vision tokenizer's <|image|> beyond the classifier is allowed, not evaluated")
        test_vision_tokenizer();
    TEST("hf: malformed safetensors files give one clear error") test_malformed_files();
    TEST("hf: malformed folders and configs give one clear error") test_malformed_folders();
    TEST("hf: sharded folders load; a bad index is an error") test_shards();
    TEST("hf: llama3 RoPE factors match hand-computed values") test_llama3_factors();
    TEST("hf: GGUF rope_freqs.weight is loaded and shown") test_gguf_rope_freqs();
}
