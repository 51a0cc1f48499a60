/* Shared by the libFuzzer targets that go through the path-taking loaders
 * (fuzz_model.c, fuzz_llama2c.c, fuzz_tokenizer_json.c; see README.md):
 *   - the input is written to a file in a temporary directory made once per
 *     process (and removed at exit), because the loaders take paths;
 *   - a failed load must leave one line that starts with "PATH: ";
 *   - a tokenizer that loads is put through es_tokenize on fixed strings
 *     (and on the text of its own first pieces) and es_token_to_piece over
 *     every id, so a fuzzed vocabulary cannot crash encoding or decoding;
 *   - a model that loads has every tensor's bytes inside its file and runs
 *     one short forward pass.
 * A broken invariant aborts, which libFuzzer reports as a crash. Everything
 * is static inline: each target is one translation unit and uses a part. */
#ifndef ES_FUZZ_COMMON_H
#define ES_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "entroscope.h"
#include "model/model.h"

static volatile uint8_t fuzz_sink; /* keeps the touching reads alive */

static inline void fuzz_touch(const void *p, size_t n) {
    const uint8_t *b = p;
    if (n == 0) return;
    fuzz_sink = (uint8_t)(b[0] ^ b[n / 2] ^ b[n - 1]);
}

/* ------------------------------------------------------ temporary files -- */

static char fuzz_dir[256]; /* set once; the process's own directory */

static inline void fuzz_remove_dir(void) {
    static const char *const names[] = {"model.gguf", "model.bin", "tokenizer.bin",
                                        "tokenizer.json", "corpus.jsonl"};
    char path[512];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", fuzz_dir, names[i]);
        unlink(path);
    }
    rmdir(fuzz_dir);
}

/* Writes data to fuzz_dir/name and returns the path (a static buffer per
 * name slot: slot 0 or 1, so that two files can be live at once). */
static inline const char *fuzz_write_file(int slot, const char *name, const uint8_t *data,
                                   size_t size) {
    static char paths[2][512];
    if (!fuzz_dir[0]) {
        const char *tmp = getenv("TMPDIR");
        snprintf(fuzz_dir, sizeof fuzz_dir, "%s/es-fuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(fuzz_dir)) {
            perror("fuzz: mkdtemp");
            abort();
        }
        atexit(fuzz_remove_dir);
    }
    snprintf(paths[slot], sizeof paths[slot], "%s/%s", fuzz_dir, name);
    FILE *fp = fopen(paths[slot], "wb");
    if (!fp || (size && fwrite(data, 1, size, fp) != size) || fclose(fp) != 0) {
        perror("fuzz: writing the input file");
        abort();
    }
    return paths[slot];
}

/* --------------------------------------------------------------- errors -- */

static inline int fuzz_names(const char *msg, const char *path) {
    size_t n = path ? strlen(path) : 0;
    return n && strncmp(msg, path, n) == 0 && msg[n] == ':' && msg[n + 1] == ' ' &&
           msg[n + 2] != '\0';
}

/* The message must be one line "PATH: problem" naming path_a or path_b. */
static inline void fuzz_check_message(const es_error *err, const char *path_a, const char *path_b) {
    if (strchr(err->msg, '\n') || strchr(err->msg, '\r')) {
        fprintf(stderr, "fuzz: multi-line error message: %s\n", err->msg);
        abort();
    }
    if (!fuzz_names(err->msg, path_a) && !fuzz_names(err->msg, path_b)) {
        fprintf(stderr, "fuzz: message does not start with a file name: %s\n", err->msg);
        abort();
    }
}

/* ------------------------------------------------------------ tokenizer -- */

static inline void fuzz_check_ids(const es_tokenizer *tok, const int32_t *ids, size_t n) {
    int32_t n_vocab = es_tokenizer_vocab_size(tok), prev = -1;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= n_vocab) {
            fprintf(stderr, "fuzz: es_tokenize gave id %d (vocabulary %d)\n", (int)ids[i],
                    (int)n_vocab);
            abort();
        }
        size_t len;
        const char *p = es_token_to_piece(tok, prev, ids[i], 1, &len);
        fuzz_touch(p, len);
        prev = ids[i];
    }
}

static inline void fuzz_tokenize(const es_tokenizer *tok, const char *text, size_t len) {
    static const int flags[] = {0, ES_TOKENIZE_ADD_BOS,
                                ES_TOKENIZE_ADD_BOS | ES_TOKENIZE_PARSE_SPECIAL};
    for (size_t f = 0; f < sizeof flags / sizeof flags[0]; f++) {
        int32_t *ids = NULL;
        size_t n = 0;
        es_error err;
        if (es_tokenize(tok, text, len, flags[f], &ids, &n, &err) != 0) {
            /* only running out of memory may fail, with a one-line message */
            if (strchr(err.msg, '\n')) abort();
            continue;
        }
        fuzz_check_ids(tok, ids, n);
        free(ids);
    }
}

/* Encodes fixed strings and the text of the first pieces; decodes every id. */
static inline void fuzz_exercise_tokenizer(const es_tokenizer *tok) {
    static const char *const texts[] = {
        "Once upon a time, there was a little girl.",
        " leading  and trailing spaces \n\n\t",
        "<s>x</s><unk><|begin_of_text|>Hi<|eot_id|><|end_of_text|>",
        "Numbers 12345 and 'll 'S it's",
        "\xFF\xFE invalid \xC3( UTF-8 \xE2\x82 end \xF0\x9F\x98",
        "caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x98\x80 \xE2\x96\x81",
    };
    int32_t n_vocab = es_tokenizer_vocab_size(tok), bos = es_tokenizer_bos(tok);
    if (n_vocab <= 0 || bos < -1 || bos >= n_vocab) abort();
    fuzz_touch(es_tokenizer_kind(tok), strlen(es_tokenizer_kind(tok)));
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        fuzz_tokenize(tok, texts[i], strlen(texts[i]));
    fuzz_tokenize(tok, "a\0b", 3);
    fuzz_tokenize(tok, "", 0);
    /* the vocabulary's own spelling, special tokens included */
    char text[2048];
    size_t used = 0;
    for (int32_t id = 0; id < n_vocab && id < 48; id++) {
        size_t len;
        const char *p = es_token_to_piece(tok, -1, id, 1, &len);
        if (len > sizeof text - used) break;
        memcpy(text + used, p, len);
        used += len;
    }
    fuzz_tokenize(tok, text, used);
    for (int32_t id = 0; id < n_vocab; id++) {
        size_t len;
        for (int show = 0; show < 2; show++) {
            fuzz_touch(es_token_to_piece(tok, -1, id, show, &len), len);
            fuzz_touch(es_token_to_piece(tok, bos, id, show, &len), len);
        }
        fuzz_sink ^= (uint8_t)es_tokenizer_is_eog(tok, id);
    }
    size_t len = 1;
    es_token_to_piece(tok, -1, n_vocab, 1, &len); /* out of range: "" */
    if (len != 0) abort();
}

/* ---------------------------------------------------------------- model -- */

/* Every tensor's bytes must lie inside [lo, lo + size). */
static inline void fuzz_check_tensor(const es_tensor *t, const uint8_t *lo, size_t size) {
    size_t bytes = es_tensor_row_bytes(t) * (size_t)t->ne[1];
    const uint8_t *p = t->data;
    if (p < lo || p > lo + size || bytes > (size_t)(lo + size - p)) {
        fprintf(stderr, "fuzz: a tensor of %zu bytes lies outside its file\n", bytes);
        abort();
    }
    fuzz_touch(p, bytes);
}

static inline void fuzz_exercise_model(const es_model *m, const uint8_t *lo, size_t size) {
    const es_weights *w = &m->weights;
    fuzz_check_tensor(&w->token_embd, lo, size);
    fuzz_check_tensor(&w->output_norm, lo, size);
    fuzz_check_tensor(&w->output, lo, size);
    for (int l = 0; l < m->config.n_layers; l++) {
        const es_layer_weights *L = &w->layers[l];
        const es_tensor *all[9] = {&L->attn_norm, &L->wq, &L->wk, &L->wv, &L->wo,
                                   &L->ffn_norm, &L->w_gate, &L->w_up, &L->w_down};
        for (int i = 0; i < 9; i++) fuzz_check_tensor(all[i], lo, size);
    }
    es_model_info info;
    es_model_get_info(m, &info);
    const es_tokenizer *tok = es_model_tokenizer(m);
    if (info.vocab_size != es_tokenizer_vocab_size(tok)) abort();
    FILE *devnull = fopen("/dev/null", "w");
    if (devnull) {
        es_model_print_info(m, devnull);
        fclose(devnull);
    }
    /* two positions: prefill of two tokens, then one decode step */
    es_error err;
    es_context_params p = {.n_ctx = 3, .n_threads = 1};
    es_context *ctx = es_context_new(m, &p, &err);
    if (ctx) {
        int32_t toks[2] = {0, info.vocab_size - 1};
        if (es_context_eval(ctx, toks, 2, NULL, &err) != 0 ||
            es_context_eval(ctx, toks + 1, 1, NULL, &err) != 0)
            abort();
        fuzz_touch(es_context_logits(ctx), (size_t)info.vocab_size * sizeof(float));
        es_context_free(ctx);
    } else if (strchr(err.msg, '\n')) {
        abort();
    }
    fuzz_exercise_tokenizer(tok);
}

#endif
