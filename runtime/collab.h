/* Inside SLM+LLM collaboration (collab.c): the step of speculative
 * sampling that decides one draft token, exposed for its statistical test. */
#ifndef DUET_RUNTIME_COLLAB_H
#define DUET_RUNTIME_COLLAB_H

#include <stdbool.h>
#include <stdint.h>

/* Given the target's probabilities p and the draft's q over n tokens and
 * the draft token d (drawn from q): returns d when u_accept < p(d) / q(d)
 * (*accepted true), else a token drawn by u_resample from max(0, p - q)
 * renormalised (from p itself when that is all zero). u_*: uniform in
 * [0, 1). The result is distributed as p. */
int32_t duet_spec_resolve(const float *p, const float *q, uint32_t n, int32_t d,
			  double u_accept, double u_resample, bool *accepted);

/* Fills probs[0..n) with softmax(logits / temperature) (temperature > 0). */
void duet_spec_probs(const float *logits, uint32_t n, float temperature, float *probs);

/* Draws a token from probs (summing to 1) with u uniform in [0, 1). */
int32_t duet_spec_draw(const float *probs, uint32_t n, double u);

#endif
