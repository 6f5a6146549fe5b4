// SPDX-License-Identifier: GPL-2.0
/*
 * pvhostile: a hostile guest for pvdma (tests/guest/fault-hostile.sh). It finds the
 * pvdma device without binding it (pvdma.ko keeps driving it for the real drivers),
 * maps its BAR0 and, from one thread per CPU, each with its own batch buffer as the
 * spec allows, rings random and adversarial batches for `secs` seconds: random bytes,
 * bad operations, reserved and output fields set, zero, overflowing and non-RAM
 * ranges, MMIO ranges, bad batch headers, counts over MAX_BATCH, doorbells outside
 * RAM, UNMAPs of never-mapped, partial and already unmapped ranges, and maps until
 * the host's caps refuse. Every answer is checked against docs/specs/pvdma.rst;
 * disagreements are counted in `violations` and the first ones logged.
 *
 * It never harms the guest on purpose: it never writes STATUS (which would drop
 * pvdma.ko's mappings), never unmaps a mapping it did not make (its UNMAPs name its
 * own mappings, addresses outside the aperture, or a mapping it unmapped earlier in
 * the same batch, which the device serves as a whole), and never points a doorbell
 * at RAM it does not own (the device writes the batch status there).
 *
 * When the time is up it unmaps everything but `hold` of its own mappings and sets
 * `done`; the test then compares the host's LIVE_MAPPINGS with pvdma.ko's count plus
 * `live`. Unloading unmaps the rest and logs "pvhostile: released N, live 0".
 *
 * Parameters: secs, hold, seed, ram_start/ram_end (one range of System RAM, from
 * /proc/iomem: where MAPs of random guest RAM go).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/delay.h>
#include <linux/io.h>
#include <linux/kthread.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>
#include "pvdma_proto.h"

static uint secs = 60;
module_param(secs, uint, 0444);
static uint hold = 32;
module_param(hold, uint, 0444);
static ulong seed = 1;
module_param(seed, ulong, 0444);
static ulong ram_start, ram_end;
module_param(ram_start, ulong, 0444);
module_param(ram_end, ulong, 0444);
/* Results, read from /sys/module/pvhostile/parameters/. */
static ulong live, batches, entries, maps_ok, unmaps_ok, refused, cap_hits, violations;
static uint done;
module_param(live, ulong, 0444);
module_param(batches, ulong, 0444);
module_param(entries, ulong, 0444);
module_param(maps_ok, ulong, 0444);
module_param(unmaps_ok, ulong, 0444);
module_param(refused, ulong, 0444);
module_param(cap_hits, ulong, 0444);
module_param(violations, ulong, 0444);
module_param(done, uint, 0444);

#define BUF_ORDER	4	/* 64 KiB: a header and up to 2047 entries */
#define BUF_BYTES	(PAGE_SIZE << BUF_ORDER)
#define BUF_ENTRIES	((BUF_BYTES - sizeof(struct pvdma_batch)) / sizeof(struct pvdma_req))

struct own_map {
	u64 iova;
	u32 len;
};

struct hthread {
	struct task_struct *task;
	struct pvdma_batch *b;
	phys_addr_t b_pa;
	struct own_map *maps;	/* this thread's live mappings */
	u32 nmaps, cap;
	u64 rng;
	int id;
	bool finished;	/* down to what it holds */
};

static struct pci_dev *pdev;
static void __iomem *regs;
static u32 granule_shift, max_batch, max_mappings;
static u64 max_bytes, ap_base, ap_size, bar_pa;
static struct hthread *threads;
static int nthreads;
static DEFINE_MUTEX(fill_lock);	/* one thread at a time drives the host to its caps */
static DEFINE_SPINLOCK(stat_lock);

static u64 rnd(struct hthread *t)
{
	/* xorshift64*: reproducible from `seed` per thread */
	t->rng ^= t->rng >> 12;
	t->rng ^= t->rng << 25;
	t->rng ^= t->rng >> 27;
	return t->rng * 0x2545f4914f6cdd1dULL;
}

static u64 rd64(unsigned int lo)
{
	return readl(regs + lo) | (u64)readl(regs + lo + 4) << 32;
}

static void violation(struct hthread *t, const char *what, u64 a, u64 b)
{
	unsigned long n;

	spin_lock(&stat_lock);
	n = ++violations;
	spin_unlock(&stat_lock);
	if (n <= 20)
		pr_err("violation (thread %d): %s (%#llx, %#llx)\n", t->id, what, a, b);
}

static void add(ulong *c, ulong n)
{
	spin_lock(&stat_lock);
	*c += n;
	spin_unlock(&stat_lock);
}

/* Rings the thread's batch with `count` in its header; returns the status it got. */
static u16 ring(struct hthread *t, u16 count, u64 pa)
{
	struct pvdma_batch *b = t->b;

	b->count = cpu_to_le16(count);
	b->status = cpu_to_le16(PVDMA_S_PENDING);
	b->done = cpu_to_le32(0xdeadbeef);
	writel(pa >> 12, regs + PVDMA_REG_DOORBELL);
	/* A register read orders what follows after the doorbell; the status is in RAM. */
	readl(regs + PVDMA_REG_BATCH_STATUS);
	rmb();
	add(&batches, 1);
	return le16_to_cpu(READ_ONCE(b->status));
}

static void track(struct hthread *t, u64 iova, u32 len)
{
	if (t->nmaps < t->cap) {
		t->maps[t->nmaps++] = (struct own_map){ iova, len };
		add(&live, 1);
		add(&maps_ok, 1);
	} else {
		violation(t, "more own mappings than tracked", iova, len);
	}
}

/* A MAP the host may grant: check its answer and keep what it mapped. */
static void check_map(struct hthread *t, struct pvdma_req *r, u64 gpa, u32 len)
{
	u16 st = le16_to_cpu(r->status);
	u64 iova = le64_to_cpu(r->iova);
	u32 mapped = le32_to_cpu(r->mapped);
	u64 g = 1ULL << granule_shift;

	if (st == PVDMA_S_NO_MAPPINGS || st == PVDMA_S_NO_BYTES || st == PVDMA_S_NO_SPACE) {
		add(&cap_hits, 1);
		return;
	}
	if (st != PVDMA_S_OK) {
		violation(t, "valid MAP refused with status", st, gpa);
		return;
	}
	if (!mapped || mapped > len || iova < ap_base || iova + mapped > ap_base + ap_size ||
	    (iova & (g - 1)) != (gpa & (g - 1)))
		violation(t, "MAP answer outside the contract (iova, mapped)", iova, mapped);
	if (mapped)
		track(t, iova, mapped);
}

static void expect(struct hthread *t, struct pvdma_req *r, u16 want, const char *what)
{
	u16 st = le16_to_cpu(r->status);

	if (st != want) {
		violation(t, what, st, want);
		if (st == PVDMA_S_OK && r->op == PVDMA_OP_MAP)	/* keep it to unmap it */
			track(t, le64_to_cpu(r->iova), le32_to_cpu(r->mapped));
	} else {
		add(&refused, 1);
	}
}

static u64 own_gpa(struct hthread *t, u32 *len)
{
	u64 off = rnd(t) % BUF_BYTES;

	*len = 1 + rnd(t) % (BUF_BYTES - off);
	return t->b_pa + off;
}

static u64 ram_gpa(struct hthread *t, u32 *len)
{
	u64 span = ram_end - ram_start, off;

	if (span < SZ_1M)
		return own_gpa(t, len);
	off = rnd(t) % (span - 4096);
	*len = 1 + rnd(t) % min_t(u64, span - off, SZ_4M);
	return ram_start + off;
}

enum kind { K_MAP_OWN, K_MAP_RAM, K_BAD_OP, K_BAD_FLAGS, K_RESERVED, K_OUTPUT, K_ZERO_LEN,
	    K_OVERFLOW, K_NOT_RAM, K_MMIO, K_PAST_RAM, K_UNMAP_OUTSIDE, K_UNMAP_FIELDS,
	    K_RANDOM, K_NKINDS };

/* Fills entry i with one kind of request; returns the kind. */
static int fill(struct hthread *t, struct pvdma_req *r, u64 *gpa, u32 *len)
{
	int k = rnd(t) % K_NKINDS;
	u64 x = rnd(t);

	memset(r, 0, sizeof(*r));
	r->op = PVDMA_OP_MAP;
	r->flags = 1 + x % 3;
	r->status = cpu_to_le16(PVDMA_S_PENDING);
	*gpa = own_gpa(t, len);
	switch (k) {
	case K_MAP_RAM: *gpa = ram_gpa(t, len); break;
	case K_BAD_OP: r->op = (x >> 8) & 0xff; if (r->op == 1 || r->op == 2) r->op = 0; break;
	case K_BAD_FLAGS: r->flags = (x >> 8) & 1 ? 0 : 4 << (x >> 9) % 6; break;
	case K_RESERVED: r->reserved = cpu_to_le32(1 | (u32)(x >> 8)); break;
	case K_OUTPUT:
		if (x & 256)
			r->iova = cpu_to_le64(ap_base + (x >> 9));
		else
			r->mapped = cpu_to_le32(1 | (u32)(x >> 9));
		break;
	case K_ZERO_LEN: *len = 0; break;
	case K_OVERFLOW:
		*len = 0x1000 + (x >> 8) % 0x100000;
		*gpa = ~0ULL - (x >> 40) % *len;	/* gpa + len wraps */
		break;
	case K_NOT_RAM: *gpa = (1ULL << 46) + (x & ((1ULL << 40) - 1)); break;
	case K_MMIO: *gpa = bar_pa + (x & 0xfff); *len = 4; break;
	case K_PAST_RAM: *gpa = ram_end - 4096; *len = 0xffffffff; break;
	case K_UNMAP_OUTSIDE:
		r->op = PVDMA_OP_UNMAP;
		r->flags = 0;
		*gpa = 0;
		/* Above the aperture: never anyone's mapping. */
		r->iova = cpu_to_le64(ap_base + ap_size + ((x >> 8) & ((1ULL << 36) - 1)));
		break;
	case K_UNMAP_FIELDS:
		r->op = PVDMA_OP_UNMAP;
		r->flags = x & 256 ? 1 : 0;
		*gpa = x & 256 ? 0 : 4096;
		r->mapped = cpu_to_le32(x & 256 ? 0 : 1);
		r->iova = cpu_to_le64(ap_base + ap_size);
		break;
	case K_RANDOM: {
		u64 *w = (u64 *)r;

		w[0] = rnd(t); w[1] = rnd(t); w[2] = rnd(t); w[3] = rnd(t);
		r->reserved |= cpu_to_le32(1);	/* never a valid entry */
		*gpa = le64_to_cpu(r->gpa);
		*len = le32_to_cpu(r->len);
		return k;
	}
	}
	r->gpa = cpu_to_le64(*gpa);
	r->len = cpu_to_le32(*len);
	return k;
}

static void check(struct hthread *t, struct pvdma_req *r, int k, u64 gpa, u32 len)
{
	switch (k) {
	case K_MAP_OWN: case K_MAP_RAM: check_map(t, r, gpa, len); break;
	case K_BAD_OP: expect(t, r, PVDMA_S_UNSUPPORTED, "bad op not UNSUPPORTED"); break;
	case K_NOT_RAM: case K_MMIO: case K_PAST_RAM:
		expect(t, r, PVDMA_S_BAD_ADDRESS, "non-RAM MAP not BAD_ADDRESS");
		break;
	case K_UNMAP_OUTSIDE: expect(t, r, PVDMA_S_NOT_FOUND, "stray UNMAP not NOT_FOUND"); break;
	case K_RANDOM:
		if (le16_to_cpu(r->status) == PVDMA_S_OK || le16_to_cpu(r->status) > PVDMA_S_BAD_BATCH)
			violation(t, "random entry got status", le16_to_cpu(r->status), 0);
		else
			add(&refused, 1);
		break;
	default: expect(t, r, PVDMA_S_INVALID, "malformed entry not INVALID"); break;
	}
}

/* A batch of mixed requests, each checked. */
static void mixed(struct hthread *t)
{
	u32 n = 1 + rnd(t) % min_t(u32, max_batch, 64), i;
	int kinds[64];
	u64 gpas[64];
	u32 lens[64];
	u16 st;

	for (i = 0; i < n; i++)
		kinds[i] = fill(t, &t->b->req[i], &gpas[i], &lens[i]);
	st = ring(t, n, t->b_pa);
	if (st != PVDMA_S_OK || le32_to_cpu(t->b->done) != n) {
		violation(t, "valid batch: status, done", st, le32_to_cpu(t->b->done));
		return;
	}
	for (i = 0; i < n; i++)
		check(t, &t->b->req[i], kinds[i], gpas[i], lens[i]);
	add(&entries, n);
}

/*
 * UNMAPs of some own mappings, each preceded by a partial UNMAP of it (NOT_FOUND) and
 * sometimes followed by a second UNMAP of it (NOT_FOUND: the first took it).
 */
static void unmap_some(struct hthread *t, u32 want)
{
	struct pvdma_batch *b = t->b;
	u32 n = 0, i, taken = 0;
	u8 what[64];	/* 0 partial, 1 real, 2 again */
	u16 st;

	while (taken < want && t->nmaps && n + 3 <= min_t(u32, max_batch, 64)) {
		u32 j = rnd(t) % t->nmaps;
		struct own_map m = t->maps[j];

		t->maps[j] = t->maps[--t->nmaps];
		taken++;
		b->req[n] = (struct pvdma_req){ .op = PVDMA_OP_UNMAP,
			.status = cpu_to_le16(PVDMA_S_PENDING),
			.iova = cpu_to_le64(m.iova + (m.len > 1 ? 0 : 1)),
			.len = cpu_to_le32(m.len > 1 ? m.len - 1 : 1) };
		what[n++] = 0;
		b->req[n] = (struct pvdma_req){ .op = PVDMA_OP_UNMAP,
			.status = cpu_to_le16(PVDMA_S_PENDING),
			.iova = cpu_to_le64(m.iova), .len = cpu_to_le32(m.len) };
		what[n++] = 1;
		if (rnd(t) & 1) {
			b->req[n] = b->req[n - 1];
			what[n++] = 2;
		}
	}
	if (!n)
		return;
	st = ring(t, n, t->b_pa);
	if (st != PVDMA_S_OK) {
		violation(t, "UNMAP batch status", st, n);
		return;
	}
	for (i = 0; i < n; i++) {
		u16 s = le16_to_cpu(b->req[i].status);

		if (what[i] == 1) {
			if (s == PVDMA_S_OK) {
				add(&unmaps_ok, 1);
				add(&live, -1UL);
			} else {
				violation(t, "UNMAP of an own mapping", s, le64_to_cpu(b->req[i].iova));
			}
		} else if (s != PVDMA_S_NOT_FOUND) {
			violation(t, "partial or second UNMAP not NOT_FOUND", s,
				  le64_to_cpu(b->req[i].iova));
		}
	}
	add(&entries, n);
}

/* Bad headers and doorbells: nothing processed, entries untouched. */
static void bad_batch(struct hthread *t)
{
	struct pvdma_batch *b = t->b;
	u64 x = rnd(t);
	u32 i, n = 4;
	u16 count = 1 + x % n, st;
	u64 pa = t->b_pa;

	for (i = 0; i < n + 1; i++)
		b->req[i] = (struct pvdma_req){ .op = PVDMA_OP_MAP, .flags = PVDMA_MAP_READ,
			.status = cpu_to_le16(PVDMA_S_PENDING), .len = cpu_to_le32(4096),
			.gpa = cpu_to_le64(t->b_pa) };
	b->flags = 0;
	b->reserved = 0;
	b->reserved2 = 0;
	switch ((x >> 8) % 7) {
	case 0: count = 0; break;
	case 1: count = max_batch + 1; break;
	case 2: count = 0xffff; break;
	case 3: b->flags = cpu_to_le16(1 << ((x >> 16) % 16)); break;
	case 4: b->reserved = cpu_to_le16(1 << ((x >> 16) % 16)); break;
	case 5: b->reserved2 = cpu_to_le32(1u << ((x >> 16) % 32)); break;
	case 6:
		/* A doorbell outside RAM: the BAR, or far above RAM. Nothing to read back. */
		pa = (x >> 16) & 1 ? bar_pa : (1ULL << 40) + ((x >> 20) << 12 & ((1ULL << 43) - 1));
		writel(pa >> 12, regs + PVDMA_REG_DOORBELL);
		readl(regs + PVDMA_REG_BATCH_STATUS);
		add(&batches, 1);
		add(&refused, 1);
		return;
	}
	st = ring(t, count, pa);
	b->flags = 0;
	b->reserved = 0;
	b->reserved2 = 0;
	if (st != PVDMA_S_BAD_BATCH || le32_to_cpu(b->done) != 0) {
		violation(t, "bad header: status, done", st, le32_to_cpu(b->done));
	} else {
		add(&refused, 1);
	}
	for (i = 0; i < n + 1; i++)
		if (le16_to_cpu(b->req[i].status) != PVDMA_S_PENDING) {
			violation(t, "bad batch touched an entry", i, le16_to_cpu(b->req[i].status));
			if (b->req[i].status == 0)
				track(t, le64_to_cpu(b->req[i].iova), le32_to_cpu(b->req[i].mapped));
		}
}

/* A batch of random bytes, count kept within the buffer; reserved fields set per entry. */
static void random_batch(struct hthread *t)
{
	struct pvdma_batch *b = t->b;
	u16 count, st;
	u32 i, n;

	get_random_bytes(b, sizeof(*b));
	count = le16_to_cpu(b->count);
	if (rnd(t) & 1) {
		count = 1 + count % min_t(u32, max_batch, 64);
		b->flags = 0;
		b->reserved = 0;
		b->reserved2 = 0;
	}
	n = min_t(u32, count, BUF_ENTRIES);
	for (i = 0; i < n; i++) {
		u64 *w = (u64 *)&b->req[i];

		w[0] = rnd(t); w[1] = rnd(t); w[2] = rnd(t); w[3] = rnd(t);
		b->req[i].reserved |= cpu_to_le32(1);
	}
	st = ring(t, count, t->b_pa);
	if (st == PVDMA_S_OK) {
		if (le32_to_cpu(b->done) != count)
			violation(t, "random batch: done", le32_to_cpu(b->done), count);
		for (i = 0; i < n; i++)
			if (b->req[i].status == 0)
				violation(t, "random entry accepted", i, b->req[i].op);
		add(&entries, n);
	} else if (st != PVDMA_S_BAD_BATCH) {
		violation(t, "random batch status", st, count);
	}
	add(&refused, 1);
	b->flags = 0;
	b->reserved = 0;
	b->reserved2 = 0;
}

/* Small MAPs of own memory until the host refuses one for its caps, then unmap them. */
static void fill_caps(struct hthread *t)
{
	struct pvdma_batch *b = t->b;
	u32 n = min_t(u32, max_batch, BUF_ENTRIES), i, start = t->nmaps;
	bool big = rnd(t) & 1, capped = false;
	int rounds = 0;
	u16 st;

	if (!mutex_trylock(&fill_lock))
		return;
	while (!capped && rounds++ < 4 * (max_mappings / n + 2)) {
		if (t->nmaps + n > t->cap)
			break;
		for (i = 0; i < n; i++) {
			u32 len;
			u64 gpa = big ? ram_gpa(t, &len) : own_gpa(t, &len);

			/* Up to 64 MiB: the bytes cap comes first; one byte: the count cap. */
			if (big)
				len = min_t(u64, ram_end - gpa, SZ_64M);
			else
				len = 1;
			b->req[i] = (struct pvdma_req){ .op = PVDMA_OP_MAP,
				.flags = PVDMA_MAP_READ | PVDMA_MAP_WRITE,
				.status = cpu_to_le16(PVDMA_S_PENDING),
				.len = cpu_to_le32(len), .gpa = cpu_to_le64(gpa) };
		}
		st = ring(t, n, t->b_pa);
		if (st != PVDMA_S_OK) {
			violation(t, "fill batch status", st, n);
			break;
		}
		for (i = 0; i < n; i++) {
			u16 s = le16_to_cpu(b->req[i].status);

			if (s == PVDMA_S_NO_MAPPINGS || s == PVDMA_S_NO_BYTES || s == PVDMA_S_NO_SPACE)
				capped = true;
			check_map(t, &b->req[i], le64_to_cpu(b->req[i].gpa), le32_to_cpu(b->req[i].len));
		}
		add(&entries, n);
		if (readl(regs + PVDMA_REG_LIVE_MAPPINGS) > max_mappings ||
		    rd64(PVDMA_REG_LIVE_BYTES_LO) > max_bytes)
			violation(t, "live above the caps", readl(regs + PVDMA_REG_LIVE_MAPPINGS),
				  rd64(PVDMA_REG_LIVE_BYTES_LO));
	}
	if (!capped)
		violation(t, "the caps never refused", t->nmaps - start, big);
	/* Hold the caps briefly: the real drivers wait for mappings meanwhile. */
	msleep(20);
	while (t->nmaps > start)
		unmap_some(t, 20);
	mutex_unlock(&fill_lock);
}

static int hthread_fn(void *arg)
{
	struct hthread *t = arg;
	unsigned long end = jiffies + secs * HZ, next_fill = jiffies + HZ;
	u64 iter = 0;

	while (!kthread_should_stop() && time_before(jiffies, end)) {
		u64 x = rnd(t) % 16;

		if (x < 7)
			mixed(t);
		else if (x < 10)
			bad_batch(t);
		else if (x < 12)
			random_batch(t);
		else
			unmap_some(t, 1 + rnd(t) % 16);
		/* Never hoard: keep at most 4096 own mappings between fills. */
		while (t->nmaps > 4096)
			unmap_some(t, 20);
		if (time_after(jiffies, next_fill)) {
			next_fill = jiffies + 5 * HZ + rnd(t) % (5 * HZ);
			fill_caps(t);
		}
		if (++iter % 16 == 0)
			cond_resched();
	}
	/* Keep `hold` mappings (thread 0 only) for the test's count; drop the rest. */
	while (t->nmaps > (t->id == 0 ? hold : 0)) {
		u32 before = t->nmaps;

		unmap_some(t, min_t(u32, 20, t->nmaps - (t->id == 0 ? hold : 0)));
		if (t->nmaps == before)
			break;
	}
	/* ...and thread 0 maps more of its own memory if it has fewer. */
	while (t->id == 0 && t->nmaps < hold) {
		u32 n = min_t(u32, hold - t->nmaps, min_t(u32, max_batch, 64)), i, before = t->nmaps;

		for (i = 0; i < n; i++) {
			u32 len;
			u64 gpa = own_gpa(t, &len);

			t->b->req[i] = (struct pvdma_req){ .op = PVDMA_OP_MAP, .flags = PVDMA_MAP_READ,
				.status = cpu_to_le16(PVDMA_S_PENDING),
				.len = cpu_to_le32(len), .gpa = cpu_to_le64(gpa) };
		}
		if (ring(t, n, t->b_pa) != PVDMA_S_OK)
			break;
		for (i = 0; i < n; i++)
			check_map(t, &t->b->req[i], le64_to_cpu(t->b->req[i].gpa),
				  le32_to_cpu(t->b->req[i].len));
		if (t->nmaps == before)
			break;
	}
	smp_store_release(&t->finished, true);
	while (!kthread_should_stop())
		msleep(50);
	return 0;
}

static int __init pvhostile_init(void)
{
	int i, cpus = num_online_cpus();

	pdev = pci_get_device(PVDMA_PCI_VENDOR_ID, PVDMA_PCI_DEVICE_ID, NULL);
	if (!pdev) {
		pr_err("no pvdma device\n");
		return -ENODEV;
	}
	/* pvdma.ko has enabled the device (memory decoding, bus mastering): map, don't bind. */
	regs = pci_iomap(pdev, 0, PVDMA_BAR_SIZE);
	if (!regs)
		goto put;
	bar_pa = pci_resource_start(pdev, 0);
	if (readl(regs + PVDMA_REG_MAGIC) != PVDMA_MAGIC ||
	    !(readl(regs + PVDMA_REG_STATUS) & PVDMA_STATUS_ENABLE)) {
		pr_err("pvdma not enabled (load pvdma.ko first)\n");
		goto unmap;
	}
	if (!ram_start || ram_end < ram_start + SZ_16M) {
		pr_err("ram_start and ram_end: a range of System RAM, at least 16 MiB\n");
		goto unmap;
	}
	granule_shift = readl(regs + PVDMA_REG_GRANULE_SHIFT);
	max_batch = readl(regs + PVDMA_REG_MAX_BATCH);
	max_mappings = readl(regs + PVDMA_REG_MAX_MAPPINGS);
	max_bytes = rd64(PVDMA_REG_MAX_BYTES_LO);
	ap_base = rd64(PVDMA_REG_APERTURE_LO);
	ap_size = rd64(PVDMA_REG_APSIZE_LO);
	if (max_batch < 4 || max_batch > BUF_ENTRIES - 1) {
		pr_err("unexpected MAX_BATCH %u\n", max_batch);
		goto unmap;
	}
	threads = kcalloc(cpus, sizeof(*threads), GFP_KERNEL);
	if (!threads)
		goto unmap;
	for (i = 0; i < cpus; i++) {
		struct hthread *t = &threads[i];
		struct page *pg = alloc_pages(GFP_KERNEL | __GFP_ZERO, BUF_ORDER);

		t->id = i;
		t->rng = seed * 0x9e3779b97f4a7c15ULL + i + 1;
		t->cap = max_mappings + 2 * BUF_ENTRIES + 4096;
		t->maps = vmalloc(array_size(t->cap, sizeof(*t->maps)));
		if (!pg || !t->maps) {
			if (pg)
				__free_pages(pg, BUF_ORDER);
			vfree(t->maps);
			break;
		}
		t->b = page_address(pg);
		t->b_pa = page_to_phys(pg);
		nthreads++;
	}
	pr_info("%d threads for %u s: granule %u, batch %u, caps %u mappings %llu bytes, aperture %#llx+%#llx, RAM %#lx-%#lx\n",
		nthreads, secs, 1u << granule_shift, max_batch, max_mappings, max_bytes,
		ap_base, ap_size, ram_start, ram_end);
	for (i = 0; i < nthreads; i++) {
		threads[i].task = kthread_run(hthread_fn, &threads[i], "pvhostile/%d", i);
		if (IS_ERR(threads[i].task))
			threads[i].task = NULL;
	}
	/* insmod returns, with `done` set, once every thread is down to what it holds. */
	for (;;) {
		int fin = 0;

		msleep(200);
		for (i = 0; i < nthreads; i++)
			fin += !threads[i].task || smp_load_acquire(&threads[i].finished);
		if (fin == nthreads)
			break;
	}
	if (live != threads[0].nmaps)
		violation(&threads[0], "own count disagrees with own list", live, threads[0].nmaps);
	done = 1;
	pr_info("done: %lu batches, %lu entries, %lu maps, %lu unmaps, %lu refused as expected, %lu cap refusals, %lu violations, holding %lu\n",
		batches, entries, maps_ok, unmaps_ok, refused, cap_hits, violations, live);
	return 0;
unmap:
	pci_iounmap(pdev, regs);
put:
	pci_dev_put(pdev);
	return -ENODEV;
}

static void __exit pvhostile_exit(void)
{
	ulong held = live;
	int i;

	for (i = 0; i < nthreads; i++) {
		struct hthread *t = &threads[i];

		if (t->task)
			kthread_stop(t->task);
		while (t->nmaps) {
			u32 before = t->nmaps;

			unmap_some(t, 20);
			if (t->nmaps == before)
				break;
		}
		__free_pages(virt_to_page(t->b), BUF_ORDER);
		vfree(t->maps);
	}
	kfree(threads);
	pr_info("released %lu, live %lu, violations %lu\n", held, live, violations);
	pci_iounmap(pdev, regs);
	pci_dev_put(pdev);
}

module_init(pvhostile_init);
module_exit(pvhostile_exit);
MODULE_DESCRIPTION("pvdma hostile-guest test: adversarial batches beside the real driver");
MODULE_LICENSE("GPL");
