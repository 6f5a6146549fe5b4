/*
 * pvdma provider backend: a dartpass provider (docs/specs/provider.rst) chooses the
 * bus addresses with the host's IOMMU, for the functions lent to this guest through
 * dartpass-pci. Guest RAM is the provider's DMA memory, so a MAP names an offset into
 * it; each doorbell becomes one DMA message. The socket transport (PROV_F_DMA_FD)
 * passes RAM's descriptor, so RAM must be a shared fd-backed memory backend; IOKit
 * names RAM's address in QEMU, offsets then counting from it.
 *
 * The backend keeps the mappings it obtained, so that a reset (a rebooted guest) and
 * the device's removal leave none behind in the provider.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qemu/error-report.h"
#include "qemu/log.h"
#include "qemu/rcu.h"
#include "qapi/error.h"
#include "exec/cpu-common.h"
#include "hw/boards.h"
#include "system/address-spaces.h"
#include "system/hostmem.h"
#include "system/memory.h"
#include "pvdma.h"
#include "trace.h"

typedef struct PVDMAProviderMapping {
    uint64_t iova;              /* first: the hash key */
    uint32_t len;
} PVDMAProviderMapping;

struct PVDMAProvider {
    MemoryRegion *ram;          /* guest RAM: the provider's DMA memory */
    uint64_t fd_offset;         /* of ram in the DMA memory (its descriptor's) */
    PVDMALimits limits;
    GHashTable *live;           /* iova -> PVDMAProviderMapping obtained */
    PVDMACounters counters;
    struct prov_dma_batch *msg; /* s->max_batch entries each way */
    struct prov_dma_batch *rep;
    struct pvdma_req **sent;    /* the guest's entry behind each of msg's */
};

static uint64_t pvdma_provider_pages(PVDMAProvider *p, uint64_t iova, uint32_t len)
{
    uint32_t shift = p->limits.granule_shift;

    return (((iova + len - 1) >> shift) - (iova >> shift) + 1) << shift;
}

static void pvdma_provider_forget_all(PVDMAProvider *p)
{
    g_hash_table_remove_all(p->live);
    p->counters.live_mappings = 0;
    p->counters.live_bytes = 0;
}

/*
 * The offset of [gpa, gpa + len) in the DMA memory: the range must lie in guest RAM's
 * backend, contiguously (x86 splits RAM around the PCI hole).
 */
static bool pvdma_provider_offset(PVDMAProvider *p, uint64_t gpa, uint32_t len,
                                  uint64_t *off)
{
    uint64_t done = 0, first = 0;

    RCU_READ_LOCK_GUARD();
    while (done < len) {
        hwaddr xlat, l = len - done;
        MemoryRegion *mr = address_space_translate(&address_space_memory, gpa + done,
                                                   &xlat, &l, false,
                                                   MEMTXATTRS_UNSPECIFIED);

        if (mr != p->ram || !l || (done && xlat != first + done)) {
            return false;
        }
        if (!done) {
            first = xlat;
        }
        done += l;
    }
    *off = p->fd_offset + first;
    return true;
}

/*
 * Sends msg's first count entries as one DMA message; the reply lands in rep.
 * Returns the provider's batch status, or -errno when the provider is gone: it then
 * dropped every mapping of this connection, so none is kept here either.
 */
static int pvdma_provider_dma(PVDMAState *s, unsigned int count)
{
    PVDMAProvider *p = s->prov;
    size_t size = sizeof(*p->msg) + count * sizeof(p->msg->req[0]);
    Error *err = NULL;
    int st;

    p->msg->count = cpu_to_le16(count);
    p->msg->reserved = 0;
    p->msg->done = 0;
    if (!dartpass_provider_alive(s->provider)) {
        st = -EPIPE;
    } else {
        st = dartpass_provider_call(s->provider, PROV_OP_DMA, 0, p->msg, size, NULL, 0,
                                    p->rep, size, NULL, &err);
    }
    trace_pvdma_provider_batch(count, st);
    if (st < 0) {
        if (err) {
            error_report_err(err);
        }
        pvdma_provider_forget_all(p);
    } else if (st) {
        warn_report_once("pvdma: the provider refuses DMA batches (%s): is a function"
                         " lent through dartpass-pci?",
                         dartpass_provider_status_name(st));
    }
    return st;
}

static void pvdma_provider_track(PVDMAProvider *p, const struct pvdma_req *r)
{
    PVDMACounters *c = &p->counters;
    uint64_t iova = le64_to_cpu(r->iova);

    if (r->op == PVDMA_OP_MAP) {
        PVDMAProviderMapping *m = g_new(PVDMAProviderMapping, 1);

        m->iova = iova;
        m->len = le32_to_cpu(r->mapped);
        g_hash_table_replace(p->live, m, m);
        c->live_mappings++;
        c->live_bytes += pvdma_provider_pages(p, m->iova, m->len);
        c->peak_mappings = MAX(c->peak_mappings, c->live_mappings);
        c->peak_bytes = MAX(c->peak_bytes, c->live_bytes);
    } else if (g_hash_table_remove(p->live, &iova)) {
        c->live_mappings--;
        c->live_bytes -= pvdma_provider_pages(p, iova, le32_to_cpu(r->len));
    }
}

/*
 * One DMA message for the doorbell's valid entries. Statuses the guest's protocol
 * lacks, a batch the provider refuses and a provider that is gone become NOT_READY
 * for each entry sent: the guest sees a failed mapping, never a hang.
 */
static void pvdma_provider_batch(PVDMAState *s, struct pvdma_req *const *reqs,
                                 unsigned int n)
{
    PVDMAProvider *p = s->prov;
    unsigned int i, sent = 0, done;
    int st;

    for (i = 0; i < n; i++) {
        struct pvdma_req *r = reqs[i], *e = &p->msg->req[sent];
        uint64_t off = 0;

        if (r->op == PVDMA_OP_MAP &&
            !pvdma_provider_offset(p, le64_to_cpu(r->gpa), le32_to_cpu(r->len), &off)) {
            qemu_log_mask(LOG_GUEST_ERROR, "pvdma: MAP of 0x%" PRIx64 "+0x%x is not"
                          " contiguous in guest RAM's memory backend\n",
                          le64_to_cpu(r->gpa), le32_to_cpu(r->len));
            r->status = cpu_to_le16(PVDMA_S_BAD_ADDRESS);
            continue;
        }
        *e = *r;
        e->status = 0;
        e->gpa = cpu_to_le64(off);
        p->sent[sent++] = r;
    }
    if (!sent) {
        return;
    }
    st = pvdma_provider_dma(s, sent);
    done = st == PROV_S_OK ? MIN(le32_to_cpu(p->rep->done), sent) : 0;
    for (i = 0; i < sent; i++) {
        struct pvdma_req *r = p->sent[i];
        const struct pvdma_req *e = &p->rep->req[i];
        int est = i < done ? le16_to_cpu(e->status) : PVDMA_S_NOT_READY;

        if (est > PVDMA_S_BAD_BATCH) {
            est = PVDMA_S_NOT_READY;
        }
        r->status = cpu_to_le16(est);
        if (est == PVDMA_S_OK) {
            if (r->op == PVDMA_OP_MAP) {
                r->iova = e->iova;
                r->mapped = e->mapped;
            }
            pvdma_provider_track(p, r);
        }
    }
}

/* Unmaps every mapping obtained, in messages of max_batch entries. */
static void pvdma_provider_unmap_all(PVDMAState *s)
{
    PVDMAProvider *p = s->prov;
    PVDMAProviderMapping *m;
    GHashTableIter it;
    unsigned int n = 0;

    trace_pvdma_provider_unmap_all(g_hash_table_size(p->live));
    g_hash_table_iter_init(&it, p->live);
    while (g_hash_table_iter_next(&it, NULL, (gpointer *)&m)) {
        p->msg->req[n++] = (struct pvdma_req) {
            .op = PVDMA_OP_UNMAP,
            .len = cpu_to_le32(m->len),
            .iova = cpu_to_le64(m->iova),
        };
        if (n == s->max_batch) {
            pvdma_provider_dma(s, n);
            n = 0;
        }
    }
    if (n) {
        pvdma_provider_dma(s, n);
    }
    pvdma_provider_forget_all(s->prov);
}

static bool pvdma_provider_init(PVDMAState *s, Error **errp)
{
    MachineState *ms = MACHINE(qdev_get_machine());
    const struct prov_limits *l;
    struct prov_dma_memory_req req;
    MemoryRegion *ram;
    PVDMAProvider *p;
    uint64_t size;
    bool by_fd;
    int fd, st;

    if (!s->provider) {
        error_setg(errp, "pvdma: backend=provider needs provider=ID, the id of a"
                   " dartpass-provider object");
        return false;
    }
    if (s->managed_bus) {
        error_setg(errp, "pvdma: managed-bus is the emulated backend's; with"
                   " backend=provider, pvdma manages the provider's dartpass-pci"
                   " functions");
        return false;
    }
    if (!dartpass_provider_alive(s->provider)) {
        error_setg(errp, "pvdma: the provider's connection is gone");
        return false;
    }
    by_fd = dartpass_provider_features(s->provider) & PROV_F_DMA_FD;
    ram = ms->memdev ? host_memory_backend_get_memory(ms->memdev) : NULL;
    fd = ram ? memory_region_get_fd(ram) : -1;
    if (by_fd && (fd < 0 || !qemu_ram_is_shared(ram->ram_block))) {
        error_setg(errp, "pvdma backend=provider needs guest RAM in a shared memory"
                   " backend: -object memory-backend-memfd,id=ram,share=on,size=..."
                   " -machine memory-backend=ram");
        return false;
    }
    if (!by_fd) {
        ram = ms->ram;
        if (!ram || !memory_region_get_ram_ptr(ram)) {
            error_setg(errp, "pvdma backend=provider needs guest RAM in one memory"
                       " backend (-machine memory-backend=ID)");
            return false;
        }
    }
    l = &dartpass_provider_hello(s->provider)->limits;
    p = g_new0(PVDMAProvider, 1);
    p->ram = ram;
    p->fd_offset = by_fd ? qemu_ram_get_fd_offset(ram->ram_block) : 0;
    p->limits = (PVDMALimits) {
        .granule_shift = le32_to_cpu(l->granule_shift),
        .max_mappings = le32_to_cpu(l->max_mappings),
        .max_bytes = le64_to_cpu(l->max_bytes),
        .aperture_base = le64_to_cpu(l->aperture_base),
        .aperture_size = le64_to_cpu(l->aperture_size),
    };
    /* The provider maps the descriptor's first size bytes, a granule multiple. */
    size = p->fd_offset + memory_region_size(ram);
    if (size & ((1ull << p->limits.granule_shift) - 1)) {
        error_setg(errp, "pvdma: guest RAM (%" PRIu64 " bytes into its file) is not a"
                   " multiple of the provider's granule (%u KiB)", size,
                   (1u << p->limits.granule_shift) / 1024);
        g_free(p);
        return false;
    }
    req = (struct prov_dma_memory_req) {
        .size = cpu_to_le64(size),
        .base = cpu_to_le64(by_fd ? 0 : (uintptr_t)memory_region_get_ram_ptr(ram)),
    };
    st = dartpass_provider_call(s->provider, PROV_OP_DMA_MEMORY, 0, &req, sizeof(req),
                                &fd, by_fd, NULL, 0, NULL, errp);
    if (st) {
        if (st > 0) {
            error_setg(errp, "pvdma: the provider refuses guest RAM (%" PRIu64 " bytes)"
                       " as DMA memory: %s", size, dartpass_provider_status_name(st));
        }
        g_free(p);
        return false;
    }
    s->max_batch = MIN(s->max_batch, le32_to_cpu(l->max_batch));
    p->live = g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL, g_free);
    p->msg = g_malloc0(sizeof(*p->msg) + s->max_batch * sizeof(p->msg->req[0]));
    p->rep = g_malloc0(sizeof(*p->rep) + s->max_batch * sizeof(p->rep->req[0]));
    p->sent = g_new0(struct pvdma_req *, s->max_batch);
    s->prov = p;
    return true;
}

static void pvdma_provider_cleanup(PVDMAState *s)
{
    PVDMAProvider *p = s->prov;

    pvdma_provider_unmap_all(s);
    g_hash_table_destroy(p->live);
    g_free(p->msg);
    g_free(p->rep);
    g_free(p->sent);
    g_free(p);
    s->prov = NULL;
}

static void pvdma_provider_reset(PVDMAState *s)
{
    pvdma_provider_unmap_all(s);
}

static void pvdma_provider_limits(PVDMAState *s, PVDMALimits *l)
{
    *l = s->prov->limits;
}

static void pvdma_provider_counters(PVDMAState *s, PVDMACounters *c)
{
    *c = s->prov->counters;
}

/* The provider's mappings reach every function lent through its connection. */
static void pvdma_provider_foreach_managed(PVDMAState *s,
                                           void (*fn)(PCIDevice *dev, void *opaque),
                                           void *opaque)
{
    dartpass_provider_foreach_function(s->provider, fn, opaque);
}

const PVDMABackendOps pvdma_provider_backend = {
    .name = "provider",
    .init = pvdma_provider_init,
    .cleanup = pvdma_provider_cleanup,
    .batch = pvdma_provider_batch,
    .reset = pvdma_provider_reset,
    .limits = pvdma_provider_limits,
    .counters = pvdma_provider_counters,
    .foreach_managed = pvdma_provider_foreach_managed,
};
