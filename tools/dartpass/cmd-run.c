// SPDX-License-Identifier: (GPL-2.0 OR MIT)
/*
 * dartpass run: starts QEMU with pvdma. By default pvdma's emulated DART manages an
 * emulated set (NVMe data disk, e1000e NIC with user networking, virtio-gpu) on one
 * root port, as the demo does; with --provider and --function, the provider's
 * functions are passed through (dartpass-pci) and pvdma maps through the same
 * provider (docs/passthrough.md). The guest boots --kernel directly, or a disk image
 * (--image, dartpass image build) through UEFI with a guest agent channel. The serial
 * console is the terminal or a log file; QMP listens on a socket (dartpass status
 * reads it). SIGINT/SIGTERM ask the guest to power off (system_powerdown), then quit
 * QEMU after --shutdown-timeout.
 *
 * Exit status: 0 the guest powered off; 3 the guest failed (panicked, reset under
 * --no-reboot, --timeout, or did not power off when asked); 4 QEMU could not start
 * (not found, or exited before its QMP socket answered); 130 quit by a second Ctrl-C;
 * otherwise QEMU's own non-zero status (128+N when killed by signal N). 2: usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include "dartpass.h"
#ifdef __linux__
#include <sys/prctl.h>
#endif
#ifdef __APPLE__
#include <mach-o/dyld.h>
#endif

#define MAX_FUNCTIONS 8		/* the functions of one root port */

/* Every option lives here, so a config file can tell which were left at default. */
struct run_cfg {
	const char *config, *arch, *qemu, *kernel, *initrd, *append, *policy, *memory;
	const char *image, *firmware, *firmware_vars;
	bool snapshot;
	uint64_t cpus;
	const char *accel, *disk;
	uint64_t disk_size;
	const char *provider;
	struct dp_opt_list functions;
	uint64_t granule_shift, max_mappings, max_bytes, max_batch;
	const char *aperture;
	bool host_tso, no_gpu, no_reboot, dry_run;
	const char *log, *qmp, *name, *run_dir;
	uint64_t timeout, shutdown_timeout;
};

static const char *fn_store[MAX_FUNCTIONS];
#define RUN_DEFAULTS { .memory = "1G", .cpus = 2, .accel = "auto", .disk_size = 1ull << 30, \
	.functions = { .max = MAX_FUNCTIONS, .v = fn_store }, .name = "vm", \
	.shutdown_timeout = 30 }
static struct run_cfg cfg = RUN_DEFAULTS;
static const struct run_cfg cfg_defaults = RUN_DEFAULTS;

static const struct dp_opt opts[] = {
	{ "config", DP_OPT_STR, &cfg.config, "a file of KEY=VALUE lines, KEY an option below"
	  " (# comments); command-line options win" },
	{ "arch", DP_OPT_STR, &cfg.arch, "guest architecture: x86_64 or aarch64 (default: the"
	  " host's)" },
	{ "qemu", DP_OPT_STR, &cfg.qemu,
	  "QEMU binary (default: build/qemu/qemu-system-ARCH beside dartpass)" },
	{ "kernel", DP_OPT_STR, &cfg.kernel, "guest kernel image (without it and --image: the"
	  " Debian image of dartpass image build, built on first use)" },
	{ "initrd", DP_OPT_STR, &cfg.initrd, "guest initramfs" },
	{ "image", DP_OPT_STR, &cfg.image, "a disk image (qcow2 by its name, else raw; dartpass"
	  " image build) on virtio-blk, booted by UEFI firmware unless --kernel is given; a"
	  " guest agent socket RUN-DIR/qga.sock" },
	{ "snapshot", DP_OPT_BOOL, &cfg.snapshot, "--image: discard the guest's writes to it at"
	  " exit" },
	{ "firmware", DP_OPT_STR, &cfg.firmware, "--image: UEFI code (default: Debian's"
	  " /usr/share/OVMF/OVMF_CODE_4M.fd or /usr/share/AAVMF/AAVMF_CODE.fd)" },
	{ "firmware-vars", DP_OPT_STR, &cfg.firmware_vars, "--image: UEFI variables template,"
	  " copied to RUN-DIR/efivars.fd for each run (default: the firmware's own VARS file)" },
	{ "append", DP_OPT_STR, &cfg.append,
	  "extra kernel command line (after console=...)" },
	{ "policy", DP_OPT_STR, &cfg.policy, "the guest module's mapping policy (exact, window,"
	  " adaptive): pvdma.policy= on the kernel command line, for modprobe" },
	{ "memory", DP_OPT_STR, &cfg.memory, "guest RAM, as QEMU's -m takes it" },
	{ "cpus", DP_OPT_U64, &cfg.cpus, "vCPUs" },
	{ "accel", DP_OPT_STR, &cfg.accel, "auto, kvm, hvf or tcg; auto probes (see dartpass"
	  " doctor)" },
	{ "disk", DP_OPT_STR, &cfg.disk, "the NVMe data disk (raw, or qcow2 by its name);"
	  " default: a fresh sparse scratch file in the run directory" },
	{ "disk-size", DP_OPT_U64, &cfg.disk_size, "size of the scratch disk" },
	{ "no-gpu", DP_OPT_BOOL, &cfg.no_gpu, "leave virtio-gpu out of the emulated set" },
	{ "provider", DP_OPT_STR, &cfg.provider, "passthrough: the provider's socket (a path)"
	  " or IOKit service name (macOS: DartpassDriver)" },
	{ "function", DP_OPT_LIST, &cfg.functions, "passthrough: a provider's function"
	  " (0000:03:00.0); repeat, up to 8, on one root port" },
	{ "granule-shift", DP_OPT_U64, &cfg.granule_shift,
	  "pvdma: log2 of the host page (0: QEMU's default, 14)" },
	{ "max-mappings", DP_OPT_U64, &cfg.max_mappings,
	  "pvdma: live mappings allowed (0: QEMU's default, 65536)" },
	{ "max-bytes", DP_OPT_U64, &cfg.max_bytes,
	  "pvdma: bytes live mappings may cover (0: QEMU's default, 1536M)" },
	{ "max-batch", DP_OPT_U64, &cfg.max_batch,
	  "pvdma: entries per doorbell (0: QEMU's default, 512)" },
	{ "aperture", DP_OPT_STR, &cfg.aperture,
	  "pvdma: BASE:SIZE, the bus addresses the emulated DART hands out" },
	{ "host-tso", DP_OPT_BOOL, &cfg.host_tso,
	  "pvdma: offer HOST_TSO; with hvf also its TSO mode (-accel hvf,tso=on, macOS 15);"
	  " QEMU refuses it elsewhere" },
	{ "log", DP_OPT_STR, &cfg.log, "write the serial console to this file instead of the"
	  " terminal" },
	{ "qmp", DP_OPT_STR, &cfg.qmp, "QMP socket (default: RUN-DIR/qmp.sock)" },
	{ "name", DP_OPT_STR, &cfg.name, "the VM's name: its run directory is"
	  " $XDG_RUNTIME_DIR/dartpass/NAME, or /tmp/dartpass-UID/NAME" },
	{ "run-dir", DP_OPT_STR, &cfg.run_dir, "run directory: QMP sockets, the scratch disk (default: from --name)" },
	{ "no-reboot", DP_OPT_BOOL, &cfg.no_reboot,
	  "a guest reset ends the run as a failure (for tests: panic=-1 reboots)" },
	{ "timeout", DP_OPT_U64, &cfg.timeout,
	  "seconds before the guest is stopped as failed (0: none)" },
	{ "shutdown-timeout", DP_OPT_U64, &cfg.shutdown_timeout,
	  "seconds the guest has to power off after Ctrl-C before QEMU quits" },
	{ "dry-run", DP_OPT_BOOL, &cfg.dry_run,
	  "print QEMU's command line, one argument a line (stdout), and the accelerator"
	  " (stderr); start nothing" },
	{ NULL, 0, NULL, NULL },
};

/* Directory of the running dartpass binary (build/), "" when unknown. */
static const char *self_dir(void)
{
	static char dir[PATH_MAX];
	char exe[PATH_MAX];
	char *slash;

	if (*dir)
		return dir;
#ifdef __linux__
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n <= 0)
		return "";
	exe[n] = 0;
#elif defined(__APPLE__)
	uint32_t size = sizeof(exe);
	char real[PATH_MAX];

	if (_NSGetExecutablePath(exe, &size) || !realpath(exe, real))
		return "";
	snprintf(exe, sizeof(exe), "%s", real);
#else
	return "";
#endif
	slash = strrchr(exe, '/');
	if (!slash)
		return "";
	slash[1] = 0;
	snprintf(dir, sizeof(dir), "%s", exe);
	return dir;
}

void dp_qemu_path(const char *given, const char *arch, char *buf, size_t size)
{
	if (given)
		snprintf(buf, size, "%s", given);
	else
		snprintf(buf, size, "%sqemu/qemu-system-%s", self_dir(), arch);
}

/* ---- config file ---- */

static bool at_default(const struct dp_opt *o)
{
	size_t off = (const char *)o->value - (const char *)&cfg;
	const char *def = (const char *)&cfg_defaults + off;

	switch (o->type) {
	case DP_OPT_BOOL: return *(bool *)o->value == *(const bool *)def;
	case DP_OPT_U64: return *(uint64_t *)o->value == *(const uint64_t *)def;
	case DP_OPT_STR: return *(const char **)o->value == *(const char *const *)def;
	case DP_OPT_LIST: return ((struct dp_opt_list *)o->value)->n == 0;
	}
	return false;
}

static int load_config(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[1024];
	unsigned int lineno = 0;
	bool set[sizeof(opts) / sizeof(opts[0])];
	const struct dp_opt *o;

	if (!f) {
		fprintf(stderr, "dartpass run: %s: %s\n", path, strerror(errno));
		return -1;
	}
	/* Decided before any line: a repeated key (function=) adds to the file's own. */
	for (o = opts; o->name; o++)
		set[o - opts] = !at_default(o);
	while (fgets(line, sizeof(line), f)) {
		char *k = line, *v, *e;

		lineno++;
		line[strcspn(line, "\r\n")] = 0;
		while (*k == ' ' || *k == '\t')
			k++;
		if (!*k || *k == '#')
			continue;
		v = strchr(k, '=');
		if (!v)
			goto bad;
		for (e = v; e > k && (e[-1] == ' ' || e[-1] == '\t'); e--)
			;
		*e = 0;
		v++;
		while (*v == ' ' || *v == '\t')
			v++;
		for (o = opts; o->name; o++)
			if (!strcmp(o->name, k))
				break;
		if (!o->name || !strcmp(k, "config"))
			goto bad;
		if (set[o - opts])
			continue;
		v = strdup(v);
		switch (o->type) {
		case DP_OPT_BOOL:
			if (strcmp(v, "true") && strcmp(v, "false") && strcmp(v, "1") && strcmp(v, "0"))
				goto bad;
			*(bool *)o->value = !strcmp(v, "true") || !strcmp(v, "1");
			break;
		case DP_OPT_U64:
			if (dp_parse_size(v, o->value))
				goto bad;
			break;
		case DP_OPT_STR:
			*(const char **)o->value = v;
			break;
		case DP_OPT_LIST: {
			struct dp_opt_list *l = o->value;

			if (l->n == l->max)
				goto bad;
			l->v[l->n++] = v;
			break;
		}
		}
	}
	fclose(f);
	return 0;
bad:
	fprintf(stderr, "dartpass run: %s:%u: not KEY=VALUE with KEY a run option (not"
		" config) and a valid value\n", path, lineno);
	fclose(f);
	return -1;
}

/* ---- the command line ---- */

struct argv_buf {
	char *v[256];
	int n;
};

static void add(struct argv_buf *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(struct argv_buf *a, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		abort();
	va_end(ap);
	if (a->n >= (int)(sizeof(a->v) / sizeof(a->v[0])) - 1) {
		fprintf(stderr, "dartpass run: too many QEMU arguments\n");
		exit(2);
	}
	a->v[a->n++] = s;
	a->v[a->n] = NULL;
}

/* A value inside a QEMU option string (file=..., socket=...): commas doubled. */
static const char *esc(const char *v)
{
	size_t n = strlen(v) + 1;
	const char *p;
	char *out, *o;

	for (p = v; *p; p++)
		n += *p == ',';
	o = out = malloc(n);
	if (!out)
		abort();
	for (p = v; *p; p++) {
		*o++ = *p;
		if (*p == ',')
			*o++ = ',';
	}
	*o = 0;
	return out;
}

static bool is_dir(const char *p)
{
	struct stat st;

	return !stat(p, &st) && S_ISDIR(st.st_mode);
}

/* pvdma-pci's QEMU properties from the options; "" when all are QEMU's defaults. */
static int pvdma_props(char *out, size_t size)
{
	size_t n = 0;

	*out = 0;
#define PROP(cond, ...) if (cond) n += snprintf(out + n, n < size ? size - n : 0, __VA_ARGS__)
	PROP(cfg.granule_shift, ",granule-shift=%llu", (unsigned long long)cfg.granule_shift);
	PROP(cfg.max_mappings, ",max-mappings=%llu", (unsigned long long)cfg.max_mappings);
	PROP(cfg.max_bytes, ",max-bytes=%llu", (unsigned long long)cfg.max_bytes);
	PROP(cfg.max_batch, ",max-batch=%llu", (unsigned long long)cfg.max_batch);
	PROP(cfg.host_tso, ",host-tso=on");
	if (cfg.aperture) {
		const char *colon = strchr(cfg.aperture, ':');
		char base[32];
		uint64_t b, s;

		if (!colon || (size_t)(colon - cfg.aperture) >= sizeof(base) ||
		    (snprintf(base, sizeof(base), "%.*s", (int)(colon - cfg.aperture),
			      cfg.aperture), dp_parse_size(base, &b)) ||
		    dp_parse_size(colon + 1, &s) || !s) {
			fprintf(stderr, "dartpass run: --aperture=BASE:SIZE, SIZE non-zero\n");
			return -1;
		}
		PROP(1, ",aperture-base=0x%llx,aperture-size=0x%llx", (unsigned long long)b,
		     (unsigned long long)s);
	}
#undef PROP
	return n < size ? 0 : -1;
}

/*
 * UEFI boots the image. The firmware connects every display to its console, and its
 * virtio-gpu driver's DMA on the managed port faults (pvdma is not loaded yet): it
 * waits for the device forever. So a firmware boot leaves the GPU out; --kernel
 * with the image's kernel and initrd boots with it.
 */
static bool firmware_boot(void)
{
	return cfg.image && !cfg.kernel;
}

/* --image's firmware: code and variables template for arch. */
static void firmware_paths(bool x86, const char **code, const char **vars)
{
	*code = cfg.firmware ? cfg.firmware : x86 ? "/usr/share/OVMF/OVMF_CODE_4M.fd" :
		"/usr/share/AAVMF/AAVMF_CODE.fd";
	*vars = cfg.firmware_vars ? cfg.firmware_vars : x86 ? "/usr/share/OVMF/OVMF_VARS_4M.fd" :
		"/usr/share/AAVMF/AAVMF_VARS.fd";
}

static int build(struct argv_buf *a, const char *qemu, const char *arch, const char *accel,
		 const char *qmp, const char *own_qmp, const char *disk, const char *run_dir)
{
	char props[512], dir[PATH_MAX + 64], *slash;
	bool x86 = !strcmp(arch, "x86_64");
	bool passthrough = cfg.provider != NULL;
	unsigned int i;

	if (pvdma_props(props, sizeof(props)))
		return -1;
	add(a, "%s", qemu);
	if (x86)
		add(a, "-M"), add(a, "q35");
	else
		add(a, "-M"), add(a, "virt");
	/* pvdma offers HOST_TSO only where the vCPUs really order memory as x86 does:
	 * hvf's TSO mode (qemu/patches/macos/); elsewhere QEMU refuses host-tso=on. */
	add(a, "-accel"), add(a, "%s%s", accel,
			      cfg.host_tso && !strcmp(accel, "hvf") ? ",tso=on" : "");
	add(a, "-cpu");
	if (strcmp(accel, "tcg"))
		add(a, "host");
	else
		add(a, "%s", x86 ? "max" : "max,pauth-impdef=on");
	add(a, "-smp"), add(a, "%llu", (unsigned long long)cfg.cpus);
	add(a, "-m"), add(a, "%s", cfg.memory);
	/* No default devices: SeaBIOS would probe the default CD-ROM for ~30 s. */
	add(a, "-nodefaults");
	/* Firmware: the build's option ROMs, then the distribution's. */
	snprintf(dir, sizeof(dir), "%s", qemu);
	slash = strrchr(dir, '/');
	if (slash) {
		strcpy(slash + 1, "pc-bios/optionrom");
		if (is_dir(dir))
			add(a, "-L"), add(a, "%s", dir);
	}
	if (x86 && is_dir("/usr/share/seabios"))
		add(a, "-L"), add(a, "/usr/share/seabios");
	if (is_dir("/usr/share/qemu"))
		add(a, "-L"), add(a, "/usr/share/qemu");
	add(a, "-display"), add(a, "none");
	if (cfg.log)
		add(a, "-serial"), add(a, "file:%s", esc(cfg.log));
	else
		add(a, "-serial"), add(a, "stdio");
	/* A QMP socket serves one client at a time: one for dartpass status and other
	 * users, one for dartpass run's own supervision. */
	add(a, "-qmp"), add(a, "unix:%s,server=on,wait=off", esc(qmp));
	add(a, "-qmp"), add(a, "unix:%s,server=on,wait=off", esc(own_qmp));
	if (cfg.no_reboot)
		add(a, "-no-reboot");
	/* A guest panic becomes a GUEST_PANICKED event and a shutdown (where the guest
	 * has the pvpanic driver). */
	add(a, "-device"), add(a, x86 ? "pvpanic" : "pvpanic-pci");
	if (cfg.kernel) {
		add(a, "-kernel"), add(a, "%s", cfg.kernel);
		if (cfg.initrd)
			add(a, "-initrd"), add(a, "%s", cfg.initrd);
		add(a, "-append");
		add(a, "console=%s%s%s%s%s", x86 ? "ttyS0" : "ttyAMA0",
		    cfg.policy ? " pvdma.policy=" : "", cfg.policy ? cfg.policy : "",
		    cfg.append ? " " : "", cfg.append ? cfg.append : "");
	} else {
		/* UEFI boots the image's own boot loader and kernel, so a kernel upgrade
		 * inside it is what boots next; each run has its own copy of the
		 * variables. */
		const char *code, *vars;

		firmware_paths(x86, &code, &vars);
		add(a, "-drive"), add(a, "if=pflash,format=raw,unit=0,readonly=on,file=%s",
				      esc(code));
		add(a, "-drive"), add(a, "if=pflash,format=raw,unit=1,file=%s/efivars.fd",
				      esc(run_dir));
	}
	if (cfg.image) {
		/* The root disk on the root complex, not on pvdma's managed port: the
		 * firmware and the initramfs read it before pvdma loads. */
		add(a, "-drive"), add(a, "file=%s,if=none,id=root,format=%s%s", esc(cfg.image),
				      strstr(cfg.image, ".qcow2") ? "qcow2" : "raw",
				      cfg.snapshot ? ",snapshot=on" : "");
		/* The boot order given, OVMF connects only it and the consoles, never
		 * the managed functions (-kernel has bootindex 0 itself). */
		add(a, "-device"), add(a, "virtio-blk-pci,drive=root%s",
				       firmware_boot() ? ",bootindex=0" : "");
		add(a, "-device"), add(a, "virtio-serial-pci,id=vser");
		add(a, "-chardev"), add(a, "socket,id=qga,path=%s/qga.sock,server=on,wait=off",
				       esc(run_dir));
		add(a, "-device"), add(a, "virtserialport,bus=vser.0,chardev=qga,"
				       "name=org.qemu.guest_agent.0");
	}
	if (passthrough) {
		const char *p = cfg.provider;

		if (strchr(p, '/')) {
			/* The socket transport hands the provider guest RAM's memfd. */
			add(a, "-object"), add(a, "memory-backend-memfd,id=ram,share=on,size=%s",
					       cfg.memory);
			add(a, "-machine"), add(a, "memory-backend=ram");
			add(a, "-object"), add(a, "dartpass-provider,id=prov,socket=%s", esc(p));
		} else {
			add(a, "-object"), add(a, "dartpass-provider,id=prov,service=%s", esc(p));
		}
		add(a, "-device"), add(a, "pcie-root-port,id=rp0,chassis=1");
		for (i = 0; i < cfg.functions.n; i++)
			add(a, "-device"), add(a, "dartpass-pci,provider=prov,host=%s,bus=rp0,"
					       "addr=0.%u%s", cfg.functions.v[i], i,
					       i == 0 && cfg.functions.n > 1 ? ",multifunction=on" : "");
		add(a, "-device"), add(a, "pvdma-pci,id=pv,backend=provider,provider=prov%s", props);
	} else {
		add(a, "-device"), add(a, "pcie-root-port,id=rp1,chassis=1");
		add(a, "-device"), add(a, "pvdma-pci,id=pv,managed-bus=rp1%s", props);
		add(a, "-drive"), add(a, "file=%s,if=none,id=d0,format=%s", esc(disk),
				      strstr(disk, ".qcow2") ? "qcow2" : "raw");
		add(a, "-device"), add(a, "nvme,bus=rp1,addr=0.0,multifunction=on,serial=dp0,"
				       "drive=d0");
		add(a, "-netdev"), add(a, "user,id=n0");
		add(a, "-device"), add(a, "e1000e,bus=rp1,addr=0.1,netdev=n0,romfile=");
		if (!cfg.no_gpu && !firmware_boot())
			add(a, "-device"), add(a, "virtio-gpu-pci,bus=rp1,addr=0.2,"
					       "iommu_platform=on,disable-legacy=on");
	}
	return 0;
}

/* ---- running it ---- */

static volatile sig_atomic_t stop_requests;

static void on_stop(int sig)
{
	(void)sig;
	stop_requests++;
}

static long long now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

enum { EXIT_GUEST_FAILED = 3, EXIT_NOT_STARTED = 4, EXIT_FORCED = 130 };

static int supervise(struct argv_buf *a, const char *qmp_path, const char *public_qmp)
{
	struct sigaction sa = { .sa_handler = on_stop };
	sigset_t block, old;
	struct dp_qmp q = { .fd = -1 };
	int errpipe[2], st = 0, err = 0, handled = 0, forced = 0, quit_sent = 0;
	long long start = now_s(), powerdown_at = 0, quit_at = 0;
	const char *failed = NULL;
	pid_t pid;

	if (pipe(errpipe) || fcntl(errpipe[1], F_SETFD, FD_CLOEXEC)) {
		perror("dartpass run: pipe");
		return EXIT_NOT_STARTED;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	/* QEMU starts with SIGINT blocked: the terminal's Ctrl-C reaches dartpass alone,
	 * which asks the guest to power off instead of QEMU stopping at once. */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &old);
	pid = fork();
	if (!pid) {
#ifdef __linux__
		/* QEMU does not outlive a dartpass run that is killed. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
#endif
		execv(a->v[0], a->v);
		err = errno;
		if (write(errpipe[1], &err, sizeof(err)) < 0)
			_exit(127);
		_exit(127);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	signal(SIGPIPE, SIG_IGN);	/* QMP writes to a QEMU that is going away */
	close(errpipe[1]);
	if (pid < 0 || read(errpipe[0], &err, sizeof(err)) == sizeof(err)) {
		fprintf(stderr, "dartpass run: could not start %s: %s\n", a->v[0],
			strerror(pid < 0 ? errno : err));
		if (pid > 0)
			waitpid(pid, NULL, 0);
		return EXIT_NOT_STARTED;
	}
	close(errpipe[0]);
	/* QEMU has started once its QMP socket answers. */
	while (q.fd < 0) {
		if (waitpid(pid, &st, WNOHANG) == pid) {
			fprintf(stderr, "dartpass run: QEMU exited before its QMP socket answered"
				" (exit %d): could not start\n",
				WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
			return EXIT_NOT_STARTED;
		}
		if (dp_qmp_connect(&q, qmp_path, 2000) && now_s() - start > 30) {
			fprintf(stderr, "dartpass run: no answer on %s after 30 s: could not"
				" start\n", qmp_path);
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			return EXIT_NOT_STARTED;
		}
		if (q.fd < 0)
			usleep(50000);
	}
	fprintf(stderr, "dartpass run: QEMU %d started; QMP %s\n", (int)pid, public_qmp);
	for (;;) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			break;
		if (q.fd >= 0 && dp_qmp_poll_events(&q, 200) < 0)
			dp_qmp_close(&q);	/* QEMU is going away */
		else if (q.fd < 0)
			usleep(200000);
		if (stop_requests > handled) {
			handled = stop_requests;
			if (handled == 1) {
				fprintf(stderr, "\ndartpass run: asking the guest to power off"
					" (again: quit at once)\n");
				if (q.fd < 0 || dp_qmp_cmd(&q, "{\"execute\":\"system_powerdown\"}",
							   NULL, 0, 5000))
					quit_at = now_s();
				powerdown_at = now_s();
			} else {
				forced = 1;
				quit_at = now_s();
			}
		}
		if (cfg.timeout && !failed && now_s() - start >= (long long)cfg.timeout) {
			failed = "--timeout expired";
			quit_at = now_s();
		}
		if (powerdown_at && !quit_at &&
		    now_s() - powerdown_at >= (long long)cfg.shutdown_timeout) {
			fprintf(stderr, "dartpass run: the guest did not power off in %llu s:"
				" quitting\n", (unsigned long long)cfg.shutdown_timeout);
			failed = "it did not power off when asked";
			quit_at = now_s();
		}
		if (quit_at) {
			if (!quit_sent && q.fd >= 0)
				dp_qmp_cmd(&q, "{\"execute\":\"quit\"}", NULL, 0, 2000);
			quit_sent = 1;
			if (now_s() - quit_at > 5)
				kill(pid, SIGKILL);
		}
	}
	if (q.fd >= 0) {
		dp_qmp_poll_events(&q, 0);
		dp_qmp_close(&q);
	}
	if (!WIFEXITED(st)) {
		fprintf(stderr, "dartpass run: QEMU killed by signal %d\n", WTERMSIG(st));
		return 128 + WTERMSIG(st);
	}
	if (WEXITSTATUS(st)) {
		fprintf(stderr, "dartpass run: QEMU exited with status %d\n", WEXITSTATUS(st));
		return WEXITSTATUS(st);
	}
	if (forced) {
		fprintf(stderr, "dartpass run: quit at once (second Ctrl-C)\n");
		return EXIT_FORCED;
	}
	if (!failed && q.panicked)
		failed = "it panicked";
	if (!failed && !strcmp(q.shutdown_reason, "guest-panic"))
		failed = "it panicked";
	if (!failed && !strcmp(q.shutdown_reason, "guest-reset"))
		failed = "it reset under --no-reboot";
	if (failed) {
		fprintf(stderr, "dartpass run: the guest failed: %s\n", failed);
		return EXIT_GUEST_FAILED;
	}
	fprintf(stderr, "dartpass run: the guest stopped (%s) after %llds\n",
		*q.shutdown_reason ? q.shutdown_reason : "QEMU exited", now_s() - start);
	return 0;
}

/* The run's own UEFI variables, from the template: the firmware writes them. */
static int copy_vars(bool x86, const char *run_dir)
{
	const char *code, *vars;
	char path[PATH_MAX + 16], buf[65536];
	int in, out = -1;
	ssize_t n = 0;

	firmware_paths(x86, &code, &vars);
	if (access(code, R_OK)) {
		fprintf(stderr, "dartpass run: UEFI firmware %s: %s (Debian: apt-get install %s;"
			" or --firmware)\n", code, strerror(errno), x86 ? "ovmf" : "qemu-efi-aarch64");
		return -1;
	}
	snprintf(path, sizeof(path), "%s/efivars.fd", run_dir);
	in = open(vars, O_RDONLY | O_CLOEXEC);
	if (in >= 0)
		out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	while (out >= 0 && (n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, n) != n) {
			n = -1;
			break;
		}
	if (in < 0 || out < 0 || n < 0) {
		fprintf(stderr, "dartpass run: UEFI variables %s -> %s: %s\n", vars, path,
			strerror(errno));
		n = -1;
	}
	if (in >= 0)
		close(in);
	if (out >= 0 && close(out))
		n = -1;
	return n < 0 ? -1 : 0;
}

static int run(int argc, char **argv)
{
	static char run_dir[PATH_MAX], qmp[PATH_MAX + 32], own_qmp[PATH_MAX + 32];
	static char qemu[PATH_MAX + 32], disk[PATH_MAX + 32];
	struct argv_buf a = { .n = 0 };
	const char *arch, *accel;
	char why[512];
	int i;

	(void)argv;
	if (argc) {
		fprintf(stderr, "dartpass run: takes no arguments (options only)\n");
		return 2;
	}
	if (cfg.config && load_config(cfg.config))
		return 2;
	arch = cfg.arch ? cfg.arch : dp_host_arch();
	if (strcmp(arch, "x86_64") && strcmp(arch, "aarch64")) {
		fprintf(stderr, "dartpass run: --arch: x86_64 or aarch64, not %s\n", arch);
		return 2;
	}
	if (!cfg.kernel && !cfg.image) {
		/* The default guest: dartpass's Debian image, built on first use. */
		static char img[PATH_MAX];

		if (!cfg.dry_run)
			fprintf(stderr, "dartpass run: no --kernel or --image: the Debian image"
				" (dartpass image build; built once, then cached)\n");
		if (dp_image_default(arch, !cfg.dry_run, img, sizeof(img))) {
			fprintf(stderr, "dartpass run: no image to boot (dartpass image build"
				" failed: above)\n");
			return 4;
		}
		cfg.image = img;
	}
	if (!cfg.kernel && (cfg.initrd || cfg.append || cfg.policy)) {
		fprintf(stderr, "dartpass run: --initrd, --append and --policy need --kernel (an"
			" image's kernel command line is in its boot entry)\n");
		return 2;
	}
	if (!cfg.image && (cfg.snapshot || cfg.firmware || cfg.firmware_vars)) {
		fprintf(stderr, "dartpass run: --snapshot, --firmware and --firmware-vars go with"
			" --image\n");
		return 2;
	}
	if (!cfg.cpus) {
		fprintf(stderr, "dartpass run: --cpus: at least 1\n");
		return 2;
	}
	if (!!cfg.provider != !!cfg.functions.n) {
		fprintf(stderr, "dartpass run: --provider and --function go together\n");
		return 2;
	}
	if (cfg.provider && (cfg.disk || cfg.no_gpu)) {
		fprintf(stderr, "dartpass run: --disk and --no-gpu are for the emulated set, not"
			" passthrough\n");
		return 2;
	}
	if (strcmp(cfg.accel, "auto") && strcmp(cfg.accel, "kvm") && strcmp(cfg.accel, "hvf") &&
	    strcmp(cfg.accel, "tcg")) {
		fprintf(stderr, "dartpass run: --accel: auto, kvm, hvf or tcg\n");
		return 2;
	}
	accel = dp_accel_probe(arch, why, sizeof(why));
	if (!strcmp(cfg.accel, "auto")) {
		fprintf(stderr, "dartpass run: accelerator %s: %s\n", accel, why);
	} else {
		if (strcmp(cfg.accel, accel) && strcmp(cfg.accel, "tcg"))
			fprintf(stderr, "dartpass run: warning: --accel=%s asked for, but the probe"
				" says %s: %s\n", cfg.accel, accel, why);
		accel = cfg.accel;
		fprintf(stderr, "dartpass run: accelerator %s: asked for with --accel\n", accel);
	}
	if (cfg.run_dir) {
		snprintf(run_dir, sizeof(run_dir), "%s", cfg.run_dir);
	} else {
		const char *x = getenv("XDG_RUNTIME_DIR");

		if (x && *x)
			snprintf(run_dir, sizeof(run_dir), "%s/dartpass/%s", x, cfg.name);
		else
			snprintf(run_dir, sizeof(run_dir), "/tmp/dartpass-%u/%s",
				 (unsigned int)getuid(), cfg.name);
	}
	if (cfg.qmp)
		snprintf(qmp, sizeof(qmp), "%s", cfg.qmp);
	else
		snprintf(qmp, sizeof(qmp), "%s/qmp.sock", run_dir);
	snprintf(own_qmp, sizeof(own_qmp), "%s/run.qmp", run_dir);
	if (cfg.image && strlen(run_dir) + sizeof("/qga.sock") > 100) {
		fprintf(stderr, "dartpass run: run directory too long for the guest agent's Unix"
			" socket: %s\n", run_dir);
		return 2;
	}
	if (strlen(qmp) >= 100 || strlen(own_qmp) >= 100) {
		fprintf(stderr, "dartpass run: QMP socket path too long for a Unix socket: %s\n",
			strlen(qmp) >= 100 ? qmp : own_qmp);
		return 2;
	}
	dp_qemu_path(cfg.qemu, arch, qemu, sizeof(qemu));
	if (cfg.disk)
		snprintf(disk, sizeof(disk), "%s", cfg.disk);
	else
		snprintf(disk, sizeof(disk), "%s/scratch.img", run_dir);
	if (build(&a, qemu, arch, accel, qmp, own_qmp, disk, run_dir))
		return 2;
	if (firmware_boot() && !cfg.provider && !cfg.no_gpu)
		fprintf(stderr, "dartpass run: virtio-gpu left out: UEFI's driver would use it"
			" before pvdma loads (boot the image with --kernel and --initrd to have"
			" it)\n");
	if (cfg.dry_run) {
		for (i = 0; i < a.n; i++)
			printf("%s\n", a.v[i]);
		return 0;
	}
	/* The run directory, its parents private to the user. */
	{
		char p[PATH_MAX];
		size_t k;

		snprintf(p, sizeof(p), "%s", run_dir);
		for (k = 1; p[k]; k++)
			if (p[k] == '/') {
				p[k] = 0;
				mkdir(p, 0700);
				p[k] = '/';
			}
		if (mkdir(p, 0700) && errno != EEXIST) {
			fprintf(stderr, "dartpass run: %s: %s\n", run_dir, strerror(errno));
			return EXIT_NOT_STARTED;
		}
	}
	if (!cfg.provider && !cfg.disk) {
		int fd = open(disk, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

		if (fd < 0 || ftruncate(fd, cfg.disk_size)) {
			fprintf(stderr, "dartpass run: scratch disk %s: %s\n", disk, strerror(errno));
			if (fd >= 0)
				close(fd);
			return EXIT_NOT_STARTED;
		}
		close(fd);
	}
	if (!cfg.kernel && copy_vars(!strcmp(arch, "x86_64"), run_dir))
		return EXIT_NOT_STARTED;
	unlink(qmp);
	unlink(own_qmp);
	fprintf(stderr, "dartpass run: %s guest%s, %s, %s\n", arch,
		cfg.image ? firmware_boot() ? " booted from its image by UEFI" :
		" with an image" : "",
		cfg.provider ? "passthrough through the provider" :
		cfg.no_gpu || firmware_boot() ? "emulated NVMe and e1000e managed by pvdma's"
		" emulated DART" : "emulated NVMe, e1000e and virtio-gpu managed by pvdma's"
		" emulated DART",
		cfg.log ? "console in the log" : "console on this terminal");
	{
		/* QEMU's stdio console changes the terminal's modes; a killed QEMU cannot
		 * put them back. */
		struct termios tio;
		bool tty = isatty(0) && !tcgetattr(0, &tio);

		i = supervise(&a, own_qmp, qmp);
		if (tty) {
			signal(SIGTTOU, SIG_IGN);	/* also from a background job */
			tcsetattr(0, TCSANOW, &tio);
		}
	}
	unlink(qmp);
	unlink(own_qmp);
	return i;
}

const struct dp_cmd dp_cmd_run = {
	.name = "run",
	.args = "",
	.help = "start a VM with pvdma: the emulated NVMe/NIC/GPU set, or a provider's functions",
	.opts = opts,
	.run = run,
};
