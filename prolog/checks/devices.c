/*
 * devices.c -- EFA devices from sysfs, their port state and hardware counters, and the
 * "devices" check.
 *
 * sysfs files relied on (sysfs_root stands for /sys):
 *   class/infiniband/<dev>                 symlink to the device's directory (ib_core)
 *   class/infiniband/<dev>/device          symlink to the PCI function, "0000:10:1b.0"
 *   class/infiniband/<dev>/device/driver   symlink whose last component is "efa"
 *   class/infiniband/<dev>/device/vendor   "0x1d0f" (Amazon), device "0xefa0".."0xefa4"
 *                                          (efa_main.c efa_pci_tbl; 0xefa4 from amzn-drivers)
 *   class/infiniband/<dev>/ports/1/state   "4: ACTIVE" (ib_core sysfs.c state_show:
 *                                          "%d: %s", NOP DOWN INIT ARMED ACTIVE ACTIVE_DEFER).
 *                                          Read and reported, never a fault: the efa driver's
 *                                          efa_query_port (amzn-drivers efa_verbs.c) sets
 *                                          IB_PORT_ACTIVE / LINK_UP unconditionally.
 *   class/infiniband/<dev>/ports/1/hw_counters/<name>  one decimal u64 per file (efa_verbs.c
 *                                          EFA_DEFINE_PORT_STATS; device-wide, counters.c)
 *   class/infiniband/<dev>/device/p2p      efa_sysfs.c p2p_show: the GPUDirect provider
 *   bus/pci/devices/<bdf>/{vendor,device}  to name an EFA PCI function that has no ib device
 * Device names follow rdma-core's rdma_rename NAME_PCI: "rdmap<bus>s<slot>" in decimal
 * (udev renames efa_0 to rdmap16s27 for PCI 0000:10:1b.0).
 */
#include "checks/devices.h"
#include "checks/check.h"
#include "core/supervise.h"
#include "core/config.h"
#include "env/profiles.h"
#include "core/report.h"
#include "core/strutil.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define AMAZON_PCI_VENDOR "0x1d0f"
#define EFA_PORT_STATE_ACTIVE 4
#define DEVICES_MAX 1024            /* far above any instance (p5: 32) */
#define NAME_LIST_MAX 110           /* bytes of device names in a drain reason */

static const char *const efa_pci_device_ids[] = {
	"0xefa0", "0xefa1", "0xefa2", "0xefa3", "0xefa4",
};

/* The port counters that mean trouble (efa_verbs.c EFA_DEFINE_PORT_STATS): the names of
 * config.h EFA_RATE_COUNTER_NAMES. The last three exist from driver r2.17.0; a missing file is
 * skipped. rdma_read_wr_err / rdma_write_wr_err are left out: they count work requests that
 * applications got wrong, on the whole device. */
static const char *const efa_error_counters[] = EFA_RATE_COUNTER_NAMES;

static const char *sysfs_or_default(const char *sysfs_root)
{
	return sysfs_root && *sysfs_root ? sysfs_root : "/sys";
}

/* Names come from directory entries: accept only what a device name can look like. */
static bool valid_device_name(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len >= EFA_DEV_NAME_MAX || s[0] == '.')
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-' && *s != '.')
			return false;
	return true;
}

/* "0000:10:1b.0" */
static bool parse_pci_addr(const char *s, unsigned *domain, unsigned *bus, unsigned *slot, unsigned *func)
{
	char tail;

	if (strlen(s) != 12)
		return false;
	for (int i = 0; i < 12; i++) {
		bool sep = i == 4 || i == 7 || i == 10;

		if (sep ? s[i] != (i == 10 ? '.' : ':') : !isxdigit((unsigned char)s[i]))
			return false;
	}
	return sscanf(s, "%4x:%2x:%2x.%1x%c", domain, bus, slot, func, &tail) == 4;
}

/* The name rdma-core's rdma_rename gives a PCI function (NAME_PCI, no onboard index). */
static void pci_addr_to_device_name(const char *pci, char *name, size_t size)
{
	unsigned domain, bus, slot, func;

	name[0] = '\0';
	if (!parse_pci_addr(pci, &domain, &bus, &slot, &func))
		return;
	if (domain)
		snprintf(name, size, "rdmaP%up%us%u", domain, bus, slot);
	else
		snprintf(name, size, "rdmap%us%u", bus, slot);
	if (func)
		str_appendf(name, size, "f%u", func);
}

/* Last path component of symlink at dirfd/path, or "" if it is not a symlink. */
static void readlink_basename(int dirfd, const char *path, char *out, size_t size)
{
	char target[512];
	ssize_t n = readlinkat(dirfd, path, target, sizeof(target) - 1);
	const char *base;

	out[0] = '\0';
	if (n <= 0)
		return;
	target[n] = '\0';
	base = strrchr(target, '/');
	str_copy(out, size, base ? base + 1 : target);
}

static bool is_efa_pci_id(const char *vendor, const char *device)
{
	if (strcmp(vendor, AMAZON_PCI_VENDOR))
		return false;
	for (size_t i = 0; i < sizeof(efa_pci_device_ids) / sizeof(efa_pci_device_ids[0]); i++)
		if (!strcmp(device, efa_pci_device_ids[i]))
			return true;
	return false;
}

/* PCI vendor/device of the function at dirfd/prefix ("device/" or ""). */
static bool pci_function_is_efa(int dirfd, const char *prefix)
{
	char path[64], vendor[16], device[16];

	snprintf(path, sizeof(path), "%svendor", prefix);
	if (read_small_file_at(dirfd, path, vendor, sizeof(vendor)) < 0)
		return false;
	snprintf(path, sizeof(path), "%sdevice", prefix);
	if (read_small_file_at(dirfd, path, device, sizeof(device)) < 0)
		return false;
	return is_efa_pci_id(vendor, device);
}

/* An ib device is EFA when its PCI function is bound to the efa driver; when the driver
 * link cannot be read, the PCI ids decide. */
static bool ib_device_is_efa(int devfd)
{
	char driver[64];

	readlink_basename(devfd, "device/driver", driver, sizeof(driver));
	if (driver[0])
		return !strcmp(driver, "efa");
	return pci_function_is_efa(devfd, "device/");
}

/* "4: ACTIVE" -> 4, "ACTIVE". Strict: digits, ": ", upper-case name. */
static int parse_port_state(const char *s, int *state, char *name, size_t size)
{
	const char *p = s;
	long v;
	char num[8];
	size_t n = 0;

	while (isdigit((unsigned char)*p) && n < sizeof(num) - 1)
		num[n++] = *p++;
	num[n] = '\0';
	if (n == 0 || p[0] != ':' || p[1] != ' ' || parse_long(num, 0, 255, &v))
		return -1;
	p += 2;
	if (!*p)
		return -1;
	for (const char *c = p; *c; c++)
		if (!isupper((unsigned char)*c) && *c != '_')
			return -1;
	*state = (int)v;
	str_copy(name, size, p);
	return 0;
}

static void read_port_state(int devfd, struct efa_device *d)
{
	char buf[64];

	d->port_state = -1;
	str_copy(d->port_state_name, sizeof(d->port_state_name), "UNREADABLE");
	if (read_small_file_at(devfd, "ports/1/state", buf, sizeof(buf)) < 0)
		return;
	if (parse_port_state(buf, &d->port_state, d->port_state_name, sizeof(d->port_state_name))) {
		d->port_state = -1;
		str_copy(d->port_state_name, sizeof(d->port_state_name), "UNPARSABLE");
		return;
	}
	d->active = d->port_state == EFA_PORT_STATE_ACTIVE;
}

static void read_pci_device_id(int devfd, struct efa_device *d)
{
	char buf[16], *end;
	unsigned long v;

	d->pci_device_id = -1;
	if (read_small_file_at(devfd, "device/device", buf, sizeof(buf)) < 0 || strncmp(buf, "0x", 2))
		return;
	v = strtoul(buf + 2, &end, 16);
	if (end != buf + 2 && !*end && v <= 0xffff)
		d->pci_device_id = (int)v;
}

/* amzn-drivers kernel/linux/efa/src/efa_sysfs.c p2p_show: "%s\n" of
 * efa_p2p_provider_string() (efa_p2p.c: the first provider available, "NVIDIA" or
 * "NVIDIA peermem" from efa_nvmem_impl.h, "NEURON", or "" when none is). The file exists
 * only in drivers built with P2P support (HAVE_EFA_P2P). */
static void read_p2p(int devfd, struct efa_device *d)
{
	char buf[32];

	d->p2p[0] = '\0';
	d->has_p2p_file = read_small_file_at(devfd, "device/p2p", buf, sizeof(buf)) >= 0;
	if (!d->has_p2p_file)
		return;
	for (char *c = buf; *c; c++)
		if (!isprint((unsigned char)*c))
			*c = '?';
	str_copy(d->p2p, sizeof(d->p2p), buf);
}

/* Compare names with digit runs as numbers: rdmap16s27 < rdmap32s27 < rdmap144s27. */
static int natural_compare(const char *a, const char *b)
{
	while (*a && *b) {
		if (isdigit((unsigned char)*a) && isdigit((unsigned char)*b)) {
			size_t la, lb;

			while (*a == '0' && isdigit((unsigned char)a[1]))
				a++;
			while (*b == '0' && isdigit((unsigned char)b[1]))
				b++;
			for (la = 0; isdigit((unsigned char)a[la]); la++)
				;
			for (lb = 0; isdigit((unsigned char)b[lb]); lb++)
				;
			if (la != lb)
				return la < lb ? -1 : 1;
			int c = strncmp(a, b, la);
			if (c)
				return c;
			a += la;
			b += lb;
			continue;
		}
		if (*a != *b)
			return (unsigned char)*a - (unsigned char)*b;
		a++;
		b++;
	}
	return (unsigned char)*a - (unsigned char)*b;
}

static int compare_devices(const void *a, const void *b)
{
	return natural_compare(((const struct efa_device *)a)->name, ((const struct efa_device *)b)->name);
}

static int list_append(struct efa_device_list *l, const struct efa_device *d)
{
	struct efa_device *n;

	if (l->n >= DEVICES_MAX)
		return -1;
	n = realloc(l->dev, (l->n + 1) * sizeof(*n));
	if (!n)
		return -1;
	l->dev = n;
	l->dev[l->n++] = *d;
	return 0;
}

/* Fill d from class/infiniband/<name>; returns 1 if it is an EFA device, 0 if not. */
static int probe_ib_device(int classfd, const char *name, struct efa_device *d)
{
	int devfd;

	memset(d, 0, sizeof(*d));
	/* class/infiniband/<name> is a symlink into devices/: following it is intended. */
	devfd = openat(classfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (devfd < 0)
		return 0;
	if (!ib_device_is_efa(devfd)) {
		close(devfd);
		return 0;
	}
	str_copy(d->name, sizeof(d->name), name);
	readlink_basename(devfd, "device", d->pci_addr, sizeof(d->pci_addr));
	{
		unsigned dom, bus, slot, func;

		if (!parse_pci_addr(d->pci_addr, &dom, &bus, &slot, &func))
			d->pci_addr[0] = '\0';
	}
	read_pci_device_id(devfd, d);
	read_p2p(devfd, d);
	read_port_state(devfd, d);
	close(devfd);
	return 1;
}

int devices_scan(const char *sysfs_root, struct efa_device_list *out, char *err, size_t errlen)
{
	const char *root = sysfs_or_default(sysfs_root);
	char path[4096];
	struct dirent *de;
	DIR *dir = NULL;
	int classfd;

	memset(out, 0, sizeof(*out));
	snprintf(path, sizeof(path), "%s/class/infiniband", root);
	classfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (classfd < 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	dir = fdopendir(classfd);
	if (!dir) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		close(classfd);
		return -1;
	}
	while ((errno = 0, de = readdir(dir))) {
		struct efa_device d;

		if (!valid_device_name(de->d_name))
			continue;
		if (probe_ib_device(classfd, de->d_name, &d) != 1)
			continue;
		if (list_append(out, &d)) {
			snprintf(err, errlen, "%s: too many devices or out of memory", path);
			goto fail;
		}
	}
	if (errno) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	closedir(dir);
	if (out->n > 1)
		qsort(out->dev, out->n, sizeof(out->dev[0]), compare_devices);
	return 0;
fail:
	closedir(dir);
	devices_free(out);
	return -1;
}

void devices_free(struct efa_device_list *l)
{
	if (!l)
		return;
	free(l->dev);
	l->dev = NULL;
	l->n = 0;
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!isdigit((unsigned char)s[0]))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

int devices_read_counters(const char *sysfs_root, const char *dev, struct efa_counter *out, int max)
{
	char path[4096], buf[32];
	int dirfd, n = 0;

	if (!dev || !valid_device_name(dev) || max <= 0)
		return 0;
	snprintf(path, sizeof(path), "%s/class/infiniband/%s/ports/1/hw_counters",
		 sysfs_or_default(sysfs_root), dev);
	dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return 0;
	for (size_t i = 0; i < sizeof(efa_error_counters) / sizeof(efa_error_counters[0]) && n < max; i++) {
		uint64_t v;

		if (read_small_file_at(dirfd, efa_error_counters[i], buf, sizeof(buf)) < 0)
			continue;
		if (parse_u64(buf, &v))
			continue;
		str_copy(out[n].name, sizeof(out[n].name), efa_error_counters[i]);
		out[n].value = v;
		n++;
	}
	close(dirfd);
	return n;
}

void domain_to_device(const char *domain, char *dev, size_t size)
{
	static const char *const suffixes[] = { "-rdm", "-dgrm" };
	size_t len;

	if (!dev || size == 0)
		return;
	str_copy(dev, size, domain ? domain : "");
	len = strlen(dev);
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		size_t sl = strlen(suffixes[i]);

		if (len > sl && !strcmp(dev + len - sl, suffixes[i])) {
			dev[len - sl] = '\0';
			return;
		}
	}
}

/* ---- the devices check ---------------------------------------------------------------- */

/* Do the present devices carry rdma_rename NAME_PCI names (rdmap16s27 for 0000:10:1b.0)?
 * Only then can a missing device's name be predicted from its PCI address; with kernel
 * names (efa_0, ...) the PCI address itself names it. */
static bool devices_use_pci_names(const struct efa_device_list *l)
{
	char name[EFA_DEV_NAME_MAX];

	for (size_t i = 0; i < l->n; i++) {
		pci_addr_to_device_name(l->dev[i].pci_addr, name, sizeof(name));
		if (!name[0] || strcmp(name, l->dev[i].name))
			return false;
	}
	return true;
}

/* EFA PCI functions in bus/pci/devices that no scanned ib device sits on: the names the
 * missing devices would have (or their PCI addresses, see devices_use_pci_names).
 * Writes "rdmap144s27, ..." into names, returns how many. */
static int find_unregistered_efa_functions(const char *sysfs_root, const struct efa_device_list *l,
					    char *names, size_t size)
{
	char path[4096];
	struct dirent *de;
	DIR *dir;
	int fd, count = 0;
	bool pci_names = devices_use_pci_names(l);

	names[0] = '\0';
	snprintf(path, sizeof(path), "%s/bus/pci/devices", sysfs_or_default(sysfs_root));
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	dir = fdopendir(fd);
	if (!dir) {
		close(fd);
		return 0;
	}
	while ((de = readdir(dir))) {
		unsigned dom, bus, slot, func;
		char name[EFA_DEV_NAME_MAX], prefix[64];
		bool known = false;

		if (!parse_pci_addr(de->d_name, &dom, &bus, &slot, &func))
			continue;
		str_copy(prefix, sizeof(prefix), de->d_name);    /* 12 characters, checked above */
		str_appendf(prefix, sizeof(prefix), "/");
		if (!pci_function_is_efa(fd, prefix))
			continue;
		for (size_t i = 0; i < l->n && !known; i++)
			known = !strcmp(l->dev[i].pci_addr, de->d_name);
		if (known)
			continue;
		if (pci_names)
			pci_addr_to_device_name(de->d_name, name, sizeof(name));
		else
			str_copy(name, sizeof(name), de->d_name);
		str_appendf(names, size, "%s%s", count ? ", " : "", name);
		count++;
	}
	closedir(dir);
	return count;
}

static bool provider_is_efa(const char *provider)
{
	if (!provider[0])
		return true;    /* the default provider is efa */
	return !strncmp(provider, "efa", 3) && (provider[3] == '\0' || provider[3] == ';');
}

struct expectation {
	int devices;              /* -1 = not enforced */
	char source[160];         /* "ExpectedDevices=4", "instance profile p4d.24xlarge" */
	char note[200];           /* why not enforced */
};

/* The expected device count: ExpectedDevices, else the instance profile. -1 with err set
 * when the profile table itself is broken (a configuration error). */
static int expected_devices(const struct efa_config *cfg, const char *sysfs_root,
			    struct expectation *e, char *err, size_t errlen)
{
	struct profile_table t;
	struct instance_profile p;
	char type[64];

	memset(e, 0, sizeof(*e));
	e->devices = -1;
	if (cfg->expected_devices >= 0) {
		e->devices = cfg->expected_devices;
		snprintf(e->source, sizeof(e->source), "ExpectedDevices=%d", cfg->expected_devices);
		return 0;
	}
	if (cfg->instance_type[0])
		str_copy(type, sizeof(type), cfg->instance_type);
	else if (instance_type_read(sysfs_root, type, sizeof(type)) < 0) {
		snprintf(e->note, sizeof(e->note),
			 "instance type unknown (no %s/devices/virtual/dmi/id/product_name); "
			 "set InstanceType or ExpectedDevices", sysfs_or_default(sysfs_root));
		return 0;
	}
	if (profiles_load(&t, cfg->instance_profiles, err, errlen))
		return -1;
	if (profiles_lookup(&t, type, &p) == 0) {
		e->devices = p.devices;
		snprintf(e->source, sizeof(e->source), "instance profile %s", p.type);
	} else {
		snprintf(e->note, sizeof(e->note),
			 "instance type %s has no profile; set ExpectedDevices", type);
	}
	profiles_free(&t);
	return 0;
}

/* Append "name" to a bounded list; counts what did not fit in *dropped. */
static void bounded_list_add(char *list, size_t size, const char *item, int *dropped)
{
	size_t used = strlen(list), need = strlen(item) + (used ? 2 : 0);

	if (*dropped || used + need >= size || used + need > NAME_LIST_MAX) {
		(*dropped)++;
		return;
	}
	str_appendf(list, size, "%s%s", used ? ", " : "", item);
}

static void bounded_list_finish(char *list, size_t size, int dropped)
{
	if (dropped)
		str_appendf(list, size, " +%d more", dropped);
}

/* "; GPUDirect p2p: NVIDIA peermem" -- what device/p2p says (same on every device of one
 * driver: efa_p2p_provider_string is global). Nothing when no device has the file. */
static void describe_p2p(const struct efa_device_list *l, char *out, size_t size)
{
	const struct efa_device *with = NULL;

	out[0] = '\0';
	for (size_t i = 0; i < l->n && !with; i++)
		if (l->dev[i].has_p2p_file)
			with = &l->dev[i];
	if (!with)
		return;
	snprintf(out, size, "; GPUDirect p2p: %s", with->p2p[0] ? with->p2p : "none (no peer-memory provider loaded)");
}

static void fail_missing_devices(struct check_result *c, const char *sysfs_root,
				 const struct efa_device_list *l, const struct expectation *e,
				 const char *down_reason)
{
	char names[CHECK_REASON_MAX] = "";
	char all[CHECK_DETAIL_MAX] = "";
	int named = find_unregistered_efa_functions(sysfs_root, l, all, sizeof(all));
	int dropped = 0;

	if (named > 0) {
		char *save = NULL, *tok, copy[CHECK_DETAIL_MAX];

		str_copy(copy, sizeof(copy), all);
		for (tok = strtok_r(copy, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save))
			bounded_list_add(names, sizeof(names), tok, &dropped);
		bounded_list_finish(names, sizeof(names), dropped);
	}
	str_appendf(c->detail, sizeof(c->detail),
		    "%zu/%d EFA devices present (expected %d from %s)", l->n, e->devices, e->devices,
		    e->source);
	if (named > 0)
		str_appendf(c->detail, sizeof(c->detail),
			    "; missing: %s (EFA PCI function without an efa ib device: check "
			    "`lspci -d 1d0f:` and dmesg for the efa driver)", all);
	else
		str_appendf(c->detail, sizeof(c->detail),
			    "; the missing interfaces are not on the PCI bus: check the EFA network "
			    "interfaces attached to the instance");
	if (named > 0)
		check_fail(c, "%zu/%d EFA devices (%s missing)%s%s", l->n, e->devices, names,
			   down_reason[0] ? "; " : "", down_reason);
	else
		check_fail(c, "%zu/%d EFA devices%s%s", l->n, e->devices, down_reason[0] ? "; " : "",
			   down_reason);
}

static void record_metrics(struct check_result *c, const struct efa_device_list *l, int expected)
{
	check_metric(c, "devices", (double)l->n);
	if (expected >= 0)
		check_metric(c, "expected", expected);
}

void devices_check(const struct efa_config *cfg, const char *sysfs_root, struct check_result *c)
{
	struct efa_device_list l = { 0 };
	struct expectation e;
	char err[CONFIG_ERR_MAX], p2p[80];
	bool efa = provider_is_efa(cfg->provider);

	check_init(c, "devices", NULL);
	if (!efa && cfg->expected_devices < 0) {
		check_skip(c, "provider %s: EFA devices not checked (ExpectedDevices=auto applies to "
			   "the efa provider; set ExpectedDevices=N to check them anyway)", cfg->provider);
		return;
	}
	if (expected_devices(cfg, sysfs_root, &e, err, sizeof(err))) {
		check_detail(c, "%s", err);
		check_fail(c, "instance profiles unreadable");
		return;
	}
	if (devices_scan(sysfs_root, &l, err, sizeof(err))) {
		check_detail(c, "cannot list EFA devices: %s", err);
		check_fail(c, "cannot list EFA devices");
		return;
	}
	record_metrics(c, &l, e.devices);
	describe_p2p(&l, p2p, sizeof(p2p));

	/* No port-state verdict: efa_query_port reports ACTIVE whatever the device's state. */
	if (e.devices >= 0 && (int)l.n < e.devices) {
		fail_missing_devices(c, sysfs_root, &l, &e, "");
	} else if (l.n == 0 && e.devices != 0) {
		check_detail(c, "no EFA devices under %s/class/infiniband (is the efa driver loaded? "
			     "are EFA interfaces attached?)%s%s", sysfs_or_default(sysfs_root),
			     e.note[0] ? "; " : "", e.note);
		check_fail(c, "no EFA devices");
	} else if (e.devices < 0) {
		check_detail(c, "%zu EFA device%s present (count not enforced: %s)%s", l.n,
			     l.n == 1 ? "" : "s", e.note, p2p);
	} else if ((int)l.n > e.devices) {
		check_detail(c, "%zu/%d EFA devices present (more than the %d expected from %s)%s", l.n,
			     e.devices, e.devices, e.source, p2p);
	} else {
		check_detail(c, "%zu/%d EFA devices present%s", l.n, e.devices, p2p);
	}
	devices_free(&l);
}

static void devices_run(struct check_ctx *ctx)
{
	struct check_result c;
	int64_t t0 = now_ms();

	progress_begin("devices", NULL);
	devices_check(ctx->cfg, ctx->sysfs_root, &c);
	check_finish(&c, t0);
}

const struct local_check check_devices = { "devices", devices_run, .light = true };
