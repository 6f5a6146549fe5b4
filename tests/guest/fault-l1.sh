# Faults of the passthrough chain in the nested rig's L1 (issue 24), with no L2: our
# QEMU (qtest accelerator, driven from this script over a pipe chardev) lends the NVMe
# through dartpass-pci and maps through pvdma's provider backend, while the script
# rings a stream of MAP batches (each doorbell is one DMA message to the provider) and
# resets pvdma (which unmaps everything, in messages of MAX_BATCH entries).
#  1. The provider is killed (-9) under that load: QEMU reports the lost connection and
#     stays up, pvdma's entries fail NOT_READY at once rather than hang, pvdma holds no
#     mapping; a restarted provider holds nothing of the dead one, its function is free
#     and a new client claims it and does DMA (prov-client nvme).
#  2. QEMU is killed (-9) under the same load: the provider holds no mapping afterwards
#     and the function can be claimed again (passthrough-l1.sh kills an idle QEMU).
#  3. device_del of dartpass-pci, completed by the guest's eject (ACPI hotplug of an
#     i440fx machine): QEMU stays up and releases the function, the provider drops
#     the client's mappings with it, the function is free again.
#  4. The function is removed in L1 (sysfs remove) while lent with live mappings: the
#     removal completes (the provider answers VFIO's request interrupt by ending the
#     client's connection), QEMU and the provider stay up, no mapping is left.
#@ only: trixie-amd64
#@ iommu: on
#@ vmm: on
#@ bin: build/dartpass build/prov-client
#@ mem: 2G
#@ kmods: vfio vfio_iommu_type1 vfio_pci vfio_pci_core?
#@ qemu: -drive file={DISK},if=none,id=d0,format=raw,cache=unsafe
#@ qemu: -device nvme,serial=dp0,drive=d0,addr=4.0
#@ timeout: 420
#@ smp: 1
sock=/tmp/provider.sock
nvme=$(dp_pci_find 1b36:0010)
dp_check "$nvme binds to vfio-pci" dp_vfio_bind "$nvme"
# provider_start N: the provider, its log in /tmp/provider.N.log, its pid in $prov.
provider_start() {
	/dp/bin/dartpass provider --socket "$sock" --function "$nvme" --max-mappings 4096 \
		>/tmp/provider.$1.log 2>&1 &
	prov=$!
	dp_wait 20 grep -q "listening on" /tmp/provider.$1.log
	dp_check "provider $1 listens on $sock" grep -q "listening on" /tmp/provider.$1.log
}

# The guest side, by hand: pvdma-pci at 00:05.0 of a q35 machine, its BAR0 at $bar.
bar=0xfe000000
batch=0x100000
nent=32
# le N BYTES: N as BYTES little-endian bytes, in hex.
le() {
	_v=$1 _i=0
	while [ "$_i" -lt "$2" ]; do
		printf '%02x' $((_v & 255))
		_v=$((_v >> 8)) _i=$((_i + 1))
	done
}
# The batch: a header and $nent MAPs of 16 KiB pages of guest RAM from 2 MiB up.
hex=0x$(le $nent 2)$(le 0 2)$(le 65535 2)$(le 0 10)
i=0
while [ $i -lt $nent ]; do
	hex=$hex$(le 1 1)$(le 3 1)$(le 65535 2)$(le 16384 4)$(le $((0x200000 + i * 16384)) 8)$(le 0 16)
	i=$((i + 1))
done
# qemu_start N [MACHINE]: QEMU (q35, or MACHINE) with the NVMe and pvdma through the
# provider, its qtest protocol on fds 5 (commands) and 6 (answers), QMP on fds 7 and 8,
# its output in /tmp/qemu.N.log, its pid in $qemu.
qemu_start() {
	rm -f /tmp/qt.in /tmp/qt.out /tmp/mon.in /tmp/mon.out
	mkfifo /tmp/qt.in /tmp/qt.out /tmp/mon.in /tmp/mon.out
	"$DP_QEMU" -M "${2:-q35},memory-backend=ram" -m 256M -nodefaults -display none -accel qtest \
		-chardev pipe,id=qt,path=/tmp/qt -qtest chardev:qt -qtest-log /dev/null \
		-chardev pipe,id=mon,path=/tmp/mon -mon chardev=mon,mode=control \
		-object memory-backend-memfd,id=ram,share=on,size=256M \
		-object "dartpass-provider,id=prov,socket=$sock" \
		-device "dartpass-pci,id=dp,provider=prov,host=$nvme,addr=6.0" \
		-device pvdma-pci,id=pv,backend=provider,provider=prov,addr=5.0 \
		>/tmp/qemu.$1.log 2>&1 &
	qemu=$!
	# Read-write: opening never blocks, whether QEMU has opened its ends yet or not.
	exec 5<>/tmp/qt.in 6<>/tmp/qt.out 7<>/tmp/mon.in 8<>/tmp/mon.out
}
# qmp_until PATTERN [PATTERN2]: QMP's lines until one has either (30 s at most);
# prints that one.
qmp_until() {
	while read -r -t 30 _l <&8; do
		case $_l in *"$1"* | *"${2:-$1}"*) echo "$_l"; return 0 ;; esac
	done
	return 1
}
# qmp COMMAND-JSON: one QMP command (after the greeting and capabilities); prints its
# answer.
qmp() {
	if [ -z "${qmp_ready:-}" ]; then
		qmp_until '"QMP"' >/dev/null && echo '{"execute":"qmp_capabilities"}' >&7 &&
			qmp_until '"return"' >/dev/null || return 1
		qmp_ready=1
	fi
	echo "$1" >&7 && qmp_until '"return"' '"error"'
}
# qt COMMAND: one qtest command; prints QEMU's answer; fails if none comes in 30 s.
qt() {
	echo "$*" >&5 && read -r -t 30 _ans <&6 && echo "$_ans"
}
# pvdma_setup: BAR0, memory decoding and bus mastering, then the driver's handshake.
pvdma_setup() {
	qt outl 0xcf8 $((0x80002810)) >/dev/null
	qt outl 0xcfc $((bar)) >/dev/null
	qt outl 0xcf8 $((0x80002804)) >/dev/null
	qt outl 0xcfc 6 >/dev/null
	qt writel $((bar + 0x0c)) 1 >/dev/null
	qt writel $((bar + 0x10)) 1 >/dev/null
	[ "$(qt readl $bar)" = "OK 0x00000000414d4450" ]
}
# ring: writes the batch, rings it; prints the batch status and entry 0's status.
ring() {
	qt write $batch $((16 + nent * 32)) "$hex" >/dev/null || return 1
	qt writel $((bar + 0x50)) $((batch >> 12)) >/dev/null || return 1
	_r=$(qt read $batch 20) || return 1
	# OK 0x<count 4><flags 4><status 4>...<entry 0: op 2, flags 2, status 4>
	_h=${_r#OK 0x}
	echo "$((0x${_h:10:2}${_h:8:2})) $((0x${_h:38:2}${_h:36:2}))"
}
live() {
	_l=$(qt readl $((bar + 0x60))) && echo $((${_l#OK }))
}
# load ROUNDS: MAP batches, a pvdma reset (unmap all) every 4th; counts rounds in
# /tmp/rounds; stops at the first doorbell that does not return or is NOT_READY.
load() {
	_n=0
	while [ "$_n" -lt "$1" ]; do
		ring >/tmp/ring || break
		[ "$(cat /tmp/ring)" != "0 8" ] || break
		if [ $((_n % 4)) = 3 ]; then
			qt writel $((bar + 0x10)) 0 >/dev/null && qt writel $((bar + 0x10)) 1 >/dev/null || break
		fi
		_n=$((_n + 1))
		echo "$_n $(cat /tmp/ring)" >/tmp/rounds
	done
}

# 1. The provider killed under load.
provider_start 1
qemu_start 1
dp_check "QEMU 1 starts with the NVMe and pvdma through the provider" pvdma_setup
st=$(ring)
dp_check "a batch of $nent MAPs through the provider: batch and entries OK ($st)" test "$st" = "0 0"
dp_check "pvdma holds $nent mappings ($(live))" test "$(live)" = $nent
/dp/bin/prov-client busy "$sock" $nent
(sleep 3; kill -9 $prov) &
killer=$!
load 400
wait $killer
r=$(cut -d' ' -f1 /tmp/rounds 2>/dev/null)
dp_note "provider killed after about ${r:-0} load rounds"
dp_check "the load ran when the provider was killed (${r:-0} rounds)" test "${r:-0}" -gt 0
wait $prov 2>/dev/null
# The first doorbells after the kill may still have been served; then NOT_READY.
dead=0
for _ in 1 2 3 4 5; do
	st=$(ring) || break
	[ "$st" = "0 8" ] && dead=$((dead + 1))
done
dp_check "after the provider's death doorbells return, each MAP entry NOT_READY ($dead of 5)" test "$dead" -ge 4
ans=$(qt readl $bar)
dp_check "QEMU stays up and answers ($ans)" sh -c "kill -0 $qemu && test '$ans' = 'OK 0x00000000414d4450'"
dp_check "QEMU reports the lost provider" grep -q "dartpass-provider: .*\(closed the connection\|is gone\|cannot send\)" /tmp/qemu.1.log
sed 's/^/    qemu: /' /tmp/qemu.1.log | head -n 5
dp_check "pvdma holds no mapping ($(live))" test "$(live)" = 0
provider_start 2
/dp/bin/prov-client idle "$sock"
/dp/bin/prov-client nvme "$sock" dp0 >/tmp/nvme.out 2>&1
dp_check "a new client claims the NVMe of the restarted provider and does DMA (QEMU 1 still up)" \
	sh -c '! grep -q "DP-TEST not ok" /tmp/nvme.out && grep -q "DP-TEST ok" /tmp/nvme.out'
grep -q "DP-TEST not ok" /tmp/nvme.out && sed 's/^/    /' /tmp/nvme.out /tmp/provider.2.log
/dp/bin/prov-client idle "$sock"
kill -9 $qemu
wait $qemu 2>/dev/null
exec 5>&- 6<&- 7>&- 8<&-

# 2. QEMU killed under load.
rm -f /tmp/rounds
qemu_start 2
dp_check "QEMU 2 starts with the restarted provider" pvdma_setup
st=$(ring)
dp_check "QEMU 2's MAPs succeed ($st)" test "$st" = "0 0"
(load 100000) &
loader=$!
sleep 3
kill -9 $qemu
wait $qemu 2>/dev/null
kill -9 $loader
wait $loader 2>/dev/null
exec 5>&- 6<&- 7>&- 8<&-
r=$(cut -d' ' -f1 /tmp/rounds 2>/dev/null)
dp_note "QEMU killed after about ${r:-0} load rounds"
dp_check "the load ran when QEMU was killed (${r:-0} rounds)" test "${r:-0}" -gt 0
dp_check "the provider survived QEMU's death" kill -0 $prov
/dp/bin/prov-client idle "$sock"
/dp/bin/prov-client nvme "$sock" dp0 >/tmp/nvme.out 2>&1
dp_check "a new client claims the NVMe after QEMU's death and does DMA" \
	sh -c '! grep -q "DP-TEST not ok" /tmp/nvme.out && grep -q "DP-TEST ok" /tmp/nvme.out'
# 3. device_del of dartpass-pci (QEMU 3, an i440fx machine: ACPI hotplug on its root
# bus) while pvdma holds mappings for it, completed by the eject a guest's ACPI code
# would write: QEMU releases the function, the provider drops the client's mappings
# with its last function, and the function is free for the next client.
qmp_ready=
qemu_start 3 pc
dp_check "QEMU 3 (i440fx) starts with the provider" pvdma_setup
st=$(ring)
dp_check "QEMU 3's MAPs succeed ($st)" test "$st" = "0 0"
/dp/bin/prov-client busy "$sock" $nent
ans=$(qmp '{"execute":"device_del","arguments":{"id":"dp"}}')
dp_check "device_del of dartpass-pci is accepted ($ans)" sh -c "echo '$ans' | grep -q return"
qt outl 0xae10 0 >/dev/null
qt outl 0xae08 $((1 << 6)) >/dev/null
ev=$(qmp_until DEVICE_DELETED)
dp_check "the eject completes it: DEVICE_DELETED" sh -c "echo '$ev' | grep -q '\"dp\"'"
ans=$(qt readl $bar)
dp_check "QEMU 3 stays up and answers ($ans)" sh -c "kill -0 $qemu && test '$ans' = 'OK 0x00000000414d4450'"
/dp/bin/prov-client idle "$sock"
st=$(ring)
dp_check "pvdma's MAPs now fail NOT_READY: no function lent ($st)" test "$st" = "0 8"
qt writel $((bar + 0x10)) 0 >/dev/null
qt writel $((bar + 0x10)) 1 >/dev/null
dp_check "a pvdma reset then leaves it no mapping ($(live))" test "$(live)" = 0
kill -9 $qemu
wait $qemu 2>/dev/null
exec 5>&- 6<&- 7>&- 8<&-

# 4. The function removed (sysfs remove, as a hot unplug) while QEMU 4 has it with
# live mappings: vfio-pci's remove asks the provider through the request interrupt,
# the provider ends that client's connection (dropping its mappings, releasing the
# function) and the removal completes; QEMU and the provider stay up.
qmp_ready=
qemu_start 4
dp_check "QEMU 4 starts with the provider" pvdma_setup
st=$(ring)
dp_check "QEMU 4's MAPs succeed ($st)" test "$st" = "0 0"
/dp/bin/prov-client busy "$sock" $nent
echo 1 >/sys/bus/pci/devices/$nvme/remove &
remover=$!
dp_wait 60 sh -c "! kill -0 $remover"
dp_check "removing $nvme while lent with $nent mappings completes" \
	sh -c "! kill -0 $remover && test ! -e /sys/bus/pci/devices/$nvme"
dp_check "vfio-pci asked the provider for it" sh -c 'dmesg | grep -q "Relaying device request to user"'
dp_check "the provider ended the client's connection" grep -q "$nvme: the kernel asks for it back" /tmp/provider.2.log
dp_check "and dropped its $nent mappings" grep -q "client .* gone: .* $nent still live, now dropped" /tmp/provider.2.log
grep "client .* gone" /tmp/provider.2.log | tail -n 1 | sed 's/^/    /'
st=$(ring)
dp_check "QEMU 4's next MAPs fail NOT_READY ($st)" test "$st" = "0 8"
dp_check "QEMU 4 reports the lost provider" sh -c 'grep "dartpass-provider: .*\(closed the connection\|is gone\|cannot send\)" /tmp/qemu.4.log || { cat /tmp/qemu.4.log; false; }'
dp_check "pvdma holds no mapping ($(live))" test "$(live)" = 0
dp_check "the provider is up" kill -0 $prov
kill -9 $qemu
wait $qemu 2>/dev/null
exec 5>&- 6<&- 7>&- 8<&-
kill -TERM $prov
wait $prov
st=$?
dp_check "the provider exits 0 on SIGTERM (status $st)" test "$st" = 0
dp_check "no kernel warnings in L1" sh -c '! dmesg | grep -E "WARNING|BUG:|Oops"'
