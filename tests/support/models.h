/* Test models: synthetic GGUF files written with runtime/synth and
 * rewritten with one thing changed (a key dropped or set, a tensor
 * dropped, reshaped or retyped) to exercise the model checks. */
#ifndef DUET_TESTS_MODELS_H
#define DUET_TESTS_MODELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "synth.h"

/* Writes a synthetic model under the test tmpdir; returns its path
 * (static buffer per call site is the caller's: out, cap). */
void make_model(const duet_synth_options *o, const char *tag, char *out,
		size_t cap);

typedef struct model_edit {
	const char *drop_key;
	const char *set_str_key, *set_str_val;
	const char *set_u32_key;
	uint32_t set_u32_val;
	const char *set_f32_key;
	float set_f32_val;
	const char *drop_tensor;
	const char *reshape_tensor; /* swap its two dimensions */
	const char *retype_tensor;  /* store it as retype (random bytes) */
	uint32_t retype;
} model_edit;

/* Copies src to dst with the edit applied. */
void edit_model(const char *src, const char *dst, const model_edit *e);

/* Skips the calling Criterion test (visibly, with the reason) where the
 * machine has no usable Vulkan device. */
void need_vulkan(void);

/* Whether a usable Vulkan device exists (for tests that check the CPU
 * either way and say so when Vulkan is missing). */
bool vulkan_present(void);

/* Whether a suite checks kernel family `kernels` in full: NULL (the CPU
 * backend), "" or the family the Vulkan device runs by default ("cpu" on
 * lavapipe, "gpu" on GPUs), or any family with DUET_ORACLE_ALL=1. The
 * other family gets less (it is slow where it does not belong: the gpu
 * family decodes ~4 tokens/s on lavapipe). */
bool family_in_full(const char *kernels);

#endif
