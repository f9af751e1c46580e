/* The plain-C reference executor of the graph IR: the oracle every later
 * kernel is checked against, and the fallback where no GPU is usable.
 *
 * Each node is computed the textbook way (one output element at a time),
 * with llama.cpp's rounding where it rounds: activations are quantized to
 * the weight's dot type before a matrix product, K and V are stored as f16,
 * and Q and the attention weights are rounded to f16 before their products
 * with them. Work is split over threads by output row or head, so results
 * do not depend on the thread count. */
#ifndef DUET_RUNTIME_CPU_H
#define DUET_RUNTIME_CPU_H

#include "graph.h"
#include "kv.h"
#include "weights.h"

typedef struct duet_cpu duet_cpu;

/* Creates an executor with n_threads threads (0: the online CPU count,
 * at most 8). Errors: DUET_E_NOMEM, DUET_E_AGAIN. */
duet_status duet_cpu_create(uint32_t n_threads, duet_cpu **out);

/* Frees c and the buffers it holds for graphs; NULL is a no-op. */
void duet_cpu_destroy(duet_cpu *c);

/* Makes runs bracket each layer's nodes with duet_weights_enter/leave of
 * w (borrowed; NULL: weights are always in place). */
void duet_cpu_set_weights(duet_cpu *c, duet_weights *w);

/* Returns the number of threads in use. */
uint32_t duet_cpu_threads(const duet_cpu *c);

/* Runs graph g for one step. K/V of the step's positions are written into
 * kv (a step of several sequences: row b's into step->kv[b], and kv is
 * unused); on DUET_OK *logits points at the graph's logits ([rows][n_vocab],
 * rows = 1 in LAST mode, else step->n_tokens valid rows), owned by c and
 * valid until the next run or until c is destroyed.
 * Errors: DUET_E_INVAL (token out of the vocabulary, n_tokens 0 or above
 * the batch), DUET_E_RANGE (positions past the cache), DUET_E_NOMEM.
 * Not thread-safe: one run at a time per executor. */
duet_status duet_cpu_run(duet_cpu *c, const duet_graph *g, duet_kv_cache *kv,
			 const duet_step *step, const float **logits);

#endif
