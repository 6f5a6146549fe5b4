# Set-up steps shown on the terminal, for the commands a user starts from a fresh
# checkout (./dartpass, demo/run.sh): each step's output goes to one log, the
# terminal shows the step, how far it has got (in place on a terminal, every 30 s
# otherwise) and its time. Sourced; the caller sets:
#   step_log     the whole log
#   step_total   how many steps
#   step_until   stop after the step of this name (empty: go on)
#   step_who     the command's name, for its messages

# What a running step has got to: QEMU's build counts its own steps; the others say
# what they do in their last log line.
step_progress() {
	case $1 in
	qemu) tail -c 4096 build/qemu/ninja.log 2>/dev/null | tr '\r' '\n' |
		grep -o '^\[[0-9]*/[0-9]*\]' | tail -n1 ;;
	esac
	tail -n1 "$step_log" | cut -c1-60
}

# step NAME N WHAT CMD...: runs one set-up step; on failure shows the log's tail and
# exits 1; after the step named step_until, exits 0.
step() {
	local name=$1 n=$2 what=$3 t0 pid rc=0 last=0 line
	shift 3
	t0=$(date +%s)
	echo "== [$n/$step_total] $what" >&2
	"$@" >>"$step_log" 2>&1 &
	pid=$!
	while kill -0 "$pid" 2>/dev/null; do
		sleep 2
		line="   $(( $(date +%s) - t0 ))s $(step_progress "$name" | paste -sd' ')"
		if [ -t 2 ]; then
			printf '\r%-78.78s' "$line" >&2
		elif [ $(( $(date +%s) - last )) -ge 30 ]; then
			echo "$line" >&2
			last=$(date +%s)
		fi
	done
	wait "$pid" || rc=$?
	[ -t 2 ] && printf '\r%-78s\r' "" >&2
	if [ "$rc" != 0 ]; then
		tail -n 20 "$step_log" >&2
		echo "$step_who: $what failed (exit $rc); the whole log is $step_log" >&2
		exit 1
	fi
	echo "   done in $(( $(date +%s) - t0 ))s" >&2
	if [ "$step_until" = "$name" ]; then
		echo "$step_who: set up until '$name'; the log is $step_log" >&2
		exit 0
	fi
}
