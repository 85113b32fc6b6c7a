/*
 * config.c -- /etc/slurm/efa-check.conf parser (DESIGN §2, contract in config.h): lines,
 * NodeName scoping, the two passes and the file. Keys: config_keys.c; values: config_values.c.
 *
 * Format: whitespace-separated Key=Value words, several per line; "#" starts a comment
 * anywhere on a line (values cannot contain "#"); keys are case-insensitive, values are
 * case-sensitive except the enumerations (auto, OnFail, yes/no). Quotes are not supported
 * and are rejected. A line is at most CONFIG_LINE_MAX characters, a file at most
 * CONFIG_FILE_MAX bytes; control characters other than tab are an error anywhere.
 *
 * NodeName=<hostlist> as the first word of a line scopes the line's other keys to those nodes.
 * The hostlist is matched with libslurm's slurm_hostlist_find (never expanded into names).
 * NodeName=ALL (any case) matches every node (but not a NULL node name).
 *
 * Two passes: pass 1 applies global lines in file order and validates every NodeName line
 * (into a scratch config), pass 2 applies the matching NodeName lines in file order. So a
 * global line below a NodeName line never overrides it, and a typo on any NodeName line is
 * an error on every node.
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

#include <slurm/slurm.h>

static int remember_match(struct pctx *p)
{
	if (p->nmatched == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 8;
		unsigned *m = realloc(p->matched, cap * sizeof(*m));

		if (!m)
			return cfg_perr(p, "out of memory");
		p->matched = m;
		p->cap = cap;
	}
	p->matched[p->nmatched++] = p->line;
	return 0;
}

/* ---- lines ---------------------------------------------------------------- */

/* Sanity checks before libslurm sees the hostlist: allowed characters, balanced, un-nested,
 * non-empty brackets and no empty list entries (libslurm takes "n[1-" as a literal name).
 *
 * Host suffixes: after a ']' only '[' (another dimension), ',' or the end may follow -- the
 * grammar of Slurm 22.05, whose libslurm rejects "n[1-2]x". From 23.11 libslurm accepts a
 * shared suffix (SchedMD/slurm RELEASE_NOTES 23.11: "Allow for a shared suffix to be used with
 * the hostlist format. E.g., node[0001-0010]-int"), and src/common/hostlist.c
 * _push_range_list then expands the ranges before it into one prefix per host:
 * "n[0000-9999][000-999]-ib" cost 2.2 s and 1.15 GB in `efa-check env` against libslurm
 * 24.11. One grammar on every release, with no allocation proportional to the host count, is
 * worth more here than suffixes; names with a suffix are listed (n1-ib,n2-ib) or matched by
 * a prefix pattern (ib-n[1-2]). */
static int hostlist_syntax(const struct pctx *p, const char *hl)
{
	bool open = false;
	char prev = ',';

	for (const char *s = hl; *s; prev = *s++) {
		if (prev == ']' && *s != '[' && *s != ',')
			return cfg_perr(p, "NodeName=%.*s: text after ']' (host suffixes like n[1-2]x are "
				    "not supported; list such names, e.g. n1-ib,n2-ib)", QUOTE_MAX, hl);
		if (!isalnum((unsigned char)*s) && !strchr("-_.,[]", *s))
			return cfg_perr(p, "NodeName=%.*s: bad character '%c' in hostlist", QUOTE_MAX, hl,
				    *s);
		if ((*s == '[' && open) || (*s == ']' && !open))
			return cfg_perr(p, "NodeName=%.*s: unbalanced brackets in hostlist", QUOTE_MAX,
				    hl);
		if (*s == '[' || *s == ']')
			open = *s == '[';
		if ((*s == ',' || *s == ']') && (prev == ',' || prev == '['))
			return cfg_perr(p, "NodeName=%.*s: empty entry in hostlist", QUOTE_MAX, hl);
		if (*s == '[' && prev == ',')
			return cfg_perr(p, "NodeName=%.*s: bracket without a name prefix", QUOTE_MAX, hl);
	}
	if (open)
		return cfg_perr(p, "NodeName=%.*s: unbalanced brackets in hostlist", QUOTE_MAX, hl);
	if (prev == ',')
		return cfg_perr(p, "NodeName=%.*s: empty entry in hostlist", QUOTE_MAX, hl);
	return 0;
}

/* Validate hl; *match says whether node is in it. */
static int hostlist_match(const struct pctx *p, const char *hl, const char *node, bool *match)
{
	/* Slurm <= 23.02: `typedef struct hostlist *hostlist_t`, 23.11+: `typedef struct hostlist
	 * hostlist_t` and the API takes `hostlist_t *` (SchedMD/slurm slurm/slurm.h,
	 * slurm-23-11-0-1). The type of what slurm_hostlist_create returns is right for both. */
	__typeof__(slurm_hostlist_create("")) h;

	*match = false;
	if (!strcasecmp(hl, "ALL")) {
		*match = node && *node;
		return 0;
	}
	if (hostlist_syntax(p, hl) < 0)
		return -1;
	h = slurm_hostlist_create(hl);
	if (!h)
		return cfg_perr(p, "NodeName=%.*s: libslurm rejects this hostlist (bad range, or a "
			    "range too large; expected e.g. n[1-4,7] or ALL)", QUOTE_MAX, hl);
	if (node && *node)
		*match = slurm_hostlist_find(h, node) >= 0;
	slurm_hostlist_destroy(h);
	return 0;
}

static int check_line_chars(const struct pctx *p, const char *line, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)line[i];

		if (ch == '\r')
			return cfg_perr(p, "carriage return at column %zu (DOS line endings?)", i + 1);
		if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
			return cfg_perr(p, "control character 0x%02x at column %zu", ch, i + 1);
	}
	return 0;
}

/* Apply one Key=Value word. */
static int apply_word(struct efa_config *c, const struct pctx *p, const char *word,
		      uint64_t *seen)
{
	const char *eq = strchr(word, '=');
	const struct key_def *k;
	size_t idx;

	if (!eq)
		return cfg_perr(p, "missing '=' in '%.*s' (expected Key=Value)", QUOTE_MAX, word);
	if (eq == word)
		return cfg_perr(p, "missing key before '=' in '%.*s'", QUOTE_MAX, word);
	if (!strncasecmp(word, "NodeName", (size_t)(eq - word)) && eq - word == 8)
		return cfg_perr(p, "NodeName= must be the first word of its line");
	k = cfg_find_key(word, (size_t)(eq - word), &idx);
	if (!k)
		return cfg_perr(p, "unknown key '%.*s'", (int)(eq - word) < QUOTE_MAX ?
			    (int)(eq - word) : QUOTE_MAX, word);
	if (!eq[1])
		return cfg_perr(p, "%s: empty value", k->name);
	if (!k->repeatable && (*seen & (UINT64_C(1) << idx)))
		return cfg_perr(p, "%s: duplicate key on the same line", k->name);
	*seen |= UINT64_C(1) << idx;
	return k->fn(c, p, k->name, eq + 1);
}

static char *next_word(char **s)
{
	char *w;

	while (**s == ' ' || **s == '\t')
		(*s)++;
	if (!**s)
		return NULL;
	w = *s;
	while (**s && **s != ' ' && **s != '\t')
		(*s)++;
	if (**s)
		*(*s)++ = '\0';
	return w;
}

/*
 * Process one line (modified in place). pass 1: apply global lines to c, validate node lines
 * into scratch. pass 2: apply matching node lines to c.
 */
/* Pass 1 applies the global lines, validates every NodeName line on its own and remembers the
 * ones that match this node; pass 2 is given only those and applies them. */
static int do_line(struct efa_config *c, struct efa_config *scratch, struct pctx *p,
		   char *line, const char *node, int pass)
{
	char *hash, *cur = line, *w;
	uint64_t seen = 0;
	bool match = false;
	struct efa_config *dst = c;

	hash = strchr(line, '#');
	if (hash)
		*hash = '\0';
	if (strpbrk(line, "\"'"))
		return cfg_perr(p, "quotes are not supported");
	w = next_word(&cur);
	if (!w)
		return 0;
	if (!strncasecmp(w, "NodeName=", 9)) {
		if (pass == 1) {
			if (!w[9])
				return cfg_perr(p, "NodeName: empty hostlist");
			if (hostlist_match(p, w + 9, node, &match) < 0)
				return -1;
		}
		w = next_word(&cur);
		if (!w)
			return cfg_perr(p, "NodeName=%.*s: no keys on the line", QUOTE_MAX, line + 9);
		if (pass == 1) {
			if (match && remember_match(p) < 0)
				return -1;
			config_free(scratch);   /* validate each node line on its own */
			dst = scratch;
		}
	}
	for (; w; w = next_word(&cur))
		if (apply_word(dst, p, w, &seen) < 0)
			return -1;
	return 0;
}

static int do_pass(struct efa_config *c, struct efa_config *scratch, struct pctx *p,
		   const char *text, const char *node, int pass)
{
	char line[CONFIG_LINE_MAX + 1];
	const char *s = text, *eol;
	size_t len;

	p->next = 0;
	for (p->line = 1; *s; p->line++) {
		eol = strchr(s, '\n');
		len = eol ? (size_t)(eol - s) : strlen(s);
		if (pass == 1) {
			if (len > CONFIG_LINE_MAX)
				return cfg_perr(p, "line longer than %d characters", CONFIG_LINE_MAX);
			if (check_line_chars(p, s, len) < 0)
				return -1;
		}
		if (pass == 1 || (p->next < p->nmatched && p->matched[p->next] == p->line)) {
			p->next += pass == 2;
			memcpy(line, s, len);
			line[len] = '\0';
			if (do_line(c, scratch, p, line, node, pass) < 0)
				return -1;
		}
		if (!eol)
			break;
		s = eol + 1;
	}
	return 0;
}

/* ---- public API --------------------------------------------------------- */

void config_defaults(struct efa_config *c)
{
	memset(c, 0, sizeof(*c));
	str_copy(c->provider, sizeof(c->provider), "efa");
	c->expected_devices = -1;
	c->expected_gpus = -1;
	c->timeout_s = 30;
	c->cache_ttl_s = 300;
	c->on_fail = ON_FAIL_DRAIN_REQUEUE;
	c->drain_on_internal = false;
	c->resume = true;
	c->retry_transient = true;
	str_copy(c->state_dir, sizeof(c->state_dir), "/run/efa-check");
	c->text_hash = STR_HASH64_INIT;
	c->loopback_max_bytes = MIB;
	c->min_memlock_bytes = 64 * MIB;
	c->loopback_iterations = 100;
	c->nccl_bytes = 128 * MIB;
	c->cross_peers = 0;
	c->sweep_set_size = 8;
	c->sweep_nice = 10000;
	c->sweep_immediate_s = 5;
	c->sweep_timeout_s = 900;
	c->sweep_yield = true;
	str_copy(c->sweep_command, sizeof(c->sweep_command), EFA_CHECK_SBINDIR "/efa-check");
	str_copy(c->sweep_srun, sizeof(c->sweep_srun), "/usr/bin/srun");
	/* per minute and device, sustained over the interval between two runs (counters.c) */
	c->counter_max_rate[0] = 600;    /* rx_drops */
	c->counter_max_rate[1] = 60;     /* retrans_timeout_events */
	c->counter_max_rate[2] = 0;      /* impaired_remote_conn_events: the remote's trouble */
	c->counter_max_rate[3] = 0;      /* unresponsive_remote_events: the remote's trouble */
	c->min_link_fraction = 0.25;
	c->min_device_fraction = 0.25;
	c->on_slow = ON_SLOW_LOG;
	c->flap_count = 3;
	c->flap_window_s = 86400;
}

void config_free(struct efa_config *c)
{
	if (!c)
		return;
	cfg_free_domains(c);
	for (size_t i = 0; i < c->nenv; i++) {
		free(c->env[i].name);
		free(c->env[i].value);
	}
	free(c->env);
	c->env = NULL;
	c->nenv = 0;
}

const char *on_slow_name(enum on_slow s)
{
	return s == ON_SLOW_DRAIN ? "drain" : "log";
}

const char *on_fail_name(enum on_fail f)
{
	switch (f) {
	case ON_FAIL_DRAIN_REQUEUE: return "drain-requeue";
	case ON_FAIL_DRAIN: return "drain";
	case ON_FAIL_LOG: return "log";
	}
	return "unknown";
}

int config_parse_text(struct efa_config *c, const char *text, const char *name, const char *node,
		      char *err, size_t errlen)
{
	struct pctx p = { .name = name ? name : "(config)", .err = err, .errlen = errlen };
	struct efa_config *scratch = NULL;

	if (err && errlen)
		err[0] = '\0';
	config_defaults(c);
	if (strnlen(text, CONFIG_FILE_MAX + 1) > CONFIG_FILE_MAX) {
		cfg_perr(&p, "larger than %d bytes", CONFIG_FILE_MAX);
		goto fail;
	}
	scratch = calloc(1, sizeof(*scratch));
	if (!scratch) {
		cfg_perr(&p, "out of memory");
		goto fail;
	}
	config_defaults(scratch);
	if (do_pass(c, scratch, &p, text, node, 1) < 0 || do_pass(c, scratch, &p, text, node, 2) < 0)
		goto fail;
	config_free(scratch);
	free(scratch);
	free(p.matched);
	str_copy(c->path, sizeof(c->path), p.name);
	c->text_hash = str_hash64(STR_HASH64_INIT, text, strlen(text));
	return 0;
fail:
	if (scratch)
		config_free(scratch);
	free(scratch);
	free(p.matched);
	config_free(c);
	config_defaults(c);
	return -1;
}

static int check_file(const struct pctx *p, int fd)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return cfg_perr(p, "%s", strerror(errno));
	if (!S_ISREG(st.st_mode))
		return cfg_perr(p, "not a regular file");
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		return cfg_perr(p, "writable by group or others; chmod go-w");
	if (geteuid() == 0 && st.st_uid != 0)
		return cfg_perr(p, "not owned by root (uid %u); chown root", (unsigned)st.st_uid);
	if (st.st_size > CONFIG_FILE_MAX)
		return cfg_perr(p, "larger than %d bytes", CONFIG_FILE_MAX);
	return 0;
}

/* Read the whole file (at most CONFIG_FILE_MAX bytes) into a NUL-terminated buffer. */
static char *read_all(const struct pctx *p, int fd)
{
	char *buf = malloc(CONFIG_FILE_MAX + 2);
	size_t n = 0;
	ssize_t r;
	struct pctx lp = *p;
	char *nul;

	if (!buf) {
		cfg_perr(p, "out of memory");
		return NULL;
	}
	while (n <= CONFIG_FILE_MAX) {
		r = read(fd, buf + n, CONFIG_FILE_MAX + 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			cfg_perr(p, "read: %s", strerror(errno));
			goto fail;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > CONFIG_FILE_MAX) {
		cfg_perr(p, "larger than %d bytes", CONFIG_FILE_MAX);
		goto fail;
	}
	buf[n] = '\0';
	nul = memchr(buf, '\0', n);
	if (nul) {
		lp.line = 1;
		for (const char *s = buf; s < nul; s++)
			lp.line += *s == '\n';
		cfg_perr(&lp, "NUL byte in the file");
		goto fail;
	}
	return buf;
fail:
	free(buf);
	return NULL;
}

/*
 * Symlinks: the last path component may be a symlink (some sites link /etc/slurm files to
 * a shared configuration tree); the checks apply to the file actually opened (fstat), which
 * must be a regular file, not writable by group/others, and owned by root when we are root.
 * O_NONBLOCK keeps a FIFO from blocking the open before it is refused.
 */
int config_load(struct efa_config *c, const char *path, const char *node, bool must_exist,
		char *err, size_t errlen)
{
	struct pctx p = { .name = path, .err = err, .errlen = errlen };
	char *text = NULL;
	int fd, rc;

	if (err && errlen)
		err[0] = '\0';
	config_defaults(c);
	if (!path || !*path) {
		p.name = "efa-check";
		return cfg_perr(&p, "no configuration file name");
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ENOENT && !must_exist)
			return 0;
		return cfg_perr(&p, "%s", strerror(errno));
	}
	if (check_file(&p, fd) < 0)
		goto fail;
	text = read_all(&p, fd);
	if (!text)
		goto fail;
	close(fd);
	rc = config_parse_text(c, text, path, node, err, errlen);
	free(text);
	return rc;
fail:
	close(fd);
	return -1;
}

