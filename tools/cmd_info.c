/* duet info: the Vulkan devices this machine offers, what the probe found
 * on each, the quirks applied (with their reasons) and the kernel family
 * each would get. */
#include <string.h>

#include "cli.h"
#include "io.h"
#include "shim.h"
#include "simd.h"

#define CMD "info"

/* VK_MAKE_API_VERSION fields, decoded here so no Vulkan header is needed */
#define VMAJ(v) (((v) >> 22) & 0x7fu)
#define VMIN(v) (((v) >> 12) & 0x3ffu)
#define VPAT(v) ((v) & 0xfffu)

static const char usage_text[] =
	"usage: duet info [--json]\n"
	"  Lists Vulkan devices: capabilities, quirks applied, kernel family;\n"
	"  the CPU backend's SIMD kernels (avx2, neon or none; DUET_CPU_SIMD=0\n"
	"  turns them off); and the weight-file readers this process may use.\n";

static void io_text(const duet_io_probe_result *p)
{
	printf("weight readers (default %s):\n", duet_io_kind_name(p->pick));
	for (int k = DUET_IO_URING; k <= DUET_IO_MMAP; k++)
		printf("  %-6s %s\n", duet_io_kind_name((duet_io_kind)k),
		       p->why_not[k] ? p->why_not[k] : "yes");
}

static void io_json(const duet_io_probe_result *p)
{
	printf(", \"io\": {\"default\": \"%s\"", duet_io_kind_name(p->pick));
	for (int k = DUET_IO_URING; k <= DUET_IO_MMAP; k++) {
		printf(", \"%s\": ", duet_io_kind_name((duet_io_kind)k));
		if (p->why_not[k])
			json_str(stdout, p->why_not[k], strlen(p->why_not[k]));
		else
			printf("null");
	}
	printf("}");
}

static void caps_text(const duet_vk_caps *c, uint32_t i, bool chosen)
{
	char q[256];
	printf("device %u%s: %s\n", i, chosen ? " (default)" : "", c->name);
	printf("  type %s, Vulkan %u.%u.%u, driver %s (%s), vendor 0x%04x "
	       "device 0x%04x\n", duet_vk_device_type_name(c->type),
	       VMAJ(c->api_version),
	       VMIN(c->api_version),
	       VPAT(c->api_version),
	       c->driver_name[0] ? c->driver_name : "?", c->driver_info,
	       c->vendor_id, c->device_id);
	printf("  fp16 %s, int8 %s, fp64 %s, 16-bit storage %s, 8-bit storage %s, "
	       "int dot %s\n", c->fp16 ? "yes" : "no", c->int8 ? "yes" : "no",
	       c->float64 ? "yes" : "no", c->storage16 ? "yes" : "no",
	       c->storage8 ? "yes" : "no", c->int_dot ? "yes" : "no");
	printf("  subgroup size %u (arithmetic %s), workgroup up to %u, shared "
	       "memory %u KiB\n", c->subgroup_size, c->subgroup_arith ? "yes" : "no",
	       c->max_wg_invocations, c->max_shared_bytes >> 10);
	printf("  storage buffer range %llu MiB, texel buffer range %llu MiB, "
	       "allocation cap %llu MiB, device-local %llu MiB%s\n",
	       (unsigned long long)(c->max_storage_range >> 20),
	       (unsigned long long)(c->max_texel_bytes >> 20),
	       (unsigned long long)(c->max_alloc >> 20),
	       (unsigned long long)(c->device_local_bytes >> 20),
	       c->uma ? " (host-visible: unified memory)" : "");
	printf("  timeline semaphores %s, timestamps %s, external host memory %s\n",
	       c->timeline ? "yes" : "no", c->timestamps ? "yes" : "no",
	       c->host_memory ? "yes" : "no");
	printf("  quirks: %s\n", c->quirks ? duet_vk_quirk_names(c->quirks, q, sizeof q)
					   : "none");
	for (uint32_t bit = 1; bit && bit <= DUET_VK_QUIRK_SLOW_DISPATCH; bit <<= 1)
		if (c->quirks & bit) {
			const char *why = duet_vk_quirk_reason(c, bit);
			printf("    %s: %s\n", duet_vk_quirk_names(bit, q, sizeof q),
			       why ? why : "set by DUET_VK_QUIRKS");
		}
	printf("  kernels: %s\n", duet_vk_variant_name(c->variant));
}

static void caps_json(const duet_vk_caps *c, uint32_t i, bool chosen, bool last)
{
	char q[256];
	printf("  {\"index\": %u, \"default\": %s, \"name\": ", i,
	       chosen ? "true" : "false");
	json_str(stdout, c->name, strlen(c->name));
	printf(", \"type\": \"%s\", \"api_version\": \"%u.%u.%u\", \"driver\": ",
	       duet_vk_device_type_name(c->type), VMAJ(c->api_version),
	       VMIN(c->api_version), VPAT(c->api_version));
	json_str(stdout, c->driver_name, strlen(c->driver_name));
	printf(", \"driver_info\": ");
	json_str(stdout, c->driver_info, strlen(c->driver_info));
	printf(", \"vendor_id\": %u, \"device_id\": %u, \"fp16\": %s, \"int8\": %s, "
	       "\"fp64\": %s, \"storage16\": %s, \"storage8\": %s, \"int_dot\": %s, "
	       "\"subgroup_size\": %u, \"subgroup_arith\": %s, "
	       "\"max_storage_range\": %llu, \"max_texel_bytes\": %llu, "
	       "\"max_alloc\": %llu, \"device_local_bytes\": %llu, \"uma\": %s, "
	       "\"timeline\": %s, \"timestamps\": %s, \"host_memory\": %s, "
	       "\"quirks\": [", c->vendor_id, c->device_id,
	       c->fp16 ? "true" : "false", c->int8 ? "true" : "false",
	       c->float64 ? "true" : "false", c->storage16 ? "true" : "false",
	       c->storage8 ? "true" : "false", c->int_dot ? "true" : "false",
	       c->subgroup_size, c->subgroup_arith ? "true" : "false",
	       (unsigned long long)c->max_storage_range,
	       (unsigned long long)c->max_texel_bytes,
	       (unsigned long long)c->max_alloc,
	       (unsigned long long)c->device_local_bytes, c->uma ? "true" : "false",
	       c->timeline ? "true" : "false", c->timestamps ? "true" : "false",
	       c->host_memory ? "true" : "false");
	bool first = true;
	for (uint32_t bit = 1; bit && bit <= DUET_VK_QUIRK_SLOW_DISPATCH; bit <<= 1)
		if (c->quirks & bit) {
			const char *why = duet_vk_quirk_reason(c, bit);
			const char *name = duet_vk_quirk_names(bit, q, sizeof q);
			printf("%s{\"name\": \"%s\", \"reason\": ", first ? "" : ", ", name);
			why = why ? why : "set by DUET_VK_QUIRKS";
			json_str(stdout, why, strlen(why));
			printf("}");
			first = false;
		}
	printf("], \"kernels\": \"%s\"}%s\n", duet_vk_variant_name(c->variant),
	       last ? "" : ",");
}

int cmd_info(int argc, char **argv)
{
	bool json = false;
	for (int i = 1; i < argc; i++) {
		if (cli_is(argv[i], "--json", NULL)) {
			json = true;
		} else if (cli_is(argv[i], "-h", "--help")) {
			fputs(usage_text, stdout);
			return CLI_OK;
		} else {
			cli_error(CMD, CLI_USAGE, "unknown option '%s'", argv[i]);
			fputs(usage_text, stderr);
			return CLI_USAGE;
		}
	}
	duet_io_probe_result io;
	duet_io_probe(&io);
	duet_vk *vk = NULL;
	duet_status s = duet_vk_create(NULL, &vk);
	uint32_t n = s == DUET_OK ? duet_vk_device_count(vk) : 0;
	int chosen = n ? duet_vk_pick_device(vk, -1) : -1;
	const char *why = s != DUET_OK ? duet_last_error()
			  : n == 0 ? "no Vulkan 1.1 device with a compute queue" : NULL;
	if (json) {
		printf("{\"devices\": [\n");
		for (uint32_t i = 0; i < n; i++)
			caps_json(duet_vk_device_caps(vk, i), i, (int)i == chosen,
				  i + 1 == n);
		printf("], \"default\": %d, \"error\": ", chosen);
		if (why)
			json_str(stdout, why, strlen(why));
		else
			printf("null");
		printf(", \"cpu_simd\": \"%s\"", duet_cpu_simd());
		io_json(&io);
		printf("}\n");
	} else {
		if (why)
			printf("no Vulkan device: %s\nduet runs on the CPU backend.\n", why);
		for (uint32_t i = 0; i < n && !why; i++)
			caps_text(duet_vk_device_caps(vk, i), i, (int)i == chosen);
		const char *simd = duet_cpu_simd();
		if (strcmp(simd, "none") == 0)
			printf("cpu backend: scalar kernels\n");
		else
			printf("cpu backend: %s kernels\n", simd);
		io_text(&io);
	}
	duet_vk_destroy(vk);
	return CLI_OK;
}
