// SPDX-License-Identifier: (GPL-2.0 OR MIT)
/*
 * The provider's portable core: every message is checked here before the OS layer sees
 * it, so the OS layer only ever acts on well-formed requests for functions the
 * connection holds. See dp_prov.h and include/provider_proto.h.
 */
#include "dp_prov.h"

/* Wire fields are read and written in place: every host this runs on is little-endian. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the wire is little-endian");

#define HDR	sizeof(struct prov_hdr)
#define PAGE_4K	4096u

/* Config space registers the core reads or protects. */
#define CFG_COMMAND	0x04
#define CFG_CLASS_REV	0x08
#define CFG_HDR_TYPE	0x0e
#define CFG_SUBSYSTEM	0x2c
#define CFG_CAP_PTR	0x34
#define CFG_SIZE	4096u
#define EXT_CAP_START	0x100
#define PM_CSR		4	/* PM Control/Status, from the PM capability */

/* Command bits a client may set: I/O, memory, bus master, parity, SERR, INTx disable. */
#define COMMAND_ALLOWED	0x0547u
#define COMMAND_IO	0x0001u
#define COMMAND_MEMORY	0x0002u
#define PM_STATE	0x0003u	/* PowerState: 0 is D0 */

/* A request as the op handlers see it, and where they write their reply. */
struct op_ctx {
	struct dp_prov_conn *c;
	struct dp_prov *p;
	unsigned int fn;
	struct dp_prov_fn *f;		/* NULL for ops without a function */
	const uint8_t *body;
	size_t blen;
	const int *fds;
	unsigned int nfds;
	uint8_t *out;			/* the reply body */
	size_t olen;
	int *rep_fd;
};

static void copy_bytes(void *dst, const void *src, size_t n)
{
	uint8_t *d = dst;
	const uint8_t *s = src;

	while (n--)
		*d++ = *s++;
}

static int cfg_read(struct dp_prov *p, unsigned int fn, uint32_t off, uint32_t size,
		    uint32_t *val)
{
	*val = 0;
	return p->ops->config_read(p->os, fn, off, size, val);
}

static unsigned int conn_claims(const struct dp_prov_conn *c)
{
	const struct dp_prov *p = c->prov;
	unsigned int i, n = 0;

	for (i = 0; i < p->nr_fns; i++)
		n += p->fns[i].owner == c;
	return n;
}

/*
 * Takes every mapping of c out of the IOMMU; the caller then empties the model in one
 * go (dp_dart_destroy or dp_dart_reset), which frees without unmapping one by one.
 */
static void unprogram_all(struct dp_prov_conn *c)
{
	struct dp_prov *p = c->prov;
	struct dp_tree_node *n;

	for (n = dp_tree_first(&c->dart.mappings); n; n = dp_tree_next(&c->dart.mappings, n)) {
		const struct dp_dart_mapping *m = dp_tree_entry(n, struct dp_dart_mapping, by_iova);

		p->ops->dma_unmap(p->os, c, m->iova, m->size);
	}
	p->total_live_mappings -= c->dart.stats.live_mappings;
}

static void release_fn(struct dp_prov_conn *c, unsigned int fn)
{
	struct dp_prov *p = c->prov;
	struct dp_prov_fn *f = &p->fns[fn];

	p->ops->release(p->os, c, fn);
	f->owner = NULL;
	f->caps = (struct dp_prov_caps){ 0 };
	f->claim = (struct prov_claim_rep){ 0 };
}

/* ---- HELLO ---- */

static int op_hello(struct op_ctx *x)
{
	struct dp_prov *p = x->p;
	struct prov_hello_req req;
	struct prov_hello_rep rep = { 0 };
	const struct dp_dart_config *d = &p->cfg.dart;
	unsigned int i;

	copy_bytes(&req, x->body, sizeof(req));
	if (x->c->hello || req.reserved)
		return PROV_S_INVALID;
	rep.version = PROV_VERSION(PROV_VERSION_MAJOR, PROV_VERSION_MINOR);
	if (req.version >> 16 != PROV_VERSION_MAJOR) {
		/* Only the version, so the client can say which one the provider speaks. */
		copy_bytes(x->out, &rep, sizeof(rep));
		x->olen = sizeof(rep);
		return PROV_S_VERSION;
	}
	x->c->hello = true;
	x->c->features = p->cfg.features & req.features;
	rep.features = x->c->features;
	rep.nr_functions = p->nr_fns;
	rep.limits = (struct prov_limits){
		.aperture_base = d->aperture_base, .aperture_size = d->aperture_size,
		.max_bytes = d->max_bytes, .max_mappings = d->max_mappings,
		.granule_shift = d->granule_shift, .max_batch = p->cfg.max_batch,
	};
	copy_bytes(x->out, &rep, sizeof(rep));
	for (i = 0; i < p->nr_fns; i++) {
		struct prov_function desc = p->fns[i].desc;

		/* HELLO comes first: whoever holds a function is another connection. */
		desc.flags = p->fns[i].owner ? PROV_FN_CLAIMED : 0;
		copy_bytes(x->out + sizeof(rep) + i * sizeof(desc), &desc, sizeof(desc));
	}
	x->olen = sizeof(rep) + p->nr_fns * sizeof(struct prov_function);
	return PROV_S_OK;
}

/* ---- CLAIM and RELEASE ---- */

/*
 * Walks both capability lists. A broken or malicious device may make them cyclic, so
 * each walk stops after as many steps as its space has dwords.
 */
static int find_caps(struct dp_prov *p, unsigned int fn, struct dp_prov_caps *caps)
{
	uint32_t v, ptr, steps;
	int st;

	/*
	 * The list is walked whatever the Status register's capabilities bit says:
	 * misreading garbage as a capability only refuses more writes.
	 */
	*caps = (struct dp_prov_caps){ 0 };
	st = cfg_read(p, fn, CFG_CAP_PTR, 1, &ptr);
	for (steps = 0; !st && (ptr &= 0xfc) >= 0x40 && steps < (0x100 - 0x40) / 4; steps++) {
		uint16_t *slot = NULL;

		st = cfg_read(p, fn, ptr, 2, &v);
		if (st)
			break;
		switch (v & 0xff) {
		case 0x01: slot = &caps->pm; break;
		case 0x05: slot = &caps->msi; break;
		case 0x10: slot = &caps->pcie; break;
		case 0x11: slot = &caps->msix; break;
		}
		if (slot && !*slot)
			*slot = ptr;
		ptr = v >> 8;
	}
	/* Only PCIe functions have extended config space. */
	for (ptr = EXT_CAP_START, steps = 0; !st && caps->pcie && ptr >= EXT_CAP_START &&
	     steps < (CFG_SIZE - EXT_CAP_START) / 4; steps++) {
		uint16_t *slot = NULL;

		st = cfg_read(p, fn, ptr, 4, &v);
		if (st || !v || v == 0xffffffff)
			break;
		switch (v & 0xffff) {
		case 0x000d: slot = &caps->acs; break;
		case 0x000f: slot = &caps->ats; break;
		case 0x0010: slot = &caps->sriov; break;
		case 0x0013: slot = &caps->pri; break;
		case 0x0015: slot = &caps->rebar; break;
		case 0x001b: slot = &caps->pasid; break;
		}
		if (slot && !*slot)
			*slot = ptr;
		ptr = (v >> 20) & 0xffc;
	}
	if (!st && caps->msi) {
		st = cfg_read(p, fn, caps->msi + 2, 2, &v);
		caps->msi_ctl = v;
	}
	if (!st && caps->rebar) {
		st = cfg_read(p, fn, caps->rebar + 8, 4, &v);
		/* 1 to 6; anything else protects all six slots rather than too few. */
		caps->rebar_bars = (v >> 5) & 7;
		if (!caps->rebar_bars || caps->rebar_bars > 6)
			caps->rebar_bars = 6;
	}
	return st;
}

/* Widens bar's hole to the 4 KiB pages of [off, off + len). */
static void hole_add(struct prov_claim_rep *rep, uint32_t bir_off, uint64_t len)
{
	struct prov_region *r;
	uint64_t off = bir_off & ~7u, start = DP_ALIGN_DOWN(off, PAGE_4K),
		 end = DP_ALIGN_UP(off + len, PAGE_4K);

	if ((bir_off & 7) >= PROV_REGION_ROM)	/* BIR 6 and 7 are reserved */
		return;
	r = &rep->regions[bir_off & 7];
	if (!r->size)
		return;
	if (r->hole_size) {
		if (r->hole_offset < start)
			start = r->hole_offset;
		if (r->hole_offset + r->hole_size > end)
			end = r->hole_offset + r->hole_size;
	}
	r->hole_offset = start;
	r->hole_size = end - start;
}

/* Where the MSI-X table and PBA lie, read before CLAIM so nothing can fail after it. */
struct msix_loc {
	uint32_t ctl, table, pba;	/* table and PBA: offset | BAR index */
};

static int msix_read(struct dp_prov *p, unsigned int fn, uint16_t msix, struct msix_loc *l)
{
	int st;

	*l = (struct msix_loc){ 0 };
	if (!msix)
		return PROV_S_OK;
	st = cfg_read(p, fn, msix + 2, 2, &l->ctl);
	if (!st)
		st = cfg_read(p, fn, msix + 4, 4, &l->table);
	if (!st)
		st = cfg_read(p, fn, msix + 8, 4, &l->pba);
	return st;
}

static void msix_holes(const struct msix_loc *l, struct prov_claim_rep *rep)
{
	uint32_t n = (l->ctl & 0x7ff) + 1;

	hole_add(rep, l->table, n * 16ull);
	hole_add(rep, l->pba, (n + 63) / 64 * 8ull);
}

static int op_claim(struct op_ctx *x)
{
	struct dp_prov *p = x->p;
	struct dp_prov_fn *f = x->f;
	struct prov_claim_rep rep = { 0 };
	struct dp_prov_caps caps;
	struct msix_loc msix;
	uint32_t ids, class_rev, ht, subsys;
	int st;

	if (f->owner == x->c)
		return PROV_S_INVALID;
	if (f->owner)
		return PROV_S_BUSY;
	st = cfg_read(p, x->fn, 0, 4, &ids);
	if (!st)
		st = cfg_read(p, x->fn, CFG_CLASS_REV, 4, &class_rev);
	if (!st)
		st = cfg_read(p, x->fn, CFG_HDR_TYPE, 1, &ht);
	if (!st)
		st = cfg_read(p, x->fn, CFG_SUBSYSTEM, 4, &subsys);
	if (st)
		return st;
	/* Only endpoints: a bridge's windows and bus numbers are the host's topology. */
	if (ht & 0x7f)
		return PROV_S_DENIED;
	st = find_caps(p, x->fn, &caps);
	if (!st)
		st = msix_read(p, x->fn, caps.msix, &msix);
	if (st)
		return st;
	st = p->ops->claim(p->os, x->c, x->fn, &rep);
	if (st)
		return st;
	rep.id = (struct prov_identity){
		.vendor = ids & 0xffff, .device = ids >> 16,
		.subsystem_vendor = subsys & 0xffff, .subsystem_device = subsys >> 16,
		.class_rev = class_rev, .header_type = 0,
	};
	if (caps.msix)
		msix_holes(&msix, &rep);
	f->owner = x->c;
	f->caps = caps;
	f->claim = rep;
	copy_bytes(x->out, &rep, sizeof(rep));
	x->olen = sizeof(rep);
	return PROV_S_OK;
}

static int op_release(struct op_ctx *x)
{
	struct dp_prov_conn *c = x->c;

	release_fn(c, x->fn);
	/* With no function left, a VFIO container loses its IOMMU; peaks and counts stay. */
	if (!conn_claims(c) && c->dart.stats.live_mappings) {
		unprogram_all(c);
		dp_dart_reset(&c->dart);
	}
	return PROV_S_OK;
}

/* ---- Config space ---- */

/*
 * A protected field: a write touching it is refused whole when deny and keep are 0,
 * else when it sets any of the deny bits or clears any of the keep bits (fields with
 * bit rules are at most 4 bytes).
 */
struct cfg_rule {
	uint32_t off, len, deny, keep;
};

static const struct cfg_rule header_rules[] = {
	{ 0x00, 4, 0, 0 },			/* vendor, device */
	/*
	 * With memory decode off a BAR access through the client's own mapping is an
	 * Unsupported Request, which some hosts treat as fatal: the OS layer turns it on.
	 */
	{ CFG_COMMAND, 2, 0xffff & ~COMMAND_ALLOWED, COMMAND_MEMORY },
	{ CFG_CLASS_REV, 4, 0, 0 },
	{ CFG_HDR_TYPE, 1, 0, 0 },
	{ 0x10, 24, 0, 0 },			/* BAR0..5: the host's address map */
	{ CFG_SUBSYSTEM, 4, 0, 0 },
	{ 0x30, 4, 0, 0 },			/* expansion ROM BAR */
	{ CFG_CAP_PTR, 1, 0, 0 },
	{ 0x3d, 1, 0, 0 },			/* interrupt pin */
};

static bool rule_refuses(const struct cfg_rule *r, uint32_t off, uint32_t size, uint32_t val)
{
	uint32_t i, o, v;

	for (i = 0; i < size; i++) {
		o = off + i;
		if (o < r->off || o - r->off >= r->len)
			continue;
		if (!r->deny && !r->keep)
			return true;
		v = val >> (8 * i);
		if ((v & (r->deny >> (8 * (o - r->off))) & 0xff) ||
		    (~v & (r->keep >> (8 * (o - r->off))) & 0xff))
			return true;
	}
	return false;
}

static bool has_io_bar(const struct prov_claim_rep *rep)
{
	unsigned int i;

	for (i = 0; i < PROV_REGION_ROM; i++)
		if (rep->regions[i].size && (rep->regions[i].flags & PROV_REGION_IO))
			return true;
	return false;
}

/* The fields of f, beyond the header's, that only the provider may write. */
static unsigned int fn_rules(const struct dp_prov_fn *f, struct cfg_rule *r)
{
	const struct dp_prov_caps *k = &f->caps;
	unsigned int n = 0, i;

	/* Its I/O BARs need I/O decode as memory BARs need memory decode. */
	if (has_io_bar(&f->claim))
		r[n++] = (struct cfg_rule){ CFG_COMMAND, 1, 0, COMMAND_IO };
	/* Out of D0 BAR accesses are Unsupported Requests too. */
	if (k->pm)
		r[n++] = (struct cfg_rule){ k->pm + PM_CSR, 2, PM_STATE, 0 };
	if (k->msi) {
		bool is64 = k->msi_ctl & 0x80;

		/* Control (enable, vectors), then address and data: the provider's to set. */
		r[n++] = (struct cfg_rule){ k->msi + 2, 2, 0, 0 };
		r[n++] = (struct cfg_rule){ k->msi + 4, is64 ? 8 : 4, 0, 0 };
		r[n++] = (struct cfg_rule){ k->msi + (is64 ? 12 : 8), 4, 0, 0 };
	}
	if (k->msix)
		r[n++] = (struct cfg_rule){ k->msix + 2, 2, 0, 0 };
	if (k->pcie) {
		/* Initiate FLR; link disable and retrain. */
		r[n++] = (struct cfg_rule){ k->pcie + 0x08, 2, 0x8000, 0 };
		r[n++] = (struct cfg_rule){ k->pcie + 0x10, 2, 0x0030, 0 };
	}
	if (k->ats)
		r[n++] = (struct cfg_rule){ k->ats + 6, 2, 0, 0 };
	if (k->pri)
		r[n++] = (struct cfg_rule){ k->pri + 4, 2, 0, 0 };
	if (k->pasid)
		r[n++] = (struct cfg_rule){ k->pasid + 6, 2, 0, 0 };
	if (k->sriov) {
		r[n++] = (struct cfg_rule){ k->sriov + 0x08, 2, 0, 0 };	/* control */
		r[n++] = (struct cfg_rule){ k->sriov + 0x10, 2, 0, 0 };	/* NumVFs */
	}
	for (i = 0; k->rebar && i < k->rebar_bars; i++)
		r[n++] = (struct cfg_rule){ k->rebar + 8 + 8 * i, 4, 0, 0 };
	if (k->acs)
		r[n++] = (struct cfg_rule){ k->acs + 6, 2, 0, 0 };
	return n;
}

static int config_filter(const struct dp_prov_fn *f, uint32_t off, uint32_t size, uint32_t val)
{
	struct cfg_rule rules[24];	/* fn_rules makes at most 20 */
	unsigned int i, n = fn_rules(f, rules);

	for (i = 0; i < sizeof(header_rules) / sizeof(header_rules[0]); i++)
		if (rule_refuses(&header_rules[i], off, size, val))
			return PROV_S_DENIED;
	for (i = 0; i < n; i++)
		if (rule_refuses(&rules[i], off, size, val))
			return PROV_S_DENIED;
	return PROV_S_OK;
}

/*
 * Naturally aligned 1, 2 or 4 bytes within the function's config space (256 bytes
 * without extended config space); writes through the filter.
 */
static int config_access(struct op_ctx *x, bool write, uint64_t off, uint32_t size,
			 uint32_t *val)
{
	struct dp_prov *p = x->p;
	int st;

	if ((size != 1 && size != 2 && size != 4) || off % size ||
	    off + size > x->f->claim.regions[PROV_REGION_CONFIG].size)
		return PROV_S_INVALID;
	if (!write)
		return cfg_read(p, x->fn, off, size, val);
	st = config_filter(x->f, off, size, *val);
	return st ? st : p->ops->config_write(p->os, x->fn, off, size, *val);
}

static int op_config(struct op_ctx *x, bool write)
{
	struct prov_config_req req;
	struct prov_config_rep rep = { 0 };
	int st;

	copy_bytes(&req, x->body, sizeof(req));
	if (req.reserved || (!write && req.value) ||
	    (write && req.size < 4 && req.value >> (8 * req.size)))
		return PROV_S_INVALID;
	st = config_access(x, write, req.offset, req.size, &req.value);
	if (st)
		return st;
	if (!write)
		rep.value = req.value;
	copy_bytes(x->out, &rep, sizeof(rep));
	x->olen = sizeof(rep);
	return PROV_S_OK;
}

static int op_config_read(struct op_ctx *x)
{
	return op_config(x, false);
}

static int op_config_write(struct op_ctx *x)
{
	return op_config(x, true);
}

/* ---- Regions ---- */

static int op_region_map(struct op_ctx *x)
{
	struct dp_prov *p = x->p;
	struct prov_region_map_req req;
	struct prov_region_map_rep rep = { 0 };
	int fd = -1, st;

	copy_bytes(&req, x->body, sizeof(req));
	if (req.reserved || req.region >= PROV_REGION_COUNT ||
	    !x->f->claim.regions[req.region].size)
		return PROV_S_INVALID;
	/* Config space only ever goes through the filter, whatever its flags say. */
	if (req.region == PROV_REGION_CONFIG ||
	    !(x->f->claim.regions[req.region].flags & PROV_REGION_MMAP))
		return PROV_S_DENIED;
	st = p->ops->region_map(p->os, x->fn, req.region, &rep, &fd);
	if (st)
		return st;
	*x->rep_fd = fd;
	copy_bytes(x->out, &rep, sizeof(rep));
	x->olen = sizeof(rep);
	return PROV_S_OK;
}

static int op_region(struct op_ctx *x, bool write)
{
	struct dp_prov *p = x->p;
	struct prov_region_req req;
	struct prov_region_rep rep = { 0 };
	const struct prov_region *r;
	uint32_t v32;
	int st;

	copy_bytes(&req, x->body, sizeof(req));
	if (req.region >= PROV_REGION_COUNT || (!write && req.value))
		return PROV_S_INVALID;
	r = &x->f->claim.regions[req.region];
	if (!r->size || (req.size != 1 && req.size != 2 && req.size != 4 && req.size != 8) ||
	    req.offset % req.size || req.offset > r->size || req.size > r->size - req.offset ||
	    (req.size < 8 && req.value >> (8 * req.size)))
		return PROV_S_INVALID;
	if (!(r->flags & (write ? PROV_REGION_WRITE : PROV_REGION_READ)))
		return PROV_S_DENIED;
	if (req.region == PROV_REGION_CONFIG) {
		v32 = req.value;
		st = config_access(x, write, req.offset, req.size, &v32);
		rep.value = write ? 0 : v32;
	} else if (write) {
		st = p->ops->region_write(p->os, x->fn, req.region, req.offset, req.size,
					  req.value);
	} else {
		st = p->ops->region_read(p->os, x->fn, req.region, req.offset, req.size,
					 &rep.value);
	}
	if (st)
		return st;
	copy_bytes(x->out, &rep, sizeof(rep));
	x->olen = sizeof(rep);
	return PROV_S_OK;
}

static int op_region_read(struct op_ctx *x)
{
	return op_region(x, false);
}

static int op_region_write(struct op_ctx *x)
{
	return op_region(x, true);
}

/* ---- Interrupts ---- */

/* start and count name vectors the function has: at least one, none past the last. */
static bool irq_range_ok(const struct dp_prov_fn *f, uint32_t type, uint32_t start,
			 uint32_t count)
{
	uint32_t n = f->claim.irqs[type].count;

	return count && start < n && count <= n - start;
}

static int op_irq_set(struct op_ctx *x)
{
	struct dp_prov *p = x->p;
	struct prov_irq_req req;
	unsigned int fds = 0;
	bool ok;

	copy_bytes(&req, x->body, sizeof(req));
	if (req.type >= PROV_IRQ_TYPES || req.action >= PROV_IRQ_ACTIONS)
		return PROV_S_INVALID;
	switch (req.action) {
	case PROV_IRQ_EVENTFD:
		if (!(x->c->features & PROV_F_IRQ_EVENTFD))
			return PROV_S_UNSUPPORTED;
		ok = irq_range_ok(x->f, req.type, req.start, req.count);
		fds = req.count;
		break;
	case PROV_IRQ_ENABLE:
		if (!(x->c->features & PROV_F_IRQ_PENDING))
			return PROV_S_UNSUPPORTED;
		ok = irq_range_ok(x->f, req.type, req.start, req.count);
		break;
	case PROV_IRQ_DISABLE:
		ok = !req.start && !req.count && x->f->claim.irqs[req.type].count;
		break;
	default:	/* MASK, UNMASK: the INTx level only */
		ok = req.type == PROV_IRQ_INTX && !req.start && req.count == 1 &&
		     x->f->claim.irqs[PROV_IRQ_INTX].count;
		break;
	}
	if (!ok)
		return PROV_S_INVALID;
	if (x->nfds != fds)
		return PROV_S_BAD_FD;
	return p->ops->irq_set(p->os, x->fn, &req, x->fds, x->nfds);
}

/*
 * IRQ_PENDING's request is a struct prov_irq_req (action zero): type, and up to 64
 * vectors from start.
 */
static int op_irq_pending(struct op_ctx *x)
{
	struct dp_prov *p = x->p;
	struct prov_irq_req req;
	struct prov_irq_pending_rep rep = { 0 };
	int st;

	if (!p->ops->irq_pending || !(x->c->features & PROV_F_IRQ_PENDING))
		return PROV_S_UNSUPPORTED;
	copy_bytes(&req, x->body, sizeof(req));
	if (req.type >= PROV_IRQ_TYPES || req.action || req.count > 64 ||
	    !irq_range_ok(x->f, req.type, req.start, req.count))
		return PROV_S_INVALID;
	st = p->ops->irq_pending(p->os, x->fn, req.type, req.start, req.count, &rep.bits);
	if (st)
		return st;
	copy_bytes(x->out, &rep, sizeof(rep));
	x->olen = sizeof(rep);
	return PROV_S_OK;
}

static int op_notify(struct op_ctx *x)
{
	struct dp_prov *p = x->p;

	if (!p->ops->notify || !(x->c->features & PROV_F_IRQ_PENDING))
		return PROV_S_UNSUPPORTED;
	return p->ops->notify(p->os, x->c, x->rep_fd);
}

static int op_reset(struct op_ctx *x)
{
	struct dp_prov *p = x->p;
	struct prov_reset_rep rep = { 0 };
	int st;

	st = p->ops->reset(p->os, x->fn, &rep.method);
	if (st)
		return st;
	p->resets++;
	copy_bytes(x->out, &rep, sizeof(rep));
	x->olen = sizeof(rep);
	return PROV_S_OK;
}

/* ---- DMA ---- */

static int op_dma_memory(struct op_ctx *x)
{
	struct dp_prov *p = x->p;
	struct dp_prov_conn *c = x->c;
	struct prov_dma_memory_req req;
	uint64_t g = 1ull << p->cfg.dart.granule_shift;
	bool has_fd = c->features & PROV_F_DMA_FD;
	int st;

	copy_bytes(&req, x->body, sizeof(req));
	if (c->mem_size || !req.size || req.size % g || req.base + req.size < req.base ||
	    (has_fd && req.base))
		return PROV_S_INVALID;
	if (x->nfds != (has_fd ? 1u : 0u))
		return PROV_S_BAD_FD;
	st = p->ops->dma_memory(p->os, c, req.size, req.base, has_fd ? x->fds[0] : -1);
	if (st)
		return st;
	c->mem_size = req.size;
	return PROV_S_OK;
}

/* The core chooses the bus address with the DART model, then the OS maps it there. */
static int map_core_iova(struct dp_prov_conn *c, struct pvdma_req *r)
{
	struct dp_prov *p = c->prov;
	struct dp_dart_stats before = c->dart.stats;
	const struct dp_dart_mapping *m;
	uint64_t iova, page, size;
	int st;

	st = dp_dart_map(&c->dart, r->gpa, r->len, r->flags, &iova);
	if (st)
		return st;
	m = dp_dart_lookup(&c->dart, iova);
	page = m->iova;
	size = m->size;
	if (p->ops->dma_map(p->os, c, m->pa, &size, m->perm, &page)) {
		/* As if the entry never reached the model: no map, unmap or peak from it. */
		dp_dart_unmap(&c->dart, iova, r->len);
		c->dart.stats = before;
		return PROV_S_IO;
	}
	r->iova = iova;
	r->mapped = r->len;
	return PROV_S_OK;
}

/*
 * The OS's IOMMU chooses the bus address and perhaps maps only a first part; the
 * model, asked first so the caps hold, records what it did.
 */
static int map_os_iova(struct dp_prov_conn *c, struct pvdma_req *r)
{
	struct dp_prov *p = c->prov;
	uint64_t g = 1ull << p->cfg.dart.granule_shift;
	uint64_t first, want, size, page = 0, len, iova;
	struct dp_dart_stats before;
	int st;

	st = dp_dart_admit(&c->dart, r->gpa, r->len, r->flags, &first, &want);
	if (st)
		return st;
	size = want;
	if (p->ops->dma_map(p->os, c, first, &size, r->flags, &page))
		return PROV_S_IO;
	before = c->dart.stats;
	len = size < want ? size - (r->gpa - first) : r->len;
	/* An answer beyond the contract, or an address the model holds, is the OS's fault. */
	if (!size || size > want || size % g || page % g ||
	    dp_dart_map_at(&c->dart, r->gpa, len, r->flags, page, &iova)) {
		p->ops->dma_unmap(p->os, c, page, size);
		c->dart.stats = before;
		return PROV_S_IO;
	}
	r->iova = iova;
	r->mapped = len;
	return PROV_S_OK;
}

static int dma_map(struct dp_prov_conn *c, struct pvdma_req *r)
{
	struct dp_prov *p = c->prov;
	int st;

	/* The memory is a granule multiple, so the pages around the range lie in it too. */
	if (r->gpa > c->mem_size || r->len > c->mem_size - r->gpa)
		return PROV_S_BAD_ADDRESS;
	st = p->cfg.os_iova ? map_os_iova(c, r) : map_core_iova(c, r);
	p->total_live_mappings += st == PROV_S_OK;
	return st;
}

static int dma_unmap(struct dp_prov_conn *c, const struct pvdma_req *r)
{
	struct dp_prov *p = c->prov;
	const struct dp_dart_mapping *m;
	uint64_t start = 0, size = 0;
	int st;

	m = dp_dart_lookup(&c->dart, r->iova);
	if (m) {
		start = m->iova;
		size = m->size;
	}
	/* The model decides whether (iova, len) names a live mapping exactly. */
	st = dp_dart_unmap(&c->dart, r->iova, r->len);
	if (st)
		return st;
	p->ops->dma_unmap(p->os, c, start, size);
	p->total_live_mappings--;
	return PROV_S_OK;
}

static int dma_entry(struct dp_prov_conn *c, struct pvdma_req *r)
{
	int st = dp_req_check(r->op, r->flags, r->gpa, r->len, r->iova, r->mapped,
			      r->reserved);

	if (st)
		return st;
	return r->op == PVDMA_OP_MAP ? dma_map(c, r) : dma_unmap(c, r);
}

static int op_dma(struct op_ctx *x)
{
	struct dp_prov_conn *c = x->c;
	struct prov_dma_batch b;
	struct pvdma_req r;
	size_t off;
	uint32_t i;

	copy_bytes(&b, x->body, sizeof(b));
	if (!b.count || b.count > x->p->cfg.max_batch || b.reserved || b.done ||
	    x->blen != sizeof(b) + b.count * sizeof(r))
		return PROV_S_BAD_BATCH;
	if (!c->mem_size)
		return PROV_S_NOT_READY;
	if (!conn_claims(c))
		return PROV_S_NOT_CLAIMED;
	/* Each entry stands alone, as in a pvdma batch: a refusal does not stop the rest. */
	for (i = 0; i < b.count; i++) {
		off = sizeof(b) + i * sizeof(r);
		copy_bytes(&r, x->body + off, sizeof(r));
		r.status = dma_entry(c, &r);
		c->refused += r.status != PROV_S_OK;
		copy_bytes(x->out + off, &r, sizeof(r));
	}
	b.done = b.count;
	copy_bytes(x->out, &b, sizeof(b));
	x->olen = x->blen;
	return PROV_S_OK;
}

static int op_counters(struct op_ctx *x)
{
	const struct dp_dart_stats *s = &x->c->dart.stats;
	struct prov_counters rep = {
		.live_mappings = s->live_mappings, .peak_mappings = s->peak_mappings,
		.live_bytes = s->live_bytes, .peak_bytes = s->peak_bytes,
		.maps = s->maps, .unmaps = s->unmaps, .refused = x->c->refused,
		.clients = x->p->clients, .bad_requests = x->p->bad_requests,
		.total_live_mappings = x->p->total_live_mappings, .resets = x->p->resets,
	};

	copy_bytes(x->out, &rep, sizeof(rep));
	x->olen = sizeof(rep);
	return PROV_S_OK;
}

/* ---- Dispatch ---- */

enum op_fn {
	FN_NONE,	/* hdr.fn must be zero */
	FN_ANY,		/* a listed function */
	FN_HELD,	/* a listed function this connection holds */
};

static const struct op_row {
	uint16_t body;		/* body bytes; for DMA, the least */
	bool var;		/* the handler checks the rest of the length */
	uint8_t fn;		/* enum op_fn */
	bool fds;		/* takes descriptors: the handler counts them */
	int (*handle)(struct op_ctx *x);
} op_table[PROV_OP_COUNT] = {
	[PROV_OP_HELLO] = { sizeof(struct prov_hello_req), false, FN_NONE, false, op_hello },
	[PROV_OP_CLAIM] = { 0, false, FN_ANY, false, op_claim },
	[PROV_OP_RELEASE] = { 0, false, FN_HELD, false, op_release },
	[PROV_OP_CONFIG_READ] = { sizeof(struct prov_config_req), false, FN_HELD, false,
				  op_config_read },
	[PROV_OP_CONFIG_WRITE] = { sizeof(struct prov_config_req), false, FN_HELD, false,
				   op_config_write },
	[PROV_OP_REGION_MAP] = { sizeof(struct prov_region_map_req), false, FN_HELD, false,
				 op_region_map },
	[PROV_OP_REGION_READ] = { sizeof(struct prov_region_req), false, FN_HELD, false,
				  op_region_read },
	[PROV_OP_REGION_WRITE] = { sizeof(struct prov_region_req), false, FN_HELD, false,
				   op_region_write },
	[PROV_OP_IRQ_SET] = { sizeof(struct prov_irq_req), false, FN_HELD, true, op_irq_set },
	[PROV_OP_IRQ_PENDING] = { sizeof(struct prov_irq_req), false, FN_HELD, false,
				  op_irq_pending },
	[PROV_OP_DMA_MEMORY] = { sizeof(struct prov_dma_memory_req), false, FN_NONE, true,
				 op_dma_memory },
	[PROV_OP_DMA] = { sizeof(struct prov_dma_batch), true, FN_NONE, false, op_dma },
	[PROV_OP_RESET] = { 0, false, FN_HELD, false, op_reset },
	[PROV_OP_COUNTERS] = { 0, false, FN_NONE, false, op_counters },
	[PROV_OP_NOTIFY] = { 0, false, FN_NONE, false, op_notify },
};

/* Everything a request must satisfy before its op's handler runs. */
static int check_request(struct op_ctx *x, const struct prov_hdr *h, const void *req,
			 size_t len)
{
	const struct op_row *row;
	size_t blen = len - HDR;

	x->body = (const uint8_t *)req + HDR;
	x->blen = blen;
	if (h->len != len || h->status)
		return PROV_S_INVALID;
	if (!h->op || h->op >= PROV_OP_COUNT)
		return PROV_S_UNSUPPORTED;
	if (!x->c->hello && h->op != PROV_OP_HELLO)
		return PROV_S_NOT_READY;
	row = &op_table[h->op];
	if (row->var ? blen < row->body : blen != row->body)
		return PROV_S_INVALID;
	if (row->fn == FN_NONE) {
		if (h->fn)
			return PROV_S_INVALID;
	} else {
		if (h->fn >= x->p->nr_fns)
			return PROV_S_NO_FUNCTION;
		x->fn = h->fn;
		x->f = &x->p->fns[h->fn];
		if (row->fn == FN_HELD && x->f->owner != x->c)
			return PROV_S_NOT_CLAIMED;
	}
	if (!row->fds && x->nfds)
		return PROV_S_BAD_FD;
	return row->handle(x);
}

size_t dp_prov_refuse(struct dp_prov_conn *c, const void *req, size_t len, int status,
		      void *rep)
{
	struct prov_hdr h = { 0 };

	/* Whatever header there is is echoed, so even a truncated request is answered. */
	copy_bytes(&h, req, len < HDR ? len : HDR);
	h.status = status;
	h.len = HDR;
	copy_bytes(rep, &h, HDR);
	c->prov->bad_requests++;
	return HDR;
}

size_t dp_prov_handle(struct dp_prov_conn *c, const void *req, size_t len,
		      const int *fds, unsigned int nfds, void *rep, int *rep_fd)
{
	struct prov_hdr h;
	struct op_ctx x = {
		.c = c, .p = c->prov, .fds = fds, .nfds = nfds, .out = (uint8_t *)rep + HDR,
		.rep_fd = rep_fd,
	};
	int st;

	*rep_fd = -1;
	if (len < HDR || len > PROV_MAX_MSG)
		return dp_prov_refuse(c, req, len, PROV_S_INVALID, rep);
	copy_bytes(&h, req, HDR);
	st = check_request(&x, &h, req, len);
	/* A refusal is the header alone, but for VERSION's provider version. */
	if (st && st != PROV_S_VERSION)
		return dp_prov_refuse(c, req, len, st, rep);
	c->prov->bad_requests += st != PROV_S_OK;
	h.status = st;
	h.len = HDR + x.olen;
	copy_bytes(rep, &h, HDR);
	return h.len;
}

/* ---- Set-up and tear-down ---- */

int dp_prov_init(struct dp_prov *p, const struct dp_prov_config *cfg,
		 const struct dp_prov_os_ops *ops, void *os)
{
	struct dp_dart probe;
	int st;

	if (!cfg->max_batch || cfg->max_batch > PROV_MAX_BATCH ||
	    (cfg->features & ~PROV_F_ALL) || !ops->config_read || !ops->config_write ||
	    !ops->claim || !ops->release || !ops->region_map || !ops->region_read ||
	    !ops->region_write || !ops->irq_set || !ops->reset || !ops->dma_memory ||
	    !ops->dma_map || !ops->dma_unmap || !ops->conn_gone ||
	    !ops->irq_pending != !ops->notify ||
	    (!ops->irq_pending && (cfg->features & PROV_F_IRQ_PENDING)))
		return PROV_S_INVALID;
	st = dp_dart_init(&probe, &cfg->dart);
	if (st)
		return st == PVDMA_S_NO_SPACE ? PROV_S_NO_SPACE : PROV_S_INVALID;
	dp_dart_destroy(&probe);
	*p = (struct dp_prov){ .cfg = *cfg, .ops = ops, .os = os };
	return PROV_S_OK;
}

int dp_prov_add_function(struct dp_prov *p, uint32_t rid, unsigned int *fn)
{
	unsigned int i, n = p->nr_fns;
	uint32_t ids, class_rev;
	int st;

	if (n == PROV_MAX_FUNCTIONS)
		return PROV_S_INVALID;
	for (i = 0; i < n; i++)
		if (p->fns[i].desc.rid == rid)
			return PROV_S_INVALID;
	st = cfg_read(p, n, 0, 4, &ids);
	if (!st)
		st = cfg_read(p, n, CFG_CLASS_REV, 4, &class_rev);
	if (st)
		return st;
	if ((ids & 0xffff) == 0xffff)
		return PROV_S_NO_FUNCTION;
	p->fns[n] = (struct dp_prov_fn){
		.desc = { .rid = rid, .vendor = ids & 0xffff, .device = ids >> 16,
			  .class_rev = class_rev },
	};
	p->nr_fns++;
	*fn = n;
	return PROV_S_OK;
}

int dp_prov_conn_open(struct dp_prov *p, struct dp_prov_conn *c, void *os)
{
	int st;

	*c = (struct dp_prov_conn){ .prov = p, .os = os };
	st = dp_dart_init(&c->dart, &p->cfg.dart);
	if (st)
		return st;
	p->clients++;
	return PROV_S_OK;
}

void dp_prov_conn_close(struct dp_prov_conn *c)
{
	struct dp_prov *p = c->prov;
	unsigned int i;

	for (i = 0; i < p->nr_fns; i++)
		if (p->fns[i].owner == c)
			release_fn(c, i);
	unprogram_all(c);
	dp_dart_destroy(&c->dart);
	p->ops->conn_gone(p->os, c);
}

const char *dp_prov_status_name(int status)
{
	static const char *const names[PROV_S_COUNT] = {
		[PROV_S_OK] = "OK", [PROV_S_INVALID] = "INVALID",
		[PROV_S_BAD_ADDRESS] = "BAD_ADDRESS", [PROV_S_UNSUPPORTED] = "UNSUPPORTED",
		[PROV_S_NO_MAPPINGS] = "NO_MAPPINGS", [PROV_S_NO_BYTES] = "NO_BYTES",
		[PROV_S_NO_SPACE] = "NO_SPACE", [PROV_S_NOT_FOUND] = "NOT_FOUND",
		[PROV_S_NOT_READY] = "NOT_READY", [PROV_S_BAD_BATCH] = "BAD_BATCH",
		[PROV_S_VERSION] = "VERSION", [PROV_S_NO_FUNCTION] = "NO_FUNCTION",
		[PROV_S_BUSY] = "BUSY", [PROV_S_NOT_CLAIMED] = "NOT_CLAIMED",
		[PROV_S_DENIED] = "DENIED", [PROV_S_BAD_FD] = "BAD_FD", [PROV_S_IO] = "IO",
	};

	return status >= 0 && status < PROV_S_COUNT ? names[status] : "UNKNOWN";
}
