/* Byte-level BPE pre-tokenizers: split text into words before merging, as
 * llama.cpp does for each `tokenizer.ggml.pre` value. A pre-tokenizer is a
 * list of regexes applied in turn, each splitting every piece the previous
 * one produced (matches and the text between matches both become pieces).
 * The GPT-2 and Llama-3 patterns run as hand-written splitters, the others
 * through the regex engine on collapsed or wide code points (regex.h),
 * exactly where llama.cpp uses std::regex. */
#ifndef DUET_RUNTIME_PRETOK_H
#define DUET_RUNTIME_PRETOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "duet/status.h"

typedef struct duet_pretok duet_pretok;

/* Vocabulary flags that depend on the pre-tokenizer type. */
typedef struct duet_pretok_info {
	const char *name;   /* canonical name used ("llama3", "default", ...) */
	bool known;         /* false: unrecognised value, fell back to default */
	bool ignore_merges; /* a word that is a token is taken whole */
	bool add_bos;       /* BOS is added unless the file says otherwise */
	bool clean_spaces;  /* detokenizing removes " ," etc. */
	bool no_bos;        /* the type has no BOS (chatglm) */
} duet_pretok_info;

/* Creates the pre-tokenizer for the GGUF value pre (NULL or "" counts as
 * unrecognised). Unrecognised values fall back to "default" (info->known is
 * false, for the caller to report once). Types llama.cpp knows but duet does
 * not implement give DUET_E_UNSUPPORTED naming them. Thread-safe. */
duet_status duet_pretok_create(const char *pre, duet_pretok **out,
			       duet_pretok_info *info);

void duet_pretok_destroy(duet_pretok *p);

/* Splits the n code points at cps into words. On DUET_OK *lens is a new
 * malloc'd array (caller frees) of *n_words word lengths in code points
 * that add up to n. The pre-tokenizer is read-only here: thread-safe. */
duet_status duet_pretok_split(const duet_pretok *p, const uint32_t *cps,
			      size_t n, size_t **lens, size_t *n_words);

#endif
