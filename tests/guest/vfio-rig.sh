# The nested rig: this guest (L1) has an emulated IOMMU, and the PCI functions the
# provider tests drive from L1's user space each bind to vfio-pci, alone in a viable
# IOMMU group: an NVMe disk, an e1000e NIC, and a function with INTx only.
# The INTx-only one is QEMU's e1000 (82540EM, 8086:100e): its config space has no
# capability list at all (no MSI, no MSI-X; like the real chip), and it still does DMA
# (descriptor rings) and can raise its interrupt on demand (ICS register), which an
# INTx test needs. The other INTx-only models in our build either do no DMA (i6300esb,
# pci-testdev) or are obscure; edu and intel-hda have an MSI capability (intel-hda's
# msi=off only leaves it unused by QEMU, and edu's is there for any driver to enable).
# All three sit on q35's root bus (no ACS-less bridge above them), so each is a group
# of its own. Nested runs are slow: one kernel in CI.
#@ only: trixie-amd64
#@ iommu: on
#@ kmods: nvme vfio vfio_iommu_type1 vfio_pci
#@ qemu: -drive file={DISK},if=none,id=d0,format=raw,cache=unsafe
#@ qemu: -device nvme,serial=dp0,drive=d0,addr=4.0
#@ qemu: -netdev user,id=n0 -device e1000e,netdev=n0,addr=5.0,romfile=
#@ qemu: -netdev user,id=n1 -device e1000,netdev=n1,addr=6.0,romfile=
#@ timeout: 120
# One vCPU, as provider-l1.sh: binding to vfio-pci resets the functions.
#@ smp: 1
dp_check "IOMMU registered (/sys/class/iommu)" sh -c 'ls /sys/class/iommu | grep -q .'
# VFIO also wants each function's MSIs kept apart: interrupt remapping on x86, the
# GICv3's ITS on arm64 (this script passes on sid-arm64 too, by hand).
case $(uname -m) in
x86_64)
	dp_check "Intel IOMMU: DMA remapping" sh -c 'dmesg | grep -q "DMAR: Intel(R) Virtualization Technology for Directed I/O"'
	dp_check "Intel IOMMU: interrupt remapping" sh -c 'dmesg | grep -q "Enabled IRQ remapping"' ;;
aarch64)
	dp_check "SMMUv3 probed" sh -c 'dmesg | grep -q "arm-smmu-v3 .*cmdq"'
	dp_check "GICv3 ITS (isolated MSIs)" sh -c 'dmesg | grep -q "ITS@"' ;;
esac
# L1's own nvme driver first: its DMA goes through the IOMMU, and dp_vfio_bind must
# take the function away from it.
dp_check "modprobe nvme" modprobe nvme
dp_wait 30 test -b /dev/nvme0n1
dp_check "nvme0n1 appears (kernel DMA through the IOMMU)" test -b /dev/nvme0n1
for f in nvme=1b36:0010 e1000e=8086:10d3 e1000=8086:100e; do
	name=${f%=*}
	bdf=$(dp_pci_find "${f#*=}") || { dp_check "$name: found (${f#*=})" false; continue; }
	d=/sys/bus/pci/devices/$bdf
	drv=none
	[ -e "$d/driver" ] && drv=$(basename "$(readlink "$d/driver")")
	echo "$name: $bdf, driver $drv, domain $(cat "$d/iommu_group/type")"
	dp_check "$name $bdf: binds to vfio-pci, /dev/vfio/GROUP appears" dp_vfio_bind "$bdf"
	group=$(basename "$(readlink "$d/iommu_group")")
	dp_check "$name $bdf: alone in IOMMU group $group" test "$(ls "/sys/kernel/iommu_groups/$group/devices")" = "$bdf"
	dp_check "$name $bdf: /dev/vfio/$group opens" sh -c "exec 3<>/dev/vfio/$group"
	caps=$(dp_pci_caps "$bdf" | tr '\n' ' ')
	echo "$name: capabilities: $caps"
	case $name in
	# The parser's control: nvme and e1000e do have MSI-X.
	nvme | e1000e) dp_check "$name $bdf: has MSI-X ($caps)" sh -c "echo '$caps' | grep -qw 11" ;;
	e1000)
		dp_check "$name $bdf: INTx only, neither MSI nor MSI-X ($caps)" sh -c "! echo '$caps' | grep -qwE '05|11'"
		pin=$(od -An -tx1 -j61 -N1 "$d/config" | tr -d ' ')
		dp_check "$name $bdf: has an interrupt pin ($pin: INTA..INTD)" sh -c "echo $pin | grep -qx '0[1-4]'" ;;
	esac
done
dp_check "no kernel warnings, no IOMMU faults" sh -c '! dmesg | grep -E "WARNING|BUG:|Oops|DMAR.*[Ff][Aa][Uu][Ll][Tt]|smmu.*event"'
