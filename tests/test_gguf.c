/* GGUF reader and writer: round trips of every metadata type, and every
 * kind of corruption giving a named error instead of a crash. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gguf.h"
#include "proc.h"
#include "quant.h"

/* ---- a raw byte builder for hand-made (and hand-broken) files ---------- */

typedef struct bytes {
	uint8_t *p;
	size_t n, cap;
} bytes;

static void put(bytes *b, const void *p, size_t n)
{
	if (b->cap - b->n < n) {
		b->cap = (b->cap + n) * 2;
		b->p = realloc(b->p, b->cap);
	}
	memcpy(b->p + b->n, p, n);
	b->n += n;
}
static void u32(bytes *b, uint32_t v) { put(b, &v, 4); }
static void u64(bytes *b, uint64_t v) { put(b, &v, 8); }
static void str(bytes *b, const char *s) { u64(b, strlen(s)); put(b, s, strlen(s)); }
static void pad(bytes *b, size_t a) { while (b->n % a) put(b, "", 1); }

static void header(bytes *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv)
{
	put(b, "GGUF", 4);
	u32(b, version);
	u64(b, n_tensors);
	u64(b, n_kv);
}

static void kv_u32(bytes *b, const char *key, uint32_t v)
{
	str(b, key);
	u32(b, DUET_GGUF_U32);
	u32(b, v);
}

static void tensor_info(bytes *b, const char *name, uint32_t n_dims,
			const uint64_t *ne, uint32_t type, uint64_t offset)
{
	str(b, name);
	u32(b, n_dims);
	for (uint32_t d = 0; d < n_dims; d++)
		u64(b, ne[d]);
	u32(b, type);
	u64(b, offset);
}

/* Parses b and checks the status and that the message mentions `needle`. */
static void expect_error(bytes *b, duet_status want, const char *needle)
{
	duet_gguf *g = (duet_gguf *)1;
	duet_status s = duet_gguf_parse(b->p, b->n, &g);
	cr_assert_eq(s, want, "status %d (%s), wanted %d", s, duet_last_error(), want);
	cr_assert_null(g);
	if (needle)
		cr_assert(strstr(duet_last_error(), needle), "message '%s' lacks '%s'",
			  duet_last_error(), needle);
	free(b->p);
}

/* ---- a valid file with every metadata type ------------------------------ */

static void *valid_file(uint32_t version, uint32_t alignment, size_t *size)
{
	duet_gguf_writer *w;
	cr_assert_eq(duet_gguf_writer_create(&w), DUET_OK);
	cr_assert_eq(duet_gguf_writer_set_version(w, version), DUET_OK);
	if (alignment != 32)
		cr_assert_eq(duet_gguf_writer_set_alignment(w, alignment), DUET_OK);
	duet_gguf_value v[] = {
		{ .type = DUET_GGUF_U8, .u = 200 },  { .type = DUET_GGUF_I8, .i = -100 },
		{ .type = DUET_GGUF_U16, .u = 60000 }, { .type = DUET_GGUF_I16, .i = -30000 },
		{ .type = DUET_GGUF_U32, .u = 4000000000u }, { .type = DUET_GGUF_I32, .i = -2000000000 },
		{ .type = DUET_GGUF_F32, .f = 1.5 }, { .type = DUET_GGUF_BOOL, .b = true },
		{ .type = DUET_GGUF_U64, .u = 1ull << 60 }, { .type = DUET_GGUF_I64, .i = -(1ll << 60) },
		{ .type = DUET_GGUF_F64, .f = 3.25 },
	};
	for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
		char key[32];
		snprintf(key, sizeof key, "t.%s", duet_gguf_type_name(v[i].type));
		cr_assert_eq(duet_gguf_writer_set(w, key, &v[i]), DUET_OK);
	}
	cr_assert_eq(duet_gguf_writer_set_str(w, "t.string", "h\xc3\xa9llo"), DUET_OK);
	const char *words[] = { "a", "", "ccc" };
	cr_assert_eq(duet_gguf_writer_set_arr(w, "t.strings", DUET_GGUF_STRING, words, 3),
		     DUET_OK);
	int16_t shorts[] = { -1, 2, -3 };
	cr_assert_eq(duet_gguf_writer_set_arr(w, "t.shorts", DUET_GGUF_I16, shorts, 3),
		     DUET_OK);
	/* nested: [[1, 2], []] of u32 */
	uint32_t one_two[] = { 1, 2 };
	duet_gguf_value inner[2] = { { .type = DUET_GGUF_ARRAY }, { .type = DUET_GGUF_ARRAY } };
	inner[0].arr.type = DUET_GGUF_U32; inner[0].arr.n = 2; inner[0].arr.data = one_two;
	inner[1].arr.type = DUET_GGUF_U32; inner[1].arr.n = 0; inner[1].arr.data = one_two;
	duet_gguf_value outer = { .type = DUET_GGUF_ARRAY };
	outer.arr.type = DUET_GGUF_ARRAY; outer.arr.n = 2; outer.arr.data = inner;
	cr_assert_eq(duet_gguf_writer_set(w, "t.nested", &outer), DUET_OK);
	float f[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	int64_t ne[2] = { 4, 2 };
	cr_assert_eq(duet_gguf_writer_add_tensor(w, "a", DUET_TYPE_F32, 2, ne, f, 32), DUET_OK);
	uint8_t q[34] = { 0 };
	int64_t ne1[1] = { 32 };
	cr_assert_eq(duet_gguf_writer_add_tensor(w, "b", DUET_TYPE_Q8_0, 1, ne1, q, 34), DUET_OK);
	void *data;
	cr_assert_eq(duet_gguf_writer_write_mem(w, &data, size), DUET_OK);
	duet_gguf_writer_destroy(w);
	return data;
}

static void check_valid(const duet_gguf *g, uint32_t version, uint32_t alignment)
{
	cr_assert_eq(g->version, version);
	cr_assert_eq(g->alignment, alignment);
	uint32_t u;
	int64_t i;
	float f;
	bool b;
	const char *s;
	cr_assert_eq(duet_gguf_get_u32(g, "t.u8", &u), DUET_OK);
	cr_assert_eq(u, 200);
	cr_assert_eq(duet_gguf_get_i64(g, "t.i8", &i), DUET_OK);
	cr_assert_eq(i, -100);
	cr_assert_eq(duet_gguf_get_u32(g, "t.u16", &u), DUET_OK);
	cr_assert_eq(u, 60000);
	cr_assert_eq(duet_gguf_get_i64(g, "t.i16", &i), DUET_OK);
	cr_assert_eq(i, -30000);
	cr_assert_eq(duet_gguf_get_u32(g, "t.u32", &u), DUET_OK);
	cr_assert_eq(u, 4000000000u);
	cr_assert_eq(duet_gguf_get_i64(g, "t.i32", &i), DUET_OK);
	cr_assert_eq(i, -2000000000);
	cr_assert_eq(duet_gguf_get_f32(g, "t.f32", &f), DUET_OK);
	cr_assert_eq(f, 1.5f);
	cr_assert_eq(duet_gguf_get_bool(g, "t.bool", &b), DUET_OK);
	cr_assert(b);
	cr_assert_eq(duet_gguf_get_i64(g, "t.u64", &i), DUET_OK);
	cr_assert_eq(i, 1ll << 60);
	cr_assert_eq(duet_gguf_get_i64(g, "t.i64", &i), DUET_OK);
	cr_assert_eq(i, -(1ll << 60));
	cr_assert_eq(duet_gguf_get_f32(g, "t.f64", &f), DUET_OK);
	cr_assert_eq(f, 3.25f);
	cr_assert_eq(duet_gguf_get_str(g, "t.string", &s), DUET_OK);
	cr_assert_str_eq(s, "h\xc3\xa9llo");
	const void *arr;
	uint64_t n;
	cr_assert_eq(duet_gguf_get_arr(g, "t.strings", DUET_GGUF_STRING, &arr, &n), DUET_OK);
	cr_assert_eq(n, 3);
	cr_assert_str_eq(((const duet_gguf_str *)arr)[2].s, "ccc");
	cr_assert_eq(((const duet_gguf_str *)arr)[1].n, 0);
	cr_assert_eq(duet_gguf_get_arr(g, "t.shorts", DUET_GGUF_I16, &arr, &n), DUET_OK);
	cr_assert_eq(((const int16_t *)arr)[2], -3);
	cr_assert_eq(duet_gguf_get_arr(g, "t.nested", DUET_GGUF_ARRAY, &arr, &n), DUET_OK);
	const duet_gguf_value *in = arr;
	cr_assert_eq(n, 2);
	cr_assert_eq(in[0].arr.n, 2);
	cr_assert_eq(((const uint32_t *)in[0].arr.data)[1], 2);
	cr_assert_eq(in[1].arr.n, 0);
	const duet_gguf_tensor *t = duet_gguf_find_tensor(g, "a");
	cr_assert_not_null(t);
	cr_assert_eq(t->ne[0], 4);
	cr_assert_eq(t->ne[1], 2);
	cr_assert_eq(t->bytes, 32);
	float last; /* alignment 1 leaves the data unaligned: read with memcpy */
	memcpy(&last, (const uint8_t *)t->data + 28, 4);
	cr_assert_eq(last, 8.0f);
	t = duet_gguf_find_tensor(g, "b");
	cr_assert_eq(t->offset % alignment, 0);
	cr_assert_eq(t->type, DUET_TYPE_Q8_0);
	cr_assert_eq(g->data_offset % alignment, 0);
}

Test(gguf, round_trips_every_metadata_type_v2_and_v3)
{
	uint32_t aligns[] = { 32, 64, 1 };
	for (uint32_t version = 2; version <= 3; version++) {
		for (int a = 0; a < 3; a++) {
			size_t size;
			void *data = valid_file(version, aligns[a], &size);
			duet_gguf *g;
			cr_assert_eq(duet_gguf_parse(data, size, &g), DUET_OK, "%s",
				     duet_last_error());
			check_valid(g, version, aligns[a]);
			duet_gguf_destroy(g);
			free(data);
		}
	}
}

Test(gguf, writer_is_deterministic)
{
	size_t n1, n2;
	void *a = valid_file(3, 32, &n1), *b = valid_file(3, 32, &n2);
	cr_assert_eq(n1, n2);
	cr_assert_eq(memcmp(a, b, n1), 0);
	free(a);
	free(b);
}

Test(gguf, getters_check_types_and_ranges)
{
	size_t size;
	void *data = valid_file(3, 32, &size);
	duet_gguf *g;
	cr_assert_eq(duet_gguf_parse(data, size, &g), DUET_OK);
	uint32_t u;
	float f;
	const char *s;
	cr_assert_eq(duet_gguf_get_u32(g, "t.string", &u), DUET_E_CORRUPT);
	cr_assert(strstr(duet_last_error(), "t.string"));
	cr_assert_eq(duet_gguf_get_u32(g, "t.i8", &u), DUET_E_CORRUPT); /* negative */
	cr_assert_eq(duet_gguf_get_u32(g, "t.u64", &u), DUET_E_CORRUPT); /* too big */
	cr_assert_eq(duet_gguf_get_f32(g, "t.u16", &f), DUET_OK);
	cr_assert_eq(f, 60000.0f);
	cr_assert_eq(duet_gguf_get_str(g, "t.u8", &s), DUET_E_CORRUPT);
	cr_assert_eq(duet_gguf_get_u32(g, "missing", &u), DUET_E_NOT_FOUND);
	const void *arr;
	uint64_t n;
	cr_assert_eq(duet_gguf_get_arr(g, "t.strings", DUET_GGUF_U32, &arr, &n),
		     DUET_E_CORRUPT);
	duet_gguf_destroy(g);
	free(data);
}

/* Cutting the file anywhere before the end of the last tensor's data must
 * be reported, never read past. */
Test(gguf, every_truncation_is_an_error)
{
	size_t size;
	uint8_t *data = valid_file(3, 32, &size);
	duet_gguf *g;
	cr_assert_eq(duet_gguf_parse(data, size, &g), DUET_OK);
	uint64_t end = 0;
	for (uint64_t i = 0; i < g->n_tensors; i++) {
		uint64_t e = g->data_offset + g->tensors[i].offset + g->tensors[i].bytes;
		end = e > end ? e : end;
	}
	duet_gguf_destroy(g);
	for (size_t len = 0; len < end; len++) {
		uint8_t *copy = malloc(len ? len : 1); /* exact size: ASan sees overreads */
		memcpy(copy, data, len);
		duet_status s = duet_gguf_parse(copy, len, &g);
		cr_assert_eq(s, DUET_E_CORRUPT, "length %zu: status %d", len, s);
		cr_assert_neq(duet_last_error()[0], '\0');
		free(copy);
	}
	free(data);
}

/* Flipping any single bit gives a parsed file or a named error. */
Test(gguf, bit_flips_never_crash)
{
	size_t size;
	uint8_t *data = valid_file(3, 32, &size);
	uint8_t *copy = malloc(size);
	for (size_t i = 0; i < size; i++) {
		for (int bit = 0; bit < 8; bit++) {
			memcpy(copy, data, size);
			copy[i] ^= (uint8_t)(1u << bit);
			duet_gguf *g = NULL;
			duet_status s = duet_gguf_parse(copy, size, &g);
			cr_assert(s == DUET_OK || s == DUET_E_CORRUPT ||
				  s == DUET_E_UNSUPPORTED || s == DUET_E_NOMEM,
				  "byte %zu bit %d: status %d", i, bit, s);
			if (s == DUET_OK)
				duet_gguf_destroy(g);
			else
				cr_assert_neq(duet_last_error()[0], '\0');
		}
	}
	free(copy);
	free(data);
}

Test(gguf, rejects_bad_magic)
{
	bytes b = { 0 };
	put(&b, "GGML", 4);
	u32(&b, 3);
	u64(&b, 0);
	u64(&b, 0);
	expect_error(&b, DUET_E_CORRUPT, "magic");
}

Test(gguf, rejects_unknown_versions)
{
	bytes b = { 0 };
	header(&b, 1, 0, 0);
	expect_error(&b, DUET_E_UNSUPPORTED, "version 1");
	b = (bytes){ 0 };
	header(&b, 4, 0, 0);
	expect_error(&b, DUET_E_UNSUPPORTED, "version 4");
	b = (bytes){ 0 };
	header(&b, 0x03000000u, 0, 0);
	expect_error(&b, DUET_E_UNSUPPORTED, "big-endian");
}

Test(gguf, rejects_counts_beyond_the_file)
{
	bytes b = { 0 };
	header(&b, 3, 0, 1ull << 40);
	expect_error(&b, DUET_E_CORRUPT, "metadata entries");
	b = (bytes){ 0 };
	header(&b, 3, 1ull << 50, 0);
	expect_error(&b, DUET_E_CORRUPT, "tensors");
}

Test(gguf, rejects_string_longer_than_the_file)
{
	bytes b = { 0 };
	header(&b, 3, 0, 1);
	str(&b, "general.name");
	u32(&b, DUET_GGUF_STRING);
	u64(&b, 1000);
	put(&b, "short", 5);
	expect_error(&b, DUET_E_CORRUPT, "general.name");
}

Test(gguf, rejects_array_longer_than_the_file)
{
	bytes b = { 0 };
	header(&b, 3, 0, 1);
	str(&b, "tokenizer.ggml.tokens");
	u32(&b, DUET_GGUF_ARRAY);
	u32(&b, DUET_GGUF_STRING);
	u64(&b, 1ull << 61);
	expect_error(&b, DUET_E_CORRUPT, "tokenizer.ggml.tokens");
	b = (bytes){ 0 };
	header(&b, 3, 0, 1);
	str(&b, "x.scores");
	u32(&b, DUET_GGUF_ARRAY);
	u32(&b, DUET_GGUF_F32);
	u64(&b, (1ull << 62) + 1); /* count * 4 would wrap around */
	expect_error(&b, DUET_E_CORRUPT, "x.scores");
}

Test(gguf, rejects_unknown_value_types)
{
	bytes b = { 0 };
	header(&b, 3, 0, 1);
	str(&b, "weird.key");
	u32(&b, 13);
	u32(&b, 0);
	expect_error(&b, DUET_E_CORRUPT, "weird.key");
	b = (bytes){ 0 };
	header(&b, 3, 0, 1);
	str(&b, "weird.arr");
	u32(&b, DUET_GGUF_ARRAY);
	u32(&b, 99);
	u64(&b, 1);
	expect_error(&b, DUET_E_CORRUPT, "weird.arr");
}

Test(gguf, rejects_arrays_nested_too_deep)
{
	bytes b = { 0 };
	header(&b, 3, 0, 1);
	str(&b, "deep");
	u32(&b, DUET_GGUF_ARRAY);
	for (int d = 0; d < 20; d++) {
		u32(&b, DUET_GGUF_ARRAY);
		u64(&b, 1);
	}
	u32(&b, DUET_GGUF_U8);
	u64(&b, 0);
	expect_error(&b, DUET_E_CORRUPT, "deep");
}

Test(gguf, rejects_duplicate_keys)
{
	bytes b = { 0 };
	header(&b, 3, 0, 2);
	kv_u32(&b, "llama.block_count", 2);
	kv_u32(&b, "llama.block_count", 3);
	expect_error(&b, DUET_E_CORRUPT, "llama.block_count");
}

Test(gguf, rejects_bad_alignment)
{
	bytes b = { 0 };
	header(&b, 3, 0, 1);
	kv_u32(&b, "general.alignment", 24);
	expect_error(&b, DUET_E_CORRUPT, "general.alignment");
	b = (bytes){ 0 };
	header(&b, 3, 0, 1);
	str(&b, "general.alignment");
	u32(&b, DUET_GGUF_STRING);
	str(&b, "32");
	expect_error(&b, DUET_E_CORRUPT, "general.alignment");
}

/* One tensor info (after a header with no keys), then the data section. */
static void one_tensor(bytes *b, const char *name, uint32_t n_dims,
		       const uint64_t *ne, uint32_t type, uint64_t offset,
		       size_t data_bytes)
{
	header(b, 3, 1, 0);
	tensor_info(b, name, n_dims, ne, type, offset);
	pad(b, 32);
	for (size_t i = 0; i < data_bytes; i++)
		put(b, "\x01", 1);
}

Test(gguf, rejects_bad_tensor_infos)
{
	bytes b = { 0 };
	uint64_t ne[5] = { 32, 2, 1, 1, 1 };
	one_tensor(&b, "blk.0.attn_q.weight", 2, ne, 200, 0, 256);
	expect_error(&b, DUET_E_UNSUPPORTED, "blk.0.attn_q.weight");
	b = (bytes){ 0 };
	one_tensor(&b, "too.many.dims", 5, ne, DUET_TYPE_F32, 0, 256);
	expect_error(&b, DUET_E_CORRUPT, "too.many.dims");
	b = (bytes){ 0 };
	uint64_t big[2] = { 1ull << 40, 1ull << 40 };
	one_tensor(&b, "overflowing", 2, big, DUET_TYPE_F32, 0, 256);
	expect_error(&b, DUET_E_CORRUPT, "overflowing");
	b = (bytes){ 0 };
	uint64_t odd[1] = { 33 };
	one_tensor(&b, "odd.row", 1, odd, DUET_TYPE_Q8_0, 0, 256);
	expect_error(&b, DUET_E_CORRUPT, "odd.row");
	b = (bytes){ 0 };
	one_tensor(&b, "misaligned", 1, ne, DUET_TYPE_F32, 4, 256);
	expect_error(&b, DUET_E_CORRUPT, "misaligned");
	b = (bytes){ 0 };
	one_tensor(&b, "outside", 2, ne, DUET_TYPE_F32, 0, 100); /* needs 256 */
	expect_error(&b, DUET_E_CORRUPT, "outside");
	b = (bytes){ 0 };
	one_tensor(&b, "far.outside", 2, ne, DUET_TYPE_F32, 1ull << 62, 256);
	expect_error(&b, DUET_E_CORRUPT, "far.outside");
}

Test(gguf, rejects_overlapping_and_duplicate_tensors)
{
	bytes b = { 0 };
	uint64_t ne[1] = { 32 };
	header(&b, 3, 2, 0);
	tensor_info(&b, "first", 1, ne, DUET_TYPE_F32, 0);
	tensor_info(&b, "second", 1, ne, DUET_TYPE_F32, 64); /* first ends at 128 */
	pad(&b, 32);
	for (int i = 0; i < 256; i++)
		put(&b, "\0", 1);
	expect_error(&b, DUET_E_CORRUPT, "overlap");
	b = (bytes){ 0 };
	header(&b, 3, 2, 0);
	tensor_info(&b, "same", 1, ne, DUET_TYPE_F32, 0);
	tensor_info(&b, "same", 1, ne, DUET_TYPE_F32, 128);
	pad(&b, 32);
	for (int i = 0; i < 256; i++)
		put(&b, "\0", 1);
	expect_error(&b, DUET_E_CORRUPT, "same");
}

Test(gguf, open_reports_missing_and_odd_files)
{
	duet_gguf *g;
	cr_assert_eq(duet_gguf_open("/nonexistent/x.gguf", &g), DUET_E_NOT_FOUND);
	cr_assert(strstr(duet_last_error(), "/nonexistent/x.gguf"));
	cr_assert_eq(duet_gguf_open("/", &g), DUET_E_IO);
	char path[512];
	snprintf(path, sizeof path, "%s/gguf-empty-%d.gguf", test_tmpdir(), getpid());
	FILE *f = fopen(path, "wb");
	fclose(f);
	cr_assert_eq(duet_gguf_open(path, &g), DUET_E_CORRUPT);
	cr_assert(strstr(duet_last_error(), "empty"));
	remove(path);
}

Test(gguf, writer_validates_input)
{
	duet_gguf_writer *w;
	cr_assert_eq(duet_gguf_writer_create(&w), DUET_OK);
	cr_assert_eq(duet_gguf_writer_set_u32(w, "k", 1), DUET_OK);
	cr_assert_eq(duet_gguf_writer_set_u32(w, "k", 2), DUET_E_INVAL);
	cr_assert_eq(duet_gguf_writer_set_alignment(w, 48), DUET_E_INVAL);
	cr_assert_eq(duet_gguf_writer_set_version(w, 1), DUET_E_INVAL);
	float f[4] = { 0 };
	int64_t ne[1] = { 4 };
	cr_assert_eq(duet_gguf_writer_add_tensor(w, "t", DUET_TYPE_F32, 1, ne, f, 12),
		     DUET_E_INVAL);
	cr_assert_eq(duet_gguf_writer_add_tensor(w, "t", DUET_TYPE_F32, 1, ne, f, 16),
		     DUET_OK);
	cr_assert_eq(duet_gguf_writer_add_tensor(w, "t", DUET_TYPE_F32, 1, ne, f, 16),
		     DUET_E_INVAL);
	cr_assert_eq(duet_gguf_writer_write_file(w, "/nonexistent/dir/x.gguf"), DUET_E_IO);
	duet_gguf_writer_destroy(w);
	duet_gguf_writer_destroy(NULL);
	duet_gguf_destroy(NULL);
}

Test(gguf, reads_every_oracle_file)
{
	const char *files[] = {
		"models/llama-spm-f32.gguf", "models/qwen2-gpt2-f16.gguf",
		"models/llama-spm-256-q4_k_m.gguf", "tokenizer/ggml-vocab-qwen2.gguf",
		"tokenizer/ggml-vocab-llama-spm.gguf", "tokenizer/ggml-vocab-gpt-2.gguf",
	};
	for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
		char path[1024];
		snprintf(path, sizeof path, "%s/%s", oracle_dir(), files[i]);
		duet_gguf *g;
		cr_assert_eq(duet_gguf_open(path, &g), DUET_OK, "%s: %s", path,
			     duet_last_error());
		cr_assert_not_null(duet_gguf_find(g, "tokenizer.ggml.tokens"));
		duet_gguf_destroy(g);
	}
}
