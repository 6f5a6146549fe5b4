#!/usr/bin/env bash
# Runs each libFuzzer harness (tests/fuzz/) for SECONDS, one process at a time (one
# core), from a copy of its seed corpus, and prints a table: harness, executions,
# coverage (libFuzzer's "cov:", edges reached), crashes. A crash stops libFuzzer, so
# a harness that crashed starts again for the time left; each crash input is kept in
# build/fuzz-run/<harness>/ for tests/fuzz/replay.sh's corpus or known/ directory.
#
#   bench/fuzz.sh 180          three minutes per harness
#   bench/fuzz.sh 60 prov map  only these
set -uo pipefail
cd "$(dirname "$0")/.."
secs=${1:?usage: bench/fuzz.sh SECONDS [harness...]}
shift
harnesses=${*:-prov serve trace map pvdma}
make -s fuzz || exit 1
printf '%-8s %12s %10s %8s\n' harness executions coverage crashes
for h in $harnesses; do
	work=build/fuzz-run/$h
	rm -rf "$work" && mkdir -p "$work/corpus"
	cp tests/fuzz/corpus/"$h"/* "$work/corpus/"
	execs=0 cov=0 crashes=0 end=$(($(date +%s) + secs))
	while left=$((end - $(date +%s))); [ "$left" -gt 0 ]; do
		log=$work/run-$crashes.log
		build/fuzz/fuzz_"$h" -max_total_time="$left" -print_final_stats=1 -timeout=20 \
			-artifact_prefix="$work/" "$work/corpus" >"$log" 2>&1
		rc=$?
		n=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
		execs=$((execs + ${n:-0}))
		c=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
		[ "${c:-0}" -gt "$cov" ] && cov=$c
		[ $rc = 0 ] && break
		crashes=$((crashes + 1))
		grep -E 'fuzz invariant failed|SUMMARY' "$log" | head -2 | sed "s/^/# $h: /" >&2
	done
	printf '%-8s %12s %10s %8s\n' "$h" "$execs" "$cov" "$crashes"
done
