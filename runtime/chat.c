/* Chat template families (see chat.h). Detection follows llama.cpp's
 * llm_chat_detect_template order; each renderer lays out the messages the
 * way that family's Jinja template does. */
#include "chat.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

static const char *const families[] = {
	"plain", "chatml", "phi4", "llama2", "llama2-sys", "llama2-sys-bos",
	"llama2-sys-strip", "mistral-v1", "mistral-v3", "mistral-v3-tekken",
	"mistral-v7", "mistral-v7-tekken", "phi3", "falcon3", "zephyr", "monarch",
	"gemma", "orion", "openchat", "vicuna", "vicuna-orca", "deepseek",
	"deepseek2", "deepseek3", "command-r", "llama3", NULL,
};

bool duet_chat_known(const char *name)
{
	for (const char *const *f = families; name && *f; f++)
		if (strcmp(*f, name) == 0)
			return true;
	return false;
}

#define DEEPSEEK_END "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>"
#define DEEPSEEK_USER "<\xef\xbd\x9cUser\xef\xbd\x9c>"
#define DEEPSEEK_ASSISTANT "<\xef\xbd\x9c" "Assistant\xef\xbd\x9c>"

const char *duet_chat_detect(const char *t)
{
	if (!t || !t[0])
		return "plain";
	if (duet_chat_known(t)) /* a family name given as the template */
		return t;
#define HAS(s) (strstr(t, (s)) != NULL)
	if (HAS("<|im_start|>"))
		return HAS("<|im_sep|>") ? "phi4" : HAS("<end_of_utterance>") ? NULL : "chatml";
	if (strncmp(t, "mistral", 7) == 0 || HAS("[INST]")) {
		if (HAS("[SYSTEM_PROMPT]"))
			return "mistral-v7";
		if (HAS("' [INST] ' + system_message") || HAS("[AVAILABLE_TOOLS]"))
			return HAS(" [INST]") ? "mistral-v1"
			       : HAS("\"[INST]\"") ? "mistral-v3-tekken" : "mistral-v3";
		return HAS("content.strip()") ? "llama2-sys-strip"
		       : HAS("bos_token + '[INST]") ? "llama2-sys-bos"
		       : HAS("<<SYS>>") ? "llama2-sys" : "llama2";
	}
	if (HAS("<|assistant|>") && HAS("<|end|>"))
		return "phi3";
	if (HAS("[gMASK]<sop>"))
		return NULL; /* chatglm4: not rendered by duet */
	if (HAS("<|assistant|>") && HAS("<|user|>"))
		return HAS("<|tool_declare|>") ? NULL : HAS("</s>") ? "falcon3" : NULL;
	if (HAS("<|user|>") && HAS("<|endoftext|>"))
		return "zephyr";
	if (HAS("bos_token + message['role']"))
		return "monarch";
	if (HAS("<start_of_turn>"))
		return "gemma";
	if (HAS("'\\n\\nAssistant: ' + eos_token"))
		return "orion";
	if (HAS("GPT4 Correct "))
		return "openchat";
	if (HAS("USER: ") && HAS("ASSISTANT: "))
		return HAS("SYSTEM: ") ? "vicuna-orca" : "vicuna";
	if (HAS("### Instruction:") && HAS("<|EOT|>"))
		return "deepseek";
	if (HAS("<|START_OF_TURN_TOKEN|>") && HAS("<|USER_TOKEN|>"))
		return "command-r";
	if (HAS("<|start_header_id|>") && HAS("<|end_header_id|>"))
		return "llama3";
	if (HAS("'Assistant: ' + message['content'] + eos_token"))
		return "deepseek2";
	if (HAS(DEEPSEEK_ASSISTANT) && HAS(DEEPSEEK_USER) && HAS(DEEPSEEK_END))
		return "deepseek3";
#undef HAS
	return NULL;
}

/* ---- rendering ------------------------------------------------------------ */

typedef struct out {
	duet_chat_text *t;
	size_t cap, cap_ranges;
	bool failed;
} out;

static void lit(out *o, const char *s, size_t n)
{
	duet_chat_text *t = o->t;
	if (o->failed)
		return;
	if (t->len + n + 1 > o->cap) {
		size_t cap = 2 * (t->len + n + 1) + 64;
		char *p = realloc(t->text, cap);
		if (!p) {
			o->failed = true;
			return;
		}
		t->text = p;
		o->cap = cap;
	}
	memcpy(t->text + t->len, s, n);
	t->len += n;
	t->text[t->len] = '\0';
}

static void L(out *o, const char *s)
{
	lit(o, s, strlen(s));
}

/* Message content, optionally trimmed of ASCII whitespace at both ends. */
static void content(out *o, const char *s, bool trim)
{
	size_t a = 0, b = strlen(s);
	while (trim && a < b && isspace((unsigned char)s[a]))
		a++;
	while (trim && b > a && isspace((unsigned char)s[b - 1]))
		b--;
	size_t start = o->t->len;
	lit(o, s + a, b - a);
	duet_chat_text *t = o->t;
	if (o->failed || b == a)
		return;
	if (t->n_content == o->cap_ranges) {
		size_t cap = o->cap_ranges ? 2 * o->cap_ranges : 8;
		size_t (*r)[2] = realloc(t->content, cap * sizeof *r);
		if (!r) {
			o->failed = true;
			return;
		}
		t->content = r;
		o->cap_ranges = cap;
	}
	t->content[t->n_content][0] = start;
	t->content[t->n_content][1] = t->len;
	t->n_content++;
}

static bool is(const char *role, const char *r)
{
	return strcmp(role, r) == 0;
}

static void render_plain(out *o, const duet_chat_message *m, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (i)
			L(o, "\n\n");
		content(o, m[i].content, false);
	}
}

static void render_markers(out *o, const char *name, const duet_chat_message *m,
			   size_t n, bool add)
{
	bool phi4 = is(name, "phi4");
	for (size_t i = 0; i < n; i++) {
		const char *r = m[i].role;
		if (is(name, "chatml") || phi4) {
			L(o, "<|im_start|>"), L(o, r), L(o, phi4 ? "<|im_sep|>" : "\n");
			content(o, m[i].content, false), L(o, phi4 ? "<|im_end|>" : "<|im_end|>\n");
		} else if (is(name, "phi3")) {
			L(o, "<|"), L(o, r), L(o, "|>\n"), content(o, m[i].content, false);
			L(o, "<|end|>\n");
		} else if (is(name, "falcon3")) {
			L(o, "<|"), L(o, r), L(o, "|>\n"), content(o, m[i].content, false), L(o, "\n");
		} else if (is(name, "zephyr")) {
			L(o, "<|"), L(o, r), L(o, "|>\n"), content(o, m[i].content, false);
			L(o, "<|endoftext|>\n");
		} else if (is(name, "monarch")) {
			L(o, i ? "<s>" : ""), L(o, r), L(o, "\n"), content(o, m[i].content, false);
			L(o, "</s>\n");
		} else if (is(name, "llama3")) {
			L(o, "<|start_header_id|>"), L(o, r), L(o, "<|end_header_id|>\n\n");
			content(o, m[i].content, true), L(o, "<|eot_id|>");
		}
	}
	if (!add)
		return;
	if (is(name, "chatml"))
		L(o, "<|im_start|>assistant\n");
	else if (phi4)
		L(o, "<|im_start|>assistant<|im_sep|>");
	else if (is(name, "phi3") || is(name, "falcon3") || is(name, "zephyr"))
		L(o, "<|assistant|>\n");
	else if (is(name, "monarch"))
		L(o, "<s>assistant\n");
	else if (is(name, "llama3"))
		L(o, "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

static void render_llama2(out *o, const char *name, const duet_chat_message *m, size_t n)
{
	bool sys = !is(name, "llama2"), bos = is(name, "llama2-sys-bos");
	bool strip = is(name, "llama2-sys-strip"), inside = true;
	L(o, "[INST] ");
	for (size_t i = 0; i < n; i++) {
		if (!inside) {
			inside = true;
			L(o, bos ? "<s>[INST] " : "[INST] ");
		}
		if (is(m[i].role, "system")) {
			L(o, sys ? "<<SYS>>\n" : ""), content(o, m[i].content, strip);
			L(o, sys ? "\n<</SYS>>\n\n" : "\n");
		} else if (is(m[i].role, "user")) {
			content(o, m[i].content, strip), L(o, " [/INST]");
		} else {
			content(o, m[i].content, strip), L(o, "</s>");
			inside = false;
		}
	}
}

static void render_mistral(out *o, const char *name, const duet_chat_message *m, size_t n)
{
	if (strncmp(name, "mistral-v7", 10) == 0) {
		const char *sp = is(name, "mistral-v7") ? " " : "";
		for (size_t i = 0; i < n; i++) {
			if (is(m[i].role, "system"))
				L(o, "[SYSTEM_PROMPT]"), L(o, sp), content(o, m[i].content, false),
					L(o, "[/SYSTEM_PROMPT]");
			else if (is(m[i].role, "user"))
				L(o, "[INST]"), L(o, sp), content(o, m[i].content, false), L(o, "[/INST]");
			else
				L(o, sp), content(o, m[i].content, false), L(o, "</s>");
		}
		return;
	}
	const char *lead = is(name, "mistral-v1") ? " " : "";
	const char *trail = is(name, "mistral-v3-tekken") ? "" : " ";
	bool trim = is(name, "mistral-v3"), inside = false;
	for (size_t i = 0; i < n; i++) {
		if (!inside) {
			L(o, lead), L(o, "[INST]"), L(o, trail);
			inside = true;
		}
		if (is(m[i].role, "system")) {
			content(o, m[i].content, false), L(o, "\n\n");
		} else if (is(m[i].role, "user")) {
			content(o, m[i].content, false), L(o, lead), L(o, "[/INST]");
		} else {
			L(o, trail), content(o, m[i].content, trim), L(o, "</s>");
			inside = false;
		}
	}
}

/* Families that fold the system prompt into the first user turn. */
static void render_gemma_orion(out *o, const char *name, const duet_chat_message *m,
			       size_t n, bool add)
{
	bool gemma = is(name, "gemma");
	const char *sys = NULL;
	for (size_t i = 0; i < n; i++) {
		const char *r = m[i].role;
		if (is(r, "system")) {
			sys = m[i].content;
			continue;
		}
		if (gemma) {
			bool model = is(r, "assistant");
			L(o, "<start_of_turn>"), L(o, model ? "model" : r), L(o, "\n");
			if (sys && !model) {
				content(o, sys, true), L(o, "\n\n");
				sys = NULL;
			}
			content(o, m[i].content, true), L(o, "<end_of_turn>\n");
		} else if (is(r, "user")) {
			L(o, "Human: ");
			if (sys) {
				content(o, sys, false), L(o, "\n\n");
				sys = NULL;
			}
			content(o, m[i].content, false), L(o, "\n\nAssistant: </s>");
		} else {
			content(o, m[i].content, false), L(o, "</s>");
		}
	}
	if (add && gemma)
		L(o, "<start_of_turn>model\n");
}

static void render_prefixed(out *o, const char *name, const duet_chat_message *m,
			    size_t n, bool add)
{
	for (size_t i = 0; i < n; i++) {
		const char *r = m[i].role, *c = m[i].content;
		bool sys = is(r, "system"), user = is(r, "user");
		if (is(name, "openchat")) {
			if (sys) {
				content(o, c, false), L(o, "<|end_of_turn|>");
			} else {
				char cap[64];
				snprintf(cap, sizeof cap, "%s", r);
				cap[0] = (char)toupper((unsigned char)cap[0]);
				L(o, "GPT4 Correct "), L(o, cap), L(o, ": "), content(o, c, false);
				L(o, "<|end_of_turn|>");
			}
		} else if (is(name, "vicuna") || is(name, "vicuna-orca")) {
			bool orca = is(name, "vicuna-orca");
			if (sys)
				L(o, orca ? "SYSTEM: " : ""), content(o, c, false), L(o, orca ? "\n" : "\n\n");
			else if (user)
				L(o, "USER: "), content(o, c, false), L(o, "\n");
			else if (is(r, "assistant"))
				L(o, "ASSISTANT: "), content(o, c, false), L(o, "</s>\n");
		} else if (is(name, "deepseek")) {
			if (sys)
				content(o, c, false);
			else if (user)
				L(o, "### Instruction:\n"), content(o, c, false), L(o, "\n");
			else if (is(r, "assistant"))
				L(o, "### Response:\n"), content(o, c, false), L(o, "\n<|EOT|>\n");
		} else if (is(name, "deepseek2")) {
			if (sys)
				content(o, c, false), L(o, "\n\n");
			else if (user)
				L(o, "User: "), content(o, c, false), L(o, "\n\n");
			else if (is(r, "assistant"))
				L(o, "Assistant: "), content(o, c, false), L(o, DEEPSEEK_END);
		} else if (is(name, "deepseek3")) {
			if (sys)
				content(o, c, false), L(o, "\n\n");
			else if (user)
				L(o, DEEPSEEK_USER), content(o, c, false);
			else if (is(r, "assistant"))
				L(o, DEEPSEEK_ASSISTANT), content(o, c, false), L(o, DEEPSEEK_END);
		} else if (is(name, "command-r")) {
			const char *who = sys ? "<|SYSTEM_TOKEN|>" : user ? "<|USER_TOKEN|>"
				       : is(r, "assistant") ? "<|CHATBOT_TOKEN|>" : NULL;
			if (who)
				L(o, "<|START_OF_TURN_TOKEN|>"), L(o, who), content(o, c, true),
					L(o, "<|END_OF_TURN_TOKEN|>");
		}
	}
	if (!add)
		return;
	if (is(name, "openchat"))
		L(o, "GPT4 Correct Assistant:");
	else if (is(name, "vicuna") || is(name, "vicuna-orca"))
		L(o, "ASSISTANT:");
	else if (is(name, "deepseek"))
		L(o, "### Response:\n");
	else if (is(name, "deepseek2"))
		L(o, "Assistant:");
	else if (is(name, "deepseek3"))
		L(o, DEEPSEEK_ASSISTANT);
	else if (is(name, "command-r"))
		L(o, "<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>");
}

duet_status duet_chat_render(const char *name, const duet_chat_message *msgs,
			     size_t n, bool add_assistant, duet_chat_text *t)
{
	memset(t, 0, sizeof *t);
	if (!duet_chat_known(name))
		return DUET_ERR(DUET_E_INVAL, "unknown chat template family '%s'",
				name ? name : "(null)");
	for (size_t i = 0; i < n; i++)
		if (!msgs[i].role || !msgs[i].content)
			return DUET_ERR(DUET_E_INVAL, "chat message %zu has no role or content", i);
	out o = { .t = t };
	L(&o, "");
	if (is(name, "plain"))
		render_plain(&o, msgs, n);
	else if (strncmp(name, "llama2", 6) == 0)
		render_llama2(&o, name, msgs, n);
	else if (strncmp(name, "mistral", 7) == 0)
		render_mistral(&o, name, msgs, n);
	else if (is(name, "gemma") || is(name, "orion"))
		render_gemma_orion(&o, name, msgs, n, add_assistant);
	else if (is(name, "openchat") || strncmp(name, "vicuna", 6) == 0 ||
		 strncmp(name, "deepseek", 8) == 0 || is(name, "command-r"))
		render_prefixed(&o, name, msgs, n, add_assistant);
	else
		render_markers(&o, name, msgs, n, add_assistant);
	if (o.failed) {
		duet_chat_text_free(t);
		return DUET_ERR(DUET_E_NOMEM, "out of memory rendering the chat");
	}
	return DUET_OK;
}

void duet_chat_text_free(duet_chat_text *t)
{
	free(t->text);
	free(t->content);
	memset(t, 0, sizeof *t);
}
