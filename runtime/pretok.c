/* Pre-tokenizers for byte-level BPE (see pretok.h). The pattern strings are
 * llama.cpp's, so the same text splits the same way. */
#include "pretok.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "regex.h"
#include "unicode.h"

#define RX_GPT2 \
	"'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"
#define RX_LLAMA3                                                              \
	"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?" \
	"\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RX_QWEN2                                                               \
	"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?" \
	"\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

static const char *const rx_default[] = {
	"[\\p{P}\\$\\+<=>\\^~\\|]+", RX_GPT2, "\\p{N}+", "[0-9][0-9][0-9]", NULL,
};
static const char *const rx_llama3[] = { RX_LLAMA3, NULL };
static const char *const rx_gpt2[] = { RX_GPT2, NULL };
static const char *const rx_qwen2[] = { RX_QWEN2, NULL };
static const char *const rx_starcoder[] = { "\\p{N}", RX_GPT2, NULL };
static const char *const rx_falcon[] = {
	"[\\p{P}\\$\\+<=>\\^~\\|`]+", RX_GPT2, "[0-9][0-9][0-9]", NULL,
};
static const char *const rx_deepseek_llm[] = {
	"[\r\n]",
	"\\s?[A-Za-z\xc2\xb5\xc3\x80-\xc3\x96\xc3\x98-\xc3\xb6\xc3\xb8-\xc6\xba\xc6\xbc-\xc6\xbf"
	"\xc7\x84-\xca\x93\xca\x95-\xca\xaf\xcd\xb0-\xcd\xb3\xcd\xb6\xcd\xb7\xcd\xbb-\xcd\xbd"
	"\xcd\xbf\xce\x86\xce\x88-\xce\x8a\xce\x8c\xce\x8e-\xce\xa1\xce\xa3-\xcf\xb5"
	"\xcf\xb7-\xd2\x81\xd2\x8a-\xd4\xaf\xd4\xb1-\xd5\x96\xe1\x82\xa0-\xe1\x83\x85"
	"\xe1\x8e\xa0-\xe1\x8f\xb5\xe1\x8f\xb8-\xe1\x8f\xbd\xe1\xb2\x90-\xe1\xb2\xba"
	"\xe1\xb2\xbd-\xe1\xb2\xbf\xe1\xb4\x80-\xe1\xb4\xab\xe1\xb5\xab-\xe1\xb5\xb7"
	"\xe1\xb5\xb9-\xe1\xb6\x9a\xe1\xb8\x80-\xe1\xbc\x95\xe1\xbc\x98-\xe1\xbc\x9d"
	"\xe1\xbc\xa0-\xe1\xbd\x85\xe1\xbd\x88-\xe1\xbd\x8d\xe1\xbd\x90-\xe1\xbd\x97"
	"\xe1\xbd\x99\xe1\xbd\x9b\xe1\xbd\x9d\xe1\xbd\x9f-\xe1\xbd\xbd\xe1\xbe\x80-\xe1\xbe\xb4"
	"\xe1\xbe\xb6-\xe1\xbe\xbc\xe1\xbe\xbe\xe1\xbf\x82-\xe1\xbf\x84\xe1\xbf\x86-\xe1\xbf\x8c"
	"\xe1\xbf\x90-\xe1\xbf\x93\xe1\xbf\x96-\xe1\xbf\x9b\xe1\xbf\xa0-\xe1\xbf\xac"
	"\xe1\xbf\xb2-\xe1\xbf\xb4\xe1\xbf\xb6-\xe1\xbf\xbc\xe2\x84\x82\xe2\x84\x87"
	"\xe2\x84\x8a-\xe2\x84\x93\xe2\x84\x95\xe2\x84\x99-\xe2\x84\x9d\xe2\x84\xa4"
	"\xe2\x84\xa6\xe2\x84\xa8\xe2\x84\xaa-\xe2\x84\xad\xe2\x84\xaf-\xe2\x84\xb4"
	"\xe2\x84\xb9\xe2\x84\xbc-\xe2\x84\xbf\xe2\x85\x85-\xe2\x85\x89\xe2\x85\x8e"
	"\xe2\x86\x83\xe2\x86\x84\xe2\xb0\x80-\xe2\xb1\xbb\xe2\xb1\xbe-\xe2\xb3\xa4"
	"\xe2\xb3\xab-\xe2\xb3\xae\xe2\xb3\xb2\xe2\xb3\xb3\xea\x99\x80-\xea\x99\xad"
	"\xea\x9a\x80-\xea\x9a\x9b\xea\x9c\xa2-\xea\x9d\xaf\xea\x9d\xb1-\xea\x9e\x87"
	"\xea\x9e\x8b-\xea\x9e\x8e\xea\xad\xb0-\xea\xae\xbf\xef\xac\x80-\xef\xac\x86"
	"\xef\xac\x93-\xef\xac\x97\xef\xbc\xa1-\xef\xbc\xba\xef\xbd\x81-\xef\xbd\x9a"
	"\xf0\x90\x90\x80-\xf0\x90\x91\x8f\xf0\x90\x92\xb0-\xf0\x90\x93\x93"
	"\xf0\x90\x93\x98-\xf0\x90\x93\xbb\xf0\x90\xb2\x80-\xf0\x90\xb2\xb2"
	"\xf0\x90\xb3\x80-\xf0\x90\xb3\xb2\xf0\x91\xa2\xa0-\xf0\x91\xa3\x9f"
	"\xf0\x9e\xa4\x80-\xf0\x9e\xa5\x83]+",
	"\\s?[!-/:-~\xef\xbc\x81-\xef\xbc\x8f\xef\xbc\x9a-\xef\xbd\x9e\xe2\x80\x98-\xe2\x80\x9f"
	"\xe3\x80\x80-\xe3\x80\x82]+",
	"\\s+$",
	"[\xe4\xb8\x80-\xe9\xbe\xa5\xe0\xa0\x80-\xe4\xb8\x80\xea\xb0\x80-\xed\x9e\xbf]+",
	"\\p{N}+",
	NULL,
};
static const char *const rx_deepseek_coder[] = {
	"[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+",
	"[\xe4\xb8\x80-\xe9\xbe\xa5\xe0\xa0\x80-\xe4\xb8\x80\xea\xb0\x80-\xed\x9e\xbf]+",
	"\\p{N}", NULL,
};

typedef struct pre_def {
	const char *canonical;
	const char *const *names; /* GGUF values mapping here */
	const char *const *regex;
	bool ignore_merges, add_bos, clean_spaces, no_bos;
} pre_def;

#define NAMES(...) (const char *const[]){ __VA_ARGS__, NULL }

static const pre_def pre_defs[] = {
	{ "default", NAMES("default"), rx_default, false, false, true, false },
	{ "llama3", NAMES("llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1",
			  "pixtral", "midm-2.0", "lfm2"),
	  rx_llama3, true, true, true, false },
	{ "dbrx", NAMES("dbrx", "smaug-bpe"), rx_llama3, false, false, true, false },
	{ "chatglm4", NAMES("glm4", "chatglm-bpe"), rx_llama3, false, false, true, true },
	{ "deepseek-llm", NAMES("deepseek-llm"), rx_deepseek_llm, false, false, false, false },
	{ "deepseek-coder", NAMES("deepseek-coder"), rx_deepseek_coder, false, false, false,
	  false },
	{ "falcon", NAMES("falcon"), rx_falcon, false, false, true, false },
	{ "gpt2", NAMES("gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es",
			"jina-v2-de", "a.x-4.0", "mellum", "jina-v1-en", "jina-v2-code",
			"roberta-bpe", "mpt", "olmo", "jais", "exaone4"),
	  rx_gpt2, false, false, true, false },
	{ "gpt2-raw", NAMES("trillion", "granite-docling"), rx_gpt2, false, false, false, false },
	{ "starcoder", NAMES("starcoder", "refact", "codeshell", "exaone", "minerva-7b"),
	  rx_starcoder, false, false, true, false },
	{ "starcoder-raw", NAMES("command-r", "smollm"), rx_starcoder, false, false, false,
	  false },
	{ "qwen2", NAMES("qwen2", "deepseek-r1-qwen", "kormo", "hunyuan"), rx_qwen2, false,
	  false, false, false },
	{ "stablelm2", NAMES("stablelm2", "megrez"), rx_qwen2, false, false, true, false },
};

/* Types llama.cpp implements with patterns duet does not: refuse them. */
static const char *const pre_unsupported[] = {
	"deepseek-v3", "poro-chat", "viking", "tekken", "bloom", "gpt3-finnish",
	"chameleon", "gpt-4o", "llama4", "superbpe", "bailingmoe", "bailingmoe2",
	"llada-moe", "seed-coder", "hunyuan-dense", "kimi-k2", "grok-2", "afmoe",
	"minimax-m2", NULL,
};

enum { SPLIT_REGEX, SPLIT_GPT2, SPLIT_LLAMA3 };

typedef struct pre_step {
	int how;
	bool collapsed;
	duet_regex *rx;
} pre_step;

struct duet_pretok {
	uint32_t n_steps;
	pre_step steps[8];
};

static const pre_def *find_def(const char *pre)
{
	for (size_t i = 0; pre && i < sizeof pre_defs / sizeof *pre_defs; i++)
		for (const char *const *n = pre_defs[i].names; *n; n++)
			if (strcmp(*n, pre) == 0)
				return &pre_defs[i];
	return NULL;
}

duet_status duet_pretok_create(const char *pre, duet_pretok **out,
			       duet_pretok_info *info)
{
	*out = NULL;
	for (const char *const *u = pre_unsupported; pre && *u; u++)
		if (strcmp(*u, pre) == 0)
			return DUET_ERR(DUET_E_UNSUPPORTED,
					"pre-tokenizer '%s' is not supported yet", pre);
	const pre_def *d = find_def(pre);
	info->known = d != NULL;
	if (!d)
		d = &pre_defs[0];
	info->name = d->canonical;
	info->ignore_merges = d->ignore_merges;
	info->add_bos = d->add_bos;
	info->clean_spaces = d->clean_spaces;
	info->no_bos = d->no_bos;
	duet_pretok *p = calloc(1, sizeof *p);
	if (!p)
		return DUET_ERR(DUET_E_NOMEM, "out of memory");
	for (const char *const *rx = d->regex; *rx; rx++) {
		pre_step *st = &p->steps[p->n_steps++];
		if (strcmp(*rx, RX_GPT2) == 0) {
			st->how = SPLIT_GPT2;
		} else if (strcmp(*rx, RX_LLAMA3) == 0) {
			st->how = SPLIT_LLAMA3;
		} else {
			st->how = SPLIT_REGEX;
			st->collapsed = duet_regex_uses_categories(*rx);
			duet_status s = duet_regex_compile(
				*rx, st->collapsed ? DUET_REGEX_COLLAPSED : DUET_REGEX_WIDE,
				&st->rx);
			if (s != DUET_OK) {
				duet_pretok_destroy(p);
				return s;
			}
		}
	}
	*out = p;
	return DUET_OK;
}

void duet_pretok_destroy(duet_pretok *p)
{
	if (!p)
		return;
	for (uint32_t i = 0; i < p->n_steps; i++)
		duet_regex_destroy(p->steps[i].rx);
	free(p);
}

/* ---- piece lists --------------------------------------------------------- */

typedef struct pieces {
	size_t *len;
	size_t n, cap;
	bool failed;
} pieces;

static void push(pieces *o, size_t len)
{
	if (!len || o->failed)
		return;
	if (o->n == o->cap) {
		size_t cap = o->cap ? 2 * o->cap : 64;
		size_t *l = realloc(o->len, cap * sizeof *l);
		if (!l) {
			o->failed = true;
			return;
		}
		o->len = l;
		o->cap = cap;
	}
	o->len[o->n++] = len;
}

/* ---- the hand-written GPT-2 and Llama-3 splitters ------------------------ */

/* Flags of the code point at pos, or OUT outside the current piece (the
 * regexes cannot look past a piece). */
#define OUT 0xFFu

typedef struct span {
	const uint32_t *cps;
	size_t ini, end; /* the piece */
	size_t prev;     /* end of the last word emitted */
	pieces *o;
} span;

static unsigned flags_at(const span *s, size_t pos)
{
	return pos >= s->ini && pos < s->end ? duet_unicode_flags(s->cps[pos]) : OUT;
}

static uint32_t cp_at(const span *s, size_t pos)
{
	return pos >= s->ini && pos < s->end ? s->cps[pos] : UINT32_MAX;
}

static bool f_letter(unsigned f) { return f != OUT && (f & DUET_UCAT_MASK) == DUET_UCAT_LETTER; }
static bool f_number(unsigned f) { return f != OUT && (f & DUET_UCAT_MASK) == DUET_UCAT_NUMBER; }
static bool f_space(unsigned f) { return f != OUT && (f & DUET_UFLAG_WHITESPACE); }
/* [^\s\p{L}\p{N}]: any code point that is none of the three */
static bool f_other(unsigned f) { return f != OUT && !f_space(f) && !f_letter(f) && !f_number(f); }

/* Emits the word that ends at end; returns its length. */
static size_t emit(span *s, size_t end)
{
	size_t len = end - s->prev;
	push(s->o, len);
	s->prev = end;
	return len;
}

/* 's 't 're 've 'm 'll 'd at pos (case-folded when fold): returns length. */
static size_t contraction(const span *s, size_t pos, bool fold)
{
	if (cp_at(s, pos) != '\'' || pos + 1 >= s->end)
		return 0;
	uint32_t a = cp_at(s, pos + 1), b = pos + 2 < s->end ? cp_at(s, pos + 2) : 0;
	if (fold) {
		a = duet_unicode_tolower(a);
		b = duet_unicode_tolower(b);
	}
	if (a == 's' || a == 't' || a == 'm' || a == 'd')
		return 2;
	if (pos + 2 < s->end && ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') ||
				 (a == 'l' && b == 'l')))
		return 3;
	return 0;
}

/* \s+(?!\S) then \s+, shared by both splitters; false if no whitespace. */
static bool whitespace_run(span *s, size_t *pos)
{
	size_t n = 0;
	while (f_space(flags_at(s, *pos + n)))
		n++;
	if (n > 1 && cp_at(s, *pos + n) != UINT32_MAX) {
		*pos += n - 1;
		emit(s, *pos);
		return true;
	}
	if (n > 0) {
		*pos += n;
		emit(s, *pos);
		return true;
	}
	return false;
}

/* 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
static void split_gpt2(span *s)
{
	for (size_t pos = s->ini; pos < s->end;) {
		uint32_t cp = cp_at(s, pos);
		size_t c = contraction(s, pos, false);
		if (c) {
			pos += emit(s, pos + c);
			continue;
		}
		unsigned f2 = cp == ' ' ? flags_at(s, pos + 1) : flags_at(s, pos);
		bool (*same)(unsigned) = f_letter(f2) ? f_letter : f_number(f2) ? f_number
				       : f_other(f2) ? f_other : NULL;
		if (same) {
			pos += cp == ' ';
			while (same(flags_at(s, pos)))
				pos++;
			emit(s, pos);
			continue;
		}
		if (!whitespace_run(s, &pos))
			emit(s, ++pos);
	}
}

/* (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
 *  ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+ */
static void split_llama3(span *s)
{
	for (size_t pos = s->ini; pos < s->end;) {
		uint32_t cp = cp_at(s, pos);
		unsigned f = flags_at(s, pos);
		size_t c = contraction(s, pos, true);
		if (c) {
			pos += emit(s, pos + c);
			continue;
		}
		if (!(cp == '\r' || cp == '\n' || f_number(f)) &&
		    (f_letter(f) || f_letter(flags_at(s, pos + 1)))) {
			pos++;
			while (f_letter(flags_at(s, pos)))
				pos++;
			emit(s, pos);
			continue;
		}
		if (f_number(f)) {
			size_t ini = pos;
			while (f_number(flags_at(s, pos)))
				if (++pos - ini >= 3) {
					emit(s, pos);
					ini = pos;
				}
			emit(s, pos);
			continue;
		}
		unsigned f2 = cp == ' ' ? flags_at(s, pos + 1) : f;
		if (f_other(f2) && f != OUT) {
			pos += cp == ' ';
			while (f_other(flags_at(s, pos)))
				pos++;
			while (cp_at(s, pos) == '\r' || cp_at(s, pos) == '\n')
				pos++;
			emit(s, pos);
			continue;
		}
		size_t n = 0, last_nl = 0;
		while (f_space(flags_at(s, pos + n))) {
			uint32_t c2 = cp_at(s, pos + n);
			if (c2 == '\r' || c2 == '\n')
				last_nl = pos + n + 1;
			n++;
		}
		if (last_nl) {
			pos = last_nl;
			emit(s, pos);
			continue;
		}
		if (!whitespace_run(s, &pos))
			emit(s, ++pos);
	}
}

/* ---- regex steps ------------------------------------------------------------ */

/* llama.cpp's view of the text for std::regex: one unit per code point. */
static uint32_t collapse(uint32_t cp)
{
	if (cp < 128)
		return cp;
	uint8_t f = duet_unicode_flags(cp);
	if (f & DUET_UFLAG_WHITESPACE)
		return 0x0B;
	switch (f & DUET_UCAT_MASK) {
	case DUET_UCAT_NUMBER: return 0xD1;
	case DUET_UCAT_LETTER: return 0xD2;
	case DUET_UCAT_PUNCT: return 0xD3;
	case DUET_UCAT_MARK: return 0xD4;
	case DUET_UCAT_SYMBOL: return 0xD5;
	default: return 0xD0;
	}
}

static uint32_t widen(uint32_t cp)
{
	return cp > 0x7F && (duet_unicode_flags(cp) & DUET_UFLAG_WHITESPACE) ? 0x0B : cp;
}

/* Matches and the gaps between them become pieces, in order. */
static void split_regex(const duet_regex *rx, const uint32_t *units, size_t ini,
			size_t end, pieces *o)
{
	size_t at = ini, ms, me;
	while (at < end && duet_regex_search(rx, units, ini, end, at, &ms, &me)) {
		if (me == ms) { /* cannot happen with these patterns; never loop */
			me = ms + 1;
		}
		push(o, ms - at);
		push(o, me - ms);
		at = me;
	}
	push(o, end - at);
}

duet_status duet_pretok_split(const duet_pretok *p, const uint32_t *cps,
			      size_t n, size_t **lens, size_t *n_words)
{
	pieces cur = { 0 };
	uint32_t *units[2] = { NULL, NULL }; /* wide, collapsed */
	push(&cur, n);
	for (uint32_t k = 0; k < p->n_steps && !cur.failed; k++) {
		const pre_step *st = &p->steps[k];
		uint32_t *u = NULL;
		if (st->how == SPLIT_REGEX) {
			int which = st->collapsed ? 1 : 0;
			if (!units[which] && (units[which] = malloc((n + 1) * sizeof(uint32_t))))
				for (size_t i = 0; i < n; i++)
					units[which][i] = which ? collapse(cps[i]) : widen(cps[i]);
			if (!(u = units[which])) {
				cur.failed = true;
				break;
			}
		}
		pieces next = { 0 };
		size_t start = 0;
		for (size_t i = 0; i < cur.n; i++) {
			span s = { cps, start, start + cur.len[i], start, &next };
			if (st->how == SPLIT_GPT2)
				split_gpt2(&s);
			else if (st->how == SPLIT_LLAMA3)
				split_llama3(&s);
			else
				split_regex(st->rx, u, s.ini, s.end, &next);
			start += cur.len[i];
		}
		free(cur.len);
		cur = next;
	}
	free(units[0]);
	free(units[1]);
	if (cur.failed) {
		free(cur.len);
		return DUET_ERR(DUET_E_NOMEM, "out of memory splitting text");
	}
	*lens = cur.len;
	*n_words = cur.n;
	return DUET_OK;
}
