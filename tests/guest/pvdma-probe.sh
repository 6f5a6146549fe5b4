# The module binds pvdma-pci, negotiates, and reports the host's limits and the
# managed function (an edu behind the managed root port) in debugfs.
#@ qemu: -device pcie-root-port,id=rp1,chassis=1 -device pvdma-pci,id=pv,managed-bus=rp1,max-mappings=4096
#@ qemu: -device edu,bus=rp1
#@ timeout: 120
mount -t debugfs none /sys/kernel/debug 2>/dev/null
dp_check "insmod pvdma" insmod /dp/mod/pvdma.ko
dp_check "probe logs the negotiated limits" sh -c 'dmesg | grep -q "pvdma 1.0: 16 KiB pages, 4096 mappings, 1536 MiB, batch 512, 1 managed"'
host=$(ls -d /sys/kernel/debug/pvdma/*/ 2>/dev/null | head -n1)
dp_check "debugfs shows the host counters" grep -q "^live_mappings 0$" "${host}host"
dp_check "debugfs lists the managed edu" grep -q "^0000:01:00.0$" "${host}managed"
dp_check "rmmod pvdma" rmmod pvdma
dp_check "debugfs is gone after unload" test ! -e /sys/kernel/debug/pvdma
dp_check "no kernel warnings" sh -c '! dmesg | grep -E "WARNING|BUG:|Oops"'
