# A GPU driver behind pvdma: the unmodified virtio-gpu DRM driver (virtio with
# VIRTIO_F_ACCESS_PLATFORM, so its rings and its framebuffer's pages go through the DMA
# API) shows a framebuffer the guest fills with a known pattern. QEMU's GPU model reads
# those pages through the emulated DART, and the host compares the display with the
# pattern (tests/tools/check-screen.py). The driver stays bound until the guest stops:
# unbinding would reset the display before it is saved. The mapper's trace of this real
# GPU traffic is replayed on the host as in trace-replay.sh. Linux 6.12's fbdev sends
# nothing to the GPU after a write() to /dev/fb0, with or without pvdma (measured on
# Debian's 6.12.117), so there the display is not compared and the log says so.
#@ kmods: virtio-gpu virtio_pci?
#@ prog: tests/guest/drm-churn.c
#@ qemu: -device pcie-root-port,id=rp1,chassis=1 -device pvdma-pci,id=pv,managed-bus=rp1
#@ qemu: -device virtio-gpu-pci,bus=rp1,iommu_platform=on,disable-legacy=on
#@ timeout: 240
#@ host-live-after: nonzero
#@ screendump: yes
#@ host-after: bash tests/tools/replay-guest-trace.sh; python3 tests/tools/check-screen.py
mount -t debugfs none /sys/kernel/debug 2>/dev/null
modprobe virtio_pci 2>/dev/null	# built in on newer kernels: then pvdma rebinds it
dp_check "insmod pvdma trace=1" insmod /dp/mod/pvdma.ko trace=1
pv=$(ls -d /sys/kernel/debug/pvdma/*/ | head -n1)
faults0=$(sed -n 's/^faults //p' "${pv}host")
dp_check "modprobe virtio-gpu" modprobe virtio-gpu
dp_wait 30 test -e /dev/fb0
dp_check "virtio-gpu's DMA goes through pvdma" sh -c 'dmesg | grep -q "virtio-pci.*pvdma: DMA goes through host-chosen bus addresses"'
fb=/sys/class/graphics/fb0
w=$(cut -d, -f1 $fb/virtual_size) h=$(cut -d, -f2 $fb/virtual_size)
dp_check "fb0 is ${w}x${h}, 32 bits per pixel, rows packed" test "$(cat $fb/bits_per_pixel) $(cat $fb/stride)" = "32 $((4 * w))"
# The console would draw its text and cursor over the pattern.
for c in /sys/class/vtconsole/vtcon*; do
	grep -q "frame buffer" "$c/name" && echo 0 >"$c/bind"
done
# One write: Linux 6.1's fbdev loses the damage of a write that ends on a row boundary
# one row after it starts, so a pipe's page-sized writes leave every fifth page unshown.
seq 1 9999999 | head -c $((4 * w * h)) >/tmp/pattern
dp_check "fill the framebuffer with seq's numbers" dd if=/tmp/pattern of=/dev/fb0 bs=$((4 * w * h))
sleep 2	# fbdev flushes damage after 50 ms; TCG under load is slow
case $(uname -r) in
6.12.*) echo "DP-NOSCREEN Linux 6.12's fbdev does not pass write()s to the GPU" ;;
esac
bufs() { sed -n 's/^buffers //p' "${pv}stats"; }
b0=$(bufs)
churn=$(/dp/bin/drm-churn) && r=0 || r=1
dp_check "GPU buffer churn: ${churn#drm-churn: }" test "$r" = 0
# The virtqueues' command buffers are unmapped as the host completes them.
dp_wait 10 test "$(bufs)" = "$b0"
dp_check "the churn's buffers are all unmapped ($(bufs) live, $b0 before)" test "$(bufs)" = "$b0"
dp_check "no DMA faults from Linux" grep -q "^faults $faults0$" "${pv}host"
dp_check "no kernel warnings" sh -c '! dmesg | grep -E "WARNING|BUG:|Oops|pvdma.*(cannot|not mapped)"'
echo "DP-STATS $(tr '\n' ' ' <"${pv}stats")"
sed 's/^/DP-TRACE /' "${pv}trace"
