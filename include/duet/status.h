/* duet public API: the one error convention every function follows.
 *
 * Every fallible function returns a duet_status: DUET_OK (0) or a negative
 * error. Results come back through out-parameters. Where an error starts, the
 * library records a one-line message ("file.c:123: what went wrong") that the
 * caller can read with duet_last_error() on the same thread. */
#ifndef DUET_STATUS_H
#define DUET_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

#if defined(DUET_BUILDING_LIBRARY) && defined(__GNUC__)
#define DUET_API __attribute__((visibility("default")))
#else
#define DUET_API
#endif

typedef enum duet_status {
	DUET_OK = 0,
	DUET_E_NOMEM = -1,        /* host memory allocation failed */
	DUET_E_DEVICE_NOMEM = -2, /* device memory allocation failed */
	DUET_E_DEVICE_LOST = -3,  /* the GPU device was lost */
	DUET_E_IO = -4,           /* reading or writing a file failed */
	DUET_E_INVAL = -5,        /* an argument is out of its documented range */
	DUET_E_UNSUPPORTED = -6,  /* valid input this build cannot handle */
	DUET_E_CORRUPT = -7,      /* a file is malformed or inconsistent */
	DUET_E_AGAIN = -8,        /* temporarily out of a resource; retry later */
	DUET_E_RANGE = -9,        /* a limit was reached (e.g. context full) */
	DUET_E_NOT_FOUND = -10,   /* a named item (file, key, tensor) is absent */
	DUET_E_CANCELED = -11,    /* stopped by duet_session_cancel() */
} duet_status;

/* Returns a static, human-readable name for s ("DUET_E_CORRUPT: ...").
 * Never NULL; unknown values give "unknown status". Thread-safe. */
DUET_API const char *duet_status_str(duet_status s);

/* Returns the message of the last error recorded on the calling thread, or ""
 * when none was recorded since the last duet_clear_error(). The string is
 * owned by the library and stays valid until the next failing call on this
 * thread. Thread-safe (each thread has its own). */
DUET_API const char *duet_last_error(void);

/* Forgets the calling thread's last error message. Thread-safe. */
DUET_API void duet_clear_error(void);

#ifdef __cplusplus
}
#endif

#endif /* DUET_STATUS_H */
