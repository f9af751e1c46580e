/* A small JSON reader for test oracles (expected.json, CLI --json output).
 * Parses into a tree owned by the returned root; free with json_free(). */
#ifndef DUET_TESTS_JSON_H
#define DUET_TESTS_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef enum json_kind {
	JSON_NULL, JSON_BOOL, JSON_NUM, JSON_STR, JSON_ARR, JSON_OBJ
} json_kind;

typedef struct json json;
struct json {
	json_kind kind;
	double num;      /* NUM; BOOL as 0/1 */
	char *str;       /* STR (NUL-terminated) */
	size_t n;        /* ARR/OBJ: children */
	json **items;    /* ARR/OBJ children */
	char **keys;     /* OBJ keys */
};

/* Returns the parsed tree or NULL on a syntax error. */
json *json_parse(const char *text);
void json_free(json *j);

/* Object member by key, array element by index; NULL when absent. */
const json *json_get(const json *o, const char *key);
const json *json_at(const json *a, size_t i);

/* Reads a whole file into a NUL-terminated malloc'd buffer (NULL on error). */
char *read_text_file(const char *path, size_t *len);

/* The same for an open stream (stdin may be a pipe or a socket). */
char *read_text_stream(FILE *f, size_t *len);

#endif
