// SPDX-License-Identifier: (GPL-2.0 OR MIT)
/* The DART model: address choice, granule, limits at the boundary, unmap rules, reset. */
#include <string.h>
#include "../../lib/dp_dart.h"
#include "dp_test.h"

#define G (16 * 1024ull)

static struct dp_dart_config cfg(uint32_t maps, uint64_t bytes)
{
	return (struct dp_dart_config){
		.aperture_base = 1ull << 20, .aperture_size = 1ull << 32,
		.granule_shift = 14, .max_mappings = maps, .max_bytes = bytes,
	};
}

static void test_basic(void)
{
	struct dp_dart d;
	struct dp_dart_config c = cfg(65536, 3ull << 29);
	const struct dp_dart_mapping *m;
	uint64_t a, b;

	DP_CHECK(dp_dart_init(&d, &c) == PVDMA_S_OK, "init");
	DP_CHECK(dp_dart_map(&d, 0x12345000, 4096, PVDMA_MAP_READ, &a) == PVDMA_S_OK, "map 4 KiB");
	DP_CHECK((a & (G - 1)) == (0x12345000 & (G - 1)), "iova keeps the offset in the page");
	m = dp_dart_lookup(&d, a);
	DP_CHECK(m && m->size == G && m->pa == 0x12344000, "4 KiB maps its whole 16 KiB page");
	DP_CHECK(d.stats.live_bytes == G, "live bytes count whole pages");
	DP_CHECK(dp_dart_lookup(&d, m->iova + G) == NULL, "the next page is not mapped");
	DP_CHECK(dp_dart_map(&d, 0x20003000, 2 * G, PVDMA_MAP_WRITE, &b) == PVDMA_S_OK,
		 "map a range straddling pages");
	DP_CHECK(dp_dart_lookup(&d, b)->size == 3 * G, "straddling range takes three pages");
	DP_CHECK(dp_dart_unmap(&d, a + G, 4096) == PVDMA_S_NOT_FOUND, "unmap of the wrong iova");
	DP_CHECK(dp_dart_unmap(&d, a, 2 * G) == PVDMA_S_NOT_FOUND, "unmap of the wrong length");
	/* Inside the same page, so a page-granular match would take them. */
	DP_CHECK(dp_dart_unmap(&d, m->iova, 1) == PVDMA_S_NOT_FOUND &&
		 dp_dart_unmap(&d, a, 4095) == PVDMA_S_NOT_FOUND &&
		 dp_dart_unmap(&d, a + 1, 4095) == PVDMA_S_NOT_FOUND &&
		 dp_dart_lookup(&d, a) == m, "unmap of a range within the mapping's pages, not as mapped");
	DP_CHECK(dp_dart_unmap(&d, a, 4096) == PVDMA_S_OK, "unmap as mapped");
	DP_CHECK(dp_dart_unmap(&d, a, 4096) == PVDMA_S_NOT_FOUND, "double unmap");
	DP_CHECK(dp_dart_map(&d, 0, 0, PVDMA_MAP_READ, &a) == PVDMA_S_INVALID, "zero length");
	DP_CHECK(dp_dart_map(&d, 0, 4096, 0, &a) == PVDMA_S_INVALID, "no permission");
	DP_CHECK(dp_dart_map(&d, 0, 4096, 4, &a) == PVDMA_S_INVALID, "unknown permission bit");
	DP_CHECK(dp_dart_map(&d, ~0ull - 100, 4096, PVDMA_MAP_READ, &a) == PVDMA_S_INVALID,
		 "wrapping range");
	DP_CHECK(dp_dart_reset(&d) == PVDMA_S_OK && d.stats.live_mappings == 0 &&
		 d.stats.live_bytes == 0 && d.mappings.count == 0, "reset drops everything");
	DP_CHECK(d.free_by_start.count == 1, "reset leaves one free extent");
	DP_CHECK(d.stats.peak_mappings > 0 && d.stats.maps > 0, "reset keeps peaks and totals");
	dp_dart_destroy(&d);
}

static void test_limits(void)
{
	struct dp_dart d;
	struct dp_dart_config c = cfg(4, 1ull << 40);
	uint64_t a[5];
	int i, ok = 1;

	dp_dart_init(&d, &c);
	for (i = 0; i < 4; i++)
		ok &= dp_dart_map(&d, i * G, G, PVDMA_MAP_READ, &a[i]) == PVDMA_S_OK;
	DP_CHECK(ok, "max_mappings mappings succeed");
	DP_CHECK(dp_dart_map(&d, 9 * G, G, PVDMA_MAP_READ, &a[4]) == PVDMA_S_NO_MAPPINGS,
		 "one more is refused with NO_MAPPINGS");
	DP_CHECK(d.stats.refused[PVDMA_S_NO_MAPPINGS] == 1, "refusal counted by reason");
	dp_dart_unmap(&d, a[0], G);
	DP_CHECK(dp_dart_map(&d, 9 * G, G, PVDMA_MAP_READ, &a[4]) == PVDMA_S_OK,
		 "room again after an unmap");
	dp_dart_destroy(&d);

	c = cfg(100, 4 * G);
	dp_dart_init(&d, &c);
	DP_CHECK(dp_dart_map(&d, 0, 3 * G, PVDMA_MAP_READ, &a[0]) == PVDMA_S_OK, "3 of 4 pages");
	DP_CHECK(dp_dart_map(&d, 8 * G, 2 * G, PVDMA_MAP_READ, &a[1]) == PVDMA_S_NO_BYTES,
		 "exceeding max_bytes by one page is refused");
	DP_CHECK(dp_dart_map(&d, 8 * G, G, PVDMA_MAP_READ, &a[1]) == PVDMA_S_OK,
		 "exactly max_bytes is allowed");
	dp_dart_destroy(&d);

	c = cfg(100, 1ull << 40);
	c.aperture_size = 4 * G;
	dp_dart_init(&d, &c);
	dp_dart_map(&d, 0, G, PVDMA_MAP_READ, &a[0]);
	dp_dart_map(&d, 0, G, PVDMA_MAP_READ, &a[1]);
	dp_dart_map(&d, 0, G, PVDMA_MAP_READ, &a[2]);
	dp_dart_unmap(&d, a[1], G);
	DP_CHECK(dp_dart_map(&d, 0, 2 * G, PVDMA_MAP_READ, &a[3]) == PVDMA_S_NO_SPACE,
		 "fragmented aperture refuses with NO_SPACE");
	dp_dart_unmap(&d, a[2], G);
	DP_CHECK(dp_dart_map(&d, 0, 2 * G, PVDMA_MAP_READ, &a[3]) == PVDMA_S_OK,
		 "freed neighbours merge");
	dp_dart_destroy(&d);
}

/* Random maps and unmaps: mappings never overlap, are aligned, lie in the aperture. */
static void test_random(void)
{
	enum { N = 2000 };
	static uint64_t iova[N], len[N];
	struct dp_dart d;
	struct dp_dart_config c = cfg(N, 1ull << 40);
	unsigned long long s = 42;
	int i, step, bad = 0;

	c.aperture_size = 1ull << 28;
	dp_dart_init(&d, &c);
	for (step = 0; step < 100000; step++) {
		i = dp_test_rand(&s) % N;
		if (len[i]) {
			bad += dp_dart_unmap(&d, iova[i], len[i]) != PVDMA_S_OK;
			len[i] = 0;
		} else {
			uint64_t pa = dp_test_rand(&s) % (1ull << 34), l = 1 + dp_test_rand(&s) % (256 * 1024);

			if (dp_dart_map(&d, pa, l, PVDMA_MAP_READ, &iova[i]) == PVDMA_S_OK)
				len[i] = l;
		}
	}
	DP_CHECK(!bad, "every live mapping unmaps as returned");
	{
		struct dp_tree_node *n;
		uint64_t end = 0, bytes = 0;
		int overlap = 0, misaligned = 0, outside = 0;

		for (n = dp_tree_first(&d.mappings); n; n = dp_tree_next(&d.mappings, n)) {
			const struct dp_dart_mapping *m =
				dp_tree_entry(n, struct dp_dart_mapping, by_iova);

			overlap += m->iova < end;
			misaligned += (m->iova | m->size | m->pa) & (G - 1) ? 1 : 0;
			outside += m->iova < c.aperture_base ||
				   m->iova + m->size > c.aperture_base + c.aperture_size;
			end = m->iova + m->size;
			bytes += m->size;
		}
		DP_CHECK(!overlap, "host-chosen addresses never overlap");
		DP_CHECK(!misaligned, "mappings are granule aligned");
		DP_CHECK(!outside, "mappings lie inside the aperture");
		DP_CHECK(bytes == d.stats.live_bytes, "live bytes match the table");
	}
	for (i = 0; i < N; i++)
		if (len[i])
			dp_dart_unmap(&d, iova[i], len[i]);
	DP_CHECK(d.stats.live_mappings == 0 && d.free_by_start.count == 1,
		 "after unmapping everything the aperture is one extent again");
	dp_dart_destroy(&d);
}

/* Addresses the hardware chose: recorded where they lie, the free space kept exact. */
static void test_map_at(void)
{
	struct dp_dart d;
	struct dp_dart_config c = cfg(3, 1ull << 40);
	uint64_t base = c.aperture_base, a, b, x, f, sz;

	DP_CHECK(dp_dart_init(&d, &c) == PVDMA_S_OK, "map_at: init");
	DP_CHECK(dp_dart_admit(&d, 3 * G - 8, 16, PVDMA_MAP_READ, &f, &sz) == PVDMA_S_OK &&
		 f == 2 * G && sz == 2 * G, "admit: the whole pages a map would cover");
	DP_CHECK(dp_dart_map_at(&d, 0x5100, 4096, PVDMA_MAP_READ, base + 8 * G, &a) ==
		 PVDMA_S_OK && a == base + 8 * G + 0x1100, "map_at: at the given page");
	DP_CHECK(d.free_by_start.count == 2, "map_at: splits the free extent in two");
	DP_CHECK(dp_dart_map_at(&d, 0, 2 * G, PVDMA_MAP_READ, base + 7 * G, &x) ==
		 PVDMA_S_NO_SPACE, "map_at: overlapping a live mapping");
	DP_CHECK(dp_dart_map_at(&d, 0, G, PVDMA_MAP_READ, base - G, &x) == PVDMA_S_NO_SPACE &&
		 dp_dart_map_at(&d, 0, G, PVDMA_MAP_READ, base + c.aperture_size, &x) ==
		 PVDMA_S_NO_SPACE, "map_at: outside the aperture");
	DP_CHECK(dp_dart_map_at(&d, 0, G, PVDMA_MAP_READ, base + G / 2, &x) == PVDMA_S_INVALID,
		 "map_at: an address off the granule");
	DP_CHECK(dp_dart_map_at(&d, 0, G, PVDMA_MAP_READ, base, &b) == PVDMA_S_OK && b == base &&
		 d.free_by_start.count == 2, "map_at: at the aperture's start");
	DP_CHECK(dp_dart_map(&d, 0, 2 * G, PVDMA_MAP_READ, &x) == PVDMA_S_OK && x == base + G,
		 "map: best fit still sees the space map_at left");
	DP_CHECK(dp_dart_admit(&d, 0, G, PVDMA_MAP_READ, &f, &sz) == PVDMA_S_NO_MAPPINGS &&
		 dp_dart_map_at(&d, 0, G, PVDMA_MAP_READ, base + 100 * G, &x) ==
		 PVDMA_S_NO_MAPPINGS, "admit and map_at: the mapping cap");
	DP_CHECK(dp_dart_unmap(&d, a, 4096) == PVDMA_S_OK && dp_dart_unmap(&d, b, G) ==
		 PVDMA_S_OK && dp_dart_unmap(&d, x, 2 * G) == PVDMA_S_OK &&
		 d.free_by_start.count == 1 && d.stats.live_bytes == 0,
		 "map_at: unmapping merges the aperture back into one extent");
	dp_dart_destroy(&d);
}

int main(void)
{
	test_basic();
	test_limits();
	test_map_at();
	test_random();
	return dp_test_done();
}
