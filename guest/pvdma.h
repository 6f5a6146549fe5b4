/* SPDX-License-Identifier: GPL-2.0 */
/*
 * pvdma guest driver. pvdma_main.c binds the pvdma device and installs pvdma_dma_ops
 * (pvdma_dma.c) on every managed function before its driver binds; the ops turn the
 * driver's DMA maps into host mappings through the coalescing mapper (lib/dp_map.c),
 * which talks to the host through batches rung at the doorbell.
 */
#ifndef PVDMA_H
#define PVDMA_H

#include <linux/dma-map-ops.h>
#include <linux/pci.h>
#include <linux/sizes.h>
#include <linux/spinlock.h>
#include "pvdma_proto.h"
#include "dp_map.h"
#include "dp_trace.h"

#if !defined(CONFIG_DMA_OPS) && !defined(CONFIG_ARCH_HAS_DMA_OPS)
#error "pvdma needs per-device dma_map_ops (CONFIG_DMA_OPS or CONFIG_ARCH_HAS_DMA_OPS)"
#endif

#define PVDMA_TRACE_LEN 65536	/* events kept for debugfs/trace, a power of two */
#define PVDMA_BATCH_BYTES SZ_32K	/* batch header and up to 1023 entries */

struct pvdma {
	struct pci_dev *pdev;
	void __iomem *regs;
	u32 features;
	u32 granule_shift, max_batch, max_mappings;
	u64 max_bytes, aperture_end;
	/* Direct-mapped helpers that allocate and keep caches for us: [coherent]. */
	struct device *shadow[2];
	atomic64_t syncs;		/* cache maintenance for non-coherent functions */
	u32 managed_count;
	u32 *managed_rid;
	unsigned long *installed;	/* by managed index: our dma_map_ops are set */
	struct dentry *debugfs;

	/*
	 * The mapper's lock, split by CPU so that hits scale: a hit (dp_mapper_map_hit(),
	 * dp_mapper_unmap_hit(), lookups) holds its own CPU's cpus->lock; everything else
	 * holds lock and then every CPU's (pvdma_lock()), so no hit runs and the hits'
	 * counts are folded exactly before any decision, except across the doorbells, where
	 * only lock is held and hits go on (dp_host_ops.submit). lock protects the batch
	 * page, the doorbell and the counters below; lock and all the CPUs' the mapper.
	 * Raw and irqsave because drivers map from any context, including hard interrupts;
	 * held only for O(log n) work, and lock for one doorbell per host call.
	 */
	raw_spinlock_t lock;
	struct pvdma_cpu __percpu *cpus;
	bool hit_path;			/* module parameter hit_path */
	struct dp_mapper mapper;
	struct pvdma_batch *batch;	/* PVDMA_BATCH_BYTES, page aligned */
	dma_addr_t batch_dma;
	u64 doorbells;			/* host round trips */
	u64 map_errors, bad_unmaps;
	struct dp_trace_rec *trace;	/* ring of PVDMA_TRACE_LEN, or NULL */
	atomic64_t trace_next;		/* hits on every CPU record */
};

struct pvdma_cpu {
	raw_spinlock_t lock;		/* this CPU's hits; see pvdma->lock */
	struct dp_map_delta delta;	/* what they changed in the mapper's stats */
};

/* The whole mapper lock (no hit runs meanwhile); irqsave. */
void pvdma_lock(struct pvdma *pv, unsigned long *flags);
void pvdma_unlock(struct pvdma *pv, unsigned long flags);

/* The DMA API keeps a device's cache coherence in dev->dma_coherent on these arches. */
#if defined(CONFIG_ARCH_HAS_SYNC_DMA_FOR_DEVICE) || defined(CONFIG_ARCH_HAS_SYNC_DMA_FOR_CPU) || \
	defined(CONFIG_ARCH_HAS_SYNC_DMA_FOR_CPU_ALL)
#define PVDMA_HAVE_NONCOHERENT 1
#endif

extern const struct dma_map_ops pvdma_dma_ops;
int pvdma_shadows_create(struct pvdma *pv);
void pvdma_shadows_destroy(struct pvdma *pv);
extern const struct dp_host_ops pvdma_host_ops;
int pvdma_status_to_errno(int status);
/* pvdma_tso.c: the memory-model prctls while a HOST_TSO device is bound. */
void pvdma_tso_enable(struct pvdma *pv);
void pvdma_tso_disable(struct pvdma *pv);
/* pvdma_uvm.c: small system-memory pages for nvidia_uvm on managed GPUs (module notifier). */
void pvdma_uvm_init(void);
void pvdma_uvm_exit(void);

/* The bound pvdma device; one per guest (the managed functions' ops find it here). */
extern struct pvdma *pvdma_dev;

static inline u32 pvdma_rid(struct pci_dev *pdev)
{
	return PVDMA_RID(pci_domain_nr(pdev->bus), pdev->bus->number, pdev->devfn);
}

#endif
