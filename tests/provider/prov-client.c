// SPDX-License-Identifier: (GPL-2.0 OR MIT)
/*
 * prov-client: the provider's test client, run inside the nested rig's L1 guest by
 * tests/guest/provider-*.sh (and bench/provider.sh). One subcommand per scenario; see
 * pc.h for what it prints and the files named below for what each does.
 */
#include <stdio.h>
#include <string.h>
#include "pc.h"

static const struct {
	const char *name, *args, *help;
	int (*run)(int argc, char **argv);
} cmds[] = {
	{ "nvme", "SOCKET SERIAL", "the NVMe round trip: claim, BAR0, DMA, MSI-X, Identify, "
	  "reset, unmap, release (pc-nvme.c)", pc_cmd_nvme },
	{ "pending", "SOCKET SERIAL", "Identify with MSI-X vector 0 ENABLEd: NOTIFY's eventfd, "
	  "IRQ_PENDING's bit; NOTIFY, ENABLE and IRQ_PENDING refusals (pc-nvme.c)",
	  pc_cmd_pending },
	{ "dma-fault", "SOCKET unmapped|read-only", "NVMe DMA to a bus address not handed "
	  "out, or into a read-only mapping: nothing written (pc-nvme.c)", pc_cmd_dma_fault },
	{ "hold", "SOCKET", "set the NVMe up, say \"holding\", wait to be killed (pc-nvme.c)",
	  pc_cmd_hold },
	{ "busy", "SOCKET LIVE", "the NVMe is held elsewhere with LIVE mappings (pc-nvme.c)",
	  pc_cmd_busy },
	{ "free", "SOCKET", "the NVMe becomes free (pc-nvme.c)", pc_cmd_free },
	{ "idle", "SOCKET", "every function free, no mapping left (pc-nvme.c)", pc_cmd_idle },
	{ "hostile", "SOCKET", "malformed and hostile requests, each its status "
	  "(pc-hostile.c)", pc_cmd_hostile },
	{ "caps", "SOCKET MAPPINGS BYTES", "the mapping and byte caps, exactly (pc-caps.c)",
	  pc_cmd_caps },
	{ "intx", "SOCKET", "INTx of the e1000: fire, mask, unmask, on an eventfd, then "
	  "ENABLEd with pending bits (pc-intx.c)", pc_cmd_intx },
	{ "bench", "SOCKET N", "MAP+UNMAP ns per entry: socket vs the DART model (pc-caps.c)",
	  pc_cmd_bench },
	{ "revoke", "SOCKET", "BAR0 mappings, the client's and a forked child's, fault "
	  "after RELEASE and after the connection closes; not run where no BAR is lent "
	  "(pc-security.c)", pc_cmd_revoke },
	{ "holder", "SOCKET", "CLAIM is BUSY while another process holds BAR0's descriptor "
	  "or a mapping of it; not run where no BAR is lent (pc-security.c)", pc_cmd_holder },
	{ "dma-fs", "SOCKET", "DMA_MEMORY refuses a sysfs BAR file, takes a memfd "
	  "(pc-security.c)", pc_cmd_dma_fs },
	{ "decode", "SOCKET", "decode on at CLAIM and after RESET; decode off and D3hot "
	  "DENIED (pc-security.c)", pc_cmd_decode },
	{ "group", "SOCKET", "one IOMMU group, two functions: BUSY across connections (pc-limits.c)", pc_cmd_group },
	{ "conn-limit", "SOCKET", "64 connections served, the 65th waits (pc-limits.c)", pc_cmd_conn_limit },
	{ "newer", "SOCKET", "be a provider of the next major version for one HELLO "
	  "(pc-limits.c)", pc_cmd_newer },
};

static void usage(FILE *f)
{
	unsigned int i;

	fprintf(f, "usage: prov-client COMMAND ARGS\n");
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		fprintf(f, "  %-10s %-26s %s\n", cmds[i].name, cmds[i].args, cmds[i].help);
}

int main(int argc, char **argv)
{
	unsigned int i;
	int rc;

	/* The test script reads the output while the client runs (hold). */
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 2 && !strcmp(argv[1], "--help")) {
		usage(stdout);
		return 0;
	}
	for (i = 0; argc >= 2 && i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(argv[1], cmds[i].name))
			continue;
		pc_prefix = cmds[i].name;
		rc = cmds[i].run(argc - 2, argv + 2);
		if (rc == 2)
			fprintf(stderr, "usage: prov-client %s %s\n", cmds[i].name, cmds[i].args);
		return rc;
	}
	usage(stderr);
	return 2;
}
