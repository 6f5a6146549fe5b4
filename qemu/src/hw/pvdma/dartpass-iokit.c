/*
 * dartpass-provider's IOKit transport: the macOS provider is a DriverKit driver, and
 * each protocol op is an external method of its user client, selector = op,
 * structure input = the request message, structure output = the reply (IOKit takes
 * messages above 4 KiB out of line itself). No descriptors cross: REGION_MAP names a
 * memory type to map, DMA_MEMORY the address of guest RAM, and NOTIFY, called once
 * asynchronously, completes each time a pending bit becomes set
 * (docs/specs/provider.rst, Transports; PROV_F_IRQ_PENDING).
 *
 *   -object dartpass-provider,id=prov0,service=DartpassDriver
 *
 * The service is found by name (IOServiceNameMatching): a DriverKit service's
 * registry name is its IOUserClass, DartpassDriver for dartpass's driver.
 *
 * Off macOS the same code runs against iokit-shim.h, which carries these calls to a
 * Linux provider's socket; this file must stay free of anything but IOKit's API.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "qapi/error.h"
#ifdef __APPLE__
#include <IOKit/IOKitLib.h>
#include <dispatch/dispatch.h>
#else
#include "iokit-shim.h"
#endif
#include "dartpass-transport.h"
#include "trace.h"

typedef struct DartpassIOKit {
    io_connect_t connect;
    IONotificationPortRef port;     /* NOTIFY's completions, once armed */
    dispatch_queue_t queue;         /* where they run: serial */
} DartpassIOKit;

static bool dartpass_iokit_open(DartpassProvider *p, Error **errp)
{
    io_service_t service;
    io_connect_t connect;
    kern_return_t kr;

    /*
     * https://developer.apple.com/documentation/iokit/ioservicegetmatchingservice(_:_:)
     * https://developer.apple.com/documentation/iokit/ioservicenamematching(_:)
     * (the matching dictionary is consumed by the lookup)
     */
    service = IOServiceGetMatchingService(kIOMainPortDefault,
                                          IOServiceNameMatching(p->service));
    if (!service) {
        error_setg(errp, "dartpass-provider: no IOKit service named %s (is the"
                   " provider's driver loaded?)", p->service);
        return false;
    }
    /* https://developer.apple.com/documentation/iokit/1514515-ioserviceopen */
    kr = IOServiceOpen(service, mach_task_self(), 0, &connect);
    /* https://developer.apple.com/documentation/iokit/ioobjectrelease(_:) */
    IOObjectRelease(service);
    if (kr != kIOReturnSuccess) {
        error_setg(errp, "dartpass-provider: cannot open %s: IOKit error 0x%x",
                   p->service, (unsigned int)kr);
        return false;
    }
    p->t = g_new0(DartpassIOKit, 1);
    ((DartpassIOKit *)p->t)->connect = connect;
    trace_dartpass_iokit_open(p->service, connect);
    return true;
}

static ssize_t dartpass_iokit_failed(DartpassProvider *p, const void *req,
                                     kern_return_t kr, Error **errp)
{
    error_setg(errp, "dartpass-provider: op %u to %s failed: IOKit error 0x%x",
               lduw_le_p(req), p->service, (unsigned int)kr);
    return -EPIPE;
}

static ssize_t dartpass_iokit_call(DartpassProvider *p, const void *req, size_t len,
                                   const int *fds, unsigned int nfds, int *rep_fd,
                                   Error **errp)
{
    DartpassIOKit *c = p->t;
    size_t out = PROV_MAX_MSG + 1;
    kern_return_t kr;

    *rep_fd = -1;
    if (nfds) {
        error_setg(errp, "dartpass-provider: IOKit passes no descriptors (op %u)",
                   lduw_le_p(req));
        return -EINVAL;
    }
    /* https://developer.apple.com/documentation/iokit/ioconnectcallstructmethod(_:_:_:_:_:_:) */
    kr = IOConnectCallStructMethod(c->connect, lduw_le_p(req), req, len, p->rbuf,
                                   &out);
    if (kr != kIOReturnSuccess) {
        return dartpass_iokit_failed(p, req, kr, errp);
    }
    return out;
}

/* Runs on c->queue: the main loop does the work (dartpass-provider.c). */
static void dartpass_iokit_notified(void *refcon, IOReturn result, void **args,
                                    uint32_t nargs)
{
    DartpassProvider *p = refcon;

    if (result == kIOReturnSuccess) {
        event_notifier_set(&p->notified);
    }
}

static ssize_t dartpass_iokit_notify(DartpassProvider *p, const void *req,
                                     size_t len, Error **errp)
{
    DartpassIOKit *c = p->t;
    uint64_t ref[kOSAsyncRef64Count] = { 0 };
    size_t out = PROV_MAX_MSG + 1;
    kern_return_t kr;

    /*
     * https://developer.apple.com/documentation/iokit/ionotificationportcreate(_:)
     * https://developer.apple.com/documentation/iokit/ionotificationportsetdispatchqueue(_:_:)
     * https://developer.apple.com/documentation/dispatch/dispatch_queue_create(_:_:)
     */
    c->port = IONotificationPortCreate(kIOMainPortDefault);
    c->queue = dispatch_queue_create("dartpass-provider", DISPATCH_QUEUE_SERIAL);
    if (!c->port || !c->queue) {
        error_setg(errp, "dartpass-provider: cannot create %s's notification port",
                   p->service);
        return -ENOMEM;
    }
    IONotificationPortSetDispatchQueue(c->port, c->queue);
    ref[kIOAsyncCalloutFuncIndex] = (uint64_t)(uintptr_t)dartpass_iokit_notified;
    ref[kIOAsyncCalloutRefconIndex] = (uint64_t)(uintptr_t)p;
    /*
     * https://developer.apple.com/documentation/iokit/ioconnectcallasyncstructmethod(_:_:_:_:_:_:_:_:_:)
     * https://developer.apple.com/documentation/iokit/ionotificationportgetmachport(_:)
     */
    kr = IOConnectCallAsyncStructMethod(c->connect, lduw_le_p(req),
                                        IONotificationPortGetMachPort(c->port), ref,
                                        kIOAsyncCalloutCount, req, len, p->rbuf,
                                        &out);
    if (kr != kIOReturnSuccess) {
        return dartpass_iokit_failed(p, req, kr, errp);
    }
    return out;
}

static void *dartpass_iokit_map(DartpassProvider *p, uint64_t type, uint64_t size,
                                bool wc, Error **errp)
{
    DartpassIOKit *c = p->t;
    mach_vm_address_t addr = 0;
    mach_vm_size_t got = 0;
    kern_return_t kr;

    if (type > UINT32_MAX) {
        error_setg(errp, "dartpass-provider: memory type 0x%" PRIx64 " from %s is not"
                   " IOKit's", type, p->service);
        return NULL;
    }
    /* https://developer.apple.com/documentation/iokit/1514862-ioconnectmapmemory64 */
    kr = IOConnectMapMemory64(c->connect, type, mach_task_self(), &addr, &got,
                              kIOMapAnywhere |
                              (wc ? kIOMapWriteCombineCache : kIOMapDefaultCache));
    if (kr != kIOReturnSuccess) {
        error_setg(errp, "dartpass-provider: cannot map memory type 0x%" PRIx64
                   " of %s: IOKit error 0x%x", type, p->service, (unsigned int)kr);
        return NULL;
    }
    trace_dartpass_iokit_map(type, got, addr);
    if (got < size) {
        error_setg(errp, "dartpass-provider: memory type 0x%" PRIx64 " of %s maps"
                   " 0x%" PRIx64 " bytes, not 0x%" PRIx64, type, p->service,
                   (uint64_t)got, size);
        IOConnectUnmapMemory64(c->connect, type, mach_task_self(), addr);
        return NULL;
    }
    return (void *)(uintptr_t)addr;
}

static void dartpass_iokit_unmap(DartpassProvider *p, uint64_t type, void *ptr,
                                 uint64_t size)
{
    DartpassIOKit *c = p->t;

    /* https://developer.apple.com/documentation/iokit/ioconnectunmapmemory64(_:_:_:_:) */
    IOConnectUnmapMemory64(c->connect, type, mach_task_self(),
                           (mach_vm_address_t)(uintptr_t)ptr);
}

static void dartpass_iokit_drained(void *opaque)
{
}

static void dartpass_iokit_close(DartpassProvider *p)
{
    DartpassIOKit *c = p->t;

    /* https://developer.apple.com/documentation/iokit/ioserviceclose(_:) */
    IOServiceClose(c->connect);
    if (c->port) {
        /* https://developer.apple.com/documentation/iokit/ionotificationportdestroy(_:) */
        IONotificationPortDestroy(c->port);
    }
    if (c->queue) {
        /*
         * A completion already queued must not outlive p.
         * https://developer.apple.com/documentation/dispatch/dispatch_sync_f(_:_:_:)
         * https://developer.apple.com/documentation/dispatch/dispatch_release
         */
        dispatch_sync_f(c->queue, NULL, dartpass_iokit_drained);
        dispatch_release(c->queue);
    }
    g_free(c);
}

const DartpassTransportOps dartpass_iokit_transport = {
    .name = "IOKit",
    .features = PROV_F_IRQ_PENDING,
    .open = dartpass_iokit_open,
    .call = dartpass_iokit_call,
    .map = dartpass_iokit_map,
    .unmap = dartpass_iokit_unmap,
    .notify = dartpass_iokit_notify,
    .close = dartpass_iokit_close,
};
