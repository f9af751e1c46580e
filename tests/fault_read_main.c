/* Fault injection at every file read (runtime/fault.h): counts the reads of
 * one whole scenario, then runs it again once per read with exactly that
 * one failing as an I/O error. Every run must end with an error status
 * that carries a message or, where the failure had a fallback (the
 * pipeline cache is only an optimisation), with the same tokens as the
 * clean run; none may crash. Leaks are left to LeakSanitizer at exit
 * (tools/test.sh runs this in the ASan build too).
 *
 *   fault_read cpu LLM.gguf      the model opened whole and streamed under a
 *                                memory budget through each reader (io_uring,
 *                                AIO, pread, mmap), CPU contexts
 *   fault_read vulkan LLM.gguf   the model streamed into a Vulkan context on
 *                                one device opened beforehand (opening it
 *                                is slow on lavapipe), and opening a
 *                                device whose pipeline cache cannot be
 *                                read; exit 77, a visible skip, where no
 *                                Vulkan device exists
 * STRIDE > 1 fails every STRIDE-th read only (the ASan build's run).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duet/duet.h"
#include "fault.h"
#include "fault_verdict.h"

enum { N_OUT = 64 };

typedef struct outcome {
	duet_status s;
	int32_t ids[N_OUT];
	uint32_t n;
} outcome;

static duet_device *dev; /* vulkan: opened once, outside the scenario */

/* Loads path (streamed through reader io when io is not NULL), evaluates
 * a short prompt and 2 greedy tokens on backend b, appending the tokens to o. */
static duet_status generate(const char *path, const char *io, duet_backend b,
			    outcome *o)
{
	duet_model *m = NULL;
	duet_context *c = NULL;
	duet_model_options mo = { .mem_budget_pct = io ? 60 : 0, .io = io };
	duet_context_options co = { .n_ctx = 32, .n_batch = 8, .n_threads = 1,
				    .backend = b, .device = dev };
	int32_t prompt[16], tok;
	size_t n;
	duet_status s = duet_model_load(path, &mo, &m);
	if (s == DUET_OK)
		s = duet_tokenize(m, "It is", 5, true, false, prompt, 16, &n);
	if (s == DUET_OK)
		s = duet_context_create(m, &co, &c);
	if (s == DUET_OK)
		s = duet_context_eval_greedy(c, prompt, (uint32_t)n, &tok);
	for (int i = 0; s == DUET_OK && i < 2; i++) {
		if (o->n < N_OUT)
			o->ids[o->n++] = tok;
		s = duet_context_eval_greedy(c, &tok, 1, &tok);
	}
	duet_context_destroy(c);
	duet_model_destroy(m);
	return s;
}

static const char *const readers[] = { "uring", "aio", "pread", "mmap" };
enum { N_READERS = sizeof readers / sizeof *readers };
static bool lacks[N_READERS]; /* the clean run found the reader unsupported */

static void scenario(bool vulkan, bool clean, const char *path, outcome *o)
{
	memset(o, 0, sizeof *o);
	if (vulkan) {
		o->s = generate(path, "pread", DUET_BACKEND_VULKAN, o);
		return;
	}
	o->s = generate(path, NULL, DUET_BACKEND_CPU, o);
	for (int i = 0; o->s == DUET_OK && i < N_READERS; i++) {
		if (lacks[i])
			continue;
		o->s = generate(path, readers[i], DUET_BACKEND_CPU, o);
		if (clean && o->s == DUET_E_UNSUPPORTED) { /* no io_uring here, say */
			printf("fault_read: reader %s: %s\n", readers[i], duet_last_error());
			lacks[i] = true;
			o->s = DUET_OK;
		}
	}
}

int main(int argc, char **argv)
{
	if (argc < 3 || (strcmp(argv[1], "cpu") && strcmp(argv[1], "vulkan"))) {
		fprintf(stderr, "usage: fault_read cpu|vulkan MODEL.gguf [STRIDE]\n");
		return 2;
	}
	bool vulkan = strcmp(argv[1], "vulkan") == 0;
	uint64_t stride = argc > 3 ? strtoull(argv[3], NULL, 10) : 1;
	stride = stride ? stride : 1;
	if (vulkan) {
		/* a cache file first (a run's pipelines, saved at close), then
		 * one open whose cache read fails: the cache is an
		 * optimisation, the device opens without it */
		duet_device_info info;
		if (duet_device_open(NULL, &dev) != DUET_OK) {
			printf("fault_read: SKIPPED, no Vulkan device (%s)\n", duet_last_error());
			return 77;
		}
		outcome warm = { 0 };
		duet_status w = generate(argv[2], "pread", DUET_BACKEND_VULKAN, &warm);
		duet_device_close(dev); /* saves the pipelines it made */
		if (w != DUET_OK) {
			fprintf(stderr, "fault_read: the clean run failed: %s\n", duet_last_error());
			return 1;
		}
		duet_fault_read_arm(1);
		duet_status s = duet_device_open(NULL, &dev);
		uint64_t n = duet_fault_read_count();
		duet_fault_read_arm(0);
		if (s != DUET_OK || n == 0) {
			fprintf(stderr, "fault_read: with its pipeline cache unreadable "
				"(%llu reads), opening the device: %s\n",
				(unsigned long long)n, s ? duet_last_error() : "no cache read");
			return 1;
		}
		duet_device_get_info(dev, &info);
		printf("fault_read: device %s opened with its pipeline cache unreadable\n",
		       info.name);
	}
	outcome clean, o;
	duet_fault_read_arm(0);
	scenario(vulkan, true, argv[2], &clean);
	uint64_t total = duet_fault_read_count();
	if (clean.s != DUET_OK) {
		fprintf(stderr, "fault_read: the clean run failed: %s\n", duet_last_error());
		return 1;
	}
	char prog[32];
	snprintf(prog, sizeof prog, "fault_read %s", argv[1]);
	fault_tally t = { .prog = prog, .what = "file read" };
	for (uint64_t k = 1; k <= total; k += stride) {
		duet_fault_read_arm(k);
		scenario(vulkan, false, argv[2], &o);
		bool failed = duet_fault_read_count() >= k;
		duet_fault_read_arm(0);
		if (failed) /* else the run took another path and read less */
			fault_judge(&t, k, o.s, o.ids, o.n, clean.ids, clean.n);
	}
	duet_device_close(dev);
	return fault_report(&t, total, stride);
}
