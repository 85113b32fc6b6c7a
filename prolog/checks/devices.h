/*
 * devices.h -- EFA devices from sysfs (/sys/class/infiniband/<dev>), their port state and
 * hardware counters. sysfs_root stands for "/sys" so fixtures can be tested
 * (tests/fixtures/sysfs/<layout>/ mirror real EFA layouts).
 */
#ifndef EFA_CHECK_DEVICES_H
#define EFA_CHECK_DEVICES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct report;
struct check_result;
struct efa_config;

#define EFA_DEV_NAME_MAX 64
#define EFA_COUNTERS_MAX 32

struct efa_counter {
	char name[48];
	uint64_t value;
};

struct efa_device {
	char name[EFA_DEV_NAME_MAX];    /* "rdmap16s27" */
	char pci_addr[32];              /* "0000:10:1b.0" when known */
	int pci_device_id;              /* 0xefa0.. from device/device; -1 unreadable */
	char p2p[32];                   /* device/p2p: "NVIDIA", "NVIDIA peermem", "NEURON", ""
	                                 * (efa_sysfs.c p2p_show; no file = no P2P support built) */
	bool has_p2p_file;
	int port_state;                 /* numeric, 4 = ACTIVE; -1 unreadable */
	char port_state_name[32];       /* "ACTIVE", "DOWN", ... */
	bool active;
};

struct efa_device_list {
	struct efa_device *dev;
	size_t n;
};

/* Enumerate EFA devices (PCI function bound to driver efa, or Amazon PCI id 0xefa0..0xefa4
 * when the driver link is unreadable) under <sysfs_root>/class/infiniband, sorted by name
 * with numbers compared as numbers (rdmap16s27 before rdmap144s27). Entries that are not
 * EFA (mlx5_0, ...) are ignored.
 * sysfs_root NULL or "" = "/sys". No such directory = 0 devices, not an error.
 * Returns 0, or -1 with err filled. */
int devices_scan(const char *sysfs_root, struct efa_device_list *out, char *err, size_t errlen);
void devices_free(struct efa_device_list *l);

/* Read the port hardware counters of device dev (ports/1/hw_counters/<name>) that
 * indicate loss or errors: rx_drops, rdma_read_wr_err, rdma_write_wr_err,
 * retrans_timeout_events, unresponsive_remote_events, impaired_remote_conn_events (those
 * the kernel has; names from efa_verbs.c). Returns the number read (0 if none exist). */
int devices_read_counters(const char *sysfs_root, const char *dev, struct efa_counter *out, int max);

/* The devices check (initialises c as check "devices"): expected count (config
 * ExpectedDevices, or the instance profile of cfg->instance_type / DMI product_name when
 * auto), every port ACTIVE. The reason names each down device, and each missing device
 * whose EFA PCI function is still on the bus (else only the count: "3/4 EFA devices").
 * With a provider other than efa and ExpectedDevices=auto, the check is skipped; with an
 * instance type that has no profile the count is not enforced (the detail says so); no
 * EFA device at all fails unless ExpectedDevices=0. Metrics: devices, active, expected. */
void devices_check(const struct efa_config *cfg, const char *sysfs_root, struct check_result *c);

/* Map a libfabric efa domain name ("rdmap16s27-rdm", "rdmap16s27-dgrm") to the device name. */
void domain_to_device(const char *domain, char *dev, size_t size);

#endif
