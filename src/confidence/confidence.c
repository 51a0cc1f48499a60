/* The confidence model itself: the features of a row, the score, and the
 * model as JSON (written by the fit, read by es_confidence_load). One
 * feature function serves the fit and the live score, so that a loaded
 * model scores a row exactly as it was scored while fitting. */
#include "confidence/confidence.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/json_file.h"

static const char *const base_names[CF_BASE_FEATURES] = {"logit_entropy", "logit_varentropy", "token_prob"};
static const char *const layer_names[CF_LAYER_FEATURES] = {"attn_entropy", "attn_varentropy",
                                                           "attn_entropy_norm", "attn_varentropy_norm"};

int cf_n_features(int n_layers) { return CF_BASE_FEATURES + CF_LAYER_FEATURES * n_layers; }

void cf_feature_name(int n_layers, int i, char *buf, size_t size) {
    if (i < CF_BASE_FEATURES) {
        snprintf(buf, size, "%s", base_names[i]);
        return;
    }
    int j = i - CF_BASE_FEATURES;
    snprintf(buf, size, "%s_L%d", layer_names[j % CF_LAYER_FEATURES], j / CF_LAYER_FEATURES);
    (void)n_layers;
}

/* ln(pos + 1), the entropy of uniform attention over the keys 0..pos; at
 * pos 0 (one key) it is 0, so it is floored at ln 2 to stay finite. */
static double max_attn_entropy(int pos) { return log(fmax((double)pos + 1.0, 2.0)); }

int cf_features(int n_layers, const es_trace_token *row, double *x) {
    x[0] = row->logit_entropy;
    x[1] = row->logit_varentropy;
    x[2] = exp(row->token_logprob);
    for (int i = 0; i < CF_BASE_FEATURES; i++)
        if (!isfinite(x[i])) return -1;
    if (n_layers == 0) return 0;
    const es_attn_probe *a = row->attn;
    if (!a || a->n_layers != n_layers || a->n_heads <= 0 || !a->entropy || !a->varentropy) return -1;
    double hmax = max_attn_entropy(row->pos);
    for (int l = 0; l < n_layers; l++) {
        double h = 0, v = 0;
        for (int j = 0; j < a->n_heads; j++) {
            h += a->entropy[(size_t)l * a->n_heads + j];
            v += a->varentropy[(size_t)l * a->n_heads + j];
        }
        h /= a->n_heads;
        v /= a->n_heads;
        if (!isfinite(h) || !isfinite(v)) return -1;
        double *f = x + CF_BASE_FEATURES + CF_LAYER_FEATURES * l;
        f[0] = h;
        f[1] = v;
        f[2] = h / hmax;
        f[3] = v / (hmax * hmax);
    }
    return 0;
}

double cf_error_prob(const es_confidence *c, const double *x) {
    double t = c->bias;
    for (int i = 0; i < c->n_features; i++) t += c->w[i] * (x[i] - c->mean[i]) / c->sd[i];
    return 1.0 / (1.0 + exp(-t));
}

double es_confidence_score(const es_confidence *c, const es_trace_token *row) {
    double xs[CF_BASE_FEATURES + 4 * CF_LAYER_FEATURES];
    double *x = c->n_features <= (int)(sizeof xs / sizeof *xs) ? xs : malloc(c->n_features * sizeof *x);
    if (!x) return NAN;
    double s = cf_features(c->n_layers, row, x) == 0 ? 1.0 - cf_error_prob(c, x) : NAN;
    if (x != xs) free(x);
    return s;
}

es_confidence *cf_model_new(int n_layers) {
    es_confidence *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->n_layers = n_layers;
    c->n_features = cf_n_features(n_layers);
    c->mean = calloc(c->n_features, sizeof *c->mean);
    c->sd = calloc(c->n_features, sizeof *c->sd);
    c->w = calloc(c->n_features, sizeof *c->w);
    if (!c->mean || !c->sd || !c->w) {
        es_confidence_free(c);
        return NULL;
    }
    return c;
}

void es_confidence_free(es_confidence *c) {
    if (!c) return;
    free(c->mean);
    free(c->sd);
    free(c->w);
    free(c);
}

/* --------------------------------------------------------------- JSON -- */

void *cf_model_json(const es_confidence *c) {
    cJSON *o = cJSON_CreateObject(), *names = cJSON_CreateArray();
    cJSON_AddItemToObject(o, "features", names);
    cJSON_AddStringToObject(o, "format", "entroscope-confidence");
    cJSON_AddNumberToObject(o, "version", 1);
    cJSON_AddStringToObject(o, "predicts", "P(error) of a token = logistic(intercept + weights . "
                                           "(x - mean) / sd); confidence = 1 - P(error)");
    cJSON_AddNumberToObject(o, "n_layers", c->n_layers);
    char name[64];
    for (int i = 0; i < c->n_features; i++) {
        cf_feature_name(c->n_layers, i, name, sizeof name);
        cJSON_AddItemToArray(names, cJSON_CreateString(name));
    }
    cJSON *norm = cJSON_AddObjectToObject(o, "normalisation");
    cJSON_AddItemToObject(norm, "mean", cJSON_CreateDoubleArray(c->mean, c->n_features));
    cJSON_AddItemToObject(norm, "sd", cJSON_CreateDoubleArray(c->sd, c->n_features));
    cJSON_AddItemToObject(o, "weights", cJSON_CreateDoubleArray(c->w, c->n_features));
    cJSON_AddNumberToObject(o, "intercept", c->bias);
    /* cJSON reports no allocation failure on adds; a complete print proves the tree. */
    char *check = cJSON_PrintUnformatted(o);
    if (!check || !names || cJSON_GetArraySize(names) != c->n_features) {
        free(check);
        cJSON_Delete(o);
        return NULL;
    }
    free(check);
    return o;
}

/* The n finite numbers of array key into out. */
static int read_numbers(const cJSON *o, const char *key, int n, double *out, const char *path,
                        es_error *err) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != n)
        return es_fail(err, "%s: \"%s\" is not an array of %d numbers", path, key, n);
    int i = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, a) {
        if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
            return es_fail(err, "%s: \"%s\"[%d] is not a finite number", path, key, i);
        out[i++] = v->valuedouble;
    }
    return 0;
}

/* The features the file lists must be this build's features of its n_layers. */
static int check_names(const cJSON *o, const es_confidence *c, const char *path, es_error *err) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, "features");
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != c->n_features)
        return es_fail(err, "%s: \"features\" is not a list of %d names (n_layers %d)", path, c->n_features,
                       c->n_layers);
    int i = 0;
    const cJSON *v;
    char name[64];
    cJSON_ArrayForEach(v, a) {
        cf_feature_name(c->n_layers, i, name, sizeof name);
        if (!cJSON_IsString(v) || strcmp(v->valuestring, name) != 0)
            return es_fail(err, "%s: feature %d is not \"%s\"", path, i, name);
        i++;
    }
    return 0;
}

static es_confidence *model_from_json(const cJSON *o, const char *path, es_error *err) {
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(o, "format");
    if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, "entroscope-confidence") != 0) {
        es_fail(err, "%s: not an entroscope confidence model (no \"format\": \"entroscope-confidence\")", path);
        return NULL;
    }
    const cJSON *nl = cJSON_GetObjectItemCaseSensitive(o, "n_layers");
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(o, "intercept");
    const cJSON *norm = cJSON_GetObjectItemCaseSensitive(o, "normalisation");
    if (!cJSON_IsNumber(nl) || nl->valuedouble < 0 || nl->valuedouble > CF_MAX_LAYERS ||
        nl->valuedouble != (int)nl->valuedouble) {
        es_fail(err, "%s: \"n_layers\" is not an integer in 0..%d", path, CF_MAX_LAYERS);
        return NULL;
    }
    if (!cJSON_IsNumber(b) || !isfinite(b->valuedouble) || !cJSON_IsObject(norm)) {
        es_fail(err, "%s: \"intercept\" or \"normalisation\" is missing", path);
        return NULL;
    }
    es_confidence *c = cf_model_new((int)nl->valuedouble);
    if (!c) {
        es_fail(err, "%s: out of memory", path);
        return NULL;
    }
    c->bias = b->valuedouble;
    int rc = check_names(o, c, path, err);
    if (rc == 0) rc = read_numbers(norm, "mean", c->n_features, c->mean, path, err);
    if (rc == 0) rc = read_numbers(norm, "sd", c->n_features, c->sd, path, err);
    if (rc == 0) rc = read_numbers(o, "weights", c->n_features, c->w, path, err);
    for (int i = 0; rc == 0 && i < c->n_features; i++)
        if (!(c->sd[i] > 0)) rc = es_fail(err, "%s: normalisation sd[%d] is not positive", path, i);
    if (rc < 0) {
        es_confidence_free(c);
        return NULL;
    }
    return c;
}

es_confidence *es_confidence_load(const char *path, es_error *err) {
    cJSON *o = es_json_read_file(path, (size_t)64 << 20, err);
    if (!o) return NULL;
    es_confidence *c = model_from_json(o, path, err);
    cJSON_Delete(o);
    return c;
}
