# The Linux provider in the nested rig's L1 (tests/guest/vfio-rig.sh): the three
# functions bound to vfio-pci, `dartpass provider` lends them over its socket, and
# build/prov-client (tests/provider/) drives them as a VMM would: an NVMe round trip
# at bus addresses the provider chose, DMA the provider never allowed (caught by L1's
# IOMMU: its fault log, not the device's completion, is the evidence), a client killed
# with -9 while it holds the NVMe, INTx of the e1000, every malformed or hostile request
# with its exact status, and the per-client caps with the daemon restarted with small
# ones. Interrupts both ways: eventfds (nvme, intx) and pending bits (pending, intx). Then its guards (pc-security.c): the refusal to start with unsafe interrupts,
# BAR mappings revoked at release, CLAIM refused while another process holds a BAR,
# DMA memory from plain memory only, decode kept on. One boot for all of it: each
# costs 10 to 20 s under TCG. On sid (7.2), whose vfio-pci holds every BAR while the
# device is open, the provider lends no BAR: the client reaches BARs through
# REGION_READ/WRITE, and what needs a lent BAR (revoke, holder, hostile's BUSY while A
# holds its BAR descriptor) says "# not run" instead of passing.
#@ only: trixie-amd64 sid-amd64
#@ iommu: on
#@ bin: build/dartpass build/prov-client
#@ kmods: vfio vfio_iommu_type1 vfio_pci vfio_pci_core?
#@ qemu: -drive file={DISK},if=none,id=d0,format=raw,cache=unsafe
#@ qemu: -device nvme,serial=dp0,drive=d0,addr=4.0
#@ qemu: -netdev user,id=n0 -device e1000e,netdev=n0,addr=5.0,romfile=
#@ qemu: -netdev user,id=n1 -device e1000,netdev=n1,addr=6.0,romfile=
#@ timeout: 300
# One vCPU: as fast here as two, and the outer QEMU (10.2.2, TCG) once asserted in
# iotlb_to_section while a reset remapped the NVMe's BAR under a second vCPU.
#@ smp: 1
sock=/tmp/provider.sock
plog=/tmp/provider.log
unsafe=/sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts

# provider_start ARGS...: starts the daemon on $sock with its log in $plog (pid: $prov).
provider_start() {
	/dp/bin/dartpass provider --socket "$sock" --function "$nvme" --function "$nic" \
		--function "$intx" "$@" >"$plog" 2>&1 &
	prov=$!
	dp_wait 20 test -S "$sock"
	dp_check "provider${*:+ $*} listens on $sock" test -S "$sock"
	sed 's/^/    /' "$plog"
}
# provider_stop WHEN: SIGTERM; it must end cleanly.
provider_stop() {
	kill -TERM "$prov"
	wait "$prov"
	_st=$?
	dp_check "provider exits 0 on SIGTERM $1 (status $_st)" test "$_st" = 0
	# Turning off interrupts a client never turned on would be refused, and logged.
	dp_check "no 'interrupts N off' line in the provider's log $1" \
		sh -c "! grep 'interrupts .* off' '$plog'"
}
# client [-as LABEL] CMD ARGS...: one prov-client run; its DP-TEST lines count (named
# LABEL instead of CMD: for a second run of CMD), and a failure shows the provider's log.
client() {
	_as=
	[ "$1" != -as ] || { _as=$2; shift 2; }
	/dp/bin/prov-client "$@" >/tmp/client.out 2>&1
	_rc=$?
	[ -z "$_as" ] || sed -i "s/^\(DP-TEST [a-z ]*\) $1: /\1 $_as: /" /tmp/client.out
	cat /tmp/client.out
	if [ "$_rc" = 0 ]; then
		echo "DP-TEST ok prov-client ${_as:-$1} exits 0"
	else
		echo "DP-TEST not ok prov-client ${_as:-$1} exits 0 (status $_rc)"
		echo "    --- provider log ---"
		sed 's/^/    /' "$plog"
	fi
}
# prov_fds: how many descriptors the provider holds.
prov_fds() {
	ls "/proc/$prov/fd" | wc -l
}
# dmar_faults: the addresses of every IOMMU fault L1 logged, one a line.
dmar_faults() {
	dmesg | sed -n 's/.*DMAR: \[DMA .* fault addr \(0x[0-9a-f]*\).*/\1/p'
}

dp_rig_functions

# Without interrupt remapping a client's writes to the MSI-X table in its BAR mapping
# reach any interrupt: the provider will not start while VFIO allows that, unless told.
dp_check "allow_unsafe_interrupts is N" grep -qx N "$unsafe"
echo Y >"$unsafe"
timeout -s KILL 20 /dp/bin/dartpass provider --socket "$sock" --function "$nvme" \
	--function "$nic" --function "$intx" >/tmp/unsafe.log 2>&1
st=$?
sed 's/^/    /' /tmp/unsafe.log
dp_check "allow_unsafe_interrupts=Y: the provider exits 1 (status $st)" test "$st" = 1
dp_check "allow_unsafe_interrupts=Y: its message names allow_unsafe_interrupts" \
	grep -q "allows unsafe interrupts (allow_unsafe_interrupts=Y)" /tmp/unsafe.log
dp_check "allow_unsafe_interrupts=Y: no socket" test ! -e "$sock"
rm -f "$sock"
provider_start --allow-unsafe-interrupts
dp_check "allow_unsafe_interrupts=Y: --allow-unsafe-interrupts says it goes on" \
	grep -q "going on (--allow-unsafe-interrupts)" "$plog"
provider_stop "with --allow-unsafe-interrupts"
echo N >"$unsafe"
dp_check "allow_unsafe_interrupts is N again" grep -qx N "$unsafe"

provider_start

client nvme "$sock" dp0
dp_check "no IOMMU faults from the NVMe round trip" test -z "$(dmar_faults)"
# macOS's interrupt model (ENABLE, NOTIFY, IRQ_PENDING): the provider's own eventfds
# and the ends of NOTIFY's pipe go with the connection.
fds=$(prov_fds)
client pending "$sock" dp0
dp_wait 5 sh -c "test \$(ls /proc/$prov/fd | wc -l) = $fds"
dp_check "pending: the provider holds $fds descriptors again once it is gone ($(prov_fds))" \
	test "$(prov_fds)" = "$fds"

# One stray write at a time: the emulated IOMMU drops a fault that arrives while the
# last is pending.
for mode in unmapped read-only; do
	client -as "dma-fault $mode" dma-fault "$sock" $mode
	a=$(sed -n 's/^DP-INFO dma-fault: fault-iova \(0x[0-9a-f]*\).*/\1/p' /tmp/client.out)
	dp_wait 10 dp_dmar_write_fault "$nvme" "${a:-none}"
	dp_check "$mode: L1's IOMMU blocked and logged the NVMe's write at ${a:-?}" \
		dp_dmar_write_fault "$nvme" "${a:-none}"
	faults="$faults $a"
done

# kill -9 while it holds the NVMe enabled on its mappings, MSI-X routed, BAR0 mapped.
/dp/bin/prov-client hold "$sock" >/tmp/hold.out 2>&1 &
hold=$!
dp_wait 60 grep -q holding /tmp/hold.out
cat /tmp/hold.out
dp_check "hold: the client holds its mappings" grep -q holding /tmp/hold.out
client busy "$sock" 3
kill -9 "$hold"
wait "$hold"
client free "$sock"
client -as "nvme after kill -9" nvme "$sock" dp0

client intx "$sock"
dp_wait 5 sh -c "test \$(ls /proc/$prov/fd | wc -l) = $fds"
dp_check "intx: the provider holds $fds descriptors again once it is gone ($(prov_fds))" \
	test "$(prov_fds)" = "$fds"

# Where CLAIM lends no BAR (7.x's vfio-pci holds every BAR while the device is open),
# revoke and holder have nothing to test: the client says "# not run", and the provider's
# log must say why, for the NVMe, exactly then.
unlent="${nvme}: BAR0: its sysfs file cannot be mapped while VFIO has the function"
client revoke "$sock"
client holder "$sock"
if grep -q '^# not run: BAR0 is not mappable' /tmp/client.out; then
	dp_check "no BAR lent: the provider's log says the NVMe's BAR0 cannot be mapped" \
		grep -qF "$unlent" "$plog"
	echo "# not run: the provider's log naming each holder (no BAR lent)"
else
	dp_check "holder ran: the provider's log does not say the NVMe's BAR0 cannot be mapped" \
		sh -c "! grep -qF '$unlent' '$plog'"
fi
# The provider names who holds the BAR in its log: the process, whichever way it holds it.
sed -n 's/^DP-INFO holder: pid \([0-9]*\): \([a-z]*\)$/\1 \2/p' /tmp/client.out >/tmp/holders
grep -q '^# not run: BAR0 is not mappable' /tmp/client.out ||
	dp_check "holder: four holders listed" test "$(wc -l </tmp/holders)" = 4
while read -r p how; do
	case $how in
	descriptor) what="pid $p (prov-client) holds descriptor"; who="keeping BAR0's descriptor" ;;
	mapping) what="pid $p (prov-client) holds a mapping of"; who="mapping BAR0" ;;
	thread) what="pid $p (prov-client) holds descriptor"; who="whose thread keeps BAR0's descriptor" ;;
	*) what="pid $p (prov-client) holds a mapping of"; who="whose first thread exited, mapping BAR0" ;;
	esac
	dp_check "the provider's log names the process $who (pid $p)" \
		grep -qF "$what" "$plog"
done </tmp/holders
client dma-fs "$sock"
dp_check "the provider logs the refused DMA memory's file system (sysfs)" \
	grep -q "DMA_MEMORY: a file on filesystem 0x62656572, not memfd" "$plog"
client decode "$sock"

client hostile "$sock"
dp_check "provider still running after the hostile client" kill -0 "$prov"
provider_stop "after the hostile client"

provider_start --max-mappings 8 --max-bytes 1M
client caps "$sock" 8 1048576
provider_stop "after the caps"

for a in $(dmar_faults | sort -u); do
	dp_check "IOMMU fault at $a is one dma-fault caused ($faults)" \
		sh -c "echo '$faults' | grep -qw $a"
done
dp_check "no kernel warnings" sh -c '! dmesg | grep -E "WARNING|BUG:|Oops"'
