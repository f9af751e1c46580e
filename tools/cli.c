/* Option parsing, error lines and JSON output for the duet CLI. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int cli_error(const char *cmd, int code, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "duet %s: error: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return code;
}

int cli_fail(const char *cmd, duet_status s)
{
	const char *msg = duet_last_error();
	const char *sep = strstr(msg, ": ");
	if (!msg[0])
		return cli_error(cmd, CLI_FAIL, "%s", duet_status_str(s));
	/* "file.c:12: text" -> "text [file.c:12]" */
	if (sep && memchr(msg, ':', (size_t)(sep - msg)) && !memchr(msg, ' ', (size_t)(sep - msg)))
		return cli_error(cmd, CLI_FAIL, "%s [%.*s]", sep + 2,
				 (int)(sep - msg), msg);
	return cli_error(cmd, CLI_FAIL, "%s", msg);
}

bool cli_is(const char *arg, const char *a, const char *b)
{
	return (a && strcmp(arg, a) == 0) || (b && strcmp(arg, b) == 0);
}

bool cli_value(const char *cmd, int argc, char **argv, int *i, const char **out)
{
	if (*i + 1 >= argc) {
		cli_error(cmd, CLI_USAGE, "option %s needs a value", argv[*i]);
		return false;
	}
	*i += 1;
	*out = argv[*i];
	return true;
}

bool cli_u64(const char *cmd, const char *opt, const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (!*s || *end || errno || s[0] == '-') {
		cli_error(cmd, CLI_USAGE, "%s: '%s' is not a non-negative integer",
			  opt, s);
		return false;
	}
	*out = v;
	return true;
}

bool cli_u32(const char *cmd, const char *opt, const char *s, uint32_t lo,
	     uint32_t hi, uint32_t *out)
{
	uint64_t v;
	if (!cli_u64(cmd, opt, s, &v))
		return false;
	if (v < lo || v > hi) {
		cli_error(cmd, CLI_USAGE, "%s: %s is outside %u..%u", opt, s, lo, hi);
		return false;
	}
	*out = (uint32_t)v;
	return true;
}

bool cli_i32(const char *cmd, const char *opt, const char *s, int32_t lo,
	     int32_t hi, int32_t *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (!*s || *end || errno || v < lo || v > hi) {
		cli_error(cmd, CLI_USAGE, "%s: '%s' is not an integer in %d..%d",
			  opt, s, lo, hi);
		return false;
	}
	*out = (int32_t)v;
	return true;
}

bool cli_f32(const char *cmd, const char *opt, const char *s, float lo,
	     float hi, float *out)
{
	char *end;
	errno = 0;
	float v = strtof(s, &end);
	if (!*s || *end || errno || !(v >= lo && v <= hi)) {
		cli_error(cmd, CLI_USAGE, "%s: '%s' is not a number in %g..%g", opt,
			  s, (double)lo, (double)hi);
		return false;
	}
	*out = v;
	return true;
}

char *cli_read_file(const char *path, size_t *n)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap + 1);
	while (buf) {
		size_t got = fread(buf + len, 1, cap - len, f);
		len += got;
		if (got == 0)
			break;
		if (len == cap) {
			char *b = realloc(buf, (cap *= 2) + 1);
			if (!b)
				free(buf);
			buf = b;
		}
	}
	if (ferror(f)) {
		free(buf);
		buf = NULL;
	}
	if (f != stdin)
		fclose(f);
	if (buf)
		buf[len] = '\0';
	*n = len;
	return buf;
}

bool cli_tokens(const char *cmd, const char *s, int32_t **out, uint32_t *n)
{
	size_t cap = strlen(s) / 2 + 1;
	int32_t *ids = malloc(cap * sizeof *ids);
	uint32_t k = 0;
	if (!ids) {
		cli_error(cmd, CLI_FAIL, "out of memory");
		return false;
	}
	const char *p = s;
	while (*p) {
		while (*p == ',' || *p == ' ' || *p == '\t' || *p == '\n')
			p++;
		if (!*p)
			break;
		char *end;
		errno = 0;
		long long v = strtoll(p, &end, 10);
		if (end == p || errno || v < 0 || v > INT32_MAX ||
		    (*end && *end != ',' && *end != ' ' && *end != '\t' && *end != '\n')) {
			cli_error(cmd, CLI_USAGE,
				  "--tokens: '%.20s' is not a list of token ids "
				  "like 1,2,3", p);
			free(ids);
			return false;
		}
		ids[k++] = (int32_t)v;
		p = end;
	}
	if (k == 0) {
		cli_error(cmd, CLI_USAGE, "--tokens: the list is empty");
		free(ids);
		return false;
	}
	*out = ids;
	*n = k;
	return true;
}

void json_str(FILE *f, const char *s, size_t n)
{
	fputc('"', f);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c == '\t')
			fputs("\\t", f);
		else if (c == '\r')
			fputs("\\r", f);
		else if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

void json_num(FILE *f, double v)
{
	if (isfinite(v))
		fprintf(f, "%.9g", v);
	else
		fputs("null", f);
}

const char *cli_mode_name(duet_mode m)
{
	static const char *const names[] = { "llm", "slm", "spec", "cascade" };
	return (uint32_t)m < 4 ? names[m] : "?";
}

bool cli_mode(const char *cmd, const char *s, const duet_mode *allowed,
	      int n_allowed, duet_mode *out)
{
	char list[64] = "";
	for (int i = 0; i < n_allowed; i++) {
		if (!strcmp(s, cli_mode_name(allowed[i]))) {
			*out = allowed[i];
			return true;
		}
		snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s",
			 i ? (i + 1 == n_allowed ? " or " : ", ") : "",
			 cli_mode_name(allowed[i]));
	}
	cli_error(cmd, CLI_USAGE, "unknown --mode '%s' (%s)", s, list);
	return false;
}
