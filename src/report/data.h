/* What a report reads from trace databases: for each study run, its items
 * with their group (the grade or the category) and their generated rows'
 * statistics, and the GSM8K first-error rows. Built by report_data_load
 * (data.c) and consumed by the figures and tables (figures.c, html.c). */
#ifndef ES_REPORT_DATA_H
#define ES_REPORT_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "entroscope.h"

/* The statistics of one generated row (step k). NAN when not measured. */
typedef struct rd_row {
    int step, pos;
    double logit_entropy, logit_varentropy; /* nats, nats^2 */
    double attn_entropy, attn_varentropy;   /* means over layers and heads */
    double token_logprob;                   /* ln p of the row's token, nats */
    const float *heads;                     /* the blob (entropy L*H, varentropy L*H,
                                               agreement L, interaction L) or NULL */
    const char *branch;                     /* tokens.sampler_branch: "argmax", "insert", "explore",
                                               "resample", "adaptive", "inserted"; NULL: absent */
} rd_row;

typedef struct rd_item {
    int64_t id;
    const char *key;
    const char *group;     /* "factual" / "creative"; "CORRECT" / "INCORRECT" /
                              "NOT_ATTEMPTED"; "correct" / "incorrect" (gsm8k); NULL: ungraded */
    int first_error_row;   /* gsm8k: index into rows of the first wrong step's first row, or -1 */
    int first_error_last;  /* index into rows of that span's last row (-1 with first_error_row) */
    int n_rows;
    rd_row *rows;          /* generated rows only, in step order */
    double seconds;        /* the item's prompt evaluation + generation (item_times); NAN: not recorded */
} rd_item;

typedef struct rd_run {
    int64_t id;
    const char *db_path;
    const char *study;     /* "factual-creative", "simpleqa", "gsm8k", or "generate" */
    const char *model_name, *model_path, *settings_json, *version, *created;
    const char *sampler;   /* settings' "sampler": "entropix", "default"; NULL: not recorded */
    int n_layers, n_heads;
    int n_items;
    rd_item *items;
    /* metrics as graded (NAN when absent): simpleqa offline, gsm8k strict/flexible */
    double sqa_correct, sqa_incorrect, sqa_not_attempted, sqa_acc_given_attempted, sqa_f1;
    double gsm_strict_acc, gsm_flexible_acc;
} rd_run;

typedef struct report_data {
    int n_runs;
    rd_run *runs;
    void *arena;           /* everything above is owned here */
} report_data;

/* Reads every run of every database (read-only). Errors name the file. */
int report_data_load(report_data *d, const char *const *db_paths, int n_dbs, es_error *err);
void report_data_free(report_data *d);

#endif
