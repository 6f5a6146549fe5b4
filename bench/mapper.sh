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
"$top/build/dartpass" sim --svg="$out/plot" "$out"/*.trace "$@" | tee "$out/table"
echo "plots: $out/plot-*.svg"
# The results table of docs/mapper.md, from the table above. peak/floor is adaptive's
# peak over the floor; "2x needs" is the floor row's slop-MiB: the unused MiB that any
# policy peaking within twice the floor must hold at some moment.
echo "== summary (markdown; docs/mapper.md's results table)"
awk 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
	{ t = $1; sub(/\.trace$/, "", t); if (!(t in seen)) { seen[t] = 1; order[++n] = t }
	  p = $2; peak[t, p] = $c["peak-map"]; ops[t, p] = $c["host-ops"]
	  ref[t, p] = $c["refused"]; slop[t, p] = $c["slop-MiB"]; mib[t, p] = $c["peak-MiB"] }
	function pk(t, p) { return ref[t, p] > 0 ? peak[t, p] " (refuses " ref[t, p] ")" : peak[t, p] }
	END {
		print "| trace | exact peak | window peak | adaptive peak | floor | adaptive peak/floor | 2x floor needs MiB unused | adaptive MiB (unused) | host requests: exact / window / adaptive | refused: exact / window / adaptive |"
		print "|---|---|---|---|---|---|---|---|---|---|"
		for (i = 1; i <= n; i++) {
			t = order[i]; f = peak[t, "floor"]
			printf "| %s | %s | %s | %s | %s | %s | %s | %s (%s) | %s / %s / %s | %s / %s / %s |\n",
				t, pk(t, "exact"), pk(t, "window"), pk(t, "adaptive"), f,
				(f > 0 ? sprintf("%.1f", peak[t, "adaptive"] / f) : "-"), slop[t, "floor"],
				mib[t, "adaptive"], slop[t, "adaptive"], ops[t, "exact"], ops[t, "window"],
				ops[t, "adaptive"], ref[t, "exact"], ref[t, "window"], ref[t, "adaptive"]
		}
	}' "$out/table"
echo "== the mapper's own CPU cost: a host that does nothing (caps not enforced)"
"$top/build/dartpass" sim --null-host "$out"/*.trace "$@" | awk '{ print $1, $2, $NF }' | column -t
