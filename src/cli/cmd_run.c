/* `entroscope run STUDY`: one of the three studies (factual-creative,
 * simpleqa, gsm8k) into a trace database (es_study_run), then graded
 * (es_grade). Ctrl-C stops after the item in flight; a second Ctrl-C quits
 * at once. Progress goes to stderr. */
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

typedef struct run_opts {
    es_study_params p;
    const char *model, *tokenizer;
    const char *judge_url, *judge_model; /* passed to the grading at the end */
    int quiet, no_grade, n_categories;
    int shots_given;
    char names[8][128];   /* categories taken from file names */
    char shipped[2][4096]; /* the shipped prompt files, when found */
    const char *sampler, *entropix_config; /* --sampler NAME (NULL: default) */
    es_entropix_params entropix;
} run_opts;

/* Set by the SIGINT handler: the one piece of global state a signal needs. */
static volatile sig_atomic_t g_interrupted;

static void on_sigint(int sig) {
    if (g_interrupted) _exit(130);
    g_interrupted = 1;
    static const char msg[] = "\nentroscope: stopping after the item in flight (Ctrl-C again quits now)\n";
    ssize_t ignored = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)ignored;
    (void)sig;
}

static int interrupted(void *user) { return g_interrupted != 0; }

static void help(FILE *out) {
    fprintf(out,
        "usage: entroscope run STUDY -m MODEL -o RUN.db [options]\n\n"
        "Runs a study: one generation per item, every token's statistics recorded in the trace\n"
        "database RUN.db (each item committed when finished), then grades it (entroscope grade).\n\n"
        "studies:\n"
        "  factual-creative   the project's 100 factual and 100 creative prompts (data/prompts)\n"
        "  simpleqa           SimpleQA questions: --data simple_qa_test_set.csv\n"
        "  gsm8k              GSM8K problems, chain of thought: --data test.jsonl\n\n"
        "  -m, --model PATH        GGUF file, Hugging Face folder or llama2.c checkpoint\n"
        "  -z, --tokenizer PATH    tokenizer (llama2.c checkpoints)\n"
        "  -o, --output DB         the trace database (created if absent)\n"
        "      --data FILE         the data set (simpleqa, gsm8k)\n"
        "      --prompts FILE      factual-creative: a set of one's own, one prompt per line\n"
        "                          (repeatable; replaces the shipped sets)\n"
        "      --category NAME     the category of the --prompts FILE of the same position\n"
        "                          (default: the file's name without extension)\n"
        "      --fewshot-from FILE gsm8k: exemplars from this training file (first K items)\n"
        "      --shots K           gsm8k: number of exemplars (default 8 with --fewshot-from)\n"
        "      --system TEXT       system message (chat), or text before each raw prompt\n"
        "      --chat, --no-chat   the model's chat template, or raw text (default: chat when the\n"
        "                          model has a recognised template)\n"
        "  -n, --n-predict N       tokens per answer (default: 320 factual-creative, 64 simpleqa,\n"
        "                          256 gsm8k)\n"
        "      --temp T            temperature (default 1.0 factual-creative, 0 = greedy otherwise)\n"
        "      --top-k K, --top-p P, --min-p P   as for generate (top-p default 0.9 factual-creative)\n"
        "      --sampler NAME      default (the settings above), greedy (--temp 0) or entropix\n"
        "                          (README, \"Entropix sampler\"; the settings above do not apply)\n"
        "      --entropix-config FILE  its thresholds and coefficients (JSON) over the defaults\n"
        "      --seed S            seed (default 0); each item is sampled with a seed mixed from S\n"
        "                          and its id, so resumed and sharded runs give the same items\n"
        "  -t, --threads N         threads (default: all cores)\n"
        "      --kernels SET       best (default), avx512, avx2 or portable: compute with a lower\n"
        "                          kernel set, to reproduce the numbers of a CPU that has only it\n"
        "                          (recorded in the run's settings)\n"
        "  -c, --ctx-size N        context length (default: the model's)\n"
        "      --no-probes         do not measure attention (logit statistics are still taken)\n"
        "      --limit N           the first N items only\n"
        "      --sample N          simpleqa: a sample of N stratified by topic (uses --seed)\n"
        "      --skip-bad          skip malformed data records (counted) instead of stopping\n"
        "      --shard I/N         every N-th item, starting with the I-th (1 <= I <= N); combine\n"
        "                          the shards with entroscope merge\n"
        "      --resume            continue the run of these settings in DB, skipping finished items\n"
        "      --no-grade          do not grade at the end\n"
        "      --judge URL --judge-model NAME  grade with an LLM judge too (see entroscope grade)\n"
        "  -q, --quiet             no progress and no summary\n"
        "  -h, --help              this text\n");
}

static int parse_shard(const char *text, int *index, int *count) {
    char *slash = strchr(text, '/');
    char buf[64];
    if (!slash || (size_t)(slash - text) >= sizeof buf) {
        cli_error("--shard: '%s' is not I/N", text);
        return -1;
    }
    memcpy(buf, text, (size_t)(slash - text));
    buf[slash - text] = 0;
    if (cli_parse_int("--shard", buf, 1, 1 << 20, index) || cli_parse_int("--shard", slash + 1, 1, 1 << 20, count))
        return -1;
    if (*index > *count) {
        cli_error("--shard: %d/%d: I must be between 1 and N", *index, *count);
        return -1;
    }
    return 0;
}

static int parse_size(const char *option, const char *text, size_t *out) {
    int v;
    if (cli_parse_int(option, text, 1, INT_MAX, &v)) return -1;
    *out = (size_t)v;
    return 0;
}

static int add_prompts(run_opts *o, const char *path) {
    if (o->p.n_prompt_files == 8) {
        cli_error("run: at most 8 --prompts files");
        return -1;
    }
    o->p.prompt_files[o->p.n_prompt_files++] = path;
    return 0;
}

static int add_category(run_opts *o, const char *name) {
    if (o->n_categories == 8 || !name[0] || strchr(name, ':')) {
        cli_error("run: --category '%s': at most 8, not empty, no ':'", name);
        return -1;
    }
    o->p.categories[o->n_categories++] = name;
    return 0;
}

/* One option; returns 0, 1 (--help) or -1. */
static int parse_option(run_opts *o, int opt, char **argv) {
    es_study_params *p = &o->p;
    switch (opt) {
    case 'm': o->model = optarg; return 0;
    case 'z': o->tokenizer = optarg; return 0;
    case 'o': p->out_path = optarg; return 0;
    case 'D': p->data_path = optarg; return 0;
    case 'F': return add_prompts(o, optarg);
    case 'G': return add_category(o, optarg);
    case 'W': p->fewshot_path = optarg; return 0;
    case 'k': o->shots_given = 1; return cli_parse_int("--shots", optarg, 0, 64, &p->shots);
    case 'Y': p->system = optarg; return 0;
    case 'C': p->chat = 1; return 0;
    case 'R': p->chat = 0; return 0;
    case 'n': return cli_parse_int("-n", optarg, 0, 1 << 30, &p->n_predict);
    case 'T': return cli_parse_float("--temp", optarg, 0, 100, &p->sampling.temperature);
    case 'K': return cli_parse_int("--top-k", optarg, 0, 1 << 30, &p->sampling.top_k);
    case 'P': return cli_parse_float("--top-p", optarg, 0, 1, &p->sampling.top_p);
    case 'M': return cli_parse_float("--min-p", optarg, 0, 1, &p->sampling.min_p);
    case 'S': return cli_parse_u64("--seed", optarg, &p->sampling.seed);
    case 't': return cli_parse_int("-t", optarg, 1, 1024, &p->n_threads);
    case 'Q': return cli_parse_kernels("run", optarg, &p->kernels);
    case 'c': return cli_parse_int("-c", optarg, 1, 1 << 24, &p->n_ctx);
    case 'N': p->probes = 0; return 0;
    case 'L': return parse_size("--limit", optarg, &p->limit);
    case 'A': return parse_size("--sample", optarg, &p->sample);
    case 'B': p->skip_bad = 1; return 0;
    case 'H': return parse_shard(optarg, &p->shard_index, &p->shard_count);
    case 'U': p->resume = 1; return 0;
    case 'g': o->no_grade = 1; return 0;
    case 'J': o->judge_url = optarg; return 0;
    case 'j': o->judge_model = optarg; return 0;
    case 'x': p->prefix_cache = 0; return 0;
    case 'X': { int v; if (cli_parse_int("--kill-after-tokens", optarg, 1, INT_MAX, &v)) return -1;
                p->kill_after_tokens = v; return 0; }
    case 'q': o->quiet = 1; return 0;
    case 'y': o->sampler = optarg; return 0;
    case 'e': o->entropix_config = optarg; return 0;
    case 'h': help(stdout); return 1;
    case ':': cli_error("run: option %s needs a value", argv[optind - 1]); return -1;
    default: cli_error("run: unknown option '%s' (see entroscope run --help)", argv[optind - 1]); return -1;
    }
}

static int parse(int argc, char **argv, run_opts *o) {
    static const struct option longs[] = {
        {"model", required_argument, 0, 'm'},     {"tokenizer", required_argument, 0, 'z'},
        {"output", required_argument, 0, 'o'},    {"data", required_argument, 0, 'D'},
        {"prompts", required_argument, 0, 'F'},   {"category", required_argument, 0, 'G'},
        {"fewshot-from", required_argument, 0, 'W'}, {"shots", required_argument, 0, 'k'},
        {"system", required_argument, 0, 'Y'},    {"chat", no_argument, 0, 'C'},
        {"no-chat", no_argument, 0, 'R'},         {"n-predict", required_argument, 0, 'n'},
        {"temp", required_argument, 0, 'T'},      {"top-k", required_argument, 0, 'K'},
        {"top-p", required_argument, 0, 'P'},     {"min-p", required_argument, 0, 'M'},
        {"seed", required_argument, 0, 'S'},      {"threads", required_argument, 0, 't'},
        {"ctx-size", required_argument, 0, 'c'},  {"no-probes", no_argument, 0, 'N'},
        {"limit", required_argument, 0, 'L'},     {"sample", required_argument, 0, 'A'},
        {"skip-bad", no_argument, 0, 'B'},        {"shard", required_argument, 0, 'H'},
        {"resume", no_argument, 0, 'U'},          {"no-grade", no_argument, 0, 'g'},
        {"quiet", no_argument, 0, 'q'},           {"help", no_argument, 0, 'h'},
        {"judge", required_argument, 0, 'J'},     {"judge-model", required_argument, 0, 'j'},
        {"sampler", required_argument, 0, 'y'},   {"entropix-config", required_argument, 0, 'e'},
        {"kernels", required_argument, 0, 'Q'},
        /* not in --help: for the tests */
        {"no-prefix-cache", no_argument, 0, 'x'}, {"kill-after-tokens", required_argument, 0, 'X'},
        {0, 0, 0, 0},
    };
    int opt;
    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, ":m:z:o:n:t:c:qh", longs, NULL)) != -1) {
        int rc = parse_option(o, opt, argv);
        if (rc) return rc;
    }
    if (optind < argc) {
        cli_error("run: unexpected argument '%s'", argv[optind]);
        return -1;
    }
    if ((o->judge_url != NULL) != (o->judge_model != NULL)) {
        cli_error("run: --judge and --judge-model go together");
        return -1;
    }
    return 0;
}

/* The study's name comes first: its defaults are set before the options. */
static int parse_all(int argc, char **argv, run_opts *o) {
    if (argc < 2 || argv[1][0] == '-') {
        if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
            help(stdout);
            return 1;
        }
        cli_error("run: which study? (factual-creative, simpleqa, gsm8k; see entroscope run --help)");
        return -1;
    }
    o->p = es_study_default_params(argv[1]);
    int rc = parse(argc - 1, argv + 1, o);
    if (rc) return rc;
    if (!o->model) {
        cli_error("run: no model given (-m MODEL)");
        return -1;
    }
    if (!o->p.out_path) {
        cli_error("run: no output database given (-o RUN.db)");
        return -1;
    }
    if (o->n_categories > o->p.n_prompt_files) {
        cli_error("run: %d --category names for %d --prompts files", o->n_categories, o->p.n_prompt_files);
        return -1;
    }
    if (o->p.fewshot_path && !o->shots_given) o->p.shots = 8;
    return cli_choose_sampler("run", o->sampler, o->entropix_config, &o->p.sampling, &o->entropix);
}

/* The shipped prompt sets: $ENTROSCOPE_DATA/prompts, then data/prompts
 * beside the binary (build/entroscope -> data/prompts) or in the current
 * directory. */
static int find_shipped(run_opts *o) {
    static const char *const names[2] = {"factual", "creative"};
    char exe[4096] = "", dirs[3][4096] = {"", "", "data"};
    const char *env = getenv("ENTROSCOPE_DATA");
    if (env && env[0]) snprintf(dirs[0], sizeof dirs[0], "%s", env);
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) *slash = 0;
        snprintf(dirs[1], sizeof dirs[1], "%.4000s/../data", exe);
    }
    for (int d = 0; d < 3; d++) {
        if (!dirs[d][0]) continue;
        int found = 1;
        for (int k = 0; k < 2; k++) {
            snprintf(o->shipped[k], sizeof o->shipped[k], "%.4000s/prompts/%s.txt", dirs[d], names[k]);
            found &= access(o->shipped[k], R_OK) == 0;
        }
        if (!found) continue;
        for (int k = 0; k < 2; k++) {
            o->p.prompt_files[k] = o->shipped[k];
            o->p.categories[k] = names[k];
        }
        o->p.n_prompt_files = 2;
        return 0;
    }
    cli_error("run factual-creative: the shipped prompts (data/prompts/factual.txt, creative.txt) are "
              "not found; set ENTROSCOPE_DATA to the data folder or give --prompts FILE");
    return -1;
}

/* A --prompts file without --category is named after the file. */
static void name_categories(run_opts *o) {
    for (int i = o->n_categories; i < o->p.n_prompt_files; i++) {
        const char *base = strrchr(o->p.prompt_files[i], '/');
        base = base ? base + 1 : o->p.prompt_files[i];
        size_t len = strcspn(base, ".:");
        if (len == 0 || len >= sizeof o->names[i]) len = strlen(base) < sizeof o->names[i] ? strlen(base) : sizeof o->names[i] - 1;
        memcpy(o->names[i], base, len);
        o->names[i][len] = 0;
        for (char *c = o->names[i]; *c; c++)
            if (*c == ':') *c = '_';
        o->p.categories[i] = o->names[i];
    }
}

static void print_summary(const run_opts *o, const es_study_summary *s) {
    fprintf(stderr, "run %s: %zu items done in %.1f s (%zu were done before, %zu in the run); "
            "%llu tokens generated", o->p.study, s->n_done, s->seconds, s->n_resumed, s->n_items,
            (unsigned long long)s->n_tokens);
    if (s->prefix_tokens)
        fprintf(stderr, "; a shared prefix of %zu tokens evaluated once, reused by %zu items",
                s->prefix_tokens, s->n_prefix_reused);
    if (s->n_skipped_data) fprintf(stderr, "; %zu malformed records skipped", s->n_skipped_data);
    fprintf(stderr, "; traced to %s\n", o->p.out_path);
}

static int run_study(run_opts *o, const es_model *model) {
    es_error err;
    es_study_summary sum;
    struct sigaction sa = {.sa_handler = on_sigint, .sa_flags = SA_RESTART}, old;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old);
    o->p.should_stop = interrupted;
    o->p.progress = o->quiet ? NULL : stderr;
    o->p.progress_tty = isatty(STDERR_FILENO);
    int rc = es_study_run(model, &o->p, &sum, &err);
    sigaction(SIGINT, &old, NULL);
    if (rc < 0) {
        cli_error("%s", err.msg);
        return CLI_BAD_INPUT;
    }
    if (!o->quiet) print_summary(o, &sum);
    if (sum.interrupted) return CLI_FAILURE;
    if (o->no_grade) return CLI_OK;
    es_grade_params gp = es_grade_default_params();
    gp.log = o->quiet ? NULL : stderr;
    gp.judge_url = o->judge_url;
    gp.judge_model = o->judge_model;
    if (es_grade(o->p.out_path, &gp, &err) < 0) {
        cli_error("%s", err.msg);
        return CLI_FAILURE;
    }
    return CLI_OK;
}

int cmd_run(int argc, char **argv) {
    run_opts *o = calloc(1, sizeof *o);
    if (!o) {
        cli_error("out of memory");
        return CLI_FAILURE;
    }
    int status = CLI_BAD_INPUT, prc = parse_all(argc, argv, o);
    if (prc > 0) status = CLI_OK;
    if (prc == 0 && strcmp(o->p.study, "factual-creative") == 0 && o->p.n_prompt_files == 0 &&
        find_shipped(o) < 0)
        prc = -1;
    if (prc == 0) {
        name_categories(o);
        es_error err;
        es_model *model = es_model_load(o->model, o->tokenizer, &err);
        if (!model) cli_error("%s", err.msg);
        else status = run_study(o, model);
        es_model_free(model);
    }
    free(o);
    return status;
}
