/* The weight-file reader (runtime/io): every backend, buffered and
 * O_DIRECT, reads exactly the file's bytes; faults (EIO, short reads, a
 * file changed under the reader) fail that ticket with a message naming
 * the offset, and the reader keeps working for the next one. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "io.h"

#define FILE_BYTES (5u * 1048576u + 12345u) /* not a multiple of any chunk */

static char path[256];

/* Byte i of the test file: a pattern that differs at every offset a
 * misplaced chunk could land on. */
static uint8_t pattern(uint64_t i)
{
	uint64_t x = i * 0x9E3779B97F4A7C15ull;
	return (uint8_t)(x >> 56 ^ i);
}

static void make_file(void)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(path, sizeof path, "%s/duet_io_%d.bin", tmp ? tmp : "/tmp", getpid());
	FILE *f = fopen(path, "wb");
	cr_assert(f, "cannot create %s", path);
	for (uint64_t i = 0; i < FILE_BYTES; i++)
		fputc(pattern(i), f);
	cr_assert_eq(fclose(f), 0);
}

static void drop_file(void)
{
	unlink(path);
}

TestSuite(io, .init = make_file, .fini = drop_file);

static void *alloc_aligned(size_t n)
{
	void *p = NULL;
	cr_assert_eq(posix_memalign(&p, 4096, n ? n : 1), 0);
	return p;
}

static void check_bytes(const uint8_t *got, uint64_t off, uint64_t len)
{
	for (uint64_t i = 0; i < len; i++) {
		uint8_t want = off + i < FILE_BYTES ? pattern(off + i) : 0;
		if (got[i] != want)
			cr_assert_fail("byte %llu (file offset %llu): %u, want %u",
				       (unsigned long long)i, (unsigned long long)(off + i),
				       got[i], want);
	}
}

/* Reads the whole file in several requests (one ticket) and a few odd
 * ranges (another), checks every byte and the counters. */
static void read_all(duet_io_kind kind, bool direct)
{
	duet_io_opts o = { .kind = kind, .direct = direct, .chunk_bytes = 256 << 10,
			   .queue_depth = 8 };
	duet_io *io;
	duet_status s = duet_io_open(path, &o, &io);
	if (s == DUET_E_UNSUPPORTED) {
		/* visible: a backend the kernel refuses is a skip, not a pass */
		cr_skip_test("%s: %s", duet_io_kind_name(kind), duet_last_error());
	}
	cr_assert_eq(s, DUET_OK, "%s", duet_last_error());
	cr_assert_eq(duet_io_backend(io), kind);
	cr_assert_eq(duet_io_file_size(io), FILE_BYTES);
	cr_log_info("%s", duet_io_reason(io));
	uint32_t a = duet_io_align(io);
	uint64_t span = (FILE_BYTES + a - 1) / a * a; /* runs past the end */
	uint8_t *buf = alloc_aligned(span);
	memset(buf, 0xAA, span);
	/* three requests, the last past the end of the file */
	uint64_t cut1 = (1u << 20) + (a > 1 ? 0 : 7), cut2 = 3u << 20;
	duet_io_req reqs[3] = {
		{ buf, 0, cut1 },
		{ buf + cut1, cut1, cut2 - cut1 },
		{ buf + cut2, cut2, span - cut2 },
	};
	cr_assert_eq(duet_io_read(io, reqs, 3), DUET_OK, "%s", duet_last_error());
	check_bytes(buf, 0, span);
	/* small ranges, in one ticket, submitted before waiting */
	uint64_t t1, t2;
	uint8_t *b2 = alloc_aligned(3 * 8192);
	duet_io_req small[2] = { { b2, 4096 * 7, 8192 }, { b2 + 8192, 4096 * 300, 4096 } };
	cr_assert_eq(duet_io_submit(io, small, 2, &t1), DUET_OK);
	duet_io_req one = { b2 + 16384, 4096 * 1000, 8192 };
	cr_assert_eq(duet_io_submit(io, &one, 1, &t2), DUET_OK);
	cr_assert_eq(duet_io_wait(io, t2), DUET_OK, "%s", duet_last_error());
	cr_assert(duet_io_done(io, t1), "tickets finish in order");
	cr_assert_eq(duet_io_wait(io, t1), DUET_OK, "%s", duet_last_error());
	check_bytes(b2, 4096 * 7, 8192);
	check_bytes(b2 + 8192, 4096 * 300, 4096);
	check_bytes(b2 + 16384, 4096 * 1000, 8192);
	duet_io_stats st;
	duet_io_get_stats(io, &st);
	cr_assert_eq(st.bytes, span + 2 * 8192 + 4096);
	cr_assert_geq(st.reads, span / (256 << 10));
	cr_assert_gt(st.syscalls, 0);
	duet_io_close(io);
	free(buf);
	free(b2);
}

Test(io, uring_buffered) { read_all(DUET_IO_URING, false); }
Test(io, uring_direct) { read_all(DUET_IO_URING, true); }
Test(io, aio_buffered) { read_all(DUET_IO_AIO, false); }
Test(io, aio_direct) { read_all(DUET_IO_AIO, true); }
Test(io, pread_buffered) { read_all(DUET_IO_PREAD, false); }
Test(io, pread_direct) { read_all(DUET_IO_PREAD, true); }
Test(io, mmap) { read_all(DUET_IO_MMAP, false); }

Test(io, auto_picks_a_backend_and_says_why)
{
	duet_io *io;
	cr_assert_eq(duet_io_open(path, NULL, &io), DUET_OK, "%s", duet_last_error());
	cr_assert_neq(duet_io_backend(io), DUET_IO_AUTO);
	cr_assert_neq(duet_io_backend(io), DUET_IO_MMAP);
	cr_assert(strstr(duet_io_reason(io), duet_io_kind_name(duet_io_backend(io))),
		  "%s", duet_io_reason(io));
	duet_io_close(io);
}

Test(io, registered_buffers_are_used_by_uring)
{
	duet_io_opts o = { .kind = DUET_IO_URING, .direct = true };
	duet_io *io;
	if (duet_io_open(path, &o, &io) != DUET_OK)
		cr_skip_test("io_uring: %s", duet_last_error());
	size_t n = 2u << 20;
	uint8_t *buf = alloc_aligned(n);
	void *bufs[1] = { buf };
	cr_assert_eq(duet_io_register(io, bufs, &n, 1), DUET_OK);
	cr_assert_eq(duet_io_register(io, bufs, &n, 1), DUET_E_INVAL);
	duet_io_req r = { buf, 1u << 20, n };
	cr_assert_eq(duet_io_read(io, &r, 1), DUET_OK, "%s", duet_last_error());
	check_bytes(buf, 1u << 20, n);
	duet_io_close(io);
	free(buf);
}

Test(io, bad_requests_are_refused)
{
	duet_io *io;
	duet_io_opts o = { .kind = DUET_IO_PREAD, .direct = true };
	cr_assert_eq(duet_io_open(path, &o, &io), DUET_OK);
	uint8_t *buf = alloc_aligned(8192);
	duet_io_req past = { buf, FILE_BYTES + 4096, 4096 };
	cr_assert_eq(duet_io_read(io, &past, 1), DUET_E_INVAL);
	cr_assert(strstr(duet_last_error(), "past the end"), "%s", duet_last_error());
	if (duet_io_is_direct(io)) {
		duet_io_req odd = { buf + 1, 0, 4096 };
		cr_assert_eq(duet_io_read(io, &odd, 1), DUET_E_INVAL);
		cr_assert(strstr(duet_last_error(), "alignment"), "%s", duet_last_error());
	}
	cr_assert_eq(duet_io_wait(io, 12345), DUET_E_INVAL);
	duet_io_close(io);
	free(buf);
	cr_assert_eq(duet_io_open("/nonexistent/model.gguf", NULL, &io), DUET_E_NOT_FOUND);
	cr_assert(strstr(duet_last_error(), "/nonexistent/model.gguf"));
	cr_assert_eq(duet_io_open("/tmp", NULL, &io), DUET_E_IO);
}

/* A fault on one chunk fails its ticket with the offset in the message;
 * the next ticket, elsewhere in the file, still reads correctly. */
static void fault(duet_io_kind kind, bool direct, duet_io_fault_kind f)
{
	uint64_t at = (2u << 20) + 8192;
	duet_io_opts o = { .kind = kind, .direct = direct, .chunk_bytes = 1 << 20,
			   .fault = f, .fault_at = at };
	duet_io *io;
	duet_status s = duet_io_open(path, &o, &io);
	if (s == DUET_E_UNSUPPORTED)
		cr_skip_test("%s: %s", duet_io_kind_name(kind), duet_last_error());
	cr_assert_eq(s, DUET_OK, "%s", duet_last_error());
	uint8_t *buf = alloc_aligned(4u << 20);
	duet_io_req whole = { buf, 0, 4u << 20 };
	cr_assert_eq(duet_io_read(io, &whole, 1), DUET_E_IO, "%s: no error",
		     duet_io_kind_name(kind));
	const char *m = duet_last_error();
	if (f == DUET_IO_FAULT_EIO)
		cr_assert(strstr(m, strerror(EIO)), "%s", m);
	else
		cr_assert(strstr(m, "short read") && strstr(m, "2105344"), "%s", m);
	duet_io_req other = { buf, 3u << 20, 1u << 20 };
	cr_assert_eq(duet_io_read(io, &other, 1), DUET_OK, "%s", duet_last_error());
	check_bytes(buf, 3u << 20, 1u << 20);
	duet_io_close(io);
	free(buf);
}

Test(io, faults_every_backend)
{
	static const duet_io_kind kinds[] = { DUET_IO_URING, DUET_IO_AIO,
					      DUET_IO_PREAD, DUET_IO_MMAP };
	for (int k = 0; k < 4; k++)
		for (int d = 0; d < 2; d++) {
			if (kinds[k] == DUET_IO_MMAP && d)
				continue;
			fault(kinds[k], d, DUET_IO_FAULT_EIO);
			fault(kinds[k], d, DUET_IO_FAULT_SHORT);
		}
}

Test(io, a_file_changed_under_the_reader_is_an_error)
{
	duet_io_opts o = { .kind = DUET_IO_PREAD };
	duet_io *io;
	cr_assert_eq(duet_io_open(path, &o, &io), DUET_OK);
	cr_assert_eq(truncate(path, FILE_BYTES / 2), 0);
	uint8_t buf[4096];
	duet_io_req r = { buf, 0, sizeof buf };
	cr_assert_eq(duet_io_read(io, &r, 1), DUET_E_IO);
	cr_assert(strstr(duet_last_error(), "changed since it was opened"), "%s",
		  duet_last_error());
	duet_io_close(io);
}

Test(io, kind_names_round_trip)
{
	for (int i = DUET_IO_AUTO; i <= DUET_IO_MMAP; i++) {
		duet_io_kind k;
		cr_assert(duet_io_kind_parse(duet_io_kind_name((duet_io_kind)i), &k));
		cr_assert_eq(k, (duet_io_kind)i);
	}
	duet_io_kind k;
	cr_assert_not(duet_io_kind_parse("io_uring2", &k));
	cr_assert_not(duet_io_kind_parse(NULL, &k));
}
