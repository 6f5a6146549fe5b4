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
 *   adaptive  windows whose size follows the byte headroom and a budget for unused
 *             mapped bytes (slop), so dense regions share one mapping while scattered
 *             long-lived buffers fall back to exact mappings instead of pinning
 *             windows; idle windows are kept for reuse within a small budget and are
 *             the first thing released under pressure.
 *
 * The host is reached through dp_host_ops (the pvdma doorbell in the guest module, the
 * DART model in the simulator). Errors are enum pvdma_status values; a refusal leaves
 * no trace. Calls must be serialized by the caller. Same source for kernel and user
 * space (dp_env.h).
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

struct dp_host_ops {
	/* Maps the pages around [pa, pa + len); *iova is the bus address of pa. */
	int (*map)(void *host, uint64_t pa, uint64_t len, unsigned int perm, uint64_t *iova);
	/* Unmaps what map(pa, len) returned, named by (iova of pa, len). */
	int (*unmap)(void *host, uint64_t iova, uint64_t len);
};

struct dp_map_config {
	enum dp_policy policy;
	uint32_t granule_shift;		/* host page, 14 = 16 KiB */
	uint32_t max_mappings;		/* host caps, as pvdma advertises them */
	uint64_t max_bytes;
	uint32_t window_shift;		/* window policy: 18 = 256 KiB */
};

/* One host mapping. */
struct dp_hmap {
	struct dp_tree_node by_iova;	/* every host mapping; key: iova */
	struct dp_tree_node by_pa;	/* windows; key: pa (windows never overlap) */
	struct dp_hmap *idle_prev, *idle_next;	/* idle windows, oldest first */
	uint64_t pa, iova, size;	/* page aligned */
	uint64_t used;			/* bytes of buffers referencing it (pages) */
	uint32_t refs;
	bool window;
	unsigned int perm;
};

struct dp_map_stats {
	uint64_t live_mappings, peak_mappings;	/* host mappings, idle included */
	uint64_t live_bytes, peak_bytes;
	uint64_t buffers, buffer_bytes;		/* live buffers and their length */
	uint64_t slop;				/* live_bytes - page-rounded use */
	uint64_t slop_at_peak_bytes;
	uint64_t idle_mappings, idle_bytes;
	uint64_t maps, unmaps;			/* buffer calls */
	uint64_t host_maps, host_unmaps;	/* host round trips */
	uint64_t hits;				/* maps served by a live mapping */
	uint64_t evictions;			/* idle windows released */
	uint64_t refused[PVDMA_S_BAD_BATCH + 1];	/* buffer maps, by status */
};

struct dp_mapper {
	struct dp_map_config cfg;
	const struct dp_host_ops *ops;
	void *host;
	struct dp_tree by_iova, windows;
	struct dp_hmap idle;		/* list head of idle windows */
	struct dp_map_stats stats;
};

int dp_mapper_init(struct dp_mapper *m, const struct dp_map_config *cfg,
		   const struct dp_host_ops *ops, void *host);
/* Releases every host mapping, buffers or not (device teardown, end of a replay). */
void dp_mapper_destroy(struct dp_mapper *m);
/*
 * Makes [pa, pa + len) reachable for perm (PVDMA_MAP_READ/WRITE) and sets *iova to
 * the bus address of pa.
 */
int dp_mapper_map(struct dp_mapper *m, uint64_t pa, uint64_t len, unsigned int perm,
		  uint64_t *iova);
/* Releases a buffer mapped by dp_mapper_map(pa, len) that returned iova. */
int dp_mapper_unmap(struct dp_mapper *m, uint64_t iova, uint64_t len);
/* Releases idle windows (the host asks for room, or the guest is idle). */
void dp_mapper_trim(struct dp_mapper *m);

#endif /* DP_MAP_H */
