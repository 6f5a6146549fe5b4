// SPDX-License-Identifier: (GPL-2.0 OR MIT)
/*
 * The test client's library: transport, requests, the checks every subcommand reports
 * with, and the helpers that claim, map and share memory. See pc.h.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include "dp_prov.h"
#include "dp_sock.h"
#include "pc.h"

#define HDR	sizeof(struct prov_hdr)

unsigned int pc_failed;
const char *pc_prefix = "prov-client";

/* One message buffer each way: the client is single-threaded. */
static uint8_t out_buf[PROV_MAX_MSG];
static uint8_t in_buf[PROV_MAX_MSG + 1];

static void report(bool ok, const char *fmt, va_list ap)
{
	printf("DP-TEST %s %s: ", ok ? "ok" : "not ok", pc_prefix);
	vprintf(fmt, ap);
	putchar('\n');
	pc_failed += !ok;
}

bool pc_check(bool ok, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report(ok, fmt, ap);
	va_end(ap);
	return ok;
}

bool pc_expect(int got, int want, const char *fmt, ...)
{
	va_list ap;

	if (got != want)
		printf("#   want %s, got %s\n", pc_status_name(want), pc_status_name(got));
	printf("DP-TEST %s %s: ", got == want ? "ok" : "not ok", pc_prefix);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf(": %s\n", pc_status_name(want));
	pc_failed += got != want;
	return got == want;
}

void pc_info(const char *fmt, ...)
{
	va_list ap;

	printf("DP-INFO %s: ", pc_prefix);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

const char *pc_status_name(int status)
{
	return status == PC_ERR ? "no reply" : dp_prov_status_name(status);
}

int pc_exit(void)
{
	printf("# %s: %u check(s) failed\n", pc_prefix, pc_failed);
	return pc_failed ? 1 : 0;
}

/* ---- Transport ---- */

int pc_connect(struct pc_conn *c, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = PC_REPLY_SECS };

	*c = (struct pc_conn){ .fd = -1, .next_id = 1 };
	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "%s: socket path too long\n", path);
		return -1;
	}
	strcpy(sa.sun_path, path);
	c->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    connect(c->fd, (struct sockaddr *)&sa, sizeof(sa))) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		pc_close(c);
		return -1;
	}
	return 0;
}

void pc_close(struct pc_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

/* Receives one reply; *fd is its descriptor or -1. Returns its length, or -1. */
static ssize_t recv_msg(struct pc_conn *c, int *fd)
{
	unsigned int n, lost;
	ssize_t len;

	len = dp_sock_recv(c->fd, in_buf, sizeof(in_buf), fd, 1, &n, &lost, 0);
	if (!n)
		*fd = -1;
	if (len < 0) {
		fprintf(stderr, "no reply: %s\n", len == -EAGAIN ? "timed out" : strerror(-len));
		return -1;
	}
	if (len == 0) {
		fprintf(stderr, "no reply: the provider closed the connection\n");
		len = -1;
	} else if (lost & (DP_SOCK_TRUNC | DP_SOCK_FDS_LOST) || (size_t)len > PROV_MAX_MSG) {
		fprintf(stderr, "reply larger than PROV_MAX_MSG, or too many descriptors\n");
		len = -1;
	} else if (lost & DP_SOCK_FDS_EXTRA) {
		fprintf(stderr, "reply with more than one descriptor\n");
		len = -1;
	}
	if (len < 0 && *fd >= 0) {
		close(*fd);
		*fd = -1;
	}
	return len;
}

int pc_raw(struct pc_conn *c, const void *msg, size_t len, const int *fds,
	   unsigned int nfds, struct pc_reply *rep)
{
	struct prov_hdr req = { 0 }, h;
	ssize_t rlen;
	int fd, sent;

	if (rep)
		rep->fd = -1;
	memcpy(&req, msg, len < HDR ? len : HDR);
	sent = dp_sock_send(c->fd, msg, len, fds, nfds, 0);
	if (sent) {
		fprintf(stderr, "send (%zu bytes, %u fds): %s\n", len, nfds, strerror(-sent));
		return PC_ERR;
	}
	rlen = recv_msg(c, &fd);
	if (rlen < 0)
		return PC_ERR;
	if ((size_t)rlen < HDR) {
		fprintf(stderr, "reply of %zd bytes: shorter than a header\n", rlen);
		goto bad;
	}
	memcpy(&h, in_buf, HDR);
	if (h.len != rlen) {
		fprintf(stderr, "reply header says %u bytes, %zd came\n", h.len, rlen);
		goto bad;
	}
	if (len >= HDR && (h.op != req.op || h.id != req.id)) {
		fprintf(stderr, "reply op %u id %u to request op %u id %u\n", h.op, h.id,
			req.op, req.id);
		goto bad;
	}
	/* An error reply is the header alone; VERSION also says the provider's version. */
	if (h.status != PROV_S_OK && (fd >= 0 || h.len != HDR + (h.status == PROV_S_VERSION ?
						   sizeof(struct prov_hello_rep) : 0))) {
		fprintf(stderr, "error reply (%s) of %u bytes%s\n", pc_status_name(h.status),
			h.len, fd >= 0 ? " with a descriptor" : "");
		goto bad;
	}
	if (rep) {
		/* len is what came; the body holds what fits. */
		rep->len = rlen - HDR;
		if (rep->size)
			memcpy(rep->body, in_buf + HDR,
			       rep->len < rep->size ? rep->len : rep->size);
		rep->fd = fd;
	} else if (fd >= 0) {
		fprintf(stderr, "unexpected descriptor in the reply\n");
		goto bad;
	}
	return h.status;
bad:
	if (fd >= 0)
		close(fd);
	return PC_ERR;
}

int pc_call_fds(struct pc_conn *c, uint16_t op, uint32_t fn, const void *body,
		size_t body_len, const int *fds, unsigned int nfds, void *rep, size_t rep_len,
		int *rep_fd)
{
	struct prov_hdr h = { .op = op, .len = HDR + body_len, .id = c->next_id++, .fn = fn };
	struct pc_reply r = { .body = rep, .size = rep_len, .fd = -1 };
	int st;

	if (HDR + body_len > sizeof(out_buf))
		return PC_ERR;
	memcpy(out_buf, &h, HDR);
	if (body_len)
		memcpy(out_buf + HDR, body, body_len);
	st = pc_raw(c, out_buf, HDR + body_len, fds, nfds, &r);
	if (st == PROV_S_OK && r.len != rep_len) {
		fprintf(stderr, "op %u: OK reply with %zu body bytes, want %zu\n", op, r.len,
			rep_len);
		st = PC_ERR;
	}
	if (r.fd >= 0 && (!rep_fd || st != PROV_S_OK)) {
		fprintf(stderr, "op %u: unexpected descriptor in the reply\n", op);
		close(r.fd);
		r.fd = -1;
		st = PC_ERR;
	}
	if (rep_fd)
		*rep_fd = r.fd;
	return st;
}

int pc_call(struct pc_conn *c, uint16_t op, uint32_t fn, const void *body,
	    size_t body_len, void *rep, size_t rep_len)
{
	return pc_call_fds(c, op, fn, body, body_len, NULL, 0, rep, rep_len, NULL);
}

/* ---- Requests ---- */

static int hello(struct pc_conn *c, uint32_t version, uint32_t features)
{
	struct prov_hello_req req = { .version = version, .features = features };
	struct prov_hdr h = { .op = PROV_OP_HELLO, .len = HDR + sizeof(req), .id = c->next_id++ };
	static uint8_t body[PROV_MAX_MSG];
	struct pc_reply r = { .body = body, .size = sizeof(body), .fd = -1 };
	struct prov_hello_rep rep;
	int st;

	memcpy(out_buf, &h, HDR);
	memcpy(out_buf + HDR, &req, sizeof(req));
	st = pc_raw(c, out_buf, h.len, NULL, 0, &r);
	if (r.fd >= 0) {
		close(r.fd);
		fprintf(stderr, "HELLO reply with a descriptor\n");
		return PC_ERR;
	}
	memcpy(&rep, body, r.len < sizeof(rep) ? r.len : sizeof(rep));
	if (st == PROV_S_VERSION)
		c->version = rep.version;
	if (st != PROV_S_OK)
		return st;
	if (r.len < sizeof(rep) || rep.nr_functions > PROV_MAX_FUNCTIONS ||
	    r.len != sizeof(rep) + rep.nr_functions * sizeof(struct prov_function)) {
		fprintf(stderr, "HELLO reply of %zu bytes for its functions\n", r.len);
		return PC_ERR;
	}
	c->version = rep.version;
	c->limits = rep.limits;
	c->features = rep.features;
	c->nr_fns = rep.nr_functions;
	memcpy(c->fns, body + sizeof(rep), c->nr_fns * sizeof(struct prov_function));
	return st;
}

int pc_hello_version(struct pc_conn *c, uint32_t version)
{
	return hello(c, version, PROV_F_ALL);
}

int pc_hello_features(struct pc_conn *c, uint32_t features)
{
	return hello(c, PROV_VERSION(PROV_VERSION_MAJOR, PROV_VERSION_MINOR), features);
}

int pc_hello(struct pc_conn *c)
{
	return pc_hello_features(c, PROV_F_ALL);
}

int pc_open(struct pc_conn *c, const char *path)
{
	const struct prov_limits *l = &c->limits;
	uint64_t granule;
	int st = PC_ERR;
	bool ok;

	if (!pc_connect(c, path))
		st = pc_hello(c);
	if (!pc_expect(st, PROV_S_OK, "connect and HELLO"))
		return -1;
	/* A granule-aligned aperture, caps and a batch size the protocol allows. */
	granule = 1ull << (l->granule_shift & 63);
	ok = c->version >> 16 == PROV_VERSION_MAJOR && l->granule_shift >= 12 &&
	     l->granule_shift <= 30 && !l->reserved && l->max_batch >= 1 &&
	     l->max_batch <= PROV_MAX_BATCH && l->max_mappings && l->max_bytes &&
	     l->aperture_size && l->aperture_base + l->aperture_size > l->aperture_base &&
	     !((l->aperture_base | l->aperture_size) & (granule - 1));
	return pc_check(ok, "HELLO: version %u.%u; aperture 0x%llx+0x%llx, granule 2^%u, "
			"%u mappings, %llu bytes, batch %u", c->version >> 16,
			c->version & 0xffff, (unsigned long long)l->aperture_base,
			(unsigned long long)l->aperture_size, l->granule_shift, l->max_mappings,
			(unsigned long long)l->max_bytes, l->max_batch) ? 0 : -1;
}

int pc_find_class(const struct pc_conn *c, uint32_t class_code)
{
	unsigned int i;

	for (i = 0; i < c->nr_fns; i++)
		if (c->fns[i].class_rev >> 8 == class_code)
			return i;
	return -1;
}

int pc_find_ids(const struct pc_conn *c, uint16_t vendor, uint16_t device)
{
	unsigned int i;

	for (i = 0; i < c->nr_fns; i++)
		if (c->fns[i].vendor == vendor && c->fns[i].device == device)
			return i;
	return -1;
}

bool pc_wait_free(const char *path, unsigned int fn)
{
	uint64_t end = pc_now_ns() + PC_FREE_SECS * 1000000000ull;
	struct pc_conn p;
	bool free_now;

	do {
		if (pc_connect(&p, path) || pc_hello(&p) != PROV_S_OK || fn >= p.nr_fns) {
			pc_close(&p);
			return false;
		}
		free_now = !(p.fns[fn].flags & PROV_FN_CLAIMED);
		pc_close(&p);
		if (!free_now)
			usleep(20000);
	} while (!free_now && pc_now_ns() < end);
	return free_now;
}

uint32_t pc_find_cap(struct pc_conn *c, uint32_t fn, uint8_t id)
{
	uint32_t ptr = 0, v = 0, n;

	if (pc_config_read(c, fn, 0x34, 1, &ptr))
		return 0;
	for (n = 0; (ptr &= 0xfc) && n < 48; n++) {
		if (pc_config_read(c, fn, ptr, 2, &v))
			return 0;
		if ((v & 0xff) == id)
			return ptr;
		ptr = v >> 8;
	}
	return 0;
}

int pc_counters(struct pc_conn *c, struct prov_counters *k)
{
	return pc_call(c, PROV_OP_COUNTERS, 0, NULL, 0, k, sizeof(*k));
}

int pc_config_read(struct pc_conn *c, uint32_t fn, uint32_t off, uint32_t size,
		   uint32_t *val)
{
	struct prov_config_req req = { .offset = off, .size = size };
	struct prov_config_rep rep;
	int st = pc_call(c, PROV_OP_CONFIG_READ, fn, &req, sizeof(req), &rep, sizeof(rep));

	*val = st == PROV_S_OK ? rep.value : 0;
	return st;
}

int pc_config_write(struct pc_conn *c, uint32_t fn, uint32_t off, uint32_t size,
		    uint32_t val)
{
	struct prov_config_req req = { .offset = off, .size = size, .value = val };
	struct prov_config_rep rep;

	return pc_call(c, PROV_OP_CONFIG_WRITE, fn, &req, sizeof(req), &rep, sizeof(rep));
}

int pc_region_read(struct pc_conn *c, uint32_t fn, uint32_t region, uint64_t off,
		   uint32_t size, uint64_t *val)
{
	struct prov_region_req req = { .region = region, .size = size, .offset = off };
	struct prov_region_rep rep;
	int st = pc_call(c, PROV_OP_REGION_READ, fn, &req, sizeof(req), &rep, sizeof(rep));

	*val = st == PROV_S_OK ? rep.value : 0;
	return st;
}

int pc_region_write(struct pc_conn *c, uint32_t fn, uint32_t region, uint64_t off,
		    uint32_t size, uint64_t val)
{
	struct prov_region_req req = { .region = region, .size = size, .offset = off,
				       .value = val };
	struct prov_region_rep rep;

	return pc_call(c, PROV_OP_REGION_WRITE, fn, &req, sizeof(req), &rep, sizeof(rep));
}

int pc_irq_set(struct pc_conn *c, uint32_t fn, uint32_t type, uint32_t action,
	       uint32_t start, uint32_t count, const int *fds, unsigned int nfds)
{
	struct prov_irq_req req = { .type = type, .action = action, .start = start,
				    .count = count };

	return pc_call_fds(c, PROV_OP_IRQ_SET, fn, &req, sizeof(req), fds, nfds, NULL, 0, NULL);
}

int pc_irq_pending(struct pc_conn *c, uint32_t fn, uint32_t type, uint32_t start,
		   uint32_t count, uint64_t *bits)
{
	struct prov_irq_req req = { .type = type, .start = start, .count = count };
	struct prov_irq_pending_rep rep;
	int st = pc_call(c, PROV_OP_IRQ_PENDING, fn, &req, sizeof(req), &rep, sizeof(rep));

	*bits = st == PROV_S_OK ? rep.bits : 0;
	return st;
}

int pc_notify(struct pc_conn *c, int *fd)
{
	int st = pc_call_fds(c, PROV_OP_NOTIFY, 0, NULL, 0, NULL, 0, NULL, 0, fd);

	if (st == PROV_S_OK && *fd < 0) {
		fprintf(stderr, "NOTIFY: OK without a descriptor\n");
		st = PC_ERR;
	}
	return st;
}

/* ---- Functions ---- */

/* Why the claim reply is inconsistent, or NULL. */
static const char *claim_problem(const struct pc_conn *c, uint32_t fn,
				 const struct prov_claim_rep *r, uint32_t cfg_ids,
				 uint32_t cfg_class)
{
	const struct prov_function *d = &c->fns[fn];
	unsigned int i;

	if (r->id.vendor != d->vendor || r->id.device != d->device ||
	    r->id.class_rev != d->class_rev)
		return "identity differs from HELLO's entry";
	if (cfg_ids != (uint32_t)(r->id.vendor | r->id.device << 16) ||
	    cfg_class != r->id.class_rev)
		return "identity differs from config space";
	if (r->id.header_type || r->id.reserved[0] || r->id.reserved[1] || r->id.reserved[2])
		return "header type or reserved bytes not zero";
	for (i = 0; i < PROV_REGION_COUNT; i++) {
		const struct prov_region *g = &r->regions[i];

		if (g->reserved)
			return "region reserved field set";
		if (!g->size) {
			if (g->flags || g->hole_offset || g->hole_size)
				return "absent region with flags or a hole";
			continue;
		}
		if (!(g->flags & PROV_REGION_READ))
			return "region not readable";
		if (g->flags & ~(PROV_REGION_READ | PROV_REGION_WRITE | PROV_REGION_MMAP |
				 PROV_REGION_IO | PROV_REGION_MEM64 | PROV_REGION_PREFETCH))
			return "unknown region flags";
		if ((g->flags & PROV_REGION_IO) &&
		    (g->flags & (PROV_REGION_MMAP | PROV_REGION_MEM64 | PROV_REGION_PREFETCH)))
			return "I/O region with memory flags";
		if ((i == PROV_REGION_ROM || i == PROV_REGION_CONFIG) &&
		    (g->flags & PROV_REGION_MMAP))
			return "ROM or config space mappable";
		if (g->hole_offset % 4096 || g->hole_size % 4096 || g->hole_offset > g->size ||
		    g->hole_size > g->size - g->hole_offset)
			return "hole not page aligned or outside the region";
		/* A 64-bit BAR takes the next slot, which then is no region. */
		if ((g->flags & PROV_REGION_MEM64) && i < 5 && r->regions[i + 1].size)
			return "64-bit BAR followed by a region in its upper slot";
	}
	if (!r->regions[PROV_REGION_CONFIG].size)
		return "no config space region";
	for (i = 0; i < PROV_IRQ_TYPES; i++)
		if (r->irqs[i].reserved)
			return "irq reserved field set";
	if (r->irqs[PROV_IRQ_INTX].count > 1)
		return "more than one INTx";
	return NULL;
}

int pc_claim(struct pc_conn *c, uint32_t fn, struct pc_fn *f)
{
	uint32_t ids = 0, class_rev = 0;
	const char *why;
	int st;

	*f = (struct pc_fn){ .fn = fn };
	st = pc_call(c, PROV_OP_CLAIM, fn, NULL, 0, &f->claim, sizeof(f->claim));
	if (!pc_expect(st, PROV_S_OK, "CLAIM fn %u (%04x:%04x)", fn, c->fns[fn].vendor,
		       c->fns[fn].device))
		return st;
	st = pc_config_read(c, fn, 0, 4, &ids);
	if (st == PROV_S_OK)
		st = pc_config_read(c, fn, 8, 4, &class_rev);
	why = st ? "config space unreadable" : claim_problem(c, fn, &f->claim, ids, class_rev);
	pc_check(!why, "CLAIM fn %u: identity, header type, regions and holes consistent%s%s",
		 fn, why ? ": " : "", why ? why : "");
	return why ? PC_ERR : PROV_S_OK;
}

int pc_map_bar(struct pc_conn *c, struct pc_fn *f, uint32_t region)
{
	struct prov_region_map_req req = { .region = region };
	struct prov_region_map_rep rep;
	const struct prov_region *g = &f->claim.regions[region];
	void *p;
	int fd = -1, st;

	st = pc_call_fds(c, PROV_OP_REGION_MAP, f->fn, &req, sizeof(req), NULL, 0, &rep,
			 sizeof(rep), &fd);
	if (!pc_expect(st, PROV_S_OK, "REGION_MAP BAR%u", region))
		return st;
	if (!pc_check(fd >= 0 && rep.size == g->size && !rep.reserved &&
		      rep.flags == (PROV_REGION_READ | PROV_REGION_WRITE),
		      "REGION_MAP BAR%u: a descriptor, size 0x%llx (region 0x%llx), read/write",
		      region, (unsigned long long)rep.size, (unsigned long long)g->size))
		goto fail;
	p = mmap(NULL, rep.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, rep.offset);
	if (!pc_check(p != MAP_FAILED, "mmap of BAR%u's descriptor%s%s", region,
		      p == MAP_FAILED ? ": " : "", p == MAP_FAILED ? strerror(errno) : ""))
		goto fail;
	close(fd);
	f->bar = p;
	f->bar_size = rep.size;
	return PROV_S_OK;
fail:
	if (fd >= 0)
		close(fd);
	return PC_ERR;
}

void pc_unmap_bar(struct pc_fn *f)
{
	if (f->bar)
		munmap((void *)f->bar, f->bar_size);
	f->bar = NULL;
}

bool pc_bar_mappable(struct pc_conn *c, const struct pc_fn *f, uint32_t region)
{
	struct prov_region_map_req req = { .region = region };
	struct prov_region_map_rep rep;
	int fd = -1, st;

	if (f->claim.regions[region].flags & PROV_REGION_MMAP)
		return true;
	st = pc_call_fds(c, PROV_OP_REGION_MAP, f->fn, &req, sizeof(req), NULL, 0, &rep,
			 sizeof(rep), &fd);
	if (fd >= 0)
		close(fd);
	pc_expect(st, PROV_S_DENIED, "REGION_MAP BAR%u, which CLAIM did not mark MMAP", region);
	return false;
}

void pc_not_run_unmappable(const char *what)
{
	printf("# not run: BAR0 is not mappable on this kernel (%s)\n", what);
	fflush(stdout);
}

int pc_bar_open(struct pc_conn *c, struct pc_fn *f, uint32_t region)
{
	f->conn = c;
	f->bar_region = region;
	if (pc_bar_mappable(c, f, region))
		return pc_map_bar(c, f, region);
	printf("# BAR%u not MMAP on this kernel: reached through REGION_READ/WRITE\n", region);
	return PROV_S_OK;
}

uint32_t pc_bar_rd32(const struct pc_fn *f, uint64_t off)
{
	uint64_t v = ~0ull;
	int st;

	if (f->bar)
		return *(volatile uint32_t *)(f->bar + off);
	st = pc_region_read(f->conn, f->fn, f->bar_region, off, 4, &v);
	if (st != PROV_S_OK)
		pc_expect(st, PROV_S_OK, "REGION_READ of BAR%u at 0x%llx", f->bar_region,
			  (unsigned long long)off);
	return st == PROV_S_OK ? (uint32_t)v : ~0u;
}

void pc_bar_wr32(const struct pc_fn *f, uint64_t off, uint32_t val)
{
	int st;

	if (f->bar) {
		*(volatile uint32_t *)(f->bar + off) = val;
		return;
	}
	st = pc_region_write(f->conn, f->fn, f->bar_region, off, 4, val);
	if (st != PROV_S_OK)
		pc_expect(st, PROV_S_OK, "REGION_WRITE of BAR%u at 0x%llx", f->bar_region,
			  (unsigned long long)off);
}

int pc_command_set(struct pc_conn *c, uint32_t fn, uint16_t bits)
{
	uint32_t cmd;
	int st = pc_config_read(c, fn, 4, 2, &cmd);

	return st ? st : pc_config_write(c, fn, 4, 2, cmd | bits);
}

/* ---- DMA ---- */

int pc_mem_create(struct pc_mem *m, uint64_t size)
{
	*m = (struct pc_mem){ .size = size };
	m->fd = memfd_create("prov-client-dma", MFD_CLOEXEC);
	if (m->fd < 0 || ftruncate(m->fd, size)) {
		fprintf(stderr, "memfd of %llu bytes: %s\n", (unsigned long long)size,
			strerror(errno));
		goto fail;
	}
	m->p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, m->fd, 0);
	if (m->p == MAP_FAILED) {
		fprintf(stderr, "mmap of the memfd: %s\n", strerror(errno));
		m->p = NULL;
		goto fail;
	}
	return 0;
fail:
	pc_mem_destroy(m);
	return -1;
}

void pc_mem_destroy(struct pc_mem *m)
{
	if (m->p)
		munmap(m->p, m->size);
	if (m->fd >= 0)
		close(m->fd);
	m->p = NULL;
	m->fd = -1;
}

int pc_dma_memory(struct pc_conn *c, const struct pc_mem *m)
{
	struct prov_dma_memory_req req = { .size = m->size };

	return pc_call_fds(c, PROV_OP_DMA_MEMORY, 0, &req, sizeof(req), &m->fd, 1, NULL, 0,
			   NULL);
}

int pc_dma(struct pc_conn *c, struct pvdma_req *req, unsigned int count, uint32_t *done)
{
	struct prov_dma_batch b = { .count = count };
	size_t len = sizeof(b) + count * sizeof(*req);
	static uint8_t msg[PROV_MAX_MSG], rep[PROV_MAX_MSG];
	struct prov_dma_batch rb;
	unsigned int i;
	int st;

	if (len > sizeof(msg) - HDR)
		return PC_ERR;
	memcpy(msg, &b, sizeof(b));
	memcpy(msg + sizeof(b), req, count * sizeof(*req));
	st = pc_call(c, PROV_OP_DMA, 0, msg, len, rep, len);
	if (st != PROV_S_OK)
		return st;
	memcpy(&rb, rep, sizeof(rb));
	if (rb.count != count || rb.reserved) {
		fprintf(stderr, "DMA reply header: count %u (sent %u), reserved %u\n", rb.count,
			count, rb.reserved);
		return PC_ERR;
	}
	for (i = 0; i < count; i++) {
		struct pvdma_req r;

		memcpy(&r, rep + sizeof(b) + i * sizeof(r), sizeof(r));
		/* Only the outputs may change: an entry comes back as it went, answered. */
		if (r.op != req[i].op || r.flags != req[i].flags || r.len != req[i].len ||
		    r.gpa != req[i].gpa || r.reserved != req[i].reserved ||
		    (r.status != PROV_S_OK &&
		     (r.iova != req[i].iova || r.mapped != req[i].mapped))) {
			fprintf(stderr, "DMA reply entry %u: input fields changed\n", i);
			return PC_ERR;
		}
		req[i] = r;
	}
	if (done)
		*done = rb.done;
	return st;
}

struct pvdma_req pc_map_req(uint64_t gpa, uint32_t len, unsigned int flags)
{
	return (struct pvdma_req){ .op = PVDMA_OP_MAP, .flags = flags, .len = len, .gpa = gpa };
}

struct pvdma_req pc_unmap_req(uint64_t iova, uint32_t len)
{
	return (struct pvdma_req){ .op = PVDMA_OP_UNMAP, .len = len, .iova = iova };
}

int pc_map1(struct pc_conn *c, uint64_t gpa, uint32_t len, unsigned int flags,
	    uint64_t *iova)
{
	struct pvdma_req r = pc_map_req(gpa, len, flags);
	int st = pc_dma(c, &r, 1, NULL);

	if (st == PROV_S_OK && r.status == PROV_S_OK && r.mapped != len) {
		fprintf(stderr, "MAP of 0x%x bytes: 0x%x mapped\n", len, r.mapped);
		return PC_ERR;
	}
	*iova = r.iova;
	return st ? st : r.status;
}

int pc_unmap1(struct pc_conn *c, uint64_t iova, uint32_t len)
{
	struct pvdma_req r = pc_unmap_req(iova, len);
	int st = pc_dma(c, &r, 1, NULL);

	return st ? st : r.status;
}

/* ---- Events and time ---- */

int pc_eventfd(void)
{
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	if (fd < 0)
		fprintf(stderr, "eventfd: %s\n", strerror(errno));
	return fd;
}

int pc_notify_wait(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char b[64];
	ssize_t r;
	int n = 0;

	if (poll(&p, 1, ms) != 1)
		return 0;
	while ((r = read(fd, b, sizeof(b))) > 0) {
		n += r;
		if (r < (ssize_t)sizeof(b))
			break;
	}
	return r == 0 && !n ? -1 : n;
}

uint64_t pc_event_wait(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	uint64_t n = 0;

	if (poll(&p, 1, ms) == 1 && read(fd, &n, sizeof(n)) != sizeof(n))
		n = 0;
	return n;
}

uint64_t pc_now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000ull + t.tv_nsec;
}
