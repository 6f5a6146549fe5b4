#!/usr/bin/env bash
# Boots one guest kernel under our QEMU (TCG) with a busybox initramfs, runs one guest
# test script in it and reports its checks as TAP lines.
#
#   rig/guest-run.sh SERIES-ARCH tests/guest/NAME.sh
#
# The script's header lines configure the boot:
#   #@ kmods: nvme e1000e        kernel modules (with dependencies) to put in the initramfs;
#                                NAME? when some kernels build it in (virtio_pci?)
#   #@ arch: arm64               run only on this architecture (elsewhere: no result)
#   #@ only: trixie-amd64        run only on these kernels, SERIES-ARCH (elsewhere: no
#                                result): for costly runs, such as nested ones
#   #@ iommu: on                 an emulated IOMMU that translates the PCI functions'
#                                DMA, so L1 can hand them to vfio-pci: x86_64
#                                intel-iommu (with interrupt remapping, which VFIO
#                                wants) and intel_iommu=on, arm64 virt's SMMUv3
#   #@ qemu: -device ...         extra QEMU arguments ({ARCH} is replaced by amd64/arm64,
#                                {DISK} by a fresh, empty 1 GiB raw image for this run,
#                                {ECHO} by the host's echo service for a guestfwd's
#                                cmd: (rig/echo-service.py),
#                                {NONCOHERENT_DTB} by the arm64 machine's device tree
#                                without "dma-coherent": DMA is not cache-coherent)
#   #@ timeout: 120              seconds before the guest is killed (default 180)
#   #@ smp: 1                    vCPUs (default 2)
#   #@ mem: 3G                   the guest's RAM, as QEMU's -m takes it (default 1G)
#   #@ vmm: on                   our QEMU in the guest (L1), to run qtests or boot an L2:
#                                build/qemu/qemu-system-x86_64 at /dp/qemu/, the shared
#                                libraries ldd lists (at their paths, with the loader),
#                                and its firmware (SeaBIOS's bios-256k.bin, our option
#                                ROMs) in /dp/qemu/fw; lib.sh's dp_qemu (or $DP_QEMU, a
#                                qemu-system-x86_64 that passes -L /dp/qemu/fw) runs it.
#                                amd64 guests only for now (elsewhere: no result)
#   #@ qtest: tests/qtest/X      libqtest programs, relative to build/qemu/ (build them
#                                with QEMU_EXTRA_TARGETS=tests/qtest/X qemu/build.sh), at
#                                /dp/qtest/X with their libraries; lib.sh's dp_qtest X
#                                runs one against our QEMU and counts its TAP lines.
#                                Implies vmm: on
#   #@ l2: tests/guest/l2/X.sh   an L2 guest for lib.sh's dp_l2 to boot with our QEMU:
#                                an initramfs made from X.sh exactly as this one (busybox,
#                                lib.sh, our modules, X.sh's own "#@ kmods:" and prog:
#                                and bin:; X.sh's other headers are ignored), ending
#                                with reboot -f (L2 runs with acpi=off and -no-reboot),
#                                at /dp/l2/initrd.gz, and this kernel at /dp/l2/kernel
#                                (its uncompressed vmlinux, booted through PVH, when
#                                it has that entry; else the image).
#                                Implies vmm: on
#   #@ kmod-src: tests/guest/X   an out-of-tree module directory of ours (with a `dist`
#                                target, as guest/), built for this kernel with
#                                rig/kmod-build.sh into build/mod-extra/SERIES-ARCH/X,
#                                its .ko files at /dp/mod beside pvdma.ko
#   #@ kmod-prebuilt: build/X/{KNAME}/Y.ko   modules built elsewhere (rig/nvidia.sh), at
#                                /dp/mod/prebuilt ({KNAME}: SERIES-ARCH); one missing: no result
#   #@ boots: 2                  with a pvdma-pci,id=pv: the guest's first N-1 stops (a
#                                panic's or a reboot's reset, which -no-reboot turns into
#                                a stop) are each checked (live host mappings over QMP;
#                                "#@ host-live-between: nonzero" wants some left), reset
#                                (a check that none remain) and booted again: the script
#                                runs once per boot (its {DISK} persists to tell them
#                                apart); the last boot ends as usual
#   #@ host-after: CMD           run on the host, in the checkout, once the guest has
#                                stopped, with LOG set to the console log; its
#                                "DP-TEST ok|not ok" lines count like the guest's,
#                                its "# " lines are shown
#   #@ host-live-after: 0        with a pvdma-pci,id=pv: live host mappings expected
#                                (over QMP) once the guest has powered off (a number
#                                or "nonzero"); a reset must always leave none
#   #@ prog: tests/guest/X.c     a guest program, at /dp/bin/X: freestanding C (the
#                                guest has no C library), built with the compiler in
#                                the kernel's suite chroot (rig/kernels.sh)
#   #@ bin: build/X build/Y      programs already built on the host, at /dp/bin/X: they
#                                must be static (the guest has no C library, nothing is
#                                copied with them); an arm64 guest gets build/arm64/X
#                                (make ... B=build/arm64 CC=aarch64-linux-gnu-gcc, with
#                                gcc-aarch64-linux-gnu and libc6-dev-arm64-cross, which
#                                displace the gcc-multilib that rig/deps.sh installs)
#   #@ host-bin: /usr/bin/fio    host programs with the shared libraries ldd lists (at
#                                their paths, with the loader), at /dp/bin/NAME: for
#                                tools from Debian's packages (bench/io.sh's fio). amd64
#                                guests only (elsewhere: no result)
#   #@ append: iommu.strict=1    more kernel command-line arguments
# Our own modules (build/mod/SERIES-ARCH/*.ko) are always included, under /dp/mod;
# pvdma.ko is built again first if guest/, lib/ or include/ changed since it was built.
# With a pvdma device, lib.sh's dp_qom PROPERTY has the runner read one of pv's QOM
# properties over QMP (live-mappings, peak-bytes, ...) and answer on the guest's console.
# Inside the guest, tests/guest/lib.sh provides dp_check; the runner turns its lines into
# "ok"/"not ok" and fails the run if the script does not reach its end. With a pvdma
# device, lib.sh's dp_screendump has the runner save the display (QMP screendump) as
# build/guest/SERIES-ARCH/NAME.ppm, whose path host-after gets in SCREEN. The guest's
# "DP-NOTE TEXT" lines (lib.sh's dp_note: timings, facts) are shown as "# " lines.
# A kernel that dies before /init (a stock kernel's boot failing under TCG on a loaded
# host) is booted once more; the first console log is kept as NAME.boot1.log.
# Exit status: 0 when every check passed and the guest finished; the console log is kept
# in build/guest/SERIES-ARCH/NAME.log and its tail is printed on failure.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
kname=$1 script=$2
tname=$(basename "$script" .sh)
# shellcheck disable=SC1090
. "$top/build/kernels/$kname.env"
out=$top/build/guest/$kname
mkdir -p "$out"
log=$out/$tname.log

# header NAME: the script's NAME: lines, joined; make_initramfs points hscript at the
# script whose initramfs it makes (an L2's).
header() { sed -n "s/^#@ $1: *//p" "${hscript:-$script}" | paste -sd' '; }
if [ -n "$(header arch)" ] && [ "$(header arch)" != "$ARCH" ]; then
	echo "# $kname: $tname: not run ($(header arch) only)"
	exit 0
fi
if [ -n "$(header only)" ] && [[ " $(header only) " != *" $kname "* ]]; then
	echo "# $kname: $tname: not run ($(header only) only)"
	exit 0
fi
# bin: programs are checked before the boot: a missing, dynamic or foreign one would
# only show in the guest as "not found".
machine=X86-64
[ "$ARCH" = arm64 ] && machine=AArch64
# bin_path build/X: the file for this guest's architecture.
bin_path() {
	if [ "$ARCH" = arm64 ]; then echo "$(dirname "$1")/arm64/$(basename "$1")"; else echo "$1"; fi
}
for f in $(header bin); do
	f=$(bin_path "$f")
	why=
	if [ ! -f "$top/$f" ]; then
		why="missing (build it first)"
	elif ! readelf -h "$top/$f" 2>/dev/null | grep -q "Machine:.*$machine"; then
		why="not an $ARCH program"
	elif readelf -l "$top/$f" | grep -q 'program interpreter'; then
		why="not statically linked"
	fi
	if [ -n "$why" ]; then
		echo "not ok - $kname: $tname: bin: $f: $why"
		exit 1
	fi
done
if [ -n "$(header host-bin)" ] && [ "$ARCH" != amd64 ]; then
	echo "# $kname: $tname: not run (host-bin: host programs in an amd64 guest only)"
	exit 0
fi
for f in $(header host-bin); do
	if [ ! -x "$f" ]; then
		echo "not ok - $kname: $tname: host-bin: $f is not installed"
		exit 1
	fi
done
vmm=$(header vmm)
case $vmm in
on) ;;
'' | off) vmm= ;;
*) echo "not ok - $kname: $tname: vmm: $vmm (on or off)"; exit 1 ;;
esac
[ -z "$(header qtest)$(header l2)" ] || vmm=on
if [ -n "$vmm" ] && [ "$ARCH" != amd64 ]; then
	echo "# $kname: $tname: not run (vmm: our QEMU in an amd64 guest only, for now)"
	exit 0
fi
if [ -n "$vmm" ]; then
	need=(build/qemu/qemu-system-x86_64)
	for f in $(header qtest); do need+=("build/qemu/$f"); done
	for f in $(header l2); do need+=("$f"); done
	for f in "${need[@]}"; do
		[ -f "$top/$f" ] && continue
		echo "not ok - $kname: $tname: $f: missing (build it first)"
		exit 1
	done
fi
iommu=$(header iommu)
case $iommu in
on) ;;
'' | off) iommu= ;;
*) echo "not ok - $kname: $tname: iommu: $iommu (on or off)"; exit 1 ;;
esac

busybox_for() {
	if [ "$1" = amd64 ]; then echo /bin/busybox; return; fi
	local d=$top/build/cache/busybox-$1
	if [ ! -x "$d/bin/busybox" ]; then
		. "$top/rig/apt-env.sh"
		local t
		t=$(mktemp -d)
		(cd "$t" && dp_apt "$1" download -q busybox-static >/dev/null 2>&1)
		dpkg -x "$t"/busybox-static_*.deb "$d"
		rm -rf "$t"
	fi
	echo "$d/bin/busybox"
}

# Copies the named modules and their dependencies, decompressed, with a matching
# modules.dep so busybox modprobe can load them.
add_kmods() {
	local root=$1 dst=$1/lib/modules/$KREL
	shift
	mkdir -p "$dst"
	[ $# -gt 0 ] || return 0
	awk -v want="$*" '
		BEGIN { n = split(want, w, " ")
			for (i = 1; i <= n; i++) { gsub("-", "_", w[i]); if (sub("[?]$", "", w[i])) opt[w[i]] = 1; need[w[i]] = 1 } }
		{ sub(":", "", $1); f = $1; sub(".*/", "", f); sub("\\.ko.*", "", f); gsub("-", "_", f)
		  path[f] = $1; line[f] = $0 }
		END {
			changed = 1
			while (changed) { changed = 0
				for (m in need) { k = split(line[m], p, " ")
					for (i = 2; i <= k; i++) { d = p[i]; sub(".*/", "", d); sub("\\.ko.*", "", d); gsub("-", "_", d)
						if (!(d in need)) { need[d] = 1; changed = 1 } } } }
			for (m in need) { if (m in path) print path[m]; else if (!(m in opt)) { print "missing " m > "/dev/stderr"; exit 1 } }
		}' "$KMODULES/modules.dep" >"$out/kmods.list"
	local f
	while read -r f; do
		mkdir -p "$dst/$(dirname "$f")"
		case $f in
		*.xz) xz -dc "$KMODULES/$f" >"$dst/${f%.xz}" ;;
		*.zst) zstd -qdc "$KMODULES/$f" >"$dst/${f%.zst}" ;;
		*.gz) gzip -dc "$KMODULES/$f" >"$dst/${f%.gz}" ;;
		*) cp "$KMODULES/$f" "$dst/$f" ;;
		esac
	done <"$out/kmods.list"
	grep -F -f <(sed 's/$/:/' "$out/kmods.list") "$KMODULES/modules.dep" |
		sed -E 's/\.ko\.(xz|zst|gz)/.ko/g' >"$dst/modules.dep"
}

add_progs() {
	local dst=$1/dp/bin f cc
	[ -n "$(header prog)" ] || return 0
	mkdir -p "$dst"
	cc=$(cd "$KCHROOT/usr/bin" && ls gcc-[0-9]* | sort -V | tail -n1)
	[ "$ARCH" = arm64 ] && cc=aarch64-linux-gnu-$cc
	for f in $(header prog); do
		cp "$top/$f" "$KCHROOT/tmp/prog.c"
		chroot "$KCHROOT" "$cc" -O2 -static -nostdlib -ffreestanding -fno-stack-protector \
			-fno-pie -no-pie -Wall -Wextra -Werror -o /tmp/prog /tmp/prog.c
		mv "$KCHROOT/tmp/prog" "$dst/$(basename "$f" .c)"
	done
}

add_bins() {
	local f
	[ -n "$(header bin)" ] || return 0
	mkdir -p "$1/dp/bin"
	for f in $(header bin); do cp "$top/$(bin_path "$f")" "$1/dp/bin/"; done
}

# add_libs ROOT PROGRAM...: the shared libraries the programs need, at the paths ldd
# gives, the dynamic loader included.
add_libs() {
	local root=$1 l
	shift
	if ldd "$@" | grep -q 'not found'; then
		ldd "$@" | grep 'not found' >&2
		return 1
	fi
	for l in $(ldd "$@" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// && $2 ~ /^\(/ { print $1 }' | sort -u); do
		mkdir -p "$root$(dirname "$l")"
		cp -L "$l" "$root$l"
	done
}

# add_vmm ROOT: our QEMU, its firmware, the qtest programs and the L2 (see vmm:, qtest:,
# l2: above).
add_vmm() {
	local root=$1 q=$1/dp/qemu f progs
	mkdir -p "$q/bin" "$q/fw" "$root/dp/qtest"
	cp "$top/build/qemu/qemu-system-x86_64" "$q/"
	progs=("$top/build/qemu/qemu-system-x86_64")
	for f in $(header qtest); do
		cp "$top/build/qemu/$f" "$root/dp/qtest/"
		progs+=("$top/build/qemu/$f")
	done
	add_libs "$root" "${progs[@]}"
	# What q35 with -nodefaults asks for: SeaBIOS, and the option ROM that loads -kernel
	# (linuxboot_dma.bin; pvh.bin for an ELF vmlinux).
	cp /usr/share/seabios/bios-256k.bin "$top"/build/qemu/pc-bios/optionrom/*.bin "$q/fw/"
	# libqtest takes the target from the name's end (QTEST_QEMU_BINARY=...-system-ARCH)
	# and appends its own arguments: a wrapper of that name passes -L.
	printf '#!/bin/sh\nexec /dp/qemu/qemu-system-x86_64 -L /dp/qemu/fw "$@"\n' >"$q/bin/qemu-system-x86_64"
	chmod +x "$q/bin/qemu-system-x86_64"
	if [ -n "$(header l2)" ]; then
		mkdir -p "$root/dp/l2"
		make_initramfs "$top/$(header l2)" "$root/dp/l2/initrd.gz" l2
		cp "$(l2_kernel)" "$root/dp/l2/kernel"
	fi
}

# l2_kernel: the file L2 boots: the kernel's uncompressed ELF (vmlinux, taken out of
# the image once, in build/cache), booted through its PVH entry, which skips the
# decompression that costs 30 to 40 s under TCG in TCG; the image itself when that
# fails (no PVH note, unknown compression).
l2_kernel() {
	local v=$top/build/cache/vmlinux-$KREL off
	if [ ! -s "$v" ]; then
		# Where the compressed payload starts: zstd, xz or gzip's magic.
		for m in '\x28\xb5\x2f\xfd:zstd' '\xfd7zXZ\x00:xz' '\x1f\x8b\x08:gzip'; do
			off=$(LC_ALL=C grep -obUaP "${m%:*}" "$KIMAGE" | head -n1 | cut -d: -f1)
			[ -n "$off" ] || continue
			tail -c +$((off + 1)) "$KIMAGE" | "${m#*:}" -dcq >"$v.part" 2>/dev/null
			# PVH: the Xen note XEN_ELFNOTE_PHYS32_ENTRY (18).
			if readelf -n "$v.part" 2>/dev/null | grep -q 'Xen.*(0x00000012)'; then
				mv "$v.part" "$v"
				break
			fi
		done
		rm -f "$v.part"
	fi
	if [ -s "$v" ]; then echo "$v"; else echo "$KIMAGE"; fi
}

# make_initramfs SCRIPT OUTPUT [l2]: busybox, lib.sh, our modules, SCRIPT as /dp/test.sh
# and what its headers ask for; an L2's powers off with reboot -f (acpi=off).
make_initramfs() {
	local root hscript=$1 output=$2 level=${3:-l1} end="poweroff -f"
	root=$(mktemp -d)
	mkdir -p "$root"/{bin,proc,sys,dev,tmp,dp/mod}
	cp "$(busybox_for "$ARCH")" "$root/bin/busybox"
	# shellcheck disable=SC2046
	add_kmods "$root" $(header kmods)
	add_progs "$root"
	add_bins "$root"
	if [ -n "$(header host-bin)" ]; then
		mkdir -p "$root/dp/bin"
		# shellcheck disable=SC2046
		cp $(header host-bin) "$root/dp/bin/"
		# shellcheck disable=SC2046
		add_libs "$root" $(header host-bin)
	fi
	cp "$top"/build/mod/"$kname"/*.ko "$root/dp/mod/" 2>/dev/null || true
	local d
	for d in $(header kmod-src); do
		cp "$top/build/mod-extra/$kname/$(basename "$d")"/*.ko "$root/dp/mod/"
	done
	[ -z "${prebuilt:-}" ] || mkdir -p "$root/dp/mod/prebuilt"
	for d in ${prebuilt:-}; do cp "$top/$d" "$root/dp/mod/prebuilt/"; done
	cp "$top/tests/guest/lib.sh" "$root/dp/lib.sh"
	cp "$hscript" "$root/dp/test.sh"
	if [ "$level" = l2 ]; then
		end="reboot -f"
	elif [ -n "$vmm" ]; then
		add_vmm "$root"
	fi
	sed "s/@END@/$end/" >"$root/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
echo "DP-BOOT $(uname -r) $(uname -m)"
. /dp/lib.sh
sh -c '. /dp/lib.sh; . /dp/test.sh'
echo "DP-DONE $?"
@END@
INIT
	chmod +x "$root/init"
	(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$output"
	rm -rf "$root"
}

# Builds module directory DIR (relative to the tree) into OUT for this kernel, or ends
# the run as failed, naming WHAT.
kmod_build() {	# DIR OUT WHAT
	bash "$top/rig/kmod-build.sh" "$top/build/kernels/$kname.env" "$top/$1" "$2" >/dev/null &&
		return
	echo "not ok - $kname: $tname: $3 does not build"
	exit 1
}

# tests/check builds our modules; one older than its sources is built again here, so
# that a run never boots the module of an earlier tree.
ko=$top/build/mod/$kname/pvdma.ko
if [ -f "$ko" ] && [ -n "$(find "$top/guest" "$top/lib" "$top/include" -newer "$ko" -type f | head -n1)" ]; then
	kmod_build guest "$top/build/mod/$kname" "pvdma.ko, older than its sources,"
fi

prebuilt=$(header kmod-prebuilt)
prebuilt=${prebuilt//\{KNAME\}/$kname}
for d in $prebuilt; do
	[ -f "$top/$d" ] || { echo "# $kname: $tname: not run ($d missing: build it first)"; exit 0; }
done
for d in $(header kmod-src); do
	kmod_build "$d" "$top/build/mod-extra/$kname/$(basename "$d")" "kmod-src: $d"
done
make_initramfs "$script" "$out/$tname.cpio.gz"
[ -z "$vmm" ] || echo "# $kname: $tname: initramfs with our QEMU: $(du -m "$out/$tname.cpio.gz" | cut -f1) MB" \
	"compressed, $(gzip -dc "$out/$tname.cpio.gz" | wc -c | awk '{ printf "%d", $1 / 1048576 }') MB unpacked"
qemu_extra=$(header qemu)
qemu_extra=${qemu_extra//\{ARCH\}/$ARCH}
qemu_extra=${qemu_extra//\{ECHO\}/$top/rig/echo-service.py}
if [[ $qemu_extra == *"{DISK}"* ]]; then
	rm -f "$out/$tname.img" && truncate -s 1G "$out/$tname.img"
	qemu_extra=${qemu_extra//\{DISK\}/$out/$tname.img}
fi
tmo=$(header timeout)
tmo=${tmo:-180}
append=
case $ARCH in
amd64)
	qemu=("$top/build/qemu/qemu-system-x86_64" -M q35 -cpu max
		-L "$top/build/qemu/pc-bios/optionrom" -L /usr/share/seabios)
	console=ttyS0
	# Before the PCI functions: emulated ones are wired to the IOMMU once the machine
	# is complete, whatever the order, but some ask for their DMA address space when
	# created, in command-line order (QEMU's own vfio-pci, virtio-pci). VFIO refuses
	# an IOMMU without interrupt remapping unless told to allow unsafe interrupts.
	# On a loaded host the kernel's check of the timer through the remapped IO-APIC
	# can miss its deadline under TCG and panic: skip it.
	if [ "$iommu" = on ]; then
		qemu_extra="-device intel-iommu,intremap=on $qemu_extra"
		append=" intel_iommu=on no_timer_check"
	fi ;;
arm64)
	# SMMUv3 delivers its events and the functions' MSIs through the GICv3's ITS.
	qemu=("$top/build/qemu/qemu-system-aarch64"
		-M "virt${iommu:+,gic-version=3,iommu=smmuv3}" -cpu max,pauth-impdef=on)
	console=ttyAMA0 ;;
esac
smp=$(header smp)
mem=$(header mem)
extra_append=$(header append)
qemu+=(-accel tcg -smp "${smp:-2}" -m "${mem:-1G}" -nodefaults)
if [[ $qemu_extra == *"{NONCOHERENT_DTB}"* ]]; then
	# The same machine's own tree (-dtb must describe it exactly), minus coherence.
	"${qemu[@]}" -machine dumpdtb="$out/$tname.dtb" >/dev/null 2>&1
	dtc -q -I dtb -O dts "$out/$tname.dtb" | sed '/dma-coherent;/d' |
		dtc -q -I dts -O dtb -o "$out/$tname.dtb" -
	qemu_extra=${qemu_extra//\{NONCOHERENT_DTB\}/$out/$tname.dtb}
fi
# shellcheck disable=SC2206
qemu+=(-nographic -no-reboot -serial stdio
	-kernel "$KIMAGE" -initrd "$out/$tname.cpio.gz"
	-append "console=$console panic=-1 loglevel=4 rdinit=/init$append${extra_append:+ $extra_append}"
	$qemu_extra)

# With a pvdma device (id=pv), QEMU stays up after the guest powers off so the host's
# side can be checked over QMP: what the guest left mapped, then a reset (a reboot)
# that must leave nothing.
sock=$out/$tname.qmp
pvdma=
if [[ $qemu_extra == *"id=pv"* ]]; then
	pvdma=1
	rm -f "$sock"
	qemu+=(-qmp "unix:$sock,server=on,wait=off" -no-shutdown)
fi
qmp() {
	printf '{"execute":"qmp_capabilities"}\n%s\n' "$1" |
		socat -t 5 - "UNIX-CONNECT:$sock" 2>/dev/null | tail -n1
}
pv_live() {
	qmp '{"execute":"qom-get","arguments":{"path":"/machine/peripheral/pv","property":"live-mappings"}}' |
		sed -n 's/.*"return": *\([0-9]*\).*/\1/p'
}
# pv_reset: a machine reset (-no-reboot would make it a shutdown) from a stop; waits
# until it has happened (in QEMU's main loop, shortly after the command returns: the
# stop becomes "prelaunch") and pvdma's host mappings are gone; their count in live.
pv_reset() {
	qmp '{"execute":"set-action","arguments":{"reboot":"reset"}}' >/dev/null
	qmp '{"execute":"system_reset"}' >/dev/null
	for _ in 1 2 3 4 5; do
		live=$(pv_live)
		[ "$live" = 0 ] && ! [[ $(qmp '{"execute":"query-status"}') == *'"shutdown"'* ]] && break
		sleep 1
	done
}

# The guest's console input: the runner answers the guest's requests there.
fifo=$out/$tname.in
rm -f "$fifo" "$out/$tname.ppm" && mkfifo "$fifo"
exec 3<>"$fifo"
start=$(date +%s)
rc=0
timeout --foreground -k 5 "$tmo" "${qemu[@]}" <"$fifo" >"$log" 2>&1 &
qpid=$!
if [ -n "$pvdma" ]; then
	dumps=0 dumped= qoms=0 boot=1 boots=$(header boots) between=$out/$tname.between
	rm -f "$between"
	while kill -0 "$qpid" 2>/dev/null; do
		sleep 1
		# boots: the next boot reached /init: a reset is a stop again.
		if [ -n "${rearm:-}" ] && [ "$(grep -ac 'DP-BOOT ' "$log")" -gt "$((boot - 1))" ]; then
			qmp '{"execute":"set-action","arguments":{"reboot":"shutdown"}}' >/dev/null
			rearm=
		fi
		# dp_qom: the guest waits on its console for the property's value.
		while [ "$(tr -d '\r' <"$log" | grep -c '^DP-QOM ')" -gt "$qoms" ]; do
			qoms=$((qoms + 1))
			prop=$(tr -d '\r' <"$log" | grep '^DP-QOM ' | sed -n "${qoms}s/^DP-QOM //p" | tr -cd 'a-z-')
			val=$(qmp "{\"execute\":\"qom-get\",\"arguments\":{\"path\":\"/machine/peripheral/pv\",\"property\":\"$prop\"}}" |
				sed -n 's/.*"return": *\([0-9]*\).*/\1/p')
			echo "${val:-none}" >&3
		done
		# dp_screendump: the guest waits on its console until the display is saved.
		if [ "$(tr -d '\r' <"$log" | grep -c '^DP-SCREENDUMP$')" -gt "$dumps" ]; then
			dumps=$((dumps + 1))
			dumped="DP-INFO screendump (QMP): $(qmp "{\"execute\":\"screendump\",\"arguments\":{\"filename\":\"$out/$tname.ppm\"}}")"
			echo >&3
		fi
		[[ $(qmp '{"execute":"query-status"}') == *'"shutdown"'* ]] || continue
		[ "$boot" -lt "${boots:-1}" ] || break
		# boots: this stop (a panic's reboot) is checked, reset and booted again. QEMU
		# still writes the log: these lines wait in $between until it has stopped.
		live=$(pv_live)
		if [ "$(header host-live-between)" = nonzero ]; then
			[ -n "$live" ] && [ "$live" != 0 ] && r=ok || r="not ok"
			echo "DP-TEST $r boot $boot stopped with host mappings live (QMP: $live)" >>"$between"
		else
			echo "DP-INFO host live mappings when boot $boot stopped (QMP): $live" >>"$between"
		fi
		# Guest resets stay resets until the next boot's /init runs: SeaBIOS, finding
		# itself already initialized, resets the machine once more.
		pv_reset
		[ "$live" = 0 ] && r=ok || r="not ok"
		echo "DP-TEST $r the reset after boot $boot leaves no live host mappings (QMP: $live)" >>"$between"
		qmp '{"execute":"cont"}' >/dev/null
		rearm=1
		boot=$((boot + 1))
	done
	if kill -0 "$qpid" 2>/dev/null; then
		[ -z "$dumped" ] || echo "$dumped" >>"$log"
		[ ! -f "$between" ] || cat "$between" >>"$log"
		live=$(pv_live)
		want=$(header host-live-after)
		if [ "$want" = nonzero ]; then
			[ -n "$live" ] && [ "$live" != 0 ] && r=ok || r="not ok"
			echo "DP-TEST $r host still holds the guest's mappings when it stops (QMP: $live)" >>"$log"
		elif [ -n "$want" ]; then
			[ "$live" = "$want" ] && r=ok || r="not ok"
			echo "DP-TEST $r host holds $want live mappings after the guest stopped (QMP: $live)" >>"$log"
		else
			echo "DP-INFO host live mappings after the guest stopped (QMP): $live" >>"$log"
		fi
		pv_reset
		[ "$live" = 0 ] && r=ok || r="not ok"
		echo "DP-TEST $r a reset (reboot) leaves no live host mappings (QMP: $live)" >>"$log"
		qmp '{"execute":"quit"}' >/dev/null
	fi
fi
wait "$qpid" || rc=$?
exec 3>&-
rm -f "$fifo"
secs=$(( $(date +%s) - start ))
# A stock kernel that dies before our /init ran (no DP-BOOT) failed to boot under TCG on a
# loaded host; nothing of the test ran yet. Boot once more, keeping the first log.
# DP-BOOT need not start its line: on x86 the kernel's console reset (ESC c ...) and the
# end of "Probing EDD ... ok" come before it on the same line.
if ! grep -aq 'DP-BOOT ' "$log" && [ -z "${DP_BOOT_RETRIED:-}" ]; then
	mv "$log" "$out/$tname.boot1.log"
	echo "# $kname: $tname: the kernel died before /init (qemu exit $rc after ${secs}s;" \
		"$out/$tname.boot1.log): booting again"
	DP_BOOT_RETRIED=1 exec bash "$0" "$@"
fi
rm -f "$out/$tname.img"	# up to 1 GiB of test data
if [ -n "$(header host-after)" ]; then
	(cd "$top" && LOG=$log SCREEN=$out/$tname.ppm bash -c "$(header host-after)") >"$out/$tname.after" 2>&1 ||
		echo "DP-TEST not ok host-side check exited $?" >>"$out/$tname.after"
	cat "$out/$tname.after" >>"$log"
	sed -n "s/^# /# $kname: $tname: /p" "$out/$tname.after"
fi

tr -d '\r' <"$log" | sed -n "s/^DP-NOTE /# $kname: $tname: /p"
tr -d '\r' <"$log" | sed -n "s/^DP-TEST \(ok\|not ok\) \(.*\)/\1 - $kname: $tname: \2/p"
fails=$(tr -d '\r' <"$log" | grep -c '^DP-TEST not ok' || true)
checks=$(tr -d '\r' <"$log" | grep -c '^DP-TEST ' || true)
finished=$(tr -d '\r' <"$log" | grep -c '^DP-DONE' || true)
status=ok why=
if [ "$finished" = 0 ]; then
	status="not ok" why="guest did not finish (qemu exit $rc after ${secs}s, timeout ${tmo}s)"
elif [ "$fails" != 0 ] || [ "$checks" = 0 ]; then
	status="not ok" why="$fails of $checks checks failed"
fi
echo "$status - $kname: $tname: guest run (${secs}s) $why"
if [ "$status" != ok ]; then
	# The tail shows where it ended; an oops's first lines say what went wrong.
	if tr -d '\r' <"$log" | grep -qE 'Kernel panic|BUG:|Oops|general protection|WARNING:'; then
		echo "# --- first kernel error in $log ---"
		tr -d '\r' <"$log" | grep -m1 -A12 -E 'Kernel panic|BUG:|Oops|general protection|WARNING:' |
			sed 's/^/# /'
	fi
	echo "# --- tail of $log ---"
	tail -n 40 "$log" | sed 's/^/# /'
	exit 1
fi
