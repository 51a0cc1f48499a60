/* SentencePiece-style BPE (Llama 1/2, TinyLlama, the llama2.c models).
 *
 * The text is normalised the way SentencePiece's identity normaliser with
 * add_dummy_prefix does it: a '▁' (U+2581) in front, every space replaced
 * by '▁'. It is split into UTF-8 characters (an invalid byte is a symbol of
 * its own), and then the adjacent pair whose concatenation is a piece with
 * the highest score is merged, again and again (ties: leftmost first),
 * until no adjacent pair forms a piece. A symbol left that is not a piece
 * becomes its <0xXX> byte tokens ("byte fallback"), or <unk> if the
 * vocabulary has no byte tokens.
 *
 * Merge candidates sit in a priority queue (merge_queue.h), so encoding is
 * O(n log n) in the text length rather than llama2.c's rescan per merge.
 * Symbols are text spans of the normalised buffer; a merge extends the
 * left span over the right one, and a queue entry is stale when either
 * span's length changed or they are no longer neighbours. */
#include "tokenizer/tokenizer_impl.h"

#include <stdlib.h>
#include <string.h>

#include "util/error.h"

static const char SPM_SPACE[] = "\xE2\x96\x81"; /* U+2581, '▁' */

typedef struct spm_symbol {
    uint32_t start, len; /* span of the normalised text; len 0: merged away */
    int32_t prev, next;  /* neighbours, -1 at the ends */
} spm_symbol;

typedef struct spm_state {
    const es_tokenizer *t;
    const char *norm;    /* normalised text */
    spm_symbol *sym;
    merge_queue queue;
} spm_state;

/* Pieces that merges may produce: control, byte and unknown tokens are not
 * ordinary text (SentencePiece keeps them out of its piece table). */
static int mergeable(const es_tokenizer *t, int32_t id) {
    return id >= 0 && (t->types[id] == TOKEN_NORMAL || t->types[id] == TOKEN_USER_DEFINED);
}

/* Queues the merge of left and right if their concatenation is a piece. */
static int spm_try_pair(spm_state *s, int32_t left, int32_t right) {
    if (left < 0 || right < 0) return 0;
    const spm_symbol *a = &s->sym[left], *b = &s->sym[right];
    int32_t id = piece_map_find(&s->t->by_text, s->norm + a->start, a->len + b->len);
    if (!mergeable(s->t, id)) return 0;
    merge_entry e = {s->t->scores[id], (uint32_t)left, (uint32_t)right, (int32_t)a->len,
                     (int32_t)b->len};
    return merge_queue_push(&s->queue, e);
}

/* Builds the normalised text: optional '▁' prefix, spaces as '▁'. */
static char *spm_normalise(const char *text, size_t len, int add_prefix, size_t *out_len) {
    size_t spaces = 0;
    for (size_t i = 0; i < len; i++) spaces += text[i] == ' ';
    size_t n = len + 2 * spaces + (add_prefix ? 3 : 0);
    char *norm = malloc(n + 1);
    if (!norm) return NULL;
    size_t k = 0;
    if (add_prefix) memcpy(norm, SPM_SPACE, 3), k = 3;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') memcpy(norm + k, SPM_SPACE, 3), k += 3;
        else norm[k++] = text[i];
    }
    *out_len = k;
    return norm;
}

/* Emits the tokens of one final symbol: its piece, else its byte tokens,
 * else (a vocabulary without byte tokens) <unk>, as SentencePiece does. */
static int spm_emit(const spm_state *s, const spm_symbol *sym, id_vec *out, es_error *err) {
    const es_tokenizer *t = s->t;
    const unsigned char *p = (const unsigned char *)s->norm + sym->start;
    int32_t id = piece_map_find(&t->by_text, (const char *)p, sym->len);
    int all_bytes = 1;
    for (uint32_t i = 0; i < sym->len; i++) all_bytes &= t->byte_token[p[i]] >= 0;
    if (!mergeable(t, id) && !all_bytes && t->unk < 0)
        return es_fail(err, "%s: cannot encode byte 0x%02X: no byte token and no unknown token",
                       t->path, p[0]);
    int rc = 0;
    if (mergeable(t, id)) rc = id_vec_push(out, id);
    else if (!all_bytes) rc = id_vec_push(out, t->unk);
    else
        for (uint32_t i = 0; i < sym->len && rc == 0; i++)
            rc = id_vec_push(out, t->byte_token[p[i]]);
    return rc == 0 ? 0 : es_fail(err, "tokenize: out of memory");
}

static int spm_merge_all(spm_state *s) {
    merge_entry e;
    while (merge_queue_pop(&s->queue, &e)) {
        spm_symbol *a = &s->sym[e.left], *b = &s->sym[e.right];
        if (a->len != (uint32_t)e.check_a || b->len != (uint32_t)e.check_b ||
            a->next != (int32_t)e.right)
            continue; /* stale: a neighbour merged since this was queued */
        a->len += b->len;
        a->next = b->next;
        if (b->next >= 0) s->sym[b->next].prev = (int32_t)e.left;
        b->len = 0;
        if (spm_try_pair(s, a->prev, (int32_t)e.left) != 0 ||
            spm_try_pair(s, (int32_t)e.left, a->next) != 0)
            return -1;
    }
    return 0;
}

int spm_encode(const es_tokenizer *t, const char *text, size_t len, int add_prefix,
               id_vec *out, es_error *err) {
    if (len > UINT32_MAX / 4) return es_fail(err, "tokenize: text of %zu bytes too long", len);
    size_t n = 0;
    spm_state s = {.t = t};
    char *norm = spm_normalise(text, len, add_prefix, &n);
    s.norm = norm;
    s.sym = malloc((n ? n : 1) * sizeof *s.sym);
    int rc = -1;
    if (!norm || !s.sym) {
        es_fail(err, "tokenize: out of memory");
        goto done;
    }
    int32_t n_sym = 0;
    for (size_t i = 0; i < n;) { /* one symbol per UTF-8 character */
        uint32_t clen = (uint32_t)utf8_char_len((const unsigned char *)norm + i, n - i);
        s.sym[n_sym] = (spm_symbol){(uint32_t)i, clen, n_sym - 1, -1};
        if (n_sym > 0) s.sym[n_sym - 1].next = n_sym;
        n_sym++;
        i += clen;
    }
    for (int32_t i = 0; i + 1 < n_sym; i++)
        if (spm_try_pair(&s, i, i + 1) != 0) goto oom;
    if (spm_merge_all(&s) != 0) goto oom;
    for (int32_t i = 0; i >= 0 && i < n_sym; i = s.sym[i].next)
        if (spm_emit(&s, &s.sym[i], out, err) != 0) goto done;
    rc = 0;
    goto done;
oom:
    es_fail(err, "tokenize: out of memory");
done:
    merge_queue_free(&s.queue);
    free(s.sym);
    free(norm);
    return rc;
}

size_t spm_decode_piece(const es_tokenizer *t, int32_t id, char *out) {
    size_t len;
    const char *s = tok_text(t, id, &len);
    if (t->types[id] == TOKEN_BYTE) {
        for (int b = 0; b < 256; b++)
            if (t->byte_token[b] == id) {
                out[0] = (char)b;
                return 1;
            }
    }
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        if (i + 3 <= len && memcmp(s + i, SPM_SPACE, 3) == 0) {
            out[n++] = ' ';
            i += 3;
        } else {
            out[n++] = s[i++];
        }
    }
    return n;
}
