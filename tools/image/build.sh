#!/usr/bin/env bash
# dartpass image build: a bootable Debian disk image (qcow2) made from Debian packages
# only, with pvdma installed as a DKMS package and built by DKMS inside the image.
# Called by `dartpass image build|path` (tools/dartpass/cmd-image.c); usable alone:
#
#   tools/image/build.sh [--arch=amd64|arm64] [--suite=trixie] [--size=8G]
#                        [--out=FILE] [--cache=DIR] [--force] [--print-path]
#
# Needs root (mmdebstrap's root mode, chroot) and the host packages of rig/deps.sh.
# The mirror comes from the machine's apt configuration (rig/apt-env.sh). The result is
# cached: its name carries a hash of every input (suite, arch, size, packages, the
# module's sources, these scripts), so a second build with nothing changed returns at
# once. Exit status: 0 built or cached, 1 failed, 2 usage.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
arch=amd64 suite=trixie size=8G out= cache= force= print=
for a in "$@"; do
	case $a in
	--arch=*) arch=${a#*=} ;;
	--suite=*) suite=${a#*=} ;;
	--size=*) size=${a#*=} ;;
	--out=*) out=${a#*=} ;;
	--cache=*) cache=${a#*=} ;;
	--force) force=1 ;;
	--print-path) print=1 ;;
	*) echo "image: unknown argument $a" >&2; exit 2 ;;
	esac
done
case $arch in
amd64) console=ttyS0 roottype=4f68bce3-e8cd-4db1-96e7-fbcaf984b709 ;;
arm64) console=ttyAMA0 roottype=b921b045-1df0-41c3-af44-4c6f280d3fae ;;
*) echo "image: --arch: amd64 or arm64, not $arch" >&2; exit 2 ;;
esac
size_b=$(numfmt --from=iec "$size" 2>/dev/null) || { echo "image: --size: not a size: $size" >&2; exit 2; }
[ "$size_b" -ge $((2 << 30)) ] || { echo "image: --size: at least 2G" >&2; exit 2; }
cache=${cache:-$top/build/image}

# Kept small: every package is unpacked (and for arm64 configured under qemu-user) at
# build time and started at boot. linux-headers pulls gcc and make for DKMS; dbus lets
# systemctl reach systemd (poweroff without complaints); pciutils, lspci.
pkgs=(linux-image-$arch linux-headers-$arch dkms initramfs-tools systemd-sysv udev
	systemd-boot systemd-boot-efi systemd-repart login passwd qemu-guest-agent kmod
	ca-certificates dbus pciutils)
ver=$(git -C "$top" describe --always --dirty 2>/dev/null || echo 0)
# The module's version in the package: the DKMS tree is /usr/src/pvdma-0.1.
modver=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' "$top/guest/dkms.conf")
key=$({
	echo "$suite $arch $size_b ${pkgs[*]}"
	cat "$here"/*.sh
	cd "$top" && cat guest/Kbuild guest/Makefile guest/dkms.conf guest/*.[ch] lib/*.[ch] include/*.h
} | sha256sum | cut -c1-12)
out=${out:-$cache/dartpass-$suite-$arch-$key.qcow2}
if [ -n "$print" ]; then echo "$out"; exit 0; fi
if [ -z "$force" ] && [ -s "$out" ] && [ "$(cat "$out.key" 2>/dev/null)" = "$key" ]; then
	echo "image: cached: $out (inputs unchanged, key $key)" >&2
	echo "$out"
	exit 0
fi

t0=$(date +%s)
step() { echo "image: [$1/7] $2 ($(($(date +%s) - t0)) s)" >&2; }
die() { echo "image: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (mmdebstrap's root mode and chroot): run as root"
for t in mmdebstrap dpkg-deb mkfs.ext4 mkfs.vfat mcopy sfdisk qemu-img; do
	command -v "$t" >/dev/null || die "$t missing: bash rig/deps.sh installs it"
done
. "$top/rig/apt-env.sh"

step 1 "$suite $arch, $size: checking the host"
# A foreign chroot runs its maintainer scripts (and DKMS's gcc) under qemu-user; the F
# flag opens the interpreter now, so it works inside the chroot.
if [ "$arch" != "$(dpkg --print-architecture)" ]; then
	[ "$arch" = arm64 ] || die "cannot build $arch on this host"
	bf=/proc/sys/fs/binfmt_misc
	[ -e $bf/register ] || mount -t binfmt_misc binfmt_misc $bf 2>/dev/null ||
		die "binfmt_misc is not mounted and cannot be (mount -t binfmt_misc binfmt_misc $bf)"
	if ! grep -qx enabled $bf/qemu-aarch64 2>/dev/null; then
		f=/usr/share/binfmts/qemu-aarch64
		[ -r $f ] || die "qemu-user-static missing ($f): bash rig/deps.sh installs it"
		field() { sed -n "s/^$1 //p" $f; }
		printf ':qemu-aarch64:M::%s:%s:%s:FP' "$(field magic)" "$(field mask)" "$(field interpreter)" \
			>$bf/register 2>/dev/null || die "cannot register qemu-aarch64 in $bf"
	fi
	grep -q '^flags:.*F' $bf/qemu-aarch64 ||
		die "qemu-aarch64 is registered in binfmt_misc without the F flag: it will not run inside a chroot"
	# qemu-user's default CPU, max, emulates pointer authentication (QARMA5) for the PAC
	# instructions in every function of Debian's arm64 programs: dpkg, xz, perl, gcc all
	# run several times slower. Without pauth they are NOPs; the image is the same.
	export QEMU_CPU=max,pauth=off
fi

work=$cache/work-$suite-$arch
# An interrupted mmdebstrap can leave /proc, /sys and /dev mounted in the tree:
# removing it then would reach the host's.
! grep -q " $work/" /proc/mounts ||
	die "file systems still mounted under $work (an interrupted build?): unmount them first"
rm -rf "$work"
mkdir -p "$work" "$cache" "$DP_CACHE/image-debs/$suite-$arch"
log=$cache/dartpass-$suite-$arch.log
: >"$log"

step 2 "the pvdma DKMS package (dartpass-pvdma-dkms $modver)"
pk=$work/pkg
make -s -C "$top/guest" dist DESTDIR="$pk/usr/src/pvdma-$modver" >>"$log" 2>&1
mkdir -p "$pk/DEBIAN"
cat >"$pk/DEBIAN/control" <<CTL
Package: dartpass-pvdma-dkms
Version: $modver+$ver
Architecture: all
Depends: dkms
Maintainer: dartpass
Section: kernel
Priority: optional
Description: pvdma guest module (DKMS source)
 DMA mapping through dartpass's paravirtual IOMMU device; DKMS builds it for
 every installed kernel and again for each new one.
CTL
# What dh_dkms's scripts do: add, build and install for every kernel with headers.
cat >"$pk/DEBIAN/postinst" <<POST
#!/bin/sh
set -e
[ "\$1" = configure ] || exit 0
dkms add -m pvdma -v $modver 2>/dev/null || true
for k in \$(ls /lib/modules); do
	[ -e /lib/modules/\$k/build ] || continue
	echo "image: [4/7] DKMS builds pvdma for \$k" >&2
	dkms install -m pvdma -v $modver -k "\$k"
done
POST
cat >"$pk/DEBIAN/prerm" <<PRERM
#!/bin/sh
set -e
dkms remove -m pvdma -v $modver --all 2>/dev/null || true
PRERM
chmod 755 "$pk/DEBIAN/postinst" "$pk/DEBIAN/prerm"
deb=$work/dartpass-pvdma-dkms.deb
dpkg-deb --root-owner-group -Zgzip -b "$pk" "$deb" >>"$log" 2>&1 || die "dpkg-deb failed (log: $log)"

step 3 "root tree with mmdebstrap: ${pkgs[*]}"
root=$work/root
# Downloaded packages are kept (build/cache/image-debs), so a rebuild after a source
# change does not fetch them again. dpkg skips its fsyncs while the tree is built (a
# failed build is thrown away); customize.sh takes force-unsafe-io out of the image.
debs=$DP_CACHE/image-debs/$suite-$arch
set +e
mmdebstrap --variant=apt --architectures="$arch" --aptopt='Acquire::Check-Valid-Until "false"' \
	--aptopt='APT::Install-Recommends "false"' --include="$(IFS=,; echo "${pkgs[*]}")" \
	--dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
	--dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
	--dpkgopt='force-unsafe-io' \
	--skip=essential/unlink \
	--setup-hook="mkdir -p \"\$1/var/cache/apt/archives\" && cp -a '$debs'/. \"\$1/var/cache/apt/archives/\"" \
	--essential-hook="'$here/customize.sh' early \"\$1\" $arch" \
	--customize-hook="cp -a \"\$1/var/cache/apt/archives/\"*.deb '$debs'/ 2>/dev/null || true" \
	--customize-hook="'$here/customize.sh' late \"\$1\" $arch '$deb' $console" \
	"$suite" "$root" "$DP_MIRROR" 2>&1 | tee -a "$log" |
	grep --line-buffered -E '^(image: |I: (downloading|extracting|installing|cleaning))' >&2
rc=${PIPESTATUS[0]}
set -e
[ "$rc" = 0 ] || { tail -n 30 "$log" >&2; die "mmdebstrap failed (exit $rc; log: $log)"; }
kver=$(ls "$root/lib/modules" | head -n1)

step 5 "ESP: systemd-boot, kernel $kver and its initrd"
esp=$work/esp.img
esp_mb=256
truncate -s ${esp_mb}M "$esp"
mkfs.vfat -F 32 -n ESP "$esp" >>"$log" 2>&1
(cd "$root/boot/efi" && mcopy -s -i "$esp" ./* ::/) >>"$log" 2>&1 ||
	die "mcopy to the ESP failed (log: $log)"
rm -rf "${root:?}/boot/efi"/*

# The kernel and initrd also beside the image, for run's --kernel/--initrd: a direct
# boot that keeps UEFI away from the managed devices (docs/launcher.md).
base=${out%.qcow2}
cp "$root/boot/vmlinuz-$kver" "$base.vmlinuz.tmp"
cp "$root/boot/initrd.img-$kver" "$base.initrd.tmp"

step 6 "disk: GPT, partitions, root file system (ext4 from the tree)"
# Layout: 1 MiB gap, ESP, root to the end (33 sectors left for the backup GPT). The
# root file system is made in place (-E offset): copying an 8G sparse file into the
# disk with dd reads every hole, about 25 s.
raw=$work/disk.raw
root_b=$((size_b - (esp_mb + 2) * 1024 * 1024))
truncate -s "$size_b" "$raw"
sfdisk -q "$raw" >>"$log" 2>&1 <<SF
label: gpt
start=2048, size=$((esp_mb * 2048)), type=c12a7328-f81f-11d2-ba4b-00a0c93ec93b, name=esp
start=$((2048 + esp_mb * 2048)), size=$((root_b / 512)), type=$roottype, name=root
SF
dd if="$esp" of="$raw" bs=1M seek=1 conv=notrunc,sparse status=none
mkfs.ext4 -q -F -L dartpass-root -E offset=$(((1 + esp_mb) * 1024 * 1024)) -d "$root" \
	"$raw" $((root_b / 1024))k >>"$log" 2>&1 || die "mkfs.ext4 -d failed (log: $log)"

step 7 "qcow2"
qemu-img convert -O qcow2 "$raw" "$out.tmp"
mv "$base.vmlinuz.tmp" "$base.vmlinuz"
mv "$base.initrd.tmp" "$base.initrd"
mv "$out.tmp" "$out"
echo "$key" >"$out.key"
ln -sf "$(basename "$out")" "$cache/dartpass-$suite-$arch.qcow2"
rm -rf "$work"
echo "image: done in $(($(date +%s) - t0)) s: $out ($(du -h "$out" | cut -f1) used of $(numfmt --to=iec "$size_b"); kernel $kver)" >&2
echo "$out"
