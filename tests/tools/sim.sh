#!/usr/bin/env bash
# The simulator on every generated trace kind: replays must keep their invariants
# (sim exits non-zero on a leak, a cap overrun or an unmatched unmap), and the
# mapper's targets that are counts, not timings, must hold. Prints TAP lines.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
dp=$top/build/dartpass
dir=$top/build/sim-test
mkdir -p "$dir"
make -s -C "$top" tools || { echo "not ok - dartpass builds"; exit 1; }

kinds="load sparse uvm staging alloc16m coherent churn fill overcommit surge shuffle"
traces=()
for k in $kinds; do
	"$dp" gen --seed=7 "$k" >"$dir/$k.trace" || echo "not ok - gen $k"
	traces+=("$dir/$k.trace")
done
# Twice as much churn: long-lived data grows to about 93% of the byte cap (fits);
# three times: it outgrows the cap.
"$dp" gen --seed=7 --scale=2 churn >"$dir/churn2.trace" || echo "not ok - gen churn x2"
"$dp" gen --seed=7 --scale=3 churn >"$dir/churn3.trace" || echo "not ok - gen churn x3"
traces+=("$dir/churn2.trace" "$dir/churn3.trace")
# Mixes that fit: the parts' buffers share pages, which a mapper must not turn into
# unused bytes it cannot release (a small buffer keeping a large mapping alive).
for mix in stg+churn2:staging+churn uvm+16m2:uvm+alloc16m coh+16m2:coherent+alloc16m; do
	"$dp" gen --seed=7 --scale=2 "${mix#*:}" >"$dir/${mix%%:*}.trace" || echo "not ok - gen ${mix#*:}"
	traces+=("$dir/${mix%%:*}.trace")
done
if "$dp" sim "${traces[@]}" >"$dir/table" 2>"$dir/err"; then
	echo "ok - sim replays every trace under every policy without leaks or cap overruns"
else
	echo "not ok - sim replays every trace under every policy without leaks or cap overruns"
	sed 's/^/# /' "$dir/err"
fi
sed 's/^/# /' "$dir/table"

# A column of sim's table, by its header (peak-map is the lower bound on the floor row):
# cell FILE TRACE POLICY COLUMN; get TRACE-KIND POLICY COLUMN reads the main table.
cell() {
	awk -v t="$2" -v p="$3" -v f="$4" 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i }
		$1 == t && $2 == p { print $c[f] }' "$1"
}
get() { cell "$dir/table" "$1.trace" "$2" "$3"; }
check() { if eval "$1"; then echo "ok - $2"; else echo "not ok - $2 ($1)"; fi; }

for k in load sparse uvm staging alloc16m coherent churn churn2 fill stg+churn2 uvm+16m2 coh+16m2; do
	check "[ '$(get $k adaptive refused)' = 0 ] && [ '$(get $k exact refused)' = 0 ]" \
		"adaptive refuses nothing on $k, which fits the caps (exact peaks at $(get $k exact peak-MiB) MiB)"
done
ex=$(get overcommit exact refused) win=$(get overcommit window refused) ad=$(get overcommit adaptive refused)
best=$((ex < win ? ex : win))
check "[ $ad -gt 0 ] && [ $ad -le $best ]" \
	"overcommit: adaptive refuses ($ad), no more than the better of exact and window ($best)"
check "[ $(get churn window refused) -gt 0 ]" "churn: scattered long-lived buffers make window refuse"
check "[ $(get staging window refused) -gt 0 ]" "staging: window's slop makes it refuse buffers that fit"
# Once long-lived data outgrows the cap, which maps are refused depends on which
# long-lived buffers got in before, so counts move either way with small changes (even
# exact's, with the cap): reported, not checked (docs/mapper.md).
for p in exact window adaptive; do
	echo "# churn x3 (outgrows the cap): $p refuses $(get churn3 $p refused) maps, $(get churn3 $p ref-MiB) MiB"
done
# Game loading with about 200 bursts in flight, pages in address order or shuffled:
# exact needs three times the mapping cap, window's 256 KiB windows fit, and so must
# adaptive's (filled windows' budget).
for k in surge shuffle; do
	check "[ '$(get $k adaptive refused)' = 0 ] && [ '$(get $k window refused)' = 0 ]" \
		"adaptive refuses nothing on $k, which window fits (exact refuses $(get $k exact refused) maps)"
done
# Other seeds put live data within 2% of the byte cap (window peaks up to 1509 MiB):
# windows that were made while bytes were plentiful must not crowd out later regions.
for s in 2 3 4 5; do
	for k in surge shuffle; do
		"$dp" gen --seed=$s $k | "$dp" sim --policy=window,adaptive - >"$dir/seed"
		win=$(cell "$dir/seed" - window refused) mib=$(cell "$dir/seed" - window peak-MiB)
		ad=$(cell "$dir/seed" - adaptive refused) peak=$(cell "$dir/seed" - adaptive peak-map)
		check "[ '$win' = 0 ] && [ '$ad' = 0 ]" \
			"$k seed $s: adaptive refuses nothing where window fits ($ad refused, peak $peak, window peaks at $mib MiB)"
	done
done
# host-ops: host requests, counting the unmaps of what a trace leaves mapped
for k in load sparse alloc16m surge shuffle; do
	check "[ $(get $k adaptive host-ops) -le $(get $k window host-ops) ]" \
		"$k: adaptive needs no more host requests than window ($(get $k adaptive host-ops) vs $(get $k window host-ops))"
done
# On uvm, window's fewer requests are bought with bytes. Sweep the adaptive budget:
# every slop share that buys as few requests as window refuses maps on staging, whose
# live data fits (as window itself does there).
bad= matched=
for share in 2 5 $(seq 10 10 100); do
	"$dp" sim --slop-share=$share --policy=adaptive "$dir/uvm.trace" "$dir/staging.trace" \
		>"$dir/share"
	ops=$(cell "$dir/share" uvm.trace adaptive host-ops)
	ref=$(cell "$dir/share" staging.trace adaptive refused)
	echo "# slop share $share%: uvm $ops host requests (window $(get uvm window host-ops)), staging refuses $ref"
	if [ "$ops" -le "$(get uvm window host-ops)" ]; then
		matched+=" $share"
		[ "$ref" -gt 0 ] || bad+=" $share"
	fi
done
check "[ -n '$matched' ] && [ -z '$bad' ]" \
	"uvm: the slop shares that match window's host requests (${matched# }%) all refuse on staging"
# The floor row bounds from below the peak of every policy that refused nothing; where
# even the floor is not 10x under exact, no policy can meet the 10x headroom target.
# On surge and shuffle exact stops at the mapping cap, so 10x under its peak is
# stricter than 10x under what exact would need.
for k in load sparse uvm staging alloc16m coherent churn surge shuffle; do
	fl=$(get $k floor peak-map) ex=$(get $k exact peak-map) ad=$(get $k adaptive peak-map)
	below=
	for p in exact window adaptive; do
		[ "$(get $k $p refused)" = 0 ] && [ "$(get $k $p peak-map)" -lt "$fl" ] && below+=" $p"
	done
	check "[ -z '$below' ]" "$k: no policy that refused nothing peaks below the floor of $fl host mappings"
	if [ $((fl * 10)) -le "$ex" ]; then
		check "[ $((ad * 10)) -le $ex ]" \
			"$k: adaptive peaks at 10x fewer host mappings than exact ($ad vs $ex; floor $fl)"
	else
		echo "# $k: 10x under exact would be $((ex / 10)) host mappings, below the floor of $fl: no policy can reach it"
	fi
done
"$dp" sim --check --policy=adaptive,window "$dir/alloc16m.trace" >/dev/null 2>"$dir/err" &&
	echo "ok - sim --check: every live buffer is reachable after every event" ||
	{ echo "not ok - sim --check: every live buffer is reachable after every event"; sed 's/^/# /' "$dir/err"; }
"$dp" sim --policy=best "$dir/load.trace" >/dev/null 2>&1
check "[ $? = 2 ]" "sim rejects an unknown policy with a usage error"
# Config fields are 32-bit: 2^32 + 5 must not pass as 5, nor 2^32 + 1 mappings as 1.
for o in --slop-share=4294967301 --slop-share=101 --max-mappings=4294967297 --granule-shift=64; do
	"$dp" sim "$o" "$dir/alloc16m.trace" >/dev/null 2>"$dir/err"
	check "[ $? = 2 ] && grep -q 'out of range' '$dir/err'" "sim rejects $o before replaying"
done
printf '# one good, one bad\n1 M 0x1000 4096 w 0100\n2 M 0x1000 4096 q 0100\n' >"$dir/bad.txt"
"$dp" sim "$dir/bad.txt" >/dev/null 2>"$dir/err"
check "[ $? = 1 ] && grep -q 'bad.txt:3' '$dir/err'" "sim names the malformed line of a trace"
