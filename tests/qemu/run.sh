#!/usr/bin/env bash
# QEMU-level tests of the pvdma device, no guest: the qtest (qemu/src/tests/qtest/
# pvdma-test.c) on every target, and the configuration errors realize must report.
# Prints TAP lines; needs `QEMU_EXTRA_TARGETS=tests/qtest/pvdma-test qemu/build.sh`.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
bld=$top/build/qemu

for arch in x86_64 aarch64; do
	out=$(QTEST_QEMU_BINARY=$bld/qemu-system-$arch "$bld/tests/qtest/pvdma-test" --tap -k 2>&1)
	rc=$?
	# A failed assertion aborts the test program with "Bail out!" instead of "not ok".
	grep -E '^(ok|not ok|Bail out)' <<<"$out" |
		sed -E 's/^(ok|not ok) [0-9]+ /\1 - /; s/^Bail out! /not ok - /'
	if [ $rc != 0 ] && ! grep -qE '^(not ok|Bail out)' <<<"$out"; then
		echo "not ok - $arch: pvdma-test exited with status $rc"
		tail -n 20 <<<"$out" | sed 's/^/# /'
	fi
done

# A bad configuration stops QEMU with a message that names the problem.
refuse() {
	local want=$1 out
	shift
	# If QEMU does start, the QMP "quit" ends it with success, which fails the check.
	out=$(echo '{"execute":"qmp_capabilities"} {"execute":"quit"}' |
		timeout 30 "$bld/qemu-system-x86_64" -M q35 -display none -S -nodefaults "$@" \
			-qmp stdio 2>&1)
	if [ $? != 0 ] && grep -q -- "$want" <<<"$out"; then
		echo "ok - refuses $*"
	else
		echo "not ok - refuses $* (wanted '$want'; got: $(head -c 300 <<<"$out"))"
	fi
}
rp="-device pcie-root-port,id=rp1,chassis=1"
refuse "unknown backend 'dart'" -device pvdma-pci,backend=dart
refuse "managed-bus 'nosuch'" -device pvdma-pci,managed-bus=nosuch
refuse "cannot sit on the bus it manages" -device pvdma-pci,managed-bus=pcie.0
refuse "already has devices" $rp -device edu,bus=rp1 -device pvdma-pci,managed-bus=rp1
refuse "granule-shift must be" $rp -device pvdma-pci,managed-bus=rp1,granule-shift=40
refuse "aperture" -device pvdma-pci,aperture-size=1000
refuse "max-batch must be" -device pvdma-pci,max-batch=2000
refuse "overlaps the MSI window" -device pvdma-pci,aperture-base=0xfe000000
