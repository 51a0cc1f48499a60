/* The report page: one self-contained HTML file (inline SVG and CSS, no
 * network, no JavaScript needed) with, per study, the runs side by side
 * (model comparison), each run's settings, accuracy metrics, summary table
 * and figures. The summary tables are parts too (figures.h), so that their
 * numbers are also written as CSV. */
#ifndef ES_REPORT_HTML_H
#define ES_REPORT_HTML_H

#include "report/figures.h"

/* Appends run r's summary table: per statistic (per item, the mean over its
 * generated rows) and group: n, mean, median; between the two main groups:
 * Mann-Whitney U and p, AUROC with bootstrap CI, Cohen's d. */
int rh_summary_table(const rd_run *run, int r, const rf_options *o, rf_parts *out, es_error *err);
/* Appends the accuracy and settings table of every run (model comparison). */
int rh_runs_table(const report_data *d, rf_parts *out, es_error *err);
/* Appends the "Confidence" section's parts (run -1, names "confidence-*"):
 * the cross-validated evaluation of a `confidence fit` file (token and
 * answer level: AUROC and PRR with their CIs, the model beside the
 * baselines) and its features with their weights. conf is the parsed file
 * (a cJSON object), path names it in errors and on the page. */
struct cJSON;
int rh_confidence_tables(const struct cJSON *conf, const char *path, rf_parts *out, es_error *err);
/* The page (malloc'ed) or NULL with err set. */
char *rh_page(const report_data *d, const rf_parts *parts, const rf_options *o, es_error *err);

/* Builds every part of the report of d and writes the page to out_html and,
 * when data_dir is not NULL, each figure as DIR/NAME.svg and each part's
 * numbers as DIR/NAME.csv (defined in report.c; es_report loads and calls it). */
int rh_write_report(const report_data *d, const rf_options *o, const char *out_html, const char *data_dir,
                    es_error *err);
/* The same with a "Confidence" section from conf (a cJSON object, or NULL). */
int rh_write_report_conf(const report_data *d, const rf_options *o, const struct cJSON *conf,
                         const char *conf_path, const char *out_html, const char *data_dir, es_error *err);

#endif
