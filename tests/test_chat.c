/* Chat format tests: es_chat_template_name on template texts, and whole
 * token sequences from es_chat_tokenize compared with expected ones.
 *
 * Each expected sequence is written by hand as the text the model's chat
 * template renders (special tokens spelled out), read off the published
 * templates (Llama 3 Instruct, 3.1/3.2 Instruct, Llama 2 chat). The test
 * splits that text at the special tokens, which it maps to ids from its own
 * table, and tokenises the text between them with es_tokenize (checked
 * against reference vectors in suite_tokenizer). A few sequences are also
 * pinned as literal ids, which came from rendering the real templates with
 * Python's jinja2 (as transformers does) and tokenising the result with the
 * reference tokenizers (@huggingface/tokenizers for Llama 3,
 * sentencepiece-js per BOS/EOS-delimited run for Llama 2, as Meta's code
 * does). The template texts used here are short stand-ins of our own
 * holding the pieces the recogniser looks for, except the Llama 3 one,
 * which the shared tokenizer_config.json carries. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_impl.h"

/* Stand-ins (not the published texts): what the recogniser keys on. */
#define TPL_LLAMA31                                                                         \
    "{{- bos_token }}{{- '<|start_header_id|>system<|end_header_id|>\\n\\n' }}"             \
    "{{- 'Cutting Knowledge Date: December 2023\\n' }}...{% for m in messages %}"            \
    "{{- '<|start_header_id|>' + m['role'] + '<|end_header_id|>\\n\\n' + m['content'] | trim " \
    "+ '<|eot_id|>' }}{% endfor %}{% if add_generation_prompt %}...{% endif %}"
#define TPL_LLAMA32_VISION TPL_LLAMA31 "{{- '<|image|>' }}"
#define TPL_LLAMA3_WITH_FLAG                                                              \
    "{% for m in messages %}{{ '<|start_header_id|>' + m['role'] + '<|end_header_id|>' }}" \
    "{{ '<|eot_id|>' }}{% endfor %}{% if add_generation_prompt %}...{% endif %}"
#define TPL_LLAMA2                                                                     \
    "{% for m in messages %}{% if m['role'] == 'user' %}{{ bos_token + '[INST] ' + "   \
    "('<<SYS>>\\n' + sys + '\\n<</SYS>>\\n\\n' if loop.first else '') + m['content'] " \
    "+ ' [/INST]' }}{% endif %}{% endfor %}"
#define TPL_MISTRAL "{{ bos_token }}{% for m in messages %}{{ '[INST] ' + m['content'] + ' [/INST]' }}{% endfor %}"
#define TPL_CHATML "{% for m in messages %}{{'<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n'}}{% endfor %}"
#define TPL_LLAMA4 "{{ '<|header_start|>' + m['role'] + '<|header_end|>\\n\\n' }}{{ '<|eot|>' }}"

/* The special tokens that expected texts may spell, with their ids. */
typedef struct named_id {
    const char *name;
    int32_t id;
} named_id;

static const named_id llama3_specials[] = {
    {"<|begin_of_text|>", 128000}, {"<|end_of_text|>", 128001}, {"<|start_header_id|>", 128006},
    {"<|end_header_id|>", 128007}, {"<|eot_id|>", 128009},      {NULL, 0}};
static const named_id llama2_specials[] = {{"<s>", 1}, {"</s>", 2}, {NULL, 0}};

/* ------------------------------------------------------------ helpers -- */

static void append_ids(int32_t **ids, size_t *n, const int32_t *more, size_t k) {
    int32_t *grown = realloc(*ids, (*n + k + 1) * sizeof **ids);
    if (!grown) return;
    memcpy(grown + *n, more, k * sizeof *more);
    *ids = grown;
    *n += k;
}

/* The ids of an expected rendered text: split at the table's special
 * tokens, the text between tokenised as plain text. */
static int32_t *expected_ids(const es_tokenizer *tok, const named_id *specials, const char *text,
                             size_t *n_out) {
    int32_t *ids = NULL;
    size_t n = 0;
    const char *run = text;
    for (const char *p = text;; p++) {
        const named_id *hit = NULL;
        for (const named_id *s = specials; *p && s->name; s++)
            if (strncmp(p, s->name, strlen(s->name)) == 0) hit = s;
        if (!hit && *p) continue;
        if (p > run) {
            int32_t *part;
            size_t k;
            es_error err = {{0}};
            CHECKF(es_tokenize(tok, run, (size_t)(p - run), 0, &part, &k, &err) == 0, "%s", err.msg);
            append_ids(&ids, &n, part, k);
            free(part);
        }
        if (!hit) break;
        append_ids(&ids, &n, &hit->id, 1);
        p += strlen(hit->name) - 1;
        run = p + 1;
    }
    *n_out = n;
    return ids;
}

static void print_seq(const char *what, const int32_t *ids, size_t n) {
    printf("    %s (%zu):", what, n);
    for (size_t i = 0; i < n; i++) printf(" %d", (int)ids[i]);
    printf("\n");
}

/* es_chat_tokenize must succeed and give exactly want[0..n_want). */
static void check_ids(const es_tokenizer *tok, const es_chat_message *m, int n_m, int gen,
                      const int32_t *want, size_t n_want, const char *label) {
    int32_t *ids = NULL;
    size_t n = 0;
    es_error err = {{0}};
    int rc = es_chat_tokenize(tok, m, n_m, gen, &ids, &n, &err);
    CHECKF(rc == 0, "%s: %s", label, err.msg);
    int same = rc == 0 && n == n_want && memcmp(ids, want, n * sizeof *ids) == 0;
    CHECKF(same, "%s: token sequence differs", label);
    if (!same) {
        print_seq("got     ", ids, n);
        print_seq("expected", want, n_want);
    }
    free(ids);
}

/* The same against an expected rendered text. */
static void check_text(const es_tokenizer *tok, const named_id *specials, const es_chat_message *m,
                       int n_m, int gen, const char *rendered, const char *label) {
    size_t n_want;
    int32_t *want = expected_ids(tok, specials, rendered, &n_want);
    check_ids(tok, m, n_m, gen, want, n_want, label);
    free(want);
}

/* es_chat_tokenize must fail with one line containing want. */
static void check_fails(const es_tokenizer *tok, const es_chat_message *m, int n_m,
                        const char *want, const char *label) {
    int32_t *ids = (int32_t *)&ids; /* must come back NULL */
    size_t n = 99;
    es_error err = {{0}};
    CHECKF(es_chat_tokenize(tok, m, n_m, 1, &ids, &n, &err) < 0, "%s: succeeded", label);
    CHECKF(ids == NULL && n == 0, "%s: output not cleared", label);
    CHECKF(strstr(err.msg, want) != NULL, "%s: message \"%s\" lacks \"%s\"", label, err.msg, want);
    CHECKF(strchr(err.msg, '\n') == NULL, "%s: message has a newline", label);
}

static void set_template(es_tokenizer *tok, const char *tpl) {
    es_error err = {{0}};
    CHECKF(tok_set_chat_template(tok, tpl, strlen(tpl), &err) == 0, "%s", err.msg);
}

static es_tokenizer *load(const char *rel) {
    const char *path = test_shared(rel);
    if (!path) return NULL;
    es_error err = {{0}};
    es_tokenizer *tok = es_tokenizer_load(path, &err);
    CHECKF(tok != NULL, "%s", err.msg);
    return tok;
}

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define SYS(c) {"system", c}
#define USER(c) {"user", c}
#define ASSIST(c) {"assistant", c}

/* The system turn every 3.1/3.2 prompt starts with (up to its text). */
#define L31_HEAD                                                     \
    "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n" \
    "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n"

/* ------------------------------------------------------- recognition -- */

static void test_recognition(es_tokenizer *llama3) {
    TEST("chat: templates are recognised by their distinctive pieces") {
        es_error err = {{0}};
        es_tokenizer *t = es_tokenizer_synthetic(300, &err);
        CHECKF(t != NULL, "%s", err.msg);
        if (t) {
            CHECK(es_chat_template_name(t) == NULL); /* none */
            static const struct {
                const char *tpl, *name;
            } cases[] = {
                {TPL_LLAMA31, "llama3.1"},   {TPL_LLAMA32_VISION, "llama3.1"},
                {TPL_LLAMA3_WITH_FLAG, "llama3"}, {TPL_LLAMA2, "llama2"},
                {TPL_MISTRAL, NULL},         {TPL_CHATML, NULL},
                {TPL_LLAMA4, NULL},          {"", NULL},
                {"<|start_header_id|> only", NULL}, {"[INST] <<SYS>> without the close", NULL},
            };
            for (int i = 0; i < N(cases); i++) {
                set_template(t, cases[i].tpl);
                const char *got = es_chat_template_name(t);
                CHECKF(cases[i].name ? got && strcmp(got, cases[i].name) == 0 : got == NULL,
                       "case %d: got %s, expected %s", i, got ? got : "NULL",
                       cases[i].name ? cases[i].name : "NULL");
            }
        }
        es_tokenizer_free(t);
        CHECK(es_chat_template_name(NULL) == NULL);
    }
    if (!llama3) return;
    TEST("chat: the shared Llama 3 tokenizer_config.json's template is recognised as llama3") {
        const char *got = es_chat_template_name(llama3);
        CHECK_STR(got, "llama3");
    }
}

/* ------------------------------------------------------ Llama 3.1/3.2 -- */

static void test_llama31(es_tokenizer *tok) {
    set_template(tok, TPL_LLAMA31);
    TEST("chat: Llama 3.1, one user turn, with and without the generation prompt") {
        es_chat_message m[] = {USER("Hello!")};
        check_text(tok, llama3_specials, m, 1, 1,
                   L31_HEAD "<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHello!<|eot_id|>"
                            "<|start_header_id|>assistant<|end_header_id|>\n\n",
                   "user, prompt");
        check_text(tok, llama3_specials, m, 1, 0,
                   L31_HEAD "<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHello!<|eot_id|>",
                   "user, no prompt");
        /* reference ids (jinja2 + @huggingface/tokenizers on the published template) */
        static const int32_t ref[] = {
            128000, 128006, 9125, 128007, 271, 38766, 1303, 33025, 2696, 25, 6790, 220, 2366,
            18, 198, 15724, 2696, 25, 220, 1627, 10263, 220, 2366, 19, 271, 128009, 128006, 882,
            128007, 271, 9906, 0, 128009, 128006, 78191, 128007, 271};
        check_ids(tok, m, 1, 1, ref, sizeof ref / sizeof ref[0], "user, reference ids");
    }
    TEST("chat: Llama 3.1, system message trimmed into the system turn") {
        es_chat_message m[] = {SYS("  You are a terse assistant.\n"), USER("What is 2+2?")};
        check_text(tok, llama3_specials, m, 2, 1,
                   L31_HEAD "You are a terse assistant.<|eot_id|>"
                            "<|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>"
                            "<|start_header_id|>assistant<|end_header_id|>\n\n",
                   "system");
        static const int32_t ref[] = {
            128000, 128006, 9125, 128007, 271, 38766, 1303, 33025, 2696, 25, 6790, 220, 2366,
            18, 198, 15724, 2696, 25, 220, 1627, 10263, 220, 2366, 19, 271, 2675, 527, 264,
            51637, 18328, 13, 128009, 128006, 882, 128007, 271, 3923, 374, 220, 17, 10, 17, 30,
            128009, 128006, 78191, 128007, 271};
        check_ids(tok, m, 2, 1, ref, sizeof ref / sizeof ref[0], "system, reference ids");
    }
    TEST("chat: Llama 3.1, multi-turn with an assistant turn; Unicode spaces trimmed") {
        es_chat_message m[] = {SYS("Be brief."), USER("Hi"), ASSIST(" Hello! How can I help? "),
                               USER("Tell me a joke.\xE3\x80\x80")}; /* U+3000 */
        static const int32_t ref[] = {
            128000, 128006, 9125, 128007, 271, 38766, 1303, 33025, 2696, 25, 6790, 220, 2366,
            18, 198, 15724, 2696, 25, 220, 1627, 10263, 220, 2366, 19, 271, 3513, 10015, 13,
            128009, 128006, 882, 128007, 271, 13347, 128009, 128006, 78191, 128007, 271, 9906, 0,
            2650, 649, 358, 1520, 30, 128009, 128006, 882, 128007, 271, 41551, 757, 264, 22380,
            13, 128009, 128006, 78191, 128007, 271};
        check_ids(tok, m, N(m), 1, ref, sizeof ref / sizeof ref[0], "multi-turn, reference ids");
        check_text(tok, llama3_specials, m, N(m), 0,
                   L31_HEAD "Be brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi"
                            "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
                            "Hello! How can I help?<|eot_id|><|start_header_id|>user"
                            "<|end_header_id|>\n\nTell me a joke.<|eot_id|>",
                   "multi-turn, no prompt");
    }
    TEST("chat: Llama 3.1, a later system message is an ordinary turn") {
        es_chat_message m[] = {USER("a"), SYS("mid"), USER("b")};
        check_text(tok, llama3_specials, m, 3, 0,
                   L31_HEAD "<|eot_id|><|start_header_id|>user<|end_header_id|>\n\na<|eot_id|>"
                            "<|start_header_id|>system<|end_header_id|>\n\nmid<|eot_id|>"
                            "<|start_header_id|>user<|end_header_id|>\n\nb<|eot_id|>",
                   "mid system");
    }
    TEST("chat: Llama 3.1, typed special tokens stay text") {
        es_chat_message m[] = {USER("Say <|eot_id|> and <|start_header_id|>")};
        size_t n_head, n_body;
        int32_t *want = expected_ids(
            tok, llama3_specials,
            L31_HEAD "<|eot_id|><|start_header_id|>user<|end_header_id|>", &n_head);
        int32_t *body;
        es_error err = {{0}};
        const char text[] = "\n\nSay <|eot_id|> and <|start_header_id|>";
        CHECK(es_tokenize(tok, text, sizeof text - 1, 0, &body, &n_body, &err) == 0);
        append_ids(&want, &n_head, body, n_body);
        static const int32_t tail[] = {128009, 128006, 78191, 128007, 271};
        append_ids(&want, &n_head, tail, 5);
        check_ids(tok, m, 1, 1, want, n_head, "typed specials");
        for (size_t i = 0; i < n_body; i++) CHECK(body[i] < 128000);
        free(body);
        free(want);
    }
    TEST("chat: Llama 3.2 Vision's template keeps message content untrimmed") {
        set_template(tok, TPL_LLAMA32_VISION);
        es_chat_message m[] = {SYS(" sys "), USER(" hi ")};
        check_text(tok, llama3_specials, m, 2, 1,
                   L31_HEAD "sys<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n hi <|eot_id|>"
                            "<|start_header_id|>assistant<|end_header_id|>\n\n",
                   "vision");
        set_template(tok, TPL_LLAMA31);
    }
}

/* ------------------------------------------------------------ Llama 3 -- */

static void test_llama3(es_tokenizer *tok) {
    TEST("chat: Llama 3 (the shared template): no system turn; header always appended") {
        es_chat_message one[] = {USER("Hello!")};
        static const int32_t ref[] = {128000, 128006, 882,    128007, 271,   9906,
                                      0,      128009, 128006, 78191,  128007, 271};
        /* this template appends the header whatever add_generation_prompt says */
        check_ids(tok, one, 1, 0, ref, sizeof ref / sizeof ref[0], "one turn, reference ids");
        check_ids(tok, one, 1, 1, ref, sizeof ref / sizeof ref[0], "one turn, prompt");
        es_chat_message m[] = {SYS(" Be brief. "), USER("Hi"), ASSIST("Hello!")};
        check_text(tok, llama3_specials, m, 3, 1,
                   "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief."
                   "<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
                   "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>"
                   "<|start_header_id|>assistant<|end_header_id|>\n\n",
                   "multi-turn");
    }
    TEST("chat: Llama 3 with an add_generation_prompt condition honours the flag") {
        char *saved = strdup(tok_chat_template(tok));
        set_template(tok, TPL_LLAMA3_WITH_FLAG);
        es_chat_message m[] = {USER("Hello!")};
        check_text(tok, llama3_specials, m, 1, 0,
                   "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHello!<|eot_id|>",
                   "no prompt");
        set_template(tok, saved);
        free(saved);
    }
}

/* ------------------------------------------------------------ Llama 2 -- */

static void test_llama2(es_tokenizer *tok) {
    set_template(tok, TPL_LLAMA2);
    TEST("chat: Llama 2, one user turn, with and without a system message") {
        es_chat_message one[] = {USER("Hello!")};
        static const int32_t ref1[] = {1, 518, 25580, 29962, 15043, 29991, 518, 29914, 25580, 29962};
        check_ids(tok, one, 1, 1, ref1, sizeof ref1 / sizeof ref1[0], "user, reference ids");
        check_text(tok, llama2_specials, one, 1, 0, "<s>[INST] Hello! [/INST]", "user");
        es_chat_message sys[] = {SYS("You are a helpful assistant."), USER("Hi there")};
        static const int32_t ref2[] = {1,     518,   25580, 29962, 3532,  14816, 29903, 6778,
                                       13,    3492,  526,   263,   8444,  20255, 29889, 13,
                                       29966, 829,   14816, 29903, 6778,  13,    13,    18567,
                                       727,   518,   29914, 25580, 29962};
        check_ids(tok, sys, 2, 1, ref2, sizeof ref2 / sizeof ref2[0], "system, reference ids");
        check_text(tok, llama2_specials, sys, 2, 1,
                   "<s>[INST] <<SYS>>\nYou are a helpful assistant.\n<</SYS>>\n\nHi there [/INST]",
                   "system");
    }
    TEST("chat: Llama 2, two turns: BOS per pair, EOS after the answer") {
        es_chat_message m[] = {SYS("Be brief."), USER("Hi"), ASSIST("Hello! How can I help?"),
                               USER("Tell me a joke.")};
        check_text(tok, llama2_specials, m, 4, 1,
                   "<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello! How can I help? "
                   "</s><s>[INST] Tell me a joke. [/INST]",
                   "two turns");
        static const int32_t ref[] = {
            1,    518,   25580, 29962, 3532, 14816, 29903, 6778, 13,    3629, 11473, 29889,
            13,   29966, 829,   14816, 29903, 6778,  13,    13,   18567, 518,  29914, 25580,
            29962, 15043, 29991, 1128,  508,  306,   1371,  29973, 29871, 2,    1,     518,
            25580, 29962, 24948, 592,   263,  2958,  446,   29889, 518,   29914, 25580, 29962};
        check_ids(tok, m, 4, 1, ref, sizeof ref / sizeof ref[0], "two turns, reference ids");
    }
    TEST("chat: Llama 2 strips the user turn with its system wrapper as one") {
        es_chat_message spaced[] = {USER("  spaced  \n")};
        check_text(tok, llama2_specials, spaced, 1, 1, "<s>[INST] spaced [/INST]", "spaced");
        es_chat_message empty[] = {SYS(" sys "), USER("")};
        static const int32_t ref[] = {1,     518,  25580, 29962, 3532,  14816, 29903,
                                      6778,  13,   10876, 29871, 13,    29966, 829,
                                      14816, 29903, 6778, 518,   29914, 25580, 29962};
        check_ids(tok, empty, 2, 1, ref, sizeof ref / sizeof ref[0], "empty user, reference ids");
    }
    TEST("chat: Llama 2 rejects what its template rejects") {
        es_chat_message two_users[] = {USER("a"), USER("b")};
        check_fails(tok, two_users, 2, "alternate", "two users");
        es_chat_message starts_assistant[] = {ASSIST("a")};
        check_fails(tok, starts_assistant, 1, "alternate", "assistant first");
        es_chat_message late_system[] = {USER("a"), ASSIST("b"), SYS("c")};
        check_fails(tok, late_system, 3, "alternate", "late system");
        es_chat_message only_system[] = {SYS("a")};
        check_fails(tok, only_system, 1, "needs a user message", "system only");
    }
}

/* ----------------------------------------------- errors and GGUF path -- */

static void test_errors(void) {
    TEST("chat: errors: no template, unknown template, bad roles, missing tokens") {
        es_error err = {{0}};
        es_tokenizer *t = es_tokenizer_synthetic(300, &err);
        CHECKF(t != NULL, "%s", err.msg);
        if (!t) continue;
        es_chat_message m[] = {USER("hi")};
        check_fails(t, m, 1, "no chat template; use raw mode (generate without --chat)", "none");
        set_template(t, TPL_CHATML);
        check_fails(t, m, 1, "not recognised", "chatml");
        check_fails(t, m, 1, "use raw mode", "chatml");
        set_template(t, TPL_LLAMA31); /* the synthetic vocabulary has no header tokens */
        check_fails(t, m, 1, "<|start_header_id|>", "missing tokens");
        set_template(t, TPL_LLAMA2);
        check_fails(t, m, 0, "no messages", "zero messages");
        check_fails(t, NULL, 1, "no messages", "NULL messages");
        es_chat_message tool[] = {USER("a"), {"tool", "{}"}};
        check_fails(t, tool, 2, "tool messages are not supported", "tool role");
        es_chat_message robot[] = {{"robot", "a"}};
        check_fails(t, robot, 1, "role \"robot\"", "unknown role");
        es_chat_message null_content[] = {{"user", NULL}};
        check_fails(t, null_content, 1, "no role or no content", "NULL content");
        es_chat_message null_role[] = {{NULL, "a"}};
        check_fails(t, null_role, 1, "no role or no content", "NULL role");
        int32_t *ids;
        size_t n;
        CHECK(es_chat_tokenize(NULL, m, 1, 1, &ids, &n, &err) < 0);
        CHECK(es_chat_tokenize(t, m, 1, 1, NULL, &n, &err) < 0);
        es_tokenizer_free(t);
    }
    TEST("chat: the template survives a GGUF round trip (synthetic vocabulary, Llama 2 format)") {
        es_error err = {{0}};
        es_tokenizer *t = es_tokenizer_synthetic(300, &err), *back = NULL;
        gguf_writer *w = gguf_writer_new();
        uint8_t *buf = NULL;
        size_t size = 0;
        gguf_file f;
        if (t) set_template(t, TPL_LLAMA2);
        if (t && es_tokenizer_write_gguf(t, w, &err) == 0 &&
            gguf_writer_to_buffer(w, &buf, &size, &err) == 0 &&
            gguf_parse(&f, buf, size, "chat.gguf", &err) == 0) {
            back = es_tokenizer_from_gguf(&f, &err);
            gguf_close(&f);
        }
        CHECKF(back != NULL, "%s", err.msg);
        if (back) {
            CHECK_STR(es_chat_template_name(back), "llama2");
            CHECK_STR(tok_chat_template(back), TPL_LLAMA2);
            es_chat_message m[] = {SYS("s"), USER("the cat"), ASSIST("a dog"), USER("sun")};
            /* BOS = 1, EOS = 2 in the synthetic vocabulary */
            check_text(back, llama2_specials, m, 4, 1,
                       "<s>[INST] <<SYS>>\ns\n<</SYS>>\n\nthe cat [/INST] a dog </s>"
                       "<s>[INST] sun [/INST]",
                       "synthetic");
        }
        es_tokenizer_free(back);
        es_tokenizer_free(t);
        gguf_writer_free(w);
        free(buf);
    }
}

void suite_chat(void) {
    test_errors();
    es_tokenizer *llama3 = load("tokenizers/llama3/tokenizer.json");
    test_recognition(llama3);
    if (llama3) {
        test_llama3(llama3);
        test_llama31(llama3);
    }
    es_tokenizer_free(llama3);
    es_tokenizer *llama2 = load("tokenizers/llama2/tokenizer.bin");
    if (llama2) test_llama2(llama2);
    es_tokenizer_free(llama2);
}
