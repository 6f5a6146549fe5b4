/*
 * qtest for dartpass-pci and pvdma's provider backend (docs/specs/provider.rst)
 *
 * Runs where a dartpass provider lends a real NVMe function (the nested rig's L1:
 * tests/guest/passthrough-l1.sh), named by the environment:
 *   DARTPASS_SOCKET    the provider's socket
 *   DARTPASS_NVME      the NVMe's host address (0000:00:04.0)
 *   DARTPASS_SERIAL    its serial number, as Identify reports it
 *   DARTPASS_GRANULE_SHIFT, DARTPASS_MAX_MAPPINGS
 *                      the limits the provider was started with
 *   DARTPASS_BAR_MAPPED 1 if the provider lends BAR0 (REGION_MAP), 0 if it is
 *                      reached through REGION_READ/WRITE
 *   DARTPASS_TRANSPORT socket (the default), or iokit: the IOKit transport, through
 *                      the IOKit shim to the same socket (service=dartpass,socket=)
 * With no guest, qtest does what a guest's driver would: the function's config space
 * and BAR0 through dartpass-pci, its queues mapped through pvdma at bus addresses the
 * provider chose, an Identify whose data must land in guest RAM and whose completion
 * must raise the function's MSI-X vector 0 (as a pending bit in the emulated PBA:
 * the vector stays masked). Without
 * DARTPASS_SOCKET (QEMU's own `make check`) every test reports a skip; with it, a
 * missing variable is an error.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "qemu/units.h"
#include "qemu/cutils.h"
#include "libqtest.h"
#include "qobject/qdict.h"
#include "libqos/pci.h"
#include "libqos/pci-pc.h"
#include "hw/pci/pci_regs.h"
#include "pvdma-qtest.h"

/* NVMe controller registers and commands (NVMe base specification). */
#define NVME_CAP        0x00
#define NVME_VS         0x08
#define NVME_CC         0x14
#define NVME_CSTS       0x1c
#define NVME_AQA        0x24
#define NVME_ASQ        0x28
#define NVME_ACQ        0x30
#define NVME_SQ0TDBL    0x1000
#define NVME_CC_EN      1u
#define NVME_CC_QES     (6u << 16 | 4u << 20)   /* 64-byte SQEs, 16-byte CQEs */
#define NVME_CSTS_RDY   1u
#define NVME_IDENTIFY   0x06
#define NVME_QD         4

#define RAM_SIZE        (256 * MiB)
#define PAGE            4096
#define NVME_DEVFN      QPCI_DEVFN(4, 0)
#define PVDMA_DEVFN     QPCI_DEVFN(5, 0)

/* Guest RAM the test uses: a batch page, then one granule per buffer. */
enum { BUF_SQ, BUF_CQ, BUF_ID, BUF_OTHER, NR_BUFS };

typedef struct Env {
    const char *socket, *nvme, *serial;
    unsigned int granule_shift, max_mappings;
    bool bar_mapped, iokit;
} Env;

static Env env;

typedef struct Rig {
    PVDMAQ pv;          /* pvdma-pci at 05.0, backend=provider */
    QPCIBus *bus;
    QPCIDevice *nvme;
    QPCIBar nvme_bar;
    uint64_t buf[NR_BUFS];      /* guest-physical */
    uint64_t iova[NR_BUFS];     /* as pvdma answered (0: not mapped) */
    uint16_t sq_tail, cid;
} Rig;

static Rig *rig_start(void)
{
    Rig *r = g_new0(Rig, 1);
    uint64_t g = 1ull << env.granule_shift;
    int i;

    r->pv.qts = qtest_initf("-machine q35,memory-backend=ram -m 256M -nodefaults"
                         " -object memory-backend-memfd,id=ram,share=on,size=256M"
                         " -object dartpass-provider,id=prov,%ssocket=%s"
                         " -device dartpass-pci,id=nvme,provider=prov,host=%s,addr=04.0"
                         " -device pvdma-pci,id=pv,addr=05.0,backend=provider,"
                         "provider=prov", env.iokit ? "service=dartpass," : "",
                         env.socket, env.nvme);
    r->bus = qpci_new_pc(r->pv.qts, NULL);
    r->nvme = qpci_device_find(r->bus, NVME_DEVFN);
    r->pv.dev = qpci_device_find(r->bus, PVDMA_DEVFN);
    g_assert(r->nvme && r->pv.dev);
    qpci_device_enable(r->pv.dev);
    r->pv.bar = qpci_iomap(r->pv.dev, 0, NULL);
    r->pv.batch = 32 * MiB;
    for (i = 0; i < NR_BUFS; i++) {
        r->buf[i] = 64 * MiB + i * g;
    }
    return r;
}

static void rig_stop(Rig *r)
{
    g_free(r->nvme);
    g_free(r->pv.dev);
    qpci_free_pc(r->bus);
    qtest_quit(r->pv.qts);
    g_free(r);
}

/* Live mappings as pvdma counts them, and as the provider does (its COUNTERS). */
static uint64_t pv_live(Rig *r)
{
    return pvq_qom_u64(r->pv.qts, "/machine/peripheral/pv", "live-mappings");
}

static uint64_t prov_live(Rig *r)
{
    return pvq_qom_u64(r->pv.qts, "/objects/prov", "live-mappings");
}

static void pv_enable(Rig *r)
{
    pvq_wr(&r->pv, PVDMA_REG_DRV_FEATURES, PVDMA_F_GRANULE);
    pvq_wr(&r->pv, PVDMA_REG_STATUS, PVDMA_STATUS_ENABLE);
}

/*
 * The admin queues and the Identify buffer in one batch, each alone in its granule so
 * each gets its own permission; every answer inside the aperture, granule offset kept.
 */
static void map_buffers(Rig *r)
{
    static const uint8_t perm[NR_BUFS] = {
        [BUF_SQ] = PVDMA_MAP_READ, [BUF_CQ] = PVDMA_MAP_WRITE,
        [BUF_ID] = PVDMA_MAP_WRITE, [BUF_OTHER] = PVDMA_MAP_WRITE,
    };
    struct pvdma_req q[NR_BUFS];
    uint64_t base = pvq_rd(&r->pv, PVDMA_REG_APERTURE_LO) |
                    (uint64_t)pvq_rd(&r->pv, PVDMA_REG_APERTURE_HI) << 32;
    uint64_t size = pvq_rd(&r->pv, PVDMA_REG_APSIZE_LO) |
                    (uint64_t)pvq_rd(&r->pv, PVDMA_REG_APSIZE_HI) << 32;
    uint64_t g = 1ull << env.granule_shift;
    int i;

    for (i = 0; i < NR_BUFS; i++) {
        q[i] = pvq_map_req(r->buf[i], PAGE, perm[i]);
    }
    g_assert_cmpuint(pvq_ring(&r->pv, q, NR_BUFS), ==, PVDMA_S_OK);
    for (i = 0; i < NR_BUFS; i++) {
        g_assert_cmpuint(le16_to_cpu(q[i].status), ==, PVDMA_S_OK);
        g_assert_cmpuint(le32_to_cpu(q[i].mapped), ==, PAGE);
        r->iova[i] = le64_to_cpu(q[i].iova);
        g_assert_cmphex(r->iova[i], >=, base);
        g_assert_cmphex(r->iova[i] + PAGE, <=, base + size);
        g_assert_cmphex(r->iova[i] % g, ==, r->buf[i] % g);
    }
}

static void unmap_buffers(Rig *r)
{
    struct pvdma_req q[NR_BUFS];
    int i;

    for (i = 0; i < NR_BUFS; i++) {
        q[i] = pvq_unmap_req(r->iova[i], PAGE);
    }
    g_assert_cmpuint(pvq_ring(&r->pv, q, NR_BUFS), ==, PVDMA_S_OK);
    for (i = 0; i < NR_BUFS; i++) {
        g_assert_cmpuint(le16_to_cpu(q[i].status), ==, PVDMA_S_OK);
        r->iova[i] = 0;
    }
}

static uint32_t nvme_rd(Rig *r, uint32_t reg)
{
    return qpci_io_readl(r->nvme, r->nvme_bar, reg);
}

static void nvme_wr(Rig *r, uint32_t reg, uint32_t val)
{
    qpci_io_writel(r->nvme, r->nvme_bar, reg, val);
}

/* The controller's own limit, CAP.TO (500 ms units), in real time: it is hardware. */
static void nvme_wait_ready(Rig *r, bool rdy)
{
    uint64_t cap = nvme_rd(r, NVME_CAP) | (uint64_t)nvme_rd(r, NVME_CAP + 4) << 32;
    unsigned int ms = ((cap >> 24) & 0xff) * 500;

    while (!!(nvme_rd(r, NVME_CSTS) & NVME_CSTS_RDY) != rdy) {
        g_assert_cmpuint(ms, >, 0);
        g_usleep(1000);
        ms--;
    }
}

/*
 * MSI-X on, vector 0 unmasked (vfio-pci routes it to the provider) and masked again:
 * when it fires, the emulated PBA shows it. Returns the PBA's offset in BAR0. Before
 * the controller is enabled: QEMU's NVMe model (L1's function) gives the admin queue
 * its MSI-X vector only if MSI-X is on then.
 */
static uint32_t nvme_msix_vector0(Rig *r)
{
    uint8_t cap = qpci_find_capability(r->nvme, PCI_CAP_ID_MSIX, 0);
    uint32_t table, pba;

    g_assert_cmpuint(cap, !=, 0);
    table = qpci_config_readl(r->nvme, cap + PCI_MSIX_TABLE);
    pba = qpci_config_readl(r->nvme, cap + PCI_MSIX_PBA);
    g_assert_cmpuint(table & PCI_MSIX_FLAGS_BIRMASK, ==, 0);
    g_assert_cmpuint(pba & PCI_MSIX_FLAGS_BIRMASK, ==, 0);
    table &= ~PCI_MSIX_FLAGS_BIRMASK;
    pba &= ~PCI_MSIX_FLAGS_BIRMASK;
    qpci_config_writew(r->nvme, cap + PCI_MSIX_FLAGS,
                       qpci_config_readw(r->nvme, cap + PCI_MSIX_FLAGS) |
                       PCI_MSIX_FLAGS_ENABLE);
    nvme_wr(r, table + PCI_MSIX_ENTRY_LOWER_ADDR, 0xfee00000);
    nvme_wr(r, table + PCI_MSIX_ENTRY_UPPER_ADDR, 0);
    nvme_wr(r, table + PCI_MSIX_ENTRY_DATA, 0x40);
    nvme_wr(r, table + PCI_MSIX_ENTRY_VECTOR_CTRL, 0);
    nvme_wr(r, table + PCI_MSIX_ENTRY_VECTOR_CTRL, PCI_MSIX_ENTRY_CTRL_MASKBIT);
    g_assert_cmphex(nvme_rd(r, pba) & 1, ==, 0);
    return pba;
}

/*
 * Memory decode, bus master, BAR0; MSI-X vector 0 as nvme_msix_vector0 sets it up if
 * pba (then its PBA offset); the controller enabled with its admin queues.
 */
static void nvme_start(Rig *r, uint32_t *pba)
{
    uint64_t cap;

    qpci_device_enable(r->nvme);
    r->nvme_bar = qpci_iomap(r->nvme, 0, NULL);
    if (pba) {
        *pba = nvme_msix_vector0(r);
    }
    cap = nvme_rd(r, NVME_CAP) | (uint64_t)nvme_rd(r, NVME_CAP + 4) << 32;
    /* Doorbell stride 0 is what NVME_SQ0TDBL assumes; QEMU's model has it. */
    g_assert_cmpuint((cap >> 32) & 0xf, ==, 0);
    g_assert_cmpuint(nvme_rd(r, NVME_VS) >> 16, ==, 1);
    nvme_wr(r, NVME_CC, 0);
    nvme_wait_ready(r, false);
    nvme_wr(r, NVME_AQA, (NVME_QD - 1) << 16 | (NVME_QD - 1));
    nvme_wr(r, NVME_ASQ, r->iova[BUF_SQ]);
    nvme_wr(r, NVME_ASQ + 4, r->iova[BUF_SQ] >> 32);
    nvme_wr(r, NVME_ACQ, r->iova[BUF_CQ]);
    nvme_wr(r, NVME_ACQ + 4, r->iova[BUF_CQ] >> 32);
    nvme_wr(r, NVME_CC, NVME_CC_QES | NVME_CC_EN);
    nvme_wait_ready(r, true);
}

/* Identify Controller into bus address iova; returns the completion's status field. */
static uint16_t nvme_identify(Rig *r, uint64_t iova)
{
    uint32_t cmd[16] = { 0 };
    uint32_t cqe[4];
    uint16_t cid = ++r->cid;
    int ms;

    cmd[0] = cpu_to_le32(NVME_IDENTIFY | (uint32_t)cid << 16);
    cmd[6] = cpu_to_le32(iova);         /* PRP1 */
    cmd[7] = cpu_to_le32(iova >> 32);
    cmd[10] = cpu_to_le32(1);           /* CNS: the controller */
    qtest_memwrite(r->pv.qts, r->buf[BUF_SQ] + r->sq_tail * 64, cmd, sizeof(cmd));
    r->sq_tail = (r->sq_tail + 1) % NVME_QD;
    nvme_wr(r, NVME_SQ0TDBL, r->sq_tail);
    /* The completion of command k is CQ entry k - 1, phase 1 (one pass only). */
    for (ms = 10000; ms; ms--) {
        qtest_memread(r->pv.qts, r->buf[BUF_CQ] + (cid - 1) * 16, cqe, sizeof(cqe));
        if (le32_to_cpu(cqe[3]) >> 16 & 1) {
            break;
        }
        g_usleep(1000);
    }
    g_assert_cmpint(ms, >, 0);
    g_assert_cmpuint(le32_to_cpu(cqe[3]) & 0xffff, ==, cid);
    return le32_to_cpu(cqe[3]) >> 17;
}

/* The function as the provider lends it, and pvdma with the provider's limits. */
static void test_identity(void)
{
    Rig *r = rig_start();
    g_autofree char *mtree = NULL;

    g_assert_cmphex(qpci_config_readw(r->nvme, PCI_VENDOR_ID), ==, 0x1b36);
    g_assert_cmphex(qpci_config_readw(r->nvme, PCI_DEVICE_ID), ==, 0x0010);
    g_assert_cmphex(qpci_config_readl(r->nvme, PCI_CLASS_REVISION) >> 8, ==, 0x010802);
    g_assert_cmpuint(pvq_rd(&r->pv, PVDMA_REG_GRANULE_SHIFT), ==, env.granule_shift);
    g_assert_cmpuint(pvq_rd(&r->pv, PVDMA_REG_MAX_MAPPINGS), ==, env.max_mappings);
    /* pvdma manages exactly the passthrough function, by its guest address. */
    g_assert_cmpuint(pvq_rd(&r->pv, PVDMA_REG_MANAGED_COUNT), ==, 1);
    pvq_wr(&r->pv, PVDMA_REG_MANAGED_SEL, 0);
    g_assert_cmphex(pvq_rd(&r->pv, PVDMA_REG_MANAGED_RID), ==,
                    PVDMA_RID(0, 0, NVME_DEVFN));
    /* A lent BAR0 is host memory in the guest's view, whatever the transport. */
    qpci_device_enable(r->nvme);
    r->nvme_bar = qpci_iomap(r->nvme, 0, NULL);
    mtree = qtest_hmp(r->pv.qts, "info mtree");
    g_assert_cmpint(strstr(mtree, "BAR 0 mmaps[0]") != NULL, ==, env.bar_mapped);
    rig_stop(r);
}

/* Identify at bus addresses the provider chose lands in guest RAM, serial and all. */
static void test_identify(void)
{
    Rig *r = rig_start();
    char sn[21] = { 0 };
    uint16_t vid;
    uint32_t pba;
    int ms;

    pv_enable(r);
    map_buffers(r);
    g_assert_cmpuint(pv_live(r), ==, NR_BUFS);
    /* The provider's own count (COUNTERS), not only pvdma's. */
    g_assert_cmpuint(prov_live(r), ==, NR_BUFS);
    nvme_start(r, &pba);
    g_assert_cmpuint(nvme_identify(r, r->iova[BUF_ID]), ==, 0);
    for (ms = 5000; ms && !(nvme_rd(r, pba) & 1); ms--) {
        g_usleep(1000);
    }
    g_assert_cmpint(ms, >, 0);
    qtest_memread(r->pv.qts, r->buf[BUF_ID], &vid, sizeof(vid));
    qtest_memread(r->pv.qts, r->buf[BUF_ID] + 4, sn, 20);
    g_assert_cmphex(le16_to_cpu(vid), ==, 0x1b36);
    g_assert_cmpstr(g_strchomp(sn), ==, env.serial);
    nvme_wr(r, NVME_CC, 0);
    nvme_wait_ready(r, false);
    unmap_buffers(r);
    g_assert_cmpuint(pv_live(r), ==, 0);
    g_assert_cmpuint(prov_live(r), ==, 0);
    rig_stop(r);
}

/*
 * An Identify aimed at the Identify buffer's bus address after its UNMAP writes
 * nothing there (L1's IOMMU refuses it; the script reads its fault log).
 */
static void test_unmapped(void)
{
    Rig *r = rig_start();
    struct pvdma_req q;
    uint8_t zero[PAGE] = { 0 }, got[PAGE];
    uint64_t stale;

    pv_enable(r);
    map_buffers(r);
    nvme_start(r, NULL);
    stale = r->iova[BUF_ID];
    q = pvq_unmap_req(stale, PAGE);
    g_assert_cmpuint(pvq_ring(&r->pv, &q, 1), ==, PVDMA_S_OK);
    g_assert_cmpuint(le16_to_cpu(q.status), ==, PVDMA_S_OK);
    qtest_memwrite(r->pv.qts, r->buf[BUF_ID], zero, sizeof(zero));
    nvme_identify(r, stale);
    qtest_memread(r->pv.qts, r->buf[BUF_ID], got, sizeof(got));
    g_assert_true(buffer_is_zero(got, sizeof(got)));
    printf("# unmapped-iova 0x%" PRIx64 "\n", stale);
    rig_stop(r);
}

/* A reset (reboot) leaves the provider no mapping of this client's. */
static void test_reset(void)
{
    Rig *r = rig_start();
    QDict *rsp;

    pv_enable(r);
    map_buffers(r);
    g_assert_cmpuint(pv_live(r), ==, NR_BUFS);
    rsp = qtest_qmp(r->pv.qts, "{'execute': 'system_reset'}");
    qobject_unref(rsp);
    qtest_qmp_eventwait(r->pv.qts, "RESET");
    g_assert_cmpuint(pv_live(r), ==, 0);
    g_assert_cmpuint(prov_live(r), ==, 0);
    rig_stop(r);
}

static void test_no_provider(void)
{
    g_test_skip("needs a provider lending an NVMe (DARTPASS_SOCKET)");
}

static const char *env_str(const char *name)
{
    const char *v = getenv(name);

    if (!v || !*v) {
        fprintf(stderr, "dartpass-test: %s is not set (see the file's header)\n", name);
        exit(1);
    }
    return v;
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    if (!getenv("DARTPASS_SOCKET")) {
        qtest_add_func("/dartpass/needs-provider", test_no_provider);
        return g_test_run();
    }
    env.socket = env_str("DARTPASS_SOCKET");
    env.nvme = env_str("DARTPASS_NVME");
    env.serial = env_str("DARTPASS_SERIAL");
    env.granule_shift = atoi(env_str("DARTPASS_GRANULE_SHIFT"));
    env.max_mappings = atoi(env_str("DARTPASS_MAX_MAPPINGS"));
    env.bar_mapped = atoi(env_str("DARTPASS_BAR_MAPPED"));
    env.iokit = !g_strcmp0(getenv("DARTPASS_TRANSPORT"), "iokit");
    if (!env.iokit && g_strcmp0(getenv("DARTPASS_TRANSPORT") ?: "socket", "socket")) {
        fprintf(stderr, "dartpass-test: DARTPASS_TRANSPORT is socket or iokit\n");
        exit(1);
    }
    /* The transport names the tests, so that both runs' results stay apart. */
    qtest_add_func(env.iokit ? "/dartpass/iokit/identity" : "/dartpass/identity",
                   test_identity);
    qtest_add_func(env.iokit ? "/dartpass/iokit/nvme/identify" :
                   "/dartpass/nvme/identify", test_identify);
    qtest_add_func(env.iokit ? "/dartpass/iokit/nvme/unmapped" :
                   "/dartpass/nvme/unmapped", test_unmapped);
    qtest_add_func(env.iokit ? "/dartpass/iokit/reset" : "/dartpass/reset",
                   test_reset);
    return g_test_run();
}
