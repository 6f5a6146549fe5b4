// SPDX-License-Identifier: (GPL-2.0 OR MIT)
/*
 * The provider's portable core against a fake OS layer: in-memory config spaces with
 * real capability lists (MSI, MSI-X, PCIe, PM, ATS, SR-IOV, PRI, PASID, Resizable BAR,
 * ACS), and records of every call it gets (programmed DMA ranges, interrupt set-ups,
 * resets). Checks the protocol's rules one by one, then throws thousands of hostile
 * messages at it and checks that the model and the fake still agree.
 */
#include <string.h>
#include "../../lib/dp_prov.h"
#include "dp_test.h"

/* A sanitizer finding fails the test instead of scrolling past in its log. */
const char *__ubsan_default_options(void);
const char *__ubsan_default_options(void)
{
	return "halt_on_error=1:print_stacktrace=1";
}

#define G	(16 * 1024ull)
#define NFN	5		/* fn4 answers nothing: add_function refuses it */
#define MAXR	4096
#define FD_REGION	70	/* + region: what the fake's REGION_MAP lends */

struct fake_range {
	const struct dp_prov_conn *c;
	uint64_t iova, off, size;
	unsigned int perm;
};

/* The fake's state for one connection (conn->os). */
struct fake_conn {
	uint64_t mem_size, mem_base;
	int mem_fd, mem_calls;
	bool gone;
};

struct fake {
	uint8_t cfg[NFN][4096];
	struct prov_region regs[NFN][PROV_REGION_COUNT];
	uint32_t irqs[NFN][PROV_IRQ_TYPES];
	const struct dp_prov_conn *holder[NFN];
	int claims[NFN], releases[NFN], resets[NFN];
	int cfg_writes;
	uint32_t w_fn, w_off, w_size, w_val;		/* the last config write */
	int region_reads, region_writes, region_maps;
	uint64_t rw_off, rw_val;			/* the last region write */
	int irq_calls;
	struct prov_irq_req irq_last;
	unsigned int irq_nfds;
	int irq_fd0;
	uint64_t pending;
	struct fake_range r[MAXR];
	unsigned int nr;
	int maps, unmaps, gone;
	bool fail_map;
	/* os_iova: the fake's IOMMU chooses addresses, downwards from next_iova. */
	bool chooses;
	uint64_t next_iova;
	bool partial;			/* maps only the first granule */
	uint64_t bad_iova;		/* when not 0: the address it answers instead */
	int notifies;
	int fail_claim;			/* the status claim answers (0: it succeeds) */
	uint32_t fail_read;		/* a config offset whose read fails (0: none) */
	int violations;		/* calls the core should never have made */
};

static struct fake F;

static struct fake *fk(void *os)
{
	return os;
}

static bool held(struct fake *f, unsigned int fn)
{
	if (fn >= NFN || !f->holder[fn]) {
		f->violations++;
		return false;
	}
	return true;
}

/* Config space past the claimed function's config region is not there to reach. */
static bool past_config(struct fake *f, unsigned int fn, uint32_t off, uint32_t size)
{
	return f->holder[fn] && (uint64_t)off + size > f->regs[fn][PROV_REGION_CONFIG].size;
}

static int f_config_read(void *os, unsigned int fn, uint32_t off, uint32_t size,
			 uint32_t *val)
{
	struct fake *f = fk(os);
	uint32_t i, v = 0;

	if (fn >= NFN || off % size || (uint64_t)off + size > 4096 ||
	    past_config(f, fn, off, size)) {
		f->violations++;
		return PROV_S_IO;
	}
	if (f->fail_read && off == f->fail_read)
		return PROV_S_IO;
	for (i = 0; i < size; i++)
		v |= (uint32_t)f->cfg[fn][off + i] << (8 * i);
	*val = v;
	return PROV_S_OK;
}

static int f_config_write(void *os, unsigned int fn, uint32_t off, uint32_t size,
			  uint32_t val)
{
	struct fake *f = fk(os);
	uint32_t i;

	if (!held(f, fn))
		return PROV_S_IO;
	if (off % size || past_config(f, fn, off, size)) {
		f->violations++;
		return PROV_S_IO;
	}
	for (i = 0; i < size; i++)
		f->cfg[fn][off + i] = val >> (8 * i);
	f->cfg_writes++;
	f->w_fn = fn;
	f->w_off = off;
	f->w_size = size;
	f->w_val = val;
	return PROV_S_OK;
}

static int f_claim(void *os, struct dp_prov_conn *conn, unsigned int fn,
		   struct prov_claim_rep *rep)
{
	struct fake *f = fk(os);
	int i;

	if (fn >= NFN || f->holder[fn]) {
		f->violations++;
		return PROV_S_IO;
	}
	if (f->fail_claim)
		return f->fail_claim;
	for (i = 0; i < PROV_REGION_COUNT; i++) {
		rep->regions[i].size = f->regs[fn][i].size;
		rep->regions[i].flags = f->regs[fn][i].flags;
	}
	for (i = 0; i < PROV_IRQ_TYPES; i++)
		rep->irqs[i].count = f->irqs[fn][i];
	f->holder[fn] = conn;
	f->claims[fn]++;
	return PROV_S_OK;
}

static void f_release(void *os, struct dp_prov_conn *conn, unsigned int fn)
{
	struct fake *f = fk(os);

	if (fn >= NFN || f->holder[fn] != conn) {
		f->violations++;
		return;
	}
	f->holder[fn] = NULL;
	f->releases[fn]++;
	f->resets[fn]++;
}

static int f_region_map(void *os, unsigned int fn, uint32_t region,
			struct prov_region_map_rep *rep, int *fd)
{
	struct fake *f = fk(os);

	if (!held(f, fn))
		return PROV_S_IO;
	if (region >= PROV_REGION_CONFIG) {
		f->violations++;
		return PROV_S_IO;
	}
	f->region_maps++;
	rep->size = f->regs[fn][region].size;
	rep->offset = 0;
	rep->flags = PROV_REGION_READ | PROV_REGION_WRITE;
	*fd = FD_REGION + region;
	return PROV_S_OK;
}

static uint64_t pattern(uint32_t region, uint64_t off, uint32_t size)
{
	uint64_t v = 0x1122334455667788ull ^ (off * 0x9e3779b97f4a7c15ull) ^ region;

	return size == 8 ? v : v & ((1ull << (8 * size)) - 1);
}

static int f_region_read(void *os, unsigned int fn, uint32_t region, uint64_t off,
			 uint32_t size, uint64_t *val)
{
	struct fake *f = fk(os);

	if (!held(f, fn) || region >= PROV_REGION_CONFIG ||
	    off + size > f->regs[fn][region].size) {
		f->violations++;
		return PROV_S_IO;
	}
	f->region_reads++;
	*val = pattern(region, off, size);
	return PROV_S_OK;
}

static int f_region_write(void *os, unsigned int fn, uint32_t region, uint64_t off,
			  uint32_t size, uint64_t val)
{
	struct fake *f = fk(os);

	if (!held(f, fn) || region >= PROV_REGION_CONFIG ||
	    off + size > f->regs[fn][region].size) {
		f->violations++;
		return PROV_S_IO;
	}
	f->region_writes++;
	f->rw_off = off;
	f->rw_val = val;
	return PROV_S_OK;
}

static int f_irq_set(void *os, unsigned int fn, const struct prov_irq_req *req,
		     const int *fds, unsigned int nfds)
{
	struct fake *f = fk(os);

	if (!held(f, fn))
		return PROV_S_IO;
	f->irq_calls++;
	f->irq_last = *req;
	f->irq_nfds = nfds;
	f->irq_fd0 = nfds ? fds[0] : -1;
	return PROV_S_OK;
}

static int f_irq_pending(void *os, unsigned int fn, uint32_t type, uint32_t start,
			 uint32_t count, uint64_t *bits)
{
	struct fake *f = fk(os);

	(void)type;
	if (!held(f, fn) || !count || count > 64)
		return PROV_S_IO;
	*bits = (f->pending >> start) & (count == 64 ? ~0ull : (1ull << count) - 1);
	return PROV_S_OK;
}

static int f_reset(void *os, unsigned int fn, uint32_t *method)
{
	struct fake *f = fk(os);

	if (!held(f, fn))
		return PROV_S_IO;
	f->resets[fn]++;
	*method = PROV_RESET_FLR;
	return PROV_S_OK;
}

static int f_dma_memory(void *os, struct dp_prov_conn *conn, uint64_t size, uint64_t base,
			int fd)
{
	struct fake_conn *fc = conn->os;

	(void)os;
	fc->mem_calls++;
	fc->mem_size = size;
	fc->mem_base = base;
	fc->mem_fd = fd;
	return PROV_S_OK;
}

static int f_dma_map(void *os, struct dp_prov_conn *conn, uint64_t off, uint64_t *sizep,
		     unsigned int perm, uint64_t *iovap)
{
	struct fake *f = fk(os);
	struct fake_conn *fc = conn->os;
	unsigned int i, claims = 0;
	uint64_t iova = *iovap, size = *sizep;

	for (i = 0; i < NFN; i++)
		claims += f->holder[i] == conn;
	if ((iova | off | size) % G || !size || off + size > fc->mem_size || !claims ||
	    !perm || perm & ~3u || f->nr == MAXR)
		f->violations++;
	if (f->chooses) {
		/* On os_iova the core passes no address: *iova is not read. */
		if (f->partial && size > G)
			*sizep = size = G;
		f->next_iova -= size;
		/* A faulty IOMMU's answer (bad_iova) is recorded unchecked: the core undoes it. */
		*iovap = iova = f->bad_iova ? f->bad_iova : f->next_iova;
	}
	for (i = 0; i < f->nr && !f->bad_iova; i++)
		if (f->r[i].c == conn && iova < f->r[i].iova + f->r[i].size &&
		    f->r[i].iova < iova + size)
			f->violations++;
	if (f->fail_map || f->nr == MAXR)
		return PROV_S_IO;
	f->r[f->nr++] = (struct fake_range){ conn, iova, off, size, perm };
	f->maps++;
	return PROV_S_OK;
}

static void f_dma_unmap(void *os, struct dp_prov_conn *conn, uint64_t iova, uint64_t size)
{
	struct fake *f = fk(os);
	unsigned int i;

	/* Newest first: a faulty IOMMU's duplicate (bad_iova) is the one undone. */
	for (i = f->nr; i--;) {
		if (f->r[i].c == conn && f->r[i].iova == iova && f->r[i].size == size) {
			f->r[i] = f->r[--f->nr];
			f->unmaps++;
			return;
		}
	}
	f->violations++;
}

#define FD_NOTIFY	90	/* what the fake's NOTIFY lends */

static int f_notify(void *os, struct dp_prov_conn *conn, int *rep_fd)
{
	struct fake *f = fk(os);

	(void)conn;
	f->notifies++;
	*rep_fd = FD_NOTIFY;
	return PROV_S_OK;
}

static void f_conn_gone(void *os, struct dp_prov_conn *conn)
{
	struct fake *f = fk(os);
	struct fake_conn *fc = conn->os;
	unsigned int i;

	for (i = 0; i < f->nr; i++)
		f->violations += f->r[i].c == conn;
	for (i = 0; i < NFN; i++)
		f->violations += f->holder[i] == conn;
	fc->gone = true;
	f->gone++;
}

static const struct dp_prov_os_ops linux_ops = {
	.config_read = f_config_read, .config_write = f_config_write, .claim = f_claim,
	.release = f_release, .region_map = f_region_map, .region_read = f_region_read,
	.region_write = f_region_write, .irq_set = f_irq_set, .irq_pending = NULL,
	.reset = f_reset, .dma_memory = f_dma_memory, .dma_map = f_dma_map,
	.dma_unmap = f_dma_unmap, .conn_gone = f_conn_gone,
};

static const struct dp_prov_os_ops macos_ops = {
	.config_read = f_config_read, .config_write = f_config_write, .claim = f_claim,
	.release = f_release, .region_map = f_region_map, .region_read = f_region_read,
	.region_write = f_region_write, .irq_set = f_irq_set, .irq_pending = f_irq_pending,
	.notify = f_notify, .reset = f_reset, .dma_memory = f_dma_memory,
	.dma_map = f_dma_map, .dma_unmap = f_dma_unmap, .conn_gone = f_conn_gone,
};

/* ---- The fake's functions ---- */

static void put(uint8_t *cfg, uint32_t off, uint32_t size, uint32_t val)
{
	uint32_t i;

	for (i = 0; i < size; i++)
		cfg[off + i] = val >> (8 * i);
}

static void region(struct fake *f, unsigned int fn, int i, uint64_t size, uint32_t flags)
{
	f->regs[fn][i].size = size;
	f->regs[fn][i].flags = flags;
}

#define RW	(PROV_REGION_READ | PROV_REGION_WRITE)
#define MMIO	(RW | PROV_REGION_MMAP)

/* fn0: a GPU. MSI 64-bit with per-vector masks at 0x50, MSI-X (16) at 0xb0 in BAR2. */
#define GPU_MSI		0x50
#define GPU_PCIE	0x70
#define GPU_MSIX	0xb0
#define GPU_ATS		0x100
#define GPU_SRIOV	0x140
#define GPU_PRI		0x180
#define GPU_PASID	0x1a0
#define GPU_REBAR	0x1b0
#define GPU_ACS		0x1d0
/* fn1: its audio function. MSI 32-bit with per-vector masks at 0x68. */
#define AUD_MSI		0x68

static uint32_t ext_hdr(uint32_t id, uint32_t next)
{
	return id | 1u << 16 | next << 20;
}

static void fake_init(struct fake *f)
{
	uint8_t *c;

	memset(f, 0, sizeof(*f));

	c = f->cfg[0];
	put(c, 0x00, 4, 0x220410de);
	put(c, 0x06, 2, 0x0010);
	put(c, 0x08, 4, 0x030000a1);
	put(c, 0x0e, 1, 0x80);			/* multi-function endpoint */
	put(c, 0x2c, 4, 0x403b1458);
	put(c, 0x34, 1, 0x40);
	put(c, 0x3d, 1, 1);
	put(c, 0x40, 2, 0x5001);		/* PM -> MSI */
	put(c, GPU_MSI, 2, 0x7005);		/* MSI -> PCIe */
	put(c, GPU_MSI + 2, 2, 0x0186);		/* 64-bit, per-vector masks, 8 vectors */
	put(c, GPU_PCIE, 2, 0xb010);		/* PCIe -> MSI-X */
	put(c, GPU_PCIE + 2, 2, 0x0002);
	put(c, GPU_MSIX, 2, 0xc011);		/* MSI-X -> vendor-specific */
	put(c, GPU_MSIX + 2, 2, 15);		/* 16 vectors */
	put(c, GPU_MSIX + 4, 4, 0x3000 | 2);	/* table: BAR2 + 0x3000, 256 bytes */
	put(c, GPU_MSIX + 8, 4, 0x5800 | 2);	/* PBA: BAR2 + 0x5800 */
	put(c, 0xc0, 2, 0xd009);		/* vendor-specific -> PCIe again */
	put(c, 0xc2, 1, 0x10);
	put(c, 0xd0, 2, 0x0010);		/* a second PCIe capability: the first counts */
	put(c, GPU_ATS, 4, ext_hdr(0x000f, GPU_SRIOV));
	put(c, GPU_SRIOV, 4, ext_hdr(0x0010, GPU_PRI));
	put(c, GPU_SRIOV + 0x0e, 2, 8);		/* TotalVFs */
	put(c, GPU_PRI, 4, ext_hdr(0x0013, GPU_PASID));
	put(c, GPU_PASID, 4, ext_hdr(0x001b, GPU_REBAR));
	put(c, GPU_REBAR, 4, ext_hdr(0x0015, GPU_ACS));
	put(c, GPU_REBAR + 8, 4, 2 << 5 | 0);	/* two resizable BARs: 0 ... */
	put(c, GPU_REBAR + 16, 4, 2);		/* ... and 2 */
	put(c, GPU_ACS, 4, ext_hdr(0x000d, 0x1e0));
	put(c, 0x1e0, 4, ext_hdr(0x000b, 0));	/* vendor-specific, end of list */
	region(f, 0, 0, 16 << 20, MMIO | PROV_REGION_MEM64);
	region(f, 0, 2, 64 << 10, MMIO | PROV_REGION_MEM64 | PROV_REGION_PREFETCH);
	region(f, 0, 4, 128, RW | PROV_REGION_IO);
	region(f, 0, PROV_REGION_ROM, 512 << 10, PROV_REGION_READ);
	region(f, 0, PROV_REGION_CONFIG, 4096, RW);
	f->irqs[0][PROV_IRQ_INTX] = 1;
	f->irqs[0][PROV_IRQ_MSI] = 8;
	f->irqs[0][PROV_IRQ_MSIX] = 16;

	c = f->cfg[1];
	put(c, 0x00, 4, 0x1aef10de);
	put(c, 0x06, 2, 0x0010);
	put(c, 0x08, 4, 0x040300a1);
	put(c, 0x0e, 1, 0x80);
	put(c, 0x34, 1, 0x60);
	put(c, 0x3d, 1, 2);
	put(c, 0x60, 2, AUD_MSI << 8 | 0x01);	/* PM -> MSI */
	put(c, AUD_MSI, 2, 0x8005);		/* MSI -> PCIe */
	put(c, AUD_MSI + 2, 2, 0x0100);		/* 32-bit, per-vector masks, 1 vector */
	put(c, 0x80, 2, 0x0010);		/* PCIe, end of list; no extended caps */
	region(f, 1, 0, 16 << 10, MMIO);
	region(f, 1, PROV_REGION_CONFIG, 4096, RW);
	f->irqs[1][PROV_IRQ_INTX] = 1;
	f->irqs[1][PROV_IRQ_MSI] = 1;

	c = f->cfg[2];				/* a bridge: never lent */
	put(c, 0x00, 4, 0x12348086);
	put(c, 0x08, 4, 0x06040000);
	put(c, 0x0e, 1, 0x01);
	region(f, 2, PROV_REGION_CONFIG, 4096, RW);

	c = f->cfg[3];				/* cyclic capability lists */
	put(c, 0x00, 4, 0x00101b36);
	put(c, 0x06, 2, 0x0010);
	put(c, 0x08, 4, 0x01080202);
	put(c, 0x34, 1, 0x40);
	put(c, 0x40, 2, 0x5010);		/* PCIe -> MSI-X */
	put(c, 0x50, 2, 0x4011);		/* MSI-X -> PCIe again */
	put(c, 0x52, 2, 63);			/* 64 vectors: a 1 KiB table */
	put(c, 0x54, 4, 0x2000 | 0);		/* table in BAR0 */
	put(c, 0x58, 4, 0x0000 | 4);		/* PBA in BAR4 */
	put(c, 0x100, 4, ext_hdr(0x000f, 0x100));	/* ATS -> itself */
	region(f, 3, 0, 16 << 10, MMIO);
	region(f, 3, 4, 16 << 10, MMIO);
	region(f, 3, PROV_REGION_CONFIG, 4096, RW);
	f->irqs[3][PROV_IRQ_MSIX] = 64;

	memset(f->cfg[4], 0xff, sizeof(f->cfg[4]));	/* nothing answers */
}

static uint32_t fake_cfg(struct fake *f, unsigned int fn, uint32_t off, uint32_t size)
{
	uint32_t v = 0, i;

	for (i = 0; i < size; i++)
		v |= (uint32_t)f->cfg[fn][off + i] << (8 * i);
	return v;
}

/* ---- Messages ---- */

static struct dp_prov P;
static uint8_t *repbuf;		/* PROV_MAX_MSG bytes on the heap, so ASan sees overruns */
static int rep_fd;
static size_t rep_len;
static uint32_t next_id = 1;
static int echo_errors;		/* replies that do not echo the request or lie about length */
static int count_errors;	/* bad_requests not moving with the replies' statuses */
static unsigned int seen[PROV_S_COUNT];	/* replies by status */

static const struct prov_hdr *rhdr(void)
{
	return (const struct prov_hdr *)repbuf;
}

static const void *rbody(void)
{
	return repbuf + sizeof(struct prov_hdr);
}

/* Sends len bytes from an exactly sized heap copy, so a read past them is caught. */
static int send_raw(struct dp_prov *p, struct dp_prov_conn *c, const void *msg, size_t len,
		    const int *fds, unsigned int nfds)
{
	struct prov_hdr in = { 0 }, out;
	uint64_t bad = p->bad_requests;
	uint8_t *copy = malloc(len ? len : 1);
	size_t n, refusal;

	memcpy(copy, msg, len);
	memcpy(&in, msg, len < sizeof(in) ? len : sizeof(in));
	memset(repbuf, 0xcc, PROV_MAX_MSG);
	rep_fd = -2;
	n = dp_prov_handle(c, copy, len, fds, nfds, repbuf, &rep_fd);
	free(copy);
	memcpy(&out, repbuf, sizeof(out));
	/* A refusal is the header alone; VERSION's adds the provider's HELLO reply. */
	refusal = sizeof(out) + (out.status == PROV_S_VERSION ? sizeof(struct prov_hello_rep) : 0);
	if (n < sizeof(out) || n > PROV_MAX_MSG || out.len != n || out.op != in.op ||
	    out.id != in.id || out.fn != in.fn || out.status >= PROV_S_COUNT ||
	    (out.status && n != refusal) || (out.status && rep_fd != -1) || rep_fd < -1)
		echo_errors++;
	if (p->bad_requests != bad + (out.status != PROV_S_OK))
		count_errors++;
	if (out.status < PROV_S_COUNT)
		seen[out.status]++;
	rep_len = n;
	return out.status;
}

static uint8_t msgbuf[PROV_MAX_MSG + 64];

static int reqp(struct dp_prov *p, struct dp_prov_conn *c, uint16_t op, uint32_t fn,
		const void *body, size_t blen, const int *fds, unsigned int nfds)
{
	struct prov_hdr h = { .op = op, .len = sizeof(h) + blen, .id = next_id++, .fn = fn };

	memcpy(msgbuf, &h, sizeof(h));
	if (blen)
		memcpy(msgbuf + sizeof(h), body, blen);
	return send_raw(p, c, msgbuf, sizeof(h) + blen, fds, nfds);
}

static int req(struct dp_prov_conn *c, uint16_t op, uint32_t fn, const void *body,
	       size_t blen)
{
	return reqp(&P, c, op, fn, body, blen, NULL, 0);
}

static struct prov_hello_rep hello_rep;

static int hello(struct dp_prov_conn *c, uint32_t version, uint32_t features)
{
	struct prov_hello_req h = { .version = version, .features = features };
	int st = req(c, PROV_OP_HELLO, 0, &h, sizeof(h));

	if (!st)
		memcpy(&hello_rep, rbody(), sizeof(hello_rep));
	return st;
}

static struct prov_function hello_fn(unsigned int i)
{
	struct prov_function f;

	memcpy(&f, (const uint8_t *)rbody() + sizeof(struct prov_hello_rep) + i * sizeof(f),
	       sizeof(f));
	return f;
}

static struct prov_claim_rep claim_rep;

static int claim(struct dp_prov_conn *c, uint32_t fn)
{
	int st = req(c, PROV_OP_CLAIM, fn, NULL, 0);

	if (!st)
		memcpy(&claim_rep, rbody(), sizeof(claim_rep));
	return st;
}

static int release(struct dp_prov_conn *c, uint32_t fn)
{
	return req(c, PROV_OP_RELEASE, fn, NULL, 0);
}

static uint32_t cfg_val;

static int cfg_rd(struct dp_prov_conn *c, uint32_t fn, uint32_t off, uint32_t size)
{
	struct prov_config_req r = { .offset = off, .size = size };
	struct prov_config_rep rep;
	int st = req(c, PROV_OP_CONFIG_READ, fn, &r, sizeof(r));

	memcpy(&rep, rbody(), sizeof(rep));
	cfg_val = st ? 0 : rep.value;
	return st;
}

static int cfg_wr(struct dp_prov_conn *c, uint32_t fn, uint32_t off, uint32_t size,
		  uint32_t val)
{
	struct prov_config_req r = { .offset = off, .size = size, .value = val };

	return req(c, PROV_OP_CONFIG_WRITE, fn, &r, sizeof(r));
}

static uint64_t reg_val;

static int reg_rd(struct dp_prov_conn *c, uint32_t fn, uint32_t region, uint64_t off,
		  uint32_t size)
{
	struct prov_region_req r = { .region = region, .size = size, .offset = off };
	struct prov_region_rep rep;
	int st = req(c, PROV_OP_REGION_READ, fn, &r, sizeof(r));

	memcpy(&rep, rbody(), sizeof(rep));
	reg_val = st ? 0 : rep.value;
	return st;
}

static int reg_wr(struct dp_prov_conn *c, uint32_t fn, uint32_t region, uint64_t off,
		  uint32_t size, uint64_t val)
{
	struct prov_region_req r = { .region = region, .size = size, .offset = off,
				     .value = val };

	return req(c, PROV_OP_REGION_WRITE, fn, &r, sizeof(r));
}

static struct prov_region_map_rep map_rep;

static int reg_map(struct dp_prov_conn *c, uint32_t fn, uint32_t region)
{
	struct prov_region_map_req r = { .region = region };
	int st = req(c, PROV_OP_REGION_MAP, fn, &r, sizeof(r));

	if (!st)
		memcpy(&map_rep, rbody(), sizeof(map_rep));
	return st;
}

static int fds16[16] = { 100, 101, 102, 103, 104, 105, 106, 107,
			 108, 109, 110, 111, 112, 113, 114, 115 };

static int irq(struct dp_prov *p, struct dp_prov_conn *c, uint32_t fn, uint32_t type,
	       uint32_t action, uint32_t start, uint32_t count, unsigned int nfds)
{
	struct prov_irq_req r = { .type = type, .action = action, .start = start,
				  .count = count };

	return reqp(p, c, PROV_OP_IRQ_SET, fn, &r, sizeof(r), fds16, nfds);
}

static int dma_mem(struct dp_prov_conn *c, uint64_t size, uint64_t base, unsigned int nfds)
{
	struct prov_dma_memory_req r = { .size = size, .base = base };
	static const int fds[2] = { 50, 51 };

	return reqp(&P, c, PROV_OP_DMA_MEMORY, 0, &r, sizeof(r), fds, nfds);
}

static uint32_t batch_done;
static uint8_t batchbuf[8 + PROV_MAX_BATCH * sizeof(struct pvdma_req) + 64];

/* A DMA batch: entries go in, come back with their statuses. */
static int dma(struct dp_prov_conn *c, struct pvdma_req *e, unsigned int n)
{
	struct prov_dma_batch b = { .count = n };
	int st;

	memcpy(batchbuf, &b, sizeof(b));
	memcpy(batchbuf + sizeof(b), e, n * sizeof(*e));
	st = req(c, PROV_OP_DMA, 0, batchbuf, sizeof(b) + n * sizeof(*e));
	batch_done = 0;
	if (!st) {
		memcpy(&b, rbody(), sizeof(b));
		batch_done = b.done;
		memcpy(e, (const uint8_t *)rbody() + sizeof(b), n * sizeof(*e));
	}
	return st;
}

static uint32_t last_mapped;

/* One MAP; returns the entry's status, or 100 + the batch's when it was refused whole. */
static int map1(struct dp_prov_conn *c, uint64_t gpa, uint32_t len, unsigned int flags,
		uint64_t *iova)
{
	struct pvdma_req e = { .op = PVDMA_OP_MAP, .flags = flags, .len = len, .gpa = gpa };
	int st = dma(c, &e, 1);

	if (st)
		return 100 + st;
	if (iova)
		*iova = e.iova;
	last_mapped = e.mapped;
	return e.status;
}

static int unmap1(struct dp_prov_conn *c, uint64_t iova, uint32_t len)
{
	struct pvdma_req e = { .op = PVDMA_OP_UNMAP, .len = len, .iova = iova };
	int st = dma(c, &e, 1);

	return st ? 100 + st : e.status;
}

/* ---- Model against fake ---- */

/* The fake's ranges for c equal the model's mappings, field by field. */
static bool agree(const struct fake *f, const struct dp_prov_conn *c)
{
	static const struct fake_range *mine[MAXR];
	const struct dp_tree_node *n;
	unsigned int i, j, k = 0;

	for (i = 0; i < f->nr; i++) {
		if (f->r[i].c != c)
			continue;
		for (j = k++; j && mine[j - 1]->iova > f->r[i].iova; j--)
			mine[j] = mine[j - 1];
		mine[j] = &f->r[i];
	}
	if (k != c->dart.mappings.count || k != c->dart.stats.live_mappings)
		return false;
	for (i = 0, n = dp_tree_first(&c->dart.mappings); n;
	     i++, n = dp_tree_next(&c->dart.mappings, n)) {
		const struct dp_dart_mapping *m = dp_tree_entry(n, struct dp_dart_mapping, by_iova);

		if (mine[i]->iova != m->iova || mine[i]->off != m->pa ||
		    mine[i]->size != m->size || mine[i]->perm != m->perm)
			return false;
	}
	return true;
}

static unsigned int fake_ranges(const struct fake *f, const struct dp_prov_conn *c)
{
	unsigned int i, n = 0;

	for (i = 0; i < f->nr; i++)
		n += f->r[i].c == c;
	return n;
}

static struct dp_prov_config linux_cfg(void)
{
	return (struct dp_prov_config){
		.dart = { .aperture_base = 1ull << 32, .aperture_size = 1ull << 32,
			  .granule_shift = 14, .max_mappings = 65536, .max_bytes = 3ull << 29 },
		.max_batch = PROV_MAX_BATCH,
		.features = PROV_F_IRQ_EVENTFD | PROV_F_REGION_FD | PROV_F_DMA_FD,
	};
}

/* A fresh fake and provider listing fn0..fn3; returns how many listed. */
static unsigned int setup(const struct dp_prov_config *cfg)
{
	unsigned int i, fn, n = 0;

	fake_init(&F);
	if (dp_prov_init(&P, cfg, &linux_ops, &F))
		return 0;
	for (i = 0; i < 4; i++)
		n += dp_prov_add_function(&P, PVDMA_RID(0, 3, i), &fn) == PROV_S_OK && fn == i;
	return n;
}

static int open_conn(struct dp_prov_conn *c, struct fake_conn *fc)
{
	memset(fc, 0, sizeof(*fc));
	if (dp_prov_conn_open(&P, c, fc))
		return -1;
	return hello(c, PROV_VERSION(1, 0), PROV_F_ALL);
}

/* ---- Tests ---- */

static void test_init(void)
{
	struct dp_prov_config cfg = linux_cfg(), bad;
	struct dp_prov_os_ops ops = linux_ops;
	unsigned int fn = 99;
	int i, named = 1;

	fake_init(&F);
	bad = cfg;
	bad.max_batch = 0;
	DP_CHECK(dp_prov_init(&P, &bad, &linux_ops, &F) == PROV_S_INVALID, "init: max_batch 0");
	bad.max_batch = PROV_MAX_BATCH + 1;
	DP_CHECK(dp_prov_init(&P, &bad, &linux_ops, &F) == PROV_S_INVALID,
		 "init: max_batch over PROV_MAX_BATCH");
	bad = cfg;
	bad.features |= 1u << 7;
	DP_CHECK(dp_prov_init(&P, &bad, &linux_ops, &F) == PROV_S_INVALID,
		 "init: unknown feature");
	bad = cfg;
	bad.dart.granule_shift = 11;
	DP_CHECK(dp_prov_init(&P, &bad, &linux_ops, &F) == PROV_S_INVALID,
		 "init: a granule the model refuses");
	ops.dma_map = NULL;
	DP_CHECK(dp_prov_init(&P, &cfg, &ops, &F) == PROV_S_INVALID, "init: a missing callback");
	DP_CHECK(dp_prov_init(&P, &cfg, &linux_ops, &F) == PROV_S_OK, "init");

	DP_CHECK(dp_prov_add_function(&P, PVDMA_RID(0, 3, 0), &fn) == PROV_S_OK && fn == 0,
		 "add_function: the first handle is 0");
	DP_CHECK(dp_prov_add_function(&P, PVDMA_RID(0, 3, 0), &fn) == PROV_S_INVALID &&
		 P.nr_fns == 1, "add_function: the same function twice is refused");
	DP_CHECK(dp_prov_add_function(&P, PVDMA_RID(0, 3, 1), &fn) == PROV_S_OK && fn == 1 &&
		 P.fns[1].desc.vendor == 0x10de && P.fns[1].desc.device == 0x1aef &&
		 P.fns[1].desc.class_rev == 0x040300a1, "add_function: identity read");
	P.nr_fns = 4;
	DP_CHECK(dp_prov_add_function(&P, PVDMA_RID(0, 3, 4), &fn) == PROV_S_NO_FUNCTION &&
		 P.nr_fns == 4, "add_function: nothing answering is refused");
	P.nr_fns = PROV_MAX_FUNCTIONS;
	DP_CHECK(dp_prov_add_function(&P, PVDMA_RID(0, 9, 0), &fn) == PROV_S_INVALID,
		 "add_function: full list");

	for (i = 0; i < PROV_S_COUNT; i++) {
		int j;

		named &= strcmp(dp_prov_status_name(i), "UNKNOWN") != 0;
		for (j = 0; j < i; j++)
			named &= strcmp(dp_prov_status_name(i), dp_prov_status_name(j)) != 0;
	}
	DP_CHECK(named, "every status has its own name");
	DP_CHECK(!strcmp(dp_prov_status_name(PROV_S_BUSY), "BUSY") &&
		 !strcmp(dp_prov_status_name(PROV_S_NOT_FOUND), "NOT_FOUND") &&
		 !strcmp(dp_prov_status_name(PROV_S_OK), "OK"), "status names");
	DP_CHECK(!strcmp(dp_prov_status_name(PROV_S_COUNT), "UNKNOWN") &&
		 !strcmp(dp_prov_status_name(-1), "UNKNOWN"), "out-of-range status");
}

static size_t body_size(int op)
{
	switch (op) {
	case PROV_OP_HELLO: return sizeof(struct prov_hello_req);
	case PROV_OP_CONFIG_READ: case PROV_OP_CONFIG_WRITE: return sizeof(struct prov_config_req);
	case PROV_OP_REGION_MAP: return sizeof(struct prov_region_map_req);
	case PROV_OP_REGION_READ: case PROV_OP_REGION_WRITE: return sizeof(struct prov_region_req);
	case PROV_OP_IRQ_SET: case PROV_OP_IRQ_PENDING: return sizeof(struct prov_irq_req);
	case PROV_OP_DMA_MEMORY: return sizeof(struct prov_dma_memory_req);
	case PROV_OP_DMA: return sizeof(struct prov_dma_batch);
	default: return 0;
	}
}

static void test_hello(void)
{
	struct dp_prov_conn a, b;
	struct fake_conn fa, fb;
	struct prov_hello_req hr = { .version = PROV_VERSION(1, 0) };
	static const uint8_t zero[64];
	uint64_t bad;
	int op, ok = 1, i;

	DP_CHECK(setup(&(struct dp_prov_config){ 0 }) == 0, "setup refuses an empty config");
	{
		struct dp_prov_config cfg = linux_cfg();

		DP_CHECK(setup(&cfg) == 4, "setup lists four functions");
	}
	DP_CHECK(dp_prov_conn_open(&P, &a, &fa) == PROV_S_OK && P.clients == 1, "open");
	bad = P.bad_requests;
	for (op = PROV_OP_CLAIM; op < PROV_OP_COUNT; op++)
		ok &= req(&a, op, 0, zero, body_size(op) + (op == PROV_OP_DMA ? 32 : 0)) ==
		      PROV_S_NOT_READY;
	DP_CHECK(ok, "every op before HELLO is NOT_READY");
	DP_CHECK(P.bad_requests == bad + PROV_OP_COUNT - 2, "and each is counted");
	DP_CHECK(hello(&a, PROV_VERSION(2, 0), PROV_F_ALL) == PROV_S_VERSION,
		 "HELLO: another major version");
	{
		struct prov_hello_rep v;
		const struct prov_limits *l = &v.limits;

		memcpy(&v, rbody(), sizeof(v));
		DP_CHECK(rep_len == sizeof(struct prov_hdr) + sizeof(v) &&
			 v.version == PROV_VERSION(PROV_VERSION_MAJOR, PROV_VERSION_MINOR),
			 "VERSION carries the provider's version");
		DP_CHECK(!v.features && !v.nr_functions && !v.reserved && !l->aperture_base &&
			 !l->aperture_size && !l->max_bytes && !l->max_mappings &&
			 !l->granule_shift && !l->max_batch && !l->reserved && !a.hello &&
			 !a.features, "VERSION: no functions, features or limits; nothing agreed");
	}
	DP_CHECK(hello(&a, PROV_VERSION(0, 9), PROV_F_ALL) == PROV_S_VERSION,
		 "HELLO: an older major version");
	DP_CHECK(claim(&a, 0) == PROV_S_NOT_READY, "still not ready after VERSION");
	hr.reserved = 1;
	DP_CHECK(req(&a, PROV_OP_HELLO, 0, &hr, sizeof(hr)) == PROV_S_INVALID,
		 "HELLO: reserved field set");
	hr.reserved = 0;
	DP_CHECK(req(&a, PROV_OP_HELLO, 1, &hr, sizeof(hr)) == PROV_S_INVALID,
		 "HELLO: fn set");
	DP_CHECK(req(&a, PROV_OP_HELLO, 0, &hr, sizeof(hr) - 1) == PROV_S_INVALID,
		 "HELLO: short body");
	DP_CHECK(reqp(&P, &a, PROV_OP_HELLO, 0, &hr, sizeof(hr), fds16, 1) == PROV_S_BAD_FD,
		 "HELLO: with a descriptor");
	DP_CHECK(hello(&a, PROV_VERSION(1, 7), PROV_F_ALL | 1u << 20) == PROV_S_OK,
		 "HELLO: a newer minor version is fine");
	DP_CHECK(rep_len == sizeof(struct prov_hdr) + sizeof(struct prov_hello_rep) +
		 4 * sizeof(struct prov_function),
		 "HELLO reply length");
	DP_CHECK(hello_rep.version == PROV_VERSION(1, 0), "HELLO: the provider's version");
	DP_CHECK(hello_rep.features == (PROV_F_IRQ_EVENTFD | PROV_F_REGION_FD | PROV_F_DMA_FD) &&
		 a.features == hello_rep.features, "HELLO: features offered & requested");
	DP_CHECK(hello_rep.nr_functions == 4 && !hello_rep.reserved, "HELLO: four functions");
	DP_CHECK(hello_rep.limits.aperture_base == 1ull << 32 &&
		 hello_rep.limits.aperture_size == 1ull << 32 &&
		 hello_rep.limits.max_bytes == 3ull << 29 &&
		 hello_rep.limits.max_mappings == 65536 && hello_rep.limits.granule_shift == 14 &&
		 hello_rep.limits.max_batch == PROV_MAX_BATCH && !hello_rep.limits.reserved,
		 "HELLO: limits from the configuration");
	for (i = 0, ok = 1; i < 4; i++) {
		struct prov_function f = hello_fn(i);

		ok &= f.rid == PVDMA_RID(0, 3, (unsigned int)i) && f.vendor == fake_cfg(&F, i, 0, 2) &&
		      f.device == fake_cfg(&F, i, 2, 2) && f.class_rev == fake_cfg(&F, i, 8, 4) &&
		      f.flags == 0;
	}
	DP_CHECK(ok, "HELLO: each function's identity, none claimed");
	DP_CHECK(hello(&a, PROV_VERSION(1, 0), PROV_F_ALL) == PROV_S_INVALID, "a second HELLO");
	DP_CHECK(a.features == hello_rep.features, "the second HELLO changed nothing");

	DP_CHECK(dp_prov_conn_open(&P, &b, &fb) == PROV_S_OK && P.clients == 2, "open another");
	DP_CHECK(hello(&b, PROV_VERSION(1, 0), PROV_F_IRQ_EVENTFD | PROV_F_IRQ_PENDING) ==
		 PROV_S_OK && hello_rep.features == PROV_F_IRQ_EVENTFD,
		 "HELLO: only what both sides have");
	DP_CHECK(dma_mem(&b, G, 0, 1) == PROV_S_BAD_FD,
		 "without DMA_FD agreed, DMA_MEMORY takes no descriptor");
	DP_CHECK(dma_mem(&b, G, 0x10000, 0) == PROV_S_OK && fb.mem_fd == -1 &&
		 fb.mem_base == 0x10000, "... and passes its base and fd -1");
	dp_prov_conn_close(&a);
	dp_prov_conn_close(&b);
	DP_CHECK(F.gone == 2 && fa.gone && fb.gone && !F.violations, "both gone");
}

static void test_claims(void)
{
	struct dp_prov_config cfg = linux_cfg();
	struct dp_prov_conn a, b, c, d;
	struct fake_conn fa, fb, fc, fd;
	int resets;

	setup(&cfg);
	open_conn(&a, &fa);
	open_conn(&b, &fb);
	DP_CHECK(claim(&a, 0) == PROV_S_OK && F.holder[0] == &a && P.fns[0].owner == &a,
		 "A claims fn0");
	DP_CHECK(claim_rep.id.vendor == 0x10de && claim_rep.id.device == 0x2204 &&
		 claim_rep.id.subsystem_vendor == 0x1458 &&
		 claim_rep.id.subsystem_device == 0x403b &&
		 claim_rep.id.class_rev == 0x030000a1 && claim_rep.id.header_type == 0,
		 "CLAIM: identity (a multi-function endpoint reads as header type 0)");
	DP_CHECK(claim_rep.regions[0].size == 16 << 20 && claim_rep.regions[2].size == 64 << 10 &&
		 claim_rep.regions[4].flags == (RW | PROV_REGION_IO) &&
		 claim_rep.regions[PROV_REGION_CONFIG].size == 4096 &&
		 claim_rep.irqs[PROV_IRQ_MSI].count == 8 && claim_rep.irqs[PROV_IRQ_MSIX].count == 16,
		 "CLAIM: regions and interrupts from the OS layer");
	DP_CHECK(claim_rep.regions[2].hole_offset == 0x3000 &&
		 claim_rep.regions[2].hole_size == 0x3000,
		 "MSI-X hole: table and PBA pages, one span in BAR2");
	DP_CHECK(!claim_rep.regions[0].hole_size && !claim_rep.regions[4].hole_size &&
		 !claim_rep.regions[0].hole_offset, "no hole in the other BARs");
	DP_CHECK(P.fns[0].caps.msi == GPU_MSI && P.fns[0].caps.msix == GPU_MSIX &&
		 P.fns[0].caps.pcie == GPU_PCIE && P.fns[0].caps.pm == 0x40 &&
		 P.fns[0].caps.ats == GPU_ATS && P.fns[0].caps.sriov == GPU_SRIOV &&
		 P.fns[0].caps.pri == GPU_PRI && P.fns[0].caps.pasid == GPU_PASID &&
		 P.fns[0].caps.rebar == GPU_REBAR && P.fns[0].caps.acs == GPU_ACS &&
		 P.fns[0].caps.rebar_bars == 2 && P.fns[0].caps.msi_ctl == 0x0186,
		 "CLAIM finds every capability");
	DP_CHECK(claim(&a, 0) == PROV_S_INVALID && F.claims[0] == 1, "claiming it again");
	DP_CHECK(claim(&b, 0) == PROV_S_BUSY && F.claims[0] == 1 && P.fns[0].owner == &a,
		 "another connection: BUSY");
	open_conn(&c, &fc);
	DP_CHECK(hello_fn(0).flags == PROV_FN_CLAIMED && hello_fn(1).flags == 0,
		 "HELLO shows fn0 claimed");
	resets = F.resets[0];
	DP_CHECK(cfg_rd(&b, 0, 0, 4) == PROV_S_NOT_CLAIMED, "config read of another's function");
	DP_CHECK(release(&b, 0) == PROV_S_NOT_CLAIMED && P.fns[0].owner == &a,
		 "release of another's function");
	DP_CHECK(reg_rd(&b, 0, 0, 0, 4) == PROV_S_NOT_CLAIMED, "region read of another's");
	DP_CHECK(req(&b, PROV_OP_RESET, 0, NULL, 0) == PROV_S_NOT_CLAIMED &&
		 F.resets[0] == resets, "reset of another's");
	DP_CHECK(claim(&b, 4) == PROV_S_NO_FUNCTION, "claim of fn4 (not listed)");
	DP_CHECK(claim(&b, 0xffffffff) == PROV_S_NO_FUNCTION, "claim of fn 0xffffffff");
	DP_CHECK(release(&b, 7) == PROV_S_NO_FUNCTION, "release of no function");
	DP_CHECK(req(&b, PROV_OP_CLAIM, 1, "x", 1) == PROV_S_INVALID, "CLAIM with a body");
	DP_CHECK(claim(&b, 2) == PROV_S_DENIED && !F.claims[2] && !P.fns[2].owner,
		 "a bridge (header type 1) is DENIED");

	DP_CHECK(claim(&a, 1) == PROV_S_OK && F.holder[1] == &a, "A claims fn1 too");
	DP_CHECK(release(&a, 1) == PROV_S_OK && F.releases[1] == 1 && !F.holder[1] &&
		 !P.fns[1].owner, "A releases fn1: the OS layer resets it");
	DP_CHECK(claim(&b, 1) == PROV_S_OK && F.holder[1] == &b, "then B can claim it");
	DP_CHECK(release(&b, 1) == PROV_S_OK, "B releases it");
	DP_CHECK(release(&b, 1) == PROV_S_NOT_CLAIMED, "releasing twice");

	dp_prov_conn_close(&a);
	DP_CHECK(!F.holder[0] && F.releases[0] == 1 && !P.fns[0].owner && fa.gone,
		 "closing A releases fn0");
	DP_CHECK(claim(&b, 0) == PROV_S_OK && F.holder[0] == &b, "after A closed, B claims fn0");

	DP_CHECK(claim(&c, 3) == PROV_S_OK, "cyclic capability lists: CLAIM terminates");
	DP_CHECK(P.fns[3].caps.pcie == 0x40 && P.fns[3].caps.msix == 0x50 &&
		 P.fns[3].caps.ats == 0x100 && !P.fns[3].caps.msi, "and finds what is there");
	DP_CHECK(claim_rep.regions[0].hole_offset == 0x2000 &&
		 claim_rep.regions[0].hole_size == 0x1000 &&
		 claim_rep.regions[4].hole_offset == 0 && claim_rep.regions[4].hole_size == 0x1000,
		 "MSI-X table and PBA in different BARs: one hole each");
	DP_CHECK(cfg_wr(&c, 3, 0x106, 2, 1) == PROV_S_DENIED, "its ATS control is protected");

	/* A shared BAR keeps nothing in the core: what outlives a claim is the OS layer's. */
	DP_CHECK(reg_map(&b, 0, 0) == PROV_S_OK && rep_fd == FD_REGION &&
		 map_rep.size == 16 << 20 && F.region_maps == 1, "REGION_MAP lends a descriptor");
	DP_CHECK(release(&b, 0) == PROV_S_OK && !F.holder[0] && !P.fns[0].owner,
		 "B releases fn0 after sharing its BAR");
	open_conn(&d, &fd);
	DP_CHECK(hello_fn(0).flags == 0, "a released function is listed free, BAR shared or not");
	F.fail_claim = PROV_S_BUSY;
	DP_CHECK(claim(&c, 0) == PROV_S_BUSY && !P.fns[0].owner && F.claims[0] == 2,
		 "the OS layer's own BUSY passes through, nothing held");
	F.fail_claim = PROV_S_IO;
	DP_CHECK(claim(&c, 0) == PROV_S_IO && !P.fns[0].owner, "an OS failure passes through");
	F.fail_claim = 0;
	F.fail_read = GPU_MSIX + 8;
	DP_CHECK(claim(&c, 0) == PROV_S_IO && !P.fns[0].owner && F.claims[0] == 2,
		 "a config read failing during CLAIM: IO, the OS layer never asked");
	F.fail_read = 0;
	dp_prov_conn_close(&b);
	DP_CHECK(claim(&c, 0) == PROV_S_OK && F.holder[0] == &c,
		 "then a connection other than the one its BAR was shared with claims fn0");
	dp_prov_conn_close(&c);
	dp_prov_conn_close(&d);
	DP_CHECK(!F.holder[0] && !F.holder[3] && !F.violations, "all released, no violations");
}

struct cfg_case {
	uint32_t off, size, val;
	const char *what;
};

static void test_filter(void)
{
	static const struct cfg_case denied[] = {
		{ 0x00, 2, 0x1234, "vendor" }, { 0x02, 2, 0, "device" },
		{ 0x08, 1, 0, "revision" }, { 0x0a, 2, 0x0300, "class" },
		{ 0x0e, 1, 0, "header type" }, { 0x10, 4, 0xffffffff, "BAR0" },
		{ 0x14, 4, 0, "BAR1" }, { 0x18, 4, 0, "BAR2" }, { 0x1c, 4, 0, "BAR3" },
		{ 0x20, 4, 0, "BAR4" }, { 0x24, 4, 0, "BAR5" }, { 0x27, 1, 0, "BAR5 last byte" },
		{ 0x30, 4, 0xfffff800, "ROM BAR" }, { 0x33, 1, 0, "ROM BAR last byte" },
		{ 0x2c, 2, 0, "subsystem vendor" },
		{ 0x2e, 2, 0, "subsystem" }, { 0x34, 1, 0x50, "capability pointer" },
		{ 0x3d, 1, 0, "interrupt pin" },
		/* fn0 has an I/O BAR: its writes keep I/O and memory decode on (0x0003). */
		{ 0x04, 2, 0x000b, "command: special cycles" },
		{ 0x04, 2, 0x0013, "command: memory write and invalidate" },
		{ 0x04, 2, 0x0203, "command: fast back-to-back" },
		{ 0x05, 1, 0x02, "command high byte: fast back-to-back" },
		{ 0x04, 2, 0x0545, "command: memory decode off" },
		{ 0x04, 1, 0x06, "command: I/O decode off with an I/O BAR" },
		{ 0x04, 1, 0x00, "command: both decodes off" },
		{ 0x04, 4, 0xf9000005, "command + status, memory decode off" },
		{ 0x44, 2, 0x0003, "PM: D3hot" }, { 0x44, 1, 0x01, "PM: D1" },
		{ 0x44, 1, 0x02, "PM: D2" }, { 0x44, 4, 0x00008103, "PM CSR + data: D3hot" },
		{ GPU_MSI + 2, 2, 0x0001, "MSI enable" }, { GPU_MSI + 2, 2, 0x0070, "MSI MME" },
		{ GPU_MSI + 2, 2, 0, "MSI control, even unchanged" },
		{ GPU_MSI + 4, 4, 0xfee00000, "MSI address" },
		{ GPU_MSI + 8, 4, 0, "MSI upper address" }, { GPU_MSI + 12, 2, 0x4021, "MSI data" },
		{ GPU_MSI + 14, 2, 0, "MSI extended data" },
		{ GPU_MSIX + 2, 2, 0x8000, "MSI-X enable" },
		{ GPU_MSIX + 3, 1, 0x40, "MSI-X function mask" },
		{ GPU_PCIE + 8, 2, 0x8000, "PCIe initiate FLR" },
		{ GPU_PCIE + 9, 1, 0x80, "PCIe initiate FLR, high byte" },
		{ GPU_PCIE + 0x10, 2, 0x0010, "PCIe link disable" },
		{ GPU_PCIE + 0x10, 1, 0x20, "PCIe link retrain" },
		{ GPU_ATS + 6, 2, 0x8000, "ATS control" }, { GPU_SRIOV + 8, 2, 1, "SR-IOV control" },
		{ GPU_SRIOV + 0x10, 2, 4, "SR-IOV NumVFs" }, { GPU_PRI + 4, 2, 1, "PRI control" },
		{ GPU_PASID + 6, 2, 1, "PASID control" },
		{ GPU_REBAR + 8, 4, 0x100, "resizable BAR 0 control" },
		{ GPU_REBAR + 16, 4, 0, "resizable BAR 2 control" },
		{ GPU_ACS + 6, 2, 0x1f, "ACS control" },
		/* Straddling a protected field: refused whole. */
		{ 0x0c, 4, 0, "cache line..BIST covers header type" },
		{ 0x3c, 2, 0x010a, "interrupt line + pin" },
		{ GPU_MSI, 4, 0x01867005, "MSI header + control" },
		{ 0x04, 4, 0xf900000b, "command (bad bit) + status" },
		{ 0x04, 4, 0x00000203 | 0xf9000000, "status + a bad command bit" },
		{ GPU_ATS + 4, 4, 0x00200000, "ATS capability + control" },
		{ GPU_PCIE + 0x10, 4, 0x00000010, "link control + status" },
		{ GPU_PCIE + 8, 4, 0x00008000, "device control + status" },
	};
	static const struct cfg_case allowed[] = {
		{ 0x04, 2, 0x0547, "command: every allowed bit" },
		{ 0x04, 1, 0x07, "command: I/O, memory, bus master" },
		{ 0x05, 1, 0x04, "command high byte: INTx disable" },
		{ 0x06, 2, 0xf900, "status (RW1C)" }, { 0x0c, 1, 0x10, "cache line" },
		{ 0x0d, 1, 0x40, "latency" }, { 0x0f, 1, 0, "BIST" },
		{ 0x0c, 2, 0x4010, "cache line + latency" }, { 0x3c, 1, 0x0b, "interrupt line" },
		{ 0x04, 4, 0x00100007, "command + status" }, { 0x38, 4, 0, "reserved 0x38" },
		{ 0x44, 2, 0x8100, "PM: PME status and enable, staying in D0" },
		{ 0x45, 1, 0x81, "PM CSR high byte" },
		{ GPU_MSI + 16, 4, 0xff, "MSI mask bits" },
		{ GPU_MSI + 20, 4, 0, "MSI pending bits" }, { 0xc4, 4, 0xdeadbeef, "vendor-specific" },
		{ GPU_PCIE + 8, 2, 0x2810, "PCIe device control without FLR" },
		{ GPU_PCIE + 0x0a, 2, 0x000f, "PCIe device status" },
		{ GPU_PCIE + 0x10, 2, 0x0043, "PCIe link control: other bits" },
		{ GPU_PCIE + 0x28, 2, 0x0400, "PCIe device control 2" },
		{ 0xd8, 2, 0x8000, "a second PCIe capability's device control" },
		{ GPU_PRI + 6, 2, 0x3, "PRI status" }, { GPU_PRI + 0x0c, 4, 0x20, "PRI allocation" },
		{ GPU_SRIOV + 0x0a, 2, 1, "SR-IOV status" },
		{ GPU_REBAR + 4, 4, 0x10, "resizable BAR capability" },
		{ GPU_REBAR + 24, 4, 1, "past the two resizable BARs" },
		{ GPU_ACS + 4, 2, 0, "ACS capability" }, { 0x1e8, 4, 0x12345678, "vendor-specific ext" },
		{ 0xffc, 4, 0x1, "last dword" },
	};
	struct dp_prov_config cfg = linux_cfg();
	struct dp_prov_conn a;
	struct fake_conn fa;
	unsigned int i;
	int writes, rw;

	setup(&cfg);
	open_conn(&a, &fa);
	claim(&a, 0);
	claim(&a, 1);
	for (i = 0; i < sizeof(denied) / sizeof(denied[0]); i++) {
		const struct cfg_case *k = &denied[i];
		uint32_t before = fake_cfg(&F, 0, k->off & ~3u, 4);

		writes = F.cfg_writes;
		DP_CHECK(cfg_wr(&a, 0, k->off, k->size, k->val) == PROV_S_DENIED &&
			 F.cfg_writes == writes && fake_cfg(&F, 0, k->off & ~3u, 4) == before,
			 "filter denies %s (0x%x/%u)", k->what, k->off, k->size);
	}
	for (i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
		const struct cfg_case *k = &allowed[i];

		writes = F.cfg_writes;
		DP_CHECK(cfg_wr(&a, 0, k->off, k->size, k->val) == PROV_S_OK &&
			 F.cfg_writes == writes + 1 && F.w_fn == 0 && F.w_off == k->off &&
			 F.w_size == k->size && F.w_val == k->val &&
			 fake_cfg(&F, 0, k->off, k->size) == k->val,
			 "filter passes %s (0x%x/%u)", k->what, k->off, k->size);
	}
	/* The MSI layout follows the function: 32-bit here, so +12 is the mask. */
	writes = F.cfg_writes;
	DP_CHECK(cfg_wr(&a, 1, AUD_MSI + 12, 4, 1) == PROV_S_OK && F.cfg_writes == writes + 1 &&
		 F.w_fn == 1, "32-bit MSI: mask bits at +12 pass");
	DP_CHECK(cfg_wr(&a, 1, AUD_MSI + 8, 2, 0x4021) == PROV_S_DENIED, "32-bit MSI: data at +8");
	DP_CHECK(cfg_wr(&a, 1, AUD_MSI + 4, 4, 0xfee00000) == PROV_S_DENIED,
		 "32-bit MSI: address at +4");
	DP_CHECK(cfg_wr(&a, 0, GPU_MSI + 12, 4, 1) == PROV_S_DENIED, "64-bit MSI: +12 is data");
	DP_CHECK(cfg_wr(&a, 1, 0x106, 2, 1) == PROV_S_OK,
		 "no extended caps on fn1: 0x106 is not ATS there");
	/* Decode and power follow the function: fn1 has memory BARs only, PM at 0x60. */
	DP_CHECK(cfg_wr(&a, 1, 0x04, 2, 0x0006) == PROV_S_OK && F.w_fn == 1 && F.w_val == 6,
		 "no I/O BAR: I/O decode may stay off");
	DP_CHECK(cfg_wr(&a, 1, 0x04, 2, 0x0005) == PROV_S_DENIED &&
		 fake_cfg(&F, 1, 0x04, 2) == 0x0006, "memory decode off is refused on fn1 too");
	DP_CHECK(cfg_wr(&a, 1, 0x64, 2, 0x0003) == PROV_S_DENIED, "fn1's PM: D3hot refused");
	DP_CHECK(cfg_wr(&a, 1, 0x44, 2, 0x0003) == PROV_S_OK,
		 "0x44 is not PM on fn1: its PM rule follows its capability");
	DP_CHECK(cfg_wr(&a, 1, 0x64, 2, 0x0100) == PROV_S_OK, "fn1's PM: PME enable in D0");
	DP_CHECK(reg_wr(&a, 0, PROV_REGION_CONFIG, 0x04, 2, 0x0001) == PROV_S_DENIED &&
		 reg_wr(&a, 0, PROV_REGION_CONFIG, 0x44, 1, 0x03) == PROV_S_DENIED,
		 "config region: decode off and D3hot refused alike");

	DP_CHECK(cfg_rd(&a, 0, 0, 4) == PROV_S_OK && cfg_val == 0x220410de, "config read");
	DP_CHECK(cfg_rd(&a, 0, 0x10, 4) == PROV_S_OK, "reads of protected fields are allowed");
	DP_CHECK(cfg_rd(&a, 0, 0x0e, 1) == PROV_S_OK && cfg_val == 0x80, "byte read");
	DP_CHECK(cfg_rd(&a, 0, 0xffc, 4) == PROV_S_OK, "last dword read");
	DP_CHECK(cfg_rd(&a, 0, 0, 3) == PROV_S_INVALID, "config size 3");
	DP_CHECK(cfg_rd(&a, 0, 0, 0) == PROV_S_INVALID, "config size 0");
	DP_CHECK(cfg_rd(&a, 0, 0, 8) == PROV_S_INVALID, "config size 8");
	DP_CHECK(cfg_rd(&a, 0, 0x05, 2) == PROV_S_INVALID, "misaligned config read");
	DP_CHECK(cfg_rd(&a, 0, 0x1000, 1) == PROV_S_INVALID, "config read past 4 KiB");
	DP_CHECK(cfg_rd(&a, 0, 0xfffffffc, 4) == PROV_S_INVALID, "config read far past 4 KiB");
	writes = F.cfg_writes;
	DP_CHECK(cfg_wr(&a, 0, 0x3e, 4, 0) == PROV_S_INVALID, "misaligned config write");
	DP_CHECK(cfg_wr(&a, 0, 0x0c, 1, 0x100) == PROV_S_INVALID, "a value wider than its size");
	DP_CHECK(F.cfg_writes == writes, "malformed writes never reach the OS layer");
	{
		struct prov_config_req r = { .offset = 0, .size = 4, .value = 1 };

		DP_CHECK(req(&a, PROV_OP_CONFIG_READ, 0, &r, sizeof(r)) == PROV_S_INVALID,
			 "config read with a value");
		r = (struct prov_config_req){ .offset = 0x0c, .size = 1, .reserved = 1 };
		DP_CHECK(req(&a, PROV_OP_CONFIG_WRITE, 0, &r, sizeof(r)) == PROV_S_INVALID,
			 "config write with reserved set");
	}

	/* Config space as a region goes through the same filter. */
	writes = F.cfg_writes;
	rw = F.region_writes;
	DP_CHECK(reg_wr(&a, 0, PROV_REGION_CONFIG, 0x10, 4, 0xffffffff) == PROV_S_DENIED &&
		 F.cfg_writes == writes && F.region_writes == rw, "config region: BAR write denied");
	DP_CHECK(reg_wr(&a, 0, PROV_REGION_CONFIG, GPU_PCIE + 8, 2, 0x8000) == PROV_S_DENIED,
		 "config region: FLR denied");
	DP_CHECK(reg_wr(&a, 0, PROV_REGION_CONFIG, 0x0c, 1, 0x20) == PROV_S_OK &&
		 F.cfg_writes == writes + 1 && F.w_off == 0x0c && F.w_val == 0x20 &&
		 F.region_writes == rw, "config region: allowed write reaches config_write");
	DP_CHECK(reg_rd(&a, 0, PROV_REGION_CONFIG, 0, 4) == PROV_S_OK && reg_val == 0x220410de,
		 "config region read");
	DP_CHECK(reg_rd(&a, 0, PROV_REGION_CONFIG, 0, 8) == PROV_S_INVALID,
		 "config region: 8 bytes");
	dp_prov_conn_close(&a);
	DP_CHECK(!F.violations, "filter: no violations");
}

static void test_regions(void)
{
	struct dp_prov_config cfg = linux_cfg();
	struct dp_prov_conn a;
	struct fake_conn fa;
	int reads, writes, maps;

	setup(&cfg);
	/* An OS layer that flagged config space mappable still has it refused. */
	F.regs[0][PROV_REGION_CONFIG].flags |= PROV_REGION_MMAP;
	/* fn1 as a conventional function: 256 bytes of config space. */
	F.regs[1][PROV_REGION_CONFIG].size = 256;
	open_conn(&a, &fa);
	claim(&a, 0);
	reads = F.region_reads;
	DP_CHECK(reg_rd(&a, 0, 0, 0x100, 4) == PROV_S_OK && reg_val == pattern(0, 0x100, 4) &&
		 F.region_reads == reads + 1, "BAR0 read");
	DP_CHECK(reg_rd(&a, 0, 0, (16 << 20) - 8, 8) == PROV_S_OK &&
		 reg_val == pattern(0, (16 << 20) - 8, 8), "BAR0's last qword");
	DP_CHECK(reg_rd(&a, 0, 0, (16 << 20) - 1, 1) == PROV_S_OK, "BAR0's last byte");
	reads = F.region_reads;
	DP_CHECK(reg_rd(&a, 0, 0, 16 << 20, 1) == PROV_S_INVALID, "one past BAR0");
	DP_CHECK(reg_rd(&a, 0, 0, (16 << 20) - 4, 8) == PROV_S_INVALID, "misaligned qword");
	DP_CHECK(reg_rd(&a, 0, 0, 2, 4) == PROV_S_INVALID, "misaligned dword");
	DP_CHECK(reg_rd(&a, 0, 0, 0, 3) == PROV_S_INVALID, "size 3");
	DP_CHECK(reg_rd(&a, 0, 0, 0, 16) == PROV_S_INVALID, "size 16");
	DP_CHECK(reg_rd(&a, 0, 0, 0, 0) == PROV_S_INVALID, "size 0");
	DP_CHECK(reg_rd(&a, 0, 0, 0xfffffffffffffff8ull, 8) == PROV_S_INVALID, "wrapping offset");
	DP_CHECK(reg_rd(&a, 0, 8, 0, 4) == PROV_S_INVALID, "region 8");
	DP_CHECK(reg_rd(&a, 0, 0xffffffff, 0, 4) == PROV_S_INVALID, "region 0xffffffff");
	DP_CHECK(reg_rd(&a, 0, 1, 0, 4) == PROV_S_INVALID, "BAR1 does not exist");
	DP_CHECK(reg_rd(&a, 0, 4, 0x80, 4) == PROV_S_INVALID, "past the I/O BAR");
	DP_CHECK(F.region_reads == reads, "refused reads never reach the OS layer");
	writes = F.region_writes;
	DP_CHECK(reg_wr(&a, 0, 4, 0x7c, 4, 0x12345678) == PROV_S_OK &&
		 F.region_writes == writes + 1 && F.rw_off == 0x7c && F.rw_val == 0x12345678,
		 "I/O BAR write");
	DP_CHECK(reg_wr(&a, 0, PROV_REGION_ROM, 0, 4, 0) == PROV_S_DENIED, "the ROM is read-only");
	DP_CHECK(reg_rd(&a, 0, PROV_REGION_ROM, 0, 4) == PROV_S_OK, "ROM read");
	DP_CHECK(reg_wr(&a, 0, 0, 0, 1, 0x1ff) == PROV_S_INVALID, "a value wider than its size");
	{
		struct prov_region_req r = { .region = 0, .size = 4, .offset = 0, .value = 1 };

		DP_CHECK(req(&a, PROV_OP_REGION_READ, 0, &r, sizeof(r)) == PROV_S_INVALID,
			 "region read with a value");
	}
	DP_CHECK(F.region_writes == writes + 1, "refused writes never reach the OS layer");
	DP_CHECK(reg_map(&a, 0, 2) == PROV_S_OK && rep_fd == FD_REGION + 2 &&
		 map_rep.size == 64 << 10 && F.region_maps == 1, "REGION_MAP BAR2");
	maps = F.region_maps;
	DP_CHECK(reg_map(&a, 0, 4) == PROV_S_DENIED && rep_fd == -1,
		 "REGION_MAP of an I/O BAR (no MMAP): DENIED");
	DP_CHECK(reg_map(&a, 0, PROV_REGION_ROM) == PROV_S_DENIED,
		 "REGION_MAP of the ROM: DENIED");
	DP_CHECK(reg_map(&a, 0, PROV_REGION_CONFIG) == PROV_S_DENIED,
		 "REGION_MAP of config space, even flagged MMAP: DENIED");
	DP_CHECK(reg_map(&a, 0, 1) == PROV_S_INVALID, "REGION_MAP of a missing BAR: INVALID");
	DP_CHECK(reg_map(&a, 0, 9) == PROV_S_INVALID, "REGION_MAP of region 9: INVALID");
	DP_CHECK(F.region_maps == maps, "refused REGION_MAPs never reach the OS layer");
	{
		struct prov_region_map_req r = { .region = 0, .reserved = 1 };

		DP_CHECK(req(&a, PROV_OP_REGION_MAP, 0, &r, sizeof(r)) == PROV_S_INVALID,
			 "REGION_MAP with reserved set");
		r.reserved = 0;
		DP_CHECK(reqp(&P, &a, PROV_OP_REGION_MAP, 0, &r, sizeof(r), fds16, 1) ==
			 PROV_S_BAD_FD, "REGION_MAP with a descriptor");
	}

	/* Config accesses end where the function's config space does. */
	reads = F.region_reads;
	writes = F.cfg_writes;
	DP_CHECK(claim(&a, 1) == PROV_S_OK && claim_rep.regions[PROV_REGION_CONFIG].size == 256,
		 "fn1 claimed with a 256-byte config region");
	DP_CHECK(cfg_rd(&a, 1, 0xfc, 4) == PROV_S_OK && cfg_rd(&a, 1, 0xff, 1) == PROV_S_OK,
		 "256 bytes: the last dword and byte read");
	DP_CHECK(cfg_rd(&a, 1, 0x100, 4) == PROV_S_INVALID, "256 bytes: CONFIG_READ at 256");
	DP_CHECK(cfg_rd(&a, 1, 0xffc, 4) == PROV_S_INVALID, "256 bytes: CONFIG_READ at 0xffc");
	DP_CHECK(cfg_wr(&a, 1, 0x100, 4, 0) == PROV_S_INVALID && F.cfg_writes == writes,
		 "256 bytes: CONFIG_WRITE at 256");
	DP_CHECK(reg_rd(&a, 1, PROV_REGION_CONFIG, 0x100, 1) == PROV_S_INVALID &&
		 reg_wr(&a, 1, PROV_REGION_CONFIG, 0x104, 2, 0) == PROV_S_INVALID,
		 "256 bytes: REGION_READ and REGION_WRITE of config space at 256");
	DP_CHECK(reg_rd(&a, 1, PROV_REGION_CONFIG, 0xfc, 4) == PROV_S_OK && reg_val == 0 &&
		 F.region_reads == reads && F.cfg_writes == writes,
		 "256 bytes: REGION_READ of its last dword");
	DP_CHECK(cfg_rd(&a, 0, 0xffc, 4) == PROV_S_OK &&
		 cfg_rd(&a, 0, 0x1000, 4) == PROV_S_INVALID,
		 "4096 bytes: CONFIG_READ at 0xffc, not at 4096");
	dp_prov_conn_close(&a);
	DP_CHECK(!F.violations, "regions: no violations");
}

static void test_irq(void)
{
	struct dp_prov_config cfg = linux_cfg();
	struct dp_prov_conn a, m;
	struct fake_conn fa, fm;
	struct fake mac;
	struct dp_prov pm;
	int calls;

	setup(&cfg);
	open_conn(&a, &fa);
	claim(&a, 0);
	claim(&a, 1);
	DP_CHECK(irq(&P, &a, 0, PROV_IRQ_MSIX, PROV_IRQ_EVENTFD, 0, 16, 16) == PROV_S_OK &&
		 F.irq_calls == 1 && F.irq_nfds == 16 && F.irq_fd0 == 100 &&
		 F.irq_last.type == PROV_IRQ_MSIX && F.irq_last.count == 16,
		 "EVENTFD: 16 vectors, 16 descriptors");
	DP_CHECK(irq(&P, &a, 0, PROV_IRQ_MSI, PROV_IRQ_EVENTFD, 7, 1, 1) == PROV_S_OK,
		 "EVENTFD: the last MSI vector");
	calls = F.irq_calls;
	DP_CHECK(irq(&P, &a, 0, PROV_IRQ_MSIX, PROV_IRQ_EVENTFD, 0, 4, 3) == PROV_S_BAD_FD,
		 "EVENTFD: one descriptor short");
	DP_CHECK(irq(&P, &a, 0, PROV_IRQ_MSIX, PROV_IRQ_EVENTFD, 0, 4, 5) == PROV_S_BAD_FD,
		 "EVENTFD: one descriptor too many");
	DP_CHECK(irq(&P, &a, 0, PROV_IRQ_MSIX, PROV_IRQ_EVENTFD, 0, 4, 0) == PROV_S_BAD_FD,
		 "EVENTFD: no descriptors");
	DP_CHECK(irq(&P, &a, 0, PROV_IRQ_MSIX, PROV_IRQ_EVENTFD, 0, 0, 0) == PROV_S_INVALID,
		 "EVENTFD: no vectors");
	DP_CHECK(irq(&P, &a, 0, PROV_IRQ_MSIX, PROV_IRQ_EVENTFD, 15, 2, 2) == PROV_S_INVALID,
		 "EVENTFD: one vector past the end");
	DP_CHECK(irq(&P, &a, 0, PROV_IRQ_MSIX, PROV_IRQ_EVENTFD, 16, 1, 1) == PROV_S_INVALID,
		 "EVENTFD: start past the end");
	DP_CHECK(irq(&P, &a, 0, PROV_IRQ_MSI, PROV_IRQ_EVENTFD, 0xffffffff, 2, 2) ==
		 PROV_S_INVALID, "EVENTFD: wrapping range");
	DP_CHECK(irq(&P, &a, 0, PROV_IRQ_TYPES, PROV_IRQ_EVENTFD, 0, 1, 1) == PROV_S_INVALID,
		 "type 3");
	DP_CHECK(irq(&P, &a, 0, PROV_IRQ_MSI, PROV_IRQ_ACTIONS, 0, 1, 0) == PROV_S_INVALID,
		 "action 5");
	DP_CHECK(irq(&P, &a, 0, PROV_IRQ_MSIX, PROV_IRQ_DISABLE, 1, 0, 0) == PROV_S_INVALID,
		 "DISABLE with a start");
	DP_CHECK(irq(&P, &a, 0, PROV_IRQ_MSIX, PROV_IRQ_DISABLE, 0, 16, 0) == PROV_S_INVALID,
		 "DISABLE with a count");
	DP_CHECK(irq(&P, &a, 0, PROV_IRQ_MSIX, PROV_IRQ_DISABLE, 0, 0, 1) == PROV_S_BAD_FD,
		 "DISABLE with a descriptor");
	DP_CHECK(irq(&P, &a, 1, PROV_IRQ_MSIX, PROV_IRQ_DISABLE, 0, 0, 0) == PROV_S_INVALID,
		 "DISABLE of a type the function lacks");
	DP_CHECK(irq(&P, &a, 0, PROV_IRQ_MSI, PROV_IRQ_MASK, 0, 1, 0) == PROV_S_INVALID,
		 "MASK of MSI");
	DP_CHECK(irq(&P, &a, 0, PROV_IRQ_INTX, PROV_IRQ_UNMASK, 0, 2, 0) == PROV_S_INVALID,
		 "UNMASK of two INTx vectors");
	DP_CHECK(irq(&P, &a, 0, PROV_IRQ_INTX, PROV_IRQ_MASK, 0, 1, 1) == PROV_S_BAD_FD,
		 "MASK with a descriptor");
	DP_CHECK(irq(&P, &a, 0, PROV_IRQ_MSIX, PROV_IRQ_ENABLE, 0, 1, 0) == PROV_S_UNSUPPORTED,
		 "ENABLE is macOS's");
	DP_CHECK(F.irq_calls == calls, "refused IRQ_SETs never reach the OS layer");
	DP_CHECK(irq(&P, &a, 0, PROV_IRQ_MSIX, PROV_IRQ_DISABLE, 0, 0, 0) == PROV_S_OK &&
		 F.irq_calls == calls + 1 && F.irq_nfds == 0, "DISABLE");
	DP_CHECK(irq(&P, &a, 0, PROV_IRQ_INTX, PROV_IRQ_MASK, 0, 1, 0) == PROV_S_OK &&
		 irq(&P, &a, 0, PROV_IRQ_INTX, PROV_IRQ_UNMASK, 0, 1, 0) == PROV_S_OK,
		 "MASK and UNMASK INTx");
	{
		struct prov_irq_req r = { .type = PROV_IRQ_MSIX, .start = 0, .count = 4 };

		DP_CHECK(req(&a, PROV_OP_IRQ_PENDING, 0, &r, sizeof(r)) == PROV_S_UNSUPPORTED,
			 "IRQ_PENDING without irq_pending");
	}
	DP_CHECK(req(&a, PROV_OP_RESET, 0, NULL, 0) == PROV_S_OK && F.resets[0] == 1 &&
		 P.resets == 1, "RESET");
	{
		struct prov_reset_rep rr;

		memcpy(&rr, rbody(), sizeof(rr));
		DP_CHECK(rr.method == PROV_RESET_FLR && rep_len == 16 + sizeof(rr),
			 "RESET says how");
	}
	DP_CHECK(req(&a, PROV_OP_RESET, 0, "abcd", 4) == PROV_S_INVALID && P.resets == 1,
		 "RESET with a body");
	dp_prov_conn_close(&a);

	/* macOS: no descriptors, ENABLE and IRQ_PENDING. */
	{
		struct dp_prov_config mc = linux_cfg();
		struct prov_irq_req r = { .type = PROV_IRQ_MSIX, .start = 4, .count = 8 };
		struct prov_irq_pending_rep pr;
		unsigned int fn;

		mc.features = PROV_F_IRQ_PENDING;
		fake_init(&mac);
		mac.pending = 0xabcd0;
		mac.irqs[0][PROV_IRQ_MSIX] = 128;
		DP_CHECK(dp_prov_init(&pm, &mc, &macos_ops, &mac) == PROV_S_OK &&
			 dp_prov_add_function(&pm, 1, &fn) == PROV_S_OK, "a macOS-like provider");
		memset(&fm, 0, sizeof(fm));
		dp_prov_conn_open(&pm, &m, &fm);
		{
			struct prov_hello_req h = { .version = PROV_VERSION(1, 0),
						    .features = PROV_F_ALL };

			DP_CHECK(reqp(&pm, &m, PROV_OP_HELLO, 0, &h, sizeof(h), NULL, 0) ==
				 PROV_S_OK && m.features == PROV_F_IRQ_PENDING, "macOS HELLO");
		}
		DP_CHECK(reqp(&pm, &m, PROV_OP_CLAIM, 0, NULL, 0, NULL, 0) == PROV_S_OK, "claim");
		DP_CHECK(irq(&pm, &m, 0, PROV_IRQ_MSIX, PROV_IRQ_ENABLE, 0, 16, 0) == PROV_S_OK &&
			 mac.irq_calls == 1, "ENABLE");
		DP_CHECK(irq(&pm, &m, 0, PROV_IRQ_MSIX, PROV_IRQ_ENABLE, 0, 129, 0) ==
			 PROV_S_INVALID, "ENABLE past the end");
		DP_CHECK(irq(&pm, &m, 0, PROV_IRQ_MSIX, PROV_IRQ_EVENTFD, 0, 1, 1) ==
			 PROV_S_UNSUPPORTED, "EVENTFD is Linux's");
		DP_CHECK(reqp(&pm, &m, PROV_OP_IRQ_PENDING, 0, &r, sizeof(r), NULL, 0) ==
			 PROV_S_OK, "IRQ_PENDING");
		memcpy(&pr, rbody(), sizeof(pr));
		DP_CHECK(pr.bits == ((0xabcd0ull >> 4) & 0xff), "IRQ_PENDING bits from start");
		r.count = 65;
		DP_CHECK(reqp(&pm, &m, PROV_OP_IRQ_PENDING, 0, &r, sizeof(r), NULL, 0) ==
			 PROV_S_INVALID, "IRQ_PENDING over 64 vectors");
		r.count = 64;
		DP_CHECK(reqp(&pm, &m, PROV_OP_IRQ_PENDING, 0, &r, sizeof(r), NULL, 0) ==
			 PROV_S_OK, "IRQ_PENDING of 64 vectors");
		r.start = 124;
		r.count = 5;
		DP_CHECK(reqp(&pm, &m, PROV_OP_IRQ_PENDING, 0, &r, sizeof(r), NULL, 0) ==
			 PROV_S_INVALID, "IRQ_PENDING past the last vector");
		r.start = 4;
		r.count = 1;
		r.action = 1;
		DP_CHECK(reqp(&pm, &m, PROV_OP_IRQ_PENDING, 0, &r, sizeof(r), NULL, 0) ==
			 PROV_S_INVALID, "IRQ_PENDING with an action");
		r.action = 0;
		DP_CHECK(reqp(&pm, &m, PROV_OP_IRQ_PENDING, 0, &r, sizeof(r), fds16, 1) ==
			 PROV_S_BAD_FD, "IRQ_PENDING with a descriptor");
		DP_CHECK(pm.bad_requests == 6, "the macOS provider counted its refusals");
		dp_prov_conn_close(&m);
		DP_CHECK(!mac.violations, "macOS: no violations");
	}
	DP_CHECK(!F.violations, "irq: no violations");
}

static void test_dma(void)
{
	struct dp_prov_config cfg = linux_cfg();
	struct dp_prov_conn a, b;
	struct fake_conn fa, fb;
	struct pvdma_req e[20];
	uint64_t iova[10], it, ib, peak;
	const uint64_t mem = 64 * G;
	unsigned int i;
	int ok, st, refused;

	cfg.dart.max_mappings = 8;
	cfg.dart.max_bytes = 12 * G;
	cfg.max_batch = 16;
	setup(&cfg);
	open_conn(&a, &fa);
	open_conn(&b, &fb);
	DP_CHECK(map1(&a, 0, G, PVDMA_MAP_READ, NULL) == 100 + PROV_S_NOT_READY,
		 "DMA before DMA_MEMORY: NOT_READY");
	DP_CHECK(dma_mem(&a, mem, 0, 0) == PROV_S_BAD_FD, "DMA_MEMORY without its descriptor");
	DP_CHECK(dma_mem(&a, mem, 0, 2) == PROV_S_BAD_FD, "DMA_MEMORY with two");
	DP_CHECK(dma_mem(&a, 0, 0, 1) == PROV_S_INVALID, "DMA_MEMORY of zero bytes");
	DP_CHECK(dma_mem(&a, G + 4096, 0, 1) == PROV_S_INVALID, "DMA_MEMORY not a granule multiple");
	DP_CHECK(dma_mem(&a, mem, 4096, 1) == PROV_S_INVALID, "DMA_MEMORY: a base with an fd");
	DP_CHECK(fa.mem_calls == 0, "none of those reached the OS layer");
	DP_CHECK(dma_mem(&a, mem, 0, 1) == PROV_S_OK && fa.mem_calls == 1 &&
		 fa.mem_size == mem && fa.mem_fd == 50 && a.mem_size == mem, "DMA_MEMORY");
	DP_CHECK(dma_mem(&a, mem, 0, 1) == PROV_S_INVALID && fa.mem_calls == 1,
		 "a second DMA_MEMORY");
	DP_CHECK(map1(&a, 0, G, PVDMA_MAP_READ, NULL) == 100 + PROV_S_NOT_CLAIMED,
		 "DMA without a claimed function: NOT_CLAIMED");
	claim(&a, 0);

	/* Batch layout. */
	memset(e, 0, sizeof(e));
	for (i = 0; i < 17; i++)
		e[i] = (struct pvdma_req){ .op = PVDMA_OP_MAP, .flags = 1, .len = 4096 };
	DP_CHECK(dma(&a, e, 17) == PROV_S_BAD_BATCH && !F.nr, "17 entries with max_batch 16");
	DP_CHECK(dma(&a, e, 0) == PROV_S_BAD_BATCH, "no entries");
	{
		struct prov_dma_batch bh = { .count = 2 };
		uint8_t body[8 + 3 * 32] = { 0 };

		memcpy(body, &bh, sizeof(bh));
		DP_CHECK(req(&a, PROV_OP_DMA, 0, body, 8 + 32) == PROV_S_BAD_BATCH,
			 "count 2, one entry");
		DP_CHECK(req(&a, PROV_OP_DMA, 0, body, 8 + 3 * 32) == PROV_S_BAD_BATCH,
			 "count 2, three entries");
		DP_CHECK(req(&a, PROV_OP_DMA, 0, body, 8 + 2 * 32 - 1) == PROV_S_BAD_BATCH,
			 "count 2, a byte short");
		bh.reserved = 1;
		memcpy(body, &bh, sizeof(bh));
		DP_CHECK(req(&a, PROV_OP_DMA, 0, body, 8 + 2 * 32) == PROV_S_BAD_BATCH,
			 "batch reserved set");
		bh.reserved = 0;
		bh.done = 1;
		memcpy(body, &bh, sizeof(bh));
		DP_CHECK(req(&a, PROV_OP_DMA, 0, body, 8 + 2 * 32) == PROV_S_BAD_BATCH,
			 "batch done set in a request");
		DP_CHECK(req(&a, PROV_OP_DMA, 0, body, 7) == PROV_S_INVALID, "batch header cut");
		DP_CHECK(req(&a, PROV_OP_DMA, 1, body, 8 + 2 * 32) == PROV_S_INVALID, "DMA with fn 1");
		DP_CHECK(reqp(&P, &a, PROV_OP_DMA, 0, body, 8 + 2 * 32, fds16, 1) == PROV_S_BAD_FD,
			 "DMA with a descriptor");
	}
	DP_CHECK(!F.nr && !a.dart.stats.live_mappings && !a.refused,
		 "refused batches touch nothing");

	/* One mapping. */
	DP_CHECK(map1(&a, 0x1000, 4096, PVDMA_MAP_READ, &iova[0]) == PROV_S_OK &&
		 iova[0] % G == 0x1000 && last_mapped == 4096 && batch_done == 1,
		 "MAP 4 KiB: iova keeps the offset, mapped = len");
	DP_CHECK(F.nr == 1 && F.r[0].c == &a && F.r[0].iova == iova[0] - 0x1000 &&
		 F.r[0].off == 0 && F.r[0].size == G && F.r[0].perm == PVDMA_MAP_READ,
		 "the OS layer programmed the whole page");
	DP_CHECK(agree(&F, &a) && P.total_live_mappings == 1, "model and fake agree");

	/* Entry rules. */
	refused = a.refused;
	DP_CHECK(map1(&a, 0, 4096, 0, NULL) == PROV_S_INVALID, "MAP without permission");
	DP_CHECK(map1(&a, 0, 4096, 4, NULL) == PROV_S_INVALID, "MAP with an unknown flag");
	DP_CHECK(map1(&a, 0, 0, 1, NULL) == PROV_S_INVALID, "MAP of nothing");
	e[0] = (struct pvdma_req){ .op = PVDMA_OP_MAP, .flags = 1, .len = 4096, .iova = G };
	DP_CHECK(dma(&a, e, 1) == PROV_S_OK && e[0].status == PROV_S_INVALID, "MAP with iova in");
	e[0] = (struct pvdma_req){ .op = PVDMA_OP_MAP, .flags = 1, .len = 4096, .mapped = 1 };
	DP_CHECK(dma(&a, e, 1) == PROV_S_OK && e[0].status == PROV_S_INVALID, "MAP with mapped in");
	e[0] = (struct pvdma_req){ .op = PVDMA_OP_MAP, .flags = 1, .len = 4096, .reserved = 1 };
	DP_CHECK(dma(&a, e, 1) == PROV_S_OK && e[0].status == PROV_S_INVALID, "entry reserved");
	e[0] = (struct pvdma_req){ .op = 3, .flags = 1, .len = 4096 };
	DP_CHECK(dma(&a, e, 1) == PROV_S_OK && e[0].status == PROV_S_UNSUPPORTED, "entry op 3");
	e[0] = (struct pvdma_req){ .op = PVDMA_OP_UNMAP, .len = 4096, .iova = iova[0], .gpa = 1 };
	DP_CHECK(dma(&a, e, 1) == PROV_S_OK && e[0].status == PROV_S_INVALID, "UNMAP with gpa");
	e[0] = (struct pvdma_req){ .op = PVDMA_OP_UNMAP, .len = 4096, .iova = iova[0], .flags = 1 };
	DP_CHECK(dma(&a, e, 1) == PROV_S_OK && e[0].status == PROV_S_INVALID, "UNMAP with flags");
	e[0] = (struct pvdma_req){ .op = PVDMA_OP_UNMAP, .len = 4096, .iova = iova[0],
				   .mapped = 4096 };
	DP_CHECK(dma(&a, e, 1) == PROV_S_OK && e[0].status == PROV_S_INVALID, "UNMAP with mapped");
	e[0] = (struct pvdma_req){ .op = PVDMA_OP_MAP, .flags = 1, .len = 4096, .gpa = 0,
				   .status = PVDMA_S_PENDING };
	DP_CHECK(dma(&a, e, 1) == PROV_S_OK && e[0].status == PROV_S_OK,
		 "a guest's PENDING status is no reserved field");
	DP_CHECK(unmap1(&a, e[0].iova, 4096) == PROV_S_OK, "and it unmaps");
	DP_CHECK(a.refused == (uint64_t)refused + 10 && F.nr == 1 && agree(&F, &a),
		 "each refusal counted, nothing programmed");

	/* Addresses outside the DMA memory. */
	DP_CHECK(map1(&a, mem, 1, PVDMA_MAP_READ, NULL) == PROV_S_BAD_ADDRESS,
		 "MAP at the end of the memory");
	DP_CHECK(map1(&a, mem - 4096, 8192, PVDMA_MAP_READ, NULL) == PROV_S_BAD_ADDRESS,
		 "MAP running past the end");
	DP_CHECK(map1(&a, 1ull << 40, 4096, PVDMA_MAP_READ, NULL) == PROV_S_BAD_ADDRESS,
		 "MAP far outside");
	DP_CHECK(map1(&a, ~0ull - 4095, 8192, PVDMA_MAP_READ, NULL) == PROV_S_INVALID,
		 "MAP wrapping around");
	DP_CHECK(map1(&a, ~0ull - 4095, 4096, PVDMA_MAP_READ, NULL) == PROV_S_INVALID,
		 "MAP whose gpa + len is 2^64 exactly: INVALID");
	DP_CHECK(map1(&a, ~0ull - 4096, 4096, PVDMA_MAP_READ, NULL) == PROV_S_BAD_ADDRESS,
		 "MAP ending at 2^64 - 1: BAD_ADDRESS");
	DP_CHECK(map1(&a, mem - G, G, PVDMA_MAP_WRITE, &it) == PROV_S_OK &&
		 F.nr == 2 && agree(&F, &a), "MAP of the last page");
	DP_CHECK(unmap1(&a, it, G) == PROV_S_OK && F.nr == 1 && agree(&F, &a), "UNMAP it");

	/* max_mappings = 8: the ninth is refused. */
	for (i = 1, ok = 1; i < 8; i++)
		ok &= map1(&a, i * G, 100, PVDMA_MAP_READ | PVDMA_MAP_WRITE, &iova[i]) ==
		      PROV_S_OK && agree(&F, &a);
	DP_CHECK(ok && F.nr == 8 && a.dart.stats.live_mappings == 8, "eight mappings");
	DP_CHECK(map1(&a, 9 * G, 100, PVDMA_MAP_READ, NULL) == PROV_S_NO_MAPPINGS &&
		 F.nr == 8 && agree(&F, &a), "the ninth: NO_MAPPINGS");
	DP_CHECK(unmap1(&a, iova[3], 100) == PROV_S_OK && F.nr == 7 && agree(&F, &a),
		 "unmap one");
	DP_CHECK(map1(&a, 9 * G, 100, PVDMA_MAP_READ, &iova[3]) == PROV_S_OK && F.nr == 8 &&
		 agree(&F, &a), "room for one again");
	for (i = 1, ok = 1; i < 8; i++)
		ok &= unmap1(&a, iova[i], 100) == PROV_S_OK && agree(&F, &a);
	DP_CHECK(ok && F.nr == 1, "unmap them");

	/* max_bytes = 12 pages: 1 + 3 + 8 fit exactly, one more page does not. */
	DP_CHECK(map1(&a, 8 * G, 3 * G, PVDMA_MAP_READ, &iova[1]) == PROV_S_OK &&
		 map1(&a, 16 * G + 10, 8 * G - 10, PVDMA_MAP_READ, &iova[2]) == PROV_S_OK &&
		 a.dart.stats.live_bytes == 12 * G && agree(&F, &a), "exactly max_bytes");
	DP_CHECK(map1(&a, 40 * G, 1, PVDMA_MAP_READ, NULL) == PROV_S_NO_BYTES && agree(&F, &a),
		 "one page more: NO_BYTES");
	DP_CHECK(unmap1(&a, iova[1], 3 * G) == PROV_S_OK &&
		 unmap1(&a, iova[2], 8 * G - 10) == PROV_S_OK && F.nr == 1 && agree(&F, &a),
		 "unmap them");

	/* UNMAP names a mapping exactly, as MAP returned it. */
	DP_CHECK(map1(&a, G + 0x1000, 0x2000, PVDMA_MAP_READ, &it) == PROV_S_OK &&
		 it % G == 0x1000 && agree(&F, &a), "MAP 8 KiB inside a page");
	DP_CHECK(unmap1(&a, it + G, 0x2000) == PROV_S_NOT_FOUND, "UNMAP a page off");
	DP_CHECK(unmap1(&a, it, 0x2000 + G) == PROV_S_NOT_FOUND, "UNMAP a page longer");
	DP_CHECK(unmap1(&a, it, 0) == PROV_S_INVALID, "UNMAP of nothing");
	DP_CHECK(dp_dart_lookup(&a.dart, it) && agree(&F, &a), "the mapping survives those");
	DP_CHECK(unmap1(&a, it, 0x1000) == PROV_S_NOT_FOUND, "partial UNMAP: shorter");
	if (!dp_dart_lookup(&a.dart, it))
		map1(&a, G + 0x1000, 0x2000, PVDMA_MAP_READ, &it);
	DP_CHECK(unmap1(&a, it - 0x1000, 0x3000) == PROV_S_NOT_FOUND,
		 "inexact UNMAP: same pages, another start");
	if (!dp_dart_lookup(&a.dart, it))
		map1(&a, G + 0x1000, 0x2000, PVDMA_MAP_READ, &it);
	DP_CHECK(unmap1(&a, it + 0x1000, 0x1000) == PROV_S_NOT_FOUND,
		 "partial UNMAP: the second half");
	if (!dp_dart_lookup(&a.dart, it))
		map1(&a, G + 0x1000, 0x2000, PVDMA_MAP_READ, &it);
	DP_CHECK(agree(&F, &a), "model and fake agree after inexact UNMAPs");

	/* Another connection's mapping is not found, and survives. */
	claim(&b, 1);
	dma_mem(&b, mem, 0, 1);
	DP_CHECK(map1(&b, 0, 2 * G, PVDMA_MAP_READ, &ib) == PROV_S_OK && agree(&F, &b),
		 "B maps two pages");
	DP_CHECK(unmap1(&b, iova[0], 4096) == PROV_S_NOT_FOUND, "B unmaps A's mapping: NOT_FOUND");
	DP_CHECK(unmap1(&b, it, 0x2000) == PROV_S_NOT_FOUND, "or another of A's");
	DP_CHECK(dp_dart_lookup(&a.dart, iova[0]) && dp_dart_lookup(&a.dart, it) &&
		 agree(&F, &a) && agree(&F, &b) && fake_ranges(&F, &a) == 2,
		 "A's mappings survive");
	DP_CHECK(P.total_live_mappings == 3 && F.nr == 3, "three live mappings in all");

	DP_CHECK(unmap1(&a, it, 0x2000) == PROV_S_OK && agree(&F, &a), "A unmaps exactly");
	DP_CHECK(unmap1(&a, it, 0x2000) == PROV_S_NOT_FOUND && agree(&F, &a), "stale UNMAP");

	/* The OS layer fails a map: the model forgets it. */
	peak = a.dart.stats.peak_mappings;
	{
		uint64_t maps = a.dart.stats.maps, live = a.dart.stats.live_mappings,
			 unmaps = a.dart.stats.unmaps;

		refused = a.refused;
		F.fail_map = true;
		DP_CHECK(map1(&a, 0, 4096, PVDMA_MAP_READ, NULL) == PROV_S_IO, "dma_map fails: IO");
		F.fail_map = false;
		DP_CHECK(a.dart.stats.maps == maps && a.dart.stats.live_mappings == live &&
			 a.dart.stats.peak_mappings == peak && a.dart.stats.unmaps == unmaps &&
			 a.refused == (uint64_t)refused + 1 && agree(&F, &a) &&
			 P.total_live_mappings == 2, "the model is as before, the refusal counted");
	}

	/* A batch of mixed entries: each has its own status, all are done. */
	memset(e, 0, sizeof(e));
	e[0] = (struct pvdma_req){ .op = PVDMA_OP_MAP, .flags = 1, .len = 4096, .gpa = 2 * G };
	e[1] = (struct pvdma_req){ .op = PVDMA_OP_MAP, .flags = 0, .len = 4096 };
	e[2] = (struct pvdma_req){ .op = PVDMA_OP_UNMAP, .len = 0x2000, .iova = it };
	e[3] = (struct pvdma_req){ .op = PVDMA_OP_MAP, .flags = 2, .len = 4096, .gpa = mem };
	e[4] = (struct pvdma_req){ .op = PVDMA_OP_MAP, .flags = 3, .len = G, .gpa = 5 * G };
	e[5] = (struct pvdma_req){ .op = PVDMA_OP_UNMAP, .len = 4096, .iova = iova[0] };
	st = dma(&a, e, 6);
	DP_CHECK(st == PROV_S_OK && batch_done == 6 &&
		 rep_len == 16 + 8 + 6 * sizeof(struct pvdma_req), "a mixed batch: done 6");
	DP_CHECK(e[0].status == PROV_S_OK && e[1].status == PROV_S_INVALID &&
		 e[2].status == PROV_S_NOT_FOUND && e[3].status == PROV_S_BAD_ADDRESS &&
		 e[4].status == PROV_S_OK && e[5].status == PROV_S_OK,
		 "each entry's status");
	DP_CHECK(e[0].mapped == 4096 && e[4].mapped == G && e[4].iova % G == 0 &&
		 e[1].op == PVDMA_OP_MAP && e[2].iova == it, "MAP results in place, the rest echoed");
	DP_CHECK(agree(&F, &a) && fake_ranges(&F, &a) == 2 && P.total_live_mappings == 3,
		 "model and fake agree after the batch");

	/* COUNTERS. */
	DP_CHECK(req(&a, PROV_OP_COUNTERS, 0, NULL, 0) == PROV_S_OK, "COUNTERS");
	{
		struct prov_counters k;

		memcpy(&k, rbody(), sizeof(k));
		DP_CHECK(rep_len == 16 + sizeof(k), "COUNTERS reply length");
		DP_CHECK(k.live_mappings == 2 && k.live_mappings == a.dart.stats.live_mappings &&
			 k.peak_mappings == 8 && k.live_bytes == 2 * G &&
			 k.peak_bytes == a.dart.stats.peak_bytes && k.peak_bytes == 12 * G,
			 "COUNTERS: live and peak");
		DP_CHECK(k.maps == a.dart.stats.maps && k.unmaps == a.dart.stats.unmaps &&
			 k.maps == k.unmaps + 2 && k.refused == a.refused && k.refused > 10,
			 "COUNTERS: maps, unmaps, refused");
		DP_CHECK(k.clients == 2 && k.bad_requests == P.bad_requests &&
			 k.total_live_mappings == 3 && k.resets == 0 && !k.reserved,
			 "COUNTERS: the provider's totals");
	}
	DP_CHECK(req(&a, PROV_OP_COUNTERS, 0, "x", 1) == PROV_S_INVALID, "COUNTERS with a body");

	/* Releasing the last function takes the mappings with it. */
	DP_CHECK(release(&a, 0) == PROV_S_OK && fake_ranges(&F, &a) == 0 &&
		 a.dart.stats.live_mappings == 0 && P.total_live_mappings == 1 && agree(&F, &a),
		 "RELEASE of the last function drops its mappings");
	DP_CHECK(map1(&a, 0, 4096, PVDMA_MAP_READ, NULL) == 100 + PROV_S_NOT_CLAIMED,
		 "then DMA is NOT_CLAIMED");
	claim(&a, 0);
	DP_CHECK(map1(&a, 0, 4096, PVDMA_MAP_READ, &iova[0]) == PROV_S_OK &&
		 map1(&a, G, 4096, PVDMA_MAP_READ, &iova[1]) == PROV_S_OK && agree(&F, &a),
		 "claimed again, it maps again");

	/* Close drops everything. */
	{
		int rel = F.releases[0];

		dp_prov_conn_close(&a);
		DP_CHECK(fake_ranges(&F, &a) == 0 && F.nr == 1 && P.total_live_mappings == 1,
			 "close: A's ranges gone, B's stay");
		DP_CHECK(!F.holder[0] && F.releases[0] == rel + 1 && !P.fns[0].owner && fa.gone,
			 "close: fn0 released and reset");
	}
	DP_CHECK(agree(&F, &b), "B still agrees");
	dp_prov_conn_close(&b);
	DP_CHECK(F.nr == 0 && P.total_live_mappings == 0 && !F.holder[1], "all closed: nothing left");
	DP_CHECK(!F.violations && F.maps == F.unmaps, "dma: no violations, every map unmapped");
}

/*
 * macOS: the OS's IOMMU (the DART) chooses bus addresses. The core keeps the caps
 * before asking it, records what it answered, and undoes an answer it cannot hold.
 */
static void test_os_iova(void)
{
	struct dp_prov_config cfg = linux_cfg();
	struct dp_prov_conn a;
	struct fake_conn fa;
	uint64_t iova[4], it, top = (1ull << 33);
	unsigned int fn, nr;
	int maps;

	cfg.os_iova = true;
	cfg.features = PROV_F_IRQ_PENDING;
	cfg.dart.max_mappings = 4;
	cfg.dart.max_bytes = 8 * G;
	fake_init(&F);
	F.chooses = true;
	F.next_iova = top;
	DP_CHECK(dp_prov_init(&P, &cfg, &macos_ops, &F) == PROV_S_OK &&
		 dp_prov_add_function(&P, PVDMA_RID(0, 3, 0), &fn) == PROV_S_OK,
		 "os_iova: a provider whose IOMMU chooses");
	open_conn(&a, &fa);
	claim(&a, 0);
	DP_CHECK(dma_mem(&a, 64 * G, 0x7000c0000000ull, 0) == PROV_S_OK &&
		 fa.mem_base == 0x7000c0000000ull && fa.mem_fd == -1,
		 "os_iova: DMA_MEMORY by address, no descriptor");

	DP_CHECK(map1(&a, 0x1100, 4096, PVDMA_MAP_READ, &iova[0]) == PROV_S_OK &&
		 iova[0] == top - G + 0x1100 && last_mapped == 4096 && agree(&F, &a),
		 "os_iova: the IOMMU's address, with the offset in its page");
	DP_CHECK(map1(&a, 3 * G - 8, 16, PVDMA_MAP_WRITE, &iova[1]) == PROV_S_OK &&
		 iova[1] == top - 3 * G + G - 8 && last_mapped == 16 && agree(&F, &a),
		 "os_iova: a range across two granules");
	DP_CHECK(a.dart.stats.live_bytes == 3 * G && P.total_live_mappings == 2,
		 "os_iova: live bytes are whole granules");

	/* A partial map: the guest learns mapped and maps the rest itself. */
	F.partial = true;
	DP_CHECK(map1(&a, 8 * G + 0x200, 2 * G, PVDMA_MAP_READ, &iova[2]) == PROV_S_OK &&
		 last_mapped == G - 0x200 && iova[2] == top - 4 * G + 0x200 && agree(&F, &a),
		 "os_iova: a partial map says how much is mapped");
	F.partial = false;
	DP_CHECK(unmap1(&a, iova[2], 2 * G) == PROV_S_NOT_FOUND,
		 "os_iova: UNMAP must name what was mapped, not what was asked");
	DP_CHECK(unmap1(&a, iova[2], G - 0x200) == PROV_S_OK && agree(&F, &a),
		 "os_iova: UNMAP of the partial mapping");

	/* The caps hold before the IOMMU is asked. */
	maps = F.maps;
	DP_CHECK(map1(&a, 16 * G, 6 * G, PVDMA_MAP_READ, NULL) == PROV_S_NO_BYTES &&
		 F.maps == maps, "os_iova: NO_BYTES, the IOMMU not asked");
	DP_CHECK(map1(&a, 16 * G, 4096, PVDMA_MAP_READ, &iova[2]) == PROV_S_OK &&
		 map1(&a, 17 * G, 4096, PVDMA_MAP_READ, &iova[3]) == PROV_S_OK, "four live");
	maps = F.maps;
	DP_CHECK(map1(&a, 18 * G, 4096, PVDMA_MAP_READ, NULL) == PROV_S_NO_MAPPINGS &&
		 F.maps == maps, "os_iova: NO_MAPPINGS, the IOMMU not asked");
	DP_CHECK(unmap1(&a, iova[3], 4096) == PROV_S_OK && agree(&F, &a), "three live");

	/* Answers the core cannot hold are undone in the IOMMU, and refused as IO. */
	nr = F.nr;
	F.bad_iova = iova[0] - 0x1100;
	DP_CHECK(map1(&a, 20 * G, 4096, PVDMA_MAP_READ, NULL) == PROV_S_IO && F.nr == nr,
		 "os_iova: an address already mapped: IO, undone");
	F.bad_iova = top - 40 * G + 0x800;
	DP_CHECK(map1(&a, 20 * G, 4096, PVDMA_MAP_READ, NULL) == PROV_S_IO && F.nr == nr,
		 "os_iova: an address off the granule: IO, undone");
	F.bad_iova = 1ull << 40;
	DP_CHECK(map1(&a, 20 * G, 4096, PVDMA_MAP_READ, NULL) == PROV_S_IO && F.nr == nr,
		 "os_iova: an address outside the aperture: IO, undone");
	F.bad_iova = 0;
	F.fail_map = true;
	DP_CHECK(map1(&a, 20 * G, 4096, PVDMA_MAP_READ, NULL) == PROV_S_IO && F.nr == nr,
		 "os_iova: the IOMMU refuses: IO");
	F.fail_map = false;
	DP_CHECK(agree(&F, &a) && a.dart.stats.live_mappings == 3 &&
		 P.total_live_mappings == 3, "os_iova: the model is as before those");
	DP_CHECK(map1(&a, 20 * G, 4096, PVDMA_MAP_READ, &it) == PROV_S_OK && agree(&F, &a),
		 "os_iova: maps again afterwards");

	dp_prov_conn_close(&a);
	DP_CHECK(F.nr == 0 && P.total_live_mappings == 0 && fa.gone,
		 "os_iova: closing unmaps everything the IOMMU chose");
	DP_CHECK(!F.violations, "os_iova: no violations");
}

/* NOTIFY: the pending model's notification, where the OS layer has one. */
static void test_notify(void)
{
	struct dp_prov_config cfg = linux_cfg();
	struct dp_prov_os_ops ops = macos_ops;
	struct dp_prov_conn a;
	struct fake_conn fa;
	unsigned int fn;

	ops.notify = NULL;
	fake_init(&F);
	DP_CHECK(dp_prov_init(&P, &cfg, &ops, &F) == PROV_S_INVALID,
		 "init: irq_pending without notify");
	ops = linux_ops;
	ops.notify = f_notify;
	DP_CHECK(dp_prov_init(&P, &cfg, &ops, &F) == PROV_S_INVALID,
		 "init: notify without irq_pending");
	cfg.features |= PROV_F_IRQ_PENDING;
	DP_CHECK(dp_prov_init(&P, &cfg, &linux_ops, &F) == PROV_S_INVALID,
		 "init: the IRQ_PENDING feature without its callbacks");

	/* Linux without the pending model. */
	setup(&(struct dp_prov_config){ .dart = cfg.dart, .max_batch = 16,
					.features = PROV_F_IRQ_EVENTFD });
	open_conn(&a, &fa);
	DP_CHECK(reqp(&P, &a, PROV_OP_NOTIFY, 0, NULL, 0, NULL, 0) == PROV_S_UNSUPPORTED &&
		 !F.notifies, "NOTIFY where interrupts are eventfds only: UNSUPPORTED");
	dp_prov_conn_close(&a);

	/* Both models offered; the client asks for eventfds only. */
	fake_init(&F);
	DP_CHECK(dp_prov_init(&P, &cfg, &macos_ops, &F) == PROV_S_OK &&
		 dp_prov_add_function(&P, PVDMA_RID(0, 3, 0), &fn) == PROV_S_OK,
		 "a provider offering both interrupt models");
	memset(&fa, 0, sizeof(fa));
	dp_prov_conn_open(&P, &a, &fa);
	DP_CHECK(hello(&a, PROV_VERSION(1, 0), PROV_F_IRQ_EVENTFD) == PROV_S_OK &&
		 reqp(&P, &a, PROV_OP_NOTIFY, 0, NULL, 0, NULL, 0) == PROV_S_UNSUPPORTED &&
		 !F.notifies, "NOTIFY without the feature agreed: UNSUPPORTED");
	dp_prov_conn_close(&a);

	open_conn(&a, &fa);
	DP_CHECK(reqp(&P, &a, PROV_OP_NOTIFY, 1, NULL, 0, NULL, 0) == PROV_S_INVALID,
		 "NOTIFY names no function");
	DP_CHECK(reqp(&P, &a, PROV_OP_NOTIFY, 0, "abcd", 4, NULL, 0) == PROV_S_INVALID,
		 "NOTIFY has no body");
	DP_CHECK(reqp(&P, &a, PROV_OP_NOTIFY, 0, NULL, 0, fds16, 1) == PROV_S_BAD_FD,
		 "NOTIFY takes no descriptor");
	DP_CHECK(!F.notifies, "refused NOTIFYs never reach the OS layer");
	DP_CHECK(reqp(&P, &a, PROV_OP_NOTIFY, 0, NULL, 0, NULL, 0) == PROV_S_OK &&
		 F.notifies == 1 && rep_len == 16 && rep_fd == FD_NOTIFY,
		 "NOTIFY: the header, and the OS layer's descriptor");
	dp_prov_conn_close(&a);
	DP_CHECK(!F.violations, "notify: no violations");
}

static void test_malformed(void)
{
	struct dp_prov_config cfg = linux_cfg();
	struct dp_prov_conn a;
	struct fake_conn fa;
	struct prov_hdr h;
	static uint8_t big[PROV_MAX_MSG + 16];
	static const uint8_t zero[64];
	uint64_t bad;
	int op, ok;

	setup(&cfg);
	open_conn(&a, &fa);
	claim(&a, 0);
	bad = P.bad_requests;
	DP_CHECK(send_raw(&P, &a, "", 0, NULL, 0) == PROV_S_INVALID && rep_len == 16 &&
		 rhdr()->len == 16 && rhdr()->op == 0, "an empty message");
	h = (struct prov_hdr){ .op = PROV_OP_COUNTERS, .len = 16, .id = 0x55aa };
	DP_CHECK(send_raw(&P, &a, &h, 1, NULL, 0) == PROV_S_INVALID && rep_len == 16 &&
		 rhdr()->op == PROV_OP_COUNTERS && rhdr()->id == 0, "one byte: its op echoed");
	DP_CHECK(send_raw(&P, &a, &h, 15, NULL, 0) == PROV_S_INVALID && rhdr()->id == 0x55aa,
		 "15 bytes: op and id echoed");
	h.len = 17;
	DP_CHECK(send_raw(&P, &a, &h, 16, NULL, 0) == PROV_S_INVALID, "len says more than came");
	h.len = 16;
	memcpy(big, &h, sizeof(h));
	DP_CHECK(send_raw(&P, &a, big, 20, NULL, 0) == PROV_S_INVALID, "len says less than came");
	h.len = PROV_MAX_MSG + 1;
	memcpy(big, &h, sizeof(h));
	DP_CHECK(send_raw(&P, &a, big, PROV_MAX_MSG + 1, NULL, 0) == PROV_S_INVALID &&
		 rhdr()->op == PROV_OP_COUNTERS && rhdr()->id == 0x55aa, "oversized");
	{
		struct prov_hdr d = { .op = PROV_OP_DMA, .len = 16 + 8 + 2048 * 32, .id = 9 };
		struct prov_dma_batch b = { .count = 2048 };
		uint8_t *m = calloc(1, d.len);

		memcpy(m, &d, sizeof(d));
		memcpy(m + sizeof(d), &b, sizeof(b));
		DP_CHECK(send_raw(&P, &a, m, d.len, NULL, 0) == PROV_S_INVALID,
			 "a DMA batch laid out right but over 64 KiB: INVALID, not BAD_BATCH");
		free(m);
	}
	h.len = 16;
	h.status = 1;
	DP_CHECK(send_raw(&P, &a, &h, 16, NULL, 0) == PROV_S_INVALID, "status set in a request");
	h.status = 0;
	for (op = 0, ok = 1; op < 0x10000; op += op < 20 ? 1 : 0x1000)
		if (op == 0 || op >= PROV_OP_COUNT) {
			h.op = op;
			ok &= send_raw(&P, &a, &h, 16, NULL, 0) == PROV_S_UNSUPPORTED;
		}
	DP_CHECK(ok, "unknown ops: UNSUPPORTED");
	h.op = 0xffff;
	DP_CHECK(send_raw(&P, &a, &h, 16, NULL, 0) == PROV_S_UNSUPPORTED, "op 0xffff");
	for (op = 1, ok = 1; op < PROV_OP_COUNT; op++) {
		size_t n = body_size(op);

		ok &= req(&a, op, 0, zero, n + 1) ==
		      (op == PROV_OP_DMA ? PROV_S_BAD_BATCH : PROV_S_INVALID);
		if (n)
			ok &= req(&a, op, 0, zero, n - 1) == PROV_S_INVALID;
	}
	DP_CHECK(ok, "every op: a body one byte off is refused");
	DP_CHECK(req(&a, PROV_OP_COUNTERS, 1, NULL, 0) == PROV_S_INVALID,
		 "fn set for COUNTERS");
	DP_CHECK(req(&a, PROV_OP_DMA_MEMORY, 2, zero, body_size(PROV_OP_DMA_MEMORY)) ==
		 PROV_S_INVALID, "fn set for DMA_MEMORY");
	DP_CHECK(reqp(&P, &a, PROV_OP_CONFIG_READ, 0, zero, body_size(PROV_OP_CONFIG_READ),
		      fds16, 1) == PROV_S_BAD_FD, "a descriptor with CONFIG_READ");
	DP_CHECK(reqp(&P, &a, PROV_OP_COUNTERS, 0, NULL, 0, fds16, 2) == PROV_S_BAD_FD,
		 "descriptors with COUNTERS");
	DP_CHECK(reqp(&P, &a, PROV_OP_CLAIM, 1, NULL, 0, fds16, 1) == PROV_S_BAD_FD &&
		 !P.fns[1].owner, "a descriptor with CLAIM");
	DP_CHECK(P.bad_requests > bad + 40, "each refusal counted in bad_requests");
	{
		/* What the transport refuses itself, as Linux does a truncated packet. */
		struct prov_hdr q = { .op = PROV_OP_DMA, .len = 99, .id = 0xabcdef, .fn = 3 }, rh;
		static const uint8_t cc[16] = { [0 ... 15] = 0xcc };
		uint64_t before = P.bad_requests;
		size_t n;

		memset(repbuf, 0xcc, 64);
		n = dp_prov_refuse(&a, &q, 10, PROV_S_INVALID, repbuf);
		memcpy(&rh, repbuf, sizeof(rh));
		DP_CHECK(n == 16 && rh.op == PROV_OP_DMA && rh.status == PROV_S_INVALID &&
			 rh.len == 16 && rh.id == 0xcdef && rh.fn == 0 &&
			 !memcmp(repbuf + 16, cc, sizeof(cc)), /* bytes, not a struct */
			 "refuse: 10 bytes: op and the id's low bytes echoed, the header alone");
		q.status = 1;
		n = dp_prov_refuse(&a, &q, PROV_MAX_MSG, PROV_S_BAD_FD, repbuf);
		memcpy(&rh, repbuf, sizeof(rh));
		DP_CHECK(n == 16 && rh.op == PROV_OP_DMA && rh.status == PROV_S_BAD_FD &&
			 rh.len == 16 && rh.id == 0xabcdef && rh.fn == 3,
			 "refuse: a whole header: op, id and fn echoed, status and len its own");
		n = dp_prov_refuse(&a, "", 0, PROV_S_INVALID, repbuf);
		memcpy(&rh, repbuf, sizeof(rh));
		DP_CHECK(n == 16 && !rh.op && rh.status == PROV_S_INVALID && rh.len == 16 &&
			 !rh.id && !rh.fn, "refuse: an empty packet");
		DP_CHECK(P.bad_requests == before + 3, "refuse: each counted in bad_requests");
	}
	DP_CHECK(req(&a, PROV_OP_COUNTERS, 0, NULL, 0) == PROV_S_OK, "and the connection lives on");
	{
		/* Odd addresses both ways: UBSan would catch a misaligned access. */
		uint8_t *in = malloc(1 + 16 + 16), *out = malloc(1 + PROV_MAX_MSG);
		struct prov_hdr q = { .op = PROV_OP_CONFIG_READ, .len = 16 + 16, .id = 77 };
		struct prov_config_req cr = { .offset = 0, .size = 4 };
		struct prov_config_rep rr;
		struct prov_hdr rh;
		int fd;
		size_t n;

		memcpy(in + 1, &q, sizeof(q));
		memcpy(in + 1 + 16, &cr, sizeof(cr));
		n = dp_prov_handle(&a, in + 1, 16 + 16, NULL, 0, out + 1, &fd);
		memcpy(&rh, out + 1, sizeof(rh));
		memcpy(&rr, out + 1 + 16, sizeof(rr));
		DP_CHECK(n == 24 && rh.status == PROV_S_OK && rh.id == 77 && rr.value == 0x220410de,
			 "unaligned request and reply buffers");
		free(in);
		free(out);
	}
	dp_prov_conn_close(&a);
	DP_CHECK(!F.violations, "malformed: no violations");
}

/* ---- Hostile messages ---- */

#define RCONNS	3
#define RMAPS	256

struct rconn {
	struct dp_prov_conn c;
	struct fake_conn fc;
	bool open;
	uint64_t iova[RMAPS];
	uint32_t len[RMAPS];
};

static uint64_t pick(unsigned long long *s, const uint64_t *v, unsigned int n)
{
	return v[dp_test_rand(s) % n];
}

static uint64_t rnd_num(unsigned long long *s)
{
	static const uint64_t v[] = { 0, 1, 2, 3, 4, 7, 8, 15, 16, 17, 63, 64, 65, 0x10, 0x34,
				      0x3c, 0x100, 0xffc, 0x1000, 4096, 16384, 0xffffffff,
				      0x100000000ull, ~0ull };

	switch (dp_test_rand(s) % 4) {
	case 0: return dp_test_rand(s);
	case 1: return dp_test_rand(s) % 0x200;
	default: return pick(s, v, sizeof(v) / sizeof(v[0]));
	}
}

static void rnd_entry(unsigned long long *s, struct rconn *r, struct pvdma_req *e)
{
	unsigned int k = dp_test_rand(s) % RMAPS;

	memset(e, 0, sizeof(*e));
	switch (dp_test_rand(s) % 8) {
	case 0: case 1: case 2:		/* a plausible MAP */
		e->op = PVDMA_OP_MAP;
		e->flags = dp_test_rand(s) % 8 ? 1 + dp_test_rand(s) % 3 : dp_test_rand(s) % 8;
		e->gpa = dp_test_rand(s) % (80 * G);
		e->len = 1 + dp_test_rand(s) % (3 * G);
		break;
	case 3: case 4:			/* UNMAP of something we mapped, perhaps exactly */
		e->op = PVDMA_OP_UNMAP;
		e->iova = r->iova[k];
		e->len = r->len[k];
		if (dp_test_rand(s) % 4 == 0)
			e->iova += (dp_test_rand(s) % 3) * 0x1000 - 0x1000;
		if (dp_test_rand(s) % 4 == 0)
			e->len += (dp_test_rand(s) % 3) * 0x1000 - 0x1000;
		break;
	default:			/* anything */
		e->op = dp_test_rand(s) % 4;
		e->flags = rnd_num(s);
		e->len = rnd_num(s);
		e->gpa = rnd_num(s);
		e->iova = dp_test_rand(s) % 2 ? rnd_num(s) : 0;
		e->mapped = dp_test_rand(s) % 8 ? 0 : rnd_num(s);
		e->reserved = dp_test_rand(s) % 8 ? 0 : rnd_num(s);
		e->status = rnd_num(s);
	}
}

static bool fake_holds_as_core(void)
{
	unsigned int i;

	for (i = 0; i < P.nr_fns; i++)
		if (F.holder[i] != P.fns[i].owner)
			return false;
	return true;
}

static void test_random(void)
{
	static struct rconn rc[RCONNS];
	static uint8_t body[PROV_MAX_MSG + 64];
	struct dp_prov_config cfg = linux_cfg();
	unsigned long long s = 0x5eed2024;
	unsigned int step, i, disagree = 0, msgs = 0, oks = 0, mapped_ok = 0, kinds = 0;
	unsigned int entry_seen[PROV_S_COUNT] = { 0 };
	int st;

	cfg.dart.max_mappings = 32;
	cfg.dart.max_bytes = 64 * G;
	cfg.dart.aperture_size = 66 * G;	/* small enough to fragment: NO_SPACE too */
	cfg.max_batch = 64;
	setup(&cfg);
	memset(rc, 0, sizeof(rc));
	memset(seen, 0, sizeof(seen));
	for (step = 0; step < 30000; step++) {
		struct rconn *r = &rc[dp_test_rand(&s) % RCONNS];
		unsigned int kind = dp_test_rand(&s) % 100, nfds = 0, n;
		uint32_t fn = dp_test_rand(&s) % 8 ? dp_test_rand(&s) % 5 : rnd_num(&s);
		uint16_t op;
		size_t blen;

		if (!r->open) {
			memset(&r->fc, 0, sizeof(r->fc));
			dp_prov_conn_open(&P, &r->c, &r->fc);
			r->open = true;
			if (dp_test_rand(&s) % 8)
				hello(&r->c, PROV_VERSION(1 + dp_test_rand(&s) % 5 / 4,
							  dp_test_rand(&s) % 3), PROV_F_ALL);
			continue;
		}
		if (kind < 2) {
			dp_prov_conn_close(&r->c);
			r->open = false;
			continue;
		}
		if (kind < 12) {	/* noise */
			blen = dp_test_rand(&s) % 8 ? dp_test_rand(&s) % 300 :
			       dp_test_rand(&s) % (PROV_MAX_MSG + 32);
			for (i = 0; i < blen; i++)
				body[i] = dp_test_rand(&s);
			if (blen >= 8 && dp_test_rand(&s) % 2) {
				uint32_t l = blen;

				memcpy(body + 4, &l, 4);
				body[1] = 0;
				body[2] = body[3] = 0;
			}
			send_raw(&P, &r->c, body, blen, fds16, dp_test_rand(&s) % 3);
			msgs++;
			continue;
		}
		/* A valid-looking request of some op. */
		op = dp_test_rand(&s) % 50 ? 1 + dp_test_rand(&s) % (PROV_OP_COUNT - 1) :
		     rnd_num(&s);
		blen = body_size(op);
		memset(body, 0, sizeof(body));
		switch (op) {
		case PROV_OP_HELLO: {
			struct prov_hello_req h = { .version = PROV_VERSION(1, 0),
						    .features = rnd_num(&s) };
			memcpy(body, &h, sizeof(h));
			fn = 0;
			break;
		}
		case PROV_OP_CONFIG_READ: case PROV_OP_CONFIG_WRITE: {
			struct prov_config_req c = {
				.offset = dp_test_rand(&s) % 2 ? dp_test_rand(&s) % 0x200 :
					  rnd_num(&s),
				.size = 1u << (dp_test_rand(&s) % 3),
				.value = op == PROV_OP_CONFIG_WRITE ? dp_test_rand(&s) : 0,
			};
			if (dp_test_rand(&s) % 8 == 0)
				c.size = rnd_num(&s);
			c.offset &= dp_test_rand(&s) % 4 ? ~(c.size - 1) : ~0u;
			if (c.size < 4 && dp_test_rand(&s) % 4)
				c.value &= (1u << (8 * c.size)) - 1;
			memcpy(body, &c, sizeof(c));
			break;
		}
		case PROV_OP_REGION_MAP: {
			struct prov_region_map_req m = { .region = dp_test_rand(&s) % 9 };
			memcpy(body, &m, sizeof(m));
			break;
		}
		case PROV_OP_REGION_READ: case PROV_OP_REGION_WRITE: {
			struct prov_region_req q = {
				.region = dp_test_rand(&s) % 9,
				.size = 1u << (dp_test_rand(&s) % 4),
				.offset = rnd_num(&s),
				.value = op == PROV_OP_REGION_WRITE ? rnd_num(&s) : 0,
			};
			memcpy(body, &q, sizeof(q));
			break;
		}
		case PROV_OP_IRQ_SET: case PROV_OP_IRQ_PENDING: {
			struct prov_irq_req q = {
				.type = dp_test_rand(&s) % 4, .action = dp_test_rand(&s) % 6,
				.start = dp_test_rand(&s) % 20, .count = dp_test_rand(&s) % 20,
			};
			if (dp_test_rand(&s) % 8 == 0)
				q.count = rnd_num(&s);
			nfds = dp_test_rand(&s) % 2 ? (q.count > 16 ? 16 : q.count) :
			       dp_test_rand(&s) % 17;
			memcpy(body, &q, sizeof(q));
			break;
		}
		case PROV_OP_DMA_MEMORY: {
			struct prov_dma_memory_req q = {
				.size = dp_test_rand(&s) % 4 ? 80 * G : rnd_num(&s),
				.base = dp_test_rand(&s) % 4 ? 0 : rnd_num(&s),
			};
			nfds = dp_test_rand(&s) % 4 ? 1 : dp_test_rand(&s) % 3;
			fn = 0;
			memcpy(body, &q, sizeof(q));
			break;
		}
		case PROV_OP_DMA: {
			struct prov_dma_batch b = { .count = 1 + dp_test_rand(&s) % 70 };
			n = b.count;
			for (i = 0; i < n; i++)
				rnd_entry(&s, r, (struct pvdma_req *)(body + 8) + i);
			if (dp_test_rand(&s) % 16 == 0)
				b.count = rnd_num(&s);
			memcpy(body, &b, sizeof(b));
			blen = 8 + n * sizeof(struct pvdma_req);
			fn = dp_test_rand(&s) % 16 ? 0 : fn;
			break;
		}
		case PROV_OP_COUNTERS:
			fn = 0;
			break;
		}
		if (blen && dp_test_rand(&s) % 32 == 0)
			blen += dp_test_rand(&s) % 3 - 1;
		if (dp_test_rand(&s) % 64 == 0)
			body[dp_test_rand(&s) % (blen + 1)] ^= 1u << (dp_test_rand(&s) % 8);
		st = reqp(&P, &r->c, op, fn, body, blen, fds16, nfds);
		msgs++;
		oks += st == PROV_S_OK;
		/* Learn MAP results, so later UNMAPs name live mappings. */
		if (op == PROV_OP_DMA && st == PROV_S_OK) {
			for (i = 0; i < (rep_len - 24) / sizeof(struct pvdma_req); i++) {
				struct pvdma_req e;
				unsigned int k = dp_test_rand(&s) % RMAPS;

				memcpy(&e, (const uint8_t *)rbody() + 8 + i * sizeof(e), sizeof(e));
				entry_seen[e.status < PROV_S_COUNT ? e.status : 0]++;
				if (e.op == PVDMA_OP_MAP && e.status == PROV_S_OK) {
					r->iova[k] = e.iova;
					r->len[k] = e.len;
					mapped_ok++;
				}
			}
		}
		if (step % 64 == 0) {
			unsigned int live = 0;

			for (i = 0; i < RCONNS; i++)
				if (rc[i].open) {
					disagree += !agree(&F, &rc[i].c);
					live += rc[i].c.dart.stats.live_mappings;
				}
			disagree += live != F.nr || live != P.total_live_mappings;
			disagree += !fake_holds_as_core();
		}
	}
	DP_CHECK(msgs > 25000 && oks > 1000 && mapped_ok > 500,
		 "random: %u messages, %u answered OK, %u mappings made", msgs, oks, mapped_ok);
	/* Entry statuses and IO (the fake never fails here) are never a reply's. */
	for (i = 0; i < PROV_S_COUNT; i++)
		kinds += !!seen[i];
	DP_CHECK(kinds == 11 && seen[PROV_S_VERSION] && seen[PROV_S_BUSY] && seen[PROV_S_DENIED] &&
		 seen[PROV_S_BAD_FD] && seen[PROV_S_BAD_BATCH] && seen[PROV_S_NOT_READY],
		 "random: replies of every status a request can earn (%u kinds)", kinds);
	for (i = PROV_S_OK, kinds = 0; i <= PROV_S_NOT_FOUND; i++)
		kinds += !!entry_seen[i];
	DP_CHECK(kinds == PROV_S_NOT_FOUND + 1,
		 "random: DMA entries of every status OK..NOT_FOUND (%u kinds)", kinds);
	DP_CHECK(!disagree, "random: model and fake agreed at every look (%u disagreements)",
		 disagree);
	for (i = 0; i < RCONNS; i++)
		if (rc[i].open)
			disagree += !agree(&F, &rc[i].c);
	DP_CHECK(!disagree && fake_holds_as_core(), "random: they agree at the end");
	DP_CHECK(!F.violations, "random: the core never broke the OS layer's contract (%d)",
		 F.violations);
	for (i = 0; i < RCONNS; i++)
		if (rc[i].open)
			dp_prov_conn_close(&rc[i].c);
	DP_CHECK(F.nr == 0 && P.total_live_mappings == 0 && !F.violations,
		 "random: after every close nothing is mapped");
	for (i = 0, st = 0; i < P.nr_fns; i++)
		st |= F.holder[i] || P.fns[i].owner;
	DP_CHECK(!st, "random: and every function is free");
}

int main(void)
{
	repbuf = malloc(PROV_MAX_MSG);
	test_init();
	test_hello();
	test_claims();
	test_filter();
	test_regions();
	test_irq();
	test_dma();
	test_os_iova();
	test_notify();
	test_malformed();
	test_random();
	DP_CHECK(!echo_errors, "every reply echoed op, id and fn, with its true length (%d bad)",
		 echo_errors);
	DP_CHECK(!count_errors, "bad_requests moved with every non-OK reply (%d bad)",
		 count_errors);
	free(repbuf);
	return dp_test_done();
}
