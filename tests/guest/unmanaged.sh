# Negative control: without pvdma's DMA ops the NVMe driver uses ordinary addresses,
# which the emulated DART does not know: its DMA faults and the disk never appears.
# (pvdma is loaded afterwards, with rebind=0, only to read the host's fault counter.)
#@ kmods: nvme
#@ qemu: -device pcie-root-port,id=rp1,chassis=1 -device pvdma-pci,id=pv,managed-bus=rp1
#@ qemu: -drive file={DISK},if=none,id=d0,format=raw,cache=unsafe -device nvme,bus=rp1,serial=dp0,drive=d0
#@ timeout: 200
mount -t debugfs none /sys/kernel/debug 2>/dev/null
dp_check "modprobe nvme (short admin timeout)" sh -c 'modprobe nvme_core admin_timeout=2 && modprobe nvme'
sleep 8
dp_check "no disk appears" test ! -b /dev/nvme0n1
dp_check "insmod pvdma rebind=0" insmod /dp/mod/pvdma.ko rebind=0
pv=$(ls -d /sys/kernel/debug/pvdma/*/ | head -n1)
grep fault "${pv}host" | sed 's/^/pvdma: /'
dp_check "the DART refused the driver's DMA" sh -c "! grep -q '^faults 0$' ${pv}host"
dp_check "the faulting device is the NVMe function" grep -q "rid 0x100 " "${pv}host"
