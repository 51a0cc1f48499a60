/* `entroscope grade`: grades a study trace (es_grade) and prints its metrics. */
#include <getopt.h>
#include <string.h>

#include "cli/cli.h"

static void help(FILE *out) {
    fprintf(out,
        "usage: entroscope grade DB [--judge URL --judge-model NAME] [--api-key-env VAR]\n"
        "                        [--retries N] [--timeout S]\n\n"
        "Grades the study items of the trace database DB (from entroscope run) and prints the\n"
        "metrics. Items already graded are skipped, so grading again resumes; verdicts go to the\n"
        "grades table, located first errors of wrong GSM8K answers to the spans table.\n"
        "  SimpleQA: offline grader (CORRECT / INCORRECT / NOT_ATTEMPTED), and the judge with --judge;\n"
        "            correct, incorrect, not attempted, accuracy given attempted, F1, agreement.\n"
        "  GSM8K:    correct against the gold number, strict and flexible extraction; for wrong\n"
        "            answers the first wrong calculation (arithmetic checker) and, with --judge,\n"
        "            the first wrong step quoted by a critic, mapped to token rows.\n\n"
        "      --judge URL         an OpenAI-compatible server: its base URL (http://host:8080)\n"
        "                          or the full .../v1/chat/completions endpoint\n"
        "      --judge-model NAME  the model the judge server should use (required with --judge)\n"
        "      --api-key-env VAR   environment variable holding the API key (default\n"
        "                          OPENAI_API_KEY; unset: no key is sent)\n"
        "      --retries N         retries of a failed request, with exponential back-off (default 3)\n"
        "      --timeout S         seconds per request (default 60)\n"
        "  -h, --help              this text\n"
        "Judge answers are cached in DB: grading again asks the server nothing it was asked before.\n");
}

int cmd_grade(int argc, char **argv) {
    static const struct option longs[] = {
        {"judge", required_argument, 0, 'j'}, {"judge-model", required_argument, 0, 'm'},
        {"api-key-env", required_argument, 0, 'k'}, {"retries", required_argument, 0, 'r'},
        {"timeout", required_argument, 0, 't'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0},
    };
    es_grade_params p = es_grade_default_params();
    float timeout = (float)p.timeout_s;
    int opt;
    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, ":h", longs, NULL)) != -1) {
        switch (opt) {
        case 'j': p.judge_url = optarg; break;
        case 'm': p.judge_model = optarg; break;
        case 'k': p.api_key_env = optarg; break;
        case 'r': if (cli_parse_int("--retries", optarg, 0, 20, &p.max_retries)) return CLI_BAD_INPUT; break;
        case 't': if (cli_parse_float("--timeout", optarg, 0.001f, 3600.0f, &timeout)) return CLI_BAD_INPUT; break;
        case 'h': help(stdout); return CLI_OK;
        case ':': cli_error("grade: option %s needs a value", argv[optind - 1]); return CLI_BAD_INPUT;
        default: cli_error("grade: unknown option '%s' (see entroscope grade --help)", argv[optind - 1]); return CLI_BAD_INPUT;
        }
    }
    if (argc - optind != 1) {
        cli_error("grade: give exactly one trace DB");
        return CLI_BAD_INPUT;
    }
    if ((p.judge_url != NULL) != (p.judge_model != NULL)) {
        cli_error("grade: --judge and --judge-model go together");
        return CLI_BAD_INPUT;
    }
    if (p.api_key_env && !p.api_key_env[0]) {
        cli_error("grade: --api-key-env is empty");
        return CLI_BAD_INPUT;
    }
    p.timeout_s = timeout;
    p.log = stdout;
    es_error err;
    if (es_grade(argv[optind], &p, &err) < 0) {
        fflush(stdout);
        cli_error("%s", err.msg);
        return CLI_BAD_INPUT;
    }
    return CLI_OK;
}
