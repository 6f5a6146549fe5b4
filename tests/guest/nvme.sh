# Real I/O through an unmodified NVMe driver whose every DMA goes through pvdma and the
# emulated DART: 256 MiB written and read back with O_DIRECT, checksums equal, no
# DMA faults, and nothing left mapped once the driver is gone; the host sees zero
# live mappings after unload.
#@ kmods: nvme
#@ qemu: -device pcie-root-port,id=rp1,chassis=1 -device pvdma-pci,id=pv,managed-bus=rp1
#@ qemu: -drive file={DISK},if=none,id=d0,format=raw,cache=unsafe -device nvme,bus=rp1,serial=dp0,drive=d0
#@ timeout: 300
#@ host-live-after: 0
mount -t debugfs none /sys/kernel/debug 2>/dev/null
dp_check "insmod pvdma" insmod /dp/mod/pvdma.ko
pv=$(ls -d /sys/kernel/debug/pvdma/*/ | head -n1)
# x86 firmware (SeaBIOS) probes NVMe before Linux, with untranslated addresses: those
# faults are real but not Linux's, so count from here.
faults0=$(sed -n 's/^faults //p' "${pv}host")
echo "faults before Linux used the disk: $faults0"
dp_check "modprobe nvme" modprobe nvme
dp_wait 30 test -b /dev/nvme0n1
dp_check "nvme0n1 appears" test -b /dev/nvme0n1
dp_check "nvme's DMA goes through pvdma" sh -c 'dmesg | grep -q "nvme.*pvdma: DMA goes through host-chosen bus addresses"'
dp_check "make 256 MiB of test data" dd if=/dev/urandom of=/tmp/data bs=1M count=256
want=$(md5sum </tmp/data)
dp_check "write 256 MiB (O_DIRECT)" dd if=/tmp/data of=/dev/nvme0n1 bs=1M count=256 oflag=direct
rm /tmp/data
echo 3 >/proc/sys/vm/drop_caches
got=$(dd if=/dev/nvme0n1 bs=1M count=256 iflag=direct 2>/dev/null | md5sum)
dp_check "read back 256 MiB: same checksum" test "$want" = "$got"
dp_check "no DMA faults from Linux" grep -q "^faults $faults0$" "${pv}host"
dp_check "host mappings were used" sh -c "! grep -q '^peak_mappings 0$' ${pv}host"
cat "${pv}stats" "${pv}host" | sed "s/^/pvdma: /"
dp_check "rmmod pvdma is refused while nvme is bound" sh -c '! rmmod pvdma'
dp_check "rmmod nvme" rmmod nvme
dp_check "no buffers left mapped" grep -q "^buffers 0$" "${pv}stats"
dp_check "rmmod pvdma" rmmod pvdma
dp_check "no kernel warnings" sh -c '! dmesg | grep -E "WARNING|BUG:|Oops|pvdma.*(cannot|not mapped)"'
