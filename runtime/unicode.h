/* Code points: UTF-8 decoding with llama.cpp's rules for invalid input, and
 * the Unicode properties its pre-tokenizer regexes test (\p{L}, \p{N}, \s,
 * ...). Tables come from runtime/unicode_data.c (generated). All functions
 * are pure and thread-safe. */
#ifndef DUET_RUNTIME_UNICODE_H
#define DUET_RUNTIME_UNICODE_H

#include <stddef.h>
#include <stdint.h>

/* General category groups (one per code point). */
enum {
	DUET_UCAT_UNDEFINED = 0, /* unassigned (Cn) */
	DUET_UCAT_NUMBER = 1,    /* N* */
	DUET_UCAT_LETTER = 2,    /* L* */
	DUET_UCAT_SEPARATOR = 3, /* Z* */
	DUET_UCAT_MARK = 4,      /* M* */
	DUET_UCAT_PUNCT = 5,     /* P* */
	DUET_UCAT_SYMBOL = 6,    /* S* */
	DUET_UCAT_CONTROL = 7,   /* Cc, Cf, Co, Cs */
};
#define DUET_UCAT_MASK 0x07
#define DUET_UFLAG_WHITESPACE 0x08 /* PropList White_Space */

#define DUET_UNICODE_MAX 0x110000u
#define DUET_UNICODE_REPLACEMENT 0xFFFDu

extern const uint32_t duet_ucd_n_ranges;
extern const uint32_t duet_ucd_range_start[];
extern const uint8_t duet_ucd_range_flags[];
extern const uint32_t duet_ucd_n_lower;
extern const uint32_t duet_ucd_lower[][2];

/* Returns the category | whitespace flag of cp (UNDEFINED past U+10FFFF). */
uint8_t duet_unicode_flags(uint32_t cp);

/* Returns cp's simple lowercase mapping, or cp. */
uint32_t duet_unicode_tolower(uint32_t cp);

/* Bytes a sequence starting with lead byte b claims (1..4), by its top
 * four bits; continuation bytes count 1 (llama.cpp's unicode_len_utf8). */
size_t duet_utf8_len(unsigned char b);

/* Decodes the code point at s (n > 0 bytes left) into *cp and returns the
 * bytes used. Like llama.cpp: lead and continuation bytes are checked but
 * overlong forms and surrogates are accepted; an invalid sequence gives
 * U+FFFD and consumes one byte. Values past U+10FFFF (from F5..F7 leads)
 * also become U+FFFD, where llama.cpp throws. */
size_t duet_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);

/* Writes cp as UTF-8 into out (4 bytes) and returns the length. */
size_t duet_utf8_encode(uint32_t cp, char *out);

/* Bytes at the end of s[0..n) that start a UTF-8 sequence not yet complete
 * (0 when the text ends on a boundary); used to hold back partial output. */
size_t duet_utf8_incomplete_tail(const unsigned char *s, size_t n);

#endif
