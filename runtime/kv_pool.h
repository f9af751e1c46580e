/* The KV-cache arbiter (DESIGN.md, "KV cache arbiter"): one pool of
 * fixed-size pages that every model and every sequence draws from.
 *
 * A page holds `tokens_per_page` rows of one layer's K or V of one model
 * ([token in page][row_bytes]; an f16 or f32 row is a power of two bytes
 * in most models, so pages fit rows exactly; q8_0 rows leave the page's
 * last bytes unused). A sequence (one
 * model's cache for one session) holds blocks of 2 x n_layer pages, one
 * block per tokens_per_page positions: position p lives in block
 * p / tokens_per_page. Pages are granted as a sequence grows (begin),
 * returned on truncate and close, and shared between sequences with
 * reference counts (prefix sharing), copied when a shared page is written.
 *
 * When the pool is short, a request of priority P may preempt sequences of
 * lower priority that no step is using (not pinned), least recently used
 * first: their tail pages past their guaranteed minimum (and past any page
 * they share) are either copied to host memory (swap) or dropped, leaving
 * their leading positions valid so their owner recomputes the rest; the
 * cheaper of the two by the pool's cost model. A guarantee (min_tokens at
 * open) is never taken away, and guarantees together never exceed the pool.
 *
 * Thread-safe: every call takes the pool's one lock briefly (a swap or a
 * copy-on-write copies pages under it). A sequence is used by one thread at
 * a time; its page table is stable between begin and end. */
#ifndef DUET_RUNTIME_KV_POOL_H
#define DUET_RUNTIME_KV_POOL_H

#include <stdbool.h>
#include <stdint.h>

#include "duet/duet.h"

struct duet_vk_range; /* driver-shim/shim.h */

typedef struct duet_kv_seq duet_kv_seq;

#define DUET_KV_PAGE_DEFAULT (16u << 10)

typedef duet_kv_pool_options duet_kv_pool_opts;

/* One model's cache shape. */
typedef struct duet_kv_model {
	uint32_t n_layer, n_embd_kv;
	uint32_t row_bytes;    /* of one layer's K or V of one position
				* (kv.h: duet_kv_row_bytes) */
	double recompute_tps;  /* its prefill tokens/s (cost model); 0: 1000 */
} duet_kv_model;

/* duet_kv_pool_create, _destroy, _stats: see duet.h. */

/* Registers a model's cache shape and returns its id in *id (the id of
 * an equal shape registered before, if any). DUET_E_INVAL when one row of
 * it does not fit a page (the message gives the least page size),
 * DUET_E_RANGE past 16 shapes. */
duet_status duet_kv_pool_add_model(duet_kv_pool *p, const duet_kv_model *m,
				   uint32_t *id);

/* Positions of model id per page, and the bytes of one position. */
uint32_t duet_kv_pool_tokens_per_page(duet_kv_pool *p, uint32_t id);
uint64_t duet_kv_pool_token_bytes(duet_kv_pool *p, uint32_t id);

typedef duet_priority duet_kv_prio;
#define DUET_KV_BACKGROUND DUET_PRIORITY_BACKGROUND
#define DUET_KV_NORMAL DUET_PRIORITY_NORMAL
#define DUET_KV_INTERACTIVE DUET_PRIORITY_INTERACTIVE

/* Opens an empty sequence of model id with a priority and a guaranteed
 * minimum of min_tokens positions (reserved now, granted as it grows).
 * DUET_E_NOMEM when the guarantees would exceed the pool. */
duet_status duet_kv_seq_open(duet_kv_pool *p, uint32_t model, duet_kv_prio prio,
			     uint32_t min_tokens, duet_kv_seq **out);

/* Returns every page and frees s; NULL: no-op. */
void duet_kv_seq_close(duet_kv_seq *s);

/* Makes s share src's first n_tokens positions (their pages, counted
 * twice; written pages are copied first). s must be empty and of the
 * same model. DUET_E_INVAL otherwise. */
duet_status duet_kv_seq_share(duet_kv_seq *s, duet_kv_seq *src, uint32_t n_tokens);

/* Prepares a step that writes positions [pos0, pos0 + n) of s and reads
 * [0, pos0 + n): swaps back what was swapped out, grants pages, copies
 * shared pages in the written range, and pins s (no preemption) until
 * duet_kv_seq_end. *valid is how many leading positions hold K/V: when it
 * is below pos0 the arbiter dropped the rest, nothing was prepared nor
 * pinned, and the caller recomputes from *valid. Errors (nothing pinned):
 * DUET_E_AGAIN (the pool is held by sequences of equal or higher priority
 * or in use: retry later), DUET_E_NOMEM (s could never hold that many
 * positions in this pool), DUET_E_INVAL. */
duet_status duet_kv_seq_begin(duet_kv_seq *s, uint32_t pos0, uint32_t n,
			      uint32_t *valid);

/* Ends the step begun last: positions [0, n_valid) now hold K/V
 * (n_valid <= pos0 + n of the begin). Unpins s. */
void duet_kv_seq_end(duet_kv_seq *s, uint32_t n_valid);

/* Keeps the first n_tokens positions (speculative rollback) and returns
 * the pages past them. */
void duet_kv_seq_truncate(duet_kv_seq *s, uint32_t n_tokens);

/* Positions of s that hold K/V now (after any preemption). */
uint32_t duet_kv_seq_tokens(duet_kv_seq *s);

/* The address of K (which 0) or V (1) of layer il at position pos (f16
 * elements); valid between begin and end, for positions below pos0 + n
 * of the begin. NULL in a virtual pool. */
void *duet_kv_seq_row(const duet_kv_seq *s, int which, uint32_t il, uint32_t pos);

/* Where an executor finds s's rows without calling in (duet_kv_row):
 * valid from a begin until the next begin, truncate or close of s. */
typedef struct duet_kv_view {
	uint8_t *const *pages;  /* NULL: not paged */
	uint32_t tpp, streams, row_bytes;
	const uint32_t *ids;    /* page ids, as the pages (Vulkan page tables) */
	uint32_t n_pages;
} duet_kv_view;

void duet_kv_seq_view(const duet_kv_seq *s, duet_kv_view *v);

/* The index in v's pages of the page holding K (which 0) or V (1) of layer
 * il at position pos, and that row's byte offset in it (*off). */
static inline uint64_t duet_kv_view_page(const duet_kv_view *v, int which,
					 uint32_t il, uint32_t pos, uint64_t *off)
{
	*off = (uint64_t)(pos % v->tpp) * v->row_bytes;
	return (uint64_t)(pos / v->tpp) * v->streams + il * 2 + (uint32_t)(which != 0);
}

/* Pages on a Vulkan device live in up to DUET_KV_MAX_CHUNKS allocations
 * ("chunks", each one binding the kernels can reach: within the device's
 * storage and texel buffer ranges and its allocation cap); page i is page
 * i % pages_per_chunk of chunk i / pages_per_chunk. */
#define DUET_KV_MAX_CHUNKS 4

/* When p's pages live on a Vulkan device: that device, the page size, the
 * number of chunks and pages per chunk, and true. */
bool duet_kv_pool_on_device(const duet_kv_pool *p, duet_device **dev,
			    uint32_t *page_bytes, uint32_t *n_chunks,
			    uint32_t *pages_per_chunk);

/* The memory range of chunk i of a pool on a device. */
void duet_kv_pool_chunk(const duet_kv_pool *p, uint32_t i,
			struct duet_vk_range *mem);

/* kv_pool_vk.c: the n_pages pages of page_bytes of a pool on a device, in
 * chunks of mapped memory. alloc returns an opaque handle in *vk, each
 * chunk's mapped bytes in maps[], their number in *n_chunks and the pages
 * of each in *per_chunk; DUET_E_UNSUPPORTED when DUET_KV_MAX_CHUNKS
 * bindings cannot hold them (the message gives the most). */
duet_status duet_kv_pool_vk_alloc(duet_device *dev, uint32_t page_bytes,
				  uint32_t n_pages, void **vk,
				  uint8_t *maps[DUET_KV_MAX_CHUNKS],
				  uint32_t *n_chunks, uint32_t *per_chunk);
void duet_kv_pool_vk_free(void *vk);
void duet_kv_pool_vk_range(const void *vk, uint32_t i, struct duet_vk_range *mem);

/* Sets the priority of s (sessions change class, e.g. to background). */
void duet_kv_seq_set_prio(duet_kv_seq *s, duet_kv_prio prio);

#endif
