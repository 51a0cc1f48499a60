/* libFuzzer target for the GGUF reader (see tests/fuzz/README.md). Parses
 * the input; on success walks everything the parser returned (every string,
 * array element and tensor byte range is touched, so AddressSanitizer sees
 * any pointer that strays outside the input) and calls every lookup and
 * getter; on failure checks that the message is one line naming the input.
 * Broken invariants abort, which libFuzzer reports as a crash. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/gguf.h"

static volatile uint8_t sink_byte; /* keeps the touching reads alive */

static void touch(const void *p, uint64_t n) {
    const uint8_t *b = p;
    if (n == 0) return;
    sink_byte = (uint8_t)(b[0] ^ b[n - 1]);
}

static void check_message(const es_error *err) {
    static const char prefix[] = "fuzz.gguf: ";
    if (strncmp(err->msg, prefix, sizeof prefix - 1) != 0 || err->msg[sizeof prefix - 1] == '\0' ||
        strchr(err->msg, '\n'))
        abort();
}

/* Key or tensor name as a C string, or NULL if it holds a NUL byte. */
static char *c_string(gguf_str s) {
    if (memchr(s.ptr, '\0', (size_t)s.len)) return NULL;
    char *c = malloc((size_t)s.len + 1);
    if (!c) abort();
    memcpy(c, s.ptr, (size_t)s.len);
    c[s.len] = '\0';
    return c;
}

static uint64_t elem_bytes(gguf_type t) {
    switch (t) {
    case GGUF_TYPE_UINT8: case GGUF_TYPE_INT8: case GGUF_TYPE_BOOL: return 1;
    case GGUF_TYPE_UINT16: case GGUF_TYPE_INT16: return 2;
    case GGUF_TYPE_UINT32: case GGUF_TYPE_INT32: case GGUF_TYPE_FLOAT32: return 4;
    case GGUF_TYPE_UINT64: case GGUF_TYPE_INT64: case GGUF_TYPE_FLOAT64: return 8;
    default: abort(); /* the parser let an unknown element type through */
    }
}

static void exercise_kv(const gguf_file *f, const gguf_kv *kv) {
    es_error err;
    uint32_t u32;
    int64_t i64;
    float f32;
    int b;
    gguf_str str;
    const gguf_kv *arr;
    char *key = c_string(kv->key);
    touch(kv->key.ptr, kv->key.len);
    if (kv->type == GGUF_TYPE_STRING) touch(kv->v.str.ptr, kv->v.str.len);
    if (kv->type == GGUF_TYPE_ARRAY && kv->v.arr.type == GGUF_TYPE_STRING)
        for (uint64_t i = 0; i < kv->v.arr.n; i++) touch(kv->v.arr.strs[i].ptr, kv->v.arr.strs[i].len);
    if (!key) return;
    /* Keys are unique, so the lookup must find this very entry. */
    if (gguf_find_kv(f, key) != kv) abort();
    if (gguf_get_u32(f, key, &u32, &err) < 0) check_message(&err);
    if (gguf_get_i64(f, key, &i64, &err) < 0) check_message(&err);
    if (gguf_get_f32(f, key, &f32, &err) < 0) check_message(&err);
    if (gguf_get_bool(f, key, &b, &err) < 0) check_message(&err);
    if (gguf_get_str(f, key, &str, &err) < 0) check_message(&err);
    if (kv->type == GGUF_TYPE_ARRAY) {
        if (gguf_get_arr(f, key, kv->v.arr.type, &arr, &err) != 0 || arr != kv) abort();
        if (kv->v.arr.type != GGUF_TYPE_STRING)
            touch(kv->v.arr.data, kv->v.arr.n * elem_bytes(kv->v.arr.type));
    }
    free(key);
}

static void exercise_tensor(const gguf_file *f, const gguf_tensor_info *t) {
    touch(t->name.ptr, t->name.len);
    touch(t->data, t->n_bytes);
    if ((const uint8_t *)t->data < f->map || (const uint8_t *)t->data + t->n_bytes > f->map + f->size)
        abort();
    char *name = c_string(t->name);
    if (name && gguf_find_tensor(f, name) != t) abort();
    free(name);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gguf_file f;
    es_error err;
    if (gguf_parse(&f, data, size, "fuzz.gguf", &err) != 0) {
        check_message(&err);
        return 0;
    }
    for (uint64_t i = 0; i < f.n_kv; i++) exercise_kv(&f, &f.kv[i]);
    for (uint64_t i = 0; i < f.n_tensors; i++) exercise_tensor(&f, &f.tensors[i]);
    gguf_close(&f);
    return 0;
}
