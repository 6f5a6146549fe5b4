# Passthrough in the nested rig's L1 (tests/guest/vfio-rig.sh): the Linux provider lends
# L1's NVMe, and our QEMU, in L1, takes it with -device dartpass-pci while pvdma-pci
# (backend=provider) maps DMA through the same provider. First dartpass-pci's realize
# errors: no provider, a function not offered, a function another client holds, a
# provider of another major version (prov-client newer). Then the qtest program
# dartpass-test drives the function with no guest: config space, BAR0, admin queues
# mapped through pvdma at bus addresses the provider chose, an Identify whose data
# lands in guest RAM, an Identify at a bus address unmapped before (L1's IOMMU must log
# the fault), a reset that leaves the provider no mapping, MSI-X vector 0 raised by the
# Identify's completion. dartpass-test runs twice on the same provider: through the
# socket transport (descriptors: BAR fd, memfd, eventfds), then through the IOKit
# transport and its Linux shim (a BAR memory type mapped, guest RAM named by its
# address, interrupts as ENABLE + NOTIFY + IRQ_PENDING). Last, kill -9 of a QEMU
# holding the function: the provider frees it. On sid (7.2), whose vfio-pci lends no
# BAR, dartpass-pci reaches BAR0 through REGION_READ/WRITE instead of a mapping.
#@ only: trixie-amd64 sid-amd64
#@ iommu: on
#@ bin: build/dartpass build/prov-client
#@ qtest: tests/qtest/dartpass-test
#@ mem: 2G
#@ kmods: vfio vfio_iommu_type1 vfio_pci vfio_pci_core?
#@ qemu: -drive file={DISK},if=none,id=d0,format=raw,cache=unsafe
#@ qemu: -device nvme,serial=dp0,drive=d0,addr=4.0
#@ timeout: 600
# One vCPU, as provider-l1.sh.
#@ smp: 1
sock=/tmp/provider.sock
plog=/tmp/provider.log
granule_shift=14
max_mappings=4096

nvme=$(dp_pci_find 1b36:0010)
dp_check "$nvme binds to vfio-pci" dp_vfio_bind "$nvme"
/dp/bin/dartpass provider --socket "$sock" --function "$nvme" \
	--granule-shift "$granule_shift" --max-mappings "$max_mappings" >"$plog" 2>&1 &
prov=$!
dp_wait 20 test -S "$sock"
dp_check "the provider listens on $sock" test -S "$sock"

# qemu_fails WHAT MESSAGE ARGS...: QEMU (qtest accel: no guest) must refuse ARGS at
# start-up with MESSAGE in its error.
qemu_fails() {
	_what=$1 _msg=$2
	shift 2
	timeout -s KILL 60 "$DP_QEMU" -M q35 -accel qtest -display none -nodefaults \
		-qtest null "$@" >/tmp/qemu.err 2>&1
	_st=$?
	sed 's/^/    /' /tmp/qemu.err
	dp_check "$_what: QEMU exits 1 (status $_st)" test "$_st" = 1
	dp_check "$_what: its error says \"$_msg\"" grep -qF "$_msg" /tmp/qemu.err
}
qemu_fails "no provider" "cannot connect to /tmp/absent.sock" \
	-object dartpass-provider,id=prov,socket=/tmp/absent.sock \
	-device "dartpass-pci,provider=prov,host=$nvme"
qemu_fails "IOKit transport, no provider" "cannot open dartpass: IOKit error 0xe00002c0" \
	-object dartpass-provider,id=prov,service=dartpass,socket=/tmp/absent.sock
qemu_fails "a function not offered" "0000:00:09.0" \
	-object "dartpass-provider,id=prov,socket=$sock" \
	-device dartpass-pci,provider=prov,host=0000:00:09.0
/dp/bin/prov-client hold "$sock" >/tmp/hold.out 2>&1 &
hold=$!
dp_wait 60 grep -q holding /tmp/hold.out
qemu_fails "a function another client holds" "is claimed by another client (provider: BUSY)" \
	-object "dartpass-provider,id=prov,socket=$sock" \
	-device "dartpass-pci,provider=prov,host=$nvme"
kill -9 "$hold"
wait "$hold" 2>/dev/null
# The hold claimed the NVMe: the provider has said by now whether it lends BAR0.
if grep -qF "${nvme}: BAR0: its sysfs file cannot be mapped" "$plog"; then
	bar_mapped=0
else
	bar_mapped=1
fi
dp_note "BAR0 lent as a mapping: $bar_mapped"
/dp/bin/prov-client free "$sock"
/dp/bin/prov-client newer /tmp/newer.sock >/tmp/newer.out 2>&1 &
newer=$!
dp_wait 20 grep -q "newer: listening" /tmp/newer.out
qemu_fails "a provider of another major version" "provider speaks version 2.0, QEMU 1.0" \
	-object dartpass-provider,id=prov,socket=/tmp/newer.sock
wait "$newer"
cat /tmp/newer.out

# dartpass-test TRANSPORT FAULTS: one run; FAULTS is the count of DMAR faults L1
# must have logged after it (one per run: its Identify at an unmapped bus address).
dartpass_test() {
	DARTPASS_TRANSPORT=$1 DARTPASS_SOCKET=$sock DARTPASS_NVME=$nvme DARTPASS_SERIAL=dp0 \
		DARTPASS_GRANULE_SHIFT=$granule_shift DARTPASS_MAX_MAPPINGS=$max_mappings \
		DARTPASS_BAR_MAPPED=$bar_mapped dp_qtest dartpass-test
	a=$(sed -n 's/^# unmapped-iova \(0x[0-9a-f]*\).*/\1/p' /tmp/qtest.out)
	dp_wait 10 sh -c "test \"\$(dmesg | grep -c 'DMAR: \\[DMA')\" -ge $2"
	dp_check "$1: Identify at an unmapped bus address: L1's IOMMU blocked and logged it (${a:-?})" \
		dp_dmar_write_fault "$nvme" "${a:-none}"
	dp_check "$1: no other IOMMU fault in L1" \
		sh -c "test \"\$(dmesg | grep -c 'DMAR: \\[DMA')\" = $2"
}
dartpass_test socket 1
dartpass_test iokit 2

# kill -9 of a QEMU that holds the function (paused: no guest runs; -daemonize returns
# once its devices are realized): the provider lets it go.
"$DP_QEMU" -M q35,memory-backend=ram -m 256M -nodefaults -display none -S \
	-daemonize -pidfile /tmp/qemu.pid \
	-object memory-backend-memfd,id=ram,share=on,size=256M \
	-object "dartpass-provider,id=prov,socket=$sock" \
	-device "dartpass-pci,provider=prov,host=$nvme" \
	-device pvdma-pci,backend=provider,provider=prov >/tmp/qemu.out 2>&1
dp_check "QEMU with the NVMe passed through starts" test -s /tmp/qemu.pid
sed 's/^/    /' /tmp/qemu.out
/dp/bin/prov-client busy "$sock" 0
kill -9 "$(cat /tmp/qemu.pid)"
/dp/bin/prov-client free "$sock"

kill -TERM "$prov"
wait "$prov"
st=$?
dp_check "the provider exits 0 on SIGTERM (status $st)" test "$st" = 0
dp_check "no kernel warnings in L1" sh -c '! dmesg | grep -E "WARNING|BUG:|Oops"'
