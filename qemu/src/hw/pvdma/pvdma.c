/*
 * pvdma: paravirtual DMA mapping device (see docs/specs/pvdma.rst)
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qemu/lockable.h"
#include "qemu/log.h"
#include "qemu/module.h"
#include "qemu/units.h"
#include "qapi/error.h"
#include "qapi/visitor.h"
#include "hw/qdev-properties.h"
#include "migration/blocker.h"
#include "monitor/hmp.h"
#include "monitor/monitor.h"
#include "qemu/accel.h"
#include "qemu/target-info.h"
#include "system/hvf.h"
#include "system/memory.h"
#include "system/tcg.h"
#include "system/reset.h"
#include "pvdma.h"
#include "dp_dart.h"
#include "trace.h"

/*
 * True when [addr, addr + len) is entirely guest RAM: never MMIO, ROM, or a RAM-backed
 * BAR of another device (ram_device), so neither a batch nor a mapping can reach them.
 */
static bool pvdma_range_is_ram(uint64_t addr, uint64_t len)
{
    bool ok = true;

    if (!len || addr + len < addr) {
        return false;
    }
    RCU_READ_LOCK_GUARD();
    while (len) {
        hwaddr xlat, l = len;
        MemoryRegion *mr = address_space_translate(&address_space_memory, addr,
                                                   &xlat, &l, true,
                                                   MEMTXATTRS_UNSPECIFIED);

        if (!memory_region_is_ram(mr) || memory_region_is_rom(mr) ||
            memory_region_is_romd(mr) || memory_region_is_ram_device(mr) || !l) {
            ok = false;
            break;
        }
        addr += l;
        len -= l;
    }
    return ok;
}

static int pvdma_refuse(PVDMAState *s, int status)
{
    s->refused[status]++;
    return status;
}

/*
 * The rules every entry meets before any backend sees it: well formed, and a MAP's
 * range entirely guest RAM. Returns the entry's status.
 */
static int pvdma_check_req(PVDMAState *s, const struct pvdma_req *r)
{
    uint64_t gpa = le64_to_cpu(r->gpa);
    uint32_t len = le32_to_cpu(r->len);
    int st = dp_req_check(r->op, r->flags, gpa, len, le64_to_cpu(r->iova),
                          le32_to_cpu(r->mapped), le32_to_cpu(r->reserved));

    if (st) {
        qemu_log_mask(LOG_GUEST_ERROR, "pvdma: %s entry (op %u, flags 0x%x, gpa 0x%"
                      PRIx64 ", len 0x%x): %s\n", st == PVDMA_S_UNSUPPORTED ?
                      "unknown" : "malformed", r->op, r->flags, gpa, len,
                      st == PVDMA_S_UNSUPPORTED ? "unknown op" :
                      "bad flags or length, or a reserved or output field set");
        return pvdma_refuse(s, st);
    }
    if (r->op == PVDMA_OP_MAP && !pvdma_range_is_ram(gpa, len)) {
        qemu_log_mask(LOG_GUEST_ERROR, "pvdma: MAP of 0x%" PRIx64 "+0x%x is not"
                      " entirely guest RAM\n", gpa, len);
        return pvdma_refuse(s, PVDMA_S_BAD_ADDRESS);
    }
    return PVDMA_S_OK;
}

/* A backend that maps entry by entry. */
static void pvdma_serve_req(PVDMAState *s, struct pvdma_req *r)
{
    uint64_t iova = 0;
    uint32_t mapped = 0;
    int st;

    if (r->op == PVDMA_OP_MAP) {
        st = s->backend->map(s, le64_to_cpu(r->gpa), le32_to_cpu(r->len), r->flags,
                             &iova, &mapped);
        if (st == PVDMA_S_OK) {
            r->iova = cpu_to_le64(iova);
            r->mapped = cpu_to_le32(mapped);
        }
    } else {
        st = s->backend->unmap(s, le64_to_cpu(r->iova), le32_to_cpu(r->len));
    }
    r->status = cpu_to_le16(st);
}

/* Traces the backend's answer to an entry and counts a refusal. */
static void pvdma_complete_req(PVDMAState *s, const struct pvdma_req *r)
{
    uint64_t iova = le64_to_cpu(r->iova);
    uint32_t len = le32_to_cpu(r->len);
    int st = le16_to_cpu(r->status);

    if (r->op == PVDMA_OP_MAP) {
        trace_pvdma_map(le64_to_cpu(r->gpa), len, r->flags, iova,
                        le32_to_cpu(r->mapped), st);
    } else {
        trace_pvdma_unmap(iova, len, st);
        if (st == PVDMA_S_NOT_FOUND) {
            qemu_log_mask(LOG_GUEST_ERROR, "pvdma: UNMAP of 0x%" PRIx64 "+0x%x, which"
                          " is not a live mapping\n", iova, len);
        }
    }
    if (st) {
        pvdma_refuse(s, st);
    }
}

/* Checks every entry, then hands the valid ones to the backend, at once if it can. */
static void pvdma_serve_batch(PVDMAState *s, uint32_t count)
{
    uint32_t i, n = 0;

    for (i = 0; i < count; i++) {
        struct pvdma_req *r = &s->reqs[i];
        int st = pvdma_check_req(s, r);

        if (st) {
            r->status = cpu_to_le16(st);
        } else if (s->backend->batch) {
            s->pending[n++] = r;
        } else {
            pvdma_serve_req(s, r);
            pvdma_complete_req(s, r);
        }
    }
    if (n) {
        s->backend->batch(s, s->pending, n);
        for (i = 0; i < n; i++) {
            pvdma_complete_req(s, s->pending[i]);
        }
    }
}

/* Runs a whole batch before the doorbell write returns: the guest never waits. */
static int pvdma_doorbell(PVDMAState *s, uint32_t pfn)
{
    PCIDevice *pdev = PCI_DEVICE(s);
    uint64_t base = (uint64_t)pfn * PVDMA_BATCH_ALIGN;
    struct pvdma_batch hdr;
    uint32_t count;
    int st = PVDMA_S_OK;

    s->doorbells++;
    if (!pvdma_range_is_ram(base, sizeof(hdr)) ||
        pci_dma_read(pdev, base, &hdr, sizeof(hdr)) != MEMTX_OK) {
        qemu_log_mask(LOG_GUEST_ERROR, "pvdma: batch at 0x%" PRIx64 " is not in"
                      " guest RAM (or bus mastering is off)\n", base);
        return PVDMA_S_BAD_BATCH;
    }
    count = le16_to_cpu(hdr.count);
    trace_pvdma_doorbell(base, count);
    if (!(s->status & PVDMA_STATUS_ENABLE)) {
        qemu_log_mask(LOG_GUEST_ERROR, "pvdma: doorbell while not enabled\n");
        st = PVDMA_S_NOT_READY;
    } else if (!count || count > s->max_batch || hdr.flags || hdr.reserved ||
               hdr.reserved2) {
        qemu_log_mask(LOG_GUEST_ERROR, "pvdma: bad batch header (count %u,"
                      " limit %u, or reserved fields set)\n", count, s->max_batch);
        st = PVDMA_S_BAD_BATCH;
    } else if (!pvdma_range_is_ram(base, sizeof(hdr) + count * sizeof(*s->reqs)) ||
               pci_dma_read(pdev, base + sizeof(hdr), s->reqs,
                            count * sizeof(*s->reqs)) != MEMTX_OK) {
        qemu_log_mask(LOG_GUEST_ERROR, "pvdma: batch entries at 0x%" PRIx64
                      " leave guest RAM\n", base);
        st = PVDMA_S_BAD_BATCH;
    }
    hdr.done = 0;
    if (st == PVDMA_S_OK) {
        qemu_mutex_lock(&s->lock);
        pvdma_serve_batch(s, count);
        qemu_mutex_unlock(&s->lock);
        s->entries += count;
        hdr.done = cpu_to_le32(count);
        pci_dma_write(pdev, base + sizeof(hdr), s->reqs, count * sizeof(*s->reqs));
    }
    hdr.status = cpu_to_le16(st);
    pci_dma_write(pdev, base, &hdr, sizeof(hdr));
    return st;
}

static void pvdma_collect_managed(PCIDevice *dev, void *opaque)
{
    PVDMAState *s = opaque;

    if (s->managed_count < ARRAY_SIZE(s->managed_rid)) {
        s->managed_rid[s->managed_count++] =
            PVDMA_RID(0, pci_dev_bus_num(dev), dev->devfn);
    }
}

/* Bus numbers are the guest's to assign, so the list is taken when it is read. */
static void pvdma_scan_managed(PVDMAState *s)
{
    s->managed_count = 0;
    s->backend->foreach_managed(s, pvdma_collect_managed, s);
}

static void pvdma_reset_mappings(PVDMAState *s)
{
    qemu_mutex_lock(&s->lock);
    s->backend->reset(s);
    qemu_mutex_unlock(&s->lock);
    trace_pvdma_reset();
}

static uint64_t pvdma_mmio_read(void *opaque, hwaddr addr, unsigned size)
{
    PVDMAState *s = opaque;
    PVDMALimits l;
    PVDMACounters c;
    uint64_t val = 0;

    s->backend->limits(s, &l);
    qemu_mutex_lock(&s->lock);
    s->backend->counters(s, &c);
    qemu_mutex_unlock(&s->lock);

    switch (addr) {
    case PVDMA_REG_MAGIC: val = PVDMA_MAGIC; break;
    case PVDMA_REG_VERSION:
        val = PVDMA_VERSION(PVDMA_VERSION_MAJOR, PVDMA_VERSION_MINOR);
        break;
    case PVDMA_REG_DEV_FEATURES:
        val = PVDMA_F_GRANULE | PVDMA_F_FAULT_LOG | (s->host_tso ? PVDMA_F_HOST_TSO : 0);
        break;
    case PVDMA_REG_DRV_FEATURES: val = s->drv_features; break;
    case PVDMA_REG_STATUS: val = s->status; break;
    case PVDMA_REG_GRANULE_SHIFT: val = l.granule_shift; break;
    case PVDMA_REG_MAX_BATCH: val = s->max_batch; break;
    case PVDMA_REG_MAX_MAPPINGS: val = l.max_mappings; break;
    case PVDMA_REG_MAX_BYTES_LO: val = (uint32_t)l.max_bytes; break;
    case PVDMA_REG_MAX_BYTES_HI: val = l.max_bytes >> 32; break;
    case PVDMA_REG_APERTURE_LO: val = (uint32_t)l.aperture_base; break;
    case PVDMA_REG_APERTURE_HI: val = l.aperture_base >> 32; break;
    case PVDMA_REG_APSIZE_LO: val = (uint32_t)l.aperture_size; break;
    case PVDMA_REG_APSIZE_HI: val = l.aperture_size >> 32; break;
    case PVDMA_REG_MANAGED_COUNT:
        pvdma_scan_managed(s);
        val = s->managed_count;
        break;
    case PVDMA_REG_MANAGED_SEL: val = s->managed_sel; break;
    case PVDMA_REG_MANAGED_RID:
        val = s->managed_sel < s->managed_count ? s->managed_rid[s->managed_sel]
                                                : PVDMA_RID_NONE;
        break;
    case PVDMA_REG_BATCH_STATUS: val = s->batch_status; break;
    case PVDMA_REG_LIVE_MAPPINGS: val = c.live_mappings; break;
    case PVDMA_REG_PEAK_MAPPINGS: val = c.peak_mappings; break;
    case PVDMA_REG_LIVE_BYTES_LO: val = (uint32_t)c.live_bytes; break;
    case PVDMA_REG_LIVE_BYTES_HI: val = c.live_bytes >> 32; break;
    case PVDMA_REG_PEAK_BYTES_LO: val = (uint32_t)c.peak_bytes; break;
    case PVDMA_REG_PEAK_BYTES_HI: val = c.peak_bytes >> 32; break;
    case PVDMA_REG_FAULTS: val = s->faults; break;
    case PVDMA_REG_FAULT_ADDR_LO: val = (uint32_t)s->fault_addr; break;
    case PVDMA_REG_FAULT_ADDR_HI: val = s->fault_addr >> 32; break;
    case PVDMA_REG_FAULT_RID: val = s->fault_rid; break;
    case PVDMA_REG_FAULT_FLAGS: val = s->fault_flags; break;
    default:
        qemu_log_mask(LOG_GUEST_ERROR, "pvdma: read of unknown register 0x%"
                      HWADDR_PRIx "\n", addr);
        break;
    }
    trace_pvdma_mmio_read(addr, val);
    return val;
}

static void pvdma_mmio_write(void *opaque, hwaddr addr, uint64_t val, unsigned size)
{
    PVDMAState *s = opaque;

    trace_pvdma_mmio_write(addr, val);
    switch (addr) {
    case PVDMA_REG_DRV_FEATURES:
        if (val & ~(uint64_t)PVDMA_F_ALL || (s->status & PVDMA_STATUS_ENABLE)) {
            qemu_log_mask(LOG_GUEST_ERROR, "pvdma: driver features 0x%" PRIx64
                          " unknown or written while enabled\n", val);
            break;
        }
        s->drv_features = val;
        break;
    case PVDMA_REG_STATUS:
        if (val & ~(uint64_t)PVDMA_STATUS_ENABLE) {
            qemu_log_mask(LOG_GUEST_ERROR, "pvdma: unknown status bits 0x%" PRIx64
                          "\n", val);
            break;
        }
        if (!val) {
            pvdma_reset_mappings(s);
            s->drv_features = 0;
        }
        s->status = val;
        break;
    case PVDMA_REG_MANAGED_SEL:
        s->managed_sel = val;
        break;
    case PVDMA_REG_DOORBELL:
        s->batch_status = pvdma_doorbell(s, val);
        break;
    default:
        qemu_log_mask(LOG_GUEST_ERROR, "pvdma: write of 0x%" PRIx64 " to read-only"
                      " or unknown register 0x%" HWADDR_PRIx "\n", val, addr);
        break;
    }
}

static const MemoryRegionOps pvdma_mmio_ops = {
    .read = pvdma_mmio_read,
    .write = pvdma_mmio_write,
    .endianness = DEVICE_LITTLE_ENDIAN,
    .valid = { .min_access_size = 4, .max_access_size = 4 },
    .impl = { .min_access_size = 4, .max_access_size = 4 },
};

/*
 * QEMU retries a refused access in pieces of at most 8 bytes, translating each again;
 * pieces that continue the previous fault of the same requester are one transaction.
 */
static bool pvdma_fault_continues(PVDMAState *s, uint32_t rid, uint64_t addr,
                                  uint32_t flags)
{
    bool cont = s->fault_chain && rid == s->fault_rid && flags == s->fault_flags &&
                addr > s->fault_chain_addr && addr <= s->fault_chain_addr + 8;

    s->fault_chain = true;
    s->fault_chain_addr = addr;
    return cont;
}

void pvdma_record_fault(PVDMAState *s, uint32_t rid, uint64_t addr, uint32_t flags)
{
    QEMU_LOCK_GUARD(&s->lock);
    if (pvdma_fault_continues(s, rid, addr, flags)) {
        return;
    }
    s->faults++;
    s->fault_addr = addr;
    s->fault_rid = rid;
    s->fault_flags = flags;
    trace_pvdma_fault(rid, addr, flags);
    qemu_log_mask(LOG_GUEST_ERROR, "pvdma: DMA fault: device %02x:%02x.%x %s 0x%"
                  PRIx64 " (%s)\n", (rid >> 8) & 0xff, (rid >> 3) & 0x1f, rid & 7,
                  flags & PVDMA_FAULT_WRITE ? "write to" : "read from", addr,
                  flags & PVDMA_FAULT_PERM ? "wrong direction" : "not mapped");
}

static const PVDMABackendOps *const pvdma_backends[] = {
    &pvdma_dart_backend,
#if defined(CONFIG_LINUX) || defined(CONFIG_DARWIN)
    &pvdma_provider_backend,
#endif
};

/*
 * Whether every vCPU of this machine orders its memory accesses at least as strongly
 * as x86's total store ordering, so that pvdma may offer HOST_TSO (docs/quirks.md);
 * errp says why not.
 * - An x86 guest: its vCPUs are x86 CPUs under any accelerator, and TCG emits the
 *   barriers an x86 guest needs on every host (target/i386/tcg/tcg-cpu.c's
 *   guest_default_memory_order, tcg/tcg-op-ldst.c's tcg_gen_req_mo()).
 * - hvf: only with -accel hvf,tso=on, which sets ACTLR_EL1.EnTSO on every vCPU and
 *   fails start-up otherwise (qemu/patches/macos/0003, applied to every macOS build,
 *   where hvf_tso_enabled() comes from; no other build has hvf).
 * - TCG: an Arm guest's own memory order is weak (guest_default_memory_order 0 in
 *   target/arm/cpu.c), so TCG emits no barrier for its plain loads and stores
 *   (tcg_gen_req_mo()): they run as host loads and stores, in program order, and get
 *   the host backend's TCG_TARGET_DEFAULT_MO. That is TSO's (TCG_MO_ALL &
 *   ~TCG_MO_ST_LD) on x86 and s390x hosts (tcg/{i386,s390x}/tcg-target-mo.h), 0 on
 *   every other backend, the interpreter (TCI) included.
 * - Anything else (KVM on Arm, qtest, ...): no.
 */
static bool pvdma_host_tso_ok(Error **errp)
{
    const char *target = target_name();

    if (!strcmp(target, "x86_64") || !strcmp(target, "i386")) {
        return true;
    }
    if (hvf_enabled()) {
#ifdef CONFIG_DARWIN
        if (hvf_tso_enabled()) {
            return true;
        }
#endif
        error_setg(errp, "pvdma: host-tso=on needs -accel hvf,tso=on (Apple silicon,"
                   " macOS 15 or later): without it the vCPUs use Arm's weaker memory"
                   " order");
        return false;
    }
    if (tcg_enabled()) {
#if (defined(__x86_64__) || defined(__i386__) || defined(__s390x__)) && \
    !defined(CONFIG_TCG_INTERPRETER)
        return true;
#else
        error_setg(errp, "pvdma: host-tso=on: TCG keeps an Arm (%s) guest's loads and stores"
                   " in total store order only on an x86-64 or s390x host (native"
                   " code, not TCI); this host's TCG reorders them as Arm allows",
                   target);
        return false;
#endif
    }
    error_setg(errp, "pvdma: host-tso=on is true only for hvf with tso=on, TCG on an"
               " x86-64 or s390x host, or an x86 guest; not for target %s under %s",
               target, current_accel_name());
    return false;
}

static void pvdma_realize(PCIDevice *pdev, Error **errp)
{
    PVDMAState *s = PVDMA_PCI(pdev);
    const char *backend = s->backend_name ? s->backend_name : "emulated";
    g_autoptr(GString) names = g_string_new(NULL);
    size_t i;

    for (i = 0; i < ARRAY_SIZE(pvdma_backends); i++) {
        if (!strcmp(backend, pvdma_backends[i]->name)) {
            s->backend = pvdma_backends[i];
        }
        g_string_append_printf(names, "%s%s", i ? ", " : "", pvdma_backends[i]->name);
    }
    if (!s->backend) {
        error_setg(errp, "pvdma: unknown backend '%s' (available: %s)", backend,
                   names->str);
        return;
    }
    if (!s->max_batch || s->max_batch > PVDMA_MAX_BATCH) {
        error_setg(errp, "pvdma: max-batch must be 1..%u", PVDMA_MAX_BATCH);
        return;
    }
    if (s->managed_bus_name) {
        bool ambiguous = false;
        Object *o = object_resolve_path_type(s->managed_bus_name, TYPE_PCI_BUS,
                                             &ambiguous);

        if (!o) {
            error_setg(errp, "pvdma: managed-bus '%s' is not a PCI bus%s (create"
                       " the bus before pvdma-pci)", s->managed_bus_name,
                       ambiguous ? " name that is unique" : "");
            return;
        }
        s->managed_bus = PCI_BUS(o);
        if (s->managed_bus == pci_get_bus(pdev)) {
            error_setg(errp, "pvdma: pvdma-pci cannot sit on the bus it manages");
            return;
        }
        /* Devices pick their DMA address space when they are realized. */
        if (!QTAILQ_EMPTY(&BUS(s->managed_bus)->children)) {
            error_setg(errp, "pvdma: managed-bus '%s' already has devices; create"
                       " pvdma-pci before the devices it manages",
                       s->managed_bus_name);
            return;
        }
    }
    if (s->host_tso && !pvdma_host_tso_ok(errp)) {
        return;
    }
    qemu_mutex_init(&s->lock);
    s->reqs = g_new0(struct pvdma_req, s->max_batch);
    s->pending = g_new0(struct pvdma_req *, s->max_batch);
    if (!s->backend->init(s, errp)) {
        goto free_reqs;
    }
    error_setg(&s->migration_blocker, "pvdma: host DMA mappings cannot be migrated");
    if (migrate_add_blocker(&s->migration_blocker, errp) < 0) {
        goto cleanup_backend;
    }
    memory_region_init_io(&s->mmio, OBJECT(s), &pvdma_mmio_ops, s, "pvdma-mmio",
                          PVDMA_BAR_SIZE);
    pci_register_bar(pdev, 0, PCI_BASE_ADDRESS_SPACE_MEMORY, &s->mmio);
    return;

cleanup_backend:
    s->backend->cleanup(s);
free_reqs:
    g_free(s->pending);
    g_free(s->reqs);
    qemu_mutex_destroy(&s->lock);
}

static void pvdma_exit(PCIDevice *pdev)
{
    PVDMAState *s = PVDMA_PCI(pdev);

    migrate_del_blocker(&s->migration_blocker);
    s->backend->cleanup(s);
    g_free(s->pending);
    g_free(s->reqs);
    qemu_mutex_destroy(&s->lock);
}

/* Device and system reset: a rebooted guest starts with no mappings. */
static void pvdma_reset_hold(Object *obj, ResetType type)
{
    PVDMAState *s = PVDMA_PCI(obj);

    pvdma_reset_mappings(s);
    s->status = 0;
    s->drv_features = 0;
    s->batch_status = 0;
    s->managed_sel = 0;
}

static void pvdma_get_stat(Object *obj, Visitor *v, const char *name, void *opaque,
                           Error **errp)
{
    PVDMAState *s = PVDMA_PCI(obj);
    PVDMACounters c;
    uint64_t val;

    qemu_mutex_lock(&s->lock);
    s->backend->counters(s, &c);
    qemu_mutex_unlock(&s->lock);
    if (!strcmp(name, "live-mappings")) {
        val = c.live_mappings;
    } else if (!strcmp(name, "peak-mappings")) {
        val = c.peak_mappings;
    } else if (!strcmp(name, "live-bytes")) {
        val = c.live_bytes;
    } else if (!strcmp(name, "peak-bytes")) {
        val = c.peak_bytes;
    } else {
        val = *(uint64_t *)opaque;
    }
    visit_type_uint64(v, name, &val, errp);
}

static const char *const pvdma_status_names[] = {
    [PVDMA_S_OK] = "ok",
    [PVDMA_S_INVALID] = "invalid",
    [PVDMA_S_BAD_ADDRESS] = "bad-address",
    [PVDMA_S_UNSUPPORTED] = "unsupported",
    [PVDMA_S_NO_MAPPINGS] = "no-mappings",
    [PVDMA_S_NO_BYTES] = "no-bytes",
    [PVDMA_S_NO_SPACE] = "no-space",
    [PVDMA_S_NOT_FOUND] = "not-found",
    [PVDMA_S_NOT_READY] = "not-ready",
    [PVDMA_S_BAD_BATCH] = "bad-batch",
};

static void pvdma_instance_init(Object *obj)
{
    PVDMAState *s = PVDMA_PCI(obj);
    static const char *const counters[] = {
        "live-mappings", "peak-mappings", "live-bytes", "peak-bytes",
    };
    size_t i;

    for (i = 0; i < ARRAY_SIZE(counters); i++) {
        object_property_add(obj, counters[i], "uint64", pvdma_get_stat, NULL, NULL,
                            NULL);
    }
    object_property_add(obj, "doorbells", "uint64", pvdma_get_stat, NULL, NULL,
                        &s->doorbells);
    object_property_add(obj, "entries", "uint64", pvdma_get_stat, NULL, NULL,
                        &s->entries);
    object_property_add(obj, "faults", "uint64", pvdma_get_stat, NULL, NULL,
                        &s->faults);
    for (i = PVDMA_S_INVALID; i <= PVDMA_S_NOT_READY; i++) {
        g_autofree char *name = g_strdup_printf("refused-%s", pvdma_status_names[i]);

        object_property_add(obj, name, "uint64", pvdma_get_stat, NULL, NULL,
                            &s->refused[i]);
    }
}

static int pvdma_hmp_one(Object *obj, void *opaque)
{
    Monitor *mon = opaque;
    PVDMAState *s;
    PVDMACounters c;
    size_t i;

    if (!object_dynamic_cast(obj, TYPE_PVDMA_PCI)) {
        return 0;
    }
    s = PVDMA_PCI(obj);
    qemu_mutex_lock(&s->lock);
    s->backend->counters(s, &c);
    qemu_mutex_unlock(&s->lock);
    monitor_printf(mon, "%s (backend %s, managed bus %s)\n",
                   object_get_canonical_path(obj), s->backend->name,
                   s->managed_bus_name ? s->managed_bus_name : "none");
    monitor_printf(mon, "  mappings: live %" PRIu64 " peak %" PRIu64 "\n",
                   c.live_mappings, c.peak_mappings);
    monitor_printf(mon, "  bytes:    live %" PRIu64 " peak %" PRIu64 "\n",
                   c.live_bytes, c.peak_bytes);
    monitor_printf(mon, "  doorbells %" PRIu64 " entries %" PRIu64 " faults %" PRIu64
                   "\n", s->doorbells, s->entries, s->faults);
    for (i = PVDMA_S_INVALID; i <= PVDMA_S_NOT_READY; i++) {
        monitor_printf(mon, "  refused %-12s %" PRIu64 "\n", pvdma_status_names[i],
                       s->refused[i]);
    }
    return 0;
}

static int pvdma_hmp_walk(Object *obj, void *opaque)
{
    pvdma_hmp_one(obj, opaque);
    return object_child_foreach(obj, pvdma_hmp_walk, opaque);
}

void hmp_info_pvdma(Monitor *mon, const QDict *qdict)
{
    pvdma_hmp_walk(qdev_get_machine(), mon);
}

static const Property pvdma_properties[] = {
    DEFINE_PROP_STRING("backend", PVDMAState, backend_name),
    DEFINE_PROP_STRING("managed-bus", PVDMAState, managed_bus_name),
    DEFINE_PROP_UINT32("granule-shift", PVDMAState, granule_shift, 14),
    DEFINE_PROP_UINT32("max-mappings", PVDMAState, max_mappings, 65536),
    DEFINE_PROP_SIZE("max-bytes", PVDMAState, max_bytes, 1536 * MiB),
    DEFINE_PROP_UINT64("aperture-base", PVDMAState, aperture_base, UINT64_MAX),
    DEFINE_PROP_SIZE("aperture-size", PVDMAState, aperture_size, 0),
    DEFINE_PROP_UINT64("msi-base", PVDMAState, msi_base, UINT64_MAX),
    DEFINE_PROP_SIZE("msi-size", PVDMAState, msi_size, 0),
    DEFINE_PROP_UINT32("max-batch", PVDMAState, max_batch, 512),
    DEFINE_PROP_BOOL("host-tso", PVDMAState, host_tso, false),
    DEFINE_PROP_LINK("provider", PVDMAState, provider, TYPE_DARTPASS_PROVIDER,
                     DartpassProvider *),
};

static void pvdma_class_init(ObjectClass *klass, const void *data)
{
    DeviceClass *dc = DEVICE_CLASS(klass);
    PCIDeviceClass *k = PCI_DEVICE_CLASS(klass);
    ResettableClass *rc = RESETTABLE_CLASS(klass);

    k->realize = pvdma_realize;
    k->exit = pvdma_exit;
    k->vendor_id = PVDMA_PCI_VENDOR_ID;
    k->device_id = PVDMA_PCI_DEVICE_ID;
    k->revision = PVDMA_PCI_REVISION;
    k->class_id = PCI_CLASS_SYSTEM_OTHER;
    rc->phases.hold = pvdma_reset_hold;
    dc->desc = "pvdma paravirtual DMA mapping";
    dc->hotpluggable = false;
    device_class_set_props(dc, pvdma_properties);
    set_bit(DEVICE_CATEGORY_MISC, dc->categories);
}

static const TypeInfo pvdma_info = {
    .name = TYPE_PVDMA_PCI,
    .parent = TYPE_PCI_DEVICE,
    .instance_size = sizeof(PVDMAState),
    .instance_init = pvdma_instance_init,
    .class_init = pvdma_class_init,
    .interfaces = (const InterfaceInfo[]) {
        { INTERFACE_CONVENTIONAL_PCI_DEVICE },
        { },
    },
};

static void pvdma_register_types(void)
{
    type_register_static(&pvdma_info);
}

type_init(pvdma_register_types)
