#!/usr/bin/env bash
# Guest DMA microbenchmark: map+unmap through pvdma's dma_map_ops from 1 to 4 kernel
# threads (bench/dma/pvdma_bench.c, driven by build/dma-bench through
# include/pvdma_bench.h), on a managed e1000e that no driver holds. Two boots of
# trixie-amd64 under TCG with 4 vCPUs: the guest module's default policy (adaptive),
# where a thread holding a mapping of its buffer makes every timed map a hit (no host
# call), and policy=exact, where every map and unmap is a host round trip. Prints ns
# per map+unmap: "system" is the wall time divided by all threads' operations (lower
# with more threads when they scale), "thread" one thread's own loop; and host round
# trips per operation from pvdma's debugfs stats. Under TCG compare rows with each
# other, not with hardware.
#
#   bash bench/dma.sh [OPS]        OPS map+unmap pairs per thread on the hit path
#                                  (default 20000; the host path runs OPS/10)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
ops=${1:-20000}
kernel=trixie-amd64
out=$top/build/bench
mkdir -p "$out"
make -s -C "$top" dma-bench

guest() {
	local name=$1 params=$2 n=$3 hold=$4
	cat <<GUEST
#@ kmod-src: bench/dma
#@ bin: build/dma-bench
#@ smp: 4
#@ qemu: -device pcie-root-port,id=rp1,chassis=1 -device pvdma-pci,id=pv,managed-bus=rp1
#@ qemu: -netdev user,id=n0 -device e1000e,bus=rp1,netdev=n0,romfile=
#@ timeout: 900
dp_check "insmod pvdma $params" insmod /dp/mod/pvdma.ko $params
dp_check "insmod pvdma_bench" insmod /dp/mod/pvdma_bench.ko
nic=\$(dp_pci_find 8086:10d3)
echo pvdma_bench >/sys/bus/pci/devices/\$nic/driver_override
echo \$nic >/sys/bus/pci/drivers_probe
dp_check "pvdma_bench binds to the managed \$nic" test -e /sys/kernel/debug/pvdma_bench
stats=\$(ls -d /sys/kernel/debug/pvdma/*/)stats
trips() { sed -n 's/^round_trips //p' \$stats; }
for size in 4096 65536 2097152; do
	for t in 1 2 4; do
		before=\$(trips)
		line=\$(/dp/bin/dma-bench \$t \$size $n $hold) || line="failed \$line"
		echo "BENCH policy=$name \$line round_trips=\$((\$(trips) - before))"
	done
done
GUEST
}

# name, module parameters, ops per thread, hold
runs=("adaptive|policy=adaptive|$ops|hold" "serialized|policy=adaptive hit_path=0|$ops|hold"
      "exact|policy=exact|$((ops / 10))|")
for run in "${runs[@]}"; do
	IFS='|' read -r name params n hold <<<"$run"
	guest "$name" "$params" "$n" "$hold" >"$out/dma-$name.sh"
	bash "$top/rig/guest-run.sh" "$kernel" "$out/dma-$name.sh" >&2
done

echo "# $(nproc) host cores, 4 vCPUs (TCG); ns per map+unmap pair; exit cost: trips/op"
echo "# times 2 to 7 us per exit to the VMM on hardware (docs/benchmarks.md)"
printf '%-10s %8s %7s %10s %10s %10s %9s %13s\n' policy size threads system thread slowest \
	trips/op "exit cost us"
for p in adaptive serialized exact; do
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
