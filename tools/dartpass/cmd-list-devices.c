// SPDX-License-Identifier: (GPL-2.0 OR MIT)
/*
 * dartpass list-devices: the PCI functions one could pass through. With --provider, the
 * functions a provider offers (its HELLO reply: include/provider_proto.h) with their
 * identity and whether another client holds them; on Linux without a provider, the
 * functions bound to vfio-pci, from sysfs (under $DARTPASS_ROOT), with their IOMMU
 * group and its other members.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include "dartpass.h"
#include "provider_proto.h"

static const char *opt_provider;
static const char *opt_root;

static const struct dp_opt opts[] = {
	{ "provider", DP_OPT_STR, &opt_provider, "a provider's socket: list what it offers" },
	{ "root", DP_OPT_STR, &opt_root, "prefix for /sys (tests; also $DARTPASS_ROOT)" },
	{ NULL, 0, NULL, NULL },
};

#ifdef __linux__
static int from_provider(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	static uint8_t buf[PROV_MAX_MSG];
	struct {
		struct prov_hdr h;
		struct prov_hello_req req;
	} msg = {
		.h = { .op = PROV_OP_HELLO, .len = sizeof(msg), .id = 1 },
		.req = { .version = PROV_VERSION(PROV_VERSION_MAJOR, PROV_VERSION_MINOR),
			 .features = PROV_F_ALL },
	};
	struct prov_hdr h;
	struct prov_hello_rep rep;
	struct timeval tv = { .tv_sec = 10 };
	ssize_t n;
	uint32_t i;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "dartpass list-devices: %s: path too long\n", path);
		return 1;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		fprintf(stderr, "dartpass list-devices: cannot connect to %s: %s (is dartpass"
			" provider running?)\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return 1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (send(fd, &msg, sizeof(msg), MSG_NOSIGNAL) != sizeof(msg) ||
	    (n = recv(fd, buf, sizeof(buf), 0)) < (ssize_t)sizeof(h)) {
		fprintf(stderr, "dartpass list-devices: %s: no HELLO reply\n", path);
		close(fd);
		return 1;
	}
	close(fd);
	memcpy(&h, buf, sizeof(h));
	if (h.op != PROV_OP_HELLO || h.id != 1 || h.len != n) {
		fprintf(stderr, "dartpass list-devices: %s: malformed HELLO reply\n", path);
		return 1;
	}
	memset(&rep, 0, sizeof(rep));
	memcpy(&rep, buf + sizeof(h), n - sizeof(h) < sizeof(rep) ? n - sizeof(h) : sizeof(rep));
	if (h.status == PROV_S_VERSION) {
		fprintf(stderr, "dartpass list-devices: %s speaks version %u.%u, dartpass %u.%u\n",
			path, rep.version >> 16, rep.version & 0xffff, PROV_VERSION_MAJOR,
			PROV_VERSION_MINOR);
		return 1;
	}
	if (h.status != PROV_S_OK || n < (ssize_t)(sizeof(h) + sizeof(rep)) ||
	    rep.nr_functions > PROV_MAX_FUNCTIONS ||
	    (size_t)n != sizeof(h) + sizeof(rep) + rep.nr_functions * sizeof(struct prov_function)) {
		fprintf(stderr, "dartpass list-devices: %s: HELLO refused or malformed (status"
			" %u)\n", path, h.status);
		return 1;
	}
	printf("provider %s: version %u.%u, %u function(s); per client: %u mappings,"
	       " %llu MiB, page 2^%u, aperture 0x%llx+0x%llx\n", path, rep.version >> 16,
	       rep.version & 0xffff, rep.nr_functions, rep.limits.max_mappings,
	       (unsigned long long)(rep.limits.max_bytes >> 20), rep.limits.granule_shift,
	       (unsigned long long)rep.limits.aperture_base,
	       (unsigned long long)rep.limits.aperture_size);
	if (rep.nr_functions)
		printf("%-14s %-9s %-7s %s\n", "FUNCTION", "ID", "CLASS", "STATE");
	for (i = 0; i < rep.nr_functions; i++) {
		struct prov_function f;

		memcpy(&f, buf + sizeof(h) + sizeof(rep) + i * sizeof(f), sizeof(f));
		printf("%04x:%02x:%02x.%u   %04x:%04x %06x  %s\n", f.rid >> 16, (f.rid >> 8) & 0xff,
		       (f.rid >> 3) & 0x1f, f.rid & 7, f.vendor, f.device, f.class_rev >> 8,
		       f.flags & PROV_FN_CLAIMED ? "claimed by another client" : "free");
	}
	return 0;
}

static int read_hex(const char *dir, const char *name, unsigned long *v)
{
	char p[PATH_MAX], line[64];
	FILE *f;
	int ok;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	f = fopen(p, "r");
	if (!f)
		return -1;
	ok = fgets(line, sizeof(line), f) != NULL;
	fclose(f);
	*v = ok ? strtoul(line, NULL, 16) : 0;
	return ok ? 0 : -1;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int from_sysfs(void)
{
	char drv[PATH_MAX], dev[PATH_MAX], link[3 * PATH_MAX], grp[PATH_MAX];
	struct dirent **e;
	int n, i, shown = 0;

	snprintf(drv, sizeof(drv), "%s/sys/bus/pci/drivers/vfio-pci", dp_root());
	n = scandir(drv, &e, NULL, by_name);
	if (n < 0) {
		printf("the vfio-pci driver is not loaded (%s): no functions to pass through;"
		       " see dartpass doctor\n", drv);
		return 0;
	}
	for (i = 0; i < n; i++) {
		unsigned long ven = 0, did = 0, cls = 0;
		const char *g = "?";
		ssize_t l;

		if (strncmp(e[i]->d_name, "0000:", 5) && !strchr(e[i]->d_name, ':'))
			goto next;
		if (!strchr(e[i]->d_name, '.'))
			goto next;
		snprintf(dev, sizeof(dev), "%s/sys/bus/pci/devices/%s", dp_root(), e[i]->d_name);
		read_hex(dev, "vendor", &ven);
		read_hex(dev, "device", &did);
		read_hex(dev, "class", &cls);
		snprintf(link, sizeof(link), "%s/iommu_group", dev);
		l = readlink(link, grp, sizeof(grp) - 1);
		if (l > 0) {
			grp[l] = 0;
			g = strrchr(grp, '/') ? strrchr(grp, '/') + 1 : grp;
		}
		if (!shown++)
			printf("%-14s %-9s %-7s %-6s %s\n", "FUNCTION", "ID", "CLASS", "GROUP",
			       "GROUP MEMBERS");
		printf("%-14s %04lx:%04lx %06lx  %-6s", e[i]->d_name, ven, did, cls, g);
		if (l > 0) {
			struct dirent **m;
			int k, nm;

			snprintf(link, sizeof(link), "%s/sys/kernel/iommu_groups/%s/devices",
				 dp_root(), g);
			nm = scandir(link, &m, NULL, by_name);
			for (k = 0; k < nm; k++) {
				if (m[k]->d_name[0] != '.')
					printf(" %s", m[k]->d_name);
				free(m[k]);
			}
			if (nm >= 0)
				free(m);
		}
		printf("\n");
next:
		free(e[i]);
	}
	free(e);
	if (!shown)
		printf("no functions are bound to vfio-pci (%s)\n", drv);
	return 0;
}
#endif

static int run(int argc, char **argv)
{
	(void)argv;
	if (argc) {
		fprintf(stderr, "dartpass list-devices: takes no arguments\n");
		return 2;
	}
	if (opt_root)
		setenv("DARTPASS_ROOT", opt_root, 1);
#ifdef __linux__
	return opt_provider ? from_provider(opt_provider) : from_sysfs();
#else
	fprintf(stderr, "dartpass list-devices: not on this host yet: macOS's provider is the"
		" DriverKit driver (IOKit), which list-devices does not speak\n");
	return 1;
#endif
}

const struct dp_cmd dp_cmd_list_devices = {
	.name = "list-devices",
	.args = "",
	.help = "PCI functions a provider offers, or (Linux) those bound to vfio-pci",
	.opts = opts,
	.run = run,
};
