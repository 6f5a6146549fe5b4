# The rig for QEMU inside the nested rig's L1 (tests/guest/vfio-rig.sh): our QEMU runs
# in L1 (i) under -accel qtest, driven by a libqtest program (pvdma-test), and (ii) as
# the VMM of an L2 guest whose own script (tests/guest/l2/nvme-stock.sh) runs checks.
# RIG PROOF ONLY: L2 gets L1's NVMe through stock vfio-pci, no dartpass device; this
# shows the rig carries QEMU, qtests and an L2 and counts L2's checks ("l2: ...").
# After L2, L1 reads the disk back with its own nvme driver: the data L2 wrote is there.
# Slow: L2 runs under TCG inside TCG (minutes); one kernel in CI.
#@ only: trixie-amd64
#@ iommu: on
#@ vmm: on
#@ qtest: tests/qtest/pvdma-test
#@ l2: tests/guest/l2/nvme-stock.sh
#@ mem: 2G
#@ kmods: nvme vfio vfio_iommu_type1 vfio_pci vfio_pci_core?
#@ qemu: -drive file={DISK},if=none,id=d0,format=raw,cache=unsafe
#@ qemu: -device nvme,serial=dp0,drive=d0,addr=4.0
#@ timeout: 1200
# One vCPU, as provider-l1.sh.
#@ smp: 1
t0=$(date +%s)
dp_note "L1: /init after $(cut -d' ' -f1 /proc/uptime)s of L1 uptime"
dp_check "our QEMU runs in L1 ($(dp_qemu --version | head -n1))" dp_qemu --version

# (i) The qtest program, against our QEMU in L1.
dp_qtest pvdma-test

# (ii) L2 with L1's NVMe through stock vfio-pci.
nvme=$(dp_pci_find 1b36:0010)
dp_check "$nvme binds to vfio-pci" dp_vfio_bind "$nvme"
t1=$(date +%s)
dp_l2 -device "vfio-pci,host=$nvme" | tee /tmp/l2.out
dp_note "L1: L2 part (binding done to L2 gone): $(($(date +%s) - t1))s"

# Back to L1's nvme driver: the first 4 MiB are what L2 wrote.
want=$(sed -n 's/^DP-NOTE l2: 4 MiB checksum //p' /tmp/l2.out)
d=/sys/bus/pci/devices/$nvme
echo "$nvme" >"$d/driver/unbind"
echo >"$d/driver_override"
modprobe nvme
echo "$nvme" >/sys/bus/pci/drivers/nvme/bind 2>/dev/null
dp_wait 30 test -b /dev/nvme0n1
got=$(dd if=/dev/nvme0n1 bs=1M count=4 iflag=direct 2>/dev/null | md5sum)
dp_check "L1 reads back L2's 4 MiB (${want:-none})" test "${got%% *}" = "$want"
dp_check "no kernel warnings, no IOMMU faults in L1" sh -c '! dmesg | grep -E "WARNING|BUG:|Oops|DMAR.*[Ff][Aa][Uu][Ll][Tt]"'
dp_note "L1: test script took $(($(date +%s) - t0))s"
