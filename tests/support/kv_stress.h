/* Random operations on a KV pool from several threads at once (the
 * arbiter's thread-safety test, also run alone under ThreadSanitizer by
 * tests/kv_stress_main.c). */
#ifndef DUET_TESTS_KV_STRESS_H
#define DUET_TESTS_KV_STRESS_H

#include <stdint.h>

#include "kv_pool.h"

/* Runs n_threads threads of n_ops random operations each on model id of
 * pool p (a model of at least 2 layers and 2 values per row): each owns
 * two sequences of random priorities and guarantees and opens, shares
 * between them, steps (writing marks, then reading back everything still
 * valid), truncates, re-prioritises and closes them. Returns how many
 * steps read back a wrong row (0: none); every sequence is closed. */
int kv_stress(duet_kv_pool *p, uint32_t model, int n_threads, int n_ops);

#endif
