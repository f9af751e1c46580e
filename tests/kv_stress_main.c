/* The KV arbiter's 8 threads x 1,000 random operations outside Criterion
 * (whose runner cannot start under ThreadSanitizer), for tools/test.sh's
 * TSan step: exits 1 on a wrong row read back or pages not conserved. */
#include <stdio.h>

#include "kv_stress.h"

int main(void)
{
	/* 40 blocks of 4 pages of 8 positions */
	duet_kv_pool_opts o = { .pool_bytes = 160 * 1024, .page_bytes = 1024,
				.swap_gbps = 0.0015 };
	duet_kv_model km = { .n_layer = 2, .n_embd_kv = 64, .row_bytes = 128 };
	duet_kv_pool *p;
	uint32_t m;
	if (duet_kv_pool_create(&o, &p) != DUET_OK || duet_kv_pool_add_model(p, &km, &m) != DUET_OK) {
		fprintf(stderr, "kv_stress: %s\n", duet_last_error());
		return 1;
	}
	int failures = kv_stress(p, m, 8, 1000);
	duet_kv_stats st;
	duet_kv_pool_stats(p, &st);
	printf("kv_stress: %d wrong rows; pages %u used + %u free of %u; %llu preemptions, "
	       "%llu pages swapped, %llu recomputes, %llu refused\n", failures,
	       st.pages_used, st.pages_free, st.pages_total,
	       (unsigned long long)st.preemptions, (unsigned long long)st.swaps,
	       (unsigned long long)st.recomputes, (unsigned long long)st.refused);
	bool ok = failures == 0 && st.pages_used == 0 && st.pages_free == st.pages_total &&
		  st.preemptions > 0;
	duet_kv_pool_destroy(p);
	return ok ? 0 : 1;
}
