/* The prompts of a study run as tokens (formats in run.h), and the shared
 * prefix: the system prompt and few-shot exemplars that every item starts
 * with are evaluated once; each item rewinds the context to as much of them
 * as its own tokens really share (checked token by token, never assumed:
 * a tokenizer may merge across the boundary) and evaluates only the rest.
 * The prefix's prompt rows are kept (their probes copied) and given to every
 * item, so an item's rows are those of a full evaluation, bit for bit. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "study/run.h"
#include "util/error.h"

/* ---------------------------------------------------------- messages -- */

/* [system] + exemplar turns (+ the item's user turn when question != NULL). */
static es_chat_message *chat_messages(const study_prompt *sp, const char *question, int *n) {
    const study_set *set = sp->set;
    es_chat_message *m = malloc((2 * set->n_exemplars + 2) * sizeof *m);
    if (!m) return NULL;
    int k = 0;
    if (sp->system) m[k++] = (es_chat_message){"system", sp->system};
    for (size_t i = 0; i < set->n_exemplars; i++) {
        m[k++] = (es_chat_message){"user", set->exemplar_q[i]};
        m[k++] = (es_chat_message){"assistant", set->exemplar_a[i]};
    }
    if (question) m[k++] = (es_chat_message){"user", question};
    *n = k;
    return m;
}

/* A growing string; NULL after any allocation failure. */
typedef struct text_buf {
    char *s;
    size_t len, cap;
    int failed;
} text_buf;

static void put(text_buf *b, const char *s, size_t n) {
    if (b->failed) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->len + n + 1) * 2;
        char *p = realloc(b->s, cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
}

static void puts_(text_buf *b, const char *s) { put(b, s, strlen(s)); }

/* The raw text before the item's own: system, then the exemplars. */
static void raw_prefix(const study_prompt *sp, text_buf *b) {
    puts_(b, "");
    if (sp->system) {
        puts_(b, sp->system);
        puts_(b, "\n\n");
    }
    for (size_t i = 0; i < sp->set->n_exemplars; i++) {
        puts_(b, "Question: ");
        puts_(b, sp->set->exemplar_q[i]);
        puts_(b, "\nAnswer: ");
        puts_(b, sp->set->exemplar_a[i]);
        puts_(b, "\n\n");
    }
}

/* The chat tokens decoded with their special tokens shown. */
static char *decode(const es_tokenizer *tok, const int32_t *ids, size_t n) {
    text_buf b = {0};
    puts_(&b, "");
    for (size_t i = 0; i < n; i++) {
        size_t len;
        const char *piece = es_token_to_piece(tok, i ? ids[i - 1] : -1, ids[i], 1, &len);
        put(&b, piece, len);
    }
    if (b.failed) free(b.s);
    return b.failed ? NULL : b.s;
}

int study_prompt_item(const study_prompt *sp, const study_item *item, int32_t **ids,
                      size_t *n_ids, char **text, es_error *err) {
    *ids = NULL;
    *text = NULL;
    if (sp->chat) {
        int n;
        es_chat_message *m = chat_messages(sp, item->question, &n);
        if (!m) return es_fail(err, "%s: out of memory", item->key);
        int rc = es_chat_tokenize(sp->tok, m, n, 1, ids, n_ids, err);
        free(m);
        if (rc < 0) return -1;
        if (!(*text = decode(sp->tok, *ids, *n_ids))) return es_fail(err, "%s: out of memory", item->key);
        return 0;
    }
    text_buf b = {0};
    raw_prefix(sp, &b);
    puts_(&b, sp->set->raw_before);
    puts_(&b, item->question);
    puts_(&b, sp->set->raw_after);
    if (b.failed) return es_fail(err, "%s: out of memory", item->key);
    *text = b.s;
    return es_tokenize(sp->tok, b.s, b.len, ES_TOKENIZE_ADD_BOS, ids, n_ids, err);
}

int study_prompt_prefix(const study_prompt *sp, int32_t **ids, size_t *n_ids, es_error *err) {
    *ids = NULL;
    *n_ids = 0;
    if (!sp->system && sp->set->n_exemplars == 0) return 0;
    if (sp->chat) {
        int n;
        es_chat_message *m = chat_messages(sp, NULL, &n);
        if (!m) return es_fail(err, "prefix: out of memory");
        int rc = es_chat_tokenize(sp->tok, m, n, 0, ids, n_ids, err);
        free(m);
        return rc < 0 ? -1 : 0;
    }
    text_buf b = {0};
    raw_prefix(sp, &b);
    if (b.failed) return es_fail(err, "prefix: out of memory");
    int rc = es_tokenize(sp->tok, b.s, b.len, ES_TOKENIZE_ADD_BOS, ids, n_ids, err);
    free(b.s);
    return rc < 0 ? -1 : 0;
}

/* ------------------------------------------------------------ prefix -- */

/* One prompt row of the prefix, its probe arrays copied. */
typedef struct prefix_row {
    int probed;
    es_attn_probe probe;  /* points into the row's own copies below */
    float *values;        /* entropy[L*H] varentropy[L*H] agreement[L] interaction[L] */
} prefix_row;

struct study_prefix {
    const es_tokenizer *tok;
    int32_t *ids;         /* (n) */
    size_t n;
    prefix_row *rows;     /* (n) */
};

void study_prefix_free(study_prefix *pre) {
    if (!pre) return;
    for (size_t i = 0; pre->rows && i < pre->n; i++) free(pre->rows[i].values);
    free(pre->rows);
    free(pre->ids);
    free(pre);
}

static int copy_probe(prefix_row *row, const es_attn_probe *a) {
    size_t lh = (size_t)a->n_layers * (size_t)a->n_heads, l = (size_t)a->n_layers;
    if (!(row->values = malloc((2 * lh + 2 * l) * sizeof(float)))) return -1;
    float *v = row->values;
    memcpy(v, a->entropy, lh * sizeof(float));
    memcpy(v + lh, a->varentropy, lh * sizeof(float));
    memcpy(v + 2 * lh, a->agreement, l * sizeof(float));
    memcpy(v + 2 * lh + l, a->interaction, l * sizeof(float));
    row->probe = *a;
    row->probe.entropy = v;
    row->probe.varentropy = v + lh;
    row->probe.agreement = v + 2 * lh;
    row->probe.interaction = v + 2 * lh + l;
    row->probed = 1;
    return 0;
}

study_prefix *study_prefix_eval(const es_model *model, es_context *ctx, const int32_t *ids,
                                size_t n, es_error *err) {
    study_prefix *pre = calloc(1, sizeof *pre);
    if (!pre || !(pre->ids = malloc(n * sizeof *ids)) || !(pre->rows = calloc(n, sizeof *pre->rows))) {
        study_prefix_free(pre);
        es_fail(err, "prefix: out of memory");
        return NULL;
    }
    pre->tok = es_model_tokenizer(model);
    pre->n = n;
    memcpy(pre->ids, ids, n * sizeof *ids);
    es_context_reset(ctx);
    if (es_context_eval(ctx, ids, (int)n, NULL, err) < 0) {
        study_prefix_free(pre);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        es_attn_probe a;
        if (es_context_probe(ctx, (int)i, &a) == 0 && copy_probe(&pre->rows[i], &a) < 0) {
            study_prefix_free(pre);
            es_fail(err, "prefix: out of memory");
            return NULL;
        }
    }
    return pre;
}

int study_prefix_restore(const study_prefix *pre, es_context *ctx, es_error *err) {
    es_context_reset(ctx);
    return es_context_eval(ctx, pre->ids, (int)pre->n, NULL, err);
}

size_t study_prefix_length(const study_prefix *pre) { return pre ? pre->n : 0; }

size_t study_prefix_reusable(const study_prefix *pre, const int32_t *prompt, size_t n_prompt) {
    size_t k = 0;
    while (k < pre->n && k + 1 < n_prompt && pre->ids[k] == prompt[k]) k++;
    return k;
}

int study_prefix_apply(const study_prefix *pre, es_context *ctx, size_t n, es_trace_item *item,
                       es_error *err) {
    if (n > pre->n || es_context_rewind(ctx, (int)n, err) < 0)
        return es_fail(err, "prefix: cannot reuse %zu tokens", n);
    for (size_t i = 0; i < n; i++) {
        size_t len;
        const char *piece = es_token_to_piece(pre->tok, i ? pre->ids[i - 1] : -1, pre->ids[i], 1, &len);
        es_trace_token row = {.step = -1, .pos = (int)i, .token_id = pre->ids[i], .text = piece,
                              .text_len = len, .logit_entropy = NAN, .logit_varentropy = NAN,
                              .token_logprob = NAN, .attn = pre->rows[i].probed ? &pre->rows[i].probe : NULL};
        if (es_trace_item_add(item, &row) < 0) return es_fail(err, "prefix: out of memory");
    }
    return 0;
}
