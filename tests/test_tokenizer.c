/* Tokenizer tests, part 1: the real vocabularies from ../shared against
 * vectors made by independent reference tokenizers (tests/data/tokenizer,
 * see its README), decode(encode(x)) == x on pseudo-random text, the
 * heap-based encoders against plain rescanning references, special-token
 * parsing, and speed on long and pathological inputs. Part 2 (loaders,
 * malformed files, GGUF round trips, the synthetic vocabulary) is in
 * test_tokenizer_files.c. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "test.h"
#include "tokenizer/tokenizer_impl.h"

void tokenizer_file_tests(void);
#include "tokenizer_test_util.h"

/* ------------------------------------------------------------- helpers -- */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t rng_next(uint64_t *s) { /* splitmix64 */
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static size_t put_utf8(uint32_t cp, char *out) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Random text of up to max_chars characters from a mix of scripts,
 * whitespace, digits, punctuation and emoji. Returns the byte count. */
static size_t random_utf8(uint64_t *rng, char *out, int max_chars) {
    static const uint32_t ranges[][2] = {
        {'a', 'z'},     {'A', 'Z'},          {'0', '9'},       {' ', ' '},         {' ', '/'},
        {'\n', '\n'},   {'\t', '\t'},        {'\r', '\r'},     {0xE0, 0xFF},       {0x430, 0x44F},
        {0x391, 0x3C9}, {0x4E00, 0x4FFF},    {0x3041, 0x3096}, {0x1F600, 0x1F64F}, {0x200D, 0x200D},
        {0x627, 0x64A}, {0x915, 0x939},      {0x301, 0x301},   {0xA0, 0xA0},       {0x3000, 0x3000},
        {0x1, 0x1F},    {0x10000, 0x10FFFF},
    };
    int n = (int)(rng_next(rng) % (uint64_t)(max_chars + 1));
    size_t len = 0;
    for (int i = 0; i < n; i++) {
        const uint32_t *r = ranges[rng_next(rng) % (sizeof ranges / sizeof ranges[0])];
        uint32_t cp = r[0] + (uint32_t)(rng_next(rng) % (r[1] - r[0] + 1));
        if (cp >= 0xD800 && cp <= 0xDFFF) cp = 'x';
        if (cp == 0x2581) cp = 'y'; /* '▁' is a space to SentencePiece: not invertible */
        len += put_utf8(cp, out + len);
    }
    return len;
}

/* Concatenated decoded pieces; SPM callers pass the BOS they encoded with. */
static char *decode_all(const es_tokenizer *tok, const int32_t *ids, size_t n, int32_t prev,
                        size_t *len) {
    size_t cap = 16, used = 0;
    char *out = malloc(cap);
    for (size_t i = 0; i < n; i++) {
        size_t plen;
        const char *p = es_token_to_piece(tok, prev, ids[i], 0, &plen);
        while (used + plen + 1 > cap) out = realloc(out, cap *= 2);
        memcpy(out + used, p, plen);
        used += plen;
        prev = ids[i];
    }
    out[used] = '\0';
    *len = used;
    return out;
}

/* 1 if decode(encode(text)) == text (with BOS for SPM's leading-space rule). */
static int round_trips(const es_tokenizer *tok, const char *text, size_t len) {
    int32_t *ids;
    size_t n, dlen;
    es_error err = {{0}};
    int spm = tok->kind == TOK_SPM;
    if (es_tokenize(tok, text, len, spm ? ES_TOKENIZE_ADD_BOS : 0, &ids, &n, &err) != 0) {
        CHECKF(0, "es_tokenize: %s", err.msg);
        return 0;
    }
    char *back =
        spm ? decode_all(tok, ids + 1, n - 1, ids[0], &dlen) : decode_all(tok, ids, n, -1, &dlen);
    int ok = dlen == len && memcmp(back, text, len) == 0;
    free(back);
    free(ids);
    return ok;
}

static es_tokenizer *load_shared(const char *rel) {
    const char *path = test_shared(rel);
    if (!path) return NULL;
    es_error err = {{0}};
    es_tokenizer *tok = es_tokenizer_load(path, &err);
    CHECKF(tok != NULL, "%s", err.msg);
    return tok;
}

/* A copy of tok read back from its own GGUF serialisation. */
static es_tokenizer *through_gguf(const es_tokenizer *tok) {
    es_error err = {{0}};
    gguf_writer *w = gguf_writer_new();
    uint8_t *buf = NULL;
    size_t size = 0;
    gguf_file f;
    es_tokenizer *back = NULL;
    if (es_tokenizer_write_gguf(tok, w, &err) == 0 &&
        gguf_writer_to_buffer(w, &buf, &size, &err) == 0 &&
        gguf_parse(&f, buf, size, "roundtrip.gguf", &err) == 0) {
        back = es_tokenizer_from_gguf(&f, &err);
        gguf_close(&f);
    }
    CHECKF(back != NULL, "GGUF round trip: %s", err.msg);
    gguf_writer_free(w);
    free(buf);
    return back;
}

/* -------------------------------------------------------- test vectors -- */

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Undoes the escapes of the .tsv files (README.md): \\ \t \n \r \xHH \u{H..}.
 * Returns the byte count, or -1 on a malformed escape. */
static long unescape(const char *s, size_t n, char *out) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\\') {
            out[k++] = s[i];
            continue;
        }
        if (++i == n) return -1;
        switch (s[i]) {
        case '\\': out[k++] = '\\'; break;
        case 't': out[k++] = '\t'; break;
        case 'n': out[k++] = '\n'; break;
        case 'r': out[k++] = '\r'; break;
        case 'x':
            if (i + 2 >= n || hex_value(s[i + 1]) < 0 || hex_value(s[i + 2]) < 0) return -1;
            out[k++] = (char)(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
            i += 2;
            break;
        case 'u': {
            uint32_t cp = 0;
            if (i + 1 >= n || s[i + 1] != '{') return -1;
            for (i += 2; i < n && s[i] != '}'; i++) {
                if (hex_value(s[i]) < 0) return -1;
                cp = cp * 16 + (uint32_t)hex_value(s[i]);
            }
            if (i == n || cp > 0x10FFFF) return -1;
            k += put_utf8(cp, out + k);
            break;
        }
        default: return -1;
        }
    }
    return (long)k;
}

typedef struct vector_case {
    int flags;
    char text[2048];
    size_t len;
    int32_t ids[1024];
    size_t n_ids;
} vector_case;

/* Parses "flags<TAB>input<TAB>ids". Returns 1, 0 for a comment, -1 if bad. */
static int parse_vector(char *line, vector_case *c) {
    if (line[0] == '#' || line[0] == '\0') return 0;
    char *tab1 = strchr(line, '\t'), *tab2 = tab1 ? strchr(tab1 + 1, '\t') : NULL;
    if (!tab2) return -1;
    *tab1 = '\0';
    if (strcmp(line, "plain") == 0)
        c->flags = 0;
    else if (strcmp(line, "special") == 0)
        c->flags = ES_TOKENIZE_PARSE_SPECIAL;
    else
        return -1;
    if ((size_t)(tab2 - tab1 - 1) * 4 >= sizeof c->text) return -1;
    long len = unescape(tab1 + 1, (size_t)(tab2 - tab1 - 1), c->text);
    if (len < 0) return -1;
    c->len = (size_t)len;
    c->n_ids = 0;
    for (char *p = tab2 + 1, *end; *p && *p != '\n'; p = end) {
        long v = strtol(p, &end, 10);
        if (end == p || c->n_ids == sizeof c->ids / sizeof c->ids[0]) return -1;
        c->ids[c->n_ids++] = (int32_t)v;
        while (*end == ' ') end++;
    }
    return 1;
}

static void print_ids(const char *what, const int32_t *ids, size_t n) {
    printf("    %s:", what);
    for (size_t i = 0; i < n && i < 40; i++) printf(" %d", (int)ids[i]);
    printf("%s\n", n > 40 ? " ..." : "");
}

/* Runs every vector of file on tok; prints and returns how many matched. */
static int run_vectors(const es_tokenizer *tok, const char *file, const char *label) {
    FILE *fp = fopen(file, "r");
    CHECKF(fp != NULL, "cannot open %s", file);
    if (!fp) return 0;
    static char line[16384];
    vector_case *c = malloc(sizeof *c);
    int total = 0, matched = 0;
    while (fgets(line, sizeof line, fp)) {
        line[strcspn(line, "\n")] = '\0';
        int rc = parse_vector(line, c);
        CHECKF(rc >= 0, "%s: malformed line \"%.60s\"", file, line);
        if (rc <= 0) continue;
        total++;
        int32_t *ids = NULL;
        size_t n = 0;
        es_error err = {{0}};
        CHECKF(es_tokenize(tok, c->text, c->len, c->flags, &ids, &n, &err) == 0, "%s", err.msg);
        if (n == c->n_ids && (n == 0 || memcmp(ids, c->ids, n * sizeof *ids) == 0)) {
            matched++;
        } else {
            CHECKF(0, "%s [%s]: \"%.*s\" tokenized differently", file, label, (int)c->len, c->text);
            print_ids("expected", c->ids, c->n_ids);
            print_ids("got     ", ids, n);
        }
        free(ids);
    }
    fclose(fp);
    free(c);
    printf("  %s [%s]: %d/%d vectors match\n", file, label, matched, total);
    CHECK(total > 50);
    return matched;
}

/* ---------------------------------------------------- plain references -- */

static int spm_mergeable(const es_tokenizer *t, int32_t id) {
    return id >= 0 && (t->types[id] == TOKEN_NORMAL || t->types[id] == TOKEN_USER_DEFINED);
}

/* llama2.c's encode(): rescan every adjacent pair for the best score, merge,
 * repeat; then byte fallback. O(n^2), obviously right. Returns the count. */
static size_t naive_spm(const es_tokenizer *t, const char *text, size_t len, int32_t *out) {
    char *norm = malloc(3 * len + 4);
    size_t n = 0, n_sym = 0, n_out = 0;
    if (len) memcpy(norm, "\xE2\x96\x81", 3), n = 3;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ')
            memcpy(norm + n, "\xE2\x96\x81", 3), n += 3;
        else
            norm[n++] = text[i];
    }
    size_t *start = malloc((n + 1) * sizeof *start), *slen = malloc((n + 1) * sizeof *slen);
    for (size_t i = 0; i < n; n_sym++) {
        start[n_sym] = i;
        slen[n_sym] = utf8_char_len((const unsigned char *)norm + i, n - i);
        i += slen[n_sym];
    }
    for (;;) {
        long best = -1;
        float best_score = 0;
        for (size_t i = 0; i + 1 < n_sym; i++) {
            int32_t id = piece_map_find(&t->by_text, norm + start[i], slen[i] + slen[i + 1]);
            if (spm_mergeable(t, id) && (best < 0 || t->scores[id] > best_score))
                best = (long)i, best_score = t->scores[id];
        }
        if (best < 0) break;
        slen[best] += slen[best + 1];
        memmove(start + best + 1, start + best + 2, (n_sym - best - 2) * sizeof *start);
        memmove(slen + best + 1, slen + best + 2, (n_sym - best - 2) * sizeof *slen);
        n_sym--;
    }
    for (size_t i = 0; i < n_sym; i++) {
        int32_t id = piece_map_find(&t->by_text, norm + start[i], slen[i]);
        if (spm_mergeable(t, id))
            out[n_out++] = id;
        else
            for (size_t b = 0; b < slen[i]; b++)
                out[n_out++] = t->byte_token[(unsigned char)norm[start[i] + b]];
    }
    free(norm);
    free(start);
    free(slen);
    return n_out;
}

/* Byte-level BPE the slow way: split with the same regex, then per piece
 * rescan for the lowest-rank pair, merge, repeat. Returns the count. */
static size_t naive_bpe(const es_tokenizer *t, const char *text, size_t len, int32_t *out) {
    int code;
    PCRE2_SIZE off;
    pcre2_code *re =
        pcre2_compile((PCRE2_SPTR)TOK_LLAMA3_REGEX, PCRE2_ZERO_TERMINATED,
                      PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &code, &off, NULL);
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    int32_t *ids = malloc((len + 1) * sizeof *ids);
    char *mapped = malloc(2 * len + 1);
    size_t n_out = 0, pos = 0;
    while (pos < len) {
        int rc = pcre2_match(re, (PCRE2_SPTR)text, len, pos, PCRE2_NO_JIT, md, NULL);
        size_t ms = rc > 0 ? pcre2_get_ovector_pointer(md)[0] : len;
        size_t me = rc > 0 ? pcre2_get_ovector_pointer(md)[1] : len;
        for (int part = 0; part < 2; part++) { /* the gap before the match, then the match */
            size_t a = part ? ms : pos, b = part ? me : ms, n = 0, m = 0;
            if (b <= a) continue;
            for (size_t i = a; i < b; i++) {
                ids[n++] = t->byte_token[(unsigned char)text[i]];
                size_t l;
                const char *p = tok_text(t, ids[n - 1], &l);
                memcpy(mapped + m, p, l), m += l;
            }
            int32_t whole = piece_map_find(&t->by_text, mapped, m);
            if (t->ignore_merges && whole >= 0 && t->types[whole] == TOKEN_NORMAL)
                ids[0] = whole, n = 1;
            for (;;) {
                long best = -1;
                int32_t best_rank = 0, merged = 0;
                for (size_t i = 0; i + 1 < n; i++) {
                    const pair_slot *s = pair_map_find(&t->merges, ids[i], ids[i + 1]);
                    if (s && (best < 0 || s->rank < best_rank))
                        best = (long)i, best_rank = s->rank, merged = s->merged;
                }
                if (best < 0) break;
                ids[best] = merged;
                memmove(ids + best + 1, ids + best + 2, (n - best - 2) * sizeof *ids);
                n--;
            }
            memcpy(out + n_out, ids, n * sizeof *ids);
            n_out += n;
        }
        pos = me;
    }
    free(ids);
    free(mapped);
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    return n_out;
}

/* Encodes many random strings with tok and with the plain reference. */
static void
compare_with_naive(const es_tokenizer *tok, int n_strings, int max_chars, int random_bytes,
                   size_t (*naive)(const es_tokenizer *, const char *, size_t, int32_t *)) {
    uint64_t rng = 12345;
    char *text = malloc(4 * (size_t)max_chars + 1);
    int32_t *want = malloc((4 * (size_t)max_chars + 4) * sizeof *want);
    int bad = 0;
    for (int s = 0; s < n_strings; s++) {
        size_t len = random_utf8(&rng, text, max_chars);
        if (random_bytes)
            for (size_t i = 0; i < len; i++) text[i] = (char)rng_next(&rng);
        int32_t *ids;
        size_t n;
        es_error err = {{0}};
        CHECKF(es_tokenize(tok, text, len, 0, &ids, &n, &err) == 0, "%s", err.msg);
        size_t n_want = naive(tok, text, len, want);
        if (n != n_want || memcmp(ids, want, n * sizeof *ids) != 0) {
            if (bad++ < 3)
                CHECKF(0, "%s: string %d (%zu bytes) differs from the plain reference", tok->path,
                       s, len);
        }
        free(ids);
    }
    CHECK_INT(bad, 0);
    free(text);
    free(want);
}

/* 1 if text holds '▁' (U+2581), which SentencePiece reads as a space. */
static int has_lower_block(const char *text, size_t len) {
    for (size_t i = 0; i + 2 < len; i++)
        if (memcmp(text + i, "\xE2\x96\x81", 3) == 0) return 1;
    return 0;
}

/* decode(encode(x)) == x for random UTF-8 (and random bytes if asked). */
static void check_round_trips(const es_tokenizer *tok, int n_strings, int random_bytes) {
    uint64_t rng = 777;
    char text[4 * 300 + 1];
    int bad = 0;
    for (int s = 0; s < n_strings; s++) {
        size_t len = random_utf8(&rng, text, 300);
        if (random_bytes) {
            for (size_t i = 0; i < len; i++) text[i] = (char)rng_next(&rng);
            if (tok->kind == TOK_SPM && has_lower_block(text, len)) continue;
        }
        if (!round_trips(tok, text, len) && bad++ < 3)
            CHECKF(0, "%s: string %d (%zu bytes) does not round-trip", tok->path, s, len);
    }
    CHECK_INT(bad, 0);
}

/* ---------------------------------------------------------- the cases -- */

#define LLAMA3_TSV "tests/data/tokenizer/llama3.tsv"
#define LLAMA2_TSV "tests/data/tokenizer/llama2.tsv"

/* Tokenizes a C string into out (at most cap ids); returns the count. */
size_t tokenizer_test_encode(const es_tokenizer *tok, const char *text, int flags, int32_t *out, size_t cap) {
    int32_t *ids;
    size_t n;
    es_error err = {{0}};
    if (es_tokenize(tok, text, strlen(text), flags, &ids, &n, &err) != 0) {
        CHECKF(0, "es_tokenize(\"%s\"): %s", text, err.msg);
        return 0;
    }
    for (size_t i = 0; i < n && i < cap; i++) out[i] = ids[i];
    free(ids);
    return n;
}

int tokenizer_test_piece_is(const es_tokenizer *tok, int32_t prev, int32_t id, int show, const char *want) {
    size_t len;
    const char *p = es_token_to_piece(tok, prev, id, show, &len);
    return len == strlen(want) && memcmp(p, want, len) == 0;
}

/* Long and pathological texts: each encodes in linear-ish time and round-trips. */
static void check_long_inputs(const es_tokenizer *tok, const char *name) {
    static const char prose[] = "Once upon a time, there was a little girl named Lily. "
                                "She loved to play outside in the sun 123456 times!\n";
    size_t n = 400000;
    char *text = malloc(n);
    const char *kinds[] = {"prose", "spaces", "one letter", "digits"};
    for (int k = 0; k < 4; k++) {
        for (size_t i = 0; i < n; i++)
            text[i] = k == 0   ? prose[i % (sizeof prose - 1)]
                      : k == 1 ? ' '
                      : k == 2 ? 'a'
                               : (char)('0' + i % 10);
        double t0 = now_s();
        int ok = round_trips(tok, text, n);
        double dt = now_s() - t0;
        CHECKF(ok, "%s: %s does not round-trip", name, kinds[k]);
        CHECKF(dt < 10.0, "%s: %s took %.2f s", name, kinds[k], dt);
        printf("  %s: 400 kB of %s encoded and decoded in %.0f ms\n", name, kinds[k], dt * 1e3);
    }
    free(text);
}

static void test_llama3(const es_tokenizer *json) {
    int32_t ids[64];
    size_t n;
    TEST("tokenizer: llama3 tokenizer.json matches the reference vectors") {
        run_vectors(json, LLAMA3_TSV, "tokenizer.json");
    }
    TEST("tokenizer: llama3 read back from GGUF matches the reference vectors") {
        es_tokenizer *back = through_gguf(json);
        if (back) {
            run_vectors(back, LLAMA3_TSV, "GGUF");
            CHECK_STR(es_tokenizer_kind(back), es_tokenizer_kind(json));
            CHECK_INT(back->n_merges, json->n_merges);
        }
        es_tokenizer_free(back);
    }
    TEST("tokenizer: llama3 vocabulary facts") {
        CHECK_INT(es_tokenizer_vocab_size(json), 128256);
        CHECK_INT(es_tokenizer_bos(json), 128000);
        CHECK_INT(es_tokenizer_eos(json), 128001);
        CHECK_STR(es_tokenizer_kind(json), "gpt2 (byte-level BPE, llama-bpe)");
        n = tokenizer_test_encode(json, "Hello world", ES_TOKENIZE_ADD_BOS, ids, 64);
        CHECK(n == 3 && ids[0] == 128000 && ids[1] == 9906 && ids[2] == 1917);
        CHECK(es_tokenizer_is_eog(json, 128001) && es_tokenizer_is_eog(json, 128009));
        /* Llama 3.0 has no <|eom_id|> (3.1 put it at 128008): no EOG by that id */
        CHECK(tokenizer_test_piece_is(json, -1, 128008, 1, "<|reserved_special_token_4|>"));
        CHECK(!es_tokenizer_is_eog(json, 128008));
        CHECK(!es_tokenizer_is_eog(json, 128000) && !es_tokenizer_is_eog(json, 9906) &&
              !es_tokenizer_is_eog(json, -1));
        CHECK_INT(json->n_merges, 280147);
    }
    TEST("tokenizer: llama3 special tokens are parsed only when asked") {
        n = tokenizer_test_encode(json, "<|eot_id|>", ES_TOKENIZE_PARSE_SPECIAL, ids, 64);
        CHECK(n == 1 && ids[0] == 128009);
        n = tokenizer_test_encode(json, "<|eot_id|>", 0, ids, 64);
        CHECK(n > 1);
        for (size_t i = 0; i < n && i < 64; i++) CHECK(ids[i] < 128000);
        n = tokenizer_test_encode(json, "<|begin_of_text|>", ES_TOKENIZE_PARSE_SPECIAL | ES_TOKENIZE_ADD_BOS, ids,
                64);
        CHECK(n == 2 && ids[0] == 128000 && ids[1] == 128000);
        n = tokenizer_test_encode(json, "<|eot_id", ES_TOKENIZE_PARSE_SPECIAL, ids, 64); /* incomplete: plain text */
        for (size_t i = 0; i < n && i < 64; i++) CHECK(ids[i] < 128000);
    }
    TEST("tokenizer: llama3 decodes pieces to exact bytes") {
        CHECK(tokenizer_test_piece_is(json, -1, 128009, 0, ""));
        CHECK(tokenizer_test_piece_is(json, -1, 128009, 1, "<|eot_id|>"));
        CHECK(tokenizer_test_piece_is(json, 128000, 1917, 0, " world")); /* no leading-space rule for BPE */
        CHECK(tokenizer_test_piece_is(json, -1, 1917, 0, " world"));
        CHECK(tokenizer_test_piece_is(json, -1, 220, 0, " "));
        CHECK(tokenizer_test_piece_is(json, -1, 198, 0, "\n"));
        CHECK(tokenizer_test_piece_is(json, -1, 128256, 1, "") && tokenizer_test_piece_is(json, -1, -5, 1, ""));
        /* "😀" is F0 9F 98 80: split over tokens, each piece invalid UTF-8 alone */
        n = tokenizer_test_encode(json, "\xF0\x9F\x98\x80", 0, ids, 64);
        CHECK(n >= 2);
        size_t len;
        char *s = decode_all(json, ids, n, -1, &len);
        CHECK(len == 4 && memcmp(s, "\xF0\x9F\x98\x80", 4) == 0);
        free(s);
        es_token_to_piece(json, -1, ids[0], 0, &len);
        CHECK(len < 4);
    }
    TEST("tokenizer: llama3 invalid UTF-8 splits the text and every byte survives") {
        int32_t a[64], b[64], c[64], all[64];
        size_t na = tokenizer_test_encode(json, "ab", 0, a, 64), nb = tokenizer_test_encode(json, "\xFF", 0, b, 64);
        size_t nc = tokenizer_test_encode(json, "cd", 0, c, 64);
        size_t nall = tokenizer_test_encode(json, "ab\xFF" "cd", 0, all, 64);
        CHECK(nall == na + nb + nc && memcmp(all, a, na * 4) == 0 &&
              memcmp(all + na, b, nb * 4) == 0 && memcmp(all + na + nb, c, nc * 4) == 0);
        CHECK(round_trips(json, "\xC3\x28 \xE2\x82 \xF0\x9F\x98 x\x80y\xC0\xAF\xED\xA0\x80", 18));
    }
    TEST("tokenizer: llama3 round-trips random UTF-8 and random bytes") {
        check_round_trips(json, 300, 0);
        check_round_trips(json, 300, 1);
    }
    TEST("tokenizer: llama3 encoder equals a plain rescanning BPE") {
        compare_with_naive(json, 150, 200, 0, naive_bpe);
        compare_with_naive(json, 150, 200, 1, naive_bpe);
    }
    TEST("tokenizer: llama3 long and pathological inputs") { check_long_inputs(json, "llama3"); }
}

static void test_llama2(const es_tokenizer *bin) {
    int32_t ids[64];
    size_t n;
    TEST("tokenizer: llama2 tokenizer.bin matches the reference vectors") {
        run_vectors(bin, LLAMA2_TSV, "tokenizer.bin");
    }
    TEST("tokenizer: llama2 read back from GGUF matches the reference vectors") {
        es_tokenizer *back = through_gguf(bin);
        if (back) run_vectors(back, LLAMA2_TSV, "GGUF");
        es_tokenizer_free(back);
    }
    TEST("tokenizer: llama2 vocabulary facts and decoding") {
        CHECK_INT(es_tokenizer_vocab_size(bin), 32000);
        CHECK_INT(es_tokenizer_bos(bin), 1);
        CHECK_INT(es_tokenizer_eos(bin), 2);
        CHECK(es_tokenizer_is_eog(bin, 2) && !es_tokenizer_is_eog(bin, 1));
        CHECK_STR(es_tokenizer_kind(bin), "llama (SentencePiece BPE)");
        n = tokenizer_test_encode(bin, "Hello", ES_TOKENIZE_ADD_BOS, ids, 64);
        CHECK(n == 2 && ids[0] == 1 && ids[1] == 15043);
        CHECK(tokenizer_test_piece_is(bin, 1, 15043, 0, "Hello")); /* after BOS: no leading space */
        CHECK(tokenizer_test_piece_is(bin, -1, 15043, 0, " Hello"));
        CHECK(tokenizer_test_piece_is(bin, 1, 1, 0, "") && tokenizer_test_piece_is(bin, -1, 1, 1, "<s>") &&
              tokenizer_test_piece_is(bin, -1, 2, 1, "</s>"));
        CHECK(tokenizer_test_piece_is(bin, -1, 0, 0, "") && tokenizer_test_piece_is(bin, -1, 0, 1, "<unk>"));
        CHECK(tokenizer_test_piece_is(bin, -1, 13, 0, "\n"));        /* <0x0A> */
        n = tokenizer_test_encode(bin, "\xF0\x9F\x98\x80", 0, ids, 64); /* no piece: four byte tokens after '▁' */
        CHECK(n == 5 && ids[0] == 29871);
        size_t len;
        char *s = decode_all(bin, ids + 1, n - 1, -1, &len);
        CHECK(len == 4 && memcmp(s, "\xF0\x9F\x98\x80", 4) == 0);
        free(s);
    }
    TEST("tokenizer: llama2 special tokens are parsed only when asked") {
        n = tokenizer_test_encode(bin, "<s>hi</s>", ES_TOKENIZE_PARSE_SPECIAL, ids, 64);
        CHECK(n >= 3 && ids[0] == 1 && ids[n - 1] == 2);
        n = tokenizer_test_encode(bin, "<s>hi</s>", 0, ids, 64);
        for (size_t i = 0; i < n && i < 64; i++) CHECK(ids[i] != 1 && ids[i] != 2);
    }
    TEST("tokenizer: llama2 round-trips random UTF-8 and random bytes") {
        check_round_trips(bin, 300, 0);
        check_round_trips(bin, 300, 1);
    }
    TEST("tokenizer: llama2 encoder equals llama2.c's rescanning merge loop") {
        compare_with_naive(bin, 200, 150, 0, naive_spm);
        compare_with_naive(bin, 100, 150, 1, naive_spm);
    }
    TEST("tokenizer: llama2 long and pathological inputs") { check_long_inputs(bin, "llama2"); }
}

/* The same text through tok512.bin and through the GGUF's own vocabulary. */
static void test_stories(void) {
    TEST("tokenizer: stories260K tok512.bin and GGUF vocabularies agree") {
        es_tokenizer *bin = load_shared("models/stories260K/tok512.bin");
        es_tokenizer *gg = load_shared("models/stories260K/stories260K.gguf");
        if (bin && gg) {
            CHECK_INT(es_tokenizer_vocab_size(bin), 512);
            CHECK_INT(es_tokenizer_vocab_size(gg), 512);
            int same_vocab = 1;
            for (int32_t id = 0; id < 512; id++) {
                size_t la, lb;
                const char *a = tok_text(bin, id, &la), *b = tok_text(gg, id, &lb);
                same_vocab &= la == lb && memcmp(a, b, la) == 0 &&
                              bin->types[id] == gg->types[id] && bin->scores[id] == gg->scores[id];
            }
            CHECK(same_vocab);
            uint64_t rng = 99;
            char text[1300];
            int differ = 0;
            for (int s = 0; s < 300; s++) {
                size_t len = s == 0 ? strlen(strcpy(text, "Once upon a time, Lily saw a big dog."))
                                    : random_utf8(&rng, text, 300);
                int32_t *a, *b;
                size_t na, nb;
                CHECK(es_tokenize(bin, text, len, ES_TOKENIZE_ADD_BOS, &a, &na, NULL) == 0);
                CHECK(es_tokenize(gg, text, len, ES_TOKENIZE_ADD_BOS, &b, &nb, NULL) == 0);
                differ += na != nb || memcmp(a, b, na * sizeof *a) != 0;
                if (s == 0) CHECK(na < 16); /* real merges happened, not byte fallback */
                free(a);
                free(b);
                CHECK(round_trips(gg, text, len));
            }
            CHECK_INT(differ, 0);
        }
        es_tokenizer_free(bin);
        es_tokenizer_free(gg);
    }
}

void suite_tokenizer(void) {
    const char *path = test_shared("tokenizers/llama3/tokenizer.json");
    if (path) {
        es_error err = {{0}};
        double t0 = now_s();
        es_tokenizer *json = es_tokenizer_from_json(path, &err);
        double dt = now_s() - t0;
        TEST("tokenizer: llama3 tokenizer.json loads") {
            CHECKF(json != NULL, "%s", err.msg);
            printf("  llama3 tokenizer.json (128,256 tokens, 280,147 merges) loaded in %.0f ms\n",
                   dt * 1e3);
        }
        if (json) test_llama3(json);
        es_tokenizer_free(json);
    }
    es_tokenizer *bin = load_shared("tokenizers/llama2/tokenizer.bin");
    if (bin) test_llama2(bin);
    es_tokenizer_free(bin);
    test_stories();
    tokenizer_file_tests();
}
