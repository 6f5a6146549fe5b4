/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * pvdma wire protocol: the single definition shared by the QEMU device, the guest
 * module and the user-space tools. docs/specs/pvdma.rst is its prose.
 *
 * The guest asks the host to map guest-physical ranges for DMA; the host (Apple's DART
 * behind a DriverKit driver, or the emulated DART on Linux) chooses every bus address.
 * Requests travel in batches: the guest fills a batch in its own memory, writes the
 * batch's page frame number to the doorbell register, and when that write returns the
 * host has written a status (and for MAP a bus address) into every entry. There is no
 * interrupt and no queue state in the device, so each CPU can own a batch buffer and
 * map from atomic context without a lock shared with other CPUs.
 *
 * All fields are little-endian; reserved fields must be zero and are checked.
 */
#ifndef PVDMA_PROTO_H
#define PVDMA_PROTO_H

#if defined(__KERNEL__)
#include <linux/types.h>
typedef __u8 pvdma_u8;
typedef __le16 pvdma_le16;
typedef __le32 pvdma_le32;
typedef __le64 pvdma_le64;
#else
#include <stdint.h>
typedef uint8_t pvdma_u8;
typedef uint16_t pvdma_le16;
typedef uint32_t pvdma_le32;
typedef uint64_t pvdma_le64;
#endif

/* PCI identity: 0x1234 is the vendor ID QEMU's own test devices (edu) use. */
#define PVDMA_PCI_VENDOR_ID	0x1234
#define PVDMA_PCI_DEVICE_ID	0xda27
#define PVDMA_PCI_REVISION	0x01

#define PVDMA_MAGIC		0x414d4450u	/* "PDMA" */
#define PVDMA_VERSION_MAJOR	1
#define PVDMA_VERSION_MINOR	0
#define PVDMA_VERSION(maj, min)	(((maj) << 16) | (min))

/* BAR0: 4 KiB of 32-bit registers; 64-bit values are _LO/_HI pairs. */
#define PVDMA_BAR_SIZE		0x1000
#define PVDMA_REG_MAGIC		0x000	/* RO */
#define PVDMA_REG_VERSION	0x004	/* RO: major << 16 | minor */
#define PVDMA_REG_DEV_FEATURES	0x008	/* RO: PVDMA_F_* the host offers */
#define PVDMA_REG_DRV_FEATURES	0x00c	/* RW: subset the driver accepts */
#define PVDMA_REG_STATUS	0x010	/* RW: PVDMA_STATUS_*; writing 0 resets */
#define PVDMA_REG_GRANULE_SHIFT	0x014	/* RO: log2 of the host page (14 = 16 KiB) */
#define PVDMA_REG_MAX_BATCH	0x018	/* RO: entries per doorbell */
#define PVDMA_REG_MAX_MAPPINGS	0x01c	/* RO: live host mappings allowed */
#define PVDMA_REG_MAX_BYTES_LO	0x020	/* RO: mapped bytes allowed */
#define PVDMA_REG_MAX_BYTES_HI	0x024
#define PVDMA_REG_APERTURE_LO	0x028	/* RO: first bus address the host hands out */
#define PVDMA_REG_APERTURE_HI	0x02c
#define PVDMA_REG_APSIZE_LO	0x030	/* RO: size of that bus address window */
#define PVDMA_REG_APSIZE_HI	0x034
#define PVDMA_REG_MANAGED_COUNT	0x040	/* RO: functions whose DMA goes through pvdma */
#define PVDMA_REG_MANAGED_SEL	0x044	/* RW: index into that list */
#define PVDMA_REG_MANAGED_RID	0x048	/* RO: PVDMA_RID of the selected function */
#define PVDMA_REG_DOORBELL	0x050	/* WO: batch guest-physical address >> 12 */
#define PVDMA_REG_BATCH_STATUS	0x054	/* RO: status of the last doorbell */
#define PVDMA_REG_LIVE_MAPPINGS	0x060	/* RO counters */
#define PVDMA_REG_PEAK_MAPPINGS	0x064
#define PVDMA_REG_LIVE_BYTES_LO	0x068
#define PVDMA_REG_LIVE_BYTES_HI	0x06c
#define PVDMA_REG_PEAK_BYTES_LO	0x070
#define PVDMA_REG_PEAK_BYTES_HI	0x074
#define PVDMA_REG_FAULTS	0x078	/* RO: DMA faults since reset */
#define PVDMA_REG_FAULT_ADDR_LO	0x080	/* RO: last fault (PVDMA_F_FAULT_LOG) */
#define PVDMA_REG_FAULT_ADDR_HI	0x084
#define PVDMA_REG_FAULT_RID	0x088
#define PVDMA_REG_FAULT_FLAGS	0x08c	/* PVDMA_FAULT_* */

/* The requester ID of a managed function, as in PCIe: segment, bus, device.function. */
#define PVDMA_RID(seg, bus, devfn)	(((seg) << 16) | ((bus) << 8) | (devfn))
#define PVDMA_RID_NONE		0xffffffffu

#define PVDMA_STATUS_ENABLE	(1u << 0)	/* doorbells are processed */

/* Feature bits (PVDMA_REG_DEV_FEATURES / PVDMA_REG_DRV_FEATURES). */
#define PVDMA_F_GRANULE		(1u << 0)	/* GRANULE_SHIFT is meaningful (always set) */
#define PVDMA_F_FAULT_LOG	(1u << 1)	/* FAULT_* registers record the last fault */
#define PVDMA_F_HOST_TSO	(1u << 2)	/* every vCPU runs with hardware TSO */
#define PVDMA_F_ALL		(PVDMA_F_GRANULE | PVDMA_F_FAULT_LOG | PVDMA_F_HOST_TSO)

/* PVDMA_REG_FAULT_FLAGS */
#define PVDMA_FAULT_WRITE	(1u << 0)	/* the faulting access was a device write */
#define PVDMA_FAULT_UNMAPPED	(1u << 1)	/* no mapping covers the address */
#define PVDMA_FAULT_PERM	(1u << 2)	/* mapped, but not for that direction */

/* Operations */
#define PVDMA_OP_MAP		1
#define PVDMA_OP_UNMAP		2

/* Entry flags: what the device may do to the memory (MAP only). */
#define PVDMA_MAP_READ		(1u << 0)	/* device reads memory (DMA_TO_DEVICE) */
#define PVDMA_MAP_WRITE		(1u << 1)	/* device writes memory (DMA_FROM_DEVICE) */

/* Per-entry and per-batch status codes. */
enum pvdma_status {
	PVDMA_S_OK = 0,
	PVDMA_S_INVALID = 1,		/* malformed: reserved bits, zero or overflowing length */
	PVDMA_S_BAD_ADDRESS = 2,	/* range is not entirely guest RAM */
	PVDMA_S_UNSUPPORTED = 3,	/* unknown operation */
	PVDMA_S_NO_MAPPINGS = 4,	/* live-mapping limit reached */
	PVDMA_S_NO_BYTES = 5,		/* mapped-bytes limit reached */
	PVDMA_S_NO_SPACE = 6,		/* no free bus-address range large enough */
	PVDMA_S_NOT_FOUND = 7,		/* UNMAP of something that is not a live mapping */
	PVDMA_S_NOT_READY = 8,		/* batch: device not enabled */
	PVDMA_S_BAD_BATCH = 9,		/* batch: bad count, flags or location */
	PVDMA_S_PENDING = 0xffff,	/* written by the guest; never left by the host */
};

/*
 * One request. MAP: in op, flags, len, gpa; out status, iova (bus address of gpa) and
 * mapped (bytes from gpa reachable at iova; less than len only when the host could not
 * map the range contiguously, after which the guest may MAP the rest separately).
 * UNMAP: in op, iova and len as returned by MAP (len = mapped); out status.
 * The host works in pages of 1 << GRANULE_SHIFT: a mapping covers whole pages, so the
 * rest of a partly used page is reachable too.
 */
struct pvdma_req {
	pvdma_u8 op;
	pvdma_u8 flags;
	pvdma_le16 status;
	pvdma_le32 len;
	pvdma_le64 gpa;
	pvdma_le64 iova;
	pvdma_le32 mapped;
	pvdma_le32 reserved;
};

/* A batch: this header, then count entries, contiguous in guest-physical memory. */
struct pvdma_batch {
	pvdma_le16 count;
	pvdma_le16 flags;	/* reserved, zero */
	pvdma_le16 status;	/* out: PVDMA_S_OK or a batch-level error */
	pvdma_le16 reserved;
	pvdma_le32 done;	/* out: entries processed */
	pvdma_le32 reserved2;
	struct pvdma_req req[];
};

#define PVDMA_BATCH_ALIGN	4096
#define PVDMA_MAX_BATCH		1024

/* Every consumer includes this, so every consumer checks the layout when it compiles. */
_Static_assert(sizeof(struct pvdma_req) == 32, "pvdma_req is 32 bytes");
_Static_assert(sizeof(struct pvdma_batch) == 16, "pvdma_batch header is 16 bytes");

#endif /* PVDMA_PROTO_H */
