/* The parts of es_grade (grading.c, grading_report.c) that tests reach
 * directly: locating a judge's quote, the agreement of two graders, and the
 * summary of a trace's grades. */
#ifndef ES_STUDY_GRADING_H
#define ES_STUDY_GRADING_H

#include <stdio.h>

#include "study/grade.h"
#include "trace/trace_grade.h"

/* Finds quote in text[0, len): first byte for byte, then with every run of
 * white space (in both) read as one space and the quote's own leading and
 * trailing white space dropped. The first occurrence wins. Returns 1 (exact)
 * or 2 (white space normalised) with its bytes [*start, *end) in text, 0
 * when not found (an empty quote is never found), -1 when out of memory. */
int locate_quote(const char *text, size_t len, const char *quote, size_t *start, size_t *end);

typedef struct grader_agreement {
    size_t n;     /* items both graded */
    double equal; /* fraction with the same verdict */
    double kappa; /* Cohen's kappa over the three verdicts; NAN when chance
                     agreement is 1 (both graders always said the same one) */
} grader_agreement;

/* Agreement of verdicts a[i] and b[i] of the same n items. */
void grade_agreement(const grade_verdict *a, const grade_verdict *b, size_t n, grader_agreement *out);

/* Prints, per run and study, the metrics of every grader found in the
 * trace's grades (all of them, not only those written now), and for
 * SimpleQA the agreement of the offline grader with each judge. */
int grade_report(grade_store *store, FILE *log, es_error *err);

#endif
