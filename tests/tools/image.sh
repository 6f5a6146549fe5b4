#!/usr/bin/env bash
# dartpass image build and dartpass run --image (issue 21): for amd64 and arm64, builds
# the Debian image (or finds it cached), checks a second build is a cache hit, boots it
# under TCG with the emulated set managed by pvdma and, through the guest agent,
# checks: multi-user reached; pvdma built by DKMS inside the image for the running
# kernel and loaded from DKMS's output; nvme and e1000e bound to the functions pvdma
# manages; data written to the NVMe disk reads back the same; the NIC got a DHCP
# lease; dartpass status --once shows live mappings and no faults; the guest powers
# off and run exits 0. Prints TAP lines. Needs root (the image build) and our QEMU.
#
#   bash tests/tools/image.sh              both arches
#   DP_IMAGE_ARCHES=arm64 bash tests/tools/image.sh
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
dp=$top/build/dartpass
qga=$top/tests/tools/qga.py
dir=$top/build/image-test
rm -rf "$dir" && mkdir -p "$dir"
make -s -C "$top" tools || { echo "not ok - dartpass builds"; exit 1; }
. "$top/tests/tools/tap.sh"

"$dp" image --help >"$dir/help"
missing=$(while IFS= read -r l; do grep -qxF -- "$l" "$top/docs/launcher.md" || echo "$l"; done <"$dir/help")
check "docs/launcher.md has dartpass image --help as the code prints it" test -z "$missing"
"$dp" image build --arch=riscv64 2>"$dir/usage.err"
rc=$?
check "image build: a bad --arch is a usage error (exit 2, got $rc)" eval '[ $rc = 2 ] && grep -q "amd64 or arm64" "$dir/usage.err"'
"$dp" run --dry-run --image=/i/d.qcow2 --arch=aarch64 --accel=tcg --run-dir=/r >"$dir/dry.args" 2>"$dir/dry.err"
check "run --image: UEFI code read-only, the run's own variables, the image on virtio-blk first, the agent channel, no GPU (said why)" \
	eval 'grep -qxF if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/AAVMF/AAVMF_CODE.fd "$dir/dry.args" && grep -qxF if=pflash,format=raw,unit=1,file=/r/efivars.fd "$dir/dry.args" && grep -qxF file=/i/d.qcow2,if=none,id=root,format=qcow2 "$dir/dry.args" && grep -qxF virtio-blk-pci,drive=root,bootindex=0 "$dir/dry.args" && grep -qxF socket,id=qga,path=/r/qga.sock,server=on,wait=off "$dir/dry.args" && ! grep -q -- "-kernel\|virtio-gpu" "$dir/dry.args" && grep -q "virtio-gpu left out" "$dir/dry.err"'

for arch in ${DP_IMAGE_ARCHES:-amd64 arm64}; do
	case $arch in amd64) qarch=x86_64 ;; arm64) qarch=aarch64 ;; esac
	"$dp" image build --arch=$arch >"$dir/$arch.path" 2>"$dir/$arch.build"
	rc=$?
	img=$(tail -n1 "$dir/$arch.path")
	check "$arch: dartpass image build exits 0 with the qcow2's path (got $rc)" \
		eval '[ $rc = 0 ] && [ "$(qemu-img info --output=json "$img" 2>/dev/null | grep -o "\"format\": \"qcow2\"")" ]'
	[ $rc = 0 ] || { sed 's/^/# /' "$dir/$arch.build" | tail -n 20; continue; }
	grep '^image: \(done\|cached\)' "$dir/$arch.build" | sed 's/^/# /'
	"$dp" image build --arch=$arch >"$dir/$arch.path2" 2>"$dir/$arch.build2"
	check "$arch: a second build with nothing changed is the cached image" \
		eval 'grep -q "^image: cached: $img" "$dir/$arch.build2" && [ "$(tail -n1 "$dir/$arch.path2")" = "$img" ]'
	check "$arch: dartpass image path names it" eval '[ "$("$dp" image path --arch=$arch)" = "$img" ]'

	rd=$dir/rd-$arch
	"$dp" run --image="$img" --snapshot --arch=$qarch --accel=tcg --memory=1G \
		--log="$dir/$arch.console" --run-dir="$rd" --no-reboot --timeout=1200 \
		>"$dir/$arch.run" 2>&1 &
	run_pid=$!
	if ! python3 "$qga" "$rd/qga.sock" wait 900 2>>"$dir/$arch.run"; then
		nok "$arch: the guest agent answers"
		tail -n 30 "$dir/$arch.console" | sed 's/^/# /'
		kill "$run_pid"; wait "$run_pid"
		continue
	fi
	ok "$arch: the image boots by UEFI and its guest agent answers"
	g() { python3 "$qga" "$rd/qga.sock" exec "$1"; }
	check "$arch: systemd reaches multi-user.target" \
		eval '[ "$(g "systemctl is-system-running --wait >/dev/null; systemctl is-active multi-user.target")" = active ]'
	kver=$(g 'uname -r')
	echo "# $arch: kernel $kver"
	check "$arch: dkms status: pvdma installed for the running kernel" \
		eval 'g "dkms status pvdma" | grep -q "^pvdma/[^,]*, $kver, [^:]*: installed"'
	mod=$(g 'modinfo -n pvdma')
	check "$arch: the loaded pvdma is DKMS's build inside the image ($mod)" \
		eval 'case $mod in /lib/modules/$kver/updates/dkms/pvdma.ko*) true ;; *) false ;; esac && g "test -d /sys/module/pvdma && grep -qx pvdma /etc/modules-load.d/pvdma.conf"'
	drivers=$(g 'for f in $(cat /sys/kernel/debug/pvdma/*/managed); do basename "$(readlink /sys/bus/pci/devices/$f/driver)"; done' | sort | paste -sd' ')
	check "$arch: nvme and e1000e drive functions pvdma manages ($drivers)" \
		eval 'grep -qw nvme <<<"$drivers" && grep -qw e1000e <<<"$drivers"'
	# shellcheck disable=SC2034 # read in check's eval
	sums=$(g 'set -e; d=$(ls /dev/nvme*n1 | head -n1); head -c 33554432 /dev/urandom >/tmp/data
		dd if=/tmp/data of=$d bs=1M oflag=direct status=none
		a=$(sha256sum </tmp/data); b=$(dd if=$d bs=1M count=32 iflag=direct status=none | sha256sum)
		echo "$a $b"')
	check "$arch: 32 MiB written to the NVMe data disk read back the same" \
		eval 'set -- $sums; [ $# = 4 ] && [ "$1" = "$3" ]'
	check "$arch: the e1000e link got a DHCP lease (networkd)" \
		eval 'g "networkctl list --no-legend" | grep -E "^ *[0-9]+ en" | grep -q routable'
	"$dp" status --once --qmp="$rd/qmp.sock" >"$dir/$arch.status" 2>&1
	sed 's/^/# /' "$dir/$arch.status"
	check "$arch: dartpass status --once shows live mappings and zero faults" \
		eval 'awk "/^ *mappings/ { exit !(\$3 > 0) }" "$dir/$arch.status" && grep -qE "^ *faults +0$" "$dir/$arch.status"'
	python3 "$qga" "$rd/qga.sock" poweroff
	wait "$run_pid"
	rc=$?
	check "$arch: the guest powers off and dartpass run exits 0 (got $rc)" test $rc = 0
	[ $rc = 0 ] || { tail -n 5 "$dir/$arch.run"; tail -n 30 "$dir/$arch.console"; } | sed 's/^/# /'
done
[ $fails = 0 ]
