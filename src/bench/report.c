/* The report of `entroscope bench` in three forms: a table for people
 * (text), one Markdown table row with its header (bench/run.sh stacks the
 * rows of several runs into one table), and a JSON object for scripts.
 * Speeds are tokens/s, median (min-max) over the repetitions; "probes cost"
 * is how much slower the probes-on median is than the probes-off one. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "entroscope.h"

static const char *probe_names[2] = {"off", "on"};

static int ran(const es_bench_stat *s) { return s->n > 0; }

/* "prefill 128", "decode 64", "decode 16 @ 1024" */
static void test_label(const es_bench_result *r, int test, char *buf, size_t size) {
    const es_bench_params *p = &r->params;
    if (test == ES_BENCH_PREFILL) snprintf(buf, size, "prefill %d", p->n_prompt);
    else if (test == ES_BENCH_DECODE) snprintf(buf, size, "decode %d", p->n_gen);
    else snprintf(buf, size, "decode %d @ %d", p->n_gen_long, p->n_ctx);
}

/* Fraction by which probes slow the test down (of the off median), or NAN. */
static double probes_cost(const es_bench_result *r, int test) {
    const es_bench_stat *off = &r->speed[test][0], *on = &r->speed[test][1];
    if (!ran(off) || !ran(on) || off->median <= 0) return NAN;
    return 1.0 - on->median / off->median;
}

/* Fraction of the bandwidth limit a decode median reaches, or NAN. The limit
 * counts the weights only; at a long context the KV cache is read too. */
static double of_limit(const es_bench_result *r, int test, int probes) {
    const es_bench_stat *s = &r->speed[test][probes];
    if (test == ES_BENCH_PREFILL || !ran(s) || r->decode_limit <= 0) return NAN;
    return s->median / r->decode_limit;
}

/* ---------------------------------------------------------------- text -- */

/* "2.47 GB", "526 kB": decimal units, as bandwidth is in GB/s. */
static const char *human_bytes(uint64_t n, char *buf, size_t size) {
    static const char *units[] = {"B", "kB", "MB", "GB", "TB"};
    double v = (double)n;
    int u = 0;
    while (v >= 1000 && u < 4) v /= 1000, u++;
    snprintf(buf, size, u == 0 ? "%.0f %s" : v < 10 ? "%.2f %s" : "%.1f %s", v, units[u]);
    return buf;
}

static void report_text(const es_bench_result *r, FILE *out) {
    const es_bench_params *p = &r->params;
    char total[32], per_token[32];
    fprintf(out, "model       %s (%s, %s of weights, %s read per decoded token)\n", r->model,
            r->weight_type, human_bytes(r->weight_bytes, total, sizeof total),
            human_bytes(r->bytes_per_token, per_token, sizeof per_token));
    fprintf(out, "run         %d thread%s, %s kernels, %d repetition%s, random tokens (seed %llu)\n",
            p->n_threads, p->n_threads == 1 ? "" : "s", es_kernels_name(p->kernels), p->repetitions,
            p->repetitions == 1 ? "" : "s", (unsigned long long)p->seed);
    if (r->bandwidth_1_gbs > 0 && p->n_threads == 1)
        fprintf(out, "bandwidth   %.1f GB/s (1 thread): decode limit %.1f tokens/s\n",
                r->bandwidth_1_gbs, r->decode_limit);
    else if (r->bandwidth_1_gbs > 0)
        fprintf(out, "bandwidth   %.1f GB/s (1 thread), %.1f GB/s (%d threads): decode limit %.1f tokens/s\n",
                r->bandwidth_1_gbs, r->bandwidth_n_gbs, p->n_threads, r->decode_limit);
    fprintf(out, "\n%-18s %-6s %10s %10s %10s %9s\n", "test", "probes", "tokens/s", "min", "max",
            "of limit");
    for (int t = 0; t < ES_BENCH_N_TESTS; t++) {
        char label[64];
        test_label(r, t, label, sizeof label);
        for (int s = 0; s < 2; s++) {
            const es_bench_stat *st = &r->speed[t][s];
            if (!ran(st)) continue;
            fprintf(out, "%-18s %-6s %10.2f %10.2f %10.2f", label, probe_names[s], st->median,
                    st->min, st->max);
            double f = of_limit(r, t, s);
            if (f == f) fprintf(out, " %8.1f%%", 100 * f);
            fputc('\n', out);
        }
    }
    int any = 0;
    for (int t = 0; t < ES_BENCH_N_TESTS; t++) {
        double c = probes_cost(r, t);
        if (c != c) continue;
        char label[64];
        test_label(r, t, label, sizeof label);
        fprintf(out, "%s%s %+.1f%%", any++ ? ", " : "\nprobes cost (of the off median): ", label,
                100 * c);
    }
    if (any) fputc('\n', out);
}

/* ------------------------------------------------------------ markdown -- */

static void md_speed(const es_bench_stat *s, FILE *out) {
    if (ran(s)) fprintf(out, " %.1f (%.1f–%.1f) |", s->median, s->min, s->max);
    else fprintf(out, " – |");
}

static void percent_or_dash(double f, char *buf, size_t size) {
    if (f == f) snprintf(buf, size, "%.1f%%", 100 * f);
    else snprintf(buf, size, "–");
}

static void md_percent(double f, FILE *out) {
    char cell[16];
    percent_or_dash(f, cell, sizeof cell);
    fprintf(out, " %s |", cell);
}

/* A file name in a table cell: '|' would end the cell. */
static void md_text(const char *s, FILE *out) {
    for (; *s; s++) {
        if (*s == '|') fputc('\\', out);
        fputc(*s, out);
    }
}

static void report_markdown(const es_bench_result *r, FILE *out) {
    fprintf(out, "| model | type | kernels | threads |");
    for (int t = 0; t < ES_BENCH_N_TESTS; t++) {
        char label[64];
        test_label(r, t, label, sizeof label);
        fprintf(out, " %s, off | %s, on | probes cost |", label, label);
    }
    fprintf(out, " bandwidth 1 / N threads (GB/s) | decode of limit, off / on |\n");
    fprintf(out, "|---|---|---|---:|");
    for (int t = 0; t < ES_BENCH_N_TESTS; t++) fprintf(out, "---:|---:|---:|");
    fprintf(out, "---:|---:|\n| ");
    md_text(r->model, out);
    fprintf(out, " | %s | %s | %d |", r->weight_type, es_kernels_name(r->params.kernels), r->params.n_threads);
    for (int t = 0; t < ES_BENCH_N_TESTS; t++) {
        md_speed(&r->speed[t][0], out);
        md_speed(&r->speed[t][1], out);
        md_percent(probes_cost(r, t), out);
    }
    if (r->bandwidth_1_gbs > 0) fprintf(out, " %.1f / %.1f |", r->bandwidth_1_gbs, r->bandwidth_n_gbs);
    else fprintf(out, " – |");
    char off[16], on[16];
    percent_or_dash(of_limit(r, ES_BENCH_DECODE, 0), off, sizeof off);
    percent_or_dash(of_limit(r, ES_BENCH_DECODE, 1), on, sizeof on);
    fprintf(out, " %s / %s |\n", off, on);
}

/* ---------------------------------------------------------------- json -- */

/* cJSON writes NAN as null, which is what a missing value should read. */
static cJSON *json_test(const es_bench_result *r, int t, int s) {
    static const char *names[ES_BENCH_N_TESTS] = {"prefill", "decode", "decode_long"};
    const es_bench_params *p = &r->params;
    const es_bench_stat *st = &r->speed[t][s];
    int tokens = t == ES_BENCH_PREFILL ? p->n_prompt : t == ES_BENCH_DECODE ? p->n_gen : p->n_gen_long;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "test", names[t]);
    cJSON_AddStringToObject(o, "probes", probe_names[s]);
    cJSON_AddNumberToObject(o, "tokens", tokens);
    cJSON_AddNumberToObject(o, "context", t == ES_BENCH_DECODE_LONG ? p->n_ctx : 0);
    cJSON_AddNumberToObject(o, "repetitions", st->n);
    cJSON_AddNumberToObject(o, "tokens_per_s_median", st->median);
    cJSON_AddNumberToObject(o, "tokens_per_s_min", st->min);
    cJSON_AddNumberToObject(o, "tokens_per_s_max", st->max);
    cJSON_AddNumberToObject(o, "fraction_of_limit", of_limit(r, t, s));
    cJSON_AddNumberToObject(o, "probes_cost", probes_cost(r, t));
    return o;
}

static void report_json(const es_bench_result *r, FILE *out) {
    const es_bench_params *p = &r->params;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "entroscope", ENTROSCOPE_VERSION);
    cJSON_AddStringToObject(o, "model", r->model);
    cJSON_AddStringToObject(o, "weight_type", r->weight_type);
    cJSON_AddNumberToObject(o, "weight_bytes", (double)r->weight_bytes);
    cJSON_AddNumberToObject(o, "bytes_per_token", (double)r->bytes_per_token);
    cJSON_AddNumberToObject(o, "threads", p->n_threads);
    cJSON_AddStringToObject(o, "kernels", es_kernels_name(p->kernels));
    cJSON_AddNumberToObject(o, "repetitions", p->repetitions);
    cJSON_AddNumberToObject(o, "seed", (double)p->seed);
    cJSON_AddNumberToObject(o, "bandwidth_1_thread_gbs", r->bandwidth_1_gbs > 0 ? r->bandwidth_1_gbs : NAN);
    cJSON_AddNumberToObject(o, "bandwidth_gbs", r->bandwidth_n_gbs > 0 ? r->bandwidth_n_gbs : NAN);
    cJSON_AddNumberToObject(o, "decode_limit_tokens_per_s", r->decode_limit > 0 ? r->decode_limit : NAN);
    cJSON *tests = cJSON_AddArrayToObject(o, "tests");
    for (int t = 0; t < ES_BENCH_N_TESTS; t++)
        for (int s = 0; s < 2; s++)
            if (ran(&r->speed[t][s])) cJSON_AddItemToArray(tests, json_test(r, t, s));
    char *text = cJSON_Print(o);
    if (text) fprintf(out, "%s\n", text);
    free(text);
    cJSON_Delete(o);
}

void es_bench_report(const es_bench_result *r, int format, FILE *out) {
    if (format == ES_BENCH_MARKDOWN) report_markdown(r, out);
    else if (format == ES_BENCH_JSON) report_json(r, out);
    else report_text(r, out);
}
