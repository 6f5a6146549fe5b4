# A guest kernel panic mid-I/O, then a reboot (issue 24): the first boot writes a
# marker and a reference block to the NVMe disk through pvdma, starts direct I/O and
# panics (sysrq c) while it runs; panic=-1 reboots at once, which -no-reboot makes a
# stop. The runner checks over QMP that the panic left host mappings, resets (which must
# leave none) and boots again ("#@ boots: 2"). The second boot finds the marker, sees
# no host mapping before any driver maps, reads the reference block intact and does
# verified I/O; once everything is unloaded the host holds nothing.
#@ only: trixie-amd64 trixie-arm64
#@ kmods: nvme
#@ qemu: -device pcie-root-port,id=rp1,chassis=1 -device pvdma-pci,id=pv,managed-bus=rp1
#@ qemu: -drive file={DISK},if=none,id=d0,format=raw,cache=unsafe -device nvme,bus=rp1,serial=dp0,drive=d0
#@ boots: 2
#@ host-live-between: nonzero
#@ host-live-after: 0
#@ timeout: 300
mount -t debugfs none /sys/kernel/debug 2>/dev/null
marker="dartpass fault-panic: boot 1 ran"
dp_check "insmod pvdma" insmod /dp/mod/pvdma.ko
pv=$(ls -d /sys/kernel/debug/pvdma/*/ | head -n1)
live0=$(sed -n 's/^live_mappings //p' "${pv}host")
dp_check "modprobe nvme" modprobe nvme
dp_wait 30 test -b /dev/nvme0n1
dp_check "nvme0n1 appears" test -b /dev/nvme0n1
if [ "$(dd if=/dev/nvme0n1 bs=4096 count=1 iflag=direct 2>/dev/null | head -c ${#marker})" != "$marker" ]; then
	dp_note "boot 1: I/O, then a panic"
	dp_check "boot 1: make 4 MiB of reference data" dd if=/dev/urandom of=/tmp/ref bs=1M count=4
	md5sum </tmp/ref >/tmp/ref.md5
	# The marker block carries the reference data's checksum.
	{ echo "$marker"; cat /tmp/ref.md5; } >/tmp/block
	dp_check "boot 1: write the reference data" dd if=/tmp/ref of=/dev/nvme0n1 bs=1M seek=1 oflag=direct
	dp_check "boot 1: write the marker" dd if=/tmp/block of=/dev/nvme0n1 bs=4096 conv=sync oflag=direct
	dp_check "boot 1: make 16 MiB of churn data" dd if=/dev/urandom of=/tmp/data bs=1M count=16
	# Direct I/O in a loop, away from the reference data, while the kernel panics.
	(while :; do
		dd if=/tmp/data of=/dev/nvme0n1 bs=64k seek=512 oflag=direct 2>/dev/null
		dd if=/dev/nvme0n1 of=/dev/null bs=64k skip=512 count=256 iflag=direct 2>/dev/null
	done) &
	sleep 3
	dp_check "boot 1: I/O in flight maps host pages (BAR0: $(sed -n 's/^live_mappings //p' "${pv}host"))" \
		sh -c "! grep -q '^live_mappings 0$' ${pv}host"
	echo 1 >/proc/sys/kernel/sysrq
	echo c >/proc/sysrq-trigger
	sleep 30
	dp_check "boot 1: the kernel panicked" false
else
	dp_note "boot 2: after the panic and reset"
	dp_check "boot 2: pvdma found no host mapping when it loaded (BAR0: $live0)" test "$live0" = 0
	want=$(dd if=/dev/nvme0n1 bs=4096 count=1 iflag=direct 2>/dev/null | sed -n 2p)
	got=$(dd if=/dev/nvme0n1 bs=1M skip=1 count=4 iflag=direct 2>/dev/null | md5sum)
	dp_check "boot 2: the reference data written before the panic reads back intact" test "$want" = "$got"
	dp_check "boot 2: make 16 MiB of test data" dd if=/dev/urandom of=/tmp/data bs=1M count=16
	w=$(md5sum </tmp/data)
	dp_check "boot 2: write 16 MiB" dd if=/tmp/data of=/dev/nvme0n1 bs=1M seek=64 oflag=direct
	dp_check "boot 2: read them back intact" test "$w" = "$(dd if=/dev/nvme0n1 bs=1M skip=64 count=16 iflag=direct 2>/dev/null | md5sum)"
	dp_check "boot 2: unload" sh -c 'rmmod nvme && rmmod pvdma'
	q=$(dp_qom live-mappings)
	dp_check "boot 2: QEMU holds no mapping after unload (QMP: $q)" test "$q" = 0
	dp_check "boot 2: no kernel warnings" sh -c '! dmesg | grep -E "WARNING|BUG:|Oops"'
fi
