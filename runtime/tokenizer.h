/* The model's vocabulary as GGUF stores it (tokenizer.ggml.*): token
 * texts, types and scores, the special ids, and decoding ids to bytes.
 * Encoding text (SentencePiece and byte-level BPE) builds on this. */
#ifndef DUET_RUNTIME_TOKENIZER_H
#define DUET_RUNTIME_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gguf.h"

typedef enum duet_vocab_kind {
	DUET_VOCAB_NONE = 0, /* the file has no tokenizer: ids only */
	DUET_VOCAB_SPM = 1,  /* tokenizer.ggml.model = "llama" */
	DUET_VOCAB_BPE = 2,  /* tokenizer.ggml.model = "gpt2" */
} duet_vocab_kind;

/* tokenizer.ggml.token_type values */
enum {
	DUET_TOKEN_NORMAL = 1,
	DUET_TOKEN_UNKNOWN = 2,
	DUET_TOKEN_CONTROL = 3,
	DUET_TOKEN_USER_DEFINED = 4,
	DUET_TOKEN_UNUSED = 5,
	DUET_TOKEN_BYTE = 6,
};

typedef struct duet_vocab {
	duet_vocab_kind kind;
	uint32_t n_tokens;
	const duet_gguf_str *tokens; /* [n_tokens], owned by the GGUF handle */
	const int32_t *types;        /* [n_tokens] or NULL (all normal) */
	const float *scores;         /* [n_tokens] or NULL */
	int32_t bos, eos, eot, unk;  /* -1 when absent */
	bool add_bos, add_eos;
} duet_vocab;

/* Reads the vocabulary from g (which must outlive v). A file without
 * tokenizer.ggml.tokens gives kind NONE and DUET_OK. Errors: DUET_E_CORRUPT
 * (arrays of the wrong type or length, special ids out of range),
 * DUET_E_UNSUPPORTED (an unknown tokenizer model). Thread-safe. */
duet_status duet_vocab_init(duet_vocab *v, const duet_gguf *g);

/* Writes the bytes token decodes to into buf (see duet_model_token_bytes
 * in duet/duet.h for the rules and errors). Thread-safe. */
duet_status duet_vocab_token_bytes(const duet_vocab *v, int32_t token,
				   char *buf, size_t cap, size_t *len);

/* Returns the token's type (DUET_TOKEN_NORMAL when the file has none). */
int32_t duet_vocab_type(const duet_vocab *v, int32_t token);

#endif
