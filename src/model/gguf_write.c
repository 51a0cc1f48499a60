/* GGUF writer (version 3). Each key/value is serialised when it is set, so
 * writing is a plain copy: header, key/values in insertion order, tensor
 * infos in insertion order, padding to the alignment, then each tensor's
 * data at an aligned offset (no padding after the last one). The same code
 * fills a memory buffer or a temporary file that is renamed into place only
 * once it is complete and synced. Values are written little-endian; numeric
 * array data is taken in host order, which this project assumes is
 * little-endian too. */
#include "model/gguf_write.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tensor/tensor.h"
#include "util/error.h"

enum { DEFAULT_ALIGNMENT = 32 };

typedef struct writer_kv {
    char *key;      /* key_len bytes, may hold any byte (copied kvs) */
    size_t key_len;
    uint32_t type;
    uint8_t *value; /* the value exactly as it goes into the file */
    size_t value_len;
} writer_kv;

typedef struct writer_tensor {
    char *name;
    uint32_t type;
    uint32_t n_dims;
    uint64_t ne[4];  /* ne[0] innermost */
    uint8_t *data;   /* n_bytes, copied */
    size_t n_bytes;
    uint64_t offset; /* from the data section start, set by plan_layout */
} writer_tensor;

struct gguf_writer {
    writer_kv *kv;
    size_t n_kv, cap_kv;
    writer_tensor *tensors;
    size_t n_tensors, cap_tensors;
};

/* -------------------------------------------------------------- sink -- */

/* Where bytes go: a growing memory buffer, or a FILE. */
typedef struct sink {
    FILE *fp;
    uint8_t *mem;
    size_t len, cap;
    uint64_t written; /* bytes put so far */
    int error;        /* errno of the first failure, 0 if none */
} sink;

static void put(sink *s, const void *p, size_t n) {
    if (s->error || n == 0) return;
    s->written += n;
    if (s->fp) {
        if (fwrite(p, 1, n, s->fp) != n) s->error = errno ? errno : EIO;
        return;
    }
    if (n > s->cap - s->len) {
        size_t cap = s->cap ? s->cap : 64;
        while (cap - s->len < n) {
            if (cap > SIZE_MAX / 2) { s->error = ENOMEM; return; }
            cap *= 2;
        }
        uint8_t *mem = realloc(s->mem, cap);
        if (!mem) { s->error = ENOMEM; return; }
        s->mem = mem;
        s->cap = cap;
    }
    memcpy(s->mem + s->len, p, n);
    s->len += n;
}

static void put_u32(sink *s, uint32_t v) {
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    put(s, b, 4);
}

static void put_u64(sink *s, uint64_t v) {
    put_u32(s, (uint32_t)v);
    put_u32(s, (uint32_t)(v >> 32));
}

static void put_str(sink *s, const char *p, size_t n) {
    put_u64(s, n);
    put(s, p, n);
}

static void put_zeros(sink *s, uint64_t n) {
    static const uint8_t zeros[256];
    for (; n > 0 && !s->error; n -= n < sizeof zeros ? n : sizeof zeros)
        put(s, zeros, n < sizeof zeros ? (size_t)n : sizeof zeros);
}

/* ------------------------------------------------------ key / values -- */

gguf_writer *gguf_writer_new(void) { return calloc(1, sizeof(gguf_writer)); }

void gguf_writer_free(gguf_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n_kv; i++) {
        free(w->kv[i].key);
        free(w->kv[i].value);
    }
    for (size_t i = 0; i < w->n_tensors; i++) {
        free(w->tensors[i].name);
        free(w->tensors[i].data);
    }
    free(w->kv);
    free(w->tensors);
    free(w);
}

static int grow(void **arr, size_t *cap, size_t n, size_t elem) {
    if (n < *cap) return 0;
    size_t new_cap = *cap ? *cap * 2 : 16;
    void *p = realloc(*arr, new_cap * elem);
    if (!p) return -1;
    *arr = p;
    *cap = new_cap;
    return 0;
}

/* Takes the serialised value in s (freeing it in every case). Setting a key
 * again replaces its value in place, so the file never holds a duplicate. */
static int set_value(gguf_writer *w, const char *key, size_t key_len, uint32_t type, sink *s) {
    writer_kv *kv = NULL;
    for (size_t i = 0; i < w->n_kv && !kv; i++)
        if (w->kv[i].key_len == key_len && memcmp(w->kv[i].key, key, key_len) == 0) kv = &w->kv[i];
    if (s->error) goto fail;
    if (!kv) {
        if (grow((void **)&w->kv, &w->cap_kv, w->n_kv, sizeof *w->kv)) goto fail;
        char *copy = malloc(key_len + 1);
        if (!copy) goto fail;
        memcpy(copy, key, key_len);
        copy[key_len] = '\0';
        kv = &w->kv[w->n_kv++];
        *kv = (writer_kv){.key = copy, .key_len = key_len};
    }
    free(kv->value);
    kv->type = type;
    kv->value = s->mem;
    kv->value_len = s->len;
    return 0;
fail:
    free(s->mem);
    return -1;
}

int gguf_writer_set_u32(gguf_writer *w, const char *key, uint32_t v) {
    sink s = {0};
    put_u32(&s, v);
    return set_value(w, key, strlen(key), GGUF_TYPE_UINT32, &s);
}

int gguf_writer_set_i32(gguf_writer *w, const char *key, int32_t v) {
    sink s = {0};
    put_u32(&s, (uint32_t)v);
    return set_value(w, key, strlen(key), GGUF_TYPE_INT32, &s);
}

int gguf_writer_set_f32(gguf_writer *w, const char *key, float v) {
    sink s = {0};
    uint32_t bits;
    memcpy(&bits, &v, 4);
    put_u32(&s, bits);
    return set_value(w, key, strlen(key), GGUF_TYPE_FLOAT32, &s);
}

int gguf_writer_set_bool(gguf_writer *w, const char *key, int v) {
    sink s = {0};
    uint8_t b = v != 0;
    put(&s, &b, 1);
    return set_value(w, key, strlen(key), GGUF_TYPE_BOOL, &s);
}

int gguf_writer_set_str(gguf_writer *w, const char *key, const char *v) {
    sink s = {0};
    put_str(&s, v, strlen(v));
    return set_value(w, key, strlen(key), GGUF_TYPE_STRING, &s);
}

/* Fixed-size array body (element type, count, elements); -1 on a bad type,
 * a byte count that overflows, or a bool element other than 0 or 1. */
static int put_fixed_array(sink *s, uint32_t elem_type, const void *data, uint64_t n) {
    size_t size = gguf_type_size(elem_type);
    if (!size || n > SIZE_MAX / size || (n && !data)) return -1;
    if (elem_type == GGUF_TYPE_BOOL)
        for (uint64_t i = 0; i < n; i++)
            if (((const uint8_t *)data)[i] > 1) return -1;
    put_u32(s, elem_type);
    put_u64(s, n);
    put(s, data, (size_t)n * size);
    return 0;
}

int gguf_writer_set_arr(gguf_writer *w, const char *key, gguf_type elem_type,
                        const void *data, uint64_t n) {
    sink s = {0};
    if (put_fixed_array(&s, elem_type, data, n)) {
        free(s.mem);
        return -1;
    }
    return set_value(w, key, strlen(key), GGUF_TYPE_ARRAY, &s);
}

int gguf_writer_set_arr_str(gguf_writer *w, const char *key,
                            const char *const *strs, const size_t *lens, uint64_t n) {
    sink s = {0};
    put_u32(&s, GGUF_TYPE_STRING);
    put_u64(&s, n);
    for (uint64_t i = 0; i < n; i++)
        put_str(&s, strs[i], lens ? lens[i] : strlen(strs[i]));
    return set_value(w, key, strlen(key), GGUF_TYPE_ARRAY, &s);
}

/* Scalars go back to their declared width from the reader's wide union. */
static void put_scalar(sink *s, const gguf_kv *kv) {
    uint8_t b;
    uint32_t bits;
    float f32;
    switch (kv->type) {
    case GGUF_TYPE_UINT8: case GGUF_TYPE_BOOL: b = (uint8_t)kv->v.u64; put(s, &b, 1); break;
    case GGUF_TYPE_INT8: b = (uint8_t)(int8_t)kv->v.i64; put(s, &b, 1); break;
    case GGUF_TYPE_UINT16: case GGUF_TYPE_INT16: {
        uint16_t u = kv->type == GGUF_TYPE_UINT16 ? (uint16_t)kv->v.u64 : (uint16_t)kv->v.i64;
        put(s, (uint8_t[2]){(uint8_t)u, (uint8_t)(u >> 8)}, 2);
        break;
    }
    case GGUF_TYPE_UINT32: put_u32(s, (uint32_t)kv->v.u64); break;
    case GGUF_TYPE_INT32: put_u32(s, (uint32_t)kv->v.i64); break;
    case GGUF_TYPE_UINT64: put_u64(s, kv->v.u64); break;
    case GGUF_TYPE_INT64: put_u64(s, (uint64_t)kv->v.i64); break;
    case GGUF_TYPE_FLOAT32:
        f32 = (float)kv->v.f64;
        memcpy(&bits, &f32, 4);
        put_u32(s, bits);
        break;
    case GGUF_TYPE_FLOAT64: {
        uint64_t b64;
        memcpy(&b64, &kv->v.f64, 8);
        put_u64(s, b64);
        break;
    }
    default: s->error = EINVAL; break;
    }
}

int gguf_writer_copy_kv(gguf_writer *w, const gguf_kv *kv) {
    sink s = {0};
    if (kv->type == GGUF_TYPE_STRING) {
        put_str(&s, kv->v.str.ptr, (size_t)kv->v.str.len);
    } else if (kv->type == GGUF_TYPE_ARRAY && kv->v.arr.type == GGUF_TYPE_STRING) {
        put_u32(&s, GGUF_TYPE_STRING);
        put_u64(&s, kv->v.arr.n);
        for (uint64_t i = 0; i < kv->v.arr.n; i++)
            put_str(&s, kv->v.arr.strs[i].ptr, (size_t)kv->v.arr.strs[i].len);
    } else if (kv->type == GGUF_TYPE_ARRAY) {
        /* The reader's data is the file's little-endian bytes. */
        if (put_fixed_array(&s, kv->v.arr.type, kv->v.arr.data, kv->v.arr.n)) s.error = EINVAL;
    } else {
        put_scalar(&s, kv);
    }
    return set_value(w, kv->key.ptr, (size_t)kv->key.len, kv->type, &s);
}

/* ----------------------------------------------------------- tensors -- */

/* Bytes of a tensor of this type and shape; -1 if invalid or overflowing. */
static int64_t tensor_bytes(uint32_t type, uint32_t n_dims, const uint64_t *ne) {
    if (!es_dtype_known(type) || n_dims < 1 || n_dims > 4 || ne[0] > INT64_MAX) return -1;
    int64_t bytes = es_dtype_row_bytes(type, (int64_t)ne[0]);
    if (bytes <= 0) return -1;
    for (uint32_t d = 1; d < n_dims; d++)
        if (ne[d] == 0 || ne[d] > INT64_MAX ||
            __builtin_mul_overflow(bytes, (int64_t)ne[d], &bytes))
            return -1;
    return bytes;
}

/* -1 also for an invalid shape or type, a size that does not match them, or
 * a name already used. */
int gguf_writer_add_tensor(gguf_writer *w, const char *name, uint32_t type,
                           uint32_t n_dims, const uint64_t *ne,
                           const void *data, size_t n_bytes) {
    int64_t expected = tensor_bytes(type, n_dims, ne);
    if (expected < 0 || (uint64_t)expected != n_bytes || !name || (n_bytes && !data)) return -1;
    for (size_t i = 0; i < w->n_tensors; i++)
        if (strcmp(w->tensors[i].name, name) == 0) return -1;
    if (grow((void **)&w->tensors, &w->cap_tensors, w->n_tensors, sizeof *w->tensors)) return -1;
    writer_tensor t = {.type = type, .n_dims = n_dims, .n_bytes = n_bytes};
    for (uint32_t d = 0; d < 4; d++) t.ne[d] = d < n_dims ? ne[d] : 1;
    t.name = strdup(name);
    t.data = malloc(n_bytes);
    if (!t.name || !t.data) {
        free(t.name);
        free(t.data);
        return -1;
    }
    memcpy(t.data, data, n_bytes);
    w->tensors[w->n_tensors++] = t;
    return 0;
}

/* ------------------------------------------------------------ output -- */

static uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

/* general.alignment, if set, must be a UINT32 power of two; 0 if invalid. */
static uint64_t writer_alignment(const gguf_writer *w) {
    for (size_t i = 0; i < w->n_kv; i++) {
        const writer_kv *kv = &w->kv[i];
        if (kv->key_len != 17 || memcmp(kv->key, "general.alignment", 17) != 0) continue;
        if (kv->type != GGUF_TYPE_UINT32) return 0;
        const uint8_t *b = kv->value;
        uint32_t a = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
                     (uint32_t)b[3] << 24;
        return a && (a & (a - 1)) == 0 ? a : 0;
    }
    return DEFAULT_ALIGNMENT;
}

/* Sets each tensor's offset, the data section start and the file size;
 * -1 if general.alignment is invalid. */
static int plan_layout(gguf_writer *w, uint64_t *data_offset, uint64_t *total) {
    uint64_t alignment = writer_alignment(w), pos = 24, end = 0;
    if (!alignment) return -1;
    for (size_t i = 0; i < w->n_kv; i++) pos += 8 + w->kv[i].key_len + 4 + w->kv[i].value_len;
    for (size_t i = 0; i < w->n_tensors; i++)
        pos += 8 + strlen(w->tensors[i].name) + 4 + 8 * w->tensors[i].n_dims + 4 + 8;
    for (size_t i = 0; i < w->n_tensors; i++) {
        w->tensors[i].offset = align_up(end, alignment);
        end = w->tensors[i].offset + w->tensors[i].n_bytes;
    }
    *data_offset = align_up(pos, alignment);
    *total = *data_offset + end;
    return 0;
}

static void emit(const gguf_writer *w, uint64_t data_offset, sink *s) {
    put(s, "GGUF", 4);
    put_u32(s, 3);
    put_u64(s, w->n_tensors);
    put_u64(s, w->n_kv);
    for (size_t i = 0; i < w->n_kv; i++) {
        put_str(s, w->kv[i].key, w->kv[i].key_len);
        put_u32(s, w->kv[i].type);
        put(s, w->kv[i].value, w->kv[i].value_len);
    }
    for (size_t i = 0; i < w->n_tensors; i++) {
        const writer_tensor *t = &w->tensors[i];
        put_str(s, t->name, strlen(t->name));
        put_u32(s, t->n_dims);
        for (uint32_t d = 0; d < t->n_dims; d++) put_u64(s, t->ne[d]);
        put_u32(s, t->type);
        put_u64(s, t->offset);
    }
    put_zeros(s, data_offset - s->written);
    for (size_t i = 0; i < w->n_tensors; i++) {
        put_zeros(s, data_offset + w->tensors[i].offset - s->written);
        put(s, w->tensors[i].data, w->tensors[i].n_bytes);
    }
}

int gguf_writer_to_buffer(gguf_writer *w, uint8_t **buf, size_t *size, es_error *err) {
    uint64_t data_offset, total;
    if (plan_layout(w, &data_offset, &total))
        return es_fail(err, "(buffer): general.alignment must be a UINT32 power of two");
    sink s = {.mem = malloc(total ? (size_t)total : 1), .cap = (size_t)total};
    if (!s.mem) return es_fail(err, "(buffer): out of memory (%" PRIu64 " bytes)", total);
    emit(w, data_offset, &s);
    if (s.error) {
        free(s.mem);
        return es_fail(err, "(buffer): %s", strerror(s.error));
    }
    *buf = s.mem;
    *size = s.len;
    return 0;
}

/* Syncs the directory so that the rename itself survives a crash; best effort. */
static void sync_parent_dir(const char *path) {
    char *copy = strdup(path);
    if (!copy) return;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(copy);
}

/* Writes the file at tmp; returns 0 or an errno value. */
static int write_tmp(const gguf_writer *w, const char *tmp, uint64_t data_offset) {
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return errno;
    sink s = {.fp = fdopen(fd, "wb")};
    if (!s.fp) {
        int e = errno;
        close(fd);
        return e;
    }
    emit(w, data_offset, &s);
    if (!s.error && fflush(s.fp) != 0) s.error = errno;
    if (!s.error && fsync(fd) != 0) s.error = errno;
    if (fclose(s.fp) != 0 && !s.error) s.error = errno;
    return s.error;
}

int gguf_writer_write(gguf_writer *w, const char *path, es_error *err) {
    uint64_t data_offset, total;
    if (plan_layout(w, &data_offset, &total))
        return es_fail(err, "%s: general.alignment must be a UINT32 power of two", path);
    size_t tmp_size = strlen(path) + 32;
    char *tmp = malloc(tmp_size);
    if (!tmp) return es_fail(err, "%s: out of memory", path);
    snprintf(tmp, tmp_size, "%s.tmp.%ld", path, (long)getpid());
    int e = write_tmp(w, tmp, data_offset);
    if (!e && rename(tmp, path) != 0) e = errno;
    if (e) {
        unlink(tmp); /* may not exist (open failed): nothing to report then */
        free(tmp);
        return es_fail(err, "%s: %s", path, strerror(e));
    }
    free(tmp);
    sync_parent_dir(path);
    return 0;
}

int gguf_writer_set_llama_config(gguf_writer *w, const gguf_llama_config *c) {
    int rc = 0;
    rc |= gguf_writer_set_str(w, "general.architecture", "llama");
    rc |= gguf_writer_set_str(w, "general.name", c->name);
    rc |= gguf_writer_set_u32(w, "llama.context_length", (uint32_t)c->context_length);
    rc |= gguf_writer_set_u32(w, "llama.embedding_length", (uint32_t)c->dim);
    rc |= gguf_writer_set_u32(w, "llama.block_count", (uint32_t)c->n_layers);
    rc |= gguf_writer_set_u32(w, "llama.feed_forward_length", (uint32_t)c->hidden_dim);
    rc |= gguf_writer_set_u32(w, "llama.rope.dimension_count", (uint32_t)c->head_dim);
    rc |= gguf_writer_set_u32(w, "llama.attention.head_count", (uint32_t)c->n_heads);
    rc |= gguf_writer_set_u32(w, "llama.attention.head_count_kv", (uint32_t)c->n_kv_heads);
    rc |= gguf_writer_set_u32(w, "llama.attention.key_length", (uint32_t)c->head_dim);
    rc |= gguf_writer_set_u32(w, "llama.attention.value_length", (uint32_t)c->head_dim);
    rc |= gguf_writer_set_f32(w, "llama.attention.layer_norm_rms_epsilon", c->rms_eps);
    rc |= gguf_writer_set_f32(w, "llama.rope.freq_base", c->rope_theta);
    rc |= gguf_writer_set_u32(w, "llama.vocab_size", (uint32_t)c->vocab_size);
    return rc ? -1 : 0;
}
