# Two functions of one managed slot (as a GPU and its audio function are), both CPUs
# mapping at once: NVMe I/O and network traffic run concurrently through one pvdma,
# with data intact, no faults, no warnings, and consistent counters.
#@ kmods: nvme e1000e
#@ qemu: -device pcie-root-port,id=rp1,chassis=1 -device pvdma-pci,id=pv,managed-bus=rp1
#@ qemu: -drive file={DISK},if=none,id=d0,format=raw,cache=unsafe
#@ qemu: -device nvme,bus=rp1,addr=0.0,multifunction=on,serial=dp0,drive=d0
#@ qemu: -netdev user,id=n0,guestfwd=tcp:10.0.2.100:7-cmd:{ECHO} -device e1000e,bus=rp1,addr=0.1,netdev=n0,romfile=
#@ timeout: 300
#@ host-live-after: 0
mount -t debugfs none /sys/kernel/debug 2>/dev/null
dp_check "insmod pvdma" insmod /dp/mod/pvdma.ko
pv=$(ls -d /sys/kernel/debug/pvdma/*/ | head -n1)
faults0=$(sed -n 's/^faults //p' "${pv}host")
dp_check "both functions are managed" sh -c "test \$(wc -l <${pv}managed) = 2"
dp_check "modprobe nvme e1000e" sh -c 'modprobe nvme && modprobe e1000e'
dp_wait 30 sh -c 'test -b /dev/nvme0n1 && ip link show eth0'
dp_net_up
dp_check "make test data" sh -c 'dd if=/dev/urandom of=/tmp/disk bs=1M count=96 && dd if=/dev/urandom of=/tmp/net bs=1M count=32'
( dd if=/tmp/disk of=/dev/nvme0n1 bs=64k oflag=direct 2>/dev/null &&
  dd if=/dev/nvme0n1 of=/tmp/disk.back bs=64k count=1536 iflag=direct 2>/dev/null; echo $? >/tmp/disk.rc ) &
( dp_echo 150 /tmp/net /tmp/net.back; echo $? >/tmp/net.rc ) &
wait
dp_check "disk I/O finished" grep -q '^0$' /tmp/disk.rc
dp_check "network transfer finished" grep -q '^0$' /tmp/net.rc
dp_check "disk data intact" sh -c 'test "$(md5sum </tmp/disk)" = "$(md5sum </tmp/disk.back)"'
dp_check "network data intact" sh -c 'test "$(md5sum </tmp/net)" = "$(md5sum </tmp/net.back)"'
dp_check "no DMA faults from Linux" grep -q "^faults $faults0$" "${pv}host"
dp_check "maps - unmaps = live buffers" awk '/^maps /{m=$2} /^unmaps /{u=$2} /^buffers /{b=$2} /^bad_unmaps /{x=$2} END{exit !(m - u == b && x == 0)}' "${pv}stats"
cat "${pv}stats" | sed "s/^/pvdma: /"
dp_check "unload" sh -c 'ip link set eth0 down && rmmod e1000e && rmmod nvme && rmmod pvdma'
dp_check "no kernel warnings" sh -c '! dmesg | grep -E "WARNING|BUG:|Oops|pvdma.*(cannot|not mapped)"'
