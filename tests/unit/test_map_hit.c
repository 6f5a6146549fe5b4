// SPDX-License-Identifier: (GPL-2.0 OR MIT)
/*
 * The mapper's hit path (dp_mapper_map_hit, dp_mapper_unmap_hit): a guest that tries it
 * first, on any CPU, must decide exactly as the serialized calls alone (what the
 * simulator runs), and hits racing on one mapping from several threads must lose no
 * reference and no byte of use.
 */
#include <pthread.h>
#include <string.h>
#include "../../lib/dp_dart.h"
#include "../../lib/dp_map.h"
#include "dp_test.h"

#define G (16 * 1024ull)
#define NBUF 256
#define NCPU 4

struct buf {
	uint64_t pa, len, iova;
	unsigned int perm;
	bool live;
};

/* Names the first field in which a and b differ, or returns NULL. */
static const char *stats_diff(const struct dp_map_stats *a, const struct dp_map_stats *b)
{
	int i;

#define FIELD(f) \
	do { \
		if (a->f != b->f) \
			return #f; \
	} while (0)
	FIELD(live_mappings);
	FIELD(peak_mappings);
	FIELD(live_bytes);
	FIELD(peak_bytes);
	FIELD(buffers);
	FIELD(buffer_bytes);
	FIELD(slop);
	FIELD(slop_at_peak_bytes);
	FIELD(idle_mappings);
	FIELD(idle_bytes);
	FIELD(window_bytes);
	FIELD(maps);
	FIELD(unmaps);
	FIELD(host_maps);
	FIELD(host_unmaps);
	FIELD(host_calls);
	FIELD(hits);
	FIELD(evictions);
#undef FIELD
	for (i = 0; i <= PVDMA_S_BAD_BATCH; i++)
		if (a->refused[i] != b->refused[i])
			return "refused";
	return NULL;
}

struct rig {
	struct dp_dart dart;
	struct dp_mapper m;
};

/* Small caps (64 mappings, 8 MiB) make the random runs evict and refuse. */
static bool rig_open(struct rig *r, enum dp_policy policy, uint64_t max_bytes)
{
	struct dp_dart_config dc = { .aperture_base = G, .aperture_size = 1ull << 32,
				     .granule_shift = 14, .max_mappings = max_bytes >> 17,
				     .max_bytes = max_bytes };
	struct dp_map_config mc = { .policy = policy, .granule_shift = 14,
				    .max_mappings = max_bytes >> 17, .max_bytes = max_bytes,
				    .window_shift = 18, .slop_share = 25 };

	return !dp_dart_init(&r->dart, &dc) &&
	       !dp_mapper_init(&r->m, &mc, &dp_dart_host_ops, &r->dart);
}

/* Buffers crowd 8 MiB of guest RAM, so most maps land in a busy window. */
static void new_buf(struct buf *b, unsigned long long *seed)
{
	b->pa = dp_test_rand(seed) % (8ull << 20);
	b->len = dp_test_rand(seed) % 8 ? 1 + dp_test_rand(seed) % 8192 :
		 1 + dp_test_rand(seed) % (200 * 1024);
	b->perm = 1 + dp_test_rand(seed) % 3;
}

/*
 * The same random single maps and unmaps on two mappers: "serial" through
 * dp_mapper_map/unmap only, "guest" trying the hit path first with one delta per
 * simulated CPU and folding them all before a serialized call, as pvdma.ko does.
 */
static void test_same_decisions(enum dp_policy policy)
{
	static struct buf sb[NBUF], gb[NBUF];
	struct dp_map_delta delta[NCPU] = { 0 };
	struct rig s, g;
	unsigned long long seed = 0x5eed + policy;
	uint64_t fast_maps = 0, fast_unmaps = 0, mismatches = 0;
	const char *diff;
	int step, c;

	memset(sb, 0, sizeof(sb));
	memset(gb, 0, sizeof(gb));
	if (!rig_open(&s, policy, 8ull << 20) || !rig_open(&g, policy, 8ull << 20)) {
		DP_CHECK(0, "%s: set-up", dp_policy_name(policy));
		return;
	}
	for (step = 0; step < 30000; step++) {
		int i = dp_test_rand(&seed) % NBUF, cpu = dp_test_rand(&seed) % NCPU;
		struct buf *a = &sb[i], *b = &gb[i];
		int ra, rb = PVDMA_S_OK;
		uint64_t pa;

		if (!a->live) {
			new_buf(a, &seed);
			*b = *a;
			ra = dp_mapper_map(&s.m, a->pa, a->len, a->perm, &a->iova);
			if (dp_mapper_map_hit(&g.m, b->pa, b->len, b->perm, &delta[cpu], &b->iova)) {
				fast_maps++;
			} else {
				for (c = 0; c < NCPU; c++)
					dp_mapper_fold(&g.m, &delta[c]);
				rb = dp_mapper_map(&g.m, b->pa, b->len, b->perm, &b->iova);
			}
			a->live = ra == PVDMA_S_OK;
			b->live = rb == PVDMA_S_OK;
			mismatches += ra != rb || (a->live && a->iova != b->iova);
		} else {
			ra = dp_mapper_unmap(&s.m, a->iova, a->len);
			if (dp_mapper_unmap_hit(&g.m, b->iova, b->len, &delta[cpu], &pa)) {
				fast_unmaps++;
				mismatches += pa != b->pa;
			} else {
				for (c = 0; c < NCPU; c++)
					dp_mapper_fold(&g.m, &delta[c]);
				rb = dp_mapper_unmap(&g.m, b->iova, b->len);
			}
			mismatches += ra != rb;
			a->live = b->live = false;
		}
	}
	for (c = 0; c < NCPU; c++)
		dp_mapper_fold(&g.m, &delta[c]);
	diff = stats_diff(&s.m.stats, &g.m.stats);
	DP_CHECK(mismatches == 0 && !diff && s.dart.stats.live_mappings == g.dart.stats.live_mappings,
		 "%s: 30000 maps and unmaps, hit path first on 4 CPUs: same statuses, bus "
		 "addresses, stats (%s) and host mappings as serialized calls alone",
		 dp_policy_name(policy), diff ? diff : "all equal");
	if (policy == DP_POLICY_EXACT)
		DP_CHECK(fast_maps == 0 && fast_unmaps == 0,
			 "exact: no map is a hit (every buffer has its own host mapping)");
	else
		DP_CHECK(fast_maps > 500 && fast_unmaps > 500,
			 "%s: the hit path served %llu maps and %llu unmaps", dp_policy_name(policy),
			 (unsigned long long)fast_maps, (unsigned long long)fast_unmaps);
	dp_mapper_destroy(&s.m);
	dp_mapper_destroy(&g.m);
	dp_dart_destroy(&s.dart);
	dp_dart_destroy(&g.dart);
}

/* What the hit path leaves to the serialized calls. */
static void test_refusals(void)
{
	struct dp_map_delta d = { 0 };
	struct rig r;
	uint64_t a, b, iova, pa;
	bool ok;

	if (!rig_open(&r, DP_POLICY_ADAPTIVE, 1ull << 30)) {
		DP_CHECK(0, "adaptive: set-up");
		return;
	}
	ok = !dp_mapper_map_hit(&r.m, 1ull << 30, 4096, PVDMA_MAP_READ, &d, &iova);
	DP_CHECK(ok && r.m.stats.live_mappings == 0, "a map nothing covers is a miss");
	ok = dp_mapper_map(&r.m, 1ull << 30, 4096, PVDMA_MAP_READ, &a) == PVDMA_S_OK &&
	     dp_mapper_map_hit(&r.m, (1ull << 30) + 4096, 4096, PVDMA_MAP_READ, &d, &b);
	DP_CHECK(ok && b == a + 4096 && d.hits == 1 && d.buffers == 1,
		 "a map inside a busy window is a hit at the window's address");
	DP_CHECK(!dp_mapper_map_hit(&r.m, (1ull << 30) + 4096, 0, PVDMA_MAP_READ, &d, &iova) &&
		 !dp_mapper_map_hit(&r.m, (1ull << 30) + 4096, 4096, 0, &d, &iova) &&
		 !dp_mapper_map_hit(&r.m, (1ull << 30) + 4096, 4096, 8, &d, &iova) &&
		 !dp_mapper_unmap_hit(&r.m, a, 0, &d, &pa) &&
		 !dp_mapper_unmap_hit(&r.m, 1ull << 40, 4096, &d, &pa) && d.hits == 1,
		 "invalid arguments and unknown addresses go to the serialized path");
	ok = dp_mapper_unmap_hit(&r.m, b, 4096, &d, &pa) && pa == (1ull << 30) + 4096;
	DP_CHECK(ok && !dp_mapper_unmap_hit(&r.m, a, 4096, &d, &pa),
		 "an unmap that would drop a mapping's last reference goes to the serialized "
		 "path");
	dp_mapper_fold(&r.m, &d);
	ok = dp_mapper_unmap(&r.m, a, 4096) == PVDMA_S_OK && r.m.stats.idle_mappings == 1;
	DP_CHECK(ok && !dp_mapper_map_hit(&r.m, 1ull << 30, 4096, PVDMA_MAP_READ, &d, &iova) &&
		 dp_mapper_map(&r.m, 1ull << 30, 4096, PVDMA_MAP_READ, &a) == PVDMA_S_OK &&
		 r.m.stats.idle_mappings == 0 && r.m.stats.hits == 2,
		 "a map in an idle window goes to the serialized path, which revives it");
	dp_mapper_destroy(&r.m);
	dp_dart_destroy(&r.dart);
}

/*
 * While a batch is in the host (pvdma.ko lets hits run then), a hit on another CPU
 * takes a busy mapping the batch leaves alone and refuses one the batch creates or
 * references.
 */
static struct {
	struct rig r;
	uint64_t busy, other, pending_pa, touched_pa;
	struct dp_map_delta d;
	bool busy_hit, pending_refused, touched_refused, unmap_refused;
} mid;

static void mid_submit(void *host, struct dp_host_req *list)
{
	uint64_t iova, pa;

	mid.busy_hit = dp_mapper_map_hit(&mid.r.m, (1ull << 30) + 4096, 4096, PVDMA_MAP_READ,
					 &mid.d, &iova) && iova == mid.busy + 4096 &&
		       dp_mapper_unmap_hit(&mid.r.m, iova, 4096, &mid.d, &pa);
	mid.pending_refused = !dp_mapper_map_hit(&mid.r.m, mid.pending_pa, 4096, PVDMA_MAP_READ,
						 &mid.d, &iova);
	mid.touched_refused = !dp_mapper_map_hit(&mid.r.m, mid.touched_pa, 4096, PVDMA_MAP_READ,
						 &mid.d, &iova);
	mid.unmap_refused = !dp_mapper_unmap_hit(&mid.r.m, mid.other, 4096, &mid.d, &pa);
	dp_dart_host_ops.submit(host, list);
}

static void test_hits_during_submit(void)
{
	static const struct dp_host_ops ops = { .submit = mid_submit };
	struct dp_hmap *h[2];
	uint64_t held;
	bool ok;

	if (!rig_open(&mid.r, DP_POLICY_ADAPTIVE, 1ull << 30)) {
		DP_CHECK(0, "mid-submit: set-up");
		return;
	}
	/* A busy window at 1 GiB, and another at 1 GiB + 1 MiB with two buffers. */
	ok = dp_mapper_map(&mid.r.m, 1ull << 30, 4096, PVDMA_MAP_READ, &mid.busy) == PVDMA_S_OK &&
	     dp_mapper_map(&mid.r.m, (1ull << 30) + (1 << 20), 4096, PVDMA_MAP_READ,
			   &mid.other) == PVDMA_S_OK &&
	     dp_mapper_map(&mid.r.m, (1ull << 30) + (1 << 20) + 4096, 4096, PVDMA_MAP_READ,
			   &held) == PVDMA_S_OK && held == mid.other + 4096 &&
	     mid.r.m.stats.live_mappings == 2;
	mid.r.m.ops = &ops;
	mid.pending_pa = 2ull << 30;
	mid.touched_pa = (1ull << 30) + (1 << 20) + 8192;
	dp_mapper_batch_begin(&mid.r.m);
	ok &= dp_mapper_batch_map(&mid.r.m, mid.pending_pa, 4096, PVDMA_MAP_READ, &h[0]) ==
	      PVDMA_S_OK;
	ok &= dp_mapper_batch_map(&mid.r.m, mid.touched_pa, 4096, PVDMA_MAP_READ, &h[1]) ==
	      PVDMA_S_OK;
	ok &= dp_mapper_batch_end(&mid.r.m) == PVDMA_S_OK;
	DP_CHECK(ok && mid.busy_hit && mid.pending_refused && mid.touched_refused &&
		 mid.unmap_refused,
		 "while a batch is in the host, hits on other mappings go on; a mapping the "
		 "batch creates or references is left to the serialized path (%d%d%d%d%d)", ok,
		 mid.busy_hit, mid.pending_refused, mid.touched_refused, mid.unmap_refused);
	dp_mapper_fold(&mid.r.m, &mid.d);
	DP_CHECK(mid.r.m.stats.buffers == 5 && mid.r.m.stats.hits == 3 && mid.r.m.stats.maps == 6,
		 "the hits' counts fold in (buffers %llu, hits %llu, maps %llu)",
		 (unsigned long long)mid.r.m.stats.buffers,
		 (unsigned long long)mid.r.m.stats.hits, (unsigned long long)mid.r.m.stats.maps);
	dp_mapper_destroy(&mid.r.m);
	dp_dart_destroy(&mid.r.dart);
}

/* Threads hitting the same window: every reference and byte of use comes back. */
static pthread_barrier_t start;

struct racer {
	struct dp_mapper *m;
	uint64_t pa;
	struct dp_map_delta d;
	uint64_t misses;
};

static void *race(void *arg)
{
	struct racer *x = arg;
	uint64_t iova, pa;
	int i;

	pthread_barrier_wait(&start);
	for (i = 0; i < 500000; i++) {
		if (!dp_mapper_map_hit(x->m, x->pa, 4096, PVDMA_MAP_WRITE, &x->d, &iova)) {
			x->misses++;
			continue;
		}
		x->misses += !dp_mapper_unmap_hit(x->m, iova, 4096, &x->d, &pa) || pa != x->pa;
	}
	return NULL;
}

static void test_race(void)
{
	struct racer x[NCPU];
	pthread_t t[NCPU];
	struct dp_map_stats before;
	struct dp_hmap *h;
	struct rig r;
	uint64_t pin, misses = 0;
	const char *diff;
	int i;

	if (!rig_open(&r, DP_POLICY_ADAPTIVE, 1ull << 30) ||
	    dp_mapper_map(&r.m, 1ull << 30, 4096, PVDMA_MAP_READ, &pin) != PVDMA_S_OK) {
		DP_CHECK(0, "race: set-up");
		return;
	}
	before = r.m.stats;
	h = dp_tree_entry(dp_tree_first(&r.m.by_iova), struct dp_hmap, by_iova);
	pthread_barrier_init(&start, NULL, NCPU);
	for (i = 0; i < NCPU; i++) {
		/* Pages of their own and one they all share, in the pinned window. */
		x[i] = (struct racer){ .m = &r.m, .pa = (1ull << 30) + (i % 2 ? i * G : 0) };
		pthread_create(&t[i], NULL, race, &x[i]);
	}
	for (i = 0; i < NCPU; i++) {
		pthread_join(t[i], NULL);
		misses += x[i].misses;
		DP_CHECK(x[i].d.maps == 500000 && x[i].d.unmaps == 500000 && x[i].d.buffers == 0 &&
			 x[i].d.buffer_bytes == 0 && x[i].d.slop == 0,
			 "race: thread %d's counts balance (%llu misses)", i,
			 (unsigned long long)x[i].misses);
		dp_mapper_fold(&r.m, &x[i].d);
	}
	pthread_barrier_destroy(&start);
	before.maps += NCPU * 500000;
	before.unmaps += NCPU * 500000;
	before.hits += NCPU * 500000;
	diff = stats_diff(&before, &r.m.stats);
	DP_CHECK(misses == 0 && h->refs == 1 && h->used == G && !diff,
		 "race: 4 threads x 500000 hits on one window: none missed, refs %u, use %llu, "
		 "stats (%s) as before", h->refs, (unsigned long long)h->used,
		 diff ? diff : "all equal");
	dp_mapper_destroy(&r.m);
	dp_dart_destroy(&r.dart);
}

int main(void)
{
	test_same_decisions(DP_POLICY_EXACT);
	test_same_decisions(DP_POLICY_WINDOW);
	test_same_decisions(DP_POLICY_ADAPTIVE);
	test_refusals();
	test_hits_during_submit();
	test_race();
	return dp_test_done();
}
