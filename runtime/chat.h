/* Chat templates without a Jinja engine: the model's tokenizer.chat_template
 * is recognised by the markers it contains, in llama.cpp's order, and the
 * family's layout is rendered in C. Rendering records which bytes came from
 * message contents, so tokenizing can turn the template's markers into
 * control tokens while the same text typed by a user stays text. */
#ifndef DUET_RUNTIME_CHAT_H
#define DUET_RUNTIME_CHAT_H

#include <stdbool.h>
#include <stddef.h>

#include "duet/duet.h"

/* Returns the family name ("chatml", "llama3", ...) for a template text,
 * "plain" for NULL/empty (a model without a template), or NULL when the
 * template is not recognised. */
const char *duet_chat_detect(const char *tmpl);

/* True when name is a family duet can render. */
bool duet_chat_known(const char *name);

/* A rendered chat: text plus the [start, end) byte ranges that hold message
 * contents (malloc'd; free with duet_chat_text_free). */
typedef struct duet_chat_text {
	char *text;
	size_t len;
	size_t (*content)[2];
	size_t n_content;
} duet_chat_text;

/* Renders msgs in family name, appending the assistant prefix when
 * add_assistant. DUET_E_INVAL for an unknown family, DUET_E_NOMEM. */
duet_status duet_chat_render(const char *name, const duet_chat_message *msgs,
			     size_t n, bool add_assistant, duet_chat_text *out);

void duet_chat_text_free(duet_chat_text *t);

#endif
