/* The Entropix-style adaptive sampler (the idea of github.com/xjdr-alt/
 * entropix, written anew for our units): each token's way of sampling is
 * chosen from the entropy and varentropy of its logits and from the
 * attention statistics of the pass that produced them. The branches and
 * their order are documented at es_entropix_params in entroscope.h.
 *
 * Units: Entropix measured logit entropy in bits and attention entropy over
 * the whole cache, empty slots included. Ours are in nats (varentropy in
 * nats^2) over the real context only, so its thresholds were converted
 * (x ln 2, x (ln 2)^2) and the attention coefficients must be read per nat.
 *
 * The actual draws go through es_sampler (sampler.c), one per decision with
 * a seed taken from this sampler's own stream, so a fixed seed gives the
 * same tokens and the top-k/top-p/min-p code is the one already tested. */
#include "sample/entropix.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/rng.h"

#define ADAPTIVE_TEMP_MIN 0.1f /* bounds of the adaptive branch's temperature */
#define ADAPTIVE_TEMP_MAX 2.0f
#define ADAPTIVE_TOP_K_MAX 100

struct es_entropix {
    es_entropix_params p;
    int vocab_size;
    uint64_t rng;      /* xorshift64* state, never 0: seeds of the draws */
    int32_t *insert;   /* (n_insert) the clarifying tokens */
    size_t n_insert;
};

/* ------------------------------------------------------------ params -- */

es_entropix_params es_entropix_default_params(void) {
    es_entropix_params p = {
        /* Entropix's base sampler settings */
        .temperature = 0.666f, .top_p = 0.90f, .min_p = 0.03f, .top_k = 27,
        /* Entropix's thresholds (0.1, 3 and 5 bits; 0.1 and 5 bits^2) in nats */
        .argmax_entropy = 0.07f, .argmax_varentropy = 0.05f,
        .insert_entropy = 2.08f, .insert_varentropy = 0.05f,
        .explore_entropy = 3.47f, .explore_varentropy = 2.40f,
        .resample_entropy = 3.47f, .resample_varentropy = 2.40f,
        .clarifying = " Wait,",
        .insert_temp_base = 1.3f, .insert_temp_attn_entropy = 0.2f, .insert_temp_max = 1.5f,
        .explore_temp_base = 1.2f, .explore_temp_interaction = 0.3f, .explore_temp_max = 1.5f,
        .explore_top_k_disagreement = 0.5f, .explore_top_k_min = 5,
        .resample_temp_base = 2.0f, .resample_temp_attn_varentropy = 0.5f,
        .resample_temp_max = 2.0f, .resample_top_p_attn_entropy = 0.2f, .resample_top_p_min = 0.5f,
        .adaptive_samples = 5, .adaptive_temp_logit = 0.3f, .adaptive_temp_attn = 0.2f,
        .adaptive_temp_agreement = 0.2f, .adaptive_top_p_attn_varentropy = 0.1f,
        .adaptive_top_k_interaction = 0.3f, .adaptive_top_k_agreement = 0.2f,
        .adaptive_min_p_logit = 0.5f,
        .conf_logit_entropy = 0.1f, .conf_logit_varentropy = 0.3f, .conf_attn_entropy = 0.2f,
        .conf_attn_varentropy = 0.4f, .conf_agreement = 0.5f, .conf_interaction = 0.6f,
    };
    return p;
}

typedef enum { K_FLOAT, K_INT, K_TEXT } key_kind;

/* A config key: the field it sets and the values it accepts. */
typedef struct config_key {
    const char *name;
    key_kind kind;
    size_t offset;
    double lo, hi;
} config_key;

#define F(name, lo, hi) {#name, K_FLOAT, offsetof(es_entropix_params, name), lo, hi}
#define I(name, lo, hi) {#name, K_INT, offsetof(es_entropix_params, name), lo, hi}
#define ANY 1e30
static const config_key KEYS[] = {
    F(temperature, 1e-3, 100), F(top_p, 1e-3, 1), F(min_p, 0, 0.999), I(top_k, 1, 1 << 20),
    F(argmax_entropy, 0, ANY), F(argmax_varentropy, 0, ANY),
    F(insert_entropy, 0, ANY), F(insert_varentropy, 0, ANY),
    F(explore_entropy, 0, ANY), F(explore_varentropy, 0, ANY),
    F(resample_entropy, 0, ANY), F(resample_varentropy, 0, ANY),
    {"clarifying", K_TEXT, offsetof(es_entropix_params, clarifying), 1, 63},
    F(insert_temp_base, 0, ANY), F(insert_temp_attn_entropy, -ANY, ANY), F(insert_temp_max, 1e-3, 100),
    F(explore_temp_base, 0, ANY), F(explore_temp_interaction, -ANY, ANY), F(explore_temp_max, 1e-3, 100),
    F(explore_top_k_disagreement, -ANY, ANY), I(explore_top_k_min, 1, 1 << 20),
    F(resample_temp_base, 0, ANY), F(resample_temp_attn_varentropy, -ANY, ANY),
    F(resample_temp_max, 1e-3, 100), F(resample_top_p_attn_entropy, -ANY, ANY),
    F(resample_top_p_min, 1e-3, 1),
    I(adaptive_samples, 1, 64), F(adaptive_temp_logit, -ANY, ANY), F(adaptive_temp_attn, -ANY, ANY),
    F(adaptive_temp_agreement, -ANY, ANY), F(adaptive_top_p_attn_varentropy, -ANY, ANY),
    F(adaptive_top_k_interaction, -ANY, ANY), F(adaptive_top_k_agreement, -ANY, ANY),
    F(adaptive_min_p_logit, -ANY, ANY),
    F(conf_logit_entropy, -ANY, ANY), F(conf_logit_varentropy, -ANY, ANY),
    F(conf_attn_entropy, -ANY, ANY), F(conf_attn_varentropy, -ANY, ANY),
    F(conf_agreement, -ANY, ANY), F(conf_interaction, -ANY, ANY),
};
#undef F
#undef I

static const config_key *find_key(const char *name) {
    for (size_t i = 0; i < sizeof KEYS / sizeof KEYS[0]; i++)
        if (strcmp(KEYS[i].name, name) == 0) return &KEYS[i];
    return NULL;
}

/* Sets one field from a JSON value, checking kind and range. */
static int set_key(es_entropix_params *p, const config_key *k, const cJSON *v, const char *path,
                   es_error *err) {
    char *field = (char *)p + k->offset;
    if (k->kind == K_TEXT) {
        size_t n = cJSON_IsString(v) ? strlen(v->valuestring) : 0;
        if (n < (size_t)k->lo || n > (size_t)k->hi)
            return es_fail(err, "%s: \"%s\" must be a string of 1 to %d bytes", path, k->name, (int)k->hi);
        memcpy(field, v->valuestring, n + 1);
        return 0;
    }
    double x = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    if (!isfinite(x) || x < k->lo || x > k->hi || (k->kind == K_INT && x != floor(x))) {
        if (k->hi >= ANY && k->lo <= -ANY)
            return es_fail(err, "%s: \"%s\" must be a finite number", path, k->name);
        return es_fail(err, "%s: \"%s\" must be %s from %g to %g", path, k->name,
                       k->kind == K_INT ? "an integer" : "a number", k->lo, k->hi);
    }
    if (k->kind == K_INT) memcpy(field, &(int){(int)x}, sizeof(int));
    else memcpy(field, &(float){(float)x}, sizeof(float));
    return 0;
}

int es_entropix_load_config(const char *path, es_entropix_params *p, es_error *err) {
    if (!path || !p) return es_fail(err, "entropix: no config file");
    FILE *f = fopen(path, "rb");
    if (!f) return es_fail(err, "%s: cannot open the entropix config", path);
    char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    int too_big = !feof(f);
    fclose(f);
    if (too_big) return es_fail(err, "%s: entropix config over 64 KiB", path);
    buf[n] = 0;
    cJSON *root = cJSON_ParseWithLength(buf, n);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return es_fail(err, "%s: the entropix config is not a JSON object", path);
    }
    es_entropix_params q = *p; /* all or nothing */
    int rc = 0;
    for (const cJSON *v = root->child; v && rc == 0; v = v->next) {
        const config_key *k = find_key(v->string);
        rc = k ? set_key(&q, k, v, path, err)
               : es_fail(err, "%s: unknown key \"%s\" in the entropix config", path, v->string);
    }
    cJSON_Delete(root);
    if (rc == 0) *p = q;
    return rc;
}

char *es_entropix_params_json(const es_entropix_params *p) {
    cJSON *o = cJSON_CreateObject();
    for (size_t i = 0; o && i < sizeof KEYS / sizeof KEYS[0]; i++) {
        const char *field = (const char *)p + KEYS[i].offset;
        if (KEYS[i].kind == K_TEXT) {
            cJSON_AddStringToObject(o, KEYS[i].name, field);
        } else if (KEYS[i].kind == K_INT) {
            int v;
            memcpy(&v, field, sizeof v);
            cJSON_AddNumberToObject(o, KEYS[i].name, v);
        } else {
            float v;
            memcpy(&v, field, sizeof v);
            /* the shortest decimal that reads back as this float */
            char text[32];
            snprintf(text, sizeof text, "%.9g", (double)v);
            for (int digits = 1; digits <= 9; digits++) {
                snprintf(text, sizeof text, "%.*g", digits, (double)v);
                if (strtof(text, NULL) == v) break;
            }
            cJSON_AddRawToObject(o, KEYS[i].name, text);
        }
    }
    char *text = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    return text;
}

/* ----------------------------------------------------------- sampler -- */

const char *es_entropix_branch_name(es_entropix_branch b) {
    static const char *const names[] = {"argmax", "insert", "explore", "resample", "adaptive",
                                        "inserted"};
    return (unsigned)b < sizeof names / sizeof names[0] ? names[b] : "?";
}

/* 1 if the tokens decode (mid-text) to exactly the n bytes of text. */
static int decodes_to(const es_tokenizer *tok, const int32_t *ids, size_t n_ids, const char *text,
                      size_t n) {
    size_t at = 0;
    for (size_t i = 0; i < n_ids; i++) {
        size_t len;
        const char *piece = es_token_to_piece(tok, i ? ids[i - 1] : -1, ids[i], 0, &len);
        if (at + len > n || memcmp(text + at, piece, len) != 0) return 0;
        at += len;
    }
    return at == n;
}

int es_entropix_tokenize_clarifying(const es_entropix_params *p, const es_tokenizer *tok,
                                    int32_t **ids, size_t *n_ids, es_error *err) {
    const char *text = p->clarifying;
    size_t n = strlen(text);
    if (es_tokenize(tok, text, n, 0, ids, n_ids, err) < 0) return -1;
    /* SentencePiece vocabularies put a space before the text they encode:
     * " Wait," would come out with two. Without its first space the text
     * then decodes as written; other vocabularies keep the first encoding. */
    if (n > 1 && text[0] == ' ' && !decodes_to(tok, *ids, *n_ids, text, n)) {
        int32_t *alt = NULL;
        size_t n_alt = 0;
        if (es_tokenize(tok, text + 1, n - 1, 0, &alt, &n_alt, NULL) == 0 &&
            decodes_to(tok, alt, n_alt, text, n)) {
            free(*ids);
            *ids = alt;
            *n_ids = n_alt;
        } else {
            free(alt);
        }
    }
    if (*n_ids == 0) {
        free(*ids);
        *ids = NULL;
        return es_fail(err, "entropix: the clarifying text \"%s\" gives no tokens", text);
    }
    return 0;
}

es_entropix *es_entropix_new(const es_entropix_params *p, int vocab_size, uint64_t seed,
                             const int32_t *insert, size_t n_insert) {
    if (!p || vocab_size <= 0 || !insert || n_insert == 0) return NULL;
    for (size_t i = 0; i < n_insert; i++)
        if (insert[i] < 0 || insert[i] >= vocab_size) return NULL;
    es_entropix *e = calloc(1, sizeof *e);
    if (!e || !(e->insert = malloc(n_insert * sizeof *e->insert))) {
        free(e);
        return NULL;
    }
    memcpy(e->insert, insert, n_insert * sizeof *insert);
    e->n_insert = n_insert;
    e->p = *p;
    e->vocab_size = vocab_size;
    /* a stream of its own, apart from es_sampler's use of the same seed */
    e->rng = es_splitmix64(seed ^ 0x656e74726f706978ull);
    if (e->rng == 0) e->rng = 0x853c49e6748fea9bull;
    return e;
}

void es_entropix_free(es_entropix *e) {
    if (!e) return;
    free(e->insert);
    free(e);
}

const int32_t *es_entropix_insert_tokens(const es_entropix *e, size_t *n) {
    *n = e->n_insert;
    return e->insert;
}

/* The attention side of a pass, means over layers (and heads); 0 without probes. */
typedef struct attn_summary {
    double entropy, varentropy, agreement, interaction;
} attn_summary;

static attn_summary summarise(const es_attn_probe *a) {
    attn_summary s = {0};
    if (!a || a->n_layers <= 0) return s;
    s.entropy = a->entropy_mean;
    s.varentropy = a->varentropy_mean;
    for (int l = 0; l < a->n_layers; l++) {
        s.agreement += a->agreement[l];
        s.interaction += a->interaction[l];
    }
    s.agreement /= a->n_layers;
    s.interaction /= a->n_layers;
    return s;
}

static float clampf(double x, double lo, double hi) { return (float)(x < lo ? lo : x > hi ? hi : x); }

/* n draws with these settings, from a sampler seeded off our stream. */
static int draw(es_entropix *e, const float *logits, const es_entropix_action *a, int n,
                int32_t *out) {
    es_sampler_params sp = {.temperature = a->temperature, .top_k = a->top_k, .top_p = a->top_p,
                            .min_p = a->min_p, .seed = es_xorshift64s(&e->rng)};
    es_sampler *s = es_sampler_new(&sp, e->vocab_size);
    if (!s) return -1;
    for (int i = 0; i < n; i++) out[i] = es_sampler_sample(s, logits);
    es_sampler_free(s);
    return 0;
}

static int32_t argmax_of(const float *logits, int n) {
    int32_t best = 0;
    for (int i = 1; i < n; i++)
        if (logits[i] > logits[best]) best = i;
    return best;
}

/* ln softmax(logits)[id] at temperature 1. */
static double log_prob(const float *logits, int n, int32_t id) {
    double lp;
    es_logit_stats(logits, n, id, &(double){0}, &(double){0}, &lp);
    return lp;
}

/* The adaptive branch: settings moved by every statistic, several
 * candidates, the best score wins (the earliest drawn on ties). */
static void adaptive(es_entropix *e, const float *logits, double h, double v,
                     const attn_summary *at, es_entropix_action *a) {
    const es_entropix_params *p = &e->p;
    double logit_u = h + v, attn_u = at->entropy + at->varentropy;
    a->temperature = clampf(p->temperature * (1 + p->adaptive_temp_logit * logit_u +
                                              p->adaptive_temp_attn * attn_u -
                                              p->adaptive_temp_agreement * at->agreement),
                            ADAPTIVE_TEMP_MIN, ADAPTIVE_TEMP_MAX);
    a->top_p = clampf(p->top_p * (1 + p->adaptive_top_p_attn_varentropy * at->varentropy), 0.1, 1);
    a->top_k = (int)lround(clampf(p->top_k * (1 + p->adaptive_top_k_interaction * at->interaction -
                                              p->adaptive_top_k_agreement * at->agreement),
                                  1, ADAPTIVE_TOP_K_MAX));
    a->min_p = clampf(p->min_p * (1 - p->adaptive_min_p_logit * logit_u), 0.01, 0.5);
    /* The confidence terms describe this pass, not a candidate: they move
     * every score alike, so the log-probability decides between them. */
    double confidence = -p->conf_logit_entropy * h - p->conf_logit_varentropy * v -
                        p->conf_attn_entropy * at->entropy - p->conf_attn_varentropy * at->varentropy +
                        p->conf_agreement * at->agreement + p->conf_interaction * at->interaction;
    int32_t cand[64];
    int n = p->adaptive_samples < 64 ? p->adaptive_samples : 64;
    if (draw(e, logits, a, n, cand) < 0) {
        a->token = argmax_of(logits, e->vocab_size);
        return;
    }
    double best = -INFINITY;
    for (int i = 0; i < n; i++) {
        double score = log_prob(logits, e->vocab_size, cand[i]) + confidence;
        if (score > best) {
            best = score;
            a->token = cand[i];
        }
    }
}

/* A single draw at the action's settings (argmax when out of memory). */
static void sample_one(es_entropix *e, const float *logits, es_entropix_action *a) {
    if (draw(e, logits, a, 1, &a->token) < 0) a->token = argmax_of(logits, e->vocab_size);
}

es_entropix_action es_entropix_choose(es_entropix *e, const float *logits, double h, double v,
                                      const es_attn_probe *probe, int just_inserted) {
    const es_entropix_params *p = &e->p;
    attn_summary at = summarise(probe);
    es_entropix_action a = {.temperature = p->temperature, .top_p = p->top_p, .min_p = p->min_p,
                            .top_k = p->top_k};
    if (h < p->argmax_entropy && v < p->argmax_varentropy) {
        a = (es_entropix_action){.branch = ES_ENTROPIX_ARGMAX, .temperature = 0, .top_p = 1,
                                 .token = argmax_of(logits, e->vocab_size)};
    } else if (h > p->insert_entropy && v < p->insert_varentropy) {
        if (!just_inserted) {
            a = (es_entropix_action){.branch = ES_ENTROPIX_INSERTED, .token = e->insert[0],
                                     .inserts = 1, .temperature = 0, .top_p = 1};
            return a;
        }
        a.branch = ES_ENTROPIX_INSERT;
        a.temperature = clampf(p->temperature * (p->insert_temp_base +
                                                 p->insert_temp_attn_entropy * at.entropy),
                               1e-3, p->insert_temp_max);
        sample_one(e, logits, &a);
    } else if (h < p->explore_entropy && v > p->explore_varentropy) {
        a.branch = ES_ENTROPIX_EXPLORE;
        a.temperature = clampf(p->temperature * (p->explore_temp_base +
                                                 p->explore_temp_interaction * at.interaction),
                               1e-3, p->explore_temp_max);
        long k = lround(p->top_k * (1 + p->explore_top_k_disagreement * (1 - at.agreement)));
        a.top_k = k < p->explore_top_k_min ? p->explore_top_k_min : k > (1 << 20) ? 1 << 20 : (int)k;
        sample_one(e, logits, &a);
    } else if (h > p->resample_entropy && v > p->resample_varentropy) {
        a.branch = ES_ENTROPIX_RESAMPLE;
        a.temperature = clampf(p->temperature * (p->resample_temp_base +
                                                 p->resample_temp_attn_varentropy * at.varentropy),
                               1e-3, p->resample_temp_max);
        a.top_p = clampf(p->top_p - p->resample_top_p_attn_entropy * at.entropy,
                         p->resample_top_p_min, 1);
        sample_one(e, logits, &a);
    } else {
        a.branch = ES_ENTROPIX_ADAPTIVE;
        adaptive(e, logits, h, v, &at, &a);
    }
    return a;
}
