/* Random operations on a KV pool from several threads (kv_stress.h). */
#include "kv_stress.h"

#include <pthread.h>
#include <stdlib.h>

typedef struct worker {
	duet_kv_pool *p;
	uint32_t model, seed, tag;
	int ops, failures;
} worker;

static uint32_t rnd(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* Each thread owns two sequences and does random steps, truncations,
 * re-opens and shares among them; after each step its data must be there
 * (other threads' preemptions only drop or swap, never corrupt). */
static void *work(void *arg)
{
	worker *w = arg;
	duet_kv_seq *s[2] = { NULL, NULL };
	uint32_t n[2] = { 0, 0 };
	for (int op = 0; op < w->ops; op++) {
		int k = (int)(rnd(&w->seed) % 2);
		uint32_t r = rnd(&w->seed) % 100;
		if (!s[k]) {
			duet_kv_prio prio = (duet_kv_prio)(rnd(&w->seed) % 3);
			if (duet_kv_seq_open(w->p, w->model, prio, rnd(&w->seed) % 9, &s[k]) != DUET_OK)
				s[k] = NULL;
			n[k] = 0;
			if (s[k] && s[1 - k] && r < 30 && duet_kv_seq_share(s[k], s[1 - k], n[1 - k]) == DUET_OK)
				n[k] = duet_kv_seq_tokens(s[k]);
			continue;
		}
		if (r < 70) {
			uint32_t len = 1 + rnd(&w->seed) % 24, valid;
			duet_status st = duet_kv_seq_begin(s[k], n[k], len, &valid);
			if (st != DUET_OK)
				continue; /* AGAIN / NOMEM under pressure */
			if (valid < n[k]) { /* dropped: recompute from there */
				n[k] = valid;
				continue;
			}
			/* rows of this thread's sequence: tag by thread and slot */
			for (uint32_t pos = n[k]; pos < n[k] + len; pos++)
				for (int kv = 0; kv < 2; kv++) {
					uint16_t *row = duet_kv_seq_row(s[k], kv, 1, pos);
					row[0] = (uint16_t)(w->tag * 2 + (uint32_t)k);
					row[1] = (uint16_t)pos;
				}
			n[k] += len;
			/* everything still valid reads back (shared prefixes
			 * carry the other slot's or thread's tags) */
			for (uint32_t pos = 0; pos < n[k]; pos++) {
				uint16_t *row = duet_kv_seq_row(s[k], 0, 1, pos);
				if (row[1] != (uint16_t)pos)
					w->failures++;
			}
			duet_kv_seq_end(s[k], n[k]);
		} else if (r < 80) {
			n[k] = n[k] ? rnd(&w->seed) % n[k] : 0;
			duet_kv_seq_truncate(s[k], n[k]);
		} else if (r < 85) {
			duet_kv_seq_close(s[k]);
			s[k] = NULL;
		} else { /* sessions change class */
			duet_kv_seq_set_prio(s[k], (duet_kv_prio)(rnd(&w->seed) % 3));
		}
		uint32_t now = s[k] ? duet_kv_seq_tokens(s[k]) : 0;
		if (s[k] && now < n[k])
			n[k] = now; /* preempted by drop meanwhile */
	}
	duet_kv_seq_close(s[0]);
	duet_kv_seq_close(s[1]);
	return NULL;
}

int kv_stress(duet_kv_pool *p, uint32_t model, int n_threads, int n_ops)
{
	pthread_t th[64];
	worker w[64];
	int failures = 0, started = 0;
	if (n_threads > 64)
		n_threads = 64;
	for (int i = 0; i < n_threads; i++) {
		w[i] = (worker){ .p = p, .model = model, .ops = n_ops,
				 .seed = 0x9e3779b9u * (uint32_t)(i + 1), .tag = (uint32_t)i };
		if (pthread_create(&th[i], NULL, work, &w[i]) != 0)
			break;
		started++;
	}
	for (int i = 0; i < started; i++) {
		pthread_join(th[i], NULL);
		failures += w[i].failures;
	}
	return started == n_threads ? failures : -1;
}
