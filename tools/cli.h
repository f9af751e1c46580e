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
int cmd_bench(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_kvsim(int argc, char **argv);
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

/* Reads the file at path ("-": stdin) into a new NUL-terminated buffer
 * (caller frees) and its length into *n; NULL when it cannot be read. */
char *cli_read_file(const char *path, size_t *n);

/* Parses "1,2,3" (commas and/or spaces) into a new array (*out, caller
 * frees) of *n token ids. */
bool cli_tokens(const char *cmd, const char *s, int32_t **out, uint32_t *n);

/* The name of a two-model mode: "llm", "slm", "spec" or "cascade". */
const char *cli_mode_name(duet_mode m);

/* Parses --mode's value into *out: one of the first n_allowed modes of
 * `allowed`; false (reported as a usage error) for anything else. */
bool cli_mode(const char *cmd, const char *s, const duet_mode *allowed,
	      int n_allowed, duet_mode *out);

/* Executor options shared by run, score and bench (cli_backend.c). */
typedef struct cli_backend {
	duet_backend backend; /* AUTO unless --backend */
	uint32_t device;      /* --device N gives N + 1; 0: automatic */
	int32_t variant;      /* --kernels: 0 device default, 1 cpu, 2 gpu */
	bool validate;        /* --validate */
	bool profile;         /* set by bench --profile */
	duet_model_options mo; /* --mem-budget, --io */
	bool quiet;            /* --quiet: no progress bar */
	uint64_t kv_pool_bytes; /* --kv-pool: the cache in a pool of this size */
	uint32_t kv_page_bytes; /* --kv-page: its page size; 0: the default */
	duet_backend draft_backend; /* --backend-draft */
	bool draft_backend_given;
	duet_kv_type kv_type;  /* -ctk / -ctv (one type for both) */
	bool kv_k_given, kv_v_given;
} cli_backend;

/* Usage lines for the options above. */
extern const char cli_backend_usage[];

/* Handles the option at argv[*i] when it is one of the executor options:
 * returns 1 (consumed, *i advanced past a value), 0 (not one), -1 (bad
 * value, reported). */
int cli_backend_option(const char *cmd, int argc, char **argv, int *i,
		       cli_backend *b);

/* Opens the device (unless cpu), the KV pool (--kv-pool: on that device,
 * in co->kv_pool) and the context; reports errors and returns CLI_OK or
 * the exit code. With auto and no usable device the context runs on the
 * CPU. One such context per process. */
int cli_context(const char *cmd, duet_model *m, const cli_backend *b,
		duet_context_options *co, duet_device **dev, duet_context **ctx);

/* Destroys ctx, the KV pool and dev; turns validation errors into a failure.
 * Returns the exit code (rc unless validation failed). */
int cli_context_close(const char *cmd, duet_context *ctx, duet_device *dev,
		      int rc);

/* Loads the draft model at path (with b's model options), checks it can
 * draft for ctx's model and opens its context beside ctx: co's sizes, the
 * same executor and device, a cache of its own. *dm and *dctx (NULL until
 * made) are the caller's to free, also on error. */
duet_status cli_draft_context(const cli_backend *b, const duet_context_options *co,
			      duet_context *ctx, duet_device *dev, const char *path,
			      duet_model **dm, duet_context **dctx);

/* "cpu" or "vulkan on DEVICE, VARIANT kernels" into buf. */
const char *cli_backend_desc(duet_context *ctx, char *buf, size_t cap);

/* Writes s (n bytes) as a JSON string literal. */
void json_str(FILE *f, const char *s, size_t n);

/* Writes a float as a JSON number (null for NaN and infinities). */
void json_num(FILE *f, double v);

#endif
