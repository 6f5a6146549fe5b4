# L2 of tests/guest/passthrough-l2.sh: L1's NVMe, e1000e and INTx-only e1000, passed
# through by dartpass-pci, driven by their unmodified drivers with every DMA mapped by
# pvdma through L1's provider. The kernel argument dp.mode picks what runs:
#   io        (default) the whole round: disk, both NICs, unload, pvdma's counters
#   hold      disk I/O; the first boot marks the disk and reboots with its mappings
#             live ("DP-NOTE rebooting"), the second (the mark found) does the I/O again,
#             then says "DP-NOTE holding" and waits to be killed with QEMU
#   nopvdma   negative control: nvme without pvdma; its DMA must fault in L1's IOMMU
# Each fork/exec costs about 0.5 s here: few commands.
#@ kmods: nvme e1000e e1000
mode=io
case $(cat /proc/cmdline) in *dp.mode=hold*) mode=hold ;; *dp.mode=nopvdma*) mode=nopvdma ;; esac
mount -t debugfs none /sys/kernel/debug 2>/dev/null

if [ "$mode" = nopvdma ]; then
	dp_check "modprobe nvme without pvdma (short admin timeout)" \
		sh -c 'modprobe nvme_core admin_timeout=2 && modprobe nvme'
	sleep 10
	dp_check "no disk appears" test ! -b /dev/nvme0n1
	dp_check "no kernel oops" sh -c '! dmesg | grep -E "BUG:|Oops"'
	exit 0
fi

dp_check "insmod pvdma" insmod /dp/mod/pvdma.ko
pv=$(ls -d /sys/kernel/debug/pvdma/*/ | head -n1)
dp_check "pvdma manages exactly the passed-through functions (04.0, 05.0, 05.1)" \
	test "$(echo $(cat "${pv}managed"))" = "0000:00:04.0 0000:00:05.0 0000:00:05.1"
dp_check "modprobe nvme" modprobe nvme
dp_wait 60 test -b /dev/nvme0n1
dp_check "nvme0n1 appears" test -b /dev/nvme0n1
dp_check "nvme's DMA goes through pvdma" sh -c 'dmesg | grep -q "nvme.*pvdma: DMA goes through host-chosen bus addresses"'
dd if=/dev/urandom of=/tmp/data bs=1M count=64 2>/dev/null
want=$(md5sum </tmp/data)
dp_check "write 64 MiB (O_DIRECT)" dd if=/tmp/data of=/dev/nvme0n1 bs=1M count=64 oflag=direct
rm /tmp/data
got=$(dd if=/dev/nvme0n1 bs=1M count=64 iflag=direct 2>/dev/null | md5sum)
dp_check "read back 64 MiB (O_DIRECT): same checksum" test "$want" = "$got"
if [ "$mode" = hold ]; then
	# The mark lies past the test data, at 100 MiB.
	if ! dd if=/dev/nvme0n1 bs=512 skip=204800 count=1 2>/dev/null | grep -q DP-REBOOTED; then
		echo DP-REBOOTED | dd of=/dev/nvme0n1 bs=512 seek=204800 conv=sync 2>/dev/null
		sync
		dp_note "rebooting"
		reboot -f
	fi
	dp_note "holding"
	sleep 900
fi

dp_check "modprobe e1000e" modprobe e1000e
dp_wait 30 ip link show eth0
dp_net_up
dd if=/dev/urandom of=/tmp/data bs=1M count=2 2>/dev/null
dp_check "e1000e: 2 MiB through the host's echo service" dp_echo 300 /tmp/data /tmp/back
dp_check "e1000e: received what was sent" sh -c 'test "$(md5sum </tmp/data)" = "$(md5sum </tmp/back)"'
ip link set eth0 down
dp_check "rmmod e1000e" rmmod e1000e
# The INTx-only e1000 (no MSI capability): its interrupts are INTx through the provider.
dp_check "modprobe e1000" modprobe e1000
dp_wait 30 ip link show eth0
dp_net_up
head -c 1048576 /tmp/data >/tmp/data1
dp_check "e1000 (INTx): 1 MiB through the host's echo service" dp_echo 300 /tmp/data1 /tmp/back
dp_check "e1000 (INTx): received what was sent" sh -c 'test "$(md5sum </tmp/data1)" = "$(md5sum </tmp/back)"'
dp_check "e1000's interrupt is INTx (IO-APIC)" sh -c 'grep -E "IO-APIC.*eth0" /proc/interrupts'
ip link set eth0 down
dp_check "rmmod e1000" rmmod e1000
dp_check "rmmod nvme" rmmod nvme
dp_check "no buffers left mapped" grep -q "^buffers 0$" "${pv}stats"
cat "${pv}stats" "${pv}host" | sed "s/^/pvdma: /"
dp_note "pvdma $(echo $(grep -hE '^(maps|unmaps|round_trips) ' "${pv}stats"))"
dp_check "rmmod pvdma" rmmod pvdma
dp_check "no kernel warnings" sh -c '! dmesg | grep -E "WARNING|BUG:|Oops|pvdma.*(cannot|not mapped)"'
