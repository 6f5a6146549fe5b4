/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * dp_map: the coalescing mapper. Drivers map many small buffers; the host IOMMU
 * (Apple's DART) allows about 64k live mappings and 1.5 GiB mapped at once, in 16 KiB
 * pages. The mapper turns each buffer map into either a reference to a host mapping
 * that already covers it or one new host mapping, and each buffer unmap into a
 * released reference, so that both caps hold with room to spare.
 *
 * Policies:
 *   exact     one host mapping per buffer, rounded out to whole pages;
 *   window    the published prior design: refcounted, aligned windows of fixed size
 *             (256 KiB), mapped read-write; buffers that straddle a window boundary
 *             or exceed a window are mapped exactly; a window is unmapped when its
 *             last buffer goes;
 *   adaptive  windows (512 KiB down to 4 pages, at least four times the buffer)
 *             while their unused bytes (slop) fit a budget: slop_share percent of the
 *             bytes buffers leave free, or half of them while busy windows are at
 *             least half used (being filled, as a region being uploaded); no window
 *             leaves more than 1/256 of the free bytes unused, though a one-page
 *             buffer still gets a four-page window while windows are filling; other
 *             buffers are mapped exactly, and a buffer needing the same pages as a live
 *             exact mapping shares it; idle windows are kept within 1/64 of either cap
 *             and are the first thing released, for a cap or for the budget.
 *             docs/mapper.md ties each rule to the goal it serves.
 *
 * The host is reached through dp_host_ops (the pvdma doorbell in the guest module, the
 * DART model in the simulator), one list of requests per call. A batch groups the
 * buffers of one scatter-gather list so that every host mapping they need is created
 * (or released) in a single host call; a batch of maps succeeds or fails as a whole.
 * The mapper counts the host's caps itself and releases idle windows before it asks,
 * so the host refuses only what cannot fit. Errors are enum pvdma_status values; a
 * refusal leaves no trace. Calls must be serialized by the caller, except the hit path
 * (dp_mapper_map_hit() and dp_mapper_unmap_hit()), which may run on several CPUs at
 * once. Same source for kernel and user space (dp_env.h).
 */
#ifndef DP_MAP_H
#define DP_MAP_H

#include "dp_env.h"
#include "dp_tree.h"
#include "pvdma_proto.h"

enum dp_policy {
	DP_POLICY_EXACT,
	DP_POLICY_WINDOW,
	DP_POLICY_ADAPTIVE,
	DP_POLICY_COUNT
};

/* Parses "exact", "window" or "adaptive"; returns -1 for anything else. */
int dp_policy_parse(const char *name);
const char *dp_policy_name(enum dp_policy p);

/*
 * One host request. PVDMA_OP_MAP maps the pages around [pa, pa + len) for perm and
 * sets iova to the bus address of pa; PVDMA_OP_UNMAP unmaps what a MAP of (pa, len)
 * returned, named by (iova, len). The host sets status.
 */
struct dp_host_req {
	struct dp_host_req *next;	/* the rest of the list */
	uint64_t pa, len, iova;
	uint8_t op, perm;
	uint16_t status;
};

struct dp_host_ops {
	/*
	 * Performs a list of requests in order (the guest: one doorbell per batch). It may
	 * let the hit path run meanwhile: until it returns, the mapper changes nothing but
	 * the requests' results, and the hit path refuses the mappings they create.
	 */
	void (*submit)(void *host, struct dp_host_req *list);
};

/* dp_host_ops of the DART model (lib/dp_dart.c); host is a struct dp_dart. */
extern const struct dp_host_ops dp_dart_host_ops;

struct dp_map_config {
	enum dp_policy policy;
	uint32_t granule_shift;		/* host page, 14 = 16 KiB */
	uint32_t max_mappings;		/* host caps, as pvdma advertises them */
	uint64_t max_bytes;
	uint32_t window_shift;		/* window policy: 18 = 256 KiB */
	/*
	 * adaptive: percent of the free bytes (the byte cap minus buffers' pages) that
	 * windows' unused bytes may take (DP_SLOP_SHARE_DEFAULT). More means fewer host
	 * requests and fewer bytes for buffers that arrive while the windows live.
	 */
	uint32_t slop_share;
};

/*
 * A long-lived buffer pins its window's unused bytes until it goes, so a workload
 * whose long-lived data keeps growing ends up carrying about share x cap of slop:
 * 2% keeps such a workload refusal-free until it fills about 98% of the byte cap,
 * unless a few buffers outlive the rest of windows made while windows were filling:
 * those windows' unused bytes stay too, outside the share (docs/mapper.md).
 */
#define DP_SLOP_SHARE_DEFAULT	2

/*
 * What the hit path changed in dp_map_stats, kept per CPU by the caller and added to
 * the stats by dp_mapper_fold() before any serialized call reads them.
 */
struct dp_map_delta {
	int64_t maps, unmaps, hits, buffers, buffer_bytes, slop;
};

/* One host mapping. */
struct dp_hmap {
	struct dp_tree_node by_iova;	/* every host mapping; key: iova */
	struct dp_tree_node by_pa;	/* windows; key: pa */
	struct dp_hmap *exact_next;	/* adaptive's exact mappings: hash chain */
	struct dp_hmap *idle_prev, *idle_next;	/* idle windows, oldest first */
	struct dp_host_req req;		/* the request creating or releasing it */
	struct dp_hmap *batch_next;	/* mappings the open batch referenced */
	uint64_t pa, iova, size;	/* page aligned */
	uint64_t used;			/* bytes of buffers referencing it (pages); cmpxchg */
	uint64_t batch_used;		/* ... of which the open batch added */
	uint32_t refs;			/* buffers; changed by cmpxchg (the hit path) */
	uint32_t batch_refs;
	bool window;
	bool pending;			/* the open batch creates it: no iova yet */
	unsigned int perm;
};

struct dp_map_stats {
	uint64_t live_mappings, peak_mappings;	/* host mappings, idle included */
	uint64_t live_bytes, peak_bytes;
	uint64_t buffers, buffer_bytes;		/* live buffers and their length */
	uint64_t slop;				/* live_bytes - page-rounded use */
	uint64_t slop_at_peak_bytes;		/* live_bytes - buffer bytes, then */
	uint64_t idle_mappings, idle_bytes;
	uint64_t window_bytes;			/* windows' bytes, idle included */
	uint64_t maps, unmaps;			/* buffer calls */
	uint64_t host_maps, host_unmaps;	/* host requests */
	uint64_t host_calls;			/* host round trips (submits) */
	uint64_t hits;				/* maps served by a live mapping */
	uint64_t evictions;			/* idle windows released */
	uint64_t refused[PVDMA_S_BAD_BATCH + 1];	/* buffer maps, by status */
};

struct dp_mapper {
	struct dp_map_config cfg;
	const struct dp_host_ops *ops;
	void *host;
	struct dp_tree by_iova, windows;
	/* Adaptive's exact mappings by (pa, size): chains of exact_next. */
	struct dp_hmap **exacts;
	uint64_t exacts_mask;
	struct dp_hmap idle;		/* list head of idle windows */
	struct dp_map_stats stats;
	/* The open batch: host requests not yet submitted, what to undo on failure. */
	struct dp_host_req *releases, **releases_tail;
	struct dp_host_req *creates, **creates_tail;
	struct dp_hmap *touched;
	uint64_t batch_bufs, batch_bytes;
	int batch_status;
	bool batching;
};

/*
 * PVDMA_S_INVALID for a configuration it cannot honour, PVDMA_S_NO_SPACE without
 * memory. May sleep (in the guest kernel).
 */
int dp_mapper_init(struct dp_mapper *m, const struct dp_map_config *cfg,
		   const struct dp_host_ops *ops, void *host);
/*
 * Releases every host mapping, buffers or not, and the mapper's memory (device
 * teardown, end of a replay); the mapper may be initialised again.
 */
void dp_mapper_destroy(struct dp_mapper *m);
/*
 * Makes [pa, pa + len) reachable for perm (PVDMA_MAP_READ/WRITE) and sets *iova to
 * the bus address of pa.
 */
int dp_mapper_map(struct dp_mapper *m, uint64_t pa, uint64_t len, unsigned int perm,
		  uint64_t *iova);
/* Releases a buffer mapped by dp_mapper_map(pa, len) that returned iova. */
int dp_mapper_unmap(struct dp_mapper *m, uint64_t iova, uint64_t len);

/*
 * Batches. dp_mapper_batch_map() references (or plans) the host mapping of one buffer
 * and returns it in *h; dp_mapper_batch_unmap() releases one buffer. Host requests
 * wait for dp_mapper_batch_end(), which submits them in one call. If any map of the
 * batch failed, it undoes every map of the batch and returns the first failure;
 * otherwise each mapped buffer's bus address is dp_hmap_iova(h, pa). Unmaps stand
 * either way, and name buffers mapped before the batch: one that would take a mapping
 * below the references this batch added is PVDMA_S_NOT_FOUND (its buffers are not
 * done until the batch ends, and undoing them must not count one twice).
 */
void dp_mapper_batch_begin(struct dp_mapper *m);
int dp_mapper_batch_map(struct dp_mapper *m, uint64_t pa, uint64_t len, unsigned int perm,
			struct dp_hmap **h);
int dp_mapper_batch_unmap(struct dp_mapper *m, uint64_t iova, uint64_t len);
int dp_mapper_batch_end(struct dp_mapper *m);

/*
 * The hit path. A map whose pages a busy host mapping already covers, and an unmap
 * that leaves its host mapping busy, change nothing but that mapping's references and
 * the counts in *d: no host call, no decision. These two functions do exactly that,
 * and may run concurrently with each other, and with a serialized call while it waits
 * in dp_host_ops.submit, but with nothing else; they return false for anything else (a
 * miss, an idle window, a mapping not made yet, a last reference, invalid arguments),
 * which the caller then passes to dp_mapper_map() or dp_mapper_unmap() once every
 * CPU's *d is folded. The serialized calls serve hits the same way, so a simulator that
 * calls only those decides exactly as a guest that takes the hit path first.
 */
bool dp_mapper_map_hit(const struct dp_mapper *m, uint64_t pa, uint64_t len,
		       unsigned int perm, struct dp_map_delta *d, uint64_t *iova);
/* On success *pa is the guest-physical address that was mapped at iova. */
bool dp_mapper_unmap_hit(const struct dp_mapper *m, uint64_t iova, uint64_t len,
			 struct dp_map_delta *d, uint64_t *pa);
/* Adds *d to m's stats and clears it; serialized like dp_mapper_map(). */
void dp_mapper_fold(struct dp_mapper *m, struct dp_map_delta *d);

static inline uint64_t dp_hmap_iova(const struct dp_hmap *h, uint64_t pa)
{
	return h->iova + (pa - h->pa);
}
/* The guest-physical address behind a live bus address, or UINT64_MAX. */
uint64_t dp_mapper_phys(const struct dp_mapper *m, uint64_t iova);
/* Releases idle windows (the host asks for room, or the guest is idle). */
void dp_mapper_trim(struct dp_mapper *m);

#endif /* DP_MAP_H */
