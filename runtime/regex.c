/* Backtracking regex engine for pre-tokenizer patterns (see regex.h). The
 * pattern compiles to a tree; matching walks it with explicit
 * continuations, and quantified single-unit atoms are matched iteratively
 * (longest first, then backing off), so long runs of letters or spaces do
 * not deepen the recursion. */
#include "regex.h"

#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "error.h"
#include "unicode.h"

enum { RX_CLASS, RX_SEQ, RX_ALT, RX_REPEAT, RX_LOOK, RX_BOL, RX_EOL };

/* builtin sets a class may contain */
enum {
	SET_SPACE = 1, SET_NSPACE = 2, SET_DIGIT = 4,
	SET_NDIGIT = 8, SET_WORD = 16, SET_NWORD = 32,
};

#define RX_INF UINT32_MAX
#define RX_MAX_RANGES 512

typedef struct rx_node rx_node;
struct rx_node {
	int kind;
	bool negate;          /* CLASS: [^..]; LOOK: (?!..) */
	uint8_t sets;         /* CLASS: SET_* */
	uint32_t n;           /* CLASS: ranges; SEQ/ALT: kids */
	uint32_t (*ranges)[2];
	rx_node **kids;       /* REPEAT/LOOK: kids[0] */
	uint32_t min, max;    /* REPEAT */
};

struct duet_regex {
	duet_arena arena;
	rx_node *root;
};

typedef struct parser {
	const uint32_t *p; /* pattern code points */
	size_t n, i;
	int mode;
	duet_arena *arena;
	const char *err;
} parser;

/* ---- parsing ------------------------------------------------------------- */

static rx_node *new_node(parser *ps, int kind)
{
	rx_node *nd = duet_arena_alloc(ps->arena, sizeof *nd);
	if (!nd)
		ps->err = "out of memory";
	else
		nd->kind = kind;
	return nd;
}

/* Appends kid to a growing kid list (doubling in the arena). */
static void add_kid(parser *ps, rx_node *parent, rx_node *kid, uint32_t *cap)
{
	if (!parent || !kid)
		return;
	if (parent->n == *cap) {
		uint32_t c = *cap ? 2 * *cap : 4;
		rx_node **k = duet_arena_alloc(ps->arena, c * sizeof *k);
		if (!k) {
			ps->err = "out of memory";
			return;
		}
		if (parent->n)
			memcpy(k, parent->kids, parent->n * sizeof *k);
		parent->kids = k;
		*cap = c;
	}
	parent->kids[parent->n++] = kid;
}

static void add_range(parser *ps, rx_node *c, uint32_t lo, uint32_t hi)
{
	if (!c->ranges) {
		c->ranges = duet_arena_alloc(ps->arena, RX_MAX_RANGES * sizeof *c->ranges);
		if (!c->ranges) {
			ps->err = "out of memory";
			return;
		}
	}
	if (c->n == RX_MAX_RANGES) {
		ps->err = "character class too large";
		return;
	}
	c->ranges[c->n][0] = lo;
	c->ranges[c->n][1] = hi;
	c->n++;
}

/* \p{X} in collapsed text: the category byte plus its ASCII members, as
 * llama.cpp rewrites it (note: its symbol list omits '~'). */
static void add_category(parser *ps, rx_node *c, const char *name)
{
	static const struct { const char *name; uint32_t code; const char *ascii; } cats[] = {
		{ "N", 0xD1, "09" },
		{ "L", 0xD2, "AZaz" }, { "Lu", 0xD2, "AZaz" }, { "Ll", 0xD2, "AZaz" },
		{ "Lt", 0xD2, "AZaz" }, { "Lm", 0xD2, "AZaz" }, { "Lo", 0xD2, "AZaz" },
		{ "P", 0xD3, "!#%*,/:;?@[]__{{}}" },
		{ "M", 0xD4, "" },
		{ "S", 0xD5, "$$++<>^^``||" },
	};
	for (size_t i = 0; i < sizeof cats / sizeof *cats; i++) {
		if (strcmp(cats[i].name, name) != 0)
			continue;
		add_range(ps, c, cats[i].code, cats[i].code);
		for (const char *a = cats[i].ascii; a[0]; a += 2)
			add_range(ps, c, (unsigned char)a[0], (unsigned char)a[1]);
		return;
	}
	ps->err = "unknown \\p{..} category";
}

static int hexval(uint32_t c)
{
	return c >= '0' && c <= '9' ? (int)c - '0' : c >= 'a' && c <= 'f' ? (int)c - 'a' + 10
		: c >= 'A' && c <= 'F' ? (int)c - 'A' + 10 : -1;
}

static uint32_t hex_escape(parser *ps, int digits)
{
	uint32_t v = 0;
	for (int k = 0; k < digits; k++) {
		int h = ps->i < ps->n ? hexval(ps->p[ps->i]) : -1;
		if (h < 0) {
			ps->err = "bad hex escape";
			return 0;
		}
		v = v * 16 + (uint32_t)h;
		ps->i++;
	}
	return v;
}

/* Parses the escape after '\' into class c (sets, ranges) or, for a plain
 * character, returns it in *lit and true. */
static bool parse_escape(parser *ps, rx_node *c, uint32_t *lit)
{
	if (ps->i >= ps->n) {
		ps->err = "pattern ends with a backslash";
		return false;
	}
	uint32_t e = ps->p[ps->i++];
	switch (e) {
	case 's': c->sets |= SET_SPACE; return false;
	case 'S': c->sets |= SET_NSPACE; return false;
	case 'd': c->sets |= SET_DIGIT; return false;
	case 'D': c->sets |= SET_NDIGIT; return false;
	case 'w': c->sets |= SET_WORD; return false;
	case 'W': c->sets |= SET_NWORD; return false;
	case 'r': *lit = '\r'; return true;
	case 'n': *lit = '\n'; return true;
	case 't': *lit = '\t'; return true;
	case 'f': *lit = '\f'; return true;
	case 'v': *lit = '\v'; return true;
	case '0': *lit = 0; return true;
	case 'x': *lit = hex_escape(ps, 2); return true;
	case 'u': *lit = hex_escape(ps, 4); return true;
	case 'p': {
		char name[8] = { 0 };
		size_t k = 0;
		if (ps->mode != DUET_REGEX_COLLAPSED) {
			ps->err = "\\p{..} needs collapsed text";
			return false;
		}
		if (ps->i >= ps->n || ps->p[ps->i++] != '{') {
			ps->err = "\\p without {";
			return false;
		}
		while (ps->i < ps->n && ps->p[ps->i] != '}' && k < 7)
			name[k++] = (char)ps->p[ps->i++];
		if (ps->i >= ps->n || ps->p[ps->i++] != '}') {
			ps->err = "unterminated \\p{..}";
			return false;
		}
		add_category(ps, c, name);
		return false;
	}
	default:
		if ((e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z') || (e >= '1' && e <= '9')) {
			ps->err = "unsupported escape";
			return false;
		}
		*lit = e;
		return true;
	}
}

static rx_node *parse_class(parser *ps)
{
	rx_node *c = new_node(ps, RX_CLASS);
	if (!c)
		return NULL;
	if (ps->i < ps->n && ps->p[ps->i] == '^') {
		c->negate = true;
		ps->i++;
	}
	while (!ps->err) {
		if (ps->i >= ps->n) {
			ps->err = "unterminated [..]";
			break;
		}
		uint32_t ch = ps->p[ps->i++];
		if (ch == ']')
			break;
		uint32_t lo = ch;
		if (ch == '\\' && !parse_escape(ps, c, &lo))
			continue;
		uint32_t hi = lo;
		if (ps->i + 1 < ps->n && ps->p[ps->i] == '-' && ps->p[ps->i + 1] != ']') {
			ps->i++;
			hi = ps->p[ps->i++];
			if (hi == '\\') {
				rx_node tmp = { 0 };
				if (!parse_escape(ps, &tmp, &hi)) {
					ps->err = "class range ends in a set";
					break;
				}
			}
			if (hi < lo) {
				ps->err = "reversed class range";
				break;
			}
		}
		add_range(ps, c, lo, hi);
	}
	return c;
}

static rx_node *parse_alt(parser *ps);

static rx_node *parse_group(parser *ps)
{
	int kind = RX_SEQ;
	bool negate = false;
	if (ps->i + 1 < ps->n && ps->p[ps->i] == '?') {
		uint32_t t = ps->p[ps->i + 1];
		if (t == ':') {
			ps->i += 2;
		} else if (t == '=' || t == '!') {
			kind = RX_LOOK;
			negate = t == '!';
			ps->i += 2;
		} else {
			ps->err = "unsupported group type (?..)";
			return NULL;
		}
	}
	rx_node *inner = parse_alt(ps);
	if (ps->err)
		return NULL;
	if (ps->i >= ps->n || ps->p[ps->i] != ')') {
		ps->err = "unbalanced parenthesis";
		return NULL;
	}
	ps->i++;
	if (kind == RX_SEQ)
		return inner;
	rx_node *look = new_node(ps, RX_LOOK);
	uint32_t cap = 0;
	if (look) {
		look->negate = negate;
		add_kid(ps, look, inner, &cap);
	}
	return look;
}

static rx_node *parse_atom(parser *ps)
{
	uint32_t ch = ps->p[ps->i++];
	if (ch == '(')
		return parse_group(ps);
	if (ch == '[')
		return parse_class(ps);
	if (ch == '^')
		return new_node(ps, RX_BOL);
	if (ch == '$')
		return new_node(ps, RX_EOL);
	rx_node *c = new_node(ps, RX_CLASS);
	if (!c)
		return NULL;
	if (ch == '.') { /* anything but a line terminator */
		c->negate = true;
		add_range(ps, c, '\n', '\n');
		add_range(ps, c, '\r', '\r');
		add_range(ps, c, 0x2028, 0x2029);
		return c;
	}
	uint32_t lit = ch;
	if (ch == '\\' && !parse_escape(ps, c, &lit))
		return c;
	add_range(ps, c, lit, lit);
	return c;
}

static uint32_t parse_number(parser *ps)
{
	uint32_t v = 0;
	bool any = false;
	while (ps->i < ps->n && ps->p[ps->i] >= '0' && ps->p[ps->i] <= '9' && v < 100000) {
		v = v * 10 + (ps->p[ps->i++] - '0');
		any = true;
	}
	if (!any)
		ps->err = "bad {n,m} quantifier";
	return v;
}

/* Wraps atom in a quantifier if one follows. */
static rx_node *parse_quant(parser *ps, rx_node *atom)
{
	if (ps->i >= ps->n || !atom)
		return atom;
	uint32_t ch = ps->p[ps->i], min, max;
	if (ch == '*' || ch == '+' || ch == '?') {
		ps->i++;
		min = ch == '+' ? 1 : 0;
		max = ch == '?' ? 1 : RX_INF;
	} else if (ch == '{') {
		ps->i++;
		min = max = parse_number(ps);
		if (ps->i < ps->n && ps->p[ps->i] == ',') {
			ps->i++;
			max = ps->i < ps->n && ps->p[ps->i] == '}' ? RX_INF : parse_number(ps);
		}
		if (ps->i >= ps->n || ps->p[ps->i++] != '}' || max < min) {
			ps->err = "bad {n,m} quantifier";
			return NULL;
		}
	} else {
		return atom;
	}
	if (ps->i < ps->n && (ps->p[ps->i] == '?' || ps->p[ps->i] == '+')) {
		ps->err = "lazy and possessive quantifiers are not supported";
		return NULL;
	}
	if (atom->kind != RX_CLASS) {
		ps->err = "quantified groups are not supported";
		return NULL;
	}
	rx_node *r = new_node(ps, RX_REPEAT);
	uint32_t cap = 0;
	if (r) {
		r->min = min;
		r->max = max;
		add_kid(ps, r, atom, &cap);
	}
	return r;
}

static rx_node *parse_seq(parser *ps)
{
	rx_node *seq = new_node(ps, RX_SEQ);
	uint32_t cap = 0;
	while (!ps->err && ps->i < ps->n && ps->p[ps->i] != '|' && ps->p[ps->i] != ')')
		add_kid(ps, seq, parse_quant(ps, parse_atom(ps)), &cap);
	return seq;
}

static rx_node *parse_alt(parser *ps)
{
	rx_node *first = parse_seq(ps);
	if (ps->err || ps->i >= ps->n || ps->p[ps->i] != '|')
		return first;
	rx_node *alt = new_node(ps, RX_ALT);
	uint32_t cap = 0;
	add_kid(ps, alt, first, &cap);
	while (!ps->err && ps->i < ps->n && ps->p[ps->i] == '|') {
		ps->i++;
		add_kid(ps, alt, parse_seq(ps), &cap);
	}
	return alt;
}

bool duet_regex_uses_categories(const char *pattern)
{
	return strstr(pattern, "\\p{") != NULL;
}

duet_status duet_regex_compile(const char *pattern, int mode, duet_regex **out)
{
	*out = NULL;
	size_t len = strlen(pattern), n = 0;
	uint32_t *cps = malloc((len + 1) * sizeof *cps);
	duet_regex *r = calloc(1, sizeof *r);
	if (!cps || !r) {
		free(cps);
		free(r);
		return DUET_ERR(DUET_E_NOMEM, "out of memory");
	}
	for (size_t i = 0; i < len;)
		i += duet_utf8_decode((const unsigned char *)pattern + i, len - i, &cps[n++]);
	duet_arena_init(&r->arena, 4096);
	parser ps = { .p = cps, .n = n, .mode = mode, .arena = &r->arena };
	r->root = parse_alt(&ps);
	if (!ps.err && ps.i < ps.n)
		ps.err = "unbalanced parenthesis";
	free(cps);
	if (ps.err) {
		duet_status s = DUET_ERR(DUET_E_UNSUPPORTED, "regex '%s': %s", pattern,
					 ps.err);
		duet_regex_destroy(r);
		return s;
	}
	*out = r;
	return DUET_OK;
}

void duet_regex_destroy(duet_regex *r)
{
	if (!r)
		return;
	duet_arena_finish(&r->arena);
	free(r);
}

/* ---- matching ------------------------------------------------------------ */

typedef struct rx_ctx {
	const uint32_t *u;
	size_t begin, end;
} rx_ctx;

/* What to match after the current node: the rest of a sequence, then the
 * enclosing continuation. */
typedef struct rx_cont rx_cont;
struct rx_cont {
	const rx_node *seq;
	uint32_t idx;
	const rx_cont *next;
};

static bool is_space(uint32_t u)
{
	return u == ' ' || (u >= '\t' && u <= '\r');
}

static bool is_digit(uint32_t u)
{
	return u >= '0' && u <= '9';
}

static bool is_word(uint32_t u)
{
	return is_digit(u) || (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || u == '_';
}

static bool class_has(const rx_node *c, uint32_t u)
{
	bool in = false;
	for (uint32_t k = 0; k < c->n && !in; k++)
		in = u >= c->ranges[k][0] && u <= c->ranges[k][1];
	if (!in && c->sets)
		in = ((c->sets & SET_SPACE) && is_space(u)) ||
		     ((c->sets & SET_NSPACE) && !is_space(u)) ||
		     ((c->sets & SET_DIGIT) && is_digit(u)) ||
		     ((c->sets & SET_NDIGIT) && !is_digit(u)) ||
		     ((c->sets & SET_WORD) && is_word(u)) ||
		     ((c->sets & SET_NWORD) && !is_word(u));
	return in != c->negate;
}

static bool match_node(const rx_ctx *c, const rx_node *n, size_t pos,
		       const rx_cont *k, size_t *end);

static bool match_cont(const rx_ctx *c, const rx_cont *k, size_t pos, size_t *end)
{
	while (k && k->idx >= k->seq->n)
		k = k->next;
	if (!k) {
		*end = pos;
		return true;
	}
	rx_cont rest = { k->seq, k->idx + 1, k->next };
	return match_node(c, k->seq->kids[k->idx], pos, &rest, end);
}

static bool match_node(const rx_ctx *c, const rx_node *n, size_t pos,
		       const rx_cont *k, size_t *end)
{
	switch (n->kind) {
	case RX_CLASS:
		return pos < c->end && class_has(n, c->u[pos]) &&
		       match_cont(c, k, pos + 1, end);
	case RX_SEQ: {
		rx_cont first = { n, 0, k };
		return match_cont(c, &first, pos, end);
	}
	case RX_ALT:
		for (uint32_t i = 0; i < n->n; i++)
			if (match_node(c, n->kids[i], pos, k, end))
				return true;
		return false;
	case RX_REPEAT: {
		/* a single-unit atom: longest run first, then back off */
		size_t run = 0;
		while (run < n->max && pos + run < c->end &&
		       class_has(n->kids[0], c->u[pos + run]))
			run++;
		for (size_t r = run + 1; r-- > n->min;)
			if (match_cont(c, k, pos + r, end))
				return true;
		return false;
	}
	case RX_LOOK: {
		size_t e;
		bool m = match_node(c, n->kids[0], pos, NULL, &e);
		return m != n->negate && match_cont(c, k, pos, end);
	}
	case RX_BOL:
		return pos == c->begin && match_cont(c, k, pos, end);
	case RX_EOL:
		return pos == c->end && match_cont(c, k, pos, end);
	default:
		return false;
	}
}

bool duet_regex_search(const duet_regex *r, const uint32_t *units, size_t begin,
		       size_t end, size_t from, size_t *ms, size_t *me)
{
	rx_ctx c = { units, begin, end };
	for (size_t s = from; s < end; s++) {
		if (match_node(&c, r->root, s, NULL, me)) {
			*ms = s;
			return true;
		}
	}
	return false;
}
