/* `entroscope synth`: write a random-weight model of a given shape. */
#include <getopt.h>
#include <string.h>

#include "cli/cli.h"

static void help(FILE *out) {
    fprintf(out,
        "usage: entroscope synth [--preset NAME] [shape options] -o OUT\n\n"
        "Writes a Llama model with random weights (deterministic for a seed) as GGUF or\n"
        "as a Hugging Face folder; the same seed gives the same weights in both.\n\n"
        "  -o, --output PATH     the GGUF file or the folder to write (each file is\n"
        "                        written whole, or not at all)\n"
        "      --format F        gguf (default) or safetensors (config.json,\n"
        "                        tokenizer.json, model.safetensors)\n"
        "      --preset NAME     start from a named shape (default: tiny):\n");
    es_synth_list_presets(out);
    fprintf(out,
        "      --type T          f32, f16, bf16, q8_0, q4_0, q4_k, q6_k or q4_k_m (llama.cpp's\n"
        "                        Q4_K_M mix); GGUF norms stay f32; safetensors: f32/f16/bf16\n"
        "      --vocab-from PATH copy the vocabulary of a GGUF or tokenizer.json\n"
        "                        (safetensors: a tokenizer.json, copied into the folder)\n"
        "      --vocab N         size of the synthetic vocabulary (without --vocab-from)\n"
        "      --dim N --hidden N --layers N --heads N --kv-heads N --head-dim N\n"
        "      --ctx N           trained context length to record\n"
        "      --rope-theta F    rotary base (default: the preset's)\n"
        "      --rope-factor F   llama3 RoPE scaling factor (low 1, high 4, original\n"
        "                        context 8192 unless the preset says); 0: none\n"
        "      --tied | --untied the output matrix is (or is not) the token embedding\n"
        "      --seed S          random seed (default 0)\n"
        "  -h, --help            this text\n");
}

enum { O_PRESET = 256, O_TYPE, O_VOCAB_FROM, O_VOCAB, O_DIM, O_HIDDEN, O_LAYERS, O_HEADS,
       O_KV_HEADS, O_HEAD_DIM, O_CTX, O_THETA, O_TIED, O_UNTIED, O_SEED, O_FORMAT,
       O_ROPE_FACTOR };

/* The shape options, applied after the preset whatever their order. */
static int apply(int opt, const char *val, es_synth_params *p) {
    switch (opt) {
    case O_TYPE: p->type = val; return 0;
    case O_VOCAB_FROM: p->vocab_path = val; return 0;
    case O_VOCAB: return cli_parse_int("--vocab", val, 259, 1 << 24, &p->vocab_size);
    case O_DIM: return cli_parse_int("--dim", val, 2, 1 << 16, &p->dim);
    case O_HIDDEN: return cli_parse_int("--hidden", val, 1, 1 << 18, &p->hidden_dim);
    case O_LAYERS: return cli_parse_int("--layers", val, 1, 1024, &p->n_layers);
    case O_HEADS: return cli_parse_int("--heads", val, 1, 1024, &p->n_heads);
    case O_KV_HEADS: return cli_parse_int("--kv-heads", val, 1, 1024, &p->n_kv_heads);
    case O_HEAD_DIM: return cli_parse_int("--head-dim", val, 2, 1024, &p->head_dim);
    case O_CTX: return cli_parse_int("--ctx", val, 1, 1 << 24, &p->context_length);
    case O_THETA: return cli_parse_float("--rope-theta", val, 1, 1e9, &p->rope_theta);
    case O_TIED: p->tied_output = 1; return 0;
    case O_UNTIED: p->tied_output = 0; return 0;
    case O_SEED: return cli_parse_u64("--seed", val, &p->seed);
    case O_FORMAT: p->format = val; return 0;
    case O_ROPE_FACTOR:
        if (cli_parse_float("--rope-factor", val, 0, 1e6, &p->rope_factor)) return -1;
        if (p->rope_factor != 0 && p->rope_original_context == 0) {
            p->rope_low_freq_factor = 1.0f;
            p->rope_high_freq_factor = 4.0f;
            p->rope_original_context = 8192;
        }
        return 0;
    }
    return -1;
}

int cmd_synth(int argc, char **argv) {
    static const struct option longs[] = {
        {"output", required_argument, 0, 'o'}, {"preset", required_argument, 0, O_PRESET},
        {"type", required_argument, 0, O_TYPE}, {"vocab-from", required_argument, 0, O_VOCAB_FROM},
        {"vocab", required_argument, 0, O_VOCAB}, {"dim", required_argument, 0, O_DIM},
        {"hidden", required_argument, 0, O_HIDDEN}, {"layers", required_argument, 0, O_LAYERS},
        {"heads", required_argument, 0, O_HEADS}, {"kv-heads", required_argument, 0, O_KV_HEADS},
        {"head-dim", required_argument, 0, O_HEAD_DIM}, {"ctx", required_argument, 0, O_CTX},
        {"rope-theta", required_argument, 0, O_THETA}, {"tied", no_argument, 0, O_TIED},
        {"untied", no_argument, 0, O_UNTIED}, {"seed", required_argument, 0, O_SEED},
        {"format", required_argument, 0, O_FORMAT},
        {"rope-factor", required_argument, 0, O_ROPE_FACTOR},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0},
    };
    const char *out = NULL, *preset = "tiny";
    int opt, n_shape = 0;
    struct { int opt; const char *val; } shape[64];
    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, ":o:h", longs, NULL)) != -1) {
        if (opt == 'o') out = optarg;
        else if (opt == O_PRESET) preset = optarg;
        else if (opt == 'h') { help(stdout); return CLI_OK; }
        else if (opt == ':') { cli_error("synth: option %s needs a value", argv[optind - 1]); return CLI_BAD_INPUT; }
        else if (opt == '?') { cli_error("synth: unknown option '%s' (see entroscope synth --help)", argv[optind - 1]); return CLI_BAD_INPUT; }
        else if (n_shape < 64) { shape[n_shape].opt = opt; shape[n_shape++].val = optarg; }
    }
    if (optind < argc) {
        cli_error("synth: unexpected argument '%s'", argv[optind]);
        return CLI_BAD_INPUT;
    }
    if (!out) {
        cli_error("synth: no output given (-o OUT.gguf, or -o FOLDER with --format safetensors)");
        return CLI_BAD_INPUT;
    }
    es_error err;
    es_synth_params p;
    if (es_synth_preset(preset, &p, &err)) {
        cli_error("synth: %s", err.msg);
        return CLI_BAD_INPUT;
    }
    for (int i = 0; i < n_shape; i++)
        if (apply(shape[i].opt, shape[i].val, &p)) return CLI_BAD_INPUT;
    if (es_synth_write(&p, out, &err)) {
        cli_error("%s", err.msg);
        return CLI_BAD_INPUT;
    }
    return CLI_OK;
}
