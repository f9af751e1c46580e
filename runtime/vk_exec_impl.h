/* Inside the Vulkan executor: the structures shared by the recorder
 * (vk_record.c: lowering a graph to fused kernels), the executor
 * (exec_vk.c: plans, steps) and the single-kernel test entry points
 * (exec_vk_test.c). */
#ifndef DUET_RUNTIME_VK_EXEC_IMPL_H
#define DUET_RUNTIME_VK_EXEC_IMPL_H

#include "../shaders/abi/kernels.h"
#include "arena.h"
#include "vk_weights.h"

#define MAX_TRACK 64

/* How an indirect dispatch's group counts follow the step's token count;
 * the host rewrites every slot (vk_plan.step + 256 + 16 i) per step. */
typedef enum vk_recipe_kind {
	BY_TOKENS = 1, /* x = n_tok */
	BY_HEADS = 2,  /* x = ceil(n_tok * n_head / per) */
	BY_TILES = 3,  /* x = fixed, y = ceil(n_tok / per) */
	/* x = fixed, y = whole tiles of `per` tokens in the tokens left past
	 * the last whole tile of `upper` (all tokens when upper is 0), or
	 * ceil of that when `last` */
	BY_LEVEL = 4,
} vk_recipe_kind;

typedef struct vk_recipe {
	vk_recipe_kind kind;
	uint32_t fixed;
	uint32_t per;
	uint32_t upper; /* BY_LEVEL */
	bool last;      /* BY_LEVEL */
} vk_recipe;

#define VK_MAX_RECIPES 4080 /* the step block stays within 64 KiB */
#define VK_MAX_TAILS 1024
#define VK_STEP_BYTES (256 + 16 * VK_MAX_RECIPES)

typedef struct vk_plan {
	const duet_graph *g;
	uint32_t n_batch;
	duet_vk_seq *seq;
	duet_vk_heap *act_heap, *host_heap;
	duet_vk_range x, act, q, ao, ff, logits, ids, in, step;
	duet_vk_range counters;  /* [VK_MAX_TAILS] workgroup counters of tails */
	duet_vk_range pages;     /* paged: the page table of the step */
	duet_vk_range kvf;       /* q8_0 caches: the step's K/V rows in f32 */
	uint32_t logits_rows;
	vk_recipe recipes[VK_MAX_RECIPES];
	uint32_t n_recipes;
	duet_arena labels;
	struct vk_plan *next;
} vk_plan;

struct duet_vk_exec {
	duet_vk_device *d;
	duet_vk_weights *w;
	const duet_model_desc *m;
	uint32_t n_ctx;
	bool profile, gpu;
	duet_vk_heap *kv_heap;
	duet_kv_type kv_type;
	uint32_t kv_row_bytes;  /* kv.h: duet_kv_row_bytes */
	duet_vk_range *kc, *vc; /* [n_layer]: [n_ctx] rows */
	duet_vk_kv_pages paged; /* paged.tpp != 0: K/V in these pages instead */
	const uint32_t *page_ids; /* of the next run */
	uint32_t n_page_ids;
	vk_plan *plans;
	vk_plan *last;
};

/* Where a graph value lives while recording. Virtual values (a norm not
 * yet applied, the last row of a value, a gate/up pair) are folded into
 * the kernel that reads them. */
typedef enum loc_kind {
	LOC_NONE, LOC_X, LOC_AO, LOC_FF, LOC_GU, LOC_LOGITS, LOC_NORM, LOC_LAST,
} loc_kind;

typedef struct loc {
	loc_kind kind;
	const duet_gnode *norm; /* LOC_NORM */
	uint32_t src;           /* LOC_LAST */
} loc;

/* Work a kernel's last workgroup does after the kernel (tail.glsl). */
typedef struct vk_tail {
	struct duet_prep p;      /* p.kind 0: none */
	uint32_t dot;            /* format a prep tail writes */
	duet_vk_range nw, out;   /* norm weight; act (prep) or ids (argmax) */
} vk_tail;

/* Where an output of a matrix kernel goes. */
typedef struct mm_out {
	uint32_t epi;
	duet_vk_range y, res, bias;
	uint32_t y_stride, y_off, r_stride;
	bool take_last;
	uint32_t layer;
} mm_out;

/* One kernel of a lowered graph, before recording. */
typedef enum vk_op_kind { VOP_PREP, VOP_MM, VOP_KVQ, VOP_ATTN, VOP_ARGMAX } vk_op_kind;

typedef struct vk_op {
	vk_op_kind kind;
	const char *label;
	duet_vk_range in, nw;          /* PREP */
	struct duet_pc_prep prep;
	uint32_t dot;
	const vk_mat *mat;             /* MM */
	mm_out out;                    /* KVQ: out.layer */
	const duet_gnode *attn;        /* ATTN */
	vk_tail tail;                  /* MM, ATTN: fused follower */
} vk_op;

typedef struct rec {
	duet_vk_exec *x;
	vk_plan *p;
	loc *L;
	duet_status s;
	duet_vk_range reads[MAX_TRACK], writes[MAX_TRACK];
	uint32_t n_reads, n_writes;
	uint32_t act_value, act_dot; /* what `act` holds now */
	bool act_valid;
	vk_op *ops;
	uint32_t n_ops, cap_ops;
	uint32_t n_tails;
	bool sibling; /* the next dispatch writes beside the last: no barrier */
	uint32_t n_gates; /* streamed layers whose gate is recorded */
} rec;


/* Records kernel `kernel` (with a barrier first when a hazard needs one)
 * over `groups` workgroups, or, with a recipe, over counts the host
 * computes from each step's token count. */
void duet_vkr_dispatch(rec *r, const char *kernel, const uint32_t *spec,
		       uint32_t n_spec, const duet_vk_range *b, uint32_t n,
		       uint32_t written, const void *pc, uint32_t pc_bytes,
		       uint32_t groups, const vk_recipe *recipe, const char *lbl);

/* The y group count of recipe rc for a step of n_tok tokens. */
uint32_t duet_vkr_recipe_y(const vk_recipe *rc, uint32_t n_tok);

/* Writes every indirect slot of p for a step of n_tok tokens. */
void duet_vkr_write_recipes(vk_plan *p, uint32_t n_tok, uint32_t n_head);

/* Records the matrix kernel(s) of mat reading the plan's act; with a tail
 * (single-part matrices) its last workgroup also does that. */
void duet_vkr_mm(rec *r, const vk_mat *mat, const mm_out *o,
		 const vk_tail *tail, const char *lbl);

/* Fills the derived fields of a prep (n_pad, q8_max). */
void duet_vkr_prep_fill(struct duet_prep *p, uint32_t dot);

/* Records a norm_quant of `in` into the plan's act (pc without n_pad and
 * y_stride, which follow from dot). */
void duet_vkr_prep_emit(rec *r, const duet_vk_range *in,
			struct duet_pc_prep *pc, const duet_vk_range *nw,
			uint32_t dot, const char *lbl);

/* Records attention node n (q, cache -> ao), with an optional tail. */
void duet_vkr_attn(rec *r, const duet_gnode *n, const vk_tail *tail,
		   const char *lbl);

/* Records kv_quant for layer il: the step's f32 K/V rows (kvf) into a
 * q8_0 cache. */
void duet_vkr_kvq(rec *r, uint32_t il, const char *lbl);

/* Records the argmax of every logits row into the plan's ids. */
void duet_vkr_argmax(rec *r, const char *lbl);

/* Returns "l<layer>.<what>" (or what) kept by the plan. */
const char *duet_vkr_label(rec *r, int layer, const char *what);

/* Lowers the plan's graph into its sequence (between begin and end). */
duet_status duet_vkr_lower(rec *r);

#endif
