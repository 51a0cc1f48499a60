/* `entroscope synth`: random-weight Llama models of real shapes, written as
 * GGUF or as a Hugging Face safetensors folder (synth_hf.c), so that tests
 * and benchmarks need no downloaded weights.
 *
 * Weights are drawn from N(0, 1/fan_in) (fan_in = the row length), which keeps
 * activations of order one through any depth; norm weights are 1 + N(0, 0.1^2),
 * so that a loader that mixes up two norms gives different numbers. Every row
 * has its own generator, seeded from (seed, tensor, row), so the output is the
 * same for a given seed whatever the thread count, and rows are drawn in
 * parallel. Tensors are keyed by their GGUF names and rows are drawn in the
 * Hugging Face order; the GGUF writer then permutes the Q and K rows exactly
 * as llama.cpp's converter does (convert_hf_to_gguf.py, LlamaModel.permute),
 * so both formats hold the same model. The vocabulary is copied from a GGUF
 * or tokenizer.json, or is a small synthetic one. */
#include "synth/synth.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/gguf_write.h"
#include "model/model.h"
#include "tensor/quant.h"
#include "tensor/tensor.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"
#include "util/rng.h"

typedef struct preset {
    const char *name;
    const char *alias; /* an older name that keeps working, or NULL */
    const char *what;
    es_synth_params p;
} preset;

/* The shape fields, designated (the rest of es_synth_params starts at zero). */
#define SHAPE(d, hid, layers, heads, kv, hd, vocab, ctx, theta, tied, ty)                \
    .dim = d, .hidden_dim = hid, .n_layers = layers, .n_heads = heads, .n_kv_heads = kv, \
    .head_dim = hd, .vocab_size = vocab, .context_length = ctx, .rope_theta = theta,     \
    .rms_eps = 1e-5f, .tied_output = tied, .type = ty
#define LLAMA3_ROPE(factor) .rope_factor = factor, .rope_low_freq_factor = 1.0f, \
    .rope_high_freq_factor = 4.0f, .rope_original_context = 8192

/* Shapes of real models (from their published config.json), plus small ones. */
static const preset presets[] = {
    {"tiny", NULL, "2 layers, dim 64, synthetic 512-token vocabulary",
     {SHAPE(64, 192, 2, 4, 2, 16, 512, 512, 10000.0f, 1, "f32")}},
    {"stories260k", NULL, "the TinyStories 260K shape (dim 64, 5 layers, 8 heads, 4 KV heads)",
     {SHAPE(64, 172, 5, 8, 4, 8, 512, 512, 10000.0f, 0, "f32")}},
    {"stories15m", NULL, "the TinyStories 15M shape (dim 288, 6 layers, 6 heads)",
     {SHAPE(288, 768, 6, 6, 6, 48, 32000, 256, 10000.0f, 1, "f32")}},
    {"llama3.2-1b", "llama-3.2-1b",
     "Llama 3.2 1B (dim 2048, 16 layers, 32/8 heads, tied, rope x32)",
     {SHAPE(2048, 8192, 16, 32, 8, 64, 128256, 131072, 500000.0f, 1, "f16"),
      LLAMA3_ROPE(32.0f)}},
    {"llama3.2-3b", "llama-3.2-3b",
     "Llama 3.2 3B (dim 3072, 28 layers, 24/8 heads, head dim 128, tied, rope x32)",
     {SHAPE(3072, 8192, 28, 24, 8, 128, 128256, 131072, 500000.0f, 1, "f16"),
      LLAMA3_ROPE(32.0f)}},
    {"llama3.1-8b", "llama-3.1-8b", "Llama 3.1 8B (dim 4096, 32 layers, 32/8 heads, rope x8)",
     {SHAPE(4096, 14336, 32, 32, 8, 128, 128256, 131072, 500000.0f, 0, "f16"),
      LLAMA3_ROPE(8.0f)}},
    /* text_config of Llama-3.2-11B-Vision: 40 layers of which 8 cross-attention */
    {"llama3.2-11b-vision", NULL,
     "Llama 3.2 11B Vision text model (32 self- + 8 cross-attention layers; safetensors)",
     {SHAPE(4096, 14336, 32, 32, 8, 128, 128256, 131072, 500000.0f, 0, "bf16"),
      .format = "safetensors", LLAMA3_ROPE(8.0f), .n_cross_layers = 8,
      .cross_layers = {3, 8, 13, 18, 23, 28, 33, 38}}},
    {"llama-2-7b", NULL, "Llama 2 7B (dim 4096, 32 layers, 32 heads, vocab 32000)",
     {SHAPE(4096, 11008, 32, 32, 32, 128, 32000, 4096, 10000.0f, 0, "f16")}},
};
#define N_PRESETS (sizeof presets / sizeof presets[0])

int es_synth_preset(const char *name, es_synth_params *p, es_error *err) {
    for (size_t i = 0; i < N_PRESETS; i++) {
        if (strcmp(presets[i].name, name) == 0 ||
            (presets[i].alias && strcmp(presets[i].alias, name) == 0)) {
            *p = presets[i].p;
            return 0;
        }
    }
    char list[512] = "";
    for (size_t i = 0; i < N_PRESETS; i++) {
        strcat(list, i ? ", " : "");
        strcat(list, presets[i].name);
    }
    return es_fail(err, "unknown preset '%s' (known: %s)", name, list);
}

void es_synth_list_presets(FILE *out) {
    for (size_t i = 0; i < N_PRESETS; i++)
        fprintf(out, "  %-20s %s\n", presets[i].name, presets[i].what);
}

/* ------------------------------------------------------------ weights -- */

/* Standard normal by Box-Muller from a splitmix64 stream. */
static double normal(uint64_t *state) {
    *state = es_splitmix64(*state);
    double u1 = ((*state >> 11) + 1.0) * 0x1p-53; /* (0, 1] */
    *state = es_splitmix64(*state);
    double u2 = (*state >> 11) * 0x1p-53;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

void synth_row(const synth_tensor *t, uint64_t seed, int64_t row, float *out) {
    uint64_t tensor_seed = seed;
    for (const char *c = t->key; *c; c++) tensor_seed = es_splitmix64(tensor_seed ^ (uint8_t)*c);
    uint64_t state = es_splitmix64(tensor_seed ^ (uint64_t)row * 0x9e3779b97f4a7c15ull);
    double scale = 1.0 / sqrt((double)t->cols);
    for (int64_t c = 0; c < t->cols; c++)
        out[c] = t->norm ? (float)(1.0 + 0.1 * normal(&state)) : (float)(normal(&state) * scale);
}

/* The Hugging Face row that GGUF row g of a Q or K matrix holds: within each
 * head of head_dim rows, llama.cpp's permute puts HF rows i and i + head_dim/2
 * at 2i and 2i + 1 (the pairs the adjacent-pair rotation turns together). */
static int64_t hf_row_of_gguf_row(int64_t g, int head_dim) {
    int64_t head = g / head_dim, j = g % head_dim, half = head_dim / 2;
    return head * head_dim + (j % 2) * half + j / 2;
}

uint8_t *synth_tensor_data(const synth_tensor *t, uint64_t seed, es_dtype type, int permute,
                           size_t *n_bytes, es_error *err) {
    int64_t row_bytes = es_dtype_row_bytes(type, t->cols);
    *n_bytes = (size_t)row_bytes * (size_t)t->rows;
    uint8_t *data = malloc(*n_bytes ? *n_bytes : 1);
    if (!data) {
        es_fail(err, "synth: out of memory for %s (%zu bytes)", t->key, *n_bytes);
        return NULL;
    }
    int failed = 0;
#pragma omp parallel
    {
        float *row = malloc(sizeof(float) * (size_t)t->cols);
        if (!row) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(static)
        for (int64_t r = 0; r < t->rows; r++) {
            if (!row) continue;
            int64_t src = permute && t->head_dim ? hf_row_of_gguf_row(r, t->head_dim) : r;
            synth_row(t, seed, src, row);
            es_quantize_row(type, row, data + (size_t)r * (size_t)row_bytes, t->cols);
        }
        free(row);
    }
    if (failed) {
        free(data);
        es_fail(err, "synth: out of memory");
        return NULL;
    }
    return data;
}

/* ------------------------------------------------------------- checks -- */

/* The type of a matrix: the --type, or for "q4_k_m" llama.cpp's Q4_K_M mix
 * (llama-quant.cpp): Q6_K for the classifier (the embedding when tied) and
 * for attn_v and ffn_down in the layers use_more_bits picks (the first and
 * last eighth, and every third in between), Q4_K for the rest. */
es_dtype synth_matrix_type(const es_synth_params *p, const char *which, int layer) {
    if (strcmp(p->type ? p->type : "f32", "q4_k_m") != 0)
        return (es_dtype)es_dtype_from_name(p->type ? p->type : "f32");
    int n = p->n_layers;
    int more_bits = layer >= 0 && (layer < n / 8 || layer >= 7 * n / 8 || (layer - n / 8) % 3 == 2);
    if (strcmp(which, "output") == 0 || (p->tied_output && strcmp(which, "token_embd") == 0))
        return ES_Q6_K;
    if ((strcmp(which, "attn_v") == 0 || strcmp(which, "ffn_down") == 0) && more_bits)
        return ES_Q6_K;
    return ES_Q4_K;
}

static int check_type(const es_synth_params *p, int safetensors, es_error *err) {
    const char *name = p->type ? p->type : "f32";
    int q4_k_m = strcmp(name, "q4_k_m") == 0;
    int type = q4_k_m ? ES_Q4_K : es_dtype_from_name(name);
    if (type < 0 || !es_dtype_supported((uint32_t)type) ||
        (q4_k_m && !es_dtype_supported(ES_Q6_K)))
        return es_fail(err, "synth: unknown or unsupported type '%s' (f32, f16, bf16, q8_0, "
                       "q4_0, q4_k, q6_k, q4_k_m)", name);
    if (safetensors && type != ES_F32 && type != ES_F16 && type != ES_BF16)
        return es_fail(err, "synth: safetensors holds f32, f16 or bf16, not '%s'", name);
    int64_t bs = es_dtype_block_size((uint32_t)type);
    int cols[3] = {p->dim, p->hidden_dim, p->n_heads * p->head_dim};
    const char *what[3] = {"dim", "hidden dim", "heads x head dim"};
    for (int i = 0; i < 3; i++)
        if (cols[i] % bs != 0)
            return es_fail(err, "synth: type %s needs rows of a multiple of %lld elements; "
                           "%s %d is not", name, (long long)bs, what[i], cols[i]);
    return 0;
}

static int check_params(const es_synth_params *p, int safetensors, es_error *err) {
    if (p->dim <= 0 || p->hidden_dim <= 0 || p->n_layers <= 0 || p->n_heads <= 0 ||
        p->n_kv_heads <= 0 || p->head_dim <= 0 || p->context_length <= 0)
        return es_fail(err, "synth: every dimension must be positive");
    if (p->n_heads % p->n_kv_heads != 0)
        return es_fail(err, "synth: %d heads are not a multiple of %d KV heads", p->n_heads,
                       p->n_kv_heads);
    if (p->head_dim % 2 != 0)
        return es_fail(err, "synth: head dim %d is odd (RoPE rotates pairs)", p->head_dim);
    if (p->rope_factor != 0) {
        es_rope_scaling s = {1, p->rope_factor, p->rope_low_freq_factor,
                             p->rope_high_freq_factor, p->rope_original_context};
        if (es_rope_scaling_check(&s, "synth", err) < 0) return -1;
    }
    if (p->n_cross_layers < 0 || p->n_cross_layers > 32)
        return es_fail(err, "synth: %d cross-attention layers (0..32)", p->n_cross_layers);
    int total = p->n_layers + p->n_cross_layers;
    for (int i = 0; i < p->n_cross_layers; i++)
        if (p->cross_layers[i] < 0 || p->cross_layers[i] >= total ||
            (i > 0 && p->cross_layers[i] <= p->cross_layers[i - 1]))
            return es_fail(err, "synth: cross-attention layers must increase within 0..%d",
                           total - 1);
    if (p->n_cross_layers && !safetensors)
        return es_fail(err, "synth: Vision shapes are written as safetensors folders only");
    return check_type(p, safetensors, err);
}

/* --------------------------------------------------------------- GGUF -- */

static int write_config(gguf_writer *w, const es_synth_params *p, int vocab_size) {
    char name[128];
    snprintf(name, sizeof name, "entroscope synth (seed %llu)", (unsigned long long)p->seed);
    gguf_llama_config c = {name, p->context_length, p->dim, p->n_layers, p->hidden_dim, p->head_dim,
                           p->n_heads, p->n_kv_heads, vocab_size, p->rms_eps, p->rope_theta};
    return gguf_writer_set_llama_config(w, &c);
}

static int add_gguf_tensor(gguf_writer *w, const synth_tensor *t, const char *name,
                           es_dtype type, uint64_t seed, es_error *err) {
    size_t n_bytes;
    uint8_t *data = synth_tensor_data(t, seed, type, 1, &n_bytes, err);
    if (!data) return -1;
    uint64_t ne[2] = {(uint64_t)t->cols, (uint64_t)t->rows};
    int rc = gguf_writer_add_tensor(w, name, type, t->rows == 1 ? 1 : 2, ne, data, n_bytes);
    free(data);
    return rc ? es_fail(err, "synth: out of memory adding %s", name) : 0;
}

/* llama.cpp's converter writes llama3 scaling as this tensor only. */
static int add_rope_freqs(gguf_writer *w, const es_synth_params *p, es_error *err) {
    es_rope_scaling s = {1, p->rope_factor, p->rope_low_freq_factor, p->rope_high_freq_factor,
                         p->rope_original_context};
    float *f = malloc(sizeof(float) * (size_t)(p->head_dim / 2));
    if (!f) return es_fail(err, "synth: out of memory");
    es_rope_llama3_factors(&s, p->rope_theta, p->head_dim, f);
    uint64_t ne[1] = {(uint64_t)(p->head_dim / 2)};
    int rc = gguf_writer_add_tensor(w, "rope_freqs.weight", ES_F32, 1, ne, f,
                                    sizeof(float) * ne[0]);
    free(f);
    return rc ? es_fail(err, "synth: out of memory adding rope_freqs.weight") : 0;
}

static int write_tensors(gguf_writer *w, const es_synth_params *p, int vocab_size,
                         es_error *err) {
    synth_tensor t;
    char name[64];
    synth_global_tensor(p, "token_embd", vocab_size, &t);
    if (add_gguf_tensor(w, &t, "token_embd.weight", synth_matrix_type(p, "token_embd", -1),
                        p->seed, err))
        return -1;
    for (int l = 0; l < p->n_layers; l++) {
        for (int i = 0; i < SYNTH_LAYER_TENSORS; i++) {
            const char *which = synth_layer_tensor(p, l, i, &t);
            snprintf(name, sizeof name, "blk.%d.%s.weight", l, which);
            es_dtype type = t.norm ? ES_F32 : synth_matrix_type(p, which, l);
            if (add_gguf_tensor(w, &t, name, type, p->seed, err)) return -1;
        }
    }
    synth_global_tensor(p, "output_norm", vocab_size, &t);
    if (add_gguf_tensor(w, &t, "output_norm.weight", ES_F32, p->seed, err)) return -1;
    synth_global_tensor(p, "output", vocab_size, &t);
    if (!p->tied_output && add_gguf_tensor(w, &t, "output.weight",
                                           synth_matrix_type(p, "output", -1), p->seed, err))
        return -1;
    if (p->rope_factor != 0 && add_rope_freqs(w, p, err)) return -1;
    return 0;
}

static int write_gguf(const es_synth_params *p, const char *out_path, es_error *err) {
    es_tokenizer *tok = p->vocab_path ? es_tokenizer_load(p->vocab_path, err)
                                      : es_tokenizer_synthetic(p->vocab_size, err);
    if (!tok) return -1;
    gguf_writer *w = gguf_writer_new();
    int vocab_size = es_tokenizer_vocab_size(tok);
    int rc = -1;
    if (!w) es_fail(err, "synth: out of memory");
    else if (write_config(w, p, vocab_size)) es_fail(err, "synth: out of memory");
    else if (es_tokenizer_write_gguf(tok, w, err)) {}
    else if (write_tensors(w, p, vocab_size, err)) {}
    else rc = gguf_writer_write(w, out_path, err);
    gguf_writer_free(w);
    es_tokenizer_free(tok);
    return rc;
}

/* ------------------------------------------------------------- shapes -- */

/* Shapes in the Hugging Face convention: rows = output width. */
void synth_global_tensor(const es_synth_params *p, const char *which, int64_t vocab_rows,
                         synth_tensor *t) {
    memset(t, 0, sizeof *t);
    snprintf(t->key, sizeof t->key, "%s.weight", which);
    t->cols = p->dim;
    t->rows = strcmp(which, "output_norm") == 0 ? 1 : vocab_rows;
    t->norm = t->rows == 1;
}

const char *synth_layer_tensor(const es_synth_params *p, int layer, int i, synth_tensor *t) {
    static const char *const which[SYNTH_LAYER_TENSORS] = {
        "attn_norm", "attn_q", "attn_k", "attn_v", "attn_output",
        "ffn_norm", "ffn_gate", "ffn_up", "ffn_down"};
    const int64_t q = (int64_t)p->n_heads * p->head_dim, kv = (int64_t)p->n_kv_heads * p->head_dim;
    const int64_t rows[SYNTH_LAYER_TENSORS] = {1, q, kv, kv, p->dim, 1, p->hidden_dim,
                                               p->hidden_dim, p->dim};
    const int64_t cols[SYNTH_LAYER_TENSORS] = {p->dim, p->dim, p->dim, p->dim, q, p->dim,
                                               p->dim, p->dim, p->hidden_dim};
    memset(t, 0, sizeof *t);
    snprintf(t->key, sizeof t->key, "blk.%d.%s.weight", layer, which[i]);
    t->rows = rows[i];
    t->cols = cols[i];
    t->norm = rows[i] == 1;
    t->head_dim = i == 1 || i == 2 ? p->head_dim : 0; /* Q and K: permuted for GGUF */
    return which[i];
}

int es_synth_write(const es_synth_params *p, const char *out_path, es_error *err) {
    const char *format = p->format ? p->format : "gguf";
    int safetensors = strcmp(format, "safetensors") == 0;
    if (!safetensors && strcmp(format, "gguf") != 0)
        return es_fail(err, "synth: unknown format '%s' (gguf or safetensors)", format);
    if (check_params(p, safetensors, err)) return -1;
    return safetensors ? synth_write_safetensors(p, out_path, err)
                       : write_gguf(p, out_path, err);
}
