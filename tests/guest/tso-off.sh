# Without HOST_TSO (pvdma-pci's default), the memory-model prctls FEX asks stay exactly
# as on a stock kernel (-EINVAL: FEX keeps its barriers), pvdma loaded or not;
# tests/guest/fex-tso.c asks as FEX does. tso.sh is the same guest with the feature.
#@ prog: tests/guest/fex-tso.c
#@ qemu: -device pvdma-pci
#@ timeout: 120
dp_check "before pvdma: stock answers" /dp/bin/fex-tso stock
dp_check "insmod pvdma" insmod /dp/mod/pvdma.ko
dp_check "probe logs no host TSO" sh -c 'dmesg | grep "pvdma 1.0: " | grep -qv "host TSO"'
dp_check "no prctl probe" sh -c '! grep -q sys_prctl /sys/kernel/debug/kprobes/list 2>/dev/null'
/dp/bin/fex-tso stock | sed 's/^/    /'
dp_check "with pvdma: stock answers" /dp/bin/fex-tso stock
dp_check "rmmod pvdma" rmmod pvdma
dp_check "no kernel warnings" sh -c '! dmesg | grep -E "WARNING|BUG:|Oops"'
