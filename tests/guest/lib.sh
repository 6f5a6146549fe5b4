# Helpers for guest test scripts; sourced in the guest's busybox shell.
# dp_check NAME CMD [ARGS...]: runs CMD and reports one check; output is shown on failure.
dp_check() {
	_name=$1
	shift
	if _out=$("$@" 2>&1); then
		echo "DP-TEST ok $_name"
	else
		echo "$_out" | tail -n 20 | sed 's/^/    /'
		echo "DP-TEST not ok $_name"
	fi
}
# dp_wait SECONDS CMD [ARGS...]: polls CMD once a second until it succeeds or time is up.
dp_wait() {
	_left=$1
	shift
	until "$@" >/dev/null 2>&1 || [ "$_left" -le 0 ]; do
		sleep 1
		_left=$((_left - 1))
	done
}
# dp_net_up: brings eth0 up as 10.0.2.15 (QEMU user networking), checked, and waits for
# the link.
dp_net_up() {
	dp_check "eth0 up" sh -c 'ip link set eth0 up && ip addr add 10.0.2.15/24 dev eth0'
	dp_wait 30 sh -c 'ip link show eth0 | grep -q LOWER_UP'
}
# dp_echo SECONDS IN OUT: sends IN to the host's echo service (rig/echo-service.py) and
# writes what comes back to OUT. A transfer that stalls fails after SECONDS and shows
# how far it got, the NIC's counters and the kernel's last words.
dp_echo() {
	nc 10.0.2.100 7 <"$2" >"$3" &
	_pid=$!
	dp_wait "$1" sh -c "! kill -0 $_pid 2>/dev/null"
	if kill -0 "$_pid" 2>/dev/null; then
		kill "$_pid"
		echo "echo service: no end within $1 s; $(wc -c <"$3") of $(wc -c <"$2") bytes back"
		grep eth0 /proc/net/dev
		dmesg | tail -n 12
		return 1
	fi
	wait "$_pid"
}
# dp_screendump: has the host save the display (QMP screendump, rig/guest-run.sh) and
# waits until it has; needs a pvdma-pci,id=pv device.
dp_screendump() {
	echo "DP-SCREENDUMP"
	read -r _ack
}
# dp_qom PROPERTY: prints one of the pvdma-pci device's (id=pv) QOM properties, a
# number (live-mappings, peak-mappings, live-bytes, refused-invalid, ...), which the
# runner reads over QMP; "none" when it has no such number.
dp_qom() {
	echo "DP-QOM $1" >/dev/console	# stdout may be a $(...)
	read -r _val
	echo "$_val"
}
# dp_gpu_load: loads virtio-gpu and unbinds the framebuffer console (bound when fb0
# appears), whose blinking cursor would keep the GPU busy whenever it has the display.
dp_gpu_load() {
	dp_check "modprobe virtio-gpu" modprobe virtio-gpu
	dp_wait 30 test -e /dev/dri/card0 -a -e /sys/class/graphics/fb0
	for _c in /sys/class/vtconsole/vtcon*; do
		grep -q "frame buffer" "$_c/name" && echo 0 >"$_c/bind"
	done
}
# dp_gpu_show: GPU user space's part (/dp/bin/drm-client): churns buffers, then shows
# the pattern, leaves the client holding the display (pid in dp_gpu_client) and has
# the host save the display.
dp_gpu_show() {
	_out=$(/dp/bin/drm-client churn) && _r=0 || _r=1
	dp_check "GPU: ${_out#drm-client: }" test "$_r" = 0
	/dp/bin/drm-client scanout >/tmp/scanout 2>&1 &
	dp_gpu_client=$!
	dp_wait 60 grep -q showing /tmp/scanout
	dp_check "GPU: $(cat /tmp/scanout)" grep -q showing /tmp/scanout
	dp_screendump
}
# dp_report_trace DIR: prints the module's counters and trace ring from its debugfs DIR
# as DP-STATS and DP-TRACE lines, which the host replays
# (tests/tools/replay-guest-trace.sh, bench/mapper.sh). Call it once DMA is quiet.
dp_report_trace() {
	echo "DP-STATS $(tr '\n' ' ' <"$1stats")"
	sed 's/^/DP-TRACE /' "$1trace"
}
# dp_pci_find VENDOR:DEVICE: prints the address (e.g. 0000:00:04.0) of the first PCI
# function with these IDs (lower-case hex, as lspci shows them: 8086:100e).
dp_pci_find() {
	for _d in /sys/bus/pci/devices/*; do
		if [ "$(cat "$_d/vendor"):$(cat "$_d/device")" = "0x${1%:*}:0x${1#*:}" ]; then
			basename "$_d"
			return 0
		fi
	done
	echo "no PCI function $1" >&2
	return 1
}
# dp_pci_caps BDF: prints the IDs (hex) of the function's capability list, one a line
# (05 MSI, 10 PCI Express, 11 MSI-X), read from its config space: Debian's busybox has
# no lspci.
dp_pci_caps() {
	od -An -v -tx1 -N256 "/sys/bus/pci/devices/$1/config" | tr -s ' ' '\n' | sed '/^$/d' >/tmp/dp_cfg
	# Status bit 4 says there is a list; it starts at the pointer at 0x34.
	[ $((0x$(sed -n 7p /tmp/dp_cfg) & 0x10)) != 0 ] || return 0
	_p=$((0x$(sed -n 53p /tmp/dp_cfg) & 0xfc))
	_n=0
	while [ "$_p" != 0 ] && [ "$_n" -lt 48 ]; do
		sed -n "$((_p + 1))p" /tmp/dp_cfg
		_p=$((0x$(sed -n "$((_p + 2))p" /tmp/dp_cfg) & 0xfc))
		_n=$((_n + 1))
	done
}
# dp_vfio_bind BDF: hands a PCI function to vfio-pci and prints its IOMMU group; fails,
# saying why, unless /dev/vfio/GROUP appears. Needs "#@ iommu: on" and the kmods
# "vfio vfio_iommu_type1 vfio_pci".
dp_vfio_bind() {
	_dev=/sys/bus/pci/devices/$1
	# Built-in ones are not in the initramfs's modules.dep: their sysfs entries count.
	for _m in vfio vfio_iommu_type1 vfio_pci; do modprobe "$_m" 2>/dev/null; done
	if [ ! -d /sys/bus/pci/drivers/vfio-pci ] || [ ! -d /sys/module/vfio_iommu_type1 ]; then
		echo "$1: vfio-pci or vfio_iommu_type1 missing (kmods: vfio vfio_iommu_type1 vfio_pci)" >&2
		return 1
	fi
	if [ ! -e "$_dev/iommu_group" ]; then
		echo "$1: in no IOMMU group (iommu: on?)" >&2
		return 1
	fi
	_group=$(basename "$(readlink "$_dev/iommu_group")")
	if [ -e "$_dev/driver" ] && [ "$(basename "$(readlink "$_dev/driver")")" != vfio-pci ]; then
		echo "$1" >"$_dev/driver/unbind" || { echo "$1: cannot unbind its driver" >&2; return 1; }
	fi
	# driver_override: vfio-pci takes it without knowing its IDs, and no other driver
	# takes it back on a later probe.
	echo vfio-pci >"$_dev/driver_override"
	[ -e "$_dev/driver" ] || echo "$1" >/sys/bus/pci/drivers/vfio-pci/bind 2>/dev/null
	if [ "$(basename "$(readlink "$_dev/driver")")" != vfio-pci ]; then
		echo "$1: vfio-pci did not bind it" >&2
		dmesg | tail -n 5 >&2
		return 1
	fi
	dp_wait 5 test -c "/dev/vfio/$_group"
	if [ ! -c "/dev/vfio/$_group" ]; then
		echo "$1: bound, but no /dev/vfio/$_group" >&2
		return 1
	fi
	echo "$_group"
}
# dp_note TEXT: a line the runner shows as "# TEXT" (timings, facts worth seeing).
dp_note() {
	echo "DP-NOTE $*"
}
# Our QEMU in this guest ("#@ vmm: on"): a qemu-system-x86_64 that passes -L with its
# firmware directory. dp_qemu ARGS...: runs it.
DP_QEMU=/dp/qemu/bin/qemu-system-x86_64
dp_qemu() {
	"$DP_QEMU" "$@"
}
# dp_qtest PROG [ARGS...]: runs the libqtest program /dp/qtest/PROG ("#@ qtest:")
# against our QEMU; each of its TAP results becomes a check "qtest PROG: NAME" (a
# "# SKIP" stays in the name), and one more check wants it to exit 0 having run as many
# tests as it planned, at least one. Its other output is shown when something failed.
dp_qtest() {
	_prog=$1
	shift
	_t0=$(date +%s)
	QTEST_QEMU_BINARY=$DP_QEMU "/dp/qtest/$_prog" "$@" >/tmp/qtest.out 2>&1
	_rc=$?
	_n=0 _bad=0 _plan=
	while IFS= read -r _l; do
		case $_l in
		"ok "* | "not ok "*)
			_n=$((_n + 1))
			_r=ok
			case $_l in "not ok "*) _r="not ok" _bad=$((_bad + 1)) ;; esac
			_t=${_l#"$_r" }
			_t=${_t#* }
			echo "DP-TEST $_r qtest $_prog: ${_t#- }" ;;
		1..*) _plan=${_l#1..} ;;
		esac
	done </tmp/qtest.out
	_secs=$(($(date +%s) - _t0))
	dp_note "qtest $_prog: $_n tests in ${_secs}s"
	if [ "$_rc" = 0 ] && [ "$_n" -gt 0 ] && [ "$_n" = "${_plan:-$_n}" ]; then
		echo "DP-TEST ok qtest $_prog: exits 0 after $_n of ${_plan:-?} planned tests"
	else
		grep -v '^ok ' /tmp/qtest.out | tail -n 30 | sed 's/^/    /'
		echo "DP-TEST not ok qtest $_prog: exits 0 after all planned tests, at least one (status $_rc, $_n of ${_plan:-?} planned)"
	fi
	[ "$_rc" = 0 ] && [ "$_bad" = 0 ]
}
# dp_l2 [-t SECONDS] [-a KERNEL-ARGS] QEMU-ARGS...: boots the L2 guest ("#@ l2:", at /dp/l2/) with our
# QEMU (TCG, 1 vCPU, 256 MiB, its kernel command line trimmed of what costs the most
# under nested TCG; no_timer_check as L1's: on a loaded host the IO-APIC timer check
# misses its deadline and panics) plus QEMU-ARGS, e.g. -device vfio-pci,host=BDF; kills it after
# SECONDS (default 900). L2's console is shown with "l2| " in front; its checks count
# here as "l2: NAME", its notes as "l2: TEXT", and one more check "l2: finished" wants
# it to reach its end with at least one check. Returns 1 if any of them failed.
dp_l2() {
	_tmo=900 _args=
	[ "$1" != -t ] || { _tmo=$2; shift 2; }
	[ "$1" != -a ] || { _args=" $2"; shift 2; }
	_t0=$(date +%s)
	_cr=$(printf '\r')
	{
		timeout -s KILL "$_tmo" "$DP_QEMU" -M q35 -accel tcg -cpu max -smp 1 -m 256M \
			-nodefaults -nographic -serial stdio -no-reboot \
			-kernel /dp/l2/kernel -initrd /dp/l2/initrd.gz \
			-append "console=ttyS0 panic=-1 loglevel=4 rdinit=/init no_timer_check cryptomgr.notests initcall_blacklist=crypto_kdf108_init,load_system_certificate_list acpi=off$_args" \
			"$@" </dev/null 2>&1
		echo "DP-L2-EXIT $?"
	} | {
		_n=0 _bad=0 _done="" _rc="" _k=""
		while IFS= read -r _l; do
			_l=${_l%"$_cr"}
			case $_l in
			"DP-TEST ok "*) _n=$((_n + 1)); echo "DP-TEST ok l2: ${_l#DP-TEST ok }" ;;
			"DP-TEST not ok "*) _n=$((_n + 1)) _bad=$((_bad + 1)); echo "DP-TEST not ok l2: ${_l#DP-TEST not ok }" ;;
			"DP-NOTE "*) echo "DP-NOTE l2: ${_l#DP-NOTE }" ;;
			"DP-L2-EXIT "*) _rc=${_l#DP-L2-EXIT } ;;
			*)
				echo "l2| $_l"
				# DP-BOOT follows the kernel's console reset on its line.
				case $_l in
				*"[    0."*) [ -n "$_k" ] || { _k=1; dp_note "l2: QEMU start to the kernel's first line: $(($(date +%s) - _t0))s"; } ;;
				*DP-BOOT*) dp_note "l2: QEMU start to L2's /init: $(($(date +%s) - _t0))s" ;;
				DP-DONE*) _done=1 ;;
				esac ;;
			esac
		done
		_secs=$(($(date +%s) - _t0))
		dp_note "l2: whole L2 run (QEMU start to exit): ${_secs}s"
		if [ -n "$_done" ] && [ "$_n" -gt 0 ]; then
			echo "DP-TEST ok l2: finished ($_n checks, ${_secs}s)"
		else
			echo "DP-TEST not ok l2: finished (${_done:+reached its end, but }$_n checks; QEMU exit $_rc after ${_secs}s, timeout ${_tmo}s)"
			_bad=$((_bad + 1))
		fi
		[ "$_bad" = 0 ]
	}
}
# dp_rig_functions: the nested rig's three functions (tests/guest/vfio-rig.sh), in
# $nvme (1b36:0010), $nic (e1000e) and $intx (the INTx-only e1000), bound to vfio-pci,
# one check each.
dp_rig_functions() {
	nvme=$(dp_pci_find 1b36:0010)
	nic=$(dp_pci_find 8086:10d3)
	intx=$(dp_pci_find 8086:100e)
	for _bdf in "$nvme" "$nic" "$intx"; do
		dp_check "$_bdf binds to vfio-pci" dp_vfio_bind "$_bdf"
	done
}
# dp_dmar_write_fault BDF ADDR: L1's Intel IOMMU logged blocking a write by BDF at
# ADDR. The requester reads [00:04.0] on 6.12, [0000:00:04.0] on 7.2.
dp_dmar_write_fault() {
	dmesg | grep -q "DMAR: \[DMA Write.*\[\(0000:\)\?${1#0000:}\] fault addr $2 "
}
