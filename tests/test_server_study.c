/* Tests of the server's per-head option and its study browser (suite
 * server, called from test_server.c): "entroscope": {"heads": true} gives
 * each token the per-head values es_generate's probes give for the same
 * greedy request; `--db` serves a trace built here (a graded GSM8K run with
 * made-up per-head values, and a run recorded without probes) through
 * /v1/entroscope/items, with its errors, the CLI's refusal of a bad
 * database, and the viewer's heatmap and Study view in headless Chromium. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_run.h"
#include "server_client.h"
#include "test.h"

/* ------------------------------------------------------------ heads -- */

/* The probes of each generated token of a direct greedy generation. */
typedef struct probes {
    int n, n_layers, n_heads;
    float entropy[16][64], varentropy[16][64], agreement[16][8];
} probes;

static int keep_probe(void *user, const es_trace_token *row) {
    probes *p = user;
    const es_attn_probe *a = row->attn;
    if (!a || p->n >= 16 || a->n_layers * a->n_heads > 64 || a->n_layers > 8) return 0;
    p->n_layers = a->n_layers;
    p->n_heads = a->n_heads;
    memcpy(p->entropy[p->n], a->entropy, sizeof(float) * (size_t)(a->n_layers * a->n_heads));
    memcpy(p->varentropy[p->n], a->varentropy, sizeof(float) * (size_t)(a->n_layers * a->n_heads));
    memcpy(p->agreement[p->n], a->agreement, sizeof(float) * (size_t)a->n_layers);
    p->n++;
    return 0;
}

static void direct_probes(es_model *m, const char *prompt, int n, probes *out) {
    memset(out, 0, sizeof *out);
    es_context_params cp = {.n_ctx = 64, .n_threads = 2, .probes = 1};
    es_context *ctx = es_context_new(m, &cp, NULL);
    int32_t *ids = NULL;
    size_t n_ids = 0;
    es_tokenize(es_model_tokenizer(m), prompt, strlen(prompt), ES_TOKENIZE_ADD_BOS, &ids, &n_ids, NULL);
    es_generate_params gp = {.n_predict = n, .sampling = es_sampler_default_params(), .on_token = keep_probe,
                             .user = out};
    gp.sampling.temperature = 0;
    es_generation g = {0};
    if (ctx) es_generate(m, ctx, ids, n_ids, &gp, &g, NULL);
    es_generation_free(&g);
    free(ids);
    es_context_free(ctx);
}

/* Largest |json[i] - want[i]| over n values; 1e9 when the array is not n numbers. */
static double max_diff(const cJSON *json, const float *want, int n) {
    if (cJSON_GetArraySize(json) != n) return 1e9;
    double worst = 0;
    for (int i = 0; i < n; i++) {
        const cJSON *v = cJSON_GetArrayItem(json, i);
        double d = cJSON_IsNumber(v) ? fabs(v->valuedouble - want[i]) : 1e9;
        worst = d > worst ? d : worst;
    }
    return worst;
}

void server_heads_tests(es_model *m, int port, const char *prompt) {
    TEST("server: entroscope.heads gives each token the probes' per-head values") {
        probes want;
        direct_probes(m, prompt, 4, &want);
        int lh = want.n_layers * want.n_heads;
        CHECK_INT(want.n, 4);
        CHECK_INT(lh, 8); /* tiny: 2 layers x 4 heads */
        char body[256];
        snprintf(body, sizeof body, "{\"prompt\":\"%s\",\"max_tokens\":4,\"temperature\":0,"
                 "\"entroscope\":{\"heads\":true}}", prompt);
        long st;
        cJSON *r = post_json(port, "/v1/completions", body, &st);
        CHECK_INT(st, 200);
        cJSON *ch = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "choices"), 0);
        cJSON *toks = cJSON_GetObjectItem(cJSON_GetObjectItem(ch, "entroscope"), "tokens");
        CHECK_INT(cJSON_GetArraySize(toks), want.n);
        for (int k = 0; k < want.n && k < cJSON_GetArraySize(toks); k++) {
            cJSON *h = cJSON_GetObjectItem(cJSON_GetArrayItem(toks, k), "heads");
            CHECK_INT(cJSON_GetNumberValue(cJSON_GetObjectItem(h, "n_layers")), want.n_layers);
            CHECK_INT(cJSON_GetNumberValue(cJSON_GetObjectItem(h, "n_heads")), want.n_heads);
            CHECKF(max_diff(cJSON_GetObjectItem(h, "entropy"), want.entropy[k], lh) < 1e-6, "token %d", k);
            CHECKF(max_diff(cJSON_GetObjectItem(h, "varentropy"), want.varentropy[k], lh) < 1e-6, "token %d", k);
            CHECKF(max_diff(cJSON_GetObjectItem(h, "agreement"), want.agreement[k], want.n_layers) < 1e-6,
                   "token %d", k);
            CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(h, "interaction")), want.n_layers);
        }
        cJSON_Delete(r);
        /* streamed: each chunk's entroscope object carries them too */
        snprintf(body, sizeof body, "{\"prompt\":\"%s\",\"max_tokens\":2,\"temperature\":0,\"stream\":true,"
                 "\"entroscope\":{\"heads\":true}}", prompt);
        char *raw = request(port, NULL, "/v1/completions", body, strlen(body), NULL, &st);
        CHECK_INT(st, 200);
        CHECK_INT(count_of(raw, "\"heads\":{\"n_layers\":2,\"n_heads\":4,\"entropy\":["), 2);
        free(raw);
        /* off by default, and when false */
        snprintf(body, sizeof body, "{\"prompt\":\"%s\",\"max_tokens\":2,\"entroscope\":{\"heads\":false}}", prompt);
        raw = request(port, NULL, "/v1/completions", body, strlen(body), NULL, &st);
        CHECK(st == 200 && !strstr(raw, "\"heads\"") && strstr(raw, "layer_attn_entropy"));
        free(raw);
        const char *bad[] = {"{\"prompt\":\"x\",\"entroscope\":true}", "{\"prompt\":\"x\",\"entroscope\":{\"heads\":1}}"};
        for (int i = 0; i < 2; i++) {
            r = post_json(port, "/v1/completions", bad[i], &st);
            CHECKF(st == 400, "%s: %ld", bad[i], st);
            CHECK_STR(error_field(r, "param"), "entroscope");
            cJSON_Delete(r);
        }
    }
}

/* ------------------------------------------------------ a study trace -- */

enum { T_LAYERS = 2, T_HEADS = 3 };

static const char *tpath(const char *name) {
    static char paths[4][512];
    static int slot;
    char *p = paths[slot++ % 4];
    snprintf(p, 512, "%s/server_%s", test_tmpdir(), name);
    return p;
}

/* The made-up per-head values of generated token k: entropy of (l, h)
 * 0.1 * (l*H + h) + k, varentropy 0.01 * (l*H + h) + k / 2. */
static float fake_entropy(int k, int i) { return 0.1f * (float)i + (float)k; }
static float fake_varentropy(int k, int i) { return 0.01f * (float)i + 0.5f * (float)k; }

/* An item: prompt rows "Q", ":" (rows 0, 1), then one generated row per
 * piece (rows 2, 3, ...), with per-head values when probes is set. */
static int64_t add_item(es_trace *t, int64_t run, const char *key, const char *labels,
                        const char *const *pieces, int probes_on) {
    es_trace_item *it = es_trace_item_new(run, key, "Q:");
    for (int i = 0; i < 2; i++) {
        es_trace_token tok = {.step = -1, .pos = i, .token_id = 1 + i, .text = i ? ":" : "Q", .text_len = 1,
                              .logit_entropy = NAN, .logit_varentropy = NAN, .token_logprob = NAN};
        es_trace_item_add(it, &tok);
    }
    char output[512] = "";
    for (int k = 0; pieces[k]; k++) {
        float h[T_LAYERS * T_HEADS], v[T_LAYERS * T_HEADS], agree[T_LAYERS] = {0.25f, 0.5f},
              inter[T_LAYERS] = {1, 2};
        double mean = 0;
        for (int i = 0; i < T_LAYERS * T_HEADS; i++) {
            h[i] = fake_entropy(k, i);
            v[i] = fake_varentropy(k, i);
            mean += h[i] / (T_LAYERS * T_HEADS);
        }
        es_attn_probe a = {.pos = 2 + k, .n_layers = T_LAYERS, .n_heads = T_HEADS, .entropy = h,
                           .varentropy = v, .agreement = agree, .interaction = inter,
                           .entropy_mean = mean, .varentropy_mean = 0.1};
        es_trace_token tok = {.step = k, .pos = 2 + k, .token_id = 10 + k, .text = pieces[k],
                              .text_len = strlen(pieces[k]), .logit_entropy = 0.5 + k,
                              .logit_varentropy = 0.25, .token_logprob = -0.1, .attn = probes_on ? &a : NULL};
        es_trace_item_add(it, &tok);
        strcat(output, pieces[k]);
    }
    es_error err;
    int64_t id = es_trace_item_commit(t, it, output, "eog", labels, &err);
    CHECKF(id > 0, "%s", err.msg);
    es_trace_item_free(it);
    return id;
}

/* Run 1 (run gsm8k): g1 right, g2 wrong with its first wrong calculation
 * "3 * 4 = 13" ending in row 5 ("13"), both graded offline; run 2
 * (generate): one item recorded without probes. ids: g1, g2, the story. */
static int make_trace(const char *path, int64_t ids[3]) {
    unlink(path);
    es_error err;
    es_trace *t = es_trace_open(path, &err);
    CHECKF(t != NULL, "%s", err.msg);
    if (!t) return -1;
    es_trace_run run = {.command = "run gsm8k", .model_path = "m.gguf", .model_name = "m", .n_layers = T_LAYERS,
                        .n_heads = T_HEADS, .settings_json = "{}"};
    int64_t r1 = es_trace_add_run(t, &run, &err);
    const char *g1[] = {"3 + 4 = 7.", " The final answer is 7", NULL};
    const char *g2[] = {"She has ", "3 * 4", " = ", "13", " apples. ", "13 + 2 = 15", ". The final answer is 15",
                        NULL};
    ids[0] = add_item(t, r1, "g1", "{\"study\":\"gsm8k\",\"id\":\"g1\",\"problem\":\"P1\",\"gold\":\"7\","
                      "\"reference\":\"R\\n#### 7\"}", g1, 1);
    ids[1] = add_item(t, r1, "g2", "{\"study\":\"gsm8k\",\"id\":\"g2\",\"problem\":\"P2\",\"gold\":\"14\","
                      "\"reference\":\"R\\n#### 14\"}", g2, 1);
    run.command = "generate";
    int64_t r2 = es_trace_add_run(t, &run, &err);
    const char *story[] = {"Once", " upon", NULL};
    ids[2] = add_item(t, r2, NULL, NULL, story, 0);
    es_trace_close(t);
    es_grade_params gp = es_grade_default_params();
    int rc = es_grade(path, &gp, &err);
    CHECKF(rc == 0, "%s", err.msg);
    return rc;
}

static cJSON *item_of(cJSON *list, int i) { return cJSON_GetArrayItem(cJSON_GetObjectItem(list, "data"), i); }
static const char *str_of(cJSON *o, const char *key) { return cJSON_GetStringValue(cJSON_GetObjectItem(o, key)); }
static double num_of(cJSON *o, const char *key) { return cJSON_GetNumberValue(cJSON_GetObjectItem(o, key)); }

static void test_items_list(int port, const int64_t ids[3]) {
    TEST("server: GET /v1/entroscope/items lists the items with labels and verdicts") {
        long st;
        cJSON *l = get_json(port, "/v1/entroscope/items", &st);
        CHECK_INT(st, 200);
        CHECK_INT(num_of(l, "total"), 3);
        CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(l, "data")), 3);
        cJSON *a = item_of(l, 0), *b = item_of(l, 1), *c = item_of(l, 2);
        CHECK_INT(num_of(a, "id"), ids[0]);
        CHECK_STR(str_of(a, "key"), "g1");
        CHECK_STR(str_of(a, "study"), "gsm8k");
        CHECK_STR(str_of(a, "verdict"), "CORRECT");
        CHECK_STR(str_of(a, "grader"), "offline");
        CHECK_STR(str_of(cJSON_GetObjectItem(a, "labels"), "gold"), "7");
        CHECK_STR(str_of(b, "verdict"), "INCORRECT");
        CHECK_INT(num_of(b, "n_generated"), 7);
        CHECK_STR(str_of(b, "stop_reason"), "eog");
        CHECK_STR(str_of(c, "study"), "generate");
        CHECK(cJSON_IsNull(cJSON_GetObjectItem(c, "verdict")) && cJSON_IsNull(cJSON_GetObjectItem(c, "key")));
        cJSON_Delete(l);
        l = get_json(port, "/v1/entroscope/items?offset=1&limit=1", &st);
        CHECK_INT(st, 200);
        CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(l, "data")), 1);
        CHECK_INT(num_of(item_of(l, 0), "id"), ids[1]);
        CHECK_INT(num_of(l, "total"), 3);
        cJSON_Delete(l);
        l = get_json(port, "/v1/entroscope/items?offset=9", &st);
        CHECK(st == 200 && cJSON_GetArraySize(cJSON_GetObjectItem(l, "data")) == 0);
        cJSON_Delete(l);
        const char *bad[][2] = {{"/v1/entroscope/items?limit=0", "limit"}, {"/v1/entroscope/items?limit=x", "limit"},
                                {"/v1/entroscope/items?offset=-1", "offset"}};
        for (int i = 0; i < 3; i++) {
            l = get_json(port, bad[i][0], &st);
            CHECKF(st == 400, "%s: %ld", bad[i][0], st);
            CHECK_STR(error_field(l, "param"), bad[i][1]);
            cJSON_Delete(l);
        }
    }
}

static void test_item(int port, const int64_t ids[3]) {
    TEST("server: GET /v1/entroscope/items/ID: tokens, per-head values, grades, first error") {
        char path[128];
        snprintf(path, sizeof path, "/v1/entroscope/items/%lld", (long long)ids[1]);
        long st;
        cJSON *o = get_json(port, path, &st);
        CHECK_INT(st, 200);
        CHECK_STR(str_of(o, "prompt"), "Q:");
        CHECK_STR(str_of(o, "output"), "She has 3 * 4 = 13 apples. 13 + 2 = 15. The final answer is 15");
        CHECK_INT(num_of(cJSON_GetObjectItem(o, "run"), "n_heads"), T_HEADS);
        cJSON *e = cJSON_GetObjectItem(o, "first_error");
        CHECK_STR(str_of(e, "source"), "arith");
        CHECK_INT(num_of(e, "first_row"), 5);
        CHECK_INT(num_of(e, "last_row"), 5);
        int offline = 0;
        cJSON *g;
        cJSON_ArrayForEach(g, cJSON_GetObjectItem(o, "grades"))
            offline += str_of(g, "grader") && strcmp(str_of(g, "grader"), "offline") == 0 &&
                       strcmp(str_of(g, "verdict"), "INCORRECT") == 0;
        CHECK_INT(offline, 1);
        cJSON *toks = cJSON_GetObjectItem(o, "tokens");
        CHECK_INT(cJSON_GetArraySize(toks), 7);
        for (int k = 0; k < cJSON_GetArraySize(toks); k++) {
            cJSON *t = cJSON_GetArrayItem(toks, k), *h = cJSON_GetObjectItem(t, "heads");
            CHECK_INT(num_of(t, "step"), k);
            CHECK_INT(num_of(t, "row"), 2 + k);
            CHECK_NEAR(num_of(t, "logit_entropy"), 0.5 + k, 1e-12);
            float want_h[T_LAYERS * T_HEADS], want_v[T_LAYERS * T_HEADS];
            for (int i = 0; i < T_LAYERS * T_HEADS; i++) {
                want_h[i] = fake_entropy(k, i);
                want_v[i] = fake_varentropy(k, i);
            }
            CHECKF(max_diff(cJSON_GetObjectItem(h, "entropy"), want_h, T_LAYERS * T_HEADS) < 1e-6, "token %d", k);
            CHECKF(max_diff(cJSON_GetObjectItem(h, "varentropy"), want_v, T_LAYERS * T_HEADS) < 1e-6, "token %d", k);
            /* layer 1's mean over its heads: 0.1 * (3 + 4 + 5) / 3 + k */
            CHECK_NEAR(cJSON_GetArrayItem(cJSON_GetObjectItem(t, "layer_attn_entropy"), 1)->valuedouble,
                       0.4 + k, 1e-6);
        }
        CHECK_STR(str_of(cJSON_GetArrayItem(toks, 3), "token"), "13");
        cJSON_Delete(o);
        snprintf(path, sizeof path, "/v1/entroscope/items/%lld?heads=0", (long long)ids[1]);
        char *raw = request(port, NULL, path, NULL, 0, NULL, &st);
        CHECK(st == 200 && !strstr(raw, "\"heads\"") && strstr(raw, "layer_attn_entropy"));
        free(raw);
        /* recorded without probes: no per-head values, the means null */
        snprintf(path, sizeof path, "/v1/entroscope/items/%lld", (long long)ids[2]);
        o = get_json(port, path, &st);
        cJSON *t0 = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "tokens"), 0);
        CHECK(st == 200 && t0 && !cJSON_GetObjectItem(t0, "heads"));
        CHECK(cJSON_IsNull(cJSON_GetObjectItem(t0, "attn_entropy_mean")));
        CHECK(cJSON_IsNull(cJSON_GetObjectItem(o, "first_error")));
        cJSON_Delete(o);
        const char *missing[] = {"/v1/entroscope/items/999", "/v1/entroscope/items/abc", "/v1/entroscope/items/0",
                                 "/v1/entroscope/items/1/x", "/v1/entroscope/itemsx"};
        for (int i = 0; i < 5; i++) {
            o = get_json(port, missing[i], &st);
            CHECKF(st == 404, "%s: %ld", missing[i], st);
            CHECK_STR(error_field(o, "code"), "not_found");
            cJSON_Delete(o);
        }
        raw = request(port, "POST", "/v1/entroscope/items", "{}", 2, NULL, &st);
        CHECK_INT(st, 405);
        free(raw);
    }
}

/* The Study view in headless Chromium: the list, then an item with a token
 * clicked: its heatmaps and the first-error span outlined. */
static void test_study_view(int port, const int64_t ids[3]) {
    TEST("server: the viewer's Study view lists the items and shows one with its heatmap") {
        const char *chromium = find_chromium();
        if (!chromium) {
            test_skip("no chromium on PATH: the Study view is not driven");
            break;
        }
        char url[256];
        snprintf(url, sizeof url, "http://127.0.0.1:%d/?view=study&item=%lld&click=3", port, (long long)ids[1]);
        char *dom = chromium_dom(chromium, url);
        CHECKF(dom && strstr(dom, "data-state=\"done\""), "%.300s", dom ? dom : "(no output)");
        CHECK(strstr(dom, "data-db=\"1\"") && strstr(dom, "<nav id=\"nav\">"));
        CHECK_INT(count_of(dom, "<tr class=\"item\""), 3);
        CHECK(strstr(dom, "INCORRECT") && strstr(dom, "gold=14"));
        CHECK_INT(count_of(dom, "<span class=\"tok"), 7);
        CHECK_INT(count_of(dom, "<span class=\"tok err\""), 1); /* row 5, "13" */
        CHECK(strstr(dom, "<svg id=\"heat-entropy\"") && strstr(dom, "<svg id=\"heat-varentropy\""));
        CHECK_INT(count_of(dom, "<rect class=\"cell\""), 2 * T_LAYERS * T_HEADS);
        CHECK(strstr(dom, "3.0000 \xe2\x80\xa6 3.5000 nats<")); /* the entropy scale's range, token 3 */
        free(dom);
    }
}

static void test_bad_db(es_model *m, const char *model_path) {
    TEST("server: a missing or corrupt --db is refused with one line naming it") {
        const char *garbage = tpath("garbage.db");
        FILE *f = fopen(garbage, "wb");
        if (f) {
            for (int i = 0; i < 200; i++) fputs("not a database ", f);
            fclose(f);
        }
        const char *missing = tpath("missing.db");
        unlink(missing);
        es_server_params p = es_server_default_params();
        p.port = 0;
        p.n_ctx = 64;
        const char *paths[] = {missing, garbage};
        for (int i = 0; i < 2; i++) {
            p.db_path = paths[i];
            es_error err = {0};
            CHECK_INT(es_serve(m, &p, &err), -1);
            CHECKF(strstr(err.msg, paths[i]) == err.msg, "%s", err.msg);
        }
        if (access(cli_binary(), X_OK) != 0) {
            test_skip("no entroscope binary (ENTROSCOPE_BIN)");
            break;
        }
        for (int i = 0; i < 2; i++) {
            run_result r;
            const char *args[] = {"serve", "-m", model_path, "--port", "0", "--db", paths[i], NULL};
            cli_run(&r, args);
            CHECK_INT(r.status, 2);
            CHECKF(strstr(r.err, paths[i]) && strchr(r.err, '\n') == r.err + strlen(r.err) - 1, "%s", r.err);
        }
    }
}

void server_study_tests(es_model *m, const char *model_path) {
    int64_t ids[3] = {0};
    const char *db = tpath("study.db");
    if (make_trace(db, ids)) return;
    live l;
    if (live_start_db(&l, m, NULL, db)) {
        TEST("server: start with --db") CHECK(!"es_serve did not start");
        return;
    }
    int port = atomic_load(&l.port);
    test_items_list(port, ids);
    test_item(port, ids);
    test_study_view(port, ids);
    live_stop(&l);
    test_bad_db(m, model_path);
    live plain;
    TEST("server: without --db the items endpoints answer 404") {
        if (live_start(&plain, m, NULL)) {
            CHECK(!"server start");
            break;
        }
        long st;
        cJSON *o = get_json(atomic_load(&plain.port), "/v1/entroscope/items", &st);
        CHECK_INT(st, 404);
        CHECK(error_field(o, "message") && strstr(error_field(o, "message"), "--db"));
        cJSON_Delete(o);
        live_stop(&plain);
    }
}
