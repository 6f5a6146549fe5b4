/*
 * dartpass-provider: QEMU's connection to a dartpass provider (docs/specs/provider.rst)
 *
 * A provider owns physical PCI functions and chooses every DMA bus address for them.
 * One connection object (-object dartpass-provider,id=prov0,socket=PATH) is shared by
 * the passthrough functions it lends (-device dartpass-pci,provider=prov0,host=BDF) and
 * by the pvdma device that maps their DMA through it (-device pvdma-pci,
 * backend=provider,provider=prov0): the protocol's mappings belong to the connection
 * and reach every function it claimed, so pvdma's managed functions are exactly the
 * dartpass-pci devices on this object.
 *
 * Two transports carry the protocol (dartpass-transport.h): the Linux provider's Unix
 * socket (socket=PATH), and IOKit (service=NAME), a macOS DriverKit driver's user
 * client, which off macOS reaches a Linux provider's socket through a stand-in for
 * IOKit (iokit-shim.h). Users see the difference only in the features HELLO agreed:
 * descriptors (PROV_F_REGION_FD, PROV_F_DMA_FD, PROV_F_IRQ_EVENTFD) on the socket, a
 * memory type to map, DMA memory named by its address and pending bits read after a
 * notification (PROV_F_IRQ_PENDING) through IOKit.
 *
 * Calls are synchronous, made with the BQL held (or under pvdma's lock for DMA): the
 * provider answers every request, and a provider that goes away turns every later call
 * into -EPIPE with an error set, never a hang (replies are awaited with a timeout).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef HW_DARTPASS_PROVIDER_H
#define HW_DARTPASS_PROVIDER_H

#include "qemu/notify.h"
#include "qom/object.h"
#include "provider_proto.h"

#define TYPE_DARTPASS_PROVIDER "dartpass-provider"
OBJECT_DECLARE_SIMPLE_TYPE(DartpassProvider, DARTPASS_PROVIDER)

/*
 * One request and its reply. req is the body after struct prov_hdr (req_len bytes);
 * fds (nfds) travel with it. An OK reply's body must be exactly rep_len bytes (rep may
 * be NULL when 0); *rep_fd (NULL: none wanted) receives a passed descriptor or -1.
 * Returns the reply's status (PROV_S_*, >= 0; a refusal has no body), or -errno when
 * there was no well-formed reply: then errp says why and the connection is dead.
 */
int dartpass_provider_call(DartpassProvider *p, uint16_t op, uint32_t fn,
                           const void *req, size_t req_len, const int *fds,
                           unsigned int nfds, void *rep, size_t rep_len, int *rep_fd,
                           Error **errp);

/* False once a call found the provider gone (it never comes back for this object). */
bool dartpass_provider_alive(DartpassProvider *p);

/* The features HELLO agreed (PROV_F_*). */
uint32_t dartpass_provider_features(DartpassProvider *p);

/*
 * Without PROV_F_REGION_FD: maps the memory type REGION_MAP's reply named (size bytes;
 * write-combining wc, for prefetchable BARs) into QEMU and returns where; NULL with
 * errp set. unmap undoes it.
 */
void *dartpass_provider_map(DartpassProvider *p, uint64_t type, uint64_t size,
                            bool wc, Error **errp);
void dartpass_provider_unmap(DartpassProvider *p, uint64_t type, void *ptr,
                             uint64_t size);

/*
 * With PROV_F_IRQ_PENDING: fn(opaque) runs in the main loop, with the BQL, after the
 * provider notified that pending bits became set (of any function lent through p:
 * each reads its own with IRQ_PENDING).
 */
void dartpass_provider_add_pending_listener(DartpassProvider *p,
                                            void (*fn)(void *opaque), void *opaque);
void dartpass_provider_del_pending_listener(DartpassProvider *p,
                                            void (*fn)(void *opaque), void *opaque);

/*
 * n->notify(n, p) runs once, where the connection is found dead (any thread, with the
 * BQL held: the call that failed): the provider released everything of this
 * connection. Remove n with notifier_remove before it goes.
 */
void dartpass_provider_add_lost_notifier(DartpassProvider *p, Notifier *n);

/*
 * HELLO's reply, kept from connection time: version, features, limits, functions
 * (nr_functions entries), fields little-endian as on the wire.
 */
const struct prov_hello_rep *dartpass_provider_hello(DartpassProvider *p);

/*
 * The provider's counters for this connection (PROV_OP_COUNTERS, fields little-endian
 * as on the wire; also the object's QOM properties live-mappings, maps, refused, ...).
 * Returns 0, or -errno with errp set.
 */
int dartpass_provider_counters(DartpassProvider *p, struct prov_counters *c,
                               Error **errp);

/*
 * The function handle (index into HELLO's list) of host function "dddd:bb:dd.f" (or
 * "bb:dd.f"); -1 with errp set when the provider does not offer it.
 */
int dartpass_provider_find(DartpassProvider *p, const char *host, Error **errp);

/* Prints a status for error messages: "BUSY", "VERSION", ... */
const char *dartpass_provider_status_name(int status);

/*
 * The functions lent through p register themselves (their PCIDevice) at realize and
 * unregister at exit, so pvdma can list them as its managed functions.
 */
void dartpass_provider_add_function(DartpassProvider *p, PCIDevice *dev);
void dartpass_provider_del_function(DartpassProvider *p, PCIDevice *dev);
void dartpass_provider_foreach_function(DartpassProvider *p,
                                        void (*fn)(PCIDevice *dev, void *opaque),
                                        void *opaque);

#endif
