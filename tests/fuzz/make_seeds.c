/* Writes the seed corpora of fuzz_model and fuzz_llama2c (see README.md)
 * with the project's own writers: random weights from tests/random_model.c,
 * written as GGUF (with es_tokenizer_write_gguf's keys) or as a llama2.c
 * checkpoint, and tokenizers written as tokenizer.bin or vocabulary-only
 * GGUF. Shapes are tiny so that every seed stays under 16 KB and runs fast.
 * Not part of the test suite; build and run it by hand:
 *
 *   make && gcc -std=c11 -O1 -D_DEFAULT_SOURCE -Iinclude -Isrc -Itests \
 *       tests/fuzz/make_seeds.c tests/random_model.c build/libentroscope.a \
 *       -lpcre2-8 -lcjson -lm -fopenmp -o build/make_seeds
 *   ./build/make_seeds tests/fuzz
 *
 * (tests/fuzz/corpus_tokenizer_json/ is written by hand; fuzz_llama2c's
 * seed with a tokenizer.json reads llama3_like.json from there.) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/gguf_write.h"
#include "random_model.h"
#include "tokenizer/tokenizer.h"

#define SEPARATOR "\n==> tokenizer.bin <==\n" /* as in fuzz_llama2c.c */

static const char *root;

static void die(const char *what, const es_error *err) {
    fprintf(stderr, "make_seeds: %s: %s\n", what, err ? err->msg : "failed");
    exit(1);
}

static const char *path_of(const char *dir, const char *name) {
    static char buf[1024];
    snprintf(buf, sizeof buf, "%s/%s/%s", root, dir, name);
    return buf;
}

static uint8_t *slurp(const char *path, size_t *size) {
    FILE *fp = fopen(path, "rb");
    if (!fp) die(path, NULL);
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)n + 1);
    if (!b || fread(b, 1, (size_t)n, fp) != (size_t)n) die(path, NULL);
    fclose(fp);
    *size = (size_t)n;
    return b;
}

/* A llama2.c tokenizer.bin of 14 tokens, spelled as llama2.c's exporter
 * writes them (a space for '▁', BOS/EOS framed by newlines). */
static void write_small_tokenizer_bin(const char *path) {
    static const char *const pieces[] = {"<unk>", "\n<s>\n", "\n</s>\n", "<0x0A>", "<0x20>",
                                         "<0xC3>", "<0xA9>", " ", "a", "b", " a", "ab", " ab",
                                         "\xC3\xA9"};
    FILE *fp = fopen(path, "wb");
    if (!fp) die(path, NULL);
    int32_t max_len = 6;
    fwrite(&max_len, 4, 1, fp);
    for (int i = 0; i < 14; i++) {
        float score = i < 7 ? 0.0f : -(float)(i - 6);
        int32_t len = (int32_t)strlen(pieces[i]);
        fwrite(&score, 4, 1, fp);
        fwrite(&len, 4, 1, fp);
        fwrite(pieces[i], 1, (size_t)len, fp);
    }
    if (fclose(fp) != 0) die(path, NULL);
}

static es_tokenizer *load_tokenizer(const char *path) {
    es_error err;
    es_tokenizer *t = es_tokenizer_load(path, &err);
    if (!t) die(path, &err);
    return t;
}

typedef struct shape {
    const char *name;
    int dim, hidden, layers, heads, kv_heads, head_dim, tied;
    es_dtype type;
} shape;

static void write_gguf_model(const shape *s, es_tokenizer *tok, const gguf_defect *d) {
    random_model rm;
    es_error err;
    es_config c = random_config(s->dim, s->hidden, s->layers, s->heads, s->kv_heads, s->head_dim,
                                es_tokenizer_vocab_size(tok), 16);
    random_model_build(&rm, &c, s->tied, s->type, 7);
    if (random_model_write_gguf(&rm, tok, d, path_of("corpus_model", s->name), &err) != 0)
        die(s->name, &err);
    random_model_free(&rm);
}

static void model_seeds(const char *small_bin, const char *json) {
    es_error err;
    es_tokenizer *small = load_tokenizer(small_bin), *bpe = load_tokenizer(json);
    es_tokenizer *syn = es_tokenizer_synthetic(259, &err);
    if (!syn) die("synthetic", &err);
    static const shape shapes[] = {
        {"spm14_q8_0.gguf", 32, 64, 1, 2, 1, 16, 0, ES_Q8_0},
        {"spm14_q4_0_tied.gguf", 32, 32, 2, 4, 2, 8, 1, ES_Q4_0},
        {"spm14_f16_gqa.gguf", 8, 12, 2, 4, 2, 2, 0, ES_F16},
        {"spm14_bf16_key_length.gguf", 8, 8, 1, 2, 2, 8, 1, ES_BF16},
        {"spm14_f32.gguf", 4, 6, 1, 1, 1, 4, 0, ES_F32},
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        write_gguf_model(&shapes[i], small, NULL);
    write_gguf_model(&(shape){"synthetic259_f32_tied.gguf", 4, 4, 1, 2, 1, 2, 1, ES_F32}, syn,
                     NULL);
    write_gguf_model(&(shape){"bpe274_f16_tied.gguf", 4, 4, 1, 2, 2, 2, 1, ES_F16}, bpe, NULL);
    write_gguf_model(&(shape){"spm14_no_token_type.gguf", 4, 4, 1, 2, 2, 2, 1, ES_F32}, small,
                     &(gguf_defect){.drop_key = "tokenizer.ggml.token_type"});
    write_gguf_model(&(shape){"bpe274_vocab_only.gguf", 4, 4, 1, 2, 2, 2, 1, ES_F32}, bpe,
                     &(gguf_defect){.no_tensors = 1});
    es_tokenizer_free(small);
    es_tokenizer_free(bpe);
    es_tokenizer_free(syn);
}

/* A vocabulary-only GGUF of tok, in memory. */
static uint8_t *vocab_gguf(const es_tokenizer *tok, size_t *size) {
    es_error err;
    uint8_t *buf = NULL;
    gguf_writer *w = gguf_writer_new();
    if (es_tokenizer_write_gguf(tok, w, &err) != 0 || gguf_writer_to_buffer(w, &buf, size, &err))
        die("vocab_gguf", &err);
    gguf_writer_free(w);
    return buf;
}

/* Checkpoint, separator, tokenizer bytes: one fuzz_llama2c input. */
static void write_l2c_seed(const char *name, const shape *s, int vocab, const uint8_t *tok,
                           size_t tok_size) {
    random_model rm;
    char tmp[1024];
    es_config c = random_config(s->dim, s->hidden, s->layers, s->heads, s->kv_heads,
                                s->dim / s->heads, vocab, 4);
    random_model_build(&rm, &c, s->tied, ES_F32, 11);
    snprintf(tmp, sizeof tmp, "%s/corpus_llama2c/%s.tmp", root, name);
    if (random_model_write_llama2c(&rm, tmp) != 0) die(tmp, NULL);
    random_model_free(&rm);
    size_t n;
    uint8_t *ckpt = slurp(tmp, &n);
    remove(tmp);
    FILE *fp = fopen(path_of("corpus_llama2c", name), "wb");
    if (!fp) die(name, NULL);
    fwrite(ckpt, 1, n, fp);
    fwrite(SEPARATOR, 1, sizeof SEPARATOR - 1, fp);
    fwrite(tok, 1, tok_size, fp);
    if (fclose(fp) != 0) die(name, NULL);
    free(ckpt);
}

static void llama2c_seeds(const char *small_bin, const char *json) {
    char big_bin[1024];
    size_t n;
    uint8_t *b;
    snprintf(big_bin, sizeof big_bin, "%s/corpus_llama2c/tok259.tmp", root);
    if (write_llama2c_tokenizer(big_bin, 259) != 0) die(big_bin, NULL);
    b = slurp(small_bin, &n);
    write_l2c_seed("tok14_tied.bin", &(shape){"", 8, 16, 1, 2, 1, 0, 1, ES_F32}, 14, b, n);
    write_l2c_seed("tok14_separate_gqa.bin", &(shape){"", 8, 8, 2, 4, 2, 0, 0, ES_F32}, 14, b, n);
    free(b);
    b = slurp(big_bin, &n);
    write_l2c_seed("tok259_tied.bin", &(shape){"", 8, 8, 1, 2, 2, 0, 1, ES_F32}, 259, b, n);
    free(b);
    remove(big_bin);
    b = slurp(json, &n);
    write_l2c_seed("json274_tied.bin", &(shape){"", 4, 4, 1, 2, 1, 0, 1, ES_F32}, 274, b, n);
    free(b);
    es_tokenizer *small = load_tokenizer(small_bin);
    b = vocab_gguf(small, &n);
    write_l2c_seed("gguf14_tied.bin", &(shape){"", 4, 8, 1, 1, 1, 0, 1, ES_F32}, 14, b, n);
    free(b);
    es_tokenizer_free(small);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: make_seeds tests/fuzz\n");
        return 2;
    }
    root = argv[1];
    char small_bin[1024], json[1024];
    snprintf(small_bin, sizeof small_bin, "%s/corpus_llama2c/tok14.tmp", root);
    snprintf(json, sizeof json, "%s/corpus_tokenizer_json/llama3_like.json", root);
    write_small_tokenizer_bin(small_bin);
    model_seeds(small_bin, json);
    llama2c_seeds(small_bin, json);
    remove(small_bin);
    return 0;
}
