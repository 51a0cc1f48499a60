/* `entroscope synth`: random-weight Llama models of any real shape, written
 * as GGUF, so that tests and benchmarks need no downloaded weights.
 *
 * Weights are drawn from N(0, 1/fan_in) (fan_in = the row length), which keeps
 * activations of order one through any depth; norm weights are 1. Every row
 * has its own generator, seeded from (seed, tensor, row), so the file is the
 * same for a given seed whatever the thread count, and rows are drawn in
 * parallel. The vocabulary is copied from a GGUF or tokenizer.json, or is a
 * small synthetic SentencePiece one. */
#include "entroscope.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/gguf_write.h"
#include "tensor/quant.h"
#include "tensor/tensor.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"
#include "util/rng.h"

typedef struct preset {
    const char *name;
    const char *what;
    es_synth_params p;
} preset;

/* Shapes of real models (from their published configs), plus small ones. */
static const preset presets[] = {
    {"tiny", "2 layers, dim 64, synthetic 512-token vocabulary",
     {64, 192, 2, 4, 2, 16, 512, 512, 10000.0f, 1e-5f, 1, "f32", NULL, 0}},
    {"stories260k", "the TinyStories 260K shape (dim 64, 5 layers, 8 heads, 4 KV heads)",
     {64, 172, 5, 8, 4, 8, 512, 512, 10000.0f, 1e-5f, 0, "f32", NULL, 0}},
    {"stories15m", "the TinyStories 15M shape (dim 288, 6 layers, 6 heads)",
     {288, 768, 6, 6, 6, 48, 32000, 256, 10000.0f, 1e-5f, 1, "f32", NULL, 0}},
    {"llama-3.2-1b", "Llama 3.2 1B (dim 2048, 16 layers, 32/8 heads, vocab 128256)",
     {2048, 8192, 16, 32, 8, 64, 128256, 131072, 500000.0f, 1e-5f, 1, "f16", NULL, 0}},
    {"llama-3.2-3b", "Llama 3.2 3B (dim 3072, 28 layers, 24/8 heads, head dim 128)",
     {3072, 8192, 28, 24, 8, 128, 128256, 131072, 500000.0f, 1e-5f, 1, "f16", NULL, 0}},
    {"llama-3.1-8b", "Llama 3.1 8B (dim 4096, 32 layers, 32/8 heads)",
     {4096, 14336, 32, 32, 8, 128, 128256, 131072, 500000.0f, 1e-5f, 0, "f16", NULL, 0}},
    {"llama-2-7b", "Llama 2 7B (dim 4096, 32 layers, 32 heads, vocab 32000)",
     {4096, 11008, 32, 32, 32, 128, 32000, 4096, 10000.0f, 1e-5f, 0, "f16", NULL, 0}},
};

int es_synth_preset(const char *name, es_synth_params *p, es_error *err) {
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++) {
        if (strcmp(presets[i].name, name) == 0) {
            *p = presets[i].p;
            return 0;
        }
    }
    char list[512] = "";
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++) {
        strcat(list, i ? ", " : "");
        strcat(list, presets[i].name);
    }
    return es_fail(err, "unknown preset '%s' (known: %s)", name, list);
}

void es_synth_list_presets(FILE *out) {
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++)
        fprintf(out, "  %-14s %s\n", presets[i].name, presets[i].what);
}

/* Standard normal by Box-Muller from a splitmix64 stream. */
static double normal(uint64_t *state) {
    *state = es_splitmix64(*state);
    double u1 = ((*state >> 11) + 1.0) * 0x1p-53; /* (0, 1] */
    *state = es_splitmix64(*state);
    double u2 = (*state >> 11) * 0x1p-53;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

static int check_shape(const es_synth_params *p, es_error *err) {
    if (p->dim <= 0 || p->hidden_dim <= 0 || p->n_layers <= 0 || p->n_heads <= 0 ||
        p->n_kv_heads <= 0 || p->head_dim <= 0 || p->context_length <= 0)
        return es_fail(err, "synth: every dimension must be positive");
    if (p->n_heads % p->n_kv_heads != 0)
        return es_fail(err, "synth: %d heads are not a multiple of %d KV heads", p->n_heads, p->n_kv_heads);
    if (p->head_dim % 2 != 0) return es_fail(err, "synth: head dim %d is odd (RoPE rotates pairs)", p->head_dim);
    int type = es_dtype_from_name(p->type ? p->type : "f32");
    if (type < 0 || !es_dtype_supported((uint32_t)type))
        return es_fail(err, "synth: unknown or unsupported type '%s' (f32, f16, bf16, q8_0, q4_0)", p->type);
    int64_t bs = es_dtype_block_size((uint32_t)type);
    int cols[3] = {p->dim, p->hidden_dim, p->n_heads * p->head_dim};
    const char *what[3] = {"dim", "hidden dim", "heads x head dim"};
    for (int i = 0; i < 3; i++)
        if (cols[i] % bs != 0)
            return es_fail(err, "synth: type %s needs rows of a multiple of %lld elements; %s %d is not",
                           p->type, (long long)bs, what[i], cols[i]);
    return 0;
}

/* Adds one tensor of `rows` rows of `cols` random values (or ones). */
static int add_tensor(gguf_writer *w, const char *name, uint32_t type, int64_t cols, int64_t rows,
                      int ones, uint64_t seed, es_error *err) {
    int64_t row_bytes = es_dtype_row_bytes(type, cols);
    size_t n_bytes = (size_t)row_bytes * (size_t)rows;
    uint8_t *data = malloc(n_bytes);
    if (!data) return es_fail(err, "synth: out of memory for %s (%zu bytes)", name, n_bytes);
    uint64_t tensor_seed = seed;
    for (const char *c = name; *c; c++) tensor_seed = es_splitmix64(tensor_seed ^ (uint8_t)*c);
    double scale = 1.0 / sqrt((double)cols);
    int failed = 0;
#pragma omp parallel
    {
        float *row = malloc(sizeof(float) * (size_t)cols);
        if (!row) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(static)
        for (int64_t r = 0; r < rows; r++) {
            if (!row) continue;
            uint64_t state = es_splitmix64(tensor_seed ^ (uint64_t)r * 0x9e3779b97f4a7c15ull);
            for (int64_t c = 0; c < cols; c++) row[c] = ones ? 1.0f : (float)(normal(&state) * scale);
            es_quantize_row((es_dtype)type, row, data + (size_t)r * (size_t)row_bytes, cols);
        }
        free(row);
    }
    int rc = failed ? es_fail(err, "synth: out of memory") : 0;
    uint64_t ne[2] = {(uint64_t)cols, (uint64_t)rows};
    if (rc == 0 && gguf_writer_add_tensor(w, name, type, rows == 1 ? 1 : 2, ne, data, n_bytes) != 0)
        rc = es_fail(err, "synth: out of memory adding %s", name);
    free(data);
    return rc;
}

static int write_config(gguf_writer *w, const es_synth_params *p, int vocab_size) {
    char name[128];
    snprintf(name, sizeof name, "entroscope synth (seed %llu)", (unsigned long long)p->seed);
    int rc = 0;
    rc |= gguf_writer_set_str(w, "general.architecture", "llama");
    rc |= gguf_writer_set_str(w, "general.name", name);
    rc |= gguf_writer_set_u32(w, "llama.context_length", (uint32_t)p->context_length);
    rc |= gguf_writer_set_u32(w, "llama.embedding_length", (uint32_t)p->dim);
    rc |= gguf_writer_set_u32(w, "llama.block_count", (uint32_t)p->n_layers);
    rc |= gguf_writer_set_u32(w, "llama.feed_forward_length", (uint32_t)p->hidden_dim);
    rc |= gguf_writer_set_u32(w, "llama.rope.dimension_count", (uint32_t)p->head_dim);
    rc |= gguf_writer_set_u32(w, "llama.attention.head_count", (uint32_t)p->n_heads);
    rc |= gguf_writer_set_u32(w, "llama.attention.head_count_kv", (uint32_t)p->n_kv_heads);
    rc |= gguf_writer_set_u32(w, "llama.attention.key_length", (uint32_t)p->head_dim);
    rc |= gguf_writer_set_u32(w, "llama.attention.value_length", (uint32_t)p->head_dim);
    rc |= gguf_writer_set_f32(w, "llama.attention.layer_norm_rms_epsilon", p->rms_eps);
    rc |= gguf_writer_set_f32(w, "llama.rope.freq_base", p->rope_theta);
    rc |= gguf_writer_set_u32(w, "llama.vocab_size", (uint32_t)vocab_size);
    return rc ? -1 : 0;
}

static int write_tensors(gguf_writer *w, const es_synth_params *p, int vocab_size, es_error *err) {
    uint32_t type = (uint32_t)es_dtype_from_name(p->type ? p->type : "f32");
    int q_dim = p->n_heads * p->head_dim, kv_dim = p->n_kv_heads * p->head_dim;
    uint64_t s = p->seed;
    if (add_tensor(w, "token_embd.weight", type, p->dim, vocab_size, 0, s, err)) return -1;
    for (int l = 0; l < p->n_layers; l++) {
        struct { const char *suffix; int64_t cols, rows; int f32_ones; } t[] = {
            {"attn_norm", p->dim, 1, 1},          {"attn_q", p->dim, q_dim, 0},
            {"attn_k", p->dim, kv_dim, 0},        {"attn_v", p->dim, kv_dim, 0},
            {"attn_output", q_dim, p->dim, 0},    {"ffn_norm", p->dim, 1, 1},
            {"ffn_gate", p->dim, p->hidden_dim, 0}, {"ffn_up", p->dim, p->hidden_dim, 0},
            {"ffn_down", p->hidden_dim, p->dim, 0},
        };
        for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
            char name[64];
            snprintf(name, sizeof name, "blk.%d.%s.weight", l, t[i].suffix);
            if (add_tensor(w, name, t[i].f32_ones ? ES_F32 : type, t[i].cols, t[i].rows, t[i].f32_ones, s, err))
                return -1;
        }
    }
    if (add_tensor(w, "output_norm.weight", ES_F32, p->dim, 1, 1, s, err)) return -1;
    if (!p->tied_output && add_tensor(w, "output.weight", type, p->dim, vocab_size, 0, s, err)) return -1;
    return 0;
}

int es_synth_write(const es_synth_params *p, const char *out_path, es_error *err) {
    if (check_shape(p, err)) return -1;
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
