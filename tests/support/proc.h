/* Running the duet CLI from tests: capture stdout/stderr, exit status and
 * whether a signal killed it. */
#ifndef DUET_TESTS_PROC_H
#define DUET_TESTS_PROC_H

#include <stdbool.h>
#include <stddef.h>

typedef struct proc_result {
	int exit_code;  /* valid when !signaled */
	bool signaled;  /* killed by a signal (a crash) */
	int signal;
	char *out;      /* stdout, NUL-terminated, malloc'd */
	char *err;      /* stderr, NUL-terminated, malloc'd */
} proc_result;

/* Runs argv[0] (a path) with argv (NULL-terminated); returns false if it
 * could not be started. */
bool proc_run(char *const argv[], proc_result *r);

/* Frees out/err. */
void proc_free(proc_result *r);

/* Path of the duet binary under test. */
const char *duet_bin(void);

/* The oracle folder: $DUET_ORACLE_DIR or ../shared/oracle from the source
 * tree. */
const char *oracle_dir(void);

/* A scratch directory for test files ($DUET_TEST_TMP or build/test-tmp);
 * tests name their files uniquely. */
const char *test_tmpdir(void);

/* Number of '\n' in s. */
size_t count_lines(const char *s);

#endif
