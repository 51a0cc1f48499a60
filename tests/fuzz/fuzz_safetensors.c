/* libFuzzer target for the safetensors reader (see tests/fuzz/README.md).
 * Parses the input as one .safetensors file image; on success touches every
 * tensor's byte range (AddressSanitizer sees any range outside the input),
 * checks that the ranges tile the data and that every lookup finds its
 * tensor; on failure checks that the message is one line naming the input.
 * Broken invariants abort, which libFuzzer reports as a crash. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/safetensors.h"

static volatile uint8_t sink_byte; /* keeps the touching reads alive */

static void check_message(const es_error *err) {
    static const char prefix[] = "fuzz.safetensors: ";
    if (strncmp(err->msg, prefix, sizeof prefix - 1) != 0 || err->msg[sizeof prefix - 1] == '\0' ||
        strchr(err->msg, '\n'))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    es_error err;
    es_safetensors *st = es_st_new();
    if (!st) abort();
    if (es_st_add_buffer(st, data, size, "fuzz.safetensors", &err) != 0) {
        check_message(&err);
        es_st_free(st);
        return 0;
    }
    size_t total = 0;
    for (int i = 0; i < es_st_count(st); i++) {
        const es_st_tensor *t = es_st_at(st, i);
        const uint8_t *b = t->data;
        if (b < data || b + t->n_bytes > data + size) abort();
        if (t->n_bytes) sink_byte = (uint8_t)(b[0] ^ b[t->n_bytes - 1]);
        if (es_st_find(st, t->name) != t || es_st_dtype_size(t->dtype) == 0) abort();
        total += t->n_bytes;
    }
    /* tiling: the tensors' bytes add up to everything after the header */
    uint64_t header = 0;
    for (int i = 7; i >= 0; i--) header = header << 8 | data[i];
    if (total != size - 8 - header) abort();
    (void)es_st_metadata(st, "format");
    es_st_free(st);
    return 0;
}
