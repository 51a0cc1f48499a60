/* Tokenizers, internal interface. Two kinds share one struct:
 *  - SentencePiece-style BPE with scores and byte fallback (GGUF
 *    tokenizer.ggml.model = "llama", llama2.c tokenizer.bin);
 *  - byte-level BPE with ranked merges (GGUF "gpt2" with pre-tokenizer
 *    "llama-bpe", Hugging Face tokenizer.json), pre-split by the Llama 3
 *    regex through PCRE2.
 * The public functions (es_tokenize, es_token_to_piece, ...) are in
 * entroscope.h; this header adds the loaders used by the model loader and
 * synth. The struct itself is private to src/tokenizer/. */
#ifndef ES_TOKENIZER_TOKENIZER_H
#define ES_TOKENIZER_TOKENIZER_H

#include "entroscope.h"
#include "model/gguf.h"
#include "model/gguf_write.h"

/* es_tokenizer_load (entroscope.h) for a model of vocab_size tokens: a file
 * that is neither GGUF nor tokenizer.json is read as a llama2.c tokenizer.bin
 * of exactly vocab_size tokens (0: all it holds). */
es_tokenizer *es_tokenizer_load_for(const char *path, int vocab_size, es_error *err);
/* From a parsed GGUF's tokenizer.ggml.* keys. Messages name f->path. */
es_tokenizer *es_tokenizer_from_gguf(const gguf_file *f, es_error *err);
/* From a llama2.c tokenizer.bin (max_token_length, then per token: float
 * score, int32 length, bytes). vocab_size: the count the checkpoint header
 * gives (the file does not store it); 0 reads to the end of the file. */
es_tokenizer *es_tokenizer_from_llama2c(const char *path, int vocab_size, es_error *err);
/* From a Hugging Face tokenizer.json (model.type BPE, byte-level). */
es_tokenizer *es_tokenizer_from_json(const char *path, es_error *err);
/* A small SentencePiece-style vocabulary (specials, 256 byte tokens, then
 * common English letters and pieces with scores) of exactly n_vocab >= 259
 * tokens, for synthetic models. */
es_tokenizer *es_tokenizer_synthetic(int n_vocab, es_error *err);

/* Writes the tokenizer.ggml.* keys (model, pre, tokens, scores, token_type,
 * merges, bos/eos/unknown/padding ids, add_bos_token) and
 * tokenizer.chat_template (when the tokenizer has one), so that
 * es_tokenizer_from_gguf reads back the same tokenizer. */
int es_tokenizer_write_gguf(const es_tokenizer *tok, gguf_writer *w, es_error *err);

/* The chat template text, or NULL if the file carries none. */
const char *tok_chat_template(const es_tokenizer *t);

/* 1 if id is a control or user-defined token (<|eot_id|>, <|image|>, ...). */
int es_tokenizer_is_special(const es_tokenizer *tok, int32_t id);

/* The Llama 3 pre-tokenizer split regex (also in tokenizer.json files). */
#define TOK_LLAMA3_REGEX                                                      \
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}|" \
    " ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

/* The EOS id, or -1 if the vocabulary has none. es_tokenizer_is_eog in
 * entroscope.h knows the whole end-of-generation set (Llama 3: also <|eot_id|>). */
int es_tokenizer_eos(const es_tokenizer *tok);

#endif
