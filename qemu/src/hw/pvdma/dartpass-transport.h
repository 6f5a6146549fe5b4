/*
 * dartpass-provider's transports: how one connection carries the protocol's messages
 * (docs/specs/provider.rst, Transports). Private to dartpass-provider.c and the
 * transports (dartpass-socket.c, dartpass-iokit.c).
 *
 * The protocol is the same on both; the transport decides how what it cannot carry
 * in a message travels: descriptors on the Linux socket, a memory type to map and
 * asynchronous completions through IOKit. Which one a connection has is visible to
 * its users only through the features HELLO agreed (PROV_F_*).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef HW_DARTPASS_TRANSPORT_H
#define HW_DARTPASS_TRANSPORT_H

#include "qemu/event_notifier.h"
#include "qemu/thread.h"
#include "dartpass-provider.h"

typedef struct DartpassTransportOps {
    const char *name;
    /* PROV_F_* QEMU asks for and needs over this transport. */
    uint32_t features;
    /* Connects; false with errp set. */
    bool (*open)(DartpassProvider *p, Error **errp);
    /*
     * One request message (header included, with fds passed beside it) and its
     * reply, received into p->rbuf (PROV_MAX_MSG + 1 bytes) with at most one
     * descriptor in *rep_fd (-1: none). Returns the reply's length, or -errno with
     * errp set. Framing beyond the transport's own is checked by the caller.
     */
    ssize_t (*call)(DartpassProvider *p, const void *req, size_t len, const int *fds,
                    unsigned int nfds, int *rep_fd, Error **errp);
    /*
     * Without PROV_F_REGION_FD: maps REGION_MAP's memory type (size bytes;
     * write-combining for a prefetchable BAR) and returns the host pointer, or NULL
     * with errp set. unmap undoes it.
     */
    void *(*map)(DartpassProvider *p, uint64_t type, uint64_t size, bool wc,
                 Error **errp);
    void (*unmap)(DartpassProvider *p, uint64_t type, void *ptr, uint64_t size);
    /*
     * With PROV_F_IRQ_PENDING: sends NOTIFY (req, len bytes) so that the provider's
     * notifications set p->notified, as call does otherwise.
     */
    ssize_t (*notify)(DartpassProvider *p, const void *req, size_t len, Error **errp);
    /* Ends the connection: the provider then releases everything it did for it. */
    void (*close)(DartpassProvider *p);
} DartpassTransportOps;

extern const DartpassTransportOps dartpass_socket_transport;
extern const DartpassTransportOps dartpass_iokit_transport;

typedef struct DartpassPendingListener {
    void (*fn)(void *opaque);
    void *opaque;
} DartpassPendingListener;

struct DartpassProvider {
    Object parent_obj;

    /* properties */
    char *socket_path;
    char *service;

    const DartpassTransportOps *ops;
    void *t;                    /* the transport's state; NULL once dead */
    const char *peer;           /* the socket or service, for messages */
    uint32_t next_id;
    uint32_t features;          /* as HELLO agreed */
    struct prov_hello_rep *hello;
    GPtrArray *functions;       /* PCIDevice * lent through this connection */
    GArray *listeners;          /* DartpassPendingListener, told at each NOTIFY */
    NotifierList lost;          /* told once when the connection dies */
    EventNotifier notified;     /* set by the transport, read in the main loop */
    QemuMutex lock;             /* one request in flight: replies come in order */
    uint8_t *sbuf;              /* PROV_MAX_MSG: the request being sent */
    uint8_t *rbuf;              /* PROV_MAX_MSG + 1: an oversized reply shows */
};

#endif
