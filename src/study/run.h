/* The insides of `entroscope run` (es_study_run, run.c), in four parts:
 *   run_items.c     the items of a study: a data set read into prompts,
 *                   keys and labels, then sample, limit and shard applied;
 *   run_prompts.c   their tokens (chat template or raw text) and the shared
 *                   prefix (system prompt, few-shot exemplars) that is
 *                   evaluated once and reused through es_context_rewind;
 *   run_db.c        the run row: its settings, and finding the run that
 *                   --resume continues;
 *   run_progress.c  the progress bar (terminal) or progress lines (logs).
 *
 * Prompt formats (raw text, for models without a recognised chat template
 * or with --no-chat; BOS first; SYSTEM only with --system):
 *   factual-creative  "SYSTEM\n\nPROMPT"
 *   simpleqa          "SYSTEM\n\nQuestion: PROBLEM\nAnswer:"
 *   gsm8k             "SYSTEM\n\n" then per exemplar
 *                     "Question: Q\nAnswer: A\n\n" then "Question: Q\nAnswer:"
 *                     (A: the training solution without calculator
 *                     annotations, ending "The final answer is N")
 * Chat: the system message, then (gsm8k) per exemplar a user turn Q and an
 * assistant turn A, then the item's user turn (PROMPT, PROBLEM or Q) and the
 * assistant header. The shared prefix is everything before the item's own
 * text. */
#ifndef ES_STUDY_RUN_H
#define ES_STUDY_RUN_H

#include <stddef.h>
#include <stdint.h>

#include "entroscope.h"

typedef struct study_item {
    char *key;       /* the dataset id, also labels.id */
    char *question;  /* the item's own text: the user turn */
    char *labels;    /* JSON object (study, id, index and the study's labels) */
    size_t index;    /* place among the run's items before sharding */
} study_item;

typedef struct study_set {
    study_item *items;       /* (n) in run order */
    size_t n;
    size_t n_skipped_data;   /* malformed records skipped */
    char **exemplar_q, **exemplar_a; /* gsm8k few-shot (n_exemplars) */
    size_t n_exemplars;
    const char *raw_before, *raw_after; /* raw text around the question */
} study_set;

/* Reads the data set(s) and selects the run's items (sample, limit, shard). */
int study_set_load(study_set *set, const es_study_params *p, es_error *err);
void study_set_free(study_set *set);

/* ------------------------------------------------------------- prompts -- */

typedef struct study_prompt {
    int chat;               /* 1: the model's chat template */
    const es_tokenizer *tok;
    const study_set *set;
    const char *system;
} study_prompt;

/* The tokens of one item's prompt (malloc'ed) and its text as the items
 * table keeps it (malloc'ed: the raw text, or the chat tokens decoded with
 * their special tokens shown). */
int study_prompt_item(const study_prompt *sp, const study_item *item, int32_t **ids,
                      size_t *n_ids, char **text, es_error *err);
/* The tokens of the shared prefix (*n_ids may be 0: none). */
int study_prompt_prefix(const study_prompt *sp, int32_t **ids, size_t *n_ids, es_error *err);

/* The rows of the shared prefix, evaluated once: their probes copied so
 * that every item gets the same prompt rows a full evaluation gives. */
typedef struct study_prefix study_prefix;

/* Evaluates ids (the context must be empty) and keeps its rows. */
study_prefix *study_prefix_eval(const es_model *model, es_context *ctx, const int32_t *ids,
                                size_t n, es_error *err);
void study_prefix_free(study_prefix *pre);
/* How many leading tokens of prompt the prefix's cache can serve: the
 * common prefix, at most n_prompt - 1 (the last token must be evaluated
 * for its logits). */
size_t study_prefix_reusable(const study_prefix *pre, const int32_t *prompt, size_t n_prompt);
/* Evaluates the prefix again (after an item that could not reuse all of it
 * overwrote part of its cache). */
int study_prefix_restore(const study_prefix *pre, es_context *ctx, es_error *err);
size_t study_prefix_length(const study_prefix *pre);
/* Rewinds ctx to n tokens of the prefix and adds their rows to item. */
int study_prefix_apply(const study_prefix *pre, es_context *ctx, size_t n, es_trace_item *item,
                       es_error *err);

/* ------------------------------------------------------------------ db -- */

/* The run's settings as a JSON object (malloc'ed). */
char *study_settings_json(const es_study_params *p, int chat, int n_ctx);
/* Finds (resume) or adds the run of these settings in the trace. */
int64_t study_run_row(es_trace *trace, const es_model *model, const es_study_params *p,
                      const char *settings, es_error *err);

/* ------------------------------------------------------------ progress -- */

typedef struct study_progress {
    FILE *out;          /* NULL: silent */
    int tty;
    size_t total;       /* items this call will run */
    size_t done;
    uint64_t tokens;
    double t0, last_draw;
} study_progress;

void study_progress_start(study_progress *pg, FILE *out, int tty, size_t total);
/* After each token (tokens += 1) or item (done += 1); redraws at most a few
 * times a second (terminal) or every ten seconds (lines). */
void study_progress_update(study_progress *pg, int item_done);
void study_progress_finish(study_progress *pg, int interrupted);

double study_now(void); /* monotonic seconds */

#endif
