/* Chat formats: the token sequence a model's own chat template builds for a
 * conversation, for the templates of Llama 3 Instruct, Llama 3.1/3.2/3.3
 * Instruct and Llama 2 chat.
 *
 * We do not run Jinja. The template text the tokenizer carries (GGUF
 * tokenizer.chat_template, or tokenizer_config.json beside tokenizer.json)
 * is recognised by distinctive pieces of it, never by a whole-string match,
 * and the format is then rebuilt here, step by step, as the template renders
 * it. What each template does (read from the published templates and from
 * Meta's reference code):
 *
 *  Llama 3:   BOS, then per message <|start_header_id|>ROLE<|end_header_id|>
 *             "\n\n" trim(content) <|eot_id|>; then the assistant header.
 *             The first published version appends that header always; later
 *             ones only when add_generation_prompt (told apart by whether
 *             the text mentions add_generation_prompt).
 *  Llama 3.1: BOS, then always a system turn: "Cutting Knowledge Date:
 *             December 2023\nToday Date: 26 Jul 2024\n\n" + trim(first
 *             message's content if it is a system message); then the other
 *             messages as in Llama 3; the assistant header when asked. 3.2's
 *             template takes today's date from strftime_now when the renderer
 *             offers it, else "26 Jul 2024"; we always use the template's
 *             default, so that a prompt gives the same tokens every day.
 *             3.2 Vision's template (the one with <|image|>) does not trim
 *             message content (it still trims the system message).
 *             Tools (the ipython/tool roles, tool calls, the tool lists in
 *             the system turn) are not supported.
 *  Llama 2:   per user/assistant pair: BOS "[INST] " strip(content) " [/INST]"
 *             " " strip(answer) " " EOS; a leading system message goes
 *             inside the first user turn as "<<SYS>>\n" SYSTEM "\n<</SYS>>\n\n"
 *             (stripped together with that turn). Roles must alternate
 *             user/assistant. Each text run is tokenised on its own after
 *             its BOS (so with SentencePiece's dummy-prefix space), as Meta's
 *             reference does.
 *
 * Between control tokens the text is tokenised as one run, as Hugging Face
 * tokenises the rendered template. One deliberate difference: message
 * content is tokenised without parsing special tokens, so that a user who
 * types "<|eot_id|>" gets those characters, not a control token (rendering
 * the template to text and tokenising it would inject the token). */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer_impl.h"
#include "util/error.h"

typedef enum chat_format {
    CHAT_UNKNOWN,
    CHAT_LLAMA3,   /* Llama 3 Instruct */
    CHAT_LLAMA31,  /* Llama 3.1 / 3.2 / 3.3 Instruct */
    CHAT_LLAMA2,   /* Llama 2 chat */
} chat_format;

typedef struct chat_style {
    chat_format format;
    int trim_content;  /* messages other than the leading system one are trimmed */
    int always_prompt; /* the assistant header is appended even when not asked */
} chat_style;

/* The default date of the 3.1/3.2 templates (see above). */
#define LLAMA31_SYSTEM_HEAD "\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n"

/* ------------------------------------------------------- recognising -- */

static int has(const char *text, const char *piece) { return strstr(text, piece) != NULL; }

static chat_style recognise(const char *tpl) {
    chat_style st = {CHAT_UNKNOWN, 1, 0};
    if (!tpl) return st;
    if (has(tpl, "<|start_header_id|>") && has(tpl, "<|end_header_id|>") && has(tpl, "<|eot_id|>")) {
        if (has(tpl, "Cutting Knowledge Date")) {
            st.format = CHAT_LLAMA31;
            st.trim_content = !has(tpl, "<|image|>");
        } else {
            st.format = CHAT_LLAMA3;
            st.always_prompt = !has(tpl, "add_generation_prompt");
        }
    } else if (has(tpl, "[INST]") && has(tpl, "[/INST]") && has(tpl, "<<SYS>>")) {
        st.format = CHAT_LLAMA2;
    }
    return st;
}

const char *es_chat_template_name(const es_tokenizer *tok) {
    switch (recognise(tok_chat_template(tok)).format) {
    case CHAT_LLAMA3: return "llama3";
    case CHAT_LLAMA31: return "llama3.1";
    case CHAT_LLAMA2: return "llama2";
    default: return NULL;
    }
}

/* -------------------------------------------------------------- trim -- */

/* Python's str.isspace(), which Jinja's trim and str.strip() use. */
static int is_python_space(uint32_t cp) {
    return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 ||
           cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 ||
           cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

/* The code point of the valid UTF-8 character of n bytes at s. */
static uint32_t code_point(const unsigned char *s, size_t n) {
    if (n == 1) return s[0];
    uint32_t cp = s[0] & (0x3F >> (n - 1));
    for (size_t i = 1; i < n; i++) cp = (cp << 6) | (s[i] & 0x3F);
    return cp;
}

/* Narrows [*s, *s + *len) to drop leading and trailing whitespace. A byte
 * that is not valid UTF-8 counts as a non-space character. */
static void trim(const char **s, size_t *len) {
    const unsigned char *p = (const unsigned char *)*s;
    size_t start = *len, end = 0;
    for (size_t i = 0; i < *len;) {
        size_t n = utf8_char_len(p + i, *len - i);
        if (!is_python_space(code_point(p + i, n))) {
            if (start == *len) start = i;
            end = i + n;
        }
        i += n;
    }
    if (start == *len) start = end = 0;
    *s += start;
    *len = end - start;
}

/* ----------------------------------------------------------- building -- */

/* Tokens so far, and the text waiting to be tokenised as one run. */
typedef struct chat_build {
    const es_tokenizer *tok;
    id_vec ids;
    char *text;
    size_t text_len, text_cap;
    es_error *err;
} chat_build;

static int put_text(chat_build *b, const char *s, size_t len) {
    if (b->text_len + len + 1 > b->text_cap) {
        size_t cap = b->text_cap ? b->text_cap : 256;
        while (cap < b->text_len + len + 1) cap *= 2;
        char *grown = realloc(b->text, cap);
        if (!grown) return es_fail(b->err, "chat: out of memory");
        b->text = grown;
        b->text_cap = cap;
    }
    if (len) memcpy(b->text + b->text_len, s, len);
    b->text_len += len;
    return 0;
}

static int put_str(chat_build *b, const char *s) { return put_text(b, s, strlen(s)); }

static int put_trimmed(chat_build *b, const char *s, int do_trim) {
    size_t len = strlen(s);
    if (do_trim) trim(&s, &len);
    return put_text(b, s, len);
}

/* Tokenises the waiting text: plain text, special tokens not parsed. */
static int flush_text(chat_build *b) {
    if (b->text_len == 0) return 0;
    int32_t *ids;
    size_t n;
    if (es_tokenize(b->tok, b->text, b->text_len, 0, &ids, &n, b->err) != 0) return -1;
    b->text_len = 0;
    for (size_t i = 0; i < n; i++)
        if (id_vec_push(&b->ids, ids[i]) != 0) {
            free(ids);
            return es_fail(b->err, "chat: out of memory");
        }
    free(ids);
    return 0;
}

static int put_id(chat_build *b, int32_t id) {
    if (flush_text(b) != 0) return -1;
    return id_vec_push(&b->ids, id) == 0 ? 0 : es_fail(b->err, "chat: out of memory");
}

/* A token the template spells out, looked up by its text. */
static int put_special(chat_build *b, const char *name) {
    int32_t id = tok_find_special(b->tok, name);
    if (id < 0)
        return es_fail(b->err, "%s: the chat template needs the token %s, which the vocabulary "
                       "lacks", b->tok->path, name);
    return put_id(b, id);
}

static int put_bos_eos(chat_build *b, int32_t id, const char *what) {
    if (id < 0) return es_fail(b->err, "%s: the chat template needs a %s token", b->tok->path, what);
    return put_id(b, id);
}

/* ---------------------------------------------------------- Llama 3 -- */

/* <|start_header_id|>ROLE<|end_header_id|>\n\n */
static int put_header(chat_build *b, const char *role) {
    if (put_special(b, "<|start_header_id|>") != 0 || put_str(b, role) != 0 ||
        put_special(b, "<|end_header_id|>") != 0)
        return -1;
    return put_str(b, "\n\n");
}

static int build_llama3(chat_build *b, chat_style st, const es_chat_message *m, int n,
                        int add_generation_prompt) {
    if (put_bos_eos(b, b->tok->bos, "BOS") != 0) return -1;
    int first = 0;
    if (st.format == CHAT_LLAMA31) { /* the system turn is always there */
        int has_system = strcmp(m[0].role, "system") == 0;
        if (put_special(b, "<|start_header_id|>") != 0 || put_str(b, "system") != 0 ||
            put_special(b, "<|end_header_id|>") != 0 || put_str(b, LLAMA31_SYSTEM_HEAD) != 0 ||
            (has_system && put_trimmed(b, m[0].content, 1) != 0) ||
            put_special(b, "<|eot_id|>") != 0)
            return -1;
        first = has_system;
    }
    for (int i = first; i < n; i++)
        if (put_header(b, m[i].role) != 0 || put_trimmed(b, m[i].content, st.trim_content) != 0 ||
            put_special(b, "<|eot_id|>") != 0)
            return -1;
    if (add_generation_prompt || st.always_prompt) return put_header(b, "assistant");
    return 0;
}

/* ---------------------------------------------------------- Llama 2 -- */

/* "[INST] " strip(content) " [/INST]", the system message wrapped in
 * <<SYS>> in front of the content of the first user turn. */
static int put_inst(chat_build *b, const char *system, const char *content) {
    if (put_str(b, "[INST] ") != 0) return -1;
    size_t body = b->text_len;
    if (system && (put_str(b, "<<SYS>>\n") != 0 || put_str(b, system) != 0 ||
                   put_str(b, "\n<</SYS>>\n\n") != 0))
        return -1;
    if (put_str(b, content) != 0) return -1;
    /* strip the whole body in place (system wrapper and content together) */
    const char *s = b->text + body;
    size_t len = b->text_len - body;
    trim(&s, &len);
    memmove(b->text + body, s, len);
    b->text_len = body + len;
    return put_str(b, " [/INST]");
}

static int build_llama2(chat_build *b, const es_chat_message *m, int n) {
    const char *system = NULL;
    int first = 0;
    if (strcmp(m[0].role, "system") == 0) system = m[0].content, first = 1;
    if (first == n)
        return es_fail(b->err, "chat: Llama 2 chat needs a user message after the system message");
    for (int i = first; i < n; i++) {
        int user_turn = (i - first) % 2 == 0;
        if (strcmp(m[i].role, user_turn ? "user" : "assistant") != 0)
            return es_fail(b->err, "chat: Llama 2 chat needs roles that alternate user, assistant, "
                           "user, ... (after an optional first system message); message %d is %s",
                           i + 1, m[i].role);
        if (user_turn) {
            if (put_bos_eos(b, b->tok->bos, "BOS") != 0 ||
                put_inst(b, i == first ? system : NULL, m[i].content) != 0)
                return -1;
        } else if (put_str(b, " ") != 0 || put_trimmed(b, m[i].content, 1) != 0 ||
                   put_str(b, " ") != 0 || put_bos_eos(b, b->tok->eos, "EOS") != 0) {
            return -1;
        }
    }
    return 0;
}

/* ------------------------------------------------------------- entry -- */

static int check_messages(const es_chat_message *m, int n, es_error *err) {
    if (!m || n <= 0) return es_fail(err, "chat: no messages");
    for (int i = 0; i < n; i++) {
        if (!m[i].role || !m[i].content)
            return es_fail(err, "chat: message %d has no role or no content", i + 1);
        const char *r = m[i].role;
        if (strcmp(r, "tool") == 0 || strcmp(r, "ipython") == 0)
            return es_fail(err, "chat: message %d: tool messages are not supported", i + 1);
        if (strcmp(r, "system") != 0 && strcmp(r, "user") != 0 && strcmp(r, "assistant") != 0)
            return es_fail(err, "chat: message %d: role \"%s\" is not system, user or assistant",
                           i + 1, es_show(r, strlen(r)).text);
    }
    return 0;
}

int es_chat_tokenize(const es_tokenizer *tok, const es_chat_message *messages, int n_messages,
                     int add_generation_prompt, int32_t **ids, size_t *n_ids, es_error *err) {
    if (!tok || !ids || !n_ids) return es_fail(err, "chat: missing tokenizer or output");
    *ids = NULL;
    *n_ids = 0;
    const char *tpl = tok_chat_template(tok);
    if (!tpl)
        return es_fail(err, "%s: no chat template; use raw mode (generate without --chat)",
                       tok->path);
    chat_style st = recognise(tpl);
    if (st.format == CHAT_UNKNOWN)
        return es_fail(err, "%s: chat template not recognised (known: Llama 3, Llama 3.1/3.2/3.3, "
                       "Llama 2 chat); use raw mode (generate without --chat)", tok->path);
    if (check_messages(messages, n_messages, err) != 0) return -1;
    chat_build b = {.tok = tok, .err = err};
    int rc = st.format == CHAT_LLAMA2
                 ? build_llama2(&b, messages, n_messages)
                 : build_llama3(&b, st, messages, n_messages, add_generation_prompt);
    if (rc == 0) rc = flush_text(&b);
    free(b.text);
    if (rc != 0) {
        free(b.ids.ids);
        return -1;
    }
    *ids = b.ids.ids;
    *n_ids = b.ids.n;
    return 0;
}
