/*
 * dartpass-provider: QEMU's connection to a dartpass provider (docs/specs/provider.rst)
 *
 * Linux transport: a SOCK_SEQPACKET Unix socket, one message per packet, descriptors
 * in SCM_RIGHTS. Every request gets exactly one reply echoing its op and id.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include "qemu/lockable.h"
#include "qemu/module.h"
#include "qapi/error.h"
#include "qapi/visitor.h"
#include "qom/object_interfaces.h"
#include "hw/pci/pci_device.h"
#include "dartpass-provider.h"
#include "dp_prov.h"
#include "trace.h"

/* Providers run under TCG in the nested tests: a reply may take seconds. */
#define DARTPASS_PROVIDER_REPLY_MS (30 * 1000)

#define HDR sizeof(struct prov_hdr)

struct DartpassProvider {
    Object parent_obj;

    char *socket_path;
    int fd;                     /* -1 once the connection is dead */
    uint32_t next_id;
    struct prov_hello_rep *hello;
    GPtrArray *functions;       /* PCIDevice * lent through this connection */
    QemuMutex lock;             /* one request in flight: replies come in order */
    uint8_t *rbuf;              /* PROV_MAX_MSG + 1: an oversized reply shows */
};

const char *dartpass_provider_status_name(int status)
{
    return status < 0 ? "no reply" : dp_prov_status_name(status);
}

static void dartpass_provider_kill(DartpassProvider *p)
{
    if (p->fd >= 0) {
        close(p->fd);
        p->fd = -1;
    }
}

static int dartpass_provider_send(DartpassProvider *p, const struct prov_hdr *h,
                                  const void *body, size_t body_len, const int *fds,
                                  unsigned int nfds, Error **errp)
{
    union {
        struct cmsghdr align;
        uint8_t buf[CMSG_SPACE(DARTPASS_PROVIDER_MAX_FDS * sizeof(int))];
    } ctl;
    struct iovec iov[2] = {
        { .iov_base = (void *)h, .iov_len = HDR },
        { .iov_base = (void *)body, .iov_len = body_len },
    };
    struct msghdr mh = { .msg_iov = iov, .msg_iovlen = body_len ? 2 : 1 };
    ssize_t n;

    if (nfds) {
        struct cmsghdr *cm;

        memset(&ctl, 0, sizeof(ctl));
        mh.msg_control = ctl.buf;
        mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
        cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(nfds * sizeof(int));
        memcpy(CMSG_DATA(cm), fds, nfds * sizeof(int));
    }
    do {
        n = sendmsg(p->fd, &mh, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n != (ssize_t)(HDR + body_len)) {
        error_setg_errno(errp, n < 0 ? errno : EMSGSIZE,
                         "dartpass-provider: cannot send op %u to %s",
                         le16_to_cpu(h->op), p->socket_path);
        return n < 0 ? -EPIPE : -EPROTO;
    }
    return 0;
}

/*
 * Waits for one reply into p->rbuf; *fd is its descriptor or -1. Returns its length,
 * or -errno with errp set.
 */
static ssize_t dartpass_provider_recv(DartpassProvider *p, uint16_t op, int *fd,
                                      Error **errp)
{
    union {
        struct cmsghdr align;
        uint8_t buf[CMSG_SPACE(DARTPASS_PROVIDER_MAX_FDS * sizeof(int))];
    } ctl;
    struct iovec iov = { .iov_base = p->rbuf, .iov_len = PROV_MAX_MSG + 1 };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
                         .msg_controllen = sizeof(ctl.buf) };
    struct pollfd pfd = { .fd = p->fd, .events = POLLIN };
    struct cmsghdr *cm;
    unsigned int nfds = 0;
    ssize_t len;
    int r;

    *fd = -1;
    do {
        r = poll(&pfd, 1, DARTPASS_PROVIDER_REPLY_MS);
    } while (r < 0 && errno == EINTR);
    if (r <= 0) {
        error_setg(errp, "dartpass-provider: no reply to op %u from %s in %d s%s%s",
                   op, p->socket_path, DARTPASS_PROVIDER_REPLY_MS / 1000,
                   r ? ": " : "", r ? strerror(errno) : "");
        return r ? -EPIPE : -ETIMEDOUT;
    }
    do {
        len = recvmsg(p->fd, &mh, MSG_CMSG_CLOEXEC);
    } while (len < 0 && errno == EINTR);
    if (len <= 0) {
        error_setg(errp, "dartpass-provider: %s closed the connection (op %u)%s%s",
                   p->socket_path, op, len ? ": " : "", len ? strerror(errno) : "");
        return -EPIPE;
    }
    for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
        size_t i, n;

        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) {
            continue;
        }
        n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (i = 0; i < n; i++, nfds++) {
            int got;

            memcpy(&got, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
            if (nfds == 0) {
                *fd = got;
            } else {
                close(got);
            }
        }
    }
    if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC) || len > PROV_MAX_MSG || nfds > 1) {
        error_setg(errp, "dartpass-provider: reply to op %u from %s is larger than"
                   " a message or carries %u descriptors", op, p->socket_path, nfds);
        if (*fd >= 0) {
            close(*fd);
            *fd = -1;
        }
        return -EPROTO;
    }
    return len;
}

/*
 * One exchange: sends the request and checks the reply's framing. On success returns
 * the status, *body points into p->rbuf and *body_len is its size; a refusal has no
 * descriptor and, but for HELLO's VERSION, no body.
 */
static int dartpass_provider_exchange(DartpassProvider *p, uint16_t op, uint32_t fn,
                                      const void *req, size_t req_len, const int *fds,
                                      unsigned int nfds, const void **body,
                                      size_t *body_len, int *rep_fd, Error **errp)
{
    struct prov_hdr h = {
        .op = cpu_to_le16(op),
        .len = cpu_to_le32(HDR + req_len),
        .id = cpu_to_le32(p->next_id++),
        .fn = cpu_to_le32(fn),
    };
    struct prov_hdr r;
    ssize_t len;
    int ret, st, fd = -1;

    *rep_fd = -1;
    if (p->fd < 0) {
        error_setg(errp, "dartpass-provider: the connection to %s is gone",
                   p->socket_path);
        return -EPIPE;
    }
    if (HDR + req_len > PROV_MAX_MSG || nfds > DARTPASS_PROVIDER_MAX_FDS) {
        error_setg(errp, "dartpass-provider: op %u of %zu bytes and %u descriptors"
                   " does not fit a message", op, req_len, nfds);
        return -EINVAL;
    }
    ret = dartpass_provider_send(p, &h, req, req_len, fds, nfds, errp);
    if (ret < 0) {
        goto dead;
    }
    len = dartpass_provider_recv(p, op, &fd, errp);
    if (len < 0) {
        ret = len;
        goto dead;
    }
    ret = -EPROTO;
    if (len < HDR) {
        error_setg(errp, "dartpass-provider: reply to op %u is %zd bytes, shorter than"
                   " a header", op, len);
        goto dead;
    }
    memcpy(&r, p->rbuf, HDR);
    st = le16_to_cpu(r.status);
    if (le32_to_cpu(r.len) != len || r.op != h.op || r.id != h.id) {
        error_setg(errp, "dartpass-provider: reply op %u id %u len %u (%zd bytes came)"
                   " to request op %u id %u", le16_to_cpu(r.op), le32_to_cpu(r.id),
                   le32_to_cpu(r.len), len, op, le32_to_cpu(h.id));
        goto dead;
    }
    if (st >= PROV_S_COUNT ||
        (st != PROV_S_OK && (fd >= 0 || len != HDR + (st == PROV_S_VERSION ?
                                               sizeof(struct prov_hello_rep) : 0)))) {
        error_setg(errp, "dartpass-provider: malformed %s reply to op %u (%zd bytes%s)",
                   dartpass_provider_status_name(st), op, len,
                   fd >= 0 ? ", a descriptor" : "");
        goto dead;
    }
    trace_dartpass_provider_call(op, fn, le32_to_cpu(h.id), st);
    *body = p->rbuf + HDR;
    *body_len = len - HDR;
    *rep_fd = fd;
    return st;

dead:
    if (fd >= 0) {
        close(fd);
    }
    trace_dartpass_provider_call(op, fn, le32_to_cpu(h.id), ret);
    dartpass_provider_kill(p);
    return ret;
}

int dartpass_provider_call(DartpassProvider *p, uint16_t op, uint32_t fn,
                           const void *req, size_t req_len, const int *fds,
                           unsigned int nfds, void *rep, size_t rep_len, int *rep_fd,
                           Error **errp)
{
    const void *body;
    size_t body_len;
    int st, fd;

    QEMU_LOCK_GUARD(&p->lock);
    if (rep_fd) {
        *rep_fd = -1;
    }
    st = dartpass_provider_exchange(p, op, fn, req, req_len, fds, nfds, &body,
                                    &body_len, &fd, errp);
    if (st != PROV_S_OK) {
        return st;
    }
    if (body_len != rep_len || (fd >= 0 && !rep_fd)) {
        error_setg(errp, "dartpass-provider: OK reply to op %u with %zu bytes%s,"
                   " want %zu", op, body_len, fd >= 0 ? " and a descriptor" : "",
                   rep_len);
        if (fd >= 0) {
            close(fd);
        }
        dartpass_provider_kill(p);
        return -EPROTO;
    }
    if (rep_len) {
        memcpy(rep, body, rep_len);
    }
    if (rep_fd) {
        *rep_fd = fd;
    }
    return PROV_S_OK;
}

bool dartpass_provider_alive(DartpassProvider *p)
{
    QEMU_LOCK_GUARD(&p->lock);
    return p->fd >= 0;
}

const struct prov_hello_rep *dartpass_provider_hello(DartpassProvider *p)
{
    return p->hello;
}

int dartpass_provider_counters(DartpassProvider *p, struct prov_counters *c,
                               Error **errp)
{
    int st = dartpass_provider_call(p, PROV_OP_COUNTERS, 0, NULL, 0, NULL, 0, c,
                                    sizeof(*c), NULL, errp);

    if (st > 0) {
        error_setg(errp, "dartpass-provider: COUNTERS refused: %s",
                   dartpass_provider_status_name(st));
        return -EIO;
    }
    return st;
}

int dartpass_provider_find(DartpassProvider *p, const char *host, Error **errp)
{
    unsigned int seg = 0, bus, dev, func, i;
    int n = 0;

    if (sscanf(host, "%x:%x:%x.%x%n", &seg, &bus, &dev, &func, &n) != 4 ||
        host[n]) {
        seg = 0;
        n = 0;
        if (sscanf(host, "%x:%x.%x%n", &bus, &dev, &func, &n) != 3 || host[n]) {
            n = -1;
        }
    }
    if (n < 0 || seg > 0xffff || bus > 0xff || dev > 0x1f || func > 7) {
        error_setg(errp, "dartpass-provider: host '%s' is not a PCI address"
                   " (dddd:bb:dd.f or bb:dd.f)", host);
        return -1;
    }
    for (i = 0; i < le32_to_cpu(p->hello->nr_functions); i++) {
        if (le32_to_cpu(p->hello->fns[i].rid) ==
            PVDMA_RID(seg, bus, PCI_DEVFN(dev, func))) {
            return i;
        }
    }
    error_setg(errp, "dartpass-provider: %s does not offer %04x:%02x:%02x.%x (it"
               " lends %u function%s)", p->socket_path, seg, bus, dev, func,
               le32_to_cpu(p->hello->nr_functions),
               le32_to_cpu(p->hello->nr_functions) == 1 ? "" : "s");
    return -1;
}

void dartpass_provider_add_function(DartpassProvider *p, PCIDevice *dev)
{
    g_ptr_array_add(p->functions, dev);
}

void dartpass_provider_del_function(DartpassProvider *p, PCIDevice *dev)
{
    g_ptr_array_remove(p->functions, dev);
}

void dartpass_provider_foreach_function(DartpassProvider *p,
                                        void (*fn)(PCIDevice *dev, void *opaque),
                                        void *opaque)
{
    guint i;

    for (i = 0; i < p->functions->len; i++) {
        fn(g_ptr_array_index(p->functions, i), opaque);
    }
}

/* HELLO: its reply is the only one of variable length, so it is checked here. */
static bool dartpass_provider_greet(DartpassProvider *p, Error **errp)
{
    const uint32_t want = PROV_F_IRQ_EVENTFD | PROV_F_REGION_FD | PROV_F_DMA_FD;
    struct prov_hello_req req = {
        .version = cpu_to_le32(PROV_VERSION(PROV_VERSION_MAJOR, PROV_VERSION_MINOR)),
        .features = cpu_to_le32(want),
    };
    struct prov_hello_rep rep;
    const struct prov_limits *l = &rep.limits;
    const void *body;
    size_t body_len;
    uint32_t nr, shift, batch;
    int st, fd;

    st = dartpass_provider_exchange(p, PROV_OP_HELLO, 0, &req, sizeof(req), NULL, 0,
                                    &body, &body_len, &fd, errp);
    if (st < 0) {
        return false;
    }
    memcpy(&rep, body, MIN(body_len, sizeof(rep)));
    if (st == PROV_S_VERSION) {
        uint32_t v = le32_to_cpu(rep.version);

        error_setg(errp, "dartpass-provider: provider speaks version %u.%u, QEMU %u.%u",
                   v >> 16, v & 0xffff, PROV_VERSION_MAJOR, PROV_VERSION_MINOR);
        return false;
    }
    if (st != PROV_S_OK) {
        error_setg(errp, "dartpass-provider: HELLO refused by %s: %s", p->socket_path,
                   dartpass_provider_status_name(st));
        return false;
    }
    nr = le32_to_cpu(rep.nr_functions);
    shift = le32_to_cpu(l->granule_shift);
    batch = le32_to_cpu(l->max_batch);
    if (fd >= 0 || body_len < sizeof(rep) || nr > PROV_MAX_FUNCTIONS ||
        body_len != sizeof(rep) + nr * sizeof(struct prov_function) ||
        shift < 12 || shift > 30 || !batch || batch > PROV_MAX_BATCH ||
        !l->max_mappings || !l->max_bytes || !l->aperture_size) {
        error_setg(errp, "dartpass-provider: malformed HELLO reply from %s",
                   p->socket_path);
        if (fd >= 0) {
            close(fd);
        }
        return false;
    }
    if ((le32_to_cpu(rep.features) & want) != want) {
        error_setg(errp, "dartpass-provider: %s does not pass descriptors (features"
                   " 0x%x; QEMU needs 0x%x)", p->socket_path,
                   le32_to_cpu(rep.features), want);
        return false;
    }
    p->hello = g_memdup2(body, body_len);
    trace_dartpass_provider_hello(p->socket_path, le32_to_cpu(rep.version), nr);
    return true;
}

static void dartpass_provider_complete(UserCreatable *uc, Error **errp)
{
    DartpassProvider *p = DARTPASS_PROVIDER(uc);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };

    if (!p->socket_path) {
        error_setg(errp, "dartpass-provider: the socket property is required");
        return;
    }
    if (strlen(p->socket_path) >= sizeof(sa.sun_path)) {
        error_setg(errp, "dartpass-provider: socket path %s is too long",
                   p->socket_path);
        return;
    }
    strcpy(sa.sun_path, p->socket_path);
    p->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (p->fd < 0 || connect(p->fd, (struct sockaddr *)&sa, sizeof(sa))) {
        error_setg(errp, "dartpass-provider: cannot connect to %s: %s",
                   p->socket_path, strerror(errno));
        dartpass_provider_kill(p);
        return;
    }
    if (!dartpass_provider_greet(p, errp)) {
        dartpass_provider_kill(p);
    }
}

/* Functions lent through the connection keep it (pvdma holds a reference). */
static bool dartpass_provider_can_be_deleted(UserCreatable *uc)
{
    return !DARTPASS_PROVIDER(uc)->functions->len;
}

static char *dartpass_provider_get_socket(Object *obj, Error **errp)
{
    return g_strdup(DARTPASS_PROVIDER(obj)->socket_path);
}

static void dartpass_provider_set_socket(Object *obj, const char *value, Error **errp)
{
    DartpassProvider *p = DARTPASS_PROVIDER(obj);

    g_free(p->socket_path);
    p->socket_path = g_strdup(value);
}

/* The provider's own view of this connection (PROV_OP_COUNTERS), one per property. */
static const struct {
    const char *name;
    size_t offset;
} dartpass_provider_counter_props[] = {
    { "live-mappings", offsetof(struct prov_counters, live_mappings) },
    { "peak-mappings", offsetof(struct prov_counters, peak_mappings) },
    { "live-bytes", offsetof(struct prov_counters, live_bytes) },
    { "peak-bytes", offsetof(struct prov_counters, peak_bytes) },
    { "maps", offsetof(struct prov_counters, maps) },
    { "unmaps", offsetof(struct prov_counters, unmaps) },
    { "refused", offsetof(struct prov_counters, refused) },
    { "clients", offsetof(struct prov_counters, clients) },
    { "bad-requests", offsetof(struct prov_counters, bad_requests) },
    { "total-live-mappings", offsetof(struct prov_counters, total_live_mappings) },
    { "resets", offsetof(struct prov_counters, resets) },
};

static void dartpass_provider_get_counter(Object *obj, Visitor *v, const char *name,
                                          void *opaque, Error **errp)
{
    struct prov_counters c;
    uint64_t val;

    if (dartpass_provider_counters(DARTPASS_PROVIDER(obj), &c, errp) < 0) {
        return;
    }
    memcpy(&val, (uint8_t *)&c + (uintptr_t)opaque, sizeof(val));
    val = le64_to_cpu(val);
    visit_type_uint64(v, name, &val, errp);
}

static void dartpass_provider_instance_init(Object *obj)
{
    DartpassProvider *p = DARTPASS_PROVIDER(obj);

    p->fd = -1;
    p->next_id = 1;
    p->functions = g_ptr_array_new();
    p->rbuf = g_malloc(PROV_MAX_MSG + 1);
    qemu_mutex_init(&p->lock);
}

static void dartpass_provider_instance_finalize(Object *obj)
{
    DartpassProvider *p = DARTPASS_PROVIDER(obj);

    /* Closing the connection makes the provider release and unmap everything. */
    dartpass_provider_kill(p);
    qemu_mutex_destroy(&p->lock);
    g_ptr_array_free(p->functions, true);
    g_free(p->hello);
    g_free(p->rbuf);
    g_free(p->socket_path);
}

static void dartpass_provider_class_init(ObjectClass *oc, const void *data)
{
    UserCreatableClass *ucc = USER_CREATABLE_CLASS(oc);
    size_t i;

    ucc->complete = dartpass_provider_complete;
    ucc->can_be_deleted = dartpass_provider_can_be_deleted;
    object_class_property_add_str(oc, "socket", dartpass_provider_get_socket,
                                  dartpass_provider_set_socket);
    object_class_property_set_description(oc, "socket",
                                          "the provider's Unix socket");
    for (i = 0; i < ARRAY_SIZE(dartpass_provider_counter_props); i++) {
        object_class_property_add(oc, dartpass_provider_counter_props[i].name,
                                  "uint64", dartpass_provider_get_counter, NULL, NULL,
                                  (void *)(uintptr_t)
                                  dartpass_provider_counter_props[i].offset);
    }
}

static const TypeInfo dartpass_provider_info = {
    .name = TYPE_DARTPASS_PROVIDER,
    .parent = TYPE_OBJECT,
    .instance_size = sizeof(DartpassProvider),
    .instance_init = dartpass_provider_instance_init,
    .instance_finalize = dartpass_provider_instance_finalize,
    .class_init = dartpass_provider_class_init,
    .interfaces = (const InterfaceInfo[]) {
        { TYPE_USER_CREATABLE },
        { }
    },
};

static void dartpass_provider_register_types(void)
{
    type_register_static(&dartpass_provider_info);
}

type_init(dartpass_provider_register_types)
