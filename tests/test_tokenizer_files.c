/* Tokenizer tests, part 2: the loaders. A small hand-made byte-level BPE
 * tokenizer.json (merge order, ignore_merges, added tokens), malformed
 * tokenizer.json, tokenizer.bin and GGUF files (a table each: every one must
 * fail with one line naming the file), GGUF round trips that must give an
 * identical tokenizer, the synthetic vocabulary, es_tokenizer_load's
 * choice of loader, and where the chat template is read from; the Llama 3
 * vocabulary's id-by-id round trip is in test_tokenizer_llama3.c. Called from
 * suite_tokenizer (test_tokenizer.c). */
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "test.h"
#include "tokenizer/tokenizer_impl.h"
#include "util/error.h"

void tokenizer_file_tests(void);
void tokenizer_llama3_id_tests(void); /* test_tokenizer_llama3.c */
#include "tokenizer_test_util.h"
int tokenizers_identical(const es_tokenizer *a, const es_tokenizer *b);

/* ------------------------------------------------------------- helpers -- */

static const char *tmp_file(const char *name) {
    static char buf[4][512];
    static int slot;
    char *p = buf[slot++ % 4];
    snprintf(p, 512, "%s/%s", test_tmpdir(), name);
    return p;
}

static void write_file(const char *path, const void *data, size_t n) {
    FILE *fp = fopen(path, "wb");
    CHECKF(fp && fwrite(data, 1, n, fp) == n, "cannot write %s", path);
    if (fp) fclose(fp);
}

/* The load must fail with one line "PATH: ..." that contains want. */
static void check_load_fails(es_tokenizer *tok, const es_error *err, const char *path,
                             const char *want, const char *label) {
    CHECKF(tok == NULL, "%s: loaded although malformed", label);
    es_tokenizer_free(tok);
    CHECKF(strncmp(err->msg, path, strlen(path)) == 0 && err->msg[strlen(path)] == ':',
           "%s: message does not start with the file name: %s", label, err->msg);
    CHECKF(strstr(err->msg, want) != NULL, "%s: message \"%s\" lacks \"%s\"", label, err->msg,
           want);
    CHECKF(strchr(err->msg, '\n') == NULL, "%s: message has a newline", label);
}

int tokenizers_identical(const es_tokenizer *a, const es_tokenizer *b) {
    if (a->kind != b->kind || a->n_vocab != b->n_vocab || a->bos != b->bos || a->eos != b->eos ||
        a->unk != b->unk || a->pad != b->pad || a->add_bos != b->add_bos ||
        a->add_space_prefix != b->add_space_prefix || a->ignore_merges != b->ignore_merges ||
        a->n_eog != b->n_eog || a->n_merges != b->n_merges || a->n_special != b->n_special)
        return 0;
    for (int32_t i = 0; i < a->n_vocab; i++) {
        size_t la, lb;
        const char *ta = tok_text(a, i, &la), *tb = tok_text(b, i, &lb);
        if (la != lb || memcmp(ta, tb, la) != 0 || a->types[i] != b->types[i] ||
            a->scores[i] != b->scores[i] || a->dec_len[i] != b->dec_len[i] ||
            memcmp(a->dec + a->dec_off[i], b->dec + b->dec_off[i], a->dec_len[i]) != 0)
            return 0;
    }
    for (int i = 0; i < a->n_eog; i++)
        if (!es_tokenizer_is_eog(b, a->eog[i])) return 0;
    for (int32_t i = 0; i < a->n_merges; i++)
        if (a->merge_left[i] != b->merge_left[i] || a->merge_right[i] != b->merge_right[i])
            return 0;
    return 1;
}

/* Serialises w to a buffer and reads the tokenizer back (NULL: see err). */
static es_tokenizer *tokenizer_from_writer(gguf_writer *w, const char *name, es_error *err) {
    uint8_t *buf = NULL;
    size_t size = 0;
    gguf_file f;
    es_tokenizer *t = NULL;
    if (gguf_writer_to_buffer(w, &buf, &size, err) == 0 &&
        gguf_parse(&f, buf, size, name, err) == 0) {
        t = es_tokenizer_from_gguf(&f, err);
        gguf_close(&f);
    }
    free(buf);
    return t;
}

static es_tokenizer *gguf_round_trip(const es_tokenizer *tok) {
    es_error err = {{0}};
    gguf_writer *w = gguf_writer_new();
    es_tokenizer *back = NULL;
    if (es_tokenizer_write_gguf(tok, w, &err) == 0)
        back = tokenizer_from_writer(w, "rt.gguf", &err);
    CHECKF(back != NULL, "GGUF round trip: %s", err.msg);
    gguf_writer_free(w);
    return back;
}

/* 1 if tokenizing text gives exactly the n ids that follow. */
static int encodes_to(const es_tokenizer *tok, const char *text, int flags, int n, ...) {
    int32_t ids[64];
    size_t got = tokenizer_test_encode(tok, text, flags, ids, 64);
    if ((int)got != n) return 0;
    va_list ap;
    va_start(ap, n);
    int ok = 1;
    for (int i = 0; i < n; i++) ok &= ids[i] == va_arg(ap, int);
    va_end(ap);
    return ok;
}

/* ------------------------------------------------- a tiny tokenizer.json -- */

typedef struct sbuf {
    char *s;
    size_t n, cap;
} sbuf;

static void sb_add(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_add(sbuf *b, const char *fmt, ...) {
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->s ? b->s + b->n : NULL, b->s ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (b->s && (size_t)k < b->cap - b->n) {
            b->n += (size_t)k;
            return;
        }
        b->cap = 2 * (b->cap + (size_t)k + 64);
        b->s = realloc(b->s, b->cap);
    }
}

/* The GPT-2 byte character of byte b, computed here independently of
 * bpe.c: printable bytes stand for themselves, the rest are numbered from
 * U+0100 in byte order. Written as UTF-8 into out (NUL-terminated). */
static void byte_char_utf8(int b, char out[3]) {
    int n = 0;
    for (int c = 0; c < 256; c++) {
        int printable = (c >= 0x21 && c <= 0x7E) || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE);
        unsigned cp = printable ? (unsigned)c : 256u + (unsigned)n;
        n += !printable;
        if (c != b) continue;
        if (cp < 0x80)
            out[0] = (char)cp, out[1] = 0;
        else
            out[0] = (char)(0xC0 | (cp >> 6)), out[1] = (char)(0x80 | (cp & 0x3F)), out[2] = 0;
    }
}

static void sb_json_string(sbuf *b, const char *s) {
    sb_add(b, "\"");
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            sb_add(b, "\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            sb_add(b, "\\u%04x", *s);
        else
            sb_add(b, "%c", *s);
    }
    sb_add(b, "\"");
}

/* Parts of the tiny tokenizer.json; NULL takes the default. Ids: 0..255 the
 * byte characters, 256 "ab", 257 "abc", 258 "xy", 259 "xyz" (no merge makes
 * it), 260 <|eot_id|>, 261 <tool> (not special), 262 <|begin_of_text|>,
 * 263 <|end_of_text|>; merges "a b", "ab c", "x y". */
typedef struct mini_json {
    const char *model_type, *model_extra, *ignore_merges, *byte0, *vocab_extra, *merges;
    const char *added, *normalizer, *pre, *regex, *prefix;
} mini_json;

static char *mini_tokenizer_json(const mini_json *o) {
    sbuf b = {0};
    sb_add(&b, "%s{\"version\": \"1.0\", \"added_tokens\": [%s],\n", o->prefix ? o->prefix : "",
           o->added ? o->added
                    : "{\"id\": 260, \"content\": \"<|eot_id|>\", \"special\": true},"
                      "{\"id\": 261, \"content\": \"<tool>\", \"special\": false},"
                      "{\"id\": 262, \"content\": \"<|begin_of_text|>\", \"special\": true},"
                      "{\"id\": 263, \"content\": \"<|end_of_text|>\", \"special\": true}");
    sb_add(&b, "\"normalizer\": %s, \"pre_tokenizer\": ", o->normalizer ? o->normalizer : "null");
    if (o->pre) {
        sb_add(&b, "%s", o->pre);
    } else {
        sb_add(&b, "{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", "
                   "\"pattern\": {\"Regex\": ");
        sb_json_string(&b, o->regex ? o->regex : TOK_LLAMA3_REGEX);
        sb_add(&b,
               "}, \"behavior\": \"Isolated\"}, {\"type\": \"ByteLevel\", \"use_regex\": false}]}");
    }
    sb_add(&b, ",\n\"model\": {\"type\": %s, \"ignore_merges\": %s, \"vocab\": {",
           o->model_type ? o->model_type : "\"BPE\"", o->ignore_merges ? o->ignore_merges : "true");
    for (int i = 0; i < 256; i++) {
        char c[3];
        byte_char_utf8(i, c);
        sb_json_string(&b, i == 0 && o->byte0 ? o->byte0 : c);
        sb_add(&b, ": %d, ", i);
    }
    sb_add(&b, "%s},\n\"merges\": [%s]%s}}\n",
           o->vocab_extra ? o->vocab_extra : "\"ab\": 256, \"abc\": 257, \"xy\": 258, \"xyz\": 259",
           o->merges ? o->merges : "\"a b\", \"ab c\", \"x y\"",
           o->model_extra ? o->model_extra : "");
    return b.s;
}

static es_tokenizer *load_mini(const mini_json *o, const char *name, es_error *err) {
    char *json = mini_tokenizer_json(o);
    const char *path = tmp_file(name);
    write_file(path, json, strlen(json));
    free(json);
    return es_tokenizer_load(path, err);
}

static void test_mini_json(void) {
    es_error err = {{0}};
    TEST("tokenizer: a small tokenizer.json: merge order, ignore_merges, added tokens") {
        mini_json o = {.prefix = " \n\t"}; /* es_tokenizer_load skips leading whitespace */
        es_tokenizer *t = load_mini(&o, "mini.json", &err);
        CHECKF(t != NULL, "%s", err.msg);
        if (t) {
            CHECK_INT(es_tokenizer_vocab_size(t), 264);
            CHECK(encodes_to(t, "abc", 0, 1, 257));
            CHECK(encodes_to(t, "abcab", 0, 2, 257, 256)); /* both "a b" first, then "ab c" */
            CHECK(encodes_to(t, " ab", 0, 2, 32, 256));    /* 'Ġ' is byte 0x20's character */
            CHECK(encodes_to(t, "xyz", 0, 1, 259)); /* whole piece, though no merge makes it */
            CHECK(encodes_to(t, "x<tool>y", 0, 3, 120, 261, 121)); /* user-defined: always */
            CHECK(encodes_to(t, "<|eot_id|>", ES_TOKENIZE_PARSE_SPECIAL, 1, 260));
            CHECK(tokenizer_test_encode(t, "<|eot_id|>", 0, NULL, 0) == 10);
            CHECK(encodes_to(t, "ab", ES_TOKENIZE_ADD_BOS, 2, 262, 256));
            CHECK(es_tokenizer_is_eog(t, 260) && es_tokenizer_is_eog(t, 263) &&
                  !es_tokenizer_is_eog(t, 262));
            CHECK_INT(es_tokenizer_eos(t), 263);
            CHECK(tokenizer_test_piece_is(t, -1, 261, 0, "<tool>") && tokenizer_test_piece_is(t, -1, 260, 0, ""));
            es_tokenizer *back = gguf_round_trip(t);
            CHECK(back && tokenizers_identical(t, back));
            if (back) CHECK(encodes_to(back, "xyz", 0, 1, 259));
            es_tokenizer_free(back);
        }
        es_tokenizer_free(t);
    }
    TEST("tokenizer: tokenizer.json without ignore_merges, merges as pairs") {
        mini_json o = {.ignore_merges = "false",
                       .merges = "[\"a\", \"b\"], [\"ab\", \"c\"], [\"x\", \"y\"]"};
        es_tokenizer *t = load_mini(&o, "mini2.json", &err);
        CHECKF(t != NULL, "%s", err.msg);
        if (t) {
            CHECK(encodes_to(t, "xyz", 0, 2, 258, 122));
            CHECK(encodes_to(t, "abc", 0, 1, 257));
            CHECK_STR(es_tokenizer_kind(t), "gpt2 (byte-level BPE)");
            es_tokenizer *back = gguf_round_trip(t); /* written as pre "default" */
            CHECK(back && tokenizers_identical(t, back));
            if (back) CHECK(encodes_to(back, "xyz", 0, 2, 258, 122));
            es_tokenizer_free(back);
        }
        es_tokenizer_free(t);
    }
}

/* Reads N from "... near byte N". */
static long near_byte(const char *msg) {
    const char *p = strstr(msg, "near byte ");
    return p ? strtol(p + 10, NULL, 10) : -1;
}

static void test_malformed_json(void) {
    TEST("tokenizer: malformed tokenizer.json files fail with one line naming the file") {
        static const struct {
            const char *label, *raw;
            mini_json o;
            const char *want;
        } cases[] = {
            {"syntax error", "{\"model\": {\"vocab\": {,}}}", {0}, "invalid JSON near byte"},
            {"truncated", "{\"model\": {\"vocab\": {\"a\": 1", {0}, "invalid JSON near byte"},
            {"not an object", "[1, 2]", {0}, "not a JSON object"},
            {"no model", "{\"version\": \"1.0\"}", {0}, "no \"model\" object"},
            {"no vocab", "{\"model\": {\"type\": \"BPE\", \"merges\": []}}", {0}, "model.vocab"},
            {"WordPiece", NULL, {.model_type = "\"WordPiece\""}, "model.type"},
            {"byte_fallback", NULL, {.model_extra = ", \"byte_fallback\": true"}, "byte_fallback"},
            {"normalizer", NULL, {.normalizer = "{\"type\": \"NFC\"}"}, "unsupported normalizer"},
            {"other regex", NULL, {.regex = "\\s+|\\S+"}, "unsupported pre_tokenizer"},
            {"no pre_tokenizer", NULL, {.pre = "null"}, "unsupported pre_tokenizer"},
            {"negative id", NULL, {.vocab_extra = "\"ab\": -1"}, "id is not an integer"},
            {"fractional id", NULL, {.vocab_extra = "\"ab\": 256.5"}, "id is not an integer"},
            {"huge id", NULL, {.vocab_extra = "\"ab\": 1e12"}, "id is not an integer"},
            {"string id", NULL, {.vocab_extra = "\"ab\": \"256\""}, "id is not an integer"},
            {"id twice",
             NULL,
             {.vocab_extra = "\"ab\": 256, \"abc\": 256, \"xy\": 258, \"xyz\": 259"},
             "token id 256 given twice"},
            {"piece twice",
             NULL,
             {.vocab_extra = "\"ab\": 256, \"ab\": 257, \"xy\": 258, \"xyz\": 259"},
             "have the same text"},
            {"id gap",
             NULL,
             {.vocab_extra = "\"ab\": 256, \"abc\": 257, \"xy\": 258, \"xyz\": 259, \"qq\": 300"},
             "ids run to 300 but only 265 tokens are given"},
            {"id gap filled twice",
             NULL,
             {.vocab_extra =
                  "\"ab\": 256, \"abc\": 257, \"xy\": 258, \"xyz\": 259, \"qq\": 265, \"rr\": 256"},
             "token id 256 given twice"},
            {"id gap hidden by a restated token",
             NULL,
             {.vocab_extra = "\"ab\": 256, \"abc\": 257, \"xy\": 258, \"qq\": 264, \"rr\": 265",
              .added =
                  "{\"id\": 260, \"content\": \"<|eot_id|>\", \"special\": true},"
                  "{\"id\": 261, \"content\": \"<tool>\"}, {\"id\": 262, \"content\": \"<x>\"},"
                  "{\"id\": 263, \"content\": \"<y>\"}, {\"id\": 97, \"content\": \"a\"}"},
             "token id 259 has no piece"},
            {"merge of unknown token",
             NULL,
             {.merges = "\"a b\", \"a zz\""},
             "merge 1 names unknown token \"zz\""},
            {"merge result unknown", NULL, {.merges = "\"x b\""}, "is not a token"},
            {"merge without space", NULL, {.merges = "\"ab\""}, "is not \"a b\""},
            {"merge of numbers", NULL, {.merges = "[1, 2]"}, "neither"},
            {"merge of one", NULL, {.merges = "[\"a\"]"}, "neither"},
            {"added token clash",
             NULL,
             {.added = "{\"id\": 256, \"content\": \"zz\", \"special\": true}"},
             "added token 256 \"zz\" differs"},
            {"added token without id",
             NULL,
             {.added = "{\"content\": \"zz\"}"},
             "added_tokens entry"},
            {"added token id huge",
             NULL,
             {.added = "{\"id\": 99999999, \"content\": \"zz\"}"},
             "added_tokens entry"},
            {"no byte character", NULL, {.byte0 = "zz0"}, "no token for byte 0x00"},
            /* Fuzz finding (fuzz_tokenizer_json): a newline in a merge made a two-line
             * message; text from the file is now shown with '?' for control bytes. */
            {"merge with a newline", NULL, {.merges = "\"a b\", [\"ab\\n\", \"c\"]"},
             "merge 1 names unknown token \"ab?\""},
            {"vocab key with a newline", NULL, {.vocab_extra = "\"a\\nb\": -1"},
             "model.vocab[\"a?b\"]"},
            {"added token with a newline", NULL,
             {.added = "{\"id\": 256, \"content\": \"z\\nz\", \"special\": true}"},
             "added token 256 \"z?z\" differs"},
#define E5 "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9" /* "ééééé": 10 bytes */
            {"long key cut between characters", NULL,
             {.vocab_extra = "\"x" E5 E5 E5 E5 E5 E5 E5 "\": -1"}, /* shown: 63 bytes, not 64 */
             "model.vocab[\"x" E5 E5 E5 E5 E5 E5 "\xC3\xA9...\"]"},
#undef E5
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            char *json = cases[i].raw ? strdup(cases[i].raw) : mini_tokenizer_json(&cases[i].o);
            const char *path = tmp_file("bad.json");
            write_file(path, json, strlen(json));
            free(json);
            es_error err = {{0}};
            check_load_fails(es_tokenizer_from_json(path, &err), &err, path, cases[i].want,
                             cases[i].label);
            if (i == 0) /* cJSON stops at the ',' (byte 21) or just past it */
                CHECKF(near_byte(err.msg) >= 21 && near_byte(err.msg) <= 22, "%s", err.msg);
        }
        es_error err = {{0}};
        const char *path = tmp_file("empty.json");
        write_file(path, "", 0);
        check_load_fails(es_tokenizer_from_json(path, &err), &err, path, "invalid JSON near byte 0",
                         "empty");
        path = tmp_file("missing.json");
        check_load_fails(es_tokenizer_from_json(path, &err), &err, path, "No such file", "missing");
    }
}

/* ----------------------------------------------------- llama2.c files -- */

/* Appends one tokenizer.bin record. */
static void bin_token(sbuf *b, float score, const char *text, int32_t len) {
    if (b->n + 8 + (size_t)(len > 0 ? len : 0) + 1 > b->cap) {
        b->cap = 2 * (b->n + 8 + (size_t)(len > 0 ? len : 0) + 64);
        b->s = realloc(b->s, b->cap);
    }
    memcpy(b->s + b->n, &score, 4);
    memcpy(b->s + b->n + 4, &len, 4);
    b->n += 8;
    if (len > 0 && text) memcpy(b->s + b->n, text, (size_t)len), b->n += (size_t)len;
}

/* A small valid tokenizer.bin: <unk>, BOS, EOS, <0x0A>, a, b, " ", " a",
 * ab, " ab" (merge scores: " a" -1, ab -2, " ab" -3). */
static sbuf small_bin(int32_t max_len) {
    sbuf b = {malloc(64), 0, 64};
    memcpy(b.s, &max_len, 4);
    b.n = 4;
    static const char *const texts[] = {"<unk>", "\n<s>\n", "\n</s>\n", "<0x0A>", "a",
                                        "b",     " ",       " a",       "ab",     " ab"};
    static const float scores[] = {0, 0, 0, 0, -10, -11, -12, -1, -2, -3};
    for (int i = 0; i < 10; i++) bin_token(&b, scores[i], texts[i], (int32_t)strlen(texts[i]));
    return b;
}

static void test_llama2c_files(void) {
    TEST("tokenizer: a small tokenizer.bin loads, merges by score, falls back to bytes") {
        sbuf b = small_bin(8);
        const char *path = tmp_file("small.bin");
        write_file(path, b.s, b.n);
        free(b.s);
        es_error err = {{0}};
        es_tokenizer *t = es_tokenizer_load(path, &err);
        CHECKF(t != NULL, "%s", err.msg);
        if (t) {
            /* "▁a" merges first (score -1), then "▁ab" */
            CHECK(encodes_to(t, "ab", ES_TOKENIZE_ADD_BOS, 2, 1, 9));
            CHECK(encodes_to(t, "b a", 0, 3, 6, 5, 7)); /* ▁ b ▁a: "▁b" is no piece */
            CHECK(encodes_to(t, "\n", 0, 2, 6, 3));     /* byte fallback */
            CHECK(encodes_to(t, "c", 0, 2, 6, 0));      /* no <0x63>: <unk> */
            CHECK(encodes_to(t, "", ES_TOKENIZE_ADD_BOS, 1, 1));
            CHECK(tokenizer_test_piece_is(t, -1, 1, 1, "<s>") && tokenizer_test_piece_is(t, -1, 2, 0, ""));
            CHECK(tokenizer_test_piece_is(t, 1, 9, 0, "ab") && tokenizer_test_piece_is(t, 5, 9, 0, " ab") &&
                  tokenizer_test_piece_is(t, -1, 3, 0, "\n"));
            es_tokenizer *back = gguf_round_trip(t);
            CHECK(back && tokenizers_identical(t, back));
            es_tokenizer_free(back);
        }
        es_tokenizer_free(t);
        /* the file stores no count: a checkpoint expecting fewer tokens than it
         * holds has been given another model's tokenizer */
        t = es_tokenizer_from_llama2c(path, 4, &err);
        CHECK(t == NULL && strstr(err.msg, "not this model's tokenizer"));
        es_tokenizer_free(t);
    }
    TEST("tokenizer: malformed tokenizer.bin files fail with one line naming the file") {
        float nan = strtof("nan", NULL), inf = strtof("inf", NULL);
        int32_t minus5 = -5, zero = 0, huge = 1 << 30, ten = 10;
        struct {
            const char *label;
            sbuf b;
            int vocab;
            const char *want;
        } cases[] = {
            {"empty", {0}, 0, "truncated (no max_token_length"},
            {"max_token_length 0", {0}, 0, "max_token_length 0 out of range"},
            {"max_token_length -5", {0}, 0, "max_token_length -5 out of range"},
            {"max_token_length huge", {0}, 0, "out of range"},
            {"no tokens", {0}, 0, "no tokens"},
            {"cut record header", {0}, 0, "truncated in the header of token 0"},
            {"negative length", {0}, 0, "token 0 has negative length -5"},
            {"too long", {0}, 0, "more than max_token_length 10"},
            {"cut text", {0}, 0, "truncated in token 0"},
            {"NaN score", {0}, 0, "token 0: score is not finite"},
            {"infinite score", {0}, 0, "score is not finite"},
            {"piece twice", {0}, 0, "have the same text"},
            {"'▁a' and ' a'", {0}, 0, "have the same text"},
            {"fewer than the model's", {0}, 20, "holds 10 tokens, the model needs 20"},
            {"cut after 9 tokens", {0}, 0, "truncated in the header of token 10"},
            /* fuzz finding: a piece with a newline in a message (see the JSON table) */
            {"piece twice, with a newline", {0}, 0, "tokens 0 and 1 have the same text \"x?y\""},
        };
        const int32_t *headers[] = {NULL, &zero, &minus5, &huge};
        for (int i = 1; i < 4; i++)
            cases[i].b = (sbuf){malloc(4), 4, 4}, memcpy(cases[i].b.s, headers[i], 4);
        for (int i = 4; i < 13; i++)
            cases[i].b = (sbuf){malloc(4), 4, 4}, memcpy(cases[i].b.s, &ten, 4);
        bin_token(&cases[5].b, 0, NULL, 0), cases[5].b.n -= 3;
        bin_token(&cases[6].b, 0, NULL, -5);
        bin_token(&cases[7].b, 0, "abcdefghijk", 11);
        bin_token(&cases[8].b, 0, "abc", 3), memcpy(cases[8].b.s + 8, &(int32_t){8}, 4);
        bin_token(&cases[9].b, nan, "a", 1);
        bin_token(&cases[10].b, inf, "a", 1);
        bin_token(&cases[11].b, 0, "a", 1), bin_token(&cases[11].b, 0, "a", 1);
        bin_token(&cases[12].b, 0, " a", 2);
        bin_token(&cases[12].b, 0, "\xE2\x96\x81" "a", 4); /* "▁a" */
        cases[13].b = small_bin(10);
        cases[14].b = small_bin(10), bin_token(&cases[14].b, 0, NULL, 0), cases[14].b.n -= 5;
        cases[15].b = (sbuf){malloc(4), 4, 4}, memcpy(cases[15].b.s, &ten, 4); /* fuzz finding */
        bin_token(&cases[15].b, 0, "x\ny", 3), bin_token(&cases[15].b, 0, "x\ny", 3);
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            const char *path = tmp_file("bad.bin");
            write_file(path, cases[i].b.s ? cases[i].b.s : "", cases[i].b.n);
            es_error err = {{0}};
            es_tokenizer *t = es_tokenizer_from_llama2c(path, cases[i].vocab, &err);
            check_load_fails(t, &err, path, cases[i].want, cases[i].label);
            free(cases[i].b.s);
        }
        es_error err = {{0}};
        CHECK(es_tokenizer_from_llama2c(tmp_file("x.bin"), -1, &err) == NULL &&
              strstr(err.msg, "negative"));
    }
    /* Fuzz finding (fuzz_llama2c, UBSan): with every piece empty the text pool
     * stayed NULL and the piece index did arithmetic on a null pointer. */
    TEST("tokenizer: a tokenizer.bin whose only piece is empty loads and encodes") {
        int32_t one = 1;
        sbuf b = {malloc(4), 4, 4};
        memcpy(b.s, &one, 4);
        bin_token(&b, 0, NULL, 0);
        const char *path = tmp_file("empty_piece.bin");
        write_file(path, b.s, b.n);
        free(b.s);
        es_error err = {{0}};
        es_tokenizer *t = es_tokenizer_from_llama2c(path, 0, &err);
        CHECKF(t && es_tokenizer_vocab_size(t) == 1, "%s", err.msg);
        int32_t *ids = NULL;
        size_t n = 0;
        /* no byte tokens, no <unk>: "▁a" cannot be encoded, which must be said */
        CHECK(t && es_tokenize(t, "a", 1, 0, &ids, &n, &err) < 0 &&
              strstr(err.msg, "cannot encode byte 0xE2"));
        CHECK(t && es_tokenize(t, "", 0, ES_TOKENIZE_ADD_BOS, &ids, &n, &err) == 0 && n == 0);
        free(ids);
        CHECK(tokenizer_test_piece_is(t, -1, 0, 1, ""));
        es_tokenizer_free(t);
    }
}

/* ---------------------------------------------------------- GGUF files -- */

typedef enum {
    MUT_STR,
    MUT_U32,
    MUT_ARR_U32,
    MUT_SCORES_SHORT,
    MUT_SCORE_NAN,
    MUT_TYPE,
    MUT_TOKEN,
    MUT_MERGE
} mutation;

typedef struct gguf_case {
    const char *label;
    mutation what;
    const char *key;
    const char *str; /* MUT_STR value; MUT_TOKEN / MUT_MERGE text */
    int64_t num;     /* MUT_U32 value; MUT_TYPE type; MUT_TOKEN / MUT_MERGE index */
    const char *want;
} gguf_case;

/* Writes base's keys with one change, then reads them back as bad.gguf. */
static void check_gguf_case(const es_tokenizer *base, const gguf_case *c) {
    es_error err = {{0}};
    gguf_writer *w = gguf_writer_new();
    CHECK(es_tokenizer_write_gguf(base, w, &err) == 0);
    uint32_t n = (uint32_t)base->n_vocab;
    const char **strs = malloc(n * sizeof *strs);
    size_t *lens = malloc(n * sizeof *lens);
    float *scores = malloc(n * sizeof *scores);
    int32_t *types = malloc(n * sizeof *types);
    for (uint32_t i = 0; i < n; i++) {
        strs[i] = tok_text(base, (int32_t)i, &lens[i]);
        scores[i] = base->scores[i];
        types[i] = base->types[i];
    }
    switch (c->what) {
    case MUT_STR: gguf_writer_set_str(w, c->key, c->str); break;
    case MUT_U32: gguf_writer_set_u32(w, c->key, (uint32_t)c->num); break;
    case MUT_ARR_U32: gguf_writer_set_arr(w, c->key, GGUF_TYPE_UINT32, types, n); break;
    case MUT_SCORES_SHORT: gguf_writer_set_arr(w, c->key, GGUF_TYPE_FLOAT32, scores, n - 1); break;
    case MUT_SCORE_NAN:
        scores[n - 1] = strtof("nan", NULL);
        gguf_writer_set_arr(w, c->key, GGUF_TYPE_FLOAT32, scores, n);
        break;
    case MUT_TYPE:
        types[n - 1] = (int32_t)c->num;
        gguf_writer_set_arr(w, c->key, GGUF_TYPE_INT32, types, n);
        break;
    case MUT_TOKEN:
        strs[c->num] = c->str, lens[c->num] = strlen(c->str);
        gguf_writer_set_arr_str(w, c->key, strs, lens, n);
        break;
    case MUT_MERGE: {
        const char *m[] = {c->str};
        size_t ml[] = {strlen(c->str)};
        gguf_writer_set_arr_str(w, c->key, m, ml, 1);
        break;
    }
    }
    es_tokenizer *t = tokenizer_from_writer(w, "bad.gguf", &err);
    check_load_fails(t, &err, "bad.gguf", c->want, c->label);
    gguf_writer_free(w);
    free(strs);
    free(lens);
    free(scores);
    free(types);
}

static void test_malformed_gguf(void) {
    TEST("tokenizer: malformed GGUF vocabularies fail with one line naming the file") {
        es_error err = {{0}};
        es_tokenizer *spm = es_tokenizer_synthetic(300, &err);
        mini_json o = {0};
        es_tokenizer *bpe = load_mini(&o, "mini3.json", &err);
        CHECK(spm && bpe);
        static const gguf_case spm_cases[] = {
            {"model bert", MUT_STR, "tokenizer.ggml.model", "bert", 0,
             "unsupported tokenizer model \"bert\""},
            {"model not a string", MUT_U32, "tokenizer.ggml.model", NULL, 1,
             "tokenizer.ggml.model"},
            {"tokens not strings", MUT_ARR_U32, "tokenizer.ggml.tokens", NULL, 0,
             "tokenizer.ggml.tokens"},
            {"scores short", MUT_SCORES_SHORT, "tokenizer.ggml.scores", NULL, 0,
             "299 elements for 300 tokens"},
            {"score NaN", MUT_SCORE_NAN, "tokenizer.ggml.scores", NULL, 0,
             "token 299: score is not finite"},
            {"token type 9", MUT_TYPE, "tokenizer.ggml.token_type", NULL, 9,
             "token 299 has unknown type 9"},
            {"token type -1", MUT_TYPE, "tokenizer.ggml.token_type", NULL, -1, "unknown type -1"},
            {"BOS out of range", MUT_U32, "tokenizer.ggml.bos_token_id", NULL, 5000,
             "BOS token id 5000 out of range"},
            {"unknown id = n_vocab", MUT_U32, "tokenizer.ggml.unknown_token_id", NULL, 300,
             "unknown token id 300"},
            {"EOS not a number", MUT_STR, "tokenizer.ggml.eos_token_id", "2", 0,
             "tokenizer.ggml.eos_token_id"},
            {"eot out of range", MUT_U32, "tokenizer.ggml.eot_token_id", NULL, 999,
             "eot token id 999"},
            {"add_bos not a bool", MUT_STR, "tokenizer.ggml.add_bos_token", "yes", 0,
             "add_bos_token"},
            {"piece twice", MUT_TOKEN, "tokenizer.ggml.tokens", "<s>", 299,
             "tokens 1 and 299 have the same text"},
            {"byte token misspelled", MUT_TOKEN, "tokenizer.ggml.tokens", "<0xZZ>", 3,
             "byte token 3 is not spelled <0xXX>"},
            /* fuzz finding: text from the file on one line (see the JSON table) */
            {"model with a newline", MUT_STR, "tokenizer.ggml.model", "ll\nama", 0,
             "unsupported tokenizer model \"ll?ama\""},
        };
        static const gguf_case bpe_cases[] = {
            {"pre qwen2", MUT_STR, "tokenizer.ggml.pre", "qwen2", 0,
             "unsupported pre-tokenizer \"qwen2\""},
            {"merge without space", MUT_MERGE, "tokenizer.ggml.merges", "ab", 0,
             "merge 0 is not \"a b\""},
            {"merge of unknown", MUT_MERGE, "tokenizer.ggml.merges", "a zz", 0,
             "names unknown token \"zz\""},
            {"merge result unknown", MUT_MERGE, "tokenizer.ggml.merges", "x b", 0,
             "is not a token"},
            {"merges not strings", MUT_ARR_U32, "tokenizer.ggml.merges", NULL, 0,
             "tokenizer.ggml.merges"},
            {"no byte character", MUT_TOKEN, "tokenizer.ggml.tokens", "zz0", 0,
             "no token for byte 0x00"},
            /* fuzz finding: text from the file on one line (see the JSON table) */
            {"pre with a newline", MUT_STR, "tokenizer.ggml.pre", "qw\nen", 0,
             "unsupported pre-tokenizer \"qw?en\""},
            {"merge with a newline", MUT_MERGE, "tokenizer.ggml.merges", "a\nb c", 0,
             "merge 0 names unknown token \"a?b\""},
        };
        for (size_t i = 0; spm && i < sizeof spm_cases / sizeof spm_cases[0]; i++)
            check_gguf_case(spm, &spm_cases[i]);
        for (size_t i = 0; bpe && i < sizeof bpe_cases / sizeof bpe_cases[0]; i++)
            check_gguf_case(bpe, &bpe_cases[i]);
        /* Keys missing altogether */
        gguf_writer *w = gguf_writer_new();
        gguf_writer_set_str(w, "general.architecture", "llama");
        check_load_fails(tokenizer_from_writer(w, "bad.gguf", &err), &err, "bad.gguf",
                         "no tokenizer", "no model");
        gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2");
        check_load_fails(tokenizer_from_writer(w, "bad.gguf", &err), &err, "bad.gguf",
                         "tokenizer.ggml.tokens missing", "no tokens");
        gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", NULL, NULL, 0);
        check_load_fails(tokenizer_from_writer(w, "bad.gguf", &err), &err, "bad.gguf",
                         "vocabulary size 0", "0 tokens");
        gguf_writer_free(w);
        if (bpe) {
            w = gguf_writer_new();
            gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2");
            const char **strs = malloc((size_t)bpe->n_vocab * sizeof *strs);
            size_t *lens = malloc((size_t)bpe->n_vocab * sizeof *lens);
            for (int32_t i = 0; i < bpe->n_vocab; i++) strs[i] = tok_text(bpe, i, &lens[i]);
            gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", strs, lens, (uint64_t)bpe->n_vocab);
            check_load_fails(tokenizer_from_writer(w, "bad.gguf", &err), &err, "bad.gguf",
                             "merges missing", "no merges");
            gguf_writer_free(w);
            free(strs);
            free(lens);
        }
        es_tokenizer_free(spm);
        es_tokenizer_free(bpe);
    }
}

/* ----------------------------------------------------------- synthetic -- */

static void test_synthetic(void) {
    TEST("tokenizer: synthetic vocabularies have exactly n_vocab distinct, buildable pieces") {
        static const int sizes[] = {259, 260, 300, 512, 1000, 4096, 32000};
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            es_error err = {{0}};
            es_tokenizer *t =
                es_tokenizer_synthetic(sizes[s], &err); /* loading checks uniqueness */
            CHECKF(t != NULL, "%d: %s", sizes[s], err.msg);
            if (!t) continue;
            CHECK_INT(es_tokenizer_vocab_size(t), sizes[s]);
            CHECK(es_tokenizer_bos(t) == 1 && es_tokenizer_eos(t) == 2 &&
                  es_tokenizer_is_eog(t, 2));
            int descending = 1;
            for (int32_t id = 260; id < t->n_vocab; id++)
                descending &= t->scores[id] < t->scores[id - 1];
            CHECK(descending);
            es_tokenizer *back = gguf_round_trip(t);
            CHECK(back && tokenizers_identical(t, back));
            es_tokenizer_free(back);
            int32_t ids[64];
            size_t n = tokenizer_test_encode(t, "Once upon a time, the little dog was happy.", 0, ids, 64);
            if (sizes[s] >= 1000) CHECKF(n <= 14, "%d: %zu tokens", sizes[s], n);
            if (sizes[s] == 259) /* bytes only: '▁' E2 96 81, then 'a' */
                CHECK(encodes_to(t, "a", 0, 4, 3 + 0xE2, 3 + 0x96, 3 + 0x81, 3 + 'a'));
            if (sizes[s] >= 1000) {
                CHECK(tokenizer_test_encode(t, "the", 0, ids, 64) == 1);
                CHECK(tokenizer_test_piece_is(t, -1, ids[0], 0, " the"));
            }
            if (sizes[s] == 32000) CHECK(tokenizer_test_encode(t, "12345", 0, ids, 64) == 1); /* "▁12345" is built */
            es_tokenizer_free(t);
        }
        es_error err = {{0}};
        CHECK(es_tokenizer_synthetic(258, &err) == NULL && strstr(err.msg, "out of range"));
        CHECK(es_tokenizer_synthetic(TOK_MAX_VOCAB + 1, &err) == NULL);
    }
}

/* ------------------------------------------------ loading and the API -- */

static void test_load_and_api(void) {
    TEST("tokenizer: es_tokenizer_load picks the loader from the content") {
        es_error err = {{0}};
        es_tokenizer *syn = es_tokenizer_synthetic(400, &err);
        gguf_writer *w = gguf_writer_new();
        const char *path = tmp_file("vocab.gguf");
        CHECK(syn && es_tokenizer_write_gguf(syn, w, &err) == 0 &&
              gguf_writer_write(w, path, &err) == 0);
        gguf_writer_free(w);
        es_tokenizer *t = es_tokenizer_load(path, &err);
        CHECKF(t && syn && tokenizers_identical(syn, t), "%s", err.msg);
        es_tokenizer_free(t);
        es_tokenizer_free(syn);
        path = tmp_file("garbage.bin");
        write_file(path, "hello", 5);
        check_load_fails(es_tokenizer_load(path, &err), &err, path, "max_token_length",
                         "text file");
        path = tmp_file("truncated.gguf");
        write_file(path, "GGUF\3\0\0\0", 8);
        check_load_fails(es_tokenizer_load(path, &err), &err, path, "", "truncated GGUF");
        path = tmp_file("does-not-exist.json");
        check_load_fails(es_tokenizer_load(path, &err), &err, path, "No such file", "missing");
        CHECK(es_tokenizer_load(NULL, &err) == NULL);
    }
    TEST("tokenizer: a SentencePiece GGUF without token_type gets its types from the spelling") {
        es_error err = {{0}};
        es_tokenizer *syn = es_tokenizer_synthetic(300, &err);
        gguf_writer *w = gguf_writer_new();
        const char *strs[300];
        size_t lens[300];
        for (int32_t i = 0; syn && i < 300; i++) strs[i] = tok_text(syn, i, &lens[i]);
        gguf_writer_set_str(w, "tokenizer.ggml.model", "llama");
        gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", strs, lens, 300);
        if (syn)
            gguf_writer_set_arr(w, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, syn->scores, 300);
        gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1);
        gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 2);
        gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", 0);
        es_tokenizer *t = tokenizer_from_writer(w, "untyped.gguf", &err);
        CHECKF(t && syn && tokenizers_identical(syn, t), "%s", err.msg);
        if (t) CHECK(encodes_to(t, "\x01", 0, 2, 259, 3 + 1)); /* "▁" then byte fallback */
        es_tokenizer_free(t);
        es_tokenizer_free(syn);
        gguf_writer_free(w);
    }
    TEST("tokenizer: the API survives NULL and out-of-range arguments") {
        es_error err = {{0}};
        int32_t *ids = NULL;
        size_t n = 99, len = 99;
        CHECK(es_tokenize(NULL, "a", 1, 0, &ids, &n, &err) < 0 && err.msg[0]);
        es_tokenizer *t = es_tokenizer_synthetic(300, &err);
        CHECK(es_tokenize(t, NULL, 5, 0, &ids, &n, &err) < 0);
        CHECK(es_tokenize(t, NULL, 0, ES_TOKENIZE_ADD_BOS, &ids, &n, &err) == 0 && n == 1 &&
              ids[0] == 1);
        free(ids);
        CHECK(es_tokenize(t, "", 0, 0, &ids, &n, &err) == 0 && n == 0 && ids != NULL);
        free(ids);
        CHECK(es_token_to_piece(NULL, -1, 5, 1, &len) != NULL && len == 0);
        CHECK(es_token_to_piece(t, -1, 300, 1, &len) != NULL && len == 0);
        CHECK(es_token_to_piece(t, -1, -1, 1, NULL) != NULL);
        CHECK(es_tokenizer_vocab_size(NULL) == 0 && es_tokenizer_bos(NULL) == -1);
        CHECK(!es_tokenizer_is_eog(NULL, 2) && !es_tokenizer_is_eog(t, 300));
        CHECK(strcmp(es_tokenizer_kind(NULL), "") == 0);
        CHECK(es_tokenizer_write_gguf(NULL, NULL, &err) < 0);
        es_tokenizer_free(t);
        es_tokenizer_free(NULL);
    }
}

/* ------------------------------------------------ the chat template -- */

/* Writes a mini tokenizer.json into a fresh folder DIR of the temporary
 * directory with the given sibling files (name, content; NULL-ended), and
 * loads it. */
static es_tokenizer *load_with_siblings(const char *dir, const char *const *files,
                                        es_error *err) {
    char path[600];
    snprintf(path, sizeof path, "%s/%s", test_tmpdir(), dir);
    mkdir(path, 0700);
    for (int i = 0; files[i]; i += 2) {
        snprintf(path, sizeof path, "%s/%s/%s", test_tmpdir(), dir, files[i]);
        write_file(path, files[i + 1], strlen(files[i + 1]));
    }
    char *json = mini_tokenizer_json(&(mini_json){0});
    snprintf(path, sizeof path, "%s/%s/tokenizer.json", test_tmpdir(), dir);
    write_file(path, json, strlen(json));
    free(json);
    return es_tokenizer_load(path, err);
}

static void test_chat_template_files(void) {
    TEST("tokenizer: the chat template is read from beside tokenizer.json") {
        static const struct {
            const char *dir, *files[5], *want;
        } cases[] = {
            {"ct_string", {"tokenizer_config.json", "{\"chat_template\": \"T\\n{{ x }}\"}"},
             "T\n{{ x }}"},
            {"ct_list",
             {"tokenizer_config.json",
              "{\"chat_template\": [{\"name\": \"tool_use\", \"template\": \"A\"}, "
              "{\"name\": \"default\", \"template\": \"B\"}]}"},
             "B"},
            {"ct_json", /* none in tokenizer_config.json: chat_template.json */
             {"tokenizer_config.json", "{\"bos_token\": \"x\"}", "chat_template.json",
              "{\"chat_template\": \"C\"}"},
             "C"},
            {"ct_config_first",
             {"tokenizer_config.json", "{\"chat_template\": \"first\"}", "chat_template.jinja",
              "second"},
             "first"},
            {"ct_jinja", {"chat_template.jinja", "D {{ y }}\n"}, "D {{ y }}\n"},
            {"ct_null", {"tokenizer_config.json", "{\"chat_template\": null}"}, NULL},
            {"ct_none", {NULL}, NULL},
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            es_error err = {{0}};
            es_tokenizer *t = load_with_siblings(cases[i].dir, cases[i].files, &err);
            CHECKF(t != NULL, "%s: %s", cases[i].dir, err.msg);
            if (!t) continue;
            const char *got = tok_chat_template(t);
            CHECKF(cases[i].want ? got && strcmp(got, cases[i].want) == 0 : got == NULL,
                   "%s: template \"%s\"", cases[i].dir, got ? got : "(none)");
            es_tokenizer *back = gguf_round_trip(t); /* written as tokenizer.chat_template */
            const char *kept = back ? tok_chat_template(back) : NULL;
            CHECKF(cases[i].want ? kept && strcmp(kept, cases[i].want) == 0 : kept == NULL,
                   "%s: after GGUF: \"%s\"", cases[i].dir, kept ? kept : "(none)");
            es_tokenizer_free(back);
            es_tokenizer_free(t);
        }
    }
    TEST("tokenizer: a malformed chat template file fails the load, naming the file") {
        static const struct {
            const char *dir, *files[3], *want;
        } cases[] = {
            {"ct_bad_json", {"tokenizer_config.json", "{\"chat_template\": "}, "invalid JSON"},
            {"ct_array", {"tokenizer_config.json", "[1]"}, "not a JSON object"},
            {"ct_number", {"tokenizer_config.json", "{\"chat_template\": 5}"}, "neither a string"},
            {"ct_no_default",
             {"chat_template.json", "{\"chat_template\": [{\"name\": \"x\", \"template\": \"A\"}]}"},
             "neither a string"},
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            es_error err = {{0}};
            es_tokenizer *t = load_with_siblings(cases[i].dir, cases[i].files, &err);
            char path[600];
            snprintf(path, sizeof path, "%s/%s/%s", test_tmpdir(), cases[i].dir,
                     cases[i].files[0]);
            check_load_fails(t, &err, path, cases[i].want, cases[i].dir);
        }
        es_error err = {{0}};
        gguf_writer *w = gguf_writer_new();
        es_tokenizer *syn = es_tokenizer_synthetic(300, &err);
        es_tokenizer *t = NULL;
        if (syn && es_tokenizer_write_gguf(syn, w, &err) == 0 &&
            gguf_writer_set_u32(w, "tokenizer.chat_template", 7) == 0)
            t = tokenizer_from_writer(w, "ct.gguf", &err);
        check_load_fails(t, &err, "ct.gguf", "tokenizer.chat_template", "GGUF template not a string");
        es_tokenizer_free(syn);
        gguf_writer_free(w);
    }
}

/* ------------------------------------------------------ damaged files -- */

static uint64_t next_random(uint64_t *s) { /* xorshift64 */
    *s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
    return *s;
}

/* Flips a few random bytes or cuts the copy short. */
static size_t damage(uint64_t *rng, const uint8_t *src, size_t n, uint8_t *dst) {
    memcpy(dst, src, n);
    if (next_random(rng) % 4 == 0) return (size_t)(next_random(rng) % n);
    for (int k = 1 + (int)(next_random(rng) % 4); k > 0; k--)
        dst[next_random(rng) % n] = (uint8_t)next_random(rng);
    return n;
}

/* Whatever loads must also encode and decode without trouble. */
static void exercise(es_tokenizer *t) {
    if (!t) return;
    int32_t *ids;
    size_t n, len;
    static const char text[] = "ab <|eot_id|> x\xFF"; /* sizeof: with the NUL byte */
    if (es_tokenize(t, text, sizeof text, ES_TOKENIZE_PARSE_SPECIAL | ES_TOKENIZE_ADD_BOS, &ids, &n,
                    NULL) == 0) {
        for (size_t i = 0; i < n; i++) es_token_to_piece(t, i ? ids[i - 1] : -1, ids[i], 1, &len);
        free(ids);
    }
    es_tokenizer_free(t);
}

static void test_damaged_files(void) {
    TEST("tokenizer: randomly damaged tokenizer.bin, tokenizer.json and GGUF files never crash") {
        uint64_t rng = 0x9E3779B97F4A7C15ull;
        es_error err = {{0}};
        sbuf bin = small_bin(8);
        char *json = mini_tokenizer_json(&(mini_json){0});
        es_tokenizer *syn = es_tokenizer_synthetic(300, &err);
        gguf_writer *w = gguf_writer_new();
        uint8_t *gg = NULL;
        size_t gg_size = 0;
        CHECK(syn && es_tokenizer_write_gguf(syn, w, &err) == 0 &&
              gguf_writer_to_buffer(w, &gg, &gg_size, &err) == 0);
        const struct {
            const uint8_t *data;
            size_t n;
        } sources[] = {
            {(const uint8_t *)bin.s, bin.n}, {(const uint8_t *)json, strlen(json)}, {gg, gg_size}};
        size_t max = bin.n + strlen(json) + gg_size;
        uint8_t *buf = malloc(max);
        const char *path = tmp_file("damaged");
        for (int round = 0; round < 900; round++) {
            int kind = round % 3;
            if (!sources[kind].data) continue;
            size_t n = damage(&rng, sources[kind].data, sources[kind].n, buf);
            if (kind == 2) {
                gguf_file f;
                if (gguf_parse(&f, buf, n, "damaged.gguf", &err) == 0) {
                    exercise(es_tokenizer_from_gguf(&f, &err));
                    gguf_close(&f);
                }
            } else {
                write_file(path, buf, n);
                exercise(kind == 0 ? es_tokenizer_from_llama2c(path, 0, &err)
                                   : es_tokenizer_from_json(path, &err));
            }
        }
        free(buf);
        free(bin.s);
        free(json);
        free(gg);
        gguf_writer_free(w);
        es_tokenizer_free(syn);
    }
}

void tokenizer_file_tests(void) {
    test_damaged_files();
    test_mini_json();
    test_malformed_json();
    test_llama2c_files();
    test_malformed_gguf();
    test_synthetic();
    test_load_and_api();
    test_chat_template_files();
    tokenizer_llama3_id_tests();
}
