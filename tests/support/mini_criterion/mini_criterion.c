/* The runner of the Criterion subset (criterion/criterion.h): every
 * registered test in a forked child, its result from the child's exit. */
#include "criterion/criterion.h"

#include <fnmatch.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { EXIT_FAILED = 250, EXIT_SKIPPED = 251 };

static struct mc_test *tests;
static struct mc_suite *suites;
static const struct mc_test *current;
static bool failed;

void mc_register(struct mc_test *t) /* in the order of the source */
{
	struct mc_test **p = &tests;
	while (*p)
		p = &(*p)->next;
	*p = t;
}

void mc_register_suite(struct mc_suite *s)
{
	s->next = suites;
	suites = s;
}

bool mc_str_eq(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

static void finish(int code)
{
	if (current && current->fini)
		current->fini();
	fflush(stdout);
	fflush(stderr);
	_exit(code);
}

void mc_check(bool fatal, bool ok, const char *file, int line, const char *expr,
	      const char *fmt, ...)
{
	if (ok)
		return;
	failed = true;
	fprintf(stderr, "[----] %s:%d: Assertion Failed\n[----]   ", file, line);
	if (fmt && *fmt) {
		va_list ap;
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
	} else {
		fprintf(stderr, "The expression %s is false.", expr);
	}
	fputc('\n', stderr);
	if (fatal)
		finish(EXIT_FAILED);
}

void mc_skip(const char *fmt, ...)
{
	fprintf(stderr, "[SKIP] %s::%s: ", current->suite, current->name);
	va_list ap;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	finish(EXIT_SKIPPED);
}

void mc_log(const char *level, const char *fmt, ...)
{
	fprintf(stderr, "[%s] ", level);
	va_list ap;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static const struct mc_suite *suite_of(const struct mc_test *t)
{
	for (const struct mc_suite *s = suites; s; s = s->next)
		if (!strcmp(s->name, t->suite))
			return s;
	return NULL;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* 0 passed, 1 failed, 2 crashed, 3 skipped */
static int run_one(struct mc_test *t)
{
	const struct mc_suite *s = suite_of(t);
	if (s && !t->init)
		t->init = s->init;
	if (s && !t->fini)
		t->fini = s->fini;
	double timeout = t->timeout > 0 ? t->timeout : s && s->timeout > 0 ? s->timeout : 0;
	if (t->disabled || (s && s->disabled)) {
		printf("[SKIP] %s::%s: Test is disabled\n", t->suite, t->name);
		return 3;
	}
	fflush(stdout);
	fflush(stderr);
	double t0 = now_s();
	pid_t pid = fork();
	if (pid < 0) {
		perror("fork");
		return 2;
	}
	if (pid == 0) {
		current = t;
		if (timeout > 0)
			alarm((unsigned)ceil(timeout));
		if (t->init)
			t->init();
		t->fn();
		finish(failed ? EXIT_FAILED : 0);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0)
		;
	double dt = now_s() - t0;
	if (WIFSIGNALED(st)) {
		int sig = WTERMSIG(st);
		if (t->signal && sig == t->signal) {
			printf("[PASS] %s::%s: (%.2fs)\n", t->suite, t->name, dt);
			return 0;
		}
		if (sig == SIGALRM) {
			printf("[FAIL] %s::%s: Timed out. (%.2fs)\n", t->suite, t->name, dt);
			return 1;
		}
		printf("[FAIL] %s::%s: CRASH (signal %d)\n", t->suite, t->name, sig);
		return 2;
	}
	int code = WEXITSTATUS(st);
	if (code == EXIT_SKIPPED)
		return 3;
	if (code == EXIT_FAILED || t->signal || code != t->exit_code) {
		if (code != EXIT_FAILED)
			printf("[----] exit status %d, expected %d\n", code, t->exit_code);
		printf("[FAIL] %s::%s: (%.2fs)\n", t->suite, t->name, dt);
		return 1;
	}
	printf("[PASS] %s::%s: (%.2fs)\n", t->suite, t->name, dt);
	return 0;
}

int main(int argc, char **argv)
{
	const char *filter = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--filter") && i + 1 < argc)
			filter = argv[++i];
		else if (!strncmp(argv[i], "--filter=", 9))
			filter = argv[i] + 9;
		else if (!strcmp(argv[i], "--jobs") || !strcmp(argv[i], "-j"))
			i++;
		else if (strncmp(argv[i], "--jobs=", 7) && strcmp(argv[i], "--verbose") &&
			 strncmp(argv[i], "--verbose=", 10)) {
			fprintf(stderr, "usage: %s [--filter SUITE/NAME] [--verbose] "
				"[--jobs N]\n", argv[0]);
			return 2;
		}
	}
	int n = 0, counts[4] = { 0 };
	for (struct mc_test *t = tests; t; t = t->next) {
		char full[256];
		snprintf(full, sizeof full, "%s/%s", t->suite, t->name);
		if (filter && fnmatch(filter, full, 0) != 0)
			continue;
		n++;
		counts[run_one(t)]++;
	}
	printf("[====] Synthesis: Tested: %d | Passing: %d | Failing: %d | Crashing: %d "
	       "| Skipped: %d\n", n - counts[3], counts[0], counts[1], counts[2], counts[3]);
	return counts[1] || counts[2] ? 1 : 0;
}
