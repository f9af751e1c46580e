/* Fork-join thread pool (see pool.h). Workers sleep on a condition
 * variable between runs; tasks are claimed with an atomic counter. */
#include "pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "error.h"

struct duet_pool {
	uint32_t n_threads;
	pthread_t *threads;
	pthread_mutex_t mu;
	pthread_cond_t wake;
	pthread_cond_t done;
	uint64_t generation; /* bumped for each run; guarded by mu */
	uint32_t running;    /* workers still inside the current run */
	bool stop;
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

static void *worker(void *v)
{
	worker_arg wa = *(worker_arg *)v;
	free(v);
	duet_pool *p = wa.pool;
	uint64_t seen = 0;
	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (!p->stop && p->generation == seen)
			pthread_cond_wait(&p->wake, &p->mu);
		if (p->stop)
			break;
		seen = p->generation;
		pthread_mutex_unlock(&p->mu);
		drain(p, wa.index);
		pthread_mutex_lock(&p->mu);
		if (--p->running == 0)
			pthread_cond_signal(&p->done);
	}
	pthread_mutex_unlock(&p->mu);
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
	p->stop = true;
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
	pthread_mutex_lock(&p->mu);
	p->fn = fn;
	p->arg = arg;
	p->n_tasks = n_tasks;
	atomic_store(&p->next, 0);
	p->running = p->n_threads - 1;
	p->generation++;
	pthread_cond_broadcast(&p->wake);
	pthread_mutex_unlock(&p->mu);
	drain(p, 0);
	pthread_mutex_lock(&p->mu);
	while (p->running > 0)
		pthread_cond_wait(&p->done, &p->mu);
	pthread_mutex_unlock(&p->mu);
}
