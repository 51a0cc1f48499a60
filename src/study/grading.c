/* es_grade: grades every study item of a trace and locates where wrong GSM8K
 * reasoning went wrong.
 *
 * Graders (grades.grader) and what they write:
 *   offline      SimpleQA: CORRECT / INCORRECT / NOT_ATTEMPTED (grade.h).
 *                GSM8K: CORRECT / INCORRECT by the strict extraction;
 *                extracted = the strict number; detail holds both ways:
 *                {"gold", "strict", "strict_correct", "flexible", "flexible_correct"}.
 *   judge:MODEL  SimpleQA: the judge's grade. GSM8K (wrong answers only): the
 *                critic's first wrong step, FOUND (quote located) /
 *                UNLOCATED (quote not in the text: a span with NULL rows) /
 *                NONE (the critic saw no wrong step). ERROR when the judge
 *                failed or its reply could not be parsed (detail.error); a
 *                later grade run asks again.
 *   arith        GSM8K (wrong answers only): FOUND with a span on the stated
 *                result of the first wrong calculation, or NONE.
 * A GSM8K answer is wrong, and its reasoning searched, when neither the
 * strict nor the flexible answer equals the gold. The chain searched is the
 * generated rows' text up to the end of the strict answer when there is one
 * (a base model may go on to invent further questions).
 *
 * Factual-creative items and items of no study get no grade. Every grade is
 * written with its span in one transaction; an item already graded by a
 * grader (other than ERROR) is skipped, so grading resumes. */
#include "study/grading.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "judge/judge.h"
#include "study/arith.h"
#include "study/extract.h"
#include "util/error.h"

#define JUDGE_BACKOFF_S 0.5
#define MAX_JUDGE_FAILURES_IN_A_ROW 3

typedef struct grading {
    const es_grade_params *p;
    grade_store *store;
    judge_client *judge;     /* NULL: offline graders only */
    char judge_grader[256];  /* "judge:MODEL" */
    const char *judge_model;
    size_t n_written, n_skipped, n_ungraded, n_judge_errors, n_cached;
    int judge_failures_in_a_row;
    char judge_error[512];   /* the last request failure */
} grading;

/* An item's labels, as the studies wrote them (entroscope.h). */
typedef struct item_labels {
    cJSON *root;
    const char *study, *problem, *gold, *reference;
} item_labels;

static const char *label(cJSON *root, const char *name) {
    cJSON *v = cJSON_GetObjectItemCaseSensitive(root, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* ------------------------------------------------------ quote locating -- */

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

/* s with white space runs as one ' ' (and, if trim, none at either end);
 * map[i]: the offset in s of normalised byte i. */
static char *squeeze(const char *s, size_t len, int trim, size_t **map, size_t *out_len) {
    char *out = malloc(len + 1);
    *map = malloc((len + 1) * sizeof **map);
    if (!out || !*map) {
        free(out);
        free(*map);
        *map = NULL;
        return NULL;
    }
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (is_space(s[i])) {
            /* Only white space ever becomes ' ' in out: a ' ' before is a run. */
            if ((trim && n == 0) || (n > 0 && out[n - 1] == ' ')) continue;
            out[n] = ' ';
        } else {
            out[n] = s[i];
        }
        (*map)[n++] = i;
    }
    if (trim && n > 0 && out[n - 1] == ' ') n--;
    out[n] = 0;
    *out_len = n;
    return out;
}

/* The first occurrence of needle[0, m) in hay[0, n) (m > 0), or NULL. */
static const char *find_bytes(const char *hay, size_t n, const char *needle, size_t m) {
    for (size_t i = 0; m <= n && i <= n - m; i++)
        if (hay[i] == needle[0] && memcmp(hay + i, needle, m) == 0) return hay + i;
    return NULL;
}

int locate_quote(const char *text, size_t len, const char *quote, size_t *start, size_t *end) {
    size_t qlen = strlen(quote);
    if (qlen == 0) return 0;
    const char *hit = find_bytes(text, len, quote, qlen);
    if (hit) {
        *start = (size_t)(hit - text);
        *end = *start + qlen;
        return 1;
    }
    size_t *tmap = NULL, *qmap = NULL, tn = 0, qn = 0;
    char *t = squeeze(text, len, 0, &tmap, &tn), *q = squeeze(quote, qlen, 1, &qmap, &qn);
    int found = (!t || !q) ? -1 : 0;
    if (found == 0 && qn > 0 && (hit = find_bytes(t, tn, q, qn))) {
        size_t i = (size_t)(hit - t);
        *start = tmap[i];
        *end = tmap[i + qn - 1] + 1;
        found = 2;
    }
    free(t);
    free(q);
    free(tmap);
    free(qmap);
    return found;
}

/* ---------------------------------------------------------------- judge -- */

/* The judge's reply to body, from the cache or the server. 0 with *reply,
 * 1 when the judge failed (message in g->judge_error; the item gets ERROR),
 * 2 when the judge was given up (the item stays ungraded by it), -1 on a
 * database error. */
static int ask_judge(grading *g, const char *body, char **reply, es_error *err) {
    int hit = grade_store_cache_get(g->store, body, reply, err);
    if (hit != 0) {
        g->n_cached += hit == 1;
        return hit == 1 ? 0 : -1;
    }
    /* The server is gone: asking again for every item would only wait out
     * the retries each time. A later grade run picks these items up. */
    if (g->judge_failures_in_a_row >= MAX_JUDGE_FAILURES_IN_A_ROW) return 2;
    es_error jerr;
    if (judge_ask(g->judge, body, reply, &jerr) < 0) {
        g->judge_failures_in_a_row++;
        snprintf(g->judge_error, sizeof g->judge_error, "%s", jerr.msg);
        return 1;
    }
    g->judge_failures_in_a_row = 0;
    return 0;
}

static int put_judge_error(grading *g, int64_t item_id, const char *what, const char *reply,
                           es_error *err) {
    cJSON *d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "error", what);
    if (reply) cJSON_AddStringToObject(d, "reply", reply);
    char *detail = cJSON_PrintUnformatted(d);
    cJSON_Delete(d);
    grade_record r = {.item_id = item_id, .grader = g->judge_grader, .verdict = "ERROR",
                      .detail_json = detail};
    int rc = detail ? grade_store_put(g->store, &r, err) : es_fail(err, "grade: out of memory");
    free(detail);
    g->n_judge_errors++;
    if (g->p->log) fprintf(g->p->log, "grade: item %lld: %s: %s\n", (long long)item_id, g->judge_grader, what);
    return rc;
}

/* Asks the judge with a cached request, parses the reply with parse (which
 * returns < 0 for a malformed reply), caches the reply only when it parsed.
 * Returns the parse result, -2 after recording an ERROR grade, -3 on a
 * database error. */
static int judge_round(grading *g, int64_t item_id, const char *system, char *user,
                       int (*parse)(const char *, void *), void *parsed, es_error *err) {
    char *body = user ? judge_request_body(g->judge_model, system, user) : NULL;
    free(user);
    if (!body) return es_fail(err, "grade: out of memory"), -3;
    char *reply = NULL;
    int rc = ask_judge(g, body, &reply, err), result;
    if (rc < 0) result = -3;
    else if (rc == 2) result = -2;
    else if (rc == 1) result = put_judge_error(g, item_id, g->judge_error, NULL, err) < 0 ? -3 : -2;
    else if ((result = parse(reply, parsed)) < 0)
        result = put_judge_error(g, item_id, "could not parse the judge's reply", reply, err) < 0 ? -3 : -2;
    else if (grade_store_cache_put(g->store, body, reply, err) < 0)
        result = -3;
    free(body);
    free(reply);
    return result;
}

static int parse_grade_cb(const char *reply, void *out) {
    return judge_parse_grade(reply);
}

static int parse_critique_cb(const char *reply, void *quote) {
    return judge_parse_critique(reply, (char **)quote);
}

/* -------------------------------------------------------------- simpleqa -- */

static int grade_simpleqa(grading *g, const grade_item *it, const item_labels *l, es_error *err) {
    int has = grade_store_has_grade(g->store, it->id, "offline", err);
    if (has < 0) return -1;
    if (has) {
        g->n_skipped++;
    } else {
        int v = simpleqa_grade(l->problem, l->gold, it->output);
        if (v < 0) return es_fail(err, "grade: out of memory");
        grade_record r = {.item_id = it->id, .grader = "offline", .verdict = grade_verdict_name(v)};
        if (grade_store_put(g->store, &r, err) < 0) return -1;
        g->n_written++;
    }
    if (!g->judge) return 0;
    if ((has = grade_store_has_grade(g->store, it->id, g->judge_grader, err)) != 0) {
        g->n_skipped += has > 0;
        return has < 0 ? -1 : 0;
    }
    int v = judge_round(g, it->id, judge_simpleqa_system(),
                        judge_simpleqa_user(l->problem ? l->problem : "", l->gold, it->output),
                        parse_grade_cb, NULL, err);
    if (v == -3) return -1;
    if (v < 0) return 0;
    grade_record r = {.item_id = it->id, .grader = g->judge_grader, .verdict = grade_verdict_name(v)};
    if (grade_store_put(g->store, &r, err) < 0) return -1;
    g->n_written++;
    return 0;
}

/* ----------------------------------------------------------------- gsm8k -- */

static int grade_gsm8k_offline(grading *g, const grade_item *it, const char *gold,
                               const gsm8k_grade_result *res, es_error *err) {
    cJSON *d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "gold", gold);
    if (res->strict.found) cJSON_AddStringToObject(d, "strict", res->strict.value);
    else cJSON_AddNullToObject(d, "strict");
    cJSON_AddBoolToObject(d, "strict_correct", res->strict_correct);
    if (res->flexible.found) cJSON_AddStringToObject(d, "flexible", res->flexible.value);
    else cJSON_AddNullToObject(d, "flexible");
    cJSON_AddBoolToObject(d, "flexible_correct", res->flexible_correct);
    char *detail = cJSON_PrintUnformatted(d);
    cJSON_Delete(d);
    if (!detail) return es_fail(err, "grade: out of memory");
    grade_record r = {.item_id = it->id, .grader = "offline",
                      .verdict = res->strict_correct ? "CORRECT" : "INCORRECT",
                      .extracted = res->strict.found ? res->strict.value : NULL, .detail_json = detail};
    int rc = grade_store_put(g->store, &r, err);
    free(detail);
    g->n_written += rc == 0;
    return rc;
}

/* The searched text of a wrong answer: its generated rows (or, without
 * rows, its output) up to the end of the strict answer. */
typedef struct chain {
    generated_text rows;
    const char *text;
    size_t len;
} chain;

/* Fills a span's byte range and its rows (when the item has rows). */
static void place_span(const chain *c, grade_span *s, size_t start, size_t end) {
    s->byte_start = (int64_t)start;
    s->byte_end = (int64_t)end;
    s->first_row = s->last_row = -1;
    if (c->rows.n_rows == 0 || generated_rows_of(&c->rows, start, end, &s->first_row, &s->last_row) < 0)
        s->note = "no token rows: bytes count in items.output";
}

static int localise_arith(grading *g, int64_t item_id, const chain *c, es_error *err) {
    arith_calc *calcs = NULL;
    size_t n = 0, n_wrong = 0, n_unchecked = 0;
    if (arith_check(c->text, c->len, &calcs, &n, err) < 0) return -1;
    for (size_t i = 0; i < n; i++) {
        n_wrong += calcs[i].status == ARITH_WRONG;
        n_unchecked += calcs[i].status == ARITH_UNCHECKED;
    }
    long first = arith_first_wrong(calcs, n);
    cJSON *d = cJSON_CreateObject();
    cJSON_AddNumberToObject(d, "calculations", (double)n);
    cJSON_AddNumberToObject(d, "wrong", (double)n_wrong);
    cJSON_AddNumberToObject(d, "unchecked", (double)n_unchecked);
    grade_span span = {.kind = "first_error", .source = "arith"};
    if (first >= 0) {
        const arith_calc *a = &calcs[first];
        char *expr = strndup(c->text + a->expr_start, a->expr_end - a->expr_start), value[48];
        if (a->value_den == 0) snprintf(value, sizeof value, "division by zero");
        else if (a->value_den == 1) snprintf(value, sizeof value, "%lld", (long long)a->value_num);
        else snprintf(value, sizeof value, "%lld/%lld", (long long)a->value_num, (long long)a->value_den);
        cJSON_AddStringToObject(d, "expression", expr ? expr : "");
        cJSON_AddStringToObject(d, "value", value);
        free(expr);
        place_span(c, &span, a->result_start, a->result_end);
        span.text = c->text + a->result_start;
        span.text_len = a->result_end - a->result_start;
    }
    char *detail = cJSON_PrintUnformatted(d);
    cJSON_Delete(d);
    free(calcs);
    if (!detail) return es_fail(err, "grade: out of memory");
    grade_record r = {.item_id = item_id, .grader = "arith", .verdict = first >= 0 ? "FOUND" : "NONE",
                      .detail_json = detail, .span = first >= 0 ? &span : NULL};
    int rc = grade_store_put(g->store, &r, err);
    free(detail);
    g->n_written += rc == 0;
    return rc;
}

static int localise_judge(grading *g, const grade_item *it, const item_labels *l, const chain *c,
                          es_error *err) {
    char *solution = strndup(c->text, c->len), *quote = NULL;
    char *user = solution ? judge_gsm8k_user(l->problem ? l->problem : "", solution,
                                             l->reference ? l->reference : "") : NULL;
    free(solution);
    int rc = judge_round(g, it->id, judge_gsm8k_system(), user, parse_critique_cb, &quote, err);
    if (rc == -3) return -1;
    if (rc < 0) return 0;
    grade_span span = {.kind = "first_error", .source = "judge", .first_row = -1, .last_row = -1,
                       .byte_start = -1, .byte_end = -1};
    const char *verdict = "NONE";
    size_t start = 0, end = 0;
    int how = quote ? locate_quote(c->text, c->len, quote, &start, &end) : 0;
    if (how < 0) {
        free(quote);
        return es_fail(err, "grade: out of memory");
    }
    if (quote) {
        span.text = quote;
        span.text_len = strlen(quote);
        verdict = how ? "FOUND" : "UNLOCATED";
        if (how) place_span(c, &span, start, end);
        if (!span.note)
            span.note = how == 1 ? "quote found verbatim" : how == 2 ? "quote found with white space normalised"
                                                                     : "quote not found in the generated text";
    }
    grade_record r = {.item_id = it->id, .grader = g->judge_grader, .verdict = verdict,
                      .span = quote ? &span : NULL};
    rc = grade_store_put(g->store, &r, err);
    free(quote);
    g->n_written += rc == 0;
    return rc;
}

static int grade_gsm8k(grading *g, const grade_item *it, const item_labels *l, es_error *err) {
    gsm8k_grade_result res;
    gsm8k_grade(l->gold, it->output, it->output_len, &res);
    /* The gold as the dataset wrote it ("1,000") need not be canonical. */
    res.strict_correct = res.strict.found && numbers_equal(res.strict.value, l->gold);
    res.flexible_correct = res.flexible.found && numbers_equal(res.flexible.value, l->gold);
    int has = grade_store_has_grade(g->store, it->id, "offline", err);
    if (has < 0 || (!has && grade_gsm8k_offline(g, it, l->gold, &res, err) < 0)) return -1;
    g->n_skipped += has > 0;
    if (res.strict_correct || res.flexible_correct) return 0;

    int has_arith = grade_store_has_grade(g->store, it->id, "arith", err);
    int has_judge = g->judge ? grade_store_has_grade(g->store, it->id, g->judge_grader, err) : 1;
    if (has_arith < 0 || has_judge < 0) return -1;
    g->n_skipped += (size_t)has_arith + (size_t)(g->judge && has_judge);
    if (has_arith && has_judge) return 0;

    chain c = {0};
    if (grade_store_generated(g->store, it->id, &c.rows, err) < 0) return -1;
    c.text = c.rows.n_rows ? c.rows.text : it->output;
    c.len = c.rows.n_rows ? c.rows.len : it->output_len;
    extracted_answer strict;
    extract_strict(c.text, c.len, &strict);
    if (strict.found) c.len = strict.end;
    int rc = 0;
    if (!has_arith) rc = localise_arith(g, it->id, &c, err);
    if (rc == 0 && !has_judge) rc = localise_judge(g, it, l, &c, err);
    generated_text_free(&c.rows);
    return rc;
}

/* ----------------------------------------------------------------- items -- */

static int grade_item_labels(grading *g, const grade_item *it, es_error *err) {
    item_labels l = {.root = it->labels ? cJSON_Parse(it->labels) : NULL};
    l.study = label(l.root, "study");
    l.problem = label(l.root, "problem");
    l.gold = label(l.root, "gold");
    l.reference = label(l.root, "reference");
    int rc = 0;
    if (l.study && l.gold && strcmp(l.study, "simpleqa") == 0) rc = grade_simpleqa(g, it, &l, err);
    else if (l.study && l.gold && strcmp(l.study, "gsm8k") == 0) rc = grade_gsm8k(g, it, &l, err);
    else g->n_ungraded++; /* factual-creative, no study, or no gold answer */
    cJSON_Delete(l.root);
    return rc;
}

es_grade_params es_grade_default_params(void) {
    return (es_grade_params){.max_retries = 3, .timeout_s = 60.0};
}

static int open_judge(grading *g, es_error *err) {
    const char *env = g->p->api_key_env ? g->p->api_key_env : "OPENAI_API_KEY";
    judge_config jc = {.url = g->p->judge_url, .model = g->p->judge_model, .api_key = getenv(env),
                       .max_retries = g->p->max_retries, .timeout_s = g->p->timeout_s,
                       .backoff_s = JUDGE_BACKOFF_S};
    if (!(g->judge = judge_client_new(&jc, err))) return -1;
    g->judge_model = g->p->judge_model;
    snprintf(g->judge_grader, sizeof g->judge_grader, "judge:%s", g->p->judge_model);
    if (strlen(g->p->judge_model) + 6 >= sizeof g->judge_grader)
        return es_fail(err, "judge: model name too long");
    return 0;
}

int es_grade(const char *db_path, const es_grade_params *p, es_error *err) {
    if (!db_path || !p) return es_fail(err, "grade: no database or parameters");
    grading g = {.p = p};
    if (p->judge_url && open_judge(&g, err) < 0) {
        judge_client_free(g.judge);
        return -1;
    }
    if (!(g.store = grade_store_open(db_path, err))) {
        judge_client_free(g.judge);
        return -1;
    }
    grade_item *items = NULL;
    size_t n = 0;
    int rc = grade_store_items(g.store, &items, &n, err);
    for (size_t i = 0; rc == 0 && i < n; i++) rc = grade_item_labels(&g, &items[i], err);
    grade_items_free(items, n);
    if (rc == 0 && p->log) {
        fprintf(p->log, "grade: %s: %zu grades written, %zu already there, %zu items with no grade"
                        " (factual-creative or no study)", db_path, g.n_written, g.n_skipped, g.n_ungraded);
        if (g.judge)
            fprintf(p->log, "; judge: %ld requests, %zu answers from the cache, %zu errors",
                    judge_client_requests(g.judge), g.n_cached, g.n_judge_errors);
        fputc('\n', p->log);
    }
    if (rc == 0 && p->log) rc = grade_report(g.store, p->log, err);
    if (rc == 0 && g.judge_failures_in_a_row >= MAX_JUDGE_FAILURES_IN_A_ROW)
        rc = es_fail(err, "%s (judge given up after %d failures in a row; grade again to retry)",
                     g.judge_error, MAX_JUDGE_FAILURES_IN_A_ROW);
    grade_store_close(g.store);
    judge_client_free(g.judge);
    return rc;
}
