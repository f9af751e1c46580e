/* The file-read fault hook (fault.h). */
#include "fault.h"

#include <stdatomic.h>
#include <stdlib.h>

static atomic_ullong reads;
static atomic_ullong fail_at;
static atomic_int armed; /* 0: DUET_FAIL_READ not read yet */

static uint64_t target(void)
{
	if (!atomic_load(&armed)) {
		const char *e = getenv("DUET_FAIL_READ");
		uint64_t at = e ? strtoull(e, NULL, 10) : 0;
		unsigned long long none = 0;
		atomic_compare_exchange_strong(&fail_at, &none, at);
		atomic_store(&armed, 1);
	}
	return atomic_load(&fail_at);
}

bool duet_fault_read(void)
{
	uint64_t at = target();
	uint64_t n = atomic_fetch_add(&reads, 1) + 1;
	return at && n == at;
}

void duet_fault_read_arm(uint64_t nth)
{
	atomic_store(&armed, 1);
	atomic_store(&fail_at, nth);
	atomic_store(&reads, 0);
}

uint64_t duet_fault_read_count(void)
{
	return atomic_load(&reads);
}
