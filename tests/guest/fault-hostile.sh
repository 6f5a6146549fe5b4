# A hostile guest beside real I/O (issue 24): while pvdma.ko maps an unmodified NVMe
# driver's DMA and the disk is written and read back with checksums, a test module
# (tests/guest/hostile/pvhostile.c) that does not bind pvdma rings its own random and
# adversarial batches from every CPU: random bytes, bad operations, reserved and output
# fields set, zero, overflowing, MMIO and non-RAM ranges, bad headers, counts over
# MAX_BATCH, doorbells outside RAM, UNMAPs of never-mapped, partial and already
# unmapped ranges, and maps until the host's caps refuse. QEMU must stay up, answer
# every request as the spec says, keep its counters consistent (the host's live
# mappings are pvdma.ko's plus the hostile module's, over BAR0 and QMP alike, never
# above the caps) and hold nothing of the hostile module once it is gone; the real
# I/O must verify throughout. docs/faults.md says how to run it for longer.
#@ only: trixie-amd64 trixie-arm64
#@ kmods: nvme
#@ kmod-src: tests/guest/hostile
#@ qemu: -device pcie-root-port,id=rp1,chassis=1 -device pvdma-pci,id=pv,managed-bus=rp1
#@ qemu: -drive file={DISK},if=none,id=d0,format=raw,cache=unsafe -device nvme,bus=rp1,serial=dp0,drive=d0
#@ timeout: 420
#@ host-live-after: 0
# Seconds of attack (CI: 60 per arch).
hsecs=60
hold=32
mount -t debugfs none /sys/kernel/debug 2>/dev/null
dp_check "insmod pvdma" insmod /dp/mod/pvdma.ko
pv=$(ls -d /sys/kernel/debug/pvdma/*/ | head -n1)
faults0=$(sed -n 's/^faults //p' "${pv}host")
dp_check "modprobe nvme" modprobe nvme
dp_wait 30 test -b /dev/nvme0n1
dp_check "nvme0n1 appears" test -b /dev/nvme0n1
dp_check "make 4 MiB of test data" dd if=/dev/urandom of=/tmp/data bs=1M count=4
want=$(md5sum </tmp/data)
# io_round N: writes the data at the Nth 4 MiB of the disk and reads it back.
io_round() {
	dd if=/tmp/data of=/dev/nvme0n1 bs=1M seek=$(($1 % 64 * 4)) oflag=direct 2>/dev/null &&
		[ "$(dd if=/dev/nvme0n1 bs=1M skip=$(($1 % 64 * 4)) count=4 iflag=direct 2>/dev/null | md5sum)" = "$want" ]
}
# The largest range of System RAM (top-level lines of /proc/iomem): where the hostile
# module's MAPs of random guest RAM go.
ram=$(sed -n 's/^\([0-9a-f]*\)-\([0-9a-f]*\) : System RAM$/\1 \2/p' /proc/iomem |
	while read -r s e; do echo "$((0x$e - 0x$s + 1)) $s $e"; done | sort -n | tail -n1)
set -- $ram
ram_start=0x$2 ram_end=$(printf '0x%x' $((0x$3 + 1)))
seed=$(date +%s)
dp_note "hostile: ${hsecs}s, seed $seed, RAM $ram_start-$ram_end"
insmod /dp/mod/pvhostile.ko secs=$hsecs hold=$hold seed=$seed ram_start=$ram_start ram_end=$ram_end &
hpid=$!
rounds=0 bad=0
while kill -0 $hpid 2>/dev/null; do
	io_round $rounds || bad=$((bad + 1))
	rounds=$((rounds + 1))
done
wait $hpid
hrc=$?
P=/sys/module/pvhostile/parameters
dp_check "the hostile module ran for ${hsecs}s and finished" sh -c "test $hrc = 0 && test \"\$(cat $P/done)\" = 1"
dmesg | grep pvhostile | tail -n 25
dp_note "hostile: $(cat $P/batches) batches, $(cat $P/entries) entries, $(cat $P/maps_ok) maps and $(cat $P/unmaps_ok) unmaps of its own, $(cat $P/refused) refusals as expected, $(cat $P/cap_hits) cap refusals"
dp_check "meanwhile $rounds rounds of NVMe I/O (4 MiB written, read back) all verify" sh -c "test $bad = 0 && test $rounds -gt 0"
dp_check "every adversarial request answered as the spec says (violations: $(cat $P/violations))" test "$(cat $P/violations)" = 0
dp_check "the host's caps refused the hostile module's maps" test "$(cat $P/cap_hits)" -gt 0
dp_check "the hostile module holds its $hold mappings" test "$(cat $P/live)" = $hold
# Quiet now: the host's count is pvdma.ko's plus the hostile module's (a few tries, in
# case a late completion unmaps between the reads).
consistent() {
	for _i in 1 2 3 4 5; do
		g=$(sed -n 's/^live_mappings //p' "${pv}stats")
		h=$(cat $P/live 2>/dev/null || echo 0)
		b=$(sed -n 's/^live_mappings //p' "${pv}host")
		q=$(dp_qom live-mappings)
		[ "$b" = $((g + $1)) ] && [ "$q" = "$b" ] && return 0
		sleep 1
	done
	return 1
}
consistent "$hold"
dp_check "host live mappings (BAR0 $b, QMP $q) = pvdma.ko's $g + hostile's $h" test "$b" = $((g + h)) -a "$q" = "$b"
dp_check "host peaks stayed within the caps" awk '/^peak_mappings /{p=$2} /^peak_bytes /{pb=$2}
	/^max_mappings /{m=$2} /^max_bytes /{mb=$2} END {exit !(p <= m && pb <= mb && m > 0)}' "${pv}host"
dp_check "rmmod pvhostile" rmmod pvhostile
dp_check "it released its $hold mappings" sh -c "dmesg | grep -q 'pvhostile: released $hold, live 0, violations 0'"
consistent 0
dp_check "then the host holds pvdma.ko's mappings only (BAR0 $b, QMP $q, pvdma.ko $g)" test "$b" = "$g" -a "$q" = "$b"
dp_check "NVMe I/O still verifies" io_round 7
dp_check "no DMA faults from Linux" grep -q "^faults $faults0$" "${pv}host"
dp_check "rmmod nvme" rmmod nvme
dp_check "no buffers left mapped" grep -q "^buffers 0$" "${pv}stats"
dp_check "rmmod pvdma" rmmod pvdma
q=$(dp_qom live-mappings)
dp_check "QEMU is up and holds no mapping (QMP: $q)" test "$q" = 0
for c in refused-invalid refused-bad-address refused-unsupported refused-not-found refused-no-mappings refused-no-bytes doorbells; do
	printf '%s %s, ' "$c" "$(dp_qom $c)"
done >/tmp/qmp
dp_note "QMP: $(cat /tmp/qmp)"
dp_check "no kernel warnings" sh -c '! dmesg | grep -E "WARNING|BUG:|Oops"'
