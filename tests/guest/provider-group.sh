# The Linux provider's sharing limits in the nested rig's L1: two functions of one
# multifunction device without ACS (an e1000 at 07.0 and 07.1 on q35's root bus) share
# one IOMMU group, which joins one connection's container, so a connection holding
# either keeps the other BUSY for everyone else (prov-client group); and at most 64
# connections are served at once, a 65th waiting in the listen backlog until one goes
# (prov-client conn-limit). Both in tests/provider/pc-limits.c.
#@ only: trixie-amd64
#@ iommu: on
#@ bin: build/dartpass build/prov-client
#@ kmods: vfio vfio_iommu_type1 vfio_pci vfio_pci_core?
#@ qemu: -netdev user,id=n0 -device e1000,netdev=n0,addr=7.0,multifunction=on,romfile=
#@ qemu: -netdev user,id=n1 -device e1000,netdev=n1,addr=7.1,romfile=
#@ timeout: 180
#@ smp: 1
sock=/tmp/provider.sock
plog=/tmp/provider.log

# client CMD ARGS...: one prov-client run; a failure shows the provider's log.
client() {
	/dp/bin/prov-client "$@" >/tmp/client.out 2>&1
	_rc=$?
	cat /tmp/client.out
	if [ "$_rc" = 0 ]; then
		echo "DP-TEST ok prov-client $1 exits 0"
	else
		echo "DP-TEST not ok prov-client $1 exits 0 (status $_rc)"
		echo "    --- provider log ---"
		sed 's/^/    /' "$plog"
	fi
}

f0=0000:00:07.0
f1=0000:00:07.1
for bdf in $f0 $f1; do
	dp_check "$bdf binds to vfio-pci" dp_vfio_bind "$bdf"
done
g0=$(basename "$(readlink /sys/bus/pci/devices/$f0/iommu_group)")
g1=$(basename "$(readlink /sys/bus/pci/devices/$f1/iommu_group)")
dp_check "$f0 and $f1 share IOMMU group $g0 (${g1:-none}), and nothing else is in it" \
	sh -c "[ -n '$g0' ] && [ '$g0' = '$g1' ] &&
		[ \"\$(ls /sys/kernel/iommu_groups/$g0/devices | tr '\n' ' ')\" = '$f0 $f1 ' ]"

/dp/bin/dartpass provider --socket "$sock" --function "$f0" --function "$f1" >"$plog" 2>&1 &
prov=$!
dp_wait 20 test -S "$sock"
dp_check "provider listens on $sock" test -S "$sock"
sed 's/^/    /' "$plog"

client group "$sock"
client conn-limit "$sock"
dp_check "provider still running after 65 connections" kill -0 "$prov"

kill -TERM "$prov"
wait "$prov"
st=$?
dp_check "provider exits 0 on SIGTERM (status $st)" test "$st" = 0
dp_check "no kernel warnings" sh -c '! dmesg | grep -E "WARNING|BUG:|Oops"'
