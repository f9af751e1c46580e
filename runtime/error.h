/* Recording errors where they start, so callers can print one clear line.
 *
 * DUET_ERR(status, fmt, ...) formats "file.c:line: message" into the calling
 * thread's last-error buffer and evaluates to status, so a failing path reads
 * `return DUET_ERR(DUET_E_CORRUPT, "tensor '%s' ...", name);`. */
#ifndef DUET_RUNTIME_ERROR_H
#define DUET_RUNTIME_ERROR_H

#include "duet/status.h"

#define DUET_ERROR_MAX 1024 /* bytes of a thread's last message */

#if defined(__GNUC__)
#define DUET_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define DUET_PRINTF(a, b)
#endif

/* Records the message for status s and returns s. Thread-safe. */
duet_status duet_error_set(duet_status s, const char *file, int line,
			   const char *fmt, ...) DUET_PRINTF(4, 5);

/* Prefixes the current message with more context ("loading x.gguf: ...")
 * and returns s unchanged. Thread-safe. */
duet_status duet_error_wrap(duet_status s, const char *fmt, ...)
	DUET_PRINTF(2, 3);

/* Records msg (a message taken from duet_last_error() on another thread)
 * as it is and returns s. Thread-safe. */
duet_status duet_error_restore(duet_status s, const char *msg);

#define DUET_ERR(s, ...) duet_error_set((s), __FILE__, __LINE__, __VA_ARGS__)

#endif
