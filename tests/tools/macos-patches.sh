#!/usr/bin/env bash
# The macOS-only QEMU patches (qemu/patches/macos/*.patch), checked on Linux, as TAP
# lines: each opens with a header, and they apply in order, without fuzz, on top of the
# tree qemu/build.sh prepared (build/qemu-src, which has qemu/patches/*.patch applied).
# Only the files the patches touch are copied, so this takes well under a second.
# Also: qemu/build-macos.sh parses (bash -n). Exits non-zero if any check fails.
#
#   tests/tools/macos-patches.sh
#   DP_MACOS_PATCHES=/tmp/dir DP_QEMU_SRC=/some/tree tests/tools/macos-patches.sh   other inputs
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
pdir=${DP_MACOS_PATCHES:-$top/qemu/patches/macos}
src=${DP_QEMU_SRC:-$top/build/qemu-src}
failed=0
ok() { echo "ok - $*"; }
notok() { echo "not ok - $*"; failed=1; }

shopt -s nullglob
patches=("$pdir"/*.patch)
shopt -u nullglob
if [ ${#patches[@]} = 0 ]; then
	notok "macOS patches: none in $pdir"
	exit 1
fi

# A header: prose before the first diff line, as every patch under qemu/patches has.
for p in "${patches[@]}"; do
	n=$(awk '/^(diff |--- |\+\+\+ |Index: )/ { exit } NF { n++ } END { print n + 0 }' "$p")
	if [ "$n" -ge 3 ]; then
		ok "macOS patch $(basename "$p") opens with a header"
	else
		notok "macOS patch $(basename "$p") opens with a header (found $n lines before the diff)"
	fi
done

if [ ! -f "$src/accel/hvf/hvf-all.c" ]; then
	notok "macOS patches apply in order: no prepared QEMU tree at $src (run qemu/build.sh)"
else
	work=$(mktemp -d)
	trap 'rm -rf "$work"' EXIT
	# Every file any patch names, copied (dereferenced) from the prepared tree.
	sed -n 's#^+++ b/\([^[:space:]]*\).*#\1#p' "${patches[@]}" | sort -u | while read -r f; do
		if [ -e "$src/$f" ]; then
			mkdir -p "$work/$(dirname "$f")" && cp -L "$src/$f" "$work/$f"
		fi
	done
	# On macOS build.sh has applied these patches to build/qemu-src already: take them
	# back out of the copy (last first) so that the check below starts from the same
	# point either way.
	applied=yes
	for ((i = ${#patches[@]} - 1; i >= 0; i--)); do
		patch -p1 -R --dry-run -s -f --fuzz=0 -d "$work" <"${patches[$i]}" >/dev/null 2>&1 || { applied=no; break; }
		patch -p1 -R -s -f --fuzz=0 --no-backup-if-mismatch -d "$work" <"${patches[$i]}" >/dev/null 2>&1
	done
	if [ $applied = yes ]; then
		echo "# $src has the macOS patches applied; checked against it with them taken out"
	else
		# Not (all) applied there; a partial reverse may have changed the copy: copy again.
		sed -n 's#^+++ b/\([^[:space:]]*\).*#\1#p' "${patches[@]}" | sort -u | while read -r f; do
			[ -e "$src/$f" ] && cp -L "$src/$f" "$work/$f"
		done
	fi
	for p in "${patches[@]}"; do
		name=$(basename "$p")
		if out=$(patch -p1 -f --fuzz=0 --no-backup-if-mismatch -d "$work" <"$p" 2>&1) &&
			! find "$work" -name '*.rej' | grep -q .; then
			ok "macOS patch $name applies on build/qemu-src after the ones before it"
		else
			notok "macOS patch $name applies on build/qemu-src after the ones before it"
			printf '%s\n' "$out" | sed 's/^/#   /'
			# Later patches would be judged on a broken tree: stop here.
			break
		fi
	done
fi

if out=$(bash -n "$top/qemu/build-macos.sh" 2>&1); then
	ok "qemu/build-macos.sh parses (bash -n)"
else
	notok "qemu/build-macos.sh parses (bash -n)"
	printf '%s\n' "$out" | sed 's/^/#   /'
fi
exit $failed
