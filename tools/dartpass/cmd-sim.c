// SPDX-License-Identifier: (GPL-2.0 OR MIT)
/*
 * dartpass sim: replays DMA traces through the coalescing mapper (lib/dp_map.c) on the
 * DART model (lib/dp_dart.c) under given caps, once per policy, and prints what each
 * policy needed from the host, plus a "floor" row: the fewest live mappings any policy
 * could have peaked at. Optionally plots live mappings and bytes over the trace as SVG.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "dartpass.h"
#include "dp_dart.h"
#include "dp_map.h"
#include "dp_trace.h"

static const char *opt_policies = "exact,window,adaptive";
static uint64_t opt_max_mappings = 65536;
static uint64_t opt_max_bytes = 1536ull << 20;
static uint64_t opt_granule_shift = 14;
static uint64_t opt_window_shift = 18;
static uint64_t opt_slop_share = DP_SLOP_SHARE_DEFAULT;
static uint64_t opt_aperture = 64ull << 30;
static const char *opt_svg;
static bool opt_check;
static bool opt_null_host;

static const struct dp_opt sim_opts[] = {
	{ "policy", DP_OPT_STR, &opt_policies, "comma-separated policies to compare" },
	{ "max-mappings", DP_OPT_U64, &opt_max_mappings, "host cap on live mappings" },
	{ "max-bytes", DP_OPT_U64, &opt_max_bytes, "host cap on mapped bytes" },
	{ "granule-shift", DP_OPT_U64, &opt_granule_shift, "log2 of the host page" },
	{ "window-shift", DP_OPT_U64, &opt_window_shift, "log2 of the window policy's window" },
	{ "slop-share", DP_OPT_U64, &opt_slop_share,
	  "percent of the free bytes the adaptive policy's windows may leave unused" },
	{ "aperture", DP_OPT_U64, &opt_aperture, "bus-address space of the host" },
	{ "svg", DP_OPT_STR, &opt_svg, "write a plot of live mappings and bytes to this file" },
	{ "null-host", DP_OPT_BOOL, &opt_null_host,
	  "a host that maps instantly and enforces nothing: ns/op is the mapper's own cost" },
	{ "check", DP_OPT_BOOL, &opt_check,
	  "verify every live buffer's pages against the DART after each event (slow)" },
	{ NULL }
};

struct trace {
	struct dp_trace_rec *rec;
	size_t n, cap;
	size_t live_max;	/* most buffers mapped at once, if every map succeeds */
};

static int trace_load(const char *path, struct trace *t)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
	char line[256];
	size_t lineno = 0, live = 0;

	if (!f) {
		fprintf(stderr, "dartpass sim: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		struct dp_trace_rec r;
		int ret = dp_trace_parse(line, &r);

		lineno++;
		if (ret < 0) {
			fprintf(stderr, "dartpass sim: %s:%zu: not a trace event: %s", path, lineno,
				line);
			if (f != stdin)
				fclose(f);
			return -1;
		}
		if (!ret)
			continue;
		if (t->n == t->cap) {
			t->cap = t->cap ? 2 * t->cap : 4096;
			t->rec = realloc(t->rec, t->cap * sizeof(*t->rec));
			if (!t->rec) {
				fprintf(stderr, "dartpass sim: out of memory\n");
				exit(1);
			}
		}
		t->rec[t->n++] = r;
		live += r.op == 'M' ? 1 : live ? -1 : 0;
		if (live > t->live_max)
			t->live_max = live;
	}
	if (f != stdin)
		fclose(f);
	return 0;
}

/*
 * Buffers of a replay, (pa, len, dev, perm) -> iova in a chained hash: each one the
 * trace has mapped and not yet unmapped. Refused maps stay too: the trace still
 * unmaps them, and that unmap must not release a live buffer that happens to have
 * the same address, length, device and direction.
 */
struct buf {
	uint64_t pa, len, iova;
	uint32_t dev;
	unsigned int perm;
	bool refused;
	struct buf *next;
};

struct bufs {
	struct buf **slot;
	size_t mask;
	size_t drained;		/* slots bufs_pop() has emptied */
};

/*
 * A table for up to n live buffers: its size follows what is live, not the length of
 * the trace (a measured ns/op did not change); 0, or -1 without memory.
 */
static int bufs_init(struct bufs *b, size_t n)
{
	*b = (struct bufs){ .mask = 4095 };
	while (b->mask < 2 * n)
		b->mask = 2 * b->mask + 1;
	b->slot = calloc(b->mask + 1, sizeof(*b->slot));
	return b->slot ? 0 : -1;
}

/* Takes out any live buffer (the caller frees it); NULL, and the table freed, at the end. */
static struct buf *bufs_pop(struct bufs *b)
{
	struct buf *x;

	for (; b->drained <= b->mask; b->drained++) {
		x = b->slot[b->drained];
		if (x) {
			b->slot[b->drained] = x->next;
			return x;
		}
	}
	free(b->slot);
	b->slot = NULL;
	return NULL;
}

static size_t buf_hash(const struct bufs *b, uint64_t pa, uint64_t len, uint32_t dev)
{
	uint64_t h = (pa ^ (len << 40) ^ ((uint64_t)dev << 20)) * 0x9e3779b97f4a7c15ull;

	return (h >> 32) & b->mask;
}

static struct buf **buf_find(struct bufs *b, const struct dp_trace_rec *r)
{
	struct buf **p = &b->slot[buf_hash(b, r->pa, r->len, r->dev)];

	while (*p && ((*p)->pa != r->pa || (*p)->len != r->len || (*p)->dev != r->dev ||
		      (*p)->perm != r->perm))
		p = &(*p)->next;
	return p;
}

/* Links a new buffer for r's map at p (from buf_find), the first of its twins. */
static struct buf *buf_add(struct buf **p, const struct dp_trace_rec *r)
{
	struct buf *x = malloc(sizeof(*x));

	if (!x) {
		fprintf(stderr, "dartpass sim: out of memory\n");
		exit(1);
	}
	*x = (struct buf){ .pa = r->pa, .len = r->len, .dev = r->dev, .perm = r->perm,
			   .next = *p };
	*p = x;
	return x;
}

struct result {
	struct dp_map_stats st;
	uint64_t refused, refused_bytes;	/* buffer maps, and their length */
	double ns_per_op;
	uint32_t *plot_maps;	/* samples of live mappings, bytes (MiB) */
	uint32_t *plot_mib;
};

/* Bus addresses from a bump pointer (64-bit, never reused): distinct and aligned. */
static void null_submit(void *host, struct dp_host_req *r)
{
	uint64_t *next = host;

	for (; r; r = r->next) {
		if (r->op == PVDMA_OP_MAP) {
			r->iova = *next;
			*next += r->len;
		}
		r->status = PVDMA_S_OK;
	}
}

static const struct dp_host_ops null_ops = { .submit = null_submit };

#define PLOT_POINTS 600

/* Every live buffer must be reachable at its iova, page by page, in the DART. */
static int check_buffers(const struct bufs *b, const struct dp_dart *d, uint64_t g)
{
	size_t i;

	for (i = 0; i <= b->mask; i++) {
		const struct buf *x;

		for (x = b->slot[i]; x; x = x->next) {
			uint64_t off;

			if (x->refused)
				continue;
			for (off = 0; off < x->len + (x->pa & (g - 1)); off += g) {
				uint64_t io = x->iova - (x->pa & (g - 1)) + off;
				const struct dp_dart_mapping *m = dp_dart_lookup(d, io);

				if (!m || m->pa + (io - m->iova) != x->pa - (x->pa & (g - 1)) + off)
					return -1;
			}
		}
	}
	return 0;
}

#define FLOOR_SAMPLES 64

struct range {
	uint64_t start, end;
};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int cmp_range(const void *a, const void *b)
{
	return cmp_u64(&((const struct range *)a)->start, &((const struct range *)b)->start);
}

/*
 * The fewest mappings that cover n live page ranges (sorted in place) in cap bytes.
 * *need: the fewest unused bytes of a cover by at most target mappings (0 if the
 * merged ranges are that few already).
 */
static uint64_t cover_floor(struct range *r, size_t n, uint64_t cap, bool *over,
			    uint64_t target, uint64_t *need)
{
	uint64_t *gap = malloc((n ? n : 1) * sizeof(*gap)), bytes = 0, k = 0, j = 0;
	size_t i;

	if (!gap) {
		fprintf(stderr, "dartpass sim: out of memory\n");
		exit(1);
	}
	qsort(r, n, sizeof(*r), cmp_range);
	for (i = 0; i < n; i++) {
		if (k && r[i].start <= r[k - 1].end) {
			if (r[i].end > r[k - 1].end)
				r[k - 1].end = r[i].end;
			continue;
		}
		r[k++] = r[i];
	}
	for (i = 0; i < k; i++) {
		bytes += r[i].end - r[i].start;
		if (i)
			gap[i - 1] = r[i].start - r[i - 1].end;
	}
	*over |= bytes > cap;
	qsort(gap, k ? k - 1 : 0, sizeof(*gap), cmp_u64);
	for (*need = 0, i = 0; k > target && i < k - target; i++)
		*need += gap[i];
	for (; j + 1 < k && bytes + gap[j] <= cap; j++)
		bytes += gap[j];
	free(gap);
	return k - j;
}

/*
 * A lower bound on any policy's peak live host mappings: at sampled moments, the live
 * buffers' pages, merged where they touch, with the smallest gaps between them
 * bridged while the bytes fit the byte cap (bridging any other gap costs more bytes).
 * It ignores directions and the mapping cap, so no policy can beat it. *over is set
 * when the live pages alone exceed the byte cap. With target, *need is the most, over
 * the samples, of the fewest unused bytes that cover the live pages with at most
 * target mappings: a policy that never holds more than target mappings holds at least
 * that many unused bytes at some moment.
 */
static uint64_t trace_floor(const struct trace *t, bool *over, uint64_t target,
			    uint64_t *need)
{
	uint64_t g = 1ull << opt_granule_shift, best = 0, un;
	struct range *r = malloc((t->n ? t->n : 1) * sizeof(*r));
	struct buf *x;
	struct bufs b;
	size_t i, k, n, s;

	if (bufs_init(&b, t->live_max) || !r) {
		fprintf(stderr, "dartpass sim: out of memory\n");
		exit(1);
	}
	*over = false;
	*need = 0;
	for (i = 0, k = 1; i < t->n; i++) {
		const struct dp_trace_rec *e = &t->rec[i];
		struct buf **p = buf_find(&b, e);

		if (e->op == 'M') {
			buf_add(p, e);
		} else if (*p) {
			x = *p;
			*p = x->next;
			free(x);
		}
		if (i + 1 < k * t->n / FLOOR_SAMPLES)
			continue;
		k++;
		for (s = 0, n = 0; s <= b.mask; s++)
			for (x = b.slot[s]; x; x = x->next)
				r[n++] = (struct range){ DP_ALIGN_DOWN(x->pa, g),
							 DP_ALIGN_UP(x->pa + x->len, g) };
		n = cover_floor(r, n, opt_max_bytes, over, target ? target : UINT64_MAX, &un);
		if (n > best)
			best = n;
		if (target && un > *need)
			*need = un;
	}
	while ((x = bufs_pop(&b)))
		free(x);
	free(r);
	return best;
}

/*
 * The DART model and the mapper the options describe, for one policy (null_next: the
 * null host's next bus address). Options are 64-bit and some config fields 32-bit:
 * values that would narrow, and granule shifts too wide to shift by, are refused here,
 * the rest by the model's and the mapper's own checks.
 */
static int sim_setup(enum dp_policy policy, struct dp_dart *dart, struct dp_mapper *m,
		     uint64_t *null_next)
{
	struct dp_dart_config dc;
	struct dp_map_config mc;

	if (opt_granule_shift > 30 || opt_window_shift > UINT32_MAX ||
	    opt_max_mappings > UINT32_MAX || opt_slop_share > UINT32_MAX)
		return -1;
	dc = (struct dp_dart_config){
		.aperture_base = 1ull << opt_granule_shift, .aperture_size = opt_aperture,
		.granule_shift = opt_granule_shift, .max_mappings = opt_max_mappings,
		.max_bytes = opt_max_bytes,
	};
	mc = (struct dp_map_config){
		.policy = policy, .granule_shift = opt_granule_shift,
		.max_mappings = opt_max_mappings, .max_bytes = opt_max_bytes,
		.window_shift = opt_window_shift, .slop_share = opt_slop_share,
	};
	if (dp_dart_init(dart, &dc) != PVDMA_S_OK)
		return -1;
	*null_next = 1ull << 40;
	if (dp_mapper_init(m, &mc, opt_null_host ? &null_ops : &dp_dart_host_ops,
			   opt_null_host ? (void *)null_next : dart) != PVDMA_S_OK) {
		dp_dart_destroy(dart);
		return -1;
	}
	return 0;
}

static int replay(const struct trace *t, enum dp_policy policy, struct result *res)
{
	struct dp_dart dart;
	struct dp_mapper m;
	struct timespec t0, t1;
	struct bufs b;
	struct buf *x;
	uint64_t null_next;
	size_t i, k;
	int ret = 0;

	res->plot_maps = calloc(PLOT_POINTS, sizeof(uint32_t));
	res->plot_mib = calloc(PLOT_POINTS, sizeof(uint32_t));
	/* sim_run() has checked the limits: sim_setup() can only run out of memory. */
	if (bufs_init(&b, t->live_max) || !res->plot_maps || !res->plot_mib ||
	    sim_setup(policy, &dart, &m, &null_next)) {
		fprintf(stderr, "dartpass sim: out of memory\n");
		return -1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0, k = 0; i < t->n; i++) {
		const struct dp_trace_rec *r = &t->rec[i];
		struct buf **p = buf_find(&b, r);

		if (r->op == 'M') {
			x = buf_add(p, r);
			x->refused = dp_mapper_map(&m, r->pa, r->len, r->perm, &x->iova) !=
				     PVDMA_S_OK;
			res->refused += x->refused;
			res->refused_bytes += x->refused ? r->len : 0;
		} else if (*p) {
			x = *p;
			*p = x->next;
			if (!x->refused && dp_mapper_unmap(&m, x->iova, x->len) != PVDMA_S_OK)
				ret = -1;
			free(x);
		}	/* else its map came before the trace began */
		if (!opt_null_host && (m.stats.live_mappings != dart.stats.live_mappings ||
				      dart.stats.live_mappings > opt_max_mappings ||
				      dart.stats.live_bytes > opt_max_bytes))
			ret = -1;
		if (opt_check && !opt_null_host &&
		    check_buffers(&b, &dart, 1ull << opt_granule_shift)) {
			fprintf(stderr, "dartpass sim: event %zu: a live buffer is not mapped\n", i);
			ret = -1;
		}
		while (k < PLOT_POINTS && i * PLOT_POINTS >= k * t->n) {
			res->plot_maps[k] = m.stats.live_mappings;
			res->plot_mib[k++] = m.stats.live_bytes >> 20;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	res->ns_per_op = ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) /
			 (t->n ? t->n : 1);
	res->st = m.stats;
	/*
	 * Whatever the trace left mapped goes now; nothing may remain in the DART. Those
	 * unmaps count: a policy that ends with more live mappings owes more of them.
	 */
	while ((x = bufs_pop(&b))) {
		if (!x->refused && dp_mapper_unmap(&m, x->iova, x->len) != PVDMA_S_OK)
			ret = -1;
		free(x);
	}
	dp_mapper_destroy(&m);
	res->st.host_unmaps = m.stats.host_unmaps;
	if (dart.stats.live_mappings || dart.stats.live_bytes) {
		fprintf(stderr, "dartpass sim: %s leaked %llu host mappings\n",
			dp_policy_name(policy), (unsigned long long)dart.stats.live_mappings);
		ret = -1;
	}
	dp_dart_destroy(&dart);
	return ret;
}

static void plot(const char *path, const char *title, enum dp_policy *pol,
		 struct result *res, int npol)
{
	static const char *const colors[] = { "#d62728", "#1f77b4", "#2ca02c", "#9467bd" };
	FILE *f = fopen(path, "w");
	int p, k, panel;

	if (!f) {
		fprintf(stderr, "dartpass sim: %s: %s\n", path, strerror(errno));
		return;
	}
	fprintf(f, "<svg xmlns='http://www.w3.org/2000/svg' width='760' height='560' "
		"font-family='sans-serif' font-size='12'>\n<rect width='100%%' height='100%%' "
		"fill='white'/>\n<text x='380' y='20' text-anchor='middle'>%s</text>\n", title);
	for (panel = 0; panel < 2; panel++) {
		double cap = panel ? opt_max_bytes >> 20 : opt_max_mappings, top = 1;
		int y0 = 40 + panel * 260, h = 200;

		for (p = 0; p < npol; p++)
			for (k = 0; k < PLOT_POINTS; k++) {
				double v = panel ? res[p].plot_mib[k] : res[p].plot_maps[k];

				top = v > top ? v : top;
			}
		top = top < cap ? (top * 1.1 < cap ? top * 1.1 : cap) : top;
		fprintf(f, "<rect x='80' y='%d' width='%d' height='%d' fill='none' stroke='#999'/>\n"
			"<text x='75' y='%d' text-anchor='end'>%.0f</text>"
			"<text x='75' y='%d' text-anchor='end'>0</text>"
			"<text x='80' y='%d'>%s (cap %.0f)</text>\n",
			y0, PLOT_POINTS, h, y0 + 10, top, y0 + h, y0 + h + 16,
			panel ? "live MiB" : "live host mappings", cap);
		for (p = 0; p < npol; p++) {
			fprintf(f, "<polyline fill='none' stroke='%s' points='", colors[p % 4]);
			for (k = 0; k < PLOT_POINTS; k++) {
				double v = panel ? res[p].plot_mib[k] : res[p].plot_maps[k];

				fprintf(f, "%d,%.1f ", 80 + k, y0 + h - v / top * h);
			}
			fprintf(f, "'/>\n");
		}
	}
	for (p = 0; p < npol; p++)
		fprintf(f, "<text x='%d' y='550' fill='%s'>%s</text>\n", 80 + p * 120,
			colors[p % 4], dp_policy_name(pol[p]));
	fprintf(f, "</svg>\n");
	fclose(f);
}

static const char *trace_name(const char *path)
{
	return strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
}

static int sim_run(int argc, char **argv)
{
	enum dp_policy pol[DP_POLICY_COUNT];
	struct result res[DP_POLICY_COUNT];
	char names[128], *tok, *save;
	int npol = 0, a, p, rc = 0, width = 16;	/* the trace column fits every name */
	uint64_t lower, twice;
	bool over;

	if (argc < 1) {
		dp_cmd_usage(&dp_cmd_sim, 1);
		return 2;
	}
	snprintf(names, sizeof(names), "%s", opt_policies);
	for (tok = strtok_r(names, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int v = dp_policy_parse(tok);

		if (v < 0 || npol == DP_POLICY_COUNT) {
			fprintf(stderr, "dartpass sim: unknown or repeated policy '%s' (exact,"
				" window, adaptive)\n", tok);
			return 2;
		}
		pol[npol++] = v;
	}
	for (p = 0; p < npol; p++) {
		struct dp_dart dart;
		struct dp_mapper m;
		uint64_t null_next;

		if (sim_setup(pol[p], &dart, &m, &null_next)) {
			fprintf(stderr, "dartpass sim: --max-mappings, --max-bytes, --granule-shift,"
				" --window-shift, --slop-share or --aperture is out of range for"
				" policy %s\n", dp_policy_name(pol[p]));
			return 2;
		}
		dp_mapper_destroy(&m);
		dp_dart_destroy(&dart);
	}
	for (a = 0; a < argc; a++)
		if ((int)strlen(trace_name(argv[a])) > width)
			width = strlen(trace_name(argv[a]));
	printf("%-*s %-9s %8s %8s %9s %9s %9s %9s %8s %8s %8s %7s\n", width, "trace", "policy",
	       "events", "peak-map", "peak-MiB", "slop-MiB", "host-ops", "hits", "refused",
	       "ref-MiB", "reason", "ns/op");
	for (a = 0; a < argc; a++) {
		struct trace t = { 0 };
		const char *base = trace_name(argv[a]);

		if (trace_load(argv[a], &t))
			return 1;
		lower = trace_floor(&t, &over, 0, &twice);
		trace_floor(&t, &over, 2 * lower, &twice);
		for (p = 0; p < npol; p++) {
			struct dp_map_stats *st = &res[p].st;
			const char *why = "-";

			memset(&res[p], 0, sizeof(res[p]));
			if (replay(&t, pol[p], &res[p])) {
				fprintf(stderr, "dartpass sim: %s: %s broke an invariant\n", base,
					dp_policy_name(pol[p]));
				rc = 1;
			}
			if (st->refused[PVDMA_S_NO_BYTES])
				why = "bytes";
			else if (st->refused[PVDMA_S_NO_MAPPINGS])
				why = "mappings";
			else if (st->refused[PVDMA_S_NO_SPACE])
				why = "space";
			else if (res[p].refused)
				why = "other";
			printf("%-*s %-9s %8zu %8llu %9.1f %9.1f %9llu %9llu %8llu %8.1f %8s %7.0f\n",
			       width, base, dp_policy_name(pol[p]), t.n,
			       (unsigned long long)st->peak_mappings, st->peak_bytes / 1048576.0,
			       st->slop_at_peak_bytes / 1048576.0,
			       (unsigned long long)(st->host_maps + st->host_unmaps),
			       (unsigned long long)st->hits, (unsigned long long)res[p].refused,
			       res[p].refused_bytes / 1048576.0, why, res[p].ns_per_op);
		}
		/*
		 * Not a policy: the bound every policy's peak-map is measured against, and
		 * as slop-MiB the unused bytes any policy peaking within twice it must hold.
		 */
		printf("%-*s %-9s %8zu %8llu %9s %9.1f %9s %9s %8s %8s %8s %7s\n", width, base,
		       "floor", t.n, (unsigned long long)lower, "-", twice / 1048576.0, "-", "-",
		       "-", "-", over ? "bytes" : "-", "-");
		if (opt_svg) {
			char path[512];

			if (argc == 1)
				snprintf(path, sizeof(path), "%s", opt_svg);
			else
				snprintf(path, sizeof(path), "%s-%s.svg", opt_svg, base);
			plot(path, base, pol, res, npol);
		}
		for (p = 0; p < npol; p++) {
			free(res[p].plot_maps);
			free(res[p].plot_mib);
		}
		free(t.rec);
	}
	return rc;
}

const struct dp_cmd dp_cmd_sim = {
	.name = "sim",
	.args = "TRACE...",
	.help = "replay DMA traces through the coalescing mapper under DART's caps",
	.opts = sim_opts,
	.run = sim_run,
};
