/*
 * config_values.c -- strict parsers of efa-check.conf values: numbers with ranges, sizes with
 * units, yes/no, absolute paths without "..", library names; each error names file:line and
 * the key (config_parse.h).
 */
#include "core/config_parse.h"
#include "core/strutil.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

int cfg_perr(const struct pctx *p, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!p->err || p->errlen == 0)
		return -1;
	/* The file name is cut so that the message always fits after it. */
	if (p->line)
		n = snprintf(p->err, p->errlen, "%.*s:%u: ", (int)(p->errlen / 2), p->name, p->line);
	else
		n = snprintf(p->err, p->errlen, "%.*s: ", (int)(p->errlen / 2), p->name);
	if (n < 0 || (size_t)n >= p->errlen)
		return -1;
	va_start(ap, fmt);
	vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

/* ---- value parsers ------------------------------------------------------- */

int cfg_val_long(const struct pctx *p, const char *key, const char *v, long min, long max,
		    long *out)
{
	long x = 0;

	if (parse_long(v, CFG_LONG_MIN, CFG_LONG_MAX, &x) < 0)
		return cfg_perr(p, "%s=%.*s: not an integer (expected %ld..%ld)", key, QUOTE_MAX, v,
			    min, max);
	if (x < min || x > max)
		return cfg_perr(p, "%s=%.*s: out of range (expected %ld..%ld)", key, QUOTE_MAX, v,
			    min, max);
	*out = x;
	return 0;
}

int cfg_val_int(const struct pctx *p, const char *key, const char *v, long min, long max,
		   int *out)
{
	long x = 0;

	if (cfg_val_long(p, key, v, min, max, &x) < 0)
		return -1;
	*out = (int)x;
	return 0;
}

/* N or "auto" (-1). */
int cfg_val_int_auto(const struct pctx *p, const char *key, const char *v, long max, int *out)
{
	long x = 0;

	if (!strcasecmp(v, "auto")) {
		*out = -1;
		return 0;
	}
	if (parse_long(v, CFG_LONG_MIN, CFG_LONG_MAX, &x) < 0)
		return cfg_perr(p, "%s=%.*s: expected auto or an integer 0..%ld", key, QUOTE_MAX, v, max);
	if (x < 0 || x > max)
		return cfg_perr(p, "%s=%.*s: out of range (expected auto or 0..%ld)", key, QUOTE_MAX, v,
			    max);
	*out = (int)x;
	return 0;
}

int cfg_val_double(const struct pctx *p, const char *key, const char *v, double min,
		      double max, double *out)
{
	double x = 0;

	if (parse_double(v, -DBL_MAX, DBL_MAX, &x) < 0)
		return cfg_perr(p, "%s=%.*s: not a number (expected %g..%g)", key, QUOTE_MAX, v, min, max);
	if (x < min || x > max)
		return cfg_perr(p, "%s=%.*s: out of range (expected %g..%g)", key, QUOTE_MAX, v, min, max);
	*out = x;
	return 0;
}

int cfg_val_double_auto(const struct pctx *p, const char *key, const char *v, double max,
			double *out)
{
	if (!strcasecmp(v, "auto")) {
		*out = CONFIG_AUTO;
		return 0;
	}
	if (parse_double(v, -DBL_MAX, DBL_MAX, out) < 0 || *out < 0 || *out > max)
		return cfg_perr(p, "%s=%.*s: expected auto or a number 0..%g", key, QUOTE_MAX, v, max);
	return 0;
}

/* Bytes: decimal integer with an optional K, M or G suffix (powers of 1024, any case). */
int cfg_parse_bytes(const char *v, long *out)
{
	char num[32];
	size_t len = strlen(v);
	long mult = 1, x = 0;

	if (len == 0 || len >= sizeof(num))
		return -1;
	memcpy(num, v, len + 1);
	switch (toupper((unsigned char)num[len - 1])) {
	case 'K': mult = KIB; break;
	case 'M': mult = MIB; break;
	case 'G': mult = GIB; break;
	default: break;
	}
	if (mult != 1)
		num[len - 1] = '\0';
	if (!isdigit((unsigned char)num[0]) || parse_long(num, 0, CFG_LONG_MAX, &x) < 0)
		return -1;
	if (x > CFG_LONG_MAX / mult)
		return -1;
	*out = x * mult;
	return 0;
}

int cfg_val_bytes(const struct pctx *p, const char *key, const char *v, long min, long max,
		     const char *range, long *out)
{
	long x = 0;

	if (cfg_parse_bytes(v, &x) < 0)
		return cfg_perr(p, "%s=%.*s: not a size (expected bytes with optional K/M/G suffix, %s)",
			    key, QUOTE_MAX, v, range);
	if (x < min || x > max)
		return cfg_perr(p, "%s=%.*s: out of range (expected %s)", key, QUOTE_MAX, v, range);
	*out = x;
	return 0;
}

int cfg_val_bool(const struct pctx *p, const char *key, const char *v, bool *out)
{
	if (parse_bool(v, out) < 0)
		return cfg_perr(p, "%s=%.*s: expected yes or no", key, QUOTE_MAX, v);
	return 0;
}

bool cfg_chars_in(const char *s, const char *extra, bool lower_only)
{
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (isdigit(ch) || (lower_only ? islower(ch) : isalpha(ch)))
			continue;
		if (!strchr(extra, ch))
			return false;
	}
	return true;
}

bool cfg_printable_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x21 || (unsigned char)*s > 0x7e)
			return false;
	return true;
}

bool cfg_has_dotdot(const char *path)
{
	const char *s = path;

	while ((s = strstr(s, "..")) != NULL) {
		if ((s == path || s[-1] == '/') && (s[2] == '\0' || s[2] == '/'))
			return true;
		s += 2;
	}
	return false;
}

int cfg_val_abspath(const struct pctx *p, const char *key, const char *v, char *dst,
		       size_t size)
{
	if (v[0] != '/')
		return cfg_perr(p, "%s=%.*s: expected an absolute path", key, QUOTE_MAX, v);
	if (!cfg_printable_ascii(v))
		return cfg_perr(p, "%s: path must be printable ASCII", key);
	if (cfg_has_dotdot(v))
		return cfg_perr(p, "%s=%.*s: \"..\" is not allowed in the path", key, QUOTE_MAX, v);
	if (!str_copy(dst, size, v))
		return cfg_perr(p, "%s: path longer than %zu characters", key, size - 1);
	return 0;
}

/* A library: an absolute path, or a bare soname "lib<name>.so[.N...]" that dlopen searches
 * for in the standard places (ld.so.cache, default directories). */
bool cfg_is_soname(const char *v)
{
	const char *so;

	if (strncmp(v, "lib", 3) != 0 || !cfg_chars_in(v, "_+.-", false))
		return false;
	so = strstr(v + 3, ".so");
	if (!so || so == v + 3)
		return false;
	for (const char *s = so + 3; *s; ) {
		if (*s != '.' || !isdigit((unsigned char)s[1]))
			return false;
		s++;
		while (isdigit((unsigned char)*s))
			s++;
	}
	return true;
}

int cfg_val_library(const struct pctx *p, const char *key, const char *v, char *dst,
		       size_t size)
{
	if (v[0] == '/')
		return cfg_val_abspath(p, key, v, dst, size);
	if (!cfg_is_soname(v))
		return cfg_perr(p, "%s=%.*s: expected an absolute path or a soname like libname.so.12",
			    key, QUOTE_MAX, v);
	if (!str_copy(dst, size, v))
		return cfg_perr(p, "%s: name longer than %zu characters", key, size - 1);
	return 0;
}
