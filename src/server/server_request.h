/* A parsed, checked completion request (server_request.c). */
#ifndef ES_SERVER_SERVER_REQUEST_H
#define ES_SERVER_SERVER_REQUEST_H

#include "server/server.h"

#define GEN_MAX_STOPS 4

typedef struct gen_request {
    int chat;                 /* 1: /v1/chat/completions */
    int stream, include_usage;
    int max_tokens;
    es_sampler_params sampling;
    char *stops[GEN_MAX_STOPS];
    int n_stops;
    int logprobs;             /* 1: report each token's log-probability */
    int top_logprobs;         /* alternatives per token (0..20) */
    int heads;                /* "entroscope": {"heads": true}: per-head values per token */
    int32_t *ids;             /* the prompt's tokens, n_ids of them */
    size_t n_ids;
} gen_request;

/* Returns 0, or -1 with r holding the 400 reply. */
int gen_request_parse(server *s, const char *body, size_t len, int chat, gen_request *q,
                      reply *r);
void gen_request_free(gen_request *q);

#endif
