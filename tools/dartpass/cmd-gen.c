// SPDX-License-Identifier: (GPL-2.0 OR MIT)
/*
 * dartpass gen: synthetic GPU-like DMA traces in the dp_trace format, deterministic
 * for a seed. Each kind models one pattern a GPU driver produces (see kinds[]); guest
 * RAM is a 16 GiB range above 4 GiB, large objects are physically contiguous, small
 * ones land on scattered pages as a page allocator would place them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "dartpass.h"
#include "dp_trace.h"
#include "pvdma_proto.h"

#define KiB (1ull << 10)
#define MiB (1ull << 20)
#define GiB (1ull << 30)
#define RAM_BASE (4 * GiB)
#define RAM_SIZE (16 * GiB)
#define NEVER UINT64_MAX

static uint64_t opt_seed = 1;
static uint64_t opt_scale = 1;

static const struct dp_opt gen_opts[] = {
	{ "seed", DP_OPT_U64, &opt_seed, "random seed (same seed, same trace)" },
	{ "scale", DP_OPT_U64, &opt_scale, "multiply the trace's length by this" },
	{ NULL }
};

struct gen {
	uint64_t rng, now, bump;
	struct dp_trace_rec *ev;
	size_t n, cap;
	uint32_t dev;
};

static uint64_t rnd(struct gen *g)
{
	g->rng ^= g->rng >> 12;
	g->rng ^= g->rng << 25;
	g->rng ^= g->rng >> 27;
	return g->rng * 0x2545f4914f6cdd1dull;
}

static uint64_t below(struct gen *g, uint64_t n)
{
	return rnd(g) % n;
}

static void push(struct gen *g, uint64_t t, char op, uint64_t pa, uint64_t len,
		 unsigned int perm)
{
	if (g->n == g->cap) {
		g->cap = g->cap ? 2 * g->cap : 65536;
		g->ev = realloc(g->ev, g->cap * sizeof(*g->ev));
		if (!g->ev) {
			fprintf(stderr, "dartpass gen: out of memory\n");
			exit(1);
		}
	}
	g->ev[g->n++] = (struct dp_trace_rec){ .t_ns = t, .op = op, .pa = pa, .len = len,
					       .perm = perm, .dev = g->dev };
}

/* A buffer mapped now and unmapped after life ns (NEVER: still mapped at the end). */
static void buffer(struct gen *g, uint64_t pa, uint64_t len, unsigned int perm,
		   uint64_t life)
{
	push(g, g->now, 'M', pa, len, perm);
	if (life != NEVER)
		push(g, g->now + life, 'U', pa, len, perm);
	g->now += 1 + below(g, 2000);
}

/* Physically contiguous memory: a bump allocator with random gaps, wrapping. */
static uint64_t contiguous(struct gen *g, uint64_t size, uint64_t align)
{
	uint64_t pa = (g->bump + below(g, 64) * align + align - 1) & ~(align - 1);

	if (pa + size > RAM_SIZE)
		pa = 0;
	g->bump = pa + size;
	return RAM_BASE + pa;
}

static uint64_t scattered_page(struct gen *g)
{
	return RAM_BASE + below(g, RAM_SIZE / (4 * KiB)) * 4 * KiB;
}

static unsigned int dir(struct gen *g)
{
	return 1 + below(g, 3);	/* r, w or rw */
}

/*
 * Game loading: nb bursts of 256..2048 4 KiB maps (a texture or asset upload) whose
 * pages lie in one 2..32 MiB physically contiguous region, dmin..dmax% of it; each burst
 * is released whole `live` bursts' time later, so about that many are in flight. The
 * pages of a burst are mapped in address order, or in random order if shuffled (an
 * upload that follows its buffer's page list, not physical addresses).
 */
static void load_bursts(struct gen *g, int nb, int live, unsigned int dmin, unsigned int dmax,
			bool shuffled)
{
	uint64_t off[2048];
	int b;

	for (b = 0; b < nb; b++) {
		uint64_t npages = 256 + below(g, 1793), density = dmin + below(g, dmax - dmin + 1);
		uint64_t size = (npages * 100 / density) * 4 * KiB;
		uint64_t region = contiguous(g, size, 2 * MiB), life = live * 1150 * 1000ull;
		uint64_t p, step = size / npages;
		unsigned int d = dir(g);

		for (p = 0; p < npages; p++)
			off[p] = p * step & ~(4 * KiB - 1);
		for (p = npages - 1; shuffled && p > 0; p--) {
			uint64_t k = below(g, p + 1), t = off[p];

			off[p] = off[k];
			off[k] = t;
		}
		for (p = 0; p < npages; p++)
			buffer(g, region + off[p], 4 * KiB, d, life);
	}
}

/* Game loading: about 25 bursts in flight (load_bursts). */
static void gen_load(struct gen *g)
{
	load_bursts(g, 400 * opt_scale, 25, 40, 100, false);
}

/*
 * Game loading into sparse regions, 10..40% of their 4 KiB pages: a region's 16 KiB
 * pages stay 40..100% empty, so windows do too while their burst lives.
 */
static void gen_sparse(struct gen *g)
{
	load_bursts(g, 400 * opt_scale, 25, 10, 40, false);
}

/*
 * A demanding game loading: about 200 bursts in flight, 180,000 4 KiB pages; exact
 * needs three times the mapping cap, window fits both caps.
 */
static void gen_surge(struct gen *g)
{
	load_bursts(g, 800 * opt_scale, 200, 40, 100, false);
}

/*
 * surge with each burst's pages in random order: evidence of a dense region comes
 * only from the maps that have already landed in it.
 */
static void gen_shuffle(struct gen *g)
{
	load_bursts(g, 800 * opt_scale, 200, 40, 100, true);
}

/*
 * One step of UVM migration: a 2 MiB block mapped whole, or 1..8 64 KiB pages within
 * another 2 MiB-aligned chunk (each page counts in *i).
 */
static void uvm_step(struct gen *g, int *i, int n)
{
	if (below(g, 20) == 0) {
		buffer(g, contiguous(g, 2 * MiB, 2 * MiB), 2 * MiB, PVDMA_MAP_READ |
		       PVDMA_MAP_WRITE, 300 * 20 * 1000);
	} else {
		uint64_t chunk = contiguous(g, 2 * MiB, 2 * MiB);
		int k, pages = 1 + below(g, 8);

		for (k = 0; k < pages && *i < n; k++, (*i)++)
			buffer(g, chunk + below(g, 32) * 64 * KiB, 64 * KiB,
			       PVDMA_MAP_READ | PVDMA_MAP_WRITE, 6000 * 1000);
	}
}

/* CUDA/UVM: about 300 2 MiB blocks and 6000 64 KiB pages live (uvm_step). */
static void gen_uvm(struct gen *g)
{
	int i, n = 60000 * opt_scale;

	for (i = 0; i < n; i++)
		uvm_step(g, &i, n);
}

/*
 * UVM traffic while the application stages data: every 4 ms, forty 16 MiB buffers
 * (640 MiB) mapped at once for 1 ms. Live data peaks near 1.2 GiB, inside the byte
 * cap, but only if streaming windows have not spent the rest of it.
 */
static void gen_staging(struct gen *g)
{
	uint64_t next = 0;
	int i, k, n = 60000 * opt_scale;

	for (i = 0; i < n; i++) {
		for (k = 0; g->now >= next && k < 40; k++) {
			uint64_t pa = contiguous(g, 16 * MiB, 2 * MiB);
			unsigned int d = dir(g);

			push(g, g->now + k, 'M', pa, 16 * MiB, d);
			push(g, g->now + 1000 * 1000 + k, 'U', pa, 16 * MiB, d);
		}
		if (k)
			next = g->now + 4000 * 1000;
		uvm_step(g, &i, n);
	}
}

/* 16 MiB allocations (staging and vertex buffers): about 40 live, steady turnover. */
static void gen_alloc16m(struct gen *g)
{
	int i, n = 4000 * opt_scale;

	for (i = 0; i < n; i++)
		buffer(g, contiguous(g, 16 * MiB, 2 * MiB), 16 * MiB, dir(g), 40 * 1000);
}

/*
 * Long-lived coherent buffers: 3000 ring buffers, page tables and fences of 4..256 KiB
 * allocated at start and never freed, scattered; then streaming 4 KiB maps.
 */
static void gen_coherent(struct gen *g)
{
	int i, n = 3000;

	for (i = 0; i < n; i++) {
		uint64_t len = (1 + below(g, 64)) * 4 * KiB;

		buffer(g, contiguous(g, len, 4 * KiB), len, PVDMA_MAP_READ | PVDMA_MAP_WRITE,
		       NEVER);
	}
	for (i = 0; i < 100000 * (int)opt_scale; i++)
		buffer(g, scattered_page(g), 4 * KiB, dir(g), 2000 * 1000);
}

/*
 * Hours of churn: short-lived 4..64 KiB maps on scattered pages, of which one in 16
 * stays mapped to the end (a driver's long-lived objects accumulating): about 25000
 * long-lived small buffers spread over all of RAM, each of which pins a whole window
 * under the window policy.
 */
static void gen_churn(struct gen *g)
{
	int i, n = 400000 * opt_scale;

	for (i = 0; i < n; i++) {
		uint64_t len = (1ull << below(g, 5)) * 4 * KiB;
		uint64_t pa = len > 4 * KiB ? contiguous(g, len, len) : scattered_page(g);

		buffer(g, pa, len, dir(g), below(g, 16) ? 500 * 1000 : NEVER);
	}
}

/*
 * More than the byte cap at once (the published case of a game needing over 1.5 GB
 * mapped): 16 MiB buffers accumulating to 2.5 GiB, then released. Every policy must
 * refuse some maps; none should refuse more than it must.
 */
static void gen_overcommit(struct gen *g)
{
	int i, n = 160 * opt_scale;

	for (i = 0; i < n; i++)
		buffer(g, contiguous(g, 16 * MiB, 2 * MiB), 16 * MiB, dir(g),
		       (uint64_t)(n - i) * 2000 * 1000);
}

/*
 * A game's resident set filling the byte cap: 20000 small long-lived objects
 * (descriptors, page tables, fences: 4..64 KiB, scattered), 50000 short-lived 4 KiB
 * maps, then textures and vertex buffers (16 MiB, then 1 MiB, then 16 KiB) until the
 * buffers' 16 KiB pages fill 97% of DART's 1.5 GiB; then all of it is released. It
 * fits with exact mappings, but only a policy that keeps its unused mapped bytes
 * under 3% of the cap maps all of it.
 */
static void gen_fill(struct gen *g)
{
	const uint64_t page = 16 * KiB, target = 1536 * MiB / 100 * 97;
	static const uint64_t big[] = { 16 * MiB, 1 * MiB, 16 * KiB };
	uint64_t used = 0;
	int i, n = 20000 * opt_scale;

	for (i = 0; i < n; i++) {
		uint64_t len = (1ull << (2 * below(g, 3))) * 4 * KiB;
		uint64_t pa = len > 4 * KiB ? contiguous(g, len, len) : scattered_page(g);

		buffer(g, pa, len, PVDMA_MAP_READ | PVDMA_MAP_WRITE, NEVER);
		used += DP_ALIGN_UP(pa + len, page) - DP_ALIGN_DOWN(pa, page);
	}
	for (i = 0; i < 50000 * (int)opt_scale; i++)
		buffer(g, scattered_page(g), 4 * KiB, PVDMA_MAP_WRITE, 1 + below(g, 5000));
	for (i = 0; i < 3; i++)
		for (; used + big[i] <= target; used += big[i])
			buffer(g, contiguous(g, big[i], page), big[i], PVDMA_MAP_READ, NEVER);
}

static const struct {
	const char *name;
	void (*fn)(struct gen *g);
	const char *help;
} kinds[] = {
	{ "load", gen_load, "game loading: bursts of 4 KiB maps inside larger regions" },
	{ "sparse", gen_sparse, "game loading into regions 10..40% of whose pages it maps" },
	{ "surge", gen_surge, "a demanding game loading: 200 bursts in flight" },
	{ "shuffle", gen_shuffle, "surge with each burst's pages in random order" },
	{ "uvm", gen_uvm, "CUDA/UVM: 64 KiB pages and 2 MiB blocks" },
	{ "staging", gen_staging, "UVM traffic plus bursts of 16 MiB staging buffers" },
	{ "alloc16m", gen_alloc16m, "16 MiB allocations with turnover" },
	{ "coherent", gen_coherent, "long-lived coherent buffers plus streaming maps" },
	{ "churn", gen_churn, "hours of churn leaving scattered long-lived small buffers" },
	{ "overcommit", gen_overcommit, "more live data than the byte cap" },
	{ "fill", gen_fill, "small long-lived objects, then buffers filling 97% of the byte cap" },
};

static int cmp_event(const void *a, const void *b)
{
	const struct dp_trace_rec *x = a, *y = b;

	if (x->t_ns != y->t_ns)
		return x->t_ns < y->t_ns ? -1 : 1;
	/* At equal times unmaps go first, so a buffer never outlives its slot. */
	return (x->op == 'M') - (y->op == 'M');
}

/* The kinds[] index of name, or -1. */
static int kind_find(const char *name, size_t len)
{
	size_t k;

	for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
		if (strlen(kinds[k].name) == len && !strncmp(name, kinds[k].name, len))
			return k;
	return -1;
}

/*
 * KIND or KIND+KIND...: mixed kinds run side by side on one device, each with its own
 * random stream and allocator, as independent parts of a driver would; their buffers
 * may share pages.
 */
static int gen_run(int argc, char **argv)
{
	struct gen all = { .dev = 0x0100 };
	char line[DP_TRACE_LINE_MAX];
	const char *name;
	size_t i, len;
	int k, part = 0;

	if (argc != 1) {
		dp_cmd_usage(&dp_cmd_gen, 1);
		fprintf(stderr, "\nkinds (KIND+KIND... mixes them):\n");
		for (k = 0; k < (int)(sizeof(kinds) / sizeof(kinds[0])); k++)
			fprintf(stderr, "  %-11s %s\n", kinds[k].name, kinds[k].help);
		return 2;
	}
	for (name = argv[0]; ; name += len + 1) {
		len = strcspn(name, "+");
		if (kind_find(name, len) < 0) {
			fprintf(stderr, "dartpass gen: unknown kind '%.*s'\n", (int)len, name);
			return 2;
		}
		if (!name[len])
			break;
	}
	printf("# dartpass gen %s --seed=%llu --scale=%llu\n", argv[0],
	       (unsigned long long)opt_seed, (unsigned long long)opt_scale);
	for (name = argv[0]; ; name += len + 1, part++) {
		struct gen g = { .rng = (opt_seed + part * 0x1000193ull) * 0x9e3779b97f4a7c15ull + 1,
				 .dev = 0x0100 };

		len = strcspn(name, "+");
		k = kind_find(name, len);
		printf("# %s: %s\n", kinds[k].name, kinds[k].help);
		kinds[k].fn(&g);
		for (i = 0; i < g.n; i++)
			push(&all, g.ev[i].t_ns, g.ev[i].op, g.ev[i].pa, g.ev[i].len, g.ev[i].perm);
		free(g.ev);
		if (!name[len])
			break;
	}
	qsort(all.ev, all.n, sizeof(*all.ev), cmp_event);
	for (i = 0; i < all.n; i++) {
		dp_trace_format(line, sizeof(line), &all.ev[i]);
		fputs(line, stdout);
	}
	free(all.ev);
	return 0;
}

const struct dp_cmd dp_cmd_gen = {
	.name = "gen",
	.args = "KIND",
	.help = "write a synthetic GPU-like DMA trace to stdout",
	.opts = gen_opts,
	.run = gen_run,
};
