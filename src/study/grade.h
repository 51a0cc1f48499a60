/* The offline SimpleQA grader and the SimpleQA metrics.
 *
 * Text is normalised before comparison: invalid UTF-8 bytes become U+FFFD;
 * then utf8proc's NFKC with case folding, accents stripped (STRIPMARK:
 * "José" = "jose", since models often drop them) and default-ignorable
 * characters removed; then the text is split into tokens: numbers
 * (number.h, canonical: "1,000" = "1000", "3.0" = "3", "$5" = "5") and words
 * (runs of letters, marks and digits; an apostrophe inside a word is dropped:
 * "don't" = "dont"); all other punctuation, symbols and spaces separate
 * tokens; the articles "a", "an", "the" are dropped.
 *
 * Verdict of an answer A to a question Q with gold answer G (token lists):
 *   1. A has no tokens                             -> NOT_ATTEMPTED
 *   2. G is found in A: G's tokens appear side by side in A (in any order), or (for a G of
 *      two or more tokens) all of G's tokens, as a multiset, within a window
 *      of |G| + 2 tokens of A (so "5 May 2010" matches "May 5, 2010" and
 *      "Sugeno Michio" matches "Michio Sugeno"). Then the answer is
 *      INCORRECT if contradicted, else CORRECT. Contradicted means one of:
 *        a. negation: "not", "no", "never", "isnt", "wasnt", "dont",
 *           "doesnt", "didnt", "neither", "nor", "cannot", "cant" among
 *           the 2 tokens before the match, unless followed by "sure",
 *           "certain" or "only" ("not sure, but Paris" is a hedge);
 *        b. alternatives: "or" or "either" next to the match ("Paris or
 *           Lyon");
 *        c. another number: G holds a number and A holds a number that is
 *           neither in G nor in Q, outside the match ("1874 or 1875",
 *           "in 2011, not 2010"; numbers repeated from the question are fine).
 *      Hedging with the gold present is CORRECT, as SimpleQA's own grading
 *      instructions allow it.
 *   3. G not found: a hedge or refusal phrase in A ("i dont know", "not
 *      sure", "i cannot", "unknown", "no idea", "unable to", ... see
 *      grade.c) -> NOT_ATTEMPTED; otherwise INCORRECT.
 *   A gold answer with no tokens (only punctuation) is never found. */
#ifndef ES_STUDY_GRADE_H
#define ES_STUDY_GRADE_H

#include <stddef.h>

typedef enum grade_verdict {
    GRADE_CORRECT = 0,
    GRADE_INCORRECT = 1,
    GRADE_NOT_ATTEMPTED = 2,
} grade_verdict;

const char *grade_verdict_name(grade_verdict v); /* "CORRECT", "INCORRECT", "NOT_ATTEMPTED" */

/* The verdict (>= 0), or -1 when out of memory. question may be NULL. */
int simpleqa_grade(const char *question, const char *gold, const char *answer);

/* Normalised tokens of text joined by single spaces (malloc'd, or NULL when
 * out of memory); what the grader compares, exposed for tests and reports. */
char *grade_normalise(const char *text);

typedef struct simpleqa_metrics {
    size_t n, n_correct, n_incorrect, n_not_attempted;
    double correct, incorrect, not_attempted; /* fractions of n; 0 when n == 0 */
    double accuracy_given_attempted; /* n_correct / (n_correct + n_incorrect); 0 when none attempted */
    double f1; /* 2 * acc_given_attempted * correct / (acc_given_attempted + correct); 0 when both are 0 */
} simpleqa_metrics;

void simpleqa_metrics_compute(const grade_verdict *verdicts, size_t n, simpleqa_metrics *m);

#endif
