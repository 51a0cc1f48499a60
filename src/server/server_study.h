/* The study browser of `entroscope serve --db run.db` (server_study.c): a
 * trace database opened read-only, and the JSON endpoints that list its
 * items and show one with its tokens, grades and first-error span. */
#ifndef ES_SERVER_SERVER_STUDY_H
#define ES_SERVER_SERVER_STUDY_H

#include "server/server.h"

typedef struct study_db study_db;

/* Opens path read-only and checks that it is an entroscope trace; NULL
 * with a one-line err naming path otherwise. */
study_db *study_db_open(const char *path, es_error *err);
void study_db_close(study_db *db);
/* The check alone (for the CLI, before it loads a model): 0 or -1. */
int study_db_check(const char *path, es_error *err);

/* The query parameters the endpoints read (NULL: absent). */
typedef struct study_query {
    const char *offset, *limit; /* the list's page */
    const char *heads;          /* "0": an item's tokens without their per-head values */
} study_query;

/* GET /v1/entroscope/items (rest "") or /v1/entroscope/items/ID (rest
 * "/ID"). A server without a database answers 404. */
void study_route(server *s, const char *rest, const study_query *q, reply *r);

#endif
