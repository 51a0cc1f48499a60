/* The prompts entroscope sends to its judge, written for this project.
 *
 * The SimpleQA grader must answer with one word so that judge_parse_grade
 * can be strict; its rules mirror the offline grader's (grade.h) so that
 * the two can be compared: hedging with the right answer is still right,
 * a wrong alternative or a contradiction makes it wrong, an answer that
 * commits to nothing is NOT_ATTEMPTED.
 *
 * The GSM8K critic must quote the first wrong step verbatim, inside a JSON
 * object, so that the quote can be found in the generated text byte for
 * byte (grading.c); it is told never to paraphrase and to give null when it
 * finds no wrong step, rather than invent one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "judge/judge.h"

static const char SIMPLEQA_SYSTEM[] =
    "You grade answers to short factual questions. You are given a question, the reference "
    "answer (which is right), and a model's answer. Decide one of three grades.\n"
    "\n"
    "CORRECT: the model's answer states the reference answer, or something that means exactly "
    "the same (another spelling, a fuller or shorter name that still picks out the same thing, a "
    "number equal to the reference to the precision the question asks for), and states nothing "
    "that contradicts it. Extra true detail is fine. Hedging (\"I think\", \"probably\") is fine "
    "as long as the answer commits to the reference.\n"
    "INCORRECT: the model's answer commits to something that differs from the reference, gives "
    "several candidates of which one is the reference (\"1874 or 1875\"), or states the reference "
    "and then contradicts it.\n"
    "NOT_ATTEMPTED: the model gives no answer: it says it does not know, refuses, asks for more "
    "information, or talks around the question without committing to any answer. An answer that "
    "lacks the reference but contradicts nothing and commits to nothing is NOT_ATTEMPTED.\n"
    "\n"
    "Judge only the answer to this question; do not grade style, length or reasoning. Do not use "
    "your own knowledge to overrule the reference answer.\n"
    "\n"
    "Reply with exactly one word and nothing else: CORRECT, INCORRECT or NOT_ATTEMPTED.";

static const char GSM8K_SYSTEM[] =
    "You check step-by-step solutions of grade-school math word problems. You are given the "
    "problem, a model's solution (its final answer is wrong) and a reference solution (which is "
    "right). Find the FIRST step of the model's solution that is wrong: a miscalculation, a "
    "quantity misread from the problem, a wrong operation, a step that does not follow from the "
    "earlier ones, or an unjustified assumption. Later steps that merely inherit an earlier error "
    "are not the first wrong step. The model may solve the problem another way than the "
    "reference; a different method is not an error.\n"
    "\n"
    "Quote the first wrong step VERBATIM: copy a contiguous piece of the model's solution "
    "character for character, exactly as written (same spelling, numbers, spacing and "
    "punctuation), at most one sentence or one line, enough to identify the step. Do not "
    "paraphrase, correct, shorten with ellipses or add anything to the quote.\n"
    "\n"
    "Reply with a single JSON object and nothing else:\n"
    "{\"first_wrong_step\": \"<the verbatim quote>\"}\n"
    "If no step of the solution is wrong (for example, only the final answer was copied out "
    "wrongly or is missing), reply:\n"
    "{\"first_wrong_step\": null}";

/* system text, then the labelled sections, each "LABEL:\n<text>\n\n". */
static char *sections(const char *const *labels, const char *const *texts, int n) {
    size_t len = 1;
    for (int i = 0; i < n; i++) len += strlen(labels[i]) + strlen(texts[i] ? texts[i] : "") + 4;
    char *out = malloc(len), *p = out;
    if (!out) return NULL;
    for (int i = 0; i < n; i++)
        p += sprintf(p, "%s:\n%s\n%s", labels[i], texts[i] ? texts[i] : "", i + 1 < n ? "\n" : "");
    return out;
}

const char *judge_simpleqa_system(void) { return SIMPLEQA_SYSTEM; }

char *judge_simpleqa_user(const char *question, const char *gold, const char *answer) {
    const char *labels[] = {"Question", "Reference answer", "Model's answer"};
    const char *texts[] = {question, gold, answer};
    return sections(labels, texts, 3);
}

const char *judge_gsm8k_system(void) { return GSM8K_SYSTEM; }

char *judge_gsm8k_user(const char *problem, const char *solution, const char *reference) {
    const char *labels[] = {"Problem", "Model's solution", "Reference solution"};
    const char *texts[] = {problem, solution, reference};
    return sections(labels, texts, 3);
}
