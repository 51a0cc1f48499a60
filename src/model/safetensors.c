/* Safetensors reader (format and checks: safetensors.h). Each file is
 * memory-mapped and stays mapped while the set lives, so that the model's
 * tensors can point straight into it (BF16 weights used in place). The JSON
 * header is parsed with cJSON; every number in it is checked to be a whole
 * number in range before it becomes an offset or a size. */
#include "model/safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tensor/tensor.h"
#include "util/error.h"
#include "util/file_map.h"

/* Real headers are kilobytes (a 90B shard: ~100 KB); the reference
 * implementation refuses more than 100 MB. */
#define ST_MAX_HEADER ((uint64_t)100 << 20)
/* Integers JSON carries exactly (a double's 53-bit mantissa). */
#define ST_MAX_INT 9007199254740992.0

typedef struct st_file {
    char *path;      /* malloc'ed */
    es_file_map map; /* empty for a caller's buffer */
    cJSON *metadata; /* __metadata__ object, or NULL */
} st_file;

struct es_safetensors {
    es_st_tensor *tensors; /* (n) */
    int n, cap;
    st_file *files;        /* (n_files) */
    int n_files;
};

static const struct { const char *name; int size; int type; } dtypes[] = {
    {"F64", 8, -1},  {"F32", 4, ES_F32}, {"F16", 2, ES_F16}, {"BF16", 2, ES_BF16},
    {"I64", 8, -1},  {"I32", 4, -1},     {"I16", 2, -1},     {"I8", 1, -1},
    {"U64", 8, -1},  {"U32", 4, -1},     {"U16", 2, -1},     {"U8", 1, -1},
    {"BOOL", 1, -1}, {"F8_E4M3", 1, -1}, {"F8_E5M2", 1, -1},
};

int es_st_dtype_size(const char *dtype) {
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (strcmp(dtypes[i].name, dtype) == 0) return dtypes[i].size;
    return 0;
}

static int dtype_type(const char *dtype) {
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (strcmp(dtypes[i].name, dtype) == 0) return dtypes[i].type;
    return -1;
}

es_safetensors *es_st_new(void) { return calloc(1, sizeof(es_safetensors)); }

void es_st_free(es_safetensors *st) {
    if (!st) return;
    for (int i = 0; i < st->n; i++) free(st->tensors[i].name);
    for (int i = 0; i < st->n_files; i++) {
        es_file_map_close(&st->files[i].map);
        cJSON_Delete(st->files[i].metadata);
        free(st->files[i].path);
    }
    free(st->tensors);
    free(st->files);
    free(st);
}

const es_st_tensor *es_st_find(const es_safetensors *st, const char *name) {
    for (int i = 0; i < st->n; i++)
        if (strcmp(st->tensors[i].name, name) == 0) return &st->tensors[i];
    return NULL;
}

int es_st_count(const es_safetensors *st) { return st->n; }

const es_st_tensor *es_st_at(const es_safetensors *st, int i) {
    return i >= 0 && i < st->n ? &st->tensors[i] : NULL;
}

const char *es_st_metadata(const es_safetensors *st, const char *key) {
    for (int i = 0; i < st->n_files; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(st->files[i].metadata, key);
        if (cJSON_IsString(v)) return v->valuestring;
    }
    return NULL;
}

/* ------------------------------------------------------------- parsing -- */

/* A JSON number that is a whole number in [0, 2^53]; -1 otherwise. */
static int64_t json_uint(const cJSON *v) {
    if (!cJSON_IsNumber(v)) return -1;
    double d = v->valuedouble;
    if (!(d >= 0 && d <= ST_MAX_INT) || d != floor(d)) return -1;
    return (int64_t)d;
}

/* Fills t from one header entry; data_size: bytes after the header. */
static int parse_entry(const cJSON *e, const uint8_t *data, uint64_t data_size,
                       const char *path, es_st_tensor *t, uint64_t *begin, es_error *err) {
    const char *name = e->string;
    es_shown shown = es_show(name, strlen(name));
    if (!cJSON_IsObject(e)) return es_fail(err, "%s: tensor %s: not a JSON object", path, shown.text);
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(dtype) || !cJSON_IsArray(shape) || !cJSON_IsArray(offs))
        return es_fail(err, "%s: tensor %s: needs a dtype string, a shape array and a "
                       "data_offsets array", path, shown.text);
    int size = es_st_dtype_size(dtype->valuestring);
    if (size == 0)
        return es_fail(err, "%s: tensor %s: unknown dtype '%s'", path, shown.text,
                       es_show(dtype->valuestring, strlen(dtype->valuestring)).text);
    int n_dims = cJSON_GetArraySize(shape);
    if (n_dims > ES_ST_MAX_DIMS)
        return es_fail(err, "%s: tensor %s: %d dimensions (at most %d)", path, shown.text,
                       n_dims, ES_ST_MAX_DIMS);
    memset(t, 0, sizeof *t);
    uint64_t n_elems = 1;
    int d = 0;
    for (const cJSON *c = shape->child; c; c = c->next, d++) {
        int64_t v = json_uint(c);
        if (v < 0) return es_fail(err, "%s: tensor %s: shape[%d] is not a whole number "
                                  "in range", path, shown.text, d);
        t->shape[d] = v;
        /* every product stays <= data_size (< 2^63) or the entry fails */
        if (v != 0 && n_elems > data_size / (uint64_t)v) n_elems = UINT64_MAX;
        else n_elems *= (uint64_t)v;
    }
    int64_t b = cJSON_GetArraySize(offs) == 2 ? json_uint(offs->child) : -1;
    int64_t end = b >= 0 ? json_uint(offs->child->next) : -1;
    if (b < 0 || end < 0 || end < b)
        return es_fail(err, "%s: tensor %s: data_offsets must be two whole numbers "
                       "[begin, end] with begin <= end", path, shown.text);
    if ((uint64_t)end > data_size)
        return es_fail(err, "%s: tensor %s: data_offsets [%lld, %lld] run past the end of "
                       "the data (%llu bytes; truncated file?)", path, shown.text,
                       (long long)b, (long long)end, (unsigned long long)data_size);
    if (n_elems == UINT64_MAX || n_elems * (uint64_t)size != (uint64_t)(end - b))
        return es_fail(err, "%s: tensor %s: %lld bytes for a %s tensor of %s%llu elements",
                       path, shown.text, (long long)(end - b), dtype->valuestring,
                       n_elems == UINT64_MAX ? "more than " : "",
                       (unsigned long long)(n_elems == UINT64_MAX ? data_size : n_elems));
    t->name = strdup(name);
    if (!t->name) return es_fail(err, "%s: out of memory", path);
    snprintf(t->dtype, sizeof t->dtype, "%s", dtype->valuestring);
    t->type = dtype_type(t->dtype);
    t->n_dims = n_dims;
    t->data = data + b;
    t->n_bytes = (size_t)(end - b);
    *begin = (uint64_t)b;
    return 0;
}

typedef struct range { uint64_t begin, end; int index; } range;

static int range_cmp(const void *pa, const void *pb) {
    const range *a = pa, *b = pb;
    if (a->begin != b->begin) return a->begin < b->begin ? -1 : 1;
    if (a->end != b->end) return a->end < b->end ? -1 : 1;
    return 0;
}

/* The byte ranges must tile [0, data_size) exactly: no overlap, no gap. */
static int check_tiling(const es_st_tensor *ts, range *r, int n, uint64_t data_size,
                        const char *path, es_error *err) {
    qsort(r, (size_t)n, sizeof *r, range_cmp);
    uint64_t at = 0;
    for (int i = 0; i < n; i++) {
        if (r[i].begin < at)
            return es_fail(err, "%s: tensors %s and %s overlap", path,
                           es_show(ts[r[i - 1].index].name, strlen(ts[r[i - 1].index].name)).text,
                           es_show(ts[r[i].index].name, strlen(ts[r[i].index].name)).text);
        if (r[i].begin > at)
            return es_fail(err, "%s: data bytes %llu..%llu belong to no tensor", path,
                           (unsigned long long)at, (unsigned long long)r[i].begin);
        at = r[i].end;
    }
    if (at != data_size)
        return es_fail(err, "%s: %llu data bytes after the last tensor belong to none", path,
                       (unsigned long long)(data_size - at));
    return 0;
}

static int check_metadata(const cJSON *meta, const char *path, es_error *err) {
    if (!cJSON_IsObject(meta)) return es_fail(err, "%s: __metadata__ is not an object", path);
    for (const cJSON *c = meta->child; c; c = c->next)
        if (!cJSON_IsString(c))
            return es_fail(err, "%s: __metadata__ value %s is not a string", path,
                           es_show(c->string, strlen(c->string)).text);
    return 0;
}

/* Parses the header of a whole file image; fills *out (n_out entries) and
 * *meta. Everything is freed on failure. */
static int parse_header(const uint8_t *buf, size_t size, const char *path, es_st_tensor **out,
                        int *n_out, cJSON **meta, es_error *err) {
    if (size < 8)
        return es_fail(err, "%s: %zu bytes, too short for the 8-byte header length", path, size);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | buf[i];
    if (n > size - 8)
        return es_fail(err, "%s: header length %llu runs past the end of the file (%zu bytes)",
                       path, (unsigned long long)n, size);
    if (n > ST_MAX_HEADER)
        return es_fail(err, "%s: header length %llu is over the 100 MB limit", path,
                       (unsigned long long)n);
    const char *json_end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts((const char *)buf + 8, (size_t)n, &json_end, 0);
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        size_t off = at && at >= (const char *)buf + 8 ? (size_t)(at - (const char *)buf) : 8;
        return es_fail(err, "%s: the header is not valid JSON (near byte %zu)", path, off);
    }
    int rc = -1, n_t = 0, n_r = 0;
    const uint8_t *data = buf + 8 + n;
    uint64_t data_size = size - 8 - n;
    int cap = cJSON_GetArraySize(root);
    es_st_tensor *ts = calloc((size_t)cap + 1, sizeof *ts);
    range *r = calloc((size_t)cap + 1, sizeof *r);
    *meta = NULL;
    if (!cJSON_IsObject(root)) es_fail(err, "%s: the header is not a JSON object", path);
    else if (!ts || !r) es_fail(err, "%s: out of memory", path);
    else rc = 0;
    for (const cJSON *e = rc == 0 ? root->child : NULL; e; e = e->next) {
        if (strcmp(e->string, "__metadata__") == 0) {
            if ((rc = check_metadata(e, path, err)) < 0) break;
            continue;
        }
        if ((rc = parse_entry(e, data, data_size, path, &ts[n_t], &r[n_r].begin, err)) < 0) break;
        r[n_r].end = r[n_r].begin + ts[n_t].n_bytes;
        r[n_r++].index = n_t++;
    }
    if (rc == 0) rc = check_tiling(ts, r, n_r, data_size, path, err);
    if (rc == 0) {
        cJSON *m = cJSON_DetachItemFromObjectCaseSensitive(root, "__metadata__");
        *meta = m;
    }
    cJSON_Delete(root);
    free(r);
    if (rc < 0) {
        for (int i = 0; i < n_t; i++) free(ts[i].name);
        free(ts);
        return -1;
    }
    *out = ts;
    *n_out = n_t;
    return 0;
}

/* Appends a parsed file to the set, refusing names it already holds. */
static int add_parsed(es_safetensors *st, const char *path, const es_file_map *map,
                      es_st_tensor *ts, int n, cJSON *meta, es_error *err) {
    for (int i = 0; i < n; i++) {
        const char *dup = NULL;
        for (int j = 0; j < i && !dup; j++)
            if (strcmp(ts[j].name, ts[i].name) == 0) dup = path;
        const es_st_tensor *old = dup ? NULL : es_st_find(st, ts[i].name);
        if (old) dup = old->file;
        if (dup)
            return es_fail(err, "%s: tensor %s appears twice (also in %s)", path,
                           es_show(ts[i].name, strlen(ts[i].name)).text, dup);
    }
    st_file *files = realloc(st->files, (size_t)(st->n_files + 1) * sizeof *files);
    if (!files) return es_fail(err, "%s: out of memory", path);
    st->files = files;
    if (st->n + n > st->cap) {
        int cap = st->cap * 2 > st->n + n ? st->cap * 2 : st->n + n;
        es_st_tensor *grown = realloc(st->tensors, (size_t)cap * sizeof *grown);
        if (!grown) return es_fail(err, "%s: out of memory", path);
        st->tensors = grown;
        st->cap = cap;
    }
    char *copy = strdup(path);
    if (!copy) return es_fail(err, "%s: out of memory", path);
    files[st->n_files++] = (st_file){copy, map ? *map : (es_file_map){0}, meta};
    for (int i = 0; i < n; i++) {
        ts[i].file = copy;
        st->tensors[st->n++] = ts[i];
    }
    return 0;
}

int es_st_add_buffer(es_safetensors *st, const void *buf, size_t size, const char *name,
                     es_error *err) {
    es_st_tensor *ts = NULL;
    int n = 0;
    cJSON *meta = NULL;
    if (parse_header(buf, size, name, &ts, &n, &meta, err) < 0) return -1;
    if (add_parsed(st, name, NULL, ts, n, meta, err) < 0) {
        for (int i = 0; i < n; i++) free(ts[i].name);
        free(ts);
        cJSON_Delete(meta);
        return -1;
    }
    free(ts);
    return 0;
}

int es_st_add_file(es_safetensors *st, const char *path, es_error *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return es_fail(err, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return es_fail(err, "%s: not a regular file", path);
    }
    size_t size = (size_t)sb.st_size;
    if (size < 8) {
        close(fd);
        return es_fail(err, "%s: %zu bytes, too short for the 8-byte header length", path, size);
    }
    es_file_map fm;
    int rc = es_file_map_open(&fm, fd, size, path, err);
    close(fd);
    if (rc < 0) return -1;
    void *map = fm.data;
    es_st_tensor *ts = NULL;
    int n = 0;
    cJSON *meta = NULL;
    if (parse_header(map, size, path, &ts, &n, &meta, err) < 0) {
        es_file_map_close(&fm);
        return -1;
    }
    if (add_parsed(st, path, &fm, ts, n, meta, err) < 0) {
        for (int i = 0; i < n; i++) free(ts[i].name);
        free(ts);
        cJSON_Delete(meta);
        es_file_map_close(&fm);
        return -1;
    }
    free(ts);
    return 0;
}
