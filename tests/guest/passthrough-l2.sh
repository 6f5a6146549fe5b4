# Passthrough end to end in the nested rig: L1 (tests/guest/vfio-rig.sh) runs the Linux
# provider, which lends L1's NVMe, e1000e and INTx-only e1000, and our QEMU, which
# passes them to L2 with dartpass-pci (the NVMe at 04.0; the NICs as one multi-function
# device, 05.0 and 05.1, as a GPU and its HDMI audio would be) and maps every DMA
# through pvdma's provider backend. L2 (tests/guest/l2/passthrough.sh) drives them with
# their unmodified drivers. Three L2 runs: the whole round (64 MiB on the disk, traffic
# on both NICs); one that reboots with mappings live (the provider then holds none)
# and, booted again, is killed with -9 while it holds mappings (the provider then holds
# nothing); and a negative control without pvdma, whose DMA L1's IOMMU blocks. L1
# must log no IOMMU fault but the control's, and the provider must outlive all three.
# Slow: each L2 boot is a minute or more of TCG inside TCG.
#@ only: trixie-amd64
#@ iommu: on
#@ bin: build/dartpass build/prov-client
#@ l2: tests/guest/l2/passthrough.sh
#@ mem: 2G
#@ kmods: vfio vfio_iommu_type1 vfio_pci vfio_pci_core?
#@ qemu: -drive file={DISK},if=none,id=d0,format=raw,cache=unsafe
#@ qemu: -device nvme,serial=dp0,drive=d0,addr=4.0
#@ qemu: -netdev user,id=n0,guestfwd=tcp:10.0.2.100:7-cmd:{ECHO} -device e1000e,netdev=n0,addr=5.0,romfile=
#@ qemu: -netdev user,id=n1,guestfwd=tcp:10.0.2.100:7-cmd:{ECHO} -device e1000,netdev=n1,addr=6.0,romfile=
#@ timeout: 1500
# One vCPU, as provider-l1.sh.
#@ smp: 1
sock=/tmp/provider.sock
plog=/tmp/provider.log
dmar_faults() { dmesg | grep -c 'DMAR: \[DMA'; }
# idle WHEN: the provider holds nothing, every function is free (prov-client idle).
idle() {
	/dp/bin/prov-client idle "$sock" | sed -E "s/^DP-TEST (ok|not ok) idle: /DP-TEST \1 idle $1: /"
}
# l2 NAME [dp_l2 ARGS...]: boots L2 in the background, its output in /tmp/NAME.out.
# L2's firmware (SeaBIOS) probes the NVMe with guest-physical addresses before Linux
# runs, and L1's IOMMU blocks that: faults count from L2's /init on. l2_wait [-killed]
# waits for it, shows its output (-killed: without the "finished" check, which a
# killed QEMU cannot pass) and sets $linux_faults to the faults L1 logged since /init.
l2() {
	l2_name=$1
	shift
	dp_l2 "$@" >"/tmp/$l2_name.out" 2>&1 &
	l2_pid=$!
	dp_wait 600 grep -q "L2's /init" "/tmp/$l2_name.out"
	faults0=$(dmar_faults)
}
l2_wait() {
	wait "$l2_pid"
	linux_faults=$(($(dmar_faults) - faults0))
	if [ "$1" = -killed ]; then
		grep -v ' l2: finished' "/tmp/$l2_name.out" | sed "s/ l2: / l2 ($l2_name): /"
	else
		cat "/tmp/$l2_name.out"
	fi
}

dp_rig_functions
/dp/bin/dartpass provider --socket "$sock" --function "$nvme" --function "$nic" \
	--function "$intx" >"$plog" 2>&1 &
prov=$!
dp_wait 20 test -S "$sock"
dp_check "the provider listens on $sock" test -S "$sock"

set -- -object memory-backend-memfd,id=ram,share=on,size=256M \
	-machine memory-backend=ram \
	-object "dartpass-provider,id=prov,socket=$sock" \
	-device "dartpass-pci,provider=prov,host=$nvme,addr=04.0" \
	-device "dartpass-pci,provider=prov,host=$nic,addr=05.0,multifunction=on" \
	-device "dartpass-pci,provider=prov,host=$intx,addr=05.1" \
	-device pvdma-pci,backend=provider,provider=prov,addr=06.0

l2 io "$@"
l2_wait
dp_check "L1's IOMMU logged no fault once L2's Linux ran ($linux_faults)" test "$linux_faults" = 0
idle "after L2 powered off"

# L2 reboots with its mappings live (the disk's driver bound): the reset leaves the
# provider none while QEMU keeps the functions. The second boot does its disk I/O
# again; QEMU is killed with -9 while it holds those mappings. Its checks up to the
# kill count; "finished" cannot, QEMU was killed.
l2 hold -a dp.mode=hold "$@" -action reboot=reset -pidfile /tmp/hold.pid
dp_wait 600 grep -q "DP-NOTE l2: rebooting" /tmp/hold.out
sleep 5
/dp/bin/prov-client busy "$sock" 0 |
	sed -E "s/^DP-TEST (ok|not ok) busy: /DP-TEST \1 L2 rebooted, QEMU holds the NVMe: /"
# SeaBIOS probes the disk again: faults count from the second /init.
dp_wait 600 sh -c "test \$(grep -c \"L2's /init\" /tmp/hold.out) -ge 2"
faults0=$(dmar_faults)
dp_wait 600 grep -q "DP-NOTE l2: holding" /tmp/hold.out
kill -9 "$(cat /tmp/hold.pid)"
l2_wait -killed
dp_check "L2 rebooted, then held its mappings when QEMU was killed" \
	grep -q "DP-NOTE l2: holding" /tmp/hold.out
dp_check "L1's IOMMU logged no fault once L2's second Linux ran ($linux_faults)" \
	test "$linux_faults" = 0
idle "after kill -9 of QEMU"

# Negative control: no pvdma, so nvme hands the device guest-physical addresses that
# the provider never mapped: L1's IOMMU must block them.
l2 nopvdma -a dp.mode=nopvdma "$@"
l2_wait
dp_check "nopvdma: L1's IOMMU blocked the NVMe's DMA once L2's Linux ran ($linux_faults)" \
	test "$linux_faults" -gt 0
dp_check "nopvdma: the faulting device is the NVMe" \
	sh -c "dmesg | tail -n 4 | grep -q 'DMAR: \\[DMA .*\\[\\(0000:\\)\\?${nvme#0000:}\\]'"
idle "after the negative control"
# What each QEMU that mapped did with its DMA, as the provider saw it.
grep "gone:" "$plog" | grep -v "; 0 maps" | sed 's/^/DP-NOTE /'
kill -TERM "$prov"
wait "$prov"
st=$?
dp_check "the provider outlived every L2 and exits 0 on SIGTERM (status $st)" test "$st" = 0
dp_check "no kernel warnings in L1" sh -c '! dmesg | grep -E "WARNING|BUG:|Oops"'
