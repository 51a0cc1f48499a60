/* es_study_run: a study over its data set, one generation per item, each
 * committed to the trace the moment it is finished (so a killed run keeps
 * every finished item, and --resume skips them by key).
 *
 * Every item is sampled with its own seed, mixed from --seed and the item's
 * key, and starts from the same context state (the shared prefix or an
 * empty cache): an item's output depends on nothing but its key and the
 * settings, so resumed, sharded and merged runs give the items an
 * uninterrupted run gives. */
#include <cjson/cJSON.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "study/run.h"
#include "util/error.h"
#include "util/rng.h"

es_study_params es_study_default_params(const char *study) {
    es_study_params p = {.study = study, .chat = -1, .n_predict = 256, .probes = 1,
                         .prefix_cache = 1, .shard_index = 1, .shard_count = 1,
                         .sampling = es_sampler_default_params()};
    /* The seed study sampled its answers; the benchmarks are scored greedy. */
    if (study && strcmp(study, "factual-creative") == 0) {
        p.n_predict = 320; /* room for the ~200 words a --system prompt may ask for */
        p.sampling.top_p = 0.9f;
    } else {
        p.sampling.temperature = 0;
        if (study && strcmp(study, "simpleqa") == 0) p.n_predict = 64;
    }
    return p;
}

/* What the items of one call share. */
typedef struct run_state {
    const es_model *model;
    const es_study_params *p;
    es_context *ctx;
    es_trace *trace;
    int64_t run_id;
    study_prompt sp;
    study_prefix *pre;    /* NULL: no shared prefix (or --no-prefix-cache) */
    int pre_valid;        /* the cache holds all of the prefix */
    study_progress pg;
    es_study_summary *sum;
} run_state;

static uint64_t item_seed(uint64_t seed, const char *key) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (const unsigned char *s = (const unsigned char *)key; *s; s++) h = (h ^ *s) * 1099511628211ull;
    return es_splitmix64(seed ^ es_splitmix64(h));
}

static int on_token(void *user, const es_trace_token *row) {
    run_state *s = user;
    s->sum->n_tokens++;
    study_progress_update(&s->pg, 0);
    /* the tests' way to kill a run in the middle of an item, deterministically */
    if (s->p->kill_after_tokens > 0 && s->sum->n_tokens >= (uint64_t)s->p->kill_after_tokens) raise(SIGKILL);
    return 0;
}

/* An item whose prompt does not fit is kept, empty, with the reason. */
static int commit_unfit(run_state *s, const study_item *it, es_trace_item *item, size_t n,
                        es_error *err) {
    char why[160];
    snprintf(why, sizeof why, "the prompt has %zu tokens, the context holds %d (raise -c)", n,
             es_context_size(s->ctx));
    cJSON *labels = cJSON_Parse(it->labels);
    char *text = labels && cJSON_AddStringToObject(labels, "error", why) ? cJSON_PrintUnformatted(labels) : NULL;
    cJSON_Delete(labels);
    if (!text) return es_fail(err, "%s: out of memory", it->key);
    int64_t id = es_trace_item_commit(s->trace, item, "", "context", text, err);
    free(text);
    return id < 0 ? -1 : 0;
}

/* Puts the context where the item starts: as much of the shared prefix as
 * its tokens share (their rows added to item), or empty. *cached: the
 * tokens already evaluated. */
static int start_item(run_state *s, const int32_t *ids, size_t n, es_trace_item *item,
                      size_t *cached, es_error *err) {
    *cached = 0;
    if (!s->pre) {
        es_context_reset(s->ctx);
        return 0;
    }
    if (!s->pre_valid && study_prefix_restore(s->pre, s->ctx, err) < 0) return -1;
    s->pre_valid = 1;
    *cached = study_prefix_reusable(s->pre, ids, n);
    /* the item overwrites the cache from *cached on */
    if (*cached < study_prefix_length(s->pre)) s->pre_valid = 0;
    else s->sum->n_prefix_reused++;
    return study_prefix_apply(s->pre, s->ctx, *cached, item, err);
}

static int run_item(run_state *s, const study_item *it, es_error *err) {
    int32_t *ids = NULL;
    size_t n = 0, cached = 0;
    char *text = NULL;
    if (study_prompt_item(&s->sp, it, &ids, &n, &text, err) < 0) return -1;
    es_trace_item *item = es_trace_item_new(s->run_id, it->key, text);
    es_generation g = {0};
    int rc = item ? 0 : es_fail(err, "%s: out of memory", it->key);
    if (rc == 0 && (n == 0 || n > (size_t)es_context_size(s->ctx))) {
        rc = commit_unfit(s, it, item, n, err);
        goto done;
    }
    if (rc == 0) rc = start_item(s, ids, n, item, &cached, err);
    if (rc == 0) {
        es_generate_params gp = {.n_predict = s->p->n_predict, .sampling = s->p->sampling,
                                 .n_cached = (int)cached, .item = item, .on_token = on_token, .user = s};
        gp.sampling.seed = item_seed(s->p->sampling.seed, it->key);
        rc = es_generate(s->model, s->ctx, ids, n, &gp, &g, err);
    }
    if (rc == 0 && es_trace_item_commit(s->trace, item, g.output, g.stop_reason, it->labels, err) < 0) rc = -1;
done:
    es_generation_free(&g);
    es_trace_item_free(item);
    free(ids);
    free(text);
    return rc;
}

static int check_params(const es_study_params *p, es_error *err) {
    if (!p->study) return es_fail(err, "run: no study");
    int qa = strcmp(p->study, "simpleqa") == 0, gsm = strcmp(p->study, "gsm8k") == 0;
    if (!qa && !gsm && strcmp(p->study, "factual-creative") != 0)
        return es_fail(err, "run: unknown study '%s' (factual-creative, simpleqa, gsm8k)", p->study);
    if (!p->out_path) return es_fail(err, "run: no output database (-o run.db)");
    if ((qa || gsm) && !p->data_path) return es_fail(err, "run %s: no data file (--data FILE)", p->study);
    if (p->shots < 0 || (p->shots > 0 && !p->fewshot_path))
        return es_fail(err, "run %s: --shots needs --fewshot-from train.jsonl", p->study);
    if (p->shard_count < 1 || p->shard_index < 1 || p->shard_index > p->shard_count)
        return es_fail(err, "run: shard %d/%d is not I/N with 1 <= I <= N", p->shard_index, p->shard_count);
    if (p->n_predict < 0) return es_fail(err, "run: -n %d is negative", p->n_predict);
    return 0;
}

/* Chat when asked, or by default when the model has a known template. */
static int resolve_chat(const es_model *model, const es_study_params *p, es_error *err) {
    const es_tokenizer *tok = es_model_tokenizer(model);
    const char *name = es_chat_template_name(tok);
    if (p->chat > 0 && !name)
        return es_fail(err, "run: the model has no recognised chat template; --no-chat runs on raw text");
    return p->chat < 0 ? name != NULL : p->chat;
}

/* The tokens of the prefix that the first item's prompt really starts
 * with: a template may end the prefix differently than it continues it. */
static size_t shared_with_first(run_state *s, const study_set *set, const int32_t *ids, size_t n,
                                es_error *err) {
    if (set->n == 0) return 0;
    int32_t *first = NULL;
    size_t n_first = 0, k = 0;
    char *text = NULL;
    if (study_prompt_item(&s->sp, &set->items[0], &first, &n_first, &text, err) < 0) return (size_t)-1;
    while (k < n && k + 1 < n_first && ids[k] == first[k]) k++;
    free(first);
    free(text);
    return k;
}

/* The shared prefix evaluated once (when there is one and it fits). */
static int prepare_prefix(run_state *s, const study_set *set, es_error *err) {
    int32_t *ids = NULL;
    size_t n = 0;
    if (study_prompt_prefix(&s->sp, &ids, &n, err) < 0) return -1;
    if (n > 0) n = shared_with_first(s, set, ids, n, err);
    int rc = n == (size_t)-1 ? -1 : 0;
    if (rc == 0 && n > 1 && n < (size_t)es_context_size(s->ctx)) {
        s->pre = study_prefix_eval(s->model, s->ctx, ids, n, err);
        s->pre_valid = s->pre != NULL;
        if (!s->pre) rc = -1;
    }
    free(ids);
    return rc;
}

static int run_items(run_state *s, const study_set *set, es_error *err) {
    const es_study_params *p = s->p;
    size_t todo = 0;
    for (size_t i = 0; i < set->n; i++) todo += es_trace_has_item(s->trace, s->run_id, set->items[i].key) != 1;
    s->sum->n_resumed = set->n - todo;
    study_progress_start(&s->pg, p->progress, p->progress_tty, todo);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < set->n; i++) {
        if (es_trace_has_item(s->trace, s->run_id, set->items[i].key) == 1) continue;
        if (p->should_stop && p->should_stop(p->user)) {
            s->sum->interrupted = 1;
            break;
        }
        rc = run_item(s, &set->items[i], err);
        if (rc == 0) {
            s->sum->n_done++;
            study_progress_update(&s->pg, 1);
        }
    }
    study_progress_finish(&s->pg, s->sum->interrupted);
    return rc;
}

int es_study_run(const es_model *model, const es_study_params *p, es_study_summary *out,
                 es_error *err) {
    es_study_summary sum = {0};
    if (out) *out = sum;
    if (!model || !p) return es_fail(err, "run: no model or parameters");
    if (check_params(p, err) < 0) return -1;
    int chat = resolve_chat(model, p, err);
    if (chat < 0) return -1;
    study_set set;
    if (study_set_load(&set, p, err) < 0) return -1;
    double t0 = study_now();
    run_state s = {.model = model, .p = p, .sum = &sum,
                   .sp = {.chat = chat, .tok = es_model_tokenizer(model), .set = &set, .system = p->system}};
    es_context_params cp = {.n_ctx = p->n_ctx, .n_threads = p->n_threads, .probes = p->probes,
                            .kernels = p->kernels};
    char *settings = NULL;
    int rc = -1;
    if (!(s.ctx = es_context_new(model, &cp, err))) goto done;
    if (!(settings = study_settings_json(p, chat, es_context_size(s.ctx)))) {
        es_fail(err, "run: out of memory");
        goto done;
    }
    if (!(s.trace = es_trace_open(p->out_path, err))) goto done;
    if ((s.run_id = study_run_row(s.trace, model, p, settings, err)) < 0) goto done;
    if (p->prefix_cache && prepare_prefix(&s, &set, err) < 0) goto done;
    sum.n_items = set.n;
    sum.n_skipped_data = set.n_skipped_data;
    sum.run_id = s.run_id;
    sum.prefix_tokens = study_prefix_length(s.pre);
    rc = run_items(&s, &set, err);
done:
    sum.seconds = study_now() - t0;
    if (out) *out = sum;
    study_prefix_free(s.pre);
    es_trace_close(s.trace);
    es_context_free(s.ctx);
    free(settings);
    study_set_free(&set);
    return rc;
}
