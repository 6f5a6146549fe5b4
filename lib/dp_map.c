// SPDX-License-Identifier: (GPL-2.0 OR MIT)
#include "dp_map.h"

/*
 * Adaptive's constants. Its goals, in order: never refuse a map that exact would fit
 * (a refusal is a DMA error the driver sees), then fewest live host mappings, then
 * fewest host requests. docs/mapper.md gives the measurements behind each constant.
 *
 * Windows are at least four times their first buffer (room for three neighbours) and
 * at least four pages. DP_WINDOW_MAX_SHIFT caps them at 512 KiB (goal 1): a region's
 * last window stays mapped past the region's end for the region's whole life, so
 * windows made while bytes were plentiful still waste their tails when the cap comes
 * near; 1 and 2 MiB tails made surge and shuffle refuse maps near the byte cap.
 */
#define DP_WINDOW_MAX_SHIFT	19
/*
 * Evidence that windows are being filled (goals 2 and 3): busy windows whose unused
 * bytes are under 1/DP_FILLED_DIV of their size. A window made for a scattered buffer
 * is at most a quarter used (it is four times the buffer), a filled one all used: half
 * is the midpoint. While they fill, the slop budget is all but 1/DP_FILLED_DIV of the
 * free bytes: their unused bytes go as their buffers arrive, and leave as they do.
 */
#define DP_FILLED_DIV		2
/*
 * No window may leave more than 1/DP_WINDOW_SLOP_DIV of the free bytes unused (goal 1
 * under the filling budget): as the byte cap nears, windows shrink, and so does what
 * the last window of each region in flight wastes past the region's end. 1/128 made
 * shuffle refuse; 1/256 keeps a factor of two from it.
 */
#define DP_WINDOW_SLOP_DIV	256

/*
 * Idle windows (no buffers left) are kept for drivers that map the same pages again
 * (goal 3), up to 1/DP_IDLE_DIV of either cap, and are the first thing released when a
 * cap or the slop budget needs room (goal 1: an idle window never costs a refusal). On
 * the recorded real-driver traces 1/64 needs within 1% of the host requests 1/16
 * needed; on game loading, whose regions do not come back, more only raised the peak.
 */
#define DP_IDLE_DIV		64

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

static uint64_t slop_of(uint64_t size, uint64_t used)
{
	return size > used ? size - used : 0;
}

static uint64_t hmap_slop(const struct dp_hmap *h)
{
	return slop_of(h->size, h->used);
}

/*
 * Changes h->used by delta; returns the change in h's slop. Atomic, because hits on
 * other CPUs may change the same mapping's use at the same time.
 */
static int64_t hmap_used_add(struct dp_hmap *h, int64_t delta)
{
	uint64_t used = DP_READ_ONCE(h->used), seen;

	while ((seen = dp_cmpxchg(&h->used, used, used + delta)) != used)
		used = seen;
	return (int64_t)(slop_of(h->size, used + delta) - slop_of(h->size, used));
}

/* Changes h->used by delta, keeping the total slop in step. */
static void hmap_use(struct dp_mapper *m, struct dp_hmap *h, int64_t delta)
{
	m->stats.slop += hmap_used_add(h, delta);
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

/*
 * Adaptive's exact mappings are found by their exact pages only (shared_find), so a
 * hash does: a tree lookup cost a cache miss per level.
 */
static struct dp_hmap **exact_bucket(const struct dp_mapper *m, uint64_t pa, uint64_t size)
{
	uint64_t k = (pa ^ size << 40) >> m->cfg.granule_shift;

	return &m->exacts[(k * 0x9e3779b97f4a7c15ull >> 32) & m->exacts_mask];
}

/*
 * Besides by iova, a host mapping is found by pa if it is a window (a tree: which
 * window lies below an address) or one of adaptive's exact mappings (the hash).
 */
static void pa_index_insert(struct dp_mapper *m, struct dp_hmap *h)
{
	struct dp_hmap **b;

	if (h->window) {
		h->by_pa.key = h->pa;
		dp_tree_insert(&m->windows, &h->by_pa);
	} else if (m->exacts) {
		b = exact_bucket(m, h->pa, h->size);
		h->exact_next = *b;
		*b = h;
	}
}

static void pa_index_remove(struct dp_mapper *m, struct dp_hmap *h)
{
	struct dp_hmap **p;

	if (h->window) {
		dp_tree_remove(&m->windows, &h->by_pa);
	} else if (m->exacts) {
		for (p = exact_bucket(m, h->pa, h->size); *p != h; p = &(*p)->exact_next)
			;
		*p = h->exact_next;
	}
}

/* Forgets a planned mapping the host never made. */
static void hmap_drop(struct dp_mapper *m, struct dp_hmap *h)
{
	struct dp_map_stats *st = &m->stats;

	pa_index_remove(m, h);
	st->live_mappings--;
	st->live_bytes -= h->size;
	st->window_bytes -= h->window ? h->size : 0;
	st->slop -= hmap_slop(h);
	dp_free(h);
}

/* Takes a host mapping out of use; the open batch unmaps and frees it. */
static void hmap_release(struct dp_mapper *m, struct dp_hmap *h)
{
	struct dp_map_stats *st = &m->stats;

	if (h->idle_next)
		idle_unlink(m, h);
	dp_tree_remove(&m->by_iova, &h->by_iova);
	pa_index_remove(m, h);
	st->live_mappings--;
	st->live_bytes -= h->size;
	st->window_bytes -= h->window ? h->size : 0;
	st->slop -= hmap_slop(h);
	h->req = (struct dp_host_req){ .op = PVDMA_OP_UNMAP, .pa = h->pa, .len = h->size,
				       .iova = h->iova, .status = PVDMA_S_PENDING };
	*m->releases_tail = &h->req;
	m->releases_tail = &h->req.next;
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

/* Makes room for one more host mapping of size bytes, releasing idle windows. */
static int make_room(struct dp_mapper *m, uint64_t size)
{
	const struct dp_map_stats *st = &m->stats;

	for (;;) {
		if (st->live_mappings >= m->cfg.max_mappings) {
			if (!evict_one(m))
				return PVDMA_S_NO_MAPPINGS;
		} else if (size > m->cfg.max_bytes - st->live_bytes) {
			if (!evict_one(m))
				return PVDMA_S_NO_BYTES;
		} else {
			return PVDMA_S_OK;
		}
	}
}

/* Plans a host mapping; the open batch creates it. */
static int hmap_create(struct dp_mapper *m, uint64_t pa, uint64_t size, unsigned int perm,
		       bool window, struct dp_hmap **out)
{
	struct dp_map_stats *st = &m->stats;
	struct dp_hmap *h;
	int ret = make_room(m, size);

	if (ret != PVDMA_S_OK)
		return ret;
	h = dp_zalloc(sizeof(*h));
	if (!h)
		return PVDMA_S_NO_SPACE;
	h->pa = pa;
	h->size = size;
	h->perm = perm;
	h->window = window;
	h->pending = true;
	h->req = (struct dp_host_req){ .op = PVDMA_OP_MAP, .perm = perm, .pa = pa, .len = size,
				       .status = PVDMA_S_PENDING };
	*m->creates_tail = &h->req;
	m->creates_tail = &h->req.next;
	pa_index_insert(m, h);
	st->live_mappings++;
	st->live_bytes += size;
	st->window_bytes += window ? size : 0;
	st->slop += size;
	if (st->live_mappings > st->peak_mappings)
		st->peak_mappings = st->live_mappings;
	*out = h;
	return PVDMA_S_OK;
}

void dp_mapper_batch_begin(struct dp_mapper *m)
{
	DP_ASSERT(!m->batching);
	m->batching = true;
	m->releases = m->creates = NULL;
	m->releases_tail = &m->releases;
	m->creates_tail = &m->creates;
	m->touched = NULL;
	m->batch_bufs = m->batch_bytes = 0;
	m->batch_status = PVDMA_S_OK;
}

/*
 * Sends the queued releases, then (if creates) the planned mappings, in one host call.
 * Frees what was released; returns the first status the host refused a map with.
 */
static int submit(struct dp_mapper *m, bool creates)
{
	struct dp_map_stats *st = &m->stats;
	struct dp_host_req *r, *next;
	int ret = PVDMA_S_OK;

	/* Releases first: they make room for what the batch creates. */
	*m->releases_tail = creates ? m->creates : NULL;
	r = m->releases;
	m->releases = NULL;
	m->releases_tail = &m->releases;
	m->creates = NULL;
	m->creates_tail = &m->creates;
	if (!r)
		return PVDMA_S_OK;
	m->ops->submit(m->host, r);
	st->host_calls++;
	for (; r; r = next) {
		struct dp_hmap *h = dp_container_of(r, struct dp_hmap, req);

		next = r->next;
		if (r->op == PVDMA_OP_UNMAP) {
			DP_ASSERT(r->status == PVDMA_S_OK);
			st->host_unmaps++;
			dp_free(h);
			continue;
		}
		st->host_maps++;
		if (r->status != PVDMA_S_OK) {
			if (ret == PVDMA_S_OK)
				ret = r->status;
			continue;
		}
		h->iova = r->iova;
		h->by_iova.key = h->iova;
		dp_tree_insert(&m->by_iova, &h->by_iova);
	}
	return ret;
}

int dp_mapper_batch_end(struct dp_mapper *m)
{
	struct dp_map_stats *st = &m->stats;
	int ret = m->batch_status, host;
	struct dp_hmap *h, *next;

	DP_ASSERT(m->batching);
	host = submit(m, ret == PVDMA_S_OK);
	if (ret == PVDMA_S_OK)
		ret = host;
	for (h = m->touched; h; h = next) {
		next = h->batch_next;
		if (ret != PVDMA_S_OK) {
			h->refs -= h->batch_refs;
			hmap_use(m, h, -(int64_t)h->batch_used);
		}
		h->batch_next = NULL;
		h->batch_refs = 0;
		h->batch_used = 0;
		if (h->refs) {
			h->pending = false;
		} else if (h->pending && h->req.status != PVDMA_S_OK) {
			hmap_drop(m, h);
		} else if (h->pending) {
			h->pending = false;
			hmap_release(m, h);
		} else if (m->cfg.policy == DP_POLICY_ADAPTIVE && h->window) {
			idle_append(m, h);	/* idle before, or emptied by this batch's unmaps */
		} else {
			/* Emptied by this batch's unmaps, then its maps undone: unmapped below. */
			hmap_release(m, h);
		}
	}
	if (ret != PVDMA_S_OK) {
		st->refused[ret] += m->batch_bufs;
		st->buffers -= m->batch_bufs;
		st->buffer_bytes -= m->batch_bytes;
		submit(m, false);	/* what the host mapped for the failed batch */
	}
	m->batching = false;
	return ret;
}

void dp_mapper_trim(struct dp_mapper *m)
{
	dp_mapper_batch_begin(m);
	while (evict_one(m))
		;
	dp_mapper_batch_end(m);
}

int dp_mapper_init(struct dp_mapper *m, const struct dp_map_config *cfg,
		   const struct dp_host_ops *ops, void *host)
{
	if (cfg->policy >= DP_POLICY_COUNT || cfg->granule_shift < 12 ||
	    cfg->granule_shift > 30 || !cfg->max_mappings || !cfg->max_bytes ||
	    (cfg->policy == DP_POLICY_WINDOW &&
	     (cfg->window_shift < cfg->granule_shift || cfg->window_shift > 30)) ||
	    (cfg->policy == DP_POLICY_ADAPTIVE && cfg->slop_share > 100))
		return PVDMA_S_INVALID;
	*m = (struct dp_mapper){ .cfg = *cfg, .ops = ops, .host = host };
	m->idle.idle_next = m->idle.idle_prev = &m->idle;
	if (cfg->policy == DP_POLICY_ADAPTIVE) {
		/* Chains of four or fewer on average at the host's cap; 256 KiB at most. */
		while (m->exacts_mask < cfg->max_mappings / 8 && m->exacts_mask < 0x7fff)
			m->exacts_mask = 2 * m->exacts_mask + 1;
		m->exacts = dp_zalloc_setup((m->exacts_mask + 1) * sizeof(*m->exacts));
		if (!m->exacts)
			return PVDMA_S_NO_SPACE;
	}
	return PVDMA_S_OK;
}

void dp_mapper_destroy(struct dp_mapper *m)
{
	struct dp_tree_node *n;

	dp_mapper_batch_begin(m);
	while ((n = m->by_iova.root))
		hmap_release(m, dp_tree_entry(n, struct dp_hmap, by_iova));
	dp_mapper_batch_end(m);
	m->stats.buffers = 0;
	m->stats.buffer_bytes = 0;
	dp_free(m->exacts);
	m->exacts = NULL;
}

/* The window starting at or below pa, or NULL. */
static struct dp_hmap *window_below(const struct dp_mapper *m, uint64_t pa)
{
	struct dp_tree_node *n = dp_tree_floor(&m->windows, pa, 0);

	return n ? dp_tree_entry(n, struct dp_hmap, by_pa) : NULL;
}

static bool covers(const struct dp_hmap *h, uint64_t pa, uint64_t len)
{
	return h && pa + len <= h->pa + h->size;
}

/*
 * A live host mapping that [pa, pa + len) can share for perm, or NULL: the window below
 * it, or under adaptive an exact mapping of the same pages that allows perm. Not a
 * larger exact mapping: the buffer would keep all of it mapped after its owner goes,
 * unused bytes that no budget accounts for.
 */
static struct dp_hmap *shared_find(const struct dp_mapper *m, uint64_t pa, uint64_t len,
				   unsigned int perm, struct dp_hmap *below)
{
	uint64_t start = DP_ALIGN_DOWN(pa, granule(m)), size = pages(m, pa, len);
	struct dp_hmap *h;

	if (covers(below, pa, len))
		return below;
	if (!m->exacts)
		return NULL;
	for (h = *exact_bucket(m, start, size); h; h = h->exact_next)
		if (h->pa == start && h->size == size && !(perm & ~h->perm))
			return h;
	return NULL;
}

/* The byte cap minus the bytes buffers use (their pages). */
static uint64_t free_bytes(const struct dp_mapper *m)
{
	uint64_t use = m->stats.live_bytes - m->stats.slop;

	return use < m->cfg.max_bytes ? m->cfg.max_bytes - use : 0;
}

/*
 * Busy windows (not idle) are mostly used: buffers are filling the windows they get,
 * and their slop does not stay. busy_slop is the busy windows' unused bytes.
 */
static bool windows_filling(const struct dp_mapper *m, uint64_t busy_slop)
{
	return busy_slop * DP_FILLED_DIV < m->stats.window_bytes - m->stats.idle_bytes;
}

/*
 * Adaptive: how many unused bytes all windows may hold (goal 1). slop_share percent of
 * the free bytes (room): slop pinned by a long-lived buffer cannot be taken back, and
 * this bound is what keeps long-lived growth refusal-free to about (100 - share)% of
 * the byte cap. While windows are filling, all but 1/DP_FILLED_DIV of the free bytes.
 */
static uint64_t slop_budget(const struct dp_mapper *m, uint64_t room, bool filling)
{
	uint64_t budget = room / 100 * m->cfg.slop_share;

	if (filling && budget < room - room / DP_FILLED_DIV)
		budget = room - room / DP_FILLED_DIV;
	return budget;
}

/*
 * Adaptive: the largest aligned window (512 KiB down to 4 pages) around the buffer that
 * overlaps no other window, is at least four times the buffer (room for neighbours),
 * leaves at most 1/DP_WINDOW_SLOP_DIV of the free bytes unused, and whose unused bytes
 * fit the slop budget once idle windows are released, which *allowed returns; failing
 * that, while windows are filling, a four-page window for a one-page buffer, whatever
 * the budget (*allowed is then UINT64_MAX); 0 when the buffer should be mapped exactly.
 */
static uint64_t adaptive_window(const struct dp_mapper *m, uint64_t pa, uint64_t len,
				const struct dp_hmap *below, uint64_t *start, uint64_t *allowed)
{
	uint64_t need = pages(m, pa, len), room = free_bytes(m), small = granule(m) << 2;
	uint64_t busy_slop = m->stats.slop - m->stats.idle_bytes;
	bool filling = windows_filling(m, busy_slop);
	uint64_t budget = slop_budget(m, room, filling), max_slop = room / DP_WINDOW_SLOP_DIV;
	uint64_t lo = below ? below->pa + below->size : 0, hi = UINT64_MAX, at;
	/*
	 * A window four times the buffer leaves three times it unused; short of that,
	 * skip the search (a window squeezed between neighbours could be smaller, but
	 * would rarely serve another buffer).
	 */
	bool sized = busy_slop + 3 * need <= budget && 3 * need <= max_slop;
	bool fallback = filling && need <= small / 4;
	struct dp_tree_node *n;
	int shift;

	if (!sized && !fallback)
		return 0;
	n = dp_tree_ceil(&m->windows, pa, 0);
	if (n)
		hi = dp_tree_entry(n, struct dp_hmap, by_pa)->pa;
	if (pa < lo || pa + len > hi)
		return 0;
	*allowed = budget;
	for (shift = DP_WINDOW_MAX_SHIFT; sized && shift >= (int)m->cfg.granule_shift + 2;
	     shift--) {
		uint64_t w = 1ull << shift, ws = DP_ALIGN_DOWN(pa, w), we = ws + w;

		if (need > w / 4)
			break;
		if (pa + len > we)
			continue;
		if (ws < lo)
			ws = lo;
		if (we > hi)
			we = hi;
		if (we - ws - need > max_slop || busy_slop + (we - ws - need) > budget)
			continue;
		*start = ws;
		return we - ws;
	}
	/*
	 * Goal 1 through the mapping cap: near the byte cap neither limit allows a
	 * window, and every page would take a mapping of its own until the mapping cap
	 * refused what bytes still had room for. A four-page window (the smallest)
	 * among windows that are filling fills too, for a quarter of the mappings.
	 */
	at = DP_ALIGN_DOWN(pa, small);
	if (fallback && pa + len <= at + small && at >= lo && at + small <= hi) {
		*start = at;
		*allowed = UINT64_MAX;
		return small;
	}
	return 0;
}

static int map_host(struct dp_mapper *m, uint64_t pa, uint64_t len, unsigned int perm,
		    const struct dp_hmap *below, struct dp_hmap **out)
{
	uint64_t g = granule(m), w, ws = 0, allowed = 0;

	switch (m->cfg.policy) {
	case DP_POLICY_WINDOW:
		w = 1ull << m->cfg.window_shift;
		ws = DP_ALIGN_DOWN(pa, w);
		if (pa + len <= ws + w)
			return hmap_create(m, ws, w, PVDMA_MAP_READ | PVDMA_MAP_WRITE, true,
					   out);
		break;
	case DP_POLICY_ADAPTIVE:
		/*
		 * Idle windows give way to a window that is wanted now, for the slop budget
		 * as for the caps: each would be unmapped some day anyway.
		 */
		w = adaptive_window(m, pa, len, below, &ws, &allowed);
		while (w && m->stats.slop + (w - pages(m, pa, len)) > allowed)
			if (!evict_one(m))
				w = 0;
		if (w && hmap_create(m, ws, w, PVDMA_MAP_READ | PVDMA_MAP_WRITE, true,
				     out) == PVDMA_S_OK)
			return PVDMA_S_OK;
		break;
	default:
		break;
	}
	return hmap_create(m, DP_ALIGN_DOWN(pa, g), pages(m, pa, len), perm, false, out);
}

static bool map_args_ok(const struct dp_mapper *m, uint64_t pa, uint64_t len,
			unsigned int perm)
{
	return len && perm && !(perm & ~(PVDMA_MAP_READ | PVDMA_MAP_WRITE)) && pa + len >= pa &&
	       DP_ALIGN_UP(pa + len, granule(m)) >= pa;
}

/* The live host mapping a map of [pa, pa + len) would share; *below as shared_find's. */
static struct dp_hmap *hit_find(const struct dp_mapper *m, uint64_t pa, uint64_t len,
				unsigned int perm, struct dp_hmap **below)
{
	*below = m->cfg.policy == DP_POLICY_EXACT ? NULL : window_below(m, pa);
	return shared_find(m, pa, len, perm, *below);
}

/* Marks the open batch failed; its buffers are undone at dp_mapper_batch_end(). */
static int batch_fail(struct dp_mapper *m, int status)
{
	m->stats.refused[status]++;
	if (m->batch_status == PVDMA_S_OK)
		m->batch_status = status;
	return status;
}

int dp_mapper_batch_map(struct dp_mapper *m, uint64_t pa, uint64_t len, unsigned int perm,
			struct dp_hmap **out)
{
	struct dp_map_stats *st = &m->stats;
	struct dp_hmap *h, *below;
	int ret;

	DP_ASSERT(m->batching);
	st->maps++;
	if (m->batch_status != PVDMA_S_OK)
		return batch_fail(m, m->batch_status);
	if (!map_args_ok(m, pa, len, perm))
		return batch_fail(m, PVDMA_S_INVALID);
	h = hit_find(m, pa, len, perm, &below);
	if (h) {
		st->hits++;
		if (h->idle_next)
			idle_unlink(m, h);
	} else {
		ret = map_host(m, pa, len, perm, below, &h);
		if (ret != PVDMA_S_OK)
			return batch_fail(m, ret);
	}
	if (!h->batch_refs) {
		h->batch_next = m->touched;
		m->touched = h;
	}
	h->refs++;
	h->batch_refs++;
	hmap_use(m, h, pages(m, pa, len));
	h->batch_used += pages(m, pa, len);
	st->buffers++;
	st->buffer_bytes += len;
	m->batch_bufs++;
	m->batch_bytes += len;
	if (st->live_bytes > st->peak_bytes) {
		st->peak_bytes = st->live_bytes;
		st->slop_at_peak_bytes = st->live_bytes > st->buffer_bytes ?
					 st->live_bytes - st->buffer_bytes : 0;
	}
	*out = h;
	return PVDMA_S_OK;
}

int dp_mapper_map(struct dp_mapper *m, uint64_t pa, uint64_t len, unsigned int perm,
		  uint64_t *iova)
{
	struct dp_hmap *h;
	int ret;

	dp_mapper_batch_begin(m);
	dp_mapper_batch_map(m, pa, len, perm, &h);
	ret = dp_mapper_batch_end(m);
	if (ret == PVDMA_S_OK)
		*iova = dp_hmap_iova(h, pa);
	return ret;
}

static struct dp_hmap *hmap_at(const struct dp_mapper *m, uint64_t iova)
{
	struct dp_tree_node *n = dp_tree_floor(&m->by_iova, iova, 0);
	struct dp_hmap *h;

	if (!n)
		return NULL;
	h = dp_tree_entry(n, struct dp_hmap, by_iova);
	return iova < h->iova + h->size ? h : NULL;
}

/* Where [iova, iova + len) lies in h, that a buffer mapped there may be unmapped. */
static bool unmap_args_ok(const struct dp_hmap *h, uint64_t iova, uint64_t len)
{
	return h && len && iova + len >= iova && iova + len <= h->iova + h->size;
}

uint64_t dp_mapper_phys(const struct dp_mapper *m, uint64_t iova)
{
	const struct dp_hmap *h = hmap_at(m, iova);

	return h ? h->pa + (iova - h->iova) : UINT64_MAX;
}

int dp_mapper_batch_unmap(struct dp_mapper *m, uint64_t iova, uint64_t len)
{
	struct dp_map_stats *st = &m->stats;
	struct dp_hmap *h = hmap_at(m, iova);

	DP_ASSERT(m->batching);
	st->unmaps++;
	if (!unmap_args_ok(h, iova, len) || h->refs <= h->batch_refs)
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
	/* Keep the window for reuse (DP_IDLE_DIV). */
	idle_append(m, h);
	while (st->idle_bytes > m->cfg.max_bytes / DP_IDLE_DIV ||
	       st->idle_mappings > m->cfg.max_mappings / DP_IDLE_DIV)
		evict_one(m);
	return PVDMA_S_OK;
}

int dp_mapper_unmap(struct dp_mapper *m, uint64_t iova, uint64_t len)
{
	int ret;

	dp_mapper_batch_begin(m);
	ret = dp_mapper_batch_unmap(m, iova, len);
	dp_mapper_batch_end(m);
	return ret;
}

/*
 * The hit path: what dp_mapper_batch_map() and dp_mapper_batch_unmap() do for a hit on
 * a busy mapping, with references taken and dropped by cmpxchg. Under the caller's
 * locking a serialized call runs meanwhile at most inside submit(), where the trees and
 * every field the hit path reads are still; only refs and used are shared with other
 * CPUs' hits. A busy mapping stays busy (refs > 0) because hits never drop a last
 * reference. Mappings the open batch references are left alone: one it creates has no
 * bus address yet, and a batch that fails takes its references back.
 */
bool dp_mapper_map_hit(const struct dp_mapper *m, uint64_t pa, uint64_t len,
		       unsigned int perm, struct dp_map_delta *d, uint64_t *iova)
{
	struct dp_hmap *h, *below;
	uint32_t refs, seen;

	if (!map_args_ok(m, pa, len, perm))
		return false;
	h = hit_find(m, pa, len, perm, &below);
	if (!h || h->batch_refs)	/* pending ones too: they have the batch's refs */
		return false;
	for (refs = DP_READ_ONCE(h->refs); refs; refs = seen)
		if ((seen = dp_cmpxchg(&h->refs, refs, refs + 1)) == refs)
			break;
	if (!refs)
		return false;	/* idle: the serialized path takes it off the idle list */
	d->slop += hmap_used_add(h, pages(m, pa, len));
	d->maps++;
	d->hits++;
	d->buffers++;
	d->buffer_bytes += len;
	*iova = dp_hmap_iova(h, pa);
	return true;
}

bool dp_mapper_unmap_hit(const struct dp_mapper *m, uint64_t iova, uint64_t len,
			 struct dp_map_delta *d, uint64_t *pa)
{
	struct dp_hmap *h = hmap_at(m, iova);
	uint32_t refs, seen;

	if (!unmap_args_ok(h, iova, len) || h->batch_refs)
		return false;
	for (refs = DP_READ_ONCE(h->refs); refs > 1; refs = seen)
		if ((seen = dp_cmpxchg(&h->refs, refs, refs - 1)) == refs)
			break;
	if (refs <= 1)
		return false;	/* the last reference: the mapping goes idle or away */
	*pa = h->pa + (iova - h->iova);
	d->slop += hmap_used_add(h, -(int64_t)pages(m, *pa, len));
	d->unmaps++;
	d->buffers--;
	d->buffer_bytes -= len;
	return true;
}

void dp_mapper_fold(struct dp_mapper *m, struct dp_map_delta *d)
{
	struct dp_map_stats *st = &m->stats;

	st->maps += d->maps;
	st->unmaps += d->unmaps;
	st->hits += d->hits;
	st->buffers += d->buffers;
	st->buffer_bytes += d->buffer_bytes;
	st->slop += d->slop;
	*d = (struct dp_map_delta){ 0 };
}
