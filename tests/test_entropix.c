/* Tests of the Entropix-style adaptive sampler (src/sample/entropix.c):
 * each branch driven by hand-made logits and attention statistics, whose
 * entropy and varentropy are checked first to lie in the intended quadrant
 * (so a test cannot pass by landing elsewhere); the settings each branch
 * computes against the formulas worked by hand; determinism for a seed;
 * the config file; and an end-to-end `generate --sampler entropix --trace`
 * on stories260K with the export's branch column. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_run.h"
#include "sample/entropix.h"
#include "sql_util.h"
#include "test.h"

/* A hand-made attention probe of 2 layers x 2 heads with these means. */
typedef struct fake_probe {
    float entropy[4], varentropy[4], agreement[2], interaction[2];
    es_attn_probe probe;
} fake_probe;

static void make_probe(fake_probe *f, double h, double v, double agreement, double interaction) {
    for (int i = 0; i < 4; i++) {
        f->entropy[i] = (float)h;
        f->varentropy[i] = (float)v;
    }
    /* per-layer values whose mean is the one asked for */
    f->agreement[0] = (float)(agreement * 0.5);
    f->agreement[1] = (float)(agreement * 1.5);
    f->interaction[0] = (float)(interaction * 0.5);
    f->interaction[1] = (float)(interaction * 1.5);
    f->probe = (es_attn_probe){.pos = 3, .n_layers = 2, .n_heads = 2, .entropy = f->entropy,
                               .varentropy = f->varentropy, .agreement = f->agreement,
                               .interaction = f->interaction, .entropy_mean = h,
                               .varentropy_mean = v};
}

/* logits: k tokens (ids 0..k-1) at `high`, the other n - k at 0. */
static float *peaked(int n, int k, float high) {
    float *l = malloc((size_t)n * sizeof *l);
    for (int i = 0; i < n; i++) l[i] = i < k ? high : 0.0f;
    return l;
}

static const int32_t INSERT[] = {3, 1, 2};

static es_entropix_action choose(const es_entropix_params *p, const float *logits, int n,
                                 const es_attn_probe *probe, int just_inserted, uint64_t seed,
                                 double *h_out, double *v_out) {
    es_entropix *e = es_entropix_new(p, n, seed, INSERT, 3);
    double h, v;
    es_logit_stats(logits, n, -1, &h, &v, NULL);
    es_entropix_action a = es_entropix_choose(e, logits, h, v, probe, just_inserted);
    es_entropix_free(e);
    *h_out = h;
    *v_out = v;
    return a;
}

static void branch_tests(void) {
    es_entropix_params p = es_entropix_default_params();
    fake_probe fp;
    double h, v;
    TEST("entropix: low H, low V takes the argmax") {
        float *l = peaked(64, 1, 25);
        l[0] = 0;
        l[7] = 25; /* the peak elsewhere than id 0 */
        es_entropix_action a = choose(&p, l, 64, NULL, 0, 1, &h, &v);
        CHECK(h < 0.07 && v < 0.05);
        CHECK_INT(a.branch, ES_ENTROPIX_ARGMAX);
        CHECK_INT(a.token, 7);
        CHECK_STR(es_entropix_branch_name(a.branch), "argmax");
        free(l);
    }
    TEST("entropix: high H, low V inserts the clarifying tokens, then samples hotter") {
        float *l = peaked(16, 0, 0); /* uniform: H = ln 16 = 2.77 nats, V = 0 */
        make_probe(&fp, 1.0, 0.5, 0.3, 2.0);
        es_entropix_action a = choose(&p, l, 16, &fp.probe, 0, 1, &h, &v);
        CHECK_NEAR(h, log(16.0), 1e-6);
        CHECK(v < 0.05);
        CHECK_INT(a.branch, ES_ENTROPIX_INSERTED);
        CHECK(a.inserts);
        CHECK_INT(a.token, INSERT[0]);
        /* just inserted: no second insertion, a sample at 0.666 * (1.3 + 0.2 * 1.0) */
        a = choose(&p, l, 16, &fp.probe, 1, 1, &h, &v);
        CHECK_INT(a.branch, ES_ENTROPIX_INSERT);
        CHECK(!a.inserts);
        CHECK_NEAR(a.temperature, 0.666 * 1.5, 1e-5);
        CHECK(a.token >= 0 && a.token < 16);
        /* a large attention entropy hits the cap, 1.5 */
        make_probe(&fp, 10.0, 0.5, 0.3, 2.0);
        a = choose(&p, l, 16, &fp.probe, 1, 1, &h, &v);
        CHECK_NEAR(a.temperature, 1.5, 1e-6);
        free(l);
    }
    TEST("entropix: low H, high V explores with temperature and top-k raised") {
        float *l = peaked(1000, 1, 8); /* H = 2.30 nats, V = 12.0 nats^2 */
        make_probe(&fp, 2.0, 1.0, 0.2, 1.0);
        es_entropix_action a = choose(&p, l, 1000, &fp.probe, 0, 1, &h, &v);
        CHECK(h > 2.08 && h < 3.47 && v > 2.40);
        CHECK_INT(a.branch, ES_ENTROPIX_EXPLORE);
        CHECK_NEAR(a.temperature, 0.666 * (1.2 + 0.3 * 1.0), 1e-5);
        CHECK_INT(a.top_k, 38); /* round(27 * (1 + 0.5 * (1 - 0.2))) = round(37.8) */
        CHECK(a.token >= 0 && a.token < 1000);
        /* without probes the attention terms are 0: top_k = round(27 * 1.5) */
        a = choose(&p, l, 1000, NULL, 0, 1, &h, &v);
        CHECK_INT(a.top_k, 41);
        CHECK_NEAR(a.temperature, 0.666 * 1.2, 1e-5);
        free(l);
    }
    TEST("entropix: high H, high V resamples with temperature and top-p moved") {
        float *l = peaked(2003, 3, 7); /* H = 4.22 nats, V = 11.5 nats^2 */
        make_probe(&fp, 1.0, 0.4, 0.5, 1.0);
        es_entropix_action a = choose(&p, l, 2003, &fp.probe, 0, 1, &h, &v);
        CHECK(h > 3.47 && v > 2.40);
        CHECK_INT(a.branch, ES_ENTROPIX_RESAMPLE);
        CHECK_NEAR(a.temperature, fmin(2.0, 0.666 * (2.0 + 0.5 * 0.4)), 1e-5);
        CHECK_NEAR(a.top_p, 0.9 - 0.2 * 1.0, 1e-6);
        make_probe(&fp, 3.0, 0.4, 0.5, 1.0); /* top-p floor 0.5 */
        a = choose(&p, l, 2003, &fp.probe, 0, 1, &h, &v);
        CHECK_NEAR(a.top_p, 0.5, 1e-6);
        free(l);
    }
    TEST("entropix: the middle samples several candidates, the best log-probability wins") {
        float l[4] = {2, 1, 0, 0}; /* H = 1.05 nats, V = 0.58 nats^2 */
        make_probe(&fp, 1.0, 0.5, 0.4, 1.0);
        es_entropix_params q = p;
        q.adaptive_samples = 64;
        es_entropix_action a = choose(&q, l, 4, &fp.probe, 0, 1, &h, &v);
        CHECK(h > 0.07 && h < 2.08 && v > 0.05 && v < 2.40);
        CHECK_INT(a.branch, ES_ENTROPIX_ADAPTIVE);
        double t = 0.666 * (1 + 0.3 * (h + v) + 0.2 * 1.5 - 0.2 * 0.4);
        CHECK_NEAR(a.temperature, t, 1e-5);
        CHECK_NEAR(a.top_p, fmin(1.0, 0.9 * (1 + 0.1 * 0.5)), 1e-6);
        CHECK_INT(a.top_k, 33); /* round(27 * (1 + 0.3 - 0.08)) = round(32.94) */
        CHECK_NEAR(a.min_p, 0.01, 1e-7); /* 0.03 * (1 - 0.5 * 1.63) < 0.01: the floor */
        /* 64 draws all but surely include id 0, the most probable: it wins
         * every time, where single draws pick others often */
        int zero = 0, other = 0;
        q.adaptive_samples = 1;
        for (uint64_t s = 1; s <= 40; s++) {
            q.adaptive_samples = 64;
            zero += choose(&q, l, 4, &fp.probe, 0, s, &h, &v).token == 0;
            q.adaptive_samples = 1;
            other += choose(&q, l, 4, &fp.probe, 0, s, &h, &v).token != 0;
        }
        CHECK_INT(zero, 40);
        CHECK(other >= 5);
    }
}

static void determinism_tests(void) {
    TEST("entropix: a fixed seed gives the same tokens, another seed others") {
        es_entropix_params p = es_entropix_default_params();
        int n = 500;
        float *l = malloc((size_t)n * sizeof *l);
        int32_t seq[3][60];
        uint64_t seeds[3] = {42, 42, 43};
        fake_probe fp;
        make_probe(&fp, 1.5, 0.8, 0.3, 1.2);
        for (int r = 0; r < 3; r++) {
            es_entropix *e = es_entropix_new(&p, n, seeds[r], INSERT, 3);
            for (int k = 0; k < 60; k++) {
                /* changing distributions that visit explore, resample and adaptive */
                for (int i = 0; i < n; i++) l[i] = (float)((i * 37 + k * 11) % 97) / (8.0f + (float)(k % 5) * 6);
                double h, v;
                es_logit_stats(l, n, -1, &h, &v, NULL);
                seq[r][k] = es_entropix_choose(e, l, h, v, &fp.probe, 0).token;
            }
            es_entropix_free(e);
        }
        CHECK(memcmp(seq[0], seq[1], sizeof seq[0]) == 0);
        CHECK(memcmp(seq[0], seq[2], sizeof seq[0]) != 0);
        free(l);
    }
    TEST("entropix: bad arguments to es_entropix_new give NULL") {
        es_entropix_params p = es_entropix_default_params();
        int32_t out_of_range[] = {5};
        CHECK(es_entropix_new(&p, 4, 1, out_of_range, 1) == NULL);
        CHECK(es_entropix_new(&p, 4, 1, INSERT, 0) == NULL);
        CHECK(es_entropix_new(&p, 0, 1, INSERT, 3) == NULL);
    }
}

static const char *write_config(const char *name, const char *text) {
    static char path[3][512];
    static int slot;
    char *p = path[slot++ % 3];
    snprintf(p, 512, "%s/%s", test_tmpdir(), name);
    FILE *f = fopen(p, "wb");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
    return p;
}

static void config_tests(void) {
    TEST("entropix config: known keys over the defaults") {
        es_entropix_params p = es_entropix_default_params(), d = p;
        es_error err = {{0}};
        const char *path = write_config("good.json",
            "{\"argmax_entropy\": 0.2, \"top_k\": 40, \"clarifying\": \" Hmm.\","
            " \"conf_agreement\": -1.5}");
        CHECKF(es_entropix_load_config(path, &p, &err) == 0, "%s", err.msg);
        CHECK_NEAR(p.argmax_entropy, 0.2, 1e-7);
        CHECK_INT(p.top_k, 40);
        CHECK_STR(p.clarifying, " Hmm.");
        CHECK_NEAR(p.conf_agreement, -1.5, 1e-7);
        CHECK_NEAR(p.resample_entropy, d.resample_entropy, 0); /* untouched */
    }
    TEST("entropix config: bad values and unknown keys give one clear error, change nothing") {
        static const struct { const char *text, *expect; } bad[] = {
            {"{\"argmax_entropy\": -1}", "\"argmax_entropy\" must be a number from 0"},
            {"{\"top_p\": 1.5}", "\"top_p\" must be a number from"},
            {"{\"top_k\": 2.5}", "\"top_k\" must be an integer"},
            {"{\"adaptive_samples\": 0}", "\"adaptive_samples\" must be an integer"},
            {"{\"temperature\": \"hot\"}", "\"temperature\" must be a number"},
            {"{\"conf_agreement\": null}", "\"conf_agreement\" must be a finite number"},
            {"{\"clarifying\": \"\"}", "\"clarifying\" must be a string of 1 to 63 bytes"},
            {"{\"clarifying\": 3}", "\"clarifying\" must be a string"},
            {"{\"argmax_entropy\": 0.1, \"low_ent_thresh\": 0.1}", "unknown key \"low_ent_thresh\""},
            {"[1, 2]", "not a JSON object"},
            {"{\"top_k\": 3,", "not a JSON object"},
        };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            es_entropix_params p = es_entropix_default_params(), d = p;
            es_error err = {{0}};
            const char *path = write_config("bad.json", bad[i].text);
            CHECK_INT(es_entropix_load_config(path, &p, &err), -1);
            CHECKF(strstr(err.msg, bad[i].expect) && strstr(err.msg, path) == err.msg,
                   "%s -> %s", bad[i].text, err.msg);
            CHECK(strchr(err.msg, '\n') == NULL);
            CHECK(memcmp(&p, &d, sizeof p) == 0);
        }
        es_entropix_params p = es_entropix_default_params();
        es_error err = {{0}};
        CHECK_INT(es_entropix_load_config("/nonexistent/e.json", &p, &err), -1);
        CHECK(strstr(err.msg, "/nonexistent/e.json: cannot open") == err.msg);
    }
}

/* The rows of a JSONL export (NULL if unreadable). */
static cJSON *read_rows(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    cJSON *rows = cJSON_CreateArray();
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) cJSON_AddItemToArray(rows, cJSON_Parse(line));
    free(line);
    fclose(f);
    return rows;
}

static const char *branch_of(const cJSON *row) {
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(row, "sampler_branch");
    return cJSON_IsString(b) ? b->valuestring : NULL;
}

static void end_to_end_tests(void) {
    const char *model = test_shared("models/stories260K/stories260K.gguf");
    if (!model) return;
    char db[512], out[512], csv[512];
    snprintf(db, sizeof db, "%s/entropix.db", test_tmpdir());
    snprintf(out, sizeof out, "%s/entropix.jsonl", test_tmpdir());
    snprintf(csv, sizeof csv, "%s/entropix.csv", test_tmpdir());
    TEST("entropix: generate --sampler entropix --trace records each token's branch") {
        run_result r, again;
        const char *g[] = {"generate", "-m", model, "-p", "Once upon a time", "-n", "40",
                           "--sampler", "entropix", "--seed", "7", "--trace", db, "-q", NULL};
        cli_run(&r, g);
        CHECKF(r.status == 0, "%s", r.err);
        cli_run(&again, g);
        CHECK_STR(r.out, again.out); /* same seed, same text */
        const char *e[] = {"export", db, "--what", "tokens", "--format", "jsonl", "-o", out, NULL};
        cli_run(&r, e);
        CHECK_INT(r.status, 0);
        const char *c[] = {"export", db, "--what", "tokens", "--format", "csv", "-o", csv, NULL};
        cli_run(&r, c);
        CHECK_INT(r.status, 0);
        FILE *f = fopen(csv, "rb");
        char header[512] = "";
        if (f && fgets(header, sizeof header, f)) CHECK(strstr(header, ",row,sampler_branch\n") != NULL);
        if (f) fclose(f);
        cJSON *rows = read_rows(out), *row;
        CHECK(rows != NULL);
        int generated = 0, named = 0;
        cJSON_ArrayForEach(row, rows) {
            const char *b = branch_of(row);
            int prompt = cJSON_IsTrue(cJSON_GetObjectItem(row, "is_prompt")) ||
                         cJSON_GetObjectItem(row, "is_prompt")->valueint == 1;
            if (prompt) {
                CHECK(b == NULL);
                continue;
            }
            generated++;
            static const char *const names[] = {"argmax", "insert", "explore", "resample",
                                                "adaptive", "inserted"};
            for (int i = 0; b && i < 6; i++) named += strcmp(b, names[i]) == 0;
        }
        CHECK(generated > 0);
        CHECK_INT(named, generated);
        cJSON_Delete(rows);
        CHECK_INT(sql_int(db, "SELECT count(*) FROM tokens WHERE step IS NOT NULL AND sampler_branch IS NULL"), 0);
    }
    TEST("entropix: forced insertions become marked rows with the clarifying text") {
        /* every decision lands in the insert quadrant: insertion, sample, insertion, ... */
        const char *cfg = write_config("always_insert.json",
            "{\"argmax_entropy\": 0, \"insert_entropy\": 0, \"insert_varentropy\": 1e9,"
            " \"clarifying\": \" Wait, said\"}");
        char db2[512];
        snprintf(db2, sizeof db2, "%s/entropix_insert.db", test_tmpdir());
        run_result r;
        const char *g[] = {"generate", "-m", model, "-p", "Once upon a time", "-n", "12",
                           "--sampler", "entropix", "--entropix-config", cfg, "--seed", "3",
                           "--trace", db2, "--stats", NULL};
        cli_run(&r, g);
        CHECKF(r.status == 0, "%s", r.err);
        CHECK(strstr(r.out, " Wait, said") == r.out); /* the text starts with it */
        CHECK(strstr(r.err, "branch") != NULL);
        CHECK(strstr(r.err, "<-- inserted") != NULL);
        long long inserted = sql_int(db2, "SELECT count(*) FROM tokens WHERE sampler_branch = 'inserted'");
        long long sampled = sql_int(db2, "SELECT count(*) FROM tokens WHERE sampler_branch = 'insert'");
        CHECK(inserted >= 2);
        CHECK(sampled >= 1);
        /* the first inserted rows spell the clarifying text */
        CHECK_INT(sql_int(db2, "SELECT group_concat(token_text, '') = ' Wait, said' FROM"
                               " (SELECT token_text FROM tokens WHERE step IS NOT NULL"
                               "  AND sampler_branch = 'inserted' ORDER BY row LIMIT"
                               "  (SELECT count(*) FROM tokens WHERE step IS NOT NULL AND row <"
                               "   (SELECT min(row) FROM tokens WHERE sampler_branch = 'insert')))"), 1);
    }
    TEST("entropix: CLI errors for a bad sampler or config") {
        run_result r;
        const char *a[] = {"generate", "-m", model, "--sampler", "bogus", NULL};
        cli_run(&r, a);
        CHECK(r.status != 0 && strstr(r.err, "unknown sampler 'bogus'"));
        const char *cfg = write_config("unknown.json", "{\"nope\": 1}");
        const char *b[] = {"generate", "-m", model, "--sampler", "entropix", "--entropix-config", cfg, NULL};
        cli_run(&r, b);
        CHECK(r.status != 0 && strstr(r.err, "unknown key \"nope\""));
        const char *c[] = {"generate", "-m", model, "--entropix-config", cfg, NULL};
        cli_run(&r, c);
        CHECK(r.status != 0 && strstr(r.err, "--entropix-config needs --sampler entropix"));
    }
    TEST("entropix: --sampler greedy matches --temp 0") {
        run_result a, b;
        const char *x[] = {"generate", "-m", model, "-p", "Once", "-n", "20", "--sampler", "greedy", "-q", NULL};
        const char *y[] = {"generate", "-m", model, "-p", "Once", "-n", "20", "--temp", "0", "-q", NULL};
        cli_run(&a, x);
        cli_run(&b, y);
        CHECK_INT(a.status, 0);
        CHECK_STR(a.out, b.out);
    }
}

void suite_entropix(void) {
    branch_tests();
    determinism_tests();
    config_tests();
    end_to_end_tests();
}
