// SPDX-License-Identifier: (GPL-2.0 OR MIT)
/*
 * dartpass status: what pvdma and the provider are doing in a running VM, read over
 * QMP: pvdma-pci's QOM counters (live and peak mappings and bytes, doorbells = host
 * round trips, entries, faults, refusals by status) and, in passthrough, the
 * dartpass-provider object's (the provider's own COUNTERS). Refreshes every second
 * like top; --once prints one sample. A QEMU whose pvdma lacks the QOM counters is
 * shown through "info pvdma" instead.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "dartpass.h"

static const char *opt_qmp;
static const char *opt_name = "vm";
static const char *opt_device = "pv";
static const char *opt_provider = "/objects/prov";
static bool opt_once;
static uint64_t opt_interval = 1;

static const struct dp_opt opts[] = {
	{ "qmp", DP_OPT_STR, &opt_qmp, "QEMU's QMP socket (default: the one dartpass run"
	  " --name=NAME made)" },
	{ "name", DP_OPT_STR, &opt_name, "the VM's name, as given to dartpass run" },
	{ "once", DP_OPT_BOOL, &opt_once, "print one sample and exit" },
	{ "interval", DP_OPT_U64, &opt_interval, "seconds between samples" },
	{ "device", DP_OPT_STR, &opt_device, "QOM path or id of the pvdma-pci device" },
	{ "provider", DP_OPT_STR, &opt_provider, "QOM path of the dartpass-provider object" },
	{ NULL, 0, NULL, NULL },
};

static const char *const pv_props[] = {
	"live-mappings", "peak-mappings", "live-bytes", "peak-bytes", "doorbells", "entries",
	"faults", "refused-invalid", "refused-bad-address", "refused-unsupported",
	"refused-no-mappings", "refused-no-bytes", "refused-no-space", "refused-not-found",
	"refused-not-ready",
};
#define NPV (sizeof(pv_props) / sizeof(pv_props[0]))
static const char *const prov_props[] = {
	"live-mappings", "peak-mappings", "live-bytes", "peak-bytes", "maps", "unmaps",
	"refused", "bad-requests", "resets", "clients",
};
#define NPROV (sizeof(prov_props) / sizeof(prov_props[0]))

static double mib(uint64_t b)
{
	return b / 1048576.0;
}

/* One sample. 0, or -1 when the connection failed. */
static int sample(struct dp_qmp *q, uint64_t *last_doorbells)
{
	uint64_t pv[NPV], pr[NPROV], refused = 0;
	char reply[256], state[32] = "?", *p;
	size_t i;
	int r;

	if (dp_qmp_cmd(q, "{\"execute\":\"query-status\"}", reply, sizeof(reply), 5000) < 0)
		return -1;
	p = strstr(reply, "\"status\": \"");
	if (p)
		sscanf(p + 11, "%31[^\"]", state);
	for (i = 0; i < NPV; i++) {
		r = dp_qmp_qom_u64(q, opt_device, pv_props[i], &pv[i]);
		if (r < 0)
			return -1;
		if (r)
			break;
	}
	printf("VM %s: %s\n", opt_qmp, state);
	if (i < NPV) {
		static char out[16384];

		/* No such device or an older pvdma without QOM counters: the monitor's view. */
		if (dp_qmp_hmp(q, "info pvdma", out, sizeof(out)) < 0)
			return -1;
		printf("pvdma (%s has no QOM counters; info pvdma):\n%s", opt_device,
		       *out ? out : "  no pvdma device\n");
	} else {
		for (i = 7; i < NPV; i++)
			refused += pv[i];
		printf("pvdma %s\n", opt_device);
		printf("  mappings   live %-10llu peak %llu\n", (unsigned long long)pv[0],
		       (unsigned long long)pv[1]);
		printf("  bytes      live %-10.1f peak %.1f MiB\n", mib(pv[2]), mib(pv[3]));
		printf("  round trips %-9llu (doorbells; %llu entries", (unsigned long long)pv[4],
		       (unsigned long long)pv[5]);
		if (last_doorbells && *last_doorbells != UINT64_MAX && opt_interval)
			printf("; %.1f/s", (double)(pv[4] - *last_doorbells) / opt_interval);
		printf(")\n");
		if (last_doorbells)
			*last_doorbells = pv[4];
		printf("  faults     %llu\n", (unsigned long long)pv[6]);
		printf("  refusals   %llu", (unsigned long long)refused);
		for (i = 7; i < NPV; i++)
			if (pv[i])
				printf(" %s %llu", pv_props[i] + 8, (unsigned long long)pv[i]);
		printf("\n");
	}
	for (i = 0; i < NPROV; i++) {
		r = dp_qmp_qom_u64(q, opt_provider, prov_props[i], &pr[i]);
		if (r < 0)
			return -1;
		if (r)
			break;
	}
	if (i == NPROV) {
		printf("provider %s\n", opt_provider);
		printf("  mappings   live %-10llu peak %llu\n", (unsigned long long)pr[0],
		       (unsigned long long)pr[1]);
		printf("  bytes      live %-10.1f peak %.1f MiB\n", mib(pr[2]), mib(pr[3]));
		printf("  maps %llu unmaps %llu refused %llu bad-requests %llu resets %llu"
		       " clients %llu\n", (unsigned long long)pr[4], (unsigned long long)pr[5],
		       (unsigned long long)pr[6], (unsigned long long)pr[7],
		       (unsigned long long)pr[8], (unsigned long long)pr[9]);
	} else {
		printf("provider   none (emulated DART)\n");
	}
	fflush(stdout);
	return 0;
}

static int run(int argc, char **argv)
{
	static char path[4096];
	struct dp_qmp q;
	uint64_t last = UINT64_MAX;
	bool tty = isatty(1);

	(void)argv;
	if (argc) {
		fprintf(stderr, "dartpass status: takes no arguments\n");
		return 2;
	}
	if (!opt_qmp) {
		const char *x = getenv("XDG_RUNTIME_DIR");

		if (x && *x)
			snprintf(path, sizeof(path), "%s/dartpass/%s/qmp.sock", x, opt_name);
		else
			snprintf(path, sizeof(path), "/tmp/dartpass-%u/%s/qmp.sock",
				 (unsigned int)getuid(), opt_name);
		opt_qmp = path;
	}
	signal(SIGPIPE, SIG_IGN);	/* a QEMU that goes away is reported, not fatal */
	if (dp_qmp_connect(&q, opt_qmp, 5000)) {
		if (errno == EPROTO)
			fprintf(stderr, "dartpass status: no QMP greeting on %s: another client"
				" holds it (a QMP socket serves one client at a time)\n", opt_qmp);
		else
			fprintf(stderr, "dartpass status: cannot reach QMP at %s: %s (is dartpass"
				" run running?)\n", opt_qmp, strerror(errno));
		return 1;
	}
	for (;;) {
		if (!opt_once && tty)
			printf("\033[H\033[2J");
		if (sample(&q, &last)) {
			if (opt_once) {
				fprintf(stderr, "dartpass status: QMP connection lost\n");
				return 1;
			}
			printf("VM %s: gone\n", opt_qmp);
			return 0;
		}
		if (opt_once)
			break;
		if (!tty)
			printf("\n");
		sleep(opt_interval ? opt_interval : 1);
	}
	dp_qmp_close(&q);
	return 0;
}

const struct dp_cmd dp_cmd_status = {
	.name = "status",
	.args = "",
	.help = "pvdma's and the provider's mappings, bytes, round trips, faults, refusals (QMP)",
	.opts = opts,
	.run = run,
};
