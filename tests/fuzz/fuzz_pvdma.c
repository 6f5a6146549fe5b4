// SPDX-License-Identifier: (GPL-2.0 OR MIT)
/*
 * pvdma's request processing as the emulated device does it (qemu/src/hw/pvdma/pvdma.c
 * and pvdma-dart.c): each entry of a doorbell batch goes through dp_req_check, then a
 * MAP to dp_dart_map and an UNMAP to dp_dart_unmap; a status write of 0 is
 * dp_dart_reset; the IOMMU's translation is dp_dart_lookup. Why this and not QEMU's
 * own fuzzing build: docs/fuzzing.md.
 *
 * Differential: a plain model (an array of live mappings, free space as the gaps
 * between them) predicts every entry's status, and for a MAP the exact bus address
 * (best fit: the smallest gap that holds the pages, the lowest among equals). After
 * each entry the DART's mappings, free extents and counters must equal the model's.
 *
 * Input: six bytes of configuration, then commands: a doorbell of up to 16 entries,
 * a reset, or translation probes.
 */
#include <string.h>
#include "dp_dart.h"
#include "fuzz.h"

#define FD_MAX_LIVE	32	/* max_mappings is at most this */

struct fd_map {
	uint64_t iova, len;	/* as MAP returned them: what UNMAP must name */
	uint64_t page, size;	/* the whole pages */
	uint64_t pa;		/* of the first page */
	unsigned int perm;
};

struct fd_model {
	struct fd_map m[FD_MAX_LIVE];
	unsigned int n;
	uint64_t bytes, maps, unmaps;
	uint64_t refused[PVDMA_S_BAD_BATCH + 1];
};

static struct dp_dart fd_dart;
static struct fd_model fd_mod;

/* dp_req_check's rules, restated from dp_dart.h and docs/specs/pvdma.rst. */
static int fd_check(const struct pvdma_req *r)
{
	if (r->reserved)
		return PVDMA_S_INVALID;
	if (r->op == PVDMA_OP_MAP) {
		if (r->flags < 1 || r->flags > 3 || !r->len || r->iova || r->mapped ||
		    (unsigned __int128)r->gpa + r->len > UINT64_MAX)
			return PVDMA_S_INVALID;
		return PVDMA_S_OK;
	}
	if (r->op == PVDMA_OP_UNMAP)
		return r->flags || r->gpa || r->mapped ? PVDMA_S_INVALID : PVDMA_S_OK;
	return PVDMA_S_UNSUPPORTED;
}

/* The start of the smallest gap of the aperture that holds size; false: none. */
static bool fd_best_fit(uint64_t size, uint64_t *start)
{
	const struct dp_dart_config *c = &fd_dart.cfg;
	uint64_t at = c->aperture_base, end = c->aperture_base + c->aperture_size;
	uint64_t best = 0, best_size = 0;
	bool found = false;

	/* Gaps in address order: repeatedly the lowest mapping at or above at. */
	for (;;) {
		const struct fd_map *next = NULL;
		uint64_t gap_end;
		unsigned int i;

		for (i = 0; i < fd_mod.n; i++)
			if (fd_mod.m[i].page >= at && (!next || fd_mod.m[i].page < next->page))
				next = &fd_mod.m[i];
		gap_end = next ? next->page : end;
		if (gap_end - at >= size && (!found || gap_end - at < best_size)) {
			found = true;
			best = at;
			best_size = gap_end - at;
		}
		if (!next)
			break;
		at = next->page + next->size;
	}
	*start = best;
	return found;
}

static int fd_refused(int st)
{
	fd_mod.refused[st]++;
	return st;
}

/* What the DART must answer to a MAP the checks passed, and where it must put it. */
static int fd_predict_map(const struct pvdma_req *r, uint64_t *page, uint64_t *size)
{
	uint64_t g = 1ull << fd_dart.cfg.granule_shift;
	unsigned __int128 end = ((unsigned __int128)r->gpa + r->len + g - 1) / g * g;

	if (end > UINT64_MAX)
		return fd_refused(PVDMA_S_INVALID);
	*size = (uint64_t)end - DP_ALIGN_DOWN(r->gpa, g);
	if (fd_mod.n >= fd_dart.cfg.max_mappings)
		return fd_refused(PVDMA_S_NO_MAPPINGS);
	if (*size > fd_dart.cfg.max_bytes - fd_mod.bytes)
		return fd_refused(PVDMA_S_NO_BYTES);
	if (!fd_best_fit(*size, page))
		return fd_refused(PVDMA_S_NO_SPACE);
	return PVDMA_S_OK;
}

static int fd_find(uint64_t iova, uint64_t len)
{
	unsigned int i;

	for (i = 0; i < fd_mod.n; i++)
		if (fd_mod.m[i].iova == iova && fd_mod.m[i].len == len)
			return i;
	return -1;
}

/* One entry, as pvdma_serve_batch and the emulated backend serve it. */
static void fd_entry(struct pvdma_req *r)
{
	uint64_t g = 1ull << fd_dart.cfg.granule_shift, iova = 0, page = 0, size = 0;
	int st, want;

	st = dp_req_check(r->op, r->flags, r->gpa, r->len, r->iova, r->mapped, r->reserved);
	want = fd_check(r);
	FZ_CHECK(st == want, "dp_req_check says %d, the rules %d (op %u flags %u)", st, want,
		 r->op, r->flags);
	if (st)
		return;
	if (r->op == PVDMA_OP_MAP) {
		want = fd_predict_map(r, &page, &size);
		st = dp_dart_map(&fd_dart, r->gpa, r->len, r->flags, &iova);
		FZ_CHECK(st == want, "MAP 0x%llx+%u: %d, model %d", (unsigned long long)r->gpa,
			 r->len, st, want);
		if (st)
			return;
		FZ_CHECK(iova == page + (r->gpa - DP_ALIGN_DOWN(r->gpa, g)),
			 "MAP at 0x%llx, best fit is page 0x%llx", (unsigned long long)iova,
			 (unsigned long long)page);
		fd_mod.m[fd_mod.n++] = (struct fd_map){
			.iova = iova, .len = r->len, .page = page, .size = size,
			.pa = DP_ALIGN_DOWN(r->gpa, g), .perm = r->flags,
		};
		fd_mod.bytes += size;
		fd_mod.maps++;
		r->iova = iova;
		r->mapped = r->len;
	} else {
		int i = fd_find(r->iova, r->len);

		want = !r->len || (unsigned __int128)r->iova + r->len > UINT64_MAX ?
		       PVDMA_S_INVALID : i < 0 ? PVDMA_S_NOT_FOUND : PVDMA_S_OK;
		st = dp_dart_unmap(&fd_dart, r->iova, r->len);
		FZ_CHECK(st == want, "UNMAP 0x%llx+%u: %d, model %d",
			 (unsigned long long)r->iova, r->len, st, want);
		if (st) {
			fd_refused(st);
			return;
		}
		fd_mod.bytes -= fd_mod.m[i].size;
		fd_mod.m[i] = fd_mod.m[--fd_mod.n];
		fd_mod.unmaps++;
	}
}

/* The DART's mappings, free extents and counters against the model. */
static void fd_compare(void)
{
	const struct dp_dart_stats *s = &fd_dart.stats;
	const struct dp_dart_config *c = &fd_dart.cfg;
	struct dp_tree_node *n;
	uint64_t free_bytes = 0, prev_end = 0, count = 0;
	unsigned int i;

	FZ_CHECK(s->live_mappings == fd_mod.n && s->live_bytes == fd_mod.bytes &&
		 fd_dart.mappings.count == fd_mod.n, "live %llu/%llu bytes, model %u/%llu",
		 (unsigned long long)s->live_mappings, (unsigned long long)s->live_bytes,
		 fd_mod.n, (unsigned long long)fd_mod.bytes);
	FZ_CHECK(s->maps == fd_mod.maps && s->unmaps == fd_mod.unmaps, "map/unmap totals");
	for (i = 0; i <= PVDMA_S_BAD_BATCH; i++)
		FZ_CHECK(s->refused[i] == fd_mod.refused[i], "refused[%u] %llu, model %llu", i,
			 (unsigned long long)s->refused[i],
			 (unsigned long long)fd_mod.refused[i]);
	FZ_CHECK(s->live_mappings <= c->max_mappings && s->live_bytes <= c->max_bytes,
		 "over a cap");
	for (n = dp_tree_first(&fd_dart.mappings); n; n = dp_tree_next(&fd_dart.mappings, n)) {
		const struct dp_dart_mapping *m = dp_tree_entry(n, struct dp_dart_mapping, by_iova);
		int k = fd_find(m->iova + m->offset, m->len);

		FZ_CHECK(k >= 0 && fd_mod.m[k].page == m->iova && fd_mod.m[k].size == m->size &&
			 fd_mod.m[k].pa == m->pa && fd_mod.m[k].perm == m->perm,
			 "a DART mapping the model lacks at 0x%llx", (unsigned long long)m->iova);
		FZ_CHECK(!count || m->iova >= prev_end, "mappings overlap at 0x%llx",
			 (unsigned long long)m->iova);
		prev_end = m->iova + m->size;
		count++;
	}
	/* Free extents, from the size index's keys: (size, start). Merged, never adjacent. */
	count = 0;
	for (n = dp_tree_first(&fd_dart.free_by_size); n; n = dp_tree_next(&fd_dart.free_by_size, n)) {
		FZ_CHECK(n->key && n->key2 >= c->aperture_base &&
			 n->key2 - c->aperture_base <= c->aperture_size - n->key,
			 "a free extent outside the aperture");
		FZ_CHECK(!dp_dart_lookup(&fd_dart, n->key2) &&
			 !dp_dart_lookup(&fd_dart, n->key2 + n->key - 1), "free space is mapped");
		free_bytes += n->key;
		count++;
	}
	FZ_CHECK(free_bytes + fd_mod.bytes == c->aperture_size, "free %llu + live %llu != %llu",
		 (unsigned long long)free_bytes, (unsigned long long)fd_mod.bytes,
		 (unsigned long long)c->aperture_size);
	FZ_CHECK(fd_dart.free_by_start.count == count, "the two free indexes differ");
}

/* The device's translation: an address is reachable iff a live mapping covers it. */
static void fd_probe(uint64_t a)
{
	const struct dp_dart_mapping *m = dp_dart_lookup(&fd_dart, a);
	const struct fd_map *want = NULL;
	unsigned int i;

	for (i = 0; i < fd_mod.n; i++)
		if (a - fd_mod.m[i].page < fd_mod.m[i].size)
			want = &fd_mod.m[i];
	FZ_CHECK(!m == !want, "0x%llx: lookup %s, model %s", (unsigned long long)a,
		 m ? "hit" : "miss", want ? "hit" : "miss");
	if (m)
		FZ_CHECK(m->iova == want->page && m->pa + (a - m->iova) == want->pa + (a - want->page),
			 "0x%llx translates elsewhere", (unsigned long long)a);
}

/* One entry from the input: mostly well-formed, so the DART gets past the checks. */
static void fd_decode(struct fz *f, struct pvdma_req *r)
{
	uint8_t k = fz_u8(f);

	*r = (struct pvdma_req){ 0 };
	switch (k & 3) {
	case 0:		/* MAP near the bottom of guest RAM */
		r->op = PVDMA_OP_MAP;
		r->flags = (k >> 2) & 3;
		r->gpa = (uint64_t)fz_u16(f) << 9;
		r->len = (uint32_t)fz_u16(f) << 2 | k >> 6;
		break;
	case 1:		/* UNMAP of a live mapping, or of something near one */
		r->op = PVDMA_OP_UNMAP;
		if (fd_mod.n) {
			const struct fd_map *m = &fd_mod.m[fz_u8(f) % fd_mod.n];

			r->iova = m->iova + ((k >> 2) & 1 ? (int8_t)fz_u8(f) : 0);
			r->len = m->len + ((k >> 3) & 1 ? (int8_t)fz_u8(f) : 0);
		} else {
			r->iova = fz_u64(f);
			r->len = fz_u32(f);
		}
		break;
	case 2:		/* anything */
		fz_bytes(f, r, sizeof(*r));
		break;
	default:	/* MAP at the top of the address space: wrapping pages */
		r->op = PVDMA_OP_MAP;
		r->flags = (k >> 2) & 3;
		r->len = fz_u32(f);
		r->gpa = UINT64_MAX - fz_u32(f);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };
	struct dp_dart_config cfg;
	uint32_t shift;
	uint64_t g;

	shift = 12 + 2 * (fz_u8(&f) % 3);
	g = 1ull << shift;
	cfg = (struct dp_dart_config){
		.granule_shift = shift,
		.aperture_base = g * fz_u8(&f),
		.aperture_size = g * (1 + fz_u8(&f) % 64),
		.max_mappings = 1 + fz_u8(&f) % FD_MAX_LIVE,
		.max_bytes = g * (1 + fz_u8(&f) % 64),
	};
	/* The last byte of configuration: a top-of-space aperture, to reach its edge. */
	if (fz_u8(&f) & 1)
		cfg.aperture_base = 0 - cfg.aperture_size - g;
	if (dp_dart_init(&fd_dart, &cfg) != PVDMA_S_OK)
		return 0;
	fd_mod = (struct fd_model){ 0 };
	while (fz_more(&f)) {
		uint8_t cmd = fz_u8(&f);
		unsigned int i, n;

		switch (cmd % 8) {
		case 0:		/* the guest writes 0 to STATUS */
			FZ_CHECK(dp_dart_reset(&fd_dart) == PVDMA_S_OK, "reset failed");
			fd_mod.n = 0;
			fd_mod.bytes = 0;
			break;
		case 1:		/* a device's DMA: addresses in and around the aperture */
			for (n = 1 + cmd / 8 % 8; n--;)
				fd_probe(cfg.aperture_base - g +
					 fz_u16(&f) * (g / 16) % (cfg.aperture_size + 2 * g));
			break;
		default:	/* a doorbell */
			for (n = 1 + cmd / 8 % 16; n--;) {
				struct pvdma_req r;

				fd_decode(&f, &r);
				fd_entry(&r);
				fd_compare();
			}
			for (i = 0; i < fd_mod.n; i++) {
				fd_probe(fd_mod.m[i].page);
				fd_probe(fd_mod.m[i].page + fd_mod.m[i].size - 1);
			}
			break;
		}
	}
	dp_dart_destroy(&fd_dart);
	return 0;
}
