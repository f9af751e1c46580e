/* Where each weight lives under a memory budget (see DESIGN.md, "Weight
 * streaming"): the output head and the decoded vectors stay resident
 * (pinned; token embeddings are read a row per token through the file's
 * map, unless tied to the output), then as many whole layers as fit, in
 * order; the other
 * layers' matrices rotate through a ring of staging slots that a reader
 * (runtime/io) fills from the file, O_DIRECT where the file system allows,
 * `depth` layers ahead of the one being computed (fewer when the budget
 * is tight: one slot still works, without overlap).
 *
 * The executor brackets each layer's work with duet_weights_enter() (waits
 * until the layer's matrices are in a slot and points the model's
 * duet_weight.data at them) and duet_weights_leave() (frees the slot, which
 * starts the read of the next streamed layer into it). Layers are visited
 * in order, step after step; any other order still works, with a wait.
 *
 * Resident weights keep pointing into the file's read-only map. The slots'
 * bytes are those of the file, so results are bit-identical to a fully
 * resident run. Not thread-safe: one executor at a time per model. */
#ifndef DUET_RUNTIME_WEIGHTS_H
#define DUET_RUNTIME_WEIGHTS_H

#include <stdbool.h>
#include <stdint.h>

#include "io.h"
#include "model.h"

typedef struct duet_weights duet_weights;

typedef struct duet_weights_opts {
	uint64_t budget; /* bytes for weights; 0 or >= the model: all resident */
	uint32_t budget_pct; /* when budget is 0: this % of the weights (1..100) */
	duet_io_kind io; /* reader for streamed layers (AUTO: probe) */
	bool buffered;   /* do not try O_DIRECT */
	uint32_t depth;  /* layers read ahead; 0: 2 */
	uint64_t slot_extra; /* bytes the executor keeps beside each staging
			      * slot (Vulkan: the repacked layer), counted
			      * in the budget */
	duet_io_fault_kind fault; /* test hook, passed to the reader (io.h) */
	uint64_t fault_at;
} duet_weights_opts;

typedef struct duet_weights_info {
	uint64_t budget;         /* as asked, in bytes; 0: none */
	uint64_t model_bytes;    /* every weight, as in the file */
	uint64_t pinned_bytes;   /* output head (tied: the embeddings) */
	uint64_t resident_bytes; /* pinned + resident layers */
	uint64_t ring_bytes;     /* the staging slots, slot_extra included */
	uint32_t n_resident_layers, n_streamed_layers, n_slots;
	uint64_t streamed_bytes_per_pass; /* read for one pass over the layers */
	uint64_t bytes_read;     /* so far */
	double read_busy_s;      /* reader time with reads in flight */
	double read_cpu_s;       /* the reader thread's CPU time */
	double wait_s;           /* executor time spent waiting for layers */
	const char *io_reason;   /* reader and why; "" when nothing streams */
} duet_weights_info;

/* Plans and, when something streams, opens the reader on path (the file
 * desc was read from, through map g) and starts the first reads. desc's
 * weight pointers are patched while layers stream and restored by
 * destroy. DUET_E_INVAL when the budget cannot hold the pinned weights and
 * the ring (the message gives the least budget that works). */
duet_status duet_weights_create(duet_model_desc *desc, const duet_gguf *g,
				const char *path, const duet_weights_opts *o,
				duet_weights **out);

/* Waits for queued reads, restores desc's pointers, frees w; NULL: no-op. */
void duet_weights_destroy(duet_weights *w);

/* The layer that matrix or vector wt belongs to, or -1 (pinned). */
int duet_weights_layer_of(const duet_weights *w, const duet_weight *wt);

/* Whether anything streams (false: enter/leave do nothing). */
bool duet_weights_streaming(const duet_weights *w);

/* Makes layer il's matrices readable (see above). DUET_E_IO from the
 * reader names the file offset; the next enter retries the read. */
duet_status duet_weights_enter(duet_weights *w, uint32_t il);

/* Done with layer il for this pass. */
void duet_weights_leave(duet_weights *w, uint32_t il);

void duet_weights_get_info(duet_weights *w, duet_weights_info *info);

/* Parses "BYTES", "123M", "4G" (binary units, optional "B"/"iB") into
 * *bytes (and *pct = 0), or "50%" (1..100) into *pct (and *bytes = 0);
 * false for anything else. */
bool duet_weights_parse_budget(const char *s, uint64_t *bytes, uint32_t *pct);

#endif
