/* libFuzzer target for the whole GGUF model loader (see README.md):
 * es_model_load on the input as a GGUF file, which runs the GGUF parser,
 * the llama config and tensor checks and the tokenizer reader of the
 * tokenizer.ggml.* keys (src/tokenizer/tokenizer_gguf.c). A model that
 * loads has its tensors checked against the file's bytes, its info
 * printed, one short forward pass run and its tokenizer exercised; a GGUF
 * that is no model (vocabulary only, say) is loaded as a tokenizer alone.
 * Every failure must leave one line naming the file. */
#include "fuzz_common.h"

#include "model/gguf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write_file(0, "model.gguf", data, size);
    es_error err;
    es_model *m = es_model_load(path, NULL, &err);
    if (m) {
        if (!m->has_gguf) abort(); /* no tokenizer given: only a GGUF can load */
        fuzz_exercise_model(m, m->gguf.map, m->gguf.size);
        es_model_free(m);
        return 0;
    }
    fuzz_check_message(&err, path, NULL);
    if (!gguf_has_magic(data, size)) return 0; /* the llama2.c path: fuzz_llama2c */
    es_tokenizer *tok = es_tokenizer_load(path, &err);
    if (!tok) {
        fuzz_check_message(&err, path, NULL);
        return 0;
    }
    fuzz_exercise_tokenizer(tok);
    es_tokenizer_free(tok);
    return 0;
}
