/* Reading weight files at the storage device's bandwidth.
 *
 * A reader owns one open file and one backend, chosen by probing at open:
 *   uring  io_uring (liburing): the file registered as a fixed file, buffers
 *          registered when the caller registers them, a queue of reads kept
 *          full, optional SQPOLL;
 *   aio    Linux AIO (io_submit / io_getevents, raw syscalls), which Android
 *          apps may use where seccomp blocks io_uring;
 *   pread  a pool of threads calling pread();
 *   mmap   the page cache, copied with memcpy (the baseline).
 * AUTO tries them in that order (mmap only when asked). O_DIRECT is used
 * when asked and the file system accepts it (probed by a real aligned read);
 * otherwise buffered reads, and duet_io_reason() says so.
 *
 * Reads are batched: duet_io_submit() queues requests and returns a ticket
 * at once; the reader's own thread splits them into chunks and keeps the
 * queue depth busy; duet_io_wait() blocks until a ticket is done. With
 * O_DIRECT, each request's destination, offset and length must be multiples
 * of duet_io_align() (a request may run past the end of the file: the part
 * past it is zero-filled).
 *
 * Thread-safety: submit and wait may be called from any threads; close
 * only when nothing else uses the reader. */
#ifndef DUET_RUNTIME_IO_H
#define DUET_RUNTIME_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "duet/status.h"

typedef enum duet_io_kind {
	DUET_IO_AUTO = 0,
	DUET_IO_URING = 1,
	DUET_IO_AIO = 2,
	DUET_IO_PREAD = 3,
	DUET_IO_MMAP = 4,
} duet_io_kind;

/* Test hook: makes the reader see a fault on the chunk that covers file
 * offset `at` (the first chunk read at or past it). */
typedef enum duet_io_fault_kind {
	DUET_IO_FAULT_NONE = 0,
	DUET_IO_FAULT_EIO,   /* the read fails with EIO */
	DUET_IO_FAULT_SHORT, /* the read returns fewer bytes, then end of file */
} duet_io_fault_kind;

typedef struct duet_io_opts {
	duet_io_kind kind;    /* AUTO: probe uring, aio, pread */
	bool direct;          /* try O_DIRECT */
	bool sqpoll;          /* io_uring: a kernel thread polls submissions */
	uint32_t queue_depth; /* reads in flight; 0: 32 */
	uint32_t chunk_bytes; /* largest single read; 0: 1 MiB */
	uint32_t n_threads;   /* pread pool; 0: 4 */
	duet_io_fault_kind fault;
	uint64_t fault_at;
} duet_io_opts;

typedef struct duet_io duet_io;

typedef struct duet_io_req {
	void *dst;
	uint64_t offset; /* in the file */
	uint64_t len;
} duet_io_req;

/* What this process may use, found without a file: for each kind, NULL
 * when it works or the reason it does not (static text or text in r);
 * `pick` is what AUTO would take. Thread-safe. */
typedef struct duet_io_probe_result {
	duet_io_kind pick;
	const char *why_not[DUET_IO_MMAP + 1]; /* indexed by kind */
	char text[2][160];
} duet_io_probe_result;

void duet_io_probe(duet_io_probe_result *r);

/* Cumulative counters of one reader. */
typedef struct duet_io_stats {
	uint64_t bytes;    /* read into callers' buffers */
	uint64_t reads;    /* read operations completed */
	uint64_t syscalls; /* submit / wait / read calls made */
	double busy_s;     /* wall time with reads queued or in flight */
	double cpu_s;      /* CPU time of the reader's thread (user + sys);
			      the pread pool's workers are not counted */
} duet_io_stats;

/* Opens path for reading with options o (NULL: defaults, AUTO, buffered).
 * On DUET_OK *out owns the file and the backend's thread; free it with
 * duet_io_close(). DUET_E_NOT_FOUND / DUET_E_IO name the path; a forced
 * kind the system refuses is DUET_E_UNSUPPORTED with the reason. */
duet_status duet_io_open(const char *path, const duet_io_opts *o,
			 duet_io **out);

/* Waits for every queued read, then frees io; NULL is a no-op. */
void duet_io_close(duet_io *io);

/* The backend in use, and why (e.g. "io_uring, O_DIRECT" or "aio
 * (io_uring_setup: Operation not permitted), buffered"). Static or owned by
 * io; valid until close. */
duet_io_kind duet_io_backend(const duet_io *io);
const char *duet_io_reason(const duet_io *io);
const char *duet_io_kind_name(duet_io_kind k);

/* Parses "uring", "aio", "pread", "mmap" or "auto"; false otherwise. */
bool duet_io_kind_parse(const char *s, duet_io_kind *k);

/* Whether reads bypass the page cache, and the alignment they then need
 * (1 when buffered). */
bool duet_io_is_direct(const duet_io *io);
uint32_t duet_io_align(const duet_io *io);

/* Size of the file at open. */
uint64_t duet_io_file_size(const duet_io *io);

/* Registers n buffers with the backend (io_uring fixed buffers; other
 * backends accept and ignore them). Reads whose destination lies inside
 * one use it. Call before submitting; at most once. */
duet_status duet_io_register(duet_io *io, void *const *bufs,
			     const size_t *lens, uint32_t n);

/* Queues the n requests as one ticket (> 0) and returns at once. The
 * destinations must stay valid until the ticket is waited for.
 * DUET_E_INVAL for misaligned requests under O_DIRECT or a request that
 * starts past the end of the file. */
duet_status duet_io_submit(duet_io *io, const duet_io_req *reqs, uint32_t n,
			   uint64_t *ticket);

/* Blocks until ticket is done and returns its outcome: DUET_OK, or
 * DUET_E_IO naming the offset and the cause (errno text, a short read, the
 * file shrunk since open). A failed ticket does not spoil later ones. */
duet_status duet_io_wait(duet_io *io, uint64_t ticket);

/* Whether ticket is done (never blocks). */
bool duet_io_done(duet_io *io, uint64_t ticket);

/* submit + wait. */
duet_status duet_io_read(duet_io *io, const duet_io_req *reqs, uint32_t n);

/* Copies the counters (thread-safe). */
void duet_io_get_stats(duet_io *io, duet_io_stats *s);

#endif
