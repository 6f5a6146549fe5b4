/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * dp_sock: one packet of a SOCK_SEQPACKET Unix socket and the descriptors it carries
 * (SCM_RIGHTS), the provider protocol's transport on Linux (docs/specs/provider.rst).
 * The provider, QEMU's socket transport and its IOKit shim, the test client and the
 * fuzzers send and receive through these two calls, so that what a packet lost on the
 * way (its tail, its descriptors) is worked out in one place. User space only.
 *
 * Both retry EINTR and return a negative errno on failure.
 */
#ifndef DP_SOCK_H
#define DP_SOCK_H

#include <stddef.h>
#include <sys/types.h>

/* What dp_sock_recv() had to leave out of a packet. */
#define DP_SOCK_TRUNC		(1u << 0)	/* longer than the buffer: its tail cut */
#define DP_SOCK_FDS_LOST	(1u << 1)	/* the kernel dropped descriptors */
#define DP_SOCK_FDS_EXTRA	(1u << 2)	/* more than asked for: those closed */

/*
 * Sends msg (len bytes) and nfds descriptors (at most PROV_MAX_FDS) as one packet;
 * flags are sendmsg's, MSG_NOSIGNAL is added. 0, or -EMSGSIZE when the kernel took
 * less than the whole packet.
 */
int dp_sock_send(int sock, const void *msg, size_t len, const int *fds, unsigned int nfds,
		 int flags);

/*
 * Receives one packet into buf (cap bytes) and up to max_fds of its descriptors into
 * fds (*nfds of them, close-on-exec; the caller owns them, whatever *lost says);
 * flags are recvmsg's. Returns the bytes received (0: an empty packet, or the peer
 * has gone), *lost the DP_SOCK_* bits of what was left out.
 */
ssize_t dp_sock_recv(int sock, void *buf, size_t cap, int *fds, unsigned int max_fds,
		     unsigned int *nfds, unsigned int *lost, int flags);

#endif /* DP_SOCK_H */
