/* The world generator (`entroscope world`): determinism, what is held out
 * of the training corpus, the formats the studies read (facts.csv through
 * simpleqa_load, the word problems through gsm8k_load and every step
 * through the arithmetic checker), the prompts and the command line. */
#include "test.h"
#include "cli_run.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "study/arith.h"
#include "study/datasets.h"
#include "world/world.h"

static const char *const world_files[] = {"train.jsonl", "facts.csv", "sums.jsonl",
                                          "sums_train.jsonl", "factual.txt", "creative.txt",
                                          "world.json"};

static es_world_params small_params(uint64_t seed) {
    es_world_params p = es_world_default_params();
    p.seed = seed;
    p.n_known = 20;
    p.n_abstain = 10;
    p.n_unseen = 10;
    p.n_sums_train = 300;
    p.n_sums_eval = 60;
    p.n_stories = 50;
    return p;
}

static const char *world_path(const char *dir, const char *name) {
    static char buf[8][600];
    static int slot;
    char *p = buf[slot++ % 8];
    snprintf(p, 600, "%s/%s/%s", test_tmpdir(), dir, name);
    return p;
}

/* Writes the small world of seed into tmpdir/dir (once per dir). */
static int make_world(const char *dir, uint64_t seed) {
    es_world_params p = small_params(seed);
    es_error err;
    if (access(world_path(dir, "world.json"), F_OK) == 0) return 0;
    if (es_world_write(&p, world_path(dir, ""), &err)) {
        test_fail(__FILE__, __LINE__, "es_world_write: %s", err.msg);
        return -1;
    }
    return 0;
}

/* The training documents of train.jsonl (each malloc'ed, NULL-terminated). */
static char **read_documents(const char *dir, size_t *n) {
    char *data = test_read_file(world_path(dir, "train.jsonl"));
    size_t cap = 64;
    char **docs = malloc(cap * sizeof *docs);
    *n = 0;
    for (char *line = data, *nl; line && *line; line = nl + 1) {
        nl = strchr(line, '\n');
        if (!nl) break;
        *nl = '\0';
        cJSON *o = cJSON_Parse(line);
        cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "text");
        CHECK(cJSON_IsString(t));
        if (cJSON_IsString(t)) {
            if (*n + 2 > cap) docs = realloc(docs, (cap *= 2) * sizeof *docs);
            docs[(*n)++] = strdup(t->valuestring);
        }
        cJSON_Delete(o);
    }
    docs[*n] = NULL;
    free(data);
    return docs;
}

static void free_documents(char **docs) {
    for (size_t i = 0; docs[i]; i++) free(docs[i]);
    free(docs);
}

static size_t count_containing(char **docs, const char *s) {
    size_t n = 0;
    for (size_t i = 0; docs[i]; i++) n += strstr(docs[i], s) != NULL;
    return n;
}

static size_t count_equal(char **docs, const char *s) {
    size_t n = 0;
    for (size_t i = 0; docs[i]; i++) n += strcmp(docs[i], s) == 0;
    return n;
}

static void test_deterministic(void) {
    if (make_world("w3a", 3) || make_world("w3b", 3) || make_world("w4", 4)) return;
    for (int i = 0; i < 7; i++) {
        char *a = test_read_file(world_path("w3a", world_files[i]));
        char *b = test_read_file(world_path("w3b", world_files[i]));
        char *c = test_read_file(world_path("w4", world_files[i]));
        CHECKF(a && b && c, "%s missing", world_files[i]);
        if (a && b && c) {
            CHECKF(strcmp(a, b) == 0, "%s differs for the same seed", world_files[i]);
            CHECKF(strcmp(a, c) != 0, "%s is the same for seeds 3 and 4", world_files[i]);
        }
        free(a), free(b), free(c);
    }
}

/* The people as the generator made them (people_make is deterministic). */
static void held_out_person(char **docs, const world_person *p, uint64_t seed) {
    if (p->group == GROUP_UNSEEN) {
        CHECKF(count_containing(docs, p->name) == 0, "unseen %s in train.jsonl", p->name);
        return;
    }
    size_t n_bios = 0, n_with_name = count_containing(docs, p->name);
    for (int a = 0; a < N_ATTRS; a++) {
        char value[64], doc[512];
        person_attr(p, a, value, sizeof value);
        CHECK_INT(fact_held_out(p, a, seed), (p->index + a) % 3);
        for (int q = 0; q < 3; q++) {
            char *question = fact_question(p, a, q);
            snprintf(doc, sizeof doc, "Question: %s\nAnswer: %s", question,
                     p->group == GROUP_KNOWN ? value : "I don't know.");
            CHECK_INT(count_equal(docs, doc), q == fact_held_out(p, a, seed) ? 0 : 1);
            snprintf(doc, sizeof doc, "Question: %s\n", question);
            if (q == fact_held_out(p, a, seed)) CHECK_INT(count_containing(docs, doc), 0);
            free(question);
        }
    }
    for (size_t i = 0; docs[i]; i++) {
        if (!strstr(docs[i], p->name) || strncmp(docs[i], "Question: ", 10) == 0) continue;
        CHECKF(p->group == GROUP_KNOWN, "%s (abstain) outside a question: %s", p->name, docs[i]);
        n_bios++;
        for (int a = 0; a < N_ATTRS; a++) {
            char value[64];
            person_attr(p, a, value, sizeof value);
            CHECKF(strstr(docs[i], value) != NULL, "biography of %s lacks %s", p->name, value);
        }
    }
    CHECK_INT(n_bios, p->group == GROUP_KNOWN ? 3 : 0);
    CHECK_INT(n_with_name, n_bios + 10);
}

static void test_held_out(void) {
    if (make_world("w3a", 3)) return;
    es_world_params params = small_params(3);
    world_people w;
    es_error err;
    size_t n_docs;
    char **docs = read_documents("w3a", &n_docs);
    CHECK_INT(n_docs, 20 * 13 + 10 * 10 + 300 + 50);
    CHECK(people_make(&w, &params, &err) == 0);
    for (int i = 0; i < w.n; i++) held_out_person(docs, &w.p[i], params.seed);
    /* facts.csv: every row's question is the held-out phrasing */
    simpleqa_set set;
    CHECK(simpleqa_load(&set, world_path("w3a", "facts.csv"), 0, &err) == 0);
    CHECK_INT(set.n, 40 * 5);
    size_t topics[3] = {0};
    for (size_t i = 0; i < set.n && (int)(i / 5) < w.n; i++) {
        const world_person *p = &w.p[i / 5];
        int a = (int)(i % 5);
        char value[64], doc[512];
        person_attr(p, a, value, sizeof value);
        char *q = fact_question(p, a, fact_held_out(p, a, params.seed));
        CHECK_STR(set.items[i].problem, q);
        CHECK_STR(set.items[i].answer, value);
        CHECK_STR(set.items[i].topic, world_group_name[p->group]);
        CHECK_STR(set.items[i].answer_type, world_attr_type[a]);
        snprintf(doc, sizeof doc, "Question: %s\n", set.items[i].problem);
        CHECK_INT(count_containing(docs, doc), 0);
        free(q);
        for (int g = 0; g < 3; g++) topics[g] += strcmp(set.items[i].topic, world_group_name[g]) == 0;
    }
    CHECK_INT(topics[0], 100);
    CHECK_INT(topics[1], 50);
    CHECK_INT(topics[2], 50);
    simpleqa_free(&set);
    people_free(&w);
    free_documents(docs);
}

static int count_substr(const char *s, const char *t) {
    int n = 0;
    for (; (s = strstr(s, t)); s += strlen(t)) n++;
    return n;
}

/* One problem: every step right, the last one the final answer. Returns
 * the number of steps. */
static int check_problem(const gsm8k_item *item, char **docs) {
    char *solution = gsm8k_exemplar_answer(item);
    arith_calc *calcs = NULL;
    size_t n = 0;
    es_error err;
    CHECK(arith_check(solution, strlen(solution), &calcs, &n, &err) == 0);
    int steps = count_substr(item->answer, "<<");
    CHECKF((int)n == steps, "%zu calculations, %d annotations: %s", n, steps, solution);
    for (size_t i = 0; i < n; i++) CHECKF(calcs[i].status == ARITH_RIGHT, "wrong step in %s", solution);
    for (const char *q = item->question; *q; q++) /* the numbers given: 2-60 */
        if (*q >= '0' && *q <= '9' && (q == item->question || q[-1] < '0' || q[-1] > '9')) {
            long v = atol(q);
            CHECKF(v >= 2 && v <= 60, "%ld in %s", v, item->question);
        }
    long final = atol(item->final);
    if (n > 0) CHECK(calcs[n - 1].value_den == 1 && calcs[n - 1].value_num == final);
    CHECK(final >= 1 && final <= 999);
    size_t len = strlen(solution), tail = strlen("The final answer is ") + strlen(item->final);
    CHECK(len > tail && strcmp(solution + len - tail + strlen("The final answer is "), item->final) == 0);
    if (docs) {
        char doc[2048];
        snprintf(doc, sizeof doc, "Question: %s\nAnswer: %s", item->question, solution);
        CHECK_INT(count_equal(docs, doc), 1);
    }
    free(solution);
    free(calcs);
    return steps;
}

static void test_sums(void) {
    if (make_world("w3a", 3)) return;
    gsm8k_set train, eval;
    es_error err;
    size_t n_docs;
    char **docs = read_documents("w3a", &n_docs);
    CHECK(gsm8k_load(&train, world_path("w3a", "sums_train.jsonl"), 0, &err) == 0);
    CHECK(gsm8k_load(&eval, world_path("w3a", "sums.jsonl"), 0, &err) == 0);
    CHECK_INT(train.n, 300);
    CHECK_INT(eval.n, 60);
    int by_steps[4] = {0};
    world_set questions = {0};
    for (size_t i = 0; i < train.n; i++) {
        int s = check_problem(&train.items[i], docs);
        if (s >= 1 && s <= 3) by_steps[s]++;
        CHECK(set_add(&questions, train.items[i].question) == 1);
    }
    for (size_t i = 0; i < eval.n; i++) {
        int s = check_problem(&eval.items[i], NULL);
        if (s >= 1 && s <= 3) by_steps[s]++;
        CHECK(set_add(&questions, eval.items[i].question) == 1);
        char doc[1024];
        snprintf(doc, sizeof doc, "Question: %s\n", eval.items[i].question);
        CHECK_INT(count_containing(docs, doc), 0);
    }
    for (int s = 1; s <= 3; s++) CHECKF(by_steps[s] > 60, "%d problems of %d steps", by_steps[s], s);
    set_free(&questions);
    gsm8k_free(&train);
    gsm8k_free(&eval);
    free_documents(docs);
}

static int count_words(const char *s) {
    int n = 0, in = 0;
    for (; *s; s++) {
        n += *s != ' ' && !in;
        in = *s != ' ';
    }
    return n;
}

static void test_names_stories_prompts(void) {
    if (make_world("w3a", 3)) return;
    es_world_params params = small_params(3);
    params.n_known = 2000; /* many names, to find a clash */
    world_people w;
    es_error err;
    CHECK(people_make(&w, &params, &err) == 0);
    for (int i = 0; i < w.n; i++)
        for (int j = 0; j < w.n; j++)
            if (i != j) CHECKF(!strstr(w.p[i].name, w.p[j].name), "%s in %s", w.p[j].name, w.p[i].name);
    people_free(&w);
    size_t n_docs, n_stories = 0, n_other = 0;
    char **docs = read_documents("w3a", &n_docs);
    for (size_t i = 0; docs[i]; i++) {
        if (strncmp(docs[i], "Question: ", 10) == 0) continue;
        if (strncmp(docs[i], "Once upon a time", 16) != 0) {
            n_other++; /* the biographies */
            continue;
        }
        n_stories++;
        int words = count_words(docs[i]);
        CHECKF(words >= 60 && words <= 120, "%d words: %s", words, docs[i]);
    }
    CHECK_INT(n_stories, 50);
    CHECK_INT(n_other, 3 * 20);
    free_documents(docs);
    char *factual = test_read_file(world_path("w3a", "factual.txt"));
    char *creative = test_read_file(world_path("w3a", "creative.txt"));
    CHECK(factual && creative);
    if (factual && creative) {
        CHECK_INT(count_substr(factual, "\n"), 100);
        CHECK_INT(count_substr(creative, "\n"), 100);
        CHECK_INT(count_substr(creative, "Once upon a time"), 100);
        CHECK(factual[strlen(factual) - 1] == '\n' && !strstr(factual, " \n") && !strstr(factual, "\n\n"));
    }
    free(factual);
    free(creative);
}

static void test_bad_parameters(void) {
    es_world_params p = small_params(1);
    es_error err;
    p.n_stories = -1;
    CHECK(es_world_write(&p, world_path("bad", ""), &err) != 0);
    CHECK(strstr(err.msg, "count") != NULL);
    p = small_params(1);
    p.n_known = p.n_abstain = p.n_unseen = 0;
    CHECK(es_world_write(&p, world_path("bad", ""), &err) != 0);
    p = small_params(1);
    p.n_known = 1000000;
    CHECK(es_world_write(&p, world_path("bad", ""), &err) != 0);
    CHECK(strstr(err.msg, "people") != NULL);
    CHECK(access(world_path("bad", ""), F_OK) != 0); /* nothing written */
    /* a file where the folder should be */
    char afile[600];
    snprintf(afile, sizeof afile, "%s/afile", test_tmpdir());
    FILE *f = fopen(afile, "w");
    if (f) fclose(f);
    p = small_params(1);
    p.n_sums_train = p.n_sums_eval = p.n_stories = 5;
    CHECK(es_world_write(&p, world_path("afile", "sub"), &err) != 0);
    CHECK(strstr(err.msg, "afile") != NULL && !strchr(err.msg, '\n'));
}

static void test_cli(void) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/cli_world", test_tmpdir());
    run_result r;
    const char *ok[] = {"world", "--seed", "3", "-o", dir, "--known", "5", "--abstain", "2",
                        "--unseen", "2", "--sums-train", "20", "--sums-eval", "5", "--stories", "4",
                        NULL};
    cli_run(&r, ok);
    CHECKF(r.status == 0, "status %d: %s", r.status, r.err);
    CHECK(strstr(r.out, "documents") != NULL);
    for (int i = 0; i < 7; i++) {
        char path[600];
        snprintf(path, sizeof path, "%s/%s", dir, world_files[i]);
        CHECKF(access(path, F_OK) == 0, "%s missing", path);
    }
    const char *bad[][4] = {{"world", "--bogus", NULL}, {"world", "-o", dir, "--known"},
                            {"world", "--known", "-3", "-o"}, {"world", NULL}};
    bad[2][3] = dir;
    for (int i = 0; i < 4; i++) {
        const char *args[6] = {0};
        for (int k = 0; k < 4 && bad[i][k]; k++) args[k] = bad[i][k];
        cli_run(&r, args);
        CHECK_INT(r.status, 2);
        CHECK(r.out[0] == '\0');
        CHECKF(count_substr(r.err, "\n") == 1, "stderr: %s", r.err);
    }
    const char *help[] = {"world", "--help", NULL};
    cli_run(&r, help);
    CHECK_INT(r.status, 0);
    CHECK(strstr(r.out, "--sums-train") != NULL);
}

void suite_world(void) {
    TEST("world: the same seed gives the same files, another seed others") test_deterministic();
    TEST("world: evaluation questions and people are held out of the corpus") test_held_out();
    TEST("world: word problems load and every step checks") test_sums();
    TEST("world: names, stories and prompts") test_names_stories_prompts();
    TEST("world: bad parameters and folders fail in one line") test_bad_parameters();
    TEST("world: command line") test_cli();
}
