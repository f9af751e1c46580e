/* Inside SLM+LLM collaboration (collab.c): the step of speculative
 * sampling that decides one draft token, exposed for its statistical test,
 * and the choice of the greedy draft length, exposed for its unit test. */
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

#define DUET_SPEC_MAX_K 16 /* most tokens drafted per round */

/* What greedy speculative decoding has measured where it runs (moving
 * averages): seconds per draft token, seconds per target pass of n tokens
 * (n = 1 .. DUET_SPEC_MAX_K + 1), and the chance that the target keeps a
 * draft token when it kept the ones before it (the accept share a).
 * have_*: a value was measured. */
typedef struct duet_spec_cost {
	double draft_s;
	bool have_draft;
	double pass_s[DUET_SPEC_MAX_K + 2];
	bool have_pass[DUET_SPEC_MAX_K + 2];
	double accept;
	bool have_accept;
	uint64_t kept, judged; /* drafts kept; drafts the target judged */
} duet_spec_cost;

/* Counts a round of k drafts of which the target kept the first j into c
 * and sets c->accept to the chance that the target keeps a draft given it
 * kept the ones before (Laplace: (kept + 1) / (judged + 2)). A round that
 * refuses draft j + 1 judged j + 1 drafts; the ones after it were never
 * judged and count neither way (kept / drafted would count them as refused
 * and read a = 0.54 as 0.27 at k = 4). k = 0 changes nothing. Pure
 * function of c; thread-safe for distinct c. */
void duet_spec_count_round(duet_spec_cost *c, uint32_t k, uint32_t j);

/* Returns the draft length, 0 .. k_max (0: a plain target step), with the
 * most expected tokens per second: a round of k drafts yields
 * 1 + a + ... + a^k tokens (a: the accept share) for k draft steps and one
 * target pass of k + 1 tokens. Pass sizes not yet measured are estimated
 * from those that were. Before a one-token pass is measured it returns 0,
 * before drafting is, k_try. Where a pass costs as much per token as
 * decoding (a compute-bound device) it is 0: drafting cannot pay there.
 * Pure function; thread-safe. */
uint32_t duet_spec_choose_k(const duet_spec_cost *c, uint32_t k_max, uint32_t k_try);

/* Returns false when a draft whose tokens are kept with share a (1: always
 * right) would give no more tokens per second than plain steps at these
 * costs, true while that is not yet measured or it would. Pure function;
 * thread-safe. */
bool duet_spec_can_pay(const duet_spec_cost *c, uint32_t k_max, double a);

#endif
