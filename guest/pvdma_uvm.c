// SPDX-License-Identifier: GPL-2.0
/*
 * NVIDIA UVM page size (docs/quirks.md). nvidia-uvm maps system memory for a GPU in
 * CPU chunks of 2 MiB, 64 KiB or PAGE_SIZE, one dma_map_page() per chunk, and (from
 * Pascal on) maps them with 64K or 2M GPU PTEs, which need the bus address aligned to
 * the chunk's size. A DART (or pvdma's emulated one) aligns an address only to its own
 * page (16 KiB), so on a pvdma-managed GPU UVM must use PAGE_SIZE chunks and small
 * GPU pages for system memory.
 *
 * How: when nvidia_uvm loads (a module notifier, MODULE_STATE_COMING, before its init
 * runs), and only if its MODULE_VERSION is in the table below (offsets compiled from
 * that version's own headers: rig/nvidia.sh), two kretprobes on its own symbols:
 *  - uvm_hal_init_properties(uvm_parent_gpu_t *parent_gpu) (void): on return, for a
 *    GPU whose parent_gpu->pci_dev is a function pvdma manages, and whose
 *    can_map_sysmem_with_large_pages is a bool (0 or 1), that bool becomes false: 4K
 *    GPU PTEs for its system memory, as on Maxwell. Other GPUs are not touched.
 *  - uvm_cpu_chunk_get_allocation_sizes(void), a uvm_chunk_sizes_mask_t (32-bit enum):
 *    once a managed GPU has been seen, the answer keeps only its smallest size
 *    (PAGE_SIZE by default). A CPU chunk is shared by every GPU of a VA space, so its
 *    size cannot be chosen per GPU; unmanaged GPUs then get small chunks too (slower,
 *    never wrong) until nvidia_uvm unloads.
 * A version not in the table, a missing symbol or a probe outside nvidia_uvm: nothing
 * is armed and the reason is logged as an error. uvm_quirk=0 leaves nvidia_uvm stock.
 * The managed functions are those pvdma manages when nvidia_uvm loads (taken with a
 * reference; a GPU added later is not covered).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": uvm quirk: " fmt

#include <linux/kprobes.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/ptrace.h>
#include "pvdma.h"

static bool uvm_quirk = true;
module_param(uvm_quirk, bool, 0444);
MODULE_PARM_DESC(uvm_quirk, "nvidia_uvm: small pages for system memory on pvdma-managed GPUs (default on)");

#define PVDMA_UVM_MODULE "nvidia_uvm"

/*
 * What each known nvidia_uvm looks like, from rig/nvidia.sh, which compiles a probe
 * of offsetof() and of the two signatures inside NVIDIA's own build of that version,
 * with the kernel's flags: offsets in struct uvm_parent_gpu_struct (uvm_gpu.h).
 */
struct pvdma_uvm_layout {
	const char *version;		/* nvidia_uvm's MODULE_VERSION (NV_VERSION_STRING) */
	size_t pci_dev;			/* struct pci_dev *pci_dev */
	size_t large_pages;		/* bool can_map_sysmem_with_large_pages */
};

/* rig/nvidia.sh checks these lines against its probe (and the stand-in's copy). */
#define PVDMA_UVM_550_163_01_AMD64 440, 608
#define PVDMA_UVM_550_163_01_ARM64 440, 608

static const struct pvdma_uvm_layout pvdma_uvm_layouts[] = {
#if defined(CONFIG_X86_64)
	/* 550.163.01 (Debian 550.163.01-4), trixie 6.12.117+deb13-amd64 */
	{ "550.163.01", PVDMA_UVM_550_163_01_AMD64 },
#elif defined(CONFIG_ARM64)
	/* 550.163.01 (Debian 550.163.01-4), trixie 6.12.117+deb13-arm64 */
	{ "550.163.01", PVDMA_UVM_550_163_01_ARM64 },
#endif
};

static const struct pvdma_uvm_layout *pvdma_uvm_layout;
#define PVDMA_UVM_MAX_GPUS 16
static struct pci_dev *pvdma_uvm_managed[PVDMA_UVM_MAX_GPUS];
static unsigned int pvdma_uvm_nmanaged;
static atomic_t pvdma_uvm_seen;		/* a managed GPU's properties were rewritten */

static bool pvdma_uvm_is_managed(const struct pci_dev *pdev)
{
	unsigned int i;

	for (i = 0; i < pvdma_uvm_nmanaged; i++)
		if (pvdma_uvm_managed[i] == pdev)
			return true;
	return false;
}

static int pvdma_uvm_props_entry(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	*(void **)ri->data = (void *)regs_get_kernel_argument(regs, 0);
	return 0;
}

static int pvdma_uvm_props_return(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	char *parent = *(void **)ri->data;
	struct pci_dev *pdev;
	u8 large;

	if (!parent)
		return 0;
	/* Only the pointer's value is compared: nothing is read through it unless managed. */
	pdev = *(struct pci_dev **)(parent + pvdma_uvm_layout->pci_dev);
	if (!pvdma_uvm_is_managed(pdev))
		return 0;
	large = *(u8 *)(parent + pvdma_uvm_layout->large_pages);
	if (large > 1) {
		pr_err("%s: can_map_sysmem_with_large_pages reads %u, not a bool: layout wrong? left alone\n",
		       pci_name(pdev), large);
		return 0;
	}
	*(u8 *)(parent + pvdma_uvm_layout->large_pages) = 0;
	atomic_set(&pvdma_uvm_seen, 1);
	pr_info("%s: pvdma-managed GPU: system memory with 4K GPU pages (large pages were %s)\n",
		pci_name(pdev), large ? "on" : "off");
	return 0;
}

static int pvdma_uvm_sizes_return(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	u32 sizes = (u32)regs_return_value(regs);

	if (atomic_read(&pvdma_uvm_seen) && sizes)
		regs_set_return_value(regs, sizes & -sizes);	/* the smallest */
	return 0;
}

/* Templates: a kretprobe is copied fresh from one before each registration. */
static const struct kretprobe pvdma_uvm_props_tmpl = {
	.kp.symbol_name = PVDMA_UVM_MODULE ":uvm_hal_init_properties",
	.entry_handler = pvdma_uvm_props_entry,
	.handler = pvdma_uvm_props_return,
	.data_size = sizeof(void *),
	.maxactive = 16,
};
static const struct kretprobe pvdma_uvm_sizes_tmpl = {
	.kp.symbol_name = PVDMA_UVM_MODULE ":uvm_cpu_chunk_get_allocation_sizes",
	.handler = pvdma_uvm_sizes_return,
	.maxactive = 64,
};
static struct kretprobe pvdma_uvm_props_probe, pvdma_uvm_sizes_probe;
static bool pvdma_uvm_armed;

static void pvdma_uvm_put_managed(void)
{
	while (pvdma_uvm_nmanaged)
		pci_dev_put(pvdma_uvm_managed[--pvdma_uvm_nmanaged]);
}

static int pvdma_uvm_probe_one(struct kretprobe *rp, const struct kretprobe *tmpl,
			       struct module *mod)
{
	int ret;

	*rp = *tmpl;
	ret = register_kretprobe(rp);

	if (ret) {
		pr_err("%s %s: no kretprobe on %s (%d): not armed\n", mod->name, mod->version,
		       rp->kp.symbol_name, ret);
		return ret;
	}
	if (!within_module((unsigned long)rp->kp.addr, mod)) {
		pr_err("%s %s: %s resolves outside the module: not armed\n", mod->name,
		       mod->version, rp->kp.symbol_name);
		unregister_kretprobe(rp);
		return -ENOENT;
	}
	return 0;
}

static void pvdma_uvm_arm(struct module *mod)
{
	struct pvdma *pv = pvdma_dev;
	struct pci_dev *pdev = NULL;
	unsigned int i;

	if (!uvm_quirk) {
		pr_info("%s %s loaded; left stock (uvm_quirk=0)\n", mod->name, mod->version ?: "?");
		return;
	}
	pvdma_uvm_layout = NULL;
	for (i = 0; i < ARRAY_SIZE(pvdma_uvm_layouts); i++)
		if (mod->version && !strcmp(mod->version, pvdma_uvm_layouts[i].version))
			pvdma_uvm_layout = &pvdma_uvm_layouts[i];
	if (!pvdma_uvm_layout) {
		pr_err("%s version %s is not one this quirk knows (%s): NOT ARMED; its 2M/64K system-memory mappings on pvdma-managed GPUs will not be aligned\n",
		       mod->name, mod->version ?: "(none)",
		       ARRAY_SIZE(pvdma_uvm_layouts) ? pvdma_uvm_layouts[0].version : "none on this arch");
		return;
	}
	if (!pv) {
		pr_info("%s %s loaded; no pvdma device bound: nothing to do\n", mod->name, mod->version);
		return;
	}
	for_each_pci_dev(pdev) {
		for (i = 0; i < pv->managed_count; i++) {
			if (pv->managed_rid[i] != pvdma_rid(pdev))
				continue;
			if (pvdma_uvm_nmanaged < PVDMA_UVM_MAX_GPUS)
				pvdma_uvm_managed[pvdma_uvm_nmanaged++] = pci_dev_get(pdev);
			else
				pr_warn("%s: more than %d managed functions: not covered\n",
					pci_name(pdev), PVDMA_UVM_MAX_GPUS);
		}
	}
	atomic_set(&pvdma_uvm_seen, 0);
	if (pvdma_uvm_probe_one(&pvdma_uvm_props_probe, &pvdma_uvm_props_tmpl, mod))
		goto fail;
	if (pvdma_uvm_probe_one(&pvdma_uvm_sizes_probe, &pvdma_uvm_sizes_tmpl, mod)) {
		unregister_kretprobe(&pvdma_uvm_props_probe);
		goto fail;
	}
	pvdma_uvm_armed = true;
	pr_info("%s %s: armed on uvm_hal_init_properties and uvm_cpu_chunk_get_allocation_sizes (pci_dev at %zu, can_map_sysmem_with_large_pages at %zu), %u managed functions\n",
		mod->name, mod->version, pvdma_uvm_layout->pci_dev, pvdma_uvm_layout->large_pages,
		pvdma_uvm_nmanaged);
	pr_info("probes at %pS and %pS\n", pvdma_uvm_props_probe.kp.addr, pvdma_uvm_sizes_probe.kp.addr);
	return;
fail:
	pvdma_uvm_put_managed();
}

static void pvdma_uvm_disarm(void)
{
	if (!pvdma_uvm_armed)
		return;
	unregister_kretprobe(&pvdma_uvm_sizes_probe);
	unregister_kretprobe(&pvdma_uvm_props_probe);
	pvdma_uvm_put_managed();
	pvdma_uvm_armed = false;
	if (pvdma_uvm_props_probe.nmissed || pvdma_uvm_sizes_probe.nmissed)
		pr_warn("%d + %d calls missed the probes\n", pvdma_uvm_props_probe.nmissed,
			pvdma_uvm_sizes_probe.nmissed);
	pr_info("disarmed\n");
}

static int pvdma_uvm_notify(struct notifier_block *nb, unsigned long action, void *data)
{
	struct module *mod = data;

	if (strcmp(mod->name, PVDMA_UVM_MODULE))
		return NOTIFY_DONE;
	if (action == MODULE_STATE_COMING)
		pvdma_uvm_arm(mod);
	else if (action == MODULE_STATE_GOING)
		pvdma_uvm_disarm();
	return NOTIFY_DONE;
}

static struct notifier_block pvdma_uvm_nb = {
	.notifier_call = pvdma_uvm_notify,
};

void pvdma_uvm_init(void)
{
	struct kprobe kp = { .symbol_name = PVDMA_UVM_MODULE ":uvm_hal_init_properties" };

	register_module_notifier(&pvdma_uvm_nb);
	/* Loaded before us: its GPUs may already have their properties. */
	if (!register_kprobe(&kp)) {
		unregister_kprobe(&kp);
		pr_warn("%s was loaded before pvdma: not armed (load pvdma first)\n", PVDMA_UVM_MODULE);
	}
}

void pvdma_uvm_exit(void)
{
	unregister_module_notifier(&pvdma_uvm_nb);
	pvdma_uvm_disarm();
}
