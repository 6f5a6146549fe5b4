# NVIDIA's own nvidia-uvm.ko 550.163.01 (built by rig/nvidia.sh from Debian's
# nvidia-open-kernel-source) with pvdma's UVM quirk (docs/quirks.md). Not in CI
# (tests/check runs tests/guest/*.sh only; building NVIDIA's modules needs contrib);
# without build/mod-nvidia/SERIES-ARCH/ the runner gives no result. Run by hand:
#   bash rig/nvidia.sh build/kernels/trixie-amd64.env
#   bash rig/guest-run.sh trixie-amd64 tests/guest/nvidia/uvm-real.sh
# NVIDIA's nvidia.ko needs a function with NVIDIA's vendor ID and a display class,
# which no QEMU device offers: how far it gets is noted, not checked. nvidia-uvm.ko is
# then loaded against a stand-in nvidia.ko (tests/guest/nvidia/nvidia-standin/: its
# imports as stubs that fail), which is as far as it goes without a GPU: the quirk
# arms on the real module's own symbols when it comes, and disarms when it goes (its
# init fails, -ENODEV, when the stubs do).
#@ only: trixie-amd64 trixie-arm64
#@ kmods: drm
#@ kmod-prebuilt: build/mod-nvidia/{KNAME}/nvidia.ko build/mod-nvidia/{KNAME}/nvidia-uvm.ko build/mod-nvidia/{KNAME}/nvidia-standin.ko
#@ qemu: -device pcie-root-port,id=rp1,chassis=1 -device pvdma-pci,managed-bus=rp1 -device edu,bus=rp1
#@ timeout: 240
real=/dp/mod/prebuilt
mount -t debugfs none /sys/kernel/debug 2>/dev/null
dp_check "real nvidia-uvm.ko is 550.163.01" sh -c "strings $real/nvidia-uvm.ko | grep -qx version=550.163.01"
dp_check "insmod pvdma" insmod /dp/mod/pvdma.ko
dp_check "modprobe drm (nvidia.ko's dependency)" modprobe drm
dmesg -c >/dev/null
insmod "$real/nvidia.ko" 2>/tmp/nv.err && rc=0 || rc=$?
dp_note "NVIDIA's nvidia.ko: insmod status $rc ($(cat /tmp/nv.err)); $(dmesg | grep -o 'NVRM: .*' | grep -m1 'No NVIDIA' || dmesg | grep -m1 -o 'NVRM: .*')"
[ "$rc" != 0 ] || rmmod nvidia
dmesg -c >/dev/null
dp_check "insmod the stand-in nvidia.ko" insmod "$real/nvidia-standin.ko"
insmod "$real/nvidia-uvm.ko" 2>/tmp/uvm.err && rc=0 || rc=$?
grep -E "uvm_hal_init_properties|uvm_cpu_chunk_get_allocation_sizes" /sys/kernel/debug/kprobes/list >/tmp/kprobes.loaded 2>/dev/null
dp_note "NVIDIA's nvidia-uvm.ko: insmod status $rc ($(cat /tmp/uvm.err))"
[ "$rc" != 0 ] || rmmod nvidia_uvm
dmesg -c >/tmp/uvm.log
sed 's/^/    /' /tmp/uvm.log /tmp/kprobes.loaded
dp_check "quirk armed on the real nvidia_uvm 550.163.01 (log)" grep -q "uvm quirk: nvidia_uvm 550.163.01: armed on uvm_hal_init_properties and uvm_cpu_chunk_get_allocation_sizes (pci_dev at 440, can_map_sysmem_with_large_pages at 608), 1 managed functions" /tmp/uvm.log
dp_check "the probes are on nvidia_uvm's own functions (log)" grep -q "uvm quirk: probes at uvm_hal_init_properties+0x[0-9a-f]*/0x[0-9a-f]* \[nvidia_uvm\] and uvm_cpu_chunk_get_allocation_sizes+0x[0-9a-f]*/0x[0-9a-f]* \[nvidia_uvm\]" /tmp/uvm.log
dp_check "quirk disarmed when nvidia_uvm went (log)" grep -q "uvm quirk: disarmed" /tmp/uvm.log
dp_check "rmmod the stand-in nvidia" rmmod nvidia
dp_check "rmmod pvdma" rmmod pvdma
# busybox insmod tries finit_module, then init_module: nvidia-uvm's init runs twice, and
# its failed first run leaves /proc/driver/nvidia-uvm behind (NVIDIA's error path), which
# the second run's procfs init warns about. Any other warning counts.
dp_check "no kernel warnings but nvidia-uvm's own procfs one" sh -c '[ "$(grep -c "WARNING" /tmp/uvm.log)" = "$(grep -c "proc_dir_entry .driver/nvidia-uvm. already registered" /tmp/uvm.log)" ] && ! grep -E "BUG:|Oops|missed the probes" /tmp/uvm.log'
