/* Internal: the inner loops of the CPU executor's attention (cpu.c), each
 * in a scalar reference form and, where the CPU has them, SIMD forms
 * (AVX2+F16C+FMA on x86-64, NEON on arm64) that return the same bits:
 * every float operation of the reference is done in the same order, lane
 * by lane. All functions are thread-safe (they touch only their
 * arguments). */
#ifndef DUET_RUNTIME_ATTN_SIMD_H
#define DUET_RUNTIME_ATTN_SIMD_H

#include <stdbool.h>
#include <stdint.h>

#include "kv.h"

/* Writes out[j] = (sum_d q[d] * K_j[d]) * scale for positions j < n_pos,
 * the sum taken in d order in float, where K_j[d] is the value
 * (duet_kv_value) of column col0 + d of position j's K row of the layer in
 * kv's type. For an f16 cache the caller passes q rounded to f16. */
void duet_attn_scores(const duet_kv_cache *kv, uint32_t layer, uint32_t col0,
		      const float *q, uint32_t n_pos, uint32_t hd,
		      float scale, float *out);

/* acc[d] = acc[d] * ms, rounded through f16 when f16 is set. */
void duet_attn_rescale(float *acc, uint32_t hd, float ms, bool f16);

/* acc[d] = fmaf(V[d], vs, acc[d]) where V[d] is the value of column col0 +
 * d of row (n values of type t), rounded through f16 when f16 is set.
 * Returns false when some acc[d] is not finite afterwards. */
bool duet_attn_accumulate(float *acc, duet_kv_type t, const uint8_t *row,
			  uint32_t n, uint32_t col0, uint32_t hd, float vs, bool f16);

/* The scalar reference forms, which the functions above must equal bit
 * for bit (tests call them): the score of position j alone, and the
 * rescale and accumulate loops. */
float duet_attn_score_ref(const duet_kv_cache *kv, uint32_t layer, uint32_t col0,
			  const float *q, uint32_t j, uint32_t hd, float scale);
void duet_attn_rescale_ref(float *acc, uint32_t hd, float ms, bool f16);
bool duet_attn_accumulate_ref(float *acc, duet_kv_type t, const uint8_t *row,
			      uint32_t n, uint32_t col0, uint32_t hd, float vs,
			      bool f16);

#endif
