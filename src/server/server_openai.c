/* The OpenAI side of the server: runs a parsed request through es_generate
 * under the model's lock and answers in OpenAI's shapes, a whole response
 * or server-sent events ("data: {...}\n\n", then "data: [DONE]\n\n") that a
 * worker thread writes into a pipe the HTTP layer streams out. Each token
 * carries an "entroscope" object: its logit and attention statistics (and
 * confidence); the whole response lists them in choices[0].entroscope.tokens. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "server/server_request.h"
#include "server/utf8.h"

/* One generation in progress. */
typedef struct job {
    server *s;
    gen_request q;
    char id[48];
    long created;
    char *out;               /* the text so far (cut at a stop sequence) */
    size_t len, cap;
    size_t emitted;          /* bytes of out already streamed */
    int32_t prev;            /* the previous token (pieces depend on it) */
    int stopped_by_text;     /* a stop sequence ended it */
    int gone;                /* the client went away (stream) */
    int fd;                  /* stream: write end of the pipe; -1 otherwise */
    cJSON *tokens;           /* whole response: the entroscope objects */
    cJSON *logprobs;         /* whole response: chat content[] or legacy object */
} job;

void reply_error(reply *r, int status, const char *type, const char *param, const char *code,
                 const char *fmt, ...) {
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cJSON *root = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(root, "error");
    cJSON_AddStringToObject(e, "message", msg);
    cJSON_AddStringToObject(e, "type", type);
    if (param) cJSON_AddStringToObject(e, "param", param); else cJSON_AddNullToObject(e, "param");
    if (code) cJSON_AddStringToObject(e, "code", code); else cJSON_AddNullToObject(e, "code");
    free(r->body);
    r->body = cJSON_PrintUnformatted(root);
    r->status = status;
    r->stream_fd = -1;
    cJSON_Delete(root);
}

void openai_models(server *s, reply *r) {
    cJSON *root = cJSON_CreateObject(), *data = cJSON_CreateArray(), *m = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "object", "list");
    cJSON_AddStringToObject(m, "id", s->model_name);
    cJSON_AddStringToObject(m, "object", "model");
    cJSON_AddNumberToObject(m, "created", 0);
    cJSON_AddStringToObject(m, "owned_by", "entroscope");
    cJSON_AddItemToArray(data, m);
    cJSON_AddItemToObject(root, "data", data);
    r->status = 200;
    r->body = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
}

/* JSON has no NaN: a statistic that was not measured is null. */
static void add_stat(cJSON *o, const char *key, double x) {
    if (isfinite(x)) cJSON_AddNumberToObject(o, key, x); else cJSON_AddNullToObject(o, key);
}

cJSON *server_clean_string(const char *text, size_t len) {
    char *clean = utf8_clean(text, len);
    cJSON *str = cJSON_CreateString(clean ? clean : "");
    free(clean);
    return str;
}

static void add_text(cJSON *o, const char *key, const char *text, size_t len) {
    cJSON_AddItemToObject(o, key, server_clean_string(text, len));
}

/* Numbers of a float array as a JSON array. */
static cJSON *float_array(const float *x, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++)
        cJSON_AddItemToArray(a, isfinite(x[i]) ? cJSON_CreateNumber(x[i]) : cJSON_CreateNull());
    return a;
}

/* The per-head values: {"n_layers", "n_heads", "entropy" (L*H, row-major:
 * layer l, head h at l*H + h; nats), "varentropy" (L*H; nats^2),
 * "agreement" (L), "interaction" (L)}. */
static cJSON *heads_json(const es_attn_probe *a) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "n_layers", a->n_layers);
    cJSON_AddNumberToObject(o, "n_heads", a->n_heads);
    int n = a->n_layers * a->n_heads;
    cJSON_AddItemToObject(o, "entropy", float_array(a->entropy, n));
    cJSON_AddItemToObject(o, "varentropy", float_array(a->varentropy, n));
    if (a->agreement) cJSON_AddItemToObject(o, "agreement", float_array(a->agreement, a->n_layers));
    if (a->interaction) cJSON_AddItemToObject(o, "interaction", float_array(a->interaction, a->n_layers));
    return o;
}

cJSON *server_token_json(const server *s, const es_trace_token *row, int heads) {
    cJSON *t = cJSON_CreateObject();
    add_text(t, "token", row->text, row->text_len);
    cJSON_AddNumberToObject(t, "id", row->token_id);
    add_stat(t, "logprob", row->token_logprob);
    add_stat(t, "logit_entropy", row->logit_entropy);
    add_stat(t, "logit_varentropy", row->logit_varentropy);
    const es_attn_probe *a = row->attn;
    add_stat(t, "attn_entropy_mean", a ? a->entropy_mean : NAN);
    add_stat(t, "attn_varentropy_mean", a ? a->varentropy_mean : NAN);
    if (a) { /* each layer's mean over its heads */
        cJSON *h = cJSON_AddArrayToObject(t, "layer_attn_entropy");
        cJSON *v = cJSON_AddArrayToObject(t, "layer_attn_varentropy");
        for (int l = 0; l < a->n_layers; l++) {
            double sh = 0, sv = 0;
            for (int k = 0; k < a->n_heads; k++) {
                sh += a->entropy[l * a->n_heads + k];
                sv += a->varentropy[l * a->n_heads + k];
            }
            cJSON_AddItemToArray(h, cJSON_CreateNumber(sh / a->n_heads));
            cJSON_AddItemToArray(v, cJSON_CreateNumber(sv / a->n_heads));
        }
        if (heads) cJSON_AddItemToObject(t, "heads", heads_json(a));
    }
    if (s->confidence) add_stat(t, "confidence", es_confidence_score(s->confidence, row));
    if (row->sampler_branch) cJSON_AddStringToObject(t, "sampler_branch", row->sampler_branch);
    return t;
}

static cJSON *bytes_array(const char *text, size_t len) {
    cJSON *b = cJSON_CreateArray();
    for (size_t i = 0; i < len; i++) cJSON_AddItemToArray(b, cJSON_CreateNumber((unsigned char)text[i]));
    return b;
}

/* The k most probable tokens of the distribution the row's token was drawn
 * from (the context's logits at on_token time), as ids and ln p. */
static int top_tokens(const job *j, int k, int32_t *ids, double *lps) {
    const float *logits = es_context_logits(j->s->ctx);
    int n = j->s->vocab_size;
    float mx = -INFINITY;
    for (int i = 0; i < n; i++) mx = logits[i] > mx ? logits[i] : mx;
    double sum = 0;
    for (int i = 0; i < n; i++) sum += exp((double)logits[i] - mx);
    double lse = mx + log(sum);
    int got = 0;
    for (; got < k; got++) { /* k <= 20: repeated scans beat a sort */
        int best = -1;
        for (int i = 0; i < n; i++) {
            int taken = 0;
            for (int t = 0; t < got && !taken; t++) taken = ids[t] == i;
            if (!taken && (best < 0 || logits[i] > logits[best])) best = i;
        }
        if (best < 0) break;
        ids[got] = best;
        lps[got] = logits[best] - lse;
    }
    return got;
}

/* The logprobs of one token: chat's {"token", "logprob", "bytes",
 * "top_logprobs"} entry, or for completions the legacy object's parts
 * added to `legacy` (tokens, token_logprobs, top_logprobs, text_offset). */
static cJSON *token_logprobs(const job *j, const es_trace_token *row, cJSON *legacy,
                             size_t offset) {
    int32_t ids[20];
    double lps[20];
    int k = top_tokens(j, j->q.top_logprobs, ids, lps);
    if (!j->q.chat) {
        cJSON_AddItemToArray(cJSON_GetObjectItem(legacy, "tokens"),
                             server_clean_string(row->text, row->text_len));
        cJSON_AddItemToArray(cJSON_GetObjectItem(legacy, "token_logprobs"),
                             cJSON_CreateNumber(row->token_logprob));
        cJSON *top = cJSON_CreateObject();
        for (int i = 0; i < k; i++) {
            size_t len;
            const char *piece = es_token_to_piece(j->s->tok, j->prev, ids[i], 0, &len);
            char *clean = utf8_clean(piece, len);
            if (clean && !cJSON_GetObjectItemCaseSensitive(top, clean))
                cJSON_AddNumberToObject(top, clean, lps[i]);
            free(clean);
        }
        cJSON_AddItemToArray(cJSON_GetObjectItem(legacy, "top_logprobs"), top);
        cJSON_AddItemToArray(cJSON_GetObjectItem(legacy, "text_offset"),
                             cJSON_CreateNumber((double)offset));
        return NULL;
    }
    cJSON *e = cJSON_CreateObject(), *top = cJSON_CreateArray();
    add_text(e, "token", row->text, row->text_len);
    cJSON_AddNumberToObject(e, "logprob", row->token_logprob);
    cJSON_AddItemToObject(e, "bytes", bytes_array(row->text, row->text_len));
    for (int i = 0; i < k; i++) {
        size_t len;
        const char *piece = es_token_to_piece(j->s->tok, j->prev, ids[i], 0, &len);
        cJSON *alt = cJSON_CreateObject();
        add_text(alt, "token", piece, len);
        cJSON_AddNumberToObject(alt, "logprob", lps[i]);
        cJSON_AddItemToObject(alt, "bytes", bytes_array(piece, len));
        cJSON_AddItemToArray(top, alt);
    }
    cJSON_AddItemToObject(e, "top_logprobs", top);
    return e;
}

static cJSON *new_legacy_logprobs(void) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddArrayToObject(o, "tokens");
    cJSON_AddArrayToObject(o, "token_logprobs");
    cJSON_AddArrayToObject(o, "top_logprobs");
    cJSON_AddArrayToObject(o, "text_offset");
    return o;
}

/* Appends the token's text; a completed stop sequence cuts the text before
 * it. Returns 1 when a stop sequence was hit. */
static int append_text(job *j, const char *text, size_t len) {
    if (j->len + len + 1 > j->cap) {
        size_t cap = (j->len + len + 1) * 2;
        char *grown = realloc(j->out, cap);
        if (!grown) return 1;
        j->out = grown;
        j->cap = cap;
    }
    size_t old = j->len;
    memcpy(j->out + j->len, text, len);
    j->len += len;
    j->out[j->len] = 0;
    for (int i = 0; i < j->q.n_stops; i++) {
        size_t n = strlen(j->q.stops[i]);
        size_t from = old >= n ? old - n + 1 : 0;
        char *hit = strstr(j->out + from, j->q.stops[i]);
        if (hit) {
            j->len = (size_t)(hit - j->out);
            j->out[j->len] = 0;
            j->stopped_by_text = 1;
        }
    }
    return j->stopped_by_text;
}

/* How much of the text may be streamed now: not a trailing part of a UTF-8
 * character, nor a tail that could be the start of a stop sequence. */
static size_t safe_end(const job *j) {
    size_t end = utf8_complete_prefix(j->out, j->len);
    if (j->stopped_by_text) return end;
    for (int i = 0; i < j->q.n_stops; i++) {
        size_t n = strlen(j->q.stops[i]);
        for (size_t k = n - 1; k > 0; k--) {
            if (k <= j->len && memcmp(j->out + j->len - k, j->q.stops[i], k) == 0) {
                if (j->len - k < end) end = j->len - k;
                break;
            }
        }
    }
    return end < j->emitted ? j->emitted : end;
}

static int write_all(int fd, const char *data, size_t len) {
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Writes one event; a client that went away marks the job gone. */
static void send_event(job *j, cJSON *chunk) {
    char *json = cJSON_PrintUnformatted(chunk);
    cJSON_Delete(chunk);
    if (!json || j->gone || write_all(j->fd, "data: ", 6) || write_all(j->fd, json, strlen(json)) ||
        write_all(j->fd, "\n\n", 2))
        j->gone = 1;
    free(json);
}

static cJSON *chunk_new(const job *j) {
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "id", j->id);
    cJSON_AddStringToObject(c, "object", j->q.chat ? "chat.completion.chunk" : "text_completion");
    cJSON_AddNumberToObject(c, "created", (double)j->created);
    cJSON_AddStringToObject(c, "model", j->s->model_name);
    return c;
}

/* One streamed chunk: the text that became safe to send, the token's
 * statistics, its logprobs. finish: NULL, or the finish reason (last chunk). */
static void stream_chunk(job *j, const es_trace_token *row, cJSON *stats, cJSON *lp,
                         const char *finish, int first) {
    cJSON *c = chunk_new(j), *choices = cJSON_AddArrayToObject(c, "choices");
    cJSON *ch = cJSON_CreateObject();
    cJSON_AddNumberToObject(ch, "index", 0);
    size_t end = finish ? j->len : safe_end(j);
    char *text = utf8_clean(j->out + j->emitted, end - j->emitted);
    j->emitted = end;
    if (j->q.chat) {
        cJSON *delta = cJSON_AddObjectToObject(ch, "delta");
        if (first) cJSON_AddStringToObject(delta, "role", "assistant");
        if (row || (text && text[0])) cJSON_AddStringToObject(delta, "content", text ? text : "");
    } else {
        cJSON_AddStringToObject(ch, "text", text ? text : "");
    }
    free(text);
    if (lp) cJSON_AddItemToObject(ch, "logprobs", lp); else cJSON_AddNullToObject(ch, "logprobs");
    if (finish) cJSON_AddStringToObject(ch, "finish_reason", finish);
    else cJSON_AddNullToObject(ch, "finish_reason");
    if (stats) cJSON_AddItemToObject(ch, "entroscope", stats);
    cJSON_AddItemToArray(choices, ch);
    send_event(j, c);
}

static int on_token(void *user, const es_trace_token *row) {
    job *j = user;
    size_t offset = j->len;
    int stop = append_text(j, row->text, row->text_len);
    cJSON *stats = server_token_json(j->s, row, j->q.heads), *lp = NULL;
    if (j->q.logprobs) {
        cJSON *legacy = j->q.chat ? NULL : j->fd >= 0 ? new_legacy_logprobs() : j->logprobs;
        cJSON *entry = token_logprobs(j, row, legacy, offset);
        if (j->fd < 0 && entry) cJSON_AddItemToArray(j->logprobs, entry);
        if (j->fd >= 0 && entry) {
            lp = cJSON_CreateObject();
            cJSON *content = cJSON_AddArrayToObject(lp, "content");
            cJSON_AddItemToArray(content, entry);
        } else if (j->fd >= 0) {
            lp = legacy;
        }
    }
    j->prev = row->token_id;
    if (j->fd < 0) {
        cJSON_AddItemToArray(j->tokens, stats);
        return stop;
    }
    stream_chunk(j, row, stats, lp, NULL, row->step == 0);
    return stop || j->gone;
}

static const char *finish_reason(const job *j, const es_generation *g) {
    if (j->stopped_by_text || strcmp(g->stop_reason, "eog") == 0) return "stop";
    return "length";
}

static cJSON *usage_json(const job *j, const es_generation *g) {
    cJSON *u = cJSON_CreateObject();
    cJSON_AddNumberToObject(u, "prompt_tokens", (double)j->q.n_ids);
    cJSON_AddNumberToObject(u, "completion_tokens", g->n_generated);
    cJSON_AddNumberToObject(u, "total_tokens", (double)j->q.n_ids + g->n_generated);
    return u;
}

/* Runs the generation under the model's lock. */
static int run_job(job *j, es_generation *g, es_error *err) {
    server *s = j->s;
    j->prev = j->q.ids[j->q.n_ids - 1];
    es_generate_params gp = {.n_predict = j->q.max_tokens, .sampling = j->q.sampling,
                             .on_token = on_token, .user = j};
    gp.sampling.entropix = s->entropix; /* the request's seed still drives it */
    pthread_mutex_lock(&s->model_lock);
    es_context_reset(s->ctx);
    int rc = es_generate(s->model, s->ctx, j->q.ids, j->q.n_ids, &gp, g, err);
    pthread_mutex_unlock(&s->model_lock);
    return rc;
}

static void job_free(job *j) {
    gen_request_free(&j->q);
    free(j->out);
    cJSON_Delete(j->tokens);
    cJSON_Delete(j->logprobs);
    free(j);
}

/* The whole (non-streamed) response. */
static void whole_response(job *j, const es_generation *g, reply *r) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "id", j->id);
    cJSON_AddStringToObject(root, "object", j->q.chat ? "chat.completion" : "text_completion");
    cJSON_AddNumberToObject(root, "created", (double)j->created);
    cJSON_AddStringToObject(root, "model", j->s->model_name);
    cJSON *choices = cJSON_AddArrayToObject(root, "choices"), *ch = cJSON_CreateObject();
    cJSON_AddNumberToObject(ch, "index", 0);
    if (j->q.chat) {
        cJSON *m = cJSON_AddObjectToObject(ch, "message");
        cJSON_AddStringToObject(m, "role", "assistant");
        add_text(m, "content", j->out ? j->out : "", j->len);
    } else {
        add_text(ch, "text", j->out ? j->out : "", j->len);
    }
    if (j->logprobs && j->q.chat) {
        cJSON *lp = cJSON_AddObjectToObject(ch, "logprobs");
        cJSON_AddItemToObject(lp, "content", j->logprobs);
    } else if (j->logprobs) {
        cJSON_AddItemToObject(ch, "logprobs", j->logprobs);
    } else {
        cJSON_AddNullToObject(ch, "logprobs");
    }
    j->logprobs = NULL;
    cJSON_AddStringToObject(ch, "finish_reason", finish_reason(j, g));
    cJSON *e = cJSON_AddObjectToObject(ch, "entroscope");
    cJSON_AddItemToObject(e, "tokens", j->tokens);
    j->tokens = NULL;
    cJSON_AddItemToArray(choices, ch);
    cJSON_AddItemToObject(root, "usage", usage_json(j, g));
    r->status = 200;
    r->body = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
}

/* The stream's worker: generates, writing events, then [DONE]. SIGPIPE is
 * blocked in this thread so that a client gone away shows as EPIPE. */
static void *stream_worker(void *arg) {
    job *j = arg;
    sigset_t pipe_sig;
    sigemptyset(&pipe_sig);
    sigaddset(&pipe_sig, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_sig, NULL);
    es_generation g = {0};
    es_error err;
    if (run_job(j, &g, &err) == 0) {
        stream_chunk(j, NULL, NULL, NULL, finish_reason(j, &g), g.n_generated == 0);
        if (j->q.include_usage) {
            cJSON *c = chunk_new(j);
            cJSON_AddArrayToObject(c, "choices");
            cJSON_AddItemToObject(c, "usage", usage_json(j, &g));
            send_event(j, c);
        }
    } else {
        cJSON *c = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(c, "error");
        cJSON_AddStringToObject(e, "message", err.msg);
        cJSON_AddStringToObject(e, "type", "server_error");
        send_event(j, c);
    }
    if (!j->gone) write_all(j->fd, "data: [DONE]\n\n", 14);
    es_generation_free(&g);
    close(j->fd);
    server *s = j->s;
    job_free(j);
    server_stream_ended(s);
    return NULL;
}

static int start_stream(job *j, reply *r) {
    int fds[2];
    if (pipe(fds)) return -1;
    j->fd = fds[1];
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    server_stream_started(j->s);
    if (pthread_create(&t, &attr, stream_worker, j)) {
        pthread_attr_destroy(&attr);
        server_stream_ended(j->s);
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    pthread_attr_destroy(&attr);
    r->status = 200;
    r->stream_fd = fds[0];
    return 0;
}

void openai_complete(server *s, const char *body, size_t len, int chat, reply *r) {
    job *j = calloc(1, sizeof *j);
    if (!j) {
        reply_error(r, 500, "server_error", NULL, NULL, "out of memory");
        return;
    }
    j->s = s;
    j->fd = -1;
    if (gen_request_parse(s, body, len, chat, &j->q, r)) {
        free(j);
        return;
    }
    snprintf(j->id, sizeof j->id, "%s-%llu", chat ? "chatcmpl" : "cmpl",
             (unsigned long long)server_next_id(s));
    j->created = (long)time(NULL);
    if (j->q.stream) {
        if (start_stream(j, r) == 0) return;
        job_free(j);
        reply_error(r, 500, "server_error", NULL, NULL, "could not start the stream");
        return;
    }
    j->tokens = cJSON_CreateArray();
    if (j->q.logprobs) j->logprobs = chat ? cJSON_CreateArray() : new_legacy_logprobs();
    es_generation g = {0};
    es_error err;
    if (run_job(j, &g, &err) == 0) whole_response(j, &g, r);
    else reply_error(r, 500, "server_error", NULL, NULL, "%s", err.msg);
    es_generation_free(&g);
    job_free(j);
}
