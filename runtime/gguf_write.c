/* GGUF writer: metadata and tensors in insertion order, tensor data padded
 * to the alignment, so equal inputs give byte-identical files. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "gguf.h"
#include "quant.h"

typedef struct wtensor {
	const char *name;
	uint32_t type;
	uint32_t n_dims;
	int64_t ne[DUET_GGUF_MAX_DIMS];
	uint64_t bytes;
	void *data; /* malloc'd copy */
} wtensor;

struct duet_gguf_writer {
	uint32_t version;
	uint32_t alignment;
	duet_arena arena;
	duet_gguf_kv *kv;
	uint64_t n_kv, cap_kv;
	wtensor *tensors;
	uint64_t n_tensors, cap_tensors;
};

/* Output goes to a FILE or to a growing buffer. */
typedef struct sink {
	FILE *f;
	uint8_t *buf;
	size_t len, cap;
	bool failed;
} sink;

static void put(sink *o, const void *p, size_t n)
{
	if (o->failed || n == 0)
		return;
	if (o->f) {
		o->failed = fwrite(p, 1, n, o->f) != n;
		o->len += n;
		return;
	}
	if (o->cap - o->len < n) {
		size_t cap = o->cap ? o->cap : 4096;
		while (cap - o->len < n)
			cap *= 2;
		uint8_t *b = realloc(o->buf, cap);
		if (!b) {
			o->failed = true;
			return;
		}
		o->buf = b;
		o->cap = cap;
	}
	memcpy(o->buf + o->len, p, n);
	o->len += n;
}

static void put_u32(sink *o, uint32_t v) { put(o, &v, 4); }
static void put_u64(sink *o, uint64_t v) { put(o, &v, 8); }

static void put_str(sink *o, const char *s, uint64_t n)
{
	put_u64(o, n);
	put(o, s, (size_t)n);
}

static void pad_to(sink *o, uint32_t alignment)
{
	static const uint8_t zeros[64];
	size_t pad = (alignment - o->len % alignment) % alignment;
	while (pad) {
		size_t n = pad < sizeof zeros ? pad : sizeof zeros;
		put(o, zeros, n);
		pad -= n;
	}
}

static void put_scalar(sink *o, const duet_gguf_value *v)
{
	uint8_t b[8];
	size_t n = duet_gguf_type_size(v->type);
	switch (v->type) {
	case DUET_GGUF_U8: b[0] = (uint8_t)v->u; break;
	case DUET_GGUF_I8: b[0] = (uint8_t)(int8_t)v->i; break;
	case DUET_GGUF_BOOL: b[0] = v->b; break;
	case DUET_GGUF_U16: { uint16_t x = (uint16_t)v->u; memcpy(b, &x, 2); break; }
	case DUET_GGUF_I16: { int16_t x = (int16_t)v->i; memcpy(b, &x, 2); break; }
	case DUET_GGUF_U32: { uint32_t x = (uint32_t)v->u; memcpy(b, &x, 4); break; }
	case DUET_GGUF_I32: { int32_t x = (int32_t)v->i; memcpy(b, &x, 4); break; }
	case DUET_GGUF_F32: { float x = (float)v->f; memcpy(b, &x, 4); break; }
	case DUET_GGUF_U64: memcpy(b, &v->u, 8); break;
	case DUET_GGUF_I64: memcpy(b, &v->i, 8); break;
	case DUET_GGUF_F64: memcpy(b, &v->f, 8); break;
	default: return;
	}
	put(o, b, n);
}

/* Writes v without its type tag (the caller wrote it, or it is implied by
 * the enclosing array). */
static void put_value(sink *o, const duet_gguf_value *v)
{
	if (v->type == DUET_GGUF_STRING) {
		put_str(o, v->str.s, v->str.n);
		return;
	}
	if (v->type != DUET_GGUF_ARRAY) {
		put_scalar(o, v);
		return;
	}
	put_u32(o, v->arr.type);
	put_u64(o, v->arr.n);
	size_t es = duet_gguf_type_size(v->arr.type);
	if (es) {
		put(o, v->arr.data, (size_t)(es * v->arr.n));
	} else if (v->arr.type == DUET_GGUF_STRING) {
		const duet_gguf_str *s = v->arr.data;
		for (uint64_t i = 0; i < v->arr.n; i++)
			put_str(o, s[i].s, s[i].n);
	} else {
		const duet_gguf_value *a = v->arr.data;
		for (uint64_t i = 0; i < v->arr.n; i++)
			put_value(o, &a[i]);
	}
}

static void serialize(duet_gguf_writer *w, sink *o)
{
	put(o, "GGUF", 4);
	put_u32(o, w->version);
	put_u64(o, w->n_tensors);
	put_u64(o, w->n_kv);
	for (uint64_t i = 0; i < w->n_kv; i++) {
		put_str(o, w->kv[i].key, strlen(w->kv[i].key));
		put_u32(o, w->kv[i].value.type);
		put_value(o, &w->kv[i].value);
	}
	uint64_t offset = 0;
	for (uint64_t i = 0; i < w->n_tensors; i++) {
		const wtensor *t = &w->tensors[i];
		put_str(o, t->name, strlen(t->name));
		put_u32(o, t->n_dims);
		for (uint32_t d = 0; d < t->n_dims; d++)
			put_u64(o, (uint64_t)t->ne[d]);
		put_u32(o, t->type);
		put_u64(o, offset);
		offset += (t->bytes + w->alignment - 1) / w->alignment * w->alignment;
	}
	pad_to(o, w->alignment);
	for (uint64_t i = 0; i < w->n_tensors; i++) {
		put(o, w->tensors[i].data, (size_t)w->tensors[i].bytes);
		pad_to(o, w->alignment);
	}
}

duet_status duet_gguf_writer_create(duet_gguf_writer **out)
{
	duet_gguf_writer *w = calloc(1, sizeof *w);
	*out = w;
	if (!w)
		return DUET_ERR(DUET_E_NOMEM, "out of memory");
	w->version = 3;
	w->alignment = DUET_GGUF_DEFAULT_ALIGNMENT;
	duet_arena_init(&w->arena, 0);
	return DUET_OK;
}

void duet_gguf_writer_destroy(duet_gguf_writer *w)
{
	if (!w)
		return;
	for (uint64_t i = 0; i < w->n_tensors; i++)
		free(w->tensors[i].data);
	free(w->tensors);
	free(w->kv);
	duet_arena_finish(&w->arena);
	free(w);
}

duet_status duet_gguf_writer_set_version(duet_gguf_writer *w, uint32_t v)
{
	if (v != 2 && v != 3)
		return DUET_ERR(DUET_E_INVAL, "GGUF version %u cannot be written", v);
	w->version = v;
	return DUET_OK;
}

duet_status duet_gguf_writer_set_alignment(duet_gguf_writer *w, uint32_t a)
{
	if (a == 0 || (a & (a - 1)))
		return DUET_ERR(DUET_E_INVAL, "alignment %u is not a power of two",
				a);
	w->alignment = a;
	return duet_gguf_writer_set_u32(w, "general.alignment", a);
}

/* Deep-copies src into dst, strings and arrays into the writer's arena. */
static duet_status copy_value(duet_arena *a, duet_gguf_value *dst,
			      const duet_gguf_value *src)
{
	*dst = *src;
	if (src->type == DUET_GGUF_STRING) {
		dst->str.s = duet_arena_strndup(a, src->str.s, (size_t)src->str.n);
		return dst->str.s ? DUET_OK : DUET_E_NOMEM;
	}
	if (src->type != DUET_GGUF_ARRAY)
		return DUET_OK;
	size_t es = duet_gguf_type_size(src->arr.type);
	uint64_t n = src->arr.n;
	if (es) {
		void *d = duet_arena_alloc(a, es * n + 1);
		if (!d)
			return DUET_E_NOMEM;
		memcpy(d, src->arr.data, es * n);
		dst->arr.data = d;
		return DUET_OK;
	}
	if (src->arr.type == DUET_GGUF_STRING) {
		duet_gguf_str *d = duet_arena_alloc(a, sizeof *d * n + 1);
		const duet_gguf_str *s = src->arr.data;
		if (!d)
			return DUET_E_NOMEM;
		for (uint64_t i = 0; i < n; i++) {
			d[i].n = s[i].n;
			d[i].s = duet_arena_strndup(a, s[i].s, (size_t)s[i].n);
			if (!d[i].s)
				return DUET_E_NOMEM;
		}
		dst->arr.data = d;
		return DUET_OK;
	}
	if (src->arr.type != DUET_GGUF_ARRAY)
		return DUET_E_INVAL;
	duet_gguf_value *d = duet_arena_alloc(a, sizeof *d * n + 1);
	const duet_gguf_value *s = src->arr.data;
	if (!d)
		return DUET_E_NOMEM;
	for (uint64_t i = 0; i < n; i++) {
		duet_status st = copy_value(a, &d[i], &s[i]);
		if (st != DUET_OK)
			return st;
	}
	dst->arr.data = d;
	return DUET_OK;
}

duet_status duet_gguf_writer_set(duet_gguf_writer *w, const char *key,
				 const duet_gguf_value *v)
{
	for (uint64_t i = 0; i < w->n_kv; i++)
		if (strcmp(w->kv[i].key, key) == 0)
			return DUET_ERR(DUET_E_INVAL, "key '%s' is already set", key);
	if (v->type >= DUET_GGUF_TYPE_COUNT)
		return DUET_ERR(DUET_E_INVAL, "key '%s': bad value type %u", key,
				(unsigned)v->type);
	if (w->n_kv == w->cap_kv) {
		uint64_t cap = w->cap_kv ? 2 * w->cap_kv : 32;
		duet_gguf_kv *kv = realloc(w->kv, cap * sizeof *kv);
		if (!kv)
			return DUET_ERR(DUET_E_NOMEM, "out of memory");
		w->kv = kv;
		w->cap_kv = cap;
	}
	duet_gguf_kv *kv = &w->kv[w->n_kv];
	kv->key = duet_arena_strndup(&w->arena, key, strlen(key));
	duet_status s = kv->key ? copy_value(&w->arena, &kv->value, v)
				: DUET_E_NOMEM;
	if (s == DUET_E_NOMEM)
		return DUET_ERR(s, "out of memory setting key '%s'", key);
	if (s != DUET_OK)
		return DUET_ERR(s, "key '%s': bad array element type", key);
	w->n_kv++;
	return DUET_OK;
}

duet_status duet_gguf_writer_set_u32(duet_gguf_writer *w, const char *key,
				     uint32_t v)
{
	duet_gguf_value val = { .type = DUET_GGUF_U32, .u = v };
	return duet_gguf_writer_set(w, key, &val);
}

duet_status duet_gguf_writer_set_f32(duet_gguf_writer *w, const char *key,
				     float v)
{
	duet_gguf_value val = { .type = DUET_GGUF_F32, .f = v };
	return duet_gguf_writer_set(w, key, &val);
}

duet_status duet_gguf_writer_set_bool(duet_gguf_writer *w, const char *key,
				      bool v)
{
	duet_gguf_value val = { .type = DUET_GGUF_BOOL, .b = v };
	return duet_gguf_writer_set(w, key, &val);
}

duet_status duet_gguf_writer_set_str(duet_gguf_writer *w, const char *key,
				     const char *v)
{
	duet_gguf_value val = { .type = DUET_GGUF_STRING };
	val.str.s = v;
	val.str.n = strlen(v);
	return duet_gguf_writer_set(w, key, &val);
}

duet_status duet_gguf_writer_set_arr(duet_gguf_writer *w, const char *key,
				     duet_gguf_type elem, const void *data,
				     uint64_t n)
{
	duet_gguf_value val = { .type = DUET_GGUF_ARRAY };
	val.arr.type = elem;
	val.arr.n = n;
	val.arr.data = data;
	if (elem != DUET_GGUF_STRING)
		return duet_gguf_writer_set(w, key, &val);
	duet_gguf_str *strs = malloc(sizeof *strs * (n ? n : 1));
	if (!strs)
		return DUET_ERR(DUET_E_NOMEM, "out of memory");
	const char *const *src = data;
	for (uint64_t i = 0; i < n; i++) {
		strs[i].s = src[i];
		strs[i].n = strlen(src[i]);
	}
	val.arr.data = strs;
	duet_status s = duet_gguf_writer_set(w, key, &val);
	free(strs);
	return s;
}

duet_status duet_gguf_writer_copy_kv(duet_gguf_writer *w, const duet_gguf *g,
				     const char *prefix)
{
	size_t plen = prefix ? strlen(prefix) : 0;
	for (uint64_t i = 0; i < g->n_kv; i++) {
		const duet_gguf_kv *kv = &g->kv[i];
		if (plen && strncmp(kv->key, prefix, plen) != 0)
			continue;
		duet_status s = duet_gguf_writer_set(w, kv->key, &kv->value);
		if (s != DUET_OK)
			return s;
	}
	return DUET_OK;
}

duet_status duet_gguf_writer_add_tensor(duet_gguf_writer *w, const char *name,
					uint32_t type, uint32_t n_dims,
					const int64_t *ne, const void *data,
					uint64_t bytes)
{
	if (n_dims == 0 || n_dims > DUET_GGUF_MAX_DIMS)
		return DUET_ERR(DUET_E_INVAL, "tensor '%s': %u dimensions", name,
				n_dims);
	uint64_t rows = 1;
	for (uint32_t d = 1; d < n_dims; d++)
		rows *= (uint64_t)ne[d];
	uint64_t row = duet_type_row_bytes(type, (uint64_t)ne[0]);
	if (!duet_type_get(type) || row * rows != bytes)
		return DUET_ERR(DUET_E_INVAL,
				"tensor '%s': %llu bytes do not match type %s "
				"and its shape",
				name, (unsigned long long)bytes,
				duet_type_name(type));
	for (uint64_t i = 0; i < w->n_tensors; i++)
		if (strcmp(w->tensors[i].name, name) == 0)
			return DUET_ERR(DUET_E_INVAL, "tensor '%s' added twice",
					name);
	if (w->n_tensors == w->cap_tensors) {
		uint64_t cap = w->cap_tensors ? 2 * w->cap_tensors : 64;
		wtensor *t = realloc(w->tensors, cap * sizeof *t);
		if (!t)
			return DUET_ERR(DUET_E_NOMEM, "out of memory");
		w->tensors = t;
		w->cap_tensors = cap;
	}
	wtensor *t = &w->tensors[w->n_tensors];
	memset(t, 0, sizeof *t);
	t->name = duet_arena_strndup(&w->arena, name, strlen(name));
	t->data = malloc(bytes ? (size_t)bytes : 1);
	if (!t->name || !t->data) {
		free(t->data);
		return DUET_ERR(DUET_E_NOMEM, "out of memory adding tensor '%s'",
				name);
	}
	memcpy(t->data, data, (size_t)bytes);
	t->type = type;
	t->n_dims = n_dims;
	for (int d = 0; d < DUET_GGUF_MAX_DIMS; d++)
		t->ne[d] = (uint32_t)d < n_dims ? ne[d] : 1;
	t->bytes = bytes;
	w->n_tensors++;
	return DUET_OK;
}

duet_status duet_gguf_writer_write_file(duet_gguf_writer *w, const char *path)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		return DUET_ERR(DUET_E_IO, "cannot create '%s': %s", path,
				strerror(errno));
	sink o = { .f = f };
	serialize(w, &o);
	bool failed = o.failed;
	int err = errno;
	if (fclose(f) != 0 && !failed) {
		failed = true;
		err = errno;
	}
	if (failed) {
		remove(path);
		return DUET_ERR(DUET_E_IO, "writing '%s' failed: %s", path,
				strerror(err));
	}
	return DUET_OK;
}

duet_status duet_gguf_writer_write_mem(duet_gguf_writer *w, void **data,
				       size_t *size)
{
	sink o = { 0 };
	serialize(w, &o);
	if (o.failed) {
		free(o.buf);
		return DUET_ERR(DUET_E_NOMEM, "out of memory serializing GGUF");
	}
	*data = o.buf;
	*size = o.len;
	return DUET_OK;
}
