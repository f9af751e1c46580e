/* An open-addressing hash map from byte strings to (int32 value, uint32
 * aux), for vocabularies (token text -> id) and BPE merges. Keys are not
 * copied: they must outlive the map. Not thread-safe for writes; lookups
 * on a finished map are. */
#ifndef DUET_RUNTIME_STRMAP_H
#define DUET_RUNTIME_STRMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "duet/status.h"

typedef struct duet_strmap_entry {
	const char *key; /* NULL: empty slot */
	uint32_t len;
	uint32_t aux;
	int32_t value;
} duet_strmap_entry;

typedef struct duet_strmap {
	duet_strmap_entry *slots;
	uint32_t cap; /* power of two */
	uint32_t n;
} duet_strmap;

/* Prepares an empty map sized for about n keys. DUET_E_NOMEM. */
duet_status duet_strmap_init(duet_strmap *m, uint32_t n);

void duet_strmap_finish(duet_strmap *m);

/* Returns the FNV-1a hash of the n bytes at s. */
uint64_t duet_strmap_hash(const char *s, size_t n);

/* Returns the entry for key (with the given aux when match_aux), or NULL. */
const duet_strmap_entry *duet_strmap_get(const duet_strmap *m, const char *key,
					 size_t len, bool match_aux, uint32_t aux);

/* Inserts key -> (value, aux). When the key (and aux, if match_aux) exists:
 * replace sets the value (last wins), otherwise the first stays. The map
 * grows as needed. DUET_E_NOMEM. */
duet_status duet_strmap_put(duet_strmap *m, const char *key, size_t len,
			    int32_t value, uint32_t aux, bool match_aux,
			    bool replace);

#endif
