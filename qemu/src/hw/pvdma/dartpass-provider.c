/*
 * dartpass-provider: QEMU's connection to a dartpass provider (docs/specs/provider.rst)
 *
 * What every transport shares: message framing and checks, HELLO, the object and its
 * properties, and the main-loop side of NOTIFY. Every request gets exactly one reply
 * echoing its op and id. The transport (dartpass-transport.h) is the socket unless
 * the service property names an IOKit service.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qemu/lockable.h"
#include "qemu/main-loop.h"
#include "qemu/module.h"
#include "qapi/error.h"
#include "qapi/visitor.h"
#include "qom/object_interfaces.h"
#include "hw/pci/pci_device.h"
#include "dartpass-transport.h"
#include "dp_prov.h"
#ifndef __APPLE__
#include "iokit-shim.h"
#endif
#include "trace.h"

#define HDR sizeof(struct prov_hdr)

const char *dartpass_provider_status_name(int status)
{
    return status < 0 ? "no reply" : dp_prov_status_name(status);
}

static void dartpass_provider_kill(DartpassProvider *p)
{
    if (p->t) {
        p->ops->close(p);
        p->t = NULL;
        notifier_list_notify(&p->lost, p);
    }
}

void dartpass_provider_add_lost_notifier(DartpassProvider *p, Notifier *n)
{
    notifier_list_add(&p->lost, n);
}

/*
 * Checks a reply of len bytes in p->rbuf to request h (the transport checked its own
 * framing). Returns its status, or -EPROTO with errp set.
 */
static int dartpass_provider_check(DartpassProvider *p, const struct prov_hdr *h,
                                   ssize_t len, int fd, Error **errp)
{
    uint16_t op = le16_to_cpu(h->op);
    struct prov_hdr r;
    int st;

    if (len < HDR) {
        error_setg(errp, "dartpass-provider: reply to op %u is %zd bytes, shorter than"
                   " a header", op, len);
        return -EPROTO;
    }
    memcpy(&r, p->rbuf, HDR);
    st = le16_to_cpu(r.status);
    if (le32_to_cpu(r.len) != len || r.op != h->op || r.id != h->id) {
        error_setg(errp, "dartpass-provider: reply op %u id %u len %u (%zd bytes came)"
                   " to request op %u id %u", le16_to_cpu(r.op), le32_to_cpu(r.id),
                   le32_to_cpu(r.len), len, op, le32_to_cpu(h->id));
        return -EPROTO;
    }
    if (st >= PROV_S_COUNT ||
        (st != PROV_S_OK && (fd >= 0 || len != HDR + (st == PROV_S_VERSION ?
                                               sizeof(struct prov_hello_rep) : 0)))) {
        error_setg(errp, "dartpass-provider: malformed %s reply to op %u (%zd bytes%s)",
                   dartpass_provider_status_name(st), op, len,
                   fd >= 0 ? ", a descriptor" : "");
        return -EPROTO;
    }
    return st;
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
    ssize_t len;
    int ret, st, fd = -1;

    *rep_fd = -1;
    if (!p->t) {
        error_setg(errp, "dartpass-provider: the connection to %s is gone", p->peer);
        return -EPIPE;
    }
    if (HDR + req_len > PROV_MAX_MSG || nfds > PROV_MAX_FDS) {
        error_setg(errp, "dartpass-provider: op %u of %zu bytes and %u descriptors"
                   " does not fit a message", op, req_len, nfds);
        return -EINVAL;
    }
    memcpy(p->sbuf, &h, HDR);
    if (req_len) {
        memcpy(p->sbuf + HDR, req, req_len);
    }
    if (op == PROV_OP_NOTIFY) {
        len = p->ops->notify(p, p->sbuf, HDR + req_len, errp);
    } else {
        len = p->ops->call(p, p->sbuf, HDR + req_len, fds, nfds, &fd, errp);
    }
    ret = len < 0 ? len : dartpass_provider_check(p, &h, len, fd, errp);
    if (ret < 0) {
        goto dead;
    }
    st = ret;
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
    return p->t != NULL;
}

uint32_t dartpass_provider_features(DartpassProvider *p)
{
    return p->features;
}

void *dartpass_provider_map(DartpassProvider *p, uint64_t type, uint64_t size,
                            bool wc, Error **errp)
{
    QEMU_LOCK_GUARD(&p->lock);
    if (!p->t || !p->ops->map) {
        error_setg(errp, "dartpass-provider: %s cannot map memory types", p->peer);
        return NULL;
    }
    return p->ops->map(p, type, size, wc, errp);
}

void dartpass_provider_unmap(DartpassProvider *p, uint64_t type, void *ptr,
                             uint64_t size)
{
    QEMU_LOCK_GUARD(&p->lock);
    if (p->t) {
        p->ops->unmap(p, type, ptr, size);
    }
}

void dartpass_provider_add_pending_listener(DartpassProvider *p,
                                            void (*fn)(void *opaque), void *opaque)
{
    DartpassPendingListener l = { .fn = fn, .opaque = opaque };

    g_array_append_val(p->listeners, l);
}

void dartpass_provider_del_pending_listener(DartpassProvider *p,
                                            void (*fn)(void *opaque), void *opaque)
{
    guint i;

    for (i = 0; i < p->listeners->len; i++) {
        DartpassPendingListener *l = &g_array_index(p->listeners,
                                                    DartpassPendingListener, i);

        if (l->fn == fn && l->opaque == opaque) {
            g_array_remove_index(p->listeners, i);
            return;
        }
    }
}

/* NOTIFY fired (any function, any vector): every listener reads its pending bits. */
static void dartpass_provider_notified(EventNotifier *e)
{
    DartpassProvider *p = container_of(e, DartpassProvider, notified);
    guint i;

    event_notifier_test_and_clear(e);
    trace_dartpass_provider_notified(p->peer);
    for (i = 0; i < p->listeners->len; i++) {
        DartpassPendingListener *l = &g_array_index(p->listeners,
                                                    DartpassPendingListener, i);

        l->fn(l->opaque);
    }
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
               " lends %u function%s)", p->peer, seg, bus, dev, func,
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

/* NOTIFY, once per connection: the transport sets p->notified at each notification. */
static bool dartpass_provider_arm(DartpassProvider *p, Error **errp)
{
    const void *body;
    size_t body_len;
    int st, fd;

    if (!p->ops->notify) {
        error_setg(errp, "dartpass-provider: the %s transport has no NOTIFY",
                   p->ops->name);
        return false;
    }
    if (event_notifier_init(&p->notified, 0)) {
        error_setg(errp, "dartpass-provider: cannot create a notifier");
        return false;
    }
    event_notifier_set_handler(&p->notified, dartpass_provider_notified);
    st = dartpass_provider_exchange(p, PROV_OP_NOTIFY, 0, NULL, 0, NULL, 0, &body,
                                    &body_len, &fd, errp);
    if (st == PROV_S_OK && (body_len || fd >= 0)) {
        error_setg(errp, "dartpass-provider: malformed NOTIFY reply from %s", p->peer);
        st = -EPROTO;
    } else if (st > 0) {
        error_setg(errp, "dartpass-provider: NOTIFY refused by %s: %s", p->peer,
                   dartpass_provider_status_name(st));
    }
    if (fd >= 0) {
        close(fd);
    }
    return st == PROV_S_OK;
}

/* HELLO: its reply is the only one of variable length, so it is checked here. */
static bool dartpass_provider_greet(DartpassProvider *p, Error **errp)
{
    const uint32_t want = p->ops->features;
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
        error_setg(errp, "dartpass-provider: HELLO refused by %s: %s", p->peer,
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
                   p->peer);
        if (fd >= 0) {
            close(fd);
        }
        return false;
    }
    if ((le32_to_cpu(rep.features) & want) != want) {
        error_setg(errp, "dartpass-provider: %s lacks features the %s transport"
                   " needs (offers 0x%x, QEMU needs 0x%x)", p->peer, p->ops->name,
                   le32_to_cpu(rep.features), want);
        return false;
    }
    p->hello = g_memdup2(body, body_len);
    p->features = le32_to_cpu(rep.features);
    trace_dartpass_provider_hello(p->peer, le32_to_cpu(rep.version), nr);
    return true;
}

static void dartpass_provider_complete(UserCreatable *uc, Error **errp)
{
    DartpassProvider *p = DARTPASS_PROVIDER(uc);

    if (p->service) {
        p->ops = &dartpass_iokit_transport;
        p->peer = p->service;
#ifndef __APPLE__
        /*
         * Off macOS the IOKit stand-in (iokit-shim.h) reaches the service through a
         * Linux provider's socket: this registers it, as installing the driver would.
         */
        if (!p->socket_path) {
            error_setg(errp, "dartpass-provider: service=%s needs socket=PATH off"
                       " macOS (the IOKit shim's Linux provider)", p->service);
            return;
        }
        if (iokit_shim_register_service(p->service, p->socket_path)) {
            error_setg(errp, "dartpass-provider: the IOKit shim cannot register %s",
                       p->service);
            return;
        }
#endif
    } else if (p->socket_path) {
#ifdef __APPLE__
        error_setg(errp, "dartpass-provider: macOS providers are IOKit services:"
                   " use service=NAME");
        return;
#endif
        p->ops = &dartpass_socket_transport;
        p->peer = p->socket_path;
    } else {
        error_setg(errp, "dartpass-provider: the socket property is required"
                   " (or service=NAME for the IOKit transport)");
        return;
    }
    if (!p->ops->open(p, errp)) {
        return;
    }
    if (!dartpass_provider_greet(p, errp) ||
        ((p->features & PROV_F_IRQ_PENDING) && !dartpass_provider_arm(p, errp))) {
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

static char *dartpass_provider_get_service(Object *obj, Error **errp)
{
    return g_strdup(DARTPASS_PROVIDER(obj)->service);
}

static void dartpass_provider_set_service(Object *obj, const char *value,
                                          Error **errp)
{
    DartpassProvider *p = DARTPASS_PROVIDER(obj);

    g_free(p->service);
    p->service = g_strdup(value);
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

    p->next_id = 1;
    p->functions = g_ptr_array_new();
    notifier_list_init(&p->lost);
    p->listeners = g_array_new(false, false, sizeof(DartpassPendingListener));
    p->sbuf = g_malloc(PROV_MAX_MSG);
    p->rbuf = g_malloc(PROV_MAX_MSG + 1);
    qemu_mutex_init(&p->lock);
}

static void dartpass_provider_instance_finalize(Object *obj)
{
    DartpassProvider *p = DARTPASS_PROVIDER(obj);

    /* Closing the connection makes the provider release and unmap everything. */
    dartpass_provider_kill(p);
    if (p->notified.initialized) {
        event_notifier_set_handler(&p->notified, NULL);
        event_notifier_cleanup(&p->notified);
    }
    qemu_mutex_destroy(&p->lock);
    g_ptr_array_free(p->functions, true);
    g_array_free(p->listeners, true);
    g_free(p->hello);
    g_free(p->sbuf);
    g_free(p->rbuf);
    g_free(p->socket_path);
    g_free(p->service);
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
    object_class_property_add_str(oc, "service", dartpass_provider_get_service,
                                  dartpass_provider_set_service);
    object_class_property_set_description(oc, "service",
                                          "IOKit transport: the provider driver's"
                                          " service name (off macOS through the"
                                          " IOKit shim to socket)");
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
