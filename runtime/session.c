/* The public API's glue for models: GGUF + description + vocabulary,
 * tokenizing, chat templates, streaming output. Contexts: context.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat.h"
#include "error.h"
#include "session.h"
#include "unicode.h"

const char *duet_version(void)
{
	return "0.1.0";
}

duet_status duet_model_load(const char *path, const duet_model_options *opts,
			    duet_model **out)
{
	*out = NULL;
	duet_model *m = calloc(1, sizeof *m);
	if (!m)
		return DUET_ERR(DUET_E_NOMEM, "out of memory");
	duet_status s = duet_gguf_open(path, &m->gguf);
	if (s != DUET_OK) {
		free(m);
		return s;
	}
	m->vocab_only = opts && opts->vocab_only;
	if ((!m->vocab_only && (s = duet_model_desc_init(&m->desc, m->gguf)) != DUET_OK) ||
	    (s = duet_vocab_init(&m->vocab, m->gguf)) != DUET_OK) {
		duet_error_wrap(s, "%s", path);
		duet_model_destroy(m);
		return s;
	}
	if (m->vocab_only && m->vocab.kind == DUET_VOCAB_NONE) {
		s = DUET_ERR(DUET_E_CORRUPT, "%s: no tokenizer.ggml.tokens", path);
		duet_model_destroy(m);
		return s;
	}
	if (!m->vocab_only && m->vocab.kind != DUET_VOCAB_NONE &&
	    m->vocab.n_tokens != m->desc.hp.n_vocab) {
		s = DUET_ERR(DUET_E_CORRUPT,
			     "%s: tokenizer has %u tokens but the model's "
			     "vocabulary is %u", path, m->vocab.n_tokens,
			     m->desc.hp.n_vocab);
		duet_model_destroy(m);
		return s;
	}
	m->name = "";
	duet_gguf_get_str(m->gguf, "general.name", &m->name);
	if (!m->vocab_only) {
		duet_weights_opts wo = { .budget = opts ? opts->mem_budget : 0,
					 .budget_pct = opts ? opts->mem_budget_pct : 0 };
		if (opts && opts->io && !duet_io_kind_parse(opts->io, &wo.io))
			s = DUET_ERR(DUET_E_INVAL, "unknown reader '%s' (uring, aio, "
				     "pread, mmap)", opts->io);
		else if (!(m->path = strdup(path)))
			s = DUET_ERR(DUET_E_NOMEM, "out of memory");
		else
			s = duet_weights_create(&m->desc, m->gguf, path, &wo, &m->weights);
		m->wopts = wo;
		if (s != DUET_OK) {
			if (!strstr(duet_last_error(), path)) /* named once */
				duet_error_wrap(s, "%s", path);
			duet_model_destroy(m);
			return s;
		}
	}
	*out = m;
	return DUET_OK;
}

void duet_model_stream_stats(const duet_model *m, duet_stream_stats *st)
{
	memset(st, 0, sizeof *st);
	if (!duet_weights_streaming(m->weights))
		return;
	duet_weights_info i;
	duet_weights_get_info(m->weights, &i);
	*st = (duet_stream_stats){
		.mem_budget = i.budget,
		.model_bytes = i.model_bytes,
		.resident_bytes = i.resident_bytes,
		.ring_bytes = i.ring_bytes,
		.resident_layers = i.n_resident_layers,
		.streamed_layers = i.n_streamed_layers,
		.streamed_bytes_per_pass = i.streamed_bytes_per_pass,
		.bytes_read = i.bytes_read,
		.read_busy_s = i.read_busy_s,
		.read_cpu_s = i.read_cpu_s,
		.wait_s = i.wait_s,
	};
	snprintf(st->io, sizeof st->io, "%s", i.io_reason);
}

void duet_model_destroy(duet_model *m)
{
	if (!m)
		return;
	duet_weights_destroy(m->weights); /* restores desc's pointers */
	free(m->path);
	duet_vocab_finish(&m->vocab);
	duet_model_desc_finish(&m->desc);
	duet_gguf_destroy(m->gguf);
	free(m);
}

void duet_model_get_info(const duet_model *m, duet_model_info *out)
{
	const duet_hparams *hp = &m->desc.hp;
	*out = (duet_model_info){
		.arch = hp->arch_name ? hp->arch_name : "",
		.name = m->name,
		.n_vocab = m->vocab_only ? m->vocab.n_tokens : hp->n_vocab,
		.n_embd = hp->n_embd,
		.n_layer = hp->n_layer,
		.n_head = hp->n_head,
		.n_head_kv = hp->n_head_kv,
		.n_ff = hp->n_ff,
		.n_ctx_train = hp->n_ctx_train,
		.n_params = m->desc.n_params,
		.file_bytes = m->gguf->size,
		.bos = m->vocab.bos,
		.eos = m->vocab.eos,
	};
}

duet_status duet_model_token_bytes(const duet_model *m, int32_t token,
				   char *buf, size_t cap, size_t *len)
{
	return duet_vocab_token_piece(&m->vocab, token, false, 0, buf, cap, len);
}

bool duet_model_token_is_eog(const duet_model *m, int32_t token)
{
	return m->vocab.kind != DUET_VOCAB_NONE && token >= 0 &&
	       (uint32_t)token < m->vocab.n_tokens && m->vocab.eog[token];
}

const char *duet_model_warning(const duet_model *m)
{
	return m->vocab.warning;
}

duet_status duet_tokenize(const duet_model *m, const char *text, size_t len,
			  bool add_special, bool parse_special, int32_t *tokens,
			  size_t cap, size_t *n_tokens)
{
	duet_tokens t = { 0 };
	*n_tokens = 0;
	duet_status s = duet_vocab_tokenize(&m->vocab, text, len, add_special,
					    parse_special, &t);
	if (s == DUET_OK) {
		*n_tokens = t.n;
		if (t.n > cap)
			s = DUET_ERR(DUET_E_RANGE, "%zu tokens do not fit in %zu", t.n, cap);
		else if (t.n)
			memcpy(tokens, t.ids, t.n * sizeof *tokens);
	}
	free(t.ids);
	return s;
}

duet_status duet_tokenize_all(const duet_model *m, const char *text, size_t len,
			      bool add_special, bool parse_special, int32_t **tokens,
			      size_t *n_tokens)
{
	duet_tokens t = { 0 };
	*tokens = NULL;
	*n_tokens = 0;
	duet_status s = duet_vocab_tokenize(&m->vocab, text, len, add_special,
					    parse_special, &t);
	if (s != DUET_OK) {
		free(t.ids);
		return s;
	}
	if (!t.n) {
		free(t.ids);
		t.ids = NULL;
	}
	*tokens = t.ids; /* malloc'd by the tokenizer */
	*n_tokens = t.n;
	return DUET_OK;
}

duet_status duet_detokenize(const duet_model *m, const int32_t *tokens, size_t n,
			    bool remove_special, bool unparse_special, char *buf,
			    size_t cap, size_t *len)
{
	char *text;
	duet_status s = duet_vocab_detokenize(&m->vocab, tokens, n, remove_special,
					      unparse_special, &text, len);
	if (s != DUET_OK)
		return s;
	if (*len > cap)
		s = DUET_ERR(DUET_E_RANGE, "%zu bytes do not fit in %zu", *len, cap);
	else if (*len)
		memcpy(buf, text, *len);
	free(text);
	return s;
}

const char *duet_model_chat_template(const duet_model *m)
{
	const char *t = NULL;
	duet_gguf_get_str(m->gguf, "tokenizer.chat_template", &t);
	return duet_chat_detect(t);
}

duet_status duet_chat_tokenize(const duet_model *m, const char *family,
			       const duet_chat_message *msgs, size_t n,
			       bool add_assistant, int32_t *tokens, size_t cap,
			       size_t *n_tokens)
{
	*n_tokens = 0;
	if (!family && !(family = duet_model_chat_template(m)))
		return DUET_ERR(DUET_E_UNSUPPORTED,
				"the model's chat template is not recognised; name a "
				"family (chatml, llama2, llama3, mistral-v7, gemma, phi3, "
				"zephyr, deepseek, plain, ...)");
	duet_chat_text t;
	duet_status s = duet_chat_render(family, msgs, n, add_assistant, &t);
	if (s != DUET_OK)
		return s;
	duet_tokens ids = { 0 };
	s = duet_vocab_tokenize_protected(&m->vocab, t.text, t.len, true, true,
					  (const size_t(*)[2])t.content, t.n_content, &ids);
	if (s == DUET_OK) {
		*n_tokens = ids.n;
		if (ids.n > cap)
			s = DUET_ERR(DUET_E_RANGE, "%zu tokens do not fit in %zu", ids.n, cap);
		else if (ids.n)
			memcpy(tokens, ids.ids, ids.n * sizeof *tokens);
	}
	free(ids.ids);
	duet_chat_text_free(&t);
	return s;
}

size_t duet_utf8_stream_push(duet_utf8_stream *st, const char *in, size_t n,
			     char *out)
{
	size_t k = st->n;
	memcpy(out, st->pending, k);
	memcpy(out + k, in, n);
	k += n;
	size_t hold = duet_utf8_incomplete_tail((const unsigned char *)out, k);
	memcpy(st->pending, out + k - hold, hold);
	st->n = (uint32_t)hold;
	return k - hold;
}

size_t duet_utf8_stream_flush(duet_utf8_stream *st, char *out)
{
	size_t k = st->n;
	memcpy(out, st->pending, k);
	st->n = 0;
	return k;
}
