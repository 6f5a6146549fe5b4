// SPDX-License-Identifier: (GPL-2.0 OR MIT)
/*
 * The coalescing mapper against a reference: random maps and unmaps on the DART model
 * with small caps, checking after every step that each live buffer is reachable, page
 * by page, at its bus address with its direction, that the mapper's and the DART's
 * counts agree and stay under the caps, and that nothing is left at the end.
 */
#include <string.h>
#include "../../lib/dp_dart.h"
#include "../../lib/dp_map.h"
#include "../../lib/dp_trace.h"
#include "dp_test.h"

#define G (16 * 1024ull)
#define NBUF 512

struct ref_buf {
	uint64_t pa, len, iova;
	unsigned int perm;
	bool live;
};

/* 32 MiB of guest RAM so buffers share pages and windows. */
static void new_buf(struct ref_buf *b, unsigned long long *seed)
{
	b->pa = dp_test_rand(seed) % (32ull << 20);
	b->len = dp_test_rand(seed) % 4 ? 1 + dp_test_rand(seed) % 8192 :
		 1 + dp_test_rand(seed) % (300 * 1024);
	b->perm = 1 + dp_test_rand(seed) % 3;
}

/*
 * Maps up to 16 free buffers as one batch (one direction, like a scatterlist): all
 * become live, in one host call, or none does. Returns the number of broken rules.
 */
static int map_batch(struct dp_mapper *m, struct ref_buf *bufs, unsigned long long *seed,
		     uint64_t *live)
{
	struct ref_buf *pick[16];
	struct dp_hmap *h[16];
	unsigned int perm = 1 + dp_test_rand(seed) % 3;
	uint64_t calls = m->stats.host_calls;
	int n = 0, i, want = 1 + dp_test_rand(seed) % 16, ret, bad = 0;

	for (i = 0; i < NBUF && n < want; i++) {
		struct ref_buf *b = &bufs[(i * 7 + dp_test_rand(seed)) % NBUF];
		int j;

		for (j = 0; j < n && pick[j] != b; j++)
			;
		if (!b->live && j == n)
			pick[n++] = b;
	}
	dp_mapper_batch_begin(m);
	for (i = 0; i < n; i++) {
		new_buf(pick[i], seed);
		pick[i]->perm = perm;
		dp_mapper_batch_map(m, pick[i]->pa, pick[i]->len, perm, &h[i]);
	}
	ret = dp_mapper_batch_end(m);
	/* One call creates; a failed batch may need one more to undo what was made. */
	bad += m->stats.host_calls - calls > (ret == PVDMA_S_OK ? 1 : 2);
	for (i = 0; ret == PVDMA_S_OK && i < n; i++) {
		pick[i]->iova = dp_hmap_iova(h[i], pick[i]->pa);
		pick[i]->live = true;
		(*live)++;
	}
	return bad;
}

static bool covered(const struct dp_dart *d, const struct ref_buf *b)
{
	uint64_t off;

	for (off = 0; off < b->len; off += off ? G : G - (b->pa % G)) {
		const struct dp_dart_mapping *m = dp_dart_lookup(d, b->iova + off);

		if (!m || m->pa + (b->iova + off - m->iova) != b->pa + off ||
		    (m->perm & b->perm) != b->perm)
			return false;
	}
	return true;
}

static uint64_t sum_refs(const struct dp_mapper *m)
{
	const struct dp_tree_node *n;
	uint64_t refs = 0;

	for (n = dp_tree_first(&m->by_iova); n; n = dp_tree_next(&m->by_iova, n))
		refs += dp_tree_entry(n, struct dp_hmap, by_iova)->refs;
	return refs;
}

/* One randomized run; returns the number of broken invariants. */
static int run(enum dp_policy policy, unsigned long long seed, uint64_t *refused,
	       uint64_t *peak)
{
	struct dp_dart_config dc = { .aperture_base = G, .aperture_size = 1ull << 32,
				     .granule_shift = 14, .max_mappings = 48,
				     .max_bytes = 4ull << 20 };
	struct dp_map_config mc = { .policy = policy, .granule_shift = 14,
				    .max_mappings = 48, .max_bytes = 4ull << 20,
				    .window_shift = 18, .slop_share = 25 };
	static struct ref_buf bufs[NBUF];
	struct dp_dart d;
	struct dp_mapper m;
	uint64_t live = 0;
	int step, i, bad = 0;

	memset(bufs, 0, sizeof(bufs));
	if (dp_dart_init(&d, &dc) || dp_mapper_init(&m, &mc, &dp_dart_host_ops, &d))
		return 1;
	for (step = 0; step < 20000; step++) {
		struct ref_buf *b = &bufs[dp_test_rand(&seed) % NBUF];

		if (!b->live && dp_test_rand(&seed) % 8 == 0) {
			bad += map_batch(&m, bufs, &seed, &live);
		} else if (!b->live) {
			new_buf(b, &seed);
			if (dp_mapper_map(&m, b->pa, b->len, b->perm, &b->iova) == PVDMA_S_OK) {
				b->live = true;
				live++;
				bad += (b->iova % G) != (b->pa % G) ||
				       dp_mapper_phys(&m, b->iova + b->len - 1) != b->pa + b->len - 1;
			}
		} else {
			bad += dp_mapper_unmap(&m, b->iova, b->len) != PVDMA_S_OK;
			b->live = false;
			live--;
		}
		bad += m.stats.live_mappings != d.stats.live_mappings ||
		       m.stats.live_bytes != d.stats.live_bytes ||
		       d.stats.live_mappings > 48 || d.stats.live_bytes > (4ull << 20) ||
		       m.stats.buffers != live || sum_refs(&m) != live;
		for (i = 0; i < NBUF; i++)
			bad += bufs[i].live && !covered(&d, &bufs[i]);
		if (bad)
			break;
	}
	/* Unknown and repeated unmaps are refused and change nothing. */
	bad += dp_mapper_unmap(&m, 1ull << 40, 4096) != PVDMA_S_NOT_FOUND;
	for (i = 0; i < NBUF; i++) {
		if (bufs[i].live)
			bad += dp_mapper_unmap(&m, bufs[i].iova, bufs[i].len) != PVDMA_S_OK;
	}
	bad += m.stats.live_mappings != m.stats.idle_mappings || m.stats.buffers;
	*refused = m.stats.refused[PVDMA_S_NO_MAPPINGS] + m.stats.refused[PVDMA_S_NO_BYTES] +
		   m.stats.refused[PVDMA_S_NO_SPACE];
	*peak = m.stats.peak_mappings;
	dp_mapper_trim(&m);
	bad += d.stats.live_mappings != 0 || d.stats.live_bytes != 0;
	dp_mapper_destroy(&m);
	dp_dart_destroy(&d);
	return bad;
}

static void test_policies(void)
{
	uint64_t refused[DP_POLICY_COUNT], peak[DP_POLICY_COUNT];
	int p;

	for (p = 0; p < DP_POLICY_COUNT; p++) {
		int bad = run(p, 0x5eed + p, &refused[p], &peak[p]);

		DP_CHECK(bad == 0, "%s: 20000 random steps keep every buffer mapped, counts"
			 " consistent, caps held, nothing leaked (refused %llu, peak %llu)",
			 dp_policy_name(p), (unsigned long long)refused[p],
			 (unsigned long long)peak[p]);
	}
	DP_CHECK(refused[DP_POLICY_EXACT] > 0, "the caps are small enough to be reached");
}

/* Windows are shared: buffers in one region cost one host mapping. */
static void test_sharing(void)
{
	struct dp_dart_config dc = { .aperture_base = G, .aperture_size = 1ull << 32,
				     .granule_shift = 14, .max_mappings = 1024,
				     .max_bytes = 1ull << 30 };
	struct dp_dart d;
	struct dp_mapper m;
	uint64_t iova[64];
	int p, i;

	for (p = 0; p < DP_POLICY_COUNT; p++) {
		struct dp_map_config mc = { .policy = p, .granule_shift = 14, .max_mappings = 1024,
					    .max_bytes = 1ull << 30, .window_shift = 18,
					    .slop_share = 25 };
		int ok = 1;

		dp_dart_init(&d, &dc);
		dp_mapper_init(&m, &mc, &dp_dart_host_ops, &d);
		for (i = 0; i < 64; i++)
			ok &= dp_mapper_map(&m, (1ull << 30) + i * 4096, 4096, PVDMA_MAP_WRITE,
					    &iova[i]) == PVDMA_S_OK;
		DP_CHECK(ok && m.stats.peak_mappings == (p == DP_POLICY_EXACT ? 64 : 1),
			 "%s: 64 pages of one 256 KiB region take %llu host mappings",
			 dp_policy_name(p), (unsigned long long)m.stats.peak_mappings);
		for (i = 0; i < 64; i++)
			ok &= dp_mapper_unmap(&m, iova[i], 4096) == PVDMA_S_OK;
		DP_CHECK(ok && m.stats.live_mappings == (p == DP_POLICY_ADAPTIVE ? 1 : 0),
			 "%s: after unmapping, %s", dp_policy_name(p),
			 p == DP_POLICY_ADAPTIVE ? "the window stays idle for reuse" :
			 "no host mapping is left");
		dp_mapper_trim(&m);
		DP_CHECK(d.stats.live_mappings == 0, "%s: trim releases idle windows",
			 dp_policy_name(p));
		dp_mapper_destroy(&m);
		dp_dart_destroy(&d);
	}
}

/* A DART model capped at max_bytes and an adaptive mapper on it. */
static void adaptive_open(struct dp_dart *d, struct dp_mapper *m, struct dp_map_config *mc,
			  uint64_t max_bytes, uint32_t slop_share)
{
	struct dp_dart_config dc = { .aperture_base = G, .aperture_size = 1ull << 32,
				     .granule_shift = 14, .max_mappings = 4096,
				     .max_bytes = max_bytes };

	*mc = (struct dp_map_config){ .policy = DP_POLICY_ADAPTIVE, .granule_shift = 14,
				      .max_mappings = 4096, .max_bytes = max_bytes,
				      .slop_share = slop_share };
	dp_dart_init(d, &dc);
	dp_mapper_init(m, mc, &dp_dart_host_ops, d);
}

/*
 * Adaptive: idle windows are kept within 1/64 of either cap, oldest released first.
 * A 4 KiB buffer on each of 100 MiBs gets a 512 KiB window that goes idle when it is
 * unmapped; 1 GiB / 64 holds 32 of them.
 */
static void test_idle_limit(void)
{
	struct dp_map_config mc;
	struct dp_dart d;
	struct dp_mapper m;
	uint64_t iova, maps, idle, idle_kib;
	int i, ok = 1;

	adaptive_open(&d, &m, &mc, 1ull << 30, 2);
	for (i = 0; i < 100; i++)
		ok &= dp_mapper_map(&m, (1ull << 32) + ((uint64_t)i << 20), 4096,
				    PVDMA_MAP_READ, &iova) == PVDMA_S_OK &&
		      dp_mapper_unmap(&m, iova, 4096) == PVDMA_S_OK;
	idle = m.stats.idle_mappings;
	idle_kib = m.stats.idle_bytes >> 10;
	ok &= idle == 32 && idle_kib == 16 << 10 && m.stats.evictions == 68 &&
	      m.stats.live_mappings == 32;
	/* The newest idle window serves its page again; the oldest is gone. */
	maps = m.stats.host_maps;
	ok &= dp_mapper_map(&m, (1ull << 32) + (99ull << 20), 4096, PVDMA_MAP_READ,
			    &iova) == PVDMA_S_OK && m.stats.host_maps == maps;
	ok &= dp_mapper_map(&m, 1ull << 32, 4096, PVDMA_MAP_READ, &iova) == PVDMA_S_OK &&
	      m.stats.host_maps == maps + 1;
	DP_CHECK(ok, "adaptive: idle windows stay within 1/64 of the byte cap, oldest go "
		 "first (%llu idle, %llu KiB, %llu evictions)", (unsigned long long)idle,
		 (unsigned long long)idle_kib, (unsigned long long)m.stats.evictions);
	dp_mapper_destroy(&m);
	dp_dart_destroy(&d);
}

/*
 * Adaptive: an idle window is released to make slop room for a window wanted now. With
 * 1 GiB, slop share 1% and 960 MiB of buffers, the budget is 655 KiB: a 512 KiB idle
 * window leaves no room for a 256 KiB window (the largest that leaves at most 1/256 of
 * the 64 MiB free unused) unless it goes.
 */
static void test_idle_gives_way(void)
{
	uint64_t iova, big;
	struct dp_map_config mc;
	struct dp_dart d;
	struct dp_mapper m;
	int ok;

	adaptive_open(&d, &m, &mc, 1ull << 30, 1);
	ok = dp_mapper_map(&m, 1ull << 30, 4096, PVDMA_MAP_READ, &iova) == PVDMA_S_OK &&
	     dp_mapper_unmap(&m, iova, 4096) == PVDMA_S_OK;
	ok &= m.stats.idle_mappings == 1 && m.stats.idle_bytes == 512u << 10;
	ok &= dp_mapper_map(&m, 2ull << 30, 960u << 20, PVDMA_MAP_READ, &big) == PVDMA_S_OK;
	ok &= dp_mapper_map(&m, 4ull << 30, 4096, PVDMA_MAP_READ, &iova) == PVDMA_S_OK;
	DP_CHECK(ok && m.stats.evictions == 1 && m.stats.idle_mappings == 0 &&
		 m.stats.live_bytes == (960u << 20) + (256u << 10),
		 "adaptive: an idle window gives way to a window wanted now "
		 "(evictions %llu, live %llu KiB)", (unsigned long long)m.stats.evictions,
		 (unsigned long long)(m.stats.live_bytes >> 10));
	dp_mapper_destroy(&m);
	mc.slop_share = 101;
	DP_CHECK(dp_mapper_init(&m, &mc, &dp_dart_host_ops, &d) == PVDMA_S_INVALID,
		 "adaptive: a slop share above 100%% is rejected");
	dp_dart_destroy(&d);
}

/*
 * Adaptive: regions of 512 KiB, 1 MiB apart, each filled to pct% by 16 KiB buffers one
 * region after the other, with 2 GiB and slop share 1%; returns the live host mappings
 * (0 if a map failed).
 */
static uint64_t fill_regions(unsigned int regions, unsigned int pct)
{
	struct dp_map_config mc;
	struct dp_dart d;
	struct dp_mapper m;
	uint64_t iova, n;
	unsigned int r, p;
	int ok = 1;

	adaptive_open(&d, &m, &mc, 2ull << 30, 1);
	for (r = 0; r < regions; r++)
		for (p = 0; p < 32 * pct / 100; p++)
			ok &= dp_mapper_map(&m, (1ull << 30) + ((uint64_t)r << 20) + p * 0x4000, 0x4000,
					    PVDMA_MAP_READ, &iova) == PVDMA_S_OK;
	n = m.stats.live_mappings;
	dp_mapper_destroy(&m);
	dp_dart_destroy(&d);
	return ok ? n : 0;
}

/*
 * Adaptive: windows that their buffers fill lift the slop budget. The 1% budget (about
 * 20 MiB) holds the unused 208 KiB of about 98 regions filled to 60%, yet all 320 get
 * a window; regions filled to 40% keep the plain budget, and some are mapped page by
 * page. A window leaves at most 1/256 of the free bytes unused: a lone page gets 512
 * KiB (the largest) with 2 GiB free, 128 KiB with 32 MiB.
 */
static void test_filled_windows(void)
{
	uint64_t full = fill_regions(320, 60), part = fill_regions(160, 40), iova;
	struct dp_map_config mc;
	struct dp_dart d;
	struct dp_mapper m;
	uint64_t bytes[2];
	int i, ok = 1;

	DP_CHECK(full == 320, "adaptive: 320 regions filled to 60%% take one window each "
		 "(%llu)", (unsigned long long)full);
	DP_CHECK(part > 160, "adaptive: regions filled to 40%% keep the plain budget "
		 "(%llu host mappings for 160)", (unsigned long long)part);
	for (i = 0; i < 2; i++) {
		adaptive_open(&d, &m, &mc, i ? 32ull << 20 : 2ull << 30, 25);
		ok &= dp_mapper_map(&m, 1ull << 30, 4096, PVDMA_MAP_READ, &iova) == PVDMA_S_OK;
		bytes[i] = m.stats.live_bytes;
		dp_mapper_destroy(&m);
		dp_dart_destroy(&d);
	}
	DP_CHECK(ok && bytes[0] == 512u << 10 && bytes[1] == 128u << 10,
		 "adaptive: a lone page's window is 512 KiB with 2 GiB free, 128 KiB with 32 MiB "
		 "(%llu KiB, %llu KiB)", (unsigned long long)bytes[0] >> 10,
		 (unsigned long long)bytes[1] >> 10);
}

/*
 * Adaptive: near the byte cap (64 MiB, under 8 MiB free) neither the budget nor the
 * per-window cap allows a window. A lone page then gets a four-page window if the busy
 * windows are filling (one 256 KiB window, all 16 pages mapped), and a mapping of its
 * own if they are not (4 of the 16). Returns the bytes the lone page added.
 */
static uint64_t near_cap_page(unsigned int filled_pages)
{
	uint64_t iova, before, added;
	struct dp_map_config mc;
	struct dp_dart d;
	struct dp_mapper m;
	unsigned int p;
	int ok = 1;

	adaptive_open(&d, &m, &mc, 64ull << 20, 2);
	for (p = 0; p < filled_pages; p++)
		ok &= dp_mapper_map(&m, (1ull << 30) + p * 0x4000, 0x4000, PVDMA_MAP_READ,
				    &iova) == PVDMA_S_OK;
	ok &= m.stats.live_mappings == 1 && m.stats.live_bytes == 256u << 10;
	ok &= dp_mapper_map(&m, 2ull << 30, 56u << 20, PVDMA_MAP_READ, &iova) == PVDMA_S_OK;
	before = m.stats.live_bytes;
	ok &= dp_mapper_map(&m, 4ull << 30, 0x4000, PVDMA_MAP_READ, &iova) == PVDMA_S_OK;
	added = m.stats.live_bytes - before;
	dp_mapper_destroy(&m);
	dp_dart_destroy(&d);
	return ok ? added : 0;
}

static void test_small_window(void)
{
	uint64_t filling = near_cap_page(16), sparse = near_cap_page(4);

	DP_CHECK(filling == 64u << 10 && sparse == 16u << 10,
		 "adaptive: near the byte cap a page gets a four-page window only while windows "
		 "are filling (%llu KiB, else %llu KiB)", (unsigned long long)filling >> 10,
		 (unsigned long long)sparse >> 10);
}

/*
 * Adaptive: a buffer shares a live exact mapping of the same pages if the permissions
 * allow, but not a larger one, which it would keep mapped after its owner goes.
 */
static void test_exact_shared(void)
{
	uint64_t big, in, same, rw, base = 1ull << 30;
	struct dp_map_config mc;
	struct dp_dart d;
	struct dp_mapper m;
	int ok;

	adaptive_open(&d, &m, &mc, 1ull << 30, 25);
	/* Both too big for a window (over a quarter of 2 MiB): mapped exactly. */
	ok = dp_mapper_map(&m, base, 1u << 20, PVDMA_MAP_READ, &big) == PVDMA_S_OK;
	ok &= dp_mapper_map(&m, base + 0x4000, 600 << 10, PVDMA_MAP_READ, &in) == PVDMA_S_OK;
	DP_CHECK(ok && m.stats.live_mappings == 2 && m.stats.hits == 0,
		 "adaptive: a buffer inside a larger exact mapping gets one of its own");
	ok = dp_mapper_map(&m, base + 0x1000, (1u << 20) - 0x1000, PVDMA_MAP_READ,
			   &same) == PVDMA_S_OK;
	DP_CHECK(ok && same == big + 0x1000 && m.stats.live_mappings == 2 &&
		 m.stats.hits == 1, "adaptive: a read buffer on the same pages shares the mapping");
	ok = dp_mapper_map(&m, base, 1u << 20, PVDMA_MAP_READ | PVDMA_MAP_WRITE,
			   &rw) == PVDMA_S_OK;
	DP_CHECK(ok && m.stats.live_mappings == 3 && m.stats.hits == 1,
		 "adaptive: a read-write buffer there gets a mapping of its own");
	ok = dp_mapper_unmap(&m, big, 1u << 20) == PVDMA_S_OK &&
	     dp_mapper_phys(&m, same) == base + 0x1000;
	ok &= dp_mapper_unmap(&m, same, (1u << 20) - 0x1000) == PVDMA_S_OK &&
	      dp_mapper_unmap(&m, in, 600 << 10) == PVDMA_S_OK &&
	      dp_mapper_unmap(&m, rw, 1u << 20) == PVDMA_S_OK;
	DP_CHECK(ok && d.stats.live_mappings == m.stats.idle_mappings,
		 "adaptive: the shared mapping lives until its last buffer goes");
	dp_mapper_destroy(&m);
	dp_dart_destroy(&d);
}

/* The DART model, except that the host refuses the third map of every call. */
static void picky_submit(void *host, struct dp_host_req *r)
{
	int maps = 0;

	for (; r; r = r->next) {
		if (r->op == PVDMA_OP_MAP && ++maps == 3)
			r->status = PVDMA_S_NO_SPACE;
		else
			r->status = r->op == PVDMA_OP_MAP ?
				    dp_dart_map(host, r->pa, r->len, r->perm, &r->iova) :
				    dp_dart_unmap(host, r->iova, r->len);
	}
}

static const struct dp_host_ops picky_ops = { .submit = picky_submit };

/* A scatterlist's worth of buffers, each on its own 2 MiB region (no sharing). */
static int map_spread(struct dp_mapper *m, int n, struct dp_hmap **h)
{
	int i;

	dp_mapper_batch_begin(m);
	for (i = 0; i < n; i++)
		dp_mapper_batch_map(m, (1ull << 30) + ((uint64_t)i << 21), 8192,
				    PVDMA_MAP_READ, &h[i]);
	return dp_mapper_batch_end(m);
}

static void test_batch(void)
{
	struct dp_dart_config dc = { .aperture_base = G, .aperture_size = 1ull << 32,
				     .granule_shift = 14, .max_mappings = 48,
				     .max_bytes = 1ull << 30 };
	static struct dp_hmap *h[64];
	struct dp_dart d;
	struct dp_mapper m;
	int p, i, ok;

	for (p = 0; p < DP_POLICY_COUNT; p++) {
		struct dp_map_config mc = { .policy = p, .granule_shift = 14, .max_mappings = 48,
					    .max_bytes = 1ull << 30, .window_shift = 18,
					    .slop_share = 25 };
		const char *name = dp_policy_name(p);

		dp_dart_init(&d, &dc);
		dp_mapper_init(&m, &mc, &dp_dart_host_ops, &d);
		ok = map_spread(&m, 40, h) == PVDMA_S_OK;
		for (i = 0; i < 40; i++)
			ok &= dp_dart_lookup(&d, dp_hmap_iova(h[i], (1ull << 30) + ((uint64_t)i << 21))) != NULL;
		DP_CHECK(ok && m.stats.host_calls == 1 && d.stats.live_mappings == 40,
			 "%s: 40 buffers needing 40 host mappings map in one host call (%llu)",
			 name, (unsigned long long)m.stats.host_calls);
		dp_mapper_batch_begin(&m);
		for (i = 0; i < 40; i++)
			ok &= dp_mapper_batch_unmap(&m, dp_hmap_iova(h[i], (1ull << 30) + ((uint64_t)i << 21)),
						    8192) == PVDMA_S_OK;
		dp_mapper_batch_end(&m);
		dp_mapper_trim(&m);
		DP_CHECK(ok && m.stats.host_calls <= 3 && d.stats.live_mappings == 0,
			 "%s: and unmap in one more (%llu calls in all)", name,
			 (unsigned long long)m.stats.host_calls);

		ok = map_spread(&m, 60, h) == PVDMA_S_NO_MAPPINGS;
		DP_CHECK(ok && d.stats.live_mappings == 0 && m.stats.live_mappings == 0 &&
			 m.stats.buffers == 0 && m.stats.refused[PVDMA_S_NO_MAPPINGS] == 60,
			 "%s: a batch beyond the mapping cap is refused whole, nothing left",
			 name);
		dp_mapper_destroy(&m);

		dp_mapper_init(&m, &mc, &picky_ops, &d);
		ok = map_spread(&m, 10, h) == PVDMA_S_NO_SPACE;
		DP_CHECK(ok && d.stats.live_mappings == 0 && m.stats.live_mappings == 0 &&
			 m.stats.buffers == 0 && m.stats.host_calls == 2,
			 "%s: a host refusal inside a batch undoes the batch in one more call",
			 name);
		ok = map_spread(&m, 2, h) == PVDMA_S_OK && m.stats.live_mappings == 2;
		dp_mapper_destroy(&m);
		DP_CHECK(ok && d.stats.live_mappings == 0, "%s: then maps again", name);
		dp_dart_destroy(&d);
	}
}

/*
 * Unmaps inside a batch that also maps into the same host mapping: only buffers from
 * before the batch may go, and when the batch then fails, the mapping they emptied is
 * released (an adaptive window kept idle). Nothing freed may be touched (ASan).
 */
static void test_batch_emptied(void)
{
	struct dp_dart_config dc = { .aperture_base = G, .aperture_size = 1ull << 32,
				     .granule_shift = 14, .max_mappings = 48,
				     .max_bytes = 1ull << 30 };
	const uint64_t pa = 1ull << 30;
	struct dp_hmap *a, *b;
	struct dp_dart d;
	struct dp_mapper m;
	uint64_t ia, ib;
	int p, ok, st;

	for (p = 0; p < DP_POLICY_COUNT; p++) {
		struct dp_map_config mc = { .policy = p, .granule_shift = 14, .max_mappings = 48,
					    .max_bytes = 1ull << 30, .window_shift = 18,
					    .slop_share = 25 };
		const char *name = dp_policy_name(p);
		bool kept = p == DP_POLICY_ADAPTIVE;

		if (p == DP_POLICY_EXACT)
			continue;	/* its buffers never share a host mapping */
		dp_dart_init(&d, &dc);
		dp_mapper_init(&m, &mc, &dp_dart_host_ops, &d);
		dp_mapper_batch_begin(&m);
		ok = dp_mapper_batch_map(&m, pa, 8192, PVDMA_MAP_READ, &a) == PVDMA_S_OK;
		ok &= dp_mapper_batch_end(&m) == PVDMA_S_OK;
		ia = dp_hmap_iova(a, pa);

		/* B shares A's mapping; A goes in the same batch, B may not yet. */
		dp_mapper_batch_begin(&m);
		ok &= dp_mapper_batch_map(&m, pa, 8192, PVDMA_MAP_READ, &b) == PVDMA_S_OK && b == a;
		ib = dp_hmap_iova(b, pa);
		ok &= dp_mapper_batch_unmap(&m, ia, 8192) == PVDMA_S_OK;
		DP_CHECK(dp_mapper_batch_unmap(&m, ib, 8192) == PVDMA_S_NOT_FOUND,
			 "%s: an unmap below the batch's own maps is refused", name);
		ok &= dp_mapper_batch_end(&m) == PVDMA_S_OK;
		DP_CHECK(ok && m.stats.buffers == 1 && d.stats.live_mappings == 1 &&
			 dp_dart_lookup(&d, ib), "%s: B stays mapped", name);
		DP_CHECK(dp_mapper_unmap(&m, ib, 8192) == PVDMA_S_OK && m.stats.buffers == 0,
			 "%s: and goes in the next batch", name);
		dp_mapper_trim(&m);

		/* B shares A's mapping, A goes, then the batch fails: B's map is undone. */
		dp_mapper_batch_begin(&m);
		ok = dp_mapper_batch_map(&m, pa, 8192, PVDMA_MAP_READ, &a) == PVDMA_S_OK;
		ok &= dp_mapper_batch_end(&m) == PVDMA_S_OK;
		ia = dp_hmap_iova(a, pa);
		dp_mapper_batch_begin(&m);
		ok &= dp_mapper_batch_map(&m, pa, 8192, PVDMA_MAP_READ, &b) == PVDMA_S_OK;
		ok &= dp_mapper_batch_unmap(&m, ia, 8192) == PVDMA_S_OK;
		ok &= dp_mapper_batch_map(&m, pa, 0, PVDMA_MAP_READ, &b) == PVDMA_S_INVALID;
		st = dp_mapper_batch_end(&m);
		DP_CHECK(ok && st == PVDMA_S_INVALID && m.stats.buffers == 0 &&
			 m.stats.live_mappings == (kept ? m.stats.idle_mappings : 0) &&
			 d.stats.live_mappings == m.stats.live_mappings,
			 "%s: a failed batch that emptied a mapping leaves it released (%llu live)",
			 name, (unsigned long long)d.stats.live_mappings);
		dp_mapper_trim(&m);
		DP_CHECK(d.stats.live_mappings == 0 && m.stats.live_mappings == 0,
			 "%s: and trim leaves nothing", name);
		dp_mapper_destroy(&m);
		dp_dart_destroy(&d);
	}
}

/* Field by field: the struct's padding holds whatever was on the stack. */
static bool trace_rec_equal(const struct dp_trace_rec *a, const struct dp_trace_rec *b)
{
	return a->t_ns == b->t_ns && a->pa == b->pa && a->len == b->len &&
	       a->dev == b->dev && a->op == b->op && a->perm == b->perm;
}

static void test_trace_format(void)
{
	struct dp_trace_rec r = { .t_ns = 123456789, .op = 'M', .pa = 0x12345000,
				  .len = 4096, .perm = PVDMA_MAP_WRITE, .dev = 0x100 }, q;
	char line[DP_TRACE_LINE_MAX];

	dp_trace_format(line, sizeof(line), &r);
	DP_CHECK(!strcmp(line, "123456789 M 0x12345000 4096 w 0100\n"),
		 "format writes time, op, address, length, direction, device");
	DP_CHECK(dp_trace_parse(line, &q) == 1 && trace_rec_equal(&q, &r),
		 "parse inverts format");
	DP_CHECK(dp_trace_parse("# comment\n", &q) == 0 && dp_trace_parse("\n", &q) == 0,
		 "comments and blank lines are skipped");
	DP_CHECK(dp_trace_parse("1 X 0x1000 4096 w 0100\n", &q) < 0 &&
		 dp_trace_parse("1 M 0x1000 0 w 0100\n", &q) < 0 &&
		 dp_trace_parse("1 M 0x1000 4096 x 0100\n", &q) < 0 &&
		 dp_trace_parse("1 M 0x1000 4096 w 0100 junk\n", &q) < 0 &&
		 dp_trace_parse("1 M 0x1000\n", &q) < 0, "malformed lines are rejected");
	DP_CHECK(dp_policy_parse("adaptive") == DP_POLICY_ADAPTIVE &&
		 dp_policy_parse("exac") < 0 && dp_policy_parse("exactly") < 0,
		 "policy names parse exactly");
}

int main(void)
{
	test_policies();
	test_sharing();
	test_idle_limit();
	test_idle_gives_way();
	test_filled_windows();
	test_small_window();
	test_exact_shared();
	test_batch();
	test_batch_emptied();
	test_trace_format();
	return dp_test_done();
}
