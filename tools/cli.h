/* Helpers shared by the duet subcommands: option parsing with clear
 * errors, error reporting in one line, and JSON output. */
#ifndef DUET_TOOLS_CLI_H
#define DUET_TOOLS_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "duet/duet.h"

/* Each subcommand: returns the process exit status. */
int cmd_inspect(int argc, char **argv);
int cmd_mkmodel(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_score(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);

/* Exit codes: 0 ok, 1 the command failed, 2 bad usage. */
enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

/* Prints "duet CMD: error: MESSAGE" on stderr; returns code. */
int cli_error(const char *cmd, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prints the library's last error for status s in one line; returns
 * CLI_FAIL. The origin (file:line) goes to the end, in brackets. */
int cli_fail(const char *cmd, duet_status s);

/* True when arg is one of the names (NULL-terminated list). */
bool cli_is(const char *arg, const char *a, const char *b);

/* Takes the value of option argv[*i]: advances *i and stores it, or
 * reports "OPTION needs a value". Returns false on error. */
bool cli_value(const char *cmd, int argc, char **argv, int *i, const char **out);

/* Parse a whole string as a number in [lo, hi]; report and return false
 * otherwise. */
bool cli_u32(const char *cmd, const char *opt, const char *s, uint32_t lo,
	     uint32_t hi, uint32_t *out);
bool cli_i32(const char *cmd, const char *opt, const char *s, int32_t lo,
	     int32_t hi, int32_t *out);
bool cli_u64(const char *cmd, const char *opt, const char *s, uint64_t *out);
bool cli_f32(const char *cmd, const char *opt, const char *s, float lo,
	     float hi, float *out);

/* Parses "1,2,3" (commas and/or spaces) into a new array (*out, caller
 * frees) of *n token ids. */
bool cli_tokens(const char *cmd, const char *s, int32_t **out, uint32_t *n);

/* Writes s (n bytes) as a JSON string literal. */
void json_str(FILE *f, const char *s, size_t n);

/* Writes a float as a JSON number (null for NaN and infinities). */
void json_num(FILE *f, double v);

#endif
