/* GSM8K answer extraction from a generated solution, two ways:
 *   strict:   the number right after the first "The final answer is" (any
 *             case; an optional ":" , "$", "**", "\(" or "\boxed{" between) or
 *             after the first "####" — the first, because a base model
 *             often goes on to write further questions and answers;
 *   flexible: the last number anywhere in the text.
 * Numbers are scanned and normalised by number.h ("$1,000.00" -> "1000",
 * "-3", "12.5%" -> "12.5", "+7" -> "7"), and compared as exact decimals by
 * their canonical text: no float ever decides equality. */
#ifndef ES_STUDY_EXTRACT_H
#define ES_STUDY_EXTRACT_H

#include <stddef.h>

#include "study/number.h"

typedef struct extracted_answer {
    int found;                   /* 0 when no number was found */
    char value[NUMBER_TEXT_MAX]; /* canonical */
    size_t start, end;           /* its bytes in the text */
} extracted_answer;

void extract_strict(const char *text, size_t len, extracted_answer *out);
void extract_flexible(const char *text, size_t len, extracted_answer *out);

/* 1 if two numbers as written are equal exact decimals (both must parse as
 * single numbers: "1,000" and "1000.0" are equal; "1/2" is no number). */
int numbers_equal(const char *a, const char *b);

/* GSM8K grading of one generation against the canonical reference number
 * (gsm8k_item.final): correct iff the extracted number equals it. */
typedef struct gsm8k_grade_result {
    extracted_answer strict, flexible;
    int strict_correct, flexible_correct;
} gsm8k_grade_result;

void gsm8k_grade(const char *reference, const char *generated, size_t len, gsm8k_grade_result *out);

#endif
