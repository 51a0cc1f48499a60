/* The report's parts about the sampler (issue 9, README "Report"):
 *
 *   per run whose rows carry a sampler branch (--sampler entropix): how often
 *     each branch fired, the insertion events, and the statistics at the rows
 *     that triggered an insertion against the inserted rows and all other
 *     generated rows;
 *   per pair of runs of one study and one model whose samplers differ (an
 *     entropix run and a default/greedy run): the items paired by key, the
 *     accuracy of each, the difference with a paired bootstrap CI, McNemar's
 *     exact p and the mean tokens generated per item.
 *
 * The counting and the pairing are exposed so that tests can check them on
 * hand-made rows (tests/test_report_sampler.c). */
#ifndef ES_REPORT_SAMPLER_H
#define ES_REPORT_SAMPLER_H

#include <stddef.h>

#include "report/figures.h"

/* The branches in display order; "inserted" marks the rows of the inserted
 * clarifying text after its first token (whose row says "insert"). */
enum { RSM_N_BRANCHES = 6 };
extern const char *const rsm_branch_names[RSM_N_BRANCHES];

/* Fewer paired items than this: the comparison says "too small". */
enum { RSM_MIN_PAIRS = 5 };

typedef struct rsm_branch_tally {
    size_t rows;                    /* generated rows of the run */
    size_t count[RSM_N_BRANCHES];    /* rows per branch, rsm_branch_names order */
    size_t other;                   /* rows with another (unknown) branch name */
    size_t unmarked;                /* rows without a branch (NULL) */
    size_t events;                  /* insertion events (see rsm_row_role) */
    size_t inserted_tokens;         /* rows of inserted text ("inserted") */
} rsm_branch_tally;

/* The role of a generated row around insertions. An insertion event is an
 * "insert" row and the "inserted" rows after it (or a run of "inserted" rows
 * without an "insert" row before it). Its trigger is the row whose
 * statistics the sampler decided on: the "insert" row itself, since a row's
 * statistics are those of the distribution its token was chosen from, i.e.
 * of the context just before the inserted text (for a run of "inserted" rows
 * alone: the row before it, when that row is not inserted text itself). */
typedef enum rsm_row_role { RSM_ROLE_OTHER, RSM_ROLE_TRIGGER, RSM_ROLE_INSERTED } rsm_row_role;

/* roles[0..item->n_rows) for one item; returns its insertion events. */
size_t rsm_row_roles(const rd_item *item, rsm_row_role *roles);
/* Whether any generated row of the run carries a branch. */
int rsm_run_has_branches(const rd_run *run);
void rsm_count_branches(const rd_run *run, rsm_branch_tally *t);

/* 1: the item is correct (gsm8k strict "correct", simpleqa "CORRECT");
 * 0: graded and not correct; -1: ungraded or a study without accuracy. */
int rsm_item_correct(const rd_run *run, const rd_item *item);
/* Whether runs a and b are compared: one study with accuracy, one model,
 * different samplers (a run without "sampler" used the default one). */
int rsm_runs_comparable(const rd_run *a, const rd_run *b);
/* The items of a and b with the same key, both graded: ia[k], ib[k] are item
 * indices, in a's order. ia and ib hold a->n_items entries. Returns the
 * count, or -1 when out of memory. */
int rsm_pair_items(const rd_run *a, const rd_run *b, int *ia, int *ib);

/* Appends run r's branch table when its rows carry branches. */
int rsm_branch_table(const rd_run *run, int r, rf_parts *out, es_error *err);
/* Appends a paired comparison for every comparable pair of runs of d. */
int rsm_pair_tables(const report_data *d, const rf_options *o, rf_parts *out, es_error *err);

#endif
