/* The server's inner interface: the HTTP layer (server.c) owns the sockets
 * and hands each complete request to the OpenAI layer (server_openai.c),
 * which parses it, runs the generation under the model's lock and builds
 * the JSON (or the event stream) that goes back. */
#ifndef ES_SERVER_SERVER_H
#define ES_SERVER_SERVER_H

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdint.h>

#include "entroscope.h"

/* What every request shares. The model and the context are used by one
 * generation at a time (model_lock); the counters by anyone (count_lock). */
typedef struct server {
    const es_model *model;
    const es_tokenizer *tok;
    const es_confidence *confidence;
    const es_entropix_params *entropix; /* NULL: each request's sampling */
    es_context *ctx;             /* reset before each generation */
    pthread_mutex_t model_lock;
    char model_name[256];        /* general.name, or the file's name */
    int n_layers, n_heads, vocab_size;
    pthread_mutex_t count_lock;
    pthread_cond_t count_changed;
    int streams;                 /* stream workers still running */
    uint64_t next_id;            /* response ids and default seeds */
    struct study_db *db;         /* --db: the trace browsed (server_study.c); NULL: none */
} server;

/* A reply: status and a body (malloc'ed JSON), or a stream: the read end of
 * a pipe that a worker thread fills with server-sent events. */
typedef struct reply {
    int status;
    char *body;
    int stream_fd;   /* >= 0: stream instead of body */
} reply;

/* An OpenAI-style error reply: {"error": {"message", "type", "param", "code"}}. */
void reply_error(reply *r, int status, const char *type, const char *param, const char *code,
                 const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* POST /v1/completions (chat = 0) or /v1/chat/completions (chat = 1). */
void openai_complete(server *s, const char *body, size_t len, int chat, reply *r);
/* GET /v1/models */
void openai_models(server *s, reply *r);

/* Bumps the stream count (a worker starts) or drops it (it ended). */
void server_stream_started(server *s);
void server_stream_ended(server *s);
uint64_t server_next_id(server *s);

/* One token's "entroscope" object (README, "Server"); heads: add its
 * per-head values. Used for generated tokens and for a trace's rows. */
cJSON *server_token_json(const server *s, const es_trace_token *row, int heads);
/* A JSON string of the bytes, invalid UTF-8 replaced by U+FFFD. */
cJSON *server_clean_string(const char *text, size_t len);

/* The viewer page (GET /), NUL-terminated HTML. */
extern const char server_viewer_html[];

#endif
