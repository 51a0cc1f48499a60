/* `entroscope world`: write a generated world (training corpus and held-out
 * test sets) into a folder, then print what it holds. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "util/json_file.h"

static void help(FILE *out) {
    es_world_params d = es_world_default_params();
    fprintf(out,
        "usage: entroscope world [--seed S] -o DIR [counts]\n\n"
        "Writes a deterministic made-up world into DIR (created if missing): a training\n"
        "corpus of biographies, questions and answers, word problems and stories, and\n"
        "the held-out sets the studies run on:\n"
        "  train.jsonl       training documents, one {\"text\": ...} a line\n"
        "  facts.csv         held-out questions about people (run simpleqa --data)\n"
        "  sums.jsonl        held-out word problems (run gsm8k --data)\n"
        "  sums_train.jsonl  the training word problems\n"
        "  factual.txt, creative.txt  prompts for run factual-creative\n"
        "  world.json        every person and attribute, the counts\n\n"
        "  -o, --output DIR    the folder to write (each file whole, or not at all)\n"
        "      --seed S        random seed (default 0)\n"
        "      --known N       people whose facts are in the corpus (default %d)\n"
        "      --abstain N     people the corpus answers \"I don't know.\" about (default %d)\n"
        "      --unseen N      people never in the corpus (default %d)\n"
        "      --sums-train N  training word problems (default %d)\n"
        "      --sums-eval N   held-out word problems (default %d)\n"
        "      --stories N     stories in the corpus (default %d)\n"
        "  -h, --help          this text\n",
        d.n_known, d.n_abstain, d.n_unseen, d.n_sums_train, d.n_sums_eval, d.n_stories);
}

/* The counts world.json records, as one summary line. */
static void print_summary(const char *dir) {
    char path[4096];
    snprintf(path, sizeof path, "%s/world.json", dir);
    es_error err;
    cJSON *root = es_json_read_file(path, (size_t)1 << 30, &err);
    cJSON *c = cJSON_GetObjectItemCaseSensitive(root, "counts");
    double v[8];
    const char *keys[] = {"documents", "train_bytes", "people", "biographies", "qa_documents",
                          "sums_train", "sums_eval", "stories"};
    for (int i = 0; i < 8; i++) {
        cJSON *x = cJSON_GetObjectItemCaseSensitive(c, keys[i]);
        v[i] = cJSON_IsNumber(x) ? x->valuedouble : 0;
    }
    cJSON_Delete(root);
    printf("world: %s/train.jsonl %.0f documents, %.0f bytes (%.0f biographies, %.0f questions, "
           "%.0f word problems, %.0f stories); %.0f people; %.0f held-out word problems\n",
           dir, v[0], v[1], v[3], v[4], v[5], v[7], v[2], v[6]);
}

enum { O_SEED = 256, O_KNOWN, O_ABSTAIN, O_UNSEEN, O_SUMS_TRAIN, O_SUMS_EVAL, O_STORIES };

static int apply(int opt, const char *val, es_world_params *p) {
    switch (opt) {
    case O_SEED: return cli_parse_u64("--seed", val, &p->seed);
    case O_KNOWN: return cli_parse_int("--known", val, 0, 1000000, &p->n_known);
    case O_ABSTAIN: return cli_parse_int("--abstain", val, 0, 1000000, &p->n_abstain);
    case O_UNSEEN: return cli_parse_int("--unseen", val, 0, 1000000, &p->n_unseen);
    case O_SUMS_TRAIN: return cli_parse_int("--sums-train", val, 0, 1000000, &p->n_sums_train);
    case O_SUMS_EVAL: return cli_parse_int("--sums-eval", val, 0, 1000000, &p->n_sums_eval);
    case O_STORIES: return cli_parse_int("--stories", val, 0, 1000000, &p->n_stories);
    }
    return -1;
}

int cmd_world(int argc, char **argv) {
    static const struct option longs[] = {
        {"output", required_argument, 0, 'o'}, {"seed", required_argument, 0, O_SEED},
        {"known", required_argument, 0, O_KNOWN}, {"abstain", required_argument, 0, O_ABSTAIN},
        {"unseen", required_argument, 0, O_UNSEEN},
        {"sums-train", required_argument, 0, O_SUMS_TRAIN},
        {"sums-eval", required_argument, 0, O_SUMS_EVAL},
        {"stories", required_argument, 0, O_STORIES}, {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    es_world_params p = es_world_default_params();
    const char *out = NULL;
    int opt;
    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, ":o:h", longs, NULL)) != -1) {
        if (opt == 'o') out = optarg;
        else if (opt == 'h') { help(stdout); return CLI_OK; }
        else if (opt == ':') { cli_error("world: option %s needs a value", argv[optind - 1]); return CLI_BAD_INPUT; }
        else if (opt == '?') { cli_error("world: unknown option '%s' (see entroscope world --help)", argv[optind - 1]); return CLI_BAD_INPUT; }
        else if (apply(opt, optarg, &p)) return CLI_BAD_INPUT;
    }
    if (optind < argc) {
        cli_error("world: unexpected argument '%s'", argv[optind]);
        return CLI_BAD_INPUT;
    }
    if (!out) {
        cli_error("world: no output folder given (-o DIR)");
        return CLI_BAD_INPUT;
    }
    es_error err;
    if (es_world_write(&p, out, &err)) {
        cli_error("%s", err.msg);
        return CLI_BAD_INPUT;
    }
    print_summary(out);
    return CLI_OK;
}
