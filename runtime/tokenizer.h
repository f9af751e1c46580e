/* The model's tokenizer, read from GGUF (tokenizer.ggml.*), producing the
 * same ids as llama.cpp for the same text:
 *   - SentencePiece-style ("llama"): score-driven merges over characters,
 *     a leading space, byte fallback <0xNN>;
 *   - byte-level BPE ("gpt2"): a pre-tokenizer chosen by tokenizer.ggml.pre
 *     (pretok.h), then ranked merges over GPT-2's byte-to-unicode mapping.
 * User-defined tokens are always cut out of the text first; control tokens
 * only when asked (parse_special). Token types are adjusted the way
 * llama.cpp adjusts them (end-of-turn and FIM tokens become control tokens,
 * phi-3's special tokens strip whitespace to their right).
 *
 * A vocabulary is read-only after duet_vocab_init(): all functions taking a
 * const duet_vocab are thread-safe. */
#ifndef DUET_RUNTIME_TOKENIZER_H
#define DUET_RUNTIME_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "gguf.h"
#include "pretok.h"
#include "strmap.h"

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

/* Per-token attributes (bits), derived from the type. */
enum {
	DUET_ATTR_UNDEFINED = 0,
	DUET_ATTR_UNKNOWN = 1 << 0,
	DUET_ATTR_UNUSED = 1 << 1,
	DUET_ATTR_NORMAL = 1 << 2,
	DUET_ATTR_CONTROL = 1 << 3,
	DUET_ATTR_USER_DEFINED = 1 << 4,
	DUET_ATTR_BYTE = 1 << 5,
	DUET_ATTR_LSTRIP = 1 << 7, /* strip whitespace to the token's left */
	DUET_ATTR_RSTRIP = 1 << 8, /* strip whitespace to the token's right */
};

typedef struct duet_vocab {
	duet_vocab_kind kind;
	uint32_t n_tokens;
	const char **text;    /* [n_tokens] token texts */
	uint32_t *text_len;   /* [n_tokens] */
	uint16_t *attr;       /* [n_tokens] DUET_ATTR_* */
	const float *scores;  /* [n_tokens] or NULL */
	int32_t bos, eos, eot, eom, unk; /* -1 when absent */
	bool add_bos, add_eos, add_space_prefix, clean_spaces, ignore_merges;
	bool spm_words;       /* no piece has U+2581 after another character */
	uint8_t *eog;         /* [n_tokens] 1: ends generation */
	int32_t *special;     /* control/user-defined/unknown ids, longest first */
	uint32_t n_special;
	duet_strmap token_ids; /* text -> id (a later duplicate wins) */
	duet_strmap merges;    /* "left right" -> rank (BPE; first wins) */
	duet_pretok *pretok;   /* BPE */
	duet_pretok_info pre;
	duet_status pre_status; /* DUET_E_UNSUPPORTED: tokenizing fails */
	char pre_error[256];
	char warning[256];      /* "" or a note to show the user once */
	duet_arena arena;
} duet_vocab;

/* Reads the vocabulary from g (which must outlive v; release with
 * duet_vocab_finish). A file without tokenizer.ggml.tokens gives kind NONE
 * and DUET_OK. Errors: DUET_E_CORRUPT (wrong array types or lengths),
 * DUET_E_UNSUPPORTED (an unknown tokenizer model), DUET_E_NOMEM. */
duet_status duet_vocab_init(duet_vocab *v, const duet_gguf *g);

void duet_vocab_finish(duet_vocab *v);

/* A growable list of token ids (zero-initialise; free ids when done). */
typedef struct duet_tokens {
	int32_t *ids;
	size_t n, cap;
} duet_tokens;

/* Appends id; DUET_E_NOMEM. */
duet_status duet_tokens_push(duet_tokens *t, int32_t id);

/* Tokenizes len bytes of text (any bytes: invalid UTF-8 is handled as
 * llama.cpp does) and appends the ids to out. add_special adds BOS/EOS as
 * the vocabulary asks; parse_special also turns control-token texts into
 * their ids. Errors: DUET_E_UNSUPPORTED (no tokenizer, or an unsupported
 * pre-tokenizer), DUET_E_NOMEM. */
duet_status duet_vocab_tokenize(const duet_vocab *v, const char *text, size_t len,
				bool add_special, bool parse_special, duet_tokens *out);

/* As duet_vocab_tokenize, but control-token texts that overlap one of the
 * n_ranges byte ranges (message contents of a rendered chat) stay text
 * even with parse_special. */
duet_status duet_vocab_tokenize_protected(const duet_vocab *v, const char *text,
					  size_t len, bool add_special,
					  bool parse_special,
					  const size_t (*ranges)[2], size_t n_ranges,
					  duet_tokens *out);

/* Writes the bytes token decodes to into buf (cap bytes) and their count to
 * *len, like llama.cpp's token_to_piece: control/unknown tokens give nothing
 * unless special; lstrip skips up to that many leading spaces. DUET_E_RANGE
 * when cap is too small (*len says how much is needed), DUET_E_INVAL for an
 * id outside the vocabulary. */
duet_status duet_vocab_token_piece(const duet_vocab *v, int32_t token, bool special,
				   int lstrip, char *buf, size_t cap, size_t *len);

/* Decodes ids into a new malloc'd buffer (*text, NUL-terminated, *len bytes)
 * as llama.cpp's detokenize does: the leading space the tokenizer added is
 * removed, remove_special drops the BOS/EOS it added, unparse_special prints
 * control tokens, and " ." style spaces are cleaned where the vocabulary
 * asks. DUET_E_INVAL for ids outside the vocabulary, DUET_E_NOMEM. */
duet_status duet_vocab_detokenize(const duet_vocab *v, const int32_t *ids, size_t n,
				  bool remove_special, bool unparse_special,
				  char **text, size_t *len);

/* Internal: the two tokenizer algorithms on one text fragment. */
duet_status duet_spm_tokenize(const duet_vocab *v, const char *text, size_t len,
			      duet_tokens *out);
duet_status duet_bpe_tokenize(const duet_vocab *v, const char *text, size_t len,
			      duet_tokens *out);

/* Returns the id of the token whose text is the n bytes at s, or -1. */
int32_t duet_vocab_find(const duet_vocab *v, const char *s, size_t n);

#endif
