/* libFuzzer target for the Hugging Face tokenizer.json loader (see
 * README.md): es_tokenizer_from_json on the input (cJSON parse, model.vocab,
 * added_tokens, merges, pre_tokenizer and normalizer checks). A tokenizer
 * that loads is exercised (encoding fixed strings, decoding every id); a
 * failure must leave one line naming the file. */
#include "fuzz_common.h"

#include "tokenizer/tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write_file(0, "tokenizer.json", data, size);
    es_error err;
    es_tokenizer *tok = es_tokenizer_from_json(path, &err);
    if (!tok) {
        fuzz_check_message(&err, path, NULL);
        return 0;
    }
    fuzz_exercise_tokenizer(tok);
    es_tokenizer_free(tok);
    return 0;
}
