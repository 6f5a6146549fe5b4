// SPDX-License-Identifier: (GPL-2.0 OR MIT)
/*
 * The provider's sharing limits (docs/specs/provider.rst, "Security model"), run by
 * tests/guest/provider-group.sh:
 *
 *   group SOCKET       the provider lends exactly the two functions of one IOMMU group
 *                      (devfn 07.0 then 07.1): a connection holding one of them keeps
 *                      the other BUSY for every other connection, though HELLO does not
 *                      flag it CLAIMED (no connection holds it); the holder claims the
 *                      other too (one container); the group is free once its last
 *                      function is released, or its holder's connection closed
 *   conn-limit SOCKET  64 connections complete HELLO; a 65th connects but is not served
 *                      (its HELLO unanswered, the socket still open) until one of the 64
 *                      closes; COUNTERS.clients counts every one of them
 *   newer SOCKET       a provider of the next major version (see below)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include "pc.h"

#define LIMIT_CONNS	64	/* LX_MAX_CLIENTS, provider/linux/serve.c */
#define UNSERVED_MS	1500	/* how long the 65th must wait unanswered */

static int release(struct pc_conn *c, uint32_t fn)
{
	return pc_call(c, PROV_OP_RELEASE, fn, NULL, 0, NULL, 0);
}

static int claim_raw(struct pc_conn *c, uint32_t fn)
{
	struct prov_claim_rep rep;

	return pc_call(c, PROV_OP_CLAIM, fn, NULL, 0, &rep, sizeof(rep));
}

int pc_cmd_group(int argc, char **argv)
{
	struct pc_conn a, b;
	struct pc_fn f0, f1;
	uint32_t cfg = 0;
	bool ok;

	if (argc != 1)
		return 2;
	if (pc_open(&a, argv[0]))
		return pc_exit();
	ok = a.nr_fns == 2 && a.fns[0].vendor == 0x8086 && a.fns[1].vendor == 0x8086 &&
	     (a.fns[0].rid & 0xff) == 0x38 && (a.fns[1].rid & 0xff) == 0x39 &&
	     (a.fns[0].rid >> 3) == (a.fns[1].rid >> 3);
	if (!pc_check(ok, "HELLO lists two functions, devfn 07.0 and 07.1 (%u listed)",
		      a.nr_fns)) {
		pc_close(&a);
		return pc_exit();
	}
	if (pc_claim(&a, 0, &f0) != PROV_S_OK || pc_open(&b, argv[0])) {
		pc_close(&a);
		return pc_exit();
	}
	pc_check(b.fns[0].flags & PROV_FN_CLAIMED, "B's HELLO: 07.0 is CLAIMED (A holds it)");
	pc_check(!(b.fns[1].flags & PROV_FN_CLAIMED),
		 "B's HELLO: 07.1 is not CLAIMED (no connection holds it; its group is A's)");
	pc_expect(claim_raw(&b, 1), PROV_S_BUSY, "B's CLAIM of 07.1, whose IOMMU group is A's");
	pc_expect(pc_config_read(&b, 1, 0, 4, &cfg), PROV_S_NOT_CLAIMED,
		  "B's CONFIG_READ of 07.1 after the BUSY");
	pc_expect(pc_claim(&a, 1, &f1), PROV_S_OK, "A claims 07.1 too (its own group)");
	pc_expect(release(&a, 0), PROV_S_OK, "A's RELEASE of 07.0");
	pc_expect(claim_raw(&b, 0), PROV_S_BUSY,
		  "B's CLAIM of the released 07.0, whose group A keeps through 07.1");
	pc_expect(release(&a, 1), PROV_S_OK, "A's RELEASE of 07.1");
	pc_expect(claim_raw(&b, 1), PROV_S_OK, "B's CLAIM of 07.1 once A released both");
	pc_expect(claim_raw(&a, 0), PROV_S_BUSY, "A's CLAIM of 07.0, whose group is now B's");
	pc_close(&b);
	pc_check(pc_wait_free(argv[0], 1), "07.1 is free within %u s of B's close",
		 PC_FREE_SECS);
	pc_expect(claim_raw(&a, 0), PROV_S_OK, "A's CLAIM of 07.0 once B has closed");
	pc_close(&a);
	return pc_exit();
}

/* A HELLO request sent on c, its reply left to read. */
static bool hello_send(struct pc_conn *c)
{
	struct {
		struct prov_hdr h;
		struct prov_hello_req r;
	} m = {
		.h = { .op = PROV_OP_HELLO, .len = sizeof(m), .id = c->next_id++ },
		.r = { .version = PROV_VERSION(PROV_VERSION_MAJOR, PROV_VERSION_MINOR),
		       .features = PROV_F_ALL },
	};

	return send(c->fd, &m, sizeof(m), MSG_NOSIGNAL) == (ssize_t)sizeof(m);
}

/* The status of the HELLO reply (id 1) now readable on c, PC_ERR if it is not one. */
static int hello_recv(struct pc_conn *c)
{
	static uint8_t buf[PROV_MAX_MSG];
	struct prov_hdr h;
	struct prov_hello_rep rep;
	ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);

	if (n < (ssize_t)(sizeof(h) + sizeof(rep))) {
		fprintf(stderr, "HELLO reply: %zd bytes (%s)\n", n, n < 0 ? strerror(errno) : "");
		return PC_ERR;
	}
	memcpy(&h, buf, sizeof(h));
	memcpy(&rep, buf + sizeof(h), sizeof(rep));
	if (h.op != PROV_OP_HELLO || h.id != 1 || h.len != n ||
	    n != (ssize_t)(sizeof(h) + sizeof(rep) + rep.nr_functions * sizeof(struct prov_function))) {
		fprintf(stderr, "HELLO reply: op %u id %u len %u of %zd bytes\n", h.op, h.id,
			h.len, n);
		return PC_ERR;
	}
	return h.status;
}

int pc_cmd_conn_limit(int argc, char **argv)
{
	static struct pc_conn c[LIMIT_CONNS];
	struct prov_counters k0 = { 0 }, k = { 0 };
	struct pc_conn extra, fresh;
	struct pollfd p;
	unsigned int i, served = 0;
	int st, r;

	if (argc != 1)
		return 2;
	for (i = 0; i < LIMIT_CONNS; i++) {
		st = pc_connect(&c[i], argv[0]) ? PC_ERR : pc_hello(&c[i]);
		served += st == PROV_S_OK;
		if (st != PROV_S_OK)
			fprintf(stderr, "connection %u: HELLO: %s\n", i + 1, pc_status_name(st));
		if (!i && st == PROV_S_OK)
			pc_counters(&c[0], &k0);
	}
	if (!pc_check(served == LIMIT_CONNS, "%u connections complete HELLO (%u did)",
		      LIMIT_CONNS, served))
		goto out;
	st = pc_counters(&c[0], &k);
	pc_check(st == PROV_S_OK && k0.clients && k.clients == k0.clients + LIMIT_CONNS - 1,
		 "COUNTERS.clients rose by %u over the %u connections (%llu to %llu)",
		 LIMIT_CONNS - 1, LIMIT_CONNS, (unsigned long long)k0.clients,
		 (unsigned long long)k.clients);

	/* The 65th: in the listen backlog, not accepted, so not answered, not closed. */
	if (!pc_check(!pc_connect(&extra, argv[0]), "connection %u connects (listen backlog)",
		      LIMIT_CONNS + 1))
		goto out;
	pc_check(hello_send(&extra), "connection %u sends HELLO", LIMIT_CONNS + 1);
	p = (struct pollfd){ .fd = extra.fd, .events = POLLIN };
	r = poll(&p, 1, UNSERVED_MS);
	pc_check(r == 0, "connection %u: no reply and not closed within %u ms (poll %d, "
		 "revents 0x%x)", LIMIT_CONNS + 1, UNSERVED_MS, r, r > 0 ? p.revents : 0);
	st = pc_counters(&c[LIMIT_CONNS - 1], &k);
	pc_check(st == PROV_S_OK && k.clients == k0.clients + LIMIT_CONNS - 1,
		 "meanwhile connection %u is served; COUNTERS.clients still %llu (%llu)",
		 LIMIT_CONNS, (unsigned long long)(k0.clients + LIMIT_CONNS - 1),
		 (unsigned long long)k.clients);

	/* One of the 64 goes: the 65th is accepted and its HELLO answered. */
	pc_close(&c[LIMIT_CONNS / 2]);
	r = poll(&p, 1, PC_REPLY_SECS * 1000);
	st = r == 1 && (p.revents & POLLIN) ? hello_recv(&extra) : PC_ERR;
	pc_expect(st, PROV_S_OK, "connection %u's HELLO once connection %u closed",
		  LIMIT_CONNS + 1, LIMIT_CONNS / 2 + 1);
	if (st == PROV_S_OK) {
		st = pc_counters(&extra, &k);
		pc_check(st == PROV_S_OK && k.clients == k0.clients + LIMIT_CONNS,
			 "connection %u: COUNTERS.clients is %llu (%llu)", LIMIT_CONNS + 1,
			 (unsigned long long)(k0.clients + LIMIT_CONNS),
			 (unsigned long long)k.clients);
	}
	pc_close(&extra);
	for (i = 0; i < LIMIT_CONNS; i++)
		pc_close(&c[i]);
	/* Everyone gone: a newcomer is served at once. */
	if (!pc_open(&fresh, argv[0])) {
		st = pc_counters(&fresh, &k);
		pc_check(st == PROV_S_OK && k.clients == k0.clients + LIMIT_CONNS + 1,
			 "a new connection after all closed: COUNTERS.clients is %llu (%llu)",
			 (unsigned long long)(k0.clients + LIMIT_CONNS + 1),
			 (unsigned long long)k.clients);
		pc_close(&fresh);
	}
	return pc_exit();
out:
	for (i = 0; i < LIMIT_CONNS; i++)
		pc_close(&c[i]);
	return pc_exit();
}

/*
 * newer SOCKET: a provider of the next major version, for a client's version check:
 * listens on SOCKET, says "DP-INFO newer: listening", answers one connection's HELLO
 * with VERSION and its own hello (version 2.0, no functions), then exits. Its check:
 * the client asked in HELLO for this protocol's major version.
 */
int pc_cmd_newer(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct {
		struct prov_hdr h;
		struct prov_hello_req req;
	} in;
	struct {
		struct prov_hdr h;
		struct prov_hello_rep rep;
	} out = { 0 };
	int ls, cs;
	ssize_t n;

	if (argc != 1 || strlen(argv[0]) >= sizeof(sa.sun_path))
		return 2;
	strcpy(sa.sun_path, argv[0]);
	unlink(argv[0]);
	ls = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof(sa)) || listen(ls, 1)) {
		pc_check(false, "listen on %s: %s", argv[0], strerror(errno));
		return pc_exit();
	}
	pc_info("listening");
	cs = accept(ls, NULL, NULL);
	n = cs < 0 ? -1 : recv(cs, &in, sizeof(in), 0);
	if (pc_check(n == sizeof(in) && in.h.op == PROV_OP_HELLO &&
		     in.req.version >> 16 == PROV_VERSION_MAJOR,
		     "the client's HELLO asks for major version %u", PROV_VERSION_MAJOR)) {
		out.h = (struct prov_hdr){ .op = PROV_OP_HELLO, .status = PROV_S_VERSION,
					   .len = sizeof(out), .id = in.h.id };
		out.rep.version = PROV_VERSION(PROV_VERSION_MAJOR + 1, 0);
		pc_check(send(cs, &out, sizeof(out), MSG_NOSIGNAL) == sizeof(out),
			 "VERSION sent");
	}
	if (cs >= 0)
		close(cs);
	close(ls);
	unlink(argv[0]);
	return pc_exit();
}
