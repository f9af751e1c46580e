/* Byte-level BPE tokenization of one text fragment, as llama.cpp's
 * llm_tokenizer_bpe does it: the pre-tokenizer splits the text into words;
 * each word's UTF-8 bytes are shown through GPT-2's byte-to-unicode map;
 * adjacent symbols are merged lowest merge rank first (leftmost on ties);
 * a final symbol that is no token falls back to its single bytes. */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "tokenizer.h"
#include "unicode.h"

typedef struct sym {
	const char *text;
	size_t n;
	int prev, next;
} sym;

typedef struct bigram {
	int rank, left, right;
	size_t size;
} bigram;

typedef struct bpe {
	const duet_vocab *v;
	sym *syms;
	bigram *heap;
	size_t n_heap, cap_heap;
	char *pair;       /* scratch for "left right" */
	size_t cap_pair;
	duet_tokens *out;
	bool failed;
} bpe;

/* GPT-2's printable stand-in for each byte, as UTF-8 (1 or 2 bytes). */
static void byte_glyph(unsigned char b, char *out, size_t *n)
{
	uint32_t cp;
	if ((b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || b >= 0xae) {
		cp = b;
	} else {
		uint32_t k = 0;
		for (unsigned c = 0; c < b; c++)
			k += !((c >= 0x21 && c <= 0x7e) || (c >= 0xa1 && c <= 0xac) || c >= 0xae);
		cp = 0x100 + k;
	}
	*n = duet_utf8_encode(cp, out);
}

static bool before(const bigram *a, const bigram *b)
{
	return a->rank < b->rank || (a->rank == b->rank && a->left < b->left);
}

static void heap_push(bpe *s, bigram b)
{
	if (s->n_heap == s->cap_heap) {
		size_t cap = s->cap_heap ? 2 * s->cap_heap : 64;
		bigram *h = realloc(s->heap, cap * sizeof *h);
		if (!h) {
			s->failed = true;
			return;
		}
		s->heap = h;
		s->cap_heap = cap;
	}
	size_t i = s->n_heap++;
	while (i > 0 && before(&b, &s->heap[(i - 1) / 2])) {
		s->heap[i] = s->heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	s->heap[i] = b;
}

static bigram heap_pop(bpe *s)
{
	bigram top = s->heap[0], last = s->heap[--s->n_heap];
	size_t i = 0;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= s->n_heap)
			break;
		if (c + 1 < s->n_heap && before(&s->heap[c + 1], &s->heap[c]))
			c++;
		if (!before(&s->heap[c], &last))
			break;
		s->heap[i] = s->heap[c];
		i = c;
	}
	if (s->n_heap)
		s->heap[i] = last;
	return top;
}

static void add_bigram(bpe *s, int left, int right)
{
	if (left < 0 || right < 0)
		return;
	const sym *l = &s->syms[left], *r = &s->syms[right];
	size_t n = l->n + 1 + r->n;
	if (n > s->cap_pair) {
		char *p = realloc(s->pair, 2 * n);
		if (!p) {
			s->failed = true;
			return;
		}
		s->pair = p;
		s->cap_pair = 2 * n;
	}
	memcpy(s->pair, l->text, l->n);
	s->pair[l->n] = ' ';
	memcpy(s->pair + l->n + 1, r->text, r->n);
	const duet_strmap_entry *e = duet_strmap_get(&s->v->merges, s->pair, n, true,
						     (uint32_t)l->n);
	if (e)
		heap_push(s, (bigram){ e->value, left, right, l->n + r->n });
}

static void emit(bpe *s, int32_t id)
{
	s->failed |= duet_tokens_push(s->out, id) != DUET_OK;
}

static void merge_word(bpe *s, const char *w, size_t wn)
{
	if (s->v->ignore_merges) {
		int32_t id = duet_vocab_find(s->v, w, wn);
		if (id >= 0) {
			emit(s, id);
			return;
		}
	}
	int n = 0;
	for (size_t off = 0; off < wn; n++) {
		size_t l = duet_utf8_len((unsigned char)w[off]);
		if (l > wn - off)
			l = wn - off;
		s->syms[n] = (sym){ w + off, l, n - 1, off + l == wn ? -1 : n + 1 };
		off += l;
	}
	s->n_heap = 0;
	for (int i = 1; i < n; i++)
		add_bigram(s, i - 1, i);
	while (s->n_heap && !s->failed) {
		bigram b = heap_pop(s);
		sym *l = &s->syms[b.left], *r = &s->syms[b.right];
		if (l->n == 0 || r->n == 0 || l->n + r->n != b.size)
			continue;
		l->n += r->n;
		r->n = 0;
		l->next = r->next;
		if (r->next >= 0)
			s->syms[r->next].prev = b.left;
		add_bigram(s, l->prev, b.left);
		add_bigram(s, b.left, l->next);
	}
	for (int i = 0; n > 0 && i != -1; i = s->syms[i].next) {
		int32_t id = duet_vocab_find(s->v, s->syms[i].text, s->syms[i].n);
		if (id >= 0) {
			emit(s, id);
			continue;
		}
		for (size_t j = 0; j < s->syms[i].n; j++) { /* single bytes, if tokens */
			int32_t b = duet_vocab_find(s->v, s->syms[i].text + j, 1);
			if (b >= 0)
				emit(s, b);
		}
	}
}

/* Writes the byte-level form of the code points cps[0..n) into w. */
static size_t encode_word(const uint32_t *cps, size_t n, char *w)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		char utf8[4];
		size_t m = duet_utf8_encode(cps[i], utf8);
		for (size_t j = 0; j < m; j++) {
			size_t g;
			byte_glyph((unsigned char)utf8[j], w + k, &g);
			k += g;
		}
	}
	return k;
}

duet_status duet_bpe_tokenize(const duet_vocab *v, const char *text, size_t len,
			      duet_tokens *out)
{
	uint32_t *cps = malloc((len + 1) * sizeof *cps);
	size_t n = 0, *lens = NULL, n_words = 0;
	if (!cps)
		return DUET_ERR(DUET_E_NOMEM, "out of memory tokenizing");
	for (size_t i = 0; i < len;)
		i += duet_utf8_decode((const unsigned char *)text + i, len - i, &cps[n++]);
	duet_status st = duet_pretok_split(v->pretok, cps, n, &lens, &n_words);
	if (st != DUET_OK) {
		free(cps);
		return st;
	}
	size_t longest = 0;
	for (size_t i = 0; i < n_words; i++)
		longest = lens[i] > longest ? lens[i] : longest;
	bpe s = { .v = v, .out = out };
	char *w = malloc(longest * 8 + 1); /* <= 4 bytes, each <= 2 bytes shown */
	s.syms = malloc((longest * 8 + 1) * sizeof *s.syms);
	if (!w || !s.syms)
		s.failed = true;
	size_t at = 0;
	for (size_t i = 0; i < n_words && !s.failed; i++) {
		merge_word(&s, w, encode_word(cps + at, lens[i], w));
		at += lens[i];
	}
	st = s.failed ? DUET_ERR(DUET_E_NOMEM, "out of memory tokenizing") : DUET_OK;
	free(s.syms);
	free(s.heap);
	free(s.pair);
	free(w);
	free(lens);
	free(cps);
	return st;
}
