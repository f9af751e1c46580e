/* The batcher of continuous batching (see batch.h): a mutex, a condition
 * variable and a queue of waiting steps. Whoever finds the queue ready
 * runs it, outside the lock; the others sleep until their step is done. */
#include "batch.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "clock.h"
#include "error.h"

typedef struct req {
	duet_context *c;
	int32_t tok;
	duet_status st;
	const float *logits;
	char err[DUET_ERROR_MAX]; /* the message of st, from the thread that ran it */
	bool done;
	struct req *next;
} req;

struct duet_batcher {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint32_t members; /* joined sessions */
	uint32_t n_queued;
	req *head, **tail;
	bool running;
	uint32_t max_batch;
	double wait_s;
	duet_batch_stats st;
};

duet_status duet_batcher_create(uint32_t max_batch, double wait_ms, duet_batcher **out)
{
	if (max_batch < 2 || max_batch > DUET_BATCH_MAX)
		return DUET_ERR(DUET_E_INVAL, "a batch of %u sessions (2 .. %u)",
				max_batch, DUET_BATCH_MAX);
	if (wait_ms < 0)
		return DUET_ERR(DUET_E_INVAL, "a negative batch wait (%g ms)", wait_ms);
	duet_batcher *b = calloc(1, sizeof *b);
	if (!b)
		return DUET_ERR(DUET_E_NOMEM, "out of memory");
	if (pthread_mutex_init(&b->mu, NULL)) {
		free(b);
		return DUET_ERR(DUET_E_NOMEM, "cannot create a mutex");
	}
	if (pthread_cond_init(&b->cv, NULL)) {
		pthread_mutex_destroy(&b->mu);
		free(b);
		return DUET_ERR(DUET_E_NOMEM, "cannot create a condition variable");
	}
	b->tail = &b->head;
	b->max_batch = max_batch;
	b->wait_s = (wait_ms > 0 ? wait_ms : 2.0) / 1e3;
	*out = b;
	return DUET_OK;
}

void duet_batcher_destroy(duet_batcher *b)
{
	if (!b)
		return;
	pthread_cond_destroy(&b->cv);
	pthread_mutex_destroy(&b->mu);
	free(b);
}

void duet_batcher_join(duet_batcher *b)
{
	pthread_mutex_lock(&b->mu);
	b->members++;
	pthread_mutex_unlock(&b->mu);
}

void duet_batcher_leave(duet_batcher *b)
{
	pthread_mutex_lock(&b->mu);
	b->members--;
	pthread_cond_broadcast(&b->cv); /* the rest may all be waiting now */
	pthread_mutex_unlock(&b->mu);
}

/* Runs the first max_batch queued steps as one pass (called with the lock
 * held; drops it while running). */
static void run_queued(duet_batcher *b)
{
	req *r[DUET_BATCH_MAX];
	duet_context *cs[DUET_BATCH_MAX];
	int32_t toks[DUET_BATCH_MAX];
	const float *logits[DUET_BATCH_MAX];
	uint32_t n = 0;
	while (b->head && n < b->max_batch) {
		r[n] = b->head;
		b->head = b->head->next;
		cs[n] = r[n]->c;
		toks[n] = r[n]->tok;
		n++;
	}
	if (!b->head)
		b->tail = &b->head;
	b->n_queued -= n;
	b->running = true;
	pthread_mutex_unlock(&b->mu);
	duet_status s = duet_context_eval_batch(cs, toks, n, logits);
	for (uint32_t i = 0; i < n; i++) {
		/* a failed pass advanced nobody: each step alone says whose
		 * error it was */
		r[i]->st = s == DUET_OK || n == 1
				   ? s
				   : duet_context_eval_batch(cs + i, toks + i, 1, logits + i);
		r[i]->logits = logits[i];
		if (r[i]->st != DUET_OK)
			snprintf(r[i]->err, sizeof r[i]->err, "%s", duet_last_error());
	}
	pthread_mutex_lock(&b->mu);
	for (uint32_t i = 0; i < n; i++)
		r[i]->done = true;
	b->running = false;
	b->st.passes++;
	b->st.steps += n;
	b->st.widest = n > b->st.widest ? n : b->st.widest;
	pthread_cond_broadcast(&b->cv);
}

duet_status duet_batcher_eval(duet_batcher *b, duet_context *c, int32_t tok,
			      const float **logits)
{
	req me = { .c = c, .tok = tok };
	double until = duet_now_s() + b->wait_s;
	pthread_mutex_lock(&b->mu);
	*b->tail = &me;
	b->tail = &me.next;
	b->n_queued++;
	pthread_cond_broadcast(&b->cv);
	while (!me.done) {
		bool all_here = b->n_queued >= b->members || b->n_queued >= b->max_batch;
		if (!b->running && (all_here || duet_now_s() >= until)) {
			run_queued(b);
			continue;
		}
		if (b->running) {
			pthread_cond_wait(&b->cv, &b->mu);
		} else {
			double left = until - duet_now_s();
			struct timespec ts = duet_realtime_in(left > 0 ? left : 0);
			pthread_cond_timedwait(&b->cv, &b->mu, &ts);
		}
	}
	pthread_mutex_unlock(&b->mu);
	if (me.st != DUET_OK) /* in this thread's error buffer too */
		return duet_error_restore(me.st, me.err);
	*logits = me.logits;
	return DUET_OK;
}

void duet_batcher_get_stats(duet_batcher *b, duet_batch_stats *st)
{
	pthread_mutex_lock(&b->mu);
	*st = b->st;
	pthread_mutex_unlock(&b->mu);
}
