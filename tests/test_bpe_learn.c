/* Tests of the BPE vocabulary learner (src/tokenizer/bpe_learn.c): a corpus
 * whose merges are worked out by hand, the incremental learner against a
 * plain recount-every-merge reference, byte-exact round trips, digits kept
 * apart, compression on a repetitive corpus, determinism, the GGUF file
 * (reloaded, and carried into a synth model that loads), and bad arguments. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "tokenizer/tokenizer_impl.h"

/* Learns from NUL-terminated texts. */
static es_tokenizer *learn(const char *const *texts, size_t n, int n_vocab, es_error *err) {
    size_t *lens = malloc((n ? n : 1) * sizeof *lens);
    for (size_t i = 0; i < n; i++) lens[i] = strlen(texts[i]);
    es_tokenizer *t = es_tokenizer_learn_bpe(texts, lens, n, n_vocab, err);
    free(lens);
    return t;
}

/* 1 if piece id is spelled exactly s (GPT-2 byte characters). */
static int piece_is(const es_tokenizer *t, int32_t id, const char *s) {
    size_t len;
    const char *p = tok_text(t, id, &len);
    return len == strlen(s) && memcmp(p, s, len) == 0;
}

/* Encodes text, decodes every id back and compares byte for byte. */
static int round_trips(const es_tokenizer *t, const char *text, size_t len, size_t *n_ids) {
    int32_t *ids = NULL;
    size_t n = 0;
    es_error err = {{0}};
    if (es_tokenize(t, text, len, 0, &ids, &n, &err) != 0) return 0;
    char *back = malloc(len + 1);
    size_t used = 0;
    int ok = 1;
    for (size_t i = 0; i < n && ok; i++) {
        size_t plen;
        const char *p = es_token_to_piece(t, i ? ids[i - 1] : -1, ids[i], 0, &plen);
        ok = used + plen <= len;
        if (ok) memcpy(back + used, p, plen);
        used += plen;
    }
    ok = ok && used == len && memcmp(back, text, len) == 0;
    if (n_ids) *n_ids = n;
    free(back);
    free(ids);
    return ok;
}

/* ---------------------------------------------------------- by hand -- */

/* Corpus: "hug" x10, "pug" x5, "pun" x12, "bun" x4, "hugs" x5, each text one
 * pre-token. Initial pairs: (u,g) 10+5+5 = 20, (p,u) 5+12 = 17, (u,n) 12+4
 * = 16, (h,u) 10+5 = 15, (g,s) 5, (b,u) 4.
 *  1. (u,g) 20 -> "ug" 256. Now (h,ug) 15, (p,ug) 5, (ug,s) 5, (p,u) 12,
 *     (u,n) 16, (b,u) 4.
 *  2. (u,n) 16 -> "un" 257. Now (p,un) 12, (b,un) 4; (p,u) and (b,u) gone.
 *  3. (h,ug) 15 -> "hug" 258. Now (hug,s) 5.
 *  4. (p,un) 12 -> "pun" 259.
 *  5. Tie at 5: (p,ug) = (112,256) and (hug,s) = (258,115); the lower
 *     left id wins (though "hug s" sorts before "p ug" as text): "pug" 260.
 *  6. (hug,s) 5 -> "hugs" 261.
 *  7. (b,un) 4 -> "bun" 262. No pair is left: 263 pieces + BOS + EOS. */
static void test_by_hand(void) {
    TEST("bpe_learn: merges worked out by hand, ties to the lower ids") {
        const char *texts[36];
        size_t n = 0;
        static const struct { const char *w; int times; } corpus[] = {
            {"hug", 10}, {"pug", 5}, {"pun", 12}, {"bun", 4}, {"hugs", 5}};
        for (size_t i = 0; i < 5; i++)
            for (int k = 0; k < corpus[i].times; k++) texts[n++] = corpus[i].w;
        es_error err = {{0}};
        es_tokenizer *t = learn(texts, n, 1000, &err);
        CHECKF(t, "%s", err.msg);
        if (!t) continue;
        static const int32_t want_l[7] = {'u', 'u', 'h', 'p', 'p', 258, 'b'};
        static const int32_t want_r[7] = {'g', 'n', 256, 257, 256, 's', 257};
        static const char *const want_piece[7] = {"ug", "un", "hug", "pun", "pug", "hugs", "bun"};
        CHECK_INT(es_tokenizer_vocab_size(t), 265); /* ran out of pairs before 1000 */
        CHECK_INT(t->n_merges, 7);
        for (int i = 0; i < 7 && i < t->n_merges; i++) {
            CHECKF(t->merge_left[i] == want_l[i] && t->merge_right[i] == want_r[i],
                   "merge %d: (%d, %d)", i, (int)t->merge_left[i], (int)t->merge_right[i]);
            CHECKF(piece_is(t, 256 + i, want_piece[i]), "piece %d", 256 + i);
        }
        CHECK(piece_is(t, ' ', "\xC4\xA0") && piece_is(t, 'a', "a")); /* ' ' is 'Ġ' */
        CHECK(piece_is(t, 263, "<|begin_of_text|>") && t->types[263] == TOKEN_CONTROL);
        CHECK(piece_is(t, 264, "<|end_of_text|>") && t->types[264] == TOKEN_CONTROL);
        CHECK_INT(es_tokenizer_bos(t), 263);
        CHECK_INT(es_tokenizer_eos(t), 264);
        CHECK(es_tokenizer_is_eog(t, 264) && !es_tokenizer_is_eog(t, 263));
        /* " pun" is no piece: merged as Ġ p u n -> Ġ p un -> Ġ pun. */
        int32_t *ids = NULL;
        size_t n_ids = 0;
        CHECK(es_tokenize(t, "hugs pun", 8, ES_TOKENIZE_ADD_BOS, &ids, &n_ids, &err) == 0);
        CHECK_INT(n_ids, 4);
        if (n_ids == 4) CHECK(ids[0] == 263 && ids[1] == 261 && ids[2] == ' ' && ids[3] == 259);
        free(ids);
        es_tokenizer_free(t);

        /* Stopped by the size: 262 = 256 bytes + 4 merges + BOS + EOS. */
        t = learn(texts, n, 262, &err);
        CHECKF(t, "%s", err.msg);
        if (!t) continue;
        CHECK_INT(es_tokenizer_vocab_size(t), 262);
        CHECK_INT(t->n_merges, 4);
        CHECK(piece_is(t, 259, "pun") && piece_is(t, 260, "<|begin_of_text|>"));
        CHECK_INT(es_tokenizer_bos(t), 260);
        CHECK_INT(es_tokenizer_eos(t), 261);
        es_tokenizer_free(t);
    }
}

/* ------------------------------------------------ plain reference BPE -- */

/* Recounts every pair over every distinct word before each merge: slow and
 * obviously right. Words are single pre-tokens (letters only), so no split. */
typedef struct ref_bpe {
    char pieces[600][64];
    int n_pieces;
    int left[600], right[600], n_merges;
} ref_bpe;

static void ref_learn(char words[][16], const int *freq, int n_words, int max_pieces,
                      ref_bpe *r) {
    static int sym[400][16], len[400];
    static int64_t count[600][600];
    r->n_pieces = 256;
    r->n_merges = 0;
    for (int b = 0; b < 256; b++) r->pieces[b][0] = (char)b, r->pieces[b][1] = 0;
    for (int w = 0; w < n_words; w++) {
        len[w] = (int)strlen(words[w]);
        for (int i = 0; i < len[w]; i++) sym[w][i] = (unsigned char)words[w][i];
    }
    while (r->n_pieces < max_pieces) {
        for (int x = 0; x < r->n_pieces; x++) memset(count[x], 0, sizeof count[x]);
        for (int w = 0; w < n_words; w++)
            for (int i = 0; i + 1 < len[w]; i++) count[sym[w][i]][sym[w][i + 1]] += freq[w];
        int64_t best = 1;
        int a = -1, b = -1;
        for (int x = 0; x < r->n_pieces; x++)
            for (int y = 0; y < r->n_pieces; y++)
                if (count[x][y] > best) best = count[x][y], a = x, b = y;
        if (a < 0) break;
        char joined[64];
        snprintf(joined, sizeof joined, "%s%s", r->pieces[a], r->pieces[b]);
        int m = 0;
        while (m < r->n_pieces && strcmp(r->pieces[m], joined) != 0) m++;
        if (m == r->n_pieces) strcpy(r->pieces[r->n_pieces++], joined);
        r->left[r->n_merges] = a;
        r->right[r->n_merges++] = b;
        for (int w = 0; w < n_words; w++) {
            int out = 0;
            for (int i = 0; i < len[w];)
                if (i + 1 < len[w] && sym[w][i] == a && sym[w][i + 1] == b) sym[w][out++] = m, i += 2;
                else sym[w][out++] = sym[w][i++];
            len[w] = out;
        }
    }
}

static uint32_t lcg(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(*s >> 33);
}

static void test_against_reference(void) {
    TEST("bpe_learn: incremental counts give the merges of a plain recount") {
        /* 300 distinct words over a 4-letter alphabet (many pairs of equal
         * count, so the tie rule matters), skewed frequencies. */
        static char words[300][16];
        static int freq[300];
        uint64_t seed = 7;
        int n_words = 0;
        while (n_words < 300) {
            int len = 2 + (int)(lcg(&seed) % 9);
            char w[16];
            for (int i = 0; i < len; i++) w[i] = "abcd"[lcg(&seed) % 4];
            w[len] = 0;
            int dup = 0;
            for (int k = 0; k < n_words && !dup; k++) dup = strcmp(words[k], w) == 0;
            if (dup) continue;
            strcpy(words[n_words], w);
            freq[n_words++] = 1 + (int)(lcg(&seed) % 5) * (int)(lcg(&seed) % 5);
        }
        int n_texts = 0;
        for (int w = 0; w < n_words; w++) n_texts += freq[w];
        const char **texts = malloc((size_t)n_texts * sizeof *texts);
        for (int w = 0, k = 0; w < n_words; w++)
            for (int i = 0; i < freq[w]; i++) texts[k++] = words[w];
        static ref_bpe ref;
        ref_learn(words, freq, n_words, 398, &ref);
        es_error err = {{0}};
        es_tokenizer *t = learn(texts, (size_t)n_texts, 400, &err);
        CHECKF(t, "%s", err.msg);
        free(texts);
        if (!t) continue;
        CHECK_INT(t->n_merges, ref.n_merges);
        CHECK_INT(es_tokenizer_vocab_size(t), ref.n_pieces + 2);
        int bad = 0;
        for (int i = 0; i < t->n_merges && i < ref.n_merges; i++)
            bad += t->merge_left[i] != ref.left[i] || t->merge_right[i] != ref.right[i];
        for (int id = 0; id < ref.n_pieces && id < t->n_vocab; id++)
            bad += id >= 256 && !piece_is(t, id, ref.pieces[id]);
        CHECK_INT(bad, 0);
        es_tokenizer_free(t);
    }
}

/* ---------------------------------------------------- real-ish text -- */

static const char *const varied[] = {
    "The quick brown fox jumps over the lazy dog.\n",
    "She said: \"It's done, isn't it?\" -- and we'll see.\r\n",
    "In 1967 she paid 245 coins for 3 loaves; 12+30=42.\n\n",
    "naïve café 東京 Ünïcödé straße — «quotes» …\n",
    "emoji 😀🎉 and 👍🏽 mixed with text\t\ttabs   spaces\n",
    "def f(x):\n    return x * 2  # comment\n",
    "Alice has 7 apples. Bob gives her 5 more. How many apples does Alice have?\n",
};

static void test_round_trip(void) {
    TEST("bpe_learn: encoding decodes back byte for byte, seen and unseen text") {
        const char *texts[70];
        size_t n = 0;
        for (int k = 0; k < 10; k++)
            for (size_t i = 0; i < sizeof varied / sizeof varied[0]; i++) texts[n++] = varied[i];
        es_error err = {{0}};
        es_tokenizer *t = learn(texts, n, 500, &err);
        CHECKF(t, "%s", err.msg);
        if (!t) continue;
        for (size_t i = 0; i < sizeof varied / sizeof varied[0]; i++)
            CHECKF(round_trips(t, varied[i], strlen(varied[i]), NULL), "text %zu", i);
        static const char *const unseen[] = {
            "Zebras zigzag; quixotic jesters vex 99 wizards.", "日本語のテキスト、한국어 텍스트",
            "🧪🧬 x²+y² ≠ z³", "\n\n\n   \t", "", "a", "'s'S'LL 'd",
        };
        for (size_t i = 0; i < sizeof unseen / sizeof unseen[0]; i++)
            CHECKF(round_trips(t, unseen[i], strlen(unseen[i]), NULL), "unseen %zu", i);
        static const char invalid[] = "ok \xFF\xFE broken \xE6\x9D utf8 \xC0\x80 end\x00zero";
        CHECK(round_trips(t, invalid, sizeof invalid - 1, NULL));
        es_tokenizer_free(t);
    }
}

static void test_digits(void) {
    TEST("bpe_learn: every digit is its own token") {
        /* Numbers galore, so that digit pairs would be the most frequent. */
        const char *texts[40];
        for (int i = 0; i < 40; i++) texts[i] = i % 2 ? "1967 1967 245 245 1000 2024 x1x 7a7" : varied[i % 7];
        es_error err = {{0}};
        es_tokenizer *t = learn(texts, 40, 400, &err);
        CHECKF(t, "%s", err.msg);
        if (!t) continue;
        int multi_digit = 0;
        for (int32_t id = 0; id < t->n_vocab; id++) {
            size_t len;
            const char *p = es_token_to_piece(t, -1, id, 1, &len);
            for (size_t i = 0; i < len && len > 1; i++) multi_digit += p[i] >= '0' && p[i] <= '9';
        }
        CHECK_INT(multi_digit, 0);
        const char *s = "In 1967 she paid 245 coins";
        int32_t *ids = NULL;
        size_t n = 0;
        CHECK(es_tokenize(t, s, strlen(s), 0, &ids, &n, &err) == 0);
        int digits = 0;
        for (size_t i = 0; i < n; i++) {
            size_t len;
            const char *p = es_token_to_piece(t, -1, ids[i], 0, &len);
            if (len != 1 || p[0] < '0' || p[0] > '9') continue;
            digits++;
            CHECK(ids[i] == p[0]); /* the byte's own token */
        }
        CHECK_INT(digits, 7);
        CHECK(round_trips(t, s, strlen(s), NULL));
        free(ids);
        es_tokenizer_free(t);
    }
}

static void test_compression(void) {
    TEST("bpe_learn: a repetitive corpus compresses well") {
        const char *texts[300];
        for (int i = 0; i < 300; i++) texts[i] = varied[i % 7];
        es_error err = {{0}};
        es_tokenizer *t = learn(texts, 300, 1000, &err);
        CHECKF(t, "%s", err.msg);
        if (!t) continue;
        size_t bytes = 0, tokens = 0;
        for (int i = 0; i < 7; i++) {
            size_t n = 0;
            CHECK(round_trips(t, varied[i], strlen(varied[i]), &n));
            bytes += strlen(varied[i]);
            tokens += n;
        }
        /* Each text's words become whole pieces; what is left: digits,
         * emoji bytes that are rarer than a pair, single characters. */
        CHECKF(tokens * 3 < bytes, "%zu tokens for %zu bytes", tokens, bytes);
        es_tokenizer_free(t);
    }
}

static void test_determinism(void) {
    TEST("bpe_learn: the same texts give the same vocabulary") {
        const char *texts[70];
        for (int i = 0; i < 70; i++) texts[i] = varied[(i * 3) % 7];
        es_error err = {{0}};
        es_tokenizer *a = learn(texts, 70, 420, &err), *b = learn(texts, 70, 420, &err);
        CHECKF(a && b, "%s", err.msg);
        if (a && b) {
            CHECK_INT(a->n_vocab, b->n_vocab);
            CHECK_INT(a->n_merges, b->n_merges);
            int diff = 0;
            for (int32_t id = 0; id < a->n_vocab && id < b->n_vocab; id++)
                diff += a->text_len[id] != b->text_len[id] || a->types[id] != b->types[id] ||
                        memcmp(a->text + a->text_off[id], b->text + b->text_off[id], a->text_len[id]);
            for (int32_t i = 0; i < a->n_merges && i < b->n_merges; i++)
                diff += a->merge_left[i] != b->merge_left[i] || a->merge_right[i] != b->merge_right[i];
            CHECK_INT(diff, 0);
        }
        es_tokenizer_free(a);
        es_tokenizer_free(b);
    }
}

/* ------------------------------------------------------------- files -- */

static int same_encoding(const es_tokenizer *a, const es_tokenizer *b, const char *s) {
    int32_t *x = NULL, *y = NULL;
    size_t nx = 0, ny = 0;
    int flags = ES_TOKENIZE_ADD_BOS | ES_TOKENIZE_PARSE_SPECIAL;
    int ok = es_tokenize(a, s, strlen(s), flags, &x, &nx, NULL) == 0 &&
             es_tokenize(b, s, strlen(s), flags, &y, &ny, NULL) == 0 && nx == ny &&
             memcmp(x, y, nx * sizeof *x) == 0 && nx > 0 && x[0] == es_tokenizer_bos(a);
    free(x);
    free(y);
    return ok;
}

static void test_save_load(void) {
    TEST("bpe_learn: saved GGUF loads back, and synth builds a model on it") {
        const char *texts[70];
        for (int i = 0; i < 70; i++) texts[i] = varied[i % 7];
        es_error err = {{0}};
        es_tokenizer *t = learn(texts, 70, 450, &err);
        CHECKF(t, "%s", err.msg);
        if (!t) continue;
        char path[512], model_path[512];
        snprintf(path, sizeof path, "%s/learned-vocab.gguf", test_tmpdir());
        snprintf(model_path, sizeof model_path, "%s/learned-model.gguf", test_tmpdir());
        CHECKF(es_tokenizer_save_gguf(t, path, &err) == 0, "%s", err.msg);
        es_tokenizer *back = es_tokenizer_load(path, &err);
        CHECKF(back, "%s", err.msg);
        if (back) {
            CHECK_INT(es_tokenizer_vocab_size(back), es_tokenizer_vocab_size(t));
            CHECK_STR(es_tokenizer_kind(back), "gpt2 (byte-level BPE, llama-bpe)");
            CHECK_INT(back->n_merges, t->n_merges);
            for (size_t i = 0; i < sizeof varied / sizeof varied[0]; i++)
                CHECKF(same_encoding(t, back, varied[i]), "text %zu", i);
            CHECK(same_encoding(t, back, "<|begin_of_text|>Unseen 42 words<|end_of_text|>"));
            CHECK(es_tokenizer_is_eog(back, es_tokenizer_eos(back)));
        }
        es_synth_params sp;
        CHECK(es_synth_preset("tiny", &sp, &err) == 0);
        sp.vocab_path = path;
        CHECKF(es_synth_write(&sp, model_path, &err) == 0, "%s", err.msg);
        es_model *m = es_model_load(model_path, NULL, &err);
        CHECKF(m, "%s", err.msg);
        if (m) {
            CHECK_INT(es_tokenizer_vocab_size(es_model_tokenizer(m)), es_tokenizer_vocab_size(t));
            CHECK(same_encoding(t, es_model_tokenizer(m), varied[3]));
            es_model_free(m);
        }
        es_tokenizer_free(back);
        es_tokenizer_free(t);
    }
}

static void test_errors(void) {
    TEST("bpe_learn: bad arguments are one clear line") {
        const char *texts[1] = {"some text"};
        size_t lens[1] = {9};
        es_error err = {{0}};
        static const int bad_sizes[] = {257, 0, -5, (1 << 20) + 1, 2000000000};
        for (size_t i = 0; i < sizeof bad_sizes / sizeof bad_sizes[0]; i++) {
            err.msg[0] = 0;
            CHECK(!es_tokenizer_learn_bpe(texts, lens, 1, bad_sizes[i], &err));
            CHECKF(strstr(err.msg, "vocabulary size") && !strchr(err.msg, '\n'), "%s", err.msg);
        }
        CHECK(!es_tokenizer_learn_bpe(texts, lens, 0, 300, &err));
        CHECKF(strstr(err.msg, "no texts"), "%s", err.msg);
        CHECK(!es_tokenizer_learn_bpe(NULL, NULL, 3, 300, &err));
        CHECKF(strstr(err.msg, "no texts"), "%s", err.msg);
        const char *null_text[2] = {"x", NULL};
        size_t null_lens[2] = {1, 4};
        CHECK(!es_tokenizer_learn_bpe(null_text, null_lens, 2, 300, &err));
        CHECKF(strstr(err.msg, "text 1"), "%s", err.msg);
        /* Fewest tokens: 258 (no merge at all). */
        es_tokenizer *t = es_tokenizer_learn_bpe(texts, lens, 1, 258, &err);
        CHECKF(t && es_tokenizer_vocab_size(t) == 258, "%s", err.msg);
        CHECK(es_tokenizer_save_gguf(NULL, "x.gguf", &err) != 0);
        CHECK(t && es_tokenizer_save_gguf(t, "/nonexistent-dir/v.gguf", &err) != 0);
        CHECKF(strstr(err.msg, "/nonexistent-dir/v.gguf"), "%s", err.msg);
        es_tokenizer_free(t);
    }
}

void suite_bpe_learn(void) {
    test_by_hand();
    test_against_reference();
    test_round_trip();
    test_digits();
    test_compression();
    test_determinism();
    test_save_load();
    test_errors();
}
