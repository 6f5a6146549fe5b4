// SPDX-License-Identifier: (GPL-2.0 OR MIT)
#include "dp_dart.h"
#include "dp_map.h"

/* A free range of bus addresses, indexed twice. */
struct dp_dart_extent {
	struct dp_tree_node by_start;	/* key: start */
	struct dp_tree_node by_size;	/* key: size, key2: start */
	uint64_t start, size;
};

/*
 * Mappings and extents share one allocation size, so an unmap can turn its mapping's
 * memory into the extent it may need: freeing never allocates and never fails.
 */
union dp_dart_slot {
	struct dp_dart_mapping m;
	struct dp_dart_extent e;
};

static uint64_t granule(const struct dp_dart *d)
{
	return 1ull << d->cfg.granule_shift;
}

static void extent_index(struct dp_dart *d, struct dp_dart_extent *e)
{
	e->by_start.key = e->start;
	e->by_start.key2 = 0;
	e->by_size.key = e->size;
	e->by_size.key2 = e->start;
	dp_tree_insert(&d->free_by_start, &e->by_start);
	dp_tree_insert(&d->free_by_size, &e->by_size);
}

static void extent_unindex(struct dp_dart *d, struct dp_dart_extent *e)
{
	dp_tree_remove(&d->free_by_start, &e->by_start);
	dp_tree_remove(&d->free_by_size, &e->by_size);
}

/*
 * Returns freed space, merging it with its neighbours so fragmentation never outlives
 * the mappings that caused it. spare is a slot this takes ownership of.
 */
static void space_free(struct dp_dart *d, uint64_t start, uint64_t size, void *spare)
{
	struct dp_tree_node *n;
	struct dp_dart_extent *prev = NULL, *next = NULL, *e;

	n = start ? dp_tree_floor(&d->free_by_start, start - 1, 0) : NULL;
	if (n) {
		prev = dp_tree_entry(n, struct dp_dart_extent, by_start);
		if (prev->start + prev->size != start)
			prev = NULL;
	}
	n = dp_tree_ceil(&d->free_by_start, start + size, 0);
	if (n) {
		next = dp_tree_entry(n, struct dp_dart_extent, by_start);
		if (next->start != start + size)
			next = NULL;
	}
	if (prev) {
		extent_unindex(d, prev);
		prev->size += size;
		if (next) {
			extent_unindex(d, next);
			prev->size += next->size;
			dp_free(next);
		}
		extent_index(d, prev);
		dp_free(spare);
		return;
	}
	if (next) {
		extent_unindex(d, next);
		next->start = start;
		next->size += size;
		extent_index(d, next);
		dp_free(spare);
		return;
	}
	e = spare;
	e->start = start;
	e->size = size;
	extent_index(d, e);
}

/* Best fit: the smallest free extent that holds size, lowest address among equals. */
static int space_alloc(struct dp_dart *d, uint64_t size, uint64_t *start)
{
	struct dp_tree_node *n = dp_tree_ceil(&d->free_by_size, size, 0);
	struct dp_dart_extent *e;

	if (!n)
		return PVDMA_S_NO_SPACE;
	e = dp_tree_entry(n, struct dp_dart_extent, by_size);
	*start = e->start;
	extent_unindex(d, e);
	if (e->size == size) {
		dp_free(e);
	} else {
		e->start += size;
		e->size -= size;
		extent_index(d, e);
	}
	return PVDMA_S_OK;
}

int dp_dart_init(struct dp_dart *d, const struct dp_dart_config *cfg)
{
	void *slot;
	uint64_t g;

	if (cfg->granule_shift < 12 || cfg->granule_shift > 30)
		return PVDMA_S_INVALID;
	g = 1ull << cfg->granule_shift;
	if (!cfg->aperture_size || cfg->aperture_base % g || cfg->aperture_size % g ||
	    cfg->aperture_base + cfg->aperture_size < cfg->aperture_base)
		return PVDMA_S_INVALID;
	slot = dp_zalloc(sizeof(union dp_dart_slot));
	if (!slot)
		return PVDMA_S_NO_SPACE;
	*d = (struct dp_dart){ .cfg = *cfg };
	space_free(d, cfg->aperture_base, cfg->aperture_size, slot);
	return PVDMA_S_OK;
}

static void drop_all(struct dp_dart *d)
{
	struct dp_tree_node *n;

	while ((n = d->mappings.root)) {
		dp_tree_remove(&d->mappings, n);
		dp_free(dp_tree_entry(n, struct dp_dart_mapping, by_iova));
	}
	while ((n = d->free_by_start.root)) {
		struct dp_dart_extent *e = dp_tree_entry(n, struct dp_dart_extent, by_start);

		extent_unindex(d, e);
		dp_free(e);
	}
}

void dp_dart_destroy(struct dp_dart *d)
{
	drop_all(d);
}

int dp_dart_reset(struct dp_dart *d)
{
	struct dp_dart_config cfg = d->cfg;
	struct dp_dart_stats stats = d->stats;
	int ret;

	drop_all(d);
	ret = dp_dart_init(d, &cfg);
	/* Peaks and totals describe the device's life, not one boot of its guest. */
	d->stats = stats;
	d->stats.live_mappings = 0;
	d->stats.live_bytes = 0;
	return ret;
}

static int refuse(struct dp_dart *d, int status)
{
	d->stats.refused[status]++;
	return status;
}

/*
 * Takes [start, start + size) out of the free space, which must hold it whole. An
 * extent split in two needs a second slot: spare, which is freed when not used.
 */
static int space_take(struct dp_dart *d, uint64_t start, uint64_t size, void *spare)
{
	struct dp_tree_node *n = dp_tree_floor(&d->free_by_start, start, 0);
	struct dp_dart_extent *e = n ? dp_tree_entry(n, struct dp_dart_extent, by_start) : NULL;
	uint64_t end = start + size;

	if (!e || end < start || end > e->start + e->size) {
		dp_free(spare);
		return PVDMA_S_NO_SPACE;
	}
	extent_unindex(d, e);
	if (end < e->start + e->size) {
		struct dp_dart_extent *tail = spare;

		tail->start = end;
		tail->size = e->start + e->size - end;
		extent_index(d, tail);
		spare = NULL;
	}
	if (start > e->start) {
		e->size = start - e->start;
		extent_index(d, e);
	} else {
		dp_free(e);
	}
	dp_free(spare);
	return PVDMA_S_OK;
}

int dp_dart_admit(struct dp_dart *d, uint64_t pa, uint64_t len, unsigned int perm,
		  uint64_t *first, uint64_t *size)
{
	uint64_t g = granule(d);

	if (!len || !perm || (perm & ~(PVDMA_MAP_READ | PVDMA_MAP_WRITE)) ||
	    pa + len < pa || DP_ALIGN_UP(pa + len, g) < pa)
		return refuse(d, PVDMA_S_INVALID);
	*first = DP_ALIGN_DOWN(pa, g);
	*size = DP_ALIGN_UP(pa + len, g) - *first;
	if (d->stats.live_mappings >= d->cfg.max_mappings)
		return refuse(d, PVDMA_S_NO_MAPPINGS);
	if (*size > d->cfg.max_bytes - d->stats.live_bytes)
		return refuse(d, PVDMA_S_NO_BYTES);
	return PVDMA_S_OK;
}

/* Records the mapping of [first, first + size) at start, its space already taken. */
static void record(struct dp_dart *d, struct dp_dart_mapping *m, uint64_t start,
		   uint64_t pa, uint64_t first, uint64_t size, uint64_t len, unsigned int perm)
{
	m->iova = start;
	m->pa = first;
	m->size = size;
	m->len = len;
	m->offset = pa - first;
	m->perm = perm;
	m->by_iova.key = start;
	dp_tree_insert(&d->mappings, &m->by_iova);
	d->stats.maps++;
	d->stats.live_mappings++;
	d->stats.live_bytes += size;
	if (d->stats.live_mappings > d->stats.peak_mappings)
		d->stats.peak_mappings = d->stats.live_mappings;
	if (d->stats.live_bytes > d->stats.peak_bytes)
		d->stats.peak_bytes = d->stats.live_bytes;
}

int dp_dart_map_at(struct dp_dart *d, uint64_t pa, uint64_t len, unsigned int perm,
		   uint64_t start, uint64_t *iova)
{
	uint64_t first, size;
	void *m, *spare;
	int ret;

	ret = dp_dart_admit(d, pa, len, perm, &first, &size);
	if (ret)
		return ret;
	if (start % granule(d))
		return refuse(d, PVDMA_S_INVALID);
	m = dp_zalloc(sizeof(union dp_dart_slot));
	spare = dp_zalloc(sizeof(union dp_dart_slot));
	if (!m || !spare) {
		dp_free(m);
		dp_free(spare);
		return refuse(d, PVDMA_S_NO_SPACE);
	}
	ret = space_take(d, start, size, spare);
	if (ret) {
		dp_free(m);
		return refuse(d, ret);
	}
	record(d, m, start, pa, first, size, len, perm);
	*iova = start + (pa - first);
	return PVDMA_S_OK;
}

int dp_dart_map(struct dp_dart *d, uint64_t pa, uint64_t len, unsigned int perm,
		uint64_t *iova)
{
	uint64_t first, size, start;
	struct dp_dart_mapping *m;
	int ret;

	ret = dp_dart_admit(d, pa, len, perm, &first, &size);
	if (ret)
		return ret;
	m = dp_zalloc(sizeof(union dp_dart_slot));
	if (!m)
		return refuse(d, PVDMA_S_NO_SPACE);
	ret = space_alloc(d, size, &start);
	if (ret) {
		dp_free(m);
		return refuse(d, ret);
	}
	record(d, m, start, pa, first, size, len, perm);
	*iova = start + (pa - first);
	return PVDMA_S_OK;
}

const struct dp_dart_mapping *dp_dart_lookup(const struct dp_dart *d, uint64_t iova)
{
	struct dp_tree_node *n = dp_tree_floor(&d->mappings, iova, 0);
	const struct dp_dart_mapping *m;

	if (!n)
		return NULL;
	m = dp_tree_entry(n, struct dp_dart_mapping, by_iova);
	return iova - m->iova < m->size ? m : NULL;
}

int dp_dart_unmap(struct dp_dart *d, uint64_t iova, uint64_t len)
{
	struct dp_dart_mapping *m;
	struct dp_tree_node *n;

	if (!len || iova + len < iova)
		return refuse(d, PVDMA_S_INVALID);
	n = dp_tree_floor(&d->mappings, iova, 0);
	m = n ? dp_tree_entry(n, struct dp_dart_mapping, by_iova) : NULL;
	/*
	 * Only whole mappings, named exactly as MAP returned them: a looser match would
	 * let a confused or hostile caller drop a mapping another buffer shares.
	 */
	if (!m || m->iova + m->offset != iova || m->len != len)
		return refuse(d, PVDMA_S_NOT_FOUND);
	dp_tree_remove(&d->mappings, &m->by_iova);
	d->stats.unmaps++;
	d->stats.live_mappings--;
	d->stats.live_bytes -= m->size;
	space_free(d, m->iova, m->size, m);
	return PVDMA_S_OK;
}

int dp_req_check(unsigned int op, unsigned int flags, uint64_t gpa, uint32_t len,
		 uint64_t iova, uint32_t mapped, uint32_t reserved)
{
	if (reserved)
		return PVDMA_S_INVALID;
	switch (op) {
	case PVDMA_OP_MAP:
		return !flags || (flags & ~(PVDMA_MAP_READ | PVDMA_MAP_WRITE)) || !len ||
		       gpa + len < gpa || iova || mapped ? PVDMA_S_INVALID : PVDMA_S_OK;
	case PVDMA_OP_UNMAP:
		return flags || gpa || mapped ? PVDMA_S_INVALID : PVDMA_S_OK;
	default:
		return PVDMA_S_UNSUPPORTED;
	}
}

static void dart_submit(void *host, struct dp_host_req *r)
{
	for (; r; r = r->next)
		r->status = r->op == PVDMA_OP_MAP ?
			    dp_dart_map(host, r->pa, r->len, r->perm, &r->iova) :
			    dp_dart_unmap(host, r->iova, r->len);
}

const struct dp_host_ops dp_dart_host_ops = { .submit = dart_submit };
