/* Fork-join thread pool (see pool.h). A run publishes its job by bumping
 * an atomic generation; workers that finished a run a moment ago are still
 * spinning on it and start at once, the others sleep on a condition
 * variable and are woken. The caller spins briefly for the last worker,
 * then sleeps too. Kernels of a decode step are tens of microseconds each,
 * less than a condition variable's round trip, which is why the spin. */
#include "pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define CPU_RELAX() __asm__ __volatile__("yield")
#else
#define CPU_RELAX() ((void)0)
#endif

#include "clock.h"
#include "error.h"

/* How long a worker keeps polling for the next run, and the caller for the
 * end of its run, before sleeping: about the gap between two kernels of a
 * step, short enough that an idle pool gives its cores back at once. */
#define SPIN_S 50e-6

struct duet_pool {
	uint32_t n_threads;
	pthread_t *threads;
	pthread_mutex_t mu;
	pthread_cond_t wake;
	pthread_cond_t done;
	atomic_uint_fast64_t generation; /* bumped for each run */
	atomic_uint running;  /* workers still inside the current run */
	atomic_uint sleepers; /* workers asleep (or about to be) on wake */
	atomic_bool stop;
	duet_pool_fn fn;
	void *arg;
	uint32_t n_tasks;
	atomic_uint next;
};

typedef struct worker_arg {
	duet_pool *pool;
	uint32_t index;
} worker_arg;

static void drain(duet_pool *p, uint32_t thread)
{
	for (;;) {
		uint32_t t = atomic_fetch_add(&p->next, 1);
		if (t >= p->n_tasks)
			return;
		p->fn(p->arg, t, thread);
	}
}

/* Polls until *v differs from old or SPIN_S passed; true when it did. */
static bool spin_while_eq(atomic_uint_fast64_t *v, uint64_t old)
{
	double t0 = duet_now_s();
	for (uint32_t i = 1;; i++) {
		if (atomic_load(v) != old)
			return true;
		CPU_RELAX();
		if (!(i & 63) && duet_now_s() - t0 > SPIN_S)
			return false;
	}
}

static void *worker(void *v)
{
	worker_arg wa = *(worker_arg *)v;
	free(v);
	duet_pool *p = wa.pool;
	uint64_t seen = 0;
	for (;;) {
		if (!spin_while_eq(&p->generation, seen)) {
			/* sleepers is raised before generation is read again,
			 * and a run bumps generation before it reads sleepers
			 * (both sequentially consistent): either this thread
			 * sees the new run or the run sees it asleep and
			 * broadcasts under mu, which this thread holds until
			 * it waits */
			pthread_mutex_lock(&p->mu);
			atomic_fetch_add(&p->sleepers, 1);
			while (!atomic_load(&p->stop) && atomic_load(&p->generation) == seen)
				pthread_cond_wait(&p->wake, &p->mu);
			atomic_fetch_sub(&p->sleepers, 1);
			pthread_mutex_unlock(&p->mu);
		}
		if (atomic_load(&p->stop))
			break;
		seen = atomic_load(&p->generation);
		drain(p, wa.index);
		if (atomic_fetch_sub(&p->running, 1) == 1) {
			pthread_mutex_lock(&p->mu);
			pthread_cond_signal(&p->done);
			pthread_mutex_unlock(&p->mu);
		}
	}
	return NULL;
}

duet_status duet_pool_create(uint32_t n_threads, duet_pool **out)
{
	*out = NULL;
	if (n_threads == 0)
		return DUET_ERR(DUET_E_INVAL, "thread count must be at least 1");
	duet_pool *p = calloc(1, sizeof *p);
	if (!p)
		return DUET_ERR(DUET_E_NOMEM, "out of memory");
	p->threads = calloc(n_threads, sizeof *p->threads);
	if (!p->threads) {
		free(p);
		return DUET_ERR(DUET_E_NOMEM, "out of memory");
	}
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->wake, NULL);
	pthread_cond_init(&p->done, NULL);
	atomic_init(&p->generation, 0);
	atomic_init(&p->running, 0);
	atomic_init(&p->sleepers, 0);
	atomic_init(&p->stop, false);
	atomic_init(&p->next, 0);
	p->n_threads = 1;
	for (uint32_t i = 1; i < n_threads; i++) {
		worker_arg *wa = malloc(sizeof *wa);
		if (wa) {
			wa->pool = p;
			wa->index = i;
		}
		if (!wa || pthread_create(&p->threads[i], NULL, worker, wa) != 0) {
			free(wa);
			duet_pool_destroy(p);
			return DUET_ERR(DUET_E_AGAIN, "cannot start thread %u of %u",
					i + 1, n_threads);
		}
		p->n_threads++;
	}
	*out = p;
	return DUET_OK;
}

void duet_pool_destroy(duet_pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	atomic_store(&p->stop, true);
	atomic_fetch_add(&p->generation, 1); /* spinning workers look up */
	pthread_cond_broadcast(&p->wake);
	pthread_mutex_unlock(&p->mu);
	for (uint32_t i = 1; i < p->n_threads; i++)
		pthread_join(p->threads[i], NULL);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->wake);
	pthread_cond_destroy(&p->done);
	free(p->threads);
	free(p);
}

uint32_t duet_pool_size(const duet_pool *p)
{
	return p->n_threads;
}

void duet_pool_run(duet_pool *p, duet_pool_fn fn, void *arg, uint32_t n_tasks)
{
	if (p->n_threads == 1 || n_tasks <= 1) {
		for (uint32_t t = 0; t < n_tasks; t++)
			fn(arg, t, 0);
		return;
	}
	/* every worker has left the previous run (running was 0), so these
	 * plain fields are not read until generation moves */
	p->fn = fn;
	p->arg = arg;
	p->n_tasks = n_tasks;
	atomic_store(&p->next, 0);
	atomic_store(&p->running, p->n_threads - 1);
	atomic_fetch_add(&p->generation, 1);
	if (atomic_load(&p->sleepers)) {
		pthread_mutex_lock(&p->mu);
		pthread_cond_broadcast(&p->wake);
		pthread_mutex_unlock(&p->mu);
	}
	drain(p, 0);
	double t0 = duet_now_s();
	for (uint32_t i = 1; atomic_load(&p->running); i++) {
		CPU_RELAX();
		if (!(i & 63) && duet_now_s() - t0 > SPIN_S) {
			pthread_mutex_lock(&p->mu);
			while (atomic_load(&p->running))
				pthread_cond_wait(&p->done, &p->mu);
			pthread_mutex_unlock(&p->mu);
			break;
		}
	}
}
