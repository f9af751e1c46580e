/* The batcher's threads under ThreadSanitizer (tools/test.sh): sessions
 * on eight threads join, hand in steps and leave at different times,
 * through runtime/batch.c with the pass itself replaced by a stand-in
 * that checks what it is given (each context once, every token its own
 * context's next one) and advances the contexts as a real pass would. A
 * pass fails now and then, so the step-by-step retry runs too. Exits 1
 * on a wrong pass or a wrong result, and prints the pass counts. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "batch.h"
#include "error.h"

#define THREADS 8

struct duet_context { /* the stand-in's context: its steps so far */
	int id;
	int32_t n_past;
	float logits[2];
};

static atomic_int wrong, passes_run;

duet_status duet_context_eval_batch(duet_context *const *cs, const int32_t *tokens,
				    uint32_t n, const float **logits)
{
	int pass = atomic_fetch_add(&passes_run, 1);
	for (uint32_t i = 0; i < n; i++) {
		for (uint32_t j = 0; j < i; j++)
			if (cs[j] == cs[i])
				atomic_fetch_add(&wrong, 1);
		if (tokens[i] != cs[i]->id * 1000 + cs[i]->n_past)
			atomic_fetch_add(&wrong, 1);
	}
	if (n > 1 && pass % 7 == 3) /* nobody advances; the retry sorts it out */
		return DUET_ERR(DUET_E_AGAIN, "a pass that fails");
	for (uint32_t i = 0; i < n; i++) {
		cs[i]->logits[0] = (float)cs[i]->n_past++;
		logits[i] = cs[i]->logits;
	}
	return DUET_OK;
}

static duet_batcher *b;
static pthread_barrier_t all_joined;

static void *session(void *arg)
{
	duet_context *c = arg;
	int steps = 40 + 13 * c->id;
	duet_batcher_join(b);
	pthread_barrier_wait(&all_joined); /* else the first may be done alone */
	for (int k = 0; k < steps; k++) {
		const float *l;
		if (duet_batcher_eval(b, c, c->id * 1000 + c->n_past, &l) != DUET_OK ||
		    l[0] != (float)(c->n_past - 1))
			atomic_fetch_add(&wrong, 1);
	}
	duet_batcher_leave(b);
	return NULL;
}

int main(void)
{
	if (duet_batcher_create(4, 0.5, &b) != DUET_OK ||
	    pthread_barrier_init(&all_joined, NULL, THREADS))
		return 1;
	duet_context cs[THREADS];
	pthread_t th[THREADS];
	for (int i = 0; i < THREADS; i++) {
		cs[i] = (duet_context){ .id = i };
		pthread_create(&th[i], NULL, session, &cs[i]);
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	duet_batch_stats st;
	duet_batcher_get_stats(b, &st);
	duet_batcher_destroy(b);
	pthread_barrier_destroy(&all_joined);
	printf("batch_stress: %llu steps in %llu passes (widest %u), %d wrong\n",
	       (unsigned long long)st.steps, (unsigned long long)st.passes, st.widest,
	       atomic_load(&wrong));
	return atomic_load(&wrong) || st.widest < 2 ? 1 : 0;
}
