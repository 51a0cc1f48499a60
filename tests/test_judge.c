/* Judge client tests (part of suite grade): the endpoint rules, the strict
 * reply parsers from tables of hand-written replies, the prompts, and the
 * HTTP client against the local mock server (mock_http.c): success with the
 * key sent, a malformed reply, 5xx then success, retries running out, a
 * status that is not retried, a timeout and a refused connection. */
#include "test.h"

#include <stdlib.h>
#include <time.h>

#include "judge/judge.h"
#include "mock_http.h"

void judge_tests(void);

/* Replies from a script: step i of the script answers request i (the last
 * step answers any later one). */
typedef struct script_step {
    int status, delay_ms;
    const char *content; /* a chat completion with this content, or */
    const char *raw;     /* this body as is */
} script_step;

typedef struct script {
    const script_step *steps;
    int n;
} script;

static char *script_handler(void *user, int index, const char *body, int *status, int *delay_ms) {
    const script *s = user;
    const script_step *st = &s->steps[index < s->n ? index : s->n - 1];
    *status = st->status;
    *delay_ms = st->delay_ms;
    return st->content ? mock_completion(st->content) : strdup(st->raw ? st->raw : "");
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Runs one judge_ask against a server playing steps; returns its status. */
static int ask_scripted(const script_step *steps, int n, int retries, double timeout_s,
                        char **content, long *client_requests, int *server_requests, es_error *err) {
    script s = {steps, n};
    mock_http *m = mock_http_start(script_handler, &s);
    if (!m) return -2;
    judge_config cfg = {.url = mock_http_url(m), .model = "m", .max_retries = retries,
                        .timeout_s = timeout_s, .backoff_s = 0.01};
    judge_client *c = judge_client_new(&cfg, err);
    int rc = c ? judge_ask(c, "{\"model\":\"m\"}", content, err) : -3;
    if (c) *client_requests = judge_client_requests(c);
    judge_client_free(c);
    *server_requests = mock_http_requests(m);
    mock_http_stop(m);
    return rc;
}

static void test_endpoint_and_parsers(void) {
    TEST("judge: endpoint URL rules") {
        static const char *const cases[][2] = {
            {"http://h:8080", "http://h:8080/v1/chat/completions"},
            {"http://h:8080/", "http://h:8080/v1/chat/completions"},
            {"https://api.x.com/v1", "https://api.x.com/v1/chat/completions"},
            {"https://api.x.com/v1/", "https://api.x.com/v1/chat/completions"},
            {"http://h/v1/chat/completions", "http://h/v1/chat/completions"},
            {"http://h/custom/chat/completions", "http://h/custom/chat/completions"},
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            char *u = judge_endpoint_url(cases[i][0]);
            CHECK_STR(u, cases[i][1]);
            free(u);
        }
    }
    TEST("judge: grade replies parsed strictly") {
        static const struct { const char *reply; int want; } cases[] = {
            {"CORRECT", GRADE_CORRECT}, {"INCORRECT", GRADE_INCORRECT},
            {"NOT_ATTEMPTED", GRADE_NOT_ATTEMPTED}, {"  correct.\n", GRADE_CORRECT},
            {"**INCORRECT**", GRADE_INCORRECT}, {"Not Attempted", GRADE_NOT_ATTEMPTED},
            {"`CORRECT`", GRADE_CORRECT}, {"\"NOT_ATTEMPTED\"", GRADE_NOT_ATTEMPTED},
            {"<think>It could be CORRECT.</think>\n\nINCORRECT", GRADE_INCORRECT},
            {"", -1}, {"   ", -1}, {"CORRECT INCORRECT", -1}, {"The answer is CORRECT", -1},
            {"CORRECTLY", -1}, {"CORRECT..", -1}, {"A: CORRECT", -1}, {"NOT_ATTEMPTED\nCORRECT", -1},
            {"<think>unfinished CORRECT", -1}, {"correct!", -1},
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
            CHECKF(judge_parse_grade(cases[i].reply) == cases[i].want, "reply '%s': %d, expected %d",
                   cases[i].reply, judge_parse_grade(cases[i].reply), cases[i].want);
        CHECK_INT(judge_parse_grade(NULL), -1);
    }
    TEST("judge: critic replies parsed strictly") {
        static const struct { const char *reply; int want; const char *quote; } cases[] = {
            {"{\"first_wrong_step\": \"3 * 4 = 13\"}", 1, "3 * 4 = 13"},
            {"  {\"first_wrong_step\": \"a \\\"quoted\\\" step\"}\n", 1, "a \"quoted\" step"},
            {"```json\n{\"first_wrong_step\": \"x = 2\"}\n```", 1, "x = 2"},
            {"<think>hmm</think>{\"first_wrong_step\": null}", 0, NULL},
            {"{\"first_wrong_step\": null, \"why\": \"fine\"}", 0, NULL},
            {"{\"first_wrong_step\": \"\"}", -1, NULL}, {"{\"first_wrong_step\": \"  \"}", -1, NULL},
            {"{\"first_wrong_step\": 3}", -1, NULL}, {"{\"step\": \"x\"}", -1, NULL},
            {"The first wrong step is x = 2", -1, NULL}, {"{\"first_wrong_step\": \"x\"} and more", -1, NULL},
            {"[\"x\"]", -1, NULL}, {"```json\n{\"first_wrong_step\": null}\n```\n```\n{}\n```", -1, NULL},
            {"", -1, NULL},
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            char *q = (char *)"unset";
            int rc = judge_parse_critique(cases[i].reply, &q);
            CHECKF(rc == cases[i].want, "reply '%s': %d, expected %d", cases[i].reply, rc, cases[i].want);
            if (cases[i].quote) CHECK_STR(q, cases[i].quote);
            else CHECK(q == NULL);
            free(q);
        }
    }
    TEST("judge: prompts carry the item and ask for the strict forms") {
        char *u = judge_simpleqa_user("Where is X?", "Paris", "In Lyon");
        CHECK(u && strstr(u, "Question:\nWhere is X?\n") && strstr(u, "Reference answer:\nParis\n") &&
              strstr(u, "Model's answer:\nIn Lyon\n"));
        free(u);
        CHECK(strstr(judge_simpleqa_system(), "CORRECT, INCORRECT or NOT_ATTEMPTED") != NULL);
        u = judge_gsm8k_user("P?", "2 + 2 = 5", "2 + 2 = 4\n#### 4");
        CHECK(u && strstr(u, "Problem:\nP?\n") && strstr(u, "Model's solution:\n2 + 2 = 5\n") &&
              strstr(u, "Reference solution:\n2 + 2 = 4\n#### 4\n"));
        free(u);
        CHECK(strstr(judge_gsm8k_system(), "\"first_wrong_step\": null") != NULL);
        char *b1 = judge_request_body("m", "sys", "usr"), *b2 = judge_request_body("m", "sys", "usr");
        CHECK_STR(b1, "{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":\"sys\"},"
                      "{\"role\":\"user\",\"content\":\"usr\"}],\"temperature\":0}");
        CHECK_STR(b2, b1 ? b1 : "");
        free(b1);
        free(b2);
    }
    TEST("judge: bad configurations refused") {
        es_error err;
        judge_config cfg = {.url = "ftp://x", .model = "m", .timeout_s = 1};
        CHECK(judge_client_new(&cfg, &err) == NULL && strstr(err.msg, "not an http"));
        cfg.url = "http://x";
        cfg.model = "";
        CHECK(judge_client_new(&cfg, &err) == NULL && strstr(err.msg, "model"));
        cfg.model = "m";
        cfg.timeout_s = 0;
        CHECK(judge_client_new(&cfg, &err) == NULL);
    }
}

static void test_http(void) {
    TEST("judge: success, with the key and the body sent") {
        script_step steps[] = {{200, 0, "CORRECT", NULL}};
        script s = {steps, 1};
        mock_http *m = mock_http_start(script_handler, &s);
        CHECK(m != NULL);
        if (m) {
            es_error err;
            judge_config cfg = {.url = mock_http_url(m), .model = "m", .api_key = "sk-test",
                                .max_retries = 2, .timeout_s = 5, .backoff_s = 0.01};
            judge_client *c = judge_client_new(&cfg, &err);
            char *body = judge_request_body("m", "sys", "usr"), *content = NULL;
            CHECK(c && judge_ask(c, body, &content, &err) == 0);
            CHECK_STR(content, "CORRECT");
            CHECK_INT(c ? judge_client_requests(c) : -1, 1);
            CHECK_INT(mock_http_requests(m), 1);
            char headers[4096];
            mock_http_last_headers(m, headers, sizeof headers);
            CHECK(strstr(headers, "POST /v1/chat/completions HTTP/1.1") == headers);
            CHECK(strstr(headers, "\r\nAuthorization: Bearer sk-test") != NULL);
            CHECK(strstr(headers, "\r\nContent-Type: application/json") != NULL);
            free(content);
            free(body);
            judge_client_free(c);
            mock_http_stop(m);
        }
    }
    TEST("judge: a malformed reply is an error, not retried") {
        script_step steps[] = {{200, 0, NULL, "{\"choices\": []}"}};
        char *content = NULL;
        long client = 0;
        int server = 0;
        es_error err;
        CHECK_INT(ask_scripted(steps, 1, 3, 5, &content, &client, &server, &err), -1);
        CHECK(content == NULL && strstr(err.msg, "not a chat completion"));
        CHECK_INT(client, 1);
        CHECK_INT(server, 1);
        steps[0].raw = "<html>oops";
        CHECK_INT(ask_scripted(steps, 1, 3, 5, &content, &client, &server, &err), -1);
        CHECK(strstr(err.msg, "<html>oops") != NULL);
    }
    TEST("judge: 5xx and 429 retried until success") {
        script_step steps[] = {{503, 0, NULL, "busy"}, {429, 0, NULL, "slow down"},
                               {500, 0, NULL, "oops"}, {200, 0, "INCORRECT", NULL}};
        char *content = NULL;
        long client = 0;
        int server = 0;
        es_error err;
        CHECK_INT(ask_scripted(steps, 4, 3, 5, &content, &client, &server, &err), 0);
        CHECK_STR(content, "INCORRECT");
        CHECK_INT(client, 4);
        CHECK_INT(server, 4);
        free(content);
    }
    TEST("judge: retries run out; other statuses not retried") {
        script_step steps[] = {{502, 0, NULL, "bad gateway"}};
        char *content = NULL;
        long client = 0;
        int server = 0;
        es_error err;
        CHECK_INT(ask_scripted(steps, 1, 2, 5, &content, &client, &server, &err), -1);
        CHECK(strstr(err.msg, "HTTP 502 after 3 tries") != NULL);
        CHECK_INT(server, 3);
        steps[0] = (script_step){401, 0, NULL, "no key"};
        CHECK_INT(ask_scripted(steps, 1, 2, 5, &content, &client, &server, &err), -1);
        CHECK(strstr(err.msg, "HTTP 401: no key") != NULL);
        CHECK_INT(server, 1);
    }
    TEST("judge: a server that does not answer in time") {
        script_step steps[] = {{200, 3000, "CORRECT", NULL}};
        char *content = NULL;
        long client = 0;
        int server = 0;
        es_error err;
        double t0 = now_s();
        CHECK_INT(ask_scripted(steps, 1, 1, 0.2, &content, &client, &server, &err), -1);
        double took = now_s() - t0;
        CHECKF(took < 2.0, "took %.2f s", took);
        CHECK(strstr(err.msg, "after 2 tries") != NULL);
        CHECK_INT(client, 2);
    }
    TEST("judge: connection refused is retried, then an error") {
        script_step steps[] = {{200, 0, "CORRECT", NULL}};
        script s = {steps, 1};
        mock_http *m = mock_http_start(script_handler, &s);
        char url[64];
        snprintf(url, sizeof url, "%s", m ? mock_http_url(m) : "http://127.0.0.1:1");
        mock_http_stop(m); /* its port is now closed */
        es_error err;
        judge_config cfg = {.url = url, .model = "m", .max_retries = 2, .timeout_s = 2, .backoff_s = 0.01};
        judge_client *c = judge_client_new(&cfg, &err);
        char *content = NULL;
        CHECK(c && judge_ask(c, "{}", &content, &err) == -1);
        CHECK(strstr(err.msg, "after 3 tries") != NULL);
        CHECK_INT(c ? judge_client_requests(c) : 0, 3);
        judge_client_free(c);
    }
}

void judge_tests(void) {
    test_endpoint_and_parsers();
    test_http();
}
