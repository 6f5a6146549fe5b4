#!/usr/bin/env bash
# The dartpass demo (the README's first command): on a fresh Debian 12 machine, as
# root, sets everything up, boots an x86_64 Linux guest in which pvdma and the emulated
# DART manage an NVMe disk, a NIC and a GPU, moves real data through all three with
# unmodified drivers, and prints what the host saw.
#
#   bash demo/run.sh              DP_DEMO_KERNEL=sid-amd64 picks another guest kernel
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
k=${DP_DEMO_KERNEL:-trixie-amd64}
cd "$top"
echo "== setting up (packages, QEMU, guest kernel ${k%-*}); cached under build/" >&2
bash rig/deps.sh >build/demo-setup.log 2>&1 || { tail -20 build/demo-setup.log; exit 1; }
bash qemu/build.sh >>build/demo-setup.log 2>&1 || { tail -20 build/demo-setup.log; exit 1; }
bash rig/kernels.sh "${k%-*}" >>build/demo-setup.log 2>&1 || { tail -20 build/demo-setup.log; exit 1; }
bash rig/kmod-build.sh "build/kernels/$k.env" guest "build/mod/$k" >>build/demo-setup.log 2>&1 ||
	{ tail -20 build/demo-setup.log; exit 1; }
echo "== booting the guest (TCG; about a minute)" >&2
ok=0
bash rig/guest-run.sh "$k" demo/guest.sh >build/demo-run.log 2>&1 || ok=$?
log=build/guest/$k/guest.log
v() { tr -d '\r' <"$log" | sed -n "s/^DEMO $1 //p" | head -n1; }
mib() { echo $(( ${1:-0} >> 20 )); }
# "verified" when the runner reported the check named with $1 as passed
verdict() { grep -q "^ok - .*$1" build/demo-run.log && echo verified || echo FAILED; }
maps=$(v maps) unmaps=$(v unmaps) trips=$(v round_trips)
cat <<REPORT

dartpass demo: $(v kernel) guest, pvdma with the emulated DART managing $(v managed)
  NVMe (nvme driver)    256 MiB written, 256 MiB read back with O_DIRECT: $(verdict "NVMe: 256 MiB read back verified")
  NIC (e1000e driver)   64 MiB sent to the host and back: $(verdict "NIC: data verified")
  GPU (virtio-gpu)      $(sed -n 's/.*GPU: created and destroyed \([0-9]*\) buffers, \([0-9]*\) MiB.*/\1 buffers (\2 MiB) created and freed/p' build/demo-run.log | head -n1); a picture on the host's display: $(verdict "the display shows what the guest wrote")
  host mappings         peak $(v peak_mappings) of $(v max_mappings) allowed, peak $(mib "$(v peak_bytes)") MiB of $(mib "$(v max_bytes)") MiB ($(v granule)-byte pages)
  driver DMA calls      $maps maps + $unmaps unmaps -> $trips host round trips ($(awk -v t="$trips" -v m="$maps" -v u="$unmaps" 'BEGIN { printf "%.2f", (m + u) ? 1000 * t / (m + u) : 0 }') per 1000)
  coalescing            policy $(v policy): $(v hits) of $maps maps reused a live host mapping
  DMA faults            $(( $(v faults) - $(v faults_before_linux) )) from Linux (firmware's boot-time probe of the disk, before pvdma: $(v faults_before_linux))
  after a reset         $(grep -v '^#' build/demo-run.log | sed -n 's/.*a reset (reboot) leaves no live host mappings (QMP: \([0-9]*\)).*/\1/p') live host mappings (QMP)
REPORT
if [ "$ok" != 0 ]; then
	echo "demo FAILED; details in build/demo-run.log and $log" >&2
	grep '^not ok' build/demo-run.log >&2 || true
	exit 1
fi
