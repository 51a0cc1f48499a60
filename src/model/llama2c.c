/* Loader for llama2.c checkpoints (Karpathy's run.c format, "version 0"):
 *
 *   int32 dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len
 *   float32 weights, each kind for all layers in turn:
 *     token_embedding (vocab, dim), rms_att (layers, dim), wq, wk, wv, wo,
 *     rms_ffn (layers, dim), w1 (gate), w2 (down), w3 (up), rms_final (dim),
 *     two legacy RoPE tables of seq_len * head_dim / 2 floats each (unused),
 *     and, only if vocab_size < 0, a separate classifier (vocab, dim).
 *
 * The file has no magic and no version, so the header is checked for
 * plausible values and the file size must be exactly what it implies; that
 * is what tells a checkpoint apart from any other file. Weights are mapped,
 * not copied: every offset is a multiple of 4 bytes from a page boundary. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/model.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"

enum { HEADER_BYTES = 7 * 4 };

/* The header's seven int32 fields, in file order. */
typedef struct l2c_header {
    int32_t dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
} l2c_header;

/* A file that fails here may be anything at all, so the message says both
 * what it is not and what was wrong. */
#define NOT_A_MODEL "not a GGUF file nor a valid llama2.c checkpoint"

/* Header -> config, or a message "PATH: NOT_A_MODEL: problem". */
static int header_config(const l2c_header *h, const char *path, es_config *c,
                         es_error *err) {
    es_error why;
    if (h->dim <= 0 || h->n_heads <= 0)
        return es_fail(err, "%s: " NOT_A_MODEL ": dim %d and n_heads %d must be positive",
                       path, h->dim, h->n_heads);
    if (h->dim % h->n_heads != 0)
        return es_fail(err, "%s: " NOT_A_MODEL ": n_heads %d does not divide dim %d", path,
                       h->n_heads, h->dim);
    /* vocab_size < 0 flags a separate classifier; INT32_MIN has no |x| */
    if (h->vocab_size == 0 || h->vocab_size == INT32_MIN)
        return es_fail(err, "%s: " NOT_A_MODEL ": vocab_size %d is out of range", path,
                       h->vocab_size);
    *c = (es_config){
        .dim = h->dim, .hidden_dim = h->hidden_dim, .n_layers = h->n_layers,
        .n_heads = h->n_heads, .n_kv_heads = h->n_kv_heads,
        .head_dim = h->dim / h->n_heads,
        .vocab_size = h->vocab_size < 0 ? -h->vocab_size : h->vocab_size,
        .context_length = h->seq_len, .rms_eps = 1e-5f, .rope_theta = 10000.0f,
        .rope_layout = ES_ROPE_ADJACENT,
    };
    if (es_config_check(c, NOT_A_MODEL, &why) < 0)
        return es_fail(err, "%s: %s", path, why.msg);
    return 0;
}

/* Floats after the header that the config implies. es_config_check's limits
 * keep every term below 2^60. */
static uint64_t weight_floats(const es_config *c, int separate_classifier) {
    uint64_t dim = (uint64_t)c->dim, layers = (uint64_t)c->n_layers;
    uint64_t q_dim = (uint64_t)c->n_heads * (uint64_t)c->head_dim;
    uint64_t kv_dim = (uint64_t)c->n_kv_heads * (uint64_t)c->head_dim;
    uint64_t embedding = (uint64_t)c->vocab_size * dim;
    uint64_t per_layer = dim                          /* rms_att */
                       + dim * q_dim + 2 * dim * kv_dim + q_dim * dim /* wq wk wv wo */
                       + dim                          /* rms_ffn */
                       + 3 * dim * (uint64_t)c->hidden_dim;  /* w1 w2 w3 */
    uint64_t rope_tables = (uint64_t)c->context_length * (uint64_t)c->head_dim;
    return embedding + layers * per_layer + dim + rope_tables +
           (separate_classifier ? embedding : 0);
}

/* A tensor view of the next rows x cols floats at *p; advances *p. */
static es_tensor take(const float **p, int64_t cols, int64_t rows) {
    es_tensor t = {.type = ES_F32, .ne = {cols, rows}, .data = *p};
    *p += cols * rows;
    return t;
}

/* Points m->weights into the mapping, in memory_map_weights' order. */
static int map_weights(es_model *m, const float *p, int separate_classifier,
                       es_error *err) {
    const es_config *c = &m->config;
    const int64_t q_dim = (int64_t)c->n_heads * c->head_dim;
    const int64_t kv_dim = (int64_t)c->n_kv_heads * c->head_dim;
    const int L = c->n_layers;
    es_weights *w = &m->weights;
    w->layers = calloc((size_t)L, sizeof *w->layers);
    if (!w->layers) return es_fail(err, "%s: out of memory", m->path);
    w->token_embd = take(&p, c->dim, c->vocab_size);
    for (int l = 0; l < L; l++) w->layers[l].attn_norm = take(&p, c->dim, 1);
    for (int l = 0; l < L; l++) w->layers[l].wq = take(&p, c->dim, q_dim);
    for (int l = 0; l < L; l++) w->layers[l].wk = take(&p, c->dim, kv_dim);
    for (int l = 0; l < L; l++) w->layers[l].wv = take(&p, c->dim, kv_dim);
    for (int l = 0; l < L; l++) w->layers[l].wo = take(&p, q_dim, c->dim);
    for (int l = 0; l < L; l++) w->layers[l].ffn_norm = take(&p, c->dim, 1);
    for (int l = 0; l < L; l++) w->layers[l].w_gate = take(&p, c->dim, c->hidden_dim);
    for (int l = 0; l < L; l++) w->layers[l].w_down = take(&p, c->hidden_dim, c->dim);
    for (int l = 0; l < L; l++) w->layers[l].w_up = take(&p, c->dim, c->hidden_dim);
    w->output_norm = take(&p, c->dim, 1);
    p += (size_t)c->context_length * (size_t)c->head_dim; /* freq_cis_real, _imag */
    m->tied_output = !separate_classifier;
    w->output = separate_classifier ? take(&p, c->dim, c->vocab_size) : w->token_embd;
    return es_weights_check(c, w, m->path, err);
}

/* Brings the whole file into m->file_map (util/file_map.h). */
static int map_file(es_model *m, const char *path, es_error *err) {
    struct stat st;
    int fd = open(path, O_RDONLY);
    if (fd < 0) return es_fail(err, "%s: cannot open: %s", path, strerror(errno));
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return es_fail(err, "%s: not a regular file", path);
    }
    if ((uint64_t)st.st_size < HEADER_BYTES) {
        close(fd);
        return es_fail(err, "%s: %lld bytes is too short for a llama2.c checkpoint "
                       "(header alone: %d bytes)", path, (long long)st.st_size,
                       HEADER_BYTES);
    }
    int rc = es_file_map_open(&m->file_map, fd, (size_t)st.st_size, path, err);
    close(fd);
    return rc;
}

int es_model_load_llama2c(es_model *m, const char *path, const char *tokenizer_path,
                          es_error *err) {
    l2c_header h;
    if (!tokenizer_path)
        return es_fail(err, "%s: a llama2.c checkpoint needs a tokenizer (-z)", path);
    if (map_file(m, path, err) < 0) return -1;
    memcpy(&h, m->file_map.data, sizeof h);
    if (header_config(&h, path, &m->config, err) < 0) return -1;
    int separate = h.vocab_size < 0;
    uint64_t expected = HEADER_BYTES + 4 * weight_floats(&m->config, separate);
    if ((uint64_t)m->file_map.size != expected)
        return es_fail(err, "%s: file is %llu bytes, but its llama2.c header (dim %d, "
                       "hidden %d, layers %d, heads %d, kv heads %d, vocab %d, seq_len %d) "
                       "implies %llu bytes", path, (unsigned long long)m->file_map.size,
                       h.dim, h.hidden_dim, h.n_layers, h.n_heads, h.n_kv_heads,
                       h.vocab_size, h.seq_len, (unsigned long long)expected);
    const float *weights = (const float *)((const uint8_t *)m->file_map.data + HEADER_BYTES);
    if (map_weights(m, weights, separate, err) < 0) return -1;
    m->tokenizer = es_tokenizer_load_for(tokenizer_path, m->config.vocab_size, err);
    return m->tokenizer ? 0 : -1;
}
