// SPDX-License-Identifier: (GPL-2.0 OR MIT)
/*
 * The OS layer of the macOS provider: the core's callbacks (struct dp_prov_os_ops)
 * over PCIDriverKit. Every callback runs with dpm.core_lock held (dp_mac.h), after the
 * core checked the request: the function is listed and, but for config reads, held by
 * the connection.
 */
#include <DriverKit/IODMACommand.h>
#include <DriverKit/IOInterruptDispatchSource.h>
#include <DriverKit/IOUserClient.h>
#include "dp_mac.h"
#include "DartpassDriver.h"
#include "DartpassUserClient.h"

struct dpm_state dpm;

static struct dpm_conn *dpm_conn_of(struct dp_prov_conn *conn)
{
	return (struct dpm_conn *)conn->os;
}

/* ---- Config space ---- */

/*
 * Config space needs an Open() session; a function nobody holds gets one for the
 * access alone (the core reads identity and capabilities before CLAIM).
 * https://developer.apple.com/documentation/pcidriverkit/iopcidevice/open
 * https://developer.apple.com/documentation/pcidriverkit/iopcidevice/close
 * https://developer.apple.com/documentation/pcidriverkit/iopcidevice/configurationread8
 * https://developer.apple.com/documentation/pcidriverkit/iopcidevice/configurationread16
 * https://developer.apple.com/documentation/pcidriverkit/iopcidevice/configurationread32
 * https://developer.apple.com/documentation/pcidriverkit/iopcidevice/configurationwrite8
 * https://developer.apple.com/documentation/pcidriverkit/iopcidevice/configurationwrite16
 * https://developer.apple.com/documentation/pcidriverkit/iopcidevice/configurationwrite32
 */
static int dpm_cfg(struct dpm_fn *f, bool write, uint32_t off, uint32_t size, uint32_t *val)
{
	bool transient = !f->open;
	uint8_t v8;
	uint16_t v16;

	if (!f->pci)
		return PROV_S_IO;
	if (transient && f->pci->Open(f->svc, 0) != kIOReturnSuccess)
		return PROV_S_IO;
	switch (size) {
	case 1:
		if (write) {
			f->pci->ConfigurationWrite8(off, (uint8_t)*val);
		} else {
			f->pci->ConfigurationRead8(off, &v8);
			*val = v8;
		}
		break;
	case 2:
		if (write) {
			f->pci->ConfigurationWrite16(off, (uint16_t)*val);
		} else {
			f->pci->ConfigurationRead16(off, &v16);
			*val = v16;
		}
		break;
	default:
		if (write)
			f->pci->ConfigurationWrite32(off, *val);
		else
			f->pci->ConfigurationRead32(off, val);
		break;
	}
	if (transient)
		f->pci->Close(f->svc, 0);
	return PROV_S_OK;
}

static int dpm_config_read(void *os, unsigned int fn, uint32_t off, uint32_t size,
			   uint32_t *val)
{
	return dpm_cfg(&dpm.fns[fn], false, off, size, val);
}

static int dpm_config_write(void *os, unsigned int fn, uint32_t off, uint32_t size,
			    uint32_t val)
{
	return dpm_cfg(&dpm.fns[fn], true, off, size, &val);
}

/*
 * Memory decode on, as at CLAIM and after every reset; bus master stays as the client
 * wrote it. Apple's PCIe has no I/O space, so no BAR is lent that needs I/O decode.
 * The endpoint driver enables memory space and bus mastering itself; the system turns
 * them off when the driver crashes or is unloaded (IOPCIDevice overview).
 * https://developer.apple.com/documentation/pcidriverkit/iopcidevice
 * https://developer.apple.com/documentation/pcidriverkit/configuration-data-offsets-enum
 */
static void dpm_decode_on(struct dpm_fn *f)
{
	uint16_t cmd;

	f->pci->ConfigurationRead16(kIOPCIConfigurationOffsetCommand, &cmd);
	if (!(cmd & kIOPCICommandMemorySpace))
		f->pci->ConfigurationWrite16(kIOPCIConfigurationOffsetCommand,
					     cmd | kIOPCICommandMemorySpace);
}

/* ---- Interrupts ---- */

/*
 * Cancel completes asynchronously and the last handler may still be running, so the
 * source and its action are released in the cancel handler.
 * https://developer.apple.com/documentation/driverkit/iodispatchsource/cancel
 */
static void dpm_irq_disarm(struct dpm_fn *f, uint32_t v)
{
	IOInterruptDispatchSource *src = f->src[v];
	OSAction *act = f->act[v];

	f->src[v] = NULL;
	f->act[v] = NULL;
	src->SetEnable(false);
	src->Cancel(^{
		act->release();
		src->release();
	});
}

void dpm_irq_teardown(struct dpm_fn *f)
{
	uint32_t v;

	for (v = 0; v < f->nvec; v++)
		if (f->src[v])
			dpm_irq_disarm(f, v);
	free(f->src);
	free(f->act);
	f->src = NULL;
	f->act = NULL;
	f->nvec = 0;
	f->irq_type = DPM_IRQ_NONE;
}

/*
 * One source per vector on dpm.irq_queue, its action carrying the vector.
 * CreateActionInterruptOccurred is what iig generates for a method declared with
 * TYPE(IOInterruptDispatchSource::InterruptOccurred) (DartpassDriver.iig).
 * https://developer.apple.com/documentation/driverkit/type
 * https://developer.apple.com/documentation/driverkit/osaction/getreference
 * https://developer.apple.com/documentation/driverkit/iointerruptdispatchsource/create
 * https://developer.apple.com/documentation/driverkit/iointerruptdispatchsource/sethandler
 * https://developer.apple.com/documentation/driverkit/iodispatchsource/setenable
 */
static int dpm_irq_arm(struct dpm_fn *f, unsigned int fn, uint32_t type, uint32_t v)
{
	IOInterruptDispatchSource *src = NULL;
	OSAction *act = NULL;
	struct dpm_irq_ref *ref;

	if (IOInterruptDispatchSource::Create(f->pci, v, dpm.irq_queue, &src) != kIOReturnSuccess)
		return PROV_S_IO;
	/* CreateActionInterruptOccurred is generated by iig from the TYPE() method. */
	if (f->svc->CreateActionInterruptOccurred(sizeof(*ref), &act) != kIOReturnSuccess)
		goto release_src;
	ref = (struct dpm_irq_ref *)act->GetReference();
	*ref = dpm_irq_ref{ .fn = fn, .type = type, .vector = v };
	if (src->SetHandler(act) != kIOReturnSuccess)
		goto release_act;
	if (src->SetEnable(true) != kIOReturnSuccess)
		goto release_act;
	f->src[v] = src;
	f->act[v] = act;
	return PROV_S_OK;

release_act:
	act->release();
release_src:
	src->release();
	return PROV_S_IO;
}

/*
 * ConfigureInterrupts once per type, for every vector the function has, so that the
 * sources' indices are its vectors; one type at a time, as vfio-pci.
 * https://developer.apple.com/documentation/pcidriverkit/iopcidevice/configureinterrupts
 * https://developer.apple.com/documentation/pcidriverkit/interrupt-types-enum
 */
static int dpm_irq_enable(struct dpm_fn *f, unsigned int fn, uint32_t type, uint32_t start,
			  uint32_t count)
{
	uint64_t fresh[DPM_PENDING_WORDS] = { 0 };
	uint32_t n = f->irq_count[type], v;
	int st = PROV_S_OK;

	if (f->irq_type != DPM_IRQ_NONE && f->irq_type != type)
		return PROV_S_INVALID;
	if (f->irq_type == DPM_IRQ_NONE) {
		f->src = (IOInterruptDispatchSource **)calloc(n, sizeof(*f->src));
		f->act = (OSAction **)calloc(n, sizeof(*f->act));
		if (!f->src || !f->act ||
		    f->pci->ConfigureInterrupts(type == PROV_IRQ_MSIX ? kIOInterruptTypePCIMessagedX :
						kIOInterruptTypePCIMessaged, n, n, 0) != kIOReturnSuccess) {
			free(f->src);
			free(f->act);
			f->src = NULL;
			f->act = NULL;
			return PROV_S_IO;
		}
		f->irq_type = type;
		f->nvec = n;
	}
	for (v = start; v < start + count && !st; v++) {
		if (f->src[v])
			continue;
		st = dpm_irq_arm(f, fn, type, v);
		if (!st)
			fresh[v / 64] |= 1ull << (v % 64);
	}
	/* A refused ENABLE changes nothing: the vectors it armed go again. */
	for (v = start + count; st && v-- > start;)
		if (fresh[v / 64] & (1ull << (v % 64)))
			dpm_irq_disarm(f, v);
	return st;
}

static void dpm_pending_clear(struct dpm_fn *f, uint32_t type)
{
	unsigned int w;

	for (w = 0; w < DPM_PENDING_WORDS; w++)
		__atomic_store_n(&f->pending[type][w], 0, __ATOMIC_RELEASE);
}

static bool dpm_fn_has_pending(struct dpm_fn *f)
{
	unsigned int t, w;

	for (t = 0; t < PROV_IRQ_TYPES; t++)
		for (w = 0; w < DPM_PENDING_WORDS; w++)
			if (__atomic_load_n(&f->pending[t][w], __ATOMIC_ACQUIRE))
				return true;
	return false;
}

/* Drops fn from the handles with pending bits, unless a bit came back meanwhile. */
static void dpm_settle(struct dpm_fn *f, unsigned int fn)
{
	if (dpm_fn_has_pending(f))
		return;
	__atomic_fetch_and(&dpm.pending_fns, ~(1ull << fn), __ATOMIC_ACQ_REL);
	if (dpm_fn_has_pending(f))
		__atomic_fetch_or(&dpm.pending_fns, 1ull << fn, __ATOMIC_ACQ_REL);
}

static int dpm_irq_set(void *os, unsigned int fn, const struct prov_irq_req *req,
		       const int *fds, unsigned int nfds)
{
	struct dpm_fn *f = &dpm.fns[fn];

	if (!f->pci)
		return PROV_S_IO;
	switch (req->action) {
	case PROV_IRQ_ENABLE:
		return dpm_irq_enable(f, fn, req->type, req->start, req->count);
	case PROV_IRQ_DISABLE:
		if (f->irq_type == req->type)
			dpm_irq_teardown(f);
		dpm_pending_clear(f, req->type);
		dpm_settle(f, fn);
		return PROV_S_OK;
	default:
		/* EVENTFD is never agreed here; MASK and UNMASK need INTx, never listed. */
		return PROV_S_UNSUPPORTED;
	}
}

static uint64_t dpm_take(uint64_t *word, uint64_t mask)
{
	return __atomic_fetch_and(word, ~mask, __ATOMIC_ACQ_REL) & mask;
}

/* Reads and clears up to 64 bits from start; the core checked the range. */
static int dpm_irq_pending(void *os, unsigned int fn, uint32_t type, uint32_t start,
			   uint32_t count, uint64_t *bits)
{
	struct dpm_fn *f = &dpm.fns[fn];
	uint64_t *p = f->pending[type];
	uint64_t m = count == 64 ? ~0ull : (1ull << count) - 1;
	uint32_t w = start / 64, sh = start % 64;

	*bits = dpm_take(&p[w], m << sh) >> sh;
	if (sh && count > 64 - sh)
		*bits |= dpm_take(&p[w + 1], m >> (64 - sh)) << (64 - sh);
	dpm_settle(f, fn);
	return PROV_S_OK;
}

/* What telling c takes, held past irq_lock; the caller holds irq_lock. */
struct dpm_note {
	OSAction *act;
	DartpassUserClient *uc;
	IOUserClientAsyncArgumentsArray args;
};

static bool dpm_note_take(struct dpm_conn *c, struct dpm_note *n)
{
	if (!c || !c->notify)
		return false;
	n->act = c->notify;
	n->uc = c->uc;
	n->act->retain();
	n->uc->retain();
	/* One argument: the handles of c's functions that have bits pending. */
	n->args[0] = __atomic_load_n(&dpm.pending_fns, __ATOMIC_ACQUIRE) & c->owned;
	return true;
}

/* https://developer.apple.com/documentation/driverkit/iouserclient/asynccompletion */
static void dpm_note_send(struct dpm_note *n)
{
	n->uc->AsyncCompletion(n->act, kIOReturnSuccess, n->args, 1);
	n->act->release();
	n->uc->release();
}

/*
 * On dpm.irq_queue: atomics and irq_lock only, never the core. The holder is looked
 * up and its completion retained under irq_lock, which RELEASE takes to clear it: a
 * connection that ends meanwhile is never touched, only the objects retained here.
 */
void dpm_irq_fired(const struct dpm_irq_ref *ref)
{
	struct dpm_fn *f = &dpm.fns[ref->fn];
	struct dpm_note n = {};
	bool send;

	__atomic_fetch_or(&f->pending[ref->type][ref->vector / 64], 1ull << (ref->vector % 64),
			  __ATOMIC_ACQ_REL);
	__atomic_fetch_or(&dpm.pending_fns, 1ull << ref->fn, __ATOMIC_ACQ_REL);
	IOLockLock(dpm.irq_lock);
	send = dpm_note_take(f->conn, &n);
	IOLockUnlock(dpm.irq_lock);
	if (send)
		dpm_note_send(&n);
}

/*
 * NOTIFY: the dispatcher staged the completion of this asynchronous call; it replaces
 * the one registered before. Bits already pending are told at once, so none waits for
 * the next interrupt.
 */
static int dpm_notify(void *os, struct dp_prov_conn *conn, int *rep_fd)
{
	struct dpm_conn *c = dpm_conn_of(conn);
	OSAction *old;

	(void)rep_fd;	/* no descriptors on macOS */
	if (!c->staged)
		return PROV_S_UNSUPPORTED;
	IOLockLock(dpm.irq_lock);
	old = c->notify;
	c->notify = c->staged;
	c->staged = NULL;
	IOLockUnlock(dpm.irq_lock);
	if (old)
		old->release();
	if (__atomic_load_n(&dpm.pending_fns, __ATOMIC_ACQUIRE) & c->owned) {
		struct dpm_note n = {};
		bool send;

		IOLockLock(dpm.irq_lock);
		send = dpm_note_take(c, &n);
		IOLockUnlock(dpm.irq_lock);
		if (send)
			dpm_note_send(&n);
	}
	return PROV_S_OK;
}

/* ---- Claim, release, reset ---- */

/* A hot reset resets the whole bus: only when no other connection holds a function on it. */
static bool dpm_bus_is_ours(const struct dpm_fn *f)
{
	unsigned int i;

	for (i = 0; i < dpm.prov.nr_fns; i++) {
		const struct dpm_fn *o = &dpm.fns[i];

		if (o->rid >> 8 == f->rid >> 8 && o->conn && o->conn != f->conn)
			return false;
	}
	return true;
}

/*
 * Function-level reset, else a hot reset of its bridge.
 * https://developer.apple.com/documentation/pcidriverkit/iopcidevice/reset
 * https://developer.apple.com/documentation/pcidriverkit/tiopcideviceresettypes
 */
static int dpm_do_reset(struct dpm_fn *f, uint32_t *method)
{
	if (f->pci->Reset(kIOPCIDeviceResetTypeFunctionReset, kIOPCIDeviceResetOptionNone) ==
	    kIOReturnSuccess)
		*method = PROV_RESET_FLR;
	else if (dpm_bus_is_ours(f) &&
		 f->pci->Reset(kIOPCIDeviceResetTypeHotReset, kIOPCIDeviceResetOptionNone) ==
		 kIOReturnSuccess)
		*method = PROV_RESET_BUS;
	else
		return PROV_S_UNSUPPORTED;
	dpm_decode_on(f);
	return PROV_S_OK;
}

static int dpm_reset(void *os, unsigned int fn, uint32_t *method)
{
	struct dpm_fn *f = &dpm.fns[fn];

	if (!f->pci)
		return PROV_S_IO;
	return dpm_do_reset(f, method);
}

static int dpm_claim(void *os, struct dp_prov_conn *conn, unsigned int fn,
		     struct prov_claim_rep *rep)
{
	struct dpm_conn *c = dpm_conn_of(conn);
	struct dpm_fn *f = &dpm.fns[fn];
	unsigned int i;

	if (!f->pci)
		return PROV_S_IO;
	/* Another connection may still map one of its BARs (see dpm_fn.mapper). */
	if (f->mapper && f->mapper != c)
		return PROV_S_BUSY;
	/* Exclusive: fails while anyone else has a session. */
	if (f->pci->Open(f->svc, 0) != kIOReturnSuccess)
		return PROV_S_BUSY;
	f->open = true;
	dpm_decode_on(f);
	for (i = 0; i < DPM_BARS; i++)
		rep->regions[i] = f->bars[i];
	rep->regions[PROV_REGION_CONFIG].size = f->cfg_size;
	rep->regions[PROV_REGION_CONFIG].flags = PROV_REGION_READ | PROV_REGION_WRITE;
	/* INTx stays 0: DriverKit delivers message-signalled interrupts only (spec). */
	rep->irqs[PROV_IRQ_MSI].count = f->irq_count[PROV_IRQ_MSI];
	rep->irqs[PROV_IRQ_MSIX].count = f->irq_count[PROV_IRQ_MSIX];
	IOLockLock(dpm.irq_lock);
	f->conn = c;
	c->owned |= 1ull << fn;
	IOLockUnlock(dpm.irq_lock);
	return PROV_S_OK;
}

static void dpm_release(void *os, struct dp_prov_conn *conn, unsigned int fn)
{
	struct dpm_conn *c = dpm_conn_of(conn);
	struct dpm_fn *f = &dpm.fns[fn];
	uint32_t method, t;
	unsigned int i;

	if (f->pci) {
		dpm_irq_teardown(f);
		dpm_do_reset(f, &method);
	}
	/* The client's own mappings stay until it ends; new ones need a new CLAIM. */
	for (i = 0; i < DPM_BARS; i++)
		OSSafeReleaseNULL(c->bar_md[fn][i]);
	IOLockLock(dpm.irq_lock);
	f->conn = NULL;
	c->owned &= ~(1ull << fn);
	IOLockUnlock(dpm.irq_lock);
	for (t = 0; t < PROV_IRQ_TYPES; t++)
		dpm_pending_clear(f, t);
	dpm_settle(f, fn);
	if (f->open) {
		f->pci->Close(f->svc, 0);
		f->open = false;
	}
}

/* ---- Regions ---- */

/* The BAR itself is lent by DartpassUserClient::CopyClientMemoryForType. */
static int dpm_region_map(void *os, unsigned int fn, uint32_t region,
			  struct prov_region_map_rep *rep, int *fd)
{
	struct dpm_fn *f = &dpm.fns[fn];

	*fd = -1;
	if (!f->pci || region >= DPM_BARS)
		return PROV_S_IO;
	rep->size = f->bars[region].size;
	rep->offset = DPM_MEMTYPE(fn, region);
	rep->flags = PROV_REGION_READ | PROV_REGION_WRITE;
	return PROV_S_OK;
}

/*
 * The MemoryReadN without options (each has an overload with IOOptionBits).
 * https://developer.apple.com/documentation/pcidriverkit/iopcidevice/memoryread8-1edw0
 * https://developer.apple.com/documentation/pcidriverkit/iopcidevice/memoryread16-9qkdh
 * https://developer.apple.com/documentation/pcidriverkit/iopcidevice/memoryread32-60hg9
 * https://developer.apple.com/documentation/pcidriverkit/iopcidevice/memoryread64-9ntrf
 */
static int dpm_region_read(void *os, unsigned int fn, uint32_t region, uint64_t off,
			   uint32_t size, uint64_t *val)
{
	struct dpm_fn *f = &dpm.fns[fn];
	uint8_t idx, v8;
	uint16_t v16;
	uint32_t v32;

	if (!f->pci || region >= DPM_BARS)
		return PROV_S_IO;
	idx = f->mem_index[region];
	switch (size) {
	case 1:
		f->pci->MemoryRead8(idx, off, &v8);
		*val = v8;
		break;
	case 2:
		f->pci->MemoryRead16(idx, off, &v16);
		*val = v16;
		break;
	case 4:
		f->pci->MemoryRead32(idx, off, &v32);
		*val = v32;
		break;
	default:
		f->pci->MemoryRead64(idx, off, val);
		break;
	}
	return PROV_S_OK;
}

/*
 * The MemoryWriteN without options (each has an overload with IOOptionBits).
 * https://developer.apple.com/documentation/pcidriverkit/iopcidevice/memorywrite8-fzh6
 * https://developer.apple.com/documentation/pcidriverkit/iopcidevice/memorywrite16-8k6ch
 * https://developer.apple.com/documentation/pcidriverkit/iopcidevice/memorywrite32-ow7r
 * https://developer.apple.com/documentation/pcidriverkit/iopcidevice/memorywrite64-8qyob
 */
static int dpm_region_write(void *os, unsigned int fn, uint32_t region, uint64_t off,
			    uint32_t size, uint64_t val)
{
	struct dpm_fn *f = &dpm.fns[fn];
	uint8_t idx;

	if (!f->pci || region >= DPM_BARS)
		return PROV_S_IO;
	idx = f->mem_index[region];
	switch (size) {
	case 1:
		f->pci->MemoryWrite8(idx, off, (uint8_t)val);
		break;
	case 2:
		f->pci->MemoryWrite16(idx, off, (uint16_t)val);
		break;
	case 4:
		f->pci->MemoryWrite32(idx, off, (uint32_t)val);
		break;
	default:
		f->pci->MemoryWrite64(idx, off, val);
		break;
	}
	return PROV_S_OK;
}

/* ---- DMA ---- */

/*
 * One descriptor per direction, so each mapping gets only the access its entry asks:
 * kIOMemoryDirectionOut makes the memory readable by the device, In writable.
 * https://developer.apple.com/documentation/driverkit/iouserclient/creatememorydescriptorfromclient
 */
static int dpm_dma_memory(void *os, struct dp_prov_conn *conn, uint64_t size, uint64_t base,
			  int fd)
{
	/* By perm - 1: device reads (READ), device writes (WRITE), both. */
	static const uint64_t dir[3] = {
		kIOMemoryDirectionOut, kIOMemoryDirectionIn, kIOMemoryDirectionOutIn,
	};
	struct dpm_conn *c = dpm_conn_of(conn);
	IOAddressSegment seg = { .address = base, .length = size };
	unsigned int i;

	if (fd != -1)
		return PROV_S_BAD_FD;
	/* A granule of memory is a DART page: its bus address is aligned only if it is. */
	if (base % DPM_GRANULE)
		return PROV_S_INVALID;
	for (i = 0; i < 3; i++) {
		if (c->uc->CreateMemoryDescriptorFromClient(dir[i], 1, &seg, &c->mem[i]) !=
		    kIOReturnSuccess) {
			while (i--)
				OSSafeReleaseNULL(c->mem[i]);
			return PROV_S_BAD_ADDRESS;
		}
	}
	c->mem_base = base;
	c->mem_size = size;
	return PROV_S_OK;
}

/*
 * The DART of the connection's first function maps for all of them: the functions of
 * one Thunderbolt device sit behind one DART (docs/macos.md, open questions).
 */
static IOPCIDevice *dpm_dma_device(const struct dpm_conn *c)
{
	unsigned int i;

	for (i = 0; i < dpm.prov.nr_fns; i++)
		if ((c->owned & (1ull << i)) && dpm.fns[i].pci)
			return dpm.fns[i].pci;
	return NULL;
}

/*
 * The DART chooses the bus address. A range the DART returns in several pieces is cut
 * to its first piece, whole granules, and prepared again: pvdma's mapped then says less
 * than asked and the guest maps the rest as a further request.
 * https://developer.apple.com/documentation/driverkit/iodmacommand/create
 * https://developer.apple.com/documentation/driverkit/iodmacommand/preparefordma
 * https://developer.apple.com/documentation/driverkit/iodmacommand/completedma
 */
static int dpm_dma_map(void *os, struct dp_prov_conn *conn, uint64_t off, uint64_t *size,
		       unsigned int perm, uint64_t *iova)
{
	struct dpm_conn *c = dpm_conn_of(conn);
	IODMACommandSpecification spec = {};
	IOPCIDevice *dev = dpm_dma_device(c);
	IOAddressSegment segs[32];
	uint64_t len = *size, flags, next;
	uint32_t nseg;
	struct dpm_map *m;

	if (!dev || perm < 1 || perm > 3 || !c->mem[perm - 1])
		return PROV_S_IO;
	m = (struct dpm_map *)calloc(1, sizeof(*m));
	if (!m)
		return PROV_S_IO;
	spec.options = kIODMACommandSpecificationNoOptions;
	spec.maxAddressBits = DPM_IOVA_BITS;
	if (IODMACommand::Create(dev, kIODMACommandCreateNoOptions, &spec, &m->cmd) !=
	    kIOReturnSuccess)
		goto free_map;
	for (;;) {
		nseg = 32;
		flags = 0;
		if (m->cmd->PrepareForDMA(kIODMACommandPrepareForDMANoOptions, c->mem[perm - 1],
					  off, len, &flags, &nseg, segs) != kIOReturnSuccess)
			goto release_cmd;
		if (nseg == 1 && !(segs[0].address % DPM_GRANULE) && segs[0].length >= len)
			break;
		next = nseg && !(segs[0].address % DPM_GRANULE) ?
		       DP_ALIGN_DOWN(segs[0].length, DPM_GRANULE) : 0;
		m->cmd->CompleteDMA(kIODMACommandCompleteDMANoOptions);
		if (!next || next >= len)
			goto release_cmd;
		len = next;
	}
	m->size = len;
	m->node.key = segs[0].address;
	dp_tree_insert(&c->maps, &m->node);
	*iova = segs[0].address;
	*size = len;
	return PROV_S_OK;

release_cmd:
	m->cmd->release();
free_map:
	free(m);
	return PROV_S_IO;
}

static void dpm_map_free(struct dpm_conn *c, struct dpm_map *m)
{
	dp_tree_remove(&c->maps, &m->node);
	m->cmd->CompleteDMA(kIODMACommandCompleteDMANoOptions);
	m->cmd->release();
	free(m);
}

/* The core names only live mappings, with the iova and size dma_map returned. */
static void dpm_dma_unmap(void *os, struct dp_prov_conn *conn, uint64_t iova, uint64_t size)
{
	struct dpm_conn *c = dpm_conn_of(conn);
	struct dp_tree_node *n = dp_tree_floor(&c->maps, iova, 0);

	if (n && n->key == iova)
		dpm_map_free(c, dp_tree_entry(n, struct dpm_map, node));
}

/* ---- Connections ---- */

void dpm_conn_drop(struct dpm_conn *c)
{
	OSAction *notify, *staged;
	unsigned int i, b;

	/* The core unmapped everything; whatever is left is released regardless. */
	while (c->maps.root)
		dpm_map_free(c, dp_tree_entry(c->maps.root, struct dpm_map, node));
	for (i = 0; i < 3; i++)
		OSSafeReleaseNULL(c->mem[i]);
	for (i = 0; i < PROV_MAX_FUNCTIONS; i++) {
		for (b = 0; b < DPM_BARS; b++)
			OSSafeReleaseNULL(c->bar_md[i][b]);
		if (dpm.fns[i].mapper == c)
			dpm.fns[i].mapper = NULL;
	}
	IOLockLock(dpm.irq_lock);
	notify = c->notify;
	staged = c->staged;
	c->notify = NULL;
	c->staged = NULL;
	IOLockUnlock(dpm.irq_lock);
	if (notify)
		notify->release();
	if (staged)
		staged->release();
}

static void dpm_conn_gone(void *os, struct dp_prov_conn *conn)
{
	dpm_conn_drop(dpm_conn_of(conn));
}

const struct dp_prov_os_ops dpm_os_ops = {
	.config_read = dpm_config_read,
	.config_write = dpm_config_write,
	.claim = dpm_claim,
	.release = dpm_release,
	.region_map = dpm_region_map,
	.region_read = dpm_region_read,
	.region_write = dpm_region_write,
	.irq_set = dpm_irq_set,
	.irq_pending = dpm_irq_pending,
	.reset = dpm_reset,
	.dma_memory = dpm_dma_memory,
	.dma_map = dpm_dma_map,
	.dma_unmap = dpm_dma_unmap,
	.conn_gone = dpm_conn_gone,
	.notify = dpm_notify,
};

/* ---- Functions ---- */

/*
 * Capabilities by ID (PCI spec): 0x05 MSI, 0x10 PCI Express, 0x11 MSI-X.
 * https://developer.apple.com/documentation/pcidriverkit/iopcidevice/findpcicapability
 * https://developer.apple.com/documentation/pcidriverkit/iopcidevice/getbarinfo
 * https://developer.apple.com/documentation/pcidriverkit/iopcibartype
 */
static void dpm_probe(struct dpm_fn *f)
{
	uint64_t cap, bar_size;
	uint16_t ctl;
	uint8_t idx, type;
	unsigned int i;

	f->cfg_size = f->pci->FindPCICapability(0x10, 0, &cap) == kIOReturnSuccess ? 4096 : 256;
	f->irq_count[PROV_IRQ_INTX] = 0;
	f->irq_count[PROV_IRQ_MSI] = 0;
	f->irq_count[PROV_IRQ_MSIX] = 0;
	if (f->pci->FindPCICapability(0x05, 0, &cap) == kIOReturnSuccess && cap) {
		f->pci->ConfigurationRead16(cap + 2, &ctl);
		f->irq_count[PROV_IRQ_MSI] = 1u << ((ctl >> 1) & 7);	/* Multiple Message Capable */
	}
	if (f->pci->FindPCICapability(0x11, 0, &cap) == kIOReturnSuccess && cap) {
		f->pci->ConfigurationRead16(cap + 2, &ctl);
		f->irq_count[PROV_IRQ_MSIX] = (ctl & 0x7ff) + 1;	/* Table Size */
	}
	for (i = 0; i < DPM_BARS; i++) {
		struct prov_region *r = &f->bars[i];

		*r = prov_region{};
		if (f->pci->GetBARInfo(i, &idx, &bar_size, &type) != kIOReturnSuccess ||
		    !bar_size || type == kPCIBARTypeIO)
			continue;
		f->mem_index[i] = idx;
		r->size = bar_size;
		r->flags = PROV_REGION_READ | PROV_REGION_WRITE;
		if (type == kPCIBARTypeM64 || type == kPCIBARTypeM64PF)
			r->flags |= PROV_REGION_MEM64;
		if (type == kPCIBARTypeM32PF || type == kPCIBARTypeM64PF)
			r->flags |= PROV_REGION_PREFETCH;
		/*
		 * The client maps whole 16 KiB pages: a smaller BAR would lend its page's
		 * neighbours too, so it goes through REGION_READ and REGION_WRITE only.
		 */
		if (!(bar_size % DPM_GRANULE))
			r->flags |= PROV_REGION_MMAP;
	}
}

int dpm_fn_attach(DartpassDriver *svc, IOPCIDevice *pci)
{
	uint8_t bus, dev, func;
	unsigned int i, fn;
	struct dpm_fn *f;
	uint32_t rid;
	int st = PROV_S_OK;

	/* https://developer.apple.com/documentation/pcidriverkit/iopcidevice/getbusdevicefunction */
	pci->GetBusDeviceFunction(&bus, &dev, &func);
	rid = PVDMA_RID(0u, (uint32_t)bus, (uint32_t)(dev << 3 | func));
	IOLockLock(dpm.core_lock);
	/* Plugged again: the handle is kept, so a client's view of the list stays. */
	for (i = 0; i < dpm.prov.nr_fns && (dpm.fns[i].rid != rid || dpm.fns[i].svc); i++)
		;
	if (i == dpm.prov.nr_fns && i == PROV_MAX_FUNCTIONS) {
		st = PROV_S_INVALID;
		goto unlock;
	}
	f = &dpm.fns[i];
	if (i == dpm.prov.nr_fns)
		*f = dpm_fn{ .irq_type = DPM_IRQ_NONE };
	if (pci->Open(svc, 0) != kIOReturnSuccess) {
		st = PROV_S_BUSY;
		goto unlock;
	}
	pci->retain();
	f->svc = svc;
	f->pci = pci;
	f->rid = rid;
	f->open = true;		/* for dpm_cfg during the probe and add_function */
	dpm_probe(f);
	/* No way to deliver its interrupts: not listed (spec, Interrupts/macOS). */
	if (!f->irq_count[PROV_IRQ_MSI] && !f->irq_count[PROV_IRQ_MSIX])
		st = PROV_S_UNSUPPORTED;
	else if (i == dpm.prov.nr_fns)
		st = dp_prov_add_function(&dpm.prov, rid, &fn);
	pci->Close(svc, 0);
	f->open = false;
	if (st) {
		pci->release();
		f->svc = NULL;
		f->pci = NULL;
	}
unlock:
	IOLockUnlock(dpm.core_lock);
	DPM_LOG("%02x:%02x.%u: %{public}s", bus, dev, func,
		st ? dp_prov_status_name(st) : "listed");
	return st;
}

void dpm_fn_detach(DartpassDriver *svc)
{
	unsigned int i;

	IOLockLock(dpm.core_lock);
	for (i = 0; i < dpm.prov.nr_fns; i++) {
		struct dpm_fn *f = &dpm.fns[i];

		if (f->svc != svc)
			continue;
		dpm_irq_teardown(f);
		if (f->open)
			f->pci->Close(svc, 0);
		f->open = false;
		f->pci->release();
		f->pci = NULL;
		f->svc = NULL;
	}
	IOLockUnlock(dpm.core_lock);
}

/* ---- Process set-up ---- */

/* Services start on their own queues, maybe at once: the first one sets up. */
bool dpm_global_init(void)
{
	static uint32_t state;		/* 0 not yet, 1 under way, 2 ready, 3 failed */
	uint32_t expect = 0;
	struct dp_prov_config cfg = {};

	if (!__atomic_compare_exchange_n(&state, &expect, 1, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE)) {
		while (__atomic_load_n(&state, __ATOMIC_ACQUIRE) == 1)
			IOSleep(1);
		return __atomic_load_n(&state, __ATOMIC_ACQUIRE) == 2;
	}
	cfg.dart.aperture_base = 0;
	cfg.dart.aperture_size = 1ull << DPM_IOVA_BITS;
	cfg.dart.granule_shift = DPM_GRANULE_SHIFT;
	cfg.dart.max_mappings = DPM_MAX_MAPPINGS;
	cfg.dart.max_bytes = DPM_MAX_BYTES;
	cfg.max_batch = PROV_MAX_BATCH;
	cfg.features = PROV_F_IRQ_PENDING;
	cfg.os_iova = true;
	/*
	 * https://developer.apple.com/documentation/driverkit/iolockalloc
	 * https://developer.apple.com/documentation/driverkit/iolocklock
	 * https://developer.apple.com/documentation/driverkit/iolockunlock
	 * https://developer.apple.com/documentation/driverkit/iosleep
	 * https://developer.apple.com/documentation/driverkit/iodispatchqueue/create
	 */
	dpm.core_lock = IOLockAlloc();
	dpm.irq_lock = IOLockAlloc();
	if (!dpm.core_lock || !dpm.irq_lock ||
	    IODispatchQueue::Create("dartpass.core", 0, 0, &dpm.core_queue) != kIOReturnSuccess ||
	    IODispatchQueue::Create("dartpass.irq", 0, 0, &dpm.irq_queue) != kIOReturnSuccess ||
	    dp_prov_init(&dpm.prov, &cfg, &dpm_os_ops, NULL) != PROV_S_OK) {
		DPM_LOG("cannot set up the provider");
		__atomic_store_n(&state, 3, __ATOMIC_RELEASE);
		return false;
	}
	dpm.ready = true;
	__atomic_store_n(&state, 2, __ATOMIC_RELEASE);
	return true;
}
