/* An RFC 4180 CSV reader over a memory buffer (a file read whole), for the
 * SimpleQA data set: quoted fields may hold commas, doubled quotes and CR/LF
 * newlines; records end with CRLF or LF (or the end of the buffer); the first
 * record is the header, mapped to column names; a UTF-8 BOM is skipped.
 * Empty lines between records are skipped (as Python's csv.DictReader does).
 *
 * Written by hand because no C library in Debian parses RFC 4180 with what
 * the studies need: the line number of each malformed record, the kinds of
 * error told apart, and a mode that skips bad records and counts them.
 *
 * Errors are one line "PATH:LINE: problem", LINE being the physical line on
 * which the record starts (1-based, counting newlines inside quoted fields).
 * In skip-bad mode a malformed record is skipped, counted in n_skipped, and
 * reading goes on at the line after the one where the error was found (an
 * unterminated quote runs to the end of the buffer, so nothing follows it). */
#ifndef ES_STUDY_CSV_H
#define ES_STUDY_CSV_H

#include <stddef.h>

#include "entroscope.h"

typedef struct csv_reader {
    const char *data;   /* the buffer (not owned) */
    size_t size, pos;   /* its size; where the next record starts */
    const char *path;   /* for messages (not owned) */
    long line;          /* physical line at pos, 1-based */
    int skip_bad;       /* skip malformed records instead of failing */
    long n_skipped;     /* records skipped in skip-bad mode */

    char **column_names; /* (n_columns) from the header record */
    int n_columns;

    /* the current record: fields[i] is NUL-terminated, inside storage */
    char **fields;      /* (n_fields) */
    int n_fields;
    long record_line;   /* line on which the current record starts */
    char *storage;      /* unescaped field bytes, each followed by NUL */
    size_t storage_cap;
    size_t *offsets;    /* (fields_cap) field starts in storage while reading */
    int fields_cap;
} csv_reader;

/* Starts reading data[0, size) and reads the header record. A header that
 * is malformed is an error even in skip-bad mode. Returns 0 or -1 (then the
 * reader holds nothing to free). */
int csv_open(csv_reader *r, const char *data, size_t size, const char *path, int skip_bad,
             es_error *err);

/* Reads the next record into r->fields. Returns 1 (a record), 0 (end of the
 * data) or -1 (a malformed record, not in skip-bad mode; or out of memory). A
 * record must have as many fields as the header. */
int csv_next(csv_reader *r, es_error *err);

/* The index of the column with this header name, or -1. */
int csv_column(const csv_reader *r, const char *name);

void csv_close(csv_reader *r);

#endif
