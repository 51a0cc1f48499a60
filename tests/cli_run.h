/* Running the entroscope binary from the tests, as a user would: path in
 * ENTROSCOPE_BIN (default build/entroscope); exit status, stdout and stderr
 * captured. */
#ifndef ES_TESTS_CLI_RUN_H
#define ES_TESTS_CLI_RUN_H

typedef struct run_result {
    int status;    /* exit status, or -1 if it did not exit normally */
    char out[16384];
    char err[4096];
} run_result;

const char *cli_binary(void);
/* Runs the binary with a NULL-terminated argument list (argv[0] excluded). */
void cli_run(run_result *r, const char *const *args);

/* The trace tests of suite cli (test_cli_trace.c). */
void cli_trace_tests(void);

#endif
