/* SentencePiece-style tokenization of one text fragment, as llama.cpp's
 * llm_tokenizer_spm does it: characters are merged pairwise, always the
 * adjacent pair whose concatenation is the best-scoring vocabulary piece
 * (leftmost on ties), until no pair forms a piece; what is left and is no
 * piece falls back to <0xNN> byte tokens. */
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
	duet_strmap rev;     /* merged text -> index into pairs (last wins) */
	int (*pairs)[2];
	size_t n_pairs, cap_pairs;
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
	if (s->n_pairs == s->cap_pairs) {
		size_t cap = s->cap_pairs ? 2 * s->cap_pairs : 64;
		int (*p)[2] = realloc(s->pairs, cap * sizeof *p);
		if (!p) {
			s->failed = true;
			return;
		}
		s->pairs = p;
		s->cap_pairs = cap;
	}
	s->pairs[s->n_pairs][0] = left;
	s->pairs[s->n_pairs][1] = right;
	if (duet_strmap_put(&s->rev, t, n, (int32_t)s->n_pairs++, 0, false, true) != DUET_OK)
		s->failed = true;
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

static void resegment(spm *s, const sym *sy, int depth)
{
	int32_t id = duet_vocab_find(s->v, sy->text, sy->n);
	if (id >= 0) {
		s->failed |= duet_tokens_push(s->out, id) != DUET_OK;
		return;
	}
	const duet_strmap_entry *e = duet_strmap_get(&s->rev, sy->text, sy->n, false, 0);
	if (!e || depth > 64) {
		for (size_t j = 0; j < sy->n; j++) {
			int32_t b = byte_token(s->v, (unsigned char)sy->text[j]);
			if (b >= 0)
				s->failed |= duet_tokens_push(s->out, b) != DUET_OK;
		}
		return;
	}
	resegment(s, &s->syms[s->pairs[e->value][0]], depth + 1);
	resegment(s, &s->syms[s->pairs[e->value][1]], depth + 1);
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

duet_status duet_spm_tokenize(const duet_vocab *v, const char *text, size_t len,
			      duet_tokens *out)
{
	size_t n_text;
	char *t = escape_spaces(text, len, &n_text);
	spm s = { .v = v, .out = out };
	if (!t || !(s.syms = malloc((n_text + 1) * sizeof *s.syms)) ||
	    duet_strmap_init(&s.rev, 64) != DUET_OK) {
		free(t);
		free(s.syms);
		return DUET_ERR(DUET_E_NOMEM, "out of memory tokenizing");
	}
	int n = 0;
	for (size_t off = 0; off < n_text; n++) {
		size_t l = duet_utf8_len((unsigned char)t[off]);
		if (l > n_text - off)
			l = n_text - off;
		s.syms[n] = (sym){ t + off, l, n - 1, off + l == n_text ? -1 : n + 1 };
		off += l;
	}
	for (int i = 1; i < n; i++)
		try_add(&s, i - 1, i);
	while (s.n_heap && !s.failed) {
		bigram b = heap_pop(&s);
		sym *l = &s.syms[b.left], *r = &s.syms[b.right];
		if (l->n == 0 || r->n == 0 || l->n + r->n != b.size)
			continue;
		l->n += r->n;
		r->n = 0;
		l->next = r->next;
		if (r->next >= 0)
			s.syms[r->next].prev = b.left;
		try_add(&s, l->prev, b.left);
		try_add(&s, b.left, l->next);
	}
	for (int i = 0; n > 0 && i != -1 && !s.failed; i = s.syms[i].next)
		resegment(&s, &s.syms[i], 0);
	duet_status st = s.failed ? DUET_ERR(DUET_E_NOMEM, "out of memory tokenizing")
				  : DUET_OK;
	duet_strmap_finish(&s.rev);
	free(s.pairs);
	free(s.heap);
	free(s.syms);
	free(t);
	return st;
}
