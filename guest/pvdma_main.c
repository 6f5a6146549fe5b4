// SPDX-License-Identifier: GPL-2.0
/*
 * pvdma guest driver: binds the pvdma paravirtual device (docs/specs/pvdma.rst),
 * negotiates the protocol, reads the host's limits and the list of managed functions,
 * and installs pvdma_dma_ops on each managed function when a driver binds to it (a
 * PCI bus notifier, so load order does not matter). While a managed function has a
 * driver, the module cannot be unloaded.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/debugfs.h>
#include <linux/io.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/seq_file.h>
#include <linux/vmalloc.h>
#include "pvdma.h"

static char *policy = "adaptive";
module_param(policy, charp, 0444);
MODULE_PARM_DESC(policy, "coalescing policy: exact, window or adaptive (default)");
static uint slop_share = DP_SLOP_SHARE_DEFAULT;
module_param(slop_share, uint, 0444);
MODULE_PARM_DESC(slop_share, "adaptive: percent of the free host bytes windows may leave unused (default "
		 __stringify(DP_SLOP_SHARE_DEFAULT) ")");
static bool rebind = true;
module_param(rebind, bool, 0444);
MODULE_PARM_DESC(rebind, "rebind managed functions whose driver bound before pvdma (default on)");
static bool hit_path = true;
module_param(hit_path, bool, 0444);
MODULE_PARM_DESC(hit_path, "serve hits under their CPU's share of the lock (default on; off: every "
		 "map takes the whole lock, which bench/dma.sh compares)");
static bool trace;
module_param(trace, bool, 0444);
MODULE_PARM_DESC(trace, "record the last 65536 maps/unmaps in debugfs pvdma/*/trace");

static struct dentry *pvdma_debugfs_root;	/* /sys/kernel/debug/pvdma */

static u64 pvdma_read64(struct pvdma *pv, unsigned int lo)
{
	return readl(pv->regs + lo) | (u64)readl(pv->regs + lo + 4) << 32;
}

static int pvdma_host_show(struct seq_file *m, void *unused)
{
	struct pvdma *pv = m->private;

	seq_printf(m, "live_mappings %u\npeak_mappings %u\nlive_bytes %llu\npeak_bytes %llu\n"
		   "faults %u\nlast_fault %#llx rid %#x flags %#x\n"
		   "max_mappings %u\nmax_bytes %llu\ngranule %u\nmanaged %u\n",
		   readl(pv->regs + PVDMA_REG_LIVE_MAPPINGS),
		   readl(pv->regs + PVDMA_REG_PEAK_MAPPINGS),
		   pvdma_read64(pv, PVDMA_REG_LIVE_BYTES_LO),
		   pvdma_read64(pv, PVDMA_REG_PEAK_BYTES_LO),
		   readl(pv->regs + PVDMA_REG_FAULTS), pvdma_read64(pv, PVDMA_REG_FAULT_ADDR_LO),
		   readl(pv->regs + PVDMA_REG_FAULT_RID), readl(pv->regs + PVDMA_REG_FAULT_FLAGS),
		   pv->max_mappings, pv->max_bytes,
		   1u << pv->granule_shift, pv->managed_count);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(pvdma_host);

static int pvdma_managed_show(struct seq_file *m, void *unused)
{
	struct pvdma *pv = m->private;
	u32 i;

	for (i = 0; i < pv->managed_count; i++)
		seq_printf(m, "%04x:%02x:%02x.%x\n", pv->managed_rid[i] >> 16,
			   (pv->managed_rid[i] >> 8) & 0xff, PCI_SLOT(pv->managed_rid[i] & 0xff),
			   PCI_FUNC(pv->managed_rid[i] & 0xff));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(pvdma_managed);

static int pvdma_negotiate(struct pvdma *pv)
{
	struct device *dev = &pv->pdev->dev;
	u32 magic = readl(pv->regs + PVDMA_REG_MAGIC);
	u32 version = readl(pv->regs + PVDMA_REG_VERSION);
	u32 i;

	if (magic != PVDMA_MAGIC || version >> 16 != PVDMA_VERSION_MAJOR) {
		dev_err(dev, "not a pvdma %u.x device (magic %#x, version %#x)\n",
			PVDMA_VERSION_MAJOR, magic, version);
		return -ENODEV;
	}
	pv->features = readl(pv->regs + PVDMA_REG_DEV_FEATURES) & PVDMA_F_ALL;
	pv->granule_shift = readl(pv->regs + PVDMA_REG_GRANULE_SHIFT);
	pv->max_batch = min_t(u32, readl(pv->regs + PVDMA_REG_MAX_BATCH),
			      (PVDMA_BATCH_BYTES - sizeof(struct pvdma_batch)) /
			      sizeof(struct pvdma_req));
	pv->max_mappings = readl(pv->regs + PVDMA_REG_MAX_MAPPINGS);
	pv->max_bytes = pvdma_read64(pv, PVDMA_REG_MAX_BYTES_LO);
	pv->aperture_end = pvdma_read64(pv, PVDMA_REG_APERTURE_LO) +
			   pvdma_read64(pv, PVDMA_REG_APSIZE_LO);
	if (!(pv->features & PVDMA_F_GRANULE) || pv->granule_shift < 12 ||
	    pv->granule_shift > 30 || !pv->max_batch || !pv->max_mappings ||
	    !pv->max_bytes) {
		dev_err(dev, "unusable limits (granule shift %u, batch %u)\n",
			pv->granule_shift, pv->max_batch);
		return -ENODEV;
	}
	pv->managed_count = readl(pv->regs + PVDMA_REG_MANAGED_COUNT);
	pv->managed_rid = devm_kcalloc(dev, max(pv->managed_count, 1u), sizeof(u32),
				       GFP_KERNEL);
	pv->installed = devm_bitmap_zalloc(dev, max(pv->managed_count, 1u), GFP_KERNEL);
	if (!pv->managed_rid || !pv->installed)
		return -ENOMEM;
	for (i = 0; i < pv->managed_count; i++) {
		writel(i, pv->regs + PVDMA_REG_MANAGED_SEL);
		pv->managed_rid[i] = readl(pv->regs + PVDMA_REG_MANAGED_RID);
	}
	writel(pv->features, pv->regs + PVDMA_REG_DRV_FEATURES);
	writel(PVDMA_STATUS_ENABLE, pv->regs + PVDMA_REG_STATUS);
	dev_info(dev, "pvdma %u.%u: %u KiB pages, %u mappings, %llu MiB, batch %u, %u managed%s\n",
		 version >> 16, version & 0xffff, (1u << pv->granule_shift) >> 10,
		 pv->max_mappings, pv->max_bytes >> 20, pv->max_batch, pv->managed_count,
		 pv->features & PVDMA_F_HOST_TSO ? ", host TSO" : "");
	return 0;
}

static int pvdma_stats_show(struct seq_file *m, void *unused)
{
	struct pvdma *pv = m->private;
	struct dp_map_stats st;
	u64 doorbells, map_errors, bad_unmaps;
	unsigned long flags;

	pvdma_lock(pv, &flags);
	st = pv->mapper.stats;
	doorbells = pv->doorbells;
	map_errors = pv->map_errors;
	bad_unmaps = pv->bad_unmaps;
	pvdma_unlock(pv, flags);
	seq_printf(m, "policy %s\nslop_share %u\nlive_mappings %llu\npeak_mappings %llu\nlive_bytes %llu\n"
		   "peak_bytes %llu\nidle_mappings %llu\nbuffers %llu\nmaps %llu\nunmaps %llu\n"
		   "hits %llu\nhost_maps %llu\nhost_unmaps %llu\nround_trips %llu\n"
		   "evictions %llu\nmap_errors %llu\nbad_unmaps %llu\n"
		   "refused_no_mappings %llu\nrefused_no_bytes %llu\nrefused_no_space %llu\n"
		   "syncs %lld\n",
		   dp_policy_name(pv->mapper.cfg.policy), pv->mapper.cfg.slop_share,
		   st.live_mappings, st.peak_mappings,
		   st.live_bytes, st.peak_bytes, st.idle_mappings, st.buffers, st.maps,
		   st.unmaps, st.hits, st.host_maps, st.host_unmaps, doorbells, st.evictions,
		   map_errors, bad_unmaps, st.refused[PVDMA_S_NO_MAPPINGS],
		   st.refused[PVDMA_S_NO_BYTES], st.refused[PVDMA_S_NO_SPACE],
		   atomic64_read(&pv->syncs));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(pvdma_stats);

/* The trace ring, oldest first, in the dp_trace format the simulator reads. */
static int pvdma_trace_show(struct seq_file *m, void *unused)
{
	struct pvdma *pv = m->private;
	struct dp_trace_rec *copy;
	char line[DP_TRACE_LINE_MAX];
	unsigned long flags;
	u64 i, n, first, next;

	copy = vmalloc(array_size(PVDMA_TRACE_LEN, sizeof(*copy)));
	if (!copy)
		return -ENOMEM;
	pvdma_lock(pv, &flags);
	next = atomic64_read(&pv->trace_next);
	n = min_t(u64, next, PVDMA_TRACE_LEN);
	first = next - n;
	for (i = 0; i < n; i++)
		copy[i] = pv->trace[(first + i) & (PVDMA_TRACE_LEN - 1)];
	pvdma_unlock(pv, flags);
	for (i = 0; i < n; i++) {
		dp_trace_format(line, sizeof(line), &copy[i]);
		seq_puts(m, line);
	}
	vfree(copy);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(pvdma_trace);

/* Index of pdev in the managed list, or -1. */
static int pvdma_managed_index(struct pvdma *pv, struct pci_dev *pdev)
{
	u32 i, rid = pvdma_rid(pdev);

	for (i = 0; i < pv->managed_count; i++)
		if (pv->managed_rid[i] == rid)
			return i;
	return -1;
}

/*
 * Called before a managed function's driver probes (after the bus set up its default
 * DMA ops, which ours replace) and after it is gone. Each installation holds a module
 * reference, so pvdma cannot be unloaded under a driver that uses it.
 */
static int pvdma_bus_notify(struct notifier_block *nb, unsigned long action, void *data)
{
	struct device *dev = data;
	struct pvdma *pv = pvdma_dev;
	int i;

	if (!pv || dev == &pv->pdev->dev)
		return NOTIFY_DONE;
	i = pvdma_managed_index(pv, to_pci_dev(dev));
	if (i < 0)
		return NOTIFY_DONE;
	switch (action) {
	case BUS_NOTIFY_BIND_DRIVER:
		set_dma_ops(dev, &pvdma_dma_ops);
		set_bit(i, pv->installed);
		__module_get(THIS_MODULE);
		dev_info(dev, "pvdma: DMA goes through host-chosen bus addresses%s\n",
			 dev_is_dma_coherent(dev) ? "" : " (not cache-coherent: synced by pvdma)");
		break;
	case BUS_NOTIFY_UNBOUND_DRIVER:
	case BUS_NOTIFY_DRIVER_NOT_BOUND:
		if (test_and_clear_bit(i, pv->installed)) {
			set_dma_ops(dev, NULL);
			module_put(THIS_MODULE);
		}
		break;
	}
	return NOTIFY_DONE;
}

static struct notifier_block pvdma_bus_nb = {
	.notifier_call = pvdma_bus_notify,
};

/* Functions whose driver bound before pvdma did DMA without it: rebind or report. */
static void pvdma_claim_bound(struct pvdma *pv)
{
	struct pci_dev *pdev = NULL;

	for_each_pci_dev(pdev) {
		if (pdev == pv->pdev || pvdma_managed_index(pv, pdev) < 0 || !pdev->dev.driver)
			continue;
		if (!rebind) {
			dev_err(&pdev->dev, "pvdma: driver %s bound before pvdma; its DMA will fault"
				" until it is rebound\n", pdev->dev.driver->name);
			continue;
		}
		dev_warn(&pdev->dev, "pvdma: driver %s bound before pvdma; rebinding\n",
			 pdev->dev.driver->name);
		if (device_reprobe(&pdev->dev))
			dev_err(&pdev->dev, "pvdma: rebinding failed\n");
	}
}

static int pvdma_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct dp_map_config mc = { .window_shift = 18, .slop_share = slop_share };
	struct pvdma *pv;
	int ret, cpu;

	if (pvdma_dev) {
		dev_err(&pdev->dev, "only one pvdma device is supported\n");
		return -EBUSY;
	}
	mc.policy = dp_policy_parse(policy);
	if ((int)mc.policy < 0) {
		dev_err(&pdev->dev, "unknown policy '%s' (exact, window, adaptive)\n", policy);
		return -EINVAL;
	}
	pv = devm_kzalloc(&pdev->dev, sizeof(*pv), GFP_KERNEL);
	if (!pv)
		return -ENOMEM;
	pv->pdev = pdev;
	pv->hit_path = hit_path;
	raw_spin_lock_init(&pv->lock);
	pv->cpus = devm_alloc_percpu(&pdev->dev, struct pvdma_cpu);
	if (!pv->cpus)
		return -ENOMEM;
	for_each_possible_cpu(cpu)
		raw_spin_lock_init(&per_cpu_ptr(pv->cpus, cpu)->lock);
	ret = pcim_enable_device(pdev);
	if (ret)
		return ret;
	pv->regs = pcim_iomap(pdev, 0, PVDMA_BAR_SIZE);
	if (!pv->regs)
		return -ENOMEM;
	pci_set_master(pdev);
	/* pvdma's own DMA (the batch) is not translated: it is not a managed device. */
	pv->batch = dmam_alloc_coherent(&pdev->dev, PVDMA_BATCH_BYTES, &pv->batch_dma,
					GFP_KERNEL);
	if (!pv->batch)
		return -ENOMEM;
	if (trace) {
		pv->trace = devm_kcalloc(&pdev->dev, PVDMA_TRACE_LEN, sizeof(*pv->trace),
					 GFP_KERNEL);
		if (!pv->trace)
			return -ENOMEM;
	}
	ret = pvdma_negotiate(pv);
	if (ret)
		return ret;
	mc.granule_shift = pv->granule_shift;
	mc.max_mappings = pv->max_mappings;
	mc.max_bytes = pv->max_bytes;
	ret = dp_mapper_init(&pv->mapper, &mc, &pvdma_host_ops, pv);
	if (ret == PVDMA_S_INVALID)
		dev_err(&pdev->dev, "mapper refused its settings: policy %s, slop_share %u (0 to 100), granule shift %u\n",
			policy, slop_share, pv->granule_shift);
	if (ret) {
		ret = pvdma_status_to_errno(ret);
		goto disable;
	}
	ret = pvdma_shadows_create(pv);
	if (ret)
		goto destroy_mapper;
	pci_set_drvdata(pdev, pv);
	pv->debugfs = debugfs_create_dir(pci_name(pdev), pvdma_debugfs_root);
	debugfs_create_file("host", 0444, pv->debugfs, pv, &pvdma_host_fops);
	debugfs_create_file("managed", 0444, pv->debugfs, pv, &pvdma_managed_fops);
	debugfs_create_file("stats", 0444, pv->debugfs, pv, &pvdma_stats_fops);
	if (pv->trace)
		debugfs_create_file("trace", 0444, pv->debugfs, pv, &pvdma_trace_fops);
	pvdma_dev = pv;
	ret = bus_register_notifier(&pci_bus_type, &pvdma_bus_nb);
	if (ret)
		goto unpublish;
	pvdma_claim_bound(pv);
	pvdma_tso_enable(pv);
	dev_info(&pdev->dev, "policy %s\n", dp_policy_name(mc.policy));
	return 0;

unpublish:
	pvdma_dev = NULL;
	debugfs_remove_recursive(pv->debugfs);
	pvdma_shadows_destroy(pv);
destroy_mapper:
	dp_mapper_destroy(&pv->mapper);
disable:
	writel(0, pv->regs + PVDMA_REG_STATUS);
	return ret;
}

/*
 * Reached with managed drivers still bound only when pvdma itself is unbound through
 * sysfs (rmmod is refused while they are): release them first, so none is left
 * holding host addresses that are about to vanish.
 */
static void pvdma_remove(struct pci_dev *pdev)
{
	struct pvdma *pv = pci_get_drvdata(pdev);
	struct pci_dev *other = NULL;
	unsigned long flags;

	for_each_pci_dev(other) {
		int i = other == pdev ? -1 : pvdma_managed_index(pv, other);

		if (i >= 0 && test_bit(i, pv->installed))
			device_release_driver(&other->dev);
	}
	pvdma_tso_disable(pv);
	bus_unregister_notifier(&pci_bus_type, &pvdma_bus_nb);
	debugfs_remove_recursive(pv->debugfs);
	pvdma_lock(pv, &flags);
	dp_mapper_destroy(&pv->mapper);
	pvdma_unlock(pv, flags);
	pvdma_shadows_destroy(pv);
	pvdma_dev = NULL;
	/* Disabling drops whatever the host still holds for this guest. */
	writel(0, pv->regs + PVDMA_REG_STATUS);
}

static const struct pci_device_id pvdma_ids[] = {
	{ PCI_DEVICE(PVDMA_PCI_VENDOR_ID, PVDMA_PCI_DEVICE_ID) },
	{ }
};
MODULE_DEVICE_TABLE(pci, pvdma_ids);

static struct pci_driver pvdma_driver = {
	.name = "pvdma",
	.id_table = pvdma_ids,
	.probe = pvdma_probe,
	.remove = pvdma_remove,
};

static int __init pvdma_init(void)
{
	int ret;

	pvdma_debugfs_root = debugfs_create_dir(KBUILD_MODNAME, NULL);
	ret = pci_register_driver(&pvdma_driver);
	if (ret)
		debugfs_remove_recursive(pvdma_debugfs_root);
	else
		pvdma_uvm_init();
	return ret;
}

static void __exit pvdma_exit(void)
{
	pvdma_uvm_exit();
	pci_unregister_driver(&pvdma_driver);
	debugfs_remove_recursive(pvdma_debugfs_root);
}

module_init(pvdma_init);
module_exit(pvdma_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("pvdma: paravirtual DMA mapping for DART-managed devices");
