#!/usr/bin/env bash
# Private apt configuration for fetching packages from several Debian suites and
# architectures without touching the system's apt sources or dpkg architectures.
#
# The mirror is derived from the machine's own apt configuration, so no registry
# host is written into this repository.
#
#   . rig/apt-env.sh            # defines dp_apt ARCH ARGS... and DP_MIRROR
#   dp_apt amd64 download linux-image-6.1.0-xx-amd64
set -euo pipefail

DP_TOP=${DP_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
DP_CACHE=${DP_CACHE:-$DP_TOP/build/cache}
DP_APT=$DP_CACHE/apt
DP_SUITES=${DP_SUITES:-"bookworm bookworm-backports trixie sid"}

dp_mirror_derive() {
	local m
	m=$(grep -hoE '^(URIs:|deb(-src)?) +(\[[^]]*\] +)?[a-z]+://[^ ]+' \
		/etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null |
		grep -oE '[a-z]+://[^ ]+/debian/?$' | head -n1)
	[ -n "$m" ] || { echo "apt-env: no Debian mirror found in /etc/apt" >&2; return 1; }
	echo "${m%/}"
}
DP_MIRROR=${DP_MIRROR:-$(dp_mirror_derive)}

# One config per architecture: separate lists, so arm64 needs no dpkg --add-architecture.
dp_apt_setup() {
	local arch=$1
	local dir=$DP_APT/$arch
	# The config names absolute paths: a moved checkout writes it again.
	grep -qF "Dir::Cache \"$dir\";" "$dir/apt.conf" 2>/dev/null && return 0
	mkdir -p "$dir/lists/partial" "$dir/archives/partial" "$dir/etc/preferences.d" "$dir/etc/sources.list.d"
	: >"$dir/etc/sources.list"
	local s
	for s in $DP_SUITES; do
		echo "deb [arch=$arch signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $DP_MIRROR $s main" >>"$dir/etc/sources.list"
		echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $DP_MIRROR $s main" >>"$dir/etc/sources.list"
	done
	cat >"$dir/apt.conf" <<CONF
APT::Architecture "$arch";
APT::Architectures { "$arch"; };
APT::Default-Release "bookworm";
Dir::Etc::SourceList "$dir/etc/sources.list";
Dir::Etc::SourceParts "$dir/etc/sources.list.d";
Dir::Etc::Preferences "$dir/etc/preferences";
Dir::Etc::PreferencesParts "$dir/etc/preferences.d";
Dir::State::Lists "$dir/lists";
Dir::Cache "$dir";
Dir::Cache::archives "$dir/archives";
Acquire::Languages "none";
CONF
	# The status file stays the system's so 'install' through this config works for the host (amd64).
	APT_CONFIG=$dir/apt.conf apt-get update -qq >&2
}

dp_apt() {
	local arch=$1
	shift
	dp_apt_setup "$arch"
	APT_CONFIG=$DP_APT/$arch/apt.conf apt-get "$@"
}

dp_apt_cache() {
	local arch=$1
	shift
	dp_apt_setup "$arch"
	APT_CONFIG=$DP_APT/$arch/apt.conf apt-cache "$@"
}
