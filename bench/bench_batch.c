/* Continuous batching, through the public API alone: S sessions of one
 * model generate at once on S threads, with their decode steps batched
 * (decode_batch = S) and, alternately in the same run, each alone
 * (decode_batch = 0); the total generation rate of both, their ratio
 * (medians over the repetitions) and how many steps a pass held. Prints
 * one JSON object.
 *
 *   duet-bench-batch -m MODEL [-s 4] [-n 64] [-r 5] [-t THREADS]
 *                    [--backend cpu|vulkan]
 *
 * The rate counts every session's generated tokens after its first (the
 * first comes with the prompt) over the time from the start of the first
 * decode step to the end of the last. Greedy, so both ways write the same
 * tokens. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <duet/duet.h>

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static const char *const prompts[] = {
	"It is a truth universally acknowledged",
	"Emma Woodhouse, handsome, clever, and rich",
	"The family of Dashwood had long been settled in Sussex.",
	"Sir Walter Elliot, of Kellynch Hall",
	"No one who had ever seen Catherine Morland",
	"About thirty years ago Miss Maria Ward",
	"She was not a woman of many words",
	"The evening passed quietly",
};
#define N_PROMPTS (sizeof prompts / sizeof prompts[0])

typedef struct run {
	duet_runtime *rt;
	const char *prompt;
	uint32_t n_gen;
	duet_status st;
	char err[512]; /* duet_last_error() of the session's thread */
	uint32_t tokens;
	double first_ms, end_ms; /* the first token's and the last's times */
} run;

static bool on_token(void *user, int32_t token, const char *text, size_t len,
		     duet_source src)
{
	run *r = user;
	(void)token, (void)text, (void)len, (void)src;
	double t = now_ms();
	if (r->tokens++ == 0)
		r->first_ms = t;
	r->end_ms = t;
	return true;
}

static void *session_main(void *arg)
{
	run *r = arg;
	duet_session_options so = { .mode = DUET_MODE_LLM, .n_ctx = 512, .ignore_eog = true };
	duet_session *s;
	r->st = duet_session_open(r->rt, &so, &s);
	if (r->st == DUET_OK) {
		r->st = duet_session_generate(s, r->prompt, r->n_gen, on_token, r);
		duet_session_close(s);
	}
	if (r->st != DUET_OK)
		snprintf(r->err, sizeof r->err, "%s", duet_last_error());
	return NULL;
}

/* One round: every session at once; the total rate, and the runtime's
 * pass counts. */
static int round_tps(duet_runtime_options *ro, uint32_t n_sess, uint32_t n_gen,
		     double *tps, duet_runtime_stats *st)
{
	duet_runtime *rt;
	if (duet_runtime_create(ro, &rt) != DUET_OK) {
		fprintf(stderr, "duet-bench-batch: %s\n", duet_last_error());
		return 1;
	}
	run r[64];
	pthread_t th[64];
	for (uint32_t i = 0; i < n_sess; i++) {
		r[i] = (run){ .rt = rt, .prompt = prompts[i % N_PROMPTS], .n_gen = n_gen };
		pthread_create(&th[i], NULL, session_main, &r[i]);
	}
	double t0 = 0, t1 = 0;
	uint64_t toks = 0;
	int bad = 0;
	for (uint32_t i = 0; i < n_sess; i++) {
		pthread_join(th[i], NULL);
		if (r[i].st != DUET_OK) {
			fprintf(stderr, "duet-bench-batch: session %u: %s\n", i, r[i].err);
			bad = 1;
		}
		if (r[i].tokens > 1)
			toks += r[i].tokens - 1;
		if (t0 == 0 || r[i].first_ms < t0)
			t0 = r[i].first_ms;
		if (r[i].end_ms > t1)
			t1 = r[i].end_ms;
	}
	duet_runtime_get_stats(rt, st);
	duet_runtime_destroy(rt);
	*tps = t1 > t0 ? (double)toks / ((t1 - t0) / 1e3) : 0;
	return bad;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v, uint32_t n)
{
	qsort(v, n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int usage(void)
{
	fprintf(stderr, "usage: duet-bench-batch -m MODEL [-s SESSIONS] [-n TOKENS] "
			"[-r REPS] [-t THREADS] [--backend cpu|vulkan]\n");
	return 2;
}

int main(int argc, char **argv)
{
	const char *model = NULL;
	uint32_t n_sess = 4, n_gen = 64, reps = 5, threads = 0;
	duet_backend be = DUET_BACKEND_CPU;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v)
			return usage();
		if (!strcmp(a, "-m"))
			model = v;
		else if (!strcmp(a, "-s"))
			n_sess = (uint32_t)atoi(v);
		else if (!strcmp(a, "-n"))
			n_gen = (uint32_t)atoi(v);
		else if (!strcmp(a, "-r"))
			reps = (uint32_t)atoi(v);
		else if (!strcmp(a, "-t"))
			threads = (uint32_t)atoi(v);
		else if (!strcmp(a, "--backend"))
			be = !strcmp(v, "vulkan") ? DUET_BACKEND_VULKAN : DUET_BACKEND_CPU;
		else
			return usage();
		i++;
	}
	if (!model || n_sess < 2 || n_sess > 64 || n_gen < 2 || reps < 1 || reps > 99) {
		fprintf(stderr, "duet-bench-batch: -m is required; -s 2..64, -n >= 2, "
				"-r 1..99\n");
		return usage();
	}
	double alone[99], batched[99], ratio[99], width = 0;
	for (uint32_t k = 0; k < reps; k++) {
		duet_runtime_stats st;
		duet_runtime_options ro = { .llm_path = model, .backend = be,
					    .n_threads = threads };
		if (round_tps(&ro, n_sess, n_gen, &alone[k], &st))
			return 1;
		ro.decode_batch = n_sess;
		if (round_tps(&ro, n_sess, n_gen, &batched[k], &st))
			return 1;
		ratio[k] = alone[k] > 0 ? batched[k] / alone[k] : 0;
		width += st.batch_passes ? (double)st.batch_steps / (double)st.batch_passes : 0;
	}
	printf("{\"model\": \"%s\", \"backend\": \"%s\", \"sessions\": %u, \"n_gen\": %u, "
	       "\"repetitions\": %u, \"alone_tps\": %.1f, \"batched_tps\": %.1f, "
	       "\"speedup\": %.3f, \"steps_per_pass\": %.2f}\n",
	       model, be == DUET_BACKEND_VULKAN ? "vulkan" : "cpu", n_sess, n_gen, reps,
	       median(alone, reps), median(batched, reps), median(ratio, reps),
	       width / reps);
	return 0;
}
