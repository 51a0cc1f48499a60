/* The server tests' shared parts (server_client.h): a live server in a
 * thread, a libcurl client, headless Chromium. */
#include "server_client.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test.h"

static int live_should_stop(void *user) { return atomic_load(&((live *)user)->stop); }
static void live_ready(void *user, int port) { atomic_store(&((live *)user)->port, port); }

static void *live_main(void *arg) {
    live *l = arg;
    es_error err;
    l->rc = es_serve(l->model, &l->p, &err);
    if (l->rc) fprintf(stderr, "es_serve: %s\n", err.msg);
    atomic_store(&l->port, -1);
    return NULL;
}

const char *tiny_model_path(void) {
    static char path[1024];
    if (path[0]) return path;
    snprintf(path, sizeof path, "%s/server_tiny.gguf", test_tmpdir());
    es_synth_params sp;
    es_error err;
    if (es_synth_preset("tiny", &sp, &err) || es_synth_write(&sp, path, &err)) {
        fprintf(stderr, "synth: %s\n", err.msg);
        path[0] = 0;
        return NULL;
    }
    return path;
}

int live_start_db(live *l, es_model *model, const char *api_key, const char *db_path) {
    memset(l, 0, sizeof *l);
    l->model = model;
    l->p = es_server_default_params();
    l->p.port = 0;
    l->p.n_ctx = 64;
    l->p.n_threads = 2;
    l->p.api_key = api_key;
    l->p.db_path = db_path;
    l->p.should_stop = live_should_stop;
    l->p.on_ready = live_ready;
    l->p.user = l;
    if (pthread_create(&l->thread, NULL, live_main, l)) return -1;
    for (int i = 0; i < 500 && atomic_load(&l->port) == 0; i++) usleep(10000);
    if (atomic_load(&l->port) <= 0) {
        pthread_join(l->thread, NULL);
        return -1;
    }
    return 0;
}

int live_start(live *l, es_model *model, const char *api_key) {
    return live_start_db(l, model, api_key, NULL);
}

void live_stop(live *l) {
    atomic_store(&l->stop, 1);
    pthread_join(l->thread, NULL);
}

size_t collect(char *p, size_t size, size_t n, void *user) {
    buf *b = user;
    char *grown = realloc(b->data, b->len + size * n + 1);
    if (!grown) return 0;
    b->data = grown;
    memcpy(b->data + b->len, p, size * n);
    b->len += size * n;
    b->data[b->len] = 0;
    return size * n;
}

char *request(int port, const char *method, const char *path, const char *body,
                     size_t body_len, const char *key, long *status) {
    CURL *c = curl_easy_init();
    char url[256], auth[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    if (key) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", key);
        h = curl_slist_append(h, auth);
    }
    buf b = {calloc(1, 1), 0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)body_len);
    }
    if (method) curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    *status = -1;
    if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return b.data;
}

cJSON *post_json(int port, const char *path, const char *body, long *status) {
    char *text = request(port, NULL, path, body, strlen(body), NULL, status);
    cJSON *j = cJSON_Parse(text);
    free(text);
    return j;
}

cJSON *get_json(int port, const char *path, long *status) {
    char *text = request(port, NULL, path, NULL, 0, NULL, status);
    cJSON *j = cJSON_Parse(text);
    free(text);
    return j;
}

const char *error_field(cJSON *resp, const char *key) {
    cJSON *v = cJSON_GetObjectItem(cJSON_GetObjectItem(resp, "error"), key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

const char *find_chromium(void) {
    static char path[1024];
    const char *env = getenv("PATH");
    char dirs[4096];
    snprintf(dirs, sizeof dirs, "%s", env ? env : "/usr/bin:/bin");
    for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        snprintf(path, sizeof path, "%s/chromium", d);
        if (access(path, X_OK) == 0) return path;
    }
    return NULL;
}

char *chromium_dom(const char *chromium, const char *url) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "timeout 20 '%s' --headless --no-sandbox --disable-gpu "
             "--virtual-time-budget=15000 --dump-dom '%s' 2>/dev/null", chromium, url);
    FILE *f = popen(cmd, "r");
    if (!f) return NULL;
    buf b = {calloc(1, 1), 0};
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) collect(chunk, 1, n, &b);
    pclose(f);
    return b.data;
}

int count_of(const char *haystack, const char *needle) {
    int n = 0;
    for (const char *at = haystack; at && (at = strstr(at, needle)); at += strlen(needle)) n++;
    return n;
}
