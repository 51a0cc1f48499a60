/* Bringing a whole model file into memory, read-only, for the weights.
 *
 * Decode reads every weight once per token. With the file memory-mapped in
 * 4 KiB pages, streaming it costs a TLB miss every 4 KiB (and, in a virtual
 * machine, a two-level page walk each); measured on this project's 2-core
 * VM, a Q8_0 matrix streamed at 13.5-16.5 GB/s from the file mapping and at
 * 27-30 GB/s from anonymous memory in 2 MiB transparent huge pages. Mapping
 * the file with MADV_HUGEPAGE did not help (file-backed huge pages need
 * kernel support that is often absent). So by default the file is read into
 * anonymous memory advised for huge pages. Resident memory is the same as a
 * fully touched mapping: the file's size (the page cache it was read from
 * is not the process's and can be reclaimed).
 *
 * ENTROSCOPE_MMAP=1 in the environment keeps the plain file mapping (pages
 * loaded lazily, shared with other processes through the page cache); so
 * does a failed allocation. */
#ifndef ES_UTIL_FILE_MAP_H
#define ES_UTIL_FILE_MAP_H

#include <stddef.h>

#include "entroscope.h"

typedef struct es_file_map {
    void *data;   /* the file's bytes */
    size_t size;  /* the file's size */
    size_t alloc; /* bytes mapped at data (0: nothing) */
} es_file_map;

/* Anonymous memory of size bytes, 2 MiB aligned and advised for huge pages
 * (how the weights are held; the bandwidth measurement streams the same kind
 * of memory); *alloc receives the bytes to munmap. NULL if none could be had. */
void *es_huge_alloc(size_t size, size_t *alloc);

/* Reads (or maps) the size bytes of the open file fd. Messages name path. */
int es_file_map_open(es_file_map *m, int fd, size_t size, const char *path, es_error *err);
void es_file_map_close(es_file_map *m);

#endif
