/* Per-thread last-error message and status names (see include/duet/status.h). */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>


static _Thread_local char last_error[DUET_ERROR_MAX];

const char *duet_status_str(duet_status s)
{
	switch (s) {
	case DUET_OK: return "ok";
	case DUET_E_NOMEM: return "out of memory";
	case DUET_E_DEVICE_NOMEM: return "out of device memory";
	case DUET_E_DEVICE_LOST: return "device lost";
	case DUET_E_IO: return "I/O error";
	case DUET_E_INVAL: return "invalid argument";
	case DUET_E_UNSUPPORTED: return "unsupported";
	case DUET_E_CORRUPT: return "corrupt input";
	case DUET_E_AGAIN: return "resource temporarily unavailable";
	case DUET_E_RANGE: return "limit reached";
	case DUET_E_NOT_FOUND: return "not found";
	case DUET_E_CANCELED: return "canceled";
	}
	return "unknown status";
}

const char *duet_last_error(void)
{
	return last_error;
}

void duet_clear_error(void)
{
	last_error[0] = '\0';
}

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

duet_status duet_error_set(duet_status s, const char *file, int line,
			   const char *fmt, ...)
{
	int n = snprintf(last_error, sizeof last_error, "%s:%d: ",
			 base_name(file), line);
	if (n < 0 || (size_t)n >= sizeof last_error)
		n = 0;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(last_error + n, sizeof last_error - (size_t)n, fmt, ap);
	va_end(ap);
	return s;
}

duet_status duet_error_restore(duet_status s, const char *msg)
{
	snprintf(last_error, sizeof last_error, "%s", msg);
	return s;
}

/* Appends n bytes of s to buf (cap bytes, *len used), truncating. */
static void append(char *buf, size_t cap, size_t *len, const char *s, size_t n)
{
	if (*len + 1 >= cap)
		return;
	if (n > cap - 1 - *len)
		n = cap - 1 - *len;
	memcpy(buf + *len, s, n);
	*len += n;
	buf[*len] = '\0';
}

duet_status duet_error_wrap(duet_status s, const char *fmt, ...)
{
	char prefix[DUET_ERROR_MAX];
	char old[DUET_ERROR_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof prefix, fmt, ap);
	va_end(ap);
	memcpy(old, last_error, sizeof old);
	/* Keep "file:line: " of the origin first; the context goes after it. */
	const char *colon = strstr(old, ": ");
	size_t origin = colon ? (size_t)(colon + 2 - old) : 0;
	size_t len = 0;
	last_error[0] = '\0';
	append(last_error, sizeof last_error, &len, old, origin);
	append(last_error, sizeof last_error, &len, prefix, strlen(prefix));
	append(last_error, sizeof last_error, &len, ": ", 2);
	append(last_error, sizeof last_error, &len, old + origin,
	       strlen(old + origin));
	return s;
}
