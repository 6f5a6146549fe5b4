# The pvdma module builds for this kernel, loads, and unloads cleanly.
#@ timeout: 120
dp_check "insmod pvdma" insmod /dp/mod/pvdma.ko
dp_check "pvdma in /sys/module" test -d /sys/module/pvdma
dp_check "rmmod pvdma" rmmod pvdma
dp_check "no kernel warnings" sh -c '! dmesg | grep -E "WARNING|BUG:|Oops"'
