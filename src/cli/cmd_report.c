/* `entroscope report`: the statistics and figures of study runs as one
 * self-contained HTML page (es_report), with the figures as SVG and their
 * numbers as CSV in --data-dir. */
#include <getopt.h>

#include "cli/cli.h"

static void help(FILE *out) {
    fprintf(out,
        "usage: entroscope report RUN.db [MORE.db ...] -o REPORT.html [--data-dir DIR] [--confidence CONF.json]\n\n"
        "Writes one HTML page (inline SVG, no network needed, no JavaScript) with, per study, the\n"
        "runs of every database side by side: accuracy, group sizes, means and medians, Mann-Whitney U,\n"
        "AUROC with bootstrap CI, Cohen's d, entropy and varentropy by generation step, per layer and\n"
        "per head, and (GSM8K) around the first error. Files are written under temporary names and\n"
        "renamed.\n\n"
        "  -o, --output FILE    the HTML page (replaced if it exists)\n"
        "  -d, --data-dir DIR   also write each figure as DIR/NAME.svg and its numbers as DIR/NAME.csv\n"
        "  -c, --confidence FILE  add a Confidence section: the evaluation (AUROC, PRR with CIs, beside\n"
        "                       the baselines), features and weights of a `confidence fit` file\n"
        "  -q, --quiet          no summary line\n"
        "  -h, --help           this text\n");
}

int cmd_report(int argc, char **argv) {
    static const struct option longs[] = {
        {"output", required_argument, 0, 'o'}, {"data-dir", required_argument, 0, 'd'},
        {"confidence", required_argument, 0, 'c'},
        {"quiet", no_argument, 0, 'q'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0},
    };
    const char *out = NULL, *data_dir = NULL, *conf = NULL;
    int opt, quiet = 0;
    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, ":o:d:c:qh", longs, NULL)) != -1) {
        switch (opt) {
        case 'o': out = optarg; break;
        case 'd': data_dir = optarg; break;
        case 'c': conf = optarg; break;
        case 'q': quiet = 1; break;
        case 'h': help(stdout); return CLI_OK;
        case ':': cli_error("report: option %s needs a value", argv[optind - 1]); return CLI_BAD_INPUT;
        default: cli_error("report: unknown option '%s' (see entroscope report --help)", argv[optind - 1]); return CLI_BAD_INPUT;
        }
    }
    if (!out || optind >= argc) {
        cli_error("report: give the trace databases and -o REPORT.html");
        return CLI_BAD_INPUT;
    }
    es_error err;
    int n_in = argc - optind;
    if (es_report((const char *const *)argv + optind, n_in, out, data_dir, conf, &err) < 0) {
        cli_error("%s", err.msg);
        return CLI_BAD_INPUT;
    }
    if (!quiet) fprintf(stderr, "wrote %s from %d database%s%s%s\n", out, n_in, n_in == 1 ? "" : "s",
                        data_dir ? ", figures and CSV in " : "", data_dir ? data_dir : "");
    return CLI_OK;
}
