#!/usr/bin/env bash
# Builds dartpass on a Mac with Apple silicon, in one command:
#   1. checks the prerequisites, and says what to install when one is missing;
#   2. fetches upstream's qemu-$QEMU_VERSION.tar.xz and checks its SHA-256;
#   3. runs qemu/build.sh on it: qemu/patches/*.patch, then qemu/patches/macos/*.patch,
#      configured with --enable-hvf for aarch64-softmmu -> build/qemu/qemu-system-aarch64;
#   4. signs that binary with the hypervisor entitlement (qemu/hvf.entitlements);
#   5. builds the DriverKit provider (make -C provider/macos);
#   6. builds the dartpass CLI (make tools).
#
#   qemu/build-macos.sh
#   QEMU_TARBALL=~/Downloads/qemu-10.2.2.tar.xz qemu/build-macos.sh      a tarball you have
#   CODESIGN_IDENTITY="Apple Development: ..." qemu/build-macos.sh       sign with an identity
#                                                                         (default "-": ad hoc)
#   DP_SKIP_PROVIDER=1 DP_SKIP_TOOLS=1 qemu/build-macos.sh                QEMU only
#
# Prerequisites, checked below: macOS 14 or later on arm64 (macOS 15 and its SDK for
# -accel hvf,tso=on); the Xcode command line tools (xcode-select --install: clang, make,
# codesign, and Rez/SetFile, which QEMU's build runs on its binaries); Homebrew with
#   brew install ninja meson pkgconf glib pixman dtc libslirp python coreutils
# (ninja and meson build QEMU; pkgconf finds glib, pixman, libfdt from dtc and libslirp,
# which build.sh's configure flags require; python runs QEMU's configure; coreutils
# gives build.sh sha256sum). ccache is used when installed.
#
# The source: upstream's release tarball, qemu-$QEMU_VERSION.tar.xz from QEMU's download
# page, passed as QEMU_TARBALL (or QEMU_URL, fetched with curl). QEMU signs its tarballs
# (.sig) but publishes no SHA-256: check the signature once yourself. The value pinned
# below for 10.2.2 is the one independent projects pin for that tarball; for another
# QEMU_VERSION, QEMU_SHA256 is required.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
export QEMU_VERSION=${QEMU_VERSION:-10.2.2}
if [ "$QEMU_VERSION" = 10.2.2 ]; then
	QEMU_SHA256=${QEMU_SHA256:-784b296ff29c1417aa72323abcb2d2ea9ab9771724f577dcd785c3b04f21e176}
fi
CODESIGN_IDENTITY=${CODESIGN_IDENTITY:--}
ENTITLEMENTS=${DP_ENTITLEMENTS:-$top/qemu/hvf.entitlements}
bld=$top/build/qemu
qemu_bin=$bld/qemu-system-aarch64

log() { echo "build-macos: $*" >&2; }
die() { log "$*"; exit 1; }

# Version compare: vge A B is true when A >= B (dotted numbers).
vge() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -t. -k1,1n -k2,2n -k3,3n | head -n1)" = "$2" ]; }

check_prereqs() {
	local missing=() f os sdk brew_prefix
	[ "$(uname -s)" = Darwin ] || die "this script is for macOS; on Linux run qemu/build.sh"
	[ "$(uname -m)" = arm64 ] || die "dartpass passes GPUs through on Apple silicon (arm64); this is $(uname -m)"
	os=$(sw_vers -productVersion)
	vge "$os" 14.0 || die "macOS $os: QEMU $QEMU_VERSION with hvf needs macOS 14 or later"
	xcode-select -p >/dev/null 2>&1 ||
		die "no Xcode command line tools: run xcode-select --install"
	for f in clang make codesign Rez SetFile; do
		xcrun --find "$f" >/dev/null 2>&1 || command -v "$f" >/dev/null ||
			die "no $f in the Xcode command line tools (xcode-select --install; QEMU's build runs Rez and SetFile)"
	done
	sdk=$(xcrun --show-sdk-version 2>/dev/null || echo 0)
	if ! vge "$os" 15.0 || ! vge "$sdk" 15.0; then
		log "note: macOS $os, SDK $sdk: -accel hvf,tso=on needs macOS 15.0 and its SDK; QEMU will refuse it"
	fi
	command -v brew >/dev/null || die "no Homebrew (https://brew.sh), which provides QEMU's build dependencies"
	brew_prefix=$(brew --prefix)
	for f in ninja meson pkgconf glib pixman dtc libslirp coreutils; do
		brew list --formula --versions "$f" >/dev/null 2>&1 || missing+=("$f")
	done
	# "python" is an alias (python@3.x): look for the interpreter it links instead.
	[ -n "${QEMU_PYTHON:-}" ] || [ -x "$brew_prefix/bin/python3" ] || missing+=(python)
	[ ${#missing[@]} = 0 ] || die "missing Homebrew formulae: brew install ${missing[*]}"
	# GNU coreutils first (build.sh's sha256sum), then Homebrew's tools; ccache if there.
	PATH=$brew_prefix/opt/coreutils/libexec/gnubin:$brew_prefix/bin:$PATH
	[ -d "$brew_prefix/opt/ccache/libexec" ] && PATH=$brew_prefix/opt/ccache/libexec:$PATH
	export PATH
	export QEMU_PYTHON=${QEMU_PYTHON:-$brew_prefix/bin/python3}
	"$QEMU_PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 9))' ||
		die "$QEMU_PYTHON: QEMU's configure needs Python 3.9 or later"
	# build.sh must know about the macOS patches and hvf; say so rather than build a
	# QEMU without them.
	if ! grep -q 'patches/macos' "$top/qemu/build.sh" || ! grep -q 'enable-hvf' "$top/qemu/build.sh"; then
		die "qemu/build.sh does not apply qemu/patches/macos or configure --enable-hvf on Darwin yet"
	fi
	[ -f "$ENTITLEMENTS" ] || die "no entitlements file $ENTITLEMENTS"
}

fetch_qemu() {
	local dl
	[ -n "${QEMU_SHA256:-}" ] || die "QEMU $QEMU_VERSION has no pinned checksum here: set QEMU_SHA256"
	if [ -z "${QEMU_TARBALL:-}" ]; then
		dl=$top/build/cache/dl
		mkdir -p "$dl"
		QEMU_TARBALL=$dl/qemu-$QEMU_VERSION.tar.xz
		if [ ! -f "$QEMU_TARBALL" ]; then
			[ -n "${QEMU_URL:-}" ] ||
				die "set QEMU_TARBALL to qemu-$QEMU_VERSION.tar.xz (QEMU's download page), or QEMU_URL to its address"
			log "fetching $QEMU_URL"
			curl -fL --retry 3 -o "$QEMU_TARBALL.part" "$QEMU_URL"
			mv "$QEMU_TARBALL.part" "$QEMU_TARBALL"
		fi
	fi
	[ -f "$QEMU_TARBALL" ] || die "no tarball at $QEMU_TARBALL"
	# Checked here too, so that a bad download is named before build.sh (which would
	# delete the file) sees it.
	echo "$QEMU_SHA256  $QEMU_TARBALL" | shasum -a 256 -c --status ||
		die "checksum mismatch for $QEMU_TARBALL (expected $QEMU_SHA256); delete it to fetch again"
	export QEMU_TARBALL QEMU_SHA256
}

build_qemu() {
	log "QEMU $QEMU_VERSION (hvf, aarch64-softmmu) via qemu/build.sh"
	QEMU_TARGETS=aarch64-softmmu bash "$top/qemu/build.sh"
	[ -x "$qemu_bin" ] || die "qemu/build.sh finished without $qemu_bin"
	grep -q -- '--enable-hvf' "$bld/.dartpass-flags" ||
		die "build/qemu was configured without --enable-hvf"
	grep -q 'hvf_region_flags' "$top/build/qemu-src/accel/hvf/hvf-all.c" ||
		die "build/qemu-src lacks qemu/patches/macos"
}

# QEMU's build signs ad hoc with its own accel/hvf/entitlements.plist; sign again with
# ours, so that an identity and any entitlement dartpass adds apply.
sign_qemu() {
	log "signing $qemu_bin (identity $CODESIGN_IDENTITY) with $(basename "$ENTITLEMENTS")"
	codesign --force --sign "$CODESIGN_IDENTITY" --entitlements "$ENTITLEMENTS" "$qemu_bin"
	codesign --display --entitlements - "$qemu_bin" 2>/dev/null | grep com.apple.security.hypervisor >/dev/null ||
		die "$qemu_bin is not signed with com.apple.security.hypervisor"
	"$qemu_bin" -accel help | grep -x hvf >/dev/null || die "$qemu_bin lists no hvf accelerator"
}

failed=()
# step NAME CMD...: runs a step that the others do not depend on; a failure is
# reported at the end (exit status 1) instead of stopping the build.
step() {
	local name=$1
	shift
	log "$name"
	"$@" || { log "FAILED: $name"; failed+=("$name"); }
}

check_prereqs
fetch_qemu
build_qemu
sign_qemu
if [ -z "${DP_SKIP_PROVIDER:-}" ]; then
	if [ -f "$top/provider/macos/Makefile" ]; then
		step "DriverKit provider (make -C provider/macos)" make -C "$top/provider/macos"
	else
		log "FAILED: no provider/macos/Makefile"
		failed+=("DriverKit provider")
	fi
fi
if [ -z "${DP_SKIP_TOOLS:-}" ]; then
	step "dartpass CLI (make tools)" make -C "$top" tools
fi
log "QEMU: $qemu_bin (-accel hvf; -accel hvf,tso=on needs macOS 15)"
if [ ${#failed[@]} != 0 ]; then
	log "failed: ${failed[*]}"
	exit 1
fi
log "done"
