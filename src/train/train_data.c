/* The training data: JSON lines of {"text": ...} documents, tokenized into
 * one stream (BOS + tokens + EOS per document), and batches of sequences cut
 * from it at document starts drawn by the seeded generator. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer.h"
#include "train/train.h"
#include "util/error.h"
#include "util/rng.h"

void tr_corpus_free(tr_corpus *c) {
    for (size_t i = 0; i < c->n_docs; i++) free(c->texts[i]);
    free(c->texts);
    free(c->lens);
    free(c->stream);
    free(c->doc_starts);
    memset(c, 0, sizeof *c);
}

static int add_doc(tr_corpus *c, const char *text, size_t *cap) {
    if (c->n_docs == *cap) {
        size_t n = *cap ? *cap * 2 : 256;
        char **t = realloc(c->texts, n * sizeof *t);
        if (!t) return -1;
        c->texts = t;
        size_t *l = realloc(c->lens, n * sizeof *l);
        if (!l) return -1;
        c->lens = l;
        *cap = n;
    }
    size_t len = strlen(text);
    char *copy = malloc(len + 1);
    if (!copy) return -1;
    memcpy(copy, text, len + 1);
    c->texts[c->n_docs] = copy;
    c->lens[c->n_docs++] = len;
    return 0;
}

/* One line: 0 a document, 1 blank, -1 error (message set). */
static int read_line(tr_corpus *c, const char *line, size_t len, const char *path,
                     long line_no, size_t *cap, es_error *err) {
    size_t k = 0;
    while (k < len && (line[k] == ' ' || line[k] == '\t' || line[k] == '\r' || line[k] == '\n')) k++;
    if (k == len) return 1;
    cJSON *doc = cJSON_ParseWithLength(line, len);
    if (!doc) return es_fail(err, "%s:%ld: not valid JSON", path, line_no);
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(doc, "text");
    int rc = 0;
    if (!cJSON_IsObject(doc) || !cJSON_IsString(text) || !text->valuestring)
        rc = es_fail(err, "%s:%ld: expected an object with a string \"text\"", path, line_no);
    else if (add_doc(c, text->valuestring, cap))
        rc = es_fail(err, "%s: out of memory", path);
    cJSON_Delete(doc);
    return rc;
}

int tr_corpus_read(tr_corpus *c, const char *path, es_error *err) {
    memset(c, 0, sizeof *c);
    FILE *f = fopen(path, "rb");
    if (!f) return es_fail(err, "%s: %s", path, strerror(errno));
    char *line = NULL;
    size_t line_cap = 0, cap = 0;
    ssize_t n;
    long line_no = 0;
    int rc = 0;
    while (rc == 0 && (n = getline(&line, &line_cap, f)) >= 0) {
        line_no++;
        if (memchr(line, '\0', (size_t)n)) rc = es_fail(err, "%s:%ld: NUL byte", path, line_no);
        else if (read_line(c, line, (size_t)n, path, line_no, &cap, err) < 0) rc = -1;
    }
    if (rc == 0 && ferror(f)) rc = es_fail(err, "%s: read error", path);
    free(line);
    fclose(f);
    if (rc == 0 && c->n_docs == 0) rc = es_fail(err, "%s: no documents (empty corpus)", path);
    if (rc) tr_corpus_free(c);
    return rc;
}

int tr_corpus_tokenize(tr_corpus *c, const es_tokenizer *tok, const char *path, es_error *err) {
    const int32_t bos = es_tokenizer_bos(tok), eos = es_tokenizer_eos(tok);
    if (bos < 0 || eos < 0)
        return es_fail(err, "%s: the vocabulary has no BOS or no EOS token", path);
    size_t cap = 0;
    free(c->stream);
    free(c->doc_starts);
    c->stream = NULL;
    c->n_tokens = 0;
    c->doc_starts = malloc(sizeof(size_t) * c->n_docs);
    if (!c->doc_starts) return es_fail(err, "%s: out of memory", path);
    for (size_t d = 0; d < c->n_docs; d++) {
        int32_t *ids = NULL;
        size_t n_ids = 0;
        if (es_tokenize(tok, c->texts[d], c->lens[d], 0, &ids, &n_ids, err)) return -1;
        if (c->n_tokens + n_ids + 2 > cap) {
            size_t ncap = (c->n_tokens + n_ids + 2) * 2;
            int32_t *s = realloc(c->stream, ncap * sizeof *s);
            if (!s) {
                free(ids);
                return es_fail(err, "%s: out of memory", path);
            }
            c->stream = s;
            cap = ncap;
        }
        c->doc_starts[d] = c->n_tokens;
        c->stream[c->n_tokens++] = bos;
        memcpy(c->stream + c->n_tokens, ids, n_ids * sizeof *ids);
        c->n_tokens += n_ids;
        c->stream[c->n_tokens++] = eos;
        free(ids);
    }
    return 0;
}

int tr_corpus_batch(const tr_corpus *c, int B, int T, int32_t bos, uint64_t *rng,
                    int32_t *inputs, int32_t *targets) {
    size_t n_ok = 0; /* doc_starts increase: the first n_ok leave room */
    while (n_ok < c->n_docs && c->doc_starts[n_ok] + (size_t)T + 1 <= c->n_tokens) n_ok++;
    if (n_ok == 0) return -1;
    for (int b = 0; b < B; b++) {
        const int32_t *seq = c->stream + c->doc_starts[es_xorshift64s(rng) % n_ok];
        for (int t = 0; t < T; t++) {
            inputs[(size_t)b * T + t] = seq[t];
            targets[(size_t)b * T + t] = seq[t + 1] == bos ? -1 : seq[t + 1];
        }
    }
    return 0;
}
