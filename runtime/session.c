/* The public API's glue: models (GGUF + description + vocabulary) and
 * contexts (executor + KV cache + the graphs built for them). */
#include <stdlib.h>
#include <string.h>

#include "chat.h"
#include "cpu.h"
#include "duet/duet.h"
#include "error.h"
#include "graph.h"
#include "kv.h"
#include "model.h"
#include "tokenizer.h"
#include "unicode.h"

struct duet_model {
	duet_gguf *gguf;
	duet_model_desc desc;
	duet_vocab vocab;
	const char *name;
	bool vocab_only;
};

/* Graph buckets: one for single-token decode steps, one for batches. */
enum { BUCKET_ONE = 0, BUCKET_BATCH = 1 };

struct duet_context {
	duet_model *model;
	duet_cpu *cpu;
	duet_kv_cache kv;
	duet_graph *graphs[2][2]; /* [bucket][duet_logits_mode], built lazily */
	uint32_t n_ctx;
	uint32_t n_batch;
	uint32_t n_past;
	float *logits;
	uint64_t logits_cap; /* floats */
};

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
	*out = m;
	return DUET_OK;
}

void duet_model_destroy(duet_model *m)
{
	if (!m)
		return;
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

/* ---- contexts ------------------------------------------------------------ */

duet_status duet_context_create(duet_model *m, const duet_context_options *opts,
				duet_context **out)
{
	*out = NULL;
	duet_context_options o = { 0 };
	if (opts)
		o = *opts;
	if (m->vocab_only)
		return DUET_ERR(DUET_E_INVAL, "the model was loaded vocab-only");
	if (o.backend != DUET_BACKEND_AUTO && o.backend != DUET_BACKEND_CPU)
		return DUET_ERR(DUET_E_UNSUPPORTED,
				"backend %d is not available in this build",
				(int)o.backend);
	const duet_hparams *hp = &m->desc.hp;
	if (o.n_ctx == 0)
		o.n_ctx = hp->n_ctx_train < 4096 ? hp->n_ctx_train : 4096;
	if (o.n_ctx == 0)
		o.n_ctx = 4096;
	if (o.n_batch == 0)
		o.n_batch = 64;
	duet_context *c = calloc(1, sizeof *c);
	if (!c)
		return DUET_ERR(DUET_E_NOMEM, "out of memory");
	c->model = m;
	c->n_ctx = o.n_ctx;
	c->n_batch = o.n_batch < o.n_ctx ? o.n_batch : o.n_ctx;
	duet_status s = duet_cpu_create(o.n_threads, &c->cpu);
	if (s == DUET_OK)
		s = duet_kv_cache_init(&c->kv, hp->n_layer, c->n_ctx, hp->n_embd_kv);
	if (s != DUET_OK) {
		duet_context_destroy(c);
		return s;
	}
	*out = c;
	return DUET_OK;
}

void duet_context_destroy(duet_context *c)
{
	if (!c)
		return;
	for (int b = 0; b < 2; b++)
		for (int mode = 0; mode < 2; mode++)
			duet_graph_destroy(c->graphs[b][mode]);
	duet_kv_cache_finish(&c->kv);
	duet_cpu_destroy(c->cpu);
	free(c->logits);
	free(c);
}

static duet_status get_graph(duet_context *c, int bucket, duet_logits_mode mode,
			     duet_graph **out)
{
	duet_graph **g = &c->graphs[bucket][mode];
	if (!*g) {
		uint32_t n = bucket == BUCKET_ONE ? 1 : c->n_batch;
		duet_status s = duet_graph_build(&c->model->desc, n, mode, g);
		if (s != DUET_OK)
			return s;
	}
	*out = *g;
	return DUET_OK;
}

static duet_status check_tokens(const duet_context *c, const int32_t *tokens,
				uint32_t n)
{
	uint32_t n_vocab = c->model->desc.hp.n_vocab;
	if (n == 0)
		return DUET_ERR(DUET_E_INVAL, "no tokens to evaluate");
	if (n > c->n_ctx - c->n_past)
		return DUET_ERR(DUET_E_RANGE,
				"%u more tokens do not fit: %u of %u positions "
				"are used (raise the context size)",
				n, c->n_past, c->n_ctx);
	for (uint32_t i = 0; i < n; i++)
		if (tokens[i] < 0 || (uint32_t)tokens[i] >= n_vocab)
			return DUET_ERR(DUET_E_INVAL,
					"token id %d is outside the vocabulary "
					"(0..%u)", tokens[i], n_vocab - 1);
	return DUET_OK;
}

duet_status duet_context_eval(duet_context *c, const int32_t *tokens,
			      uint32_t n, bool all_logits, const float **logits)
{
	uint32_t n_vocab = c->model->desc.hp.n_vocab;
	duet_status s = check_tokens(c, tokens, n);
	if (s != DUET_OK)
		return s;
	uint64_t need = (uint64_t)(all_logits ? n : 1) * n_vocab;
	if (need > c->logits_cap) {
		float *l = realloc(c->logits, need * sizeof *l);
		if (!l)
			return DUET_ERR(DUET_E_NOMEM, "out of memory for logits");
		c->logits = l;
		c->logits_cap = need;
	}
	duet_logits_mode mode = all_logits ? DUET_LOGITS_ALL : DUET_LOGITS_LAST;
	uint32_t start_past = c->n_past;
	for (uint32_t i = 0; i < n;) {
		uint32_t m = n - i < c->n_batch ? n - i : c->n_batch;
		duet_graph *g;
		const float *out;
		duet_step st = { .tokens = tokens + i, .n_tokens = m,
				 .pos0 = c->n_past };
		s = get_graph(c, m == 1 ? BUCKET_ONE : BUCKET_BATCH, mode, &g);
		if (s == DUET_OK)
			s = duet_cpu_run(c->cpu, g, &c->kv, &st, &out);
		if (s != DUET_OK) {
			c->n_past = start_past; /* positions past it are ignored */
			return s;
		}
		if (all_logits)
			memcpy(c->logits + (uint64_t)i * n_vocab, out,
			       (uint64_t)m * n_vocab * sizeof(float));
		else if (i + m == n)
			memcpy(c->logits, out, n_vocab * sizeof(float));
		c->n_past += m;
		i += m;
	}
	*logits = c->logits;
	return DUET_OK;
}

void duet_context_truncate(duet_context *c, uint32_t n_past)
{
	if (n_past < c->n_past)
		c->n_past = n_past;
}

uint32_t duet_context_n_past(const duet_context *c)
{
	return c->n_past;
}

uint32_t duet_context_n_ctx(const duet_context *c)
{
	return c->n_ctx;
}
