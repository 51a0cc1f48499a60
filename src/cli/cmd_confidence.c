/* `entroscope confidence`: fit a per-token confidence model on graded
 * traces (with its cross-validated evaluation) and apply one to stored
 * tokens (src/confidence). */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "confidence/confidence.h"

static void help(FILE *out) {
    fprintf(out,
        "usage: entroscope confidence fit RUN.db [MORE.db ...] -o CONF.json [--folds K] [--l2 L]\n"
        "       entroscope confidence apply CONF.json RUN.db [MORE.db ...] [-o ITEMS.csv]\n\n"
        "fit: L2-regularised logistic regression of a token's P(error) on standardised features\n"
        "(logit entropy, varentropy, token probability, per-layer attention entropy and varentropy,\n"
        "raw and normalised by ln(pos + 1)). Errors: the first-error span's tokens of incorrect\n"
        "GSM8K answers and the tokens of INCORRECT SimpleQA answers; against the tokens of correct\n"
        "answers. Evaluated by K-fold cross-validation grouped by item: AUROC and PRR with bootstrap\n"
        "CIs at token and answer level (mean and min of the tokens' confidence), beside max softmax\n"
        "probability, logit entropy, perplexity and mean attention entropy. The file (features,\n"
        "weights, normalisation, evaluation) is written whole or not at all.\n"
        "apply: every answer's confidence (mean and min over its tokens) as CSV (stdout or -o).\n\n"
        "  -o, --output FILE   fit: the model (JSON); apply: the CSV\n"
        "      --folds K       cross-validation folds (default 5)\n"
        "      --l2 L          L2 penalty on the standardised weights (default 1.0)\n"
        "      --seed S        of the folds and the bootstrap (default 1)\n"
        "  -q, --quiet         no summary line\n"
        "  -h, --help          this text\n");
}

typedef struct conf_opts {
    const char *out;
    int folds, quiet;
    float l2;
    uint64_t seed;
} conf_opts;

/* 0 ok, 1 help shown, -1 bad arguments; optind is then the first file. */
static int parse(int argc, char **argv, conf_opts *o) {
    static const struct option longs[] = {
        {"output", required_argument, 0, 'o'}, {"folds", required_argument, 0, 'k'},
        {"l2", required_argument, 0, 'l'},     {"seed", required_argument, 0, 's'},
        {"quiet", no_argument, 0, 'q'},        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0},
    };
    int opt;
    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, ":o:qh", longs, NULL)) != -1) {
        int rc = 0;
        switch (opt) {
        case 'o': o->out = optarg; break;
        case 'k': rc = cli_parse_int("--folds", optarg, 2, 100, &o->folds); break;
        case 'l': rc = cli_parse_float("--l2", optarg, 0, 1e9, &o->l2); break;
        case 's': rc = cli_parse_u64("--seed", optarg, &o->seed); break;
        case 'q': o->quiet = 1; break;
        case 'h': help(stdout); return 1;
        case ':': cli_error("confidence: option %s needs a value", argv[optind - 1]); return -1;
        default: cli_error("confidence: unknown option '%s' (see entroscope confidence --help)", argv[optind - 1]); return -1;
        }
        if (rc) return -1;
    }
    return 0;
}

static int fit(const conf_opts *o, int n, char **paths) {
    if (!o->out || n < 1) {
        cli_error("confidence fit: give the trace databases and -o CONF.json");
        return CLI_BAD_INPUT;
    }
    cf_fit_params p = {.folds = o->folds, .l2 = o->l2, .bootstrap = 1000, .seed = o->seed,
                       .progress = o->quiet ? NULL : stderr};
    es_error err;
    if (cf_fit((const char *const *)paths, n, &p, o->out, &err) < 0) {
        cli_error("%s", err.msg);
        return CLI_BAD_INPUT;
    }
    return CLI_OK;
}

static int apply(const conf_opts *o, int n, char **paths) {
    if (n < 2) {
        cli_error("confidence apply: give CONF.json and the trace databases");
        return CLI_BAD_INPUT;
    }
    es_error err;
    es_confidence *c = es_confidence_load(paths[0], &err);
    if (!c) {
        cli_error("%s", err.msg);
        return CLI_BAD_INPUT;
    }
    size_t len = o->out ? strlen(o->out) + 8 : 0;
    char *tmp = o->out ? malloc(len) : NULL;
    if (tmp) snprintf(tmp, len, "%s.tmp", o->out);
    FILE *out = o->out ? (tmp ? fopen(tmp, "wb") : NULL) : stdout;
    int status = CLI_OK;
    if (!out) {
        cli_error("%s: cannot write", o->out);
        status = CLI_FAILURE;
    } else if (cf_apply(c, (const char *const *)paths + 1, n - 1, out, &err) < 0) {
        cli_error("%s", err.msg);
        status = CLI_BAD_INPUT;
    }
    if (out && out != stdout && (fclose(out) != 0 || (status == CLI_OK && rename(tmp, o->out) != 0))) {
        cli_error("%s: cannot write", o->out);
        status = CLI_FAILURE;
    }
    if (tmp && status != CLI_OK) remove(tmp);
    free(tmp);
    es_confidence_free(c);
    return status;
}

int cmd_confidence(int argc, char **argv) {
    conf_opts o = {.folds = 5, .l2 = 1.0f, .seed = 1};
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        help(argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_BAD_INPUT : CLI_OK;
    }
    const char *what = argv[1];
    if (strcmp(what, "fit") != 0 && strcmp(what, "apply") != 0) {
        cli_error("confidence: unknown action '%s' (fit or apply)", what);
        return CLI_BAD_INPUT;
    }
    int prc = parse(argc - 1, argv + 1, &o);
    if (prc) return prc > 0 ? CLI_OK : CLI_BAD_INPUT;
    int n = argc - 1 - optind;
    char **paths = argv + 1 + optind;
    return strcmp(what, "fit") == 0 ? fit(&o, n, paths) : apply(&o, n, paths);
}
