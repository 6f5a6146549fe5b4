# A scatterlist maps in one doorbell, and the module's trace of every map and unmap is
# in the documented dp_trace format. The disk is on AHCI, whose driver (libata) maps
# every command with dma_map_sg; policy=exact, so that every buffer of a list needs
# its own host mapping.
#@ kmods: ahci sd_mod
#@ qemu: -device pcie-root-port,id=rp1,chassis=1 -device pvdma-pci,id=pv,managed-bus=rp1
#@ qemu: -device ich9-ahci,id=sata,bus=rp1
#@ qemu: -drive file={DISK},if=none,id=d0,format=raw,cache=unsafe -device ide-hd,drive=d0,bus=sata.0
#@ timeout: 200
#@ host-live-after: 0
mount -t debugfs none /sys/kernel/debug 2>/dev/null
dp_check "insmod pvdma policy=exact trace=1" insmod /dp/mod/pvdma.ko policy=exact trace=1
pv=$(ls -d /sys/kernel/debug/pvdma/*/ | head -n1)
faults0=$(sed -n 's/^faults //p' "${pv}host")
dp_check "modprobe ahci sd_mod" sh -c 'modprobe ahci && modprobe sd_mod'
dp_wait 30 test -b /dev/sda
dp_check "the managed AHCI disk appears" test -b /dev/sda
dp_check "make 16 MiB of test data" dd if=/dev/urandom of=/tmp/data bs=1M count=16
st() { sed -n "s/^$1 //p" "${pv}stats"; }
# Commands the disk completed (reads and writes): each maps one scatterlist and unmaps it.
ios() { awk '{ print $1 + $5 }' /sys/block/sda/stat; }
t0=$(st round_trips) r0=$(( $(st host_maps) + $(st host_unmaps) )) i0=$(ios)
dp_check "write 16 MiB in 1 MiB requests (O_DIRECT)" dd if=/tmp/data of=/dev/sda bs=1M oflag=direct
trips=$(( $(st round_trips) - t0 )) requests=$(( $(st host_maps) + $(st host_unmaps) - r0 ))
cmds=$(( $(ios) - i0 ))
echo 3 >/proc/sys/vm/drop_caches
dp_check "read back: same checksum" test "$(md5sum </tmp/data)" = "$(dd if=/dev/sda bs=1M count=16 iflag=direct 2>/dev/null | md5sum)"
cat "${pv}stats" | sed "s/^/pvdma: /"
# How many pages a list has depends on how physically contiguous dd's buffer is; the
# lists must have more than one (requests > trips), and each list one doorbell to map
# and one to unmap.
dp_check "scatterlists share doorbells: $trips round trips for $cmds commands, $requests host requests" \
	test "$trips" -le $((2 * cmds)) -a "$requests" -gt "$trips"
cat "${pv}trace" >/tmp/trace
calls=$(( $(st maps) + $(st unmaps) ))
dp_check "the trace has one line per map and unmap ($(wc -l </tmp/trace) for $calls)" test "$(wc -l </tmp/trace)" -eq "$calls"
dp_check "every trace line is in the dp_trace format" sh -c '! grep -vE "^[0-9]+ [MU] 0x[0-9a-f]+ [0-9]+ (r|w|rw) [0-9a-f]{4}$" /tmp/trace'
dp_check "maps and unmaps pair up" test "$(grep -c ' M ' /tmp/trace)" -eq "$(( $(grep -c ' U ' /tmp/trace) + $(st buffers) ))"
dp_check "no DMA faults from Linux" grep -q "^faults $faults0$" "${pv}host"
dp_check "unload" sh -c 'rmmod sd_mod && rmmod ahci && rmmod pvdma'
dp_check "no kernel warnings" sh -c '! dmesg | grep -E "WARNING|BUG:|Oops|pvdma.*(cannot|not mapped)"'
