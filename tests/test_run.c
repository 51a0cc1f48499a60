/* Tests of `entroscope run` and `entroscope merge`, run as a user runs them
 * (the binary in ENTROSCOPE_BIN) on stories260K, with the real data sets
 * of ../shared/datasets where present and small hand-written ones
 * otherwise. What the tests compare is the database itself: the items
 * (key, output, stop reason, labels) and the exported token and head rows,
 * byte for byte, between runs that must agree (killed and resumed vs
 * uninterrupted, shards merged vs unsharded, prefix reused vs not). */
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli_run.h"
#include "entroscope.h"
#include "mock_http.h"
#include "test.h"

/* ------------------------------------------------------------ helpers -- */

static const char *tmp_path(char *buf, const char *name) {
    snprintf(buf, 512, "%.300s/run-%s", test_tmpdir(), name);
    return buf;
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

static void remove_db(const char *path) {
    char side[600];
    unlink(path);
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
}

/* Appends each row of sql as "col|col|...\n" (at most cap bytes). */
static void dump(const char *db_path, const char *sql, char *out, size_t cap) {
    out[0] = 0;
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    size_t len = 0;
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
        while (sqlite3_step(st) == SQLITE_ROW)
            for (int c = 0; c < sqlite3_column_count(st); c++) {
                const unsigned char *v = sqlite3_column_text(st, c);
                int n = snprintf(out + len, cap - len, "%s%s", v ? (const char *)v : "NULL",
                                 c + 1 < sqlite3_column_count(st) ? "|" : "\n");
                if (n > 0 && (size_t)n < cap - len) len += (size_t)n;
            }
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static long count_rows(const char *db_path, const char *sql) {
    char buf[64];
    dump(db_path, sql, buf, sizeof buf);
    return buf[0] ? atol(buf) : -1;
}

/* The whole export (tokens or heads, CSV) of a database, malloc'd. */
static char *export_all(const char *db_path, const char *what) {
    char out[512];
    snprintf(out, sizeof out, "%s.%s.csv", db_path, what);
    es_error err;
    if (es_trace_export(db_path, what, "csv", out, 0, &err) < 0) return NULL;
    char *buf = test_read_file(out);
    unlink(out);
    return buf;
}

static const char *ITEMS_SQL =
    "SELECT key, idx, stop_reason, n_prompt, n_generated, output, labels FROM items ORDER BY idx";

/* Two databases hold the same items and the same token and head rows. */
static void check_same_items(const char *a, const char *b) {
    static char da[1 << 16], db[1 << 16];
    dump(a, ITEMS_SQL, da, sizeof da);
    dump(b, ITEMS_SQL, db, sizeof db);
    CHECKF(da[0] && strcmp(da, db) == 0, "items of %s and %s differ:\n%s---\n%s", a, b, da, db);
    const char *whats[2] = {"tokens", "heads"};
    for (int w = 0; w < 2; w++) {
        char *ea = export_all(a, whats[w]), *eb = export_all(b, whats[w]);
        CHECKF(ea && eb && strlen(ea) > 100 && strcmp(ea, eb) == 0, "%s rows of %s and %s differ",
               whats[w], a, b);
        free(ea);
        free(eb);
    }
}

/* The error output is one line "entroscope: ..." containing want. */
static void check_one_line(const run_result *r, const char *want) {
    CHECKF(r->status == 2, "status %d, stderr: %s", r->status, r->err);
    const char *nl = strchr(r->err, '\n');
    CHECKF(strncmp(r->err, "entroscope: ", 12) == 0 && nl && nl[1] == 0, "not one line: %s", r->err);
    CHECKF(strstr(r->err, want) != NULL, "'%s' not in: %s", want, r->err);
}

/* Small data sets of our own, so that every test runs without ../shared. */
static const char *SIMPLEQA_CSV =
    "metadata,problem,answer\n"
    "\"{'topic': 'Geography', 'answer_type': 'Place'}\",What is the capital of France?,Paris\n"
    "\"{'topic': 'Art', 'answer_type': 'Person'}\",\"Who painted \"\"Guernica\"\", the mural?\",Pablo Picasso\n"
    "\"{'topic': 'History', 'answer_type': 'Date'}\",\"In which year did the war end,\nif it ended?\",1945\n"
    "\"{'topic': 'Geography', 'answer_type': 'Number'}\",How many rivers cross the town?,3\n"
    "\"{'topic': 'Music', 'answer_type': 'Person'}\",Who wrote the song?,Tom\n"
    "\"{'topic': 'Art', 'answer_type': 'Place'}\",Where is the museum?,Madrid\n";

static const char *GSM8K_JSONL =
    "{\"question\": \"Tom has 3 apples and buys 4 more. How many apples does he have?\", \"answer\": \"He has 3+4=<<3+4=7>>7 apples.\\n#### 7\"}\n"
    "{\"question\": \"A cat sleeps 12 hours a day. How many hours in 2 days?\", \"answer\": \"12*2=<<12*2=24>>24\\n#### 24\"}\n"
    "{\"question\": \"Lily had 10 toys and gave 4 away. How many are left?\", \"answer\": \"10-4=<<10-4=6>>6\\n#### 6\"}\n"
    "{\"question\": \"Sam reads 5 pages a day for 6 days. How many pages?\", \"answer\": \"5*6=<<5*6=30>>30\\n#### 30\"}\n"
    "{\"question\": \"A box holds 8 balls. How many balls in 3 boxes?\", \"answer\": \"8*3=<<8*3=24>>24\\n#### 24\"}\n";

typedef struct fixture {
    const char *model;
    char simpleqa[1100], gsm8k[1100], train[1100];
    int real_data; /* 1: the ../shared data sets */
} fixture;

static int setup(fixture *fx) {
    fx->model = test_shared("models/stories260K/stories260K.gguf");
    if (!fx->model) return 0;
    /* test_shared would count a skip: look without it */
    char probe[1024];
    const char *root = getenv("ENTROSCOPE_SHARED");
    snprintf(probe, sizeof probe, "%s/datasets/simpleqa/simple_qa_test_set.csv", root && root[0] ? root : "../shared");
    fx->real_data = access(probe, R_OK) == 0;
    if (fx->real_data) {
        snprintf(fx->simpleqa, sizeof fx->simpleqa, "%s", probe);
        snprintf(fx->gsm8k, sizeof fx->gsm8k, "%s/datasets/gsm8k/test.jsonl", root && root[0] ? root : "../shared");
        snprintf(fx->train, sizeof fx->train, "%s/datasets/gsm8k/train.jsonl", root && root[0] ? root : "../shared");
    } else {
        write_file(tmp_path(fx->simpleqa, "qa.csv"), SIMPLEQA_CSV);
        write_file(tmp_path(fx->gsm8k, "gsm.jsonl"), GSM8K_JSONL);
        write_file(tmp_path(fx->train, "train.jsonl"), GSM8K_JSONL);
    }
    return 1;
}

/* Runs `entroscope run` with the common options first. */
static void run_study(run_result *r, const fixture *fx, const char *study, const char *db,
                      const char *const *more) {
    const char *args[48] = {"run", study, "-m", fx->model, "-o", db, "-t", "1", "-n", "16", "--no-grade"};
    int n = 11;
    for (int i = 0; more && more[i] && n < 47; i++) args[n++] = more[i];
    args[n] = NULL;
    cli_run(r, args);
}

/* -------------------------------------------------------------- tests -- */

static void test_each_study(const fixture *fx) {
    TEST("run: each study with --limit 5 completes, labels from the data set") {
        char db[512];
        run_result r;
        const char *studies[3] = {"factual-creative", "simpleqa", "gsm8k"};
        for (int s = 0; s < 3; s++) {
            remove_db(tmp_path(db, "each.db"));
            const char *qa[] = {"--data", fx->simpleqa, "--limit", "5", NULL};
            const char *gsm[] = {"--data", fx->gsm8k, "--limit", "5", "--fewshot-from", fx->train,
                                 "--shots", "1", NULL};
            const char *fc[] = {"--limit", "5", NULL};
            run_study(&r, fx, studies[s], db, s == 0 ? fc : s == 1 ? qa : gsm);
            CHECKF(r.status == 0, "%s: status %d: %s", studies[s], r.status, r.err);
            CHECK_INT(count_rows(db, "SELECT count(*) FROM items"), 5);
            /* progress lines (stderr is no terminal here) and the summary */
            CHECKF(strstr(r.err, "run: 5/5 items") && strstr(r.err, "5 items done"), "%s", r.err);
            /* one token row per prompt position and generated token */
            CHECK_INT(count_rows(db, "SELECT sum(n_prompt + n_generated) = (SELECT count(*) FROM tokens)"
                                     " FROM items"), 1);
        }
        /* the last database is gsm8k's: Janet's ducks, "#### 18" (or Tom's apples, 7) */
        char labels[4096];
        dump(db, "SELECT json_extract(labels, '$.study'), json_extract(labels, '$.id'),"
                 " json_extract(labels, '$.gold'), key FROM items WHERE idx = 0", labels, sizeof labels);
        CHECK_STR(labels, fx->real_data ? "gsm8k|0|18|0\n" : "gsm8k|0|7|0\n");
        /* the exemplar is in the prompt as the format says */
        dump(db, "SELECT instr(prompt, 'Question: ') = 1, instr(prompt, 'The final answer is ') > 0,"
                 " instr(prompt, '<<') = 0, substr(prompt, -8) FROM items WHERE idx = 0", labels, sizeof labels);
        CHECK_STR(labels, "1|1|1|\nAnswer:\n");
    }
}

static void test_labels(const fixture *fx) {
    TEST("run: item labels and keys (simpleqa, factual-creative)") {
        char db[512], buf[4096];
        run_result r;
        remove_db(tmp_path(db, "labels.db"));
        const char *qa[] = {"--data", fx->simpleqa, "--limit", "2", "-n", "2", NULL};
        run_study(&r, fx, "simpleqa", db, qa);
        CHECKF(r.status == 0, "%s", r.err);
        dump(db, "SELECT key, json_extract(labels, '$.study'), json_extract(labels, '$.topic'),"
                 " json_extract(labels, '$.answer_type'), json_extract(labels, '$.index') FROM items ORDER BY idx",
             buf, sizeof buf);
        CHECK_STR(buf, fx->real_data ? "0|simpleqa|Science and technology|Person|0\n1|simpleqa|Science and technology|Person|1\n"
                                     : "0|simpleqa|Geography|Place|0\n1|simpleqa|Art|Person|1\n");
        /* factual-creative: the shipped sets interleaved, keys CATEGORY:LINE */
        remove_db(db);
        const char *fc[] = {"--limit", "3", "-n", "2", NULL};
        run_study(&r, fx, "factual-creative", db, fc);
        CHECKF(r.status == 0, "%s", r.err);
        dump(db, "SELECT key, json_extract(labels, '$.category'), prompt FROM items ORDER BY idx", buf, sizeof buf);
        CHECK_STR(buf, "factual:1|factual|In what year did the Berlin Wall fall?\n"
                       "creative:1|creative|Write a short story about a lighthouse keeper who finds a letter in a bottle.\n"
                       "factual:2|factual|What is the capital city of Australia?\n");
    }
}

/* Starts the binary with args and waits; returns its wait status. */
static int run_killed(const fixture *fx, const char *db, const char *const *more) {
    run_result r;
    run_study(&r, fx, "simpleqa", db, more);
    return r.status;
}

static void test_resume(const fixture *fx) {
    TEST("run: killed by SIGKILL mid-item, --resume gives the uninterrupted run's items") {
        char full[512], part[512];
        run_result r;
        remove_db(tmp_path(full, "full.db"));
        remove_db(tmp_path(part, "part.db"));
        /* sampled (temperature 1): each item's seed must not depend on what ran before */
        const char *opts[] = {"--data", fx->simpleqa, "--limit", "5", "--temp", "1", "--seed", "7", NULL};
        run_study(&r, fx, "simpleqa", full, opts);
        CHECKF(r.status == 0, "%s", r.err);
        /* 16 tokens an item: killed in the middle of the third */
        const char *killed[] = {"--data", fx->simpleqa, "--limit", "5", "--temp", "1", "--seed", "7",
                                "--kill-after-tokens", "40", NULL};
        CHECK(run_killed(fx, part, killed) == -1);
        CHECK_INT(count_rows(part, "SELECT count(*) FROM items"), 2);
        CHECK_INT(count_rows(part, "SELECT count(*) FROM tokens WHERE item_id NOT IN (SELECT id FROM items)"), 0);
        /* without --resume: refused, with a hint */
        run_study(&r, fx, "simpleqa", part, opts);
        check_one_line(&r, "--resume");
        const char *resume[] = {"--data", fx->simpleqa, "--limit", "5", "--temp", "1", "--seed", "7",
                                "--resume", NULL};
        run_study(&r, fx, "simpleqa", part, resume);
        CHECKF(r.status == 0 && strstr(r.err, "3 items done") && strstr(r.err, "2 were done before"), "%s", r.err);
        check_same_items(full, part);
        /* resuming a finished run does nothing; other settings are refused */
        run_study(&r, fx, "simpleqa", part, resume);
        CHECKF(r.status == 0 && strstr(r.err, "0 items done"), "%s", r.err);
        const char *other[] = {"--data", fx->simpleqa, "--limit", "5", "--temp", "1", "--seed", "8",
                               "--resume", NULL};
        run_study(&r, fx, "simpleqa", part, other);
        check_one_line(&r, "seed differs");
        CHECK_INT(count_rows(part, "SELECT count(*) FROM runs"), 1);
        /* the kernel set is recorded, and another one is refused... */
        char want[64];
        snprintf(want, sizeof want, "SELECT json_extract(settings, '$.kernels') = '%s' FROM runs",
                 es_kernels_name(es_kernels_resolve(ES_KERNELS_BEST)));
        CHECK_INT(count_rows(part, want), 1);
        const char *portable[] = {"--data", fx->simpleqa, "--limit", "5", "--temp", "1", "--seed", "7",
                                  "--resume", "--kernels", "portable", NULL};
        if (es_kernels_resolve(ES_KERNELS_BEST) != ES_KERNELS_PORTABLE) {
            run_study(&r, fx, "simpleqa", part, portable);
            check_one_line(&r, "kernels differs");
        }
        /* ...unless the run is older than the record: then it resumes whatever the set */
        sqlite3 *db = NULL;
        CHECK(sqlite3_open(part, &db) == SQLITE_OK &&
              sqlite3_exec(db, "UPDATE runs SET settings = json_remove(settings, '$.kernels')", NULL, NULL,
                           NULL) == SQLITE_OK);
        sqlite3_close(db);
        run_study(&r, fx, "simpleqa", part, portable);
        CHECKF(r.status == 0 && strstr(r.err, "0 items done"), "%s", r.err);
    }
}

static void test_shards(const fixture *fx) {
    TEST("run: two shards merged equal the unsharded run") {
        char whole[512], s1[512], s2[512], merged[512];
        run_result r;
        const char *dbs[4] = {tmp_path(whole, "whole.db"), tmp_path(s1, "s1.db"), tmp_path(s2, "s2.db"),
                              tmp_path(merged, "merged.db")};
        for (int i = 0; i < 4; i++) remove_db(dbs[i]);
        const char *opts[3][9] = {
            {"--limit", "5", "--seed", "3", NULL},
            {"--limit", "5", "--seed", "3", "--shard", "1/2", NULL},
            {"--limit", "5", "--seed", "3", "--shard", "2/2", NULL},
        };
        for (int i = 0; i < 3; i++) {
            run_study(&r, fx, "factual-creative", dbs[i], opts[i]);
            CHECKF(r.status == 0, "%s", r.err);
        }
        CHECK_INT(count_rows(s1, "SELECT count(*) FROM items"), 3);
        CHECK_INT(count_rows(s2, "SELECT count(*) FROM items"), 2);
        const char *merge[] = {"merge", s2, s1, "-o", merged, NULL};
        cli_run(&r, merge);
        CHECKF(r.status == 0 && strstr(r.err, "5 items"), "%s", r.err);
        check_same_items(whole, merged);
        /* every item was timed by es_generate; the merge keeps each item's times */
        CHECK_INT(count_rows(whole, "SELECT count(*) FROM item_times WHERE prefill_s >= 0 AND decode_s > 0"), 5);
        CHECK_INT(count_rows(merged, "SELECT count(*) FROM item_times t JOIN items i ON i.id = t.item_id"), 5);
        char buf[2048];
        dump(merged, "SELECT count(*), json_extract(settings, '$.shard') FROM runs", buf, sizeof buf);
        CHECK_STR(buf, "1|NULL\n");
        /* the same shard twice, and mismatched settings, are refused */
        const char *twice[] = {"merge", s1, s1, "-o", merged, NULL};
        cli_run(&r, twice);
        check_one_line(&r, "the same shard twice");
        const char *other_opts[] = {"--limit", "5", "--seed", "4", "--shard", "2/2", NULL};
        remove_db(s2);
        run_study(&r, fx, "factual-creative", s2, other_opts);
        const char *mismatch[] = {"merge", s1, s2, "-o", merged, NULL};
        cli_run(&r, mismatch);
        check_one_line(&r, "(seed)");
        /* the earlier merged file is untouched by the failed merges */
        check_same_items(whole, merged);
    }
}

static void test_prefix(const fixture *fx) {
    TEST("run: the shared prefix's cache reused gives bit-identical items") {
        char with[512], without[512];
        run_result r;
        for (int study = 0; study < 2; study++) {
            remove_db(tmp_path(with, "prefix.db"));
            remove_db(tmp_path(without, "noprefix.db"));
            const char *fc[] = {"--limit", "4", "--seed", "5", "--system", "Tell a story for a child.", NULL};
            const char *gsm[] = {"--data", fx->gsm8k, "--limit", "3", "--fewshot-from", fx->train,
                                 "--shots", "1", "-c", "512", NULL};
            const char *name = study ? "gsm8k" : "factual-creative";
            run_study(&r, fx, name, with, study ? gsm : fc);
            CHECKF(r.status == 0 && strstr(r.err, "a shared prefix of"), "%s", r.err);
            CHECKF(!strstr(r.err, "reused by 0 items"), "%s", r.err);
            const char *no_fc[] = {"--limit", "4", "--seed", "5", "--system", "Tell a story for a child.",
                                   "--no-prefix-cache", NULL};
            const char *no_gsm[] = {"--data", fx->gsm8k, "--limit", "3", "--fewshot-from", fx->train,
                                    "--shots", "1", "-c", "512", "--no-prefix-cache", NULL};
            run_study(&r, fx, name, without, study ? no_gsm : no_fc);
            CHECKF(r.status == 0 && !strstr(r.err, "shared prefix"), "%s", r.err);
            check_same_items(with, without);
        }
    }
}

/* A chat model (the Llama 3 vocabulary and template on random weights):
 * few-shot exemplars as turns, the prefix reused across the template. */
static void test_chat(const fixture *fx) {
    TEST("run: gsm8k as chat turns, the prefix reused bit for bit") {
        const char *vocab = test_shared("tokenizers/llama3/tokenizer.json");
        if (!vocab) continue;
        char model[512], with[512], without[512], buf[4096];
        run_result r;
        const char *synth[] = {"synth", "--preset", "tiny", "--vocab-from", vocab, "--type", "f16",
                               "--ctx", "2048", "-o", tmp_path(model, "l3.gguf"), NULL};
        cli_run(&r, synth);
        CHECKF(r.status == 0, "%s", r.err);
        fixture chat = *fx;
        chat.model = model;
        remove_db(tmp_path(with, "chat.db"));
        remove_db(tmp_path(without, "chat-noprefix.db"));
        const char *opts[] = {"--data", fx->gsm8k, "--fewshot-from", fx->train, "--shots", "2",
                              "--limit", "3", "-n", "8", "--system", "Solve it.", NULL};
        run_study(&r, &chat, "gsm8k", with, opts);
        CHECKF(r.status == 0 && strstr(r.err, "reused by 3 items"), "%s", r.err);
        const char *no[] = {"--data", fx->gsm8k, "--fewshot-from", fx->train, "--shots", "2",
                            "--limit", "3", "-n", "8", "--system", "Solve it.", "--no-prefix-cache", NULL};
        run_study(&r, &chat, "gsm8k", without, no);
        CHECKF(r.status == 0, "%s", r.err);
        check_same_items(with, without);
        dump(with, "SELECT instr(prompt, '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nSolve it.<|eot_id|>') = 1,"
                   " (length(prompt) - length(replace(prompt, '<|start_header_id|>user', ''))) / 23,"
                   " substr(prompt, -28) FROM items WHERE idx = 0", buf, sizeof buf);
        CHECK_STR(buf, "1|3|assistant<|end_header_id|>\n\n\n");
    }
}

static void test_malformed(const fixture *fx) {
    TEST("run: malformed inputs and arguments give one clear line") {
        char db[512], bad[512];
        run_result r;
        remove_db(tmp_path(db, "bad.db"));
        write_file(tmp_path(bad, "bad.csv"), "metadata,problem,answer\n"
                   "\"{'topic': 'Art', 'answer_type': 'Person'}\",Who?,Bob\n"
                   "\"{'topic': 'Art'}\",Who?,Bob,extra\n");
        const char *qa[] = {"--data", bad, NULL};
        run_study(&r, fx, "simpleqa", db, qa);
        check_one_line(&r, "bad.csv:3:");
        const char *skip[] = {"--data", bad, "--skip-bad", "-n", "2", NULL};
        run_study(&r, fx, "simpleqa", db, skip);
        CHECKF(r.status == 0 && strstr(r.err, "1 malformed records skipped"), "%s", r.err);
        remove_db(db);
        write_file(tmp_path(bad, "bad.jsonl"), "{\"question\": \"a\", \"answer\": \"b #### 3\"}\n{\"question\": 5\n");
        const char *gsm[] = {"--data", bad, NULL};
        run_study(&r, fx, "gsm8k", db, gsm);
        check_one_line(&r, "bad.jsonl:2:");
        write_file(tmp_path(bad, "empty.txt"), "\n  \n");
        const char *empty[] = {"--prompts", bad, NULL};
        run_study(&r, fx, "factual-creative", db, empty);
        check_one_line(&r, "empty.txt: no prompts");
        const char *shard[] = {"--shard", "3/2", NULL};
        run_study(&r, fx, "factual-creative", db, shard);
        check_one_line(&r, "--shard");
        const char *shard2[] = {"--shard", "1-2", NULL};
        run_study(&r, fx, "factual-creative", db, shard2);
        check_one_line(&r, "is not I/N");
        run_study(&r, fx, "trivia", db, NULL);
        check_one_line(&r, "unknown study 'trivia'");
        run_study(&r, fx, "gsm8k", db, NULL);
        check_one_line(&r, "--data");
        const char *shots[] = {"--data", fx->gsm8k, "--shots", "2", NULL};
        run_study(&r, fx, "gsm8k", db, shots);
        check_one_line(&r, "--fewshot-from");
        const char *chat[] = {"--chat", NULL};
        run_study(&r, fx, "factual-creative", db, chat);
        check_one_line(&r, "no recognised chat template");
        write_file(tmp_path(bad, "not.db"), "this is no database at all, just some text............");
        const char *merge[] = {"merge", bad, "-o", db, NULL};
        cli_run(&r, merge);
        check_one_line(&r, "not.db");
        const char *merge_none[] = {"merge", "-o", db, NULL};
        cli_run(&r, merge_none);
        check_one_line(&r, "input");
    }
}

/* A Ctrl-C (SIGINT) stops after the item in flight; --resume finishes. */
static void test_interrupt(const fixture *fx) {
    TEST("run: SIGINT stops cleanly after the item in flight, --resume finishes") {
        char db[512], out[512];
        remove_db(tmp_path(db, "int.db"));
        tmp_path(out, "int.err");
        const char *argv[] = {cli_binary(), "run", "factual-creative", "-m", fx->model, "-o", db, "-t", "1",
                              "-n", "48", "--no-grade", NULL};
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            if (!freopen(out, "w", stderr)) _exit(127);
            execv(argv[0], (char *const *)argv);
            _exit(127);
        }
        /* wait for the first committed item, then interrupt */
        for (int i = 0; i < 4000 && count_rows(db, "SELECT count(*) FROM items") < 1; i++) {
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
        kill(pid, SIGINT);
        int st = 0;
        waitpid(pid, &st, 0);
        char err[4096] = "";
        FILE *f = fopen(out, "r");
        if (f) {
            err[fread(err, 1, sizeof err - 1, f)] = 0;
            fclose(f);
        }
        long n = count_rows(db, "SELECT count(*) FROM items");
        CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 1, "status %d: %s", st, err);
        CHECKF(strstr(err, "stopping after the item in flight") && strstr(err, "--resume continues"), "%s", err);
        CHECKF(n >= 1 && n < 200, "%ld items", n);
        run_result r;
        const char *resume[] = {"--limit", "12", "-n", "48", "--resume", NULL};
        run_study(&r, fx, "factual-creative", db, resume);
        CHECKF(r.status == 0, "%s", r.err);
        CHECK_INT(count_rows(db, "SELECT count(*) FROM items"), n > 12 ? n : 12);
    }
}

static char *judge_says_correct(void *user, int index, const char *body, int *status, int *delay_ms) {
    *status = 200;
    *delay_ms = 0;
    return mock_completion("CORRECT");
}

static void test_graded_at_end(const fixture *fx) {
    TEST("run: grades at the end, with the judge when --judge is given") {
        char db[512];
        remove_db(tmp_path(db, "graded.db"));
        mock_http *server = mock_http_start(judge_says_correct, NULL);
        CHECK(server != NULL);
        if (!server) return;
        const char *args[] = {"run", "simpleqa", "-m", fx->model, "-o", db, "-t", "1", "-n", "8",
                              "--data", fx->simpleqa, "--limit", "3", "--judge", mock_http_url(server),
                              "--judge-model", "mock", NULL};
        run_result r;
        cli_run(&r, args);
        CHECKF(r.status == 0, "status %d: %s", r.status, r.err);
        CHECK_INT(count_rows(db, "SELECT count(*) FROM grades WHERE grader = 'offline'"), 3);
        CHECK_INT(count_rows(db, "SELECT count(*) FROM grades WHERE grader = 'judge:mock'"
                                 " AND verdict = 'CORRECT'"), 3);
        CHECK_INT(mock_http_requests(server), 3);
        mock_http_stop(server);
    }
}

void suite_run(void) {
    fixture fx = {0};
    if (!setup(&fx)) return; /* no stories260K: skipped (test_shared says so) */
    if (!fx.real_data) printf("  (../shared/datasets absent: the tests' small data sets)\n");
    test_each_study(&fx);
    test_labels(&fx);
    test_resume(&fx);
    test_shards(&fx);
    test_prefix(&fx);
    test_chat(&fx);
    test_malformed(&fx);
    test_interrupt(&fx);
    test_graded_at_end(&fx);
}
