/* (Not sched.h: that name would hide the system header from pthread.h.) */
/* The scheduler of one executing resource (a Vulkan device, or the CPU
 * executor): contexts of every model and session take turns on it, one
 * forward pass (one batch of a prefill, one decode step, one verification)
 * per turn. Turns go by priority, first come first served within one; a
 * session of lower priority waits while one of higher priority is
 * generating (duet_sched_enter), unless it has waited longer than the
 * starvation limit, so an interactive session meets at most one chunk of a
 * background prefill now and then, and a background one still advances.
 * Thread-safe: that is its purpose. */
#ifndef DUET_RUNTIME_SCHEDULER_H
#define DUET_RUNTIME_SCHEDULER_H

#include <stdint.h>

#include "duet/duet.h"

typedef struct duet_sched duet_sched;

typedef struct duet_sched_stats {
	uint64_t turns[3];     /* by duet_priority */
	double wait_s[3];      /* time waiting for turns, by priority */
	uint64_t starved;      /* turns given to a waiter past the limit */
} duet_sched_stats;

/* starve_ms: how long a waiter may be held back by an active session of
 * higher priority (0: 200 ms). DUET_E_NOMEM. */
duet_status duet_sched_create(double starve_ms, duet_sched **out);

/* Frees s; nobody may be waiting on or holding it. NULL: no-op. */
void duet_sched_destroy(duet_sched *s);

/* A session of priority pr starts (enter) or stops (leave) generating. */
void duet_sched_enter(duet_sched *s, duet_priority pr);
void duet_sched_leave(duet_sched *s, duet_priority pr);

/* Blocks until it is this caller's turn, then holds the resource until
 * duet_sched_release. */
void duet_sched_acquire(duet_sched *s, duet_priority pr);
void duet_sched_release(duet_sched *s);

void duet_sched_get_stats(duet_sched *s, duet_sched_stats *st);

/* Makes every forward pass of c take a turn on s at priority pr (NULL s:
 * none). Set before c is used; c does not own s. */
void duet_context_set_sched(duet_context *c, duet_sched *s, duet_priority pr);

#endif
