/* The model object: es_model_load picks a loader: a folder is a Hugging
 * Face checkpoint (hf_model.c), a file is GGUF by its first bytes, else a
 * llama2.c checkpoint; and every loader ends in the
 * same checks of the config and of each tensor's shape and type, so that a
 * bad file fails here, with one line naming the file and the tensor, and
 * never later inside the forward pass. Also: the in-memory constructor used
 * by the tests, the GGUF loader, and the `info` report. */
#include "model/model.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "model/safetensors.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"

/* Limits that keep every size product inside an int (per matrix dimension)
 * and a size_t (per buffer), far above any real Llama. */
#define MAX_WIDTH (1 << 20)    /* dim, hidden_dim, n_heads * head_dim */
#define MAX_LAYERS 4096
#define MAX_HEAD_DIM 16384
#define MAX_VOCAB (1 << 24)
#define MAX_CONTEXT (1 << 26)

/* ------------------------------------------------------------- checks -- */

int es_config_check(const es_config *c, const char *name, es_error *err) {
    if (c->dim <= 0 || c->dim > MAX_WIDTH)
        return es_fail(err, "%s: dim %d is out of range (1..%d)", name, c->dim, MAX_WIDTH);
    if (c->hidden_dim <= 0 || c->hidden_dim > MAX_WIDTH)
        return es_fail(err, "%s: hidden_dim %d is out of range (1..%d)", name,
                       c->hidden_dim, MAX_WIDTH);
    if (c->n_layers <= 0 || c->n_layers > MAX_LAYERS)
        return es_fail(err, "%s: n_layers %d is out of range (1..%d)", name,
                       c->n_layers, MAX_LAYERS);
    if (c->n_heads <= 0 || c->n_kv_heads <= 0)
        return es_fail(err, "%s: n_heads %d and n_kv_heads %d must be positive", name,
                       c->n_heads, c->n_kv_heads);
    if (c->n_heads % c->n_kv_heads != 0)
        return es_fail(err, "%s: n_heads %d is not a multiple of n_kv_heads %d", name,
                       c->n_heads, c->n_kv_heads);
    if (c->head_dim <= 0 || c->head_dim > MAX_HEAD_DIM || c->head_dim % 2 != 0)
        return es_fail(err, "%s: head_dim %d must be even and in 2..%d", name,
                       c->head_dim, MAX_HEAD_DIM);
    if ((int64_t)c->n_heads * c->head_dim > MAX_WIDTH)
        return es_fail(err, "%s: n_heads %d * head_dim %d is too large", name,
                       c->n_heads, c->head_dim);
    if (c->vocab_size <= 0 || c->vocab_size > MAX_VOCAB)
        return es_fail(err, "%s: vocab_size %d is out of range (1..%d)", name,
                       c->vocab_size, MAX_VOCAB);
    if (c->context_length <= 0 || c->context_length > MAX_CONTEXT)
        return es_fail(err, "%s: context_length %d is out of range (1..%d)", name,
                       c->context_length, MAX_CONTEXT);
    if (!(c->rms_eps > 0 && c->rms_eps < 1))
        return es_fail(err, "%s: rms_eps %g is out of range (0..1)", name, c->rms_eps);
    if (!(c->rope_theta > 0 && isfinite(c->rope_theta)))
        return es_fail(err, "%s: rope_theta %g must be positive", name, c->rope_theta);
    if (c->rope_layout != ES_ROPE_ADJACENT && c->rope_layout != ES_ROPE_HALF)
        return es_fail(err, "%s: unknown rope layout %d", name, (int)c->rope_layout);
    return 0;
}

/* "F32, F16, Q4_0, ...": the types es_dtype_supported accepts, for messages. */
static void supported_types(char *buf, size_t size) {
    size_t used = 0;
    buf[0] = '\0';
    for (uint32_t t = 0; t < 64; t++) {
        if (!es_dtype_supported(t)) continue;
        int n = snprintf(buf + used, size - used, "%s%s", used ? ", " : "", es_dtype_name(t));
        if (n < 0 || (size_t)n >= size - used) break;
        used += (size_t)n;
    }
}

int es_tensor_check(const es_tensor *t, const char *file, const char *tensor,
                    int64_t ne0, int64_t ne1, int need_f32, es_error *err) {
    if (t->ne[0] != ne0 || t->ne[1] != ne1)
        return es_fail(err, "%s: tensor %s has shape [%lld, %lld], expected [%lld, %lld]",
                       file, tensor, (long long)t->ne[0], (long long)t->ne[1],
                       (long long)ne0, (long long)ne1);
    if (!es_dtype_supported(t->type)) {
        char types[128];
        supported_types(types, sizeof types);
        return es_fail(err, "%s: tensor %s has type %s, not supported (%s)", file, tensor,
                       es_dtype_name(t->type), types);
    }
    if (need_f32 && t->type != ES_F32)
        return es_fail(err, "%s: tensor %s has type %s, but norm weights must be F32",
                       file, tensor, es_dtype_name(t->type));
    if (es_dtype_row_bytes(t->type, ne0) < 0)
        return es_fail(err, "%s: tensor %s has rows of %lld elements, not a multiple of "
                       "the %s block size %lld", file, tensor, (long long)ne0,
                       es_dtype_name(t->type), (long long)es_dtype_block_size(t->type));
    if (!t->data) return es_fail(err, "%s: tensor %s has no data", file, tensor);
    /* the forward pass reads F32 tensors (the norms) as float arrays; a GGUF
     * with general.alignment 1 or 2 could misplace them */
    if (t->type == ES_F32 && (uintptr_t)t->data % sizeof(float) != 0)
        return es_fail(err, "%s: tensor %s is F32 but its data is not 4-byte aligned",
                       file, tensor);
    return 0;
}

const char *es_tensor_name(char *buf, size_t size, int layer, const char *which) {
    if (layer < 0) snprintf(buf, size, "%s.weight", which);
    else snprintf(buf, size, "blk.%d.%s.weight", layer, which);
    return buf;
}

int es_weights_check(const es_config *c, const es_weights *w, const char *file,
                     es_error *err) {
    const int64_t q_dim = (int64_t)c->n_heads * c->head_dim;
    const int64_t kv_dim = (int64_t)c->n_kv_heads * c->head_dim;
    char name[64];
#define CHECK_TENSOR(t, layer, which, ne0, ne1, f32)                                \
    if (es_tensor_check(&(t), file, es_tensor_name(name, sizeof name, layer, which), \
                        ne0, ne1, f32, err) < 0) return -1
    CHECK_TENSOR(w->token_embd, -1, "token_embd", c->dim, c->vocab_size, 0);
    CHECK_TENSOR(w->output_norm, -1, "output_norm", c->dim, 1, 1);
    CHECK_TENSOR(w->output, -1, "output", c->dim, c->vocab_size, 0);
    for (int l = 0; l < c->n_layers; l++) {
        const es_layer_weights *L = &w->layers[l];
        CHECK_TENSOR(L->attn_norm, l, "attn_norm", c->dim, 1, 1);
        CHECK_TENSOR(L->wq, l, "attn_q", c->dim, q_dim, 0);
        CHECK_TENSOR(L->wk, l, "attn_k", c->dim, kv_dim, 0);
        CHECK_TENSOR(L->wv, l, "attn_v", c->dim, kv_dim, 0);
        CHECK_TENSOR(L->wo, l, "attn_output", q_dim, c->dim, 0);
        CHECK_TENSOR(L->ffn_norm, l, "ffn_norm", c->dim, 1, 1);
        CHECK_TENSOR(L->w_gate, l, "ffn_gate", c->dim, c->hidden_dim, 0);
        CHECK_TENSOR(L->w_up, l, "ffn_up", c->dim, c->hidden_dim, 0);
        CHECK_TENSOR(L->w_down, l, "ffn_down", c->hidden_dim, c->dim, 0);
    }
    if (w->rope_freqs.data) {
        CHECK_TENSOR(w->rope_freqs, -1, "rope_freqs", c->head_dim / 2, 1, 1);
        const float *f = w->rope_freqs.data;
        for (int i = 0; i < c->head_dim / 2; i++)
            if (!(f[i] > 0 && isfinite(f[i])))
                return es_fail(err, "%s: rope_freqs.weight[%d] = %g is not a positive "
                               "frequency divisor", file, i, f[i]);
    }
#undef CHECK_TENSOR
    return 0;
}

/* The tokenizer must cover exactly the embedding's rows. */
/* The tokenizer must cover the model's vocabulary exactly, except that it
 * may have special tokens beyond it that the model has no rows for (Llama
 * 3.2 Vision's <|image|>, id 128,256): they never come out of the model,
 * and es_context_eval refuses them as input. */
static int check_vocab(const es_model *m, es_error *err) {
    if (!m->tokenizer) return 0;
    int n = es_tokenizer_vocab_size(m->tokenizer), vocab = m->config.vocab_size;
    int extra_special = n > vocab;
    for (int32_t id = vocab; id < n && extra_special; id++)
        extra_special = es_tokenizer_is_special(m->tokenizer, id);
    if (n != vocab && !extra_special)
        return es_fail(err, "%s: the tokenizer has %d tokens but the model's vocabulary "
                       "has %d", m->path, n, vocab);
    return 0;
}

/* ------------------------------------------------------- constructors -- */

static es_model *model_alloc(const char *path, const char *format) {
    es_model *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->path = strdup(path);
    m->name = strdup("");
    snprintf(m->format, sizeof m->format, "%s", format);
    if (!m->path || !m->name) {
        es_model_free(m);
        return NULL;
    }
    return m;
}

es_model *es_model_from_tensors(const es_config *cfg, const es_weights *w,
                                es_tokenizer *tok, es_error *err) {
    es_model *m = model_alloc("memory", "memory");
    if (!m) {
        es_tokenizer_free(tok);
        es_fail(err, "memory: out of memory");
        return NULL;
    }
    m->tokenizer = tok;
    m->config = *cfg;
    if (es_config_check(cfg, m->path, err) < 0) goto fail;
    m->weights = *w;
    m->weights.layers = malloc((size_t)cfg->n_layers * sizeof *w->layers);
    if (!m->weights.layers) {
        es_fail(err, "memory: out of memory");
        goto fail;
    }
    memcpy(m->weights.layers, w->layers, (size_t)cfg->n_layers * sizeof *w->layers);
    m->tied_output = w->output.data == w->token_embd.data;
    if (es_weights_check(cfg, &m->weights, m->path, err) < 0) goto fail;
    if (check_vocab(m, err) < 0) goto fail;
    return m;
fail:
    es_model_free(m);
    return NULL;
}

/* A folder: config.json, tokenizer.json and safetensors shards. */
static es_model *load_folder(const char *dir, const char *tokenizer_path, es_error *err) {
    es_model *m = model_alloc(dir, "safetensors");
    if (!m) {
        es_fail(err, "%s: out of memory", dir);
        return NULL;
    }
    if (es_model_load_hf(m, dir, tokenizer_path, err) < 0 || check_vocab(m, err) < 0) {
        es_model_free(m);
        return NULL;
    }
    return m;
}

es_model *es_model_load(const char *model_path, const char *tokenizer_path,
                        es_error *err) {
    struct stat sb;
    if (stat(model_path, &sb) == 0 && S_ISDIR(sb.st_mode))
        return load_folder(model_path, tokenizer_path, err);
    uint8_t magic[4] = {0};
    FILE *fp = fopen(model_path, "rb");
    if (!fp) {
        es_fail(err, "%s: cannot open: %s", model_path, strerror(errno));
        return NULL;
    }
    size_t got = fread(magic, 1, sizeof magic, fp);
    fclose(fp);
    int is_gguf = gguf_has_magic(magic, got);
    es_model *m = model_alloc(model_path, is_gguf ? "GGUF" : "llama2.c");
    if (!m) {
        es_fail(err, "%s: out of memory", model_path);
        return NULL;
    }
    int rc = is_gguf ? es_model_load_gguf(m, model_path, tokenizer_path, err)
                     : es_model_load_llama2c(m, model_path, tokenizer_path, err);
    if (rc == 0) rc = check_vocab(m, err);
    if (rc < 0) {
        es_model_free(m);
        return NULL;
    }
    return m;
}

void es_model_free(es_model *m) {
    if (!m) return;
    es_tokenizer_free(m->tokenizer);
    free(m->weights.layers);
    if (m->has_gguf) gguf_close(&m->gguf);
    es_file_map_close(&m->file_map);
    es_st_free(m->safetensors);
    free(m->owned);
    free(m->path);
    free(m->name);
    free(m);
}

/* ---------------------------------------------------------------- GGUF -- */

/* An integer key that must fit in an int. Returns 0, 1 (absent), or -1. */
static int gguf_int(const gguf_file *f, const char *key, int required, int *out,
                    es_error *err) {
    uint32_t v;
    int rc = gguf_get_u32(f, key, &v, err);
    if (rc < 0) return -1;
    if (rc == 1) return required ? es_fail(err, "%s: missing key %s", f->path, key) : 1;
    if (v > INT_MAX) return es_fail(err, "%s: key %s: %u is too large", f->path, key, v);
    *out = (int)v;
    return 0;
}

static int gguf_config(const gguf_file *f, const es_tokenizer *tok, es_config *c,
                       es_error *err) {
    int has_key_length = 0, rope_dims = 0;
    memset(c, 0, sizeof *c);
    if (gguf_int(f, "llama.embedding_length", 1, &c->dim, err) < 0 ||
        gguf_int(f, "llama.feed_forward_length", 1, &c->hidden_dim, err) < 0 ||
        gguf_int(f, "llama.block_count", 1, &c->n_layers, err) < 0 ||
        gguf_int(f, "llama.attention.head_count", 1, &c->n_heads, err) < 0 ||
        gguf_int(f, "llama.context_length", 1, &c->context_length, err) < 0)
        return -1;
    if (c->n_heads <= 0 || c->dim <= 0)
        return es_fail(err, "%s: embedding_length %d and head_count %d must be positive",
                       f->path, c->dim, c->n_heads);
    c->n_kv_heads = c->n_heads;
    c->head_dim = c->dim / c->n_heads;
    c->vocab_size = tok ? es_tokenizer_vocab_size(tok) : 0;
    c->rms_eps = 1e-5f;
    c->rope_theta = 10000.0f;
    c->rope_layout = ES_ROPE_ADJACENT;
    int rc = gguf_int(f, "llama.attention.key_length", 0, &c->head_dim, err);
    if (rc < 0) return -1;
    has_key_length = rc == 0;
    if (!has_key_length && c->dim % c->n_heads != 0)
        return es_fail(err, "%s: llama.attention.head_count %d does not divide "
                       "llama.embedding_length %d", f->path, c->n_heads, c->dim);
    if (gguf_int(f, "llama.attention.head_count_kv", 0, &c->n_kv_heads, err) < 0 ||
        gguf_int(f, "llama.vocab_size", 0, &c->vocab_size, err) < 0 ||
        gguf_get_f32(f, "llama.attention.layer_norm_rms_epsilon", &c->rms_eps, err) < 0 ||
        gguf_get_f32(f, "llama.rope.freq_base", &c->rope_theta, err) < 0)
        return -1;
    rope_dims = c->head_dim;
    if (gguf_int(f, "llama.rope.dimension_count", 0, &rope_dims, err) < 0) return -1;
    if (rope_dims != c->head_dim)
        return es_fail(err, "%s: llama.rope.dimension_count %d differs from the head "
                       "dimension %d (partial rotary embeddings are not supported)",
                       f->path, rope_dims, c->head_dim);
    return es_config_check(c, f->path, err);
}

/* Fills t from the GGUF tensor `name`; 1 if it is absent and optional. */
static int gguf_tensor(const gguf_file *f, const char *name, int optional, es_tensor *t,
                       es_error *err) {
    const gguf_tensor_info *ti = gguf_find_tensor(f, name);
    if (!ti) return optional ? 1 : es_fail(err, "%s: tensor %s is missing", f->path, name);
    /* trailing dimensions of 1 are harmless; anything else is not a matrix */
    if (ti->n_dims > 2 && (ti->ne[2] != 1 || ti->ne[3] != 1))
        return es_fail(err, "%s: tensor %s has shape [%llu, %llu, %llu, %llu], expected "
                       "1 or 2 dimensions", f->path, name, (unsigned long long)ti->ne[0],
                       (unsigned long long)ti->ne[1], (unsigned long long)ti->ne[2],
                       (unsigned long long)ti->ne[3]);
    t->type = (es_dtype)ti->type;
    t->ne[0] = (int64_t)ti->ne[0];
    t->ne[1] = (int64_t)ti->ne[1];
    t->data = ti->data;
    return 0;
}

static int gguf_weights(es_model *m, es_error *err) {
    const gguf_file *f = &m->gguf;
    es_weights *w = &m->weights;
    char name[64];
    static const char *const which[9] = {"attn_norm", "attn_q", "attn_k", "attn_v",
                                         "attn_output", "ffn_norm", "ffn_gate",
                                         "ffn_up", "ffn_down"};
    w->layers = calloc((size_t)m->config.n_layers, sizeof *w->layers);
    if (!w->layers) return es_fail(err, "%s: out of memory", m->path);
    if (gguf_tensor(f, "token_embd.weight", 0, &w->token_embd, err) < 0 ||
        gguf_tensor(f, "output_norm.weight", 0, &w->output_norm, err) < 0)
        return -1;
    int rc = gguf_tensor(f, "output.weight", 1, &w->output, err);
    if (rc < 0) return -1;
    m->tied_output = rc == 1;
    if (m->tied_output) w->output = w->token_embd;
    if (w->token_embd.ne[1] != m->config.vocab_size)
        return es_fail(err, "%s: the vocabulary has %d tokens but token_embd.weight has "
                       "%lld rows", m->path, m->config.vocab_size,
                       (long long)w->token_embd.ne[1]);
    for (int l = 0; l < m->config.n_layers; l++) {
        es_layer_weights *L = &w->layers[l];
        es_tensor *dst[9] = {&L->attn_norm, &L->wq, &L->wk, &L->wv, &L->wo,
                             &L->ffn_norm, &L->w_gate, &L->w_up, &L->w_down};
        for (int i = 0; i < 9; i++)
            if (gguf_tensor(f, es_tensor_name(name, sizeof name, l, which[i]), 0, dst[i],
                            err) < 0)
                return -1;
    }
    /* llama.cpp's converter stores llama3 RoPE scaling only as this tensor */
    rc = gguf_tensor(f, "rope_freqs.weight", 1, &w->rope_freqs, err);
    if (rc < 0) return -1;
    if (rc == 1) memset(&w->rope_freqs, 0, sizeof w->rope_freqs);
    return es_weights_check(&m->config, w, m->path, err);
}

int es_model_load_gguf(es_model *m, const char *path, const char *tokenizer_path,
                       es_error *err) {
    gguf_str arch, name;
    if (gguf_open(&m->gguf, path, err) < 0) return -1;
    m->has_gguf = 1;
    const gguf_file *f = &m->gguf;
    snprintf(m->format, sizeof m->format, "GGUF v%u", f->version);
    if (f->n_tensors == 0)
        return es_fail(err, "%s: has no tensors (a vocabulary-only GGUF): it can tokenize "
                       "but not generate", path);
    int rc = gguf_get_str(f, "general.architecture", &arch, err);
    if (rc < 0) return -1;
    if (rc == 1) return es_fail(err, "%s: missing key general.architecture", path);
    if (!gguf_str_eq(arch, "llama"))
        return es_fail(err, "%s: unsupported architecture '%s' (only llama)", path,
                       es_show(arch.ptr, (size_t)arch.len).text);
    rc = gguf_get_str(f, "general.name", &name, err);
    if (rc < 0) return -1;
    if (rc == 0) {
        free(m->name);
        m->name = strndup(name.ptr, name.len > 256 ? 256 : name.len);
        if (!m->name) return es_fail(err, "%s: out of memory", path);
    }
    m->tokenizer = tokenizer_path ? es_tokenizer_load(tokenizer_path, err)
                                  : es_tokenizer_from_gguf(f, err);
    if (!m->tokenizer) return -1;
    if (gguf_config(f, m->tokenizer, &m->config, err) < 0) return -1;
    return gguf_weights(m, err);
}

/* ---------------------------------------------------------------- info -- */

/* Calls fn on each distinct tensor (a tied classifier once). */
static void each_tensor(const es_model *m, void (*fn)(const es_tensor *, void *), void *arg) {
    const es_weights *w = &m->weights;
    fn(&w->token_embd, arg);
    fn(&w->output_norm, arg);
    if (!m->tied_output) fn(&w->output, arg);
    for (int l = 0; l < m->config.n_layers; l++) {
        const es_layer_weights *L = &w->layers[l];
        const es_tensor *all[9] = {&L->attn_norm, &L->wq, &L->wk, &L->wv, &L->wo,
                                   &L->ffn_norm, &L->w_gate, &L->w_up, &L->w_down};
        for (int i = 0; i < 9; i++) fn(all[i], arg);
    }
}

typedef struct tensor_totals {
    uint64_t n_params, bytes;
    uint64_t count_by_type[64], bytes_by_type[64];
} tensor_totals;

static void add_tensor(const es_tensor *t, void *arg) {
    tensor_totals *s = arg;
    uint64_t bytes = (uint64_t)es_tensor_row_bytes(t) * (uint64_t)t->ne[1];
    s->n_params += (uint64_t)t->ne[0] * (uint64_t)t->ne[1];
    s->bytes += bytes;
    if ((unsigned)t->type < 64) {
        s->count_by_type[t->type]++;
        s->bytes_by_type[t->type] += bytes;
    }
}

void es_model_get_info(const es_model *m, es_model_info *info) {
    tensor_totals s;
    memset(&s, 0, sizeof s);
    each_tensor(m, add_tensor, &s);
    const es_config *c = &m->config;
    *info = (es_model_info){
        .path = m->path, .format = m->format, .architecture = "llama",
        .name = m->name, .dim = c->dim, .hidden_dim = c->hidden_dim,
        .n_layers = c->n_layers, .n_heads = c->n_heads, .n_kv_heads = c->n_kv_heads,
        .head_dim = c->head_dim, .vocab_size = c->vocab_size,
        .context_length = c->context_length, .rms_eps = c->rms_eps,
        .rope_theta = c->rope_theta, .tied_output = m->tied_output,
        .n_params = s.n_params, .weight_bytes = s.bytes,
    };
}

const es_tokenizer *es_model_tokenizer(const es_model *m) { return m->tokenizer; }

/* "1.23 M" style: three significant digits and an SI suffix. */
static const char *human(char *buf, size_t size, double v, const char *unit) {
    static const char *const si[] = {"", " K", " M", " G", " T"};
    int i = 0;
    while (v >= 1000 && i < 4) {
        v /= 1000;
        i++;
    }
    snprintf(buf, size, "%.*f%s%s", i ? 2 : 0, v, si[i], unit);
    return buf;
}

/* llama3 parameters from config.json, or the range of a GGUF's rope_freqs. */
static void print_rope_scaling(const es_model *m, FILE *out) {
    const es_rope_scaling *s = &m->config.rope_scaling;
    const es_tensor *f = &m->weights.rope_freqs;
    if (s->llama3) {
        fprintf(out, "rope scaling    llama3: factor %g, low_freq_factor %g, high_freq_factor "
                "%g, original context %d\n", s->factor, s->low_freq_factor,
                s->high_freq_factor, s->original_context);
    } else if (f->data) {
        const float *v = f->data;
        float lo = v[0], hi = v[0];
        for (int64_t i = 1; i < f->ne[0]; i++) {
            lo = v[i] < lo ? v[i] : lo;
            hi = v[i] > hi ? v[i] : hi;
        }
        fprintf(out, "rope scaling    rope_freqs.weight: %lld frequency divisors, %g to %g\n",
                (long long)f->ne[0], lo, hi);
    } else {
        fprintf(out, "rope scaling    none\n");
    }
}

void es_model_print_info(const es_model *m, FILE *out) {
    es_model_info in;
    tensor_totals s;
    char a[32], b[32];
    es_model_get_info(m, &in);
    memset(&s, 0, sizeof s);
    each_tensor(m, add_tensor, &s);
    fprintf(out, "file            %s\n", in.path);
    fprintf(out, "format          %s\n", in.format);
    fprintf(out, "architecture    %s\n", in.architecture);
    fprintf(out, "name            %s\n", in.name[0] ? in.name : "(none)");
    fprintf(out, "shape           dim %d, hidden %d, layers %d, heads %d, kv heads %d, "
            "head dim %d\n", in.dim, in.hidden_dim, in.n_layers, in.n_heads,
            in.n_kv_heads, in.head_dim);
    fprintf(out, "context         %d positions (trained)\n", in.context_length);
    fprintf(out, "rope theta      %g (%s pairs)\n", in.rope_theta,
            m->config.rope_layout == ES_ROPE_HALF ? "half-split" : "adjacent");
    print_rope_scaling(m, out);
    fprintf(out, "rms eps         %g\n", in.rms_eps);
    if (m->vision)
        fprintf(out, "vision          Llama 3.2 Vision, text path only: %d self-attention "
                "layers run, %d cross-attention layers skipped; image input is not "
                "supported\n", in.n_layers, m->n_cross_layers);
    if (m->tokenizer)
        fprintf(out, "vocabulary      %s, %d tokens, BOS %d, EOS %d\n",
                es_tokenizer_kind(m->tokenizer), es_tokenizer_vocab_size(m->tokenizer),
                (int)es_tokenizer_bos(m->tokenizer), es_tokenizer_eos(m->tokenizer));
    else
        fprintf(out, "vocabulary      (none), %d tokens\n", in.vocab_size);
    if (m->tokenizer) {
        const char *chat = es_chat_template_name(m->tokenizer);
        fprintf(out, "chat template   %s\n",
                chat ? chat : tok_chat_template(m->tokenizer) ? "present but not recognised (raw mode only)"
                                                             : "none (raw mode only)");
    }
    fprintf(out, "classifier      %s\n", in.tied_output ? "tied to token_embd" : "separate");
    fprintf(out, "parameters      %llu (%s)\n", (unsigned long long)in.n_params,
            human(a, sizeof a, (double)in.n_params, ""));
    fprintf(out, "weight bytes    %llu (%s)\n", (unsigned long long)in.weight_bytes,
            human(b, sizeof b, (double)in.weight_bytes, "B"));
    fprintf(out, "tensor types\n");
    for (int t = 0; t < 64; t++)
        if (s.count_by_type[t])
            fprintf(out, "  %-6s %5llu tensors %14llu bytes\n", es_dtype_name((uint32_t)t),
                    (unsigned long long)s.count_by_type[t],
                    (unsigned long long)s.bytes_by_type[t]);
}
