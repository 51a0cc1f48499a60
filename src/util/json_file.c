/* See json_file.h. */
#include "util/json_file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

cJSON *es_json_read_file(const char *path, size_t max_bytes, es_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        es_fail(err, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    char *text = NULL;
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 && (size_t)size < max_bytes &&
        fseek(f, 0, SEEK_SET) == 0 && (text = malloc((size_t)size + 1)) &&
        fread(text, 1, (size_t)size, f) == (size_t)size)
        text[size] = 0;
    else {
        free(text);
        text = NULL;
    }
    fclose(f);
    if (!text) {
        es_fail(err, "%s: cannot read (or larger than %zu MiB)", path, max_bytes >> 20);
        return NULL;
    }
    cJSON *o = cJSON_Parse(text);
    free(text);
    if (!o) es_fail(err, "%s: not valid JSON", path);
    return o;
}
