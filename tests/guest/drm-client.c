// SPDX-License-Identifier: GPL-2.0
/*
 * drm-client: what GPU user space asks of a DRM driver, for tests/guest/gpu.sh.
 *
 *   drm-client churn     creates and destroys dumb buffers of 64 KiB to 1 MiB on
 *                        /dev/dri/card0 in a fixed pseudo-random order, up to 32 at
 *                        once (the module's trace ring holds the whole run): the
 *                        allocation pattern of GPU memory, on pages the kernel scattered.
 *                        virtio-gpu maps each buffer's shmem pages (one scatterlist) when
 *                        it is created and unmaps them when it is destroyed.
 *   drm-client scanout   fills a dumb buffer the size of the first connector's first
 *                        mode with the decimal numbers 1, 2, 3, ... one per line (what
 *                        `seq` prints, as XRGB8888 rows of 4 x width bytes), shows it on
 *                        the first CRTC and keeps it there until killed: the GPU model
 *                        reads those pages through the IOMMU (tests/tools/check-screen.py).
 *
 * The busybox guest has no C library, so this is freestanding: raw system calls on
 * x86_64 and arm64, built with -nostdlib -static by rig/guest-run.sh ("#@ prog:"). It
 * prints one line: churn when done (exit 0), scanout once the mode is set (then it
 * waits to be killed); either exits 1 on the first error, 2 on bad usage.
 */
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;

#if defined(__x86_64__)
enum {
	SYS_write = 1, SYS_close = 3, SYS_mmap = 9, SYS_ioctl = 16, SYS_nanosleep = 35,
	SYS_exit = 231, SYS_openat = 257,
};

static long sys(long n, long a, long b, long c, long d, long e, long f)
{
	long ret;
	register long r10 __asm__("r10") = d, r8 __asm__("r8") = e, r9 __asm__("r9") = f;

	__asm__ volatile("syscall" : "=a"(ret)
			 : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}
#elif defined(__aarch64__)
enum {
	SYS_ioctl = 29, SYS_openat = 56, SYS_close = 57, SYS_write = 64, SYS_exit = 94,
	SYS_nanosleep = 101, SYS_mmap = 222,
};

static long sys(long n, long a, long b, long c, long d, long e, long f)
{
	register long x8 __asm__("x8") = n, x0 __asm__("x0") = a, x1 __asm__("x1") = b;
	register long x2 __asm__("x2") = c, x3 __asm__("x3") = d, x4 __asm__("x4") = e;
	register long x5 __asm__("x5") = f;

	__asm__ volatile("svc #0" : "+r"(x0)
			 : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5) : "memory");
	return x0;
}
#else
#error "drm-client: x86_64 or arm64 only"
#endif

/* From include/uapi/drm/drm.h and drm_mode.h; requests are _IOWR('d', nr, struct). */
struct card_res {
	u64 fb_ids, crtc_ids, connector_ids, encoder_ids;
	u32 count_fbs, count_crtcs, count_connectors, count_encoders;
	u32 min_width, max_width, min_height, max_height;
};
struct modeinfo {
	u32 clock;
	u16 hdisplay, hsync_start, hsync_end, htotal, hskew;
	u16 vdisplay, vsync_start, vsync_end, vtotal, vscan;
	u32 vrefresh, flags, type;
	char name[32];
};
struct get_connector {
	u64 encoders, modes, props, prop_values;
	u32 count_modes, count_props, count_encoders;
	u32 encoder_id, connector_id, connector_type, connector_type_id;
	u32 connection, mm_width, mm_height, subpixel, pad;
};
struct set_crtc {
	u64 connectors;
	u32 count_connectors, crtc_id, fb_id, x, y, gamma_size, mode_valid;
	struct modeinfo mode;
};
struct fb_cmd {
	u32 fb_id, width, height, pitch, bpp, depth, handle;
};
struct create_dumb {
	u32 height, width, bpp, flags;
	u32 handle, pitch;
	u64 size;
};
struct map_dumb {
	u32 handle, pad;
	u64 offset;
};

#define DRM_IOWR(nr, type)	(0xc0000000UL | sizeof(type) << 16 | 'd' << 8 | (nr))
#define IOCTL_GETRESOURCES	DRM_IOWR(0xa0, struct card_res)
#define IOCTL_SETCRTC		DRM_IOWR(0xa2, struct set_crtc)
#define IOCTL_GETCONNECTOR	DRM_IOWR(0xa7, struct get_connector)
#define IOCTL_ADDFB		DRM_IOWR(0xae, struct fb_cmd)
#define IOCTL_CREATE_DUMB	DRM_IOWR(0xb2, struct create_dumb)
#define IOCTL_MAP_DUMB		DRM_IOWR(0xb3, struct map_dumb)
#define IOCTL_DESTROY_DUMB	DRM_IOWR(0xb4, u32)

#define AT_FDCWD	(-100)
#define O_RDWR		2
#define PROT_RW		3
#define MAP_SHARED	1
#define CHURN_OPS	300
#define CHURN_LIVE	32
#define MAX_IDS		8	/* CRTCs and connectors */
#define MAX_MODES	64

static char line[160];
static int len;

static void put(const char *s)
{
	while (*s && len < (int)sizeof(line) - 1)
		line[len++] = *s++;
}

/* Writes v in decimal at p; returns the digits' count. */
static int decimal(char *p, u64 v)
{
	char d[24];
	int n = 0, k = 0;

	do
		d[n++] = '0' + v % 10;
	while (v /= 10);
	while (n)
		p[k++] = d[--n];
	return k;
}

static void put_num(u64 v)
{
	char d[24];
	int i, n = decimal(d, v);

	for (i = 0; i < n && len < (int)sizeof(line) - 1; i++)
		line[len++] = d[i];
}

static void say(void)
{
	line[len++] = '\n';
	sys(SYS_write, 1, (long)line, len, 0, 0, 0);
	len = 0;
}

static void __attribute__((noreturn)) quit(int status)
{
	if (len)
		say();
	sys(SYS_exit, status, 0, 0, 0, 0, 0);
	__builtin_unreachable();
}

static void drm(int fd, unsigned long req, void *arg, const char *what)
{
	if (sys(SYS_ioctl, fd, req, (long)arg, 0, 0, 0)) {
		put(what);
		put(" failed");
		quit(1);
	}
}

static u32 churn_handle[CHURN_LIVE];
static u64 churn_bytes[CHURN_LIVE];

static void churn(int fd)
{
	u64 seed = 1, live_bytes = 0, peak_bytes = 0, made_bytes = 0;
	int live = 0, peak = 0, made = 0, op;

	for (op = 0; op < CHURN_OPS + CHURN_LIVE; op++) {
		u32 r;

		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		r = seed >> 33;
		/* Grow while under half full, then mostly churn; the last ops drain. */
		if (op < CHURN_OPS && live < CHURN_LIVE && (live < CHURN_LIVE / 2 || r % 2)) {
			/* 1024 pixels of 4 bytes: one 4 KiB row; 16 to 256 rows. */
			struct create_dumb c = { .width = 1024, .height = 16u << (r / 2 % 5),
						 .bpp = 32 };

			drm(fd, IOCTL_CREATE_DUMB, &c, "CREATE_DUMB");
			churn_handle[live] = c.handle;
			churn_bytes[live++] = c.size;
			made++;
			made_bytes += c.size;
			live_bytes += c.size;
			if (live > peak)
				peak = live;
			if (live_bytes > peak_bytes)
				peak_bytes = live_bytes;
		} else if (live) {
			int i = r % live;

			drm(fd, IOCTL_DESTROY_DUMB, &churn_handle[i], "DESTROY_DUMB");
			live_bytes -= churn_bytes[i];
			churn_handle[i] = churn_handle[--live];
			churn_bytes[i] = churn_bytes[live];
		}
	}
	put("created and destroyed ");
	put_num(made);
	put(" buffers, ");
	put_num(made_bytes >> 20);
	put(" MiB; at most ");
	put_num(peak);
	put(" and ");
	put_num(peak_bytes >> 20);
	put(" MiB at once");
}

static void __attribute__((noreturn)) scanout(int fd)
{
	static struct modeinfo modes[MAX_MODES];
	u32 crtcs[MAX_IDS], connectors[MAX_IDS];
	struct card_res res = { .crtc_ids = (long)crtcs, .connector_ids = (long)connectors,
				.count_crtcs = MAX_IDS, .count_connectors = MAX_IDS };
	struct get_connector conn = { 0 };
	struct create_dumb dumb = { .bpp = 32 };
	struct map_dumb map = { 0 };
	struct fb_cmd fb = { .bpp = 32, .depth = 24 };
	struct set_crtc set = { .connectors = (long)&conn.connector_id,
				.count_connectors = 1, .mode_valid = 1 };
	struct { long sec, nsec; } hour = { 3600, 0 };
	u64 n = 1, row, w, h;
	char *mem, num[24];
	int k = 0, d = 0;

	drm(fd, IOCTL_GETRESOURCES, &res, "GETRESOURCES");
	if (!res.count_crtcs || !res.count_connectors) {
		put("no CRTC or connector");
		quit(1);
	}
	/* A first call without room for modes probes them and counts them. */
	conn.connector_id = connectors[0];
	drm(fd, IOCTL_GETCONNECTOR, &conn, "GETCONNECTOR");
	if (!conn.count_modes || conn.count_modes > MAX_MODES) {
		put("the connector has no mode, or too many");
		quit(1);
	}
	conn.modes = (long)modes;
	conn.count_props = conn.count_encoders = 0;
	drm(fd, IOCTL_GETCONNECTOR, &conn, "GETCONNECTOR");
	w = modes[0].hdisplay;
	h = modes[0].vdisplay;
	dumb.width = w;
	dumb.height = h;
	drm(fd, IOCTL_CREATE_DUMB, &dumb, "CREATE_DUMB");
	map.handle = dumb.handle;
	drm(fd, IOCTL_MAP_DUMB, &map, "MAP_DUMB");
	mem = (char *)sys(SYS_mmap, 0, dumb.size, PROT_RW, MAP_SHARED, fd, map.offset);
	if ((unsigned long)mem > -4096UL) {
		put("mmap failed");
		quit(1);
	}
	/* The pattern runs through the rows as if they were packed. */
	for (row = 0; row < h; row++) {
		u64 x;

		for (x = 0; x < 4 * w; x++) {
			if (k == d) {
				d = decimal(num, n++);
				num[d++] = '\n';
				k = 0;
			}
			mem[row * dumb.pitch + x] = num[k++];
		}
	}
	fb.width = w;
	fb.height = h;
	fb.pitch = dumb.pitch;
	fb.handle = dumb.handle;
	drm(fd, IOCTL_ADDFB, &fb, "ADDFB");
	set.crtc_id = crtcs[0];
	set.fb_id = fb.fb_id;
	set.mode = modes[0];
	drm(fd, IOCTL_SETCRTC, &set, "SETCRTC");
	put("showing ");
	put_num(w);
	put("x");
	put_num(h);
	say();
	/* Closing the device would give the display back to the console. */
	for (;;)
		sys(SYS_nanosleep, (long)&hour, 0, 0, 0, 0, 0);
}

static int same(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return *a == *b;
}

void __attribute__((noreturn, used)) dp_main(long *sp)
{
	char **argv = (char **)(sp + 1);
	int fd;

	put("drm-client: ");
	if (sp[0] != 2 || !(same(argv[1], "churn") || same(argv[1], "scanout"))) {
		put("usage: drm-client churn|scanout");
		quit(2);
	}
	fd = sys(SYS_openat, AT_FDCWD, (long)"/dev/dri/card0", O_RDWR, 0, 0, 0);
	if (fd < 0) {
		put("cannot open /dev/dri/card0");
		quit(1);
	}
	if (same(argv[1], "scanout"))
		scanout(fd);
	churn(fd);
	sys(SYS_close, fd, 0, 0, 0, 0, 0);
	quit(0);
}

/* The kernel starts a process at its argument count, on a stack aligned for a call. */
#if defined(__x86_64__)
__asm__(".global _start\n_start:\n\tmov %rsp, %rdi\n\tand $-16, %rsp\n\tcall dp_main\n");
#else
__asm__(".global _start\n_start:\n\tmov x0, sp\n\tbl dp_main\n");
#endif
