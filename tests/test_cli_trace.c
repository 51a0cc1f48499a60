/* Command-line tests of the probes' path end to end, on the real
 * stories260K model: `generate --trace` then `export`, row by row, and a
 * generation killed with SIGKILL in the middle, which must leave only
 * complete items behind. Part of suite "cli". */
#define _GNU_SOURCE /* F_SETPIPE_SZ */
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli_run.h"
#include "test.h"

static const char *tmp(const char *name) {
    static char buf[16][512];
    static int slot;
    char *p = buf[slot++ % 16];
    snprintf(p, 512, "%s/%s", test_tmpdir(), name);
    return p;
}

/* The rows of a JSONL export, parsed (NULL if it could not be read). */
static cJSON *read_jsonl(const char *path, int *n_rows) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    cJSON *rows = cJSON_CreateArray();
    char *line = NULL;
    size_t cap = 0;
    *n_rows = 0;
    while (getline(&line, &cap, f) > 0) {
        cJSON *row = cJSON_Parse(line);
        if (!row) {
            cJSON_Delete(rows);
            rows = NULL;
            break;
        }
        cJSON_AddItemToArray(rows, row);
        ++*n_rows;
    }
    free(line);
    fclose(f);
    return rows;
}

static double num(const cJSON *row, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(row, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static int is_null(const cJSON *row, const char *key) {
    return cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(row, key));
}

static int export_to(const char *db, const char *what, const char *out, int bits) {
    run_result r;
    const char *a[] = {"export", db, "--what", what, "--format", "jsonl", "-o", out,
                       bits ? "--bits" : NULL, NULL};
    cli_run(&r, a);
    return r.status;
}

/* Number of prompt tokens the model's tokenizer makes of text, with BOS. */
static int prompt_tokens(const char *model, const char *text) {
    run_result r;
    const char *a[] = {"tokenize", "-m", model, text, NULL};
    cli_run(&r, a);
    int n = 0;
    for (const char *p = r.out; *p; p++) n += *p == ' ';
    return r.status == 0 && r.out[0] ? n + 1 : -1;
}

static void trace_and_export(const char *model) {
    const int n_gen = 30, n_layers = 5, n_heads = 8;
    const char *db = tmp("run.db");
    run_result r;
    const char *g[] = {"generate", "-m", model, "-p", "Once upon a time", "--temp", "0", "-n", "30",
                       "--trace", db, "-q", NULL};
    cli_run(&r, g);
    CHECK_INT(r.status, 0);
    int n_prompt = prompt_tokens(model, "Once upon a time");
    CHECK(n_prompt > 1);

    int n;
    CHECK_INT(export_to(db, "tokens", tmp("tokens.jsonl"), 0), 0);
    cJSON *tokens = read_jsonl(tmp("tokens.jsonl"), &n);
    CHECK(tokens != NULL);
    if (!tokens) return;
    CHECK_INT(n, n_prompt + n_gen);
    int prompt_rows = 0, gen_rows = 0;
    char text[4096] = "";
    cJSON *row;
    cJSON_ArrayForEach(row, tokens) {
        if (num(row, "is_prompt") == 1) {
            CHECK(is_null(row, "step"));
            CHECK(num(row, "pos") == prompt_rows);
            prompt_rows++;
            continue;
        }
        /* generated token k: the pass whose query is at n_prompt - 1 + k */
        CHECK(num(row, "step") == gen_rows);
        CHECK(num(row, "pos") == n_prompt - 1 + gen_rows);
        double h = num(row, "logit_entropy"), ah = num(row, "attn_entropy_mean");
        CHECK(h >= 0 && h <= log(512.0) && num(row, "logit_varentropy") >= 0);
        CHECK(ah >= 0 && ah <= log(num(row, "pos") + 1) + 1e-6);
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(row, "token_text");
        if (cJSON_IsString(t) && strlen(text) + strlen(t->valuestring) < sizeof text)
            strcat(text, t->valuestring);
        gen_rows++;
    }
    CHECK_INT(prompt_rows, n_prompt);
    CHECK_INT(gen_rows, n_gen);
    /* the generated rows spell the text generate printed */
    run_result again;
    const char *g2[] = {"generate", "-m", model, "-p", "Once upon a time", "--temp", "0", "-n", "30",
                        "-q", NULL};
    cli_run(&again, g2);
    CHECKF(strcmp(text, again.out) == 0, "rows spell \"%s\", generate printed \"%s\"", text, again.out);

    /* --bits divides entropies by ln 2 and varentropies by (ln 2)^2 */
    CHECK_INT(export_to(db, "tokens", tmp("tokens_bits.jsonl"), 1), 0);
    cJSON *bits = read_jsonl(tmp("tokens_bits.jsonl"), &n);
    if (bits) {
        const cJSON *a = cJSON_GetArrayItem(tokens, n_prompt + 3), *b = cJSON_GetArrayItem(bits, n_prompt + 3);
        CHECK_NEAR(num(b, "logit_entropy"), num(a, "logit_entropy") / log(2.0), 1e-6);
        CHECK_NEAR(num(b, "attn_varentropy_mean"), num(a, "attn_varentropy_mean") / (log(2.0) * log(2.0)), 1e-6);
    }
    cJSON_Delete(bits);
    cJSON_Delete(tokens);

    /* one head row per (token, layer, head) */
    CHECK_INT(export_to(db, "heads", tmp("heads.jsonl"), 0), 0);
    cJSON *heads = read_jsonl(tmp("heads.jsonl"), &n);
    CHECK(heads != NULL);
    if (!heads) return;
    CHECK_INT(n, (n_prompt + n_gen) * n_layers * n_heads);
    int gen_head_rows = 0, bad = 0;
    cJSON_ArrayForEach(row, heads) {
        if (num(row, "is_prompt") == 1) continue;
        int k = gen_head_rows++ % (n_layers * n_heads);
        bad += num(row, "layer") != k / n_heads || num(row, "head") != k % n_heads;
        double h = num(row, "attn_entropy");
        bad += !(h >= 0 && h <= log(num(row, "pos") + 1) + 1e-6) || !(num(row, "attn_varentropy") >= 0);
    }
    CHECK_INT(gen_head_rows, n_gen * n_layers * n_heads);
    CHECK_INT(bad, 0);
    cJSON_Delete(heads);
}

/* Starts generate with stderr on a pipe shrunk to one page that nobody
 * reads: --stats writes a line per token, so the process blocks in the
 * middle of its generation, deterministically, and is killed there. */
static void killed_generation(const char *model) {
    const char *db = tmp("run.db"); /* holds the complete item of trace_and_export */
    int fds[2];
    CHECK(pipe(fds) == 0);
    fcntl(fds[1], F_SETPIPE_SZ, 4096);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 1);
        dup2(fds[1], 2);
        close(fds[0]);
        execl(cli_binary(), cli_binary(), "generate", "-m", model, "-p", "Once upon a time", "--temp",
              "0", "-n", "400", "--stats", "--trace", db, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    /* wait until the pipe is full: the child is blocked mid-generation */
    int avail = 0;
    for (int i = 0; i < 200; i++) {
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
        if (ioctl(fds[0], FIONREAD, &avail) == 0 && avail >= 4000) break;
    }
    CHECKF(avail >= 4000, "the child wrote only %d bytes of statistics", avail);
    kill(pid, SIGKILL);
    int st;
    waitpid(pid, &st, 0);
    close(fds[0]);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);

    /* the database opens, and holds the earlier item whole and nothing else */
    int n;
    CHECK_INT(export_to(db, "tokens", tmp("after.jsonl"), 0), 0);
    cJSON *rows = read_jsonl(tmp("after.jsonl"), &n);
    CHECK(rows != NULL);
    int n_prompt = prompt_tokens(model, "Once upon a time");
    CHECK_INT(n, n_prompt + 30);
    cJSON *row;
    cJSON_ArrayForEach(row, rows) CHECK(num(row, "item") == num(cJSON_GetArrayItem(rows, 0), "item"));
    cJSON_Delete(rows);
    /* and takes the next item as if nothing had happened */
    run_result r;
    const char *g[] = {"generate", "-m", model, "-p", "Once", "--temp", "0", "-n", "5", "--trace", db, "-q", NULL};
    cli_run(&r, g);
    CHECK_INT(r.status, 0);
    CHECK_INT(export_to(db, "tokens", tmp("after2.jsonl"), 0), 0);
    rows = read_jsonl(tmp("after2.jsonl"), &n);
    CHECK_INT(n, n_prompt + 30 + prompt_tokens(model, "Once") + 5);
    cJSON_Delete(rows);
}

/* The --stats table: a header, then one line per generated token; --bits
 * divides the entropies by ln 2 and the varentropies by (ln 2)^2. */
static void stats_table(const char *model) {
    run_result nats, bits;
    const char *a[] = {"generate", "-m", model, "-p", "Once upon a time", "--temp", "0", "-n", "6",
                       "--stats", "-q", NULL};
    const char *b[] = {"generate", "-m", model, "-p", "Once upon a time", "--temp", "0", "-n", "6",
                       "--stats", "--bits", "-q", NULL};
    cli_run(&nats, a);
    cli_run(&bits, b);
    CHECK_INT(nats.status, 0);
    CHECK_INT(bits.status, 0);
    CHECK(strstr(nats.err, "logit_H") && strstr(nats.err, "(nats, nats^2)"));
    CHECK(strstr(bits.err, "(bits, bits^2)") != NULL);
    int lines = 0;
    for (const char *p = nats.err; *p; p++) lines += *p == '\n';
    CHECK_INT(lines, 1 + 6);
    /* step 0's values: step, id, token, logit_H, logit_V, attn_H, attn_V */
    const char *ln = strchr(nats.err, '\n'), *lb = strchr(bits.err, '\n');
    double hn = NAN, vn = NAN, an = NAN, wn = NAN, hb = NAN, vb = NAN, ab = NAN, wb = NAN;
    int step, id;
    char tok[64];
    CHECK(ln && sscanf(ln + 1, "%d %d %63s %lf %lf %lf %lf", &step, &id, tok, &hn, &vn, &an, &wn) == 7);
    CHECK(lb && sscanf(lb + 1, "%d %d %63s %lf %lf %lf %lf", &step, &id, tok, &hb, &vb, &ab, &wb) == 7);
    CHECK_NEAR(hb, hn / log(2.0), 2e-4);
    CHECK_NEAR(vb, vn / (log(2.0) * log(2.0)), 2e-4);
    CHECK_NEAR(ab, an / log(2.0), 2e-4);
    CHECK_NEAR(wb, wn / (log(2.0) * log(2.0)), 2e-4);
    /* --no-probes keeps the logit columns and leaves the attention ones out */
    const char *c[] = {"generate", "-m", model, "-p", "Once", "--temp", "0", "-n", "2", "--stats",
                       "--no-probes", "-q", NULL};
    cli_run(&nats, c);
    CHECK_INT(nats.status, 0);
    CHECK(strstr(nats.err, "        -         -") != NULL);
}

void cli_trace_tests(void) {
    const char *model = test_shared("models/stories260K/stories260K.gguf");
    if (!model) return;
    TEST("cli: generate --trace then export: a row per token, a head row per layer and head")
        trace_and_export(model);
    TEST("cli: a generation killed mid-way leaves only complete items")
        killed_generation(model);
    TEST("cli: generate --stats prints a row per token, --bits converts") stats_table(model);
}
