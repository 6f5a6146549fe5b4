// SPDX-License-Identifier: (GPL-2.0 OR MIT)
/*
 * The Linux provider's message path without VFIO: serve.c (included, for its static
 * per-client functions) and the real OS layer vfio.c, serving a provider that lists
 * no function. Clients connect to a real SOCK_SEQPACKET socket and lx_accept takes
 * them; each packet of the input, with real descriptors in SCM_RIGHTS (memfds, pipes,
 * eventfds, /dev/null), goes through lx_client_event as serve.c's poll loop would
 * call it: recvmsg, truncation (a packet over PROV_MAX_MSG), descriptor collection,
 * dp_prov_refuse or dp_prov_handle, the log line, sendmsg. Without functions, the
 * OS layer's reachable part is DMA_MEMORY (fstatfs, mmap) and NOTIFY (its pipe).
 *
 * Checked: every packet gets one reply that echoes its header and is the header alone
 * when refused, descriptors come back only with NOTIFY, a hang-up closes the client,
 * and after every client is gone no descriptor is left open (the lowest free
 * descriptor number is what it was).
 */
#include "../../provider/linux/serve.c"
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/un.h>
#include "dp_sock.h"
#include "fuzz.h"

#define FS_CLIENTS	2

struct fs_client {
	int sock;			/* the client's end; -1: none */
	struct lx_client *srv;
};

static struct dp_prov fs_prov;
static struct lx_os fs_os;
static int fs_listen = -1;
static struct sockaddr_un fs_addr;
static socklen_t fs_addr_len;
static uint8_t fs_msg[PROV_MAX_MSG + 1024], fs_rep[PROV_MAX_MSG + 16];

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* The provider logs every refusal: silence it, but keep a way to report. */
	fz_report = fdopen(dup(2), "w");
	setvbuf(fz_report, NULL, _IONBF, 0);
	stderr = fopen("/dev/null", "w");
	fs_addr.sun_family = AF_UNIX;
	fs_addr_len = offsetof(struct sockaddr_un, sun_path) + 1 +
		      snprintf(fs_addr.sun_path + 1, sizeof(fs_addr.sun_path) - 1,
			       "dartpass-fuzz-%d", (int)getpid());
	fs_listen = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fs_listen < 0 || bind(fs_listen, (struct sockaddr *)&fs_addr, fs_addr_len) ||
	    listen(fs_listen, 8)) {
		perror("fuzz_serve: listening socket");
		exit(1);
	}
	return 0;
}

static int fs_lowest_free_fd(void)
{
	int fd = dup(0);

	close(fd);
	return fd;
}

static void fs_connect(struct fs_client *k, unsigned int id)
{
	k->sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	FZ_CHECK(k->sock >= 0 && !connect(k->sock, (struct sockaddr *)&fs_addr, fs_addr_len),
		 "connect");
	k->srv = lx_accept(&fs_prov, fs_listen, id);
	FZ_CHECK(k->srv, "lx_accept took no client");
}

/* The serve loop's view of the client's socket, as ppoll would report it. */
static short fs_revents(const struct lx_client *c)
{
	struct pollfd p = { .fd = c->sock, .events = c->rep_len ? POLLOUT : POLLIN | POLLRDHUP };

	FZ_CHECK(poll(&p, 1, 0) == 1, "the provider's socket is not ready");
	return p.revents;
}

/* A descriptor of one of the kinds a client may pass, right or wrong. */
static int fs_fd(struct fz *f)
{
	uint8_t k = fz_u8(f);
	int fd = -1, p[2];

	switch (k % 4) {
	case 0:
		fd = memfd_create("fuzz", MFD_CLOEXEC);
		if (fd >= 0 && ftruncate(fd, (off_t)(k >> 2) << 12))
			FZ_CHECK(0, "ftruncate");
		break;
	case 1:
		if (!pipe2(p, O_CLOEXEC)) {
			close(p[1]);
			fd = p[0];
		}
		break;
	case 2:
		fd = eventfd(0, EFD_CLOEXEC);
		break;
	default:
		fd = open("/dev/null", O_RDWR | O_CLOEXEC);
		break;
	}
	FZ_CHECK(fd >= 0, "a descriptor to pass");
	return fd;
}

/* A packet: a header and a body for one of the ops, or raw bytes; perhaps oversized. */
static size_t fs_build(struct fz *f)
{
	struct prov_hdr h = { .op = fz_u8(f) % 16, .id = fz_u32(f) };
	uint8_t mut = fz_u8(f), *b = fs_msg + sizeof(h);
	size_t blen;

	switch (h.op) {
	case PROV_OP_HELLO: {
		struct prov_hello_req q = { .version = PROV_VERSION(1, 0), .features = fz_u8(f) };

		memcpy(b, &q, blen = sizeof(q));
		break;
	}
	case PROV_OP_DMA_MEMORY: {
		struct prov_dma_memory_req q = { .size = (uint64_t)fz_u8(f) << 12 };

		memcpy(b, &q, blen = sizeof(q));
		break;
	}
	case PROV_OP_DMA: {
		struct prov_dma_batch q = { .count = 1 + fz_u8(f) % 4 };

		memcpy(b, &q, sizeof(q));
		fz_bytes(f, b + sizeof(q), q.count * sizeof(struct pvdma_req));
		blen = sizeof(q) + q.count * sizeof(struct pvdma_req);
		break;
	}
	default:
		fz_bytes(f, b, blen = fz_u8(f) % 40);
		break;
	}
	if (mut & 1)
		h.fn = fz_u8(f);
	h.len = sizeof(h) + blen;
	if (mut & 2)
		h.len = fz_u32(f);
	memcpy(fs_msg, &h, sizeof(h));
	if (mut & 4)	/* a packet the header does not describe: short, or too long */
		blen = mut & 8 ? PROV_MAX_MSG + fz_u8(f) : fz_u8(f) % (sizeof(h) + 1);
	else
		blen += sizeof(h);
	return blen;
}

static void fs_send(struct fz *f, struct fs_client *k)
{
	int fds[4], rfd;
	unsigned int nfds = fz_u8(f) % 5, i, nr, lost;
	size_t len = fs_build(f);
	struct prov_hdr sent, got;
	const char *why;
	ssize_t n;
	int r;

	for (i = 0; i < nfds; i++)
		fds[i] = fs_fd(f);
	r = dp_sock_send(k->sock, fs_msg, len, fds, nfds, 0);
	FZ_CHECK(!r, "sendmsg of %zu bytes: %d", len, r);
	for (i = 0; i < nfds; i++)
		close(fds[i]);
	why = lx_client_event(k->srv, fs_revents(k->srv));
	FZ_CHECK(!why, "a packet ended the client: %s", why);

	/* The reply, and the descriptor that may come with it. */
	n = dp_sock_recv(k->sock, fs_rep, sizeof(fs_rep), &rfd, 1, &nr, &lost, MSG_DONTWAIT);
	FZ_CHECK(n >= (ssize_t)sizeof(got) && n <= PROV_MAX_MSG && !lost, "a reply of %zd bytes",
		 n);
	FZ_CHECK(!k->srv->rep_len, "the reply is still pending");
	memcpy(&got, fs_rep, sizeof(got));
	memcpy(&sent, fs_msg, sizeof(sent));
	FZ_CHECK(got.len == n && got.status < PROV_S_COUNT, "reply header: len %u of %zd", got.len,
		 n);
	if (len >= sizeof(sent))
		FZ_CHECK(got.op == sent.op && got.id == sent.id && got.fn == sent.fn,
			 "the reply does not echo the request");
	else
		FZ_CHECK(got.status == PROV_S_INVALID && n == sizeof(got), "a short packet's reply");
	if (got.status && got.status != PROV_S_VERSION)
		FZ_CHECK(n == sizeof(got), "a refusal of %zd bytes", n);
	if (nr) {
		FZ_CHECK(!got.status && got.op == PROV_OP_NOTIFY, "a descriptor with op %u",
			 got.op);
		close(rfd);
	} else {
		FZ_CHECK(got.status || got.op != PROV_OP_NOTIFY, "NOTIFY without its pipe");
	}
}

static void fs_hang_up(struct fs_client *k)
{
	const char *why;

	close(k->sock);
	why = lx_client_event(k->srv, fs_revents(k->srv));
	FZ_CHECK(why, "a hang-up went unnoticed");
	lx_client_close(k->srv, why);
	k->sock = -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };
	struct fs_client cl[FS_CLIENTS];
	uint32_t shift = fz_u8(&f) & 1 ? 14 : 12;
	struct dp_prov_config cfg = {
		.dart = { .granule_shift = shift, .aperture_base = 1ull << 30,
			  .aperture_size = 1ull << 30, .max_mappings = 64,
			  .max_bytes = 64ull << 20 },
		.max_batch = PROV_MAX_BATCH, .features = PROV_F_ALL,
	};
	unsigned int i, id = 1;
	int lowest = fs_lowest_free_fd();

	FZ_CHECK(dp_prov_init(&fs_prov, &cfg, &lx_os_ops, &fs_os) == PROV_S_OK, "init");
	for (i = 0; i < FS_CLIENTS; i++)
		fs_connect(&cl[i], id++);
	while (fz_more(&f)) {
		uint8_t cmd = fz_u8(&f);
		struct fs_client *k = &cl[cmd / 4 % FS_CLIENTS];

		if (cmd % 4) {
			fs_send(&f, k);
		} else {
			fs_hang_up(k);
			fs_connect(k, id++);
		}
	}
	for (i = 0; i < FS_CLIENTS; i++)
		fs_hang_up(&cl[i]);
	FZ_CHECK(fs_lowest_free_fd() == lowest, "a descriptor leaked: %d is open",
		 lowest);
	return 0;
}
