#!/usr/bin/env bash
# Builds the pinned QEMU with dartpass's devices, out of tree, with ccache.
#
#   qemu/build.sh            -> build/qemu/qemu-system-{x86_64,aarch64}
#   QEMU_EXTRA_TARGETS=tests/qtest/pvdma-test qemu/build.sh     also other ninja targets
#
# Source: Debian's repack of upstream QEMU (QEMU_VERSION, checksum pinned below). On a
# machine without Debian's archive (macOS), point QEMU_TARBALL at upstream's
# qemu-$QEMU_VERSION.tar.xz and QEMU_SHA256 at its checksum; the patches and the link
# step are the same because they only touch upstream files.
#
# On macOS (qemu/build-macos.sh runs this) it also applies qemu/patches/macos/*.patch,
# after the others, and configures --enable-hvf; QEMU_PYTHON names the Python that
# runs configure (default /usr/bin/python3).
#
# Steps: fetch + verify -> unpack to a staging tree -> apply qemu/patches/*.patch ->
# sync into build/qemu-src by content (unchanged files keep their mtimes, so ninja stays
# incremental) -> symlink qemu/src/** over the tree -> configure (once) -> ninja.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
QEMU_VERSION=${QEMU_VERSION:-10.2.2}
QEMU_DEB_ORIG=qemu_${QEMU_VERSION}+ds.orig.tar.xz
QEMU_DEB_SHA256=be05230fe47a6937cd29f28f562932c8125f9c93c2a82c625198f7a4aa601dfb
QEMU_TARGETS=${QEMU_TARGETS:-x86_64-softmmu,aarch64-softmmu}
cache=$top/build/cache
# The patches, in order: qemu/patches/*.patch, then on macOS qemu/patches/macos/*.patch.
patches=("$top"/qemu/patches/*.patch)
if [ "$(uname -s)" = Darwin ]; then
	patches+=("$top"/qemu/patches/macos/*.patch)
fi
src=$top/build/qemu-src
bld=$top/build/qemu
mkdir -p "$cache/dl"

log() { echo "qemu/build: $*" >&2; }

fetch() {
	if [ -n "${QEMU_TARBALL:-}" ]; then
		tarball=$QEMU_TARBALL
		sum=${QEMU_SHA256:?QEMU_SHA256 must accompany QEMU_TARBALL}
		return
	fi
	tarball=$cache/dl/$QEMU_DEB_ORIG
	sum=$QEMU_DEB_SHA256
	[ -f "$tarball" ] && return
	. "$top/rig/apt-env.sh"
	# The pool path outlives the version's presence in sid's index; apt is the fallback.
	log "fetching $QEMU_DEB_ORIG"
	wget -q -O "$tarball.part" "$DP_MIRROR/pool/main/q/qemu/$QEMU_DEB_ORIG" ||
		(cd "$cache/dl" && dp_apt amd64 source -q --download-only "qemu=1:$QEMU_VERSION+ds-1" &&
			mv "$QEMU_DEB_ORIG" "$tarball.part")
	mv "$tarball.part" "$tarball"
}

verify() {
	echo "$sum  $tarball" | sha256sum -c --quiet - ||
		{ log "checksum mismatch for $tarball"; rm -f "$tarball"; exit 1; }
}

# Key of everything that determines the patched tree.
tree_key() {
	{ echo "$sum"; cat "${patches[@]}"; } | sha256sum | cut -d' ' -f1
}

prepare_tree() {
	local key stage
	key=$(tree_key)
	if [ "$(cat "$src/.dartpass-key" 2>/dev/null)" != "$key" ]; then
		verify
		stage=$top/build/qemu-stage
		rm -rf "$stage" && mkdir -p "$stage"
		log "unpacking $(basename "$tarball")"
		tar -xf "$tarball" -C "$stage" --strip-components=1
		for p in "${patches[@]}"; do
			patch -s -p1 -d "$stage" <"$p" || { log "patch failed: $p"; exit 1; }
		done
		mkdir -p "$src"
		rsync -rlc --delete --exclude=.dartpass-key "$stage/" "$src/"
		rm -rf "$stage"
		echo "$key" >"$src/.dartpass-key"
	fi
	# Our sources live in qemu/src with QEMU's layout; link them in on every run so
	# new files appear without re-unpacking.
	(cd "$top/qemu/src" && find . -type f) | while read -r f; do
		mkdir -p "$src/$(dirname "$f")"
		ln -sfn "$top/qemu/src/$f" "$src/$f"
	done
	# The emulated DART is lib/'s model, compiled into the device as it is into the
	# simulator; the wire headers are include/'s, the single source.
	for f in "$top"/lib/dp_*.[ch] "$top"/include/*.h; do
		ln -sfn "$f" "$src/hw/pvdma/$(basename "$f")"
	done
}

# Repacked trees (Debian's +ds) carry no firmware; -machine pc/q35 needs SeaBIOS even
# under qtest, so take the distribution's build of it where the tree has none. An
# uninstalled QEMU looks for data files in its build's qemu-bundle.
link_firmware() {
	local f data
	data=$("$bld/qemu-system-${QEMU_TARGETS%%-*}" -L help | tail -n1)
	for f in bios-256k.bin; do
		if [ ! -e "$src/pc-bios/$f" ] && [ -e "/usr/share/seabios/$f" ]; then
			ln -sfn "/usr/share/seabios/$f" "$data/$f"
		fi
	done
	# Option ROMs built from source above (linuxboot_dma.bin for -kernel, kvmvapic.bin).
	for f in "$bld"/pc-bios/optionrom/*.bin; do
		[ -e "$f" ] && ln -sfn "$f" "$data/$(basename "$f")"
	done
}

# pixman: the display's QMP screendump, which tests/guest/gpu.sh compares.
configure() {
	local flags="--target-list=$QEMU_TARGETS --without-default-features --enable-tcg --enable-fdt=system --enable-slirp --enable-pixman --disable-docs --disable-download --disable-install-blobs --disable-debug-info --python=${QEMU_PYTHON:-/usr/bin/python3}"
	[ "$(uname -s)" = Linux ] && flags="$flags --enable-kvm"
	[ "$(uname -s)" = Darwin ] && flags="$flags --enable-hvf"
	# Meson records absolute paths: a moved checkout needs a fresh build directory.
	local key="$flags in $bld"
	if [ "$(cat "$bld/.dartpass-flags" 2>/dev/null)" = "$key" ] && [ -f "$bld/build.ninja" ]; then
		return
	fi
	log "configuring: $flags"
	rm -rf "$bld" && mkdir -p "$bld"
	# shellcheck disable=SC2086
	(cd "$bld" && "$src/configure" $flags >configure.log 2>&1) ||
		{ tail -30 "$bld/configure.log"; exit 1; }
	echo "$key" >"$bld/.dartpass-flags"
}

# Meson records the compiler it finds at configure time. The compiler cache lives with
# the other caches under build/, so deleting build/ really starts from nothing.
[ -d /usr/lib/ccache ] && export PATH=/usr/lib/ccache:$PATH
export CCACHE_DIR=${CCACHE_DIR:-$top/build/cache/ccache}
fetch
prepare_tree
configure
ninja_targets=()
for t in ${QEMU_TARGETS//,/ }; do ninja_targets+=("qemu-system-${t%-softmmu}"); done
log "building ${ninja_targets[*]} ${QEMU_EXTRA_TARGETS:-}"
# shellcheck disable=SC2086
ninja -C "$bld" "${ninja_targets[@]}" ${QEMU_EXTRA_TARGETS:-} >"$bld/ninja.log" 2>&1 ||
	{ grep -E '^FAILED|error:|undefined reference' -A3 "$bld/ninja.log" | grep -v '^cc \|^c++ ' | head -60; exit 1; }
# x86 option ROMs (linuxboot_dma.bin for -kernel) are built from source by make, not ninja.
if [[ $QEMU_TARGETS == *x86_64* ]] && [ "$(uname -m)" = x86_64 ]; then
	make -s -C "$bld/pc-bios/optionrom" >>"$bld/ninja.log" 2>&1 || { tail -20 "$bld/ninja.log"; exit 1; }
fi
link_firmware
echo "$QEMU_VERSION" >"$bld/.dartpass-version"
log "QEMU $QEMU_VERSION ready in $bld"
