/* Test hook for file-read faults: every read of a file the library makes
 * (opening a model, each read of streamed weights, the pipeline cache)
 * asks duet_fault_read() first and fails as an I/O error when it says so.
 * DUET_FAIL_READ=N in the environment fails the Nth read of the process;
 * tests/fault_read_main.c arms each N in turn. */
#ifndef DUET_RUNTIME_FAULT_H
#define DUET_RUNTIME_FAULT_H

#include <stdbool.h>
#include <stdint.h>

/* Counts one read; returns true when it is the one armed to fail.
 * Thread-safe. */
bool duet_fault_read(void);

/* Restarts the count and fails read nth from now (0: none), overriding
 * DUET_FAIL_READ. Not to be called while reads are in flight. */
void duet_fault_read_arm(uint64_t nth);

/* Reads counted since the start or the last duet_fault_read_arm().
 * Thread-safe. */
uint64_t duet_fault_read_count(void);

#endif
