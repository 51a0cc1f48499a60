/* Tests of the model loaders: random models written as GGUF and as llama2.c
 * checkpoints load back and give the reference's logits; malformed files of
 * both formats fail with one line naming the file and the problem (a table
 * per format); and the real stories260K model (from ../shared) reproduces
 * llama2.c's own greedy test output byte for byte, from both its .bin and
 * its .gguf. Called from suite_model (test_model.c). */
#include <stdlib.h>
#include <string.h>

#include "random_model.h"
#include "reference_forward.h"
#include "test.h"
#include "tokenizer/tokenizer.h"

void model_file_tests(void);

static double max_rel_error(const float *a, const double *b, size_t n) {
    double max_diff = 0, max_ref = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= max_diff)) max_diff = d;
        if (fabs(b[i]) > max_ref) max_ref = fabs(b[i]);
    }
    return max_diff / max_ref;
}

static const char *tmp_path(char *buf, size_t size, const char *name) {
    snprintf(buf, size, "%s/%s", test_tmpdir(), name);
    return buf;
}

/* Loads path, evaluates 7 random tokens, compares with the reference on rm. */
static es_model *load_and_compare(const random_model *rm, const char *path,
                                  const char *tok_path) {
    es_error err = {{0}};
    es_model *m = es_model_load(path, tok_path, &err);
    CHECKF(m != NULL, "es_model_load: %s", err.msg);
    if (!m) return NULL;
    int32_t toks[7];
    const int V = rm->cfg.vocab_size;
    random_tokens(toks, 7, V, 99);
    double *ref = reference_forward(&rm->cfg, &rm->w, toks, 7);
    float *got = malloc(7 * (size_t)V * sizeof(float));
    es_context_params p = {.n_threads = 2};
    es_context *ctx = es_context_new(m, &p, &err);
    CHECK(ctx && es_context_eval(ctx, toks, 7, got, &err) == 0);
    double e = max_rel_error(got, ref, 7 * (size_t)V);
    CHECKF(e <= 2e-5, "%s: error %.3g", path, e);
    es_context_free(ctx);
    free(got);
    free(ref);
    return m;
}

/* Parameters of a shape, counted from the config alone. */
static uint64_t count_params(const es_config *c, int tied) {
    uint64_t q = (uint64_t)c->n_heads * c->head_dim, kv = (uint64_t)c->n_kv_heads * c->head_dim;
    uint64_t per_layer = 2 * (uint64_t)c->dim + 2 * c->dim * q + 2 * c->dim * kv +
                         3 * (uint64_t)c->dim * c->hidden_dim;
    return (uint64_t)c->vocab_size * c->dim * (tied ? 1 : 2) + c->dim +
           c->n_layers * per_layer;
}

static void test_gguf_roundtrip(void) {
    static const struct { int tied, key_length; es_dtype type; } cases[] = {
        {0, 0, ES_F32}, {1, 1, ES_Q8_0}, {0, 0, ES_BF16}};
    for (int i = 0; i < 3; i++) {
        char name[128], path[512];
        snprintf(name, sizeof name, "a random %s GGUF model (%s, %s) loads and matches the "
                 "reference", es_dtype_name(cases[i].type), cases[i].tied ? "tied" : "separate",
                 cases[i].key_length ? "head_dim*heads != dim" : "head_dim = dim/heads");
        TEST(name) {
            es_error err = {{0}};
            random_model rm;
            es_config c = random_config(64, 96, 2, cases[i].key_length ? 4 : 2, 1,
                                        cases[i].key_length ? 32 : 32, 270, 128);
            c.rope_theta = 500000.0f;
            c.rms_eps = 1e-6f;
            random_model_build(&rm, &c, cases[i].tied, cases[i].type, 40 + i);
            es_tokenizer *tok = es_tokenizer_synthetic(270, &err);
            CHECKF(tok != NULL, "%s", err.msg);
            tmp_path(path, sizeof path, "random.gguf");
            CHECKF(tok && random_model_write_gguf(&rm, tok, NULL, path, &err) == 0, "%s",
                   err.msg);
            es_model *m = load_and_compare(&rm, path, NULL);
            if (m) {
                es_model_info in;
                es_model_get_info(m, &in);
                CHECK_STR(in.format, "GGUF v3");
                CHECK_STR(in.architecture, "llama");
                CHECK_STR(in.name, "random test model");
                CHECK_INT(in.n_heads, c.n_heads);
                CHECK_INT(in.n_kv_heads, 1);
                CHECK_INT(in.head_dim, 32);
                CHECK_INT(in.context_length, 128);
                CHECK(in.rope_theta == 500000.0f && in.rms_eps == 1e-6f);
                CHECK_INT(in.tied_output, cases[i].tied);
                CHECK_INT(in.n_params, count_params(&c, cases[i].tied));
                CHECK_INT(es_tokenizer_vocab_size(es_model_tokenizer(m)), 270);
            }
            es_model_free(m);
            es_tokenizer_free(tok);
            random_model_free(&rm);
        }
    }
}

static void test_llama2c_roundtrip(void) {
    for (int tied = 0; tied < 2; tied++) {
        TEST(tied ? "a random llama2.c checkpoint (shared classifier) loads and matches"
                  : "a random llama2.c checkpoint (separate classifier) loads and matches") {
            char path[512], tok_path[512];
            random_model rm;
            es_config c = random_config(64, 96, 2, 4, 2, 16, 270, 40);
            random_model_build(&rm, &c, tied, ES_F32, 50 + tied);
            tmp_path(path, sizeof path, "random.bin");
            tmp_path(tok_path, sizeof tok_path, "random_tok.bin");
            CHECK(random_model_write_llama2c(&rm, path) == 0);
            CHECK(write_llama2c_tokenizer(tok_path, 270) == 0);
            es_model *m = load_and_compare(&rm, path, tok_path);
            if (m) {
                es_model_info in;
                es_model_get_info(m, &in);
                CHECK_STR(in.format, "llama2.c");
                CHECK_INT(in.tied_output, tied);
                CHECK_INT(in.context_length, 40);
                CHECK_INT(in.n_params, count_params(&c, tied));
                CHECK_INT(in.weight_bytes, 4 * count_params(&c, tied));
            }
            es_model_free(m);
            random_model_free(&rm);
        }
    }
}

/* ------------------------------------------------------------ malformed -- */

typedef struct gguf_case {
    const char *what;
    gguf_defect defect;
    int tok_vocab;        /* vocabulary written; 0: the model's */
    const char *expected; /* message substring; NULL: loads */
} gguf_case;

static void test_malformed_gguf(void) {
    static const gguf_case cases[] = {
        {"a correct file", {0}, 0, NULL},
        {"wrong architecture", {.arch = "gpt2"}, 0, "unsupported architecture 'gpt2' (only llama)"},
        {"missing tensor", {.drop_tensor = "blk.0.ffn_up.weight"}, 0,
         "tensor blk.0.ffn_up.weight is missing"},
        {"missing embedding", {.drop_tensor = "token_embd.weight"}, 0,
         "tensor token_embd.weight is missing"},
        {"wrong shape", {.grow_tensor = "blk.0.attn_k.weight"}, 0,
         "tensor blk.0.attn_k.weight has shape [256, 129], expected [256, 128]"},
        {"3-D tensor", {.three_d_tensor = "blk.0.attn_q.weight"}, 0,
         "tensor blk.0.attn_q.weight has shape [256, 256, 2, 1], expected 1 or 2 dimensions"},
        {"unsupported type", {.retype_tensor = "blk.0.ffn_up.weight", .retype = 11 /* Q3_K */}, 0,
         "tensor blk.0.ffn_up.weight has type Q3_K, not supported (F32, F16"},
        {"F16 norm", {.retype_tensor = "blk.0.attn_norm.weight", .retype = ES_F16}, 0,
         "tensor blk.0.attn_norm.weight has type F16, but norm weights must be F32"},
        {"heads do not divide dim", {.head_count = 3}, 0,
         "llama.attention.head_count 3 does not divide llama.embedding_length 256"},
        {"kv heads do not divide heads", {.head_count_kv = 3}, 0,
         "n_heads 4 is not a multiple of n_kv_heads 3"},
        {"vocab_size key differs", {.vocab_size_key = 300}, 0,
         "the vocabulary has 300 tokens but token_embd.weight has 260 rows"},
        {"tokenizer larger than the embedding", {0}, 270, 
         "the vocabulary has 270 tokens but token_embd.weight has 260 rows"},
        {"partial RoPE", {.rope_dims = 32}, 0,
         "llama.rope.dimension_count 32 differs from the head dimension 64"},
        {"missing key", {.drop_key = "llama.block_count"}, 0, "missing key llama.block_count"},
        {"vocabulary only", {.no_tensors = 1}, 0,
         "has no tensors (a vocabulary-only GGUF): it can tokenize but not generate"},
        /* fuzz finding: text from the file is shown on one line, control bytes as '?' */
        {"architecture with a newline", {.arch = "lla\nma"}, 0,
         "unsupported architecture 'lla?ma' (only llama)"},
    };
    random_model rm;
    es_config c = random_config(256, 64, 1, 4, 2, 64, 260, 64);
    random_model_build(&rm, &c, 0, ES_F32, 77);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char name[160], path[512];
        snprintf(name, sizeof name, "malformed GGUF model: %s", cases[i].what);
        TEST(name) {
            es_error err = {{0}};
            es_tokenizer *tok = es_tokenizer_synthetic(cases[i].tok_vocab ? cases[i].tok_vocab
                                                                          : c.vocab_size, &err);
            snprintf(path, sizeof path, "%s/bad%zu.gguf", test_tmpdir(), i);
            CHECKF(tok && random_model_write_gguf(&rm, tok, &cases[i].defect, path, &err) == 0,
                   "%s", err.msg);
            es_tokenizer_free(tok);
            es_model *m = es_model_load(path, NULL, &err);
            if (!cases[i].expected) {
                CHECKF(m != NULL, "%s", err.msg);
            } else {
                CHECK(m == NULL);
                CHECKF(m == NULL && strncmp(err.msg, path, strlen(path)) == 0 &&
                       strstr(err.msg, cases[i].expected), "message \"%s\", expected \"%s\"",
                       err.msg, cases[i].expected);
                CHECK(strchr(err.msg, '\n') == NULL);
            }
            es_model_free(m);
        }
    }
    random_model_free(&rm);
}

typedef struct l2c_case {
    const char *what;
    int field;            /* header field to change (0..6), -1: none */
    int32_t value;
    long size_delta;      /* bytes added (> 0) or cut (< 0) */
    long truncate_to;     /* > 0: keep only this many bytes */
    int no_tokenizer;
    const char *expected; /* message substring; NULL: loads */
} l2c_case;

static void test_malformed_llama2c(void) {
    static const l2c_case cases[] = {
        {"a correct file", -1, 0, 0, 0, 0, NULL},
        {"4 bytes cut", -1, 0, -4, 0, 0, "implies"},
        {"4 bytes extra", -1, 0, 4, 0, 0, "implies"},
        {"header only", -1, 0, 0, 28, 0, "file is 28 bytes, but its llama2.c header"},
        {"shorter than a header", -1, 0, 0, 10, 0, "too short for a llama2.c checkpoint"},
        {"n_heads does not divide dim", 3, 5, 0, 0, 0, "n_heads 5 does not divide dim 64"},
        {"kv heads do not divide heads", 4, 3, 0, 0, 0, "n_heads 4 is not a multiple of n_kv_heads 3"},
        {"vocab_size 0", 5, 0, 0, 0, 0, "vocab_size 0 is out of range"},
        {"vocab_size INT32_MIN", 5, INT32_MIN, 0, 0, 0, "vocab_size -2147483648 is out of range"},
        {"negative dim", 0, -64, 0, 0, 0, "dim -64 and n_heads 4 must be positive"},
        {"seq_len 0", 6, 0, 0, 0, 0, "context_length 0 is out of range"},
        {"layers beyond the limit", 2, 1 << 30, 0, 0, 0, "n_layers 1073741824 is out of range"},
        {"huge but valid sizes (no overflow)", 1, 1 << 20, 0, 0, 0, "implies"},
        {"no tokenizer", -1, 0, 0, 0, 1, "a llama2.c checkpoint needs a tokenizer (-z)"},
    };
    char good[512], tok_path[512];
    random_model rm;
    es_config c = random_config(64, 96, 2, 4, 2, 16, 270, 32);
    random_model_build(&rm, &c, 1, ES_F32, 78);
    tmp_path(good, sizeof good, "good.bin");
    tmp_path(tok_path, sizeof tok_path, "good_tok.bin");
    random_model_write_llama2c(&rm, good);
    write_llama2c_tokenizer(tok_path, 270);
    FILE *fp = fopen(good, "rb");
    fseek(fp, 0, SEEK_END);
    long size = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    uint8_t *bytes = calloc(1, (size_t)size + 64);
    CHECK(fread(bytes, 1, (size_t)size, fp) == (size_t)size);
    fclose(fp);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char name[160], path[512];
        const l2c_case *k = &cases[i];
        snprintf(name, sizeof name, "malformed llama2.c checkpoint: %s", k->what);
        TEST(name) {
            uint8_t *b = malloc((size_t)size + 64);
            memcpy(b, bytes, (size_t)size + 64);
            if (k->field >= 0) memcpy(b + 4 * k->field, &k->value, 4);
            long n = k->truncate_to ? k->truncate_to : size + k->size_delta;
            snprintf(path, sizeof path, "%s/bad%zu.bin", test_tmpdir(), i);
            fp = fopen(path, "wb");
            fwrite(b, 1, (size_t)n, fp);
            fclose(fp);
            free(b);
            es_error err = {{0}};
            es_model *m = es_model_load(path, k->no_tokenizer ? NULL : tok_path, &err);
            if (!k->expected) {
                CHECKF(m != NULL, "%s", err.msg);
            } else {
                CHECK(m == NULL);
                CHECKF(m == NULL && strncmp(err.msg, path, strlen(path)) == 0 &&
                       strstr(err.msg, k->expected), "message \"%s\", expected \"%s\"",
                       err.msg, k->expected);
            }
            if (k->size_delta) { /* both sizes are named */
                char sizes[128];
                snprintf(sizes, sizeof sizes, "file is %ld bytes", n);
                CHECKF(strstr(err.msg, sizes), "%s", err.msg);
                snprintf(sizes, sizeof sizes, "implies %ld bytes", size);
                CHECKF(strstr(err.msg, sizes), "%s", err.msg);
            }
            es_model_free(m);
        }
    }
    TEST("es_model_load: a missing file, and a tokenizer with too few tokens") {
        es_error err = {{0}};
        CHECK(es_model_load("/nonexistent/model.gguf", NULL, &err) == NULL);
        CHECKF(strstr(err.msg, "/nonexistent/model.gguf: cannot open"), "%s", err.msg);
        char short_tok[512];
        tmp_path(short_tok, sizeof short_tok, "short_tok.bin");
        write_llama2c_tokenizer(short_tok, 260);
        CHECK(es_model_load(good, short_tok, &err) == NULL);
        CHECKF(strstr(err.msg, short_tok), "%s", err.msg);
    }
    free(bytes);
    random_model_free(&rm);
}

/* ---------------------------------------------------------- stories260K -- */

/* llama2.c's test_all.py: `run stories260K.bin -z tok512.bin -t 0.0 -n 200`. */
static const char *const STORY =
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the "
    "park. One day, she saw a big, red ball. She wanted to play with it, but it was too "
    "high.\nLily's mom said, \"Lily, let's go to the park.\" Lily was sad and didn't know what "
    "to do. She said, \"I want to play with your ball, but I can't find it.\"\nLily was sad "
    "and didn't know what to do. She said, \"I'm sorry, Lily. I didn't know what to do.\"\n"
    "Lily didn't want to help her mom, so she";

static int argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

/* run.c's generate() with greedy sampling from BOS: forward(token, pos),
 * next = argmax, stop at BOS (or EOS), print piece(token, next). Writes the
 * text to out and the generated ids to ids; returns how many. */
static int greedy_story(const es_model *m, char *out, size_t cap, int32_t *ids) {
    const es_tokenizer *tok = es_model_tokenizer(m);
    es_error err = {{0}};
    es_context_params p = {.n_threads = 1};
    es_context *ctx = es_context_new(m, &p, &err);
    int32_t token = es_tokenizer_bos(tok);
    int n = 0;
    size_t used = 0;
    out[0] = '\0';
    for (int pos = 0; ctx && pos < 200; pos++) {
        if (es_context_eval(ctx, &token, 1, NULL, &err) < 0) break;
        int32_t next = argmax(es_context_logits(ctx), es_tokenizer_vocab_size(tok));
        if (next == 1 || next == es_tokenizer_eos(tok)) break;
        size_t len;
        const char *piece = es_token_to_piece(tok, token, next, 0, &len);
        if (used + len < cap) {
            memcpy(out + used, piece, len);
            out[used += len] = '\0';
        }
        ids[n++] = next;
        token = next;
    }
    es_context_free(ctx);
    return n;
}

/* The same greedy sequence through both files in one batched prefill: the
 * .bin was rebuilt from the GGUF's tensors, so the logits should agree. */
static void compare_bin_and_gguf(es_model *const models[2], const int32_t *ids, int n_ids) {
    es_model_info a, b;
    es_model_get_info(models[0], &a);
    es_model_get_info(models[1], &b);
    CHECK(a.dim == 64 && a.hidden_dim == 172 && a.n_layers == 5 && a.n_heads == 8 &&
          a.n_kv_heads == 4 && a.vocab_size == 512);
    CHECK(b.dim == 64 && b.hidden_dim == 172 && b.n_layers == 5 && b.n_heads == 8 &&
          b.n_kv_heads == 4 && b.vocab_size == 512);
    CHECK_INT(a.n_params, 260032);            /* tied: the "260K" */
    CHECK_INT(b.n_params, 260032 + 512 * 64); /* the GGUF stores output.weight */
    /* BOS, then every generated token but the last */
    int n = n_ids < 1 ? 1 : n_ids;
    int32_t seq[200];
    seq[0] = es_tokenizer_bos(es_model_tokenizer(models[0]));
    memcpy(seq + 1, ids, (size_t)(n - 1) * sizeof *seq);
    float *la = malloc((size_t)n * 512 * sizeof(float));
    float *lb = malloc((size_t)n * 512 * sizeof(float));
    es_error err = {{0}};
    es_context *ca = es_context_new(models[0], NULL, &err);
    es_context *cb = es_context_new(models[1], NULL, &err);
    CHECK(es_context_eval(ca, seq, n, la, &err) == 0);
    CHECK(es_context_eval(cb, seq, n, lb, &err) == 0);
    double max_diff = 0;
    for (size_t i = 0; i < (size_t)n * 512; i++)
        max_diff = fmax(max_diff, fabs((double)la[i] - lb[i]));
    printf("  stories260K .bin vs .gguf: max |logit difference| %.3g over %d positions\n",
           max_diff, n);
    CHECK(max_diff <= 1e-5);
    /* the batched prefill picks the tokens the greedy decode picked */
    for (int i = 0; i < n_ids; i++) CHECK_INT(argmax(la + (size_t)i * 512, 512), ids[i]);
    es_context_free(ca);
    es_context_free(cb);
    free(la), free(lb);
}

static void check_info_report(const es_model *m) {
    char *report = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&report, &len);
    es_model_print_info(m, mem);
    fclose(mem);
    CHECKF(strstr(report, "dim 64, hidden 172, layers 5, heads 8, kv heads 4, head dim 8"),
           "%s", report);
    CHECKF(strstr(report, "GGUF v3") && strstr(report, "292800") &&
           strstr(report, "512 tokens, BOS 1, EOS 2") && strstr(report, "F32"), "%s", report);
    free(report);
}

static void test_stories(void) {
    static const char *const files[2] = {"models/stories260K/stories260K.bin",
                                         "models/stories260K/stories260K.gguf"};
    int32_t ids[2][200];
    int n_ids[2] = {0, 0};
    es_model *models[2] = {NULL, NULL};
    for (int f = 0; f < 2; f++) {
        TEST(f ? "stories260K.gguf: 200 greedy steps from BOS give llama2.c's text"
               : "stories260K.bin + tok512.bin: 200 greedy steps from BOS give llama2.c's text") {
            const char *path = test_shared(files[f]);
            const char *tok = f ? NULL : test_shared("models/stories260K/tok512.bin");
            if (!path || (!f && !tok)) continue;
            es_error err = {{0}};
            models[f] = es_model_load(path, tok, &err);
            CHECKF(models[f] != NULL, "%s", err.msg);
            if (!models[f]) continue;
            char text[4096];
            n_ids[f] = greedy_story(models[f], text, sizeof text, ids[f]);
            CHECKF(strcmp(text, STORY) == 0, "got \"%s\"", text);
            printf("  %s: the story is %d generated tokens, %zu bytes\n", files[f], n_ids[f],
                   strlen(text));
        }
    }
    TEST("stories260K: .bin and .gguf give the same logits and the same info") {
        if (!models[0] || !models[1]) {
            test_skip("needs both stories260K files");
            continue;
        }
        CHECK_INT(n_ids[0], n_ids[1]);
        CHECK(memcmp(ids[0], ids[1], (size_t)n_ids[0] * sizeof(int32_t)) == 0);
        compare_bin_and_gguf(models, ids[0], n_ids[0]);
        check_info_report(models[1]);
    }
    es_model_free(models[0]);
    es_model_free(models[1]);
}

void model_file_tests(void) {
    test_gguf_roundtrip();
    test_llama2c_roundtrip();
    test_malformed_gguf();
    test_malformed_llama2c();
    test_stories();
}
