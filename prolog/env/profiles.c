/*
 * profiles.c -- EC2 instance profiles (etc/instance-profiles.conf) and the instance type
 * from DMI. Pure C, libc and strutil only: the SPANK plugin links this module.
 */
#include "env/profiles.h"
#include "core/strutil.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PROFILES_FILE_MAX (1L << 20)    /* a profile table is a few KiB; refuse anything huge */
#define PROFILES_MAX_DEVICES 256
#define PROFILES_MAX_GPUS 64
#define PROFILES_MAX_GBPS 100000.0  /* 100 Tbit/s: far above any EC2 figure */
#define DMI_PRODUCT_NAME "devices/virtual/dmi/id/product_name"

static bool is_glob(const char *s)
{
	return strpbrk(s, "*?[") != NULL;
}

/* Instance type names are like "p5.48xlarge", "p6-b200.48xlarge"; globs add * ? [ ]. */
static bool valid_type_pattern(const char *s)
{
	if (!*s || strlen(s) >= sizeof(((struct instance_profile *)0)->type))
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr(".-_*?[]!", *s))
			return false;
	return true;
}

static int table_append(struct profile_table *t, const struct instance_profile *p)
{
	struct instance_profile *n = realloc(t->p, (t->n + 1) * sizeof(*n));

	if (!n)
		return -1;
	t->p = n;
	t->p[t->n++] = *p;
	return 0;
}

static bool table_has(const struct profile_table *t, const char *type)
{
	for (size_t i = 0; i < t->n; i++)
		if (!strcmp(t->p[i].type, type))
			return true;
	return false;
}

enum profile_key {
	KEY_DEVICES = 1, KEY_GPUS = 2, KEY_RDMA_READ = 4,
	KEY_LOOPBACK = 8, KEY_LINK = 16, KEY_BUSBW = 32,
};

/* The optional bandwidth figures: a positive number (0 would read as "a floor of nothing"). */
static const struct { const char *key; int bit; size_t off; } figure_keys[] = {
	{ "loopback_gbps", KEY_LOOPBACK, offsetof(struct instance_profile, loopback_gbps) },
	{ "link_gbps", KEY_LINK, offsetof(struct instance_profile, link_gbps) },
	{ "busbw_GBps", KEY_BUSBW, offsetof(struct instance_profile, busbw_gbytes) },
};

/* key=<figure>; returns the key's bit, 0 with msg set on a bad value, -1 when not a figure key. */
static int parse_figure(const char *key, const char *val, struct instance_profile *p, char *msg,
			size_t msglen)
{
	for (size_t i = 0; i < sizeof(figure_keys) / sizeof(figure_keys[0]); i++) {
		double x;

		if (strcmp(key, figure_keys[i].key))
			continue;
		if (parse_double(val, 0, PROFILES_MAX_GBPS, &x) || !(x > 0)) {
			str_printf(msg, msglen, "%s=%s: expected a number above 0 and at most %g", key, val,
				PROFILES_MAX_GBPS);
			return 0;
		}
		*(double *)((char *)p + figure_keys[i].off) = x;
		return figure_keys[i].bit;
	}
	return -1;
}

/* Parse one "key=value" word into p; returns the key's bit, or 0 with msg set. */
static int parse_profile_word(char *word, struct instance_profile *p, char *msg, size_t msglen)
{
	char *eq = strchr(word, '=');
	const char *key, *val;
	long n;
	int bit;

	if (!eq) {
		str_printf(msg, msglen, "'%s' is not key=value (devices=, gpus=, rdma_read=)", word);
		return 0;
	}
	*eq = '\0';
	key = word;
	val = eq + 1;
	if (!strcmp(key, "devices")) {
		if (parse_long(val, 0, PROFILES_MAX_DEVICES, &n)) {
			str_printf(msg, msglen, "devices=%s: expected a number 0..%d", val, PROFILES_MAX_DEVICES);
			return 0;
		}
		p->devices = (int)n;
		return KEY_DEVICES;
	}
	if (!strcmp(key, "gpus")) {
		if (parse_long(val, 0, PROFILES_MAX_GPUS, &n)) {
			str_printf(msg, msglen, "gpus=%s: expected a number 0..%d", val, PROFILES_MAX_GPUS);
			return 0;
		}
		p->gpus = (int)n;
		return KEY_GPUS;
	}
	if (!strcmp(key, "rdma_read")) {
		if (strcmp(val, "yes") && strcmp(val, "no")) {
			str_printf(msg, msglen, "rdma_read=%s: expected yes or no", val);
			return 0;
		}
		p->rdma_read = !strcmp(val, "yes");
		return KEY_RDMA_READ;
	}
	if ((bit = parse_figure(key, val, p, msg, msglen)) >= 0)
		return bit;
	str_printf(msg, msglen, "unknown key '%s' (devices, gpus, rdma_read, loopback_gbps, link_gbps, "
		"busbw_GBps)", key);
	return 0;
}

/* Parse one line (comment already stripped, not empty) into p. 0, or -1 with msg set. */
static int parse_profile_line(char *line, struct instance_profile *p, char *msg, size_t msglen)
{
	char *save = NULL, *word;
	int seen = 0, bit;

	memset(p, 0, sizeof(*p));
	word = strtok_r(line, " \t", &save);
	if (!valid_type_pattern(word)) {
		str_printf(msg, msglen, "'%s' is not an instance type or glob (letters, digits, . - _ * ? [ ])",
			word);
		return -1;
	}
	str_copy(p->type, sizeof(p->type), word);
	while ((word = strtok_r(NULL, " \t", &save))) {
		if (!(bit = parse_profile_word(word, p, msg, msglen)))
			return -1;
		if (seen & bit) {
			str_printf(msg, msglen, "%s: '%s' given twice", p->type, word);
			return -1;
		}
		seen |= bit;
	}
	if (!(seen & KEY_DEVICES) || !(seen & KEY_GPUS) || !(seen & KEY_RDMA_READ)) {
		str_printf(msg, msglen, "%s: missing %s%s%s", p->type,
			seen & KEY_DEVICES ? "" : "devices= ", seen & KEY_GPUS ? "" : "gpus= ",
			seen & KEY_RDMA_READ ? "" : "rdma_read=");
		return -1;
	}
	return 0;
}

static void strip_comment(char *line)
{
	char *hash = strchr(line, '#');

	if (hash)
		*hash = '\0';
}

int profiles_parse(struct profile_table *t, const char *text, const char *name, char *err, size_t errlen)
{
	char *copy = NULL, *line, *next;
	char msg[256];
	int lineno = 0;

	memset(t, 0, sizeof(*t));
	if (!name)
		name = "instance-profiles";
	copy = strdup(text ? text : "");
	if (!copy) {
		str_printf(err, errlen, "%s: out of memory", name);
		goto fail;
	}
	for (line = copy; line; line = next) {
		struct instance_profile p;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		lineno++;
		strip_comment(line);
		str_trim(line);
		if (!*line)
			continue;
		for (const char *c = line; *c; c++) {
			if (!isprint((unsigned char)*c) && *c != '\t') {
				str_printf(err, errlen, "%s:%d: control or non-ASCII character", name, lineno);
				goto fail;
			}
		}
		if (parse_profile_line(line, &p, msg, sizeof(msg))) {
			str_printf(err, errlen, "%s:%d: %s", name, lineno, msg);
			goto fail;
		}
		if (table_has(t, p.type)) {
			str_printf(err, errlen, "%s:%d: %s: duplicate profile", name, lineno, p.type);
			goto fail;
		}
		if (table_append(t, &p)) {
			str_printf(err, errlen, "%s:%d: out of memory", name, lineno);
			goto fail;
		}
	}
	free(copy);
	return 0;
fail:
	free(copy);
	profiles_free(t);
	return -1;
}

/* Read a whole regular file (not a symlink, bounded size) into a NUL-terminated buffer. */
static char *read_profiles_file(const char *path, char *err, size_t errlen)
{
	struct stat st;
	char *buf = NULL;
	size_t used = 0;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	if (fd < 0) {
		str_printf(err, errlen, "%s: cannot open instance profiles: %s (check InstanceProfiles=)",
			path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size > PROFILES_FILE_MAX) {
		str_printf(err, errlen, "%s: instance profiles must be a regular file under %ld bytes",
			path, PROFILES_FILE_MAX);
		goto fail;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		str_printf(err, errlen, "%s: out of memory", path);
		goto fail;
	}
	while (used < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + used, (size_t)st.st_size - used);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			str_printf(err, errlen, "%s: read error: %s", path, n < 0 ? strerror(errno) : "short read");
			goto fail;
		}
		used += (size_t)n;
	}
	buf[used] = '\0';
	if (strlen(buf) != used) {
		str_printf(err, errlen, "%s: contains a NUL byte", path);
		goto fail;
	}
	close(fd);
	return buf;
fail:
	free(buf);
	close(fd);
	return NULL;
}

int profiles_load(struct profile_table *t, const char *path, char *err, size_t errlen)
{
	char *text;
	int rc;

	if (!path || !*path)
		return profiles_parse(t, efa_builtin_profiles, "built-in instance-profiles.conf", err, errlen);
	memset(t, 0, sizeof(*t));
	text = read_profiles_file(path, err, errlen);
	if (!text)
		return -1;
	rc = profiles_parse(t, text, path, err, errlen);
	free(text);
	return rc;
}

void profiles_free(struct profile_table *t)
{
	if (!t)
		return;
	free(t->p);
	t->p = NULL;
	t->n = 0;
}

int profiles_lookup(const struct profile_table *t, const char *type, struct instance_profile *out)
{
	if (!t || !type || !*type)
		return -1;
	for (size_t i = 0; i < t->n; i++) {
		if (!is_glob(t->p[i].type) && !strcmp(t->p[i].type, type)) {
			if (out)
				*out = t->p[i];
			return 0;
		}
	}
	for (size_t i = 0; i < t->n; i++) {
		if (is_glob(t->p[i].type) && fnmatch(t->p[i].type, type, 0) == 0) {
			if (out)
				*out = t->p[i];
			return 0;
		}
	}
	return -1;
}

static bool printable_ascii(const char *s)
{
	for (; *s; s++)
		if (!isprint((unsigned char)*s) || (unsigned char)*s > 126)
			return false;
	return true;
}

int instance_type_read(const char *sysfs_root, char *buf, size_t size)
{
	char tmp[128];
	int rootfd;
	long n;

	if (!buf || size == 0)
		return -1;
	buf[0] = '\0';
	if (!sysfs_root || !*sysfs_root)
		sysfs_root = "/sys";
	rootfd = open(sysfs_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return -1;
	n = read_small_file_at(rootfd, DMI_PRODUCT_NAME, tmp, sizeof(tmp));
	close(rootfd);
	if (n < 0)
		return -1;
	str_trim(tmp);
	if (!tmp[0] || !printable_ascii(tmp))
		return -1;
	if (!str_copy(buf, size, tmp)) {
		buf[0] = '\0';
		return -1;
	}
	return 0;
}
