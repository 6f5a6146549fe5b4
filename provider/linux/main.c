// SPDX-License-Identifier: (GPL-2.0 OR MIT)
/*
 * The Linux provider's start-up, for `dartpass provider` (tools/dartpass/cmd-provider.c
 * parses its options): the functions, the IOMMU's limits and the aperture, the
 * socket; then serve.c serves until SIGINT or SIGTERM.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include "provider.h"

static bool lx_in_ranges(const struct lx_iommu *io, uint64_t base, uint64_t size)
{
	unsigned int i;

	for (i = 0; i < io->nr_ranges; i++)
		if (base >= io->ranges[i].start && base + size - 1 <= io->ranges[i].last)
			return true;
	return false;
}

static void lx_print_ranges(FILE *f, const struct lx_iommu *io)
{
	unsigned int i;

	for (i = 0; i < io->nr_ranges; i++)
		fprintf(f, "%s0x%llx-0x%llx", i ? ", " : "",
			(unsigned long long)io->ranges[i].start,
			(unsigned long long)io->ranges[i].last);
}

/* The DART model's configuration from the options and what the IOMMU allows. */
static int lx_limits(const struct lx_start *o, const struct lx_iommu *io,
		     struct dp_dart_config *d)
{
	uint64_t granule, max_mappings = o->max_mappings;

	if (o->granule_shift < 12 || o->granule_shift > 30 ||
	    (1ull << o->granule_shift) < io->min_page) {
		fprintf(stderr, LX_NAME ": --granule-shift %llu: must be 12..30 and the granule"
			" at least the IOMMU's smallest page, %llu bytes\n",
			(unsigned long long)o->granule_shift, (unsigned long long)io->min_page);
		return -1;
	}
	granule = 1ull << o->granule_shift;
	/* 0: DART's 65,536, or what VFIO allows a container if that is fewer. */
	if (!max_mappings)
		max_mappings = io->dma_avail && io->dma_avail < 65536 ? io->dma_avail : 65536;
	if (io->dma_avail && max_mappings > io->dma_avail) {
		fprintf(stderr, LX_NAME ": --max-mappings %llu: VFIO allows a container %u"
			" (vfio_iommu_type1 dma_entry_limit)\n",
			(unsigned long long)max_mappings, io->dma_avail);
		return -1;
	}
	if (max_mappings > UINT32_MAX || !o->max_bytes) {
		fprintf(stderr, LX_NAME ": --max-mappings must be at most %u and --max-bytes"
			" non-zero\n", UINT32_MAX);
		return -1;
	}
	d->granule_shift = (uint32_t)o->granule_shift;
	d->max_mappings = (uint32_t)max_mappings;
	d->max_bytes = o->max_bytes;
	if (o->aperture_size) {
		d->aperture_base = o->aperture_base;
		d->aperture_size = o->aperture_size;
		if (!lx_in_ranges(io, d->aperture_base, d->aperture_size)) {
			fprintf(stderr, LX_NAME ": --aperture 0x%llx:0x%llx: outside the IOMMU's"
				" IOVA ranges ", (unsigned long long)o->aperture_base,
				(unsigned long long)o->aperture_size);
			lx_print_ranges(stderr, io);
			fputc('\n', stderr);
			return -1;
		}
	} else if (!lx_default_aperture(io, granule, &d->aperture_base, &d->aperture_size)) {
		fprintf(stderr, LX_NAME ": no aperture in [256M, 4G) within the IOVA ranges and"
			" outside PCI windows: pass --aperture\n");
		return -1;
	}
	if (d->aperture_size < d->max_bytes)
		fprintf(stderr, LX_NAME ": note: the aperture (%llu MiB) bounds mappings more"
			" tightly than --max-bytes\n", (unsigned long long)(d->aperture_size >> 20));
	return 0;
}

static void lx_print_start(const struct dp_prov *p, const struct lx_os *os,
			   const struct lx_iommu *io)
{
	const struct dp_dart_config *d = &p->cfg.dart;
	unsigned int i;

	fprintf(stderr, LX_NAME ": IOMMU: VFIO type1v2, one container per client; IOVA ranges ");
	lx_print_ranges(stderr, io);
	fprintf(stderr, "; smallest page %llu%s\n", (unsigned long long)io->min_page,
		os->nr_groups ? "" : " (no function: the IOMMU was not asked)");
	fprintf(stderr, LX_NAME ": limits per client: aperture 0x%llx+0x%llx, granule %u KiB,"
		" %u mappings, %llu MiB, %u entries per DMA message\n",
		(unsigned long long)d->aperture_base, (unsigned long long)d->aperture_size,
		(1u << d->granule_shift) >> 10, d->max_mappings,
		(unsigned long long)(d->max_bytes >> 20), p->cfg.max_batch);
	for (i = 0; i < p->nr_fns; i++)
		fprintf(stderr, LX_NAME ": function %u: %s [%04x:%04x] class %06x, IOMMU group %d,"
			" reset %s\n", i, os->fns[i].bdf, p->fns[i].desc.vendor,
			p->fns[i].desc.device, p->fns[i].desc.class_rev >> 8,
			os->fns[i].group->id, lx_reset_name(os->fns[i].reset_method));
	if (!p->nr_fns)
		fprintf(stderr, LX_NAME ": no functions (--function BDF lends one)\n");
}

/* A listening socket at path; a stale socket file is replaced, a live one is not. */
static int lx_listen(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, LX_NAME ": --socket %s: too long\n", path);
		return -1;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		goto fail;
	if (!lstat(path, &st) && S_ISSOCK(st.st_mode)) {
		int probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
		bool live = probe >= 0 && !connect(probe, (struct sockaddr *)&sa, sizeof(sa));

		if (probe >= 0)
			close(probe);
		if (live) {
			fprintf(stderr, LX_NAME ": %s: another provider serves it\n", path);
			goto close_socket;
		}
		unlink(path);
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || chmod(path, 0600) || listen(fd, 16))
		goto fail;
	return fd;

fail:
	fprintf(stderr, LX_NAME ": %s: %s\n", path, strerror(errno));
close_socket:
	if (fd >= 0)
		close(fd);
	return -1;
}

int lx_provider_run(const struct lx_start *o)
{
	static struct dp_prov prov;
	static struct lx_os os;
	struct dp_prov_config cfg = {
		.max_batch = PROV_MAX_BATCH,
		.features = PROV_F_IRQ_EVENTFD | PROV_F_IRQ_PENDING | PROV_F_REGION_FD |
			    PROV_F_DMA_FD,
	};
	struct lx_iommu io;
	struct rlimit nofile;
	unsigned int i;
	int fd, rc = 1;

	/* IRQ_SET and NOTIFY tell an eventfd from other descriptors through /proc. */
	if (access("/proc/self/fd", R_OK)) {
		fprintf(stderr, LX_NAME ": /proc is not mounted\n");
		return 1;
	}
	/* Every vector IRQ_SET ENABLE routes holds an eventfd of the provider's. */
	if (!getrlimit(RLIMIT_NOFILE, &nofile)) {
		nofile.rlim_cur = nofile.rlim_max;
		setrlimit(RLIMIT_NOFILE, &nofile);
	}
	if (lx_os_open(&os, o->functions, o->nr_functions) || lx_iommu_probe(&os, &io))
		goto close_os;
	/*
	 * After the probe, which found vfio_iommu_type1 loaded if any function is listed.
	 * Interrupt remapping confines what a client writes into the MSI-X table of a BAR
	 * it maps to its own vectors.
	 */
	if (lx_unsafe_interrupts()) {
		fprintf(stderr, LX_NAME ": vfio_iommu_type1 allows unsafe interrupts"
			" (allow_unsafe_interrupts=Y): without interrupt remapping, MSI-X table"
			" writes through a shared BAR reach any interrupt%s\n",
			o->allow_unsafe_interrupts ? "; going on (--allow-unsafe-interrupts)" :
			"; not starting (--allow-unsafe-interrupts to start anyway)");
		if (!o->allow_unsafe_interrupts)
			goto close_os;
	}
	if (lx_limits(o, &io, &cfg.dart))
		goto close_os;
	if (dp_prov_init(&prov, &cfg, &lx_os_ops, &os)) {
		fprintf(stderr, LX_NAME ": the aperture 0x%llx+0x%llx is not a multiple of the"
			" granule\n", (unsigned long long)cfg.dart.aperture_base,
			(unsigned long long)cfg.dart.aperture_size);
		goto close_os;
	}
	for (i = 0; i < os.nr_fns; i++) {
		unsigned int h;
		int st = dp_prov_add_function(&prov, os.fns[i].rid, &h);

		if (st || h != i) {
			fprintf(stderr, LX_NAME ": %s: %s\n", os.fns[i].bdf, dp_prov_status_name(st));
			goto close_os;
		}
	}
	lx_print_start(&prov, &os, &io);
	fd = lx_listen(o->socket);
	if (fd < 0)
		goto close_os;
	fprintf(stderr, LX_NAME ": listening on %s\n", o->socket);
	rc = lx_serve(&prov, fd);
	close(fd);
	unlink(o->socket);
close_os:
	lx_os_close(&os);
	return rc;
}
