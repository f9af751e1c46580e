/* Inside the Vulkan executor: the uploaded form of a model (see exec_vk.h).
 * Shared by vk_weights.c (upload) and exec_vk.c (recording). */
#ifndef DUET_RUNTIME_VK_WEIGHTS_H
#define DUET_RUNTIME_VK_WEIGHTS_H

#include "exec_vk.h"
#include "weights.h"

/* One row range of a repacked matrix, small enough for one binding. */
typedef struct vk_part {
	duet_vk_range range;
	uint32_t row0;   /* first row (of the matrix) */
	uint32_t n_rows;
} vk_part;

/* A repacked matrix: rows of n_in elements, in kernel order. */
typedef struct vk_mat {
	uint32_t type;
	uint32_t dot;        /* DUET_DOT_* of its activation */
	uint32_t n_in;
	uint32_t n_pad;      /* n_in padded to 256 */
	uint32_t n_rows;
	uint32_t row_texels;
	uint32_t row_base;   /* first row in the epilogue's row space */
	uint32_t n_parts;
	vk_part *parts;
} vk_mat;

typedef struct vk_layer {
	duet_vk_range attn_norm; /* [n_embd] f32 */
	duet_vk_range ffn_norm;
	duet_vk_range qkv_bias;  /* [n_q + 2 n_kv] f32, or empty */
	vk_mat qkv[3];           /* 1 fused (quad order) or Q, K, V */
	uint32_t n_qkv;
	vk_mat wo;
	vk_mat ffn[2];           /* 1 fused (gate/up interleaved) or gate, up */
	uint32_t n_ffn;
	vk_mat down;
} vk_layer;

/* How an upload pass treats vectors and matrices (vk_weights.c). */
typedef enum vk_up_mode {
	VK_UP_ALL = 0,     /* allocate from the heap and write */
	VK_UP_LAYOUT = 1,  /* vectors as ALL; matrices: places in a slot */
	VK_UP_FILL = 2,    /* matrices only, written into their places */
	VK_UP_MEASURE = 3, /* matrices only: sizes, nothing allocated */
} vk_up_mode;

#define VK_SLOT_CHUNKS 16

/* A staging slot in host-visible device memory that streamed layers take
 * turns in: chunks (each within the allocation cap) filled in order. */
typedef struct vk_slot {
	duet_vk_range chunk[VK_SLOT_CHUNKS];
	uint32_t n_chunks;
	int held;        /* layer written into it, -1: none (exec_vk) */
} vk_slot;

struct duet_vk_weights {
	duet_vk_device *d;
	const duet_model_desc *m;
	duet_vk_heap *heap;
	/* streaming (see duet_vk_weights_create): layers first_streamed..
	 * take slots (il - first_streamed) % n_slots */
	duet_weights *stream;
	uint32_t first_streamed, n_slots;
	duet_vk_heap *slot_heap;
	vk_slot *slots;
	uint64_t slot_bytes;     /* the most one layer's matrices take */
	/* the upload pass under way */
	vk_up_mode mode;
	vk_slot *bump;           /* LAYOUT, MEASURE: where matrices go */
	uint32_t bump_chunk;
	uint64_t bump_used;      /* in the current chunk; MEASURE: in all */
	vk_layer *layers;        /* [n_layer] */
	vk_mat output;
	duet_vk_range output_norm;
	duet_vk_range factors;   /* rope frequency factors or empty */
	duet_vk_range dummy;     /* bound where a kernel's binding is unused */
	bool gpu;                /* variant: storage buffers, not texels */
};

/* Uploads a matrix whose kernel-order rows are the GGUF rows rows[0..n)
 * (n_in elements of type each) into w's heap, split into parts of whole
 * groups of `align` rows. The caller frees out->parts. */
duet_status duet_vk_mat_upload(duet_vk_weights *w, uint32_t type, uint32_t n_in,
			       const uint8_t **rows, uint32_t n, uint32_t align,
			       vk_mat *out);

/* The layer matrix `mat` belongs to, or -1 (the output head). */
int duet_vk_weights_mat_layer(const duet_vk_weights *w, const vk_mat *mat);

/* Whether layer il streams (its matrices live in a slot). */
bool duet_vk_weights_streamed(const duet_vk_weights *w, uint32_t il);

/* Writes streamed layer il's matrices into its slot from the model's
 * weights (which duet_weights_enter() points at the bytes read). The
 * caller makes sure the device is done with the slot's previous layer. */
duet_status duet_vk_weights_fill(duet_vk_weights *w, uint32_t il);

/* The most bytes one buffer may span on c when a kernel binds it as a
 * storage buffer (storage) and/or a texel buffer (texel), within the
 * allocation cap. DUET_VK_MAX_RANGE=BYTES (at least 4096) plays a device
 * whose bindings reach that far only, so the paths that split weights and
 * KV pools run on any device. Thread-safe. */
uint64_t duet_vk_binding_reach(const duet_vk_caps *c, bool storage, bool texel);

#endif
