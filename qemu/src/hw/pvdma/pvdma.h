/*
 * pvdma: paravirtual DMA mapping device (see docs/specs/pvdma.rst)
 *
 * The guest asks for DMA mappings in batches; a backend chooses the bus addresses.
 * The emulated DART backend (pvdma-dart.c) also acts as the IOMMU of the devices on
 * the managed bus, so their DMA is translated through the mappings it handed out.
 * The provider backend (pvdma-provider.c, Linux and macOS hosts) forwards each batch to a
 * dartpass provider, whose host IOMMU serves the functions lent by dartpass-pci.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef HW_PVDMA_H
#define HW_PVDMA_H

#include "hw/pci/pci_device.h"
#include "qom/object.h"
#include "pvdma_proto.h"
#include "dartpass-provider.h"

#define TYPE_PVDMA_PCI "pvdma-pci"
OBJECT_DECLARE_SIMPLE_TYPE(PVDMAState, PVDMA_PCI)

/* Limits a backend enforces, advertised to the guest in registers. */
typedef struct PVDMALimits {
    uint32_t granule_shift;
    uint32_t max_mappings;
    uint64_t max_bytes;
    uint64_t aperture_base;
    uint64_t aperture_size;
} PVDMALimits;

typedef struct PVDMACounters {
    uint64_t live_mappings, peak_mappings;
    uint64_t live_bytes, peak_bytes;
} PVDMACounters;

/*
 * A backend maps guest-physical ranges that pvdma has already validated as guest RAM.
 * Calls are serialized by the caller (under PVDMAState.lock). Return values are enum
 * pvdma_status. A backend serves entries either one at a time (map, unmap) or a
 * doorbell's at once (batch).
 */
typedef struct PVDMABackendOps {
    const char *name;
    bool (*init)(PVDMAState *s, Error **errp);
    void (*cleanup)(PVDMAState *s);
    /* Sets *iova to the bus address of gpa and *mapped to the bytes reachable there. */
    int (*map)(PVDMAState *s, uint64_t gpa, uint32_t len, unsigned int perm,
               uint64_t *iova, uint32_t *mapped);
    int (*unmap)(PVDMAState *s, uint64_t iova, uint32_t len);
    /*
     * Serves n well-formed entries (a MAP's range is guest RAM) in order: sets each
     * one's status (an enum pvdma_status, little-endian) and a mapped MAP's iova and
     * mapped, and leaves every other field as it is.
     */
    void (*batch)(PVDMAState *s, struct pvdma_req *const *reqs, unsigned int n);
    /* Calls fn for each function whose DMA goes through this backend. */
    void (*foreach_managed)(PVDMAState *s, void (*fn)(PCIDevice *dev, void *opaque),
                            void *opaque);
    void (*reset)(PVDMAState *s);
    void (*limits)(PVDMAState *s, PVDMALimits *l);
    void (*counters)(PVDMAState *s, PVDMACounters *c);
} PVDMABackendOps;

extern const PVDMABackendOps pvdma_dart_backend;
extern const PVDMABackendOps pvdma_provider_backend;

typedef struct PVDMADart PVDMADart;
typedef struct PVDMAProvider PVDMAProvider;

struct PVDMAState {
    PCIDevice parent_obj;
    MemoryRegion mmio;

    /* properties */
    char *backend_name;
    char *managed_bus_name;
    uint32_t granule_shift;
    uint32_t max_mappings;
    uint64_t max_bytes;
    uint64_t aperture_base;
    uint64_t aperture_size;
    uint64_t msi_base;          /* MSI doorbells, passed through untranslated */
    uint64_t msi_size;
    uint32_t max_batch;
    bool host_tso;
    DartpassProvider *provider; /* backend=provider: the connection to use */

    const PVDMABackendOps *backend;
    PVDMADart *dart;            /* emulated DART backend state */
    PVDMAProvider *prov;        /* provider backend state */
    PCIBus *managed_bus;
    Error *migration_blocker;

    /*
     * Serializes doorbells with IOMMU translations, which may run outside the BQL:
     * protects the backend's mapping table and the fault_* fields.
     */
    QemuMutex lock;

    /* guest-visible state */
    uint32_t drv_features;
    uint32_t status;
    uint32_t batch_status;
    uint32_t managed_sel;
    uint32_t managed_count;
    uint32_t managed_rid[PCI_DEVFN_MAX * 4];
    struct pvdma_req *reqs;     /* max_batch entries, the doorbell's working copy */
    struct pvdma_req **pending; /* the entries of reqs a batch backend serves */

    /* statistics (also QOM properties) */
    uint64_t doorbells;
    uint64_t entries;
    uint64_t refused[PVDMA_S_BAD_BATCH + 1];
    uint64_t faults;
    uint64_t fault_addr;
    uint32_t fault_rid;
    uint32_t fault_flags;
    bool fault_chain;           /* fault_chain_addr is the last refused piece */
    uint64_t fault_chain_addr;
};

/* Ends a chain of refused pieces: the next fault is a new transaction. */
static inline void pvdma_fault_chain_break(PVDMAState *s)
{
    s->fault_chain = false;
}

/* Records a DMA fault of a managed device (called by the IOMMU of a backend). */
void pvdma_record_fault(PVDMAState *s, uint32_t rid, uint64_t addr, uint32_t flags);

#endif
