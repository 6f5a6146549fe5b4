// SPDX-License-Identifier: (GPL-2.0 OR MIT)
/*
 * The coalescing mapper (lib/dp_map.c), differentially: random buffer maps and unmaps,
 * single (the hit path first, as pvdma.ko does) or in batches, under each policy and
 * random caps, on the DART model as the host. A plain model keeps the live buffers; after each
 * call the mapper and the DART must agree with it:
 *   - the DART's mappings never overlap and stay within both caps, and the mapper's
 *     host mappings are exactly the DART's;
 *   - each host mapping's refcount is the number of live buffers inside it, its used
 *     bytes their pages, and one without buffers is an idle adaptive window;
 *   - every live buffer lies inside one live host mapping at the address its map
 *     returned, with the buffer's bytes behind it and its permissions;
 *   - a refusal is a cap's (exact policy: exactly when the caps say so) and changes no
 *     buffer; after every buffer is unmapped and the mapper trimmed, nothing is mapped.
 */
#include "dp_dart.h"
#include "dp_map.h"
#include "fuzz.h"

#define FM_MAX_BUFS	64

struct fm_buf {
	uint64_t pa, len, iova;
	unsigned int perm;
};

static struct dp_dart fm_dart;
static struct dp_mapper fm_m;
static struct fm_buf fm_bufs[FM_MAX_BUFS];
static unsigned int fm_n;

static uint64_t fm_pages(uint64_t pa, uint64_t len)
{
	uint64_t g = 1ull << fm_m.cfg.granule_shift;

	return DP_ALIGN_UP(pa + len, g) - DP_ALIGN_DOWN(pa, g);
}

static bool fm_valid(uint64_t pa, uint64_t len, unsigned int perm)
{
	uint64_t g = 1ull << fm_m.cfg.granule_shift;

	return len && perm >= 1 && perm <= 3 &&
	       (unsigned __int128)pa + len + g - 1 <= UINT64_MAX;
}

/* Exact policy: one host mapping per buffer, so the caps alone decide. */
static int fm_exact_predict(uint64_t pa, uint64_t len, uint64_t live, uint64_t bytes)
{
	if (live >= fm_m.cfg.max_mappings)
		return PVDMA_S_NO_MAPPINGS;
	if (fm_pages(pa, len) > fm_m.cfg.max_bytes - bytes)
		return PVDMA_S_NO_BYTES;
	return PVDMA_S_OK;
}

static void fm_status_ok(int st, uint64_t pa, uint64_t len, unsigned int perm)
{
	if (!fm_valid(pa, len, perm))
		FZ_CHECK(st == PVDMA_S_INVALID, "invalid buffer 0x%llx+%llu perm %u: %d",
			 (unsigned long long)pa, (unsigned long long)len, perm, st);
	else
		FZ_CHECK(st == PVDMA_S_OK || st == PVDMA_S_NO_MAPPINGS || st == PVDMA_S_NO_BYTES,
			 "buffer 0x%llx+%llu refused with %d (the aperture never runs out)",
			 (unsigned long long)pa, (unsigned long long)len, st);
}

static const struct dp_hmap *fm_hmap_at(uint64_t iova)
{
	struct dp_tree_node *n = dp_tree_floor(&fm_m.by_iova, iova, 0);
	const struct dp_hmap *h = n ? dp_tree_entry(n, struct dp_hmap, by_iova) : NULL;

	return h && iova - h->iova < h->size ? h : NULL;
}

static void fm_compare(void)
{
	const struct dp_map_stats *s = &fm_m.stats;
	const struct dp_dart_stats *d = &fm_dart.stats;
	uint64_t bytes = 0, refs = 0, idle = 0, end = 0;
	struct dp_tree_node *n;
	unsigned int i;

	for (i = 0; i < fm_n; i++)
		bytes += fm_bufs[i].len;
	FZ_CHECK(s->buffers == fm_n && s->buffer_bytes == bytes, "buffers %llu, model %u",
		 (unsigned long long)s->buffers, fm_n);
	FZ_CHECK(s->live_mappings == d->live_mappings && s->live_bytes == d->live_bytes,
		 "mapper counts %llu mappings %llu bytes, DART %llu %llu",
		 (unsigned long long)s->live_mappings, (unsigned long long)s->live_bytes,
		 (unsigned long long)d->live_mappings, (unsigned long long)d->live_bytes);
	FZ_CHECK(d->live_mappings <= fm_m.cfg.max_mappings && d->live_bytes <= fm_m.cfg.max_bytes,
		 "over a cap: %llu mappings, %llu bytes", (unsigned long long)d->live_mappings,
		 (unsigned long long)d->live_bytes);
	for (n = dp_tree_first(&fm_dart.mappings); n; n = dp_tree_next(&fm_dart.mappings, n)) {
		const struct dp_dart_mapping *m = dp_tree_entry(n, struct dp_dart_mapping, by_iova);

		FZ_CHECK(m->iova >= end, "host mappings overlap at 0x%llx",
			 (unsigned long long)m->iova);
		end = m->iova + m->size;
	}
	FZ_CHECK(fm_m.by_iova.count == fm_dart.mappings.count, "mapper %zu host mappings, DART %zu",
		 fm_m.by_iova.count, fm_dart.mappings.count);
	for (n = dp_tree_first(&fm_m.by_iova); n; n = dp_tree_next(&fm_m.by_iova, n)) {
		const struct dp_hmap *h = dp_tree_entry(n, struct dp_hmap, by_iova);
		const struct dp_dart_mapping *m = dp_dart_lookup(&fm_dart, h->iova);
		uint64_t in = 0, used = 0;

		FZ_CHECK(m && m->iova == h->iova && m->size == h->size && m->pa == h->pa &&
			 m->perm == h->perm, "host mapping 0x%llx is not the DART's",
			 (unsigned long long)h->iova);
		for (i = 0; i < fm_n; i++) {
			if (fm_bufs[i].iova - h->iova < h->size) {
				in++;
				used += fm_pages(fm_bufs[i].pa, fm_bufs[i].len);
			}
		}
		FZ_CHECK(h->refs == in && h->used == used, "0x%llx: refs %u used %llu, model %llu %llu",
			 (unsigned long long)h->iova, h->refs, (unsigned long long)h->used,
			 (unsigned long long)in, (unsigned long long)used);
		if (!h->refs) {
			FZ_CHECK(h->window && h->idle_next && fm_m.cfg.policy == DP_POLICY_ADAPTIVE,
				 "a host mapping without buffers that is not an idle window");
			idle++;
		}
		refs += h->refs;
	}
	FZ_CHECK(refs == fm_n && idle == s->idle_mappings, "refs %llu idle %llu",
		 (unsigned long long)refs, (unsigned long long)idle);
	for (i = 0; i < fm_n; i++) {
		const struct fm_buf *b = &fm_bufs[i];
		const struct dp_hmap *h = fm_hmap_at(b->iova);
		const struct dp_dart_mapping *first = dp_dart_lookup(&fm_dart, b->iova);
		const struct dp_dart_mapping *last = dp_dart_lookup(&fm_dart, b->iova + b->len - 1);

		/* One DART mapping is contiguous: its first and last byte place all of it. */
		FZ_CHECK(h && first && first == last &&
			 first->pa + (b->iova - first->iova) == b->pa &&
			 !(b->perm & ~first->perm) && dp_mapper_phys(&fm_m, b->iova) == b->pa,
			 "buffer 0x%llx+%llu perm %u unreachable at 0x%llx",
			 (unsigned long long)b->pa, (unsigned long long)b->len, b->perm,
			 (unsigned long long)b->iova);
	}
}

/* A buffer from the input: mostly in a few MiB, so buffers share pages and windows. */
static void fm_decode(struct fz *f, uint64_t *pa, uint64_t *len, unsigned int *perm)
{
	uint8_t k = fz_u8(f);

	*perm = k & 3;
	if (k & 4) {
		*pa = (uint64_t)fz_u16(f) << 6;
		*len = 1 + (fz_u16(f) << (k >> 5 & 3));
	} else if (k & 8) {	/* a page-aligned run */
		*pa = (uint64_t)fz_u8(f) << fm_m.cfg.granule_shift;
		*len = (uint64_t)(1 + fz_u8(f) % 8) << fm_m.cfg.granule_shift;
	} else if (k & 16) {	/* the top of the address space */
		*pa = UINT64_MAX - fz_u32(f);
		*len = fz_u32(f);
	} else {
		*pa = fz_u64(f) & 0xffffffffffull;
		*len = fz_u32(f);
	}
}

/* As pvdma.ko maps and unmaps: the hit path first, its counts folded at once. */
static struct dp_map_delta fm_delta;

static int fm_guest_map(uint64_t pa, uint64_t len, unsigned int perm, uint64_t *iova)
{
	if (!dp_mapper_map_hit(&fm_m, pa, len, perm, &fm_delta, iova))
		return dp_mapper_map(&fm_m, pa, len, perm, iova);
	dp_mapper_fold(&fm_m, &fm_delta);
	return PVDMA_S_OK;
}

static int fm_guest_unmap(uint64_t iova, uint64_t len)
{
	uint64_t pa;

	if (!dp_mapper_unmap_hit(&fm_m, iova, len, &fm_delta, &pa))
		return dp_mapper_unmap(&fm_m, iova, len);
	dp_mapper_fold(&fm_m, &fm_delta);
	return PVDMA_S_OK;
}

static void fm_map(struct fz *f)
{
	uint64_t pa, len, iova = 0;
	unsigned int perm;
	int st, want;

	fm_decode(f, &pa, &len, &perm);
	want = fm_exact_predict(pa, len, fm_dart.stats.live_mappings, fm_dart.stats.live_bytes);
	st = fm_guest_map(pa, len, perm, &iova);
	fm_status_ok(st, pa, len, perm);
	if (fm_m.cfg.policy == DP_POLICY_EXACT && fm_valid(pa, len, perm))
		FZ_CHECK(st == want, "exact: %d, the caps say %d", st, want);
	if (!st && fm_n < FM_MAX_BUFS) {
		fm_bufs[fm_n++] = (struct fm_buf){ pa, len, iova, perm };
	} else if (!st) {
		FZ_CHECK(fm_guest_unmap(iova, len) == PVDMA_S_OK, "unmap of a fresh buffer");
	}
}

static void fm_unmap(unsigned int i)
{
	struct fm_buf b = fm_bufs[i];

	fm_bufs[i] = fm_bufs[--fm_n];
	FZ_CHECK(fm_guest_unmap(b.iova, b.len) == PVDMA_S_OK, "unmap of a live buffer");
}

/*
 * A batch of maps and unmaps (of buffers from before it). It succeeds or fails whole
 * for its maps; its unmaps happen either way.
 */
static void fm_batch(struct fz *f, unsigned int n)
{
	struct { uint64_t pa, len; unsigned int perm; struct dp_hmap *h; } maps[16];
	uint64_t live = fm_dart.stats.live_mappings, bytes = fm_dart.stats.live_bytes;
	unsigned int nmaps = 0, i;
	int first = PVDMA_S_OK, st;

	dp_mapper_batch_begin(&fm_m);
	while (n--) {
		uint8_t k = fz_u8(f);

		/* fm_bufs holds the buffers from before the batch until it ends. */
		if (k & 1 && fm_n) {
			i = fz_u8(f) % fm_n;
			st = dp_mapper_batch_unmap(&fm_m, fm_bufs[i].iova, fm_bufs[i].len);
			FZ_CHECK(st == PVDMA_S_OK, "batch unmap of a live buffer: %d", st);
			if (fm_m.cfg.policy == DP_POLICY_EXACT) {
				live--;
				bytes -= fm_pages(fm_bufs[i].pa, fm_bufs[i].len);
			}
			fm_bufs[i] = fm_bufs[--fm_n];
			continue;
		}
		fm_decode(f, &maps[nmaps].pa, &maps[nmaps].len, &maps[nmaps].perm);
		st = dp_mapper_batch_map(&fm_m, maps[nmaps].pa, maps[nmaps].len, maps[nmaps].perm,
					 &maps[nmaps].h);
		if (first == PVDMA_S_OK) {
			fm_status_ok(st, maps[nmaps].pa, maps[nmaps].len, maps[nmaps].perm);
			if (fm_m.cfg.policy == DP_POLICY_EXACT &&
			    fm_valid(maps[nmaps].pa, maps[nmaps].len, maps[nmaps].perm)) {
				int want = fm_exact_predict(maps[nmaps].pa, maps[nmaps].len, live, bytes);

				FZ_CHECK(st == want, "exact, in a batch: %d, the caps say %d", st, want);
				live++;
				bytes += fm_pages(maps[nmaps].pa, maps[nmaps].len);
			}
			first = st;
		} else {
			FZ_CHECK(st == first, "a failed batch's later map: %d, not %d", st, first);
		}
		nmaps += st == PVDMA_S_OK;
	}
	st = dp_mapper_batch_end(&fm_m);
	FZ_CHECK(st == first, "batch end %d, first failure %d", st, first);
	for (i = 0; !st && i < nmaps; i++) {
		uint64_t iova = dp_hmap_iova(maps[i].h, maps[i].pa);

		if (fm_n < FM_MAX_BUFS)
			fm_bufs[fm_n++] = (struct fm_buf){ maps[i].pa, maps[i].len, iova, maps[i].perm };
		else
			FZ_CHECK(dp_mapper_unmap(&fm_m, iova, maps[i].len) == PVDMA_S_OK,
				 "unmap of a fresh buffer");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };
	struct dp_map_config mc;
	struct dp_dart_config dc;
	uint32_t shift = fz_u8(&f) & 1 ? 14 : 12;

	mc = (struct dp_map_config){
		.policy = fz_u8(&f) % DP_POLICY_COUNT,
		.granule_shift = shift,
		.max_mappings = 1 + fz_u8(&f) % 32,
		.max_bytes = (uint64_t)(1 + fz_u8(&f) % 128) << shift,
		.window_shift = shift + fz_u8(&f) % 6,
		.slop_share = fz_u8(&f) % 101,
	};
	/* Room for any placement: only the caps may refuse. */
	dc = (struct dp_dart_config){
		.aperture_base = 1ull << 30, .aperture_size = 1ull << 40, .granule_shift = shift,
		.max_mappings = mc.max_mappings, .max_bytes = mc.max_bytes,
	};
	if (dp_dart_init(&fm_dart, &dc) != PVDMA_S_OK)
		return 0;
	FZ_CHECK(dp_mapper_init(&fm_m, &mc, &dp_dart_host_ops, &fm_dart) == PVDMA_S_OK,
		 "mapper init");
	fm_n = 0;
	while (fz_more(&f)) {
		uint8_t cmd = fz_u8(&f);

		switch (cmd & 7) {
		case 0:
		case 1:
		case 2:
			fm_map(&f);
			break;
		case 3:
		case 4:
			if (fm_n)
				fm_unmap(fz_u8(&f) % fm_n);
			break;
		case 5:
			fm_batch(&f, 1 + (cmd >> 3) % 16);
			break;
		case 6:
			dp_mapper_trim(&fm_m);
			FZ_CHECK(!fm_m.stats.idle_mappings, "idle windows after a trim");
			break;
		default:	/* below the aperture: nothing of the mapper's is there */
			FZ_CHECK(dp_mapper_unmap(&fm_m, fz_u16(&f), 1 + fz_u8(&f)) ==
				 PVDMA_S_NOT_FOUND, "unmap of nothing");
			break;
		}
		fm_compare();
	}
	while (fm_n)
		fm_unmap(fm_n - 1);
	dp_mapper_trim(&fm_m);
	fm_compare();
	FZ_CHECK(!fm_dart.stats.live_mappings && !fm_m.stats.live_mappings,
		 "%llu host mappings left after every buffer went",
		 (unsigned long long)fm_dart.stats.live_mappings);
	dp_mapper_destroy(&fm_m);
	dp_dart_destroy(&fm_dart);
	return 0;
}
