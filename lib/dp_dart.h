/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * dp_dart: a model of Apple's DART as pvdma sees it. The DART, not its client, chooses
 * the bus address (IOVA) of every mapping; it works in pages of 1 << granule_shift
 * bytes (16 KiB on Apple Silicon), and it caps both the number of live mappings and the
 * bytes they cover. The QEMU device uses this model as the emulated DART (its table is
 * what device DMA is translated through); the simulator uses it to replay traces.
 *
 * A mapping covers whole pages: mapping 4 KiB exposes the 16 KiB page around it.
 * Lookups, maps and unmaps are O(log n): mappings are indexed by IOVA, free bus
 * address space by start and by (size, start) for best-fit allocation.
 * Errors are enum pvdma_status values from the wire protocol, so they reach the guest
 * unchanged.
 */
#ifndef DP_DART_H
#define DP_DART_H

#include "dp_env.h"
#include "dp_tree.h"
#include "pvdma_proto.h"

struct dp_dart_config {
	uint64_t aperture_base;	/* first bus address handed out; granule aligned */
	uint64_t aperture_size;	/* granule multiple */
	uint32_t granule_shift;
	uint32_t max_mappings;
	uint64_t max_bytes;
};

struct dp_dart_mapping {
	struct dp_tree_node by_iova;	/* key: iova */
	uint64_t iova;			/* page aligned */
	uint64_t pa;			/* page aligned guest-physical address */
	uint64_t size;			/* page multiple */
	uint64_t len;			/* bytes asked for; MAP returned iova + offset */
	uint32_t offset;		/* of the asked-for address in the first page */
	unsigned int perm;		/* PVDMA_MAP_READ | PVDMA_MAP_WRITE */
};

struct dp_dart_stats {
	uint64_t live_mappings, peak_mappings;
	uint64_t live_bytes, peak_bytes;
	uint64_t maps, unmaps;
	uint64_t refused[PVDMA_S_BAD_BATCH + 1];	/* by status */
};

struct dp_dart {
	struct dp_dart_config cfg;
	struct dp_tree mappings;	/* dp_dart_mapping by iova */
	struct dp_tree free_by_start;	/* dp_dart_extent */
	struct dp_tree free_by_size;
	struct dp_dart_stats stats;
};

/* Returns PVDMA_S_INVALID for a configuration that is not granule aligned. */
int dp_dart_init(struct dp_dart *d, const struct dp_dart_config *cfg);
/* Drops every mapping and frees the model's memory; the model is reusable after init. */
void dp_dart_destroy(struct dp_dart *d);
/* Drops every mapping, as a device reset does; peaks and totals are kept. */
int dp_dart_reset(struct dp_dart *d);

/*
 * Maps the pages covering [pa, pa + len) and sets *iova to the bus address of pa.
 * perm must be a non-empty subset of PVDMA_MAP_READ | PVDMA_MAP_WRITE.
 */
int dp_dart_map(struct dp_dart *d, uint64_t pa, uint64_t len, unsigned int perm,
		uint64_t *iova);
/*
 * For a DART that chooses addresses itself (macOS's, through IODMACommand): the checks
 * dp_dart_map makes before choosing, so the caps hold before the hardware is asked,
 * which also give the whole pages the map covers ([*first, *first + *size)); then
 * dp_dart_map_at records the pages covering [pa, pa + len) at the granule-aligned
 * bus address start that the hardware chose. It is PVDMA_S_NO_SPACE when that range is
 * not free space of the aperture (outside it, or overlapping a live mapping).
 */
int dp_dart_admit(struct dp_dart *d, uint64_t pa, uint64_t len, unsigned int perm,
		  uint64_t *first, uint64_t *size);
int dp_dart_map_at(struct dp_dart *d, uint64_t pa, uint64_t len, unsigned int perm,
		   uint64_t start, uint64_t *iova);
/*
 * Unmaps the mapping that dp_dart_map(pa, len) created, named exactly by the iova it
 * returned and that len: anything else is PVDMA_S_NOT_FOUND and unmaps nothing.
 */
int dp_dart_unmap(struct dp_dart *d, uint64_t iova, uint64_t len);
/*
 * The field rules of one pvdma request entry, wherever it is served (the QEMU device,
 * the provider): values in CPU byte order. MAP: flags a non-empty subset of
 * PVDMA_MAP_READ | PVDMA_MAP_WRITE, len non-zero, gpa + len not wrapping, iova and
 * mapped zero; UNMAP: flags, gpa and mapped zero. PVDMA_S_OK, PVDMA_S_INVALID, or
 * PVDMA_S_UNSUPPORTED for an unknown op.
 */
int dp_req_check(unsigned int op, unsigned int flags, uint64_t gpa, uint32_t len,
		 uint64_t iova, uint32_t mapped, uint32_t reserved);
/* The mapping containing iova, or NULL. */
const struct dp_dart_mapping *dp_dart_lookup(const struct dp_dart *d, uint64_t iova);

#endif /* DP_DART_H */
