/* Turns on one executing resource by priority (see sched.h): a mutex, a
 * condition variable and, per priority, a ticket counter for first come
 * first served. */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "scheduler.h"

#include "error.h"
#include "clock.h"

#define N_PRIO 3

struct duet_sched {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool busy;
	uint64_t next[N_PRIO], serving[N_PRIO]; /* tickets */
	uint32_t waiting[N_PRIO], active[N_PRIO];
	double starve_s;
	duet_sched_stats st;
};

duet_status duet_sched_create(double starve_ms, duet_sched **out)
{
	duet_sched *s = calloc(1, sizeof *s);
	if (!s)
		return DUET_ERR(DUET_E_NOMEM, "out of memory");
	if (pthread_mutex_init(&s->mu, NULL)) {
		free(s);
		return DUET_ERR(DUET_E_NOMEM, "cannot create a mutex");
	}
	if (pthread_cond_init(&s->cv, NULL)) {
		pthread_mutex_destroy(&s->mu);
		free(s);
		return DUET_ERR(DUET_E_NOMEM, "cannot create a condition variable");
	}
	s->starve_s = (starve_ms > 0 ? starve_ms : 200.0) / 1e3;
	*out = s;
	return DUET_OK;
}

void duet_sched_destroy(duet_sched *s)
{
	if (!s)
		return;
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

static uint32_t clamp(duet_priority pr)
{
	return (uint32_t)pr < N_PRIO ? (uint32_t)pr : N_PRIO - 1;
}

void duet_sched_enter(duet_sched *s, duet_priority pr)
{
	pthread_mutex_lock(&s->mu);
	s->active[clamp(pr)]++;
	pthread_mutex_unlock(&s->mu);
}

void duet_sched_leave(duet_sched *s, duet_priority pr)
{
	pthread_mutex_lock(&s->mu);
	s->active[clamp(pr)]--;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

/* May the waiter with ticket t of priority p, waiting since t0, go now? */
static bool may_go(const duet_sched *s, uint32_t p, uint64_t t, double t0, bool *starved)
{
	*starved = false;
	if (s->busy || s->serving[p] != t)
		return false;
	for (uint32_t q = p + 1; q < N_PRIO; q++) {
		if (s->waiting[q])
			return false;
		if (s->active[q]) {
			*starved = duet_now_s() - t0 >= s->starve_s;
			return *starved;
		}
	}
	return true;
}

void duet_sched_acquire(duet_sched *s, duet_priority pr)
{
	uint32_t p = clamp(pr);
	double t0 = duet_now_s();
	pthread_mutex_lock(&s->mu);
	uint64_t t = s->next[p]++;
	s->waiting[p]++;
	bool starved;
	while (!may_go(s, p, t, t0, &starved)) {
		/* held back by an active session above: look again when the
		 * starvation limit runs out */
		double left = s->starve_s - (duet_now_s() - t0);
		struct timespec ts = duet_realtime_in(left < 0.001 ? 0.001 : left);
		pthread_cond_timedwait(&s->cv, &s->mu, &ts);
	}
	s->waiting[p]--;
	s->serving[p]++;
	s->busy = true;
	s->st.turns[p]++;
	s->st.starved += starved;
	s->st.wait_s[p] += duet_now_s() - t0;
	pthread_mutex_unlock(&s->mu);
}

void duet_sched_release(duet_sched *s)
{
	pthread_mutex_lock(&s->mu);
	s->busy = false;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

void duet_sched_get_stats(duet_sched *s, duet_sched_stats *st)
{
	pthread_mutex_lock(&s->mu);
	*st = s->st;
	pthread_mutex_unlock(&s->mu);
}
