/* Tensor element types as GGUF stores them: block layouts, conversion to and
 * from float, and the dot products the reference executor uses.
 *
 * Type ids and block layouts are GGML's, so files from the wild read as-is.
 * Quantized weights are multiplied the way llama.cpp's CPU backend does it:
 * the activation row is first quantized to the weight type's "dot type"
 * (Q8_0, Q8_1 or Q8_K; F16/BF16 for half weights) and the dot product is
 * taken between the two. That rounding is part of the numerics users compare
 * against, so the reference reproduces it instead of using exact floats.
 *
 * Layouts (little-endian, packed, sizes in bytes):
 *   Q4_0  32 el, 18: f16 d; u8 qs[16]          x = d*(q-8)
 *   Q4_1  32 el, 20: f16 d, m; u8 qs[16]       x = d*q + m
 *   Q5_0  32 el, 22: f16 d; u8 qh[4]; qs[16]   x = d*(q-16), q has 5 bits
 *   Q5_1  32 el, 24: f16 d, m; u8 qh[4]; qs[16]
 *   Q8_0  32 el, 34: f16 d; i8 qs[32]
 *   Q8_1  32 el, 36: f16 d, s (= d*sum q); i8 qs[32]   (activations only)
 *   Q4_K 256 el,144: f16 d, dmin; u8 scales[12] (8x 6-bit scale+min); qs[128]
 *   Q5_K 256 el,176: f16 d, dmin; u8 scales[12]; qh[32]; qs[128]
 *   Q6_K 256 el,210: u8 ql[128]; qh[64]; i8 scales[16]; f16 d
 *   Q8_K 256 el,292: f32 d; i8 qs[256]; i16 bsums[16]   (activations only)
 * All functions here are pure and thread-safe. */
#ifndef DUET_RUNTIME_QUANT_H
#define DUET_RUNTIME_QUANT_H

#include <stdbool.h>
#include <stdint.h>

/* GGML type ids (values fixed by the GGUF format). */
typedef enum duet_type {
	DUET_TYPE_F32 = 0,
	DUET_TYPE_F16 = 1,
	DUET_TYPE_Q4_0 = 2,
	DUET_TYPE_Q4_1 = 3,
	DUET_TYPE_Q5_0 = 6,
	DUET_TYPE_Q5_1 = 7,
	DUET_TYPE_Q8_0 = 8,
	DUET_TYPE_Q8_1 = 9,
	DUET_TYPE_Q2_K = 10,
	DUET_TYPE_Q3_K = 11,
	DUET_TYPE_Q4_K = 12,
	DUET_TYPE_Q5_K = 13,
	DUET_TYPE_Q6_K = 14,
	DUET_TYPE_Q8_K = 15,
	DUET_TYPE_IQ2_XXS = 16,
	DUET_TYPE_IQ2_XS = 17,
	DUET_TYPE_IQ3_XXS = 18,
	DUET_TYPE_IQ1_S = 19,
	DUET_TYPE_IQ4_NL = 20,
	DUET_TYPE_IQ3_S = 21,
	DUET_TYPE_IQ2_S = 22,
	DUET_TYPE_IQ4_XS = 23,
	DUET_TYPE_I8 = 24,
	DUET_TYPE_I16 = 25,
	DUET_TYPE_I32 = 26,
	DUET_TYPE_I64 = 27,
	DUET_TYPE_F64 = 28,
	DUET_TYPE_IQ1_M = 29,
	DUET_TYPE_BF16 = 30,
	DUET_TYPE_TQ1_0 = 34,
	DUET_TYPE_TQ2_0 = 35,
	DUET_TYPE_MXFP4 = 39,
	DUET_TYPE_COUNT = 40,
} duet_type;

#define DUET_QK 32   /* elements per block of the Q4_0..Q8_1 types */
#define DUET_QK_K 256 /* elements per super-block of the K types */

typedef struct duet_type_info {
	const char *name;     /* "q4_K", as llama.cpp prints it */
	uint32_t block_elems; /* elements per block */
	uint32_t block_bytes; /* bytes per block */
	bool compute;         /* dequantize and dot product are implemented */
	duet_type dot_type;   /* activation format for duet_vec_dot */
} duet_type_info;

/* Returns the description of type id t, or NULL when t is not a GGML type
 * (removed or unknown ids). */
const duet_type_info *duet_type_get(uint32_t t);

/* Returns the type's name, or "unknown" for an id duet_type_get rejects. */
const char *duet_type_name(uint32_t t);

/* Returns the type whose name is s (case-insensitive, "q4_k" works), or -1. */
int duet_type_from_name(const char *s);

/* Returns the bytes of a row of n elements, or 0 when n is not a multiple of
 * the block size or t is unknown. */
uint64_t duet_type_row_bytes(uint32_t t, uint64_t n);

/* Writes n floats decoded from the row at src. t must have compute set or be
 * Q8_0/Q8_K; n a multiple of the block size. */
void duet_dequantize_row(duet_type t, const void *src, float *dst, int64_t n);

/* Encodes n floats into a row of type t at dst (duet_type_row_bytes bytes).
 * Supports every compute type plus Q8_1 and Q8_K. Deterministic. */
void duet_quantize_row(duet_type t, const float *src, void *dst, int64_t n);

/* Returns sum_i w[i]*a[i] for a weight row w of type t and an activation row
 * a already in duet_type_get(t)->dot_type format, both of n elements. */
float duet_vec_dot(duet_type t, int64_t n, const void *w, const void *a);

/* Writes out[r] = duet_vec_dot(t, n, w + r * w_stride, a) for r < rows:
 * one activation row against consecutive weight rows (a decode step's
 * matrix-vector product), the type dispatched once. Thread-safe. */
void duet_vec_dot_rows(duet_type t, int64_t n, const void *w, uint64_t w_stride,
		       uint32_t rows, const void *a, float *out);

/* Writes out[j] = duet_vec_dot(t, n, w, a + j * a_stride) for j < m: the
 * same values, computed together so that a weight row is unpacked once for
 * up to four activation rows. */
void duet_vec_dot_n(duet_type t, int64_t n, const void *w, const void *a,
		    uint64_t a_stride, uint32_t m, float *out);

#endif
