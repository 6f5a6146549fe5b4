// SPDX-License-Identifier: (GPL-2.0 OR MIT)
/*
 * The transport: one user client is one connection. Each op is the external method
 * whose selector is the op, its structure input the request and its structure output
 * the reply (include/provider_proto.h). IOKit checks the sizes of fixed-size messages
 * against one dispatch table before the core sees them; everything else, the core
 * checks. ExternalMethod runs on dpm.core_queue; Start, Stop and
 * CopyClientMemoryForType on this object's default queue; all take dpm.core_lock.
 */
#include <DriverKit/IOUserServer.h>
#include <DriverKit/IOLib.h>
#include <DriverKit/OSData.h>
#include <DriverKit/IOMemoryMap.h>
#include "dp_mac.h"
#include "DartpassDriver.h"
#include "DartpassUserClient.h"

#define HDR	sizeof(struct prov_hdr)
#define VAR	kIOUserClientVariableStructureSize

struct DartpassUserClient_IVars {
	struct dpm_conn *conn;	/* NULL until Start opened it with the core */
};

static kern_return_t dpm_method(OSObject *target, void *reference,
				IOUserClientMethodArguments *a);

/*
 * Indexed by selector, which is the op. Sizes are whole messages, header included:
 * exact where the op's messages have one size (the reply: its OK size; a refusal is
 * the 16-byte header alone, which fits), variable for HELLO's reply and DMA. NOTIFY
 * must be called asynchronously, every other op synchronously.
 * https://developer.apple.com/documentation/driverkit/iouserclientmethoddispatch
 */
#define DPM_SYNC(in, out)	{ dpm_method, false, 0, (uint32_t)(in), 0, (uint32_t)(out) }
static const IOUserClientMethodDispatch dpm_methods[] = {
	/* 0: no op */			{ NULL, false, 0, 0, 0, 0 },
	/* HELLO */			DPM_SYNC(HDR + sizeof(struct prov_hello_req), VAR),
	/* CLAIM */			DPM_SYNC(HDR, HDR + sizeof(struct prov_claim_rep)),
	/* RELEASE */			DPM_SYNC(HDR, HDR),
	/* CONFIG_READ */		DPM_SYNC(HDR + sizeof(struct prov_config_req),
						 HDR + sizeof(struct prov_config_rep)),
	/* CONFIG_WRITE */		DPM_SYNC(HDR + sizeof(struct prov_config_req),
						 HDR + sizeof(struct prov_config_rep)),
	/* REGION_MAP */		DPM_SYNC(HDR + sizeof(struct prov_region_map_req),
						 HDR + sizeof(struct prov_region_map_rep)),
	/* REGION_READ */		DPM_SYNC(HDR + sizeof(struct prov_region_req),
						 HDR + sizeof(struct prov_region_rep)),
	/* REGION_WRITE */		DPM_SYNC(HDR + sizeof(struct prov_region_req),
						 HDR + sizeof(struct prov_region_rep)),
	/* IRQ_SET */			DPM_SYNC(HDR + sizeof(struct prov_irq_req), HDR),
	/* IRQ_PENDING */		DPM_SYNC(HDR + sizeof(struct prov_irq_req),
						 HDR + sizeof(struct prov_irq_pending_rep)),
	/* DMA_MEMORY */		DPM_SYNC(HDR + sizeof(struct prov_dma_memory_req), HDR),
	/* DMA */			DPM_SYNC(VAR, VAR),
	/* RESET */			DPM_SYNC(HDR, HDR + sizeof(struct prov_reset_rep)),
	/* COUNTERS */			DPM_SYNC(HDR, HDR + sizeof(struct prov_counters)),
	/* NOTIFY */			{ dpm_method, true, 0, (uint32_t)HDR, 0, (uint32_t)HDR },
};
static_assert(sizeof(dpm_methods) / sizeof(dpm_methods[0]) == PROV_OP_COUNT,
	      "one dispatch entry per op");

bool DartpassUserClient::init()
{
	if (!super::init())
		return false;
	ivars = IONewZero(DartpassUserClient_IVars, 1);
	return ivars != NULL;
}

void DartpassUserClient::free()
{
	IOSafeDeleteNULL(ivars, DartpassUserClient_IVars, 1);
	super::free();
}

/*
 * Every connection's external methods run on the one core queue.
 * https://developer.apple.com/documentation/driverkit/ioservice/start
 * https://developer.apple.com/documentation/driverkit/ioservice/stop
 * https://developer.apple.com/documentation/driverkit/ioservice/setdispatchqueue
 * https://developer.apple.com/documentation/driverkit/iolocklock
 * https://developer.apple.com/documentation/driverkit/iolockunlock
 */
kern_return_t IMPL(DartpassUserClient, Start)
{
	struct dpm_conn *c;
	kern_return_t kr;
	int st;

	kr = Start(provider, SUPERDISPATCH);
	if (kr != kIOReturnSuccess)
		return kr;
	if (!dpm_global_init()) {
		kr = kIOReturnNoResources;
		goto stop;
	}
	kr = SetDispatchQueue(kIOUserClientQueueNameExternalMethod, dpm.core_queue);
	if (kr != kIOReturnSuccess)
		goto stop;
	c = (struct dpm_conn *)calloc(1, sizeof(*c));
	if (!c) {
		kr = kIOReturnNoMemory;
		goto stop;
	}
	c->uc = this;
	IOLockLock(dpm.core_lock);
	st = dp_prov_conn_open(&dpm.prov, &c->core, c);
	IOLockUnlock(dpm.core_lock);
	if (st != PROV_S_OK) {
		kr = kIOReturnNoMemory;
		goto free_conn;
	}
	ivars->conn = c;
	return kIOReturnSuccess;

free_conn:
	free(c);
stop:
	Stop(provider, SUPERDISPATCH);
	return kr;
}

/*
 * The client closed the connection (IOServiceClose) or its process died: the core
 * releases every function, removes every mapping and drops the DMA memory.
 */
kern_return_t IMPL(DartpassUserClient, Stop)
{
	struct dpm_conn *c = ivars->conn;

	if (c) {
		IOLockLock(dpm.core_lock);
		dp_prov_conn_close(&c->core);
		ivars->conn = NULL;
		IOLockUnlock(dpm.core_lock);
		free(c);
	}
	return Stop(provider, SUPERDISPATCH);
}

/*
 * Each selector gets its own dispatch entry; super checks it and calls dpm_method.
 * https://developer.apple.com/documentation/driverkit/iouserclient/externalmethod
 */
kern_return_t DartpassUserClient::ExternalMethod(uint64_t selector,
						 IOUserClientMethodArguments *arguments,
						 const IOUserClientMethodDispatch *dispatch,
						 OSObject *target, void *reference)
{
	if (selector < 1 || selector >= PROV_OP_COUNT)
		return kIOReturnBadArgument;
	return super::ExternalMethod(selector, arguments, &dpm_methods[selector], this, NULL);
}

/*
 * The request into dpm.req, so the client cannot change it while the core reads it.
 * Above 4 KiB it arrives as a descriptor of the client's buffer, mapped here.
 * https://developer.apple.com/documentation/driverkit/iouserclientmethodarguments/structureinputdescriptor
 * https://developer.apple.com/documentation/driverkit/iomemorydescriptor/createmapping
 * https://developer.apple.com/documentation/driverkit/iomemorymap/getaddress
 * https://developer.apple.com/documentation/driverkit/iomemorymap/getlength
 * https://developer.apple.com/documentation/driverkit/osdata/getlength
 * (OSData::getBytesNoCopy: two overload pages, getbytesnocopy-53puz and -91vcg.)
 */
static kern_return_t dpm_copy_in(IOUserClientMethodArguments *a, size_t *len)
{
	IOMemoryMap *map = NULL;
	uint64_t n = 0;
	kern_return_t kr;

	if (a->structureInput) {
		n = a->structureInput->getLength();
		memcpy(dpm.req, a->structureInput->getBytesNoCopy(),
		       n < PROV_MAX_MSG ? n : PROV_MAX_MSG);
	} else if (a->structureInputDescriptor) {
		kr = a->structureInputDescriptor->CreateMapping(kIOMemoryMapReadOnly, 0, 0, 0, 0,
								&map);
		if (kr != kIOReturnSuccess)
			return kr;
		n = map->GetLength();
		memcpy(dpm.req, (const void *)map->GetAddress(),
		       n < PROV_MAX_MSG ? n : PROV_MAX_MSG);
		map->release();
	}
	*len = n;
	return kIOReturnSuccess;
}

/*
 * Room the client gave for the reply.
 * https://developer.apple.com/documentation/driverkit/iomemorydescriptor/getlength
 */
static uint64_t dpm_out_room(IOUserClientMethodArguments *a)
{
	uint64_t n = 0;

	if (a->structureOutputDescriptor)
		return a->structureOutputDescriptor->GetLength(&n) == kIOReturnSuccess ? n : 0;
	return a->structureOutputMaximumSize;
}

/*
 * The reply: an OSData up to 4 KiB, else into the descriptor the client passed (the
 * API forbids setting structureOutput then). Its length is in its header.
 * https://developer.apple.com/documentation/driverkit/iouserclientmethodarguments/structureoutputdescriptor
 * https://developer.apple.com/documentation/driverkit/osdata/withbytes
 */
static kern_return_t dpm_copy_out(IOUserClientMethodArguments *a, size_t n)
{
	IOMemoryMap *map = NULL;
	kern_return_t kr;

	if (a->structureOutputDescriptor) {
		kr = a->structureOutputDescriptor->CreateMapping(0, 0, 0, 0, 0, &map);
		if (kr != kIOReturnSuccess)
			return kr;
		if (map->GetLength() < n) {
			map->release();
			return kIOReturnNoSpace;
		}
		memcpy((void *)map->GetAddress(), dpm.rep, n);
		map->release();
		return kIOReturnSuccess;
	}
	a->structureOutput = OSData::withBytes(dpm.rep, n);
	return a->structureOutput ? kIOReturnSuccess : kIOReturnNoMemory;
}

/* One request, with dpm.core_lock held; the status travels in the reply. */
static kern_return_t dpm_serve(struct dpm_conn *c, IOUserClientMethodArguments *a)
{
	uint64_t need = 0;
	uint16_t op;
	size_t len, n;
	kern_return_t kr;
	int fd;

	kr = dpm_copy_in(a, &len);
	if (kr != kIOReturnSuccess)
		return kr;
	/*
	 * The core answers whatever it is given, changes included, so a reply the client
	 * left no room for is refused before: HELLO lists every function, DMA answers as
	 * long as it asked.
	 */
	if (a->selector == PROV_OP_HELLO)
		need = sizeof(struct prov_hdr) + sizeof(struct prov_hello_rep) +
		       dpm.prov.nr_fns * sizeof(struct prov_function);
	else if (a->selector == PROV_OP_DMA)
		need = len;
	if (dpm_out_room(a) < need)
		return kIOReturnNoSpace;
	if (len >= sizeof(op))
		memcpy(&op, dpm.req, sizeof(op));
	if (len >= sizeof(op) && op != a->selector) {
		/* A header whose op differs from the selector is INVALID (transport). */
		n = dp_prov_refuse(&c->core, dpm.req, len, PROV_S_INVALID, dpm.rep);
	} else {
		/* NOTIFY's completion waits here for the core's notify callback to adopt it. */
		if (a->selector == PROV_OP_NOTIFY) {
			a->completion->retain();
			c->staged = a->completion;
		}
		n = dp_prov_handle(&c->core, dpm.req, len, NULL, 0, dpm.rep, &fd);
		OSSafeReleaseNULL(c->staged);	/* refused: not registered */
	}
	return dpm_copy_out(a, n);
}

static kern_return_t dpm_method(OSObject *target, void *reference,
				IOUserClientMethodArguments *a)
{
	DartpassUserClient *uc = OSDynamicCast(DartpassUserClient, target);
	kern_return_t kr = kIOReturnNotReady;

	IOLockLock(dpm.core_lock);
	if (uc && uc->ivars->conn)
		kr = dpm_serve(uc->ivars->conn, a);
	IOLockUnlock(dpm.core_lock);
	return kr;
}

/*
 * REGION_MAP's memory type: the BAR itself, to the function's holder only and only a
 * BAR CLAIM marked MMAP. It is then that connection's until it ends (dpm_fn.mapper).
 * The descriptor must be asked for by the service holding the Open() session.
 * Prefetchable BARs carry PROV_REGION_PREFETCH in CLAIM, so the client maps them
 * write-combining (kIOMapWriteCombineCache); the rest default (device) cache mode.
 * https://developer.apple.com/documentation/driverkit/iouserclient/copyclientmemoryfortype
 * IOPCIDevice::_CopyDeviceMemoryWithIndex has no page in Apple's documentation: it is
 * an iig method of IOPCIDevice, and Apple's IOPCIDevice::Open in the published
 * IOPCIFamily source calls a _CopyDevice... method there too (source, not
 * developer.apple.com; docs/macos.md, open questions):
 * https://opensource.apple.com/source/IOPCIFamily/IOPCIFamily-428.60.7/PCIDriverKit/IOPCIDevice.cpp.auto.html
 */
kern_return_t IMPL(DartpassUserClient, CopyClientMemoryForType)
{
	uint64_t fn = (type >> 4) & 0xff, bar = type & 0xf;
	kern_return_t kr = kIOReturnBadArgument;
	struct dpm_conn *c;
	struct dpm_fn *f;

	IOLockLock(dpm.core_lock);
	c = ivars->conn;
	if (!c || (type & ~0xfffull) != DPM_MEMTYPE_TAG || fn >= dpm.prov.nr_fns ||
	    bar >= DPM_BARS)
		goto unlock;
	f = &dpm.fns[fn];
	kr = kIOReturnNotPrivileged;
	if (f->conn != c || !f->pci || !f->open || !(f->bars[bar].flags & PROV_REGION_MMAP))
		goto unlock;
	if (!c->bar_md[fn][bar]) {
		kr = f->pci->_CopyDeviceMemoryWithIndex(f->mem_index[bar], &c->bar_md[fn][bar],
							f->svc);
		if (kr != kIOReturnSuccess)
			goto unlock;
	}
	f->mapper = c;
	c->bar_md[fn][bar]->retain();	/* the caller consumes one reference */
	*memory = c->bar_md[fn][bar];
	*options = 0;			/* read-write */
	kr = kIOReturnSuccess;
unlock:
	IOLockUnlock(dpm.core_lock);
	return kr;
}
