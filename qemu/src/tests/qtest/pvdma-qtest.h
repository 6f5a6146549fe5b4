/*
 * Helpers for qtests that drive a pvdma-pci device (pvdma-test, dartpass-test): its
 * registers, MAP and UNMAP entries, batches written into guest RAM and rung through
 * the doorbell, and QOM counters over QMP.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef PVDMA_QTEST_H
#define PVDMA_QTEST_H

#include "qemu/bswap.h"
#include "libqtest.h"
#include "qobject/qdict.h"
#include "libqos/pci.h"
#include "../../hw/pvdma/pvdma_proto.h"

typedef struct PVDMAQ {
    QTestState *qts;
    QPCIDevice *dev;
    QPCIBar bar;
    uint64_t batch;     /* guest-physical batch buffer, PVDMA_BATCH_ALIGN aligned */
} PVDMAQ;

static inline uint32_t pvq_rd(PVDMAQ *q, uint32_t reg)
{
    return qpci_io_readl(q->dev, q->bar, reg);
}

static inline void pvq_wr(PVDMAQ *q, uint32_t reg, uint32_t val)
{
    qpci_io_writel(q->dev, q->bar, reg, val);
}

static inline struct pvdma_req pvq_map_req(uint64_t gpa, uint32_t len, uint8_t flags)
{
    return (struct pvdma_req) {
        .op = PVDMA_OP_MAP, .flags = flags, .status = cpu_to_le16(PVDMA_S_PENDING),
        .len = cpu_to_le32(len), .gpa = cpu_to_le64(gpa),
    };
}

static inline struct pvdma_req pvq_unmap_req(uint64_t iova, uint32_t len)
{
    return (struct pvdma_req) {
        .op = PVDMA_OP_UNMAP, .status = cpu_to_le16(PVDMA_S_PENDING),
        .len = cpu_to_le32(len), .iova = cpu_to_le64(iova),
    };
}

/* Writes hdr and n entries at gpa, rings, reads both back; returns BATCH_STATUS. */
static inline uint32_t pvq_ring_at(PVDMAQ *q, uint64_t gpa, struct pvdma_batch *hdr,
                                   struct pvdma_req *req, unsigned int n)
{
    uint32_t st;

    hdr->status = cpu_to_le16(PVDMA_S_PENDING);
    qtest_memwrite(q->qts, gpa, hdr, sizeof(*hdr));
    if (n) {
        qtest_memwrite(q->qts, gpa + sizeof(*hdr), req, n * sizeof(*req));
    }
    pvq_wr(q, PVDMA_REG_DOORBELL, gpa / PVDMA_BATCH_ALIGN);
    st = pvq_rd(q, PVDMA_REG_BATCH_STATUS);
    qtest_memread(q->qts, gpa, hdr, sizeof(*hdr));
    if (n) {
        qtest_memread(q->qts, gpa + sizeof(*hdr), req, n * sizeof(*req));
    }
    return st;
}

/* n entries in one batch at q->batch; the header must agree with BATCH_STATUS. */
static inline uint32_t pvq_ring(PVDMAQ *q, struct pvdma_req *req, unsigned int n)
{
    struct pvdma_batch hdr = { .count = cpu_to_le16(n) };
    uint32_t st = pvq_ring_at(q, q->batch, &hdr, req, n);

    g_assert_cmpuint(le16_to_cpu(hdr.status), ==, st);
    if (st == PVDMA_S_OK) {
        g_assert_cmpuint(le32_to_cpu(hdr.done), ==, n);
    }
    return st;
}

/* An integer QOM property, e.g. a counter of /machine/peripheral/pv. */
static inline uint64_t pvq_qom_u64(QTestState *qts, const char *path, const char *prop)
{
    QDict *rsp = qtest_qmp(qts, "{'execute': 'qom-get', 'arguments':"
                           " {'path': %s, 'property': %s}}", path, prop);
    uint64_t val;

    g_assert(qdict_haskey(rsp, "return"));
    val = qdict_get_int(rsp, "return");
    qobject_unref(rsp);
    return val;
}

#endif
