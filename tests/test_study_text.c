/* Tests of the study code that reads generated text (part of suite_study,
 * see tests/test_study.c): GSM8K answer extraction and grading, the offline
 * SimpleQA grader and its metrics, and the arithmetic checker. One table of
 * hand-written cases per rule; the expected verdicts were decided by reading
 * the cases, not by running the code. */
#include <stdint.h>
#include <stdlib.h>

#include "study/arith.h"
#include "study/extract.h"
#include "study/grade.h"
#include "test.h"
#include "util/rng.h"

/* ----------------------------------------------------------- extraction -- */

static void test_extract(void) {
    static const struct { const char *text, *strict, *flexible; } cases[] = {
        {"16 - 3 - 4 = 9. 9 * 2 = 18. The final answer is 18", "18", "18"},
        {"The final answer is $1,234.00.", "1234", "1234"},
        {"blah\n#### 42", "42", "42"},
        {"The final answer is: **-5**", "-5", "-5"},
        {"So the answer is 7 apples", NULL, "7"},
        {"The final answer is 12.\n\nQuestion: Tom has 3 cats", "12", "3"},
        {"#### 3\nThe final answer is 4", "3", "4"},
        {"It costs 5-3 dollars", NULL, "3"},
        {"The temperature is -3 degrees", NULL, "-3"},
        {"The final answer is 50%", "50", "50"},
        {"The final answer is +7", "7", "7"},
        {"items 1,2,3", NULL, "3"},
        {"12,34", NULL, "34"},
        {"no numbers here", NULL, NULL},
        {"The final answer is unclear", NULL, NULL},
        {"The final answer is 0.50", "0.5", "0.5"},
        {"The final answer is 1,000,000 and 00042", "1000000", "42"},
        {"pi is 3.14159.", NULL, "3.14159"},
        {"-0 and -0.00", NULL, "0"},
        {"THE FINAL ANSWER IS \\boxed{17}", "17", "17"},
        {"it costs $18.", NULL, "18"},
        {"it fell to \xE2\x88\x92" "4", NULL, "-4"},
        {"1234,567 units", NULL, "567"},
        {"version2 3rd", NULL, "3"},
    };
    TEST("extract: strict and flexible") {
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            extracted_answer s, f;
            extract_strict(cases[i].text, strlen(cases[i].text), &s);
            extract_flexible(cases[i].text, strlen(cases[i].text), &f);
            if (cases[i].strict) CHECKF(s.found && strcmp(s.value, cases[i].strict) == 0, "case %zu strict: %s", i, s.found ? s.value : "none");
            else CHECKF(!s.found, "case %zu strict: %s", i, s.value);
            if (cases[i].flexible) CHECKF(f.found && strcmp(f.value, cases[i].flexible) == 0, "case %zu flexible: %s", i, f.found ? f.value : "none");
            else CHECKF(!f.found, "case %zu flexible: %s", i, f.value);
        }
        extracted_answer s;
        extract_strict("x #### $18", 10, &s);
        CHECK(s.start == 7 && s.end == 10);
    }
    static const struct { const char *a, *b; int equal; } eq[] = {
        {"1,000", "1000.0", 1}, {"3.0", "3", 1}, {"3.01", "3.1", 0}, {"$5", "5", 1}, {"1/2", "0.5", 0},
        {"-0.0", "0", 1}, {"0.1", "0.10", 1}, {"10", "1e1", 0}, {" 7 ", "7", 1}, {"-7", "7", 0},
        /* beyond double precision: only exact comparison tells these apart */
        {"123456789012345678901234567890", "123456789012345678901234567891", 0},
        {"0.1000000000000000000001", "0.1", 0}, {"12,34", "1234", 0}, {"", "", 0}};
    TEST("extract: exact number comparison") {
        for (size_t i = 0; i < sizeof eq / sizeof eq[0]; i++)
            CHECKF(numbers_equal(eq[i].a, eq[i].b) == eq[i].equal, "\"%s\" vs \"%s\"", eq[i].a, eq[i].b);
    }
    TEST("extract: GSM8K grading") {
        gsm8k_grade_result g;
        const char *t1 = "9 * 2 = 18. The final answer is 18";
        gsm8k_grade("18", t1, strlen(t1), &g);
        CHECK(g.strict_correct && g.flexible_correct);
        const char *t2 = "The final answer is 17. Question: a + 1 = 18";
        gsm8k_grade("18", t2, strlen(t2), &g);
        CHECK(!g.strict_correct && g.flexible_correct);
        gsm8k_grade("18", "", 0, &g);
        CHECK(!g.strict_correct && !g.flexible_correct);
    }
}

/* -------------------------------------------------------------- grading -- */

typedef struct grade_case {
    const char *question, *gold, *answer;
    grade_verdict want;
} grade_case;

static void test_grade(void) {
    static const grade_case cases[] = {
        /* found: names, case, articles, numbers, Unicode */
        {NULL, "Michio Sugeno", "Michio Sugeno", GRADE_CORRECT},
        {NULL, "Michio Sugeno", "The award went to Michio Sugeno.", GRADE_CORRECT},
        {NULL, "Radcliffe College", "RADCLIFFE college", GRADE_CORRECT},
        {NULL, "The Beatles", "Beatles", GRADE_CORRECT},
        {NULL, "A piano", "It was the piano.", GRADE_CORRECT},
        {NULL, "1,000", "1000", GRADE_CORRECT},
        {NULL, "3", "3.0", GRADE_CORRECT},
        {NULL, "42", "$42", GRADE_CORRECT},
        {NULL, "Jos\xC3\xA9 Mart\xC3\xAD", "Jose Marti", GRADE_CORRECT},
        {NULL, "\xEF\xBC\xB0\xEF\xBD\x81\xEF\xBD\x92\xEF\xBD\x89\xEF\xBD\x93", "paris", GRADE_CORRECT}, /* fullwidth */
        {NULL, "Stra\xC3\x9F" "e", "STRASSE", GRADE_CORRECT},                                           /* case folding */
        {NULL, "May 5, 2010", "5 May 2010", GRADE_CORRECT},
        {NULL, "Michio Sugeno", "Sugeno, Michio", GRADE_CORRECT},
        {NULL, "O'Neill", "Eugene O\xE2\x80\x99Neill", GRADE_CORRECT},
        {"How many goals did he score in the 2018 season?", "23", "In the 2018 season he scored 23 goals.", GRADE_CORRECT},
        {NULL, "Paris", "I'm not sure, but I think it's Paris", GRADE_CORRECT},
        {NULL, "Paris", "Not only Paris.", GRADE_CORRECT},
        /* not found, or contradicted */
        {NULL, "Michio Sugeno", "Lotfi Zadeh", GRADE_INCORRECT},
        {NULL, "Michio Sugeno", "Sugeno", GRADE_INCORRECT},
        {NULL, "Paris", "It is not Paris", GRADE_INCORRECT},
        {NULL, "Paris", "Paris or Lyon", GRADE_INCORRECT},
        {NULL, "Paris", "Either Paris, or maybe Lyon", GRADE_INCORRECT},
        {NULL, "1874", "1874 or 1875", GRADE_INCORRECT},
        {NULL, "2010", "It was 2011, not 2010", GRADE_INCORRECT},
        {NULL, "May 5, 2010", "May 5, 2010 or May 6, 2010", GRADE_INCORRECT},
        {NULL, "3", "30", GRADE_INCORRECT},
        {NULL, "1000", "100", GRADE_INCORRECT},
        {NULL, "Paris", "Lyon, I think", GRADE_INCORRECT},
        {NULL, "Paris", "Parisian", GRADE_INCORRECT},
        /* not attempted */
        {NULL, "Paris", "", GRADE_NOT_ATTEMPTED},
        {NULL, "Paris", "  ... !? ", GRADE_NOT_ATTEMPTED},
        {NULL, "Paris", "I don't know.", GRADE_NOT_ATTEMPTED},
        {NULL, "Paris", "I DON\xE2\x80\x99T KNOW", GRADE_NOT_ATTEMPTED},
        {NULL, "Paris", "I\xE2\x80\x99m not sure.", GRADE_NOT_ATTEMPTED},
        {NULL, "Paris", "I cannot answer that.", GRADE_NOT_ATTEMPTED},
        {NULL, "Paris", "Unknown", GRADE_NOT_ATTEMPTED},
        {NULL, "Paris", "I have no idea", GRADE_NOT_ATTEMPTED},
        {NULL, "Paris", "Sorry, I am unable to find that.", GRADE_NOT_ATTEMPTED},
        {NULL, "...", "Paris", GRADE_INCORRECT}, /* a gold with no tokens is never found */
    };
    TEST("grade: SimpleQA verdicts per rule") {
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            const grade_case *c = &cases[i];
            int v = simpleqa_grade(c->question, c->gold, c->answer);
            CHECKF(v == (int)c->want, "case %zu (%s / %s): %s, expected %s", i, c->gold, c->answer,
                   v < 0 ? "error" : grade_verdict_name((grade_verdict)v), grade_verdict_name(c->want));
        }
    }
    TEST("grade: normalisation") {
        static const struct { const char *in, *out; } norm[] = {
            {"The Beatles' \"Hey Jude\" (1968)", "beatles hey jude 1968"},
            {"1,000.50 dollars, -3 and 1874-1875", "1000.5 dollars -3 and 1874 1875"},
            {"caf\xFF", "caf"},
            {"An apple a day", "apple day"},
            {"\xEF\xAC\x81" "ne \xE2\x84\x96" "5", "fine no5"}, /* ligature fi, numero sign */
        };
        for (size_t i = 0; i < sizeof norm / sizeof norm[0]; i++) {
            char *s = grade_normalise(norm[i].in);
            CHECKF(s && strcmp(s, norm[i].out) == 0, "case %zu: \"%s\"", i, s ? s : "(null)");
            free(s);
        }
    }
    TEST("grade: metrics") {
        static const grade_verdict v[4] = {GRADE_CORRECT, GRADE_CORRECT, GRADE_INCORRECT, GRADE_NOT_ATTEMPTED};
        simpleqa_metrics m;
        simpleqa_metrics_compute(v, 4, &m);
        CHECK(m.n_correct == 2 && m.n_incorrect == 1 && m.n_not_attempted == 1);
        CHECK_NEAR(m.correct, 0.5, 1e-12);
        CHECK_NEAR(m.accuracy_given_attempted, 2.0 / 3.0, 1e-12);
        CHECK_NEAR(m.f1, 4.0 / 7.0, 1e-12); /* 2 (2/3)(1/2) / (2/3 + 1/2) */
        simpleqa_metrics_compute(v, 0, &m);
        CHECK(m.n == 0 && m.correct == 0 && m.accuracy_given_attempted == 0 && m.f1 == 0);
        simpleqa_metrics_compute(v + 3, 1, &m);
        CHECK(m.not_attempted == 1 && m.accuracy_given_attempted == 0 && m.f1 == 0);
        simpleqa_metrics_compute(v, 2, &m);
        CHECK(m.correct == 1 && m.accuracy_given_attempted == 1 && m.f1 == 1);
    }
}

/* ----------------------------------------------------------- arithmetic -- */

typedef struct arith_case {
    const char *text;
    int n_calcs;
    int first_wrong;
    const char *wrong_result; /* the text of the first wrong stated result */
} arith_case;

static void test_arith(void) {
    static const arith_case cases[] = {
        {"Janet sells 16 - 3 - 4 = 9 duck eggs a day.\nShe makes 9 * 2 = $18 every day.", 2, -1, NULL},
        {"Janet sells 16 - 3 - 4 = 9 duck eggs.\nShe makes 9 * 2 = $16 every day.", 2, 1, "$16"},
        {"First 3 + 4 * 2 = 11. Then 11 - 1 = 9. Then 9 * 2 = 18.", 3, 1, "9"},
        {"(3 + 4) * 2 = 14", 1, -1, NULL},
        {"3 + 4 * 2 = 14", 1, 0, "14"},
        {"[2 + (3 - 1)] / 2 = 2", 1, -1, NULL},
        {"12 divided by 4 = 3, and 3 times 5 = 15, so 15 plus 2 = 18", 3, 2, "18"},
        {"6 multiplied by 7 = 42 and 10 minus 4 equals 7", 2, 1, "7"},
        {"2 x 3 = 6 and 4 \xC3\x97 5 = 20 and 20 \xC3\xB7 4 = 5", 3, -1, NULL},
        {"3x4 = 12", 1, -1, NULL},
        {"If 2x = 10 then x = 5", 0, -1, NULL},
        {"It was 3 times as many, 4 = 4", 0, -1, NULL},
        {"10 / 3 = 3.33 and 2 / 3 = 0.67 and 2/3 = 0.66", 3, -1, NULL},
        {"10 / 3 = 3.4", 1, 0, "3.4"},
        {"10 / 3 = 3", 1, 0, "3"},
        {"5 / 0 = 0", 1, 0, "0"},
        {"25% * 80 = 20, 0.2 * 100 = 20% and 1 / 5 = 20%", 3, -1, NULL},
        {"1/5 = 30%", 1, 0, "30%"},
        {"3 - 5 = -2 and -3 + 5 = 2", 2, -1, NULL},
        {"3 - 5 = 2", 1, 0, "2"},
        {"2 + 3 = 5 + 4 = 10", 2, 1, "10"},
        {"$1,200 + $300 = $1,500", 1, -1, NULL},
        {"1.5 * 4 = 6.0", 1, -1, NULL},
        {"(2 + 3 = 5", 1, -1, NULL},
        {"16-3-4=<<16-3-4=9>>9", 1, -1, NULL},
        {"9223372036854775807 * 2 = 1 and 1 + 1 = 3", 2, 1, "3"}, /* the overflow is unchecked, not wrong */
        {"0.1 + 0.2 = 0.3", 1, -1, NULL}, /* exact, unlike binary floats */
        {"3 \xE2\x88\x92 1 = 2", 1, -1, NULL},
    };
    TEST("arith: first wrong step in hand-written chains") {
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            const arith_case *c = &cases[i];
            arith_calc *calcs;
            size_t n;
            es_error err;
            CHECK_INT(arith_check(c->text, strlen(c->text), &calcs, &n, &err), 0);
            long w = arith_first_wrong(calcs, n);
            CHECKF((int)n == c->n_calcs, "case %zu: %zu calculations", i, n);
            CHECKF(w == c->first_wrong, "case %zu: first wrong %ld", i, w);
            if (w >= 0 && c->wrong_result) {
                size_t len = calcs[w].result_end - calcs[w].result_start;
                CHECKF(len == strlen(c->wrong_result) && memcmp(c->text + calcs[w].result_start, c->wrong_result, len) == 0,
                       "case %zu: result \"%.*s\"", i, (int)len, c->text + calcs[w].result_start);
            }
            free(calcs);
        }
    }
    TEST("arith: spans and values") {
        const char *t = "Then 7 * 8 = 54 cookies.";
        arith_calc *c;
        size_t n;
        es_error err;
        CHECK_INT(arith_check(t, strlen(t), &c, &n, &err), 0);
        CHECK_INT(n, 1);
        if (n == 1) {
            CHECK(c[0].expr_start == 5 && c[0].expr_end == 10);
            CHECK(c[0].result_start == 13 && c[0].result_end == 15);
            CHECK(c[0].status == ARITH_WRONG && c[0].value_num == 56 && c[0].value_den == 1);
        }
        free(c);
    }
    TEST("arith: random integer steps against C arithmetic") {
        uint64_t state = 99;
        static const char ops[4] = {'+', '-', '*', '/'};
        for (int i = 0; i < 2000; i++) {
            long a = (long)(es_xorshift64s(&state) % 2000) - 1000, b = (long)(es_xorshift64s(&state) % 999) + 1;
            int op = (int)(es_xorshift64s(&state) % 4), off = (int)(es_xorshift64s(&state) % 3) - 1;
            if (op == 3) a *= b; /* exact quotients */
            long r = op == 0 ? a + b : op == 1 ? a - b : op == 2 ? a * b : a / b;
            char text[96];
            snprintf(text, sizeof text, "so %ld %c %ld = %ld.", a, ops[op], b, r + off);
            arith_calc *c;
            size_t n;
            es_error err;
            arith_check(text, strlen(text), &c, &n, &err);
            CHECKF(n == 1 && (int)c[0].status == (off != 0), "%s", text);
            free(c);
        }
    }
}

void study_text_tests(void) {
    test_extract();
    test_grade();
    test_arith();
}
