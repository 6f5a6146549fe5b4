# A guest that stops with the NVMe driver still bound leaves host mappings behind; the
# reset of a reboot must drop all of them (checked over QMP by the runner).
#@ kmods: nvme
#@ qemu: -device pcie-root-port,id=rp1,chassis=1 -device pvdma-pci,id=pv,managed-bus=rp1
#@ qemu: -drive file={DISK},if=none,id=d0,format=raw,cache=unsafe -device nvme,bus=rp1,serial=dp0,drive=d0
#@ timeout: 200
#@ host-live-after: nonzero
dp_check "insmod pvdma" insmod /dp/mod/pvdma.ko
dp_check "modprobe nvme" modprobe nvme
dp_wait 30 test -b /dev/nvme0n1
dp_check "I/O through pvdma" dd if=/dev/nvme0n1 of=/dev/null bs=1M count=16 iflag=direct
