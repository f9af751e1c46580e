/* Weight layouts for the Vulkan kernels: GGUF rows repacked into groups of
 * 256 elements, each a whole number of 16-byte texels with scales first
 * and quants in the order the kernels consume them (shaders/wtypes.glsl
 * documents each type). Rows are padded with zeros to whole groups, which
 * contribute nothing because the activations' padding is zero too.
 * Pure functions; thread-safe. */
#ifndef DUET_RUNTIME_VK_PACK_H
#define DUET_RUNTIME_VK_PACK_H

#include <stdbool.h>
#include <stdint.h>

#include "quant.h"

/* Returns whether the kernels read type t. */
bool duet_vk_pack_supported(uint32_t t);

/* Returns the texels of one repacked row of n_in elements of type t. */
uint64_t duet_vk_pack_row_texels(uint32_t t, uint64_t n_in);

/* Repacks one GGUF row (n_in elements of type t) into dst, which holds
 * duet_vk_pack_row_texels() * 16 bytes. */
void duet_vk_pack_row(uint32_t t, const uint8_t *src, uint64_t n_in,
		      uint8_t *dst);

/* Returns the activation format (DUET_DOT_*) the kernels of type t read. */
uint32_t duet_vk_dot_format(uint32_t t);

/* Returns the floats per token of an activation of n elements in format
 * dot (padded to whole groups, plus scales and sums). */
uint32_t duet_vk_act_floats(uint32_t dot, uint32_t n);

/* Returns n rounded up to whole 256-element groups. */
static inline uint32_t duet_vk_pad256(uint32_t n)
{
	return (n + 255u) / 256u * 256u;
}

#endif
