/* The subset of Criterion's API that duet's suites use, for builds where
 * libcriterion cannot be installed: the arm64 cross build, whose suites run
 * under qemu-user (Debian's libcriterion-dev for arm64 does not install
 * beside the amd64 one, and Criterion's runner re-executes itself, which
 * qemu-user cannot follow without binfmt_misc). Each test runs in a forked
 * child with its timeout; a failed cr_assert ends the test, a failed
 * cr_expect marks it failed and goes on. The runner (mini_criterion.c)
 * takes --filter SUITE/NAME (a glob), --verbose and --jobs N (tests run
 * one at a time). Not thread-safe: assertions run on the test's thread. */
#ifndef DUET_MINI_CRITERION_H
#define DUET_MINI_CRITERION_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

struct mc_test {
	const char *suite, *name;
	void (*fn)(void);
	void (*init)(void);
	void (*fini)(void);
	double timeout;   /* seconds; 0: none */
	int exit_code;    /* the status the test must exit with */
	int signal;       /* the signal that must end it */
	bool disabled;
	const char *description;
	struct mc_test *next;
};

struct mc_suite {
	const char *name;
	void (*init)(void);
	void (*fini)(void);
	double timeout;
	bool disabled;
	const char *description;
	struct mc_suite *next;
};

void mc_register(struct mc_test *t);
void mc_register_suite(struct mc_suite *s);
/* Records a failed check (fatal: ends the test) when !ok. fmt: printf
 * format of the user's message, "" for none. */
void mc_check(bool fatal, bool ok, const char *file, int line, const char *expr,
	      const char *fmt, ...);
void mc_skip(const char *fmt, ...);
void mc_log(const char *level, const char *fmt, ...);
bool mc_str_eq(const char *a, const char *b);

#define Test(S, N, ...)                                                        \
	static void mc_fn_##S##_##N(void);                                      \
	static struct mc_test mc_t_##S##_##N = {                                \
		.suite = #S, .name = #N, .fn = mc_fn_##S##_##N, __VA_ARGS__ };   \
	__attribute__((constructor)) static void mc_reg_##S##_##N(void)         \
	{                                                                       \
		mc_register(&mc_t_##S##_##N);                                   \
	}                                                                       \
	static void mc_fn_##S##_##N(void)

#define TestSuite(S, ...)                                                     \
	static struct mc_suite mc_s_##S = { .name = #S, __VA_ARGS__ };         \
	__attribute__((constructor)) static void mc_regs_##S(void)            \
	{                                                                     \
		mc_register_suite(&mc_s_##S);                                 \
	}

#define MC_CHECK(fatal, ok, text, ...) \
	mc_check((fatal), (ok), __FILE__, __LINE__, (text), "" __VA_ARGS__)

#define cr_assert(c, ...) MC_CHECK(true, (c) ? true : false, #c, __VA_ARGS__)
#define cr_expect(c, ...) MC_CHECK(false, (c) ? true : false, #c, __VA_ARGS__)
#define cr_assert_not(c, ...) MC_CHECK(true, !(c), "!(" #c ")", __VA_ARGS__)
#define cr_expect_not(c, ...) MC_CHECK(false, !(c), "!(" #c ")", __VA_ARGS__)
#define cr_assert_fail(...) MC_CHECK(true, false, "cr_assert_fail", __VA_ARGS__)
#define MC_CMP(fatal, a, op, b, ...) \
	MC_CHECK(fatal, (a) op (b), #a " " #op " " #b, __VA_ARGS__)
#define cr_assert_eq(a, b, ...) MC_CMP(true, a, ==, b, __VA_ARGS__)
#define cr_assert_neq(a, b, ...) MC_CMP(true, a, !=, b, __VA_ARGS__)
#define cr_assert_lt(a, b, ...) MC_CMP(true, a, <, b, __VA_ARGS__)
#define cr_assert_leq(a, b, ...) MC_CMP(true, a, <=, b, __VA_ARGS__)
#define cr_assert_gt(a, b, ...) MC_CMP(true, a, >, b, __VA_ARGS__)
#define cr_assert_geq(a, b, ...) MC_CMP(true, a, >=, b, __VA_ARGS__)
#define cr_expect_eq(a, b, ...) MC_CMP(false, a, ==, b, __VA_ARGS__)
#define cr_expect_neq(a, b, ...) MC_CMP(false, a, !=, b, __VA_ARGS__)
#define cr_expect_lt(a, b, ...) MC_CMP(false, a, <, b, __VA_ARGS__)
#define cr_expect_leq(a, b, ...) MC_CMP(false, a, <=, b, __VA_ARGS__)
#define cr_expect_gt(a, b, ...) MC_CMP(false, a, >, b, __VA_ARGS__)
#define cr_expect_geq(a, b, ...) MC_CMP(false, a, >=, b, __VA_ARGS__)
#define cr_assert_null(p, ...) MC_CHECK(true, (p) == NULL, #p " == NULL", __VA_ARGS__)
#define cr_expect_null(p, ...) MC_CHECK(false, (p) == NULL, #p " == NULL", __VA_ARGS__)
#define cr_assert_not_null(p, ...) MC_CHECK(true, (p) != NULL, #p " != NULL", __VA_ARGS__)
#define cr_expect_not_null(p, ...) MC_CHECK(false, (p) != NULL, #p " != NULL", __VA_ARGS__)
#define cr_assert_str_eq(a, b, ...) \
	MC_CHECK(true, mc_str_eq((a), (b)), #a " equals " #b, __VA_ARGS__)
#define cr_expect_str_eq(a, b, ...) \
	MC_CHECK(false, mc_str_eq((a), (b)), #a " equals " #b, __VA_ARGS__)
#define cr_assert_float_eq(a, b, eps, ...) \
	MC_CHECK(true, fabs((double)(a) - (double)(b)) <= (eps), #a " ~ " #b, __VA_ARGS__)
#define cr_expect_float_eq(a, b, eps, ...) \
	MC_CHECK(false, fabs((double)(a) - (double)(b)) <= (eps), #a " ~ " #b, __VA_ARGS__)
#define cr_assert_arr_eq(a, b, size, ...) \
	MC_CHECK(true, memcmp((a), (b), (size)) == 0, #a " equals " #b, __VA_ARGS__)
#define cr_skip_test(...) mc_skip("" __VA_ARGS__)
#define cr_log_info(...) mc_log("----", __VA_ARGS__)
#define cr_log_warn(...) mc_log("WARN", __VA_ARGS__)

#endif
