/* Grading tests (suite grade): traces are built here with es_trace_* from
 * hand-made study items (labels as the studies write them, outputs split
 * into token rows), graded with es_grade, and the grades, spans and printed
 * metrics compared with values worked out by hand in the comments below:
 * SimpleQA verdicts of both graders, their metrics and Cohen's kappa, GSM8K
 * strict/flexible accuracy, the first wrong calculation and the critic's
 * quote mapped to token rows, resuming, the judge cache, judge failures,
 * and the CLI's errors. The judge is the mock server of mock_http.c. */
#include "sql_util.h"
#include "test.h"

#include <cjson/cJSON.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>

#include "cli_run.h"
#include "entroscope.h"
#include "mock_http.h"
#include "study/grading.h"

void judge_tests(void); /* test_judge.c */

static const char *tpath(const char *name) {
    static char buf[8][512];
    static int slot;
    char *p = buf[slot++ % 8];
    snprintf(p, 512, "%s/grade_%s", test_tmpdir(), name);
    return p;
}

/* --------------------------------------------------------- trace making -- */

/* labels: study, id, then name/value pairs (NULL-terminated). */
static char *labels_json(const char *study, const char *id, ...) {
    cJSON *o = cJSON_CreateObject();
    if (study) cJSON_AddStringToObject(o, "study", study);
    cJSON_AddStringToObject(o, "id", id);
    va_list ap;
    va_start(ap, id);
    for (const char *k; (k = va_arg(ap, const char *));) cJSON_AddStringToObject(o, k, va_arg(ap, const char *));
    va_end(ap);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

/* An item of two prompt rows ("Q", ":"), then one generated row per piece
 * (rows 2, 3, ...); its output is the pieces back to back. */
static void add_item(es_trace *t, int64_t run, char *labels, const char *const *pieces) {
    es_error err;
    const char *id = "";
    cJSON *l = cJSON_Parse(labels);
    if (cJSON_IsString(cJSON_GetObjectItem(l, "id"))) id = cJSON_GetObjectItem(l, "id")->valuestring;
    es_trace_item *it = es_trace_item_new(run, id, "Q:");
    char output[2048] = "";
    for (int i = 0; i < 2; i++) {
        es_trace_token tok = {.step = -1, .pos = i, .token_id = 1 + i, .text = i ? ":" : "Q", .text_len = 1,
                              .logit_entropy = NAN, .logit_varentropy = NAN, .token_logprob = NAN};
        CHECK(es_trace_item_add(it, &tok) == 0);
    }
    for (int k = 0; pieces && pieces[k]; k++) {
        es_trace_token tok = {.step = k, .pos = 2 + k, .token_id = 10 + k, .text = pieces[k],
                              .text_len = strlen(pieces[k]), .logit_entropy = 1.0,
                              .logit_varentropy = 0.5, .token_logprob = -0.1};
        CHECK(es_trace_item_add(it, &tok) == 0);
        strcat(output, pieces[k]);
    }
    CHECKF(es_trace_item_commit(t, it, output, "eog", labels, &err) > 0, "%s", err.msg);
    es_trace_item_free(it);
    cJSON_Delete(l);
    free(labels);
}

static int64_t add_run(es_trace *t, const char *command) {
    es_error err;
    es_trace_run r = {.command = command, .model_path = "m.gguf", .model_name = "m",
                      .settings_json = "{}"};
    return es_trace_add_run(t, &r, &err);
}

/* SimpleQA (run 1). Offline verdicts by grade.h's rules: s1 C (gold in the
 * answer), s2 I (another year), s3 N ("i dont know"), s4 C (a hedge with the
 * gold), s5 I (another number). */
static void add_simpleqa(es_trace *t, int64_t run) {
    static const char *const items[][4] = {
        {"s1", "What is the capital of France?", "Paris", "The capital of France is Paris."},
        {"s2", "In what year was the club founded?", "1874", "It was founded in 1875."},
        {"s3", "Who painted The Merry Family?", "Jan Steen", "I don't know."},
        {"s4", "Which river flows through Vienna?", "Danube", "Probably the Danube."},
        {"s5", "How tall is the tower in metres?", "324", "It is 300 metres tall."},
    };
    for (size_t i = 0; i < 5; i++) {
        const char *pieces[] = {items[i][3], NULL};
        add_item(t, run, labels_json("simpleqa", items[i][0], "problem", items[i][1], "gold", items[i][2],
                                     "topic", "Geography", "answer_type", "Other", NULL), pieces);
    }
    const char *story[] = {"Once", " upon a time", NULL};
    add_item(t, run, labels_json("factual-creative", "c1", "category", "creative", NULL), story);
    add_item(t, run, labels_json(NULL, "x1", NULL), story); /* no study */
}

/* GSM8K (run 2). Row r of an item is piece r - 2. Hand grading:
 *   g1 strict 7 = gold, flexible 7          correct both ways
 *   g2 strict 15, flexible 15, gold 14      wrong: "3 * 4 = 13" is the first
 *      wrong calculation; "13" is bytes [16, 18) = row 5; the critic quotes
 *      "3 * 4 = 13", bytes [8, 18) = rows 3..5
 *   g3 strict 5, gold 20                    wrong, no calculation; the critic's
 *      "Half of 10 is 5." matches "Half of 10 is\n5." = bytes [0, 16), rows 2..4
 *   g4 no strict answer, flexible 12 = gold strict wrong, flexible right: not searched
 *   g5 strict 4, flexible 4                 correct
 *   g6 strict 6, flexible 3, gold 7         wrong; the chain ends at the strict answer,
 *      so the wrong "1 + 1 = 3" after it is not searched: arith NONE; the
 *      critic's quote is not in the text: UNLOCATED
 *   g7 strict 8, gold 9                     wrong; the critic sees no wrong step
 * strict 2/7 = 28.6%, flexible 3/7 = 42.9%. */
static void add_gsm8k(es_trace *t, int64_t run) {
    static const char *const pieces[][8] = {
        {"3 + 4 = 7.", " The final answer is 7", NULL},
        {"She has ", "3 * 4", " = ", "13", " apples. ", "13 + 2 = 15", ". The final answer is 15", NULL},
        {"Half of 10 is", "\n5", ". The final answer is 5", NULL},
        {"6 + 6 = 12 apples", "\n", NULL},
        {"2 + 2 = 4.", " The final answer is 4.", NULL},
        {"2 * 3 = 6.", " The final answer is 6.", "\nQuestion: what is 1 + 1?", " 1 + 1 = 3", NULL},
        {"The final answer is 8", NULL},
    };
    static const char *const gold[] = {"7", "14", "20", "12", "4", "7", "9"};
    for (int i = 0; i < 7; i++) {
        char id[16], problem[16];
        snprintf(id, sizeof id, "g%d", i + 1);
        snprintf(problem, sizeof problem, "P%d", i + 1);
        add_item(t, run, labels_json("gsm8k", id, "problem", problem, "gold", gold[i],
                                     "reference", "R\n#### x", NULL), pieces[i]);
    }
}

static void make_trace(const char *path) {
    unlink(path);
    es_error err;
    es_trace *t = es_trace_open(path, &err);
    CHECKF(t != NULL, "%s", err.msg);
    if (!t) return;
    add_simpleqa(t, add_run(t, "run simpleqa"));
    add_gsm8k(t, add_run(t, "run gsm8k"));
    es_trace_close(t);
}

/* ----------------------------------------------------------- reading back -- */

/* One text value (static buffer; "(null)" for NULL, "(none)" for no row). */
static const char *sql_text(const char *path, const char *sql) {
    static char buf[4][1024];
    static int slot;
    char *out = buf[slot++ % 4];
    snprintf(out, 1024, "(none)");
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
        const unsigned char *s = sqlite3_column_text(st, 0);
        snprintf(out, 1024, "%s", s ? (const char *)s : "(null)");
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
}

static void exec_sql(const char *path, const char *sql) {
    sqlite3 *db = NULL;
    CHECK(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK &&
          sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
}

static const char *verdict(const char *path, const char *key, const char *grader) {
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT g.verdict FROM grades g JOIN items i ON i.id = g.item_id"
                              " WHERE i.key = '%s' AND g.grader = '%s'", key, grader);
    return sql_text(path, sql);
}

/* The span of key from grader as "first_row last_row byte_start byte_end text|note". */
static const char *span(const char *path, const char *key, const char *grader) {
    char sql[384];
    snprintf(sql, sizeof sql, "SELECT coalesce(s.first_row, 'NULL') || ' ' || coalesce(s.last_row, 'NULL')"
             " || ' ' || coalesce(s.byte_start, 'NULL') || ' ' || coalesce(s.byte_end, 'NULL') || ' '"
             " || s.text || '|' || coalesce(s.note, '') FROM spans s JOIN items i ON i.id = s.item_id"
             " WHERE i.key = '%s' AND s.grader = '%s'", key, grader);
    return sql_text(path, sql);
}

/* es_grade with its log captured (malloc'd in *log). */
static int grade(const char *path, const char *url, char **log, es_error *err) {
    size_t n = 0;
    es_grade_params p = es_grade_default_params();
    p.judge_url = url;
    p.judge_model = url ? "mock" : NULL;
    p.max_retries = 0;
    p.timeout_s = 5;
    p.log = open_memstream(log, &n);
    int rc = es_grade(path, &p, err);
    fclose(p.log);
    return rc;
}

/* ------------------------------------------------------------ the judge -- */

/* The mock judge: SimpleQA grades by the model's answer; s4 graded
 * NOT_ATTEMPTED where the offline grader says CORRECT, s5 malformed when
 * the test asks. Critic quotes by problem (see add_gsm8k). */
typedef struct judge_script {
    int malformed_s5;
    int requests;
} judge_script;

static char *judge_handler(void *user, int index, const char *body, int *status, int *delay_ms) {
    judge_script *js = user;
    js->requests++;
    *status = 200;
    *delay_ms = 0;
    cJSON *root = cJSON_Parse(body);
    cJSON *msg = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "messages"), 1);
    const char *u = cJSON_GetStringValue(cJSON_GetObjectItem(msg, "content"));
    const char *reply = "??";
    static const char *const grades[][2] = {
        {"Model's answer:\nThe capital of France is Paris.\n", "CORRECT"},
        {"Model's answer:\nIt was founded in 1875.\n", "INCORRECT"},
        {"Model's answer:\nI don't know.\n", "NOT_ATTEMPTED"},
        {"Model's answer:\nProbably the Danube.\n", "NOT_ATTEMPTED"},
        {"Model's answer:\nIt is 300 metres tall.\n", "INCORRECT"},
        {"Problem:\nP2\n", "{\"first_wrong_step\": \"3 * 4 = 13\"}"},
        {"Problem:\nP3\n", "```json\n{\"first_wrong_step\": \"Half of 10 is 5.\"}\n```"},
        {"Problem:\nP6\n", "{\"first_wrong_step\": \"2 times 3 is 6\"}"},
        {"Problem:\nP7\n", "{\"first_wrong_step\": null}"},
    };
    for (size_t i = 0; u && i < sizeof grades / sizeof grades[0]; i++)
        if (strstr(u, grades[i][0])) reply = grades[i][1];
    if (js->malformed_s5 && u && strstr(u, "300 metres")) reply = "It is INCORRECT, I believe.";
    cJSON_Delete(root);
    return mock_completion(reply);
}

/* --------------------------------------------------------------- tests -- */

static void test_helpers(void) {
    TEST("grade: quotes located exactly, then with white space normalised") {
        const char *text = "She has 3 * 4 = 13 apples.\nThen  13 +\t2 = 15.";
        size_t s = 0, e = 0;
        CHECK_INT(locate_quote(text, strlen(text), "3 * 4 = 13", &s, &e), 1);
        CHECK(s == 8 && e == 18);
        CHECK_INT(locate_quote(text, strlen(text), " apples. Then 13 + 2", &s, &e), 2);
        CHECK(s == 19 && e == 39); /* "apples.\nThen  13 +\t2": the quote's own spaces trimmed */
        CHECK_INT(locate_quote(text, strlen(text), "  13 + 2 = 15.\n", &s, &e), 2);
        CHECK(s == 33 && e == 45);
        CHECK_INT(locate_quote(text, strlen(text), "13 + 2 = 16", &s, &e), 0);
        CHECK_INT(locate_quote(text, strlen(text), "", &s, &e), 0);
        CHECK_INT(locate_quote(text, strlen(text), " \n ", &s, &e), 0);
        CHECK_INT(locate_quote("ab ab", 5, "ab", &s, &e), 1);
        CHECK(s == 0 && e == 2); /* the first occurrence */
        CHECK_INT(locate_quote("3*4", 3, "3 * 4", &s, &e), 0); /* spaces added: not found */
    }
    TEST("grade: byte ranges mapped to token rows") {
        int64_t rows[] = {10, 11, 12, 13};
        size_t ends[] = {3, 3, 7, 9}; /* row 11 holds no bytes */
        generated_text g = {.text = (char *)"abcdefghi", .len = 9, .rows = rows, .ends = ends, .n_rows = 4};
        int64_t f = 0, l = 0;
        CHECK(generated_rows_of(&g, 0, 3, &f, &l) == 0 && f == 10 && l == 10);
        CHECK(generated_rows_of(&g, 3, 4, &f, &l) == 0 && f == 12 && l == 12);
        CHECK(generated_rows_of(&g, 2, 5, &f, &l) == 0 && f == 10 && l == 12);
        CHECK(generated_rows_of(&g, 6, 9, &f, &l) == 0 && f == 12 && l == 13);
        CHECK(generated_rows_of(&g, 8, 9, &f, &l) == 0 && f == 13 && l == 13);
        CHECK(generated_rows_of(&g, 9, 10, &f, &l) == -1);
        CHECK(generated_rows_of(&g, 4, 4, &f, &l) == -1);
    }
    TEST("grade: agreement and Cohen's kappa by hand") {
        /* a = C C I N I, b = C I I N N: 3/5 equal; a's shares C .4 I .4 N .2,
         * b's C .2 I .4 N .4; chance .08 + .16 + .08 = .32;
         * kappa = (.6 - .32) / .68 = 0.41176... */
        grade_verdict a[] = {GRADE_CORRECT, GRADE_CORRECT, GRADE_INCORRECT, GRADE_NOT_ATTEMPTED, GRADE_INCORRECT};
        grade_verdict b[] = {GRADE_CORRECT, GRADE_INCORRECT, GRADE_INCORRECT, GRADE_NOT_ATTEMPTED, GRADE_NOT_ATTEMPTED};
        grader_agreement ag;
        grade_agreement(a, b, 5, &ag);
        CHECK_INT(ag.n, 5);
        CHECK_NEAR(ag.equal, 0.6, 1e-12);
        CHECK_NEAR(ag.kappa, 0.28 / 0.68, 1e-12);
        grade_agreement(a, a, 5, &ag);
        CHECK_NEAR(ag.kappa, 1.0, 1e-12);
        grade_agreement(a, a, 1, &ag); /* one verdict only: chance agreement 1 */
        CHECK(ag.equal == 1.0 && isnan(ag.kappa));
    }
}

static void test_offline(void) {
    const char *db = tpath("offline.db");
    make_trace(db);
    TEST("grade: offline verdicts, spans and metrics") {
        char *log = NULL;
        es_error err;
        CHECKF(grade(db, NULL, &log, &err) == 0, "%s", err.msg);
        CHECK_STR(verdict(db, "s1", "offline"), "CORRECT");
        CHECK_STR(verdict(db, "s2", "offline"), "INCORRECT");
        CHECK_STR(verdict(db, "s3", "offline"), "NOT_ATTEMPTED");
        CHECK_STR(verdict(db, "s4", "offline"), "CORRECT");
        CHECK_STR(verdict(db, "s5", "offline"), "INCORRECT");
        CHECK_STR(verdict(db, "c1", "offline"), "(none)");
        CHECK_STR(verdict(db, "x1", "offline"), "(none)");
        /* C I N C I: 2/5, 2/5, 1/5; given attempted 2/4; F1 2*.5*.4/.9 = 0.444 */
        CHECK(log && strstr(log, "run 1, simpleqa (5 items):\n  offline          correct 2 (40.0%),"
                                 " incorrect 2 (40.0%), not attempted 1 (20.0%); accuracy given"
                                 " attempted 50.0%, F1 0.444\n"));
        static const char *const gsm[][2] = {{"g1", "CORRECT"}, {"g2", "INCORRECT"}, {"g3", "INCORRECT"},
                                             {"g4", "INCORRECT"}, {"g5", "CORRECT"}, {"g6", "INCORRECT"},
                                             {"g7", "INCORRECT"}};
        for (int i = 0; i < 7; i++) CHECK_STR(verdict(db, gsm[i][0], "offline"), gsm[i][1]);
        CHECK_STR(sql_text(db, "SELECT detail FROM grades g JOIN items i ON i.id = g.item_id WHERE i.key = 'g4' AND grader = 'offline'"),
                  "{\"gold\":\"12\",\"strict\":null,\"strict_correct\":false,\"flexible\":\"12\",\"flexible_correct\":true}");
        CHECK_STR(sql_text(db, "SELECT extracted FROM grades g JOIN items i ON i.id = g.item_id WHERE i.key = 'g2'"
                                   " AND grader = 'offline'"), "15");
        CHECK(strstr(log, "run 2, gsm8k (7 items): strict 2 correct (28.6%), flexible 3 correct (42.9%)\n"
                          "  first error, arith        found 1, none 3\n"));
        /* Only the wrong answers are searched. */
        CHECK_STR(verdict(db, "g2", "arith"), "FOUND");
        CHECK_STR(verdict(db, "g3", "arith"), "NONE");
        CHECK_STR(verdict(db, "g6", "arith"), "NONE");
        CHECK_STR(verdict(db, "g7", "arith"), "NONE");
        CHECK_STR(verdict(db, "g4", "arith"), "(none)");
        CHECK_STR(verdict(db, "g1", "arith"), "(none)");
        CHECK_STR(span(db, "g2", "arith"), "5 5 16 18 13|");
        CHECK_INT(sql_int(db, "SELECT count(*) FROM spans"), 1);
        CHECK_INT(sql_int(db, "SELECT count(*) FROM grades"), 16);
        CHECK(strstr(log, "16 grades written, 0 already there, 2 items with no grade") != NULL);
        free(log);
    }
    TEST("grade: a second run writes nothing; a lost grade is redone") {
        char *log = NULL;
        es_error err;
        long long before = sql_int(db, "SELECT sum(rowid) FROM grades");
        CHECKF(grade(db, NULL, &log, &err) == 0, "%s", err.msg);
        CHECK(log && strstr(log, "0 grades written, 16 already there"));
        CHECK_INT(sql_int(db, "SELECT sum(rowid) FROM grades"), before);
        free(log);
        exec_sql(db, "DELETE FROM grades WHERE grader = 'arith' AND item_id ="
                     " (SELECT id FROM items WHERE key = 'g2')");
        exec_sql(db, "DELETE FROM spans");
        CHECKF(grade(db, NULL, &log, &err) == 0, "%s", err.msg);
        CHECK(log && strstr(log, "1 grades written, 15 already there"));
        CHECK_STR(span(db, "g2", "arith"), "5 5 16 18 13|");
        CHECK_INT(sql_int(db, "SELECT count(*) FROM grades"), 16);
        free(log);
    }
}

static void test_with_judge(void) {
    const char *db = tpath("judge.db");
    make_trace(db);
    judge_script js = {0};
    mock_http *m = mock_http_start(judge_handler, &js);
    CHECK(m != NULL);
    if (!m) return;
    TEST("grade: judge verdicts, agreement and critic spans") {
        char *log = NULL;
        es_error err;
        CHECKF(grade(db, mock_http_url(m), &log, &err) == 0, "%s", err.msg);
        CHECK_INT(mock_http_requests(m), 9); /* 5 SimpleQA, 4 wrong GSM8K */
        CHECK_STR(verdict(db, "s4", "judge:mock"), "NOT_ATTEMPTED");
        CHECK_STR(verdict(db, "s5", "judge:mock"), "INCORRECT");
        /* judge C I N N I: 1/5, 2/5, 2/5; given attempted 1/3; F1 = 2(1/3)(.2)/(1/3+.2) = 0.25.
         * Agreement with offline C I N C I: 4/5; chance .4*.2 + .4*.4 + .2*.4 = .32;
         * kappa = (.8 - .32) / .68 = 0.706 */
        CHECKF(log && strstr(log, "  judge:mock       correct 1 (20.0%), incorrect 2 (40.0%), not attempted"
                                  " 2 (40.0%); accuracy given attempted 33.3%, F1 0.250\n"
                                  "  agreement offline vs judge:mock: 5 items, 80.0% equal, Cohen's kappa 0.706\n"),
               "log:\n%s", log ? log : "");
        CHECK(strstr(log, "  first error, judge:mock   found 2, unlocated quote 1, none 1\n") != NULL);
        CHECK_STR(verdict(db, "g2", "judge:mock"), "FOUND");
        CHECK_STR(span(db, "g2", "judge:mock"), "3 5 8 18 3 * 4 = 13|quote found verbatim");
        CHECK_STR(verdict(db, "g3", "judge:mock"), "FOUND");
        CHECK_STR(span(db, "g3", "judge:mock"), "2 4 0 16 Half of 10 is 5.|quote found with white space normalised");
        CHECK_STR(verdict(db, "g6", "judge:mock"), "UNLOCATED");
        CHECK_STR(span(db, "g6", "judge:mock"), "NULL NULL NULL NULL 2 times 3 is 6|quote not found in the generated text");
        CHECK_STR(verdict(db, "g7", "judge:mock"), "NONE");
        CHECK_STR(span(db, "g7", "judge:mock"), "(none)");
        CHECK_STR(verdict(db, "g1", "judge:mock"), "(none)");
        CHECK_INT(sql_int(db, "SELECT count(*) FROM spans WHERE source = 'judge'"), 3);
        CHECK_INT(sql_int(db, "SELECT count(*) FROM judge_cache"), 9);
        free(log);
    }
    TEST("grade: the judge is not asked twice (resume, then the cache)") {
        char *log = NULL;
        es_error err;
        CHECKF(grade(db, mock_http_url(m), &log, &err) == 0, "%s", err.msg);
        CHECK_INT(mock_http_requests(m), 9);
        free(log);
        exec_sql(db, "DELETE FROM spans WHERE source = 'judge'; DELETE FROM grades WHERE grader = 'judge:mock'");
        CHECKF(grade(db, mock_http_url(m), &log, &err) == 0, "%s", err.msg);
        CHECK_INT(mock_http_requests(m), 9);
        CHECK(log && strstr(log, "9 grades written") && strstr(log, "judge: 0 requests, 9 answers from the cache"));
        CHECK_STR(verdict(db, "s4", "judge:mock"), "NOT_ATTEMPTED");
        CHECK_STR(span(db, "g3", "judge:mock"), "2 4 0 16 Half of 10 is 5.|quote found with white space normalised");
        free(log);
    }
    TEST("grade: an unparsable judge reply is an ERROR grade, asked again next time") {
        const char *db2 = tpath("malformed.db");
        make_trace(db2);
        js.malformed_s5 = 1;
        int before = mock_http_requests(m);
        char *log = NULL;
        es_error err;
        CHECKF(grade(db2, mock_http_url(m), &log, &err) == 0, "%s", err.msg);
        CHECK_STR(verdict(db2, "s5", "judge:mock"), "ERROR");
        CHECK(strstr(sql_text(db2, "SELECT detail FROM grades g JOIN items i ON i.id = g.item_id"
                                   " WHERE i.key = 's5' AND grader = 'judge:mock'"),
                     "could not parse the judge's reply") != NULL);
        CHECK_INT(sql_int(db2, "SELECT count(*) FROM judge_cache"), 8); /* not the bad reply */
        CHECK(log && strstr(log, "F1 0.333; 1 errors")); /* C I N N: 1/4, given attempted 1/2: 2(.5)(.25)/.75 */
        free(log);
        CHECKF(grade(db2, mock_http_url(m), &log, &err) == 0, "%s", err.msg);
        CHECK_INT(mock_http_requests(m) - before, 10); /* s5 asked again */
        CHECK_INT(sql_int(db2, "SELECT count(*) FROM grades WHERE grader = 'judge:mock'"), 9);
        js.malformed_s5 = 0;
        free(log);
    }
    mock_http_stop(m);
    TEST("grade: a judge that is gone: offline grades kept, an error at the end") {
        const char *db3 = tpath("gone.db");
        make_trace(db3);
        mock_http *gone = mock_http_start(judge_handler, &js);
        char url[64];
        snprintf(url, sizeof url, "%s", gone ? mock_http_url(gone) : "http://127.0.0.1:1");
        mock_http_stop(gone);
        char *log = NULL;
        es_error err;
        CHECK(grade(db3, url, &log, &err) == -1);
        CHECK(strstr(err.msg, "judge given up after 3 failures in a row") != NULL);
        CHECK_INT(sql_int(db3, "SELECT count(*) FROM grades WHERE grader = 'offline'"), 12);
        /* Three failures, then the judge is left alone: the rest are not graded by it. */
        CHECK_INT(sql_int(db3, "SELECT count(*) FROM grades WHERE verdict = 'ERROR'"), 3);
        CHECK_INT(sql_int(db3, "SELECT count(*) FROM grades WHERE grader = 'judge:mock'"), 3);
        free(log);
    }
}

static void test_errors(void) {
    TEST("grade: bad databases and parameters") {
        es_error err;
        es_grade_params p = es_grade_default_params();
        CHECK(es_grade(tpath("absent.db"), &p, &err) == -1 && strstr(err.msg, "cannot open"));
        CHECK(access(tpath("absent.db"), F_OK) != 0); /* not created */
        const char *other = tpath("other.db");
        unlink(other);
        sqlite3 *db = NULL;
        sqlite3_open(other, &db);
        sqlite3_exec(db, "CREATE TABLE t (x)", NULL, NULL, NULL);
        sqlite3_close(db);
        CHECK(es_grade(other, &p, &err) == -1 && strstr(err.msg, "not an entroscope trace"));
        const char *empty = tpath("empty.db");
        FILE *f = fopen(empty, "wb");
        if (f) fclose(f);
        CHECK(es_grade(empty, &p, &err) == -1 && strstr(err.msg, "empty database"));
        p.judge_url = "localhost:8080";
        p.judge_model = "m";
        CHECK(es_grade(empty, &p, &err) == -1 && strstr(err.msg, "not an http"));
    }
    TEST("grade: CLI errors are one line, exit 2") {
        run_result r;
        const char *no_db[] = {"grade", NULL};
        cli_run(&r, no_db);
        CHECK_INT(r.status, 2);
        CHECK(strstr(r.err, "give exactly one trace DB\n") && strchr(r.err, '\n') == r.err + strlen(r.err) - 1);
        const char *absent[] = {"grade", tpath("absent.db"), NULL};
        cli_run(&r, absent);
        CHECK_INT(r.status, 2);
        CHECK(strstr(r.err, "cannot open") && strchr(r.err, '\n') == r.err + strlen(r.err) - 1);
        const char *half[] = {"grade", tpath("offline.db"), "--judge", "http://x", NULL};
        cli_run(&r, half);
        CHECK_INT(r.status, 2);
        CHECK(strstr(r.err, "--judge and --judge-model go together") != NULL);
        const char *bad_retries[] = {"grade", tpath("offline.db"), "--retries", "lots", NULL};
        cli_run(&r, bad_retries);
        CHECK_INT(r.status, 2);
        const char *unknown[] = {"grade", tpath("offline.db"), "--jugde", "x", NULL};
        cli_run(&r, unknown);
        CHECK_INT(r.status, 2);
        CHECK(strstr(r.err, "unknown option") != NULL);
        const char *ok[] = {"grade", tpath("offline.db"), NULL};
        cli_run(&r, ok);
        CHECK_INT(r.status, 0);
        CHECK(strstr(r.out, "run 2, gsm8k (7 items): strict 2 correct (28.6%)") != NULL);
    }
}

void suite_grade(void) {
    judge_tests();
    test_helpers();
    test_offline();
    test_with_judge();
    test_errors();
}
