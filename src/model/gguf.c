/* GGUF reader. The whole file is memory-mapped (or handed in as a buffer)
 * and walked once with a bounds-checked cursor: every count is compared with
 * the bytes left before anything is allocated, every length before it is
 * used, and every tensor is checked to lie inside the file and apart from
 * the others. Nothing is copied but the small index arrays; strings and
 * tensor data point into the mapping. Messages are one line, "NAME: problem",
 * with key and tensor names cut and made printable. */
#include "model/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tensor/tensor.h"
#include "util/error.h"

enum {
    HEADER_BYTES = 24,          /* magic, version, n_tensors, n_kv */
    DEFAULT_ALIGNMENT = 32,
    KV_MIN_BYTES = 13,          /* key length 8 + value type 4 + a 1-byte value */
    TENSOR_INFO_MIN_BYTES = 32, /* name length 8 + n_dims 4 + one ne 8 + type 4 + offset 8 */
};

/* ------------------------------------------------------------ cursor -- */

typedef struct cursor {
    const uint8_t *buf;
    size_t size;
    size_t pos; /* always <= size */
} cursor;

static size_t bytes_left(const cursor *c) { return c->size - c->pos; }

/* Advances over n bytes; -1 (cursor unchanged) if they run past the end. */
static int take(cursor *c, uint64_t n, const uint8_t **p) {
    if (n > bytes_left(c)) return -1;
    *p = c->buf + c->pos;
    c->pos += (size_t)n;
    return 0;
}

static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t le64(const uint8_t *p) { return le32(p) | (uint64_t)le32(p + 4) << 32; }

static int read_u32(cursor *c, uint32_t *v) {
    const uint8_t *p;
    if (take(c, 4, &p)) return -1;
    *v = le32(p);
    return 0;
}

static int read_u64(cursor *c, uint64_t *v) {
    const uint8_t *p;
    if (take(c, 8, &p)) return -1;
    *v = le64(p);
    return 0;
}

static int read_str(cursor *c, gguf_str *s) {
    size_t start = c->pos;
    const uint8_t *p;
    uint64_t len;
    if (read_u64(c, &len)) return -1;
    if (take(c, len, &p)) {
        c->pos = start;
        return -1;
    }
    s->ptr = (const char *)p;
    s->len = len;
    return 0;
}

/* ---------------------------------------------------------- messages -- */

static es_shown show(gguf_str s) { return es_show(s.ptr, (size_t)s.len); }

const char *gguf_type_name(gguf_type t) {
    static const char *const names[] = {
        "UINT8", "INT8",  "UINT16", "INT16",  "UINT32", "INT32",  "FLOAT32",
        "BOOL",  "STRING", "ARRAY", "UINT64", "INT64",  "FLOAT64",
    };
    return (unsigned)t < sizeof names / sizeof names[0] ? names[t] : "?";
}

/* ------------------------------------------------------------ values -- */

typedef struct parser {
    cursor c;
    const char *name; /* for messages */
    es_error *err;
    gguf_file *f;
} parser;

size_t gguf_type_size(uint32_t type) {
    switch (type) {
    case GGUF_TYPE_UINT8: case GGUF_TYPE_INT8: case GGUF_TYPE_BOOL: return 1;
    case GGUF_TYPE_UINT16: case GGUF_TYPE_INT16: return 2;
    case GGUF_TYPE_UINT32: case GGUF_TYPE_INT32: case GGUF_TYPE_FLOAT32: return 4;
    case GGUF_TYPE_UINT64: case GGUF_TYPE_INT64: case GGUF_TYPE_FLOAT64: return 8;
    default: return 0;
    }
}

static int is_known_type(uint32_t type) {
    return gguf_type_size(type) || type == GGUF_TYPE_STRING || type == GGUF_TYPE_ARRAY;
}

static int truncated(parser *p, const char *what) {
    return es_fail(p->err, "%s: truncated: %s runs past the end of the file", p->name, what);
}

/* Decodes one fixed-size scalar at q into the union, by signedness. */
static void decode_fixed(gguf_type type, const uint8_t *q, gguf_kv *kv) {
    float f32;
    uint32_t bits;
    switch (type) {
    case GGUF_TYPE_UINT8: case GGUF_TYPE_BOOL: kv->v.u64 = q[0]; break;
    case GGUF_TYPE_INT8: kv->v.i64 = (int8_t)q[0]; break;
    case GGUF_TYPE_UINT16: kv->v.u64 = le16(q); break;
    case GGUF_TYPE_INT16: kv->v.i64 = (int16_t)le16(q); break;
    case GGUF_TYPE_UINT32: kv->v.u64 = le32(q); break;
    case GGUF_TYPE_INT32: kv->v.i64 = (int32_t)le32(q); break;
    case GGUF_TYPE_UINT64: kv->v.u64 = le64(q); break;
    case GGUF_TYPE_INT64: kv->v.i64 = (int64_t)le64(q); break;
    case GGUF_TYPE_FLOAT32:
        bits = le32(q);
        memcpy(&f32, &bits, 4);
        kv->v.f64 = f32;
        break;
    case GGUF_TYPE_FLOAT64: {
        uint64_t b64 = le64(q);
        memcpy(&kv->v.f64, &b64, 8);
        break;
    }
    default: break;
    }
}

static int parse_string_array(parser *p, gguf_kv *kv, const char *what) {
    uint64_t n = kv->v.arr.n;
    if (n > bytes_left(&p->c) / 8)
        return es_fail(p->err, "%s: %s: array count %" PRIu64 " runs past the end of the file",
                       p->name, what, n);
    if (n == 0) return 0;
    kv->v.arr.strs = malloc((size_t)n * sizeof(gguf_str));
    if (!kv->v.arr.strs) return es_fail(p->err, "%s: %s: out of memory", p->name, what);
    for (uint64_t i = 0; i < n; i++)
        if (read_str(&p->c, &kv->v.arr.strs[i])) return truncated(p, what);
    return 0;
}

static int parse_array(parser *p, gguf_kv *kv, const char *what) {
    uint32_t elem;
    uint64_t n;
    if (read_u32(&p->c, &elem) || read_u64(&p->c, &n)) return truncated(p, what);
    if (elem == GGUF_TYPE_ARRAY)
        return es_fail(p->err, "%s: %s: arrays of arrays are not supported", p->name, what);
    if (!is_known_type(elem))
        return es_fail(p->err, "%s: %s: unknown array element type %" PRIu32, p->name, what, elem);
    kv->type = GGUF_TYPE_ARRAY;
    kv->v.arr.type = (gguf_type)elem;
    kv->v.arr.n = n;
    if (elem == GGUF_TYPE_STRING) return parse_string_array(p, kv, what);

    size_t size = gguf_type_size(elem);
    if (n > bytes_left(&p->c) / size)
        return es_fail(p->err, "%s: %s: array count %" PRIu64 " runs past the end of the file",
                       p->name, what, n);
    take(&p->c, n * size, &kv->v.arr.data);
    if (elem == GGUF_TYPE_BOOL)
        for (uint64_t i = 0; i < n; i++)
            if (kv->v.arr.data[i] > 1)
                return es_fail(p->err, "%s: %s: bool element %" PRIu64 " is %u, not 0 or 1",
                               p->name, what, i, kv->v.arr.data[i]);
    return 0;
}

static int parse_value(parser *p, uint32_t type, gguf_kv *kv, const char *what) {
    if (type == GGUF_TYPE_ARRAY) return parse_array(p, kv, what);
    if (type == GGUF_TYPE_STRING) {
        if (read_str(&p->c, &kv->v.str)) return truncated(p, what);
        kv->type = GGUF_TYPE_STRING;
        return 0;
    }
    size_t size = gguf_type_size(type);
    const uint8_t *q;
    if (!size) return es_fail(p->err, "%s: %s: unknown value type %" PRIu32, p->name, what, type);
    if (take(&p->c, size, &q)) return truncated(p, what);
    if (type == GGUF_TYPE_BOOL && q[0] > 1)
        return es_fail(p->err, "%s: %s: bool value %u is not 0 or 1", p->name, what, q[0]);
    kv->type = (gguf_type)type;
    decode_fixed(kv->type, q, kv);
    return 0;
}

static int parse_kv(parser *p, uint64_t i, gguf_kv *kv) {
    char what[ES_SHOWN_MAX + 64];
    uint32_t type;
    snprintf(what, sizeof what, "key/value %" PRIu64, i);
    if (read_str(&p->c, &kv->key)) return truncated(p, what);
    snprintf(what, sizeof what, "key/value %" PRIu64 " (%s)", i, show(kv->key).text);
    if (read_u32(&p->c, &type)) return truncated(p, what);
    return parse_value(p, type, kv, what);
}

/* ---------------------------------------------------------- checks -- */

static int str_cmp(gguf_str a, gguf_str b) {
    size_t n = a.len < b.len ? (size_t)a.len : (size_t)b.len;
    int c = n ? memcmp(a.ptr, b.ptr, n) : 0;
    if (c) return c;
    return a.len < b.len ? -1 : a.len > b.len;
}

static int cmp_kv_key(const void *a, const void *b) {
    return str_cmp((*(const gguf_kv *const *)a)->key, (*(const gguf_kv *const *)b)->key);
}

static int cmp_tensor_name(const void *a, const void *b) {
    return str_cmp((*(const gguf_tensor_info *const *)a)->name,
                   (*(const gguf_tensor_info *const *)b)->name);
}

static int cmp_tensor_offset(const void *a, const void *b) {
    const gguf_tensor_info *x = *(const gguf_tensor_info *const *)a;
    const gguf_tensor_info *y = *(const gguf_tensor_info *const *)b;
    if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
    return x < y ? -1 : x > y; /* file order on ties, so messages are stable */
}

/* Sorting pointers (not the arrays themselves) keeps the file's order. */
static int check_duplicate_keys(parser *p) {
    gguf_file *f = p->f;
    if (f->n_kv < 2) return 0;
    const gguf_kv **sorted = malloc((size_t)f->n_kv * sizeof *sorted);
    if (!sorted) return es_fail(p->err, "%s: out of memory", p->name);
    for (uint64_t i = 0; i < f->n_kv; i++) sorted[i] = &f->kv[i];
    qsort(sorted, (size_t)f->n_kv, sizeof *sorted, cmp_kv_key);
    int rc = 0;
    for (uint64_t i = 1; i < f->n_kv && !rc; i++)
        if (str_cmp(sorted[i - 1]->key, sorted[i]->key) == 0)
            rc = es_fail(p->err, "%s: duplicate key '%s'", p->name, show(sorted[i]->key).text);
    free(sorted);
    return rc;
}

static int read_alignment(parser *p) {
    const gguf_kv *kv = gguf_find_kv(p->f, "general.alignment");
    p->f->alignment = DEFAULT_ALIGNMENT;
    if (!kv) return 0;
    if (kv->type != GGUF_TYPE_UINT32)
        return es_fail(p->err, "%s: general.alignment must be UINT32, not %s", p->name,
                       gguf_type_name(kv->type));
    if (kv->v.u64 == 0 || (kv->v.u64 & (kv->v.u64 - 1)) != 0)
        return es_fail(p->err, "%s: general.alignment %" PRIu64 " is not a nonzero power of two",
                       p->name, kv->v.u64);
    p->f->alignment = kv->v.u64;
    return 0;
}

/* ----------------------------------------------------------- tensors -- */

static int mul_u64(uint64_t a, uint64_t b, uint64_t *out) {
    return __builtin_mul_overflow(a, b, out) ? -1 : 0;
}

/* Element and byte counts from the shape and type (all overflow-checked). */
static int tensor_sizes(parser *p, gguf_tensor_info *t) {
    es_shown name = show(t->name);
    uint64_t n = 1;
    for (uint32_t d = 0; d < t->n_dims; d++) {
        if (t->ne[d] == 0)
            return es_fail(p->err, "%s: tensor '%s': dimension %u is 0", p->name, name.text, d);
        if (mul_u64(n, t->ne[d], &n) || n > INT64_MAX)
            return es_fail(p->err, "%s: tensor '%s': element count overflows", p->name, name.text);
    }
    t->n_elements = n;
    if (!es_dtype_known(t->type))
        return es_fail(p->err, "%s: tensor '%s': unknown type %" PRIu32, p->name, name.text,
                       t->type);
    uint64_t block = (uint64_t)es_dtype_block_size(t->type);
    if (t->ne[0] % block != 0)
        return es_fail(p->err, "%s: tensor '%s': ne[0] = %" PRIu64
                       " is not a multiple of the %s block size %" PRIu64,
                       p->name, name.text, t->ne[0], es_dtype_name(t->type), block);
    uint64_t bytes = t->ne[0] / block;
    if (mul_u64(bytes, (uint64_t)es_dtype_block_bytes(t->type), &bytes) ||
        mul_u64(bytes, t->ne[1] * t->ne[2] * t->ne[3], &bytes)) /* inner product fits: <= n */
        return es_fail(p->err, "%s: tensor '%s': byte count overflows", p->name, name.text);
    t->n_bytes = bytes;
    if (t->offset % p->f->alignment != 0)
        return es_fail(p->err, "%s: tensor '%s': offset %" PRIu64
                       " is not a multiple of the alignment %" PRIu64,
                       p->name, name.text, t->offset, p->f->alignment);
    return 0;
}

static int parse_tensor_info(parser *p, uint64_t i, gguf_tensor_info *t) {
    char what[ES_SHOWN_MAX + 64];
    snprintf(what, sizeof what, "tensor info %" PRIu64, i);
    if (read_str(&p->c, &t->name)) return truncated(p, what);
    snprintf(what, sizeof what, "tensor info %" PRIu64 " ('%s')", i, show(t->name).text);
    if (read_u32(&p->c, &t->n_dims)) return truncated(p, what);
    if (t->n_dims < 1 || t->n_dims > 4)
        return es_fail(p->err, "%s: tensor '%s': n_dims %" PRIu32 " is not in 1..4", p->name,
                       show(t->name).text, t->n_dims);
    for (uint32_t d = 0; d < 4; d++) {
        t->ne[d] = 1;
        if (d < t->n_dims && read_u64(&p->c, &t->ne[d])) return truncated(p, what);
    }
    if (read_u32(&p->c, &t->type) || read_u64(&p->c, &t->offset)) return truncated(p, what);
    return tensor_sizes(p, t);
}

/* Points each tensor at its data, once the data section's start is known. */
static int place_tensor(parser *p, gguf_tensor_info *t) {
    gguf_file *f = p->f;
    uint64_t avail = f->size > f->data_offset ? f->size - f->data_offset : 0;
    if (t->offset > avail || t->n_bytes > avail - t->offset) {
        uint64_t start = f->data_offset + t->offset;
        if (start < t->offset) start = UINT64_MAX; /* shown saturated, not wrapped */
        return es_fail(p->err, "%s: tensor '%s': data [offset %" PRIu64 ", %" PRIu64
                       " bytes] runs past the end of the file (%zu bytes)",
                       p->name, show(t->name).text, start, t->n_bytes, f->size);
    }
    t->data = f->map + f->data_offset + t->offset;
    return 0;
}

static int check_tensor_layout(parser *p) {
    gguf_file *f = p->f;
    if (f->n_tensors < 2) return 0;
    const gguf_tensor_info **sorted = malloc((size_t)f->n_tensors * sizeof *sorted);
    if (!sorted) return es_fail(p->err, "%s: out of memory", p->name);
    for (uint64_t i = 0; i < f->n_tensors; i++) sorted[i] = &f->tensors[i];
    int rc = 0;
    qsort(sorted, (size_t)f->n_tensors, sizeof *sorted, cmp_tensor_name);
    for (uint64_t i = 1; i < f->n_tensors && !rc; i++)
        if (str_cmp(sorted[i - 1]->name, sorted[i]->name) == 0)
            rc = es_fail(p->err, "%s: duplicate tensor name '%s'", p->name,
                         show(sorted[i]->name).text);
    qsort(sorted, (size_t)f->n_tensors, sizeof *sorted, cmp_tensor_offset);
    for (uint64_t i = 1; i < f->n_tensors && !rc; i++) {
        const gguf_tensor_info *a = sorted[i - 1], *b = sorted[i];
        if (a->offset + a->n_bytes > b->offset) /* both inside the file: no overflow */
            rc = es_fail(p->err, "%s: tensors '%s' and '%s' overlap (offsets %" PRIu64 " + %" PRIu64
                         " bytes and %" PRIu64 ")", p->name, show(a->name).text,
                         show(b->name).text, a->offset, a->n_bytes, b->offset);
    }
    free(sorted);
    return rc;
}

/* ------------------------------------------------------------- parse -- */

/* Checked twice: at the header (to fail fast) and before allocating. */
static int check_tensor_count(parser *p) {
    if (p->f->n_tensors <= bytes_left(&p->c) / TENSOR_INFO_MIN_BYTES) return 0;
    return es_fail(p->err, "%s: tensor count %" PRIu64 " runs past the end of the file (%zu bytes)",
                   p->name, p->f->n_tensors, p->c.size);
}

static int parse_header(parser *p) {
    const uint8_t *b = p->c.buf;
    size_t size = p->c.size;
    if (size >= 4 && memcmp(b, "FUGG", 4) == 0)
        return es_fail(p->err, "%s: big-endian GGUF not supported", p->name);
    if (memcmp(b, "GGUF", size < 4 ? size : 4) != 0)
        return es_fail(p->err, "%s: not a GGUF file (bad magic)", p->name);
    if (size < HEADER_BYTES)
        return es_fail(p->err, "%s: truncated: the header runs past the end of the file"
                       " (%zu bytes)", p->name, size);
    uint32_t version = le32(b + 4);
    if (version != 2 && version != 3) {
        uint32_t swapped = __builtin_bswap32(version);
        if (swapped == 2 || swapped == 3)
            return es_fail(p->err, "%s: big-endian GGUF not supported", p->name);
        return es_fail(p->err, "%s: unsupported GGUF version %" PRIu32
                       " (versions 2 and 3 are read)", p->name, version);
    }
    p->f->version = version;
    p->f->n_tensors = le64(b + 8);
    p->f->n_kv = le64(b + 16);
    p->c.pos = HEADER_BYTES;
    /* Fail fast on absurd counts, before any allocation. */
    if (p->f->n_kv > bytes_left(&p->c) / KV_MIN_BYTES)
        return es_fail(p->err, "%s: key/value count %" PRIu64
                       " runs past the end of the file (%zu bytes)", p->name, p->f->n_kv, size);
    return check_tensor_count(p);
}

static int parse_kvs(parser *p) {
    gguf_file *f = p->f;
    if (f->n_kv) {
        f->kv = calloc((size_t)f->n_kv, sizeof *f->kv);
        if (!f->kv) return es_fail(p->err, "%s: out of memory", p->name);
    }
    for (uint64_t i = 0; i < f->n_kv; i++)
        if (parse_kv(p, i, &f->kv[i])) return -1;
    if (check_duplicate_keys(p)) return -1;
    return read_alignment(p);
}

static int parse_tensors(parser *p) {
    gguf_file *f = p->f;
    if (check_tensor_count(p)) return -1;
    if (f->n_tensors) {
        f->tensors = calloc((size_t)f->n_tensors, sizeof *f->tensors);
        if (!f->tensors) return es_fail(p->err, "%s: out of memory", p->name);
    }
    for (uint64_t i = 0; i < f->n_tensors; i++)
        if (parse_tensor_info(p, i, &f->tensors[i])) return -1;
    /* A vocab-only file may end before the padding: nothing reads there. */
    f->data_offset = (p->c.pos + f->alignment - 1) / f->alignment * f->alignment;
    for (uint64_t i = 0; i < f->n_tensors; i++)
        if (place_tensor(p, &f->tensors[i])) return -1;
    return check_tensor_layout(p);
}

/* Frees what parsing allocated; leaves the mapping alone. */
static void free_index(gguf_file *f) {
    for (uint64_t i = 0; f->kv && i < f->n_kv; i++)
        if (f->kv[i].type == GGUF_TYPE_ARRAY) free(f->kv[i].v.arr.strs);
    free(f->kv);
    free(f->tensors);
    free(f->path);
}

int gguf_parse(gguf_file *f, const uint8_t *buf, size_t size, const char *name,
               es_error *err) {
    static const uint8_t empty[1];
    memset(f, 0, sizeof *f);
    if (!buf) { /* an empty buffer may come as NULL */
        buf = empty;
        size = 0;
    }
    if (!name) name = "(buffer)";
    parser p = {.c = {buf, size, 0}, .name = name, .err = err, .f = f};
    f->map = buf;
    f->size = size;
    f->path = strdup(name);
    if (!f->path) return es_fail(err, "%s: out of memory", name);
    if (parse_header(&p) || parse_kvs(&p) || parse_tensors(&p)) {
        free_index(f);
        memset(f, 0, sizeof *f);
        return -1;
    }
    return 0;
}

void gguf_close(gguf_file *f) {
    if (!f) return;
    if (f->mapped) es_file_map_close(&f->file_map);
    free_index(f);
    memset(f, 0, sizeof *f);
}

int gguf_open(gguf_file *f, const char *path, es_error *err) {
    struct stat st;
    memset(f, 0, sizeof *f);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return es_fail(err, "%s: cannot open: %s", path, strerror(errno));
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return es_fail(err, "%s: cannot stat: %s", path, strerror(e));
    }
    const char *unusable = S_ISDIR(st.st_mode)  ? "is a directory, not a GGUF file"
                           : !S_ISREG(st.st_mode) ? "not a regular file"
                           : st.st_size == 0      ? "empty file, not a GGUF file"
                                                  : NULL;
    if (unusable) {
        close(fd);
        return es_fail(err, "%s: %s", path, unusable);
    }
    es_file_map fm;
    int rc = es_file_map_open(&fm, fd, (size_t)st.st_size, path, err);
    close(fd); /* a mapping keeps the file */
    if (rc < 0) return -1;
    if (gguf_parse(f, fm.data, fm.size, path, err)) {
        es_file_map_close(&fm);
        return -1;
    }
    f->mapped = 1;
    f->file_map = fm;
    return 0;
}

int gguf_has_magic(const uint8_t *buf, size_t size) {
    return buf && size >= 4 && memcmp(buf, "GGUF", 4) == 0;
}

/* ------------------------------------------------------------ lookup -- */

int gguf_str_eq(gguf_str s, const char *c) {
    size_t n = strlen(c);
    return s.len == n && (n == 0 || memcmp(s.ptr, c, n) == 0);
}

const gguf_kv *gguf_find_kv(const gguf_file *f, const char *key) {
    for (uint64_t i = 0; key && i < f->n_kv; i++)
        if (gguf_str_eq(f->kv[i].key, key)) return &f->kv[i];
    return NULL;
}

const gguf_tensor_info *gguf_find_tensor(const gguf_file *f, const char *name) {
    for (uint64_t i = 0; name && i < f->n_tensors; i++)
        if (gguf_str_eq(f->tensors[i].name, name)) return &f->tensors[i];
    return NULL;
}

/* ----------------------------------------------------------- getters -- */

static int is_unsigned_int(gguf_type t) {
    return t == GGUF_TYPE_UINT8 || t == GGUF_TYPE_UINT16 || t == GGUF_TYPE_UINT32 ||
           t == GGUF_TYPE_UINT64;
}

static int is_signed_int(gguf_type t) {
    return t == GGUF_TYPE_INT8 || t == GGUF_TYPE_INT16 || t == GGUF_TYPE_INT32 ||
           t == GGUF_TYPE_INT64;
}

/* The key as shown in a getter's message (it may come from a file). */
static es_shown show_key(const char *key) { return show((gguf_str){key, strlen(key)}); }

static int wrong_type(const gguf_file *f, const char *key, const char *expected,
                      const gguf_kv *kv, es_error *err) {
    if (kv->type == GGUF_TYPE_ARRAY)
        return es_fail(err, "%s: key %s: expected %s, found an array of %s", f->path,
                       show_key(key).text, expected, gguf_type_name(kv->v.arr.type));
    return es_fail(err, "%s: key %s: expected %s, found %s", f->path, show_key(key).text,
                   expected, gguf_type_name(kv->type));
}

static int out_of_range(const gguf_file *f, const char *key, const gguf_kv *kv,
                        const char *target, es_error *err) {
    if (is_signed_int(kv->type))
        return es_fail(err, "%s: key %s: value %" PRId64 " is out of range for %s", f->path,
                       show_key(key).text, kv->v.i64, target);
    return es_fail(err, "%s: key %s: value %" PRIu64 " is out of range for %s", f->path,
                   show_key(key).text, kv->v.u64, target);
}

int gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out, es_error *err) {
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv) return 1;
    if (!is_unsigned_int(kv->type) && !is_signed_int(kv->type))
        return wrong_type(f, key, "an integer", kv, err);
    if (is_signed_int(kv->type) ? kv->v.i64 < 0 || kv->v.i64 > UINT32_MAX : kv->v.u64 > UINT32_MAX)
        return out_of_range(f, key, kv, "a 32-bit unsigned integer", err);
    *out = is_signed_int(kv->type) ? (uint32_t)kv->v.i64 : (uint32_t)kv->v.u64;
    return 0;
}

int gguf_get_i64(const gguf_file *f, const char *key, int64_t *out, es_error *err) {
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv) return 1;
    if (!is_unsigned_int(kv->type) && !is_signed_int(kv->type))
        return wrong_type(f, key, "an integer", kv, err);
    if (is_unsigned_int(kv->type) && kv->v.u64 > INT64_MAX)
        return out_of_range(f, key, kv, "a 64-bit signed integer", err);
    *out = is_signed_int(kv->type) ? kv->v.i64 : (int64_t)kv->v.u64;
    return 0;
}

int gguf_get_f32(const gguf_file *f, const char *key, float *out, es_error *err) {
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv) return 1;
    if (kv->type != GGUF_TYPE_FLOAT32 && kv->type != GGUF_TYPE_FLOAT64)
        return wrong_type(f, key, "a float", kv, err);
    /* A finite double beyond float's range would silently become infinite. */
    if (isfinite(kv->v.f64) && fabs(kv->v.f64) > FLT_MAX)
        return es_fail(err, "%s: key %s: value %g is out of range for a 32-bit float", f->path,
                       show_key(key).text, kv->v.f64);
    *out = (float)kv->v.f64;
    return 0;
}

int gguf_get_bool(const gguf_file *f, const char *key, int *out, es_error *err) {
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv) return 1;
    if (kv->type != GGUF_TYPE_BOOL) return wrong_type(f, key, "a bool", kv, err);
    *out = kv->v.u64 != 0;
    return 0;
}

int gguf_get_str(const gguf_file *f, const char *key, gguf_str *out, es_error *err) {
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv) return 1;
    if (kv->type != GGUF_TYPE_STRING) return wrong_type(f, key, "a string", kv, err);
    *out = kv->v.str;
    return 0;
}

int gguf_get_arr(const gguf_file *f, const char *key, gguf_type elem_type,
                 const gguf_kv **out, es_error *err) {
    const gguf_kv *kv = gguf_find_kv(f, key);
    char expected[48];
    if (!kv) return 1;
    if (kv->type != GGUF_TYPE_ARRAY || kv->v.arr.type != elem_type) {
        snprintf(expected, sizeof expected, "an array of %s", gguf_type_name(elem_type));
        return wrong_type(f, key, expected, kv, err);
    }
    *out = kv;
    return 0;
}
