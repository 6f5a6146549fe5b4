// SPDX-License-Identifier: GPL-2.0
/*
 * drm-churn: GPU buffer churn through a real DRM driver, for tests/guest/gpu.sh. It
 * creates and destroys dumb buffers of 64 KiB to 1 MiB on /dev/dri/card0 in a fixed
 * pseudo-random order, up to 32 at once (the module's trace ring holds the whole run). virtio-gpu backs each with shmem pages and maps
 * them for the device (one scatterlist) when it is created, and unmaps them when it is
 * destroyed: the allocation pattern of GPU memory, on pages the kernel scattered.
 *
 * The busybox guest has no C library, so this is freestanding: raw system calls on
 * x86_64 and arm64, built with -nostdlib -static by rig/guest-run.sh ("#@ prog:").
 * Prints one summary line; exits 0, or 1 on the first failed ioctl.
 */
typedef unsigned int u32;
typedef unsigned long long u64;

#if defined(__x86_64__)
enum { SYS_write = 1, SYS_close = 3, SYS_ioctl = 16, SYS_exit = 231, SYS_openat = 257 };

static long sys(long n, long a, long b, long c, long d)
{
	long ret;
	register long r10 __asm__("r10") = d;

	__asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10)
			 : "rcx", "r11", "memory");
	return ret;
}
#elif defined(__aarch64__)
enum { SYS_openat = 56, SYS_close = 57, SYS_write = 64, SYS_ioctl = 29, SYS_exit = 94 };

static long sys(long n, long a, long b, long c, long d)
{
	register long x8 __asm__("x8") = n, x0 __asm__("x0") = a, x1 __asm__("x1") = b;
	register long x2 __asm__("x2") = c, x3 __asm__("x3") = d;

	__asm__ volatile("svc #0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3) : "memory");
	return x0;
}
#else
#error "drm-churn: x86_64 or arm64 only"
#endif

/* include/uapi/drm/drm_mode.h; the numbers are _IOWR('d', 0xB2/0xB4, ...). */
struct create_dumb {
	u32 height, width, bpp, flags;
	u32 handle, pitch;
	u64 size;
};
#define IOCTL_CREATE_DUMB	0xc02064b2UL
#define IOCTL_DESTROY_DUMB	0xc00464b4UL

#define OPS	300
#define LIVE	32
#define AT_FDCWD	(-100)
#define O_RDWR		2

static char line[160];
static int len;

static void put(const char *s)
{
	while (*s && len < (int)sizeof(line) - 1)
		line[len++] = *s++;
}

static void put_num(u64 v)
{
	char d[24];
	int n = 0;

	do
		d[n++] = '0' + v % 10;
	while (v /= 10);
	while (n && len < (int)sizeof(line) - 1)
		line[len++] = d[--n];
}

static void __attribute__((noreturn)) finish(int status)
{
	line[len++] = '\n';
	sys(SYS_write, 1, (long)line, len, 0);
	sys(SYS_exit, status, 0, 0, 0);
	__builtin_unreachable();
}

static u32 handle[LIVE];
static u64 bytes[LIVE];

void __attribute__((noreturn, used)) dp_main(void)
{
	u64 seed = 1, live_bytes = 0, peak_bytes = 0, made_bytes = 0;
	int fd = sys(SYS_openat, AT_FDCWD, (long)"/dev/dri/card0", O_RDWR, 0);
	int live = 0, peak = 0, made = 0, op;

	put("drm-churn: ");
	if (fd < 0) {
		put("cannot open /dev/dri/card0");
		finish(1);
	}
	for (op = 0; op < OPS + LIVE; op++) {
		u32 r;

		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		r = seed >> 33;
		/* Grow while under half full, then mostly churn; the last LIVE ops drain. */
		if (op < OPS && live < LIVE && (live < LIVE / 2 || r % 2)) {
			/* 1024 pixels of 4 bytes: one 4 KiB row; 16 to 256 rows. */
			struct create_dumb c = { .width = 1024, .height = 16u << (r / 2 % 5),
						 .bpp = 32 };

			if (sys(SYS_ioctl, fd, IOCTL_CREATE_DUMB, (long)&c, 0)) {
				put("CREATE_DUMB failed");
				finish(1);
			}
			handle[live] = c.handle;
			bytes[live++] = c.size;
			made++;
			made_bytes += c.size;
			live_bytes += c.size;
			if (live > peak)
				peak = live;
			if (live_bytes > peak_bytes)
				peak_bytes = live_bytes;
		} else if (live) {
			int i = r % live;
			u32 h = handle[i];

			if (sys(SYS_ioctl, fd, IOCTL_DESTROY_DUMB, (long)&h, 0)) {
				put("DESTROY_DUMB failed");
				finish(1);
			}
			live_bytes -= bytes[i];
			handle[i] = handle[--live];
			bytes[i] = bytes[live];
		}
	}
	sys(SYS_close, fd, 0, 0, 0);
	put("created and destroyed ");
	put_num(made);
	put(" buffers, ");
	put_num(made_bytes >> 20);
	put(" MiB; at most ");
	put_num(peak);
	put(" and ");
	put_num(peak_bytes >> 20);
	put(" MiB at once");
	finish(0);
}

/* The kernel enters with the stack aligned for a call: no C runtime to set up. */
#if defined(__x86_64__)
__asm__(".global _start\n_start:\n\tand $-16, %rsp\n\tcall dp_main\n");
#else
__asm__(".global _start\n_start:\n\tbl dp_main\n");
#endif
