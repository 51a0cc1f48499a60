/* The tokenizer core that both kinds share: building the vocabulary
 * (pieces, hash map, decoded bytes, the special-token list), the public
 * functions of entroscope.h, and es_tokenizer_load, which picks a loader
 * by looking at the file's first bytes. Encoding splits the text at special
 * tokens here and hands each run of plain text to spm.c or bpe.c. */
#include "tokenizer/tokenizer_impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/error.h"

/* ------------------------------------------------------------ building -- */

es_tokenizer *tok_new(tok_kind kind, int64_t n_vocab, const char *path, es_error *err) {
    if (n_vocab < 1 || n_vocab > TOK_MAX_VOCAB) {
        es_fail(err, "%s: vocabulary size %lld out of range (1..%d)", path,
                (long long)n_vocab, TOK_MAX_VOCAB);
        return NULL;
    }
    es_tokenizer *t = calloc(1, sizeof *t);
    if (!t) goto oom;
    t->kind = kind;
    t->n_vocab = (int32_t)n_vocab;
    t->path = strdup(path);
    t->text_off = calloc((size_t)n_vocab, sizeof *t->text_off);
    t->text_len = calloc((size_t)n_vocab, sizeof *t->text_len);
    t->scores = calloc((size_t)n_vocab, sizeof *t->scores);
    t->types = calloc((size_t)n_vocab, sizeof *t->types);
    /* never NULL, even if every piece is empty (pointer arithmetic on it) */
    t->text_cap = 64;
    t->text = malloc(t->text_cap);
    if (!t->path || !t->text_off || !t->text_len || !t->scores || !t->types || !t->text) goto oom;
    t->bos = t->eos = t->unk = t->pad = -1;
    t->add_space_prefix = kind == TOK_SPM;
    for (int b = 0; b < 256; b++) t->byte_token[b] = -1;
    return t;
oom:
    es_tokenizer_free(t);
    es_fail(err, "%s: out of memory for %lld tokens", path, (long long)n_vocab);
    return NULL;
}

int tok_set_piece(es_tokenizer *t, int32_t id, const char *text, size_t len,
                  float score, int type, es_error *err) {
    if (id < 0 || id >= t->n_vocab)
        return es_fail(err, "%s: token id %d out of range (vocabulary %d)", t->path,
                       (int)id, (int)t->n_vocab);
    if (type < TOKEN_NORMAL || type > TOKEN_BYTE)
        return es_fail(err, "%s: token %d has unknown type %d", t->path, (int)id, type);
    if (t->types[id] != TOKEN_UNSET)
        return es_fail(err, "%s: token id %d given twice", t->path, (int)id);
    if (len > UINT32_MAX - t->text_used)
        return es_fail(err, "%s: token texts too large", t->path);
    if (t->text_used + len > t->text_cap) {
        size_t cap = t->text_cap ? t->text_cap : 4096;
        while (cap < t->text_used + len) cap *= 2;
        char *grown = realloc(t->text, cap);
        if (!grown) return es_fail(err, "%s: out of memory for token texts", t->path);
        t->text = grown;
        t->text_cap = cap;
    }
    if (len) memcpy(t->text + t->text_used, text, len);
    t->text_off[id] = (uint32_t)t->text_used;
    t->text_len[id] = (uint32_t)len;
    t->text_used += len;
    t->scores[id] = score;
    t->types[id] = (uint8_t)type;
    return 0;
}

static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* SPM byte tokens are spelled "<0xXX>". */
static int index_byte_tokens(es_tokenizer *t, es_error *err) {
    for (int32_t id = 0; id < t->n_vocab; id++) {
        if (t->types[id] != TOKEN_BYTE) continue;
        size_t len;
        const char *s = tok_text(t, id, &len);
        int hi = len == 6 ? hex_digit(s[3]) : -1, lo = len == 6 ? hex_digit(s[4]) : -1;
        if (len != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>' || hi < 0 || lo < 0)
            return es_fail(err, "%s: byte token %d is not spelled <0xXX>", t->path, (int)id);
        int b = hi * 16 + lo;
        if (t->byte_token[b] >= 0)
            return es_fail(err, "%s: tokens %d and %d both stand for byte 0x%02X", t->path,
                           (int)t->byte_token[b], (int)id, b);
        t->byte_token[b] = id;
    }
    return 0;
}

/* Decoded bytes never outnumber the piece's own bytes ('▁' is 3 bytes,
 * a space 1; <0xXX> is 6, the byte 1; a GPT-2 character 1-2, its byte 1),
 * so the pool is at most as large as the text pool. */
static int build_decoded(es_tokenizer *t, es_error *err) {
    t->dec = malloc(t->text_used ? t->text_used : 1);
    t->dec_off = malloc((size_t)t->n_vocab * sizeof *t->dec_off);
    t->dec_len = malloc((size_t)t->n_vocab * sizeof *t->dec_len);
    if (!t->dec || !t->dec_off || !t->dec_len)
        return es_fail(err, "%s: out of memory for decoded pieces", t->path);
    size_t used = 0;
    for (int32_t id = 0; id < t->n_vocab; id++) {
        size_t len;
        const char *s = tok_text(t, id, &len);
        char *out = t->dec + used;
        size_t n;
        int type = t->types[id];
        if (type == TOKEN_CONTROL || type == TOKEN_UNKNOWN || type == TOKEN_USER_DEFINED) {
            memcpy(out, s, len); /* literal text, shown as is */
            n = len;
        } else if (t->kind == TOK_SPM) {
            n = spm_decode_piece(t, id, out);
        } else {
            n = bpe_decode_piece(t, id, out);
        }
        t->dec_off[id] = (uint32_t)used;
        t->dec_len[id] = (uint32_t)n;
        used += n;
    }
    return 0;
}


typedef struct special_key {
    unsigned char first;
    uint32_t len;
    int32_t id;
} special_key;

/* By first byte, then longest first (so the longest match wins), then id. */
static int special_key_cmp(const void *pa, const void *pb) {
    const special_key *a = pa, *b = pb;
    if (a->first != b->first) return a->first < b->first ? -1 : 1;
    if (a->len != b->len) return a->len > b->len ? -1 : 1;
    return (a->id > b->id) - (a->id < b->id);
}

static int is_special_type(int type) {
    return type == TOKEN_CONTROL || type == TOKEN_UNKNOWN || type == TOKEN_USER_DEFINED;
}

/* Collects the tokens that es_tokenize recognises as a whole in text. */
static int build_special_list(es_tokenizer *t, es_error *err) {
    int32_t n = 0;
    for (int32_t id = 0; id < t->n_vocab; id++)
        n += is_special_type(t->types[id]) && t->text_len[id] > 0;
    special_key *keys = malloc((size_t)(n ? n : 1) * sizeof *keys);
    t->special_ids = malloc((size_t)(n ? n : 1) * sizeof *t->special_ids);
    if (!keys || !t->special_ids) {
        free(keys);
        return es_fail(err, "%s: out of memory for special tokens", t->path);
    }
    int32_t k = 0;
    for (int32_t id = 0; id < t->n_vocab; id++) {
        if (!is_special_type(t->types[id]) || t->text_len[id] == 0) continue;
        keys[k++] = (special_key){(unsigned char)t->text[t->text_off[id]], t->text_len[id], id};
    }
    qsort(keys, (size_t)n, sizeof *keys, special_key_cmp);
    memset(t->special_start, 0, sizeof t->special_start);
    t->n_user_defined = 0;
    for (int32_t i = 0; i < n; i++) {
        t->special_ids[i] = keys[i].id;
        t->n_user_defined += t->types[keys[i].id] == TOKEN_USER_DEFINED;
        t->special_start[keys[i].first + 1]++;
    }
    for (int b = 0; b < 256; b++) t->special_start[b + 1] += t->special_start[b];
    t->n_special = n;
    free(keys);
    return 0;
}

int tok_index(es_tokenizer *t, es_error *err) {
    for (int32_t id = 0; id < t->n_vocab; id++)
        if (t->types[id] == TOKEN_UNSET)
            return es_fail(err, "%s: token id %d has no piece", t->path, (int)id);
    int32_t a = -1, b = -1;
    int rc = piece_map_build(&t->by_text, t->text, t->text_off, t->text_len, t->n_vocab, &a, &b);
    if (rc < 0) return es_fail(err, "%s: out of memory for the piece index", t->path);
    if (rc > 0) {
        size_t len;
        const char *s = tok_text(t, a, &len);
        return es_fail(err, "%s: tokens %d and %d have the same text \"%s\"", t->path,
                       (int)a, (int)b, es_show(s, len).text);
    }
    if (t->kind == TOK_SPM && index_byte_tokens(t, err) != 0) return -1;
    if (t->kind == TOK_BPE && bpe_prepare(t, err) != 0) return -1;
    if (build_decoded(t, err) != 0) return -1;
    return build_special_list(t, err);
}

int tok_add_eog(es_tokenizer *t, int32_t id) {
    if (id < 0 || id >= t->n_vocab) return -1;
    for (int i = 0; i < t->n_eog; i++)
        if (t->eog[i] == id) return 0;
    if (t->n_eog == TOK_MAX_EOG) return -1;
    t->eog[t->n_eog++] = id;
    return 0;
}

static int check_special_id(const es_tokenizer *t, const char *what, int64_t id,
                            int32_t *out, es_error *err) {
    if (id < 0 || id == UINT32_MAX) { /* GGUF writes "none" as -1 or 0xFFFFFFFF */
        *out = -1;
        return 0;
    }
    if (id >= t->n_vocab)
        return es_fail(err, "%s: %s token id %lld out of range (vocabulary %d)", t->path,
                       what, (long long)id, (int)t->n_vocab);
    *out = (int32_t)id;
    return 0;
}

int tok_set_special_ids(es_tokenizer *t, int64_t bos, int64_t eos, int64_t unk,
                        int64_t pad, es_error *err) {
    if (check_special_id(t, "BOS", bos, &t->bos, err) != 0 ||
        check_special_id(t, "EOS", eos, &t->eos, err) != 0 ||
        check_special_id(t, "unknown", unk, &t->unk, err) != 0 ||
        check_special_id(t, "padding", pad, &t->pad, err) != 0)
        return -1;
    /* Chat models end a turn with their own tokens; generation stops there too. */
    static const char *const eog_names[] = {"<|end_of_text|>", "<|eot_id|>", "<|eom_id|>"};
    if (t->eos >= 0) tok_add_eog(t, t->eos);
    for (size_t i = 0; i < sizeof eog_names / sizeof eog_names[0]; i++) {
        int32_t id = piece_map_find(&t->by_text, eog_names[i], strlen(eog_names[i]));
        if (id >= 0 && t->types[id] == TOKEN_CONTROL) tok_add_eog(t, id);
    }
    return 0;
}

int tok_set_chat_template(es_tokenizer *t, const char *text, size_t len, es_error *err) {
    char *copy = malloc(len + 1);
    if (!copy) return es_fail(err, "%s: out of memory for the chat template", t->path);
    memcpy(copy, text, len);
    copy[len] = '\0';
    free(t->chat_template);
    t->chat_template = copy;
    return 0;
}

const char *tok_chat_template(const es_tokenizer *t) { return t ? t->chat_template : NULL; }

int32_t tok_find_special(const es_tokenizer *t, const char *name) {
    int32_t id = piece_map_find(&t->by_text, name, strlen(name));
    if (id < 0) return -1;
    return t->types[id] == TOKEN_CONTROL || t->types[id] == TOKEN_USER_DEFINED ? id : -1;
}

int id_vec_push(id_vec *v, int32_t id) {
    if (v->n == v->cap) {
        size_t cap = v->cap ? 2 * v->cap : 64;
        int32_t *ids = realloc(v->ids, cap * sizeof *ids);
        if (!ids) return -1;
        v->ids = ids;
        v->cap = cap;
    }
    v->ids[v->n++] = id;
    return 0;
}

size_t utf8_char_len(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    size_t len;
    unsigned min;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) len = 2, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF) len = 3, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4) len = 4, min = 0x10000;
    else return 1;
    if (n < len) return 1;
    unsigned cp = c & (0x3F >> (len - 1));
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 1;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 1;
    return len;
}

void es_tokenizer_free(es_tokenizer *t) {
    if (!t) return;
    free(t->path);
    free(t->text);
    free(t->text_off);
    free(t->text_len);
    free(t->scores);
    free(t->types);
    piece_map_free(&t->by_text);
    free(t->dec);
    free(t->dec_off);
    free(t->dec_len);
    pair_map_free(&t->merges);
    free(t->merge_left);
    free(t->merge_right);
    if (t->split_regex) pcre2_code_free(t->split_regex);
    free(t->special_ids);
    free(t->chat_template);
    free(t);
}

/* ------------------------------------------------------------ encoding -- */

/* The special token that text starts with (longest first), or -1. Control
 * and unknown tokens count only when parse_special; user-defined ones
 * always, as in Hugging Face tokenizers and llama.cpp. */
static int32_t match_special(const es_tokenizer *t, const char *text, size_t len,
                             int parse_special) {
    unsigned char first = (unsigned char)text[0];
    for (uint32_t i = t->special_start[first]; i < t->special_start[first + 1]; i++) {
        int32_t id = t->special_ids[i];
        if (!parse_special && t->types[id] != TOKEN_USER_DEFINED) continue;
        if (t->text_len[id] <= len && memcmp(text, t->text + t->text_off[id], t->text_len[id]) == 0)
            return id;
    }
    return -1;
}

static int encode_run(const es_tokenizer *t, const char *text, size_t len, int after_special,
                      id_vec *out, es_error *err) {
    if (len == 0) return 0;
    if (t->kind == TOK_SPM)
        return spm_encode(t, text, len, t->add_space_prefix && after_special, out, err);
    return bpe_encode(t, text, len, out, err);
}

int es_tokenize(const es_tokenizer *tok, const char *text, size_t len, int flags,
                int32_t **ids, size_t *n_ids, es_error *err) {
    if (!tok || !ids || !n_ids || (!text && len))
        return es_fail(err, "tokenize: missing tokenizer, text or output");
    *ids = NULL;
    *n_ids = 0;
    if (!text) text = ""; /* len is 0: keeps pointer arithmetic defined */
    id_vec out = {0};
    int parse_special = (flags & ES_TOKENIZE_PARSE_SPECIAL) != 0;
    if ((flags & ES_TOKENIZE_ADD_BOS) && tok->bos >= 0 && id_vec_push(&out, tok->bos) != 0)
        goto oom;
    /* A run of text after a special token (or at the start) gets the
     * SentencePiece dummy prefix, as llama.cpp does. */
    int after_special = 1;
    size_t run_start = 0;
    for (size_t pos = 0; pos < len;) {
        int32_t sid = parse_special || tok->n_user_defined
                          ? match_special(tok, text + pos, len - pos, parse_special) : -1;
        if (sid < 0) {
            pos++;
            continue;
        }
        if (pos > run_start) {
            if (encode_run(tok, text + run_start, pos - run_start, after_special, &out, err) != 0)
                goto fail;
        }
        if (id_vec_push(&out, sid) != 0) goto oom;
        after_special = 1;
        pos += tok->text_len[sid];
        run_start = pos;
    }
    if (encode_run(tok, text + run_start, len - run_start, after_special, &out, err) != 0)
        goto fail;
    *ids = out.ids ? out.ids : malloc(sizeof(int32_t));
    if (!*ids) goto oom;
    *n_ids = out.n;
    return 0;
oom:
    es_fail(err, "tokenize: out of memory");
fail:
    free(out.ids);
    return -1;
}

/* ------------------------------------------------------------ decoding -- */

const char *es_token_to_piece(const es_tokenizer *tok, int32_t prev, int32_t id,
                              int show_special, size_t *len) {
    size_t dummy;
    if (!len) len = &dummy;
    *len = 0;
    if (!tok || id < 0 || id >= tok->n_vocab) return "";
    int type = tok->types[id];
    if ((type == TOKEN_CONTROL || type == TOKEN_UNKNOWN) && !show_special) return "";
    const char *p = tok->dec + tok->dec_off[id];
    size_t n = tok->dec_len[id];
    /* SentencePiece drops the dummy-prefix space of the first word (a
     * '▁' in a piece, not a <0x20> byte token). */
    if (tok->kind == TOK_SPM && prev >= 0 && prev == tok->bos && type == TOKEN_NORMAL &&
        n > 0 && p[0] == ' ') {
        p++;
        n--;
    }
    *len = n;
    return p;
}

int es_tokenizer_vocab_size(const es_tokenizer *tok) { return tok ? tok->n_vocab : 0; }

int es_tokenizer_is_special(const es_tokenizer *tok, int32_t id) {
    if (id < 0 || id >= tok->n_vocab) return 0;
    return tok->types[id] == TOKEN_CONTROL || tok->types[id] == TOKEN_USER_DEFINED;
}

int32_t es_tokenizer_bos(const es_tokenizer *tok) { return tok ? tok->bos : -1; }

int es_tokenizer_eos(const es_tokenizer *tok) { return tok ? tok->eos : -1; }

int es_tokenizer_is_eog(const es_tokenizer *tok, int32_t id) {
    if (!tok || id < 0) return 0;
    for (int i = 0; i < tok->n_eog; i++)
        if (tok->eog[i] == id) return 1;
    return 0;
}

const char *es_tokenizer_kind(const es_tokenizer *tok) {
    if (!tok) return "";
    if (tok->kind == TOK_SPM) return "llama (SentencePiece BPE)";
    return tok->ignore_merges ? "gpt2 (byte-level BPE, llama-bpe)" : "gpt2 (byte-level BPE)";
}

/* ------------------------------------------------------------- loading -- */

es_tokenizer *es_tokenizer_load(const char *path, es_error *err) {
    return es_tokenizer_load_for(path, 0, err);
}

es_tokenizer *es_tokenizer_load_for(const char *path, int vocab_size, es_error *err) {
    if (!path) {
        es_fail(err, "tokenizer: no path");
        return NULL;
    }
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        es_fail(err, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    unsigned char head[4096];
    size_t n = fread(head, 1, sizeof head, fp);
    fclose(fp);
    if (gguf_has_magic(head, n)) {
        gguf_file f;
        if (gguf_open(&f, path, err) != 0) return NULL;
        es_tokenizer *t = es_tokenizer_from_gguf(&f, err);
        gguf_close(&f);
        return t;
    }
    size_t i = 0;
    while (i < n && (head[i] == ' ' || head[i] == '\t' || head[i] == '\n' || head[i] == '\r'))
        i++;
    if (i < n && head[i] == '{') return es_tokenizer_from_json(path, err);
    return es_tokenizer_from_llama2c(path, vocab_size, err);
}

int tok_read_file(const char *path, size_t max_size, char **buf, size_t *size, es_error *err) {
    *buf = NULL;
    *size = 0;
    FILE *fp = fopen(path, "rb");
    if (!fp) return es_fail(err, "%s: %s", path, strerror(errno));
    /* Start from the file's size if it has one (a regular file), so that a
     * 9 MB tokenizer.json is read in one go; grow for pipes and the like. */
    struct stat st;
    size_t cap = fstat(fileno(fp), &st) == 0 && st.st_size > 0 ? (size_t)st.st_size + 1 : 1 << 16;
    if (cap > max_size + 1) cap = max_size + 1;
    size_t used = 0;
    char *data = malloc(cap + 1);
    while (data) {
        used += fread(data + used, 1, cap - used, fp);
        if (used < cap) break;
        if (cap > max_size) {
            free(data);
            fclose(fp);
            return es_fail(err, "%s: file larger than %zu bytes", path, max_size);
        }
        cap *= 2;
        char *grown = realloc(data, cap + 1);
        if (!grown) free(data);
        data = grown;
    }
    int read_error = ferror(fp);
    fclose(fp);
    if (!data) return es_fail(err, "%s: out of memory", path);
    if (read_error) {
        free(data);
        return es_fail(err, "%s: read error", path);
    }
    data[used] = '\0'; /* so that text parsers may rely on a terminator */
    *buf = data;
    *size = used;
    return 0;
}
