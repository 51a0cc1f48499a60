/* `entroscope train`: train a Llama-architecture model from scratch on the
 * CPU (es_train). Ctrl-C or SIGTERM writes a checkpoint and exits; --resume
 * continues from it. */
#include <getopt.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

/* Set by the signal handler: the one piece of global state a signal needs. */
static volatile sig_atomic_t g_stop;

static void on_signal(int sig) {
    if (g_stop) _exit(130);
    g_stop = 1;
    static const char msg[] =
        "\nentroscope: stopping after this step and writing a checkpoint (again: quit now)\n";
    ssize_t ignored = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)ignored;
    (void)sig;
}

static int should_stop(void *user) { return g_stop != 0; }

static void help(FILE *out) {
    es_train_params d = es_train_default_params();
    fprintf(out,
        "usage: entroscope train --data FILE -o OUT.gguf [options]\n\n"
        "Trains a Llama-architecture model from scratch on the CPU (AdamW, warm-up then\n"
        "cosine schedule, gradient clipping) on JSON lines of {\"text\": ...} documents.\n"
        "Ctrl-C writes a checkpoint and stops; --resume continues bit for bit.\n\n"
        "  --data FILE            the corpus, one {\"text\": ...} a line\n"
        "  -o, --output FILE      the trained model (GGUF)\n"
        "  --vocab FILE           use this vocabulary (GGUF or tokenizer.json)\n"
        "  --vocab-size N         else learn a BPE of N tokens from the data (%d)\n"
        "  --dim N (%d)  --layers N (%d)  --heads N (%d)  --kv-heads N (%d)  --hidden N (%d)\n"
        "  --seq-len N            tokens per sequence, the model's context (%d)\n"
        "  --batch N              sequences per step (%d)\n"
        "  --steps N (%d)  --warmup N (%d)\n"
        "  --lr X (%g)  --min-lr X (%g)  --weight-decay X (%g)  --clip X (%g)\n"
        "  --seed N               (%llu)\n"
        "  -t, --threads N        0: all cores\n"
        "  --type T               weights written: f32, f16 or q8_0 (%s)\n"
        "  --checkpoint FILE      (default OUT.gguf.ckpt)\n"
        "  --checkpoint-every N   steps; 0: only at the end or when stopped (%d)\n"
        "  --resume               continue from the checkpoint\n"
        "  --log FILE             CSV: step,loss,lr,grad_norm,tokens_per_s,elapsed_s\n"
        "  -q, --quiet            no progress line\n"
        "  -h, --help             this text\n",
        d.vocab_size, d.dim, d.n_layers, d.n_heads, d.n_kv_heads, d.hidden_dim, d.seq_len,
        d.batch_size, d.steps, d.warmup_steps, d.lr, d.min_lr, d.weight_decay, d.grad_clip,
        (unsigned long long)d.seed, d.type, d.checkpoint_every);
}

enum { O_DATA = 256, O_VOCAB, O_VOCAB_SIZE, O_DIM, O_LAYERS, O_HEADS, O_KV_HEADS, O_HIDDEN,
       O_SEQ, O_BATCH, O_STEPS, O_WARMUP, O_LR, O_MIN_LR, O_WD, O_CLIP, O_SEED, O_TYPE,
       O_CKPT, O_CKPT_EVERY, O_RESUME, O_LOG };

static int apply(int opt, const char *v, es_train_params *p) {
    switch (opt) {
    case O_DATA: p->data_path = v; return 0;
    case 'o': p->out_path = v; return 0;
    case O_VOCAB: p->vocab_path = v; return 0;
    case O_VOCAB_SIZE: return cli_parse_int("--vocab-size", v, 259, 1 << 20, &p->vocab_size);
    case O_DIM: return cli_parse_int("--dim", v, 2, 1 << 16, &p->dim);
    case O_LAYERS: return cli_parse_int("--layers", v, 1, 1024, &p->n_layers);
    case O_HEADS: return cli_parse_int("--heads", v, 1, 1024, &p->n_heads);
    case O_KV_HEADS: return cli_parse_int("--kv-heads", v, 1, 1024, &p->n_kv_heads);
    case O_HIDDEN: return cli_parse_int("--hidden", v, 1, 1 << 18, &p->hidden_dim);
    case O_SEQ: return cli_parse_int("--seq-len", v, 1, 1 << 16, &p->seq_len);
    case O_BATCH: return cli_parse_int("--batch", v, 1, 1 << 16, &p->batch_size);
    case O_STEPS: return cli_parse_int("--steps", v, 1, 1 << 30, &p->steps);
    case O_WARMUP: return cli_parse_int("--warmup", v, 0, 1 << 30, &p->warmup_steps);
    case O_LR: return cli_parse_float("--lr", v, 1e-9, 10, &p->lr);
    case O_MIN_LR: return cli_parse_float("--min-lr", v, 0, 10, &p->min_lr);
    case O_WD: return cli_parse_float("--weight-decay", v, 0, 10, &p->weight_decay);
    case O_CLIP: return cli_parse_float("--clip", v, 1e-9, 1e9, &p->grad_clip);
    case O_SEED: return cli_parse_u64("--seed", v, &p->seed);
    case 't': return cli_parse_int("--threads", v, 0, 4096, &p->n_threads);
    case O_TYPE: p->type = v; return 0;
    case O_CKPT: p->checkpoint_path = v; return 0;
    case O_CKPT_EVERY: return cli_parse_int("--checkpoint-every", v, 0, 1 << 30, &p->checkpoint_every);
    case O_RESUME: p->resume = 1; return 0;
    case O_LOG: p->log_path = v; return 0;
    case 'q': p->progress = NULL; return 0;
    }
    return -1;
}

static void summary(const es_train_params *p, const es_train_summary *s) {
    printf("%s after %d steps: loss %.4f -> %.4f nats, %.0f tokens/s, %.1f s, %llu parameters\n",
           s->interrupted ? "stopped" : "trained", s->steps_done, s->first_loss, s->last_loss,
           s->tokens_per_s, s->seconds, (unsigned long long)s->n_params);
    if (!s->interrupted) printf("model: %s\n", p->out_path);
    if (p->checkpoint_path) printf("checkpoint: %s\n", p->checkpoint_path);
    else printf("checkpoint: %s.ckpt\n", p->out_path);
    if (p->log_path) printf("log: %s\n", p->log_path);
}

int cmd_train(int argc, char **argv) {
    static const struct option longs[] = {
        {"data", required_argument, 0, O_DATA}, {"output", required_argument, 0, 'o'},
        {"vocab", required_argument, 0, O_VOCAB}, {"vocab-size", required_argument, 0, O_VOCAB_SIZE},
        {"dim", required_argument, 0, O_DIM}, {"layers", required_argument, 0, O_LAYERS},
        {"heads", required_argument, 0, O_HEADS}, {"kv-heads", required_argument, 0, O_KV_HEADS},
        {"hidden", required_argument, 0, O_HIDDEN}, {"seq-len", required_argument, 0, O_SEQ},
        {"batch", required_argument, 0, O_BATCH}, {"steps", required_argument, 0, O_STEPS},
        {"warmup", required_argument, 0, O_WARMUP}, {"lr", required_argument, 0, O_LR},
        {"min-lr", required_argument, 0, O_MIN_LR}, {"weight-decay", required_argument, 0, O_WD},
        {"clip", required_argument, 0, O_CLIP}, {"seed", required_argument, 0, O_SEED},
        {"threads", required_argument, 0, 't'}, {"type", required_argument, 0, O_TYPE},
        {"checkpoint", required_argument, 0, O_CKPT},
        {"checkpoint-every", required_argument, 0, O_CKPT_EVERY},
        {"resume", no_argument, 0, O_RESUME}, {"log", required_argument, 0, O_LOG},
        {"quiet", no_argument, 0, 'q'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0},
    };
    es_train_params p = es_train_default_params();
    p.progress = stderr;
    p.progress_tty = isatty(STDERR_FILENO);
    int opt;
    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, ":o:t:qh", longs, NULL)) != -1) {
        if (opt == 'h') { help(stdout); return CLI_OK; }
        if (opt == ':') { cli_error("train: option %s needs a value", argv[optind - 1]); return CLI_BAD_INPUT; }
        if (opt == '?') { cli_error("train: unknown option '%s' (see entroscope train --help)", argv[optind - 1]); return CLI_BAD_INPUT; }
        if (apply(opt, optarg, &p)) return CLI_BAD_INPUT;
    }
    if (optind < argc) { cli_error("train: unexpected argument '%s'", argv[optind]); return CLI_BAD_INPUT; }
    if (!p.data_path || !p.out_path) {
        cli_error("train: need --data FILE and -o OUT.gguf (see entroscope train --help)");
        return CLI_BAD_INPUT;
    }
    g_stop = 0;
    p.should_stop = should_stop;
    struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_RESTART}, old_int, old_term;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    es_error err;
    es_train_summary s;
    int rc = es_train(&p, &s, &err);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    if (rc) {
        cli_error("%s", err.msg);
        return CLI_BAD_INPUT;
    }
    summary(&p, &s);
    return CLI_OK;
}
