/* Safetensors writer, for `entroscope synth --format safetensors` and the
 * tests: tensors are collected in memory, then the header (JSON built with
 * cJSON, padded with spaces to a multiple of 8 bytes) and the data are
 * written to a temporary file beside the target, renamed into place only
 * when complete. Tensors are laid out in the order they were added. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/safetensors.h"
#include "util/error.h"

typedef struct st_entry {
    char *name;
    char dtype[8];
    int n_dims;
    int64_t shape[ES_ST_MAX_DIMS];
    void *data; /* malloc'ed copy */
    size_t n_bytes;
} st_entry;

struct es_st_writer {
    st_entry *entries; /* (n) */
    int n, cap;
    cJSON *metadata;   /* object of strings, or NULL */
};

es_st_writer *es_st_writer_new(void) { return calloc(1, sizeof(es_st_writer)); }

void es_st_writer_free(es_st_writer *w) {
    if (!w) return;
    for (int i = 0; i < w->n; i++) {
        free(w->entries[i].name);
        free(w->entries[i].data);
    }
    free(w->entries);
    cJSON_Delete(w->metadata);
    free(w);
}

int es_st_writer_add(es_st_writer *w, const char *name, const char *dtype, int n_dims,
                     const int64_t *shape, const void *data, size_t n_bytes) {
    if (n_dims < 0 || n_dims > ES_ST_MAX_DIMS || strlen(dtype) >= sizeof w->entries->dtype)
        return -1;
    if (w->n == w->cap) {
        int cap = w->cap ? w->cap * 2 : 64;
        st_entry *grown = realloc(w->entries, (size_t)cap * sizeof *grown);
        if (!grown) return -1;
        w->entries = grown;
        w->cap = cap;
    }
    st_entry *e = &w->entries[w->n];
    memset(e, 0, sizeof *e);
    e->name = strdup(name);
    e->data = malloc(n_bytes ? n_bytes : 1);
    if (!e->name || !e->data) {
        free(e->name);
        free(e->data);
        return -1;
    }
    memcpy(e->data, data, n_bytes);
    snprintf(e->dtype, sizeof e->dtype, "%s", dtype);
    e->n_dims = n_dims;
    memcpy(e->shape, shape, (size_t)n_dims * sizeof *shape);
    e->n_bytes = n_bytes;
    w->n++;
    return 0;
}

int es_st_writer_set_metadata(es_st_writer *w, const char *key, const char *value) {
    if (!w->metadata && !(w->metadata = cJSON_CreateObject())) return -1;
    cJSON_DeleteItemFromObjectCaseSensitive(w->metadata, key);
    return cJSON_AddStringToObject(w->metadata, key, value) ? 0 : -1;
}

/* The header JSON, unpadded; NULL when out of memory. */
static char *header_json(const es_st_writer *w) {
    cJSON *root = cJSON_CreateObject();
    int ok = root != NULL;
    if (ok && w->metadata) {
        cJSON *m = cJSON_Duplicate(w->metadata, 1);
        ok = m && cJSON_AddItemToObject(root, "__metadata__", m);
    }
    size_t offset = 0;
    for (int i = 0; ok && i < w->n; i++) {
        const st_entry *e = &w->entries[i];
        cJSON *t = cJSON_AddObjectToObject(root, e->name);
        cJSON *shape = t ? cJSON_AddArrayToObject(t, "shape") : NULL;
        cJSON *offs = shape ? cJSON_AddArrayToObject(t, "data_offsets") : NULL;
        ok = offs && cJSON_AddStringToObject(t, "dtype", e->dtype);
        for (int d = 0; ok && d < e->n_dims; d++)
            ok = cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)e->shape[d]));
        if (ok) ok = cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)offset));
        offset += e->n_bytes;
        if (ok) ok = cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)offset));
    }
    char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return text;
}

/* Writes all of buf to fd; 0 or an errno value. */
static int write_all(int fd, const void *buf, size_t n) {
    const char *p = buf;
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Opens a temporary file beside path, calls fill, renames it into place. */
static int write_atomic(const char *path, int (*fill)(int fd, const void *arg),
                        const void *arg, es_error *err) {
    size_t tmp_size = strlen(path) + 32;
    char *tmp = malloc(tmp_size);
    if (!tmp) return es_fail(err, "%s: out of memory", path);
    snprintf(tmp, tmp_size, "%s.tmp.%ld", path, (long)getpid());
    int e = 0, fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) e = errno;
    if (!e) e = fill(fd, arg);
    if (!e && fsync(fd) != 0) e = errno;
    if (fd >= 0 && close(fd) != 0 && !e) e = errno;
    if (!e && rename(tmp, path) != 0) e = errno;
    if (e) unlink(tmp);
    free(tmp);
    return e ? es_fail(err, "%s: cannot write: %s", path, strerror(e)) : 0;
}

typedef struct bytes { const void *data; size_t size; } bytes;

static int fill_bytes(int fd, const void *arg) {
    const bytes *b = arg;
    return write_all(fd, b->data, b->size);
}

int es_write_file_atomic(const char *path, const void *data, size_t size, es_error *err) {
    bytes b = {data, size};
    return write_atomic(path, fill_bytes, &b, err);
}

typedef struct st_image { const es_st_writer *w; const char *header; size_t padded; } st_image;

static int fill_safetensors(int fd, const void *arg) {
    const st_image *img = arg;
    uint8_t len[8];
    for (int i = 0; i < 8; i++) len[i] = (uint8_t)((uint64_t)img->padded >> (8 * i));
    size_t hl = strlen(img->header);
    int e = write_all(fd, len, 8);
    if (!e) e = write_all(fd, img->header, hl);
    static const char spaces[8] = "        ";
    if (!e) e = write_all(fd, spaces, img->padded - hl);
    for (int i = 0; !e && i < img->w->n; i++)
        e = write_all(fd, img->w->entries[i].data, img->w->entries[i].n_bytes);
    return e;
}

int es_st_writer_write(es_st_writer *w, const char *path, es_error *err) {
    char *header = header_json(w);
    if (!header) return es_fail(err, "%s: out of memory", path);
    /* 8 length bytes + padded header: the data starts 8-byte aligned */
    size_t hl = strlen(header);
    st_image img = {w, header, (hl + 7) / 8 * 8};
    int rc = write_atomic(path, fill_safetensors, &img, err);
    free(header);
    return rc;
}
