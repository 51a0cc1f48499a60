/* `entroscope export`: a trace database's tokens or per-head values as a long
 * table (CSV or JSON lines), through es_trace_export. */
#include <getopt.h>
#include <string.h>

#include "cli/cli.h"

static void help(FILE *out) {
    fprintf(out,
        "usage: entroscope export DB [--what tokens|heads] [--format csv|jsonl] [-o FILE] [--bits] [--item N]\n\n"
        "Writes the trace database DB (from generate --trace) as a long table.\n"
        "  tokens: one line per evaluated position: item,step,pos,is_prompt,token_id,token_text,\n"
        "          logit_entropy,logit_varentropy,attn_entropy_mean,attn_varentropy_mean,\n"
        "          token_logprob,attn_entropy_norm_mean,run,key,row\n"
        "  heads:  one line per position, layer and head (rows recorded with probes):\n"
        "          item,step,pos,is_prompt,layer,head,attn_entropy,attn_varentropy,\n"
        "          attn_entropy_norm,layer_agreement,layer_interaction,token_id,run,key,row\n"
        "step is empty (null) on prompt rows, and so is any value not measured. Entropies are\n"
        "in nats, varentropies in nats^2; normalised entropy is H / ln(pos+1). Bytes that are\n"
        "not valid UTF-8 in token text are written as U+FFFD.\n\n"
        "  -w, --what TABLE     tokens (default) or heads\n"
        "  -f, --format FORMAT  csv (default, with a header line) or jsonl (one JSON object a line)\n"
        "  -o, --output FILE    write FILE (appears whole or not at all); default stdout\n"
        "      --bits           entropies in bits, varentropies in bits^2, log-probabilities in bits\n"
        "      --item N         only item N (the items.id column)\n"
        "  -h, --help           this text\n");
}

int cmd_export(int argc, char **argv) {
    static const struct option longs[] = {
        {"what", required_argument, 0, 'w'}, {"format", required_argument, 0, 'f'},
        {"output", required_argument, 0, 'o'}, {"bits", no_argument, 0, 'b'},
        {"item", required_argument, 0, 'i'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0},
    };
    const char *what = "tokens", *format = "csv", *out_path = NULL;
    int bits = 0, opt;
    uint64_t item = 0;
    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, ":w:f:o:h", longs, NULL)) != -1) {
        switch (opt) {
        case 'w': what = optarg; break;
        case 'f': format = optarg; break;
        case 'o': out_path = optarg; break;
        case 'b': bits = 1; break;
        case 'i':
            if (cli_parse_u64("--item", optarg, &item)) return CLI_BAD_INPUT;
            if (item == 0 || item > INT64_MAX) {
                cli_error("--item: '%s' is not an item id (1 or more)", optarg);
                return CLI_BAD_INPUT;
            }
            break;
        case 'h': help(stdout); return CLI_OK;
        case ':': cli_error("export: option %s needs a value", argv[optind - 1]); return CLI_BAD_INPUT;
        default: cli_error("export: unknown option '%s' (see entroscope export --help)", argv[optind - 1]); return CLI_BAD_INPUT;
        }
    }
    if (argc - optind != 1) {
        cli_error("export: give exactly one trace DB");
        return CLI_BAD_INPUT;
    }
    if (strcmp(what, "tokens") != 0 && strcmp(what, "heads") != 0) {
        cli_error("export: --what '%s' is not tokens or heads", what);
        return CLI_BAD_INPUT;
    }
    if (strcmp(format, "csv") != 0 && strcmp(format, "jsonl") != 0) {
        cli_error("export: --format '%s' is not csv or jsonl", format);
        return CLI_BAD_INPUT;
    }
    es_error err;
    if (es_trace_export_item(argv[optind], what, format, out_path, bits, (int64_t)item, &err) < 0) {
        cli_error("%s", err.msg);
        return CLI_BAD_INPUT;
    }
    return CLI_OK;
}
