// SPDX-License-Identifier: (GPL-2.0 OR MIT)
/* One SOCK_SEQPACKET packet and its descriptors: see dp_sock.h. */
#include "dp_sock.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "provider_proto.h"

#ifndef MSG_CMSG_CLOEXEC	/* Linux's: a descriptor never leaks into an exec'd child */
#define MSG_CMSG_CLOEXEC 0
#endif

/* Room for the most descriptors a packet may carry. */
union dp_sock_ctl {
	struct cmsghdr align;
	char buf[CMSG_SPACE(PROV_MAX_FDS * sizeof(int))];
};

int dp_sock_send(int sock, const void *msg, size_t len, const int *fds, unsigned int nfds,
		 int flags)
{
	union dp_sock_ctl ctl;
	struct iovec iov = { .iov_base = (void *)msg, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (nfds > PROV_MAX_FDS)
		return -EINVAL;
	if (nfds) {
		struct cmsghdr *cm;

		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(cm), fds, nfds * sizeof(int));
	}
	do
		n = sendmsg(sock, &mh, flags | MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EMSGSIZE;
}

ssize_t dp_sock_recv(int sock, void *buf, size_t cap, int *fds, unsigned int max_fds,
		     unsigned int *nfds, unsigned int *lost, int flags)
{
	union dp_sock_ctl ctl;
	struct iovec iov = { .iov_base = buf, .iov_len = cap };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf),
	};
	struct cmsghdr *cm;
	ssize_t n;

	*nfds = 0;
	*lost = 0;
	do
		n = recvmsg(sock, &mh, flags | MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		size_t i;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		for (i = 0; i < (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (*nfds < max_fds) {
				fds[(*nfds)++] = fd;
			} else {
				close(fd);
				*lost |= DP_SOCK_FDS_EXTRA;
			}
		}
	}
	if (mh.msg_flags & MSG_TRUNC)
		*lost |= DP_SOCK_TRUNC;
	if (mh.msg_flags & MSG_CTRUNC)
		*lost |= DP_SOCK_FDS_LOST;
	return n;
}
