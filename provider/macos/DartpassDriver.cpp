// SPDX-License-Identifier: (GPL-2.0 OR MIT)
/*
 * The service matched on each lent function (Info.plist): it lists the function with
 * the core while it runs, hands out user clients, and receives its interrupts. Start
 * and Stop run on this object's default queue and take dpm.core_lock (dp_mac.h).
 */
#include <DriverKit/IOUserServer.h>
#include <DriverKit/IOLib.h>
#include "dp_mac.h"
#include "DartpassDriver.h"
#include "DartpassUserClient.h"

struct DartpassDriver_IVars {
	bool listed;		/* dpm_fn_attach succeeded: Stop detaches */
};

bool DartpassDriver::init()
{
	if (!super::init())
		return false;
	ivars = IONewZero(DartpassDriver_IVars, 1);
	return ivars != NULL;
}

void DartpassDriver::free()
{
	IOSafeDeleteNULL(ivars, DartpassDriver_IVars, 1);
	super::free();
}

/*
 * https://developer.apple.com/documentation/driverkit/ioservice/start
 * https://developer.apple.com/documentation/driverkit/ioservice/setdispatchqueue
 * https://developer.apple.com/documentation/driverkit/ioservice/registerservice
 */
kern_return_t IMPL(DartpassDriver, Start)
{
	IOPCIDevice *pci;
	kern_return_t kr;

	kr = Start(provider, SUPERDISPATCH);
	if (kr != kIOReturnSuccess)
		return kr;
	pci = OSDynamicCast(IOPCIDevice, provider);
	if (!pci) {
		kr = kIOReturnNoDevice;
		goto stop;
	}
	if (!dpm_global_init()) {
		kr = kIOReturnNoResources;
		goto stop;
	}
	/* InterruptOccurred is QUEUENAME(DartpassIrq): the one interrupt queue. */
	kr = SetDispatchQueue("DartpassIrq", dpm.irq_queue);
	if (kr != kIOReturnSuccess)
		goto stop;
	if (dpm_fn_attach(this, pci) != PROV_S_OK) {
		kr = kIOReturnUnsupported;
		goto stop;
	}
	ivars->listed = true;
	/* Publishes the service, so a client can IOServiceOpen it. */
	RegisterService();
	return kIOReturnSuccess;

stop:
	Stop(provider, SUPERDISPATCH);
	return kr;
}

/*
 * Unplugged or unloaded. The user clients, our children, stopped first, so their
 * connections are closed; the function stays listed and fails with IO until it is
 * plugged in again.
 * https://developer.apple.com/documentation/driverkit/ioservice/stop
 */
kern_return_t IMPL(DartpassDriver, Stop)
{
	if (ivars->listed)
		dpm_fn_detach(this);
	ivars->listed = false;
	return Stop(provider, SUPERDISPATCH);
}

/*
 * One user client per IOServiceOpen, from the UserClientProperties of Info.plist.
 * https://developer.apple.com/documentation/driverkit/ioservice/newuserclient
 * https://developer.apple.com/documentation/driverkit/ioservice/create
 */
kern_return_t IMPL(DartpassDriver, NewUserClient)
{
	IOService *svc = NULL;
	kern_return_t kr;

	if (type != 0)
		return kIOReturnBadArgument;
	kr = Create(this, "UserClientProperties", &svc);
	if (kr != kIOReturnSuccess)
		return kr;
	*userClient = OSDynamicCast(IOUserClient, svc);
	if (!*userClient) {
		svc->release();
		return kIOReturnError;
	}
	return kIOReturnSuccess;
}

/*
 * On dpm.irq_queue; the action's reference names the vector (dpm_irq_arm).
 * https://developer.apple.com/documentation/driverkit/iointerruptdispatchsource/interruptoccurred
 * https://developer.apple.com/documentation/driverkit/osaction/getreference
 */
void IMPL(DartpassDriver, InterruptOccurred)
{
	const struct dpm_irq_ref *ref = (const struct dpm_irq_ref *)action->GetReference();

	if (ref)
		dpm_irq_fired(ref);
}
