/* Fork-join thread pool (see pool.h). A run is published as one atomic
 * word, its generation and the next unclaimed task; whoever is awake
 * claims tasks from it, the caller too, and the run ends when its tasks
 * are done, not when every worker has looked in, so a worker the kernel
 * has not scheduled (more threads than cores: several contexts, several
 * sessions) never holds a run up. Workers poll for the next run for a
 * moment before they sleep on a condition variable: the kernels of a
 * decode step take tens of microseconds, less than a wake-up. */
#include "pool.h"

#include <pthread.h>
#include <sched.h>
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

/* How long a worker polls for the next run, and the caller for the end of
 * its run, before sleeping: about the gap between two kernels of a step,
 * short enough that an idle pool gives its cores back at once. */
#define SPIN_S 50e-6

/* A run's job. Run g uses slot g % 2, written before g is published and
 * left alone until run g + 2 is set up, by which time the claim word has
 * moved past g and no claim of g can succeed. Fields are atomics only so
 * that a late worker's read of a slot being rewritten is not a data race;
 * such a worker's claim then fails and it ignores what it read. */
typedef struct job {
	_Atomic(duet_pool_fn) fn;
	_Atomic(void *) arg;
	atomic_uint n_tasks;
} job;

struct duet_pool {
	uint32_t n_threads;
	pthread_t *threads;
	pthread_mutex_t mu;
	pthread_cond_t wake;
	pthread_cond_t done_cv;
	atomic_uint_fast64_t claim; /* generation << 32 | next task */
	job jobs[2];
	atomic_uint done;     /* tasks of the current run finished */
	atomic_uint sleepers; /* workers asleep (or about to be) on wake */
	atomic_bool stop;
};

typedef struct worker_arg {
	duet_pool *pool;
	uint32_t index;
} worker_arg;

static uint32_t gen_of(uint64_t c)
{
	return (uint32_t)(c >> 32);
}

/* Claims and runs tasks of run g until none is left. */
static void work(duet_pool *p, uint32_t g, uint32_t thread)
{
	job *j = &p->jobs[g & 1];
	uint64_t c = atomic_load(&p->claim);
	for (;;) {
		if (gen_of(c) != g)
			return;
		uint32_t n = atomic_load_explicit(&j->n_tasks, memory_order_relaxed);
		if ((uint32_t)c >= n)
			return;
		if (!atomic_compare_exchange_weak(&p->claim, &c, c + 1))
			continue; /* c now holds the word as it is */
		/* task (uint32_t)c of run g is ours, and run g cannot end
		 * (nor its slot change) before we count it done */
		duet_pool_fn fn = atomic_load_explicit(&j->fn, memory_order_relaxed);
		fn(atomic_load_explicit(&j->arg, memory_order_relaxed), (uint32_t)c, thread);
		if (atomic_fetch_add(&p->done, 1) + 1 == n) {
			pthread_mutex_lock(&p->mu);
			pthread_cond_signal(&p->done_cv);
			pthread_mutex_unlock(&p->mu);
		}
		c = atomic_load(&p->claim);
	}
}

/* One poll's pause: the first ones a CPU pause, then a yield, so that a
 * poller hands its core to any runnable thread (other contexts' pools,
 * other sessions) instead of burning it. */
static void relax(uint32_t i)
{
	if (i < 256)
		CPU_RELAX();
	else
		sched_yield();
}

/* Polls until the claim word's generation differs from g or SPIN_S
 * passed; true when it did. */
static bool spin_for_run(duet_pool *p, uint32_t g)
{
	double t0 = duet_now_s();
	for (uint32_t i = 1;; i++) {
		if (gen_of(atomic_load(&p->claim)) != g)
			return true;
		relax(i);
		if (!(i & 15) && duet_now_s() - t0 > SPIN_S)
			return false;
	}
}

static void *worker(void *v)
{
	worker_arg wa = *(worker_arg *)v;
	free(v);
	duet_pool *p = wa.pool;
	uint32_t seen = 0;
	for (;;) {
		if (!spin_for_run(p, seen)) {
			/* sleepers is raised before the claim word is read
			 * again, and a run publishes its word before it reads
			 * sleepers (both sequentially consistent): either this
			 * thread sees the run or the run sees it asleep and
			 * broadcasts under mu, which this thread holds until
			 * it waits */
			pthread_mutex_lock(&p->mu);
			atomic_fetch_add(&p->sleepers, 1);
			while (!atomic_load(&p->stop) && gen_of(atomic_load(&p->claim)) == seen)
				pthread_cond_wait(&p->wake, &p->mu);
			atomic_fetch_sub(&p->sleepers, 1);
			pthread_mutex_unlock(&p->mu);
		}
		if (atomic_load(&p->stop))
			break;
		seen = gen_of(atomic_load(&p->claim));
		work(p, seen, wa.index);
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
	pthread_cond_init(&p->done_cv, NULL);
	atomic_init(&p->claim, 0);
	for (int i = 0; i < 2; i++) {
		atomic_init(&p->jobs[i].fn, NULL);
		atomic_init(&p->jobs[i].arg, NULL);
		atomic_init(&p->jobs[i].n_tasks, 0);
	}
	atomic_init(&p->done, 0);
	atomic_init(&p->sleepers, 0);
	atomic_init(&p->stop, false);
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
	/* a run of no tasks: polling workers look up and see stop */
	uint32_t g = gen_of(atomic_load(&p->claim)) + 1;
	atomic_store(&p->jobs[g & 1].n_tasks, 0);
	atomic_store(&p->claim, (uint64_t)g << 32);
	pthread_cond_broadcast(&p->wake);
	pthread_mutex_unlock(&p->mu);
	for (uint32_t i = 1; i < p->n_threads; i++)
		pthread_join(p->threads[i], NULL);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->wake);
	pthread_cond_destroy(&p->done_cv);
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
	uint32_t g = gen_of(atomic_load(&p->claim)) + 1;
	job *j = &p->jobs[g & 1];
	atomic_store(&j->fn, fn);
	atomic_store(&j->arg, arg);
	atomic_store(&j->n_tasks, n_tasks);
	atomic_store(&p->done, 0);
	atomic_store(&p->claim, (uint64_t)g << 32);
	if (atomic_load(&p->sleepers)) {
		pthread_mutex_lock(&p->mu);
		pthread_cond_broadcast(&p->wake);
		pthread_mutex_unlock(&p->mu);
	}
	work(p, g, 0);
	/* what is left runs on workers that claimed it: wait for them */
	double t0 = duet_now_s();
	for (uint32_t i = 1; atomic_load(&p->done) != n_tasks; i++) {
		relax(i);
		if (!(i & 15) && duet_now_s() - t0 > SPIN_S) {
			pthread_mutex_lock(&p->mu);
			while (atomic_load(&p->done) != n_tasks)
				pthread_cond_wait(&p->done_cv, &p->mu);
			pthread_mutex_unlock(&p->mu);
			break;
		}
	}
}
