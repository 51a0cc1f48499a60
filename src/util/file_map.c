/* See file_map.h for why the weights are read into huge pages. */
#include "util/file_map.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "util/error.h"

#define HUGE_PAGE ((size_t)2 << 20)

static int map_file(es_file_map *m, int fd, size_t size, const char *path, es_error *err) {
    void *p = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) return es_fail(err, "%s: cannot map: %s", path, strerror(errno));
    *m = (es_file_map){p, size, size};
    return 0;
}

void *es_huge_alloc(size_t size, size_t *alloc) {
    size_t rounded = (size + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
    if (rounded < size || rounded + HUGE_PAGE < rounded) return NULL;
    uint8_t *raw = mmap(NULL, rounded + HUGE_PAGE, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (raw == MAP_FAILED) return NULL;
    /* keep the aligned middle: huge pages need 2 MiB-aligned addresses */
    uint8_t *aligned = (uint8_t *)(((uintptr_t)raw + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
    if (aligned > raw) munmap(raw, (size_t)(aligned - raw));
    size_t tail = (size_t)(raw + rounded + HUGE_PAGE - (aligned + rounded));
    if (tail) munmap(aligned + rounded, tail);
#ifdef MADV_HUGEPAGE
    madvise(aligned, rounded, MADV_HUGEPAGE); /* advice: failure is harmless */
#endif
    *alloc = rounded;
    return aligned;
}

int es_file_map_open(es_file_map *m, int fd, size_t size, const char *path, es_error *err) {
    memset(m, 0, sizeof *m);
    const char *env = getenv("ENTROSCOPE_MMAP");
    if (env && strcmp(env, "1") == 0) return map_file(m, fd, size, path, err);
    size_t alloc = 0;
    uint8_t *buf = es_huge_alloc(size, &alloc);
    if (!buf) return map_file(m, fd, size, path, err);
    for (size_t done = 0; done < size;) {
        size_t chunk = size - done < ((size_t)1 << 30) ? size - done : (size_t)1 << 30;
        ssize_t got = pread(fd, buf + done, chunk, (off_t)done);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) {
            int e = got < 0 ? errno : 0;
            munmap(buf, alloc);
            if (e) return es_fail(err, "%s: cannot read: %s", path, strerror(e));
            return es_fail(err, "%s: the file shrank while it was read (%zu of %zu bytes)",
                           path, done, size);
        }
        done += (size_t)got;
    }
    mprotect(buf, alloc, PROT_READ); /* the weights are read-only, as when mapped */
    *m = (es_file_map){buf, size, alloc};
    return 0;
}

void es_file_map_close(es_file_map *m) {
    if (m && m->data && m->alloc) munmap(m->data, m->alloc);
    if (m) memset(m, 0, sizeof *m);
}
