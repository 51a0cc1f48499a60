/* `entroscope merge`: the shards of a study (entroscope run --shard I/N)
 * combined into one trace database (es_trace_merge). */
#include <getopt.h>

#include "cli/cli.h"

static void help(FILE *out) {
    fprintf(out,
        "usage: entroscope merge A.db B.db ... -o ALL.db\n\n"
        "Combines the study runs of several trace databases (the shards of one run) into one run\n"
        "in ALL.db, the items in the order of the whole run. The inputs must hold runs of the same\n"
        "study, model and settings (the shard apart). ALL.db is written to a temporary file and\n"
        "renamed, so it appears whole or not at all. Grade it afterwards: entroscope grade ALL.db.\n\n"
        "  -o, --output DB   the merged database (replaced if it exists)\n"
        "  -q, --quiet       no summary line\n"
        "  -h, --help        this text\n");
}

int cmd_merge(int argc, char **argv) {
    static const struct option longs[] = {
        {"output", required_argument, 0, 'o'}, {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0},
    };
    const char *out = NULL;
    int opt, quiet = 0;
    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, ":o:qh", longs, NULL)) != -1) {
        switch (opt) {
        case 'o': out = optarg; break;
        case 'q': quiet = 1; break;
        case 'h': help(stdout); return CLI_OK;
        case ':': cli_error("merge: option %s needs a value", argv[optind - 1]); return CLI_BAD_INPUT;
        default: cli_error("merge: unknown option '%s' (see entroscope merge --help)", argv[optind - 1]); return CLI_BAD_INPUT;
        }
    }
    if (!out || optind >= argc) {
        cli_error("merge: give the input databases and -o OUTPUT");
        return CLI_BAD_INPUT;
    }
    es_error err;
    size_t n_items = 0;
    int n_in = argc - optind;
    if (es_trace_merge((const char *const *)argv + optind, n_in, out, &n_items, &err) < 0) {
        cli_error("%s", err.msg);
        return CLI_BAD_INPUT;
    }
    if (!quiet) fprintf(stderr, "merged %d files, %zu items, into %s\n", n_in, n_items, out);
    return CLI_OK;
}
