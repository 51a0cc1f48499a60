/* libFuzzer target for the trainer's corpus reader and the BPE learner (see
 * tests/fuzz/README.md). The input is written as corpus.jsonl and read as
 * the JSON lines {"text": ...} `entroscope train` takes; a failed read must
 * leave one line "PATH: problem" or "PATH:LINE: problem". A corpus that reads has a byte-level BPE
 * of 300 tokens learned from it (es_tokenizer_learn_bpe), every document
 * tokenized into the stream, which must be BOS + ids + EOS per document with
 * every id in the vocabulary, and (when long enough) a batch of 2 sequences
 * of 8 drawn from it. */
#include "fuzz_common.h"
#include "train/train.h"

/* One line "PATH: problem" or "PATH:LINE: problem". */
static void check_read_message(const es_error *err, const char *path) {
    size_t n = strlen(path);
    const char *p = err->msg + n;
    if (strncmp(err->msg, path, n) != 0 || *p != ':' || strchr(err->msg, '\n')) abort();
    p++;
    if (*p >= '0' && *p <= '9') {
        while (*p >= '0' && *p <= '9') p++;
        if (*p++ != ':') abort();
    }
    if (p[0] != ' ' || p[1] == '\0') abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write_file(0, "corpus.jsonl", data, size);
    tr_corpus c;
    es_error err;
    if (tr_corpus_read(&c, path, &err) != 0) {
        check_read_message(&err, path);
        return 0;
    }
    es_tokenizer *tok = es_tokenizer_learn_bpe((const char *const *)c.texts, c.lens, c.n_docs, 300, &err);
    if (!tok) {
        if (strchr(err.msg, '\n')) abort();
        tr_corpus_free(&c);
        return 0;
    }
    if (tr_corpus_tokenize(&c, tok, path, &err) == 0) {
        int32_t n_vocab = es_tokenizer_vocab_size(tok), bos = es_tokenizer_bos(tok);
        size_t d = 0;
        for (size_t i = 0; i < c.n_tokens; i++) {
            if (c.stream[i] < 0 || c.stream[i] >= n_vocab) abort();
            if (d < c.n_docs && i == c.doc_starts[d]) {
                if (c.stream[i] != bos || (d > 0 && c.stream[i - 1] != es_tokenizer_eos(tok))) abort();
                d++;
            }
        }
        if (d != c.n_docs) abort();
        int32_t in[16], tg[16];
        uint64_t rng = 1;
        if (tr_corpus_batch(&c, 2, 8, bos, &rng, in, tg) == 0)
            for (int i = 0; i < 16; i++)
                if (in[i] < 0 || in[i] >= n_vocab || tg[i] < -1 || tg[i] >= n_vocab) abort();
    } else if (strchr(err.msg, '\n')) {
        abort();
    }
    es_tokenizer_free(tok);
    tr_corpus_free(&c);
    return 0;
}
