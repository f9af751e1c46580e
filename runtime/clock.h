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

/* The CLOCK_REALTIME time s seconds from now (s >= 0), as
 * pthread_cond_timedwait takes its deadline. */
static inline struct timespec duet_realtime_in(double s)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t)s;
	ts.tv_nsec += (long)((s - (double)(time_t)s) * 1e9);
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

#endif
