/* `entroscope serve`: the OpenAI-compatible HTTP server (es_serve) until
 * SIGTERM or SIGINT, which let the requests in flight finish. */
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "server/server_study.h"

/* Set by the signal handler, read by the serving loop: a signal handler
 * can reach nothing else. */
static volatile sig_atomic_t g_stop;

static void on_signal(int sig) { g_stop = 1; }
static int should_stop(void *user) { return g_stop != 0; }

static void on_ready(void *user, int port) {
    const es_server_params *p = user;
    fprintf(stderr, "entroscope: listening on http://%s:%d (POST /v1/completions, "
            "/v1/chat/completions; GET /v1/models, /health, / the viewer%s)\n", p->host, port,
            p->db_path ? ", /v1/entroscope/items" : "");
}

static void help(FILE *out) {
    fprintf(out,
        "usage: entroscope serve -m MODEL [options]\n\n"
        "An OpenAI-compatible HTTP server whose tokens carry their entropy statistics.\n\n"
        "  -m, --model PATH        GGUF file, Hugging Face folder or llama2.c checkpoint\n"
        "  -z, --tokenizer PATH    tokenizer (needed for llama2.c checkpoints)\n"
        "      --host ADDR         address to bind (default 127.0.0.1: this machine only)\n"
        "      --port N            port (default 8080; 0: any free one, printed)\n"
        "      --api-key KEY       require \"Authorization: Bearer KEY\"\n"
        "      --confidence FILE   a confidence model (entroscope confidence fit): each token\n"
        "                          carries its confidence\n"
        "  -t, --threads N         threads (default: all cores)\n"
        "      --kernels SET       best (default), avx512, avx2 or portable: compute with a lower\n"
        "                          kernel set, to reproduce the numbers of a CPU that has only it\n"
        "  -c, --ctx-size N        context length (default: the model's)\n"
        "      --sampler NAME      default (each request's temperature, top_p, seed) or entropix\n"
        "                          (README, \"Entropix sampler\"; each token then carries its branch)\n"
        "      --entropix-config FILE  the entropix thresholds and coefficients (JSON)\n"
        "      --db FILE           a trace database to browse (read-only): GET /v1/entroscope/items\n"
        "                          and the viewer's Study view\n"
        "  -h, --help              this text\n");
}

typedef struct serve_opts {
    const char *model, *tokenizer, *confidence;
    const char *sampler, *entropix_config; /* --sampler NAME (NULL: default) */
    es_entropix_params entropix;
    es_server_params p;
} serve_opts;

static int parse(int argc, char **argv, serve_opts *o) {
    static const struct option longs[] = {
        {"model", required_argument, 0, 'm'},    {"tokenizer", required_argument, 0, 'z'},
        {"host", required_argument, 0, 'H'},     {"port", required_argument, 0, 'P'},
        {"api-key", required_argument, 0, 'k'},  {"confidence", required_argument, 0, 'C'},
        {"threads", required_argument, 0, 't'},  {"ctx-size", required_argument, 0, 'c'},
        {"sampler", required_argument, 0, 'S'},  {"entropix-config", required_argument, 0, 'e'},
        {"db", required_argument, 0, 'D'},       {"help", no_argument, 0, 'h'},
        {"kernels", required_argument, 0, 'Q'},
        {0, 0, 0, 0},
    };
    int opt;
    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, ":m:z:t:c:h", longs, NULL)) != -1) {
        int rc = 0;
        switch (opt) {
        case 'm': o->model = optarg; break;
        case 'z': o->tokenizer = optarg; break;
        case 'H': o->p.host = optarg; break;
        case 'P': rc = cli_parse_int("--port", optarg, 0, 65535, &o->p.port); break;
        case 'k': o->p.api_key = optarg; break;
        case 'C': o->confidence = optarg; break;
        case 'S': o->sampler = optarg; break;
        case 'e': o->entropix_config = optarg; break;
        case 'D': o->p.db_path = optarg; break;
        case 't': rc = cli_parse_int("-t", optarg, 1, 1024, &o->p.n_threads); break;
        case 'Q': rc = cli_parse_kernels("serve", optarg, &o->p.kernels); break;
        case 'c': rc = cli_parse_int("-c", optarg, 1, 1 << 24, &o->p.n_ctx); break;
        case 'h': help(stdout); return 1;
        case ':': cli_error("serve: option %s needs a value", argv[optind - 1]); return -1;
        default: cli_error("serve: unknown option '%s' (see entroscope serve --help)", argv[optind - 1]); return -1;
        }
        if (rc) return -1;
    }
    if (optind < argc) {
        cli_error("serve: unexpected argument '%s'", argv[optind]);
        return -1;
    }
    if (!o->model) {
        cli_error("serve: no model given (-m MODEL)");
        return -1;
    }
    if (o->p.api_key && !o->p.api_key[0]) {
        cli_error("serve: --api-key is empty");
        return -1;
    }
    es_sampler_params sampling = es_sampler_default_params();
    if (o->sampler && strcmp(o->sampler, "greedy") == 0) {
        cli_error("serve: --sampler greedy: ask for temperature 0 in the request instead");
        return -1;
    }
    if (cli_choose_sampler("serve", o->sampler, o->entropix_config, &sampling, &o->entropix) < 0) return -1;
    o->p.entropix = sampling.entropix;
    return 0;
}

int cmd_serve(int argc, char **argv) {
    serve_opts o = {.p = es_server_default_params()};
    int rc = parse(argc, argv, &o);
    if (rc) return rc > 0 ? CLI_OK : CLI_BAD_INPUT;
    es_error err;
    if (o.p.db_path && study_db_check(o.p.db_path, &err)) { /* before the model: a quick refusal */
        cli_error("%s", err.msg);
        return CLI_BAD_INPUT;
    }
    es_confidence *conf = NULL;
    if (o.confidence) {
        if (!(conf = es_confidence_load(o.confidence, &err))) {
            cli_error("%s", err.msg);
            return CLI_BAD_INPUT;
        }
    }
    es_model *model = es_model_load(o.model, o.tokenizer, &err);
    if (!model) {
        cli_error("%s", err.msg);
        if (conf) es_confidence_free(conf);
        return CLI_BAD_INPUT;
    }
    o.p.confidence = conf;
    o.p.should_stop = should_stop;
    o.p.on_ready = on_ready;
    o.p.user = &o.p;
    struct sigaction sa = {.sa_handler = on_signal}, old_int, old_term, ign = {.sa_handler = SIG_IGN};
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    sigaction(SIGPIPE, &ign, NULL); /* a client gone away is an error return, not a death */
    rc = es_serve(model, &o.p, &err);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    if (rc) cli_error("%s", err.msg);
    else fprintf(stderr, "entroscope: stopped\n");
    es_model_free(model);
    if (conf) es_confidence_free(conf);
    return rc ? CLI_FAILURE : CLI_OK;
}
