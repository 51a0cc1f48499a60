/* The test runner: runs every suite (or those named on the command line,
 * and only cases whose name contains --filter TEXT) and ends with the line
 * "N passed, N failed". Exit status 0 only if nothing failed. */
#include "test.h"

#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

test_state g_test;

int test_begin(const char *name) {
    if (g_test.filter && !strstr(name, g_test.filter)) return 0;
    g_test.current = name;
    g_test.current_failed = 0;
    return 1;
}

void test_end(void) {
    if (g_test.current_failed) {
        g_test.failed++;
        printf("FAIL %s\n", g_test.current);
    } else {
        g_test.passed++;
    }
    fflush(stdout);
}

void test_fail(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    if (g_test.current_failed < 10) {
        printf("  %s:%d: [%s] ", file, line, g_test.current ? g_test.current : "?");
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        printf("\n");
    }
    g_test.current_failed++;
}

void test_skip(const char *why) {
    g_test.skipped++;
    printf("SKIP %s: %s\n", g_test.current ? g_test.current : "?", why);
}

const char *test_shared(const char *rel) {
    static char buf[8][1024];
    static int slot;
    char *p = buf[slot++ % 8];
    const char *root = getenv("ENTROSCOPE_SHARED");
    snprintf(p, 1024, "%s/%s", root && root[0] ? root : "../shared", rel);
    if (access(p, R_OK) != 0) {
        char why[1200];
        snprintf(why, sizeof why, "missing %s", p);
        test_skip(why);
        return NULL;
    }
    return p;
}

const char *test_tmpdir(void) {
    static char dir[256];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "%s/entroscope-test-XXXXXX",
                 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
        if (!mkdtemp(dir)) {
            perror("mkdtemp");
            exit(2);
        }
    }
    return dir;
}

char *test_read_file(const char *path) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    char *s = NULL;
    long n = -1;
    if (fseek(fp, 0, SEEK_END) == 0 && (n = ftell(fp)) >= 0 && fseek(fp, 0, SEEK_SET) == 0 &&
        (s = malloc((size_t)n + 1)) != NULL) {
        if (fread(s, 1, (size_t)n, fp) != (size_t)n) n = 0;
        s[n] = 0;
    }
    fclose(fp);
    return s;
}

static void remove_tree(const char *dir) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

/* Weak, so that a partial build (one module and its tests) links; a suite
 * that is absent is reported as such. */
#pragma weak suite_kernels
#pragma weak suite_kernel_tiles
#pragma weak suite_gguf
#pragma weak suite_tokenizer
#pragma weak suite_model
#pragma weak suite_sampler
#pragma weak suite_cli
#pragma weak suite_kquant
#pragma weak suite_hf
#pragma weak suite_chat
#pragma weak suite_probes
#pragma weak suite_trace
#pragma weak suite_bench
#pragma weak suite_study
#pragma weak suite_run
#pragma weak suite_grade
#pragma weak suite_report_figures
#pragma weak suite_report
#pragma weak suite_entropix
#pragma weak suite_server
#pragma weak suite_confidence
#pragma weak suite_world
#pragma weak suite_bpe_learn
#pragma weak suite_train
#pragma weak suite_openai_client
#pragma weak suite_world_model

typedef struct suite { const char *name; void (*run)(void); } suite;

static const suite suites[] = {
    {"kernels", suite_kernels},     {"kernel_tiles", suite_kernel_tiles}, {"gguf", suite_gguf},
    {"tokenizer", suite_tokenizer}, {"model", suite_model},
    {"sampler", suite_sampler},     {"kquant", suite_kquant},
    {"hf", suite_hf},               {"chat", suite_chat},
    {"probes", suite_probes},       {"trace", suite_trace},
    {"bench", suite_bench},         {"cli", suite_cli},
    {"study", suite_study},         {"grade", suite_grade},
    {"run", suite_run},             {"report_figures", suite_report_figures},
    {"report", suite_report},       {"entropix", suite_entropix}, {"server", suite_server},
    {"confidence", suite_confidence}, {"world", suite_world},
    {"bpe_learn", suite_bpe_learn}, {"train", suite_train},
    {"openai_client", suite_openai_client}, {"world_model", suite_world_model},
};

int main(int argc, char **argv) {
    const char *only[16];
    int n_only = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--filter") == 0 && i + 1 < argc) g_test.filter = argv[++i];
        else if (n_only < 16) only[n_only++] = argv[i];
    }
    for (size_t s = 0; s < sizeof suites / sizeof suites[0]; s++) {
        int run = n_only == 0;
        for (int i = 0; i < n_only; i++) run |= strcmp(only[i], suites[s].name) == 0;
        if (!run) continue;
        if (!suites[s].run) {
            printf("== %s: not linked in\n", suites[s].name);
            continue;
        }
        printf("== %s\n", suites[s].name);
        fflush(stdout);
        suites[s].run();
    }
    if (test_tmpdir()[0]) remove_tree(test_tmpdir());
    printf("%d skipped\n", g_test.skipped);
    printf("%d passed, %d failed\n", g_test.passed, g_test.failed);
    return g_test.failed ? 1 : 0;
}
