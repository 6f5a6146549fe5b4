#!/usr/bin/env bash
# Darwin-like compile of what qemu/patches/macos/0004-vfio-build-on-darwin.patch lets a
# macOS host build (hw/vfio's core, migration/vfio.c) and of our hw/pvdma sources that
# a macOS build compiles (qemu/src/hw/pvdma/meson.build's Darwin branch), on Linux,
# as TAP lines. Exits non-zero if any check fails.
#
# Uses only what tests/check's QEMU step leaves: build/qemu-src (qemu/patches/*.patch
# applied) and build/qemu (the Linux build: compile_commands.json, config-host.h,
# generated headers). It makes a scratch tree of hard links to build/qemu-src, applies
# qemu/patches/macos/*.patch there (GNU patch writes a new file and renames it over the
# link, so build/qemu-src keeps its content: checked below), and compiles each file
# with its Linux compile command (sources read from the scratch tree) changed as a
# Darwin host would have it:
#  - -nostdinc, with musl's self-contained libc headers (Debian's musl-dev) and gcc's
#    own include dir instead of glibc and the host kernel's UAPI headers: no
#    <linux/...>, <asm/...> but what the patch puts on the path, QEMU's linux-headers/
#    and include/compat/ (the Linux build's -isystem linux-headers are dropped);
#    __linux__ and friends undefined;
#  - config-host.h: CONFIG_LINUX and the Linux-only host features undefined,
#    CONFIG_DARWIN defined; the target configs without CONFIG_KVM;
#  - the device config minikconf computes for the patched Kconfig with CONFIG_DARWIN=y
#    and CONFIG_HVF=y (no LINUX, no KVM), for aarch64 and x86_64 (hvf's targets).
# Each file is compiled to an object at -O0 (nothing is kept), implicit function
# declarations and int conversions being errors as in Apple's clang, and then checked:
#  - which headers it read (-H): none from the host's /usr/include but the -I dirs of
#    its command (glib, pixman, ...); none of musl's Linux-only headers (sys/eventfd.h,
#    sys/epoll.h, ...; musl's own headers may include them) included from QEMU's or
#    our code;
#  - which functions it calls (nm -u): none of the Linux-only libc functions macOS
#    lacks (pipe2, eventfd, memfd_create, ...).
#
#   tests/tools/darwin-compile.sh
#   DP_KEEP=1 tests/tools/darwin-compile.sh       keep the scratch dir (logs: log/N, plan)
#   DP_QEMU_SRC=/tree DP_QEMU_BUILD=/build tests/tools/darwin-compile.sh   other inputs
#     (DP_QEMU_SRC: a tree like build/qemu-src, e.g. a hard-link copy with a file changed;
#     the commands are build/qemu's, with its source tree's paths taken to the copy)
#   DP_DARWIN_TARGETS=aarch64 tests/tools/darwin-compile.sh           one target only
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
src=${DP_QEMU_SRC:-$top/build/qemu-src}
bld=${DP_QEMU_BUILD:-$top/build/qemu}
pdir=${DP_MACOS_PATCHES:-$top/qemu/patches/macos}
musl=${DP_MUSL_INCLUDE:-/usr/include/x86_64-linux-musl}
targets=${DP_DARWIN_TARGETS:-aarch64 x86_64}
jobs=${DP_JOBS:-$(nproc 2>/dev/null || echo 2)}
name="darwin-like compile"
failed=0
ok() { echo "ok - $*"; }
notok() { echo "not ok - $*"; failed=1; }

# Preconditions: each missing one is a failure (tests/check runs this after the QEMU
# step and rig/deps.sh, which provide them).
for need in "$src/hw/vfio/pci.c" "$src/scripts/minikconf.py" "$bld/compile_commands.json" \
	"$bld/config-host.h" "$musl/stdio.h" "$pdir/0004-vfio-build-on-darwin.patch"; do
	if [ ! -e "$need" ]; then
		notok "$name: $need present (QEMU step: qemu/build.sh; musl: musl-dev)"
		exit 1
	fi
done
command -v patch >/dev/null && command -v nm >/dev/null && command -v python3 >/dev/null ||
	{ notok "$name: patch, nm and python3 installed"; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/darwin-compile.XXXXXX")
# DP_KEEP=1: leave the scratch dir (logs, objects) for a look.
if [ -n "${DP_KEEP:-}" ]; then trap 'echo "# kept $work"' EXIT; else trap 'rm -rf "$work"' EXIT; fi
tree=$work/src cfg=$work/cfg log=$work/log
mkdir -p "$tree" "$cfg" "$log" "$work/extra"

# The files the macOS patches touch, as build/qemu-src has them now.
patched=$(sed -n 's#^+++ b/\([^[:space:]]*\).*#\1#p' "$pdir"/*.patch | sort -u)
snapshot() { (cd "$src" && for f in $patched; do [ -e "$f" ] && sha256sum "$f"; done; true); }
before=$(snapshot)

# The scratch tree: hard links (cp -al), without the big directories no compile reads.
for e in "$src"/* "$src"/.[!.]*; do
	[ -e "$e" ] || continue
	case ${e##*/} in roms | tests | docs | pc-bios | linux-user | bsd-user) continue ;; esac
	cp -al "$e" "$tree/" || { notok "$name: hard-link copy of $src"; exit 1; }
done
# On a macOS host build.sh has applied the macOS patches to build/qemu-src already.
if patch -p1 -R --dry-run -s -f --fuzz=0 -d "$tree" <"$pdir/0004-vfio-build-on-darwin.patch" >/dev/null 2>&1; then
	echo "# $src has the macOS patches applied already"
else
	for p in "$pdir"/*.patch; do
		if ! out=$(patch -p1 -f -s --fuzz=0 --no-backup-if-mismatch -d "$tree" <"$p" 2>&1); then
			notok "$name: $(basename "$p") applies (see tests/tools/macos-patches.sh)"
			printf '%s\n' "$out" | sed 's/^/#   /' | head -20
			exit 1
		fi
	done
fi

# config-host.h: what macOS lacks undefined (Linux-only syscalls, headers, features),
# CONFIG_DARWIN defined.
undef="CONFIG_ACCEPT4 CONFIG_AF_VSOCK CONFIG_BLKZONED CONFIG_CLOCK_ADJTIME CONFIG_CLOSE_RANGE
CONFIG_DUP3 CONFIG_EPOLL CONFIG_EPOLL_CREATE1 CONFIG_EVENTFD CONFIG_FALLOCATE
CONFIG_FALLOCATE_PUNCH_HOLE CONFIG_FALLOCATE_ZERO_RANGE CONFIG_FIEMAP CONFIG_FSFREEZE
CONFIG_FSTRIM CONFIG_GETAUXVAL CONFIG_GETCPU CONFIG_GETRANDOM CONFIG_GETTID CONFIG_INOTIFY
CONFIG_INOTIFY1 CONFIG_KVM_TARGETS CONFIG_LINUX CONFIG_LINUX_MAGIC_H CONFIG_MEMALIGN
CONFIG_MEMFD CONFIG_OPEN_BY_HANDLE CONFIG_PPOLL CONFIG_PRCTL_PR_SET_TIMERSLACK
CONFIG_PTHREAD_AFFINITY_NP CONFIG_PTHREAD_SETNAME_NP_W_TID CONFIG_RTNETLINK CONFIG_SENDFILE
CONFIG_SETNS CONFIG_SIGNALFD CONFIG_SPLICE CONFIG_SYNCFS CONFIG_SYNC_FILE_RANGE
CONFIG_SYSMACROS CONFIG_TIMERFD CONFIG_POSIX_FALLOCATE CONFIG_AVX2_OPT CONFIG_AVX512BW_OPT
CONFIG_CPUID_H CONFIG_LINUX_AIO CONFIG_LINUX_IO_URING CONFIG_VHOST_KERNEL CONFIG_VHOST_VDPA
CONFIG_VHOST_NET_VDPA CONFIG_KVM CONFIG_VFIO_USER_SERVER CONFIG_TPM
HAVE_BLK_ZONE_REP_CAPACITY HAVE_BTRFS_H HAVE_COPY_FILE_RANGE HAVE_FSXATTR
HAVE_IPPROTO_MPTCP HAVE_MLOCK_ONFAULT HAVE_OPENAT2_H HAVE_PTY_H HAVE_STRCHRNUL
HAVE_STRUCT_STAT_ST_ATIM HAVE_GETIFADDRS_LINUX HAVE_SYSTEM_FUNCTION"
sedargs=()
for s in $undef; do sedargs+=(-e "s/^#define $s\b.*/#undef $s/"); done
sed "${sedargs[@]}" -e 's/^#undef CONFIG_DARWIN$/#define CONFIG_DARWIN/' "$bld/config-host.h" >"$cfg/config-host.h"
grep -q '^#define CONFIG_DARWIN$' "$cfg/config-host.h" || echo '#define CONFIG_DARWIN' >>"$cfg/config-host.h"
if grep -q '^#define CONFIG_LINUX\b' "$cfg/config-host.h"; then
	notok "$name: config-host.h without CONFIG_LINUX"
	exit 1
fi
# Devices and target configs, per target, as meson computes them on a Mac (hvf, no KVM).
for t in $targets; do
	[ -f "$bld/$t-softmmu-config-target.h" ] || { notok "$name: $t-softmmu in $bld"; exit 1; }
	sed -e 's/^#define CONFIG_KVM\b.*/#undef CONFIG_KVM/' "$bld/$t-softmmu-config-target.h" >"$cfg/$t-softmmu-config-target.h"
	if ! python3 "$tree/scripts/minikconf.py" --defconfig "$t-softmmu-config-devices.mak" "$cfg/$t.d" \
		"$tree/configs/devices/$t-softmmu/default.mak" "$tree/Kconfig" \
		CONFIG_PIXMAN=y CONFIG_IVSHMEM=y CONFIG_FDT=y CONFIG_DARWIN=y CONFIG_TCG=y CONFIG_HVF=y \
		"CONFIG_${t^^}=y" CONFIG_TARGET_BIG_ENDIAN=n >"$cfg/$t.mak" 2>"$log/minikconf-$t"; then
		notok "$name: minikconf for $t-softmmu with CONFIG_DARWIN=y"
		sed 's/^/#   /' "$log/minikconf-$t" | head -20
		exit 1
	fi
	sed -n 's/^\(CONFIG_[A-Za-z0-9_]*\)=y$/#define \1 1/p' "$cfg/$t.mak" >"$cfg/$t-softmmu-config-devices.h"
	# The file list below assumes this configuration: say so if it changes.
	want="CONFIG_VFIO=y CONFIG_VFIO_PCI=y CONFIG_PVDMA_PCI=y CONFIG_DARTPASS_PCI=y CONFIG_IOMMUFD= CONFIG_VFIO_IGD= CONFIG_VFIO_USER="
	got=$(for w in $want; do echo "${w%%=*}=$(sed -n "s/^${w%%=*}=\(y\)$/\1/p" "$cfg/$t.mak")"; done | paste -sd' ')
	if [ "$got" = "$want" ]; then
		ok "$name: $t-softmmu device config on Darwin has VFIO, VFIO_PCI, PVDMA_PCI, DARTPASS_PCI and no IOMMUFD, VFIO_IGD, VFIO_USER"
	else
		notok "$name: $t-softmmu device config on Darwin: want $want"
		echo "#   got $got"
	fi
done
# Headers that are in the host's /usr/include and that a Mac has too (zlib: the SDK's):
# copies (gcc -H names a symlinked header by its target).
for h in zlib.h zconf.h; do [ -e "/usr/include/$h" ] && cp "/usr/include/$h" "$work/extra/$h"; done

# The plan: one line per compile, "file<TAB>target<TAB>argv (NUL-separated) file".
python3 - "$bld/compile_commands.json" "$src" "$tree" "$cfg" "$musl" "$work" "$targets" <<'PY' >"$work/plan" 2>"$log/plan" || { notok "$name: compile plan"; sed 's/^/#   /' "$log/plan"; exit 1; }
import json, os, re, shlex, subprocess, sys
ccj, src, tree, cfg, musl, work, targets = sys.argv[1:]
targets = targets.split()
bld = os.path.dirname(os.path.abspath(ccj))
cc = json.load(open(ccj))
# The tree the build was configured from (its commands name it), which is build/qemu-src
# unless DP_QEMU_SRC gives another tree to compile.
try:
    bsrc = json.load(open(os.path.join(bld, "meson-info/meson-info.json")))["directories"]["source"]
except (OSError, KeyError, ValueError):
    bsrc = src
bsrc = os.path.abspath(bsrc)
relsrc = os.path.relpath(bsrc, bld)

def fix(a):
    # Source paths (absolute, or relative to the build dir) into the scratch tree.
    a = a.replace(bsrc, tree)
    for p in ("", "-I", "-isystem", "-iquote"):
        q = p + relsrc
        if a == q or a.startswith(q + "/"):
            return p + tree + a[len(q):]
    return a

def rel(e):
    return os.path.relpath(os.path.join(e["directory"], e["file"]), os.path.join(bld, relsrc))

notes = open(os.path.join(work, "notes"), "w")
by = {}
for e in cc:
    by.setdefault(rel(e), []).append(e)

# hw/vfio: everything the Linux build compiles, but what the macOS patch and the
# Darwin device config leave out (checked above: no IOMMUFD, no VFIO_IGD).
linux_only = {
    "hw/vfio/container-legacy.c": "/dev/vfio container, Linux hosts only (0004's hw/vfio/meson.build)",
    "hw/vfio/igd.c": "CONFIG_VFIO_IGD, Linux only",
    "hw/vfio/iommufd.c": "CONFIG_IOMMUFD, Linux only",
    "hw/vfio/cpr-iommufd.c": "CONFIG_IOMMUFD, Linux only",
}
files = sorted(f for f in by if f.startswith("hw/vfio/") and f.endswith(".c"))
for f in files:
    if f in linux_only:
        print("# not compiled on Darwin (%s): %s" % (linux_only[f], f), file=notes)
files = [f for f in files if f not in linux_only]
files.append("migration/vfio.c")
# hw/pvdma: meson.build without its Linux branch.
mb = open(os.path.join(tree, "hw/pvdma/meson.build")).read()
mb = re.sub(r"(?m)^\s*#.*$", "", mb)
darwin = re.sub(r"(?s)if host_os == 'linux'.*?(?=^elif|^else|^endif)", "", mb, flags=re.M)
if darwin == mb:
    sys.exit("hw/pvdma/meson.build: no Linux branch found")
files += ["hw/pvdma/" + f for f in re.findall(r"'([^']+\.c)'", darwin)]

out = []
for f in files:
    es = by.get(f)
    if not es:
        out.append((f, "-", None))
        continue
    pertarget = [e for e in es if "libqemu-" in e["output"]]
    if pertarget:
        pick = []
        for t in targets:
            m = [e for e in pertarget if e["output"].startswith("libqemu-%s-softmmu" % t)]
            pick.append((t, m[0] if m else None))
    else:
        pick = [("-", es[0])]
    for t, e in pick:
        if e is None:
            out.append((f, t, None))
            continue
        argv = shlex.split(e["command"])
        res, i, lh = [argv[0]], 1, None
        while i < len(argv):
            a = argv[i]
            if a in ("-o", "-MF", "-MQ"):
                i += 2; continue
            if a in ("-MD", "-c"):
                i += 1; continue
            # The Linux build's linux-headers (QEMU's copy and the asm link in the
            # build dir): on Darwin the patch adds linux-headers and include/compat.
            if a == "-isystem" and argv[i + 1].rstrip("/").endswith("linux-headers"):
                lh = len(res) if lh is None else lh
                i += 2; continue
            if a.startswith("-isystem") and a.rstrip("/").endswith("linux-headers"):
                lh = len(res) if lh is None else lh
                i += 1; continue
            if a == "-I/usr/include" or a == "-isystem/usr/include":
                sys.exit("%s: /usr/include on the path" % f)
            res.append(fix(a))
            i += 1
        if lh is None:
            lh = len(res) - 1
        res[lh:lh] = ["-isystem", tree + "/linux-headers", "-isystem", tree + "/include/compat"]
        src_arg = res.pop()
        if os.path.normpath(os.path.join(bld, src_arg)) != os.path.join(tree, f):
            sys.exit("%s: source argument %s not in the scratch tree" % (f, src_arg))
        gccinc = subprocess.check_output([res[0], "-print-file-name=include"], text=True).strip()
        obj = os.path.join(work, "obj", (t + "-" if t != "-" else "") + f.replace("/", "_") + ".o")
        res[1:1] = ["-nostdinc", "-iquote", cfg, "-isystem", musl, "-isystem", gccinc,
                    "-isystem", os.path.join(work, "extra"),
                    "-U__linux__", "-U__linux", "-Ulinux", "-U__gnu_linux__"]
        # Errors as Apple's clang has them by default (an undeclared function: one
        # that the host's headers do not declare).
        res += ["-Werror=implicit-function-declaration", "-Werror=int-conversion",
                "-O0", "-H", "-c", "-o", obj, src_arg]
        out.append((f, t, res))
for n, (f, t, res) in enumerate(out, 1):
    with open(os.path.join(work, "argv.%d" % n), "wb") as w:
        w.write("\0".join(res or []).encode())
    print(f + "\t" + t)
PY
mkdir -p "$work/obj"
cat "$work/notes"

# The compiles, $jobs at a time, each in the build dir (generated headers); logs in $log/N.
nplan=$(wc -l <"$work/plan")
run1() {
	local n=$1
	local -a argv
	if [ ! -s "$work/argv.$n" ]; then
		echo "no compile command in $bld/compile_commands.json" >"$log/$n"
		echo 1 >"$log/$n.rc"
		return
	fi
	mapfile -d '' -t argv <"$work/argv.$n"
	(cd "$bld" && "${argv[@]}") >"$log/$n" 2>&1
	echo $? >"$log/$n.rc"
}
for ((n = 1; n <= nplan; n++)); do
	while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n; done
	run1 $n &
done
wait

# Judge each: compile status, headers read, functions called.
python3 - "$work/plan" "$log" "$musl" "$work" "$bld" <<'PY' || failed=1
import os, re, subprocess, sys
plan, logdir, musl, work, bld = sys.argv[1:]
musl = os.path.realpath(musl)
# musl headers macOS has no counterpart of (or a different one: <malloc.h>,
# <endian.h>, <byteswap.h> ...). musl's own headers may include some (<features.h>,
# <endian.h>): only an include from outside musl counts.
linux_hdrs = set("""features.h byteswap.h endian.h malloc.h elf.h link.h mntent.h pty.h shadow.h
values.h lastlog.h mqueue.h crypt.h stdio_ext.h
sys/eventfd.h sys/epoll.h sys/signalfd.h sys/timerfd.h sys/inotify.h sys/fanotify.h
sys/prctl.h sys/sysmacros.h sys/vfs.h sys/statfs.h sys/sysinfo.h sys/sendfile.h sys/auxv.h
sys/personality.h sys/fsuid.h sys/klog.h sys/swap.h sys/membarrier.h sys/io.h sys/kd.h
sys/vt.h sys/soundcard.h sys/mtio.h sys/reg.h sys/user.h sys/procfs.h sys/cachectl.h
sys/timeb.h sys/stropts.h stropts.h sys/quota.h netpacket/packet.h netinet/ether.h
scsi/scsi.h scsi/sg.h scsi/scsi_ioctl.h""".split())
# libc functions a Linux host has and macOS does not (or with other arguments).
linux_funcs = set("""pipe2 dup3 accept4 ppoll eventfd eventfd_read eventfd_write epoll_create
epoll_create1 epoll_ctl epoll_wait epoll_pwait signalfd timerfd_create timerfd_settime
timerfd_gettime inotify_init inotify_init1 inotify_add_watch inotify_rm_watch memfd_create
fallocate posix_fallocate syncfs sync_file_range splice tee vmsplice getauxval gettid
getrandom prctl sendfile mremap clock_nanosleep pthread_setaffinity_np
pthread_getaffinity_np sched_getcpu memalign strchrnul mempcpy open_by_handle_at
name_to_handle_at setns unshare clone copy_file_range statx renameat2 personality
umount2 sysinfo get_nprocs secure_getenv qsort_r pthread_setname_np pthread_getname_np
ioperm iopl mallinfo malloc_trim memrchr rawmemchr euidaccess eaccess
pipe2 close_range epoll_pwait2 process_vm_readv process_vm_writev""".split())
allowed_usr = []
bad = 0
for n, line in enumerate(open(plan).read().split("\n")[:-1], 1):
    f, t = line.split("\t")
    what = "darwin-like compile: %s%s" % (f, "" if t == "-" else " (%s-softmmu)" % t)
    text = open(os.path.join(logdir, str(n)), errors="replace").read()
    rc = int(open(os.path.join(logdir, "%d.rc" % n)).read())
    args = open(os.path.join(work, "argv.%d" % n), "rb").read().split(b"\0")
    idirs = [os.path.realpath(os.path.join(bld, a[2:].decode())) for a in args
             if a.startswith(b"-I") and len(a) > 2 and a[2:].startswith(b"/usr/")]
    hdrs, problems, stack = [], [], [f]
    for l in text.split("\n"):
        m = re.match(r"^(\.+) (.*)$", l)
        if not m:
            continue
        d, p = len(m.group(1)), m.group(2)
        stack[d:] = [p]
        parent = stack[d - 1]
        rp = os.path.realpath(os.path.join(bld, p))
        if rp.startswith(musl + "/"):
            r = rp[len(musl) + 1:]
            prp = os.path.realpath(os.path.join(bld, parent))
            if r in linux_hdrs and not prp.startswith(musl + "/"):
                problems.append("Linux-only libc header <%s> included by %s" % (r, parent))
        elif rp.startswith("/usr/") and not any(rp.startswith(i + "/") for i in idirs) \
                and not p.startswith(os.path.join(work, "extra") + "/"):
            problems.append("host header %s (included by %s)" % (rp, parent))
    problems = list(dict.fromkeys(problems))
    if rc == 0:
        obj = args[args.index(b"-o") + 1].decode()
        und = subprocess.run(["nm", "-u", obj], capture_output=True, text=True).stdout.split()
        for s in sorted(set(und) & linux_funcs):
            problems.append("calls %s(), which macOS's libc lacks" % s)
    warns = [l for l in text.split("\n") if ": warning:" in l]
    if rc == 0 and not problems:
        print("ok - " + what)
        for l in warns[:5]:
            print("#   " + l)
        continue
    bad = 1
    print("not ok - " + what)
    lines = text.split("\n")
    errs = [l for l in lines if re.search(r": (fatal )?error:|^no compile", l)] + \
        [l for l in lines if ": warning:" in l]
    if rc != 0 and not errs:
        errs = [l for l in lines if l and not re.match(r"^(\.+ |Multiple include guards)", l)][-10:]
    for l in (errs[:8] + problems[:8]):
        print("#   " + l)
sys.exit(bad)
PY

# build/qemu-src as it was: the hard links were replaced, not written through.
after=$(snapshot)
if [ "$before" = "$after" ] && [ -n "$before" ]; then
	ok "$name: ${src#"$top"/} unchanged by the scratch tree's patches"
else
	notok "$name: ${src#"$top"/} unchanged by the scratch tree's patches"
	diff <(echo "$before") <(echo "$after") | sed 's/^/#   /' | head
fi
exit $failed
