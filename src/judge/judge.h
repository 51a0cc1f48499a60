/* The LLM judge: a client of any OpenAI-compatible chat-completions server
 * (llama.cpp's server, vLLM, OpenAI, ...) and the prompts entroscope asks it.
 *
 * One request is a JSON body {"model", "messages": [system, user],
 * "temperature": 0}; the answer is choices[0].message.content. Transient
 * failures (HTTP 429 and 5xx, timeouts, refused or broken connections) are
 * retried up to max_retries times, waiting backoff_s, 2*backoff_s, 4*...
 * (at most 30 s, or the server's Retry-After when it says so). Other HTTP
 * errors and replies that are not a chat completion fail at once.
 *
 * The client knows nothing of caching or of the trace: grading.c looks each
 * request body up in the trace's judge_cache before calling judge_ask. */
#ifndef ES_JUDGE_JUDGE_H
#define ES_JUDGE_JUDGE_H

#include <stddef.h>

#include "entroscope.h"
#include "study/grade.h"

typedef struct judge_config {
    const char *url;     /* the endpoint (judge_endpoint_url rules) */
    const char *model;   /* sent as "model" */
    const char *api_key; /* sent as "Authorization: Bearer KEY"; NULL: none */
    int max_retries;     /* >= 0: retries after the first try */
    double timeout_s;    /* whole request, > 0 */
    double backoff_s;    /* first wait before a retry, >= 0 */
} judge_config;

typedef struct judge_client judge_client;

/* Checks the configuration; NULL with a message when it is unusable. */
judge_client *judge_client_new(const judge_config *config, es_error *err);
void judge_client_free(judge_client *c);
/* HTTP requests sent so far (every try counts). */
long judge_client_requests(const judge_client *c);

/* The URL requests go to: url itself when its path ends in
 * "/chat/completions", url + "/chat/completions" when it ends in "/v1",
 * otherwise url + "/v1/chat/completions" (a server's base address).
 * malloc'd, NULL when out of memory. */
char *judge_endpoint_url(const char *url);

/* The request body for a system and a user message (malloc'd JSON, NULL
 * when out of memory). Equal inputs give equal bytes: the cache key. */
char *judge_request_body(const char *model, const char *system, const char *user);

/* Sends body and returns the reply's message content (malloc'd) in *content.
 * Returns 0, or -1 with a one-line message after the last failed try. */
int judge_ask(judge_client *c, const char *body, char **content, es_error *err);

/* ---------------------------------------------------------- replies -- */

/* The SimpleQA grade in a reply: after dropping a leading <think>...</think>
 * block, surrounding white space, '*', '`', quotes and one final '.', the
 * reply must be exactly CORRECT, INCORRECT or NOT_ATTEMPTED (any case;
 * "NOT ATTEMPTED" too). Returns the verdict, or -1 (could not parse). */
int judge_parse_grade(const char *reply);

/* The critic's answer: a JSON object {"first_wrong_step": "QUOTE"} or
 * {"first_wrong_step": null} (no wrong step), alone in the reply or in one
 * ``` fenced block, after an optional <think> block. Returns 1 with the
 * quote (malloc'd) in *quote, 0 for "no wrong step" (*quote NULL), -1 when
 * the reply is not of that form (an empty quote counts as malformed). */
int judge_parse_critique(const char *reply, char **quote);

/* ---------------------------------------------------------- prompts -- */

/* The grading prompt for one SimpleQA answer (prompts.c): a system message
 * (constant) and a user message (malloc'd; NULL when out of memory). */
const char *judge_simpleqa_system(void);
char *judge_simpleqa_user(const char *question, const char *gold, const char *answer);

/* The critic prompt for one wrong GSM8K solution. */
const char *judge_gsm8k_system(void);
char *judge_gsm8k_user(const char *problem, const char *solution, const char *reference);

#endif
