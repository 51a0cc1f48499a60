/* Learning a byte-level BPE vocabulary from a corpus, so that a model
 * entroscope trains itself has a vocabulary of its own, and writing it as
 * a vocabulary-only GGUF (es_tokenizer_learn_bpe, es_tokenizer_save_gguf).
 *
 * 1. Pre-tokenise every text with the Llama 3 split regex, cutting exactly
 *    where bpe.c's encoder cuts, and count each distinct pre-token.
 * 2. Standard BPE over the distinct pre-tokens' bytes: repeatedly merge the
 *    adjacent pair with the highest count (occurrences x pre-token
 *    frequency), ties to the lower (left id, right id). Counts are kept
 *    incrementally: each pair lists the pre-tokens it was seen in, merging
 *    (a, b) visits only those and adjusts the neighbouring pairs' counts; a
 *    max-heap with lazy deletion picks the best pair (an entry is current
 *    while its count equals the pair's count).
 * 3. A pair with an ASCII digit on either side is never counted, so every
 *    digit stays its own token (the word problems need digit arithmetic).
 * 4. A merge whose result is already a piece (ab + c after a + bc) is kept
 *    as a merge without a new piece, so that the encoder reproduces the
 *    training split. Learning stops at n_vocab - 2 pieces, or earlier when
 *    no pair occurs twice: the vocabulary is then smaller than n_vocab.
 *
 * Ids: the 256 bytes in byte order (spelled as GPT-2 byte characters), the
 * merged pieces in the order they were made, then <|begin_of_text|> (BOS)
 * and <|end_of_text|> (EOS), both control tokens. Deterministic: the order
 * of the hash tables never decides anything. */
#include "tokenizer/tokenizer_impl.h"

#include <stdlib.h>
#include <string.h>

#include "util/error.h"

#define LEARN_NAME "learn BPE"          /* the tokenizer's "path" in messages */
#define LEARN_MAX_VOCAB (1 << 20)
#define LEARN_BOS "<|begin_of_text|>"
#define LEARN_EOS "<|end_of_text|>"

/* ---------------------------------------------- interned byte strings -- */

/* Distinct byte strings in first-seen order, each with a count: the
 * pre-tokens (count: occurrences) and the pieces (count unused). */
typedef struct byte_set {
    char *pool;             /* the strings back to back */
    size_t pool_used, pool_cap;
    size_t *off;            /* (n) start in pool */
    uint32_t *len;          /* (n) */
    int64_t *count;         /* (n) */
    int32_t n, cap;
    int32_t *slots;         /* (mask + 1) an index, -1 empty; at most 3/4 full */
    uint32_t mask;
} byte_set;

static uint32_t hash_bytes(const char *s, size_t n) {
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

static void byte_set_free(byte_set *s) {
    free(s->pool);
    free(s->off);
    free(s->len);
    free(s->count);
    free(s->slots);
    memset(s, 0, sizeof *s);
}

static int byte_set_rehash(byte_set *s, uint32_t capacity) {
    int32_t *slots = malloc((size_t)capacity * sizeof *slots);
    if (!slots) return -1;
    memset(slots, 0xFF, (size_t)capacity * sizeof *slots);
    for (int32_t id = 0; id < s->n; id++) {
        uint32_t i = hash_bytes(s->pool + s->off[id], s->len[id]) & (capacity - 1);
        while (slots[i] >= 0) i = (i + 1) & (capacity - 1);
        slots[i] = id;
    }
    free(s->slots);
    s->slots = slots;
    s->mask = capacity - 1;
    return 0;
}

/* Room for one more string of n bytes. */
static int byte_set_grow(byte_set *s, size_t n) {
    if (!s->slots || 4 * ((size_t)s->n + 1) > 3 * ((size_t)s->mask + 1)) {
        size_t capacity = s->slots ? 2 * ((size_t)s->mask + 1) : 1024;
        if (capacity > ((size_t)1 << 30) || byte_set_rehash(s, (uint32_t)capacity) != 0) return -1;
    }
    if (s->n == s->cap) {
        int32_t cap = s->cap ? 2 * s->cap : 1024;
        size_t *off = realloc(s->off, (size_t)cap * sizeof *off);
        if (off) s->off = off;
        uint32_t *len = realloc(s->len, (size_t)cap * sizeof *len);
        if (len) s->len = len;
        int64_t *count = realloc(s->count, (size_t)cap * sizeof *count);
        if (count) s->count = count;
        if (!off || !len || !count) return -1;
        s->cap = cap;
    }
    if (s->pool_used + n > s->pool_cap) {
        size_t cap = s->pool_cap ? 2 * s->pool_cap : 1 << 16;
        while (cap < s->pool_used + n) cap *= 2;
        char *pool = realloc(s->pool, cap);
        if (!pool) return -1;
        s->pool = pool;
        s->pool_cap = cap;
    }
    return 0;
}

/* The index of p[0..n) (p must not point into s->pool), added with count
 * 0 if new; -1 when out of memory. */
static int32_t byte_set_intern(byte_set *s, const char *p, size_t n) {
    if (n > UINT32_MAX || byte_set_grow(s, n) != 0) return -1;
    uint32_t i = hash_bytes(p, n) & s->mask;
    for (; s->slots[i] >= 0; i = (i + 1) & s->mask) {
        int32_t id = s->slots[i];
        if (s->len[id] == n && memcmp(s->pool + s->off[id], p, n) == 0) return id;
    }
    int32_t id = s->n++;
    if (n) memcpy(s->pool + s->pool_used, p, n);
    s->off[id] = s->pool_used;
    s->len[id] = (uint32_t)n;
    s->count[id] = 0;
    s->pool_used += n;
    s->slots[i] = id;
    return id;
}

/* ------------------------------------------------------ pre-tokenising -- */

static int count_pretoken(byte_set *words, const char *p, size_t n, es_error *err) {
    int32_t id = byte_set_intern(words, p, n);
    if (id < 0) return es_fail(err, LEARN_NAME ": out of memory for the pre-tokens");
    words->count[id]++;
    return 0;
}

/* Cuts one text as bpe_encode does: regex matches, and any bytes between
 * matches (only invalid UTF-8 is left unmatched) as a piece of their own. */
static int split_text(const pcre2_code *re, pcre2_match_data *md, const char *text, size_t len,
                      byte_set *words, es_error *err) {
    for (size_t pos = 0; pos < len;) {
        int rc = pcre2_match(re, (PCRE2_SPTR)text, len, pos, 0, md, NULL);
        if (rc < 0 && rc != PCRE2_ERROR_NOMATCH) /* JIT stack exhausted: interpret */
            rc = pcre2_match(re, (PCRE2_SPTR)text, len, pos, PCRE2_NO_JIT, md, NULL);
        if (rc < 0 && rc != PCRE2_ERROR_NOMATCH)
            return es_fail(err, LEARN_NAME ": split regex failed (PCRE2 error %d)", rc);
        size_t start = len, end = len;
        if (rc >= 0) {
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
            start = ov[0];
            end = ov[1] > ov[0] ? ov[1] : ov[0] + 1; /* no branch matches empty; never loop */
        }
        if (start > pos && count_pretoken(words, text + pos, start - pos, err) != 0) return -1;
        if (rc >= 0 && count_pretoken(words, text + start, end - start, err) != 0) return -1;
        pos = rc >= 0 ? end : len;
    }
    return 0;
}

static int count_pretokens(const char *const *texts, const size_t *lens, size_t n_texts,
                           byte_set *words, es_error *err) {
    int code;
    PCRE2_SIZE offset;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)TOK_LLAMA3_REGEX, PCRE2_ZERO_TERMINATED,
                                   PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &code,
                                   &offset, NULL);
    if (!re) return es_fail(err, LEARN_NAME ": cannot compile the split regex (PCRE2 error %d)", code);
    (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* an optimisation only */
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    int rc = md ? 0 : es_fail(err, LEARN_NAME ": out of memory");
    for (size_t i = 0; rc == 0 && i < n_texts; i++)
        rc = split_text(re, md, texts[i], lens[i], words, err);
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    return rc;
}

/* ------------------------------------------------------------- pairs -- */

typedef struct pair_rec {
    int32_t left, right;
    int64_t count;     /* occurrences x pre-token frequency, now */
    int64_t queued;    /* count of its newest heap entry; -1 none, 0 nothing to queue */
    int32_t *words;    /* pre-tokens it was seen in (repeats and stale ones allowed) */
    uint32_t n_words, cap_words;
    int32_t dirty;     /* the merge that last changed count */
} pair_rec;

typedef struct heap_entry {
    int64_t count;
    int32_t pair;      /* index into learner.pairs */
} heap_entry;

typedef struct learner {
    /* The distinct pre-tokens of two or more bytes, as symbol (piece id)
     * strings back to back; a merge shortens a word in place. */
    int32_t *sym;
    size_t *word_off;       /* (n_words) */
    uint32_t *word_len;     /* (n_words) symbols now */
    int64_t *word_freq;     /* (n_words) */
    int32_t *word_stamp;    /* (n_words) the merge that last visited it */
    int32_t n_words;

    pair_rec *pairs;        /* (n_pairs) */
    int32_t n_pairs, cap_pairs;
    int32_t *pair_slots;    /* (pair_mask + 1) index into pairs, -1 empty */
    uint32_t pair_mask;

    heap_entry *heap;       /* max-heap: count, then lower (left, right) */
    size_t heap_n, heap_cap;
    int32_t *dirty;         /* pairs changed by the current merge */
    size_t n_dirty, cap_dirty;

    byte_set pieces;        /* the raw bytes of each piece; id = index */
    int32_t *merge_left, *merge_right; /* (n_merges) in rank order */
    int32_t n_merges, cap_merges;
    int32_t merge_no;       /* the merge being applied (stamps) */
    char *scratch;          /* concatenation of two pieces */
    size_t scratch_cap;
} learner;

static int is_digit_piece(int32_t id) { return id >= '0' && id <= '9'; } /* ids < 256 are bytes */

static uint32_t pair_hash(int32_t left, int32_t right) {
    uint64_t key = ((uint64_t)(uint32_t)left << 32) | (uint32_t)right;
    return (uint32_t)((key * 0x9E3779B97F4A7C15ull) >> 32);
}

static int pairs_rehash(learner *l, uint32_t capacity) {
    int32_t *slots = malloc((size_t)capacity * sizeof *slots);
    if (!slots) return -1;
    memset(slots, 0xFF, (size_t)capacity * sizeof *slots);
    for (int32_t p = 0; p < l->n_pairs; p++) {
        uint32_t i = pair_hash(l->pairs[p].left, l->pairs[p].right) & (capacity - 1);
        while (slots[i] >= 0) i = (i + 1) & (capacity - 1);
        slots[i] = p;
    }
    free(l->pair_slots);
    l->pair_slots = slots;
    l->pair_mask = capacity - 1;
    return 0;
}

/* The index of pair (left, right), created with count 0 if new; -1: OOM. */
static int32_t pair_get(learner *l, int32_t left, int32_t right) {
    if (!l->pair_slots || 4 * ((size_t)l->n_pairs + 1) > 3 * ((size_t)l->pair_mask + 1)) {
        size_t capacity = l->pair_slots ? 2 * ((size_t)l->pair_mask + 1) : 4096;
        if (capacity > ((size_t)1 << 30) || pairs_rehash(l, (uint32_t)capacity) != 0) return -1;
    }
    uint32_t i = pair_hash(left, right) & l->pair_mask;
    for (; l->pair_slots[i] >= 0; i = (i + 1) & l->pair_mask) {
        const pair_rec *r = &l->pairs[l->pair_slots[i]];
        if (r->left == left && r->right == right) return l->pair_slots[i];
    }
    if (l->n_pairs == l->cap_pairs) {
        int32_t cap = l->cap_pairs ? 2 * l->cap_pairs : 4096;
        pair_rec *pairs = realloc(l->pairs, (size_t)cap * sizeof *pairs);
        if (!pairs) return -1;
        l->pairs = pairs;
        l->cap_pairs = cap;
    }
    int32_t p = l->n_pairs++;
    l->pairs[p] = (pair_rec){left, right, 0, -1, NULL, 0, 0, -2}; /* -2: before any pass */
    l->pair_slots[i] = p;
    return p;
}

/* Adds delta to the count of (left, right), seen in word w. Pairs with a
 * digit are never counted. */
static int pair_change(learner *l, int32_t left, int32_t right, int64_t delta, int32_t w) {
    if (is_digit_piece(left) || is_digit_piece(right)) return 0;
    int32_t p = pair_get(l, left, right);
    if (p < 0) return -1;
    pair_rec *r = &l->pairs[p];
    r->count += delta;
    if (delta > 0 && (r->n_words == 0 || r->words[r->n_words - 1] != w)) {
        if (r->n_words == r->cap_words) {
            uint32_t cap = r->cap_words ? 2 * r->cap_words : 4;
            int32_t *words = realloc(r->words, (size_t)cap * sizeof *words);
            if (!words) return -1;
            r->words = words;
            r->cap_words = cap;
        }
        r->words[r->n_words++] = w;
    }
    if (r->dirty != l->merge_no) {
        if (l->n_dirty == l->cap_dirty) {
            size_t cap = l->cap_dirty ? 2 * l->cap_dirty : 1024;
            int32_t *dirty = realloc(l->dirty, cap * sizeof *dirty);
            if (!dirty) return -1;
            l->dirty = dirty;
            l->cap_dirty = cap;
        }
        r->dirty = l->merge_no;
        l->dirty[l->n_dirty++] = p;
    }
    return 0;
}

/* ---------------------------------------------------------------- heap -- */

static int heap_before(const learner *l, heap_entry a, heap_entry b) {
    if (a.count != b.count) return a.count > b.count;
    const pair_rec *pa = &l->pairs[a.pair], *pb = &l->pairs[b.pair];
    if (pa->left != pb->left) return pa->left < pb->left;
    return pa->right < pb->right;
}

static int heap_push(learner *l, heap_entry e) {
    if (l->heap_n == l->heap_cap) {
        size_t cap = l->heap_cap ? 2 * l->heap_cap : 4096;
        heap_entry *heap = realloc(l->heap, cap * sizeof *heap);
        if (!heap) return -1;
        l->heap = heap;
        l->heap_cap = cap;
    }
    size_t i = l->heap_n++;
    for (; i > 0 && heap_before(l, e, l->heap[(i - 1) / 2]); i = (i - 1) / 2)
        l->heap[i] = l->heap[(i - 1) / 2];
    l->heap[i] = e;
    return 0;
}

static heap_entry heap_pop(learner *l) {
    heap_entry top = l->heap[0], last = l->heap[--l->heap_n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= l->heap_n) break;
        if (c + 1 < l->heap_n && heap_before(l, l->heap[c + 1], l->heap[c])) c++;
        if (!heap_before(l, l->heap[c], last)) break;
        l->heap[i] = l->heap[c];
        i = c;
    }
    if (l->heap_n) l->heap[i] = last;
    return top;
}

/* Queues every pair the current merge changed, once, at its final count.
 * Invariant: a pair with count > 0 has a heap entry of exactly that count. */
static int queue_dirty(learner *l) {
    for (size_t i = 0; i < l->n_dirty; i++) {
        pair_rec *r = &l->pairs[l->dirty[i]];
        if (r->count == r->queued) continue;
        if (r->count > 0 && heap_push(l, (heap_entry){r->count, l->dirty[i]}) != 0) return -1;
        r->queued = r->count;
    }
    l->n_dirty = 0;
    return 0;
}

/* The most frequent pair occurring at least twice, or -1. */
static int32_t best_pair(learner *l) {
    while (l->heap_n) {
        heap_entry e = heap_pop(l);
        pair_rec *r = &l->pairs[e.pair];
        if (e.count != r->count) continue; /* stale */
        if (e.count < 2) return -1;
        r->queued = -1;
        return e.pair;
    }
    return -1;
}

/* ------------------------------------------------------------ learning -- */

static void learner_free(learner *l) {
    free(l->sym);
    free(l->word_off);
    free(l->word_len);
    free(l->word_freq);
    free(l->word_stamp);
    for (int32_t p = 0; p < l->n_pairs; p++) free(l->pairs[p].words);
    free(l->pairs);
    free(l->pair_slots);
    free(l->heap);
    free(l->dirty);
    byte_set_free(&l->pieces);
    free(l->merge_left);
    free(l->merge_right);
    free(l->scratch);
}

/* Words as byte symbols, the 256 byte pieces, the initial pair counts. */
static int learner_init(learner *l, const byte_set *words, es_error *err) {
    size_t n_sym = 0;
    int32_t n = 0;
    for (int32_t w = 0; w < words->n; w++)
        if (words->len[w] >= 2) n_sym += words->len[w], n++;
    l->sym = malloc((n_sym ? n_sym : 1) * sizeof *l->sym);
    l->word_off = malloc((size_t)(n ? n : 1) * sizeof *l->word_off);
    l->word_len = malloc((size_t)(n ? n : 1) * sizeof *l->word_len);
    l->word_freq = malloc((size_t)(n ? n : 1) * sizeof *l->word_freq);
    l->word_stamp = malloc((size_t)(n ? n : 1) * sizeof *l->word_stamp);
    if (!l->sym || !l->word_off || !l->word_len || !l->word_freq || !l->word_stamp) goto oom;
    for (int b = 0; b < 256; b++) {
        char c = (char)b;
        if (byte_set_intern(&l->pieces, &c, 1) != b) goto oom;
    }
    size_t used = 0;
    l->merge_no = -1; /* the initial count is "merge -1" */
    for (int32_t w = 0; w < words->n; w++) {
        if (words->len[w] < 2) continue;
        int32_t k = l->n_words++;
        const unsigned char *p = (const unsigned char *)words->pool + words->off[w];
        l->word_off[k] = used;
        l->word_len[k] = words->len[w];
        l->word_freq[k] = words->count[w];
        l->word_stamp[k] = -1;
        for (uint32_t i = 0; i < words->len[w]; i++) l->sym[used + i] = p[i];
        for (uint32_t i = 0; i + 1 < words->len[w]; i++)
            if (pair_change(l, p[i], p[i + 1], words->count[w], k) != 0) goto oom;
        used += words->len[w];
    }
    if (queue_dirty(l) != 0) goto oom;
    return 0;
oom:
    return es_fail(err, LEARN_NAME ": out of memory for %d pre-tokens", (int)words->n);
}

/* Replaces every (a, b) in word w by m, left to right, moving the counts
 * of the neighbouring pairs: (prev, a) -> (prev, m), (b, next) -> (m, next). */
static int merge_word(learner *l, int32_t w, int32_t a, int32_t b, int32_t m) {
    int32_t *s = l->sym + l->word_off[w];
    uint32_t n = l->word_len[w], out = 0;
    int64_t f = l->word_freq[w];
    for (uint32_t i = 0; i < n;) {
        if (i + 1 < n && s[i] == a && s[i + 1] == b) {
            if (out > 0 && (pair_change(l, s[out - 1], a, -f, w) != 0 ||
                            pair_change(l, s[out - 1], m, f, w) != 0))
                return -1;
            if (i + 2 < n && (pair_change(l, b, s[i + 2], -f, w) != 0 ||
                              pair_change(l, m, s[i + 2], f, w) != 0))
                return -1;
            if (pair_change(l, a, b, -f, w) != 0) return -1;
            s[out++] = m;
            i += 2;
        } else {
            s[out++] = s[i++];
        }
    }
    l->word_len[w] = out;
    return 0;
}

/* The piece a + b: an existing one, or a new id after the others. */
static int32_t merged_piece(learner *l, int32_t a, int32_t b) {
    size_t la = l->pieces.len[a], lb = l->pieces.len[b];
    if (la + lb > l->scratch_cap) {
        char *grown = realloc(l->scratch, 2 * (la + lb));
        if (!grown) return -1;
        l->scratch = grown;
        l->scratch_cap = 2 * (la + lb);
    }
    memcpy(l->scratch, l->pieces.pool + l->pieces.off[a], la);
    memcpy(l->scratch + la, l->pieces.pool + l->pieces.off[b], lb);
    return byte_set_intern(&l->pieces, l->scratch, la + lb);
}

static int apply_merge(learner *l, int32_t p) {
    int32_t a = l->pairs[p].left, b = l->pairs[p].right, m = merged_piece(l, a, b);
    if (m < 0) return -1;
    if (l->n_merges == l->cap_merges) {
        int32_t cap = l->cap_merges ? 2 * l->cap_merges : 1024;
        int32_t *left = realloc(l->merge_left, (size_t)cap * sizeof *left);
        if (left) l->merge_left = left;
        int32_t *right = realloc(l->merge_right, (size_t)cap * sizeof *right);
        if (right) l->merge_right = right;
        if (!left || !right) return -1;
        l->cap_merges = cap;
    }
    l->merge_no = l->n_merges;
    l->merge_left[l->n_merges] = a;
    l->merge_right[l->n_merges++] = b;
    /* Take the word list: new pairs contain m, never (a, b) (m is longer
     * than both), so nothing is added to it meanwhile. */
    int32_t *list = l->pairs[p].words;
    uint32_t n_list = l->pairs[p].n_words;
    l->pairs[p].words = NULL;
    l->pairs[p].n_words = l->pairs[p].cap_words = 0;
    int rc = 0;
    for (uint32_t i = 0; rc == 0 && i < n_list; i++) {
        int32_t w = list[i];
        if (l->word_stamp[w] == l->merge_no) continue;
        l->word_stamp[w] = l->merge_no;
        rc = merge_word(l, w, a, b, m);
    }
    free(list);
    return rc == 0 ? queue_dirty(l) : -1;
}

static int learn_merges(learner *l, int32_t max_pieces, es_error *err) {
    while (l->pieces.n < max_pieces) {
        int32_t p = best_pair(l);
        if (p < 0) break;
        if (apply_merge(l, p) != 0)
            return es_fail(err, LEARN_NAME ": out of memory after %d merges", (int)l->n_merges);
    }
    return 0;
}

/* ------------------------------------------------------------ building -- */

/* GPT-2's byte-to-unicode table: printable bytes stand for themselves, the
 * other 68 in byte order become U+0100.. (as bpe.c reads them). */
static void gpt2_byte_chars(uint16_t out[256]) {
    uint16_t next = 256;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
        out[b] = printable ? (uint16_t)b : next++;
    }
}

/* Spells raw bytes as GPT-2 byte characters (UTF-8, at most 2 bytes each). */
static size_t spell_gpt2(const uint16_t chars[256], const unsigned char *p, size_t n, char *out) {
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        uint16_t cp = chars[p[i]];
        if (cp < 0x80) {
            out[m++] = (char)cp;
        } else {
            out[m++] = (char)(0xC0 | (cp >> 6));
            out[m++] = (char)(0x80 | (cp & 0x3F));
        }
    }
    return m;
}

static int set_pieces(es_tokenizer *t, const learner *l, es_error *err) {
    uint16_t chars[256];
    gpt2_byte_chars(chars);
    size_t longest = 1;
    for (int32_t id = 0; id < l->pieces.n; id++)
        if (l->pieces.len[id] > longest) longest = l->pieces.len[id];
    char *buf = malloc(2 * longest);
    if (!buf) return es_fail(err, LEARN_NAME ": out of memory");
    int rc = 0;
    for (int32_t id = 0; rc == 0 && id < l->pieces.n; id++) {
        const unsigned char *p = (const unsigned char *)l->pieces.pool + l->pieces.off[id];
        size_t m = spell_gpt2(chars, p, l->pieces.len[id], buf);
        rc = tok_set_piece(t, id, buf, m, 0.0f, TOKEN_NORMAL, err);
    }
    free(buf);
    int32_t bos = l->pieces.n, eos = bos + 1;
    if (rc == 0) rc = tok_set_piece(t, bos, LEARN_BOS, strlen(LEARN_BOS), 0.0f, TOKEN_CONTROL, err);
    if (rc == 0) rc = tok_set_piece(t, eos, LEARN_EOS, strlen(LEARN_EOS), 0.0f, TOKEN_CONTROL, err);
    return rc;
}

static es_tokenizer *build_tokenizer(const learner *l, es_error *err) {
    int32_t n_pieces = l->pieces.n;
    es_tokenizer *t = tok_new(TOK_BPE, (int64_t)n_pieces + 2, LEARN_NAME, err);
    if (!t) return NULL;
    t->ignore_merges = 1; /* written as pre "llama-bpe" */
    t->add_bos = 1;
    if (set_pieces(t, l, err) != 0 || tok_index(t, err) != 0 ||
        bpe_reserve_merges(t, l->n_merges, err) != 0)
        goto fail;
    for (int32_t i = 0; i < l->n_merges; i++) {
        size_t a_len, b_len;
        const char *a = tok_text(t, l->merge_left[i], &a_len);
        const char *b = tok_text(t, l->merge_right[i], &b_len);
        if (bpe_add_merge(t, a, a_len, b, b_len, err) != 0) goto fail;
    }
    if (tok_set_special_ids(t, n_pieces, n_pieces + 1, -1, -1, err) != 0) goto fail;
    return t;
fail:
    es_tokenizer_free(t);
    return NULL;
}

es_tokenizer *es_tokenizer_learn_bpe(const char *const *texts, const size_t *lens, size_t n_texts,
                                     int n_vocab, es_error *err) {
    if (n_vocab < 258 || n_vocab > LEARN_MAX_VOCAB) {
        es_fail(err, LEARN_NAME ": vocabulary size %d out of range (258..%d: 256 bytes, BOS, EOS)",
                n_vocab, LEARN_MAX_VOCAB);
        return NULL;
    }
    if (!texts || !lens || n_texts == 0) {
        es_fail(err, LEARN_NAME ": no texts to learn from");
        return NULL;
    }
    for (size_t i = 0; i < n_texts; i++)
        if (!texts[i] && lens[i]) {
            es_fail(err, LEARN_NAME ": text %zu is NULL", i);
            return NULL;
        }
    byte_set words = {0};
    learner l = {0};
    es_tokenizer *t = NULL;
    if (count_pretokens(texts, lens, n_texts, &words, err) == 0 &&
        learner_init(&l, &words, err) == 0 && learn_merges(&l, n_vocab - 2, err) == 0)
        t = build_tokenizer(&l, err);
    byte_set_free(&words);
    learner_free(&l);
    return t;
}

/* -------------------------------------------------------------- saving -- */

/* general.architecture is there because llama.cpp will not open a GGUF
 * without it (its own vocab-only files carry it too); our loader ignores it. */
int es_tokenizer_save_gguf(const es_tokenizer *tok, const char *path, es_error *err) {
    if (!tok || !path) return es_fail(err, "save tokenizer: no tokenizer or path");
    gguf_writer *w = gguf_writer_new();
    if (!w) return es_fail(err, "%s: out of memory", path);
    int rc = gguf_writer_set_str(w, "general.architecture", "llama") != 0
                 ? es_fail(err, "%s: out of memory", path)
                 : es_tokenizer_write_gguf(tok, w, err);
    if (rc == 0) rc = gguf_writer_write(w, path, err);
    gguf_writer_free(w);
    return rc;
}
