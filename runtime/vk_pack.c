/* Repacking GGUF rows into the kernels' texel groups (see vk_pack.h and
 * shaders/wtypes.glsl). K-quant blocks already are whole texels with their
 * scales first and are copied as they are; the 32-element types gather
 * eight blocks' scales into the group's header; Q6_K is regrouped so each
 * 64-element unit's bits sit together. */
#include "vk_pack.h"

#include <string.h>

#include "../shaders/abi/kernels.h"
#include "quant_impl.h"

typedef struct pack_info {
	uint32_t group_tx; /* texels per 256 elements */
	uint32_t dot;      /* DUET_DOT_* */
} pack_info;

static bool info(uint32_t t, pack_info *pi)
{
	switch (t) {
	case DUET_TYPE_F32: *pi = (pack_info){ 64, DUET_DOT_F32 }; return true;
	case DUET_TYPE_F16: *pi = (pack_info){ 32, DUET_DOT_F16 }; return true;
	case DUET_TYPE_BF16: *pi = (pack_info){ 32, DUET_DOT_BF16 }; return true;
	case DUET_TYPE_Q4_0: *pi = (pack_info){ 9, DUET_DOT_Q8_0 }; return true;
	case DUET_TYPE_Q4_1: *pi = (pack_info){ 10, DUET_DOT_Q8_1 }; return true;
	case DUET_TYPE_Q5_0: *pi = (pack_info){ 11, DUET_DOT_Q8_0 }; return true;
	case DUET_TYPE_Q5_1: *pi = (pack_info){ 12, DUET_DOT_Q8_1 }; return true;
	case DUET_TYPE_Q8_0: *pi = (pack_info){ 17, DUET_DOT_Q8_0 }; return true;
	case DUET_TYPE_Q4_K: *pi = (pack_info){ 9, DUET_DOT_Q8_K }; return true;
	case DUET_TYPE_Q5_K: *pi = (pack_info){ 11, DUET_DOT_Q8_K }; return true;
	case DUET_TYPE_Q6_K: *pi = (pack_info){ 14, DUET_DOT_Q8_K }; return true;
	default: return false;
	}
}

bool duet_vk_pack_supported(uint32_t t)
{
	pack_info pi;
	return info(t, &pi);
}

uint64_t duet_vk_pack_row_texels(uint32_t t, uint64_t n_in)
{
	pack_info pi;
	if (!info(t, &pi))
		return 0;
	return (n_in + 255) / 256 * pi.group_tx;
}

uint32_t duet_vk_dot_format(uint32_t t)
{
	pack_info pi;
	return info(t, &pi) ? pi.dot : DUET_DOT_F32;
}

uint32_t duet_vk_act_floats(uint32_t dot, uint32_t n)
{
	uint32_t p = duet_vk_pad256(n), f = p;
	if (dot == DUET_DOT_Q8_0 || dot == DUET_DOT_Q8_1)
		f = p + 2 * (p / 32);
	else if (dot == DUET_DOT_Q8_K)
		f = p + p / 256 + p / 16;
	return (f + 3) / 4 * 4; /* tokens start on whole texels */
}

/* Blocks of 32 (Q4_0..Q8_0): per group, `hdr_words` words of scales (one
 * u16 d or u32 d|m per block), optionally eight qh words, then each block's
 * quants. */
static void pack_32(const uint8_t *src, uint64_t nb, uint8_t *dst,
		    uint32_t block_bytes, uint32_t scale_bytes, bool has_qh,
		    uint32_t quant_bytes, uint32_t group_tx)
{
	uint32_t scale_tx = scale_bytes == 2 ? 1 : 2;
	uint32_t qh_tx = has_qh ? 2 : 0;
	for (uint64_t g = 0; g * 8 < nb; g++) {
		uint8_t *out = dst + g * group_tx * 16;
		memset(out, 0, group_tx * 16);
		for (uint32_t k = 0; k < 8 && g * 8 + k < nb; k++) {
			const uint8_t *b = src + (g * 8 + k) * block_bytes;
			memcpy(out + k * scale_bytes, b, scale_bytes);
			if (has_qh)
				memcpy(out + scale_tx * 16 + 4 * k, b + scale_bytes, 4);
			memcpy(out + (scale_tx + qh_tx) * 16 + k * quant_bytes,
			       b + scale_bytes + (has_qh ? 4 : 0), quant_bytes);
		}
	}
}

/* Q6_K: header = scales (16 B) and d; then per 64-element unit the low
 * nibbles of each 32 (byte j: element j | element j+16 << 4) and the
 * 2-bit highs of the 64 (element e at bits 2e..2e+1). */
static void pack_q6_k(const uint8_t *src, uint64_t nb, uint8_t *dst)
{
	for (uint64_t i = 0; i < nb; i++, src += 210, dst += 14 * 16) {
		int8_t v[256];
		q6k_unpack(src, v);
		memset(dst, 0, 14 * 16);
		memcpy(dst, src + 192, 16);
		memcpy(dst + 16, src + 208, 2);
		for (int u = 0; u < 4; u++) {
			uint8_t *lo = dst + (2 + 3 * u) * 16, *hi = lo + 32;
			for (int e = 0; e < 64; e++) {
				uint32_t q = (uint32_t)(v[64 * u + e] + 32);
				int h = e / 32, j = e % 32;
				if (j < 16)
					lo[16 * h + j] |= (uint8_t)(q & 15);
				else
					lo[16 * h + j - 16] |= (uint8_t)((q & 15) << 4);
				hi[e / 4] |= (uint8_t)((q >> 4) << (2 * (e % 4)));
			}
		}
	}
}

void duet_vk_pack_row(uint32_t t, const uint8_t *src, uint64_t n_in,
		      uint8_t *dst)
{
	uint64_t texels = duet_vk_pack_row_texels(t, n_in);
	switch (t) {
	case DUET_TYPE_F32:
	case DUET_TYPE_F16:
	case DUET_TYPE_BF16: {
		uint64_t bytes = n_in * (t == DUET_TYPE_F32 ? 4 : 2);
		memcpy(dst, src, bytes);
		memset(dst + bytes, 0, texels * 16 - bytes);
		return;
	}
	case DUET_TYPE_Q4_0: pack_32(src, n_in / 32, dst, 18, 2, false, 16, 9); return;
	case DUET_TYPE_Q4_1: pack_32(src, n_in / 32, dst, 20, 4, false, 16, 10); return;
	case DUET_TYPE_Q5_0: pack_32(src, n_in / 32, dst, 22, 2, true, 16, 11); return;
	case DUET_TYPE_Q5_1: pack_32(src, n_in / 32, dst, 24, 4, true, 16, 12); return;
	case DUET_TYPE_Q8_0: pack_32(src, n_in / 32, dst, 34, 2, false, 32, 17); return;
	case DUET_TYPE_Q4_K: memcpy(dst, src, n_in / 256 * 144); return;
	case DUET_TYPE_Q5_K: memcpy(dst, src, n_in / 256 * 176); return;
	case DUET_TYPE_Q6_K: pack_q6_k(src, n_in / 256, dst); return;
	default: memset(dst, 0, texels * 16); return;
	}
}
