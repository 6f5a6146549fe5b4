/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * pc: the provider's test client (build/prov-client). It speaks the provider protocol
 * (include/provider_proto.h) over the daemon's SOCK_SEQPACKET socket, drives the lent
 * functions the way a VMM would, and reports each check as a line the guest runner
 * counts (rig/guest-run.sh): "DP-TEST ok NAME" or "DP-TEST not ok NAME". Other output:
 * "DP-INFO ..." lines for the test scripts, "# ..." lines for people.
 *
 * Errors: a call returns the reply's status (PROV_S_*, >= 0), or PC_ERR when there was
 * no well-formed reply (the socket failed, the daemon timed out, the reply did not echo
 * the request); the reason is then on stderr. Subcommands return the process's exit
 * status: 0 when every check passed, 1 otherwise, 2 for a usage error.
 */
#ifndef PC_H
#define PC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "provider_proto.h"

#define PC_ERR		(-1)
/* How long a reply may take: the daemon runs in a TCG guest behind an emulated IOMMU. */
#define PC_REPLY_SECS	20
/*
 * How long a closed connection's functions may take to be free: the provider lets go
 * of a connection when it notices the close, which the protocol does not acknowledge.
 */
#define PC_FREE_SECS	5
/* The most descriptors one message carries (the kernel's SCM_MAX_FD). */
#define PC_MAX_FDS	PROV_MAX_FDS

/* PCI identities of the functions the nested rig lends (tests/guest/vfio-rig.sh). */
#define PC_CLASS_NVME	0x010802u
#define PC_E1000E	0x8086, 0x10d3	/* vendor, device */
#define PC_E1000	0x8086, 0x100e	/* the INTx-only function */

struct pc_conn {
	int fd;
	uint32_t next_id;
	/* From HELLO (valid once pc_hello returned OK). */
	uint32_t version;
	struct prov_limits limits;
	uint32_t features;
	unsigned int nr_fns;
	struct prov_function fns[PROV_MAX_FUNCTIONS];
};

/* A reply's descriptor and body, when the caller wants them. */
struct pc_reply {
	void *body;
	size_t size;		/* room in body */
	size_t len;		/* out: body bytes received (beyond size: cut) */
	int fd;			/* out: the descriptor received, or -1 */
};

/* One subcommand's checks. */
extern unsigned int pc_failed;
extern const char *pc_prefix;	/* "nvme", "hostile", ...: starts every check's name */

/* Reports one check; returns ok. */
bool pc_check(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Reports "NAME: WANT" and, when it fails, what came instead; returns got == want. */
bool pc_expect(int got, int want, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void pc_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *pc_status_name(int status);
/* The exit status for the checks so far. */
int pc_exit(void);

/* Connects; -1 (said why) on failure. */
int pc_connect(struct pc_conn *c, const char *path);
void pc_close(struct pc_conn *c);

/*
 * Sends msg (len bytes, whatever they are) with nfds descriptors and reads the reply.
 * When len covers a header, the reply must echo its op and id; a refusal must be the
 * header alone. Returns the reply's status, and its body and descriptor in *rep (NULL:
 * the body is not wanted, and a descriptor is an error).
 */
int pc_raw(struct pc_conn *c, const void *msg, size_t len, const int *fds,
	   unsigned int nfds, struct pc_reply *rep);
/*
 * One request: header (op, fn, a fresh id) then body. An OK reply's body must be
 * exactly rep_len bytes; rep may be NULL when rep_len is 0.
 */
int pc_call_fds(struct pc_conn *c, uint16_t op, uint32_t fn, const void *body,
		size_t body_len, const int *fds, unsigned int nfds, void *rep, size_t rep_len,
		int *rep_fd);
int pc_call(struct pc_conn *c, uint16_t op, uint32_t fn, const void *body,
	    size_t body_len, void *rep, size_t rep_len);

/* HELLO with this version and every feature; fills c's limits and functions. */
int pc_hello_version(struct pc_conn *c, uint32_t version);
/* HELLO of this version asking for these features only. */
int pc_hello_features(struct pc_conn *c, uint32_t features);
int pc_hello(struct pc_conn *c);
/* Connects and says HELLO, checking the version and limits; -1 if that failed. */
int pc_open(struct pc_conn *c, const char *path);
/* The first function with this class (vendor 0) or these IDs; -1 if none. */
int pc_find_class(const struct pc_conn *c, uint32_t class_code);
int pc_find_ids(const struct pc_conn *c, uint16_t vendor, uint16_t device);
/* Until a fresh connection's HELLO shows fn not CLAIMED; false after PC_FREE_SECS. */
bool pc_wait_free(const char *path, unsigned int fn);
/* The offset of capability id in fn's standard list (CONFIG_READ), 0 if absent. */
uint32_t pc_find_cap(struct pc_conn *c, uint32_t fn, uint8_t id);
int pc_counters(struct pc_conn *c, struct prov_counters *k);
int pc_config_read(struct pc_conn *c, uint32_t fn, uint32_t off, uint32_t size,
		   uint32_t *val);
int pc_config_write(struct pc_conn *c, uint32_t fn, uint32_t off, uint32_t size,
		    uint32_t val);
int pc_region_read(struct pc_conn *c, uint32_t fn, uint32_t region, uint64_t off,
		   uint32_t size, uint64_t *val);
int pc_region_write(struct pc_conn *c, uint32_t fn, uint32_t region, uint64_t off,
		    uint32_t size, uint64_t val);
/* IRQ_SET; EVENTFD takes count descriptors. */
int pc_irq_set(struct pc_conn *c, uint32_t fn, uint32_t type, uint32_t action,
	       uint32_t start, uint32_t count, const int *fds, unsigned int nfds);

/* IRQ_PENDING: reads and clears count vectors' bits from start into *bits (0 if refused). */
int pc_irq_pending(struct pc_conn *c, uint32_t fn, uint32_t type, uint32_t start,
		   uint32_t count, uint64_t *bits);
/* NOTIFY; *fd receives its pipe's read end (-1 unless OK). */
int pc_notify(struct pc_conn *c, int *fd);

/* A claimed function and how the client reaches its BAR (pc_bar_open). */
struct pc_fn {
	uint32_t fn;
	struct prov_claim_rep claim;
	volatile uint8_t *bar;		/* REGION_MAP of the region mapped, or NULL */
	uint64_t bar_size;
	struct pc_conn *conn;		/* REGION_READ/WRITE's, when bar is NULL */
	uint32_t bar_region;		/* the region pc_bar_rd32/wr32 reach */
};

/*
 * CLAIMs fn and checks the reply against HELLO's entry and config space: identity,
 * header type, every region's flags and hole within it. Returns the status.
 */
int pc_claim(struct pc_conn *c, uint32_t fn, struct pc_fn *f);
/* REGION_MAP of a memory BAR and mmap of the passed fd, checked. */
int pc_map_bar(struct pc_conn *c, struct pc_fn *f, uint32_t region);
void pc_unmap_bar(struct pc_fn *f);
/*
 * A memory BAR as a VMM reaches it: mapped (pc_map_bar) when the claim gave it
 * PROV_REGION_MMAP; otherwise its REGION_MAP must be DENIED (checked), and
 * pc_bar_rd32/wr32 go through REGION_READ/WRITE (the Linux provider on kernels whose
 * vfio-pci holds every BAR while the device is open: docs/specs/provider.rst).
 */
int pc_bar_open(struct pc_conn *c, struct pc_fn *f, uint32_t region);
/* Whether region has PROV_REGION_MMAP; if not, checks that its REGION_MAP is DENIED. */
bool pc_bar_mappable(struct pc_conn *c, const struct pc_fn *f, uint32_t region);
/* The line a scenario that needs a lent BAR prints instead of its checks. */
void pc_not_run_unmappable(const char *what);
/* 4-byte accesses to the opened BAR; a refused REGION_READ/WRITE is a failed check. */
uint32_t pc_bar_rd32(const struct pc_fn *f, uint64_t off);
void pc_bar_wr32(const struct pc_fn *f, uint64_t off, uint32_t val);
/* Sets bits in the command register through CONFIG_WRITE. */
int pc_command_set(struct pc_conn *c, uint32_t fn, uint16_t bits);

/* DMA memory: a memfd shared with the provider. */
struct pc_mem {
	int fd;
	uint8_t *p;
	uint64_t size;
};

/* Creates the memfd and maps it; -1 (said why) on failure. */
int pc_mem_create(struct pc_mem *m, uint64_t size);
void pc_mem_destroy(struct pc_mem *m);
/* DMA_MEMORY with m's descriptor. */
int pc_dma_memory(struct pc_conn *c, const struct pc_mem *m);

/*
 * A DMA batch: entries in req, updated from the reply (status, iova, mapped). Returns
 * the message's status; *done (may be NULL) is the reply's done.
 */
int pc_dma(struct pc_conn *c, struct pvdma_req *req, unsigned int count, uint32_t *done);
/* Entry builders. */
struct pvdma_req pc_map_req(uint64_t gpa, uint32_t len, unsigned int flags);
struct pvdma_req pc_unmap_req(uint64_t iova, uint32_t len);
/* One MAP or UNMAP alone: the message's status if not OK, else the entry's. */
int pc_map1(struct pc_conn *c, uint64_t gpa, uint32_t len, unsigned int flags,
	    uint64_t *iova);
int pc_unmap1(struct pc_conn *c, uint64_t iova, uint32_t len);

/* A non-blocking eventfd; -1 (said why) on failure. */
int pc_eventfd(void);
/* Waits up to ms for fd to count; returns the count read, 0 on timeout. */
uint64_t pc_event_wait(int fd, int ms);
/*
 * Waits up to ms for NOTIFY's pipe to be readable, then drains it; returns the bytes
 * read (one per bit set), 0 on timeout, -1 at end of file (the provider replaced it).
 */
int pc_notify_wait(int fd, int ms);
uint64_t pc_now_ns(void);

/* Subcommands (argv: the arguments after the subcommand's name). */
int pc_cmd_nvme(int argc, char **argv);
int pc_cmd_pending(int argc, char **argv);
int pc_cmd_dma_fault(int argc, char **argv);
int pc_cmd_hold(int argc, char **argv);
int pc_cmd_busy(int argc, char **argv);
int pc_cmd_free(int argc, char **argv);
int pc_cmd_idle(int argc, char **argv);
int pc_cmd_hostile(int argc, char **argv);
int pc_cmd_caps(int argc, char **argv);
int pc_cmd_intx(int argc, char **argv);
int pc_cmd_bench(int argc, char **argv);
int pc_cmd_revoke(int argc, char **argv);
int pc_cmd_holder(int argc, char **argv);
int pc_cmd_dma_fs(int argc, char **argv);
int pc_cmd_decode(int argc, char **argv);
int pc_cmd_group(int argc, char **argv);
int pc_cmd_conn_limit(int argc, char **argv);
int pc_cmd_newer(int argc, char **argv);

#endif /* PC_H */
