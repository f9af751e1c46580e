/* SentencePiece-style tokenization of one text fragment, as llama.cpp's
 * llm_tokenizer_spm does it: characters are merged pairwise, always the
 * adjacent pair whose concatenation is the best-scoring vocabulary piece
 * (leftmost on ties), until no pair forms a piece; what is left and is no
 * piece falls back to <0xNN> byte tokens.
 *
 * llama.cpp also records every candidate pair's text to split a final
 * symbol that is no piece back into the pair that formed it. That can never
 * apply: a merge only happens when the pair's text is a piece, so every
 * merged symbol is a piece, and a single character cannot equal a pair's
 * text (characters are cut by their lead byte everywhere).
 *
 * Merges are chosen best-first over the whole fragment, but two stretches of
 * text that no piece can span merge independently, and the order between
 * them does not matter. When no piece has U+2581 right after another
 * character (checked at load: true of Llama's and Phi-3's vocabularies), no
 * merge crosses a U+2581 that follows another character, so each such word
 * is merged on its own: same output, small heaps instead of one over the
 * whole text. */
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
	float score;
	int left, right;
	size_t size;
} bigram;

typedef struct spm {
	const duet_vocab *v;
	sym *syms;
	bigram *heap;
	size_t n_heap, cap_heap;
	duet_tokens *out;
	bool failed;
} spm;

/* heap order: higher score first, then the leftmost pair */
static bool before(const bigram *a, const bigram *b)
{
	return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static void heap_push(spm *s, bigram b)
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

static bigram heap_pop(spm *s)
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

static void try_add(spm *s, int left, int right)
{
	if (left < 0 || right < 0)
		return;
	const char *t = s->syms[left].text;
	size_t n = s->syms[left].n + s->syms[right].n;
	int32_t id = duet_vocab_find(s->v, t, n);
	if (id < 0)
		return;
	heap_push(s, (bigram){ s->v->scores ? s->v->scores[id] : 0.0f, left, right, n });
}

/* The <0xNN> token for byte b, else the one-byte token, else <unk>. */
static int32_t byte_token(const duet_vocab *v, unsigned char b)
{
	static const char hex[] = "0123456789ABCDEF";
	char buf[6] = { '<', '0', 'x', hex[b >> 4], hex[b & 15], '>' };
	int32_t id = duet_vocab_find(v, buf, 6);
	if (id < 0)
		id = duet_vocab_find(v, (const char *)&b, 1);
	return id >= 0 ? id : v->unk;
}

/* A final symbol: its piece, or the byte tokens of its bytes. */
static void resegment(spm *s, const sym *sy)
{
	int32_t id = duet_vocab_find(s->v, sy->text, sy->n);
	if (id >= 0) {
		s->failed |= duet_tokens_push(s->out, id) != DUET_OK;
		return;
	}
	for (size_t j = 0; j < sy->n; j++) {
		int32_t b = byte_token(s->v, (unsigned char)sy->text[j]);
		if (b >= 0)
			s->failed |= duet_tokens_push(s->out, b) != DUET_OK;
	}
}

/* Spaces become U+2581, as SentencePiece writes them. */
static char *escape_spaces(const char *text, size_t len, size_t *out_len)
{
	size_t spaces = 0;
	for (size_t i = 0; i < len; i++)
		spaces += text[i] == ' ';
	char *e = malloc(len + 2 * spaces + 1), *p = e;
	if (!e)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		if (text[i] == ' ') {
			memcpy(p, "\xe2\x96\x81", 3);
			p += 3;
		} else {
			*p++ = text[i];
		}
	}
	*out_len = (size_t)(p - e);
	return e;
}

/* Merges the characters of t[0..n) and emits the pieces. */
static void merge_span(spm *s, const char *t, size_t n_text)
{
	int n = 0;
	for (size_t off = 0; off < n_text; n++) {
		size_t l = duet_utf8_len((unsigned char)t[off]);
		if (l > n_text - off)
			l = n_text - off;
		s->syms[n] = (sym){ t + off, l, n - 1, off + l == n_text ? -1 : n + 1 };
		off += l;
	}
	s->n_heap = 0;
	for (int i = 1; i < n; i++)
		try_add(s, i - 1, i);
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
		try_add(s, l->prev, b.left);
		try_add(s, b.left, l->next);
	}
	for (int i = 0; n > 0 && i != -1 && !s->failed; i = s->syms[i].next)
		resegment(s, &s->syms[i]);
}

static bool is_space_mark(const char *p)
{
	return memcmp(p, "\xe2\x96\x81", 3) == 0;
}

duet_status duet_spm_tokenize(const duet_vocab *v, const char *text, size_t len,
			      duet_tokens *out)
{
	size_t n_text;
	char *t = escape_spaces(text, len, &n_text);
	spm s = { .v = v, .out = out };
	if (!t || !(s.syms = malloc((n_text + 1) * sizeof *s.syms))) {
		free(t);
		free(s.syms);
		return DUET_ERR(DUET_E_NOMEM, "out of memory tokenizing");
	}
	/* Cut before each U+2581 character that follows another character
	 * (characters as merge_span cuts them, by lead byte). */
	size_t start = 0;
	bool prev_space = false;
	for (size_t off = 0; v->spm_words && off < n_text && !s.failed;) {
		size_t l = duet_utf8_len((unsigned char)t[off]);
		if (l > n_text - off)
			l = n_text - off;
		bool space = l == 3 && is_space_mark(t + off);
		if (space && !prev_space && off > start) {
			merge_span(&s, t + start, off - start);
			start = off;
		}
		prev_space = space;
		off += l;
	}
	merge_span(&s, t + start, n_text - start);
	duet_status st = s.failed ? DUET_ERR(DUET_E_NOMEM, "out of memory tokenizing")
				  : DUET_OK;
	free(s.heap);
	free(s.syms);
	free(t);
	return st;
}
