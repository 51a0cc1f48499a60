/* What the server tests share (server_client.c): a server running in a
 * thread of the test process (es_serve on a free port), a libcurl client,
 * and headless Chromium for the viewer. */
#ifndef ES_TESTS_SERVER_CLIENT_H
#define ES_TESTS_SERVER_CLIENT_H

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

#include "entroscope.h"

typedef struct live {
    es_model *model;
    es_server_params p;
    pthread_t thread;
    atomic_int stop, port;
    int rc;
} live;

/* A server on a free port (n_ctx 64, 2 threads); db_path may be NULL.
 * 0 on success. */
int live_start_db(live *l, es_model *model, const char *api_key, const char *db_path);
int live_start(live *l, es_model *model, const char *api_key);
void live_stop(live *l);

/* The tiny random model (written once into the test directory), or NULL. */
const char *tiny_model_path(void);

typedef struct buf {
    char *data;
    size_t len;
} buf;

/* A libcurl write callback appending to a buf (NUL-terminated). */
size_t collect(char *p, size_t size, size_t n, void *user);

/* A request to 127.0.0.1:port; body NULL: GET. Returns the reply body
 * (malloc'ed, "" when none) and *status (-1 when the transfer failed). */
char *request(int port, const char *method, const char *path, const char *body, size_t body_len,
              const char *key, long *status);
/* POST body (or GET with body NULL), the reply parsed. */
cJSON *post_json(int port, const char *path, const char *body, long *status);
cJSON *get_json(int port, const char *path, long *status);
/* error.KEY of an OpenAI error object, or NULL. */
const char *error_field(cJSON *resp, const char *key);

/* The browser on PATH, or NULL. */
const char *find_chromium(void);
/* The DOM of url once loaded, as headless Chromium dumps it (malloc'ed). */
char *chromium_dom(const char *chromium, const char *url);
/* Occurrences of needle in haystack (0 for NULL). */
int count_of(const char *haystack, const char *needle);

/* The per-head option and the study browser (test_server_study.c): port is
 * a running server without a database, prompt one with an ASCII greedy
 * continuation. */
void server_heads_tests(es_model *m, int port, const char *prompt);
void server_study_tests(es_model *m, const char *model_path);

#endif
