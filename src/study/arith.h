/* The arithmetic checker for chains of thought: finds every stated
 * calculation "a op b (op c ...) = d" in a generated text, evaluates the left
 * side exactly and says whether the stated result d is right, so that the
 * first wrong step of a GSM8K solution can be located (its byte span, which
 * the caller maps to tokens).
 *
 * What counts as a calculation:
 *   - operators + - * / x X × ÷ and, between two operands only, the words
 *     "times", "plus", "minus", "multiplied by", "divided by" ("x" too must
 *     stand between operands: "2x = 10" is no calculation); parentheses ( )
 *     and [ ]; unary minus; "=" or the word "equals";
 *   - operands are numbers of number.h ("$1,200", "2.5", "50%": a percent
 *     operand is n/100);
 *   - the left side is the longest run of operands, operators and
 *     parentheses just before "=" (after the previous "=", word, newline or
 *     other punctuation; at most 128 tokens) that parses as an expression with at least one
 *     binary operator, leading tokens dropped until it does; usual precedence
 *     (* / before + -), left to right;
 *   - the stated result is the number right after "=" (optionally "-" or
 *     "$"), so "2 + 3 = 5 + 4 = 9" holds two calculations, 2 + 3 = 5 and
 *     5 + 4 = 9.
 * Evaluation is exact: 64-bit rationals, every step checked for overflow
 * (a calculation that overflows is ARITH_UNCHECKED, never guessed). A stated
 * result is right when equal to the value; a result with k >= 1 decimals
 * also when it is the value rounded to k decimals (|v - s| <= 10^-k / 2:
 * "2 / 3 = 0.67") or cut to k decimals ("2 / 3 = 0.66"; "10 / 3 = 3.4" is
 * wrong, "10 / 3 = 3" too: integers must be exact); a result with
 * "%" when either n or n/100 is right (people write both "0.2 = 20%" and
 * "20/100 * 100 = 20%"). Division by zero is ARITH_WRONG. */
#ifndef ES_STUDY_ARITH_H
#define ES_STUDY_ARITH_H

#include <stddef.h>
#include <stdint.h>

#include "entroscope.h"

typedef enum arith_status {
    ARITH_RIGHT = 0,
    ARITH_WRONG = 1,
    ARITH_UNCHECKED = 2, /* overflowed 64-bit rationals */
} arith_status;

typedef struct arith_calc {
    size_t expr_start, expr_end;     /* bytes of the left side */
    size_t result_start, result_end; /* bytes of the stated result (sign, "$", "%" included) */
    arith_status status;
    int64_t value_num, value_den;    /* the left side's exact value (den 0: division by zero or unchecked) */
} arith_calc;

/* Every calculation in text[0, len), in text order, into *calcs (malloc'd;
 * NULL when none). Returns 0, or -1 when out of memory. */
int arith_check(const char *text, size_t len, arith_calc **calcs, size_t *n_calcs, es_error *err);

/* The index of the first ARITH_WRONG calculation, or -1. */
long arith_first_wrong(const arith_calc *calcs, size_t n);

#endif
