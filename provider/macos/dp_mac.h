/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * dartpass macOS provider (DriverKit). The portable core (lib/dp_prov.c) speaks the
 * protocol; this is its OS layer over PCIDriverKit (os.cpp), the services matched on
 * the lent functions (DartpassDriver.cpp) and the transport, one IOUserClient per
 * connection (DartpassUserClient.cpp). docs/macos.md says how to build and load it.
 *
 * Queues and locks. The core is single-threaded:
 *  - every connection's ExternalMethod runs on one serial queue, dpm.core_queue
 *    (each user client names it for kIOUserClientQueueNameExternalMethod);
 *  - the entry points that run on an object's own default queue (DartpassDriver
 *    Start/Stop, DartpassUserClient Start/Stop, CopyClientMemoryForType) and the
 *    external methods all take dpm.core_lock around the core and the state below;
 *  - InterruptOccurred runs on dpm.irq_queue and touches only the pending bitmaps
 *    (atomics) and, under dpm.irq_lock, the connection to notify.
 * Lock order: core_lock, then irq_lock. Nothing is called with irq_lock held but the
 * retain of the action and user client it hands to AsyncCompletion.
 */
#ifndef DP_MAC_H
#define DP_MAC_H

#include <DriverKit/DriverKit.h>
#include <PCIDriverKit/PCIDriverKit.h>

extern "C" {
#include "dp_prov.h"
}

#define DPM_LOG(fmt, ...)	os_log(OS_LOG_DEFAULT, "dartpass: " fmt, ##__VA_ARGS__)

#define DPM_GRANULE_SHIFT	14		/* the DART page, 16 KiB */
#define DPM_GRANULE		(1ull << DPM_GRANULE_SHIFT)
#define DPM_MAX_MAPPINGS	65536
#define DPM_MAX_BYTES		(3ull << 29)	/* 1.5 GiB */
/* Bus addresses the IODMACommand may return; the aperture HELLO reports covers them. */
#define DPM_IOVA_BITS		39
#define DPM_BARS		6
/* MSI-X has at most 2048 vectors; MSI 32. */
#define DPM_MAX_VECTORS		2048
#define DPM_PENDING_WORDS	(DPM_MAX_VECTORS / 64)
/* IOPCIDevice interrupt types for ConfigureInterrupts, by PROV_IRQ_* (0: none). */
#define DPM_IRQ_NONE		PROV_IRQ_TYPES

/*
 * REGION_MAP's memory type for IOConnectMapMemory64: the function handle and the BAR.
 * The tag keeps a stray small type (0, 1, ...) from naming a BAR.
 */
#define DPM_MEMTYPE_TAG		0x64700000ull
#define DPM_MEMTYPE(fn, bar)	(DPM_MEMTYPE_TAG | (uint64_t)(fn) << 4 | (bar))

class DartpassDriver;
class DartpassUserClient;
struct dpm_conn;

/* Which vector a source's action reports: its OSAction reference. */
struct dpm_irq_ref {
	uint32_t fn, type, vector;
};

/* One listed function; the index is its handle. core_lock unless said otherwise. */
struct dpm_fn {
	DartpassDriver *svc;		/* its service; NULL once stopped (unplugged) */
	IOPCIDevice *pci;		/* retained while svc is */
	uint32_t rid;
	bool open;			/* Open() session held: from CLAIM to RELEASE */
	struct dpm_conn *conn;		/* holder; also read by the handler, irq_lock */
	/*
	 * The connection a BAR of it was lent to (CopyClientMemoryForType). The mapping
	 * belongs to that user client and lasts until it ends, so until then another
	 * connection's CLAIM is BUSY.
	 */
	struct dpm_conn *mapper;
	uint8_t mem_index[DPM_BARS];	/* GetBARInfo's memory index, for MemoryRead/Write */
	struct prov_region bars[DPM_BARS];
	uint32_t cfg_size;		/* 256, or 4096 for a PCI Express function */
	uint32_t irq_count[PROV_IRQ_TYPES];
	uint32_t irq_type;		/* the type ConfigureInterrupts set up; DPM_IRQ_NONE */
	uint32_t nvec;			/* entries of src and act: irq_count[irq_type] */
	IOInterruptDispatchSource **src;	/* by vector; NULL: not armed */
	OSAction **act;			/* each armed source's handler */
	/* Set by the handler, read and cleared by IRQ_PENDING: atomics only. */
	uint64_t pending[PROV_IRQ_TYPES][DPM_PENDING_WORDS];
};

/* One DMA mapping: the prepared command that keeps it in the DART. */
struct dpm_map {
	struct dp_tree_node node;	/* key: iova */
	IODMACommand *cmd;
	uint64_t size;
};

/* One connection: a DartpassUserClient's state. core_lock unless said otherwise. */
struct dpm_conn {
	struct dp_prov_conn core;
	DartpassUserClient *uc;
	bool opened;			/* dp_prov_conn_open succeeded */
	uint64_t owned;			/* handles it holds; written under both locks */
	OSAction *notify;		/* NOTIFY's completion, irq_lock */
	OSAction *staged;		/* the completion of the NOTIFY being handled */
	/* The DMA memory, one descriptor per direction (PVDMA_MAP_* - 1). */
	IOMemoryDescriptor *mem[3];
	uint64_t mem_base, mem_size;
	struct dp_tree maps;		/* dpm_map by iova */
	/* BAR descriptors lent: the same one for the same type, as the API asks. */
	IOMemoryDescriptor *bar_md[PROV_MAX_FUNCTIONS][DPM_BARS];
};

struct dpm_state {
	IOLock *core_lock;		/* the core, dpm_fn and dpm_conn (see above), bufs */
	IOLock *irq_lock;		/* dpm_conn.notify, .owned for readers, dpm_fn.conn */
	IODispatchQueue *core_queue;	/* every ExternalMethod */
	IODispatchQueue *irq_queue;	/* every InterruptOccurred */
	bool ready;			/* dp_prov_init done */
	struct dp_prov prov;
	struct dpm_fn fns[PROV_MAX_FUNCTIONS];
	uint64_t pending_fns;		/* handles with pending bits: atomics */
	/* The request and reply being handled: copies, so the client cannot change them. */
	uint8_t req[PROV_MAX_MSG];
	uint8_t rep[PROV_MAX_MSG];
};

extern struct dpm_state dpm;
extern const struct dp_prov_os_ops dpm_os_ops;

/* Creates the locks, queues and core once per process; false on failure. */
bool dpm_global_init(void);
/* Lists (or, after an unplug, re-attaches) svc's function; PROV_S_* status. */
int dpm_fn_attach(DartpassDriver *svc, IOPCIDevice *pci);
/* svc stopped: its function stays listed, but every access to it fails with IO. */
void dpm_fn_detach(DartpassDriver *svc);
/* Takes down every vector of f (DISABLE, RELEASE, unplug). */
void dpm_irq_teardown(struct dpm_fn *f);
/* InterruptOccurred's work: set the bit, tell the holder. */
void dpm_irq_fired(const struct dpm_irq_ref *ref);
/* The connection ended: drop what the OS layer keeps for it beyond the core's. */
void dpm_conn_drop(struct dpm_conn *c);

#endif /* DP_MAC_H */
