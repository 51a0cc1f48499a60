/* The arithmetic checker (see arith.h for what it finds and how it judges):
 * a tokeniser, a recursive-descent evaluator over exact 64-bit rationals, and
 * the search for "expression = number". */
#include "study/arith.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "study/number.h"
#include "util/error.h"

/* The left side is looked for among at most this many tokens before "=":
 * trying every start is quadratic, and no chain of thought needs more. */
#define ARITH_MAX_TOKENS 128

typedef enum tok_kind { T_NUM, T_OP, T_LP, T_RP, T_EQ, T_BREAK } tok_kind;

typedef struct calc_token {
    tok_kind kind;
    char op;          /* T_OP: + - * / */
    int word_op;      /* an operator spelt as a word or "x": valid only between operands */
    size_t start, end;
    number_span num;  /* T_NUM */
} calc_token;

typedef struct rational {
    int64_t num, den; /* den > 0, reduced */
    int overflow, div_zero;
} rational;

/* ----------------------------------------------------------- rationals -- */

static unsigned __int128 gcd128(unsigned __int128 a, unsigned __int128 b) {
    while (b) {
        unsigned __int128 r = a % b;
        a = b;
        b = r;
    }
    return a;
}

static rational make(__int128 num, __int128 den) {
    rational r = {0, 1, 0, 0};
    if (den == 0) return r.div_zero = 1, r;
    if (den < 0) num = -num, den = -den;
    /* operands below 2^63 keep every product and sum below 2^127 */
    unsigned __int128 an = num < 0 ? (unsigned __int128)-num : (unsigned __int128)num;
    __int128 g = (__int128)gcd128(an, (unsigned __int128)den); /* den when num is 0 */
    num /= g, den /= g;
    if (num > INT64_MAX || num < -INT64_MAX || den > INT64_MAX) return r.overflow = 1, r;
    r.num = (int64_t)num;
    r.den = (int64_t)den;
    return r;
}

static rational combine(rational a, char op, rational b) {
    rational bad = {0, 1, a.overflow | b.overflow, a.div_zero | b.div_zero};
    if (bad.overflow || bad.div_zero) return bad;
    __int128 an = a.num, ad = a.den, bn = b.num, bd = b.den;
    switch (op) {
    case '+': return make(an * bd + bn * ad, ad * bd);
    case '-': return make(an * bd - bn * ad, ad * bd);
    case '*': return make(an * bn, ad * bd);
    default: return make(an * bd, ad * bn);
    }
}

/* ---------------------------------------------------------- the parser -- */

typedef struct parser {
    const calc_token *t;
    size_t pos, end;
    int depth, n_binary;
} parser;

static int parse_expr(parser *p, rational *out);

static int is_op(const parser *p, const char *ops) {
    return p->pos < p->end && p->t[p->pos].kind == T_OP && strchr(ops, p->t[p->pos].op);
}

static int parse_unary(parser *p, rational *out) {
    if (++p->depth > 64) return -1;
    int rc = -1;
    if (is_op(p, "-+") && !p->t[p->pos].word_op) {
        int neg = p->t[p->pos++].op == '-';
        rc = parse_unary(p, out);
        if (rc == 0 && neg) out->num = -out->num;
    } else if (p->pos < p->end && p->t[p->pos].kind == T_NUM) {
        int64_t n, d;
        const number_span *num = &p->t[p->pos++].num;
        rational r = {0, 1, 0, 0};
        if (number_rational(num, 1, &n, &d)) r.overflow = 1;
        else r.num = n, r.den = d;
        *out = r, rc = 0;
    } else if (p->pos < p->end && p->t[p->pos].kind == T_LP) {
        p->pos++;
        rc = parse_expr(p, out);
        if (rc == 0 && (p->pos >= p->end || p->t[p->pos++].kind != T_RP)) rc = -1;
    }
    p->depth--;
    return rc;
}

static int parse_term(parser *p, rational *out) {
    if (parse_unary(p, out)) return -1;
    while (is_op(p, "*/")) {
        char op = p->t[p->pos++].op;
        rational rhs;
        if (parse_unary(p, &rhs)) return -1;
        *out = combine(*out, op, rhs);
        p->n_binary++;
    }
    return 0;
}

static int parse_expr(parser *p, rational *out) {
    if (parse_term(p, out)) return -1;
    while (is_op(p, "+-")) {
        char op = p->t[p->pos++].op;
        rational rhs;
        if (parse_term(p, &rhs)) return -1;
        *out = combine(*out, op, rhs);
        p->n_binary++;
    }
    return 0;
}

/* ------------------------------------------------------- the tokeniser -- */

static int is_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

/* An operator at p: its length and symbol, or 0. */
static size_t symbol_op(const char *s, size_t len, size_t p, char *op) {
    static const struct { const char *text; char op; } ops[] = {
        {"+", '+'}, {"-", '-'}, {"*", '*'}, {"/", '/'}, {"\xC3\x97", '*'}, {"\xC3\xB7", '/'},
        {"\xE2\x88\x92", '-'}, {"\xE2\x88\x97", '*'}};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        size_t n = strlen(ops[i].text);
        if (p + n <= len && memcmp(s + p, ops[i].text, n) == 0) return *op = ops[i].op, n;
    }
    return 0;
}

/* A word at [p, q): an operator word (maybe with its "by"), "equals", or a break. */
static size_t word_token(const char *s, size_t len, size_t p, size_t q, calc_token *t) {
    static const struct { const char *word; char op; int by; } words[] = {
        {"x", '*', 0}, {"times", '*', 0}, {"plus", '+', 0}, {"minus", '-', 0},
        {"multiplied", '*', 1}, {"divided", '/', 1}};
    size_t n = q - p;
    t->kind = T_BREAK;
    if (n == 6 && strncasecmp(s + p, "equals", 6) == 0) t->kind = T_EQ;
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        if (n != strlen(words[i].word) || strncasecmp(s + p, words[i].word, n) != 0) continue;
        if (words[i].by) {
            size_t b = q;
            while (b < len && s[b] == ' ') b++;
            if (b + 2 > len || strncasecmp(s + b, "by", 2) != 0 || (b + 2 < len && is_letter(s[b + 2])))
                break;
            q = b + 2;
        }
        t->kind = T_OP, t->op = words[i].op, t->word_op = 1;
    }
    return q;
}

/* The next token at *p (spaces skipped); 0 at the end. */
static int next_token(const char *s, size_t len, size_t *p, calc_token *t) {
    while (*p < len && (s[*p] == ' ' || s[*p] == '\t')) (*p)++;
    if (*p >= len) return 0;
    size_t a = *p, n;
    memset(t, 0, sizeof *t);
    t->start = a;
    if (number_scan(s, len, a, NUMBER_ANY_START, &t->num)) {
        t->kind = T_NUM;
        *p = t->num.end;
    } else if ((n = symbol_op(s, len, a, &t->op))) {
        t->kind = T_OP;
        *p = a + n;
    } else if (is_letter(s[a])) {
        size_t q = a;
        while (q < len && is_letter(s[q])) q++;
        *p = word_token(s, len, a, q, t);
    } else {
        t->kind = s[a] == '(' || s[a] == '[' ? T_LP : s[a] == ')' || s[a] == ']' ? T_RP
                : s[a] == '=' ? T_EQ : T_BREAK;
        *p = a + 1;
        while (t->kind == T_BREAK && *p < len && ((unsigned char)s[*p] & 0xC0) == 0x80) (*p)++;
    }
    t->end = *p;
    return 1;
}

static int operand_end(const calc_token *t) { return t->kind == T_NUM || t->kind == T_RP; }
static int operand_start(const calc_token *t) { return t->kind == T_NUM || t->kind == T_LP; }

static calc_token *tokenise(const char *s, size_t len, size_t *n_out) {
    size_t n = 0, cap = 64, p = 0;
    calc_token *t = malloc(cap * sizeof *t), tk;
    if (!t) return NULL;
    while (next_token(s, len, &p, &tk)) {
        if (n == cap) {
            calc_token *g = realloc(t, (cap *= 2) * sizeof *t);
            if (!g) return free(t), NULL;
            t = g;
        }
        t[n++] = tk;
    }
    for (size_t i = 0; i < n; i++) /* word operators stand between operands only */
        if (t[i].word_op && !(i > 0 && operand_end(&t[i - 1]) && i + 1 < n && operand_start(&t[i + 1])))
            t[i].kind = T_BREAK;
    *n_out = n;
    return t;
}

/* ------------------------------------------------------------- checking -- */

/* Is s, with k decimals, v rounded (|v - s| <= 10^-k / 2) or cut towards
 * zero (v - s of v's sign and |v - s| < 10^-k) to k decimals? */
static int rounded_or_cut(rational v, rational s, int k) {
    rational d = combine(v, '-', s);
    if (d.overflow) return 0;
    __int128 dist = d.num < 0 ? -(__int128)d.num : d.num, scale = 1;
    for (int i = 0; i < k; i++) scale *= 10;
    if (2 * dist * scale <= (__int128)d.den) return 1;
    return ((d.num > 0) == (v.num > 0)) && dist * scale < (__int128)d.den;
}

static arith_status judge(rational v, const number_span *stated, int negative) {
    if (v.div_zero) return ARITH_WRONG;
    if (v.overflow) return ARITH_UNCHECKED;
    for (int as_fraction = 0; as_fraction <= stated->percent; as_fraction++) {
        int64_t n, d;
        if (number_rational(stated, as_fraction, &n, &d)) return ARITH_UNCHECKED;
        rational s = {negative ? -n : n, d, 0, 0};
        if (s.num == v.num && s.den == v.den) return ARITH_RIGHT;
        if (stated->scale > 0 && rounded_or_cut(v, s, stated->scale)) return ARITH_RIGHT;
    }
    return ARITH_WRONG;
}

/* The calculation ending at the "=" t[eq], if there is one. */
static int calc_at(const calc_token *t, size_t n, size_t eq, arith_calc *c) {
    size_t r = eq + 1, w = eq;
    int negative = 0;
    if (r < n && t[r].kind == T_OP && t[r].op == '-' && !t[r].word_op) negative = 1, r++;
    if (r >= n || t[r].kind != T_NUM) return 0;
    while (w > 0 && eq - w < ARITH_MAX_TOKENS && t[w - 1].kind != T_BREAK && t[w - 1].kind != T_EQ) w--;
    for (size_t s = w; s < eq; s++) {
        parser p = {.t = t, .pos = s, .end = eq};
        rational v;
        if (parse_expr(&p, &v) || p.pos != eq || p.n_binary == 0) continue;
        c->expr_start = t[s].start;
        c->expr_end = t[eq - 1].end;
        c->result_start = t[eq + 1].start;
        c->result_end = t[r].end;
        c->status = judge(v, &t[r].num, negative ^ t[r].num.negative);
        c->value_num = v.num;
        c->value_den = v.overflow || v.div_zero ? 0 : v.den;
        return 1;
    }
    return 0;
}

int arith_check(const char *text, size_t len, arith_calc **calcs, size_t *n_calcs, es_error *err) {
    size_t n, count = 0;
    *calcs = NULL;
    *n_calcs = 0;
    calc_token *t = tokenise(text, len, &n);
    if (!t) return es_fail(err, "arithmetic check: out of memory");
    arith_calc *out = NULL;
    for (size_t i = 0; i < n; i++) {
        arith_calc c;
        if (t[i].kind != T_EQ || !calc_at(t, n, i, &c)) continue;
        arith_calc *g = realloc(out, (count + 1) * sizeof *out);
        if (!g) {
            free(out), free(t);
            return es_fail(err, "arithmetic check: out of memory");
        }
        out = g;
        out[count++] = c;
    }
    free(t);
    *calcs = out;
    *n_calcs = count;
    return 0;
}

long arith_first_wrong(const arith_calc *calcs, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (calcs[i].status == ARITH_WRONG) return (long)i;
    return -1;
}
