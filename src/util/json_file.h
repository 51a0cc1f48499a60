/* Reading a whole JSON file (a confidence model, a config) with cJSON,
 * with one-line errors naming the file. */
#ifndef ES_UTIL_JSON_FILE_H
#define ES_UTIL_JSON_FILE_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "entroscope.h"

/* The parsed file, or NULL with err set ("cannot open", larger than
 * max_bytes, "not valid JSON"). Free with cJSON_Delete. */
cJSON *es_json_read_file(const char *path, size_t max_bytes, es_error *err);

#endif
