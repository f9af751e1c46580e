/* Synthetic model writer (see synth.h). Weights come from a splitmix64
 * stream seeded by (seed, tensor name), shaped into a bell curve by summing
 * four uniforms: integer-exact arithmetic, so files are identical on every
 * machine for the same options. */
#include "synth.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "gguf.h"
#include "quant.h"

#define SPM_SPACE "\xe2\x96\x81" /* U+2581, SentencePiece's word marker */

typedef struct synth {
	const duet_synth_options *o;
	duet_gguf_writer *w;
	duet_type base;  /* weight type */
	bool k_mix;      /* q4_k_m: Q6_K for the output and some V/down */
	uint32_t n_vocab;
	uint32_t kv_heads;
} synth;

static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t hash_name(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
	return h;
}

/* Approximately normal, mean 0, std 1: (sum of four U[0,1)) - 2, scaled. */
static float next_gauss(uint64_t *state)
{
	int64_t sum = 0;
	for (int i = 0; i < 4; i++) {
		*state += 0x9e3779b97f4a7c15ull;
		sum += (int64_t)(mix64(*state) >> 40); /* 24 bits */
	}
	/* sum / 2^24 - 2 has variance 1/3; times sqrt(3) */
	return (float)((double)(sum - (2LL << 24)) / 16777216.0 * 1.7320508075688772);
}

/* Writes tensor name of type t and shape [n_in, n_out] (n_out 1: vector),
 * values std * N(0,1) + mean. */
static duet_status add_tensor(synth *s, const char *name, duet_type t,
			      uint32_t n_in, uint32_t n_out, float mean,
			      float std)
{
	uint64_t row = duet_type_row_bytes(t, n_in);
	uint8_t *data = malloc(row * n_out);
	float *x = malloc(n_in * sizeof *x);
	if (!data || !x) {
		free(data);
		free(x);
		return DUET_ERR(DUET_E_NOMEM, "out of memory writing '%s'", name);
	}
	uint64_t state = mix64(s->o->seed ^ hash_name(name));
	for (uint32_t r = 0; r < n_out; r++) {
		for (uint32_t i = 0; i < n_in; i++)
			x[i] = mean + std * next_gauss(&state);
		duet_quantize_row(t, x, data + r * row, n_in);
	}
	int64_t ne[2] = { n_in, n_out };
	duet_status st = duet_gguf_writer_add_tensor(s->w, name, t, n_out > 1 ? 2 : 1,
						     ne, data, row * n_out);
	free(data);
	free(x);
	return st;
}

/* llama.cpp's Q4_K_M gives these layers' V and FFN-down more bits. */
static bool more_bits(uint32_t il, uint32_t n)
{
	return il < n / 8 || il >= 7 * n / 8 || (il - n / 8) % 3 == 2;
}

static duet_status add_matrix(synth *s, const char *name, uint32_t n_in,
			      uint32_t n_out, bool wide)
{
	duet_type t = s->k_mix && wide ? DUET_TYPE_Q6_K : s->base;
	const duet_type_info *ti = duet_type_get(t);
	if (n_in % ti->block_elems)
		return DUET_ERR(DUET_E_INVAL,
				"type %s needs rows that are a multiple of %u, "
				"but '%s' has rows of %u", ti->name,
				ti->block_elems, name, n_in);
	float std = 1.0f / sqrtf((float)n_in);
	return add_tensor(s, name, t, n_in, n_out, 0.0f, std);
}

static duet_status add_layer(synth *s, uint32_t il)
{
	const duet_synth_options *o = s->o;
	uint32_t kv = o->dim / o->heads * s->kv_heads;
	bool wide = s->k_mix && more_bits(il, o->layers);
	char n[64];
	duet_status st;
#define NAME(suffix) (snprintf(n, sizeof n, "blk.%u." suffix, il), n)
	if ((st = add_tensor(s, NAME("attn_norm.weight"), DUET_TYPE_F32, o->dim, 1,
			     1.0f, 0.1f)) ||
	    (st = add_matrix(s, NAME("attn_q.weight"), o->dim, o->dim, false)) ||
	    (st = add_matrix(s, NAME("attn_k.weight"), o->dim, kv, false)) ||
	    (st = add_matrix(s, NAME("attn_v.weight"), o->dim, kv, wide)))
		return st;
	if (strcmp(o->arch, "qwen2") == 0 &&
	    ((st = add_tensor(s, NAME("attn_q.bias"), DUET_TYPE_F32, o->dim, 1,
			      0.0f, 0.1f)) ||
	     (st = add_tensor(s, NAME("attn_k.bias"), DUET_TYPE_F32, kv, 1, 0.0f,
			      0.1f)) ||
	     (st = add_tensor(s, NAME("attn_v.bias"), DUET_TYPE_F32, kv, 1, 0.0f,
			      0.1f))))
		return st;
	if ((st = add_matrix(s, NAME("attn_output.weight"), o->dim, o->dim, false)) ||
	    (st = add_tensor(s, NAME("ffn_norm.weight"), DUET_TYPE_F32, o->dim, 1,
			     1.0f, 0.1f)) ||
	    (st = add_matrix(s, NAME("ffn_gate.weight"), o->dim, o->ff, false)) ||
	    (st = add_matrix(s, NAME("ffn_up.weight"), o->dim, o->ff, false)) ||
	    (st = add_matrix(s, NAME("ffn_down.weight"), o->ff, o->dim, wide)))
		return st;
#undef NAME
	return DUET_OK;
}

/* "▁a", "▁b", ..., "▁z", "▁aa", ...: plausible word pieces. */
static void piece_name(uint32_t k, char *out, size_t cap)
{
	char letters[16];
	int n = 0;
	do {
		letters[n++] = (char)('a' + k % 26);
		k = k / 26;
	} while (k-- > 0 && n < 15);
	size_t len = strlen(SPM_SPACE);
	memcpy(out, SPM_SPACE, len);
	for (int i = 0; i < n && len + 1 < cap; i++)
		out[len++] = letters[n - 1 - i];
	out[len] = '\0';
}

/* A SentencePiece vocabulary: <unk>, <s>, </s>, 256 byte tokens, then
 * word pieces with falling scores. */
static duet_status synth_vocab(synth *s)
{
	uint32_t n = s->o->vocab;
	char **tok = calloc(n, sizeof *tok);
	float *score = calloc(n, sizeof *score);
	int32_t *type = calloc(n, sizeof *type);
	char *text = calloc(n, 24);
	duet_status st = DUET_OK;
	if (!tok || !score || !type || !text) {
		st = DUET_ERR(DUET_E_NOMEM, "out of memory building the vocabulary");
		goto out;
	}
	for (uint32_t i = 0; i < n; i++) {
		tok[i] = text + 24 * (size_t)i;
		if (i < 3) {
			snprintf(tok[i], 24, "%s", i == 0 ? "<unk>" : i == 1 ? "<s>" : "</s>");
			type[i] = i == 0 ? 2 : 3;
		} else if (i < 259) {
			snprintf(tok[i], 24, "<0x%02X>", i - 3);
			type[i] = 6;
		} else {
			piece_name(i - 259, tok[i], 24);
			type[i] = 1;
			score[i] = -(float)(i - 259);
		}
	}
	duet_gguf_writer *w = s->w;
	if ((st = duet_gguf_writer_set_str(w, "tokenizer.ggml.model", "llama")) ||
	    (st = duet_gguf_writer_set_arr(w, "tokenizer.ggml.tokens",
					   DUET_GGUF_STRING, tok, n)) ||
	    (st = duet_gguf_writer_set_arr(w, "tokenizer.ggml.scores",
					   DUET_GGUF_F32, score, n)) ||
	    (st = duet_gguf_writer_set_arr(w, "tokenizer.ggml.token_type",
					   DUET_GGUF_I32, type, n)) ||
	    (st = duet_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1)) ||
	    (st = duet_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 2)) ||
	    (st = duet_gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", 0)) ||
	    (st = duet_gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", true)) ||
	    (st = duet_gguf_writer_set_bool(w, "tokenizer.ggml.add_eos_token", false)))
		goto out;
	s->n_vocab = n;
out:
	free(tok);
	free(score);
	free(type);
	free(text);
	return st;
}

static duet_status copy_vocab(synth *s)
{
	duet_gguf *g;
	duet_status st = duet_gguf_open(s->o->vocab_path, &g);
	if (st != DUET_OK)
		return st;
	const void *tokens;
	uint64_t n = 0;
	st = duet_gguf_get_arr(g, "tokenizer.ggml.tokens", DUET_GGUF_STRING,
			       &tokens, &n);
	if (st == DUET_E_NOT_FOUND || (st == DUET_OK && (n == 0 || n > UINT32_MAX)))
		st = DUET_ERR(DUET_E_INVAL, "'%s' has no tokenizer.ggml.tokens",
			      s->o->vocab_path);
	if (st == DUET_OK)
		st = duet_gguf_writer_copy_kv(s->w, g, "tokenizer.");
	s->n_vocab = (uint32_t)n;
	duet_gguf_destroy(g);
	return st;
}

/* llama.cpp's general.file_type for the weight type. */
static uint32_t file_type(const synth *s)
{
	if (s->k_mix)
		return 15;
	switch (s->base) {
	case DUET_TYPE_F32: return 0;
	case DUET_TYPE_F16: return 1;
	case DUET_TYPE_Q4_0: return 2;
	case DUET_TYPE_Q4_1: return 3;
	case DUET_TYPE_Q8_0: return 7;
	case DUET_TYPE_Q5_0: return 8;
	case DUET_TYPE_Q5_1: return 9;
	case DUET_TYPE_Q4_K: return 14;
	case DUET_TYPE_Q5_K: return 16;
	case DUET_TYPE_Q6_K: return 18;
	case DUET_TYPE_BF16: return 32;
	default: return 0;
	}
}

static duet_status check_options(synth *s)
{
	const duet_synth_options *o = s->o;
	if (!o->arch || (strcmp(o->arch, "llama") && strcmp(o->arch, "qwen2")))
		return DUET_ERR(DUET_E_INVAL, "architecture must be llama or qwen2");
	if (!o->dim || !o->layers || !o->heads || !o->ff)
		return DUET_ERR(DUET_E_INVAL,
				"dim, layers, heads and ff must all be positive");
	s->kv_heads = o->kv_heads ? o->kv_heads : o->heads;
	if (o->dim % o->heads || (o->dim / o->heads) % 2)
		return DUET_ERR(DUET_E_INVAL,
				"dim %u must split into %u heads of an even size",
				o->dim, o->heads);
	if (o->heads % s->kv_heads)
		return DUET_ERR(DUET_E_INVAL,
				"heads %u must be a multiple of kv-heads %u",
				o->heads, s->kv_heads);
	if (!o->vocab_path && o->vocab < 259)
		return DUET_ERR(DUET_E_INVAL,
				"a synthetic vocabulary needs at least 259 tokens "
				"(3 special + 256 bytes), got %u", o->vocab);
	const char *tn = o->type ? o->type : "f32";
	s->k_mix = strcmp(tn, "q4_k_m") == 0 || strcmp(tn, "Q4_K_M") == 0;
	int t = s->k_mix ? DUET_TYPE_Q4_K : duet_type_from_name(tn);
	const duet_type_info *ti = t >= 0 ? duet_type_get((uint32_t)t) : NULL;
	if (!ti || !ti->compute)
		return DUET_ERR(DUET_E_INVAL,
				"weight type '%s' is not one of f32 f16 bf16 q8_0 "
				"q4_0 q4_1 q5_0 q5_1 q4_k q5_k q6_k q4_k_m", tn);
	s->base = (duet_type)t;
	return DUET_OK;
}

static duet_status write_hparams(synth *s)
{
	const duet_synth_options *o = s->o;
	duet_gguf_writer *w = s->w;
	char k[96];
	duet_status st;
#define KEY(suffix) (snprintf(k, sizeof k, "%s." suffix, o->arch), k)
	if ((st = duet_gguf_writer_set_str(w, "general.architecture", o->arch)) ||
	    (st = duet_gguf_writer_set_str(w, "general.name",
					   o->name ? o->name : "duet-synth")) ||
	    (st = duet_gguf_writer_set_u32(w, "general.file_type", file_type(s))) ||
	    (st = duet_gguf_writer_set_u32(w, "general.quantization_version", 2)) ||
	    (st = duet_gguf_writer_set_u32(w, KEY("context_length"),
					   o->ctx ? o->ctx : 2048)) ||
	    (st = duet_gguf_writer_set_u32(w, KEY("embedding_length"), o->dim)) ||
	    (st = duet_gguf_writer_set_u32(w, KEY("block_count"), o->layers)) ||
	    (st = duet_gguf_writer_set_u32(w, KEY("feed_forward_length"), o->ff)) ||
	    (st = duet_gguf_writer_set_u32(w, KEY("attention.head_count"), o->heads)) ||
	    (st = duet_gguf_writer_set_u32(w, KEY("attention.head_count_kv"),
					   s->kv_heads)) ||
	    (st = duet_gguf_writer_set_u32(w, KEY("rope.dimension_count"),
					   o->dim / o->heads)) ||
	    (st = duet_gguf_writer_set_f32(w, KEY("rope.freq_base"),
					   o->rope_base > 0 ? o->rope_base : 10000.0f)) ||
	    (st = duet_gguf_writer_set_f32(w, KEY("attention.layer_norm_rms_epsilon"),
					   1e-5f)))
		return st;
#undef KEY
	return DUET_OK;
}

static duet_status write_model(synth *s, const char *path)
{
	const duet_synth_options *o = s->o;
	duet_status st;
	if ((st = write_hparams(s)) ||
	    (st = o->vocab_path ? copy_vocab(s) : synth_vocab(s)))
		return st;
	if ((st = add_matrix(s, "token_embd.weight", o->dim, s->n_vocab, false)) ||
	    (st = add_tensor(s, "output_norm.weight", DUET_TYPE_F32, o->dim, 1, 1.0f,
			     0.1f)))
		return st;
	if (!o->tied &&
	    (st = add_matrix(s, "output.weight", o->dim, s->n_vocab, true)))
		return st;
	for (uint32_t il = 0; il < o->layers; il++)
		if ((st = add_layer(s, il)))
			return st;
	return duet_gguf_writer_write_file(s->w, path);
}

duet_status duet_synth_model(const duet_synth_options *o, const char *path)
{
	synth s = { .o = o };
	duet_status st = check_options(&s);
	if (st != DUET_OK)
		return st;
	if ((st = duet_gguf_writer_create(&s.w)) != DUET_OK)
		return st;
	st = write_model(&s, path);
	duet_gguf_writer_destroy(s.w);
	return st;
}
