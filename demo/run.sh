#!/usr/bin/env bash
# The dartpass demo (the README's first command): on a fresh Debian 12 machine, as
# root, sets everything up, boots an x86_64 Linux guest in which pvdma and the emulated
# DART manage an NVMe disk, a NIC and a GPU, moves real data through all three with
# unmodified drivers, and prints what the host saw.
#
#   bash demo/run.sh              everything: set-up, the guest, the report
#   bash demo/run.sh --until=STEP stop after a set-up step: deps, qemu, kernel, module
#   bash demo/run.sh --passthrough
#                                 the passthrough chain instead (tests/guest/
#                                 passthrough-l2.sh, about 10 minutes): a guest (L1) with
#                                 an emulated IOMMU runs the Linux provider and QEMU,
#                                 whose guest (L2) drives L1's NVMe and NICs through
#                                 dartpass-pci and pvdma's provider backend
#   DP_DEMO_KERNEL=sid-amd64 bash demo/run.sh      another guest kernel (emulated demo)
#
# The set-up's full output goes to build/demo-setup.log; the terminal shows each step
# and how far it has got.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
k=${DP_DEMO_KERNEL:-trixie-amd64}
until= passthrough= steps=4
case ${1:-} in
--until=deps | --until=qemu | --until=kernel | --until=module) until=${1#--until=} ;;
--passthrough) passthrough=1 steps=5 k=trixie-amd64 ;;
"") ;;
*) echo "usage: bash demo/run.sh [--until=deps|qemu|kernel|module | --passthrough]" >&2; exit 2 ;;
esac
cd "$top"
mkdir -p build
setup_log=build/demo-setup.log
: >"$setup_log"

step_log=$setup_log step_total=$steps step_until=$until step_who=demo
. rig/steps.sh

# The passthrough chain's report, from the nested test's console log and TAP lines.
passthrough_demo() {
	local ok=0 log=build/guest/$k/passthrough-l2.log out=build/demo-run.log
	echo "== booting L1, then three L2 guests inside it (TCG in TCG; about 10 minutes)" >&2
	bash rig/guest-run.sh "$k" tests/guest/passthrough-l2.sh >"$out" 2>&1 || ok=$?
	verdict() { grep -q "^ok - .*$1" "$out" && echo verified || echo FAILED; }
	note() { tr -d '\r' <"$log" | sed -n "s/^DP-NOTE $1//p" | head -n1; }
	local pv maps unmaps trips qemu
	pv=$(note "l2: pvdma ")
	# "maps M unmaps U round_trips R"
	maps=$(echo "$pv" | sed -n 's/^maps \([0-9]*\).*/\1/p')
	unmaps=$(echo "$pv" | sed -n 's/.* unmaps \([0-9]*\).*/\1/p')
	trips=$(echo "$pv" | sed -n 's/.* round_trips \([0-9]*\).*/\1/p')
	qemu=$(note "dartpass provider: client [0-9]* gone: " | sed 's/^[^;]*; //')
	cat <<REPORT

dartpass demo, passthrough: L1 ($k, emulated IOMMU) runs the Linux provider and QEMU;
L2 drives L1's functions through dartpass-pci, every DMA mapped by pvdma via the provider
  NVMe (nvme driver)      64 MiB written, read back with O_DIRECT: $(verdict "l2: read back 64 MiB")
  NIC (e1000e driver)     2 MiB echoed by the host: $(verdict "l2: e1000e: received what was sent")
  NIC (e1000, INTx only)  1 MiB echoed by the host: $(verdict "l2: e1000 (INTx): received what was sent")
  driver DMA calls        ${maps:-?} maps + ${unmaps:-?} unmaps -> ${trips:-?} provider round trips ($(awk -v t="$trips" -v m="$maps" -v u="$unmaps" 'BEGIN { printf "%.2f", (m + u) ? 1000 * t / (m + u) : 0 }') per 1000)
  the provider saw        ${qemu:-?}
  IOMMU faults in L1      none once L2's Linux ran: $(verdict "L1's IOMMU logged no fault once L2's Linux ran")
  kill -9 of QEMU         provider holds no mapping, functions free: $(verdict "idle after kill -9 of QEMU: COUNTERS")
  without pvdma           L1's IOMMU blocks the driver's DMA: $(verdict "nopvdma: L1's IOMMU blocked")
REPORT
	if [ "$ok" != 0 ]; then
		echo "demo FAILED; details in $out and $log" >&2
		grep '^not ok' "$out" >&2 || true
		exit 1
	fi
	exit 0
}

echo "== setting up (packages, QEMU, guest kernel ${k%-*}); cached under build/" >&2
step deps 1 "host packages" bash rig/deps.sh
step qemu 2 "QEMU (its build counts its steps)" bash qemu/build.sh
step kernel 3 "guest kernel ${k%-*} and its build chroot" bash rig/kernels.sh "${k%-*}"
step module 4 "the pvdma module for $k" bash rig/kmod-build.sh "build/kernels/$k.env" guest "build/mod/$k"
if [ -n "$passthrough" ]; then
	step provider 5 "the Linux provider and its test client" make -s tools provider-client
	passthrough_demo
fi
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
