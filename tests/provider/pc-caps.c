// SPDX-License-Identifier: (GPL-2.0 OR MIT)
/*
 *   caps SOCKET MAPPINGS BYTES   with the daemon started with these caps: MAP succeeds
 *                                exactly MAPPINGS times, then NO_MAPPINGS; mapped
 *                                granules reach exactly BYTES, then NO_BYTES
 *   bench SOCKET N               N MAP and N UNMAP entries in batches of 1, 16 and 256,
 *                                through the socket and through the in-process DART
 *                                model (lib/dp_dart.c, the emulated backend) with the
 *                                same configuration: ns per entry, as DP-BENCH lines;
 *                                and N bare round trips (COUNTERS), the transport's share
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "dp_dart.h"
#include "pc.h"

/* Claims the first free function: DMA needs one. */
static int claim_any(struct pc_conn *c, struct pc_fn *f)
{
	unsigned int i;

	for (i = 0; i < c->nr_fns; i++)
		if (!(c->fns[i].flags & PROV_FN_CLAIMED))
			return pc_claim(c, i, f);
	pc_check(false, "a free function to claim");
	return PC_ERR;
}

/* Unmaps the OK entries of e[0..n). */
static bool unmap_all(struct pc_conn *c, const struct pvdma_req *e, unsigned int n)
{
	struct pvdma_req u[PROV_MAX_BATCH];
	unsigned int i, k = 0;

	for (i = 0; i < n; i++)
		if (e[i].op == PVDMA_OP_MAP && e[i].status == PROV_S_OK)
			u[k++] = pc_unmap_req(e[i].iova, e[i].mapped);
	if (!k)
		return true;
	if (pc_dma(c, u, k, NULL) != PROV_S_OK)
		return false;
	for (i = 0; i < k; i++)
		if (u[i].status != PROV_S_OK)
			return false;
	return true;
}

static void counters_check(struct pc_conn *c, uint64_t live, uint64_t bytes, const char *when)
{
	struct prov_counters k = { 0 };
	int st;

	st = pc_counters(c, &k);
	pc_check(st == PROV_S_OK && k.live_mappings == live &&
		 k.live_bytes == bytes,
		 "COUNTERS %s: %llu live mappings (want %llu), %llu bytes (want %llu)", when,
		 (unsigned long long)k.live_mappings, (unsigned long long)live,
		 (unsigned long long)k.live_bytes, (unsigned long long)bytes);
}

static void mapping_cap(struct pc_conn *c, uint64_t g)
{
	uint32_t n = c->limits.max_mappings, done = 0, i, ok = 0;
	struct pvdma_req e[PROV_MAX_BATCH], last;
	struct prov_counters k = { 0 };
	int st;

	for (i = 0; i <= n; i++)
		e[i] = pc_map_req(i * g, 4096, PVDMA_MAP_READ);
	if (!pc_expect(pc_dma(c, e, n + 1, &done), PROV_S_OK, "DMA batch of %u MAPs", n + 1))
		return;
	for (i = 0; i < n; i++)
		ok += e[i].status == PROV_S_OK;
	pc_check(ok == n && done == n + 1, "the first %u MAPs succeed (%u)", n, ok);
	pc_expect(e[n].status, PROV_S_NO_MAPPINGS, "MAP number %u", n + 1);
	st = pc_counters(c, &k);
	pc_check(st == PROV_S_OK && k.live_mappings == n &&
		 k.peak_mappings == n && k.refused == 1,
		 "COUNTERS at the cap: %llu live, peak %llu, refused %llu",
		 (unsigned long long)k.live_mappings, (unsigned long long)k.peak_mappings,
		 (unsigned long long)k.refused);
	/* The cap is on live mappings: one unmapped, one more fits, and no other. */
	last = e[n - 1];
	pc_expect(pc_unmap1(c, last.iova, last.mapped), PROV_S_OK, "UNMAP one at the cap");
	pc_expect(pc_map1(c, (n - 1) * g, 4096, PVDMA_MAP_READ, &e[n - 1].iova), PROV_S_OK,
		  "MAP again once one was unmapped");
	pc_expect(pc_map1(c, n * g, 4096, PVDMA_MAP_READ, &last.iova), PROV_S_NO_MAPPINGS,
		  "MAP beyond the cap again");
	e[n].status = PROV_S_NO_MAPPINGS;
	pc_check(unmap_all(c, e, n), "UNMAP all %u", n);
	counters_check(c, 0, 0, "after unmapping all");
}

static void byte_cap(struct pc_conn *c, uint64_t g)
{
	uint64_t b = c->limits.max_bytes, iova[4] = { 0 };

	if (!pc_check(b % g == 0 && b > g && b < 1ull << 32,
		      "max_bytes (%llu) a granule multiple, 2 granules to 4 GiB",
		      (unsigned long long)b))
		return;
	pc_expect(pc_map1(c, 0, b + g, PVDMA_MAP_READ, &iova[0]), PROV_S_NO_BYTES,
		  "MAP of max_bytes + a granule");
	pc_expect(pc_map1(c, 0, b - g, PVDMA_MAP_READ, &iova[0]), PROV_S_OK,
		  "MAP of max_bytes - a granule");
	pc_expect(pc_map1(c, b, 2 * g, PVDMA_MAP_READ, &iova[1]), PROV_S_NO_BYTES,
		  "MAP of 2 more granules");
	/* One byte takes a whole granule: the cap is reached exactly. */
	pc_expect(pc_map1(c, b, 1, PVDMA_MAP_READ, &iova[1]), PROV_S_OK,
		  "MAP of 1 byte, the last granule");
	counters_check(c, 2, b, "at the byte cap");
	pc_expect(pc_map1(c, b + g, 1, PVDMA_MAP_READ, &iova[2]), PROV_S_NO_BYTES,
		  "MAP of 1 byte more");
	pc_expect(pc_unmap1(c, iova[1], 1), PROV_S_OK, "UNMAP the 1-byte mapping");
	pc_expect(pc_unmap1(c, iova[0], b - g), PROV_S_OK, "UNMAP the big one");
	pc_expect(pc_map1(c, 0, b, PVDMA_MAP_READ, &iova[0]), PROV_S_OK,
		  "MAP of exactly max_bytes");
	pc_expect(pc_unmap1(c, iova[0], b), PROV_S_OK, "UNMAP it");
	counters_check(c, 0, 0, "after the byte cap");
}

int pc_cmd_caps(int argc, char **argv)
{
	unsigned long long maps, bytes;
	struct pc_conn c;
	struct pc_mem mem = { .fd = -1 };
	struct pc_fn f;
	uint64_t g;

	if (argc != 3)
		return 2;
	maps = strtoull(argv[1], NULL, 0);
	bytes = strtoull(argv[2], NULL, 0);
	if (pc_open(&c, argv[0]))
		return pc_exit();
	g = 1ull << c.limits.granule_shift;
	pc_check(c.limits.max_mappings == maps && c.limits.max_bytes == bytes,
		 "HELLO: the caps the provider was started with (%u mappings, %llu bytes)",
		 c.limits.max_mappings, (unsigned long long)c.limits.max_bytes);
	if (!pc_check(maps < c.limits.max_batch && maps * g < bytes,
		      "the mapping cap fits one batch and its granules the byte cap") ||
	    claim_any(&c, &f) ||
	    pc_mem_create(&mem, (maps + 1) * g > bytes + 4 * g ? (maps + 1) * g : bytes + 4 * g) ||
	    !pc_expect(pc_dma_memory(&c, &mem), PROV_S_OK, "DMA_MEMORY"))
		return pc_exit();
	mapping_cap(&c, g);
	byte_cap(&c, g);
	pc_expect(pc_call(&c, PROV_OP_RELEASE, f.fn, NULL, 0, NULL, 0), PROV_S_OK, "RELEASE");
	pc_close(&c);
	pc_mem_destroy(&mem);
	return pc_exit();
}

/* ---- bench ---- */

#define BENCH_SLOTS	256	/* granules of DMA memory: the largest batch */

static const unsigned int bench_batches[] = { 1, 16, 256 };

/* N entries of MAP then UNMAP through the socket, b at a time; ns per entry or 0. */
static double bench_socket(struct pc_conn *c, uint64_t g, unsigned int n, unsigned int b)
{
	static struct pvdma_req e[BENCH_SLOTS];
	unsigned int done, i;
	uint64_t t0 = pc_now_ns();

	for (done = 0; done < n; done += b) {
		for (i = 0; i < b; i++)
			e[i] = pc_map_req(i * g, 4096, PVDMA_MAP_READ | PVDMA_MAP_WRITE);
		if (pc_dma(c, e, b, NULL) != PROV_S_OK)
			return 0;
		for (i = 0; i < b; i++) {
			if (e[i].status != PROV_S_OK)
				return 0;
			e[i] = pc_unmap_req(e[i].iova, e[i].mapped);
		}
		if (pc_dma(c, e, b, NULL) != PROV_S_OK)
			return 0;
		for (i = 0; i < b; i++)
			if (e[i].status != PROV_S_OK)
				return 0;
	}
	return (double)(pc_now_ns() - t0) / (2.0 * done);
}

/* What the transport alone costs: n COUNTERS round trips; ns each, or 0. */
static double bench_rtt(struct pc_conn *c, unsigned int n)
{
	struct prov_counters k;
	uint64_t t0 = pc_now_ns();
	unsigned int i;

	for (i = 0; i < n; i++)
		if (pc_counters(c, &k) != PROV_S_OK)
			return 0;
	return (double)(pc_now_ns() - t0) / n;
}

/* The same entries through the DART model in this process. */
static double bench_model(const struct prov_limits *l, uint64_t g, unsigned int n,
			  unsigned int b)
{
	struct dp_dart_config cfg = {
		.aperture_base = l->aperture_base, .aperture_size = l->aperture_size,
		.granule_shift = l->granule_shift, .max_mappings = l->max_mappings,
		.max_bytes = l->max_bytes,
	};
	static uint64_t iova[BENCH_SLOTS];
	struct dp_dart d;
	unsigned int done, i;
	uint64_t t0;
	int bad = 0;

	if (dp_dart_init(&d, &cfg))
		return 0;
	t0 = pc_now_ns();
	for (done = 0; done < n; done += b) {
		for (i = 0; i < b; i++)
			bad |= dp_dart_map(&d, i * g, 4096, PVDMA_MAP_READ | PVDMA_MAP_WRITE,
					   &iova[i]);
		for (i = 0; i < b; i++)
			bad |= dp_dart_unmap(&d, iova[i], 4096);
	}
	t0 = pc_now_ns() - t0;
	dp_dart_destroy(&d);
	return bad ? 0 : (double)t0 / (2.0 * done);
}

int pc_cmd_bench(int argc, char **argv)
{
	struct pc_conn c;
	struct pc_mem mem = { .fd = -1 };
	struct pc_fn f;
	unsigned int n, i, b;
	uint64_t g;

	if (argc != 2 || !(n = strtoul(argv[1], NULL, 0)))
		return 2;
	if (pc_open(&c, argv[0]))
		return pc_exit();
	g = 1ull << c.limits.granule_shift;
	if (claim_any(&c, &f) || pc_mem_create(&mem, BENCH_SLOTS * g) ||
	    !pc_expect(pc_dma_memory(&c, &mem), PROV_S_OK, "DMA_MEMORY"))
		return pc_exit();
	printf("DP-BENCH %u MAP + %u UNMAP entries of 4 KiB per batch size; granule %llu KiB\n",
	       n, n, (unsigned long long)g >> 10);
	printf("DP-BENCH a round trip without mapping (COUNTERS): %.0f ns\n", bench_rtt(&c, n));
	printf("DP-BENCH %6s %18s %18s %8s\n", "batch", "provider ns/entry", "emulated ns/entry",
	       "ratio");
	for (i = 0; i < sizeof(bench_batches) / sizeof(bench_batches[0]); i++) {
		double sock, model;

		b = bench_batches[i];
		if (b > c.limits.max_batch || b > c.limits.max_mappings)
			continue;
		sock = bench_socket(&c, g, (n + b - 1) / b * b, b);
		model = bench_model(&c.limits, g, (n + b - 1) / b * b, b);
		pc_check(sock > 0 && model > 0, "batches of %u: every entry OK", b);
		printf("DP-BENCH %6u %18.0f %18.0f %8.0f\n", b, sock, model,
		       model > 0 ? sock / model : 0);
	}
	pc_expect(pc_call(&c, PROV_OP_RELEASE, f.fn, NULL, 0, NULL, 0), PROV_S_OK, "RELEASE");
	pc_close(&c);
	pc_mem_destroy(&mem);
	return pc_exit();
}
