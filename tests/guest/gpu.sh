# A GPU driver behind pvdma: the unmodified virtio-gpu DRM driver (virtio with
# VIRTIO_F_ACCESS_PLATFORM, so its rings and its buffers' pages go through the DMA API)
# serves a DRM client (tests/guest/drm-client.c) that creates and destroys 163 buffers,
# then shows a known pattern on the display. QEMU's GPU model reads those pages through
# the emulated DART, and the host compares the saved display with the pattern
# (tests/tools/check-screen.py), saved while the client still holds it (dp_screendump).
# The GPU stays bound: unbinding virtio-gpu leaks a buffer now and then on Linux 7.2,
# with or without pvdma (a warning in drm_mm_takedown, 1 of 5 boots measured without).
# The mapper's trace of this GPU traffic is replayed on the host as in trace-replay.sh.
#@ kmods: virtio-gpu virtio_pci?
#@ prog: tests/guest/drm-client.c
#@ qemu: -device pcie-root-port,id=rp1,chassis=1 -device pvdma-pci,id=pv,managed-bus=rp1
#@ qemu: -device virtio-gpu-pci,bus=rp1,iommu_platform=on,disable-legacy=on
#@ timeout: 240
#@ host-live-after: nonzero
#@ host-after: bash tests/tools/replay-guest-trace.sh; python3 tests/tools/check-screen.py
mount -t debugfs none /sys/kernel/debug 2>/dev/null
modprobe virtio_pci 2>/dev/null	# built in on newer kernels: then pvdma rebinds it
dp_check "insmod pvdma trace=1" insmod /dp/mod/pvdma.ko trace=1
pv=$(ls -d /sys/kernel/debug/pvdma/*/ | head -n1)
faults0=$(sed -n 's/^faults //p' "${pv}host")
dp_gpu_load
dp_check "virtio-gpu's DMA goes through pvdma" sh -c 'dmesg | grep -q "virtio-pci.*pvdma: DMA goes through host-chosen bus addresses"'
bufs() { sed -n 's/^buffers //p' "${pv}stats"; }
bufs_are() { test "$(bufs)" = "$1"; }
b0=$(bufs)
dp_gpu_show
kill $dp_gpu_client; wait $dp_gpu_client
# The virtqueues' command buffers are unmapped as the host completes them.
dp_wait 10 bufs_are "$b0"
dp_check "the client's buffers are all unmapped ($(bufs) live, $b0 before)" bufs_are "$b0"
dp_check "no DMA faults from Linux" grep -q "^faults $faults0$" "${pv}host"
dp_check "no kernel warnings" sh -c '! dmesg | grep -E "WARNING|BUG:|Oops|pvdma.*(cannot|not mapped)"'
dp_report_trace "$pv"
