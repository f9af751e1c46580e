/* Deterministic synthetic models: random weights from a seed, written as a
 * GGUF file that llama.cpp would also load. Tests and benchmarks generate
 * the models they need with this (and `duet mkmodel`) instead of shipping
 * weights. The same options always give a byte-identical file. */
#ifndef DUET_RUNTIME_SYNTH_H
#define DUET_RUNTIME_SYNTH_H

#include <stdbool.h>
#include <stdint.h>

#include "duet/status.h"

typedef struct duet_synth_options {
	const char *arch;       /* "llama" or "qwen2" */
	uint32_t dim;           /* embedding length */
	uint32_t layers;
	uint32_t heads;
	uint32_t kv_heads;      /* 0: = heads */
	uint32_t ff;            /* feed-forward length */
	uint32_t vocab;         /* synthetic vocabulary size (>= 259) ... */
	const char *vocab_path; /* ... or copy tokenizer.* from this GGUF */
	const char *type;       /* weight type name: f32, q4_0, q4_k_m, ... */
	uint64_t seed;
	bool tied;              /* no output.weight: reuse the embeddings */
	uint32_t ctx;           /* context_length; 0: 2048 */
	float rope_base;        /* 0: 10000 */
	const char *name;       /* general.name; NULL: "duet-synth" */
} duet_synth_options;

/* Writes the model to path. Errors: DUET_E_INVAL (a size or type that
 * cannot form a model, named in the message), DUET_E_IO, DUET_E_NOMEM,
 * and the reader's errors for vocab_path. Thread-safe. */
duet_status duet_synth_model(const duet_synth_options *o, const char *path);

#endif
