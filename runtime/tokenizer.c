/* Vocabulary loading, special-token handling and decoding (see
 * tokenizer.h); the SentencePiece and BPE algorithms are in tok_spm.c and
 * tok_bpe.c. */
#include "tokenizer.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "unicode.h"

/* ---- loading ------------------------------------------------------------- */

static duet_status special_id(duet_vocab *v, const duet_gguf *g, const char *key,
			      int32_t *out)
{
	uint32_t id;
	duet_status s = duet_gguf_get_u32(g, key, &id);
	if (s == DUET_E_NOT_FOUND)
		return DUET_OK;
	if (s != DUET_OK)
		return s;
	if (id >= v->n_tokens) /* llama.cpp keeps the default and warns */
		snprintf(v->warning, sizeof v->warning,
			 "%s = %u is outside the vocabulary; using %d", key, id, *out);
	else
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
		return DUET_ERR(DUET_E_CORRUPT, "key '%s' has %llu entries for %u tokens",
				key, (unsigned long long)count, n);
	return DUET_OK;
}

static uint16_t attr_of_type(int32_t type)
{
	switch (type) {
	case DUET_TOKEN_NORMAL: return DUET_ATTR_NORMAL;
	case DUET_TOKEN_UNKNOWN: return DUET_ATTR_UNKNOWN;
	case DUET_TOKEN_CONTROL: return DUET_ATTR_CONTROL;
	case DUET_TOKEN_USER_DEFINED: return DUET_ATTR_USER_DEFINED;
	case DUET_TOKEN_UNUSED: return DUET_ATTR_UNUSED;
	case DUET_TOKEN_BYTE: return DUET_ATTR_BYTE;
	default: return DUET_ATTR_UNDEFINED;
	}
}

int32_t duet_vocab_find(const duet_vocab *v, const char *s, size_t n)
{
	const duet_strmap_entry *e = duet_strmap_get(&v->token_ids, s, n, false, 0);
	return e ? e->value : -1;
}

/* The id of the first token (by id) whose text is in list, or -1. */
static int32_t find_any(const duet_vocab *v, const char *const *list)
{
	int32_t best = -1;
	for (; *list; list++) {
		int32_t id = duet_vocab_find(v, *list, strlen(*list));
		if (id >= 0 && (best < 0 || id < best))
			best = id;
	}
	return best;
}

static const char *find_bytes(const char *h, size_t hn, const char *nd, size_t nn);

/* Adds the control attribute, keeping the others (as llama.cpp does). */
static void make_control(duet_vocab *v, int32_t id)
{
	if (id >= 0)
		v->attr[id] |= DUET_ATTR_CONTROL;
}

#define LIST(...) (const char *const[]){ __VA_ARGS__, NULL }
#define DS_END "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>"

static int32_t find_text(const duet_vocab *v, const char *t)
{
	return duet_vocab_find(v, t, strlen(t));
}

/* llama.cpp (as of build 10257, the reference we test against) recognises
 * end-of-turn, end-of-generation and fill-in-the-middle tokens by their text
 * and makes them control tokens, so plain text never turns into them. */
static void apply_token_overrides(duet_vocab *v)
{
	if (v->eot < 0) {
		v->eot = find_any(v, LIST("<|eot_id|>", "<|im_end|>", "<|end|>",
					  "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>",
					  "<EOT>", "_<EOT>", "[EOT]", DS_END, "<end_of_utterance>"));
		make_control(v, v->eot);
	}
	if (v->eom < 0) {
		v->eom = find_any(v, LIST("<|eom_id|>"));
		make_control(v, v->eom);
	}
	const char *const *fim[] = {
		LIST("<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>",
		     "<\xef\xbd\x9c" "fim\xe2\x96\x81" "begin\xef\xbd\x9c>", "<PRE>",
		     "\xe2\x96\x81<PRE>", "<|code_prefix|>", "<|prefix|>"),
		LIST("<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>",
		     "<\xef\xbd\x9c" "fim\xe2\x96\x81" "hole\xef\xbd\x9c>", "<SUF>",
		     "\xe2\x96\x81<SUF>", "<|code_suffix|>", "<|suffix|>"),
		LIST("<|fim_middle|>", "<fim-middle>", "<fim_middle>",
		     "<\xef\xbd\x9c" "fim\xe2\x96\x81" "end\xef\xbd\x9c>", "<MID>",
		     "\xe2\x96\x81<MID>", "<|code_middle|>", "<|middle|>"),
		LIST("<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"),
		LIST("<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"),
		LIST("<|file_sep|>"),
	};
	for (int k = 0; k < 6; k++) {
		int32_t id = find_any(v, fim[k]);
		make_control(v, id);
		if ((k == 3 || k == 5) && id >= 0) /* pad and file separator end */
			v->eog[id] = 1;
	}
	/* control tokens named "unused" are unused */
	for (uint32_t i = 0; i < v->n_tokens; i++)
		if ((v->attr[i] & DUET_ATTR_CONTROL) &&
		    find_bytes(v->text[i], v->text_len[i], "unused", 6))
			v->attr[i] |= DUET_ATTR_UNUSED;
	static const char *const eog_text[] = {
		"<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>",
		"<|flush|>", "<|calls|>", "<end_of_turn>", "<|endoftext|>", "</s>",
		"<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]", "<|end_of_text|>",
		"<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>", DS_END,
		"[e~[", NULL,
	};
	for (const char *const *t = eog_text; *t; t++) {
		int32_t id = find_text(v, *t);
		if (id >= 0) {
			v->eog[id] = 1;
			make_control(v, id);
		}
	}
	static const char *const always_shown[] = {
		"<|channel|>", "<|message|>", "<|start|>", "<|constrain|>", NULL,
	};
	for (const char *const *t = always_shown; *t; t++) {
		int32_t id = find_text(v, *t);
		if (id >= 0)
			v->attr[id] = DUET_ATTR_USER_DEFINED;
	}
	int32_t ids[3] = { v->eos, v->eot, v->eom };
	for (int k = 0; k < 3; k++)
		if (ids[k] >= 0)
			v->eog[ids[k]] = 1;
	/* o200k_harmony, solar-open: <|end|> is not an end there */
	int32_t ret = find_text(v, "<|return|>"), call = find_text(v, "<|call|>");
	int32_t calls = find_text(v, "<|calls|>"), flush = find_text(v, "<|flush|>");
	int32_t end = find_text(v, "<|end|>");
	bool has_call = (call >= 0 && v->eog[call]) || (calls >= 0 && v->eog[calls]);
	if (end >= 0 && v->eog[end] && has_call &&
	    ((ret >= 0 && v->eog[ret]) || (flush >= 0 && v->eog[flush]))) {
		v->eog[end] = 0;
		v->attr[end] = DUET_ATTR_USER_DEFINED;
	}
	/* gemma4, paddleocr: </s> is not an end there */
	int32_t tool = find_text(v, "<|tool_response>"), s = find_text(v, "</s>");
	if (tool >= 0 && v->eog[tool] && s >= 0 && v->eog[s]) {
		v->eog[s] = 0;
		v->attr[s] = DUET_ATTR_NORMAL;
	}
}

/* Sorts control/user-defined/unknown tokens longest text first (ties by
 * id), the order in which they are cut out of text. */
static duet_status build_special_cache(duet_vocab *v)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < v->n_tokens; i++)
		n += (v->attr[i] & (DUET_ATTR_CONTROL | DUET_ATTR_USER_DEFINED |
				    DUET_ATTR_UNKNOWN)) != 0;
	v->special = duet_arena_alloc(&v->arena, (n + 1) * sizeof *v->special);
	if (!v->special)
		return DUET_ERR(DUET_E_NOMEM, "out of memory");
	for (uint32_t i = 0; i < v->n_tokens; i++)
		if (v->attr[i] & (DUET_ATTR_CONTROL | DUET_ATTR_USER_DEFINED | DUET_ATTR_UNKNOWN))
			v->special[v->n_special++] = (int32_t)i;
	/* insertion sort is fine: special tokens are few hundred at most */
	for (uint32_t i = 1; i < v->n_special; i++) {
		int32_t t = v->special[i];
		uint32_t j = i;
		while (j > 0 && v->text_len[v->special[j - 1]] < v->text_len[t]) {
			v->special[j] = v->special[j - 1];
			j--;
		}
		v->special[j] = t;
	}
	return DUET_OK;
}

/* Whitespace stripping llama.cpp attaches to some special tokens by model
 * or pre-tokenizer name. */
static void apply_strip_rules(duet_vocab *v, const duet_gguf *g)
{
	const char *name = "", *pre = "";
	duet_gguf_get_str(g, "general.name", &name);
	duet_gguf_get_str(g, "tokenizer.ggml.pre", &pre);
	char lower[128];
	size_t k = 0;
	for (; name[k] && k + 1 < sizeof lower; k++)
		lower[k] = (char)tolower((unsigned char)name[k]);
	lower[k] = '\0';
	if (strstr(pre, "jina-v2-de") || strstr(pre, "jina-v2-es") ||
	    strstr(pre, "jina-v2-code")) {
		int32_t id = duet_vocab_find(v, "<mask>", 6);
		if (id >= 0)
			v->attr[id] |= DUET_ATTR_LSTRIP;
	} else if (strstr(lower, "phi-3") || strstr(lower, "phi3")) {
		for (uint32_t i = 0; i < v->n_special; i++)
			v->attr[v->special[i]] |= DUET_ATTR_RSTRIP;
		const char *on[] = { "</s>" }, *off[] = { "<unk>", "<s>", "<|endoftext|>" };
		int32_t id = duet_vocab_find(v, on[0], strlen(on[0]));
		if (id >= 0)
			v->attr[id] |= DUET_ATTR_RSTRIP;
		for (int j = 0; j < 3; j++)
			if ((id = duet_vocab_find(v, off[j], strlen(off[j]))) >= 0)
				v->attr[id] &= (uint16_t)~DUET_ATTR_RSTRIP;
	}
}

static duet_status load_texts(duet_vocab *v, const duet_gguf_str *tokens,
			      const int32_t *types)
{
	uint32_t n = v->n_tokens;
	v->text = duet_arena_alloc(&v->arena, n * sizeof *v->text);
	v->text_len = duet_arena_alloc(&v->arena, n * sizeof *v->text_len);
	v->attr = duet_arena_alloc(&v->arena, n * sizeof *v->attr);
	v->eog = duet_arena_alloc(&v->arena, n);
	if (!v->text || !v->text_len || !v->attr || !v->eog ||
	    duet_strmap_init(&v->token_ids, n) != DUET_OK)
		return DUET_ERR(DUET_E_NOMEM, "out of memory loading the vocabulary");
	for (uint32_t i = 0; i < n; i++) {
		v->text[i] = tokens[i].s;
		v->text_len[i] = tokens[i].n > UINT32_MAX ? UINT32_MAX : (uint32_t)tokens[i].n;
		if (tokens[i].n == 0) { /* as llama.cpp: a visible placeholder */
			char buf[32];
			int k = snprintf(buf, sizeof buf, "[EMPTY_%u]", i);
			v->text[i] = duet_arena_strndup(&v->arena, buf, (size_t)k);
			v->text_len[i] = (uint32_t)k;
			if (!v->text[i])
				return DUET_ERR(DUET_E_NOMEM, "out of memory");
		}
		v->attr[i] = types ? attr_of_type(types[i]) : DUET_ATTR_NORMAL;
		duet_status s = duet_strmap_put(&v->token_ids, v->text[i], v->text_len[i],
						(int32_t)i, 0, false, true);
		if (s != DUET_OK)
			return s;
	}
	return DUET_OK;
}

/* BPE merges "left right": the split is the first space after the first
 * byte; a repeated merge keeps its first rank. */
static duet_status load_merges(duet_vocab *v, const duet_gguf *g)
{
	const void *data;
	uint64_t n;
	duet_status s = duet_gguf_get_arr(g, "tokenizer.ggml.merges", DUET_GGUF_STRING,
					  &data, &n);
	if (s == DUET_E_NOT_FOUND)
		return DUET_ERR(DUET_E_CORRUPT,
				"BPE vocabulary without tokenizer.ggml.merges");
	if (s != DUET_OK)
		return s;
	const duet_gguf_str *m = data;
	if ((s = duet_strmap_init(&v->merges, (uint32_t)(n < UINT32_MAX ? n : UINT32_MAX))))
		return s;
	for (uint64_t i = 0; i < n && i < INT32_MAX; i++) {
		const char *sp = m[i].n > 1 ? memchr(m[i].s + 1, ' ', (size_t)m[i].n - 1) : NULL;
		if (!sp)
			continue;
		s = duet_strmap_put(&v->merges, m[i].s, (size_t)m[i].n, (int32_t)i,
				    (uint32_t)(sp - m[i].s), true, false);
		if (s != DUET_OK)
			return s;
	}
	return DUET_OK;
}

static duet_status load_kind(duet_vocab *v, const duet_gguf *g)
{
	const char *model = "llama", *pre = NULL;
	duet_status s = duet_gguf_get_str(g, "tokenizer.ggml.model", &model);
	if (s != DUET_OK && s != DUET_E_NOT_FOUND)
		return s;
	if (duet_gguf_get_str(g, "tokenizer.ggml.pre", &pre) == DUET_E_CORRUPT)
		return DUET_E_CORRUPT;
	if (strcmp(model, "llama") == 0) {
		v->kind = DUET_VOCAB_SPM;
		v->bos = 1;
		v->eos = 2;
		v->unk = 0;
		v->add_space_prefix = true;
		v->add_bos = true;
		return DUET_OK;
	}
	if (strcmp(model, "gpt2") != 0)
		return DUET_ERR(DUET_E_UNSUPPORTED,
				"tokenizer model '%s' is not supported (llama and gpt2 are)",
				model);
	v->kind = DUET_VOCAB_BPE;
	v->pre_status = duet_pretok_create(pre, &v->pretok, &v->pre);
	if (v->pre_status == DUET_E_UNSUPPORTED) {
		snprintf(v->pre_error, sizeof v->pre_error, "%s", duet_last_error());
	} else if (v->pre_status != DUET_OK) {
		return v->pre_status;
	} else if (!v->pre.known) {
		snprintf(v->warning, sizeof v->warning,
			 "unknown pre-tokenizer '%s', using 'default' (as llama.cpp does)",
			 pre ? pre : "");
	}
	v->add_bos = v->pre.add_bos;
	v->clean_spaces = v->pre.clean_spaces;
	v->ignore_merges = v->pre.ignore_merges;
	return DUET_OK;
}

/* True when some piece has U+2581 right after a character other than
 * U+2581: then SentencePiece merges may cross word starts. */
static bool space_inside_piece(const duet_vocab *v)
{
	for (uint32_t i = 0; i < v->n_tokens; i++) {
		const char *t = v->text[i];
		for (uint32_t k = 1; k + 3 <= v->text_len[i]; k++)
			if (memcmp(t + k, "\xe2\x96\x81", 3) == 0 &&
			    !(k >= 3 && memcmp(t + k - 3, "\xe2\x96\x81", 3) == 0))
				return true;
	}
	return false;
}

duet_status duet_vocab_init(duet_vocab *v, const duet_gguf *g)
{
	memset(v, 0, sizeof *v);
	duet_arena_init(&v->arena, 0);
	v->bos = v->eos = v->eot = v->eom = v->unk = -1;
	const void *tokens, *types = NULL, *scores = NULL;
	uint64_t n;
	duet_status s = duet_gguf_get_arr(g, "tokenizer.ggml.tokens", DUET_GGUF_STRING,
					  &tokens, &n);
	if (s == DUET_E_NOT_FOUND)
		return DUET_OK;
	if (s == DUET_OK && (n == 0 || n > INT32_MAX))
		s = DUET_ERR(DUET_E_CORRUPT, "tokenizer.ggml.tokens has %llu entries",
			     (unsigned long long)n);
	if (s != DUET_OK)
		return s;
	v->n_tokens = (uint32_t)n;
	if ((s = load_kind(v, g)) ||
	    (s = per_token(g, "tokenizer.ggml.token_type", DUET_GGUF_I32, v->n_tokens, &types)) ||
	    (s = per_token(g, "tokenizer.ggml.scores", DUET_GGUF_F32, v->n_tokens, &scores)) ||
	    (s = load_texts(v, tokens, types)) ||
	    (v->kind == DUET_VOCAB_BPE && (s = load_merges(v, g))) ||
	    (s = special_id(v, g, "tokenizer.ggml.bos_token_id", &v->bos)) ||
	    (s = special_id(v, g, "tokenizer.ggml.eos_token_id", &v->eos)) ||
	    (s = special_id(v, g, "tokenizer.ggml.eot_token_id", &v->eot)) ||
	    (s = special_id(v, g, "tokenizer.ggml.eom_token_id", &v->eom)) ||
	    (s = special_id(v, g, "tokenizer.ggml.unknown_token_id", &v->unk)) ||
	    (s = opt_bool(g, "tokenizer.ggml.add_bos_token", &v->add_bos)) ||
	    (s = opt_bool(g, "tokenizer.ggml.add_eos_token", &v->add_eos)) ||
	    (s = opt_bool(g, "tokenizer.ggml.add_space_prefix", &v->add_space_prefix)))
		goto fail;
	if (v->pre.no_bos)
		v->bos = -1;
	v->spm_words = v->kind == DUET_VOCAB_SPM && !space_inside_piece(v);
	v->scores = scores;
	apply_token_overrides(v);
	if ((s = build_special_cache(v)))
		goto fail;
	apply_strip_rules(v, g);
	return DUET_OK;
fail:
	duet_vocab_finish(v);
	return s;
}

void duet_vocab_finish(duet_vocab *v)
{
	duet_strmap_finish(&v->token_ids);
	duet_strmap_finish(&v->merges);
	duet_pretok_destroy(v->pretok);
	duet_arena_finish(&v->arena);
	v->pretok = NULL;
	v->kind = DUET_VOCAB_NONE;
}

/* ---- tokenizing ---------------------------------------------------------- */

duet_status duet_tokens_push(duet_tokens *t, int32_t id)
{
	if (t->n == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 64;
		int32_t *ids = realloc(t->ids, cap * sizeof *ids);
		if (!ids)
			return DUET_ERR(DUET_E_NOMEM, "out of memory");
		t->ids = ids;
		t->cap = cap;
	}
	t->ids[t->n++] = id;
	return DUET_OK;
}

/* A piece of the input: raw text [off, off+len) or a special token. */
typedef struct frag {
	size_t off, len;
	int32_t token; /* -1: raw text */
} frag;

typedef struct frags {
	frag *f;
	size_t n, cap;
} frags;

static bool frags_push(frags *fs, frag f)
{
	if (fs->n == fs->cap) {
		size_t cap = fs->cap ? 2 * fs->cap : 16;
		frag *p = realloc(fs->f, cap * sizeof *p);
		if (!p)
			return false;
		fs->f = p;
		fs->cap = cap;
	}
	fs->f[fs->n++] = f;
	return true;
}

static const char *find_bytes(const char *h, size_t hn, const char *nd, size_t nn)
{
	if (nn == 0 || nn > hn)
		return NULL;
	for (const char *p = h; (p = memchr(p, nd[0], (size_t)(h + hn - p))); p++) {
		if ((size_t)(h + hn - p) < nn)
			return NULL;
		if (memcmp(p, nd, nn) == 0)
			return p;
	}
	return NULL;
}

/* Byte ranges of the text where control tokens must not be recognised
 * (message contents inside a chat template). */
typedef struct protect {
	const size_t (*r)[2];
	size_t n;
} protect;

static bool protected_at(const protect *p, size_t a, size_t b)
{
	for (size_t i = 0; p && i < p->n; i++)
		if (a < p->r[i][1] && p->r[i][0] < b)
			return true;
	return false;
}

/* Cuts every occurrence of special token id out of the raw fragments. */
static bool cut_special(const duet_vocab *v, const char *text, int32_t id,
			const protect *prot, frags *in, frags *out)
{
	const char *tt = v->text[id];
	size_t tn = v->text_len[id];
	uint16_t attr = v->attr[id];
	bool control = attr & (DUET_ATTR_CONTROL | DUET_ATTR_UNKNOWN);
	for (size_t i = 0; i < in->n; i++) {
		frag f = in->f[i];
		if (f.token >= 0) {
			if (!frags_push(out, f))
				return false;
			continue;
		}
		size_t off = f.off, len = f.len, from = 0;
		const char *m;
		while ((m = find_bytes(text + off + from, len - from, tt, tn))) {
			size_t at = (size_t)(m - text);
			if (control && protected_at(prot, at, at + tn)) {
				from = at + 1 - off; /* user text: leave it as text */
				continue;
			}
			size_t left = at - off;
			if (attr & DUET_ATTR_LSTRIP)
				while (left > 0 && isspace((unsigned char)text[off + left - 1]))
					left--;
			if (left && !frags_push(out, (frag){ off, left, -1 }))
				return false;
			if (!frags_push(out, (frag){ 0, 0, id }))
				return false;
			size_t used = at - off + tn;
			off += used;
			len -= used;
			from = 0;
			if (attr & DUET_ATTR_RSTRIP)
				while (len > 0 && isspace((unsigned char)text[off])) {
					off++;
					len--;
				}
		}
		if (len && !frags_push(out, (frag){ off, len, -1 }))
			return false;
	}
	return true;
}

static duet_status partition(const duet_vocab *v, const char *text, size_t len,
			     bool parse_special, const protect *prot, frags *fs)
{
	frags tmp = { 0 };
	if (len && !frags_push(fs, (frag){ 0, len, -1 }))
		return DUET_ERR(DUET_E_NOMEM, "out of memory");
	for (uint32_t k = 0; k < v->n_special; k++) {
		int32_t id = v->special[k];
		if (!parse_special && (v->attr[id] & (DUET_ATTR_CONTROL | DUET_ATTR_UNKNOWN)))
			continue;
		tmp.n = 0;
		if (!cut_special(v, text, id, prot, fs, &tmp)) {
			free(tmp.f);
			return DUET_ERR(DUET_E_NOMEM, "out of memory");
		}
		frags swap = *fs;
		*fs = tmp;
		tmp = swap;
	}
	free(tmp.f);
	return DUET_OK;
}

duet_status duet_vocab_tokenize(const duet_vocab *v, const char *text, size_t len,
				bool add_special, bool parse_special, duet_tokens *out)
{
	return duet_vocab_tokenize_protected(v, text, len, add_special, parse_special,
					     NULL, 0, out);
}

duet_status duet_vocab_tokenize_protected(const duet_vocab *v, const char *text,
					  size_t len, bool add_special,
					  bool parse_special,
					  const size_t (*ranges)[2], size_t n_ranges,
					  duet_tokens *out)
{
	if (v->kind == DUET_VOCAB_NONE)
		return DUET_ERR(DUET_E_UNSUPPORTED, "the model has no tokenizer");
	if (v->pre_status != DUET_OK)
		return DUET_ERR(v->pre_status, "%s", v->pre_error);
	frags fs = { 0 };
	protect prot = { ranges, n_ranges };
	duet_status s = partition(v, text, len, parse_special, &prot, &fs);
	if (s == DUET_OK && add_special && v->add_bos && v->bos >= 0)
		s = duet_tokens_push(out, v->bos);
	bool prev_special = true; /* SPM: a leading space before text */
	for (size_t i = 0; i < fs.n && s == DUET_OK; i++) {
		frag f = fs.f[i];
		if (f.token >= 0) {
			s = duet_tokens_push(out, f.token);
			prev_special = true;
		} else if (v->kind == DUET_VOCAB_SPM) {
			bool space = v->add_space_prefix && prev_special;
			char *buf = malloc(f.len + 2);
			if (!buf) {
				s = DUET_ERR(DUET_E_NOMEM, "out of memory");
				break;
			}
			buf[0] = ' ';
			memcpy(buf + space, text + f.off, f.len);
			s = duet_spm_tokenize(v, buf, f.len + space, out);
			free(buf);
			prev_special = false;
		} else {
			s = duet_bpe_tokenize(v, text + f.off, f.len, out);
		}
	}
	if (s == DUET_OK && add_special && v->add_eos && v->eos >= 0)
		s = duet_tokens_push(out, v->eos);
	free(fs.f);
	return s;
}

/* ---- decoding ------------------------------------------------------------ */

/* Appends bytes to the piece being built (counting past cap). */
static void put(char *buf, size_t cap, size_t *len, const char *p, size_t n)
{
	if (*len < cap)
		memcpy(buf + *len, p, *len + n <= cap ? n : cap - *len);
	*len += n;
}

/* GPT-2 byte-level: the byte a code point stands for, or -1. */
static int bpe_byte_of(uint32_t cp)
{
	if ((cp >= 0x21 && cp <= 0x7e) || (cp >= 0xa1 && cp <= 0xac) ||
	    (cp >= 0xae && cp <= 0xff))
		return (int)cp;
	if (cp < 0x100 || cp >= 0x100 + 68)
		return -1;
	uint32_t k = 0x100;
	for (int b = 0; b < 256; b++) {
		bool shown = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) ||
			     (b >= 0xae && b <= 0xff);
		if (!shown && k++ == cp)
			return b;
	}
	return -1;
}

static void decode_bpe(const char *t, size_t n, char *buf, size_t cap, size_t *len)
{
	for (size_t i = 0; i < n;) {
		uint32_t cp;
		size_t k = duet_utf8_decode((const unsigned char *)t + i, n - i, &cp);
		int b = bpe_byte_of(cp);
		if (b >= 0) {
			char c = (char)b;
			put(buf, cap, len, &c, 1);
		} else { /* llama.cpp's marker for a code point with no byte */
			char enc[4], hex[8];
			size_t e = duet_utf8_encode(cp, enc);
			put(buf, cap, len, "[UNK_BYTE_0x", 12);
			for (size_t j = 0; j < e; j++) {
				snprintf(hex, sizeof hex, "%02x", (unsigned char)enc[j]);
				put(buf, cap, len, hex, 2);
			}
			put(buf, cap, len, t, n);
			put(buf, cap, len, "]", 1);
		}
		i += k;
	}
}

static void decode_spm(const char *t, size_t n, char *buf, size_t cap, size_t *len)
{
	for (size_t i = 0; i < n;) {
		if (i + 3 <= n && memcmp(t + i, "\xe2\x96\x81", 3) == 0) {
			put(buf, cap, len, " ", 1);
			i += 3;
		} else {
			put(buf, cap, len, t + i, 1);
			i++;
		}
	}
}

static int hex_digit(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10
		: c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

duet_status duet_vocab_token_piece(const duet_vocab *v, int32_t token, bool special,
				   int lstrip, char *buf, size_t cap, size_t *len)
{
	*len = 0;
	if (v->kind == DUET_VOCAB_NONE || token < 0 || (uint32_t)token >= v->n_tokens)
		return DUET_ERR(DUET_E_INVAL, "token id %d is outside the vocabulary (%u tokens)",
				token, v->n_tokens);
	uint16_t a = v->attr[token];
	const char *t = v->text[token];
	size_t n = v->text_len[token];
	if (!special && (a & (DUET_ATTR_UNKNOWN | DUET_ATTR_CONTROL)))
		return DUET_OK;
	size_t full = 0; /* bytes of the whole piece, before lstrip */
	char *dst = buf, byte;
	if (a & (DUET_ATTR_UNKNOWN | DUET_ATTR_CONTROL | DUET_ATTR_USER_DEFINED)) {
		put(dst, cap, &full, t, n);
	} else if ((a & DUET_ATTR_NORMAL) && v->kind == DUET_VOCAB_SPM) {
		decode_spm(t, n, dst, cap, &full);
	} else if (a & DUET_ATTR_NORMAL) {
		decode_bpe(t, n, dst, cap, &full);
	} else if ((a & DUET_ATTR_BYTE) && v->kind == DUET_VOCAB_SPM && n >= 5 &&
		   hex_digit(t[3]) >= 0 && hex_digit(t[4]) >= 0) {
		byte = (char)(hex_digit(t[3]) * 16 + hex_digit(t[4]));
		put(dst, cap, &full, &byte, 1);
	}
	if (full > cap) {
		*len = full;
		return DUET_ERR(DUET_E_RANGE, "token %d needs %zu bytes", token, full);
	}
	size_t skip = 0;
	while ((int)skip < lstrip && skip < full && buf[skip] == ' ')
		skip++;
	if (skip)
		memmove(buf, buf + skip, full - skip);
	*len = full - skip;
	return DUET_OK;
}

/* llama.cpp's three clean-up passes over " ?", " ' " and " 's"-style text. */
static size_t clean_spaces(char *t, size_t n)
{
	size_t total = n ? 1 : 0;
	for (size_t i = 1; i < n; i++) {
		char x = t[i];
		if (t[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ','))
			total--;
		t[total++] = x;
	}
	n = total;
	total = n ? 1 : 0;
	for (size_t i = 1; i < n; i++) {
		char x = t[i];
		if (x == '\'' && i + 1 < n && t[i - 1] == ' ' && t[i + 1] == ' ') {
			total--;
			t[++i] = '\0';
		}
		t[total++] = x;
	}
	n = total;
	total = n ? 1 : 0;
	for (size_t i = 1; i < n; i++) {
		char x = t[i];
		if (t[i - 1] == ' ' && x == '\'' && i + 1 < n) {
			char x1 = t[i + 1];
			if (x1 == 's' || x1 == 'm')
				total--;
			else if (i + 2 < n && ((x1 == 'r' && t[i + 2] == 'e') ||
					       (x1 == 'v' && t[i + 2] == 'e')))
				total--;
		}
		t[total++] = x;
	}
	return total;
}

duet_status duet_vocab_detokenize(const duet_vocab *v, const int32_t *ids, size_t n,
				  bool remove_special, bool unparse_special,
				  char **text, size_t *len)
{
	*text = NULL;
	*len = 0;
	bool remove_space = v->add_space_prefix;
	if (remove_special && v->add_bos && n > 0 && ids[0] == v->bos) {
		remove_space = false;
		ids++;
		n--;
	}
	if (remove_special && v->add_eos && n > 0 && ids[n - 1] == v->eos)
		n--;
	size_t cap = 64, total = 0;
	char *out = malloc(cap);
	if (!out)
		return DUET_ERR(DUET_E_NOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		size_t got;
		duet_status s;
		while ((s = duet_vocab_token_piece(v, ids[i], unparse_special, remove_space,
						   out + total, cap - total - 1, &got)) ==
		       DUET_E_RANGE) {
			char *p = realloc(out, cap * 2 + got);
			if (!p) {
				free(out);
				return DUET_ERR(DUET_E_NOMEM, "out of memory");
			}
			out = p;
			cap = cap * 2 + got;
		}
		if (s != DUET_OK) {
			free(out);
			return s;
		}
		remove_space = false;
		total += got;
	}
	if (v->clean_spaces)
		total = clean_spaces(out, total);
	out[total] = '\0';
	*text = out;
	*len = total;
	return DUET_OK;
}
