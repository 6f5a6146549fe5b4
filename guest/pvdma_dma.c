// SPDX-License-Identifier: GPL-2.0
/*
 * dma_map_ops of the managed functions: every map becomes a reference to a host
 * mapping chosen by the coalescing mapper, every bus address is one the host chose.
 * A map or unmap that is a hit takes only its CPU's lock; the rest take the whole lock
 * (pvdma_lock()). Both run with interrupts off and never sleep, so drivers may map
 * from any context; a host refusal is DMA_MAPPING_ERROR, never a panic.
 *
 * Allocation and cache maintenance go through two private platform devices that use
 * the kernel's direct mapping (bus address == physical address), one coherent and one
 * not: modules may call the DMA API, but not the architecture's cache helpers. Their
 * bus addresses serve only as physical addresses, which the mapper maps on the host.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/dma-map-ops.h>
#include <linux/mm.h>
#include <linux/platform_device.h>
#include <linux/scatterlist.h>
#include <linux/sizes.h>
#include <linux/timekeeping.h>
#include "pvdma.h"

struct pvdma *pvdma_dev;

/* The one place protocol status codes become errnos (dma_map_sg's conventions). */
int pvdma_status_to_errno(int status)
{
	switch (status) {
	case PVDMA_S_OK:
		return 0;
	case PVDMA_S_NO_MAPPINGS:
	case PVDMA_S_NO_BYTES:
	case PVDMA_S_NO_SPACE:
		return -ENOMEM;
	case PVDMA_S_INVALID:
	case PVDMA_S_BAD_ADDRESS:
		return -EINVAL;
	default:
		return -EIO;
	}
}

/* Every CPU's lock, with pv->lock held: no hit runs, and their counts are folded. */
static void pvdma_cpus_lock(struct pvdma *pv)
{
	int cpu;

	for_each_possible_cpu(cpu) {
		struct pvdma_cpu *c = per_cpu_ptr(pv->cpus, cpu);

		raw_spin_lock_nest_lock(&c->lock, &pv->lock);
		dp_mapper_fold(&pv->mapper, &c->delta);
	}
}

static void pvdma_cpus_unlock(struct pvdma *pv)
{
	int cpu;

	for_each_possible_cpu(cpu)
		raw_spin_unlock(&per_cpu_ptr(pv->cpus, cpu)->lock);
}

void pvdma_lock(struct pvdma *pv, unsigned long *flags)
{
	raw_spin_lock_irqsave(&pv->lock, *flags);
	pvdma_cpus_lock(pv);
}

void pvdma_unlock(struct pvdma *pv, unsigned long flags)
{
	pvdma_cpus_unlock(pv);
	raw_spin_unlock_irqrestore(&pv->lock, flags);
}

/* This CPU's share of the lock: hits and lookups only. */
static struct pvdma_cpu *pvdma_hit_lock(struct pvdma *pv, unsigned long *flags)
{
	struct pvdma_cpu *c;

	local_irq_save(*flags);
	c = this_cpu_ptr(pv->cpus);
	raw_spin_lock(&c->lock);
	return c;
}

static void pvdma_hit_unlock(struct pvdma_cpu *c, unsigned long flags)
{
	raw_spin_unlock(&c->lock);
	local_irq_restore(flags);
}

/* Rings the doorbell for the first n entries of the batch; returns the batch status. */
static u32 pvdma_ring(struct pvdma *pv, u32 n)
{
	struct pvdma_batch *b = pv->batch;

	b->count = cpu_to_le16(n);
	b->flags = 0;
	b->status = cpu_to_le16(PVDMA_S_PENDING);
	/* writel orders the batch before the doorbell; the host is done when it returns. */
	writel(pv->batch_dma >> 12, pv->regs + PVDMA_REG_DOORBELL);
	pv->doorbells++;
	/*
	 * The register read orders the batch's reads after the doorbell, but its value is
	 * the last doorbell's, which may be another CPU's or another driver's by now: the
	 * status is this batch's own, in its header.
	 */
	readl(pv->regs + PVDMA_REG_BATCH_STATUS);
	return le16_to_cpu(READ_ONCE(b->status));
}

/*
 * The mapper's host: a list of requests in as few doorbells as the batch holds (one
 * for any scatterlist that needs up to max_batch host mappings). A host that maps a
 * range only in part (the emulated DART never does) gets that part back and the
 * request fails: each host mapping needs one bus range.
 */
static void pvdma_host_ring(struct pvdma *pv, struct dp_host_req *r)
{
	while (r) {
		struct dp_host_req *first = r, *q;
		u32 n, i, k, status;

		for (n = 0; r && n < pv->max_batch; n++, r = r->next) {
			bool map = r->op == PVDMA_OP_MAP;

			pv->batch->req[n] = (struct pvdma_req){
				.op = r->op, .flags = map ? r->perm : 0,
				.status = cpu_to_le16(PVDMA_S_PENDING),
				/* An impossible length makes the host refuse the entry. */
				.len = cpu_to_le32(r->len <= U32_MAX ? r->len : 0),
				.gpa = cpu_to_le64(map ? r->pa : 0),
				.iova = cpu_to_le64(map ? 0 : r->iova),
			};
		}
		status = pvdma_ring(pv, n);
		/* Partial maps are undone in place: entry k <= i is already read. */
		for (i = 0, k = 0, q = first; i < n; i++, q = q->next) {
			struct pvdma_req e = pv->batch->req[i];

			q->status = status != PVDMA_S_OK ? status : le16_to_cpu(e.status);
			if (q->op != PVDMA_OP_MAP || q->status != PVDMA_S_OK)
				continue;
			q->iova = le64_to_cpu(e.iova);
			if (le32_to_cpu(e.mapped) == q->len)
				continue;
			q->status = PVDMA_S_NO_SPACE;
			pv->batch->req[k++] = (struct pvdma_req){
				.op = PVDMA_OP_UNMAP, .status = cpu_to_le16(PVDMA_S_PENDING),
				.len = e.mapped, .iova = e.iova,
			};
		}
		if (k)
			pvdma_ring(pv, k);
	}
}

/*
 * Called under pvdma_lock(). Hits on other CPUs go on while the host works (dp_host_ops
 * allows it): only pv->lock is held across the doorbells.
 */
static void pvdma_host_submit(void *host, struct dp_host_req *r)
{
	struct pvdma *pv = host;

	pvdma_cpus_unlock(pv);
	pvdma_host_ring(pv, r);
	pvdma_cpus_lock(pv);
}

const struct dp_host_ops pvdma_host_ops = { .submit = pvdma_host_submit };

static void pvdma_trace(struct pvdma *pv, struct device *dev, char op, u64 pa, u64 len,
			unsigned int perm)
{
	if (!pv->trace)
		return;
	pv->trace[(atomic64_inc_return(&pv->trace_next) - 1) & (PVDMA_TRACE_LEN - 1)] =
		(struct dp_trace_rec){
		.t_ns = ktime_get_ns(), .op = op, .pa = pa, .len = len, .perm = perm,
		.dev = pvdma_rid(to_pci_dev(dev)) & 0xffff,
	};
}

static unsigned int pvdma_perm(enum dma_data_direction dir)
{
	switch (dir) {
	case DMA_TO_DEVICE:
		return PVDMA_MAP_READ;
	case DMA_FROM_DEVICE:
		return PVDMA_MAP_WRITE;
	case DMA_BIDIRECTIONAL:
		return PVDMA_MAP_READ | PVDMA_MAP_WRITE;
	default:
		return 0;
	}
}

/* The helper device that allocates and keeps caches like dev would without pvdma. */
static struct device *pvdma_shadow(struct device *dev)
{
	return pvdma_dev->shadow[dev_is_dma_coherent(dev)];
}

/* Cache maintenance of a physical range, where dev is not coherent. */
static void pvdma_sync(struct device *dev, phys_addr_t phys, size_t size,
		       enum dma_data_direction dir, bool for_device)
{
	if (dev_is_dma_coherent(dev))
		return;
	if (for_device)
		dma_sync_single_for_device(pvdma_shadow(dev), phys, size, dir);
	else
		dma_sync_single_for_cpu(pvdma_shadow(dev), phys, size, dir);
	atomic64_inc(&pvdma_dev->syncs);
}

static void pvdma_sync_sgl(struct device *dev, struct scatterlist *sgl, int nents,
			   enum dma_data_direction dir, bool for_device)
{
	struct scatterlist *s;
	int i;

	for_each_sg(sgl, s, nents, i)
		pvdma_sync(dev, sg_phys(s), s->length, dir, for_device);
}

static struct device *pvdma_shadow_new(struct pvdma *pv, bool coherent)
{
	struct platform_device_info info = {
		.parent = &pv->pdev->dev,
		.name = coherent ? "pvdma-coherent" : "pvdma-noncoherent",
		.id = PLATFORM_DEVID_NONE,
		.dma_mask = DMA_BIT_MASK(64),
	};
	struct platform_device *p = platform_device_register_full(&info);

	if (IS_ERR(p))
		return ERR_CAST(p);
#if defined(PVDMA_HAVE_DEV_FLAGS)
	dev_assign_dma_coherent(&p->dev, coherent);
#elif defined(PVDMA_HAVE_NONCOHERENT)
	p->dev.dma_coherent = coherent;
#endif
	return &p->dev;
}

void pvdma_shadows_destroy(struct pvdma *pv)
{
	int i;

	for (i = 0; i < ARRAY_SIZE(pv->shadow); i++) {
		if (pv->shadow[i])
			platform_device_unregister(to_platform_device(pv->shadow[i]));
		pv->shadow[i] = NULL;
	}
}

/* Only arches with non-coherent DMA get the non-coherent helper. */
int pvdma_shadows_create(struct pvdma *pv)
{
	int coherent;

	for (coherent = IS_ENABLED(PVDMA_HAVE_NONCOHERENT) ? 0 : 1; coherent < 2; coherent++) {
		struct device *d = pvdma_shadow_new(pv, coherent);

		if (IS_ERR(d)) {
			pvdma_shadows_destroy(pv);
			return PTR_ERR(d);
		}
		pv->shadow[coherent] = d;
	}
	return 0;
}

/* Releases one buffer in the open batch, under pvdma_lock(); returns its address. */
static u64 pvdma_unmap_locked(struct pvdma *pv, struct device *dev, dma_addr_t addr,
			      size_t size, unsigned int perm)
{
	u64 pa = dp_mapper_phys(&pv->mapper, addr);

	if (dp_mapper_batch_unmap(&pv->mapper, addr, size) != PVDMA_S_OK) {
		pv->bad_unmaps++;
		dev_warn_once(dev, "unmap of %pad+%zu, which is not mapped\n", &addr, size);
		return U64_MAX;
	}
	pvdma_trace(pv, dev, 'U', pa, size, perm);
	return pa;
}

static dma_addr_t pvdma_map(struct device *dev, phys_addr_t phys, size_t size,
			    enum dma_data_direction dir, unsigned long attrs)
{
	struct pvdma *pv = pvdma_dev;
	unsigned int perm = pvdma_perm(dir);
	int ret = PVDMA_S_OK;
	struct pvdma_cpu *c;
	unsigned long flags;
	bool hit;
	u64 iova;

	c = pvdma_hit_lock(pv, &flags);
	hit = pv->hit_path && dp_mapper_map_hit(&pv->mapper, phys, size, perm, &c->delta, &iova);
	if (hit)
		pvdma_trace(pv, dev, 'M', phys, size, perm);
	pvdma_hit_unlock(c, flags);
	if (!hit) {
		pvdma_lock(pv, &flags);
		ret = dp_mapper_map(&pv->mapper, phys, size, perm, &iova);
		if (ret == PVDMA_S_OK)
			pvdma_trace(pv, dev, 'M', phys, size, perm);
		else
			pv->map_errors++;
		pvdma_unlock(pv, flags);
	}
	if (ret != PVDMA_S_OK) {
		dev_err_ratelimited(dev, "pvdma: cannot map %zu bytes (host status %d)\n",
				    size, ret);
		return DMA_MAPPING_ERROR;
	}
	if (!(attrs & DMA_ATTR_SKIP_CPU_SYNC))
		pvdma_sync(dev, phys, size, dir, true);
	return iova;
}

/* Returns the physical address that was mapped at addr, or U64_MAX. */
static u64 pvdma_unmap(struct device *dev, dma_addr_t addr, size_t size,
		       enum dma_data_direction dir, unsigned long attrs)
{
	struct pvdma *pv = pvdma_dev;
	struct pvdma_cpu *c;
	unsigned long flags;
	bool hit;
	u64 pa;

	c = pvdma_hit_lock(pv, &flags);
	hit = pv->hit_path && dp_mapper_unmap_hit(&pv->mapper, addr, size, &c->delta, &pa);
	if (hit)
		pvdma_trace(pv, dev, 'U', pa, size, pvdma_perm(dir));
	pvdma_hit_unlock(c, flags);
	if (!hit) {
		pvdma_lock(pv, &flags);
		dp_mapper_batch_begin(&pv->mapper);
		pa = pvdma_unmap_locked(pv, dev, addr, size, pvdma_perm(dir));
		dp_mapper_batch_end(&pv->mapper);
		pvdma_unlock(pv, flags);
	}
	/* The driver still owns the buffer; the host mapping was all that went. */
	if (pa != U64_MAX && !(attrs & DMA_ATTR_SKIP_CPU_SYNC))
		pvdma_sync(dev, pa, size, dir, false);
	return pa;
}

/* The physical address behind a bus address this module handed out, or U64_MAX. */
static u64 pvdma_phys(dma_addr_t addr)
{
	struct pvdma *pv = pvdma_dev;
	struct pvdma_cpu *c;
	unsigned long flags;
	u64 pa;

	c = pvdma_hit_lock(pv, &flags);
	pa = dp_mapper_phys(&pv->mapper, addr);
	pvdma_hit_unlock(c, flags);
	return pa;
}

#ifdef PVDMA_HAVE_MAP_PHYS
static dma_addr_t pvdma_map_phys(struct device *dev, phys_addr_t phys, size_t size,
				 enum dma_data_direction dir, unsigned long attrs)
{
	return pvdma_map(dev, phys, size, dir, attrs);
}

static void pvdma_unmap_phys(struct device *dev, dma_addr_t addr, size_t size,
			     enum dma_data_direction dir, unsigned long attrs)
{
	pvdma_unmap(dev, addr, size, dir, attrs);
}
#else
static dma_addr_t pvdma_map_page(struct device *dev, struct page *page,
				 unsigned long offset, size_t size,
				 enum dma_data_direction dir, unsigned long attrs)
{
	return pvdma_map(dev, page_to_phys(page) + offset, size, dir, attrs);
}

static void pvdma_unmap_page(struct device *dev, dma_addr_t addr, size_t size,
			     enum dma_data_direction dir, unsigned long attrs)
{
	pvdma_unmap(dev, addr, size, dir, attrs);
}
#endif

/* A whole scatterlist in one mapper batch, so one doorbell: all of it maps, or none. */
static int pvdma_map_sg(struct device *dev, struct scatterlist *sgl, int nents,
			enum dma_data_direction dir, unsigned long attrs)
{
	struct pvdma *pv = pvdma_dev;
	unsigned int perm = pvdma_perm(dir);
	struct scatterlist *s;
	unsigned long flags;
	struct dp_hmap *h;
	int i, ret;

	pvdma_lock(pv, &flags);
	dp_mapper_batch_begin(&pv->mapper);
	for_each_sg(sgl, s, nents, i) {
		if (dp_mapper_batch_map(&pv->mapper, sg_phys(s), s->length, perm, &h))
			break;
		/* Holds the host mapping until the batch has its bus address. */
		sg_dma_address(s) = (uintptr_t)h;
	}
	ret = dp_mapper_batch_end(&pv->mapper);
	if (ret == PVDMA_S_OK) {
		for_each_sg(sgl, s, nents, i) {
			h = (struct dp_hmap *)(uintptr_t)sg_dma_address(s);
			sg_dma_address(s) = dp_hmap_iova(h, sg_phys(s));
			sg_dma_len(s) = s->length;
			pvdma_trace(pv, dev, 'M', sg_phys(s), s->length, perm);
		}
	} else {
		pv->map_errors++;
	}
	pvdma_unlock(pv, flags);
	if (ret != PVDMA_S_OK) {
		dev_err_ratelimited(dev, "pvdma: cannot map a %d-entry list (host status %d)\n",
				    nents, ret);
		return pvdma_status_to_errno(ret);
	}
	if (!(attrs & DMA_ATTR_SKIP_CPU_SYNC))
		pvdma_sync_sgl(dev, sgl, nents, dir, true);
	return nents;
}

static void pvdma_unmap_sg(struct device *dev, struct scatterlist *sgl, int nents,
			   enum dma_data_direction dir, unsigned long attrs)
{
	struct pvdma *pv = pvdma_dev;
	struct scatterlist *s;
	unsigned long flags;
	int i;

	pvdma_lock(pv, &flags);
	dp_mapper_batch_begin(&pv->mapper);
	for_each_sg(sgl, s, nents, i)
		pvdma_unmap_locked(pv, dev, sg_dma_address(s), sg_dma_len(s), pvdma_perm(dir));
	dp_mapper_batch_end(&pv->mapper);
	pvdma_unlock(pv, flags);
	if (!(attrs & DMA_ATTR_SKIP_CPU_SYNC))
		pvdma_sync_sgl(dev, sgl, nents, dir, false);
}

/* A streaming map's bus address back to its pages, for the sync_single ops. */
static void pvdma_sync_single(struct device *dev, dma_addr_t addr, size_t size,
			      enum dma_data_direction dir, bool for_device)
{
	u64 phys;

	if (dev_is_dma_coherent(dev))
		return;
	phys = pvdma_phys(addr);
	if (phys != U64_MAX)
		pvdma_sync(dev, phys, size, dir, for_device);
}

static void pvdma_sync_single_for_cpu(struct device *dev, dma_addr_t addr, size_t size,
				      enum dma_data_direction dir)
{
	pvdma_sync_single(dev, addr, size, dir, false);
}

static void pvdma_sync_single_for_device(struct device *dev, dma_addr_t addr, size_t size,
					 enum dma_data_direction dir)
{
	pvdma_sync_single(dev, addr, size, dir, true);
}

static void pvdma_sync_sg_for_cpu(struct device *dev, struct scatterlist *sgl, int nents,
				  enum dma_data_direction dir)
{
	pvdma_sync_sgl(dev, sgl, nents, dir, false);
}

static void pvdma_sync_sg_for_device(struct device *dev, struct scatterlist *sgl, int nents,
				     enum dma_data_direction dir)
{
	pvdma_sync_sgl(dev, sgl, nents, dir, true);
}

/*
 * Coherent memory comes from the helper device (uncached where dev is not coherent),
 * at any physical address: the bus address comes from the host, not from the page.
 */
static void *pvdma_alloc(struct device *dev, size_t size, dma_addr_t *handle, gfp_t gfp,
			 unsigned long attrs)
{
	dma_addr_t phys;
	void *cpu = dma_alloc_attrs(pvdma_shadow(dev), size, &phys, gfp, attrs);

	if (!cpu)
		return NULL;
	*handle = pvdma_map(dev, phys, PAGE_ALIGN(size), DMA_BIDIRECTIONAL,
			    DMA_ATTR_SKIP_CPU_SYNC);
	if (*handle == DMA_MAPPING_ERROR) {
		dma_free_attrs(pvdma_shadow(dev), size, cpu, phys, attrs);
		return NULL;
	}
	return cpu;
}

static void pvdma_free(struct device *dev, size_t size, void *cpu, dma_addr_t handle,
		       unsigned long attrs)
{
	u64 phys = pvdma_unmap(dev, handle, PAGE_ALIGN(size), DMA_BIDIRECTIONAL,
			       DMA_ATTR_SKIP_CPU_SYNC);

	if (phys != U64_MAX)
		dma_free_attrs(pvdma_shadow(dev), size, cpu, phys, attrs);
}

/* Non-coherent pages (dma_alloc_pages): the driver syncs them like streaming maps. */
static struct page *pvdma_alloc_pages(struct device *dev, size_t size, dma_addr_t *handle,
				      enum dma_data_direction dir, gfp_t gfp)
{
	dma_addr_t phys;
	struct page *page = dma_alloc_pages(pvdma_shadow(dev), size, &phys, dir, gfp);

	if (!page)
		return NULL;
	*handle = pvdma_map(dev, phys, PAGE_ALIGN(size), dir, DMA_ATTR_SKIP_CPU_SYNC);
	if (*handle == DMA_MAPPING_ERROR) {
		dma_free_pages(pvdma_shadow(dev), size, page, phys, dir);
		return NULL;
	}
	return page;
}

static void pvdma_free_pages(struct device *dev, size_t size, struct page *page,
			     dma_addr_t handle, enum dma_data_direction dir)
{
	u64 phys = pvdma_unmap(dev, handle, PAGE_ALIGN(size), dir, DMA_ATTR_SKIP_CPU_SYNC);

	if (phys != U64_MAX)
		dma_free_pages(pvdma_shadow(dev), size, page, phys, dir);
}

static int pvdma_mmap(struct device *dev, struct vm_area_struct *vma, void *cpu_addr,
		      dma_addr_t addr, size_t size, unsigned long attrs)
{
	u64 phys = pvdma_phys(addr);

	if (phys == U64_MAX)
		return -ENXIO;
	return dma_mmap_attrs(pvdma_shadow(dev), vma, cpu_addr, phys, size, attrs);
}

static int pvdma_get_sgtable(struct device *dev, struct sg_table *sgt, void *cpu_addr,
			     dma_addr_t addr, size_t size, unsigned long attrs)
{
	u64 phys = pvdma_phys(addr);

	if (phys == U64_MAX)
		return -ENXIO;
	return dma_get_sgtable_attrs(pvdma_shadow(dev), sgt, cpu_addr, phys, size, attrs);
}

/* Every bus address the host hands out lies below the end of its aperture. */
static int pvdma_dma_supported(struct device *dev, u64 mask)
{
	return mask >= pvdma_dev->aperture_end - 1;
}

static u64 pvdma_get_required_mask(struct device *dev)
{
	return DMA_BIT_MASK(fls64(pvdma_dev->aperture_end - 1));
}

static size_t pvdma_max_mapping_size(struct device *dev)
{
	return SZ_4M;
}

const struct dma_map_ops pvdma_dma_ops = {
	.alloc = pvdma_alloc,
	.free = pvdma_free,
#ifdef PVDMA_HAVE_ALLOC_PAGES_OP
	.alloc_pages_op = pvdma_alloc_pages,
#else
	.alloc_pages = pvdma_alloc_pages,
#endif
	.free_pages = pvdma_free_pages,
	.mmap = pvdma_mmap,
	.get_sgtable = pvdma_get_sgtable,
#ifdef PVDMA_HAVE_MAP_PHYS
	.map_phys = pvdma_map_phys,
	.unmap_phys = pvdma_unmap_phys,
#else
	.map_page = pvdma_map_page,
	.unmap_page = pvdma_unmap_page,
#endif
	.map_sg = pvdma_map_sg,
	.unmap_sg = pvdma_unmap_sg,
	.sync_single_for_cpu = pvdma_sync_single_for_cpu,
	.sync_single_for_device = pvdma_sync_single_for_device,
	.sync_sg_for_cpu = pvdma_sync_sg_for_cpu,
	.sync_sg_for_device = pvdma_sync_sg_for_device,
	.dma_supported = pvdma_dma_supported,
	.get_required_mask = pvdma_get_required_mask,
	.max_mapping_size = pvdma_max_mapping_size,
};
