/* The executor options every model-running subcommand shares (--backend,
 * --device, --kernels, --validate) and opening the context they describe. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "clock.h"
#include "weights.h"

const char cli_backend_usage[] =
	"  --backend B             vulkan, cpu or auto (default: vulkan when a\n"
	"                          device exists, else cpu)\n"
	"  --device N              Vulkan device N as `duet info` lists it\n"
	"                          (default: DUET_DEVICE, else the best)\n"
	"  --kernels K             Vulkan kernel family: cpu or gpu (default:\n"
	"                          the device's; gpu = subgroups, shared memory)\n"
	"  --validate              run with the Khronos validation layer\n"
	"  --mem-budget B          bytes the weights may use (123M, 4G, 50%);\n"
	"                          layers beyond it are read from the file on\n"
	"                          every pass\n"
	"  --kv-pool B             the KV cache in pages of a shared pool of B\n"
	"                          bytes (K/M/G), on the Vulkan device in use\n"
	"  --kv-page B             the pool's page size: a multiple of 64 bytes\n"
	"                          (default 16K)\n"
	"  -ctk, --cache-type-k T  KV cache type: f16 (default), f32 or q8_0\n"
	"  -ctv, --cache-type-v T  (q8_0: 53% of f16's memory). K and V share\n"
	"                          one type: either option sets both, and\n"
	"                          different types for the two are an error\n"
	"  --backend-draft B       where the draft model (-md) runs: vulkan, cpu\n"
	"                          or auto (default: where -m runs); the CPU\n"
	"                          can beat a GPU at a tiny model's one-token\n"
	"                          steps\n"
	"  --io R                  reader for those layers: uring, aio, pread\n"
	"                          or mmap (default: the first that works)\n"
	"  --quiet                 no progress bar while weights load (it is\n"
	"                          drawn only when stderr is a terminal)\n";

/* The --kv-pool pool of the process's context (cli_context). */
static duet_kv_pool *cli_pool;

int cli_backend_option(const char *cmd, int argc, char **argv, int *i,
		       cli_backend *b)
{
	const char *a = argv[*i], *v;
	if (cli_is(a, "--validate", NULL)) {
		b->validate = true;
		return 1;
	}
	if (cli_is(a, "--quiet", NULL)) {
		b->quiet = true;
		return 1;
	}
	if (!cli_is(a, "--backend", NULL) && !cli_is(a, "--backend-draft", NULL) &&
	    !cli_is(a, "--device", NULL) &&
	    !cli_is(a, "--kernels", NULL) && !cli_is(a, "--mem-budget", NULL) &&
	    !cli_is(a, "--io", NULL) && !cli_is(a, "--kv-pool", NULL) &&
	    !cli_is(a, "--kv-page", NULL) &&
	    !cli_is(a, "-ctk", "--cache-type-k") && !cli_is(a, "-ctv", "--cache-type-v"))
		return 0;
	if (!cli_value(cmd, argc, argv, i, &v))
		return -1;
	if (cli_is(a, "-ctk", "--cache-type-k") || cli_is(a, "-ctv", "--cache-type-v")) {
		duet_kv_type t;
		bool is_k = cli_is(a, "-ctk", "--cache-type-k");
		if (!duet_kv_type_parse(v, &t)) {
			cli_error(cmd, CLI_USAGE, "unknown KV cache type '%s' for %s "
				  "(f16, f32 or q8_0)", v, a);
			return -1;
		}
		if ((is_k ? b->kv_v_given : b->kv_k_given) && t != b->kv_type) {
			cli_error(cmd, CLI_USAGE, "K and V caches of different types "
				  "(%s and %s): duet keeps both in one type; give the "
				  "same type to -ctk and -ctv", is_k ? v : duet_kv_type_name(b->kv_type),
				  is_k ? duet_kv_type_name(b->kv_type) : v);
			return -1;
		}
		*(is_k ? &b->kv_k_given : &b->kv_v_given) = true;
		b->kv_type = t;
		return 1;
	}
	if (cli_is(a, "--kv-page", NULL)) {
		uint32_t pct;
		uint64_t bytes;
		if (duet_weights_parse_budget(v, &bytes, &pct) && !pct && bytes &&
		    bytes % 64 == 0 && bytes <= (4u << 20)) {
			b->kv_page_bytes = (uint32_t)bytes;
			return 1;
		}
		cli_error(cmd, CLI_USAGE, "bad --kv-page '%s' (a multiple of 64 "
			  "bytes up to 4M, with K or M)", v);
		return -1;
	}
	if (cli_is(a, "--kv-pool", NULL)) {
		uint32_t pct;
		if (duet_weights_parse_budget(v, &b->kv_pool_bytes, &pct) && !pct)
			return 1;
		cli_error(cmd, CLI_USAGE, "bad --kv-pool '%s' (bytes, with K, M or G)", v);
		return -1;
	}
	if (cli_is(a, "--io", NULL)) {
		duet_io_kind k;
		if (!duet_io_kind_parse(v, &k) || k == DUET_IO_AUTO) {
			cli_error(cmd, CLI_USAGE, "unknown reader '%s' (uring, aio, "
				  "pread or mmap)", v);
			return -1;
		}
		b->mo.io = v;
		return 1;
	}
	if (cli_is(a, "--mem-budget", NULL)) {
		if (duet_weights_parse_budget(v, &b->mo.mem_budget, &b->mo.mem_budget_pct))
			return 1;
		cli_error(cmd, CLI_USAGE, "bad --mem-budget '%s' (bytes, with K, M "
			  "or G, or 1%%..100%%)", v);
		return -1;
	}
	if (cli_is(a, "--backend", NULL) || cli_is(a, "--backend-draft", NULL)) {
		duet_backend *be = cli_is(a, "--backend", NULL) ? &b->backend
								: &b->draft_backend;
		b->draft_backend_given |= be == &b->draft_backend;
		if (!strcmp(v, "cpu"))
			*be = DUET_BACKEND_CPU;
		else if (!strcmp(v, "vulkan"))
			*be = DUET_BACKEND_VULKAN;
		else if (!strcmp(v, "auto"))
			*be = DUET_BACKEND_AUTO;
		else {
			cli_error(cmd, CLI_USAGE, "unknown backend '%s' (vulkan, "
				  "cpu or auto)", v);
			return -1;
		}
		return 1;
	}
	if (cli_is(a, "--kernels", NULL)) {
		if (strcmp(v, "cpu") && strcmp(v, "gpu")) {
			cli_error(cmd, CLI_USAGE, "unknown kernel family '%s' "
				  "(cpu or gpu)", v);
			return -1;
		}
		b->variant = !strcmp(v, "cpu") ? 1 : 2;
		return 1;
	}
	uint32_t n;
	if (!cli_u32(cmd, a, v, 0, 1000, &n))
		return -1;
	b->device = n + 1;
	return 1;
}

typedef struct bar_state {
	double t0, last;
	bool drawn;
} bar_state;

/* One line on stderr, redrawn at most 10 times a second: percentage,
 * bytes, rate and time left; erased when the load is done. */
static void progress_bar(void *user, uint64_t done, uint64_t total)
{
	bar_state *b = user;
	double t = duet_now_s();
	if (done >= total) {
		if (b->drawn)
			fputs("\r\033[K", stderr);
		return;
	}
	if (t - b->last < 0.1)
		return;
	b->last = t;
	double frac = total ? (double)done / (double)total : 1.0, el = t - b->t0;
	double rate = el > 0 ? (double)done / el : 0;
	char bar[31];
	int fill = (int)(frac * 30.0);
	for (int i = 0; i < 30; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[30] = 0;
	fprintf(stderr, "\rloading weights %3.0f%% [%s] %.0f/%.0f MB, %.0f MB/s, %.1f s left ",
		100.0 * frac, bar, (double)done / 1e6, (double)total / 1e6, rate / 1e6,
		rate > 0 ? (double)(total - done) / rate : 0.0);
	b->drawn = true;
}

int cli_context(const char *cmd, duet_model *m, const cli_backend *b,
		duet_context_options *co, duet_device **dev, duet_context **ctx)
{
	*dev = NULL;
	*ctx = NULL;
	duet_status s = DUET_OK;
	if (b->backend != DUET_BACKEND_CPU) {
		duet_device_options o = { .device = b->device, .variant = b->variant,
					  .validation = b->validate,
					  .profile = b->profile };
		s = duet_device_open(&o, dev);
		if (s != DUET_OK && (b->backend == DUET_BACKEND_VULKAN || b->device ||
				     b->variant || b->validate))
			return cli_fail(cmd, s);
	}
	co->backend = *dev ? b->backend : DUET_BACKEND_CPU;
	co->device = *dev;
	co->kv_type = b->kv_type;
	if (b->kv_page_bytes && !b->kv_pool_bytes) {
		duet_device_close(*dev);
		*dev = NULL;
		return cli_error(cmd, CLI_USAGE, "--kv-page sizes the pages of a "
				 "--kv-pool; give --kv-pool too");
	}
	if (b->kv_pool_bytes) {
		duet_kv_pool_options po = { .pool_bytes = b->kv_pool_bytes,
					    .page_bytes = b->kv_page_bytes, .device = *dev };
		s = duet_kv_pool_create(&po, &cli_pool);
		if (s != DUET_OK) {
			duet_device_close(*dev);
			*dev = NULL;
			return cli_fail(cmd, s);
		}
		co->kv_pool = cli_pool;
	}
	bar_state bs = { duet_now_s(), 0, false };
	if (!b->quiet && isatty(2)) {
		co->progress = progress_bar;
		co->progress_user = &bs;
	}
	s = duet_context_create(m, co, ctx);
	co->progress = NULL; /* bs ends here */
	if (s != DUET_OK) {
		duet_kv_pool_destroy(cli_pool);
		cli_pool = NULL;
		duet_device_close(*dev);
		*dev = NULL;
		return cli_fail(cmd, s);
	}
	return CLI_OK;
}

int cli_context_close(const char *cmd, duet_context *ctx, duet_device *dev,
		      int rc)
{
	duet_context_destroy(ctx);
	duet_kv_pool_destroy(cli_pool);
	cli_pool = NULL;
	if (dev) {
		duet_device_info info;
		duet_device_get_info(dev, &info);
		duet_device_close(dev);
		if (info.validation_errors && rc == CLI_OK)
			rc = cli_error(cmd, CLI_FAIL, "%llu Vulkan validation "
				       "error(s)", (unsigned long long)
				       info.validation_errors);
	}
	return rc;
}

duet_status cli_draft_context(const cli_backend *b, const duet_context_options *co,
			      duet_context *ctx, duet_device *dev, const char *path,
			      duet_model **dm, duet_context **dctx)
{
	*dm = NULL;
	*dctx = NULL;
	duet_context_options dco = *co;
	dco.backend = b->draft_backend_given ? b->draft_backend : duet_context_backend(ctx);
	dco.device = dco.backend != DUET_BACKEND_CPU ? dev : NULL;
	dco.kv_pool = NULL;
	duet_status s = duet_model_load(path, &b->mo, dm);
	if (s == DUET_OK)
		s = duet_models_check_pair(duet_context_model(ctx), *dm);
	if (s == DUET_OK)
		s = duet_context_create(*dm, &dco, dctx);
	return s;
}

const char *cli_backend_desc(duet_context *ctx, char *buf, size_t cap)
{
	duet_device *dev = duet_context_device(ctx);
	if (!dev) {
		snprintf(buf, cap, "cpu");
		return buf;
	}
	duet_device_info info;
	duet_device_get_info(dev, &info);
	snprintf(buf, cap, "vulkan on %s, %s kernels", info.name, info.variant);
	return buf;
}
