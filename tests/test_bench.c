/* Tests of the benchmark (src/bench, `entroscope bench`): bad arguments are
 * refused with one line, a run on a tiny synth model yields positive,
 * ordered numbers for exactly the tests and probe settings asked for, the
 * bytes a decode step reads match a count made from the model's shape, and
 * the three report forms are well formed. No timing is asserted: speeds
 * depend on the machine and on what else runs on it. */
#include "test.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <unistd.h>

#include "cli_run.h"
#include "entroscope.h"

/* A tiny random model in the run's temporary directory (tied or not). */
static const char *tiny_model(int tied) {
    static char path[2][512];
    char *p = path[tied != 0];
    if (p[0]) return p;
    snprintf(p, sizeof path[0], "%s/bench-tiny-%s.gguf", test_tmpdir(), tied ? "tied" : "untied");
    es_synth_params sp;
    es_error err;
    if (es_synth_preset("tiny", &sp, &err) || (sp.tied_output = tied, es_synth_write(&sp, p, &err))) {
        test_fail(__FILE__, __LINE__, "synth: %s", err.msg);
        p[0] = 0;
        return NULL;
    }
    return p;
}

/* Small and quick: 3 repetitions of every test, no bandwidth measurement. */
static es_bench_params quick_params(void) {
    es_bench_params p = es_bench_default_params();
    p.n_threads = 2;
    p.n_prompt = 8;
    p.n_gen = 4;
    p.n_ctx = 24;
    p.n_gen_long = 3;
    p.repetitions = 3;
    p.bandwidth_bytes = 0;
    return p;
}

static char g_last_step[64]; /* the last progress step count_progress saw */

static void count_progress(void *user, const char *step) {
    int *n = user;
    if (step && step[0]) (*n)++;
    snprintf(g_last_step, sizeof g_last_step, "%s", step ? step : "");
}

static int stat_sane(const es_bench_stat *s, int reps) {
    return s->n == reps && s->min > 0 && s->min <= s->median && s->median <= s->max &&
           isfinite(s->max);
}

static void suite_bench_arguments(void) {
    TEST("bench: bad parameters are refused with one line") {
        const char *path = tiny_model(1);
        es_error err;
        es_model *m = path ? es_model_load(path, NULL, &err) : NULL;
        CHECK(m != NULL);
        es_bench_params bad[8];
        for (int i = 0; i < 8; i++) bad[i] = quick_params();
        bad[0].repetitions = 0;
        bad[1].n_prompt = -1;
        bad[2].probes = 0;
        bad[3].n_prompt = bad[3].n_gen = bad[3].n_ctx = 0;
        bad[4].n_gen_long = 0;
        bad[5].n_threads = -2;
        bad[6].probes = 4;
        bad[7].kernels = (es_kernels)9;
        for (int i = 0; m && i < 8; i++) {
            es_bench_result r;
            err.msg[0] = 0;
            CHECKF(es_bench_run(m, &bad[i], &r, &err) == -1, "case %d was accepted", i);
            CHECKF(strncmp(err.msg, "bench: ", 7) == 0 && !strchr(err.msg, '\n'),
                   "case %d: '%s'", i, err.msg);
        }
        es_bench_params ok = quick_params();
        es_bench_result r;
        CHECK(es_bench_run(NULL, &ok, &r, &err) == -1);
        es_model_free(m);
    }
    TEST("bench: bandwidth refuses bad arguments and measures a positive rate") {
        es_error err;
        CHECK(es_memory_bandwidth(0, 8 << 20, &err) < 0);
        CHECK(strstr(err.msg, "threads") != NULL);
        CHECK(es_memory_bandwidth(1, 1000, &err) < 0);
        CHECK(strstr(err.msg, "too small") != NULL);
        for (int threads = 1; threads <= 3; threads++) {
            double gbs = es_memory_bandwidth(threads, (size_t)4 << 20, &err);
            CHECKF(gbs > 0 && isfinite(gbs), "%d threads: %g GB/s", threads, gbs);
        }
    }
}

static void suite_bench_runs(void) {
    TEST("bench: a tiny model gives positive, ordered numbers for every test and setting") {
        const char *path = tiny_model(1);
        es_error err;
        es_model *m = path ? es_model_load(path, NULL, &err) : NULL;
        CHECK(m != NULL);
        es_bench_params p = quick_params();
        int steps = 0;
        p.progress = count_progress;
        p.user = &steps;
        p.bandwidth_bytes = (size_t)2 << 20;
        es_bench_result r;
        int rc = m ? es_bench_run(m, &p, &r, &err) : -1;
        CHECKF(rc == 0, "%s", rc ? err.msg : "");
        if (rc == 0) {
            for (int t = 0; t < ES_BENCH_N_TESTS; t++)
                for (int s = 0; s < 2; s++)
                    CHECKF(stat_sane(&r.speed[t][s], 3), "test %d probes %d: n %d, %g %g %g", t, s,
                           r.speed[t][s].n, r.speed[t][s].min, r.speed[t][s].median, r.speed[t][s].max);
            CHECK(r.bandwidth_1_gbs > 0 && r.bandwidth_n_gbs >= r.bandwidth_1_gbs);
            CHECK(r.params.n_threads == 2);
            CHECK_STR(r.model, "bench-tiny-tied.gguf");
            CHECK_STR(r.weight_type, "F32");
            /* tied: the classifier reads the whole embedding table */
            CHECK(r.bytes_per_token == r.weight_bytes && r.weight_bytes > 0);
            CHECK_NEAR(r.decode_limit, r.bandwidth_n_gbs * 1e9 / (double)r.bytes_per_token, 1e-9);
            CHECKF(steps >= 2 + 3 * ES_BENCH_N_TESTS, "%d progress steps", steps);
            /* the bandwidth is measured again after the tests (the better kept) */
            CHECK_STR(g_last_step, "memory bandwidth, again");
        }
        es_model_free(m);
    }
    TEST("bench: probes off runs one setting; bytes per token skip the embedding table") {
        const char *path = tiny_model(0);
        es_error err;
        es_model *m = path ? es_model_load(path, NULL, &err) : NULL;
        CHECK(m != NULL);
        es_bench_params p = quick_params();
        p.probes = ES_BENCH_PROBES_OFF;
        p.n_ctx = 0;
        p.repetitions = 2;
        es_bench_result r;
        int rc = m ? es_bench_run(m, &p, &r, &err) : -1;
        CHECKF(rc == 0, "%s", rc ? err.msg : "");
        if (rc == 0) {
            CHECK(stat_sane(&r.speed[ES_BENCH_PREFILL][0], 2));
            CHECK(stat_sane(&r.speed[ES_BENCH_DECODE][0], 2));
            CHECK_INT(r.speed[ES_BENCH_PREFILL][1].n, 0);
            CHECK_INT(r.speed[ES_BENCH_DECODE][1].n, 0);
            CHECK_INT(r.speed[ES_BENCH_DECODE_LONG][0].n, 0);
            /* the tiny shape, F32: embedding 512 x 64 floats, of which one row is read */
            CHECK_INT(r.weight_bytes - r.bytes_per_token, (512 - 1) * 64 * 4);
            CHECK(r.bandwidth_1_gbs == 0 && r.decode_limit == 0);
        }
        es_model_free(m);
    }
}

/* ------------------------------------------------------------ reports -- */

static char *report_text(const es_bench_result *r, int format) {
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    if (!f) return NULL;
    es_bench_report(r, format, f);
    fclose(f);
    return buf;
}

/* Every line of a Markdown table starts and ends with '|' and has as many
 * cells as the header. Returns the number of lines, or -1. */
static int markdown_lines(const char *md) {
    int lines = 0, cells = -1;
    for (const char *line = md; *line; lines++) {
        const char *end = strchr(line, '\n');
        if (!end || line[0] != '|' || end[-1] != '|') return -1;
        int bars = 0;
        for (const char *c = line; c < end; c++) bars += *c == '|' && (c == line || c[-1] != '\\');
        if (cells >= 0 && bars != cells) return -1;
        cells = bars;
        line = end + 1;
    }
    return lines;
}

static void suite_bench_reports(void) {
    TEST("bench: text, Markdown and JSON reports are well formed") {
        const char *path = tiny_model(1);
        es_error err;
        es_model *m = path ? es_model_load(path, NULL, &err) : NULL;
        es_bench_params p = quick_params();
        es_bench_result r;
        int rc = m ? es_bench_run(m, &p, &r, &err) : -1;
        CHECK(rc == 0);
        char *text = rc ? NULL : report_text(&r, ES_BENCH_TEXT);
        char *md = rc ? NULL : report_text(&r, ES_BENCH_MARKDOWN);
        char *json = rc ? NULL : report_text(&r, ES_BENCH_JSON);
        if (text) {
            CHECK(strstr(text, "prefill 8") && strstr(text, "decode 4 ") && strstr(text, "decode 3 @ 24"));
            CHECK(strstr(text, "probes cost") != NULL);
        }
        if (md) CHECKF(markdown_lines(md) == 3, "%s", md);
        cJSON *o = json ? cJSON_Parse(json) : NULL;
        CHECKF(o != NULL, "%s", json ? json : "(none)");
        cJSON *tests = cJSON_GetObjectItem(o, "tests");
        CHECK_INT(cJSON_GetArraySize(tests), 2 * ES_BENCH_N_TESTS);
        CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(o, "weight_type")), "F32");
        /* the kernel set is resolved (never "best") and named in every report */
        CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(o, "kernels")),
                  es_kernels_name(es_kernels_resolve(ES_KERNELS_BEST)));
        if (text) CHECK(strstr(text, es_kernels_name(es_kernels_resolve(ES_KERNELS_BEST))) != NULL);
        if (md) CHECK(strstr(md, "| kernels |") != NULL);
        cJSON *first = cJSON_GetArrayItem(tests, 0);
        if (first) {
            CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(first, "test")), "prefill");
            CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(first, "probes")), "off");
            CHECK_NEAR(cJSON_GetNumberValue(cJSON_GetObjectItem(first, "tokens_per_s_median")),
                       r.speed[ES_BENCH_PREFILL][0].median, 1e-9);
            CHECK(cJSON_IsNull(cJSON_GetObjectItem(first, "fraction_of_limit")));
        }
        cJSON_Delete(o);
        free(text);
        free(md);
        free(json);
        es_model_free(m);
    }
}

/* ---------------------------------------------------------------- CLI -- */

/* Runs `entroscope bench ARGS...`; returns its exit status and the number
 * of lines it wrote to stderr (*stdout_bytes: bytes on stdout). */
static int run_bench(const char *const *args, int *stderr_lines, long *stdout_bytes) {
    const char *argv[32] = {"bench"};
    int n = 1;
    for (int i = 0; args[i] && n < 31; i++) argv[n++] = args[i];
    argv[n] = NULL;
    run_result *r = malloc(sizeof *r);
    cli_run(r, argv);
    *stderr_lines = 0;
    for (const char *c = r->err; *c; c++) *stderr_lines += *c == '\n';
    *stdout_bytes = (long)strlen(r->out);
    int status = r->status;
    free(r);
    return status;
}

static void suite_bench_cli(void) {
    TEST("bench CLI: bad arguments exit 2 with one line; a quick run succeeds") {
        if (access(cli_binary(), X_OK) != 0) {
            test_skip("no entroscope binary (set ENTROSCOPE_BIN)");
            continue;
        }
        const char *model = tiny_model(1);
        if (!model) continue;
        const char *cases[][10] = {
            {NULL},
            {"-m", model, "--probes", "sometimes", NULL},
            {"-m", model, "-r", "0", NULL},
            {"-m", model, "-p", "0", "-n", "0", "--ctx", "0", NULL},
            {"-m", model, "--frobnicate", NULL},
            {"-m", "/nonexistent/model.gguf", NULL},
            {"-m", model, "extra", NULL},
            {"-m", model, "--json", "/nonexistent/dir/bench.json", NULL},
            {"-m", model, "--kernels", "avx3", NULL},
            {"-m", model, "--kernels", NULL},
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            int lines;
            long out_bytes;
            int status = run_bench(cases[i], &lines, &out_bytes);
            CHECKF(status == 2 && lines == 1 && out_bytes == 0,
                   "case %zu: status %d, %d stderr lines, %ld stdout bytes", i, status, lines, out_bytes);
        }
        const char *quick[] = {"-m", model, "-t", "1", "-p", "4", "-n", "2", "--ctx", "8",
                               "--n-gen-long", "2", "-r", "1", "--bandwidth-mib", "1", "-q", NULL};
        int lines;
        long out_bytes;
        CHECK_INT(run_bench(quick, &lines, &out_bytes), 0);
        CHECK(lines == 0 && out_bytes > 0);
        const char *portable[] = {"-m", model, "-t", "1", "-p", "4", "-n", "2", "--ctx", "0", "-r", "1",
                                  "--bandwidth-mib", "0", "--kernels", "portable", "-q", "--markdown", NULL};
        run_result *rr = malloc(sizeof *rr);
        const char *argv[24] = {"bench"};
        for (int i = 0; portable[i]; i++) argv[i + 1] = portable[i];
        cli_run(rr, argv);
        CHECKF(rr->status == 0 && strstr(rr->out, "| portable | 1 |"), "status %d: %s%s", rr->status, rr->out, rr->err);
        free(rr);
    }
}

void suite_bench(void) {
    suite_bench_arguments();
    suite_bench_runs();
    suite_bench_reports();
    suite_bench_cli();
}
