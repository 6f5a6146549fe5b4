// SPDX-License-Identifier: (GPL-2.0 OR MIT)
/*
 * The transport: a SOCK_SEQPACKET Unix socket, one request per packet, descriptors in
 * SCM_RIGHTS, one poll loop for every client. Sockets are non-blocking and a client's
 * next request is read only once its last reply is out, so a client that stops reading
 * stalls nobody else. A client that hangs up, dies or breaks its socket is closed, and
 * the core releases everything it held. The OS layer's own descriptors (the eventfds
 * of vectors IRQ_SET ENABLE routed) sit in one epoll set, which the loop polls too.
 */
#define _GNU_SOURCE	/* accept4, ppoll, POLLRDHUP, struct ucred */
#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include "dp_sock.h"
#include "provider.h"

#define LX_MAX_CLIENTS	64
/* Watched descriptors handled per loop turn; the rest stay readable for the next. */
#define LX_WATCH_BATCH	64

struct lx_client {
	int sock;
	unsigned int id;		/* for logs: 1 for the first client accepted */
	struct dp_prov_conn core;
	struct lx_conn os;
	size_t rep_len;			/* a reply the socket has not taken yet; 0: none */
	int rep_fd;			/* lent with it by the OS layer; -1: none */
	_Alignas(uint64_t) uint8_t rep[PROV_MAX_MSG];	/* DMA entries are read in place */
};

static volatile sig_atomic_t lx_stop;
/* The request being handled: one at a time. */
static uint8_t lx_req[PROV_MAX_MSG];
/* lx_watch_add's set; -1 outside lx_serve. */
static int lx_epoll = -1;

static void lx_on_signal(int sig)
{
	(void)sig;
	lx_stop = 1;
}

static const char *const lx_op_names[PROV_OP_COUNT] = {
	[PROV_OP_HELLO] = "HELLO",
	[PROV_OP_CLAIM] = "CLAIM",
	[PROV_OP_RELEASE] = "RELEASE",
	[PROV_OP_CONFIG_READ] = "CONFIG_READ",
	[PROV_OP_CONFIG_WRITE] = "CONFIG_WRITE",
	[PROV_OP_REGION_MAP] = "REGION_MAP",
	[PROV_OP_REGION_READ] = "REGION_READ",
	[PROV_OP_REGION_WRITE] = "REGION_WRITE",
	[PROV_OP_IRQ_SET] = "IRQ_SET",
	[PROV_OP_IRQ_PENDING] = "IRQ_PENDING",
	[PROV_OP_DMA_MEMORY] = "DMA_MEMORY",
	[PROV_OP_DMA] = "DMA",
	[PROV_OP_RESET] = "RESET",
	[PROV_OP_COUNTERS] = "COUNTERS",
	[PROV_OP_NOTIFY] = "NOTIFY",
};

/* One line per refused request, and per DMA batch with refused entries. */
static void lx_log_reply(const struct lx_client *c)
{
	const struct prov_hdr *h = (const void *)c->rep;
	unsigned int op = le16toh(h->op), status = le16toh(h->status);
	char opname[16];

	if (c->rep_len < sizeof(*h))
		return;
	if (op < PROV_OP_COUNT && lx_op_names[op])
		snprintf(opname, sizeof(opname), "%s", lx_op_names[op]);
	else
		snprintf(opname, sizeof(opname), "op %u", op);
	if (status != PROV_S_OK) {
		fprintf(stderr, LX_NAME ": client %u: %s id %u fn %u: %s\n", c->id, opname,
			le32toh(h->id), le32toh(h->fn), dp_prov_status_name(status));
	} else if (op == PROV_OP_DMA && c->rep_len >= sizeof(*h) + sizeof(struct prov_dma_batch)) {
		const struct prov_dma_batch *b = (const void *)(c->rep + sizeof(*h));
		unsigned int i, n = le16toh(b->count), refused = 0, first = 0;

		for (i = 0; i < n && sizeof(*h) + sizeof(*b) + (i + 1) * sizeof(b->req[0]) <= c->rep_len; i++) {
			if (b->req[i].status != PROV_S_OK && !refused++)
				first = i;
		}
		if (refused)
			fprintf(stderr, LX_NAME ": client %u: DMA id %u: %u of %u entries refused,"
				" first %u: %s\n", c->id, le32toh(h->id), refused, n, first,
				dp_prov_status_name(le16toh(b->req[first].status)));
	}
}

/* Sends the pending reply; NULL when sent or to be retried on POLLOUT, else why not. */
static const char *lx_send(struct lx_client *c)
{
	int r = dp_sock_send(c->sock, c->rep, c->rep_len, &c->rep_fd, c->rep_fd >= 0,
			     MSG_DONTWAIT);

	if (r < 0)
		return r == -EAGAIN ? NULL : strerror(-r);
	c->rep_len = 0;
	c->rep_fd = -1;
	return NULL;
}

/* Reads, handles and answers one request; NULL to go on, else why the client ends. */
static const char *lx_receive(struct lx_client *c, short revents)
{
	int fds[LX_MAX_FDS];
	unsigned int nfds, lost, i;
	ssize_t n;

	n = dp_sock_recv(c->sock, lx_req, sizeof(lx_req), fds, LX_MAX_FDS, &nfds, &lost,
			 MSG_DONTWAIT);
	if (n < 0)
		return n == -EAGAIN ? NULL : strerror(-n);
	/* 0 is an empty packet, unless the peer has gone. */
	if (n == 0 && (revents & (POLLHUP | POLLRDHUP)))
		return "hung up";
	c->rep_fd = -1;
	if (lost & (DP_SOCK_TRUNC | DP_SOCK_FDS_LOST))
		/* Longer than PROV_MAX_MSG, or descriptors lost: never the core's to see. */
		c->rep_len = dp_prov_refuse(&c->core, lx_req, (size_t)n,
					    lost & DP_SOCK_TRUNC ? PROV_S_INVALID : PROV_S_BAD_FD,
					    c->rep);
	else
		c->rep_len = dp_prov_handle(&c->core, lx_req, (size_t)n, fds, nfds, c->rep,
					    &c->rep_fd);
	for (i = 0; i < nfds; i++)
		close(fds[i]);
	lx_log_reply(c);
	return lx_send(c);
}

static const char *lx_client_event(struct lx_client *c, short revents)
{
	if (revents & POLLNVAL)
		return "socket invalid";
	if (revents & POLLOUT)
		return lx_send(c);
	if (revents & POLLIN)
		return lx_receive(c, revents);
	if (revents & (POLLHUP | POLLRDHUP | POLLERR))
		return "hung up";
	return NULL;
}

static struct lx_client *lx_accept(struct dp_prov *p, int listen_fd, unsigned int id)
{
	int sndbuf = 4 * PROV_MAX_MSG;
	struct lx_client *c;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	int s = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (s < 0) {
		if (errno != EAGAIN && errno != EINTR)
			fprintf(stderr, LX_NAME ": accept: %s\n", strerror(errno));
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		fprintf(stderr, LX_NAME ": no memory for a client\n");
		goto close_socket;
	}
	c->sock = s;
	c->id = id;
	c->rep_fd = -1;
	lx_conn_init(&c->os);
	c->os.sock = s;
	if (dp_prov_conn_open(p, &c->core, &c->os)) {
		fprintf(stderr, LX_NAME ": client %u refused by the core\n", id);
		goto free_client;
	}
	/* Room for a whole reply even where the default buffer is small. */
	setsockopt(s, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	if (getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cred, &len))
		cred.pid = 0;
	fprintf(stderr, LX_NAME ": client %u connected (pid %d)\n", id, (int)cred.pid);
	return c;

free_client:
	free(c);
close_socket:
	close(s);
	return NULL;
}

/* Says what the client did with its DMA: an operator's (and the demo's) summary. */
static void lx_client_close(struct lx_client *c, const char *why)
{
	const struct dp_dart_stats *s = &c->core.dart.stats;

	fprintf(stderr, LX_NAME ": client %u gone: %s; %llu maps, %llu unmaps, %llu refused,"
		" peak %llu mappings (%llu KiB), %llu still live, now dropped\n", c->id, why,
		(unsigned long long)s->maps, (unsigned long long)s->unmaps,
		(unsigned long long)c->core.refused, (unsigned long long)s->peak_mappings,
		(unsigned long long)s->peak_bytes >> 10, (unsigned long long)s->live_mappings);
	dp_prov_conn_close(&c->core);
	close(c->sock);
	free(c);
}

int lx_watch_add(struct lx_watch *w)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = w };

	return epoll_ctl(lx_epoll, EPOLL_CTL_ADD, w->fd, &ev) ? lx_status(errno) : PROV_S_OK;
}

void lx_watch_del(struct lx_watch *w)
{
	epoll_ctl(lx_epoll, EPOLL_CTL_DEL, w->fd, NULL);
}

/*
 * Runs after a loop turn's requests, so the events it fetches name only watches that
 * still exist: a request may have deleted others.
 */
static void lx_watch_run(void)
{
	struct epoll_event ev[LX_WATCH_BATCH];
	int i, n = epoll_wait(lx_epoll, ev, LX_WATCH_BATCH, 0);

	for (i = 0; i < n; i++) {
		struct lx_watch *w = ev[i].data.ptr;

		w->ready(w);
	}
}

int lx_serve(struct dp_prov *p, int listen_fd)
{
	static struct lx_client *clients[LX_MAX_CLIENTS];
	struct pollfd pfd[2 + LX_MAX_CLIENTS];
	unsigned int slot[2 + LX_MAX_CLIENTS];
	struct sigaction sa = { .sa_handler = lx_on_signal };
	unsigned int next_id = 1, i;
	sigset_t stop, old;
	int rc = 0;

	lx_epoll = epoll_create1(EPOLL_CLOEXEC);
	if (lx_epoll < 0) {
		fprintf(stderr, LX_NAME ": epoll: %s\n", strerror(errno));
		return 1;
	}
	/* Delivered only inside ppoll(), so a stop is never missed between checks. */
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	sigprocmask(SIG_BLOCK, &stop, &old);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	while (!lx_stop) {
		unsigned int n = 2;

		for (i = 0; i < LX_MAX_CLIENTS; i++) {
			if (!clients[i])
				continue;
			pfd[n].fd = clients[i]->sock;
			pfd[n].events = clients[i]->rep_len ? POLLOUT : POLLIN | POLLRDHUP;
			slot[n++] = i;
		}
		/* At the limit, new clients wait in the backlog. */
		pfd[0].fd = n <= LX_MAX_CLIENTS + 1 ? listen_fd : -1;
		pfd[0].events = POLLIN;
		pfd[1].fd = lx_epoll;
		pfd[1].events = POLLIN;
		if (ppoll(pfd, n, NULL, &old) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, LX_NAME ": poll: %s\n", strerror(errno));
			rc = 1;
			break;
		}
		for (i = 2; i < n; i++) {
			struct lx_client *c = clients[slot[i]];
			const char *why;

			if (!pfd[i].revents)
				continue;
			why = lx_client_event(c, pfd[i].revents);
			if (why) {
				lx_client_close(c, why);
				clients[slot[i]] = NULL;
			}
		}
		if (pfd[1].revents & POLLIN)
			lx_watch_run();
		if (pfd[0].revents & POLLIN) {
			for (i = 0; i < LX_MAX_CLIENTS && clients[i]; i++)
				;
			if (i < LX_MAX_CLIENTS) {
				clients[i] = lx_accept(p, listen_fd, next_id);
				next_id += clients[i] != NULL;
			}
		}
	}
	for (i = 0; i < LX_MAX_CLIENTS; i++) {
		if (clients[i])
			lx_client_close(clients[i], "provider stopping");
		clients[i] = NULL;
	}
	close(lx_epoll);
	lx_epoll = -1;
	sigprocmask(SIG_SETMASK, &old, NULL);
	return rc;
}
