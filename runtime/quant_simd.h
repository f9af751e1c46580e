/* Internal: the SIMD dot products (quant_dot_simd.c) and the scalar
 * reference they must equal bit for bit (quant_dot.c). */
#ifndef DUET_RUNTIME_QUANT_SIMD_H
#define DUET_RUNTIME_QUANT_SIMD_H

#include <stdbool.h>
#include <stdint.h>

#include "quant.h"

/* Writes duet_vec_dot(t, n, w + r * w_stride, a) into out[r] for r < rows
 * and returns true when this CPU has a SIMD form for type t; returns false
 * (out untouched) otherwise, or when duet_simd_on() is false. One row is
 * duet_vec_dot itself. Thread-safe. */
bool duet_vec_dot_simd_rows(duet_type t, int64_t n, const uint8_t *w, uint64_t w_stride,
			    uint32_t rows, const uint8_t *a, float *out);

/* The dots of the weight row w against m <= 4 activation rows a_stride
 * bytes apart into out[0..m), each (as a float) equal to
 * duet_vec_dot_simd_rows's; returns false (out untouched) where that has no
 * form for t, or m > 4. Thread-safe. */
bool duet_vec_dot_simd_n(duet_type t, int64_t n, const uint8_t *w, const uint8_t *a,
			 uint64_t a_stride, uint32_t m, double *out);

/* Quantizes nb blocks of 32 floats at x to Q8_0 (with_sum: Q8_1) at b as
 * duet_quantize_row does, bit for bit, and returns true; false (b
 * untouched) where this CPU has no SIMD form or duet_simd_on() is false.
 * Thread-safe. */
bool duet_quantize_q8_simd(const float *x, uint8_t *b, int64_t nb, bool with_sum);

/* The scalar reference of duet_quantize_q8_simd, never SIMD. Thread-safe. */
void duet_quantize_q8_ref(const float *x, uint8_t *b, int64_t nb, bool with_sum);

/* Returns the scalar reference result of duet_vec_dot, never SIMD.
 * Thread-safe. */
float duet_vec_dot_ref(duet_type t, int64_t n, const void *w, const void *a);

#endif
