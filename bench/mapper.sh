#!/usr/bin/env bash
# Coalescing-mapper benchmark: generates every synthetic trace kind and replays each
# under every policy with DART's default caps (65536 mappings, 1.5 GiB, 16 KiB pages),
# printing one table (peak host mappings and bytes, slop, host calls, refusals and
# CPU ns per trace event including the DART model; the "floor" row is the lower bound
# on any policy's peak host mappings) and an SVG plot per trace, then
# the mapper's own CPU cost per event with a host that does no work.
#
#   bash bench/mapper.sh [TRACE...]     extra traces
#
# Real-driver traces that guest tests recorded (the module's DP-TRACE lines in
# build/guest/*/*.log, after `bash tests/check`) are replayed too, as
# guest-KERNEL-TEST.trace.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out=$top/build/bench
mkdir -p "$out"
make -s -C "$top" tools
# Regenerated every run (seconds): a kept trace would outlive a change to its generator.
for k in load sparse uvm staging alloc16m coherent churn fill overcommit surge shuffle; do
	"$top/build/dartpass" gen "$k" >"$out/$k.trace"
done
rm -f "$out"/guest-*.trace
for log in "$top"/build/guest/*/*.log; do
	[ -e "$log" ] || continue
	t=$out/guest-$(basename "$(dirname "$log")")-$(basename "$log" .log).trace
	tr -d '\r' <"$log" | sed -n 's/^DP-TRACE //p' >"$t"
	[ -s "$t" ] || rm -f "$t"
done
echo "== with the DART model as host (ns/op includes the model and the replay)"
"$top/build/dartpass" sim --svg="$out/plot" "$out"/*.trace "$@"
echo "plots: $out/plot-*.svg"
echo "== the mapper's own CPU cost: a host that does nothing (caps not enforced)"
"$top/build/dartpass" sim --null-host "$out"/*.trace "$@" | awk '{ print $1, $2, $NF }' | column -t
