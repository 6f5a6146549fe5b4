#!/usr/bin/env bash
# Provider DMA benchmark: boots the nested rig's L1 once (rig/guest-run.sh, trixie-amd64,
# an emulated IOMMU), lends its NVMe through `dartpass provider`, and has
# build/prov-client time N MAP and N UNMAP entries of 4 KiB through the provider's
# socket in batches of 1, 16 and 256 (the provider chooses each bus address and
# programs L1's IOMMU through VFIO), beside the same entries through the DART model in
# the client's own process (lib/dp_dart.c: the emulated backend, which programs
# nothing). Prints ns per entry for both and their ratio, and the cost of a bare
# round trip. Everything runs under TCG: compare the columns with each other, not with
# hardware. Provider and client share one vCPU: across two, every reply waits for
# TCG to wake the other vCPU (a round trip took 2.6 ms instead of 0.14 ms), which
# would drown what is measured.
#
#   bash bench/provider.sh [N]      N entries of each kind per batch size (default 4096)
#
# The guest script is written to build/bench/ on every run; its console log is
# build/guest/KERNEL/provider-bench.log.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-4096}
kernel=trixie-amd64
out=$top/build/bench
mkdir -p "$out"
make -s -C "$top" tools provider-client
cat >"$out/provider-bench.sh" <<GUEST
#@ iommu: on
#@ bin: build/dartpass build/prov-client
#@ kmods: vfio vfio_iommu_type1 vfio_pci vfio_pci_core?
#@ qemu: -drive file={DISK},if=none,id=d0,format=raw,cache=unsafe
#@ qemu: -device nvme,serial=dp0,drive=d0,addr=4.0
#@ timeout: 900
nvme=\$(dp_pci_find 1b36:0010)
dp_check "\$nvme binds to vfio-pci" dp_vfio_bind "\$nvme"
taskset 1 /dp/bin/dartpass provider --socket /tmp/provider.sock --function "\$nvme" \\
	>/tmp/provider.log 2>&1 &
dp_wait 20 test -S /tmp/provider.sock
dp_check "provider listens" test -S /tmp/provider.sock
taskset 1 /dp/bin/prov-client bench /tmp/provider.sock $n || sed 's/^/    /' /tmp/provider.log
GUEST
bash "$top/rig/guest-run.sh" "$kernel" "$out/provider-bench.sh"
echo "== provider MAP/UNMAP through VFIO vs the emulated backend (L1, TCG, $kernel)"
tr -d '\r' <"$top/build/guest/$kernel/provider-bench.log" | sed -n 's/^DP-BENCH //p'
