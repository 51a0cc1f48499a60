/* The HTTP layer of `entroscope serve` (es_serve), on libmicrohttpd with a
 * thread per connection: a generation may hold its connection's thread for
 * a long while, and the model's lock makes the others wait their turn.
 * Routing, the body limit and the API key are checked here; the OpenAI
 * endpoints are in server_openai.c, the study browser (--db) in
 * server_study.c. On stop the listening socket closes
 * first, the requests in flight finish, then the daemon stops. */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "server/server_study.h"

/* The HTTP side of the server: the shared state and what MHD needs. */
typedef struct http {
    server s;
    const es_server_params *p;
    int in_flight;          /* requests begun and not completed (count_lock) */
} http;

/* One request: its body as it arrives. */
typedef struct request {
    char *body;
    size_t len, cap;
    int too_large;
} request;

es_server_params es_server_default_params(void) {
    return (es_server_params){.host = "127.0.0.1", .port = 8080, .max_body = 1 << 20,
                              .max_connections = 64};
}

void server_stream_started(server *s) {
    pthread_mutex_lock(&s->count_lock);
    s->streams++;
    pthread_mutex_unlock(&s->count_lock);
}

void server_stream_ended(server *s) {
    pthread_mutex_lock(&s->count_lock);
    s->streams--;
    pthread_cond_broadcast(&s->count_changed);
    pthread_mutex_unlock(&s->count_lock);
}

uint64_t server_next_id(server *s) {
    pthread_mutex_lock(&s->count_lock);
    uint64_t id = ++s->next_id;
    pthread_mutex_unlock(&s->count_lock);
    return id;
}

static void count_in_flight(http *h, int delta) {
    pthread_mutex_lock(&h->s.count_lock);
    h->in_flight += delta;
    pthread_cond_broadcast(&h->s.count_changed);
    pthread_mutex_unlock(&h->s.count_lock);
}

static enum MHD_Result send_reply(struct MHD_Connection *c, reply *r, const char *type) {
    struct MHD_Response *resp;
    if (r->stream_fd >= 0) {
        resp = MHD_create_response_from_pipe(r->stream_fd);
        type = "text/event-stream";
        if (resp) MHD_add_response_header(resp, "Cache-Control", "no-cache");
    } else {
        const char *body = r->body ? r->body : "";
        resp = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    }
    free(r->body);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", type);
    enum MHD_Result ok = MHD_queue_response(c, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return ok;
}

/* "Authorization: Bearer KEY", compared in time independent of where it differs. */
static int authorised(struct MHD_Connection *c, const char *key) {
    if (!key) return 1;
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (!auth || strncmp(auth, "Bearer ", 7) != 0) return 0;
    auth += 7;
    size_t n = strlen(key), m = strlen(auth);
    unsigned diff = n != m;
    for (size_t i = 0; i < n; i++) diff |= (unsigned char)key[i] ^ (unsigned char)auth[i < m ? i : 0];
    return diff == 0;
}

#define ITEMS_PREFIX "/v1/entroscope/items"

/* The viewer page; data-db="1" tells it that the server has a trace database. */
static char *viewer_page(const server *s) {
    char *page = strdup(server_viewer_html);
    char *mark = page ? strstr(page, "data-db=\"0\"") : NULL;
    if (mark && s->db) mark[9] = '1';
    return page;
}

static void study_request(http *h, struct MHD_Connection *c, const char *url, reply *r) {
    study_query q = {
        .offset = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "offset"),
        .limit = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "limit"),
        .heads = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "heads"),
    };
    study_route(&h->s, url + strlen(ITEMS_PREFIX), &q, r);
}

/* The complete request, routed. */
static void route(http *h, struct MHD_Connection *c, const char *url, const char *method,
                  request *q, reply *r, const char **type) {
    int get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
    int chat = strcmp(url, "/v1/chat/completions") == 0;
    int completion = chat || strcmp(url, "/v1/completions") == 0;
    int items = strncmp(url, ITEMS_PREFIX, strlen(ITEMS_PREFIX)) == 0 &&
                (url[strlen(ITEMS_PREFIX)] == 0 || url[strlen(ITEMS_PREFIX)] == '/');
    *type = "application/json";
    if (strcmp(url, "/health") == 0 && get) {
        r->status = 200;
        r->body = strdup("{\"status\":\"ok\"}");
    } else if (strcmp(url, "/") == 0 && get) {
        r->status = 200;
        r->body = viewer_page(&h->s);
        *type = "text/html; charset=utf-8";
    } else if (!completion && !items && strcmp(url, "/v1/models") != 0 && strcmp(url, "/health") != 0 &&
               strcmp(url, "/") != 0) {
        reply_error(r, 404, "invalid_request_error", NULL, "not_found", "no route %s %s", method, url);
    } else if (!authorised(c, h->p->api_key)) {
        reply_error(r, 401, "invalid_request_error", NULL, "invalid_api_key",
                    "a valid API key is needed (Authorization: Bearer KEY)");
    } else if (completion && !post) {
        reply_error(r, 405, "invalid_request_error", NULL, "method_not_allowed", "%s takes POST", url);
    } else if (!completion && !get) {
        reply_error(r, 405, "invalid_request_error", NULL, "method_not_allowed", "%s takes GET", url);
    } else if (q->too_large) {
        reply_error(r, 413, "invalid_request_error", NULL, "request_too_large",
                    "the request body is over %zu bytes", h->p->max_body);
    } else if (completion) {
        openai_complete(&h->s, q->body ? q->body : "", q->len, chat, r);
    } else if (items) {
        study_request(h, c, url, r);
    } else {
        openai_models(&h->s, r);
    }
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls) {
    http *h = cls;
    request *q = *con_cls;
    if (!q) { /* the headers are in; the body follows in further calls */
        if (!(q = calloc(1, sizeof *q))) return MHD_NO;
        *con_cls = q;
        count_in_flight(h, 1);
        return MHD_YES;
    }
    if (*upload_size > 0) { /* a piece of the body: kept, or counted away past the limit */
        size_t n = *upload_size;
        *upload_size = 0;
        if (q->too_large || q->len + n > h->p->max_body) {
            q->too_large = 1;
            return MHD_YES;
        }
        if (q->len + n + 1 > q->cap) {
            size_t cap = (q->len + n + 1) * 2;
            char *grown = realloc(q->body, cap);
            if (!grown) return MHD_NO;
            q->body = grown;
            q->cap = cap;
        }
        memcpy(q->body + q->len, upload, n);
        q->len += n;
        q->body[q->len] = 0;
        return MHD_YES;
    }
    reply r = {.stream_fd = -1};
    const char *type;
    route(h, c, url, method, q, &r, &type);
    return send_reply(c, &r, type);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode why) {
    request *q = *con_cls;
    if (!q) return;
    free(q->body);
    free(q);
    *con_cls = NULL;
    count_in_flight(cls, -1);
}

static int server_init(http *h, const es_model *model, const es_server_params *p, es_error *err) {
    server *s = &h->s;
    s->model = model;
    s->tok = es_model_tokenizer(model);
    s->confidence = p->confidence;
    s->entropix = p->entropix;
    es_model_info info;
    es_model_get_info(model, &info);
    const char *base = strrchr(info.path, '/');
    snprintf(s->model_name, sizeof s->model_name, "%s",
             info.name && info.name[0] ? info.name : base ? base + 1 : info.path);
    s->n_layers = info.n_layers;
    s->n_heads = info.n_heads;
    s->vocab_size = info.vocab_size;
    if (p->db_path && !(s->db = study_db_open(p->db_path, err))) return -1;
    es_context_params cp = {.n_ctx = p->n_ctx, .n_threads = p->n_threads, .probes = 1, .kernels = p->kernels};
    if (!(s->ctx = es_context_new(model, &cp, err))) {
        study_db_close(s->db);
        return -1;
    }
    pthread_mutex_init(&s->model_lock, NULL);
    pthread_mutex_init(&s->count_lock, NULL);
    pthread_cond_init(&s->count_changed, NULL);
    return 0;
}

static void server_destroy(http *h) {
    es_context_free(h->s.ctx);
    study_db_close(h->s.db);
    pthread_mutex_destroy(&h->s.model_lock);
    pthread_mutex_destroy(&h->s.count_lock);
    pthread_cond_destroy(&h->s.count_changed);
}

/* The daemon on host:port (IPv4 or IPv6 literal). */
static struct MHD_Daemon *start_daemon(http *h, const es_server_params *p, es_error *err) {
    const char *host = p->host ? p->host : "127.0.0.1";
    struct sockaddr_in v4 = {.sin_family = AF_INET, .sin_port = htons((uint16_t)p->port)};
    struct sockaddr_in6 v6 = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)p->port)};
    const struct sockaddr *addr = (const struct sockaddr *)&v4;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ITC;
    if (inet_pton(AF_INET6, host, &v6.sin6_addr) == 1) {
        addr = (const struct sockaddr *)&v6;
        flags |= MHD_USE_IPv6;
    } else if (inet_pton(AF_INET, host, &v4.sin_addr) != 1) {
        snprintf(err->msg, sizeof err->msg, "--host: '%s' is not an IPv4 or IPv6 address", host);
        return NULL;
    }
    if (p->port < 0 || p->port > 65535) {
        snprintf(err->msg, sizeof err->msg, "--port: %d is out of range", p->port);
        return NULL;
    }
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, (uint16_t)p->port, NULL, NULL, on_request, h, MHD_OPTION_SOCK_ADDR, addr,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, h, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)(p->max_connections > 0 ? p->max_connections : 64),
        MHD_OPTION_CONNECTION_TIMEOUT, 600u, MHD_OPTION_END);
    if (!d) snprintf(err->msg, sizeof err->msg, "%s:%d: cannot listen (address in use?)", host, p->port);
    return d;
}

static void sleep_ms(int ms) {
    struct timespec t = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

int es_serve(const es_model *model, const es_server_params *p, es_error *err) {
    es_error local;
    if (!err) err = &local;
    http h = {.p = p};
    if (server_init(&h, model, p, err)) return -1;
    struct MHD_Daemon *d = start_daemon(&h, p, err);
    if (!d) {
        server_destroy(&h);
        return -1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    if (p->on_ready) p->on_ready(p->user, info ? info->port : p->port);
    while (!p->should_stop || !p->should_stop(p->user)) sleep_ms(20);
    /* no new connections; the requests in flight (and their streams) finish */
    MHD_socket listen = MHD_quiesce_daemon(d);
    if (listen != MHD_INVALID_SOCKET) close(listen);
    pthread_mutex_lock(&h.s.count_lock);
    while (h.in_flight > 0 || h.s.streams > 0) pthread_cond_wait(&h.s.count_changed, &h.s.count_lock);
    pthread_mutex_unlock(&h.s.count_lock);
    MHD_stop_daemon(d);
    server_destroy(&h);
    return 0;
}
