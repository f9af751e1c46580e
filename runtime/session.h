/* Inside the public API: what a duet_model is (GGUF + description +
 * vocabulary), shared by session.c (models, tokenizers) and context.c. */
#ifndef DUET_RUNTIME_SESSION_H
#define DUET_RUNTIME_SESSION_H

#include "duet/duet.h"
#include "gguf.h"
#include "model.h"
#include "weights.h"
#include "tokenizer.h"

struct duet_model {
	duet_gguf *gguf;
	duet_model_desc desc;
	duet_vocab vocab;
	const char *name;
	bool vocab_only;
	duet_weights *weights;    /* residency under a memory budget */
	duet_weights_opts wopts;  /* how it was planned (context.c replans) */
	char *path;
	bool in_use;              /* a context holds a streamed model */
};

#endif
