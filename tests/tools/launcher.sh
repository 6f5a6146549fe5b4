#!/usr/bin/env bash
# The launcher commands (docs/launcher.md): dartpass run's QEMU command lines for the
# emulated and passthrough set-ups, checked piece by piece; real boots under TCG (x86_64
# and aarch64) of a busybox initramfs whose guest loads pvdma and the nvme driver, moves
# data through the disk and powers off, with dartpass status --once sampling pvdma's
# counters while it runs; run's exit statuses (could not start, guest failed, timeout,
# Ctrl-C); every message of dartpass doctor provoked through a fake root; list-devices
# against a fake provider and a fake sysfs; the doc's option lists against --help.
# Prints TAP lines; exits 1 when a check failed. Needs what tests/check builds first:
# QEMU, the trixie kernels and their pvdma.ko, arm64 busybox (build/cache).
#
#   bash tests/tools/launcher.sh
#   DP_LAUNCHER_AMD64=sid-amd64 DP_LAUNCHER_ARM64=sid-arm64 bash tests/tools/launcher.sh
#   (empty: that architecture's boot left out; the exit-status boots use the amd64 one)
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
dp=$top/build/dartpass
dir=$top/build/launcher-test
rm -rf "$dir" && mkdir -p "$dir"
make -s -C "$top" tools || { echo "not ok - dartpass builds"; exit 1; }
. "$top/tests/tools/tap.sh"
# has FILE LINE...: every LINE is a whole line of FILE
has() { local f=$1 l; shift; for l in "$@"; do grep -qxF -- "$l" "$f" || { echo "# missing: $l"; return 1; }; done; }
# hasnt FILE PATTERN: no line matches
hasnt() { ! grep -q -- "$2" "$1"; }
# after FILE A B: the line A comes before the line B
after() { local a b; a=$(grep -nxF -- "$2" "$1" | head -n1 | cut -d: -f1); b=$(grep -nxF -- "$3" "$1" | head -n1 | cut -d: -f1); [ -n "$a" ] && [ -n "$b" ] && [ "$a" -lt "$b" ]; }
# pair FILE OPT VALUE: OPT is followed by VALUE (QEMU's argument pairs)
pair() { grep -qxF -- "$2" "$1" && awk -v o="$2" -v v="$3" 'p && $0 == v { f = 1 } { p = ($0 == o) } END { exit !f }' "$1"; }

# ---- run --dry-run: the emulated set ----
# shellcheck disable=SC2034 # read in check's eval
q=$top/build/qemu/qemu-system-x86_64
out=$dir/emulated.args
"$dp" run --dry-run --arch=x86_64 --kernel=/k/vmlinuz --initrd=/k/initrd --append="quiet" \
	--policy=window --memory=2G --cpus=3 --accel=tcg --max-mappings=4096 --granule-shift=16 \
	--aperture=0x100000000:1G --run-dir="$dir/rd" >"$out" 2>"$dir/emulated.err"
check "run --dry-run (emulated) exits 0" test $? = 0
check "emulated: our QEMU beside dartpass, q35, TCG, -cpu max, 3 vCPUs, 2G, -nodefaults" \
	eval 'has "$out" "$q" -nodefaults && pair "$out" -M q35 && pair "$out" -accel tcg && pair "$out" -cpu max && pair "$out" -smp 3 && pair "$out" -m 2G'
check "emulated: kernel, initrd, console and pvdma.policy on the command line" \
	eval 'pair "$out" -kernel /k/vmlinuz && pair "$out" -initrd /k/initrd && pair "$out" -append "console=ttyS0 pvdma.policy=window quiet"'
check "emulated: pvdma manages the root port, with the QEMU properties given (policy is not one)" \
	eval 'has "$out" "pcie-root-port,id=rp1,chassis=1" "pvdma-pci,id=pv,managed-bus=rp1,granule-shift=16,max-mappings=4096,aperture-base=0x100000000,aperture-size=0x40000000" && hasnt "$out" "pvdma-pci.*policy"'
check "emulated: the root port before pvdma" after "$out" "pcie-root-port,id=rp1,chassis=1" "pvdma-pci,id=pv,managed-bus=rp1,granule-shift=16,max-mappings=4096,aperture-base=0x100000000,aperture-size=0x40000000"
check "emulated: NVMe on a scratch disk in the run dir, e1000e with user networking, virtio-gpu, all behind rp1" \
	has "$out" "file=$dir/rd/scratch.img,if=none,id=d0,format=raw" \
	"nvme,bus=rp1,addr=0.0,multifunction=on,serial=dp0,drive=d0" "user,id=n0" \
	"e1000e,bus=rp1,addr=0.1,netdev=n0,romfile=" \
	"virtio-gpu-pci,bus=rp1,addr=0.2,iommu_platform=on,disable-legacy=on"
check "emulated: console on the terminal, QMP in the run dir (and run's own), pvpanic" \
	eval 'pair "$out" -serial stdio && pair "$out" -qmp "unix:$dir/rd/qmp.sock,server=on,wait=off" && pair "$out" -qmp "unix:$dir/rd/run.qmp,server=on,wait=off" && pair "$out" -device pvpanic'
check "emulated: nothing of passthrough" hasnt "$out" "dartpass\|memfd"
check "dry-run creates nothing" test ! -e "$dir/rd"
check "run says which accelerator and why" grep -q "accelerator tcg: asked for with --accel" "$dir/emulated.err"

"$dp" run --dry-run --arch=aarch64 --kernel=/k/Image --disk=/d/data.qcow2 --no-gpu --log=/l/console.log \
	--qmp=/s/q.sock --accel=tcg >"$dir/arm.args" 2>/dev/null
out=$dir/arm.args
check "aarch64: virt, -cpu max,pauth-impdef=on, ttyAMA0, pvpanic-pci, qcow2 --disk, no GPU, console in the log, --qmp" \
	eval 'pair "$out" -M virt && pair "$out" -cpu max,pauth-impdef=on && pair "$out" -append console=ttyAMA0 && pair "$out" -device pvpanic-pci && has "$out" "$top/build/qemu/qemu-system-aarch64" "file=/d/data.qcow2,if=none,id=d0,format=qcow2" && hasnt "$out" virtio-gpu && pair "$out" -serial file:/l/console.log && pair "$out" -qmp unix:/s/q.sock,server=on,wait=off'

"$dp" run --dry-run --arch=aarch64 --kernel=/k/Image --accel=hvf --host-tso >"$dir/hvf.args" 2>/dev/null
check "hvf (forced) with --host-tso: -accel hvf,tso=on, -cpu host, pvdma's host-tso=on" \
	eval 'pair "$dir/hvf.args" -accel hvf,tso=on && pair "$dir/hvf.args" -cpu host && has "$dir/hvf.args" "pvdma-pci,id=pv,managed-bus=rp1,host-tso=on"'

"$dp" run --dry-run --kernel=/k --disk=/d/a,b.img --log=/l/c,d.log --accel=tcg --arch=x86_64 >"$dir/comma.args" 2>/dev/null
check "paths inside QEMU option strings have their commas doubled" \
	eval 'has "$dir/comma.args" "file=/d/a,,b.img,if=none,id=d0,format=raw" "file:/l/c,,d.log"'

# ---- run --dry-run: passthrough ----
out=$dir/pt.args
"$dp" run --dry-run --arch=x86_64 --kernel=/k/vmlinuz --memory=4G --accel=tcg --qemu=/opt/q/qemu-system-x86_64 \
	--provider=/run/dartpass-provider.sock --function=0000:03:00.0 --function=0000:03:00.1 \
	--max-bytes=512M >"$out" 2>/dev/null
check "passthrough: --qemu, shared memfd RAM of --memory's size as the machine's memory" \
	eval 'has "$out" /opt/q/qemu-system-x86_64 && pair "$out" -object memory-backend-memfd,id=ram,share=on,size=4G && pair "$out" -machine memory-backend=ram && pair "$out" -m 4G'
check "passthrough: the provider object, two dartpass-pci functions on one root port, pvdma through the provider" \
	has "$out" "dartpass-provider,id=prov,socket=/run/dartpass-provider.sock" \
	"pcie-root-port,id=rp0,chassis=1" \
	"dartpass-pci,provider=prov,host=0000:03:00.0,bus=rp0,addr=0.0,multifunction=on" \
	"dartpass-pci,provider=prov,host=0000:03:00.1,bus=rp0,addr=0.1" \
	"pvdma-pci,id=pv,backend=provider,provider=prov,max-bytes=536870912"
check "passthrough: the provider object before the devices that use it" \
	after "$out" "dartpass-provider,id=prov,socket=/run/dartpass-provider.sock" "pvdma-pci,id=pv,backend=provider,provider=prov,max-bytes=536870912"
check "passthrough: no emulated set" hasnt "$out" "nvme\|e1000e\|virtio-gpu\|managed-bus"
"$dp" run --dry-run --arch=aarch64 --kernel=/k/Image --accel=tcg --provider=DartpassDriver \
	--function=0000:03:00.0 >"$dir/iokit.args" 2>/dev/null
check "passthrough through an IOKit service: service=, no memfd backend, one function without multifunction" \
	eval 'has "$dir/iokit.args" "dartpass-provider,id=prov,service=DartpassDriver" "dartpass-pci,provider=prov,host=0000:03:00.0,bus=rp0,addr=0.0" && hasnt "$dir/iokit.args" memfd'

# ---- run: options, config file, usage errors ----
cat >"$dir/vm.conf" <<'EOF'
# a VM
memory = 3G
cpus=4
kernel=/c/vmlinuz
function=0000:05:00.0
provider=/c/p.sock
EOF
"$dp" run --dry-run --config="$dir/vm.conf" --cpus=1 --arch=x86_64 --accel=tcg >"$dir/conf.args" 2>/dev/null
check "config file: its values apply, the command line's win" \
	eval 'pair "$dir/conf.args" -m 3G && pair "$dir/conf.args" -smp 1 && pair "$dir/conf.args" -kernel /c/vmlinuz && has "$dir/conf.args" "dartpass-pci,provider=prov,host=0000:05:00.0,bus=rp0,addr=0.0"'
echo "nosuch=1" >"$dir/bad.conf"
"$dp" run --dry-run --config="$dir/bad.conf" --kernel=/k >/dev/null 2>"$dir/bad.err"
rc=$?
check "config file: an unknown key is a usage error naming the line" eval '[ $rc = 2 ] && grep -q "bad.conf:1: not KEY=VALUE" "$dir/bad.err"'
usage() { local want=$1; shift; "$dp" run --dry-run "$@" >/dev/null 2>"$dir/usage.err"; [ $? = 2 ] && grep -q -- "$want" "$dir/usage.err"; }
"$dp" run --dry-run --arch=x86_64 --accel=tcg --run-dir=/r >"$dir/default.args" 2>/dev/null
img=$("$dp" image path --arch=amd64)
check "no --kernel or --image: the Debian image (dry run: its path, nothing built)" \
	eval '[ -n "$img" ] && has "$dir/default.args" "file=$img,if=none,id=root,format=qcow2" && ! grep -q -- "^-kernel$" "$dir/default.args"'
check "usage: --provider without --function" usage "go together" --kernel=/k --provider=/p
check "usage: --disk with passthrough" usage "emulated set" --kernel=/k --provider=/p --function=0000:01:00.0 --disk=/d
check "usage: bad --arch" usage "x86_64 or aarch64" --kernel=/k --arch=riscv64
check "usage: bad --accel" usage "auto, kvm, hvf or tcg" --kernel=/k --accel=xen
check "usage: bad --aperture" usage "BASE:SIZE" --kernel=/k --aperture=5
check "run --help lists every option from the table" \
	eval '"$dp" run --help | grep -q -- "--provider=TEXT" && "$dp" run --help | grep -q -- "--shutdown-timeout=N"'

# ---- status without a VM ----
"$dp" status --once --qmp="$dir/none.sock" >/dev/null 2>"$dir/st.err"
rc=$?
check "status: no VM is exit 1 with the reason (got $rc)" eval '[ $rc = 1 ] && grep -q "cannot reach QMP at $dir/none.sock" "$dir/st.err"'

# ---- run: could not start ----
"$dp" run --qemu=/nonexistent/qemu --kernel=/k --run-dir="$dir/ns" >/dev/null 2>"$dir/ns.err"
rc=$?
check "run: a missing QEMU is 'could not start' (exit 4, got $rc)" eval '[ $rc = 4 ] && grep -q "could not start /nonexistent/qemu" "$dir/ns.err"'
printf '#!/bin/sh\necho "qemu: bad option" >&2\nexit 1\n' >"$dir/failing-qemu" && chmod +x "$dir/failing-qemu"
"$dp" run --qemu="$dir/failing-qemu" --kernel=/k --run-dir="$dir/ns" >/dev/null 2>"$dir/ns.err"
rc=$?
check "run: QEMU exiting before QMP answers is 'could not start' (exit 4, got $rc)" eval '[ $rc = 4 ] && grep -q "exited before its QMP socket answered" "$dir/ns.err"'

# ---- real boots under TCG ----
# initramfs KNAME BUSYBOX OUT: busybox, pvdma.ko and the nvme driver with what it needs;
# /init loads them, writes and reads back 16 MiB through the disk, says "LAUNCHER
# ready", waits 2 s (status samples then) and powers off.
initramfs() {
	local kname=$1 bb=$2 out=$3 root m b
	root=$dir/root-$kname
	rm -rf "$root" && mkdir -p "$root"/{bin,proc,sys,dev,tmp,mod}
	cp "$bb" "$root/bin/busybox"
	cp "$top/build/mod/$kname/pvdma.ko" "$root/mod/"
	# nvme and what it needs, in load order, from modules.dep
	local -A seen=()
	local order=()
	need() {
		local m=$1 d
		[ -n "${seen[$m]:-}" ] && return
		seen[$m]=1
		for d in $(grep "^$m:" "$KMODULES/modules.dep" | cut -d: -f2); do need "$d"; done
		order+=("$m")
	}
	need "$(grep -o '^kernel/drivers/nvme/host/nvme\.ko[^:]*' "$KMODULES/modules.dep")"
	for m in "${order[@]}"; do
		b=$(basename "$m"); b=${b%.xz}; b=${b%.zst}; b=${b%.gz}
		case $m in
		*.xz) xz -dc "$KMODULES/$m" >"$root/mod/$b" ;;
		*.zst) zstd -qdc "$KMODULES/$m" >"$root/mod/$b" ;;
		*.gz) gzip -dc "$KMODULES/$m" >"$root/mod/$b" ;;
		*) cp "$KMODULES/$m" "$root/mod/$b" ;;
		esac
		echo "$b" >>"$root/mod/order"
	done
	cat >"$root/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
mount -t debugfs none /sys/kernel/debug
insmod /mod/pvdma.ko && echo "LAUNCHER pvdma loaded"
echo "LAUNCHER faults_before_linux $(sed -n 's/^faults //p' /sys/kernel/debug/pvdma/*/host)"
for m in $(cat /mod/order); do insmod /mod/$m; done
for i in $(seq 100); do [ -b /dev/nvme0n1 ] && break; sleep 0.1; done
dd if=/dev/urandom of=/tmp/d bs=1M count=16 2>/dev/null
dd if=/tmp/d of=/dev/nvme0n1 bs=1M oflag=direct 2>/dev/null
a=$(md5sum </tmp/d); b=$(dd if=/dev/nvme0n1 bs=1M count=16 iflag=direct 2>/dev/null | md5sum)
[ "$a" = "$b" ] && echo "LAUNCHER disk verified"
echo "LAUNCHER ready"
sleep 2
poweroff -f
INIT
	chmod +x "$root/init"
	(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$out"
}

# boot KNAME ARCH BUSYBOX: dartpass run of that initramfs, status --once while it runs.
boot() {
	local kname=$1 arch=$2 bb=$3 log sock t0 t1 rpid src rc live f0
	if [ ! -f "$top/build/kernels/$kname.env" ] || [ ! -f "$top/build/mod/$kname/pvdma.ko" ] ||
		[ ! -x "$top/build/qemu/qemu-system-$arch" ] || [ ! -x "$bb" ]; then
		nok "boot $kname: its kernel, pvdma.ko, busybox ($bb) and build/qemu/qemu-system-$arch are built (tests/check builds them)"
		return
	fi
	# shellcheck disable=SC1090
	. "$top/build/kernels/$kname.env"
	initramfs "$kname" "$bb" "$dir/initrd-$kname.gz"
	log=$dir/console-$kname.log sock=$dir/$kname.qmp
	t0=$(date +%s.%N)
	"$dp" run --arch="$arch" --kernel="$KIMAGE" --initrd="$dir/initrd-$kname.gz" \
		--append="panic=-1 loglevel=4 rdinit=/init" --log="$log" --qmp="$sock" \
		--run-dir="$dir/boot-$kname" --no-reboot --timeout=90 --memory=1G \
		>"$dir/run-$kname.out" 2>"$dir/run-$kname.err" &
	rpid=$!
	for _ in $(seq 900); do
		grep -q "LAUNCHER ready" "$log" 2>/dev/null && break
		kill -0 $rpid 2>/dev/null || break
		sleep 0.1
	done
	"$dp" status --once --qmp="$sock" >"$dir/status-$kname.out" 2>&1
	# shellcheck disable=SC2034 # read in check's eval
	src=$?
	# A device without pvdma's QOM counters: the monitor's "info pvdma" instead.
	"$dp" status --once --qmp="$sock" --device=nosuch >"$dir/status-hmp-$kname.out" 2>&1
	wait $rpid
	rc=$?
	t1=$(date +%s.%N)
	echo "# $kname: dartpass run, boot to poweroff: $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s"
	sed "s/^/# $kname: run: /" "$dir/run-$kname.err"
	sed "s/^/# $kname: status: /" "$dir/status-$kname.out"
	check "boot $kname: the guest loaded pvdma and verified 16 MiB through the NVMe disk" \
		eval 'tr -d "\r" <"$log" | grep -q "^LAUNCHER pvdma loaded" && tr -d "\r" <"$log" | grep -q "^LAUNCHER disk verified"'
	live=$(sed -n 's/^  mappings   live \([0-9]*\) .*/\1/p' "$dir/status-$kname.out")
	# Firmware (SeaBIOS) may probe the disk before pvdma is enabled: not Linux's faults.
	f0=$(tr -d '\r' <"$log" | sed -n 's/^LAUNCHER faults_before_linux \([0-9]*\)$/\1/p')
	check "boot $kname: status --once while it runs: exit 0, live mappings (${live:-none}) > 0, no faults from Linux (firmware's: ${f0:-?}), round trips counted" \
		eval '[ $src = 0 ] && [ "${live:-0}" -gt 0 ] && [ -n "$f0" ] && grep -q "^  faults     $f0$" "$dir/status-$kname.out" && grep -q "^  round trips [1-9]" "$dir/status-$kname.out" && grep -q "^provider   none" "$dir/status-$kname.out"'
	check "boot $kname: status falls back to info pvdma when the device has no QOM counters" \
		eval 'grep -q "^pvdma (nosuch has no QOM counters; info pvdma):" "$dir/status-hmp-$kname.out" && grep -q "^/machine/peripheral/pv (backend emulated, managed bus rp1)" "$dir/status-hmp-$kname.out" && grep -q "^  mappings: live [1-9]" "$dir/status-hmp-$kname.out"'
	check "boot $kname: dartpass run exits 0 after the guest powers off (got $rc)" \
		eval '[ $rc = 0 ] && grep -q "the guest stopped (guest-shutdown)" "$dir/run-$kname.err"'
	check "boot $kname: the scratch disk was made in the run dir; the QMP sockets are gone" \
		eval 'test -f "$dir/boot-$kname/scratch.img" && test ! -e "$sock" && test ! -e "$dir/boot-$kname/run.qmp"'
}
# The arm64 guest's busybox, as rig/guest-run.sh fetches it (Debian's busybox-static).
arm_bb=$top/build/cache/busybox-arm64/bin/busybox
if [ -n "${DP_LAUNCHER_ARM64-trixie-arm64}" ] && [ ! -x "$arm_bb" ]; then
	(
		. "$top/rig/apt-env.sh"
		t=$(mktemp -d)
		(cd "$t" && dp_apt arm64 download -q busybox-static >/dev/null 2>&1)
		dpkg -x "$t"/busybox-static_*.deb "$top/build/cache/busybox-arm64"
		rm -rf "$t"
	)
fi
# An empty DP_LAUNCHER_AMD64= or DP_LAUNCHER_ARM64= leaves that boot out.
if [ -n "${DP_LAUNCHER_AMD64-trixie-amd64}" ]; then
	boot "${DP_LAUNCHER_AMD64-trixie-amd64}" x86_64 /bin/busybox
else
	echo "# boot x86_64: left out (DP_LAUNCHER_AMD64 empty)"
fi
if [ -n "${DP_LAUNCHER_ARM64-trixie-arm64}" ]; then
	boot "${DP_LAUNCHER_ARM64-trixie-arm64}" aarch64 "$arm_bb"
else
	echo "# boot aarch64: left out (DP_LAUNCHER_ARM64 empty)"
fi

# The exit-status runs boot the arm64 kernel when there is one: it reaches /init (or
# its panic) in a third of the x86_64 kernel's time under TCG.
if [ -n "${DP_LAUNCHER_ARM64-trixie-arm64}" ]; then
	kname=${DP_LAUNCHER_ARM64-trixie-arm64} karch=aarch64 kbb=$arm_bb
else
	kname=${DP_LAUNCHER_AMD64-trixie-amd64} karch=x86_64 kbb=/bin/busybox
fi
if [ -n "$kname" ] && [ -f "$top/build/kernels/$kname.env" ] && [ -x "$top/build/qemu/qemu-system-$karch" ] && [ -x "$kbb" ]; then
	# shellcheck disable=SC1090
	. "$top/build/kernels/$kname.env"
	echo "# exit-status runs: $kname"
	# A guest that panics (no init): panic=-1 reboots, --no-reboot makes that the end.
	"$dp" run --arch="$karch" --kernel="$KIMAGE" --append="panic=-1 loglevel=4 rdinit=/nonexistent" \
		--log="$dir/panic.log" --run-dir="$dir/panic" --no-reboot --timeout=60 >/dev/null 2>"$dir/panic.err"
	rc=$?
	check "run: a guest that panics and resets under --no-reboot is 'guest failed' (exit 3, got $rc)" \
		eval '[ $rc = 3 ] && grep -q "the guest failed: it reset under --no-reboot" "$dir/panic.err"'

	# Passthrough's command line as QEMU takes it: it gets as far as connecting to the
	# provider (a real one needs functions bound to vfio-pci: the nested rig's tests).
	"$dp" run --arch="$karch" --kernel="$KIMAGE" --provider="$dir/nosuch.sock" --function=0000:03:00.0 \
		--log="$dir/pt.log" --run-dir="$dir/pt" >/dev/null 2>"$dir/pt.err"
	rc=$?
	check "run: passthrough's objects and devices parse; a provider that is not there is 'could not start' (exit 4, got $rc)" \
		eval '[ $rc = 4 ] && grep -q "dartpass-provider: cannot connect to $dir/nosuch.sock" "$dir/pt.err"'

	# A guest that only waits.
	idle=$dir/idle-root
	mkdir -p "$idle/bin"
	cp "$kbb" "$idle/bin/busybox"
	printf '#!/bin/busybox sh\n/bin/busybox --install -s /bin\necho "LAUNCHER ready"\nsleep 60\npoweroff -f\n' >"$idle/init"
	chmod +x "$idle/init"
	(cd "$idle" && find . | cpio -o -H newc --quiet | gzip -1) >"$dir/initrd-idle.gz"
	"$dp" run --arch="$karch" --kernel="$KIMAGE" --initrd="$dir/initrd-idle.gz" --log="$dir/tmo.log" \
		--run-dir="$dir/tmo" --timeout=2 >/dev/null 2>"$dir/tmo.err"
	rc=$?
	check "run: --timeout stops the guest as failed (exit 3, got $rc)" \
		eval '[ $rc = 3 ] && grep -q "the guest failed: --timeout expired" "$dir/tmo.err"'

	# Ctrl-C: system_powerdown; this guest's busybox ignores the power button, so QEMU
	# quits after --shutdown-timeout: the guest did not power off.
	# ctrlc NAME N: a run of the waiting guest, N SIGINTs to its process group as a
	# terminal's Ctrl-C sends them (QEMU must not act on them itself); its exit status.
	ctrlc() {
		local name=$1 n=$2 pid
		setsid "$dp" run --arch="$karch" --kernel="$KIMAGE" --initrd="$dir/initrd-idle.gz" \
			--append="panic=-1 loglevel=4 rdinit=/init" --log="$dir/$name.log" \
			--run-dir="$dir/$name" --shutdown-timeout=2 --timeout=80 >/dev/null 2>"$dir/$name.err" &
		pid=$!
		for _ in $(seq 900); do
			grep -q "LAUNCHER ready" "$dir/$name.log" 2>/dev/null && break
			kill -0 $pid 2>/dev/null || break
			sleep 0.1
		done
		kill -INT -- -$pid
		if [ "$n" = 2 ]; then sleep 0.5; kill -INT -- -$pid; fi
		wait $pid
		echo $?
	}
	rc=$(ctrlc int 1)
	sed 's/^/# ctrl-c: /' "$dir/int.err"
	check "run: Ctrl-C asks the guest to power off (QEMU ignores it), quits after --shutdown-timeout, exit 3 (got $rc)" \
		eval '[ $rc = 3 ] && grep -q "asking the guest to power off" "$dir/int.err" && grep -q "did not power off in 2 s" "$dir/int.err"'
	rc=$(ctrlc int2 2)
	check "run: a second Ctrl-C quits at once, exit 130 (got $rc)" \
		eval '[ $rc = 130 ] && grep -q "quit at once (second Ctrl-C)" "$dir/int2.err"'
elif [ -n "$kname" ]; then
	nok "exit-status runs: $kname's kernel, busybox ($kbb) and build/qemu/qemu-system-$karch are built"
else
	echo "# exit-status runs: left out (both DP_LAUNCHER_AMD64 and DP_LAUNCHER_ARM64 empty)"
fi

# ---- doctor: every message, through a fake root ----
fake=$dir/root
mkdir -p "$fake"
doc() { DARTPASS_ROOT=$fake "$dp" doctor "$@" >"$dir/doc.out" 2>&1; echo $? >"$dir/doc.rc"; }
saw() { grep -q -- "$1" "$dir/doc.out" || { sed 's/^/#   /' "$dir/doc.out"; return 1; }; }
rc() { [ "$(cat "$dir/doc.rc")" = "$1" ]; }
printf '#!/bin/sh\n[ "$1" = -device ] && cat <<E\nname "nvme", bus PCI\nname "e1000e", bus PCI\nname "virtio-gpu-pci", bus PCI\nname "pvdma-pci", bus PCI\nname "dartpass-pci", bus PCI\nE\n' >"$dir/good-qemu"
printf '#!/bin/sh\necho name \\"nvme\\", bus PCI\n' >"$dir/plain-qemu"
chmod +x "$dir/good-qemu" "$dir/plain-qemu" "$dir/failing-qemu"
mkdir -p "$fake/proc" && printf 'MemTotal: 8000000 kB\nMemAvailable: 4000000 kB\n' >"$fake/proc/meminfo"
doc --qemu="$dir/good-qemu"
check "doctor: no /dev/kvm under the root: TCG, and why" saw "warn accel .*TCG for x86_64 guests: KVM unusable: $fake/dev/kvm: No such file"
check "doctor: no IOMMU groups (a warning without --passthrough)" saw "warn iommu .*no IOMMU groups"
check "doctor: vfio-pci not loaded" saw "warn vfio .*the vfio-pci driver is not loaded"
check "doctor: memory from /proc/meminfo" saw "ok   memory .*3906 MiB available for a 1024 MiB guest"
check "doctor: a QEMU with pvdma-pci, dartpass-pci and the emulated set is a working emulated setup" saw "ok   qemu .*the emulated setup can run"
check "doctor: warnings only: exit 0" rc 0
mkdir -p "$fake/dev" && : >"$fake/dev/kvm"
doc --qemu="$dir/good-qemu"
check "doctor: a /dev/kvm that is not KVM" saw "is not KVM (KVM_GET_API_VERSION"
doc --arch=aarch64 --qemu="$dir/good-qemu"
check "doctor: a foreign guest architecture is TCG" saw "TCG for aarch64 guests: an aarch64 guest on an x86_64 host"
doc --passthrough --qemu="$dir/good-qemu"
check "doctor --passthrough: no IOMMU or VFIO fails (exit 1)" eval 'saw "FAIL iommu" && saw "FAIL vfio" && rc 1'
mkdir -p "$fake/sys/kernel/iommu_groups/7/devices" "$fake/sys/bus/pci/drivers/vfio-pci"
doc --qemu="$dir/good-qemu"
check "doctor: IOMMU groups counted; vfio-pci loaded but no /dev/vfio/vfio" eval 'saw "ok   iommu .*1 IOMMU groups" && saw "warn vfio .*dev/vfio/vfio is missing or not a device"'
mkdir -p "$fake/dev/vfio" && ln -sf /dev/null "$fake/dev/vfio/vfio"
doc --qemu="$dir/good-qemu"
check "doctor: no usable VFIO functions" saw "warn vfio .*no usable VFIO functions: none is bound to vfio-pci"
mkdir -p "$fake/sys/bus/pci/drivers/vfio-pci/0000:03:00.0"
doc --qemu="$dir/good-qemu"
check "doctor: a function bound to vfio-pci" saw "ok   vfio .*1 function(s) bound to vfio-pci"
doc --qemu="$dir/good-qemu" --memory=8G
check "doctor: too little memory for --memory fails (exit 1)" eval 'saw "FAIL memory .*3906 MiB available, a 8192 MiB guest and QEMU need 8448 MiB" && rc 1'
mv "$fake/proc/meminfo" "$fake/proc/gone"
doc --qemu="$dir/good-qemu"
check "doctor: unreadable meminfo" saw "warn memory .*cannot tell how much memory is available"
doc --qemu="$dir/nonexistent"
check "doctor: no QEMU fails (exit 1)" eval 'saw "FAIL qemu .*no QEMU at $dir/nonexistent" && saw "fix: build it: bash qemu/build.sh" && rc 1'
doc --qemu="$dir/failing-qemu"
check "doctor: a QEMU that does not run" saw "FAIL qemu .*-device help failed (exit 1)"
doc --qemu="$dir/plain-qemu"
check "doctor: a QEMU without dartpass's devices" saw "FAIL qemu .*lacks pvdma-pci, dartpass-pci, e1000e, virtio-gpu-pci"
"$dp" doctor >"$dir/doc-host.out" 2>&1
sed 's/^/# this host: /' "$dir/doc-host.out"
check "doctor on this host: ends with its counts" grep -q "failure(s), .* warning(s)$" "$dir/doc-host.out"

# ---- list-devices ----
mkdir -p "$fake/sys/bus/pci/devices/0000:03:00.0" "$fake/sys/kernel/iommu_groups/7/devices/0000:03:00.0" \
	"$fake/sys/kernel/iommu_groups/7/devices/0000:03:00.1"
printf '0x8086\n' >"$fake/sys/bus/pci/devices/0000:03:00.0/vendor"
printf '0x10d3\n' >"$fake/sys/bus/pci/devices/0000:03:00.0/device"
printf '0x020000\n' >"$fake/sys/bus/pci/devices/0000:03:00.0/class"
ln -s ../../../../kernel/iommu_groups/7 "$fake/sys/bus/pci/devices/0000:03:00.0/iommu_group"
"$dp" list-devices --root="$fake" >"$dir/ls.out" 2>&1
sed 's/^/#   /' "$dir/ls.out"
check "list-devices (sysfs): the vfio-pci function, its ID, class, IOMMU group and group members" \
	grep -qE '^0000:03:00.0 +8086:10d3 020000 +7 +0000:03:00.0 0000:03:00.1$' "$dir/ls.out"
rmdir "$fake/sys/bus/pci/drivers/vfio-pci/0000:03:00.0"
"$dp" list-devices --root="$fake" >"$dir/ls.out" 2>&1
check "list-devices (sysfs): none bound" grep -q "no functions are bound to vfio-pci" "$dir/ls.out"
rm -rf "$fake/sys/bus/pci/drivers/vfio-pci"
"$dp" list-devices --root="$fake" >"$dir/ls.out" 2>&1
check "list-devices (sysfs): vfio-pci not loaded" grep -q "the vfio-pci driver is not loaded" "$dir/ls.out"

# A fake provider: answers one HELLO with two functions, the second claimed.
fakeprov() {
	python3 - "$1" "$2" <<'PY' &
import socket, struct, sys, os
path, mode = sys.argv[1], sys.argv[2]
try: os.unlink(path)
except FileNotFoundError: pass
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.bind(path); s.listen(1)
open(path + ".ready", "w").close()
c, _ = s.accept()
m = c.recv(65536)
op, st, ln, rid, fn = struct.unpack_from("<HHIII", m)
ver, feat = struct.unpack_from("<II", m, 16)
assert op == 1 and ln == len(m) == 32
if mode == "newer":
    body = struct.pack("<IIII", 2 << 16, 0, 0, 0) + bytes(40)
    c.send(struct.pack("<HHIII", 1, 10, 16 + len(body), rid, 0) + body)
else:
    fns = struct.pack("<IHHII", (3 << 8) | (0 << 3) | 0, 0x144d, 0xa808, 0x010802 << 8, 0)
    fns += struct.pack("<IHHII", (3 << 8) | (0 << 3) | 1, 0x8086, 0x10d3, 0x020000 << 8, 1)
    limits = struct.pack("<QQQIIII", 0x10000000, 0xf0000000, 1536 << 20, 65536, 14, 512, 0)
    body = struct.pack("<IIII", 1 << 16, feat & 0xf, 2, 0) + limits + fns
    c.send(struct.pack("<HHIII", 1, 0, 16 + len(body), rid, 0) + body)
c.close()
PY
	for _ in $(seq 50); do [ -e "$1.ready" ] && return; sleep 0.1; done
}
psock=$dir/prov.sock
fakeprov "$psock" ok
"$dp" list-devices --provider="$psock" >"$dir/lp.out" 2>&1
prc=$?
wait
sed 's/^/#   /' "$dir/lp.out"
check "list-devices --provider: HELLO's functions with ID, class and claimed state" \
	eval '[ $prc = 0 ] && grep -qE "^0000:03:00.0 +144d:a808 010802 +free$" "$dir/lp.out" && grep -qE "^0000:03:00.1 +8086:10d3 020000 +claimed by another client$" "$dir/lp.out" && grep -q "version 1.0, 2 function(s); per client: 65536 mappings, 1536 MiB, page 2^14" "$dir/lp.out"'
rm -f "$psock.ready"
fakeprov "$psock" newer
"$dp" list-devices --provider="$psock" >"$dir/lp.out" 2>&1
prc=$?
wait
check "list-devices --provider: a provider of another major version is named as such" \
	eval '[ $prc = 1 ] && grep -q "speaks version 2.0, dartpass 1.0" "$dir/lp.out"'
"$dp" list-devices --provider="$dir/nosuch.sock" >"$dir/lp.out" 2>&1
# shellcheck disable=SC2034 # read in check's eval
prc=$?
check "list-devices --provider: no provider" eval '[ $prc = 1 ] && grep -q "cannot connect to" "$dir/lp.out"'

# ---- docs/launcher.md shows each command's --help as it is ----
for c in run status doctor list-devices; do
	"$dp" "$c" --help >"$dir/help.$c"
	missing=$(while IFS= read -r l; do grep -qxF -- "$l" "$top/docs/launcher.md" || echo "$l"; done <"$dir/help.$c")
	check "docs/launcher.md has dartpass $c --help as the code prints it" test -z "$missing"
	[ -z "$missing" ] || echo "$missing" | sed 's/^/#   not in the doc: /'
done

[ "$fails" = 0 ]
