/* Tests of the study building blocks (src/study/): the CSV reader, the
 * Python-dict metadata reader, the SimpleQA and GSM8K loaders, the stratified
 * sampler, few-shot exemplars; answer extraction, the offline SimpleQA grader
 * and the arithmetic checker are in tests/test_study_text.c. Hand-written tables per rule; the real data
 * sets in ../shared when present (the expected counts and sums there were
 * computed independently with Python's csv, ast and json modules). */
#include <stdint.h>
#include <stdlib.h>

#include "study/csv.h"
#include "study/datasets.h"
#include "study/pydict.h"
#include "test.h"
#include "util/rng.h"

void study_text_tests(void); /* tests/test_study_text.c */

/* ------------------------------------------------------------------ CSV -- */

static void test_csv_valid(void) {
    TEST("csv: quotes, commas, CRLF, BOM, empty lines and fields") {
        static const char data[] = "\xEF\xBB\xBFid,text,x\r\n"
                                   "1,\"a, b\",\r\n"
                                   "\r\n"
                                   "2,\"say \"\"hi\"\"\nnext\r\nline\",\"\"\n"
                                   "3,plain text,last"; /* no final newline */
        static const char *const want[3][3] = {
            {"1", "a, b", ""}, {"2", "say \"hi\"\nnext\r\nline", ""}, {"3", "plain text", "last"}};
        static const long lines[3] = {2, 4, 7};
        csv_reader r;
        es_error err;
        CHECK_INT(csv_open(&r, data, sizeof data - 1, "t.csv", 0, &err), 0);
        CHECK_INT(r.n_columns, 3);
        CHECK_INT(csv_column(&r, "text"), 1);
        CHECK_INT(csv_column(&r, "id"), 0); /* the BOM is not part of the name */
        CHECK_INT(csv_column(&r, "nope"), -1);
        for (int i = 0; i < 3; i++) {
            CHECK_INT(csv_next(&r, &err), 1);
            CHECK_INT(r.record_line, lines[i]);
            for (int f = 0; f < 3 && r.n_fields == 3; f++) CHECK_STR(r.fields[f], want[i][f]);
        }
        CHECK_INT(csv_next(&r, &err), 0);
        csv_close(&r);
    }
}

typedef struct csv_bad_case {
    const char *data;
    size_t size; /* 0: strlen */
    const char *message;
} csv_bad_case;

static void test_csv_malformed(void) {
    static const csv_bad_case cases[] = {
        {"a,b\n1,2\n3,\"4\n", 0, "t.csv:3: unterminated quoted field 2"},
        {"a,b\n1,2\nx\"y,2\n", 0, "t.csv:3: quote inside unquoted field 1"},
        {"a,b\n\"x\"y,2\n", 0, "t.csv:2: text after the closing quote of field 1"},
        {"a,b\n1,2,3\n", 0, "t.csv:2: 3 fields, the header has 2"},
        {"a,b\n\"multi\nline\",1\n1\n", 0, "t.csv:4: 1 field, the header has 2"},
        {"a,b\r\n\r\n\r\n1,\"x\"\"\r\n", 0, "t.csv:4: unterminated quoted field 2"},
        {"a,b\n1,\0\n", 9, "t.csv:2: NUL byte in field 2"},
        {"", 0, "t.csv: empty file, no header"},
        {"\n\r\n", 0, "t.csv: empty file, no header"},
        {"\"a,b\n", 0, "t.csv:1: header: unterminated quoted field 1"},
    };
    TEST("csv: malformed input gives the record's line") {
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            const csv_bad_case *c = &cases[i];
            csv_reader r;
            es_error err = {{0}};
            int rc = csv_open(&r, c->data, c->size ? c->size : strlen(c->data), "t.csv", 0, &err);
            if (rc == 0)
                while ((rc = csv_next(&r, &err)) == 1) {}
            CHECKF(rc == -1, "case %zu: rc %d", i, rc);
            CHECKF(strcmp(err.msg, c->message) == 0, "case %zu: \"%s\"", i, err.msg);
            csv_close(&r);
        }
    }
    TEST("csv: skip-bad mode skips and counts") {
        static const char data[] = "a,b\n1,2\n3,4,5\nx\"y,1\n\"q\"z,1\n6,7\n8,\"open\n9,10\n";
        csv_reader r;
        es_error err;
        CHECK_INT(csv_open(&r, data, sizeof data - 1, "t.csv", 1, &err), 0);
        CHECK_INT(csv_next(&r, &err), 1);
        CHECK_STR(r.fields[1], "2");
        CHECK_INT(csv_next(&r, &err), 1);
        CHECK_STR(r.fields[0], "6");
        CHECK_INT(r.record_line, 6);
        CHECK_INT(csv_next(&r, &err), 0); /* the open quote runs to the end */
        CHECK_INT(r.n_skipped, 4);
        csv_close(&r);
    }
}

/* Random fields written the RFC 4180 way come back unchanged. */
static void test_csv_roundtrip(void) {
    TEST("csv: random quoted fields round-trip") {
        static const char alphabet[] = "ab ,\"\n\r\xC3\xA9x";
        uint64_t state = 12345;
        char want[3][20], buf[512];
        for (int round = 0; round < 300; round++) {
            size_t used = (size_t)sprintf(buf, "p,q,r\n");
            for (int f = 0; f < 3; f++) {
                int n = (int)(es_xorshift64s(&state) % 12);
                for (int k = 0; k < n; k++) want[f][k] = alphabet[es_xorshift64s(&state) % (sizeof alphabet - 1)];
                want[f][n] = '\0';
                buf[used++] = '"';
                for (int k = 0; k < n; k++) {
                    if (want[f][k] == '"') buf[used++] = '"';
                    buf[used++] = want[f][k];
                }
                buf[used++] = '"';
                buf[used++] = f < 2 ? ',' : '\n';
            }
            csv_reader r;
            es_error err;
            int ok = csv_open(&r, buf, used, "r.csv", 0, &err) == 0 && csv_next(&r, &err) == 1;
            CHECKF(ok, "round %d: %s", round, err.msg);
            for (int f = 0; ok && f < 3; f++) CHECKF(strcmp(r.fields[f], want[f]) == 0, "round %d field %d", round, f);
            CHECK(!ok || csv_next(&r, &err) == 0);
            csv_close(&r);
        }
    }
}

/* ------------------------------------------------------------ metadata -- */

typedef struct pydict_case {
    const char *text, *key;
    int rc;
    const char *value;
} pydict_case;

static void test_pydict(void) {
    static const pydict_case cases[] = {
        {"{'topic': 'Art', 'answer_type': 'Person', 'urls': ['https://x']}", "topic", 1, "Art"},
        {"{'topic': 'Art', 'answer_type': 'Person'}", "answer_type", 1, "Person"},
        {"{\"topic\": \"Sports\", 'urls': ['a', \"b's\", 'c\\'d']}", "topic", 1, "Sports"},
        {"{'topic': 'It\\'s \\\"x\\\" \\\\ \\n\\x41\\u00e9\\U0001F600\\d'}", "topic", 1,
         "It's \"x\" \\ \nA\xC3\xA9\xF0\x9F\x98\x80\\d"},
        {"{'topic': '\\101\\0', 'z': 1}", "topic", 1, "A"}, /* octal; \0 ends the C string here */
        {"{'a': {'topic': 'inner'}, 'topic': 'outer', 'n': -3.5e2, 'b': True, 'c': None,"
         " 't': (1, 2,), 'l': [], 'e': {},}", "topic", 1, "outer"},
        {"{'topic': 'first', 'topic': 'last'}", "topic", 1, "last"},
        {"{u'topic': r'C:\\dir'}", "topic", 1, "C:\\dir"},
        {"{'topic': 'multi\\\nline'}", "topic", 1, "multiline"},
        {"  { }  ", "topic", 0, NULL},
        {"{'topic': 5}", "topic", 0, NULL},
        {"{'other': 'x'}", "topic", 0, NULL},
        {"{'topic': 'Art'", "topic", -1, NULL},
        {"{'topic' 'Art'}", "topic", -1, NULL},
        {"{'topic': 'Art' 'x'}", "topic", -1, NULL},
        {"['topic', 'Art']", "topic", -1, NULL},
        {"{'topic': 'Art'} extra", "topic", -1, NULL},
        {"{'topic': 'Ar\nt'}", "topic", -1, NULL},
        {"{'topic': '\\x4'}", "topic", -1, NULL},
        {"{'topic': '\\ud800'}", "topic", -1, NULL},
        {"{'topic': @}", "topic", -1, NULL},
        {"", "topic", -1, NULL},
        {"{'topic': [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}",
         "topic", -1, NULL},
    };
    TEST("metadata: Python dict literals") {
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            const pydict_case *c = &cases[i];
            char *value = (char *)1, why[128];
            int rc = pydict_get_string(c->text, strlen(c->text), c->key, &value, why, sizeof why);
            CHECKF(rc == c->rc, "case %zu: rc %d (%s)", i, rc, rc < 0 ? why : "");
            if (c->value) CHECKF(value && strcmp(value, c->value) == 0, "case %zu: \"%s\"", i, value ? value : "(null)");
            else CHECKF(value == NULL, "case %zu: value set", i);
            if (rc < 0) CHECKF(why[0] && !strchr(why, '\n'), "case %zu: message", i);
            free(value);
        }
    }
}

/* ------------------------------------------------------------- SimpleQA -- */

static void test_simpleqa_parse(void) {
    static const char data[] =
        "metadata,problem,answer\n"
        "\"{'topic': 'Art', 'answer_type': 'Person', 'urls': ['u']}\",Who painted it?,Ann\n"
        "\"{'topic': 'Music', 'answer_type': 'Date', 'urls': [\"\"it's\"\"]}\",\"When, exactly?\",\"May 5, 2010\"\n";
    TEST("simpleqa: columns and metadata") {
        simpleqa_set set;
        es_error err;
        CHECK_INT(simpleqa_parse(&set, data, sizeof data - 1, "s.csv", 0, &err), 0);
        CHECK_INT(set.n, 2);
        if (set.n == 2) {
            CHECK_STR(set.items[1].problem, "When, exactly?");
            CHECK_STR(set.items[1].answer, "May 5, 2010");
            CHECK_STR(set.items[1].topic, "Music");
            CHECK_STR(set.items[1].answer_type, "Date");
            CHECK_INT(set.items[1].id, 1);
            CHECK_INT(set.items[1].line, 3);
        }
        simpleqa_free(&set);
    }
    TEST("simpleqa: bad rows") {
        static const char bad[] = "metadata,problem,answer\n"
                                  "\"{'topic': 'Art', 'answer_type': 'Person'}\",q1,a1\n"
                                  "\"{'answer_type': 'Person'}\",q2,a2\n"
                                  "\"{'topic': 'Art', 'answer_type': 'Person'\",q3,a3\n"
                                  "x,y\n"
                                  "\"{'topic': 'Art', 'answer_type': 'Date'}\",q5,a5\n";
        simpleqa_set set;
        es_error err;
        CHECK_INT(simpleqa_parse(&set, bad, sizeof bad - 1, "s.csv", 0, &err), -1);
        CHECK_STR(err.msg, "s.csv:3: metadata: no string 'topic'");
        CHECK_INT(simpleqa_parse(&set, bad, sizeof bad - 1, "s.csv", 1, &err), 0);
        CHECK_INT(set.n, 2);
        CHECK_INT(set.n_skipped, 3);
        if (set.n == 2) CHECK_INT(set.items[1].id, 4);
        simpleqa_free(&set);
        static const char no_column[] = "metadata,question,answer\nx,y,z\n";
        CHECK_INT(simpleqa_parse(&set, no_column, sizeof no_column - 1, "s.csv", 0, &err), -1);
        CHECK_STR(err.msg, "s.csv: no column 'problem' in the header");
        CHECK_INT(simpleqa_load(&set, "/nonexistent/s.csv", 0, &err), -1);
        CHECK(strncmp(err.msg, "/nonexistent/s.csv: ", 20) == 0);
    }
}

/* A set whose topics have the given sizes (topic names "T0", "T1", ...). */
static simpleqa_set fake_set(const size_t *sizes, size_t n_topics) {
    simpleqa_set set = {0};
    size_t total = 0;
    for (size_t t = 0; t < n_topics; t++) total += sizes[t];
    set.items = calloc(total, sizeof *set.items);
    for (size_t t = 0, i = 0; t < n_topics; t++)
        for (size_t k = 0; k < sizes[t]; k++, i++) {
            char name[24];
            snprintf(name, sizeof name, "T%zu", t);
            set.items[(i * 7) % total].topic = strdup(name); /* topics interleaved */
        }
    set.n = total;
    return set;
}

static void count_topics(const simpleqa_set *set, const size_t *idx, size_t n, size_t *counts) {
    memset(counts, 0, 4 * sizeof *counts);
    for (size_t i = 0; i < n; i++) counts[set->items[idx[i]].topic[1] - '0']++;
}

static void test_sampler(void) {
    TEST("sample: proportional quotas with largest remainders") {
        static const size_t sizes[4] = {50, 30, 15, 5};
        /* n = 10: 5, 3, 1.5, 0.5 -> 5, 3, 1, 0 + one left, tie C/D -> larger C.
           n = 7: 3.5, 2.1, 1.05, 0.35 -> 3, 2, 1, 0 + one left -> A (remainder .5). */
        static const struct { size_t n, want[4]; } cases[] = {
            {10, {5, 3, 2, 0}}, {7, {4, 2, 1, 0}}, {100, {50, 30, 15, 5}}, {1, {1, 0, 0, 0}}, {0, {0, 0, 0, 0}}};
        simpleqa_set set = fake_set(sizes, 4);
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
            size_t *idx, n, counts[4];
            es_error err;
            CHECK_INT(simpleqa_sample(&set, cases[c].n, 7, &idx, &n, &err), 0);
            CHECK_INT(n, cases[c].n);
            count_topics(&set, idx, n, counts);
            for (int t = 0; t < 4; t++) CHECKF(counts[t] == cases[c].want[t], "n %zu topic %d: %zu", cases[c].n, t, counts[t]);
            for (size_t i = 1; i < n; i++) CHECK(idx[i - 1] < idx[i]); /* file order, distinct */
            free(idx);
        }
        simpleqa_free(&set);
    }
    TEST("sample: deterministic in the seed") {
        static const size_t sizes[3] = {40, 40, 20};
        simpleqa_set set = fake_set(sizes, 3);
        size_t *a, *b, *c, na, nb, nc, *all, nall;
        es_error err;
        simpleqa_sample(&set, 10, 1, &a, &na, &err);
        simpleqa_sample(&set, 10, 1, &b, &nb, &err);
        simpleqa_sample(&set, 10, 2, &c, &nc, &err);
        CHECK(na == 10 && nb == 10 && nc == 10);
        CHECK(memcmp(a, b, 10 * sizeof *a) == 0);
        CHECK(memcmp(a, c, 10 * sizeof *a) != 0);
        CHECK_INT(simpleqa_sample(&set, 1000, 1, &all, &nall, &err), 0);
        CHECK_INT(nall, 100);
        for (size_t i = 0; i < nall; i++) CHECK_INT(all[i], i);
        free(a), free(b), free(c), free(all);
        simpleqa_free(&set);
    }
}

/* ---------------------------------------------------------------- GSM8K -- */

static void test_gsm8k_parse(void) {
    static const char data[] =
        "{\"question\": \"Q1?\", \"answer\": \"2*3=<<2*3=6>>6 apples.\\nThen 6+1=<<6+1=7>>7.\\n#### 7\"}\r\n"
        "\n"
        "{\"question\": \"Q2?\", \"answer\": \"It is big.\\n#### 1,234\"}\n"
        "{\"question\": \"Q3?\", \"answer\": \"Lost.\\n#### -5\"}";
    TEST("gsm8k: lines, numeric answers, exemplars") {
        gsm8k_set set;
        es_error err;
        CHECK_INT(gsm8k_parse(&set, data, sizeof data - 1, "g.jsonl", 0, &err), 0);
        CHECK_INT(set.n, 3);
        if (set.n == 3) {
            CHECK_STR(set.items[0].final, "7");
            CHECK_STR(set.items[1].final, "1234");
            CHECK_STR(set.items[2].final, "-5");
            CHECK_INT(set.items[1].line, 3);
            CHECK_STR(set.items[2].question, "Q3?");
            char *ex = gsm8k_exemplar_answer(&set.items[0]);
            CHECK_STR(ex, "2*3=6 apples.\nThen 6+1=7.\nThe final answer is 7");
            free(ex);
            ex = gsm8k_exemplar_answer(&set.items[1]);
            CHECK_STR(ex, "It is big.\nThe final answer is 1234");
            free(ex);
        }
        size_t *idx;
        CHECK_INT(gsm8k_fewshot(&set, 2, 0, 0, &idx, &err), 0);
        CHECK(idx[0] == 0 && idx[1] == 1);
        free(idx);
        CHECK_INT(gsm8k_fewshot(&set, 4, 0, 0, &idx, &err), -1);
        CHECK_STR(err.msg, "few-shot: 4 exemplars asked, the training set has 3");
        gsm8k_free(&set);
    }
    static const struct { const char *line, *message; } bad[] = {
        {"{\"question\": \"Q\", \"answer\": \"#### 1\"}\nnot json\n", "g.jsonl:2: not a JSON object"},
        {"[1, 2]\n", "g.jsonl:1: not a JSON object"},
        {"{\"question\": 5, \"answer\": \"#### 1\"}\n", "g.jsonl:1: no string \"question\" and \"answer\""},
        {"\n\n{\"question\": \"Q\", \"answer\": \"no marker\"}\n", "g.jsonl:3: the answer does not end with \"#### N\""},
        {"{\"question\": \"Q\", \"answer\": \"#### five\"}\n", "g.jsonl:1: the answer does not end with \"#### N\""},
    };
    TEST("gsm8k: malformed lines, skip-bad") {
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            gsm8k_set set;
            es_error err;
            CHECKF(gsm8k_parse(&set, bad[i].line, strlen(bad[i].line), "g.jsonl", 0, &err) == -1, "case %zu", i);
            CHECKF(strcmp(err.msg, bad[i].message) == 0, "case %zu: %s", i, err.msg);
            CHECK_INT(gsm8k_parse(&set, bad[i].line, strlen(bad[i].line), "g.jsonl", 1, &err), 0);
            CHECKF(set.n_skipped == 1, "case %zu: skipped %ld", i, set.n_skipped);
            gsm8k_free(&set);
        }
    }
    TEST("gsm8k: seeded few-shot choice") {
        gsm8k_set set = {0};
        set.n = 50;
        size_t *a, *b;
        es_error err;
        CHECK_INT(gsm8k_fewshot(&set, 8, 1, 42, &a, &err), 0);
        CHECK_INT(gsm8k_fewshot(&set, 8, 1, 42, &b, &err), 0);
        CHECK(memcmp(a, b, 8 * sizeof *a) == 0);
        int seen[50] = {0}, first_k = 1;
        for (int i = 0; i < 8; i++) {
            CHECK(a[i] < 50 && !seen[a[i]]);
            if (a[i] < 50) seen[a[i]] = 1;
            first_k &= a[i] == (size_t)i;
        }
        CHECK(!first_k);
        free(a), free(b);
    }
}

/* ------------------------------------------------------- the real files -- */

static void test_real_simpleqa(void) {
    /* counts from Python's csv.DictReader and ast.literal_eval */
    static const struct { const char *topic; size_t count; } topics[] = {
        {"Science and technology", 858}, {"Politics", 709}, {"Art", 550}, {"Other", 475},
        {"Geography", 424}, {"Sports", 368}, {"Music", 341}, {"TV shows", 293},
        {"History", 173}, {"Video games", 135}};
    static const struct { const char *type; size_t count; } types[] = {
        {"Date", 1418}, {"Person", 1041}, {"Other", 777}, {"Number", 663}, {"Place", 427}};
    TEST("real: SimpleQA parses completely") {
        const char *path = test_shared("datasets/simpleqa/simple_qa_test_set.csv");
        if (!path) continue;
        simpleqa_set set;
        es_error err = {{0}};
        CHECKF(simpleqa_load(&set, path, 0, &err) == 0, "%s", err.msg);
        CHECK_INT(set.n, 4326);
        CHECK_INT(set.n_skipped, 0);
        size_t sum = 0;
        for (size_t t = 0; t < sizeof topics / sizeof topics[0]; t++) {
            size_t c = 0;
            for (size_t i = 0; i < set.n; i++) c += strcmp(set.items[i].topic, topics[t].topic) == 0;
            CHECKF(c == topics[t].count, "%s: %zu", topics[t].topic, c);
            sum += c;
        }
        CHECK_INT(sum, set.n);
        for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
            size_t c = 0;
            for (size_t i = 0; i < set.n; i++) c += strcmp(set.items[i].answer_type, types[t].type) == 0;
            CHECKF(c == types[t].count, "%s: %zu", types[t].type, c);
        }
        if (set.n == 4326) {
            CHECK_STR(set.items[0].answer, "Michio Sugeno");
            CHECK_STR(set.items[2].problem, "What's the name of the women's liberal arts college in Cambridge, Massachusetts?");
            CHECK_STR(set.items[4325].answer, "A piano");
        }
        size_t *idx, n, per_topic[10] = {0};
        CHECK_INT(simpleqa_sample(&set, 100, 3, &idx, &n, &err), 0);
        CHECK_INT(n, 100);
        for (size_t i = 0; i < n; i++)
            for (size_t t = 0; t < 10; t++) per_topic[t] += strcmp(set.items[idx[i]].topic, topics[t].topic) == 0;
        for (size_t t = 0; t < 10; t++) { /* within 1 of the proportional share */
            double share = 100.0 * (double)topics[t].count / 4326.0;
            CHECKF(fabs((double)per_topic[t] - share) < 1.0, "%s: %zu for %.2f", topics[t].topic, per_topic[t], share);
        }
        free(idx);
        simpleqa_free(&set);
    }
}

static void test_real_gsm8k(void) {
    TEST("real: GSM8K parses completely") {
        const char *test_path = test_shared("datasets/gsm8k/test.jsonl");
        const char *train_path = test_shared("datasets/gsm8k/train.jsonl");
        if (!test_path || !train_path) continue;
        /* from Python's json: 1,319 and 7,473 items; sums of the numbers after #### */
        static const struct { const char *which; size_t n; long long sum; } want[2] = {
            {"test", 1319, 9009187}, {"train", 7473, 403114874}};
        for (int k = 0; k < 2; k++) {
            gsm8k_set set;
            es_error err = {{0}};
            CHECKF(gsm8k_load(&set, k ? train_path : test_path, 0, &err) == 0, "%s", err.msg);
            CHECK_INT(set.n, want[k].n);
            long long sum = 0;
            for (size_t i = 0; i < set.n; i++) sum += atoll(set.items[i].final);
            CHECKF(sum == want[k].sum, "%s: sum %lld", want[k].which, sum);
            if (k == 0 && set.n == 1319) CHECK_STR(set.items[0].final, "18");
            for (size_t i = 0; k == 1 && i < set.n; i++) { /* every exemplar is clean */
                char *ex = gsm8k_exemplar_answer(&set.items[i]);
                char tail[NUMBER_TEXT_MAX + 32];
                snprintf(tail, sizeof tail, "\nThe final answer is %s", set.items[i].final);
                size_t n = strlen(ex), m = strlen(tail);
                CHECKF(n > m && strcmp(ex + n - m, tail) == 0 && !strstr(ex, "<<") && !strstr(ex, "####"), "train %zu", i);
                free(ex);
            }
            gsm8k_free(&set);
        }
    }
}

void suite_study(void) {
    test_csv_valid();
    test_csv_malformed();
    test_csv_roundtrip();
    test_pydict();
    test_simpleqa_parse();
    test_sampler();
    test_gsm8k_parse();
    study_text_tests();
    test_real_simpleqa();
    test_real_gsm8k();
}
