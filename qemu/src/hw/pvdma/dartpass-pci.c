/*
 * dartpass-pci: a host PCI function lent by a dartpass provider, passed through to
 * the guest (docs/specs/provider.rst)
 *
 *   -object dartpass-provider,id=prov0,socket=/run/dartpass-provider.sock
 *   -device dartpass-pci,provider=prov0,host=0000:03:00.0
 *
 * QEMU's vfio-pci does the passthrough: config space virtualization, BARs, MSI and
 * MSI-X emulation, INTx, ROM. As vfio-user does, this device replaces what lies below
 * it: its VFIODeviceIOOps turn vfio's region and interrupt requests into provider
 * messages of the function it claimed, and its container maps no guest memory, since
 * the provider chooses every bus address and the guest asks for its DMA mappings
 * through pvdma (pvdma-pci,backend=provider).
 *
 * What the provider's transport cannot pass shows in the features HELLO agreed: on
 * the socket, BARs are descriptors vfio maps and interrupts eventfds the provider
 * signals; through IOKit, BARs are memory the provider object maps for us and
 * interrupts pending bits, read after the provider's notification and forwarded to
 * the EventNotifiers vfio-pci handed over for each vector.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qemu/bitops.h"
#include "qemu/error-report.h"
#include "qapi/error.h"
#include "hw/qdev-properties.h"
#include "hw/vfio/pci.h"
#include "migration/vmstate.h"
#include "dartpass-provider.h"
#include "trace.h"

#define TYPE_DARTPASS_PCI "dartpass-pci"
OBJECT_DECLARE_TYPE(DartpassPCIDevice, DartpassPCIDeviceClass, DARTPASS_PCI)

#define TYPE_VFIO_IOMMU_DARTPASS TYPE_VFIO_IOMMU "-dartpass"

/* The protocol numbers regions and interrupt types as VFIO's PCI indexes do. */
QEMU_BUILD_BUG_ON((int)PROV_REGION_BAR0 != (int)VFIO_PCI_BAR0_REGION_INDEX);
QEMU_BUILD_BUG_ON((int)PROV_REGION_ROM != (int)VFIO_PCI_ROM_REGION_INDEX);
QEMU_BUILD_BUG_ON((int)PROV_REGION_CONFIG != (int)VFIO_PCI_CONFIG_REGION_INDEX);
QEMU_BUILD_BUG_ON((int)PROV_IRQ_INTX != (int)VFIO_PCI_INTX_IRQ_INDEX);
QEMU_BUILD_BUG_ON((int)PROV_IRQ_MSI != (int)VFIO_PCI_MSI_IRQ_INDEX);
QEMU_BUILD_BUG_ON((int)PROV_IRQ_MSIX != (int)VFIO_PCI_MSIX_IRQ_INDEX);

struct DartpassPCIDevice {
    VFIOPCIDevice parent_obj;

    /* properties */
    DartpassProvider *provider;
    char *host;

    DartpassProvider *prov;     /* referenced from CLAIM to RELEASE */
    int fn;                     /* the function's handle; -1 while not claimed */
    bool lost;                  /* the provider is gone (reported once) */
    uint64_t region_size[PROV_REGION_COUNT];
    uint32_t region_flags[PROV_REGION_COUNT];
    uint32_t irq_count[PROV_IRQ_TYPES];
    /*
     * BAR0-5 and the ROM BAR as vfio reads them back: the host's addresses are the
     * provider's (its filter refuses these writes), so they are virtualized here as
     * the kernel's vfio-pci does; vfio sizes the ROM and clears the BARs through them.
     */
    uint32_t bar_cfg[PROV_REGION_ROM + 1];
    uint32_t bar_mask[PROV_REGION_ROM + 1];
    uint16_t decode;            /* Command bits the provider keeps set */
    EventNotifier sink;         /* signalled by vectors vfio routes nowhere */
    /* Without PROV_F_REGION_FD: each lent BAR mapped through its memory type. */
    void *bar_ptr[PROV_REGION_ROM];
    uint64_t bar_type[PROV_REGION_ROM];
    /*
     * With PROV_F_IRQ_PENDING: vectors 0..irq_enabled-1 of each type are enabled,
     * and irq_ev[type][v] is what vfio wants signalled for v (NULL: nothing).
     */
    EventNotifier **irq_ev[PROV_IRQ_TYPES];
    uint32_t irq_enabled[PROV_IRQ_TYPES];
    Notifier lost_notifier;     /* registered from CLAIM to RELEASE */
};

struct DartpassPCIDeviceClass {
    PCIDeviceClass parent_class;
    void (*parent_exit)(PCIDevice *pdev);
};

static DartpassPCIDevice *dartpass_pci_of(VFIODevice *vbasedev)
{
    return DARTPASS_PCI(container_of(vbasedev, VFIOPCIDevice, vbasedev));
}

static const char *dartpass_pci_name(DartpassPCIDevice *d)
{
    return VFIO_PCI_DEVICE(d)->vbasedev.name;
}

static void dartpass_pci_provider_lost(Notifier *n, void *opaque);

/* The inverse of the Linux provider's errno-to-status table. */
static int dartpass_pci_errno(int status)
{
    switch (status) {
    case PROV_S_OK:
        return 0;
    case PROV_S_INVALID:
        return -EINVAL;
    case PROV_S_BAD_ADDRESS:
        return -EFAULT;
    case PROV_S_UNSUPPORTED:
        return -ENOTSUP;
    case PROV_S_NO_MAPPINGS:
    case PROV_S_NO_BYTES:
    case PROV_S_NO_SPACE:
        return -ENOSPC;
    case PROV_S_NOT_FOUND:
        return -ENOENT;
    case PROV_S_NO_FUNCTION:
    case PROV_S_NOT_CLAIMED:
        return -ENODEV;
    case PROV_S_BUSY:
        return -EBUSY;
    case PROV_S_DENIED:
        return -EPERM;
    case PROV_S_BAD_FD:
        return -EBADF;
    default:
        return -EIO;
    }
}

/* One request about the claimed function; 0 or -errno. */
static int dartpass_pci_call(DartpassPCIDevice *d, uint16_t op, const void *req,
                             size_t req_len, const int *fds, unsigned int nfds,
                             void *rep, size_t rep_len, int *rep_fd)
{
    Error *err = NULL;
    int st;

    st = dartpass_provider_call(d->prov, op, d->fn, req, req_len, fds, nfds, rep,
                                rep_len, rep_fd, &err);
    if (st < 0) {
        /* The connection is dead for good: say so once, not at every access. */
        if (!d->lost) {
            error_reportf_err(err, VFIO_MSG_PREFIX, dartpass_pci_name(d));
            d->lost = true;
        } else {
            error_free(err);
        }
        return st;
    }
    if (st != PROV_S_OK) {
        trace_dartpass_pci_refused(dartpass_pci_name(d), op,
                                   dartpass_provider_status_name(st));
    }
    return dartpass_pci_errno(st);
}

/* The largest naturally aligned access at off, of at most max and len bytes. */
static uint32_t dartpass_pci_piece(uint64_t off, uint32_t len, uint32_t max)
{
    uint32_t n = max;

    while (n > len || (off & (n - 1))) {
        n >>= 1;
    }
    return n;
}

/* The virtualized BAR (0-5) or ROM BAR (6) register at config offset off, or -1. */
static int dartpass_pci_bar_reg(uint32_t off)
{
    if (off >= PCI_BASE_ADDRESS_0 && off < PCI_BASE_ADDRESS_5 + 4) {
        return (off - PCI_BASE_ADDRESS_0) / 4;
    }
    if (off >= PCI_ROM_ADDRESS && off < PCI_ROM_ADDRESS + 4) {
        return PROV_REGION_ROM;
    }
    return -1;
}

static int dartpass_pci_config_read(DartpassPCIDevice *d, uint32_t off,
                                    uint32_t size, uint32_t *val)
{
    struct prov_config_req req = {
        .offset = cpu_to_le32(off),
        .size = cpu_to_le32(size),
    };
    struct prov_config_rep rep;
    int bar = dartpass_pci_bar_reg(off);
    int ret;

    if (bar >= 0) {
        *val = extract32(d->bar_cfg[bar], (off & 3) * 8, size * 8);
        return 0;
    }
    ret = dartpass_pci_call(d, PROV_OP_CONFIG_READ, &req, sizeof(req), NULL, 0,
                            &rep, sizeof(rep), NULL);
    if (!ret) {
        *val = le32_to_cpu(rep.value);
    }
    return ret;
}

/*
 * vfio writes every guest config write through to the device and lets the kernel's
 * vfio-pci drop what it virtualizes (MSI and MSI-X control, BARs). The provider's
 * filter refuses such writes whole instead: a refused write is retried a byte at a
 * time, so the registers beside a protected one (as the latency timer beside the
 * header type) are still written, and a refused byte is dropped.
 */
static int dartpass_pci_config_write(DartpassPCIDevice *d, uint32_t off,
                                     uint32_t size, uint32_t val)
{
    struct prov_config_req req = {
        .offset = cpu_to_le32(off),
        .size = cpu_to_le32(size),
    };
    struct prov_config_rep rep;
    int bar = dartpass_pci_bar_reg(off);
    uint32_t i;
    int ret;

    if (bar >= 0) {
        uint32_t m = deposit32(0, (off & 3) * 8, size * 8, ~0u) & d->bar_mask[bar];

        d->bar_cfg[bar] = (d->bar_cfg[bar] & ~m) |
                          (deposit32(0, (off & 3) * 8, size * 8, val) & m);
        return 0;
    }
    /* Decode stays on (the filter's rule); the guest sees QEMU's emulated bits. */
    if (off == PCI_COMMAND) {
        val |= d->decode;
    }
    req.value = cpu_to_le32(val);
    ret = dartpass_pci_call(d, PROV_OP_CONFIG_WRITE, &req, sizeof(req), NULL, 0,
                            &rep, sizeof(rep), NULL);
    if (ret != -EPERM) {
        return ret;
    }
    if (size == 1) {
        trace_dartpass_pci_config_dropped(dartpass_pci_name(d), off, val);
        return 0;
    }
    for (i = 0; i < size; i++) {
        ret = dartpass_pci_config_write(d, off + i, 1, extract32(val, i * 8, 8));
        if (ret) {
            return ret;
        }
    }
    return 0;
}

static int dartpass_pci_region_access(DartpassPCIDevice *d, uint16_t op,
                                      uint8_t nr, uint64_t off, uint32_t size,
                                      uint64_t *val)
{
    struct prov_region_req req = {
        .region = cpu_to_le32(nr),
        .size = cpu_to_le32(size),
        .offset = cpu_to_le64(off),
        .value = cpu_to_le64(op == PROV_OP_REGION_WRITE ? *val : 0),
    };
    struct prov_region_rep rep;
    int ret;

    ret = dartpass_pci_call(d, op, &req, sizeof(req), NULL, 0, &rep, sizeof(rep),
                            NULL);
    if (!ret && op == PROV_OP_REGION_READ) {
        *val = le64_to_cpu(rep.value);
    }
    return ret;
}

/*
 * VFIODeviceIOOps over the provider. Buffers are little-endian as VFIO's; accesses
 * are split into the naturally aligned pieces the protocol takes (config space: up
 * to 4 bytes, other regions up to 8), since vfio reads config space and the ROM in
 * one call each.
 */
static int dartpass_pci_io_region_read(VFIODevice *vbasedev, uint8_t nr, off_t off,
                                       uint32_t size, void *data)
{
    DartpassPCIDevice *d = dartpass_pci_of(vbasedev);
    bool config = nr == VFIO_PCI_CONFIG_REGION_INDEX;
    uint32_t done, n;
    int ret;

    if (nr >= PROV_REGION_COUNT) {
        return -EINVAL;
    }
    for (done = 0; done < size; done += n) {
        uint64_t val;

        n = dartpass_pci_piece(off + done, size - done, config ? 4 : 8);
        if (config) {
            uint32_t v;

            ret = dartpass_pci_config_read(d, off + done, n, &v);
            val = v;
        } else {
            ret = dartpass_pci_region_access(d, PROV_OP_REGION_READ, nr, off + done,
                                             n, &val);
        }
        if (ret) {
            return ret;
        }
        stn_le_p((uint8_t *)data + done, n, val);
    }
    return size;
}

static int dartpass_pci_io_region_write(VFIODevice *vbasedev, uint8_t nr, off_t off,
                                        uint32_t size, void *data, bool post)
{
    DartpassPCIDevice *d = dartpass_pci_of(vbasedev);
    bool config = nr == VFIO_PCI_CONFIG_REGION_INDEX;
    uint32_t done, n;
    int ret;

    if (nr >= PROV_REGION_COUNT) {
        return -EINVAL;
    }
    /* Every write waits for its reply: the provider answers in order anyway. */
    for (done = 0; done < size; done += n) {
        uint64_t val;

        n = dartpass_pci_piece(off + done, size - done, config ? 4 : 8);
        val = ldn_le_p((uint8_t *)data + done, n);
        if (config) {
            ret = dartpass_pci_config_write(d, off + done, n, val);
        } else {
            ret = dartpass_pci_region_access(d, PROV_OP_REGION_WRITE, nr, off + done,
                                             n, &val);
        }
        if (ret) {
            return ret;
        }
    }
    return size;
}

/*
 * A BAR lent as a memory type (IOKit): mapped here, and given to vfio's region once
 * it exists (dartpass_pci_install_bars). A BAR that cannot be mapped is reached
 * through region_read/write.
 */
static void dartpass_pci_map_bar(DartpassPCIDevice *d, uint32_t nr, uint64_t size)
{
    struct prov_region_map_req req = { .region = cpu_to_le32(nr) };
    struct prov_region_map_rep rep;
    Error *err = NULL;

    if (d->bar_ptr[nr] ||
        dartpass_pci_call(d, PROV_OP_REGION_MAP, &req, sizeof(req), NULL, 0, &rep,
                          sizeof(rep), NULL) ||
        le64_to_cpu(rep.size) != size) {
        return;
    }
    d->bar_type[nr] = le64_to_cpu(rep.offset);
    d->bar_ptr[nr] = dartpass_provider_map(d->prov, d->bar_type[nr], size,
                                           d->region_flags[nr] & PROV_REGION_PREFETCH,
                                           &err);
    if (!d->bar_ptr[nr]) {
        warn_reportf_err(err, VFIO_MSG_PREFIX "BAR%u goes through the provider's"
                         " messages: ", dartpass_pci_name(d), nr);
        return;
    }
    trace_dartpass_pci_region_ptr(dartpass_pci_name(d), nr, size, d->bar_type[nr],
                                  d->bar_ptr[nr]);
}

/*
 * vfio's regions map only descriptors (vfio_region_mmap). A BAR mapped through its
 * memory type becomes the region's one mmap here as vfio would make it, so that
 * vfio's own code enables and disables it (INTx EOI detection) and removes it at
 * exit; dartpass_pci_unmap_bars takes the pointer back before vfio would munmap it.
 */
static void dartpass_pci_install_bars(DartpassPCIDevice *d)
{
    VFIOPCIDevice *vdev = VFIO_PCI_DEVICE(d);
    int nr;

    for (nr = 0; nr < PROV_REGION_ROM; nr++) {
        VFIORegion *region = &vdev->bars[nr].region;
        g_autofree char *name = NULL;

        if (!d->bar_ptr[nr] || !region->mem || region->nr_mmaps) {
            continue;
        }
        region->mmaps = g_new0(VFIOMmap, 1);
        region->nr_mmaps = 1;
        region->mmaps[0].size = region->size;
        region->mmaps[0].mmap = d->bar_ptr[nr];
        name = g_strdup_printf("%s mmaps[0]", memory_region_name(region->mem));
        memory_region_init_ram_device_ptr(&region->mmaps[0].mem,
                                          memory_region_owner(region->mem), name,
                                          region->size, d->bar_ptr[nr]);
        memory_region_add_subregion(region->mem, 0, &region->mmaps[0].mem);
    }
}

static void dartpass_pci_unmap_bars(DartpassPCIDevice *d)
{
    VFIOPCIDevice *vdev = VFIO_PCI_DEVICE(d);
    int nr;

    for (nr = 0; nr < PROV_REGION_ROM; nr++) {
        VFIORegion *region = &vdev->bars[nr].region;

        if (!d->bar_ptr[nr]) {
            continue;
        }
        if (region->nr_mmaps && region->mmaps[0].mmap == d->bar_ptr[nr]) {
            region->mmaps[0].mmap = NULL;
        }
        dartpass_provider_unmap(d->prov, d->bar_type[nr], d->bar_ptr[nr],
                                d->region_size[nr]);
        d->bar_ptr[nr] = NULL;
    }
}

/*
 * Regions come from the CLAIM. A BAR the provider lends (MMAP) is shared with
 * REGION_MAP, whose descriptor vfio mmaps at the reply's offset (use_region_fds);
 * any other, or one REGION_MAP refuses, is reached through region_read/write.
 */
static int dartpass_pci_io_get_region_info(VFIODevice *vbasedev,
                                           struct vfio_region_info *info, int *fd)
{
    DartpassPCIDevice *d = dartpass_pci_of(vbasedev);
    uint32_t nr = info->index, flags;
    struct prov_region_map_req req = { .region = cpu_to_le32(nr) };
    struct prov_region_map_rep rep;
    int ret;

    *fd = -1;
    if (nr >= PROV_REGION_COUNT) {
        return -EINVAL;
    }
    flags = d->region_flags[nr];
    info->size = d->region_size[nr];
    info->offset = 0;
    info->cap_offset = 0;
    info->flags = (flags & PROV_REGION_READ ? VFIO_REGION_INFO_FLAG_READ : 0) |
                  (flags & PROV_REGION_WRITE ? VFIO_REGION_INFO_FLAG_WRITE : 0);
    if (!(flags & PROV_REGION_MMAP)) {
        return 0;
    }
    if (!(dartpass_provider_features(d->prov) & PROV_F_REGION_FD)) {
        if (nr < PROV_REGION_ROM) {
            dartpass_pci_map_bar(d, nr, info->size);
        }
        return 0;
    }
    ret = dartpass_pci_call(d, PROV_OP_REGION_MAP, &req, sizeof(req), NULL, 0, &rep,
                            sizeof(rep), fd);
    if (ret || *fd < 0 || le64_to_cpu(rep.size) != info->size) {
        if (*fd >= 0) {
            close(*fd);
            *fd = -1;
        }
        return 0;
    }
    info->offset = le64_to_cpu(rep.offset);
    info->flags |= VFIO_REGION_INFO_FLAG_MMAP;
    trace_dartpass_pci_region_map(dartpass_pci_name(d), nr, info->size, info->offset);
    return 0;
}

static int dartpass_pci_io_get_irq_info(VFIODevice *vbasedev,
                                        struct vfio_irq_info *info)
{
    DartpassPCIDevice *d = dartpass_pci_of(vbasedev);

    if (info->index >= PROV_IRQ_TYPES) {
        return -EINVAL;
    }
    info->count = d->irq_count[info->index];
    info->flags = VFIO_IRQ_INFO_EVENTFD;
    if (info->index == VFIO_PCI_INTX_IRQ_INDEX) {
        info->flags |= VFIO_IRQ_INFO_MASKABLE | VFIO_IRQ_INFO_AUTOMASKED;
    } else {
        /*
         * Before Linux 6.5 VFIO cannot add vectors to enabled ones: vfio then
         * disables and routes the whole range again as it grows.
         */
        info->flags |= VFIO_IRQ_INFO_NORESIZE;
    }
    return 0;
}

static int dartpass_pci_irq_action(DartpassPCIDevice *d, uint32_t type,
                                   uint32_t action, uint32_t start, uint32_t count,
                                   const int *fds)
{
    struct prov_irq_req req = {
        .type = cpu_to_le32(type),
        .action = cpu_to_le32(action),
        .start = cpu_to_le32(start),
        .count = cpu_to_le32(count),
    };

    return dartpass_pci_call(d, PROV_OP_IRQ_SET, &req, sizeof(req), fds,
                             action == PROV_IRQ_EVENTFD ? count : 0, NULL, 0, NULL);
}

/*
 * Routes vectors start.. to eventfds. VFIO takes -1 for a vector enabled but left
 * unsignalled (vfio enables MSI-X with no vector in use so, as the guest's view
 * has it); the protocol routes each vector it enables to a descriptor, and must
 * get a range in one message (Linux before 6.5), so such vectors signal a sink
 * nobody reads.
 */
static int dartpass_pci_irq_eventfds(DartpassPCIDevice *d, uint32_t type,
                                     uint32_t start, uint32_t count,
                                     const int32_t *fds)
{
    g_autofree int *v = g_new(int, count);
    uint32_t i, n;
    int ret;

    for (i = 0; i < count; i++) {
        if (fds[i] < 0 && !d->sink.initialized) {
            ret = event_notifier_init(&d->sink, 0);
            if (ret) {
                return ret;
            }
        }
        v[i] = fds[i] >= 0 ? fds[i] : event_notifier_get_fd(&d->sink);
    }
    for (i = 0; i < count; i += n) {
        n = MIN(count - i, PROV_MAX_FDS);
        ret = dartpass_pci_irq_action(d, type, PROV_IRQ_EVENTFD, start + i, n, v + i);
        if (ret) {
            return ret;
        }
    }
    return 0;
}

/*
 * The notifier vfio-pci passed as fd for vector v: its own (QEMU delivers the
 * interrupt) or KVM's irqfd. NULL for -1 (enabled, routed nowhere); ERR for a
 * descriptor that is neither.
 */
static EventNotifier *dartpass_pci_notifier(DartpassPCIDevice *d, uint32_t type,
                                            uint32_t v, int32_t fd, bool *err)
{
    VFIOPCIDevice *vdev = VFIO_PCI_DEVICE(d);
    EventNotifier *cand[2] = { NULL, NULL };
    int i;

    if (fd < 0) {
        return NULL;
    }
    if (type == PROV_IRQ_INTX) {
        cand[0] = &vdev->intx.interrupt;
    } else if (vdev->msi_vectors && v < vdev->nr_vectors) {
        cand[0] = &vdev->msi_vectors[v].interrupt;
        cand[1] = &vdev->msi_vectors[v].kvm_interrupt;
    }
    for (i = 0; i < 2; i++) {
        if (cand[i] && cand[i]->initialized && event_notifier_get_fd(cand[i]) == fd) {
            return cand[i];
        }
    }
    *err = true;
    return NULL;
}

/*
 * PROV_F_IRQ_PENDING: vectors start.. are enabled (ENABLE) and, when they fire,
 * signal the notifiers vfio gave; vfio enables a range whole (NORESIZE), so the
 * table of a type is replaced, not merged.
 */
static int dartpass_pci_irq_enable(DartpassPCIDevice *d, uint32_t type,
                                   uint32_t start, uint32_t count,
                                   const int32_t *fds)
{
    g_autofree EventNotifier **ev = g_new0(EventNotifier *, d->irq_count[type]);
    bool bad = false;
    uint32_t i;
    int ret;

    if ((uint64_t)start + count > d->irq_count[type]) {
        return -EINVAL;
    }
    if (d->irq_ev[type]) {
        memcpy(ev, d->irq_ev[type], d->irq_enabled[type] * sizeof(*ev));
    }
    for (i = 0; i < count; i++) {
        ev[start + i] = dartpass_pci_notifier(d, type, start + i, fds[i], &bad);
    }
    if (bad) {
        return -EINVAL;
    }
    ret = dartpass_pci_irq_action(d, type, PROV_IRQ_ENABLE, start, count, NULL);
    if (ret) {
        return ret;
    }
    g_free(d->irq_ev[type]);
    d->irq_ev[type] = g_steal_pointer(&ev);
    d->irq_enabled[type] = MAX(d->irq_enabled[type], start + count);
    return 0;
}

static int dartpass_pci_irq_disable(DartpassPCIDevice *d, uint32_t type)
{
    g_free(d->irq_ev[type]);
    d->irq_ev[type] = NULL;
    d->irq_enabled[type] = 0;
    return dartpass_pci_irq_action(d, type, PROV_IRQ_DISABLE, 0, 0, NULL);
}

/* The provider notified: read and clear this function's bits, signal what fired. */
static void dartpass_pci_irq_pending(void *opaque)
{
    DartpassPCIDevice *d = opaque;
    uint32_t type, start, i;

    for (type = 0; type < PROV_IRQ_TYPES; type++) {
        for (start = 0; start < d->irq_enabled[type]; start += 64) {
            struct prov_irq_req req = {
                .type = cpu_to_le32(type),
                .start = cpu_to_le32(start),
                .count = cpu_to_le32(MIN(64, d->irq_enabled[type] - start)),
            };
            struct prov_irq_pending_rep rep;
            uint64_t bits;

            if (dartpass_pci_call(d, PROV_OP_IRQ_PENDING, &req, sizeof(req), NULL, 0,
                                  &rep, sizeof(rep), NULL)) {
                return;
            }
            bits = le64_to_cpu(rep.bits);
            if (bits) {
                trace_dartpass_pci_irq_pending(dartpass_pci_name(d), type, start, bits);
            }
            for (i = 0; bits; i++, bits >>= 1) {
                /* irq_ev may have changed under a handler: check each time. */
                if ((bits & 1) && start + i < d->irq_enabled[type] &&
                    d->irq_ev[type][start + i]) {
                    event_notifier_set(d->irq_ev[type][start + i]);
                }
            }
        }
    }
}

static int dartpass_pci_io_set_irqs(VFIODevice *vbasedev, struct vfio_irq_set *irq)
{
    DartpassPCIDevice *d = dartpass_pci_of(vbasedev);
    uint32_t data = irq->flags & VFIO_IRQ_SET_DATA_TYPE_MASK;
    bool pending = dartpass_provider_features(d->prov) & PROV_F_IRQ_PENDING;

    if (irq->index >= PROV_IRQ_TYPES) {
        return -EINVAL;
    }
    switch (irq->flags & VFIO_IRQ_SET_ACTION_TYPE_MASK) {
    case VFIO_IRQ_SET_ACTION_TRIGGER:
        if (!irq->count && (data == VFIO_IRQ_SET_DATA_NONE ||
                            data == VFIO_IRQ_SET_DATA_EVENTFD)) {
            return dartpass_pci_irq_disable(d, irq->index);
        }
        if (data != VFIO_IRQ_SET_DATA_EVENTFD ||
            irq->argsz < sizeof(*irq) + (uint64_t)irq->count * sizeof(int32_t)) {
            return -EINVAL;
        }
        if (pending) {
            return dartpass_pci_irq_enable(d, irq->index, irq->start, irq->count,
                                           (const int32_t *)irq->data);
        }
        return dartpass_pci_irq_eventfds(d, irq->index, irq->start, irq->count,
                                         (const int32_t *)irq->data);
    case VFIO_IRQ_SET_ACTION_MASK:
    case VFIO_IRQ_SET_ACTION_UNMASK:
        /* An unmask eventfd (KVM's resampler) has no protocol equivalent. */
        if (data != VFIO_IRQ_SET_DATA_NONE) {
            return -ENOTSUP;
        }
        if (irq->index != VFIO_PCI_INTX_IRQ_INDEX) {
            return -EINVAL;
        }
        return dartpass_pci_irq_action(d, PROV_IRQ_INTX,
                                       irq->flags & VFIO_IRQ_SET_ACTION_MASK ?
                                       PROV_IRQ_MASK : PROV_IRQ_UNMASK, 0, 1, NULL);
    default:
        return -EINVAL;
    }
}

/* No migration or dirty-tracking features: the provider has none. */
static int dartpass_pci_io_device_feature(VFIODevice *vbasedev,
                                          struct vfio_device_feature *feat)
{
    return -ENOTTY;
}

static VFIODeviceIOOps dartpass_pci_io_ops = {
    .device_feature = dartpass_pci_io_device_feature,
    .get_region_info = dartpass_pci_io_get_region_info,
    .get_irq_info = dartpass_pci_io_get_irq_info,
    .set_irqs = dartpass_pci_io_set_irqs,
    .region_read = dartpass_pci_io_region_read,
    .region_write = dartpass_pci_io_region_write,
};

/*
 * The container. vfio's own (and vfio-user's) registers a memory listener that maps
 * all of guest RAM into the device's IOMMU domain. Here the provider chooses every
 * bus address and maps only what the guest asks for through pvdma, so the container
 * registers no listener: it only ties the device into vfio's address-space
 * bookkeeping, and vfio's core never reaches dma_map or dma_unmap, left unset.
 */
static bool dartpass_iommu_attach_device(const char *name, VFIODevice *vbasedev,
                                         AddressSpace *as, Error **errp)
{
    struct vfio_device_info info = {
        .argsz = sizeof(info),
        .flags = VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET,
        .num_regions = PROV_REGION_COUNT,
        .num_irqs = PROV_IRQ_TYPES,
    };
    VFIOAddressSpace *space;
    VFIOContainer *bcontainer;
    int ret;

    /* Pages the provider's IOMMU holds must not be discarded behind its back. */
    ret = ram_block_uncoordinated_discard_disable(true);
    if (ret) {
        error_setg_errno(errp, -ret, "cannot set discarding of RAM broken");
        return false;
    }
    space = vfio_address_space_get(as);
    bcontainer = VFIO_IOMMU(object_new(TYPE_VFIO_IOMMU_DARTPASS));
    bcontainer->pgsizes = qemu_real_host_page_size();
    vfio_address_space_insert(space, bcontainer);
    bcontainer->initialized = true;
    vfio_device_prepare(vbasedev, bcontainer, &info);
    return true;
}

static void dartpass_iommu_detach_device(VFIODevice *vbasedev)
{
    VFIOContainer *bcontainer = vbasedev->bcontainer;
    VFIOAddressSpace *space = bcontainer->space;

    vfio_device_unprepare(vbasedev);
    object_unref(bcontainer);
    vfio_address_space_put(space);
    ram_block_uncoordinated_discard_disable(false);
}

static void dartpass_iommu_class_init(ObjectClass *klass, const void *data)
{
    VFIOIOMMUClass *vioc = VFIO_IOMMU_CLASS(klass);

    vioc->attach_device = dartpass_iommu_attach_device;
    vioc->detach_device = dartpass_iommu_detach_device;
}

/* The device */

/* vfio's host bus reset is not ours to do: RESET resets the function. */
static void dartpass_pci_compute_needs_reset(VFIODevice *vbasedev)
{
    vbasedev->needs_reset = false;
}

static Object *dartpass_pci_get_object(VFIODevice *vbasedev)
{
    return OBJECT(dartpass_pci_of(vbasedev));
}

static VFIODeviceOps dartpass_pci_vfio_ops = {
    .vfio_compute_needs_reset = dartpass_pci_compute_needs_reset,
    .vfio_eoi = vfio_pci_intx_eoi,
    .vfio_get_object = dartpass_pci_get_object,
};

static bool dartpass_pci_claim(DartpassPCIDevice *d, int fn, Error **errp)
{
    const char *name = dartpass_pci_name(d);
    struct prov_claim_rep rep;
    Error *err = NULL;
    int st, i;

    st = dartpass_provider_call(d->provider, PROV_OP_CLAIM, fn, NULL, 0, NULL, 0,
                                &rep, sizeof(rep), NULL, &err);
    trace_dartpass_pci_claim(name, fn, st);
    switch (st) {
    case PROV_S_OK:
        break;
    case PROV_S_BUSY:
        error_setg(errp, "host function %s is claimed by another client"
                   " (provider: BUSY)", name);
        return false;
    case PROV_S_NO_FUNCTION:
        error_setg(errp, "host function %s is not offered by the provider"
                   " (provider: NO_FUNCTION)", name);
        return false;
    case PROV_S_DENIED:
        error_setg(errp, "host function %s is not an endpoint and cannot be lent"
                   " (provider: DENIED)", name);
        return false;
    default:
        if (st < 0) {
            error_propagate_prepend(errp, err, "cannot claim host function %s: ",
                                    name);
        } else {
            error_setg(errp, "cannot claim host function %s (provider: %s)", name,
                       dartpass_provider_status_name(st));
        }
        return false;
    }
    d->prov = DARTPASS_PROVIDER(object_ref(OBJECT(d->provider)));
    d->fn = fn;
    d->lost_notifier.notify = dartpass_pci_provider_lost;
    dartpass_provider_add_lost_notifier(d->prov, &d->lost_notifier);

    for (i = 0; i < PROV_REGION_COUNT; i++) {
        d->region_size[i] = le64_to_cpu(rep.regions[i].size);
        d->region_flags[i] = le32_to_cpu(rep.regions[i].flags);
    }
    for (i = 0; i < PROV_IRQ_TYPES; i++) {
        d->irq_count[i] = le32_to_cpu(rep.irqs[i].count);
    }

    d->decode = PCI_COMMAND_MEMORY;
    for (i = 0; i < PROV_REGION_ROM; i++) {
        uint64_t size = d->region_size[i];
        uint32_t flags = d->region_flags[i];

        if (!size) {
            continue;
        }
        if (flags & PROV_REGION_IO) {
            d->decode |= PCI_COMMAND_IO;
            d->bar_cfg[i] = PCI_BASE_ADDRESS_SPACE_IO;
            d->bar_mask[i] = ~(size - 1) & PCI_BASE_ADDRESS_IO_MASK;
            continue;
        }
        d->bar_cfg[i] = (flags & PROV_REGION_MEM64 ? PCI_BASE_ADDRESS_MEM_TYPE_64 : 0) |
                        (flags & PROV_REGION_PREFETCH ?
                         PCI_BASE_ADDRESS_MEM_PREFETCH : 0);
        d->bar_mask[i] = ~(size - 1) & PCI_BASE_ADDRESS_MEM_MASK;
        if ((flags & PROV_REGION_MEM64) && i + 1 < PROV_REGION_ROM) {
            d->bar_mask[i + 1] = ~(size - 1) >> 32;
        }
    }
    if (d->region_size[PROV_REGION_ROM]) {
        d->bar_mask[PROV_REGION_ROM] = (~(d->region_size[PROV_REGION_ROM] - 1) &
                                        PCI_ROM_ADDRESS_MASK) | PCI_ROM_ADDRESS_ENABLE;
    }
    return true;
}

/*
 * The provider is gone, and released the function when the connection ended; a
 * restarted provider lends it to no one while a process still holds its BAR files (a
 * descriptor or a mapping), and this QEMU may stay up for long. Take them back at
 * once: each BAR mapping becomes anonymous memory in place (the guest's accesses reach
 * nothing, and the munmap at exit still finds a mapping), each BAR descriptor vfio
 * keeps becomes /dev/null (vfio closes it at exit as before).
 */
static void dartpass_pci_provider_lost(Notifier *n, void *opaque)
{
    DartpassPCIDevice *d = container_of(n, DartpassPCIDevice, lost_notifier);
    VFIOPCIDevice *vdev = VFIO_PCI_DEVICE(d);
    VFIODevice *vbasedev = &vdev->vbasedev;
    int nr, i, null;

    for (nr = 0; nr < PROV_REGION_ROM; nr++) {
        VFIORegion *region = &vdev->bars[nr].region;

        for (i = 0; i < region->nr_mmaps; i++) {
            if (region->mmaps[i].mmap && region->mmaps[i].mmap != MAP_FAILED) {
                mmap(region->mmaps[i].mmap, region->mmaps[i].size,
                     PROT_READ | PROT_WRITE, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS,
                     -1, 0);
            }
        }
        if (d->bar_ptr[nr] &&
            !(region->nr_mmaps && region->mmaps[0].mmap == d->bar_ptr[nr])) {
            mmap(d->bar_ptr[nr], d->region_size[nr], PROT_READ | PROT_WRITE,
                 MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        }
    }
    null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0 && vbasedev->region_fds) {
        for (i = 0; i < vbasedev->num_initial_regions; i++) {
            if (vbasedev->region_fds[i] >= 0) {
                /* dup2, not dup3: macOS has no dup3. */
                if (dup2(null, vbasedev->region_fds[i]) >= 0) {
                    qemu_set_cloexec(vbasedev->region_fds[i]);
                }
            }
        }
    }
    if (null >= 0) {
        close(null);
    }
    trace_dartpass_pci_release(d->fn, -EPIPE);
}

static void dartpass_pci_release(DartpassPCIDevice *d)
{
    Error *err = NULL;
    int st;

    if (d->fn < 0) {
        return;
    }
    notifier_remove(&d->lost_notifier);
    /* A provider that is gone released the function when the connection ended. */
    st = dartpass_provider_call(d->prov, PROV_OP_RELEASE, d->fn, NULL, 0, NULL, 0,
                                NULL, 0, NULL, &err);
    trace_dartpass_pci_release(d->fn, st);
    error_free(err);
    object_unref(OBJECT(d->prov));
    d->prov = NULL;
    d->fn = -1;
}

static void dartpass_pci_realize(PCIDevice *pdev, Error **errp)
{
    ERRP_GUARD();
    DartpassPCIDevice *d = DARTPASS_PCI(pdev);
    VFIOPCIDevice *vdev = VFIO_PCI_DEVICE(pdev);
    VFIODevice *vbasedev = &vdev->vbasedev;
    uint32_t rid;
    int fn;

    if (!d->provider) {
        error_setg(errp, "dartpass-pci needs a provider");
        error_append_hint(errp, "-object dartpass-provider,id=prov0,socket=PATH"
                          " -device dartpass-pci,provider=prov0,host=DDDD:BB:DD.F\n");
        return;
    }
    if (!d->host) {
        error_setg(errp, "dartpass-pci needs the host function (host=DDDD:BB:DD.F)");
        return;
    }
    if (!dartpass_provider_alive(d->provider)) {
        error_setg(errp, "provider %s is gone",
                   object_get_canonical_path_component(OBJECT(d->provider)));
        return;
    }
    fn = dartpass_provider_find(d->provider, d->host, errp);
    if (fn < 0) {
        return;
    }
    rid = le32_to_cpu(dartpass_provider_hello(d->provider)->fns[fn].rid);
    vbasedev->name = g_strdup_printf("%04x:%02x:%02x.%x", rid >> 16,
                                     (rid >> 8) & 0xff, PCI_SLOT(rid & 0xff),
                                     PCI_FUNC(rid & 0xff));
    if (!dartpass_pci_claim(d, fn, errp)) {
        return;
    }

    vbasedev->io_ops = &dartpass_pci_io_ops;
    /* As for vfio-user: no host IOMMU device for QEMU to manage. */
    vbasedev->mdev = true;
    vbasedev->use_region_fds = true;
    if (!vfio_device_attach_by_iommu_type(TYPE_VFIO_IOMMU_DARTPASS, vbasedev->name,
                                          vbasedev,
                                          pci_device_iommu_address_space(pdev),
                                          errp)) {
        goto error;
    }
    if (dartpass_provider_features(d->prov) & PROV_F_IRQ_PENDING) {
        dartpass_provider_add_pending_listener(d->prov, dartpass_pci_irq_pending, d);
    }
    if (!vfio_pci_populate_device(vdev, errp) ||
        !vfio_pci_config_setup(vdev, errp)) {
        goto error;
    }
    dartpass_pci_install_bars(d);
    /* The provider keeps decode on; the guest sees the bits it wrote. */
    vdev->emulated_config_bits[PCI_COMMAND] |= PCI_COMMAND_IO | PCI_COMMAND_MEMORY;
    /* A provider without INTx (macOS) lends no pin whatever config space says. */
    if (!d->irq_count[PROV_IRQ_INTX]) {
        vdev->emulated_config_bits[PCI_INTERRUPT_PIN] = 0xff;
        pdev->config[PCI_INTERRUPT_PIN] = 0;
    }
    /* Errors from here on must undo the BARs vfio_pci_config_setup registered. */
    if (!vfio_pci_add_capabilities(vdev, errp) ||
        !vfio_pci_interrupt_setup(vdev, errp)) {
        goto out_teardown;
    }
    dartpass_provider_add_function(d->prov, pdev);
    return;

out_teardown:
    vfio_pci_teardown_msi(vdev);
    vfio_pci_bars_exit(vdev);
error:
    error_prepend(errp, VFIO_MSG_PREFIX, vbasedev->name);
}

static void dartpass_pci_exit(PCIDevice *pdev)
{
    DartpassPCIDevice *d = DARTPASS_PCI(pdev);

    dartpass_provider_del_function(d->prov, pdev);
    DARTPASS_PCI_GET_CLASS(d)->parent_exit(pdev);
    dartpass_provider_del_pending_listener(d->prov, dartpass_pci_irq_pending, d);
}

static void dartpass_pci_reset(DeviceState *dev)
{
    DartpassPCIDevice *d = DARTPASS_PCI(dev);
    VFIOPCIDevice *vdev = VFIO_PCI_DEVICE(dev);
    struct prov_reset_rep rep;
    int ret;

    vfio_pci_pre_reset(vdev);
    ret = dartpass_pci_call(d, PROV_OP_RESET, NULL, 0, NULL, 0, &rep, sizeof(rep),
                            NULL);
    trace_dartpass_pci_reset(dartpass_pci_name(d), ret,
                             ret ? 0 : le32_to_cpu(rep.method));
    vfio_pci_post_reset(vdev);
}

static void dartpass_pci_init(Object *obj)
{
    PCIDevice *pdev = PCI_DEVICE(obj);
    VFIOPCIDevice *vdev = VFIO_PCI_DEVICE(obj);
    DartpassPCIDevice *d = DARTPASS_PCI(obj);

    device_add_bootindex_property(obj, &vdev->bootindex, "bootindex", NULL,
                                  &pdev->qdev);
    vfio_device_init(&vdev->vbasedev, VFIO_DEVICE_TYPE_PCI, &dartpass_pci_vfio_ops,
                     DEVICE(vdev), false);
    /*
     * INTx ends through QEMU: no resample eventfd crosses the socket. vfio-pci's
     * default timeout then traps BAR accesses after an interrupt to see its EOI.
     */
    vdev->no_kvm_intx = true;
    vdev->intx.mmap_timeout = 1100;
    /* The host function's own IDs, and no GPUDirect capability. */
    vdev->vendor_id = vdev->device_id = PCI_ANY_ID;
    vdev->sub_vendor_id = vdev->sub_device_id = PCI_ANY_ID;
    vdev->class_code = PCI_ANY_ID;
    vdev->nv_gpudirect_clique = 0xff;
    /* Set before realize, as vfio-pci does; a 256-byte config space clears it. */
    pdev->cap_present |= QEMU_PCI_CAP_EXPRESS;
    d->fn = -1;
}

static void dartpass_pci_finalize(Object *obj)
{
    DartpassPCIDevice *d = DARTPASS_PCI(obj);
    int i;

    /* Unmap and close the lent BARs first: a descriptor kept makes CLAIMs BUSY. */
    if (d->prov) {
        dartpass_pci_unmap_bars(d);
    }
    vfio_pci_put_device(VFIO_PCI_DEVICE(obj));
    if (d->prov) {
        dartpass_provider_del_pending_listener(d->prov, dartpass_pci_irq_pending, d);
    }
    dartpass_pci_release(d);
    event_notifier_cleanup(&d->sink);
    for (i = 0; i < PROV_IRQ_TYPES; i++) {
        g_free(d->irq_ev[i]);
    }
}

/* The function's state lives in the host's hardware. */
static const VMStateDescription vmstate_dartpass_pci = {
    .name = TYPE_DARTPASS_PCI,
    .unmigratable = 1,
};

static const Property dartpass_pci_properties[] = {
    DEFINE_PROP_LINK("provider", DartpassPCIDevice, provider, TYPE_DARTPASS_PROVIDER,
                     DartpassProvider *),
    DEFINE_PROP_STRING("host", DartpassPCIDevice, host),
};

static void dartpass_pci_class_init(ObjectClass *klass, const void *data)
{
    DeviceClass *dc = DEVICE_CLASS(klass);
    PCIDeviceClass *pdc = PCI_DEVICE_CLASS(klass);
    DartpassPCIDeviceClass *dpc = DARTPASS_PCI_CLASS(klass);

    device_class_set_legacy_reset(dc, dartpass_pci_reset);
    device_class_set_props(dc, dartpass_pci_properties);
    object_class_property_set_description(klass, "provider",
                                          "dartpass-provider object lending the"
                                          " function");
    object_class_property_set_description(klass, "host",
                                          "host function [dddd:]bb:dd.f as the"
                                          " provider lists it");
    dc->vmsd = &vmstate_dartpass_pci;
    dc->desc = "PCI function lent by a dartpass provider";
    pdc->realize = dartpass_pci_realize;
    dpc->parent_exit = pdc->exit;
    pdc->exit = dartpass_pci_exit;
}

static const TypeInfo dartpass_pci_types[] = {
    {
        .name = TYPE_DARTPASS_PCI,
        .parent = TYPE_VFIO_PCI_DEVICE,
        .instance_size = sizeof(DartpassPCIDevice),
        .instance_init = dartpass_pci_init,
        .instance_finalize = dartpass_pci_finalize,
        .class_size = sizeof(DartpassPCIDeviceClass),
        .class_init = dartpass_pci_class_init,
    },
    {
        .name = TYPE_VFIO_IOMMU_DARTPASS,
        .parent = TYPE_VFIO_IOMMU,
        .instance_size = sizeof(VFIOContainer),
        .class_init = dartpass_iommu_class_init,
    },
};

DEFINE_TYPES(dartpass_pci_types)
