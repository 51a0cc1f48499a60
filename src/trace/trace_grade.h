/* The grading side of a trace: reading items and their generated token rows,
 * writing verdicts (grades) and located token spans (spans), and the judge's
 * answer cache (judge_cache). Tables: trace.c, GRADE_SCHEMA_SQL; README,
 * "Grading".
 *
 * A grade_store is its own SQLite connection to an existing trace (it never
 * creates a file), so that `entroscope run` can grade with its trace still
 * open. A grade and its spans are written in one transaction: a killed
 * grading run leaves whole grades only, and resumes by skipping them. */
#ifndef ES_TRACE_TRACE_GRADE_H
#define ES_TRACE_TRACE_GRADE_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "entroscope.h"

/* Creates the grading tables of the trace db (from path) when absent.
 * Defined in trace.c beside the rest of the schema; es_trace_open calls it. */
int es_trace_add_grade_tables(sqlite3 *db, const char *path, es_error *err);

typedef struct grade_store grade_store;

grade_store *grade_store_open(const char *path, es_error *err);
void grade_store_close(grade_store *s);

/* --------------------------------------------------------------- items -- */

typedef struct grade_item {
    int64_t id, run_id;
    char *labels;       /* the labels JSON text, or NULL */
    char *output;       /* NUL-terminated; its stored bytes, output_len of them */
    size_t output_len;
} grade_item;

/* Every item of the trace, by id. */
int grade_store_items(grade_store *s, grade_item **items, size_t *n, es_error *err);
void grade_items_free(grade_item *items, size_t n);

/* The generated rows of an item, their token text back to back (this is the
 * output as generated; spans' byte offsets count in it). */
typedef struct generated_text {
    char *text;       /* NUL-terminated, len bytes */
    size_t len;
    int64_t *rows;    /* (n_rows) tokens.row of each generated row */
    size_t *ends;     /* (n_rows) byte offset in text where each row's text ends */
    size_t n_rows;
} generated_text;

int grade_store_generated(grade_store *s, int64_t item_id, generated_text *out, es_error *err);
void generated_text_free(generated_text *g);
/* The rows whose text overlaps bytes [start, end) (end > start): 0 with
 * *first_row and *last_row set, -1 when none does (empty range, beyond). */
int generated_rows_of(const generated_text *g, size_t start, size_t end,
                      int64_t *first_row, int64_t *last_row);

/* -------------------------------------------------------------- grades -- */

/* 1 when the item has a grade from grader other than ERROR (resume skips
 * it), 0 when not, -1 on a database error. */
int grade_store_has_grade(grade_store *s, int64_t item_id, const char *grader, es_error *err);

typedef struct grade_span {
    const char *kind;            /* "first_error" */
    const char *source;          /* "arith" or "judge" */
    int64_t first_row, last_row; /* -1: not located (NULL) */
    int64_t byte_start, byte_end;/* -1: not located (NULL) */
    const char *text;            /* text_len bytes, or NULL */
    size_t text_len;
    const char *note;            /* or NULL */
} grade_span;

typedef struct grade_record {
    int64_t item_id;
    const char *grader;      /* "offline", "arith", "judge:MODEL" */
    const char *verdict;
    const char *extracted;   /* or NULL */
    const char *detail_json; /* a JSON object, or NULL */
    const grade_span *span;  /* or NULL */
} grade_record;

/* Replaces the item's grade from r->grader (and that grader's spans) by r,
 * in one transaction. */
int grade_store_put(grade_store *s, const grade_record *r, es_error *err);

/* One grade with what the summary needs of its item. */
typedef struct grade_row {
    int64_t item_id, run_id;
    char *study;   /* the item's labels.study, or NULL */
    char *grader, *verdict, *detail; /* detail may be NULL */
} grade_row;

/* Every grade, ordered by run, grader (offline first), item. */
int grade_store_grades(grade_store *s, grade_row **rows, size_t *n, es_error *err);
void grade_rows_free(grade_row *rows, size_t n);

/* --------------------------------------------------------- judge cache -- */

/* 1 with the cached response (malloc'd) when request was answered before,
 * 0 when not, -1 on a database error. */
int grade_store_cache_get(grade_store *s, const char *request, char **response, es_error *err);
int grade_store_cache_put(grade_store *s, const char *request, const char *response, es_error *err);
/* The cache key of a request: 32 hex digits (two independent 64-bit FNV-1a
 * hashes). A collision costs only a cache miss: the stored request is compared. */
void grade_request_hash(const char *request, char out[33]);

#endif
