// SPDX-License-Identifier: (GPL-2.0 OR MIT)
/*
 * dartpass-provider: lends PCI functions bound to vfio-pci to clients over a Unix
 * socket (include/provider_proto.h). Start-up: the options (one table drives their
 * parsing and --help), the functions, the IOMMU's limits and the aperture, the socket;
 * then serve.c serves until SIGINT or SIGTERM.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include "provider.h"

enum lx_opt_type {
	LX_OPT_STR,	/* --name TEXT */
	LX_OPT_U64,	/* --name N, with an optional K, M or G suffix (powers of 1024) */
	LX_OPT_LIST,	/* --name TEXT, repeatable */
	LX_OPT_FLAG,	/* --name, no value */
};

struct lx_list {
	unsigned int n;
	char *v[PROV_MAX_FUNCTIONS];
};

struct lx_opt {
	const char *name;
	enum lx_opt_type type;
	void *value;		/* const char **, uint64_t *, struct lx_list * or bool * */
	const char *arg;	/* the value's name in --help; NULL for a flag */
	const char *help;
	bool given;
};

static const char *opt_socket = "/run/dartpass-provider.sock";
static struct lx_list opt_functions;
static uint64_t opt_granule_shift = 14;
static uint64_t opt_max_mappings = 65536;
static uint64_t opt_max_bytes = 1536ull << 20;
static const char *opt_aperture;
static bool opt_allow_unsafe_interrupts;

static struct lx_opt opts[] = {
	{ "socket", LX_OPT_STR, &opt_socket, "PATH",
	  "the SOCK_SEQPACKET socket clients connect to (mode 0600)", false },
	{ "function", LX_OPT_LIST, &opt_functions, "BDF",
	  "a PCI function to lend (0000:00:04.0), bound to vfio-pci, its IOMMU group"
	  " viable; repeat for more", false },
	{ "granule-shift", LX_OPT_U64, &opt_granule_shift, "N",
	  "log2 of the mapping page, 12..30, not below the IOMMU's smallest page", false },
	{ "max-mappings", LX_OPT_U64, &opt_max_mappings, "N",
	  "live mappings per client (lowered to VFIO's per-container limit if above"
	  " it by default)", false },
	{ "max-bytes", LX_OPT_U64, &opt_max_bytes, "N", "bytes live mappings may cover per client",
	  false },
	{ "aperture", LX_OPT_STR, &opt_aperture, "BASE:SIZE",
	  "bus addresses handed out, inside the IOMMU's IOVA ranges (default: the"
	  " largest piece of them in [256M, 4G) outside PCI windows)", false },
	{ "allow-unsafe-interrupts", LX_OPT_FLAG, &opt_allow_unsafe_interrupts, NULL,
	  "start although vfio_iommu_type1 allows unsafe interrupts (no interrupt"
	  " remapping): MSI-X table writes through a shared BAR then reach any interrupt",
	  false },
	{ NULL, 0, NULL, NULL, NULL, false },
};

static void lx_usage(FILE *f)
{
	const struct lx_opt *o;

	fprintf(f, "usage: " LX_NAME " [OPTIONS]\nLends PCI functions bound to vfio-pci to"
		" dartpass clients, choosing every DMA bus address.\n\noptions:\n");
	for (o = opts; o->name; o++) {
		char left[40];

		snprintf(left, sizeof(left), "--%s%s%s", o->name, o->arg ? " " : "",
			 o->arg ? o->arg : "");
		fprintf(f, "  %-26s %s", left, o->help);
		if (o->type == LX_OPT_U64)
			fprintf(f, " (default %llu)", (unsigned long long)*(uint64_t *)o->value);
		else if (o->type == LX_OPT_STR && *(const char **)o->value)
			fprintf(f, " (default %s)", *(const char **)o->value);
		fputc('\n', f);
	}
	fprintf(f, "  %-26s %s\n", "--help", "this text");
}

static int lx_parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	int shift = 0;

	if (!*s || *s == '-')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 0);
	switch (*end) {
	case 'K': shift = 10; end++; break;
	case 'M': shift = 20; end++; break;
	case 'G': shift = 30; end++; break;
	}
	if (errno || *end || (shift && v > (~0ull >> shift)))
		return -1;
	*out = (uint64_t)v << shift;
	return 0;
}

static int lx_parse_opts(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		char *arg = argv[i], *val;
		struct lx_opt *o;
		size_t len;

		if (!strcmp(arg, "--help")) {
			lx_usage(stdout);
			exit(0);
		}
		if (strncmp(arg, "--", 2)) {
			fprintf(stderr, LX_NAME ": unexpected argument '%s'\n", arg);
			return -1;
		}
		arg += 2;
		val = strchr(arg, '=');
		len = val ? (size_t)(val - arg) : strlen(arg);
		for (o = opts; o->name; o++)
			if (strlen(o->name) == len && !strncmp(o->name, arg, len))
				break;
		if (!o->name) {
			fprintf(stderr, LX_NAME ": unknown option --%.*s\n", (int)len, arg);
			return -1;
		}
		o->given = true;
		if (o->type == LX_OPT_FLAG) {
			if (val) {
				fprintf(stderr, LX_NAME ": --%s takes no value\n", o->name);
				return -1;
			}
			*(bool *)o->value = true;
			continue;
		}
		if (val) {
			val++;
		} else if (i + 1 < argc) {
			val = argv[++i];
		} else {
			fprintf(stderr, LX_NAME ": --%s needs a value\n", o->name);
			return -1;
		}
		if (o->type == LX_OPT_STR) {
			*(const char **)o->value = val;
		} else if (o->type == LX_OPT_LIST) {
			struct lx_list *l = o->value;

			if (l->n == PROV_MAX_FUNCTIONS) {
				fprintf(stderr, LX_NAME ": --%s: at most %d\n", o->name,
					PROV_MAX_FUNCTIONS);
				return -1;
			}
			l->v[l->n++] = val;
		} else if (lx_parse_u64(val, o->value)) {
			fprintf(stderr, LX_NAME ": --%s: '%s' is not a number\n", o->name, val);
			return -1;
		}
	}
	return 0;
}

static const struct lx_opt *lx_opt(const char *name)
{
	const struct lx_opt *o;

	for (o = opts; strcmp(o->name, name); o++)
		;
	return o;
}

static bool lx_in_ranges(const struct lx_iommu *io, uint64_t base, uint64_t size)
{
	unsigned int i;

	for (i = 0; i < io->nr_ranges; i++)
		if (base >= io->ranges[i].start && base + size - 1 <= io->ranges[i].last)
			return true;
	return false;
}

static void lx_print_ranges(FILE *f, const struct lx_iommu *io)
{
	unsigned int i;

	for (i = 0; i < io->nr_ranges; i++)
		fprintf(f, "%s0x%llx-0x%llx", i ? ", " : "",
			(unsigned long long)io->ranges[i].start,
			(unsigned long long)io->ranges[i].last);
}

/* The DART model's configuration from the options and what the IOMMU allows. */
static int lx_limits(const struct lx_iommu *io, struct dp_dart_config *d)
{
	uint64_t granule;

	if (opt_granule_shift < 12 || opt_granule_shift > 30 ||
	    (1ull << opt_granule_shift) < io->min_page) {
		fprintf(stderr, LX_NAME ": --granule-shift %llu: must be 12..30 and the granule"
			" at least the IOMMU's smallest page, %llu bytes\n",
			(unsigned long long)opt_granule_shift, (unsigned long long)io->min_page);
		return -1;
	}
	granule = 1ull << opt_granule_shift;
	if (io->dma_avail && opt_max_mappings > io->dma_avail) {
		if (lx_opt("max-mappings")->given) {
			fprintf(stderr, LX_NAME ": --max-mappings %llu: VFIO allows a container %u"
				" (vfio_iommu_type1 dma_entry_limit)\n",
				(unsigned long long)opt_max_mappings, io->dma_avail);
			return -1;
		}
		opt_max_mappings = io->dma_avail;
	}
	if (!opt_max_mappings || opt_max_mappings > UINT32_MAX || !opt_max_bytes) {
		fprintf(stderr, LX_NAME ": --max-mappings must be 1..%u and --max-bytes non-zero\n",
			UINT32_MAX);
		return -1;
	}
	d->granule_shift = (uint32_t)opt_granule_shift;
	d->max_mappings = (uint32_t)opt_max_mappings;
	d->max_bytes = opt_max_bytes;
	if (opt_aperture) {
		char *colon = strchr(opt_aperture, ':');

		if (!colon || (*colon = 0, lx_parse_u64(opt_aperture, &d->aperture_base)) ||
		    lx_parse_u64(colon + 1, &d->aperture_size) || !d->aperture_size ||
		    d->aperture_base + d->aperture_size - 1 < d->aperture_base) {
			fprintf(stderr, LX_NAME ": --aperture: BASE:SIZE, SIZE non-zero, no wrap\n");
			return -1;
		}
		*colon = ':';
		if (!lx_in_ranges(io, d->aperture_base, d->aperture_size)) {
			fprintf(stderr, LX_NAME ": --aperture %s: outside the IOMMU's IOVA ranges ",
				opt_aperture);
			lx_print_ranges(stderr, io);
			fputc('\n', stderr);
			return -1;
		}
	} else if (!lx_default_aperture(io, granule, &d->aperture_base, &d->aperture_size)) {
		fprintf(stderr, LX_NAME ": no aperture in [256M, 4G) within the IOVA ranges and"
			" outside PCI windows: pass --aperture\n");
		return -1;
	}
	if (d->aperture_size < d->max_bytes)
		fprintf(stderr, LX_NAME ": note: the aperture (%llu MiB) bounds mappings more"
			" tightly than --max-bytes\n", (unsigned long long)(d->aperture_size >> 20));
	return 0;
}

static void lx_print_start(const struct dp_prov *p, const struct lx_os *os,
			   const struct lx_iommu *io)
{
	const struct dp_dart_config *d = &p->cfg.dart;
	unsigned int i;

	fprintf(stderr, LX_NAME ": IOMMU: VFIO type1v2, one container per client; IOVA ranges ");
	lx_print_ranges(stderr, io);
	fprintf(stderr, "; smallest page %llu%s\n", (unsigned long long)io->min_page,
		os->nr_groups ? "" : " (no function: the IOMMU was not asked)");
	fprintf(stderr, LX_NAME ": limits per client: aperture 0x%llx+0x%llx, granule %u KiB,"
		" %u mappings, %llu MiB, %u entries per DMA message\n",
		(unsigned long long)d->aperture_base, (unsigned long long)d->aperture_size,
		(1u << d->granule_shift) >> 10, d->max_mappings,
		(unsigned long long)(d->max_bytes >> 20), p->cfg.max_batch);
	for (i = 0; i < p->nr_fns; i++)
		fprintf(stderr, LX_NAME ": function %u: %s [%04x:%04x] class %06x, IOMMU group %d,"
			" reset %s\n", i, os->fns[i].bdf, p->fns[i].desc.vendor,
			p->fns[i].desc.device, p->fns[i].desc.class_rev >> 8,
			os->fns[i].group->id, lx_reset_name(os->fns[i].reset_method));
	if (!p->nr_fns)
		fprintf(stderr, LX_NAME ": no functions (--function BDF lends one)\n");
}

/* A listening socket at path; a stale socket file is replaced, a live one is not. */
static int lx_listen(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, LX_NAME ": --socket %s: too long\n", path);
		return -1;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		goto fail;
	if (!lstat(path, &st) && S_ISSOCK(st.st_mode)) {
		int probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
		bool live = probe >= 0 && !connect(probe, (struct sockaddr *)&sa, sizeof(sa));

		if (probe >= 0)
			close(probe);
		if (live) {
			fprintf(stderr, LX_NAME ": %s: another provider serves it\n", path);
			goto close_socket;
		}
		unlink(path);
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || chmod(path, 0600) || listen(fd, 16))
		goto fail;
	return fd;

fail:
	fprintf(stderr, LX_NAME ": %s: %s\n", path, strerror(errno));
close_socket:
	if (fd >= 0)
		close(fd);
	return -1;
}

int main(int argc, char **argv)
{
	static struct dp_prov prov;
	static struct lx_os os;
	struct dp_prov_config cfg = {
		.max_batch = PROV_MAX_BATCH,
		.features = PROV_F_IRQ_EVENTFD | PROV_F_REGION_FD | PROV_F_DMA_FD,
	};
	struct lx_iommu io;
	unsigned int i;
	int fd, rc = 1;

	if (lx_parse_opts(argc, argv)) {
		lx_usage(stderr);
		return 2;
	}
	/* IRQ_SET tells an eventfd from other descriptors through /proc. */
	if (access("/proc/self/fd", R_OK)) {
		fprintf(stderr, LX_NAME ": /proc is not mounted\n");
		return 1;
	}
	if (lx_os_open(&os, opt_functions.v, opt_functions.n) || lx_iommu_probe(&os, &io))
		goto close_os;
	/*
	 * After the probe, which found vfio_iommu_type1 loaded if any function is listed.
	 * Interrupt remapping confines what a client writes into the MSI-X table of a BAR
	 * it maps to its own vectors.
	 */
	if (lx_unsafe_interrupts()) {
		fprintf(stderr, LX_NAME ": vfio_iommu_type1 allows unsafe interrupts"
			" (allow_unsafe_interrupts=Y): without interrupt remapping, MSI-X table"
			" writes through a shared BAR reach any interrupt%s\n",
			opt_allow_unsafe_interrupts ? "; going on (--allow-unsafe-interrupts)" :
			"; not starting (--allow-unsafe-interrupts to start anyway)");
		if (!opt_allow_unsafe_interrupts)
			goto close_os;
	}
	if (lx_limits(&io, &cfg.dart))
		goto close_os;
	if (dp_prov_init(&prov, &cfg, &lx_os_ops, &os)) {
		fprintf(stderr, LX_NAME ": the aperture 0x%llx+0x%llx is not a multiple of the"
			" granule\n", (unsigned long long)cfg.dart.aperture_base,
			(unsigned long long)cfg.dart.aperture_size);
		goto close_os;
	}
	for (i = 0; i < os.nr_fns; i++) {
		unsigned int h;
		int st = dp_prov_add_function(&prov, os.fns[i].rid, &h);

		if (st || h != i) {
			fprintf(stderr, LX_NAME ": %s: %s\n", os.fns[i].bdf, dp_prov_status_name(st));
			goto close_os;
		}
	}
	lx_print_start(&prov, &os, &io);
	fd = lx_listen(opt_socket);
	if (fd < 0)
		goto close_os;
	fprintf(stderr, LX_NAME ": listening on %s\n", opt_socket);
	rc = lx_serve(&prov, fd);
	close(fd);
	unlink(opt_socket);
close_os:
	lx_os_close(&os);
	return rc;
}
