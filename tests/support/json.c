/* Recursive-descent JSON parser for tests (see json.h). */
#include "json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct parser {
	const char *p;
	int depth;
} parser;

static void skip_ws(parser *ps)
{
	while (*ps->p == ' ' || *ps->p == '\n' || *ps->p == '\t' || *ps->p == '\r')
		ps->p++;
}

static json *parse_value(parser *ps);

static json *node(json_kind k)
{
	json *j = calloc(1, sizeof *j);
	if (j)
		j->kind = k;
	return j;
}

static bool push(json *j, json *child, char *key)
{
	json **items = realloc(j->items, (j->n + 1) * sizeof *items);
	if (!items)
		return false;
	j->items = items;
	if (j->kind == JSON_OBJ) {
		char **keys = realloc(j->keys, (j->n + 1) * sizeof *keys);
		if (!keys)
			return false;
		j->keys = keys;
		j->keys[j->n] = key;
	}
	j->items[j->n++] = child;
	return true;
}

static void put_utf8(char **o, unsigned cp)
{
	char *d = *o;
	if (cp < 0x80) {
		*d++ = (char)cp;
	} else if (cp < 0x800) {
		*d++ = (char)(0xc0 | cp >> 6);
		*d++ = (char)(0x80 | (cp & 0x3f));
	} else {
		*d++ = (char)(0xe0 | cp >> 12);
		*d++ = (char)(0x80 | ((cp >> 6) & 0x3f));
		*d++ = (char)(0x80 | (cp & 0x3f));
	}
	*o = d;
}

static char *parse_string(parser *ps)
{
	if (*ps->p != '"')
		return NULL;
	ps->p++;
	size_t cap = 16, n = 0;
	const char *s = ps->p;
	while (s[n] && s[n] != '"') {
		if (s[n] == '\\' && s[n + 1])
			n++;
		n++;
	}
	cap = n * 2 + 4;
	char *out = malloc(cap), *o = out;
	if (!out)
		return NULL;
	while (*ps->p && *ps->p != '"') {
		char c = *ps->p++;
		if (c != '\\') {
			*o++ = c;
			continue;
		}
		c = *ps->p++;
		switch (c) {
		case 'n': *o++ = '\n'; break;
		case 't': *o++ = '\t'; break;
		case 'r': *o++ = '\r'; break;
		case 'b': *o++ = '\b'; break;
		case 'f': *o++ = '\f'; break;
		case 'u': {
			unsigned cp = 0;
			for (int i = 0; i < 4; i++) {
				char h = *ps->p++;
				cp = cp * 16 + (unsigned)(h >= 'a' ? h - 'a' + 10
						 : h >= 'A' ? h - 'A' + 10 : h - '0');
			}
			put_utf8(&o, cp);
			break;
		}
		default: *o++ = c; break;
		}
	}
	if (*ps->p != '"') {
		free(out);
		return NULL;
	}
	ps->p++;
	*o = '\0';
	return out;
}

static json *parse_container(parser *ps, json_kind kind, char close)
{
	json *j = node(kind);
	ps->p++;
	skip_ws(ps);
	if (*ps->p == close) {
		ps->p++;
		return j;
	}
	for (;;) {
		char *key = NULL;
		skip_ws(ps);
		if (kind == JSON_OBJ) {
			key = parse_string(ps);
			skip_ws(ps);
			if (!key || *ps->p != ':') {
				free(key);
				json_free(j);
				return NULL;
			}
			ps->p++;
		}
		json *v = parse_value(ps);
		if (!v || !push(j, v, key)) {
			free(key);
			json_free(v);
			json_free(j);
			return NULL;
		}
		skip_ws(ps);
		if (*ps->p == ',') {
			ps->p++;
			continue;
		}
		if (*ps->p == close) {
			ps->p++;
			return j;
		}
		json_free(j);
		return NULL;
	}
}

static json *parse_value(parser *ps)
{
	skip_ws(ps);
	if (++ps->depth > 64)
		return NULL;
	json *j = NULL;
	char c = *ps->p;
	if (c == '{') {
		j = parse_container(ps, JSON_OBJ, '}');
	} else if (c == '[') {
		j = parse_container(ps, JSON_ARR, ']');
	} else if (c == '"') {
		char *s = parse_string(ps);
		if (s && (j = node(JSON_STR)))
			j->str = s;
		else
			free(s);
	} else if (strncmp(ps->p, "true", 4) == 0 || strncmp(ps->p, "false", 5) == 0) {
		j = node(JSON_BOOL);
		j->num = c == 't';
		ps->p += c == 't' ? 4 : 5;
	} else if (strncmp(ps->p, "null", 4) == 0) {
		j = node(JSON_NULL);
		ps->p += 4;
	} else {
		char *end;
		double v = strtod(ps->p, &end);
		if (end != ps->p && (j = node(JSON_NUM))) {
			j->num = v;
			ps->p = end;
		}
	}
	ps->depth--;
	return j;
}

json *json_parse(const char *text)
{
	parser ps = { text, 0 };
	json *j = parse_value(&ps);
	skip_ws(&ps);
	if (j && *ps.p) {
		json_free(j);
		return NULL;
	}
	return j;
}

void json_free(json *j)
{
	if (!j)
		return;
	for (size_t i = 0; i < j->n; i++) {
		json_free(j->items[i]);
		if (j->keys)
			free(j->keys[i]);
	}
	free(j->items);
	free(j->keys);
	free(j->str);
	free(j);
}

const json *json_get(const json *o, const char *key)
{
	if (!o || o->kind != JSON_OBJ)
		return NULL;
	for (size_t i = 0; i < o->n; i++)
		if (strcmp(o->keys[i], key) == 0)
			return o->items[i];
	return NULL;
}

const json *json_at(const json *a, size_t i)
{
	if (!a || a->kind != JSON_ARR || i >= a->n)
		return NULL;
	return a->items[i];
}

char *read_text_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *buf = read_text_stream(f, len);
	fclose(f);
	return buf;
}

char *read_text_stream(FILE *f, size_t *len)
{
	char *buf = NULL;
	size_t n = 0, cap = 0;
	for (;;) {
		if (cap - n < 65536) {
			cap = cap ? cap * 2 : 65536;
			char *b = realloc(buf, cap + 1);
			if (!b) {
				free(buf);
				return NULL;
			}
			buf = b;
		}
		size_t got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}
