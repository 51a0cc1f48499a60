/* Small helpers shared by the subcommands: error printing, strict number
 * parsing, reading a file. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

void cli_error(const char *fmt, ...) {
    va_list ap;
    fputs("entroscope: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int cli_parse_int(const char *option, const char *text, long min, long max, int *out) {
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end) {
        cli_error("%s: '%s' is not an integer", option, text);
        return -1;
    }
    if (v < min || v > max) {
        cli_error("%s: %ld is out of range [%ld, %ld]", option, v, min, max);
        return -1;
    }
    *out = (int)v;
    return 0;
}

int cli_parse_u64(const char *option, const char *text, uint64_t *out) {
    char *end;
    errno = 0;
    if (text[0] == '-') {
        cli_error("%s: '%s' must not be negative", option, text);
        return -1;
    }
    unsigned long long v = strtoull(text, &end, 10);
    if (errno || end == text || *end) {
        cli_error("%s: '%s' is not a non-negative integer", option, text);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_parse_float(const char *option, const char *text, double min, double max, float *out) {
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end || !isfinite(v)) {
        cli_error("%s: '%s' is not a number", option, text);
        return -1;
    }
    if (v < min || v > max) {
        cli_error("%s: %g is out of range [%g, %g]", option, v, min, max);
        return -1;
    }
    *out = (float)v;
    return 0;
}

int cli_read_file(const char *path, char **data, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        cli_error("%s: %s", path, strerror(errno));
        return -1;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf) break;
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) break;
        char *bigger = realloc(buf, cap * 2);
        if (!bigger) { free(buf); buf = NULL; break; }
        buf = bigger;
        cap *= 2;
    }
    int read_errno = ferror(f) ? errno : 0;
    fclose(f);
    if (!buf || read_errno) {
        cli_error("%s: %s", path, buf ? strerror(read_errno) : "out of memory");
        free(buf);
        return -1;
    }
    *data = buf;
    *size = n;
    return 0;
}

int cli_choose_sampler(const char *command, const char *name, const char *config,
                       es_sampler_params *sampling, es_entropix_params *entropix) {
    if (!name) name = "default";
    int is_entropix = strcmp(name, "entropix") == 0;
    if (!is_entropix && strcmp(name, "greedy") != 0 && strcmp(name, "default") != 0) {
        cli_error("%s: unknown sampler '%s' (greedy, default or entropix)", command, name);
        return -1;
    }
    if (config && !is_entropix) {
        cli_error("%s: --entropix-config needs --sampler entropix", command);
        return -1;
    }
    if (strcmp(name, "greedy") == 0) sampling->temperature = 0;
    if (!is_entropix) return 0;
    es_error err;
    *entropix = es_entropix_default_params();
    if (config && es_entropix_load_config(config, entropix, &err) < 0) {
        cli_error("%s", err.msg);
        return -1;
    }
    sampling->entropix = entropix;
    return 0;
}

int cli_parse_kernels(const char *command, const char *text, es_kernels *out) {
    es_kernels k;
    if (es_kernels_parse(text, &k) < 0) {
        cli_error("%s: --kernels: '%s' is not best, avx512, avx2 or portable", command, text);
        return -1;
    }
    if (es_kernels_resolve(k) != k && k != ES_KERNELS_BEST) {
        cli_error("%s: --kernels: this CPU does not run %s (its best is %s)", command, text,
                  es_kernels_name(es_kernels_resolve(ES_KERNELS_BEST)));
        return -1;
    }
    *out = k;
    return 0;
}
