/* entroscope's entry point: finds the subcommand and hands over. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"generate", cmd_generate, "generate text from a prompt"},
    {"tokenize", cmd_tokenize, "print the token ids of a text"},
    {"info", cmd_info, "describe a model file"},
    {"synth", cmd_synth, "write a random-weight model of a given shape"},
    {"bench", cmd_bench, "measure prefill and decode speed, probes on and off"},
    {"export", cmd_export, "write a trace database's tokens or heads as CSV or JSON lines"},
    {"run", cmd_run, "run a study (factual-creative, simpleqa, gsm8k) into a trace database"},
    {"merge", cmd_merge, "combine the shards of a study run into one trace database"},
    {"grade", cmd_grade, "grade a study trace (SimpleQA, GSM8K) and locate first errors"},
    {"report", cmd_report, "write the statistics and figures of study runs as an HTML page"},
    {"serve", cmd_serve, "serve a model over an OpenAI-compatible HTTP API with token statistics"},
    {"confidence", cmd_confidence, "fit a per-token confidence model on graded traces, or apply one"},
    {"world", cmd_world, "write a generated world of facts, sums and stories (corpus and test sets)"},
    {"train", cmd_train, "train a Llama-architecture model from scratch on a corpus"},
};

static void usage(FILE *out) {
    fprintf(out, "entroscope %s: looks inside Llama-family models while they generate\n\n"
                 "usage: entroscope COMMAND [options]   (entroscope COMMAND --help for its options)\n\n"
                 "commands:\n", ENTROSCOPE_VERSION);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return CLI_BAD_INPUT;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return CLI_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("entroscope %s\n", ENTROSCOPE_VERSION);
        return CLI_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].run(argc - 1, argv + 1);
    cli_error("unknown command '%s' (try entroscope --help)", argv[1]);
    return CLI_BAD_INPUT;
}
