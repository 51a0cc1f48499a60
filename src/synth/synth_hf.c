/* `entroscope synth --format safetensors`: a Hugging Face folder as the hub
 * serves it: config.json, tokenizer.json (copied from --vocab-from, with the
 * tokenizer_config.json beside it, or a small synthetic byte-level BPE one),
 * and model.safetensors. The weights are the ones the GGUF writer draws for
 * the same seed (synth.c), in the Hugging Face row order.
 *
 * Vision shapes (n_cross_layers > 0) are written as
 * MllamaForConditionalGeneration: the language model under language_model.*,
 * the embedding with 8 extra rows, and cross-attention layers (q/k/v/o,
 * q/k norms, the two tanh gates, the MLP) at the given indices. The vision
 * tower is left out: only the text path is ever loaded. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "model/safetensors.h"
#include "synth/synth.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"

static char *join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* The shortest decimal that reads back as the same float: 1e-05, not
 * 9.99999974737875e-06. */
static double tidy(float f) {
    char buf[32];
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)f);
        if ((float)strtod(buf, NULL) == f) break;
    }
    return strtod(buf, NULL);
}

static int write_json(const char *dir, const char *name, cJSON *root, es_error *err) {
    char *path = join(dir, name);
    char *text = root ? cJSON_Print(root) : NULL;
    int rc = !path || !text ? es_fail(err, "%s: out of memory", dir)
                            : es_write_file_atomic(path, text, strlen(text), err);
    free(text);
    free(path);
    return rc;
}

/* ---------------------------------------------------------- tokenizer -- */

/* UTF-8 of GPT-2's printable stand-in for byte b (byte-level BPE). */
static void byte_char(int b, char out[4]) {
    int printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174;
    int cp = b;
    if (!printable) {
        int k = 0; /* 256 + the rank of b among the unprintable bytes */
        for (int i = 0; i < b; i++)
            k += !((i >= 33 && i <= 126) || (i >= 161 && i <= 172) || i >= 174);
        cp = 256 + k;
    }
    if (cp < 0x80) { out[0] = (char)cp; out[1] = 0; }
    else { out[0] = (char)(0xC0 | cp >> 6); out[1] = (char)(0x80 | (cp & 63)); out[2] = 0; }
}

/* A byte-level BPE tokenizer.json of exactly n tokens: the 256 bytes, merges
 * of two printable characters, then <|begin_of_text|> and <|end_of_text|>. */
static cJSON *synthetic_tokenizer(int n, es_error *err) {
    const int n_pairs = n - 256 - 2, max_pairs = 95 * 95;
    if (n_pairs < 0 || n_pairs > max_pairs) {
        es_fail(err, "synth: a synthetic tokenizer.json has %d..%d tokens, not %d (use "
                "--vocab-from a tokenizer.json)", 258, 258 + max_pairs, n);
        return NULL;
    }
    cJSON *root = cJSON_CreateObject(), *model = cJSON_AddObjectToObject(root, "model");
    cJSON *vocab = cJSON_AddObjectToObject(model, "vocab");
    cJSON *merges = cJSON_AddArrayToObject(model, "merges");
    cJSON *added = cJSON_AddArrayToObject(root, "added_tokens");
    cJSON_AddStringToObject(model, "type", "BPE");
    cJSON_AddNullToObject(root, "normalizer");
    cJSON *pre = cJSON_AddObjectToObject(root, "pre_tokenizer");
    cJSON_AddStringToObject(pre, "type", "Split");
    cJSON_AddStringToObject(cJSON_AddObjectToObject(pre, "pattern"), "Regex", TOK_LLAMA3_REGEX);
    cJSON_AddStringToObject(pre, "behavior", "Isolated");
    char a[4], b[4], piece[8], merge[16];
    for (int i = 0; i < 256; i++) {
        byte_char(i, a);
        cJSON_AddNumberToObject(vocab, a, i);
    }
    for (int k = 0; k < n_pairs; k++) { /* printable ASCII 32..126, space as 'Ġ' */
        byte_char(32 + k / 95, a);
        byte_char(32 + k % 95, b);
        snprintf(piece, sizeof piece, "%s%s", a, b);
        snprintf(merge, sizeof merge, "%s %s", a, b);
        cJSON_AddNumberToObject(vocab, piece, 256 + k);
        cJSON_AddItemToArray(merges, cJSON_CreateString(merge));
    }
    static const char *const specials[2] = {"<|begin_of_text|>", "<|end_of_text|>"};
    for (int s = 0; s < 2; s++) {
        cJSON *t = cJSON_CreateObject();
        cJSON_AddNumberToObject(t, "id", n - 2 + s);
        cJSON_AddStringToObject(t, "content", specials[s]);
        cJSON_AddBoolToObject(t, "special", 1);
        cJSON_AddItemToArray(added, t);
        cJSON_AddNumberToObject(vocab, specials[s], n - 2 + s);
    }
    return root;
}

static int copy_file(const char *from, const char *to, es_error *err) {
    FILE *fp = fopen(from, "rb");
    if (!fp) return es_fail(err, "%s: cannot open: %s", from, strerror(errno));
    size_t cap = 1 << 20, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n, fp);
        if (n < cap) break;
        char *grown = realloc(buf, cap * 2);
        if (!grown) { free(buf); buf = NULL; break; }
        buf = grown;
        cap *= 2;
    }
    int bad = ferror(fp);
    fclose(fp);
    int rc = !buf ? es_fail(err, "%s: out of memory", from)
             : bad ? es_fail(err, "%s: read error", from)
                   : es_write_file_atomic(to, buf, n, err);
    free(buf);
    return rc;
}

/* Writes out_dir/tokenizer.json (and tokenizer_config.json when the source
 * has one beside it); returns the tokenizer, loaded back from the folder. */
static es_tokenizer *write_tokenizer(const es_synth_params *p, const char *dir, es_error *err) {
    char *dst = join(dir, "tokenizer.json");
    int rc = dst ? 0 : es_fail(err, "%s: out of memory", dir);
    if (rc == 0 && p->vocab_path) {
        es_tokenizer *check = es_tokenizer_from_json(p->vocab_path, err);
        rc = check ? 0 : -1;
        es_tokenizer_free(check);
        if (rc == 0) rc = copy_file(p->vocab_path, dst, err);
        const char *slash = strrchr(p->vocab_path, '/');
        size_t len = slash ? (size_t)(slash - p->vocab_path + 1) : 0;
        char *cfg = malloc(len + 32), *cfg_dst = join(dir, "tokenizer_config.json");
        if (cfg && cfg_dst && rc == 0) {
            snprintf(cfg, len + 32, "%.*stokenizer_config.json", (int)len, p->vocab_path);
            FILE *fp = fopen(cfg, "rb");
            if (fp) {
                fclose(fp);
                rc = copy_file(cfg, cfg_dst, err);
            }
        }
        free(cfg);
        free(cfg_dst);
    } else if (rc == 0) {
        cJSON *json = synthetic_tokenizer(p->vocab_size, err);
        rc = json ? write_json(dir, "tokenizer.json", json, err) : -1;
        cJSON_Delete(json);
    }
    es_tokenizer *tok = rc == 0 ? es_tokenizer_from_json(dst, err) : NULL;
    free(dst);
    return tok;
}

/* ------------------------------------------------------------- config -- */

static void add_text_config(cJSON *t, const es_synth_params *p, const es_tokenizer *tok,
                            int vocab) {
    cJSON_AddNumberToObject(t, "hidden_size", p->dim);
    cJSON_AddNumberToObject(t, "intermediate_size", p->hidden_dim);
    cJSON_AddNumberToObject(t, "num_hidden_layers", p->n_layers + p->n_cross_layers);
    cJSON_AddNumberToObject(t, "num_attention_heads", p->n_heads);
    cJSON_AddNumberToObject(t, "num_key_value_heads", p->n_kv_heads);
    cJSON_AddNumberToObject(t, "head_dim", p->head_dim);
    cJSON_AddNumberToObject(t, "vocab_size", vocab);
    cJSON_AddNumberToObject(t, "max_position_embeddings", p->context_length);
    cJSON_AddNumberToObject(t, "rms_norm_eps", tidy(p->rms_eps));
    cJSON_AddNumberToObject(t, "rope_theta", tidy(p->rope_theta));
    cJSON_AddStringToObject(t, "hidden_act", "silu");
    cJSON_AddBoolToObject(t, "tie_word_embeddings", p->tied_output);
    if (es_tokenizer_bos(tok) >= 0) cJSON_AddNumberToObject(t, "bos_token_id", es_tokenizer_bos(tok));
    if (es_tokenizer_eos(tok) >= 0) cJSON_AddNumberToObject(t, "eos_token_id", es_tokenizer_eos(tok));
    if (p->rope_factor != 0) {
        cJSON *rs = cJSON_AddObjectToObject(t, "rope_scaling");
        cJSON_AddNumberToObject(rs, "factor", tidy(p->rope_factor));
        cJSON_AddNumberToObject(rs, "low_freq_factor", tidy(p->rope_low_freq_factor));
        cJSON_AddNumberToObject(rs, "high_freq_factor", tidy(p->rope_high_freq_factor));
        cJSON_AddNumberToObject(rs, "original_max_position_embeddings", p->rope_original_context);
        cJSON_AddStringToObject(rs, "rope_type", "llama3");
    } else {
        cJSON_AddNullToObject(t, "rope_scaling");
    }
    if (p->n_cross_layers)
        cJSON_AddItemToObject(t, "cross_attention_layers",
                              cJSON_CreateIntArray(p->cross_layers, p->n_cross_layers));
}

static int write_config(const es_synth_params *p, const char *dir, const es_tokenizer *tok,
                        es_error *err) {
    int vocab = es_tokenizer_vocab_size(tok);
    const char *dtype = strcmp(p->type ? p->type : "f32", "f32") == 0 ? "float32"
                        : strcmp(p->type, "f16") == 0 ? "float16" : "bfloat16";
    cJSON *root = cJSON_CreateObject();
    cJSON *arch = cJSON_AddArrayToObject(root, "architectures");
    cJSON_AddStringToObject(root, "torch_dtype", dtype);
    if (p->n_cross_layers) {
        cJSON_AddItemToArray(arch, cJSON_CreateString("MllamaForConditionalGeneration"));
        cJSON_AddStringToObject(root, "model_type", "mllama");
        cJSON_AddNumberToObject(root, "image_token_index", vocab);
        cJSON *text = cJSON_AddObjectToObject(root, "text_config");
        cJSON_AddStringToObject(text, "model_type", "mllama_text_model");
        add_text_config(text, p, tok, vocab);
        cJSON_AddStringToObject(cJSON_AddObjectToObject(root, "vision_config"), "model_type",
                                "mllama_vision_model");
    } else {
        cJSON_AddItemToArray(arch, cJSON_CreateString("LlamaForCausalLM"));
        cJSON_AddStringToObject(root, "model_type", "llama");
        add_text_config(root, p, tok, vocab);
    }
    int rc = write_json(dir, "config.json", root, err);
    cJSON_Delete(root);
    return rc;
}

/* ------------------------------------------------------------ tensors -- */

static const char *st_dtype(es_dtype t) {
    return t == ES_F32 ? "F32" : t == ES_F16 ? "F16" : "BF16";
}

static int add_st(es_st_writer *w, const synth_tensor *t, const char *name, es_dtype type,
                  uint64_t seed, es_error *err) {
    size_t n_bytes;
    uint8_t *data = synth_tensor_data(t, seed, type, 0, &n_bytes, err);
    if (!data) return -1;
    int64_t shape[2] = {t->rows, t->cols};
    int rc = es_st_writer_add(w, name, st_dtype(type), t->norm ? 1 : 2,
                              t->norm ? shape + 1 : shape, data, n_bytes);
    free(data);
    return rc ? es_fail(err, "synth: out of memory adding %s", name) : 0;
}

static int add_self_layer(es_st_writer *w, const es_synth_params *p, const char *prefix,
                          int self, int index, es_dtype type, es_error *err) {
    static const char *const hf[SYNTH_LAYER_TENSORS] = {
        "input_layernorm", "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
        "self_attn.o_proj", "post_attention_layernorm", "mlp.gate_proj", "mlp.up_proj",
        "mlp.down_proj"};
    for (int i = 0; i < SYNTH_LAYER_TENSORS; i++) {
        synth_tensor t;
        char name[160];
        synth_layer_tensor(p, self, i, &t);
        snprintf(name, sizeof name, "%slayers.%d.%s.weight", prefix, index, hf[i]);
        if (add_st(w, &t, name, type, p->seed, err)) return -1;
    }
    return 0;
}

/* A Mllama cross-attention layer (never run on the text path). */
static int add_cross_layer(es_st_writer *w, const es_synth_params *p, const char *prefix,
                           int cross, int index, es_dtype type, es_error *err) {
    const int64_t q = (int64_t)p->n_heads * p->head_dim, kv = (int64_t)p->n_kv_heads * p->head_dim;
    const struct { const char *name; int64_t rows, cols; int norm; } ts[] = {
        {"cross_attn.q_proj", q, p->dim, 0},    {"cross_attn.k_proj", kv, p->dim, 0},
        {"cross_attn.v_proj", kv, p->dim, 0},   {"cross_attn.o_proj", p->dim, q, 0},
        {"cross_attn.q_norm", 1, p->head_dim, 1}, {"cross_attn.k_norm", 1, p->head_dim, 1},
        {"cross_attn_attn_gate", 1, 1, 1},      {"cross_attn_mlp_gate", 1, 1, 1},
        {"input_layernorm", 1, p->dim, 1},      {"post_attention_layernorm", 1, p->dim, 1},
        {"mlp.gate_proj", p->hidden_dim, p->dim, 0}, {"mlp.up_proj", p->hidden_dim, p->dim, 0},
        {"mlp.down_proj", p->dim, p->hidden_dim, 0},
    };
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) {
        synth_tensor t = {.rows = ts[i].rows, .cols = ts[i].cols, .norm = ts[i].norm};
        char name[160];
        int gate = strstr(ts[i].name, "gate") && ts[i].norm;
        snprintf(t.key, sizeof t.key, "xblk.%d.%s", cross, ts[i].name);
        /* the gates are parameters, not weights: no ".weight" suffix */
        snprintf(name, sizeof name, "%slayers.%d.%s%s", prefix, index, ts[i].name,
                 gate ? "" : ".weight");
        if (add_st(w, &t, name, type, p->seed, err)) return -1;
    }
    return 0;
}

static int add_tensors(es_st_writer *w, const es_synth_params *p, int vocab, es_error *err) {
    es_dtype type = (es_dtype)es_dtype_from_name(p->type ? p->type : "f32");
    int vision = p->n_cross_layers > 0;
    const char *prefix = vision ? "language_model.model." : "model.";
    char name[160];
    synth_tensor t;
    synth_global_tensor(p, "token_embd", vocab + (vision ? 8 : 0), &t);
    snprintf(name, sizeof name, "%sembed_tokens.weight", prefix);
    if (add_st(w, &t, name, type, p->seed, err)) return -1;
    for (int index = 0, self = 0, cross = 0; index < p->n_layers + p->n_cross_layers; index++) {
        int is_cross = cross < p->n_cross_layers && p->cross_layers[cross] == index;
        int rc = is_cross ? add_cross_layer(w, p, prefix, cross++, index, type, err)
                          : add_self_layer(w, p, prefix, self++, index, type, err);
        if (rc) return -1;
    }
    synth_global_tensor(p, "output_norm", vocab, &t);
    snprintf(name, sizeof name, "%snorm.weight", prefix);
    if (add_st(w, &t, name, type, p->seed, err)) return -1;
    synth_global_tensor(p, "output", vocab, &t);
    if (!p->tied_output &&
        add_st(w, &t, vision ? "language_model.lm_head.weight" : "lm_head.weight", type,
               p->seed, err))
        return -1;
    return 0;
}

int synth_write_safetensors(const es_synth_params *p, const char *dir, es_error *err) {
    struct stat sb;
    if (mkdir(dir, 0755) != 0 && !(errno == EEXIST && stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode)))
        return es_fail(err, "%s: cannot make the folder: %s", dir, strerror(errno));
    es_tokenizer *tok = write_tokenizer(p, dir, err);
    if (!tok) return -1;
    es_st_writer *w = es_st_writer_new();
    char *path = join(dir, "model.safetensors");
    int rc = -1;
    if (!w || !path) es_fail(err, "%s: out of memory", dir);
    else if (write_config(p, dir, tok, err)) {}
    else if (es_st_writer_set_metadata(w, "format", "pt")) es_fail(err, "%s: out of memory", dir);
    else if (add_tensors(w, p, es_tokenizer_vocab_size(tok), err)) {}
    else rc = es_st_writer_write(w, path, err);
    free(path);
    es_st_writer_free(w);
    es_tokenizer_free(tok);
    return rc;
}
