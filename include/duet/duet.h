/* duet public API: load a GGUF model, run it, sample from its logits.
 *
 * Conventions (all functions):
 * - Fallible calls return duet_status (see duet/status.h); results come back
 *   through out-parameters; on error duet_last_error() says what happened.
 * - Handles are opaque; *_destroy(NULL) is a no-op.
 * - Option structs are zero-initialised for defaults and may be passed as
 *   NULL for all defaults.
 * - Thread-safety is stated per function. Distinct handles may be used from
 *   different threads at the same time; a model may be shared by several
 *   contexts on different threads.
 * - This header never includes <vulkan/vulkan.h>. */
#ifndef DUET_DUET_H
#define DUET_DUET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "duet/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DUET_VERSION_MAJOR 0
#define DUET_VERSION_MINOR 1
#define DUET_VERSION_PATCH 0

/* Returns the library version as "MAJOR.MINOR.PATCH". Thread-safe. */
DUET_API const char *duet_version(void);

typedef struct duet_model duet_model;
typedef struct duet_context duet_context;
typedef struct duet_sampler duet_sampler;

/* ---- models --------------------------------------------------------- */

typedef struct duet_model_options {
	bool vocab_only; /* read only the tokenizer (no weights; no contexts) */
	/* Bytes the weights may occupy; 0: no limit. Below the model's size,
	 * the embeddings and output head plus as many whole layers as fit
	 * stay resident and the other layers are read from the file again on
	 * every pass, a few layers ahead (CPU backend; such a model serves
	 * one context at a time, and an auto backend picks the CPU). */
	uint64_t mem_budget;
	uint32_t mem_budget_pct; /* 1..100: the budget as a percentage of the
				    weights, when mem_budget is 0 */
	/* Reader for streamed layers: "uring", "aio", "pread", "mmap" or
	 * NULL (probe in that order, mmap excluded). */
	const char *io;
} duet_model_options;

/* Weight streaming figures of a model (all zero when nothing streams). */
typedef struct duet_stream_stats {
	uint64_t mem_budget;      /* as asked */
	uint64_t model_bytes;     /* all weights */
	uint64_t resident_bytes;  /* pinned + resident layers */
	uint64_t ring_bytes;      /* staging slots */
	uint32_t resident_layers, streamed_layers;
	uint64_t streamed_bytes_per_pass; /* read per forward pass */
	uint64_t bytes_read;      /* so far */
	double read_busy_s;       /* reader time with reads in flight */
	double read_cpu_s;        /* CPU time of the reading thread */
	double wait_s;            /* compute time lost waiting for reads */
	char io[160];             /* the reader and why ("" when none) */
} duet_stream_stats;

/* Fills *st for model m. Not thread-safe with a context running on m. */
DUET_API void duet_model_stream_stats(const duet_model *m, duet_stream_stats *st);


/* Loads the GGUF model at path (memory-mapped, read-only). On DUET_OK *out
 * is a new model the caller frees with duet_model_destroy(). Errors:
 * DUET_E_NOT_FOUND / DUET_E_IO (the file), DUET_E_CORRUPT (malformed file or
 * inconsistent model, named in the message), DUET_E_UNSUPPORTED (an
 * architecture or tensor type this build cannot run), DUET_E_NOMEM.
 * Thread-safe. */
DUET_API duet_status duet_model_load(const char *path,
				     const duet_model_options *opts,
				     duet_model **out);

/* Frees the model and unmaps its file. Every context created from it must
 * be destroyed first. Not thread-safe with other uses of m. */
DUET_API void duet_model_destroy(duet_model *m);

typedef struct duet_model_info {
	const char *arch;     /* "llama", "qwen2"; owned by the model */
	const char *name;     /* general.name or "" ; owned by the model */
	uint32_t n_vocab;
	uint32_t n_embd;
	uint32_t n_layer;
	uint32_t n_head;
	uint32_t n_head_kv;
	uint32_t n_ff;
	uint32_t n_ctx_train;
	uint64_t n_params;
	uint64_t file_bytes;
	int32_t bos;          /* -1 when the model has none */
	int32_t eos;          /* -1 when the model has none */
} duet_model_info;

/* Fills *out with the model's facts. Thread-safe. */
DUET_API void duet_model_get_info(const duet_model *m, duet_model_info *out);

/* Writes the bytes token decodes to (a SentencePiece "▁" becomes a space,
 * byte tokens become their byte, control tokens become nothing) into buf
 * (cap bytes, not NUL-terminated) and their count into *len. DUET_E_RANGE
 * when cap is too small (*len then says how much is needed), DUET_E_INVAL
 * for a token outside the vocabulary. Thread-safe. */
DUET_API duet_status duet_model_token_bytes(const duet_model *m, int32_t token,
					    char *buf, size_t cap, size_t *len);

/* Returns true when token ends generation (end-of-sequence, end-of-turn
 * and the other end tokens llama.cpp recognises). Thread-safe. */
DUET_API bool duet_model_token_is_eog(const duet_model *m, int32_t token);

/* Returns a note about the model worth showing the user once (e.g. an
 * unknown pre-tokenizer that fell back to the default), or "". Owned by the
 * model. Thread-safe. */
DUET_API const char *duet_model_warning(const duet_model *m);

/* ---- text <-> tokens (the model's own tokenizer) ---------------------- */

/* Tokenizes len bytes of text (any bytes; invalid UTF-8 is handled as
 * llama.cpp does) into tokens[cap] and writes the count to *n_tokens. The
 * ids equal llama.cpp's for the same file and text. add_special adds BOS
 * (and EOS) as the model asks; parse_special turns control-token texts
 * such as "<|im_start|>" into their ids (never by default: user text must
 * not inject control tokens). DUET_E_RANGE when cap is too small
 * (*n_tokens then says how many are needed), DUET_E_UNSUPPORTED when the
 * model has no (supported) tokenizer. Thread-safe. */
DUET_API duet_status duet_tokenize(const duet_model *m, const char *text,
				   size_t len, bool add_special,
				   bool parse_special, int32_t *tokens,
				   size_t cap, size_t *n_tokens);

/* As duet_tokenize, into a new array of exactly the tokens needed: on
 * DUET_OK *tokens holds *n_tokens ids (NULL when there are none) and the
 * caller frees it with free(). Errors: those of duet_tokenize but
 * DUET_E_RANGE, and DUET_E_NOMEM. Thread-safe. */
DUET_API duet_status duet_tokenize_all(const duet_model *m, const char *text,
				       size_t len, bool add_special,
				       bool parse_special, int32_t **tokens,
				       size_t *n_tokens);

/* Decodes n tokens into buf[cap] (not NUL-terminated), *len bytes, as
 * llama.cpp's detokenize: the leading space the tokenizer added is dropped,
 * remove_special drops the BOS/EOS it added, unparse_special prints control
 * tokens. DUET_E_RANGE when cap is too small (*len says what is needed),
 * DUET_E_INVAL for an id outside the vocabulary. Thread-safe. */
DUET_API duet_status duet_detokenize(const duet_model *m, const int32_t *tokens,
				     size_t n, bool remove_special,
				     bool unparse_special, char *buf, size_t cap,
				     size_t *len);

/* ---- chat templates ----------------------------------------------------- */

typedef struct duet_chat_message {
	const char *role;    /* "system", "user", "assistant" */
	const char *content; /* UTF-8, NUL-terminated */
} duet_chat_message;

/* Returns the chat template family of the model's tokenizer.chat_template,
 * recognised by its markers as llama.cpp recognises them ("chatml",
 * "llama2", "llama3", "mistral-v7", "gemma", "phi3", "zephyr", "deepseek",
 * ...), "plain" when the model has no template (contents joined by blank
 * lines, for base models), or NULL when the template is not recognised.
 * Thread-safe. */
DUET_API const char *duet_model_chat_template(const duet_model *m);

/* Renders msgs with family (NULL: the model's own) and tokenizes the result
 * (BOS as the model asks) into tokens[cap]; *n_tokens gets the count. The
 * template's markers become control tokens; the same text inside a message
 * content stays text. add_assistant appends the assistant turn's opening.
 * Errors: DUET_E_UNSUPPORTED (template not recognised: pass a family),
 * DUET_E_INVAL (unknown family), DUET_E_RANGE (cap too small). Thread-safe. */
DUET_API duet_status duet_chat_tokenize(const duet_model *m, const char *family,
					const duet_chat_message *msgs, size_t n,
					bool add_assistant, int32_t *tokens,
					size_t cap, size_t *n_tokens);

/* Streaming output that never splits a UTF-8 sequence: push each token's
 * bytes; only complete sequences come out, an incomplete tail waits for
 * the next push (bytes that can never complete are passed through). Zero-
 * initialise the state. Not thread-safe for one stream. */
typedef struct duet_utf8_stream {
	unsigned char pending[4];
	uint32_t n;
} duet_utf8_stream;

/* Writes the bytes ready to print to out (room for n + 4 bytes) and
 * returns their count. */
DUET_API size_t duet_utf8_stream_push(duet_utf8_stream *s, const char *in,
				      size_t n, char *out);

/* Writes whatever is still held (out: 4 bytes) and returns its count. */
DUET_API size_t duet_utf8_stream_flush(duet_utf8_stream *s, char *out);

/* ---- contexts: a model's state for one sequence --------------------- */

typedef enum duet_backend {
	DUET_BACKEND_AUTO = 0,   /* Vulkan when a usable device exists, else CPU */
	DUET_BACKEND_CPU = 1,    /* the plain-C reference executor */
	DUET_BACKEND_VULKAN = 2, /* Vulkan compute; an error when unavailable */
} duet_backend;

/* Returns "cpu", "vulkan" or "auto". Thread-safe. */
DUET_API const char *duet_backend_name(duet_backend b);

/* How a context stores K and V (llama.cpp's --cache-type-k/-v; here one
 * type for both). Attention computes in f32 from what is stored. */
typedef enum duet_kv_type {
	DUET_KV_F16 = 0,  /* llama.cpp's default; attention rounds as its
			   * CPU flash attention does (q and the V sum in f16) */
	DUET_KV_F32 = 1,  /* twice f16's bytes; f32 throughout */
	DUET_KV_Q8_0 = 2, /* 8-bit values and an f16 scale per 32 (llama.cpp's
			   * q8_0 rounding): 53% of f16's bytes; head size a
			   * multiple of 32 */
} duet_kv_type;

/* Returns "f16", "f32" or "q8_0" (NULL for other values). Thread-safe. */
DUET_API const char *duet_kv_type_name(duet_kv_type t);

/* Parses a name of duet_kv_type_name into *out; false for anything else.
 * Thread-safe. */
DUET_API bool duet_kv_type_parse(const char *name, duet_kv_type *out);

/* ---- devices: a Vulkan GPU (or CPU-executed Vulkan) shared by contexts - */

typedef struct duet_device duet_device;

typedef struct duet_device_options {
	uint32_t device;       /* 0: automatic (DUET_DEVICE, else the best
				  by type); N: device N-1 as `duet info` lists */
	int32_t variant;       /* kernels: 0 the probe's choice, 1 CPU-shaped,
				  2 GPU-shaped (subgroups, shared memory) */
	bool validation;       /* Khronos validation layer; also turned on by
				  DUET_VK_VALIDATION=1 */
	bool profile;          /* time every kernel (duet_context_kernel_times) */
	const char *cache_dir; /* pipeline cache; NULL: $XDG_CACHE_HOME/duet
				  (~/.cache/duet); "": not persisted */
} duet_device_options;

/* Opens a Vulkan device. On DUET_OK the caller closes *out with
 * duet_device_close() after destroying every context on it. Errors:
 * DUET_E_UNSUPPORTED (no Vulkan loader or 1.1 device, validation layer
 * missing), DUET_E_INVAL (no such device), DUET_E_DEVICE_NOMEM, DUET_E_NOMEM.
 * Thread-safe; the device itself is used by one thread at a time. */
DUET_API duet_status duet_device_open(const duet_device_options *opts,
				      duet_device **out);

/* Saves the pipeline cache and closes the device; NULL is a no-op. */
DUET_API void duet_device_close(duet_device *d);

typedef struct duet_device_info {
	const char *name;        /* "llvmpipe (LLVM 15.0.6, 256 bits)" */
	const char *driver;      /* "llvmpipe" */
	const char *driver_info; /* "Mesa 22.3.6 (LLVM 15.0.6)" */
	const char *type;        /* "discrete", "integrated", "cpu", ... */
	const char *variant;     /* kernels in use: "cpu" or "gpu" */
	const char *quirks;      /* applied quirks, comma separated, or "" */
	uint32_t api_version;    /* VK_MAKE_API_VERSION encoding */
	uint32_t index;          /* 0-based, as `duet info` lists */
	uint64_t validation_errors;
	/* start-up: device creation, pipeline cache and pipeline creation */
	double device_ms;
	double cache_load_ms;
	const char *cache_state; /* "hit", "miss", "corrupt" or "off" */
	double pipeline_ms;
	uint32_t pipelines;
} duet_device_info;

/* Fills *out; the strings are owned by d. Not thread-safe with uses of d. */
DUET_API void duet_device_get_info(const duet_device *d, duet_device_info *out);

/* Progress of a context's weight loading (the upload to a Vulkan device):
 * done of total bytes, done never decreasing; the last call has done ==
 * total, on every backend. Called on the thread creating the context. */
typedef void (*duet_progress_fn)(void *user, uint64_t done, uint64_t total);

/* Figures of a KV-cache pool (the arbiter shared by models and sessions). */
typedef struct duet_kv_stats {
	uint64_t page_bytes;
	uint32_t pages_total, pages_used, pages_free;
	uint32_t pages_shared;    /* held by more than one sequence */
	uint32_t sequences;
	double waste_pct;         /* of the used pages' bytes, holding no K/V */
	uint64_t preemptions;     /* sequences cut back for another's request */
	uint64_t swaps, swap_ins; /* pages copied to host memory and back */
	uint64_t recomputes;      /* preemptions that dropped positions */
	uint64_t recompute_tokens;/* positions dropped, to be recomputed */
	uint64_t cow_copies;      /* shared pages copied before a write */
	uint64_t refused;         /* requests answered AGAIN or NOMEM */
	double lock_s;            /* time spent inside the arbiter */
} duet_kv_stats;

/* A KV-cache pool: one set of fixed-size pages that contexts of every
 * model draw their caches from (the arbiter: priorities, guarantees,
 * preemption by swap or recompute, shared prefixes). Thread-safe. */
typedef struct duet_kv_pool duet_kv_pool;

typedef enum duet_priority {
	DUET_PRIORITY_BACKGROUND = 0,
	DUET_PRIORITY_NORMAL = 1,
	DUET_PRIORITY_INTERACTIVE = 2,
} duet_priority;

typedef struct duet_kv_pool_options {
	uint64_t pool_bytes;  /* required */
	uint32_t page_bytes;  /* a multiple of 64; 0: 16 KiB */
	uint64_t swap_bytes;  /* host memory for swapped pages; 0: pool_bytes */
	double swap_gbps;     /* copy bandwidth of the swap-or-recompute
			       * choice; 0: 8 */
	bool virtual_pages;   /* count pages without memory (simulation) */
	duet_device *device;  /* pages in this device's host-visible memory,
			       * for its Vulkan contexts (borrowed; it must
			       * outlive the pool); NULL: host memory, CPU
			       * contexts */
} duet_kv_pool_options;

/* Creates a pool of pool_bytes / page_bytes pages (zeroed, unless
 * virtual). DUET_E_INVAL (no page, page size), DUET_E_NOMEM,
 * DUET_E_UNSUPPORTED / DUET_E_DEVICE_NOMEM (on a device: more than four
 * of its bindings can reach, or its memory; the pages are split over up
 * to four allocations where one binding reaches less than the pool). */
DUET_API duet_status duet_kv_pool_create(const duet_kv_pool_options *o,
					 duet_kv_pool **out);

/* Frees the pool; every context using it must be destroyed first. NULL:
 * no-op. */
DUET_API void duet_kv_pool_destroy(duet_kv_pool *p);

/* Writes the pool's figures into *st. Thread-safe. */
DUET_API void duet_kv_pool_stats(duet_kv_pool *p, duet_kv_stats *st);

typedef struct duet_context_options {
	uint32_t n_ctx;       /* positions; 0: min(training context, 4096) */
	uint32_t n_batch;     /* tokens per forward pass in prefill; 0: 64 */
	uint32_t n_threads;   /* CPU threads; 0: online CPUs, at most 8 */
	duet_backend backend; /* 0: auto */
	duet_device *device;  /* Vulkan device to run on (borrowed); NULL: the
				 context opens its own when it uses Vulkan */
	duet_progress_fn progress; /* NULL: none */
	void *progress_user;
	duet_kv_pool *kv_pool; /* cache pages from this pool (borrowed): a pool
				* on a device serves Vulkan contexts on it,
				* one in host memory CPU contexts; NULL: a
				* cache of its own */
	duet_priority priority;  /* in the pool; 0: background */
	uint32_t kv_min_tokens;  /* positions the pool guarantees it */
	duet_kv_type kv_type;    /* 0: f16 */
} duet_context_options;

/* Creates a context on model m (which must outlive it). On DUET_OK the
 * caller frees *out with duet_context_destroy(). Errors: DUET_E_INVAL
 * (also a kv_type the model's head size cannot use), DUET_E_UNSUPPORTED
 * (backend), DUET_E_NOMEM. Thread-safe. */
DUET_API duet_status duet_context_create(duet_model *m,
					 const duet_context_options *opts,
					 duet_context **out);

/* Frees the context and its KV cache. Not thread-safe with other uses of c. */
DUET_API void duet_context_destroy(duet_context *c);

/* Runs the model over n tokens placed after the ones already evaluated
 * (positions n_past .. n_past + n - 1), in batches of n_batch. On DUET_OK
 * *logits points at n rows of n_vocab floats when all_logits is set, else
 * at the one row of the last token; the context owns them until its next
 * eval, truncate or destroy. In a pool, positions the arbiter took back
 * are recomputed first (or swapped back in), so results never change.
 * Errors: DUET_E_INVAL (n = 0, a token outside the vocabulary),
 * DUET_E_RANGE (the context would overflow), DUET_E_NOMEM (also: the pool
 * could never hold this context), DUET_E_AGAIN (the pool is held by
 * contexts of equal or higher priority: retry later). On error the context
 * is as before the call. Not thread-safe for one context. */
DUET_API duet_status duet_context_eval(duet_context *c, const int32_t *tokens,
				       uint32_t n, bool all_logits,
				       const float **logits);

/* As duet_context_eval without all_logits, but returns only the index of
 * the largest logit of the last token in *token (on Vulkan it is found on
 * the device and nothing else is read back). Same errors. */
DUET_API duet_status duet_context_eval_greedy(duet_context *c,
					      const int32_t *tokens, uint32_t n,
					      int32_t *token);

/* Makes c, an empty context in the same KV pool as src and of the same
 * model, start with src's first n_tokens positions (a shared system
 * prompt): their pages are shared, and copied when either context writes
 * into a shared page. Errors: DUET_E_INVAL (c not empty, another model or
 * pool, n_tokens past src's), DUET_E_UNSUPPORTED (no pool), DUET_E_AGAIN
 * (src's prefix is swapped out now). Not thread-safe with uses of c or src. */
DUET_API duet_status duet_context_share_prefix(duet_context *c, duet_context *src,
					       uint32_t n_tokens);

/* Returns the model of c. Thread-safe. */
DUET_API duet_model *duet_context_model(const duet_context *c);

/* ---- SLM+LLM: speculative decoding ----------------------------------------- */

/* DUET_OK when draft can draft for target: the same tokens (texts and
 * end-of-generation marks) and special ids; else DUET_E_INVAL naming the
 * first difference. Thread-safe. */
DUET_API duet_status duet_models_check_pair(const duet_model *target,
					    const duet_model *draft);

/* Speculative decoding: the draft context proposes tokens, the target
 * checks them in one batched pass. Greedy (temperature 0): it keeps the
 * prefix it agrees with plus its own next token, so the output is the
 * target's greedy output token for token, in fewer target passes. Sampled
 * (temperature > 0): each draft token d drawn from the draft's q is kept
 * with probability min(1, p(d) / q(d)), else the target's token is drawn
 * from max(0, p - q) renormalised, so every token follows the target's
 * distribution p = softmax(logits / temperature) exactly. */
typedef struct duet_spec duet_spec;

typedef struct duet_spec_params {
	uint32_t k;        /* most tokens drafted per round (0: 8, at most 16) */
	float temperature; /* 0: greedy */
	uint64_t seed;     /* sampled: the random stream */
} duet_spec_params;

typedef struct duet_spec_stats {
	uint64_t drafted;    /* tokens the draft proposed */
	uint64_t accepted;   /* of them, kept */
	uint64_t llm_passes; /* target passes, the prompt's included */
	uint64_t tokens;     /* tokens produced */
	uint32_t k;          /* draft length now (greedy: of the last round) */
} duet_spec_stats;

/* Evaluates prompt (n tokens) in tgt and dft (empty contexts of the target
 * and the draft model, checked with duet_models_check_pair) and returns the
 * target's first token in *first. Drafts of up to p->k tokens (NULL p:
 * greedy, k 8). Sampled: k starts at 4 and adapts to how many are
 * accepted. Greedy (where k cannot change the output): each round takes
 * the k, 0 included (a plain target step), with the most tokens per second
 * by what drafting, target passes of each size and acceptance have cost so
 * far on this device; where not even an optimistic acceptance could pay,
 * it stops feeding the draft and runs plain steps only. The contexts must
 * outlive *out and are used only through it until it is destroyed.
 * Errors: those of the check and of duet_context_eval. */
DUET_API duet_status duet_spec_create(duet_context *tgt, duet_context *dft,
				      const int32_t *prompt, uint32_t n,
				      const duet_spec_params *p, int32_t *first,
				      duet_spec **out);

/* Produces the next 1 .. k + 1 tokens of the target's output into
 * out (room for cap >= 1), their count in *n_out. DUET_E_RANGE when the
 * target context is full. Not thread-safe. */
DUET_API duet_status duet_spec_step(duet_spec *sp, int32_t *out, uint32_t cap,
				    uint32_t *n_out);

DUET_API void duet_spec_get_stats(const duet_spec *sp, duet_spec_stats *st);

/* Frees sp (not the contexts). NULL: no-op. */
DUET_API void duet_spec_destroy(duet_spec *sp);

/* ---- SLM+LLM: confidence cascade ------------------------------------------ */

/* The SLM generates while it is confident; where it is not, the LLM takes
 * over from the text so far (evaluating only the tokens it has not seen),
 * writes a span of tokens, and hands back (the SLM then catches up the
 * same way). Confidence of one SLM token: the probability margin between
 * its two most likely tokens, or 1 - its normalised entropy; the SLM keeps
 * the turn while the mean over the last `window` tokens (the one being
 * chosen included) stays at or above the threshold. The output is not the
 * LLM's: each token comes with the model that produced it. */
typedef struct duet_cascade duet_cascade;

typedef enum duet_confidence {
	DUET_CONF_MARGIN = 0,  /* p(top-1) - p(top-2) */
	DUET_CONF_ENTROPY = 1, /* 1 - H(p) / log(n_vocab) */
} duet_confidence;

typedef struct duet_cascade_params {
	duet_confidence metric;
	float threshold;    /* 0: 0.3 (margin) or 0.6 (entropy); in (0, 1] */
	uint32_t window;    /* tokens averaged (0: 2, at most 64) */
	uint32_t llm_span;  /* tokens the LLM writes per turn (0: 8) */
	float temperature;  /* 0: greedy, for both models */
	uint64_t seed;
} duet_cascade_params;

typedef enum duet_source {
	DUET_SOURCE_SLM = 0,
	DUET_SOURCE_LLM = 1,
} duet_source;

typedef struct duet_cascade_stats {
	uint64_t tokens;       /* produced, the first included */
	uint64_t slm_tokens;   /* of them, by the SLM */
	uint64_t handovers;    /* SLM -> LLM turns */
	uint64_t llm_passes;   /* LLM evaluations (catch-ups included) */
	uint64_t llm_evaluated;/* tokens the LLM evaluated: the prompt and the
				  SLM's spans as it caught up, its own tokens */
} duet_cascade_stats;

/* Evaluates prompt (n tokens) in slm (an empty context of the small
 * model); the LLM's context llm (empty, checked with
 * duet_models_check_pair) sees it only at the first handover. Returns the
 * first token in *first and its model in *src (NULL p: defaults). Both
 * contexts must outlive *out and are used only through it. Errors: those
 * of the check and of duet_context_eval; DUET_E_INVAL for parameters out
 * of range. */
DUET_API duet_status duet_cascade_create(duet_context *llm, duet_context *slm,
					 const int32_t *prompt, uint32_t n,
					 const duet_cascade_params *p, int32_t *first,
					 duet_source *src, duet_cascade **out);

/* Produces the next token into *tok, from the model *src. DUET_E_RANGE
 * when a context is full. Not thread-safe. */
DUET_API duet_status duet_cascade_step(duet_cascade *cs, int32_t *tok, duet_source *src);

DUET_API void duet_cascade_get_stats(const duet_cascade *cs, duet_cascade_stats *st);

/* Frees cs (not the contexts). NULL: no-op. */
DUET_API void duet_cascade_destroy(duet_cascade *cs);

/* Returns the executor the context runs on (never AUTO). Thread-safe. */
DUET_API duet_backend duet_context_backend(const duet_context *c);

/* Returns the Vulkan device of the context, or NULL on the CPU backend. */
DUET_API duet_device *duet_context_device(const duet_context *c);

/* GPU time of one kernel of the last evaluated batch. */
typedef struct duet_kernel_time {
	const char *name;  /* "l3.qkv" */
	double start_us;   /* from the start of the batch */
	double us;
} duet_kernel_time;

/* Writes up to cap kernel times of the last batch (Vulkan device opened
 * with profile) and returns how many there are; 0 otherwise. */
DUET_API uint32_t duet_context_kernel_times(duet_context *c,
					    duet_kernel_time *out, uint32_t cap);

/* Forgets every position from n_past on (speculative rollback, or a new
 * prompt sharing a prefix); n_past above the current count is clamped.
 * Not thread-safe for one context. */
DUET_API void duet_context_truncate(duet_context *c, uint32_t n_past);

/* Returns the number of positions evaluated and kept. Safe to call when
 * no eval or truncate of c runs at the same time. */
DUET_API uint32_t duet_context_n_past(const duet_context *c);

/* Returns the context size in positions (fixed at creation). Thread-safe. */
DUET_API uint32_t duet_context_n_ctx(const duet_context *c);

/* ---- sampling ------------------------------------------------------- */

/* The chain is llama.cpp's: repetition penalty, top-k, top-p, min-p,
 * temperature, then a draw. Zero for every field means greedy decoding. */
typedef struct duet_sampler_params {
	float temperature;     /* <= 0: greedy (the largest logit wins) */
	int32_t top_k;         /* <= 0: off */
	float top_p;           /* <= 0 or >= 1: off */
	float min_p;           /* <= 0: off */
	float repeat_penalty;  /* 0 or 1: off; > 1 discourages repeats */
	int32_t repeat_last_n; /* history the penalty looks at; 0: 64 */
	uint64_t seed;         /* the draws are a function of this seed */
} duet_sampler_params;

/* Creates a sampler; DUET_E_INVAL for a negative penalty or a NaN.
 * Thread-safe; the sampler itself is not. */
DUET_API duet_status duet_sampler_create(const duet_sampler_params *p,
					 duet_sampler **out);

/* Frees the sampler. Not thread-safe with other uses of s. */
DUET_API void duet_sampler_destroy(duet_sampler *s);

/* Picks the next token from n_vocab logits (not modified) and writes it to
 * *token. The same seed, history and logits always give the same token.
 * DUET_E_INVAL for n_vocab 0 or logits that are all NaN. Not thread-safe. */
DUET_API duet_status duet_sampler_sample(duet_sampler *s, const float *logits,
					 uint32_t n_vocab, int32_t *token);

/* Appends token to the history the repetition penalty looks at (prompt
 * tokens and chosen tokens alike). Not thread-safe. */
DUET_API void duet_sampler_accept(duet_sampler *s, int32_t token);

/* Clears the history and restarts the random sequence from the seed.
 * Not thread-safe. */
DUET_API void duet_sampler_reset(duet_sampler *s);

/* ---- the runtime: two models, many sessions -------------------------------- */

/* What an app holds: the LLM and (optionally) the SLM loaded once, one
 * Vulkan device, an optional shared KV pool, and a scheduler per executing
 * resource that gives turns (one forward pass each) to the sessions'
 * contexts by priority. Sessions are used from any threads, one thread per
 * session at a time; everything else of the runtime is thread-safe. */
typedef struct duet_runtime duet_runtime;

typedef struct duet_runtime_options {
	const char *llm_path;      /* required */
	const char *slm_path;      /* NULL: modes llm only */
	duet_backend backend;      /* for the LLM; 0: auto */
	duet_backend slm_backend;  /* for the SLM; 0: as the LLM's. The CPU
				      here runs the SLM beside an LLM on the
				      GPU, each with its own turns */
	uint32_t device;           /* as duet_device_options.device */
	const char *cache_dir;     /* pipeline cache folder (Android: the
				      app's cache dir); NULL: $XDG_CACHE_HOME
				      /duet; "": not persisted */
	uint64_t kv_pool_bytes;    /* sessions' caches from one pool of this
				      size (LLM and SLM alike); 0: each its
				      own cache */
	uint32_t n_threads;        /* CPU threads per context; 0: default */
	duet_kv_type kv_type;      /* both models' caches; 0: f16 */
	uint32_t prefill_chunk;    /* tokens per turn in a prompt; 0: 64 */
	double starve_ms;          /* most a session waits behind an active
				      higher-priority one; 0: 200 */
	uint32_t decode_batch;     /* continuous batching: the decode steps
				      of up to this many sessions of one
				      model (modes llm and slm) run as one
				      forward pass on the CPU executor, the
				      tokens unchanged (2 .. 64; 0 or 1:
				      each session alone) */
	double batch_wait_ms;      /* most a decode step waits for the
				      other sessions' steps; 0: 2 */
} duet_runtime_options;

/* Loads the models and opens the device. On DUET_OK the caller frees *out
 * with duet_runtime_destroy() after closing every session. Errors: those
 * of duet_model_load, duet_device_open, duet_kv_pool_create, and
 * duet_models_check_pair for the pair. */
DUET_API duet_status duet_runtime_create(const duet_runtime_options *o,
					 duet_runtime **out);

/* Frees rt; NULL: no-op. */
DUET_API void duet_runtime_destroy(duet_runtime *rt);

/* The LLM or (slm true) the SLM of rt, or NULL; owned by rt. */
DUET_API duet_model *duet_runtime_model(duet_runtime *rt, bool slm);

/* Turns the schedulers gave (one forward pass each), summed over the
 * device's and the CPU's, by duet_priority; and the KV pool's figures. */
typedef struct duet_runtime_stats {
	uint64_t turns[3];
	double wait_ms[3];    /* time spent waiting for those turns */
	uint64_t starved;     /* turns given past the starvation limit */
	bool has_kv_pool;     /* kv_pool_bytes was set: kv holds its figures */
	duet_kv_stats kv;
	uint64_t batch_passes; /* decode_batch: forward passes of decode steps */
	uint64_t batch_steps;  /* and the steps they held (both models) */
} duet_runtime_stats;

/* Fills *st. Thread-safe. */
DUET_API void duet_runtime_get_stats(duet_runtime *rt, duet_runtime_stats *st);

typedef enum duet_mode {
	DUET_MODE_LLM = 0,     /* the LLM alone */
	DUET_MODE_SLM = 1,     /* the SLM alone */
	DUET_MODE_SPEC = 2,    /* speculative decoding (the LLM's output) */
	DUET_MODE_CASCADE = 3, /* the SLM while confident, else the LLM */
} duet_mode;

typedef struct duet_session_options {
	duet_mode mode;
	duet_priority priority;   /* turns and KV pages; 0: background */
	uint32_t n_ctx;           /* 0: min(training context, 4096) */
	duet_sampler_params sampling; /* temperature 0: greedy. spec and
				     cascade use its temperature and seed only */
	uint32_t draft_max;       /* spec: 0: 8 */
	duet_cascade_params cascade;
	bool ignore_eog;          /* go on past end-of-generation tokens */
} duet_session_options;

typedef struct duet_session duet_session;

/* Called with each generated token: its id, its text (len bytes, whole
 * UTF-8 characters: bytes of a split character come with the token that
 * completes it; not NUL-terminated, valid during the call) and its model.
 * Returns false to stop generating. Called on the generating thread. */
typedef bool (*duet_token_fn)(void *user, int32_t token, const char *text,
			      size_t len, duet_source src);

/* Opens a session (its contexts; nothing is evaluated yet). Errors:
 * DUET_E_INVAL (a mode that needs the SLM without one, bad parameters),
 * those of duet_context_create. Thread-safe. */
DUET_API duet_status duet_session_open(duet_runtime *rt, const duet_session_options *o,
				       duet_session **out);

/* Generates from prompt (text; BOS added as the model asks; apply a chat
 * template first with duet_chat_tokenize for chat models, passing the ids
 * to duet_session_generate_ids) up to max_tokens tokens, or until an
 * end-of-generation token, calling cb for each. Every call starts from an
 * empty context (give the whole conversation). Returns DUET_OK when done
 * (also when cb returned false or the context filled up),
 * DUET_E_CANCELED after duet_session_cancel(), else an evaluation error.
 * Blocks; not thread-safe for one session. */
DUET_API duet_status duet_session_generate(duet_session *s, const char *prompt,
					   uint32_t max_tokens, duet_token_fn cb,
					   void *user);

/* As duet_session_generate, from token ids. */
DUET_API duet_status duet_session_generate_ids(duet_session *s, const int32_t *prompt,
					       uint32_t n, uint32_t max_tokens,
					       duet_token_fn cb, void *user);

/* Asks the session's generation (running now, or the next one) to stop
 * at its next token; it returns DUET_E_CANCELED. Thread-safe. */
DUET_API void duet_session_cancel(duet_session *s);

typedef struct duet_session_stats {
	uint64_t tokens;       /* generated by the last generate */
	uint64_t slm_tokens;   /* of them, by the SLM */
	uint64_t llm_passes;   /* LLM forward passes it took */
	double prompt_ms, gen_ms;
} duet_session_stats;

DUET_API void duet_session_get_stats(const duet_session *s, duet_session_stats *st);

/* Closes s (not while it generates); NULL: no-op. */
DUET_API void duet_session_close(duet_session *s);

#ifdef __cplusplus
}
#endif

#endif /* DUET_DUET_H */
