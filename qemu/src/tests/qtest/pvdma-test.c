/*
 * qtest for pvdma-pci and its emulated DART (docs/specs/pvdma.rst)
 *
 * Drives the protocol with no guest: batches are written into guest RAM with qtest,
 * the doorbell is rung through BAR0, results are read back. An edu device on the
 * managed root port issues real DMA through the emulated DART; a second edu on the
 * root bus shows that unmanaged devices are not translated.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "qemu/units.h"
#include "libqtest.h"
#include "qobject/qdict.h"
#include "libqos/pci.h"
#include "libqos/pci-pc.h"
#include "libqos/generic-pcihost.h"
#include "hw/pci/pci_regs.h"
#include "pvdma-qtest.h"

#define GRANULE         (16 * KiB)
#define EDU_BUF         0x40000         /* edu's internal DMA buffer */
#define EDU_DMA_SRC     0x80
#define EDU_DMA_DST     0x88
#define EDU_DMA_CNT     0x90
#define EDU_DMA_CMD     0x98
#define EDU_CMD_RUN     0x1
#define EDU_CMD_TO_RAM  0x2

typedef struct Rig {
    PVDMAQ pv;          /* the pvdma device at 04.0 */
    QPCIBus *bus;
    QGenericPCIBus *generic;
    QPCIDevice *rp, *edu, *edu_root;
    QPCIBar edu_bar, edu_root_bar;
    uint64_t ram;       /* start of scratch guest RAM */
    uint64_t ram_end;   /* end of guest RAM */
} Rig;

static bool is_x86(void)
{
    return !strcmp(qtest_get_arch(), "x86_64");
}

/* Window of the managed root port: everything above what bus 0 got. */
static void rig_open_bridge(Rig *r)
{
    uint64_t base = ROUND_UP(r->bus->mmio_alloc_ptr, 1 * MiB);
    uint64_t limit = r->bus->mmio_limit - 1;

    r->bus->mmio_alloc_ptr = base;
    qpci_config_writew(r->rp, PCI_MEMORY_BASE, (base >> 16) & 0xfff0);
    qpci_config_writew(r->rp, PCI_MEMORY_LIMIT, (limit >> 16) & 0xfff0);
    qpci_device_enable(r->rp);
}

static QPCIDevice *rig_find(Rig *r, int devfn, uint16_t vendor, uint16_t device)
{
    QPCIDevice *d = qpci_device_find(r->bus, devfn);

    g_assert(d);
    g_assert_cmphex(qpci_config_readw(d, PCI_VENDOR_ID), ==, vendor);
    g_assert_cmphex(qpci_config_readw(d, PCI_DEVICE_ID), ==, device);
    return d;
}

/* The default aperture of each machine: clear of its PCI MMIO windows. */
static uint64_t aperture_base(void)
{
    return is_x86() ? 256 * MiB : 1 * GiB;
}

static uint64_t aperture_size(void)
{
    return is_x86() ? 2 * GiB - 256 * MiB : 3 * GiB;
}

/*
 * Root port 00:05.0 (bus "rp1", managed), pvdma at 00:04.0, edu at 01:00.0 behind the
 * root port, and an unmanaged edu at 00:06.0. extra are pvdma-pci properties.
 */
static Rig *rig_start(const char *extra)
{
    Rig *r = g_new0(Rig, 1);
    const char *machine = is_x86() ? "-machine q35" : "-machine virt -cpu max";
    uint64_t ram_base = is_x86() ? 0 : 0x40000000;

    r->pv.qts = qtest_initf("%s -m 256M -nodefaults"
                         " -device pcie-root-port,id=rp1,chassis=1,addr=05.0"
                         " -device pvdma-pci,id=pv,addr=04.0,managed-bus=rp1%s"
                         " -device edu,bus=rp1,dma_mask=0xffffffffffff"
                         " -device edu,addr=06.0,dma_mask=0xffffffffffff",
                         machine, extra ? extra : "");
    if (is_x86()) {
        r->bus = qpci_new_pc(r->pv.qts, NULL);
    } else {
        r->generic = g_new0(QGenericPCIBus, 1);
        qpci_init_generic(r->generic, r->pv.qts, NULL, false);
        r->bus = &r->generic->bus;
    }
    r->ram = ram_base + 64 * MiB;
    r->ram_end = ram_base + 256 * MiB;
    r->pv.batch = ram_base + 32 * MiB;
    g_assert_cmpint(qpci_secondary_buses_init(r->bus), ==, 1);

    r->pv.dev = rig_find(r, QPCI_DEVFN(4, 0), PVDMA_PCI_VENDOR_ID, PVDMA_PCI_DEVICE_ID);
    qpci_device_enable(r->pv.dev);
    r->pv.bar = qpci_iomap(r->pv.dev, 0, NULL);
    r->edu_root = rig_find(r, QPCI_DEVFN(6, 0), 0x1234, 0x11e8);
    qpci_device_enable(r->edu_root);
    r->edu_root_bar = qpci_iomap(r->edu_root, 0, NULL);
    r->rp = rig_find(r, QPCI_DEVFN(5, 0), 0x1b36, 0x000c);
    rig_open_bridge(r);
    r->edu = rig_find(r, QPCI_DEVFN(32, 0), 0x1234, 0x11e8);
    qpci_device_enable(r->edu);
    r->edu_bar = qpci_iomap(r->edu, 0, NULL);
    return r;
}

static void rig_stop(Rig *r)
{
    g_free(r->pv.dev);
    g_free(r->rp);
    g_free(r->edu);
    g_free(r->edu_root);
    if (r->generic) {
        g_free(r->generic);
    } else {
        qpci_free_pc(r->bus);
    }
    qtest_quit(r->pv.qts);
    g_free(r);
}

static uint64_t pv_stat(Rig *r, const char *name)
{
    return pvq_qom_u64(r->pv.qts, "/machine/peripheral/pv", name);
}

static void rig_enable(Rig *r)
{
    pvq_wr(&r->pv, PVDMA_REG_DRV_FEATURES, PVDMA_F_GRANULE | PVDMA_F_FAULT_LOG);
    pvq_wr(&r->pv, PVDMA_REG_STATUS, PVDMA_STATUS_ENABLE);
}

static uint16_t one(Rig *r, struct pvdma_req *q)
{
    g_assert_cmpuint(pvq_ring(&r->pv, q, 1), ==, PVDMA_S_OK);
    return le16_to_cpu(q->status);
}

static uint64_t map_ok(Rig *r, uint64_t gpa, uint32_t len, uint8_t flags)
{
    struct pvdma_req q = pvq_map_req(gpa, len, flags);

    g_assert_cmpuint(one(r, &q), ==, PVDMA_S_OK);
    g_assert_cmpuint(le32_to_cpu(q.mapped), ==, len);
    return le64_to_cpu(q.iova);
}

static void unmap_ok(Rig *r, uint64_t iova, uint32_t len)
{
    struct pvdma_req q = pvq_unmap_req(iova, len);

    g_assert_cmpuint(one(r, &q), ==, PVDMA_S_OK);
}

static uint16_t map_status(Rig *r, uint64_t gpa, uint32_t len, uint8_t flags)
{
    struct pvdma_req q = pvq_map_req(gpa, len, flags);

    return one(r, &q);
}

static void edu_dma(Rig *r, QPCIDevice *d, QPCIBar bar, uint64_t addr, uint32_t len,
                    bool to_ram)
{
    qpci_io_writeq(d, bar, EDU_DMA_SRC, to_ram ? EDU_BUF : addr);
    qpci_io_writeq(d, bar, EDU_DMA_DST, to_ram ? addr : EDU_BUF);
    qpci_io_writeq(d, bar, EDU_DMA_CNT, len);
    qpci_io_writeq(d, bar, EDU_DMA_CMD, EDU_CMD_RUN | (to_ram ? EDU_CMD_TO_RAM : 0));
    /* edu starts the transfer 100 ms of virtual time after the command. */
    qtest_clock_step(r->pv.qts, 200 * 1000 * 1000);
    g_assert_cmphex(qpci_io_readq(d, bar, EDU_DMA_CMD) & EDU_CMD_RUN, ==, 0);
}

static void fill(Rig *r, uint64_t gpa, uint8_t seed, size_t len)
{
    g_autofree uint8_t *buf = g_malloc(len);
    size_t i;

    for (i = 0; i < len; i++) {
        buf[i] = seed + i * 7;
    }
    qtest_memwrite(r->pv.qts, gpa, buf, len);
}

static bool holds(Rig *r, uint64_t gpa, uint8_t seed, size_t len)
{
    g_autofree uint8_t *buf = g_malloc(len);
    size_t i;

    qtest_memread(r->pv.qts, gpa, buf, len);
    for (i = 0; i < len; i++) {
        if (buf[i] != (uint8_t)(seed + i * 7)) {
            return false;
        }
    }
    return true;
}

static void test_identity(void)
{
    Rig *r = rig_start(NULL);

    g_assert_cmphex(pvq_rd(&r->pv, PVDMA_REG_MAGIC), ==, PVDMA_MAGIC);
    g_assert_cmphex(pvq_rd(&r->pv, PVDMA_REG_VERSION), ==,
                    PVDMA_VERSION(PVDMA_VERSION_MAJOR, PVDMA_VERSION_MINOR));
    g_assert_cmphex(pvq_rd(&r->pv, PVDMA_REG_DEV_FEATURES), ==,
                    PVDMA_F_GRANULE | PVDMA_F_FAULT_LOG);
    g_assert_cmpuint(pvq_rd(&r->pv, PVDMA_REG_GRANULE_SHIFT), ==, 14);
    g_assert_cmpuint(pvq_rd(&r->pv, PVDMA_REG_MAX_BATCH), ==, 512);
    g_assert_cmpuint(pvq_rd(&r->pv, PVDMA_REG_MAX_MAPPINGS), ==, 65536);
    g_assert_cmpuint(pvq_rd(&r->pv, PVDMA_REG_MAX_BYTES_LO), ==, 1536 * MiB);
    g_assert_cmpuint(pvq_rd(&r->pv, PVDMA_REG_MAX_BYTES_HI), ==, 0);
    g_assert_cmphex(pvq_rd(&r->pv, PVDMA_REG_APERTURE_LO), ==,
                    (uint32_t)aperture_base());
    g_assert_cmphex(pvq_rd(&r->pv, PVDMA_REG_APERTURE_HI), ==, aperture_base() >> 32);
    g_assert_cmphex(pvq_rd(&r->pv, PVDMA_REG_APSIZE_LO), ==, (uint32_t)aperture_size());
    g_assert_cmphex(pvq_rd(&r->pv, PVDMA_REG_APSIZE_HI), ==, aperture_size() >> 32);
    /* Exactly the edu behind the root port is managed, named by requester ID. */
    g_assert_cmpuint(pvq_rd(&r->pv, PVDMA_REG_MANAGED_COUNT), ==, 1);
    pvq_wr(&r->pv, PVDMA_REG_MANAGED_SEL, 0);
    g_assert_cmphex(pvq_rd(&r->pv, PVDMA_REG_MANAGED_RID), ==, PVDMA_RID(0, 1, 0));
    pvq_wr(&r->pv, PVDMA_REG_MANAGED_SEL, 1);
    g_assert_cmphex(pvq_rd(&r->pv, PVDMA_REG_MANAGED_RID), ==, PVDMA_RID_NONE);
    /* Writes to read-only or unknown registers change nothing. */
    pvq_wr(&r->pv, PVDMA_REG_MAX_MAPPINGS, 7);
    pvq_wr(&r->pv, 0xffc, 7);
    g_assert_cmpuint(pvq_rd(&r->pv, PVDMA_REG_MAX_MAPPINGS), ==, 65536);
    g_assert_cmpuint(pvq_rd(&r->pv, 0xffc), ==, 0);
    /* Unknown feature bits are refused. */
    pvq_wr(&r->pv, PVDMA_REG_DRV_FEATURES, 1u << 31);
    g_assert_cmphex(pvq_rd(&r->pv, PVDMA_REG_DRV_FEATURES), ==, 0);
    rig_enable(r);
    g_assert_cmphex(pvq_rd(&r->pv, PVDMA_REG_DRV_FEATURES), ==,
                    PVDMA_F_GRANULE | PVDMA_F_FAULT_LOG);
    rig_stop(r);

    /* HOST_TSO is offered only where it is true (pvdma.c, pvdma_host_tso_ok()). */
    if (is_x86()) {
        /* x86 vCPUs are TSO under any accelerator, qtest's included. */
        r = rig_start(",host-tso=on");
        g_assert_cmphex(pvq_rd(&r->pv, PVDMA_REG_DEV_FEATURES) & PVDMA_F_HOST_TSO, ==,
                        PVDMA_F_HOST_TSO);
        rig_stop(r);
    }
}

/*
 * Starts this target's QEMU with ARGS (-S, no display, QMP on stdin that quits at
 * once); returns whether it exited with success, and its output in *out.
 */
static bool qemu_starts(const char *args, char **out)
{
    g_autofree char *bin = g_shell_quote(qtest_qemu_binary(NULL));
    const char *machine = is_x86() ? "-M q35" : "-M virt -cpu max";
    g_autofree char *cmd = g_strdup_printf(
        "sh -c 'echo \"{\\\"execute\\\":\\\"qmp_capabilities\\\"}"
        " {\\\"execute\\\":\\\"quit\\\"}\" | exec %s %s -S -nodefaults"
        " -display none -qmp stdio %s 2>&1'", bin, machine, args);
    g_autoptr(GError) err = NULL;
    int status;

    *out = NULL;
    g_assert(g_spawn_command_line_sync(cmd, out, NULL, &status, &err));
    return g_spawn_check_wait_status(status, NULL);
}

/*
 * An Arm guest gets HOST_TSO under hvf with tso=on (macOS only, not here), under TCG on
 * a host whose TCG backend keeps loads and stores in TSO order (x86-64, s390x), and
 * nowhere else: realize refuses host-tso=on with a message that says so.
 */
static void test_host_tso(void)
{
    g_autofree char *out = NULL;
    bool tcg_tso;

    if (is_x86()) {
        g_test_skip("x86 guests are TSO everywhere: covered by /pvdma/identity");
        return;
    }
    g_assert_false(qemu_starts("-accel qtest -device pvdma-pci,host-tso=on", &out));
    g_assert_nonnull(strstr(out, "host-tso=on is true only for hvf with tso=on"));
    g_assert_nonnull(strstr(out, "not for target aarch64 under QTest"));
    g_free(out);
#if defined(__x86_64__) || defined(__i386__) || defined(__s390x__)
    tcg_tso = true;
#else
    tcg_tso = false;
#endif
    g_assert_cmpint(qemu_starts("-accel tcg -device pvdma-pci,host-tso=on", &out), ==,
                    tcg_tso);
    if (!tcg_tso) {
        g_assert_nonnull(strstr(out, "TCG keeps an Arm (aarch64) guest's loads and stores"));
    }
    g_free(out);
    /* host-tso=off (the default) is accepted under any accelerator. */
    g_assert_true(qemu_starts("-accel qtest -device pvdma-pci,host-tso=off", &out));
}

static void test_map_single(void)
{
    Rig *r = rig_start(NULL);
    uint64_t iova;

    rig_enable(r);
    /* A 4 KiB buffer in the middle of a 16 KiB page exposes the whole page. */
    iova = map_ok(r, r->ram + 0x1000, 0x1000, PVDMA_MAP_READ);
    g_assert_cmphex(iova & (GRANULE - 1), ==, 0x1000);
    g_assert_cmpuint(iova, >=, aperture_base());
    g_assert_cmpuint(pvq_rd(&r->pv, PVDMA_REG_LIVE_MAPPINGS), ==, 1);
    g_assert_cmpuint(pvq_rd(&r->pv, PVDMA_REG_LIVE_BYTES_LO), ==, GRANULE);
    g_assert_cmpuint(pv_stat(r, "live-mappings"), ==, 1);
    g_assert_cmpuint(pv_stat(r, "live-bytes"), ==, GRANULE);
    /* A range straddling two pages covers both. */
    map_ok(r, r->ram + GRANULE * 4 - 8, 16, PVDMA_MAP_WRITE);
    g_assert_cmpuint(pv_stat(r, "live-bytes"), ==, 3 * GRANULE);
    unmap_ok(r, iova, 0x1000);
    g_assert_cmpuint(pv_stat(r, "live-mappings"), ==, 1);
    g_assert_cmpuint(pv_stat(r, "peak-mappings"), ==, 2);
    g_assert_cmpuint(pv_stat(r, "peak-bytes"), ==, 3 * GRANULE);
    g_assert_cmpuint(pv_stat(r, "doorbells"), ==, 3);
    g_assert_cmpuint(pv_stat(r, "entries"), ==, 3);
    rig_stop(r);
}

typedef struct Span {
    uint64_t start, size;
} Span;

static int cmp_span(const void *a, const void *b)
{
    const Span *x = a, *y = b;

    return x->start < y->start ? -1 : x->start > y->start;
}

/* One doorbell, 512 entries: every address distinct, aligned and in the aperture. */
static void test_map_batch(void)
{
    Rig *r = rig_start(NULL);
    enum { N = 512 };
    g_autofree struct pvdma_req *q = g_new0(struct pvdma_req, N);
    g_autofree Span *span = g_new0(Span, N);
    unsigned int i;

    rig_enable(r);
    for (i = 0; i < N; i++) {
        /* Sizes 1..4 pages at varying offsets; every buffer in its own pages. */
        uint32_t len = (i % 4 + 1) * GRANULE - (i % 3) * 0x800;

        q[i] = pvq_map_req(r->ram + (uint64_t)i * 5 * GRANULE + (i % 3) * 0x800, len,
                       PVDMA_MAP_READ | PVDMA_MAP_WRITE);
    }
    g_assert_cmpuint(pvq_ring(&r->pv, q, N), ==, PVDMA_S_OK);
    for (i = 0; i < N; i++) {
        uint64_t gpa = le64_to_cpu(q[i].gpa), iova = le64_to_cpu(q[i].iova);

        g_assert_cmpuint(le16_to_cpu(q[i].status), ==, PVDMA_S_OK);
        g_assert_cmphex(iova & (GRANULE - 1), ==, gpa & (GRANULE - 1));
        g_assert_cmpuint(iova, >=, aperture_base());
        g_assert_cmpuint(iova + le32_to_cpu(q[i].len), <=, aperture_base() + aperture_size());
        span[i].start = QEMU_ALIGN_DOWN(iova, GRANULE);
        span[i].size = QEMU_ALIGN_UP(gpa + le32_to_cpu(q[i].len), GRANULE) -
                       QEMU_ALIGN_DOWN(gpa, GRANULE);
    }
    /* Sorted by address, each mapping's pages end before the next one's begin. */
    qsort(span, N, sizeof(*span), cmp_span);
    for (i = 0; i + 1 < N; i++) {
        g_assert_cmphex(span[i].start + span[i].size, <=, span[i + 1].start);
    }
    g_assert_cmpuint(pv_stat(r, "live-mappings"), ==, N);
    for (i = 0; i < N; i++) {
        q[i] = pvq_unmap_req(le64_to_cpu(q[i].iova), le32_to_cpu(q[i].len));
    }
    g_assert_cmpuint(pvq_ring(&r->pv, q, N), ==, PVDMA_S_OK);
    for (i = 0; i < N; i++) {
        g_assert_cmpuint(le16_to_cpu(q[i].status), ==, PVDMA_S_OK);
    }
    g_assert_cmpuint(pv_stat(r, "live-mappings"), ==, 0);
    g_assert_cmpuint(pv_stat(r, "live-bytes"), ==, 0);
    g_assert_cmpuint(pv_stat(r, "doorbells"), ==, 2);
    rig_stop(r);
}

/* Every malformed entry gets INVALID, is counted, and maps nothing. */
static void test_status_invalid(void)
{
    Rig *r = rig_start(NULL);
    struct pvdma_req q;

    rig_enable(r);
    q = pvq_map_req(r->ram, 4096, PVDMA_MAP_READ);
    q.reserved = cpu_to_le32(1);
    g_assert_cmpuint(one(r, &q), ==, PVDMA_S_INVALID);
    g_assert_cmpuint(map_status(r, r->ram, 0, PVDMA_MAP_READ), ==, PVDMA_S_INVALID);
    g_assert_cmpuint(map_status(r, r->ram, 4096, 0), ==, PVDMA_S_INVALID);
    g_assert_cmpuint(map_status(r, r->ram, 4096, 0x4), ==, PVDMA_S_INVALID);
    q = pvq_map_req(r->ram, 4096, PVDMA_MAP_READ);
    q.iova = cpu_to_le64(2 * MiB);      /* the guest cannot choose the address */
    g_assert_cmpuint(one(r, &q), ==, PVDMA_S_INVALID);
    q = pvq_map_req(r->ram, 4096, PVDMA_MAP_READ);
    q.mapped = cpu_to_le32(1);
    g_assert_cmpuint(one(r, &q), ==, PVDMA_S_INVALID);
    /* gpa + len wraps around the address space */
    g_assert_cmpuint(map_status(r, UINT64_MAX - 0xfff, 0x2000, PVDMA_MAP_READ), ==,
                     PVDMA_S_INVALID);
    q = pvq_unmap_req(1 * MiB, 4096);
    q.flags = PVDMA_MAP_READ;
    g_assert_cmpuint(one(r, &q), ==, PVDMA_S_INVALID);
    q = pvq_unmap_req(1 * MiB, 4096);
    q.gpa = cpu_to_le64(r->ram);
    g_assert_cmpuint(one(r, &q), ==, PVDMA_S_INVALID);
    g_assert_cmpuint(pv_stat(r, "refused-invalid"), ==, 9);
    g_assert_cmpuint(pv_stat(r, "live-mappings"), ==, 0);
    rig_stop(r);
}

static void test_status_unsupported(void)
{
    Rig *r = rig_start(NULL);
    struct pvdma_req q = pvq_map_req(r->ram, 4096, PVDMA_MAP_READ);

    rig_enable(r);
    q.op = 3;
    g_assert_cmpuint(one(r, &q), ==, PVDMA_S_UNSUPPORTED);
    q.op = 0;
    g_assert_cmpuint(one(r, &q), ==, PVDMA_S_UNSUPPORTED);
    g_assert_cmpuint(pv_stat(r, "refused-unsupported"), ==, 2);
    rig_stop(r);
}

/* Ranges that are not entirely guest RAM: MMIO, a BAR, ROM, past the end of RAM. */
static void test_status_bad_address(void)
{
    Rig *r = rig_start(NULL);
    uint64_t bar = qpci_config_readl(r->pv.dev, PCI_BASE_ADDRESS_0) & ~0xfull;
    uint64_t rom = is_x86() ? 4 * GiB - 64 * KiB : 0;    /* BIOS / flash */

    rig_enable(r);
    g_assert_cmpuint(map_status(r, bar, 4096, PVDMA_MAP_READ), ==,
                     PVDMA_S_BAD_ADDRESS);
    g_assert_cmpuint(map_status(r, rom, 4096, PVDMA_MAP_READ), ==,
                     PVDMA_S_BAD_ADDRESS);
    g_assert_cmpuint(map_status(r, r->ram_end, 4096, PVDMA_MAP_READ), ==,
                     PVDMA_S_BAD_ADDRESS);
    /* Starts in RAM, ends past it. */
    g_assert_cmpuint(map_status(r, r->ram_end - 4096, 8192, PVDMA_MAP_READ), ==,
                     PVDMA_S_BAD_ADDRESS);
    g_assert_cmpuint(map_status(r, r->ram_end - 4096, 4096, PVDMA_MAP_READ), ==,
                     PVDMA_S_OK);
    g_assert_cmpuint(pv_stat(r, "refused-bad-address"), ==, 4);
    g_assert_cmpuint(pv_stat(r, "live-mappings"), ==, 1);
    rig_stop(r);
}

static void test_status_not_found(void)
{
    Rig *r = rig_start(NULL);
    struct pvdma_req q;
    uint64_t iova;

    rig_enable(r);
    q = pvq_unmap_req(1 * MiB, 4096);
    g_assert_cmpuint(one(r, &q), ==, PVDMA_S_NOT_FOUND);
    iova = map_ok(r, r->ram, 2 * GRANULE, PVDMA_MAP_READ);
    q = pvq_unmap_req(iova, GRANULE);        /* part of a mapping */
    g_assert_cmpuint(one(r, &q), ==, PVDMA_S_NOT_FOUND);
    q = pvq_unmap_req(iova + GRANULE, GRANULE);
    g_assert_cmpuint(one(r, &q), ==, PVDMA_S_NOT_FOUND);
    unmap_ok(r, iova, 2 * GRANULE);
    q = pvq_unmap_req(iova, 2 * GRANULE);    /* twice */
    g_assert_cmpuint(one(r, &q), ==, PVDMA_S_NOT_FOUND);
    g_assert_cmpuint(pv_stat(r, "refused-not-found"), ==, 4);
    g_assert_cmpuint(pv_stat(r, "live-mappings"), ==, 0);
    rig_stop(r);
}

/*
 * UNMAP names a mapping exactly as MAP returned it: a range inside the same host
 * pages, but not (iova, mapped), removes nothing.
 */
static void test_status_not_found_inexact(void)
{
    Rig *r = rig_start(NULL);
    struct pvdma_req q;
    uint64_t iova, page;

    rig_enable(r);
    iova = map_ok(r, r->ram + 0x1000, 4096, PVDMA_MAP_WRITE);
    page = iova & ~(uint64_t)(GRANULE - 1);
    g_assert_cmphex(page, !=, iova);
    q = pvq_unmap_req(page, 1);
    g_assert_cmpuint(one(r, &q), ==, PVDMA_S_NOT_FOUND);
    q = pvq_unmap_req(page, GRANULE);
    g_assert_cmpuint(one(r, &q), ==, PVDMA_S_NOT_FOUND);
    q = pvq_unmap_req(iova, 4095);
    g_assert_cmpuint(one(r, &q), ==, PVDMA_S_NOT_FOUND);
    q = pvq_unmap_req(iova + 1, 4095);
    g_assert_cmpuint(one(r, &q), ==, PVDMA_S_NOT_FOUND);
    g_assert_cmpuint(pv_stat(r, "live-mappings"), ==, 1);
    unmap_ok(r, iova, 4096);
    g_assert_cmpuint(pv_stat(r, "live-mappings"), ==, 0);
    rig_stop(r);
}

/* Exactly max-mappings maps succeed; one more is refused until one is released. */
static void test_limit_mappings(void)
{
    Rig *r = rig_start(",max-mappings=64");
    uint64_t iova[64];
    unsigned int i;

    rig_enable(r);
    g_assert_cmpuint(pvq_rd(&r->pv, PVDMA_REG_MAX_MAPPINGS), ==, 64);
    for (i = 0; i < 64; i++) {
        iova[i] = map_ok(r, r->ram + i * GRANULE, 512, PVDMA_MAP_READ);
    }
    g_assert_cmpuint(map_status(r, r->ram + 64 * GRANULE, 512, PVDMA_MAP_READ), ==,
                     PVDMA_S_NO_MAPPINGS);
    g_assert_cmpuint(pv_stat(r, "refused-no-mappings"), ==, 1);
    unmap_ok(r, iova[17], 512);
    map_ok(r, r->ram + 64 * GRANULE, 512, PVDMA_MAP_READ);
    g_assert_cmpuint(pv_stat(r, "live-mappings"), ==, 64);
    g_assert_cmpuint(pv_stat(r, "peak-mappings"), ==, 64);
    rig_stop(r);
}

/* Bytes are counted in whole pages; max-bytes is reachable exactly, not beyond. */
static void test_limit_bytes(void)
{
    Rig *r = rig_start(",max-bytes=256K");
    uint64_t a, b;

    rig_enable(r);
    a = map_ok(r, r->ram, 128 * KiB, PVDMA_MAP_READ);
    /* 64 KiB + 1 byte needs five pages: 208 KiB live, under the cap. */
    b = map_ok(r, r->ram + 1 * MiB, 64 * KiB + 1, PVDMA_MAP_READ);
    g_assert_cmpuint(pv_stat(r, "live-bytes"), ==, 208 * KiB);
    g_assert_cmpuint(map_status(r, r->ram + 2 * MiB, 48 * KiB + 1, PVDMA_MAP_READ), ==,
                     PVDMA_S_NO_BYTES);
    map_ok(r, r->ram + 2 * MiB, 48 * KiB, PVDMA_MAP_READ);
    g_assert_cmpuint(pv_stat(r, "live-bytes"), ==, 256 * KiB);
    g_assert_cmpuint(map_status(r, r->ram + 4 * MiB, 1, PVDMA_MAP_READ), ==,
                     PVDMA_S_NO_BYTES);
    unmap_ok(r, b, 64 * KiB + 1);
    unmap_ok(r, a, 128 * KiB);
    map_ok(r, r->ram + 4 * MiB, 192 * KiB, PVDMA_MAP_READ);
    g_assert_cmpuint(pv_stat(r, "refused-no-bytes"), ==, 2);
    g_assert_cmpuint(pv_stat(r, "peak-bytes"), ==, 256 * KiB);
    rig_stop(r);
}

/* The bus-address window is exhausted before the byte cap: NO_SPACE. */
static void test_status_no_space(void)
{
    Rig *r = rig_start(",aperture-size=64K");
    uint64_t a;

    rig_enable(r);
    g_assert_cmpuint(pvq_rd(&r->pv, PVDMA_REG_APSIZE_LO), ==, 64 * KiB);
    g_assert_cmpuint(map_status(r, r->ram, 80 * KiB, PVDMA_MAP_READ), ==,
                     PVDMA_S_NO_SPACE);
    a = map_ok(r, r->ram, 32 * KiB, PVDMA_MAP_READ);
    map_ok(r, r->ram + 1 * MiB, 32 * KiB, PVDMA_MAP_READ);
    g_assert_cmpuint(map_status(r, r->ram + 2 * MiB, 1, PVDMA_MAP_READ), ==,
                     PVDMA_S_NO_SPACE);
    unmap_ok(r, a, 32 * KiB);
    map_ok(r, r->ram + 2 * MiB, 1, PVDMA_MAP_READ);
    g_assert_cmpuint(pv_stat(r, "refused-no-space"), ==, 2);
    rig_stop(r);
}

/* Batch-level errors: nothing in the batch is processed. */
static void test_status_batch(void)
{
    Rig *r = rig_start(",max-batch=8");
    struct pvdma_req q[9];
    struct pvdma_batch hdr;
    uint64_t bar = qpci_config_readl(r->pv.dev, PCI_BASE_ADDRESS_0) & ~0xfull;
    unsigned int i;

    for (i = 0; i < 9; i++) {
        q[i] = pvq_map_req(r->ram + i * GRANULE, 4096, PVDMA_MAP_READ);
    }
    g_assert_cmpuint(pvq_ring(&r->pv, q, 1), ==, PVDMA_S_NOT_READY);
    g_assert_cmpuint(le16_to_cpu(q[0].status), ==, PVDMA_S_PENDING);
    rig_enable(r);
    g_assert_cmpuint(pvq_ring(&r->pv, q, 0), ==, PVDMA_S_BAD_BATCH);
    g_assert_cmpuint(pvq_ring(&r->pv, q, 9), ==, PVDMA_S_BAD_BATCH);
    hdr = (struct pvdma_batch) { .count = cpu_to_le16(1), .flags = cpu_to_le16(1) };
    g_assert_cmpuint(pvq_ring_at(&r->pv, r->pv.batch, &hdr, q, 1), ==,
                     PVDMA_S_BAD_BATCH);
    hdr = (struct pvdma_batch) { .count = cpu_to_le16(1), .reserved = 1 };
    g_assert_cmpuint(pvq_ring_at(&r->pv, r->pv.batch, &hdr, q, 1), ==,
                     PVDMA_S_BAD_BATCH);
    hdr = (struct pvdma_batch) { .count = cpu_to_le16(1), .reserved2 = 1 };
    g_assert_cmpuint(pvq_ring_at(&r->pv, r->pv.batch, &hdr, q, 1), ==,
                     PVDMA_S_BAD_BATCH);
    g_assert_cmpuint(le16_to_cpu(q[0].status), ==, PVDMA_S_PENDING);
    /* A batch in a BAR or past the end of RAM; one in RAM's last page works. */
    pvq_wr(&r->pv, PVDMA_REG_DOORBELL, bar / PVDMA_BATCH_ALIGN);
    g_assert_cmpuint(pvq_rd(&r->pv, PVDMA_REG_BATCH_STATUS), ==, PVDMA_S_BAD_BATCH);
    pvq_wr(&r->pv, PVDMA_REG_DOORBELL, r->ram_end / PVDMA_BATCH_ALIGN);
    g_assert_cmpuint(pvq_rd(&r->pv, PVDMA_REG_BATCH_STATUS), ==, PVDMA_S_BAD_BATCH);
    hdr = (struct pvdma_batch) { .count = cpu_to_le16(8) };
    qtest_memwrite(r->pv.qts, r->ram_end - 4096, &hdr, sizeof(hdr));
    qtest_memwrite(r->pv.qts, r->ram_end - 4096 + sizeof(hdr), q, 8 * sizeof(*q));
    pvq_wr(&r->pv, PVDMA_REG_DOORBELL, (r->ram_end - 4096) / PVDMA_BATCH_ALIGN);
    g_assert_cmpuint(pvq_rd(&r->pv, PVDMA_REG_BATCH_STATUS), ==, PVDMA_S_OK);
    g_assert_cmpuint(pv_stat(r, "live-mappings"), ==, 8);
    rig_stop(r);

    /* 128 entries need 4112 bytes: the last 4 KiB page of RAM cannot hold them. */
    r = rig_start(NULL);
    rig_enable(r);
    hdr = (struct pvdma_batch) { .count = cpu_to_le16(128) };
    qtest_memwrite(r->pv.qts, r->ram_end - 4096, &hdr, sizeof(hdr));
    pvq_wr(&r->pv, PVDMA_REG_DOORBELL, (r->ram_end - 4096) / PVDMA_BATCH_ALIGN);
    g_assert_cmpuint(pvq_rd(&r->pv, PVDMA_REG_BATCH_STATUS), ==, PVDMA_S_BAD_BATCH);
    g_assert_cmpuint(pv_stat(r, "live-mappings"), ==, 0);
    /* Bus mastering off: the device cannot read the batch. */
    qpci_config_writew(r->pv.dev, PCI_COMMAND, PCI_COMMAND_MEMORY);
    hdr = (struct pvdma_batch) { .count = cpu_to_le16(1) };
    g_assert_cmpuint(pvq_ring_at(&r->pv, r->pv.batch, &hdr, q, 1), ==,
                     PVDMA_S_BAD_BATCH);
    g_assert_cmpuint(le16_to_cpu(q[0].status), ==, PVDMA_S_PENDING);
    rig_stop(r);
}

/* Disabling the device, a device reset and a system reset each drop every mapping. */
static void test_reset(void)
{
    Rig *r = rig_start(NULL);
    QDict *rsp;
    unsigned int i;

    rig_enable(r);
    for (i = 0; i < 8; i++) {
        map_ok(r, r->ram + i * GRANULE, 4096, PVDMA_MAP_READ);
    }
    pvq_wr(&r->pv, PVDMA_REG_STATUS, 0);
    g_assert_cmpuint(pvq_rd(&r->pv, PVDMA_REG_LIVE_MAPPINGS), ==, 0);
    g_assert_cmpuint(pvq_rd(&r->pv, PVDMA_REG_DRV_FEATURES), ==, 0);
    rig_enable(r);
    for (i = 0; i < 8; i++) {
        map_ok(r, r->ram + i * GRANULE, 4096, PVDMA_MAP_READ);
    }
    g_assert_cmpuint(pv_stat(r, "live-mappings"), ==, 8);
    rsp = qtest_qmp(r->pv.qts, "{'execute': 'system_reset'}");
    g_assert(qdict_haskey(rsp, "return"));
    qobject_unref(rsp);
    qtest_qmp_eventwait(r->pv.qts, "RESET");
    g_assert_cmpuint(pv_stat(r, "live-mappings"), ==, 0);
    g_assert_cmpuint(pv_stat(r, "live-bytes"), ==, 0);
    g_assert_cmpuint(pv_stat(r, "peak-mappings"), ==, 8);
    rig_stop(r);
}

/* The managed edu reaches memory only through mappings, in their direction. */
static void test_dma(void)
{
    Rig *r = rig_start(NULL);
    uint64_t src = r->ram + 0x1000, dst = r->ram + 1 * MiB + 0x2000;
    uint64_t in, out;

    rig_enable(r);
    fill(r, src, 0x11, 4096);
    in = map_ok(r, src, 4096, PVDMA_MAP_READ);
    out = map_ok(r, dst, 4096, PVDMA_MAP_WRITE);
    g_assert_cmphex(in, !=, src);
    edu_dma(r, r->edu, r->edu_bar, in, 4096, false);
    edu_dma(r, r->edu, r->edu_bar, out, 4096, true);
    g_assert(holds(r, dst, 0x11, 4096));
    g_assert_cmpuint(pv_stat(r, "faults"), ==, 0);
    g_assert_cmpuint(pvq_rd(&r->pv, PVDMA_REG_FAULTS), ==, 0);

    /* Wrong direction: a device write through a read-only mapping. */
    fill(r, src, 0x22, 4096);
    edu_dma(r, r->edu, r->edu_bar, in, 4096, true);
    g_assert(holds(r, src, 0x22, 4096));
    g_assert_cmpuint(pvq_rd(&r->pv, PVDMA_REG_FAULTS), ==, 1);
    g_assert_cmphex(pvq_rd(&r->pv, PVDMA_REG_FAULT_ADDR_LO), ==, (uint32_t)in);
    g_assert_cmphex(pvq_rd(&r->pv, PVDMA_REG_FAULT_ADDR_HI), ==, in >> 32);
    g_assert_cmphex(pvq_rd(&r->pv, PVDMA_REG_FAULT_RID), ==, PVDMA_RID(0, 1, 0));
    g_assert_cmphex(pvq_rd(&r->pv, PVDMA_REG_FAULT_FLAGS), ==,
                    PVDMA_FAULT_WRITE | PVDMA_FAULT_PERM);

    /* Outside any mapping: past the end of the 16 KiB page of "out". */
    edu_dma(r, r->edu, r->edu_bar, QEMU_ALIGN_UP(out, GRANULE) + 8 * GRANULE, 64,
            false);
    g_assert_cmpuint(pvq_rd(&r->pv, PVDMA_REG_FAULTS), ==, 2);
    g_assert_cmphex(pvq_rd(&r->pv, PVDMA_REG_FAULT_FLAGS), ==, PVDMA_FAULT_UNMAPPED);

    /* After unmap: the same address that worked now faults and moves nothing. */
    unmap_ok(r, out, 4096);
    fill(r, dst, 0x33, 4096);
    edu_dma(r, r->edu, r->edu_bar, out, 4096, true);
    g_assert(holds(r, dst, 0x33, 4096));
    g_assert_cmpuint(pvq_rd(&r->pv, PVDMA_REG_FAULTS), ==, 3);
    g_assert_cmphex(pvq_rd(&r->pv, PVDMA_REG_FAULT_FLAGS), ==,
                    PVDMA_FAULT_WRITE | PVDMA_FAULT_UNMAPPED);
    /* A device address equal to the guest-physical one is not a mapping. */
    edu_dma(r, r->edu, r->edu_bar, src, 4096, false);
    g_assert_cmpuint(pv_stat(r, "faults"), ==, 4);

    /* The edu on the root bus is not managed: guest-physical DMA, no faults. */
    fill(r, src, 0x44, 4096);
    edu_dma(r, r->edu_root, r->edu_root_bar, src, 4096, false);
    edu_dma(r, r->edu_root, r->edu_root_bar, dst, 4096, true);
    g_assert(holds(r, dst, 0x44, 4096));
    g_assert_cmpuint(pv_stat(r, "faults"), ==, 4);
    rig_stop(r);
}

/* A 4 KiB mapping exposes its whole 16 KiB page, as Apple's DART does. */
static void test_dma_granule(void)
{
    Rig *r = rig_start(NULL);
    uint64_t buf = r->ram + 0x1000, iova;

    rig_enable(r);
    fill(r, r->ram + 0x3000, 0x55, 4096);
    iova = map_ok(r, buf, 4096, PVDMA_MAP_READ);
    edu_dma(r, r->edu, r->edu_bar, iova + 0x2000, 4096, false);
    iova = map_ok(r, r->ram + 2 * MiB, 4096, PVDMA_MAP_WRITE);
    edu_dma(r, r->edu, r->edu_bar, iova, 4096, true);
    g_assert(holds(r, r->ram + 2 * MiB, 0x55, 4096));
    g_assert_cmpuint(pv_stat(r, "faults"), ==, 0);
    /* With a 4 KiB granule the neighbouring page is not reachable. */
    rig_stop(r);
    r = rig_start(",granule-shift=12");
    rig_enable(r);
    g_assert_cmpuint(pvq_rd(&r->pv, PVDMA_REG_GRANULE_SHIFT), ==, 12);
    iova = map_ok(r, buf, 4096, PVDMA_MAP_READ);
    g_assert_cmphex(iova & 0xfff, ==, 0);
    edu_dma(r, r->edu, r->edu_bar, iova + 0x2000, 4096, false);
    g_assert_cmpuint(pv_stat(r, "faults"), ==, 1);
    rig_stop(r);
}

/* A managed device's MSI reaches the interrupt controller without a mapping. */
static void test_msi(void)
{
    Rig *r = rig_start(NULL);
    uint8_t cap = qpci_find_capability(r->edu, PCI_CAP_ID_MSI, 0);
    uint32_t doorbell = is_x86() ? 0xfee00000 : 0x08020040;

    g_assert(cap);
    qpci_config_writel(r->edu, cap + PCI_MSI_ADDRESS_LO, doorbell);
    qpci_config_writew(r->edu, cap + PCI_MSI_FLAGS,
                       qpci_config_readw(r->edu, cap + PCI_MSI_FLAGS) | PCI_MSI_FLAGS_ENABLE);
    qpci_io_writel(r->edu, r->edu_bar, 0x60, 1);        /* edu: raise interrupt */
    g_assert_cmpuint(pv_stat(r, "faults"), ==, 0);
    /* The window passes writes only: a device read there is a fault. */
    edu_dma(r, r->edu, r->edu_bar, doorbell, 4, false);
    g_assert_cmpuint(pv_stat(r, "faults"), ==, 1);
    rig_stop(r);
}

static void test_hmp(void)
{
    Rig *r = rig_start(NULL);
    g_autofree char *out = NULL;

    rig_enable(r);
    map_ok(r, r->ram, 4096, PVDMA_MAP_READ);
    map_status(r, r->ram_end, 4096, PVDMA_MAP_READ);
    out = qtest_hmp(r->pv.qts, "info pvdma");
    g_assert(strstr(out, "backend emulated"));
    g_assert(strstr(out, "mappings: live 1 peak 1"));
    g_assert(strstr(out, "bad-address  1"));
    rig_stop(r);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    if (!qtest_has_device("pvdma-pci") || !qtest_has_device("edu")) {
        g_test_message("pvdma-pci or edu missing from this QEMU");
        return 1;
    }
    qtest_add_func("/pvdma/identity", test_identity);
    qtest_add_func("/pvdma/host-tso", test_host_tso);
    qtest_add_func("/pvdma/map/single", test_map_single);
    qtest_add_func("/pvdma/map/batch", test_map_batch);
    qtest_add_func("/pvdma/status/invalid", test_status_invalid);
    qtest_add_func("/pvdma/status/unsupported", test_status_unsupported);
    qtest_add_func("/pvdma/status/bad-address", test_status_bad_address);
    qtest_add_func("/pvdma/status/not-found", test_status_not_found);
    qtest_add_func("/pvdma/status/not-found-inexact", test_status_not_found_inexact);
    qtest_add_func("/pvdma/status/no-space", test_status_no_space);
    qtest_add_func("/pvdma/status/batch", test_status_batch);
    qtest_add_func("/pvdma/limit/mappings", test_limit_mappings);
    qtest_add_func("/pvdma/limit/bytes", test_limit_bytes);
    qtest_add_func("/pvdma/reset", test_reset);
    qtest_add_func("/pvdma/dma/translate", test_dma);
    qtest_add_func("/pvdma/dma/granule", test_dma_granule);
    qtest_add_func("/pvdma/dma/msi", test_msi);
    qtest_add_func("/pvdma/hmp", test_hmp);
    return g_test_run();
}
