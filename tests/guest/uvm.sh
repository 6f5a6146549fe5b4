# NVIDIA UVM page size (docs/quirks.md): pvdma's quirk (guest/pvdma_uvm.c) arms when a
# module named nvidia_uvm with a known version loads, and then gives pvdma-managed GPUs
# small system-memory pages. Here nvidia_uvm is a stand-in (tests/guest/uvm-standin/:
# 550.163.01's name, version, the two probed functions' signatures and the two fields'
# offsets) that treats the functions named in gpus= as GPUs: an edu function behind
# pvdma's managed bus and a pci-testdev outside it. Checks: without pvdma, and with
# pvdma uvm_quirk=0, both keep large pages and 2M/64K/4K chunks; with the quirk only
# the managed one loses large pages, and chunks shrink to PAGE_SIZE only when a managed
# GPU is present; a version the quirk does not know is refused with an error and
# changes nothing. Real nvidia-uvm.ko: tests/guest/nvidia/uvm-real.sh (not in CI).
#@ only: trixie-amd64 trixie-arm64
#@ kmod-src: tests/guest/uvm-standin
#@ qemu: -device pcie-root-port,id=rp1,chassis=1 -device pvdma-pci,managed-bus=rp1 -device edu,bus=rp1 -device pci-testdev
#@ timeout: 180
mount -t debugfs none /sys/kernel/debug 2>/dev/null
gpu=$(dp_pci_find 1234:11e8)
other=$(dp_pci_find 1b36:0005)
dp_check "functions: edu $gpu (managed bus), pci-testdev $other" test -n "$gpu" -a -n "$other"
# PAGE_SIZE in the stand-in's hex; all sizes: 2M | 64K | PAGE_SIZE.
page=$(printf '0x%x' "$(awk '/^KernelPageSize:/ { print $2 * 1024; exit }' /proc/self/smaps)")
dp_check "kernel page size $page" test "$page" != 0x0
all=$(printf '0x%x' $((0x200000 | 0x10000 | page)))
# standin LOG GPUS: loads the stand-in with gpus=GPUS and unloads it; its part of the
# kernel log is in LOG.
standin() {
	dmesg -c >/dev/null
	insmod "${3:-/dp/mod/nvidia-uvm.ko}" gpus="$2" && grep -q "uvm_hal_init_properties" /proc/kallsyms
	_r=$?
	grep -E "uvm_hal_init_properties|uvm_cpu_chunk_get_allocation_sizes" /sys/kernel/debug/kprobes/list >"$1.kprobes"
	rmmod nvidia_uvm
	dmesg -c >"$1"
	sed 's/^/    /' "$1" "$1.kprobes"
	return $_r
}
# large LOG BDF VALUE / sizes LOG WHEN VALUE: what the stand-in saw.
large() { grep -q "nvidia_uvm stand-in: $2: can_map_sysmem_with_large_pages $3\$" "$1"; }
sizes() { grep -q "nvidia_uvm stand-in: cpu chunk sizes $3 ($2 the GPUs)" "$1"; }

dp_check "no pvdma: stand-in loads" standin /tmp/none "$gpu,$other"
dp_check "no pvdma: managed-bus GPU keeps large pages" large /tmp/none "$gpu" 1
dp_check "no pvdma: other GPU keeps large pages" large /tmp/none "$other" 1
dp_check "no pvdma: chunk sizes $all" sizes /tmp/none after "$all"

dp_check "insmod pvdma" insmod /dp/mod/pvdma.ko
dp_check "pvdma manages $gpu" grep -q "^$gpu\$" /sys/kernel/debug/pvdma/*/managed
dp_check "pvdma does not manage $other" sh -c "! grep -q '^$other\$' /sys/kernel/debug/pvdma/*/managed"

dp_check "quirk: stand-in with the unmanaged GPU only" standin /tmp/other "$other"
dp_check "quirk armed on nvidia_uvm 550.163.01 (log)" grep -q "uvm quirk: nvidia_uvm 550.163.01: armed on uvm_hal_init_properties and uvm_cpu_chunk_get_allocation_sizes" /tmp/other
dp_check "quirk: both probes listed while loaded" sh -c 'grep -q "uvm_hal_init_properties+0x[0-9a-f]*  *nvidia_uvm" /tmp/other.kprobes && grep -q "uvm_cpu_chunk_get_allocation_sizes+0x[0-9a-f]*  *nvidia_uvm" /tmp/other.kprobes'
dp_check "quirk: unmanaged GPU keeps large pages" large /tmp/other "$other" 1
dp_check "quirk: no managed GPU, chunk sizes stay $all" sizes /tmp/other after "$all"
dp_check "quirk disarmed at rmmod (log)" grep -q "uvm quirk: disarmed" /tmp/other

dp_check "quirk: stand-in with both GPUs" standin /tmp/both "$gpu,$other"
dp_check "quirk: managed GPU loses large pages" large /tmp/both "$gpu" 0
dp_check "quirk: managed GPU rewritten (log)" grep -q "uvm quirk: $gpu: pvdma-managed GPU: system memory with 4K GPU pages (large pages were on)" /tmp/both
dp_check "quirk: unmanaged GPU keeps large pages" large /tmp/both "$other" 1
dp_check "quirk: chunk sizes $all before the GPUs" sizes /tmp/both before "$all"
dp_check "quirk: chunk sizes $page with a managed GPU" sizes /tmp/both after "$page"

# The same module with another version string (same length, in .modinfo).
sed 's/version=550\.163\.01/version=550.163.99/' /dp/mod/nvidia-uvm.ko >/tmp/nvidia-uvm.ko
dp_check "unknown version: the copy says 550.163.99" sh -c 'strings /tmp/nvidia-uvm.ko | grep -qx version=550.163.99 && ! strings /tmp/nvidia-uvm.ko | grep -qx version=550.163.01'
dp_check "unknown version: stand-in loads" standin /tmp/unknown "$gpu,$other" /tmp/nvidia-uvm.ko
dp_check "unknown version: refused loudly (log)" grep -q "uvm quirk: nvidia_uvm version 550.163.99 is not one this quirk knows (550.163.01): NOT ARMED" /tmp/unknown
dp_check "unknown version: nothing probed" test ! -s /tmp/unknown.kprobes
dp_check "unknown version: managed GPU keeps large pages" large /tmp/unknown "$gpu" 1
dp_check "unknown version: chunk sizes stay $all" sizes /tmp/unknown after "$all"

dp_check "rmmod pvdma" rmmod pvdma
dp_check "insmod pvdma uvm_quirk=0" insmod /dp/mod/pvdma.ko uvm_quirk=0
dp_check "uvm_quirk=0: stand-in with both GPUs" standin /tmp/off "$gpu,$other"
dp_check "uvm_quirk=0: left stock (log)" grep -q "uvm quirk: nvidia_uvm 550.163.01 loaded; left stock (uvm_quirk=0)" /tmp/off
dp_check "uvm_quirk=0: nothing probed" test ! -s /tmp/off.kprobes
dp_check "uvm_quirk=0: managed GPU keeps large pages" large /tmp/off "$gpu" 1
dp_check "uvm_quirk=0: other GPU keeps large pages" large /tmp/off "$other" 1
dp_check "uvm_quirk=0: chunk sizes stay $all" sizes /tmp/off after "$all"
dp_check "rmmod pvdma" rmmod pvdma
dp_check "no kernel warnings" sh -c '! cat /tmp/none /tmp/other /tmp/both /tmp/unknown /tmp/off | grep -E "WARNING|BUG:|Oops|missed the probes"'
