/* Bump allocator backed by a list of malloc'd blocks (see arena.h). */
#include "arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct duet_arena_block {
	duet_arena_block *next;
	size_t used;
	size_t size;
	_Alignas(16) unsigned char data[];
};

void duet_arena_init(duet_arena *a, size_t block_bytes)
{
	a->head = NULL;
	a->block_bytes = block_bytes ? block_bytes : 64 * 1024;
}

void duet_arena_finish(duet_arena *a)
{
	duet_arena_block *b = a->head;
	while (b) {
		duet_arena_block *next = b->next;
		free(b);
		b = next;
	}
	a->head = NULL;
}

void *duet_arena_alloc(duet_arena *a, size_t n)
{
	if (n > SIZE_MAX - 15 - sizeof(duet_arena_block))
		return NULL;
	size_t need = (n + 15) & ~(size_t)15;
	duet_arena_block *b = a->head;
	if (!b || b->size - b->used < need) {
		size_t size = need > a->block_bytes ? need : a->block_bytes;
		b = malloc(sizeof *b + size);
		if (!b)
			return NULL;
		b->size = size;
		b->used = 0;
		b->next = a->head;
		a->head = b;
	}
	void *p = b->data + b->used;
	b->used += need;
	memset(p, 0, need);
	return p;
}

char *duet_arena_strndup(duet_arena *a, const char *s, size_t n)
{
	if (n == SIZE_MAX)
		return NULL;
	char *p = duet_arena_alloc(a, n + 1);
	if (!p)
		return NULL;
	if (n)
		memcpy(p, s, n);
	p[n] = '\0';
	return p;
}
