/* The judge tests' HTTP server (mock_http.h). One connection at a time is
 * enough: the client under test sends one request and waits. */
#include "mock_http.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_REQUEST (1 << 20)

struct mock_http {
    int listen_fd;
    char url[64];
    mock_handler handler;
    void *user;
    pthread_t thread;
    atomic_int stop;
    pthread_mutex_t lock; /* guards requests and last_headers */
    int requests;
    char last_headers[4096];
};

char *mock_completion(const char *content) {
    cJSON *root = cJSON_CreateObject(), *choices = cJSON_AddArrayToObject(root, "choices");
    cJSON *choice = cJSON_CreateObject(), *message = cJSON_AddObjectToObject(choice, "message");
    cJSON_AddStringToObject(message, "role", "assistant");
    cJSON_AddStringToObject(message, "content", content);
    cJSON_AddItemToArray(choices, choice);
    char *out = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return out;
}

static size_t content_length(const char *headers, const char *end) {
    for (const char *line = headers; line && line < end; line = strstr(line, "\r\n")) {
        if (line != headers) line += 2;
        if (strncasecmp(line, "content-length:", 15) == 0) return strtoul(line + 15, NULL, 10);
    }
    return 0;
}

/* Reads headers and body; returns the malloc'd request (NUL-terminated)
 * with *body pointing into it, or NULL. */
static char *read_request(mock_http *m, int fd, char **body) {
    char *buf = malloc(MAX_REQUEST + 1);
    size_t len = 0, need = 0;
    char *end = NULL;
    while (buf && len < MAX_REQUEST && !atomic_load(&m->stop)) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0) continue;
        ssize_t got = recv(fd, buf + len, MAX_REQUEST - len, 0);
        if (got <= 0) break;
        len += (size_t)got;
        buf[len] = 0;
        if (!end && (end = strstr(buf, "\r\n\r\n"))) {
            need = (size_t)(end + 4 - buf) + content_length(buf, end);
        }
        if (end && len >= need) {
            *end = 0;
            *body = end + 4;
            return buf;
        }
    }
    free(buf);
    return NULL;
}

static void serve(mock_http *m, int fd) {
    char *body = NULL, *request = read_request(m, fd, &body);
    if (!request) return;
    pthread_mutex_lock(&m->lock);
    int index = m->requests++;
    snprintf(m->last_headers, sizeof m->last_headers, "%s", request);
    pthread_mutex_unlock(&m->lock);
    int status = 200, delay_ms = 0;
    char *reply = m->handler(m->user, index, body, &status, &delay_ms);
    for (int waited = 0; waited < delay_ms && !atomic_load(&m->stop); waited += 10)
        nanosleep(&(struct timespec){0, 10 * 1000000L}, NULL);
    const char *text = reply ? reply : "";
    char head[256];
    int n = snprintf(head, sizeof head, "HTTP/1.1 %d Mock\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n", status, strlen(text));
    /* MSG_NOSIGNAL: a client that timed out and left must not kill the tests. */
    if (send(fd, head, (size_t)n, MSG_NOSIGNAL) == n) send(fd, text, strlen(text), MSG_NOSIGNAL);
    free(reply);
    free(request);
}

static void *server_main(void *arg) {
    mock_http *m = arg;
    while (!atomic_load(&m->stop)) {
        struct pollfd p = {.fd = m->listen_fd, .events = POLLIN};
        if (poll(&p, 1, 20) <= 0) continue;
        int fd = accept(m->listen_fd, NULL, NULL);
        if (fd < 0) continue;
        serve(m, fd);
        close(fd);
    }
    return NULL;
}

mock_http *mock_http_start(mock_handler handler, void *user) {
    mock_http *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->handler = handler;
    m->user = user;
    pthread_mutex_init(&m->lock, NULL);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    m->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    if (m->listen_fd < 0 || bind(m->listen_fd, (struct sockaddr *)&a, sizeof a) < 0 ||
        listen(m->listen_fd, 16) < 0 || getsockname(m->listen_fd, (struct sockaddr *)&a, &alen) < 0 ||
        pthread_create(&m->thread, NULL, server_main, m) != 0) {
        if (m->listen_fd >= 0) close(m->listen_fd);
        free(m);
        return NULL;
    }
    snprintf(m->url, sizeof m->url, "http://127.0.0.1:%d", ntohs(a.sin_port));
    return m;
}

void mock_http_stop(mock_http *m) {
    if (!m) return;
    atomic_store(&m->stop, 1);
    pthread_join(m->thread, NULL);
    close(m->listen_fd);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

const char *mock_http_url(const mock_http *m) { return m->url; }

int mock_http_requests(mock_http *m) {
    pthread_mutex_lock(&m->lock);
    int n = m->requests;
    pthread_mutex_unlock(&m->lock);
    return n;
}

void mock_http_last_headers(mock_http *m, char *buf, size_t n) {
    pthread_mutex_lock(&m->lock);
    snprintf(buf, n, "%s", m->last_headers);
    pthread_mutex_unlock(&m->lock);
}
