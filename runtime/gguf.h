/* GGUF v2/v3 files: a bounds-checked reader and a deterministic writer.
 *
 * Reader: duet_gguf_parse() walks a byte buffer and checks every count,
 * length and offset against it before use, so any input gives either a
 * parsed header or DUET_E_CORRUPT / DUET_E_UNSUPPORTED with a message that
 * names the key or tensor at fault. Strings are copied (NUL-terminated) and
 * arrays decoded into the handle's arena; tensor data stays in the buffer.
 *
 * Writer: collects metadata and tensors and writes them in insertion order,
 * so the same calls always give byte-identical files. */
#ifndef DUET_RUNTIME_GGUF_H
#define DUET_RUNTIME_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "duet/status.h"

typedef enum duet_gguf_type {
	DUET_GGUF_U8 = 0,
	DUET_GGUF_I8 = 1,
	DUET_GGUF_U16 = 2,
	DUET_GGUF_I16 = 3,
	DUET_GGUF_U32 = 4,
	DUET_GGUF_I32 = 5,
	DUET_GGUF_F32 = 6,
	DUET_GGUF_BOOL = 7,
	DUET_GGUF_STRING = 8,
	DUET_GGUF_ARRAY = 9,
	DUET_GGUF_U64 = 10,
	DUET_GGUF_I64 = 11,
	DUET_GGUF_F64 = 12,
	DUET_GGUF_TYPE_COUNT = 13,
} duet_gguf_type;

#define DUET_GGUF_MAX_DIMS 4
#define DUET_GGUF_DEFAULT_ALIGNMENT 32
#define DUET_GGUF_MAX_DEPTH 8 /* nesting limit for arrays of arrays */

typedef struct duet_gguf_str {
	const char *s; /* NUL-terminated copy (may also contain NULs) */
	uint64_t n;    /* length in bytes, without the terminator */
} duet_gguf_str;

typedef struct duet_gguf_value duet_gguf_value;

struct duet_gguf_value {
	duet_gguf_type type;
	union {
		uint64_t u;        /* U8, U16, U32, U64 */
		int64_t i;         /* I8, I16, I32, I64 */
		double f;          /* F32, F64 */
		bool b;            /* BOOL */
		duet_gguf_str str; /* STRING */
		struct {
			duet_gguf_type type; /* element type */
			uint64_t n;          /* element count */
			/* Elements, naturally aligned: the element C type for
			 * scalars (bool as uint8_t), duet_gguf_str for STRING,
			 * duet_gguf_value for ARRAY. */
			const void *data;
		} arr;
	};
};

typedef struct duet_gguf_kv {
	const char *key;
	duet_gguf_value value;
} duet_gguf_kv;

typedef struct duet_gguf_tensor {
	const char *name;
	uint32_t type;                 /* duet_type id */
	uint32_t n_dims;
	int64_t ne[DUET_GGUF_MAX_DIMS]; /* ne[0] is the row length; unused = 1 */
	uint64_t offset;               /* from the start of the data section */
	uint64_t bytes;
	const void *data;              /* into the parsed buffer */
} duet_gguf_tensor;

typedef struct duet_gguf {
	uint32_t version;
	uint32_t alignment;
	uint64_t n_kv;
	duet_gguf_kv *kv;
	uint64_t n_tensors;
	duet_gguf_tensor *tensors;
	uint64_t data_offset; /* file offset of the tensor data section */
	const uint8_t *base;  /* the parsed bytes */
	uint64_t size;
	/* private */
	void *map;
	size_t map_bytes;
	duet_arena arena;
} duet_gguf;

/* Parses the size bytes at data. On DUET_OK *out is a new handle that
 * borrows data (it must outlive the handle); free it with
 * duet_gguf_destroy(). Errors: DUET_E_CORRUPT, DUET_E_UNSUPPORTED (with a
 * message naming the key or tensor), DUET_E_NOMEM. Thread-safe. */
duet_status duet_gguf_parse(const void *data, size_t size, duet_gguf **out);

/* Maps the file at path read-only and parses it; the handle owns the map.
 * Adds DUET_E_IO / DUET_E_NOT_FOUND to duet_gguf_parse's errors. */
duet_status duet_gguf_open(const char *path, duet_gguf **out);

/* Frees g and everything it owns; NULL is a no-op. */
void duet_gguf_destroy(duet_gguf *g);

/* Returns the metadata entry with that key, or NULL. */
const duet_gguf_kv *duet_gguf_find(const duet_gguf *g, const char *key);

/* Returns the tensor with that name, or NULL. */
const duet_gguf_tensor *duet_gguf_find_tensor(const duet_gguf *g,
					      const char *name);

/* Typed getters: DUET_OK and *out set, DUET_E_NOT_FOUND when the key is
 * absent (*out untouched), DUET_E_CORRUPT when the value has a type that
 * cannot represent the request (e.g. a string for an integer, or a negative
 * or too large integer for an unsigned one). Any integer type is accepted
 * when the value fits; any number for a float. */
duet_status duet_gguf_get_u32(const duet_gguf *g, const char *key,
			      uint32_t *out);
duet_status duet_gguf_get_i64(const duet_gguf *g, const char *key,
			      int64_t *out);
duet_status duet_gguf_get_f32(const duet_gguf *g, const char *key, float *out);
duet_status duet_gguf_get_bool(const duet_gguf *g, const char *key, bool *out);
duet_status duet_gguf_get_str(const duet_gguf *g, const char *key,
			      const char **out);
/* Array getter: checks the element type (DUET_E_CORRUPT otherwise). */
duet_status duet_gguf_get_arr(const duet_gguf *g, const char *key,
			      duet_gguf_type elem, const void **data,
			      uint64_t *n);

/* Returns the byte size of one element of a fixed-size type, 0 otherwise. */
size_t duet_gguf_type_size(duet_gguf_type t);

/* Returns "u32", "string", ... or "unknown". */
const char *duet_gguf_type_name(uint32_t t);

/* ---- writer ------------------------------------------------------------ */

typedef struct duet_gguf_writer duet_gguf_writer;

/* Creates an empty writer for GGUF version 3 with 32-byte alignment. */
duet_status duet_gguf_writer_create(duet_gguf_writer **out);

/* Frees w and all copies it holds; NULL is a no-op. */
void duet_gguf_writer_destroy(duet_gguf_writer *w);

/* Sets the version written (2 or 3; DUET_E_INVAL otherwise). */
duet_status duet_gguf_writer_set_version(duet_gguf_writer *w, uint32_t v);

/* Sets the data alignment and writes it as general.alignment (u32). The
 * alignment must be a power of two (DUET_E_INVAL otherwise). */
duet_status duet_gguf_writer_set_alignment(duet_gguf_writer *w, uint32_t a);

/* Adds key = *v (deep copy). Keys must be unique (DUET_E_INVAL). */
duet_status duet_gguf_writer_set(duet_gguf_writer *w, const char *key,
				 const duet_gguf_value *v);

/* Conveniences over duet_gguf_writer_set(). */
duet_status duet_gguf_writer_set_u32(duet_gguf_writer *w, const char *key,
				     uint32_t v);
duet_status duet_gguf_writer_set_f32(duet_gguf_writer *w, const char *key,
				     float v);
duet_status duet_gguf_writer_set_bool(duet_gguf_writer *w, const char *key,
				      bool v);
duet_status duet_gguf_writer_set_str(duet_gguf_writer *w, const char *key,
				     const char *v);
/* Array of fixed-size elements (elem is a scalar type) or of strings
 * (elem == DUET_GGUF_STRING, data is const char *const[n]). */
duet_status duet_gguf_writer_set_arr(duet_gguf_writer *w, const char *key,
				     duet_gguf_type elem, const void *data,
				     uint64_t n);

/* Copies every metadata entry of g (for tools that rewrite a file). */
duet_status duet_gguf_writer_copy_kv(duet_gguf_writer *w, const duet_gguf *g,
				     const char *prefix);

/* Adds a tensor; ne[0] is the row length. The writer copies the bytes,
 * which must be exactly duet_type_row_bytes(type, ne[0]) * rows. */
duet_status duet_gguf_writer_add_tensor(duet_gguf_writer *w, const char *name,
					uint32_t type, uint32_t n_dims,
					const int64_t *ne, const void *data,
					uint64_t bytes);

/* Writes the file (DUET_E_IO with the path and errno text on failure; a
 * partial file is removed). */
duet_status duet_gguf_writer_write_file(duet_gguf_writer *w, const char *path);

/* Writes into a new malloc'd buffer that the caller frees. */
duet_status duet_gguf_writer_write_mem(duet_gguf_writer *w, void **data,
				       size_t *size);

#endif
