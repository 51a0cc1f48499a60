/* A made-up SentencePiece-style vocabulary for synthetic models, so that
 * random-weight models can tokenize and print text without a download.
 *
 * Layout (like Llama 2's): 0 <unk>, 1 <s>, 2 </s>, 3..258 the byte tokens
 * <0x00>..<0xFF>, then normal pieces with descending scores: single
 * characters, common English bigrams, then common words with the '▁' word
 * prefix, each preceded by its own prefixes ("▁t", "▁th", "▁the") so that
 * merges can actually build it. Past that list come "▁0", "▁1", ...,
 * "▁10", ... (each buildable from the one before), so any n_vocab >= 259
 * gives exactly n_vocab distinct pieces. Deterministic: no randomness. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer_impl.h"
#include "util/error.h"

#define SYNTH_SPACE "\xE2\x96\x81" /* '▁' */
#define SYNTH_FIRST_NORMAL 259

static const char SYNTH_CHARS[] =
    "etaoinshrdlucmfwypvbgkjqxzETAOINSHRDLUCMFWYPVBGKJQXZ0123456789.,!?'\"-:;()";

static const char *const SYNTH_BIGRAMS[] = {
    "th", "he", "in", "er", "an", "re", "on", "at", "en", "nd", "ed", "es", "or", "ou",
    "it", "is", "ar", "as", "te", "st", "ve", "le", "al", "ha", "ng", "se", "me", "ne",
    "hi", "ll", "ing", "ay", "ow", "ad", "id", "ch", "sh", "ck", "ly", "ent", "ion",
};

static const char *const SYNTH_WORDS[] = {
    "the", "and", "to", "a", "was", "he", "she", "it", "of", "in", "that", "his", "her",
    "they", "with", "on", "for", "is", "you", "said", "but", "had", "at", "one", "day",
    "there", "little", "as", "so", "then", "not", "be", "were", "all", "up", "out", "very",
    "time", "big", "would", "could", "when", "them", "what", "from", "play", "happy", "friend",
    "saw", "wanted", "went", "upon", "once", "named", "girl", "boy", "mom", "dog", "cat",
    "tree", "sun", "ball", "toy", "park", "home", "love", "help", "look", "fun", "sad",
    "The", "Once", "He", "She", "They", "It", "Then", "But", "One", "Lily", "Tim", "Ben",
};

typedef struct synth_builder {
    es_tokenizer *t;
    int32_t next_id;  /* next id to fill */
} synth_builder;

/* 1 if the normal pieces so far already hold s (the list is small). */
static int synth_has(const synth_builder *b, const char *s, size_t len) {
    for (int32_t id = SYNTH_FIRST_NORMAL; id < b->next_id; id++)
        if (b->t->text_len[id] == len && memcmp(b->t->text + b->t->text_off[id], s, len) == 0)
            return 1;
    return 0;
}

/* Adds a normal piece (score: minus its rank) unless full or present. */
static int synth_add(synth_builder *b, const char *s, size_t len, es_error *err) {
    if (b->next_id >= b->t->n_vocab || synth_has(b, s, len)) return 0;
    int32_t id = b->next_id++;
    return tok_set_piece(b->t, id, s, len, -(float)(id - SYNTH_FIRST_NORMAL), TOKEN_NORMAL, err);
}

static int synth_words(synth_builder *b, es_error *err) {
    char buf[64];
    for (size_t w = 0; w < sizeof SYNTH_WORDS / sizeof SYNTH_WORDS[0]; w++) {
        int n = snprintf(buf, sizeof buf, SYNTH_SPACE "%s", SYNTH_WORDS[w]);
        for (int end = 4; end <= n; end++) /* "▁t", "▁th", "▁the" */
            if (synth_add(b, buf, (size_t)end, err) != 0) return -1;
    }
    return 0;
}

es_tokenizer *es_tokenizer_synthetic(int n_vocab, es_error *err) {
    if (n_vocab < SYNTH_FIRST_NORMAL || n_vocab > TOK_MAX_VOCAB) {
        es_fail(err, "synthetic vocabulary: size %d out of range (%d..%d)", n_vocab,
                SYNTH_FIRST_NORMAL, TOK_MAX_VOCAB);
        return NULL;
    }
    es_tokenizer *t = tok_new(TOK_SPM, n_vocab, "synthetic vocabulary", err);
    if (!t) return NULL;
    synth_builder b = {t, SYNTH_FIRST_NORMAL};
    char buf[32];
    if (tok_set_piece(t, 0, "<unk>", 5, 0.0f, TOKEN_UNKNOWN, err) != 0 ||
        tok_set_piece(t, 1, "<s>", 3, 0.0f, TOKEN_CONTROL, err) != 0 ||
        tok_set_piece(t, 2, "</s>", 4, 0.0f, TOKEN_CONTROL, err) != 0)
        goto fail;
    for (int byte = 0; byte < 256; byte++) {
        snprintf(buf, sizeof buf, "<0x%02X>", byte);
        if (tok_set_piece(t, 3 + byte, buf, 6, 0.0f, TOKEN_BYTE, err) != 0) goto fail;
    }
    if (synth_add(&b, SYNTH_SPACE, 3, err) != 0) goto fail;
    for (const char *c = SYNTH_CHARS; *c; c++)
        if (synth_add(&b, c, 1, err) != 0) goto fail;
    for (size_t i = 0; i < sizeof SYNTH_BIGRAMS / sizeof SYNTH_BIGRAMS[0]; i++)
        if (synth_add(&b, SYNTH_BIGRAMS[i], strlen(SYNTH_BIGRAMS[i]), err) != 0) goto fail;
    if (synth_words(&b, err) != 0) goto fail;
    /* Filler: "▁<k>" cannot repeat a word piece (no word holds a digit). */
    for (long k = 0; b.next_id < n_vocab; k++) {
        int n = snprintf(buf, sizeof buf, SYNTH_SPACE "%ld", k);
        int32_t id = b.next_id++;
        if (tok_set_piece(t, id, buf, (size_t)n, -(float)(id - SYNTH_FIRST_NORMAL), TOKEN_NORMAL,
                          err) != 0)
            goto fail;
    }
    if (tok_index(t, err) != 0 || tok_set_special_ids(t, 1, 2, 0, -1, err) != 0) goto fail;
    t->add_bos = 1;
    return t;
fail:
    es_tokenizer_free(t);
    return NULL;
}
