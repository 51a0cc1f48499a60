/* Command-line tests: the binary is run as a user would run it (path in
 * ENTROSCOPE_BIN, default build/entroscope), and its exit status, stdout
 * and stderr are checked. Bad arguments and bad files are one table: each
 * row must give exit status 2, nothing on stdout, and exactly one line on
 * stderr containing the expected text. */
#include "test.h"
#include "cli_run.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int count_lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

/* Paths stay valid for a whole table of cases: 128 slots in rotation. */
static const char *tmp_path(const char *name) {
    static char buf[128][512];
    static int slot;
    char *p = buf[slot++ % 128];
    snprintf(p, 512, "%s/%s", test_tmpdir(), name);
    return p;
}

static void write_bytes(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fwrite(data, 1, n, f);
    fclose(f);
}

/* Writes the first n bytes of src to dst. */
static void truncate_copy(const char *src, const char *dst, size_t n) {
    char *buf = malloc(n);
    FILE *f = fopen(src, "rb");
    size_t got = f ? fread(buf, 1, n, f) : 0;
    if (f) fclose(f);
    write_bytes(dst, buf, got);
    free(buf);
}

/* Makes the files the bad-input table refers to. Returns 0 if the tiny model was made. */
static int make_fixtures(void) {
    run_result r;
    const char *synth[] = {"synth", "--preset", "tiny", "--seed", "3", "-o", tmp_path("tiny.gguf"), NULL};
    cli_run(&r, synth);
    if (r.status != 0) {
        test_fail(__FILE__, __LINE__, "synth failed: %s", r.err);
        return -1;
    }
    truncate_copy(tmp_path("tiny.gguf"), tmp_path("truncated.gguf"), 3000);
    write_bytes(tmp_path("empty.gguf"), "", 0);
    unsigned char garbage[1000];
    for (int i = 0; i < 1000; i++) garbage[i] = (unsigned char)(i * 131 + 7);
    write_bytes(tmp_path("garbage.bin"), garbage, sizeof garbage);
    /* a llama2.c header (dim, hidden, layers, heads, kv heads, vocab, seq) with no weights */
    int32_t header[7] = {64, 172, 5, 8, 4, 512, 512};
    write_bytes(tmp_path("headeronly.bin"), header, sizeof header);
    int32_t bad_header[7] = {64, 172, 5, 7, 4, 512, 512}; /* 7 heads do not divide dim 64 */
    write_bytes(tmp_path("badheads.bin"), bad_header, sizeof bad_header);
    write_bytes(tmp_path("bad.json"), "{\"model\": {\"type\": \"BPE\", ", 25);
    mkdir(tmp_path("adir"), 0755);
    return 0;
}

typedef struct bad_case {
    const char *args[12];
    const char *expect; /* substring of the one stderr line */
} bad_case;

#define T(name) tmp_path(name)

static void bad_inputs(void) {
    const char *tok512 = "../shared/models/stories260K/tok512.bin";
    const bad_case cases[] = {
        {{"frobnicate"}, "unknown command 'frobnicate'"},
        {{"generate"}, "no model given"},
        {{"generate", "-m", T("missing.gguf")}, "missing.gguf: cannot open: No such file or directory"},
        {{"generate", "-m", T("empty.gguf")}, "empty.gguf"},
        {{"generate", "-m", T("adir")}, "adir"},
        {{"generate", "-m", T("truncated.gguf")}, "truncated.gguf"},
        {{"generate", "-m", T("garbage.bin"), "-z", T("garbage.bin")}, "garbage.bin"},
        {{"generate", "-m", T("headeronly.bin"), "-z", tok512}, "headeronly.bin"},
        {{"generate", "-m", T("badheads.bin"), "-z", tok512}, "badheads.bin"},
        {{"generate", "-m", T("headeronly.bin")}, "tokenizer"},
        {{"generate", "-m", "../shared/models/stories260K/stories260K.bin", "-z",
          "../shared/tokenizers/llama2/tokenizer.bin"}, "not this model's tokenizer"},
        {{"generate", "-m", T("tiny.gguf"), "-n", "abc"}, "-n: 'abc' is not an integer"},
        {{"generate", "-m", T("tiny.gguf"), "--temp", "-1"}, "--temp: -1 is out of range"},
        {{"generate", "-m", T("tiny.gguf"), "--top-p", "1.5"}, "--top-p: 1.5 is out of range"},
        {{"generate", "-m", T("tiny.gguf"), "-t", "0"}, "-t: 0 is out of range"},
        {{"generate", "-m", T("tiny.gguf"), "--seed", "x"}, "--seed: 'x' is not"},
        {{"generate", "-m", T("tiny.gguf"), "--bogus"}, "unknown option '--bogus'"},
        {{"generate", "-m", T("tiny.gguf"), "-n"}, "option -n needs a value"},
        {{"generate", "-m", T("tiny.gguf"), "stray"}, "unexpected argument 'stray'"},
        {{"generate", "-m", T("tiny.gguf"), "-p", "x", "-f", T("garbage.bin")}, "not both"},
        {{"generate", "-m", T("tiny.gguf"), "-f", T("missing.txt")}, "missing.txt: No such file"},
        {{"generate", "-m", T("tiny.gguf"), "-c", "4", "-p",
          "a prompt that is certainly longer than four tokens of context"}, "context"},
        {{"tokenize"}, "no tokenizer given"},
        {{"tokenize", "-m", T("tiny.gguf")}, "exactly one TEXT"},
        {{"tokenize", "-m", T("tiny.gguf"), "a", "b"}, "exactly one TEXT"},
        {{"tokenize", "-m", T("bad.json"), "a"}, "bad.json"},
        {{"tokenize", "-m", T("truncated.gguf"), "a"}, "truncated.gguf"},
        {{"info"}, "exactly one MODEL"},
        {{"info", T("garbage.bin")}, "garbage.bin"},
        {{"synth"}, "no output given"},
        {{"synth", "--preset", "nope", "-o", T("x.gguf")}, "unknown preset 'nope'"},
        {{"synth", "--type", "q9_9", "-o", T("x.gguf")}, "q9_9"},
        {{"synth", "--heads", "3", "--kv-heads", "2", "-o", T("x.gguf")}, "not a multiple of 2 KV heads"},
        {{"synth", "--type", "q8_0", "--preset", "stories260k", "-o", T("x.gguf")}, "multiple of 32"},
        {{"synth", "-o", T("no/such/dir/x.gguf")}, "No such file or directory"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        run_result r;
        int needs_shared = 0;
        for (int a = 0; cases[i].args[a]; a++) needs_shared |= strncmp(cases[i].args[a], "../shared/", 10) == 0;
        if (needs_shared && access("../shared/models/stories260K", R_OK) != 0) {
            test_skip("missing ../shared/models/stories260K");
            continue;
        }
        cli_run(&r, cases[i].args);
        char line[256] = "";
        for (int a = 0; cases[i].args[a] && strlen(line) < 200; a++) {
            strcat(line, " ");
            strncat(line, cases[i].args[a], 40);
        }
        CHECKF(r.status == 2, "`%s`: exit %d, expected 2 (stderr: %s)", line, r.status, r.err);
        CHECKF(r.out[0] == 0, "`%s`: wrote to stdout: %s", line, r.out);
        CHECKF(count_lines(r.err) == 1, "`%s`: %d lines on stderr: %s", line, count_lines(r.err), r.err);
        CHECKF(strncmp(r.err, "entroscope: ", 12) == 0, "`%s`: stderr lacks the prefix: %s", line, r.err);
        CHECKF(strstr(r.err, cases[i].expect) != NULL, "`%s`: stderr \"%s\" lacks \"%s\"", line, r.err, cases[i].expect);
    }
    CHECK(access(T("x.gguf"), F_OK) != 0); /* no failed synth left a file */
}

static void generate_threads(void) {
    run_result a, b;
    const char *t1[] = {"generate", "-m", T("tiny.gguf"), "-p", "Once upon", "--temp", "0", "-n", "40", "-t", "1", "-q", NULL};
    const char *t2[] = {"generate", "-m", T("tiny.gguf"), "-p", "Once upon", "--temp", "0", "-n", "40", "-t", "2", "-q", NULL};
    cli_run(&a, t1);
    cli_run(&b, t2);
    CHECK_INT(a.status, 0);
    CHECK_INT(b.status, 0);
    CHECK(a.out[0] != 0);
    CHECKF(strcmp(a.out, b.out) == 0, "-t 1: \"%s\"\n-t 2: \"%s\"", a.out, b.out);
    CHECK(a.err[0] == 0); /* -q */
}

static void synth_deterministic(void) {
    run_result r;
    const char *s1[] = {"synth", "--preset", "tiny", "--type", "q8_0", "--seed", "5", "-o", T("s1.gguf"), NULL};
    const char *s2[] = {"synth", "--preset", "tiny", "--type", "q8_0", "--seed", "5", "-o", T("s2.gguf"), NULL};
    const char *s3[] = {"synth", "--preset", "tiny", "--type", "q8_0", "--seed", "6", "-o", T("s3.gguf"), NULL};
    cli_run(&r, s1); CHECK_INT(r.status, 0);
    cli_run(&r, s2); CHECK_INT(r.status, 0);
    cli_run(&r, s3); CHECK_INT(r.status, 0);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "cmp -s %s %s", T("s1.gguf"), T("s2.gguf"));
    CHECK(system(cmd) == 0);
    snprintf(cmd, sizeof cmd, "cmp -s %s %s", T("s1.gguf"), T("s3.gguf"));
    CHECK(system(cmd) != 0);
    const char *info[] = {"info", T("s1.gguf"), NULL};
    cli_run(&r, info);
    CHECK_INT(r.status, 0);
    CHECK(strstr(r.out, "Q8_0") != NULL);
    CHECKF(strstr(r.out, "kernels ") && strstr(r.out, "portable)"), "%s", r.out);
}

static void stories260k(void) {
    static const char expected[] =
        "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, "
        "she saw a big, red ball. She wanted to play with it, but it was too high.\nLily's mom said, \"Lily, "
        "let's go to the park.\" Lily was sad and didn't know what to do. She said, \"I want to play with your "
        "ball, but I can't find it.\"\nLily was sad and didn't know what to do. She said, \"I'm sorry, Lily. I "
        "didn't know what to do.\"\nLily didn't want to help her mom, so she";
    const char *bin = test_shared("models/stories260K/stories260K.bin");
    const char *gguf = test_shared("models/stories260K/stories260K.gguf");
    const char *tok = test_shared("models/stories260K/tok512.bin");
    if (!bin || !gguf || !tok) return;
    run_result r;
    /* The exact command of the acceptance criterion (llama2.c's test_all.py). */
    const char *a[] = {"generate", "-m", bin, "-z", tok, "--temp", "0", "-n", "200", NULL};
    cli_run(&r, a);
    CHECK_INT(r.status, 0);
    CHECKF(strcmp(r.out, expected) == 0, "stories260K.bin printed:\n%s", r.out);
    const char *b[] = {"generate", "-m", gguf, "--temp", "0", "-n", "200", NULL};
    cli_run(&r, b);
    CHECK_INT(r.status, 0);
    CHECKF(strcmp(r.out, expected) == 0, "stories260K.gguf printed:\n%s", r.out);
}

static void tokenize_llama3(void) {
    const char *json = test_shared("tokenizers/llama3/tokenizer.json");
    if (!json) return;
    run_result r;
    const char *a[] = {"tokenize", "-m", json, "Hello world", NULL};
    cli_run(&r, a);
    CHECK_INT(r.status, 0);
    CHECK_STR(r.out, "128000 9906 1917\n");
    const char *b[] = {"tokenize", "-m", json, "--no-bos", "Hello world", NULL};
    cli_run(&r, b);
    CHECK_STR(r.out, "9906 1917\n");
    const char *c[] = {"tokenize", "-m", json, "--no-bos", "--special", "<|eot_id|>", NULL};
    cli_run(&r, c);
    CHECK_STR(r.out, "128009\n");
    const char *d[] = {"tokenize", "-m", json, "--no-bos", "", NULL};
    cli_run(&r, d);
    CHECK_STR(r.out, "\n");
}

void suite_cli(void) {
    if (access(cli_binary(), X_OK) != 0) {
        TEST("cli: binary present") test_fail(__FILE__, __LINE__, "no executable at %s", cli_binary());
        return;
    }
    int ok = 0;
    TEST("cli: fixtures") ok = make_fixtures() == 0;
    if (!ok) return;
    TEST("cli: bad arguments and files give one line and exit 2") bad_inputs();
    TEST("cli: greedy output is the same with -t 1 and -t 2") generate_threads();
    TEST("cli: synth is deterministic for a seed") synth_deterministic();
    TEST("cli: stories260K greedy output matches llama2.c's test") stories260k();
    TEST("cli: tokenize prints ids on one line") tokenize_llama3();
    cli_trace_tests();
    TEST("cli: --help works for every command") {
        const char *cmds[] = {"generate", "tokenize", "info", "synth"};
        for (int i = 0; i < 4; i++) {
            run_result r;
            const char *a[] = {cmds[i], "--help", NULL};
            cli_run(&r, a);
            CHECK_INT(r.status, 0);
            CHECKF(strstr(r.out, "usage: entroscope") != NULL, "%s --help: %s", cmds[i], r.out);
        }
    }
}
