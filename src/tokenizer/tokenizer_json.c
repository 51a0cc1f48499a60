/* Hugging Face tokenizer.json, byte-level BPE only (Llama 3 and its kin),
 * parsed with cJSON. What is read:
 *   model.type "BPE", model.vocab {piece: id}, model.merges ("a b" strings
 *   or [a, b] pairs, rank order), model.ignore_merges, model.byte_fallback
 *   (must be false: that is SentencePiece-style BPE, which GGUF carries);
 *   added_tokens [{id, content, special}]: special ones become control
 *   tokens, the others user-defined;
 *   pre_tokenizer: must split with the Llama 3 regex and use no other
 *   regex (a ByteLevel step with use_regex true would add GPT-2's);
 *   normalizer: must be null.
 * The file names no BOS/EOS: as for Llama 3, BOS is <|begin_of_text|> and
 * EOS <|end_of_text|> when present. Anything else is refused with a
 * one-line message rather than tokenized differently from the reference.
 * The chat template is not in tokenizer.json but beside it: see
 * read_chat_template. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tokenizer/tokenizer_impl.h"
#include "util/error.h"

#define JSON_MAX_FILE ((size_t)1 << 30)
#define CHAT_MAX_FILE ((size_t)64 << 20)

static const cJSON *member(const cJSON *obj, const char *key) {
    return cJSON_GetObjectItemCaseSensitive(obj, key);
}

/* An integer token id in [0, TOK_MAX_VOCAB), or -1. */
static int64_t json_id(const cJSON *v) {
    if (!cJSON_IsNumber(v)) return -1;
    double d = v->valuedouble;
    if (!(d >= 0 && d < TOK_MAX_VOCAB) || d != floor(d)) return -1;
    return (int64_t)d;
}

/* 1 if any "Regex" string inside node equals the Llama 3 split regex; sets
 * *other if one differs, *gpt2_regex if a ByteLevel step uses its own. */
static void scan_pre_tokenizer(const cJSON *node, int *llama3, int *other, int *gpt2_regex) {
    if (!node) return;
    const cJSON *regex = cJSON_IsObject(node) ? member(node, "Regex") : NULL;
    if (cJSON_IsString(regex)) {
        if (strcmp(regex->valuestring, TOK_LLAMA3_REGEX) == 0) *llama3 = 1;
        else *other = 1;
    }
    const cJSON *type = cJSON_IsObject(node) ? member(node, "type") : NULL;
    if (cJSON_IsString(type) && strcmp(type->valuestring, "ByteLevel") == 0 &&
        cJSON_IsTrue(member(node, "use_regex")))
        *gpt2_regex = 1;
    for (const cJSON *c = node->child; c; c = c->next)
        scan_pre_tokenizer(c, llama3, other, gpt2_regex);
}

static int check_supported(const char *path, const cJSON *root, const cJSON *model,
                           es_error *err) {
    const cJSON *type = member(model, "type");
    if (type && !(cJSON_IsString(type) && strcmp(type->valuestring, "BPE") == 0))
        return es_fail(err, "%s: model.type is not \"BPE\"", path);
    if (cJSON_IsTrue(member(model, "byte_fallback")))
        return es_fail(err, "%s: byte_fallback BPE (SentencePiece style) is not supported here; "
                       "use the GGUF or tokenizer.bin", path);
    const cJSON *norm = member(root, "normalizer");
    if (norm && !cJSON_IsNull(norm))
        return es_fail(err, "%s: unsupported normalizer (only none)", path);
    int llama3 = 0, other = 0, gpt2_regex = 0;
    scan_pre_tokenizer(member(root, "pre_tokenizer"), &llama3, &other, &gpt2_regex);
    if (!llama3 || other || gpt2_regex)
        return es_fail(err, "%s: unsupported pre_tokenizer (only the Llama 3 split regex)", path);
    return 0;
}

/* n_vocab: one more than the largest id in model.vocab and added_tokens. */
static int count_vocab(const char *path, const cJSON *vocab, const cJSON *added,
                       int64_t *n, es_error *err) {
    int64_t max_id = -1, entries = 0;
    for (const cJSON *v = vocab->child; v; v = v->next, entries++) {
        int64_t id = json_id(v);
        if (id < 0)
            return es_fail(err, "%s: model.vocab[\"%s\"]: id is not an integer in 0..%d", path,
                           es_show(v->string, strlen(v->string)).text, TOK_MAX_VOCAB - 1);
        if (id > max_id) max_id = id;
    }
    for (const cJSON *a = added ? added->child : NULL; a; a = a->next, entries++) {
        int64_t id = json_id(member(a, "id"));
        if (id < 0 || !cJSON_IsString(member(a, "content")))
            return es_fail(err, "%s: added_tokens entry without an integer id and a content", path);
        if (id > max_id) max_id = id;
    }
    /* Checked before allocating: a lone id of 16 million must not cost 200 MB. */
    if (max_id + 1 > entries)
        return es_fail(err, "%s: ids run to %lld but only %lld tokens are given", path,
                       (long long)max_id, (long long)entries);
    *n = max_id + 1;
    return 0;
}

static int read_vocab(es_tokenizer *t, const cJSON *vocab, const cJSON *added, es_error *err) {
    for (const cJSON *v = vocab->child; v; v = v->next)
        if (tok_set_piece(t, (int32_t)json_id(v), v->string, strlen(v->string), 0.0f,
                          TOKEN_NORMAL, err) != 0)
            return -1;
    for (const cJSON *a = added ? added->child : NULL; a; a = a->next) {
        int32_t id = (int32_t)json_id(member(a, "id"));
        const char *content = member(a, "content")->valuestring;
        size_t len = strlen(content);
        int type = cJSON_IsTrue(member(a, "special")) ? TOKEN_CONTROL : TOKEN_USER_DEFINED;
        if (t->types[id] == TOKEN_UNSET) {
            if (tok_set_piece(t, id, content, len, 0.0f, type, err) != 0) return -1;
            continue;
        }
        size_t old_len; /* an added token may restate a vocabulary entry */
        const char *old = tok_text(t, id, &old_len);
        if (old_len != len || memcmp(old, content, len) != 0)
            return es_fail(err, "%s: added token %d \"%s\" differs from model.vocab's", t->path,
                           (int)id, es_show(content, len).text);
        t->types[id] = (uint8_t)type;
    }
    return 0;
}

static int read_merges(es_tokenizer *t, const cJSON *merges, es_error *err) {
    if (bpe_reserve_merges(t, cJSON_GetArraySize(merges), err) != 0) return -1;
    int i = 0;
    for (const cJSON *m = merges->child; m; m = m->next, i++) {
        const char *a, *b;
        size_t a_len, b_len;
        if (cJSON_IsString(m)) { /* "a b" */
            const char *s = m->valuestring, *space = s[0] ? strchr(s + 1, ' ') : NULL;
            if (!space || !space[1])
                return es_fail(err, "%s: model.merges[%d] is not \"a b\"", t->path, i);
            a = s, a_len = (size_t)(space - s), b = space + 1, b_len = strlen(b);
        } else if (cJSON_IsArray(m) && cJSON_GetArraySize(m) == 2 && cJSON_IsString(m->child) &&
                   cJSON_IsString(m->child->next)) { /* ["a", "b"] */
            a = m->child->valuestring, a_len = strlen(a);
            b = m->child->next->valuestring, b_len = strlen(b);
        } else {
            return es_fail(err, "%s: model.merges[%d] is neither \"a b\" nor [a, b]", t->path, i);
        }
        if (bpe_add_merge(t, a, a_len, b, b_len, err) != 0) return -1;
    }
    return 0;
}

static int find_named(const es_tokenizer *t, const char *name) {
    int32_t id = piece_map_find(&t->by_text, name, strlen(name));
    return id >= 0 && t->types[id] == TOKEN_CONTROL ? id : -1;
}

static es_tokenizer *build_from_json(const char *path, const cJSON *root, es_error *err) {
    const cJSON *model = member(root, "model");
    if (!cJSON_IsObject(model)) {
        es_fail(err, "%s: no \"model\" object", path);
        return NULL;
    }
    const cJSON *vocab = member(model, "vocab"), *merges = member(model, "merges");
    const cJSON *added = member(root, "added_tokens");
    if (!cJSON_IsObject(vocab) || !cJSON_IsArray(merges)) {
        es_fail(err, "%s: model.vocab (object) or model.merges (array) missing", path);
        return NULL;
    }
    if (added && !cJSON_IsArray(added) && !cJSON_IsNull(added)) {
        es_fail(err, "%s: added_tokens is not an array", path);
        return NULL;
    }
    if (!cJSON_IsArray(added)) added = NULL;
    int64_t n = 0;
    if (check_supported(path, root, model, err) != 0 ||
        count_vocab(path, vocab, added, &n, err) != 0)
        return NULL;
    es_tokenizer *t = tok_new(TOK_BPE, n, path, err);
    if (!t) return NULL;
    t->ignore_merges = cJSON_IsTrue(member(model, "ignore_merges"));
    if (read_vocab(t, vocab, added, err) != 0 || tok_index(t, err) != 0 ||
        read_merges(t, merges, err) != 0)
        goto fail;
    int32_t bos = find_named(t, "<|begin_of_text|>"), eos = find_named(t, "<|end_of_text|>");
    if (tok_set_special_ids(t, bos, eos, -1, -1, err) != 0) goto fail;
    t->add_bos = bos >= 0; /* Llama 3 models expect it (the GGUF key says so too) */
    return t;
fail:
    es_tokenizer_free(t);
    return NULL;
}

/* Reads path as a JSON object into *root (NULL, and 0, if the file does
 * not exist). */
static int parse_json_file(const char *path, size_t max_size, cJSON **root, es_error *err) {
    *root = NULL;
    struct stat st;
    if (stat(path, &st) != 0) return 0;
    char *buf;
    size_t size;
    if (tok_read_file(path, max_size, &buf, &size, err) != 0) return -1;
    const char *end = NULL;
    *root = cJSON_ParseWithLengthOpts(buf, size, &end, 0);
    int rc = 0;
    if (!*root) {
        size_t at = end && end >= buf && end <= buf + size ? (size_t)(end - buf) : 0;
        rc = es_fail(err, "%s: invalid JSON near byte %zu", path, at);
    } else if (!cJSON_IsObject(*root)) {
        rc = es_fail(err, "%s: not a JSON object", path);
        cJSON_Delete(*root);
        *root = NULL;
    }
    free(buf);
    return rc;
}

/* "chat_template" of a tokenizer_config.json or chat_template.json: a
 * string, or a list of {name, template} whose "default" entry is the chat
 * template. Sets *found when there is one. */
static int take_chat_member(es_tokenizer *t, const char *path, const cJSON *root, int *found,
                            es_error *err) {
    const cJSON *ct = member(root, "chat_template");
    if (!ct || cJSON_IsNull(ct)) return 0;
    if (cJSON_IsArray(ct))
        for (const cJSON *e = ct->child; e; e = e->next) {
            const cJSON *name = member(e, "name");
            if (cJSON_IsString(name) && strcmp(name->valuestring, "default") == 0) {
                ct = member(e, "template");
                break;
            }
        }
    if (!cJSON_IsString(ct))
        return es_fail(err, "%s: chat_template is neither a string nor a list with a "
                       "\"default\" template", path);
    *found = 1;
    return tok_set_chat_template(t, ct->valuestring, strlen(ct->valuestring), err);
}

/* The chat template beside tokenizer.json, looked for where Hugging Face
 * keeps it: tokenizer_config.json, then chat_template.json (Llama 3.2
 * Vision folders, newer transformers), then chat_template.jinja (plain
 * text). None at all is fine: raw prompts need none. */
static int read_chat_template(es_tokenizer *t, const char *path, es_error *err) {
    const char *slash = strrchr(path, '/');
    size_t dir_len = slash ? (size_t)(slash - path) + 1 : 0;
    char *file = malloc(dir_len + 32);
    if (!file) return es_fail(err, "%s: out of memory", path);
    memcpy(file, path, dir_len);
    int rc = 0, found = 0;
    static const char *const json_names[] = {"tokenizer_config.json", "chat_template.json"};
    for (int i = 0; i < 2 && rc == 0 && !found; i++) {
        strcpy(file + dir_len, json_names[i]);
        cJSON *root;
        rc = parse_json_file(file, CHAT_MAX_FILE, &root, err);
        if (rc == 0 && root) rc = take_chat_member(t, file, root, &found, err);
        cJSON_Delete(root);
    }
    strcpy(file + dir_len, "chat_template.jinja");
    struct stat st;
    char *text;
    size_t size;
    if (rc == 0 && !found && stat(file, &st) == 0 &&
        (rc = tok_read_file(file, CHAT_MAX_FILE, &text, &size, err)) == 0) {
        rc = tok_set_chat_template(t, text, size, err);
        free(text);
    }
    free(file);
    return rc;
}

es_tokenizer *es_tokenizer_from_json(const char *path, es_error *err) {
    char *buf;
    size_t size;
    if (tok_read_file(path, JSON_MAX_FILE, &buf, &size, err) != 0) return NULL;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(buf, size, &end, 0);
    if (!root) {
        size_t at = end && end >= buf && end <= buf + size ? (size_t)(end - buf) : 0;
        es_fail(err, "%s: invalid JSON near byte %zu", path, at);
        free(buf);
        return NULL;
    }
    es_tokenizer *t = NULL;
    if (!cJSON_IsObject(root)) es_fail(err, "%s: not a JSON object", path);
    else t = build_from_json(path, root, err);
    cJSON_Delete(root);
    free(buf);
    if (t && read_chat_template(t, path, err) != 0) {
        es_tokenizer_free(t);
        return NULL;
    }
    return t;
}
