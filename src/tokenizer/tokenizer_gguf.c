/* The tokenizer inside a GGUF file: reading the tokenizer.ggml.* keys into
 * an es_tokenizer, and writing them back out (for synth and tests).
 *
 * Keys: model ("llama": SentencePiece BPE, "gpt2": byte-level BPE), pre
 * (gpt2 only: the pre-tokenizer), tokens (string array), scores (f32
 * array), token_type (i32 array: 1 normal, 2 unknown, 3 control, 4 user-
 * defined, 5 unused, 6 byte), merges (gpt2: "a b" strings, rank order),
 * bos/eos/unknown/padding_token_id, add_bos_token, add_space_prefix, and
 * llama.cpp's optional eot/eom_token_id; also tokenizer.chat_template (the
 * Jinja text, kept for src/chat/). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer_impl.h"
#include "util/error.h"

/* Optional array of n elements of one type: NULL if absent. */
static int get_parallel_arr(const gguf_file *f, const char *key, gguf_type type, uint64_t n,
                            const gguf_kv **out, es_error *err) {
    *out = NULL;
    int rc = gguf_get_arr(f, key, type, out, err);
    if (rc < 0) return -1;
    if (rc > 0) {
        *out = NULL;
        return 0;
    }
    if ((*out)->v.arr.n != n)
        return es_fail(err, "%s: key %s: %llu elements for %llu tokens", f->path, key,
                       (unsigned long long)(*out)->v.arr.n, (unsigned long long)n);
    return 0;
}

/* Old SentencePiece GGUFs lack token_type: infer it from the spelling as
 * llama.cpp's converter would have set it, so byte fallback still works. */
static int spm_type_from_text(gguf_str s) {
    static const char hex[] = "0123456789ABCDEF";
    if (gguf_str_eq(s, "<unk>")) return TOKEN_UNKNOWN;
    if (gguf_str_eq(s, "<s>") || gguf_str_eq(s, "</s>")) return TOKEN_CONTROL;
    if (s.len == 6 && memcmp(s.ptr, "<0x", 3) == 0 && s.ptr[5] == '>' && s.ptr[3] && s.ptr[4] &&
        strchr(hex, s.ptr[3]) && strchr(hex, s.ptr[4]))
        return TOKEN_BYTE;
    return TOKEN_NORMAL;
}

static int read_pieces(es_tokenizer *t, const gguf_file *f, const gguf_kv *tokens,
                       es_error *err) {
    uint64_t n = tokens->v.arr.n;
    const gguf_kv *scores, *types;
    if (get_parallel_arr(f, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, n, &scores, err) != 0 ||
        get_parallel_arr(f, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, n, &types, err) != 0)
        return -1;
    for (uint64_t i = 0; i < n; i++) {
        float score = 0.0f;
        int32_t type = TOKEN_NORMAL;
        if (scores) memcpy(&score, scores->v.arr.data + 4 * i, 4);
        gguf_str s = tokens->v.arr.strs[i];
        if (types) memcpy(&type, types->v.arr.data + 4 * i, 4);
        else if (t->kind == TOK_SPM) type = spm_type_from_text(s);
        if (!isfinite(score))
            return es_fail(err, "%s: token %llu: score is not finite", f->path,
                           (unsigned long long)i);
        if (type == TOKEN_UNSET) type = TOKEN_NORMAL;
        if (tok_set_piece(t, (int32_t)i, s.ptr, (size_t)s.len, score, type, err) != 0) return -1;
    }
    return 0;
}

/* "a b" -> a, b. The separator is the first space after the first byte
 * (byte-level pieces never contain a space: it is spelled 'Ġ'). */
static int read_merges(es_tokenizer *t, const gguf_file *f, es_error *err) {
    const gguf_kv *merges;
    int rc = gguf_get_arr(f, "tokenizer.ggml.merges", GGUF_TYPE_STRING, &merges, err);
    if (rc < 0) return -1;
    if (rc > 0) return es_fail(err, "%s: key tokenizer.ggml.merges missing", f->path);
    if (bpe_reserve_merges(t, (int64_t)merges->v.arr.n, err) != 0) return -1;
    for (uint64_t i = 0; i < merges->v.arr.n; i++) {
        gguf_str s = merges->v.arr.strs[i];
        const char *space = s.len > 1 ? memchr(s.ptr + 1, ' ', (size_t)s.len - 1) : NULL;
        if (!space || space + 1 == s.ptr + s.len)
            return es_fail(err, "%s: merge %llu is not \"a b\"", f->path, (unsigned long long)i);
        size_t a_len = (size_t)(space - s.ptr);
        if (bpe_add_merge(t, s.ptr, a_len, space + 1, (size_t)s.len - a_len - 1, err) != 0)
            return -1;
    }
    return 0;
}

/* Reads the pre-tokenizer name: llama.cpp's names for the Llama 3 one, or
 * "default"/absent. The latter is read with the same Llama 3 regex (the
 * only one implemented) but without ignore_merges, so that a tokenizer.json
 * without ignore_merges survives a round trip through GGUF. */
static int read_pre(es_tokenizer *t, const gguf_file *f, es_error *err) {
    gguf_str pre;
    int rc = gguf_get_str(f, "tokenizer.ggml.pre", &pre, err);
    if (rc < 0) return -1;
    if (rc > 0 || gguf_str_eq(pre, "default")) {
        t->ignore_merges = 0;
        return 0;
    }
    if (gguf_str_eq(pre, "llama-bpe") || gguf_str_eq(pre, "llama3") ||
        gguf_str_eq(pre, "llama-v3")) {
        t->ignore_merges = 1;
        return 0;
    }
    return es_fail(err, "%s: unsupported pre-tokenizer \"%s\" (only llama-bpe)", f->path,
                   es_show(pre.ptr, (size_t)pre.len).text);
}

static int get_id(const gguf_file *f, const char *key, int64_t *id, es_error *err) {
    *id = -1;
    return gguf_get_i64(f, key, id, err) < 0 ? -1 : 0;
}

static int read_special_ids(es_tokenizer *t, const gguf_file *f, es_error *err) {
    int64_t bos, eos, unk, pad, eot, eom;
    if (get_id(f, "tokenizer.ggml.bos_token_id", &bos, err) != 0 ||
        get_id(f, "tokenizer.ggml.eos_token_id", &eos, err) != 0 ||
        get_id(f, "tokenizer.ggml.unknown_token_id", &unk, err) != 0 ||
        get_id(f, "tokenizer.ggml.padding_token_id", &pad, err) != 0 ||
        get_id(f, "tokenizer.ggml.eot_token_id", &eot, err) != 0 ||
        get_id(f, "tokenizer.ggml.eom_token_id", &eom, err) != 0)
        return -1;
    if (tok_set_special_ids(t, bos, eos, unk, pad, err) != 0) return -1;
    int64_t extra[2] = {eot, eom};
    for (int i = 0; i < 2; i++) {
        if (extra[i] < 0 || extra[i] == UINT32_MAX) continue;
        if (extra[i] >= t->n_vocab || tok_add_eog(t, (int32_t)extra[i]) != 0)
            return es_fail(err, "%s: %s token id %lld out of range", f->path,
                           i ? "eom" : "eot", (long long)extra[i]);
    }
    int add_bos = t->kind == TOK_SPM, add_space = 1;
    if (gguf_get_bool(f, "tokenizer.ggml.add_bos_token", &add_bos, err) < 0 ||
        gguf_get_bool(f, "tokenizer.ggml.add_space_prefix", &add_space, err) < 0)
        return -1;
    t->add_bos = add_bos;
    t->add_space_prefix = t->kind == TOK_SPM && add_space;
    return 0;
}

es_tokenizer *es_tokenizer_from_gguf(const gguf_file *f, es_error *err) {
    gguf_str model;
    const gguf_kv *tokens;
    int rc = gguf_get_str(f, "tokenizer.ggml.model", &model, err);
    if (rc < 0) return NULL;
    if (rc > 0) {
        es_fail(err, "%s: no tokenizer (key tokenizer.ggml.model missing)", f->path);
        return NULL;
    }
    tok_kind kind;
    if (gguf_str_eq(model, "llama")) kind = TOK_SPM;
    else if (gguf_str_eq(model, "gpt2")) kind = TOK_BPE;
    else {
        es_fail(err, "%s: unsupported tokenizer model \"%s\" (llama or gpt2)", f->path,
                es_show(model.ptr, (size_t)model.len).text);
        return NULL;
    }
    rc = gguf_get_arr(f, "tokenizer.ggml.tokens", GGUF_TYPE_STRING, &tokens, err);
    if (rc != 0) {
        if (rc > 0) es_fail(err, "%s: key tokenizer.ggml.tokens missing", f->path);
        return NULL;
    }
    es_tokenizer *t = tok_new(kind, (int64_t)tokens->v.arr.n, f->path, err);
    if (!t) return NULL;
    if (kind == TOK_BPE && read_pre(t, f, err) != 0) goto fail;
    if (read_pieces(t, f, tokens, err) != 0 || tok_index(t, err) != 0) goto fail;
    if (kind == TOK_BPE && read_merges(t, f, err) != 0) goto fail;
    if (read_special_ids(t, f, err) != 0) goto fail;
    gguf_str chat;
    rc = gguf_get_str(f, "tokenizer.chat_template", &chat, err);
    if (rc < 0 || (rc == 0 && tok_set_chat_template(t, chat.ptr, (size_t)chat.len, err) != 0))
        goto fail;
    return t;
fail:
    es_tokenizer_free(t);
    return NULL;
}

/* ------------------------------------------------------------- writing -- */

static int write_pieces(const es_tokenizer *t, gguf_writer *w) {
    size_t n = (size_t)t->n_vocab;
    const char **strs = malloc(n * sizeof *strs);
    size_t *lens = malloc(n * sizeof *lens);
    int32_t *types = malloc(n * sizeof *types);
    int rc = -1;
    if (strs && lens && types) {
        for (size_t i = 0; i < n; i++) {
            strs[i] = tok_text(t, (int32_t)i, &lens[i]);
            types[i] = t->types[i];
        }
        rc = gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", strs, lens, n);
        if (rc == 0)
            rc = gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, types, n);
        if (rc == 0) /* byte-level BPE ignores them, but a GGUF may carry them */
            rc = gguf_writer_set_arr(w, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, t->scores, n);
    }
    free(strs);
    free(lens);
    free(types);
    return rc;
}

static int write_merges(const es_tokenizer *t, gguf_writer *w) {
    size_t n = (size_t)t->n_merges, total = 0;
    for (size_t i = 0; i < n; i++)
        total += t->text_len[t->merge_left[i]] + 1 + t->text_len[t->merge_right[i]];
    char *pool = malloc(total ? total : 1);
    const char **strs = malloc((n ? n : 1) * sizeof *strs);
    size_t *lens = malloc((n ? n : 1) * sizeof *lens);
    int rc = -1;
    if (pool && strs && lens) {
        size_t used = 0;
        for (size_t i = 0; i < n; i++) {
            size_t a_len, b_len;
            const char *a = tok_text(t, t->merge_left[i], &a_len);
            const char *b = tok_text(t, t->merge_right[i], &b_len);
            strs[i] = pool + used;
            memcpy(pool + used, a, a_len);
            pool[used + a_len] = ' ';
            memcpy(pool + used + a_len + 1, b, b_len);
            lens[i] = a_len + 1 + b_len;
            used += lens[i];
        }
        rc = gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", strs, lens, n);
    }
    free(pool);
    free(strs);
    free(lens);
    return rc;
}

/* End-of-generation ids that loading would not find again by itself (not
 * EOS, not one of the known names) go to the eot/eom keys. */
static int write_extra_eog(const es_tokenizer *t, gguf_writer *w) {
    static const char *const keys[] = {"tokenizer.ggml.eot_token_id",
                                       "tokenizer.ggml.eom_token_id"};
    static const char *const names[] = {"<|end_of_text|>", "<|eot_id|>", "<|eom_id|>"};
    int k = 0;
    for (int i = 0; i < t->n_eog && k < 2; i++) {
        int32_t id = t->eog[i];
        int known = id == t->eos;
        for (int j = 0; j < 3 && !known; j++)
            known = t->types[id] == TOKEN_CONTROL && t->text_len[id] == strlen(names[j]) &&
                    memcmp(t->text + t->text_off[id], names[j], t->text_len[id]) == 0;
        if (!known && gguf_writer_set_u32(w, keys[k++], (uint32_t)id) != 0) return -1;
    }
    return 0;
}

int es_tokenizer_write_gguf(const es_tokenizer *tok, gguf_writer *w, es_error *err) {
    if (!tok || !w) return es_fail(err, "tokenizer: nothing to write");
    const char *model = tok->kind == TOK_SPM ? "llama" : "gpt2";
    const char *pre = tok->ignore_merges ? "llama-bpe" : "default";
    int rc = gguf_writer_set_str(w, "tokenizer.ggml.model", model);
    if (rc == 0 && tok->kind == TOK_BPE) rc = gguf_writer_set_str(w, "tokenizer.ggml.pre", pre);
    if (rc == 0) rc = write_pieces(tok, w);
    if (rc == 0 && tok->kind == TOK_BPE) rc = write_merges(tok, w);
    const struct { const char *key; int32_t id; } ids[] = {
        {"tokenizer.ggml.bos_token_id", tok->bos},
        {"tokenizer.ggml.eos_token_id", tok->eos},
        {"tokenizer.ggml.unknown_token_id", tok->unk},
        {"tokenizer.ggml.padding_token_id", tok->pad},
    };
    for (size_t i = 0; rc == 0 && i < sizeof ids / sizeof ids[0]; i++)
        if (ids[i].id >= 0) rc = gguf_writer_set_u32(w, ids[i].key, (uint32_t)ids[i].id);
    if (rc == 0) rc = gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", tok->add_bos);
    if (rc == 0 && tok->kind == TOK_SPM)
        rc = gguf_writer_set_bool(w, "tokenizer.ggml.add_space_prefix", tok->add_space_prefix);
    if (rc == 0) rc = write_extra_eog(tok, w);
    if (rc == 0 && tok->chat_template)
        rc = gguf_writer_set_str(w, "tokenizer.chat_template", tok->chat_template);
    return rc == 0 ? 0 : es_fail(err, "%s: out of memory writing the tokenizer", tok->path);
}
