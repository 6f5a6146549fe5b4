# L2 of tests/guest/vmm-rig.sh, booted in L1 by our QEMU with L1's NVMe passed through
# by stock vfio-pci: Linux's own nvme driver on it, 4 MiB written and read back with
# O_DIRECT. Proves the rig (L1 -> QEMU -> L2), nothing of dartpass. Each fork/exec costs
# about 0.5 s here: few commands.
#@ kmods: nvme
dp_check "modprobe nvme" modprobe nvme
dp_wait 60 test -b /dev/nvme0n1
dp_check "nvme0n1 appears (vfio-pci passthrough from L1)" test -b /dev/nvme0n1
dd if=/dev/urandom of=/tmp/data bs=1M count=4 2>/dev/null
want=$(md5sum </tmp/data)
dp_check "write 4 MiB (O_DIRECT)" dd if=/tmp/data of=/dev/nvme0n1 bs=1M count=4 oflag=direct
got=$(dd if=/dev/nvme0n1 bs=1M count=4 iflag=direct 2>/dev/null | md5sum)
dp_check "read back 4 MiB (O_DIRECT): same checksum" test "$want" = "$got"
dp_note "4 MiB checksum ${want%% *}"
