/* Continuous batching: decode steps of several sessions of one model run
 * as one forward pass. On a pass of several rows each weight row is
 * unpacked once for all of them (duet_vec_dot_n), so n sessions decoding
 * together cost less than n single steps; the tokens are the ones each
 * session would get alone (every row's arithmetic is the single row's).
 *
 * A batcher belongs to one model. Sessions join it while they decode;
 * each step a session hands in its token and waits. The first to find
 * every joined session waiting, or its own wait past the batcher's limit,
 * runs everyone waiting as one pass and wakes them, so a session that is
 * busy elsewhere (sampling, a slow callback, a prefill) delays the others
 * by at most that limit. */
#ifndef DUET_RUNTIME_BATCH_H
#define DUET_RUNTIME_BATCH_H

#include <stdint.h>

#include "duet/duet.h"

/* Most contexts in one pass; larger batches run as several. */
#define DUET_BATCH_MAX 64

/* Evaluates tokens[i] on cs[i] (distinct contexts of one model, each at
 * its next position) and sets logits[i] to cs[i]'s logits, as
 * duet_context_eval of one token would (valid until cs[i]'s next
 * evaluation). On the CPU executor up to DUET_BATCH_MAX contexts run as
 * one pass, and on an error no context of that pass advances; Vulkan
 * contexts run one after another. Errors: DUET_E_INVAL (no contexts,
 * another model, a context twice, a bad token), DUET_E_RANGE (a full
 * context), those of evaluation. Not thread-safe for the same contexts. */
duet_status duet_context_eval_batch(duet_context *const *cs, const int32_t *tokens,
				    uint32_t n, const float **logits);

typedef struct duet_batcher duet_batcher;

typedef struct duet_batch_stats {
	uint64_t passes; /* forward passes run */
	uint64_t steps;  /* decode steps they held */
	uint32_t widest; /* most steps in one pass */
} duet_batch_stats;

/* A batcher of up to max_batch steps a pass (2 .. DUET_BATCH_MAX) that
 * waits at most wait_ms for joined sessions (0: 2 ms). Errors:
 * DUET_E_INVAL, DUET_E_NOMEM. */
duet_status duet_batcher_create(uint32_t max_batch, double wait_ms, duet_batcher **out);

/* Frees b; no session may be joined. NULL: no-op. */
void duet_batcher_destroy(duet_batcher *b);

/* A session starts (join) or stops (leave) decoding through b.
 * Thread-safe. */
void duet_batcher_join(duet_batcher *b);
void duet_batcher_leave(duet_batcher *b);

/* Evaluates tok on c (a context of b's model, of a joined session) as
 * part of a pass with the other waiting sessions' steps; *logits as
 * duet_context_eval gives them. A failed pass is retried step by step, so
 * each session gets its own error. Thread-safe (one call per context at
 * a time). */
duet_status duet_batcher_eval(duet_batcher *b, duet_context *c, int32_t tok,
			      const float **logits);

/* Counts so far. Thread-safe. */
void duet_batcher_get_stats(duet_batcher *b, duet_batch_stats *st);

#endif
