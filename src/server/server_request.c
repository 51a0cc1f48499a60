/* Parsing and checking an OpenAI completion request: the JSON body becomes
 * a gen_request (prompt tokens, sampling, stops, logprobs) or an
 * OpenAI-style 400 naming the parameter. Unknown fields are ignored, as
 * OpenAI's clients send many that do not apply here. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "server/server_request.h"

void gen_request_free(gen_request *q) {
    free(q->ids);
    for (int i = 0; i < q->n_stops; i++) free(q->stops[i]);
    memset(q, 0, sizeof *q);
}

/* Sets the 400 reply naming the parameter; returns -1. */
static int bad_param(reply *r, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int bad_param(reply *r, const char *param, const char *fmt, ...) {
    char msg[560];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    reply_error(r, 400, "invalid_request_error", param, NULL, "%s", msg);
    return -1;
}
#define BAD(param, ...) bad_param(r, param, __VA_ARGS__)

/* An optional number in [min, max]; 1: present (*out set), 0: absent. */
static int get_number(const cJSON *o, const char *key, double min, double max, int integer,
                      double *out, reply *r) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return BAD(key, "'%s' must be a number", key);
    double x = v->valuedouble;
    if (integer && x != floor(x)) return BAD(key, "'%s' must be an integer", key);
    if (x < min || x > max) return BAD(key, "'%s' must be between %g and %g", key, min, max);
    *out = x;
    return 1;
}

static int get_bool(const cJSON *o, const char *key, int *out, reply *r) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsBool(v)) return BAD(key, "'%s' must be true or false", key);
    *out = cJSON_IsTrue(v);
    return 1;
}

/* stop: null, a string, or an array of up to 4 strings. */
static int get_stops(const cJSON *o, gen_request *q, reply *r) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "stop");
    if (!v || cJSON_IsNull(v)) return 0;
    const cJSON *one[1] = {v};
    int n = cJSON_IsString(v) ? 1 : cJSON_IsArray(v) ? cJSON_GetArraySize(v) : -1;
    if (n < 0 || n > GEN_MAX_STOPS)
        return BAD("stop", "'stop' must be a string or an array of up to %d strings", GEN_MAX_STOPS);
    for (int i = 0; i < n; i++) {
        const cJSON *s = cJSON_IsString(v) ? one[0] : cJSON_GetArrayItem(v, i);
        if (!cJSON_IsString(s) || !s->valuestring[0])
            return BAD("stop", "'stop' must hold non-empty strings");
        if (!(q->stops[q->n_stops++] = strdup(s->valuestring)))
            return BAD("stop", "out of memory");
    }
    return 0;
}

/* The sampling fields shared by both endpoints. */
static int get_sampling(const cJSON *o, int chat, gen_request *q, uint64_t default_seed,
                        reply *r) {
    double x;
    q->sampling = es_sampler_default_params();
    q->sampling.temperature = 1;
    q->sampling.top_p = 1;
    q->sampling.seed = default_seed;
    int has = get_number(o, "temperature", 0, 2, 0, &x, r);
    if (has < 0) return -1;
    if (has) q->sampling.temperature = (float)x;
    has = get_number(o, "top_p", 0, 1, 0, &x, r);
    if (has < 0) return -1;
    if (has && x <= 0) return BAD("top_p", "'top_p' must be above 0");
    if (has) q->sampling.top_p = (float)x;
    if ((has = get_number(o, "seed", -9.2e18, 9.2e18, 1, &x, r)) < 0) return -1;
    if (has) q->sampling.seed = (uint64_t)(int64_t)x;
    if ((has = get_number(o, "n", 1, 1, 1, &x, r)) < 0) return -1;
    const char *max_key = chat && cJSON_GetObjectItemCaseSensitive(o, "max_completion_tokens")
                              ? "max_completion_tokens" : "max_tokens";
    if ((has = get_number(o, max_key, 1, 1 << 24, 1, &x, r)) < 0) return -1;
    q->max_tokens = has ? (int)x : chat ? 1 << 24 : 16; /* OpenAI's defaults */
    if (get_bool(o, "stream", &q->stream, r) < 0) return -1;
    const cJSON *so = cJSON_GetObjectItemCaseSensitive(o, "stream_options");
    if (cJSON_IsObject(so) && get_bool(so, "include_usage", &q->include_usage, r) < 0) return -1;
    return get_stops(o, q, r);
}

/* logprobs: completions take a count of alternatives (0..5), chat takes
 * true/false with top_logprobs (0..20). */
static int get_logprobs(const cJSON *o, int chat, gen_request *q, reply *r) {
    double x;
    int has;
    if (!chat) {
        if ((has = get_number(o, "logprobs", 0, 5, 1, &x, r)) < 0) return -1;
        q->logprobs = has;
        q->top_logprobs = has ? (int)x : 0;
        return 0;
    }
    if (get_bool(o, "logprobs", &q->logprobs, r) < 0) return -1;
    if ((has = get_number(o, "top_logprobs", 0, 20, 1, &x, r)) < 0) return -1;
    if (has && !q->logprobs) return BAD("top_logprobs", "'top_logprobs' needs 'logprobs': true");
    q->top_logprobs = has ? (int)x : 0;
    return 0;
}

/* entroscope's own options: {"entroscope": {"heads": true}} adds each
 * token's per-head attention entropy and varentropy (off: L x H values a
 * token is a lot to send). */
static int get_entroscope(const cJSON *o, gen_request *q, reply *r) {
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "entroscope");
    if (!e || cJSON_IsNull(e)) return 0;
    if (!cJSON_IsObject(e))
        return BAD("entroscope", "'entroscope' must be an object such as {\"heads\": true}");
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(e, "heads");
    if (h && !cJSON_IsNull(h) && !cJSON_IsBool(h))
        return BAD("entroscope", "'entroscope.heads' must be true or false");
    q->heads = cJSON_IsTrue(h);
    return 0;
}

/* A message's content: a string, or an array of {"type": "text", "text"}
 * parts (joined). Returns malloc'ed text or NULL (r set). */
static char *message_text(const cJSON *content, int index, reply *r) {
    if (cJSON_IsString(content)) return strdup(content->valuestring);
    if (!cJSON_IsArray(content)) {
        BAD("messages", "messages[%d].content must be a string or an array of text parts", index);
        return NULL;
    }
    size_t len = 0;
    char *text = calloc(1, 1);
    const cJSON *part;
    cJSON_ArrayForEach(part, content) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(part, "text");
        if (!cJSON_IsString(t)) {
            free(text);
            BAD("messages", "messages[%d].content holds a part that is not text", index);
            return NULL;
        }
        size_t n = strlen(t->valuestring);
        char *grown = text ? realloc(text, len + n + 1) : NULL;
        if (!grown) break;
        text = grown;
        memcpy(text + len, t->valuestring, n + 1);
        len += n;
    }
    return text;
}

/* The prompt tokens of a chat: the model's template, or, for a model
 * without a known one (random and TinyStories models), the turns as
 * "Role: text" lines ending with "Assistant:". */
static int chat_tokens(server *s, const es_chat_message *m, int n, gen_request *q, reply *r) {
    es_error err;
    if (es_chat_template_name(s->tok)) {
        if (es_chat_tokenize(s->tok, m, n, 1, &q->ids, &q->n_ids, &err) == 0) return 0;
        return BAD("messages", "%s", err.msg);
    }
    size_t size = 16;
    for (int i = 0; i < n; i++) size += strlen(m[i].content) + 16;
    char *text = malloc(size), *at = text;
    if (!text) return BAD("messages", "out of memory");
    for (int i = 0; i < n; i++) {
        const char *role = strcmp(m[i].role, "system") == 0 ? "System"
                           : strcmp(m[i].role, "user") == 0 ? "User" : "Assistant";
        at += sprintf(at, "%s: %s\n", role, m[i].content);
    }
    strcpy(at, "Assistant:");
    int rc = es_tokenize(s->tok, text, strlen(text), ES_TOKENIZE_ADD_BOS, &q->ids, &q->n_ids, &err);
    free(text);
    return rc ? BAD("messages", "%s", err.msg) : 0;
}

static int parse_messages(server *s, const cJSON *o, gen_request *q, reply *r) {
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(o, "messages");
    int n = cJSON_IsArray(msgs) ? cJSON_GetArraySize(msgs) : 0;
    if (n <= 0) return BAD("messages", "'messages' must be a non-empty array");
    es_chat_message *m = calloc((size_t)n, sizeof *m);
    char **texts = calloc((size_t)n, sizeof *texts);
    int rc = m && texts ? 0 : BAD("messages", "out of memory");
    for (int i = 0; rc == 0 && i < n; i++) {
        const cJSON *msg = cJSON_GetArrayItem(msgs, i);
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(msg, "role");
        const char *name = cJSON_IsString(role) ? role->valuestring : "";
        if (strcmp(name, "developer") == 0) name = "system"; /* OpenAI's newer name */
        if (strcmp(name, "system") && strcmp(name, "user") && strcmp(name, "assistant")) {
            rc = BAD("messages", "messages[%d].role must be system, user or assistant", i);
            break;
        }
        if (!(texts[i] = message_text(cJSON_GetObjectItemCaseSensitive(msg, "content"), i, r))) {
            rc = -1;
            break;
        }
        m[i] = (es_chat_message){name, texts[i]};
    }
    if (rc == 0) rc = chat_tokens(s, m, n, q, r);
    for (int i = 0; texts && i < n; i++) free(texts[i]);
    free(texts);
    free(m);
    return rc;
}

/* prompt: a string, or an array holding one string. */
static int parse_prompt(server *s, const cJSON *o, gen_request *q, reply *r) {
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(o, "prompt");
    if (cJSON_IsArray(p) && cJSON_GetArraySize(p) == 1) p = cJSON_GetArrayItem(p, 0);
    if (!cJSON_IsString(p)) return BAD("prompt", "'prompt' must be a string (or an array of one)");
    es_error err;
    if (es_tokenize(s->tok, p->valuestring, strlen(p->valuestring), ES_TOKENIZE_ADD_BOS, &q->ids,
                    &q->n_ids, &err))
        return BAD("prompt", "%s", err.msg);
    return 0;
}

int gen_request_parse(server *s, const char *body, size_t len, int chat, gen_request *q,
                      reply *r) {
    memset(q, 0, sizeof *q);
    q->chat = chat;
    cJSON *o = cJSON_ParseWithLength(body, len);
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return BAD(NULL, "the request body is not a JSON object");
    }
    int rc = get_sampling(o, chat, q, server_next_id(s) ^ (uint64_t)time(NULL), r);
    if (rc == 0) rc = get_logprobs(o, chat, q, r);
    if (rc == 0) rc = get_entroscope(o, q, r);
    if (rc == 0) rc = chat ? parse_messages(s, o, q, r) : parse_prompt(s, o, q, r);
    cJSON_Delete(o);
    if (rc == 0 && q->n_ids == 0)
        rc = BAD(chat ? "messages" : "prompt", "the prompt is empty and the model has no BOS token");
    if (rc == 0 && (int)q->n_ids >= es_context_size(s->ctx)) {
        reply_error(r, 400, "invalid_request_error", chat ? "messages" : "prompt",
                    "context_length_exceeded", "the prompt has %zu tokens; the context holds %d",
                    q->n_ids, es_context_size(s->ctx));
        rc = -1;
    }
    if (rc) gen_request_free(q);
    return rc;
}
