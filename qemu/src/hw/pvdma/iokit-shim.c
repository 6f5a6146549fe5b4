/*
 * iokit-shim: IOKit's user-space calls that dartpass-iokit.c makes, over a Linux
 * dartpass provider's socket (what each stands for: iokit-shim.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include "qemu/thread.h"
#include "provider_proto.h"
#include "iokit-shim.h"
#include "dp_sock.h"

/* As the socket transport: providers under TCG may take seconds to answer. */
#define SHIM_REPLY_MS   (30 * 1000)
#define SHIM_HANDLES    64
#define HDR             sizeof(struct prov_hdr)

struct __CFDictionary {
    char *name;
};

typedef struct ShimService {
    char *name, *path;
} ShimService;

/* A memory type: the descriptor REGION_MAP passed, until unmapped or closed. */
typedef struct ShimMemory {
    uint32_t type;
    int fd, prot;
    uint64_t offset, size;
    void *addr;
} ShimMemory;

typedef struct ShimConnection {
    int sock;                   /* -1 once the provider is gone */
    uint32_t asked, agreed;     /* HELLO: the client's features, the provider's */
    uint32_t next_type;
    GArray *memory;             /* ShimMemory; NULL: a free slot */
} ShimConnection;

struct dispatch_queue_s {
    QemuMutex lock;             /* serial: one callout at a time */
};

struct IONotificationPort {
    mach_port_t handle;
    dispatch_queue_t queue;
    int rfd, stop;              /* NOTIFY's pipe (read end); -1 until armed */
    IOAsyncCallback callback;
    void *refcon;
    QemuThread thread;
};

G_LOCK_DEFINE_STATIC(shim);
static ShimService services[SHIM_HANDLES];
static ShimConnection connections[SHIM_HANDLES];
static IONotificationPortRef ports[SHIM_HANDLES];

int iokit_shim_register_service(const char *name, const char *socket_path)
{
    int i, ret = -ENOSPC;

    G_LOCK(shim);
    for (i = 0; i < SHIM_HANDLES; i++) {
        if (!services[i].name || !strcmp(services[i].name, name)) {
            g_free(services[i].path);
            services[i].name = services[i].name ?: g_strdup(name);
            services[i].path = g_strdup(socket_path);
            ret = 0;
            break;
        }
    }
    G_UNLOCK(shim);
    return ret;
}

mach_port_t mach_task_self(void)
{
    return 1;
}

CFMutableDictionaryRef IOServiceNameMatching(const char *name)
{
    CFMutableDictionaryRef d = g_new(struct __CFDictionary, 1);

    d->name = g_strdup(name);
    return d;
}

io_service_t IOServiceGetMatchingService(mach_port_t mainPort,
                                         CFDictionaryRef matching)
{
    CFMutableDictionaryRef d = (CFMutableDictionaryRef)matching;
    io_service_t found = 0;
    int i;

    G_LOCK(shim);
    for (i = 0; i < SHIM_HANDLES && services[i].name; i++) {
        if (!strcmp(services[i].name, d->name)) {
            found = i + 1;
        }
    }
    G_UNLOCK(shim);
    g_free(d->name);
    g_free(d);
    return found;
}

kern_return_t IOObjectRelease(io_object_t object)
{
    return kIOReturnSuccess;
}

static ShimConnection *shim_connection(io_connect_t connect)
{
    ShimConnection *c = connect && connect <= SHIM_HANDLES ?
                        &connections[connect - 1] : NULL;

    return c && c->memory ? c : NULL;
}

kern_return_t IOServiceOpen(io_service_t service, task_port_t owningTask,
                            uint32_t type, io_connect_t *connection)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    kern_return_t kr = kIOReturnNoDevice;
    int i, fd = -1;

    G_LOCK(shim);
    if (type || !service || service > SHIM_HANDLES || !services[service - 1].path ||
        strlen(services[service - 1].path) >= sizeof(sa.sun_path)) {
        kr = kIOReturnBadArgument;
        goto out;
    }
    strcpy(sa.sun_path, services[service - 1].path);
    for (i = 0; i < SHIM_HANDLES && connections[i].memory; i++) {
        continue;
    }
    fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (i == SHIM_HANDLES || fd < 0 ||
        connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
        goto out;
    }
    connections[i] = (ShimConnection) {
        .sock = fd,
        .memory = g_array_new(false, false, sizeof(ShimMemory)),
    };
    *connection = i + 1;
    fd = -1;
    kr = kIOReturnSuccess;
out:
    G_UNLOCK(shim);
    if (fd >= 0) {
        close(fd);
    }
    return kr;
}

static void shim_memory_drop(ShimConnection *c, guint i)
{
    ShimMemory *m = &g_array_index(c->memory, ShimMemory, i);

    if (m->addr) {
        munmap(m->addr, m->size);
    }
    close(m->fd);
    g_array_remove_index_fast(c->memory, i);
}

/* The user client goes away with every mapping of it, as on macOS. */
kern_return_t IOServiceClose(io_connect_t connect)
{
    ShimConnection *c;

    G_LOCK(shim);
    c = shim_connection(connect);
    if (c) {
        while (c->memory->len) {
            shim_memory_drop(c, 0);
        }
        g_array_free(c->memory, true);
        if (c->sock >= 0) {
            close(c->sock);
        }
        *c = (ShimConnection) { .sock = -1 };
    }
    G_UNLOCK(shim);
    return c ? kIOReturnSuccess : kIOReturnNotOpen;
}

/*
 * The descriptor of the file whose mapping holds [base, base + size) from offset 0:
 * guest RAM's memfd, as macOS would wire the client's pages. -1 if there is none.
 */
static int shim_fd_of_address(uint64_t base, uint64_t size)
{
    g_autofree char *maps = NULL;
    char **lines, **l;
    int fd = -1;

    if (!g_file_get_contents("/proc/self/maps", &maps, NULL, NULL)) {
        return -1;
    }
    lines = g_strsplit(maps, "\n", -1);
    for (l = lines; *l; l++) {
        uint64_t start, end, off;

        if (sscanf(*l, "%" SCNx64 "-%" SCNx64 " %*s %" SCNx64, &start, &end,
                   &off) == 3 && start <= base && base < end) {
            if (base + size <= end && off + (base - start) == 0) {
                g_autofree char *path = g_strdup_printf("/proc/self/map_files/%"
                                                        PRIx64 "-%" PRIx64,
                                                        start, end);

                fd = open(path, O_RDWR | O_CLOEXEC);
            }
            break;
        }
    }
    g_strfreev(lines);
    return fd;
}

/*
 * One message and its reply (into out, *out_len bytes at most), with the
 * translations of iokit-shim.h. notify_fd (NULL but for NOTIFY) receives the pipe
 * NOTIFY's reply lends.
 */
static kern_return_t shim_call(ShimConnection *c, uint32_t selector, const void *in,
                               size_t in_len, int *notify_fd, void *out, size_t *out_len)
{
    g_autofree uint8_t *msg = g_malloc(PROV_MAX_MSG + 1);
    struct pollfd pfd = { .fd = c->sock, .events = POLLIN };
    struct prov_hdr h;
    int fd = -1, rfd = -1, sent;
    unsigned int nr, lost;
    kern_return_t kr = kIOReturnNotResponding;
    ssize_t n;

    if (c->sock < 0) {
        return kIOReturnNotOpen;
    }
    if (in_len < HDR || in_len > PROV_MAX_MSG) {
        return kIOReturnBadArgument;
    }
    memcpy(msg, in, in_len);
    if (selector == PROV_OP_HELLO && in_len == HDR + sizeof(struct prov_hello_req)) {
        struct prov_hello_req *r = (void *)(msg + HDR);

        c->asked = le32_to_cpu(r->features);
        r->features = cpu_to_le32(c->asked | PROV_F_REGION_FD | PROV_F_DMA_FD);
    } else if (selector == PROV_OP_DMA_MEMORY && (c->agreed & PROV_F_DMA_FD) &&
               in_len == HDR + sizeof(struct prov_dma_memory_req)) {
        struct prov_dma_memory_req *r = (void *)(msg + HDR);

        fd = shim_fd_of_address(le64_to_cpu(r->base), le64_to_cpu(r->size));
        if (fd < 0) {
            return kIOReturnBadArgument;
        }
        r->base = 0;
    }
    sent = dp_sock_send(c->sock, msg, in_len, &fd, fd >= 0, 0);
    if (fd >= 0) {
        close(fd);
    }
    if (sent) {
        goto dead;
    }
    if (poll(&pfd, 1, SHIM_REPLY_MS) != 1) {
        kr = kIOReturnTimeout;
        goto dead;
    }
    n = dp_sock_recv(c->sock, msg, PROV_MAX_MSG + 1, &rfd, 1, &nr, &lost, 0);
    if (!nr) {
        rfd = -1;
    }
    if (n < (ssize_t)HDR || lost) {
        goto dead;
    }
    memcpy(&h, msg, HDR);
    if (h.status == cpu_to_le16(PROV_S_OK) && lduw_le_p(msg) == selector) {
        if (selector == PROV_OP_HELLO && n >= HDR + sizeof(struct prov_hello_rep)) {
            struct prov_hello_rep *r = (void *)(msg + HDR);

            c->agreed = le32_to_cpu(r->features);
            r->features = cpu_to_le32(c->agreed & c->asked);
        } else if (selector == PROV_OP_REGION_MAP && rfd >= 0 &&
                   n == HDR + sizeof(struct prov_region_map_rep)) {
            struct prov_region_map_rep *r = (void *)(msg + HDR);
            uint32_t flags = le32_to_cpu(r->flags);
            ShimMemory m = {
                .type = ++c->next_type,
                .fd = rfd,
                .prot = (flags & PROV_REGION_READ ? PROT_READ : 0) |
                        (flags & PROV_REGION_WRITE ? PROT_WRITE : 0),
                .offset = le64_to_cpu(r->offset),
                .size = le64_to_cpu(r->size),
            };

            G_LOCK(shim);
            g_array_append_val(c->memory, m);
            G_UNLOCK(shim);
            r->offset = cpu_to_le64(m.type);
            rfd = -1;
        } else if (selector == PROV_OP_NOTIFY && notify_fd && rfd >= 0) {
            *notify_fd = rfd;
            rfd = -1;
        }
    }
    if (rfd >= 0) {
        close(rfd);
    }
    if ((size_t)n > *out_len) {
        return kIOReturnBadArgument;
    }
    memcpy(out, msg, n);
    *out_len = n;
    return kIOReturnSuccess;

dead:
    if (rfd >= 0) {
        close(rfd);
    }
    close(c->sock);
    c->sock = -1;
    return kr;
}

kern_return_t IOConnectCallStructMethod(mach_port_t connection, uint32_t selector,
                                        const void *inputStruct,
                                        size_t inputStructCnt, void *outputStruct,
                                        size_t *outputStructCnt)
{
    ShimConnection *c = shim_connection(connection);

    return c ? shim_call(c, selector, inputStruct, inputStructCnt, NULL, outputStruct,
                         outputStructCnt) : kIOReturnNotOpen;
}

kern_return_t IOConnectMapMemory64(io_connect_t connect, uint32_t memoryType,
                                   task_port_t intoTask, mach_vm_address_t *atAddress,
                                   mach_vm_size_t *ofSize, IOOptionBits options)
{
    ShimConnection *c;
    kern_return_t kr = kIOReturnBadArgument;
    guint i;

    G_LOCK(shim);
    c = shim_connection(connect);
    for (i = 0; c && (options & kIOMapAnywhere) && i < c->memory->len; i++) {
        ShimMemory *m = &g_array_index(c->memory, ShimMemory, i);
        void *addr;

        if (m->type != memoryType || m->addr) {
            continue;
        }
        addr = mmap(NULL, m->size, m->prot, MAP_SHARED, m->fd, m->offset);
        if (addr == MAP_FAILED) {
            kr = kIOReturnNoMemory;
            break;
        }
        m->addr = addr;
        *atAddress = (uintptr_t)addr;
        *ofSize = m->size;
        kr = kIOReturnSuccess;
        break;
    }
    G_UNLOCK(shim);
    return kr;
}

/* The descriptor goes with the mapping: one kept would make CLAIMs BUSY. */
kern_return_t IOConnectUnmapMemory64(io_connect_t connect, uint32_t memoryType,
                                     task_port_t fromTask,
                                     mach_vm_address_t atAddress)
{
    ShimConnection *c;
    kern_return_t kr = kIOReturnBadArgument;
    guint i;

    G_LOCK(shim);
    c = shim_connection(connect);
    for (i = 0; c && i < c->memory->len; i++) {
        ShimMemory *m = &g_array_index(c->memory, ShimMemory, i);

        if (m->type == memoryType && m->addr &&
            (uintptr_t)m->addr == atAddress) {
            shim_memory_drop(c, i);
            kr = kIOReturnSuccess;
            break;
        }
    }
    G_UNLOCK(shim);
    return kr;
}

dispatch_queue_t dispatch_queue_create(const char *label, dispatch_queue_attr_t attr)
{
    dispatch_queue_t q = g_new0(struct dispatch_queue_s, 1);

    qemu_mutex_init(&q->lock);
    return q;
}

void dispatch_sync_f(dispatch_queue_t queue, void *context, dispatch_function_t work)
{
    qemu_mutex_lock(&queue->lock);
    work(context);
    qemu_mutex_unlock(&queue->lock);
}

void dispatch_release(dispatch_queue_t queue)
{
    qemu_mutex_destroy(&queue->lock);
    g_free(queue);
}

IONotificationPortRef IONotificationPortCreate(mach_port_t mainPort)
{
    IONotificationPortRef n = NULL;
    int i;

    G_LOCK(shim);
    for (i = 0; i < SHIM_HANDLES && ports[i]; i++) {
        continue;
    }
    if (i < SHIM_HANDLES) {
        n = g_new0(struct IONotificationPort, 1);
        n->handle = i + 1;
        n->rfd = n->stop = -1;
        ports[i] = n;
    }
    G_UNLOCK(shim);
    return n;
}

void IONotificationPortSetDispatchQueue(IONotificationPortRef notify,
                                        dispatch_queue_t queue)
{
    notify->queue = queue;
}

mach_port_t IONotificationPortGetMachPort(IONotificationPortRef notify)
{
    return notify->handle;
}

/*
 * The dispatch queue's part: a callout each time the provider writes to NOTIFY's
 * pipe, drained first so that a bit set during the callout is told again. The pipe's
 * end (the provider gone) ends the callouts, as a dead port would.
 */
static void *shim_notify_thread(void *opaque)
{
    IONotificationPortRef n = opaque;
    struct pollfd pfd[2] = {
        { .fd = n->rfd, .events = POLLIN },
        { .fd = n->stop, .events = POLLIN },
    };
    char buf[64];
    ssize_t r;

    while (poll(pfd, 2, -1) >= 0 || errno == EINTR) {
        if (pfd[1].revents) {
            break;
        }
        if (!pfd[0].revents) {
            continue;
        }
        while ((r = read(n->rfd, buf, sizeof(buf))) == sizeof(buf)) {
            continue;
        }
        if (r == 0 || (r < 0 && errno != EAGAIN)) {
            break;
        }
        qemu_mutex_lock(&n->queue->lock);
        n->callback(n->refcon, kIOReturnSuccess, NULL, 0);
        qemu_mutex_unlock(&n->queue->lock);
    }
    return NULL;
}

kern_return_t IOConnectCallAsyncStructMethod(mach_port_t connection,
                                             uint32_t selector, mach_port_t wake_port,
                                             uint64_t *reference,
                                             uint32_t referenceCnt,
                                             const void *inputStruct,
                                             size_t inputStructCnt,
                                             void *outputStruct,
                                             size_t *outputStructCnt)
{
    ShimConnection *c = shim_connection(connection);
    IONotificationPortRef n = wake_port && wake_port <= SHIM_HANDLES ?
                              ports[wake_port - 1] : NULL;
    kern_return_t kr;

    /* Only NOTIFY completes asynchronously, once armed per port. */
    if (!c || !n || !n->queue || n->rfd >= 0 || selector != PROV_OP_NOTIFY ||
        referenceCnt < kIOAsyncCalloutCount) {
        return c ? kIOReturnBadArgument : kIOReturnNotOpen;
    }
    n->stop = eventfd(0, EFD_CLOEXEC);
    if (n->stop < 0) {
        return kIOReturnNoMemory;
    }
    kr = shim_call(c, selector, inputStruct, inputStructCnt, &n->rfd, outputStruct,
                   outputStructCnt);
    /* Without a pipe the provider refused NOTIFY: the reply's status says why. */
    if (kr != kIOReturnSuccess || n->rfd < 0) {
        close(n->stop);
        n->stop = -1;
        return kr;
    }
    /* The thread drains it without waiting. */
    if (fcntl(n->rfd, F_SETFL, O_NONBLOCK)) {
        close(n->rfd);
        close(n->stop);
        n->rfd = n->stop = -1;
        return kIOReturnError;
    }
    n->callback = (IOAsyncCallback)(uintptr_t)reference[kIOAsyncCalloutFuncIndex];
    n->refcon = (void *)(uintptr_t)reference[kIOAsyncCalloutRefconIndex];
    qemu_thread_create(&n->thread, "dartpass-notify", shim_notify_thread, n,
                       QEMU_THREAD_JOINABLE);
    return kIOReturnSuccess;
}

void IONotificationPortDestroy(IONotificationPortRef notify)
{
    if (notify->rfd >= 0) {
        uint64_t one = 1;

        if (write(notify->stop, &one, sizeof(one)) == sizeof(one)) {
            qemu_thread_join(&notify->thread);
        }
        close(notify->rfd);
        close(notify->stop);
    }
    G_LOCK(shim);
    ports[notify->handle - 1] = NULL;
    G_UNLOCK(shim);
    g_free(notify);
}
