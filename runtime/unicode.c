/* UTF-8 and code point properties (see unicode.h). */
#include "unicode.h"

uint8_t duet_unicode_flags(uint32_t cp)
{
	if (cp >= DUET_UNICODE_MAX)
		return DUET_UCAT_UNDEFINED;
	/* last range starting at or before cp */
	uint32_t lo = 0, hi = duet_ucd_n_ranges;
	while (hi - lo > 1) {
		uint32_t mid = (lo + hi) / 2;
		if (duet_ucd_range_start[mid] <= cp)
			lo = mid;
		else
			hi = mid;
	}
	return duet_ucd_range_flags[lo];
}

uint32_t duet_unicode_tolower(uint32_t cp)
{
	uint32_t lo = 0, hi = duet_ucd_n_lower;
	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;
		if (duet_ucd_lower[mid][0] < cp)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < duet_ucd_n_lower && duet_ucd_lower[lo][0] == cp
		       ? duet_ucd_lower[lo][1]
		       : cp;
}

size_t duet_utf8_len(unsigned char b)
{
	static const unsigned char len[16] = { 1, 1, 1, 1, 1, 1, 1, 1,
					       1, 1, 1, 1, 2, 2, 3, 4 };
	return len[b >> 4];
}

static int cont(unsigned char b)
{
	return (b & 0xc0) == 0x80;
}

size_t duet_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
	unsigned char b = s[0];
	*cp = DUET_UNICODE_REPLACEMENT;
	if (!(b & 0x80)) {
		*cp = b;
		return 1;
	}
	if (!(b & 0x40))
		return 1;
	if (!(b & 0x20)) {
		if (n < 2 || !cont(s[1]))
			return 1;
		*cp = (uint32_t)(b & 0x1f) << 6 | (s[1] & 0x3f);
		return 2;
	}
	if (!(b & 0x10)) {
		if (n < 3 || !cont(s[1]) || !cont(s[2]))
			return 1;
		*cp = (uint32_t)(b & 0x0f) << 12 | (uint32_t)(s[1] & 0x3f) << 6 |
		      (s[2] & 0x3f);
		return 3;
	}
	if (!(b & 0x08)) {
		if (n < 4 || !cont(s[1]) || !cont(s[2]) || !cont(s[3]))
			return 1;
		uint32_t c = (uint32_t)(b & 0x07) << 18 | (uint32_t)(s[1] & 0x3f) << 12 |
			     (uint32_t)(s[2] & 0x3f) << 6 | (s[3] & 0x3f);
		*cp = c < DUET_UNICODE_MAX ? c : DUET_UNICODE_REPLACEMENT;
		return 4;
	}
	return 1;
}

size_t duet_utf8_encode(uint32_t cp, char *out)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | ((cp >> 18) & 0x07));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

size_t duet_utf8_incomplete_tail(const unsigned char *s, size_t n)
{
	/* Walk back over at most 3 continuation bytes to a lead byte. */
	size_t k = 0;
	while (k < n && k < 3 && cont(s[n - 1 - k]))
		k++;
	if (k == n)
		return 0;
	unsigned char lead = s[n - 1 - k];
	size_t need = (lead & 0xe0) == 0xc0 ? 2 : (lead & 0xf0) == 0xe0 ? 3
		    : (lead & 0xf8) == 0xf0 ? 4 : 1;
	return need > k + 1 ? k + 1 : 0;
}
