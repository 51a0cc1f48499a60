/* Reads values out of a Python dict literal, such as SimpleQA's metadata
 * column "{'topic': 'Art', 'answer_type': 'Person', 'urls': ['...']}",
 * without evaluating anything. The whole literal is parsed and checked:
 * dicts, lists, tuples, sets, strings in single or double quotes (with u/r/b
 * prefixes and Python's escapes: \\ \' \" \n \t \r \a \b \f \v, octal, \xhh,
 * \uhhhh, \Uhhhhhhhh, backslash-newline; an unknown escape keeps its
 * backslash, as Python does), numbers, True, False and None. Nesting is
 * limited to PYDICT_MAX_DEPTH; adjacent string literals ("a" "b") are not
 * joined but refused. Strings come out as UTF-8. */
#ifndef ES_STUDY_PYDICT_H
#define ES_STUDY_PYDICT_H

#include <stddef.h>

#define PYDICT_MAX_DEPTH 32

/* Looks up a top-level key of the dict in text[0, len). Returns 1 and a
 * malloc'd copy in *value when the key maps to a string (the last one if the
 * key repeats); 0 when the key is absent or maps to something else; -1 when
 * the text is no dict literal (why then says what is wrong, one line) or
 * memory ran out. */
int pydict_get_string(const char *text, size_t len, const char *key, char **value, char *why,
                      size_t why_size);

#endif
