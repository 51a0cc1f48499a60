/* `entroscope bench`: prefill and decode speed of a model on this machine,
 * probes on and off, against the memory-bandwidth limit. The measuring is
 * es_bench_run's (src/bench); this file parses options and prints. */
#include <getopt.h>
#include <string.h>

#include "cli/cli.h"

typedef struct bench_opts {
    const char *model, *json_path;
    int markdown, quiet, bandwidth_mib;
    es_bench_params params;
} bench_opts;

static void help(FILE *out) {
    fprintf(out,
        "usage: entroscope bench -m MODEL [options]\n\n"
        "Measures prefill and decode tokens/s (median of the repetitions, with min and max) on\n"
        "random tokens, with the probes off and on (repetitions interleaved), and the memory\n"
        "bandwidth that bounds decode. The table goes to stdout, progress to stderr.\n\n"
        "  -m, --model PATH      GGUF file or llama2.c checkpoint\n"
        "  -t, --threads N       threads (default: all cores)\n"
        "      --kernels SET     best (default), avx512, avx2 or portable: measure a lower\n"
        "                        kernel set, as on a CPU that has only it\n"
        "  -p, --n-prompt N      prefill N tokens in one batch (default 128; 0: skip)\n"
        "  -n, --n-gen N         decode N tokens from an empty cache (default 64; 0: skip)\n"
        "      --ctx N           decode after filling N positions (default 1024; 0: skip)\n"
        "      --n-gen-long N    decode steps timed at that context (default 16)\n"
        "      --probes WHICH    on, off or both (default both)\n"
        "  -r, --repetitions N   repetitions of each test (default 5)\n"
        "      --bandwidth-mib N buffer streamed to measure bandwidth, MiB (default 512; 0: skip)\n"
        "      --seed S          seed of the random tokens (default 1234)\n"
        "      --json FILE       also write the results as JSON (-: to stdout, instead of the table)\n"
        "      --markdown        print one Markdown table row (with its header) instead of the table\n"
        "  -q, --quiet           no progress on stderr\n"
        "  -h, --help            this text\n");
}

static int parse_probes(const char *text, int *out) {
    if (strcmp(text, "off") == 0) *out = ES_BENCH_PROBES_OFF;
    else if (strcmp(text, "on") == 0) *out = ES_BENCH_PROBES_ON;
    else if (strcmp(text, "both") == 0) *out = ES_BENCH_PROBES_BOTH;
    else {
        cli_error("bench: --probes: '%s' is not on, off or both", text);
        return -1;
    }
    return 0;
}

/* Returns 0 to run, 1 after --help, -1 on a bad argument (reported). */
static int parse(int argc, char **argv, bench_opts *o) {
    enum { O_CTX = 256, O_GEN_LONG, O_PROBES, O_BANDWIDTH, O_SEED, O_JSON, O_MARKDOWN, O_KERNELS };
    static const struct option longs[] = {
        {"model", required_argument, 0, 'm'},     {"threads", required_argument, 0, 't'},
        {"n-prompt", required_argument, 0, 'p'},  {"n-gen", required_argument, 0, 'n'},
        {"ctx", required_argument, 0, O_CTX},     {"n-gen-long", required_argument, 0, O_GEN_LONG},
        {"probes", required_argument, 0, O_PROBES}, {"repetitions", required_argument, 0, 'r'},
        {"bandwidth-mib", required_argument, 0, O_BANDWIDTH}, {"seed", required_argument, 0, O_SEED},
        {"json", required_argument, 0, O_JSON},   {"markdown", no_argument, 0, O_MARKDOWN},
        {"kernels", required_argument, 0, O_KERNELS},
        {"quiet", no_argument, 0, 'q'},           {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    es_bench_params *p = &o->params;
    int opt;
    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, ":m:t:p:n:r:qh", longs, NULL)) != -1) {
        int rc = 0;
        switch (opt) {
        case 'm': o->model = optarg; break;
        case 't': rc = cli_parse_int("-t", optarg, 1, 1024, &p->n_threads); break;
        case 'p': rc = cli_parse_int("-p", optarg, 0, 1 << 20, &p->n_prompt); break;
        case 'n': rc = cli_parse_int("-n", optarg, 0, 1 << 20, &p->n_gen); break;
        case O_CTX: rc = cli_parse_int("--ctx", optarg, 0, 1 << 20, &p->n_ctx); break;
        case O_GEN_LONG: rc = cli_parse_int("--n-gen-long", optarg, 1, 1 << 16, &p->n_gen_long); break;
        case O_PROBES: rc = parse_probes(optarg, &p->probes); break;
        case 'r': rc = cli_parse_int("-r", optarg, 1, 1000, &p->repetitions); break;
        case O_BANDWIDTH: rc = cli_parse_int("--bandwidth-mib", optarg, 0, 1 << 20, &o->bandwidth_mib); break;
        case O_SEED: rc = cli_parse_u64("--seed", optarg, &p->seed); break;
        case O_JSON: o->json_path = optarg; break;
        case O_MARKDOWN: o->markdown = 1; break;
        case O_KERNELS: rc = cli_parse_kernels("bench", optarg, &p->kernels); break;
        case 'q': o->quiet = 1; break;
        case 'h': help(stdout); return 1;
        case ':': cli_error("bench: option %s needs a value", argv[optind - 1]); return -1;
        default: cli_error("bench: unknown option '%s' (see entroscope bench --help)", argv[optind - 1]); return -1;
        }
        if (rc) return -1;
    }
    if (optind < argc) {
        cli_error("bench: unexpected argument '%s'", argv[optind]);
        return -1;
    }
    if (!o->model) {
        cli_error("bench: no model given (-m MODEL)");
        return -1;
    }
    if (p->n_prompt == 0 && p->n_gen == 0 && p->n_ctx == 0) {
        cli_error("bench: nothing to measure (-p, -n and --ctx are all 0)");
        return -1;
    }
    p->bandwidth_bytes = (size_t)o->bandwidth_mib << 20;
    return 0;
}

static void show_progress(void *user, const char *step) {
    fprintf(stderr, "bench: %s\n", step);
}

/* The JSON file is opened before the run, so that a bad path fails at once
 * rather than after minutes of measuring. NULL with a message on failure;
 * stdout for "-". */
static FILE *open_json(const char *path) {
    if (strcmp(path, "-") == 0) return stdout;
    FILE *f = fopen(path, "w");
    if (!f) cli_error("%s: cannot write", path);
    return f;
}

int cmd_bench(int argc, char **argv) {
    bench_opts o = {.params = es_bench_default_params(), .bandwidth_mib = 512};
    int rc = parse(argc, argv, &o);
    if (rc) return rc > 0 ? CLI_OK : CLI_BAD_INPUT;
    if (!o.quiet) o.params.progress = show_progress;

    FILE *json = o.json_path ? open_json(o.json_path) : NULL;
    if (o.json_path && !json) return CLI_BAD_INPUT;
    es_error err;
    es_model *model = es_model_load(o.model, NULL, &err);
    es_bench_result result;
    if (!model) {
        cli_error("%s", err.msg);
        rc = CLI_BAD_INPUT;
    } else if (es_bench_run(model, &o.params, &result, &err)) {
        cli_error("%s", err.msg);
        rc = CLI_FAILURE;
    } else {
        if (json != stdout) es_bench_report(&result, o.markdown ? ES_BENCH_MARKDOWN : ES_BENCH_TEXT, stdout);
        if (json) es_bench_report(&result, ES_BENCH_JSON, json);
    }
    if (json && json != stdout && fclose(json) != 0 && rc == CLI_OK) {
        cli_error("%s: write failed", o.json_path);
        rc = CLI_FAILURE;
    }
    es_model_free(model);
    return rc;
}
