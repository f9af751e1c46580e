/* GGUF reader: every count, length and offset is checked against the
 * buffer before it is used (see gguf.h for the contract). */
#include "gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "fault.h"
#include "quant.h"

typedef struct reader {
	const uint8_t *p;
	uint64_t size;
	uint64_t off;
	duet_arena *arena;
	const char *what; /* the key or tensor being read, for messages */
} reader;

static const char *const type_names[DUET_GGUF_TYPE_COUNT] = {
	"u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool",
	"string", "array", "u64", "i64", "f64",
};

const char *duet_gguf_type_name(uint32_t t)
{
	return t < DUET_GGUF_TYPE_COUNT ? type_names[t] : "unknown";
}

size_t duet_gguf_type_size(duet_gguf_type t)
{
	switch (t) {
	case DUET_GGUF_U8: case DUET_GGUF_I8: case DUET_GGUF_BOOL: return 1;
	case DUET_GGUF_U16: case DUET_GGUF_I16: return 2;
	case DUET_GGUF_U32: case DUET_GGUF_I32: case DUET_GGUF_F32: return 4;
	case DUET_GGUF_U64: case DUET_GGUF_I64: case DUET_GGUF_F64: return 8;
	default: return 0;
	}
}

static duet_status truncated(const reader *r, uint64_t need)
{
	return DUET_ERR(DUET_E_CORRUPT,
			"%s: needs %llu bytes at offset %llu but the file has "
			"%llu (truncated or corrupt)",
			r->what, (unsigned long long)need,
			(unsigned long long)r->off, (unsigned long long)r->size);
}

static duet_status take(reader *r, uint64_t n, const uint8_t **out)
{
	*out = r->p + r->off;
	if (n > r->size - r->off)
		return truncated(r, n);
	r->off += n;
	return DUET_OK;
}

static duet_status rd_u32(reader *r, uint32_t *v)
{
	const uint8_t *b;
	duet_status s = take(r, 4, &b);
	if (s == DUET_OK)
		memcpy(v, b, 4);
	return s;
}

static duet_status rd_u64(reader *r, uint64_t *v)
{
	const uint8_t *b;
	duet_status s = take(r, 8, &b);
	if (s == DUET_OK)
		memcpy(v, b, 8);
	return s;
}

static duet_status rd_str(reader *r, duet_gguf_str *out)
{
	uint64_t n;
	const uint8_t *b;
	duet_status s = rd_u64(r, &n);
	if (s != DUET_OK)
		return s;
	if (n > r->size - r->off)
		return DUET_ERR(DUET_E_CORRUPT,
				"%s: string length %llu at offset %llu runs past "
				"the end of the file (%llu bytes)",
				r->what, (unsigned long long)n,
				(unsigned long long)(r->off - 8),
				(unsigned long long)r->size);
	if ((s = take(r, n, &b)) != DUET_OK)
		return s;
	out->s = duet_arena_strndup(r->arena, (const char *)b, (size_t)n);
	if (!out->s)
		return DUET_ERR(DUET_E_NOMEM, "%s: out of memory", r->what);
	out->n = n;
	return DUET_OK;
}

static duet_status rd_value(reader *r, duet_gguf_type t, duet_gguf_value *v,
			    int depth);

/* Decodes a fixed-size scalar from b into v. */
static void scalar_from_bytes(duet_gguf_type t, const uint8_t *b,
			      duet_gguf_value *v)
{
	v->type = t;
	switch (t) {
	case DUET_GGUF_U8: v->u = b[0]; break;
	case DUET_GGUF_I8: v->i = (int8_t)b[0]; break;
	case DUET_GGUF_BOOL: v->b = b[0] != 0; break;
	case DUET_GGUF_U16: { uint16_t x; memcpy(&x, b, 2); v->u = x; break; }
	case DUET_GGUF_I16: { int16_t x; memcpy(&x, b, 2); v->i = x; break; }
	case DUET_GGUF_U32: { uint32_t x; memcpy(&x, b, 4); v->u = x; break; }
	case DUET_GGUF_I32: { int32_t x; memcpy(&x, b, 4); v->i = x; break; }
	case DUET_GGUF_F32: { float x; memcpy(&x, b, 4); v->f = x; break; }
	case DUET_GGUF_U64: memcpy(&v->u, b, 8); break;
	case DUET_GGUF_I64: memcpy(&v->i, b, 8); break;
	case DUET_GGUF_F64: memcpy(&v->f, b, 8); break;
	default: break;
	}
}

static duet_status rd_array(reader *r, duet_gguf_value *v, int depth)
{
	uint32_t et;
	uint64_t n;
	duet_status s;
	if ((s = rd_u32(r, &et)) != DUET_OK || (s = rd_u64(r, &n)) != DUET_OK)
		return s;
	if (et >= DUET_GGUF_TYPE_COUNT)
		return DUET_ERR(DUET_E_CORRUPT,
				"%s: array has unknown element type %u",
				r->what, et);
	if (et == DUET_GGUF_ARRAY && depth >= DUET_GGUF_MAX_DEPTH)
		return DUET_ERR(DUET_E_CORRUPT,
				"%s: arrays nested deeper than %d", r->what,
				DUET_GGUF_MAX_DEPTH);
	/* Smallest encoding of one element bounds the count before any
	 * allocation: 8 bytes per string, 12 per nested array. */
	size_t esize = duet_gguf_type_size((duet_gguf_type)et);
	uint64_t min_bytes = esize ? esize : et == DUET_GGUF_STRING ? 8 : 12;
	if (n > (r->size - r->off) / min_bytes)
		return DUET_ERR(DUET_E_CORRUPT,
				"%s: array of %llu %s elements does not fit in "
				"the %llu bytes left in the file",
				r->what, (unsigned long long)n,
				duet_gguf_type_name(et),
				(unsigned long long)(r->size - r->off));
	v->type = DUET_GGUF_ARRAY;
	v->arr.type = (duet_gguf_type)et;
	v->arr.n = n;
	if (esize) {
		const uint8_t *b;
		if ((s = take(r, n * esize, &b)) != DUET_OK)
			return s;
		void *copy = duet_arena_alloc(r->arena, n * esize);
		if (!copy && n)
			return DUET_ERR(DUET_E_NOMEM, "%s: out of memory", r->what);
		if (n)
			memcpy(copy, b, n * esize);
		v->arr.data = copy;
		return DUET_OK;
	}
	size_t item = et == DUET_GGUF_STRING ? sizeof(duet_gguf_str)
					     : sizeof(duet_gguf_value);
	void *items = duet_arena_alloc(r->arena, n * item);
	if (!items && n)
		return DUET_ERR(DUET_E_NOMEM, "%s: out of memory", r->what);
	v->arr.data = items;
	for (uint64_t i = 0; i < n; i++) {
		if (et == DUET_GGUF_STRING)
			s = rd_str(r, (duet_gguf_str *)items + i);
		else
			s = rd_value(r, DUET_GGUF_ARRAY,
				     (duet_gguf_value *)items + i, depth + 1);
		if (s != DUET_OK)
			return s;
	}
	return DUET_OK;
}

static duet_status rd_value(reader *r, duet_gguf_type t, duet_gguf_value *v,
			    int depth)
{
	if (t == DUET_GGUF_STRING) {
		v->type = t;
		return rd_str(r, &v->str);
	}
	if (t == DUET_GGUF_ARRAY)
		return rd_array(r, v, depth);
	size_t esize = duet_gguf_type_size(t);
	if (!esize)
		return DUET_ERR(DUET_E_CORRUPT, "%s: unknown value type %u",
				r->what, (unsigned)t);
	const uint8_t *b;
	duet_status s = take(r, esize, &b);
	if (s == DUET_OK)
		scalar_from_bytes(t, b, v);
	return s;
}

static int cmp_kv_ptr(const void *a, const void *b)
{
	const duet_gguf_kv *x = *(const duet_gguf_kv *const *)a;
	const duet_gguf_kv *y = *(const duet_gguf_kv *const *)b;
	return strcmp(x->key, y->key);
}

static int cmp_tensor_name(const void *a, const void *b)
{
	const duet_gguf_tensor *x = *(const duet_gguf_tensor *const *)a;
	const duet_gguf_tensor *y = *(const duet_gguf_tensor *const *)b;
	return strcmp(x->name, y->name);
}

static int cmp_tensor_offset(const void *a, const void *b)
{
	const duet_gguf_tensor *x = *(const duet_gguf_tensor *const *)a;
	const duet_gguf_tensor *y = *(const duet_gguf_tensor *const *)b;
	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Sorts pointers to the n items at base (stride bytes apart) with cmp and
 * returns the index of an item equal to its predecessor, or -1. The sorted
 * pointers are left in *sorted (caller frees); NULL on allocation failure. */
static int64_t sort_find_dup(const void *base, uint64_t n, size_t stride,
			     int (*cmp)(const void *, const void *),
			     const void ***sorted)
{
	const void **ptrs = malloc((n ? n : 1) * sizeof *ptrs);
	*sorted = ptrs;
	if (!ptrs)
		return -1;
	for (uint64_t i = 0; i < n; i++)
		ptrs[i] = (const uint8_t *)base + i * stride;
	qsort(ptrs, n, sizeof *ptrs, cmp);
	for (uint64_t i = 1; i < n; i++)
		if (cmp(&ptrs[i - 1], &ptrs[i]) == 0)
			return (int64_t)i;
	return -1;
}

static duet_status rd_kvs(reader *r, duet_gguf *g)
{
	for (uint64_t i = 0; i < g->n_kv; i++) {
		duet_gguf_kv *kv = &g->kv[i];
		duet_gguf_str key;
		uint32_t t;
		char what[64];
		snprintf(what, sizeof what, "metadata entry #%llu",
			 (unsigned long long)i);
		r->what = what;
		duet_status s = rd_str(r, &key);
		if (s != DUET_OK)
			return s;
		kv->key = key.s;
		r->what = kv->key;
		if ((s = rd_u32(r, &t)) != DUET_OK)
			return s;
		if (t >= DUET_GGUF_TYPE_COUNT)
			return DUET_ERR(DUET_E_CORRUPT,
					"key '%s' has unknown value type %u",
					kv->key, t);
		if ((s = rd_value(r, (duet_gguf_type)t, &kv->value, 0)) != DUET_OK)
			return s;
	}
	const void **sorted;
	int64_t dup = sort_find_dup(g->kv, g->n_kv, sizeof *g->kv, cmp_kv_ptr,
				    &sorted);
	duet_status s = DUET_OK;
	if (!sorted)
		s = DUET_ERR(DUET_E_NOMEM, "out of memory checking keys");
	else if (dup >= 0)
		s = DUET_ERR(DUET_E_CORRUPT, "key '%s' appears twice",
			     ((const duet_gguf_kv *)sorted[dup])->key);
	free(sorted);
	return s;
}

static duet_status check_alignment(duet_gguf *g)
{
	g->alignment = DUET_GGUF_DEFAULT_ALIGNMENT;
	const duet_gguf_kv *kv = duet_gguf_find(g, "general.alignment");
	if (!kv)
		return DUET_OK;
	if (kv->value.type != DUET_GGUF_U32)
		return DUET_ERR(DUET_E_CORRUPT,
				"key 'general.alignment' has type %s, expected u32",
				duet_gguf_type_name(kv->value.type));
	uint64_t a = kv->value.u;
	if (a == 0 || (a & (a - 1)) || a > (1u << 30))
		return DUET_ERR(DUET_E_CORRUPT,
				"key 'general.alignment' is %llu, not a power "
				"of two up to 2^30",
				(unsigned long long)a);
	g->alignment = (uint32_t)a;
	return DUET_OK;
}

/* Reads one tensor info and checks its shape, type and size. */
static duet_status rd_tensor_info(reader *r, duet_gguf *g, duet_gguf_tensor *t,
				  uint64_t idx)
{
	char what[64];
	snprintf(what, sizeof what, "tensor info #%llu", (unsigned long long)idx);
	r->what = what;
	duet_gguf_str name;
	duet_status s = rd_str(r, &name);
	if (s != DUET_OK)
		return s;
	t->name = name.s;
	r->what = t->name;
	if (name.n == 0 || name.n > 1024 || strlen(name.s) != name.n)
		return DUET_ERR(DUET_E_CORRUPT,
				"tensor #%llu has an empty, over-long or "
				"NUL-containing name",
				(unsigned long long)idx);
	if ((s = rd_u32(r, &t->n_dims)) != DUET_OK)
		return s;
	if (t->n_dims == 0 || t->n_dims > DUET_GGUF_MAX_DIMS)
		return DUET_ERR(DUET_E_CORRUPT,
				"tensor '%s' has %u dimensions (1 to %d allowed)",
				t->name, t->n_dims, DUET_GGUF_MAX_DIMS);
	uint64_t elems = 1;
	for (int d = 0; d < DUET_GGUF_MAX_DIMS; d++) {
		uint64_t ne = 1;
		if ((uint32_t)d < t->n_dims && (s = rd_u64(r, &ne)) != DUET_OK)
			return s;
		if (ne > (uint64_t)INT64_MAX ||
		    (ne && elems > (uint64_t)INT64_MAX / ne))
			return DUET_ERR(DUET_E_CORRUPT,
					"tensor '%s': dimension %d (%llu) makes "
					"the element count overflow",
					t->name, d, (unsigned long long)ne);
		t->ne[d] = (int64_t)ne;
		elems *= ne;
	}
	uint32_t type;
	if ((s = rd_u32(r, &type)) != DUET_OK || (s = rd_u64(r, &t->offset)) != DUET_OK)
		return s;
	t->type = type;
	const duet_type_info *ti = duet_type_get(type);
	if (!ti)
		return DUET_ERR(DUET_E_UNSUPPORTED,
				"tensor '%s' has unknown type id %u", t->name,
				type);
	if (t->ne[0] % ti->block_elems)
		return DUET_ERR(DUET_E_CORRUPT,
				"tensor '%s': row of %lld elements is not a "
				"multiple of the %s block size %u",
				t->name, (long long)t->ne[0], ti->name,
				ti->block_elems);
	uint64_t blocks = elems / ti->block_elems;
	if (blocks > UINT64_MAX / ti->block_bytes)
		return DUET_ERR(DUET_E_CORRUPT, "tensor '%s': byte size overflows",
				t->name);
	t->bytes = blocks * ti->block_bytes;
	if (t->offset % g->alignment)
		return DUET_ERR(DUET_E_CORRUPT,
				"tensor '%s': data offset %llu is not a multiple "
				"of the alignment %u",
				t->name, (unsigned long long)t->offset,
				g->alignment);
	return DUET_OK;
}

/* Checks that every tensor lies inside the data section and that no two
 * overlap, then points each at its bytes. */
static duet_status place_tensors(duet_gguf *g)
{
	uint64_t avail = g->size - g->data_offset;
	for (uint64_t i = 0; i < g->n_tensors; i++) {
		duet_gguf_tensor *t = &g->tensors[i];
		if (t->offset > avail || t->bytes > avail - t->offset)
			return DUET_ERR(DUET_E_CORRUPT,
					"tensor '%s': data [%llu, +%llu) lies "
					"outside the file's %llu data bytes",
					t->name, (unsigned long long)t->offset,
					(unsigned long long)t->bytes,
					(unsigned long long)avail);
		t->data = g->base + g->data_offset + t->offset;
	}
	const void **sorted;
	int64_t dup = sort_find_dup(g->tensors, g->n_tensors, sizeof *g->tensors,
				    cmp_tensor_name, &sorted);
	if (!sorted)
		return DUET_ERR(DUET_E_NOMEM, "out of memory checking tensors");
	if (dup >= 0) {
		const duet_gguf_tensor *t = sorted[dup];
		free(sorted);
		return DUET_ERR(DUET_E_CORRUPT, "tensor '%s' appears twice",
				t->name);
	}
	qsort(sorted, g->n_tensors, sizeof *sorted, cmp_tensor_offset);
	duet_status s = DUET_OK;
	for (uint64_t i = 1; i < g->n_tensors; i++) {
		const duet_gguf_tensor *a = sorted[i - 1], *b = sorted[i];
		if (a->bytes && b->bytes && a->offset + a->bytes > b->offset) {
			s = DUET_ERR(DUET_E_CORRUPT,
				     "tensors '%s' and '%s' overlap in the data "
				     "section", a->name, b->name);
			break;
		}
	}
	free(sorted);
	return s;
}

static duet_status parse_header(reader *r, duet_gguf *g)
{
	const uint8_t *magic;
	uint32_t version;
	duet_status s;
	r->what = "GGUF header";
	if ((s = take(r, 4, &magic)) != DUET_OK)
		return s;
	if (memcmp(magic, "GGUF", 4) != 0)
		return DUET_ERR(DUET_E_CORRUPT,
				"not a GGUF file (magic bytes %02x %02x %02x %02x)",
				magic[0], magic[1], magic[2], magic[3]);
	if ((s = rd_u32(r, &version)) != DUET_OK)
		return s;
	if (version == 0x02000000u || version == 0x03000000u)
		return DUET_ERR(DUET_E_UNSUPPORTED,
				"big-endian GGUF files are not supported");
	if (version == 1)
		return DUET_ERR(DUET_E_UNSUPPORTED,
				"GGUF version 1 is not supported (re-convert "
				"the model: versions 2 and 3 are)");
	if (version != 2 && version != 3)
		return DUET_ERR(DUET_E_UNSUPPORTED,
				"unknown GGUF version %u (2 and 3 are supported)",
				version);
	g->version = version;
	if ((s = rd_u64(r, &g->n_tensors)) != DUET_OK ||
	    (s = rd_u64(r, &g->n_kv)) != DUET_OK)
		return s;
	/* A key takes at least 12 bytes (length + type), a tensor info 28. */
	uint64_t left = r->size - r->off;
	if (g->n_kv > left / 12)
		return DUET_ERR(DUET_E_CORRUPT,
				"header claims %llu metadata entries but only "
				"%llu bytes follow",
				(unsigned long long)g->n_kv,
				(unsigned long long)left);
	if (g->n_tensors > left / 28)
		return DUET_ERR(DUET_E_CORRUPT,
				"header claims %llu tensors but only %llu bytes "
				"follow",
				(unsigned long long)g->n_tensors,
				(unsigned long long)left);
	return DUET_OK;
}

static duet_status parse(reader *r, duet_gguf *g)
{
	duet_status s;
	if ((s = parse_header(r, g)) != DUET_OK)
		return s;
	g->kv = duet_arena_alloc(&g->arena, g->n_kv * sizeof *g->kv + 1);
	g->tensors = duet_arena_alloc(&g->arena,
				      g->n_tensors * sizeof *g->tensors + 1);
	if (!g->kv || !g->tensors)
		return DUET_ERR(DUET_E_NOMEM, "out of memory reading GGUF header");
	if ((s = rd_kvs(r, g)) != DUET_OK || (s = check_alignment(g)) != DUET_OK)
		return s;
	for (uint64_t i = 0; i < g->n_tensors; i++)
		if ((s = rd_tensor_info(r, g, &g->tensors[i], i)) != DUET_OK)
			return s;
	uint64_t pad = (g->alignment - r->off % g->alignment) % g->alignment;
	g->data_offset = r->off + pad;
	if (g->data_offset > g->size) {
		/* Only legal when there is no tensor data at all. */
		for (uint64_t i = 0; i < g->n_tensors; i++)
			if (g->tensors[i].bytes)
				return DUET_ERR(DUET_E_CORRUPT,
						"file ends before its tensor data "
						"section (truncated)");
		g->data_offset = g->size;
	}
	return place_tensors(g);
}

duet_status duet_gguf_parse(const void *data, size_t size, duet_gguf **out)
{
	*out = NULL;
	duet_gguf *g = calloc(1, sizeof *g);
	if (!g)
		return DUET_ERR(DUET_E_NOMEM, "out of memory");
	duet_arena_init(&g->arena, 0);
	g->base = data;
	g->size = size;
	reader r = { .p = data, .size = size, .arena = &g->arena };
	duet_status s = parse(&r, g);
	if (s != DUET_OK) {
		duet_gguf_destroy(g);
		return s;
	}
	*out = g;
	return DUET_OK;
}

duet_status duet_gguf_open(const char *path, duet_gguf **out)
{
	*out = NULL;
	int fd = duet_fault_read() ? (errno = EIO, -1) : open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return DUET_ERR(errno == ENOENT ? DUET_E_NOT_FOUND : DUET_E_IO,
				"cannot open '%s': %s", path, strerror(errno));
	struct stat st;
	duet_status s = DUET_OK;
	void *map = MAP_FAILED;
	if (fstat(fd, &st) != 0)
		s = DUET_ERR(DUET_E_IO, "cannot stat '%s': %s", path,
			     strerror(errno));
	else if (!S_ISREG(st.st_mode))
		s = DUET_ERR(DUET_E_IO, "'%s' is not a regular file", path);
	else if (st.st_size == 0)
		s = DUET_ERR(DUET_E_CORRUPT, "'%s' is empty, not a GGUF file",
			     path);
	else if ((map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE,
			     fd, 0)) == MAP_FAILED)
		s = DUET_ERR(DUET_E_IO, "cannot map '%s': %s", path,
			     strerror(errno));
	close(fd);
	if (s != DUET_OK)
		return s;
	duet_gguf *g;
	s = duet_gguf_parse(map, (size_t)st.st_size, &g);
	if (s != DUET_OK) {
		munmap(map, (size_t)st.st_size);
		return duet_error_wrap(s, "%s", path);
	}
	g->map = map;
	g->map_bytes = (size_t)st.st_size;
	*out = g;
	return DUET_OK;
}

void duet_gguf_destroy(duet_gguf *g)
{
	if (!g)
		return;
	if (g->map)
		munmap(g->map, g->map_bytes);
	duet_arena_finish(&g->arena);
	free(g);
}

const duet_gguf_kv *duet_gguf_find(const duet_gguf *g, const char *key)
{
	for (uint64_t i = 0; i < g->n_kv; i++)
		if (g->kv[i].key && strcmp(g->kv[i].key, key) == 0)
			return &g->kv[i];
	return NULL;
}

const duet_gguf_tensor *duet_gguf_find_tensor(const duet_gguf *g,
					      const char *name)
{
	for (uint64_t i = 0; i < g->n_tensors; i++)
		if (strcmp(g->tensors[i].name, name) == 0)
			return &g->tensors[i];
	return NULL;
}

/* ---- typed getters ----------------------------------------------------- */

static bool is_unsigned(duet_gguf_type t)
{
	return t == DUET_GGUF_U8 || t == DUET_GGUF_U16 || t == DUET_GGUF_U32 ||
	       t == DUET_GGUF_U64;
}

static bool is_signed(duet_gguf_type t)
{
	return t == DUET_GGUF_I8 || t == DUET_GGUF_I16 || t == DUET_GGUF_I32 ||
	       t == DUET_GGUF_I64;
}

static duet_status wrong_type(const duet_gguf_kv *kv, const char *want)
{
	return DUET_ERR(DUET_E_CORRUPT, "key '%s' has type %s, expected %s",
			kv->key, duet_gguf_type_name(kv->value.type), want);
}

duet_status duet_gguf_get_i64(const duet_gguf *g, const char *key, int64_t *out)
{
	const duet_gguf_kv *kv = duet_gguf_find(g, key);
	if (!kv)
		return DUET_E_NOT_FOUND;
	if (is_signed(kv->value.type)) {
		*out = kv->value.i;
		return DUET_OK;
	}
	if (is_unsigned(kv->value.type) && kv->value.u <= (uint64_t)INT64_MAX) {
		*out = (int64_t)kv->value.u;
		return DUET_OK;
	}
	return wrong_type(kv, "an integer");
}

duet_status duet_gguf_get_u32(const duet_gguf *g, const char *key, uint32_t *out)
{
	int64_t v;
	duet_status s = duet_gguf_get_i64(g, key, &v);
	if (s != DUET_OK)
		return s;
	if (v < 0 || v > (int64_t)UINT32_MAX)
		return DUET_ERR(DUET_E_CORRUPT,
				"key '%s' is %lld, outside 0..4294967295", key,
				(long long)v);
	*out = (uint32_t)v;
	return DUET_OK;
}

duet_status duet_gguf_get_f32(const duet_gguf *g, const char *key, float *out)
{
	const duet_gguf_kv *kv = duet_gguf_find(g, key);
	if (!kv)
		return DUET_E_NOT_FOUND;
	if (kv->value.type == DUET_GGUF_F32 || kv->value.type == DUET_GGUF_F64)
		*out = (float)kv->value.f;
	else if (is_signed(kv->value.type))
		*out = (float)kv->value.i;
	else if (is_unsigned(kv->value.type))
		*out = (float)kv->value.u;
	else
		return wrong_type(kv, "a number");
	return DUET_OK;
}

duet_status duet_gguf_get_bool(const duet_gguf *g, const char *key, bool *out)
{
	const duet_gguf_kv *kv = duet_gguf_find(g, key);
	if (!kv)
		return DUET_E_NOT_FOUND;
	if (kv->value.type != DUET_GGUF_BOOL)
		return wrong_type(kv, "bool");
	*out = kv->value.b;
	return DUET_OK;
}

duet_status duet_gguf_get_str(const duet_gguf *g, const char *key,
			      const char **out)
{
	const duet_gguf_kv *kv = duet_gguf_find(g, key);
	if (!kv)
		return DUET_E_NOT_FOUND;
	if (kv->value.type != DUET_GGUF_STRING)
		return wrong_type(kv, "string");
	*out = kv->value.str.s;
	return DUET_OK;
}

duet_status duet_gguf_get_arr(const duet_gguf *g, const char *key,
			      duet_gguf_type elem, const void **data, uint64_t *n)
{
	const duet_gguf_kv *kv = duet_gguf_find(g, key);
	if (!kv)
		return DUET_E_NOT_FOUND;
	if (kv->value.type != DUET_GGUF_ARRAY || kv->value.arr.type != elem) {
		char want[32];
		snprintf(want, sizeof want, "array of %s",
			 duet_gguf_type_name(elem));
		return wrong_type(kv, want);
	}
	*data = kv->value.arr.data;
	*n = kv->value.arr.n;
	return DUET_OK;
}
