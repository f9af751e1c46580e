/* Raw read bandwidth of each weight-file reader (runtime/io) on one file,
 * cold: before every run the file's pages are dropped from the page cache
 * (posix_fadvise DONTNEED; O_DIRECT reads bypass it anyway). Prints one
 * JSON object: per backend the median GB/s over the runs, CPU seconds
 * (user + sys) per GB read, reads and syscalls per GB.
 *
 *   duet-bench-io FILE [-r RUNS] [-b BLOCK_BYTES] [-q DEPTH] [--buffered]
 *                 [--io uring,aio,pread,mmap]
 *
 * bench/io_vs_fio.sh runs it beside fio on the same file. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "duet/status.h"
#include "clock.h"
#include "io.h"

static double cpu_s(void)
{
	struct rusage u;
	getrusage(RUSAGE_SELF, &u);
	return (double)u.ru_utime.tv_sec + 1e-6 * (double)u.ru_utime.tv_usec +
	       (double)u.ru_stime.tv_sec + 1e-6 * (double)u.ru_stime.tv_usec;
}

static void drop_cache(const char *path)
{
	int fd = open(path, O_RDONLY);
	if (fd >= 0) {
		fdatasync(fd);
		posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
		close(fd);
	}
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	const char *path = NULL, *kinds = "uring,aio,pread,mmap";
	int runs = 3;
	uint32_t block = 1u << 20, depth = 32;
	bool direct = true;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-r") && i + 1 < argc)
			runs = atoi(argv[++i]);
		else if (!strcmp(argv[i], "-b") && i + 1 < argc)
			block = (uint32_t)strtoul(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "-q") && i + 1 < argc)
			depth = (uint32_t)strtoul(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--io") && i + 1 < argc)
			kinds = argv[++i];
		else if (!strcmp(argv[i], "--buffered"))
			direct = false;
		else if (argv[i][0] != '-' && !path)
			path = argv[i];
		else {
			fprintf(stderr, "usage: %s FILE [-r RUNS] [-b BLOCK] [-q DEPTH] "
				"[--buffered] [--io uring,aio,pread,mmap]\n", argv[0]);
			return 2;
		}
	}
	if (!path || runs < 1 || runs > 100 || block < 4096 || depth < 1) {
		fprintf(stderr, "%s: need a FILE, 1..100 runs, a block of 4096 bytes "
			"or more and a depth of 1 or more\n", argv[0]);
		return 2;
	}
	printf("{\"file\": \"%s\", \"block_bytes\": %u, \"queue_depth\": %u, "
	       "\"runs\": %d, \"readers\": [", path, block, depth, runs);
	int first = 1, rc = 0;
	char *list = strdup(kinds);
	for (char *k = strtok(list, ","); k; k = strtok(NULL, ",")) {
		duet_io_kind kind;
		if (!duet_io_kind_parse(k, &kind) || kind == DUET_IO_AUTO) {
			fprintf(stderr, "unknown reader '%s'\n", k);
			rc = 2;
			break;
		}
		duet_io_opts o = { .kind = kind, .direct = direct, .chunk_bytes = block,
				   .queue_depth = depth };
		duet_io *io;
		printf("%s\n  {\"io\": \"%s\"", first ? "" : ",", k);
		first = 0;
		if (duet_io_open(path, &o, &io) != DUET_OK) {
			printf(", \"error\": \"%s\"}", duet_last_error());
			continue;
		}
		uint64_t size = duet_io_file_size(io), a = duet_io_align(io);
		uint64_t span = (size + a - 1) / a * a;
		/* read in pieces of 64 blocks: one ticket, as a layer would be */
		uint64_t piece = 64ull * block;
		uint32_t n = (uint32_t)((span + piece - 1) / piece);
		void *buf = NULL;
		duet_io_req *reqs = calloc(n, sizeof *reqs);
		if (posix_memalign(&buf, 4096, span) || !reqs) {
			printf(", \"error\": \"out of memory for %llu bytes\"}",
			       (unsigned long long)span);
			duet_io_close(io);
			continue;
		}
		memset(buf, 0, span); /* fault the pages in before timing */
		for (uint32_t i = 0; i < n; i++) {
			uint64_t off = (uint64_t)i * piece;
			reqs[i] = (duet_io_req){ (char *)buf + off, off,
						 span - off < piece ? span - off : piece };
		}
		double gbps[100], cpu = 0;
		duet_io_stats s1 = { 0 };
		duet_status st = DUET_OK;
		char how[256];
		snprintf(how, sizeof how, "%s", duet_io_reason(io));
		/* a fresh reader per run: an mmap reader's mapping would keep
		 * the pages cached */
		for (int r = 0; r < runs && st == DUET_OK; r++) {
			duet_io_close(io);
			drop_cache(path);
			if ((st = duet_io_open(path, &o, &io)) != DUET_OK) {
				io = NULL;
				break;
			}
			double c0 = cpu_s(), t0 = duet_now_s();
			st = duet_io_read(io, reqs, n);
			double dt = duet_now_s() - t0;
			cpu += cpu_s() - c0;
			gbps[r] = (double)size / dt / 1e9;
			duet_io_stats s;
			duet_io_get_stats(io, &s);
			s1.reads += s.reads, s1.syscalls += s.syscalls;
		}
		if (st != DUET_OK) {
			printf(", \"error\": \"%s\"}", duet_last_error());
		} else {
			qsort(gbps, (size_t)runs, sizeof *gbps, cmp_d);
			double gb = (double)size * runs / 1e9;
			printf(", \"how\": \"%s\", \"gbps\": %.3f, \"gbps_min\": %.3f, "
			       "\"gbps_max\": %.3f, \"cpu_s_per_gb\": %.4f, "
			       "\"reads_per_gb\": %.1f, \"syscalls_per_gb\": %.1f}",
			       how, gbps[runs / 2], gbps[0], gbps[runs - 1],
			       cpu / gb, (double)s1.reads / gb, (double)s1.syscalls / gb);
		}
		duet_io_close(io);
		free(buf);
		free(reqs);
	}
	free(list);
	printf("\n]}\n");
	return rc;
}
