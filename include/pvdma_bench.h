/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * pvdma_bench: the guest DMA microbenchmark's interface, shared by its kernel module
 * (bench/dma/pvdma_bench.c) and the program that drives it (bench/dma-bench.c).
 *
 * The module is a PCI driver without an ID table: bound through driver_override to a
 * function pvdma manages, it maps and unmaps through that function's dma_map_ops,
 * exactly as the function's real driver would. One ioctl on
 * /sys/kernel/debug/pvdma_bench runs THREADS kernel threads, each mapping and
 * unmapping its own buffer of SIZE bytes OPS times, and answers with the wall time
 * and each thread's time. With HOLD set each thread keeps one mapping of its buffer
 * for the whole run, so that every timed map lands in a live host mapping (the hit
 * path); without it, what a map costs depends on the guest module's policy. With
 * MISS_ONE as well, thread 0 holds nothing: hits measured beside a CPU whose maps are
 * host round trips (with a buffer larger than a window, under any policy).
 */
#ifndef PVDMA_BENCH_H
#define PVDMA_BENCH_H

#ifdef __KERNEL__
#include <linux/ioctl.h>
#include <linux/types.h>
#else
#include <stdint.h>
#include <sys/ioctl.h>
typedef uint32_t __u32;
typedef uint64_t __u64;
#endif

#define PVDMA_BENCH_MAX_THREADS	16
#define PVDMA_BENCH_MAX_SIZE	(2u << 20)

#define PVDMA_BENCH_HOLD	(1u << 0)	/* keep one mapping of each buffer live */
/* ... except thread 0's: its maps go where the policy sends them, beside the hits */
#define PVDMA_BENCH_MISS_ONE	(1u << 1)

/* What the device does to memory, as enum dma_data_direction. */
#define PVDMA_BENCH_TO_DEVICE	1
#define PVDMA_BENCH_FROM_DEVICE	2
#define PVDMA_BENCH_BIDIRECTIONAL 0

struct pvdma_bench_run {
	/* in */
	__u32 threads;			/* 1..PVDMA_BENCH_MAX_THREADS */
	__u32 size;			/* bytes per buffer, 1..PVDMA_BENCH_MAX_SIZE */
	__u32 ops;			/* map+unmap pairs per thread */
	__u32 dir;			/* PVDMA_BENCH_* direction */
	__u32 flags;			/* PVDMA_BENCH_HOLD, PVDMA_BENCH_MISS_ONE */
	__u32 reserved;
	/* out */
	__u64 wall_ns;			/* first thread's start to last thread's end */
	__u64 thread_ns[PVDMA_BENCH_MAX_THREADS];	/* each thread's own loop */
	__u64 errors;			/* maps that failed (dma_mapping_error) */
};

#define PVDMA_BENCH_RUN	_IOWR('P', 0x42, struct pvdma_bench_run)

#endif /* PVDMA_BENCH_H */
