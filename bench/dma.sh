#!/usr/bin/env bash
# Guest DMA microbenchmark: map+unmap through dma_map_ops from 1 to 4 kernel threads
# (bench/dma/pvdma_bench.c, driven by build/dma-bench through include/pvdma_bench.h),
# on an e1000e that no driver holds. Four boots of trixie-amd64 under TCG with 4 vCPUs:
#   direct      no pvdma: the kernel's own direct mapping, the floor of the DMA API;
#   adaptive    pvdma's default policy, where a thread holding a mapping of its buffer
#               makes every timed map a hit (no host call), served under the CPU's
#               share of pvdma's lock;
#   serialized  the same with hit_path=0: every call takes pvdma's whole lock;
#   exact       policy=exact, where every map and unmap is a host round trip.
# Prints ns per map+unmap: "system" is the wall time divided by all threads' operations
# (lower with more threads when they scale), "thread" one thread's own loop; and host
# round trips per operation from pvdma's debugfs stats. A second table gives the hits'
# ns per operation while thread 0 maps a buffer that is a host round trip every time,
# beside the same hits alone. Under TCG compare rows with each other, not with hardware.
#
#   bash bench/dma.sh [OPS]        OPS map+unmap pairs per thread on the hit path
#                                  (default 200000; the host path runs OPS/10)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
ops=${1:-200000}
kernel=trixie-amd64
out=$top/build/bench
mkdir -p "$out"
make -s -C "$top" dma-bench

# A boot: NAME, pvdma's module PARAMETERS ("none": no pvdma, the kernel's direct
# mapping), OPS per thread, HOLD or nothing.
guest() {
	local name=$1 params=$2 n=$3 hold=$4 pv="" load="" trips="echo 0" bench=direct=1
	if [ "$params" != none ]; then
		bench=
		pv=" -device pvdma-pci,id=pv,managed-bus=rp1"
		load="dp_check \"insmod pvdma $params\" insmod /dp/mod/pvdma.ko $params"
		trips="sed -n 's/^round_trips //p' \$(ls -d /sys/kernel/debug/pvdma/*/)stats"
	fi
	cat <<GUEST
#@ kmod-src: bench/dma
#@ bin: build/dma-bench
#@ smp: 4
#@ qemu: -device pcie-root-port,id=rp1,chassis=1$pv
#@ qemu: -netdev user,id=n0 -device e1000e,bus=rp1,netdev=n0,romfile=
#@ timeout: 900
$load
dp_check "insmod pvdma_bench $bench" insmod /dp/mod/pvdma_bench.ko $bench
nic=\$(dp_pci_find 8086:10d3)
echo pvdma_bench >/sys/bus/pci/devices/\$nic/driver_override
echo \$nic >/sys/bus/pci/drivers_probe
dp_check "pvdma_bench binds to \$nic" test -e /sys/kernel/debug/pvdma_bench
trips() { $trips; }
for size in 4096 65536 2097152; do
	for t in 1 2 4; do
		before=\$(trips)
		line=\$(/dp/bin/dma-bench \$t \$size $n $hold) || line="failed \$line"
		echo "BENCH policy=$name \$line round_trips=\$((\$(trips) - before))"
	done
done
# Hits beside a CPU whose every map is a host round trip (thread 0, a 2 MiB buffer: an
# exact mapping under any policy, made and released each time).
if [ "$hold" = hold ]; then
	for t in 2 4; do
		line=\$(/dp/bin/dma-bench \$t 2097152 $n hold-miss) || line="failed \$line"
		echo "BENCH-MISS policy=$name \$line"
	done
fi
GUEST
}

runs=("direct|none|$ops|hold" "adaptive|policy=adaptive|$ops|hold"
      "serialized|policy=adaptive hit_path=0|$ops|hold" "exact|policy=exact|$((ops / 10))|")
for run in "${runs[@]}"; do
	IFS='|' read -r name params n hold <<<"$run"
	guest "$name" "$params" "$n" "$hold" >"$out/dma-$name.sh"
	bash "$top/rig/guest-run.sh" "$kernel" "$out/dma-$name.sh" >&2
done

echo "# $(nproc) host cores, 4 vCPUs (TCG); ns per map+unmap pair; exit cost: trips/op"
echo "# times 2 to 7 us per exit to the VMM on hardware (docs/benchmarks.md)"
printf '%-10s %8s %7s %10s %10s %10s %9s %13s\n' policy size threads system thread slowest \
	trips/op "exit cost us"
for run in "${runs[@]}"; do
	p=${run%%|*}
	tr -d '\r' <"$top/build/guest/$kernel/dma-$p.log" | grep '^BENCH ' |
		sed 's/^BENCH //' | awk '{
		for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		if ($0 ~ /failed/) { printf "%-10s %8s %7s failed\n", v["policy"], v["size"], v["threads"]; next }
		t = v["round_trips"] / (v["ops"] * v["threads"])
		printf "%-10s %8s %7s %10.0f %10.0f %10.0f %9.3f %6.1f-%-6.1f\n", v["policy"], v["size"],
			v["threads"], v["system_ns_per_op"], v["thread_ns_per_op"],
			v["slowest_thread_ns_per_op"], t, 2 * t, 7 * t
	}'
done

echo
echo "# hits (2 MiB buffers, held) while thread 0's maps are host round trips, ns per hit;"
echo "# alone: the same number of threads, all hitting"
printf '%-10s %7s %12s %12s\n' policy threads "beside miss" "alone"
for run in "${runs[@]}"; do
	p=${run%%|*}
	log=$top/build/guest/$kernel/dma-$p.log
	tr -d '\r' <"$log" | grep '^BENCH-MISS ' | sed 's/^BENCH-MISS //' | while read -r line; do
		t=$(sed -n 's/.* threads=\([0-9]*\) .*/\1/p' <<<"$line")
		alone=$(tr -d '\r' <"$log" | sed -n "s/^BENCH .* threads=$t size=2097152 .* thread_ns_per_op=\([0-9.]*\) .*/\1/p")
		awk -v p="$p" -v t="$t" -v a="${alone:-0}" '{
			for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
			if ($0 ~ /failed/) { printf "%-10s %7s failed\n", p, t; next }
			printf "%-10s %7s %12.0f %12.0f\n", p, t, v["hit_thread_ns_per_op"], a
		}' <<<"$line"
	done
done
