/* Weights under a memory budget (runtime/weights): greedy output and
 * logits equal the fully resident run's bit for bit with budgets of 100%,
 * 50% and 25%, on the CPU and on Vulkan, and with every reader; what
 * streams and what was read is reported; budgets too small are clear
 * errors; a read fault fails the step, not the process. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "duet/duet.h"
#include "models.h"
#include "session.h"
#include "weights.h"

#define N_GEN 24

static char model[512];

/* 16 layers of about 0.6 MB against a 0.1 MB output head: 50% holds the
 * ring and some whole layers, 25% the head and the ring. */
static void make(void)
{
	duet_synth_options o = { .arch = "llama", .dim = 256, .layers = 16, .heads = 8,
				 .kv_heads = 4, .ff = 768, .vocab = 300, .type = "q8_0",
				 .seed = 7 };
	make_model(&o, "stream", model, sizeof model);
}

TestSuite(weights, .init = make);

/* Greedy ids of N_GEN tokens after a fixed prompt on backend b, the last
 * step's logits (when `last` is not NULL) and stats of the model. */
static void greedy_on(duet_backend b, const duet_model_options *mo, int32_t *ids,
		      float *last, duet_stream_stats *st)
{
	duet_model *m;
	cr_assert_eq(duet_model_load(model, mo, &m), DUET_OK, "%s", duet_last_error());
	duet_context_options co = { .n_ctx = 64, .n_batch = 8, .backend = b };
	duet_device *dev = NULL; /* validated when ctest asks (DUET_VK_VALIDATION) */
	if (b == DUET_BACKEND_VULKAN)
		cr_assert_eq(duet_device_open(NULL, &dev), DUET_OK, "%s", duet_last_error());
	co.device = dev;
	duet_context *c;
	cr_assert_eq(duet_context_create(m, &co, &c), DUET_OK, "%s", duet_last_error());
	int32_t tok[12] = { 1, 17, 42, 99, 5, 230, 7, 64, 128, 3, 77, 250 };
	const float *logits;
	uint32_t n = 12;
	for (int i = 0; i < N_GEN; i++) {
		cr_assert_eq(duet_context_eval(c, tok, n, false, &logits), DUET_OK, "%s",
			     duet_last_error());
		int best = 0;
		for (int v = 1; v < 300; v++)
			if (logits[v] > logits[best])
				best = v;
		ids[i] = best;
		tok[0] = best;
		n = 1;
	}
	if (last)
		memcpy(last, logits, 300 * sizeof *last);
	if (st)
		duet_model_stream_stats(m, st);
	duet_context_destroy(c);
	duet_model_destroy(m);
	if (dev) {
		duet_device_info di;
		duet_device_get_info(dev, &di);
		cr_assert_eq(di.validation_errors, 0, "Vulkan validation errors");
		duet_device_close(dev);
	}
}

static void greedy(const duet_model_options *mo, int32_t *ids, duet_stream_stats *st)
{
	greedy_on(DUET_BACKEND_CPU, mo, ids, NULL, st);
}

/* Budgets of 100%, 50% and 25% on backend b against no budget. */
static void budgets(duet_backend be)
{
	int32_t want[N_GEN], got[N_GEN];
	float want_l[300], got_l[300];
	duet_stream_stats st;
	greedy_on(be, NULL, want, want_l, &st);
	cr_assert_eq(st.streamed_layers, 0, "nothing streams without a budget");
	static const uint32_t pct[] = { 100, 50, 25 };
	for (int k = 0; k < 3; k++) {
		duet_model_options mo = { .mem_budget_pct = pct[k] };
		greedy_on(be, &mo, got, got_l, &st);
		for (int i = 0; i < N_GEN; i++)
			cr_assert_eq(got[i], want[i], "budget %u%%: token %d is %d, want %d",
				     pct[k], i, got[i], want[i]);
		cr_assert(memcmp(got_l, want_l, sizeof got_l) == 0,
			  "budget %u%%: the last logits differ", pct[k]);
		if (pct[k] == 100) {
			cr_assert_eq(st.streamed_layers, 0);
			continue;
		}
		cr_assert_gt(st.streamed_layers, 0, "%u%%", pct[k]);
		cr_assert_leq(st.resident_bytes + st.ring_bytes, st.mem_budget,
			      "%u%%: %llu resident + %llu ring over %llu", pct[k],
			      (unsigned long long)st.resident_bytes,
			      (unsigned long long)st.ring_bytes,
			      (unsigned long long)st.mem_budget);
		uint64_t b = st.model_bytes / 100 * pct[k] + st.model_bytes % 100 * pct[k] / 100;
		cr_assert_eq(st.mem_budget, b, "%u%% of %llu", pct[k],
			     (unsigned long long)st.model_bytes);
		/* the prompt pass and N_GEN - 1 more read every streamed layer
		 * (the ring keeps some of the last pass) */
		cr_assert_geq(st.bytes_read, (uint64_t)(N_GEN - 1) * st.streamed_bytes_per_pass -
			      st.ring_bytes, "%u%%: read %llu", pct[k],
			      (unsigned long long)st.bytes_read);
		cr_assert(st.io[0], "no reader reported");
		cr_log_info("%s %u%%: %u resident, %u streamed layers, %s",
			    duet_backend_name(be), pct[k], st.resident_layers,
			    st.streamed_layers, st.io);
	}
	cr_assert_lt(st.resident_layers, 16);
}

Test(weights, budgets_give_identical_output, .timeout = 120)
{
	budgets(DUET_BACKEND_CPU);
}

/* On Vulkan each streamed layer is repacked into a slot of device memory
 * while the device computes the layers before it (gated submissions). */
Test(weights, vulkan_budgets_give_identical_output, .timeout = 120)
{
	need_vulkan();
	budgets(DUET_BACKEND_VULKAN);
}

Test(weights, every_reader_streams_the_same_bytes, .timeout = 120)
{
	int32_t want[N_GEN], got[N_GEN];
	greedy(NULL, want, NULL);
	static const char *readers[] = { "uring", "aio", "pread", "mmap" };
	for (int k = 0; k < 4; k++) {
		duet_model_options mo = { .mem_budget_pct = 40, .io = readers[k] };
		duet_model *m;
		duet_status s = duet_model_load(model, &mo, &m);
		if (s == DUET_E_UNSUPPORTED) { /* a reader this kernel refuses */
			cr_log_warn("%s: %s (not checked)", readers[k], duet_last_error());
			continue;
		}
		cr_assert_eq(s, DUET_OK, "%s", duet_last_error());
		duet_model_destroy(m);
		duet_stream_stats st;
		greedy(&mo, got, &st);
		cr_assert(strstr(st.io, readers[k]), "asked %s, got %s", readers[k], st.io);
		for (int i = 0; i < N_GEN; i++)
			cr_assert_eq(got[i], want[i], "%s: token %d", readers[k], i);
	}
}

Test(weights, bad_budgets_and_backends_are_errors)
{
	duet_model *m;
	duet_model_options tiny = { .mem_budget = 4096 };
	cr_assert_eq(duet_model_load(model, &tiny, &m), DUET_E_INVAL);
	cr_assert(strstr(duet_last_error(), "at least"), "%s", duet_last_error());
	duet_model_options pct = { .mem_budget_pct = 101 };
	cr_assert_eq(duet_model_load(model, &pct, &m), DUET_E_INVAL);
	duet_model_options io = { .mem_budget_pct = 50, .io = "floppy" };
	cr_assert_eq(duet_model_load(model, &io, &m), DUET_E_INVAL);
	cr_assert(strstr(duet_last_error(), "floppy"), "%s", duet_last_error());
	duet_model_options half = { .mem_budget_pct = 50 };
	cr_assert_eq(duet_model_load(model, &half, &m), DUET_OK, "%s", duet_last_error());
	duet_context *c, *c2;
	duet_context_options any = { .n_ctx = 32, .backend = DUET_BACKEND_CPU };
	cr_assert_eq(duet_context_create(m, &any, &c), DUET_OK, "%s", duet_last_error());
	cr_assert_eq(duet_context_backend(c), DUET_BACKEND_CPU);
	cr_assert_eq(duet_context_create(m, &any, &c2), DUET_E_UNSUPPORTED);
	duet_context_destroy(c);
	cr_assert_eq(duet_context_create(m, &any, &c2), DUET_OK, "%s", duet_last_error());
	duet_context_destroy(c2);
	duet_model_destroy(m);
}

typedef struct calls {
	int n;
	uint64_t last_done, total;
	bool decreasing, total_changed;
} calls;

static void count(void *user, uint64_t done, uint64_t total)
{
	calls *c = user;
	if (c->n && done < c->last_done)
		c->decreasing = true;
	if (c->n && total != c->total)
		c->total_changed = true;
	c->n++;
	c->last_done = done;
	c->total = total;
}

/* Loading reports progress: on the CPU one final call, on Vulkan one per
 * uploaded layer before it; done never decreases and ends at total. */
static void progress(duet_backend backend, int min_calls)
{
	duet_model *m;
	cr_assert_eq(duet_model_load(model, NULL, &m), DUET_OK, "%s", duet_last_error());
	calls c = { 0 };
	duet_context_options co = { .n_ctx = 32, .backend = backend,
				    .progress = count, .progress_user = &c };
	duet_context *ctx;
	cr_assert_eq(duet_context_create(m, &co, &ctx), DUET_OK, "%s", duet_last_error());
	cr_assert_geq(c.n, min_calls, "%d calls", c.n);
	cr_assert_not(c.decreasing);
	cr_assert_not(c.total_changed);
	cr_assert_gt(c.total, 1000000, "total %llu", (unsigned long long)c.total);
	cr_assert_eq(c.last_done, c.total);
	duet_context_destroy(ctx);
	duet_model_destroy(m);
}

Test(weights, cpu_load_reports_progress) { progress(DUET_BACKEND_CPU, 1); }

Test(weights, vulkan_load_reports_progress_per_layer, .timeout = 120)
{
	need_vulkan();
	progress(DUET_BACKEND_VULKAN, 16); /* 15 layers below the total, then it */
}

/* A read fault while streaming fails entering that layer with the file
 * offset in the message; other layers still stream, and the faulty one
 * is read again (and fails again) on the next try: nothing is stuck. */
Test(weights, read_faults_fail_the_layer_and_leave_the_rest_usable)
{
	static const duet_io_fault_kind faults[] = { DUET_IO_FAULT_EIO, DUET_IO_FAULT_SHORT };
	for (int f = 0; f < 2; f++) {
		duet_model *m;
		cr_assert_eq(duet_model_load(model, NULL, &m), DUET_OK, "%s", duet_last_error());
		duet_model_desc *desc = &m->desc;
		/* a fault in the middle of layer 10's down matrix */
		const duet_weight *down = &desc->layers[10].w_down;
		uint64_t at = (uint64_t)((const uint8_t *)down->data - m->gguf->base) +
			      down->row_bytes * (uint64_t)down->n_out / 2;
		duet_weights_opts o = { .budget_pct = 25, .fault = faults[f], .fault_at = at };
		duet_weights *w;
		cr_assert_eq(duet_weights_create(desc, m->gguf, model, &o, &w), DUET_OK, "%s",
			     duet_last_error());
		cr_assert(duet_weights_streaming(w));
		for (uint32_t il = 0; il < 10; il++) {
			cr_assert_eq(duet_weights_enter(w, il), DUET_OK, "layer %u: %s", il,
				     duet_last_error());
			duet_weights_leave(w, il);
		}
		cr_assert_eq(duet_weights_enter(w, 10), DUET_E_IO);
		const char *e = duet_last_error();
		cr_assert(strstr(e, "streaming layer 10"), "%s", e);
		cr_assert(strstr(e, f ? "short read" : "Input/output error"), "%s", e);
		cr_assert_eq(duet_weights_enter(w, 11), DUET_OK, "%s", duet_last_error());
		duet_weights_leave(w, 11);
		cr_assert_eq(duet_weights_enter(w, 10), DUET_E_IO, "the fault is still there");
		cr_assert_eq(duet_weights_enter(w, 3), DUET_OK, "%s", duet_last_error());
		/* layer 3's matrices now point into a slot holding its bytes */
		const duet_weight *wq = &desc->layers[3].wq;
		cr_assert(wq->data < (const void *)m->gguf->base ||
			  wq->data >= (const void *)(m->gguf->base + m->gguf->size));
		duet_weights_leave(w, 3);
		duet_weights_destroy(w);
		/* the model's own pointers are back in the map */
		cr_assert(wq->data >= (const void *)m->gguf->base &&
			  wq->data < (const void *)(m->gguf->base + m->gguf->size));
		duet_model_destroy(m);
	}
}

/* On Vulkan a read fault fails the step that needed the layer, with the
 * reason; the device is not left waiting at a gate (the next step fails
 * the same way instead of hanging), and the context closes cleanly. */
Test(weights, vulkan_read_fault_fails_the_step, .timeout = 120)
{
	need_vulkan();
	duet_model *m;
	duet_model_options mo = { .mem_budget_pct = 40 };
	cr_assert_eq(duet_model_load(model, &mo, &m), DUET_OK, "%s", duet_last_error());
	const duet_weight *down = &m->desc.layers[14].w_down;
	m->wopts.fault = DUET_IO_FAULT_EIO;
	m->wopts.fault_at = (uint64_t)((const uint8_t *)down->data - m->gguf->base) +
			    down->row_bytes * (uint64_t)down->n_out / 2;
	duet_context_options co = { .n_ctx = 32, .n_batch = 8, .backend = DUET_BACKEND_VULKAN };
	duet_context *c;
	cr_assert_eq(duet_context_create(m, &co, &c), DUET_OK, "%s", duet_last_error());
	duet_stream_stats st;
	duet_model_stream_stats(m, &st);
	cr_assert_lt(st.resident_layers, 14, "layer 14 must stream");
	int32_t tok[3] = { 1, 2, 3 };
	const float *logits;
	for (int k = 0; k < 2; k++) {
		cr_assert_eq(duet_context_eval(c, tok, 3, false, &logits), DUET_E_IO);
		cr_assert(strstr(duet_last_error(), "streaming layer 14"), "%s",
			  duet_last_error());
	}
	duet_context_destroy(c);
	duet_model_destroy(m);
}
