/* `entroscope tokenize`: the token ids of a text, space-separated on one line. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static void help(FILE *out) {
    fprintf(out,
        "usage: entroscope tokenize -m MODEL_OR_TOKENIZER [--no-bos] [--special] (TEXT | --file F)\n\n"
        "Prints the token ids of TEXT (or of the file's bytes, exactly) space-separated on one line.\n\n"
        "  -m, --model PATH   a GGUF (a vocabulary-only one is fine), a llama2.c tokenizer.bin\n"
        "                     or a Hugging Face tokenizer.json\n"
        "      --no-bos       do not prepend the BOS token\n"
        "      --special      recognise special tokens such as <|eot_id|> in the text\n"
        "  -f, --file PATH    tokenize this file instead of TEXT\n"
        "  -h, --help         this text\n");
}

int cmd_tokenize(int argc, char **argv) {
    static const struct option longs[] = {
        {"model", required_argument, 0, 'm'}, {"no-bos", no_argument, 0, 'B'},
        {"special", no_argument, 0, 'X'},     {"file", required_argument, 0, 'f'},
        {"help", no_argument, 0, 'h'},        {0, 0, 0, 0},
    };
    const char *path = NULL, *file = NULL;
    int add_bos = 1, special = 0, opt;
    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, ":m:f:h", longs, NULL)) != -1) {
        switch (opt) {
        case 'm': path = optarg; break;
        case 'f': file = optarg; break;
        case 'B': add_bos = 0; break;
        case 'X': special = 1; break;
        case 'h': help(stdout); return CLI_OK;
        case ':': cli_error("tokenize: option %s needs a value", argv[optind - 1]); return CLI_BAD_INPUT;
        default: cli_error("tokenize: unknown option '%s' (see entroscope tokenize --help)", argv[optind - 1]); return CLI_BAD_INPUT;
        }
    }
    int n_text = argc - optind;
    if (!path) {
        cli_error("tokenize: no tokenizer given (-m MODEL_OR_TOKENIZER)");
        return CLI_BAD_INPUT;
    }
    if ((file != NULL) + n_text != 1) {
        cli_error("tokenize: give exactly one TEXT argument or --file F");
        return CLI_BAD_INPUT;
    }
    char *text = NULL;
    size_t len = 0;
    if (file && cli_read_file(file, &text, &len)) return CLI_BAD_INPUT;
    if (!file) len = strlen(argv[optind]);

    es_error err;
    int status = CLI_BAD_INPUT;
    es_tokenizer *tok = es_tokenizer_load(path, &err);
    int32_t *ids = NULL;
    size_t n = 0;
    int flags = (add_bos ? ES_TOKENIZE_ADD_BOS : 0) | (special ? ES_TOKENIZE_PARSE_SPECIAL : 0);
    if (!tok || es_tokenize(tok, file ? text : argv[optind], len, flags, &ids, &n, &err)) {
        cli_error("%s", err.msg);
    } else {
        for (size_t i = 0; i < n; i++) printf(i ? " %d" : "%d", ids[i]);
        putchar('\n');
        status = CLI_OK;
    }
    free(ids);
    free(text);
    es_tokenizer_free(tok);
    return status;
}
