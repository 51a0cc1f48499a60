/* The trace store's insides, shared by its writer (trace.c) and its exporter
 * (trace_export.c): how a database is recognised as an entroscope trace, and
 * the per-head blob layout.
 *
 * Per-head blob (tokens.heads), for a run of L = n_layers, H = n_heads:
 *   little-endian IEEE float32, 2*L*H + 2*L values, in this order:
 *   entropy     [L][H]  attention entropy H of layer l, head h (nats)
 *   varentropy  [L][H]  attention varentropy V (nats^2)
 *   agreement   [L]     per-layer agreement (a probability, no unit)
 *   interaction [L]     per-layer mean |scaled score| (no unit)
 * Layer-major: entropy of (l, h) is value l*H + h. NULL when probes were off. */
#ifndef ES_TRACE_TRACE_H
#define ES_TRACE_TRACE_H

#include <sqlite3.h>

#include "entroscope.h"

/* user_version of the schema this code writes and reads. */
#define ES_TRACE_SCHEMA_VERSION 1
/* application_id marking a SQLite file as an entroscope trace ("ESTR"). */
#define ES_TRACE_APP_ID 0x45535452

/* Values in a blob of a run of n_layers x n_heads. */
static inline size_t es_trace_blob_floats(int n_layers, int n_heads) {
    return 2 * (size_t)n_layers * (size_t)n_heads + 2 * (size_t)n_layers;
}

/* Length (1..4) of the valid UTF-8 character at s[0..n), 0 if the bytes
 * there are not one (stray continuation, overlong form, surrogate, beyond
 * U+10FFFF, cut short). NUL counts as invalid: SQLite TEXT and C strings
 * do not hold it well. */
size_t es_utf8_char_len(const unsigned char *s, size_t n);

/* Checks that db (opened from path) is an entroscope trace of this schema
 * version. Returns 1 if it is, 0 if the database is empty (no tables: a
 * new file), -1 with a one-line message naming path otherwise. */
int es_trace_check_schema(sqlite3 *db, const char *path, es_error *err);
/* 1 if the database has a table of that name (traces written before a table
 * was added lack it), else 0. */
int es_trace_table_exists(sqlite3 *db, const char *name);

#endif
