/*
 * dartpass-provider's socket transport (Linux): a SOCK_SEQPACKET Unix socket, one
 * message per packet, descriptors in SCM_RIGHTS. BARs, DMA memory and interrupts
 * travel as descriptors (PROV_F_REGION_FD, PROV_F_DMA_FD, PROV_F_IRQ_EVENTFD).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include "qapi/error.h"
#include "dartpass-transport.h"
#include "dp_sock.h"

/* Providers run under TCG in the nested tests: a reply may take seconds. */
#define DARTPASS_SOCKET_REPLY_MS (30 * 1000)

typedef struct DartpassSocket {
    int fd;
} DartpassSocket;

static int dartpass_socket_fd(DartpassProvider *p)
{
    return ((DartpassSocket *)p->t)->fd;
}

static bool dartpass_socket_open(DartpassProvider *p, Error **errp)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd;

    if (strlen(p->socket_path) >= sizeof(sa.sun_path)) {
        error_setg(errp, "dartpass-provider: socket path %s is too long",
                   p->socket_path);
        return false;
    }
    strcpy(sa.sun_path, p->socket_path);
    fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
        error_setg(errp, "dartpass-provider: cannot connect to %s: %s",
                   p->socket_path, strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return false;
    }
    p->t = g_new(DartpassSocket, 1);
    ((DartpassSocket *)p->t)->fd = fd;
    return true;
}

static void dartpass_socket_close(DartpassProvider *p)
{
    close(dartpass_socket_fd(p));
    g_free(p->t);
}

static int dartpass_socket_send(DartpassProvider *p, const void *msg, size_t len,
                                const int *fds, unsigned int nfds, Error **errp)
{
    int r = dp_sock_send(dartpass_socket_fd(p), msg, len, fds, nfds, 0);

    if (r < 0) {
        error_setg_errno(errp, -r, "dartpass-provider: cannot send op %u to %s",
                         lduw_le_p(msg), p->peer);
        return r == -EMSGSIZE ? -EPROTO : -EPIPE;
    }
    return 0;
}

/* Waits for one reply into p->rbuf; *fd is its descriptor or -1. */
static ssize_t dartpass_socket_recv(DartpassProvider *p, uint16_t op, int *fd,
                                    Error **errp)
{
    struct pollfd pfd = { .fd = dartpass_socket_fd(p), .events = POLLIN };
    unsigned int nfds, lost;
    ssize_t len;
    int r;

    *fd = -1;
    do {
        r = poll(&pfd, 1, DARTPASS_SOCKET_REPLY_MS);
    } while (r < 0 && errno == EINTR);
    if (r <= 0) {
        error_setg(errp, "dartpass-provider: no reply to op %u from %s in %d s%s%s",
                   op, p->peer, DARTPASS_SOCKET_REPLY_MS / 1000,
                   r ? ": " : "", r ? strerror(errno) : "");
        return r ? -EPIPE : -ETIMEDOUT;
    }
    len = dp_sock_recv(pfd.fd, p->rbuf, PROV_MAX_MSG + 1, fd, 1, &nfds, &lost, 0);
    if (!nfds) {
        *fd = -1;
    }
    if (len <= 0) {
        error_setg(errp, "dartpass-provider: %s closed the connection (op %u)%s%s",
                   p->peer, op, len ? ": " : "", len ? strerror(-len) : "");
        return -EPIPE;
    }
    if (lost || len > PROV_MAX_MSG) {
        error_setg(errp, "dartpass-provider: reply to op %u from %s is larger than"
                   " a message or carries more than one descriptor", op, p->peer);
        if (*fd >= 0) {
            close(*fd);
            *fd = -1;
        }
        return -EPROTO;
    }
    return len;
}

static ssize_t dartpass_socket_call(DartpassProvider *p, const void *req, size_t len,
                                    const int *fds, unsigned int nfds, int *rep_fd,
                                    Error **errp)
{
    int ret = dartpass_socket_send(p, req, len, fds, nfds, errp);

    *rep_fd = -1;
    return ret < 0 ? ret : dartpass_socket_recv(p, lduw_le_p(req), rep_fd, errp);
}

const DartpassTransportOps dartpass_socket_transport = {
    .name = "socket",
    .features = PROV_F_IRQ_EVENTFD | PROV_F_REGION_FD | PROV_F_DMA_FD,
    .open = dartpass_socket_open,
    .call = dartpass_socket_call,
    .close = dartpass_socket_close,
};
