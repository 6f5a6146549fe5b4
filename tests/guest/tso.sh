# HOST_TSO for x86 emulators (docs/quirks.md): with pvdma-pci,host-tso=on, the module
# answers the memory-model prctls that FEX asks (tests/guest/fex-tso.c asks exactly as
# FEX does) as an always-TSO CPU on arm64, and only while it is bound with tso=1;
# before it loads, with tso=0, after it unloads, and on x86 (TSO natively) the
# answers are the stock kernel's (-EINVAL). The host offers HOST_TSO here because TCG
# on an x86-64 host keeps an Arm guest's loads and stores in TSO order (pvdma.c).
# tso-off.sh is the same guest without the feature.
#@ prog: tests/guest/fex-tso.c
#@ qemu: -device pvdma-pci,host-tso=on
#@ timeout: 120
arch=$(uname -m)
dp_check "before pvdma: stock answers" /dp/bin/fex-tso stock
dp_check "insmod pvdma tso=0" insmod /dp/mod/pvdma.ko tso=0
dp_check "probe logs host TSO" sh -c 'dmesg | grep -q "pvdma 1.0: .*, host TSO"'
if [ "$arch" = aarch64 ]; then
	dp_check "tso=0: prctls left stock (log)" sh -c 'dmesg | grep -q "host TSO offered; memory-model prctls left stock (tso=0)"'
fi
dp_check "tso=0: stock answers" /dp/bin/fex-tso stock
dp_check "rmmod pvdma" rmmod pvdma
dp_check "insmod pvdma" insmod /dp/mod/pvdma.ko
if [ "$arch" = aarch64 ]; then
	dp_check "the probed symbol exists" grep -q " __arm64_sys_prctl$" /proc/kallsyms
	dp_check "probe armed (log)" sh -c 'dmesg | grep -q "host TSO: PR_GET_MEM_MODEL/PR_SET_MEM_MODEL answer as an always-TSO CPU (__arm64_sys_prctl)"'
	dp_check "kprobes lists it" grep -q "__arm64_sys_prctl" /sys/kernel/debug/kprobes/list
	/dp/bin/fex-tso hw | sed 's/^/    /'
	dp_check "FEX's probe: hardware TSO" /dp/bin/fex-tso hw
	# Many prctls at once from several processes: every one gets its answer.
	i=0
	while [ $i -lt 8 ]; do (n=0; while [ $n -lt 25 ]; do /dp/bin/fex-tso hw >/dev/null || echo bad; n=$((n + 1)); done) >/tmp/par.$i & i=$((i + 1)); done
	wait
	dp_check "200 probes from 8 parallel loops all answered" sh -c '! cat /tmp/par.* | grep -q bad'
else
	dp_check "x86: prctls left stock (log)" sh -c 'dmesg | grep -q "host TSO offered; x86 is TSO natively: memory-model prctls left stock"'
	dp_check "x86: stock answers" /dp/bin/fex-tso stock
fi
dp_check "rmmod pvdma" rmmod pvdma
[ "$arch" != aarch64 ] || dp_check "probe removed (log)" sh -c 'dmesg | grep -q "host TSO: memory-model prctls back to stock"'
dp_check "after rmmod: stock answers" /dp/bin/fex-tso stock
dp_check "no kernel warnings" sh -c '! dmesg | grep -E "WARNING|BUG:|Oops|missed the probe"'
