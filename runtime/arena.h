/* A bump allocator that frees everything at once: used for the many small
 * strings and arrays a GGUF header or a graph owns. Not thread-safe. */
#ifndef DUET_RUNTIME_ARENA_H
#define DUET_RUNTIME_ARENA_H

#include <stddef.h>

typedef struct duet_arena_block duet_arena_block;

typedef struct duet_arena {
	duet_arena_block *head;
	size_t block_bytes; /* default size of a new block */
} duet_arena;

/* Embeds an empty arena; nothing is allocated until the first use. */
void duet_arena_init(duet_arena *a, size_t block_bytes);

/* Frees every allocation made from a; a is empty and reusable afterwards. */
void duet_arena_finish(duet_arena *a);

/* Returns n bytes aligned to 16, zeroed, owned by the arena, or NULL when
 * out of memory (no error is recorded: callers report DUET_E_NOMEM). */
void *duet_arena_alloc(duet_arena *a, size_t n);

/* Returns a NUL-terminated copy of the n bytes at s, or NULL. */
char *duet_arena_strndup(duet_arena *a, const char *s, size_t n);

#endif
