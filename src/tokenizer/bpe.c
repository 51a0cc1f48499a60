/* Byte-level BPE with ranked merges (GPT-2 style, as Llama 3 uses it).
 *
 * 1. Pre-tokenise: the Llama 3 split regex (TOK_LLAMA3_REGEX) cuts the text
 *    into words, numbers of up to 3 digits, punctuation runs and whitespace
 *    runs. It runs through PCRE2 with PCRE2_UTF | PCRE2_UCP so that \p{L},
 *    \p{N} and \s mean their Unicode classes.
 * 2. Each piece's bytes become GPT-2 "byte characters" (printable bytes
 *    stand for themselves, the other 68 are moved to U+0100..U+0143), so
 *    that every byte string is a string of vocabulary characters.
 * 3. With ignore_merges (Llama 3), a piece that is itself a vocabulary entry
 *    is taken whole. Otherwise its characters are merged pairwise, lowest
 *    merge rank first (ties: leftmost), until no adjacent pair has a merge.
 *
 * Invalid UTF-8: the regex is compiled with PCRE2_MATCH_INVALID_UTF, so it
 * never matches across an invalid sequence; the bytes between matches
 * (only invalid ones: every valid character is matched by some branch)
 * form pieces of their own. Every byte has a token, so decoding gives back
 * exactly the input bytes. */
#include "tokenizer/tokenizer_impl.h"

#include <stdlib.h>
#include <string.h>

#include "util/error.h"

/* The GPT-2 byte-to-unicode table: which code point stands for byte b. */
static uint16_t gpt2_char_of_byte(int b) {
    int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
    if (printable) return (uint16_t)b;
    int shifted = 0; /* how many non-printable bytes come before b */
    for (int c = 0; c < b; c++)
        shifted += !((c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE));
    return (uint16_t)(256 + shifted);
}

/* Writes the UTF-8 of a code point below 0x800; returns its length. */
static size_t put_small_utf8(uint16_t cp, char *out) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
}

int bpe_prepare(es_tokenizer *t, es_error *err) {
    for (int cp = 0; cp < 324; cp++) t->char_byte[cp] = -1;
    for (int b = 0; b < 256; b++) {
        uint16_t cp = gpt2_char_of_byte(b);
        char utf8[2];
        t->byte_char[b] = cp;
        size_t n = put_small_utf8(cp, utf8);
        t->char_byte[cp] = (int16_t)b;
        t->byte_token[b] = piece_map_find(&t->by_text, utf8, n);
        if (t->byte_token[b] < 0)
            return es_fail(err, "%s: no token for byte 0x%02X (byte character U+%04X)", t->path,
                           b, (unsigned)cp);
    }
    int code;
    PCRE2_SIZE offset;
    t->split_regex = pcre2_compile((PCRE2_SPTR)TOK_LLAMA3_REGEX, PCRE2_ZERO_TERMINATED,
                                   PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &code,
                                   &offset, NULL);
    if (!t->split_regex)
        return es_fail(err, "%s: cannot compile the split regex (PCRE2 error %d)", t->path, code);
    /* JIT is an optimisation only: without it pcre2_match interprets. */
    (void)pcre2_jit_compile(t->split_regex, PCRE2_JIT_COMPLETE);
    return 0;
}

int bpe_reserve_merges(es_tokenizer *t, int64_t n, es_error *err) {
    if (n < 0 || n > 4 * (int64_t)TOK_MAX_VOCAB)
        return es_fail(err, "%s: merge count %lld out of range", t->path, (long long)n);
    t->merge_left = malloc((size_t)(n ? n : 1) * sizeof *t->merge_left);
    t->merge_right = malloc((size_t)(n ? n : 1) * sizeof *t->merge_right);
    if (!t->merge_left || !t->merge_right || pair_map_init(&t->merges, (uint32_t)n) != 0)
        return es_fail(err, "%s: out of memory for %lld merges", t->path, (long long)n);
    t->merge_cap = (int32_t)n;
    return 0;
}

static int merge_side(const es_tokenizer *t, int32_t rank, const char *s, size_t len,
                      int32_t *id, es_error *err) {
    *id = piece_map_find(&t->by_text, s, len);
    if (*id < 0)
        return es_fail(err, "%s: merge %d names unknown token \"%s\"", t->path, (int)rank,
                       es_show(s, len).text);
    return 0;
}

int bpe_add_merge(es_tokenizer *t, const char *a, size_t a_len, const char *b,
                  size_t b_len, es_error *err) {
    int32_t rank = t->n_merges, left, right;
    if (rank >= t->merge_cap) return es_fail(err, "%s: more merges than announced", t->path);
    if (merge_side(t, rank, a, a_len, &left, err) != 0 ||
        merge_side(t, rank, b, b_len, &right, err) != 0)
        return -1;
    char small[256], *joined = a_len + b_len <= sizeof small ? small : malloc(a_len + b_len);
    if (!joined) return es_fail(err, "%s: out of memory", t->path);
    memcpy(joined, a, a_len);
    memcpy(joined + a_len, b, b_len);
    int32_t merged = piece_map_find(&t->by_text, joined, a_len + b_len);
    if (joined != small) free(joined);
    if (merged < 0)
        return es_fail(err, "%s: merge %d: \"%s\" + \"%s\" is not a token", t->path,
                       (int)rank, es_show(a, a_len).text, es_show(b, b_len).text);
    /* A repeated pair keeps its first (lowest) rank; the list keeps both
     * so that writing it back reproduces the file. */
    if (pair_map_add(&t->merges, left, right, rank, merged) < 0)
        return es_fail(err, "%s: merge table full", t->path);
    t->merge_left[rank] = left;
    t->merge_right[rank] = right;
    t->n_merges++;
    return 0;
}

/* Scratch space for one es_tokenize call, sized for its longest piece. */
typedef struct bpe_scratch {
    char *mapped;        /* a piece in byte characters (2 bytes per byte at most) */
    int32_t *id;         /* per symbol: its token, -1 once merged into its left */
    int32_t *next;       /* per symbol: right neighbour, -1 at the end */
    int32_t *prev;
    merge_queue queue;
} bpe_scratch;

static int queue_pair(const es_tokenizer *t, bpe_scratch *s, int32_t left, int32_t right) {
    if (left < 0 || right < 0) return 0;
    const pair_slot *m = pair_map_find(&t->merges, s->id[left], s->id[right]);
    if (!m) return 0;
    merge_entry e = {-(double)m->rank, (uint32_t)left, (uint32_t)right, s->id[left], s->id[right]};
    return merge_queue_push(&s->queue, e);
}

/* Merges one piece of n >= 2 bytes and appends its tokens. */
static int bpe_merge_piece(const es_tokenizer *t, const unsigned char *bytes, size_t n,
                           bpe_scratch *s, id_vec *out) {
    for (size_t i = 0; i < n; i++) {
        s->id[i] = t->byte_token[bytes[i]];
        s->prev[i] = (int32_t)i - 1;
        s->next[i] = i + 1 < n ? (int32_t)i + 1 : -1;
    }
    s->queue.n = 0;
    for (size_t i = 0; i + 1 < n; i++)
        if (queue_pair(t, s, (int32_t)i, (int32_t)i + 1) != 0) return -1;
    merge_entry e;
    while (merge_queue_pop(&s->queue, &e)) {
        int32_t l = (int32_t)e.left, r = (int32_t)e.right;
        if (s->next[l] != r || s->id[l] != e.check_a || s->id[r] != e.check_b)
            continue; /* stale: one side merged with something else first */
        s->id[l] = pair_map_find(&t->merges, e.check_a, e.check_b)->merged;
        s->id[r] = -1;
        s->next[l] = s->next[r];
        if (s->next[r] >= 0) s->prev[s->next[r]] = l;
        if (queue_pair(t, s, s->prev[l], l) != 0 || queue_pair(t, s, l, s->next[l]) != 0)
            return -1;
    }
    for (int32_t i = 0; i >= 0; i = s->next[i])
        if (id_vec_push(out, s->id[i]) != 0) return -1;
    return 0;
}

/* Encodes one pre-tokenised piece. */
static int bpe_piece(const es_tokenizer *t, const unsigned char *bytes, size_t n,
                     bpe_scratch *s, id_vec *out) {
    if (n == 0) return 0;
    if (n == 1) return id_vec_push(out, t->byte_token[bytes[0]]);
    if (t->ignore_merges) {
        size_t m = 0;
        for (size_t i = 0; i < n; i++) {
            m += put_small_utf8(t->byte_char[bytes[i]], s->mapped + m);
        }
        int32_t id = piece_map_find(&t->by_text, s->mapped, m);
        if (id >= 0 && t->types[id] == TOKEN_NORMAL) return id_vec_push(out, id);
    }
    return bpe_merge_piece(t, bytes, n, s, out);
}

static int scratch_init(bpe_scratch *s, size_t len) {
    memset(s, 0, sizeof *s);
    size_t n = len ? len : 1;
    s->mapped = malloc(2 * n);
    s->id = malloc(n * sizeof *s->id);
    s->next = malloc(n * sizeof *s->next);
    s->prev = malloc(n * sizeof *s->prev);
    return s->mapped && s->id && s->next && s->prev ? 0 : -1;
}

static void scratch_free(bpe_scratch *s) {
    free(s->mapped);
    free(s->id);
    free(s->next);
    free(s->prev);
    merge_queue_free(&s->queue);
}

/* Finds the next regex match at or after pos. Returns 1 and sets the match
 * span, 0 when there is none, -1 on a matcher error (message set). The JIT
 * can run out of its stack on pathological input; the interpreter, which
 * keeps its backtracking state on the heap, then takes over. */
static int next_match(const es_tokenizer *t, const char *text, size_t len, size_t pos,
                      pcre2_match_data *md, size_t *start, size_t *end, es_error *err) {
    int rc = pcre2_match(t->split_regex, (PCRE2_SPTR)text, len, pos, 0, md, NULL);
    if (rc < 0 && rc != PCRE2_ERROR_NOMATCH)
        rc = pcre2_match(t->split_regex, (PCRE2_SPTR)text, len, pos, PCRE2_NO_JIT, md, NULL);
    if (rc == PCRE2_ERROR_NOMATCH) return 0;
    if (rc < 0) return es_fail(err, "tokenize: split regex failed (PCRE2 error %d)", rc);
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    *start = ov[0];
    *end = ov[1];
    return 1;
}

int bpe_encode(const es_tokenizer *t, const char *text, size_t len, id_vec *out,
               es_error *err) {
    if (len > INT32_MAX) return es_fail(err, "tokenize: text of %zu bytes too long", len);
    bpe_scratch s;
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(t->split_regex, NULL);
    int rc = -1;
    if (!md || scratch_init(&s, len) != 0) {
        es_fail(err, "tokenize: out of memory");
        goto done;
    }
    const unsigned char *bytes = (const unsigned char *)text;
    for (size_t pos = 0; pos < len;) {
        size_t start = len, end = len;
        int found = next_match(t, text, len, pos, md, &start, &end, err);
        if (found < 0) goto done;
        if (end <= start) end = start + 1; /* cannot happen (no branch matches empty); never loop */
        if (start > pos && bpe_piece(t, bytes + pos, start - pos, &s, out) != 0) goto oom;
        if (found && bpe_piece(t, bytes + start, end - start, &s, out) != 0) goto oom;
        pos = found ? end : len;
    }
    rc = 0;
    goto done;
oom:
    es_fail(err, "tokenize: out of memory");
done:
    if (md) {
        pcre2_match_data_free(md);
        scratch_free(&s);
    }
    return rc;
}

size_t bpe_decode_piece(const es_tokenizer *t, int32_t id, char *out) {
    size_t len;
    const unsigned char *s = (const unsigned char *)tok_text(t, id, &len);
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        size_t clen = utf8_char_len(s + i, len - i);
        unsigned cp = clen == 2 ? ((s[i] & 0x1Fu) << 6) | (s[i + 1] & 0x3Fu) : s[i];
        if (clen <= 2 && cp < 324 && t->char_byte[cp] >= 0 && (clen == 2 || cp < 0x80)) {
            out[n++] = (char)t->char_byte[cp];
        } else { /* not a byte character: keep it as it is */
            memcpy(out + n, s + i, clen);
            n += clen;
        }
        i += clen;
    }
    return n;
}
