#!/usr/bin/env bash
# Builds an out-of-tree module directory for one guest kernel, inside that kernel's
# suite chroot (see rig/kernels.sh).
#
#   rig/kmod-build.sh build/kernels/SERIES-ARCH.env SRC_DIR OUT_DIR
set -euo pipefail
env=$1 srcdir=$(cd "$2" && pwd) out=$3
# shellcheck disable=SC1090
. "$env"
cross=
[ "$ARCH" = arm64 ] && cross="ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu-"
name=$(basename "$srcdir")
work=/build/$ARCH/$name
mkdir -p "$KCHROOT$work" "$out"
# A module directory with a `dist` target (guest/) is assembled with its shared
# sources first, exactly as DKMS gets it.
src=$srcdir
if grep -q '^dist:' "$srcdir/Makefile" 2>/dev/null; then
	src=$(mktemp -d)
	trap 'rm -rf "$src"' EXIT
	make -s -C "$srcdir" dist DESTDIR="$src" >/dev/null
fi
rsync -rlc --delete --exclude='*.o' --exclude='*.ko' --exclude='*.mod*' --exclude='.*.cmd' \
	--exclude=Module.symvers --exclude=modules.order "$src/" "$KCHROOT$work/"
# shellcheck disable=SC2086
# objtool reads /proc; a private mount namespace keeps the mount from outliving the build.
if ! unshare --mount sh -c "mount -t proc proc '$KCHROOT/proc' &&
	chroot '$KCHROOT' make -s -C '$KDIR' M='$work' $cross modules" >"$out/build.log" 2>&1; then
	cat "$out/build.log" >&2
	echo "kmod-build: $name failed for $KREL" >&2
	exit 1
fi
cp "$KCHROOT$work"/*.ko "$out/"
