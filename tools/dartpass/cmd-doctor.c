// SPDX-License-Identifier: (GPL-2.0 OR MIT)
/*
 * dartpass doctor: checks what a host needs to run dartpass and says what to fix: the
 * accelerator (the same probe dartpass run uses), the IOMMU and VFIO (Linux) or the
 * DriverKit driver (macOS), memory, and the QEMU build. Every path it reads on Linux is
 * under $DARTPASS_ROOT (or --root), so tests can point it at a fake /sys, /dev and
 * /proc. Also home of the host probes run shares (dartpass.h).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "dartpass.h"
#if defined(__linux__) && defined(__x86_64__)
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#endif
#ifdef __APPLE__
#include <sys/sysctl.h>
#endif

static const char *opt_root;
static const char *opt_arch;
static const char *opt_qemu;
static uint64_t opt_memory = 1ull << 30;
static bool opt_passthrough;

static const struct dp_opt opts[] = {
	{ "arch", DP_OPT_STR, &opt_arch, "guest architecture to check for, x86_64 or aarch64"
	  " (default: the host's)" },
	{ "qemu", DP_OPT_STR, &opt_qemu,
	  "the QEMU to check (default: build/qemu/qemu-system-ARCH beside dartpass)" },
	{ "memory", DP_OPT_U64, &opt_memory, "guest RAM to check the host has room for" },
	{ "passthrough", DP_OPT_BOOL, &opt_passthrough,
	  "passthrough is wanted: a missing IOMMU, VFIO or driver fails instead of warning" },
	{ "root", DP_OPT_STR, &opt_root,
	  "prefix for /sys, /dev and /proc (tests; also $DARTPASS_ROOT)" },
	{ NULL, 0, NULL, NULL },
};

const char *dp_root(void)
{
	const char *r = opt_root ? opt_root : getenv("DARTPASS_ROOT");

	return r ? r : "";
}

const char *dp_host_arch(void)
{
#if defined(__x86_64__)
	return "x86_64";
#elif defined(__aarch64__)
	return "aarch64";
#else
	return "unknown";
#endif
}

#if defined(__linux__) && defined(__x86_64__)
static volatile sig_atomic_t probe_alarm;
static void on_alarm(int sig)
{
	(void)sig;
	probe_alarm = 1;
}

/*
 * Runs a real-mode guest that counts down 2^20 times, then writes 0x42 to port 0x10
 * and halts. A working KVM does that in well under a millisecond; one that emulates
 * every instruction in software (a host CPU without VMX/SVM) takes far longer or
 * fails: the probe allows 100 ms.
 */
static int kvm_probe(const char *dev, char *why, size_t size)
{
	static const uint8_t code[] = {
		0x66, 0xb9, 0x00, 0x00, 0x10, 0x00,	/* mov ecx, 0x100000 */
		0x66, 0x49,				/* 1: dec ecx */
		0x75, 0xfc,				/* jnz 1b */
		0xb0, 0x42,				/* mov al, 0x42 */
		0xe6, 0x10,				/* out 0x10, al */
		0xf4,					/* hlt */
	};
	int kvm, vm = -1, vcpu = -1, ok = 0, ver;
	long mmap_size;
	void *mem = MAP_FAILED;
	struct kvm_run *run = MAP_FAILED;
	struct kvm_sregs sregs;
	struct kvm_regs regs = { .rip = 0x1000, .rflags = 2 };
	struct kvm_userspace_memory_region region = { .memory_size = 0x2000,
						      .guest_phys_addr = 0 };
	struct sigaction sa = { .sa_handler = on_alarm }, old;
	struct itimerval it = { .it_value = { .tv_usec = 100000 } }, off = { 0 };
	struct timespec t0, t1;
	int io_seen = 0;

	kvm = open(dev, O_RDWR | O_CLOEXEC);
	if (kvm < 0) {
		snprintf(why, size, "%s: %s", dev, strerror(errno));
		return 0;
	}
	ver = ioctl(kvm, KVM_GET_API_VERSION, 0);
	if (ver != KVM_API_VERSION) {
		snprintf(why, size, "%s is not KVM (KVM_GET_API_VERSION: %s)", dev,
			 ver < 0 ? strerror(errno) : "wrong version");
		goto out;
	}
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	mmap_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	mem = mmap(NULL, 0x2000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (vm < 0 || mmap_size <= 0 || mem == MAP_FAILED) {
		snprintf(why, size, "KVM_CREATE_VM: %s", strerror(errno));
		goto out;
	}
	memcpy((char *)mem + 0x1000, code, sizeof(code));
	region.userspace_addr = (uintptr_t)mem;
	vcpu = ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) ? -1 :
	       ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0) {
		snprintf(why, size, "KVM_CREATE_VCPU: %s", strerror(errno));
		goto out;
	}
	run = mmap(NULL, mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED || ioctl(vcpu, KVM_GET_SREGS, &sregs)) {
		snprintf(why, size, "vCPU set-up: %s", strerror(errno));
		goto out;
	}
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	if (ioctl(vcpu, KVM_SET_SREGS, &sregs) || ioctl(vcpu, KVM_SET_REGS, &regs)) {
		snprintf(why, size, "vCPU set-up: %s", strerror(errno));
		goto out;
	}
	probe_alarm = 0;
	sigaction(SIGALRM, &sa, &old);
	setitimer(ITIMER_REAL, &it, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		if (ioctl(vcpu, KVM_RUN, 0)) {
			snprintf(why, size, probe_alarm ? "a tiny guest loop did not finish in"
				 " 100 ms (KVM emulates in software here: no VMX/SVM?)" :
				 "KVM_RUN: %s", strerror(errno));
			break;
		}
		if (run->exit_reason == KVM_EXIT_IO && run->io.port == 0x10 &&
		    *((uint8_t *)run + run->io.data_offset) == 0x42) {
			io_seen = 1;
			continue;
		}
		if (run->exit_reason == KVM_EXIT_HLT && io_seen) {
			clock_gettime(CLOCK_MONOTONIC, &t1);
			snprintf(why, size, "a tiny guest ran 2M instructions in %.1f ms",
				 (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6);
			ok = 1;
			break;
		}
		snprintf(why, size, "a tiny guest stopped with KVM exit reason %u, not at its"
			 " known end", run->exit_reason);
		break;
	}
	setitimer(ITIMER_REAL, &off, NULL);
	sigaction(SIGALRM, &old, NULL);
out:
	if (run != MAP_FAILED)
		munmap(run, mmap_size);
	if (mem != MAP_FAILED)
		munmap(mem, 0x2000);
	if (vcpu >= 0)
		close(vcpu);
	if (vm >= 0)
		close(vm);
	close(kvm);
	return ok;
}
#endif

const char *dp_accel_probe(const char *arch, char *why, size_t size)
{
	if (strcmp(arch, dp_host_arch())) {
		snprintf(why, size, "an %s guest on an %s host", arch, dp_host_arch());
		return "tcg";
	}
#if defined(__linux__) && defined(__x86_64__)
	{
		char dev[4096], r[8192];

		snprintf(dev, sizeof(dev), "%s/dev/kvm", dp_root());
		if (kvm_probe(dev, r, sizeof(r))) {
			snprintf(why, size, "KVM works: %s", r);
			return "kvm";
		}
		snprintf(why, size, "KVM unusable: %s", r);
		return "tcg";
	}
#elif defined(__APPLE__)
	{
		int hv = 0;
		size_t len = sizeof(hv);

		if (sysctlbyname("kern.hv_support", &hv, &len, NULL, 0) == 0 && hv) {
			snprintf(why, size, "Hypervisor.framework is supported (kern.hv_support)");
			return "hvf";
		}
		snprintf(why, size, "kern.hv_support is 0: no Hypervisor.framework");
		return "tcg";
	}
#else
	snprintf(why, size, "no accelerator probe for this host (only x86_64 Linux's KVM"
		 " and macOS's hvf are probed)");
	return "tcg";
#endif
}

/* ---- the checks ---- */

static unsigned int nfail, nwarn;

static void report(int level, const char *what, const char *fix, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* level 0 ok, 1 warn, 2 fail */
static void report(int level, const char *what, const char *fix, const char *fmt, ...)
{
	va_list ap;

	printf("%-4s %-12s ", level == 0 ? "ok" : level == 1 ? "warn" : "FAIL", what);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	if (level && fix)
		printf("     %-12s fix: %s\n", "", fix);
	nfail += level == 2;
	nwarn += level == 1;
}

#ifdef __linux__
static int count_dir(const char *path, const char *prefix)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.' && !strncmp(e->d_name, prefix, strlen(prefix)))
			n++;
	closedir(d);
	return n;
}

static void check_vfio(void)
{
	char p[4096];
	int groups, bound, lvl = opt_passthrough ? 2 : 1;
	struct stat st;

	snprintf(p, sizeof(p), "%s/sys/kernel/iommu_groups", dp_root());
	groups = count_dir(p, "");
	if (groups <= 0)
		report(lvl, "iommu", "enable VT-d/AMD-Vi in the firmware and boot with"
		       " intel_iommu=on (or amd_iommu=on); needed for passthrough only",
		       "no IOMMU groups in %s: the host has no active IOMMU", p);
	else
		report(0, "iommu", NULL, "%d IOMMU groups", groups);
	snprintf(p, sizeof(p), "%s/sys/bus/pci/drivers/vfio-pci", dp_root());
	bound = count_dir(p, "0000:");
	if (bound < 0) {
		report(lvl, "vfio", "modprobe vfio-pci", "the vfio-pci driver is not loaded");
		return;
	}
	snprintf(p, sizeof(p), "%s/dev/vfio/vfio", dp_root());
	if (stat(p, &st) || !S_ISCHR(st.st_mode)) {
		report(lvl, "vfio", "modprobe vfio-pci (it creates /dev/vfio/vfio)",
		       "%s is missing or not a device", p);
		return;
	}
	if (!bound)
		report(lvl, "vfio", "bind the functions to pass through: driverctl"
		       " set-override 0000:BB:DD.F vfio-pci",
		       "no usable VFIO functions: none is bound to vfio-pci");
	else
		report(0, "vfio", NULL, "%d function(s) bound to vfio-pci"
		       " (dartpass list-devices shows them)", bound);
}

static uint64_t mem_available(void)
{
	char p[4096], line[256];
	unsigned long long kb;
	FILE *f;

	snprintf(p, sizeof(p), "%s/proc/meminfo", dp_root());
	f = fopen(p, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) {
			fclose(f);
			return (uint64_t)kb << 10;
		}
	fclose(f);
	return 0;
}
#endif

#ifdef __APPLE__
static uint64_t mem_available(void)
{
	uint64_t m = 0;
	size_t len = sizeof(m);

	/* Physical memory: macOS pages out other programs for the guest. */
	return sysctlbyname("hw.memsize", &m, &len, NULL, 0) ? 0 : m;
}

static void check_driverkit(void)
{
	FILE *f = popen("systemextensionsctl list 2>&1", "r");
	char line[512];
	int found = 0, active = 0, lvl = opt_passthrough ? 2 : 1;

	while (f && fgets(line, sizeof(line), f)) {
		if (!strstr(line, "dartpass"))
			continue;
		found = 1;
		if (strstr(line, "[activated enabled]"))
			active = 1;
	}
	if (f)
		pclose(f);
	if (!found)
		report(lvl, "driverkit", "open dartpass-install.app to activate the driver"
		       " (docs/macos.md)", "the dartpass DriverKit driver is not installed"
		       " (systemextensionsctl list)");
	else if (!active)
		report(lvl, "driverkit", "approve it in System Settings > Privacy & Security",
		       "the dartpass DriverKit driver is installed but not activated and enabled");
	else
		report(0, "driverkit", NULL, "the dartpass DriverKit driver is activated");
}
#endif

#if !defined(__linux__) && !defined(__APPLE__)
static uint64_t mem_available(void)
{
	return 0;	/* unknown: reported as a warning */
}
#endif

/* Runs argv, its stdout into out (NUL-terminated); the exit status, -1 if it did not run. */
static int capture(char *const argv[], char *out, size_t size)
{
	int pfd[2], st;
	size_t n = 0;
	ssize_t r;
	pid_t pid;

	if (pipe(pfd))
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (!pid) {
		int nul = open("/dev/null", O_RDWR);

		dup2(nul, 0);
		dup2(pfd[1], 1);
		dup2(nul, 2);
		close(pfd[0]);
		execv(argv[0], argv);
		_exit(127);
	}
	close(pfd[1]);
	while ((r = read(pfd[0], out + n, size - 1 - n)) > 0 && n + r < size - 1)
		n += r;
	if (r > 0)
		n += r;
	out[n] = 0;
	close(pfd[0]);
	if (waitpid(pid, &st, 0) < 0)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void check_qemu(const char *arch)
{
	static char out[1 << 20];
	char path[4096];
	char *argv[] = { path, "-device", "help", NULL };
	const char *need[] = { "pvdma-pci", "dartpass-pci", "nvme", "e1000e", "virtio-gpu-pci" };
	char missing[128] = "";
	size_t i;
	int st;

	dp_qemu_path(opt_qemu, arch, path, sizeof(path));
	if (access(path, X_OK)) {
		report(2, "qemu", "build it: bash qemu/build.sh (macOS: qemu/build-macos.sh)",
		       "no QEMU at %s: %s", path, strerror(errno));
		return;
	}
	st = capture(argv, out, sizeof(out));
	if (st != 0) {
		report(2, "qemu", "rebuild it: bash qemu/build.sh",
		       "%s -device help failed (exit %d)", path, st);
		return;
	}
	for (i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
		char pat[64];

		snprintf(pat, sizeof(pat), "name \"%s\"", need[i]);
		if (!strstr(out, pat))
			snprintf(missing + strlen(missing), sizeof(missing) - strlen(missing),
				 "%s%s", *missing ? ", " : "", need[i]);
	}
	if (*missing)
		report(2, "qemu", "use dartpass's QEMU build: bash qemu/build.sh",
		       "%s lacks %s", path, missing);
	else
		report(0, "qemu", NULL, "%s has pvdma-pci, dartpass-pci and the emulated set"
		       " (nvme, e1000e, virtio-gpu-pci): the emulated setup can run", path);
}

static int run(int argc, char **argv)
{
	const char *arch = opt_arch ? opt_arch : dp_host_arch();
	const char *accel;
	char why[512];
	uint64_t avail;

	(void)argv;
	if (argc) {
		fprintf(stderr, "dartpass doctor: takes no arguments\n");
		return 2;
	}
	if (strcmp(arch, "x86_64") && strcmp(arch, "aarch64")) {
		fprintf(stderr, "dartpass doctor: --arch: x86_64 or aarch64\n");
		return 2;
	}
	accel = dp_accel_probe(arch, why, sizeof(why));
	if (!strcmp(accel, "tcg"))
		report(1, "accel", "none needed (guests run, slower); for KVM: a host CPU with"
		       " VMX/SVM, read/write access to /dev/kvm (group kvm)",
		       "TCG for %s guests: %s", arch, why);
	else
		report(0, "accel", NULL, "%s: %s", accel, why);
#ifdef __linux__
	check_vfio();
#endif
#ifdef __APPLE__
	check_driverkit();
#endif
	avail = mem_available();
	if (!avail)
		report(1, "memory", NULL, "cannot tell how much memory is available");
	else if (avail < opt_memory + (256ull << 20))
		report(2, "memory", "free memory, or run with a smaller --memory",
		       "%llu MiB available, a %llu MiB guest and QEMU need %llu MiB",
		       (unsigned long long)(avail >> 20), (unsigned long long)(opt_memory >> 20),
		       (unsigned long long)((opt_memory >> 20) + 256));
	else
		report(0, "memory", NULL, "%llu MiB available for a %llu MiB guest",
		       (unsigned long long)(avail >> 20), (unsigned long long)(opt_memory >> 20));
	check_qemu(arch);
	printf("%u failure(s), %u warning(s)\n", nfail, nwarn);
	return nfail ? 1 : 0;
}

const struct dp_cmd dp_cmd_doctor = {
	.name = "doctor",
	.args = "",
	.help = "check the host: accelerator, IOMMU and VFIO (macOS: the driver), memory,"
		" QEMU build",
	.opts = opts,
	.run = run,
};
