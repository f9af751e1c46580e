/* Wall time on the monotonic clock, for measuring intervals. Thread-safe. */
#ifndef DUET_RUNTIME_CLOCK_H
#define DUET_RUNTIME_CLOCK_H

#include <time.h>

static inline double duet_now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static inline double duet_now_ms(void)
{
	return 1e3 * duet_now_s();
}

#endif
