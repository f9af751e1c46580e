/* Model description: hyperparameters from metadata, weights located and
 * shape-checked (see model.h). */
#include "model.h"

#include <stdio.h>
#include <string.h>

#include "error.h"
#include "quant.h"

#define KEY_MAX 128

static duet_status key_u32(const duet_gguf *g, const char *arch,
			   const char *suffix, bool required, uint32_t *out)
{
	char key[KEY_MAX];
	snprintf(key, sizeof key, "%s.%s", arch, suffix);
	duet_status s = duet_gguf_get_u32(g, key, out);
	if (s == DUET_E_NOT_FOUND && required)
		return DUET_ERR(DUET_E_CORRUPT, "missing metadata key '%s'", key);
	return s == DUET_E_NOT_FOUND ? DUET_OK : s;
}

static duet_status key_f32(const duet_gguf *g, const char *arch,
			   const char *suffix, bool required, float *out)
{
	char key[KEY_MAX];
	snprintf(key, sizeof key, "%s.%s", arch, suffix);
	duet_status s = duet_gguf_get_f32(g, key, out);
	if (s == DUET_E_NOT_FOUND && required)
		return DUET_ERR(DUET_E_CORRUPT, "missing metadata key '%s'", key);
	return s == DUET_E_NOT_FOUND ? DUET_OK : s;
}

static duet_status read_arch(duet_hparams *hp, const duet_gguf *g)
{
	const char *arch;
	duet_status s = duet_gguf_get_str(g, "general.architecture", &arch);
	if (s == DUET_E_NOT_FOUND)
		return DUET_ERR(DUET_E_CORRUPT,
				"missing metadata key 'general.architecture'");
	if (s != DUET_OK)
		return s;
	if (strcmp(arch, "llama") == 0)
		hp->arch = DUET_ARCH_LLAMA;
	else if (strcmp(arch, "qwen2") == 0)
		hp->arch = DUET_ARCH_QWEN2;
	else
		return DUET_ERR(DUET_E_UNSUPPORTED,
				"architecture '%s' is not supported (llama and "
				"qwen2 are)", arch);
	hp->arch_name = arch;
	hp->rope_mode = hp->arch == DUET_ARCH_QWEN2 ? DUET_ROPE_NEOX
						    : DUET_ROPE_NORM;
	return DUET_OK;
}

/* Linear scaling divides positions by a factor; "none" keeps them. Other
 * schemes (yarn, longrope) change the rotation itself: refuse them rather
 * than run the model wrong. */
static duet_status read_rope_scaling(duet_hparams *hp, const duet_gguf *g)
{
	char key[KEY_MAX];
	const char *type = "linear";
	snprintf(key, sizeof key, "%s.rope.scaling.type", hp->arch_name);
	duet_status s = duet_gguf_get_str(g, key, &type);
	if (s != DUET_OK && s != DUET_E_NOT_FOUND)
		return s;
	if (strcmp(type, "none") != 0 && strcmp(type, "linear") != 0)
		return DUET_ERR(DUET_E_UNSUPPORTED,
				"rope scaling '%s' is not supported (none and "
				"linear are)", type);
	float factor = 0.0f;
	if ((s = key_f32(g, hp->arch_name, "rope.scaling.factor", false,
			 &factor)) != DUET_OK)
		return s;
	if (factor == 0.0f &&
	    (s = key_f32(g, hp->arch_name, "rope.scale_linear", false,
			 &factor)) != DUET_OK)
		return s;
	if (factor < 0.0f || factor != factor)
		return DUET_ERR(DUET_E_CORRUPT, "rope scaling factor %g is invalid",
				(double)factor);
	hp->rope_freq_scale = factor == 0.0f ? 1.0f : 1.0f / factor;
	return DUET_OK;
}

static duet_status check_hparams(const duet_hparams *hp)
{
	if (hp->n_layer == 0 || hp->n_embd == 0 || hp->n_head == 0 ||
	    hp->n_head_kv == 0 || hp->n_ff == 0 || hp->n_vocab == 0)
		return DUET_ERR(DUET_E_CORRUPT,
				"%s: a size is zero (layers %u, embd %u, heads "
				"%u/%u, ff %u, vocab %u)", hp->arch_name,
				hp->n_layer, hp->n_embd, hp->n_head,
				hp->n_head_kv, hp->n_ff, hp->n_vocab);
	if (hp->n_embd % hp->n_head)
		return DUET_ERR(DUET_E_CORRUPT,
				"embedding length %u is not a multiple of the "
				"head count %u", hp->n_embd, hp->n_head);
	if (hp->n_head % hp->n_head_kv)
		return DUET_ERR(DUET_E_CORRUPT,
				"head count %u is not a multiple of the KV head "
				"count %u", hp->n_head, hp->n_head_kv);
	if (hp->n_rot > hp->head_dim || hp->n_rot % 2)
		return DUET_ERR(DUET_E_CORRUPT,
				"rope dimension count %u must be even and at most "
				"the head size %u", hp->n_rot, hp->head_dim);
	if (!(hp->rope_freq_base > 0.0f) || !(hp->norm_eps >= 0.0f))
		return DUET_ERR(DUET_E_CORRUPT,
				"rope base %g or norm epsilon %g is invalid",
				(double)hp->rope_freq_base, (double)hp->norm_eps);
	return DUET_OK;
}

static duet_status read_hparams(duet_hparams *hp, const duet_gguf *g)
{
	duet_status s = read_arch(hp, g);
	const char *a = hp->arch_name;
	if (s != DUET_OK ||
	    (s = key_u32(g, a, "context_length", true, &hp->n_ctx_train)) ||
	    (s = key_u32(g, a, "embedding_length", true, &hp->n_embd)) ||
	    (s = key_u32(g, a, "block_count", true, &hp->n_layer)) ||
	    (s = key_u32(g, a, "feed_forward_length", true, &hp->n_ff)) ||
	    (s = key_u32(g, a, "attention.head_count", true, &hp->n_head)))
		return s;
	uint32_t experts = 0;
	if ((s = key_u32(g, a, "expert_count", false, &experts)))
		return s;
	if (experts > 0)
		return DUET_ERR(DUET_E_UNSUPPORTED,
				"mixture-of-experts models (%s.expert_count = %u) "
				"are not supported", a, experts);
	hp->n_head_kv = hp->n_head;
	hp->rope_freq_base = 10000.0f;
	if ((s = key_u32(g, a, "attention.head_count_kv", false, &hp->n_head_kv)) ||
	    (s = key_f32(g, a, "attention.layer_norm_rms_epsilon", true,
			 &hp->norm_eps)) ||
	    (s = key_f32(g, a, "rope.freq_base", false, &hp->rope_freq_base)) ||
	    (s = read_rope_scaling(hp, g)))
		return s;
	hp->head_dim = hp->n_head ? hp->n_embd / hp->n_head : 0;
	hp->n_rot = hp->head_dim;
	if ((s = key_u32(g, a, "rope.dimension_count", false, &hp->n_rot)))
		return s;
	uint32_t kl = hp->head_dim, vl = hp->head_dim;
	if ((s = key_u32(g, a, "attention.key_length", false, &kl)) ||
	    (s = key_u32(g, a, "attention.value_length", false, &vl)))
		return s;
	if (kl != hp->head_dim || vl != hp->head_dim)
		return DUET_ERR(DUET_E_UNSUPPORTED,
				"key/value length %u/%u differs from embedding "
				"length / heads = %u", kl, vl, hp->head_dim);
	hp->n_embd_kv = hp->n_head_kv * hp->head_dim;
	return DUET_OK;
}

/* Vocabulary size: the arch key, else the tokenizer's token list, else the
 * embedding matrix's row count. */
static duet_status read_vocab_size(duet_hparams *hp, const duet_gguf *g)
{
	uint32_t n = 0;
	duet_status s = key_u32(g, hp->arch_name, "vocab_size", false, &n);
	if (s != DUET_OK)
		return s;
	const duet_gguf_kv *tok = duet_gguf_find(g, "tokenizer.ggml.tokens");
	if (!n && tok && tok->value.type == DUET_GGUF_ARRAY &&
	    tok->value.arr.n <= UINT32_MAX)
		n = (uint32_t)tok->value.arr.n;
	const duet_gguf_tensor *t = duet_gguf_find_tensor(g, "token_embd.weight");
	if (!n && t && t->ne[1] > 0 && t->ne[1] <= (int64_t)UINT32_MAX)
		n = (uint32_t)t->ne[1];
	hp->n_vocab = n;
	return DUET_OK;
}

static duet_status find_tensor(const duet_gguf *g, const char *name,
			       bool required, const duet_gguf_tensor **out)
{
	*out = duet_gguf_find_tensor(g, name);
	if (!*out && required)
		return DUET_ERR(DUET_E_CORRUPT, "missing tensor '%s'", name);
	return DUET_OK;
}

static duet_status check_shape(const duet_gguf_tensor *t, int64_t n0,
			       int64_t n1)
{
	if (t->ne[0] != n0 || t->ne[1] != n1 || t->ne[2] != 1 || t->ne[3] != 1)
		return DUET_ERR(DUET_E_CORRUPT,
				"tensor '%s' has shape [%lld, %lld, %lld, %lld], "
				"expected [%lld, %lld]",
				t->name, (long long)t->ne[0], (long long)t->ne[1],
				(long long)t->ne[2], (long long)t->ne[3],
				(long long)n0, (long long)n1);
	const duet_type_info *ti = duet_type_get(t->type);
	if (!ti || !ti->compute)
		return DUET_ERR(DUET_E_UNSUPPORTED,
				"tensor '%s' has type %s, which duet cannot "
				"compute", t->name, duet_type_name(t->type));
	return DUET_OK;
}

static duet_status get_matrix(duet_model_desc *m, const duet_gguf *g,
			      const char *name, int64_t n_in, int64_t n_out,
			      bool required, duet_weight *w)
{
	const duet_gguf_tensor *t;
	duet_status s = find_tensor(g, name, required, &t);
	if (s != DUET_OK || !t)
		return s;
	if ((s = check_shape(t, n_in, n_out)) != DUET_OK)
		return s;
	w->name = t->name;
	w->type = t->type;
	w->n_in = n_in;
	w->n_out = n_out;
	w->data = t->data;
	w->row_bytes = duet_type_row_bytes(t->type, (uint64_t)n_in);
	m->n_params += (uint64_t)(n_in * n_out);
	return DUET_OK;
}

/* Vectors (norm weights, biases) are decoded to f32 once, here. */
static duet_status get_vector(duet_model_desc *m, const duet_gguf *g,
			      const char *name, int64_t n, bool required,
			      duet_weight *w)
{
	duet_status s = get_matrix(m, g, name, n, 1, required, w);
	if (s != DUET_OK || !w->name)
		return s;
	float *f = duet_arena_alloc(&m->arena, (size_t)n * sizeof *f);
	if (!f)
		return DUET_ERR(DUET_E_NOMEM, "out of memory decoding '%s'", name);
	duet_dequantize_row(w->type, w->data, f, n);
	w->type = 0; /* DUET_TYPE_F32 */
	w->data = f;
	w->row_bytes = (uint64_t)n * sizeof *f;
	return DUET_OK;
}

static duet_status read_layer(duet_model_desc *m, const duet_gguf *g,
			      uint32_t il, duet_layer *L)
{
	const duet_hparams *hp = &m->hp;
	int64_t e = hp->n_embd, kv = hp->n_embd_kv, ff = hp->n_ff;
	bool bias = hp->arch == DUET_ARCH_QWEN2;
	char n[12][64];
	static const char *const fmt[12] = {
		"blk.%u.attn_norm.weight", "blk.%u.attn_q.weight",
		"blk.%u.attn_k.weight", "blk.%u.attn_v.weight",
		"blk.%u.attn_q.bias", "blk.%u.attn_k.bias",
		"blk.%u.attn_v.bias", "blk.%u.attn_output.weight",
		"blk.%u.ffn_norm.weight", "blk.%u.ffn_gate.weight",
		"blk.%u.ffn_up.weight", "blk.%u.ffn_down.weight",
	};
	for (int i = 0; i < 12; i++)
		snprintf(n[i], sizeof n[i], fmt[i], il);
	duet_status s;
	if ((s = get_vector(m, g, n[0], e, true, &L->attn_norm)) ||
	    (s = get_matrix(m, g, n[1], e, e, true, &L->wq)) ||
	    (s = get_matrix(m, g, n[2], e, kv, true, &L->wk)) ||
	    (s = get_matrix(m, g, n[3], e, kv, true, &L->wv)) ||
	    (s = get_vector(m, g, n[4], e, bias, &L->bq)) ||
	    (s = get_vector(m, g, n[5], kv, bias, &L->bk)) ||
	    (s = get_vector(m, g, n[6], kv, bias, &L->bv)) ||
	    (s = get_matrix(m, g, n[7], e, e, true, &L->wo)) ||
	    (s = get_vector(m, g, n[8], e, true, &L->ffn_norm)) ||
	    (s = get_matrix(m, g, n[9], e, ff, true, &L->w_gate)) ||
	    (s = get_matrix(m, g, n[10], e, ff, true, &L->w_up)) ||
	    (s = get_matrix(m, g, n[11], ff, e, true, &L->w_down)))
		return s;
	return DUET_OK;
}

/* Llama 3.1-style long-context models carry per-frequency divisors. */
static duet_status read_rope_factors(duet_model_desc *m, const duet_gguf *g)
{
	const duet_gguf_tensor *t = duet_gguf_find_tensor(g, "rope_freqs.weight");
	if (!t)
		return DUET_OK;
	duet_weight w;
	duet_status s = get_vector(m, g, t->name, m->hp.n_rot / 2, true, &w);
	if (s == DUET_OK)
		m->rope_factors = w.data;
	return s;
}

duet_status duet_model_desc_init(duet_model_desc *m, const duet_gguf *g)
{
	memset(m, 0, sizeof *m);
	duet_arena_init(&m->arena, 0);
	duet_hparams *hp = &m->hp;
	duet_status s;
	if ((s = read_hparams(hp, g)) || (s = read_vocab_size(hp, g)) ||
	    (s = check_hparams(hp)))
		goto fail;
	if (hp->n_layer > g->n_tensors / 9) {
		s = DUET_ERR(DUET_E_CORRUPT,
			     "block_count %u needs at least %llu tensors, the "
			     "file has %llu", hp->n_layer,
			     (unsigned long long)hp->n_layer * 9,
			     (unsigned long long)g->n_tensors);
		goto fail;
	}
	if ((s = get_matrix(m, g, "token_embd.weight", hp->n_embd, hp->n_vocab,
			    true, &m->tok_embd)) ||
	    (s = get_vector(m, g, "output_norm.weight", hp->n_embd, true,
			    &m->output_norm)) ||
	    (s = get_matrix(m, g, "output.weight", hp->n_embd, hp->n_vocab,
			    false, &m->output)) ||
	    (s = read_rope_factors(m, g)))
		goto fail;
	if (!m->output.name) {
		m->output = m->tok_embd;
		m->tied_output = true;
	}
	m->layers = duet_arena_alloc(&m->arena, hp->n_layer * sizeof *m->layers);
	if (!m->layers) {
		s = DUET_ERR(DUET_E_NOMEM, "out of memory");
		goto fail;
	}
	for (uint32_t il = 0; il < hp->n_layer; il++)
		if ((s = read_layer(m, g, il, &m->layers[il])))
			goto fail;
	return DUET_OK;
fail:
	duet_model_desc_finish(m);
	return s;
}

void duet_model_desc_finish(duet_model_desc *m)
{
	duet_arena_finish(&m->arena);
	m->layers = NULL;
}
