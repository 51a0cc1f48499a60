/* Helpers shared by the tokenizer test files (defined in test_tokenizer.c). */
#ifndef ES_TESTS_TOKENIZER_TEST_UTIL_H
#define ES_TESTS_TOKENIZER_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "entroscope.h"

/* Tokenizes a C string into out (at most cap ids); returns the count, and
 * records a test failure if tokenizing fails. */
size_t tokenizer_test_encode(const es_tokenizer *tok, const char *text, int flags, int32_t *out,
                             size_t cap);
/* 1 if token id (after prev) decodes to exactly want. */
int tokenizer_test_piece_is(const es_tokenizer *tok, int32_t prev, int32_t id, int show,
                            const char *want);

#endif
