/*
 * config_parse.h -- the parts of the efa-check.conf parser (private to core/config*.c):
 *   config.c         lines, NodeName scoping, the two passes, loading the file (config.h)
 *   config_keys.c    one handler per key, and the table of keys
 *   config_values.c  strict parsers of values, each with a file:line error
 */
#ifndef EFA_CHECK_CONFIG_PARSE_H
#define EFA_CHECK_CONFIG_PARSE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/config.h"

#define CONFIG_LINE_MAX   4096
#define CONFIG_FILE_MAX   (1024 * 1024)
#define CONFIG_DOMAINS_MAX 1024
#define CONFIG_DOMAIN_LEN  63
#define CONFIG_ENV_MAX     256
#define CONFIG_ENV_NAME_MAX 127
#define QUOTE_MAX          64      /* bytes of an offending word echoed in an error */

#define CFG_LONG_MAX __LONG_MAX__
#define CFG_LONG_MIN (-__LONG_MAX__ - 1L)

#define KIB 1024L
#define MIB (1024L * 1024L)
#define GIB (1024L * 1024L * 1024L)

#define CONFIG_KEYS_MAX 64     /* a line's seen-key bitmask */

/* Where the parser is, for messages, and the NodeName lines that match this node. */
struct pctx {
	const char *name;        /* file name for messages */
	unsigned line;           /* 1-based line number, 0 = whole file */
	char *err;
	size_t errlen;
	unsigned *matched;       /* pass 1: the NodeName lines that match this node, in order */
	size_t nmatched, cap;
	size_t next;             /* pass 2: the next of them */
};

/* Print "file:line: message" into p->err; returns -1. */
int cfg_perr(const struct pctx *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

int cfg_val_long(const struct pctx *p, const char *key, const char *v, long min, long max,
		 long *out);
int cfg_val_int(const struct pctx *p, const char *key, const char *v, long min, long max,
		int *out);
int cfg_val_int_auto(const struct pctx *p, const char *key, const char *v, long max, int *out);
/* "auto" -> CONFIG_AUTO, else a number 0..max. */
int cfg_val_double_auto(const struct pctx *p, const char *key, const char *v, double max,
			double *out);
int cfg_val_double(const struct pctx *p, const char *key, const char *v, double min, double max,
		   double *out);
int cfg_parse_bytes(const char *v, long *out);
int cfg_val_bytes(const struct pctx *p, const char *key, const char *v, long min, long max,
		  const char *range, long *out);
int cfg_val_bool(const struct pctx *p, const char *key, const char *v, bool *out);
bool cfg_chars_in(const char *s, const char *extra, bool lower_only);
bool cfg_printable_ascii(const char *s);
bool cfg_has_dotdot(const char *path);
int cfg_val_abspath(const struct pctx *p, const char *key, const char *v, char *dst,
		    size_t size);
bool cfg_is_soname(const char *v);
int cfg_val_library(const struct pctx *p, const char *key, const char *v, char *dst,
		    size_t size);

typedef int (*key_fn)(struct efa_config *c, const struct pctx *p, const char *key,
		      const char *v);

struct key_def {
	const char *name;
	key_fn fn;
	bool repeatable;        /* may appear more than once on a line */
};

/* Free c's Domains= list. */
void cfg_free_domains(struct efa_config *c);

/* The key named name[0..len) (any case), its index in *idx; NULL when unknown. */
const struct key_def *cfg_find_key(const char *name, size_t len, size_t *idx);

#endif
