/* A small fork-join thread pool: run(fn, n_tasks) calls fn for every task
 * index on the pool's threads plus the caller, and returns when all are
 * done. Each call of fn gets the index of the thread running it, so kernels
 * can keep per-thread scratch. One run at a time per pool. */
#ifndef DUET_RUNTIME_POOL_H
#define DUET_RUNTIME_POOL_H

#include <stdint.h>

#include "duet/status.h"

typedef struct duet_pool duet_pool;

typedef void (*duet_pool_fn)(void *arg, uint32_t task, uint32_t thread);

/* Creates a pool of n_threads threads in all, counting the caller (so 1
 * starts no thread). DUET_E_INVAL for 0, DUET_E_NOMEM / DUET_E_AGAIN when
 * threads cannot be created. */
duet_status duet_pool_create(uint32_t n_threads, duet_pool **out);

/* Stops and joins the threads; NULL is a no-op. */
void duet_pool_destroy(duet_pool *p);

/* Returns the number of threads, counting the caller. */
uint32_t duet_pool_size(const duet_pool *p);

/* Runs fn(arg, t, thread) for t in [0, n_tasks) and waits for all. Tasks
 * are handed out in order from a shared counter. Not reentrant. */
void duet_pool_run(duet_pool *p, duet_pool_fn fn, void *arg, uint32_t n_tasks);

#endif
