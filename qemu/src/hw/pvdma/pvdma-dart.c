/*
 * pvdma emulated DART backend: lib/dp_dart.c chooses the bus addresses and enforces
 * the limits; this file makes it the IOMMU of every device on the managed bus, so
 * their DMA goes through the mappings the guest obtained and anything else faults.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qemu/target-info.h"
#include "qemu/units.h"
#include "qapi/error.h"
#include "hw/boards.h"
#include "system/address-spaces.h"
#include "system/memory.h"
#include "hw/pci/pci.h"
#include "pvdma.h"
#include "dp_dart.h"
#include "trace.h"

#define TYPE_PVDMA_IOMMU_MEMORY_REGION "pvdma-iommu-memory-region"

/* One translated address space per requester, so faults name the device. */
typedef struct PVDMADartDevice {
    PVDMAState *s;
    PCIBus *bus;
    int devfn;
    IOMMUMemoryRegion iommu;
    AddressSpace as;
} PVDMADartDevice;

struct PVDMADart {
    struct dp_dart dart;            /* protected by PVDMAState.lock */
    GHashTable *devices;            /* (bus, devfn) -> PVDMADartDevice */
};

static IOMMUTLBEntry pvdma_dart_translate(IOMMUMemoryRegion *iommu, hwaddr addr,
                                          IOMMUAccessFlags flag, int iommu_idx)
{
    PVDMADartDevice *dev = container_of(iommu, PVDMADartDevice, iommu);
    PVDMAState *s = dev->s;
    uint64_t g = 1ull << s->granule_shift;
    const struct dp_dart_mapping *m;
    IOMMUTLBEntry e = {
        .target_as = &address_space_memory,
        .iova = addr & ~(g - 1),
        .addr_mask = g - 1,
        .perm = IOMMU_NONE,
    };
    IOMMUAccessFlags allowed = IOMMU_NONE;

    if (addr - s->msi_base < s->msi_size && !(flag & IOMMU_RO)) {
        e.iova = addr & ~(hwaddr)0xfff;
        e.translated_addr = e.iova;
        e.addr_mask = 0xfff;
        e.perm = IOMMU_WO;
        trace_pvdma_translate(addr, flag, e.translated_addr, e.perm);
        return e;
    }
    qemu_mutex_lock(&s->lock);
    m = dp_dart_lookup(&s->dart->dart, addr);
    if (m) {
        allowed = IOMMU_ACCESS_FLAG(m->perm & PVDMA_MAP_READ, m->perm & PVDMA_MAP_WRITE);
        e.translated_addr = m->pa + (e.iova - m->iova);
        if ((allowed & flag) == flag) {
            pvdma_fault_chain_break(s);
        }
    }
    qemu_mutex_unlock(&s->lock);

    if (m && (allowed & flag) == flag) {
        e.perm = allowed;
    } else if (flag != IOMMU_NONE) {
        pvdma_record_fault(s, PVDMA_RID(0, pci_bus_num(dev->bus), dev->devfn), addr,
                           (flag & IOMMU_WO ? PVDMA_FAULT_WRITE : 0) |
                           (m ? PVDMA_FAULT_PERM : PVDMA_FAULT_UNMAPPED));
        e.translated_addr = 0;
    }
    trace_pvdma_translate(addr, flag, e.translated_addr, e.perm);
    return e;
}

static guint pvdma_dart_key(PCIBus *bus, int devfn)
{
    return g_direct_hash(bus) ^ devfn;
}

static AddressSpace *pvdma_dart_get_as(PCIBus *bus, void *opaque, int devfn)
{
    PVDMAState *s = opaque;
    GHashTable *devices = s->dart->devices;
    PVDMADartDevice *dev = NULL;
    GList *l, *cands = g_hash_table_lookup(devices,
                                           GUINT_TO_POINTER(pvdma_dart_key(bus, devfn)));

    for (l = cands; l; l = l->next) {
        PVDMADartDevice *d = l->data;

        if (d->bus == bus && d->devfn == devfn) {
            dev = d;
        }
    }
    if (!dev) {
        g_autofree char *name = g_strdup_printf("pvdma-dart-%p-%02x", bus, devfn);

        dev = g_new0(PVDMADartDevice, 1);
        dev->s = s;
        dev->bus = bus;
        dev->devfn = devfn;
        memory_region_init_iommu(&dev->iommu, sizeof(dev->iommu),
                                 TYPE_PVDMA_IOMMU_MEMORY_REGION, OBJECT(s), name,
                                 UINT64_MAX);
        address_space_init(&dev->as, MEMORY_REGION(&dev->iommu), name);
        g_hash_table_insert(devices, GUINT_TO_POINTER(pvdma_dart_key(bus, devfn)),
                            g_list_prepend(cands, dev));
    }
    return &dev->as;
}

static const PCIIOMMUOps pvdma_dart_iommu_ops = {
    .get_address_space = pvdma_dart_get_as,
};

/*
 * Bus addresses the host hands out must reach the IOMMU: a DMA address inside a PCI
 * host bridge window is routed to the device there (QEMU's devices check this too),
 * and a write to the interrupt controller's doorbell is an MSI. Known machines get an
 * aperture clear of their MMIO windows and an MSI window that writes pass through
 * untranslated (as a DART's MSI bypass and virtio-iommu's reserved MSI region do);
 * other machines must set aperture-base/-size (and msi-base/-size if they have MSI).
 */
static bool pvdma_machine_windows(PVDMAState *s, Error **errp)
{
    Object *machine = OBJECT(qdev_get_machine());
    uint64_t ap_base = 0, ap_size = 0, msi_base = 0, msi_size = 0;

    if (object_dynamic_cast(machine, MACHINE_TYPE_NAME("x86"))) {
        /* Below 2 GiB: under the 32-bit PCI hole of pc and q35 at any RAM size. */
        ap_base = 256 * MiB;
        ap_size = 2 * GiB - 256 * MiB;
        msi_base = 0xfee00000;              /* the APIC's MSI window */
        msi_size = 1 * MiB;
    } else if (object_dynamic_cast(machine, MACHINE_TYPE_NAME("virt")) &&
               !strcmp(target_name(), "aarch64")) {
        /*
         * arm virt: above its low PCIe MMIO/ECAM (< 1 GiB), below 4 GiB for devices
         * with 32-bit DMA; its high windows start at 256 GiB.
         */
        ap_base = 1 * GiB;
        ap_size = 3 * GiB;
        msi_base = 0x08020000;              /* GICv2m frame .. ITS */
        msi_size = 0x80000;
    } else if (s->aperture_base == UINT64_MAX || !s->aperture_size) {
        error_setg(errp, "pvdma: no default aperture for machine type %s; set"
                   " aperture-base and aperture-size clear of its PCI MMIO windows",
                   object_get_typename(machine));
        return false;
    }
    if (s->aperture_base == UINT64_MAX) {
        s->aperture_base = ap_base;
    }
    if (!s->aperture_size) {
        s->aperture_size = ap_size;
    }
    if (s->msi_base == UINT64_MAX) {
        s->msi_base = msi_base;
        s->msi_size = msi_size;
    }
    return true;
}

static bool pvdma_dart_init(PVDMAState *s, Error **errp)
{
    struct dp_dart_config cfg;

    if (!pvdma_machine_windows(s, errp)) {
        return false;
    }
    if (s->msi_size && (s->msi_base + s->msi_size < s->msi_base ||
        (s->msi_base < s->aperture_base + s->aperture_size &&
         s->aperture_base < s->msi_base + s->msi_size))) {
        error_setg(errp, "pvdma: the aperture [0x%" PRIx64 ", 0x%" PRIx64 ") overlaps"
                   " the MSI window [0x%" PRIx64 ", 0x%" PRIx64 ")", s->aperture_base,
                   s->aperture_base + s->aperture_size, s->msi_base,
                   s->msi_base + s->msi_size);
        return false;
    }
    cfg = (struct dp_dart_config) {
        .aperture_base = s->aperture_base,
        .aperture_size = s->aperture_size,
        .granule_shift = s->granule_shift,
        .max_mappings = s->max_mappings,
        .max_bytes = s->max_bytes,
    };
    s->dart = g_new0(PVDMADart, 1);
    if (dp_dart_init(&s->dart->dart, &cfg) != PVDMA_S_OK) {
        error_setg(errp, "pvdma: granule-shift must be 12..30 and aperture-base and"
                   " aperture-size non-zero multiples of the granule");
        g_free(s->dart);
        s->dart = NULL;
        return false;
    }
    s->dart->devices = g_hash_table_new(g_direct_hash, g_direct_equal);
    if (s->managed_bus) {
        pci_setup_iommu(s->managed_bus, &pvdma_dart_iommu_ops, s);
    }
    return true;
}

static void pvdma_dart_cleanup(PVDMAState *s)
{
    /* The IOMMU regions belong to the device and live as long as it does. */
    dp_dart_destroy(&s->dart->dart);
}

static int pvdma_dart_map(PVDMAState *s, uint64_t gpa, uint32_t len,
                          unsigned int perm, uint64_t *iova, uint32_t *mapped)
{
    int st = dp_dart_map(&s->dart->dart, gpa, len, perm, iova);

    *mapped = st == PVDMA_S_OK ? len : 0;
    return st;
}

static int pvdma_dart_unmap(PVDMAState *s, uint64_t iova, uint32_t len)
{
    return dp_dart_unmap(&s->dart->dart, iova, len);
}

static void pvdma_dart_reset(PVDMAState *s)
{
    dp_dart_reset(&s->dart->dart);
}

static void pvdma_dart_limits(PVDMAState *s, PVDMALimits *l)
{
    const struct dp_dart_config *c = &s->dart->dart.cfg;

    *l = (PVDMALimits) {
        .granule_shift = c->granule_shift,
        .max_mappings = c->max_mappings,
        .max_bytes = c->max_bytes,
        .aperture_base = c->aperture_base,
        .aperture_size = c->aperture_size,
    };
}

static void pvdma_dart_counters(PVDMAState *s, PVDMACounters *c)
{
    const struct dp_dart_stats *st = &s->dart->dart.stats;

    *c = (PVDMACounters) {
        .live_mappings = st->live_mappings, .peak_mappings = st->peak_mappings,
        .live_bytes = st->live_bytes, .peak_bytes = st->peak_bytes,
    };
}

typedef struct PVDMADartVisit {
    void (*fn)(PCIDevice *dev, void *opaque);
    void *opaque;
} PVDMADartVisit;

static void pvdma_dart_visit(PCIBus *bus, PCIDevice *dev, void *opaque)
{
    PVDMADartVisit *v = opaque;

    v->fn(dev, v->opaque);
}

/* The emulated DART translates the devices on the managed bus. */
static void pvdma_dart_foreach_managed(PVDMAState *s,
                                       void (*fn)(PCIDevice *dev, void *opaque),
                                       void *opaque)
{
    PVDMADartVisit v = { .fn = fn, .opaque = opaque };

    if (s->managed_bus) {
        pci_for_each_device_under_bus(s->managed_bus, pvdma_dart_visit, &v);
    }
}

const PVDMABackendOps pvdma_dart_backend = {
    .name = "emulated",
    .init = pvdma_dart_init,
    .cleanup = pvdma_dart_cleanup,
    .map = pvdma_dart_map,
    .unmap = pvdma_dart_unmap,
    .reset = pvdma_dart_reset,
    .limits = pvdma_dart_limits,
    .counters = pvdma_dart_counters,
    .foreach_managed = pvdma_dart_foreach_managed,
};

static void pvdma_iommu_memory_region_class_init(ObjectClass *klass, const void *data)
{
    IOMMUMemoryRegionClass *imrc = IOMMU_MEMORY_REGION_CLASS(klass);

    imrc->translate = pvdma_dart_translate;
}

static const TypeInfo pvdma_iommu_memory_region_info = {
    .parent = TYPE_IOMMU_MEMORY_REGION,
    .name = TYPE_PVDMA_IOMMU_MEMORY_REGION,
    .class_init = pvdma_iommu_memory_region_class_init,
};

static void pvdma_dart_register_types(void)
{
    type_register_static(&pvdma_iommu_memory_region_info);
}

type_init(pvdma_dart_register_types)
