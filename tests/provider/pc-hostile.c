// SPDX-License-Identifier: (GPL-2.0 OR MIT)
/*
 *   hostile SOCKET    every field out of range, malformed and oversized messages,
 *                     unknown ops, descriptors missing, extra or of the wrong kind,
 *                     another connection's claims and mappings: each request gets its
 *                     exact status (docs/specs/provider.rst), and afterwards the
 *                     provider still serves, its bad_requests up by exactly the
 *                     number of refused requests sent.
 *
 * Two connections do the damage: A holds the NVMe, B the NICs. M only watches.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "pc.h"

#define HDR		sizeof(struct prov_hdr)
#define CMD_SPECIAL	0x0008		/* command register: special cycles, not allowed */

static unsigned int nbad;	/* requests answered with a refusal */
static unsigned int nrefused;	/* DMA entries A sent that must be refused */

/* Checks a status; each refusal the provider answered counts toward bad_requests. */
static bool want(int got, int st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static bool want(int got, int st, const char *fmt, ...)
{
	char name[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(name, sizeof(name), fmt, ap);
	va_end(ap);
	nbad += got != PROV_S_OK && got != PC_ERR;
	return pc_expect(got, st, "%s", name);
}

/* A message with a header the caller shapes: len and status as given. */
static int shaped(struct pc_conn *c, uint16_t op, uint16_t status, uint32_t len,
		  uint32_t fn, const void *body, size_t blen, const int *fds, unsigned int nfds)
{
	static uint8_t msg[PROV_MAX_MSG];
	struct prov_hdr h = { .op = op, .status = status, .len = len, .id = c->next_id++,
			      .fn = fn };

	memcpy(msg, &h, HDR);
	if (blen)
		memcpy(msg + HDR, body, blen);
	return pc_raw(c, msg, HDR + blen, fds, nfds, NULL);
}

static int hello_shaped(struct pc_conn *c, uint16_t status, uint32_t len, uint32_t fn,
			const void *body, size_t blen)
{
	return shaped(c, PROV_OP_HELLO, status, len, fn, body, blen, NULL, 0);
}

/* A well-formed request whose reply's body, if any, is not looked at. */
static int req(struct pc_conn *c, uint16_t op, uint32_t fn, const void *body, size_t blen,
	       const int *fds, unsigned int nfds)
{
	return shaped(c, op, 0, HDR + blen, fn, body, blen, fds, nfds);
}

static int config(struct pc_conn *c, uint16_t op, uint32_t fn, uint32_t off, uint32_t size,
		  uint32_t val, uint32_t reserved)
{
	struct prov_config_req r = { .offset = off, .size = size, .value = val,
				     .reserved = reserved };

	return req(c, op, fn, &r, sizeof(r), NULL, 0);
}

static int region(struct pc_conn *c, uint16_t op, uint32_t fn, uint32_t reg, uint64_t off,
		  uint32_t size, uint64_t val)
{
	struct prov_region_req r = { .region = reg, .size = size, .offset = off, .value = val };

	return req(c, op, fn, &r, sizeof(r), NULL, 0);
}

static int region_map(struct pc_conn *c, uint32_t fn, uint32_t reg, uint32_t reserved)
{
	struct prov_region_map_req r = { .region = reg, .reserved = reserved };

	return req(c, PROV_OP_REGION_MAP, fn, &r, sizeof(r), NULL, 0);
}

static int irq(struct pc_conn *c, uint32_t fn, uint32_t type, uint32_t action,
	       uint32_t start, uint32_t count, const int *fds, unsigned int nfds)
{
	return pc_irq_set(c, fn, type, action, start, count, fds, nfds);
}

static int dma_memory(struct pc_conn *c, uint64_t size, uint64_t base, const int *fds,
		      unsigned int nfds)
{
	struct prov_dma_memory_req r = { .size = size, .base = base };

	return req(c, PROV_OP_DMA_MEMORY, 0, &r, sizeof(r), fds, nfds);
}

/* A DMA message from raw parts: batch header fields, entries, descriptors, fn. */
static int dma_raw(struct pc_conn *c, uint16_t count, uint16_t reserved, uint32_t done,
		   unsigned int nent, uint32_t fn, const int *fds, unsigned int nfds)
{
	static uint8_t body[PROV_MAX_MSG];
	struct prov_dma_batch b = { .count = count, .reserved = reserved, .done = done };
	struct pvdma_req e = pc_map_req(0, 4096, PVDMA_MAP_READ);
	unsigned int i;

	memcpy(body, &b, sizeof(b));
	for (i = 0; i < nent; i++)
		memcpy(body + sizeof(b) + i * sizeof(e), &e, sizeof(e));
	return req(c, PROV_OP_DMA, fn, body, sizeof(b) + nent * sizeof(e), fds, nfds);
}

/* Before HELLO and HELLO itself. */
static void before_hello(struct pc_conn *a)
{
	struct prov_hello_req h = { .version = PROV_VERSION(1, 0), .features = PROV_F_ALL };
	struct prov_hello_req hr = h;
	static uint8_t big[70000];
	int efd = pc_eventfd();

	want(req(a, PROV_OP_COUNTERS, 0, NULL, 0, NULL, 0), PROV_S_NOT_READY,
	     "COUNTERS before HELLO");
	want(req(a, PROV_OP_CLAIM, 0, NULL, 0, NULL, 0), PROV_S_NOT_READY, "CLAIM before HELLO");
	want(pc_hello_version(a, PROV_VERSION(2, 0)), PROV_S_VERSION, "HELLO version 2.0");
	pc_check(a->version == PROV_VERSION(PROV_VERSION_MAJOR, PROV_VERSION_MINOR),
		 "the VERSION reply names the provider's version (0x%x)", a->version);
	want(pc_hello_version(a, PROV_VERSION(0, 9)), PROV_S_VERSION, "HELLO version 0.9");
	hr.reserved = 1;
	want(hello_shaped(a, 0, HDR + sizeof(hr), 0, &hr, sizeof(hr)), PROV_S_INVALID,
	     "HELLO with its reserved field set");
	want(hello_shaped(a, 0, HDR + sizeof(h), 1, &h, sizeof(h)), PROV_S_INVALID,
	     "HELLO with fn 1");
	want(hello_shaped(a, 1, HDR + sizeof(h), 0, &h, sizeof(h)), PROV_S_INVALID,
	     "HELLO with a status in the request");
	want(hello_shaped(a, 0, HDR + 8, 0, &h, 8), PROV_S_INVALID,
	     "HELLO truncated (8 of 16 body bytes)");
	memcpy(big, &h, sizeof(h));
	want(hello_shaped(a, 0, HDR + 24, 0, big, 24), PROV_S_INVALID,
	     "HELLO with 8 bytes too many");
	want(hello_shaped(a, 0, HDR + sizeof(h) + 4, 0, &h, sizeof(h)), PROV_S_INVALID,
	     "HELLO whose len says 4 bytes more than sent");
	want(hello_shaped(a, 0, HDR + sizeof(h) - 4, 0, &h, sizeof(h)), PROV_S_INVALID,
	     "HELLO whose len says 4 bytes fewer than sent");
	want(pc_raw(a, &h, 8, NULL, 0, NULL), PROV_S_INVALID,
	     "an 8-byte message (shorter than a header)");
	want(pc_raw(a, big, 0, NULL, 0, NULL), PROV_S_INVALID, "an empty message");
	{
		struct prov_hdr bh = { .op = PROV_OP_HELLO, .len = sizeof(big),
				       .id = a->next_id++ };

		memcpy(big, &bh, HDR);
		memcpy(big + HDR, &h, sizeof(h));
		want(pc_raw(a, big, sizeof(big), NULL, 0, NULL), PROV_S_INVALID,
		     "a 70000-byte message (above PROV_MAX_MSG)");
	}
	want(pc_call_fds(a, PROV_OP_HELLO, 0, &h, sizeof(h), &efd, 1, NULL, 0, NULL),
	     PROV_S_BAD_FD, "HELLO with a descriptor");
	close(efd);
	if (!pc_expect(pc_hello(a), PROV_S_OK, "HELLO after all that"))
		return;
	pc_check(a->features == (PROV_F_IRQ_EVENTFD | PROV_F_IRQ_PENDING | PROV_F_REGION_FD |
				 PROV_F_DMA_FD),
		 "HELLO: features offered & requested are Linux's (0x%x)", a->features);
	want(pc_hello(a), PROV_S_INVALID, "a second HELLO");
}

/* Header checks, unclaimed functions, DMA_MEMORY. */
static void unclaimed(struct pc_conn *a, int nvme, struct pc_mem *mem)
{
	uint32_t nr = a->nr_fns;
	uint8_t body[8] = { 0 };
	int efd = pc_eventfd(), pipefd[2] = { -1, -1 }, two[2], ro, small_fd;
	char path[64];
	struct pc_mem small;

	want(req(a, 0, 0, NULL, 0, NULL, 0), PROV_S_UNSUPPORTED, "op 0");
	want(req(a, PROV_OP_COUNT, 0, NULL, 0, NULL, 0), PROV_S_UNSUPPORTED, "op %u",
	     PROV_OP_COUNT);
	want(req(a, 0xffff, 0, NULL, 0, NULL, 0), PROV_S_UNSUPPORTED, "op 0xffff");
	want(req(a, PROV_OP_COUNTERS, 1, NULL, 0, NULL, 0), PROV_S_INVALID, "COUNTERS with fn 1");
	want(req(a, PROV_OP_COUNTERS, 0, body, 8, NULL, 0), PROV_S_INVALID,
	     "COUNTERS with an 8-byte body");
	want(shaped(a, PROV_OP_COUNTERS, 3, HDR, 0, NULL, 0, NULL, 0), PROV_S_INVALID,
	     "COUNTERS with a status in the request");
	want(req(a, PROV_OP_CLAIM, nr, NULL, 0, NULL, 0), PROV_S_NO_FUNCTION,
	     "CLAIM fn %u (one past the last)", nr);
	want(req(a, PROV_OP_CLAIM, 0xffffffff, NULL, 0, NULL, 0), PROV_S_NO_FUNCTION,
	     "CLAIM fn 0xffffffff");
	want(req(a, PROV_OP_CLAIM, nvme, body, 4, NULL, 0), PROV_S_INVALID,
	     "CLAIM with a 4-byte body");
	want(config(a, PROV_OP_CONFIG_READ, nr, 0, 4, 0, 0), PROV_S_NO_FUNCTION,
	     "CONFIG_READ fn %u", nr);
	want(config(a, PROV_OP_CONFIG_READ, nvme, 0, 4, 0, 0), PROV_S_NOT_CLAIMED,
	     "CONFIG_READ of an unclaimed function");
	want(region_map(a, nvme, 0, 0), PROV_S_NOT_CLAIMED, "REGION_MAP of an unclaimed function");
	want(irq(a, nvme, PROV_IRQ_MSIX, PROV_IRQ_DISABLE, 0, 0, NULL, 0), PROV_S_NOT_CLAIMED,
	     "IRQ_SET on an unclaimed function");
	want(req(a, PROV_OP_RESET, nvme, NULL, 0, NULL, 0), PROV_S_NOT_CLAIMED,
	     "RESET of an unclaimed function");
	want(req(a, PROV_OP_RELEASE, nvme, NULL, 0, NULL, 0), PROV_S_NOT_CLAIMED,
	     "RELEASE of an unclaimed function");
	want(dma_raw(a, 1, 0, 0, 1, 0, NULL, 0), PROV_S_NOT_READY, "DMA before DMA_MEMORY");

	if (pipe2(pipefd, O_CLOEXEC) || pc_mem_create(&small, mem->size / 2)) {
		pc_check(false, "pipe and memfd for the descriptor checks");
		return;
	}
	two[0] = two[1] = mem->fd;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", mem->fd);
	ro = open(path, O_RDONLY | O_CLOEXEC);
	small_fd = small.fd;
	want(dma_memory(a, mem->size, 0, NULL, 0), PROV_S_BAD_FD,
	     "DMA_MEMORY without a descriptor");
	want(dma_memory(a, mem->size, 0, two, 2), PROV_S_BAD_FD, "DMA_MEMORY with two descriptors");
	want(dma_memory(a, mem->size, 0, &pipefd[0], 1), PROV_S_BAD_FD, "DMA_MEMORY with a pipe");
	want(dma_memory(a, mem->size, 0, &efd, 1), PROV_S_BAD_FD, "DMA_MEMORY with an eventfd");
	want(dma_memory(a, mem->size, 0, &ro, 1), PROV_S_BAD_FD,
	     "DMA_MEMORY with the memfd opened read-only");
	want(dma_memory(a, mem->size, 0, &small_fd, 1), PROV_S_BAD_FD,
	     "DMA_MEMORY larger than its memfd");
	want(dma_memory(a, 0, 0, &mem->fd, 1), PROV_S_INVALID, "DMA_MEMORY of size 0");
	want(dma_memory(a, mem->size - 4096, 0, &mem->fd, 1), PROV_S_INVALID,
	     "DMA_MEMORY of a size not a granule multiple");
	want(dma_memory(a, mem->size, 4096, &mem->fd, 1), PROV_S_INVALID,
	     "DMA_MEMORY with a base (Linux: 0)");
	want(shaped(a, PROV_OP_DMA_MEMORY, 0, HDR + 8, 0, body, 8, NULL, 0), PROV_S_INVALID,
	     "DMA_MEMORY truncated");
	pc_expect(pc_dma_memory(a, mem), PROV_S_OK, "DMA_MEMORY (memfd)");
	want(pc_dma_memory(a, mem), PROV_S_INVALID, "a second DMA_MEMORY");
	want(dma_raw(a, 1, 0, 0, 1, 0, NULL, 0), PROV_S_NOT_CLAIMED,
	     "DMA with no function claimed");
	close(ro);
	close(efd);
	close(pipefd[0]);
	close(pipefd[1]);
	pc_mem_destroy(&small);
}

static void config_checks(struct pc_conn *a, const struct pc_fn *f)
{
	uint32_t fn = f->fn, msix = pc_find_cap(a, fn, 0x11), pcie = pc_find_cap(a, fn, 0x10);
	uint32_t bar0 = 0, after = 0, cmd = 0;

	want(config(a, PROV_OP_CONFIG_READ, fn, 4096, 4, 0, 0), PROV_S_INVALID,
	     "CONFIG_READ at 4096");
	want(config(a, PROV_OP_CONFIG_READ, fn, 0xfffffffc, 4, 0, 0), PROV_S_INVALID,
	     "CONFIG_READ at 0xfffffffc");
	want(config(a, PROV_OP_CONFIG_READ, fn, 2, 4, 0, 0), PROV_S_INVALID,
	     "CONFIG_READ of 4 bytes at 2 (unaligned)");
	want(config(a, PROV_OP_CONFIG_READ, fn, 0, 3, 0, 0), PROV_S_INVALID, "CONFIG_READ size 3");
	want(config(a, PROV_OP_CONFIG_READ, fn, 0, 0, 0, 0), PROV_S_INVALID, "CONFIG_READ size 0");
	want(config(a, PROV_OP_CONFIG_READ, fn, 0, 8, 0, 0), PROV_S_INVALID, "CONFIG_READ size 8");
	want(config(a, PROV_OP_CONFIG_READ, fn, 0, 4, 1, 0), PROV_S_INVALID,
	     "CONFIG_READ with a value");
	want(config(a, PROV_OP_CONFIG_READ, fn, 0, 4, 0, 1), PROV_S_INVALID,
	     "CONFIG_READ with its reserved field set");
	want(config(a, PROV_OP_CONFIG_WRITE, fn, 0x3c, 1, 0x100, 0), PROV_S_INVALID,
	     "CONFIG_WRITE of 1 byte with value 0x100");
	pc_config_read(a, fn, 0x10, 4, &bar0);
	want(config(a, PROV_OP_CONFIG_WRITE, fn, 0x10, 4, 0xfffff000, 0), PROV_S_DENIED,
	     "CONFIG_WRITE to BAR0");
	pc_config_read(a, fn, 0x10, 4, &after);
	pc_check(after == bar0, "the refused BAR0 write changed nothing (0x%x)", after);
	want(config(a, PROV_OP_CONFIG_WRITE, fn, 0, 2, 0x1234, 0), PROV_S_DENIED,
	     "CONFIG_WRITE to the vendor ID");
	pc_config_read(a, fn, 4, 2, &cmd);
	want(config(a, PROV_OP_CONFIG_WRITE, fn, 4, 2, cmd | CMD_SPECIAL, 0), PROV_S_DENIED,
	     "CONFIG_WRITE setting command bit 3 (special cycles)");
	want(config(a, PROV_OP_CONFIG_WRITE, fn, 0x0c, 4, 0, 0), PROV_S_DENIED,
	     "CONFIG_WRITE of 4 bytes at 0x0c, straddling the header type");
	want(config(a, PROV_OP_CONFIG_WRITE, fn, 0x30, 4, 0, 0), PROV_S_DENIED,
	     "CONFIG_WRITE to the ROM BAR");
	want(config(a, PROV_OP_CONFIG_WRITE, fn, 0x34, 1, 0x40, 0), PROV_S_DENIED,
	     "CONFIG_WRITE to the capabilities pointer");
	want(config(a, PROV_OP_CONFIG_WRITE, fn, 0x3d, 1, 2, 0), PROV_S_DENIED,
	     "CONFIG_WRITE to the interrupt pin");
	if (pc_check(msix && pcie, "the NVMe has MSI-X (0x%x) and PCIe (0x%x) capabilities",
		     msix, pcie)) {
		want(config(a, PROV_OP_CONFIG_WRITE, fn, msix + 2, 2, 0x8000, 0), PROV_S_DENIED,
		     "CONFIG_WRITE enabling MSI-X behind IRQ_SET's back");
		want(config(a, PROV_OP_CONFIG_WRITE, fn, pcie + 8, 2, 0x8000, 0), PROV_S_DENIED,
		     "CONFIG_WRITE starting an FLR (PCIe Device Control bit 15)");
	}
	pc_expect(pc_config_write(a, fn, 4, 2, cmd), PROV_S_OK,
		  "CONFIG_WRITE of the command register as it is");
}

static void region_checks(struct pc_conn *a, const struct pc_fn *f)
{
	uint32_t fn = f->fn, absent = 0, i;
	int efd = pc_eventfd();
	uint64_t size = f->claim.regions[0].size;
	uint8_t body[8] = { 0 };

	for (i = 1; i < 6 && !absent; i++)
		if (!f->claim.regions[i].size)
			absent = i;
	want(region_map(a, fn, PROV_REGION_COUNT, 0), PROV_S_INVALID, "REGION_MAP region 8");
	want(region_map(a, fn, 0xffffffff, 0), PROV_S_INVALID, "REGION_MAP region 0xffffffff");
	want(region_map(a, fn, absent, 0), PROV_S_INVALID, "REGION_MAP of absent BAR%u", absent);
	want(region_map(a, fn, 0, 1), PROV_S_INVALID, "REGION_MAP with its reserved field set");
	/* An absent region is INVALID; a present ROM is never mappable. */
	want(region_map(a, fn, PROV_REGION_ROM, 0),
	     f->claim.regions[PROV_REGION_ROM].size ? PROV_S_DENIED : PROV_S_INVALID,
	     "REGION_MAP of the ROM (%llu bytes)",
	     (unsigned long long)f->claim.regions[PROV_REGION_ROM].size);
	want(region_map(a, fn, PROV_REGION_CONFIG, 0), PROV_S_DENIED,
	     "REGION_MAP of config space (not MMAP)");
	want(pc_call_fds(a, PROV_OP_REGION_MAP, fn, body, 8, &efd, 1, NULL, 0, NULL),
	     PROV_S_BAD_FD, "REGION_MAP with a descriptor");
	close(efd);
	want(region(a, PROV_OP_REGION_READ, fn, PROV_REGION_COUNT, 0, 4, 0), PROV_S_INVALID,
	     "REGION_READ region 8");
	want(region(a, PROV_OP_REGION_READ, fn, absent, 0, 4, 0), PROV_S_INVALID,
	     "REGION_READ of absent BAR%u", absent);
	want(region(a, PROV_OP_REGION_READ, fn, 0, 0, 3, 0), PROV_S_INVALID, "REGION_READ size 3");
	want(region(a, PROV_OP_REGION_READ, fn, 0, 0, 0, 0), PROV_S_INVALID, "REGION_READ size 0");
	want(region(a, PROV_OP_REGION_READ, fn, 0, 0, 16, 0), PROV_S_INVALID,
	     "REGION_READ size 16");
	want(region(a, PROV_OP_REGION_READ, fn, 0, 2, 4, 0), PROV_S_INVALID,
	     "REGION_READ of 4 bytes at 2 (unaligned)");
	want(region(a, PROV_OP_REGION_READ, fn, 0, size, 4, 0), PROV_S_INVALID,
	     "REGION_READ at the BAR's end (0x%llx)", (unsigned long long)size);
	want(region(a, PROV_OP_REGION_READ, fn, 0, size - 4, 8, 0), PROV_S_INVALID,
	     "REGION_READ of 8 bytes across the BAR's end");
	want(region(a, PROV_OP_REGION_READ, fn, 0, 0xfffffffffffffff8ull, 8, 0), PROV_S_INVALID,
	     "REGION_READ at 2^64 - 8");
	want(region(a, PROV_OP_REGION_READ, fn, 0, 8, 4, 1), PROV_S_INVALID,
	     "REGION_READ with a value");
	want(region(a, PROV_OP_REGION_WRITE, fn, 0, size, 4, 0), PROV_S_INVALID,
	     "REGION_WRITE at the BAR's end");
	want(region(a, PROV_OP_REGION_WRITE, fn, 0, 0x14, 1, 0x100), PROV_S_INVALID,
	     "REGION_WRITE of 1 byte with value 0x100");
	want(region(a, PROV_OP_REGION_WRITE, fn, PROV_REGION_CONFIG, 0x10, 4, 0), PROV_S_DENIED,
	     "REGION_WRITE to BAR0 through config space (region 7)");
	want(region(a, PROV_OP_REGION_READ, fn, PROV_REGION_CONFIG, 4096, 4, 0), PROV_S_INVALID,
	     "REGION_READ of config space at 4096");
	want(req(a, PROV_OP_REGION_READ, fn, body, 8, NULL, 0), PROV_S_INVALID,
	     "REGION_READ with an 8-byte body");
}

static void irq_checks(struct pc_conn *a, const struct pc_fn *f)
{
	uint32_t fn = f->fn, n = f->claim.irqs[PROV_IRQ_MSIX].count;
	int efd = pc_eventfd(), efd2 = pc_eventfd(), pipefd[2] = { -1, -1 }, many[PC_MAX_FDS];
	int file = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	struct pc_mem m = { .fd = -1 };
	struct prov_irq_req ir = { .type = PROV_IRQ_MSIX, .count = 1 };
	unsigned int i;

	if (pipe2(pipefd, O_CLOEXEC) || file < 0 || pc_mem_create(&m, 4096) || n + 1 > PC_MAX_FDS) {
		pc_check(false, "descriptors for the IRQ_SET checks (MSI-X vectors %u)", n);
		return;
	}
	for (i = 0; i < PC_MAX_FDS; i++)
		many[i] = efd;
	want(irq(a, fn, PROV_IRQ_TYPES, PROV_IRQ_DISABLE, 0, 0, NULL, 0), PROV_S_INVALID,
	     "IRQ_SET type 3");
	want(irq(a, fn, 0xffffffff, PROV_IRQ_DISABLE, 0, 0, NULL, 0), PROV_S_INVALID,
	     "IRQ_SET type 0xffffffff");
	want(irq(a, fn, PROV_IRQ_MSIX, PROV_IRQ_ACTIONS, 0, 0, NULL, 0), PROV_S_INVALID,
	     "IRQ_SET action 5");
	want(irq(a, fn, PROV_IRQ_MSIX, PROV_IRQ_EVENTFD, n, 1, &efd, 1), PROV_S_INVALID,
	     "IRQ_SET MSI-X EVENTFD vector %u (one past the last)", n);
	want(irq(a, fn, PROV_IRQ_MSIX, PROV_IRQ_EVENTFD, 0, n + 1, many, n + 1), PROV_S_INVALID,
	     "IRQ_SET MSI-X EVENTFD of %u vectors (one too many)", n + 1);
	want(irq(a, fn, PROV_IRQ_MSIX, PROV_IRQ_EVENTFD, 1, 0xffffffff, &efd, 1), PROV_S_INVALID,
	     "IRQ_SET MSI-X EVENTFD start 1 count 0xffffffff (wraps)");
	want(irq(a, fn, PROV_IRQ_MSIX, PROV_IRQ_EVENTFD, 0, 0, NULL, 0), PROV_S_INVALID,
	     "IRQ_SET MSI-X EVENTFD count 0");
	if (!f->claim.irqs[PROV_IRQ_MSI].count)
		want(irq(a, fn, PROV_IRQ_MSI, PROV_IRQ_EVENTFD, 0, 1, &efd, 1), PROV_S_INVALID,
		     "IRQ_SET MSI EVENTFD on a function without MSI");
	want(irq(a, fn, PROV_IRQ_MSIX, PROV_IRQ_EVENTFD, 0, 1, NULL, 0), PROV_S_BAD_FD,
	     "IRQ_SET MSI-X EVENTFD without its eventfd");
	want(irq(a, fn, PROV_IRQ_MSIX, PROV_IRQ_EVENTFD, 0, 1, (int[]){ efd, efd2 }, 2),
	     PROV_S_BAD_FD, "IRQ_SET MSI-X EVENTFD of 1 vector with 2 eventfds");
	want(irq(a, fn, PROV_IRQ_MSIX, PROV_IRQ_EVENTFD, 0, 1, many, 64), PROV_S_BAD_FD,
	     "IRQ_SET MSI-X EVENTFD of 1 vector with 64 descriptors");
	want(irq(a, fn, PROV_IRQ_MSIX, PROV_IRQ_EVENTFD, 0, 1, &pipefd[0], 1), PROV_S_BAD_FD,
	     "IRQ_SET MSI-X EVENTFD with a pipe");
	want(irq(a, fn, PROV_IRQ_MSIX, PROV_IRQ_EVENTFD, 0, 1, &file, 1), PROV_S_BAD_FD,
	     "IRQ_SET MSI-X EVENTFD with a regular file");
	want(irq(a, fn, PROV_IRQ_MSIX, PROV_IRQ_EVENTFD, 0, 1, &m.fd, 1), PROV_S_BAD_FD,
	     "IRQ_SET MSI-X EVENTFD with a memfd");
	want(irq(a, fn, PROV_IRQ_MSIX, PROV_IRQ_EVENTFD, 0, 2, (int[]){ efd, pipefd[1] }, 2),
	     PROV_S_BAD_FD, "IRQ_SET MSI-X EVENTFD of 2 vectors, the second a pipe");
	want(irq(a, fn, PROV_IRQ_MSIX, PROV_IRQ_DISABLE, 1, 0, NULL, 0), PROV_S_INVALID,
	     "IRQ_SET DISABLE with start 1");
	want(irq(a, fn, PROV_IRQ_MSIX, PROV_IRQ_DISABLE, 0, 1, NULL, 0), PROV_S_INVALID,
	     "IRQ_SET DISABLE with count 1");
	want(irq(a, fn, PROV_IRQ_MSIX, PROV_IRQ_DISABLE, 0, 0, &efd, 1), PROV_S_BAD_FD,
	     "IRQ_SET DISABLE with a descriptor");
	want(irq(a, fn, PROV_IRQ_MSIX, PROV_IRQ_MASK, 0, 1, NULL, 0), PROV_S_INVALID,
	     "IRQ_SET MASK of MSI-X");
	want(irq(a, fn, PROV_IRQ_INTX, PROV_IRQ_UNMASK, 0, 2, NULL, 0), PROV_S_INVALID,
	     "IRQ_SET UNMASK INTx count 2");
	want(irq(a, fn, PROV_IRQ_INTX, PROV_IRQ_MASK, 1, 1, NULL, 0), PROV_S_INVALID,
	     "IRQ_SET MASK INTx start 1");
	want(irq(a, fn, PROV_IRQ_MSIX, PROV_IRQ_ENABLE, 0, 1, &efd, 1), PROV_S_BAD_FD,
	     "IRQ_SET ENABLE with a descriptor");
	want(req(a, PROV_OP_IRQ_PENDING, fn, &ir, sizeof(ir), &efd, 1), PROV_S_BAD_FD,
	     "IRQ_PENDING with a descriptor");
	want(req(a, PROV_OP_IRQ_SET, fn, &ir, 8, NULL, 0), PROV_S_INVALID,
	     "IRQ_SET with an 8-byte body");
	/* Descriptors where the op takes none. */
	want(pc_call_fds(a, PROV_OP_COUNTERS, 0, NULL, 0, &efd, 1, NULL, 0, NULL), PROV_S_BAD_FD,
	     "COUNTERS with a descriptor");
	want(pc_call_fds(a, PROV_OP_COUNTERS, 0, NULL, 0, many, PC_MAX_FDS, NULL, 0, NULL),
	     PROV_S_BAD_FD, "COUNTERS with %d descriptors", PC_MAX_FDS);
	{
		struct prov_config_req cr = { .offset = 0, .size = 4 };

		want(pc_call_fds(a, PROV_OP_CONFIG_READ, fn, &cr, sizeof(cr), many, 3, NULL, 0,
				 NULL), PROV_S_BAD_FD, "CONFIG_READ with 3 descriptors");
	}
	want(dma_raw(a, 1, 0, 0, 1, 0, &efd, 1), PROV_S_BAD_FD, "DMA with a descriptor");
	/* After all that, the vector still routes. */
	pc_expect(irq(a, fn, PROV_IRQ_MSIX, PROV_IRQ_EVENTFD, 0, 1, &efd, 1), PROV_S_OK,
		  "IRQ_SET MSI-X EVENTFD vector 0");
	pc_expect(irq(a, fn, PROV_IRQ_MSIX, PROV_IRQ_DISABLE, 0, 0, NULL, 0), PROV_S_OK,
		  "IRQ_SET MSI-X DISABLE");
	close(efd);
	close(efd2);
	close(file);
	close(pipefd[0]);
	close(pipefd[1]);
	pc_mem_destroy(&m);
}

/* Batch-level refusals, then one batch of bad entries around two good ones. */
static void dma_checks(struct pc_conn *a, uint64_t mem_size, struct pvdma_req *keep)
{
	uint32_t max = a->limits.max_batch, done = 0;
	uint64_t g = 1ull << a->limits.granule_shift;
	struct pvdma_req e[14], u[10];
	unsigned int i;
	static const int want_e[14] = {
		PROV_S_INVALID, PROV_S_INVALID, PROV_S_INVALID, PROV_S_INVALID, PROV_S_INVALID,
		PROV_S_INVALID, PROV_S_INVALID, PROV_S_BAD_ADDRESS, PROV_S_BAD_ADDRESS,
		PROV_S_INVALID, PROV_S_UNSUPPORTED, PROV_S_UNSUPPORTED, PROV_S_OK, PROV_S_OK,
	};
	static const char *const what_e[14] = {
		"MAP of length 0", "MAP with no flags", "MAP with flag 4",
		"MAP with READ and flag 4", "MAP with an iova in", "MAP with mapped in",
		"MAP with its reserved field set", "MAP at the memory's end",
		"MAP across the memory's end", "MAP whose gpa + len overflows",
		"entry op 0", "entry op 3", "MAP 4 KiB (READ)",
		"MAP 5000 bytes at granule + 100 (WRITE)",
	};
	static const int want_u[10] = {
		PROV_S_INVALID, PROV_S_INVALID, PROV_S_INVALID, PROV_S_INVALID, PROV_S_NOT_FOUND,
		PROV_S_NOT_FOUND, PROV_S_NOT_FOUND, PROV_S_NOT_FOUND, PROV_S_OK, PROV_S_NOT_FOUND,
	};
	static const char *const what_u[10] = {
		"UNMAP with a gpa", "UNMAP with flags", "UNMAP with mapped set",
		"UNMAP with its reserved field set", "UNMAP with len + 1", "UNMAP at iova + 1",
		"UNMAP of the granule start instead of the iova MAP returned",
		"UNMAP of a bus address never mapped", "UNMAP as MAP returned it",
		"UNMAP of the same, now stale",
	};

	want(dma_raw(a, 0, 0, 0, 0, 0, NULL, 0), PROV_S_BAD_BATCH, "DMA count 0");
	if (max < PROV_MAX_BATCH)
		want(dma_raw(a, max + 1, 0, 0, max + 1, 0, NULL, 0), PROV_S_BAD_BATCH,
		     "DMA count %u (max_batch + 1)", max + 1);
	want(dma_raw(a, PROV_MAX_BATCH + 1, 0, 0, PROV_MAX_BATCH + 1, 0, NULL, 0),
	     PROV_S_BAD_BATCH, "DMA count %u (PROV_MAX_BATCH + 1)", PROV_MAX_BATCH + 1);
	want(dma_raw(a, 2, 0, 0, 1, 0, NULL, 0), PROV_S_BAD_BATCH, "DMA count 2 with 1 entry");
	want(dma_raw(a, 1, 0, 0, 2, 0, NULL, 0), PROV_S_BAD_BATCH, "DMA count 1 with 2 entries");
	want(dma_raw(a, 1, 1, 0, 1, 0, NULL, 0), PROV_S_BAD_BATCH,
	     "DMA with the batch's reserved field set");
	want(dma_raw(a, 1, 0, 1, 1, 0, NULL, 0), PROV_S_BAD_BATCH,
	     "DMA with done set in the request");
	want(dma_raw(a, 1, 0, 0, 1, 1, NULL, 0), PROV_S_INVALID, "DMA with fn 1");

	e[0] = pc_map_req(0, 0, PVDMA_MAP_READ);
	e[1] = pc_map_req(0, 4096, 0);
	e[2] = pc_map_req(0, 4096, 4);
	e[3] = pc_map_req(0, 4096, PVDMA_MAP_READ | 4);
	e[4] = pc_map_req(0, 4096, PVDMA_MAP_READ);
	e[4].iova = g;
	e[5] = pc_map_req(0, 4096, PVDMA_MAP_READ);
	e[5].mapped = 4096;
	e[6] = pc_map_req(0, 4096, PVDMA_MAP_READ);
	e[6].reserved = 1;
	e[7] = pc_map_req(mem_size, 1, PVDMA_MAP_READ);
	e[8] = pc_map_req(mem_size - 4096, 8192, PVDMA_MAP_READ);
	e[9] = pc_map_req(-4096ull, 8192, PVDMA_MAP_READ);
	e[10] = pc_map_req(0, 4096, PVDMA_MAP_READ);
	e[10].op = 0;
	e[11] = pc_map_req(0, 4096, PVDMA_MAP_READ);
	e[11].op = 3;
	e[12] = pc_map_req(0, 4096, PVDMA_MAP_READ);
	e[13] = pc_map_req(g + 100, 5000, PVDMA_MAP_WRITE);
	if (!pc_expect(pc_dma(a, e, 14, &done), PROV_S_OK,
		       "DMA batch of 12 bad and 2 good entries"))
		return;
	pc_check(done == 14, "DMA: every entry processed (done %u)", done);
	for (i = 0; i < 14; i++) {
		pc_expect(e[i].status, want_e[i], "entry %u: %s", i, what_e[i]);
		nrefused += want_e[i] != PROV_S_OK;
	}
	pc_check(e[13].iova % g == 100 && e[13].mapped == 5000,
		 "MAP at granule + 100: iova keeps the offset (0x%llx), mapped 5000",
		 (unsigned long long)e[13].iova);
	*keep = e[13];

	for (i = 0; i < 10; i++)
		u[i] = pc_unmap_req(e[12].iova, e[12].mapped);
	u[0].gpa = 4096;
	u[1].flags = PVDMA_MAP_READ;
	u[2].mapped = 4096;
	u[3].reserved = 1;
	u[4].len++;
	u[5].iova++;
	u[6] = pc_unmap_req(e[13].iova - 100, e[13].mapped);
	u[7] = pc_unmap_req(a->limits.aperture_base + a->limits.aperture_size - g, 4096);
	if (u[7].iova / g == e[12].iova / g || u[7].iova / g == e[13].iova / g)
		u[7].iova -= 4 * g;
	if (!pc_expect(pc_dma(a, u, 10, &done), PROV_S_OK, "DMA batch of UNMAPs, 1 good"))
		return;
	for (i = 0; i < 10; i++) {
		pc_expect(u[i].status, want_u[i], "entry %u: %s", i, what_u[i]);
		nrefused += want_u[i] != PROV_S_OK;
	}
}

/* Names the connection the next checks are about (A, B), or none (M). */
static void checks_of(const char *conn)
{
	pc_prefix = conn;
}

int pc_cmd_hostile(int argc, char **argv)
{
	struct pc_conn a, b, m, z;
	struct prov_counters k0 = { 0 }, k = { 0 };
	struct pc_fn fa, fb, fc;
	struct pc_mem mem = { .fd = -1 }, memb = { .fd = -1 };
	struct pvdma_req keep = { 0 };
	uint64_t g, iova_b = 0;
	int nvme, nic, intx, st, bar_fd = -1;

	if (argc != 1)
		return 2;
	if (pc_open(&m, argv[0]))
		return pc_exit();
	st = pc_counters(&m, &k0);
	g = 1ull << m.limits.granule_shift;
	nvme = pc_find_class(&m, PC_CLASS_NVME);
	intx = pc_find_ids(&m, PC_E1000);
	nic = pc_find_ids(&m, PC_E1000E);
	if (!pc_check(st == PROV_S_OK && nvme >= 0 && nic >= 0 && intx >= 0,
		      "COUNTERS before; HELLO lists the NVMe, the e1000e and the e1000 (%d %d %d)",
		      nvme, nic, intx))
		return pc_exit();
	checks_of("hostile A");
	if (pc_connect(&a, argv[0]) || pc_mem_create(&mem, g < (1 << 20) ? 1 << 20 : 4 * g))
		return pc_check(false, "connection and memory"), pc_exit();
	before_hello(&a);
	unclaimed(&a, nvme, &mem);
	if (pc_claim(&a, nvme, &fa))
		return pc_exit();
	want(req(&a, PROV_OP_CLAIM, nvme, NULL, 0, NULL, 0), PROV_S_INVALID,
	     "a second CLAIM of the function it holds");

	checks_of("hostile B");
	if (pc_open(&b, argv[0]))
		return pc_exit();
	pc_check(b.fns[nvme].flags & PROV_FN_CLAIMED, "HELLO shows A's NVMe CLAIMED");
	want(req(&b, PROV_OP_CLAIM, nvme, NULL, 0, NULL, 0), PROV_S_BUSY, "CLAIM of A's NVMe");
	want(req(&b, PROV_OP_RELEASE, nvme, NULL, 0, NULL, 0), PROV_S_NOT_CLAIMED,
	     "RELEASE of A's NVMe");
	want(req(&b, PROV_OP_RESET, nvme, NULL, 0, NULL, 0), PROV_S_NOT_CLAIMED,
	     "RESET of A's NVMe");
	want(config(&b, PROV_OP_CONFIG_READ, nvme, 0, 4, 0, 0), PROV_S_NOT_CLAIMED,
	     "CONFIG_READ of A's NVMe");
	want(region_map(&b, nvme, 0, 0), PROV_S_NOT_CLAIMED, "REGION_MAP of A's NVMe");

	checks_of("hostile A");
	config_checks(&a, &fa);
	region_checks(&a, &fa);
	irq_checks(&a, &fa);
	dma_checks(&a, mem.size, &keep);

	/* B's mapping is B's: A cannot unmap it, B can. */
	checks_of("hostile B");
	if (!pc_mem_create(&memb, mem.size) &&
	    pc_expect(pc_dma_memory(&b, &memb), PROV_S_OK, "DMA_MEMORY") &&
	    !pc_claim(&b, nic, &fb) &&
	    pc_expect(pc_map1(&b, 0, 4096, PVDMA_MAP_READ, &iova_b), PROV_S_OK, "MAP 4 KiB")) {
		pc_expect(pc_unmap1(&a, iova_b, 4096), PROV_S_NOT_FOUND,
			  "A's UNMAP of B's mapping (0x%llx)", (unsigned long long)iova_b);
		nrefused++;
		st = pc_counters(&b, &k);
		pc_check(st == PROV_S_OK && k.live_mappings == 1,
			 "COUNTERS: the mapping survived A's UNMAP");
		pc_expect(pc_unmap1(&b, iova_b, 4096), PROV_S_OK, "UNMAP of its own mapping");
	}
	/* A conventional function's config space ends at 256. */
	if (!pc_claim(&b, intx, &fc) &&
	    pc_check(fc.claim.regions[PROV_REGION_CONFIG].size == 256,
		     "the e1000's config region is 256 bytes (%llu)",
		     (unsigned long long)fc.claim.regions[PROV_REGION_CONFIG].size))
		want(config(&b, PROV_OP_CONFIG_READ, intx, 256, 4, 0, 0), PROV_S_INVALID,
		     "CONFIG_READ at 256 of a function without extended config space");

	checks_of("hostile A");
	st = pc_counters(&a, &k);
	pc_check(st == PROV_S_OK && k.refused == nrefused && k.live_mappings == 1,
		 "COUNTERS: %llu entries refused (sent %u), 1 live mapping (%llu)",
		 (unsigned long long)k.refused, nrefused, (unsigned long long)k.live_mappings);
	/*
	 * A BAR descriptor outlives RELEASE and cannot be revoked: while A holds one, the
	 * provider lends the NVMe to nobody else. Where CLAIM lends no BAR (no MMAP), its
	 * REGION_MAP is a refusal, counted.
	 */
	if (fa.claim.regions[PROV_REGION_BAR0].flags & PROV_REGION_MMAP) {
		st = pc_call_fds(&a, PROV_OP_REGION_MAP, nvme, &(struct prov_region_map_req){ 0 },
				 sizeof(struct prov_region_map_req), NULL, 0,
				 &(struct prov_region_map_rep){ 0 },
				 sizeof(struct prov_region_map_rep), &bar_fd);
		pc_expect(st, PROV_S_OK, "REGION_MAP BAR0");
	} else {
		want(region_map(&a, nvme, PROV_REGION_BAR0, 0), PROV_S_DENIED,
		     "REGION_MAP BAR0, which CLAIM did not mark MMAP");
	}
	pc_expect(req(&a, PROV_OP_RELEASE, nvme, NULL, 0, NULL, 0), PROV_S_OK, "RELEASE");
	st = pc_counters(&a, &k);
	pc_check(st == PROV_S_OK && k.live_mappings == 0,
		 "COUNTERS: releasing its last function removes the connection's mappings"
		 " (%llu live)", (unsigned long long)k.live_mappings);
	checks_of("hostile B");
	if (!(fa.claim.regions[PROV_REGION_BAR0].flags & PROV_REGION_MMAP)) {
		pc_not_run_unmappable("hostile: BUSY while A holds its BAR descriptor");
	} else if (bar_fd >= 0) {
		want(req(&b, PROV_OP_CLAIM, nvme, NULL, 0, NULL, 0), PROV_S_BUSY,
		     "CLAIM of the NVMe while A still holds its BAR descriptor");
		close(bar_fd);
	}
	pc_expect(req(&b, PROV_OP_CLAIM, nvme, NULL, 0, NULL, 0), PROV_S_OK,
		  "CLAIM of the NVMe once A closed the descriptor");
	pc_expect(req(&b, PROV_OP_RELEASE, nvme, NULL, 0, NULL, 0), PROV_S_OK, "RELEASE");
	checks_of("hostile A");
	pc_expect(req(&a, PROV_OP_CLAIM, nvme, NULL, 0, NULL, 0), PROV_S_OK,
		  "CLAIM of the NVMe it released");
	pc_close(&a);
	checks_of("hostile B");
	pc_check(pc_wait_free(argv[0], nvme), "once A is gone, HELLO shows the NVMe free");
	pc_expect(req(&b, PROV_OP_CLAIM, nvme, NULL, 0, NULL, 0), PROV_S_OK,
		  "CLAIM of the NVMe once A is gone");
	pc_expect(req(&b, PROV_OP_RELEASE, nvme, NULL, 0, NULL, 0), PROV_S_OK, "RELEASE");
	pc_close(&b);

	/* The provider still serves, and counted every refusal. */
	checks_of("hostile");
	st = pc_connect(&z, argv[0]) ? PC_ERR : pc_hello(&z);
	pc_expect(st, PROV_S_OK, "a new connection: HELLO");
	pc_close(&z);
	st = pc_counters(&m, &k);
	pc_check(st == PROV_S_OK && k.bad_requests - k0.bad_requests == nbad,
		 "COUNTERS: bad_requests up by the %u refusals answered (%llu)", nbad,
		 (unsigned long long)(k.bad_requests - k0.bad_requests));
	pc_check(k.clients > k0.clients, "COUNTERS: clients counted (%llu)",
		 (unsigned long long)k.clients);
	pc_close(&m);
	pc_mem_destroy(&mem);
	pc_mem_destroy(&memb);
	return pc_exit();
}
