/* Soak: many sessions opening, generating and closing for a long time
 * under a tight KV budget, through the public API alone. Worker threads
 * loop: open a session (random mode, priority, context size, sampling),
 * generate from a random prompt a random number of tokens, sometimes
 * stopping early from the callback, close. The main thread cancels a
 * random live session now and then. Prints one JSON object; the exit
 * status is 1 when anything went wrong:
 *   - an error other than the expected ones (canceled; DUET_E_AGAIN or
 *     DUET_E_NOMEM from a pool that is short even after preemption);
 *   - KV pages not conserved (used + free != total) or still used after
 *     every session closed;
 *   - more than 256 KiB of host memory still allocated after the runtime
 *     is destroyed, against the same point after a first runtime (glibc's
 *     mallinfo2; lavapipe keeps some tens of KB of its own after
 *     threads used it; LeakSanitizer names every block in an ASan
 *     build, tools/test.sh);
 *   - resident memory that grew by more than --max-rss-growth percent
 *     between the end of the warm-up (the first quarter of the time) and
 *     the end.
 *
 *   duet-bench-soak -m LLM [-md SLM] [--seconds 600] [--threads 4]
 *                   [--kv-pool BYTES] [--backend cpu|vulkan] [--seed N]
 *                   [--max-rss-growth 10]
 *
 * tools/test.sh runs it for DUET_SOAK_SECONDS when that is set (the long
 * run); the default test run soaks for a few seconds. */
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <duet/duet.h>

#define MAX_THREADS 32

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rss_kb(void)
{
	unsigned long size = 0, res = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (f) {
		if (fscanf(f, "%lu %lu", &size, &res) != 2)
			res = 0;
		fclose(f);
	}
	return (uint64_t)res * (uint64_t)sysconf(_SC_PAGESIZE) / 1024;
}

static uint64_t heap_bytes(void)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
	struct mallinfo2 mi = mallinfo2();
	return mi.uordblks + mi.hblkhd;
#else
	return 0;
#endif
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

typedef struct shared {
	duet_runtime *rt;
	bool has_slm;
	double deadline;
	pthread_mutex_t mu;           /* guards live[] */
	duet_session *live[MAX_THREADS];
	atomic_ullong sessions, tokens, ok, canceled, refused, errors;
	char first_error[256];         /* under mu */
} shared;

typedef struct worker {
	shared *sh;
	int id;
	uint64_t rng;
	uint32_t stop_after;           /* 0: run to max_tokens */
	uint32_t got;
} worker;

static bool on_token(void *user, int32_t token, const char *text, size_t len,
		     duet_source src)
{
	worker *w = user;
	(void)token, (void)text, (void)len, (void)src;
	w->got++;
	return !w->stop_after || w->got < w->stop_after;
}

static const char *const texts[] = {
	"It is a truth universally acknowledged, that a single man in possession "
	"of a good fortune, must be in want of a wife.",
	"Emma Woodhouse, handsome, clever, and rich, with a comfortable home and "
	"happy disposition, seemed to unite some of the best blessings of existence;",
	"The family of Dashwood had long been settled in Sussex.",
	"Sir Walter Elliot, of Kellynch Hall, in Somersetshire, was a man who, for "
	"his own amusement, never took up any book but the Baronetage;",
};

static void record(shared *sh, duet_status s, bool canceled)
{
	if (s == DUET_OK) {
		atomic_fetch_add(&sh->ok, 1);
	} else if (s == DUET_E_CANCELED && canceled) {
		atomic_fetch_add(&sh->canceled, 1);
	} else if (s == DUET_E_AGAIN || s == DUET_E_NOMEM) {
		atomic_fetch_add(&sh->refused, 1);
	} else {
		atomic_fetch_add(&sh->errors, 1);
		pthread_mutex_lock(&sh->mu);
		if (!sh->first_error[0])
			snprintf(sh->first_error, sizeof sh->first_error, "status %d: %s",
				 s, duet_last_error());
		pthread_mutex_unlock(&sh->mu);
	}
}

static void *work(void *arg)
{
	worker *w = arg;
	shared *sh = w->sh;
	while (now_s() < sh->deadline) {
		uint64_t r = rnd(&w->rng);
		static const duet_mode modes[] = { DUET_MODE_LLM, DUET_MODE_SLM,
						   DUET_MODE_SPEC, DUET_MODE_CASCADE };
		static const uint32_t ctxs[] = { 48, 96, 160, 256 };
		duet_session_options so = {
			.mode = sh->has_slm ? modes[r % 4] : DUET_MODE_LLM,
			.priority = (duet_priority)(r / 4 % 3),
			.n_ctx = ctxs[r / 12 % 4],
			.sampling = { .temperature = r / 48 % 2 ? 0.8f : 0.0f,
				      .top_k = 40, .seed = (uint32_t)r },
		};
		duet_session *s;
		duet_status st = duet_session_open(sh->rt, &so, &s);
		if (st != DUET_OK) {
			record(sh, st, false);
			continue;
		}
		atomic_fetch_add(&sh->sessions, 1);
		pthread_mutex_lock(&sh->mu);
		sh->live[w->id] = s;
		pthread_mutex_unlock(&sh->mu);
		r = rnd(&w->rng);
		const char *text = texts[r % 4];
		size_t len = strlen(text);
		char prompt[256];
		size_t cut = len / 4 + (size_t)(r / 4 % (len - len / 4 + 1));
		memcpy(prompt, text, cut);
		prompt[cut] = 0;
		w->got = 0;
		w->stop_after = r / 1024 % 5 == 0 ? 1 + (uint32_t)(r / 8192 % 8) : 0;
		uint32_t max_tokens = 1 + (uint32_t)(r / 65536 % 128);
		if (r / (1u << 22) % 16 == 0)
			duet_session_cancel(s); /* canceled before it starts */
		st = duet_session_generate(s, prompt, max_tokens, on_token, w);
		atomic_fetch_add(&sh->tokens, w->got);
		pthread_mutex_lock(&sh->mu);
		sh->live[w->id] = NULL;
		pthread_mutex_unlock(&sh->mu);
		record(sh, st, true);
		duet_session_close(s);
	}
	return NULL;
}

static void usage(void)
{
	fprintf(stderr, "usage: duet-bench-soak -m LLM [-md SLM] [--seconds 600] "
		"[--threads 4] [--kv-pool BYTES] [--backend cpu|vulkan] [--seed N] "
		"[--max-rss-growth PCT]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *llm = NULL, *slm = NULL;
	double seconds = 600, max_growth = 10;
	int threads = 4;
	uint64_t pool = 0, seed = 1;
	duet_backend backend = DUET_BACKEND_AUTO;
	for (int i = 1; i < argc; i += 2) { /* option, value */
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v)
			usage();
		if (!strcmp(a, "-m"))
			llm = v;
		else if (!strcmp(a, "-md"))
			slm = v;
		else if (!strcmp(a, "--seconds"))
			seconds = atof(v);
		else if (!strcmp(a, "--threads"))
			threads = atoi(v);
		else if (!strcmp(a, "--kv-pool"))
			pool = strtoull(v, NULL, 10);
		else if (!strcmp(a, "--seed"))
			seed = strtoull(v, NULL, 10);
		else if (!strcmp(a, "--max-rss-growth"))
			max_growth = atof(v);
		else if (!strcmp(a, "--backend") && !strcmp(v, "cpu"))
			backend = DUET_BACKEND_CPU;
		else if (!strcmp(a, "--backend") && !strcmp(v, "vulkan"))
			backend = DUET_BACKEND_VULKAN;
		else
			usage();
	}
	if (!llm || !(seconds > 0) || threads < 1 || threads > MAX_THREADS)
		usage();
	duet_runtime_options ro = { .llm_path = llm, .slm_path = slm, .backend = backend,
				    .kv_pool_bytes = pool, .n_threads = 1 };
	/* a first runtime, created and destroyed before the count starts:
	 * what the Vulkan loader and driver keep for the process (~700 KB
	 * on lavapipe) is not a leak of ours */
	duet_runtime *probe;
	if (duet_runtime_create(&ro, &probe) != DUET_OK) {
		fprintf(stderr, "duet-bench-soak: %s\n", duet_last_error());
		return 1;
	}
	duet_model_info mi;
	duet_model_get_info(duet_runtime_model(probe, false), &mi);
	duet_runtime_destroy(probe);
	if (!pool) {
		/* tight: room for one session's full context of the LLM (F16
		 * K and V per position and layer) */
		uint64_t kv_dim = (uint64_t)mi.n_embd / mi.n_head * mi.n_head_kv;
		ro.kv_pool_bytes = pool = 256ull * mi.n_layer * kv_dim * 2 * 2;
	}
	uint64_t heap0 = heap_bytes();
	shared sh = { .has_slm = slm != NULL };
	pthread_mutex_init(&sh.mu, NULL);
	if (duet_runtime_create(&ro, &sh.rt) != DUET_OK) {
		fprintf(stderr, "duet-bench-soak: %s\n", duet_last_error());
		return 1;
	}
	double t0 = now_s();
	sh.deadline = t0 + seconds;
	worker ws[MAX_THREADS];
	pthread_t th[MAX_THREADS];
	int started = 0;
	for (int i = 0; i < threads; i++) {
		ws[i] = (worker){ .sh = &sh, .id = i, .rng = seed * 0x9e3779b97f4a7c15ull + (uint64_t)i + 1 };
		if (pthread_create(&th[i], NULL, work, &ws[i]) == 0)
			started++;
		else
			break;
	}
	uint64_t rss_warm = 0, rss_peak = 0, cancels = 0, rng = seed + 77;
	while (now_s() < sh.deadline) {
		struct timespec ts = { 0, 50 * 1000 * 1000 };
		nanosleep(&ts, NULL);
		uint64_t r = rnd(&rng), rss = rss_kb();
		rss_peak = rss > rss_peak ? rss : rss_peak;
		if (!rss_warm && now_s() - t0 >= seconds / 4)
			rss_warm = rss;
		if (r % 16 == 0) { /* cancel a live session from another thread */
			pthread_mutex_lock(&sh.mu);
			duet_session *s = sh.live[r / 16 % (uint64_t)threads];
			if (s) {
				duet_session_cancel(s);
				cancels++;
			}
			pthread_mutex_unlock(&sh.mu);
		}
	}
	uint64_t rss_end = rss_kb();
	for (int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	double elapsed = now_s() - t0;
	duet_runtime_stats rs;
	duet_runtime_get_stats(sh.rt, &rs);
	const duet_kv_stats *kv = &rs.kv;
	bool conserved = kv->pages_used + kv->pages_free == kv->pages_total;
	duet_runtime_destroy(sh.rt);
	pthread_mutex_destroy(&sh.mu);
	uint64_t heap1 = heap_bytes();
	int64_t heap_left = (int64_t)heap1 - (int64_t)heap0;
	if (!rss_warm)
		rss_warm = rss_end;
	double growth = rss_warm ? 100.0 * ((double)rss_end - (double)rss_warm) / (double)rss_warm : 0;
	bool fail = sh.errors || !conserved || kv->pages_used || heap_left > 256 * 1024 ||
		    growth > max_growth || started < threads;
	printf("{\"seconds\": %.1f, \"threads\": %d, \"kv_pool_bytes\": %llu, "
	       "\"sessions\": %llu, \"tokens\": %llu, \"ok\": %llu, \"canceled\": %llu, "
	       "\"cross_thread_cancels\": %llu, \"refused\": %llu, \"errors\": %llu, "
	       "\"first_error\": \"",
	       elapsed, threads, (unsigned long long)pool,
	       (unsigned long long)sh.sessions, (unsigned long long)sh.tokens,
	       (unsigned long long)sh.ok, (unsigned long long)sh.canceled,
	       (unsigned long long)cancels, (unsigned long long)sh.refused,
	       (unsigned long long)sh.errors);
	for (const char *p = sh.first_error; *p; p++)
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if ((unsigned char)*p >= 0x20)
			putchar(*p);
	printf("\", \"kv_pages_total\": %u, \"kv_pages_used_end\": %u, "
	       "\"kv_conserved\": %s, \"preemptions\": %llu, \"swaps\": %llu, "
	       "\"recomputes\": %llu, \"kv_refused\": %llu, \"rss_warm_kb\": %llu, "
	       "\"rss_end_kb\": %llu, \"rss_peak_kb\": %llu, \"rss_growth_pct\": %.2f, "
	       "\"heap_left_bytes\": %lld, \"pass\": %s}\n",
	       kv->pages_total, kv->pages_used, conserved ? "true" : "false",
	       (unsigned long long)kv->preemptions, (unsigned long long)kv->swaps,
	       (unsigned long long)kv->recomputes, (unsigned long long)kv->refused,
	       (unsigned long long)rss_warm, (unsigned long long)rss_end,
	       (unsigned long long)rss_peak, growth, (long long)heap_left,
	       fail ? "false" : "true");
	return fail ? 1 : 0;
}
