/* Vocabulary loading and id -> bytes decoding (see tokenizer.h). */
#include "tokenizer.h"

#include <string.h>

#include "error.h"

static duet_status special_id(const duet_gguf *g, const char *key,
			      uint32_t n, int32_t *out)
{
	uint32_t id;
	*out = -1;
	duet_status s = duet_gguf_get_u32(g, key, &id);
	if (s == DUET_E_NOT_FOUND)
		return DUET_OK;
	if (s != DUET_OK)
		return s;
	if (id >= n)
		return DUET_ERR(DUET_E_CORRUPT,
				"key '%s' is %u, outside the %u-token vocabulary",
				key, id, n);
	*out = (int32_t)id;
	return DUET_OK;
}

static duet_status opt_bool(const duet_gguf *g, const char *key, bool *out)
{
	duet_status s = duet_gguf_get_bool(g, key, out);
	return s == DUET_E_NOT_FOUND ? DUET_OK : s;
}

/* Optional per-token array: absent is fine, otherwise type and length must
 * match the token list. */
static duet_status per_token(const duet_gguf *g, const char *key,
			     duet_gguf_type t, uint32_t n, const void **out)
{
	uint64_t count;
	*out = NULL;
	duet_status s = duet_gguf_get_arr(g, key, t, out, &count);
	if (s == DUET_E_NOT_FOUND)
		return DUET_OK;
	if (s != DUET_OK)
		return s;
	if (count != n)
		return DUET_ERR(DUET_E_CORRUPT,
				"key '%s' has %llu entries for %u tokens", key,
				(unsigned long long)count, n);
	return DUET_OK;
}

duet_status duet_vocab_init(duet_vocab *v, const duet_gguf *g)
{
	memset(v, 0, sizeof *v);
	v->bos = v->eos = v->eot = v->unk = -1;
	const void *tokens;
	uint64_t n;
	duet_status s = duet_gguf_get_arr(g, "tokenizer.ggml.tokens",
					  DUET_GGUF_STRING, &tokens, &n);
	if (s == DUET_E_NOT_FOUND)
		return DUET_OK;
	if (s != DUET_OK)
		return s;
	if (n == 0 || n > INT32_MAX)
		return DUET_ERR(DUET_E_CORRUPT,
				"tokenizer.ggml.tokens has %llu entries",
				(unsigned long long)n);
	const char *model = "llama";
	s = duet_gguf_get_str(g, "tokenizer.ggml.model", &model);
	if (s != DUET_OK && s != DUET_E_NOT_FOUND)
		return s;
	if (strcmp(model, "llama") == 0)
		v->kind = DUET_VOCAB_SPM;
	else if (strcmp(model, "gpt2") == 0)
		v->kind = DUET_VOCAB_BPE;
	else
		return DUET_ERR(DUET_E_UNSUPPORTED,
				"tokenizer model '%s' is not supported (llama and "
				"gpt2 are)", model);
	v->n_tokens = (uint32_t)n;
	v->tokens = tokens;
	const void *types, *scores;
	if ((s = per_token(g, "tokenizer.ggml.token_type", DUET_GGUF_I32,
			   v->n_tokens, &types)) ||
	    (s = per_token(g, "tokenizer.ggml.scores", DUET_GGUF_F32,
			   v->n_tokens, &scores)) ||
	    (s = special_id(g, "tokenizer.ggml.bos_token_id", v->n_tokens, &v->bos)) ||
	    (s = special_id(g, "tokenizer.ggml.eos_token_id", v->n_tokens, &v->eos)) ||
	    (s = special_id(g, "tokenizer.ggml.eot_token_id", v->n_tokens, &v->eot)) ||
	    (s = special_id(g, "tokenizer.ggml.unknown_token_id", v->n_tokens,
			    &v->unk)))
		return s;
	v->types = types;
	v->scores = scores;
	v->add_bos = v->kind == DUET_VOCAB_SPM;
	if ((s = opt_bool(g, "tokenizer.ggml.add_bos_token", &v->add_bos)) ||
	    (s = opt_bool(g, "tokenizer.ggml.add_eos_token", &v->add_eos)))
		return s;
	return DUET_OK;
}

int32_t duet_vocab_type(const duet_vocab *v, int32_t token)
{
	return v->types ? v->types[token] : DUET_TOKEN_NORMAL;
}

/* GPT-2's byte-level BPE shows every byte as a printable code point: bytes
 * that are printable Latin-1 stand for themselves, the other 68 map in
 * order to U+0100 and up. Returns the byte for code point cp, or -1. */
static int bpe_cp_to_byte(uint32_t cp)
{
	if ((cp >= 33 && cp <= 126) || (cp >= 161 && cp <= 172) ||
	    (cp >= 174 && cp <= 255))
		return (int)cp;
	if (cp < 256 || cp >= 256 + 68)
		return -1;
	int k = 256;
	for (int b = 0; b < 256; b++) {
		bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) ||
				 (b >= 174 && b <= 255);
		if (!printable && (uint32_t)k++ == cp)
			return b;
	}
	return -1;
}

/* Decodes one UTF-8 sequence at s (n bytes left); returns its length and
 * the code point, or 1 and U+FFFD for a malformed byte. */
static size_t utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
	size_t len = s[0] < 0x80 ? 1 : (s[0] >> 5) == 6 ? 2 : (s[0] >> 4) == 14 ? 3
			   : (s[0] >> 3) == 30 ? 4 : 0;
	if (len == 0 || len > n) {
		*cp = 0xfffd;
		return 1;
	}
	uint32_t c = len == 1 ? s[0] : s[0] & (0x7f >> len);
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80) {
			*cp = 0xfffd;
			return 1;
		}
		c = (c << 6) | (s[i] & 0x3f);
	}
	*cp = c;
	return len;
}

static duet_status emit(char *buf, size_t cap, size_t *len, const char *p,
			size_t n)
{
	if (*len + n <= cap)
		memcpy(buf + *len, p, n);
	*len += n;
	return DUET_OK;
}

static void decode_spm(const duet_gguf_str *t, char *buf, size_t cap,
		       size_t *len)
{
	const char *s = t->s;
	for (size_t i = 0; i < t->n;) {
		if (i + 3 <= t->n && memcmp(s + i, "\xe2\x96\x81", 3) == 0) {
			emit(buf, cap, len, " ", 1);
			i += 3;
		} else {
			emit(buf, cap, len, s + i, 1);
			i++;
		}
	}
}

static void decode_bpe(const duet_gguf_str *t, char *buf, size_t cap,
		       size_t *len)
{
	const unsigned char *s = (const unsigned char *)t->s;
	for (size_t i = 0; i < t->n;) {
		uint32_t cp;
		size_t k = utf8_next(s + i, t->n - i, &cp);
		int b = bpe_cp_to_byte(cp);
		if (b >= 0) {
			char c = (char)b;
			emit(buf, cap, len, &c, 1);
		} else {
			emit(buf, cap, len, (const char *)s + i, k);
		}
		i += k;
	}
}

static int hex_digit(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10
					  : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

duet_status duet_vocab_token_bytes(const duet_vocab *v, int32_t token,
				   char *buf, size_t cap, size_t *len)
{
	*len = 0;
	if (v->kind == DUET_VOCAB_NONE || token < 0 ||
	    (uint32_t)token >= v->n_tokens)
		return DUET_ERR(DUET_E_INVAL,
				"token id %d is outside the vocabulary (%u tokens)",
				token, v->n_tokens);
	const duet_gguf_str *t = &v->tokens[token];
	int32_t type = duet_vocab_type(v, token);
	if (type == DUET_TOKEN_CONTROL || type == DUET_TOKEN_UNUSED)
		return DUET_OK;
	if (type == DUET_TOKEN_BYTE && t->n == 6 && memcmp(t->s, "<0x", 3) == 0 &&
	    t->s[5] == '>' && hex_digit(t->s[3]) >= 0 && hex_digit(t->s[4]) >= 0) {
		char c = (char)(hex_digit(t->s[3]) * 16 + hex_digit(t->s[4]));
		emit(buf, cap, len, &c, 1);
	} else if (type == DUET_TOKEN_UNKNOWN && v->kind == DUET_VOCAB_SPM) {
		emit(buf, cap, len, "\xe2\x96\x85", 3); /* as llama.cpp shows <unk> */
	} else if (type == DUET_TOKEN_USER_DEFINED) {
		emit(buf, cap, len, t->s, (size_t)t->n);
	} else if (v->kind == DUET_VOCAB_SPM) {
		decode_spm(t, buf, cap, len);
	} else {
		decode_bpe(t, buf, cap, len);
	}
	return *len <= cap ? DUET_OK
			   : DUET_ERR(DUET_E_RANGE, "token %d needs %zu bytes",
				      token, *len);
}
