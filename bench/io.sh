#!/usr/bin/env bash
# I/O benchmark, side by side: the same guest kernel (trixie-amd64, TCG), the same
# devices on one root port (an NVMe disk, an e1000e NIC, a virtio-gpu) and the same
# workloads under six DMA set-ups, one boot each:
#   none            no IOMMU: the functions DMA to guest-physical addresses
#   viommu-strict   virtio-iommu, the guest's IOMMU driver in strict mode (every unmap
#                   invalidated at once: iommu.strict=1)
#   viommu-lazy     virtio-iommu, lazy (unmaps batched by the flush queue)
#   pvdma-exact, pvdma-window, pvdma-adaptive
#                   pvdma managing the root port, the guest module's three policies
# Workloads, each repeated REPS times in the same boot: fio (Debian's, with its
# libraries) on the raw NVMe: 4 KiB random read and write at queue depth 1 and 32,
# 1 MiB sequential read; 16 MiB through the NIC to the host's echo service; the GPU
# creating and freeing 300 DRM buffers (tests/guest/drm-client.c churn).
# Prints, per workload and set-up, the median and spread (min-max) over the
# repetitions, the ratio of the medians to no IOMMU, the host round trips per I/O
# that the IOMMU path adds (pvdma: its doorbells, from debugfs; virtio-iommu: its
# requests, counted by a kprobe on virtqueue_kick, which virtio-iommu calls for each
# and virtio-gpu never does), and what those round trips would cost per I/O on
# hardware, where an exit to the VMM takes about 2 to 7 us (docs/benchmarks.md).
#
#   bash bench/io.sh [REPS [SECONDS]]   repetitions (default 3), fio seconds per job (5)
#   DP_IO_SETUPS="none pvdma-adaptive" bash bench/io.sh     a subset of set-ups; the
#                                   table also takes the other set-ups' logs of an
#                                   earlier run, and says so
#
# Console logs: build/guest/trixie-amd64/io-SETUP.log. Under TCG compare the rows
# with each other, not with hardware.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
reps=${1:-3} secs=${2:-5}
setups=${DP_IO_SETUPS:-none viommu-strict viommu-lazy pvdma-exact pvdma-window pvdma-adaptive}
kernel=trixie-amd64
out=$top/build/bench
mkdir -p "$out"
if ! command -v fio >/dev/null; then
	. "$top/rig/apt-env.sh"
	dp_apt amd64 install -y -q --no-install-recommends fio >&2
fi

# guest SETUP: the guest script for one set-up.
guest() {
	local s=$1 kmods="nvme e1000e virtio-gpu virtio_pci?" dev pre= append=
	dev="-device pcie-root-port,id=rp1,chassis=1"
	case $s in
	viommu-*)
		kmods="virtio_iommu $kmods"
		dev="-device virtio-iommu-pci $dev"
		append="iommu.strict=$([ "$s" = viommu-strict ] && echo 1 || echo 0)"
		pre="modprobe virtio_iommu" ;;
	pvdma-*)
		dev="$dev -device pvdma-pci,id=pv,managed-bus=rp1"
		pre="insmod /dp/mod/pvdma.ko policy=${s#pvdma-}" ;;
	esac
	[ -z "$pre" ] || pre="dp_check \"$pre\" $pre"
	cat <<GUEST
#@ kmods: $kmods
#@ host-bin: $(command -v fio)
#@ prog: tests/guest/drm-client.c
#@ mem: 2G
#@ timeout: 3600
#@ qemu: $dev
#@ qemu: -drive file={DISK},if=none,id=d0,format=raw,cache=unsafe
#@ qemu: -device nvme,bus=rp1,addr=0.0,multifunction=on,serial=dp0,drive=d0
#@ qemu: -netdev user,id=n0,guestfwd=tcp:10.0.2.100:7-cmd:{ECHO} -device e1000e,bus=rp1,addr=0.1,netdev=n0,romfile=
#@ qemu: -device virtio-gpu-pci,bus=rp1,addr=0.2,iommu_platform=on,disable-legacy=on
${append:+#@ append: $append}
mount -t debugfs none /sys/kernel/debug 2>/dev/null
mount -t tracefs none /sys/kernel/tracing 2>/dev/null
modprobe virtio_pci 2>/dev/null
$pre
dp_check "modprobe nvme" modprobe nvme
dp_wait 30 test -b /dev/nvme0n1
# fio would otherwise write a file of that name in /dev.
dp_check "the NVMe disk is there" test -b /dev/nvme0n1 || poweroff -f
dp_check "modprobe e1000e" modprobe e1000e
dp_wait 30 ip link show eth0
dp_net_up
dp_gpu_load
# trips: host round trips the IOMMU path has made so far.
case $s in
pvdma-*)
	stats=\$(ls -d /sys/kernel/debug/pvdma/*/)stats
	trips() { sed -n 's/^round_trips //p' \$stats; } ;;
viommu-*)
	echo 'p:dp/kick virtqueue_kick' >/sys/kernel/tracing/kprobe_events
	echo 1 >/sys/kernel/tracing/events/dp/kick/enable
	trips() { awk '\$1 == "kick" { print \$2 }' /sys/kernel/tracing/kprobe_profile; } ;;
*)
	trips() { echo 0; } ;;
esac
dp_check "trips counts (\$(trips))" test -n "\$(trips)"
# centiseconds since boot
now() { awk '{ printf "%d", \$1 * 100 }' /proc/uptime; }
fio_job() {
	/dp/bin/fio --name=\$1 --filename=/dev/nvme0n1 --direct=1 --ioengine=libaio \\
		--size=256M --runtime=$secs --time_based --output-format=terse \\
		--terse-version=3 --rw=\$2 --bs=\$3 --iodepth=\$4
}
dp_check "fill the disk's first 256 MiB" /dp/bin/fio --name=fill --filename=/dev/nvme0n1 \\
	--direct=1 --ioengine=libaio --size=256M --rw=write --bs=1M --iodepth=8 --output-format=terse
dd if=/dev/urandom of=/tmp/data bs=1M count=16 2>/dev/null
for rep in \$(seq $reps); do
	for job in "rand-read-qd1 randread 4k 1 4" "rand-read-qd32 randread 4k 32 4" \\
		"rand-write-qd1 randwrite 4k 1 4" "rand-write-qd32 randwrite 4k 32 4" \\
		"seq-read-1m read 1M 8 1024"; do
		set -- \$job
		t0=\$(trips)
		line=\$(fio_job \$1 \$2 \$3 \$4 | awk -F';' -v kb=\$5 '{ printf "iops=%d mbps=%.1f ios=%d", \$8 + \$49, (\$7 + \$48) / 1024, (\$6 + \$47) / kb }')
		echo "IO setup=$s job=\$1 rep=\$rep \$line trips=\$((\$(trips) - t0))"
	done
	t0=\$(trips) c0=\$(now)
	dp_echo 300 /tmp/data /tmp/back
	c1=\$(now)
	same=\$(test "\$(md5sum </tmp/data)" = "\$(md5sum </tmp/back)" && echo 1 || echo 0)
	echo "IO setup=$s job=nic-echo-16m rep=\$rep mbps=\$(awk -v c=\$((c1 - c0)) 'BEGIN { printf "%.2f", 16 * 100 / (c > 0 ? c : 1) }') ios=16 verified=\$same trips=\$((\$(trips) - t0))"
	t0=\$(trips) c0=\$(now)
	/dp/bin/drm-client churn >/dev/null
	c1=\$(now)
	echo "IO setup=$s job=gpu-churn-300 rep=\$rep ops_per_s=\$(awk -v c=\$((c1 - c0)) 'BEGIN { printf "%.1f", 300 * 100 / (c > 0 ? c : 1) }') ios=300 trips=\$((\$(trips) - t0))"
done
dp_check "no kernel warnings" sh -c '! dmesg | grep -E "WARNING|BUG:|Oops"'
GUEST
}

for s in $setups; do
	guest "$s" >"$out/io-$s.sh"
	echo "== $s" >&2
	bash "$top/rig/guest-run.sh" "$kernel" "$out/io-$s.sh" >&2 || echo "# $s: the run failed" >&2
done

all="none viommu-strict viommu-lazy pvdma-exact pvdma-window pvdma-adaptive"
for s in $all; do
	l=$top/build/guest/$kernel/io-$s.log
	[ -f "$l" ] || continue
	[[ " $setups " == *" $s "* ]] || echo "# $s: from an earlier run ($(date -r "$l" '+%F %T'))"
	tr -d '\r' <"$l" | grep '^IO ' || true
done | python3 "$top/bench/io-table.py" "$(nproc)" "$reps" "$secs"
