# The coalescing mapper compiled into the module and the one in `dartpass sim` are the
# same source: real NVMe and NIC traffic is traced in the guest (adaptive policy), and
# on the host the simulator replays the trace and must reach the module's own peak
# host mappings, host requests and hits (tests/tools/replay-guest-trace.sh).
#@ kmods: nvme e1000e
#@ qemu: -device pcie-root-port,id=rp1,chassis=1 -device pvdma-pci,id=pv,managed-bus=rp1
#@ qemu: -drive file={DISK},if=none,id=d0,format=raw,cache=unsafe
#@ qemu: -device nvme,bus=rp1,addr=0.0,multifunction=on,serial=dp0,drive=d0
#@ qemu: -netdev user,id=n0,guestfwd=tcp:10.0.2.100:7-cmd:{ECHO} -device e1000e,bus=rp1,addr=0.1,netdev=n0,romfile=
#@ timeout: 300
#@ host-live-after: 0
#@ host-after: bash tests/tools/replay-guest-trace.sh
mount -t debugfs none /sys/kernel/debug 2>/dev/null
dp_check "insmod pvdma trace=1" insmod /dp/mod/pvdma.ko trace=1
pv=$(ls -d /sys/kernel/debug/pvdma/*/ | head -n1)
dp_check "modprobe nvme e1000e" sh -c 'modprobe nvme && modprobe e1000e'
dp_wait 30 sh -c 'test -b /dev/nvme0n1 && ip link show eth0'
dp_net_up
dp_check "make 16 MiB of test data" dd if=/dev/urandom of=/tmp/data bs=1M count=16
dp_check "disk: write 16 MiB in mixed request sizes" sh -c 'dd if=/tmp/data of=/dev/nvme0n1 bs=4k count=1024 oflag=direct && dd if=/tmp/data of=/dev/nvme0n1 bs=1M seek=4 skip=4 count=12 oflag=direct'
dp_check "disk: read back" test "$(md5sum </tmp/data)" = "$(dd if=/dev/nvme0n1 bs=64k count=256 iflag=direct 2>/dev/null | md5sum)"
head -c 2097152 /tmp/data >/tmp/net
dp_check "net: 2 MiB echoed by the host" dp_echo 100 /tmp/net /tmp/net.back
dp_check "net: echoed intact" cmp /tmp/net /tmp/net.back
dp_check "net: link down" ip link set eth0 down
n=$(wc -l <"${pv}trace")
dp_check "the ring kept every event ($n)" test "$n" -lt 65536
dp_report_trace "$pv"
dp_check "unload" sh -c 'rmmod e1000e && rmmod nvme && rmmod pvdma'
