// SPDX-License-Identifier: (GPL-2.0 OR MIT)
/*
 * dartpass provider: the Linux provider (provider/linux/). Lends PCI functions bound to
 * vfio-pci to clients over a Unix socket (docs/specs/provider.rst) and chooses every
 * DMA bus address they use, under DART's caps by default.
 */
#include <stdio.h>
#include <string.h>
#include "dartpass.h"
#include "../../provider/linux/provider.h"

static const char *opt_socket = "/run/dartpass-provider.sock";
static const char *functions[PROV_MAX_FUNCTIONS];
static struct dp_opt_list opt_functions = { .max = PROV_MAX_FUNCTIONS, .v = functions };
static uint64_t opt_granule_shift = 14;
static uint64_t opt_max_mappings;
static uint64_t opt_max_bytes = 1536ull << 20;
static const char *opt_aperture;
static bool opt_allow_unsafe_interrupts;

static const struct dp_opt opts[] = {
	{ "socket", DP_OPT_STR, &opt_socket,
	  "the SOCK_SEQPACKET socket clients connect to (mode 0600)" },
	{ "function", DP_OPT_LIST, &opt_functions,
	  "a PCI function to lend (0000:00:04.0), bound to vfio-pci, its IOMMU group viable;"
	  " repeat for more" },
	{ "granule-shift", DP_OPT_U64, &opt_granule_shift,
	  "log2 of the mapping page, 12..30, not below the IOMMU's smallest page" },
	{ "max-mappings", DP_OPT_U64, &opt_max_mappings,
	  "live mappings per client (0: 65536, or VFIO's per-container limit if lower)" },
	{ "max-bytes", DP_OPT_U64, &opt_max_bytes, "bytes live mappings may cover per client" },
	{ "aperture", DP_OPT_STR, &opt_aperture,
	  "BASE:SIZE, the bus addresses handed out, inside the IOMMU's IOVA ranges (default:"
	  " the largest piece of them in [256M, 4G) outside PCI windows)" },
	{ "allow-unsafe-interrupts", DP_OPT_BOOL, &opt_allow_unsafe_interrupts,
	  "start although vfio_iommu_type1 allows unsafe interrupts (no interrupt"
	  " remapping): MSI-X table writes through a shared BAR then reach any interrupt" },
	{ NULL, 0, NULL, NULL },
};

static int run(int argc, char **argv)
{
	struct lx_start s = {
		.socket = opt_socket,
		.functions = opt_functions.v,
		.nr_functions = opt_functions.n,
		.granule_shift = opt_granule_shift,
		.max_mappings = opt_max_mappings,
		.max_bytes = opt_max_bytes,
		.allow_unsafe_interrupts = opt_allow_unsafe_interrupts,
	};
	char base[32];
	const char *colon;

	(void)argv;
	if (argc) {
		fprintf(stderr, "dartpass provider: takes no arguments\n");
		return 2;
	}
	if (opt_aperture) {
		colon = strchr(opt_aperture, ':');
		if (!colon || (size_t)(colon - opt_aperture) >= sizeof(base) ||
		    (snprintf(base, sizeof(base), "%.*s", (int)(colon - opt_aperture),
			      opt_aperture), dp_parse_size(base, &s.aperture_base)) ||
		    dp_parse_size(colon + 1, &s.aperture_size) || !s.aperture_size ||
		    s.aperture_base + s.aperture_size - 1 < s.aperture_base) {
			fprintf(stderr, "dartpass provider: --aperture=BASE:SIZE, SIZE non-zero,"
				" no wrap\n");
			return 2;
		}
	}
	return lx_provider_run(&s);
}

const struct dp_cmd dp_cmd_provider = {
	.name = "provider",
	.args = "",
	.help = "lend PCI functions bound to vfio-pci to clients, choosing every DMA address",
	.opts = opts,
	.run = run,
};
