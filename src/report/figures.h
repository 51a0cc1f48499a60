/* The report's figures and per-run tables, built from report_data (data.h)
 * with the statistics of stats.h. Each result is a "part": an SVG figure or
 * an HTML table, the CSV of every number behind it, and a note saying what
 * was hidden or too small. html.c lays the parts out; report.c also writes
 * them as standalone files.
 *
 * Figures of one run (a study on one model):
 *   the main figure per statistic: X = generation step, Y = the mean of the
 *     statistic per group, 95% bootstrap band over the items that reached
 *     that step; steps with fewer than min_items items in a group are hidden;
 *   per-layer curves: X = layer, Y = the layer's mean over heads (per item,
 *     the mean over its generated rows), for entropy and varentropy;
 *   a layer x head AUROC heatmap between the two main groups (per item, the
 *     mean over its generated rows of that head's value), dots where the
 *     Mann-Whitney p survives Benjamini-Hochberg at q < 0.05 over all heads;
 *   GSM8K: a table of the statistics at first-error tokens, at the other
 *     tokens of the same wrong answers and at tokens of correct answers, and
 *     event-aligned curves from 10 tokens before to 10 after the first error. */
#ifndef ES_REPORT_FIGURES_H
#define ES_REPORT_FIGURES_H

#include <stdint.h>

#include "report/data.h"

typedef enum rf_kind { RF_FIGURE, RF_TABLE } rf_kind;

typedef struct rf_part {
    rf_kind kind;
    char name[128]; /* file stem for the standalone files: [a-z0-9_-] only */
    char *title;
    char *body;     /* SVG document (figure) or HTML <table> (table) */
    char *csv;      /* header line, then one line per number set */
    char *note;     /* what was hidden or too small, or NULL */
    int run;        /* index of the run it belongs to, -1: the whole report */
} rf_part;

typedef struct rf_parts {
    int n, cap;
    rf_part *items;
} rf_parts;

typedef struct rf_options {
    int min_items;   /* fewer items (tokens) than this in a group: not shown, "too small" */
    int bootstrap_b; /* bootstrap resamples per interval */
    uint64_t seed;
    int max_steps;   /* the main figure shows steps [0, max_steps) */
} rf_options;

void rf_default_options(rf_options *o);

/* The statistics of a row the figures use. */
typedef enum rf_stat {
    RF_ATTN_ENTROPY, RF_ATTN_VARENTROPY, RF_LOGIT_ENTROPY, RF_LOGIT_VARENTROPY,
    RF_ATTN_ENTROPY_NORM, /* attention entropy / ln(pos + 1): 1 = uniform over the context */
    RF_N_STATS
} rf_stat;

const char *rf_stat_name(rf_stat s);  /* "attn_entropy", ... */
const char *rf_stat_label(rf_stat s); /* "attention entropy (nats)", ... */
double rf_row_value(const rd_row *row, rf_stat s); /* NAN when not measured */
/* The mean of a statistic over an item's generated rows (finite values only). */
double rf_item_mean(const rd_item *item, rf_stat s);

/* The groups of a study in display order (the first two are compared);
 * returns their count. An unknown study has one group, NULL = every item. */
int rf_study_groups(const char *study, const char *groups[3]);
int rf_item_in_group(const rd_item *item, const char *group);

/* Appends the figures and tables of run `run` (its index r among the
 * report's runs names the files) to out. */
int rf_run_figures(const rd_run *run, int r, const rf_options *o, rf_parts *out, es_error *err);
/* Appends a part, taking ownership of title, body, csv and note. */
int rf_parts_add(rf_parts *p, rf_kind kind, const char *name, char *title, char *body, char *csv,
                 char *note, es_error *err);
void rf_parts_free(rf_parts *p);

#endif
