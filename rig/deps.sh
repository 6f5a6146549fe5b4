#!/usr/bin/env bash
# Installs the host packages the rig needs (Debian 12, as root). Idempotent and quiet
# when everything is already there.
set -euo pipefail
. "$(dirname "$0")/apt-env.sh"

pkgs=(build-essential ccache ninja-build pkgconf
	flex bison libglib2.0-dev libpixman-1-dev libfdt-dev zlib1g-dev python3-distlib
	python3-venv busybox-static cpio xz-utils zstd kmod wget ca-certificates mmdebstrap
	gcc-multilib bc libelf-dev socat rsync device-tree-compiler libslirp-dev seabios
	musl-dev clang libclang-rt-14-dev
	qemu-user-static arch-test ovmf qemu-efi-aarch64 dosfstools mtools fdisk qemu-utils)
# The last line: dartpass image build (tools/image/build.sh): arm64 maintainer scripts
# run under qemu-user in binfmt_misc, UEFI firmware for both arches, the ESP and GPT
# made without loop devices, qcow2.
# QEMU 10.x needs meson >= 1.5: bookworm-backports carries it.
bpo=(meson python3-pycotap)

missing=()
for p in "${pkgs[@]}" "${bpo[@]}"; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' || missing+=("$p")
done
meson_ok=$(/usr/bin/python3 -c 'import mesonbuild.coredata as c; v=tuple(map(int,c.version.split(".")[:2])); print(int(v>=(1,5)))' 2>/dev/null || echo 0)
[ ${#missing[@]} -eq 0 ] && [ "$meson_ok" = 1 ] && exit 0

echo "deps: installing ${missing[*]:-meson from backports}" >&2
export DEBIAN_FRONTEND=noninteractive
dp_apt amd64 install -y -q --no-install-recommends "${pkgs[@]}" >&2
dp_apt amd64 install -y -q --no-install-recommends -t bookworm-backports "${bpo[@]}" >&2
