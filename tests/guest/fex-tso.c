// SPDX-License-Identifier: GPL-2.0
/*
 * fex-tso: asks the kernel about its memory model exactly as FEX-Emu does, for
 * tests/guest/tso.sh and tso-off.sh (docs/quirks.md).
 *
 *   fex-tso hw      the kernel answers as an always-TSO CPU (Asahi Linux's prctls)
 *   fex-tso stock   the kernel answers as a stock one: -EINVAL
 *
 * FEX's sequence (FEXInterpreter.cpp, FEX::Kernel::TSO::SetupTSOEmulation): r =
 * prctl(PR_GET_MEM_MODEL, 0, 0, 0, 0); r == -1: keep emulating TSO; r ==
 * PR_SET_MEM_MODEL_DEFAULT: prctl(PR_SET_MEM_MODEL, PR_SET_MEM_MODEL_TSO, 0, 0, 0) == 0
 * means hardware TSO (SetHardwareTSOSupport(true)). FEXGetConfig's CheckForHardwareTSO
 * does the same, then sets DEFAULT back. Further checks: the argument rules of Asahi's
 * kernel/sys.c, and that other prctls are untouched (PR_SET_NAME/PR_GET_NAME).
 * Prints one line per check and FEX's conclusion; exits 0 when all passed, 1 if not,
 * 2 on bad usage. Freestanding (the guest has no C library), as drm-client.c.
 */
typedef unsigned long u64;

#if defined(__x86_64__)
enum { SYS_write = 1, SYS_exit = 60, SYS_prctl = 157 };

static long sys(long n, long a, long b, long c, long d, long e)
{
	long ret;
	register long r10 __asm__("r10") = d, r8 __asm__("r8") = e;

	__asm__ volatile("syscall" : "=a"(ret)
			 : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8)
			 : "rcx", "r11", "memory");
	return ret;
}
#elif defined(__aarch64__)
enum { SYS_write = 64, SYS_exit = 93, SYS_prctl = 167 };

static long sys(long n, long a, long b, long c, long d, long e)
{
	register long x8 __asm__("x8") = n, x0 __asm__("x0") = a, x1 __asm__("x1") = b;
	register long x2 __asm__("x2") = c, x3 __asm__("x3") = d, x4 __asm__("x4") = e;

	__asm__ volatile("svc #0" : "+r"(x0)
			 : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4) : "memory");
	return x0;
}
#else
#error "fex-tso: x86_64 or arm64 only"
#endif

/* Asahi Linux's include/uapi/linux/prctl.h, as FEX defines them when libc does not. */
#define PR_SET_MEM_MODEL		0x4d4d444c
#define PR_GET_MEM_MODEL		0x6d4d444c
#define PR_SET_MEM_MODEL_DEFAULT	0
#define PR_SET_MEM_MODEL_TSO		1
#define PR_SET_NAME			15
#define PR_GET_NAME			16
#define EINVAL				22

static char line[160];
static int len, failed;

static void put(const char *s)
{
	while (*s && len < (int)sizeof(line) - 1)
		line[len++] = *s++;
}

static void put_num(long v)
{
	char d[24];
	int n = 0;

	if (v < 0) {
		put("-");
		v = -v;
	}
	do
		d[n++] = '0' + v % 10;
	while ((v /= 10) && n < 23);
	while (n)
		line[len < (int)sizeof(line) - 1 ? len++ : len] = d[--n];
}

static void flush(void)
{
	line[len++] = '\n';
	sys(SYS_write, 1, (long)line, len, 0, 0);
	len = 0;
}

static long prctl(long option, long a2, long a3, long a4, long a5)
{
	return sys(SYS_prctl, option, a2, a3, a4, a5);
}

/* One check: the call NAME returned GOT, WANT expected. */
static void check(const char *name, long got, long want)
{
	put(got == want ? "ok   " : "FAIL ");
	put(name);
	put(" = ");
	put_num(got);
	if (got != want) {
		put(", wanted ");
		put_num(want);
		failed = 1;
	}
	flush();
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
	long r, want_get, want_set;
	char name[16] = { 0 };
	int hw;

	if (sp[0] != 2 || !(same(argv[1], "hw") || same(argv[1], "stock"))) {
		put("usage: fex-tso hw|stock");
		flush();
		sys(SYS_exit, 2, 0, 0, 0, 0);
	}
	hw = same(argv[1], "hw");
	want_get = hw ? PR_SET_MEM_MODEL_DEFAULT : -EINVAL;
	want_set = hw ? 0 : -EINVAL;

	/* FEX's own sequence, and what it concludes. */
	r = prctl(PR_GET_MEM_MODEL, 0, 0, 0, 0);
	check("prctl(PR_GET_MEM_MODEL, 0, 0, 0, 0)", r, want_get);
	if (r < 0) {
		put("FEX: PR_GET_MEM_MODEL unsupported: emulated TSO (barriers)");
	} else if (r == PR_SET_MEM_MODEL_DEFAULT) {
		r = prctl(PR_SET_MEM_MODEL, PR_SET_MEM_MODEL_TSO, 0, 0, 0);
		check("prctl(PR_SET_MEM_MODEL, TSO, 0, 0, 0)", r, want_set);
		put(r == 0 ? "FEX: hardware TSO (no barriers)" :
			     "FEX: TSO refused: emulated TSO (barriers)");
	} else {
		put("FEX: model already set: FEX leaves it, emulated TSO");
	}
	flush();
	if (hw && r != 0)
		failed = 1;

	/* FEXGetConfig's probe: TSO, then DEFAULT back. */
	check("prctl(PR_SET_MEM_MODEL, TSO)", prctl(PR_SET_MEM_MODEL, PR_SET_MEM_MODEL_TSO, 0, 0, 0),
	      want_set);
	check("prctl(PR_SET_MEM_MODEL, DEFAULT)",
	      prctl(PR_SET_MEM_MODEL, PR_SET_MEM_MODEL_DEFAULT, 0, 0, 0), want_set);
	check("prctl(PR_GET_MEM_MODEL) after SET", prctl(PR_GET_MEM_MODEL, 0, 0, 0, 0), want_get);
	/* Asahi's argument rules: anything else is -EINVAL, as on a stock kernel. */
	check("prctl(PR_GET_MEM_MODEL, 1, 0, 0, 0)", prctl(PR_GET_MEM_MODEL, 1, 0, 0, 0), -EINVAL);
	check("prctl(PR_GET_MEM_MODEL, 0, 0, 0, 1)", prctl(PR_GET_MEM_MODEL, 0, 0, 0, 1), -EINVAL);
	check("prctl(PR_SET_MEM_MODEL, 2)", prctl(PR_SET_MEM_MODEL, 2, 0, 0, 0), -EINVAL);
	check("prctl(PR_SET_MEM_MODEL, TSO, 1, 0, 0)",
	      prctl(PR_SET_MEM_MODEL, PR_SET_MEM_MODEL_TSO, 1, 0, 0), -EINVAL);
	/* The upper half of the option is not part of it (int option). */
	check("prctl(1 << 32 | PR_GET_MEM_MODEL)", prctl(1L << 32 | PR_GET_MEM_MODEL, 0, 0, 0, 0),
	      want_get);
	/* Other prctls pass untouched. */
	check("prctl(PR_SET_NAME, \"fex-probe\")", prctl(PR_SET_NAME, (long)"fex-probe", 0, 0, 0), 0);
	check("prctl(PR_GET_NAME)", prctl(PR_GET_NAME, (long)name, 0, 0, 0), 0);
	check("PR_GET_NAME is \"fex-probe\"", same(name, "fex-probe"), 1);
	check("prctl(0x7fff0000) (unknown)", prctl(0x7fff0000, 0, 0, 0, 0), -EINVAL);
	sys(SYS_exit, failed, 0, 0, 0, 0);
	for (;;)
		;
}

/* The kernel starts a process at its argument count, on a stack aligned for a call. */
#if defined(__x86_64__)
__asm__(".global _start\n_start:\n\tmov %rsp, %rdi\n\tand $-16, %rsp\n\tcall dp_main\n");
#else
__asm__(".global _start\n_start:\n\tmov x0, sp\n\tbl dp_main\n");
#endif
