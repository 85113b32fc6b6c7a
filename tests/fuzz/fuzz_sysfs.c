/* libFuzzer target: sysfs parsing. The input becomes the contents of an EFA device's port
 * state, a hardware counter and the DMI product name in a scratch sysfs tree, then the
 * device scan, the counter reader and the instance-type reader parse them. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checks/devices.h"
#include "env/profiles.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char root[64];

static void mkpath(const char *rel)
{
	char path[512], *p;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	for (p = path + strlen(root) + 1; *p; p++) {
		if (*p == '/') {
			*p = '\0';
			mkdir(path, 0755);
			*p = '/';
		}
	}
	mkdir(path, 0755);
}

static void put(const char *rel, const uint8_t *data, size_t size)
{
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		abort();
	if (size && write(fd, data, size) < 0)
		abort();
	close(fd);
}

static void setup_once(void)
{
	char link[512], drv[512];

	if (root[0])
		return;
	snprintf(root, sizeof(root), "/tmp/efa-fuzz-sysfs.%d", (int)getpid());
	if (mkdir(root, 0755) < 0 && errno != EEXIST)
		abort();
	mkpath("class/infiniband/rdmap16s27/ports/1/hw_counters");
	mkpath("bus/pci/drivers/efa");
	mkpath("devices/virtual/dmi/id");
	snprintf(link, sizeof(link), "%s/class/infiniband/rdmap16s27/device", root);
	mkpath("devices/pci0000:00/0000:10:1b.0");
	snprintf(drv, sizeof(drv), "%s/devices/pci0000:00/0000:10:1b.0/driver", root);
	if (symlink("../../../bus/pci/drivers/efa", drv) < 0 && errno != EEXIST)
		abort();
	unlink(link);
	if (symlink("../../../devices/pci0000:00/0000:10:1b.0", link) < 0 && errno != EEXIST)
		abort();
	put("devices/pci0000:00/0000:10:1b.0/vendor", (const uint8_t *)"0x1d0f\n", 7);
	put("devices/pci0000:00/0000:10:1b.0/device", (const uint8_t *)"0xefa1\n", 7);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct efa_device_list l = { 0 };
	struct efa_counter counters[EFA_COUNTERS_MAX];
	char err[256], type[64];
	size_t third = size / 3;

	setup_once();
	put("class/infiniband/rdmap16s27/ports/1/state", data, third);
	put("class/infiniband/rdmap16s27/ports/1/hw_counters/rx_drops", data + third, third);
	put("devices/virtual/dmi/id/product_name", data + 2 * third, size - 2 * third);
	if (devices_scan(root, &l, err, sizeof(err)) == 0)
		devices_free(&l);
	devices_read_counters(root, "rdmap16s27", counters, EFA_COUNTERS_MAX);
	instance_type_read(root, type, sizeof(type));
	return 0;
}
