#!/usr/bin/env bash
# Builds NVIDIA's open kernel modules (nvidia.ko, nvidia-uvm.ko) for one guest kernel
# from Debian's nvidia-open-kernel-source, inside that kernel's suite chroot, as
# rig/kmod-build.sh builds ours (docs/quirks.md, "NVIDIA UVM page size"); then derives
# the layout pvdma's UVM quirk needs from that build's headers and checks the quirk's
# table against it, and builds the stand-in nvidia.ko that tests/guest/nvidia/uvm-real.sh
# loads the real nvidia-uvm.ko against. Not part of tests/check: it needs contrib and a
# 36 MB download per arch (the build itself: 136 s amd64, 243 s arm64 cross, here).
#
#   rig/nvidia.sh build/kernels/SERIES-ARCH.env [OUT_DIR]    default build/mod-nvidia/SERIES-ARCH
#
# The source package is contrib, which the project's apt configuration (main only)
# does not list: a throwaway configuration beside it (build/cache/apt-contrib/ARCH),
# made from the same mirror, downloads it once into build/cache/nvidia/. The version
# is pinned (NV_VERSION): the quirk's table (guest/pvdma_uvm.c) is for that one.
#
# Why `NV_KERNEL_MODULES="nvidia nvidia-uvm"` and not nvidia-uvm alone: the conftest
# tests that nvidia-uvm's sources rely on through common/inc (e.g. nv-time.h's
# NV_KTIME_GET_REAL_TS64_PRESENT, the NV_IS_EXPORT_SYMBOL_* results) are listed in
# nvidia/nvidia.Kbuild; building nvidia-uvm alone never runs them, every such macro
# is undefined and the compat fallbacks collide with the kernel's own declarations.
# Also on the command line, as Debian's dkms build gets them from the headers'
# Makefile: SYSSRC (the -common tree), SYSOUT (the flavour's), CC (the kernel's gcc:
# conftest compiles its test programs with it and the kernel's flags) and, for arm64,
# ARCH and CROSS_COMPILE.
set -euo pipefail
. "$(dirname "$0")/apt-env.sh"
env=$1
# shellcheck disable=SC1090
. "$env"
NV_VERSION=${NV_VERSION:-550.163.01}
out=${2:-$DP_TOP/build/mod-nvidia/$SERIES-$ARCH}
cache=$DP_CACHE/nvidia
mkdir -p "$cache" "$out"
log() { echo "nvidia: $*" >&2; }

# A copy of the arch's apt configuration with contrib, in its own directory.
contrib_apt() {
	local arch=$1 dir=$DP_CACHE/apt-contrib/$1
	shift
	dp_apt_setup "$arch"
	if [ ! -f "$dir/apt.conf" ]; then
		mkdir -p "$dir/lists/partial" "$dir/archives/partial" "$dir/etc/preferences.d" "$dir/etc/sources.list.d"
		sed 's/ main$/ main contrib/' "$DP_APT/$arch/etc/sources.list" >"$dir/etc/sources.list"
		sed "s#$DP_APT/$arch#$dir#g" "$DP_APT/$arch/apt.conf" >"$dir/apt.conf"
		APT_CONFIG=$dir/apt.conf apt-get update -qq >&2
	fi
	APT_CONFIG=$dir/apt.conf apt-get "$@"
}

deb=$(ls "$cache/nvidia-open-kernel-source_${NV_VERSION}-"*"_$ARCH.deb" 2>/dev/null | sort -V | tail -n1 || true)
if [ -z "$deb" ]; then
	ver=$(contrib_apt "$ARCH" -qq --print-uris download nvidia-open-kernel-source 2>/dev/null |
		grep -o "nvidia-open-kernel-source_${NV_VERSION}-[^_]*_$ARCH.deb" | head -n1 || true)
	pv=
	if [ -z "$ver" ]; then
		# The default release may carry another version: ask for the pinned one.
		pv=$(APT_CONFIG=$DP_CACHE/apt-contrib/$ARCH/apt.conf apt-cache madison nvidia-open-kernel-source |
			awk -v v="$NV_VERSION" '$3 ~ "^" v "-" { print $3; exit }')
		[ -n "$pv" ] || { log "no nvidia-open-kernel-source $NV_VERSION for $ARCH in the archive"; exit 1; }
	fi
	(cd "$cache" && contrib_apt "$ARCH" download -q "nvidia-open-kernel-source${pv:+=$pv}" >/dev/null)
	deb=$(ls "$cache/nvidia-open-kernel-source_${NV_VERSION}-"*"_$ARCH.deb" | sort -V | tail -n1)
fi
log "$(basename "$deb") for $KREL"

# Unpacked once per arch: the tarball holds modules/nvidia-open-kernel/.
src=$cache/src-$ARCH
if [ "$(cat "$src/.deb" 2>/dev/null)" != "$(basename "$deb")" ]; then
	rm -rf "$src" && mkdir -p "$src"
	dpkg-deb --fsys-tarfile "$deb" | tar -xO --wildcards '*/nvidia-open-kernel.tar.xz' | tar -xJ -C "$src"
	basename "$deb" >"$src/.deb"
fi
tree=$src/modules/nvidia-open-kernel
grep -qF "NV_VERSION_STRING=\\\"$NV_VERSION\\\"" "$tree/Kbuild" ||
	{ log "$tree is not version $NV_VERSION"; exit 1; }

work=/build/$ARCH/nvidia-open-kernel-$NV_VERSION
gcc=$(sed -n 's/^CC *=.*\(gcc-[0-9]*\).*/\1/p' "$KCHROOT$KDIR/.kernelvariables" 2>/dev/null | head -n1)
gcc=${gcc:-gcc}
args="SYSSRC=${KDIR%-*}-common SYSOUT=$KDIR"
case $ARCH in
amd64) args="$args CC=$gcc ARCH=x86_64" ;;
arm64) args="$args CC=aarch64-linux-gnu-$gcc ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu-" ;;
esac
key="$(basename "$deb") $KREL $args"
if [ "$(cat "$out/.key" 2>/dev/null)" = "$key" ] && [ -f "$out/nvidia.ko" ] && [ -f "$out/nvidia-uvm.ko" ] &&
	[ -f "$KCHROOT$work/nvidia-uvm/.uvm_hal.o.cmd" ]; then
	log "built already: $out"
else
mkdir -p "$KCHROOT$work"
rsync -a --delete "$tree/" "$KCHROOT$work/"
# Debian's 6.12.117 carries the four-argument pci_resize_resource (exclude_bars, from
# 6.18), which 550.163.01-4's conftest does not know: nv-pci.c's one call (BAR1 resize)
# then fails to compile. Passing 0 (no BAR excluded) keeps the old behaviour; edited in
# the chroot's copy only, when the kernel's pci.h asks for it.
if grep -q 'pci_resize_resource(struct pci_dev \*dev, int i, int size,$' \
	"$KCHROOT${KDIR%-*}-common/include/linux/pci.h"; then
	sed -i 's/pci_resize_resource(pci_dev, NV_GPU_BAR1, requested_size)/pci_resize_resource(pci_dev, NV_GPU_BAR1, requested_size, 0)/' \
		"$KCHROOT$work/nvidia/nv-pci.c"
	grep -q 'requested_size, 0)' "$KCHROOT$work/nvidia/nv-pci.c" || { log "nv-pci.c: the pci_resize_resource call moved"; exit 1; }
	log "nv-pci.c: pci_resize_resource given exclude_bars=0 (this kernel's four-argument form)"
fi
t0=$(date +%s)
log "building nvidia nvidia-uvm in $KCHROOT$work ($args), log $out/build.log"
if ! unshare --mount sh -c "mount -t proc proc '$KCHROOT/proc' &&
	chroot '$KCHROOT' nice -n 19 make -C '$work' -j\"\$(nproc)\" $args \
		NV_KERNEL_MODULES='nvidia nvidia-uvm' modules" >"$out/build.log" 2>&1; then
	grep -m20 -E 'error|Error' "$out/build.log" >&2 || tail -n 20 "$out/build.log" >&2
	log "build failed for $KREL after $(($(date +%s) - t0)) s"
	exit 1
fi
cp "$KCHROOT$work/nvidia.ko" "$KCHROOT$work/nvidia-uvm.ko" "$out/"
echo "$key" >"$out/.key"
log "built $out/nvidia.ko, nvidia-uvm.ko in $(($(date +%s) - t0)) s"
fi

# The layout the quirk needs, from this version's own headers as compiled for this
# kernel: uvm_hal.o's own compiler command (kbuild's .cmd file) on a probe that prints
# offsetof() into its assembly (as the kernel's asm-offsets do) and refuses to compile
# if a signature or a field's type is not what guest/pvdma_uvm.c assumes.
cat >"$KCHROOT$work/nvidia-uvm/dp_uvm_layout.c" <<'C'
#include "uvm_gpu.h"
#include "uvm_hal.h"
#include "uvm_pmm_sysmem.h"

#define DP_LAYOUT(name, val) asm volatile("\n.ascii \"->DP " #name " %0\"" : : "i" (val))
#define DP_SAME(a, b) __builtin_types_compatible_p(__typeof__(a), b)

_Static_assert(DP_SAME(&uvm_hal_init_properties, void (*)(uvm_parent_gpu_t *)),
	       "uvm_hal_init_properties(uvm_parent_gpu_t *)");
_Static_assert(DP_SAME(&uvm_cpu_chunk_get_allocation_sizes, uvm_chunk_sizes_mask_t (*)(void)),
	       "uvm_cpu_chunk_get_allocation_sizes(void)");
_Static_assert(sizeof(uvm_chunk_sizes_mask_t) == 4, "a 32-bit mask");
_Static_assert(DP_SAME(((uvm_parent_gpu_t *)0)->pci_dev, struct pci_dev *), "pci_dev");
_Static_assert(DP_SAME(((uvm_parent_gpu_t *)0)->can_map_sysmem_with_large_pages, bool),
	       "can_map_sysmem_with_large_pages");

void dp_uvm_layout(void);
void dp_uvm_layout(void)
{
	DP_LAYOUT(pci_dev, offsetof(struct uvm_parent_gpu_struct, pci_dev));
	DP_LAYOUT(large_pages, offsetof(struct uvm_parent_gpu_struct, can_map_sysmem_with_large_pages));
	DP_LAYOUT(size, sizeof(struct uvm_parent_gpu_struct));
}
C
cmd=$(sed -n 's/^savedcmd_[^ ]*uvm_hal\.o := //p' "$KCHROOT$work/nvidia-uvm/.uvm_hal.o.cmd")
[ -n "$cmd" ] || { log "no compiler command for uvm_hal.o"; exit 1; }
cmd=${cmd//-Wp,-MMD,*uvm_hal.o.d/}
cmd=${cmd/-c -o $work\/nvidia-uvm\/uvm_hal.o $work\/nvidia-uvm\/uvm_hal.c/-S -o \/tmp\/dp_uvm_layout.s $work\/nvidia-uvm\/dp_uvm_layout.c}
case $cmd in *dp_uvm_layout.c*) ;; *) log "cannot rewrite uvm_hal.o's command"; exit 1 ;; esac
chroot "$KCHROOT" sh -c "cd '$KDIR' && $cmd" >"$out/layout.log" 2>&1 ||
	{ cat "$out/layout.log" >&2; log "the layout probe does not compile: signatures or types changed"; exit 1; }
sed -n 's/.*->DP \([a-z_]*\) [$#]*\([0-9]*\).*/\1 \2/p' "$KCHROOT/tmp/dp_uvm_layout.s" >"$out/layout"
log "$NV_VERSION $KREL: uvm_parent_gpu_struct: $(paste -sd' ' "$out/layout")"
# What guest/pvdma_uvm.c's table and the stand-in (tests/guest/uvm-standin) say.
pci=$(awk '$1 == "pci_dev" { print $2 }' "$out/layout")
big=$(awk '$1 == "large_pages" { print $2 }' "$out/layout")
def=PVDMA_UVM_$(echo "$NV_VERSION" | tr . _)_$(echo "$ARCH" | tr a-z A-Z)
for f in guest/pvdma_uvm.c tests/guest/uvm-standin/nvidia-uvm.c; do
	if grep -q "define $def $pci, $big\$" "$DP_TOP/$f"; then
		log "$f: $def = $pci, $big: matches"
	else
		log "$f: $def is not \"$pci, $big\": fix it"
		exit 1
	fi
done
# The built module itself: the version the quirk matches and the two symbols it probes,
# global functions of nvidia-uvm.ko.
ko=$out/nvidia-uvm.ko
ver=$(modinfo -F version "$ko")
[ "$ver" = "$NV_VERSION" ] || { log "$ko: version $ver, not $NV_VERSION"; exit 1; }
for s in uvm_hal_init_properties uvm_cpu_chunk_get_allocation_sizes; do
	nm "$ko" | grep " T $s\$" >/dev/null || { log "$ko: no global function $s"; exit 1; }
done
log "$ko: version $ver, name $(modinfo -F name "$ko"), uvm_hal_init_properties and uvm_cpu_chunk_get_allocation_sizes global (T)"

# The stand-in nvidia.ko that tests/guest/nvidia/uvm-real.sh loads the real nvidia-uvm.ko
# against (the real nvidia.ko needs an NVIDIA GPU): built as ours, its exports are the
# names in imports.h, which must be exactly what nvidia-uvm.ko takes from nvidia.ko.
# Being assembly, they get no modversions CRC (modpost writes 0, and the kernel would
# refuse them: "disagrees about version of symbol"); each is set here to the real
# nvidia.ko's, from the Module.symvers nvidia-uvm.ko was built against, at the
# stand-in's __crc_NAME in __kcrctab.
imports=$(sed -n 's/^DP_STUB(\(.*\))$/\1/p' "$DP_TOP/tests/guest/nvidia/nvidia-standin/imports.h")
wanted=$(nm -u "$ko" | awk '{ print $2 }' | grep -F -x -f <(awk '$3 ~ /\/nvidia$/ { print $2 }' "$KCHROOT$work/Module.symvers") | sort)
[ "$imports" = "$wanted" ] || { log "imports.h is not what nvidia-uvm.ko imports from nvidia.ko:"; diff <(echo "$imports") <(echo "$wanted") >&2; exit 1; }
bash "$DP_TOP/rig/kmod-build.sh" "$env" "$DP_TOP/tests/guest/nvidia/nvidia-standin" "$out/standin-build"
python3 - "$out/standin-build/nvidia.ko" "$KCHROOT$work/Module.symvers" "$out/nvidia-standin.ko" <<'PY'
import re, shutil, struct, subprocess, sys
ko, symvers, dst = sys.argv[1:]
crc = {f[1]: int(f[0], 16) for f in (l.split() for l in open(symvers)) if len(f) >= 3 and f[2].endswith('/nvidia')}
sec = subprocess.run(['readelf', '-SW', ko], check=True, capture_output=True, text=True).stdout
m = re.search(r'\]\s+__kcrctab\s+\S+\s+[0-9a-f]+\s+([0-9a-f]+)\s+([0-9a-f]+)', sec)
off, size = int(m.group(1), 16), int(m.group(2), 16)
data = bytearray(open(ko, 'rb').read())
n = 0
for line in subprocess.run(['nm', ko], check=True, capture_output=True, text=True).stdout.splitlines():
    f = line.split()
    if len(f) != 3 or not f[2].startswith('__crc_'):
        continue
    val, name = f[0], f[2]
    if not name.startswith('__crc_'):
        continue
    pos = int(val, 16)
    assert pos + 4 <= size, name
    struct.pack_into('<I', data, off + pos, crc[name[len('__crc_'):]])
    n += 1
assert n and n * 4 == size, (n, size)
open(dst, 'wb').write(data)
print(f'nvidia: stand-in nvidia.ko: {n} CRCs set from Module.symvers', file=sys.stderr)
PY
log "$out/nvidia-standin.ko: the stand-in nvidia.ko (module name nvidia) for tests/guest/nvidia/uvm-real.sh"
