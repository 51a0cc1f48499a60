/* Private to src/tokenizer/: the tokenizer struct that both kinds share,
 * and the functions the loaders (GGUF, tokenizer.json, llama2.c, synthetic)
 * and the two encoders (spm.c, bpe.c) use to build and read it. src/chat/
 * uses only the two chat accessors at the end (template text, token ids by
 * name).
 *
 * Building a tokenizer: tok_new, then tok_set_piece for every id, then
 * tok_index (hash map, duplicate check, decoded bytes, special tokens;
 * for byte-level BPE also the split regex), then for byte-level BPE
 * bpe_reserve_merges + bpe_add_merge in rank order, and finally
 * tok_set_special_ids. Any failure: es_tokenizer_free and return NULL. */
#ifndef ES_TOKENIZER_TOKENIZER_IMPL_H
#define ES_TOKENIZER_TOKENIZER_IMPL_H

#include <stddef.h>
#include <stdint.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "tokenizer/merge_queue.h"
#include "tokenizer/piece_map.h"
#include "tokenizer/tokenizer.h"

/* Token types, numbered as GGUF's tokenizer.ggml.token_type. */
enum {
    TOKEN_UNSET = 0, /* GGUF's "undefined"; read as normal, never stored */
    TOKEN_NORMAL = 1,
    TOKEN_UNKNOWN = 2,
    TOKEN_CONTROL = 3,
    TOKEN_USER_DEFINED = 4,
    TOKEN_UNUSED = 5,
    TOKEN_BYTE = 6,
};

typedef enum tok_kind {
    TOK_SPM, /* SentencePiece-style BPE: scores, '▁' for spaces, <0xXX> byte fallback */
    TOK_BPE, /* byte-level BPE: ranked merges over GPT-2 byte characters */
} tok_kind;

/* Vocabularies larger than this are rejected as corrupt (Llama 3: 128,256). */
#define TOK_MAX_VOCAB (1 << 24)
#define TOK_MAX_EOG 8

struct es_tokenizer {
    tok_kind kind;
    char *path;              /* source file, for messages */
    int32_t n_vocab;

    /* Pieces as the vocabulary spells them (SPM: '▁' for a space; BPE:
     * GPT-2 byte characters; special tokens: their literal text). */
    char *text;              /* pool of all pieces, back to back */
    size_t text_used, text_cap;
    uint32_t *text_off;      /* (n_vocab) */
    uint32_t *text_len;      /* (n_vocab) */
    float *scores;           /* (n_vocab) SPM merge priority, higher first; 0 for BPE */
    uint8_t *types;          /* (n_vocab) TOKEN_* */
    piece_map by_text;       /* piece text -> id */

    /* The exact bytes each token decodes to, computed once at load. */
    char *dec;
    uint32_t *dec_off;       /* (n_vocab) */
    uint32_t *dec_len;       /* (n_vocab) */

    /* SPM: the <0xXX> token of each byte; BPE: the token of each byte's
     * GPT-2 character. -1 where absent. */
    int32_t byte_token[256];
    int add_space_prefix;    /* SPM: prepend '▁' to each text run */

    /* BPE */
    pair_map merges;         /* (left, right) -> (rank, merged) */
    int32_t *merge_left;     /* (n_merges) in rank order, to write them back */
    int32_t *merge_right;
    int32_t n_merges, merge_cap;
    int ignore_merges;       /* 1: a pre-token that is a whole piece is taken as is */
    pcre2_code *split_regex;
    uint16_t byte_char[256]; /* byte -> its GPT-2 byte character (code point) */
    int16_t char_byte[324];  /* GPT-2 byte character -> byte, -1 if none */

    /* Tokens recognised in text as a whole (control, unknown and
     * user-defined), grouped by first byte, longest first within a group. */
    int32_t *special_ids;            /* (n_special) */
    int32_t n_special;
    int32_t n_user_defined;          /* of them user-defined (matched even without PARSE_SPECIAL) */
    uint32_t special_start[257];     /* group of first byte b: [start[b], start[b+1]) */

    int32_t bos, eos, unk, pad;      /* -1: none */
    int add_bos;                     /* the file's add_bos_token (kept for writing) */
    int32_t eog[TOK_MAX_EOG];        /* end-of-generation ids */
    int n_eog;

    /* The Jinja chat template the file carries (NUL-terminated), or NULL.
     * Kept as text; src/chat/ recognises it. */
    char *chat_template;
};

/* ---- building (tokenizer.c) */
es_tokenizer *tok_new(tok_kind kind, int64_t n_vocab, const char *path, es_error *err);
int tok_set_piece(es_tokenizer *t, int32_t id, const char *text, size_t len,
                  float score, int type, es_error *err);
int tok_index(es_tokenizer *t, es_error *err);
/* Ids out of [0, n_vocab) other than -1 (none) are rejected. Also collects
 * the end-of-generation set: eos plus <|eot_id|>, <|eom_id|>, <|end_of_text|>. */
int tok_set_special_ids(es_tokenizer *t, int64_t bos, int64_t eos, int64_t unk,
                        int64_t pad, es_error *err);
int tok_add_eog(es_tokenizer *t, int32_t id);
/* Stores a copy of the chat template (replacing any earlier one). */
int tok_set_chat_template(es_tokenizer *t, const char *text, size_t len, es_error *err);
/* The piece text of id (not NUL-terminated). */
static inline const char *tok_text(const es_tokenizer *t, int32_t id, size_t *len) {
    *len = t->text_len[id];
    return t->text + t->text_off[id];
}

/* ---- growable id list for the encoders */
typedef struct id_vec {
    int32_t *ids;
    size_t n, cap;
} id_vec;
int id_vec_push(id_vec *v, int32_t id);

/* ---- SentencePiece-style BPE (spm.c) */
/* Encodes one run of text (no special tokens in it); add_prefix: prepend
 * the dummy-prefix space. */
int spm_encode(const es_tokenizer *t, const char *text, size_t len, int add_prefix,
               id_vec *out, es_error *err);
/* Writes the bytes a normal SPM piece stands for ('▁' -> ' ', <0xXX> -> byte)
 * into out (room for len bytes suffices); returns the count. */
size_t spm_decode_piece(const es_tokenizer *t, int32_t id, char *out);

/* ---- byte-level BPE (bpe.c) */
/* Compiles the split regex and finds the 256 byte-character tokens. */
int bpe_prepare(es_tokenizer *t, es_error *err);
int bpe_reserve_merges(es_tokenizer *t, int64_t n, es_error *err);
/* Adds the merge of the next rank. Fails (message "PATH: merge N ...") if
 * a, b or their concatenation is not a piece. */
int bpe_add_merge(es_tokenizer *t, const char *a, size_t a_len, const char *b,
                  size_t b_len, es_error *err);
int bpe_encode(const es_tokenizer *t, const char *text, size_t len, id_vec *out,
               es_error *err);
/* Bytes of a BPE piece: each GPT-2 byte character back to its byte (other
 * characters are kept as their UTF-8). Returns the count (<= len). */
size_t bpe_decode_piece(const es_tokenizer *t, int32_t id, char *out);

/* Reads a whole file (at most max_size bytes) into a malloc'ed buffer with
 * a NUL after the last byte. */
int tok_read_file(const char *path, size_t max_size, char **buf, size_t *size,
                  es_error *err);

/* Length of the UTF-8 character starting at s (at most n bytes); 1 for an
 * invalid or truncated sequence, so that every byte is covered. */
size_t utf8_char_len(const unsigned char *s, size_t n);

/* ---- for src/chat/ */
/* The id of the control (or user-defined) token spelled exactly name, or -1. */
int32_t tok_find_special(const es_tokenizer *t, const char *name);

#endif
