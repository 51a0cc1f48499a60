/* libFuzzer target for llama2.c files (see README.md). The input is a
 * checkpoint and a tokenizer file, split at the first FUZZ_SEPARATOR (no
 * separator: all checkpoint, empty tokenizer). es_model_load runs the
 * checkpoint loader (src/model/llama2c.c) and then the tokenizer loader it
 * picks by content: a llama2.c tokenizer.bin of the header's vocabulary
 * size (src/tokenizer/llama2c_tokenizer.c), or a GGUF or tokenizer.json.
 * A model that loads has its tensors checked against the file's bytes, one
 * short forward pass and its tokenizer exercised. As few fuzzed checkpoints
 * have the exact size their header implies, the tokenizer is also loaded
 * alone, as a tokenizer.bin read to its end. Every failure must leave one
 * line naming one of the two files. */
#define _GNU_SOURCE /* memmem */
#include "fuzz_common.h"

#include "tokenizer/tokenizer.h"

#define FUZZ_SEPARATOR "\n==> tokenizer.bin <==\n"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const size_t sep_len = sizeof FUZZ_SEPARATOR - 1;
    const uint8_t *sep = memmem(data, size, FUZZ_SEPARATOR, sep_len);
    size_t model_size = sep ? (size_t)(sep - data) : size;
    const uint8_t *tok_data = sep ? sep + sep_len : data + size;
    size_t tok_size = (size_t)(data + size - tok_data);
    const char *model_path = fuzz_write_file(0, "model.bin", data, model_size);
    const char *tok_path = fuzz_write_file(1, "tokenizer.bin", tok_data, tok_size);
    es_error err;
    es_model *m = es_model_load(model_path, tok_path, &err);
    if (m) {
        /* a GGUF checkpoint with this tokenizer file loads too */
        if (m->has_gguf) fuzz_exercise_model(m, m->gguf.map, m->gguf.size);
        else fuzz_exercise_model(m, m->map, m->map_size);
        es_model_free(m);
    } else {
        fuzz_check_message(&err, model_path, tok_path);
    }
    es_tokenizer *tok = es_tokenizer_from_llama2c(tok_path, 0, &err);
    if (!tok) {
        fuzz_check_message(&err, tok_path, NULL);
        return 0;
    }
    fuzz_exercise_tokenizer(tok);
    es_tokenizer_free(tok);
    return 0;
}
