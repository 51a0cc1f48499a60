/* `entroscope generate`: prompt in, generated text out on stdout (the prompt
 * is not echoed), a one-line summary on stderr. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"

typedef struct generate_opts {
    const char *model, *tokenizer, *prompt, *prompt_file;
    int n_predict, n_threads, n_ctx, special, quiet;
    es_sampler_params sampling;
} generate_opts;

static void help(FILE *out) {
    fprintf(out,
        "usage: entroscope generate -m MODEL [options]\n\n"
        "Generates text. Only the generated text goes to stdout; a summary line goes to stderr.\n\n"
        "  -m, --model PATH      GGUF file or llama2.c checkpoint (.bin)\n"
        "  -z, --tokenizer PATH  tokenizer: llama2.c tokenizer.bin, GGUF or tokenizer.json\n"
        "                        (needed for llama2.c checkpoints; overrides a GGUF's own)\n"
        "  -p, --prompt TEXT     the prompt (default: none, generation starts from BOS alone)\n"
        "  -f, --file PATH       read the prompt from a file, its bytes exactly\n"
        "  -n, --n-predict N     generate at most N tokens (default 256); stops earlier at the\n"
        "                        model's end-of-generation tokens or when the context is full\n"
        "      --temp T          temperature (default 1.0); 0 is greedy (argmax)\n"
        "      --top-k K         keep the K most probable tokens (default 0: off)\n"
        "      --top-p P         nucleus sampling mass (default 0.9; 1: off)\n"
        "      --min-p P         drop tokens below P times the top probability (default 0: off)\n"
        "      --seed S          random seed (default: from the clock, printed in the summary)\n"
        "  -t, --threads N       threads (default: all cores)\n"
        "  -c, --ctx-size N      context length (default: the model's; the cache grows as used)\n"
        "      --special         recognise special tokens such as <|eot_id|> in the prompt\n"
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
    if (!seeded) o->sampling.seed = (uint64_t)time(NULL);
    return 0;
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* The prompt's tokens: BOS, then the text (none: BOS alone, as llama2.c). */
static int tokenize_prompt(const generate_opts *o, const es_tokenizer *tok, int32_t **ids, size_t *n) {
    char *text = NULL;
    size_t len = 0;
    if (o->prompt_file && cli_read_file(o->prompt_file, &text, &len)) return -1;
    const char *src = o->prompt_file ? text : o->prompt ? o->prompt : "";
    if (!o->prompt_file) len = strlen(src);
    es_error err;
    int flags = ES_TOKENIZE_ADD_BOS | (o->special ? ES_TOKENIZE_PARSE_SPECIAL : 0);
    int rc = es_tokenize(tok, src, len, flags, ids, n, &err);
    free(text);
    if (rc) cli_error("%s", err.msg);
    return rc;
}

/* Generates and prints; returns the number of tokens generated, or -1.
 * *prefill_s receives the time of the prompt's evaluation. */
static int generate(const generate_opts *o, es_context *ctx, const es_tokenizer *tok,
                    const int32_t *prompt, size_t n_prompt, double *prefill_s) {
    es_error err;
    es_sampler *sampler = es_sampler_new(&o->sampling, es_tokenizer_vocab_size(tok));
    if (!sampler) {
        cli_error("out of memory");
        return -1;
    }
    int generated = 0;
    int32_t prev = prompt[n_prompt - 1], bos = es_tokenizer_bos(tok);
    double t0 = now_seconds();
    int rc = es_context_eval(ctx, prompt, (int)n_prompt, NULL, &err);
    *prefill_s = now_seconds() - t0;
    while (rc == 0 && generated < o->n_predict) {
        int32_t next = es_sampler_sample(sampler, es_context_logits(ctx));
        /* A new BOS means the model started another document: as llama2.c, stop. */
        if (es_tokenizer_is_eog(tok, next) || next == bos) break;
        size_t len;
        const char *piece = es_token_to_piece(tok, prev, next, 0, &len);
        fwrite(piece, 1, len, stdout);
        fflush(stdout);
        generated++;
        prev = next;
        if (generated == o->n_predict) break;
        if (es_context_pos(ctx) >= es_context_size(ctx)) {
            if (!o->quiet) fprintf(stderr, "\nentroscope: the context of %d tokens is full; stopping\n", es_context_size(ctx));
            break;
        }
        rc = es_context_eval(ctx, &next, 1, NULL, &err);
    }
    es_sampler_free(sampler);
    if (rc) {
        cli_error("%s", err.msg);
        return -1;
    }
    return generated;
}

int cmd_generate(int argc, char **argv) {
    generate_opts o = {.n_predict = 256, .sampling = es_sampler_default_params()};
    o.sampling.top_p = 0.9f;
    int prc = parse(argc, argv, &o);
    if (prc) return prc > 0 ? CLI_OK : CLI_BAD_INPUT;

    es_error err;
    es_model *model = es_model_load(o.model, o.tokenizer, &err);
    if (!model) {
        cli_error("%s", err.msg);
        return CLI_BAD_INPUT;
    }
    const es_tokenizer *tok = es_model_tokenizer(model);
    int32_t *prompt = NULL;
    size_t n_prompt = 0;
    int status = CLI_BAD_INPUT;
    es_context_params cp = {.n_ctx = o.n_ctx, .n_threads = o.n_threads};
    es_context *ctx = NULL;
    if (tokenize_prompt(&o, tok, &prompt, &n_prompt) == 0) {
        if (n_prompt == 0) cli_error("generate: the model's vocabulary has no BOS token; give a prompt");
        else if (!(ctx = es_context_new(model, &cp, &err))) cli_error("%s", err.msg);
        else if ((int)n_prompt > es_context_size(ctx))
            cli_error("generate: the prompt has %zu tokens but the context holds %d (raise -c)", n_prompt, es_context_size(ctx));
        else {
            double t0 = now_seconds(), prefill_s = 0;
            int n = generate(&o, ctx, tok, prompt, n_prompt, &prefill_s);
            double decode_s = now_seconds() - t0 - prefill_s;
            if (n >= 0) {
                status = CLI_OK;
                /* end the text's line; when stdout goes elsewhere the summary starts
                 * a line of its own, so that nothing is added to the text */
                int tty = isatty(fileno(stdout));
                if (tty) putchar('\n');
                /* n tokens were sampled but only n - 1 decode steps ran after the prefill */
                if (!o.quiet)
                    fprintf(stderr, "%s[prompt %zu tokens in %.3f s (%.1f tokens/s); generated %d tokens in %.3f s "
                            "(%.1f tokens/s); seed %llu]\n",
                            tty || n == 0 ? "" : "\n", n_prompt, prefill_s, prefill_s > 0 ? n_prompt / prefill_s : 0.0, n, decode_s,
                            decode_s > 0 && n > 1 ? (n - 1) / decode_s : 0.0, (unsigned long long)o.sampling.seed);
            } else {
                status = CLI_FAILURE;
            }
        }
    }
    free(prompt);
    es_context_free(ctx);
    es_model_free(model);
    return status;
}
