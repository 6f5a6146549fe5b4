/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * dartpass provider protocol: the single definition shared by the portable provider
 * core (lib/dp_prov.c), the Linux provider (provider/linux/, over VFIO), the macOS
 * DriverKit driver and their clients (QEMU, tests). docs/specs/provider.rst is its
 * prose; where they differ, it is a bug.
 *
 * A provider owns physical PCI functions and lends each to at most one client at a
 * time. The client sees the function's config space through a filter, its BARs mapped
 * into its own address space, its interrupts as notifications, and it asks the
 * provider to map ranges of one shared memory object (guest RAM) for the functions'
 * DMA: the provider, not the client, chooses every bus address (IOVA), as Apple's
 * DART does. DMA requests reuse pvdma's entry format, so a pvdma doorbell batch's
 * entries travel in one provider message unchanged.
 *
 * Every request gets exactly one reply, with the request's op and id and a status.
 * Linux: a SOCK_SEQPACKET Unix socket, one message per packet, file descriptors in
 * SCM_RIGHTS. macOS: each op is the IOUserClient external method whose selector is the
 * op (a header whose op differs is INVALID); the request is its structure input and
 * the reply its structure output.
 *
 * All fields are little-endian; reserved fields must be zero and are checked.
 */
#ifndef PROVIDER_PROTO_H
#define PROVIDER_PROTO_H

#include "pvdma_proto.h"

#define PROV_VERSION_MAJOR	1
#define PROV_VERSION_MINOR	0
#define PROV_VERSION(maj, min)	(((maj) << 16) | (min))

/* Largest message in either direction, header included. */
#define PROV_MAX_MSG		65536
/* Most descriptors one message may carry on Linux (the kernel's SCM_MAX_FD). */
#define PROV_MAX_FDS		253
/* Most functions one provider lists (what fits a HELLO reply with room to spare). */
#define PROV_MAX_FUNCTIONS	64
/* Most entries one DMA message may carry (a full pvdma batch). */
#define PROV_MAX_BATCH		PVDMA_MAX_BATCH

enum prov_op {
	PROV_OP_HELLO = 1,		/* version, features, limits, the functions on offer */
	PROV_OP_CLAIM = 2,		/* take a function: identity, regions, interrupts */
	PROV_OP_RELEASE = 3,		/* give it back (reset, interrupts off) */
	PROV_OP_CONFIG_READ = 4,	/* 1, 2 or 4 bytes of config space */
	PROV_OP_CONFIG_WRITE = 5,	/* the same, through the write filter */
	PROV_OP_REGION_MAP = 6,		/* share a BAR: Linux an fd, macOS a memory type */
	PROV_OP_REGION_READ = 7,	/* 1, 2, 4 or 8 bytes of a region */
	PROV_OP_REGION_WRITE = 8,
	PROV_OP_IRQ_SET = 9,		/* route, enable, disable, mask, unmask vectors */
	PROV_OP_IRQ_PENDING = 10,	/* macOS: read and clear the pending bitmap */
	PROV_OP_DMA_MEMORY = 11,	/* the memory object DMA entries point into */
	PROV_OP_DMA = 12,		/* a batch of pvdma MAP/UNMAP entries */
	PROV_OP_RESET = 13,		/* function-level reset, else a bus reset */
	PROV_OP_COUNTERS = 14,		/* the provider's counters for this client */
	PROV_OP_NOTIFY = 15,		/* IRQ_PENDING: how the client learns bits are set */
	PROV_OP_COUNT
};

/*
 * Statuses: 0 to 9 are pvdma's (enum pvdma_status) with the same meaning, so DMA
 * entries travel to the guest unchanged; the rest are the provider's own.
 */
enum prov_status {
	PROV_S_OK = PVDMA_S_OK,
	PROV_S_INVALID = PVDMA_S_INVALID,	/* malformed: length, reserved field, range */
	PROV_S_BAD_ADDRESS = PVDMA_S_BAD_ADDRESS, /* outside the DMA memory object */
	PROV_S_UNSUPPORTED = PVDMA_S_UNSUPPORTED, /* unknown op, not on this OS, not agreed */
	PROV_S_NO_MAPPINGS = PVDMA_S_NO_MAPPINGS,
	PROV_S_NO_BYTES = PVDMA_S_NO_BYTES,
	PROV_S_NO_SPACE = PVDMA_S_NO_SPACE,
	PROV_S_NOT_FOUND = PVDMA_S_NOT_FOUND,	/* UNMAP: not this client's live mapping */
	PROV_S_NOT_READY = PVDMA_S_NOT_READY,	/* no HELLO yet, or no DMA memory yet */
	PROV_S_BAD_BATCH = PVDMA_S_BAD_BATCH,	/* DMA: bad count, length or batch header */
	PROV_S_VERSION = 10,		/* HELLO: major version differs */
	PROV_S_NO_FUNCTION = 11,	/* no such function handle */
	PROV_S_BUSY = 12,		/* another connection has it, its IOMMU group, or
					 * a BAR of it (Linux: a descriptor or mapping) */
	PROV_S_NOT_CLAIMED = 13,	/* this client has not claimed the function */
	PROV_S_DENIED = 14,		/* the filter or the region's flags refuse it */
	PROV_S_BAD_FD = 15,		/* missing descriptor, or one of the wrong kind */
	PROV_S_IO = 16,			/* the OS or the hardware failed the operation */
	PROV_S_COUNT
};

/*
 * Every message starts with this header. fn is the function handle (an index into
 * HELLO's list) for the ops that act on one function, and reserved (zero) for HELLO,
 * DMA_MEMORY, DMA and COUNTERS. A reply whose status is not OK is this header alone,
 * except VERSION, which carries the provider's struct prov_hello_rep (no functions).
 */
struct prov_hdr {
	pvdma_le16 op;
	pvdma_le16 status;	/* reply: PROV_S_*; request: 0 */
	pvdma_le32 len;		/* bytes in the message, this header included */
	pvdma_le32 id;		/* chosen by the client, echoed in the reply */
	pvdma_le32 fn;
};

/*
 * HELLO: must be the first request of a connection; any other well-formed first
 * request is NOT_READY.
 */
#define PROV_F_IRQ_EVENTFD	(1u << 0)	/* interrupts signal eventfds (Linux) */
#define PROV_F_IRQ_PENDING	(1u << 1)	/* interrupts set a pending bitmap (macOS;
						 * Linux too, NOTIFY a pipe) */
#define PROV_F_REGION_FD	(1u << 2)	/* REGION_MAP passes an fd (Linux) */
#define PROV_F_DMA_FD		(1u << 3)	/* DMA_MEMORY takes an fd (Linux) */
#define PROV_F_ALL		(PROV_F_IRQ_EVENTFD | PROV_F_IRQ_PENDING | \
				 PROV_F_REGION_FD | PROV_F_DMA_FD)

struct prov_hello_req {
	pvdma_le32 version;	/* PROV_VERSION(major, minor) the client speaks */
	pvdma_le32 features;	/* PROV_F_* the client understands */
	pvdma_le64 reserved;
};

/* What the provider's IOMMU allows one client; DMA entries are refused beyond it. */
struct prov_limits {
	pvdma_le64 aperture_base;	/* first bus address handed out */
	pvdma_le64 aperture_size;
	pvdma_le64 max_bytes;		/* bytes live mappings may cover */
	pvdma_le32 max_mappings;	/* live mappings */
	pvdma_le32 granule_shift;	/* log2 of the mapping page, e.g. 14 */
	pvdma_le32 max_batch;		/* entries per DMA message */
	pvdma_le32 reserved;
};

#define PROV_FN_CLAIMED		(1u << 0)	/* another connection holds it */

struct prov_function {
	pvdma_le32 rid;		/* host requester ID: PVDMA_RID(segment, bus, devfn) */
	pvdma_le16 vendor;
	pvdma_le16 device;
	pvdma_le32 class_rev;	/* class code << 8 | revision, as at config offset 8 */
	pvdma_le32 flags;	/* PROV_FN_* */
};

struct prov_hello_rep {
	pvdma_le32 version;	/* the provider's */
	pvdma_le32 features;	/* offered & requested */
	pvdma_le32 nr_functions;
	pvdma_le32 reserved;
	struct prov_limits limits;
	struct prov_function fns[];	/* nr_functions; fn handles are indices */
};

/* CLAIM: regions are BAR0..5, the expansion ROM and config space, by index. */
enum prov_region_index {
	PROV_REGION_BAR0 = 0,
	PROV_REGION_ROM = 6,
	PROV_REGION_CONFIG = 7,
	PROV_REGION_COUNT = 8
};

#define PROV_REGION_READ	(1u << 0)
#define PROV_REGION_WRITE	(1u << 1)
#define PROV_REGION_MMAP	(1u << 2)	/* REGION_MAP may share it */
#define PROV_REGION_IO		(1u << 3)	/* an I/O-port BAR */
#define PROV_REGION_MEM64	(1u << 4)	/* a 64-bit BAR (occupies two BAR slots) */
#define PROV_REGION_PREFETCH	(1u << 5)

struct prov_region {
	pvdma_le64 size;	/* 0: the region does not exist */
	pvdma_le32 flags;	/* PROV_REGION_* */
	pvdma_le32 reserved;
	/*
	 * The MSI-X table and pending-bit array in this BAR, 4 KiB aligned (size 0 for
	 * none). The client emulates them for its guest and must not rely on what it
	 * finds there; interrupts are set up with IRQ_SET. (On Linux the shared mapping
	 * includes them: interrupt remapping, which that provider requires, confines
	 * writes there to the function's own vectors.)
	 */
	pvdma_le64 hole_offset;
	pvdma_le64 hole_size;
};

enum prov_irq_type {
	PROV_IRQ_INTX = 0,
	PROV_IRQ_MSI = 1,
	PROV_IRQ_MSIX = 2,
	PROV_IRQ_TYPES = 3
};

struct prov_irq_info {
	pvdma_le32 count;	/* vectors of this type; 0: none (INTx: 1 if it has a pin) */
	pvdma_le32 reserved;
};

struct prov_identity {
	pvdma_le16 vendor;
	pvdma_le16 device;
	pvdma_le16 subsystem_vendor;
	pvdma_le16 subsystem_device;
	pvdma_le32 class_rev;	/* class code << 8 | revision */
	pvdma_u8 header_type;	/* always 0: only endpoints are lent */
	pvdma_u8 reserved[3];
};

struct prov_claim_rep {
	struct prov_identity id;
	struct prov_region regions[PROV_REGION_COUNT];
	struct prov_irq_info irqs[PROV_IRQ_TYPES];
};

/*
 * CONFIG_READ and CONFIG_WRITE: naturally aligned 1, 2 or 4 bytes within the
 * function's config space (256 or 4096 bytes: PROV_REGION_CONFIG's size).
 */
struct prov_config_req {
	pvdma_le32 offset;
	pvdma_le32 size;
	pvdma_le32 value;	/* WRITE only; zero for READ */
	pvdma_le32 reserved;
};

struct prov_config_rep {
	pvdma_le32 value;	/* READ: the value; WRITE: zero */
	pvdma_le32 reserved;
};

/* REGION_MAP: the reply carries one descriptor on Linux. */
struct prov_region_map_req {
	pvdma_le32 region;
	pvdma_le32 reserved;
};

struct prov_region_map_rep {
	pvdma_le64 size;	/* bytes to map */
	/*
	 * Linux: the offset to mmap() the passed fd at. macOS: the memory type to pass to
	 * IOConnectMapMemory64.
	 */
	pvdma_le64 offset;
	pvdma_le32 flags;	/* PROV_REGION_READ | PROV_REGION_WRITE */
	pvdma_le32 reserved;
};

/* REGION_READ and REGION_WRITE: naturally aligned 1, 2, 4 or 8 bytes. */
struct prov_region_req {
	pvdma_le32 region;
	pvdma_le32 size;
	pvdma_le64 offset;
	pvdma_le64 value;	/* WRITE only; zero for READ */
};

struct prov_region_rep {
	pvdma_le64 value;	/* READ: the value; WRITE: zero */
};

/*
 * IRQ_SET: on Linux, EVENTFD passes count eventfds, one per vector from start, and
 * enables those vectors. On macOS, EVENTFD is UNSUPPORTED and ENABLE arms the vectors,
 * whose interrupts set bits the client reads with IRQ_PENDING after an asynchronous
 * notification. INTx masks itself when it fires; the client UNMASKs it once handled.
 */
enum prov_irq_action {
	PROV_IRQ_EVENTFD = 0,	/* Linux: route vectors to the passed eventfds and enable */
	PROV_IRQ_ENABLE = 1,	/* macOS: enable vectors; delivery via IRQ_PENDING */
	PROV_IRQ_DISABLE = 2,	/* every vector of the type; start and count zero */
	PROV_IRQ_MASK = 3,	/* INTx only: the level stays pending */
	PROV_IRQ_UNMASK = 4,	/* INTx only: after the client handled the level */
	PROV_IRQ_ACTIONS
};

struct prov_irq_req {
	pvdma_le32 type;	/* enum prov_irq_type */
	pvdma_le32 action;	/* enum prov_irq_action */
	pvdma_le32 start;
	pvdma_le32 count;
};

/*
 * IRQ_PENDING: the request is a struct prov_irq_req with action 0; reads and clears up
 * to 64 vectors' pending bits from start.
 */
struct prov_irq_pending_rep {
	pvdma_le64 bits;	/* bit i: vector start + i fired since the last read */
};

/*
 * NOTIFY (fn 0, no body; needs IRQ_PENDING): how the connection learns that a pending
 * bit became set. Linux: the reply carries the read end of a pipe, to which the
 * provider writes a byte when a bit is set (and at once if one is; a later NOTIFY
 * replaces it); only the provider holds the write end, so a client cannot make the
 * provider wait. macOS: the external method is called asynchronously and the driver completes
 * it each time a bit is set, with one argument: the bitmap of function handles that
 * have bits pending (a client may read every range it enabled instead).
 */

/*
 * DMA_MEMORY: once per connection. Linux: one fd of a memfd, tmpfs or hugetlbfs file
 * of at least size bytes, a granule multiple; base is zero. macOS: no fd; base is the client virtual
 * address of the memory. DMA MAP entries then carry offsets into it in their gpa field.
 */
struct prov_dma_memory_req {
	pvdma_le64 size;
	pvdma_le64 base;
};

/*
 * DMA: a pvdma batch. The entries are struct pvdma_req, with gpa an offset into the
 * DMA memory; mappings belong to the connection and reach every function it claimed.
 * The reply has the same layout, with every entry's status (and MAP's iova, mapped)
 * filled in and done the number of entries processed.
 */
struct prov_dma_batch {
	pvdma_le16 count;
	pvdma_le16 reserved;
	pvdma_le32 done;	/* reply only */
	struct pvdma_req req[];
};

/* RESET: the reply says how the function was reset. */
enum prov_reset_method {
	PROV_RESET_FLR = 1,	/* function-level reset */
	PROV_RESET_BUS = 2,	/* secondary bus reset of its bridge (hot reset) */
	PROV_RESET_PM = 3,	/* D3hot -> D0 */
};

struct prov_reset_rep {
	pvdma_le32 method;	/* enum prov_reset_method */
	pvdma_le32 reserved;
};

/* COUNTERS: this connection's mappings, then the provider's totals. */
struct prov_counters {
	pvdma_le64 live_mappings;
	pvdma_le64 peak_mappings;
	pvdma_le64 live_bytes;
	pvdma_le64 peak_bytes;
	pvdma_le64 maps;
	pvdma_le64 unmaps;
	pvdma_le64 refused;		/* DMA entries refused, any status */
	pvdma_le64 clients;		/* provider: connections accepted so far */
	pvdma_le64 bad_requests;	/* provider: requests answered with an error */
	pvdma_le64 total_live_mappings;	/* provider: over every connection */
	pvdma_le64 resets;		/* provider: function resets done */
	pvdma_le64 reserved;
};

_Static_assert(sizeof(struct prov_hdr) == 16, "prov_hdr is 16 bytes");
_Static_assert(sizeof(struct prov_limits) == 40, "prov_limits is 40 bytes");
_Static_assert(sizeof(struct prov_function) == 16, "prov_function is 16 bytes");
_Static_assert(sizeof(struct prov_hello_rep) == 56, "prov_hello_rep is 56 bytes");
_Static_assert(sizeof(struct prov_region) == 32, "prov_region is 32 bytes");
_Static_assert(sizeof(struct prov_identity) == 16, "prov_identity is 16 bytes");
_Static_assert(sizeof(struct prov_claim_rep) == 16 + 8 * 32 + 3 * 8,
	       "prov_claim_rep layout");
_Static_assert(sizeof(struct prov_dma_batch) == 8, "prov_dma_batch header is 8 bytes");
_Static_assert(sizeof(struct prov_counters) == 96, "prov_counters is 96 bytes");
_Static_assert(16 + 8 + PROV_MAX_BATCH * sizeof(struct pvdma_req) <= PROV_MAX_MSG,
	       "a full DMA batch fits one message");

#endif /* PROVIDER_PROTO_H */
