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
