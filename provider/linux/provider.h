/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * The Linux provider, run as `dartpass provider`. The portable core (lib/dp_prov.c)
 * speaks the protocol; this adds the transport (serve.c: a SOCK_SEQPACKET socket, one
 * poll loop, descriptors in SCM_RIGHTS), the start-up (main.c: limits, aperture,
 * socket) and the OS layer (vfio.c: VFIO, one type1 container per client, BARs through
 * sysfs). Single-threaded: nothing here is locked.
 */
#ifndef PROVIDER_H
#define PROVIDER_H

#include <stdbool.h>
#include <stdint.h>
#include "dp_prov.h"

#define LX_NAME		"dartpass provider"
/* The most descriptors one message carries: the kernel's SCM_MAX_FD. */
#define LX_MAX_FDS	PROV_MAX_FDS
/* IOVA ranges kept from VFIO_IOMMU_GET_INFO; dropping more only forgoes addresses. */
#define LX_MAX_RANGES	32
/* The most vectors of one type: an MSI-X table's 2,048. */
#define LX_MAX_VECTORS	2048

struct lx_conn;

/*
 * A descriptor of the OS layer's that serve.c's poll loop watches: ready runs from the
 * loop, between requests, whenever fd is readable (level-triggered).
 */
struct lx_watch {
	int fd;
	void (*ready)(struct lx_watch *w);
};

struct lx_group {
	int id;				/* /dev/vfio/ID */
	int fd;				/* open from start to exit: VFIO lets one process in */
	struct lx_conn *conn;		/* whose container it is attached to; NULL: none */
	unsigned int claims;		/* functions of it that conn has claimed */
};

struct lx_region {
	uint64_t offset;		/* in the VFIO device fd */
	uint64_t size;
	uint32_t flags;			/* PROV_REGION_* */
	uint64_t page_off;		/* memory BAR: its start within its first page */
	bool via_vfio;			/* memory BAR sysfs will not map: accessed through VFIO */
	int fd;				/* sysfs resourceN lent by REGION_MAP; -1: none */
	void *map;			/* the provider's own mapping of it; NULL: none */
	uint64_t map_len;
};

/* A vector IRQ_SET ENABLE routed to an eventfd of the provider's (PROV_F_IRQ_PENDING). */
struct lx_vec {
	struct lx_watch watch;		/* fd -1: not routed */
	struct lx_fn *f;
	bool pending;			/* fired since IRQ_PENDING last read it */
};

struct lx_fn {
	char bdf[16];			/* 0000:00:04.0 */
	char sysfs[256];		/* its sysfs directory resolved, as /proc names its files */
	uint32_t rid;
	struct lx_group *group;
	int config_fd;			/* sysfs config, read-only: reads while unclaimed */
	uint64_t config_size;		/* 256, or 4096 with extended config space */
	uint32_t reset_method;		/* PROV_RESET_*, from sysfs reset_method */
	bool told_unmappable;		/* logged once that its BARs cannot be lent */
	/* While claimed: */
	struct lx_conn *conn;		/* NULL while free */
	int device_fd;
	bool can_reset;			/* VFIO_DEVICE_FLAGS_RESET */
	struct lx_region regions[PROV_REGION_COUNT];
	uint32_t irqs[PROV_IRQ_TYPES];
	uint32_t irqs_on;		/* bit per PROV_IRQ_* type VFIO has on */
	/* Per type: irqs[type] vectors once ENABLE routed one; NULL: EVENTFD's or off. */
	struct lx_vec *vecs[PROV_IRQ_TYPES];
	/*
	 * VFIO's request interrupt: the kernel wants the device back (it is being
	 * removed: sysfs remove, hot unplug). fd -1: not routed.
	 */
	struct lx_watch req;
};

/* One client's VFIO state. */
struct lx_conn {
	int container;			/* -1 until the first CLAIM */
	unsigned int groups;		/* attached to it */
	/*
	 * VFIO_SET_IOMMU done since the container last had no group. The kernel drops the
	 * IOMMU with the last group, and the core has dropped the client's mappings by
	 * then: it does when a client's last function is released.
	 */
	bool iommu_set;
	void *mem;			/* DMA memory, MAP_SHARED; NULL until DMA_MEMORY */
	uint64_t mem_size;
	/*
	 * NOTIFY's pipe: the read end lent to the client, the write end (non-blocking)
	 * the provider's alone, so a client that stops reading cannot make it wait.
	 */
	int notify_rd, notify_wr;	/* -1: none */
	int sock;			/* the client's socket (serve.c); -1: none */
};

struct lx_range {
	uint64_t start, last;		/* inclusive */
};

/* What the type1 IOMMU allows, measured at start over every listed group. */
struct lx_iommu {
	unsigned int nr_ranges;
	struct lx_range ranges[LX_MAX_RANGES];	/* as VFIO lists them */
	uint64_t min_page;		/* smallest IOMMU page (the CPU page without groups) */
	uint32_t dma_avail;		/* mappings one container may hold; 0: no limit known */
};

struct lx_os {
	unsigned int nr_fns, nr_groups;
	struct lx_fn fns[PROV_MAX_FUNCTIONS];
	struct lx_group groups[PROV_MAX_FUNCTIONS];
};

extern const struct dp_prov_os_ops lx_os_ops;

/* What `dartpass provider` was asked for (tools/dartpass/cmd-provider.c). */
struct lx_start {
	const char *socket;
	const char *const *functions;	/* BDFs */
	unsigned int nr_functions;
	uint64_t granule_shift;
	uint64_t max_mappings;		/* 0: 65,536, or VFIO's per-container limit if lower */
	uint64_t max_bytes;
	uint64_t aperture_base, aperture_size;	/* size 0: chosen from the IOMMU's ranges */
	bool allow_unsafe_interrupts;
};

/* Serves until SIGINT or SIGTERM; the process's exit status. */
int lx_provider_run(const struct lx_start *o);

/* The PROV_S_* status for an errno: the one place the two meet. */
int lx_status(int err);

/* Opens the functions (and their groups) named by BDF; prints why not and returns -1. */
int lx_os_open(struct lx_os *os, const char *const *bdfs, unsigned int n);
void lx_os_close(struct lx_os *os);
/* Measures the IOMMU with every group attached to one container; -1 on failure. */
int lx_iommu_probe(struct lx_os *os, struct lx_iommu *io);
/*
 * The default aperture: the largest granule-aligned piece of the IOVA ranges within
 * [256 MiB, 4 GiB) that no PCI host bridge window covers; false if none.
 */
bool lx_default_aperture(const struct lx_iommu *io, uint64_t granule, uint64_t *base,
			 uint64_t *size);
const char *lx_reset_name(uint32_t method);
/* Whether VFIO admits groups without interrupt remapping (vfio_iommu_type1's parameter). */
bool lx_unsafe_interrupts(void);

void lx_conn_init(struct lx_conn *c);

/* Serves clients on listen_fd until SIGINT or SIGTERM; returns the exit status. */
int lx_serve(struct dp_prov *p, int listen_fd);
/* From within lx_serve: a PROV_S_*. A watch is deleted before its descriptor closes. */
int lx_watch_add(struct lx_watch *w);
void lx_watch_del(struct lx_watch *w);

#endif /* PROVIDER_H */
