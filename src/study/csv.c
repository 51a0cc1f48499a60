/* The RFC 4180 CSV reader (see csv.h for the format it accepts, why it is
 * written by hand, and how errors and skip-bad mode work). */
#include "study/csv.h"

#include <stdlib.h>
#include <string.h>

#include "util/error.h"

enum { RECORD_END = 0, RECORD_OK = 1, RECORD_BAD = -1, RECORD_NOMEM = -2 };

static int append_byte(csv_reader *r, size_t *used, char c) {
    if (*used + 1 >= r->storage_cap) {
        size_t cap = r->storage_cap ? r->storage_cap * 2 : 256;
        char *p = realloc(r->storage, cap);
        if (!p) return -1;
        r->storage = p;
        r->storage_cap = cap;
    }
    r->storage[(*used)++] = c;
    return 0;
}

static int start_field(csv_reader *r, size_t used) {
    if (r->n_fields == r->fields_cap) {
        int cap = r->fields_cap ? r->fields_cap * 2 : 8;
        size_t *o = realloc(r->offsets, (size_t)cap * sizeof *o);
        if (!o) return -1;
        r->offsets = o;
        char **f = realloc(r->fields, (size_t)cap * sizeof *f);
        if (!f) return -1;
        r->fields = f;
        r->fields_cap = cap;
    }
    r->offsets[r->n_fields++] = used;
    return 0;
}

/* A record ends at LF, CRLF, a CR that ends the buffer, or the buffer's end. */
static int at_record_end(const csv_reader *r, size_t p) {
    return p >= r->size || r->data[p] == '\n' ||
           (r->data[p] == '\r' && (p + 1 == r->size || r->data[p + 1] == '\n'));
}

static void consume_record_end(csv_reader *r) {
    if (r->pos < r->size && r->data[r->pos] == '\r') r->pos++;
    if (r->pos < r->size && r->data[r->pos] == '\n') {
        r->pos++;
        r->line++;
    }
}

/* A quoted field, r->pos at the opening quote. */
static int read_quoted(csv_reader *r, size_t *used, int field, char *why, size_t why_size) {
    r->pos++;
    for (;;) {
        if (r->pos >= r->size) {
            snprintf(why, why_size, "unterminated quoted field %d", field + 1);
            return RECORD_BAD;
        }
        char c = r->data[r->pos];
        if (c == '"') {
            if (r->pos + 1 < r->size && r->data[r->pos + 1] == '"') r->pos++;
            else break;
        } else if (c == '\0') {
            snprintf(why, why_size, "NUL byte in field %d", field + 1);
            return RECORD_BAD;
        } else if (c == '\n') {
            r->line++;
        }
        if (append_byte(r, used, c)) return RECORD_NOMEM;
        r->pos++;
    }
    r->pos++; /* the closing quote */
    if (r->pos < r->size && r->data[r->pos] != ',' && !at_record_end(r, r->pos)) {
        snprintf(why, why_size, "text after the closing quote of field %d", field + 1);
        return RECORD_BAD;
    }
    return RECORD_OK;
}

static int read_unquoted(csv_reader *r, size_t *used, int field, char *why, size_t why_size) {
    while (r->pos < r->size && r->data[r->pos] != ',' && !at_record_end(r, r->pos)) {
        char c = r->data[r->pos];
        if (c == '"' || c == '\0') {
            snprintf(why, why_size, c == '"' ? "quote inside unquoted field %d" : "NUL byte in field %d",
                     field + 1);
            return RECORD_BAD;
        }
        if (append_byte(r, used, c)) return RECORD_NOMEM;
        r->pos++;
    }
    return RECORD_OK;
}

/* Reads one record into r->fields; on RECORD_BAD, why says what is wrong and
 * r->pos is where it was found. */
static int read_record(csv_reader *r, char *why, size_t why_size) {
    while (r->pos < r->size && at_record_end(r, r->pos)) consume_record_end(r); /* empty lines */
    if (r->pos >= r->size) return RECORD_END;
    r->record_line = r->line;
    r->n_fields = 0;
    size_t used = 0;
    for (;;) {
        if (start_field(r, used)) return RECORD_NOMEM;
        int field = r->n_fields - 1;
        int rc = r->pos < r->size && r->data[r->pos] == '"' ? read_quoted(r, &used, field, why, why_size)
                                                            : read_unquoted(r, &used, field, why, why_size);
        if (rc != RECORD_OK) return rc;
        if (append_byte(r, &used, '\0')) return RECORD_NOMEM;
        if (r->pos < r->size && r->data[r->pos] == ',') {
            r->pos++;
            continue;
        }
        consume_record_end(r);
        break;
    }
    for (int i = 0; i < r->n_fields; i++) r->fields[i] = r->storage + r->offsets[i];
    return RECORD_OK;
}

/* After a bad record: go on at the line after the one where it was found. */
static void resync(csv_reader *r) {
    while (r->pos < r->size && r->data[r->pos] != '\n') r->pos++;
    consume_record_end(r);
}

int csv_open(csv_reader *r, const char *data, size_t size, const char *path, int skip_bad,
             es_error *err) {
    char why[128];
    memset(r, 0, sizeof *r);
    r->data = data;
    r->size = size;
    r->path = path;
    r->line = 1;
    r->skip_bad = skip_bad;
    if (size >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0) r->pos = 3;
    int rc = read_record(r, why, sizeof why);
    if (rc != RECORD_OK) {
        if (rc == RECORD_END) es_fail(err, "%s: empty file, no header", path);
        else if (rc == RECORD_NOMEM) es_fail(err, "%s: out of memory", path);
        else es_fail(err, "%s:%ld: header: %s", path, r->record_line, why);
        csv_close(r);
        return -1;
    }
    r->column_names = calloc((size_t)r->n_fields, sizeof *r->column_names);
    if (!r->column_names) {
        csv_close(r);
        return es_fail(err, "%s: out of memory", path);
    }
    r->n_columns = r->n_fields;
    for (int i = 0; i < r->n_columns; i++)
        if (!(r->column_names[i] = strdup(r->fields[i]))) {
            csv_close(r);
            return es_fail(err, "%s: out of memory", path);
        }
    r->n_fields = 0;
    return 0;
}

int csv_next(csv_reader *r, es_error *err) {
    char why[128];
    for (;;) {
        int rc = read_record(r, why, sizeof why);
        if (rc == RECORD_OK && r->n_fields != r->n_columns) {
            snprintf(why, sizeof why, "%d field%s, the header has %d", r->n_fields,
                     r->n_fields == 1 ? "" : "s", r->n_columns);
            rc = RECORD_BAD;
        } else if (rc == RECORD_BAD) {
            resync(r);
        }
        if (rc == RECORD_OK || rc == RECORD_END) return rc;
        r->n_fields = 0;
        if (rc == RECORD_NOMEM) return es_fail(err, "%s: out of memory", r->path);
        if (!r->skip_bad) return es_fail(err, "%s:%ld: %s", r->path, r->record_line, why);
        r->n_skipped++;
    }
}

int csv_column(const csv_reader *r, const char *name) {
    for (int i = 0; i < r->n_columns; i++)
        if (strcmp(r->column_names[i], name) == 0) return i;
    return -1;
}

void csv_close(csv_reader *r) {
    if (!r) return;
    for (int i = 0; r->column_names && i < r->n_columns; i++) free(r->column_names[i]);
    free(r->column_names);
    free(r->fields);
    free(r->offsets);
    free(r->storage);
    memset(r, 0, sizeof *r);
}
