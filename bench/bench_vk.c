/* Matrix kernels on the Vulkan device alone (GPU time from timestamps,
 * median of runs): weights per second for the decode (1 token) and
 * prefill (64 tokens) paths of every weight type, as JSON lines.
 *   duet-bench-vk [N_IN N_ROWS] [--kernels cpu|gpu] [-r REPS] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duet/duet.h"
#include "exec_vk.h"
#include "quant.h"
#include "shim.h"

int main(int argc, char **argv)
{
	uint32_t n_in = 4096, n_rows = 4096, reps = 5;
	int variant = -1;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--kernels") && i + 1 < argc)
			variant = !strcmp(argv[++i], "gpu");
		else if (!strcmp(argv[i], "-r") && i + 1 < argc)
			reps = (uint32_t)atoi(argv[++i]);
		else if (i + 1 < argc && atoi(argv[i]) > 0) {
			n_in = (uint32_t)atoi(argv[i]);
			n_rows = (uint32_t)atoi(argv[++i]);
		} else {
			fprintf(stderr, "usage: duet-bench-vk [N_IN N_ROWS] "
				"[--kernels cpu|gpu] [-r REPS]\n");
			return 2;
		}
	}
	duet_vk *vk;
	duet_vk_device *d;
	duet_vk_device_options o = { .variant_set = variant >= 0,
				     .variant = variant == 1 ? DUET_VK_VARIANT_GPU
							    : DUET_VK_VARIANT_CPU };
	if (duet_vk_create(NULL, &vk) != DUET_OK ||
	    duet_vk_device_create(vk, (uint32_t)duet_vk_pick_device(vk, -1), &o,
				  &d) != DUET_OK) {
		fprintf(stderr, "duet-bench-vk: %s\n", duet_last_error());
		return 1;
	}
	const duet_vk_caps *c = duet_vk_device_get_caps(d);
	static const duet_type types[] = {
		DUET_TYPE_F32, DUET_TYPE_F16, DUET_TYPE_BF16, DUET_TYPE_Q8_0,
		DUET_TYPE_Q4_0, DUET_TYPE_Q4_1, DUET_TYPE_Q5_0, DUET_TYPE_Q5_1,
		DUET_TYPE_Q4_K, DUET_TYPE_Q5_K, DUET_TYPE_Q6_K,
	};
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
		double us1, us64;
		if (duet_vk_bench_matmul(d, types[i], n_in, n_rows, 1, reps, &us1) ||
		    duet_vk_bench_matmul(d, types[i], n_in, n_rows, 64, reps, &us64)) {
			fprintf(stderr, "duet-bench-vk: %s\n", duet_last_error());
			return 1;
		}
		double w = (double)n_in * n_rows;
		printf("{\"device\": \"%s\", \"kernels\": \"%s\", \"type\": \"%s\", "
		       "\"n_in\": %u, \"n_rows\": %u, \"decode_us\": %.1f, "
		       "\"decode_gweights_s\": %.2f, \"prefill64_us\": %.1f, "
		       "\"prefill_gmac_s\": %.2f}\n", c->name,
		       duet_vk_variant_name(c->variant), duet_type_name(types[i]),
		       n_in, n_rows, us1, w / us1 / 1e3, us64, 64 * w / us64 / 1e3);
		fflush(stdout);
	}
	duet_vk_device_destroy(d);
	duet_vk_destroy(vk);
	return 0;
}
