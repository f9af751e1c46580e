/* Subprocess helper for CLI tests (see proc.h). */
#include "proc.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct buf {
	char *p;
	size_t n, cap;
} buf;

static void buf_add(buf *b, const char *s, size_t n)
{
	if (b->cap - b->n <= n) {
		size_t cap = (b->cap + n) * 2 + 64;
		char *p = realloc(b->p, cap);
		if (!p)
			return;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = '\0';
}

bool proc_run(char *const argv[], proc_result *r)
{
	int out[2], err[2];
	memset(r, 0, sizeof *r);
	if (pipe(out) || pipe(err))
		return false;
	pid_t pid = fork();
	if (pid < 0)
		return false;
	if (pid == 0) {
		dup2(out[1], 1);
		dup2(err[1], 2);
		close(out[0]);
		close(err[0]);
		close(out[1]);
		close(err[1]);
		execv(argv[0], argv);
		_exit(127);
	}
	close(out[1]);
	close(err[1]);
	buf bo = { 0 }, be = { 0 };
	buf_add(&bo, "", 0);
	buf_add(&be, "", 0);
	struct pollfd fds[2] = { { out[0], POLLIN, 0 }, { err[0], POLLIN, 0 } };
	int open_fds = 2;
	while (open_fds > 0) {
		if (poll(fds, 2, -1) < 0)
			break;
		for (int i = 0; i < 2; i++) {
			if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP)))
				continue;
			char tmp[65536];
			ssize_t k = read(fds[i].fd, tmp, sizeof tmp);
			if (k <= 0) {
				close(fds[i].fd);
				fds[i].fd = -1;
				open_fds--;
			} else {
				buf_add(i ? &be : &bo, tmp, (size_t)k);
			}
		}
	}
	int st;
	waitpid(pid, &st, 0);
	r->signaled = WIFSIGNALED(st);
	r->signal = r->signaled ? WTERMSIG(st) : 0;
	r->exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	r->out = bo.p;
	r->err = be.p;
	return true;
}

void proc_free(proc_result *r)
{
	free(r->out);
	free(r->err);
	r->out = r->err = NULL;
}

const char *duet_bin(void)
{
	const char *e = getenv("DUET_BIN");
	return e ? e : DUET_BIN_PATH;
}

const char *oracle_dir(void)
{
	const char *e = getenv("DUET_ORACLE_DIR");
	return e ? e : DUET_ORACLE_PATH;
}

const char *test_tmpdir(void)
{
	const char *e = getenv("DUET_TEST_TMP");
	mkdir(e ? e : DUET_TEST_TMP_PATH, 0777);
	return e ? e : DUET_TEST_TMP_PATH;
}

size_t count_lines(const char *s)
{
	size_t n = 0;
	for (; s && *s; s++)
		n += *s == '\n';
	return n;
}
