/* SPDX-License-Identifier: (GPL-2.0 OR MIT) */
/*
 * dp_trace: the text format of DMA map/unmap traces, written by the guest module
 * (debugfs) and the workload generators, read by the simulator. One event per line:
 *
 *     <time ns> <op> <guest-physical address> <length> <direction> <device>
 *     1520331 M 0x12345000 4096 w 0100
 *     1520932 U 0x12345000 4096 w 0100
 *
 * op is M (map) or U (unmap; address and length repeat the map's); direction is what
 * the device does to memory: r (reads, DMA_TO_DEVICE), w (writes, DMA_FROM_DEVICE) or
 * rw; device is the requester ID in hex (bus << 8 | devfn). Addresses are hex with
 * 0x, lengths decimal. Lines starting with # are comments.
 */
#ifndef DP_TRACE_H
#define DP_TRACE_H

#include "dp_env.h"

struct dp_trace_rec {
	uint64_t t_ns;
	uint64_t pa;
	uint64_t len;
	uint32_t dev;
	char op;		/* 'M' or 'U' */
	unsigned int perm;	/* PVDMA_MAP_READ | PVDMA_MAP_WRITE */
};

#define DP_TRACE_LINE_MAX 80

/* Formats one event, newline included, into buf; returns its length. */
int dp_trace_format(char *buf, size_t size, const struct dp_trace_rec *r);
/* Parses one line; returns 1 for an event, 0 for a comment or blank, -1 if malformed. */
int dp_trace_parse(const char *line, struct dp_trace_rec *r);

#endif /* DP_TRACE_H */
