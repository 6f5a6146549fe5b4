// SPDX-License-Identifier: GPL-2.0
/*
 * Stand-in for NVIDIA's nvidia-uvm.ko 550.163.01 for tests/guest/uvm.sh: the module
 * name (nvidia_uvm), MODULE_VERSION, the two functions pvdma's UVM quirk probes, with
 * their signatures, and the two fields it reads and writes at the offsets that
 * 550.163.01's headers give them in struct uvm_parent_gpu_struct (rig/nvidia.sh
 * compiles them from those headers and checks the line below). Nothing else of UVM.
 *
 * For each PCI function named in gpus= (BDFs), it does what UVM does when it adds a GPU
 * of Pascal or later: a parent GPU whose pci_dev is that function, then
 * uvm_hal_init_properties(), whose HAL turns large sysmem pages on; then it asks
 * uvm_cpu_chunk_get_allocation_sizes() as block_populate_pages_cpu() does, and logs
 * what it got: "nvidia_uvm stand-in: BDF: can_map_sysmem_with_large_pages N" and
 * "nvidia_uvm stand-in: cpu chunk sizes 0xM" (before the GPUs and after them).
 */
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/string.h>

/* Offsets (amd64 and arm64) of pci_dev and can_map_sysmem_with_large_pages. */
#define PVDMA_UVM_550_163_01_AMD64 440, 608
#define PVDMA_UVM_550_163_01_ARM64 440, 608
#define STANDIN_1ST(a, b) (a)
#define STANDIN_2ND(a, b) (b)
#define STANDIN_PICK(f, layout) f(layout)
#if defined(CONFIG_X86_64)
#define STANDIN_LAYOUT PVDMA_UVM_550_163_01_AMD64
#elif defined(CONFIG_ARM64)
#define STANDIN_LAYOUT PVDMA_UVM_550_163_01_ARM64
#else
#error "550.163.01's layout is known for amd64 and arm64 only"
#endif
#define STANDIN_PCI_DEV STANDIN_PICK(STANDIN_1ST, STANDIN_LAYOUT)
#define STANDIN_LARGE_PAGES STANDIN_PICK(STANDIN_2ND, STANDIN_LAYOUT)

struct uvm_parent_gpu_struct {
	char before_pci_dev[STANDIN_PCI_DEV];
	struct pci_dev *pci_dev;
	char before_large_pages[STANDIN_LARGE_PAGES - STANDIN_PCI_DEV - sizeof(struct pci_dev *)];
	bool can_map_sysmem_with_large_pages;
};
typedef struct uvm_parent_gpu_struct uvm_parent_gpu_t;
static_assert(offsetof(uvm_parent_gpu_t, pci_dev) == STANDIN_PCI_DEV);
static_assert(offsetof(uvm_parent_gpu_t, can_map_sysmem_with_large_pages) == STANDIN_LARGE_PAGES);

/* A 32-bit enum of sizes in the real one (uvm_chunk_size_t). */
typedef u32 uvm_chunk_sizes_mask_t;

void uvm_hal_init_properties(uvm_parent_gpu_t *parent_gpu);
uvm_chunk_sizes_mask_t uvm_cpu_chunk_get_allocation_sizes(void);

/* noipa: every call is a real call, its result not folded into the caller. */
__attribute__((__noipa__)) void uvm_hal_init_properties(uvm_parent_gpu_t *parent_gpu)
{
	parent_gpu->can_map_sysmem_with_large_pages = true;	/* Pascal and later */
}

__attribute__((__noipa__)) uvm_chunk_sizes_mask_t uvm_cpu_chunk_get_allocation_sizes(void)
{
	return SZ_2M | SZ_64K | PAGE_SIZE;
}

static char *gpus = "";
module_param(gpus, charp, 0444);
MODULE_PARM_DESC(gpus, "PCI functions (BDFs, comma-separated) to treat as GPUs");

static int __init standin_init(void)
{
	char *list, *p, *bdf;
	int ret = 0;

	pr_info("nvidia_uvm stand-in: cpu chunk sizes 0x%x (before the GPUs)\n",
		uvm_cpu_chunk_get_allocation_sizes());
	list = p = kstrdup(gpus, GFP_KERNEL);
	if (!list)
		return -ENOMEM;
	while ((bdf = strsep(&p, ",")) && *bdf) {
		unsigned int dom, bus, slot, fn;
		uvm_parent_gpu_t *gpu;
		struct pci_dev *pdev;

		if (sscanf(bdf, "%x:%x:%x.%x", &dom, &bus, &slot, &fn) != 4 ||
		    !(pdev = pci_get_domain_bus_and_slot(dom, bus, PCI_DEVFN(slot, fn)))) {
			pr_err("nvidia_uvm stand-in: no PCI function %s\n", bdf);
			ret = -ENODEV;
			break;
		}
		gpu = kzalloc(sizeof(*gpu), GFP_KERNEL);
		if (!gpu) {
			pci_dev_put(pdev);
			ret = -ENOMEM;
			break;
		}
		gpu->pci_dev = pdev;
		uvm_hal_init_properties(gpu);
		pr_info("nvidia_uvm stand-in: %s: can_map_sysmem_with_large_pages %d\n",
			pci_name(pdev), gpu->can_map_sysmem_with_large_pages);
		kfree(gpu);
		pci_dev_put(pdev);
	}
	kfree(list);
	if (!ret)
		pr_info("nvidia_uvm stand-in: cpu chunk sizes 0x%x (after the GPUs)\n",
			uvm_cpu_chunk_get_allocation_sizes());
	return ret;
}

static void __exit standin_exit(void)
{
}

module_init(standin_init);
module_exit(standin_exit);
MODULE_LICENSE("GPL");
MODULE_VERSION("550.163.01");
MODULE_DESCRIPTION("stand-in for nvidia-uvm 550.163.01's symbols and layout (tests/guest/uvm.sh)");
