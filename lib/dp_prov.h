/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * dp_prov: the provider's portable core. It touches no hardware and makes no OS call:
 * it validates every message of the provider protocol (include/provider_proto.h),
 * keeps which connection holds which function, filters config-space writes, chooses
 * every DMA bus address with the DART model (dp_dart) or records the one the OS's
 * IOMMU chose (macOS's DART), enforces the caps per connection, and when a
 * connection ends undoes everything it did. What touches hardware is the OS layer,
 * a table of callbacks (struct dp_prov_os_ops): VFIO on Linux (provider/linux/),
 * PCIDriverKit on macOS (provider/macos/).
 *
 * Errors are enum prov_status values, which reach the client unchanged. The core is
 * single-threaded: the OS layer calls it from one thread, or under one lock.
 *
 * Descriptors: a request may come with descriptors (Linux: SCM_RIGHTS; macOS: none).
 * They stay the transport's: it closes them after dp_prov_handle() returns, so an OS
 * callback that keeps one duplicates it. A reply descriptor (*rep_fd) is lent by the
 * OS layer: the transport sends it and does not close it.
 */
#ifndef DP_PROV_H
#define DP_PROV_H

#include "dp_env.h"
#include "dp_dart.h"
#include "provider_proto.h"

struct dp_prov;
struct dp_prov_conn;

/*
 * The OS layer. fn is the function's handle (its index in HELLO's list). Every
 * callback returns a PROV_S_* status; any but OK is passed to the client.
 */
struct dp_prov_os_ops {
	/* Config space of any listed function, claimed or not (1, 2 or 4 bytes). */
	int (*config_read)(void *os, unsigned int fn, uint32_t off, uint32_t size,
			   uint32_t *val);
	int (*config_write)(void *os, unsigned int fn, uint32_t off, uint32_t size,
			    uint32_t val);
	/*
	 * Makes fn usable by conn (Linux: attach its group to conn's container) with memory
	 * decode on, and I/O decode if it has I/O BARs, and fills rep->regions' size and
	 * flags and rep->irqs; the core fills identity and holes. The config region is 256
	 * bytes, or 4096 with extended config space: the core bounds config accesses by it.
	 * BUSY when the OS has its own reason to refuse fn to conn.
	 */
	int (*claim)(void *os, struct dp_prov_conn *conn, unsigned int fn,
		     struct prov_claim_rep *rep);
	/*
	 * Interrupts off, function reset, detached from conn. Cannot fail. When conn
	 * releases its last function its DMA mappings go too, on every OS (dma_unmap for
	 * each, after this): a VFIO type1 container keeps none without a group, and
	 * clients see one rule.
	 */
	void (*release)(void *os, struct dp_prov_conn *conn, unsigned int fn);
	int (*region_map)(void *os, unsigned int fn, uint32_t region,
			  struct prov_region_map_rep *rep, int *fd);
	int (*region_read)(void *os, unsigned int fn, uint32_t region, uint64_t off,
			   uint32_t size, uint64_t *val);
	int (*region_write)(void *os, unsigned int fn, uint32_t region, uint64_t off,
			    uint32_t size, uint64_t val);
	/* Checked by the core: type, action, range within the function's vectors. */
	int (*irq_set)(void *os, unsigned int fn, const struct prov_irq_req *req,
		       const int *fds, unsigned int nfds);
	/*
	 * Reads and clears pending bits. NULL where interrupts only signal eventfds:
	 * IRQ_PENDING and NOTIFY are then UNSUPPORTED.
	 */
	int (*irq_pending)(void *os, unsigned int fn, uint32_t type, uint32_t start,
			   uint32_t count, uint64_t *bits);
	/*
	 * NOTIFY: how conn learns that a pending bit became set, at once if one is set
	 * already. Linux: the read end of a pipe whose write end only the OS layer holds,
	 * lent in *rep_fd; macOS: the call's async completion, which the transport hands
	 * the OS layer beside the message. Set with irq_pending.
	 */
	int (*notify)(void *os, struct dp_prov_conn *conn, int *rep_fd);
	/* Decode is on again afterwards, as after claim. */
	int (*reset)(void *os, unsigned int fn, uint32_t *method);
	/* Adopts the memory DMA entries point into; fd is -1 on macOS. */
	int (*dma_memory)(void *os, struct dp_prov_conn *conn, uint64_t size, uint64_t base,
			  int fd);
	/*
	 * Makes *size bytes at memory offset off reachable at bus address *iova, for the
	 * device to read (PVDMA_MAP_READ) and/or write (PVDMA_MAP_WRITE); off and *size
	 * are granule aligned. Without cfg.os_iova, *iova is the core's choice and *size
	 * is kept (Linux: VFIO type1). With it the OS's IOMMU chooses (macOS: the DART,
	 * through IODMACommand): the OS layer stores the bus address, granule aligned, in
	 * *iova, and may map only a first part, at least one granule, lowering *size.
	 */
	int (*dma_map)(void *os, struct dp_prov_conn *conn, uint64_t off, uint64_t *size,
		       unsigned int perm, uint64_t *iova);
	/*
	 * Removes a mapping dma_map made, named by the iova and size it ended with; cannot
	 * fail (may follow the last release).
	 */
	void (*dma_unmap)(void *os, struct dp_prov_conn *conn, uint64_t iova, uint64_t size);
	/* conn is gone and every function and mapping of it released: drop its state. */
	void (*conn_gone)(void *os, struct dp_prov_conn *conn);
};

/* Where the filter finds a function's capabilities: offsets, 0 when absent. */
struct dp_prov_caps {
	uint16_t msi, msix, pcie, pm;
	uint16_t ats, pri, pasid, sriov, rebar, acs;	/* extended capabilities */
	uint16_t msi_ctl;	/* MSI message control: where address and data lie */
	uint8_t rebar_bars;	/* resizable BARs, one control register each */
};

struct dp_prov_fn {
	struct prov_function desc;	/* as HELLO lists it (flags computed per reply) */
	struct dp_prov_conn *owner;	/* NULL while free */
	struct dp_prov_caps caps;	/* found at CLAIM */
	struct prov_claim_rep claim;	/* what CLAIM answered, for the checks after it */
};

struct dp_prov_config {
	/*
	 * Granule and both caps, per connection. The aperture is where the core chooses
	 * bus addresses or, with os_iova, where the OS's must lie.
	 */
	struct dp_dart_config dart;
	bool os_iova;			/* the OS's IOMMU chooses bus addresses (macOS) */
	uint32_t max_batch;		/* 1..PROV_MAX_BATCH */
	uint32_t features;		/* PROV_F_* this OS layer implements */
};

struct dp_prov {
	struct dp_prov_config cfg;
	const struct dp_prov_os_ops *ops;
	void *os;
	unsigned int nr_fns;
	struct dp_prov_fn fns[PROV_MAX_FUNCTIONS];
	/* Totals over every connection, for COUNTERS. */
	uint64_t clients, bad_requests, total_live_mappings, resets;
};

struct dp_prov_conn {
	struct dp_prov *prov;
	void *os;			/* the OS layer's per-connection state */
	bool hello;			/* HELLO accepted */
	uint32_t features;		/* agreed at HELLO */
	uint64_t mem_size;		/* DMA memory; 0 until DMA_MEMORY */
	struct dp_dart dart;		/* this connection's bus addresses and caps */
	uint64_t refused;		/* DMA entries refused */
};

/* Returns PROV_S_INVALID for a configuration the DART model refuses. */
int dp_prov_init(struct dp_prov *p, const struct dp_prov_config *cfg,
		 const struct dp_prov_os_ops *ops, void *os);
/*
 * Lists a function and returns its handle: the next index (p->nr_fns), which
 * ops->config_read is already called with to read its identity. INVALID when the list
 * is full or rid is listed already; NO_FUNCTION when nothing answers (vendor 0xffff).
 */
int dp_prov_add_function(struct dp_prov *p, uint32_t rid, unsigned int *fn);

/* A new connection; os is the OS layer's state for it. */
int dp_prov_conn_open(struct dp_prov *p, struct dp_prov_conn *c, void *os);
/*
 * One request of len bytes with nfds descriptors. Writes the reply into rep (room for
 * PROV_MAX_MSG bytes) and returns its length; *rep_fd is -1 or a descriptor to send.
 * Every request gets a reply, however malformed; neither buffer needs any alignment,
 * and nothing past req + min(len, PROV_MAX_MSG) is read.
 */
size_t dp_prov_handle(struct dp_prov_conn *c, const void *req, size_t len,
		      const int *fds, unsigned int nfds, void *rep, int *rep_fd);
/*
 * The reply to a request the transport refuses before the core sees it (Linux: a
 * truncated packet, lost descriptors), with status (not OK): the header alone, echoing
 * the request's as far as len bytes of it arrived, counted in bad_requests like every
 * refusal. Returns its length; the transport sends no descriptor with it.
 */
size_t dp_prov_refuse(struct dp_prov_conn *c, const void *req, size_t len, int status,
		      void *rep);
/* The connection ended (closed, or its process died): release everything it held. */
void dp_prov_conn_close(struct dp_prov_conn *c);

/* The status's name, for logs ("BUSY"). */
const char *dp_prov_status_name(int status);

#endif /* DP_PROV_H */
