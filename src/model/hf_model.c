/* Hugging Face folders: config.json + tokenizer.json + model.safetensors (or
 * shards listed in model.safetensors.index.json), as researchers download
 * them. Two architectures:
 *   - LlamaForCausalLM (Llama 2/3/3.1/3.2): tensors model.*, lm_head.weight;
 *   - MllamaForConditionalGeneration (Llama 3.2 Vision): the language model
 *     under language_model.model.* and language_model.lm_head.weight, its
 *     config in text_config. Only the text path is loaded (see vision_layers).
 * Matrices (F32, F16 or BF16) are used in place from the mapped shards; the
 * norm vectors are converted to F32 (the forward pass reads them as floats)
 * and, with llama3 rope_scaling, the frequency factors are computed, both
 * into m->owned. Hugging Face checkpoints rotate dimension pairs (i, i+d/2),
 * so the model uses ES_ROPE_HALF and Q/K are taken as they are. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/model.h"
#include "model/safetensors.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"

#define HF_MAX_JSON ((size_t)64 << 20)
#define HF_MAX_INT 1000000000.0

/* What config.json says beyond es_config, and where the tensors live. */
typedef struct hf_config {
    es_config c;
    int tied;           /* tie_word_embeddings */
    int vision;         /* MllamaForConditionalGeneration */
    int n_total_layers; /* num_hidden_layers (Vision: self + cross-attention) */
    int *layer_map;     /* (c.n_layers) source index of each self-attention layer */
    int64_t embd_rows;  /* rows of the embedding: vocab_size (+8 for Vision) */
    const char *prefix; /* "model." or "language_model.model." */
    const char *lm_head;
} hf_config;

/* ---------------------------------------------------------------- JSON -- */

static int read_json(const char *path, cJSON **out, es_error *err) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return es_fail(err, "%s: cannot open: %s", path, strerror(errno));
    long size = fseek(fp, 0, SEEK_END) == 0 ? ftell(fp) : -1;
    if (size < 0 || (unsigned long)size > HF_MAX_JSON || fseek(fp, 0, SEEK_SET) != 0) {
        fclose(fp);
        return es_fail(err, "%s: not a readable file of at most %zu bytes", path, HF_MAX_JSON);
    }
    char *buf = malloc((size_t)size + 1);
    size_t n = buf ? fread(buf, 1, (size_t)size, fp) : 0;
    fclose(fp);
    if (!buf) return es_fail(err, "%s: out of memory", path);
    *out = cJSON_ParseWithLength(buf, n);
    if (!*out) {
        const char *at = cJSON_GetErrorPtr();
        size_t off = at && at >= buf && at <= buf + n ? (size_t)(at - buf) : 0;
        free(buf);
        return es_fail(err, "%s: invalid JSON near byte %zu", path, off);
    }
    free(buf);
    if (!cJSON_IsObject(*out)) {
        cJSON_Delete(*out);
        *out = NULL;
        return es_fail(err, "%s: not a JSON object", path);
    }
    return 0;
}

static const cJSON *member(const cJSON *o, const char *key) {
    return cJSON_GetObjectItemCaseSensitive(o, key);
}

/* An integer field in [lo, hi]; def (when not required) if absent or null. */
static int get_int(const cJSON *o, const char *key, int required, int def, int lo, int hi,
                   int *out, const char *path, es_error *err) {
    const cJSON *v = member(o, key);
    if (!v || cJSON_IsNull(v)) {
        if (required) return es_fail(err, "%s: missing %s", path, key);
        *out = def;
        return 0;
    }
    double d = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    if (!(d >= lo && d <= hi) || d != floor(d))
        return es_fail(err, "%s: %s must be a whole number in %d..%d", path, key, lo, hi);
    *out = (int)d;
    return 0;
}

/* A positive finite number; def if absent. */
static int get_float(const cJSON *o, const char *key, float def, float *out, const char *path,
                     es_error *err) {
    const cJSON *v = member(o, key);
    if (!v || cJSON_IsNull(v)) {
        *out = def;
        return 0;
    }
    if (!cJSON_IsNumber(v) || !(v->valuedouble > 0) || !isfinite((float)v->valuedouble))
        return es_fail(err, "%s: %s must be a positive number", path, key);
    *out = (float)v->valuedouble;
    return 0;
}

static int get_bool(const cJSON *o, const char *key, int def, int *out, const char *path,
                    es_error *err) {
    const cJSON *v = member(o, key);
    if (!v || cJSON_IsNull(v)) *out = def;
    else if (cJSON_IsBool(v)) *out = cJSON_IsTrue(v);
    else return es_fail(err, "%s: %s must be true or false", path, key);
    return 0;
}

/* ------------------------------------------------------------- config -- */

static int parse_rope_scaling(const cJSON *t, es_rope_scaling *s, const char *path,
                              es_error *err) {
    const cJSON *rs = member(t, "rope_scaling");
    memset(s, 0, sizeof *s);
    if (!rs || cJSON_IsNull(rs)) return 0;
    if (!cJSON_IsObject(rs)) return es_fail(err, "%s: rope_scaling is not an object", path);
    const cJSON *type = member(rs, "rope_type");
    if (!type) type = member(rs, "type");
    const char *name = cJSON_IsString(type) ? type->valuestring : "(none)";
    if (strcmp(name, "default") == 0) return 0;
    if (strcmp(name, "llama3") != 0)
        return es_fail(err, "%s: rope_scaling type '%s' is not supported (only llama3)", path,
                       es_show(name, strlen(name)).text);
    s->llama3 = 1;
    if (!member(rs, "factor")) return es_fail(err, "%s: rope_scaling has no factor", path);
    if (get_float(rs, "factor", 8.0f, &s->factor, path, err) < 0 ||
        get_float(rs, "low_freq_factor", 1.0f, &s->low_freq_factor, path, err) < 0 ||
        get_float(rs, "high_freq_factor", 4.0f, &s->high_freq_factor, path, err) < 0 ||
        get_int(rs, "original_max_position_embeddings", 0, 8192, 1, 1 << 26,
                &s->original_context, path, err) < 0)
        return -1;
    return es_rope_scaling_check(s, path, err);
}

/* Features of the config that this engine does not compute. */
static int check_unsupported(const cJSON *t, const char *path, es_error *err) {
    const cJSON *act = member(t, "hidden_act");
    if (act && !(cJSON_IsString(act) && strcmp(act->valuestring, "silu") == 0))
        return es_fail(err, "%s: hidden_act must be \"silu\"", path);
    static const char *const biases[] = {"attention_bias", "mlp_bias"};
    for (int i = 0; i < 2; i++)
        if (cJSON_IsTrue(member(t, biases[i])))
            return es_fail(err, "%s: %s is not supported", path, biases[i]);
    return 0;
}

/* bos_token_id / eos_token_id: an id or a list of ids, each in the vocabulary. */
static int check_special_ids(const cJSON *t, int64_t n_ids, const char *path, es_error *err) {
    static const char *const keys[] = {"bos_token_id", "eos_token_id"};
    for (int k = 0; k < 2; k++) {
        const cJSON *v = member(t, keys[k]);
        if (!v || cJSON_IsNull(v)) continue;
        const cJSON *one = cJSON_IsArray(v) ? v->child : v;
        for (; one; one = cJSON_IsArray(v) ? one->next : NULL) {
            double d = cJSON_IsNumber(one) ? one->valuedouble : -1;
            if (!(d >= 0 && d < (double)n_ids) || d != floor(d))
                return es_fail(err, "%s: %s must be ids below %lld", path, keys[k],
                               (long long)n_ids);
        }
    }
    return 0;
}

/* The self-attention layers in order, skipping text_config's
 * cross_attention_layers. Transformers' MllamaTextModel.forward `continue`s
 * past a layer whose index is in cross_attention_layers when there are no
 * cross_attention_states and no cached ones (modeling_mllama.py), which is
 * always the case for a prompt without an image: the text path is exactly
 * the self-attention layers applied in order. */
static int vision_layers(const cJSON *t, hf_config *h, const char *path, es_error *err) {
    const cJSON *cross = member(t, "cross_attention_layers");
    int n = h->n_total_layers, n_cross = 0;
    if (!cJSON_IsArray(cross))
        return es_fail(err, "%s: text_config.cross_attention_layers is missing", path);
    char *is_cross = calloc((size_t)n, 1);
    h->layer_map = malloc((size_t)n * sizeof *h->layer_map);
    if (!is_cross || !h->layer_map) {
        free(is_cross);
        return es_fail(err, "%s: out of memory", path);
    }
    for (const cJSON *c = cross->child; c; c = c->next) {
        double d = cJSON_IsNumber(c) ? c->valuedouble : -1;
        if (!(d >= 0 && d < n) || d != floor(d) || is_cross[(int)d]) {
            free(is_cross);
            return es_fail(err, "%s: cross_attention_layers must be distinct layer indices "
                           "below num_hidden_layers %d", path, n);
        }
        is_cross[(int)d] = 1;
        n_cross++;
    }
    h->c.n_layers = 0;
    for (int l = 0; l < n; l++)
        if (!is_cross[l]) h->layer_map[h->c.n_layers++] = l;
    free(is_cross);
    if (h->c.n_layers == 0)
        return es_fail(err, "%s: every layer is a cross-attention layer", path);
    return 0;
}

static int parse_text_config(const cJSON *t, hf_config *h, const char *path, es_error *err) {
    es_config *c = &h->c;
    const int big = (int)HF_MAX_INT;
    if (get_int(t, "hidden_size", 1, 0, 1, big, &c->dim, path, err) < 0 ||
        get_int(t, "intermediate_size", 1, 0, 1, big, &c->hidden_dim, path, err) < 0 ||
        get_int(t, "num_hidden_layers", 1, 0, 1, 4096, &h->n_total_layers, path, err) < 0 ||
        get_int(t, "num_attention_heads", 1, 0, 1, big, &c->n_heads, path, err) < 0 ||
        get_int(t, "num_key_value_heads", 0, c->n_heads, 1, big, &c->n_kv_heads, path,
                err) < 0 ||
        get_int(t, "vocab_size", 1, 0, 1, 1 << 24, &c->vocab_size, path, err) < 0 ||
        get_int(t, "max_position_embeddings", 0, 2048, 1, 1 << 26, &c->context_length, path,
                err) < 0)
        return -1;
    if (!member(t, "head_dim") && c->dim % c->n_heads != 0)
        return es_fail(err, "%s: num_attention_heads %d does not divide hidden_size %d", path,
                       c->n_heads, c->dim);
    if (get_int(t, "head_dim", 0, c->dim / c->n_heads, 2, 16384, &c->head_dim, path, err) < 0 ||
        get_float(t, "rms_norm_eps", 1e-6f, &c->rms_eps, path, err) < 0 ||
        get_float(t, "rope_theta", 10000.0f, &c->rope_theta, path, err) < 0 ||
        get_bool(t, "tie_word_embeddings", 0, &h->tied, path, err) < 0 ||
        parse_rope_scaling(t, &c->rope_scaling, path, err) < 0 ||
        check_unsupported(t, path, err) < 0)
        return -1;
    c->rope_layout = ES_ROPE_HALF;
    h->embd_rows = c->vocab_size + (h->vision ? 8 : 0); /* MllamaTextModel: vocab_size + 8 */
    if (check_special_ids(t, h->embd_rows, path, err) < 0) return -1;
    if (h->vision) {
        if (vision_layers(t, h, path, err) < 0) return -1;
    } else {
        c->n_layers = h->n_total_layers;
        h->layer_map = malloc((size_t)c->n_layers * sizeof *h->layer_map);
        if (!h->layer_map) return es_fail(err, "%s: out of memory", path);
        for (int l = 0; l < c->n_layers; l++) h->layer_map[l] = l;
    }
    return es_config_check(c, path, err);
}

static int parse_config(const char *path, hf_config *h, es_error *err) {
    cJSON *root = NULL;
    if (access(path, F_OK) != 0)
        return es_fail(err, "%s: missing (a Hugging Face model folder needs config.json)", path);
    if (read_json(path, &root, err) < 0) return -1;
    const cJSON *archs = member(root, "architectures");
    const cJSON *arch = cJSON_IsArray(archs) ? archs->child : NULL;
    const cJSON *type = member(root, "model_type");
    const char *name = cJSON_IsString(arch) ? arch->valuestring
                       : cJSON_IsString(type) && strcmp(type->valuestring, "llama") == 0
                           ? "LlamaForCausalLM" : "(none)";
    int rc = 0;
    const cJSON *t = root;
    if (strcmp(name, "LlamaForCausalLM") == 0) {
        h->prefix = "model.";
        h->lm_head = "lm_head.weight";
    } else if (strcmp(name, "MllamaForConditionalGeneration") == 0) {
        h->vision = 1;
        h->prefix = "language_model.model.";
        h->lm_head = "language_model.lm_head.weight";
        t = member(root, "text_config");
        if (!cJSON_IsObject(t)) rc = es_fail(err, "%s: text_config is missing", path);
    } else {
        rc = es_fail(err, "%s: unsupported architecture '%s' (LlamaForCausalLM or "
                     "MllamaForConditionalGeneration)", path, es_show(name, strlen(name)).text);
    }
    if (rc == 0) rc = parse_text_config(t, h, path, err);
    cJSON_Delete(root);
    return rc;
}

/* ------------------------------------------------------------- shards -- */

static char *join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* A shard name from the index: a plain file name inside the folder. */
static int shard_name_ok(const char *s) {
    return s[0] && s[0] != '.' && !strchr(s, '/') && strlen(s) < 256;
}

/* Adds every shard the index names once, then checks that each tensor the
 * index lists is in the shard it names. */
static int open_sharded(es_safetensors *st, const char *dir, const char *index_path,
                        es_error *err) {
    cJSON *root = NULL;
    if (read_json(index_path, &root, err) < 0) return -1;
    const cJSON *map = member(root, "weight_map");
    int rc = cJSON_IsObject(map) ? 0 : es_fail(err, "%s: weight_map is missing", index_path);
    for (const cJSON *e = rc == 0 ? map->child : NULL; e && rc == 0; e = e->next) {
        if (!cJSON_IsString(e) || !shard_name_ok(e->valuestring)) {
            rc = es_fail(err, "%s: weight_map[\"%s\"] is not a file name in the folder",
                         index_path, es_show(e->string, strlen(e->string)).text);
            break;
        }
        int seen = 0;
        for (const cJSON *p = map->child; p != e && !seen; p = p->next)
            seen = strcmp(p->valuestring, e->valuestring) == 0;
        if (seen) continue;
        char *shard = join(dir, e->valuestring);
        if (!shard) rc = es_fail(err, "%s: out of memory", index_path);
        else if (access(shard, F_OK) != 0)
            rc = es_fail(err, "%s: names shard %s, which is missing", index_path,
                         es_show(e->valuestring, strlen(e->valuestring)).text);
        else rc = es_st_add_file(st, shard, err);
        free(shard);
    }
    for (const cJSON *e = rc == 0 ? map->child : NULL; e && rc == 0; e = e->next) {
        const es_st_tensor *t = es_st_find(st, e->string);
        const char *file = t ? strrchr(t->file, '/') : NULL;
        if (!file || strcmp(file + 1, e->valuestring) != 0)
            rc = es_fail(err, "%s: names tensor %s in %s, which does not hold it", index_path,
                         es_show(e->string, strlen(e->string)).text,
                         es_show(e->valuestring, strlen(e->valuestring)).text);
    }
    cJSON_Delete(root);
    return rc;
}

static int open_shards(es_model *m, const char *dir, es_error *err) {
    m->safetensors = es_st_new();
    char *single = join(dir, "model.safetensors");
    char *index = join(dir, "model.safetensors.index.json");
    int rc;
    if (!m->safetensors || !single || !index) rc = es_fail(err, "%s: out of memory", dir);
    else if (access(index, F_OK) == 0) rc = open_sharded(m->safetensors, dir, index, err);
    else if (access(single, F_OK) == 0) rc = es_st_add_file(m->safetensors, single, err);
    else rc = es_fail(err, "%s: no model.safetensors or model.safetensors.index.json", dir);
    free(single);
    free(index);
    return rc;
}

/* ------------------------------------------------------------ tensors -- */

/* The tensor `name`, which must be 2-D [rows, cols] (or 1-D [cols] when
 * rows is 0) of a type the engine computes with. */
static const es_st_tensor *find_tensor(const es_model *m, const char *name, int64_t rows,
                                       int64_t cols, es_error *err) {
    const es_st_tensor *t = es_st_find(m->safetensors, name);
    if (!t) {
        es_fail(err, "%s: missing tensor \"%s\"", m->path, name);
        return NULL;
    }
    int want_dims = rows ? 2 : 1;
    if (t->n_dims != want_dims || t->shape[0] != (rows ? rows : cols) ||
        (rows && t->shape[1] != cols)) {
        char got[96] = "", want[48];
        for (int d = 0; d < t->n_dims && d < 4; d++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", d ? ", " : "",
                     (long long)t->shape[d]);
        if (rows) snprintf(want, sizeof want, "%lld, %lld", (long long)rows, (long long)cols);
        else snprintf(want, sizeof want, "%lld", (long long)cols);
        es_fail(err, "%s: tensor %s has shape [%s%s], expected [%s]", t->file, name, got,
                t->n_dims > 4 ? ", ..." : "", want);
        return NULL;
    }
    if (t->type < 0) {
        es_fail(err, "%s: tensor %s has dtype %s, not supported (F32, F16, BF16)", t->file,
                name, t->dtype);
        return NULL;
    }
    if ((uintptr_t)t->data % (size_t)es_st_dtype_size(t->dtype) != 0) {
        es_fail(err, "%s: tensor %s (%s) is not aligned to its element size in the file",
                t->file, name, t->dtype);
        return NULL;
    }
    return t;
}

static int matrix(const es_model *m, const char *name, int64_t rows, int64_t cols,
                  es_tensor *out, es_error *err) {
    const es_st_tensor *t = find_tensor(m, name, rows, cols, err);
    if (!t) return -1;
    *out = (es_tensor){.type = (es_dtype)t->type, .ne = {cols, rows}, .data = t->data};
    return 0;
}

/* A norm vector of n elements, converted to F32 at dst. */
static int norm_vector(const es_model *m, const char *name, int64_t n, float *dst,
                       es_tensor *out, es_error *err) {
    const es_st_tensor *t = find_tensor(m, name, 0, n, err);
    if (!t) return -1;
    const uint8_t *src = t->data;
    for (int64_t i = 0; i < n; i++) {
        uint16_t h;
        if (t->type == ES_F32) memcpy(&dst[i], src + 4 * i, 4);
        else {
            memcpy(&h, src + 2 * i, 2);
            dst[i] = t->type == ES_F16 ? es_f16_to_f32(h) : es_bf16_to_f32(h);
        }
    }
    *out = (es_tensor){.type = ES_F32, .ne = {n, 1}, .data = dst};
    return 0;
}

static int load_layer(es_model *m, const hf_config *h, int l, float *norms, es_error *err) {
    const es_config *c = &m->config;
    const int64_t q_dim = (int64_t)c->n_heads * c->head_dim;
    const int64_t kv_dim = (int64_t)c->n_kv_heads * c->head_dim;
    es_layer_weights *L = &m->weights.layers[l];
    char n[9][160];
    static const char *const suffix[9] = {
        "input_layernorm", "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
        "self_attn.o_proj", "post_attention_layernorm", "mlp.gate_proj", "mlp.up_proj",
        "mlp.down_proj"};
    for (int i = 0; i < 9; i++)
        snprintf(n[i], sizeof n[i], "%slayers.%d.%s.weight", h->prefix, h->layer_map[l],
                 suffix[i]);
    if (norm_vector(m, n[0], c->dim, norms, &L->attn_norm, err) < 0 ||
        matrix(m, n[1], q_dim, c->dim, &L->wq, err) < 0 ||
        matrix(m, n[2], kv_dim, c->dim, &L->wk, err) < 0 ||
        matrix(m, n[3], kv_dim, c->dim, &L->wv, err) < 0 ||
        matrix(m, n[4], c->dim, q_dim, &L->wo, err) < 0 ||
        norm_vector(m, n[5], c->dim, norms + c->dim, &L->ffn_norm, err) < 0 ||
        matrix(m, n[6], c->hidden_dim, c->dim, &L->w_gate, err) < 0 ||
        matrix(m, n[7], c->hidden_dim, c->dim, &L->w_up, err) < 0 ||
        matrix(m, n[8], c->dim, c->hidden_dim, &L->w_down, err) < 0)
        return -1;
    return 0;
}

static int load_weights(es_model *m, const hf_config *h, es_error *err) {
    const es_config *c = &m->config;
    es_weights *w = &m->weights;
    char name[160];
    /* F32 norms: 2 per layer + the final one; then the rope factors */
    size_t n_owned = (size_t)c->dim * (2 * (size_t)c->n_layers + 1) + (size_t)c->head_dim / 2;
    m->owned = malloc(n_owned * sizeof *m->owned);
    w->layers = calloc((size_t)c->n_layers, sizeof *w->layers);
    if (!m->owned || !w->layers) return es_fail(err, "%s: out of memory", m->path);
    snprintf(name, sizeof name, "%sembed_tokens.weight", h->prefix);
    if (matrix(m, name, h->embd_rows, c->dim, &w->token_embd, err) < 0) return -1;
    w->token_embd.ne[1] = c->vocab_size; /* Vision: the 8 extra rows are image tokens */
    for (int l = 0; l < c->n_layers; l++)
        if (load_layer(m, h, l, m->owned + (size_t)2 * l * c->dim, err) < 0) return -1;
    float *rest = m->owned + (size_t)2 * c->n_layers * c->dim;
    snprintf(name, sizeof name, "%snorm.weight", h->prefix);
    if (norm_vector(m, name, c->dim, rest, &w->output_norm, err) < 0) return -1;
    m->tied_output = h->tied;
    if (h->tied) w->output = w->token_embd;
    else if (matrix(m, h->lm_head, c->vocab_size, c->dim, &w->output, err) < 0) return -1;
    if (c->rope_scaling.llama3) {
        float *factors = rest + c->dim;
        es_rope_llama3_factors(&c->rope_scaling, c->rope_theta, c->head_dim, factors);
        w->rope_freqs = (es_tensor){.type = ES_F32, .ne = {c->head_dim / 2, 1}, .data = factors};
    }
    return es_weights_check(c, w, m->path, err);
}

/* ------------------------------------------------------------- loader -- */

static int load_tokenizer(es_model *m, const hf_config *h, const char *dir,
                          const char *tokenizer_path, es_error *err) {
    char *own = tokenizer_path ? NULL : join(dir, "tokenizer.json");
    const char *path = tokenizer_path ? tokenizer_path : own;
    int rc = 0;
    if (!path) rc = es_fail(err, "%s: out of memory", dir);
    else if (!tokenizer_path && access(path, F_OK) != 0)
        rc = es_fail(err, "%s: no tokenizer.json (name one with -z)", dir);
    else if (!(m->tokenizer = es_tokenizer_load_for(path, m->config.vocab_size, err))) rc = -1;
    free(own);
    return rc;
}

int es_model_load_hf(es_model *m, const char *dir, const char *tokenizer_path, es_error *err) {
    hf_config h;
    memset(&h, 0, sizeof h);
    char *config = join(dir, "config.json");
    int rc = config ? parse_config(config, &h, err) : es_fail(err, "%s: out of memory", dir);
    free(config);
    if (rc == 0) {
        m->config = h.c;
        m->vision = h.vision;
        m->n_cross_layers = h.n_total_layers - h.c.n_layers;
        snprintf(m->format, sizeof m->format, "safetensors");
        const char *base = strrchr(dir, '/');
        while (base && base[1] == '\0' && base > dir) { /* "folder/" */
            const char *p = base - 1;
            while (p > dir && *p != '/') p--;
            base = p;
        }
        free(m->name);
        m->name = strdup(base && *base == '/' ? base + 1 : dir);
        if (!m->name) rc = es_fail(err, "%s: out of memory", dir);
        else m->name[strcspn(m->name, "/")] = '\0';
    }
    if (rc == 0) rc = load_tokenizer(m, &h, dir, tokenizer_path, err);
    if (rc == 0) rc = open_shards(m, dir, err);
    if (rc == 0) rc = load_weights(m, &h, err);
    free(h.layer_map);
    return rc;
}
