/* A tiny HTTP/1.1 server for the judge tests, on 127.0.0.1 at a free port,
 * in a thread of the test process. It is written here on plain sockets
 * rather than with libmicrohttpd so that the tests need no library beyond
 * what the program links: it reads one request per connection (headers and a
 * Content-Length body), asks a handler for the status, body and a delay, and
 * answers with "Connection: close". */
#ifndef ES_TESTS_MOCK_HTTP_H
#define ES_TESTS_MOCK_HTTP_H

#include <stddef.h>

/* Called for request number index (0, 1, ...) with its body: returns the
 * reply body (malloc'd) and sets *status and *delay_ms (wait before
 * answering; the server stays responsive to mock_http_stop meanwhile). */
typedef char *(*mock_handler)(void *user, int index, const char *body, int *status, int *delay_ms);

typedef struct mock_http mock_http;

/* NULL if no socket or thread could be had. */
mock_http *mock_http_start(mock_handler handler, void *user);
void mock_http_stop(mock_http *m);
/* "http://127.0.0.1:PORT" */
const char *mock_http_url(const mock_http *m);
/* Requests read so far. */
int mock_http_requests(mock_http *m);
/* The header block of the last request (copied into buf, cut to n - 1). */
void mock_http_last_headers(mock_http *m, char *buf, size_t n);

/* A chat completion whose message content is content (malloc'd JSON). */
char *mock_completion(const char *content);

#endif
