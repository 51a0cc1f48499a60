/* `entroscope generate`: prompt in, generated text out on stdout (the prompt
 * is not echoed), a one-line summary on stderr. */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"

typedef struct generate_opts {
    const char *model, *tokenizer, *prompt, *prompt_file, *system, *trace;
    int n_predict, n_threads, n_ctx, special, quiet, chat, stats, bits, no_probes;
    es_kernels kernels;
    es_sampler_params sampling;
    const char *sampler, *entropix_config; /* --sampler NAME (NULL: default) */
    es_entropix_params entropix;
    const char *confidence;        /* --confidence FILE */
    es_confidence *conf;           /* its model, or NULL */
    int colour;                    /* colour the tokens by confidence (stdout is a terminal) */
} generate_opts;

static void help(FILE *out) {
    fprintf(out,
        "usage: entroscope generate -m MODEL [options]\n\n"
        "Generates text. Only the generated text goes to stdout; a summary line goes to stderr.\n\n"
        "  -m, --model PATH      GGUF file, Hugging Face folder or llama2.c checkpoint (.bin)\n"
        "  -z, --tokenizer PATH  tokenizer: llama2.c tokenizer.bin, GGUF or tokenizer.json\n"
        "                        (needed for llama2.c checkpoints; overrides a GGUF's own)\n"
        "  -p, --prompt TEXT     the prompt (default: none, generation starts from BOS alone)\n"
        "  -f, --file PATH       read the prompt from a file, its bytes exactly\n"
        "      --chat            wrap the prompt in the model's chat template (Llama 3.x Instruct,\n"
        "                        Llama 2 chat) as one user turn, and stop at the end of the turn\n"
        "      --system TEXT     the system message of a --chat prompt\n"
        "  -n, --n-predict N     generate at most N tokens (default 256); stops earlier at the\n"
        "                        model's end-of-generation tokens or when the context is full\n"
        "      --temp T          temperature (default 1.0); 0 is greedy (argmax)\n"
        "      --top-k K         keep the K most probable tokens (default 0: off)\n"
        "      --top-p P         nucleus sampling mass (default 0.9; 1: off)\n"
        "      --min-p P         drop tokens below P times the top probability (default 0: off)\n"
        "      --seed S          random seed (default: from the clock, printed in the summary)\n"
        "      --sampler NAME    default (the settings above), greedy (--temp 0) or entropix:\n"
        "                        each token's sampling chosen from its logit entropy and\n"
        "                        varentropy and the attention statistics (README, \"Entropix\n"
        "                        sampler\"); --temp, --top-k, --top-p and --min-p do not apply\n"
        "      --entropix-config FILE  thresholds and coefficients (JSON) over the defaults\n"
        "  -t, --threads N       threads (default: all cores)\n"
        "      --kernels SET     best (default), avx512, avx2 or portable: compute with a lower\n"
        "                        kernel set, to reproduce the numbers of a CPU that has only it\n"
        "  -c, --ctx-size N      context length (default: the model's; the cache grows as used)\n"
        "      --special         recognise special tokens such as <|eot_id|> in the prompt\n"
        "      --trace DB        record the generation (prompt, output, every token's statistics,\n"
        "                        every head's) in the SQLite database DB (created if absent)\n"
        "      --stats           print a table of each generated token's statistics on stderr:\n"
        "                        logit entropy and varentropy, mean attention entropy and varentropy;\n"
        "                        with --sampler entropix also the branch, inserted tokens marked\n"
        "      --bits            --stats in bits (varentropy in bits^2) instead of nats\n"
        "      --no-probes       do not measure attention (the logit statistics are still taken)\n"
        "      --confidence FILE score each token with a confidence model (entroscope confidence\n"
        "                        fit) and colour it from green (confident) to red when stdout\n"
        "                        is a terminal\n"
        "  -q, --quiet           no summary line on stderr\n"
        "  -h, --help            this text\n");
}

static int parse(int argc, char **argv, generate_opts *o) {
    static const struct option longs[] = {
        {"model", required_argument, 0, 'm'},   {"tokenizer", required_argument, 0, 'z'},
        {"prompt", required_argument, 0, 'p'},  {"file", required_argument, 0, 'f'},
        {"n-predict", required_argument, 0, 'n'}, {"temp", required_argument, 0, 'T'},
        {"top-k", required_argument, 0, 'K'},   {"top-p", required_argument, 0, 'P'},
        {"min-p", required_argument, 0, 'M'},   {"seed", required_argument, 0, 'S'},
        {"threads", required_argument, 0, 't'}, {"ctx-size", required_argument, 0, 'c'},
        {"special", no_argument, 0, 'X'},       {"quiet", no_argument, 0, 'q'},
        {"chat", no_argument, 0, 'C'},          {"system", required_argument, 0, 'Y'},
        {"trace", required_argument, 0, 'R'},   {"stats", no_argument, 0, 'G'},
        {"bits", no_argument, 0, 'B'},          {"no-probes", no_argument, 0, 'N'},
        {"sampler", required_argument, 0, 'k'}, {"entropix-config", required_argument, 0, 'e'},
        {"confidence", required_argument, 0, 'F'}, {"kernels", required_argument, 0, 'Q'},
        {"help", no_argument, 0, 'h'},          {0, 0, 0, 0},
    };
    int opt, seeded = 0;
    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, ":m:z:p:f:n:t:c:qh", longs, NULL)) != -1) {
        int rc = 0;
        switch (opt) {
        case 'm': o->model = optarg; break;
        case 'z': o->tokenizer = optarg; break;
        case 'p': o->prompt = optarg; break;
        case 'f': o->prompt_file = optarg; break;
        case 'n': rc = cli_parse_int("-n", optarg, 0, 1 << 30, &o->n_predict); break;
        case 'T': rc = cli_parse_float("--temp", optarg, 0, 100, &o->sampling.temperature); break;
        case 'K': rc = cli_parse_int("--top-k", optarg, 0, 1 << 30, &o->sampling.top_k); break;
        case 'P': rc = cli_parse_float("--top-p", optarg, 0, 1, &o->sampling.top_p); break;
        case 'M': rc = cli_parse_float("--min-p", optarg, 0, 1, &o->sampling.min_p); break;
        case 'S': rc = cli_parse_u64("--seed", optarg, &o->sampling.seed); seeded = 1; break;
        case 't': rc = cli_parse_int("-t", optarg, 1, 1024, &o->n_threads); break;
        case 'c': rc = cli_parse_int("-c", optarg, 1, 1 << 24, &o->n_ctx); break;
        case 'X': o->special = 1; break;
        case 'q': o->quiet = 1; break;
        case 'C': o->chat = 1; break;
        case 'Y': o->system = optarg; break;
        case 'R': o->trace = optarg; break;
        case 'G': o->stats = 1; break;
        case 'B': o->bits = 1; break;
        case 'N': o->no_probes = 1; break;
        case 'k': o->sampler = optarg; break;
        case 'e': o->entropix_config = optarg; break;
        case 'F': o->confidence = optarg; break;
        case 'Q': rc = cli_parse_kernels("generate", optarg, &o->kernels); break;
        case 'h': help(stdout); return 1;
        case ':': cli_error("generate: option %s needs a value", argv[optind - 1]); return -1;
        default: cli_error("generate: unknown option '%s' (see entroscope generate --help)", argv[optind - 1]); return -1;
        }
        if (rc) return -1;
    }
    if (optind < argc) {
        cli_error("generate: unexpected argument '%s' (the prompt goes after -p)", argv[optind]);
        return -1;
    }
    if (!o->model) {
        cli_error("generate: no model given (-m MODEL)");
        return -1;
    }
    if (o->prompt && o->prompt_file) {
        cli_error("generate: give the prompt with -p or -f, not both");
        return -1;
    }
    if (o->system && !o->chat) {
        cli_error("generate: --system needs --chat");
        return -1;
    }
    if (o->bits && !o->stats) {
        cli_error("generate: --bits applies to --stats (the trace always stores nats; "
                  "entroscope export --bits converts)");
        return -1;
    }
    if (!seeded) o->sampling.seed = (uint64_t)time(NULL);
    return cli_choose_sampler("generate", o->sampler, o->entropix_config, &o->sampling, &o->entropix);
}

/* The prompt's tokens: BOS, then the text (none: BOS alone, as llama2.c),
 * or with --chat what the model's chat template builds. */
static int tokenize_prompt(const generate_opts *o, const es_tokenizer *tok, int32_t **ids, size_t *n,
                           char **text_out) {
    char *text = NULL;
    size_t len = 0;
    if (o->prompt_file && cli_read_file(o->prompt_file, &text, &len)) return -1;
    if (!o->prompt_file) {
        text = strdup(o->prompt ? o->prompt : "");
        len = strlen(text);
    }
    es_error err;
    int rc;
    if (o->chat) {
        es_chat_message turns[2] = {{"system", o->system}, {"user", text}};
        int first = o->system ? 0 : 1;
        rc = es_chat_tokenize(tok, turns + first, 2 - first, 1, ids, n, &err);
    } else {
        int flags = ES_TOKENIZE_ADD_BOS | (o->special ? ES_TOKENIZE_PARSE_SPECIAL : 0);
        rc = es_tokenize(tok, text, len, flags, ids, n, &err);
    }
    if (rc) {
        cli_error("%s", err.msg);
        free(text);
        return rc;
    }
    *text_out = text;
    return 0;
}

/* One row of the --stats table (the header before step 0). */
static void print_stats_row(const generate_opts *o, const es_trace_token *row) {
    const double to_bits = o->bits ? 1 / log(2.0) : 1;
    int branches = o->sampling.entropix != NULL;
    if (row->step == 0)
        fprintf(stderr, "%5s %6s  %-16s %9s %9s %9s %9s%s   (%s)\n", "step", "id", "token", "logit_H",
                "logit_V", "attn_H", "attn_V", branches ? "  branch" : "",
                o->bits ? "bits, bits^2" : "nats, nats^2");
    char shown[17];
    size_t k = 0;
    for (size_t i = 0; i < row->text_len && k < 16; i++)
        shown[k++] = (unsigned char)row->text[i] < 32 ? '?' : row->text[i]; /* keep the table on one line */
    shown[k] = 0;
    fprintf(stderr, "%5d %6d  %-16s %9.4f %9.4f", row->step, (int)row->token_id, shown,
            row->logit_entropy * to_bits, row->logit_varentropy * to_bits * to_bits);
    if (row->attn)
        fprintf(stderr, " %9.4f %9.4f", row->attn->entropy_mean * to_bits,
                row->attn->varentropy_mean * to_bits * to_bits);
    else
        fprintf(stderr, " %9s %9s", "-", "-");
    /* the clarifying text's tokens were put there, not sampled: marked */
    if (branches && row->sampler_branch)
        fprintf(stderr, "  %s%s", row->sampler_branch,
                strcmp(row->sampler_branch, "inserted") == 0 ? "  <-- inserted" : "");
    fputc('\n', stderr);
}

/* Each generated token as it comes: its text on stdout and, with --stats,
 * its row of the statistics table on stderr. */
static int show_token(void *user, const es_trace_token *row) {
    const generate_opts *o = user;
    if (o->stats) print_stats_row(o, row);
    /* xterm 256-colour ramp from red (0) through yellow to green (1) */
    static const int ramp[] = {196, 202, 208, 214, 220, 226, 190, 154, 118, 82, 46};
    double c = o->conf && o->colour ? es_confidence_score(o->conf, row) : NAN;
    if (!isnan(c)) printf("\033[38;5;%dm", ramp[(int)lround(fmin(fmax(c, 0.0), 1.0) * 10)]);
    fwrite(row->text, 1, row->text_len, stdout);
    if (!isnan(c)) fputs("\033[0m", stdout);
    fflush(stdout);
    return 0;
}

/* The settings of a traced run, as a JSON object. */
static void settings_json(const generate_opts *o, const es_context *ctx, char *buf, size_t size) {
    snprintf(buf, size,
             "{\"temperature\": %.9g, \"top_k\": %d, \"top_p\": %.9g, \"min_p\": %.9g, "
             "\"seed\": %llu, \"n_predict\": %d, \"n_ctx\": %d, \"threads\": %d, \"kernels\": \"%s\", "
             "\"probes\": %s, \"chat\": %s, \"special\": %s, \"sampler\": \"%s\"}",
             o->sampling.temperature, o->sampling.top_k, o->sampling.top_p, o->sampling.min_p,
             (unsigned long long)o->sampling.seed, o->n_predict, es_context_size(ctx),
             o->n_threads, es_kernels_name(es_context_kernels(ctx)), o->no_probes ? "false" : "true", o->chat ? "true" : "false",
             o->special ? "true" : "false", o->sampler ? o->sampler : "default");
}

/* Opens the trace and its run, and the item of this generation. */
static int open_trace(const generate_opts *o, const es_model *model, const es_context *ctx,
                      const char *prompt_text, es_trace **trace, es_trace_item **item) {
    es_error err;
    es_model_info info;
    es_model_get_info(model, &info);
    char settings[1024];
    settings_json(o, ctx, settings, sizeof settings);
    es_trace_run run = {.command = "generate", .model_path = info.path, .model_name = info.name,
                        .n_layers = info.n_layers, .n_heads = info.n_heads,
                        .settings_json = settings};
    int64_t run_id;
    if (!(*trace = es_trace_open(o->trace, &err)) ||
        (run_id = es_trace_add_run(*trace, &run, &err)) < 0) {
        cli_error("%s", err.msg);
        return -1;
    }
    if (!(*item = es_trace_item_new(run_id, NULL, prompt_text))) {
        cli_error("out of memory");
        return -1;
    }
    return 0;
}

/* The summary line on stderr, after the text on stdout. */
static void print_summary(const generate_opts *o, size_t n_prompt, const es_generation *g) {
    /* end the text's line; when stdout goes elsewhere the summary starts
     * a line of its own, so that nothing is added to the text */
    int tty = isatty(fileno(stdout));
    if (tty) putchar('\n');
    if (o->quiet) return;
    int n = g->n_generated;
    double prefill_s = g->prefill_s, decode_s = g->decode_s;
    /* n tokens were sampled but only n - 1 decode steps ran after the prefill */
    char rate[48] = "no decode step";
    if (n > 1 && decode_s > 0) snprintf(rate, sizeof rate, "%.1f tokens/s", (n - 1) / decode_s);
    fprintf(stderr, "%s[prompt %zu tokens in %.3f s (%.1f tokens/s); generated %d tokens in %.3f s (%s); "
            "seed %llu%s%s]\n",
            tty || n == 0 ? "" : "\n", n_prompt, prefill_s, prefill_s > 0 ? n_prompt / prefill_s : 0.0, n, decode_s,
            rate, (unsigned long long)o->sampling.seed, o->trace ? "; traced to " : "", o->trace ? o->trace : "");
}

static int run_generation(const generate_opts *o, es_model *model, const int32_t *prompt,
                          size_t n_prompt, const char *prompt_text) {
    es_error err;
    /* the entropix sampler reads the attention statistics of every pass */
    int probes = !o->no_probes && (o->trace || o->stats || o->sampling.entropix || o->conf);
    es_context_params cp = {.n_ctx = o->n_ctx, .n_threads = o->n_threads, .probes = probes, .kernels = o->kernels};
    es_context *ctx = es_context_new(model, &cp, &err);
    if (!ctx) {
        cli_error("%s", err.msg);
        return CLI_FAILURE;
    }
    if ((int)n_prompt > es_context_size(ctx)) {
        cli_error("generate: the prompt has %zu tokens but the context holds %d (raise -c)", n_prompt, es_context_size(ctx));
        es_context_free(ctx);
        return CLI_BAD_INPUT;
    }
    es_trace *trace = NULL;
    es_trace_item *item = NULL;
    es_generation g = {0};
    int status = CLI_FAILURE;
    if (o->trace && open_trace(o, model, ctx, prompt_text, &trace, &item) < 0) {
        status = CLI_BAD_INPUT;
        goto done;
    }
    es_generate_params gp = {.n_predict = o->n_predict, .sampling = o->sampling, .item = item,
                             .on_token = show_token, .user = (void *)o};
    if (es_generate(model, ctx, prompt, n_prompt, &gp, &g, &err) < 0) {
        cli_error("%s", err.msg);
        goto done;
    }
    if (strcmp(g.stop_reason, "context") == 0 && !o->quiet)
        fprintf(stderr, "\nentroscope: the context of %d tokens is full; stopping\n", es_context_size(ctx));
    if (trace && es_trace_item_commit(trace, item, g.output, g.stop_reason, NULL, &err) < 0) {
        cli_error("%s", err.msg);
        goto done;
    }
    status = CLI_OK;
    print_summary(o, n_prompt, &g);
done:
    es_trace_item_free(item);
    es_trace_close(trace);
    es_generation_free(&g);
    es_context_free(ctx);
    return status;
}

int cmd_generate(int argc, char **argv) {
    generate_opts o = {.n_predict = 256, .sampling = es_sampler_default_params()};
    o.sampling.top_p = 0.9f;
    int prc = parse(argc, argv, &o);
    if (prc) return prc > 0 ? CLI_OK : CLI_BAD_INPUT;

    es_error err;
    if (o.confidence && !(o.conf = es_confidence_load(o.confidence, &err))) {
        cli_error("%s", err.msg);
        return CLI_BAD_INPUT;
    }
    o.colour = isatty(fileno(stdout));
    es_model *model = es_model_load(o.model, o.tokenizer, &err);
    if (!model) {
        cli_error("%s", err.msg);
        es_confidence_free(o.conf);
        return CLI_BAD_INPUT;
    }
    int32_t *prompt = NULL;
    size_t n_prompt = 0;
    char *prompt_text = NULL;
    int status = CLI_BAD_INPUT;
    if (tokenize_prompt(&o, es_model_tokenizer(model), &prompt, &n_prompt, &prompt_text) == 0) {
        if (n_prompt == 0) cli_error("generate: the model's vocabulary has no BOS token; give a prompt");
        else status = run_generation(&o, model, prompt, n_prompt, prompt_text);
    }
    free(prompt);
    free(prompt_text);
    es_model_free(model);
    es_confidence_free(o.conf);
    return status;
}
