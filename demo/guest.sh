# The demo's guest side: pvdma plus real NVMe, NIC and GPU traffic through the emulated
# DART, reported as "DEMO key value" lines for demo/run.sh.
#@ kmods: nvme e1000e virtio-gpu virtio_pci?
#@ prog: tests/guest/drm-client.c
#@ qemu: -device pcie-root-port,id=rp1,chassis=1 -device pvdma-pci,id=pv,managed-bus=rp1
#@ qemu: -drive file={DISK},if=none,id=d0,format=raw,cache=unsafe
#@ qemu: -device nvme,bus=rp1,addr=0.0,multifunction=on,serial=dp0,drive=d0
#@ qemu: -netdev user,id=n0,guestfwd=tcp:10.0.2.100:7-cmd:{ECHO} -device e1000e,bus=rp1,addr=0.1,netdev=n0,romfile=
#@ qemu: -device virtio-gpu-pci,bus=rp1,addr=0.2,iommu_platform=on,disable-legacy=on
#@ host-after: python3 tests/tools/check-screen.py
#@ timeout: 400
#@ host-live-after: nonzero
mount -t debugfs none /sys/kernel/debug 2>/dev/null
modprobe virtio_pci 2>/dev/null	# built in on newer kernels: then pvdma rebinds it
dp_check "insmod pvdma" insmod /dp/mod/pvdma.ko
pv=$(ls -d /sys/kernel/debug/pvdma/*/ | head -n1)
faults0=$(sed -n 's/^faults //p' "${pv}host")
dp_check "modprobe nvme e1000e" sh -c 'modprobe nvme && modprobe e1000e'
dp_wait 30 sh -c 'test -b /dev/nvme0n1 && ip link show eth0'
dp_net_up
dd if=/dev/urandom of=/tmp/data bs=1M count=256 2>/dev/null
want=$(md5sum </tmp/data)
dp_check "NVMe: write 256 MiB" dd if=/tmp/data of=/dev/nvme0n1 bs=1M oflag=direct
echo 3 >/proc/sys/vm/drop_caches
got=$(dd if=/dev/nvme0n1 bs=1M count=256 iflag=direct 2>/dev/null | md5sum)
dp_check "NVMe: 256 MiB read back verified" test "$want" = "$got"
head -c 67108864 /tmp/data >/tmp/net
dp_check "NIC: 64 MiB echoed by the host" dp_echo 150 /tmp/net /tmp/net.back
dp_check "NIC: data verified" sh -c 'test "$(md5sum </tmp/net)" = "$(md5sum </tmp/net.back)"'
dp_gpu_load
dp_gpu_show
dp_check "no DMA faults from Linux" grep -q "^faults $faults0$" "${pv}host"
echo "DEMO kernel $(uname -r) $(uname -m)"
echo "DEMO managed $(tr '\n' ' ' <"${pv}managed")"
sed 's/^/DEMO /' "${pv}stats" "${pv}host"
echo "DEMO faults_before_linux $faults0"
# The GPU stays bound (see tests/guest/gpu.sh), and so does pvdma: the reset clears it.
dp_check "unload the disk and NIC drivers" sh -c 'ip link set eth0 down && rmmod e1000e && rmmod nvme'
dp_check "no kernel warnings" sh -c '! dmesg | grep -E "WARNING|BUG:|Oops|pvdma.*(cannot|not mapped)"'
