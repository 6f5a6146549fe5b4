// SPDX-License-Identifier: (GPL-2.0 OR MIT)
/*
 * The provider's portable core (lib/dp_prov.c): a sequence of messages, decoded from
 * the input, over three connections, through dp_prov_handle(), against a fake OS layer
 * that checks every call the core makes:
 *   - config, region, interrupt and DMA calls only for functions the connection holds,
 *     within bounds, and config writes never touch a header field the filter protects;
 *   - DMA ranges granule aligned, inside the DMA memory, never overlapping another of
 *     the connection's, never beyond either cap, all gone when the connection's last
 *     function is released and when it closes;
 *   - with cfg.os_iova the fake IOMMU chooses: well, partly, at a bad address, with a
 *     bad size, or not at all, as the input says; whatever the core keeps must still
 *     meet the rules above, and it must undo the rest.
 * Every reply is checked too: it echoes op, id and fn, a refusal is the header alone,
 * a descriptor comes back only with REGION_MAP and NOTIFY, and each MAP the core
 * answers OK is reachable at the address it returned; UNMAP succeeds exactly for what
 * a MAP returned.
 */
#include <string.h>
#include "dp_prov.h"
#include "fuzz.h"

#define FP_NFN		4	/* fn3 answers nothing: add_function refuses it */
#define FP_NCONN	3
#define FP_MAXR		64
#define FP_MAXLIVE	64
#define FP_FD_REGION	70	/* + region: what REGION_MAP lends */
#define FP_FD_NOTIFY	90

struct fp_range {
	const struct dp_prov_conn *c;
	uint64_t iova, off, size;
	unsigned int perm;
};

/* A connection's state in the fake (conn->os), and the harness's model of its DMA. */
struct fp_conn {
	uint64_t mem_size;
	bool gone;
	struct { uint64_t iova, len, gpa; unsigned int perm; } live[FP_MAXLIVE];
	unsigned int nlive;
};

struct fp_os {
	uint8_t cfg[FP_NFN][4096];
	struct prov_region regs[FP_NFN][PROV_REGION_COUNT];
	uint32_t irqs[FP_NFN][PROV_IRQ_TYPES];
	const struct dp_prov_conn *holder[FP_NFN];
	struct fp_range r[FP_MAXR];
	unsigned int nr;
	uint32_t fail_read;	/* fn1's config offset whose read fails; 0: none */
	int fail_claim;		/* what claim answers; 0: it succeeds */
	struct fz *in;		/* the fake IOMMU reads its behaviour from the input */
};

static struct fp_os fp;
static struct dp_prov fp_prov;
static struct dp_prov_conn fp_c[FP_NCONN];
static struct fp_conn fp_fc[FP_NCONN];
static uint8_t *fp_rep;		/* PROV_MAX_MSG on the heap: ASan sees a write past it */

static uint64_t fp_g(void)
{
	return 1ull << fp_prov.cfg.dart.granule_shift;
}

static unsigned int fp_claims(const struct dp_prov_conn *c)
{
	unsigned int i, n = 0;

	for (i = 0; i < FP_NFN; i++)
		n += fp.holder[i] == c;
	return n;
}

static void fp_held(const struct dp_prov_conn *c, unsigned int fn)
{
	FZ_CHECK(fn < FP_NFN && fp.holder[fn] && (!c || fp.holder[fn] == c),
		 "a call for fn %u, which is not held", fn);
}

/* ---- The fake OS layer ---- */

static int fp_config_read(void *os, unsigned int fn, uint32_t off, uint32_t size,
			  uint32_t *val)
{
	uint32_t i, v = 0;

	(void)os;
	FZ_CHECK(fn < FP_NFN && (size == 1 || size == 2 || size == 4) && !(off % size) &&
		 off + size <= 4096 && (!fp.holder[fn] ||
		 off + size <= fp.regs[fn][PROV_REGION_CONFIG].size),
		 "config read fn %u off 0x%x size %u", fn, off, size);
	if (fn == 1 && fp.fail_read && off == fp.fail_read)
		return PROV_S_IO;
	for (i = 0; i < size; i++)
		v |= (uint32_t)fp.cfg[fn][off + i] << (8 * i);
	*val = v;
	return PROV_S_OK;
}

/* The header fields no client may write: identity, BARs, pointers, pin. */
static bool fp_protected(uint32_t o)
{
	return o < 4 || (o >= 0x08 && o < 0x0c) || o == 0x0e || (o >= 0x10 && o < 0x28) ||
	       (o >= 0x2c && o < 0x35) || o == 0x3d;
}

static int fp_config_write(void *os, unsigned int fn, uint32_t off, uint32_t size,
			   uint32_t val)
{
	uint32_t i;

	(void)os;
	fp_held(NULL, fn);
	FZ_CHECK((size == 1 || size == 2 || size == 4) && !(off % size) &&
		 off + size <= fp.regs[fn][PROV_REGION_CONFIG].size,
		 "config write off 0x%x size %u", off, size);
	for (i = 0; i < size; i++) {
		uint32_t o = off + i, v = (val >> (8 * i)) & 0xff;

		FZ_CHECK(!fp_protected(o), "the filter let a write to 0x%x through", o);
		/* Command: memory decode stays on, I/O decode too with I/O BARs (fn0). */
		FZ_CHECK(o != 4 || ((v & 2) && !(v & ~0x47u) && (fn || (v & 1))),
			 "command low byte 0x%x written", v);
		FZ_CHECK(o != 5 || !(v & ~0x05u), "command high byte 0x%x written", v);
		fp.cfg[fn][o] = v;
	}
	return PROV_S_OK;
}

static int fp_claim(void *os, struct dp_prov_conn *conn, unsigned int fn,
		    struct prov_claim_rep *rep)
{
	int i;

	(void)os;
	FZ_CHECK(fn < FP_NFN && !fp.holder[fn], "claim of fn %u, held already", fn);
	if (fp.fail_claim)
		return fp.fail_claim;
	for (i = 0; i < PROV_REGION_COUNT; i++) {
		rep->regions[i].size = fp.regs[fn][i].size;
		rep->regions[i].flags = fp.regs[fn][i].flags;
	}
	for (i = 0; i < PROV_IRQ_TYPES; i++)
		rep->irqs[i].count = fp.irqs[fn][i];
	fp.holder[fn] = conn;
	return PROV_S_OK;
}

static void fp_release(void *os, struct dp_prov_conn *conn, unsigned int fn)
{
	(void)os;
	fp_held(conn, fn);
	fp.holder[fn] = NULL;
}

static int fp_region_map(void *os, unsigned int fn, uint32_t region,
			 struct prov_region_map_rep *rep, int *fd)
{
	(void)os;
	fp_held(NULL, fn);
	FZ_CHECK(region < PROV_REGION_CONFIG && fp.regs[fn][region].size &&
		 (fp.regs[fn][region].flags & PROV_REGION_MMAP), "map of region %u", region);
	rep->size = fp.regs[fn][region].size;
	rep->flags = PROV_REGION_READ | PROV_REGION_WRITE;
	*fd = FP_FD_REGION + region;
	return PROV_S_OK;
}

static void fp_region_check(unsigned int fn, uint32_t region, uint64_t off, uint32_t size,
			    uint32_t flag)
{
	const struct prov_region *r = &fp.regs[fn][region];

	fp_held(NULL, fn);
	FZ_CHECK(region < PROV_REGION_CONFIG && (size == 1 || size == 2 || size == 4 ||
		 size == 8) && !(off % size) && off + size <= r->size && (r->flags & flag),
		 "region %u access off 0x%llx size %u", region, (unsigned long long)off, size);
}

static int fp_region_read(void *os, unsigned int fn, uint32_t region, uint64_t off,
			  uint32_t size, uint64_t *val)
{
	(void)os;
	fp_region_check(fn, region, off, size, PROV_REGION_READ);
	*val = size == 8 ? off : off & ((1ull << (8 * size)) - 1);
	return PROV_S_OK;
}

static int fp_region_write(void *os, unsigned int fn, uint32_t region, uint64_t off,
			   uint32_t size, uint64_t val)
{
	(void)os;
	(void)val;
	fp_region_check(fn, region, off, size, PROV_REGION_WRITE);
	return PROV_S_OK;
}

static int fp_irq_set(void *os, unsigned int fn, const struct prov_irq_req *req,
		      const int *fds, unsigned int nfds)
{
	(void)os;
	(void)fds;
	fp_held(NULL, fn);
	FZ_CHECK(req->type < PROV_IRQ_TYPES && req->action < PROV_IRQ_ACTIONS &&
		 nfds == (req->action == PROV_IRQ_EVENTFD ? req->count : 0),
		 "irq_set type %u action %u with %u fds", req->type, req->action, nfds);
	if (req->action <= PROV_IRQ_ENABLE)
		FZ_CHECK(req->count && req->start < fp.irqs[fn][req->type] &&
			 req->count <= fp.irqs[fn][req->type] - req->start,
			 "irq_set vectors %u+%u", req->start, req->count);
	return PROV_S_OK;
}

static int fp_irq_pending(void *os, unsigned int fn, uint32_t type, uint32_t start,
			  uint32_t count, uint64_t *bits)
{
	(void)os;
	fp_held(NULL, fn);
	FZ_CHECK(type < PROV_IRQ_TYPES && count && count <= 64 && start < fp.irqs[fn][type] &&
		 count <= fp.irqs[fn][type] - start, "irq_pending %u+%u", start, count);
	*bits = 1;
	return PROV_S_OK;
}

static int fp_notify(void *os, struct dp_prov_conn *conn, int *rep_fd)
{
	(void)os;
	(void)conn;
	*rep_fd = FP_FD_NOTIFY;
	return PROV_S_OK;
}

static int fp_reset(void *os, unsigned int fn, uint32_t *method)
{
	(void)os;
	fp_held(NULL, fn);
	*method = PROV_RESET_FLR;
	return PROV_S_OK;
}

static int fp_dma_memory(void *os, struct dp_prov_conn *conn, uint64_t size, uint64_t base,
			 int fd)
{
	struct fp_conn *fc = conn->os;

	(void)os;
	(void)base;
	(void)fd;
	FZ_CHECK(!fc->mem_size && size && !(size % fp_g()), "DMA memory of %llu bytes",
		 (unsigned long long)size);
	fc->mem_size = size;
	return PROV_S_OK;
}

static bool fp_overlaps(const struct dp_prov_conn *c, uint64_t iova, uint64_t size)
{
	unsigned int i;

	for (i = 0; i < fp.nr; i++)
		if (fp.r[i].c == c && iova < fp.r[i].iova + fp.r[i].size &&
		    fp.r[i].iova < iova + size)
			return true;
	return false;
}

/* A well-behaved IOMMU's choice: the lowest free granule-aligned range of the aperture. */
static bool fp_first_fit(const struct dp_prov_conn *c, uint64_t size, uint64_t *iova)
{
	const struct dp_dart_config *d = &fp_prov.cfg.dart;
	uint64_t at;

	if (size > d->aperture_size)
		return false;
	for (at = d->aperture_base; at - d->aperture_base <= d->aperture_size - size;
	     at += fp_g()) {
		if (!fp_overlaps(c, at, size)) {
			*iova = at;
			return true;
		}
	}
	return false;
}

static int fp_dma_map(void *os, struct dp_prov_conn *conn, uint64_t off, uint64_t *sizep,
		      unsigned int perm, uint64_t *iovap)
{
	struct fp_conn *fc = conn->os;
	uint64_t g = fp_g(), size = *sizep, iova = *iovap;
	uint8_t how = fz_u8(fp.in);

	(void)os;
	FZ_CHECK(fp_claims(conn) && size && !((off | size) % g) && off <= fc->mem_size &&
		 size <= fc->mem_size - off && perm >= 1 && perm <= 3,
		 "dma_map off 0x%llx size 0x%llx perm %u", (unsigned long long)off,
		 (unsigned long long)size, perm);
	if (how % 8 == 7 || fp.nr == FP_MAXR)
		return PROV_S_IO;
	if (!fp_prov.cfg.os_iova) {
		FZ_CHECK(!(iova % g) && iova >= fp_prov.cfg.dart.aperture_base &&
			 iova - fp_prov.cfg.dart.aperture_base <=
			 fp_prov.cfg.dart.aperture_size - size && !fp_overlaps(conn, iova, size),
			 "the core chose 0x%llx+0x%llx", (unsigned long long)iova,
			 (unsigned long long)size);
	} else {
		switch (how % 8) {
		case 4:		/* maps only a first part */
			size = g * (1 + fz_u8(fp.in) % (size / g));
			break;
		case 5:		/* answers an address of its own */
			if (!fp_first_fit(conn, size, &iova))
				iova = 0;
			iova = how & 0x80 ? fz_u64(fp.in) : iova + (int16_t)fz_u16(fp.in) * (g / 4);
			break;
		case 6: {	/* answers a size it was not asked for */
			static const int64_t delta[4] = { 0, 1, -1, 0 };
			int64_t d = delta[(how >> 3) & 3];

			size = (how >> 3 & 3) == 3 ? size + g : (how >> 3 & 3) == 0 ? 0 : size + d;
			break;
		}
		default:
			break;
		}
		if (how % 8 != 5 && !fp_first_fit(conn, size ? size : g, &iova))
			return PROV_S_NO_SPACE;
	}
	fp.r[fp.nr++] = (struct fp_range){ conn, iova, off, size, perm };
	*iovap = iova;
	*sizep = size;
	return PROV_S_OK;
}

static void fp_dma_unmap(void *os, struct dp_prov_conn *conn, uint64_t iova, uint64_t size)
{
	unsigned int i;

	(void)os;
	/* Newest first: a bad answer that duplicates a live range is the one undone. */
	for (i = fp.nr; i--;) {
		if (fp.r[i].c == conn && fp.r[i].iova == iova && fp.r[i].size == size) {
			fp.r[i] = fp.r[--fp.nr];
			return;
		}
	}
	FZ_CHECK(0, "dma_unmap of 0x%llx+0x%llx, never mapped", (unsigned long long)iova,
		 (unsigned long long)size);
}

static void fp_conn_gone(void *os, struct dp_prov_conn *conn)
{
	struct fp_conn *fc = conn->os;
	unsigned int i;

	(void)os;
	for (i = 0; i < fp.nr; i++)
		FZ_CHECK(fp.r[i].c != conn, "a DMA range left at close");
	FZ_CHECK(!fp_claims(conn) && !fc->gone, "a function left at close, or closed twice");
	fc->gone = true;
}

static const struct dp_prov_os_ops fp_linux_ops = {
	.config_read = fp_config_read, .config_write = fp_config_write, .claim = fp_claim,
	.release = fp_release, .region_map = fp_region_map, .region_read = fp_region_read,
	.region_write = fp_region_write, .irq_set = fp_irq_set, .reset = fp_reset,
	.dma_memory = fp_dma_memory, .dma_map = fp_dma_map, .dma_unmap = fp_dma_unmap,
	.conn_gone = fp_conn_gone,
};

static const struct dp_prov_os_ops fp_macos_ops = {
	.config_read = fp_config_read, .config_write = fp_config_write, .claim = fp_claim,
	.release = fp_release, .region_map = fp_region_map, .region_read = fp_region_read,
	.region_write = fp_region_write, .irq_set = fp_irq_set, .irq_pending = fp_irq_pending,
	.notify = fp_notify, .reset = fp_reset, .dma_memory = fp_dma_memory,
	.dma_map = fp_dma_map, .dma_unmap = fp_dma_unmap, .conn_gone = fp_conn_gone,
};

/* ---- The functions ---- */

static void fp_put(uint8_t *cfg, uint32_t off, uint32_t size, uint32_t val)
{
	uint32_t i;

	for (i = 0; i < size; i++)
		cfg[off + i] = val >> (8 * i);
}

static void fp_region(unsigned int fn, int i, uint64_t size, uint32_t flags)
{
	fp.regs[fn][i] = (struct prov_region){ .size = size, .flags = flags };
}

#define FP_RW	(PROV_REGION_READ | PROV_REGION_WRITE)
#define FP_MMIO	(FP_RW | PROV_REGION_MMAP)

/*
 * fn0: a GPU with every capability the filter knows; fn1: the input's own config space
 * (random capability lists, cyclic or not); fn2: a bridge, never lent; fn3: nothing.
 */
static void fp_functions(uint64_t seed, bool ext)
{
	uint8_t *c = fp.cfg[0];
	uint32_t i;

	fp_put(c, 0x00, 4, 0x220410de);
	fp_put(c, 0x08, 4, 0x030000a1);
	fp_put(c, 0x34, 1, 0x40);
	fp_put(c, 0x40, 2, 0x5001);		/* PM -> MSI */
	fp_put(c, 0x50, 2, 0x7005);		/* MSI, 64-bit -> PCIe */
	fp_put(c, 0x52, 2, 0x0186);
	fp_put(c, 0x70, 2, 0xb010);		/* PCIe -> MSI-X */
	fp_put(c, 0xb0, 2, 0x0011);		/* MSI-X: 16 vectors, table and PBA in BAR2 */
	fp_put(c, 0xb2, 2, 15);
	fp_put(c, 0xb4, 4, 0x3000 | 2);
	fp_put(c, 0xb8, 4, 0x5800 | 2);
	fp_put(c, 0x100, 4, 0x000f | 1 << 16 | 0x140 << 20);	/* ATS -> SR-IOV */
	fp_put(c, 0x140, 4, 0x0010 | 1 << 16 | 0x1b0 << 20);	/* SR-IOV -> ReBAR */
	fp_put(c, 0x1b0, 4, 0x0015 | 1 << 16 | 0x1d0 << 20);	/* ReBAR -> ACS */
	fp_put(c, 0x1b8, 4, 2 << 5);
	fp_put(c, 0x1d0, 4, 0x000d | 1 << 16);
	fp_region(0, 0, 16 << 20, FP_MMIO | PROV_REGION_MEM64);
	fp_region(0, 2, 64 << 10, FP_MMIO | PROV_REGION_MEM64);
	fp_region(0, 4, 128, FP_RW | PROV_REGION_IO);
	fp_region(0, PROV_REGION_ROM, 64 << 10, PROV_REGION_READ);
	fp_region(0, PROV_REGION_CONFIG, 4096, FP_RW);
	fp.irqs[0][PROV_IRQ_INTX] = 1;
	fp.irqs[0][PROV_IRQ_MSI] = 8;
	fp.irqs[0][PROV_IRQ_MSIX] = 16;

	c = fp.cfg[1];
	for (i = 0; i < 4096; i++) {
		seed ^= seed << 13;
		seed ^= seed >> 7;
		seed ^= seed << 17;
		c[i] = seed;
	}
	fp_put(c, 0x00, 4, 0x1aef10de);
	c[0x0e] &= 0x80;			/* an endpoint, perhaps multi-function */
	fp_region(1, 0, 16 << 10, FP_MMIO);
	fp_region(1, 1, 4096, PROV_REGION_WRITE);
	fp_region(1, PROV_REGION_CONFIG, ext ? 4096 : 256, FP_RW);
	fp.irqs[1][PROV_IRQ_MSI] = 1 + (seed & 31);
	fp.irqs[1][PROV_IRQ_MSIX] = 2048;

	c = fp.cfg[2];
	fp_put(c, 0x00, 4, 0x12348086);
	fp_put(c, 0x0e, 1, 0x01);
	fp_region(2, PROV_REGION_CONFIG, 4096, FP_RW);

	memset(fp.cfg[3], 0xff, sizeof(fp.cfg[3]));
}

/* ---- Messages ---- */

static int fp_conn_index(const struct dp_prov_conn *c)
{
	return (int)(c - fp_c);
}

static int fp_live_find(const struct fp_conn *fc, uint64_t iova, uint64_t len)
{
	unsigned int i;

	for (i = 0; i < fc->nlive; i++)
		if (fc->live[i].iova == iova && fc->live[i].len == len)
			return i;
	return -1;
}

/* A MAP the core answered OK: reachable at the address returned, with its bytes. */
static void fp_check_mapped(const struct dp_prov_conn *c, const struct pvdma_req *q,
			    const struct pvdma_req *a)
{
	unsigned int i;

	FZ_CHECK(a->mapped && a->mapped <= q->len &&
		 (fp_prov.cfg.os_iova || a->mapped == q->len), "mapped %u of %u", a->mapped,
		 q->len);
	for (i = 0; i < fp.nr; i++) {
		const struct fp_range *r = &fp.r[i];

		if (r->c == c && a->iova - r->iova < r->size &&
		    a->mapped <= r->size - (a->iova - r->iova))
			break;
	}
	FZ_CHECK(i < fp.nr, "MAP answered 0x%llx+%u, which no range covers",
		 (unsigned long long)a->iova, a->mapped);
	FZ_CHECK(fp.r[i].off + (a->iova - fp.r[i].iova) == q->gpa && fp.r[i].perm == q->flags,
		 "MAP answered 0x%llx, which reaches other memory or permissions",
		 (unsigned long long)a->iova);
}

/* Whether an entry after the first one of a batch unmapped (iova, len). */
static bool fp_unmapped_later(const uint8_t *req, const uint8_t *rep, uint16_t first,
			      uint16_t count, uint64_t iova, uint32_t len)
{
	uint16_t i;

	for (i = first; i < count; i++) {
		struct pvdma_req q, a;
		size_t at = sizeof(struct prov_hdr) + sizeof(struct prov_dma_batch) + i * sizeof(q);

		memcpy(&q, req + at, sizeof(q));
		memcpy(&a, rep + at, sizeof(a));
		if (q.op == PVDMA_OP_UNMAP && a.status == PROV_S_OK && q.iova == iova &&
		    q.len == len)
			return true;
	}
	return false;
}

/* The DMA entries' answers against the model of what is live. */
static void fp_check_dma(struct dp_prov_conn *c, const uint8_t *req, const uint8_t *rep,
			 uint16_t count)
{
	struct fp_conn *fc = c->os;
	uint16_t i;

	for (i = 0; i < count; i++) {
		struct pvdma_req q, a;
		size_t at = sizeof(struct prov_hdr) + sizeof(struct prov_dma_batch) + i * sizeof(q);
		int k;

		memcpy(&q, req + at, sizeof(q));
		memcpy(&a, rep + at, sizeof(a));
		FZ_CHECK(a.op == q.op && a.len == q.len && a.gpa == q.gpa, "an entry changed");
		if (q.op == PVDMA_OP_MAP && a.status == PROV_S_OK) {
			/* Ranges are as the batch left them: unless a later entry unmapped it. */
			if (!fp_unmapped_later(req, rep, i + 1, count, a.iova, a.mapped))
				fp_check_mapped(c, &q, &a);
			FZ_CHECK(fc->nlive < FP_MAXLIVE, "more live than the caps allow");
			fc->live[fc->nlive].iova = a.iova;
			fc->live[fc->nlive].len = a.mapped;
			fc->live[fc->nlive].gpa = q.gpa;
			fc->live[fc->nlive++].perm = q.flags;
		} else if (q.op == PVDMA_OP_UNMAP) {
			k = fp_live_find(fc, q.iova, q.len);
			if (a.status == PROV_S_OK) {
				FZ_CHECK(k >= 0, "UNMAP of 0x%llx+%u succeeded, never mapped",
					 (unsigned long long)q.iova, q.len);
				fc->live[k] = fc->live[--fc->nlive];
			} else if (!q.flags && !q.gpa && !q.mapped && !q.reserved) {
				FZ_CHECK(k < 0, "UNMAP of a live mapping refused: %u", a.status);
			}
		}
	}
}

/* Everything the fake holds for c agrees with the caps and with the core. */
static void fp_check_conn(struct dp_prov_conn *c)
{
	const struct dp_prov_config *cfg = &fp_prov.cfg;
	struct fp_conn *fc = c->os;
	uint64_t n = 0, bytes = 0;
	unsigned int i, j;

	if (!fp_claims(c))
		fc->nlive = 0;	/* the last release took every mapping */
	for (i = 0; i < fp.nr; i++) {
		const struct fp_range *r = &fp.r[i];

		if (r->c != c)
			continue;
		n++;
		bytes += r->size;
		FZ_CHECK(r->size && !((r->iova | r->size) % fp_g()) &&
			 r->iova >= cfg->dart.aperture_base &&
			 r->iova - cfg->dart.aperture_base <= cfg->dart.aperture_size - r->size,
			 "a range kept at 0x%llx+0x%llx", (unsigned long long)r->iova,
			 (unsigned long long)r->size);
		for (j = i + 1; j < fp.nr; j++)
			FZ_CHECK(fp.r[j].c != c || r->iova >= fp.r[j].iova + fp.r[j].size ||
				 fp.r[j].iova >= r->iova + r->size, "ranges overlap at 0x%llx",
				 (unsigned long long)r->iova);
	}
	FZ_CHECK(n <= cfg->dart.max_mappings && bytes <= cfg->dart.max_bytes,
		 "%llu ranges, %llu bytes: over a cap", (unsigned long long)n,
		 (unsigned long long)bytes);
	FZ_CHECK(n == c->dart.stats.live_mappings && bytes == c->dart.stats.live_bytes &&
		 n == fc->nlive, "fake %llu ranges, core %llu, replies %u", (unsigned long long)n,
		 (unsigned long long)c->dart.stats.live_mappings, fc->nlive);
	FZ_CHECK(fp_claims(c) || !n, "ranges without a function");
}

/* The body length an OK reply to op carries. */
static size_t fp_ok_len(uint16_t op, size_t req_len)
{
	switch (op) {
	case PROV_OP_HELLO:
		return sizeof(struct prov_hello_rep) + fp_prov.nr_fns * sizeof(struct prov_function);
	case PROV_OP_CLAIM:
		return sizeof(struct prov_claim_rep);
	case PROV_OP_CONFIG_READ:
	case PROV_OP_CONFIG_WRITE:
		return sizeof(struct prov_config_rep);
	case PROV_OP_REGION_MAP:
		return sizeof(struct prov_region_map_rep);
	case PROV_OP_REGION_READ:
	case PROV_OP_REGION_WRITE:
	case PROV_OP_IRQ_PENDING:
		return 8;
	case PROV_OP_RESET:
		return sizeof(struct prov_reset_rep);
	case PROV_OP_COUNTERS:
		return sizeof(struct prov_counters);
	case PROV_OP_DMA:
		return req_len - sizeof(struct prov_hdr);
	default:
		return 0;
	}
}

static void fp_send(struct dp_prov_conn *c, const uint8_t *msg, size_t len,
		    unsigned int nfds)
{
	static const int fds[4] = { 100, 101, 102, 103 };
	struct prov_hdr in = { 0 }, out;
	uint8_t *copy = malloc(len ? len : 1);
	uint64_t bad = fp_prov.bad_requests;
	int rep_fd = -2;
	size_t n;

	memcpy(copy, msg, len);	/* exactly sized: a read past the request is caught */
	memcpy(&in, msg, len < sizeof(in) ? len : sizeof(in));
	n = dp_prov_handle(c, copy, len, fds, nfds, fp_rep, &rep_fd);
	memcpy(&out, fp_rep, sizeof(out));
	FZ_CHECK(n >= sizeof(out) && n <= PROV_MAX_MSG && out.len == n && out.op == in.op &&
		 out.id == in.id && out.fn == in.fn && out.status < PROV_S_COUNT,
		 "reply to op %u: %zu bytes, op %u id %u fn %u status %u", in.op, n, out.op,
		 out.id, out.fn, out.status);
	FZ_CHECK(fp_prov.bad_requests == bad + (out.status != PROV_S_OK), "bad_requests");
	if (out.status == PROV_S_VERSION)
		FZ_CHECK(n == sizeof(out) + sizeof(struct prov_hello_rep) && rep_fd == -1,
			 "VERSION reply of %zu bytes", n);
	else if (out.status)
		FZ_CHECK(n == sizeof(out) && rep_fd == -1, "a refusal of %zu bytes, fd %d", n,
			 rep_fd);
	else
		FZ_CHECK(n == sizeof(out) + fp_ok_len(out.op, len) &&
			 rep_fd == (out.op == PROV_OP_REGION_MAP ?
				    FP_FD_REGION + (int)copy[sizeof(out)] :
				    out.op == PROV_OP_NOTIFY ? FP_FD_NOTIFY : -1),
			 "op %u answered OK with %zu bytes, fd %d", out.op, n, rep_fd);
	if (!out.status && out.op == PROV_OP_DMA)
		fp_check_dma(c, copy, fp_rep, ((const struct prov_dma_batch *)
					       (fp_rep + sizeof(out)))->count);
	free(copy);
	fp_check_conn(c);
	FZ_CHECK(fp_prov.total_live_mappings == fp.nr, "total_live_mappings %llu, ranges %u",
		 (unsigned long long)fp_prov.total_live_mappings, fp.nr);
}

/* A DMA entry: mostly within the memory and naming live mappings, so the DART works. */
static void fp_entry(struct fz *f, const struct fp_conn *fc, struct pvdma_req *r)
{
	uint8_t k = fz_u8(f);
	uint64_t mem = fc->mem_size ? fc->mem_size : 1;

	*r = (struct pvdma_req){ 0 };
	switch (k & 3) {
	case 0:
	case 1:
		r->op = PVDMA_OP_MAP;
		r->flags = 1 + (k >> 2) % 3;
		r->gpa = ((uint64_t)fz_u16(f) << 8) % mem;
		r->len = 1 + (fz_u16(f) << (k >> 4 & 3)) % (mem - r->gpa);
		break;
	case 2:
		r->op = PVDMA_OP_UNMAP;
		if (fc->nlive) {
			unsigned int i = fz_u8(f) % fc->nlive;

			r->iova = fc->live[i].iova;
			r->len = fc->live[i].len + (k & 4 ? (int8_t)fz_u8(f) : 0);
		}
		break;
	default:
		fz_bytes(f, r, sizeof(*r));
		break;
	}
}

/* A message for one of the ops, well-formed unless the input says otherwise. */
static size_t fp_build(struct fz *f, struct dp_prov_conn *c, uint8_t *msg, unsigned int *nfds)
{
	struct prov_hdr h = { .op = fz_u8(f) % 16, .id = fz_u32(f), .fn = fz_u8(f) % 5 };
	uint8_t mut = fz_u8(f), *b = msg + sizeof(h);
	size_t blen = 0;

	*nfds = 0;
	switch (h.op) {
	case PROV_OP_HELLO: {
		struct prov_hello_req q = { .version = PROV_VERSION(1, fz_u8(f)),
					    .features = fz_u8(f) & 0x1f };

		if (mut & 8)
			q.version = fz_u32(f);
		memcpy(b, &q, blen = sizeof(q));
		h.fn = 0;
		break;
	}
	case PROV_OP_CONFIG_READ:
	case PROV_OP_CONFIG_WRITE: {
		struct prov_config_req q = { .offset = fz_u16(f) % 4200, .size = 1 << fz_u8(f) % 4 };

		if (h.op == PROV_OP_CONFIG_WRITE)
			q.value = fz_u32(f) & (q.size >= 4 ? ~0u : (1u << 8 * q.size) - 1);
		memcpy(b, &q, blen = sizeof(q));
		break;
	}
	case PROV_OP_REGION_MAP: {
		struct prov_region_map_req q = { .region = fz_u8(f) % 9 };

		memcpy(b, &q, blen = sizeof(q));
		break;
	}
	case PROV_OP_REGION_READ:
	case PROV_OP_REGION_WRITE: {
		struct prov_region_req q = { .region = fz_u8(f) % 9, .size = 1 << fz_u8(f) % 4,
					     .offset = fz_u32(f) & 0x1ffff };

		if (h.op == PROV_OP_REGION_WRITE)
			q.value = fz_u64(f) & (q.size == 8 ? ~0ull : (1ull << 8 * q.size) - 1);
		memcpy(b, &q, blen = sizeof(q));
		break;
	}
	case PROV_OP_IRQ_SET:
	case PROV_OP_IRQ_PENDING: {
		struct prov_irq_req q = { .type = fz_u8(f) % 3, .start = fz_u8(f) % 20,
					  .count = fz_u8(f) % 20 };

		if (h.op == PROV_OP_IRQ_SET)
			q.action = fz_u8(f) % 5;
		if (q.action == PROV_IRQ_EVENTFD && h.op == PROV_OP_IRQ_SET)
			*nfds = q.count < 4 ? q.count : 0;
		memcpy(b, &q, blen = sizeof(q));
		break;
	}
	case PROV_OP_DMA_MEMORY: {
		struct prov_dma_memory_req q = { .size = fp_g() * (fz_u8(f) % 64) };

		*nfds = !!(c->features & PROV_F_DMA_FD);
		memcpy(b, &q, blen = sizeof(q));
		h.fn = 0;
		break;
	}
	case PROV_OP_DMA: {
		struct prov_dma_batch q = { .count = 1 + fz_u8(f) % 16 };
		struct pvdma_req r;
		uint16_t i;

		memcpy(b, &q, sizeof(q));
		for (i = 0; i < q.count; i++) {
			fp_entry(f, c->os, &r);
			memcpy(b + sizeof(q) + i * sizeof(r), &r, sizeof(r));
		}
		blen = sizeof(q) + q.count * sizeof(r);
		h.fn = 0;
		break;
	}
	case PROV_OP_COUNTERS:
	case PROV_OP_NOTIFY:
		h.fn = 0;
		break;
	case PROV_OP_CLAIM:
	case PROV_OP_RELEASE:
	case PROV_OP_RESET:
		break;
	default:		/* op 0: unknown */
		fz_bytes(f, b, blen = fz_u8(f) % 32);
		break;
	}
	/* Mutations: a body a little short or long, a wrong length or status, descriptors. */
	if (mut & 1)
		blen += (int8_t)fz_u8(f) % 9;
	if (blen > PROV_MAX_MSG)
		blen = 0;
	h.len = sizeof(h) + blen;
	if (mut & 2)
		h.len += (int8_t)fz_u8(f);
	if (mut & 4)
		h.status = fz_u8(f);
	if (mut & 16)
		*nfds = fz_u8(f) % 5;
	memcpy(msg, &h, sizeof(h));
	return sizeof(h) + blen;
}

static void fp_open(unsigned int i)
{
	fp_fc[i] = (struct fp_conn){ 0 };
	FZ_CHECK(dp_prov_conn_open(&fp_prov, &fp_c[i], &fp_fc[i]) == PROV_S_OK, "conn_open");
}

static void fp_close(unsigned int i)
{
	dp_prov_conn_close(&fp_c[i]);
	FZ_CHECK(fp_fc[i].gone, "conn_gone not called");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t msg[PROV_MAX_MSG + 600];
	struct fz f = { data, size };
	struct dp_prov_config cfg;
	uint8_t flags = fz_u8(&f);
	uint32_t shift = flags & 2 ? 14 : 12;
	unsigned int i, fn;

	fp = (struct fp_os){ .in = &f };
	fp_functions(fz_u64(&f) | 1, flags & 4);
	/* A read of the capability lists fails (listing reads the identity only). */
	fp.fail_read = flags & 8 ? 0x40 + fz_u8(&f) % 0x30 * 4 : 0;
	fp.fail_claim = flags & 16 ? PROV_S_BUSY : 0;
	cfg = (struct dp_prov_config){
		.dart = {
			.granule_shift = shift,
			.aperture_base = (uint64_t)fz_u8(&f) << shift,
			.aperture_size = (uint64_t)(1 + fz_u8(&f) % 128) << shift,
			.max_mappings = 1 + fz_u8(&f) % 16,
			.max_bytes = (uint64_t)(1 + fz_u8(&f) % 64) << shift,
		},
		.os_iova = flags & 1,
		.max_batch = 1 + fz_u8(&f) % 16,
		.features = fz_u8(&f) & PROV_F_ALL,
	};
	/* Interrupts by pending bits need the OS layer's irq_pending (macOS's model). */
	if (!(flags & 32))
		cfg.features &= ~PROV_F_IRQ_PENDING;
	FZ_CHECK(dp_prov_init(&fp_prov, &cfg, flags & 32 ? &fp_macos_ops : &fp_linux_ops,
			      &fp) == PROV_S_OK, "init");
	for (i = 0; i < FP_NFN; i++)
		FZ_CHECK(dp_prov_add_function(&fp_prov, 0x100 + i, &fn) ==
			 (i < 3 ? PROV_S_OK : PROV_S_NO_FUNCTION), "add_function %u", i);
	if (!fp_rep)
		fp_rep = malloc(PROV_MAX_MSG);
	for (i = 0; i < FP_NCONN; i++)
		fp_open(i);
	while (fz_more(&f)) {
		uint8_t cmd = fz_u8(&f);
		struct dp_prov_conn *c = &fp_c[(cmd >> 2) % FP_NCONN];
		unsigned int nfds;
		size_t len;

		switch (cmd & 3) {
		case 0:
		case 1:
			len = fp_build(&f, c, msg, &nfds);
			fp_send(c, msg, len, nfds);
			break;
		case 2:		/* raw bytes, perhaps longer than any message */
			len = fz_u16(&f) % 600;
			if (cmd & 0x80)
				len += PROV_MAX_MSG - 300;
			fz_bytes(&f, msg, len);
			fp_send(c, msg, len, fz_u8(&f) % 3);
			break;
		default:	/* the client goes away; another connects */
			fp_close(fp_conn_index(c));
			fp_open(fp_conn_index(c));
			break;
		}
	}
	for (i = 0; i < FP_NCONN; i++)
		fp_close(i);
	FZ_CHECK(!fp.nr && !fp_prov.total_live_mappings, "%u ranges left after every close",
		 fp.nr);
	for (i = 0; i < FP_NFN; i++)
		FZ_CHECK(!fp.holder[i], "fn %u still held after every close", i);
	return 0;
}
