/* The judge's HTTP client (libcurl) and the strict readers of its replies;
 * judge.h says what is retried and how replies must look. */
#include "judge/judge.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <curl/curl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "util/error.h"

#define MAX_REPLY_BYTES (8u << 20) /* far beyond any chat completion */
#define MAX_BACKOFF_S 30.0

struct judge_client {
    char *endpoint, *auth_header; /* auth_header NULL without a key */
    judge_config config;          /* its strings are not used after new */
    long requests;
};

typedef struct reply_buffer {
    char *data;
    size_t len, cap;
    int too_long;
    double retry_after_s; /* from a Retry-After header, -1 when none */
} reply_buffer;

/* ------------------------------------------------------------- client -- */

char *judge_endpoint_url(const char *url) {
    size_t n = strlen(url);
    while (n > 0 && url[n - 1] == '/') n--;
    const char *tail = "/v1/chat/completions";
    if (n >= 17 && memcmp(url + n - 17, "/chat/completions", 17) == 0) tail = "";
    else if (n >= 3 && memcmp(url + n - 3, "/v1", 3) == 0) tail = "/chat/completions";
    char *out = malloc(n + strlen(tail) + 1);
    if (!out) return NULL;
    memcpy(out, url, n);
    strcpy(out + n, tail);
    return out;
}

judge_client *judge_client_new(const judge_config *config, es_error *err) {
    if (!config->url || strncasecmp(config->url, "http", 4) != 0 || !strstr(config->url, "://")) {
        es_fail(err, "judge: '%s' is not an http:// or https:// URL",
                config->url ? es_show(config->url, strlen(config->url)).text : "");
        return NULL;
    }
    if (!config->model || !config->model[0]) {
        es_fail(err, "judge: no model name (--judge-model)");
        return NULL;
    }
    if (config->max_retries < 0 || !(config->timeout_s > 0) || !(config->backoff_s >= 0)) {
        es_fail(err, "judge: retries, timeout or back-off out of range");
        return NULL;
    }
    judge_client *c = calloc(1, sizeof *c);
    if (!c || !(c->endpoint = judge_endpoint_url(config->url))) goto oom;
    if (config->api_key && config->api_key[0]) {
        size_t n = strlen(config->api_key) + 32;
        if (!(c->auth_header = malloc(n))) goto oom;
        snprintf(c->auth_header, n, "Authorization: Bearer %s", config->api_key);
    }
    c->config = *config;
    c->config.url = c->config.model = c->config.api_key = NULL;
    return c;
oom:
    judge_client_free(c);
    es_fail(err, "judge: out of memory");
    return NULL;
}

void judge_client_free(judge_client *c) {
    if (!c) return;
    free(c->endpoint);
    if (c->auth_header) memset(c->auth_header, 0, strlen(c->auth_header)); /* the key */
    free(c->auth_header);
    free(c);
}

long judge_client_requests(const judge_client *c) { return c->requests; }

char *judge_request_body(const char *model, const char *system, const char *user) {
    cJSON *root = cJSON_CreateObject(), *messages = cJSON_CreateArray();
    cJSON *sys = cJSON_CreateObject(), *usr = cJSON_CreateObject();
    char *out = NULL;
    if (root && messages && sys && usr && cJSON_AddStringToObject(root, "model", model) &&
        cJSON_AddStringToObject(sys, "role", "system") &&
        cJSON_AddStringToObject(sys, "content", system) &&
        cJSON_AddStringToObject(usr, "role", "user") &&
        cJSON_AddStringToObject(usr, "content", user)) {
        cJSON_AddItemToArray(messages, sys);
        cJSON_AddItemToArray(messages, usr);
        sys = usr = NULL;
        cJSON_AddItemToObject(root, "messages", messages);
        messages = NULL;
        /* Deterministic answers are what make the cache honest. */
        if (cJSON_AddNumberToObject(root, "temperature", 0)) out = cJSON_PrintUnformatted(root);
    }
    cJSON_Delete(sys);
    cJSON_Delete(usr);
    cJSON_Delete(messages);
    cJSON_Delete(root);
    return out;
}

/* ------------------------------------------------------------ one try -- */

static size_t on_body(char *data, size_t size, size_t n, void *user) {
    reply_buffer *b = user;
    size_t bytes = size * n;
    if (bytes > MAX_REPLY_BYTES - b->len) {
        b->too_long = 1;
        return 0; /* aborts the transfer */
    }
    if (b->len + bytes + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + bytes + 1) cap *= 2;
        char *p = realloc(b->data, cap);
        if (!p) return 0;
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, bytes);
    b->len += bytes;
    b->data[b->len] = 0;
    return bytes;
}

static size_t on_header(char *data, size_t size, size_t n, void *user) {
    reply_buffer *b = user;
    size_t bytes = size * n;
    if (bytes > 12 && strncasecmp(data, "retry-after:", 12) == 0) {
        char tmp[32] = {0};
        memcpy(tmp, data + 12, bytes - 12 < sizeof tmp - 1 ? bytes - 12 : sizeof tmp - 1);
        char *end;
        double s = strtod(tmp, &end);
        if (end != tmp && s >= 0 && s <= MAX_BACKOFF_S) b->retry_after_s = s;
    }
    return bytes;
}

/* One POST. Returns the CURLcode; *status is the HTTP status (0 if none). */
static CURLcode post_once(judge_client *c, const char *body, reply_buffer *b, long *status) {
    CURL *h = curl_easy_init();
    if (!h) return CURLE_FAILED_INIT;
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    if (headers && c->auth_header) headers = curl_slist_append(headers, c->auth_header);
    long timeout_ms = (long)ceil(c->config.timeout_s * 1000.0);
    curl_easy_setopt(h, CURLOPT_URL, c->endpoint);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L); /* no SIGALRM in a library */
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, b);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "entroscope/" ENTROSCOPE_VERSION);
    c->requests++;
    CURLcode rc = headers ? curl_easy_perform(h) : CURLE_OUT_OF_MEMORY;
    *status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(h);
    return rc;
}

static int transient_transport(CURLcode rc) {
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT: case CURLE_COULDNT_CONNECT: case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_SEND_ERROR: case CURLE_RECV_ERROR: case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE: case CURLE_HTTP2: case CURLE_HTTP2_STREAM:
        return 1;
    default:
        return 0;
    }
}

static void sleep_seconds(double s) {
    if (!(s > 0)) return;
    struct timespec ts = {(time_t)s, (long)((s - floor(s)) * 1e9)};
    while (nanosleep(&ts, &ts) != 0) {}
}

/* choices[0].message.content of a chat completion, or NULL. */
static char *completion_content(const char *json) {
    cJSON *root = cJSON_Parse(json);
    cJSON *choices = cJSON_GetObjectItemCaseSensitive(root, "choices");
    cJSON *message = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(choices, 0), "message");
    cJSON *content = cJSON_GetObjectItemCaseSensitive(message, "content");
    char *out = cJSON_IsString(content) ? strdup(content->valuestring) : NULL;
    cJSON_Delete(root);
    return out;
}

/* ------------------------------------------------------------ retries -- */

int judge_ask(judge_client *c, const char *body, char **content, es_error *err) {
    *content = NULL;
    double wait_s = c->config.backoff_s;
    for (int attempt = 0;; attempt++) {
        reply_buffer b = {.retry_after_s = -1};
        long status = 0;
        CURLcode rc = post_once(c, body, &b, &status);
        int last = attempt >= c->config.max_retries;
        if (rc == CURLE_OK && status == 200) {
            *content = b.data ? completion_content(b.data) : NULL;
            int ok = *content != NULL;
            if (!ok)
                es_fail(err, "%s: the reply is not a chat completion: %s", c->endpoint,
                        es_show(b.data ? b.data : "", b.len).text);
            free(b.data);
            return ok ? 0 : -1;
        }
        int transient = rc == CURLE_OK ? (status == 429 || status >= 500) : transient_transport(rc);
        if (!transient || last) {
            char tries[32] = "";
            if (attempt > 0) snprintf(tries, sizeof tries, " after %d tries", attempt + 1);
            if (rc == CURLE_OK)
                es_fail(err, "%s: HTTP %ld%s: %s", c->endpoint, status, tries,
                        es_show(b.data ? b.data : "", b.len).text);
            else
                es_fail(err, "%s: %s%s", c->endpoint,
                        b.too_long ? "reply too long" : curl_easy_strerror(rc), tries);
            free(b.data);
            return -1;
        }
        free(b.data);
        sleep_seconds(b.retry_after_s >= 0 ? b.retry_after_s : wait_s);
        wait_s = fmin(wait_s * 2, MAX_BACKOFF_S);
    }
}

/* ------------------------------------------------------------ replies -- */

/* The reply after a leading <think>...</think> block (reasoning models). */
static const char *after_thinking(const char *s) {
    while (isspace((unsigned char)*s)) s++;
    if (strncmp(s, "<think>", 7) == 0) {
        const char *end = strstr(s, "</think>");
        if (end) s = end + 8;
    }
    return s;
}

int judge_parse_grade(const char *reply) {
    if (!reply) return -1;
    const char *s = after_thinking(reply);
    size_t n = strlen(s);
    while (n > 0 && (isspace((unsigned char)s[n - 1]) || strchr("*`\"'", s[n - 1]))) n--;
    if (n > 0 && s[n - 1] == '.') n--;
    while (n > 0 && (isspace((unsigned char)*s) || strchr("*`\"'", *s))) s++, n--;
    static const struct { const char *word; grade_verdict v; } words[] = {
        {"CORRECT", GRADE_CORRECT}, {"INCORRECT", GRADE_INCORRECT},
        {"NOT_ATTEMPTED", GRADE_NOT_ATTEMPTED}, {"NOT ATTEMPTED", GRADE_NOT_ATTEMPTED},
    };
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (n == strlen(words[i].word) && strncasecmp(s, words[i].word, n) == 0) return words[i].v;
    return -1;
}

/* The JSON text of a reply: alone, or inside one ``` fence (malloc'd). */
static char *critique_json(const char *reply) {
    const char *s = after_thinking(reply), *open = strstr(s, "```");
    if (!open) return strdup(s);
    const char *start = strchr(open + 3, '\n'); /* skips a "json" tag */
    const char *close = start ? strstr(start, "```") : NULL;
    if (!close || strstr(close + 3, "```")) return NULL; /* one block, no more */
    return strndup(start + 1, (size_t)(close - start - 1));
}

int judge_parse_critique(const char *reply, char **quote) {
    *quote = NULL;
    char *json = reply ? critique_json(reply) : NULL;
    cJSON *root = json ? cJSON_ParseWithOpts(json, NULL, 1) : NULL; /* nothing after it */
    free(json);
    cJSON *step = cJSON_IsObject(root) ? cJSON_GetObjectItemCaseSensitive(root, "first_wrong_step") : NULL;
    int result = -1;
    if (cJSON_IsNull(step)) {
        result = 0;
    } else if (cJSON_IsString(step) && step->valuestring[strspn(step->valuestring, " \t\r\n")]) {
        *quote = strdup(step->valuestring);
        result = *quote ? 1 : -1;
    }
    cJSON_Delete(root);
    return result;
}
