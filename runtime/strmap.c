/* Open-addressing (linear probing) string hash map (see strmap.h). */
#include "strmap.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"

uint64_t duet_strmap_hash(const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
	return h;
}

duet_status duet_strmap_init(duet_strmap *m, uint32_t n)
{
	uint32_t cap = 16;
	while (cap < 2 * (uint64_t)n && cap < (1u << 30))
		cap *= 2;
	m->slots = calloc(cap, sizeof *m->slots);
	m->cap = m->slots ? cap : 0;
	m->n = 0;
	return m->slots ? DUET_OK : DUET_ERR(DUET_E_NOMEM, "out of memory");
}

void duet_strmap_finish(duet_strmap *m)
{
	free(m->slots);
	m->slots = NULL;
	m->cap = m->n = 0;
}

static duet_strmap_entry *find(const duet_strmap *m, const char *key, size_t len,
			       bool match_aux, uint32_t aux)
{
	uint32_t i = (uint32_t)duet_strmap_hash(key, len) & (m->cap - 1);
	for (;;) {
		duet_strmap_entry *e = &m->slots[i];
		if (!e->key ||
		    (e->len == len && (!match_aux || e->aux == aux) &&
		     memcmp(e->key, key, len) == 0))
			return e;
		i = (i + 1) & (m->cap - 1);
	}
}

const duet_strmap_entry *duet_strmap_get(const duet_strmap *m, const char *key,
					 size_t len, bool match_aux, uint32_t aux)
{
	if (!m->cap)
		return NULL;
	const duet_strmap_entry *e = find(m, key, len, match_aux, aux);
	return e->key ? e : NULL;
}

static duet_status grow(duet_strmap *m)
{
	duet_strmap old = *m;
	if (duet_strmap_init(m, old.cap) != DUET_OK) {
		*m = old;
		return DUET_ERR(DUET_E_NOMEM, "out of memory");
	}
	for (uint32_t i = 0; i < old.cap; i++)
		if (old.slots[i].key) {
			*find(m, old.slots[i].key, old.slots[i].len, true,
			      old.slots[i].aux) = old.slots[i];
			m->n++;
		}
	free(old.slots);
	return DUET_OK;
}

duet_status duet_strmap_put(duet_strmap *m, const char *key, size_t len,
			    int32_t value, uint32_t aux, bool match_aux,
			    bool replace)
{
	if (len > UINT32_MAX)
		return DUET_ERR(DUET_E_INVAL, "key too long");
	if (2 * (m->n + 1) > m->cap) {
		duet_status s = grow(m);
		if (s != DUET_OK)
			return s;
	}
	duet_strmap_entry *e = find(m, key, len, match_aux, aux);
	if (e->key) {
		if (replace)
			e->value = value;
		return DUET_OK;
	}
	*e = (duet_strmap_entry){ key, (uint32_t)len, aux, value };
	m->n++;
	return DUET_OK;
}
