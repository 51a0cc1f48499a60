/* Comparing the settings of trace runs (JSON objects), shared by merge
 * (trace_merge.c) and by a study's --resume (study/run_db.c). */
#ifndef ES_TRACE_TRACE_MERGE_H
#define ES_TRACE_TRACE_MERGE_H

#include <stddef.h>

/* 1 if two settings objects have the same keys with equal values, apart
 * from the keys in ignore (a NULL-terminated list, or NULL); otherwise 0,
 * with the first key that differs in differs ("settings" when one is not a
 * JSON object). */
int es_settings_agree(const char *a, const char *b, const char *const *ignore, char *differs,
                      size_t differs_size);

#endif
