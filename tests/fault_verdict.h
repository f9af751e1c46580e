/* What the fault-injection programs (fault_alloc, fault_read) share: the
 * verdict on one run with one fault injected, against the clean run, and
 * the tally they print. Header-only: fault_alloc links no test-support
 * library, whose allocations its wrappers would count. */
#ifndef DUET_TESTS_FAULT_VERDICT_H
#define DUET_TESTS_FAULT_VERDICT_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "duet/duet.h"

typedef struct fault_tally {
	const char *prog; /* "fault_alloc", "fault_read cpu" */
	const char *what; /* the fault, singular: "allocation", "file read" */
	uint64_t errors, same, bad;
} fault_tally;

/* A run whose fault k fired ended with status s and tokens ids[n]: an
 * error must carry a message; a success must give the clean run's tokens
 * want[n_want]. Counts the run in t and clears the error. */
static inline void fault_judge(fault_tally *t, uint64_t k, duet_status s,
			       const int32_t *ids, uint32_t n,
			       const int32_t *want, uint32_t n_want)
{
	if (s != DUET_OK) {
		t->errors++;
		if (!duet_last_error()[0]) {
			fprintf(stderr, "%s: %s %llu: status %d without a message\n",
				t->prog, t->what, (unsigned long long)k, s);
			t->bad++;
		}
	} else if (n == n_want && !memcmp(ids, want, n * sizeof *ids)) {
		t->same++;
	} else {
		fprintf(stderr, "%s: %s %llu failed, the run succeeded with other "
			"tokens\n", t->prog, t->what, (unsigned long long)k);
		t->bad++;
	}
	duet_clear_error();
}

/* Prints the tally of a scenario of `total` faults, every stride-th
 * failed; returns the exit status (1 when any run went wrong). */
static inline int fault_report(const fault_tally *t, uint64_t total, uint64_t stride)
{
	printf("%s: %llu %ss in the scenario; failing each%s: %llu errors reported, "
	       "%llu recovered with the same output, %llu wrong\n", t->prog,
	       (unsigned long long)total, t->what, stride > 1 ? " (a stride)" : "",
	       (unsigned long long)t->errors, (unsigned long long)t->same,
	       (unsigned long long)t->bad);
	return t->bad ? 1 : 0;
}

#endif
