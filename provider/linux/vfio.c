// SPDX-License-Identifier: (GPL-2.0 OR MIT)
/*
 * The provider's OS layer on Linux: VFIO.
 *
 * Every listed function is bound to vfio-pci, and its IOMMU group's file stays open
 * from start to exit, so no other process can use it. A client's first CLAIM creates
 * its type1 container; each claimed function's group joins it, so the functions of one
 * client share its DMA address space, whose bus addresses the core chooses. The client
 * never gets a VFIO descriptor: config space goes through the core's filter and here to
 * the VFIO config region, and a BAR is lent as a fresh open of its sysfs resource file.
 * The provider's own BAR accesses use a mapping of that same file, so vfio-pci never
 * requests the BAR's address range (which would make it busy, and sysfs mappings of it
 * fail under CONFIG_IO_STRICT_DEVMEM); I/O BARs and the ROM go through VFIO. A kernel
 * whose vfio-pci requests every BAR when the device is opened (lx_sysfs_check) lends
 * none: its memory BARs go through VFIO too.
 *
 * A lent descriptor can outlive the claim (kept, forked, passed on), so a release
 * revokes the BARs it reached (lx_revoke), and a CLAIM waits until no other process
 * holds a descriptor or mapping of the function's BAR files (lx_bar_holders).
 *
 * Interrupts go either of the protocol's ways: IRQ_SET EVENTFD hands VFIO the client's
 * eventfds; ENABLE (macOS's model, PROV_F_IRQ_PENDING) hands it eventfds of the
 * provider's, which serve.c's loop watches: a vector that fires sets its pending bit,
 * and a bit going from 0 to 1 writes a byte to the connection's NOTIFY pipe.
 */
#define _GNU_SOURCE	/* pipe2 */
#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include <linux/pci_regs.h>
#include <linux/vfio.h>
#include "provider.h"

#define LX_SYSFS_PCI	"/sys/bus/pci/devices/"
/* The default aperture's bounds: clear of bus address 0, reachable with 32-bit DMA. */
#define LX_AP_LOW	(256ull << 20)
#define LX_AP_END	(4ull << 30)
#define LX_MAX_WINDOWS	256
/* Flags of a sysfs "resource" line (the kernel's IORESOURCE_*, stable there). */
#define LX_IORESOURCE_IO	0x00000100ull
#define LX_IORESOURCE_MEM	0x00000200ull
#define LX_IORESOURCE_PREFETCH	0x00002000ull
#define LX_IORESOURCE_MEM_64	0x00100000ull

_Static_assert((int)VFIO_PCI_BAR0_REGION_INDEX == PROV_REGION_BAR0 &&
	       (int)VFIO_PCI_ROM_REGION_INDEX == PROV_REGION_ROM &&
	       (int)VFIO_PCI_CONFIG_REGION_INDEX == PROV_REGION_CONFIG,
	       "VFIO's region indexes are the protocol's");
_Static_assert((int)VFIO_PCI_INTX_IRQ_INDEX == PROV_IRQ_INTX &&
	       (int)VFIO_PCI_MSI_IRQ_INDEX == PROV_IRQ_MSI &&
	       (int)VFIO_PCI_MSIX_IRQ_INDEX == PROV_IRQ_MSIX,
	       "VFIO's interrupt indexes are the protocol's");

int lx_status(int err)
{
	switch (err) {
	case 0:
		return PROV_S_OK;
	case EINVAL:
	case ERANGE:
	case EOVERFLOW:
		return PROV_S_INVALID;
	case EFAULT:
		return PROV_S_BAD_ADDRESS;
	case ENOTTY:
	case EOPNOTSUPP:
	case ENOSYS:
		return PROV_S_UNSUPPORTED;
	case ENOSPC:
		return PROV_S_NO_SPACE;
	case EBUSY:
		return PROV_S_BUSY;
	case EPERM:
	case EACCES:
		return PROV_S_DENIED;
	case EBADF:
		return PROV_S_BAD_FD;
	default:
		return PROV_S_IO;
	}
}

static void lx_path(char *buf, size_t len, const struct lx_fn *f, const char *leaf)
{
	snprintf(buf, len, LX_SYSFS_PCI "%s/%s", f->bdf, leaf);
}

/* A small sysfs or proc file, NUL-terminated; -1 if it cannot be read. */
static ssize_t lx_read_text(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n >= 0)
		buf[n] = 0;
	return n;
}

/* The last component of a symlink's target ("vfio-pci", "5"), or "" if none. */
static void lx_link_name(const char *path, char *buf, size_t len)
{
	char target[512];
	ssize_t n = readlink(path, target, sizeof(target) - 1);
	const char *slash;

	buf[0] = 0;
	if (n < 0)
		return;
	target[n] = 0;
	slash = strrchr(target, '/');
	slash = slash ? slash + 1 : target;
	if (strlen(slash) < len)
		memcpy(buf, slash, strlen(slash) + 1);
}

/* Exactly size bytes at off, or a status. */
static int lx_pio(int fd, bool write, void *buf, size_t size, uint64_t off)
{
	ssize_t n = write ? pwrite(fd, buf, size, (off_t)off) : pread(fd, buf, size, (off_t)off);

	if (n < 0)
		return lx_status(errno);
	return (size_t)n == size ? PROV_S_OK : PROV_S_IO;
}

/* A little-endian access of size bytes through a file (VFIO region, sysfs config). */
static int lx_file_access(int fd, uint64_t off, uint32_t size, uint64_t *val, bool write)
{
	uint64_t le = 0;
	int st;

	if (write)
		le = htole64(*val);
	st = lx_pio(fd, write, &le, size, off);
	if (!write && !st) {
		le = le64toh(le);
		*val = size == 8 ? le : le & ((1ull << (8 * size)) - 1);
	}
	return st;
}

/* ------------------------------------------------------------------ start and exit */

static uint32_t lx_reset_method(const struct lx_fn *f)
{
	char path[128], buf[128];

	lx_path(path, sizeof(path), f, "reset_method");
	if (lx_read_text(path, buf, sizeof(buf)) <= 0)
		return PROV_RESET_FLR;
	buf[strcspn(buf, " \n")] = 0;
	if (!strcmp(buf, "pm"))
		return PROV_RESET_PM;
	if (!strcmp(buf, "bus") || !strcmp(buf, "cxl_bus"))
		return PROV_RESET_BUS;
	return PROV_RESET_FLR;		/* flr, af_flr, and the function-scoped acpi, device_specific */
}

const char *lx_reset_name(uint32_t method)
{
	return method == PROV_RESET_PM ? "pm" : method == PROV_RESET_BUS ? "bus" : "flr";
}

bool lx_unsafe_interrupts(void)
{
	char buf[8];

	return lx_read_text("/sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts",
			    buf, sizeof(buf)) > 0 && buf[0] == 'Y';
}

static struct lx_group *lx_group_open(struct lx_os *os, int id, const char *bdf)
{
	struct vfio_group_status status = { .argsz = sizeof(status) };
	struct lx_group *g;
	char path[64];
	unsigned int i;

	for (i = 0; i < os->nr_groups; i++)
		if (os->groups[i].id == id)
			return &os->groups[i];
	g = &os->groups[os->nr_groups];
	snprintf(path, sizeof(path), "/dev/vfio/%d", id);
	g->fd = open(path, O_RDWR | O_CLOEXEC);
	if (g->fd < 0) {
		fprintf(stderr, LX_NAME ": %s: %s: %s%s\n", bdf, path, strerror(errno),
			errno == EBUSY ? " (another process has the group)" : "");
		return NULL;
	}
	g->id = id;
	os->nr_groups++;
	if (ioctl(g->fd, VFIO_GROUP_GET_STATUS, &status)) {
		fprintf(stderr, LX_NAME ": %s: group %d status: %s\n", bdf, id, strerror(errno));
		return NULL;
	}
	if (!(status.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		fprintf(stderr, LX_NAME ": %s: IOMMU group %d is not viable: every device in"
			" /sys/kernel/iommu_groups/%d/devices must be bound to vfio-pci or to"
			" no driver\n", bdf, id, id);
		return NULL;
	}
	return g;
}

static int lx_fn_open(struct lx_os *os, struct lx_fn *f, const char *arg)
{
	unsigned int seg = 0, bus, dev, func, i;
	char path[128], name[64], *real, tail;
	struct stat st;
	int group;

	if (sscanf(arg, "%x:%x:%x.%x%c", &seg, &bus, &dev, &func, &tail) != 4 &&
	    (seg = 0, sscanf(arg, "%x:%x.%x%c", &bus, &dev, &func, &tail) != 3)) {
		fprintf(stderr, LX_NAME ": --function %s: not a PCI address (0000:00:04.0)\n", arg);
		return -1;
	}
	if (seg > 0xffff || bus > 0xff || dev > 0x1f || func > 7) {
		fprintf(stderr, LX_NAME ": --function %s: out of range\n", arg);
		return -1;
	}
	snprintf(f->bdf, sizeof(f->bdf), "%04x:%02x:%02x.%x", seg, bus, dev, func);
	f->rid = PVDMA_RID(seg, bus, (dev << 3) | func);
	for (i = 0; &os->fns[i] != f; i++) {
		if (os->fns[i].rid == f->rid) {
			fprintf(stderr, LX_NAME ": --function %s: listed twice\n", f->bdf);
			return -1;
		}
	}
	lx_path(path, sizeof(path), f, "driver");
	lx_link_name(path, name, sizeof(name));
	if (strcmp(name, "vfio-pci")) {
		fprintf(stderr, LX_NAME ": %s: %s%s, not to vfio-pci\n", f->bdf,
			*name ? "bound to " : "bound to no driver", name);
		return -1;
	}
	snprintf(path, sizeof(path), LX_SYSFS_PCI "%s", f->bdf);
	real = realpath(path, NULL);
	if (!real || strlen(real) >= sizeof(f->sysfs)) {
		fprintf(stderr, LX_NAME ": %s: %s: %s\n", f->bdf, path,
			real ? "resolves to too long a path" : strerror(errno));
		free(real);
		return -1;
	}
	strcpy(f->sysfs, real);
	free(real);
	lx_path(path, sizeof(path), f, "iommu_group");
	lx_link_name(path, name, sizeof(name));
	if (sscanf(name, "%d%c", &group, &tail) != 1) {
		fprintf(stderr, LX_NAME ": %s: in no IOMMU group\n", f->bdf);
		return -1;
	}
	f->group = lx_group_open(os, group, f->bdf);
	if (!f->group)
		return -1;
	lx_path(path, sizeof(path), f, "config");
	f->config_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (f->config_fd < 0 || fstat(f->config_fd, &st)) {
		fprintf(stderr, LX_NAME ": %s: %s\n", path, strerror(errno));
		return -1;
	}
	f->config_size = (uint64_t)st.st_size;
	f->reset_method = lx_reset_method(f);
	return 0;
}

int lx_os_open(struct lx_os *os, const char *const *bdfs, unsigned int n)
{
	unsigned int i, r;

	memset(os, 0, sizeof(*os));
	for (i = 0; i < PROV_MAX_FUNCTIONS; i++) {
		os->fns[i].config_fd = -1;
		os->fns[i].device_fd = -1;
		os->fns[i].req.fd = -1;
		for (r = 0; r < PROV_REGION_COUNT; r++)
			os->fns[i].regions[r].fd = -1;
	}
	if (n > PROV_MAX_FUNCTIONS) {
		fprintf(stderr, LX_NAME ": at most %d functions\n", PROV_MAX_FUNCTIONS);
		return -1;
	}
	for (i = 0; i < n; i++) {
		os->nr_fns = i + 1;
		if (lx_fn_open(os, &os->fns[i], bdfs[i]))
			return -1;
	}
	return 0;
}

void lx_os_close(struct lx_os *os)
{
	unsigned int i;

	for (i = 0; i < os->nr_fns; i++)
		if (os->fns[i].config_fd >= 0)
			close(os->fns[i].config_fd);
	for (i = 0; i < os->nr_groups; i++)
		close(os->groups[i].fd);
	os->nr_fns = os->nr_groups = 0;
}

/* Reads VFIO_IOMMU_GET_INFO: page sizes, IOVA ranges, the mapping limit. */
static int lx_iommu_info(int container, struct lx_iommu *io)
{
	struct vfio_iommu_type1_info *info = NULL;
	size_t sz = sizeof(*info);
	uint32_t off, steps;
	int rc = -1;

	for (;;) {
		void *n = realloc(info, sz);

		if (!n)
			goto free_info;
		info = n;
		memset(info, 0, sz);
		info->argsz = sz;
		if (ioctl(container, VFIO_IOMMU_GET_INFO, info)) {
			fprintf(stderr, LX_NAME ": VFIO_IOMMU_GET_INFO: %s\n", strerror(errno));
			goto free_info;
		}
		if (info->argsz <= sz)
			break;
		sz = info->argsz;
	}
	if (!(info->flags & VFIO_IOMMU_INFO_PGSIZES) || !info->iova_pgsizes) {
		fprintf(stderr, LX_NAME ": the IOMMU reports no page sizes\n");
		goto free_info;
	}
	io->min_page = info->iova_pgsizes & -info->iova_pgsizes;
	/* Without the IOVA capability (before Linux 5.4) every address is taken as valid. */
	io->nr_ranges = 1;
	io->ranges[0] = (struct lx_range){ 0, UINT64_MAX };
	off = info->flags & VFIO_IOMMU_INFO_CAPS ? info->cap_offset : 0;
	for (steps = 0; off && steps < 64; steps++) {
		struct vfio_info_cap_header hdr;

		if (off < sizeof(*info) || off > sz - sizeof(hdr))
			break;
		memcpy(&hdr, (char *)info + off, sizeof(hdr));
		if (hdr.id == VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE) {
			struct vfio_iommu_type1_info_cap_iova_range cap;
			uint32_t i;

			if (sizeof(cap) > sz - off)
				break;
			memcpy(&cap, (char *)info + off, sizeof(cap));
			if (cap.nr_iovas > (sz - off - sizeof(cap)) / sizeof(struct vfio_iova_range))
				break;
			/* Dropping ranges past the array only forgoes addresses. */
			io->nr_ranges = cap.nr_iovas < LX_MAX_RANGES ? cap.nr_iovas : LX_MAX_RANGES;
			for (i = 0; i < io->nr_ranges; i++) {
				struct vfio_iova_range r;

				memcpy(&r, (char *)info + off + sizeof(cap) + i * sizeof(r), sizeof(r));
				io->ranges[i] = (struct lx_range){ r.start, r.end };
			}
		} else if (hdr.id == VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL) {
			struct vfio_iommu_type1_info_dma_avail cap;

			if (sizeof(cap) > sz - off)
				break;
			memcpy(&cap, (char *)info + off, sizeof(cap));
			io->dma_avail = cap.avail;
		}
		off = hdr.next;
	}
	rc = 0;
free_info:
	free(info);
	return rc;
}

int lx_iommu_probe(struct lx_os *os, struct lx_iommu *io)
{
	unsigned int attached = 0;
	int container, rc = -1;

	memset(io, 0, sizeof(*io));
	if (!os->nr_groups) {
		io->nr_ranges = 1;
		io->ranges[0] = (struct lx_range){ 0, UINT64_MAX };
		io->min_page = (uint64_t)sysconf(_SC_PAGESIZE);
		return 0;
	}
	container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	if (container < 0) {
		fprintf(stderr, LX_NAME ": /dev/vfio/vfio: %s\n", strerror(errno));
		return -1;
	}
	if (ioctl(container, VFIO_GET_API_VERSION) != VFIO_API_VERSION ||
	    ioctl(container, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) <= 0) {
		fprintf(stderr, LX_NAME ": VFIO offers no type1v2 IOMMU (vfio_iommu_type1 loaded?)\n");
		goto close_container;
	}
	for (; attached < os->nr_groups; attached++) {
		if (ioctl(os->groups[attached].fd, VFIO_GROUP_SET_CONTAINER, &container)) {
			fprintf(stderr, LX_NAME ": group %d: VFIO_GROUP_SET_CONTAINER: %s\n",
				os->groups[attached].id, strerror(errno));
			goto detach_groups;
		}
	}
	if (ioctl(container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU)) {
		fprintf(stderr, LX_NAME ": VFIO_SET_IOMMU type1v2: %s%s\n", strerror(errno),
			errno == EPERM ? " (no interrupt remapping: VFIO refuses it unless"
			" vfio_iommu_type1.allow_unsafe_interrupts=1)" : "");
		goto detach_groups;
	}
	rc = lx_iommu_info(container, io);
detach_groups:
	while (attached--)
		ioctl(os->groups[attached].fd, VFIO_GROUP_UNSET_CONTAINER);
close_container:
	close(container);
	return rc;
}

static int lx_cmp_range(const void *a, const void *b)
{
	const struct lx_range *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/*
 * The PCI bus windows /proc/iomem lists (bridges' and host bridges'), sorted: a DMA
 * address inside one may be routed to a peer device before it reaches the IOMMU.
 * -1 if there are more than max.
 */
static int lx_pci_windows(struct lx_range *w, unsigned int max)
{
	FILE *f = fopen("/proc/iomem", "re");
	char line[256];
	unsigned int n = 0;
	int rc = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long s, e;
		int pos = -1;
		const char *name;

		if (sscanf(line, " %llx-%llx : %n", &s, &e, &pos) != 2 || pos < 0 || s > e || !e)
			continue;	/* !e: addresses hidden from non-root readers */
		name = line + pos;
		if (strncmp(name, "PCI Bus ", 8) && strncasecmp(name, "pcie@", 5) &&
		    strncasecmp(name, "pci@", 4))
			continue;
		if (n == max) {
			rc = -1;
			break;
		}
		w[n++] = (struct lx_range){ s, e };
	}
	fclose(f);
	qsort(w, n, sizeof(*w), lx_cmp_range);
	return rc ? rc : (int)n;
}

/* Keeps [s, last], aligned in to the granule, as the aperture if it is the largest yet. */
static void lx_consider(uint64_t s, uint64_t last, uint64_t granule, uint64_t *base,
			uint64_t *size)
{
	uint64_t a = DP_ALIGN_UP(s, granule), b = DP_ALIGN_DOWN(last + 1, granule);

	if (b > a && b - a > *size) {
		*base = a;
		*size = b - a;
	}
}

bool lx_default_aperture(const struct lx_iommu *io, uint64_t granule, uint64_t *base,
			 uint64_t *size)
{
	struct lx_range win[LX_MAX_WINDOWS];
	int nw = lx_pci_windows(win, LX_MAX_WINDOWS);
	unsigned int i;
	int j;

	*base = *size = 0;
	if (nw < 0) {
		fprintf(stderr, LX_NAME ": more than %d PCI windows in /proc/iomem\n",
			LX_MAX_WINDOWS);
		return false;
	}
	for (i = 0; i < io->nr_ranges; i++) {
		uint64_t s = io->ranges[i].start > LX_AP_LOW ? io->ranges[i].start : LX_AP_LOW;
		uint64_t e = io->ranges[i].last < LX_AP_END - 1 ? io->ranges[i].last : LX_AP_END - 1;

		if (s > e)
			continue;
		for (j = 0; j < nw && s <= e; j++) {
			if (win[j].last < s)
				continue;
			if (win[j].start > e)
				break;
			if (win[j].start > s)
				lx_consider(s, win[j].start - 1, granule, base, size);
			s = win[j].last < e ? win[j].last + 1 : e + 1;	/* e < 4 GiB: no wrap */
		}
		if (s <= e)
			lx_consider(s, e, granule, base, size);
	}
	return *size != 0;
}

/* ------------------------------------------------------------------ claims */

void lx_conn_init(struct lx_conn *c)
{
	memset(c, 0, sizeof(*c));
	c->container = -1;
	c->notify_rd = c->notify_wr = -1;
	c->sock = -1;
}

static int lx_map(struct lx_conn *c, uint64_t iova, uint64_t off, uint64_t size,
		  unsigned int perm)
{
	struct vfio_iommu_type1_dma_map m = {
		.argsz = sizeof(m),
		.flags = (perm & PVDMA_MAP_READ ? VFIO_DMA_MAP_FLAG_READ : 0) |
			 (perm & PVDMA_MAP_WRITE ? VFIO_DMA_MAP_FLAG_WRITE : 0),
		.iova = iova,
		.size = size,
	};

	/*
	 * The core keeps ranges inside the DMA memory; checked again here because a
	 * vaddr past it would let the device reach the provider's own memory.
	 */
	if (!c->mem || off > c->mem_size || size > c->mem_size - off)
		return PROV_S_BAD_ADDRESS;
	m.vaddr = (uintptr_t)c->mem + off;
	if (ioctl(c->container, VFIO_IOMMU_MAP_DMA, &m))
		return lx_status(errno);
	return PROV_S_OK;
}

/* Drops one claim on g; its last takes g out of c's container. */
static void lx_group_put(struct lx_conn *c, struct lx_group *g)
{
	if (--g->claims)
		return;
	if (ioctl(g->fd, VFIO_GROUP_UNSET_CONTAINER))
		fprintf(stderr, LX_NAME ": group %d: VFIO_GROUP_UNSET_CONTAINER: %s\n", g->id,
			strerror(errno));
	g->conn = NULL;
	if (!--c->groups)
		c->iommu_set = false;
}

/* Reads the BARs' start (for its offset within a page) and kind from sysfs. */
static int lx_bar_kinds(struct lx_fn *f)
{
	char path[128], buf[4096], *line = buf;
	long page = sysconf(_SC_PAGESIZE);
	unsigned int i;

	lx_path(path, sizeof(path), f, "resource");
	if (lx_read_text(path, buf, sizeof(buf)) <= 0)
		return PROV_S_IO;
	for (i = 0; i < PROV_REGION_ROM && line; i++) {
		struct lx_region *r = &f->regions[i];
		unsigned long long start, end, flags;

		if (sscanf(line, "%llx %llx %llx", &start, &end, &flags) != 3)
			return PROV_S_IO;
		line = strchr(line, '\n');
		line = line ? line + 1 : NULL;
		if (!r->size)
			continue;
		if (flags & LX_IORESOURCE_IO) {
			r->flags |= PROV_REGION_IO;
			r->flags &= ~PROV_REGION_MMAP;
		} else if (!(flags & LX_IORESOURCE_MEM)) {
			return PROV_S_IO;
		}
		r->flags |= (flags & LX_IORESOURCE_MEM_64 ? PROV_REGION_MEM64 : 0) |
			    (flags & LX_IORESOURCE_PREFETCH ? PROV_REGION_PREFETCH : 0);
		r->page_off = start & (uint64_t)(page - 1);
	}
	return i == PROV_REGION_ROM ? PROV_S_OK : PROV_S_IO;
}

/* Maps len bytes of f's BAR file resourceN from its start; MAP_FAILED with errno set. */
static void *lx_bar_file_map(const struct lx_fn *f, uint32_t region, size_t len)
{
	char path[128], leaf[16];
	void *map;
	int fd, err;

	snprintf(leaf, sizeof(leaf), "resource%u", region);
	lx_path(path, sizeof(path), f, leaf);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return MAP_FAILED;
	map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	err = errno;
	close(fd);
	errno = err;
	return map;
}

/*
 * Lending a memory BAR needs sysfs to map it while the provider has the VFIO device
 * open; a BAR it does not map is not lent (no MMAP: the core refuses its REGION_MAP),
 * and REGION_READ/WRITE reach it through VFIO, which reads its MSI-X table as all ones
 * and drops writes to it. Linux 6.12's vfio-pci requests a BAR's address range only when
 * a VFIO access first needs it; 7.2's requests every BAR when the device is opened
 * (vfio_pci_core_enable), which zaps the BAR's sysfs mappings, and
 * pci_mmap_resource refuses new ones (EINVAL) while the range is busy under
 * CONFIG_IO_STRICT_DEVMEM (iomem_is_exclusive). Nothing else maps a BAR without VFIO's
 * ioctls: the dma-buf VFIO exports of a BAR cannot be mapped.
 */
static void lx_sysfs_check(struct lx_fn *f)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	bool told = f->told_unmappable;
	unsigned int i;

	for (i = 0; i < PROV_REGION_ROM; i++) {
		struct lx_region *r = &f->regions[i];
		void *probe;

		if (!r->size || (r->flags & PROV_REGION_IO))
			continue;
		probe = lx_bar_file_map(f, i, page);
		if (probe != MAP_FAILED) {
			munmap(probe, page);
			continue;
		}
		r->via_vfio = true;
		r->flags &= ~PROV_REGION_MMAP;
		f->told_unmappable = true;
		if (!told)
			fprintf(stderr, LX_NAME ": %s: BAR%u: its sysfs file cannot be mapped while"
				" VFIO has the function (%s%s): REGION_MAP refused, REGION_READ and"
				" REGION_WRITE go through VFIO\n", f->bdf, i, strerror(errno),
				errno == EINVAL ? ": this kernel's vfio-pci holds every BAR while"
				" the device is open" : "");
	}
}

static void lx_req_on(struct lx_fn *f);

/* Fills f's regions and interrupts from VFIO, and the claim reply's from them. */
static int lx_describe(struct lx_fn *f, struct prov_claim_rep *rep)
{
	struct vfio_device_info info = { .argsz = sizeof(info) };
	unsigned int i;
	int st;

	if (ioctl(f->device_fd, VFIO_DEVICE_GET_INFO, &info))
		return lx_status(errno);
	if (!(info.flags & VFIO_DEVICE_FLAGS_PCI) || info.num_regions < PROV_REGION_COUNT ||
	    info.num_irqs < PROV_IRQ_TYPES)
		return PROV_S_IO;
	f->can_reset = info.flags & VFIO_DEVICE_FLAGS_RESET;
	for (i = 0; i < PROV_REGION_COUNT; i++) {
		struct vfio_region_info ri = { .argsz = sizeof(ri), .index = i };
		struct lx_region *r = &f->regions[i];

		if (ioctl(f->device_fd, VFIO_DEVICE_GET_REGION_INFO, &ri))
			return lx_status(errno);
		r->offset = ri.offset;
		r->size = ri.size;
		r->flags = (ri.flags & VFIO_REGION_INFO_FLAG_READ ? PROV_REGION_READ : 0) |
			   (ri.flags & VFIO_REGION_INFO_FLAG_WRITE ? PROV_REGION_WRITE : 0);
		/* VFIO's MMAP: the BAR owns its pages (page aligned, or the rest reserved). */
		if (i < PROV_REGION_ROM && (ri.flags & VFIO_REGION_INFO_FLAG_MMAP))
			r->flags |= PROV_REGION_MMAP;
	}
	st = lx_bar_kinds(f);
	if (st)
		return st;
	lx_sysfs_check(f);
	for (i = 0; i < PROV_IRQ_TYPES; i++) {
		struct vfio_irq_info ii = { .argsz = sizeof(ii), .index = i };

		if (ioctl(f->device_fd, VFIO_DEVICE_GET_IRQ_INFO, &ii))
			return lx_status(errno);
		f->irqs[i] = ii.count;
		rep->irqs[i].count = ii.count;
	}
	for (i = 0; i < PROV_REGION_COUNT; i++) {
		rep->regions[i].size = f->regions[i].size;
		rep->regions[i].flags = f->regions[i].size ? f->regions[i].flags : 0;
	}
	return PROV_S_OK;
}

/*
 * Memory decode on, and I/O decode if the function has I/O BARs: the BARs lent answer
 * only with it on, and the core's filter keeps the client from turning it off. Called
 * at CLAIM and after each RESET, since neither promises it (a reset restores the
 * command register as it was saved).
 */
static int lx_decode_on(struct lx_fn *f)
{
	uint64_t off = f->regions[PROV_REGION_CONFIG].offset + PCI_COMMAND, cmd;
	uint64_t on = PCI_COMMAND_MEMORY;
	unsigned int i;
	int st;

	for (i = 0; i < PROV_REGION_ROM; i++)
		if (f->regions[i].size && (f->regions[i].flags & PROV_REGION_IO))
			on |= PCI_COMMAND_IO;
	st = lx_file_access(f->device_fd, off, 2, &cmd, false);
	if (st)
		return st;
	cmd |= on;
	return lx_file_access(f->device_fd, off, 2, &cmd, true);
}

/* Whether path is one of f's BAR files: resourceN or resourceN_wc. */
static bool lx_is_bar_file(const struct lx_fn *f, const char *path)
{
	size_t n = strlen(f->sysfs);

	return !strncmp(path, f->sysfs, n) && !strncmp(path + n, "/resource", 9) &&
	       path[n + 9] >= '0' && path[n + 9] <= '9';
}

/*
 * A process's /proc file that cannot be read: gone since listed, the process holds
 * nothing; any other failure counts as holding, so that CLAIM fails closed.
 */
static bool lx_unreadable(const char *path, char *what, size_t len)
{
	int err = errno;

	snprintf(what, len, "%s, unreadable: %s", path, strerror(err));
	return err != ENOENT && err != ESRCH;
}

/* The number a /proc directory entry names (a pid, a tid, a descriptor); -1: none. */
static int lx_entry_num(const struct dirent *e)
{
	char *end;
	long n;

	if (e->d_name[0] < '0' || e->d_name[0] > '9')
		return -1;
	n = strtol(e->d_name, &end, 10);
	return *end || n > INT_MAX ? -1 : (int)n;
}

/* Whether a task has a descriptor of one of f's BAR files; which in what. */
static bool lx_fds_hold(const struct lx_fn *f, int pid, int tid, char *what, size_t len)
{
	char dir[48], path[64], target[PATH_MAX];
	struct dirent *e;
	bool held = false;
	DIR *d;

	snprintf(dir, sizeof(dir), "/proc/%d/task/%d/fd", pid, tid);
	d = opendir(dir);
	if (!d)
		return lx_unreadable(dir, what, len);
	while (!held && (e = readdir(d))) {
		int fd = lx_entry_num(e);
		ssize_t n;

		if (fd < 0)
			continue;
		snprintf(path, sizeof(path), "%s/%d", dir, fd);
		n = readlink(path, target, sizeof(target) - 1);
		if (n < 0)
			continue;	/* closed since listed */
		target[n] = 0;
		held = lx_is_bar_file(f, target);
		if (held)
			snprintf(what, len, "descriptor %d of %s", fd, target);
	}
	closedir(d);
	return held;
}

/*
 * Whether a task's mappings include one of f's BAR files; *listed: it listed some (the
 * threads of a process share them, so one listing is enough).
 */
static bool lx_maps_hold(const struct lx_fn *f, int pid, int tid, char *what, size_t len,
			 bool *listed)
{
	char path[48], *line = NULL;
	size_t cap = 0;
	bool held = false;
	FILE *m;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/maps", pid, tid);
	m = fopen(path, "re");
	if (!m)
		return lx_unreadable(path, what, len);
	while (!held && getline(&line, &cap, m) > 0) {
		int name = -1;

		*listed = true;
		/* address perms offset dev inode pathname */
		sscanf(line, "%*s %*s %*s %*s %*s %n", &name);
		if (name < 0)
			continue;
		line[strcspn(line, "\n")] = 0;
		held = lx_is_bar_file(f, line + name);
		if (held)
			snprintf(what, len, "a mapping of %s", line + name);
	}
	free(line);
	fclose(m);
	return held;
}

/* Whether a process holds one of f's BAR files; how in what. */
static bool lx_proc_holds(const struct lx_fn *f, int pid, char *what, size_t len)
{
	bool held = false, listed = false;
	struct dirent *e;
	char dir[32];
	DIR *tasks;

	snprintf(dir, sizeof(dir), "/proc/%d/task", pid);
	tasks = opendir(dir);
	if (!tasks)
		return lx_unreadable(dir, what, len);
	while (!held && (e = readdir(tasks))) {
		int tid = lx_entry_num(e);

		if (tid < 0)
			continue;
		held = lx_fds_hold(f, pid, tid, what, len) ||
		       (!listed && lx_maps_hold(f, pid, tid, what, len, &listed));
	}
	closedir(tasks);
	return held;
}

/*
 * PROV_S_BUSY, with a log line, while a process other than this one holds a descriptor
 * or a mapping of one of f's BAR files: it could reach the device of the client CLAIM
 * is for. Every task is looked at: one that unshared its descriptor table, or outlived
 * its process's first thread, shows only under task/. Not seen: a descriptor in flight
 * in a socket's queue (in no table), or one passed between processes while they are
 * looked at.
 */
static int lx_bar_holders(const struct lx_fn *f)
{
	char path[32], what[PATH_MAX + 64], comm[32];
	int self = getpid(), pid = -1;
	struct dirent *e;
	bool held = false;
	DIR *proc;

	proc = opendir("/proc");
	if (!proc)
		return lx_status(errno);
	while (!held && (e = readdir(proc))) {
		pid = lx_entry_num(e);
		held = pid >= 0 && pid != self && lx_proc_holds(f, pid, what, sizeof(what));
	}
	closedir(proc);
	if (!held)
		return PROV_S_OK;
	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	if (lx_read_text(path, comm, sizeof(comm)) <= 0)
		comm[0] = 0;
	comm[strcspn(comm, "\n")] = 0;
	fprintf(stderr, LX_NAME ": %s: pid %d (%s) holds %s: CLAIM refused\n", f->bdf, pid, comm,
		what);
	return PROV_S_BUSY;
}

static int lx_claim(void *osp, struct dp_prov_conn *conn, unsigned int fn,
		    struct prov_claim_rep *rep)
{
	struct lx_os *os = osp;
	struct lx_fn *f = &os->fns[fn];
	struct lx_group *g = f->group;
	struct lx_conn *c = conn->os;
	int st;

	if (g->conn && g->conn != c)
		return PROV_S_BUSY;	/* a function of the same group is another client's */
	st = lx_bar_holders(f);
	if (st)
		return st;
	if (c->container < 0) {
		c->container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
		if (c->container < 0)
			return lx_status(errno);
	}
	if (!g->conn) {
		if (ioctl(g->fd, VFIO_GROUP_SET_CONTAINER, &c->container))
			return lx_status(errno);
		g->conn = c;
		c->groups++;
	}
	g->claims++;
	if (!c->iommu_set) {
		if (ioctl(c->container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU)) {
			st = lx_status(errno);
			goto put_group;
		}
		c->iommu_set = true;
	}
	f->device_fd = ioctl(g->fd, VFIO_GROUP_GET_DEVICE_FD, f->bdf);
	if (f->device_fd < 0) {
		st = lx_status(errno);
		goto put_group;
	}
	st = lx_describe(f, rep);
	if (!st)
		st = lx_decode_on(f);
	if (st)
		goto close_device;
	f->conn = c;
	lx_req_on(f);
	return PROV_S_OK;

close_device:
	close(f->device_fd);
	f->device_fd = -1;
put_group:
	lx_group_put(c, g);
	return st;
}

static int lx_set_irqs(struct lx_fn *f, uint32_t type, uint32_t flags, uint32_t start,
		       uint32_t count, const int *fds);
static void lx_vecs_free(struct lx_fn *f, uint32_t type);

/*
 * Cuts off every mapping of the BARs REGION_MAP lent, wherever their descriptor went: a
 * VFIO read of a BAR makes vfio-pci request its address range, which under
 * CONFIG_IO_STRICT_DEVMEM zaps every sysfs mapping of it (the next access faults) and
 * refuses new ones until the device fd closes. A new mapping that still works says the
 * kernel does not revoke; lx_bar_holders then keeps the function while one lives.
 */
static void lx_revoke(struct lx_fn *f)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	unsigned int i;

	for (i = 0; i < PROV_REGION_ROM; i++) {
		struct lx_region *r = &f->regions[i];
		uint64_t v;
		void *probe;

		if (r->fd < 0)
			continue;
		/* Only the request the read makes matters, not the value. */
		lx_file_access(f->device_fd, r->offset, 4, &v, false);
		probe = mmap(NULL, page, PROT_READ, MAP_SHARED, r->fd, 0);
		if (probe == MAP_FAILED)
			continue;
		munmap(probe, page);
		fprintf(stderr, LX_NAME ": %s: BAR%u: its mappings outlive the release: the kernel"
			" does not revoke them (no CONFIG_IO_STRICT_DEVMEM, or iomem=relaxed)\n",
			f->bdf, i);
	}
}

/*
 * The kernel asks for the device back: it is being removed (sysfs remove, a hot
 * unplug), and vfio-pci's remove waits until the device's descriptor is closed. The
 * client's connection ends here, which drops all its mappings and releases its
 * functions (lx_release closes the descriptor); the client sees the provider gone.
 */
static void lx_req_ready(struct lx_watch *w)
{
	struct lx_fn *f = (struct lx_fn *)((char *)w - offsetof(struct lx_fn, req));
	uint64_t n;

	if (read(w->fd, &n, sizeof(n)) != sizeof(n) || !f->conn)
		return;
	fprintf(stderr, LX_NAME ": %s: the kernel asks for it back (removed): ending its"
		" client's connection\n", f->bdf);
	if (f->conn->sock >= 0)
		shutdown(f->conn->sock, SHUT_RDWR);
}

/* Routes VFIO's request interrupt, where the device has one, to lx_req_ready. */
static void lx_req_on(struct lx_fn *f)
{
	struct vfio_irq_info ii = { .argsz = sizeof(ii), .index = VFIO_PCI_REQ_IRQ_INDEX };

	f->req.fd = -1;
	if (ioctl(f->device_fd, VFIO_DEVICE_GET_IRQ_INFO, &ii) || !ii.count)
		return;
	f->req.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (f->req.fd < 0)
		return;
	f->req.ready = lx_req_ready;
	if (lx_set_irqs(f, VFIO_PCI_REQ_IRQ_INDEX, VFIO_IRQ_SET_DATA_EVENTFD |
			VFIO_IRQ_SET_ACTION_TRIGGER, 0, 1, &f->req.fd) ||
	    lx_watch_add(&f->req)) {
		fprintf(stderr, LX_NAME ": %s: request interrupt: %s\n", f->bdf, strerror(errno));
		close(f->req.fd);
		f->req.fd = -1;
	}
}

static void lx_req_off(struct lx_fn *f)
{
	if (f->req.fd < 0)
		return;
	lx_watch_del(&f->req);
	close(f->req.fd);	/* the device's descriptor closes next: VFIO drops its own */
	f->req.fd = -1;
}

static void lx_release(void *osp, struct dp_prov_conn *conn, unsigned int fn)
{
	struct lx_os *os = osp;
	struct lx_fn *f = &os->fns[fn];
	unsigned int i;

	/* First: nothing the client does through a mapping may follow the reset. */
	lx_revoke(f);
	for (i = 0; i < PROV_IRQ_TYPES; i++) {
		/* VFIO refuses to turn off what is not on. */
		if ((f->irqs_on & 1u << i) &&
		    lx_set_irqs(f, i, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER, 0, 0,
				NULL))
			fprintf(stderr, LX_NAME ": %s: interrupts %u off: %s\n", f->bdf, i,
				strerror(errno));
		lx_vecs_free(f, i);
	}
	if (f->can_reset && ioctl(f->device_fd, VFIO_DEVICE_RESET))
		fprintf(stderr, LX_NAME ": %s: reset at release: %s\n", f->bdf, strerror(errno));
	for (i = 0; i < PROV_REGION_COUNT; i++) {
		struct lx_region *r = &f->regions[i];

		if (r->map)
			munmap(r->map, r->map_len);
		if (r->fd >= 0)
			close(r->fd);
		memset(r, 0, sizeof(*r));
		r->fd = -1;
	}
	memset(f->irqs, 0, sizeof(f->irqs));
	f->irqs_on = 0;
	lx_req_off(f);
	close(f->device_fd);
	f->device_fd = -1;
	f->conn = NULL;
	lx_group_put(conn->os, f->group);
}

/* ------------------------------------------------------------------ config and regions */

static int lx_config_access(struct lx_fn *f, uint32_t off, uint32_t size, uint64_t *val,
			    bool write)
{
	const struct lx_region *cfg = &f->regions[PROV_REGION_CONFIG];

	uint64_t end = f->device_fd < 0 ? f->config_size : cfg->size;

	if (f->device_fd < 0 && write)
		return PROV_S_NOT_CLAIMED;
	/* Past the end (256 bytes without extended config space) reads as 0. */
	if ((uint64_t)off + size > end) {
		if (write)
			return PROV_S_INVALID;
		*val = 0;
		return PROV_S_OK;
	}
	if (f->device_fd < 0)
		return lx_file_access(f->config_fd, off, size, val, false);
	return lx_file_access(f->device_fd, cfg->offset + off, size, val, write);
}

static int lx_config_read(void *osp, unsigned int fn, uint32_t off, uint32_t size,
			  uint32_t *val)
{
	struct lx_os *os = osp;
	uint64_t v = 0;
	int st = lx_config_access(&os->fns[fn], off, size, &v, false);

	*val = (uint32_t)v;
	return st;
}

static int lx_config_write(void *osp, unsigned int fn, uint32_t off, uint32_t size,
			   uint32_t val)
{
	struct lx_os *os = osp;
	uint64_t v = val;

	return lx_config_access(&os->fns[fn], off, size, &v, true);
}

static int lx_region_map(void *osp, unsigned int fn, uint32_t region,
			 struct prov_region_map_rep *rep, int *fd)
{
	struct lx_os *os = osp;
	struct lx_fn *f = &os->fns[fn];
	struct lx_region *r;
	char path[128], leaf[16];

	if (region >= PROV_REGION_ROM || !(f->regions[region].flags & PROV_REGION_MMAP))
		return PROV_S_UNSUPPORTED;
	r = &f->regions[region];
	/* One open per claim, lent to every REGION_MAP of it until release. */
	if (r->fd < 0) {
		snprintf(leaf, sizeof(leaf), "resource%u", region);
		lx_path(path, sizeof(path), f, leaf);
		r->fd = open(path, O_RDWR | O_CLOEXEC);
		if (r->fd < 0)
			return lx_status(errno);
	}
	rep->size = r->size;
	rep->offset = 0;
	rep->flags = PROV_REGION_READ | PROV_REGION_WRITE;
	*fd = r->fd;
	return PROV_S_OK;
}

/* The provider's own mapping of a memory BAR, made at its first access. */
static void *lx_bar(struct lx_fn *f, uint32_t region)
{
	struct lx_region *r = &f->regions[region];
	long page = sysconf(_SC_PAGESIZE);
	uint64_t len = DP_ALIGN_UP(r->page_off + r->size, (uint64_t)page);
	void *map;

	if (r->map)
		return (char *)r->map + r->page_off;
	map = lx_bar_file_map(f, region, (size_t)len);
	if (map == MAP_FAILED) {
		fprintf(stderr, LX_NAME ": %s: mmap resource%u: %s\n", f->bdf, region,
			strerror(errno));
		return NULL;
	}
	r->map = map;
	r->map_len = len;
	return (char *)map + r->page_off;
}

/* One access of exactly size bytes (the core checked alignment and bounds). */
static void lx_mmio(volatile void *p, uint32_t size, uint64_t *val, bool write)
{
	switch (size) {
	case 1:
		if (write)
			*(volatile uint8_t *)p = (uint8_t)*val;
		else
			*val = *(volatile uint8_t *)p;
		break;
	case 2:
		if (write)
			*(volatile uint16_t *)p = htole16((uint16_t)*val);
		else
			*val = le16toh(*(volatile uint16_t *)p);
		break;
	case 4:
		if (write)
			*(volatile uint32_t *)p = htole32((uint32_t)*val);
		else
			*val = le32toh(*(volatile uint32_t *)p);
		break;
	default:
		if (write)
			*(volatile uint64_t *)p = htole64(*val);
		else
			*val = le64toh(*(volatile uint64_t *)p);
		break;
	}
}

static int lx_region_access(struct lx_fn *f, uint32_t region, uint64_t off, uint32_t size,
			    uint64_t *val, bool write)
{
	struct lx_region *r;
	char *bar;

	if (region >= PROV_REGION_COUNT || !f->regions[region].size)
		return PROV_S_INVALID;
	r = &f->regions[region];
	if (off > r->size || size > r->size - off)
		return PROV_S_INVALID;
	if (region == PROV_REGION_CONFIG)
		return lx_config_access(f, (uint32_t)off, size, val, write);
	if (region == PROV_REGION_ROM || (r->flags & PROV_REGION_IO) || r->via_vfio)
		return lx_file_access(f->device_fd, r->offset + off, size, val, write);
	bar = lx_bar(f, region);
	if (!bar)
		return PROV_S_IO;
	lx_mmio(bar + off, size, val, write);
	return PROV_S_OK;
}

static int lx_region_read(void *osp, unsigned int fn, uint32_t region, uint64_t off,
			  uint32_t size, uint64_t *val)
{
	struct lx_os *os = osp;

	return lx_region_access(&os->fns[fn], region, off, size, val, false);
}

static int lx_region_write(void *osp, unsigned int fn, uint32_t region, uint64_t off,
			   uint32_t size, uint64_t val)
{
	struct lx_os *os = osp;

	return lx_region_access(&os->fns[fn], region, off, size, &val, true);
}

/* ------------------------------------------------------------------ interrupts, reset */

/* VFIO takes any descriptor and fails late; /proc names an eventfd's file exactly. */
static bool lx_is_eventfd(int fd)
{
	char path[48], target[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return false;
	target[n] = 0;
	return !strcmp(target, "anon_inode:[eventfd]");
}

_Static_assert(LX_MAX_FDS <= LX_MAX_VECTORS, "an EVENTFD's descriptors fit");

/* One VFIO_DEVICE_SET_IRQS; with DATA_EVENTFD, fds holds count (<= LX_MAX_VECTORS). */
static int lx_set_irqs(struct lx_fn *f, uint32_t type, uint32_t flags, uint32_t start,
		       uint32_t count, const int *fds)
{
	union {
		struct vfio_irq_set s;
		char room[sizeof(struct vfio_irq_set) + LX_MAX_VECTORS * sizeof(int)];
	} u;
	size_t data = flags & VFIO_IRQ_SET_DATA_EVENTFD ? count * sizeof(int) : 0;

	u.s = (struct vfio_irq_set){
		.argsz = sizeof(u.s) + data, .flags = flags, .index = type,
		.start = start, .count = count,
	};
	memcpy(u.s.data, fds, data);
	return ioctl(f->device_fd, VFIO_DEVICE_SET_IRQS, &u.s) ? lx_status(errno) : PROV_S_OK;
}

/* Says a pending bit went from 0 to 1, if the connection asked with NOTIFY. */
static void lx_notify_signal(struct lx_conn *c)
{
	/* EAGAIN: the pipe is full, so it is readable already. */
	if (c->notify_wr >= 0 && write(c->notify_wr, "", 1) < 0 && errno != EAGAIN)
		fprintf(stderr, LX_NAME ": NOTIFY pipe: %s\n", strerror(errno));
}

/* A vector ENABLE routed fired: its pending bit, however often it fired meanwhile. */
static void lx_vec_ready(struct lx_watch *w)
{
	struct lx_vec *v = dp_container_of(w, struct lx_vec, watch);
	uint64_t n;

	if (read(w->fd, &n, sizeof(n)) != sizeof(n) || v->pending)
		return;
	v->pending = true;
	lx_notify_signal(v->f->conn);
}

static void lx_vec_close(struct lx_vec *v)
{
	if (v->watch.fd < 0)
		return;
	lx_watch_del(&v->watch);
	close(v->watch.fd);
	v->watch.fd = -1;
}

/* Drops ENABLE's eventfds and pending bits of type; VFIO no longer signals them. */
static void lx_vecs_free(struct lx_fn *f, uint32_t type)
{
	struct lx_vec *v = f->vecs[type];
	uint32_t i;

	if (!v)
		return;
	for (i = f->irqs[type]; i--;)
		lx_vec_close(&v[i]);
	free(v);
	f->vecs[type] = NULL;
}

/* Opens and watches v's eventfd. */
static int lx_vec_open(struct lx_vec *v)
{
	int st;

	v->watch.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (v->watch.fd < 0)
		return lx_status(errno);
	st = lx_watch_add(&v->watch);
	if (st) {
		close(v->watch.fd);
		v->watch.fd = -1;
	}
	return st;
}

/*
 * ENABLE: routes vectors start..start+count-1 to eventfds of the provider's, each
 * opened at the vector's first ENABLE and kept until DISABLE or RELEASE. A type
 * EVENTFD routed is the client's until DISABLE.
 */
static int lx_irq_enable(struct lx_fn *f, uint32_t type, uint32_t start, uint32_t count)
{
	int fds[LX_MAX_VECTORS];
	uint32_t opened[LX_MAX_VECTORS], i, nopened = 0;
	struct lx_vec *v = f->vecs[type];
	int st;

	if ((f->irqs_on & 1u << type) && !v)
		return PROV_S_INVALID;
	/* The core checked the range; bounded again for the arrays here. */
	if (!count || count > LX_MAX_VECTORS)
		return PROV_S_INVALID;
	if (!v) {
		v = calloc(f->irqs[type], sizeof(*v));
		if (!v)
			return PROV_S_IO;
		for (i = 0; i < f->irqs[type]; i++)
			v[i] = (struct lx_vec){ .watch = { -1, lx_vec_ready }, .f = f };
	}
	for (i = 0; i < count; i++) {
		struct lx_vec *x = &v[start + i];

		if (x->watch.fd < 0) {
			st = lx_vec_open(x);
			if (st)
				goto close_opened;
			opened[nopened++] = start + i;
		}
		fds[i] = x->watch.fd;
	}
	st = lx_set_irqs(f, type, VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
			 start, count, fds);
	if (st)
		goto close_opened;
	f->vecs[type] = v;
	f->irqs_on |= 1u << type;
	return PROV_S_OK;

close_opened:
	while (nopened--)
		lx_vec_close(&v[opened[nopened]]);
	if (!f->vecs[type])
		free(v);
	return st;
}

static int lx_irq_set(void *osp, unsigned int fn, const struct prov_irq_req *req,
		      const int *fds, unsigned int nfds)
{
	struct lx_os *os = osp;
	struct lx_fn *f = &os->fns[fn];
	unsigned int i;
	int st;

	switch (req->action) {
	case PROV_IRQ_EVENTFD:
		/* A type ENABLE routed is the provider's until DISABLE. */
		if (f->vecs[req->type])
			return PROV_S_INVALID;
		for (i = 0; i < nfds; i++)
			if (!lx_is_eventfd(fds[i]))
				return PROV_S_BAD_FD;
		st = lx_set_irqs(f, req->type, VFIO_IRQ_SET_DATA_EVENTFD |
				 VFIO_IRQ_SET_ACTION_TRIGGER, req->start, nfds, fds);
		if (!st)
			f->irqs_on |= 1u << req->type;
		return st;
	case PROV_IRQ_ENABLE:
		return lx_irq_enable(f, req->type, req->start, req->count);
	case PROV_IRQ_DISABLE:
		st = lx_set_irqs(f, req->type, VFIO_IRQ_SET_DATA_NONE |
				 VFIO_IRQ_SET_ACTION_TRIGGER, 0, 0, NULL);
		if (!st) {
			f->irqs_on &= ~(1u << req->type);
			lx_vecs_free(f, req->type);
		}
		return st;
	default:	/* MASK, UNMASK */
		return lx_set_irqs(f, req->type, VFIO_IRQ_SET_DATA_NONE |
				   (req->action == PROV_IRQ_MASK ? VFIO_IRQ_SET_ACTION_MASK :
				    VFIO_IRQ_SET_ACTION_UNMASK), req->start, req->count, NULL);
	}
}

static int lx_irq_pending(void *osp, unsigned int fn, uint32_t type, uint32_t start,
			  uint32_t count, uint64_t *bits)
{
	struct lx_os *os = osp;
	struct lx_vec *v = os->fns[fn].vecs[type];
	uint32_t i;

	for (i = 0; v && i < count; i++) {
		*bits |= (uint64_t)v[start + i].pending << i;
		v[start + i].pending = false;
	}
	return PROV_S_OK;
}

static void lx_notify_close(struct lx_conn *c)
{
	if (c->notify_rd >= 0)
		close(c->notify_rd);
	if (c->notify_wr >= 0)
		close(c->notify_wr);
	c->notify_rd = c->notify_wr = -1;
}

/* Whether any vector of a function conn holds has its bit set. */
static bool lx_conn_pending(struct lx_os *os, struct lx_conn *c)
{
	unsigned int i, t, v;

	for (i = 0; i < os->nr_fns; i++) {
		struct lx_fn *f = &os->fns[i];

		for (t = 0; f->conn == c && t < PROV_IRQ_TYPES; t++)
			for (v = 0; f->vecs[t] && v < f->irqs[t]; v++)
				if (f->vecs[t][v].pending)
					return true;
	}
	return false;
}

static int lx_notify(void *osp, struct dp_prov_conn *conn, int *rep_fd)
{
	struct lx_conn *c = conn->os;
	int p[2];

	if (pipe2(p, O_CLOEXEC | O_NONBLOCK))
		return lx_status(errno);
	lx_notify_close(c);
	c->notify_rd = p[0];
	c->notify_wr = p[1];
	if (lx_conn_pending(osp, c))
		lx_notify_signal(c);
	*rep_fd = c->notify_rd;
	return PROV_S_OK;
}

static int lx_reset(void *osp, unsigned int fn, uint32_t *method)
{
	struct lx_os *os = osp;
	struct lx_fn *f = &os->fns[fn];

	if (!f->can_reset)
		return PROV_S_UNSUPPORTED;
	if (ioctl(f->device_fd, VFIO_DEVICE_RESET))
		return lx_status(errno);
	*method = f->reset_method;
	return lx_decode_on(f);
}

/* ------------------------------------------------------------------ DMA */

static int lx_dma_memory(void *osp, struct dp_prov_conn *conn, uint64_t size, uint64_t base,
			 int fd)
{
	struct lx_conn *c = conn->os;
	struct statfs fs;
	struct stat st;
	void *mem;

	(void)osp;
	(void)base;
	/*
	 * Plain memory only: memfd, tmpfs or hugetlbfs. A sysfs BAR file would aim the
	 * device's DMA at a BAR, and pinning a FUSE file's pages could block this thread.
	 */
	if (fd < 0 || fstatfs(fd, &fs))
		return PROV_S_BAD_FD;
	if (fs.f_type != TMPFS_MAGIC && fs.f_type != HUGETLBFS_MAGIC) {
		fprintf(stderr, LX_NAME ": DMA_MEMORY: a file on filesystem 0x%llx, not memfd,"
			" tmpfs or hugetlbfs\n", (unsigned long long)fs.f_type);
		return PROV_S_BAD_FD;
	}
	/* A regular file that holds size bytes: no SIGBUS past its end. */
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || (uint64_t)st.st_size < size ||
	    size > SIZE_MAX)
		return PROV_S_BAD_FD;
	mem = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (mem == MAP_FAILED)
		return PROV_S_BAD_FD;
	c->mem = mem;
	c->mem_size = size;
	return PROV_S_OK;
}

/* The core chose *iova (os_iova is off here): VFIO type1 maps where it is told. */
static int lx_dma_map(void *osp, struct dp_prov_conn *conn, uint64_t off, uint64_t *size,
		      unsigned int perm, uint64_t *iova)
{
	(void)osp;
	return lx_map(conn->os, *iova, off, *size, perm);
}

static void lx_dma_unmap(void *osp, struct dp_prov_conn *conn, uint64_t iova, uint64_t size)
{
	struct lx_conn *c = conn->os;
	struct vfio_iommu_type1_dma_unmap u = { .argsz = sizeof(u), .iova = iova, .size = size };

	(void)osp;
	/* Without a group the container has no IOMMU, and the mapping went with it. */
	if (!c->iommu_set)
		return;
	if (ioctl(c->container, VFIO_IOMMU_UNMAP_DMA, &u) || u.size != size)
		fprintf(stderr, LX_NAME ": unmap 0x%llx+0x%llx: %s\n", (unsigned long long)iova,
			(unsigned long long)size, u.size != size ? "size differs" : strerror(errno));
}

static void lx_conn_gone(void *osp, struct dp_prov_conn *conn)
{
	struct lx_conn *c = conn->os;

	(void)osp;
	if (c->container >= 0)
		close(c->container);
	if (c->mem)
		munmap(c->mem, c->mem_size);
	lx_notify_close(c);
	lx_conn_init(c);
}

const struct dp_prov_os_ops lx_os_ops = {
	.config_read = lx_config_read,
	.config_write = lx_config_write,
	.claim = lx_claim,
	.release = lx_release,
	.region_map = lx_region_map,
	.region_read = lx_region_read,
	.region_write = lx_region_write,
	.irq_set = lx_irq_set,
	.irq_pending = lx_irq_pending,
	.notify = lx_notify,
	.reset = lx_reset,
	.dma_memory = lx_dma_memory,
	.dma_map = lx_dma_map,
	.dma_unmap = lx_dma_unmap,
	.conn_gone = lx_conn_gone,
};
