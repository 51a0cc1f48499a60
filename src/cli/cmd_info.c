/* `entroscope info`: what a model file holds. */
#include <getopt.h>

#include "cli/cli.h"

static void help(FILE *out) {
    fprintf(out,
        "usage: entroscope info MODEL [-z TOKENIZER]\n\n"
        "Prints the architecture, shape, tensor types, vocabulary and context length, and the\n"
        "kernel sets this CPU runs.\n\n"
        "  -z, --tokenizer PATH  tokenizer for a llama2.c checkpoint\n"
        "  -h, --help            this text\n");
}

int cmd_info(int argc, char **argv) {
    static const struct option longs[] = {
        {"tokenizer", required_argument, 0, 'z'}, {"model", required_argument, 0, 'm'},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0},
    };
    const char *model_path = NULL, *tok_path = NULL;
    int opt;
    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, ":z:m:h", longs, NULL)) != -1) {
        switch (opt) {
        case 'z': tok_path = optarg; break;
        case 'm': model_path = optarg; break;
        case 'h': help(stdout); return CLI_OK;
        case ':': cli_error("info: option %s needs a value", argv[optind - 1]); return CLI_BAD_INPUT;
        default: cli_error("info: unknown option '%s' (see entroscope info --help)", argv[optind - 1]); return CLI_BAD_INPUT;
        }
    }
    if (!model_path && optind < argc) model_path = argv[optind++];
    if (!model_path || optind < argc) {
        cli_error("info: give exactly one MODEL");
        return CLI_BAD_INPUT;
    }
    es_error err;
    es_model *model = es_model_load(model_path, tok_path, &err);
    if (!model) {
        cli_error("%s", err.msg);
        return CLI_BAD_INPUT;
    }
    es_model_print_info(model, stdout);
    /* not the file's: this CPU's, which decide the last bits of every number */
    es_kernels best = es_kernels_resolve(ES_KERNELS_BEST);
    printf("kernels         %s on this CPU (--kernels:", es_kernels_name(best));
    for (es_kernels k = ES_KERNELS_AVX512; k >= ES_KERNELS_PORTABLE; k--)
        if (es_kernels_resolve(k) == k) printf(" %s", es_kernels_name(k));
    printf(")\n");
    es_model_free(model);
    return CLI_OK;
}
