# Sustained traffic through an unmodified e1000e driver behind pvdma (it maps in
# softirq context): 64 MiB sent to an echo service on the host through QEMU's user
# networking and received back intact, with no DMA faults and no warnings. e1000e is
# loaded first, so pvdma must find it bound and rebind it.
#@ kmods: e1000e
#@ qemu: -device pcie-root-port,id=rp1,chassis=1 -device pvdma-pci,id=pv,managed-bus=rp1
#@ qemu: -netdev user,id=n0,guestfwd=tcp:10.0.2.100:7-cmd:{ECHO} -device e1000e,bus=rp1,netdev=n0,romfile=
#@ timeout: 300
#@ host-live-after: 0
mount -t debugfs none /sys/kernel/debug 2>/dev/null
dp_check "modprobe e1000e" modprobe e1000e
dp_check "insmod pvdma" insmod /dp/mod/pvdma.ko
dp_check "pvdma rebinds the already bound e1000e" sh -c 'dmesg | grep -q "e1000e bound before pvdma; rebinding"'
pv=$(ls -d /sys/kernel/debug/pvdma/*/ | head -n1)
faults0=$(sed -n 's/^faults //p' "${pv}host")
dp_wait 30 ip link show eth0
dp_check "e1000e's DMA goes through pvdma" sh -c 'dmesg | grep -q "e1000e.*pvdma: DMA goes through host-chosen bus addresses"'
dp_net_up
dp_check "make 64 MiB of test data" dd if=/dev/urandom of=/tmp/data bs=1M count=64
dp_check "64 MiB through the host's echo service" dp_echo 150 /tmp/data /tmp/back
dp_check "received what was sent" sh -c 'test "$(md5sum </tmp/data)" = "$(md5sum </tmp/back)"'
dp_check "no DMA faults from Linux" grep -q "^faults $faults0$" "${pv}host"
cat "${pv}stats" "${pv}host" | sed "s/^/pvdma: /"
dp_check "ip link set eth0 down" ip link set eth0 down
dp_check "rmmod e1000e" rmmod e1000e
dp_check "no buffers left mapped" grep -q "^buffers 0$" "${pv}stats"
dp_check "rmmod pvdma" rmmod pvdma
dp_check "no kernel warnings" sh -c '! dmesg | grep -E "WARNING|BUG:|Oops|pvdma.*(cannot|not mapped)"'
