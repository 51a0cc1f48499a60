/* Numbers as people write them in answers and chains of thought ("$1,250.00",
 * "-3", "12.5%", "+7"): one scanner shared by answer extraction, the SimpleQA
 * grader and the arithmetic checker, so that all three agree on what a number
 * is. A scanned number is kept as an exact decimal (its digits and scale), and
 * compared by its canonical text, never through a float:
 *   canonical = ["-"] integer digits without leading zeros ["." fraction
 *   digits without trailing zeros]; "-0" is "0".
 * So "1,000" = "1000", "3.0" = "3", "$18.00" = "18", "+5" = "5", "50%" = "50"
 * (a percent sign is dropped, not divided out: "50%" answers "50"). */
#ifndef ES_STUDY_NUMBER_H
#define ES_STUDY_NUMBER_H

#include <stddef.h>
#include <stdint.h>

#define NUMBER_MAX_DIGITS 40 /* longer digit runs are not numbers we compare */

typedef struct number_span {
    size_t start, end;  /* bytes [start, end) of the text: sign, "$", digits, "%" */
    int negative;       /* a "-" (or U+2212) right before the digits or the "$" */
    int percent;        /* followed by "%" */
    char digits[NUMBER_MAX_DIGITS + 1]; /* integer then fraction digits, no separators */
    int n_digits;
    int scale;          /* how many of the digits are after the decimal point */
} number_span;

/* Flags of number_scan. */
enum {
    NUMBER_SIGNED = 1 << 0, /* take a "-" or "+" right before the number as its sign
                               (only when no letter or digit precedes the sign) */
    NUMBER_ANY_START = 1 << 1, /* may start right after a letter ("3x4": the 4) */
};

/* Recognises a number starting exactly at text[pos] (a sign, "$" or digit).
 * Thousands separators are commas between groups of exactly three digits;
 * a "." is a decimal point only when a digit follows. Returns 1 and fills
 * *out, or 0 if no number starts there (or it has too many digits). A number
 * never starts right after a digit, nor (without NUMBER_ANY_START) right
 * after a letter. */
int number_scan(const char *text, size_t len, size_t pos, int flags, number_span *out);

/* Finds the next number at or after pos; returns 1 and fills *out, or 0. */
int number_find(const char *text, size_t len, size_t pos, int flags, number_span *out);

/* The canonical text of a scanned number (see above) into out (at least
 * NUMBER_MAX_DIGITS + 3 bytes). */
void number_canonical(const number_span *n, char *out, size_t out_size);
#define NUMBER_TEXT_MAX (NUMBER_MAX_DIGITS + 3)

/* Normalises a whole string that should hold one number, with optional
 * surrounding spaces ("  $1,000.00 " -> "1000"). Returns 1, or 0 if the string
 * is not exactly one number. */
int number_normalise(const char *s, char *out, size_t out_size);

/* The value as an exact fraction num/den (den > 0, reduced; a percent
 * divided by 100 when percent_as_fraction is set). Returns 0, or -1 if it
 * does not fit 64-bit integers. */
int number_rational(const number_span *n, int percent_as_fraction, int64_t *num, int64_t *den);

#endif
