/* Picking tokens, shared by the sampler, contexts and speculative
 * decoding: the first largest logit, and a seeded splitmix64 stream of
 * uniform doubles (the same numbers on every machine). */
#ifndef DUET_RUNTIME_PICK_H
#define DUET_RUNTIME_PICK_H

#include <stdint.h>

/* Index of the first largest of l[0..n) (n >= 1). */
static inline int32_t duet_argmax(const float *l, uint32_t n)
{
	int32_t best = 0;
	for (uint32_t i = 1; i < n; i++)
		if (l[i] > l[best])
			best = (int32_t)i;
	return best;
}

/* The next value of the splitmix64 stream in *state. */
static inline uint64_t duet_splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform double in [0, 1) from the stream. */
static inline double duet_uniform(uint64_t *state)
{
	return (double)(duet_splitmix64(state) >> 11) * (1.0 / 9007199254740992.0);
}

#endif
