/* Tests of the GGUF reader and writer. Files are built with the writer and
 * checked two ways: byte by byte against the format (header, first key/value)
 * and through the reader. Malformed files are a table of mutations of one
 * small valid file, each with the message it must produce; every prefix of
 * that file must fail cleanly. The shared stories260K model is checked
 * against facts from its README and against the same weights and
 * vocabulary in llama2.c format, which were made independently of this code. */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "model/gguf.h"
#include "model/gguf_write.h"
#include "tensor/tensor.h"
#include "test.h"

/* ----------------------------------------------------------- helpers -- */

static uint32_t rd32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t rd64(const uint8_t *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }
/* Offset just after the length-prefixed string s (a key or tensor name):
 * the value type of a key/value, the n_dims of a tensor info. */
static size_t after_name(const uint8_t *b, size_t size, const char *s) {
    size_t n = strlen(s);
    for (size_t i = 0; i + 8 + n <= size; i++)
        if (rd64(b + i) == n && memcmp(b + i + 8, s, n) == 0) return i + 8 + n;
    fprintf(stderr, "test_gguf: '%s' not found in the base file\n", s);
    abort();
}

static void fill_bytes(uint8_t *p, size_t n, uint32_t seed) {
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        p[i] = (uint8_t)(seed >> 24);
    }
}

static int msg_ok(const es_error *err, const char *name, const char *expect) {
    size_t n = strlen(name);
    return strncmp(err->msg, name, n) == 0 && strncmp(err->msg + n, ": ", 2) == 0 &&
           !strchr(err->msg, '\n') && strstr(err->msg, expect) != NULL;
}

/* The small valid file that the malformed cases mutate. */
static int build_base(uint8_t **buf, size_t *size) {
    gguf_writer *w = gguf_writer_new();
    uint32_t arr[3] = {1, 2, 3};
    const char *strs[2] = {"a", "bc"};
    float a[8];
    uint8_t b[68];
    es_error err;
    for (int i = 0; i < 8; i++) a[i] = (float)i - 3.5f;
    fill_bytes(b, sizeof b, 7);
    int rc = !w || gguf_writer_set_str(w, "general.architecture", "llama") ||
             gguf_writer_set_u32(w, "general.alignment", 32) ||
             gguf_writer_set_u32(w, "test.u32", 7) || gguf_writer_set_i32(w, "test.i32", -7) ||
             gguf_writer_set_bool(w, "test.bool", 1) ||
             gguf_writer_set_arr(w, "test.arr", GGUF_TYPE_UINT32, arr, 3) ||
             gguf_writer_set_arr_str(w, "test.strs", strs, NULL, 2) ||
             gguf_writer_add_tensor(w, "tensor.a", ES_F32, 2, (uint64_t[]){4, 2}, a, sizeof a) ||
             gguf_writer_add_tensor(w, "tensor.b", ES_Q8_0, 2, (uint64_t[]){32, 2}, b, sizeof b) ||
             gguf_writer_to_buffer(w, buf, size, &err);
    gguf_writer_free(w);
    return rc ? -1 : 0;
}

/* ------------------------------------------------------- round trips -- */

static gguf_kv make_kv(const char *key, gguf_type type) {
    gguf_kv kv;
    memset(&kv, 0, sizeof kv);
    kv.key.ptr = key;
    kv.key.len = strlen(key);
    kv.type = type;
    return kv;
}

/* Scalars the typed setters cannot make go through gguf_writer_copy_kv. */
static int add_wide_scalars(gguf_writer *w) {
    gguf_kv kv[7] = {make_kv("s.u8", GGUF_TYPE_UINT8),   make_kv("s.i8", GGUF_TYPE_INT8),
                     make_kv("s.u16", GGUF_TYPE_UINT16), make_kv("s.i16", GGUF_TYPE_INT16),
                     make_kv("s.u64", GGUF_TYPE_UINT64), make_kv("s.i64", GGUF_TYPE_INT64),
                     make_kv("s.f64", GGUF_TYPE_FLOAT64)};
    kv[0].v.u64 = 200;
    kv[1].v.i64 = -100;
    kv[2].v.u64 = 60000;
    kv[3].v.i64 = -30000;
    kv[4].v.u64 = (1ull << 63) + 5;
    kv[5].v.i64 = -(1ll << 62) - 3;
    kv[6].v.f64 = -1.25e300;
    for (int i = 0; i < 7; i++)
        if (gguf_writer_copy_kv(w, &kv[i])) return -1;
    return 0;
}

static const char *const rt_strs[4] = {"alpha", "", "nul\0in", "\303\274nic\303\266de"};
static const size_t rt_lens[4] = {5, 0, 6, 9};
static const int16_t rt_i16[2] = {-1, 2};
static const double rt_f64[3] = {1.5, -2.0, 1e-300};
static const uint8_t rt_bools[3] = {0, 1, 1};

static int add_arrays(gguf_writer *w) {
    uint8_t u8[2] = {0, 255};
    return gguf_writer_set_arr(w, "a.u8", GGUF_TYPE_UINT8, u8, 2) ||
           gguf_writer_set_arr(w, "a.i16", GGUF_TYPE_INT16, rt_i16, 2) ||
           gguf_writer_set_arr(w, "a.f64", GGUF_TYPE_FLOAT64, rt_f64, 3) ||
           gguf_writer_set_arr(w, "a.bool", GGUF_TYPE_BOOL, rt_bools, 3) ||
           gguf_writer_set_arr(w, "a.empty", GGUF_TYPE_UINT32, NULL, 0) ||
           gguf_writer_set_arr_str(w, "a.strs", rt_strs, rt_lens, 4)
               ? -1 : 0;
}

typedef struct rt_tensor {
    const char *name;
    uint32_t type, n_dims;
    uint64_t ne[4];
    size_t n_bytes; /* from the block layouts in tensor.h, worked by hand */
} rt_tensor;

static const rt_tensor rt_tensors[5] = {
    {"t.f32", ES_F32, 2, {3, 2, 1, 1}, 24},
    {"t.f16", ES_F16, 1, {5, 1, 1, 1}, 10},
    {"t.q8_0", ES_Q8_0, 2, {64, 3, 1, 1}, 2 * 34 * 3},
    {"t.q4_0", ES_Q4_0, 3, {32, 2, 2, 1}, 18 * 4},
    {"t.bf16", ES_BF16, 4, {2, 2, 2, 2}, 32},
};

static void check_first_bytes(const uint8_t *b, size_t size) {
    CHECK(size > 64);
    CHECK(memcmp(b, "GGUF", 4) == 0);
    CHECK_INT(rd32(b + 4), 3);
    CHECK_INT(rd64(b + 8), 5);  /* tensors */
    CHECK_INT(rd64(b + 16), 21); /* key/values */
    CHECK_INT(rd64(b + 24), 20);
    CHECK(memcmp(b + 32, "general.architecture", 20) == 0);
    CHECK_INT(rd32(b + 52), GGUF_TYPE_STRING);
    CHECK_INT(rd64(b + 56), 5);
    CHECK(memcmp(b + 64, "llama", 5) == 0);
}

/* The key/value named key, if it has type type (else NULL). */
static const gguf_kv *kv_of(const gguf_file *f, const char *key, gguf_type type) {
    const gguf_kv *kv = gguf_find_kv(f, key);
    return kv && kv->type == type ? kv : NULL;
}

static void check_scalars(const gguf_file *f) {
    const gguf_kv *kv;
    CHECK((kv = kv_of(f, "s.u8", GGUF_TYPE_UINT8)) && kv->v.u64 == 200);
    CHECK((kv = kv_of(f, "s.i8", GGUF_TYPE_INT8)) && kv->v.i64 == -100);
    CHECK((kv = kv_of(f, "s.u16", GGUF_TYPE_UINT16)) && kv->v.u64 == 60000);
    CHECK((kv = kv_of(f, "s.i16", GGUF_TYPE_INT16)) && kv->v.i64 == -30000);
    CHECK((kv = kv_of(f, "s.u64", GGUF_TYPE_UINT64)) && kv->v.u64 == (1ull << 63) + 5);
    CHECK((kv = kv_of(f, "s.i64", GGUF_TYPE_INT64)) && kv->v.i64 == -(1ll << 62) - 3);
    CHECK((kv = kv_of(f, "s.f64", GGUF_TYPE_FLOAT64)) && kv->v.f64 == -1.25e300);
    CHECK((kv = kv_of(f, "s.u32", GGUF_TYPE_UINT32)) && kv->v.u64 == 4000000000u);
    CHECK((kv = kv_of(f, "s.i32", GGUF_TYPE_INT32)) && kv->v.i64 == -2000000000);
    CHECK((kv = kv_of(f, "s.f32", GGUF_TYPE_FLOAT32)) && kv->v.f64 == 3.5);
    CHECK((kv = kv_of(f, "s.true", GGUF_TYPE_BOOL)) && kv->v.u64 == 1);
    CHECK((kv = kv_of(f, "s.false", GGUF_TYPE_BOOL)) && kv->v.u64 == 0);
    CHECK((kv = kv_of(f, "s.str", GGUF_TYPE_STRING)) && gguf_str_eq(kv->v.str, "hello"));
    CHECK((kv = kv_of(f, "s.empty", GGUF_TYPE_STRING)) && kv->v.str.len == 0);
}

static void check_arrays(const gguf_file *f) {
    const gguf_kv *kv;
    CHECK((kv = gguf_find_kv(f, "a.u8")) && kv->v.arr.type == GGUF_TYPE_UINT8 && kv->v.arr.n == 2 &&
          kv->v.arr.data[0] == 0 && kv->v.arr.data[1] == 255 && !kv->v.arr.strs);
    CHECK((kv = gguf_find_kv(f, "a.i16")) && kv->v.arr.type == GGUF_TYPE_INT16 &&
          kv->v.arr.n == 2 && memcmp(kv->v.arr.data, rt_i16, 4) == 0);
    CHECK((kv = gguf_find_kv(f, "a.f64")) && kv->v.arr.type == GGUF_TYPE_FLOAT64 &&
          kv->v.arr.n == 3 && memcmp(kv->v.arr.data, rt_f64, 24) == 0);
    CHECK((kv = gguf_find_kv(f, "a.bool")) && kv->v.arr.type == GGUF_TYPE_BOOL &&
          kv->v.arr.n == 3 && memcmp(kv->v.arr.data, rt_bools, 3) == 0);
    CHECK((kv = kv_of(f, "a.empty", GGUF_TYPE_ARRAY)) && kv->v.arr.n == 0);
    CHECK((kv = gguf_find_kv(f, "a.strs")) && kv->v.arr.type == GGUF_TYPE_STRING &&
          kv->v.arr.n == 4);
    for (int i = 0; kv && kv->v.arr.strs && i < 4; i++)
        CHECKF(kv->v.arr.strs[i].len == rt_lens[i] &&
               memcmp(kv->v.arr.strs[i].ptr, rt_strs[i], rt_lens[i]) == 0, "string %d", i);
}

static void check_tensors(const gguf_file *f, uint8_t data[5][256], uint64_t alignment) {
    CHECK_INT(f->n_tensors, 5);
    CHECK_INT(f->data_offset % alignment, 0);
    for (int i = 0; i < 5 && i < (int)f->n_tensors; i++) {
        const rt_tensor *want = &rt_tensors[i];
        const gguf_tensor_info *t = &f->tensors[i];
        CHECK(gguf_find_tensor(f, want->name) == t);
        CHECK(t->type == want->type && t->n_dims == want->n_dims);
        CHECK(memcmp(t->ne, want->ne, sizeof t->ne) == 0);
        CHECK_INT(t->n_bytes, want->n_bytes);
        CHECK_INT(t->n_elements, want->ne[0] * want->ne[1] * want->ne[2] * want->ne[3]);
        CHECK_INT(t->offset % alignment, 0);
        CHECK_INT(((const uint8_t *)t->data - f->map) % alignment, 0);
        CHECK(memcmp(t->data, data[i], want->n_bytes) == 0);
    }
    /* No padding after the last tensor. */
    if (f->n_tensors == 5)
        CHECK_INT(f->size, f->data_offset + f->tensors[4].offset + f->tensors[4].n_bytes);
}

static gguf_writer *build_round_trip(uint8_t data[5][256]) {
    gguf_writer *w = gguf_writer_new();
    int rc = !w || gguf_writer_set_str(w, "general.architecture", "llama") ||
             add_wide_scalars(w) || gguf_writer_set_u32(w, "s.u32", 4000000000u) ||
             gguf_writer_set_i32(w, "s.i32", -2000000000) ||
             gguf_writer_set_f32(w, "s.f32", 3.5f) ||
             gguf_writer_set_bool(w, "s.true", 7) || gguf_writer_set_bool(w, "s.false", 0) ||
             gguf_writer_set_str(w, "s.str", "hello") || gguf_writer_set_str(w, "s.empty", "") ||
             add_arrays(w);
    for (int i = 0; i < 5 && !rc; i++) {
        fill_bytes(data[i], rt_tensors[i].n_bytes, (uint32_t)i + 1);
        rc = gguf_writer_add_tensor(w, rt_tensors[i].name, rt_tensors[i].type, rt_tensors[i].n_dims,
                                    rt_tensors[i].ne, data[i], rt_tensors[i].n_bytes);
    }
    if (rc) {
        gguf_writer_free(w);
        return NULL;
    }
    return w;
}

static void test_round_trip(void) {
    TEST("gguf: round trip of every value type, arrays and tensors") {
        uint8_t data[5][256];
        gguf_writer *w = build_round_trip(data);
        uint8_t *buf = NULL;
        size_t size = 0;
        gguf_file f;
        es_error err;
        CHECK(w != NULL);
        CHECK(w && gguf_writer_to_buffer(w, &buf, &size, &err) == 0);
        if (buf) {
            check_first_bytes(buf, size);
            CHECKF(gguf_parse(&f, buf, size, "rt.gguf", &err) == 0, "%s", err.msg);
            CHECK_INT(f.version, 3);
            CHECK_INT(f.alignment, 32);
            CHECK(f.n_kv == 21 && gguf_str_eq(f.kv[0].key, "general.architecture") &&
                  gguf_str_eq(f.kv[1].key, "s.u8") && gguf_str_eq(f.kv[20].key, "a.strs"));
            check_scalars(&f);
            check_arrays(&f);
            check_tensors(&f, data, 32);
            gguf_close(&f);
        }
        free(buf);
        /* With general.alignment 64 the writer lays out to 64 too. */
        buf = NULL;
        CHECK(w && gguf_writer_set_u32(w, "general.alignment", 64) == 0);
        CHECK(w && gguf_writer_to_buffer(w, &buf, &size, &err) == 0);
        if (buf && gguf_parse(&f, buf, size, "rt64.gguf", &err) == 0) {
            CHECK_INT(f.alignment, 64);
            check_tensors(&f, data, 64);
            gguf_close(&f);
        } else {
            CHECKF(0, "alignment 64: %s", err.msg);
        }
        free(buf);
        gguf_writer_free(w);
    }
}

static void test_writer_rules(void) {
    TEST("gguf: writer replaces a key set twice and refuses bad tensors and arrays") {
        gguf_writer *w = gguf_writer_new();
        float x[32] = {0};
        uint8_t bad_bools[2] = {0, 2};
        uint8_t *buf = NULL;
        size_t size;
        gguf_file f;
        es_error err;
        CHECK(gguf_writer_set_u32(w, "k", 1) == 0 && gguf_writer_set_str(w, "other", "x") == 0);
        CHECK(gguf_writer_set_u32(w, "k", 2) == 0);
        CHECK(gguf_writer_add_tensor(w, "t", ES_F32, 1, (uint64_t[]){32}, x, sizeof x) == 0);
        CHECK(gguf_writer_add_tensor(w, "t", ES_F32, 1, (uint64_t[]){32}, x, sizeof x) == -1);
        CHECK(gguf_writer_add_tensor(w, "u", ES_F32, 1, (uint64_t[]){32}, x, 64) == -1);
        CHECK(gguf_writer_add_tensor(w, "u", ES_Q8_0, 1, (uint64_t[]){33}, x, 34) == -1);
        CHECK(gguf_writer_add_tensor(w, "u", ES_F32, 5, (uint64_t[]){1, 1, 1, 1, 1}, x, 4) == -1);
        CHECK(gguf_writer_add_tensor(w, "u", 99, 1, (uint64_t[]){1}, x, 4) == -1);
        CHECK(gguf_writer_set_arr(w, "a", GGUF_TYPE_STRING, x, 1) == -1);
        CHECK(gguf_writer_set_arr(w, "a", GGUF_TYPE_BOOL, bad_bools, 2) == -1);
        CHECK(gguf_writer_to_buffer(w, &buf, &size, &err) == 0);
        if (buf && gguf_parse(&f, buf, size, "w.gguf", &err) == 0) {
            CHECK_INT(f.n_kv, 2);
            CHECK(gguf_str_eq(f.kv[0].key, "k") && f.kv[0].v.u64 == 2);
            CHECK_INT(f.n_tensors, 1);
            gguf_close(&f);
        } else {
            CHECKF(0, "%s", err.msg);
        }
        free(buf);
        buf = NULL;
        CHECK(gguf_writer_set_u32(w, "general.alignment", 48) == 0);
        CHECK(gguf_writer_to_buffer(w, &buf, &size, &err) == -1 && strstr(err.msg, "alignment"));
        free(buf);
        gguf_writer_free(w);
    }
}

static void test_vocab_only_and_v2(void) {
    TEST("gguf: vocab-only files (with or without padding) and version 2 parse") {
        gguf_writer *w = gguf_writer_new();
        const char *toks[3] = {"<s>", "</s>", "a"};
        uint8_t *buf = NULL;
        size_t size = 0;
        gguf_file f;
        es_error err;
        CHECK(gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, NULL, 3) == 0);
        CHECK(gguf_writer_to_buffer(w, &buf, &size, &err) == 0);
        CHECK_INT(size % 32, 0);
        size_t unpadded = 24 + 8 + 21 + 4 + 4 + 8 + (8 + 3) + (8 + 4) + (8 + 1);
        CHECK(unpadded < size);
        for (int pass = 0; buf && pass < 3; pass++) {
            if (pass == 2) buf[4] = 2; /* the version's low byte */
            size_t n = pass == 1 ? unpadded : size;
            CHECKF(gguf_parse(&f, buf, n, "v.gguf", &err) == 0, "%s", err.msg);
            CHECK(f.n_tensors == 0 && f.n_kv == 1 && f.version == (pass == 2 ? 2u : 3u));
            gguf_close(&f);
        }
        free(buf);
        gguf_writer_free(w);
    }
}

/* ----------------------------------------------------------- getters -- */

static void test_getters(void) {
    TEST("gguf: typed getters: compatible types, range, wrong type, absent") {
        gguf_writer *w = gguf_writer_new();
        gguf_kv u64 = make_kv("u64.big", GGUF_TYPE_UINT64), u8 = make_kv("u8", GGUF_TYPE_UINT8);
        gguf_kv f64 = make_kv("f64.huge", GGUF_TYPE_FLOAT64);
        gguf_kv f64s = make_kv("f64.small", GGUF_TYPE_FLOAT64);
        uint32_t arr[2] = {1, 2};
        uint8_t *buf = NULL;
        size_t size = 0;
        gguf_file f;
        es_error err;
        u64.v.u64 = 1ull << 63;
        u8.v.u64 = 200;
        f64.v.f64 = 1e300;
        f64s.v.f64 = 0.25;
        CHECK(gguf_writer_copy_kv(w, &u64) == 0 && gguf_writer_copy_kv(w, &u8) == 0 &&
              gguf_writer_copy_kv(w, &f64) == 0 && gguf_writer_copy_kv(w, &f64s) == 0);
        CHECK(gguf_writer_set_i32(w, "neg", -1) == 0 && gguf_writer_set_i32(w, "pos", 5) == 0);
        CHECK(gguf_writer_set_f32(w, "f", 1.5f) == 0 && gguf_writer_set_bool(w, "b", 1) == 0);
        CHECK(gguf_writer_set_str(w, "s", "text") == 0);
        CHECK(gguf_writer_set_arr(w, "arr", GGUF_TYPE_UINT32, arr, 2) == 0);
        CHECK(gguf_writer_to_buffer(w, &buf, &size, &err) == 0);
        gguf_writer_free(w);
        if (!buf || gguf_parse(&f, buf, size, "g.gguf", &err) != 0) {
            CHECKF(0, "%s", err.msg);
            free(buf);
            continue;
        }
        uint32_t u = 77;
        int64_t i = 0;
        float x = 0;
        int b = 0;
        gguf_str s;
        const gguf_kv *a;
        CHECK(gguf_get_u32(&f, "u8", &u, &err) == 0 && u == 200);
        CHECK(gguf_get_u32(&f, "pos", &u, &err) == 0 && u == 5);
        CHECK(gguf_get_u32(&f, "neg", &u, &err) == -1 && u == 5);
        CHECK_STR(err.msg,
                  "g.gguf: key neg: value -1 is out of range for a 32-bit unsigned integer");
        CHECK(gguf_get_u32(&f, "u64.big", &u, &err) == -1 &&
              strstr(err.msg, "9223372036854775808 is out of range"));
        CHECK(gguf_get_u32(&f, "s", &u, &err) == -1);
        CHECK_STR(err.msg, "g.gguf: key s: expected an integer, found STRING");
        CHECK(gguf_get_u32(&f, "absent", &u, &err) == 1 && u == 5);
        CHECK(gguf_get_i64(&f, "neg", &i, &err) == 0 && i == -1);
        CHECK(gguf_get_i64(&f, "u8", &i, &err) == 0 && i == 200);
        CHECK(gguf_get_i64(&f, "u64.big", &i, &err) == -1 && strstr(err.msg, "64-bit signed"));
        CHECK(gguf_get_i64(&f, "f", &i, &err) == -1 && strstr(err.msg, "found FLOAT32"));
        CHECK(gguf_get_f32(&f, "f", &x, &err) == 0 && x == 1.5f);
        CHECK(gguf_get_f32(&f, "f64.small", &x, &err) == 0 && x == 0.25f);
        CHECK(gguf_get_f32(&f, "f64.huge", &x, &err) == -1 && strstr(err.msg, "out of range"));
        CHECK(gguf_get_f32(&f, "pos", &x, &err) == -1 &&
              strstr(err.msg, "expected a float, found INT32"));
        CHECK(gguf_get_bool(&f, "b", &b, &err) == 0 && b == 1);
        CHECK(gguf_get_bool(&f, "u8", &b, &err) == -1 &&
              strstr(err.msg, "expected a bool, found UINT8"));
        CHECK(gguf_get_str(&f, "s", &s, &err) == 0 && gguf_str_eq(s, "text"));
        CHECK(gguf_get_str(&f, "arr", &s, &err) == -1);
        CHECK_STR(err.msg, "g.gguf: key arr: expected a string, found an array of UINT32");
        CHECK(gguf_get_arr(&f, "arr", GGUF_TYPE_UINT32, &a, &err) == 0 && a->v.arr.n == 2);
        CHECK(gguf_get_arr(&f, "arr", GGUF_TYPE_INT32, &a, &err) == -1);
        CHECK_STR(err.msg, "g.gguf: key arr: expected an array of INT32, found an array of UINT32");
        CHECK(gguf_get_arr(&f, "s", GGUF_TYPE_STRING, &a, &err) == -1 &&
              strstr(err.msg, "found STRING"));
        CHECK(gguf_get_arr(&f, "absent", GGUF_TYPE_STRING, &a, &err) == 1);
        CHECK(gguf_find_kv(&f, "absent") == NULL && gguf_find_tensor(&f, "absent") == NULL);
        CHECK_STR(gguf_type_name(GGUF_TYPE_FLOAT64), "FLOAT64");
        CHECK_STR(gguf_type_name((gguf_type)13), "?");
        gguf_close(&f);
        free(buf);
    }
}

/* --------------------------------------------------------- malformed -- */

/* One edit of the base file: width (1, 4 or 8) bytes of value, little-endian,
 * at delta bytes from the anchor: just after the key or tensor name anchor
 * (see after_name), or from the file's start if anchor is NULL. */
typedef struct edit {
    const char *anchor;
    int delta;
    int width; /* 0: no edit */
    uint64_t value;
} edit;

enum { KEEP_ALL = 0, KEEP_ALL_BUT_ONE = -1, KEEP_NONE = -2 }; /* or keep that many bytes */

typedef struct bad_case {
    const char *what;
    edit edits[2];
    long keep;
    const char *expect;
} bad_case;

/* Offsets after a tensor name: n_dims +0, ne[0] +4, ne[1] +12, type +20, offset +24. */
#define TA "tensor.a"
#define TB "tensor.b"
#define ALIGN "general.alignment"
#define E1(anchor, delta, width, value) {{anchor, delta, width, value}, {0}}

static const bad_case bad_cases[] = {
    {"bad magic", E1(NULL, 0, 1, 'X'), 0, "bad.gguf: not a GGUF file (bad magic)"},
    {"version 1", E1(NULL, 4, 4, 1), 0, "bad.gguf: unsupported GGUF version 1"},
    {"version 4", E1(NULL, 4, 4, 4), 0, "bad.gguf: unsupported GGUF version 4"},
    {"byte-swapped magic", E1(NULL, 0, 4, 0x47475546), 0, "big-endian GGUF not supported"},
    {"byte-swapped version", E1(NULL, 4, 4, 0x03000000), 0, "big-endian GGUF not supported"},
    {"huge n_kv", E1(NULL, 16, 8, 1ull << 60), 0,
     "key/value count 1152921504606846976 runs past the end of the file"},
    {"huge n_tensors", E1(NULL, 8, 8, 1ull << 60), 0,
     "tensor count 1152921504606846976 runs past the end of the file"},
    {"key length past EOF", E1(NULL, 24, 8, 1ull << 40), 0,
     "truncated: key/value 0 runs past the end of the file"},
    {"unknown value type", E1("test.u32", 0, 4, 13), 0,
     "key/value 2 (test.u32): unknown value type 13"},
    {"bool value 2", E1("test.bool", 4, 1, 2), 0,
     "key/value 4 (test.bool): bool value 2 is not 0 or 1"},
    {"nested array", E1("test.arr", 4, 4, GGUF_TYPE_ARRAY), 0,
     "key/value 5 (test.arr): arrays of arrays are not supported"},
    {"unknown element type", E1("test.arr", 4, 4, 13), 0,
     "key/value 5 (test.arr): unknown array element type 13"},
    {"array count past EOF", E1("test.arr", 8, 8, 1ull << 40), 0,
     "key/value 5 (test.arr): array count 1099511627776 runs past the end of the file"},
    {"string array count past EOF", E1("test.strs", 8, 8, 1ull << 40), 0,
     "key/value 6 (test.strs): array count 1099511627776 runs past the end of the file"},
    /* The second string's length: after type, element type, count and "a". */
    {"string in an array past EOF", E1("test.strs", 4 + 4 + 8 + 9, 8, 1ull << 40), 0,
     "truncated: key/value 6 (test.strs) runs past the end of the file"},
    {"n_dims 0", E1(TA, 0, 4, 0), 0, "tensor 'tensor.a': n_dims 0 is not in 1..4"},
    {"n_dims 5", E1(TA, 0, 4, 5), 0, "tensor 'tensor.a': n_dims 5 is not in 1..4"},
    {"dimension 0", E1(TA, 12, 8, 0), 0, "tensor 'tensor.a': dimension 1 is 0"},
    {"element count 2^64", E1(TA, 12, 8, 1ull << 62), 0,
     "tensor 'tensor.a': element count overflows"},
    {"element count 2^63", E1(TA, 12, 8, 1ull << 61), 0,
     "tensor 'tensor.a': element count overflows"},
    {"byte count 2^64", E1(TA, 4, 8, 1ull << 61), 0, "tensor 'tensor.a': byte count overflows"},
    {"unknown tensor type", E1(TA, 20, 4, 99), 0, "tensor 'tensor.a': unknown type 99"},
    {"removed tensor type 4", E1(TA, 20, 4, 4), 0, "tensor 'tensor.a': unknown type 4"},
    {"Q8_0 ne[0] 33", E1(TB, 4, 8, 33), 0,
     "tensor 'tensor.b': ne[0] = 33 is not a multiple of the Q8_0 block size 32"},
    {"misaligned offset", E1(TB, 24, 8, 33), 0,
     "tensor 'tensor.b': offset 33 is not a multiple of the alignment 32"},
    {"tensor past EOF", E1(TB, 24, 8, 4096), 0, "tensor 'tensor.b': data [offset "},
    {"tensor at offset 2^64-32", E1(TB, 24, 8, UINT64_MAX - 31), 0,
     "tensor 'tensor.b': data [offset 18446744073709551615, 68 bytes] runs past the end"},
    {"file one byte short", E1(NULL, 0, 0, 0), KEEP_ALL_BUT_ONE,
     "tensor 'tensor.b': data [offset "},
    {"tensors at the same offset", E1(TB, 24, 8, 0), 0,
     "tensors 'tensor.a' and 'tensor.b' overlap"},
    {"tensors overlapping in part", E1(TA, 4, 8, 8), 0,
     "tensors 'tensor.a' and 'tensor.b' overlap"},
    {"duplicate key", E1("test.i32", -3, 1, 'u'), 0, "bad.gguf: duplicate key 'test.u32'"},
    {"duplicate tensor name", E1(TB, -1, 1, 'a'), 0,
     "bad.gguf: duplicate tensor name 'tensor.a'"},
    {"alignment 0", E1(ALIGN, 4, 4, 0), 0, "general.alignment 0 is not a nonzero power of two"},
    {"alignment 48", E1(ALIGN, 4, 4, 48), 0, "general.alignment 48 is not a nonzero power of two"},
    {"alignment 64 misaligns tensor.b", E1(ALIGN, 4, 4, 64), 0,
     "tensor 'tensor.b': offset 32 is not a multiple of the alignment 64"},
    {"alignment of type INT32", E1(ALIGN, 0, 4, GGUF_TYPE_INT32), 0,
     "general.alignment must be UINT32, not INT32"},
    {"control character in a name", {{TA, -2, 1, '\n'}, {TA, 0, 4, 0}}, 0,
     "tensor 'tensor?a': n_dims 0"},
    {"empty buffer", E1(NULL, 0, 0, 0), KEEP_NONE,
     "truncated: the header runs past the end of the file (0 bytes)"},
    {"3 bytes of magic", E1(NULL, 0, 0, 0), 3,
     "truncated: the header runs past the end of the file (3 bytes)"},
};

/* Applies a case to a copy of base; returns an exact-size buffer (so that
 * AddressSanitizer sees any over-read) and its size. */
static uint8_t *apply_case(const bad_case *c, const uint8_t *base, size_t base_size,
                           size_t *size) {
    uint8_t *b = malloc(base_size);
    memcpy(b, base, base_size);
    for (int i = 0; i < 2; i++) {
        const edit *e = &c->edits[i];
        size_t at = e->anchor ? after_name(base, base_size, e->anchor) : 0;
        at += (size_t)(long)e->delta;
        for (int k = 0; k < e->width; k++) b[at + (size_t)k] = (uint8_t)(e->value >> 8 * k);
    }
    *size = c->keep == KEEP_ALL ? base_size : c->keep == KEEP_ALL_BUT_ONE ? base_size - 1
          : c->keep == KEEP_NONE ? 0 : (size_t)c->keep;
    uint8_t *exact = malloc(*size ? *size : 1);
    memcpy(exact, b, *size);
    free(b);
    return exact;
}

static void test_malformed(void) {
    TEST("gguf: malformed files give specific one-line messages (table)") {
        uint8_t *base = NULL;
        size_t base_size = 0;
        gguf_file f;
        es_error err;
        CHECK(build_base(&base, &base_size) == 0);
        if (!base) continue;
        CHECKF(gguf_parse(&f, base, base_size, "bad.gguf", &err) == 0, "base: %s", err.msg);
        gguf_close(&f);
        for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
            const bad_case *c = &bad_cases[i];
            size_t size;
            uint8_t *b = apply_case(c, base, base_size, &size);
            memset(&err, 0, sizeof err);
            int rc = gguf_parse(&f, b, size, "bad.gguf", &err);
            CHECKF(rc == -1, "%s: parsed", c->what);
            if (rc == 0) gguf_close(&f);
            CHECKF(msg_ok(&err, "bad.gguf", c->expect), "%s: got \"%s\", expected \"%s\"",
                   c->what, err.msg, c->expect);
            free(b);
        }
        free(base);
    }
}

static void test_truncations(void) {
    TEST("gguf: every truncation of a valid file fails cleanly") {
        uint8_t *base = NULL;
        size_t base_size = 0;
        gguf_file f;
        es_error err;
        CHECK(build_base(&base, &base_size) == 0);
        for (size_t n = 0; base && n < base_size; n++) {
            uint8_t *prefix = malloc(n ? n : 1);
            memcpy(prefix, base, n);
            int rc = gguf_parse(&f, prefix, n, "cut.gguf", &err);
            CHECKF(rc == -1, "prefix of %zu bytes parsed", n);
            if (rc == 0) gguf_close(&f);
            CHECKF(msg_ok(&err, "cut.gguf", "past the end of the file"), "prefix %zu: %s", n,
                   err.msg);
            free(prefix);
        }
        free(base);
    }
}

/* ------------------------------------------------------------- files -- */

static int count_temp_files(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));) n += strstr(e->d_name, ".tmp.") != NULL;
    if (d) closedir(d);
    return n;
}

static void test_open_errors(void) {
    TEST("gguf: gguf_open on a missing path, a directory, an empty file") {
        char path[512];
        gguf_file f;
        es_error err;
        snprintf(path, sizeof path, "%s/missing.gguf", test_tmpdir());
        CHECK(gguf_open(&f, path, &err) == -1);
        CHECKF(msg_ok(&err, path, "cannot open: ") && strstr(err.msg, strerror(ENOENT)), "%s",
               err.msg);
        CHECK(gguf_open(&f, test_tmpdir(), &err) == -1);
        CHECKF(msg_ok(&err, test_tmpdir(), "is a directory"), "%s", err.msg);
        snprintf(path, sizeof path, "%s/empty.gguf", test_tmpdir());
        FILE *fp = fopen(path, "wb");
        CHECK(fp != NULL);
        if (fp) fclose(fp);
        CHECK(gguf_open(&f, path, &err) == -1);
        CHECKF(msg_ok(&err, path, "empty file"), "%s", err.msg);
        gguf_close(&f); /* harmless on a failed open */
    }
}

static void test_write_file(void) {
    TEST("gguf: writer writes atomically, replaces, and fails cleanly") {
        char dir[512], path[600], bad[600];
        gguf_writer *w = gguf_writer_new();
        gguf_file f;
        es_error err;
        float x[4] = {1, 2, 3, 4};
        snprintf(dir, sizeof dir, "%s/writes", test_tmpdir());
        CHECK(mkdir(dir, 0755) == 0);
        snprintf(path, sizeof path, "%s/model.gguf", dir);
        CHECK(gguf_writer_set_u32(w, "n", 1) == 0);
        CHECK(gguf_writer_add_tensor(w, "x", ES_F32, 1, (uint64_t[]){4}, x, sizeof x) == 0);
        CHECKF(gguf_writer_write(w, path, &err) == 0, "%s", err.msg);
        CHECK(gguf_writer_set_u32(w, "n", 2) == 0);
        CHECKF(gguf_writer_write(w, path, &err) == 0, "%s", err.msg);
        if (gguf_open(&f, path, &err) == 0) {
            uint32_t n = 0;
            const gguf_tensor_info *t = gguf_find_tensor(&f, "x");
            CHECK(f.mapped == 1 && gguf_get_u32(&f, "n", &n, &err) == 0 && n == 2);
            CHECK(t && memcmp(t->data, x, sizeof x) == 0);
            gguf_close(&f);
        } else {
            CHECKF(0, "%s", err.msg);
        }
        snprintf(bad, sizeof bad, "%s/no/such/dir/model.gguf", dir);
        CHECK(gguf_writer_write(w, bad, &err) == -1);
        CHECKF(msg_ok(&err, bad, strerror(ENOENT)), "%s", err.msg);
        /* The rename fails (the target is a directory): the temporary must go. */
        snprintf(bad, sizeof bad, "%s/adir.gguf", dir);
        CHECK(mkdir(bad, 0755) == 0);
        CHECK(gguf_writer_write(w, bad, &err) == -1);
        CHECKF(msg_ok(&err, bad, strerror(EISDIR)), "%s", err.msg);
        CHECK_INT(count_temp_files(dir), 0);
        gguf_writer_free(w);
    }
}

/* ------------------------------------------------------- stories260K -- */

static uint8_t *read_whole(const char *path, size_t *size) {
    FILE *fp = fopen(path, "rb");
    uint8_t *buf = NULL;
    long n;
    if (fp && fseek(fp, 0, SEEK_END) == 0 && (n = ftell(fp)) > 0 && fseek(fp, 0, SEEK_SET) == 0 &&
        (buf = malloc((size_t)n)) && fread(buf, 1, (size_t)n, fp) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    if (fp) fclose(fp);
    *size = buf ? (size_t)n : 0;
    return buf;
}

/* A GGUF (SentencePiece) piece as llama2.c's tokenizer.bin writes it: the
 * word-boundary mark U+2581 becomes a space, BOS and EOS are "\n<s>\n" and
 * "\n</s>\n". */
static size_t llama2c_piece(gguf_str piece, uint64_t id, char *out, size_t cap) {
    size_t n = 0;
    if (id == 1 || id == 2) out[n++] = '\n';
    for (uint64_t i = 0; i < piece.len && n + 2 < cap; i++) {
        if (i + 2 < piece.len && memcmp(piece.ptr + i, "\xe2\x96\x81", 3) == 0) {
            out[n++] = ' ';
            i += 2;
        } else {
            out[n++] = piece.ptr[i];
        }
    }
    if (id == 1 || id == 2) out[n++] = '\n';
    return n;
}

/* tok512.bin (llama2.c format: int32 max length, then per token a float
 * score, an int32 length and the bytes) holds the same vocabulary. */
static void check_vocab_against_llama2c(const gguf_file *f, const char *tok_path) {
    const gguf_kv *toks = gguf_find_kv(f, "tokenizer.ggml.tokens");
    const gguf_kv *scores = gguf_find_kv(f, "tokenizer.ggml.scores");
    size_t size, pos = 4;
    uint8_t *tok = read_whole(tok_path, &size);
    int mismatches = 0;
    CHECK(tok != NULL && toks && scores && scores->v.arr.type == GGUF_TYPE_FLOAT32);
    for (uint64_t i = 0; tok && toks && scores && i < toks->v.arr.n && pos + 8 <= size; i++) {
        float score, want;
        char piece[256];
        uint32_t len = rd32(tok + pos + 4);
        size_t n = llama2c_piece(toks->v.arr.strs[i], i, piece, sizeof piece);
        memcpy(&score, tok + pos, 4);
        memcpy(&want, scores->v.arr.data + 4 * i, 4);
        mismatches += score != want || len != n || pos + 8 + len > size ||
                      memcmp(tok + pos + 8, piece, n) != 0;
        pos += 8 + len;
    }
    CHECK_INT(mismatches, 0);
    CHECK_INT(pos, size);
    free(tok);
}

static void check_stories_facts(const gguf_file *f) {
    gguf_str arch = {0};
    uint32_t dim = 0, hidden = 0, layers = 0, heads = 0, kv_heads = 0;
    const gguf_kv *toks = NULL;
    es_error err;
    CHECK(gguf_get_str(f, "general.architecture", &arch, &err) == 0 && gguf_str_eq(arch, "llama"));
    CHECK(gguf_get_u32(f, "llama.embedding_length", &dim, &err) == 0 && dim == 64);
    CHECK(gguf_get_u32(f, "llama.feed_forward_length", &hidden, &err) == 0 && hidden == 172);
    CHECK(gguf_get_u32(f, "llama.block_count", &layers, &err) == 0 && layers == 5);
    CHECK(gguf_get_u32(f, "llama.attention.head_count", &heads, &err) == 0 && heads == 8);
    CHECK(gguf_get_u32(f, "llama.attention.head_count_kv", &kv_heads, &err) == 0 && kv_heads == 4);
    CHECK(gguf_get_arr(f, "tokenizer.ggml.tokens", GGUF_TYPE_STRING, &toks, &err) == 0 &&
          toks->v.arr.n == 512);
    CHECK_INT(f->version, 3);
    /* token_embd, output_norm, output and 9 per layer. */
    CHECK_INT(f->n_tensors, 3 + 9 * 5);
    const gguf_tensor_info *emb = gguf_find_tensor(f, "token_embd.weight");
    CHECK(emb && emb->type == ES_F32 && emb->n_dims == 2 && emb->ne[0] == 64 && emb->ne[1] == 512);
    const gguf_tensor_info *wk = gguf_find_tensor(f, "blk.4.attn_k.weight");
    CHECK(wk && wk->ne[0] == 64 && wk->ne[1] == 4 * 64 / 8); /* KV heads x head size */
    const gguf_tensor_info *down = gguf_find_tensor(f, "blk.0.ffn_down.weight");
    CHECK(down && down->ne[0] == 172 && down->ne[1] == 64);
}

static void test_stories(void) {
    TEST("gguf: stories260K.gguf parses and agrees with its README and llama2.c twin") {
        const char *path = test_shared("models/stories260K/stories260K.gguf");
        const char *bin_path = test_shared("models/stories260K/stories260K.bin");
        const char *tok_path = test_shared("models/stories260K/tok512.bin");
        gguf_file f;
        es_error err;
        if (!path) continue;
        if (gguf_open(&f, path, &err) != 0) {
            CHECKF(0, "%s", err.msg);
            continue;
        }
        check_stories_facts(&f);
        /* The .bin holds a 28-byte header, then the embedding table. */
        size_t bin_size;
        uint8_t *bin = bin_path ? read_whole(bin_path, &bin_size) : NULL;
        const gguf_tensor_info *emb = gguf_find_tensor(&f, "token_embd.weight");
        if (bin && emb)
            CHECK(bin_size > 28 + emb->n_bytes && memcmp(bin + 28, emb->data, emb->n_bytes) == 0);
        free(bin);
        if (tok_path) check_vocab_against_llama2c(&f, tok_path);
        /* Copying every key/value reproduces them, byte for byte. */
        gguf_writer *w = gguf_writer_new();
        uint8_t *buf = NULL;
        size_t size;
        gguf_file g;
        for (uint64_t i = 0; i < f.n_kv; i++) CHECK(gguf_writer_copy_kv(w, &f.kv[i]) == 0);
        CHECK(gguf_writer_to_buffer(w, &buf, &size, &err) == 0);
        if (buf && gguf_parse(&g, buf, size, "copy.gguf", &err) == 0) {
            /* The key/values end where the first tensor info (its name's length) starts. */
            size_t kv_end = (size_t)((const uint8_t *)f.tensors[0].name.ptr - f.map) - 8;
            CHECK_INT(g.n_kv, f.n_kv);
            CHECK(size >= kv_end && memcmp(buf + 24, f.map + 24, kv_end - 24) == 0);
            gguf_close(&g);
        } else {
            CHECKF(0, "%s", err.msg);
        }
        free(buf);
        gguf_writer_free(w);
        gguf_close(&f);
    }
}

/* ------------------------------------------------------ fuzz corpus -- */

/* What the fuzz target does, in short: parse, then ask the getters for every
 * key; all messages must be one line naming the file. Returns the number of
 * bad messages, or -1 if the file did not parse. */
static int count_bad_messages(const uint8_t *bytes, size_t size) {
    gguf_file f;
    es_error err;
    if (gguf_parse(&f, bytes, size, "fz.gguf", &err) != 0) return msg_ok(&err, "fz.gguf", "") - 1;
    int bad = 0;
    for (uint64_t i = 0; i < f.n_kv; i++) {
        char key[256];
        uint32_t u;
        int b;
        gguf_str s;
        snprintf(key, sizeof key, "%.*s", (int)f.kv[i].key.len, f.kv[i].key.ptr);
        if (gguf_get_u32(&f, key, &u, &err) < 0) bad += !msg_ok(&err, "fz.gguf", "key ");
        if (gguf_get_bool(&f, key, &b, &err) < 0) bad += !msg_ok(&err, "fz.gguf", "key ");
        if (gguf_get_str(&f, key, &s, &err) < 0) bad += !msg_ok(&err, "fz.gguf", "key ");
    }
    gguf_close(&f);
    return bad;
}

/* The seeds must parse; crash_* files are what the fuzzer found (minimised):
 * they may fail to parse, but only with a clean message. */
static void test_fuzz_corpus(void) {
    TEST("gguf: the fuzz corpus: seeds parse, past crashes stay fixed") {
        DIR *d = opendir("tests/fuzz/corpus");
        int files = 0;
        if (!d) {
            test_skip("tests/fuzz/corpus not found (run from the repository root)");
            continue;
        }
        for (struct dirent *e; (e = readdir(d));) {
            char path[512];
            size_t size;
            if (e->d_name[0] == '.') continue;
            snprintf(path, sizeof path, "tests/fuzz/corpus/%s", e->d_name);
            uint8_t *bytes = read_whole(path, &size);
            int bad = bytes ? count_bad_messages(bytes, size) : -1;
            int is_crash = strncmp(e->d_name, "crash_", 6) == 0;
            CHECKF(bad == 0 || (is_crash && bad == -1), "%s: %d bad messages", e->d_name, bad);
            files++;
            free(bytes);
        }
        closedir(d);
        CHECK(files >= 5);
    }
}

void suite_gguf(void) {
    test_round_trip();
    test_writer_rules();
    test_vocab_only_and_v2();
    test_getters();
    test_malformed();
    test_truncations();
    test_open_errors();
    test_write_file();
    test_stories();
    test_fuzz_corpus();
}
