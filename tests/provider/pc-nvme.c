// SPDX-License-Identifier: (GPL-2.0 OR MIT)
/*
 * NVMe through the provider, as a VMM would drive it: claim, BAR0 mapped from the
 * passed descriptor (or, where the provider lends no BAR, reached through
 * REGION_READ/WRITE: pc_bar_open), admin queues in DMA memory at the bus addresses the provider chose,
 * MSI-X vector 0 on an eventfd, Identify Controller.
 *
 *   nvme SOCKET SERIAL    the whole round trip, then reset, unmap, release
 *   pending SOCKET SERIAL the round trip with macOS's interrupt model: vector 0 ENABLEd,
 *                         NOTIFY's pipe readable, IRQ_PENDING shows (and clears)
 *                         exactly its bit; a second NOTIFY announces a bit already
 *                         set and ends the first pipe; NOTIFY without the feature or
 *                         with a descriptor, EVENTFD over ENABLE and back, and
 *                         IRQ_PENDING out of range are refused
 *   dma-fault SOCKET unmapped|read-only
 *                         Identify aimed at a bus address the provider never handed
 *                         out, or at a mapping it made device-read only: nothing may
 *                         be written (the script checks L1's IOMMU fault log for the
 *                         DP-INFO "fault-iova" address: QEMU's NVMe completes such a
 *                         command with success anyway)
 *   hold SOCKET           sets everything up, says "holding", waits to be killed
 *   busy SOCKET LIVE      another client: the NVMe is CLAIMED (BUSY), LIVE mappings
 *   free SOCKET           the NVMe is free again within PC_FREE_SECS (after a kill)
 *   idle SOCKET           every function free again, no mapping left (after a VMM)
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "pc.h"

/* Controller registers (NVMe base specification, "Controller Registers"). */
#define REG_CAP		0x00
#define REG_VS		0x08
#define REG_CC		0x14
#define REG_CSTS	0x1c
#define REG_AQA		0x24
#define REG_ASQ		0x28
#define REG_ACQ		0x30
#define REG_DBS		0x1000
#define CC_EN		1u
#define CC_IOSQES_64	(6u << 16)
#define CC_IOCQES_16	(4u << 20)
#define CSTS_RDY	1u
#define CSTS_CFS	2u
#define ADMIN_IDENTIFY	0x06
#define CNS_CONTROLLER	1
#define QD		16		/* admin queue entries */
#define PAGE		4096u
#define DMA_MEM_SIZE	(8u << 20)
#define CMD_MEM_BM	0x0006		/* command register: memory space, bus master */
#define IRQ_MS		10000		/* a completion's interrupt, under TCG */

/* Where each buffer lives in the DMA memory: one granule each, so each has its perms. */
enum { BUF_SQ, BUF_CQ, BUF_ID, BUF_BAIT, NR_BUFS };

static const struct {
	const char *name;
	unsigned int perm;
} bufs[NR_BUFS] = {
	[BUF_SQ] = { "admin SQ", PVDMA_MAP_READ },	/* the controller reads commands */
	[BUF_CQ] = { "admin CQ", PVDMA_MAP_WRITE },	/* and writes completions */
	[BUF_ID] = { "Identify buffer", PVDMA_MAP_WRITE },
	[BUF_BAIT] = { "read-only bait", PVDMA_MAP_READ },
};

struct nvme {
	struct pc_conn c;
	struct pc_fn f;
	struct pc_mem mem;
	uint64_t g;			/* the provider's granule */
	bool pending;			/* vector 0 ENABLEd: efd is NOTIFY's pipe */
	int efd;			/* MSI-X vector 0's eventfd, or NOTIFY's pipe */
	unsigned int nbufs;
	struct pvdma_req map[NR_BUFS];	/* as MAP answered */
	uint64_t cap;
	uint32_t db_stride;
	uint16_t sq_tail, cq_head, cid;
	uint8_t phase;
};

static uint32_t rd32(struct nvme *n, uint32_t off)
{
	return pc_bar_rd32(&n->f, off);
}

static void wr32(struct nvme *n, uint32_t off, uint32_t v)
{
	pc_bar_wr32(&n->f, off, v);
}

static uint8_t *buf(struct nvme *n, unsigned int b)
{
	return n->mem.p + b * n->g;
}

static uint64_t buf_iova(struct nvme *n, unsigned int b)
{
	return n->map[b].iova;
}

/* Waits (the controller's own timeout, CAP.TO) for CSTS.RDY to be rdy. */
static bool wait_ready(struct nvme *n, bool rdy)
{
	unsigned int ms = ((n->cap >> 24) & 0xff) * 500;

	for (; ms; ms--) {
		if (!!(rd32(n, REG_CSTS) & CSTS_RDY) == rdy)
			return true;
		usleep(1000);
	}
	return false;
}

/* HELLO, CLAIM (checked), bus mastering, BAR0, CAP and VS. */
static int claim_nvme(struct nvme *n, const char *sock)
{
	const struct prov_region *bar0;
	uint64_t vs_prov, cap_prov = 0;
	uint32_t vs;
	int fn;

	*n = (struct nvme){ .efd = -1, .mem.fd = -1 };
	if (pc_open(&n->c, sock))
		return -1;
	n->g = 1ull << n->c.limits.granule_shift;
	fn = pc_find_class(&n->c, PC_CLASS_NVME);
	if (!pc_check(fn >= 0, "HELLO lists an NVMe function (class %06x)", PC_CLASS_NVME))
		return -1;
	if (!pc_check(!(n->c.fns[fn].flags & PROV_FN_CLAIMED), "HELLO: the NVMe is free"))
		return -1;
	if (pc_claim(&n->c, fn, &n->f))
		return -1;
	bar0 = &n->f.claim.regions[PROV_REGION_BAR0];
	/* Mappable or not: the provider's choice (pc_bar_open checks either). */
	pc_check(bar0->size && !(bar0->flags & PROV_REGION_IO) &&
		 (bar0->flags & PROV_REGION_WRITE),
		 "CLAIM: BAR0 is memory, writable (size 0x%llx, flags 0x%x: %smappable)",
		 (unsigned long long)bar0->size, bar0->flags,
		 bar0->flags & PROV_REGION_MMAP ? "" : "not ");
	pc_check(n->f.claim.irqs[PROV_IRQ_MSIX].count >= 1 && bar0->hole_size,
		 "CLAIM: MSI-X vectors (%u), their table a hole in BAR0 (0x%llx+0x%llx)",
		 n->f.claim.irqs[PROV_IRQ_MSIX].count, (unsigned long long)bar0->hole_offset,
		 (unsigned long long)bar0->hole_size);
	if (!pc_expect(pc_command_set(&n->c, fn, CMD_MEM_BM), PROV_S_OK,
		       "CONFIG_WRITE command: memory space and bus master"))
		return -1;
	if (pc_bar_open(&n->c, &n->f, PROV_REGION_BAR0))
		return -1;
	n->cap = rd32(n, REG_CAP) | (uint64_t)rd32(n, REG_CAP + 4) << 32;
	vs = rd32(n, REG_VS);
	n->db_stride = 4u << ((n->cap >> 32) & 0xf);
	pc_info("CAP 0x%016llx VS 0x%08x", (unsigned long long)n->cap, vs);
	/* MQES, TO non-zero; the NVM command set; 4 KiB pages allowed; version 1.x. */
	if (!pc_check((n->cap & 0xffff) && (n->cap >> 24 & 0xff) && (n->cap >> 37 & 1) &&
		      !(n->cap >> 48 & 0xf) && vs >> 16 == 1 && vs != 0xffffffff,
		      "BAR0 (%s): CAP and VS are sane", n->f.bar ? "mapped" : "REGION_READ"))
		return -1;
	pc_expect(pc_region_read(&n->c, fn, PROV_REGION_BAR0, REG_VS, 4, &vs_prov), PROV_S_OK,
		  "REGION_READ of VS");
	pc_check(vs_prov == vs, "REGION_READ of VS equals the 4-byte access's (0x%llx)",
		 (unsigned long long)vs_prov);
	/* 8 bytes at once (split in two, low first, where VFIO serves it): the same CAP. */
	pc_expect(pc_region_read(&n->c, fn, PROV_REGION_BAR0, REG_CAP, 8, &cap_prov), PROV_S_OK,
		  "REGION_READ of CAP, 8 bytes");
	pc_check(cap_prov == n->cap, "REGION_READ of CAP, 8 bytes, equals its two halves "
		 "(0x%016llx)", (unsigned long long)cap_prov);
	return 0;
}

/* DMA memory, the buffers mapped in one batch and checked, MSI-X vector 0. */
static int map_buffers(struct nvme *n, unsigned int nbufs)
{
	const struct prov_limits *l = &n->c.limits;
	uint32_t done = 0;
	unsigned int i, j;
	bool ok = true;
	int st;

	if (pc_mem_create(&n->mem, DMA_MEM_SIZE < NR_BUFS * n->g ? NR_BUFS * n->g : DMA_MEM_SIZE))
		return pc_check(false, "memfd for DMA memory"), -1;
	if (!pc_expect(pc_dma_memory(&n->c, &n->mem), PROV_S_OK, "DMA_MEMORY (memfd, %llu MiB)",
		       (unsigned long long)n->mem.size >> 20))
		return -1;
	for (i = 0; i < nbufs; i++)
		n->map[i] = pc_map_req(i * n->g, PAGE, bufs[i].perm);
	st = pc_dma(&n->c, n->map, nbufs, &done);
	if (!pc_expect(st, PROV_S_OK, "DMA MAP batch of %u", nbufs) || done != nbufs)
		return -1;
	n->nbufs = nbufs;
	for (i = 0; i < nbufs; i++) {
		const struct pvdma_req *r = &n->map[i];

		ok &= pc_expect(r->status, PROV_S_OK, "MAP %s (%s)", bufs[i].name,
				bufs[i].perm == PVDMA_MAP_READ ? "device reads" : "device writes");
		/* In the aperture, at the same offset in its granule, not over another. */
		ok &= pc_check(r->mapped == PAGE && r->iova >= l->aperture_base &&
			       r->iova + PAGE <= l->aperture_base + l->aperture_size &&
			       r->iova % n->g == r->gpa % n->g,
			       "MAP %s: iova 0x%llx in the aperture, granule offset kept",
			       bufs[i].name, (unsigned long long)r->iova);
		for (j = 0; j < i; j++)
			ok &= pc_check(r->iova / n->g != n->map[j].iova / n->g,
				       "MAP %s and %s: distinct granules", bufs[j].name,
				       bufs[i].name);
	}
	if (!ok)
		return -1;
	if (!n->pending) {
		n->efd = pc_eventfd();
		if (n->efd < 0)
			return -1;
		return pc_expect(pc_irq_set(&n->c, n->f.fn, PROV_IRQ_MSIX, PROV_IRQ_EVENTFD, 0, 1,
					    &n->efd, 1), PROV_S_OK,
				 "IRQ_SET MSI-X vector 0 -> eventfd") ? 0 : -1;
	}
	if (!pc_expect(pc_notify(&n->c, &n->efd), PROV_S_OK, "NOTIFY: a pipe to read"))
		return -1;
	return pc_expect(pc_irq_set(&n->c, n->f.fn, PROV_IRQ_MSIX, PROV_IRQ_ENABLE, 0, 1, NULL, 0),
			 PROV_S_OK, "IRQ_SET MSI-X ENABLE vector 0") ? 0 : -1;
}

/* The vectors one IRQ_PENDING reads: all of them, up to 64. */
static uint32_t pending_count(const struct nvme *n)
{
	uint32_t nv = n->f.claim.irqs[PROV_IRQ_MSIX].count;

	return nv < 64 ? nv : 64;
}

/* After NOTIFY's eventfd fired for Identify (what): vector 0's bit alone, read once. */
static void pending_checked(struct nvme *n, const char *what)
{
	uint32_t count = pending_count(n);
	uint64_t bits;

	pc_expect(pc_irq_pending(&n->c, n->f.fn, PROV_IRQ_MSIX, 0, count, &bits), PROV_S_OK,
		  "Identify (%s): IRQ_PENDING MSI-X vectors 0..%u", what, count - 1);
	pc_check(bits == 1, "Identify (%s): IRQ_PENDING shows exactly vector 0's bit (0x%llx)",
		 what, (unsigned long long)bits);
	pc_expect(pc_irq_pending(&n->c, n->f.fn, PROV_IRQ_MSIX, 0, count, &bits), PROV_S_OK,
		  "Identify (%s): IRQ_PENDING again", what);
	pc_check(!bits, "Identify (%s): IRQ_PENDING again: the bit was cleared (0x%llx)", what,
		 (unsigned long long)bits);
}

/* Admin queues at the provider's bus addresses, then CC.EN. */
static int enable(struct nvme *n)
{
	uint64_t sq = buf_iova(n, BUF_SQ), cq = buf_iova(n, BUF_CQ);

	wr32(n, REG_CC, 0);
	if (!pc_check(wait_ready(n, false), "controller disabled (CSTS.RDY 0)"))
		return -1;
	wr32(n, REG_AQA, (QD - 1) << 16 | (QD - 1));
	wr32(n, REG_ASQ, sq);
	wr32(n, REG_ASQ + 4, sq >> 32);
	wr32(n, REG_ACQ, cq);
	wr32(n, REG_ACQ + 4, cq >> 32);
	wr32(n, REG_CC, CC_EN | CC_IOSQES_64 | CC_IOCQES_16);
	n->sq_tail = n->cq_head = 0;
	n->phase = 1;
	if (!pc_check(wait_ready(n, true) && !(rd32(n, REG_CSTS) & CSTS_CFS),
		      "controller enabled with admin SQ 0x%llx, CQ 0x%llx (CSTS 0x%x)",
		      (unsigned long long)sq, (unsigned long long)cq, rd32(n, REG_CSTS)))
		return -1;
	return 0;
}

/*
 * Identify Controller into prp1, then the completion's interrupt and entry. Returns
 * the completion's status field, or -1 (reported) when none came.
 */
static int identify(struct nvme *n, uint64_t prp1, const char *what)
{
	uint32_t sqe[16] = { 0 }, cqe[4];
	uint8_t *cq = buf(n, BUF_CQ) + n->cq_head * sizeof(cqe);
	uint64_t fired;
	uint16_t cid = ++n->cid;

	sqe[0] = ADMIN_IDENTIFY | (uint32_t)cid << 16;
	sqe[6] = prp1;
	sqe[7] = prp1 >> 32;
	sqe[10] = CNS_CONTROLLER;
	memcpy(buf(n, BUF_SQ) + n->sq_tail * sizeof(sqe), sqe, sizeof(sqe));
	n->sq_tail = (n->sq_tail + 1) % QD;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	wr32(n, REG_DBS, n->sq_tail);
	fired = n->pending ? pc_notify_wait(n->efd, IRQ_MS) == 1 : pc_event_wait(n->efd, IRQ_MS);
	memcpy(cqe, (const void *)cq, sizeof(cqe));
	if (!pc_check(fired && (cqe[3] >> 16 & 1) == n->phase && (cqe[3] & 0xffff) == cid,
		      "Identify (%s, 0x%llx): MSI-X interrupt on %s, completion %u", what,
		      (unsigned long long)prp1, n->pending ? "NOTIFY's pipe" : "the eventfd",
		      cid))
		return -1;
	if (n->pending)
		pending_checked(n, what);
	n->cq_head = (n->cq_head + 1) % QD;
	if (!n->cq_head)
		n->phase ^= 1;
	wr32(n, REG_DBS + n->db_stride, n->cq_head);
	return cqe[3] >> 17;
}

/* Interrupts off, controller off, RESET, every mapping unmapped, RELEASE. */
static void teardown(struct nvme *n)
{
	struct prov_reset_rep rr = { 0 };
	struct prov_counters k0 = { 0 }, k = { 0 };
	struct pvdma_req un[NR_BUFS];
	unsigned int i;
	int st;

	pc_expect(pc_irq_set(&n->c, n->f.fn, PROV_IRQ_MSIX, PROV_IRQ_DISABLE, 0, 0, NULL, 0),
		  PROV_S_OK, "IRQ_SET MSI-X DISABLE");
	wr32(n, REG_CC, 0);
	pc_check(wait_ready(n, false), "controller disabled");
	pc_counters(&n->c, &k0);
	st = pc_call(&n->c, PROV_OP_RESET, n->f.fn, NULL, 0, &rr, sizeof(rr));
	if (pc_expect(st, PROV_S_OK, "RESET"))
		pc_check(rr.method >= PROV_RESET_FLR && rr.method <= PROV_RESET_PM && !rr.reserved,
			 "RESET reports its method (%u: %s)", rr.method,
			 rr.method == PROV_RESET_FLR ? "FLR" : rr.method == PROV_RESET_BUS ?
			 "bus" : rr.method == PROV_RESET_PM ? "PM" : "?");
	/* A reset controller is disabled, and its BAR still answers. */
	pc_check(rd32(n, REG_CC) == 0 && rd32(n, REG_VS) >> 16 == 1,
		 "after RESET: CC 0x%x, VS 0x%x", rd32(n, REG_CC), rd32(n, REG_VS));
	for (i = 0; i < n->nbufs; i++)
		un[i] = pc_unmap_req(n->map[i].iova, n->map[i].mapped);
	st = pc_dma(&n->c, un, n->nbufs, NULL);
	pc_expect(st, PROV_S_OK, "DMA UNMAP batch of %u", n->nbufs);
	for (i = 0; st == PROV_S_OK && i < n->nbufs; i++)
		pc_expect(un[i].status, PROV_S_OK, "UNMAP %s", bufs[i].name);
	st = pc_counters(&n->c, &k);
	pc_check(st == PROV_S_OK && !k.live_mappings && !k.live_bytes && !k.total_live_mappings &&
		 k.maps >= n->nbufs && k.unmaps == k.maps && k.peak_mappings >= n->nbufs &&
		 k.resets == k0.resets + 1,
		 "COUNTERS: no live mappings (%llu, %llu bytes; provider: %llu), maps %llu = "
		 "unmaps %llu, peak %llu, resets +1 (%llu)",
		 (unsigned long long)k.live_mappings, (unsigned long long)k.live_bytes,
		 (unsigned long long)k.total_live_mappings, (unsigned long long)k.maps,
		 (unsigned long long)k.unmaps, (unsigned long long)k.peak_mappings,
		 (unsigned long long)k.resets);
	pc_expect(pc_call(&n->c, PROV_OP_RELEASE, n->f.fn, NULL, 0, NULL, 0), PROV_S_OK,
		  "RELEASE");
	pc_unmap_bar(&n->f);
	pc_mem_destroy(&n->mem);
	if (n->efd >= 0)
		close(n->efd);
	pc_close(&n->c);
}

static int setup(struct nvme *n, const char *sock, unsigned int nbufs, bool pending)
{
	struct prov_counters k = { 0 };
	int st;

	if (claim_nvme(n, sock))
		return -1;
	n->pending = pending;
	st = pc_counters(&n->c, &k);
	pc_check(st == PROV_S_OK && !k.total_live_mappings,
		 "COUNTERS: no live mappings in the provider (%llu)",
		 (unsigned long long)k.total_live_mappings);
	if (map_buffers(n, nbufs) || enable(n))
		return -1;
	return 0;
}

/* Identify into the buffer mapped for it: the data must be the controller's. */
static void identify_checked(struct nvme *n, const char *serial)
{
	const uint8_t *id = buf(n, BUF_ID);
	char want[21], got[21], model[41];
	uint32_t cfg_vid = 0, cfg_ssvid = 0;
	uint16_t vid, ssvid;
	int st;

	memset(buf(n, BUF_ID), 0, PAGE);
	st = identify(n, buf_iova(n, BUF_ID), "mapped buffer");
	if (st < 0)
		return;
	pc_check(st == 0, "Identify completes with status 0 (0x%x)", st);
	memcpy(&vid, id, 2);
	memcpy(&ssvid, id + 2, 2);
	snprintf(want, sizeof(want), "%-20s", serial);
	memcpy(got, id + 4, 20);
	got[20] = 0;
	memcpy(model, id + 24, 40);
	model[40] = 0;
	pc_info("Identify: vid %04x ssvid %04x sn '%s' mn '%s'", vid, ssvid, got, model);
	pc_config_read(&n->c, n->f.fn, 0x00, 2, &cfg_vid);
	pc_config_read(&n->c, n->f.fn, 0x2c, 2, &cfg_ssvid);
	pc_check(vid == cfg_vid && ssvid == cfg_ssvid,
		 "Identify data: vendor %04x and subsystem vendor %04x match config space",
		 vid, ssvid);
	pc_check(!strcmp(got, want), "Identify data: serial number is '%s'", serial);
}

int pc_cmd_nvme(int argc, char **argv)
{
	struct nvme n;

	if (argc != 2)
		return 2;
	if (!setup(&n, argv[0], BUF_ID + 1, false)) {
		struct prov_counters k = { 0 };
		int st;

		identify_checked(&n, argv[1]);
		st = pc_counters(&n.c, &k);
		pc_check(st == PROV_S_OK && k.live_mappings == n.nbufs &&
			 k.total_live_mappings == n.nbufs && k.live_bytes == n.nbufs * n.g,
			 "COUNTERS while mapped: %llu live mappings of %llu bytes (provider: %llu)",
			 (unsigned long long)k.live_mappings, (unsigned long long)k.live_bytes,
			 (unsigned long long)k.total_live_mappings);
		teardown(&n);
	}
	return pc_exit();
}

/* NOTIFY on a connection that did not ask for IRQ_PENDING. */
static void notify_unagreed(const char *sock)
{
	struct pc_conn b;
	int fd = -1;

	if (!pc_connect(&b, sock) &&
	    pc_expect(pc_hello_features(&b, PROV_F_ALL & ~PROV_F_IRQ_PENDING), PROV_S_OK,
		      "HELLO without the IRQ_PENDING feature"))
		pc_expect(pc_notify(&b, &fd), PROV_S_UNSUPPORTED,
			  "NOTIFY without the IRQ_PENDING feature");
	pc_close(&b);
}

/*
 * A bit set before NOTIFY is announced by it at once; a later NOTIFY replaces the pipe
 * (the old one reads end of file). Identify's completion is left pending for it.
 */
static void notify_again(struct nvme *n)
{
	uint32_t sqe[16] = { 0 };
	uint64_t bits;
	int fd = -1;

	sqe[0] = ADMIN_IDENTIFY | (uint32_t)++n->cid << 16;
	sqe[6] = buf_iova(n, BUF_ID);
	sqe[7] = buf_iova(n, BUF_ID) >> 32;
	sqe[10] = CNS_CONTROLLER;
	memcpy(buf(n, BUF_SQ) + n->sq_tail * sizeof(sqe), sqe, sizeof(sqe));
	n->sq_tail = (n->sq_tail + 1) % QD;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	wr32(n, REG_DBS, n->sq_tail);
	pc_check(pc_notify_wait(n->efd, IRQ_MS) == 1, "Identify again: NOTIFY's pipe has a byte");
	if (!pc_expect(pc_notify(&n->c, &fd), PROV_S_OK, "a second NOTIFY, the bit still set"))
		return;
	pc_check(pc_notify_wait(fd, IRQ_MS) == 1,
		 "the second NOTIFY's pipe announces the bit set before it at once");
	pc_check(pc_notify_wait(n->efd, IRQ_MS) == -1,
		 "the first NOTIFY's pipe ends (the provider closed its write end)");
	close(n->efd);
	n->efd = fd;
	pc_irq_pending(&n->c, n->f.fn, PROV_IRQ_MSIX, 0, pending_count(n), &bits);
	pc_check(bits == 1, "IRQ_PENDING: the one bit (0x%llx)", (unsigned long long)bits);
	n->cq_head = (n->cq_head + 1) % QD;
	if (!n->cq_head)
		n->phase ^= 1;
	wr32(n, REG_DBS + n->db_stride, n->cq_head);
}

/*
 * With vector 0 ENABLEd: refused NOTIFYs leave the pipe in place, EVENTFD and ENABLE
 * exclude each other until DISABLE, IRQ_PENDING stays within the vectors; then vector 0
 * is ENABLEd again, and the next Identify proves both.
 */
static void pending_refusals(struct nvme *n)
{
	uint32_t fn = n->f.fn, nv = n->f.claim.irqs[PROV_IRQ_MSIX].count;
	int efd = pc_eventfd();
	uint64_t bits;

	if (!pc_check(efd >= 0, "an eventfd for the refusals"))
		return;
	pc_expect(pc_call_fds(&n->c, PROV_OP_NOTIFY, 0, NULL, 0, &efd, 1, NULL, 0, NULL),
		  PROV_S_BAD_FD, "NOTIFY with a descriptor");
	pc_expect(pc_call_fds(&n->c, PROV_OP_NOTIFY, 1, NULL, 0, NULL, 0, NULL, 0, NULL),
		  PROV_S_INVALID, "NOTIFY with fn 1");
	pc_expect(pc_irq_set(&n->c, fn, PROV_IRQ_MSIX, PROV_IRQ_EVENTFD, 0, 1, &efd, 1),
		  PROV_S_INVALID, "IRQ_SET MSI-X EVENTFD while ENABLE routes MSI-X");
	pc_expect(pc_irq_pending(&n->c, fn, PROV_IRQ_MSIX, nv, 1, &bits), PROV_S_INVALID,
		  "IRQ_PENDING vector %u (one past the last)", nv);
	pc_expect(pc_irq_pending(&n->c, fn, PROV_IRQ_MSIX, 0, 65, &bits), PROV_S_INVALID,
		  "IRQ_PENDING of 65 vectors");
	pc_expect(pc_irq_pending(&n->c, fn, PROV_IRQ_MSIX, 0, 0, &bits), PROV_S_INVALID,
		  "IRQ_PENDING of 0 vectors");
	pc_expect(pc_irq_set(&n->c, fn, PROV_IRQ_MSIX, PROV_IRQ_DISABLE, 0, 0, NULL, 0),
		  PROV_S_OK, "IRQ_SET MSI-X DISABLE of ENABLE's");
	pc_expect(pc_irq_set(&n->c, fn, PROV_IRQ_MSIX, PROV_IRQ_EVENTFD, 0, 1, &efd, 1),
		  PROV_S_OK, "IRQ_SET MSI-X EVENTFD after DISABLE");
	pc_expect(pc_irq_set(&n->c, fn, PROV_IRQ_MSIX, PROV_IRQ_ENABLE, 0, 1, NULL, 0),
		  PROV_S_INVALID, "IRQ_SET MSI-X ENABLE while EVENTFD routes MSI-X");
	pc_expect(pc_irq_set(&n->c, fn, PROV_IRQ_MSIX, PROV_IRQ_DISABLE, 0, 0, NULL, 0),
		  PROV_S_OK, "IRQ_SET MSI-X DISABLE of EVENTFD's");
	pc_expect(pc_irq_set(&n->c, fn, PROV_IRQ_MSIX, PROV_IRQ_ENABLE, 0, 1, NULL, 0),
		  PROV_S_OK, "IRQ_SET MSI-X ENABLE vector 0 again");
	pc_expect(pc_irq_pending(&n->c, fn, PROV_IRQ_MSIX, 0, pending_count(n), &bits),
		  PROV_S_OK, "IRQ_PENDING after the switches");
	pc_check(!bits, "IRQ_PENDING after the switches: no bit (0x%llx)",
		 (unsigned long long)bits);
	close(efd);
}

int pc_cmd_pending(int argc, char **argv)
{
	struct nvme n;

	if (argc != 2)
		return 2;
	notify_unagreed(argv[0]);
	if (!setup(&n, argv[0], BUF_ID + 1, true)) {
		pc_check(n.c.features & PROV_F_IRQ_PENDING, "HELLO: IRQ_PENDING agreed (0x%x)",
			 n.c.features);
		identify_checked(&n, argv[1]);
		notify_again(&n);
		pending_refusals(&n);
		memset(buf(&n, BUF_ID), 0, PAGE);
		pc_check(identify(&n, buf_iova(&n, BUF_ID), "after the refusals") == 0,
			 "Identify after the refusals completes with status 0");
		teardown(&n);
	}
	return pc_exit();
}

/* A granule-aligned bus address in the aperture that no mapping of n covers. */
static uint64_t unmapped_iova(struct nvme *n)
{
	const struct prov_limits *l = &n->c.limits;
	uint64_t a = l->aperture_base + (l->aperture_size / 2 & ~(n->g - 1));
	unsigned int i;

	for (i = 0; i < n->nbufs; i++) {
		if (a / n->g == n->map[i].iova / n->g) {
			a += n->g;
			i = -1;
		}
	}
	return a;
}

/* Memory is as saved except the queues, which the controller legitimately changes. */
static bool memory_unchanged(struct nvme *n, const uint8_t *saved)
{
	uint64_t off;

	for (off = 0; off < n->mem.size; off += n->g) {
		if (off == BUF_SQ * n->g || off == BUF_CQ * n->g)
			continue;
		if (memcmp(n->mem.p + off, saved + off, n->g))	/* bytes, not a struct */
			return false;
	}
	return true;
}

/*
 * One stray write per run: the emulated IOMMU records a fault only while the previous
 * one is not pending, so the script reads L1's log for each before the next.
 */
int pc_cmd_dma_fault(int argc, char **argv)
{
	bool ro = argc == 2 && !strcmp(argv[1], "read-only");
	const char *what = ro ? "a read-only mapping" : "a bus address never handed out";
	struct nvme n;
	uint64_t iova;
	uint8_t *saved;
	int st;

	if (argc != 2 || (!ro && strcmp(argv[1], "unmapped")))
		return 2;
	if (setup(&n, argv[0], NR_BUFS, false))
		return pc_exit();
	/* The control: the same command into a mapped, writable buffer lands. */
	memset(buf(&n, BUF_ID), 0, PAGE);
	st = identify(&n, buf_iova(&n, BUF_ID), "control, mapped buffer");
	pc_check(st >= 0 && buf(&n, BUF_ID)[0] | buf(&n, BUF_ID)[1],
		 "control: Identify data lands in the mapped buffer");
	saved = malloc(n.mem.size);
	if (!pc_check(saved != NULL, "room for a copy of the DMA memory"))
		return pc_exit();
	memset(buf(&n, BUF_ID), 0xa5, PAGE);
	memset(buf(&n, BUF_BAIT), 0x5a, PAGE);
	memcpy(saved, n.mem.p, n.mem.size);
	iova = ro ? buf_iova(&n, BUF_BAIT) : unmapped_iova(&n);
	pc_info("fault-iova 0x%llx (%s)", (unsigned long long)iova, what);
	st = identify(&n, iova, what);
	if (st >= 0)
		pc_info("its completion status: 0x%x (QEMU's NVMe does not report the fault)", st);
	pc_check(memory_unchanged(&n, saved), "Identify into %s: DMA memory unchanged", what);
	free(saved);
	teardown(&n);
	return pc_exit();
}

int pc_cmd_hold(int argc, char **argv)
{
	struct nvme n;

	if (argc != 1)
		return 2;
	if (setup(&n, argv[0], BUF_ID + 1, false))
		return pc_exit();
	/* The controller stays enabled on these bus addresses: the provider must stop it. */
	pc_info("holding %u mappings", n.nbufs);
	fflush(stdout);
	for (;;)
		pause();
}

int pc_cmd_busy(int argc, char **argv)
{
	struct prov_counters k = { 0 };
	int st;
	struct prov_claim_rep rep;
	struct pc_conn c;
	unsigned long live;
	int fn;

	if (argc != 2)
		return 2;
	live = strtoul(argv[1], NULL, 0);
	if (pc_open(&c, argv[0]))
		return pc_exit();
	fn = pc_find_class(&c, PC_CLASS_NVME);
	if (pc_check(fn >= 0, "HELLO lists the NVMe")) {
		pc_check(c.fns[fn].flags & PROV_FN_CLAIMED, "HELLO: the NVMe is CLAIMED");
		pc_expect(pc_call(&c, PROV_OP_CLAIM, fn, NULL, 0, &rep, sizeof(rep)), PROV_S_BUSY,
			  "CLAIM of the NVMe another client holds");
	}
	st = pc_counters(&c, &k);
	pc_check(st == PROV_S_OK && k.total_live_mappings == live &&
		 !k.live_mappings,
		 "COUNTERS: the provider holds %lu live mappings (%llu), none of them ours",
		 live, (unsigned long long)k.total_live_mappings);
	pc_close(&c);
	return pc_exit();
}

int pc_cmd_free(int argc, char **argv)
{
	struct pc_conn c;
	int fn;

	if (argc != 1)
		return 2;
	if (pc_open(&c, argv[0]))
		return pc_exit();
	fn = pc_find_class(&c, PC_CLASS_NVME);
	pc_close(&c);
	if (pc_check(fn >= 0, "HELLO lists the NVMe"))
		pc_check(pc_wait_free(argv[0], fn), "the NVMe is free within %d s", PC_FREE_SECS);
	return pc_exit();
}

/* idle SOCKET: every function lent is free again and the provider holds no mapping. */
int pc_cmd_idle(int argc, char **argv)
{
	struct prov_counters k = { 0 };
	struct pc_conn c;
	unsigned int fn;
	int st;

	if (argc != 1)
		return 2;
	if (pc_open(&c, argv[0]))
		return pc_exit();
	for (fn = 0; fn < c.nr_fns; fn++)
		pc_check(pc_wait_free(argv[0], fn), "function %u (rid 0x%x) is free within %d s",
			 fn, c.fns[fn].rid, PC_FREE_SECS);
	st = pc_counters(&c, &k);
	pc_check(st == PROV_S_OK && !k.total_live_mappings,
		 "COUNTERS: the provider holds no mapping (%llu)",
		 (unsigned long long)k.total_live_mappings);
	pc_close(&c);
	return pc_exit();
}
