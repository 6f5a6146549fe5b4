#!/usr/bin/env bash
# Fetches Debian guest kernels and the means to build modules for them, unpacked
# (dpkg -x), never installed on the host.
#
#   rig/kernels.sh [SERIES...]     default: bookworm trixie sid
#
# For each series the newest kernel ABI in that suite is resolved at run time (sid's
# changes weekly). Per series, build/kernels/SERIES/ holds:
#   root/       a minimal chroot of that suite (mmdebstrap) with the gcc the kernel was
#               built with, its aarch64 cross gcc and linux-kbuild; the amd64 and arm64
#               headers are unpacked into it. Newer suites' kbuild binaries need a newer
#               libc than the host's, and the headers' Makefiles use absolute /usr/src
#               paths, so modules are built inside it (rig/kmod-build.sh).
#   ARCH/       the unpacked kernel image and modules for amd64 and arm64.
# build/kernels/SERIES-ARCH.env describes one (series, arch) pair for the runner.
set -euo pipefail
. "$(dirname "$0")/apt-env.sh"

kroot=$DP_TOP/build/kernels
mkdir -p "$kroot" "$DP_CACHE/debs"
log() { echo "kernels: $*" >&2; }

dp_apt_setup amd64
dp_apt_setup arm64

# Newest concrete ABI of a suite, e.g. 7.2.13+deb14 or 6.1.0-50.
abi_of() {
	dp_apt_cache "$2" show "linux-image-$2/$1" 2>/dev/null |
		sed -n "s/^Depends:.*linux-image-\([^ ,]*\)-$2 (.*/\1/p" | head -n1
}

# Downloads packages into the deb cache (once) and prints their paths.
fetch_debs() {
	local arch=$1
	shift
	local p f
	for p in "$@"; do
		f=$(ls "$DP_CACHE/debs/${p}_"*"_$arch.deb" "$DP_CACHE/debs/${p}_"*_all.deb 2>/dev/null | head -n1 || true)
		if [ -z "$f" ]; then
			(cd "$DP_CACHE/debs" && dp_apt "$arch" download -q "$p" >/dev/null 2>&1) ||
				{ log "cannot download $p ($arch)"; return 1; }
			f=$(ls "$DP_CACHE/debs/${p}_"*"_$arch.deb" "$DP_CACHE/debs/${p}_"*_all.deb 2>/dev/null | head -n1)
		fi
		echo "$f"
	done
}

# The packages that carry the kernel binary and its modules: sid splits them out of
# linux-image-ABI-ARCH into linux-binary-* and linux-modules-*.
image_pkgs() {
	local abi=$1 arch=$2 img=linux-image-$1-$2
	echo "$img"
	dp_apt_cache "$arch" show "$img" | sed -n '/^Depends:/{s/^Depends://;s/,/\n/g;p;q}' |
		sed -n "s/^ *\(linux-\(binary\|modules\)-$abi-$arch\) .*/\1/p"
}

setup_series() {
	local series=$1 abi gccv key root arch
	abi=$(abi_of "$series" amd64)
	[ -n "$abi" ] || { log "no kernel found in $series"; return 1; }
	local dir=$kroot/$series
	root=$dir/root
	key="$series $abi keep-symlinks"
	if [ "$(cat "$dir/.key" 2>/dev/null)" != "$key" ]; then
		log "$series: kernel ABI $abi"
		rm -rf "$dir" && mkdir -p "$dir"
		local hdr_amd64 hdr_arm64 common kbuild
		hdr_amd64=$(fetch_debs amd64 "linux-headers-$abi-amd64")
		hdr_arm64=$(fetch_debs arm64 "linux-headers-$abi-arm64")
		common=$(fetch_debs amd64 "linux-headers-$abi-common")
		gccv=$(dpkg-deb --fsys-tarfile "$hdr_amd64" | tar -xO --wildcards '*/.kernelvariables' |
			sed -n 's/^CC *=.*gcc-\([0-9]*\).*/\1/p')
		[ -n "$gccv" ] || { log "$series: cannot tell the kernel's gcc version"; return 1; }
		# linux-kbuild-6.1 in bookworm, linux-kbuild-ABI later.
		kbuild=$(dpkg-deb -f "$hdr_amd64" Depends | grep -o 'linux-kbuild-[^ ,]*')
		log "$series: chroot with gcc-$gccv (mmdebstrap)"
		mmdebstrap --quiet --variant=apt --aptopt='Acquire::Check-Valid-Until "false"' \
			--include="make,bc,kmod,libc6-dev,gcc-$gccv,gcc-$gccv-aarch64-linux-gnu,$kbuild" \
			"$series" "$root" "$DP_MIRROR" >"$dir/mmdebstrap.log" 2>&1 ||
			{ tail -20 "$dir/mmdebstrap.log"; return 1; }
		# Bookworm's headers ship /lib/modules: plain dpkg -x would replace the merged-/usr
		# /lib symlink by a directory and break every binary in the chroot.
		for f in "$hdr_amd64" "$hdr_arm64" "$common"; do
			dpkg-deb --fsys-tarfile "$f" | tar -x --keep-directory-symlink -C "$root"
		done
		for arch in amd64 arm64; do
			mkdir -p "$dir/$arch"
			for f in $(fetch_debs "$arch" $(image_pkgs "$abi" "$arch")); do dpkg -x "$f" "$dir/$arch"; done
		done
		echo "$key" >"$dir/.key"
	fi
	for arch in amd64 arm64; do
		local krel=$abi-$arch img
		img=$(ls "$dir/$arch/boot/vmlinuz-$krel" "$dir/$arch/usr/lib/modules/$krel/vmlinuz" 2>/dev/null || true)
		[ -n "$img" ] || { log "$series-$arch: no kernel image"; return 1; }
		local kmods
		kmods=$(ls -d "$dir/$arch"/{usr/,}lib/modules/"$krel" 2>/dev/null | head -n1 || true)
		# Packages leave modules.dep to the installer; the runner's modprobe needs it.
		if [ ! -f "$kmods/modules.dep" ]; then
			depmod -b "${kmods%/lib/modules/*}" "$krel" 2>/dev/null ||
				{ log "$series-$arch: depmod failed"; return 1; }
		fi
		cat >"$kroot/$series-$arch.env" <<ENV
SERIES=$series
ARCH=$arch
KREL=$krel
KIMAGE=$img
KMODULES=$kmods
KCHROOT=$root
KDIR=/usr/src/linux-headers-$krel
ENV
		log "$series-$arch: $krel"
	done
}

for s in ${@:-bookworm trixie sid}; do setup_series "$s"; done
