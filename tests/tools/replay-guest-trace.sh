#!/usr/bin/env bash
# The mapper in the guest kernel and the mapper in user space are one source built
# twice; this checks that they decide alike. It replays the trace a guest recorded
# (its console's "DP-TRACE" lines) through `dartpass sim` with the module's policy and
# slop share and the device's default caps, and compares peak host mappings, host
# requests and hits with what the module reported ("DP-STATS"). Prints DP-TEST lines
# (for guest-run.sh's host-after hook).
#
#   LOG=build/guest/sid-arm64/batch-trace.log bash tests/tools/replay-guest-trace.sh
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
make -s -C "$top" tools >"$dir/make" 2>&1 || { echo "DP-TEST not ok dartpass builds"; exit 0; }
tr -d '\r' <"$LOG" | sed -n 's/^DP-TRACE //p' >"$dir/kernel.trace"
stats=$(tr -d '\r' <"$LOG" | sed -n 's/^DP-STATS //p' | head -n1)
kv() { awk -v k="$1" '{ for (i = 1; i < NF; i += 2) if ($i == k) print $(i + 1) }' <<<"$stats"; }
res() {
	local name=$1
	shift
	if "$@"; then echo "DP-TEST ok $name"; else echo "DP-TEST not ok $name"; fi
}
n=$(wc -l <"$dir/kernel.trace")
res "the guest's trace reached the host ($n events)" test "$n" -gt 0 -a "$n" = "$(( $(kv maps) + $(kv unmaps) ))"
if ! "$top/build/dartpass" sim --policy="$(kv policy)" --slop-share="$(kv slop_share)" "$dir/kernel.trace" >"$dir/table" 2>"$dir/err"; then
	sed 's/^/    /' "$dir/err"
	echo "DP-TEST not ok dartpass sim replays the guest's trace"
	exit 0
fi
# sim's first row, its columns named by the header
read -r peak ops hits refused < <(awk 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i }
	NR == 2 { print $c["peak-map"], $c["host-ops"], $c["hits"], $c["refused"] }' "$dir/table")
# sim counts the unmaps of what the trace left mapped; the module still owes them.
kops=$(( $(kv host_maps) + $(kv host_unmaps) + $(kv live_mappings) ))
res "user-space replay: peak host mappings $peak, kernel $(kv peak_mappings)" test "$peak" = "$(kv peak_mappings)"
res "user-space replay: host requests $ops, kernel $kops" test "$ops" = "$kops"
res "user-space replay: hits $hits, kernel $(kv hits); refused $refused" test "$hits" = "$(kv hits)" -a "$refused" = 0
