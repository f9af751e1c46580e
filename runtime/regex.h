/* A small backtracking regex engine with ECMAScript semantics (leftmost
 * match, alternatives tried in order, greedy quantifiers), for the
 * pre-tokenizer patterns llama.cpp runs through std::regex.
 *
 * It matches arrays of 32-bit units. llama.cpp feeds std::regex either
 * "collapsed" text (every code point >= 128 replaced by one byte naming its
 * category: 0xD1 number, 0xD2 letter, 0xD3 punctuation, 0xD4 mark, 0xD5
 * symbol, 0x0B whitespace, 0xD0 anything else) with \p{..} rewritten to
 * that byte plus its ASCII members, or, for patterns without \p{..}, the
 * code points themselves with non-ASCII whitespace replaced by 0x0B. The
 * caller builds the units; DUET_REGEX_COLLAPSED selects how \p{..} reads.
 *
 * Supported: literals and escapes (\r \n \t \f \v \xHH \uHHHH, escaped
 * punctuation), . \s \S \d \D \w \W \p{L|N|P|S|M|Lu|Ll|Lt|Lm|Lo}, classes
 * [...] / [^...] with ranges, groups (...) (?:...), lookahead (?=...)
 * (?!...), ^ $, and the quantifiers ? * + {n} {n,} {n,m} on single-unit
 * atoms (the only place the pre-tokenizer patterns quantify). */
#ifndef DUET_RUNTIME_REGEX_H
#define DUET_RUNTIME_REGEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "duet/status.h"

typedef struct duet_regex duet_regex;

enum { DUET_REGEX_WIDE = 0, DUET_REGEX_COLLAPSED = 1 };

/* Compiles the UTF-8 pattern. DUET_E_UNSUPPORTED (with the reason) for
 * syntax outside the subset above, DUET_E_NOMEM. Thread-safe. */
duet_status duet_regex_compile(const char *pattern, int mode, duet_regex **out);

void duet_regex_destroy(duet_regex *r);

/* Returns true when the pattern uses \p{..} (llama.cpp then matches the
 * collapsed text). */
bool duet_regex_uses_categories(const char *pattern);

/* Finds the leftmost match in units[begin..end) starting at or after from;
 * on success writes [*ms, *me). ^ and $ match at begin and end. A regex is
 * read-only while matching, so one may serve several threads. */
bool duet_regex_search(const duet_regex *r, const uint32_t *units, size_t begin,
		       size_t end, size_t from, size_t *ms, size_t *me);

#endif
