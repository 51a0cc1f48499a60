/* A small test harness: CHECK records a failure and goes on, so that one run
 * shows every broken assertion. Each test file defines suite functions
 * (listed in tests/run_tests.c); each suite calls TEST_BEGIN per case. */
#ifndef ES_TESTS_TEST_H
#define ES_TESTS_TEST_H

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct test_state {
    int passed, failed, skipped;
    const char *current;  /* name of the running case */
    int current_failed;   /* failures in the running case */
    const char *filter;   /* run only cases whose name contains this */
} test_state;

extern test_state g_test; /* the harness's own bookkeeping, defined in run_tests.c */

/* Starts a case; returns 0 if the filter skips it. */
int test_begin(const char *name);
void test_end(void);
void test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void test_skip(const char *why);
/* Path of a file in ../shared (relative to the repository root), or NULL with
 * a skip message if absent. */
const char *test_shared(const char *rel);
/* A fresh temporary directory for this run (created once). */
const char *test_tmpdir(void);
/* A whole file, NUL-terminated and malloc'ed (free it), or NULL. */
char *test_read_file(const char *path);

#define TEST(name) for (int test_once_ = test_begin(name); test_once_; test_once_ = 0, test_end())
#define CHECK(cond) do { if (!(cond)) test_fail(__FILE__, __LINE__, "%s", #cond); } while (0)
#define CHECKF(cond, ...) do { if (!(cond)) test_fail(__FILE__, __LINE__, __VA_ARGS__); } while (0)
#define CHECK_INT(a, b) do { long long a_ = (long long)(a), b_ = (long long)(b); \
    if (a_ != b_) test_fail(__FILE__, __LINE__, "%s == %lld, expected %lld", #a, a_, b_); } while (0)
#define CHECK_STR(a, b) do { const char *a_ = (a), *b_ = (b); \
    if (!a_ || strcmp(a_, b_) != 0) test_fail(__FILE__, __LINE__, "%s == \"%s\", expected \"%s\"", #a, a_ ? a_ : "(null)", b_); } while (0)
/* |a - b| <= tol * max(1, |b|) */
#define CHECK_NEAR(a, b, tol) do { double a_ = (a), b_ = (b); \
    if (!(fabs(a_ - b_) <= (tol) * fmax(1.0, fabs(b_)))) test_fail(__FILE__, __LINE__, "%s == %.9g, expected %.9g (tol %g)", #a, a_, b_, (double)(tol)); } while (0)

/* The suites. */
void suite_kernels(void);
void suite_kernel_tiles(void);
void suite_gguf(void);
void suite_tokenizer(void);
void suite_model(void);
void suite_sampler(void);
void suite_cli(void);
void suite_kquant(void);
void suite_hf(void);
void suite_chat(void);
void suite_probes(void);
void suite_trace(void);
void suite_bench(void);
void suite_study(void);
void suite_run(void);
void suite_grade(void);
void suite_report_figures(void);
void suite_report(void);
void suite_entropix(void);
void suite_server(void);
void suite_confidence(void);
void suite_world(void);
void suite_bpe_learn(void);
void suite_train(void);
void suite_openai_client(void);
void suite_world_model(void);

#endif
