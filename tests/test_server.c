/* Tests of `entroscope serve` (src/server) over loopback: a server on a
 * random tiny model runs in a thread of the test process (es_serve on a free
 * port), libcurl plays the client. The text a request gets back is checked
 * against es_generate run directly on the same model, streamed answers
 * against whole ones; errors, the API key, 20 concurrent clients,
 * SIGTERM on the real binary, and the viewer page driven by headless
 * Chromium (skipped where there is none). The per-head option and the
 * study browser (--db) are tested in test_server_study.c; the helpers
 * both use are in server_client.c. */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "entroscope.h"
#include "cli_run.h"
#include "server_client.h"
#include "test.h"
#include "server/utf8.h"

/* The events of a server-sent stream, parsed; *done: [DONE] came last. */
static cJSON *parse_sse(const char *text, int *done) {
    cJSON *events = cJSON_CreateArray();
    *done = 0;
    for (const char *at = text; at && *at;) {
        const char *end = strstr(at, "\n\n");
        if (!end) break;
        if (strncmp(at, "data: ", 6) == 0) {
            if (strncmp(at + 6, "[DONE]", 6) == 0) *done = end[2] == 0;
            else cJSON_AddItemToArray(events, cJSON_ParseWithLength(at + 6, (size_t)(end - at - 6)));
        }
        at = end + 2;
    }
    return events;
}

/* The text of a stream: the deltas (chat) or texts joined; *n_tokens:
 * chunks carrying an entroscope object; *finish: the last finish_reason. */
static char *stream_text(cJSON *events, int chat, int *n_tokens, char *finish, size_t fsize) {
    size_t cap = 1 << 16, len = 0;
    char *out = calloc(1, cap);
    *n_tokens = 0;
    cJSON *e;
    cJSON_ArrayForEach(e, events) {
        cJSON *ch = cJSON_GetArrayItem(cJSON_GetObjectItem(e, "choices"), 0);
        if (!ch) continue;
        cJSON *t = chat ? cJSON_GetObjectItem(cJSON_GetObjectItem(ch, "delta"), "content")
                        : cJSON_GetObjectItem(ch, "text");
        if (cJSON_IsString(t) && len + strlen(t->valuestring) < cap) {
            strcpy(out + len, t->valuestring);
            len += strlen(t->valuestring);
        }
        if (cJSON_GetObjectItem(ch, "entroscope")) ++*n_tokens;
        cJSON *f = cJSON_GetObjectItem(ch, "finish_reason");
        if (cJSON_IsString(f)) snprintf(finish, fsize, "%s", f->valuestring);
    }
    return out;
}

static const char *choice_text(cJSON *resp, int chat) {
    cJSON *ch = cJSON_GetArrayItem(cJSON_GetObjectItem(resp, "choices"), 0);
    cJSON *t = chat ? cJSON_GetObjectItem(cJSON_GetObjectItem(ch, "message"), "content")
                    : cJSON_GetObjectItem(ch, "text");
    return cJSON_IsString(t) ? t->valuestring : NULL;
}

static int usage_tokens(cJSON *resp) {
    cJSON *n = cJSON_GetObjectItem(cJSON_GetObjectItem(resp, "usage"), "completion_tokens");
    return cJSON_IsNumber(n) ? n->valueint : -1;
}

/* What es_generate itself makes of the prompt, greedy. */
static char *direct_greedy(es_model *m, const char *prompt, int n) {
    es_context_params cp = {.n_ctx = 64, .n_threads = 2, .probes = 1};
    es_context *ctx = es_context_new(m, &cp, NULL);
    int32_t *ids = NULL;
    size_t n_ids = 0;
    es_tokenize(es_model_tokenizer(m), prompt, strlen(prompt), ES_TOKENIZE_ADD_BOS, &ids, &n_ids, NULL);
    es_generate_params gp = {.n_predict = n, .sampling = es_sampler_default_params()};
    gp.sampling.temperature = 0;
    es_generation g = {0};
    char *out = NULL;
    if (ctx && es_generate(m, ctx, ids, n_ids, &gp, &g, NULL) == 0) out = strdup(g.output);
    es_generation_free(&g);
    free(ids);
    es_context_free(ctx);
    return out;
}

static int is_ascii(const char *s) {
    for (; *s; s++)
        if ((unsigned char)*s >= 0x80) return 0;
    return 1;
}

/* A prompt whose greedy continuation (n tokens) is plain ASCII, so that it
 * comes back byte for byte (the server replaces broken UTF-8). */
static const char *ascii_prompt(es_model *m, int n) {
    static const char *prompts[] = {"Once", "The", "hello", "a b c", "x", "42", "Tom", "sky"};
    for (size_t i = 0; i < sizeof prompts / sizeof *prompts; i++) {
        char *out = direct_greedy(m, prompts[i], n);
        int ok = out && is_ascii(out) && strlen(out) >= 8;
        free(out);
        if (ok) return prompts[i];
    }
    return NULL;
}

static void test_utf8(void) {
    TEST("server: UTF-8 helpers") {
        CHECK_INT(utf8_complete_prefix("ab\xe2\x82", 4), 2);
        CHECK_INT(utf8_complete_prefix("ab\xe2\x82\xac", 5), 5);
        CHECK_INT(utf8_complete_prefix("\xf0\x9f\x98", 3), 0);
        CHECK_INT(utf8_complete_prefix("a\x80", 2), 2); /* a stray continuation byte: nothing to wait for */
        char *c = utf8_clean("a\xff" "b", 3);
        CHECK_STR(c, "a\xef\xbf\xbd" "b");
        free(c);
        c = utf8_clean("\xc0\xaf\xe2\x82\xac", 5); /* an overlong slash, then a euro sign */
        CHECK_STR(c, "\xef\xbf\xbd\xef\xbf\xbd\xe2\x82\xac");
        free(c);
        c = utf8_clean("\xed\xa0\x80", 3); /* a surrogate */
        CHECK_STR(c, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
        free(c);
    }
}

static void test_routes(int port) {
    TEST("server: health, models, unknown routes, wrong methods") {
        long st;
        char *b = request(port, NULL, "/health", NULL, 0, NULL, &st);
        CHECK_INT(st, 200);
        CHECK(strstr(b, "\"ok\"") != NULL);
        free(b);
        b = request(port, NULL, "/v1/models", NULL, 0, NULL, &st);
        cJSON *j = cJSON_Parse(b);
        CHECK_INT(st, 200);
        cJSON *m0 = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "data"), 0);
        CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(m0, "id")), "entroscope synth (seed 0)");
        cJSON_Delete(j);
        free(b);
        b = request(port, NULL, "/v1/nothing", NULL, 0, NULL, &st);
        j = cJSON_Parse(b);
        CHECK_INT(st, 404);
        CHECK_STR(error_field(j, "code"), "not_found");
        cJSON_Delete(j);
        free(b);
        b = request(port, NULL, "/v1/completions", NULL, 0, NULL, &st); /* GET */
        CHECK_INT(st, 405);
        free(b);
        b = request(port, NULL, "/", NULL, 0, NULL, &st);
        CHECK_INT(st, 200);
        CHECK(strstr(b, "<html") != NULL && strstr(b, "/v1/completions") != NULL);
        free(b);
    }
}

/* One endpoint, whole and streamed, against es_generate run directly. */
static void test_endpoint(int port, es_model *m, const char *prompt, int chat) {
    TEST(chat ? "server: chat completions, whole and streamed" : "server: completions, whole and streamed") {
        const char *path = chat ? "/v1/chat/completions" : "/v1/completions";
        char whole_body[256];
        if (chat)
            snprintf(whole_body, sizeof whole_body, "{\"model\":\"gpt-whatever\",\"messages\":[{\"role\":"
                     "\"user\",\"content\":\"%s\"}],\"max_tokens\":10,\"temperature\":0}", prompt);
        else
            snprintf(whole_body, sizeof whole_body, "{\"model\":\"x\",\"prompt\":\"%s\",\"max_tokens\":10,"
                     "\"temperature\":0}", prompt);
        long st;
        cJSON *whole = post_json(port, path, whole_body, &st);
        CHECK_INT(st, 200);
        const char *text = choice_text(whole, chat);
        CHECK(text != NULL);
        CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(whole, "model")), "entroscope synth (seed 0)");
        if (!chat) { /* the fallback chat prompt is the server's own: compare completions only */
            char *direct = direct_greedy(m, prompt, 10);
            CHECK_STR(text, direct ? direct : "(failed)");
            free(direct);
        }
        int n = usage_tokens(whole);
        cJSON *ch = cJSON_GetArrayItem(cJSON_GetObjectItem(whole, "choices"), 0);
        cJSON *toks = cJSON_GetObjectItem(cJSON_GetObjectItem(ch, "entroscope"), "tokens");
        CHECK(n >= 1);
        CHECK_INT(cJSON_GetArraySize(toks), n);
        cJSON *t0 = cJSON_GetArrayItem(toks, 0);
        double h = cJSON_GetNumberValue(cJSON_GetObjectItem(t0, "logit_entropy"));
        CHECK(h > 0 && h <= log(512.0) + 1e-9); /* at most ln(vocabulary) */
        /* the overall attention mean is the mean of the per-layer means (equal heads per layer) */
        cJSON *layers = cJSON_GetObjectItem(t0, "layer_attn_entropy");
        CHECK_INT(cJSON_GetArraySize(layers), 2);
        double sum = 0;
        cJSON *x;
        cJSON_ArrayForEach(x, layers) sum += x->valuedouble;
        CHECK_NEAR(sum / 2, cJSON_GetNumberValue(cJSON_GetObjectItem(t0, "attn_entropy_mean")), 1e-9);
        CHECK(cJSON_IsNumber(cJSON_GetObjectItem(t0, "attn_varentropy_mean")));

        char stream_body[512];
        snprintf(stream_body, sizeof stream_body, "%.*s,\"stream\":true}", (int)strlen(whole_body) - 1,
                 whole_body);
        char *raw = request(port, NULL, path, stream_body, strlen(stream_body), NULL, &st);
        CHECK_INT(st, 200);
        int done, n_stream;
        char finish[32] = "";
        cJSON *events = parse_sse(raw, &done);
        char *streamed = stream_text(events, chat, &n_stream, finish, sizeof finish);
        CHECK(done);
        CHECK_STR(streamed, text ? text : "(none)");
        CHECK_INT(n_stream, n);
        CHECK_STR(finish, cJSON_GetStringValue(cJSON_GetObjectItem(ch, "finish_reason")));
        if (chat) {
            cJSON *d0 = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(
                cJSON_GetArrayItem(events, 0), "choices"), 0), "delta");
            CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(d0, "role")), "assistant");
        }
        free(streamed);
        cJSON_Delete(events);
        free(raw);
        cJSON_Delete(whole);
    }
}

static void test_logprobs(int port) {
    TEST("server: logprobs, legacy and chat shapes") {
        long st;
        cJSON *r = post_json(port, "/v1/completions",
                             "{\"prompt\":\"Once\",\"max_tokens\":4,\"temperature\":0,\"logprobs\":3}", &st);
        CHECK_INT(st, 200);
        cJSON *ch = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "choices"), 0);
        cJSON *lp = cJSON_GetObjectItem(ch, "logprobs");
        cJSON *tl = cJSON_GetObjectItem(lp, "token_logprobs"), *top = cJSON_GetObjectItem(lp, "top_logprobs");
        CHECK_INT(cJSON_GetArraySize(tl), usage_tokens(r));
        CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(lp, "tokens")), usage_tokens(r));
        for (int i = 0; i < cJSON_GetArraySize(tl); i++) {
            double lpi = cJSON_GetArrayItem(tl, i)->valuedouble, best = -1e9, mass = 0;
            cJSON *alt;
            int k = 0;
            cJSON_ArrayForEach(alt, cJSON_GetArrayItem(top, i)) {
                best = alt->valuedouble > best ? alt->valuedouble : best;
                mass += exp(alt->valuedouble);
                k++;
            }
            CHECK(k >= 1 && k <= 3);
            CHECK(mass <= 1 + 1e-9);
            CHECK_NEAR(lpi, best, 1e-6); /* greedy: the chosen token is the most probable */
        }
        cJSON_Delete(r);
        r = post_json(port, "/v1/chat/completions",
                      "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":3,"
                      "\"logprobs\":true,\"top_logprobs\":2,\"seed\":5}", &st);
        CHECK_INT(st, 200);
        ch = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "choices"), 0);
        cJSON *content = cJSON_GetObjectItem(cJSON_GetObjectItem(ch, "logprobs"), "content");
        CHECK_INT(cJSON_GetArraySize(content), usage_tokens(r));
        cJSON *e0 = cJSON_GetArrayItem(content, 0);
        CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(e0, "logprob")) <= 0);
        CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(e0, "top_logprobs")), 2);
        CHECK(cJSON_IsArray(cJSON_GetObjectItem(e0, "bytes")));
        cJSON_Delete(r);
    }
}

static void test_stop(int port, es_model *m, const char *prompt) {
    TEST("server: stop sequences cut the text, whole and streamed") {
        char *full = direct_greedy(m, prompt, 16);
        if (!full || strlen(full) < 8) {
            test_skip("the greedy text is too short to cut");
            free(full);
            break;
        }
        char stop[8], body[512];
        snprintf(stop, sizeof stop, "%.3s", full + 4);
        size_t cut = (size_t)(strstr(full, stop) - full);
        full[cut] = 0;
        cJSON *s = cJSON_CreateString(stop);
        char *quoted = cJSON_PrintUnformatted(s);
        for (int stream = 0; stream < 2; stream++) {
            snprintf(body, sizeof body, "{\"prompt\":\"%s\",\"max_tokens\":16,\"temperature\":0,"
                     "\"stop\":[%s],\"stream\":%s}", prompt, quoted, stream ? "true" : "false");
            long st;
            char *raw = request(port, NULL, "/v1/completions", body, strlen(body), NULL, &st);
            CHECK_INT(st, 200);
            if (!stream) {
                cJSON *r = cJSON_Parse(raw);
                CHECK_STR(choice_text(r, 0), full);
                cJSON *ch = cJSON_GetArrayItem(cJSON_GetObjectItem(r, "choices"), 0);
                CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(ch, "finish_reason")), "stop");
                cJSON_Delete(r);
            } else {
                int done, n;
                char finish[32] = "";
                cJSON *ev = parse_sse(raw, &done);
                char *text = stream_text(ev, 0, &n, finish, sizeof finish);
                CHECK_STR(text, full);
                CHECK_STR(finish, "stop");
                free(text);
                cJSON_Delete(ev);
            }
            free(raw);
        }
        free(quoted);
        cJSON_Delete(s);
        free(full);
    }
}

/* A request expected to fail with status and, when param is set, that param. */
static void expect_error(int port, const char *path, const char *body, long status, const char *param) {
    long st;
    cJSON *r = post_json(port, path, body, &st);
    CHECKF(st == status, "%s: status %ld, expected %ld", body, st, status);
    CHECKF(error_field(r, "message") && error_field(r, "type"), "%s: no OpenAI error object", body);
    if (param) CHECKF(error_field(r, "param") && strcmp(error_field(r, "param"), param) == 0,
                      "%s: param %s, expected %s", body, error_field(r, "param"), param);
    cJSON_Delete(r);
}

static void test_errors(int port) {
    TEST("server: malformed and bad requests get OpenAI errors") {
        const char *c = "/v1/completions", *chat = "/v1/chat/completions";
        expect_error(port, c, "{\"prompt\": \"x\",", 400, NULL);
        expect_error(port, c, "[1,2]", 400, NULL);
        expect_error(port, c, "", 400, NULL);
        expect_error(port, c, "{\"max_tokens\":3}", 400, "prompt");
        expect_error(port, c, "{\"prompt\":\"x\",\"temperature\":-1}", 400, "temperature");
        expect_error(port, c, "{\"prompt\":\"x\",\"temperature\":\"hot\"}", 400, "temperature");
        expect_error(port, c, "{\"prompt\":\"x\",\"top_p\":0}", 400, "top_p");
        expect_error(port, c, "{\"prompt\":\"x\",\"max_tokens\":0}", 400, "max_tokens");
        expect_error(port, c, "{\"prompt\":\"x\",\"max_tokens\":2.5}", 400, "max_tokens");
        expect_error(port, c, "{\"prompt\":\"x\",\"n\":2}", 400, "n");
        expect_error(port, c, "{\"prompt\":\"x\",\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}", 400, "stop");
        expect_error(port, c, "{\"prompt\":\"x\",\"logprobs\":9}", 400, "logprobs");
        expect_error(port, c, "{\"prompt\":\"x\",\"stream\":\"yes\"}", 400, "stream");
        expect_error(port, chat, "{\"messages\":[]}", 400, "messages");
        expect_error(port, chat, "{\"messages\":[{\"role\":\"wizard\",\"content\":\"x\"}]}", 400, "messages");
        expect_error(port, chat, "{\"messages\":[{\"role\":\"user\",\"content\":5}]}", 400, "messages");
        expect_error(port, chat, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"top_logprobs\":2}",
                     400, "top_logprobs");
        /* the test server's context holds 64 positions */
        char longp[2048] = "{\"prompt\":\"";
        for (int i = 0; i < 300; i++) strcat(longp, "ab ");
        strcat(longp, "\"}");
        expect_error(port, c, longp, 400, "prompt");
        size_t big = (2u << 20);
        char *huge = malloc(big + 1);
        memset(huge, ' ', big);
        huge[big] = 0;
        memcpy(huge, "{\"prompt\":\"", 11);
        long st;
        char *b = request(port, NULL, c, huge, big, NULL, &st);
        CHECK_INT(st, 413);
        CHECK(strstr(b, "\"error\"") != NULL);
        free(b);
        free(huge);
    }
}

static void test_api_key(es_model *m) {
    TEST("server: --api-key requires the bearer token") {
        live l;
        if (live_start(&l, m, "s3cret")) {
            CHECK(!"server start");
            break;
        }
        int port = atomic_load(&l.port);
        const char *body = "{\"prompt\":\"a\",\"max_tokens\":2}";
        long st;
        char *b = request(port, NULL, "/v1/completions", body, strlen(body), NULL, &st);
        CHECK_INT(st, 401);
        CHECK(strstr(b, "invalid_api_key") != NULL);
        free(b);
        b = request(port, NULL, "/v1/completions", body, strlen(body), "wrong", &st);
        CHECK_INT(st, 401);
        free(b);
        b = request(port, NULL, "/v1/completions", body, strlen(body), "s3cret", &st);
        CHECK_INT(st, 200);
        free(b);
        b = request(port, NULL, "/v1/models", NULL, 0, NULL, &st);
        CHECK_INT(st, 401);
        free(b);
        b = request(port, NULL, "/health", NULL, 0, NULL, &st);
        CHECK_INT(st, 200);
        free(b);
        live_stop(&l);
        CHECK_INT(l.rc, 0);
    }
}

typedef struct client {
    int port, index, ok;
} client;

static void *client_main(void *arg) {
    client *c = arg;
    char body[256];
    int stream = c->index % 2;
    snprintf(body, sizeof body, "{\"prompt\":\"client %d\",\"max_tokens\":6,\"seed\":%d,\"stream\":%s}",
             c->index, c->index, stream ? "true" : "false");
    long st;
    char *raw = request(c->port, NULL, "/v1/completions", body,
                        strlen(body), NULL, &st);
    if (st == 200 && !stream) {
        cJSON *r = cJSON_Parse(raw);
        c->ok = r && usage_tokens(r) >= 1 && choice_text(r, 0);
        cJSON_Delete(r);
    } else if (st == 200) {
        int done;
        cJSON *ev = parse_sse(raw, &done);
        c->ok = done && cJSON_GetArraySize(ev) >= 2;
        cJSON_Delete(ev);
    }
    free(raw);
    return NULL;
}

static void test_concurrent(int port) {
    TEST("server: 20 concurrent clients all get whole answers") {
        client cs[20];
        pthread_t ts[20];
        for (int i = 0; i < 20; i++) {
            cs[i] = (client){.port = port, .index = i};
            pthread_create(&ts[i], NULL, client_main, &cs[i]);
        }
        int ok = 0;
        for (int i = 0; i < 20; i++) {
            pthread_join(ts[i], NULL);
            ok += cs[i].ok;
        }
        CHECK_INT(ok, 20);
    }
}

/* A slow streaming client: after the first bytes it tells the test (which
 * sends SIGTERM) and dawdles, so that the request is still in flight. */
typedef struct slow_client {
    int port;
    atomic_int got_first;
    buf b;
} slow_client;

static size_t slow_collect(char *p, size_t size, size_t n, void *user) {
    slow_client *c = user;
    if (!atomic_load(&c->got_first)) {
        atomic_store(&c->got_first, 1);
        usleep(300000);
    }
    return collect(p, size, n, &c->b);
}

static void *slow_main(void *arg) {
    slow_client *c = arg;
    CURL *h = curl_easy_init();
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/completions", c->port);
    const char *body = "{\"prompt\":\"Once\",\"max_tokens\":40,\"stream\":true}";
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, slow_collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_perform(h);
    curl_easy_cleanup(h);
    atomic_store(&c->got_first, 1);
    return NULL;
}

/* Starts `entroscope serve` on a free port; returns its pid and port. */
static pid_t spawn_server(const char *model, int *port) {
    int fds[2];
    if (pipe(fds)) return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        execl(cli_binary(), cli_binary(), "serve", "-m", model, "--port", "0", "-t", "2", "-c", "64",
              (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    char line[512] = "";
    size_t len = 0;
    while (len < sizeof line - 1 && !strchr(line, '\n')) {
        ssize_t n = read(fds[0], line + len, sizeof line - 1 - len);
        if (n <= 0) break;
        len += (size_t)n;
        line[len] = 0;
    }
    close(fds[0]); /* later lines go to a closed pipe: the server ignores SIGPIPE */
    const char *at = strstr(line, "http://127.0.0.1:");
    *port = at ? atoi(at + 17) : 0;
    return pid;
}

static void test_sigterm(const char *model) {
    TEST("server: SIGTERM finishes the stream in flight, then exits 0") {
        if (access(cli_binary(), X_OK) != 0) {
            test_skip("no entroscope binary (ENTROSCOPE_BIN)");
            break;
        }
        int port = 0;
        pid_t pid = spawn_server(model, &port);
        CHECK(pid > 0 && port > 0);
        if (pid <= 0 || port <= 0) {
            if (pid > 0) kill(pid, SIGKILL), waitpid(pid, NULL, 0);
            break;
        }
        slow_client c = {.port = port, .b = {calloc(1, 1), 0}};
        pthread_t t;
        pthread_create(&t, NULL, slow_main, &c);
        while (!atomic_load(&c.got_first)) usleep(1000);
        kill(pid, SIGTERM);
        pthread_join(t, NULL);
        int done = 0;
        cJSON *ev = parse_sse(c.b.data, &done);
        CHECK(done);
        cJSON_Delete(ev);
        int status = -1;
        waitpid(pid, &status, 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        free(c.b.data);
    }
}

/* The DOM of the viewer page as headless Chromium sees it once loaded
 * (autorun waits for the whole stream before the load event). */
static char *viewer_dom(const char *chromium, int port, const char *prompt, const char *key) {
    CURL *c = curl_easy_init();
    char *esc = curl_easy_escape(c, prompt, 0);
    char url[1024];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/?prompt=%s&max_tokens=8&temperature=0&autorun=1%s%s",
             port, esc, key ? "&key=" : "", key ? key : "");
    curl_free(esc);
    curl_easy_cleanup(c);
    return chromium_dom(chromium, url);
}

/* Serialised HTML text back to characters (what Chromium escapes in text). */
static void unescape_html(char *s) {
    static const struct { const char *entity, *text; } map[] = {
        {"&amp;", "&"}, {"&lt;", "<"}, {"&gt;", ">"}, {"&nbsp;", "\xc2\xa0"}};
    char *w = s;
    for (const char *r = s; *r;) {
        size_t i = 0;
        while (i < 4 && strncmp(r, map[i].entity, strlen(map[i].entity)) != 0) i++;
        if (i < 4) {
            memcpy(w, map[i].text, strlen(map[i].text));
            w += strlen(map[i].text);
            r += strlen(map[i].entity);
        } else {
            *w++ = *r++;
        }
    }
    *w = 0;
}

/* The token spans of the viewer's output: their texts joined (malloc'ed),
 * how many there are and how many carry an inline background colour and
 * the token's values. */
static char *viewer_tokens(const char *dom, int *n_spans, int *n_coloured) {
    *n_spans = *n_coloured = 0;
    const char *out = dom ? strstr(dom, "<div id=\"out\">") : NULL;
    const char *end = out ? strstr(out, "</div>") : NULL;
    char *text = calloc(1, dom ? strlen(dom) + 1 : 1);
    for (const char *at = out; at && end && (at = strstr(at, "<span class=\"tok\"")) && at < end;) {
        const char *close = strchr(at, '>'), *stop = close ? strstr(close, "</span>") : NULL;
        if (!stop) break;
        char tag[2048];
        snprintf(tag, sizeof tag, "%.*s", (int)(close - at), at);
        ++*n_spans;
        if (strstr(tag, "style=\"background: rgb(") && strstr(tag, "data-logit-h=\"") &&
            strstr(tag, "data-layer-h=\""))
            ++*n_coloured;
        strncat(text, close + 1, (size_t)(stop - close - 1));
        at = stop;
    }
    unescape_html(text);
    return text;
}

/* Headless Chromium loads the viewer with a prompt in its URL: the page
 * streams the completion and shows it as coloured token spans whose texts
 * join to what the API gives for the same greedy request. */
static void test_viewer(es_model *m, const char *prompt) {
    TEST("server: the viewer streams coloured tokens in headless Chromium") {
        const char *chromium = find_chromium();
        if (!chromium) {
            test_skip("no chromium on PATH: the viewer is not driven");
            break;
        }
        live l;
        if (live_start(&l, m, "v1ewer")) { /* with a key: the page passes ?key= on as the bearer */
            CHECK(!"server start");
            break;
        }
        int port = atomic_load(&l.port);
        cJSON *q = cJSON_CreateObject();
        cJSON_AddStringToObject(q, "prompt", prompt);
        cJSON_AddNumberToObject(q, "max_tokens", 8);
        cJSON_AddNumberToObject(q, "temperature", 0);
        char *body = cJSON_PrintUnformatted(q);
        long st;
        char *raw = request(port, NULL, "/v1/completions", body, strlen(body), "v1ewer", &st);
        cJSON *whole = cJSON_Parse(raw);
        const char *api_text = choice_text(whole, 0);
        CHECK_INT(st, 200);
        /* the first token clicked too: its per-layer table and the two layer x head heatmaps (2 x 4) */
        char *dom = viewer_dom(chromium, port, prompt, "v1ewer&click=0");
        int n_spans, n_coloured;
        char *joined = viewer_tokens(dom, &n_spans, &n_coloured);
        CHECKF(dom && strstr(dom, "data-state=\"done\""), "the page did not finish: %.300s",
               dom ? dom : "(no output)");
        CHECK(n_coloured >= 1);
        CHECK_INT(n_coloured, n_spans);
        CHECK_INT(n_spans, usage_tokens(whole));
        CHECK_STR(joined, api_text ? api_text : "(no API text)");
        free(joined);
        CHECK(dom && strstr(dom, "data-db=\"0\"") && strstr(dom, "<nav id=\"nav\" hidden")); /* no Study view */
        CHECK(dom && strstr(dom, "<svg id=\"heat-entropy\"") && strstr(dom, "<svg id=\"heat-varentropy\""));
        CHECK_INT(count_of(dom, "<rect class=\"cell\""), 2 * 2 * 4);
        CHECK(dom && strstr(dom, " nats</text>") && strstr(dom, " nats\xc2\xb2</text>"));
        free(dom);
        dom = viewer_dom(chromium, port, prompt, NULL); /* no key: the page shows the API's error */
        CHECK(dom && strstr(dom, "data-state=\"error\"") && !strstr(dom, "<span class=\"tok\""));
        free(dom);
        cJSON_Delete(whole);
        free(raw);
        free(body);
        cJSON_Delete(q);
        live_stop(&l);
        CHECK_INT(l.rc, 0);
    }
}

void suite_server(void) {
    const char *path = tiny_model_path();
    es_model *m = path ? es_model_load(path, NULL, NULL) : NULL;
    if (!m) {
        TEST("server: tiny model") CHECK(!"could not write or load the tiny model");
        return;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    test_utf8();
    live l;
    if (live_start(&l, m, NULL) == 0) {
        int port = atomic_load(&l.port);
        test_routes(port);
        const char *prompt = ascii_prompt(m, 16);
        CHECK(prompt != NULL);
        test_endpoint(port, m, prompt ? prompt : "Once", 0);
        test_endpoint(port, m, prompt ? prompt : "Once", 1);
        test_logprobs(port);
        test_stop(port, m, prompt ? prompt : "Once");
        test_errors(port);
        test_concurrent(port);
        server_heads_tests(m, port, prompt ? prompt : "Once");
        live_stop(&l);
        TEST("server: es_serve returns 0 after stop") CHECK_INT(l.rc, 0);
    } else {
        TEST("server: start") CHECK(!"es_serve did not start");
    }
    test_api_key(m);
    const char *viewer_prompt = ascii_prompt(m, 8);
    test_viewer(m, viewer_prompt ? viewer_prompt : "Once");
    test_sigterm(path);
    server_study_tests(m, path);
    es_model_free(m);
}
