/* Tests of the report's data loader (src/report/data.c): traces built with
 * the es_trace_* API, grades and spans written with plain SQL (as
 * README "Grading" describes them, independently of the grader's code),
 * loaded back field by field; malformed files give one line naming the
 * file; and a database written by `entroscope run simpleqa` on stories260K.
 * Run from suite_report (test_report_stats.c). */
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_run.h"
#include "entroscope.h"
#include "report/data.h"
#include "sql_util.h"
#include "test.h"

void report_data_tests(void);

/* ------------------------------------------------------------ helpers -- */

static const char *tmp_db(char *buf, const char *name) {
    snprintf(buf, 512, "%.300s/report-%s", test_tmpdir(), name);
    char side[600];
    unlink(buf);
    snprintf(side, sizeof side, "%s-wal", buf);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", buf);
    unlink(side);
    return buf;
}

static int sql_exec(const char *path, const char *sql) {
    sqlite3 *db = NULL;
    int rc = sqlite3_open(path, &db);
    if (rc == SQLITE_OK) rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    sqlite3_close(db);
    return rc;
}

/* The value of generated step k, layer l, head h in the blobs the tests write. */
static float head_entropy(int k, int l, int h) { return (float)(1.0 + k + 0.25 * l + 0.0625 * h); }

/* Commits an item: n_prompt prompt rows, then n_gen generated rows whose
 * statistics follow from their step (probes when L > 0). */
static int64_t add_item(es_trace *t, int64_t run, const char *key, const char *labels, int n_prompt,
                        int n_gen, int L, int H) {
    es_trace_item *it = es_trace_item_new(run, key, "prompt");
    float ent[16], var[16], agree[4], inter[4];
    for (int r = 0; r < n_prompt + n_gen; r++) {
        int k = r - n_prompt;
        es_attn_probe probe = {.pos = r, .n_layers = L, .n_heads = H, .entropy = ent, .varentropy = var,
                               .agreement = agree, .interaction = inter};
        for (int l = 0; l < L; l++) {
            for (int h = 0; h < H; h++) {
                ent[l * H + h] = head_entropy(k, l, h);
                var[l * H + h] = 2.0f * head_entropy(k, l, h);
            }
            agree[l] = 0.5f;
            inter[l] = (float)l;
        }
        probe.entropy_mean = 10.0 + k;
        probe.varentropy_mean = 20.0 + k;
        es_trace_token tok = {.step = k < 0 ? -1 : k, .pos = r, .token_id = 3 + r, .text = "ab", .text_len = 2,
                              .logit_entropy = k == 1 ? NAN : 0.5 * k, .logit_varentropy = 0.25 * k,
                              .token_logprob = -1, .attn = L > 0 ? &probe : NULL};
        es_trace_item_add(it, &tok);
    }
    es_error err;
    int64_t id = es_trace_item_commit(t, it, "out", "eog", labels, &err);
    es_trace_item_free(it);
    return id;
}

static void add_grade(char *sql, size_t cap, int64_t item, const char *grader, const char *verdict,
                      const char *detail) {
    size_t len = strlen(sql);
    snprintf(sql + len, cap - len, "INSERT INTO grades(item_id, grader, verdict, detail) VALUES (%lld, '%s', '%s', %s);",
             (long long)item, grader, verdict, detail ? detail : "NULL");
}

static void add_span(char *sql, size_t cap, int64_t item, const char *source, const char *first_row) {
    size_t len = strlen(sql);
    snprintf(sql + len, cap - len,
             "INSERT INTO spans(item_id, kind, source, grader, first_row, last_row) VALUES (%lld, 'first_error', '%s', '%s', %s, %s);",
             (long long)item, source, strcmp(source, "arith") == 0 ? "arith" : "judge:m", first_row, first_row);
}

static const rd_run *run_of(const report_data *d, const char *study) {
    for (int i = 0; i < d->n_runs; i++)
        if (d->runs[i].study && strcmp(d->runs[i].study, study) == 0) return &d->runs[i];
    return NULL;
}

/* -------------------------------------------------- the three studies -- */

typedef struct fixture_ids {
    int64_t fc[2], sqa[6], gsm[4];
} fixture_ids;

static int build_study_trace(const char *path, fixture_ids *ids) {
    es_error err;
    es_trace *t = es_trace_open(path, &err);
    if (!t) return -1;
    es_trace_run fc = {.command = "run factual-creative", .model_path = "/m/tiny.gguf", .model_name = "tiny",
                       .n_layers = 2, .n_heads = 3, .settings_json = "{\"seed\":1}"};
    es_trace_run sqa = {.command = "run simpleqa", .model_path = "/m/tiny.gguf", .model_name = "tiny",
                        .settings_json = "{}"};
    es_trace_run gsm = {.command = "run gsm8k", .model_path = "/m/tiny.gguf", .model_name = "tiny",
                        .n_layers = 1, .n_heads = 2, .settings_json = "{}"};
    int64_t r1 = es_trace_add_run(t, &fc, &err), r2 = es_trace_add_run(t, &sqa, &err);
    int64_t r3 = es_trace_add_run(t, &gsm, &err);
    ids->fc[0] = add_item(t, r1, "factual:1", "{\"study\":\"factual-creative\",\"category\":\"factual\"}", 2, 3, 2, 3);
    ids->fc[1] = add_item(t, r1, "creative:1", "{\"study\":\"factual-creative\",\"category\":\"creative\"}", 1, 4, 2, 3);
    for (int i = 0; i < 6; i++) {
        char key[16];
        snprintf(key, sizeof key, "q%d", i);
        ids->sqa[i] = add_item(t, r2, key, "{\"study\":\"simpleqa\",\"gold\":\"x\"}", 2, 2, 0, 0);
    }
    for (int i = 0; i < 4; i++) {
        char key[16];
        snprintf(key, sizeof key, "g%d", i);
        ids->gsm[i] = add_item(t, r3, key, "{\"study\":\"gsm8k\",\"gold\":\"7\"}", 2, 4, 1, 2);
    }
    es_trace_close(t);
    static char sql[8192];
    sql[0] = 0;
    const size_t cap = sizeof sql;
    /* simpleqa: offline C, I, NA (+ a judge that must not win), judge only,
     * nothing, judge ERROR only */
    add_grade(sql, cap, ids->sqa[0], "offline", "CORRECT", NULL);
    add_grade(sql, cap, ids->sqa[1], "offline", "INCORRECT", NULL);
    add_grade(sql, cap, ids->sqa[2], "offline", "NOT_ATTEMPTED", NULL);
    add_grade(sql, cap, ids->sqa[2], "judge:m", "CORRECT", NULL);
    add_grade(sql, cap, ids->sqa[3], "judge:m", "INCORRECT", NULL);
    add_grade(sql, cap, ids->sqa[5], "judge:m", "ERROR", "'{\"error\":\"x\"}'");
    /* gsm8k: 1 strict-correct; 3 wrong, of which one flexible-correct */
    const char *right = "'{\"gold\":\"7\",\"strict\":\"7\",\"strict_correct\":true,\"flexible\":\"7\",\"flexible_correct\":true}'";
    const char *flex = "'{\"gold\":\"7\",\"strict\":null,\"strict_correct\":false,\"flexible\":\"7\",\"flexible_correct\":true}'";
    const char *wrong = "'{\"gold\":\"7\",\"strict\":\"8\",\"strict_correct\":false,\"flexible\":\"8\",\"flexible_correct\":false}'";
    add_grade(sql, cap, ids->gsm[0], "offline", "CORRECT", right);
    add_grade(sql, cap, ids->gsm[1], "offline", "INCORRECT", flex);
    add_grade(sql, cap, ids->gsm[2], "offline", "INCORRECT", wrong);
    add_grade(sql, cap, ids->gsm[3], "offline", "INCORRECT", wrong);
    /* rows 0, 1 are the prompt; step k is row 2 + k. g1: arith at step 2
     * beats the judge's step 1; g2: arith unlocated, the judge's step 1;
     * g3: a span on a prompt row only (not a generated row: -1) */
    add_span(sql, cap, ids->gsm[1], "judge", "3");
    add_span(sql, cap, ids->gsm[1], "arith", "4");
    add_span(sql, cap, ids->gsm[2], "arith", "NULL");
    add_span(sql, cap, ids->gsm[2], "judge", "3");
    add_span(sql, cap, ids->gsm[3], "judge", "0");
    return sql_exec(path, sql) == SQLITE_OK ? 0 : -1;
}

static void check_factual_creative(const rd_run *r, const fixture_ids *ids, const char *path) {
    CHECK_STR(r->db_path, path);
    CHECK_STR(r->model_name, "tiny");
    CHECK_STR(r->model_path, "/m/tiny.gguf");
    CHECK_STR(r->settings_json, "{\"seed\":1}");
    CHECK_STR(r->version, ENTROSCOPE_VERSION);
    CHECK(r->created && strlen(r->created) >= 20 && r->created[4] == '-');
    CHECK(r->n_layers == 2 && r->n_heads == 3 && r->n_items == 2);
    CHECK(isnan(r->sqa_correct) && isnan(r->sqa_f1) && isnan(r->gsm_strict_acc));
    if (r->n_items != 2) return;
    const rd_item *a = &r->items[0], *b = &r->items[1];
    CHECK(a->id == ids->fc[0] && b->id == ids->fc[1]);
    CHECK_STR(a->key, "factual:1");
    CHECK_STR(a->group, "factual");
    CHECK_STR(b->group, "creative");
    CHECK(a->first_error_row == -1 && b->first_error_row == -1);
    CHECK_INT(a->n_rows, 3);
    CHECK_INT(b->n_rows, 4);
    for (int k = 0; k < b->n_rows; k++) {
        const rd_row *row = &b->rows[k];
        CHECK(row->step == k && row->pos == 1 + k);
        if (k == 1) CHECK(isnan(row->logit_entropy));
        else CHECK_NEAR(row->logit_entropy, 0.5 * k, 1e-12);
        CHECK_NEAR(row->logit_varentropy, 0.25 * k, 1e-12);
        CHECK_NEAR(row->attn_entropy, 10.0 + k, 1e-12);
        CHECK_NEAR(row->attn_varentropy, 20.0 + k, 1e-12);
        CHECK(row->heads != NULL);
        if (!row->heads) continue;
        /* layout: entropy[2][3], varentropy[2][3], agreement[2], interaction[2] */
        CHECK(row->heads[1 * 3 + 2] == head_entropy(k, 1, 2));
        CHECK(row->heads[6 + 1 * 3 + 0] == 2.0f * head_entropy(k, 1, 0));
        CHECK(row->heads[12] == 0.5f && row->heads[15] == 1.0f);
    }
}

static void check_simpleqa(const rd_run *r, const fixture_ids *ids) {
    CHECK(r->n_layers == 0 && r->n_heads == 0 && r->n_items == 6);
    if (r->n_items != 6) return;
    const char *want[6] = {"CORRECT", "INCORRECT", "NOT_ATTEMPTED", "INCORRECT", NULL, NULL};
    for (int i = 0; i < 6; i++) {
        CHECK(r->items[i].id == ids->sqa[i]);
        if (want[i]) CHECK_STR(r->items[i].group, want[i]);
        else CHECKF(r->items[i].group == NULL, "item %d: %s", i, r->items[i].group);
        CHECK(r->items[i].n_rows == 2 && r->items[i].rows[0].heads == NULL);
        CHECK(isnan(r->items[i].rows[1].attn_entropy));
    }
    /* offline only: C, I, NA of 3 graded. Given attempted: 1 / 2;
     * F1 = 2 * 0.5 * (1/3) / (0.5 + 1/3) = 0.4 */
    CHECK_NEAR(r->sqa_correct, 1.0 / 3, 1e-12);
    CHECK_NEAR(r->sqa_incorrect, 1.0 / 3, 1e-12);
    CHECK_NEAR(r->sqa_not_attempted, 1.0 / 3, 1e-12);
    CHECK_NEAR(r->sqa_acc_given_attempted, 0.5, 1e-12);
    CHECK_NEAR(r->sqa_f1, 0.4, 1e-12);
    CHECK(isnan(r->gsm_strict_acc) && isnan(r->gsm_flexible_acc));
}

static void check_gsm8k(const rd_run *r, const fixture_ids *ids) {
    CHECK(r->n_layers == 1 && r->n_heads == 2 && r->n_items == 4);
    if (r->n_items != 4) return;
    const char *want[4] = {"correct", "incorrect", "incorrect", "incorrect"};
    const int first_error[4] = {-1, 2, 1, -1};
    for (int i = 0; i < 4; i++) {
        CHECK(r->items[i].id == ids->gsm[i]);
        CHECK_STR(r->items[i].group, want[i]);
        CHECKF(r->items[i].first_error_row == first_error[i], "item %d: first error %d, expected %d", i,
               r->items[i].first_error_row, first_error[i]);
        CHECK(r->items[i].n_rows == 4 && r->items[i].rows[3].heads && r->items[i].rows[3].heads[1] == head_entropy(3, 0, 1));
    }
    CHECK_NEAR(r->gsm_strict_acc, 0.25, 1e-12);
    CHECK_NEAR(r->gsm_flexible_acc, 0.5, 1e-12);
    CHECK(isnan(r->sqa_correct));
}

static void test_study_trace(void) {
    TEST("report data: every field of a trace of the three studies, two databases") {
        char path[512], other[512];
        fixture_ids ids;
        CHECK(build_study_trace(tmp_db(path, "three.db"), &ids) == 0);
        /* a second database: a generate run (no labels) and a run whose
         * command names no study, known from its items' labels */
        es_error err;
        es_trace *t = es_trace_open(tmp_db(other, "other.db"), &err);
        CHECK(t != NULL);
        if (t) {
            es_trace_run gen = {.command = "generate", .model_path = "/m/b.gguf", .model_name = "b", .n_layers = 1, .n_heads = 1};
            es_trace_run odd = {.command = "something", .model_path = "/m/b.gguf", .model_name = "b"};
            int64_t g = es_trace_add_run(t, &gen, &err), o = es_trace_add_run(t, &odd, &err);
            add_item(t, g, NULL, NULL, 1, 2, 1, 1);
            add_item(t, o, "k", "{\"study\":\"factual-creative\",\"category\":\"poem\"}", 1, 1, 0, 0);
            es_trace_close(t);
        }
        const char *paths[2] = {path, other};
        report_data d;
        int rc = report_data_load(&d, paths, 2, &err);
        CHECKF(rc == 0, "%s", err.msg);
        if (rc != 0) continue;
        CHECK_INT(d.n_runs, 5);
        const rd_run *fc = run_of(&d, "factual-creative"), *sqa = run_of(&d, "simpleqa");
        const rd_run *gsm = run_of(&d, "gsm8k"), *gen = run_of(&d, "generate");
        CHECK(fc && sqa && gsm && gen && d.runs[0].study == fc->study);
        if (fc) check_factual_creative(fc, &ids, path);
        if (sqa) check_simpleqa(sqa, &ids);
        if (gsm) check_gsm8k(gsm, &ids);
        if (gen) {
            CHECK_STR(gen->db_path, other);
            CHECK(gen->n_items == 1 && gen->items[0].key == NULL && gen->items[0].group == NULL);
            CHECK(gen->n_items == 1 && gen->items[0].n_rows == 2 && gen->items[0].rows[1].heads);
        }
        if (d.n_runs == 5) {
            CHECK_STR(d.runs[4].study, "factual-creative");
            CHECK(d.runs[4].n_items == 1 && d.runs[4].items[0].group && strcmp(d.runs[4].items[0].group, "poem") == 0);
        }
        report_data_free(&d);
        CHECK(d.n_runs == 0 && d.runs == NULL && d.arena == NULL);
        report_data_free(&d); /* twice is harmless */
    }
}

/* ------------------------------------------------------------ bad files -- */

/* Loading fails with one line that names path and contains want. */
static void check_bad(const char *path, const char *want) {
    report_data d;
    es_error err;
    const char *paths[1] = {path};
    int rc = report_data_load(&d, paths, 1, &err);
    CHECKF(rc == -1, "%s loaded", path);
    if (rc != -1) {
        report_data_free(&d);
        return;
    }
    CHECKF(strncmp(err.msg, path, strlen(path)) == 0 && !strchr(err.msg, '\n') && strstr(err.msg, want),
           "'%s' not one line with '%s'", err.msg, want);
    CHECK(d.n_runs == 0 && d.runs == NULL && d.arena == NULL);
}

static void test_bad_files(void) {
    TEST("report data: bad files give one line naming the file") {
        char path[512];
        check_bad(tmp_db(path, "missing.db"), "cannot open");
        FILE *f = fopen(tmp_db(path, "text.db"), "wb");
        if (f) {
            fputs("this is not a database, only some text that is long enough to look like a header\n", f);
            fclose(f);
        }
        check_bad(path, "not an entroscope trace");
        CHECK(sql_exec(tmp_db(path, "foreign.db"), "CREATE TABLE foo(x); INSERT INTO foo VALUES (1);") == SQLITE_OK);
        check_bad(path, "not an entroscope trace");
        CHECK(sql_exec(tmp_db(path, "newer.db"),
                       "PRAGMA application_id = 1163088978; PRAGMA user_version = 2; CREATE TABLE runs(id);") == SQLITE_OK);
        check_bad(path, "version 2");
        f = fopen(tmp_db(path, "empty.db"), "wb");
        if (f) fclose(f);
        check_bad(path, "empty database");
        /* a blob cut short, and a run shape out of range */
        fixture_ids ids;
        CHECK(build_study_trace(tmp_db(path, "cut.db"), &ids) == 0);
        CHECK(sql_exec(path, "UPDATE tokens SET heads = x'0000803f00' WHERE step = 1") == SQLITE_OK);
        check_bad(path, "blob of 5 bytes");
        CHECK(build_study_trace(tmp_db(path, "shape.db"), &ids) == 0);
        CHECK(sql_exec(path, "UPDATE runs SET n_layers = 100000, n_heads = 100000 WHERE id = 1") == SQLITE_OK);
        check_bad(path, "out of range");
        /* a good database then a bad one: nothing is kept (ASan checks the frees) */
        char good[512];
        CHECK(build_study_trace(tmp_db(good, "good.db"), &ids) == 0);
        const char *paths[2] = {good, path};
        report_data d;
        es_error err;
        CHECK(report_data_load(&d, paths, 2, &err) == -1 && d.arena == NULL && strstr(err.msg, "shape.db"));
    }
}

/* ---------------------------------------------------- a real simpleqa run -- */

static const char *QA_CSV =
    "metadata,problem,answer\n"
    "\"{'topic': 'Geography', 'answer_type': 'Place'}\",What is the capital of France?,Paris\n"
    "\"{'topic': 'Art', 'answer_type': 'Person'}\",Who painted the mural?,Pablo Picasso\n"
    "\"{'topic': 'History', 'answer_type': 'Date'}\",In which year did the war end?,1945\n";

static void check_real_run(const report_data *d, const char *db) {
    CHECK_INT(d->n_runs, 1);
    if (d->n_runs != 1) return;
    const rd_run *r = &d->runs[0];
    CHECK_STR(r->study, "simpleqa");
    CHECK(r->n_layers == 5 && r->n_heads == 8 && r->n_items == 3);
    CHECK_INT(r->n_items, sql_int(db, "SELECT count(*) FROM items"));
    int n_correct = 0;
    for (int i = 0; i < r->n_items; i++) {
        const rd_item *it = &r->items[i];
        CHECKF(it->group && (!strcmp(it->group, "CORRECT") || !strcmp(it->group, "INCORRECT") ||
                             !strcmp(it->group, "NOT_ATTEMPTED")), "group %s", it->group ? it->group : "NULL");
        n_correct += it->group && !strcmp(it->group, "CORRECT");
        char sql[128];
        snprintf(sql, sizeof sql, "SELECT n_generated FROM items WHERE id = %lld", (long long)it->id);
        CHECK_INT(it->n_rows, sql_int(db, sql));
        for (int k = 0; k < it->n_rows; k++) {
            const rd_row *row = &it->rows[k];
            CHECK(row->step == k && row->heads && isfinite(row->logit_entropy));
            if (!row->heads) continue;
            /* the stored mean is the mean of the blob's entropies */
            double sum = 0;
            for (int j = 0; j < 5 * 8; j++) sum += row->heads[j];
            CHECK_NEAR(row->attn_entropy, sum / 40, 1e-5);
        }
    }
    long long graded = sql_int(db, "SELECT count(*) FROM grades WHERE grader = 'offline'");
    CHECK_INT(graded, 3);
    CHECK_NEAR(r->sqa_correct, n_correct / 3.0, 1e-12);
    CHECK_NEAR(r->sqa_correct + r->sqa_incorrect + r->sqa_not_attempted, 1.0, 1e-12);
}

static void test_real_run(void) {
    TEST("report data: a database written by `entroscope run simpleqa` on stories260K") {
        const char *model = test_shared("models/stories260K/stories260K.gguf");
        if (!model) continue;
        if (access(cli_binary(), X_OK) != 0) {
            test_skip("the entroscope binary is not built");
            continue;
        }
        char csv[512], db[512];
        snprintf(csv, sizeof csv, "%.300s/report-qa.csv", test_tmpdir());
        FILE *f = fopen(csv, "wb");
        if (f) {
            fputs(QA_CSV, f);
            fclose(f);
        }
        tmp_db(db, "real.db");
        const char *args[] = {"run", "simpleqa", "-m", model, "-o", db, "-t", "1", "-n", "12", "--data", csv, NULL};
        run_result r;
        cli_run(&r, args);
        CHECKF(r.status == 0, "status %d: %s", r.status, r.err);
        if (r.status != 0) continue;
        report_data d;
        es_error err;
        const char *paths[1] = {db};
        int rc = report_data_load(&d, paths, 1, &err);
        CHECKF(rc == 0, "%s", err.msg);
        if (rc == 0) check_real_run(&d, db);
        report_data_free(&d);
    }
}

void report_data_tests(void) {
    test_study_trace();
    test_bad_files();
    test_real_run();
}
