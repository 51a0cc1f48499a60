/* GGUF reader. A GGUF file is a header (magic "GGUF", version, tensor count,
 * key/value count), the key/values, the tensor infos, padding to the
 * alignment, then the tensor data. This reader memory-maps the file and
 * validates every field before anything uses it: counts against the bytes
 * left, string lengths, value types, array element counts, tensor
 * dimensions, types, offsets, sizes and overlap with the end of the file.
 * Strings point into the mapping (they are not NUL-terminated). */
#ifndef ES_MODEL_GGUF_H
#define ES_MODEL_GGUF_H

#include <stddef.h>
#include <stdint.h>

#include "entroscope.h"
#include "util/file_map.h"

typedef enum gguf_type {
    GGUF_TYPE_UINT8 = 0,
    GGUF_TYPE_INT8 = 1,
    GGUF_TYPE_UINT16 = 2,
    GGUF_TYPE_INT16 = 3,
    GGUF_TYPE_UINT32 = 4,
    GGUF_TYPE_INT32 = 5,
    GGUF_TYPE_FLOAT32 = 6,
    GGUF_TYPE_BOOL = 7,
    GGUF_TYPE_STRING = 8,
    GGUF_TYPE_ARRAY = 9,
    GGUF_TYPE_UINT64 = 10,
    GGUF_TYPE_INT64 = 11,
    GGUF_TYPE_FLOAT64 = 12,
} gguf_type;

typedef struct gguf_str {
    const char *ptr; /* into the mapping, not NUL-terminated */
    uint64_t len;
} gguf_str;

typedef struct gguf_kv {
    gguf_str key;
    gguf_type type;
    union {
        uint64_t u64;  /* any unsigned integer type, and bool */
        int64_t i64;   /* any signed integer type */
        double f64;    /* FLOAT32 and FLOAT64 */
        gguf_str str;
        struct {
            gguf_type type;      /* element type (never ARRAY: nested arrays are rejected) */
            uint64_t n;          /* element count */
            const uint8_t *data; /* first element, for fixed-size element types */
            gguf_str *strs;      /* n strings (malloc'ed), for STRING arrays; else NULL */
        } arr;
    } v;
} gguf_kv;

typedef struct gguf_tensor_info {
    gguf_str name;
    uint32_t n_dims;   /* 1..4 */
    uint64_t ne[4];    /* ne[0] innermost; unused dims are 1 */
    uint32_t type;     /* GGML type number (es_dtype) */
    uint64_t offset;   /* from the start of the data section */
    uint64_t n_elements;
    uint64_t n_bytes;
    const void *data;  /* into the mapping */
} gguf_tensor_info;

typedef struct gguf_file {
    char *path;                 /* copy, for messages */
    const uint8_t *map;         /* whole file */
    size_t size;
    int mapped;                 /* 1: map is file_map's, released by gguf_close */
    es_file_map file_map;       /* the file in memory (gguf_open) */
    uint32_t version;           /* 2 or 3 */
    uint64_t n_kv;
    gguf_kv *kv;
    uint64_t n_tensors;
    gguf_tensor_info *tensors;
    uint64_t alignment;         /* general.alignment, default 32 */
    uint64_t data_offset;       /* start of the tensor data section */
} gguf_file;

/* Maps and parses path. On failure the message reads "PATH: problem". */
int gguf_open(gguf_file *f, const char *path, es_error *err);
/* Parses a buffer the caller owns (used by gguf_open, the fuzzer and tests).
 * name is used in messages. */
int gguf_parse(gguf_file *f, const uint8_t *buf, size_t size, const char *name,
               es_error *err);
void gguf_close(gguf_file *f);

/* 1 if buf starts with the GGUF magic. */
int gguf_has_magic(const uint8_t *buf, size_t size);

const gguf_kv *gguf_find_kv(const gguf_file *f, const char *key);
const gguf_tensor_info *gguf_find_tensor(const gguf_file *f, const char *name);
/* 1 if the (non-terminated) s equals the C string c. */
int gguf_str_eq(gguf_str s, const char *c);

/* Typed getters. They return 0 and set *out if key exists with a compatible
 * type (any integer type for the integer getters, if in range; FLOAT32/64 for
 * float); 1 if the key is absent (out untouched); -1 with a message
 * "PATH: key KEY: ..." if present with a wrong type or out of range. */
int gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out, es_error *err);
int gguf_get_i64(const gguf_file *f, const char *key, int64_t *out, es_error *err);
int gguf_get_f32(const gguf_file *f, const char *key, float *out, es_error *err);
int gguf_get_bool(const gguf_file *f, const char *key, int *out, es_error *err);
int gguf_get_str(const gguf_file *f, const char *key, gguf_str *out, es_error *err);
/* Array getter: elem_type must match exactly. */
int gguf_get_arr(const gguf_file *f, const char *key, gguf_type elem_type,
                 const gguf_kv **out, es_error *err);

const char *gguf_type_name(gguf_type t);
/* Bytes of one value of a fixed-size type; 0 for STRING, ARRAY and unknown types. */
size_t gguf_type_size(uint32_t type);

#endif
