/* The library entry of the report (es_report in entroscope.h): loads the
 * trace databases (data.c), builds the figures and tables (figures.c,
 * html.c, sampler.c) and writes the page and the standalone files. Every file is
 * written under a temporary name and renamed, so that a reader never sees a
 * half-written report. With a confidence model file (`confidence fit`), its
 * evaluation, features and weights are added as a "Confidence" section. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "report/html.h"
#include "report/sampler.h"
#include "util/error.h"
#include "util/json_file.h"

static int write_whole(const char *path, const char *text, es_error *err) {
    size_t len = strlen(path) + 32;
    char *tmp = malloc(len);
    if (!tmp) return es_fail(err, "%s: out of memory", path);
    snprintf(tmp, len, "%s.tmp%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    int ok = f && fwrite(text, 1, strlen(text), f) == strlen(text);
    if (f && fclose(f) != 0) ok = 0;
    if (!ok || rename(tmp, path) != 0) {
        int e = errno;
        remove(tmp);
        free(tmp);
        return es_fail(err, "%s: cannot write (%s)", path, strerror(e));
    }
    free(tmp);
    return 0;
}

static int write_parts(const rf_parts *parts, const char *dir, es_error *err) {
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) return es_fail(err, "%s: cannot create (%s)", dir, strerror(errno));
    for (int i = 0; i < parts->n; i++) {
        const rf_part *p = &parts->items[i];
        char path[4096];
        snprintf(path, sizeof path, "%s/%s.csv", dir, p->name);
        if (write_whole(path, p->csv, err) < 0) return -1;
        if (p->kind != RF_FIGURE) continue;
        snprintf(path, sizeof path, "%s/%s.svg", dir, p->name);
        if (write_whole(path, p->body, err) < 0) return -1;
    }
    return 0;
}

int rh_write_report_conf(const report_data *d, const rf_options *o, const cJSON *conf, const char *conf_path,
                         const char *out_html, const char *data_dir, es_error *err) {
    rf_parts parts = {0};
    int rc = rh_runs_table(d, &parts, err);
    if (rc == 0 && conf) rc = rh_confidence_tables(conf, conf_path ? conf_path : "confidence", &parts, err);
    for (int r = 0; rc == 0 && r < d->n_runs; r++) {
        rc = rh_summary_table(&d->runs[r], r, o, &parts, err);
        if (rc == 0) rc = rf_run_figures(&d->runs[r], r, o, &parts, err);
        if (rc == 0) rc = rsm_branch_table(&d->runs[r], r, &parts, err);
    }
    if (rc == 0) rc = rsm_pair_tables(d, o, &parts, err);
    char *page = rc == 0 ? rh_page(d, &parts, o, err) : NULL;
    if (page) rc = write_whole(out_html, page, err);
    else rc = -1;
    if (rc == 0 && data_dir) rc = write_parts(&parts, data_dir, err);
    free(page);
    rf_parts_free(&parts);
    return rc;
}

int rh_write_report(const report_data *d, const rf_options *o, const char *out_html, const char *data_dir,
                    es_error *err) {
    return rh_write_report_conf(d, o, NULL, NULL, out_html, data_dir, err);
}

int es_report(const char *const *db_paths, int n_dbs, const char *out_html, const char *data_dir,
              const char *confidence_json, es_error *err) {
    report_data d;
    memset(&d, 0, sizeof d);
    if (n_dbs <= 0 || !out_html) return es_fail(err, "report: give at least one database and an output file");
    cJSON *conf = NULL;
    if (confidence_json && !(conf = es_json_read_file(confidence_json, (size_t)64 << 20, err))) return -1;
    if (report_data_load(&d, db_paths, n_dbs, err) < 0) {
        cJSON_Delete(conf);
        return -1;
    }
    int rc;
    if (d.n_runs == 0) rc = es_fail(err, "%s: no study runs to report", db_paths[0]);
    else {
        rf_options o;
        rf_default_options(&o);
        rc = rh_write_report_conf(&d, &o, conf, confidence_json, out_html, data_dir, err);
    }
    report_data_free(&d);
    cJSON_Delete(conf);
    return rc;
}
