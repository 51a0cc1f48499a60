/* The command line: a thin layer over entroscope.h. Each subcommand is one
 * function taking its own argv (argv[0] is the subcommand name) and
 * returning the process exit status. Errors are printed once, here, as
 * "entroscope: MESSAGE". Exit status: 0 success, 2 bad arguments or bad
 * input files, 1 anything else. */
#ifndef ES_CLI_CLI_H
#define ES_CLI_CLI_H

#include "entroscope.h"

enum { CLI_OK = 0, CLI_FAILURE = 1, CLI_BAD_INPUT = 2 };

int cmd_generate(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_synth(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_grade(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_merge(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_confidence(int argc, char **argv);
int cmd_world(int argc, char **argv);
int cmd_train(int argc, char **argv);

/* Prints "entroscope: " + the formatted message + newline on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Strict number parsing for option values; on failure prints
 * "entroscope: OPTION: 'TEXT' is not ..." and returns -1. */
int cli_parse_int(const char *option, const char *text, long min, long max, int *out);
int cli_parse_u64(const char *option, const char *text, uint64_t *out);
/* --kernels NAME for `command`: one of es_kernels_name's names that this CPU
 * runs (a set it lacks is refused rather than replaced, since the point of
 * naming one is its exact numbers). */
int cli_parse_kernels(const char *command, const char *text, es_kernels *out);
int cli_parse_float(const char *option, const char *text, double min, double max, float *out);
/* --sampler NAME (greedy, default or entropix; NULL: default) and
 * --entropix-config FILE into sampling; entropix holds the entropix
 * settings that sampling then points to. Errors name the command. */
int cli_choose_sampler(const char *command, const char *name, const char *config,
                       es_sampler_params *sampling, es_entropix_params *entropix);
/* Reads a whole file into a malloc'ed buffer, exactly its bytes. */
int cli_read_file(const char *path, char **data, size_t *size);

#endif
