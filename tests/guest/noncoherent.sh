# A machine whose PCIe is not cache-coherent (arm64 virt, its device tree without
# "dma-coherent"): pvdma still manages the NVMe disk, allocates its coherent memory
# uncached and syncs every streaming map through the kernel's own cache maintenance.
# TCG does not model caches, so this proves the path (it runs, the data is intact, no
# faults), not the cache effects themselves.
#@ arch: arm64
#@ kmods: nvme
#@ qemu: -dtb {NONCOHERENT_DTB}
#@ qemu: -device pcie-root-port,id=rp1,chassis=1 -device pvdma-pci,id=pv,managed-bus=rp1
#@ qemu: -drive file={DISK},if=none,id=d0,format=raw,cache=unsafe -device nvme,bus=rp1,serial=dp0,drive=d0
#@ timeout: 300
#@ host-live-after: 0
mount -t debugfs none /sys/kernel/debug 2>/dev/null
dp_check "insmod pvdma" insmod /dp/mod/pvdma.ko
pv=$(ls -d /sys/kernel/debug/pvdma/*/ | head -n1)
dp_check "modprobe nvme" modprobe nvme
dp_wait 30 test -b /dev/nvme0n1
dp_check "nvme is managed although not cache-coherent" sh -c 'dmesg | grep -q "nvme.*pvdma: DMA goes through host-chosen bus addresses (not cache-coherent"'
dp_check "make 64 MiB of test data" dd if=/dev/urandom of=/tmp/data bs=1M count=64
dp_check "write 64 MiB (O_DIRECT)" dd if=/tmp/data of=/dev/nvme0n1 bs=1M oflag=direct
echo 3 >/proc/sys/vm/drop_caches
dp_check "read back: same checksum" test "$(md5sum </tmp/data)" = "$(dd if=/dev/nvme0n1 bs=1M count=64 iflag=direct 2>/dev/null | md5sum)"
cat "${pv}stats" | sed "s/^/pvdma: /"
dp_check "maps and unmaps were synced" sh -c "! grep -q '^syncs 0$' ${pv}stats"
dp_check "no DMA faults" grep -q "^faults 0$" "${pv}host"
dp_check "unload" sh -c 'rmmod nvme && rmmod pvdma'
dp_check "no kernel warnings" sh -c '! dmesg | grep -E "WARNING|BUG:|Oops|pvdma.*(cannot|not mapped)"'
