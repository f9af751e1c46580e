/* The Vulkan executor of the graph IR (the second executor beside cpu).
 *
 * duet_vk_weights: a model's matrices and vectors on one device, repacked
 *   for the kernels (vk_pack.h); Q/K/V and gate/up of one layer are
 *   concatenated into one matrix when their types agree, so one dispatch
 *   does the work of three (two). Matrices past the device's binding range
 *   are split by rows into parts.
 * duet_vk_exec: one context's KV cache (f16, on the device) and, per graph,
 *   a command sequence recorded once: host-side embedding, then per layer
 *   norm+quantize, QKV (+rope, +cache store), attention, output projection
 *   (+residual), norm+quantize, gate/up (+SwiGLU), down (+residual), and the
 *   head with an on-device argmax. A step only rewrites a small uniform
 *   buffer (token count, position) and the embedded input; barriers are
 *   recorded only where a later dispatch touches what an earlier one wrote.
 * Neither object is thread-safe; one run at a time per device. */
#ifndef DUET_RUNTIME_EXEC_VK_H
#define DUET_RUNTIME_EXEC_VK_H

#include "duet/duet.h"
#include "graph.h"
#include "kv_pool.h"
#include "shim.h"

typedef struct duet_vk_weights duet_vk_weights;
struct duet_weights;
typedef struct duet_vk_exec duet_vk_exec;

/* Returns DUET_OK when the kernels can run model m on device d, else
 * DUET_E_UNSUPPORTED naming the first obstacle (weight type, head size). */
duet_status duet_vk_check_model(const duet_vk_device *d, const duet_model_desc *m);

/* Uploads m's weights to d, calling progress (when not NULL) after each
 * layer with the bytes done so far, below the total. With `stream` (a
 * plan that streams, created with slot_extra of at least
 * duet_vk_weights_slot_bytes()), only its resident layers are uploaded:
 * the others take turns in as many slots of host-visible device memory as
 * the plan has staging slots, filled while a step runs (exec_vk). m, d and
 * stream must outlive *out. Errors: DUET_E_UNSUPPORTED,
 * DUET_E_DEVICE_NOMEM (with sizes), DUET_E_NOMEM. */
duet_status duet_vk_weights_create(duet_vk_device *d, const duet_model_desc *m,
				   struct duet_weights *stream,
				   duet_progress_fn progress, void *user,
				   duet_vk_weights **out);

/* Returns the device bytes the largest layer's repacked matrices take
 * (what one streaming slot holds), or 0 when m cannot run on d. */
uint64_t duet_vk_weights_slot_bytes(duet_vk_device *d, const duet_model_desc *m);

/* Frees the weights; NULL is a no-op. */
void duet_vk_weights_destroy(duet_vk_weights *w);

/* Returns the device bytes the weights use. */
uint64_t duet_vk_weights_bytes(const duet_vk_weights *w);

/* K/V in pages of a pool (runtime/kv_pool.h) instead of a cache of the
 * executor's own: the pool's memory (up to DUET_KV_MAX_CHUNKS bindings,
 * both K and V pages in each) and its geometry; the page table comes with
 * each step. */
typedef struct duet_vk_kv_pages {
	duet_vk_range mem[DUET_KV_MAX_CHUNKS];
	uint32_t n_chunks;
	uint32_t per_chunk;  /* pages per chunk */
	uint32_t tpp;        /* positions per page */
	uint32_t streams;    /* pages per block: 2 x n_layer */
	uint32_t page_bytes; /* a multiple of 64, at most 4 MiB */
} duet_vk_kv_pages;

/* Creates an executor with a KV cache of n_ctx positions stored as kv_type
 * (kv.h; its own, or in pages when `pages` is not NULL). With profile,
 * every dispatch is timed (duet_vk_exec_timings). */
duet_status duet_vk_exec_create(duet_vk_device *d, duet_vk_weights *w,
				uint32_t n_ctx, duet_kv_type kv_type, bool profile,
				const duet_vk_kv_pages *pages, duet_vk_exec **out);

/* Paged executors: the page ids of the sequence for the next run (block b's
 * page of stream s at ids[b * streams + s]; n ids, borrowed until then).
 * The kernels get each as its chunk << 24 | its index in the chunk. */
void duet_vk_exec_set_pages(duet_vk_exec *x, const uint32_t *ids, uint32_t n);

/* Frees the executor and its recordings; NULL is a no-op. */
void duet_vk_exec_destroy(duet_vk_exec *x);

/* Runs graph g (built for w's model) for one step, recording it on first
 * use. On DUET_OK, *logits (if logits is not NULL) points at the graph's
 * logits ([rows][n_vocab] as in cpu.h) and *ids (if not NULL) at the
 * argmax of each logits row, both owned by x and valid until the next run.
 * Errors as duet_cpu_run, plus DUET_E_DEVICE_LOST / DUET_E_DEVICE_NOMEM. */
duet_status duet_vk_exec_run(duet_vk_exec *x, const duet_graph *g,
			     const duet_step *st, const float **logits,
			     const int32_t **ids);

/* Writes up to cap per-dispatch timings of the last run (profile mode)
 * and returns how many there are. */
uint32_t duet_vk_exec_timings(duet_vk_exec *x, duet_vk_timing *out, uint32_t cap);

/* Returns the dispatches recorded for g (0 before its first run). */
uint32_t duet_vk_exec_dispatches(const duet_vk_exec *x, const duet_graph *g);

/* ---- single kernels, for the gpu_* tests ------------------------------------ */

/* y[t][o] = W[o] . x[t] for a weight of n_rows rows of n_in elements in GGUF
 * layout (type t), t < n_tok; x is rounded/quantized on the device as the
 * CPU reference does. Uses the device's variant (or the given one). */
duet_status duet_vk_test_matmul(duet_vk_device *d, uint32_t type,
				const void *w, uint32_t n_in, uint32_t n_rows,
				const float *x, uint32_t n_tok, float *y);

/* Median GPU time (*us, timestamps) of the matrix kernel alone for a
 * weight of n_rows x n_in of type t and n_tok tokens, over reps runs. */
duet_status duet_vk_bench_matmul(duet_vk_device *d, uint32_t type,
				 uint32_t n_in, uint32_t n_rows, uint32_t n_tok,
				 uint32_t reps, double *us);

/* y[t] = rms_norm(x[t]) * nw, n elements per token. */
duet_status duet_vk_test_rms_norm(duet_vk_device *d, const float *x,
				  const float *nw, uint32_t n, uint32_t n_tok,
				  float eps, float *y);

#endif
