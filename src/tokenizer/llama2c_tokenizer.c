/* llama2.c's tokenizer.bin: int32 max_token_length, then per token a f32
 * score, an int32 byte length and the bytes. The file does not store the
 * token count; the checkpoint header does (0 here: read to the end).
 *
 * llama2.c's exporter wrote SentencePiece's '▁' as a plain space and
 * framed BOS/EOS as "\n<s>\n" / "\n</s>\n" for its decoder. Loading undoes
 * both, so that the tokenizer is the same as the GGUF spelling of the same
 * vocabulary (and writes out as a proper GGUF). Types are inferred: id 0
 * "<unk>" unknown, ids 1 and 2 (llama2.c's BOS and EOS) control, "<0xXX>"
 * byte tokens, the rest normal. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer_impl.h"
#include "util/error.h"

#define LLAMA2C_MAX_FILE ((size_t)1 << 30)
#define LLAMA2C_MAX_TOKEN_LENGTH (1 << 16)

typedef struct record {
    float score;
    const char *text;
    int32_t len;
} record;

/* Reads record number id at *pos. Returns 1 on success, 0 at a clean end
 * of file, -1 with a message on a bad record. */
static int read_record(const char *path, const char *buf, size_t size, size_t *pos,
                       int32_t max_len, int32_t id, record *r, es_error *err) {
    if (*pos == size) return 0;
    if (size - *pos < 8)
        return es_fail(err, "%s: truncated in the header of token %d", path, (int)id);
    memcpy(&r->score, buf + *pos, 4);
    memcpy(&r->len, buf + *pos + 4, 4);
    *pos += 8;
    if (r->len < 0)
        return es_fail(err, "%s: token %d has negative length %d", path, (int)id, (int)r->len);
    if (r->len > max_len)
        return es_fail(err, "%s: token %d has length %d, more than max_token_length %d", path,
                       (int)id, (int)r->len, (int)max_len);
    if ((size_t)r->len > size - *pos)
        return es_fail(err, "%s: truncated in token %d (%d bytes announced, %zu left)", path,
                       (int)id, (int)r->len, size - *pos);
    if (!isfinite(r->score))
        return es_fail(err, "%s: token %d: score is not finite", path, (int)id);
    r->text = buf + *pos;
    *pos += (size_t)r->len;
    return 1;
}

static int looks_like_byte_token(const char *s, int32_t len) {
    static const char hex[] = "0123456789ABCDEF";
    return len == 6 && memcmp(s, "<0x", 3) == 0 && s[5] == '>' && s[3] && s[4] &&
           strchr(hex, s[3]) && strchr(hex, s[4]);
}

/* Stores one record as token id, in GGUF spelling (see the file comment). */
static int add_record(es_tokenizer *t, int32_t id, const record *r, char *scratch,
                      es_error *err) {
    const char *s = r->text;
    int32_t len = r->len;
    int type = TOKEN_NORMAL;
    if (id == 0 && len == 5 && memcmp(s, "<unk>", 5) == 0) type = TOKEN_UNKNOWN;
    else if (id == 1 || id == 2) {
        type = TOKEN_CONTROL;
        if (len >= 2 && s[0] == '\n' && s[len - 1] == '\n') s++, len -= 2;
    } else if (looks_like_byte_token(s, len)) type = TOKEN_BYTE;
    size_t n = 0;
    for (int32_t i = 0; i < len; i++) {
        if (s[i] == ' ' && type == TOKEN_NORMAL) memcpy(scratch + n, "\xE2\x96\x81", 3), n += 3;
        else scratch[n++] = s[i];
    }
    return tok_set_piece(t, id, scratch, n, r->score, type, err);
}

es_tokenizer *es_tokenizer_from_llama2c(const char *path, int vocab_size, es_error *err) {
    char *buf = NULL, *scratch = NULL;
    size_t size, pos = 4;
    es_tokenizer *t = NULL;
    record r;
    if (vocab_size < 0) {
        es_fail(err, "%s: negative vocabulary size %d", path, vocab_size);
        return NULL;
    }
    if (tok_read_file(path, LLAMA2C_MAX_FILE, &buf, &size, err) != 0) return NULL;
    int32_t max_len;
    if (size < 4) {
        es_fail(err, "%s: truncated (no max_token_length header)", path);
        goto fail;
    }
    memcpy(&max_len, buf, 4);
    if (max_len < 1 || max_len > LLAMA2C_MAX_TOKEN_LENGTH) {
        es_fail(err, "%s: max_token_length %d out of range (1..%d)", path, (int)max_len,
                LLAMA2C_MAX_TOKEN_LENGTH);
        goto fail;
    }
    int32_t n = 0; /* first pass: validate and count */
    for (int rc; vocab_size == 0 || n < vocab_size; n++) {
        rc = read_record(path, buf, size, &pos, max_len, n, &r, err);
        if (rc < 0) goto fail;
        if (rc == 0 && vocab_size == 0) break;
        if (rc == 0) {
            es_fail(err, "%s: holds %d tokens, the model needs %d", path, (int)n, vocab_size);
            goto fail;
        }
        if (n == TOK_MAX_VOCAB) {
            es_fail(err, "%s: more than %d tokens", path, TOK_MAX_VOCAB);
            goto fail;
        }
    }
    if (n == 0) {
        es_fail(err, "%s: no tokens", path);
        goto fail;
    }
    /* The format stores no count, so a vocabulary for another model (Llama 2's
     * 32,000 tokens for a 512-token model) would otherwise load silently. */
    if (vocab_size > 0 && pos != size) {
        es_fail(err, "%s: has more than the model's %d tokens (%zu bytes follow token %d): "
                "not this model's tokenizer", path, vocab_size, size - pos, (int)n - 1);
        goto fail;
    }
    t = tok_new(TOK_SPM, n, path, err);
    scratch = malloc(3 * (size_t)max_len);
    if (!t || !scratch) {
        if (t) es_fail(err, "%s: out of memory", path);
        goto fail;
    }
    pos = 4;
    for (int32_t id = 0; id < n; id++) {
        read_record(path, buf, size, &pos, max_len, id, &r, err); /* validated above */
        if (add_record(t, id, &r, scratch, err) != 0) goto fail;
    }
    if (tok_index(t, err) != 0) goto fail;
    if (tok_set_special_ids(t, n > 1 ? 1 : -1, n > 2 ? 2 : -1,
                            t->types[0] == TOKEN_UNKNOWN ? 0 : -1, -1, err) != 0)
        goto fail;
    t->add_bos = 1;
    free(scratch);
    free(buf);
    return t;
fail:
    es_tokenizer_free(t);
    free(scratch);
    free(buf);
    return NULL;
}
