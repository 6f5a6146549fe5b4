// SPDX-License-Identifier: GPL-2.0
/*
 * dma-bench: one run of the guest DMA microbenchmark (include/pvdma_bench.h), printed
 * as one line of KEY=VALUE for bench/dma.sh. Static, for the rig's guests.
 *
 *   dma-bench THREADS SIZE OPS [hold|hold-miss]
 *
 * hold-miss: thread 0 holds nothing (PVDMA_BENCH_MISS_ONE); hit_thread_ns_per_op is
 * then the other threads' mean.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "pvdma_bench.h"

int main(int argc, char **argv)
{
	struct pvdma_bench_run r = { .dir = PVDMA_BENCH_BIDIRECTIONAL };
	unsigned long long sum = 0, max = 0, hits = 0;
	unsigned int i, first;
	int fd;

	if (argc < 4 || argc > 5 ||
	    (argc == 5 && strcmp(argv[4], "hold") && strcmp(argv[4], "hold-miss"))) {
		fprintf(stderr, "usage: dma-bench THREADS SIZE OPS [hold|hold-miss]\n");
		return 2;
	}
	r.threads = strtoul(argv[1], NULL, 0);
	r.size = strtoul(argv[2], NULL, 0);
	r.ops = strtoul(argv[3], NULL, 0);
	r.flags = argc == 5 ? PVDMA_BENCH_HOLD : 0;
	if (argc == 5 && !strcmp(argv[4], "hold-miss"))
		r.flags |= PVDMA_BENCH_MISS_ONE;
	fd = open("/sys/kernel/debug/pvdma_bench", O_RDWR);
	if (fd < 0 || ioctl(fd, PVDMA_BENCH_RUN, &r)) {
		fprintf(stderr, "dma-bench: %s\n", strerror(errno));
		return 1;
	}
	first = r.flags & PVDMA_BENCH_MISS_ONE && r.threads > 1;
	for (i = 0; i < r.threads; i++) {
		sum += r.thread_ns[i];
		max = r.thread_ns[i] > max ? r.thread_ns[i] : max;
		hits += i >= first ? r.thread_ns[i] : 0;
	}
	/* system: wall time per operation of all threads together; thread: one thread's. */
	printf("threads=%u size=%u ops=%u hold=%u miss_one=%u wall_ns=%llu system_ns_per_op=%.1f "
	       "thread_ns_per_op=%.1f slowest_thread_ns_per_op=%.1f hit_thread_ns_per_op=%.1f "
	       "errors=%llu\n",
	       r.threads, r.size, r.ops, !!(r.flags & PVDMA_BENCH_HOLD),
	       !!(r.flags & PVDMA_BENCH_MISS_ONE), (unsigned long long)r.wall_ns,
	       (double)r.wall_ns / ((double)r.ops * r.threads), (double)sum / r.threads / r.ops,
	       (double)max / r.ops, (double)hits / (r.threads - first) / r.ops,
	       (unsigned long long)r.errors);
	return r.errors ? 1 : 0;
}
