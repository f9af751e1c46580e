/* The CPU executor's thread pool (runtime/pool.c) under ThreadSanitizer
 * (tools/test.sh) and in the plain test run: pools of 2 to 4 threads, two
 * of them driven from two threads at once, run many jobs of 0 to 40 tasks
 * back to back (workers still spinning), after pauses longer than the spin
 * (workers asleep) and are destroyed in both states. Every task must run
 * exactly once per job, on a thread index below the pool's size, and the
 * job's writes must be visible when run returns. Exits 1 otherwise. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

#include "pool.h"

#define MAX_TASKS 40

typedef struct job {
	uint32_t size;
	int hits[MAX_TASKS];     /* plain ints: each task writes its own */
	atomic_int bad_thread;
} job;

static void task(void *arg, uint32_t t, uint32_t thread)
{
	job *j = arg;
	j->hits[t]++;
	if (thread >= j->size)
		atomic_fetch_add(&j->bad_thread, 1);
}

static void pause_us(long us)
{
	struct timespec ts = {0, us * 1000};
	nanosleep(&ts, NULL);
}

static int drive(uint32_t threads, int jobs, unsigned seed)
{
	duet_pool *p;
	if (duet_pool_create(threads, &p) != DUET_OK)
		return 1;
	int wrong = 0;
	job j = {.size = duet_pool_size(p)};
	atomic_init(&j.bad_thread, 0);
	for (int r = 0; r < jobs; r++) {
		seed = seed * 1103515245u + 12345u;
		uint32_t n = (seed >> 16) % (MAX_TASKS + 1);
		for (uint32_t t = 0; t < MAX_TASKS; t++)
			j.hits[t] = 0;
		duet_pool_run(p, task, &j, n);
		for (uint32_t t = 0; t < MAX_TASKS; t++)
			wrong += j.hits[t] != (t < n);
		if (r % 97 == 0)
			pause_us(300); /* longer than the spin: workers sleep */
	}
	wrong += atomic_load(&j.bad_thread);
	if (seed & 1)
		pause_us(300);
	duet_pool_destroy(p);
	return wrong;
}

typedef struct drive_arg {
	uint32_t threads;
	unsigned seed;
	int wrong;
} drive_arg;

static void *drive_thread(void *v)
{
	drive_arg *a = v;
	a->wrong = drive(a->threads, 3000, a->seed);
	return NULL;
}

int main(void)
{
	int wrong = 0;
	for (uint32_t threads = 1; threads <= 4; threads++)
		for (unsigned seed = 1; seed <= 3; seed++)
			wrong += drive(threads, 2000, seed * 7919u + threads);
	drive_arg a[2] = {{2, 11, 0}, {3, 12, 0}}; /* two pools, two drivers */
	pthread_t th[2];
	for (int i = 0; i < 2; i++)
		if (pthread_create(&th[i], NULL, drive_thread, &a[i]))
			return 1;
	for (int i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
		wrong += a[i].wrong;
	}
	printf("pool_stress: %d wrong\n", wrong);
	return wrong ? 1 : 0;
}
