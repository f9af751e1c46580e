/* driver-shim: everything duet asks of a Vulkan device, behind types that
 * do not mention Vulkan. runtime/exec_vk and the CLI use this header; only
 * the files in driver-shim/ include <vulkan/vulkan.h>.
 *
 * Objects and lifetimes:
 *   duet_vk          the loader (dlopen'ed libvulkan) and one VkInstance;
 *   duet_vk_device   a logical device with one compute queue, its probed
 *                    capabilities, quirks, pipelines and pipeline cache;
 *   duet_vk_heap     device memory for one role, handed out as ranges;
 *   duet_vk_kernel   a compute pipeline (embedded SPIR-V + specialization
 *                    constants), created on first use and owned by the device;
 *   duet_vk_seq      a recorded command buffer: dispatches, barriers,
 *                    copies, timestamps; submitted as often as needed.
 * Every VkResult becomes a duet_status here; device loss and device
 * out-of-memory come back as DUET_E_DEVICE_LOST / DUET_E_DEVICE_NOMEM.
 * Nothing here is thread-safe unless it says so: one thread drives a device
 * (the scheduler serialises its users). Different devices and instances
 * share no state. */
#ifndef DUET_SHIM_H
#define DUET_SHIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "duet/status.h"

typedef struct duet_vk duet_vk;
typedef struct duet_vk_device duet_vk_device;
typedef struct duet_vk_heap duet_vk_heap;
typedef struct duet_vk_block duet_vk_block;
typedef struct duet_vk_kernel duet_vk_kernel;
typedef struct duet_vk_seq duet_vk_seq;

typedef enum duet_vk_device_type {
	DUET_VK_DEVICE_OTHER = 0,
	DUET_VK_DEVICE_INTEGRATED = 1,
	DUET_VK_DEVICE_DISCRETE = 2,
	DUET_VK_DEVICE_VIRTUAL = 3,
	DUET_VK_DEVICE_CPU = 4,
} duet_vk_device_type;

/* Quirks: device/driver behaviour the kernels must work around. Each flag
 * comes from a row of the quirk table (vk_quirks.c) that gives its reason. */
enum {
	DUET_VK_QUIRK_NO_FP16_MATH = 1u << 0,    /* fp16 arithmetic unreliable */
	DUET_VK_QUIRK_NO_SUBGROUP_ARITH = 1u << 1, /* subgroupAdd etc. wrong */
	DUET_VK_QUIRK_NO_INT_DOT = 1u << 2,      /* packed int8 dot broken */
	DUET_VK_QUIRK_SMALL_ALLOC = 1u << 3,     /* allocations fail well below the cap */
	DUET_VK_QUIRK_SLOW_DISPATCH = 1u << 4,   /* each dispatch costs tens of µs */
};

/* Kernel families; the probe picks one per device (see duet_vk_caps.variant). */
typedef enum duet_vk_variant {
	/* CPU-executed Vulkan (lavapipe/SwiftShader): no cross-lane reductions,
	 * several rows per invocation, small workgroups, inputs through uniform
	 * buffers, few dispatches. */
	DUET_VK_VARIANT_CPU = 0,
	/* GPUs: workgroups share a row, subgroup + shared-memory reductions. */
	DUET_VK_VARIANT_GPU = 1,
} duet_vk_variant;

/* What the probe found. Sizes in bytes. */
typedef struct duet_vk_caps {
	char name[256];
	char driver_name[256];
	char driver_info[256];
	uint32_t vendor_id;
	uint32_t device_id;
	uint32_t driver_id;       /* VkDriverId, 0 when unknown */
	uint32_t driver_version;  /* as the driver encodes it */
	uint32_t api_version;     /* VK_MAKE_API_VERSION encoding */
	duet_vk_device_type type;
	bool fp16;                /* shaderFloat16 */
	bool int8;                /* shaderInt8 */
	bool int64;               /* shaderInt64 */
	bool float64;             /* shaderFloat64 */
	bool storage16;           /* storageBuffer16BitAccess */
	bool storage8;            /* storageBuffer8BitAccess */
	bool int_dot;             /* shaderIntegerDotProduct (4x8 packed) */
	bool subgroup_basic;      /* basic subgroup ops in compute */
	bool subgroup_arith;      /* subgroup arithmetic in compute */
	bool timeline;            /* timeline semaphores */
	bool timestamps;          /* compute queue writes timestamps */
	bool host_memory;         /* VK_EXT_external_memory_host */
	bool uma;                 /* device-local memory is host-visible */
	uint32_t subgroup_size;
	uint32_t max_wg_invocations;
	uint32_t max_wg_size[3];
	uint32_t max_shared_bytes;
	uint32_t max_push_bytes;
	uint64_t max_storage_range;
	uint64_t max_uniform_range;
	uint64_t max_texel_bytes; /* maxTexelBufferElements x 16 */
	uint64_t texel_align;     /* minTexelBufferOffsetAlignment */
	uint64_t max_alloc;
	uint64_t storage_align;   /* minStorageBufferOffsetAlignment */
	uint64_t uniform_align;   /* minUniformBufferOffsetAlignment */
	uint64_t host_align;      /* minImportedHostPointerAlignment */
	uint64_t device_local_bytes; /* the largest device-local heap */
	double timestamp_ns;      /* nanoseconds per timestamp tick */
	uint32_t quirks;          /* DUET_VK_QUIRK_* */
	duet_vk_variant variant;
} duet_vk_caps;

/* ---- instance and devices ------------------------------------------------ */

typedef struct duet_vk_options {
	/* Enable VK_LAYER_KHRONOS_validation and count its errors. Also turned
	 * on by the environment variable DUET_VK_VALIDATION=1. */
	bool validation;
} duet_vk_options;

/* Loads the Vulkan loader (libvulkan.so.1, then libvulkan.so) and creates
 * an instance. *out is owned by the caller (duet_vk_destroy).
 * Errors: DUET_E_UNSUPPORTED (no loader, no Vulkan 1.1 instance, or the
 * validation layer was asked for and is missing), DUET_E_NOMEM. */
duet_status duet_vk_create(const duet_vk_options *opts, duet_vk **out);

/* Destroys the instance and unloads the loader; every device must be
 * destroyed first. NULL is a no-op. */
void duet_vk_destroy(duet_vk *vk);

/* Returns the number of usable physical devices (Vulkan 1.1+ with a
 * compute queue). */
uint32_t duet_vk_device_count(const duet_vk *vk);

/* Returns the probed capabilities of device i (< duet_vk_device_count),
 * owned by vk. */
const duet_vk_caps *duet_vk_device_caps(const duet_vk *vk, uint32_t i);

/* Returns the device to use: `requested` when >= 0, else the value of
 * DUET_DEVICE when set, else the best by type (discrete > integrated >
 * virtual > CPU). Returns -1 with DUET_E_NOT_FOUND / DUET_E_INVAL recorded
 * when there is no device or the index is out of range. */
int duet_vk_pick_device(const duet_vk *vk, int requested);

/* Returns the number of validation-layer errors reported so far (0 when
 * validation is off). Thread-safe. */
uint64_t duet_vk_validation_errors(const duet_vk *vk);

/* Returns whether validation is enabled on vk. */
bool duet_vk_validation_enabled(const duet_vk *vk);

/* Returns the names of the quirk flags in q, comma separated, in buf. */
const char *duet_vk_quirk_names(uint32_t q, char *buf, size_t cap);

/* Returns the reason text of quirk flag `flag` for the device of caps, or
 * NULL when the quirk table has no row for it. */
const char *duet_vk_quirk_reason(const duet_vk_caps *caps, uint32_t flag);

/* Returns "cpu" or "gpu". */
const char *duet_vk_variant_name(duet_vk_variant v);

/* Returns "discrete", "integrated", "cpu", ... */
const char *duet_vk_device_type_name(duet_vk_device_type t);

typedef struct duet_vk_device_options {
	/* Kernel family to use instead of the probe's choice: -1 (default
	 * through zero-init is handled by `variant_set`). */
	bool variant_set;
	duet_vk_variant variant;
	/* Directory for the persisted pipeline cache; NULL: $XDG_CACHE_HOME/duet
	 * or ~/.cache/duet. "" disables persistence. */
	const char *cache_dir;
} duet_vk_device_options;

/* How the device's start went, for `duet bench` start-up fields. */
typedef struct duet_vk_startup {
	double device_ms;        /* vkCreateDevice and queue */
	double cache_load_ms;    /* reading and validating the pipeline cache */
	uint64_t cache_bytes;    /* bytes of cache data accepted (0: none) */
	const char *cache_state; /* "hit", "miss", "corrupt", "off" */
	double pipeline_ms;      /* total time spent creating pipelines */
	uint32_t pipelines;      /* pipelines created */
} duet_vk_startup;

/* Creates a logical device on physical device `index`. *out is owned by
 * the caller. Errors: DUET_E_INVAL (index), DUET_E_UNSUPPORTED,
 * DUET_E_DEVICE_NOMEM, DUET_E_DEVICE_LOST, DUET_E_NOMEM. */
duet_status duet_vk_device_create(duet_vk *vk, uint32_t index,
				  const duet_vk_device_options *opts,
				  duet_vk_device **out);

/* Waits for the device to go idle, saves the pipeline cache when it grew,
 * and destroys everything the device owns. NULL is a no-op. */
void duet_vk_device_destroy(duet_vk_device *d);

/* Returns the device's capabilities (with the variant actually used). */
const duet_vk_caps *duet_vk_device_get_caps(const duet_vk_device *d);

/* Returns start-up figures; pipeline fields grow as kernels are created. */
const duet_vk_startup *duet_vk_device_startup(const duet_vk_device *d);

/* Saves the pipeline cache now when pipelines were created since the last
 * save. Failure to write is reported but harmless. */
duet_status duet_vk_device_save_cache(duet_vk_device *d);

/* ---- memory -------------------------------------------------------------- */

typedef enum duet_vk_role {
	DUET_VK_WEIGHTS = 0,  /* device-local, written once */
	DUET_VK_ACT = 1,      /* device-local scratch and KV cache */
	DUET_VK_HOST = 2,     /* host-visible and coherent: inputs, outputs */
	DUET_VK_KV = 3,       /* a KV pool's pages: always mapped (the host
			       * swaps and copies pages), device-local where
			       * the host can map such memory (UMA, resizable
			       * BAR), else host memory */
	DUET_VK_ROLES = 4,
} duet_vk_role;

/* A device's memory types as plain data (flags: Vulkan's
 * VkMemoryPropertyFlags values), so the choice below is testable without a
 * device. */
enum {
	DUET_VK_MEM_LOCAL = 1,  /* VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT */
	DUET_VK_MEM_VISIBLE = 2, /* VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT */
	DUET_VK_MEM_COHERENT = 4, /* VK_MEMORY_PROPERTY_HOST_COHERENT_BIT */
	DUET_VK_MEM_CACHED = 8,  /* VK_MEMORY_PROPERTY_HOST_CACHED_BIT */
};

typedef struct duet_vk_mem_props {
	uint32_t n_types;
	uint32_t flags[32];    /* by memory type */
	uint32_t heap[32];     /* heap index of each type */
	uint64_t heap_size[16];
} duet_vk_mem_props;

/* Returns the memory type index for role, or UINT32_MAX when none fits;
 * *host_visible tells whether it can be mapped. Weights and activations
 * want device-local memory, mappable too where a device-local heap of more
 * than 256 MiB is mappable (UMA, resizable BAR; the classic 256 MiB BAR
 * window is left alone); HOST wants mappable coherent memory, cached if
 * possible; KV wants mappable memory, device-local when such a heap is that
 * large.
 * Pure function; thread-safe. */
uint32_t duet_vk_pick_memory(const duet_vk_mem_props *m, duet_vk_role role,
			     bool *host_visible);

/* A piece of device memory: block + offset. Bound to kernels as a storage
 * or uniform buffer range. `map` is the host address of offset 0 when the
 * memory is host-visible, else NULL. */
typedef struct duet_vk_range {
	duet_vk_block *block;
	uint64_t offset;
	uint64_t bytes;
	void *map;
} duet_vk_range;

/* Creates a heap that hands out memory of `role` from blocks of about
 * block_bytes (capped by the device's allocation limit). */
duet_status duet_vk_heap_create(duet_vk_device *d, duet_vk_role role,
				uint64_t block_bytes, duet_vk_heap **out);

/* Frees every block of the heap; ranges from it become invalid. NULL is a
 * no-op. The caller makes sure the device no longer uses them. */
void duet_vk_heap_destroy(duet_vk_heap *h);

/* Hands out `bytes` (aligned for storage and uniform binding) in *out.
 * Errors: DUET_E_DEVICE_NOMEM (with the sizes), DUET_E_RANGE (bytes above
 * the device's allocation cap: split it). */
duet_status duet_vk_heap_alloc(duet_vk_heap *h, uint64_t bytes,
			       duet_vk_range *out);

/* Returns the bytes allocated from the device by h. */
uint64_t duet_vk_heap_bytes(const duet_vk_heap *h);

/* Copies bytes from host memory into r at offset (through a staging buffer
 * when r is not host-visible). Blocks until done. */
duet_status duet_vk_upload(duet_vk_device *d, const duet_vk_range *r,
			   uint64_t offset, const void *src, uint64_t bytes);

/* Copies bytes out of r at offset into host memory. Blocks until done. */
duet_status duet_vk_download(duet_vk_device *d, const duet_vk_range *r,
			     uint64_t offset, void *dst, uint64_t bytes);

/* Returns a sub-range of r. */
static inline duet_vk_range duet_vk_sub(duet_vk_range r, uint64_t offset,
					uint64_t bytes)
{
	duet_vk_range s = { r.block, r.offset + offset, bytes,
			    r.map ? (char *)r.map + offset : NULL };
	return s;
}

/* ---- kernels -------------------------------------------------------------- */

/* How a kernel sees a binding. Texel buffers (usamplerBuffer, read as
 * uvec4 texels) are how the CPU-shaped kernels read weights: on lavapipe a
 * texel fetch is a vector gather, several times faster than per-lane
 * storage-buffer loads, and its range limit (maxTexelBufferElements texels
 * of 16 bytes) is far above maxStorageBufferRange. */
enum {
	DUET_VK_BIND_STORAGE = 0,
	DUET_VK_BIND_UNIFORM = 1,
	DUET_VK_BIND_TEXEL = 2,
};

/* An embedded SPIR-V module (generated at build time from shaders/). */
typedef struct duet_vk_spirv {
	const char *name;         /* "matvec_q4_0" */
	const uint32_t *code;
	uint32_t words;
	uint32_t n_bindings;      /* set 0, bindings 0 .. n_bindings-1 */
	uint8_t binding_kind[16]; /* DUET_VK_BIND_* */
} duet_vk_spirv;

/* Returns the embedded module called name, or NULL. */
const duet_vk_spirv *duet_vk_spirv_find(const char *name);

/* Returns the number of embedded modules and the table itself. */
uint32_t duet_vk_spirv_count(void);
const duet_vk_spirv *duet_vk_spirv_at(uint32_t i);

#define DUET_VK_MAX_SPEC 12
#define DUET_VK_MAX_BINDINGS 16
#define DUET_VK_PUSH_BYTES 128

/* Returns (creating on first use) the pipeline of module `name` with
 * specialization constants spec[0..n_spec) as constant ids 0..n_spec-1.
 * The device owns it. Errors: DUET_E_NOT_FOUND (no such module),
 * DUET_E_UNSUPPORTED (the driver refused the pipeline), DUET_E_NOMEM. */
duet_status duet_vk_kernel_get(duet_vk_device *d, const char *name,
			       const uint32_t *spec, uint32_t n_spec,
			       duet_vk_kernel **out);

/* ---- command sequences ------------------------------------------------------ */

/* Creates an empty sequence. With `profile`, each dispatch is bracketed by
 * timestamps (when the device has them). */
duet_status duet_vk_seq_create(duet_vk_device *d, bool profile,
			       duet_vk_seq **out);

/* Destroys s after waiting for its last submission. NULL is a no-op. */
void duet_vk_seq_destroy(duet_vk_seq *s);

/* Starts (re)recording; the previous recording is dropped. */
duet_status duet_vk_seq_begin(duet_vk_seq *s);

/* Records a dispatch of k with binds[0..n) at bindings 0..n-1 (storage or
 * uniform, as the module declares), pc_bytes of push constants (<= 128)
 * and the given workgroup counts. `label` names it in profiles (borrowed;
 * must outlive s). With `indirect` non-NULL the counts are read from three
 * uint32 at that range when the sequence runs. */
duet_status duet_vk_seq_dispatch(duet_vk_seq *s, duet_vk_kernel *k,
				 const duet_vk_range *binds, uint32_t n,
				 const void *pc, uint32_t pc_bytes,
				 const uint32_t groups[3],
				 const duet_vk_range *indirect,
				 const char *label);

/* Records an execution and memory barrier: every compute write before it
 * is visible to compute reads/writes and indirect reads after it. */
void duet_vk_seq_barrier(duet_vk_seq *s);

/* Records a copy of bytes between two ranges. */
duet_status duet_vk_seq_copy(duet_vk_seq *s, const duet_vk_range *src,
			     const duet_vk_range *dst, uint64_t bytes);

/* Records a fill of r with the 32-bit value v. */
duet_status duet_vk_seq_fill(duet_vk_seq *s, const duet_vk_range *r,
			     uint32_t v);

/* Ends recording. */
duet_status duet_vk_seq_end(duet_vk_seq *s);

/* Cuts the recording here: what is recorded after the cut runs only once
 * the host opens gate *gate (numbered 0, 1, ... in recording order), and
 * sees what the host wrote to mapped memory before opening it. Needs
 * timeline semaphores (DUET_E_UNSUPPORTED otherwise). */
duet_status duet_vk_seq_gate(duet_vk_seq *s, uint32_t *gate);

/* Returns the number of gates of the recording. */
uint32_t duet_vk_seq_gates(const duet_vk_seq *s);

/* While a submission runs: opens every gate up to and including `gate`
 * (gates open in order; opening one again is a no-op). */
duet_status duet_vk_seq_open_gate(duet_vk_seq *s, uint32_t gate);

/* While a submission runs: waits until everything recorded between gate
 * `gate` and the next gate (or the end) has finished on the device. The
 * gate must be open. */
duet_status duet_vk_seq_wait_gate(duet_vk_seq *s, uint32_t gate);

/* Submits the recording and waits for it to finish (host-visible writes are
 * then visible to the host). */
duet_status duet_vk_seq_run(duet_vk_seq *s);

/* Submits without waiting; duet_vk_seq_wait() completes it (opening any
 * gate still closed first, so it never waits forever). Not thread-safe:
 * one thread submits, opens gates and waits per sequence. */
duet_status duet_vk_seq_submit(duet_vk_seq *s);
duet_status duet_vk_seq_wait(duet_vk_seq *s);

/* Returns the number of recorded dispatches. */
uint32_t duet_vk_seq_dispatches(const duet_vk_seq *s);

/* One profiled dispatch of the last run. */
typedef struct duet_vk_timing {
	const char *label;
	double start_us; /* from the first timestamp of the run */
	double us;
} duet_vk_timing;

/* Writes up to cap timings of the last run into out and returns how many
 * there are (0 without profiling or timestamps). */
uint32_t duet_vk_seq_timings(duet_vk_seq *s, duet_vk_timing *out,
			     uint32_t cap);

#endif
