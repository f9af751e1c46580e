/* The quirk table: device and driver behaviour that the capability bits do
 * not tell, keyed by vendor, device and driver version, each row with its
 * reason. A row matches when every non-zero key matches. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vk_internal.h"

enum {
	VENDOR_ARM = 0x13b5,
	VENDOR_MESA = 0x10005, /* llvmpipe/lavapipe (VK_VENDOR_ID_MESA) */
	VENDOR_QUALCOMM = 0x5143,
	VENDOR_GOOGLE = 0x1ae0, /* SwiftShader */
};

typedef struct quirk_row {
	uint32_t vendor;
	uint32_t driver_id;   /* VkDriverId, 0: any */
	uint32_t max_driver;  /* applies to driverVersion < this, 0: any */
	uint32_t flags;
	const char *reason;
} quirk_row;

static const quirk_row table[] = {
	{ VENDOR_MESA, VK_DRIVER_ID_MESA_LLVMPIPE, 0, DUET_VK_QUIRK_SLOW_DISPATCH,
	  "lavapipe hands every dispatch to its worker threads (~42 us on "
	  "Mesa 22.3): fuse kernels, use the CPU-shaped variant" },
	{ VENDOR_GOOGLE, VK_DRIVER_ID_GOOGLE_SWIFTSHADER, 0,
	  DUET_VK_QUIRK_SLOW_DISPATCH,
	  "SwiftShader executes on the CPU: same trade-offs as lavapipe" },
	{ VENDOR_ARM, VK_DRIVER_ID_ARM_PROPRIETARY, 0,
	  DUET_VK_QUIRK_NO_FP16_MATH,
	  "Mali: fp16 arithmetic has given NaN/inf in long reductions "
	  "(DESIGN.md, device facts); keep all math in fp32" },
	{ VENDOR_QUALCOMM, VK_DRIVER_ID_QUALCOMM_PROPRIETARY, 0,
	  DUET_VK_QUIRK_NO_FP16_MATH | DUET_VK_QUIRK_SMALL_ALLOC,
	  "Adreno: fp16 arithmetic has given NaN/inf in long reductions, and "
	  "single allocations above ~1 GiB fail below maxMemoryAllocationSize "
	  "(DESIGN.md, device facts)" },
};

static bool row_matches(const quirk_row *r, const duet_vk_caps *c)
{
	return (!r->vendor || r->vendor == c->vendor_id) &&
	       (!r->driver_id || r->driver_id == c->driver_id) &&
	       (!r->max_driver || c->driver_version < r->max_driver);
}

/* DUET_VK_QUIRKS="no_int_dot,no_fp16_math" adds quirks by name: for
 * trying a workaround on a device the table does not know yet, and for
 * testing the fallback paths on any device. */
static uint32_t env_quirks(void)
{
	const char *e = getenv("DUET_VK_QUIRKS");
	uint32_t q = 0;
	char buf[256];
	for (uint32_t bit = 1; e && bit <= DUET_VK_QUIRK_SLOW_DISPATCH; bit <<= 1) {
		const char *name = duet_vk_quirk_names(bit, buf, sizeof buf);
		const char *hit = strstr(e, name);
		size_t n = strlen(name);
		if (hit && (hit == e || hit[-1] == ',') &&
		    (hit[n] == 0 || hit[n] == ','))
			q |= bit;
	}
	return q;
}

void duet_vk_apply_quirks(duet_vk_caps *c)
{
	for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
		if (row_matches(&table[i], c))
			c->quirks |= table[i].flags;
	c->quirks |= env_quirks();
	if (c->quirks & DUET_VK_QUIRK_SMALL_ALLOC && c->max_alloc > (1ull << 30))
		c->max_alloc = 1ull << 30;
	if (c->quirks & DUET_VK_QUIRK_NO_INT_DOT)
		c->int_dot = false;
	if (c->quirks & DUET_VK_QUIRK_NO_FP16_MATH)
		c->fp16 = false;
	if (c->quirks & DUET_VK_QUIRK_NO_SUBGROUP_ARITH) {
		c->subgroup_arith = false;
		c->variant = DUET_VK_VARIANT_CPU;
	}
	if (c->quirks & DUET_VK_QUIRK_SLOW_DISPATCH)
		c->variant = DUET_VK_VARIANT_CPU;
}

const char *duet_vk_quirk_reason(const duet_vk_caps *c, uint32_t flag)
{
	for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
		if ((table[i].flags & flag) && row_matches(&table[i], c))
			return table[i].reason;
	return NULL;
}

const char *duet_vk_quirk_names(uint32_t q, char *buf, size_t cap)
{
	static const char *const names[] = {
		"no_fp16_math", "no_subgroup_arith", "no_int_dot", "small_alloc",
		"slow_dispatch",
	};
	size_t len = 0;
	buf[0] = 0;
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (q & (1u << i)) {
			int w = snprintf(buf + len, cap - len, "%s%s",
					 len ? "," : "", names[i]);
			if (w < 0 || (size_t)w >= cap - len)
				break;
			len += (size_t)w;
		}
	return buf;
}
