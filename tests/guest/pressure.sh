# Host mappings scarce: the exact policy (one host mapping per buffer) against a host
# that allows only 96 live mappings. The NIC's receive ring (256 buffers) takes every
# free mapping and is refused the rest; meanwhile disk writes cannot map, so the block
# layer retries them: I/O waits but never fails or corrupts, and once the ring is
# released (link down) the write completes and mapping works at once again.
#@ kmods: nvme e1000e
#@ qemu: -device pcie-root-port,id=rp1,chassis=1 -device pvdma-pci,id=pv,managed-bus=rp1,max-mappings=96
#@ qemu: -drive file={DISK},if=none,id=d0,format=raw,cache=unsafe
#@ qemu: -device nvme,bus=rp1,addr=0.0,multifunction=on,serial=dp0,drive=d0
#@ qemu: -netdev user,id=n0 -device e1000e,bus=rp1,addr=0.1,netdev=n0,romfile=
#@ timeout: 300
#@ host-live-after: 0
mount -t debugfs none /sys/kernel/debug 2>/dev/null
dp_check "insmod pvdma policy=exact" insmod /dp/mod/pvdma.ko policy=exact
pv=$(ls -d /sys/kernel/debug/pvdma/*/ | head -n1)
faults0=$(sed -n 's/^faults //p' "${pv}host")
dp_check "modprobe nvme e1000e" sh -c 'modprobe nvme && modprobe e1000e'
dp_wait 30 sh -c 'test -b /dev/nvme0n1 && ip link show eth0'
dp_check "make 8 MiB of test data" dd if=/dev/urandom of=/tmp/data bs=1M count=8
dp_check "write with mappings to spare" dd if=/tmp/data of=/dev/nvme0n1 bs=256k oflag=direct
dp_check "link up: the receive ring fills" ip link set eth0 up
sleep 2
dp_check "the host cap was hit" sh -c "! grep -q '^refused_no_mappings 0$' ${pv}stats"
dp_check "the host cap was never exceeded" awk '/^peak_mappings /{exit !($2 <= 96)}' "${pv}host"
dd if=/tmp/data of=/dev/nvme0n1 bs=256k seek=64 oflag=direct 2>/dev/null &
writer=$!
sleep 3
dp_check "meanwhile a disk write waits for mappings" kill -0 $writer
dp_check "link down releases the ring" ip link set eth0 down
wait $writer
dp_check "then the write completes without error" test $? = 0
echo 3 >/proc/sys/vm/drop_caches
want=$(md5sum </tmp/data)
dp_check "the copy written before the pressure reads back intact" test "$want" = "$(dd if=/dev/nvme0n1 bs=256k count=32 iflag=direct 2>/dev/null | md5sum)"
dp_check "the copy written under pressure reads back intact" test "$want" = "$(dd if=/dev/nvme0n1 bs=256k skip=64 count=32 iflag=direct 2>/dev/null | md5sum)"
dp_check "no DMA faults from Linux" grep -q "^faults $faults0$" "${pv}host"
cat "${pv}stats" | sed "s/^/pvdma: /"
dp_check "unload" sh -c 'rmmod e1000e && rmmod nvme && rmmod pvdma'
dp_check "no kernel warnings" sh -c '! dmesg | grep -E "WARNING|BUG:|Oops"'
