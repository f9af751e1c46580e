/* Weight-file reader (see io.h): one thread per reader drives the backend,
 * a FIFO of tickets feeds it, each ticket's requests are cut into chunks
 * of at most chunk_bytes and kept queue_depth deep in flight. */
#define _GNU_SOURCE
#include "io.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/aio_abi.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#if DUET_HAVE_URING
#include <liburing.h>
#endif

#include "clock.h"
#include "error.h"
#include "fault.h"
#include "pool.h"

#define DIRECT_ALIGN 4096u
#define MSG 200

typedef struct chunk {
	uint8_t *dst;
	uint64_t off;
	uint32_t len;
	uint32_t done; /* bytes already read */
	int buf;       /* registered buffer index, -1: none */
} chunk;

typedef struct job {
	uint64_t ticket;
	duet_io_req *reqs;
	uint32_t n;
	bool finished;
	duet_status status;
	char msg[MSG];
	struct job *next;
} job;

struct duet_io {
	int fd;
	uint64_t size;
	struct timespec mtime;
	duet_io_opts o;
	duet_io_kind kind;
	bool direct;
	char reason[3 * MSG];
	uint8_t *map; /* mmap backend */
	struct iovec *bufs;
	uint32_t n_bufs;
#if DUET_HAVE_URING
	struct io_uring ring;
	bool fixed_file;
#endif
	aio_context_t aio;
	duet_pool *pool;
	bool broken; /* a backend call failed beyond one read: refuse more */
	double checked_s; /* when the file was last checked unchanged */

	pthread_mutex_t mu;
	pthread_cond_t work, done;
	pthread_t thread;
	bool thread_started, stop;
	job *head, *tail; /* every job not yet waited for, in ticket order */
	uint64_t next_ticket;
	duet_io_stats st;
	atomic_ullong syscalls;
};

const char *duet_io_kind_name(duet_io_kind k)
{
	switch (k) {
	case DUET_IO_URING: return "uring";
	case DUET_IO_AIO: return "aio";
	case DUET_IO_PREAD: return "pread";
	case DUET_IO_MMAP: return "mmap";
	default: return "auto";
	}
}

bool duet_io_kind_parse(const char *s, duet_io_kind *k)
{
	for (int i = DUET_IO_AUTO; i <= DUET_IO_MMAP; i++)
		if (s && strcmp(s, duet_io_kind_name((duet_io_kind)i)) == 0) {
			*k = (duet_io_kind)i;
			return true;
		}
	return false;
}

/* ---- completion: the rules every backend shares ---------------------------- */

/* Applies the test fault to a read of chunk c that returned res. */
static int64_t inject(const duet_io *io, const chunk *c, int64_t res)
{
	uint64_t at = io->o.fault_at, pos = c->off + c->done;
	if (res >= 0 && duet_fault_read())
		return -EIO;
	if (io->o.fault == DUET_IO_FAULT_NONE || res < 0 ||
	    at < c->off || at >= c->off + c->len)
		return res;
	if (io->o.fault == DUET_IO_FAULT_EIO)
		return -EIO;
	if (pos >= at)
		return 0;
	return (int64_t)(at - pos) < res ? (int64_t)(at - pos) : res;
}

/* Takes a read's result for chunk c: 1 when the chunk is complete, 0 when
 * the rest must be read again (a short read before the end of the file),
 * -1 on an error (described in msg). */
static int complete(const duet_io *io, chunk *c, int64_t res, char *msg)
{
	res = inject(io, c, res);
	uint64_t pos = c->off + c->done;
	if (res < 0) {
		snprintf(msg, MSG, "read of %u bytes at offset %llu: %s",
			 c->len - c->done, (unsigned long long)pos,
			 strerror((int)-res));
		return -1;
	}
	c->done += (uint32_t)res;
	if (c->done == c->len)
		return 1;
	/* a short read: read the rest again, unless it was direct I/O that
	 * stopped at the end of the file or off alignment (which O_DIRECT
	 * does only at the end: the rest would fail with EINVAL) */
	uint64_t end = pos + (uint64_t)res;
	if (res > 0 && !(io->direct && (end >= io->size || end % DIRECT_ALIGN)))
		return 0;
	/* end of file: fine past the size at open, an error before it */
	if (c->off + c->done < io->size) {
		snprintf(msg, MSG, "short read at offset %llu: the file ends "
			 "there but was %llu bytes when opened (truncated?)",
			 (unsigned long long)(c->off + c->done),
			 (unsigned long long)io->size);
		return -1;
	}
	memset(c->dst + c->done, 0, c->len - c->done);
	c->done = c->len;
	return 1;
}

static int buf_of(const duet_io *io, const uint8_t *p, uint32_t len)
{
	for (uint32_t i = 0; i < io->n_bufs; i++) {
		const uint8_t *b = io->bufs[i].iov_base;
		if (p >= b && p + len <= b + io->bufs[i].iov_len)
			return (int)i;
	}
	return -1;
}

/* ---- backends: read every chunk, or fail with msg ------------------------- */

/* The queueing rules the asynchronous backends share: chunks with a rest
 * to read go first, then new ones; after the first error nothing more is
 * queued (what is in flight is still reaped) and msg keeps that error. */
typedef struct sched {
	const duet_io *io;
	chunk *cs;
	uint32_t n, next;
	uint32_t *again, n_again;
	int rc;
	char *msg;
} sched;

static bool sched_init(sched *q, const duet_io *io, chunk *cs, uint32_t n, char *msg)
{
	*q = (sched){ .io = io, .cs = cs, .n = n, .msg = msg };
	q->again = malloc(sizeof *q->again * (n ? n : 1));
	if (!q->again)
		snprintf(msg, MSG, "out of memory");
	return q->again != NULL;
}

/* Whether anything is left to queue. */
static bool sched_more(const sched *q)
{
	return q->rc == 0 && (q->n_again || q->next < q->n);
}

/* The next chunk to queue; call only when sched_more(). */
static uint32_t sched_take(sched *q)
{
	return q->n_again ? q->again[--q->n_again] : q->next++;
}

/* Takes the result of a read of chunk i. */
static void sched_result(sched *q, uint32_t i, int64_t res)
{
	char dropped[MSG];
	int r = complete(q->io, &q->cs[i], res, q->rc ? dropped : q->msg);
	if (r < 0) {
		q->rc = -1;
		q->n_again = 0;
	} else if (r == 0 && q->rc == 0) {
		q->again[q->n_again++] = i;
	}
}

#if DUET_HAVE_URING
/* Queues the rest of chunk c; the ring must have space. */
static void uring_queue(duet_io *io, chunk *c, uint32_t idx)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&io->ring);
	uint8_t *dst = c->dst + c->done;
	uint32_t len = c->len - c->done;
	int fd = io->fixed_file ? 0 : io->fd;
	if (c->buf >= 0)
		io_uring_prep_read_fixed(sqe, fd, dst, len, c->off + c->done, c->buf);
	else
		io_uring_prep_read(sqe, fd, dst, len, c->off + c->done);
	if (io->fixed_file)
		sqe->flags |= IOSQE_FIXED_FILE;
	io_uring_sqe_set_data64(sqe, idx);
}

static int run_uring(duet_io *io, chunk *cs, uint32_t n, char *msg)
{
	uint32_t inflight = 0, qd = io->o.queue_depth;
	sched q;
	if (!sched_init(&q, io, cs, n, msg))
		return -1;
	while (inflight || sched_more(&q)) {
		while (inflight < qd && io_uring_sq_space_left(&io->ring) && sched_more(&q)) {
			uint32_t i = sched_take(&q);
			uring_queue(io, &cs[i], i);
			inflight++;
		}
		/* one call submits and reaps: everything in flight when nothing
		 * is left to queue, else a quarter of the queue */
		int e = io_uring_submit_and_wait(&io->ring, sched_more(&q) ? (inflight + 3) / 4
									  : inflight);
		atomic_fetch_add(&io->syscalls, 1);
		if (e < 0 && e != -EINTR) {
			snprintf(msg, MSG, "io_uring_submit: %s", strerror(-e));
			q.rc = -1;
			io->broken = true; /* the ring's state is unknown now */
			break;
		}
		struct io_uring_cqe *cqe;
		unsigned head, seen = 0;
		io_uring_for_each_cqe(&io->ring, head, cqe) {
			seen++, inflight--;
			sched_result(&q, (uint32_t)io_uring_cqe_get_data64(cqe), cqe->res);
		}
		io_uring_cq_advance(&io->ring, seen);
	}
	free(q.again);
	return q.rc;
}
#endif

static long aio_call(long nr, long a, long b, long c, long d, long e)
{
	return syscall(nr, a, b, c, d, e);
}

static int run_aio(duet_io *io, chunk *cs, uint32_t n, char *msg)
{
	uint32_t qd = io->o.queue_depth, inflight = 0;
	struct iocb *cbs = calloc(qd, sizeof *cbs);
	struct iocb **ptrs = calloc(qd, sizeof *ptrs);
	struct io_event *ev = calloc(qd, sizeof *ev);
	uint32_t *slot_chunk = calloc(qd, sizeof *slot_chunk);
	uint32_t *free_slots = calloc(qd, sizeof *free_slots), n_free = qd;
	sched q = { .rc = -1 };
	if (!cbs || !ptrs || !ev || !slot_chunk || !free_slots) {
		snprintf(msg, MSG, "out of memory");
		goto out;
	}
	if (!sched_init(&q, io, cs, n, msg))
		goto out;
	for (uint32_t i = 0; i < qd; i++)
		free_slots[i] = qd - 1 - i;
	while (inflight || sched_more(&q)) {
		uint32_t k = 0;
		while (n_free && sched_more(&q)) {
			uint32_t i = sched_take(&q), s = free_slots[--n_free];
			chunk *c = &cs[i];
			cbs[s] = (struct iocb){
				.aio_lio_opcode = IOCB_CMD_PREAD,
				.aio_fildes = (uint32_t)io->fd,
				.aio_buf = (uint64_t)(uintptr_t)(c->dst + c->done),
				.aio_nbytes = c->len - c->done,
				.aio_offset = (int64_t)(c->off + c->done),
				.aio_data = s,
			};
			slot_chunk[s] = i;
			ptrs[k++] = &cbs[s];
		}
		uint32_t sent = 0;
		while (sent < k) {
			long e = aio_call(SYS_io_submit, (long)io->aio, (long)(k - sent),
					  (long)(ptrs + sent), 0, 0);
			atomic_fetch_add(&io->syscalls, 1);
			if (e < 0 && errno == EINTR)
				continue;
			if (e <= 0) {
				snprintf(msg, MSG, "io_submit: %s", strerror(errno));
				q.rc = -1;
				for (uint32_t j = sent; j < k; j++)
					free_slots[n_free++] = (uint32_t)ptrs[j]->aio_data;
				break;
			}
			sent += (uint32_t)e;
		}
		inflight += sent;
		if (!inflight)
			break;
		long got = aio_call(SYS_io_getevents, (long)io->aio, 1, (long)qd,
				    (long)ev, 0);
		atomic_fetch_add(&io->syscalls, 1);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			snprintf(msg, MSG, "io_getevents: %s", strerror(errno));
			q.rc = -1;
			io->broken = true; /* cannot reap what is in flight */
			break;
		}
		for (long j = 0; j < got; j++) {
			uint32_t s = (uint32_t)ev[j].data;
			free_slots[n_free++] = s;
			inflight--;
			sched_result(&q, slot_chunk[s], ev[j].res);
		}
	}
out:
	free(cbs), free(ptrs), free(ev), free(slot_chunk), free(free_slots), free(q.again);
	return q.rc;
}

typedef struct pread_run {
	duet_io *io;
	chunk *cs;
	atomic_int failed; /* the first task to fail sets it and writes msg */
	char msg[MSG];
} pread_run;

static void pread_task(void *arg, uint32_t t, uint32_t thread)
{
	(void)thread;
	pread_run *p = arg;
	chunk *c = &p->cs[t];
	char msg[MSG];
	for (;;) {
		if (atomic_load(&p->failed))
			return;
		ssize_t r = pread(p->io->fd, c->dst + c->done, c->len - c->done,
				  (off_t)(c->off + c->done));
		atomic_fetch_add(&p->io->syscalls, 1);
		if (r < 0 && errno == EINTR)
			continue;
		int k = complete(p->io, c, r < 0 ? -errno : r, msg);
		if (k > 0)
			return;
		if (k < 0) {
			if (!atomic_exchange(&p->failed, 1))
				memcpy(p->msg, msg, MSG);
			return;
		}
	}
}

static int run_pread(duet_io *io, chunk *cs, uint32_t n, char *msg)
{
	pread_run p = { .io = io, .cs = cs };
	atomic_init(&p.failed, 0);
	duet_pool_run(io->pool, pread_task, &p, n); /* joins: msg is visible */
	if (atomic_load(&p.failed)) {
		memcpy(msg, p.msg, MSG);
		return -1;
	}
	return 0;
}

static int run_mmap(duet_io *io, chunk *cs, uint32_t n, char *msg)
{
	for (uint32_t i = 0; i < n; i++) {
		chunk *c = &cs[i];
		while (c->done < c->len) {
			uint64_t pos = c->off + c->done;
			uint64_t avail = pos < io->size ? io->size - pos : 0;
			uint64_t k = c->len - c->done < avail ? c->len - c->done : avail;
			memcpy(c->dst + c->done, io->map + pos, k);
			int r = complete(io, c, (int64_t)k, msg);
			if (r < 0)
				return -1;
		}
	}
	return 0;
}

/* ---- the reader's thread ----------------------------------------------------- */

/* Checks that the file is still what was opened (size and mtime), at
 * most once a second (a shrunk file also shows as a short read). */
static int unchanged(duet_io *io, char *msg)
{
	double t = duet_now_s();
	if (t - io->checked_s < 1.0)
		return 0;
	io->checked_s = t;
	struct stat st;
	atomic_fetch_add(&io->syscalls, 1);
	if (fstat(io->fd, &st) != 0) {
		snprintf(msg, MSG, "fstat: %s", strerror(errno));
		return -1;
	}
	if ((uint64_t)st.st_size != io->size ||
	    st.st_mtim.tv_sec != io->mtime.tv_sec ||
	    st.st_mtim.tv_nsec != io->mtime.tv_nsec) {
		snprintf(msg, MSG, "the file changed since it was opened "
			 "(%llu bytes then, %llu now)", (unsigned long long)io->size,
			 (unsigned long long)st.st_size);
		return -1;
	}
	return 0;
}

static int run_job(duet_io *io, job *j, char *msg)
{
	if (io->broken) {
		snprintf(msg, MSG, "the %s reader failed earlier and was stopped",
			 duet_io_kind_name(io->kind));
		return -1;
	}
	if (unchanged(io, msg))
		return -1;
	uint64_t cb = io->o.chunk_bytes, n = 0;
	for (uint32_t i = 0; i < j->n; i++)
		n += (j->reqs[i].len + cb - 1) / cb;
	chunk *cs = calloc(n ? n : 1, sizeof *cs);
	if (!cs) {
		snprintf(msg, MSG, "out of memory for %llu reads", (unsigned long long)n);
		return -1;
	}
	uint32_t k = 0;
	for (uint32_t i = 0; i < j->n; i++)
		for (uint64_t at = 0; at < j->reqs[i].len; at += cb) {
			uint64_t left = j->reqs[i].len - at;
			chunk *c = &cs[k++];
			c->dst = (uint8_t *)j->reqs[i].dst + at;
			c->off = j->reqs[i].offset + at;
			c->len = (uint32_t)(left < cb ? left : cb);
			c->buf = buf_of(io, c->dst, c->len);
		}
	pthread_mutex_lock(&io->mu);
	io->st.reads += k;
	pthread_mutex_unlock(&io->mu);
	int rc;
	switch (io->kind) {
#if DUET_HAVE_URING
	case DUET_IO_URING: rc = run_uring(io, cs, k, msg); break;
#endif
	case DUET_IO_AIO: rc = run_aio(io, cs, k, msg); break;
	case DUET_IO_MMAP: rc = run_mmap(io, cs, k, msg); break;
	default: rc = run_pread(io, cs, k, msg); break;
	}
	free(cs);
	return rc;
}

static void *io_thread(void *v)
{
	duet_io *io = v;
	pthread_mutex_lock(&io->mu);
	for (;;) {
		job *j = io->head;
		while (j && j->finished)
			j = j->next;
		if (!j) {
			if (io->stop)
				break;
			pthread_cond_wait(&io->work, &io->mu);
			continue;
		}
		pthread_mutex_unlock(&io->mu);
		char msg[MSG] = "";
		struct timespec c0, c1;
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
		double t0 = duet_now_s();
		int rc = run_job(io, j, msg);
		double dt = duet_now_s() - t0;
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
		pthread_mutex_lock(&io->mu);
		io->st.busy_s += dt;
		io->st.cpu_s += (double)(c1.tv_sec - c0.tv_sec) +
				1e-9 * (double)(c1.tv_nsec - c0.tv_nsec);
		if (rc == 0)
			for (uint32_t i = 0; i < j->n; i++)
				io->st.bytes += j->reqs[i].len;
		j->status = rc ? DUET_E_IO : DUET_OK;
		memcpy(j->msg, msg, MSG);
		j->finished = true;
		pthread_cond_broadcast(&io->done);
	}
	pthread_mutex_unlock(&io->mu);
	return NULL;
}

/* ---- opening: probe the backends ------------------------------------------- */

static bool probe_direct(duet_io *io, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_DIRECT);
	if (fd < 0)
		return false;
	void *buf = NULL;
	bool ok = posix_memalign(&buf, DIRECT_ALIGN, DIRECT_ALIGN) == 0 &&
		  pread(fd, buf, DIRECT_ALIGN, 0) >= 0;
	free(buf);
	if (!ok) {
		close(fd);
		return false;
	}
	close(io->fd);
	io->fd = fd;
	return true;
}

#if DUET_HAVE_URING
static int uring_setup(struct io_uring *ring, uint32_t depth, bool sqpoll,
		       char *why, size_t n)
{
	struct io_uring_params p = { 0 };
	if (sqpoll) {
		p.flags |= IORING_SETUP_SQPOLL;
		p.sq_thread_idle = 50;
	}
	int e = io_uring_queue_init_params(depth, ring, &p);
	if (e < 0)
		snprintf(why, n, "io_uring_setup: %s", strerror(-e));
	return e < 0 ? -1 : 0;
}
#endif

static int aio_setup(aio_context_t *ctx, uint32_t depth, char *why, size_t n)
{
	if (aio_call(SYS_io_setup, (long)depth, (long)ctx, 0, 0, 0) == 0)
		return 0;
	snprintf(why, n, "io_setup: %s", strerror(errno));
	return -1;
}

static int try_backend(duet_io *io, duet_io_kind k, char *why, size_t n)
{
	switch (k) {
	case DUET_IO_URING: {
#if DUET_HAVE_URING
		if (uring_setup(&io->ring, io->o.queue_depth, io->o.sqpoll, why, n))
			return -1;
		io->fixed_file = io_uring_register_files(&io->ring, &io->fd, 1) == 0;
		return 0;
#else
		snprintf(why, n, "io_uring: not in this build (no liburing)");
		return -1;
#endif
	}
	case DUET_IO_AIO:
		return aio_setup(&io->aio, io->o.queue_depth, why, n);
	case DUET_IO_MMAP:
		io->map = io->size ? mmap(NULL, io->size, PROT_READ, MAP_PRIVATE,
					  io->fd, 0) : NULL;
		if (io->map == MAP_FAILED) {
			io->map = NULL;
			snprintf(why, n, "mmap: %s", strerror(errno));
			return -1;
		}
		return 0;
	default:
		if (duet_pool_create(io->o.n_threads, &io->pool) != DUET_OK) {
			snprintf(why, n, "pread pool: cannot start threads");
			return -1;
		}
		return 0;
	}
}

duet_status duet_io_open(const char *path, const duet_io_opts *o,
			 duet_io **out)
{
	*out = NULL;
	duet_io *io = calloc(1, sizeof *io);
	if (!io)
		return DUET_ERR(DUET_E_NOMEM, "out of memory for a reader of %s", path);
	if (o)
		io->o = *o;
	if (!io->o.queue_depth)
		io->o.queue_depth = 32;
	if (!io->o.chunk_bytes)
		io->o.chunk_bytes = 1u << 20;
	if (!io->o.n_threads)
		io->o.n_threads = 4;
	io->fd = duet_fault_read() ? (errno = EIO, -1) : open(path, O_RDONLY | O_CLOEXEC);
	if (io->fd < 0) {
		int e = errno;
		free(io);
		return DUET_ERR(e == ENOENT ? DUET_E_NOT_FOUND : DUET_E_IO,
				"cannot open '%s' to read: %s", path, strerror(e));
	}
	struct stat st;
	if (fstat(io->fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(io->fd);
		free(io);
		return DUET_ERR(DUET_E_IO, "%s: not a regular file", path);
	}
	io->size = (uint64_t)st.st_size;
	io->mtime = st.st_mtim;
	const char *dmode = "buffered";
	if (io->o.direct && io->o.kind != DUET_IO_MMAP) {
		io->direct = probe_direct(io, path);
		dmode = io->direct ? "O_DIRECT" : "buffered (O_DIRECT refused by the file system)";
	}
	if (io->direct) /* chunks stay aligned */
		io->o.chunk_bytes = (io->o.chunk_bytes + DIRECT_ALIGN - 1) / DIRECT_ALIGN * DIRECT_ALIGN;
	char why[MSG] = "";
	duet_status s = DUET_OK;
	if (io->o.kind != DUET_IO_AUTO) {
		io->kind = io->o.kind;
		if (try_backend(io, io->kind, why, sizeof why))
			s = DUET_ERR(DUET_E_UNSUPPORTED, "--io %s: %s",
				     duet_io_kind_name(io->kind), why);
		else
			snprintf(io->reason, sizeof io->reason, "%s (asked), %s",
				 duet_io_kind_name(io->kind), dmode);
	} else {
		char tried[MSG] = "";
		static const duet_io_kind order[] = { DUET_IO_URING, DUET_IO_AIO, DUET_IO_PREAD };
		s = DUET_E_UNSUPPORTED;
		for (size_t i = 0; i < 3 && s != DUET_OK; i++) {
			if (try_backend(io, order[i], why, sizeof why) == 0) {
				io->kind = order[i];
				s = DUET_OK;
			} else {
				size_t l = strlen(tried);
				/* a list too long for the message ends cut short */
				int n = snprintf(tried + l, MSG - l, "%s%s",
						 l ? "; " : "", why);
				if (n < 0)
					tried[l] = 0;
			}
		}
		if (s != DUET_OK)
			s = DUET_ERR(DUET_E_UNSUPPORTED, "no reader works: %s", tried);
		else if (tried[0])
			snprintf(io->reason, sizeof io->reason, "%s (%s), %s",
				 duet_io_kind_name(io->kind), tried, dmode);
		else
			snprintf(io->reason, sizeof io->reason, "%s, %s", duet_io_kind_name(io->kind), dmode);
	}
	pthread_mutex_init(&io->mu, NULL);
	pthread_cond_init(&io->work, NULL);
	pthread_cond_init(&io->done, NULL);
	if (s == DUET_OK) {
		if (pthread_create(&io->thread, NULL, io_thread, io) != 0)
			s = DUET_ERR(DUET_E_AGAIN, "io reader: cannot start its thread");
		else
			io->thread_started = true;
	}
	if (s != DUET_OK) {
		duet_io_close(io);
		return s;
	}
	*out = io;
	return DUET_OK;
}

void duet_io_close(duet_io *io)
{
	if (!io)
		return;
	if (io->thread_started) {
		pthread_mutex_lock(&io->mu);
		io->stop = true;
		pthread_cond_signal(&io->work);
		pthread_mutex_unlock(&io->mu);
		pthread_join(io->thread, NULL);
	}
	for (job *j = io->head, *nx; j; j = nx) {
		nx = j->next;
		free(j->reqs);
		free(j);
	}
#if DUET_HAVE_URING
	if (io->kind == DUET_IO_URING && io->ring.ring_fd > 0)
		io_uring_queue_exit(&io->ring);
#endif
	if (io->aio)
		aio_call(SYS_io_destroy, (long)io->aio, 0, 0, 0, 0);
	if (io->map)
		munmap(io->map, io->size);
	duet_pool_destroy(io->pool);
	free(io->bufs);
	close(io->fd);
	pthread_cond_destroy(&io->work);
	pthread_cond_destroy(&io->done);
	pthread_mutex_destroy(&io->mu);
	free(io);
}

void duet_io_probe(duet_io_probe_result *r)
{
	memset(r, 0, sizeof *r);
	r->why_not[DUET_IO_AUTO] = "not a reader";
#if DUET_HAVE_URING
	struct io_uring ring;
	if (uring_setup(&ring, 4, false, r->text[0], sizeof r->text[0]) == 0)
		io_uring_queue_exit(&ring);
	else
		r->why_not[DUET_IO_URING] = r->text[0];
#else
	r->why_not[DUET_IO_URING] = "not in this build (no liburing)";
#endif
	aio_context_t ctx = 0;
	if (aio_setup(&ctx, 4, r->text[1], sizeof r->text[1]) == 0)
		aio_call(SYS_io_destroy, (long)ctx, 0, 0, 0, 0);
	else
		r->why_not[DUET_IO_AIO] = r->text[1];
	r->pick = !r->why_not[DUET_IO_URING] ? DUET_IO_URING
		  : !r->why_not[DUET_IO_AIO] ? DUET_IO_AIO : DUET_IO_PREAD;
}

duet_io_kind duet_io_backend(const duet_io *io) { return io->kind; }
const char *duet_io_reason(const duet_io *io) { return io->reason; }
bool duet_io_is_direct(const duet_io *io) { return io->direct; }
uint32_t duet_io_align(const duet_io *io) { return io->direct ? DIRECT_ALIGN : 1; }
uint64_t duet_io_file_size(const duet_io *io) { return io->size; }

duet_status duet_io_register(duet_io *io, void *const *bufs,
			     const size_t *lens, uint32_t n)
{
	if (io->bufs || n == 0)
		return DUET_ERR(DUET_E_INVAL, "io: buffers registered twice or none given");
	io->bufs = calloc(n, sizeof *io->bufs);
	if (!io->bufs)
		return DUET_ERR(DUET_E_NOMEM, "io: %u buffers", n);
	for (uint32_t i = 0; i < n; i++)
		io->bufs[i] = (struct iovec){ bufs[i], lens[i] };
#if DUET_HAVE_URING
	if (io->kind == DUET_IO_URING &&
	    io_uring_register_buffers(&io->ring, io->bufs, n) != 0) {
		free(io->bufs); /* plain reads still work */
		io->bufs = NULL;
		return DUET_OK;
	}
#endif
	io->n_bufs = io->kind == DUET_IO_URING ? n : 0;
	return DUET_OK;
}

duet_status duet_io_submit(duet_io *io, const duet_io_req *reqs, uint32_t n,
			   uint64_t *ticket)
{
	uint64_t a = duet_io_align(io) - 1;
	for (uint32_t i = 0; i < n; i++) {
		const duet_io_req *r = &reqs[i];
		if (r->offset >= io->size && r->len)
			return DUET_ERR(DUET_E_INVAL, "read at offset %llu: past the end "
					"of the file (%llu bytes)", (unsigned long long)r->offset,
					(unsigned long long)io->size);
		if (((uintptr_t)r->dst | r->offset | r->len) & a)
			return DUET_ERR(DUET_E_INVAL, "read at offset %llu of %llu bytes: "
					"O_DIRECT needs %llu-byte alignment of buffer, "
					"offset and length", (unsigned long long)r->offset,
					(unsigned long long)r->len, (unsigned long long)a + 1);
	}
	job *j = calloc(1, sizeof *j);
	if (j)
		j->reqs = malloc(sizeof *reqs * (n ? n : 1));
	if (!j || !j->reqs) {
		free(j);
		return DUET_ERR(DUET_E_NOMEM, "io: %u read requests", n);
	}
	memcpy(j->reqs, reqs, sizeof *reqs * n);
	j->n = n;
	pthread_mutex_lock(&io->mu);
	j->ticket = ++io->next_ticket;
	if (io->tail)
		io->tail->next = j;
	else
		io->head = j;
	io->tail = j;
	*ticket = j->ticket;
	pthread_cond_signal(&io->work);
	pthread_mutex_unlock(&io->mu);
	return DUET_OK;
}

static job *find(duet_io *io, uint64_t ticket, job **prev)
{
	*prev = NULL;
	for (job *j = io->head; j; *prev = j, j = j->next)
		if (j->ticket == ticket)
			return j;
	return NULL;
}

duet_status duet_io_wait(duet_io *io, uint64_t ticket)
{
	pthread_mutex_lock(&io->mu);
	job *prev, *j = find(io, ticket, &prev);
	if (!j) {
		pthread_mutex_unlock(&io->mu);
		return DUET_ERR(DUET_E_INVAL, "io: no pending ticket %llu",
				(unsigned long long)ticket);
	}
	while (!j->finished)
		pthread_cond_wait(&io->done, &io->mu);
	/* find again: others may have unlinked their jobs meanwhile */
	j = find(io, ticket, &prev);
	if (prev)
		prev->next = j->next;
	else
		io->head = j->next;
	if (io->tail == j)
		io->tail = prev;
	pthread_mutex_unlock(&io->mu);
	duet_status s = j->status;
	if (s != DUET_OK)
		DUET_ERR(s, "%s", j->msg);
	free(j->reqs);
	free(j);
	return s;
}

bool duet_io_done(duet_io *io, uint64_t ticket)
{
	pthread_mutex_lock(&io->mu);
	job *prev, *j = find(io, ticket, &prev);
	bool done = !j || j->finished;
	pthread_mutex_unlock(&io->mu);
	return done;
}

duet_status duet_io_read(duet_io *io, const duet_io_req *reqs, uint32_t n)
{
	uint64_t t;
	duet_status s = duet_io_submit(io, reqs, n, &t);
	return s != DUET_OK ? s : duet_io_wait(io, t);
}

void duet_io_get_stats(duet_io *io, duet_io_stats *s)
{
	pthread_mutex_lock(&io->mu);
	*s = io->st;
	pthread_mutex_unlock(&io->mu);
	s->syscalls = atomic_load(&io->syscalls);
}
