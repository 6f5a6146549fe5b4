// SPDX-License-Identifier: (GPL-2.0 OR MIT)
#include "dp_map.h"

#define DP_WINDOW_MAX_SHIFT	21	/* adaptive windows: 2 MiB down to 4 pages */

static const char *const policy_names[DP_POLICY_COUNT] = {
	[DP_POLICY_EXACT] = "exact",
	[DP_POLICY_WINDOW] = "window",
	[DP_POLICY_ADAPTIVE] = "adaptive",
};

int dp_policy_parse(const char *name)
{
	int i;

	for (i = 0; i < DP_POLICY_COUNT; i++) {
		const char *a = policy_names[i], *b = name;

		while (*a && *a == *b) {
			a++;
			b++;
		}
		if (!*a && !*b)
			return i;
	}
	return -1;
}

const char *dp_policy_name(enum dp_policy p)
{
	return p < DP_POLICY_COUNT ? policy_names[p] : "?";
}

static uint64_t granule(const struct dp_mapper *m)
{
	return 1ull << m->cfg.granule_shift;
}

/* Bytes of the whole pages around [pa, pa + len). */
static uint64_t pages(const struct dp_mapper *m, uint64_t pa, uint64_t len)
{
	return DP_ALIGN_UP(pa + len, granule(m)) - DP_ALIGN_DOWN(pa, granule(m));
}

static uint64_t hmap_slop(const struct dp_hmap *h)
{
	return h->size > h->used ? h->size - h->used : 0;
}

/* Changes h->used by delta, keeping the total slop in step. */
static void hmap_use(struct dp_mapper *m, struct dp_hmap *h, int64_t delta)
{
	m->stats.slop -= hmap_slop(h);
	h->used += delta;
	m->stats.slop += hmap_slop(h);
}

static void idle_unlink(struct dp_mapper *m, struct dp_hmap *h)
{
	h->idle_prev->idle_next = h->idle_next;
	h->idle_next->idle_prev = h->idle_prev;
	h->idle_prev = h->idle_next = NULL;
	m->stats.idle_mappings--;
	m->stats.idle_bytes -= h->size;
}

static void idle_append(struct dp_mapper *m, struct dp_hmap *h)
{
	h->idle_prev = m->idle.idle_prev;
	h->idle_next = &m->idle;
	m->idle.idle_prev->idle_next = h;
	m->idle.idle_prev = h;
	m->stats.idle_mappings++;
	m->stats.idle_bytes += h->size;
}

static int hmap_create(struct dp_mapper *m, uint64_t pa, uint64_t size, unsigned int perm,
		       bool window, struct dp_hmap **out)
{
	struct dp_map_stats *st = &m->stats;
	struct dp_hmap *h = dp_zalloc(sizeof(*h));
	int ret;

	if (!h)
		return PVDMA_S_NO_SPACE;
	ret = m->ops->map(m->host, pa, size, perm, &h->iova);
	st->host_maps++;
	if (ret != PVDMA_S_OK) {
		dp_free(h);
		return ret;
	}
	h->pa = pa;
	h->size = size;
	h->perm = perm;
	h->window = window;
	h->by_iova.key = h->iova;
	dp_tree_insert(&m->by_iova, &h->by_iova);
	if (window) {
		h->by_pa.key = pa;
		dp_tree_insert(&m->windows, &h->by_pa);
	}
	st->live_mappings++;
	st->live_bytes += size;
	st->slop += size;
	if (st->live_mappings > st->peak_mappings)
		st->peak_mappings = st->live_mappings;
	*out = h;
	return PVDMA_S_OK;
}

static void hmap_release(struct dp_mapper *m, struct dp_hmap *h)
{
	struct dp_map_stats *st = &m->stats;
	int ret;

	if (h->idle_next)
		idle_unlink(m, h);
	ret = m->ops->unmap(m->host, h->iova, h->size);
	DP_ASSERT(ret == PVDMA_S_OK);
	st->host_unmaps++;
	dp_tree_remove(&m->by_iova, &h->by_iova);
	if (h->window)
		dp_tree_remove(&m->windows, &h->by_pa);
	st->live_mappings--;
	st->live_bytes -= h->size;
	st->slop -= hmap_slop(h);
	dp_free(h);
}

/* Releases the oldest idle window; false when there is none. */
static bool evict_one(struct dp_mapper *m)
{
	if (m->idle.idle_next == &m->idle)
		return false;
	hmap_release(m, m->idle.idle_next);
	m->stats.evictions++;
	return true;
}

void dp_mapper_trim(struct dp_mapper *m)
{
	while (evict_one(m))
		;
}

int dp_mapper_init(struct dp_mapper *m, const struct dp_map_config *cfg,
		   const struct dp_host_ops *ops, void *host)
{
	if (cfg->policy >= DP_POLICY_COUNT || cfg->granule_shift < 12 ||
	    cfg->granule_shift > 30 || !cfg->max_mappings || !cfg->max_bytes ||
	    (cfg->policy == DP_POLICY_WINDOW &&
	     (cfg->window_shift < cfg->granule_shift || cfg->window_shift > 30)))
		return PVDMA_S_INVALID;
	*m = (struct dp_mapper){ .cfg = *cfg, .ops = ops, .host = host };
	m->idle.idle_next = m->idle.idle_prev = &m->idle;
	return PVDMA_S_OK;
}

void dp_mapper_destroy(struct dp_mapper *m)
{
	struct dp_tree_node *n;

	while ((n = m->by_iova.root))
		hmap_release(m, dp_tree_entry(n, struct dp_hmap, by_iova));
	m->stats.buffers = 0;
	m->stats.buffer_bytes = 0;
}

/* The window containing [pa, pa + len), or NULL. */
static struct dp_hmap *window_find(const struct dp_mapper *m, uint64_t pa, uint64_t len)
{
	struct dp_tree_node *n = dp_tree_floor(&m->windows, pa, 0);
	struct dp_hmap *h;

	if (!n)
		return NULL;
	h = dp_tree_entry(n, struct dp_hmap, by_pa);
	return pa + len <= h->pa + h->size ? h : NULL;
}

/*
 * Adaptive: the largest aligned window (2 MiB down to 4 pages) around the buffer that
 * does not overlap another window, that the buffer fills at least a quarter of at
 * most, and whose unused bytes fit the slop budget; 0 when the buffer should be
 * mapped exactly. The budget is an eighth of the byte cap (a quarter when mapping
 * slots are scarce), and windows never take the last quarter of the byte cap, which
 * stays for exact mappings: scattered long-lived buffers therefore cannot pin enough
 * windows to starve anything.
 */
static uint64_t adaptive_window(const struct dp_mapper *m, uint64_t pa, uint64_t len,
				uint64_t *start)
{
	const struct dp_map_stats *st = &m->stats;
	uint64_t need = pages(m, pa, len), max = m->cfg.max_bytes;
	uint64_t use = st->live_bytes - st->slop;
	uint64_t budget = use < max ? (max - use) / 4 : 0;

	/* Short of mapping slots, bytes are the cheaper currency. */
	if (st->live_mappings > m->cfg.max_mappings / 2)
		budget *= 2;
	uint64_t lo = 0, hi = UINT64_MAX;
	struct dp_tree_node *n;
	int shift;

	n = dp_tree_floor(&m->windows, pa, 0);
	if (n) {
		struct dp_hmap *h = dp_tree_entry(n, struct dp_hmap, by_pa);

		lo = h->pa + h->size;
	}
	n = dp_tree_ceil(&m->windows, pa, 0);
	if (n)
		hi = dp_tree_entry(n, struct dp_hmap, by_pa)->pa;
	if (pa < lo || pa + len > hi)
		return 0;
	for (shift = DP_WINDOW_MAX_SHIFT; shift >= (int)m->cfg.granule_shift + 2; shift--) {
		uint64_t w = 1ull << shift, ws = DP_ALIGN_DOWN(pa, w), we = ws + w;

		if (need > w / 4)
			break;
		if (pa + len > we)
			continue;
		if (ws < lo)
			ws = lo;
		if (we > hi)
			we = hi;
		if (st->slop + (we - ws - need) > budget ||
		    st->live_bytes + (we - ws) > max - max / 4)
			continue;
		*start = ws;
		return we - ws;
	}
	return 0;
}

static int map_host(struct dp_mapper *m, uint64_t pa, uint64_t len, unsigned int perm,
		    struct dp_hmap **out)
{
	uint64_t g = granule(m), w, ws = 0;
	int ret;

	switch (m->cfg.policy) {
	case DP_POLICY_WINDOW:
		w = 1ull << m->cfg.window_shift;
		ws = DP_ALIGN_DOWN(pa, w);
		if (pa + len <= ws + w)
			return hmap_create(m, ws, w, PVDMA_MAP_READ | PVDMA_MAP_WRITE, true, out);
		break;
	case DP_POLICY_ADAPTIVE:
		w = adaptive_window(m, pa, len, &ws);
		if (w) {
			ret = hmap_create(m, ws, w, PVDMA_MAP_READ | PVDMA_MAP_WRITE, true, out);
			if (ret == PVDMA_S_OK)
				return ret;
		}
		break;
	default:
		break;
	}
	return hmap_create(m, DP_ALIGN_DOWN(pa, g), pages(m, pa, len), perm, false, out);
}

int dp_mapper_map(struct dp_mapper *m, uint64_t pa, uint64_t len, unsigned int perm,
		  uint64_t *iova)
{
	struct dp_map_stats *st = &m->stats;
	struct dp_hmap *h = NULL;
	int ret;

	st->maps++;
	if (!len || !perm || (perm & ~(PVDMA_MAP_READ | PVDMA_MAP_WRITE)) ||
	    pa + len < pa || DP_ALIGN_UP(pa + len, granule(m)) < pa) {
		st->refused[PVDMA_S_INVALID]++;
		return PVDMA_S_INVALID;
	}
	if (m->cfg.policy != DP_POLICY_EXACT)
		h = window_find(m, pa, len);
	if (h) {
		st->hits++;
		if (h->idle_next)
			idle_unlink(m, h);
	} else {
		ret = map_host(m, pa, len, perm, &h);
		/* Out of room: idle windows go first, then one more try. */
		while (ret == PVDMA_S_NO_MAPPINGS || ret == PVDMA_S_NO_BYTES ||
		       ret == PVDMA_S_NO_SPACE) {
			if (!evict_one(m))
				break;
			ret = map_host(m, pa, len, perm, &h);
		}
		if (ret != PVDMA_S_OK) {
			st->refused[ret]++;
			return ret;
		}
	}
	h->refs++;
	hmap_use(m, h, pages(m, pa, len));
	st->buffers++;
	st->buffer_bytes += len;
	if (st->live_bytes > st->peak_bytes) {
		st->peak_bytes = st->live_bytes;
		st->slop_at_peak_bytes = st->live_bytes > st->buffer_bytes ?
					 st->live_bytes - st->buffer_bytes : 0;
	}
	*iova = h->iova + (pa - h->pa);
	return PVDMA_S_OK;
}

int dp_mapper_unmap(struct dp_mapper *m, uint64_t iova, uint64_t len)
{
	struct dp_map_stats *st = &m->stats;
	struct dp_tree_node *n = dp_tree_floor(&m->by_iova, iova, 0);
	struct dp_hmap *h;

	st->unmaps++;
	if (!n)
		return PVDMA_S_NOT_FOUND;
	h = dp_tree_entry(n, struct dp_hmap, by_iova);
	if (!len || iova + len < iova || iova + len > h->iova + h->size || !h->refs)
		return PVDMA_S_NOT_FOUND;
	h->refs--;
	hmap_use(m, h, -(int64_t)pages(m, h->pa + (iova - h->iova), len));
	st->buffers--;
	st->buffer_bytes -= len;
	if (h->refs)
		return PVDMA_S_OK;
	if (m->cfg.policy != DP_POLICY_ADAPTIVE || !h->window) {
		hmap_release(m, h);
		return PVDMA_S_OK;
	}
	/* Keep the window for reuse, within a sixteenth of either cap. */
	idle_append(m, h);
	while (st->idle_bytes > m->cfg.max_bytes / 16 ||
	       st->idle_mappings > m->cfg.max_mappings / 16)
		evict_one(m);
	return PVDMA_S_OK;
}
